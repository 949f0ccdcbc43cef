/*
 * Field lookup: rf_path_compile, rf_json_get and rf_json_strip.  The
 * input is a path, a LF, and a record.  Properties: a compiled path gives
 * its spec back; a value found is valid, and is found the same in the
 * record's canonical form; stripping a path from a canonical form leaves
 * a canonical form, changed exactly when the path names something there.
 */
#include "fuzz.h"

static int
count(void *arg, const char *path, size_t pathlen, const char *av,
    size_t avn, const char *bv, size_t bvn)
{
	rf_err e;

	FUZZ_ASSERT(av != NULL || bv != NULL, "a difference of nothing");
	FUZZ_ASSERT(av == NULL || rf_json_validate(av, avn, &e) == 0, "%s",
	    e.msg);
	FUZZ_ASSERT(bv == NULL || rf_json_validate(bv, bvn, &e) == 0, "%s",
	    e.msg);
	(*(long *)arg)++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *spec, *rec, *v, *cv;
	size_t sn, rn, vn, cvn;
	rf_path *path = NULL;
	rf_buf c = { 0 }, s = { 0 }, vc = { 0 }, cc = { 0 };
	char *cspec;
	rf_err e;
	int rc, crc;
	long d, calls = 0;

	fuzz_split((const char *)data, size, "\n", &spec, &sn, &rec, &rn);
	if ((cspec = fuzz_cstr(spec, sn)) == NULL)
		return 0;
	if (rf_path_compile(cspec, &path, &e) < 0)
		goto out;
	FUZZ_ASSERT(strcmp(rf_path_spec(path), cspec) == 0, "spec changed");
	if (rf_json_canon(rec, rn, &c, &e) < 0)
		goto out;
	rc = rf_json_get(rec, rn, path, &v, &vn);
	crc = rf_json_get(c.p, c.len, path, &cv, &cvn);
	FUZZ_ASSERT(rc == crc, "found %d in the record, %d in its canonical "
	    "form", rc, crc);
	FUZZ_ASSERT(rc == 0 || rc == RF_EMISSING, "get: %d", rc);
	if (rc == 0) {
		FUZZ_ASSERT(v >= rec && v + vn <= rec + rn,
		    "outside the record");
		FUZZ_ASSERT(cv >= c.p && cv + cvn <= c.p + c.len,
		    "outside the canonical form");
		FUZZ_ASSERT(rf_json_canon(v, vn, &vc, &e) == 0, "%s", e.msg);
		FUZZ_ASSERT(vc.len == cvn && memcmp(vc.p, cv, cvn) == 0,
		    "%.*s is %.*s in the canonical form", (int)vn, v, (int)cvn,
		    cv);
	}
	if (rf_json_strip(c.p, c.len, &path, 1, &s) < 0)
		goto out;
	FUZZ_ASSERT(rf_json_canon(s.p, s.len, &cc, &e) == 0, "%s: %.*s",
	    e.msg, (int)s.len, s.p);
	FUZZ_ASSERT(cc.len == s.len && memcmp(cc.p, s.p, s.len) == 0,
	    "stripped, not canonical: %.*s", (int)s.len, s.p);
	bool same = s.len == c.len && memcmp(s.p, c.p, c.len) == 0;
	/* The empty pointer names the whole record, which is not stripped. */
	if (cspec[0] != '\0')
		FUZZ_ASSERT(same == (rc == RF_EMISSING), "found %d, but %s",
		    rc, same ? "not stripped" : "stripped");
	d = rf_json_diff(c.p, c.len, s.p, s.len, 0, 0, count, &calls);
	FUZZ_ASSERT(d == calls && (d == 0) == same, "%ld differences, %ld "
	    "calls, same %d", d, calls, same);
out:
	rf_path_free(path);
	free(cspec);
	rf_buf_free(&c);
	rf_buf_free(&s);
	rf_buf_free(&vc);
	rf_buf_free(&cc);
	return 0;
}
