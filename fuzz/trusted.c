/*
 * Trusted-signers files (refill-manifest(5)), as rf_trusted_load reads
 * them from a file.  Properties: every signer loaded has a name and roles
 * of the allowed characters, a key of RF_PUBKEY_LEN characters, and is
 * the one found by its key.
 */
#include "fuzz.h"

static char path[4200];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tmpfile(path, sizeof path, "trusted");
	return 0;
}

static bool
all_of(const char *s, const char *set)
{
	return *s != '\0' && strspn(s, set) == strlen(s);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	rf_trusted t;
	rf_err e;

	fuzz_put(path, data, size);
	if (rf_trusted_load(path, &t, &e) < 0) {
		FUZZ_ASSERT(strncmp(e.msg, path, strlen(path)) == 0 ||
		    strcmp(e.msg, "out of memory") == 0,
		    "the message does not name the file: %s", e.msg);
		return 0;
	}
	for (size_t i = 0; i < t.n; i++) {
		const rf_signer *s = &t.s[i];
		FUZZ_ASSERT(all_of(s->name, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-"), "name %s",
		    s->name);
		FUZZ_ASSERT(s->nroles > 0, "%s has no role", s->name);
		for (size_t k = 0; k < s->nroles; k++) {
			FUZZ_ASSERT(all_of(s->roles[k],
			    "abcdefghijklmnopqrstuvwxyz0123456789-"), "role %s",
			    s->roles[k]);
			FUZZ_ASSERT(rf_signer_has_role(s, s->roles[k]), "role");
		}
		FUZZ_ASSERT(strlen(s->pub) == RF_PUBKEY_LEN, "key %s", s->pub);
		FUZZ_ASSERT(rf_trusted_find(&t, s->pub) == s, "not found");
	}
	rf_trusted_free(&t);
	return 0;
}
