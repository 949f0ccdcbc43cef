/*
 * Comparing records: rf_json_cmp and rf_json_diff.  The input is two
 * records separated by a LF.  Properties: rf_json_cmp is antisymmetric;
 * rf_json_diff finds no difference exactly when the canonical forms are
 * equal, as many either way round, and no more with a tolerance; the
 * path of each difference finds the values that differ.
 */
#include "fuzz.h"

struct sides {
	const char *a, *b;
	size_t an, bn;
	long calls;
};

/* Whether the value at path in rec is v (NULL: nothing is there). */
static bool
found_at(const char *rec, size_t n, const char *path, const char *v,
    size_t vn)
{
	rf_path *p;
	const char *got;
	size_t gn;
	rf_err e;
	int rc;

	FUZZ_ASSERT(rf_path_compile(path, &p, &e) == 0, "%s", e.msg);
	rc = rf_json_get(rec, n, p, &got, &gn);
	rf_path_free(p);
	if (v == NULL)
		return rc == RF_EMISSING;
	return rc == 0 && gn == vn && memcmp(got, v, vn) == 0;
}

/* Each difference is of valid values, and at the path reported. */
static int
count(void *arg, const char *path, size_t pathlen, const char *av,
    size_t avn, const char *bv, size_t bvn)
{
	struct sides *s = arg;
	rf_err e;

	FUZZ_ASSERT(av != NULL || bv != NULL, "a difference of nothing");
	FUZZ_ASSERT(av == NULL || rf_json_validate(av, avn, &e) == 0, "%s",
	    e.msg);
	FUZZ_ASSERT(bv == NULL || rf_json_validate(bv, bvn, &e) == 0, "%s",
	    e.msg);
	/* A name with U+0000 cannot be written as a C string. */
	if (memchr(path, '\0', pathlen) == NULL) {
		char *p = fuzz_cstr(path, pathlen);
		FUZZ_ASSERT(found_at(s->a, s->an, p, av, avn), "%s in a", p);
		FUZZ_ASSERT(found_at(s->b, s->bn, p, bv, bvn), "%s in b", p);
		free(p);
	}
	s->calls++;
	return 0;
}

static int
stop(void *arg, const char *path, size_t pathlen, const char *av,
    size_t avn, const char *bv, size_t bvn)
{
	return -42;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *a, *b;
	size_t an, bn;
	rf_buf ca = { 0 }, cb = { 0 };
	rf_err e;
	long d, rd, td;
	struct sides sd = { 0 };

	fuzz_split((const char *)data, size, "\n", &a, &an, &b, &bn);
	if (rf_json_canon(a, an, &ca, &e) < 0 ||
	    rf_json_canon(b, bn, &cb, &e) < 0)
		goto out;
	/* rf_json_cmp takes values: no whitespace around them. */
	a = fuzz_trim(a, &an);
	b = fuzz_trim(b, &bn);
	int ab = rf_json_cmp(a, an, b, bn), ba = rf_json_cmp(b, bn, a, an);
	FUZZ_ASSERT(ab == -ba && ab >= -1 && ab <= 1, "cmp %d, reversed %d",
	    ab, ba);
	sd.a = ca.p, sd.an = ca.len, sd.b = cb.p, sd.bn = cb.len;
	d = rf_json_diff(ca.p, ca.len, cb.p, cb.len, 0, 0, count, &sd);
	rd = rf_json_diff(cb.p, cb.len, ca.p, ca.len, 0, 0, NULL, NULL);
	td = rf_json_diff(ca.p, ca.len, cb.p, cb.len, 1e300, 1, NULL, NULL);
	bool same = ca.len == cb.len && memcmp(ca.p, cb.p, ca.len) == 0;
	FUZZ_ASSERT(d >= 0 && d == sd.calls && rd == d && td <= d &&
	    (d == 0) == same, "%ld differences (%ld calls), %ld reversed, %ld "
	    "tolerated; same %d", d, sd.calls, rd, td, same);
	if (d > 0)
		FUZZ_ASSERT(rf_json_diff(ca.p, ca.len, cb.p, cb.len, 0, 0,
		    stop, NULL) == -42, "the stop was not returned");
out:
	rf_buf_free(&ca);
	rf_buf_free(&cb);
	return 0;
}
