/*
 * Built-in migrations (refill-transform(1)'s --rename, --default, --drop,
 * --cast and --utc).  The input is operations, one a line as "OP ARG"
 * (OP one of rename, default, drop, cast, utc), a line "%%", and records,
 * one a line.  Properties: the operations' description is canonical JSON;
 * a record migrates to a valid record in canonical form, or is refused
 * with a reason, and the output buffer is then as it was; migrating is
 * the same on a second scratch set (no state kept between records).
 */
#include "fuzz.h"

static const char *const ops[] = { "rename", "default", "drop", "cast",
	"utc" };

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *spec, *recs;
	size_t sn, rn;
	rf_migrate *m = NULL;
	rf_buf out = { 0 }, again = { 0 }, canon = { 0 }, desc = { 0 };
	rf_buf t1[3] = { { 0 } }, t2[3] = { { 0 } };
	rf_err e;

	fuzz_split((const char *)data, size, "\n%%\n", &spec, &sn, &recs, &rn);
	if (rf_migrate_new(&m, &e) < 0)
		return 0;
	for (const char *p = spec, *end = spec + sn; p < end;) {
		const char *nl = memchr(p, '\n', end - p);
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char line[256];
		if (len < sizeof line) {
			memcpy(line, p, len);
			line[len] = '\0';
			char *sp = strchr(line, ' ');
			for (int k = 0; sp != NULL && k < 5; k++)
				if ((size_t)(sp - line) == strlen(ops[k]) &&
				    memcmp(line, ops[k], sp - line) == 0 &&
				    strlen(sp + 1) == len - (size_t)(sp + 1 - line))
					(void)rf_migrate_add(m, RF_MIG_RENAME + k,
					    sp + 1, &e);
		}
		p += len + 1;
	}
	if (rf_migrate_describe(m, &desc) == 0 && desc.len > 0)
		FUZZ_ASSERT(rf_json_canon(desc.p, desc.len, &canon, &e) == 0 &&
		    canon.len == desc.len &&
		    memcmp(canon.p, desc.p, desc.len) == 0,
		    "the description is not canonical: %.*s", (int)desc.len,
		    desc.p);
	for (const char *p = recs, *end = recs + rn; p < end;) {
		const char *nl = memchr(p, '\n', end - p);
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		out.len = again.len = 0;
		rf_buf_adds(&out, "x");
		int rc = rf_migrate_apply(m, p, len, &out, t1, &e);
		if (rc == 0) {
			canon.len = 0;
			FUZZ_ASSERT(rf_json_canon(out.p + 1, out.len - 1, &canon,
			    &e) == 0 && canon.len == out.len - 1 &&
			    memcmp(canon.p, out.p + 1, canon.len) == 0,
			    "not canonical: %.*s", (int)out.len - 1, out.p + 1);
			FUZZ_ASSERT(rf_migrate_apply(m, p, len, &again, t2,
			    &e) == 0 && again.len == out.len - 1 &&
			    memcmp(again.p, out.p + 1, again.len) == 0,
			    "another scratch, another result");
		} else {
			FUZZ_ASSERT(out.len == 1, "a refused record left output");
			FUZZ_ASSERT(rc == RF_EDATA && e.msg[0] != '\0',
			    "refused without a reason: %d", rc);
		}
		p += len + 1;
	}
	for (int k = 0; k < 3; k++) {
		rf_buf_free(&t1[k]);
		rf_buf_free(&t2[k]);
	}
	rf_buf_free(&out);
	rf_buf_free(&again);
	rf_buf_free(&canon);
	rf_buf_free(&desc);
	rf_migrate_free(m);
	rf_json_thread_free();
	return 0;
}
