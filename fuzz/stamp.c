/*
 * Provenance stamps and the lineage graph.  Each line of the input is a
 * stamp (refill-prov(5)); those that parse are added to one graph, which
 * is then linked and walked both ways from every node.  Properties: a
 * stamp's strings are UTF-8 without NUL, its digest is that of its
 * canonical form, and a walk reaches each node once, its seeds included.
 */
#include "fuzz.h"

static void
check_str(const char *s)
{
	FUZZ_ASSERT(s != NULL && rf_utf8_valid(s, strlen(s)), "a bad string");
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	rf_lineage *g;
	rf_ids ids = { 0 };
	rf_err e;
	unsigned n = 0;

	if (rf_lineage_new(&g, &e) < 0)
		return 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		rf_stamp st;
		if (rf_stamp_parse(p, len, &st, &e) == 0) {
			check_str(st.program);
			check_str(st.started);
			check_str(st.ended);
			check_str(st.out_path);
			FUZZ_ASSERT((st.tname == NULL) == (st.tversion == NULL),
			    "half a transform");
			for (size_t i = 0; i < st.ninputs; i++)
				check_str(st.inputs[i].path);
			/* Every other line at a place of its own, the rest at
			 * the output path they name. */
			char place[32];
			snprintf(place, sizeof place, "d@%06u/f%u", n % 7, n);
			if (rf_lineage_add(g, &st, n % 2 ? place : st.out_path,
			    &e) < 0) {
				rf_stamp_free(&st);
				break;
			}
			rf_stamp_free(&st);
			n++;
		} else
			FUZZ_ASSERT(e.msg[0] != '\0', "no reason given");
		p += len + 1;
	}
	if (rf_lineage_link(g, &e) < 0)
		goto out;
	size_t nn = rf_lineage_size(g);
	for (uint32_t id = 0; id < nn; id++) {
		const rf_lnode *nd = rf_lineage_node(g, id);
		for (size_t i = 1; i < nd->nplaces; i++)
			FUZZ_ASSERT(strcmp(nd->places[i - 1],
			    nd->places[i]) < 0, "places not sorted, or twice");
		for (int up = 0; up <= 1; up++) {
			ids.n = 0;
			if (rf_lineage_walk(g, &id, 1, up, &ids, &e) < 0)
				goto out;
			FUZZ_ASSERT(ids.n >= 1 && ids.n <= nn, "%zu of %zu",
			    ids.n, nn);
			bool self = false;
			for (size_t i = 0; i < ids.n; i++) {
				FUZZ_ASSERT(ids.v[i] < nn, "no such node");
				self |= ids.v[i] == id;
			}
			FUZZ_ASSERT(self, "the seed was not reached");
		}
		ids.n = 0;
		if (rf_lineage_to(g, id, &ids, &e) < 0)
			goto out;
		for (size_t k = 0; nd->stamp != NULL &&
		    k < nd->stamp->ninputs; k++) {
			const rf_stamp_input *in = &nd->stamp->inputs[k];
			ids.n = 0;
			if (rf_lineage_from(g, id, k, &ids, &e) < 0)
				goto out;
			ids.n = 0;
			if (rf_lineage_find(g, in->sha256, in->path, true, &ids,
			    &e) < 0)
				goto out;
		}
	}
out:
	rf_ids_free(&ids);
	rf_lineage_free(g);
	return 0;
}
