/*
 * Versioned datasets: the directory layout, MANIFEST and SHA256SUMS, the
 * audit log and its chain, the lock, the current pointer and the repair of
 * what a killed writer left.  refill-manifest(5) is the specification.
 *
 * Every change follows one order, so that a crash at any point leaves a
 * state the next writer can finish or undo: the version is built under a
 * temporary name and renamed into versions/; then the log line is
 * appended (the log is the record of intent); then the current pointer
 * is switched to what the log's last line says.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refill.h"

#define SIGTAIL_LEN (8 + 88 + 2)	/* ,"sig":"<88 base64>"} */

static int
syserr(rf_err *e, const char *path)
{
	return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
}

static char *
xstrdup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* ---- reading whole small files ----------------------------------------- */

int
rf_read_file(const char *path, size_t max, rf_buf *out, rf_err *e)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int rc = 0;

	if (fd < 0)
		return syserr(e, path);
	if (fstat(fd, &st) < 0)
		rc = syserr(e, path);
	else if (!S_ISREG(st.st_mode))
		rc = rf_seterr(e, RF_EDATA, "%s: not a regular file", path);
	while (rc == 0) {
		if (out->len > max) {
			rc = rf_seterr(e, RF_EDATA, "%s: larger than %zu bytes",
			    path, max);
			break;
		}
		if (rf_buf_reserve(out, 65536) < 0) {
			rc = rf_seterr(e, RF_ENOMEM, "out of memory");
			break;
		}
		ssize_t k = read(fd, out->p + out->len, out->cap - out->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			rc = syserr(e, path);
		if (k <= 0)
			break;
		out->len += k;
	}
	close(fd);
	return rc;
}

/* ---- names -------------------------------------------------------------- */

int
rf_check_name(const char *name, rf_err *e)
{
	size_t n = strlen(name);
	const char *why = NULL;

	if (n == 0)
		why = "empty name";
	else if (name[0] == '/')
		why = "absolute path";
	else if (name[n - 1] == '/' || strstr(name, "//") != NULL)
		why = "empty path segment";
	else if (!rf_utf8_valid(name, n))
		why = "not UTF-8";
	else {
		for (const char *p = name; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == '\\' || *p == 0x7f) {
				why = "control character or backslash";
				break;
			}
		for (const char *s = name; why == NULL && s != NULL;) {
			const char *t = strchr(s, '/');
			size_t k = t != NULL ? (size_t)(t - s) : strlen(s);
			if ((k == 1 && s[0] == '.') ||
			    (k == 2 && s[0] == '.' && s[1] == '.'))
				why = "'.' or '..' segment";
			else if (k > 0 && s[0] == '.')
				why = "segment starting with '.'";
			s = t != NULL ? t + 1 : NULL;
		}
	}
	if (why == NULL && (strcmp(name, "MANIFEST") == 0 ||
	    strcmp(name, "MANIFEST.sig") == 0 || strcmp(name, "SHA256SUMS") == 0))
		why = "reserved name";
	if (why != NULL)
		return rf_seterr(e, RF_EDATA, "%s: bad file name: %s", name, why);
	return 0;
}

/* ---- MANIFEST and SHA256SUMS ------------------------------------------ */

void
rf_manifest_free(rf_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->f[i].name);
		free(m->f[i].prov);
	}
	free(m->f);
	free(m->dataset);
	free(m->author);
	free(m->message);
	free(m->schema);
	memset(m, 0, sizeof *m);
}

int
rf_manifest_add(rf_manifest *m, rf_mfile *f)
{
	if (m->n == m->cap) {
		size_t nc = m->cap ? 2 * m->cap : 64;
		rf_mfile *nf = realloc(m->f, nc * sizeof *nf);
		if (nf == NULL)
			return RF_ENOMEM;
		m->f = nf;
		m->cap = nc;
	}
	m->f[m->n++] = *f;
	return 0;
}

static int
fcmp(const void *a, const void *b)
{
	return strcmp(((const rf_mfile *)a)->name, ((const rf_mfile *)b)->name);
}

void
rf_manifest_sort(rf_manifest *m)
{
	if (m->n > 1)
		qsort(m->f, m->n, sizeof *m->f, fcmp);
}

rf_mfile *
rf_manifest_find(const rf_manifest *m, const char *name)
{
	rf_mfile key = { .name = (char *)name };

	if (m->n == 0)
		return NULL;
	return bsearch(&key, m->f, m->n, sizeof *m->f, fcmp);
}

static void
addkey(rf_buf *b, const char *k)
{
	if (b->p[b->len - 1] != '{')
		rf_buf_addc(b, ',');
	rf_buf_addc(b, '"');
	rf_buf_adds(b, k);
	rf_buf_adds(b, "\":");
}

static void
addstr(rf_buf *b, const char *k, const char *v)
{
	addkey(b, k);
	if (v == NULL)
		rf_buf_adds(b, "null");
	else
		rf_json_addstr(b, v, strlen(v));
}

static void
addu64(rf_buf *b, const char *k, uint64_t v)
{
	char t[24];

	addkey(b, k);
	snprintf(t, sizeof t, "%llu", (unsigned long long)v);
	rf_buf_adds(b, t);
}

static void
addhex(rf_buf *b, const char *k, const unsigned char d[RF_SHA256_LEN])
{
	char h[2 * RF_SHA256_LEN + 1];

	rf_hex(d, RF_SHA256_LEN, h);
	addstr(b, k, h);
}

static void
addver(rf_buf *b, const char *k, uint32_t v)
{
	if (v == 0) {
		addkey(b, k);
		rf_buf_adds(b, "null");
	} else
		addu64(b, k, v);
}

/* Members are added in sorted order, so each line is canonical as built. */
int
rf_manifest_format(const rf_manifest *m, rf_buf *out, rf_err *e)
{
	rf_dsum all;
	char h[65];
	uint64_t bytes = 0;

	rf_dsum_init(&all);
	for (size_t i = 0; i < m->n; i++) {
		rf_dsum_merge(&all, &m->f[i].digest);
		bytes += m->f[i].size;
	}
	rf_buf_addc(out, '{');
	addstr(out, "author", m->author);
	addu64(out, "bytes", bytes);
	addstr(out, "created", m->created);
	addstr(out, "dataset", m->dataset);
	rf_dsum_hex(&all, h);
	addstr(out, "digest", h);
	addu64(out, "files", m->n);
	addstr(out, "format", RF_MANIFEST_FORMAT);
	addhex(out, "log", m->log_head);
	addstr(out, "message", m->message);
	addver(out, "parent", m->parent);
	addu64(out, "records", all.count);
	if (m->schema != NULL) {
		addkey(out, "schema");
		rf_buf_adds(out, m->schema);
	}
	addhex(out, "sha256sums", m->sums_sha256);
	addstr(out, "signer", m->signer[0] != '\0' ? m->signer : NULL);
	addu64(out, "version", m->version);
	rf_buf_adds(out, "}\n");
	for (size_t i = 0; i < m->n; i++) {
		const rf_mfile *f = &m->f[i];
		rf_buf_addc(out, '{');
		rf_dsum_hex(&f->digest, h);
		addstr(out, "digest", h);
		addstr(out, "name", f->name);
		addkey(out, "prov");
		rf_buf_adds(out, f->prov != NULL ? f->prov : "null");
		addu64(out, "records", f->digest.count);
		addhex(out, "sha256", f->sha256);
		addu64(out, "size", f->size);
		rf_buf_adds(out, "}\n");
	}
	if (rf_buf_addc(out, '\0') < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	out->len--;
	return 0;
}

int
rf_sums_format(const rf_manifest *m, rf_buf *out, rf_err *e)
{
	char h[65];

	for (size_t i = 0; i < m->n; i++) {
		rf_hex(m->f[i].sha256, RF_SHA256_LEN, h);
		rf_buf_adds(out, h);
		rf_buf_adds(out, "  ");
		rf_buf_adds(out, m->f[i].name);
		rf_buf_addc(out, '\n');
	}
	if (rf_buf_addc(out, '\0') < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	out->len--;
	return 0;
}

/* Field access on a validated line. */
struct getter {
	const char *line;
	size_t len;
	const char *file;
	uint64_t lineno;
	rf_err *e;
};

static int
get(struct getter *g, const char *spec, const char **v, size_t *vn)
{
	rf_path *p;
	int rc;

	if ((rc = rf_path_compile(spec, &p, g->e)) < 0)
		return rc;
	rc = rf_json_get(g->line, g->len, p, v, vn);
	rf_path_free(p);
	if (rc < 0)
		return rf_seterr(g->e, RF_EDATA, "%s:%llu: no \"%s\"", g->file,
		    (unsigned long long)g->lineno, spec);
	return 0;
}

static int
bad(struct getter *g, const char *spec)
{
	return rf_seterr(g->e, RF_EDATA, "%s:%llu: bad \"%s\"", g->file,
	    (unsigned long long)g->lineno, spec);
}

static int
get_str(struct getter *g, const char *spec, bool null_ok, char **out)
{
	const char *v;
	size_t vn;
	rf_buf b = { 0 };
	int rc;

	*out = NULL;
	if ((rc = get(g, spec, &v, &vn)) < 0)
		return rc;
	if (null_ok && vn == 4 && memcmp(v, "null", 4) == 0)
		return 0;
	if (vn < 2 || v[0] != '"')
		return bad(g, spec);
	if (rf_json_unescape(v, vn, &b) < 0 || rf_buf_addc(&b, '\0') < 0) {
		rf_buf_free(&b);
		return rf_seterr(g->e, RF_ENOMEM, "out of memory");
	}
	*out = b.p;
	return 0;
}

static int
get_u64(struct getter *g, const char *spec, bool null_ok, uint64_t *out)
{
	const char *v;
	size_t vn;
	char t[24];
	int rc;

	*out = 0;
	if ((rc = get(g, spec, &v, &vn)) < 0)
		return rc;
	if (null_ok && vn == 4 && memcmp(v, "null", 4) == 0)
		return 0;
	if (vn == 0 || vn >= sizeof t)
		return bad(g, spec);
	memcpy(t, v, vn);
	t[vn] = '\0';
	if (rf_parse_uint(t, 0, UINT64_MAX, out) < 0)
		return bad(g, spec);
	return 0;
}

static int
get_hex(struct getter *g, const char *spec, unsigned char d[RF_SHA256_LEN])
{
	const char *v;
	size_t vn;
	int rc;

	if ((rc = get(g, spec, &v, &vn)) < 0)
		return rc;
	if (vn != 2 + 2 * RF_SHA256_LEN || v[0] != '"' ||
	    rf_unhex(v + 1, vn - 2, d, RF_SHA256_LEN) < 0)
		return bad(g, spec);
	return 0;
}

static int
parse_header(struct getter *g, rf_manifest *m)
{
	char *fmt = NULL, *signer = NULL, *digest = NULL;
	uint64_t v, files, records;
	int rc;

	if ((rc = get_str(g, "format", false, &fmt)) < 0)
		return rc;
	rc = strcmp(fmt, RF_MANIFEST_FORMAT) == 0 ? 0 :
	    rf_seterr(g->e, RF_EDATA, "%s:1: format \"%s\" is not %s", g->file,
	    fmt, RF_MANIFEST_FORMAT);
	free(fmt);
	if (rc < 0 ||
	    (rc = get_str(g, "dataset", false, &m->dataset)) < 0 ||
	    (rc = get_str(g, "author", false, &m->author)) < 0 ||
	    (rc = get_str(g, "message", false, &m->message)) < 0 ||
	    (rc = get_u64(g, "version", false, &v)) < 0)
		return rc;
	if (v == 0 || v > RF_VERSION_MAX)
		return bad(g, "version");
	m->version = (uint32_t)v;
	if ((rc = get_u64(g, "parent", true, &v)) < 0)
		return rc;
	if (v >= m->version)
		return bad(g, "parent");
	m->parent = (uint32_t)v;
	char *created;
	if ((rc = get_str(g, "created", false, &created)) < 0)
		return rc;
	snprintf(m->created, sizeof m->created, "%s", created);
	free(created);
	if ((rc = get_hex(g, "sha256sums", m->sums_sha256)) < 0 ||
	    (rc = get_hex(g, "log", m->log_head)) < 0 ||
	    (rc = get_u64(g, "files", false, &files)) < 0 ||
	    (rc = get_u64(g, "records", false, &records)) < 0 ||
	    (rc = get_str(g, "digest", false, &digest)) < 0 ||
	    (rc = get_str(g, "signer", true, &signer)) < 0)
		goto out;
	if (signer != NULL && strlen(signer) != RF_PUBKEY_LEN) {
		rc = bad(g, "signer");
		goto out;
	}
	snprintf(m->signer, sizeof m->signer, "%s", signer ? signer : "");
	/* Versions committed before schemas were recorded have none. */
	const char *sv;
	size_t sn;
	rf_path *sp;
	if ((rc = rf_path_compile("schema", &sp, g->e)) < 0)
		goto out;
	if (rf_json_get(g->line, g->len, sp, &sv, &sn) == 0) {
		if (sv[0] != '{')
			rc = bad(g, "schema");
		else if ((m->schema = xstrdup(sv, sn)) == NULL)
			rc = rf_seterr(g->e, RF_ENOMEM, "out of memory");
	}
	rf_path_free(sp);
	if (rc < 0)
		goto out;
	if (rf_dsum_parse(digest, strlen(digest), records, &m->total) < 0)
		rc = bad(g, "digest");
	m->nfiles = files;
out:
	free(signer);
	free(digest);
	return rc;
}

static int
parse_file(struct getter *g, rf_manifest *m)
{
	rf_mfile f = { 0 };
	char *digest = NULL;
	const char *v;
	size_t vn;
	int rc;

	if ((rc = get_str(g, "name", false, &f.name)) < 0)
		return rc;
	if ((rc = rf_check_name(f.name, NULL)) < 0) {
		rc = bad(g, "name");
		goto fail;
	}
	if ((rc = get_u64(g, "size", false, &f.size)) < 0 ||
	    (rc = get_hex(g, "sha256", f.sha256)) < 0 ||
	    (rc = get_u64(g, "records", false, &f.digest.count)) < 0 ||
	    (rc = get_str(g, "digest", false, &digest)) < 0 ||
	    (rc = get(g, "prov", &v, &vn)) < 0)
		goto fail;
	if (rf_dsum_parse(digest, strlen(digest), f.digest.count, &f.digest) < 0) {
		rc = bad(g, "digest");
		goto fail;
	}
	if (!(vn == 4 && memcmp(v, "null", 4) == 0)) {
		if (v[0] != '{') {
			rc = bad(g, "prov");
			goto fail;
		}
		if ((f.prov = xstrdup(v, vn)) == NULL) {
			rc = rf_seterr(g->e, RF_ENOMEM, "out of memory");
			goto fail;
		}
	}
	if (m->n > 0 && strcmp(m->f[m->n - 1].name, f.name) >= 0) {
		rc = rf_seterr(g->e, RF_EDATA, "%s:%llu: names out of order",
		    g->file, (unsigned long long)g->lineno);
		goto fail;
	}
	if (rf_manifest_add(m, &f) < 0) {
		rc = rf_seterr(g->e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	free(digest);
	return 0;
fail:
	free(f.name);
	free(f.prov);
	free(digest);
	return rc;
}

static int
manifest_parse(const char *buf, size_t len, const char *file, bool header,
    rf_manifest *m, rf_err *e)
{
	struct getter g = { .file = file, .e = e };
	const char *p = buf, *end = buf + len;
	rf_dsum sum;
	int rc = 0;

	memset(m, 0, sizeof *m);
	rf_dsum_init(&sum);
	while (rc == 0 && p < end) {
		const char *nl = memchr(p, '\n', end - p);
		if (nl == NULL) {
			rc = rf_seterr(e, RF_EDATA, "%s: no newline at the end",
			    file);
			break;
		}
		g.line = p;
		g.len = nl - p;
		g.lineno++;
		if ((rc = rf_json_validate(g.line, g.len, e)) < 0) {
			char why[sizeof e->msg];
			snprintf(why, sizeof why, "%s", e->msg);
			rc = rf_seterr(e, RF_EDATA, "%s:%llu: %s", file,
			    (unsigned long long)g.lineno, why);
		} else if (g.lineno == 1) {
			if ((rc = parse_header(&g, m)) == 0 && header)
				return 0;
		} else if ((rc = parse_file(&g, m)) == 0)
			rf_dsum_merge(&sum, &m->f[m->n - 1].digest);
		p = nl + 1;
	}
	if (rc == 0 && g.lineno == 0)
		rc = rf_seterr(e, RF_EDATA, "%s: empty", file);
	if (rc == 0 && (m->nfiles != m->n || !rf_dsum_equal(&sum, &m->total)))
		rc = rf_seterr(e, RF_EDATA,
		    "%s: the totals do not match the files", file);
	if (rc < 0)
		rf_manifest_free(m);
	return rc;
}

int
rf_manifest_parse(const char *buf, size_t len, const char *file,
    rf_manifest *m, rf_err *e)
{
	return manifest_parse(buf, len, file, false, m, e);
}

/* ---- the store ---------------------------------------------------------- */

static int
path(const rf_store *s, char *dst, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
path(const rf_store *s, char *dst, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(dst, PATH_MAX, "%s/", s->dir);

	va_start(ap, fmt);
	n += vsnprintf(dst + n, PATH_MAX - n, fmt, ap);
	va_end(ap);
	return n < PATH_MAX ? 0 : -1;
}

int
rf_store_path(const rf_store *s, char *dst, const char *rel)
{
	if (path(s, dst, "%s", rel) < 0)
		return RF_EUSAGE;
	return 0;
}

int
rf_version_path(const rf_store *s, uint32_t v, const char *file,
    char *dst)
{
	if (path(s, dst, "versions/%06u%s%s", (unsigned)v,
	    file != NULL ? "/" : "", file != NULL ? file : "") < 0)
		return RF_EUSAGE;
	return 0;
}

int
rf_dataset_arg(const char *arg, char *dir, size_t size, uint32_t *v,
    rf_err *e)
{
	const char *at = strrchr(arg, '@');
	size_t n = at != NULL ? (size_t)(at - arg) : strlen(arg);
	uint64_t x;

	*v = 0;
	if (n >= size)
		return rf_seterr(e, RF_EUSAGE, "%.*s: path too long", (int)n, arg);
	memcpy(dir, arg, n);
	dir[n] = '\0';
	if (at == NULL)
		return 0;
	if (rf_parse_uint(at + 1, 1, RF_VERSION_MAX, &x) < 0)
		return rf_seterr(e, RF_EUSAGE, "%s: not a version number (1 to %d)",
		    at + 1, RF_VERSION_MAX);
	*v = (uint32_t)x;
	return 0;
}

bool
rf_is_dataset(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;

	if (snprintf(p, sizeof p, "%s/log", dir) >= (int)sizeof p ||
	    stat(p, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	snprintf(p, sizeof p, "%s/versions", dir);
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Parses "000042" (exactly six digits, not zero). */
static uint32_t
vername(const char *s)
{
	uint32_t v = 0;

	for (int i = 0; i < 6; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return s[6] == '\0' ? v : 0;
}

static int
read_current(rf_store *s, rf_err *e)
{
	char p[PATH_MAX], t[64];
	ssize_t k;

	path(s, p, "current");
	s->current = 0;
	if ((k = readlink(p, t, sizeof t - 1)) < 0) {
		if (errno == ENOENT)
			return 0;
		return syserr(e, p);
	}
	t[k] = '\0';
	if (strncmp(t, "versions/", 9) != 0 || (s->current = vername(t + 9)) == 0)
		return rf_seterr(e, RF_EDATA, "%s: points to \"%s\", not a version",
		    p, t);
	return 0;
}

int
rf_store_version(const rf_store *s, uint32_t *v, rf_err *e)
{
	if (*v == 0 && (*v = s->current) == 0)
		return rf_seterr(e, RF_EUSAGE, "%s: no current version", s->dir);
	if (!rf_store_committed(s, *v))
		return rf_seterr(e, RF_EUSAGE, "%s: no version %06u", s->dir,
		    (unsigned)*v);
	return 0;
}

int
rf_store_compat(const rf_store *s)
{
	for (size_t i = s->nlog; i-- > 0;)
		if (strcmp(s->log[i].event, "compat") == 0 ||
		    strcmp(s->log[i].event, "policy") == 0)
			return s->log[i].mode;
	return RF_COMPAT_NONE;
}

/* The log line that set the POLICY last, or NULL. */
static const rf_logent *
policy_line(const rf_store *s)
{
	for (size_t i = s->nlog; i-- > 0;)
		if (s->log[i].has_policy)
			return &s->log[i];
	return NULL;
}

int
rf_store_policy(const rf_store *s, const rf_trusted *trusted, rf_policy *p,
    rf_err *e)
{
	const rf_logent *l = policy_line(s);
	char pp[PATH_MAX];
	unsigned char d[RF_SHA256_LEN];
	rf_buf b = { 0 };
	struct stat st;
	int rc;

	path(s, pp, "POLICY");
	if (l == NULL) {
		/* A POLICY no line of the log set is not in force: it is wrong. */
		if (lstat(pp, &st) == 0)
			return rf_seterr(e, RF_ECHECK, "%s: no line of the log "
			    "sets it", pp);
		/* And unsigned changes, where no trusted-signers file is. */
		if ((rc = rf_policy_default(p, e)) < 0)
			return rc;
		p->unsigned_ok = trusted == NULL;
		return 1;
	}
	if ((rc = rf_read_file(pp, (size_t)1 << 20, &b, e)) < 0) {
		if (rc == RF_EIO && errno == ENOENT) {
			char np[PATH_MAX];
			path(s, np, "POLICY.new");
			rc = rf_seterr(e, RF_ECHECK, "%s: missing, but line %zu "
			    "of the log sets it%s", pp, (size_t)(l - s->log) + 1,
			    access(np, F_OK) == 0 ? " (a writer stopped while "
			    "setting it: the next writer puts POLICY.new in place)" :
			    "");
		}
		rf_buf_free(&b);
		return rc;
	}
	rf_sha256_once(s->sha, b.p, b.len, d);
	if (memcmp(d, l->policy, RF_SHA256_LEN) != 0) {
		rf_buf_free(&b);
		return rf_seterr(e, RF_ECHECK, "%s: is not the policy that line "
		    "%zu of the log set", pp, (size_t)(l - s->log) + 1);
	}
	/* The line that set it is signed: by an owner, when owners are known. */
	if (trusted != NULL) {
		char signer[RF_PUBKEY_LEN + 1] = "";
		const rf_signer *sg;
		struct getter g = { .line = l->line, .len = l->len,
			.file = pp, .e = e };
		char *sv = NULL;
		if (get_str(&g, "signer", true, &sv) == 0 && sv != NULL)
			snprintf(signer, sizeof signer, "%s", sv);
		free(sv);
		sg = rf_trusted_find(trusted, signer);
		if (sg == NULL || !rf_signer_has_role(sg, "owner")) {
			rf_buf_free(&b);
			return rf_seterr(e, RF_ECHECK, "%s: set by line %zu of the "
			    "log, with a key that %s does not list as an owner's",
			    pp, (size_t)(l - s->log) + 1, trusted->path);
		}
	}
	rc = rf_policy_parse(b.p, b.len, pp, p, e);
	rf_buf_free(&b);
	return rc == RF_EDATA ? RF_ECHECK : rc;
}

int
rf_store_set_policy(rf_store *s, const char *text, size_t n,
    const rf_event *ev, const rf_key *key, rf_err *e)
{
	char pp[PATH_MAX], np[PATH_MAX];
	unsigned char d[RF_SHA256_LEN];
	rf_event pev = *ev;
	int rc;

	path(s, pp, "POLICY");
	path(s, np, "POLICY.new");
	/*
	 * Beside the old one first, then the log line that makes it the
	 * policy, then in place: a writer killed on the way leaves what the
	 * next one's repair finishes, or takes away, as the log says (so a
	 * POLICY.new cut short needs no temporary name of its own).
	 */
	int fd = open(np, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return syserr(e, np);
	rc = rf_write_all(fd, text, n, e, np);
	if (rc == 0 && fsync(fd) < 0)
		rc = syserr(e, np);
	if (close(fd) < 0 && rc == 0)
		rc = syserr(e, np);
	if (rc < 0) {
		unlink(np);
		return rc;
	}
	rf_sha256_once(s->sha, text, n, d);
	pev.policy = d;
	if ((rc = rf_store_log(s, &pev, key, e)) < 0) {
		unlink(np);
		return rc;
	}
	if (rename(np, pp) < 0)
		return rf_seterr(e, RF_EIO, "%s: %s (the log sets it: the next "
		    "writer puts %s in place)", pp, strerror(errno), np);
	return rf_fsync_dir(s->dir, e);
}

int
rf_store_check_pointer(const rf_store *s, rf_err *e)
{
	char cur[24] = "none", ptr[24] = "nothing";

	if (s->pointer == s->current)
		return 0;
	if (s->current != 0)
		snprintf(cur, sizeof cur, "version %06u", (unsigned)s->current);
	if (s->pointer != 0)
		snprintf(ptr, sizeof ptr, "version %06u", (unsigned)s->pointer);
	return rf_seterr(e, RF_ECHECK, "%s/current points to %s, but the log "
	    "makes %s current: changed without a log line (a rollback "
	    "attack?) or left by a killed writer", s->dir, ptr, cur);
}

int
rf_store_set_current(rf_store *s, uint32_t v, rf_err *e)
{
	char tmp[PATH_MAX], cur[PATH_MAX], t[32];

	path(s, tmp, "current.tmp");
	path(s, cur, "current");
	snprintf(t, sizeof t, "versions/%06u", (unsigned)v);
	if (unlink(tmp) < 0 && errno != ENOENT)
		return syserr(e, tmp);
	if (symlink(t, tmp) < 0)
		return syserr(e, tmp);
	if (rename(tmp, cur) < 0) {
		int rc = syserr(e, cur);
		unlink(tmp);
		return rc;
	}
	s->current = s->pointer = v;
	return rf_fsync_dir(s->dir, e);
}

static int
mkdir_p(const char *p, rf_err *e)
{
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return syserr(e, p);
	return 0;
}

/*
 * Lists versions/: the committed versions (six-digit names) in *vs, and
 * temporary names left by a killed writer in *tmps.
 */
static int
scan_versions(rf_store *s, uint32_t **vs, size_t *nv, rf_err *e)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;
	size_t cap = 0;

	*vs = NULL;
	*nv = 0;
	path(s, p, "versions");
	if ((d = opendir(p)) == NULL)
		return syserr(e, p);
	while ((de = readdir(d)) != NULL) {
		uint32_t v = vername(de->d_name);
		char vp[PATH_MAX];
		int rc;
		if (v == 0)
			continue;
		if ((size_t)snprintf(vp, sizeof vp, "%s/%s", p, de->d_name) >=
		    sizeof vp)
			rc = rf_seterr(e, RF_EUSAGE, "%s: path too long", p);
		else
			rc = rf_store_realdir(vp, e);
		if (rc < 0) {
			closedir(d);
			free(*vs);
			*vs = NULL;
			*nv = 0;
			return rc;
		}
		if (*nv == cap) {
			cap = cap ? 2 * cap : 64;
			uint32_t *n = realloc(*vs, cap * sizeof *n);
			if (n == NULL) {
				closedir(d);
				return rf_seterr(e, RF_ENOMEM, "out of memory");
			}
			*vs = n;
		}
		(*vs)[(*nv)++] = v;
	}
	closedir(d);
	return 0;
}

int
rf_store_realdir(const char *p, rf_err *e)
{
	struct stat st;

	if (lstat(p, &st) < 0)
		return syserr(e, p);
	if (S_ISLNK(st.st_mode))
		return rf_seterr(e, RF_ECHECK, "%s: a symbolic link, where the "
		    "dataset has a directory: refused", p);
	if (!S_ISDIR(st.st_mode))
		return rf_seterr(e, RF_ECHECK, "%s: not a directory", p);
	return 0;
}

static int
u32cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Makes a read-only tree writable again so that it can be removed. */
static int
rmtree_ro(const char *p, rf_err *e)
{
	DIR *d;
	struct dirent *de;
	struct stat st;

	if (lstat(p, &st) < 0)
		return errno == ENOENT ? 0 : syserr(e, p);
	if (!S_ISDIR(st.st_mode))
		return unlink(p) < 0 && errno != ENOENT ? syserr(e, p) : 0;
	if (chmod(p, 0755) < 0)
		return syserr(e, p);
	if ((d = opendir(p)) == NULL)
		return syserr(e, p);
	while ((de = readdir(d)) != NULL) {
		char sub[PATH_MAX];
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof sub, "%s/%s", p, de->d_name) >=
		    (int)sizeof sub)
			continue;
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode) &&
		    rmtree_ro(sub, e) < 0) {
			closedir(d);
			return RF_EIO;
		}
	}
	closedir(d);
	return rf_rmtree(p, e);
}

int
rf_store_remove_version(rf_store *s, uint32_t v, rf_err *e)
{
	char p[PATH_MAX], t[PATH_MAX], vd[PATH_MAX];
	int rc;

	/*
	 * Out of sight first, in one rename made durable: a removal cut
	 * short leaves a temporary name for repair, never a version with
	 * files missing.
	 */
	rf_version_path(s, v, NULL, p);
	path(s, t, "versions/.tmp-rm-%06u", (unsigned)v);
	path(s, vd, "versions");
	if (rename(p, t) < 0)
		return errno == ENOENT ? 0 : syserr(e, p);
	if ((rc = rf_fsync_dir(vd, e)) < 0)
		return rc;
	return rmtree_ro(t, e);
}

/* ---- the log ------------------------------------------------------------ */

static void
logent_free(rf_logent *l)
{
	free(l->line);
}

static int
parse_logline(rf_store *s, const char *line, size_t len, uint64_t lineno,
    const rf_trusted *trusted, rf_err *e)
{
	char lp[PATH_MAX];
	struct getter g = { .line = line, .len = len, .lineno = lineno, .e = e };
	rf_logent l = { 0 };
	unsigned char prev[RF_SHA256_LEN], sig[RF_SIG_LEN];
	char *signer = NULL, *event = NULL;
	uint64_t seq, v;
	rf_buf body = { 0 }, canon = { 0 };
	int rc;

	path(s, lp, "log");
	g.file = lp;
	if ((rc = rf_json_validate(line, len, e)) < 0) {
		char why[sizeof e->msg];
		snprintf(why, sizeof why, "%s", e->msg);
		return rf_seterr(e, RF_ECHECK, "%s:%llu: %s", lp,
		    (unsigned long long)lineno, why);
	}
	if ((rc = get_u64(&g, "seq", false, &seq)) < 0 ||
	    (rc = get_hex(&g, "prev", prev)) < 0 ||
	    (rc = get_str(&g, "event", false, &event)) < 0 ||
	    (rc = get_str(&g, "signer", true, &signer)) < 0 ||
	    (rc = get_u64(&g, "version", true, &v)) < 0)
		goto out;
	l.version = (uint32_t)v;
	if ((rc = get_u64(&g, "current", true, &v)) < 0)
		goto out;
	l.current = (uint32_t)v;
	snprintf(l.event, sizeof l.event, "%s", event);
	if (strcmp(event, "policy") == 0) {
		if ((rc = get_hex(&g, "policy", l.policy)) < 0)
			goto out;
		l.has_policy = true;
	}
	if (strcmp(event, "compat") == 0 || strcmp(event, "policy") == 0) {
		char *mode;
		if ((rc = get_str(&g, "mode", false, &mode)) < 0)
			goto out;
		l.mode = rf_compat_parse(mode);
		free(mode);
		if (l.mode < 0) {
			rc = bad(&g, "mode");
			goto out;
		}
	}
	{
		const char *mv;
		size_t mn;
		if ((rc = get(&g, "manifest", &mv, &mn)) < 0)
			goto out;
		if (!(mn == 4 && memcmp(mv, "null", 4) == 0)) {
			if ((rc = get_hex(&g, "manifest", l.manifest)) < 0)
				goto out;
			l.has_manifest = true;
		}
	}
	if (seq != lineno) {
		rc = rf_seterr(e, RF_ECHECK, "%s:%llu: seq is %llu: a line was "
		    "removed or inserted", lp, (unsigned long long)lineno,
		    (unsigned long long)seq);
		goto out;
	}
	if (memcmp(prev, s->head, RF_SHA256_LEN) != 0) {
		rc = rf_seterr(e, RF_ECHECK, "%s:%llu: the chain is broken: "
		    "the line before was changed or removed", lp,
		    (unsigned long long)lineno);
		goto out;
	}
	/* The signed bytes: the line without its sig member. */
	if (signer != NULL) {
		if (len < SIGTAIL_LEN + 2 ||
		    memcmp(line + len - SIGTAIL_LEN, ",\"sig\":\"", 8) != 0 ||
		    memcmp(line + len - 2, "\"}", 2) != 0 ||
		    rf_b64_decode(line + len - SIGTAIL_LEN + 8, 88, sig,
		    sizeof sig) != RF_SIG_LEN) {
			rc = rf_seterr(e, RF_ECHECK, "%s:%llu: no valid \"sig\" "
			    "at the end of a signed line", lp,
			    (unsigned long long)lineno);
			goto out;
		}
		rf_buf_add(&body, line, len - SIGTAIL_LEN);
		rf_buf_addc(&body, '}');
	} else if (rf_buf_add(&body, line, len) < 0) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = rf_json_canon(body.p, body.len, &canon, e)) < 0 ||
	    canon.len != body.len || memcmp(canon.p, body.p, body.len) != 0) {
		rc = rf_seterr(e, RF_ECHECK, "%s:%llu: not in canonical form",
		    lp, (unsigned long long)lineno);
		goto out;
	}
	if (signer != NULL) {
		rf_err se;
		if ((rc = rf_sig_verify(signer, body.p, body.len, sig, &se)) < 0) {
			rc = rf_seterr(e, RF_ECHECK, "%s:%llu: %s", lp,
			    (unsigned long long)lineno, rc == RF_ECHECK ?
			    "the signature does not match" : se.msg);
			goto out;
		}
		if (trusted != NULL && rf_trusted_find(trusted, signer) == NULL) {
			rc = rf_seterr(e, RF_ECHECK, "%s:%llu: signed by a key "
			    "that %s does not list", lp,
			    (unsigned long long)lineno, trusted->path);
			goto out;
		}
	} else if (trusted != NULL) {
		rc = rf_seterr(e, RF_ECHECK, "%s:%llu: unsigned, and %s is in "
		    "force", lp, (unsigned long long)lineno, trusted->path);
		goto out;
	}
	if ((l.line = xstrdup(line, len)) == NULL) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto out;
	}
	l.len = len;
	if (s->nlog == s->caplog) {
		size_t nc = s->caplog ? 2 * s->caplog : 64;
		rf_logent *nl = realloc(s->log, nc * sizeof *nl);
		if (nl == NULL) {
			free(l.line);
			rc = rf_seterr(e, RF_ENOMEM, "out of memory");
			goto out;
		}
		s->log = nl;
		s->caplog = nc;
	}
	s->log[s->nlog++] = l;
	rf_sha256_once(s->sha, line, len, s->head);
out:
	free(signer);
	free(event);
	rf_buf_free(&body);
	rf_buf_free(&canon);
	/* A malformed line is a log that does not check out. */
	return rc == RF_EDATA ? RF_ECHECK : rc;
}

/*
 * Reads and checks the whole log.  A last line without its newline is
 * what a killed writer left: *torn is set to its offset.
 */
static int
read_log(rf_store *s, const rf_trusted *trusted, off_t *torn, rf_err *e)
{
	char lp[PATH_MAX];
	rf_buf b = { 0 };
	int rc;

	*torn = -1;
	path(s, lp, "log");
	memset(s->head, 0, sizeof s->head);
	if ((rc = rf_read_file(lp, SIZE_MAX / 2, &b, e)) < 0) {
		rf_buf_free(&b);
		return rc;
	}
	const char *p = b.p, *end = b.p + b.len;
	uint64_t lineno = 0;
	while (rc == 0 && p < end) {
		const char *nl = memchr(p, '\n', end - p);
		if (nl == NULL) {
			*torn = p - b.p;
			break;
		}
		rc = parse_logline(s, p, nl - p, ++lineno, trusted, e);
		p = nl + 1;
	}
	rf_buf_free(&b);
	return rc;
}

int
rf_store_log(rf_store *s, const rf_event *ev, const rf_key *key, rf_err *e)
{
	char lp[PATH_MAX], pub[RF_PUBKEY_LEN + 1], t[32];
	unsigned char sig[RF_SIG_LEN];
	char sigb64[RF_SIG_LEN * 2];
	rf_buf b = { 0 };
	int fd, rc = 0;

	path(s, lp, "log");
	if (key != NULL)
		rf_key_public(key, pub);
	rf_timestamp(rf_now(), t);
	rf_buf_addc(&b, '{');
	if (ev->nbreaking > 0) {
		addkey(&b, "breaking");
		rf_buf_addc(&b, '[');
		for (size_t i = 0; i < ev->nbreaking; i++) {
			if (i > 0)
				rf_buf_addc(&b, ',');
			rf_json_addstr(&b, ev->breaking[i],
			    strlen(ev->breaking[i]));
		}
		rf_buf_addc(&b, ']');
	}
	addver(&b, "current", ev->current);
	addstr(&b, "event", ev->event);
	addver(&b, "from", ev->from);
	if (ev->manifest != NULL)
		addhex(&b, "manifest", ev->manifest);
	else
		addstr(&b, "manifest", NULL);
	addstr(&b, "message", ev->message);
	if (ev->mode != NULL)
		addstr(&b, "mode", ev->mode);
	if (ev->override != NULL)
		addstr(&b, "override", ev->override);
	if (ev->policy != NULL)
		addhex(&b, "policy", ev->policy);
	addhex(&b, "prev", s->head);
	if (ev->removed != NULL) {
		addkey(&b, "removed");
		rf_buf_addc(&b, '[');
		for (size_t i = 0; i < ev->nremoved; i++) {
			char n[16];
			snprintf(n, sizeof n, "%s%u", i ? "," : "",
			    (unsigned)ev->removed[i]);
			rf_buf_adds(&b, n);
		}
		rf_buf_addc(&b, ']');
	}
	if (ev->reports != NULL) {
		addkey(&b, "reports");
		rf_buf_adds(&b, ev->reports);
	}
	addu64(&b, "seq", s->nlog + 1);
	addstr(&b, "signer", key != NULL ? pub : NULL);
	addstr(&b, "time", t);
	addstr(&b, "user", ev->user);
	addver(&b, "version", ev->version);
	if (rf_buf_addc(&b, '}') < 0) {
		rf_buf_free(&b);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	if (key != NULL) {
		if ((rc = rf_key_sign(key, b.p, b.len, sig, e)) < 0) {
			rf_buf_free(&b);
			return rc;
		}
		rf_b64_encode(sig, sizeof sig, sigb64);
		b.len--;
		rf_buf_adds(&b, ",\"sig\":\"");
		rf_buf_adds(&b, sigb64);
		rf_buf_adds(&b, "\"}");
	}
	if (rf_buf_addc(&b, '\n') < 0) {
		rf_buf_free(&b);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	/*
	 * One write in append mode: a crash leaves the line whole or torn,
	 * and a torn last line is cut at the next writer's repair.
	 */
	if ((fd = open(lp, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rf_buf_free(&b);
		return syserr(e, lp);
	}
	struct stat st = { .st_size = -1 };
	if (fstat(fd, &st) < 0)
		rc = syserr(e, lp);
	if (rc == 0 && (rc = rf_write_all(fd, b.p, b.len, e, lp)) == 0 &&
	    fsync(fd) < 0)
		rc = syserr(e, lp);
	/*
	 * The caller fails, so its line must not stand: a line that may
	 * not be durable is taken back.  If that fails too, the line is
	 * whole (the change is done; repair finishes it) or torn (cut).
	 */
	if (rc < 0 && st.st_size >= 0 && ftruncate(fd, st.st_size) == 0)
		(void)fsync(fd);
	if (close(fd) < 0 && rc == 0) {
		rc = syserr(e, lp);
		/* Taken back too, or the next writer's repair would finish it. */
		if (st.st_size >= 0 && (fd = open(lp, O_WRONLY | O_NOFOLLOW |
		    O_CLOEXEC)) >= 0) {
			if (ftruncate(fd, st.st_size) == 0)
				(void)fsync(fd);
			close(fd);
		}
	}
	/* Checked like a read line, so the in-memory log is the file's. */
	if (rc == 0)
		rc = parse_logline(s, b.p, b.len - 1, s->nlog + 1, NULL, e);
	rf_buf_free(&b);
	return rc;
}

uint32_t
rf_store_previous(const rf_store *s)
{
	/* The pointer's value before its last change. */
	size_t i = s->nlog;
	uint32_t cur = s->current;

	while (i > 0 && s->log[i - 1].current == cur)
		i--;
	while (i > 0) {
		uint32_t c = s->log[i - 1].current;
		if (c != cur && c != 0)
			return c;
		i--;
	}
	return 0;
}

bool
rf_store_committed(const rf_store *s, uint32_t v)
{
	for (size_t i = 0; i < s->nlog; i++)
		if (strcmp(s->log[i].event, "commit") == 0 &&
		    s->log[i].version == v)
			return true;
	return false;
}

/* ---- open, lock and repair --------------------------------------------- */

static void
note(rf_buf *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
note(rf_buf *notes, const char *fmt, ...)
{
	char t[512];
	va_list ap;

	if (notes == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(t, sizeof t, fmt, ap);
	va_end(ap);
	rf_buf_adds(notes, t);
	rf_buf_addc(notes, '\n');
}

static int
create_layout(rf_store *s, rf_err *e)
{
	char p[PATH_MAX];
	int fd, rc;

	if ((rc = mkdir_p(s->dir, e)) < 0)
		return rc;
	path(s, p, "versions");
	if ((rc = mkdir_p(p, e)) < 0)
		return rc;
	path(s, p, "objects");
	if ((rc = mkdir_p(p, e)) < 0)
		return rc;
	path(s, p, "lineage");
	if ((rc = mkdir_p(p, e)) < 0)
		return rc;
	path(s, p, "log");
	if ((fd = open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		return syserr(e, p);
	close(fd);
	return rf_fsync_dir(s->dir, e);
}

static int
take_lock(rf_store *s, rf_err *e)
{
	char p[PATH_MAX];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	path(s, p, "lock");
	s->lockfd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (s->lockfd < 0)
		return syserr(e, p);
	if (fcntl(s->lockfd, F_SETLK, &fl) < 0) {
		if (errno == EACCES || errno == EAGAIN)
			return rf_seterr(e, RF_ECONFLICT, "%s: another writer "
			    "holds the lock", s->dir);
		return syserr(e, p);
	}
	return 0;
}

/* Parses a version's MANIFEST header, unchecked (repair decides on it). */
static int
manifest_head(rf_store *s, uint32_t v, rf_manifest *m)
{
	char mp[PATH_MAX];
	rf_buf b = { 0 };
	rf_err e;
	int rc;

	memset(m, 0, sizeof *m);
	rf_version_path(s, v, "MANIFEST", mp);
	if ((rc = rf_read_file(mp, (size_t)1 << 30, &b, &e)) == 0)
		rc = manifest_parse(b.p, b.len, mp, true, m, &e);
	rf_buf_free(&b);
	return rc;
}

/*
 * Removes the versions that a gc line lists and that are still there:
 * gc logs first and removes after, so a killed gc is finished here.
 */
static int
finish_gc(rf_store *s, rf_buf *notes, rf_err *e)
{
	char lp[PATH_MAX], vp[PATH_MAX];
	struct stat st;
	int rc;

	path(s, lp, "log");
	for (size_t i = 0; i < s->nlog; i++) {
		struct getter g = { .line = s->log[i].line, .len = s->log[i].len,
		    .file = lp, .lineno = i + 1, .e = e };
		const char *v;
		size_t n;
		if (strcmp(s->log[i].event, "gc") != 0)
			continue;
		if ((rc = get(&g, "removed", &v, &n)) < 0)
			return rc == RF_EDATA ? RF_ECHECK : rc;
		/* Canonical form: "[" digits ("," digits)* "]", or "[]". */
		for (const char *q = v + 1; q < v + n && *q >= '0' &&
		    *q <= '9';) {
			char *end;
			unsigned long ver = strtoul(q, &end, 10);
			q = end + 1;
			if (ver > RF_VERSION_MAX ||
			    rf_version_path(s, ver, NULL, vp) < 0 ||
			    lstat(vp, &st) < 0)
				continue;
			if ((rc = rf_store_remove_version(s, ver, e)) < 0)
				return rc;
			note(notes, "removed version %06u, which an interrupted "
			    "gc (log line %zu) had not", (unsigned)ver, i + 1);
		}
	}
	return 0;
}

/*
 * What a killed writer can leave, in the order it does things: temporary
 * files and directories; a version renamed into place without its log
 * line; a torn last log line; a pointer behind the log; versions that a
 * logged gc did not remove yet.
 */
/* A POLICY set half-way: in place if the log set it, else taken away. */
static int
repair_policy(rf_store *s, rf_buf *notes, rf_err *e)
{
	const rf_logent *l = policy_line(s);
	char pp[PATH_MAX], np[PATH_MAX];
	unsigned char d[RF_SHA256_LEN];
	rf_buf b = { 0 };
	int rc;

	path(s, pp, "POLICY");
	path(s, np, "POLICY.new");
	if ((rc = rf_read_file(np, (size_t)1 << 20, &b, e)) < 0) {
		rf_buf_free(&b);
		return rc == RF_EIO && errno == ENOENT ? 0 : rc;
	}
	rf_sha256_once(s->sha, b.p, b.len, d);
	rf_buf_free(&b);
	if (l != NULL && memcmp(d, l->policy, RF_SHA256_LEN) == 0) {
		if (rename(np, pp) < 0)
			return syserr(e, pp);
		note(notes, "put in place the POLICY that line %zu of the log "
		    "set", (size_t)(l - s->log) + 1);
	} else {
		if (unlink(np) < 0)
			return syserr(e, np);
		note(notes, "removed %s: the log never set it", np);
	}
	return rf_fsync_dir(s->dir, e);
}

static int
repair(rf_store *s, off_t torn, rf_buf *notes, rf_err *e)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;
	uint32_t *vs = NULL;
	size_t nv;
	int rc;

	if (torn >= 0) {
		path(s, p, "log");
		if (truncate(p, torn) < 0)
			return syserr(e, p);
		note(notes, "cut a torn last line from %s", p);
	}
	/* Writers' temporary names (two small directories, scanned whole). */
	const char *tdirs[] = { "versions", "objects" };
	for (int i = 0; i < 2; i++) {
		path(s, p, "%s", tdirs[i]);
		if ((d = opendir(p)) == NULL)
			return syserr(e, p);
		while ((de = readdir(d)) != NULL) {
			char sub[PATH_MAX];
			if (strncmp(de->d_name, ".tmp-", 5) != 0)
				continue;
			if (snprintf(sub, sizeof sub, "%s/%s", p, de->d_name) >=
			    (int)sizeof sub)
				continue;
			if ((rc = rmtree_ro(sub, e)) < 0) {
				closedir(d);
				return rc;
			}
			note(notes, "removed %s, left by an interrupted writer",
			    sub);
		}
		closedir(d);
	}
	if ((rc = scan_versions(s, &vs, &nv, e)) < 0)
		return rc;
	/*
	 * A commit killed before its log line leaves one version, made on
	 * top of the log as it is now.  More than one, or one made on a
	 * longer log, means lines were cut from the log: then nothing is
	 * removed on its word.
	 */
	uint32_t unlogged = 0;
	for (size_t i = 0; rc == 0 && i < nv; i++) {
		rf_manifest m;
		if (rf_store_committed(s, vs[i]))
			continue;
		bool ok = unlogged == 0 && manifest_head(s, vs[i], &m) == 0 &&
		    memcmp(m.log_head, s->head, RF_SHA256_LEN) == 0;
		rf_manifest_free(&m);
		if (!ok)
			rc = rf_seterr(e, RF_ECHECK, "%s/log: no line commits "
			    "version %06u: lines were removed from the log",
			    s->dir, (unsigned)vs[i]);
		unlogged = vs[i];
	}
	if (rc == 0 && unlogged != 0) {
		if ((rc = rf_store_remove_version(s, unlogged, e)) == 0)
			note(notes, "removed version %06u: its commit never "
			    "reached the log", (unsigned)unlogged);
	}
	free(vs);
	if (rc < 0)
		return rc;
	uint32_t want = s->nlog > 0 ? s->log[s->nlog - 1].current : 0;
	if (want != s->current) {
		uint32_t was = s->current;
		if (want == 0) {
			path(s, p, "current");
			if (unlink(p) < 0)
				return syserr(e, p);
			s->current = 0;
		} else if ((rc = rf_store_set_current(s, want, e)) < 0)
			return rc;
		/*
		 * Behind the log by its last switch is what a killed writer
		 * leaves; anything else was changed without a log line.
		 */
		size_t i = s->nlog;
		while (i > 0 && s->log[i - 1].current == want)
			i--;
		const char *why = was == (i > 0 ? s->log[i - 1].current : 0) ?
		    "" : " (it was changed without a log line: a rollback "
		    "attack?)";
		if (want == 0)
			note(notes, "removed current, as the log says%s", why);
		else
			note(notes, "set current to version %06u, as the log "
			    "says%s", (unsigned)want, why);
	}
	path(s, p, "current.tmp");
	unlink(p);
	if ((rc = repair_policy(s, notes, e)) < 0)
		return rc;
	return finish_gc(s, notes, e);
}

int
rf_store_open(const char *dir, int flags, const rf_trusted *trusted,
    rf_store **out, rf_buf *notes, rf_err *e)
{
	rf_store *s = calloc(1, sizeof *s);
	char p[PATH_MAX];
	struct stat st;
	off_t torn;
	int rc = 0;

	*out = NULL;
	if (s == NULL || (s->sha = rf_sha256_new()) == NULL) {
		free(s);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	s->lockfd = -1;
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if ((s->dir = xstrdup(dir, n)) == NULL) {
		rf_store_close(s);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	if (n + 64 >= PATH_MAX) {
		rf_store_close(s);
		return rf_seterr(e, RF_EUSAGE, "%s: path too long", dir);
	}
	path(s, p, "versions");
	if (stat(p, &st) < 0) {
		/* ENOTDIR: a file, or a FIFO, named as the dataset. */
		if (errno == ENOTDIR)
			rc = rf_seterr(e, RF_EUSAGE,
			    "%s: not a dataset (no versions/)", s->dir);
		else if (errno != ENOENT || !(flags & RF_STORE_CREATE))
			rc = errno == ENOENT ? rf_seterr(e, RF_EUSAGE,
			    "%s: not a dataset (no versions/)", s->dir) :
			    syserr(e, p);
		else
			rc = create_layout(s, e);
	}
	/* Followed, a link would take readers and writers out of it. */
	const char *dirs[] = { "versions", "objects", "lineage" };
	for (size_t i = 0; rc == 0 && i < sizeof dirs / sizeof dirs[0]; i++) {
		path(s, p, "%s", dirs[i]);
		/* lineage/ is made by the first commit that has a stamp. */
		if (i == 2 && lstat(p, &st) < 0 && errno == ENOENT)
			continue;
		rc = rf_store_realdir(p, e);
	}
	if (rc == 0 && (flags & RF_STORE_LOCK))
		rc = take_lock(s, e);
	if (rc == 0)
		rc = read_log(s, trusted, &torn, e);
	if (rc == 0)
		rc = read_current(s, e);
	if (rc == 0 && (flags & RF_STORE_LOCK))
		rc = repair(s, torn, notes, e);
	/* A reader trusts the signed log over a link anyone could swap. */
	s->pointer = s->current;
	if (rc == 0 && !(flags & RF_STORE_LOCK) && s->nlog > 0)
		s->current = s->log[s->nlog - 1].current;
	if (rc == 0) {
		uint32_t *vs;
		size_t nv;
		if ((rc = scan_versions(s, &vs, &nv, e)) == 0) {
			for (size_t i = 0; i < nv; i++)
				if (vs[i] > s->latest)
					s->latest = vs[i];
			free(vs);
		}
		/* gc may have removed the newest version; never reuse a number. */
		for (size_t i = 0; i < s->nlog; i++)
			if (s->log[i].version > s->latest)
				s->latest = s->log[i].version;
	}
	if (rc < 0) {
		rf_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void
rf_store_close(rf_store *s)
{
	if (s == NULL)
		return;
	if (s->lockfd >= 0)
		close(s->lockfd);
	for (size_t i = 0; i < s->nlog; i++)
		logent_free(&s->log[i]);
	free(s->log);
	rf_sha256_free(s->sha);
	free(s->dir);
	free(s);
}

int
rf_store_versions(rf_store *s, uint32_t **vs, size_t *nv, rf_err *e)
{
	int rc = scan_versions(s, vs, nv, e);

	if (rc == 0 && *nv > 1)
		qsort(*vs, *nv, sizeof **vs, u32cmp);
	return rc;
}

/* ---- loading a version -------------------------------------------------- */

/*
 * Whether the log's commit line of v names this very MANIFEST: 1 if it
 * does, 0 if there is no such line, RF_ECHECK if it names another.
 */
static int
committed_as(const rf_store *s, uint32_t v, const rf_manifest *m,
    const char *mp, rf_err *e)
{
	for (size_t i = 0; i < s->nlog; i++) {
		const rf_logent *l = &s->log[i];
		if (strcmp(l->event, "commit") != 0 || l->version != v)
			continue;
		if (!l->has_manifest ||
		    memcmp(l->manifest, m->sha256, RF_SHA256_LEN) != 0)
			return rf_seterr(e, RF_ECHECK, "%s: is not the manifest "
			    "that line %zu of the log committed", mp, i + 1);
		return 1;
	}
	return 0;
}

static int
load(rf_store *s, uint32_t v, const rf_trusted *trusted, bool header,
    rf_manifest *m, rf_err *e)
{
	char mp[PATH_MAX], sp[PATH_MAX], sums[PATH_MAX];
	rf_buf mb = { 0 }, sb = { 0 }, cb = { 0 };
	unsigned char sig[RF_SIG_LEN + 1], d[RF_SHA256_LEN];
	int rc;

	memset(m, 0, sizeof *m);
	rf_version_path(s, v, "MANIFEST", mp);
	rf_version_path(s, v, "MANIFEST.sig", sp);
	rf_version_path(s, v, "SHA256SUMS", sums);
	if ((rc = rf_read_file(mp, (size_t)1 << 30, &mb, e)) < 0)
		goto out;
	if ((rc = manifest_parse(mb.p, mb.len, mp, header, m, e)) < 0) {
		rc = RF_ECHECK;
		goto out;
	}
	rf_sha256_once(s->sha, mb.p, mb.len, m->sha256);
	if (m->version != v) {
		rc = rf_seterr(e, RF_ECHECK, "%s: says version %u", mp,
		    (unsigned)m->version);
		goto out;
	}
	/*
	 * For the header alone, a checked log line that holds this
	 * MANIFEST's SHA-256 vouches for it (its signer was checked as the
	 * manifest's would be): publish and rollback skip the signature,
	 * whose cost grows with the number of files, and SHA256SUMS.
	 */
	if (header && (rc = committed_as(s, v, m, mp, e)) != 0) {
		if (rc > 0)
			rc = 0;
		goto out;
	}
	if (m->signer[0] != '\0') {
		rf_err se;
		if ((rc = rf_read_file(sp, 4096, &sb, e)) < 0) {
			if (errno == ENOENT)
				rc = rf_seterr(e, RF_ECHECK, "%s: missing, but the "
				    "manifest names a signer", sp);
			goto out;
		}
		if (sb.len != RF_SIG_LEN) {
			rc = rf_seterr(e, RF_ECHECK, "%s: not a %d-byte signature",
			    sp, RF_SIG_LEN);
			goto out;
		}
		memcpy(sig, sb.p, RF_SIG_LEN);
		if ((rc = rf_sig_verify(m->signer, mb.p, mb.len, sig, &se)) < 0) {
			rc = rf_seterr(e, RF_ECHECK, "%s: %s", mp,
			    rc == RF_ECHECK ? "the signature does not match" :
			    se.msg);
			goto out;
		}
		if (trusted != NULL && rf_trusted_find(trusted, m->signer) == NULL) {
			rc = rf_seterr(e, RF_ECHECK, "%s: signed by a key that %s "
			    "does not list", mp, trusted->path);
			goto out;
		}
	} else if (trusted != NULL) {
		rc = rf_seterr(e, RF_ECHECK, "%s: unsigned, and %s is in force",
		    mp, trusted->path);
		goto out;
	}
	if ((rc = rf_read_file(sums, (size_t)1 << 30, &cb, e)) < 0)
		goto out;
	rf_sha256_once(s->sha, cb.p, cb.len, d);
	if (memcmp(d, m->sums_sha256, sizeof d) != 0) {
		rc = rf_seterr(e, RF_ECHECK, "%s: does not match the manifest",
		    sums);
		goto out;
	}
	if ((rc = committed_as(s, v, m, mp, e)) > 0)
		rc = 0;
out:
	if (rc < 0)
		rf_manifest_free(m);
	rf_buf_free(&mb);
	rf_buf_free(&sb);
	rf_buf_free(&cb);
	return rc;
}

int
rf_store_load(rf_store *s, uint32_t v, const rf_trusted *trusted,
    rf_manifest *m, rf_err *e)
{
	return load(s, v, trusted, false, m, e);
}

int
rf_store_check(rf_store *s, uint32_t v, const rf_trusted *trusted,
    rf_manifest *m, rf_err *e)
{
	return load(s, v, trusted, true, m, e);
}

void
rf_object_name(const unsigned char d[RF_SHA256_LEN], char dst[80])
{
	char h[65];

	rf_hex(d, RF_SHA256_LEN, h);
	snprintf(dst, 80, "objects/%.2s/%s", h, h + 2);
}
