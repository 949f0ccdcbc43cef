/*
 * MANIFEST (refill-manifest(5)), and the SHA256SUMS made from it.
 * SHA256SUMS is never parsed: refill-verify compares a version's file
 * byte for byte with rf_sums_format of its manifest, so that is what is
 * fuzzed of it.  Properties: a manifest that parses is formatted into
 * one that parses to the same bytes again; its names are valid, sorted
 * and found; SHA256SUMS has a line per file in coreutils' format.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	rf_manifest m, m2;
	rf_buf f1 = { 0 }, f2 = { 0 }, sums = { 0 };
	rf_err e;

	if (rf_manifest_parse((const char *)data, size, "MANIFEST", &m,
	    &e) < 0) {
		FUZZ_ASSERT(strncmp(e.msg, "MANIFEST", 8) == 0,
		    "the message does not name the file: %s", e.msg);
		return 0;
	}
	FUZZ_ASSERT(m.n == m.nfiles && m.version >= 1 &&
	    m.version <= RF_VERSION_MAX && m.parent < m.version,
	    "header %u parent %u", m.version, m.parent);
	for (size_t i = 0; i < m.n; i++) {
		FUZZ_ASSERT(rf_check_name(m.f[i].name, NULL) == 0, "%s",
		    m.f[i].name);
		FUZZ_ASSERT(i == 0 || strcmp(m.f[i - 1].name, m.f[i].name) < 0,
		    "names out of order");
		FUZZ_ASSERT(rf_manifest_find(&m, m.f[i].name) == &m.f[i],
		    "%s not found", m.f[i].name);
	}
	FUZZ_ASSERT(rf_manifest_format(&m, &f1, &e) == 0, "%s", e.msg);
	FUZZ_ASSERT(rf_manifest_parse(f1.p, f1.len, "M1", &m2, &e) == 0,
	    "%s\n%.*s", e.msg, (int)f1.len, f1.p);
	FUZZ_ASSERT(rf_manifest_format(&m2, &f2, &e) == 0, "%s", e.msg);
	FUZZ_ASSERT(f1.len == f2.len && memcmp(f1.p, f2.p, f1.len) == 0,
	    "the round trip changed it:\n%.*s\n%.*s", (int)f1.len, f1.p,
	    (int)f2.len, f2.p);
	FUZZ_ASSERT(rf_sums_format(&m, &sums, &e) == 0, "%s", e.msg);
	const char *p = sums.p, *end = sums.p + sums.len;
	for (size_t i = 0; i < m.n; i++) {
		const char *nl = memchr(p, '\n', end - p);
		size_t nlen = strlen(m.f[i].name);
		FUZZ_ASSERT(nl != NULL && (size_t)(nl - p) == 66 + nlen &&
		    p[64] == ' ' && p[65] == ' ' &&
		    memcmp(p + 66, m.f[i].name, nlen) == 0,
		    "SHA256SUMS line %zu", i + 1);
		p = nl + 1;
	}
	FUZZ_ASSERT(p == end, "SHA256SUMS has more lines than files");
	rf_manifest_free(&m);
	rf_manifest_free(&m2);
	rf_buf_free(&f1);
	rf_buf_free(&f2);
	rf_buf_free(&sums);
	return 0;
}
