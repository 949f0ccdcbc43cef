/*
 * refill-lineage: what a file was made from, what was made from it, and
 * what must be made again after a transform or an input changed, from the
 * provenance stamps of files, directories and datasets.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refill.h"

/*
 * OpenLineage 2-0-2, spec/OpenLineage.json in github.com/OpenLineage/
 * OpenLineage: a RunEvent is a BaseEvent (eventTime, producer and
 * schemaURL, all required) with eventType (START ... COMPLETE ...), run
 * {runId, a UUID}, job {namespace, name} and inputs and outputs, arrays
 * of datasets {namespace, name}.  schemaURL is the JSON Pointer URL of
 * the RunEvent definition in that version of the schema.
 */
#define OL_SCHEMA "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
/* refill has no home page to name: a host that never resolves. */
#define OL_PRODUCER "https://refill.invalid/refill-lineage/" RF_VERSION

enum { F_TEXT, F_JSON, F_DOT, F_OL };

static int format = F_TEXT;
static const char *trustfile;
static rf_trusted trusted;
static bool have_trusted;
static rf_lineage *g;
/* Progress and figures: a stamp read is a record. */
static rf_run run;
static uint64_t listed;		/* files in the answer */

static _Noreturn void
usage(int status)
{
	fprintf(status == RF_EXIT_OK ? stdout : stderr,
	    "usage: refill-lineage show [-q] [-f format] [--metrics file] "
	    "[--progress] [--stats file]\n"
	    "                           [-t trusted] file|digest [source ...]\n"
	    "       refill-lineage uses [-q] [-f format] [--metrics file] "
	    "[--progress] [--stats file]\n"
	    "                           [-t trusted] file|digest [source ...]\n"
	    "       refill-lineage impact [-q] [-f format] [--metrics file] "
	    "[--progress] [--stats file]\n"
	    "                             [-t trusted] "
	    "(-T name[@version] | -i file|digest) ...\n"
	    "                             [source ...]\n");
	exit(status == RF_EXIT_OK ? rf_close_stdout() : status);
}


static int
nomem(void)
{
	rf_warnx("out of memory");
	return RF_EXIT_IO;
}

static void
count_stamp(size_t bytes)
{
	run.records_in++;
	run.records_out++;
	run.bytes_in += bytes;
	rf_run_tick(&run, 0);
}


/* "a" + "/" + "b", or "b" alone in the working directory. */
static char *
join(const char *dir, const char *name)
{
	size_t dn = strcmp(dir, ".") == 0 ? 0 : strlen(dir);
	char *p = malloc(dn + strlen(name) + 2);

	if (p != NULL) {
		memcpy(p, dir, dn);
		if (dn > 0)
			p[dn++] = '/';
		strcpy(p + dn, name);
	}
	return p;
}

/*
 * A path as places are written: without leading "./" and trailing
 * slashes, so that one file is not two places.  Edits s in place.
 */
static char *
tidy(char *s)
{
	while (s[0] == '.' && s[1] == '/' && s[2] != '\0') {
		s += 2;
		while (s[0] == '/' && s[1] != '\0')
			s++;
	}
	for (size_t n = strlen(s); n > 1 && s[n - 1] == '/'; n--)
		s[n - 1] = '\0';
	return s;
}

/* ---- reading stamps ------------------------------------------------------ */

/* A stamp that is not one is bad input, named by where it was read. */
static int
bad_stamp(const char *file, size_t line, int rc, const rf_err *e)
{
	if (rc != RF_EDATA)
		return rf_fail(rc, e);
	rf_warnx("%s:%zu: %s", file, line, e->msg);
	return RF_EXIT_DATA;
}

static int
read_prov(const char *path)
{
	rf_buf b = { 0 };
	rf_stamp st;
	rf_err e;
	char *place;
	int rc;

	if ((rc = rf_read_file(path, RF_MAX_LINE_DEFAULT, &b, &e)) < 0) {
		size_t n = strlen(path);

		rf_buf_free(&b);
		/* "PATH: larger than N bytes" is a bad stamp, said as one. */
		if (rc == RF_EDATA && strncmp(e.msg, path, n) == 0 &&
		    strncmp(e.msg + n, ": ", 2) == 0)
			memmove(e.msg, e.msg + n + 2, strlen(e.msg + n + 2) + 1);
		return bad_stamp(path, 1, rc, &e);
	}
	rc = rf_stamp_parse(b.p != NULL ? b.p : "", b.len, &st, &e);
	if (rc == 0)
		count_stamp(b.len);
	rf_buf_free(&b);
	if (rc < 0)
		return bad_stamp(path, 1, rc, &e);
	if ((place = strdup(path)) == NULL) {
		rf_stamp_free(&st);
		return nomem();
	}
	place[strlen(place) - 5] = '\0';
	rc = rf_lineage_add(g, &st, place, &e);
	free(place);
	rf_stamp_free(&st);
	return rc < 0 ? rf_fail(rc, &e) : RF_EXIT_OK;
}

/* A file the operand names in a version, when it names one. */
struct want {
	const char *name;
	bool found;
	unsigned char sha[RF_SHA256_LEN];
};

static int
read_version(rf_store *s, uint32_t v, struct want *w)
{
	char mp[PATH_MAX];
	rf_manifest m;
	rf_buf place = { 0 };
	rf_err e;
	int rc, status = RF_EXIT_OK;

	if ((rc = rf_store_load(s, v, have_trusted ? &trusted : NULL, &m,
	    &e)) < 0)
		return rf_fail(rc, &e);
	rf_version_path(s, v, "MANIFEST", mp);
	for (size_t i = 0; i < m.n && status == RF_EXIT_OK; i++) {
		const rf_mfile *f = &m.f[i];
		char pre[32];
		place.len = 0;
		snprintf(pre, sizeof pre, "@%06u/", (unsigned)v);
		if (rf_buf_adds(&place, s->dir) < 0 ||
		    rf_buf_adds(&place, pre) < 0 ||
		    rf_buf_adds(&place, f->name) < 0 ||
		    rf_buf_addc(&place, '\0') < 0) {
			status = nomem();
			break;
		}
		if (w != NULL && strcmp(f->name, w->name) == 0) {
			w->found = true;
			memcpy(w->sha, f->sha256, RF_SHA256_LEN);
		}
		if (f->prov == NULL) {
			if ((rc = rf_lineage_add_file(g, f->sha256, &f->digest,
			    place.p, &e)) < 0)
				status = rf_fail(rc, &e);
			continue;
		}
		rf_stamp st;
		/* Line 1 is the header; files follow in order. */
		if ((rc = rf_stamp_parse(f->prov, strlen(f->prov), &st, &e)) < 0) {
			status = bad_stamp(mp, i + 2, rc, &e);
			break;
		}
		if (memcmp(st.out_sha256, f->sha256, RF_SHA256_LEN) != 0) {
			rf_stamp_free(&st);
			rf_warnx("%s:%zu: the stamp's output.sha256 is not the "
			    "file's", mp, i + 2);
			status = RF_EXIT_DATA;
			break;
		}
		count_stamp(strlen(f->prov));
		if ((rc = rf_lineage_add(g, &st, place.p, &e)) < 0)
			status = rf_fail(rc, &e);
		rf_stamp_free(&st);
	}
	rf_buf_free(&place);
	rf_manifest_free(&m);
	return status;
}

#define ALL_VERSIONS UINT32_MAX

/*
 * Version v of a dataset (0: the current one; ALL_VERSIONS: every one).
 * named: the user named it, and a dataset without a current version is
 * then an error; met during a walk, it has no files to read.
 */
static int
read_dataset(const char *dir, uint32_t v, bool named, struct want *w)
{
	rf_store *s;
	rf_err e;
	int rc, status = RF_EXIT_OK;

	if ((rc = rf_store_open(dir, 0, have_trusted ? &trusted : NULL, &s,
	    NULL, &e)) < 0)
		return rf_fail(rc, &e);
	/* The log's current version is read; the link is only reported. */
	if (v == 0 && rf_store_check_pointer(s, &e) < 0)
		rf_warnx("%s", e.msg);
	if (v == ALL_VERSIONS) {
		uint32_t *vs;
		size_t nv;
		if ((rc = rf_store_versions(s, &vs, &nv, &e)) < 0) {
			rf_store_close(s);
			return rf_fail(rc, &e);
		}
		/* A version the log does not record is not one (yet). */
		for (size_t i = 0; i < nv && status == RF_EXIT_OK; i++)
			if (rf_store_committed(s, vs[i]))
				status = read_version(s, vs[i], w);
		free(vs);
		rf_store_close(s);
		return status;
	}
	if (v == 0 && (v = s->current) == 0) {
		if (named) {
			rf_warnx("%s: no current version", s->dir);
			status = RF_EXIT_USAGE;
		}
	} else if (!rf_store_committed(s, v)) {
		rf_warnx("%s: no version %06u", s->dir, (unsigned)v);
		status = RF_EXIT_USAGE;
	} else
		status = read_version(s, v, w);
	rf_store_close(s);
	return status;
}

static int
namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.prov under dir, never through a symbolic link. */
static int
walk(const char *dir)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int status = RF_EXIT_OK;

	if ((d = opendir(dir)) == NULL) {
		rf_warnx("%s: %s", dir, strerror(errno));
		return RF_EXIT_IO;
	}
	/* All names first: one descriptor open at a time, and a fixed order. */
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			char **nn = realloc(names, nc * sizeof *nn);
			if (nn == NULL) {
				status = nomem();
				break;
			}
			names = nn;
			cap = nc;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			status = nomem();
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof *names, namecmp);
	for (size_t i = 0; i < n && status == RF_EXIT_OK; i++) {
		char *p = join(dir, names[i]);
		struct stat st;
		if (p == NULL)
			status = nomem();
		else if (lstat(p, &st) < 0) {
			rf_warnx("%s: %s", p, strerror(errno));
			status = RF_EXIT_IO;
		} else if (S_ISDIR(st.st_mode))
			status = rf_is_dataset(p) ? read_dataset(p, 0, false, NULL) :
			    walk(p);
		else if (S_ISREG(st.st_mode) && rf_ends_with(p, ".prov"))
			status = read_prov(p);
		free(p);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return status;
}

/* One source operand: a stamp, a dataset, or a directory to walk. */
static int
read_source(const char *arg)
{
	char buf[PATH_MAX], dir[PATH_MAX], *p;
	struct stat st;
	uint32_t v;
	rf_err e;

	if (snprintf(buf, sizeof buf, "%s", arg) >= (int)sizeof buf) {
		rf_warnx("%s: path too long", arg);
		return RF_EXIT_USAGE;
	}
	p = tidy(buf);
	if (stat(p, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return rf_is_dataset(p) ? read_dataset(p, 0, true, NULL) :
			    walk(p);
		if (S_ISREG(st.st_mode) && rf_ends_with(p, ".prov"))
			return read_prov(p);
		rf_warnx("%s: not a .prov file, a dataset or a directory", arg);
		return RF_EXIT_USAGE;
	}
	if (errno != ENOENT || strchr(p, '@') == NULL) {
		rf_warnx("%s: %s", arg, strerror(errno));
		return RF_EXIT_IO;
	}
	/* DATASET@all, or DATASET@N. */
	if (rf_ends_with(p, "@all")) {
		p[strlen(p) - 4] = '\0';
		v = ALL_VERSIONS;
	} else if (rf_dataset_arg(p, dir, sizeof dir, &v, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_USAGE;
	} else
		p = dir;
	p = tidy(p);
	if (stat(p, &st) < 0) {
		rf_warnx("%s: %s", p, strerror(errno));
		return RF_EXIT_IO;
	}
	return read_dataset(p, v, true, NULL);
}

/* ---- the file an operand names ----------------------------------------- */

struct target {
	const char *arg;
	unsigned char sha[RF_SHA256_LEN];
	char *path;		/* as a place; NULL for a digest */
};

static bool
is_digest(const char *s, unsigned char d[RF_SHA256_LEN])
{
	return strlen(s) == 2 * RF_SHA256_LEN &&
	    rf_unhex(s, strlen(s), d, RF_SHA256_LEN) == 0;
}

/*
 * Whether s is DATASET@N/NAME or DATASET/versions/NNNNNN/NAME of a
 * dataset directory: sets dir (tidied), *v and *name.
 */
static bool
committed_name(const char *s, char *dir, size_t size, uint32_t *v,
    const char **name)
{
	for (const char *p = s; *p != '\0'; p++) {
		size_t k = 0, skip;
		if (*p == '@') {
			skip = 1;
			while (k < 7 && p[1 + k] >= '0' && p[1 + k] <= '9')
				k++;
			if (k == 0 || k > 6)
				continue;
		} else if (strncmp(p, "versions/", 9) == 0 && (p == s ||
		    p[-1] == '/')) {
			skip = 9;
			while (k < 6 && p[9 + k] >= '0' && p[9 + k] <= '9')
				k++;
			if (k != 6)
				continue;
		} else
			continue;
		if (p[skip + k] != '/' || p[skip + k + 1] == '\0')
			continue;
		size_t dn = p == s ? 1 : (size_t)(p - s) - (skip == 9);
		if (dn + 1 > size)
			continue;
		if (p == s)
			strcpy(dir, ".");
		else {
			memcpy(dir, s, dn);
			dir[dn] = '\0';
		}
		uint64_t x = 0;
		for (size_t i = 0; i < k; i++)
			x = x * 10 + (uint64_t)(p[skip + i] - '0');
		char *t = tidy(dir);
		memmove(dir, t, strlen(t) + 1);
		if (x == 0 || x > RF_VERSION_MAX || !rf_is_dataset(dir))
			continue;
		*v = (uint32_t)x;
		*name = p + skip + k + 1;
		return true;
	}
	return false;
}

/*
 * What a file|digest operand names: its content, and its place.  A
 * committed file's version, and FILE.prov beside a file, are read too.
 */
static int
resolve(const char *arg, struct target *t)
{
	char dir[PATH_MAX], *buf;
	const char *name;
	uint32_t v;
	uint64_t size;
	rf_err e;
	int rc, status;

	t->arg = arg;
	t->path = NULL;
	if (is_digest(arg, t->sha))
		return RF_EXIT_OK;
	if (committed_name(arg, dir, sizeof dir, &v, &name)) {
		struct want w = { .name = name };
		size_t n = strlen(dir) + strlen(name) + 16;
		if ((status = read_dataset(dir, v, true, &w)) != RF_EXIT_OK)
			return status;
		if (!w.found) {
			rf_warnx("%s: version %06u of %s has no file %s", arg,
			    (unsigned)v, dir, name);
			return RF_EXIT_USAGE;
		}
		memcpy(t->sha, w.sha, RF_SHA256_LEN);
		if ((t->path = malloc(n)) == NULL)
			return nomem();
		snprintf(t->path, n, "%s@%06u/%s", dir, (unsigned)v, name);
		return RF_EXIT_OK;
	}
	if ((rc = rf_sha256_file(arg, t->sha, &size, &e)) < 0)
		return rf_fail(rc, &e);
	if ((buf = malloc(strlen(arg) + 6)) == NULL)
		return nomem();
	sprintf(buf, "%s.prov", arg);
	struct stat st;
	status = RF_EXIT_OK;
	if (lstat(buf, &st) == 0 && S_ISREG(st.st_mode))
		status = read_prov(tidy(buf));
	buf[strlen(buf) - 5] = '\0';
	if ((t->path = strdup(tidy(buf))) == NULL)
		status = nomem();
	free(buf);
	return status;
}

/* ---- output -------------------------------------------------------------- */

/* Answers are sorted by first place, then content, then stamp. */
static int
nodecmp(const void *a, const void *b)
{
	const rf_lnode *x = rf_lineage_node(g, *(const uint32_t *)a);
	const rf_lnode *y = rf_lineage_node(g, *(const uint32_t *)b);
	int c;

	if (x->nplaces > 0 && y->nplaces > 0 &&
	    (c = strcmp(x->places[0], y->places[0])) != 0)
		return c;
	if (x->nplaces != y->nplaces && (x->nplaces == 0 || y->nplaces == 0))
		return x->nplaces == 0 ? -1 : 1;
	if ((c = memcmp(x->sha256, y->sha256, RF_SHA256_LEN)) != 0)
		return c;
	if (x->stamp == NULL || y->stamp == NULL)
		return (x->stamp != NULL) - (y->stamp != NULL);
	return memcmp(x->stamp->digest, y->stamp->digest, RF_SHA256_LEN);
}

static void
sort_nodes(rf_ids *x)
{
	if (x->n > 1)
		qsort(x->v, x->n, sizeof *x->v, nodecmp);
}

static int
idcmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Each once, then sorted. */
static void
sort_unique(rf_ids *x)
{
	size_t w = 0;

	if (x->n > 1)
		qsort(x->v, x->n, sizeof *x->v, idcmp);
	for (size_t r = 0; r < x->n; r++)
		if (w == 0 || x->v[w - 1] != x->v[r])
			x->v[w++] = x->v[r];
	x->n = w;
	sort_nodes(x);
}

static void
put_step(const rf_stamp *st, int depth, bool up)
{
	printf("%*s%s %s", 4 * depth + 2, "", up ? "<-" : "->", st->program);
	if (st->tname != NULL)
		printf(" %s@%s", st->tname, st->tversion);
	putchar('\n');
}

static void
put_file(uint32_t id, int depth, const char *note)
{
	const rf_lnode *n = rf_lineage_node(g, id);
	char h[65];

	printf("%*s", 4 * depth, "");
	for (size_t k = 0; k < n->nplaces; k++)
		printf("%s%s", k > 0 ? ", " : "", n->places[k]);
	rf_hex(n->sha256, RF_SHA256_LEN, h);
	printf("  %.12s  ", h);
	if (n->has_records)
		printf("%llu record%s", (unsigned long long)n->records,
		    n->records == 1 ? "" : "s");
	else
		printf("records unknown");
	printf("%s\n", note);
}

/* The nodes shown under id: what it was made from, or what from it. */
static int
kids(uint32_t id, bool up, rf_ids *out)
{
	const rf_lnode *n = rf_lineage_node(g, id);
	rf_err e;
	int rc;

	out->n = 0;
	if (!up)
		rc = rf_lineage_to(g, id, out, &e);
	else {
		rc = 0;
		for (size_t k = 0; n->stamp != NULL && k < n->stamp->ninputs &&
		    rc == 0; k++)
			rc = rf_lineage_from(g, id, k, out, &e);
	}
	if (rc < 0)
		return rf_fail(rc, &e);
	sort_unique(out);
	return RF_EXIT_OK;
}

struct frame {
	uint32_t id;
	int depth;
	size_t next;
	rf_ids kids;
};

/*
 * An indented tree, depth first.  A node shown before is shown again as
 * one line, without what is under it: a shared input, and a cycle, are
 * printed once.  The stack is explicit: a chain can be long.
 */
static int
tree(uint32_t root, bool up, uint8_t *shown)
{
	struct frame *st = NULL;
	size_t n = 0, cap = 0;
	uint32_t id = root;
	int depth = 0, status = RF_EXIT_OK;

	for (;;) {
		const rf_lnode *nd = rf_lineage_node(g, id);
		if (shown[id])
			put_file(id, depth, "  (see above)");
		else {
			put_file(id, depth, up && nd->stamp == NULL ?
			    "  (source)" : "");
			shown[id] = 1;
			if (up && nd->stamp != NULL)
				put_step(nd->stamp, depth, true);
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 16;
				struct frame *ns = realloc(st, nc * sizeof *ns);
				if (ns == NULL) {
					status = nomem();
					break;
				}
				st = ns;
				cap = nc;
			}
			memset(&st[n], 0, sizeof st[n]);
			st[n].id = id;
			st[n].depth = depth;
			if ((status = kids(id, up, &st[n].kids)) != RF_EXIT_OK) {
				rf_ids_free(&st[n].kids);
				break;
			}
			n++;
		}
		/* The next child of the deepest frame with one left. */
		while (n > 0 && st[n - 1].next == st[n - 1].kids.n)
			rf_ids_free(&st[--n].kids);
		if (n == 0)
			break;
		struct frame *f = &st[n - 1];
		id = f->kids.v[f->next++];
		depth = f->depth + 1;
		if (!up)
			put_step(rf_lineage_node(g, id)->stamp, f->depth, false);
	}
	while (n > 0)
		rf_ids_free(&st[--n].kids);
	free(st);
	return status;
}

/* Bytes that may not be UTF-8 (names found on disk) as UTF-8. */
static int
add_utf8(rf_buf *out, const char *s)
{
	rf_buf t = { 0 };
	int rc;

	if (rf_utf8_valid(s, strlen(s)))
		return rf_buf_adds(out, s);
	if ((rc = rf_json_addstr_lossy(&t, s, strlen(s))) == 0)
		rc = rf_json_unescape(t.p, t.len, out);
	rf_buf_free(&t);
	return rc;
}

static int
addstr(rf_buf *b, const char *s)
{
	return rf_json_addstr_lossy(b, s, strlen(s));
}

/* Writes b, built by hand, in canonical form, as one line. */
static int
put_json(rf_buf *b)
{
	rf_buf c = { 0 };
	rf_err e;
	int rc;

	if ((rc = rf_json_canon(b->p, b->len, &c, &e)) < 0) {
		rf_buf_free(&c);
		return rf_fail(rc, &e);
	}
	fwrite(c.p, 1, c.len, stdout);
	putchar('\n');
	rf_buf_free(&c);
	return RF_EXIT_OK;
}

static int
put_node_json(uint32_t id, rf_buf *b)
{
	const rf_lnode *n = rf_lineage_node(g, id);
	const rf_stamp *st = n->stamp;
	char h[65];

	b->len = 0;
	rf_buf_adds(b, "{\"dataset_digest\":");
	if (n->has_digest) {
		rf_dsum_hex(&n->digest, h);
		addstr(b, h);
	} else
		rf_buf_adds(b, "null");
	rf_buf_adds(b, ",\"made_by\":");
	if (st == NULL)
		rf_buf_adds(b, "null");
	else {
		rf_buf_adds(b, "{\"ended\":");
		addstr(b, st->ended);
		rf_buf_adds(b, ",\"inputs\":[");
		for (size_t k = 0; k < st->ninputs; k++) {
			rf_hex(st->inputs[k].sha256, RF_SHA256_LEN, h);
			if (k > 0)
				rf_buf_addc(b, ',');
			addstr(b, h);
		}
		rf_buf_adds(b, "],\"program\":");
		addstr(b, st->program);
		rf_buf_adds(b, ",\"started\":");
		addstr(b, st->started);
		rf_buf_adds(b, ",\"transform\":");
		if (st->tname == NULL)
			rf_buf_adds(b, "null");
		else {
			rf_hex(st->tid, RF_SHA256_LEN, h);
			rf_buf_adds(b, "{\"id\":");
			addstr(b, h);
			rf_buf_adds(b, ",\"name\":");
			addstr(b, st->tname);
			rf_buf_adds(b, ",\"version\":");
			addstr(b, st->tversion);
			rf_buf_addc(b, '}');
		}
		rf_buf_addc(b, '}');
	}
	rf_buf_adds(b, ",\"places\":[");
	for (size_t k = 0; k < n->nplaces; k++) {
		if (k > 0)
			rf_buf_addc(b, ',');
		addstr(b, n->places[k]);
	}
	rf_buf_adds(b, "],\"records\":");
	if (n->has_records) {
		char num[24];
		snprintf(num, sizeof num, "%llu", (unsigned long long)n->records);
		rf_buf_adds(b, num);
	} else
		rf_buf_adds(b, "null");
	rf_buf_adds(b, ",\"sha256\":");
	rf_hex(n->sha256, RF_SHA256_LEN, h);
	addstr(b, h);
	if (rf_buf_addc(b, '}') < 0)
		return nomem();
	return put_json(b);
}

/* A DOT string: quotes and backslashes escaped, lines as \n. */
static int
dot_str(rf_buf *b, const char *s)
{
	rf_buf u = { 0 };
	int rc = add_utf8(&u, s) == 0 && rf_buf_addc(&u, '\0') == 0 ? 0 :
	    RF_ENOMEM;

	rf_buf_addc(b, '"');
	for (const char *p = rc == 0 ? u.p : ""; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			rf_buf_addc(b, '\\');
		if (*p == '\n')
			rf_buf_adds(b, "\\n");
		else if ((unsigned char)*p < 0x20 || *p == 0x7f)
			rf_buf_addc(b, '?');
		else
			rf_buf_addc(b, *p);
	}
	rf_buf_free(&u);
	if (rf_buf_addc(b, '"') < 0)
		return RF_ENOMEM;
	return rc;
}

static const char *
step_name(const rf_stamp *st, rf_buf *tmp)
{
	tmp->len = 0;
	if (st->tname == NULL)
		rf_buf_adds(tmp, st->program);
	else {
		rf_buf_adds(tmp, st->tname);
		rf_buf_addc(tmp, '@');
		rf_buf_adds(tmp, st->tversion);
	}
	if (rf_buf_addc(tmp, '\0') < 0)
		return "";
	return tmp->p;
}

struct dedge {
	size_t from, to;
};

static int
dedgecmp(const void *a, const void *b)
{
	const struct dedge *x = a, *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
}

static int
put_dot(const rf_ids *ans)
{
	size_t *rank = malloc((rf_lineage_size(g) + 1) * sizeof *rank);
	struct dedge *ed = NULL;
	size_t ned = 0, caped = 0;
	rf_buf b = { 0 }, tmp = { 0 };
	rf_ids from = { 0 };
	rf_err e;
	int rc = 0, status = RF_EXIT_OK;

	if (rank == NULL)
		return nomem();
	for (size_t i = 0; i < rf_lineage_size(g); i++)
		rank[i] = SIZE_MAX;
	for (size_t i = 0; i < ans->n; i++)
		rank[ans->v[i]] = i;
	rf_buf_adds(&b, "digraph lineage {\n\tnode [shape=box];\n");
	for (size_t i = 0; i < ans->n && rc == 0; i++) {
		const rf_lnode *n = rf_lineage_node(g, ans->v[i]);
		char h[65];
		tmp.len = 0;
		for (size_t k = 0; k < n->nplaces; k++) {
			rf_buf_adds(&tmp, n->places[k]);
			rf_buf_addc(&tmp, '\n');
		}
		rf_hex(n->sha256, RF_SHA256_LEN, h);
		rf_buf_add(&tmp, h, 12);
		if (rf_buf_addc(&tmp, '\0') < 0) {
			rc = RF_ENOMEM;
			break;
		}
		char id[32];
		snprintf(id, sizeof id, "\tn%zu [label=", i);
		rf_buf_adds(&b, id);
		rc = dot_str(&b, tmp.p);
		rf_buf_adds(&b, "];\n");
	}
	/* An edge from each input to each output, both in the answer. */
	for (size_t i = 0; i < ans->n && rc == 0; i++) {
		const rf_lnode *n = rf_lineage_node(g, ans->v[i]);
		for (size_t k = 0; n->stamp != NULL && k < n->stamp->ninputs;
		    k++) {
			from.n = 0;
			if ((rc = rf_lineage_from(g, ans->v[i], k, &from, &e)) < 0)
				break;
			for (size_t j = 0; j < from.n; j++) {
				size_t r = rank[from.v[j]];
				if (r == SIZE_MAX)
					continue;
				if (ned == caped) {
					size_t nc = caped ? 2 * caped : 64;
					struct dedge *ne = realloc(ed, nc * sizeof *ne);
					if (ne == NULL) {
						rc = RF_ENOMEM;
						break;
					}
					ed = ne;
					caped = nc;
				}
				ed[ned].from = r;
				ed[ned++].to = i;
			}
		}
	}
	if (ned > 1)
		qsort(ed, ned, sizeof *ed, dedgecmp);
	for (size_t i = 0; i < ned && rc == 0; i++) {
		if (i > 0 && dedgecmp(&ed[i - 1], &ed[i]) == 0)
			continue;
		char s[64];
		snprintf(s, sizeof s, "\tn%zu -> n%zu [label=", ed[i].from,
		    ed[i].to);
		rf_buf_adds(&b, s);
		rc = dot_str(&b, step_name(rf_lineage_node(g,
		    ans->v[ed[i].to])->stamp, &tmp));
		rf_buf_adds(&b, "];\n");
	}
	if (rc == 0 && rf_buf_adds(&b, "}\n") < 0)
		rc = RF_ENOMEM;
	if (rc == RF_ENOMEM)
		status = nomem();
	else if (rc < 0)
		status = rf_fail(rc, &e);
	else
		fwrite(b.p, 1, b.len, stdout);
	free(rank);
	free(ed);
	rf_buf_free(&b);
	rf_buf_free(&tmp);
	rf_ids_free(&from);
	return status;
}

static void
add_dataset(rf_buf *b, const char *name, bool comma)
{
	if (comma)
		rf_buf_addc(b, ',');
	rf_buf_adds(b, "{\"name\":");
	addstr(b, name);
	rf_buf_adds(b, ",\"namespace\":\"file\"}");
}

/*
 * One OpenLineage RunEvent for the stamp of node id.  runId is the
 * stamp's digest made a version 8 UUID (RFC 9562, section 5.8): the same
 * stamp always has the same run.
 */
static int
put_event(uint32_t id, rf_buf *b)
{
	const rf_lnode *n = rf_lineage_node(g, id);
	const rf_stamp *st = n->stamp;
	unsigned char u[16];
	char h[33], uuid[40];
	rf_buf norm = { 0 };

	memcpy(u, st->digest, sizeof u);
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x80);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	rf_hex(u, sizeof u, h);
	snprintf(uuid, sizeof uuid, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8,
	    h + 12, h + 16, h + 20);
	b->len = 0;
	rf_buf_adds(b, "{\"eventTime\":");
	addstr(b, st->ended);
	rf_buf_adds(b, ",\"eventType\":\"COMPLETE\",\"inputs\":[");
	for (size_t k = 0; k < st->ninputs; k++) {
		norm.len = 0;
		if (rf_lineage_norm(st->inputs[k].path, &norm) < 0)
			break;
		add_dataset(b, norm.p, k > 0);
	}
	rf_buf_adds(b, "],\"job\":{\"name\":");
	addstr(b, st->tname != NULL ? st->tname : st->program);
	rf_buf_adds(b, ",\"namespace\":\"refill\"},\"outputs\":[");
	for (size_t k = 0; k < n->nplaces; k++)
		add_dataset(b, n->places[k], k > 0);
	rf_buf_adds(b, "],\"producer\":");
	addstr(b, OL_PRODUCER);
	rf_buf_adds(b, ",\"run\":{\"runId\":");
	addstr(b, uuid);
	rf_buf_adds(b, "},\"schemaURL\":");
	addstr(b, OL_SCHEMA);
	rf_buf_free(&norm);
	if (rf_buf_addc(b, '}') < 0)
		return nomem();
	return put_json(b);
}

/* Every place of the answer, sorted and each once: for make and xargs. */
static int
put_places(const rf_ids *ans)
{
	const char **p = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < ans->n; i++) {
		const rf_lnode *nd = rf_lineage_node(g, ans->v[i]);
		for (size_t k = 0; k < nd->nplaces; k++) {
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 64;
				const char **np = realloc(p, nc * sizeof *np);
				if (np == NULL) {
					free(p);
					return nomem();
				}
				p = np;
				cap = nc;
			}
			p[n++] = nd->places[k];
		}
	}
	if (n > 1)
		qsort(p, n, sizeof *p, namecmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(p[i - 1], p[i]) != 0)
			printf("%s\n", p[i]);
	free(p);
	return RF_EXIT_OK;
}

/* The answer in a machine format: one line or one node for each node. */
static int
put_answer(rf_ids *ans)
{
	rf_buf b = { 0 };
	int status = RF_EXIT_OK;

	sort_unique(ans);
	listed = ans->n;
	if (format == F_DOT)
		return put_dot(ans);
	for (size_t i = 0; i < ans->n && status == RF_EXIT_OK; i++) {
		if (format == F_JSON)
			status = put_node_json(ans->v[i], &b);
		else if (rf_lineage_node(g, ans->v[i])->stamp != NULL)
			status = put_event(ans->v[i], &b);
	}
	rf_buf_free(&b);
	return status;
}

/* ---- commands ------------------------------------------------------------ */

static int
cmd_show(const struct target *t, bool up)
{
	rf_ids roots = { 0 }, ans = { 0 }, k = { 0 };
	uint8_t *shown = NULL;
	rf_err e;
	int rc, status = RF_EXIT_OK;

	if ((rc = rf_lineage_find(g, t->sha, t->path, !up, &roots, &e)) < 0)
		return rf_fail(rc, &e);
	if (up && roots.n == 0) {
		rf_warnx("%s: no stamp found for it", t->arg);
		return RF_EXIT_CHECK;
	}
	sort_unique(&roots);
	if (!up) {
		/* Only the files that something was made from. */
		size_t w = 0;
		for (size_t i = 0; i < roots.n; i++) {
			k.n = 0;
			if ((rc = rf_lineage_to(g, roots.v[i], &k, &e)) < 0) {
				status = rf_fail(rc, &e);
				goto out;
			}
			if (k.n > 0)
				roots.v[w++] = roots.v[i];
		}
		roots.n = w;
	}
	if (format == F_TEXT) {
		if ((shown = calloc(rf_lineage_size(g) + 1, 1)) == NULL) {
			status = nomem();
			goto out;
		}
		for (size_t i = 0; i < roots.n && status == RF_EXIT_OK; i++)
			status = tree(roots.v[i], up, shown);
		for (size_t i = 0; i < rf_lineage_size(g); i++)
			listed += shown[i];
		goto out;
	}
	if ((rc = rf_lineage_walk(g, roots.v, roots.n, up, &ans, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	status = put_answer(&ans);
out:
	free(shown);
	rf_ids_free(&roots);
	rf_ids_free(&ans);
	rf_ids_free(&k);
	return status;
}

static int
cmd_impact(char **tspecs, size_t nt, const struct target *in, size_t ni)
{
	rf_ids seeds = { 0 }, roots = { 0 }, ans = { 0 };
	rf_err e;
	int rc = 0, status = RF_EXIT_OK;

	for (size_t i = 0; i < nt; i++) {
		const char *at = strchr(tspecs[i], '@');
		size_t nl = at != NULL ? (size_t)(at - tspecs[i]) :
		    strlen(tspecs[i]);
		size_t before = seeds.n;
		for (uint32_t id = 0; id < rf_lineage_size(g) && rc == 0; id++) {
			const rf_stamp *st = rf_lineage_node(g, id)->stamp;
			if (st != NULL && st->tname != NULL &&
			    strlen(st->tname) == nl &&
			    memcmp(st->tname, tspecs[i], nl) == 0 &&
			    (at == NULL || strcmp(st->tversion, at + 1) == 0))
				rc = rf_ids_add(&seeds, id);
		}
		if (rc < 0) {
			status = nomem();
			goto out;
		}
		if (seeds.n == before)
			rf_warnx("no stamp names transform %s", tspecs[i]);
	}
	/* What was made from an input, not the input itself. */
	for (size_t i = 0; i < ni; i++) {
		roots.n = 0;
		if ((rc = rf_lineage_find(g, in[i].sha, in[i].path, true, &roots,
		    &e)) < 0) {
			status = rf_fail(rc, &e);
			goto out;
		}
		for (size_t j = 0; j < roots.n; j++)
			if ((rc = rf_lineage_to(g, roots.v[j], &seeds, &e)) < 0) {
				status = rf_fail(rc, &e);
				goto out;
			}
	}
	if ((rc = rf_lineage_walk(g, seeds.v, seeds.n, false, &ans, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	if (format == F_TEXT) {
		sort_unique(&ans);
		listed = ans.n;
		status = put_places(&ans);
	} else
		status = put_answer(&ans);
out:
	rf_ids_free(&seeds);
	rf_ids_free(&roots);
	rf_ids_free(&ans);
	return status;
}

/* ---- main ---------------------------------------------------------------- */

static int
add_arg(char ***v, size_t *n, char *arg)
{
	char **nv = realloc(*v, (*n + 1) * sizeof *nv);

	if (nv == NULL)
		return -1;
	*v = nv;
	nv[(*n)++] = arg;
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "input", required_argument, NULL, 'i' },
		{ "transform", required_argument, NULL, 'T' },
		{ "trusted", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		RF_RUN_FIGURE_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char *cmds[] = { "show", "uses", "impact", NULL };
	const char *cmd = NULL;
	char **tspecs = NULL, **inputs = NULL;
	size_t nt = 0, ni = 0;
	struct target *targets = NULL;
	size_t ntargets = 0;
	rf_err e;
	int ch, rc, status = RF_EXIT_OK;

	char prog[] = "refill-lineage";

	rf_run_init(&run, "refill-lineage");
	if (argc > 1)
		for (int i = 0; cmds[i] != NULL; i++)
			if (strcmp(argv[1], cmds[i]) == 0) {
				cmd = cmds[i];
				argv++;
				argc--;
				break;
			}
	/* getopt_long's messages name argv[0]: the program, not a command. */
	argv[0] = prog;
	run.command = cmd;
	while ((ch = getopt_long(argc, argv, "f:hi:qT:t:V", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "text") == 0)
				format = F_TEXT;
			else if (strcmp(optarg, "json") == 0)
				format = F_JSON;
			else if (strcmp(optarg, "dot") == 0)
				format = F_DOT;
			else if (strcmp(optarg, "openlineage") == 0)
				format = F_OL;
			else {
				rf_warnx("-f %s: not text, json, dot or openlineage",
				    optarg);
				return RF_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(RF_EXIT_OK);
		case 'i':
			if (add_arg(&inputs, &ni, optarg) < 0)
				return nomem();
			break;
		case 'T':
			if (optarg[0] == '\0' || optarg[0] == '@' ||
			    rf_ends_with(optarg, "@")) {
				rf_warnx("-T %s: not name[@version]", optarg);
				return RF_EXIT_USAGE;
			}
			if (add_arg(&tspecs, &nt, optarg) < 0)
				return nomem();
			break;
		case 't':
			trustfile = optarg;
			break;
		case 'V':
			return rf_print_version();
		default:
			if ((rc = rf_run_opt(&run, ch, optarg)) < 0)
				return RF_EXIT_USAGE;
			if (rc == 0)
				usage(RF_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;

	if (cmd == NULL) {
		if (argc > 0)
			rf_warnx("%s: not a command: show, uses or impact",
			    argv[0]);
		usage(RF_EXIT_USAGE);
	}
	bool impact = strcmp(cmd, "impact") == 0;
	if (!impact && (nt > 0 || ni > 0)) {
		rf_warnx("-T and -i apply to impact only");
		usage(RF_EXIT_USAGE);
	}
	if (impact && nt + ni == 0) {
		rf_warnx("impact needs -T name[@version] or -i file|digest");
		usage(RF_EXIT_USAGE);
	}
	if (!impact && argc < 1)
		usage(RF_EXIT_USAGE);
	if ((rc = rf_trusted_default(trustfile, &trusted, &e)) < 0)
		return rf_fail(rc, &e);
	have_trusted = rc == 1;
	if ((status = rf_run_start(&run, 0, NULL)) != RF_EXIT_OK)
		goto done;
	if ((rc = rf_lineage_new(&g, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto done;
	}
	/* The operands first: a missing file is reported before any walk. */
	ntargets = impact ? ni : 1;
	if ((targets = calloc(ntargets ? ntargets : 1, sizeof *targets)) ==
	    NULL) {
		status = nomem();
		goto done;
	}
	for (size_t i = 0; i < ntargets && status == RF_EXIT_OK; i++)
		status = resolve(impact ? inputs[i] : argv[0], &targets[i]);
	if (!impact) {
		argc--;
		argv++;
	}
	if (argc == 0 && status == RF_EXIT_OK)
		status = read_source(".");
	for (int i = 0; i < argc && status == RF_EXIT_OK; i++)
		status = read_source(argv[i]);
	if (status != RF_EXIT_OK)
		goto done;
	if ((rc = rf_lineage_link(g, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto done;
	}
	if (impact)
		status = cmd_impact(tspecs, nt, targets, ni);
	else
		status = cmd_show(&targets[0], strcmp(cmd, "show") == 0);
	if (status == RF_EXIT_OK || status == RF_EXIT_CHECK) {
		rf_stat extra[] = {
			{ "stamps_read", "Provenance stamps read.",
			    run.records_in },
			{ "files_known", "Files that the stamps read name, made "
			    "or read.", rf_lineage_size(g) },
			{ "files_listed", "Files in the answer.", listed },
		};
		if ((rc = rf_run_finish(&run, extra,
		    sizeof extra / sizeof extra[0])) != RF_EXIT_OK)
			status = rc;
	}
done:
	if (status != RF_EXIT_OK && status != RF_EXIT_CHECK)
		rf_run_abort(&run);
	for (size_t i = 0; i < ntargets && targets != NULL; i++)
		free(targets[i].path);
	free(targets);
	free(tspecs);
	free(inputs);
	rf_lineage_free(g);
	if (have_trusted)
		rf_trusted_free(&trusted);
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}
