/*
 * Unit tests for lib/: the JSON core against JSONTestSuite and the RFC 8785
 * vectors, signatures against RFC 8032 and base64 against RFC 4648, and the
 * digest, time, path and reader functions against values worked out by
 * hand or by an independent tool (noted at each).
 *
 * usage: unit VECTORDIR    (tests/vectors)
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <openssl/pem.h>

#include "refill.h"

static int passed, failed;
static const char *vdir;

#define CHECK(cond, ...) do {						\
	if (cond)							\
		passed++;						\
	else {								\
		failed++;						\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

static char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	rf_buf b = { 0 };
	char tmp[65536];
	size_t k;

	if (f == NULL) {
		fprintf(stderr, "unit: %s: cannot open\n", path);
		exit(2);
	}
	while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
		rf_buf_add(&b, tmp, k);
	fclose(f);
	rf_buf_addc(&b, '\0');
	*n = b.len - 1;
	return b.p;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- JSONTestSuite ------------------------------------------------------ */

/* The documented answer for an i_ file (tests/json-i-answers.txt). */
static int
i_answer(const char *answers, const char *name)
{
	const char *p = strstr(answers, name);

	while (p != NULL && (p[strlen(name)] != '\n' || p == answers || p[-1] != ' '))
		p = strstr(p + 1, name);
	if (p == NULL)
		return -1;
	while (p > answers && p[-1] != '\n')
		p--;
	return strncmp(p, "accept ", 7) == 0 ? 1 :
	    strncmp(p, "reject ", 7) == 0 ? 0 : -1;
}

static void
test_jsontestsuite(void)
{
	char path[4096], *answers, **names = NULL;
	size_t n, nn = 0, ny = 0, nnn = 0, ni = 0;
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof path, "%s/../json-i-answers.txt", vdir);
	answers = slurp(path, &n);
	snprintf(path, sizeof path, "%s/JSONTestSuite/test_parsing", vdir);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "unit: %s: cannot open\n", path);
		exit(2);
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			names = realloc(names, (nn + 1) * sizeof *names);
			names[nn++] = strdup(de->d_name);
		}
	closedir(d);
	qsort(names, nn, sizeof *names, cmpstr);

	for (size_t i = 0; i < nn; i++) {
		char file[8192];
		rf_err e;
		rf_buf c1 = { 0 }, c2 = { 0 };
		const char *name = names[i];
		int rc, rc2;
		char *s;

		snprintf(file, sizeof file, "%s/%s", path, name);
		s = slurp(file, &n);
		rc = rf_json_validate(s, n, &e);
		rc2 = rf_json_canon(s, n, &c1, &e);
		CHECK((rc == 0) == (rc2 == 0), "%s: validate and canon disagree",
		    name);
		if (name[0] == 'y') {
			ny++;
			/*
			 * RFC 8259 only says names SHOULD be unique; I-JSON
			 * (RFC 7493), which refill requires, says MUST.
			 */
			if (strstr(name, "duplicated_key") != NULL)
				CHECK(rc == RF_EDATA &&
				    strncmp(e.msg, "duplicate key", 13) == 0,
				    "%s: duplicate key not rejected", name);
			else
				CHECK(rc == 0, "%s: rejected: %s", name, e.msg);
		} else if (name[0] == 'n') {
			nnn++;
			CHECK(rc == RF_EDATA, "%s: accepted", name);
		} else if (name[0] == 'i') {
			int want = i_answer(answers, name);
			ni++;
			CHECK(want >= 0, "%s: no documented answer", name);
			CHECK((rc == 0) == (want == 1), "%s: got %s", name,
			    rc == 0 ? "accept" : "reject");
		}
		if (rc2 == 0) {
			/* Canonical form is valid and a fixed point. */
			CHECK(rf_json_canon(c1.p, c1.len, &c2, &e) == 0 &&
			    c1.len == c2.len && memcmp(c1.p, c2.p, c1.len) == 0,
			    "%s: canonical form is not a fixed point", name);
		}
		rf_buf_free(&c1);
		rf_buf_free(&c2);
		free(s);
		free(names[i]);
	}
	free(names);
	free(answers);
	CHECK(ny == 95 && nnn == 188 && ni == 35,
	    "JSONTestSuite: %zu y, %zu n, %zu i files", ny, nnn, ni);
}

/* ---- RFC 8785 ----------------------------------------------------------- */

static void
test_rfc8785(void)
{
	static const char *files[] = { "arrays", "french", "structures",
	    "unicode", "values", "weird" };

	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char path[4096];
		size_t n, m;
		char *in, *want;
		rf_buf out = { 0 };
		rf_err e;

		snprintf(path, sizeof path, "%s/rfc8785/testdata/input/%s.json",
		    vdir, files[i]);
		in = slurp(path, &n);
		snprintf(path, sizeof path, "%s/rfc8785/testdata/output/%s.json",
		    vdir, files[i]);
		want = slurp(path, &m);
		CHECK(rf_json_canon(in, n, &out, &e) == 0 && out.len == m &&
		    memcmp(out.p, want, m) == 0, "rfc8785 %s: got %.*s",
		    files[i], (int)out.len, out.p);
		rf_buf_free(&out);
		free(in);
		free(want);
	}
}

static double
from_hex(const char *h)
{
	uint64_t bits = strtoull(h, NULL, 16);
	double d;

	memcpy(&d, &bits, sizeof d);
	return d;
}

/*
 * One number vector: formatting the double gives the expected text, and
 * parsing that text through the canonicaliser gives it back.
 */
static void
number_case(const char *hex, const char *want, const char *where)
{
	double d = from_hex(hex);
	char got[32];
	size_t n = rf_fmt_double(d, got);
	rf_buf out = { 0 };
	rf_err e;

	if (!isfinite(d)) {
		CHECK(n == 0, "%s: %s formatted a non-finite value", where, hex);
		CHECK(rf_json_validate(want, strlen(want), &e) == RF_EDATA,
		    "%s: %s accepted", where, want);
		return;
	}
	CHECK(n == strlen(want) && memcmp(got, want, n) == 0,
	    "%s: %s: got %.*s, want %s", where, hex, (int)n, got, want);
	CHECK(rf_json_canon(want, strlen(want), &out, &e) == 0 &&
	    out.len == strlen(want) && memcmp(out.p, want, out.len) == 0,
	    "%s: %s does not round-trip: %.*s", where, want, (int)out.len, out.p);
	rf_buf_free(&out);
}

static void
test_numbers(void)
{
	char path[4096], *s, *line, *save;
	size_t n, count = 0, before = failed;

	snprintf(path, sizeof path, "%s/rfc8785/numbers.csv", vdir);
	s = slurp(path, &n);
	for (line = strtok_r(s, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *comma = strchr(line, ',');
		if (comma == NULL)
			continue;
		*comma = '\0';
		number_case(line, comma + 1, "numbers.csv");
		count++;
		if (failed - before > 20)
			break;	/* enough to see the pattern */
	}
	free(s);
	CHECK(count == 99977, "numbers.csv: %zu lines", count);

	snprintf(path, sizeof path,
	    "%s/rfc8785/appendixB/rfc8785-appendix-b.csv", vdir);
	s = slurp(path, &n);
	count = 0;
	line = strtok_r(s, "\n", &save);	/* header */
	for (line = strtok_r(NULL, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ','), *c2;
		if (c1 == NULL || (c2 = strchr(c1 + 1, ',')) == NULL)
			continue;
		*c1 = *c2 = '\0';
		number_case(line, c1 + 1, "appendix B");
		count++;
	}
	free(s);
	CHECK(count == 26, "appendix B: %zu rows", count);
}

/* Texts whose canonical form was worked out by hand from RFC 8785. */
static void
test_canon_cases(void)
{
	static const struct { const char *in, *want; } t[] = {
		{ " { \"b\" : [ 1.0 , 2E2 , -0 ] , \"a\" : null } ",
		    "{\"a\":null,\"b\":[1,200,0]}" },
		{ "\"\\u00e9\\/\\u001f\\ud83d\\ude00\"",
		    "\"\xc3\xa9/\\u001f\xf0\x9f\x98\x80\"" },
		/* U+1F600 (surrogates in UTF-16) sorts before U+FB01. */
		{ "{\"\xef\xac\x81\":1,\"\xf0\x9f\x98\x80\":2,\"z\":3}",
		    "{\"z\":3,\"\xf0\x9f\x98\x80\":2,\"\xef\xac\x81\":1}" },
		{ "{\"a\\u0000\":1,\"a\":2}", "{\"a\":2,\"a\\u0000\":1}" },
		{ "1e-400", "0" },
		{ "123456789012345678901234567890", "1.2345678901234568e+29" },
		{ "[0.1,1e21,1e-7,-5e-324]", "[0.1,1e+21,1e-7,-5e-324]" },
	};
	static const char *bad[] = {
		"{\"a\":1,\"\\u0061\":2}",	/* duplicate after unescaping */
		"\"\\ud800\"", "\"\\udc00x\"", "1e400", "-1e400",
		"\xef\xbb\xbf{}", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "",
		"{\"a\":{\"b\":1,\"b\":2}}", "[1,]", "01", "\"\t\"",
	};
	rf_err e;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		rf_buf out = { 0 };
		int rc = rf_json_canon(t[i].in, strlen(t[i].in), &out, &e);
		CHECK(rc == 0 && out.len == strlen(t[i].want) &&
		    memcmp(out.p, t[i].want, out.len) == 0,
		    "canon %s: got %.*s", t[i].in, (int)out.len, out.p);
		rf_buf_free(&out);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(rf_json_validate(bad[i], strlen(bad[i]), &e) == RF_EDATA,
		    "accepted bad text #%zu", i);

	/*
	 * Output is appended, and a failure takes back what it wrote, even
	 * after numbers made it grow ("1e20" is 21 digits).
	 */
	rf_buf app = { 0 };
	rf_buf in = { 0 };
	rf_buf_addc(&in, '[');
	for (int i = 0; i < 200; i++)
		rf_buf_adds(&in, "1e20,");
	rf_buf_adds(&app, "X");
	CHECK(rf_json_canon(in.p, in.len, &app, &e) == RF_EDATA &&
	    app.len == 1, "failed canon left %zu bytes", app.len);
	in.p[in.len - 1] = ']';
	CHECK(rf_json_canon(in.p, in.len, &app, &e) == 0 &&
	    app.len == 1 + 200 * 22 + 1 && app.p[0] == 'X' && app.p[1] == '[' &&
	    memcmp(app.p + 2, "100000000000000000000,", 22) == 0,
	    "appended canon: %zu bytes", app.len);
	rf_buf_free(&in);
	rf_buf_free(&app);

	/* Nesting: 1000 levels are allowed, 1001 are not. */
	char *deep = malloc(2003);
	for (int lv = 1000; lv <= 1001; lv++) {
		memset(deep, '[', lv);
		memset(deep + lv, ']', lv);
		int rc = rf_json_validate(deep, 2 * lv, &e);
		CHECK(lv == 1000 ? rc == 0 : rc == RF_EDATA,
		    "depth %d: rc %d", lv, rc);
	}
	free(deep);
}

/*
 * Number texts of every shape the grammar allows (signs, leading zeros in
 * fractions, trailing zeros, long digit strings, exponents), canonicalised
 * and compared with an independent route: strtod, then the shortest
 * round-trip formatting.  The canonicaliser copies most numbers as they
 * are; this finds any it copies that it should have rewritten.
 */
static int
rnd(uint64_t *x, int m)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return (int)(*x % (uint64_t)m);
}

static void
test_number_forms(void)
{
	uint64_t x = 7;
	size_t before = failed;
	rf_buf out = { 0 };
	rf_err e;

	for (int iter = 0; iter < 300000 && failed - before < 20; iter++) {
		char s[96], want[48];
		size_t n = 0;
#define RND(m) rnd(&x, m)
#define DIGIT() (RND(3) == 0 ? '0' : '0' + RND(10))
		if (RND(2))
			s[n++] = '-';
		if (RND(3) == 0)
			s[n++] = '0';
		else {
			int il = 1 + RND(23);
			s[n++] = '1' + RND(9);
			while (--il > 0)
				s[n++] = DIGIT();
		}
		if (RND(5) < 3) {
			int lz = RND(3) ? 0 : RND(9), fl = 1 + RND(20);
			s[n++] = '.';
			while (lz-- > 0)
				s[n++] = '0';
			while (fl-- > 0)
				s[n++] = DIGIT();
		}
		if (RND(5) == 0) {
			s[n++] = RND(2) ? 'e' : 'E';
			if (RND(3) > 0)
				s[n++] = RND(2) ? '-' : '+';
			n += snprintf(s + n, sizeof s - n, "%d", RND(40));
		}
#undef DIGIT
#undef RND
		s[n] = '\0';
		size_t wn = rf_fmt_double(strtod(s, NULL), want);
		out.len = 0;
		int rc = rf_json_canon(s, n, &out, &e);
		CHECK(rc == 0 && out.len == wn && memcmp(out.p, want, wn) == 0,
		    "number %s: got %.*s, want %.*s", s, (int)out.len, out.p,
		    (int)wn, want);
	}
	rf_buf_free(&out);
}

/* ---- paths -------------------------------------------------------------- */

static int
strpcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Objects of 1 to 40 members (both sides of the parser's small-object
 * limit of 32) with names drawn from a small set, so that some repeat, in
 * random order, some names escaped.  Validation and canonicalisation must
 * reject exactly the objects with a repeated name, and otherwise write the
 * members sorted: checked against a sort done here.
 */
static void
test_member_order(void)
{
	uint64_t x = 42;
	rf_buf in = { 0 }, out = { 0 }, want = { 0 };
	rf_err e;
	int ncase[2][2] = { { 0 } };	/* [more than 32 members][repeat] */

	for (int iter = 0; iter < 20000; iter++) {
		char *name[40], buf[40][8];
		int n = 1 + iter % 40, seen[2000] = { 0 };
		bool dup = false;

		in.len = want.len = out.len = 0;
		rf_buf_addc(&in, '{');
		for (int i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* Few names for small objects, more for large: each
			 * size gets objects with and without a repeat. */
			int k = (int)(x % (n <= 20 ? 60 : 2000));
			snprintf(buf[i], sizeof buf[i], "k%04d", k);
			name[i] = buf[i];
			dup |= seen[k]++ > 0;
			if (i > 0)
				rf_buf_addc(&in, ',');
			/* Every third name spelt with an escape. */
			if (x % 3 == 0) {
				rf_buf_adds(&in, "\"\\u006b");
				rf_buf_adds(&in, buf[i] + 1);
				rf_buf_addc(&in, '"');
			} else {
				rf_buf_addc(&in, '"');
				rf_buf_adds(&in, buf[i]);
				rf_buf_addc(&in, '"');
			}
			char v[24];
			snprintf(v, sizeof v, ":%d", i);
			rf_buf_adds(&in, v);
		}
		rf_buf_addc(&in, '}');
		int rv = rf_json_validate(in.p, in.len, &e);
		int rc = rf_json_canon(in.p, in.len, &out, &e);
		CHECK(rv == rc, "validate %d and canon %d disagree on %.*s", rv,
		    rc, (int)in.len, in.p);
		ncase[n > 32][dup]++;
		if (dup) {
			CHECK(rc == RF_EDATA && strncmp(e.msg, "duplicate key", 13) == 0,
			    "duplicate accepted in %.*s", (int)in.len, in.p);
			continue;
		}
		/* The value of each member is its input position. */
		char *sorted[40];
		memcpy(sorted, name, n * sizeof *name);
		qsort(sorted, n, sizeof *sorted, strpcmp);
		rf_buf_addc(&want, '{');
		for (int i = 0; i < n; i++) {
			int pos = 0;
			while (name[pos] != sorted[i])
				pos++;
			char m[32];
			snprintf(m, sizeof m, "%s\"%s\":%d", i ? "," : "",
			    sorted[i], pos);
			rf_buf_adds(&want, m);
		}
		rf_buf_addc(&want, '}');
		CHECK(rc == 0 && out.len == want.len &&
		    memcmp(out.p, want.p, out.len) == 0, "canon %.*s: got %.*s",
		    (int)in.len, in.p, (int)out.len, out.p);
	}
	for (int big = 0; big < 2; big++)
		for (int d = 0; d < 2; d++)
			CHECK(ncase[big][d] >= 100, "only %d objects with%s "
			    "more than 32 members, with%s a repeat",
			    ncase[big][d], big ? "" : "out", d ? "" : "out");
	rf_buf_free(&in);
	rf_buf_free(&out);
	rf_buf_free(&want);
}

static void
test_paths(void)
{
	static const char rec[] =
	    "{\"a\":{\"b\":[10,{\"c\":\"x\"}]},\"d.e\":1,\"f/g\":2,\"h~i\":3,"
	    "\"\\u006a\":4}";
	static const struct { const char *path, *want; } t[] = {
		{ "a.b.0", "10" }, { "a.b.1.c", "\"x\"" }, { "/a/b/1", "{\"c\":\"x\"}" },
		{ "/d.e", "1" }, { "/f~1g", "2" }, { "/h~0i", "3" }, { "j", "4" },
		{ "", NULL }, { "a.b.2", NULL }, { "a.x", NULL }, { "d.e", NULL },
		{ "a.b.00", NULL }, { "/a/b/-", NULL },
	};
	rf_err e;
	rf_path *p;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		const char *v;
		size_t vn;
		if (rf_path_compile(t[i].path, &p, &e) < 0) {
			CHECK(0, "path %s: %s", t[i].path, e.msg);
			continue;
		}
		int rc = rf_json_get(rec, strlen(rec), p, &v, &vn);
		if (t[i].path[0] == '\0')
			CHECK(rc == 0 && vn == strlen(rec), "empty pointer");
		else if (t[i].want == NULL)
			CHECK(rc == RF_EMISSING, "path %s: found", t[i].path);
		else
			CHECK(rc == 0 && vn == strlen(t[i].want) &&
			    memcmp(v, t[i].want, vn) == 0, "path %s: got %.*s",
			    t[i].path, rc == 0 ? (int)vn : 0, rc == 0 ? v : "");
		rf_path_free(p);
	}
	CHECK(rf_path_compile("a..b", &p, &e) == RF_EUSAGE, "a..b accepted");
	CHECK(rf_path_compile("/a/~2", &p, &e) == RF_EUSAGE, "~2 accepted");
}

/* ---- digests ------------------------------------------------------------ */

static void
test_digests(void)
{
	unsigned char d[RF_SHA256_LEN], ff[RF_SHA256_LEN], one[RF_SHA256_LEN];
	rf_sha256 *h = rf_sha256_new();
	rf_dsum a, b, c;
	char hex[65];

	/* FIPS 180-2 example: SHA-256("abc"). */
	rf_sha256_once(h, "abc", 3, d);
	rf_hex(d, sizeof d, hex);
	CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad") == 0, "sha256(abc) = %s", hex);
	rf_sha256_free(h);

	/* Carries run across all four words and wrap modulo 2^256. */
	memset(ff, 0xff, sizeof ff);
	memset(one, 0, sizeof one);
	one[31] = 1;
	rf_dsum_init(&a);
	rf_dsum_add_digest(&a, ff);
	rf_dsum_add_digest(&a, one);
	rf_dsum_hex(&a, hex);
	CHECK(a.count == 2 && strcmp(hex, "0000000000000000000000000000000000000000000000000000000000000000") == 0,
	    "ff..ff + 1 = %s", hex);
	rf_dsum_init(&a);
	rf_dsum_add_digest(&a, ff);
	rf_dsum_add_digest(&a, ff);
	rf_dsum_hex(&a, hex);
	CHECK(strcmp(hex, "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe") == 0,
	    "ff..ff * 2 = %s", hex);

	/* Merging parts equals adding all, in any order. */
	rf_dsum_init(&a);
	rf_dsum_init(&b);
	rf_dsum_init(&c);
	for (int i = 0; i < 100; i++) {
		unsigned char x[RF_SHA256_LEN];
		for (int j = 0; j < RF_SHA256_LEN; j++)
			x[j] = (unsigned char)(i * 37 + j * 11 + (i * j >> 3));
		rf_dsum_add_digest(&a, x);
		rf_dsum_add_digest(i % 3 ? &b : &c, x);
	}
	rf_dsum_merge(&c, &b);
	CHECK(rf_dsum_equal(&a, &c), "merge differs from the whole");
	rf_dsum_hex(&a, hex);
	CHECK(rf_dsum_parse(hex, 64, a.count, &b) == 0 && rf_dsum_equal(&a, &b),
	    "dsum hex round trip");
	CHECK(rf_dsum_parse("xyz", 3, 0, &b) == RF_EDATA, "bad hex accepted");

	/* Partition: the first 8 bytes, big-endian, modulo n. */
	memset(d, 0, sizeof d);
	d[6] = 1;		/* 0x0000000000000100 = 256 */
	d[8] = 0xff;		/* beyond the first 8 bytes: ignored */
	CHECK(rf_partition(d, 7) == 256 % 7, "partition %u", rf_partition(d, 7));
	memset(d, 0xff, 8);
	CHECK(rf_partition(d, 1000) == UINT64_MAX % 1000, "partition of max");
}

/* ---- time --------------------------------------------------------------- */

static void
test_time(void)
{
	static const struct { const char *s; int64_t want; } t[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01", 0 },
		{ "2025-07-01T13:45:10+02:00", 1751370310 },
		{ "2025-07-01t11:45:10.999z", 1751370310 },
		{ "2025-07-01 11:45:10.5-00:30", 1751372110 },
		{ "2024-02-29T00:00:00Z", 1709164800 },
		{ "2016-12-31T23:59:60Z", 1483228799 },
		{ "1969-12-31T23:59:59Z", -1 },
		{ "0000-01-01T00:00:00Z", -62167219200 },
	};
	static const char *bad[] = {
		"2025-02-29", "2025-13-01", "2025-07-01T24:00:00Z",
		"2025-07-01T12:00:00", "2025-07-01T12:00Z", "2025-07-01T12:00:00+2:00",
		"2025-07-01T12:00:00.Z", "25-07-01", "2025-07-01T12:00:00Zx",
	};
	int64_t secs;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(rf_parse_rfc3339(t[i].s, strlen(t[i].s), &secs) == 0 &&
		    secs == t[i].want, "%s: got %lld", t[i].s, (long long)secs);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(rf_parse_rfc3339(bad[i], strlen(bad[i]), &secs) < 0,
		    "%s accepted", bad[i]);
	for (int64_t z = -800000; z <= 3000000; z += 997) {
		int64_t y;
		unsigned m, d;
		rf_civil_from_days(z, &y, &m, &d);
		if (rf_days_from_civil(y, m, d) != z) {
			CHECK(0, "civil round trip of day %lld", (long long)z);
			break;
		}
	}
	passed++;
}

/* ---- small helpers ------------------------------------------------------ */

static void
test_misc(void)
{
	size_t sz;
	uint64_t v;

	CHECK(rf_parse_size("64M", &sz) == 0 && sz == (size_t)64 << 20, "64M");
	CHECK(rf_parse_size("3k", &sz) == 0 && sz == 3072, "3k");
	CHECK(rf_parse_size("1x", &sz) < 0 && rf_parse_size("", &sz) < 0 &&
	    rf_parse_size("k", &sz) < 0 && rf_parse_size("-1", &sz) < 0,
	    "bad sizes accepted");
	CHECK(rf_parse_uint("65536", 1, 65536, &v) == 0 && v == 65536, "uint");
	CHECK(rf_parse_uint("65537", 1, 65536, &v) < 0 &&
	    rf_parse_uint("0", 1, 9, &v) < 0 && rf_parse_uint("1a", 1, 9, &v) < 0,
	    "bad uints accepted");
	CHECK(rf_utf8_valid("\xf4\x8f\xbf\xbf", 4) &&
	    !rf_utf8_valid("\xf4\x90\x80\x80", 4) &&
	    !rf_utf8_valid("\xe0\x80\xaf", 3) && !rf_utf8_valid("\xed\xa0\x80", 3) &&
	    !rf_utf8_valid("\xc3", 1), "utf8_valid");
	CHECK(rf_blank(" \t\r ", 4) && !rf_blank(" x", 2), "rf_blank");

	rf_buf b = { 0 };
	const char *tok = "\"a\\n\\u00e9\\ud83d\\ude00\"";
	CHECK(rf_json_unescape(tok, strlen(tok), &b) == 0 && b.len == 8 &&
	    memcmp(b.p, "a\n\xc3\xa9\xf0\x9f\x98\x80", 8) == 0, "unescape");
	rf_buf_free(&b);
}

/* ---- stamps and the lineage graph ----------------------------------------- */

#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* A stamp of out (SHA-256 hex osha) made by prog from one input. */
static void
mkstamp(char *dst, size_t n, const char *out, const char *osha,
    const char *in, const char *isha, const char *transform)
{
	snprintf(dst, n, "{\"format\":\"refill-prov/1\",\"program\":{\"name\":"
	    "\"p\"},\"transform\":%s,\"started\":\"2026-01-01T00:00:00Z\","
	    "\"ended\":\"2026-01-01T00:00:01.5Z\",\"inputs\":[{\"path\":\"%s\","
	    "\"sha256\":\"%s\",\"records\":3}],\"output\":{\"path\":\"%s\","
	    "\"sha256\":\"%s\",\"records\":0,\"dataset_digest\":\"%064d\"}}",
	    transform, in, isha, out, osha, 0);
}

static uint32_t
add(rf_lineage *g, const char *json, const char *place)
{
	rf_stamp st;
	rf_err e;

	if (rf_stamp_parse(json, strlen(json), &st, &e) < 0 ||
	    rf_lineage_add(g, &st, place, &e) < 0) {
		fprintf(stderr, "unit: %s\n", e.msg);
		exit(2);
	}
	return (uint32_t)rf_lineage_size(g) - 1;
}

static void
test_lineage(void)
{
	char a[2048], x[2048];
	rf_stamp st;
	rf_err e;
	size_t pos = 0, kn, vn;
	const char *k, *v;
	int rc;

	/* rf_json_next: elements and members, whitespace and nesting. */
	const char *arr = "[ 1 , {\"a\":[2,3]} ,\"x\" ]", *obj = "{ \"a\" : 1 , \"b\\u0063\":{} }";
	CHECK(rf_json_next(arr, strlen(arr), &pos, NULL, NULL, &v, &vn) == 1 &&
	    vn == 1 && v[0] == '1', "next 1");
	CHECK(rf_json_next(arr, strlen(arr), &pos, NULL, NULL, &v, &vn) == 1 &&
	    vn == 11 && strncmp(v, "{\"a\":[2,3]}", 11) == 0, "next 2");
	CHECK(rf_json_next(arr, strlen(arr), &pos, NULL, NULL, &v, &vn) == 1 &&
	    vn == 3, "next 3");
	CHECK(rf_json_next(arr, strlen(arr), &pos, NULL, NULL, &v, &vn) == 0,
	    "next end");
	pos = 0;
	CHECK(rf_json_next(obj, strlen(obj), &pos, &k, &kn, &v, &vn) == 1 &&
	    kn == 3 && vn == 1, "member 1");
	CHECK(rf_json_next(obj, strlen(obj), &pos, &k, &kn, &v, &vn) == 1 &&
	    kn == 9 && vn == 2 && v[0] == '{', "member 2");
	CHECK(rf_json_next(obj, strlen(obj), &pos, &k, &kn, &v, &vn) == 0,
	    "member end");
	pos = 0;
	CHECK(rf_json_next("[]", 2, &pos, NULL, NULL, &v, &vn) == 0 &&
	    rf_json_next("12", 2, &pos, NULL, NULL, &v, &vn) == RF_EDATA,
	    "next: empty, scalar");

	/* rf_dataset_arg, shared by replay, commit show and lineage. */
	char dir[16];
	uint32_t ver;
	CHECK(rf_dataset_arg("ds/", dir, sizeof dir, &ver, &e) == 0 &&
	    strcmp(dir, "ds/") == 0 && ver == 0, "dataset arg");
	CHECK(rf_dataset_arg("a@b@000042", dir, sizeof dir, &ver, &e) == 0 &&
	    strcmp(dir, "a@b") == 0 && ver == 42, "dataset arg @");
	CHECK(rf_dataset_arg("ds@0", dir, sizeof dir, &ver, &e) == RF_EUSAGE &&
	    strcmp(e.msg, "0: not a version number (1 to 999999)") == 0,
	    "dataset arg 0: %s", e.msg);
	CHECK(rf_dataset_arg("ds@1000000", dir, sizeof dir, &ver, &e) ==
	    RF_EUSAGE && rf_dataset_arg("a-very-long-name", dir, sizeof dir,
	    &ver, &e) == RF_EUSAGE, "dataset arg range, length");

	/* The compared form of places. */
	static const char *norms[][2] = {
		{ "./a/versions/000001/x/y", "a@000001/x/y" },
		{ "versions/000002/y", ".@000002/y" },
		{ "a/versions/12/x", "a/versions/12/x" },
		{ "a/myversions/000001/x", "a/myversions/000001/x" },
		{ ".//./b", "b" },
		{ "ds@000003/x", "ds@000003/x" },
	};
	for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++) {
		rf_buf b = { 0 };
		CHECK(rf_lineage_norm(norms[i][0], &b) == 0 &&
		    strcmp(b.p, norms[i][1]) == 0, "norm %s: %s", norms[i][0],
		    b.p);
		rf_buf_free(&b);
	}

	/* A stamp, in any member order and spacing. */
	mkstamp(a, sizeof a, "d/o.ndjson", EMPTY, "./i.ndjson", EMPTY,
	    "{\"name\":\"t\",\"version\":\"1@2\",\"id\":\"" EMPTY "\","
	    "\"argv\":[\"cat\"]}");
	CHECK(rf_stamp_parse(a, strlen(a), &st, &e) == 0 &&
	    strcmp(st.program, "p") == 0 && strcmp(st.tname, "t") == 0 &&
	    strcmp(st.tversion, "1@2") == 0 && st.ninputs == 1 &&
	    strcmp(st.inputs[0].path, "./i.ndjson") == 0 &&
	    st.inputs[0].records == 3 && strcmp(st.out_path, "d/o.ndjson") == 0 &&
	    strcmp(st.ended, "2026-01-01T00:00:01.5Z") == 0,
	    "stamp parse: %s", e.msg);
	rf_stamp_free(&st);

	/*
	 * Never a crash, and only RF_EDATA, whatever the bytes: every
	 * prefix, and every byte replaced by one of a few that matter.
	 */
	static const char subst[] = { '"', '\\', '{', '}', '[', ',', '0', '-',
	    'x', ' ', '\0', (char)0xff };
	size_t n = strlen(a), bad = 0, ok = 0;
	for (size_t i = 0; i < n; i++) {
		if ((rc = rf_stamp_parse(a, i, &st, &e)) != RF_EDATA)
			bad++;
		rf_stamp_free(&st);
		for (size_t j = 0; j < sizeof subst; j++) {
			memcpy(x, a, n);
			x[i] = subst[j];
			rc = rf_stamp_parse(x, n, &st, &e);
			if (rc == 0)
				ok += st.program != NULL && st.out_path != NULL;
			else if (rc != RF_EDATA)
				bad++;
			rf_stamp_free(&st);
		}
	}
	CHECK(bad == 0 && ok > 0, "stamp mutations: %zu bad codes, %zu ok", bad,
	    ok);
	static const char *reasons[][2] = {
		{ "[1]", "not a JSON object" },
		{ "{\"format\":\"refill-prov/2\"}", "bad \"format\": not \"refill-prov/1\"" },
		{ "{\"format\":\"refill-prov/1\"}", "no \"program\"" },
		{ "{\"format\":\"refill-prov/1\",\"program\":{\"name\":\"a\\u0000\"}}",
		    "bad \"program.name\": holds a NUL character" },
	};
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		const char *r = reasons[i][0];
		CHECK(rf_stamp_parse(r, strlen(r), &st, &e) == RF_EDATA &&
		    strcmp(e.msg, reasons[i][1]) == 0, "%s: %s", r, e.msg);
	}
	/*
	 * Counts are exact up to 2^53 (refill-prov(5)).  Numbers are doubles
	 * (I-JSON): 2^53 + 1 is 2^53, and 2^53 + 2 the first one refused.
	 */
	const char *r3 = strstr(a, "\"records\":3");
	snprintf(x, sizeof x, "%.*s\"records\":9007199254740994%s",
	    (int)(r3 - a), a, r3 + 11);
	CHECK(rf_stamp_parse(x, strlen(x), &st, &e) == RF_EDATA &&
	    strcmp(e.msg, "bad \"inputs.0.records\": not an integer from 0 "
	    "to 2^53") == 0, "2^53 + 2: %s", e.msg);
	snprintf(x, sizeof x, "%.*s\"records\":9007199254740992%s",
	    (int)(r3 - a), a, r3 + 11);
	CHECK(rf_stamp_parse(x, strlen(x), &st, &e) == 0 &&
	    st.inputs[0].records == (uint64_t)1 << 53, "2^53: %s", e.msg);
	rf_stamp_free(&st);

	/*
	 * The graph: two splits each write an empty file (A/p0, B/p2), a
	 * transform reads each by its path, and c reads an empty file by a
	 * path no stamp wrote.  t's output is its input's bytes (a cat).
	 */
	rf_lineage *g;
	rf_ids ids = { 0 };
	char s1[2048], s2[2048], s3[2048], s4[2048], s5[2048];
	const char *srcA = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *srcB = "2222222222222222222222222222222222222222222222222222222222222222";
	rf_lineage_new(&g, &e);
	mkstamp(s1, sizeof s1, "A/p0", EMPTY, "a.ndjson", srcA, "null");
	mkstamp(s2, sizeof s2, "B/p2", EMPTY, "b.ndjson", srcB, "null");
	mkstamp(s3, sizeof s3, "dA/q0", EMPTY, "./A/p0", EMPTY, "null");
	mkstamp(s4, sizeof s4, "dB/q2", EMPTY, "dsB/versions/000001/p2", EMPTY,
	    "null");
	mkstamp(s5, sizeof s5, "c", srcA, "elsewhere", EMPTY, "null");
	uint32_t n1 = add(g, s1, "A/p0"), n2 = add(g, s2, "dsB@000001/p2");
	uint32_t n3 = add(g, s3, "dA/q0"), n4 = add(g, s4, "dB/q2");
	uint32_t n5 = add(g, s5, "c");
	CHECK(add(g, s1, "copy/p0") == n5 && rf_lineage_size(g) == 5,
	    "the same stamp twice is one node");
	CHECK(rf_lineage_link(g, &e) == 0, "link");
	CHECK(rf_lineage_node(g, n1)->nplaces == 2 &&
	    strcmp(rf_lineage_node(g, n1)->places[0], "A/p0") == 0,
	    "places of a stamp found twice");
	ids.n = 0;
	rf_lineage_from(g, n3, 0, &ids, &e);
	CHECK(ids.n == 1 && ids.v[0] == n1, "./A/p0 is A's empty file");
	ids.n = 0;
	rf_lineage_from(g, n4, 0, &ids, &e);
	CHECK(ids.n == 1 && ids.v[0] == n2, "versions/ form matches D@N");
	ids.n = 0;
	rf_lineage_from(g, n5, 0, &ids, &e);
	CHECK(ids.n == 4, "no path matches: all empty files' stamps (%zu)",
	    ids.n);
	ids.n = 0;
	rf_lineage_to(g, n2, &ids, &e);
	CHECK(ids.n == 2 && ids.v[0] == n4 && ids.v[1] == n5,
	    "made from B/p2: dB/q2 and c");
	/* c made srcA, which split A read: a cycle through the sources. */
	ids.n = 0;
	rf_lineage_walk(g, &n1, 1, true, &ids, &e);
	CHECK(ids.n == 6, "walk up from A/p0 ends: %zu", ids.n);
	ids.n = 0;
	rf_lineage_walk(g, &n2, 1, false, &ids, &e);
	CHECK(ids.n == 5, "walk down from B/p2, through both groups: %zu",
	    ids.n);
	unsigned char none[RF_SHA256_LEN] = { 0 };
	ids.n = 0;
	CHECK(rf_lineage_find(g, none, NULL, true, &ids, &e) == 0 && ids.n == 0,
	    "an unknown content is no node");
	rf_ids_free(&ids);
	rf_lineage_free(g);
}

/* ---- reader ------------------------------------------------------------- */

static void
test_reader(void)
{
	char path[4096];
	rf_reader *r;
	rf_line ln;
	rf_err e;
	int rc;

	/* Two gzip members are one stream. */
	snprintf(path, sizeof path, "%s/gzip-samples/multi.gz", vdir);
	CHECK(rf_reader_open(path, 1024, 0, &r, &e) == 0, "open %s", path);
	CHECK(rf_reader_next(r, &ln, &e) == 1 && ln.len == 5 &&
	    memcmp(ln.p, "first", 5) == 0 && ln.lineno == 1, "multi.gz line 1");
	CHECK(rf_reader_next(r, &ln, &e) == 1 && ln.len == 6 &&
	    memcmp(ln.p, "second", 6) == 0 && ln.lineno == 2, "multi.gz line 2");
	CHECK(rf_reader_next(r, &ln, &e) == 0, "multi.gz end");
	rf_reader_close(r);

	snprintf(path, sizeof path, "%s/gzip-samples/corrupt-gz-file.bin", vdir);
	CHECK(rf_reader_open(path, 1024, 0, &r, &e) == 0, "open %s", path);
	while ((rc = rf_reader_next(r, &ln, &e)) > 0)
		;
	CHECK(rc == RF_EDATA, "corrupt gzip: rc %d", rc);
	rf_reader_close(r);

	CHECK(rf_reader_open("/nonexistent/x", 1024, 0, &r, &e) == RF_EIO,
	    "missing file");
}

/*
 * Reads path line by line and again batch by batch, into the same form
 * (line number, length, bytes, for every line that is not blank), and
 * checks that both ways agree on the lines, the blank count, the input's
 * SHA-256 and how the reading ended.
 */
static void
reader_agree(const char *path, size_t max_line, const char *what)
{
	rf_buf a = { 0 }, bl = { 0 };
	rf_batch b = { 0 };
	uint64_t blanka = 0, blankb = 0;
	unsigned char da[RF_SHA256_LEN], db[RF_SHA256_LEN];
	char ea[256] = "", eb[256] = "", hdr[64];
	rf_reader *r;
	rf_line ln;
	rf_err e;
	int ra, rb;

	CHECK(rf_reader_open(path, max_line, RF_READ_SHA256, &r, &e) == 0,
	    "%s: open", what);
	while ((ra = rf_reader_next(r, &ln, &e)) > 0) {
		if (rf_blank(ln.p, ln.len)) {
			blanka++;
			continue;
		}
		snprintf(hdr, sizeof hdr, "%llu %zu:", (unsigned long long)ln.lineno,
		    ln.len);
		rf_buf_adds(&a, hdr);
		rf_buf_add(&a, ln.p, ln.len);
	}
	if (ra < 0)
		snprintf(ea, sizeof ea, "%s", e.msg);
	rf_reader_sha256(r, da);
	rf_reader_close(r);

	CHECK(rf_reader_open(path, max_line, RF_READ_SHA256, &r, &e) == 0,
	    "%s: open", what);
	do {
		rf_batch_clear(&b);
		rb = rf_reader_batch(r, &b, &blankb, &e);
		CHECK(b.n <= RF_BATCH_LINES, "%s: %zu lines in a batch", what, b.n);
		for (size_t i = 0; i < b.n; i++) {
			snprintf(hdr, sizeof hdr, "%llu %zu:",
			    (unsigned long long)b.line[i].lineno, b.line[i].len);
			rf_buf_adds(&bl, hdr);
			rf_buf_add(&bl, b.text.p + b.line[i].off, b.line[i].len);
		}
	} while (rb > 0);
	if (rb < 0)
		snprintf(eb, sizeof eb, "%s", e.msg);
	rf_reader_sha256(r, db);
	rf_reader_close(r);
	rf_batch_free(&b);

	CHECK(a.len == bl.len && memcmp(a.p, bl.p, a.len) == 0,
	    "%s: the lines differ (%zu and %zu bytes)", what, a.len, bl.len);
	CHECK(blanka == blankb, "%s: blank lines %llu and %llu", what,
	    (unsigned long long)blanka, (unsigned long long)blankb);
	CHECK((ra < 0) == (rb < 0) && strcmp(ea, eb) == 0,
	    "%s: ended with \"%s\" and \"%s\"", what, ea, eb);
	CHECK(ra < 0 || memcmp(da, db, sizeof da) == 0, "%s: SHA-256 differs",
	    what);
	rf_buf_free(&a);
	rf_buf_free(&bl);
}

/*
 * rf_reader_batch reads straight into batches and splits lines itself:
 * it must find what rf_reader_next finds, across batch boundaries, at the
 * line cap with short lines, with lines longer than a batch, CRLF, blank
 * lines, no final newline, a line over the limit, and in gzip input.
 */
static void
test_reader_batch(void)
{
	static const struct {
		const char *name;
		int lines, minlen, maxlen;	/* a few lines 600 KB long */
		size_t max_line;
		bool crlf, last_nl, huge;
	} t[] = {
		{ "short lines", 30000, 0, 40, 1024, false, true, false },
		{ "records", 5000, 200, 340, 1024, true, false, false },
		{ "long lines", 400, 0, 3000, 1 << 20, true, true, true },
		{ "over the limit", 3000, 900, 1001, 1000, false, true, false },
		{ "CR at the limit", 3000, 990, 1000, 1000, true, true, false },
	};
	char dir[] = "/tmp/refill-unit.XXXXXX", path[64], gzpath[80];
	uint64_t x = 99;

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		rf_buf in = { 0 };
		for (int l = 0; l < t[i].lines; l++) {
			int len = t[i].minlen +
			    rnd(&x, t[i].maxlen - t[i].minlen + 1);
			if (t[i].huge && rnd(&x, 50) == 0)
				len = 600000 + rnd(&x, 1000);
			int kind = rnd(&x, 20);
			for (int k = 0; k < len; k++)
				rf_buf_addc(&in, kind == 0 ? ' ' : 'a' + rnd(&x, 26));
			if (l + 1 < t[i].lines || t[i].last_nl)
				rf_buf_adds(&in, t[i].crlf && rnd(&x, 2) ? "\r\n" : "\n");
		}
		snprintf(path, sizeof path, "%s/in", dir);
		snprintf(gzpath, sizeof gzpath, "%s/in.gz", dir);
		FILE *f = fopen(path, "wb");
		gzFile gz = gzopen(gzpath, "wb1");
		CHECK(f != NULL && gz != NULL, "create %s", path);
		if (f == NULL || gz == NULL)
			break;
		fwrite(in.p, 1, in.len, f);
		fclose(f);
		gzwrite(gz, in.p, (unsigned)in.len);
		gzclose(gz);
		reader_agree(path, t[i].max_line, t[i].name);
		reader_agree(gzpath, t[i].max_line, t[i].name);
		rf_buf_free(&in);
		unlink(path);
		unlink(gzpath);
	}
	rmdir(dir);
}

/* ---- signatures ----------------------------------------------------------- */

/*
 * The DER SubjectPublicKeyInfo of an Ed25519 and of an X25519 key, less
 * the 32 key bytes (RFC 8410 section 4), put together here rather than by
 * libcrypto so that rf_key_public is checked against an independent form.
 */
static const unsigned char spki_ed25519[12] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00
};
static const unsigned char spki_x25519[12] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00
};

static void
spki_text(const unsigned char prefix[12], const unsigned char raw[32],
    char pub[RF_PUBKEY_LEN + 1])
{
	unsigned char der[44];

	memcpy(der, prefix, 12);
	memcpy(der + 12, raw, 32);
	rf_b64_encode(der, sizeof der, pub);
}

static char tdir[64];
static void test_report(void);

static const char *
tpath(const char *name)
{
	static char p[4][4096];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", tdir, name);
	return p[i];
}

static void
put(const char *path, const void *p, size_t n, mode_t mode)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0 ||
	    chmod(path, mode) != 0) {
		fprintf(stderr, "unit: %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

static void
put_pem(const char *path, EVP_PKEY *pk, const EVP_CIPHER *enc, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || PEM_write_PrivateKey(f, pk, enc,
	    enc ? (unsigned char *)"secret" : NULL, enc ? 6 : 0, NULL, NULL) != 1 ||
	    fclose(f) != 0 || chmod(path, mode) != 0) {
		fprintf(stderr, "unit: %s: cannot write a key\n", path);
		exit(2);
	}
}

/* RFC 4648 section 10. */
static void
test_base64(void)
{
	static const struct { const char *in, *out; } t[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	static const char *bad[] = {
		"Z", "Zg", "Zg=", "Zm9vY", "=", "====", "Z===", "Zg=a", "Zg==Zg==",
		"Zm9=Ymfy", "Zm9v!mFy", "Zm9 ", "Zm9\n", "Zm-_", "Zh==", "Zm9=",
		"Zm9vYh==", "Zm9vYmF=", "\303\251AA",
	};
	unsigned char buf[512], raw[300];
	char enc[512], ref[512];
	int rc;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t n = strlen(t[i].in), m = strlen(t[i].out);
		CHECK(rf_b64_encode(t[i].in, n, enc) == m &&
		    strcmp(enc, t[i].out) == 0, "b64 encode \"%s\": %s",
		    t[i].in, enc);
		rc = rf_b64_decode(t[i].out, m, buf, n);
		CHECK(rc == (int)n && memcmp(buf, t[i].in, n) == 0,
		    "b64 decode \"%s\": %d", t[i].out, rc);
		if (n > 0)
			CHECK(rf_b64_decode(t[i].out, m, buf, n - 1) == RF_EDATA,
			    "b64 decode \"%s\" into %zu bytes", t[i].out, n - 1);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(rf_b64_decode(bad[i], strlen(bad[i]), buf, sizeof buf) ==
		    RF_EDATA, "b64 \"%s\" accepted", bad[i]);
	/* Against libcrypto's encoder, every length and every byte value. */
	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (unsigned char)(i * 167 + 13);
	for (size_t n = 0; n <= sizeof raw; n++) {
		size_t m = rf_b64_encode(raw, n, enc);
		int rm = EVP_EncodeBlock((unsigned char *)ref, raw, (int)n);
		rc = rf_b64_decode(enc, m, buf, n);
		if (m != (size_t)rm || strcmp(enc, ref) != 0 || rc != (int)n ||
		    memcmp(buf, raw, n) != 0) {
			CHECK(0, "b64 round trip of %zu bytes", n);
			break;
		}
	}
	CHECK(rf_b64_encode("\xff\xfe", 2, enc) == 4 && strcmp(enc, "//4=") == 0,
	    "b64 high bytes: %s", enc);
}

static int
count_tmp(void)
{
	DIR *d = opendir(tdir);
	struct dirent *de;
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp.") != NULL)
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static void
test_keys(void)
{
	char path[4096], want[512], line[1024];
	char pub[RF_PUBKEY_LEN + 1], kpub[RF_PUBKEY_LEN + 1];
	char pubs[3][RF_PUBKEY_LEN + 1];
	unsigned char sig[RF_SIG_LEN], sk[32], pk[32], rsig[RF_SIG_LEN];
	unsigned char msg[8], raw[32];
	size_t rawlen, nv = 0;
	FILE *f;
	rf_key *k;
	rf_err e;
	int rc;

	/* RFC 8032 section 7.1: sk pk msg sig, "-" for the empty message. */
	snprintf(path, sizeof path, "%s/rfc8032/ed25519.txt", vdir);
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "unit: %s: cannot open\n", path);
		exit(2);
	}
	while (fgets(line, sizeof line, f) != NULL) {
		char hsk[65], hpk[65], hmsg[17], hsig[129];
		size_t mlen;

		if (line[0] == '#')
			continue;
		if (sscanf(line, "%64s %64s %16s %128s", hsk, hpk, hmsg, hsig) != 4 ||
		    rf_unhex(hsk, strlen(hsk), sk, 32) < 0 ||
		    rf_unhex(hpk, strlen(hpk), pk, 32) < 0 ||
		    rf_unhex(hsig, strlen(hsig), rsig, 64) < 0) {
			CHECK(0, "%s: bad line %s", path, line);
			continue;
		}
		mlen = strcmp(hmsg, "-") == 0 ? 0 : strlen(hmsg) / 2;
		if (mlen > 0 && rf_unhex(hmsg, strlen(hmsg), msg, mlen) < 0) {
			CHECK(0, "%s: bad message %s", path, hmsg);
			continue;
		}

		EVP_PKEY *ek = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519,
		    NULL, sk, 32);
		rawlen = sizeof raw;
		CHECK(ek != NULL && EVP_PKEY_get_raw_public_key(ek, raw, &rawlen) ==
		    1 && rawlen == 32 && memcmp(raw, pk, 32) == 0,
		    "RFC 8032 vector %zu: public key does not follow", nv + 1);
		snprintf(want, sizeof want, "rfc%zu.pem", nv + 1);
		put_pem(tpath(want), ek, NULL, 0600);
		EVP_PKEY_free(ek);

		spki_text(spki_ed25519, pk, pubs[nv]);
		rc = rf_key_load(tpath(want), &k, &e);
		CHECK(rc == 0, "load %s: %d %s", want, rc, e.msg);
		if (rc < 0) {
			nv++;
			continue;
		}
		rf_key_public(k, kpub);
		CHECK(strcmp(kpub, pubs[nv]) == 0, "vector %zu: public %s",
		    nv + 1, kpub);
		rc = rf_key_sign(k, mlen ? msg : NULL, mlen, sig, &e);
		CHECK(rc == 0 && memcmp(sig, rsig, 64) == 0,
		    "vector %zu: signature differs from the RFC's", nv + 1);
		rf_key_free(k);

		rc = rf_sig_verify(pubs[nv], msg, mlen, rsig, &e);
		CHECK(rc == 0, "vector %zu: verify: %d %s", nv + 1, rc, e.msg);
		/* One bit off anywhere: the message, or the signature. */
		if (mlen > 0) {
			msg[mlen - 1] ^= 1;
			rc = rf_sig_verify(pubs[nv], msg, mlen, rsig, &e);
			CHECK(rc == RF_ECHECK && strcmp(e.msg, "the signature "
			    "does not match the data and key") == 0,
			    "vector %zu: flipped message bit: %d", nv + 1, rc);
			msg[mlen - 1] ^= 1;
		}
		msg[mlen] = 0;
		CHECK(rf_sig_verify(pubs[nv], msg, mlen + 1, rsig, &e) == RF_ECHECK,
		    "vector %zu: a longer message verified", nv + 1);
		for (int bit = 0; bit < 512; bit += 73) {
			rsig[bit / 8] ^= 1 << bit % 8;
			rc = rf_sig_verify(pubs[nv], msg, mlen, rsig, &e);
			CHECK(rc == RF_ECHECK, "vector %zu: signature bit %d: %d",
			    nv + 1, bit, rc);
			rsig[bit / 8] ^= 1 << bit % 8;
		}
		if (nv > 0)
			CHECK(rf_sig_verify(pubs[nv - 1], msg, mlen, rsig, &e) ==
			    RF_ECHECK, "vector %zu: verified with another key",
			    nv + 1);
		if (++nv == 3)
			break;
	}
	fclose(f);
	CHECK(nv == 3, "%s: %zu vectors", path, nv);

	/* Public-key texts that are not one. */
	memset(sig, 0, sizeof sig);
	memset(raw, 0x11, sizeof raw);
	spki_text(spki_x25519, raw, pub);
	const char *badpub[] = {
		"", "MCowBQYDK2VwAyEA", pub,
		/* 60 characters, 44 zero bytes */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
		/* vector 1 with a stray character, one short, one long */
		"MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR!=",
		"MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		"MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo==",
		/* vector 1 spelled with nonzero unused bits */
		"MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=",
		/* the same key bytes in a SPKI for another algorithm (Ed448 OID) */
		"MCowBQYDK2VxAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		/* vector 1 in BER that is not DER (a BIT STRING with one unused bit) */
		"MCowBQYDK2VwAyEB11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	};
	for (size_t i = 0; i < sizeof badpub / sizeof badpub[0]; i++) {
		rc = rf_sig_verify(badpub[i], "x", 1, sig, &e);
		CHECK(rc == RF_EDATA && strcmp(e.msg,
		    "not an Ed25519 public key") == 0, "public key %s: %d",
		    badpub[i], rc);
	}

	/* Key files that must be refused. */
	EVP_PKEY *ek = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
	static const mode_t open_modes[] = { 0640, 0604, 0660, 0602, 0620, 0700 | 010 };
	for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
		put_pem(tpath("open.pem"), ek, NULL, open_modes[i]);
		rc = rf_key_load(tpath("open.pem"), &k, &e);
		snprintf(want, sizeof want, "%s: permissions %04o are too open; "
		    "the key must be readable by its owner only (chmod 600)",
		    tpath("open.pem"), (unsigned)open_modes[i]);
		CHECK(rc == RF_EUSAGE && strcmp(e.msg, want) == 0,
		    "mode %04o: %d %s", (unsigned)open_modes[i], rc, e.msg);
	}
	put_pem(tpath("ro.pem"), ek, NULL, 0400);
	rc = rf_key_load(tpath("ro.pem"), &k, &e);
	CHECK(rc == 0, "mode 0400: %d %s", rc, e.msg);
	if (rc == 0)
		rf_key_free(k);

	CHECK(symlink("rfc1.pem", tpath("link.pem")) == 0, "symlink");
	rc = rf_key_load(tpath("link.pem"), &k, &e);
	snprintf(want, sizeof want, "%s: is a symbolic link; give the path of "
	    "the key file itself", tpath("link.pem"));
	CHECK(rc == RF_EUSAGE && strcmp(e.msg, want) == 0, "symlink: %d %s",
	    rc, e.msg);

	rc = rf_key_load(tdir, &k, &e);
	snprintf(want, sizeof want, "%s: not a regular file", tdir);
	CHECK(rc == RF_EUSAGE && strcmp(e.msg, want) == 0, "directory: %d %s",
	    rc, e.msg);

	rc = rf_key_load(tpath("none.pem"), &k, &e);
	snprintf(want, sizeof want, "%s: No such file or directory",
	    tpath("none.pem"));
	CHECK(rc == RF_EIO && strcmp(e.msg, want) == 0, "missing: %d %s", rc,
	    e.msg);

	/* Not an (unencrypted) Ed25519 private key; no passphrase prompt. */
	EVP_PKEY *xk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, 32);
	put_pem(tpath("x25519.pem"), xk, NULL, 0600);
	EVP_PKEY_free(xk);
	put_pem(tpath("enc.pem"), ek, EVP_aes_128_cbc(), 0600);
	snprintf(want, sizeof want, "-----BEGIN PUBLIC KEY-----\n%s\n"
	    "-----END PUBLIC KEY-----\n", pubs[0]);
	put(tpath("pub.pem"), want, strlen(want), 0600);
	put(tpath("text.pem"), "hello\n", 6, 0600);
	put(tpath("empty.pem"), "", 0, 0600);
	static const char *notkey[] = {
		"x25519.pem", "enc.pem", "pub.pem", "text.pem", "empty.pem"
	};
	for (size_t i = 0; i < sizeof notkey / sizeof notkey[0]; i++) {
		rc = rf_key_load(tpath(notkey[i]), &k, &e);
		snprintf(want, sizeof want, "%s: not an Ed25519 private key in "
		    "PEM", tpath(notkey[i]));
		CHECK(rc == RF_EUSAGE && strcmp(e.msg, want) == 0, "%s: %d %s",
		    notkey[i], rc, e.msg);
	}
	EVP_PKEY_free(ek);

	/* Generation. */
	char gpub[RF_PUBKEY_LEN + 1], gpub2[RF_PUBKEY_LEN + 1];
	struct stat st;
	rc = rf_key_generate(tpath("gen.pem"), gpub, &e);
	CHECK(rc == 0 && strlen(gpub) == RF_PUBKEY_LEN, "generate: %d %s", rc,
	    e.msg);
	CHECK(lstat(tpath("gen.pem"), &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 07777) == 0600, "generated key mode %04o",
	    (unsigned)(st.st_mode & 07777));
	rc = rf_key_load(tpath("gen.pem"), &k, &e);
	CHECK(rc == 0, "load generated: %d %s", rc, e.msg);
	if (rc == 0) {
		rf_key_public(k, kpub);
		CHECK(strcmp(kpub, gpub) == 0, "generated public %s != %s",
		    kpub, gpub);
		CHECK(rf_key_sign(k, "hello", 5, sig, &e) == 0 &&
		    rf_sig_verify(gpub, "hello", 5, sig, &e) == 0,
		    "generated key: sign and verify: %s", e.msg);
		CHECK(rf_sig_verify(gpub, "hellp", 5, sig, &e) == RF_ECHECK,
		    "generated key: wrong message verified");
		CHECK(rf_sig_verify(pubs[0], "hello", 5, sig, &e) == RF_ECHECK,
		    "generated key: another key verified");
		rf_key_free(k);
	}
	size_t glen;
	char *before = slurp(tpath("gen.pem"), &glen);
	rc = rf_key_generate(tpath("gen.pem"), gpub2, &e);
	snprintf(want, sizeof want, "%s: already exists", tpath("gen.pem"));
	CHECK(rc == RF_EUSAGE && strcmp(e.msg, want) == 0,
	    "generate over a key: %d %s", rc, e.msg);
	size_t alen;
	char *after = slurp(tpath("gen.pem"), &alen);
	CHECK(alen == glen && memcmp(before, after, glen) == 0,
	    "generate changed an existing key");
	free(before);
	free(after);

	CHECK(symlink("nowhere.pem", tpath("dangling.pem")) == 0, "symlink");
	rc = rf_key_generate(tpath("dangling.pem"), gpub2, &e);
	snprintf(want, sizeof want, "%s: already exists", tpath("dangling.pem"));
	CHECK(rc == RF_EUSAGE && strcmp(e.msg, want) == 0 &&
	    lstat(tpath("nowhere.pem"), &st) < 0,
	    "generate through a dangling link: %d %s", rc, e.msg);

	rc = rf_key_generate(tpath("no/such/dir.pem"), gpub2, &e);
	snprintf(want, sizeof want, "%s: No such file or directory",
	    tpath("no/such/dir.pem"));
	CHECK(rc == RF_EIO && strcmp(e.msg, want) == 0,
	    "generate in a missing directory: %d %s", rc, e.msg);

	rc = rf_key_generate(tpath("gen2.pem"), gpub2, &e);
	CHECK(rc == 0 && strcmp(gpub, gpub2) != 0, "second key: %d %s", rc,
	    e.msg);
	CHECK(count_tmp() == 0, "temporary files left in %s", tdir);
}

static void
test_trusted(void)
{
	char pub[3][RF_PUBKEY_LEN + 1], xpub[RF_PUBKEY_LEN + 1];
	char text[4096], want[4096];
	unsigned char raw[32];
	const rf_signer *s;
	rf_trusted t;
	rf_err e;
	int rc;

	for (int i = 0; i < 3; i++) {
		memset(raw, 0, sizeof raw);
		raw[0] = 9;	/* any 32 bytes are an Ed25519 public key's text */
		raw[1] = (unsigned char)i;
		spki_text(spki_ed25519, raw, pub[i]);
	}
	spki_text(spki_x25519, raw, xpub);

	snprintf(text, sizeof text,
	    "# trusted signers\n"
	    "\n"
	    "alice  publisher,reviewer  %s\n"
	    " \t \n"
	    "bob@example.org\treviewer\t%s  \r\n"
	    "   # an indented comment\n"
	    "Carol.X_y-9 publisher %s", pub[0], pub[1], pub[2]);
	put(tpath("trusted"), text, strlen(text), 0644);
	rc = rf_trusted_load(tpath("trusted"), &t, &e);
	CHECK(rc == 0, "trusted: %d %s", rc, e.msg);
	if (rc == 0) {
		CHECK(t.n == 3 && strcmp(t.path, tpath("trusted")) == 0,
		    "trusted: %zu signers", t.n);
		CHECK(t.n == 3 && strcmp(t.s[0].name, "alice") == 0 &&
		    t.s[0].nroles == 2 &&
		    strcmp(t.s[0].roles[0], "publisher") == 0 &&
		    strcmp(t.s[0].roles[1], "reviewer") == 0 &&
		    strcmp(t.s[0].pub, pub[0]) == 0 &&
		    strcmp(t.s[1].name, "bob@example.org") == 0 &&
		    t.s[1].nroles == 1 &&
		    strcmp(t.s[1].roles[0], "reviewer") == 0 &&
		    strcmp(t.s[1].pub, pub[1]) == 0 &&
		    strcmp(t.s[2].name, "Carol.X_y-9") == 0 &&
		    t.s[2].nroles == 1 && strcmp(t.s[2].pub, pub[2]) == 0,
		    "trusted: wrong contents");
		s = rf_trusted_find(&t, pub[1]);
		CHECK(s != NULL && s == &t.s[1], "find bob");
		CHECK(rf_trusted_find(&t, xpub) == NULL, "found a stranger");
		CHECK(s != NULL && rf_signer_has_role(s, "reviewer") &&
		    !rf_signer_has_role(s, "publisher"), "bob's roles");
		s = rf_trusted_find(&t, pub[0]);
		CHECK(s != NULL && rf_signer_has_role(s, "publisher") &&
		    rf_signer_has_role(s, "reviewer") &&
		    !rf_signer_has_role(s, "review") &&
		    !rf_signer_has_role(s, "reviewers") &&
		    !rf_signer_has_role(s, "publisher,reviewer") &&
		    !rf_signer_has_role(s, ""), "alice's roles");
		rf_trusted_free(&t);
		CHECK(t.s == NULL && t.n == 0 && t.path == NULL, "trusted_free");
	}

	put(tpath("trusted"), "", 0, 0644);
	rc = rf_trusted_load(tpath("trusted"), &t, &e);
	CHECK(rc == 0 && t.n == 0, "empty trusted file: %d", rc);
	rf_trusted_free(&t);

	/* A line of any length. */
	size_t big = 100000;
	char *longl = malloc(big + 200);
	memset(longl, 'n', big);
	snprintf(longl + big, 200, " signer %s\n", pub[0]);
	put(tpath("trusted"), longl, strlen(longl), 0644);
	free(longl);
	rc = rf_trusted_load(tpath("trusted"), &t, &e);
	CHECK(rc == 0 && t.n == 1 && strlen(t.s[0].name) == big,
	    "long name: %d %s", rc, e.msg);
	rf_trusted_free(&t);

	static const struct {
		const char *text;	/* @1 to @3: pub[0..2], @X: xpub */
		int line;
		const char *why;
	} bad[] = {
		{ "# c\nalice publisher\n", 2, "expected NAME ROLES PUBKEY" },
		{ "alice @1\n", 1, "expected NAME ROLES PUBKEY" },
		{ "alice publisher @1 extra\n", 1, "expected NAME ROLES PUBKEY" },
		{ "alice publisher @1 #note\n", 1, "expected NAME ROLES PUBKEY" },
		{ "alice,bob publisher @1\n", 1, "bad name" },
		{ "al!ce publisher @1\n", 1, "bad name" },
		{ "al/ce publisher @1\n", 1, "bad name" },
		{ "\n\nalice Publisher @1\n", 3, "bad role" },
		{ "alice publisher, @1\n", 1, "bad role" },
		{ "alice ,publisher @1\n", 1, "bad role" },
		{ "alice pub,,rev @1\n", 1, "bad role" },
		{ "alice pub_x @1\n", 1, "bad role" },
		{ "alice , @1\n", 1, "bad role" },
		{ "alice publisher @1x\n", 1, "not an Ed25519 public key" },
		{ "alice publisher @X\n", 1, "not an Ed25519 public key" },
		{ "alice publisher AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
		    1, "not an Ed25519 public key" },
		{ "alice publisher MCowBQYDK2VwAyEA\n", 1,
		    "not an Ed25519 public key" },
		{ "alice publisher @1\nbob reviewer @2\n# c\ncarol publisher @1\n",
		    4, "key listed twice (also on line 1)" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = 0;
		for (const char *c = bad[i].text; *c != '\0'; c++) {
			const char *sub = NULL;
			if (c[0] == '@' && c[1] >= '1' && c[1] <= '3')
				sub = pub[c[1] - '1'];
			else if (c[0] == '@' && c[1] == 'X')
				sub = xpub;
			if (sub != NULL) {
				memcpy(text + n, sub, RF_PUBKEY_LEN);
				n += RF_PUBKEY_LEN;
				c++;
			} else
				text[n++] = *c;
		}
		put(tpath("trusted"), text, n, 0644);
		rc = rf_trusted_load(tpath("trusted"), &t, &e);
		snprintf(want, sizeof want, "%s:%d: %s", tpath("trusted"),
		    bad[i].line, bad[i].why);
		CHECK(rc == RF_EDATA && strcmp(e.msg, want) == 0 &&
		    t.s == NULL && t.n == 0 && t.path == NULL,
		    "trusted case %zu: %d %s", i, rc, e.msg);
	}
	/* A NUL byte in a name. */
	snprintf(text, sizeof text, "a b publisher %s\n", pub[0]);
	text[1] = '\0';
	put(tpath("trusted"), text, strlen(text + 2) + 2, 0644);
	rc = rf_trusted_load(tpath("trusted"), &t, &e);
	snprintf(want, sizeof want, "%s:1: bad name", tpath("trusted"));
	CHECK(rc == RF_EDATA && strcmp(e.msg, want) == 0, "NUL in name: %d %s",
	    rc, e.msg);

	rc = rf_trusted_load(tdir, &t, &e);
	snprintf(want, sizeof want, "%s: Is a directory", tdir);
	CHECK(rc == RF_EIO && strcmp(e.msg, want) == 0 && t.path == NULL,
	    "trusted file is a directory: %d %s", rc, e.msg);
	rc = rf_trusted_load(tpath("none"), &t, &e);
	snprintf(want, sizeof want, "%s: No such file or directory",
	    tpath("none"));
	CHECK(rc == RF_EIO && strcmp(e.msg, want) == 0 && t.path == NULL,
	    "missing trusted file: %d %s", rc, e.msg);
}

static void
test_sign(void)
{
	const char *tmp = getenv("TMPDIR");
	rf_err e;

	snprintf(tdir, sizeof tdir, "%s/unit-sign.XXXXXX",
	    tmp != NULL && *tmp != '\0' && strlen(tmp) < 40 ? tmp : "/tmp");
	if (mkdtemp(tdir) == NULL) {
		fprintf(stderr, "unit: %s: %s\n", tdir, strerror(errno));
		exit(2);
	}
	test_base64();
	test_keys();
	test_trusted();
	test_report();
	CHECK(rf_rmtree(tdir, &e) == 0, "remove %s: %s", tdir, e.msg);
}

/* rf_json_cmp: a strictly ascending chain, equal spellings, random integers. */
static void
test_cmp(void)
{
	static const char *asc[] = {
		"null", "false", "true",
		"-1e400", "-18446744073709551617", "-18446744073709551616",
		"-2.5", "-2", "-1.9999999999999999999", "0", "1e-400",
		"0.000001", "0.00001", "0.5", "1", "1.00000000000000000001",
		"9007199254740992", "9007199254740993", "1e16", "1.5e16",
		"18446744073709551616", "1e400",
		"\"\"", "\"A\"", "\"Z\"", "\"a\"", "\"ab\"", "\"b\"",
		"\"cafz\"", "\"caf\\u00e9\"", "\"\xe2\x82\xac\"", "\"\\ud83d\\ude00\"",
		/* Containers by canonical bytes: ',' < ']' and '"' < '}'. */
		"[1,2]", "[1]", "[2]", "[]", "{\"a\":1}", "{\"b\":0}", "{}",
	};
	static const char *eq[][2] = {
		{ "0", "-0" }, { "0", "0.0e5" }, { "1", "1.0" }, { "1", "10e-1" },
		{ "1", "0.1E1" }, { "100", "1e2" }, { "-2.50", "-25e-1" },
		{ "123.456", "123456e-3" }, { "0.001", "1E-3" },
		{ "\"caf\\u00e9\"", "\"caf\xc3\xa9\"" }, { "\"\\/\"", "\"/\"" },
		{ "{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1.0}" }, { "[1.0]", "[1]" },
	};
	size_t n = sizeof asc / sizeof asc[0];

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int want = (i > j) - (i < j);
			int got = rf_json_cmp(asc[i], strlen(asc[i]), asc[j],
			    strlen(asc[j]));
			CHECK(got == want, "cmp(%s, %s) = %d, want %d", asc[i],
			    asc[j], got, want);
		}
	for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++) {
		CHECK(rf_json_cmp(eq[i][0], strlen(eq[i][0]), eq[i][1],
		    strlen(eq[i][1])) == 0, "cmp(%s, %s) != 0", eq[i][0], eq[i][1]);
		CHECK(rf_json_cmp(eq[i][1], strlen(eq[i][1]), eq[i][0],
		    strlen(eq[i][0])) == 0, "cmp(%s, %s) != 0", eq[i][1], eq[i][0]);
	}
	/* Integers in three spellings against C's comparison. */
	srand(7);
	for (int k = 0; k < 20000; k++) {
		long long a = ((long long)rand() << 32 | rand()) % 2000003 - 1000001;
		long long b = k % 3 ? a + rand() % 5 - 2 : -a;
		char x[64], y[64];
		snprintf(x, sizeof x, k % 2 ? "%lld" : "%lld.000", a);
		snprintf(y, sizeof y, k % 4 < 2 ? "%lld" : "%llde0", b);
		int want = (a > b) - (a < b);
		CHECK(rf_json_cmp(x, strlen(x), y, strlen(y)) == want,
		    "cmp(%s, %s) != %d", x, y, want);
	}
}

/*
 * Spilling: every entry comes back from the bucket its digest names, once,
 * in the order added, whether the bucket stayed in its buffer or went to
 * disk, with entries larger than a read; a bucket spilled again at the next
 * level keeps its entries.
 */
static void
test_spill(void)
{
	unsigned char keyd[RF_KEYD_LEN];
	rf_spill *s, *s2;
	rf_spill_iter it;
	rf_err e;
	const unsigned char *k;
	const char *p;
	size_t n, total = 0;
	uint64_t x = 1;
	enum { N = 20000 };
	static unsigned char seen[N];
	static char big[600 << 10];

	CHECK(rf_spill_new(16, 0, &s, &e) == 0, "spill: %s", e.msg);
	CHECK(rf_spill_new(3, 0, &s2, &e) == RF_EUSAGE, "3 buckets accepted");
	memset(big, 'x', sizeof big);
	for (uint32_t i = 0; i < N; i++) {
		char rec[64];
		x = x * 6364136223846793005u + 1442695040888963407u;
		for (int j = 0; j < RF_KEYD_LEN; j++)
			keyd[j] = (unsigned char)(x >> (8 * (j % 8)) ^ j);
		int len = snprintf(rec, sizeof rec, "%u", i);
		/* A few entries larger than a read, in bucket 5 and others. */
		if (i % 5000 == 7) {
			memcpy(big, rec, (size_t)len);
			CHECK(rf_spill_add(s, keyd, big, sizeof big, &e) == 0,
			    "add big: %s", e.msg);
		} else
			CHECK(rf_spill_add(s, keyd, rec, (size_t)len, &e) == 0,
			    "add: %s", e.msg);
	}
	for (unsigned b = 0; b < rf_spill_count(s); b++) {
		long last = -1;
		uint64_t got = 0;
		CHECK(rf_spill_open(s, b, &it, &e) == 0, "open: %s", e.msg);
		int rc;
		while ((rc = rf_spill_next(&it, &k, &p, &n, &e)) == 1) {
			char num[16];
			size_t m = n < 15 ? n : strspn(p, "0123456789");
			memcpy(num, p, m);
			num[m] = '\0';
			long i = atol(num);
			CHECK(i > last && i < N && !seen[i], "bucket %u: entry %ld "
			    "after %ld", b, i, last);
			CHECK(rf_spill_bucket(s, k) == b && k[0] >> 4 == b,
			    "entry %ld (digest %02x...) in bucket %u", i, k[0], b);
			CHECK(i % 5000 == 7 ? n == sizeof big : n == m,
			    "entry %ld: %zu bytes", i, n);
			if (i >= 0 && i < N)
				seen[i] = 1;
			last = i;
			got++;
		}
		CHECK(rc == 0, "bucket %u: %s", b, e.msg);
		CHECK(got == rf_spill_entries(s, b), "bucket %u: %llu of %llu",
		    b, (unsigned long long)got,
		    (unsigned long long)rf_spill_entries(s, b));
		total += got;
		rf_spill_close(&it);
	}
	CHECK(total == N, "%zu entries of %d came back", total, N);

	/* Bucket 0 again, at level 1 into 4 buckets: the same entries. */
	uint64_t want = rf_spill_entries(s, 0), again = 0;
	CHECK(rf_spill_new(4, 1, &s2, &e) == 0, "spill: %s", e.msg);
	CHECK(rf_spill_open(s, 0, &it, &e) == 0, "open: %s", e.msg);
	while (rf_spill_next(&it, &k, &p, &n, &e) == 1)
		CHECK(rf_spill_add(s2, k, p, n, &e) == 0, "re-add: %s", e.msg);
	rf_spill_close(&it);
	rf_spill_drop(s, 0);
	CHECK(rf_spill_entries(s, 0) == 0, "dropped bucket still counted");
	for (unsigned b = 0; b < 4; b++) {
		CHECK(rf_spill_open(s2, b, &it, &e) == 0, "open: %s", e.msg);
		while (rf_spill_next(&it, &k, &p, &n, &e) == 1) {
			CHECK(rf_spill_bucket(s, k) == 0, "re-spilled entry "
			    "from another bucket");
			again++;
		}
		rf_spill_close(&it);
	}
	CHECK(again == want && want > 0, "level 1 holds %llu of %llu",
	    (unsigned long long)again, (unsigned long long)want);
	rf_spill_free(s2);
	rf_spill_free(s);
}

/* Collects rf_json_diff's reports as "path: old -> new" lines. */
static int
diff_line(void *arg, const char *path, size_t pn, const char *a, size_t an,
    const char *b, size_t bn)
{
	rf_buf *out = arg;
	char line[512];

	snprintf(line, sizeof line, "%.*s: %.*s -> %.*s\n", (int)pn, path,
	    a ? (int)an : 1, a ? a : "-", b ? (int)bn : 1, b ? b : "-");
	return rf_buf_adds(out, line);
}

/*
 * Removing ignored fields, and the field-by-field comparison under which
 * a keyed diff counts records changed or tolerated.
 */
static void
test_json_fields(void)
{
	static const struct {
		const char *in, *paths, *want;
	} st[] = {
		{ "{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":[1,2]}", "b.c",
		  "{\"a\":1,\"b\":{\"d\":3},\"e\":[1,2]}" },
		{ "{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":[1,2]}", "a b",
		  "{\"e\":[1,2]}" },
		{ "{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":[1,2]}", "e.0 x.y",
		  "{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":[2]}" },
		{ "{\"a.b\":1,\"c\":2}", "/a.b", "{\"c\":2}" },
		{ "{\"t\":\"x\"}", "t", "{}" },
		{ "[1,2]", "a", "[1,2]" },
	};
	rf_buf out = { 0 }, c = { 0 };
	rf_err e;

	for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
		rf_path *p[4];
		size_t np = 0;
		char spec[64], *tok, *save;
		snprintf(spec, sizeof spec, "%s", st[i].paths);
		for (tok = strtok_r(spec, " ", &save); tok != NULL;
		    tok = strtok_r(NULL, " ", &save))
			CHECK(rf_path_compile(tok, &p[np++], &e) == 0, "%s", tok);
		out.len = c.len = 0;
		CHECK(rf_json_canon(st[i].in, strlen(st[i].in), &c, &e) == 0 &&
		    rf_json_strip(c.p, c.len, p, np, &out) == 0 &&
		    out.len == strlen(st[i].want) &&
		    memcmp(out.p, st[i].want, out.len) == 0,
		    "strip %s from %s: %.*s", st[i].paths, st[i].in,
		    (int)out.len, out.p);
		while (np > 0)
			rf_path_free(p[--np]);
	}

	static const struct {
		const char *a, *b;
		double abs, rel;
		long n;
		const char *want;
	} dt[] = {
		{ "{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}", 0, 0, 0, "" },
		{ "{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":3}", 0, 0, 1,
		  "b: 2 -> 3\n" },
		{ "{\"a\":1}", "{\"b\":1}", 0, 0, 2, "a: 1 -> -\nb: - -> 1\n" },
		{ "{\"p\":{\"q\":[1,{\"r\":true}]}}", "{\"p\":{\"q\":[1,{\"r\":false}]}}",
		  0, 0, 1, "p.q.1.r: true -> false\n" },
		{ "{\"t\":[1,2]}", "{\"t\":[1,2,3]}", 0, 0, 1,
		  "t: [1,2] -> [1,2,3]\n" },
		{ "{\"x\":12.5}", "{\"x\":12.51}", 0.01, 0, 0, "" },
		{ "{\"x\":12.5}", "{\"x\":12.52}", 0.01, 0, 1,
		  "x: 12.5 -> 12.52\n" },
		{ "{\"x\":1000}", "{\"x\":1001}", 0, 0.001, 0, "" },
		{ "{\"x\":1000}", "{\"x\":1002}", 0, 0.001, 1,
		  "x: 1000 -> 1002\n" },
		{ "{\"x\":\"1\"}", "{\"x\":1}", 1, 1, 1, "x: \"1\" -> 1\n" },
		{ "{\"a.b\":1}", "{\"a.b\":2}", 0, 0, 1, "/a.b: 1 -> 2\n" },
		{ "{\"x/y\":{\"0\":1}}", "{\"x/y\":{\"0\":2}}", 0, 0, 1,
		  "/x~1y/0: 1 -> 2\n" },
		{ "{\"\\u00e9\":1,\"z\":1}", "{\"\\u00e9\":2,\"z\":1}", 0, 0, 1,
		  "\xc3\xa9: 1 -> 2\n" },
		{ "1", "2", 0, 0, 1, ": 1 -> 2\n" },
	};
	for (size_t i = 0; i < sizeof dt / sizeof dt[0]; i++) {
		rf_buf a = { 0 }, b = { 0 };
		CHECK(rf_json_canon(dt[i].a, strlen(dt[i].a), &a, &e) == 0 &&
		    rf_json_canon(dt[i].b, strlen(dt[i].b), &b, &e) == 0,
		    "canon %zu", i);
		out.len = 0;
		long n = rf_json_diff(a.p, a.len, b.p, b.len, dt[i].abs,
		    dt[i].rel, diff_line, &out);
		CHECK(n == dt[i].n && out.len == strlen(dt[i].want) &&
		    memcmp(out.p, dt[i].want, out.len) == 0,
		    "diff %s %s: %ld differences:\n%.*s", dt[i].a, dt[i].b, n,
		    (int)out.len, out.p);
		rf_buf_free(&a);
		rf_buf_free(&b);
	}
	rf_buf_free(&out);
	rf_buf_free(&c);
}

struct dcoll {
	rf_buf out;
};

static int
dcollect(const rf_diff_item *it, void *arg)
{
	struct dcoll *c = arg;
	char line[512];
	static const char *kind[] = { "", "changed", "added", "removed",
	    "duplicate" };

	snprintf(line, sizeof line, "%s %.*s %llu %llu\n", kind[it->kind],
	    (int)it->keylen, it->key, (unsigned long long)it->nold,
	    (unsigned long long)it->nnew);
	return rf_buf_adds(&c->out, line);
}

/* Feeds generated records to a keyed diff with the given budget. */
static void
run_diff(size_t memory, rf_diff_counts *cnt, rf_buf *out)
{
	rf_path *key, *ign;
	rf_diff *d;
	rf_err e;
	rf_buf buf = { 0 }, scratch = { 0 };
	rf_sha256 *h = rf_sha256_new();
	struct dcoll c = { { 0 } };

	rf_path_compile("id", &key, &e);
	rf_path_compile("ts", &ign, &e);
	rf_diff_opts o = { .keys = &key, .nkeys = 1, .ignore = &ign,
	    .nignore = 1, .abs_tol = 0.005, .memory = memory };
	CHECK(rf_diff_new(&o, &d, &e) == 0, "diff: %s", e.msg);
	for (int side = 0; side < 2; side++)
		for (int i = 0; i < 5000; i++) {
			char rec[128];
			int id = i, n = i;
			double x = i / 10.0;
			if (side == 1 && i % 100 == 1)
				n++;			/* changed */
			if (side == 1 && i % 100 == 2)
				x += 0.001;		/* tolerated */
			if (side == 1 && i % 100 == 3)
				id += 100000;		/* removed and added */
			if (side == 0 && i % 1000 == 4)
				id = 5;			/* duplicates in old */
			snprintf(rec, sizeof rec, "{\"n\":%d, \"x\":%.4f, "
			    "\"id\":\"k%d\",\"ts\":%d}", n, x, id, side * 7 + i);
			rf_drec r;
			buf.len = 0;
			CHECK(rf_diff_prepare(&o, rec, strlen(rec), &buf,
			    &scratch, h, &r, &e) == 0, "prepare: %s", e.msg);
			CHECK(rf_diff_add(d, side, 0, (uint64_t)i + 1, &r,
			    buf.p, &e) == 0, "add: %s", e.msg);
		}
	CHECK(rf_diff_finish(d, dcollect, &c, cnt, &e) == 0, "finish: %s",
	    e.msg);
	*out = c.out;
	rf_diff_free(d);
	rf_path_free(key);
	rf_path_free(ign);
	rf_buf_free(&buf);
	rf_buf_free(&scratch);
	rf_sha256_free(h);
}

/*
 * The keyed diff: every kind of difference counted, the counts adding up,
 * and the same differences in the same order when it must spill (also
 * twice over, with a budget smaller than one bucket).
 */
static void
test_diff(void)
{
	rf_diff_counts a, b, c;
	rf_buf da, db, dc;
	rf_err e;

	run_diff((size_t)64 << 20, &a, &da);
	CHECK(a.old == 5000 && a.new_ == 5000, "old %llu new %llu",
	    (unsigned long long)a.old, (unsigned long long)a.new_);
	/* k4, k1004, ... moved to k5 in old: in new only, so added. */
	CHECK(a.changed == 50 && a.tolerated == 50 && a.added == 55 &&
	    a.removed == 50, "changed %llu tolerated %llu added %llu removed %llu",
	    (unsigned long long)a.changed, (unsigned long long)a.tolerated,
	    (unsigned long long)a.added, (unsigned long long)a.removed);
	/* Five records moved to id k5 in old: k5 is duplicated there. */
	CHECK(a.dup_keys_old == 1 && a.dup_records_old == 6 &&
	    a.dup_keys_new == 0 && a.dup_records_new == 1, "duplicates %llu "
	    "%llu %llu %llu", (unsigned long long)a.dup_keys_old,
	    (unsigned long long)a.dup_records_old,
	    (unsigned long long)a.dup_keys_new,
	    (unsigned long long)a.dup_records_new);
	CHECK(a.old == a.unchanged + a.tolerated + a.changed + a.removed +
	    a.dup_records_old && a.new_ == a.unchanged + a.tolerated +
	    a.changed + a.added + a.dup_records_new, "counts do not add up");
	CHECK(a.spilled == 0, "spilled with room to spare");
	run_diff((size_t)64 << 10, &b, &db);
	run_diff(2000, &c, &dc);
	CHECK(b.spilled > 0 && c.spilled > b.spilled, "did not spill: %llu %llu",
	    (unsigned long long)b.spilled, (unsigned long long)c.spilled);
	CHECK(da.len > 0 && da.len == db.len && memcmp(da.p, db.p, da.len) == 0,
	    "spilled diff differs");
	CHECK(da.len == dc.len && memcmp(da.p, dc.p, da.len) == 0,
	    "diff spilled twice over differs");
	CHECK(a.changed == b.changed && a.added == c.added &&
	    a.unchanged == c.unchanged && a.tolerated == c.tolerated,
	    "spilled counts differ");
	rf_buf_free(&da);
	rf_buf_free(&db);
	rf_buf_free(&dc);

	/* A record without the key, and one that is not JSON. */
	rf_path *key;
	rf_buf buf = { 0 }, scratch = { 0 };
	rf_sha256 *h = rf_sha256_new();
	rf_drec r;
	rf_path_compile("id", &key, &e);
	rf_diff_opts o = { .keys = &key, .nkeys = 1, .memory = 1 << 20 };
	CHECK(rf_diff_prepare(&o, "{\"x\":1}", 7, &buf, &scratch, h, &r,
	    &e) == RF_EMISSING && strcmp(e.msg, "missing key id") == 0,
	    "missing key: %s", e.msg);
	CHECK(rf_diff_prepare(&o, "{\"x\":", 5, &buf, &scratch, h, &r,
	    &e) == RF_EDATA && buf.len == 0, "bad JSON");
	/* A composite key is the array of its values. */
	rf_path *k2[2];
	rf_path_compile("a", &k2[0], &e);
	rf_path_compile("b.c", &k2[1], &e);
	rf_diff_opts o2 = { .keys = k2, .nkeys = 2, .memory = 1 << 20 };
	CHECK(rf_diff_prepare(&o2, "{\"b\":{\"c\":1.0},\"a\":\"x\"}", 23, &buf,
	    &scratch, h, &r, &e) == 0 && r.keylen == 7 &&
	    memcmp(buf.p + r.keyoff, "[\"x\",1]", 7) == 0,
	    "composite key: %.*s", (int)r.keylen, buf.p + r.keyoff);
	rf_path_free(k2[0]);
	rf_path_free(k2[1]);
	rf_path_free(key);
	rf_buf_free(&buf);
	rf_buf_free(&scratch);
	rf_sha256_free(h);
}

/* ---- rules files (lib/rules.c) ------------------------------------------ */

/* Checks records against rules and feeds them in order: a finished state. */
static rf_rules_state *
rules_run(const rf_rules *rs, const char *const *recs, size_t n,
    size_t memory)
{
	rf_rules_scratch *sc;
	rf_rules_state *st;
	rf_buf out = { 0 };
	rf_err e;

	if (rf_rules_scratch_new(rs, &sc, &e) < 0 ||
	    rf_rules_state_new(rs, memory, 5, &st, &e) < 0) {
		fprintf(stderr, "unit: rules: %s\n", e.msg);
		exit(2);
	}
	for (size_t i = 0; i < n; i++) {
		out.len = 0;
		CHECK(rf_json_validate(recs[i], strlen(recs[i]), &e) == 0,
		    "record %zu: %s", i, e.msg);
		CHECK(rf_rules_check(rs, sc, recs[i], strlen(recs[i]), &out,
		    &e) == 0, "check: %s", e.msg);
		CHECK(rf_rules_feed(st, out.p, out.len, "t.ndjson", i + 1,
		    &e) == 0, "feed: %s", e.msg);
	}
	CHECK(rf_rules_finish(st, &e) == 0, "finish: %s", e.msg);
	rf_buf_free(&out);
	rf_rules_scratch_free(sc);
	return st;
}

/* One rule over records: "applies broken" and the first reason, as text. */
static void
rule_case(const char *rule, const char *const *recs, size_t n,
    const char *want)
{
	rf_rules *rs;
	rf_rules_state *st;
	rf_rule_result r;
	rf_err e;
	char got[512];

	if (rf_rules_parse(rule, strlen(rule), "R", &rs, &e) < 0) {
		CHECK(0, "%s: %s", rule, e.msg);
		return;
	}
	st = rules_run(rs, recs, n, RF_RULES_MEMORY_DEFAULT);
	rf_rules_result(st, 0, &r);
	snprintf(got, sizeof got, "%llu %llu%s%s", (unsigned long long)r.applies,
	    (unsigned long long)r.broken, r.nexamples > 0 ? " " : "",
	    r.nexamples > 0 ? r.examples[0].reason : "");
	CHECK(strcmp(got, want) == 0, "%s: got '%s', want '%s'", rule, got,
	    want);
	CHECK(r.ok == (r.broken == 0) || strncmp(rule, "count", 5) == 0,
	    "%s: ok and broken disagree", rule);
	rf_rules_state_free(st);
	rf_rules_free(rs);
}

static void
test_rules(void)
{
	static const char good[] =
	    "# every rule, in a realistic order\n"
	    "count 1 -\n"
	    "\n"
	    "required event_id\n"
	    "  not-null ts   # a comment\n"
	    "type user.id string|integer\n"
	    "enum type purchase view \"log in\" 'sign up' 1 1.0 true null\n"
	    "min amount 0\n"
	    "max /amount 1e6 when type purchase\n"
	    "pattern user.email '^[^@ ]+@[^@ ]+$'\n"
	    "max-length name 64\n"
	    "timestamp ts utc\n"
	    "timestamp received\n"
	    "currency currency when type purchase\n"
	    "unique event_id\n"
	    "unique user.id ts\n"
	    "monotonic seq by user.id\n"
	    "monotonic seq by user.id session\n"
	    "null-ratio coupon 99.5%\n"
	    "count - 1000000\r\n"
	    "required \"/a b/c\"";
	static const unsigned long lines[] = { 2, 4, 5, 6, 7, 8, 9, 10, 11,
	    12, 13, 14, 15, 16, 17, 18, 19, 20, 21 };
	rf_rules *rs;
	rf_err e;
	int rc;

	rc = rf_rules_parse(good, strlen(good), "R", &rs, &e);
	CHECK(rc == 0, "good rules: %s", rc < 0 ? e.msg : "");
	if (rc == 0) {
		CHECK(rf_rules_count(rs) == sizeof lines / sizeof lines[0],
		    "%zu rules", rf_rules_count(rs));
		for (size_t i = 0; i < rf_rules_count(rs) &&
		    i < sizeof lines / sizeof lines[0]; i++)
			CHECK(rf_rules_line(rs, i) == lines[i], "rule %zu on "
			    "line %lu", i, rf_rules_line(rs, i));
		CHECK(strcmp(rf_rules_text(rs, 2), "not-null ts") == 0,
		    "text '%s'", rf_rules_text(rs, 2));
		CHECK(strcmp(rf_rules_text(rs, 4), "enum type purchase view "
		    "\"log in\" 'sign up' 1 1.0 true null") == 0, "text '%s'",
		    rf_rules_text(rs, 4));
		CHECK(strcmp(rf_rules_text(rs, 17), "count - 1000000") == 0,
		    "text '%s'", rf_rules_text(rs, 17));
		rf_rules_free(rs);
	}

	/* A repetition of a group, or after a bracket, is not one of a repetition. */
	{
		static const char ok[] = "pattern x '(a+)+(b{2})*[c]?(d?){2}e'\n";
		CHECK(rf_rules_parse(ok, strlen(ok), "R", &rs, &e) == 0,
		    "rules: %s", e.msg);
		if (rs != NULL)
			rf_rules_free(rs);
	}

	/* Each mistake on line 3, after two good lines: the line is named. */
	static const char *const bad[][2] = {
		{ "frob x", "unknown rule 'frob'" },
		{ "Required x", "unknown rule 'Required'" },
		{ "\"required\" x", "unknown rule '\"required\"'" },
		{ "required", "wrong number of operands: required PATH" },
		{ "required a b", "wrong number of operands" },
		{ "not-null", "wrong number of operands" },
		{ "required a..b", "empty segment in field path 'a..b'" },
		{ "required /a~2", "bad '~' escape" },
		{ "required \"a\\u0000b\"", "cannot hold U+0000" },
		{ "type x", "wrong number of operands" },
		{ "type x strng", "unknown type 'strng'" },
		{ "type x string||null", "unknown type ''" },
		{ "enum x", "wrong number of operands" },
		{ "enum x 1e400", "bad number 1e400" },
		{ "min x", "wrong number of operands" },
		{ "min x abc", "not a number: abc" },
		{ "min x \"5\"", "not a number: \"5\"" },
		{ "max x 01", "not a number: 01" },
		{ "max x -1e999", "bad number" },
		{ "pattern x", "wrong number of operands" },
		{ "pattern x '('", "bad regular expression" },
		{ "pattern x 'a{256}'", "repetition count over 255" },
		{ "pattern x '((a{99}){99}){99}'", "too large" },
		{ "pattern x '((a?){100}){10}'", "too large" },
		{ "pattern x 'a++++++++++'", "a repetition of a repetition" },
		{ "pattern x 'a**'", "a repetition of a repetition" },
		{ "pattern x 'a{2}?'", "a repetition of a repetition" },
		{ "pattern x \"a\\u0000\"", "cannot hold U+0000" },
		{ "max-length x", "wrong number of operands" },
		{ "max-length x -1", "not a whole number: -1" },
		{ "max-length x 1.5", "not a whole number" },
		{ "timestamp x UTC", "takes 'utc' or nothing" },
		{ "timestamp x utc z", "wrong number of operands" },
		{ "currency", "wrong number of operands" },
		{ "unique", "wrong number of operands: unique PATH..." },
		{ "monotonic x", "wrong number of operands" },
		{ "monotonic x by", "wrong number of operands" },
		{ "monotonic x y z", "takes 'by' after its path" },
		{ "null-ratio x 5", "not a percentage" },
		{ "null-ratio x 100.1%", "not a percentage" },
		{ "null-ratio x 1.1234567%", "not a percentage" },
		{ "null-ratio x .5%", "not a percentage" },
		{ "null-ratio x 5.%", "not a percentage" },
		{ "null-ratio x \"5%\"", "not a percentage" },
		{ "count 1", "wrong number of operands: count MIN MAX" },
		{ "count 5 1", "the minimum is more than the maximum" },
		{ "count x -", "not a whole number: x" },
		{ "count -1 -", "not a whole number: -1" },
		{ "count - - when a b", "count takes no 'when'" },
		{ "required x when", "'when' takes a path and a value" },
		{ "required x when a", "'when' takes a path and a value" },
		{ "required x when a b c", "'when' takes a path and a value" },
		{ "required x when a 1e400", "bad number" },
		{ "required x when a..b c", "empty segment" },
		{ "enum x \"open", "without its closing quote" },
		{ "enum x 'open", "without its closing quote" },
		{ "enum x \"a\"b", "must be followed by a blank" },
		{ "enum x 'a'b", "must be followed by a blank" },
		{ "enum x \"\\x\"", "invalid escape" },
		{ "enum x \"\\ud800\"", "lone surrogate" },
		{ "enum x \"a\tb\"", "control character in string" },
		{ "required x\x01", "a control character (0x01)" },
		{ "required x\xc3", "not valid UTF-8" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char file[512], want[256];
		snprintf(file, sizeof file, "count - -\n# fine\n%s\nrequired y\n",
		    bad[i][0]);
		snprintf(want, sizeof want, "R:3: %s", bad[i][1]);
		rs = NULL;
		rc = rf_rules_parse(file, strlen(file), "R", &rs, &e);
		CHECK(rc == RF_EUSAGE && strncmp(e.msg, "R:3: ", 5) == 0 &&
		    strstr(e.msg, bad[i][1]) != NULL, "'%s': %d '%s', want "
		    "'%s'", bad[i][0], rc, rc < 0 ? e.msg : "", want);
		CHECK(rs == NULL || rc == 0, "a set after an error");
		if (rc == 0)
			rf_rules_free(rs);
	}
	static const char *const none[] = { "", "\n", "# a\n  # b\n\t\n", "  " };
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
		rc = rf_rules_parse(none[i], strlen(none[i]), "R", &rs, &e);
		CHECK(rc == RF_EUSAGE && strcmp(e.msg, "R: no rules") == 0,
		    "'%s': %d '%s'", none[i], rc, rc < 0 ? e.msg : "");
	}

	/* Quoting: JSON escapes in "...", nothing in '...', # in a word. */
	static const char *const q[] = {
		"{\"x\":\"a b\"}", "{\"x\":\"c\\\\d e\"}", "{\"x\":\"f#g\"}",
		"{\"x\":\"caf\\u00e9\"}", "{\"x\":\"caf\xc3\xa9\"}",
		"{\"x\":\"it's\"}", "{\"x\":\"#\"}", "{\"x\":\"\\\"\"}",
	};
	rule_case("enum x \"a b\" 'c\\d e' f#g \"caf\\u00e9\" \"it's\" "
	    "\"\\\"\" # \"#\"", q, 8, "8 1 \"#\" is not one of the listed values");
	rule_case("pattern x '^c.*e$'  # a regex, taken literally", q + 1, 1,
	    "1 0");
	rule_case("pattern x \"^caf.{2}$\"", q + 3, 2, "2 0");

	/* integer: no fractional part in the decimal as written. */
	static const char *const ints[] = {
		"{\"n\":1}", "{\"n\":1.0}", "{\"n\":1e2}", "{\"n\":-0}",
		"{\"n\":0.0e-5}", "{\"n\":150e-1}", "{\"n\":100e-2}",
		"{\"n\":1.25e2}", "{\"n\":-7.000}", "{\"n\":1e-400}",
		"{\"n\":1.5}", "{\"n\":12345678901234567890.5}",
	};
	rule_case("type n integer", ints, 9, "9 0");
	rule_case("type n integer", ints + 9, 3,
	    "3 3 1e-400 is not an integer");
	rule_case("type n integer", ints + 10, 1, "1 1 1.5 is not an integer");
	rule_case("type n number", ints, 12, "12 0");
	rule_case("type n string|boolean", ints, 1, "1 1 1 is a number");
	static const char *const kinds[] = {
		"{\"v\":\"s\"}", "{\"v\":1}", "{\"v\":true}", "{\"v\":{}}",
		"{\"v\":[]}", "{\"v\":null}", "{}",
	};
	rule_case("type v string|number|boolean|object|array", kinds, 7, "5 0");
	rule_case("type v null", kinds, 7, "5 5 \"s\" is a string");
	rule_case("type v object", kinds + 4, 1, "1 1 [...] is an array");

	/* enum: compared in canonical form. */
	static const char *const ev[] = {
		"{\"e\":1}", "{\"e\":1.0}", "{\"e\":10e-1}", "{\"e\":\"1\"}",
		"{\"e\":true}", "{\"e\":\"true\"}", "{\"e\":[1]}",
	};
	rule_case("enum e 1", ev, 3, "3 0");
	rule_case("enum e 1.00", ev + 3, 1, "1 1 \"1\" is not one of the "
	    "listed values");
	rule_case("enum e \"1\" true", ev + 3, 3, "3 1 \"true\" is not one "
	    "of the listed values");
	rule_case("enum e 1", ev + 6, 1, "1 1 [...] is not one of the listed "
	    "values");
	rule_case("enum e x when e 1", ev, 4, "3 3 1 is not one of the listed "
	    "values");

	/* min, max: exact decimal comparison. */
	static const char *const nums[] = {
		"{\"a\":9007199254740993}", "{\"a\":\"9\"}",
	};
	rule_case("max a 9007199254740992", nums, 1,
	    "1 1 9007199254740993 is more than 9007199254740992");
	rule_case("min a 9007199254740993", nums, 1, "1 0");
	rule_case("min a 0", nums + 1, 1, "1 1 \"9\" is not a number");

	/* ISO 4217. */
	static const char *const yes[] = { "EUR", "USD", "JPY", "CHF", "XAU",
	    "XXX", "AED", "ZWL" };
	static const char *const no[] = { "eur", "Eur", "EURO", "EU", "",
	    "ABC", "AAA", "ZZZ", "E\0R" };
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		CHECK(rf_currency_valid(yes[i], strlen(yes[i])), "%s", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		CHECK(!rf_currency_valid(no[i], i == 8 ? 3 : strlen(no[i])),
		    "%s", no[i]);

	/* Parser robustness: prefixes and substituted bytes. */
	static const unsigned char subst[] = { 0, '\n', '\r', '\t', ' ', '"',
	    '\'', '#', '|', '%', '\\', '{', '(', '.', '/', '~', '-', 'a', '9',
	    0x80, 0xc3, 0xff };
	size_t len = strlen(good), ok = 0, usage = 0, other = 0;
	char *buf = malloc(len);
	for (size_t n = 0; n <= len; n++) {
		memcpy(buf, good, n);
		rc = rf_rules_parse(buf, n, "R", &rs, &e);
		ok += rc == 0;
		usage += rc == RF_EUSAGE;
		other += rc != 0 && rc != RF_EUSAGE;
		if (rc == 0)
			rf_rules_free(rs);
	}
	for (size_t i = 0; i < len; i++)
		for (size_t k = 0; k < sizeof subst; k++) {
			memcpy(buf, good, len);
			buf[i] = (char)subst[k];
			rc = rf_rules_parse(buf, len, "R", &rs, &e);
			ok += rc == 0;
			usage += rc == RF_EUSAGE || rc == RF_EDATA;
			other += rc != 0 && rc != RF_EUSAGE && rc != RF_EDATA;
			if (rc == 0)
				rf_rules_free(rs);
			else
				CHECK(strncmp(e.msg, "R:", 2) == 0,
				    "message '%s'", e.msg);
		}
	free(buf);
	CHECK(other == 0 && ok > 0 && usage > 0, "robustness: %zu parsed, "
	    "%zu refused, %zu otherwise", ok, usage, other);

	/* unique: the same answer whether its state spilled or not. */
	enum { NREC = 60000 };
	static char recbuf[NREC][48];
	static const char *recs[NREC];
	for (size_t i = 0; i < NREC; i++) {
		snprintf(recbuf[i], sizeof recbuf[i],
		    "{\"id\":%zu,\"g\":%zu,\"s\":%zu}", i * 7919 % 50021,
		    i % 97, i * 31 % 1000);
		recs[i] = recbuf[i];
	}
	const char *two = "unique id\nmonotonic s by g\n";
	rc = rf_rules_parse(two, strlen(two), "R", &rs, &e);
	CHECK(rc == 0, "%s", e.msg);
	if (rc == 0) {
		rf_rules_state *a = rules_run(rs, recs, NREC,
		    RF_RULES_MEMORY_DEFAULT);
		rf_rules_state *b = rules_run(rs, recs, NREC,
		    RF_RULES_MEMORY_MIN);
		CHECK(rf_rules_spilled(a) == 0 && rf_rules_spilled(b) > 0,
		    "spilled %llu and %llu bytes",
		    (unsigned long long)rf_rules_spilled(a),
		    (unsigned long long)rf_rules_spilled(b));
		for (size_t i = 0; i < 2; i++) {
			rf_rule_result x, y;
			rf_rules_result(a, i, &x);
			rf_rules_result(b, i, &y);
			CHECK(x.applies == NREC && x.applies == y.applies &&
			    x.broken == y.broken && x.nexamples == 5 &&
			    y.nexamples == 5, "rule %zu: %llu/%llu, %llu/%llu",
			    i, (unsigned long long)x.broken,
			    (unsigned long long)x.applies,
			    (unsigned long long)y.broken,
			    (unsigned long long)y.applies);
			for (size_t k = 0; k < x.nexamples && k < y.nexamples; k++)
				CHECK(x.examples[k].line == y.examples[k].line &&
				    strcmp(x.examples[k].reason,
				    y.examples[k].reason) == 0, "example %zu: "
				    "%s / %s", k, x.examples[k].reason,
				    y.examples[k].reason);
		}
		/* 60000 ids of 50021 values: the rest are duplicates. */
		rf_rule_result u;
		rf_rules_result(a, 0, &u);
		CHECK(u.broken == NREC - 50021, "unique: %llu broken",
		    (unsigned long long)u.broken);
		rf_rules_state_free(a);
		rf_rules_state_free(b);
		rf_rules_free(rs);
	}
}

/* ---- what the fuzzers found (fuzz/README.md) ------------------------------ */

static int
root_path(void *arg, const char *path, size_t pn, const char *a, size_t an,
    const char *b, size_t bn)
{
	*(const char **)arg = path;
	return 0;
}

static void
test_fuzz_regressions(void)
{
	rf_buf empty = { 0 }, out = { 0 };
	rf_err e;

	/*
	 * An empty rf_buf is (NULL, 0): UBSan (make sanitize) saw NULL + 0
	 * in rf_utf8_valid and the parser.
	 */
	CHECK(rf_utf8_valid(empty.p, empty.len), "utf8_valid of nothing");
	CHECK(rf_json_validate(empty.p, empty.len, &e) == RF_EDATA,
	    "validate nothing");
	CHECK(rf_json_canon(empty.p, empty.len, &out, &e) == RF_EDATA &&
	    out.len == 0, "canon nothing");
	rf_buf_free(&out);

	/*
	 * rf_json_strip with the empty pointer, a path of no segments, read
	 * its first segment past the end of the path (ASan, fuzz/path.c).
	 */
	rf_path *whole;
	const char *rec = "{\"n\":\"1\",\"\":2}";
	CHECK(rf_path_compile("", &whole, &e) == 0, "compile ''");
	CHECK(rf_json_strip(rec, strlen(rec), &whole, 1, &out) == 0 &&
	    out.len == strlen(rec) && memcmp(out.p, rec, out.len) == 0,
	    "strip '' stripped something");
	rf_path_free(whole);
	rf_buf_free(&out);

	/*
	 * Values that differ as a whole are at path "", which was passed as
	 * NULL (UBSan in fuzz/jsondiff.c, and in refill-verify's memcmp).
	 */
	const char *at = NULL;
	CHECK(rf_json_diff("[1]", 3, "{}", 2, 0, 0, root_path, &at) == 1 &&
	    at != NULL && at[0] == '\0', "the path of the values is not \"\"");

	/*
	 * A stamp added again, at the output path it holds itself: the
	 * duplicate was freed before its place was read (ASan, fuzz/stamp.c).
	 */
	char js[2048];
	rf_lineage *g;
	rf_stamp st;
	mkstamp(js, sizeof js, "o/out.ndjson", EMPTY, "in.ndjson", EMPTY,
	    "null");
	CHECK(rf_lineage_new(&g, &e) == 0, "lineage_new");
	for (int i = 0; i < 2; i++)
		CHECK(rf_stamp_parse(js, strlen(js), &st, &e) == 0 &&
		    rf_lineage_add(g, &st, i == 0 ? "first" : st.out_path,
		    &e) == 0, "add %d: %s", i, e.msg);
	CHECK(rf_lineage_link(g, &e) == 0, "link: %s", e.msg);
	const rf_lnode *nd = rf_lineage_node(g, 0);
	CHECK(rf_lineage_size(g) == 2 && nd->nplaces == 2 &&
	    strcmp(nd->places[0], "first") == 0 &&
	    strcmp(nd->places[1], "o/out.ndjson") == 0, "places of a duplicate");
	rf_lineage_free(g);
}

/* Applies the migrations args (op, arg pairs) to rec; want NULL: bad. */
static void
mig_case(const char *rec, const char *want, const char *why, int nops, ...)
{
	rf_migrate *m;
	rf_buf out = { 0 }, tmp[3] = { { 0 } };
	rf_err e;
	va_list ap;
	int rc;

	CHECK(rf_migrate_new(&m, &e) == 0, "rf_migrate_new");
	va_start(ap, nops);
	for (int i = 0; i < nops; i++) {
		int op = va_arg(ap, int);
		const char *arg = va_arg(ap, const char *);
		CHECK(rf_migrate_add(m, op, arg, &e) == 0, "%s: %s", arg, e.msg);
	}
	va_end(ap);
	rc = rf_migrate_apply(m, rec, strlen(rec), &out, tmp, &e);
	if (want != NULL)
		CHECK(rc == 0 && out.len == strlen(want) &&
		    memcmp(out.p, want, out.len) == 0, "%s: got %d %.*s (%s)",
		    rec, rc, (int)out.len, out.p, rc < 0 ? e.msg : "");
	else
		CHECK(rc == RF_EDATA && out.len == 0 && strstr(e.msg, why) != NULL,
		    "%s: got %d %.*s, reason %s", rec, rc, (int)out.len, out.p,
		    e.msg);
	rf_buf_free(&out);
	for (int i = 0; i < 3; i++)
		rf_buf_free(&tmp[i]);
	rf_migrate_free(m);
}

static void
test_migrate(void)
{
	/* Escaped names: \u002e is a dot, found by a pointer, not a dot path. */
	mig_case("{\"a\\u002eb\":1,\"a\":{\"b\":2}}", "{\"a\":{},\"x\":1}", NULL,
	    2, RF_MIG_DROP, "a.b", RF_MIG_RENAME, "/a.b=x");
	mig_case("{\"a\\u002eb\":1,\"a\":{\"b\":2}}", "{\"a\":{},\"x\":1}", NULL,
	    2, RF_MIG_RENAME, "/a.b=x", RF_MIG_DROP, "a.b");
	/* A name with a quote, a control character and a non-BMP one. */
	mig_case("{\"q\\\"\":1,\"\\u0001\":2,\"\\ud83d\\ude00\":3,\"\\ue000\":4}",
	    "{\"\\u0001\":2,\"n\":1,\"\xf0\x9f\x98\x80\":3,\"\xee\x80\x80\":4}",
	    NULL, 1, RF_MIG_RENAME, "q\"=n");
	/* Members created in sorted order, UTF-16 order for U+E000. */
	mig_case("{\"\xee\x80\x80\":1}", "{\"\xf0\x9f\x98\x80\":0,\"\xee\x80\x80\":1}",
	    NULL, 1, RF_MIG_DEFAULT, "\xf0\x9f\x98\x80=0");
	/* Nested creation, and into an empty object. */
	mig_case("{}", "{\"a\":{\"b\":{\"c\":[true]}}}", NULL, 1, RF_MIG_DEFAULT,
	    "a.b.c=[true]");
	mig_case("{\"a\":{},\"z\":1}", "{\"a\":{\"b\":{\"c\":null}},\"z\":1}", NULL,
	    1, RF_MIG_DEFAULT, "/a/b/c=null");
	mig_case("{\"a\":5}", NULL, "a is 5, not an object", 1, RF_MIG_DEFAULT,
	    "a.b=1");
	/* Rename to a nested path, into itself, and onto what exists. */
	mig_case("{\"m\":1,\"a\":2}", "{\"a\":2,\"x\":{\"y\":{\"z\":1}}}", NULL, 1,
	    RF_MIG_RENAME, "m=x.y.z");
	mig_case("{\"a\":1}", "{\"a\":{\"b\":1}}", NULL, 1, RF_MIG_RENAME,
	    "a=a.b");
	mig_case("{\"a\":{\"b\":1}}", NULL, "a already exists", 1,
	    RF_MIG_RENAME, "a.b=a");
	mig_case("{\"a\":1,\"b\":null}", NULL, "b already exists", 1,
	    RF_MIG_RENAME, "a=b");
	mig_case("{\"b\":1}", "{\"b\":1}", NULL, 1, RF_MIG_RENAME, "a=c");
	/* Drop: first, middle, last, only member, array element, absent. */
	mig_case("{\"a\":1,\"b\":2,\"c\":3}", "{\"c\":3}", NULL, 2, RF_MIG_DROP,
	    "a", RF_MIG_DROP, "b");
	mig_case("{\"a\":1,\"b\":2,\"c\":3}", "{\"a\":1,\"c\":3}", NULL, 1,
	    RF_MIG_DROP, "b");
	mig_case("{\"a\":1,\"b\":2}", "{\"a\":1}", NULL, 1, RF_MIG_DROP, "b");
	mig_case("{\"a\":[1,[2],3]}", "{\"a\":[1,3]}", NULL, 1, RF_MIG_DROP,
	    "a.1");
	mig_case("{\"a\":[1]}", "{\"a\":[]}", NULL, 1, RF_MIG_DROP, "/a/0");
	mig_case("{\"a\":{\"b\":1}}", "{\"a\":{}}", NULL, 2, RF_MIG_DROP, "a.b",
	    RF_MIG_DROP, "a.b.c");
	/* Casts to number: exact grammar, range, -0, big integers. */
	mig_case("{\"n\":\"1e400\"}", NULL, "out of range", 1, RF_MIG_CAST,
	    "n=number");
	mig_case("{\"n\":\" 1\"}", NULL, "is not a number", 1, RF_MIG_CAST,
	    "n=number");
	mig_case("{\"n\":\"01\"}", NULL, "is not a number", 1, RF_MIG_CAST,
	    "n=number");
	mig_case("{\"n\":\"\"}", NULL, "is not a number", 1, RF_MIG_CAST,
	    "n=number");
	mig_case("{\"n\":\"-0\"}", "{\"n\":0}", NULL, 1, RF_MIG_CAST, "n=number");
	mig_case("{\"n\":\"1E-7\"}", "{\"n\":1e-7}", NULL, 1, RF_MIG_CAST,
	    "n=number");
	mig_case("{\"n\":\"9007199254740993\"}", "{\"n\":9007199254740992}", NULL,
	    1, RF_MIG_CAST, "n=number");
	mig_case("{\"n\":[1]}", NULL, "[1] is not a string or a number", 1,
	    RF_MIG_CAST, "n=number");
	mig_case("{\"n\":1e21}", "{\"n\":\"1e+21\"}", NULL, 1, RF_MIG_CAST,
	    "n=string");
	mig_case("{\"n\":-0.0}", "{\"n\":\"0\"}", NULL, 1, RF_MIG_CAST,
	    "n=string");
	mig_case("{\"n\":false}", NULL, "not a string or a number", 1,
	    RF_MIG_CAST, "n=string");
	/* Epochs: negative, fractional, exponents, range, leap days. */
	mig_case("{\"t\":-86400.000001}", "{\"t\":\"1969-12-30T23:59:59.999999Z\"}",
	    NULL, 1, RF_MIG_CAST, "t=rfc3339");
	mig_case("{\"t\":1.5e-7}", "{\"t\":\"1970-01-01T00:00:00.00000015Z\"}",
	    NULL, 1, RF_MIG_CAST, "t=rfc3339");
	mig_case("{\"t\":1709164800}", "{\"t\":\"2024-02-29T00:00:00Z\"}", NULL,
	    1, RF_MIG_CAST, "t=rfc3339");
	mig_case("{\"t\":4107542400}", "{\"t\":\"2100-03-01T00:00:00Z\"}", NULL,
	    1, RF_MIG_CAST, "t=rfc3339");
	mig_case("{\"t\":-62167219200}", "{\"t\":\"0000-01-01T00:00:00Z\"}", NULL,
	    1, RF_MIG_CAST, "t=rfc3339");
	mig_case("{\"t\":-62167219201}", NULL, "out of range", 1, RF_MIG_CAST,
	    "t=rfc3339");
	mig_case("{\"t\":253402300799999}", "{\"t\":\"9999-12-31T23:59:59.999Z\"}",
	    NULL, 1, RF_MIG_CAST, "t=rfc3339-ms");
	mig_case("{\"t\":253402300800000}", NULL, "out of range", 1,
	    RF_MIG_CAST, "t=rfc3339-ms");
	mig_case("{\"t\":\"2025-07-01T00:00:00+02:00\"}",
	    "{\"t\":\"2025-07-01T00:00:00+02:00\"}", NULL, 1, RF_MIG_CAST,
	    "t=rfc3339");
	/* UTC: odd offsets, -00:00, the fraction as written, day changes. */
	mig_case("{\"t\":\"2025-01-01T00:00:00.10+05:45\"}",
	    "{\"t\":\"2024-12-31T18:15:00.10Z\"}", NULL, 1, RF_MIG_UTC, "t");
	mig_case("{\"t\":\"2024-02-28T23:00:00-01:00\"}",
	    "{\"t\":\"2024-02-29T00:00:00Z\"}", NULL, 1, RF_MIG_UTC, "t");
	mig_case("{\"t\":\"2023-02-28T23:00:00-01:00\"}",
	    "{\"t\":\"2023-03-01T00:00:00Z\"}", NULL, 1, RF_MIG_UTC, "t");
	mig_case("{\"t\":\"2025-07-01T12:00:00-00:00\"}",
	    "{\"t\":\"2025-07-01T12:00:00Z\"}", NULL, 1, RF_MIG_UTC, "t");
	mig_case("{\"t\":\"2025-07-01T12:00:00+24:00\"}", NULL,
	    "not an RFC 3339 timestamp", 1, RF_MIG_UTC, "t");
	mig_case("{\"t\":\"2023-02-29T00:00:00Z\"}", NULL,
	    "not an RFC 3339 timestamp", 1, RF_MIG_UTC, "t");
	mig_case("{\"t\":null}", "{\"t\":null}", NULL, 2, RF_MIG_UTC, "t",
	    RF_MIG_CAST, "t=number");
	/* Not JSON, and not I-JSON. */
	mig_case("{\"a\":1,\"a\":2}", NULL, "duplicate", 1, RF_MIG_DROP, "a");

	/* Arguments. */
	rf_migrate *m;
	rf_err e;
	rf_buf d = { 0 };
	rf_migrate_new(&m, &e);
	CHECK(rf_migrate_add(m, RF_MIG_RENAME, "a", &e) == RF_EUSAGE, "FROM only");
	CHECK(rf_migrate_add(m, RF_MIG_CAST, "a=int", &e) == RF_EUSAGE, "int");
	CHECK(rf_migrate_add(m, RF_MIG_DEFAULT, "a=", &e) == RF_EUSAGE,
	    "empty JSON");
	CHECK(rf_migrate_add(m, RF_MIG_DROP, "a\xff", &e) == RF_EUSAGE,
	    "not UTF-8");
	CHECK(rf_migrate_add(m, RF_MIG_RENAME, "/a=a", &e) == RF_EUSAGE,
	    "same field");
	CHECK(rf_migrate_add(m, RF_MIG_CAST, "x=y=string", &e) == 0, "%s", e.msg);
	CHECK(rf_migrate_add(m, RF_MIG_DEFAULT, "a= 1.0 ", &e) == 0, "%s",
	    e.msg);
	static const char want[] =
	    "[[\"cast\",\"x=y\",\"string\"],[\"default\",\"a\",1]]";
	CHECK(rf_migrate_count(m) == 2 && rf_migrate_describe(m, &d) == 0 &&
	    d.len == strlen(want) && memcmp(d.p, want, d.len) == 0,
	    "describe: %.*s", (int)d.len, d.p);
	rf_buf_free(&d);
	rf_migrate_free(m);
}

/* The schema of some records, as its document's text. */
static void
schema_of(const char *const *recs, size_t n, rf_buf *out)
{
	rf_schema *s;
	rf_err e;

	out->len = 0;
	CHECK(rf_schema_new(RF_SCHEMA_FIELDS_DEFAULT, RF_SCHEMA_VALUES_DEFAULT,
	    &s, &e) == 0, "schema: %s", e.msg);
	for (size_t i = 0; i < n; i++)
		CHECK(rf_json_validate(recs[i], strlen(recs[i]), &e) == 0 &&
		    rf_schema_add(s, recs[i], strlen(recs[i])) == 0,
		    "schema: %s", recs[i]);
	CHECK(rf_schema_format(s, out, &e) == 0, "schema: %s", e.msg);
	rf_schema_free(s);
}

static bool
has(const rf_buf *b, const char *needle)
{
	rf_buf t = { 0 };
	bool yes;

	rf_buf_add(&t, b->p, b->len);
	rf_buf_addc(&t, '\0');
	yes = strstr(t.p, needle) != NULL;
	rf_buf_free(&t);
	return yes;
}

struct seen {
	char what[64], detail[64];
	bool backward, forward;
	int n;
};

static int
seen_change(const rf_change *c, void *arg)
{
	struct seen *x = arg;

	if (x->n++ == 0) {
		snprintf(x->what, sizeof x->what, "%s", c->what);
		snprintf(x->detail, sizeof x->detail, "%s", c->detail);
		x->backward = c->backward;
		x->forward = c->forward;
	}
	return 0;
}

static void
test_schema(void)
{
	/* Integers are told by their digits, not by a double. */
	static const struct {
		const char *num;
		bool integer;
	} nums[] = {
		{ "1", true }, { "-0", true }, { "1.0", true }, { "1e3", true },
		{ "100e-2", true }, { "1.50e1", true }, { "0.0e-5", true },
		{ "12345678901234567890", true }, { "1e300", true },
		{ "1.5", false }, { "1e-3", false }, { "-2.5E-1", false },
		{ "10.01e1", false }, { "123.456e-789", false },
		{ "1.0000000000000000001", false },
	};
	rf_buf out = { 0 };

	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		char rec[64];
		const char *r = rec;
		snprintf(rec, sizeof rec, "{\"n\":%s}", nums[i].num);
		schema_of(&r, 1, &out);
		CHECK(has(&out, nums[i].integer ? "{\"integer\":1}" :
		    "{\"number\":1}"), "schema: %s is%s an integer", nums[i].num,
		    nums[i].integer ? "" : " not");
	}

	/* Names bare when they can be, else ["..."]; one name however spelt. */
	static const char *const odd[] = {
		"{\"a.b\":1,\"\":2,\"caf\\u00e9\":{\"x y\":[{\"q\\\"\":3}]}}",
		"{\"café\":{\"x y\":[]}}",
	};
	schema_of(odd, 2, &out);
	CHECK(has(&out, "\"[\\\"a.b\\\"]\":") && has(&out, "\"[\\\"\\\"]\":") &&
	    has(&out, "\"café\":{\"missing\":0,\"present\":2") &&
	    has(&out, "\"café[\\\"x y\\\"][][\\\"q\\\\\\\"\\\"]\":"),
	    "schema: odd names: %.*s", (int)out.len, out.p);

	/* A document reads back to itself. */
	rf_schema *a;
	rf_buf again = { 0 };
	rf_err e;
	CHECK(rf_schema_parse(out.p, out.len, "D", &a, &e) == 0 &&
	    rf_schema_format(a, &again, &e) == 0 && again.len == out.len &&
	    memcmp(again.p, out.p, out.len) == 0, "schema: round trip: %s",
	    e.msg);
	rf_schema_free(a);
	rf_buf_free(&again);

	/* Each kind of change, judged for both compatibilities. */
	static const struct {
		const char *old, *new_, *what;
		bool backward, forward;
	} ch[] = {
		{ "{\"a\":1}", "{\"a\":1,\"b\":1}", "added field that is always present", false, true },
		{ "{\"a\":1}|{\"a\":2}", "{\"a\":1,\"b\":1}|{\"a\":2}", "added optional field", true, true },
		{ "{\"a\":1,\"b\":1}", "{\"a\":1}", "removed field that was always present", true, false },
		{ "{\"a\":1,\"b\":1}|{\"a\":2}", "{\"a\":1}", "removed optional field", true, true },
		{ "{\"a\":1}", "{\"a\":1.5}", "type widened", true, false },
		{ "{\"a\":1.5}|{\"a\":\"x\"}", "{\"a\":1.5}", "type narrowed", false, true },
		{ "{\"a\":1}", "{\"a\":\"x\"}", "type changed", false, false },
		{ "{\"a\":1}", "{\"a\":1}|{\"a\":null}", "became nullable", true, false },
		{ "{\"a\":1}|{\"a\":null}", "{\"a\":1}", "lost its nulls", false, true },
		{ "{\"a\":1,\"b\":1}", "{\"a\":1,\"b\":1}|{\"a\":1}", "became optional", true, false },
		{ "{\"a\":1,\"b\":1}|{\"a\":1}", "{\"a\":1,\"b\":1}", "became always present", false, true },
		{ "{\"a\":\"x\"}", "{\"a\":\"x\"}|{\"a\":\"y\"}", "enum values added", true, false },
		{ "{\"a\":\"x\"}|{\"a\":\"y\"}", "{\"a\":\"x\"}", "enum values removed", false, true },
	};
	for (size_t i = 0; i < sizeof ch / sizeof ch[0]; i++) {
		const char *sides[2] = { ch[i].old, ch[i].new_ };
		rf_schema *sc[2];
		for (int k = 0; k < 2; k++) {
			char buf[128], *save, *r[4];
			size_t n = 0;
			snprintf(buf, sizeof buf, "%s", sides[k]);
			for (char *t = strtok_r(buf, "|", &save); t != NULL;
			    t = strtok_r(NULL, "|", &save))
				r[n++] = t;
			schema_of((const char *const *)r, n, &out);
			CHECK(rf_schema_parse(out.p, out.len, "D", &sc[k], &e) == 0,
			    "schema: %s", e.msg);
		}
		struct seen x = { .n = 0 };
		CHECK(rf_schema_compat(sc[0], sc[1], seen_change, &x) == 1 &&
		    strcmp(x.what, ch[i].what) == 0 &&
		    x.backward == ch[i].backward && x.forward == ch[i].forward,
		    "compat %s -> %s: %d changes, first \"%s\" (%d, %d), not \"%s\"",
		    ch[i].old, ch[i].new_, x.n, x.what, x.backward, x.forward,
		    ch[i].what);
		for (int m = RF_COMPAT_NONE; m <= RF_COMPAT_FULL; m++) {
			rf_change c = { .backward = ch[i].backward,
				.forward = ch[i].forward };
			CHECK(rf_compat_breaks(m, &c) ==
			    (((m & RF_COMPAT_BACKWARD) && !c.backward) ||
			    ((m & RF_COMPAT_FORWARD) && !c.forward)),
			    "compat: mode %s", rf_compat_name(m));
		}
		rf_schema_free(sc[0]);
		rf_schema_free(sc[1]);
	}
	rf_buf_free(&out);
}

static void
test_policy(void)
{
	static const char good[] =
	    "{ \"roles\": {\"publish\": [\"publisher\", \"owner\"], \"gc\": [\"owner\"]},\n"
	    "  \"unsigned\": true, \"compat\": \"full\", \"format\": \"refill-policy/1\" }\n";
	static const char want[] =
	    "{\"approvals\":0,\"compat\":\"full\",\"format\":\"refill-policy/1\","
	    "\"roles\":{\"approve\":[\"approver\",\"owner\"],"
	    "\"commit\":[\"committer\",\"owner\"],\"gc\":[\"owner\"],"
	    "\"publish\":[\"owner\",\"publisher\"],\"rollback\":[\"committer\","
	    "\"owner\"],\"verify\":[\"owner\",\"verifier\"]},"
	    "\"self_approval\":false,\"unsigned\":true,\"verified\":[]}\n";
	rf_policy p, q;
	rf_buf out = { 0 }, again = { 0 };
	rf_err e;

	CHECK(rf_policy_parse(good, strlen(good), "P", &p, &e) == 0,
	    "policy: %s", e.msg);
	CHECK(rf_policy_format(&p, &out, &e) == 0 && out.len == strlen(want) &&
	    memcmp(out.p, want, out.len) == 0, "policy: %.*s", (int)out.len,
	    out.p);
	CHECK(rf_policy_parse(out.p, out.len, "P", &q, &e) == 0 &&
	    rf_policy_format(&q, &again, &e) == 0 && again.len == out.len &&
	    memcmp(again.p, out.p, out.len) == 0, "policy: round trip");
	rf_signer pub = { .name = "pete", .roles = (char *[]){ "publisher" },
		.nroles = 1 };
	rf_signer com = { .name = "carl", .roles = (char *[]){ "reader",
		"committer" }, .nroles = 2 };
	CHECK(rf_policy_allows(&p, RF_ACT_PUBLISH, &pub) &&
	    !rf_policy_allows(&p, RF_ACT_PUBLISH, &com) &&
	    rf_policy_allows(&p, RF_ACT_COMMIT, &com) &&
	    !rf_policy_allows(&p, RF_ACT_GC, &com) &&
	    !rf_policy_allows(&p, RF_ACT_COMMIT, NULL), "policy: allows");
	rf_policy_free(&p);
	rf_policy_free(&q);

	/* The defaults are what a dataset without a POLICY allows. */
	CHECK(rf_policy_default(&p, &e) == 0, "policy: defaults");
	out.len = 0;
	CHECK(rf_policy_format(&p, &out, &e) == 0 && has(&out,
	    "{\"approvals\":0,\"compat\":\"none\",\"format\":\"refill-policy/1\","
	    "\"roles\":{\"approve\":[\"approver\",\"owner\"],"
	    "\"commit\":[\"committer\",\"owner\"],\"gc\":[\"committer\","
	    "\"owner\"],\"publish\":[\"committer\",\"owner\"],\"rollback\":"
	    "[\"committer\",\"owner\"],\"verify\":[\"owner\",\"verifier\"]},"
	    "\"self_approval\":false,\"unsigned\":false,\"verified\":[]}\n"),
	    "policy: defaults: %.*s", (int)out.len, out.p);
	CHECK(rf_policy_allows(&p, RF_ACT_GC, &com) &&
	    !rf_policy_allows(&p, RF_ACT_GC, &pub), "policy: default roles");
	rf_policy_free(&p);

	static const char *const bad[][2] = {
		{ "{}", "P: no \"format\"" },
		{ "{\"format\":\"refill-policy/2\"}", "P: format is not" },
		{ "{\"format\":\"refill-policy/1\",\"verify\":true}",
		    "P: \"verify\": not a member of a policy" },
		{ "{\"format\":\"refill-policy/1\",\"verified\":true}",
		    "P: verified: not an array of checks" },
		{ "{\"format\":\"refill-policy/1\",\"verified\":[\"lint\"]}",
		    "P: verified: a check is" },
		{ "{\"format\":\"refill-policy/1\",\"verified\":[\"diff\",\"diff\"]}",
		    "P: verified: a check named twice" },
		{ "{\"format\":\"refill-policy/1\",\"approvals\":101}",
		    "P: approvals: not a count from 0 to 100" },
		{ "{\"format\":\"refill-policy/1\",\"approvals\":-1}",
		    "P: approvals: not a count" },
		{ "{\"format\":\"refill-policy/1\",\"self_approval\":0}",
		    "P: self_approval: not true or false" },
		{ "{\"format\":\"refill-policy/1\",\"roles\":{\"frob\":[\"a\"]}}",
		    "P: roles: \"frob\" is not commit" },
		{ "{\"format\":\"refill-policy/1\",\"roles\":{\"gc\":[]}}",
		    "P: roles.gc: no role may do it" },
		{ "{\"format\":\"refill-policy/1\",\"roles\":{\"gc\":[\"Owner\"]}}",
		    "P: roles.gc: not an array of role names" },
		{ "{\"format\":\"refill-policy/1\",\"roles\":{\"gc\":[\"a\",\"a\"]}}",
		    "P: roles.gc: a role named twice" },
		{ "{\"format\":\"refill-policy/1\",\"roles\":[]}",
		    "P: roles: not an object" },
		{ "{\"format\":\"refill-policy/1\",\"unsigned\":1}",
		    "P: unsigned: not true or false" },
		{ "{\"format\":\"refill-policy/1\",\"compat\":\"sideways\"}",
		    "P: compat: not" },
		{ "[]", "P: not a JSON object" },
		{ "{\"format\":", "P: invalid JSON" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = rf_policy_parse(bad[i][0], strlen(bad[i][0]), "P", &p, &e);
		CHECK(rc == RF_EDATA && strncmp(e.msg, bad[i][1],
		    strlen(bad[i][1])) == 0, "policy %s: %d %s", bad[i][0], rc,
		    e.msg);
		if (rc == 0)
			rf_policy_free(&p);
	}
	rf_buf_free(&out);
	rf_buf_free(&again);

	/* Checks are kept as a set, written in order. */
	static const char ver[] = "{\"format\":\"refill-policy/1\","
	    "\"verified\":[\"rules\",\"dataset\"]}";
	CHECK(rf_policy_parse(ver, strlen(ver), "P", &p, &e) == 0 &&
	    p.verified == (1u << RF_CHECK_RULES | 1u << RF_CHECK_DATASET),
	    "policy verified: %s", e.msg);
	out.len = 0;
	CHECK(rf_policy_format(&p, &out, &e) == 0 &&
	    has(&out, "\"verified\":[\"dataset\",\"rules\"]}\n"),
	    "policy verified: %.*s", (int)out.len, out.p);
	rf_policy_free(&p);
	rf_buf_free(&out);
}

/*
 * Reports: what rf_report_sign writes rf_report_parse reads; a changed
 * byte fails the signature, and what is not canonical is not a report.
 */
static void
test_report(void)
{
	static const char body[] = "{\"check\":\"diff\",\"format\":"
	    "\"refill-report/1\",\"manifest\":\"%s\",\"passed\":true,"
	    "\"signer\":\"%s\",\"version\":7}";
	char pub[RF_PUBKEY_LEN + 1], h[65], text[512];
	unsigned char sha[RF_SHA256_LEN];
	rf_key *k = NULL;
	rf_buf line = { 0 };
	rf_report r;
	rf_err e;
	int rc;

	for (int i = 0; i < RF_SHA256_LEN; i++)
		sha[i] = (unsigned char)(i * 7);
	rf_hex(sha, RF_SHA256_LEN, h);
	CHECK(rf_key_generate(tpath("report.pem"), pub, &e) == 0 &&
	    rf_key_load(tpath("report.pem"), &k, &e) == 0, "report: key: %s",
	    e.msg);
	if (k == NULL)
		return;
	snprintf(text, sizeof text, body, h, pub);
	CHECK(rf_report_sign(text, strlen(text), k, &line, &e) == 0 &&
	    line.len > 0 && line.p[line.len - 1] == '\n', "report: sign");
	rc = rf_report_parse(line.p, line.len, "R", &r, &e);
	CHECK(rc == 0 && strcmp(r.check, "diff") == 0 && r.version == 7 &&
	    r.passed && memcmp(r.manifest, sha, RF_SHA256_LEN) == 0 &&
	    strcmp(r.signer, pub) == 0, "report: parse: %d %s", rc, e.msg);
	/* version 7 to 8: the signature no longer holds. */
	char *seven = strstr(line.p, "\"version\":7");
	seven[10] = '8';
	rc = rf_report_parse(line.p, line.len, "R", &r, &e);
	CHECK(rc == RF_ECHECK && strcmp(e.msg, "R: the signature does not "
	    "match its report") == 0, "report: forged: %d %s", rc, e.msg);
	seven[10] = '7';
	/* A space: still JSON, no longer the bytes signed. */
	rf_buf spaced = { 0 };
	rf_buf_adds(&spaced, "{ ");
	rf_buf_add(&spaced, line.p + 1, line.len - 1);
	rc = rf_report_parse(spaced.p, spaced.len, "R", &r, &e);
	CHECK(rc == RF_EDATA && strcmp(e.msg, "R: not a verification report: "
	    "not one line of canonical JSON") == 0, "report: spaced: %d %s",
	    rc, e.msg);
	rf_buf_free(&spaced);
	rf_buf_free(&line);
	rf_key_free(k);
}

int
main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: unit vectordir\n");
		return 2;
	}
	vdir = argv[1];
	test_jsontestsuite();
	test_rfc8785();
	test_numbers();
	test_canon_cases();
	test_number_forms();
	test_member_order();
	test_paths();
	test_digests();
	test_time();
	test_cmp();
	test_misc();
	test_lineage();
	test_reader();
	test_reader_batch();
	test_sign();
	test_spill();
	test_rules();
	test_json_fields();
	test_diff();
	test_fuzz_regressions();
	test_migrate();
	test_schema();
	test_policy();
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
