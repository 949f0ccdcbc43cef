/* Provenance stamps (refill-prov(5)), written in canonical form. */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refill.h"

/* Paths and argv are bytes, not text: a stamp must still be written. */
static void
addstr(rf_buf *b, const char *s)
{
	rf_json_addstr_lossy(b, s, strlen(s));
}

static void
addkv(rf_buf *b, const char *k, const char *v)
{
	addstr(b, k);
	rf_buf_addc(b, ':');
	if (v == NULL)
		rf_buf_adds(b, "null");
	else
		addstr(b, v);
}

static void
addnum(rf_buf *b, const char *k, uint64_t v)
{
	char num[32];

	rf_json_addstr(b, k, strlen(k));
	snprintf(num, sizeof num, ":%llu", (unsigned long long)v);
	rf_buf_add(b, num, strlen(num));
}

static void
addhex(rf_buf *b, const char *k, const unsigned char d[RF_SHA256_LEN])
{
	char hex[65];

	rf_hex(d, RF_SHA256_LEN, hex);
	addkv(b, k, hex);
}

int
rf_prov_format(const rf_prov *p, rf_buf *c, rf_err *e)
{
	rf_buf b = { 0 };
	char host[256] = "", t[32], hex[65];
	const char *user = getenv("USER");
	struct passwd *pw = getpwuid(geteuid());
	int rc;

	if (pw != NULL)
		user = pw->pw_name;
	gethostname(host, sizeof host - 1);

	rf_buf_adds(&b, "{\"format\":\"refill-prov/1\",\"program\":{");
	addkv(&b, "name", p->program);
	rf_buf_addc(&b, ',');
	addkv(&b, "version", RF_VERSION);
	rf_buf_adds(&b, ",\"argv\":[");
	for (int i = 0; i < p->argc; i++) {
		if (i > 0)
			rf_buf_addc(&b, ',');
		addstr(&b, p->argv[i]);
	}
	rf_buf_adds(&b, "]},\"transform\":");
	rf_buf_adds(&b, p->transform != NULL ? p->transform : "null");
	rf_buf_adds(&b, ",\"inputs\":[");
	for (size_t i = 0; i < p->ninputs; i++) {
		if (i > 0)
			rf_buf_addc(&b, ',');
		rf_buf_addc(&b, '{');
		addkv(&b, "path", p->inputs[i].path);
		rf_buf_addc(&b, ',');
		addhex(&b, "sha256", p->inputs[i].sha256);
		rf_buf_addc(&b, ',');
		addnum(&b, "records", p->inputs[i].records);
		rf_buf_addc(&b, '}');
	}
	rf_buf_adds(&b, "],\"output\":{");
	addkv(&b, "path", p->output);
	rf_buf_addc(&b, ',');
	addhex(&b, "sha256", p->out_sha256);
	rf_buf_addc(&b, ',');
	addnum(&b, "bytes", p->out_bytes);
	rf_buf_addc(&b, ',');
	addnum(&b, "records", p->out_digest.count);
	rf_buf_addc(&b, ',');
	rf_dsum_hex(&p->out_digest, hex);
	addkv(&b, "dataset_digest", hex);
	rf_buf_adds(&b, "},\"counts\":{");
	addnum(&b, "in", p->records_in);
	rf_buf_addc(&b, ',');
	addnum(&b, "out", p->out_digest.count);
	rf_buf_addc(&b, ',');
	addnum(&b, "quarantined", p->quarantined);
	rf_buf_adds(&b, "},");
	rf_timestamp(p->start, t);
	addkv(&b, "started", t);
	rf_buf_addc(&b, ',');
	rf_timestamp(p->end, t);
	addkv(&b, "ended", t);
	rf_buf_addc(&b, ',');
	addkv(&b, "host", host);
	rf_buf_addc(&b, ',');
	addkv(&b, "user", user);
	if (rf_buf_addc(&b, '}') < 0) {
		rf_buf_free(&b);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	/* Built by hand, sorted by the canonicaliser: one definition of order. */
	if ((rc = rf_json_canon(b.p, b.len, c, e)) == 0 &&
	    rf_buf_addc(c, '\n') < 0)
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
	rf_buf_free(&b);
	return rc;
}

/* The members that make the identity; the executable by its digest. */
static void
add_identity(rf_buf *b, const rf_transform *t, bool full)
{
	rf_buf_addc(b, '{');
	addkv(b, "name", t->name);
	rf_buf_addc(b, ',');
	addkv(b, "version", t->version);
	rf_buf_adds(b, ",\"argv\":[");
	for (int i = 0; i < t->argc; i++) {
		if (i > 0)
			rf_buf_addc(b, ',');
		addstr(b, t->argv[i]);
	}
	rf_buf_adds(b, "],\"executable\":");
	if (t->exe == NULL)
		rf_buf_adds(b, "null");
	else if (full) {
		rf_buf_addc(b, '{');
		addkv(b, "path", t->exe);
		rf_buf_addc(b, ',');
		addhex(b, "sha256", t->exe_sha256);
		rf_buf_addc(b, '}');
	} else {
		char hex[65];
		rf_hex(t->exe_sha256, RF_SHA256_LEN, hex);
		addstr(b, hex);
	}
	rf_buf_adds(b, ",\"files\":[");
	for (size_t i = 0; i < t->nfiles; i++) {
		if (i > 0)
			rf_buf_addc(b, ',');
		rf_buf_addc(b, '{');
		addnum(b, "arg", (uint64_t)t->files[i].arg);
		rf_buf_addc(b, ',');
		if (full) {
			addkv(b, "path", t->files[i].path);
			rf_buf_addc(b, ',');
		}
		addhex(b, "sha256", t->files[i].sha256);
		rf_buf_addc(b, '}');
	}
	rf_buf_adds(b, "],\"deps\":[");
	for (size_t i = 0; i < t->ndeps; i++) {
		if (i > 0)
			rf_buf_addc(b, ',');
		rf_buf_addc(b, '{');
		addkv(b, "path", t->deps[i].path);
		rf_buf_addc(b, ',');
		addhex(b, "sha256", t->deps[i].sha256);
		rf_buf_addc(b, '}');
	}
	rf_buf_adds(b, "],\"env\":{");
	for (size_t i = 0; i < t->nenv; i++) {
		if (i > 0)
			rf_buf_addc(b, ',');
		addkv(b, t->env_names[i], t->env_values[i]);
	}
	rf_buf_addc(b, '}');
	/* Absent without migrations: the ids of earlier stamps still hold. */
	if (t->migrations != NULL) {
		rf_buf_adds(b, ",\"migrations\":");
		rf_buf_adds(b, t->migrations);
	}
}

int
rf_transform_format(const rf_transform *t, rf_buf *out, char id[65], rf_err *e)
{
	rf_buf b = { 0 }, c = { 0 };
	unsigned char d[RF_SHA256_LEN];
	rf_sha256 *h = rf_sha256_new();
	int rc;

	/* The identity: what must not change for a result to be reused. */
	add_identity(&b, t, false);
	if (rf_buf_addc(&b, '}') < 0 || h == NULL) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = rf_json_canon(b.p, b.len, &c, e)) < 0)
		goto done;
	rf_sha256_once(h, c.p, c.len, d);
	rf_hex(d, RF_SHA256_LEN, id);
	b.len = 0;
	add_identity(&b, t, true);
	rf_buf_addc(&b, ',');
	addkv(&b, "id", id);
	if (rf_buf_addc(&b, '}') < 0) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto done;
	}
	rc = rf_json_canon(b.p, b.len, out, e);
done:
	rf_sha256_free(h);
	rf_buf_free(&b);
	rf_buf_free(&c);
	return rc;
}

int
rf_prov_write(const char *path, const rf_prov *p, rf_err *e)
{
	rf_buf c = { 0 };
	int rc;

	if ((rc = rf_prov_format(p, &c, e)) == 0)
		rc = rf_write_file(path, c.p, c.len, e);
	rf_buf_free(&c);
	return rc;
}
