/*
 * The audit log (refill-manifest(5)), as rf_store_open reads and checks
 * it: the input is written as the log of an empty dataset, which is then
 * opened without the lock, so nothing is repaired.  Properties: a log
 * that opens holds only valid lines, none empty.
 */
#include "fuzz.h"

static char dir[4096], logpath[4200];

static void
cleanup(void)
{
	rf_err e;

	rf_rmtree(dir, &e);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	rf_store *s;
	rf_err e;

	snprintf(dir, sizeof dir, "%s/refill-fuzz-log.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		exit(2);
	}
	atexit(cleanup);
	/* The layout as the library makes it, whatever it holds. */
	if (rf_store_open(dir, RF_STORE_CREATE, NULL, &s, NULL, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		exit(2);
	}
	rf_store_close(s);
	snprintf(logpath, sizeof logpath, "%s/log", dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	rf_store *s;
	rf_err e;

	fuzz_put(logpath, data, size);
	if (rf_store_open(dir, 0, NULL, &s, NULL, &e) < 0) {
		FUZZ_ASSERT(e.msg[0] != '\0', "no reason given");
		return 0;
	}
	for (size_t i = 0; i < s->nlog; i++) {
		const rf_logent *l = &s->log[i];
		FUZZ_ASSERT(l->len > 0 && memchr(l->line, '\n', l->len) == NULL,
		    "line %zu", i + 1);
		FUZZ_ASSERT(rf_json_validate(l->line, l->len, &e) == 0,
		    "line %zu: %s", i + 1, e.msg);
		rf_store_committed(s, l->version);
	}
	rf_store_previous(s);
	rf_store_close(s);
	return 0;
}
