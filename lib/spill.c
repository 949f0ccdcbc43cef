/*
 * Keyed entries that may not fit in memory, partitioned by their key's
 * digest into bucket files, to be read back one bucket at a time: the
 * "grace" scheme of hash joins.  A bucket that is still too large for the
 * reader is partitioned again, by other bits of the same digest.
 *
 * An entry on disk: the 16 bytes of its key digest, its length as 4 bytes
 * (big-endian), its bytes.  Files are scratch files, unlinked at once, so
 * nothing is left behind whatever happens to the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refill.h"

#define WBUF ((size_t)64 << 10)		/* written at once, per bucket */
#define RBUF ((size_t)256 << 10)	/* read at once */

struct bucket {
	int fd;				/* -1 until the first entry */
	uint64_t size;			/* bytes, written and buffered */
	uint64_t n;			/* entries */
	rf_buf w;
};

struct rf_spill {
	unsigned level, nb, w;		/* nb = 1 << w */
	struct bucket *b;
};

int
rf_scratch_file(rf_err *e)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if (snprintf(path, sizeof path, "%s/refill.XXXXXX", dir) >=
	    (int)sizeof path)
		return rf_seterr(e, RF_EIO, "%s: path too long", dir);
	if ((fd = mkstemp(path)) < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	unlink(path);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

int
rf_spill_new(unsigned nbuckets, unsigned level, rf_spill **out, rf_err *e)
{
	rf_spill *s;

	unsigned w = 0;

	while (w < 9 && (1u << w) < nbuckets)
		w++;
	if (nbuckets == 0 || nbuckets > 256 || (1u << w) != nbuckets ||
	    (level + 1) * w > 8 * RF_KEYD_LEN)
		return rf_seterr(e, RF_EUSAGE, "bad spill geometry");
	if ((s = calloc(1, sizeof *s)) == NULL ||
	    (s->b = calloc(nbuckets, sizeof *s->b)) == NULL) {
		free(s);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	s->nb = nbuckets;
	s->level = level;
	s->w = w;
	for (unsigned i = 0; i < nbuckets; i++)
		s->b[i].fd = -1;
	*out = s;
	return 0;
}

unsigned
rf_spill_bucket(const rf_spill *s, const unsigned char keyd[RF_KEYD_LEN])
{
	/*
	 * The digest's bits from level * w on, w bits, w = log2(buckets):
	 * buckets hold ascending ranges of digests, and a bucket spilled
	 * again at the next level into as many buckets splits its range in
	 * order, so a reader going bucket by bucket, sorting each, sees
	 * every key in digest order.  rf_partition over a power of two takes
	 * the low bits of byte 7, so a file of a dataset split by the same
	 * key spreads over all the buckets of level 0.
	 */
	unsigned off = s->level * s->w, byte = off / 8, bit = off % 8;
	unsigned v = (unsigned)keyd[byte] << 8 |
	    (byte + 1 < RF_KEYD_LEN ? keyd[byte + 1] : 0);

	return s->w == 0 ? 0 : v >> (16 - bit - s->w) & (s->nb - 1);
}

static int
flush(struct bucket *b, rf_err *e)
{
	int rc;

	if (b->w.len == 0)
		return 0;
	if (b->fd < 0 && (b->fd = rf_scratch_file(e)) < 0)
		return b->fd;
	rc = rf_write_all(b->fd, b->w.p, b->w.len, e, "scratch file");
	b->w.len = 0;
	return rc;
}

int
rf_spill_add(rf_spill *s, const unsigned char keyd[RF_KEYD_LEN],
    const void *p, size_t n, rf_err *e)
{
	struct bucket *b = &s->b[rf_spill_bucket(s, keyd)];
	unsigned char len[4];

	if (n > UINT32_MAX)
		return rf_seterr(e, RF_ETOOLONG, "an entry of %zu bytes", n);
	len[0] = (unsigned char)(n >> 24);
	len[1] = (unsigned char)(n >> 16);
	len[2] = (unsigned char)(n >> 8);
	len[3] = (unsigned char)n;
	if (rf_buf_reserve(&b->w, RF_KEYD_LEN + 4 + n) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	memcpy(b->w.p + b->w.len, keyd, RF_KEYD_LEN);
	memcpy(b->w.p + b->w.len + RF_KEYD_LEN, len, 4);
	memcpy(b->w.p + b->w.len + RF_KEYD_LEN + 4, p, n);
	b->w.len += RF_KEYD_LEN + 4 + n;
	b->size += RF_KEYD_LEN + 4 + n;
	b->n++;
	if (b->w.len >= WBUF)
		return flush(b, e);
	return 0;
}

unsigned
rf_spill_count(const rf_spill *s)
{
	return s->nb;
}

unsigned
rf_spill_level(const rf_spill *s)
{
	return s->level;
}

uint64_t
rf_spill_size(const rf_spill *s, unsigned i)
{
	return s->b[i].size;
}

uint64_t
rf_spill_entries(const rf_spill *s, unsigned i)
{
	return s->b[i].n;
}

int
rf_spill_open(rf_spill *s, unsigned i, rf_spill_iter *it, rf_err *e)
{
	struct bucket *b = &s->b[i];
	int rc;

	memset(it, 0, sizeof *it);
	it->fd = -1;
	/* A bucket that was never flushed is read from its buffer. */
	if (b->fd < 0) {
		it->mem = b->w.p;
		it->memlen = b->w.len;
		return 0;
	}
	if ((rc = flush(b, e)) < 0)
		return rc;
	it->fd = b->fd;
	it->left = b->size;
	return 0;
}

int
rf_spill_next(rf_spill_iter *it, const unsigned char **keyd,
    const char **p, size_t *n, rf_err *e)
{
	const unsigned char *h;
	size_t have, len;

	if (it->fd < 0) {
		if (it->pos == it->memlen)
			return 0;
		h = (const unsigned char *)it->mem + it->pos;
		len = (size_t)h[16] << 24 | (size_t)h[17] << 16 |
		    (size_t)h[18] << 8 | h[19];
		*keyd = h;
		*p = it->mem + it->pos + RF_KEYD_LEN + 4;
		*n = len;
		it->pos += RF_KEYD_LEN + 4 + len;
		return 1;
	}
	for (;;) {
		have = it->buf.len - it->pos;
		if (have >= RF_KEYD_LEN + 4) {
			h = (const unsigned char *)it->buf.p + it->pos;
			len = (size_t)h[16] << 24 | (size_t)h[17] << 16 |
			    (size_t)h[18] << 8 | h[19];
			if (have >= RF_KEYD_LEN + 4 + len) {
				*keyd = h;
				*p = it->buf.p + it->pos + RF_KEYD_LEN + 4;
				*n = len;
				it->pos += RF_KEYD_LEN + 4 + len;
				return 1;
			}
		} else
			len = 0;
		if (it->left == 0) {
			if (have == 0)
				return 0;
			return rf_seterr(e, RF_EIO, "scratch file: cut short");
		}
		/* Keep the partial entry, and read at least the rest of it. */
		if (have > 0)
			memmove(it->buf.p, it->buf.p + it->pos, have);
		it->buf.len = have;
		it->pos = 0;
		size_t want = RBUF;
		if (want < RF_KEYD_LEN + 4 + len)
			want = RF_KEYD_LEN + 4 + len;
		if (want > it->left)
			want = (size_t)it->left;
		if (rf_buf_reserve(&it->buf, want) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		off_t at = (off_t)(it->off);
		size_t got = 0;
		while (got < want) {
			ssize_t k = pread(it->fd, it->buf.p + it->buf.len + got,
			    want - got, at + (off_t)got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return rf_seterr(e, RF_EIO, "scratch file: %s",
				    k < 0 ? strerror(errno) : "cut short");
			got += (size_t)k;
		}
		it->buf.len += want;
		it->off += want;
		it->left -= want;
	}
}

void
rf_spill_close(rf_spill_iter *it)
{
	rf_buf_free(&it->buf);
	memset(it, 0, sizeof *it);
	it->fd = -1;
}

/* A bucket that has been read is not needed again: give back its space. */
void
rf_spill_drop(rf_spill *s, unsigned i)
{
	struct bucket *b = &s->b[i];

	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	rf_buf_free(&b->w);
	b->size = b->n = 0;
}

void
rf_spill_free(rf_spill *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->nb; i++)
		rf_spill_drop(s, i);
	free(s->b);
	free(s);
}
