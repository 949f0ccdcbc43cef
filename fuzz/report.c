/*
 * Verification reports (refill-report(5)).  The input is a report line.
 * Properties: one that reads is canonical JSON with a signature that
 * holds, for a version in range, and reads the same again; one that does
 * not is refused naming the file.  A fuzzer cannot forge the signature,
 * so what is past it is reached only from the seeds.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	rf_report r, q;
	rf_buf c = { 0 };
	rf_err e;
	size_t n = size;

	if (rf_report_parse((const char *)data, size, "R", &r, &e) < 0) {
		FUZZ_ASSERT(strncmp(e.msg, "R: ", 3) == 0 ||
		    strcmp(e.msg, "out of memory") == 0,
		    "the message does not name the file: %s", e.msg);
		return 0;
	}
	if (n > 0 && data[n - 1] == '\n')
		n--;
	FUZZ_ASSERT(rf_json_canon((const char *)data, n, &c, &e) == 0 &&
	    c.len == n && memcmp(c.p, data, n) == 0, "not canonical");
	FUZZ_ASSERT(r.version >= 1 && r.version <= RF_VERSION_MAX,
	    "version %u", (unsigned)r.version);
	FUZZ_ASSERT(strlen(r.signer) == RF_PUBKEY_LEN && r.check[0] != '\0',
	    "no signer or no check");
	FUZZ_ASSERT(rf_report_parse((const char *)data, n, "R", &q, &e) == 0 &&
	    memcmp(&r, &q, sizeof r) == 0, "read differently");
	rf_buf_free(&c);
	return 0;
}
