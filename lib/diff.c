/*
 * A keyed diff of two sides of records.  Every record becomes an entry:
 * its key digest, record digest, where it came from, and its canonical key
 * and record.  Entries are held in memory up to a budget; beyond it they
 * are spilled into buckets by key digest (lib/spill.c) and compared bucket
 * by bucket.  Either way, the entries of one key meet in one place, are
 * sorted by key digest and classified there, so the differences come out
 * in the same order whatever the budget.
 */
#include <stdlib.h>
#include <string.h>

#include "refill.h"

#define NBUCKETS 64

/* An entry as stored: this header, then the key, then the record. */
struct ehdr {
	unsigned char keyd[RF_KEYD_LEN];
	unsigned char recd[RF_KEYD_LEN];
	uint64_t line;
	uint32_t file;
	uint32_t keylen, reclen;
	uint8_t side;
};

/*
 * What sorting and most of classifying need of an entry, so that the
 * arena is read only for the records that differ: both digests, as
 * big-endian halves, its side and where it is.
 */
struct ref {
	uint64_t k0, k1;		/* keyd */
	uint64_t r0, r1;		/* recd */
	uint64_t off;			/* of its header in the arena, << 1 | side */
};


struct rf_diff {
	rf_diff_opts o;
	rf_buf arena;			/* struct ehdr, key, record, ... */
	struct ref *refs;
	size_t nrefs, caprefs;
	rf_spill *spill;		/* NULL while everything fits */
	rf_diff_counts c;
	rf_sha256 *h;
	rf_buf scratch;
};

static struct ehdr
hdr(const rf_diff *d, size_t i)
{
	struct ehdr h;

	memcpy(&h, d->arena.p + (d->refs[i].off >> 1), sizeof h);
	return h;
}

static const char *
body(const rf_diff *d, size_t i)
{
	return d->arena.p + (d->refs[i].off >> 1) + sizeof(struct ehdr);
}

/* ---- preparing a record (any thread) -------------------------------------- */

int
rf_diff_prepare(const rf_diff_opts *o, const char *line, size_t n,
    rf_buf *out, rf_buf *scratch, rf_sha256 *h, rf_drec *r, rf_err *e)
{
	unsigned char d[RF_SHA256_LEN];
	const char *v;
	size_t vn, mark = out->len;
	int rc;

	scratch->len = 0;
	if ((rc = rf_json_canon(line, n, scratch, e)) < 0)
		return rc;
	r->keyoff = out->len;
	if (o->nkeys > 1 && rf_buf_addc(out, '[') < 0)
		goto nomem;
	for (size_t i = 0; i < o->nkeys; i++) {
		if (rf_json_get(scratch->p, scratch->len, o->keys[i], &v,
		    &vn) < 0) {
			out->len = mark;
			return rf_seterr(e, RF_EMISSING, "missing key %s",
			    rf_path_spec(o->keys[i]));
		}
		if ((i > 0 && rf_buf_addc(out, ',') < 0) ||
		    rf_buf_add(out, v, vn) < 0)
			goto nomem;
	}
	if (o->nkeys > 1 && rf_buf_addc(out, ']') < 0)
		goto nomem;
	r->keylen = out->len - r->keyoff;
	r->recoff = out->len;
	if (rf_json_strip(scratch->p, scratch->len, o->ignore, o->nignore,
	    out) < 0)
		goto nomem;
	r->reclen = out->len - r->recoff;
	rf_sha256_once(h, out->p + r->keyoff, r->keylen, d);
	memcpy(r->keyd, d, RF_KEYD_LEN);
	rf_sha256_once(h, out->p + r->recoff, r->reclen, d);
	memcpy(r->recd, d, RF_KEYD_LEN);
	return 0;
nomem:
	out->len = mark;
	return rf_seterr(e, RF_ENOMEM, "out of memory");
}

/* ---- collecting entries ----------------------------------------------------- */

int
rf_diff_new(const rf_diff_opts *o, rf_diff **out, rf_err *e)
{
	rf_diff *d = calloc(1, sizeof *d);

	if (d == NULL || (d->h = rf_sha256_new()) == NULL) {
		free(d);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	d->o = *o;
	*out = d;
	return 0;
}

static uint64_t
be64(const unsigned char *p)
{
	uint64_t x = 0;

	for (int i = 0; i < 8; i++)
		x = x << 8 | p[i];
	return x;
}

/* What the entries held in memory cost: the arena and the sort index. */
static size_t
held(const rf_diff *d)
{
	return d->arena.len + d->nrefs * sizeof(struct ref);
}

static int
to_spill(rf_diff *d, const struct ehdr *h, const char *body, size_t n,
    rf_err *e)
{
	/* The header's digest is the spill's key; the rest goes as is. */
	d->scratch.len = 0;
	if (rf_buf_add(&d->scratch, (const char *)h + RF_KEYD_LEN,
	    sizeof *h - RF_KEYD_LEN) < 0 || rf_buf_add(&d->scratch, body, n) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	d->c.spilled += RF_KEYD_LEN + 4 + d->scratch.len;
	return rf_spill_add(d->spill, h->keyd, d->scratch.p, d->scratch.len, e);
}

/* Memory is full: every entry held goes to disk, and later ones too. */
static int
start_spill(rf_diff *d, unsigned level, rf_spill **sp, rf_err *e)
{
	int rc;

	if ((rc = rf_spill_new(NBUCKETS, level, sp, e)) < 0)
		return rc;
	for (size_t i = 0; i < d->nrefs; i++) {
		struct ehdr h = hdr(d, i);
		if ((rc = to_spill(d, &h, body(d, i), h.keylen + h.reclen,
		    e)) < 0)
			return rc;
	}
	d->arena.len = 0;
	d->nrefs = 0;
	return 0;
}

static int
hold(rf_diff *d, const struct ehdr *h, const char *key, const char *rec,
    rf_err *e)
{
	if (d->nrefs == d->caprefs) {
		size_t nc = d->caprefs ? 2 * d->caprefs : 4096;
		struct ref *nr = realloc(d->refs, nc * sizeof *nr);
		if (nr == NULL)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		d->refs = nr;
		d->caprefs = nc;
	}
	struct ref *r = &d->refs[d->nrefs];
	r->k0 = be64(h->keyd);
	r->k1 = be64(h->keyd + 8);
	r->r0 = be64(h->recd);
	r->r1 = be64(h->recd + 8);
	r->off = (uint64_t)d->arena.len << 1 | h->side;
	if (rf_buf_add(&d->arena, h, sizeof *h) < 0 ||
	    rf_buf_add(&d->arena, key, h->keylen) < 0 ||
	    rf_buf_add(&d->arena, rec, h->reclen) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	d->nrefs++;
	return 0;
}

int
rf_diff_add(rf_diff *d, int side, uint32_t file, uint64_t line,
    const rf_drec *r, const char *buf, rf_err *e)
{
	struct ehdr h;
	int rc;

	memset(&h, 0, sizeof h);
	memcpy(h.keyd, r->keyd, RF_KEYD_LEN);
	memcpy(h.recd, r->recd, RF_KEYD_LEN);
	h.line = line;
	h.file = file;
	h.keylen = (uint32_t)r->keylen;
	h.reclen = (uint32_t)r->reclen;
	h.side = (uint8_t)side;
	if (side == 0)
		d->c.old++;
	else
		d->c.new_++;
	if (d->spill != NULL) {
		/* Key and record are adjacent in buf: one copy. */
		return to_spill(d, &h, buf + r->keyoff, r->keylen + r->reclen, e);
	}
	if ((rc = hold(d, &h, buf + r->keyoff, buf + r->recoff, e)) < 0)
		return rc;
	if (held(d) > d->o.memory)
		return start_spill(d, 0, &d->spill, e);
	return 0;
}

void
rf_diff_skip(rf_diff *d, uint64_t old, uint64_t new_)
{
	d->c.old += old;
	d->c.new_ += new_;
	d->c.unchanged += old < new_ ? old : new_;
	d->c.skipped += old;
}

/* ---- classifying ------------------------------------------------------------ */

/* By key digest, then arrival (the old side arrives first). */
static int
refcmp(const void *x, const void *y)
{
	const struct ref *a = x, *b = y;

	if (a->k0 != b->k0)
		return a->k0 < b->k0 ? -1 : 1;
	if (a->k1 != b->k1)
		return a->k1 < b->k1 ? -1 : 1;
	return a->off < b->off ? -1 : a->off > b->off;
}

static bool
samekey(const struct ref *a, const struct ref *b)
{
	return a->k0 == b->k0 && a->k1 == b->k1;
}

/*
 * Sorts the held entries by key digest, and within a key by side and
 * arrival (arena offset): an LSD radix sort on the digest's first 8 bytes,
 * stable, then a fix-up of the rare runs that share them.
 */
static int
sort_refs(rf_diff *d, rf_err *e)
{
	size_t n = d->nrefs;
	struct ref *tmp;

	if (n < 2)
		return 0;
	if (n < 256) {
		qsort(d->refs, n, sizeof *d->refs, refcmp);
		goto fixup;
	}
	if ((tmp = malloc(n * sizeof *tmp)) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	static size_t cnt[1 << 16];
	struct ref *src = d->refs, *dst = tmp;
	for (int shift = 0; shift < 64; shift += 16) {
		memset(cnt, 0, sizeof cnt);
		for (size_t i = 0; i < n; i++)
			cnt[src[i].k0 >> shift & 0xffff]++;
		size_t sum = 0;
		for (size_t b = 0; b < (1 << 16); b++) {
			size_t c = cnt[b];
			cnt[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[cnt[src[i].k0 >> shift & 0xffff]++] = src[i];
		struct ref *t = src;
		src = dst;
		dst = t;
	}
	/* Four passes: the sorted entries are back in d->refs. */
	free(tmp);
fixup:
	/* Runs with the same first 8 bytes are rare and short. */
	for (size_t i = 0; i + 1 < n;) {
		size_t j = i + 1;
		while (j < n && d->refs[j].k0 == d->refs[i].k0)
			j++;
		if (j - i > 1)
			qsort(d->refs + i, j - i, sizeof *d->refs, refcmp);
		i = j;
	}
	return 0;
}

/*
 * The entries of one key, d->refs[i, j): what they make.  Entries of the
 * old side come first (they arrived first), in input order.
 */
static int
classify(rf_diff *d, size_t i, size_t j,
    int (*cb)(const rf_diff_item *, void *), void *arg, rf_err *e)
{
	rf_diff_item it;
	struct ehdr fo, fn;
	uint64_t no = 0, nn = 0;
	size_t io = 0, in = 0;

	/* One record a side, the same: the common case reads no record. */
	if (j - i == 2 && (d->refs[i].off & 1) == 0 &&
	    (d->refs[i + 1].off & 1) == 1 &&
	    d->refs[i].r0 == d->refs[i + 1].r0 &&
	    d->refs[i].r1 == d->refs[i + 1].r1) {
		d->c.unchanged++;
		return 0;
	}
	for (size_t k = i; k < j; k++) {
		if ((d->refs[k].off & 1) == 0) {
			if (no++ == 0)
				io = k;
		} else if (nn++ == 0)
			in = k;
	}
	memset(&it, 0, sizeof it);
	it.nold = no;
	it.nnew = nn;
	if (no > 0) {
		fo = hdr(d, io);
		it.key = body(d, io);
		it.keylen = fo.keylen;
		it.old = body(d, io) + fo.keylen;
		it.oldlen = fo.reclen;
		it.old_file = fo.file;
		it.old_line = fo.line;
	}
	if (nn > 0) {
		fn = hdr(d, in);
		if (no == 0) {
			it.key = body(d, in);
			it.keylen = fn.keylen;
		}
		it.new_ = body(d, in) + fn.keylen;
		it.newlen = fn.reclen;
		it.new_file = fn.file;
		it.new_line = fn.line;
	}
	if (no > 1 || nn > 1) {
		it.kind = RF_DIFF_DUPLICATE;
		if (no > 1)
			d->c.dup_keys_old++;
		if (nn > 1)
			d->c.dup_keys_new++;
		/* The other side's one record is one of the key's too. */
		d->c.dup_records_old += no;
		d->c.dup_records_new += nn;
	} else if (no == 0) {
		it.kind = RF_DIFF_ADDED;
		d->c.added++;
	} else if (nn == 0) {
		it.kind = RF_DIFF_REMOVED;
		d->c.removed++;
	} else {
		long n = rf_json_diff(it.old, it.oldlen, it.new_, it.newlen,
		    d->o.abs_tol, d->o.rel_tol, NULL, NULL);
		if (n < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		if (n == 0) {
			d->c.tolerated++;
			return 0;
		}
		it.kind = RF_DIFF_CHANGED;
		d->c.changed++;
	}
	return cb != NULL ? cb(&it, arg) : 0;
}

/* Classifies what is held, key by key in digest order, then lets it go. */
static int
run_held(rf_diff *d, int (*cb)(const rf_diff_item *, void *), void *arg,
    rf_err *e)
{
	int rc;

	if ((rc = sort_refs(d, e)) < 0)
		return rc;
	for (size_t i = 0; i < d->nrefs;) {
		size_t j = i + 1;
		while (j < d->nrefs && samekey(&d->refs[i], &d->refs[j]))
			j++;
		if ((rc = classify(d, i, j, cb, arg, e)) != 0)
			return rc;
		i = j;
	}
	d->arena.len = 0;
	d->nrefs = 0;
	return 0;
}

static int
run_spill(rf_diff *d, rf_spill *s, int (*cb)(const rf_diff_item *, void *),
    void *arg, rf_err *e)
{
	int rc = 0;

	for (unsigned b = 0; b < rf_spill_count(s) && rc == 0; b++) {
		uint64_t size = rf_spill_size(s, b);
		uint64_t n = rf_spill_entries(s, b);
		rf_spill_iter it;
		const unsigned char *keyd;
		const char *p;
		size_t pn;

		if (n == 0)
			continue;
		bool fits = size + n * sizeof(struct ref) <= d->o.memory;
		rf_spill *sub = NULL;
		/* Past the digest's last bits, only one key is left. */
		if (!fits && rf_spill_new(NBUCKETS, rf_spill_level(s) + 1, &sub,
		    e) < 0)
			return rf_seterr(e, RF_ENOMEM, "more records share one "
			    "key than --memory holds");
		if ((rc = rf_spill_open(s, b, &it, e)) < 0) {
			rf_spill_free(sub);
			return rc;
		}
		while (rc == 0 && (rc = rf_spill_next(&it, &keyd, &p, &pn,
		    e)) == 1) {
			if (sub != NULL) {
				d->c.spilled += RF_KEYD_LEN + 4 + pn;
				rc = rf_spill_add(sub, keyd, p, pn, e);
				continue;
			}
			struct ehdr h;
			memcpy(h.keyd, keyd, RF_KEYD_LEN);
			memcpy((char *)&h + RF_KEYD_LEN, p, sizeof h - RF_KEYD_LEN);
			const char *body = p + sizeof h - RF_KEYD_LEN;
			rc = hold(d, &h, body, body + h.keylen, e);
		}
		rf_spill_close(&it);
		rf_spill_drop(s, b);
		if (rc < 0) {
			rf_spill_free(sub);
			return rc;
		}
		if (sub != NULL) {
			rc = run_spill(d, sub, cb, arg, e);
			rf_spill_free(sub);
		} else
			rc = run_held(d, cb, arg, e);
	}
	return rc;
}

int
rf_diff_finish(rf_diff *d, int (*cb)(const rf_diff_item *, void *),
    void *arg, rf_diff_counts *c, rf_err *e)
{
	int rc;

	if (d->spill == NULL)
		rc = run_held(d, cb, arg, e);
	else
		rc = run_spill(d, d->spill, cb, arg, e);
	*c = d->c;
	return rc;
}

void
rf_diff_free(rf_diff *d)
{
	if (d == NULL)
		return;
	rf_buf_free(&d->arena);
	rf_buf_free(&d->scratch);
	free(d->refs);
	rf_spill_free(d->spill);
	rf_sha256_free(d->h);
	free(d);
}
