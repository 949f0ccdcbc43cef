/*
 * Dataset policies (refill-policy(5)).  The input is a policy file.
 * Properties: a file that reads formats to canonical JSON that reads back
 * to the same bytes; a file that does not read is refused naming it; and
 * a role allowed is one the policy names for that action.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	rf_policy p, q;
	rf_buf a = { 0 }, b = { 0 }, c = { 0 };
	rf_err e;

	if (rf_policy_parse((const char *)data, size, "P", &p, &e) < 0) {
		FUZZ_ASSERT(strncmp(e.msg, "P: ", 3) == 0 ||
		    strcmp(e.msg, "out of memory") == 0,
		    "the message does not name the file: %s", e.msg);
		return 0;
	}
	FUZZ_ASSERT(rf_policy_format(&p, &a, &e) == 0, "%s", e.msg);
	FUZZ_ASSERT(rf_json_canon(a.p, a.len - 1, &c, &e) == 0 &&
	    c.len == a.len - 1 && memcmp(c.p, a.p, c.len) == 0,
	    "not canonical: %.*s", (int)a.len, a.p);
	FUZZ_ASSERT(rf_policy_parse(a.p, a.len, "P", &q, &e) == 0 &&
	    rf_policy_format(&q, &b, &e) == 0 && a.len == b.len &&
	    memcmp(a.p, b.p, a.len) == 0, "read back differently: %.*s",
	    (int)a.len, a.p);
	for (int act = 0; act < RF_ACT_N; act++) {
		FUZZ_ASSERT(p.nroles[act] > 0, "no role may %s",
		    rf_policy_action(act));
		for (size_t i = 0; i < p.nroles[act]; i++) {
			char *roles[] = { p.roles[act][i] };
			rf_signer s = { .name = "x", .roles = roles, .nroles = 1 };
			FUZZ_ASSERT(rf_policy_allows(&p, act, &s),
			    "%s refused to a role it names",
			    rf_policy_action(act));
		}
		rf_signer none = { .name = "x", .nroles = 0 };
		FUZZ_ASSERT(!rf_policy_allows(&p, act, &none),
		    "%s allowed to no role", rf_policy_action(act));
	}
	rf_policy_free(&p);
	rf_policy_free(&q);
	rf_buf_free(&a);
	rf_buf_free(&b);
	rf_buf_free(&c);
	return 0;
}
