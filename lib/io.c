/*
 * The record reader.  Lines are found with memchr in a window that grows
 * only up to the line limit, so memory does not depend on the input size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "refill.h"

#define BLOCK ((size_t)1 << 20)
#define SMALL_BLOCK ((size_t)32 << 10)	/* for many readers open at once */

struct rf_reader {
	char *name;
	int fd;
	bool gz, zinit, member_end, raw_eof, eof;
	z_stream zs;
	unsigned char *raw;		/* compressed input (gzip only) */
	char *buf;			/* decoded bytes: [start, end) unread */
	size_t cap, start, end, scan;
	size_t max_line, block;
	uint64_t lineno, pos;
	int64_t size;
	rf_sha256 *sha;
	unsigned char digest[RF_SHA256_LEN];
};

static int
ioerr(rf_reader *r, rf_err *e)
{
	return rf_seterr(e, RF_EIO, "%s: %s", r->name, strerror(errno));
}

/* Reads up to n raw bytes; 0 at end of file. */
static ssize_t
rawread(rf_reader *r, void *p, size_t n, rf_err *e)
{
	ssize_t k;

	do
		k = read(r->fd, p, n);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return ioerr(r, e);
	if (k > 0) {
		if (r->sha != NULL)
			rf_sha256_update(r->sha, p, k);
		r->pos += k;
	}
	return k;
}

int
rf_reader_open(const char *path, size_t max_line, int flags, rf_reader **out,
    rf_err *e)
{
	rf_reader *r = calloc(1, sizeof *r);
	struct stat st;

	if (r == NULL || (r->name = strdup(path)) == NULL ||
	    ((flags & RF_READ_SHA256) && (r->sha = rf_sha256_new()) == NULL)) {
		if (r != NULL)
			free(r->name);
		free(r);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	r->max_line = max_line;
	r->block = flags & RF_READ_SMALL ? SMALL_BLOCK : BLOCK;
	r->size = -1;
	if (strcmp(path, "-") == 0)
		r->fd = STDIN_FILENO;
	else if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		int rc = ioerr(r, e);
		rf_reader_close(r);
		return rc;
	}
	if (fstat(r->fd, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			errno = EISDIR;
			int rc = ioerr(r, e);
			rf_reader_close(r);
			return rc;
		}
		if (S_ISREG(st.st_mode))
			r->size = st.st_size;
	}
	r->cap = 2 * r->block;
	if ((r->buf = malloc(r->cap)) == NULL) {
		rf_reader_close(r);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	/* Sniff the magic bytes. */
	while (r->end < 2) {
		ssize_t k = rawread(r, r->buf + r->end, r->block, e);
		if (k < 0) {
			rf_reader_close(r);
			return (int)k;
		}
		if (k == 0) {
			r->raw_eof = true;
			break;
		}
		r->end += k;
	}
	if (r->end >= 2 && (unsigned char)r->buf[0] == 0x1f &&
	    (unsigned char)r->buf[1] == 0x8b) {
		r->gz = true;
		if ((r->raw = malloc(r->block)) == NULL) {
			rf_reader_close(r);
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		}
		memcpy(r->raw, r->buf, r->end);
		r->zs.next_in = r->raw;
		r->zs.avail_in = r->end;
		r->end = 0;
		if (inflateInit2(&r->zs, 16 + MAX_WBITS) != Z_OK) {
			rf_reader_close(r);
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		}
		r->zinit = true;
	} else if (r->raw_eof)
		r->eof = true;
	*out = r;
	return 0;
}

static int
gzerr(rf_reader *r, rf_err *e, const char *what)
{
	return rf_seterr(e, RF_EDATA, "%s: %s", r->name, what);
}

/*
 * Decodes up to n bytes into p: 0 only at the end of the input, when it
 * sets eof.
 */
static ssize_t
decode(rf_reader *r, char *p, size_t n, rf_err *e)
{
	if (!r->gz) {
		ssize_t k = rawread(r, p, n, e);
		if (k == 0)
			r->eof = r->raw_eof = true;
		return k;
	}
	for (;;) {
		if (r->zs.avail_in == 0 && !r->raw_eof) {
			ssize_t k = rawread(r, r->raw, r->block, e);
			if (k < 0)
				return k;
			if (k == 0)
				r->raw_eof = true;
			r->zs.next_in = r->raw;
			r->zs.avail_in = k;
		}
		if (r->member_end) {
			if (r->zs.avail_in == 0) {
				if (r->raw_eof) {
					r->eof = true;
					return 0;
				}
				continue;
			}
			/* Another member must follow, or nothing at all. */
			if (r->zs.next_in[0] != 0x1f ||
			    (r->zs.avail_in > 1 && r->zs.next_in[1] != 0x8b))
				return gzerr(r, e, "trailing garbage after gzip data");
			inflateReset(&r->zs);
			r->member_end = false;
		}
		if (r->zs.avail_in == 0 && r->raw_eof)
			return gzerr(r, e, "truncated gzip input");
		r->zs.next_out = (unsigned char *)p;
		r->zs.avail_out = n;
		int zr = inflate(&r->zs, Z_NO_FLUSH);
		size_t got = n - r->zs.avail_out;
		if (zr == Z_STREAM_END)
			r->member_end = true;
		else if (zr == Z_DATA_ERROR)
			return rf_seterr(e, RF_EDATA, "%s: corrupt gzip input: %s",
			    r->name, r->zs.msg != NULL ? r->zs.msg : "data error");
		else if (zr == Z_MEM_ERROR)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return gzerr(r, e, "corrupt gzip input");
		if (got > 0)
			return got;
	}
}

/* Appends decoded bytes at buf[end..cap); sets eof at the end. */
static int
fill(rf_reader *r, rf_err *e)
{
	ssize_t k = decode(r, r->buf + r->end, r->cap - r->end, e);

	if (k < 0)
		return (int)k;
	r->end += k;
	return 0;
}

/* The input digest is complete once the last byte has been read. */
static void
finish(rf_reader *r)
{
	if (r->sha != NULL) {
		rf_sha256_final(r->sha, r->digest);
		rf_sha256_free(r->sha);
		r->sha = NULL;
	}
}

static int
toolong(rf_reader *r, uint64_t lineno, rf_err *e)
{
	return rf_seterr(e, RF_ETOOLONG,
	    "%s:%llu: line longer than %zu bytes (--max-line)", r->name,
	    (unsigned long long)lineno, r->max_line);
}

/*
 * Whether pend bytes without a line end are already too long a line.  A
 * CR may end it, and is not counted: wait for the LF.
 */
static bool
pending_toolong(const rf_reader *r, const char *p, size_t pend)
{
	return pend > r->max_line &&
	    !(pend == r->max_line + 1 && p[pend - 1] == '\r');
}

int
rf_reader_next(rf_reader *r, rf_line *ln, rf_err *e)
{
	for (;;) {
		char *nl = memchr(r->buf + r->scan, '\n', r->end - r->scan);
		size_t len;
		if (nl != NULL) {
			len = nl - (r->buf + r->start);
			ln->p = r->buf + r->start;
			r->start = r->scan = nl + 1 - r->buf;
		} else if (r->eof) {
			if (r->start == r->end) {
				finish(r);
				return 0;
			}
			len = r->end - r->start;
			ln->p = r->buf + r->start;
			r->start = r->scan = r->end;
		} else {
			int rc;
			if (pending_toolong(r, r->buf + r->start,
			    r->end - r->start))
				return toolong(r, r->lineno + 1, e);
			r->scan = r->end;
			if (r->start > 0 && r->end - r->start < r->cap / 2) {
				memmove(r->buf, r->buf + r->start, r->end - r->start);
				r->end -= r->start;
				r->scan -= r->start;
				r->start = 0;
			}
			if (r->cap - r->end < r->block / 2) {
				size_t nc = r->cap * 2;
				if (nc > r->max_line + 2 * r->block)
					nc = r->max_line + 2 * r->block;
				if (nc > r->cap) {
					char *nb = realloc(r->buf, nc);
					if (nb == NULL)
						return rf_seterr(e, RF_ENOMEM,
						    "out of memory");
					r->buf = nb;
					r->cap = nc;
				} else if (r->start > 0) {
					memmove(r->buf, r->buf + r->start,
					    r->end - r->start);
					r->end -= r->start;
					r->scan -= r->start;
					r->start = 0;
				}
			}
			if ((rc = fill(r, e)) < 0)
				return rc;
			continue;
		}
		r->lineno++;
		if (len > 0 && ln->p[len - 1] == '\r')
			len--;
		if (len > r->max_line)
			return toolong(r, r->lineno, e);
		ln->len = len;
		ln->lineno = r->lineno;
		return 1;
	}
}

/*
 * Numbers the line at text[off, off + len), less a CR before its end, and
 * adds it to the batch unless it is blank.
 */
static int
take(rf_reader *r, rf_batch *b, size_t off, size_t len, uint64_t *blank,
    rf_err *e)
{
	r->lineno++;
	if (len > 0 && b->text.p[off + len - 1] == '\r')
		len--;
	if (len > r->max_line)
		return toolong(r, r->lineno, e);
	if (rf_blank(b->text.p + off, len))
		(*blank)++;
	else if (rf_batch_line_add(b, off, len, r->lineno) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	return 0;
}

int
rf_reader_batch(rf_reader *r, rf_batch *b, uint64_t *blank, rf_err *e)
{
	rf_buf *t = &b->text;
	size_t scan = 0;	/* where the next line starts in t */
	char *nl;
	int rc;

	/* What the reader holds: a line cut at the end of the last batch. */
	if (rf_buf_reserve(t, RF_BATCH_BYTES) < 0 ||
	    rf_buf_add(t, r->buf + r->start, r->end - r->start) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	r->start = r->scan = r->end = 0;
	for (;;) {
		while (b->n < RF_BATCH_LINES && (nl = memchr(t->p + scan, '\n',
		    t->len - scan)) != NULL) {
			if ((rc = take(r, b, scan, nl - (t->p + scan), blank,
			    e)) < 0)
				return rc;
			scan = nl + 1 - t->p;
		}
		if (b->n == RF_BATCH_LINES || scan >= RF_BATCH_BYTES)
			break;
		if (r->eof) {
			if (scan == t->len) {
				finish(r);
				return 0;
			}
			/* The last line has no newline: it is a line still. */
			if ((rc = take(r, b, scan, t->len - scan, blank, e)) < 0)
				return rc;
			finish(r);
			return 0;
		}
		if (pending_toolong(r, t->p + scan, t->len - scan))
			return toolong(r, r->lineno + 1, e);
		/*
		 * Read straight into the batch, as much as fills it; past
		 * that only as much as ends the line in progress.
		 */
		size_t want = t->len < RF_BATCH_BYTES ? RF_BATCH_BYTES - t->len :
		    t->len - scan > 4096 ? t->len - scan : 4096;
		if (rf_buf_reserve(t, want) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		ssize_t k = decode(r, t->p + t->len, want, e);
		if (k < 0)
			return (int)k;
		t->len += k;
	}
	/* Give the reader back the start of the next line. */
	size_t rest = t->len - scan;
	if (rest > r->cap) {
		char *nb = realloc(r->buf, rest);
		if (nb == NULL)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		r->buf = nb;
		r->cap = rest;
	}
	memcpy(r->buf, t->p + scan, rest);
	r->end = rest;
	t->len = scan;
	return 1;
}

const char *
rf_reader_name(const rf_reader *r)
{
	return r->name;
}

uint64_t
rf_reader_pos(const rf_reader *r)
{
	return r->pos;
}

int64_t
rf_reader_size(const rf_reader *r)
{
	return r->size;
}

void
rf_reader_sha256(const rf_reader *r, unsigned char out[RF_SHA256_LEN])
{
	memcpy(out, r->digest, RF_SHA256_LEN);
}

void
rf_reader_close(rf_reader *r)
{
	if (r == NULL)
		return;
	if (r->fd > STDIN_FILENO)
		close(r->fd);
	if (r->zinit)
		inflateEnd(&r->zs);
	rf_sha256_free(r->sha);
	free(r->raw);
	free(r->buf);
	free(r->name);
	free(r);
}

bool
rf_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}
