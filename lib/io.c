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

/* Appends decoded bytes at buf[end..cap); sets eof at the end. */
static int
fill(rf_reader *r, rf_err *e)
{
	if (!r->gz) {
		ssize_t k = rawread(r, r->buf + r->end, r->cap - r->end, e);
		if (k < 0)
			return (int)k;
		if (k == 0)
			r->eof = r->raw_eof = true;
		r->end += k;
		return 0;
	}
	for (;;) {
		if (r->zs.avail_in == 0 && !r->raw_eof) {
			ssize_t k = rawread(r, r->raw, r->block, e);
			if (k < 0)
				return (int)k;
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
		r->zs.next_out = (unsigned char *)r->buf + r->end;
		r->zs.avail_out = r->cap - r->end;
		size_t before = r->zs.avail_out;
		int zr = inflate(&r->zs, Z_NO_FLUSH);
		r->end += before - r->zs.avail_out;
		if (zr == Z_STREAM_END)
			r->member_end = true;
		else if (zr == Z_DATA_ERROR)
			return rf_seterr(e, RF_EDATA, "%s: corrupt gzip input: %s",
			    r->name, r->zs.msg != NULL ? r->zs.msg : "data error");
		else if (zr == Z_MEM_ERROR)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return gzerr(r, e, "corrupt gzip input");
		if (before != r->zs.avail_out)
			return 0;
	}
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
				if (r->sha != NULL) {
					rf_sha256_final(r->sha, r->digest);
					rf_sha256_free(r->sha);
					r->sha = NULL;
				}
				return 0;
			}
			len = r->end - r->start;
			ln->p = r->buf + r->start;
			r->start = r->scan = r->end;
		} else {
			int rc;
			size_t pend = r->end - r->start;
			/* A CR may end it, and is not counted: wait for the LF. */
			if (pend > r->max_line && !(pend == r->max_line + 1 &&
			    r->buf[r->end - 1] == '\r'))
				return rf_seterr(e, RF_ETOOLONG,
				    "%s:%llu: line longer than %zu bytes (--max-line)",
				    r->name, (unsigned long long)r->lineno + 1,
				    r->max_line);
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
			return rf_seterr(e, RF_ETOOLONG,
			    "%s:%llu: line longer than %zu bytes (--max-line)",
			    r->name, (unsigned long long)r->lineno, r->max_line);
		ln->len = len;
		ln->lineno = r->lineno;
		return 1;
	}
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
