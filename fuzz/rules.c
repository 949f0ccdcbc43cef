/*
 * Rules files (refill-rules(5)) and what checks records against them.
 * The input is a rules file, a line "%%", and records, one a line.
 * Properties: a file that compiles has a rule for each line it counted,
 * and each rule's result adds up (broken records are among those it
 * applies to, and at most as many examples as asked are kept).
 */
#include "fuzz.h"

#define EXAMPLES 3

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *text, *recs;
	size_t tn, rn;
	rf_rules *rs;
	rf_rules_scratch *sc = NULL;
	rf_rules_state *st = NULL;
	rf_buf found = { 0 };
	rf_err e;
	uint64_t lineno = 0, fed = 0;

	fuzz_split((const char *)data, size, "\n%%\n", &text, &tn, &recs, &rn);
	if (rf_rules_parse(text, tn, "R", &rs, &e) < 0) {
		FUZZ_ASSERT(strncmp(e.msg, "R:", 2) == 0,
		    "the message does not name the file: %s", e.msg);
		return 0;
	}
	size_t n = rf_rules_count(rs);
	FUZZ_ASSERT(n > 0, "a file without rules compiled");
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT(rf_rules_line(rs, i) >= 1 && rf_rules_text(rs, i) !=
		    NULL, "rule %zu", i);
	if (rf_rules_scratch_new(rs, &sc, &e) < 0 ||
	    rf_rules_state_new(rs, RF_RULES_MEMORY_MIN, EXAMPLES, &st, &e) < 0)
		goto out;
	for (const char *p = recs, *end = recs + rn; p < end;) {
		const char *nl = memchr(p, '\n', end - p);
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		if (!rf_blank(p, len) && rf_json_validate(p, len, &e) == 0) {
			found.len = 0;
			if (rf_rules_check(rs, sc, p, len, &found, &e) < 0 ||
			    rf_rules_feed(st, found.p, found.len, "in", lineno,
			    &e) < 0)
				goto out;
			fed++;
		}
		p += len + 1;
	}
	if (rf_rules_finish(st, &e) < 0)
		goto out;
	FUZZ_ASSERT(rf_rules_records(st) == fed, "%llu records fed, %llu "
	    "counted", (unsigned long long)fed,
	    (unsigned long long)rf_rules_records(st));
	for (size_t i = 0; i < n; i++) {
		rf_rule_result r;
		rf_rules_result(st, i, &r);
		FUZZ_ASSERT(r.applies <= fed && r.broken <= fed &&
		    r.nexamples <= EXAMPLES && r.nexamples <= r.broken,
		    "rule %zu: applies %llu broken %llu examples %zu of %llu",
		    i, (unsigned long long)r.applies,
		    (unsigned long long)r.broken, r.nexamples,
		    (unsigned long long)fed);
		for (size_t k = 1; k < r.nexamples; k++)
			FUZZ_ASSERT(r.examples[k - 1].line < r.examples[k].line,
			    "examples out of order");
		for (size_t k = 0; k < r.nexamples; k++)
			FUZZ_ASSERT(r.examples[k].reason != NULL &&
			    rf_utf8_valid(r.examples[k].reason,
			    strlen(r.examples[k].reason)), "a bad reason");
	}
out:
	rf_buf_free(&found);
	rf_rules_state_free(st);
	rf_rules_scratch_free(sc);
	rf_rules_free(rs);
	return 0;
}
