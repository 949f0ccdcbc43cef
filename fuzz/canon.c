/*
 * The RFC 8785 canonicaliser.  Properties: the canonical form of a valid
 * value validates and is its own canonical form; whitespace around the
 * value changes nothing; and a failure leaves the output as it was.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char prefix[] = "kept";
	const char *p = (const char *)data;
	rf_buf c1 = { 0 }, c2 = { 0 }, w = { 0 };
	rf_err e;
	int rc;

	rf_buf_adds(&c1, prefix);
	rc = rf_json_canon(p, size, &c1, &e);
	FUZZ_ASSERT(c1.len >= 4 && memcmp(c1.p, prefix, 4) == 0,
	    "the output before the mark was changed");
	if (rc < 0) {
		FUZZ_ASSERT(c1.len == 4, "a failure left %zu bytes",
		    c1.len - 4);
		goto out;
	}
	const char *cf = c1.p + 4;
	size_t cn = c1.len - 4;
	FUZZ_ASSERT(cn > 0 && rf_utf8_valid(cf, cn), "not UTF-8");
	FUZZ_ASSERT(rf_json_validate(cf, cn, &e) == 0, "%s: %.*s", e.msg,
	    (int)cn, cf);
	FUZZ_ASSERT(rf_json_canon(cf, cn, &c2, &e) == 0, "%s", e.msg);
	FUZZ_ASSERT(c2.len == cn && memcmp(c2.p, cf, cn) == 0,
	    "not idempotent:\n%.*s\n%.*s", (int)cn, cf, (int)c2.len, c2.p);
	rf_buf_adds(&w, " \n\t\r");
	rf_buf_add(&w, p, size);
	rf_buf_adds(&w, "\r\n \t");
	c2.len = 0;
	FUZZ_ASSERT(rf_json_canon(w.p, w.len, &c2, &e) == 0, "%s", e.msg);
	FUZZ_ASSERT(c2.len == cn && memcmp(c2.p, cf, cn) == 0,
	    "whitespace changed the canonical form");
out:
	rf_buf_free(&c1);
	rf_buf_free(&c2);
	rf_buf_free(&w);
	return 0;
}
