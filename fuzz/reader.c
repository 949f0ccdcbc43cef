/*
 * The record reader (lib/io.c): plain and gzip input, cut into lines, by
 * rf_reader_next or in batches.  The input is written to a file that the
 * reader opens.  The lines are checked against a reference cut here from
 * the same bytes, decoded by zlib directly for gzip: the same lines, the
 * same numbers, an error exactly where a line is over the limit or the
 * gzip stream is bad, and at the end the SHA-256 and size of the file.
 * The limit on a line and the way of reading depend on the input's size.
 */
#include <zlib.h>

#include "fuzz.h"

#define REF_MAX ((size_t)256 << 10)	/* decoded bytes checked */

static char path[4200];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tmpfile(path, sizeof path, "reader");
	return 0;
}

/*
 * Decodes every gzip member of p[0..n) in turn, as refill(7) says: after
 * a member only another may follow.  0, or -1 for a bad stream (out then
 * holds what was decoded before the fault), or 1 past REF_MAX.
 */
static int
gunzip(const unsigned char *p, size_t n, rf_buf *out)
{
	z_stream zs = { 0 };
	unsigned char chunk[65536];
	int rc = 0;

	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		abort();
	zs.next_in = (unsigned char *)p;
	zs.avail_in = n;
	for (;;) {
		zs.next_out = chunk;
		zs.avail_out = sizeof chunk;
		int zr = inflate(&zs, Z_NO_FLUSH);
		rf_buf_add(out, chunk, sizeof chunk - zs.avail_out);
		if (out->len > REF_MAX) {
			rc = 1;
			break;
		}
		if (zr == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;
			if (zs.next_in[0] != 0x1f || zs.avail_in < 2 ||
			    zs.next_in[1] != 0x8b) {
				rc = -1;
				break;
			}
			inflateReset(&zs);
			continue;
		}
		if (zr == Z_OK && (zs.avail_in > 0 || zs.avail_out == 0))
			continue;
		/* A fault, or the input ended inside a member. */
		rc = -1;
		break;
	}
	inflateEnd(&zs);
	return rc;
}

struct ref {
	const char *p;
	size_t n;
	size_t pos;		/* where the next line starts */
	uint64_t lineno;
	bool whole;		/* p is all the input: a last line without LF
				 * counts */
};

/* The next reference line: 1, or 0 at the end. */
static int
ref_next(struct ref *r, const char **line, size_t *len)
{
	if (r->pos >= r->n)
		return 0;
	const char *s = r->p + r->pos;
	const char *nl = memchr(s, '\n', r->n - r->pos);
	if (nl == NULL) {
		if (!r->whole)
			return 0;
		*len = r->n - r->pos;
		r->pos = r->n;
	} else {
		*len = nl - s;
		r->pos += *len + 1;
	}
	if (*len > 0 && s[*len - 1] == '\r')
		(*len)--;
	*line = s;
	r->lineno++;
	return 1;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const size_t limits[] = { RF_MAX_LINE_DEFAULT, 0, 1, 6, 100 };
	size_t max_line = limits[size % 5];
	bool batch = size / 5 % 2;
	rf_buf dec = { 0 };
	struct ref ref = { (const char *)data, size, 0, 0, true };
	rf_reader *r;
	rf_batch b = { 0 };
	rf_err e;
	int rc, grc = 0;
	uint64_t blank = 0, rblank = 0;

	if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
		if ((grc = gunzip(data, size, &dec)) > 0)
			goto out;
		ref.p = dec.p;
		ref.n = dec.len;
		ref.whole = grc == 0;
	}
	fuzz_put(path, data, size);
	if (rf_reader_open(path, max_line, RF_READ_SHA256 | RF_READ_SMALL, &r,
	    &e) < 0) {
		perror(e.msg);
		abort();
	}
	for (;;) {
		const char *want;
		size_t wn;
		rf_line ln;
		size_t i = 0;

		if (!batch)
			rc = rf_reader_next(r, &ln, &e);
		else {
			b.n = 0;
			b.text.len = 0;
			rc = rf_reader_batch(r, &b, &blank, &e);
		}
		/* Each line read, against the reference. */
		for (;;) {
			const char *got;
			size_t gn;
			uint64_t gl;
			if (!batch) {
				if (rc != 1 || i++ > 0)
					break;
				got = ln.p, gn = ln.len, gl = ln.lineno;
			} else {
				if (rc < 0 || i == b.n)
					break;
				got = b.text.p + b.line[i].off;
				gn = b.line[i].len;
				gl = b.line[i].lineno;
				i++;
			}
			int more;
			while ((more = ref_next(&ref, &want, &wn)) == 1 &&
			    batch && rf_blank(want, wn))
				rblank++;
			FUZZ_ASSERT(more == 1, "line %llu read past the end",
			    (unsigned long long)gl);
			FUZZ_ASSERT(gl == ref.lineno, "line %llu read as %llu",
			    (unsigned long long)ref.lineno,
			    (unsigned long long)gl);
			FUZZ_ASSERT(wn <= max_line, "line %llu over the limit",
			    (unsigned long long)gl);
			FUZZ_ASSERT(gn == wn && memcmp(got, want, wn) == 0,
			    "line %llu differs", (unsigned long long)gl);
		}
		if (rc == 1)
			continue;
		if (rc == 0 && batch) {
			/* Blank lines after the last record. */
			while (ref_next(&ref, &want, &wn) == 1) {
				FUZZ_ASSERT(rf_blank(want, wn), "line %llu "
				    "not read", (unsigned long long)ref.lineno);
				rblank++;
			}
			FUZZ_ASSERT(blank == rblank, "%llu blank lines, %llu "
			    "counted", (unsigned long long)rblank,
			    (unsigned long long)blank);
		}
		break;
	}
	if (rc == 0) {
		const char *want;
		size_t wn;
		unsigned char d[RF_SHA256_LEN], w[RF_SHA256_LEN];
		rf_sha256 *h = rf_sha256_new();
		FUZZ_ASSERT(grc == 0, "a bad gzip stream was read whole");
		FUZZ_ASSERT(ref_next(&ref, &want, &wn) == 0, "line %llu not "
		    "read", (unsigned long long)ref.lineno);
		rf_reader_sha256(r, d);
		rf_sha256_once(h, data, size, w);
		rf_sha256_free(h);
		FUZZ_ASSERT(memcmp(d, w, sizeof d) == 0, "SHA-256 differs");
		FUZZ_ASSERT(rf_reader_pos(r) == size && rf_reader_size(r) ==
		    (int64_t)size, "pos %llu size %lld of %zu",
		    (unsigned long long)rf_reader_pos(r),
		    (long long)rf_reader_size(r), size);
	} else if (rc == RF_ETOOLONG) {
		/*
		 * The next line of the reference is the one over the limit,
		 * or for a batch, which is lost whole, the next such line.
		 */
		const char *want;
		size_t wn;
		int more;
		while ((more = ref_next(&ref, &want, &wn)) == 1 && batch &&
		    wn <= max_line)
			;
		/* Or the part of a line decoded before a bad stream. */
		if (more == 0 && !ref.whole) {
			FUZZ_ASSERT(ref.n - ref.pos > max_line, "the end of "
			    "a bad stream is not too long");
			ref.lineno++;
		} else
			FUZZ_ASSERT(more == 1 && wn > max_line, "line %llu is "
			    "not too long", (unsigned long long)ref.lineno);
		char at[32];
		snprintf(at, sizeof at, ":%llu: ",
		    (unsigned long long)ref.lineno);
		FUZZ_ASSERT(strstr(e.msg, at) != NULL, "%s: not line %llu",
		    e.msg, (unsigned long long)ref.lineno);
	} else {
		FUZZ_ASSERT(rc == RF_EDATA && grc < 0, "%d: %s", rc, e.msg);
	}
	rf_reader_close(r);
out:
	rf_batch_free(&b);
	rf_buf_free(&dec);
	return 0;
}
