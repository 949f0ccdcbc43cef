/*
 * Audit exports (refill-audit(5)).  An export holds a dataset's history
 * byte for byte — its log, its POLICY, and each version's MANIFEST,
 * MANIFEST.sig and SHA256SUMS — and a summary derived from that history
 * alone.  A checker rebuilds the history in a scratch directory, checks
 * it as refill checks a dataset (the log's chain and signatures, each
 * MANIFEST against the log, the POLICY), derives the summary again and
 * compares: a changed byte anywhere in either fails one or the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refill.h"

static int
nomem(rf_err *e)
{
	return rf_seterr(e, RF_ENOMEM, "out of memory");
}

/* A member's value of a checked log line, raw, or "null" if absent. */
static void
raw(const rf_logent *l, const rf_path *p, const char **v, size_t *n)
{
	if (rf_json_get(l->line, l->len, p, v, n) != 0) {
		*v = "null";
		*n = 4;
	}
}

/*
 * Appends "name": and the file's text as a JSON string (base64 with b64),
 * or null when there is no such file.
 */
static int
add_text(rf_buf *out, const char *name, const char *path, size_t max,
    bool b64, rf_err *e)
{
	rf_buf t = { 0 };
	struct stat st;
	int rc;

	rf_buf_addc(out, '"');
	rf_buf_adds(out, name);
	rf_buf_adds(out, "\":");
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return rf_buf_adds(out, "null") < 0 ? nomem(e) : 0;
	if ((rc = rf_read_file(path, max, &t, e)) < 0) {
		rf_buf_free(&t);
		return rc;
	}
	if (b64) {
		rf_buf_addc(out, '"');
		rc = rf_buf_add_b64(out, t.p, t.len) < 0 ||
		    rf_buf_addc(out, '"') < 0;
		rf_buf_free(&t);
		return rc ? nomem(e) : 0;
	}
	rc = rf_json_addstr(out, t.p ? t.p : "", t.len);
	rf_buf_free(&t);
	return rc < 0 ? rf_seterr(e, RF_EDATA, "%s: not UTF-8 text", path) : 0;
}

int
rf_audit_history(rf_store *s, rf_buf *out, rf_err *e)
{
	static const char *const files[] = { "MANIFEST", "MANIFEST.sig",
	    "SHA256SUMS" };
	static const char *const names[] = { "manifest", "sig", "sha256sums" };
	char p[PATH_MAX];
	uint32_t *vs = NULL;
	size_t nv = 0, mark = out->len;
	int rc;

	rf_buf_addc(out, '{');
	snprintf(p, sizeof p, "%s/log", s->dir);
	if ((rc = add_text(out, "log", p, SIZE_MAX / 2, false, e)) < 0)
		goto out;
	rf_buf_addc(out, ',');
	snprintf(p, sizeof p, "%s/POLICY", s->dir);
	if ((rc = add_text(out, "policy", p, (size_t)1 << 20, false, e)) < 0 ||
	    (rc = rf_store_versions(s, &vs, &nv, e)) < 0)
		goto out;
	rf_buf_adds(out, ",\"versions\":[");
	for (size_t i = 0; i < nv && rc == 0; i++) {
		rf_buf_adds(out, i > 0 ? ",{" : "{");
		for (int f = 0; f < 3 && rc == 0; f++) {
			rf_version_path(s, vs[i], files[f], p);
			rc = add_text(out, names[f], p, (size_t)1 << 30, f == 1,
			    e);
			rf_buf_addc(out, ',');
		}
		char num[32];
		snprintf(num, sizeof num, "\"version\":%u}", (unsigned)vs[i]);
		rf_buf_adds(out, num);
	}
	if (rc == 0 && rf_buf_adds(out, "]}") < 0)
		rc = nomem(e);
out:
	free(vs);
	if (rc < 0)
		out->len = mark;
	return rc;
}

/* ---- the summary ---------------------------------------------------------- */

struct tcount {
	char *name, *version;
	unsigned char id[RF_SHA256_LEN];
	uint64_t files;
};

static int
tcmp(const void *a, const void *b)
{
	const struct tcount *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c == 0)
		c = strcmp(x->version, y->version);
	return c != 0 ? c : memcmp(x->id, y->id, RF_SHA256_LEN);
}

static int
shacmp(const void *a, const void *b)
{
	return memcmp(a, b, RF_SHA256_LEN);
}

/*
 * What a version holds and what made it: its counts, and the transforms
 * and inputs its files' stamps name.
 */
static int
contents(const rf_manifest *m, rf_buf *out, rf_err *e)
{
	struct tcount *tc = NULL;
	size_t ntc = 0, nin = 0, nshas = 0;
	unsigned char (*shas)[RF_SHA256_LEN] = NULL;
	uint64_t bytes = 0, unstamped = 0;
	char num[160], h[2 * RF_SHA256_LEN + 1];
	int rc = 0;

	for (size_t i = 0; i < m->n && rc == 0; i++) {
		const rf_mfile *f = &m->f[i];
		rf_stamp st;
		bytes += f->size;
		if (f->prov == NULL) {
			unstamped++;
			continue;
		}
		/* A committed stamp was checked at the commit. */
		if ((rc = rf_stamp_parse(f->prov, strlen(f->prov), &st, e)) < 0)
			break;
		void *ns = realloc(shas, (nin + st.ninputs + 1) * sizeof *shas);
		if (ns == NULL) {
			rf_stamp_free(&st);
			rc = nomem(e);
			break;
		}
		shas = ns;
		for (size_t k = 0; k < st.ninputs; k++)
			memcpy(shas[nin++], st.inputs[k].sha256, RF_SHA256_LEN);
		if (st.tname != NULL) {
			size_t k;
			for (k = 0; k < ntc; k++)
				if (strcmp(tc[k].name, st.tname) == 0 &&
				    strcmp(tc[k].version, st.tversion) == 0 &&
				    memcmp(tc[k].id, st.tid, RF_SHA256_LEN) == 0)
					break;
			if (k == ntc) {
				struct tcount *nt = realloc(tc, (ntc + 1) *
				    sizeof *nt);
				if (nt == NULL) {
					rf_stamp_free(&st);
					rc = nomem(e);
					break;
				}
				tc = nt;
				tc[ntc].name = strdup(st.tname);
				tc[ntc].version = strdup(st.tversion);
				memcpy(tc[ntc].id, st.tid, RF_SHA256_LEN);
				tc[ntc].files = 0;
				if (tc[ntc].name == NULL || tc[ntc].version == NULL) {
					free(tc[ntc].name);
					free(tc[ntc].version);
					rf_stamp_free(&st);
					rc = nomem(e);
					break;
				}
				ntc++;
			}
			tc[k].files++;
		}
		rf_stamp_free(&st);
	}
	if (rc == 0) {
		if (nin > 1)
			qsort(shas, nin, sizeof *shas, shacmp);
		for (size_t i = 0; i < nin; i++)
			if (i == 0 || memcmp(shas[i], shas[i - 1],
			    RF_SHA256_LEN) != 0)
				nshas++;
		if (ntc > 1)
			qsort(tc, ntc, sizeof *tc, tcmp);
		snprintf(num, sizeof num, "{\"bytes\":%llu,\"files\":%zu,"
		    "\"input_files\":%zu,\"records\":%llu,\"transforms\":[",
		    (unsigned long long)bytes, m->n, nshas,
		    (unsigned long long)m->total.count);
		rf_buf_adds(out, num);
		for (size_t k = 0; k < ntc; k++) {
			rf_hex(tc[k].id, RF_SHA256_LEN, h);
			snprintf(num, sizeof num, "%s{\"files\":%llu,\"id\":\"%s\","
			    "\"name\":", k ? "," : "",
			    (unsigned long long)tc[k].files, h);
			rf_buf_adds(out, num);
			rf_json_addstr(out, tc[k].name, strlen(tc[k].name));
			rf_buf_adds(out, ",\"version\":");
			rf_json_addstr(out, tc[k].version, strlen(tc[k].version));
			rf_buf_addc(out, '}');
		}
		snprintf(num, sizeof num, "],\"unstamped\":%llu}",
		    (unsigned long long)unstamped);
		if (rf_buf_adds(out, num) < 0)
			rc = nomem(e);
	}
	for (size_t k = 0; k < ntc; k++) {
		free(tc[k].name);
		free(tc[k].version);
	}
	free(tc);
	free(shas);
	return rc;
}

/* Who did it, when and why: the members of line l an auditor reads. */
static void
event(const rf_logent *l, rf_path *const *paths, rf_buf *out)
{
	static const char *const names[] = { "message", "seq", "signer",
	    "time", "user" };

	rf_buf_adds(out, "{\"event\":\"");
	rf_buf_adds(out, l->event);
	rf_buf_addc(out, '"');
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *v;
		size_t n;
		raw(l, paths[i], &v, &n);
		rf_buf_adds(out, ",\"");
		rf_buf_adds(out, names[i]);
		rf_buf_adds(out, "\":");
		rf_buf_add(out, v, n);
	}
}

int
rf_audit_report(const rf_logent *l, const char *p, size_t n,
    const char *name, rf_report *r, rf_err *e)
{
	int rc;

	if ((rc = rf_report_parse(p, n, name, r, e)) < 0)
		return rc;
	if (!l->has_manifest || r->version != l->version ||
	    memcmp(r->manifest, l->manifest, RF_SHA256_LEN) != 0)
		return rf_seterr(e, RF_ECHECK, "%s is not of the version that "
		    "line publishes", name);
	return 0;
}

/*
 * The reports a publish or rollback line carries, each checked: its
 * signature, and that it vouches for the MANIFEST the line names.  Each
 * is summed up in out; one that does not hold as {"holds":false}, and
 * said through bad.  Returns the number that do not hold, or RF_ENOMEM.
 */
static int
reports(const rf_logent *l, const rf_path *rp, const char *logname,
    size_t lineno, rf_buf *out, void (*bad)(void *, const char *), void *arg)
{
	const char *v, *ev;
	size_t n, en, pos = 0;
	int k = 0, nbad = 0;

	rf_buf_adds(out, ",\"reports\":[");
	if (rf_json_get(l->line, l->len, rp, &v, &n) == 0 && v[0] == '[')
		while (rf_json_next(v, n, &pos, NULL, NULL, &ev, &en) > 0) {
			rf_report r;
			rf_err e;
			char where[64], msg[sizeof e.msg + PATH_MAX];
			snprintf(where, sizeof where, "line %zu's report %d",
			    lineno, k + 1);
			rf_buf_adds(out, k++ ? "," : "");
			if (rf_audit_report(l, ev, en, where, &r, &e) < 0)
				snprintf(msg, sizeof msg, "%s: %s", logname,
				    e.msg);
			else {
				rf_buf_adds(out, "{\"check\":\"");
				rf_buf_adds(out, r.check);
				rf_buf_adds(out, "\",\"holds\":true,\"passed\":");
				rf_buf_adds(out, r.passed ? "true" : "false");
				rf_buf_adds(out, ",\"signer\":\"");
				rf_buf_adds(out, r.signer);
				rf_buf_adds(out, "\"}");
				continue;
			}
			nbad++;
			rf_buf_adds(out, "{\"holds\":false}");
			if (bad != NULL)
				bad(arg, msg);
		}
	return rf_buf_addc(out, ']') < 0 ? RF_ENOMEM : nbad;
}

/* Whether gc line l removed version v. */
static bool
removed(const rf_logent *l, const rf_path *rp, uint32_t v)
{
	const char *a, *x;
	size_t n, xn, pos = 0;

	if (strcmp(l->event, "gc") != 0 ||
	    rf_json_get(l->line, l->len, rp, &a, &n) != 0 || a[0] != '[')
		return false;
	while (rf_json_next(a, n, &pos, NULL, NULL, &x, &xn) > 0) {
		char num[16];
		if (xn < sizeof num) {
			memcpy(num, x, xn);
			num[xn] = '\0';
			if (strtoul(num, NULL, 10) == v)
				return true;
		}
	}
	return false;
}

int
rf_audit_reports(rf_store *s, void (*bad)(void *, const char *), void *arg,
    rf_err *e)
{
	rf_path *rp;
	rf_buf scratch = { 0 };
	char logname[PATH_MAX];
	int rc, nbad = 0;

	if ((rc = rf_path_compile("reports", &rp, e)) < 0)
		return rc;
	snprintf(logname, sizeof logname, "%s/log", s->dir);
	for (size_t i = 0; i < s->nlog && rc >= 0; i++)
		if (strcmp(s->log[i].event, "publish") == 0 ||
		    strcmp(s->log[i].event, "rollback") == 0) {
			scratch.len = 0;
			if ((rc = reports(&s->log[i], rp, logname, i + 1,
			    &scratch, bad, arg)) > 0)
				nbad += rc;
		}
	rf_path_free(rp);
	rf_buf_free(&scratch);
	return rc < 0 ? rf_seterr(e, rc, "out of memory") : nbad;
}

int
rf_audit_missing(rf_store *s, const uint32_t *have, size_t nhave,
    uint32_t **vs, size_t **lines, size_t *nv, rf_err *e)
{
	rf_path *rp;
	int rc;

	*vs = NULL;
	*lines = NULL;
	*nv = 0;
	if ((rc = rf_path_compile("removed", &rp, e)) < 0)
		return rc;
	for (size_t i = 0; i < s->nlog && rc == 0; i++) {
		uint32_t v = s->log[i].version;
		if (strcmp(s->log[i].event, "commit") != 0)
			continue;
		bool kept = false;
		for (size_t k = 0; k < nhave && !kept; k++)
			kept = have[k] == v;
		for (size_t j = i + 1; j < s->nlog && !kept; j++)
			kept = removed(&s->log[j], rp, v);
		if (kept)
			continue;
		uint32_t *nvs = realloc(*vs, (*nv + 1) * sizeof *nvs);
		size_t *nl = nvs == NULL ? NULL : realloc(*lines, (*nv + 1) *
		    sizeof *nl);
		if (nvs != NULL)
			*vs = nvs;
		if (nl == NULL) {
			rc = nomem(e);
			break;
		}
		*lines = nl;
		(*vs)[*nv] = s->log[i].version;
		(*lines)[(*nv)++] = i + 1;
	}
	rf_path_free(rp);
	if (rc < 0) {
		free(*vs);
		free(*lines);
		*vs = NULL;
		*lines = NULL;
		*nv = 0;
	}
	return rc;
}

int
rf_audit_summary(rf_store *s, const rf_trusted *trusted, rf_buf *out,
    rf_err *e)
{
	static const char *const specs[] = { "message", "seq", "signer",
	    "time", "user", "reports", "removed" };
	enum { NSPECS = sizeof specs / sizeof specs[0] };
	rf_path *paths[NSPECS] = { NULL };
	rf_buf b = { 0 };
	char num[96], h[2 * RF_SHA256_LEN + 1], logname[PATH_MAX];
	int rc = 0;

	for (size_t i = 0; i < NSPECS && rc == 0; i++)
		rc = rf_path_compile(specs[i], &paths[i], e);
	snprintf(logname, sizeof logname, "%s/log", s->dir);
	snprintf(num, sizeof num, "{\"current\":%u,\"log_lines\":%zu,"
	    "\"versions\":[", (unsigned)s->current, s->nlog);
	rf_buf_adds(&b, num);
	bool first = true;
	for (size_t i = 0; i < s->nlog && rc == 0; i++) {
		const rf_logent *c = &s->log[i];
		uint32_t v = c->version;
		if (strcmp(c->event, "commit") != 0)
			continue;
		rf_hex(c->manifest, RF_SHA256_LEN, h);
		snprintf(num, sizeof num, "%s{\"approvals\":[", first ? "" : ",");
		first = false;
		rf_buf_adds(&b, num);
		bool any = false;
		for (size_t j = i + 1; j < s->nlog; j++)
			if (strcmp(s->log[j].event, "approve") == 0 &&
			    s->log[j].version == v) {
				if (any)
					rf_buf_addc(&b, ',');
				any = true;
				event(&s->log[j], paths, &b);
				rf_buf_adds(&b, ",\"manifest_matches\":");
				rf_buf_adds(&b, s->log[j].has_manifest &&
				    memcmp(s->log[j].manifest, c->manifest,
				    RF_SHA256_LEN) == 0 ? "true}" : "false}");
			}
		rf_buf_adds(&b, "],\"committed\":");
		event(c, paths, &b);
		rf_buf_adds(&b, "},\"contents\":");
		/*
		 * From the MANIFEST, when it is there and holds: one that
		 * does not is null here, and a problem of its own.
		 */
		rf_manifest m;
		rf_err le;
		if (rf_store_load(s, v, trusted, &m, &le) == 0) {
			rc = contents(&m, &b, e);
			rf_manifest_free(&m);
		} else
			rf_buf_adds(&b, "null");
		rf_buf_adds(&b, ",\"manifest\":\"");
		rf_buf_adds(&b, h);
		rf_buf_adds(&b, "\",\"published\":[");
		any = false;
		/* A commit without -n published its version too. */
		for (size_t j = i; j < s->nlog && rc == 0; j++) {
			const rf_logent *l = &s->log[j];
			if ((j == i ? false : strcmp(l->event, "publish") != 0 &&
			    strcmp(l->event, "rollback") != 0) || l->current != v)
				continue;
			if (any)
				rf_buf_addc(&b, ',');
			any = true;
			event(l, paths, &b);
			if (reports(l, paths[5], logname, j + 1, &b, NULL,
			    NULL) < 0)
				rc = nomem(e);
			rf_buf_addc(&b, '}');
		}
		rf_buf_adds(&b, "],\"removed\":");
		any = false;
		for (size_t j = i + 1; j < s->nlog && !any; j++)
			if (removed(&s->log[j], paths[6], v)) {
				any = true;
				event(&s->log[j], paths, &b);
				rf_buf_addc(&b, '}');
			}
		snprintf(num, sizeof num, "%s,\"version\":%u}", any ? "" : "null",
		    (unsigned)v);
		rf_buf_adds(&b, num);
	}
	if (rc == 0 && rf_buf_adds(&b, "]}") < 0)
		rc = nomem(e);
	if (rc == 0)
		rc = rf_json_canon(b.p, b.len, out, e);
	for (size_t i = 0; i < NSPECS; i++)
		rf_path_free(paths[i]);
	rf_buf_free(&b);
	return rc;
}

/* ---- the check -------------------------------------------------------- */

static int
put(const char *dir, const char *name, const char *p, size_t n, rf_err *e)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600)) <
	    0)
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int err = errno;
			close(fd);
			return rf_seterr(e, RF_EIO, "%s: %s", path,
			    strerror(err));
		}
		p += w;
		n -= (size_t)w;
	}
	if (close(fd) < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	return 0;
}

/* A string member's text, unescaped, put as file name in dir. */
static int
put_str(const char *dir, const char *name, const char *v, size_t vn,
    bool b64, const char *doc, rf_err *e)
{
	rf_buf t = { 0 };
	int rc;

	if (vn == 4 && memcmp(v, "null", 4) == 0)
		return 0;
	if (v[0] != '"' || rf_json_unescape(v, vn, &t) < 0) {
		rf_buf_free(&t);
		return rf_seterr(e, RF_EDATA, "%s: history: %s is not a "
		    "string", doc, name);
	}
	if (b64) {
		unsigned char sig[RF_SIG_LEN];
		if (rf_b64_decode(t.p, t.len, sig, sizeof sig) != RF_SIG_LEN)
			rc = rf_seterr(e, RF_ECHECK, "%s: history: a MANIFEST.sig "
			    "that is not a signature", doc);
		else
			rc = put(dir, name, (const char *)sig, sizeof sig, e);
	} else
		rc = put(dir, name, t.p ? t.p : "", t.len, e);
	rf_buf_free(&t);
	return rc;
}

/* The history of an export, as files of a dataset in dir. */
static int
rebuild(const char *dir, const char *h, size_t hn, const char *doc,
    uint32_t **vs, size_t *nv, rf_err *e)
{
	const char *k, *v;
	size_t pos = 0, kn, vn;
	bool log = false;
	int rc = 0;

	static const char *const dirs[] = { "versions", "objects" };
	for (int i = 0; i < 2; i++) {
		char d[PATH_MAX + 16];
		snprintf(d, sizeof d, "%s/%s", dir, dirs[i]);
		if (mkdir(d, 0700) < 0)
			return rf_seterr(e, RF_EIO, "%s: %s", d, strerror(errno));
	}
	while (rc == 0 && rf_json_next(h, hn, &pos, &k, &kn, &v, &vn) > 0) {
		if (rf_json_name_is(k, kn, "log")) {
			log = true;
			rc = put_str(dir, "log", v, vn, false, doc, e);
		} else if (rf_json_name_is(k, kn, "policy"))
			rc = put_str(dir, "POLICY", v, vn, false, doc, e);
		else if (rf_json_name_is(k, kn, "versions") && v[0] == '[') {
			const char *x;
			size_t xpos = 0, xn;
			while (rc == 0 && rf_json_next(v, vn, &xpos, NULL, NULL,
			    &x, &xn) > 0) {
				const char *mk, *mv;
				size_t mpos = 0, mkn, mvn;
				char vd[PATH_MAX + 32], num[16];
				uint64_t ver = 0;
				rf_path *vp;
				if (x[0] != '{' ||
				    rf_path_compile("version", &vp, e) < 0)
					return rf_seterr(e, RF_EDATA, "%s: history: "
					    "a version is not an object", doc);
				rc = rf_json_get(x, xn, vp, &mv, &mvn);
				rf_path_free(vp);
				if (rc != 0 || mvn >= sizeof num || (memcpy(num, mv,
				    mvn), num[mvn] = '\0', rf_parse_uint(num, 1,
				    RF_VERSION_MAX, &ver)) < 0)
					return rf_seterr(e, RF_EDATA, "%s: history: "
					    "a version without its number", doc);
				uint32_t *nvs = realloc(*vs, (*nv + 1) *
				    sizeof *nvs);
				if (nvs == NULL)
					return nomem(e);
				*vs = nvs;
				(*vs)[(*nv)++] = (uint32_t)ver;
				snprintf(vd, sizeof vd, "%s/versions/%06u", dir,
				    (unsigned)ver);
				if (mkdir(vd, 0700) < 0)
					return rf_seterr(e, errno == EEXIST ?
					    RF_EDATA : RF_EIO, "%s: history: "
					    "version %u: %s", doc, (unsigned)ver,
					    errno == EEXIST ? "given twice" :
					    strerror(errno));
				int have = 0;
				while (rc == 0 && rf_json_next(x, xn, &mpos, &mk,
				    &mkn, &mv, &mvn) > 0) {
					/* Only a MANIFEST.sig may be null. */
					if ((rf_json_name_is(mk, mkn, "manifest") ||
					    rf_json_name_is(mk, mkn, "sha256sums")) &&
					    mv[0] == '"')
						have++;
					if (rf_json_name_is(mk, mkn, "manifest"))
						rc = put_str(vd, "MANIFEST", mv, mvn,
						    false, doc, e);
					else if (rf_json_name_is(mk, mkn, "sig"))
						rc = put_str(vd, "MANIFEST.sig", mv,
						    mvn, true, doc, e);
					else if (rf_json_name_is(mk, mkn, "sha256sums"))
						rc = put_str(vd, "SHA256SUMS", mv,
						    mvn, false, doc, e);
					else if (!rf_json_name_is(mk, mkn, "version"))
						rc = rf_seterr(e, RF_EDATA, "%s: "
						    "history: version %u: %.*s is "
						    "not a member", doc,
						    (unsigned)ver,
						    (int)(mkn < 64 ? mkn : 64), mk);
				}
				if (rc == 0 && have != 2)
					rc = rf_seterr(e, RF_EDATA, "%s: history: "
					    "version %06u: its manifest and "
					    "sha256sums are text", doc,
					    (unsigned)ver);
			}
		} else
			rc = rf_seterr(e, RF_EDATA, "%s: history: %.*s is not a "
			    "member", doc, (int)(kn < 64 ? kn : 64), k);
	}
	if (rc == 0 && !log)
		rc = rf_seterr(e, RF_EDATA, "%s: history: no log", doc);
	return rc;
}

/* e's message, with the scratch directory's name put as "history". */
static int
rename_err(rf_err *e, int rc, const char *tmp, const char *doc)
{
	char m[2 * sizeof e->msg];
	size_t tn = strlen(tmp);

	if (strncmp(e->msg, tmp, tn) == 0)
		snprintf(m, sizeof m, "%s: history%s", doc, e->msg + tn);
	else
		snprintf(m, sizeof m, "%s: %s", doc, e->msg);
	return rf_seterr(e, rc == RF_ECHECK || rc == RF_EDATA ? RF_ECHECK : rc,
	    "%s", m);
}

int
rf_audit_check(const char *p, size_t n, const char *doc,
    const rf_trusted *trusted, rf_audit_info *info, rf_err *e)
{
	const char *k, *v, *audit = NULL, *sig = NULL, *hist = NULL;
	const char *summary = NULL;
	size_t pos = 0, kn, vn, an = 0, sn = 0, hn = 0, sumn = 0;
	rf_buf got = { 0 };
	char tmp[PATH_MAX];
	const char *td = getenv("TMPDIR");
	uint32_t *vs = NULL;
	size_t nv = 0;
	rf_store *s = NULL;
	bool format = false;
	int rc;

	memset(info, 0, sizeof *info);
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if ((rc = rf_json_is_canon(p, n, e)) < 0) {
		char m[sizeof e->msg];
		snprintf(m, sizeof m, "%s", e->msg);
		return rc == RF_ENOMEM ? rc : rf_seterr(e, RF_EDATA, "%s: %s",
		    doc, m);
	}
	if (rc == 0 || p[0] != '{')
		return rf_seterr(e, RF_ECHECK, "%s: not one line of canonical "
		    "JSON: not an export as written", doc);
	while (rf_json_next(p, n, &pos, &k, &kn, &v, &vn) > 0) {
		if (rf_json_name_is(k, kn, "audit") && v[0] == '{') {
			audit = v;
			an = vn;
		} else if (rf_json_name_is(k, kn, "sig") && v[0] == '"') {
			sig = v + 1;
			sn = vn - 2;
		} else
			return rf_seterr(e, RF_EDATA, "%s: members are audit and "
			    "sig", doc);
	}
	if (audit == NULL)
		return rf_seterr(e, RF_EDATA, "%s: no audit", doc);
	pos = 0;
	while (rf_json_next(audit, an, &pos, &k, &kn, &v, &vn) > 0) {
		rf_buf t = { 0 };
		if (rf_json_name_is(k, kn, "format"))
			format = vn == strlen(RF_AUDIT_FORMAT) + 2 &&
			    memcmp(v + 1, RF_AUDIT_FORMAT, vn - 2) == 0;
		else if (rf_json_name_is(k, kn, "history") && v[0] == '{') {
			hist = v;
			hn = vn;
		} else if (rf_json_name_is(k, kn, "summary") && v[0] == '{') {
			summary = v;
			sumn = vn;
		} else if (rf_json_name_is(k, kn, "verification") && v[0] == '{') {
			rf_path *op;
			const char *ok;
			size_t okn;
			if (rf_path_compile("ok", &op, e) == 0) {
				info->verified_ok = rf_json_get(v, vn, op, &ok,
				    &okn) == 0 && okn == 4;
				rf_path_free(op);
			}
		} else if ((rf_json_name_is(k, kn, "dataset") || rf_json_name_is(k, kn, "exported") ||
		    rf_json_name_is(k, kn, "signer")) && v[0] == '"' &&
		    rf_json_unescape(v, vn, &t) == 0) {
			char *dst = rf_json_name_is(k, kn, "dataset") ? info->dataset :
			    rf_json_name_is(k, kn, "exported") ? info->exported : info->signer;
			size_t cap = rf_json_name_is(k, kn, "dataset") ? sizeof info->dataset :
			    rf_json_name_is(k, kn, "exported") ? sizeof info->exported :
			    sizeof info->signer;
			snprintf(dst, cap, "%.*s", (int)t.len, t.p ? t.p : "");
		}
		rf_buf_free(&t);
	}
	if (!format)
		return rf_seterr(e, RF_EDATA, "%s: format is not \""
		    RF_AUDIT_FORMAT "\"", doc);
	if (hist == NULL || summary == NULL)
		return rf_seterr(e, RF_EDATA, "%s: no history or no summary",
		    doc);
	/* Signed: every byte of the audit object is its signer's word. */
	if (sig != NULL) {
		unsigned char sb[RF_SIG_LEN];
		rf_err se;
		if (strlen(info->signer) != RF_PUBKEY_LEN ||
		    rf_b64_decode(sig, sn, sb, sizeof sb) != RF_SIG_LEN)
			return rf_seterr(e, RF_ECHECK, "%s: a sig without a "
			    "signer", doc);
		if ((rc = rf_sig_verify(info->signer, audit, an, sb, &se)) < 0)
			return rf_seterr(e, RF_ECHECK, "%s: %s", doc,
			    rc == RF_ECHECK ? "the signature does not match "
			    "the export" : se.msg);
		if (trusted != NULL && rf_trusted_find(trusted,
		    info->signer) == NULL)
			return rf_seterr(e, RF_ECHECK, "%s: signed by a key "
			    "that %s does not list", doc, trusted->path);
		info->is_signed = true;
	} else
		info->signer[0] = '\0';

	snprintf(tmp, sizeof tmp, "%s/refill-audit-XXXXXX",
	    td != NULL && td[0] != '\0' ? td : "/tmp");
	if (mkdtemp(tmp) == NULL)
		return rf_seterr(e, RF_EIO, "%s: %s", tmp, strerror(errno));
	if ((rc = rebuild(tmp, hist, hn, doc, &vs, &nv, e)) < 0)
		goto out;
	if ((rc = rf_store_open(tmp, 0, trusted, &s, NULL, e)) < 0) {
		rc = rename_err(e, rc, tmp, doc);
		goto out;
	}
	for (size_t i = 0; i < nv && rc == 0; i++) {
		rf_manifest m;
		if ((rc = rf_store_load(s, vs[i], trusted, &m, e)) < 0)
			rc = rename_err(e, rc, tmp, doc);
		else
			rf_manifest_free(&m);
	}
	/* Every version the log keeps is here: none left out. */
	uint32_t *miss = NULL;
	size_t *mline = NULL, nmiss = 0;
	if (rc == 0 && (rc = rf_audit_missing(s, vs, nv, &miss, &mline, &nmiss,
	    e)) == 0 && nmiss > 0)
		rc = rf_seterr(e, RF_ECHECK, "%s: history: version %06u is "
		    "committed (line %zu of the log) and no gc removed it, but "
		    "it is not here", doc, (unsigned)miss[0], mline[0]);
	free(miss);
	free(mline);
	rf_policy pol;
	if (rc == 0 && (rc = rf_store_policy(s, trusted, &pol, e)) < 0)
		rc = rename_err(e, rc, tmp, doc);
	else if (rc >= 0) {
		rc = 0;
		rf_policy_free(&pol);
	}
	if (rc == 0 && (rc = rf_audit_summary(s, trusted, &got, e)) < 0)
		rc = rename_err(e, rc, tmp, doc);
	if (rc == 0 && (got.len != sumn || memcmp(got.p, summary, sumn) != 0)) {
		size_t i = 0;
		while (i < got.len && i < sumn && got.p[i] == summary[i])
			i++;
		rc = rf_seterr(e, RF_ECHECK, "%s: the summary is not the "
		    "history's: they differ from byte %zu of the summary, at "
		    "\"%.*s\"", doc, i, (int)(sumn - i < 24 ? sumn - i : 24),
		    summary + i);
	}
	if (rc == 0) {
		info->versions = nv;
		info->log_lines = s->nlog;
		info->current = s->current;
	}
out:
	rf_store_close(s);
	free(vs);
	rf_buf_free(&got);
	rf_err re;
	rf_rmtree(tmp, &re);
	return rc;
}
