/*
 * Schemas (refill-schema(5)): inferred from records, and read from
 * documents.  The input is records, one a line, or a document.
 * Properties: an inferred schema's document reads back to the same
 * document; the schema of all the records is the merge of the schemas
 * of two halves; a schema has no change from itself; and a document that
 * reads formats to one that reads back the same.
 */
#include "fuzz.h"

/* Small bounds, so that inputs reach them. */
#define FIELDS 40
#define VALUES 3

static void
roundtrip(const rf_schema *s, const char *what)
{
	rf_buf a = { 0 }, b = { 0 };
	rf_schema *t;
	rf_err e;

	if (rf_schema_format(s, &a, &e) < 0)
		return;
	FUZZ_ASSERT(rf_schema_parse(a.p, a.len, "D", &t, &e) == 0,
	    "%s: its own document does not read: %s", what, e.msg);
	if (rf_schema_format(t, &b, &e) == 0)
		FUZZ_ASSERT(a.len == b.len && memcmp(a.p, b.p, a.len) == 0,
		    "%s: the document changed on reading:\n%.*s\n%.*s", what,
		    (int)a.len, a.p, (int)b.len, b.p);
	FUZZ_ASSERT(rf_schema_compat(s, t, NULL, NULL) == 0,
	    "%s: a change from itself", what);
	rf_schema_free(t);
	rf_buf_free(&a);
	rf_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	rf_schema *all = NULL, *half[2] = { NULL, NULL }, *doc;
	rf_buf a = { 0 }, b = { 0 };
	rf_err e;
	size_t n = 0;

	if (rf_schema_parse(p, size, "D", &doc, &e) == 0) {
		roundtrip(doc, "a document");
		rf_schema_free(doc);
	} else
		FUZZ_ASSERT(strncmp(e.msg, "D", 1) == 0 ||
		    strcmp(e.msg, "out of memory") == 0,
		    "the message does not name the document: %s", e.msg);

	if (rf_schema_new(FIELDS, VALUES, &all, &e) < 0 ||
	    rf_schema_new(FIELDS, VALUES, &half[0], &e) < 0 ||
	    rf_schema_new(FIELDS, VALUES, &half[1], &e) < 0)
		goto out;
	for (; p < end; n++) {
		const char *nl = memchr(p, '\n', end - p);
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (!rf_blank(p, len) && rf_json_validate(p, len, &e) == 0 &&
		    (rf_schema_add(all, p, len) < 0 ||
		    rf_schema_add(half[n % 2], p, len) < 0))
			goto out;
		p += len + 1;
	}
	roundtrip(all, "inferred");
	/* Which paths a bound keeps depends on the order: only unbounded. */
	if (rf_schema_merge(half[0], half[1]) < 0)
		goto out;
	/* Terminated, for strstr. */
	if (rf_schema_format(all, &a, &e) == 0 &&
	    rf_schema_format(half[0], &b, &e) == 0 &&
	    rf_buf_addc(&a, '\0') == 0 && a.len-- > 0 &&
	    rf_buf_addc(&b, '\0') == 0 && b.len-- > 0 &&
	    strstr(a.p, "\"unrecorded\":0") != NULL &&
	    strstr(b.p, "\"unrecorded\":0") != NULL) {
		rf_schema *x, *y;
		FUZZ_ASSERT(rf_schema_parse(a.p, a.len, "A", &x, &e) == 0 &&
		    rf_schema_parse(b.p, b.len, "B", &y, &e) == 0, "%s", e.msg);
		FUZZ_ASSERT(rf_schema_compat(x, y, NULL, NULL) == 0,
		    "the merged halves differ from the whole:\n%.*s\n%.*s",
		    (int)a.len, a.p, (int)b.len, b.p);
		rf_schema_free(x);
		rf_schema_free(y);
	}
out:
	rf_buf_free(&a);
	rf_buf_free(&b);
	rf_schema_free(all);
	rf_schema_free(half[0]);
	rf_schema_free(half[1]);
	rf_json_thread_free();
	return 0;
}
