/*
 * Provenance stamps read back (refill-prov(5)), and the graph they make:
 * which stamp made each file, and from which files.  refill-lineage(1)
 * states the rules; this file is their one implementation.
 *
 * A backfill can leave 100k stamps, and every empty file has the same
 * SHA-256, so nothing here compares all stamps with all inputs: stamps
 * are found by hash tables (by the stamp's own digest, by the content it
 * made, and by that content together with a place), and an input that
 * could have come from any of N stamps is linked to the group, not to
 * each of the N.
 */
#include <stdlib.h>
#include <string.h>

#include "refill.h"

#define NONE UINT32_MAX
#define MAX_COUNT ((uint64_t)1 << 53)	/* refill-prov(5): exact up to 2^53 */

/* ---- parsing a stamp ------------------------------------------------------ */

/*
 * The stamp is parsed from its canonical form, whose member names are
 * never escaped (they are plain ASCII), so names compare as bytes.
 */
static int
member(const char *obj, size_t n, const char *name, const char **v,
    size_t *vn)
{
	return rf_json_member(obj, n, name, v, vn) ? 0 : RF_EMISSING;
}

/* Where a stamp's strings go while it is parsed: offsets, fixed up last. */
struct sparse {
	rf_buf pool;
	rf_err *e;
	char where[64];		/* the member at hand, for messages */
};

static int
missing(struct sparse *p, const char *name)
{
	return rf_seterr(p->e, RF_EDATA, "no \"%s%s\"", p->where, name);
}

static int
bad(struct sparse *p, const char *name, const char *why)
{
	return rf_seterr(p->e, RF_EDATA, "bad \"%s%s\": %s", p->where, name, why);
}

static int
get(struct sparse *p, const char *obj, size_t n, const char *name,
    const char **v, size_t *vn)
{
	if (member(obj, n, name, v, vn) < 0)
		return missing(p, name);
	return 0;
}

/* A string member, decoded into the pool; *off is where it starts. */
static int
get_str(struct sparse *p, const char *obj, size_t n, const char *name,
    size_t *off)
{
	const char *v;
	size_t vn;
	int rc;

	if ((rc = get(p, obj, n, name, &v, &vn)) < 0)
		return rc;
	if (v[0] != '"')
		return bad(p, name, "not a string");
	*off = p->pool.len;
	if (rf_json_unescape(v, vn, &p->pool) < 0 ||
	    rf_buf_addc(&p->pool, '\0') < 0)
		return rf_seterr(p->e, RF_ENOMEM, "out of memory");
	/* Places and names are C strings: a NUL would cut them silently. */
	if (strlen(p->pool.p + *off) != p->pool.len - 1 - *off)
		return bad(p, name, "holds a NUL character");
	return 0;
}

static int
get_hex(struct sparse *p, const char *obj, size_t n, const char *name,
    unsigned char d[RF_SHA256_LEN])
{
	const char *v;
	size_t vn;
	int rc;

	if ((rc = get(p, obj, n, name, &v, &vn)) < 0)
		return rc;
	if (vn != 2 + 2 * RF_SHA256_LEN || v[0] != '"')
		return bad(p, name, "not 64 lower-case hexadecimal digits");
	for (size_t i = 1; i < vn - 1; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return bad(p, name, "not 64 lower-case hexadecimal digits");
	rf_unhex(v + 1, vn - 2, d, RF_SHA256_LEN);
	return 0;
}

/* In canonical form an integer is its digits alone (1.0 is written 1). */
static int
get_count(struct sparse *p, const char *obj, size_t n, const char *name,
    uint64_t *out)
{
	const char *v;
	size_t vn;
	uint64_t x = 0;
	int rc;

	if ((rc = get(p, obj, n, name, &v, &vn)) < 0)
		return rc;
	for (size_t i = 0; i < vn; i++) {
		if (v[i] < '0' || v[i] > '9' || i >= 16 || x > MAX_COUNT)
			return bad(p, name, "not an integer from 0 to 2^53");
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (vn == 0 || x > MAX_COUNT)
		return bad(p, name, "not an integer from 0 to 2^53");
	*out = x;
	return 0;
}

static int
get_obj(struct sparse *p, const char *obj, size_t n, const char *name,
    const char **v, size_t *vn)
{
	int rc;

	if ((rc = get(p, obj, n, name, v, vn)) < 0)
		return rc;
	if ((*v)[0] != '{')
		return bad(p, name, "not an object");
	return 0;
}

static int
get_time(struct sparse *p, const char *obj, size_t n, const char *name,
    size_t *off)
{
	int64_t t;
	int rc;

	if ((rc = get_str(p, obj, n, name, off)) < 0)
		return rc;
	if (rf_parse_rfc3339(p->pool.p + *off, strlen(p->pool.p + *off), &t) < 0)
		return bad(p, name, "not an RFC 3339 date-time");
	return 0;
}

void
rf_stamp_free(rf_stamp *st)
{
	if (st == NULL)
		return;
	free(st->mem);
	free(st->inputs);
	memset(st, 0, sizeof *st);
}

int
rf_stamp_parse(const char *buf, size_t len, rf_stamp *st, rf_err *e)
{
	struct sparse p = { .e = e };
	rf_buf c = { 0 };
	rf_sha256 *h = NULL;
	const char *v, *obj;
	size_t vn, on, pos;
	size_t o_prog, o_tname = 0, o_tver = 0, o_start, o_end, o_path;
	size_t *o_in = NULL, cap = 0;
	bool tr = false;
	int rc;

	memset(st, 0, sizeof *st);
	if ((rc = rf_json_canon(buf, len, &c, e)) < 0)
		goto out;
	if (c.p[0] != '{') {
		rc = rf_seterr(e, RF_EDATA, "not a JSON object");
		goto out;
	}
	/* The pool's offset 0 is never a string's: 0 means "none" below. */
	if (rf_buf_addc(&p.pool, '\0') < 0 || (h = rf_sha256_new()) == NULL) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto out;
	}
	rf_sha256_once(h, c.p, c.len, st->digest);

	if ((rc = get(&p, c.p, c.len, "format", &v, &vn)) < 0)
		goto out;
	if (vn != 15 || memcmp(v, "\"refill-prov/1\"", 15) != 0) {
		rc = bad(&p, "format", "not \"refill-prov/1\"");
		goto out;
	}
	if ((rc = get_obj(&p, c.p, c.len, "program", &obj, &on)) < 0)
		goto out;
	strcpy(p.where, "program.");
	if ((rc = get_str(&p, obj, on, "name", &o_prog)) < 0)
		goto out;

	p.where[0] = '\0';
	if ((rc = get(&p, c.p, c.len, "transform", &v, &vn)) < 0)
		goto out;
	if (!(vn == 4 && memcmp(v, "null", 4) == 0)) {
		if (v[0] != '{') {
			rc = bad(&p, "transform", "neither null nor an object");
			goto out;
		}
		obj = v;
		on = vn;
		tr = true;
		strcpy(p.where, "transform.");
		if ((rc = get_str(&p, obj, on, "name", &o_tname)) < 0 ||
		    (rc = get_str(&p, obj, on, "version", &o_tver)) < 0 ||
		    (rc = get_hex(&p, obj, on, "id", st->tid)) < 0)
			goto out;
	}

	p.where[0] = '\0';
	if ((rc = get_obj(&p, c.p, c.len, "output", &obj, &on)) < 0)
		goto out;
	strcpy(p.where, "output.");
	unsigned char dd[RF_SHA256_LEN];
	char ddhex[65];
	if ((rc = get_hex(&p, obj, on, "sha256", st->out_sha256)) < 0 ||
	    (rc = get_count(&p, obj, on, "records", &st->out_digest.count)) < 0 ||
	    (rc = get_hex(&p, obj, on, "dataset_digest", dd)) < 0 ||
	    (rc = get_str(&p, obj, on, "path", &o_path)) < 0)
		goto out;
	rf_hex(dd, RF_SHA256_LEN, ddhex);
	rf_dsum_parse(ddhex, 64, st->out_digest.count, &st->out_digest);

	p.where[0] = '\0';
	if ((rc = get_time(&p, c.p, c.len, "started", &o_start)) < 0 ||
	    (rc = get_time(&p, c.p, c.len, "ended", &o_end)) < 0 ||
	    (rc = get(&p, c.p, c.len, "inputs", &obj, &on)) < 0)
		goto out;
	if (obj[0] != '[') {
		rc = bad(&p, "inputs", "not an array");
		goto out;
	}
	pos = 0;
	while ((rc = rf_json_next(obj, on, &pos, NULL, NULL, &v, &vn)) > 0) {
		size_t k = st->ninputs;
		if (k == cap) {
			size_t nc = cap ? 2 * cap : 4;
			rf_stamp_input *ni = realloc(st->inputs, nc * sizeof *ni);
			size_t *no = realloc(o_in, nc * sizeof *no);
			if (ni != NULL)
				st->inputs = ni;
			if (no != NULL)
				o_in = no;
			if (ni == NULL || no == NULL) {
				rc = rf_seterr(e, RF_ENOMEM, "out of memory");
				goto out;
			}
			cap = nc;
		}
		snprintf(p.where, sizeof p.where, "inputs.%zu", k);
		if (v[0] != '{') {
			rc = bad(&p, "", "not an object");
			goto out;
		}
		snprintf(p.where, sizeof p.where, "inputs.%zu.", k);
		rf_stamp_input *in = &st->inputs[k];
		if ((rc = get_str(&p, v, vn, "path", &o_in[k])) < 0 ||
		    (rc = get_hex(&p, v, vn, "sha256", in->sha256)) < 0 ||
		    (rc = get_count(&p, v, vn, "records", &in->records)) < 0)
			goto out;
		st->ninputs++;
	}
	if (rc < 0)
		goto out;

	/* One block for all the strings: the stamp's whole memory is two. */
	st->mem = p.pool.p;
	p.pool.p = NULL;
	st->program = st->mem + o_prog;
	st->tname = tr ? st->mem + o_tname : NULL;
	st->tversion = tr ? st->mem + o_tver : NULL;
	st->started = st->mem + o_start;
	st->ended = st->mem + o_end;
	st->out_path = st->mem + o_path;
	for (size_t k = 0; k < st->ninputs; k++)
		st->inputs[k].path = st->mem + o_in[k];
	rc = 0;
out:
	if (rc < 0)
		rf_stamp_free(st);
	rf_sha256_free(h);
	rf_buf_free(&p.pool);
	rf_buf_free(&c);
	free(o_in);
	return rc;
}

/* ---- id lists ---------------------------------------------------------- */

int
rf_ids_add(rf_ids *x, uint32_t id)
{
	if (x->n == x->cap) {
		size_t nc = x->cap ? 2 * x->cap : 16;
		uint32_t *nv = realloc(x->v, nc * sizeof *nv);
		if (nv == NULL)
			return RF_ENOMEM;
		x->v = nv;
		x->cap = nc;
	}
	x->v[x->n++] = id;
	return 0;
}

void
rf_ids_free(rf_ids *x)
{
	free(x->v);
	memset(x, 0, sizeof *x);
}

/* ---- the graph ----------------------------------------------------------- */

/* An open-addressing table of ids, each stored with its hash. */
struct slot {
	uint64_t h;
	uint32_t id;		/* NONE: empty */
};

struct tab {
	struct slot *s;
	size_t cap, n;
};

enum { LINK_MATCHED, LINK_ALL, LINK_SOURCE };

/* How one input of a stamp is linked to what made it. */
struct link {
	uint8_t kind;
	uint32_t a, n;	/* MATCHED: tgt[a, a+n); ALL: content a; SOURCE: node a */
};

/* Everything known about one content (one SHA-256). */
struct content {
	unsigned char sha[RF_SHA256_LEN];
	uint32_t prod;		/* first stamp node that made it */
	uint32_t nprod;
	uint32_t bare;		/* its node without a stamp, or NONE */
	uint32_t gcons;		/* edges: stamps with an input linked to all */
};

struct node {
	rf_lnode pub;
	rf_stamp st;
	char **places;
	size_t capplaces;
	uint32_t content;
	uint32_t next_prod;	/* the next stamp node of the same content */
	uint32_t cons;		/* edges: stamps that one of its inputs names */
	uint32_t link;		/* its inputs' links: links[link, +ninputs) */
	bool is_stamp;
};

/* A place of a stamp node, or its output.path, in the compared form. */
struct pent {
	uint32_t content, node;
	char *norm;
};

struct edge {
	uint32_t node, next;
};

struct rf_lineage {
	struct node *node;
	size_t nnode, capnode;
	struct content *content;
	size_t ncontent, capcontent;
	struct pent *pent;
	size_t npent, cappent;
	struct edge *edge;
	size_t nedge, capedge;
	struct link *links;
	size_t nlinks, caplinks;
	rf_ids tgt;
	struct tab by_digest, by_content, by_place;
	bool linked;
	rf_buf scratch;
};

static uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	/* FNV-1a, then a final mix so that the low bits depend on all. */
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

#define HASH0 0xcbf29ce484222325ULL

static int
tab_grow(struct tab *t)
{
	size_t nc = t->cap ? 2 * t->cap : 1024;
	struct slot *ns = malloc(nc * sizeof *ns);

	if (ns == NULL)
		return RF_ENOMEM;
	for (size_t i = 0; i < nc; i++)
		ns[i].id = NONE;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->s[i].id == NONE)
			continue;
		size_t j = t->s[i].h & (nc - 1);
		while (ns[j].id != NONE)
			j = (j + 1) & (nc - 1);
		ns[j] = t->s[i];
	}
	free(t->s);
	t->s = ns;
	t->cap = nc;
	return 0;
}

static int
tab_put(struct tab *t, uint64_t h, uint32_t id)
{
	if (2 * (t->n + 1) > t->cap && tab_grow(t) < 0)
		return RF_ENOMEM;
	size_t j = h & (t->cap - 1);
	while (t->s[j].id != NONE)
		j = (j + 1) & (t->cap - 1);
	t->s[j].h = h;
	t->s[j].id = id;
	t->n++;
	return 0;
}

/*
 * Iterates over the ids stored with hash h: *it is 0 at first.  Returns
 * the next id, or NONE.  The caller compares the keys.
 */
static uint32_t
tab_next(const struct tab *t, uint64_t h, size_t *it)
{
	if (t->cap == 0)
		return NONE;
	for (size_t j = (h + *it) & (t->cap - 1); t->s[j].id != NONE;
	    j = (j + 1) & (t->cap - 1)) {
		++*it;
		if (t->s[j].h == h)
			return t->s[j].id;
	}
	return NONE;
}

#define GROW(arr, n, cap) grow((void **)&(arr), (n), &(cap), sizeof *(arr))

static int
grow(void **arr, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? 2 * *cap : 64;
	void *p = realloc(*arr, nc * size);
	if (p == NULL)
		return RF_ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

int
rf_lineage_new(rf_lineage **out, rf_err *e)
{
	if ((*out = calloc(1, sizeof **out)) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	return 0;
}

void
rf_lineage_free(rf_lineage *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->nnode; i++) {
		struct node *n = &g->node[i];
		rf_stamp_free(&n->st);
		for (size_t k = 0; k < n->pub.nplaces; k++)
			free(n->places[k]);
		free(n->places);
	}
	for (size_t i = 0; i < g->npent; i++)
		free(g->pent[i].norm);
	free(g->node);
	free(g->content);
	free(g->pent);
	free(g->edge);
	free(g->links);
	rf_ids_free(&g->tgt);
	free(g->by_digest.s);
	free(g->by_content.s);
	free(g->by_place.s);
	rf_buf_free(&g->scratch);
	free(g);
}

static uint32_t
content_find(const rf_lineage *g, const unsigned char sha[RF_SHA256_LEN])
{
	uint64_t h = hash_bytes(HASH0, sha, RF_SHA256_LEN);
	size_t it = 0;
	uint32_t id;

	while ((id = tab_next(&g->by_content, h, &it)) != NONE)
		if (memcmp(g->content[id].sha, sha, RF_SHA256_LEN) == 0)
			return id;
	return NONE;
}

static int
content_get(rf_lineage *g, const unsigned char sha[RF_SHA256_LEN],
    uint32_t *out)
{
	if ((*out = content_find(g, sha)) != NONE)
		return 0;
	if (GROW(g->content, g->ncontent, g->capcontent) < 0 ||
	    tab_put(&g->by_content, hash_bytes(HASH0, sha, RF_SHA256_LEN),
	    (uint32_t)g->ncontent) < 0)
		return RF_ENOMEM;
	struct content *c = &g->content[g->ncontent];
	memcpy(c->sha, sha, RF_SHA256_LEN);
	c->prod = c->bare = c->gcons = NONE;
	c->nprod = 0;
	*out = (uint32_t)g->ncontent++;
	return 0;
}

int
rf_lineage_norm(const char *place, rf_buf *out)
{
	const char *p = place, *v;

	while (p[0] == '.' && p[1] == '/') {
		p += 2;
		while (*p == '/')
			p++;
	}
	/* D/versions/NNNNNN/NAME, or versions/NNNNNN/NAME in D itself. */
	for (v = p; (v = strstr(v, "versions/")) != NULL; v++) {
		if (v != p && v[-1] != '/')
			continue;
		int i;
		for (i = 0; i < 6 && v[9 + i] >= '0' && v[9 + i] <= '9'; i++)
			;
		if (i == 6 && v[15] == '/' && v[16] != '\0')
			break;
	}
	int rc = 0;
	if (v == NULL)
		rc = rf_buf_adds(out, p);
	else {
		if (v == p)
			rc = rf_buf_addc(out, '.');
		else
			rc = rf_buf_add(out, p, (size_t)(v - 1 - p));
		if (rc == 0 && (rc = rf_buf_addc(out, '@')) == 0)
			rc = rf_buf_adds(out, v + 9);
	}
	if (rc == 0)
		rc = rf_buf_addc(out, '\0');
	return rc < 0 ? RF_ENOMEM : 0;
}

static uint64_t
place_hash(uint32_t content, const char *norm)
{
	return hash_bytes(hash_bytes(HASH0, &content, sizeof content), norm,
	    strlen(norm));
}

/* Indexes a stamp node under (its content, a place in compared form). */
static int
pent_add(rf_lineage *g, uint32_t node, const char *place)
{
	uint32_t c = g->node[node].content;
	size_t it = 0;
	uint32_t id;
	uint64_t h;

	g->scratch.len = 0;
	if (rf_lineage_norm(place, &g->scratch) < 0)
		return RF_ENOMEM;
	h = place_hash(c, g->scratch.p);
	while ((id = tab_next(&g->by_place, h, &it)) != NONE)
		if (g->pent[id].node == node &&
		    strcmp(g->pent[id].norm, g->scratch.p) == 0)
			return 0;
	if (GROW(g->pent, g->npent, g->cappent) < 0 ||
	    tab_put(&g->by_place, h, (uint32_t)g->npent) < 0)
		return RF_ENOMEM;
	struct pent *pe = &g->pent[g->npent];
	if ((pe->norm = strdup(g->scratch.p)) == NULL)
		return RF_ENOMEM;
	pe->content = c;
	pe->node = node;
	g->npent++;
	return 0;
}

static int
place_add(rf_lineage *g, uint32_t id, const char *place)
{
	struct node *n = &g->node[id];

	for (size_t k = 0; k < n->pub.nplaces; k++)
		if (strcmp(n->places[k], place) == 0)
			return 0;
	if (n->pub.nplaces == n->capplaces) {
		/* Most files have one or two places: start small. */
		size_t nc = n->capplaces ? 2 * n->capplaces : 2;
		char **np = realloc(n->places, nc * sizeof *np);
		if (np == NULL)
			return RF_ENOMEM;
		n->places = np;
		n->capplaces = nc;
	}
	if ((n->places[n->pub.nplaces] = strdup(place)) == NULL)
		return RF_ENOMEM;
	n->pub.nplaces++;
	return n->is_stamp ? pent_add(g, id, place) : 0;
}

static int
node_new(rf_lineage *g, uint32_t content, uint32_t *out)
{
	if (g->nnode >= NONE - 1)
		return RF_ENOMEM;
	if (GROW(g->node, g->nnode, g->capnode) < 0)
		return RF_ENOMEM;
	struct node *n = &g->node[g->nnode];
	memset(n, 0, sizeof *n);
	memcpy(n->pub.sha256, g->content[content].sha, RF_SHA256_LEN);
	n->content = content;
	n->next_prod = n->cons = n->link = NONE;
	*out = (uint32_t)g->nnode++;
	return 0;
}

int
rf_lineage_add(rf_lineage *g, rf_stamp *st, const char *place, rf_err *e)
{
	uint64_t h = hash_bytes(HASH0, st->digest, RF_SHA256_LEN);
	size_t it = 0;
	uint32_t id, c;

	if (g->linked) {
		rf_stamp_free(st);
		return rf_seterr(e, RF_EUSAGE, "stamps added after the links");
	}
	while ((id = tab_next(&g->by_digest, h, &it)) != NONE)
		if (memcmp(g->node[id].st.digest, st->digest, RF_SHA256_LEN) == 0)
			break;
	if (id == NONE) {
		if (content_get(g, st->out_sha256, &c) < 0 ||
		    node_new(g, c, &id) < 0 ||
		    tab_put(&g->by_digest, h, id) < 0) {
			rf_stamp_free(st);
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		}
		struct node *n = &g->node[id];
		n->st = *st;
		memset(st, 0, sizeof *st);
		n->is_stamp = true;
		n->pub.has_records = n->pub.has_digest = true;
		n->pub.records = n->st.out_digest.count;
		n->pub.digest = n->st.out_digest;
		n->next_prod = g->content[c].prod;
		g->content[c].prod = id;
		g->content[c].nprod++;
		/* What the stamp says it wrote is a place to match too. */
		if (pent_add(g, id, n->st.out_path) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	/* place may be in the duplicate's memory (its out_path): free after. */
	int rc = place_add(g, id, place);
	rf_stamp_free(st);
	if (rc < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	return 0;
}

/* The node of a content without a stamp, made on first use. */
static int
bare_get(rf_lineage *g, uint32_t c, uint32_t *out)
{
	if (g->content[c].bare != NONE) {
		*out = g->content[c].bare;
		return 0;
	}
	if (node_new(g, c, out) < 0)
		return RF_ENOMEM;
	g->content[c].bare = *out;
	return 0;
}

int
rf_lineage_add_file(rf_lineage *g, const unsigned char sha[RF_SHA256_LEN],
    const rf_dsum *digest, const char *place, rf_err *e)
{
	uint32_t c, id;

	if (g->linked)
		return rf_seterr(e, RF_EUSAGE, "files added after the links");
	if (content_get(g, sha, &c) < 0 || bare_get(g, c, &id) < 0 ||
	    place_add(g, id, place) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	struct node *n = &g->node[id];
	if (digest != NULL) {
		n->pub.has_records = n->pub.has_digest = true;
		n->pub.records = digest->count;
		n->pub.digest = *digest;
	}
	return 0;
}

static int
edge_add(rf_lineage *g, uint32_t *head, uint32_t node)
{
	if (GROW(g->edge, g->nedge, g->capedge) < 0)
		return RF_ENOMEM;
	g->edge[g->nedge].node = node;
	g->edge[g->nedge].next = *head;
	*head = (uint32_t)g->nedge++;
	return 0;
}

/*
 * The stamp nodes of content c that place (in any form) names, other than
 * self, appended to out.
 */
static int
by_place(rf_lineage *g, uint32_t c, const char *place, uint32_t self,
    rf_ids *out)
{
	size_t it = 0, first = out->n;
	uint32_t id;

	g->scratch.len = 0;
	if (rf_lineage_norm(place, &g->scratch) < 0)
		return RF_ENOMEM;
	uint64_t h = place_hash(c, g->scratch.p);
	while ((id = tab_next(&g->by_place, h, &it)) != NONE) {
		const struct pent *pe = &g->pent[id];
		if (pe->content != c || pe->node == self ||
		    strcmp(pe->norm, g->scratch.p) != 0)
			continue;
		/* A place and output.path may both name it. */
		bool dup = false;
		for (size_t k = first; k < out->n && !dup; k++)
			dup = out->v[k] == pe->node;
		if (!dup && rf_ids_add(out, pe->node) < 0)
			return RF_ENOMEM;
	}
	return 0;
}

/* Whether content c was made by a stamp other than self. */
static bool
made_by_other(const rf_lineage *g, uint32_t c, uint32_t self)
{
	const struct content *ct = &g->content[c];

	return ct->nprod > 1 || (ct->nprod == 1 && ct->prod != self);
}

static int
placecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
rf_lineage_link(rf_lineage *g, rf_err *e)
{
	rf_ids m = { 0 };
	size_t nn = g->nnode;	/* sources found below add nodes */

	if (g->linked)
		return 0;
	g->linked = true;
	for (uint32_t t = 0; t < nn; t++) {
		if (!g->node[t].is_stamp)
			continue;
		size_t ni = g->node[t].st.ninputs;
		if (g->nlinks + ni > g->caplinks) {
			size_t nc = 2 * (g->nlinks + ni);
			struct link *nl = realloc(g->links, nc * sizeof *nl);
			if (nl == NULL)
				goto nomem;
			g->links = nl;
			g->caplinks = nc;
		}
		g->node[t].link = (uint32_t)g->nlinks;
		g->nlinks += ni;
		for (size_t k = 0; k < ni; k++) {
			const rf_stamp_input *in = &g->node[t].st.inputs[k];
			struct link *l = &g->links[g->node[t].link + k];
			uint32_t c = content_find(g, in->sha256), b;

			m.n = 0;
			if (c != NONE && by_place(g, c, in->path, t, &m) < 0)
				goto nomem;
			if (m.n > 0) {
				l->kind = LINK_MATCHED;
				l->a = (uint32_t)g->tgt.n;
				l->n = (uint32_t)m.n;
				for (size_t j = 0; j < m.n; j++)
					if (rf_ids_add(&g->tgt, m.v[j]) < 0 ||
					    edge_add(g, &g->node[m.v[j]].cons, t) < 0)
						goto nomem;
			} else if (c != NONE && made_by_other(g, c, t)) {
				l->kind = LINK_ALL;
				l->a = c;
				if (edge_add(g, &g->content[c].gcons, t) < 0)
					goto nomem;
			} else {
				/* A source, known by the path it was read by. */
				if ((c == NONE && content_get(g, in->sha256, &c) < 0) ||
				    bare_get(g, c, &b) < 0)
					goto nomem;
				l->kind = LINK_SOURCE;
				l->a = b;
				g->scratch.len = 0;
				if (rf_lineage_norm(in->path, &g->scratch) < 0 ||
				    place_add(g, b, g->scratch.p) < 0 ||
				    edge_add(g, &g->node[b].cons, t) < 0)
					goto nomem;
				struct node *bn = &g->node[b];
				if (!bn->pub.has_records) {
					bn->pub.has_records = true;
					bn->pub.records = in->records;
				}
			}
		}
	}
	for (size_t i = 0; i < g->nnode; i++) {
		struct node *n = &g->node[i];
		if (n->pub.nplaces > 1)
			qsort(n->places, n->pub.nplaces, sizeof *n->places,
			    placecmp);
		n->pub.places = (const char *const *)n->places;
		n->pub.stamp = n->is_stamp ? &n->st : NULL;
	}
	rf_ids_free(&m);
	return 0;
nomem:
	rf_ids_free(&m);
	return rf_seterr(e, RF_ENOMEM, "out of memory");
}

size_t
rf_lineage_size(const rf_lineage *g)
{
	return g->nnode;
}

const rf_lnode *
rf_lineage_node(const rf_lineage *g, uint32_t id)
{
	return &g->node[id].pub;
}

int
rf_lineage_find(rf_lineage *g, const unsigned char sha[RF_SHA256_LEN],
    const char *path, bool bare, rf_ids *out, rf_err *e)
{
	uint32_t c = content_find(g, sha);
	size_t first = out->n;

	if (c == NONE)
		return 0;
	if (path != NULL && by_place(g, c, path, NONE, out) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	if (out->n == first) {
		for (uint32_t s = g->content[c].prod; s != NONE;
		    s = g->node[s].next_prod)
			if (rf_ids_add(out, s) < 0)
				return rf_seterr(e, RF_ENOMEM, "out of memory");
		if (bare && g->content[c].bare != NONE &&
		    rf_ids_add(out, g->content[c].bare) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	return 0;
}

int
rf_lineage_from(const rf_lineage *g, uint32_t id, size_t k, rf_ids *out,
    rf_err *e)
{
	const struct node *n = &g->node[id];
	const struct link *l;

	if (!n->is_stamp || k >= n->st.ninputs || !g->linked)
		return 0;
	l = &g->links[n->link + k];
	switch (l->kind) {
	case LINK_MATCHED:
		for (uint32_t j = 0; j < l->n; j++)
			if (rf_ids_add(out, g->tgt.v[l->a + j]) < 0)
				goto nomem;
		break;
	case LINK_ALL:
		for (uint32_t s = g->content[l->a].prod; s != NONE;
		    s = g->node[s].next_prod)
			if (s != id && rf_ids_add(out, s) < 0)
				goto nomem;
		break;
	default:
		if (rf_ids_add(out, l->a) < 0)
			goto nomem;
	}
	return 0;
nomem:
	return rf_seterr(e, RF_ENOMEM, "out of memory");
}

static int
idcmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
rf_lineage_to(const rf_lineage *g, uint32_t id, rf_ids *out, rf_err *e)
{
	const struct node *n = &g->node[id];
	size_t first = out->n, w;

	if (!g->linked)
		return 0;
	for (uint32_t x = n->cons; x != NONE; x = g->edge[x].next)
		if (rf_ids_add(out, g->edge[x].node) < 0)
			goto nomem;
	if (n->is_stamp)
		for (uint32_t x = g->content[n->content].gcons; x != NONE;
		    x = g->edge[x].next)
			if (g->edge[x].node != id &&
			    rf_ids_add(out, g->edge[x].node) < 0)
				goto nomem;
	/* A stamp may read the same file twice: each node once. */
	if (out->n - first > 1)
		qsort(out->v + first, out->n - first, sizeof *out->v, idcmp);
	w = first;
	for (size_t r = first; r < out->n; r++)
		if (w == first || out->v[w - 1] != out->v[r])
			out->v[w++] = out->v[r];
	out->n = w;
	return 0;
nomem:
	return rf_seterr(e, RF_ENOMEM, "out of memory");
}

static int
push(rf_ids *stack, uint8_t *seen, uint32_t id)
{
	if (seen[id])
		return 0;
	seen[id] = 1;
	return rf_ids_add(stack, id);
}

/*
 * Pushes a group: the producers of content c (up) or the stamps linked to
 * all of them (down).  Once per walk, however many of its members lead to
 * it: the member being expanded, which the link leaves out, has been seen
 * already, so pushing every member is the same.
 */
static int
push_group(const rf_lineage *g, bool up, uint32_t c, uint8_t *done,
    rf_ids *stack, uint8_t *seen)
{
	if (done[c])
		return 0;
	done[c] = 1;
	if (up) {
		for (uint32_t x = g->content[c].prod; x != NONE;
		    x = g->node[x].next_prod)
			if (push(stack, seen, x) < 0)
				return RF_ENOMEM;
	} else
		for (uint32_t x = g->content[c].gcons; x != NONE;
		    x = g->edge[x].next)
			if (push(stack, seen, g->edge[x].node) < 0)
				return RF_ENOMEM;
	return 0;
}

int
rf_lineage_walk(const rf_lineage *g, const uint32_t *seeds, size_t nseeds,
    bool up, rf_ids *out, rf_err *e)
{
	uint8_t *seen = calloc(g->nnode ? g->nnode : 1, 1);
	uint8_t *done = calloc(g->ncontent ? g->ncontent : 1, 1);
	rf_ids stack = { 0 };
	int rc = 0;

	if (seen == NULL || done == NULL)
		goto nomem;
	for (size_t i = 0; i < nseeds; i++)
		if (push(&stack, seen, seeds[i]) < 0)
			goto nomem;
	while (stack.n > 0) {
		uint32_t id = stack.v[--stack.n];
		const struct node *n = &g->node[id];
		if (rf_ids_add(out, id) < 0)
			goto nomem;
		if (up && n->is_stamp && g->linked) {
			for (size_t k = 0; k < n->st.ninputs; k++) {
				const struct link *l = &g->links[n->link + k];
				if (l->kind == LINK_ALL) {
					if (push_group(g, true, l->a, done, &stack,
					    seen) < 0)
						goto nomem;
				} else if (l->kind == LINK_SOURCE) {
					if (push(&stack, seen, l->a) < 0)
						goto nomem;
				} else
					for (uint32_t j = 0; j < l->n; j++)
						if (push(&stack, seen,
						    g->tgt.v[l->a + j]) < 0)
							goto nomem;
			}
		} else if (!up && g->linked) {
			for (uint32_t x = n->cons; x != NONE; x = g->edge[x].next)
				if (push(&stack, seen, g->edge[x].node) < 0)
					goto nomem;
			if (n->is_stamp && push_group(g, false, n->content, done,
			    &stack, seen) < 0)
				goto nomem;
		}
	}
	goto out;
nomem:
	rc = rf_seterr(e, RF_ENOMEM, "out of memory");
out:
	free(seen);
	free(done);
	rf_ids_free(&stack);
	return rc;
}
