/*
 * The JSON validator, and what reads a validated value: rf_json_next,
 * rf_json_unescape, rf_json_cmp and rf_json_time.  Properties: the
 * validator and the canonicaliser agree on every input; the elements of
 * a valid value are valid on their own (to a depth of 16), and its
 * strings decode to UTF-8; rf_json_cmp is reflexive and antisymmetric.
 */
#include "fuzz.h"

static void
check_string(const char *tok, size_t n)
{
	rf_buf d = { 0 };

	FUZZ_ASSERT(n >= 2 && tok[0] == '"' && tok[n - 1] == '"', "%.*s",
	    (int)n, tok);
	FUZZ_ASSERT(rf_json_unescape(tok, n, &d) == 0, "%.*s", (int)n, tok);
	FUZZ_ASSERT(rf_utf8_valid(d.p, d.len), "%.*s", (int)n, tok);
	rf_buf_free(&d);
}

static void
leaf(const char *v, size_t n)
{
	int64_t secs, w;
	const char *why;
	char name[32];

	if (v[0] == '"')
		check_string(v, n);
	for (int unit = 0; unit <= 1000; unit += 1000) {
		if (rf_json_time(v, n, unit, &secs, &why) < 0)
			continue;
		for (int win = RF_WIN_HOUR; win <= RF_WIN_MONTH; win++)
			if (rf_time_window(secs, win, &w, &why) == 0)
				rf_window_name(w, win, name, sizeof name);
	}
}

static void
walk(const char *v, size_t n, unsigned depth)
{
	const char *key, *val, *prev = NULL;
	size_t kn, vn, pn = 0, pos = 0;
	rf_err e;
	int rc;

	FUZZ_ASSERT(depth <= RF_JSON_MAX_DEPTH && n > 0, "depth %u", depth);
	/* Not at every level: that is quadratic in the depth. */
	FUZZ_ASSERT(depth > 16 || rf_json_validate(v, n, &e) == 0, "%.*s: %s",
	    (int)n, v, e.msg);
	if (v[0] != '[' && v[0] != '{') {
		FUZZ_ASSERT(rf_json_next(v, n, &pos, &key, &kn, &val, &vn) ==
		    RF_EDATA, "next on a scalar");
		leaf(v, n);
		return;
	}
	while ((rc = rf_json_next(v, n, &pos, &key, &kn, &val, &vn)) == 1) {
		FUZZ_ASSERT(val >= v && val + vn <= v + n && pos <= n,
		    "element outside its value");
		if (v[0] == '{')
			check_string(key, kn);
		walk(val, vn, depth + 1);
		if (prev != NULL) {
			int ab = rf_json_cmp(prev, pn, val, vn);
			int ba = rf_json_cmp(val, vn, prev, pn);
			FUZZ_ASSERT(ab == -ba && ab >= -1 && ab <= 1,
			    "cmp %d, reversed %d", ab, ba);
		}
		prev = val;
		pn = vn;
	}
	FUZZ_ASSERT(rc == 0, "next: %d", rc);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *p = (const char *)data;
	rf_buf c = { 0 };
	rf_err e, ce;
	int rc, crc;

	rc = rf_json_validate(p, size, &e);
	crc = rf_json_canon(p, size, &c, &ce);
	FUZZ_ASSERT(rc == crc, "validate %d, canon %d", rc, crc);
	if (rc == 0) {
		size_t n = size;
		const char *v = fuzz_trim(p, &n);
		walk(v, n, 0);
		FUZZ_ASSERT(rf_json_cmp(v, n, v, n) == 0, "cmp not reflexive");
	} else
		FUZZ_ASSERT(rc == RF_EDATA && strcmp(e.msg, ce.msg) == 0,
		    "%d: '%s' against '%s'", rc, e.msg, ce.msg);
	rf_buf_free(&c);
	return 0;
}
