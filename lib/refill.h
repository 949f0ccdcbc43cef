/*
 * refill.h: the shared core of the refill programs.
 *
 * Conventions for the whole library:
 *  - Functions never exit and never print.  They return 0 on success and a
 *    negative RF_E* code on failure, and leave a human-readable reason in an
 *    rf_err when one is passed.  Programs turn codes into exit statuses with
 *    rf_status().
 *  - Buffers are (pointer, length) pairs; nothing relies on NUL termination
 *    except where a parameter is documented as a C string.
 *  - The record format, canonical form and digests are defined in
 *    refill(7); this header only points at the functions that implement them.
 */
#ifndef REFILL_H
#define REFILL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <sys/types.h>

#define RF_VERSION "0.1.0"

/* Exit statuses, the same in every program (refill(7)). */
enum {
	RF_EXIT_OK = 0,
	RF_EXIT_CHECK = 1,	/* a check failed */
	RF_EXIT_USAGE = 2,
	RF_EXIT_DATA = 3,	/* bad input data and no --bad file */
	RF_EXIT_IO = 4,		/* system or I/O error */
	RF_EXIT_CONFLICT = 5
};

/* Error codes returned by library functions (always negative). */
enum {
	RF_EIO = -1,		/* system error; errno-derived text in rf_err */
	RF_EDATA = -2,		/* the input data is malformed */
	RF_ENOMEM = -3,
	RF_ETOOLONG = -4,	/* a line exceeds the configured limit */
	RF_EMISSING = -5,	/* a field path matched nothing */
	RF_EUSAGE = -6,		/* a malformed argument (path, size, ...) */
	RF_ECHECK = -7,		/* a digest, signature or chain does not match */
	RF_ECONFLICT = -8	/* a lock is held, or a version is not as expected */
};

typedef struct rf_err {
	char msg[256];
} rf_err;

/* Sets e->msg printf-style (if e is not NULL) and returns code. */
int rf_seterr(rf_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The exit status for a library error code. */
int rf_status(int code);

/* ---- growable byte buffer ------------------------------------------- */

typedef struct rf_buf {
	char *p;
	size_t len, cap;
} rf_buf;

int rf_buf_reserve(rf_buf *b, size_t extra);	/* room for extra more bytes */
int rf_buf_add(rf_buf *b, const void *p, size_t n);
int rf_buf_addc(rf_buf *b, char c);
int rf_buf_adds(rf_buf *b, const char *s);	/* a C string */
void rf_buf_free(rf_buf *b);

/* ---- JSON (lib/json.c, lib/num.c) ----------------------------------------
 *
 * Every record must be I-JSON (RFC 7493): RFC 8259 grammar, UTF-8 without a
 * byte-order mark, no escaped lone surrogate, no duplicate member name, and
 * every number finite as an IEEE-754 double (one that underflows to zero is
 * accepted).  Leading and trailing JSON whitespace is allowed.  Arrays and
 * objects nest at most RF_JSON_MAX_DEPTH deep.
 */
#define RF_JSON_MAX_DEPTH 1000

/* Checks that buf[0..len) is one valid record.  Builds nothing. */
int rf_json_validate(const char *buf, size_t len, rf_err *e);

/*
 * Appends the RFC 8785 canonical form of buf[0..len) to out, validating it
 * as rf_json_validate does.  On error out->len is restored.
 */
int rf_json_canon(const char *buf, size_t len, rf_buf *out, rf_err *e);
/*
 * 1 if buf[0..len) is valid and already in canonical form (what is signed
 * is what is read), 0 if valid but not, or the error rf_json_validate
 * gives.
 */
int rf_json_is_canon(const char *buf, size_t len, rf_err *e);

/*
 * The parser keeps scratch space per thread between calls.  A thread that
 * parsed calls this before it exits; the main thread need not.
 */
void rf_json_thread_free(void);

/*
 * Formats a finite double as ECMAScript's Number.prototype.toString does
 * (RFC 8785 section 3.2.2.3).  dst must hold 32 bytes; returns the length
 * written (no NUL).  -0 prints as 0.  Returns 0 for NaN and infinities.
 */
size_t rf_fmt_double(double d, char *dst);

/*
 * A compiled field path: "a.b.0" (dot path; an all-digit segment indexes an
 * array) or "/a/b/0" (RFC 6901 JSON Pointer, with ~0 and ~1).  A dot path
 * cannot name a member whose name contains a dot; a pointer can.
 */
typedef struct rf_path rf_path;

int rf_path_compile(const char *spec, rf_path **out, rf_err *e);
void rf_path_free(rf_path *p);
const char *rf_path_spec(const rf_path *p);
/* Its segments: decoded names, and idx >= 0 for one of digits alone. */
size_t rf_path_len(const rf_path *p);
const char *rf_path_seg(const rf_path *p, size_t i, size_t *len,
    long long *idx);

/*
 * Finds the value at path in a record that has already been validated.
 * Sets *val and *vlen to the value's bytes in buf (no surrounding
 * whitespace).  Returns RF_EMISSING if some step does not exist.
 */
int rf_json_get(const char *buf, size_t len, const rf_path *path,
    const char **val, size_t *vlen);

/*
 * Steps through the elements of an array, or the members of an object, of
 * a validated value v[0..vlen) (no surrounding whitespace).  *pos is 0
 * before the first call and is advanced by each.  Returns 1 with *val and
 * *vn set to the next element or member value, and for an object *key and
 * *kn to the member's name token (quotes and escapes as written; key may
 * be NULL for an array); 0 after the last; RF_EDATA if v is neither an
 * array nor an object.  Linear in the value's size over a whole pass,
 * where rf_json_get with "a.N" is linear for each N.
 */
int rf_json_next(const char *v, size_t vlen, size_t *pos, const char **key,
    size_t *kn, const char **val, size_t *vn);

/*
 * Appends canon (a value in canonical form) without the members, or array
 * elements, that paths name: still canonical.  The empty path names the
 * value itself, no member of it, and strips nothing.  0 or RF_ENOMEM.
 */
int rf_json_strip(const char *canon, size_t n, rf_path *const *paths,
    size_t np, rf_buf *out);

/*
 * Compares two values in canonical form, field by field: members of
 * objects by name, elements of arrays of the same length by index; arrays
 * of other lengths, and values of other kinds, are one difference.  Two
 * numbers differ only by more than abs_tol, and by more than rel_tol times
 * the larger magnitude (0 and 0: exact).  Calls cb, unless NULL, for each
 * difference with its path (a dot path, or a JSON Pointer when a name
 * cannot be written in one; "" for the values themselves) and the two
 * values (NULL for a member on one side only); a negative cb result stops
 * the walk and is returned.  Returns the number of differences, or
 * RF_ENOMEM.
 */
long rf_json_diff(const char *a, size_t an, const char *b, size_t bn,
    double abs_tol, double rel_tol,
    int (*cb)(void *arg, const char *path, size_t pathlen, const char *av,
    size_t avn, const char *bv, size_t bvn), void *arg);

/* True if s[0..n) is well-formed UTF-8 (RFC 3629). */
bool rf_utf8_valid(const char *s, size_t n);

/* Appends s as a JSON string (RFC 8785 escaping; s must be UTF-8). */
int rf_json_addstr(rf_buf *b, const char *s, size_t n);
/*
 * The same for bytes that may not be UTF-8, such as file names: each byte
 * that does not start a valid UTF-8 sequence becomes U+FFFD.
 */
int rf_json_addstr_lossy(rf_buf *b, const char *s, size_t n);

/*
 * Decodes a JSON string token (with its quotes) to UTF-8, appending to out.
 * The token must be valid (validated record).
 */
int rf_json_unescape(const char *tok, size_t len, rf_buf *out);

/*
 * Orders two values of validated records: -1, 0 or 1.  null < false <
 * true < numbers < strings < arrays < objects.  Numbers compare by exact
 * decimal value (1, 1.0 and 10e-1 are equal; 2^63 and 2^63+1 are not);
 * strings by code point (escapes decoded); arrays and objects by the bytes
 * of their canonical form.
 */
int rf_json_cmp(const char *a, size_t an, const char *b, size_t bn);
/* Narrows p[0..n) to the value inside the JSON whitespace around it. */
void rf_json_trim(const char **p, size_t *n);
/*
 * Whether tok[0..n), a member's name as rf_json_next gives it (quotes
 * included, escapes as written), is word, a name that needs no escape.
 */
bool rf_json_name_is(const char *tok, size_t n, const char *word);
/*
 * The value of the member name of the object obj[0..n), one level down:
 * true with *v and *vn set, false if there is none.
 */
bool rf_json_member(const char *obj, size_t n, const char *name,
    const char **v, size_t *vn);
/*
 * Orders two member names (decoded UTF-8) as canonical form sorts them:
 * by UTF-16 code units (RFC 8785).  -1, 0 or 1.
 */
int rf_json_keycmp(const unsigned char *a, size_t al, const unsigned char *b,
    size_t bl);

/* ---- digests (lib/hash.c) -------------------------------------------- */

#define RF_SHA256_LEN 32

typedef struct rf_sha256 rf_sha256;	/* incremental SHA-256 (libcrypto) */

rf_sha256 *rf_sha256_new(void);
void rf_sha256_update(rf_sha256 *h, const void *p, size_t n);
/* Writes the digest and resets h for reuse. */
void rf_sha256_final(rf_sha256 *h, unsigned char out[RF_SHA256_LEN]);
void rf_sha256_free(rf_sha256 *h);
/*
 * The SHA-256 and size of a file's bytes as stored.  A symbolic link is
 * not followed (RF_EIO).
 */
int rf_sha256_file(const char *path, unsigned char out[RF_SHA256_LEN],
    uint64_t *size, rf_err *e);
/* One-shot digest; h is a scratch context reused across calls. */
void rf_sha256_once(rf_sha256 *h, const void *p, size_t n,
    unsigned char out[RF_SHA256_LEN]);

/* Lower-case hex of n bytes into dst (2n bytes, NUL-terminated). */
void rf_hex(const unsigned char *p, size_t n, char *dst);
/* Parses exactly 2n hex digits; returns 0 or RF_EDATA. */
int rf_unhex(const char *s, size_t slen, unsigned char *out, size_t n);

/*
 * Dataset digest: a record count and the sum modulo 2^256 of the record
 * digests, each read as a 256-bit big-endian integer.  Order-independent
 * and mergeable: the digests of disjoint parts add up to the whole's.
 */
typedef struct rf_dsum {
	uint64_t count;
	uint64_t w[4];		/* w[0] most significant */
} rf_dsum;

void rf_dsum_init(rf_dsum *s);
void rf_dsum_add_digest(rf_dsum *s, const unsigned char d[RF_SHA256_LEN]);
void rf_dsum_merge(rf_dsum *s, const rf_dsum *t);
/* 64 hex digits of the sum (NUL-terminated, 65 bytes). */
void rf_dsum_hex(const rf_dsum *s, char dst[65]);
int rf_dsum_parse(const char *hex, size_t len, uint64_t count, rf_dsum *s);
bool rf_dsum_equal(const rf_dsum *a, const rf_dsum *b);

/*
 * Partition of a key value: the first 8 bytes of the SHA-256 of its
 * canonical form, as a big-endian unsigned integer, modulo n.
 */
uint32_t rf_partition(const unsigned char keydigest[RF_SHA256_LEN], uint32_t n);

/* ---- input (lib/io.c) ------------------------------------------------ */

#define RF_MAX_LINE_DEFAULT ((size_t)64 << 20)

/*
 * A record reader: one file ("-" is standard input), plain or gzip
 * (detected by the magic bytes 1f 8b; concatenated members are read
 * whole).  Memory is bounded by the line limit plus one read block.
 */
typedef struct rf_reader rf_reader;

typedef struct rf_line {
	const char *p;		/* the line without LF and without a final CR */
	size_t len;
	uint64_t lineno;	/* 1-based */
} rf_line;

#define RF_READ_SHA256 1	/* flag: take the SHA-256 of the raw bytes */
#define RF_READ_SMALL 2		/* flag: 32 KiB buffers, not 1 MiB (merges) */
int rf_reader_open(const char *path, size_t max_line, int flags,
    rf_reader **out, rf_err *e);
/*
 * Reads the next line.  Returns 1 with *ln set, 0 at end of input, or a
 * negative code (RF_ETOOLONG, RF_EDATA for a corrupt gzip stream, RF_EIO).
 * The line stays valid until the next call.
 */
int rf_reader_next(rf_reader *r, rf_line *ln, rf_err *e);
const char *rf_reader_name(const rf_reader *r);	/* as given, "-" for stdin */
/* Bytes consumed from the file so far, and its size when known (else -1). */
uint64_t rf_reader_pos(const rf_reader *r);
int64_t rf_reader_size(const rf_reader *r);
/*
 * SHA-256 of every raw byte read from the file (compressed bytes for
 * gzip), valid after rf_reader_next returned 0, if opened with
 * RF_READ_SHA256.
 */
void rf_reader_sha256(const rf_reader *r, unsigned char out[RF_SHA256_LEN]);
void rf_reader_close(rf_reader *r);

/* True if the line holds only JSON whitespace (it is skipped, and counted). */
bool rf_blank(const char *p, size_t n);

/* ---- output (lib/out.c) ---------------------------------------------- */

/*
 * A buffered output: a file created atomically (temporary name in the same
 * directory, then fsync, rename and fsync of the directory on commit), or an
 * existing descriptor such as standard output.  Optionally gzip, and
 * optionally the SHA-256 of the bytes that reach the file.
 */
typedef struct rf_out rf_out;

/*
 * Creates path atomically.  gzip_level is -1 for plain output or 1..9.
 * Nothing appears at path until rf_out_commit succeeds; rf_out_abort, or
 * a signal handled by rf_cleanup_install, removes the temporary file.
 */
int rf_out_create(const char *path, int gzip_level, rf_out **out, rf_err *e);
/*
 * Whether path can be created by rf_out_create: RF_EUSAGE for a symbolic
 * link (never followed nor replaced; /dev/stdout, /dev/stderr and
 * /dev/fd/N excepted, which write to that descriptor) or a directory.
 * Programs call it at start-up for files they write at the end.
 */
int rf_out_check(const char *path, rf_err *e);
/* The descriptor that /dev/stdout, /dev/stderr or /dev/fd/N names, or -1. */
int rf_out_stdfd(const char *path);
/* Wraps fd (not closed by the library); name is used in messages. */
int rf_out_fd(int fd, const char *name, int gzip_level, rf_out **out,
    rf_err *e);
int rf_out_write(rf_out *o, const void *p, size_t n, rf_err *e);
/* Finishes the stream; for a created file, makes it durable and visible. */
int rf_out_commit(rf_out *o, rf_err *e);
/*
 * The first half of rf_out_commit: the data is durable under the
 * temporary name, and the rename is left to rf_out_commit (or the file to
 * rf_out_abort).  For a program that publishes several things together.
 */
int rf_out_finish(rf_out *o, rf_err *e);
void rf_out_abort(rf_out *o);
/*
 * Writes path atomically with exactly the n bytes at p: rf_out_create,
 * one write, rf_out_commit.  rf_out_prepare stops after rf_out_finish and
 * hands back the output for rf_out_commit or rf_out_abort (*out is NULL
 * after a failure, which leaves nothing behind).
 */
int rf_write_file(const char *path, const void *p, size_t n, rf_err *e);
int rf_out_prepare(const char *path, const void *p, size_t n, rf_out **out,
    rf_err *e);
/* Frees an output after rf_out_commit, whatever it returned. */
void rf_out_free(rf_out *o);
/* SHA-256 of the bytes written to the file; valid after commit. */
void rf_out_sha256(const rf_out *o, unsigned char out[RF_SHA256_LEN]);
uint64_t rf_out_bytes(const rf_out *o);	/* bytes written to the file */

/*
 * Compresses src into a complete gzip member appended to dst.  Used where
 * output is written in independent chunks (one member per chunk).
 */
int rf_gzip_member(const void *src, size_t n, int level, rf_buf *dst,
    rf_err *e);

/*
 * Makes dst (which must not exist) a hard link to src, or where the file
 * system cannot link them, a copy (mode 0600, not synced).  Returns 0 for
 * a link, 1 for a copy.  Symbolic links are not followed.
 */
int rf_link_or_copy(const char *src, const char *dst, rf_err *e);

/* Writes all n bytes to fd, retrying short writes and EINTR. */
int rf_write_all(int fd, const void *p, size_t n, rf_err *e, const char *name);
/* fsync of the directory that holds path. */
int rf_fsync_dir(const char *dir, rf_err *e);

/*
 * Paths removed when the process gets SIGINT, SIGTERM or SIGHUP
 * (temporary files, and temporary directories once emptied).  The handler
 * first calls the hook, which must use only async-signal-safe calls (it
 * unlinks the files a program created in its temporary directory), then
 * removes the paths and re-raises the signal.
 */
void rf_cleanup_install(void);
void rf_cleanup_hook(void (*fn)(void));
int rf_cleanup_add(const char *path, bool is_dir);
void rf_cleanup_remove(const char *path);

/* Removes a directory tree that this program created (no symlink follow). */
int rf_rmtree(const char *path, rf_err *e);

/* ---- parallel work (lib/pool.c) ----------------------------------------
 *
 * A fixed set of worker threads running tasks in the order they were
 * submitted.  Programs embed an rf_task in their own job structure, submit
 * it, and later wait for it; results are then read on the submitting
 * thread, so delivery order is the program's to choose.
 */
typedef struct rf_task {
	void (*fn)(struct rf_task *);
	/* private */
	bool done;
	struct rf_task *next;
} rf_task;

typedef struct rf_pool rf_pool;

/* n threads; n == 0 means one per online processor, at most 8. */
int rf_pool_new(int n, rf_pool **out, rf_err *e);
int rf_pool_size(const rf_pool *p);
void rf_pool_submit(rf_pool *p, rf_task *t);
/* Blocks until t has run. */
void rf_pool_wait(rf_pool *p, rf_task *t);
/* Runs the queued tasks, then ends the threads. */
void rf_pool_free(rf_pool *p);

/*
 * A batch of lines read on one thread and parsed on another.  text holds
 * the input as read; each line is stored with its number, without its
 * line end.
 */
typedef struct rf_batch_line {
	size_t off, len;		/* in text */
	uint64_t lineno;
} rf_batch_line;

typedef struct rf_batch {
	rf_task task;
	const char *file;		/* the input the lines came from */
	rf_buf text;
	rf_batch_line *line;
	size_t n, cap;
} rf_batch;

#define RF_BATCH_BYTES ((size_t)256 << 10)	/* a batch is full at this size */
#define RF_BATCH_LINES 4096			/* or this many lines */

/* Adds the line at text[off, off + len).  0 or RF_ENOMEM. */
int rf_batch_line_add(rf_batch *b, size_t off, size_t len, uint64_t lineno);
/*
 * Fills an empty batch with the reader's next lines, up to the limits
 * above: read straight into b->text, so that only the line that straddles
 * two batches is copied.  Blank lines are not added but counted in
 * *blank.  Returns 1 if more input may follow, 0 if the input has ended
 * (b may hold its last lines), or an error: the reader's errors, and
 * RF_ETOOLONG for a line over the limit.  A reader is read either with
 * this or with rf_reader_next, not both.
 */
int rf_reader_batch(rf_reader *r, rf_batch *b, uint64_t *blank, rf_err *e);
void rf_batch_clear(rf_batch *b);
void rf_batch_free(rf_batch *b);

/* ---- spilling keyed entries to disk (lib/spill.c) ------------------------
 *
 * State keyed by records (a keyed diff, a uniqueness check) that may not
 * fit in memory is written into bucket files by the digest of each key,
 * and read back one bucket at a time; a bucket still too large is spilled
 * again at the next level, which looks at other bits of the digest.  The
 * files are scratch files (rf_scratch_file); nothing stays behind.
 */
#define RF_KEYD_LEN 16		/* a key digest: the first 16 bytes of the
				 * SHA-256 of the key's canonical form */

/* A file in $TMPDIR (else /tmp), already unlinked: its descriptor. */
int rf_scratch_file(rf_err *e);

typedef struct rf_spill rf_spill;

/*
 * nbuckets a power of two from 1 to 256 (w bits); level from 0, while
 * (level + 1) * w <= 128 (RF_EUSAGE past the digest's last bit).
 */
int rf_spill_new(unsigned nbuckets, unsigned level, rf_spill **out,
    rf_err *e);
/*
 * The bucket an entry with this key digest goes to: the w bits of the
 * digest from bit level * w on, so that bucket i holds smaller digests
 * than bucket i + 1, and a bucket spilled again at level + 1 into as many
 * buckets keeps that order.
 */
unsigned rf_spill_bucket(const rf_spill *s,
    const unsigned char keyd[RF_KEYD_LEN]);
int rf_spill_add(rf_spill *s, const unsigned char keyd[RF_KEYD_LEN],
    const void *p, size_t n, rf_err *e);
unsigned rf_spill_count(const rf_spill *s);	/* buckets */
unsigned rf_spill_level(const rf_spill *s);
uint64_t rf_spill_size(const rf_spill *s, unsigned i);	/* bytes on disk */
uint64_t rf_spill_entries(const rf_spill *s, unsigned i);

/* Reading a bucket back, in the order its entries were added. */
typedef struct rf_spill_iter {
	/* private */
	int fd;
	uint64_t off, left;
	rf_buf buf;
	size_t pos;
	const char *mem;
	size_t memlen;
} rf_spill_iter;

/* No entry may be added to s once a bucket is open. */
int rf_spill_open(rf_spill *s, unsigned i, rf_spill_iter *it, rf_err *e);
/*
 * The next entry: 1 with *keyd, *p and *n set (valid until the next
 * call), 0 after the last, or an error.
 */
int rf_spill_next(rf_spill_iter *it, const unsigned char **keyd,
    const char **p, size_t *n, rf_err *e);
void rf_spill_close(rf_spill_iter *it);
/* Frees bucket i's file and buffer, once it has been read. */
void rf_spill_drop(rf_spill *s, unsigned i);
void rf_spill_free(rf_spill *s);

/* ---- keyed diff (lib/diff.c) ----------------------------------------------
 *
 * Two sides of records, old and new, matched by key: records with the same
 * key and the same canonical form (less the ignored fields) are unchanged;
 * with numbers within the tolerances, tolerated; otherwise changed.  A key
 * on one side only is added or removed; a key with more than one record
 * on either side is a duplicate, and its records are not compared.  Keys
 * are known by their digest (RF_KEYD_LEN bytes of the SHA-256 of the
 * canonical key), records by the same of their canonical form.
 */
typedef struct rf_diff_opts {
	rf_path *const *keys;		/* one path, or several: a composite
					 * key, the JSON array of the values */
	size_t nkeys;
	rf_path *const *ignore;		/* fields left out of the comparison */
	size_t nignore;
	double abs_tol, rel_tol;	/* rf_json_diff's */
	size_t memory;			/* entries held before spilling */
} rf_diff_opts;

/* A record made ready for rf_diff_add, on any thread. */
typedef struct rf_drec {
	unsigned char keyd[RF_KEYD_LEN], recd[RF_KEYD_LEN];
	size_t keyoff, keylen;		/* the canonical key, in out */
	size_t recoff, reclen;		/* the canonical record, less the
					 * ignored fields, right after it */
} rf_drec;

/*
 * Validates line and appends its canonical key and record to out (scratch
 * and h are the caller's, one per thread).  RF_EDATA for invalid JSON,
 * RF_EMISSING ("missing key PATH") for a record without the key.
 */
int rf_diff_prepare(const rf_diff_opts *o, const char *line, size_t n,
    rf_buf *out, rf_buf *scratch, rf_sha256 *h, rf_drec *r, rf_err *e);

typedef struct rf_diff rf_diff;

enum { RF_DIFF_CHANGED = 1, RF_DIFF_ADDED, RF_DIFF_REMOVED,
	RF_DIFF_DUPLICATE };

/* A key that is not the same on both sides. */
typedef struct rf_diff_item {
	int kind;
	const char *key;		/* canonical */
	size_t keylen;
	const char *old, *new_;		/* the first record of the key on each
					 * side, canonical, or NULL */
	size_t oldlen, newlen;
	uint32_t old_file, new_file;	/* as given to rf_diff_add */
	uint64_t old_line, new_line;
	uint64_t nold, nnew;		/* records with the key on each side */
} rf_diff_item;

typedef struct rf_diff_counts {
	uint64_t old, new_;		/* records on each side */
	uint64_t unchanged, tolerated, changed, added, removed;
	uint64_t dup_keys_old, dup_keys_new;	/* keys with more than one
						 * record on that side */
	uint64_t dup_records_old, dup_records_new;	/* all records of
							 * those keys */
	uint64_t skipped;		/* old records of skipped files */
	uint64_t spilled;		/* bytes written to scratch files */
} rf_diff_counts;

/*
 * old = unchanged + tolerated + changed + removed + dup_records_old, and
 * new = unchanged + tolerated + changed + added + dup_records_new.
 * memory bounds the entries held (about 80 bytes and the canonical key
 * and record each); past it they are spilled to scratch files.
 */
int rf_diff_new(const rf_diff_opts *o, rf_diff **out, rf_err *e);
/* side 0 is old, 1 new; file and line say where the record came from. */
int rf_diff_add(rf_diff *d, int side, uint32_t file, uint64_t line,
    const rf_drec *r, const char *buf, rf_err *e);
/* Records of files known to be the same on both sides, not read. */
void rf_diff_skip(rf_diff *d, uint64_t old, uint64_t new_);
/*
 * Classifies every key and calls cb for each difference, in ascending
 * order of key digest, the same whatever was spilled.  A nonzero cb
 * result stops it and is returned.
 */
int rf_diff_finish(rf_diff *d, int (*cb)(const rf_diff_item *, void *),
    void *arg, rf_diff_counts *c, rf_err *e);
void rf_diff_free(rf_diff *d);

/* ---- programs (lib/cli.c) ---------------------------------------------- */

/*
 * The run-wide state that every record-reading program shares: the
 * diagnostics prefix, the --bad quarantine, progress and --stats.
 */
typedef struct rf_run {
	const char *prog;		/* "refill-hash" */
	const char *command;		/* "diff" of refill-verify, or NULL */
	const char *bad_path;		/* --bad FILE or NULL */
	const char *stats_path;		/* --stats FILE or NULL */
	const char *metrics_path;	/* --metrics FILE or NULL */
	int progress;			/* -1 quiet, 0 when stderr is a tty, 1 forced */
	size_t max_line;

	uint64_t records_in;		/* records read (blank lines excluded) */
	uint64_t records_out;
	uint64_t quarantined;
	uint64_t blank;
	uint64_t bytes_in;		/* raw bytes of finished inputs */
	uint64_t bytes_total;		/* all inputs' size or 0: for ETA */
	rf_buf *figures;		/* if set, gets the --stats object */

	/* private */
	rf_out *bad, *stats, *metrics;
	double t0, tlast;
	uint64_t cur_pos;
	bool showed, show;
} rf_run;

void rf_run_init(rf_run *r, const char *prog);

/*
 * The options every record-reading program takes.  A program puts
 * RF_RUN_LONGOPTS in its getopt_long table and passes each option it does
 * not handle itself to rf_run_opt, which returns 1 if it took it, 0 if the
 * option is not one of these, or -1 after printing why the value is bad.
 * -q/--quiet is shared; -h and -V are left to the program.  A program
 * that reads no files of records takes RF_RUN_FIGURE_LONGOPTS instead:
 * no --bad, --max-line, -h or -V.
 */
enum { RF_OPT_BAD = 256, RF_OPT_MAX_LINE, RF_OPT_METRICS, RF_OPT_PROGRESS,
	RF_OPT_STATS, RF_OPT_PROGRAM };	/* programs number their own from RF_OPT_PROGRAM */
#define RF_RUN_FIGURE_LONGOPTS \
	{ "metrics", required_argument, NULL, RF_OPT_METRICS }, \
	{ "progress", no_argument, NULL, RF_OPT_PROGRESS }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "stats", required_argument, NULL, RF_OPT_STATS }
#define RF_RUN_LONGOPTS \
	RF_RUN_FIGURE_LONGOPTS, \
	{ "bad", required_argument, NULL, RF_OPT_BAD }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "max-line", required_argument, NULL, RF_OPT_MAX_LINE }, \
	{ "version", no_argument, NULL, 'V' }
int rf_run_opt(rf_run *r, int ch, const char *arg);
/* Prints "PROG VERSION" to stdout and returns an exit status. */
int rf_print_version(void);
/*
 * Checks the --stats and --metrics paths and opens the --bad file if any.
 * The inputs' sizes make bytes_total when every one is a regular file; a
 * program that reads something else gives no inputs and sets bytes_total
 * itself.  Returns an exit status (0 on success).
 */
int rf_run_start(rf_run *r, int ninputs, char **inputs);

/*
 * A bad record at file:line.  Without --bad: prints "PROG: FILE:LINE: why"
 * and returns RF_EXIT_DATA.  With --bad: quarantines the line and returns 0.
 */
int rf_run_bad(rf_run *r, const char *file, uint64_t lineno, const char *line,
    size_t len, const char *why);
/*
 * Called now and then with the raw position in the current input, which
 * progress adds to bytes_in (the inputs finished).
 */
void rf_run_tick(rf_run *r, uint64_t pos);
/* A figure of a program's own, reported beside the shared ones. */
typedef struct rf_stat {
	const char *name;		/* "partitions": a JSON member name */
	const char *help;		/* a sentence for the metric's HELP */
	uint64_t value;
} rf_stat;

/*
 * Finishes a run in two steps, so that a program can publish its own
 * output in between and have all or nothing appear.  rf_run_prepare
 * finishes the --bad file and writes --stats (JSON) and --metrics
 * (Prometheus text format: gauges with a program label, named in
 * refill(7)), each with the nextra figures in extra after the shared
 * ones (an extra figure NAME is the gauge refill_NAME), all still under
 * temporary names.  rf_run_publish renames them into place and prints the
 * summary.  rf_run_finish does both.  Each returns an exit status; after
 * a failure, rf_run_abort removes what was prepared.
 */
int rf_run_prepare(rf_run *r, const rf_stat *extra, size_t nextra);
int rf_run_publish(rf_run *r);
int rf_run_finish(rf_run *r, const rf_stat *extra, size_t nextra);
/*
 * The read loop of a parallel program.  Reads every line of r into the
 * program's batches (nb of them, each with its task function set), runs
 * them on pool, and calls deliver on this thread for each finished batch,
 * in input order.  Blank lines are counted and skipped; records_in counts
 * the rest.  Stops at the first nonzero status deliver returns, or at a
 * read error (printed); returns that status, after every batch it
 * submitted has finished.
 */
int rf_run_batches(rf_run *run, rf_reader *r, rf_pool *pool, rf_batch **b,
    size_t nb, int (*deliver)(rf_batch *, void *), void *arg);

/* Removes the temporary files of --bad, --stats and --metrics. */
void rf_run_abort(rf_run *r);

/* Prints e's reason as rf_warnx does; returns the exit status of code. */
int rf_fail(int code, const rf_err *e);
/* Prints "PROG: msg" to stderr. */
void rf_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rf_setprog(const char *prog);
const char *rf_getprog(void);

/* fflush + ferror + fclose of stdout; returns an exit status. */
int rf_close_stdout(void);

/* Whether the C string s ends in suffix. */
bool rf_ends_with(const char *s, const char *suffix);
/* Parses "64", "64k", "64M", "1G" (powers of 1024). */
int rf_parse_size(const char *s, size_t *out);
/* Parses a decimal in [lo, hi]. */
int rf_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* Seconds since the epoch, as a double; and an RFC 3339 UTC string. */
double rf_now(void);
void rf_timestamp(double t, char dst[32]);

/* ---- provenance stamps (lib/prov.c) ------------------------------------ */

typedef struct rf_prov_input {
	const char *path;
	unsigned char sha256[RF_SHA256_LEN];
	uint64_t records;
} rf_prov_input;

typedef struct rf_prov {
	const char *program;		/* "refill-split" */
	int argc;			/* the program's own argv */
	char **argv;
	const rf_prov_input *inputs;
	size_t ninputs;
	const char *output;		/* the output's name as written */
	unsigned char out_sha256[RF_SHA256_LEN];
	uint64_t out_bytes;
	rf_dsum out_digest;		/* count = records out in this file */
	uint64_t records_in, quarantined;
	double start, end;
	const char *transform;		/* rf_transform_format's text (a C
					 * string), or NULL */
} rf_prov;

/* A file that is part of a transform: an argument or a --dep. */
typedef struct rf_tfile {
	int arg;			/* its index in the command's argv */
	const char *path;
	unsigned char sha256[RF_SHA256_LEN];
} rf_tfile;

/* What refill-transform runs: the stamp's transform member. */
typedef struct rf_transform {
	const char *name, *version;
	int argc;			/* the command and its arguments */
	char *const *argv;
	const char *exe;		/* argv[0] as resolved on PATH */
	unsigned char exe_sha256[RF_SHA256_LEN];
	const rf_tfile *files;		/* arguments that name regular files */
	size_t nfiles;
	const rf_tfile *deps;		/* --dep files */
	size_t ndeps;
	const char *const *env_names;	/* --env names, and their values */
	const char *const *env_values;	/* (NULL: unset) */
	size_t nenv;
	/*
	 * rf_migrate_describe's text of the migrations applied before the
	 * command, or NULL: the member "migrations", absent when NULL so
	 * that earlier ids hold.  Migrations alone have argc 0 and exe
	 * NULL: "executable" is null.
	 */
	const char *migrations;
} rf_transform;

/*
 * Appends the transform object of refill-prov(5), in canonical form, and
 * sets id to its identity digest: the SHA-256 of the canonical object
 * with the executable as its digest alone and no paths of files.
 */
int rf_transform_format(const rf_transform *t, rf_buf *out, char id[65],
    rf_err *e);

/* Writes the stamp (refill-prov(5)) atomically to path. */
int rf_prov_write(const char *path, const rf_prov *p, rf_err *e);
/* Appends the stamp's one line to out, for a program that writes it itself. */
int rf_prov_format(const rf_prov *p, rf_buf *out, rf_err *e);

/* ---- reading stamps, and the provenance graph (lib/lineage.c) ------------
 *
 * refill-lineage(1) states the rules of the graph; refill-prov(5) the
 * stamp.  A file is known by the SHA-256 of its bytes (its content).
 */

typedef struct rf_stamp_input {
	char *path;			/* as the stamp recorded it */
	unsigned char sha256[RF_SHA256_LEN];
	uint64_t records;
} rf_stamp_input;

/*
 * What the graph keeps of a stamp: the rest of it (argv, host, user,
 * counts, the transform's argv, executable, files and environment) is
 * checked for JSON only and not kept.
 */
typedef struct rf_stamp {
	unsigned char digest[RF_SHA256_LEN];	/* of its canonical form */
	char *program;			/* program.name */
	char *tname, *tversion;		/* transform.name, .version; NULL
					 * when transform is null */
	unsigned char tid[RF_SHA256_LEN];	/* transform.id */
	char *started, *ended;
	char *out_path;			/* output.path */
	unsigned char out_sha256[RF_SHA256_LEN];
	rf_dsum out_digest;		/* output.dataset_digest; count is
					 * output.records */
	rf_stamp_input *inputs;		/* in the stamp's order */
	size_t ninputs;
	/* private: the one block that holds every string above */
	char *mem;
} rf_stamp;

/*
 * Parses a stamp (any JSON text of one object; whitespace and member order
 * do not matter).  RF_EDATA with the reason for anything that is not a
 * refill-prov/1 stamp: invalid JSON ("invalid JSON at byte N: ..."), a
 * format member other than "refill-prov/1", or a member the graph needs
 * that is missing ("no \"output.sha256\"") or of the wrong kind ("bad
 * \"inputs.2.records\": not an integer from 0 to 2^53"): program.name,
 * transform (null, or name, version and id), output.sha256, .records,
 * .dataset_digest and .path, started and ended (RFC 3339), and inputs, an
 * array of objects each with path, sha256 and records.  Digests are 64
 * lower-case hexadecimal digits, counts integers from 0 to 2^53, strings
 * free of U+0000.  Safe on any bytes: a fuzz target.
 */
int rf_stamp_parse(const char *buf, size_t len, rf_stamp *st, rf_err *e);
void rf_stamp_free(rf_stamp *st);

/* A growable list of node ids. */
typedef struct rf_ids {
	uint32_t *v;
	size_t n, cap;
} rf_ids;

int rf_ids_add(rf_ids *x, uint32_t id);		/* 0 or RF_ENOMEM */
void rf_ids_free(rf_ids *x);

/*
 * A node of the graph: one file.  A node made by a stamp is that stamp's
 * output, at every place the stamp was found; identical stamps are one
 * node.  A node without a stamp is a content that no stamp made: an input
 * read from outside (a source), or a file committed without a stamp, at
 * the places it was recorded or found.
 */
typedef struct rf_lnode {
	unsigned char sha256[RF_SHA256_LEN];
	bool has_records, has_digest;
	uint64_t records;
	rf_dsum digest;			/* the dataset digest, if has_digest */
	const rf_stamp *stamp;		/* what made it, or NULL */
	const char *const *places;	/* sorted by strcmp, each once */
	size_t nplaces;
} rf_lnode;

typedef struct rf_lineage rf_lineage;

int rf_lineage_new(rf_lineage **out, rf_err *e);
void rf_lineage_free(rf_lineage *g);
/*
 * Adds a stamp found at place: where the file it describes is (FILE for
 * FILE.prov, DATASET@NNNNNN/NAME for a committed file).  The graph takes
 * what st holds and clears it, whatever the result; an identical stamp
 * (the same digest) found before is the same node, which gains the place.
 */
int rf_lineage_add(rf_lineage *g, rf_stamp *st, const char *place,
    rf_err *e);
/* Adds a file known without a stamp, with its dataset digest if known. */
int rf_lineage_add_file(rf_lineage *g, const unsigned char sha[RF_SHA256_LEN],
    const rf_dsum *digest, const char *place, rf_err *e);
/*
 * Links every input to the stamps that made it, once all is added; the
 * queries below need it, and nothing can be added after it.  Makes a node
 * for each source.
 */
int rf_lineage_link(rf_lineage *g, rf_err *e);

/* Node ids are 0 to rf_lineage_size() - 1. */
size_t rf_lineage_size(const rf_lineage *g);
const rf_lnode *rf_lineage_node(const rf_lineage *g, uint32_t id);

/*
 * Appends the form in which places are compared to out (NUL-terminated):
 * without leading "./", and with D/versions/NNNNNN/NAME written
 * D@NNNNNN/NAME.
 */
int rf_lineage_norm(const char *place, rf_buf *out);

/*
 * The nodes that a file with this content at path is, as an input would be
 * linked: the stamps that made the content whose place or output.path is
 * path (compared as rf_lineage_norm writes them); if none, or path is
 * NULL, all stamps that made it, and with bare its node without a stamp.
 * Appended to out.
 */
int rf_lineage_find(rf_lineage *g, const unsigned char sha[RF_SHA256_LEN],
    const char *path, bool bare, rf_ids *out, rf_err *e);
/* Appends the nodes that input k of node id was linked to. */
int rf_lineage_from(const rf_lineage *g, uint32_t id, size_t k, rf_ids *out,
    rf_err *e);
/* Appends the nodes made directly from node id, each once, by id. */
int rf_lineage_to(const rf_lineage *g, uint32_t id, rf_ids *out, rf_err *e);
/*
 * Appends the seeds and every node reached from them, upward (what they
 * were made from) or downward (what was made from them), each once, in no
 * particular order.  Time and memory are linear in the nodes and links
 * reached; cycles end.
 */
int rf_lineage_walk(const rf_lineage *g, const uint32_t *seeds,
    size_t nseeds, bool up, rf_ids *out, rf_err *e);

/* ---- signatures (lib/sign.c) -------------------------------------------
 *
 * Ed25519 through libcrypto.  A public key is written as the base64 of its
 * DER SubjectPublicKeyInfo: the middle line of `openssl pkey -pubout`, 60
 * characters, so that openssl can check a signature with the key alone.
 */
#define RF_PUBKEY_LEN 60	/* base64 characters of a public key */
#define RF_SIG_LEN 64		/* bytes of a signature */

typedef struct rf_key rf_key;	/* a private key */

/*
 * Loads an unencrypted Ed25519 private key in PEM.  RF_EUSAGE for a file
 * that group or others may read or write (as ssh refuses one), that is
 * not a regular file, is a symbolic link, or holds another kind of key.
 * Messages name the file, never the key's bytes.
 */
int rf_key_load(const char *path, rf_key **out, rf_err *e);
/* The key's public half (RF_PUBKEY_LEN characters and a NUL). */
void rf_key_public(const rf_key *k, char pub[RF_PUBKEY_LEN + 1]);
int rf_key_sign(const rf_key *k, const void *msg, size_t n,
    unsigned char sig[RF_SIG_LEN], rf_err *e);
void rf_key_free(rf_key *k);
/*
 * Makes a new key and writes it to path in PEM, mode 0600, atomically;
 * an existing path is refused (RF_EUSAGE), and a failure leaves nothing
 * at path.  Sets pub to its public half.
 */
int rf_key_generate(const char *path, char pub[RF_PUBKEY_LEN + 1], rf_err *e);

/*
 * Checks sig over msg with a public key in the form above.  Returns 0,
 * RF_ECHECK when the signature does not match, or RF_EDATA when pub is
 * not an Ed25519 public key.
 */
int rf_sig_verify(const char *pub, const void *msg, size_t n,
    const unsigned char sig[RF_SIG_LEN], rf_err *e);

/* Base64 (RFC 4648, padded, no line breaks). */
size_t rf_b64_encode(const void *p, size_t n, char *dst);	/* NUL-terminated; dst holds 4*ceil(n/3)+1 */
int rf_buf_add_b64(rf_buf *b, const void *p, size_t n);	/* appends it; 0 or RF_ENOMEM */
/* Decodes exactly; returns the byte count, or RF_EDATA (bad text, or more than cap bytes). */
int rf_b64_decode(const char *s, size_t n, unsigned char *out, size_t cap);

/*
 * A trusted-signers file (refill-manifest(5)): one signer a line,
 * "NAME ROLE[,ROLE...] PUBKEY", fields separated by blanks; blank lines
 * and lines starting with # are skipped.  A NAME is letters, digits and
 * ._@-; a ROLE is a lower-case word (letters, digits, -).  A malformed
 * line, or a key listed twice, is RF_EDATA naming FILE:LINE.
 */
typedef struct rf_signer {
	char *name;
	char **roles;
	size_t nroles;
	char pub[RF_PUBKEY_LEN + 1];
} rf_signer;

typedef struct rf_trusted {
	rf_signer *s;
	size_t n;
	char *path;
} rf_trusted;

int rf_trusted_load(const char *path, rf_trusted *t, rf_err *e);
/*
 * The trusted-signers file a program uses: path (its -t option) or else
 * the REFILL_TRUSTED environment variable; neither, or an empty name,
 * means none.  Returns 1 with t loaded, 0 for none, or an error.
 */
int rf_trusted_default(const char *path, rf_trusted *t, rf_err *e);
const rf_signer *rf_trusted_find(const rf_trusted *t, const char *pub);
bool rf_signer_has_role(const rf_signer *s, const char *role);
void rf_trusted_free(rf_trusted *t);

/* ---- verification reports (lib/report.c) --------------------------------
 *
 * A report (refill-report(5)) is one line of canonical JSON,
 * {"report":{...},"sig":"BASE64"}: the signature is by report.signer over
 * the report object's bytes as they stand in the line.
 */
#define RF_REPORT_FORMAT "refill-report/1"

typedef struct rf_report {
	char check[16];			/* "dataset", "diff", "drift", "rules" */
	uint32_t version;		/* of the dataset it vouches for */
	unsigned char manifest[RF_SHA256_LEN];	/* that version's MANIFEST */
	bool passed;
	char signer[RF_PUBKEY_LEN + 1];
} rf_report;

/*
 * Appends to out the report line of body, a canonical JSON object that
 * holds the members above, signed by k.  0 or an error.
 */
int rf_report_sign(const char *body, size_t n, const rf_key *k, rf_buf *out,
    rf_err *e);
/*
 * Reads a report line (a final newline allowed), name being its file for
 * messages.  RF_EDATA when it is not one (not canonical, a member missing
 * or malformed), RF_ECHECK when the signature is not its signer's.
 */
int rf_report_parse(const char *p, size_t n, const char *name, rf_report *r,
    rf_err *e);

/* ---- versioned datasets (lib/store.c) ------------------------------------
 *
 * The layout, MANIFEST, SHA256SUMS and the log are specified in
 * refill-manifest(5).  Versions are numbered from 1; 0 means none.
 */
#define RF_MANIFEST_FORMAT "refill-manifest/1"
#define RF_VERSION_MAX 999999

typedef struct rf_mfile {
	char *name;			/* relative path in the version */
	uint64_t size;
	unsigned char sha256[RF_SHA256_LEN];
	rf_dsum digest;			/* count: the file's records */
	char *prov;			/* its stamp, canonical JSON, or NULL */
} rf_mfile;

typedef struct rf_manifest {
	char *dataset, *author, *message;
	uint32_t version, parent;
	char created[32];
	char signer[RF_PUBKEY_LEN + 1];	/* "" when unsigned */
	unsigned char sums_sha256[RF_SHA256_LEN];
	unsigned char log_head[RF_SHA256_LEN];	/* the log before the commit */
	char *schema;			/* its refill-schema(5) document, canonical
					 * JSON without newline, or NULL */
	rf_dsum total;			/* set by parse */
	unsigned char sha256[RF_SHA256_LEN];	/* of MANIFEST, set by load */
	uint64_t nfiles;		/* set by parse */
	rf_mfile *f;			/* sorted by name */
	size_t n, cap;
} rf_manifest;

/* Appends f (the manifest takes its strings). */
int rf_manifest_add(rf_manifest *m, rf_mfile *f);
void rf_manifest_sort(rf_manifest *m);
rf_mfile *rf_manifest_find(const rf_manifest *m, const char *name);
/* The MANIFEST's bytes, and SHA256SUMS's (coreutils format), for m. */
int rf_manifest_format(const rf_manifest *m, rf_buf *out, rf_err *e);
int rf_sums_format(const rf_manifest *m, rf_buf *out, rf_err *e);
/* Parses MANIFEST bytes; errors name file and line. */
int rf_manifest_parse(const char *buf, size_t len, const char *file,
    rf_manifest *m, rf_err *e);
void rf_manifest_free(rf_manifest *m);

/*
 * Whether name may be a file's name in a version: a relative path of
 * UTF-8 segments, none empty, "." or "..", or starting with a dot, and no
 * control character or backslash (SHA256SUMS could not hold it plainly).
 */
int rf_check_name(const char *name, rf_err *e);

/* Reads a regular file (not through a symbolic link) of at most max bytes. */
int rf_read_file(const char *path, size_t max, rf_buf *out, rf_err *e);

typedef struct rf_logent {
	char *line;			/* the line, without its newline */
	size_t len;
	char event[16];
	uint32_t version, current;
	bool has_manifest;
	unsigned char manifest[RF_SHA256_LEN];	/* the version's MANIFEST */
	int mode;			/* a compat or policy event's RF_COMPAT_* */
	bool has_policy;
	unsigned char policy[RF_SHA256_LEN];	/* a policy event's POLICY */
} rf_logent;

/* A log line to append (refill-manifest(5) names the members). */
typedef struct rf_event {
	const char *event;		/* commit, publish, rollback, gc */
	const char *user, *message;
	uint32_t version, from, current;
	const unsigned char *manifest;	/* the version's MANIFEST SHA-256 */
	const uint32_t *removed;	/* gc: the versions it removed */
	size_t nremoved;
	const char *mode;		/* compat: the mode set */
	/* commit: the changes the mode forbids, let through by override */
	const char *const *breaking;
	size_t nbreaking;
	const char *override;
	const unsigned char *policy;	/* policy: the POLICY's SHA-256 */
	/* publish, rollback: a JSON array of report lines, canonical */
	const char *reports;
} rf_event;

typedef struct rf_store {
	char *dir;
	/*
	 * The current version, or 0.  For a writer it is what the current
	 * link points to, repaired to agree with the log.  A reader follows
	 * the log, not the link: see rf_store_check_pointer.
	 */
	uint32_t current;
	uint32_t pointer;		/* what the current link points to, or 0 */
	uint32_t latest;		/* the highest version number used */
	rf_logent *log;			/* every line, checked */
	size_t nlog, caplog;
	unsigned char head[RF_SHA256_LEN];	/* SHA-256 of the last line */
	/* private */
	int lockfd;
	rf_sha256 *sha;
} rf_store;

#define RF_STORE_CREATE 1	/* make the layout if it does not exist */
#define RF_STORE_LOCK 2		/* take the writer's lock, and repair */

/*
 * Opens a dataset and checks its whole log (the chain, each signature,
 * and with trusted each signer).  With RF_STORE_LOCK it takes the lock
 * (RF_ECONFLICT if another writer has it) and repairs what a killed
 * writer left, appending one line to notes for each thing it did.
 */
int rf_store_open(const char *dir, int flags, const rf_trusted *trusted,
    rf_store **out, rf_buf *notes, rf_err *e);
void rf_store_close(rf_store *s);
/* The version numbers in versions/, ascending. */
int rf_store_versions(rf_store *s, uint32_t **vs, size_t *nv, rf_err *e);
/*
 * Loads version v's MANIFEST and checks it: the signature (and with
 * trusted, the signer), and the SHA-256 of SHA256SUMS.  RF_ECHECK when
 * something does not match.
 */
int rf_store_load(rf_store *s, uint32_t v, const rf_trusted *trusted,
    rf_manifest *m, rf_err *e);
/*
 * Only the header line is parsed (m->n is 0), and when the log's commit
 * line of v holds the MANIFEST's SHA-256, that is the check: the
 * signature and SHA256SUMS are not read.  What publish and rollback need,
 * at the cost of one SHA-256 pass over the MANIFEST.
 */
int rf_store_check(rf_store *s, uint32_t v, const rf_trusted *trusted,
    rf_manifest *m, rf_err *e);
/* Appends a log line, signed with key unless key is NULL, and fsyncs it. */
int rf_store_log(rf_store *s, const rf_event *ev, const rf_key *key,
    rf_err *e);
/*
 * RF_ECHECK, naming both, when the current link does not point to the
 * version the log makes current: it was changed without a log line (a
 * rollback attack, which would serve an older, validly signed version),
 * or a writer was killed between its log line and the switch.  The next
 * writer repairs it, as the log says.
 */
int rf_store_check_pointer(const rf_store *s, rf_err *e);
/*
 * The compatibility mode the log's last compat or policy line set, or
 * RF_COMPAT_NONE.
 */
int rf_store_compat(const rf_store *s);
/*
 * RF_ECHECK unless p is a directory itself, not a symbolic link to one:
 * the directories of a dataset are, so that no writer is led out of it.
 */
int rf_store_realdir(const char *p, rf_err *e);
/* Points current at v atomically (symlink, rename, fsync). */
int rf_store_set_current(rf_store *s, uint32_t v, rf_err *e);
/* The version current pointed to before its last change, or 0. */
uint32_t rf_store_previous(const rf_store *s);
/* Whether the log records a commit of v. */
bool rf_store_committed(const rf_store *s, uint32_t v);
/*
 * The version an operand DATASET[@N] names: N, or for none (*v 0) the
 * current version.  RF_EUSAGE ("DIR: no current version", "DIR: no
 * version N") when the log commits no such version.
 */
int rf_store_version(const rf_store *s, uint32_t *v, rf_err *e);
int rf_store_remove_version(rf_store *s, uint32_t v, rf_err *e);
/*
 * Splits an operand "DIR[@N]" at its last '@': dir (size bytes) gets DIR as
 * written, *v the version N, a number from 1 to RF_VERSION_MAX with or
 * without leading zeros, or 0 when there is no '@'.  RF_EUSAGE for a bad N
 * ("N: not a version number (1 to 999999)") or a DIR that does not fit.
 */
int rf_dataset_arg(const char *arg, char *dir, size_t size, uint32_t *v,
    rf_err *e);
/* Whether dir is a dataset: it holds a file log and a directory versions. */
bool rf_is_dataset(const char *dir);
/* DATASET/rel and DATASET/versions/NNNNNN[/file]; RF_EUSAGE if too long. */
int rf_store_path(const rf_store *s, char *dst, const char *rel);
int rf_version_path(const rf_store *s, uint32_t v, const char *file, char *dst);
/* "objects/ab/cdef...": where a file with this SHA-256 is stored. */
void rf_object_name(const unsigned char d[RF_SHA256_LEN], char dst[80]);

/* ---- rules files (lib/rules.c) -------------------------------------------
 *
 * The format, refill-rules/1, is specified in refill-rules(5), and what
 * refill-verify rules does with it in refill-verify(1).  A rules file is
 * compiled once.  Worker threads check records against it, each with a
 * scratch of its own; the main thread feeds what they found, in input
 * order, to the state of the whole input, which counts, keeps examples,
 * and decides the rules that look across records (count, null-ratio,
 * unique, monotonic).
 */
#define RF_RULES_MEMORY_DEFAULT ((size_t)256 << 20)
#define RF_RULES_MEMORY_MIN ((size_t)1 << 20)
#define RF_RULES_EXAMPLES_MAX 1000

typedef struct rf_rules rf_rules;

/*
 * Compiles a rules file's bytes.  name is the file's name for messages,
 * which read "NAME:LINE: reason" ("NAME: no rules" for a file without
 * any).  Returns 0, RF_EUSAGE for a malformed file, or RF_ENOMEM.  Safe
 * on any bytes: a fuzz target.
 */
int rf_rules_parse(const char *buf, size_t len, const char *name,
    rf_rules **out, rf_err *e);
void rf_rules_free(rf_rules *rs);
size_t rf_rules_count(const rf_rules *rs);
/* Rule i's line in the file, and its text as written, without comment. */
unsigned long rf_rules_line(const rf_rules *rs, size_t i);
const char *rf_rules_text(const rf_rules *rs, size_t i);

/* Whether s[0..n) is an ISO 4217 alphabetic code (iso-codes' list). */
bool rf_currency_valid(const char *s, size_t n);

/* What one thread needs to check records: buffers, a SHA-256 context. */
typedef struct rf_rules_scratch rf_rules_scratch;

int rf_rules_scratch_new(const rf_rules *rs, rf_rules_scratch **out,
    rf_err *e);
void rf_rules_scratch_free(rf_rules_scratch *sc);

/*
 * Checks one record, already validated (rf_json_validate), against every
 * rule, and appends what it found to out: which rules apply to it, which
 * it breaks and why, and what the rules across records need of it.  The
 * bytes are for rf_rules_feed only.  Writes to nothing but sc and out, so
 * threads may check at once against one rf_rules, each with its own
 * scratch.  Returns 0 or RF_ENOMEM (out then as it was).
 */
int rf_rules_check(const rf_rules *rs, rf_rules_scratch *sc,
    const char *rec, size_t len, rf_buf *out, rf_err *e);

/*
 * The state of a whole input.  memory bounds what unique and monotonic
 * rules hold in memory: it is shared equally between them, each getting
 * at least half of RF_RULES_MEMORY_MIN; a rule whose state outgrows its
 * share continues on disk, in scratch files (rf_scratch_file).  examples
 * is how many offending records to keep for each rule, the first in
 * input order (at most RF_RULES_EXAMPLES_MAX).
 */
typedef struct rf_rules_state rf_rules_state;

int rf_rules_state_new(const rf_rules *rs, size_t memory, size_t examples,
    rf_rules_state **out, rf_err *e);
/*
 * Feeds one record's findings, in input order, with the input's name (it
 * is copied) and the record's line.  RF_ENOMEM, or RF_EIO for a scratch
 * file that cannot be written.
 */
int rf_rules_feed(rf_rules_state *st, const char *found, size_t len,
    const char *file, uint64_t line, rf_err *e);
/* After the last record: decides what waits on disk.  Idempotent. */
int rf_rules_finish(rf_rules_state *st, rf_err *e);
uint64_t rf_rules_records(const rf_rules_state *st);	/* records fed */
uint64_t rf_rules_spilled(const rf_rules_state *st);	/* bytes written to
							 * scratch files */

typedef struct rf_rule_example {
	const char *file;
	uint64_t line;
	const char *reason;
} rf_rule_example;

/*
 * The outcome of rule i, once finished; the strings belong to the state.
 * applies counts the records the rule applies to (its when holds, and
 * for most rules its field is present and not null), broken those that
 * break it.  count applies to every record, and breaks with all of them
 * or none; null-ratio breaks with its null or missing records when there
 * are too many, else none.  figures is their text ("80 records, fewer
 * than 100"; "15% null or missing, more than 10%"), NULL for the others.
 */
typedef struct rf_rule_result {
	unsigned long line;
	const char *text;
	bool ok;
	uint64_t applies, broken;
	const char *figures;
	const rf_rule_example *examples;	/* in input order */
	size_t nexamples;
} rf_rule_result;

void rf_rules_result(const rf_rules_state *st, size_t i, rf_rule_result *r);
void rf_rules_state_free(rf_rules_state *st);

/* ---- time (lib/time.c) ------------------------------------------------ */

/*
 * Parses an RFC 3339 date-time ("2025-07-01T12:00:00.5+02:00"; T, t or
 * space; Z, z or an offset) or a full-date ("2025-07-01", midnight UTC)
 * to UTC seconds since the epoch (fractions dropped toward minus infinity).
 */
int rf_parse_rfc3339(const char *s, size_t n, int64_t *secs);
/*
 * The same, pointing *frac at the digits of the fraction of seconds as
 * written (*fn 0 when there is none).
 */
int rf_parse_rfc3339_frac(const char *s, size_t n, int64_t *secs,
    const char **frac, size_t *fn);
/*
 * Writes secs (UTC seconds since the epoch) as
 * "YYYY-MM-DDTHH:MM:SS[.FRAC]Z", FRAC the fn digits at frac, NUL-terminated
 * in dst (cap bytes).  Returns the length, or 0 for a year outside 0000
 * to 9999 or a dst too small.
 */
size_t rf_format_rfc3339(int64_t secs, const char *frac, size_t fn,
    char *dst, size_t cap);
/*
 * The time a JSON value (the bytes of a validated value) stands for: an
 * RFC 3339 string, or a number of seconds since the epoch (unit 1) or
 * milliseconds (unit 1000); unit 0 takes a magnitude of 1e11 or more as
 * milliseconds.  Returns -1 with *why set for anything else.
 */
int rf_json_time(const char *v, size_t n, int unit, int64_t *secs,
    const char **why);
/* The unit for rf_json_time named by --epoch: "s" 1, "ms" 1000, else -1. */
int rf_parse_epoch(const char *s);
/*
 * Time windows, numbered: hours and days since the epoch, and months since
 * year 0 (year * 12 + month - 1), all in UTC.  rf_window_parse takes
 * "hour", "day" or "month" (-1 for anything else); rf_time_window gives
 * the window of a time in seconds (-1 with *why outside years 0 to 9999);
 * rf_window_name writes it as 2025-07-01T13, 2025-07-01 or 2025-07.
 */
enum { RF_WIN_HOUR, RF_WIN_DAY, RF_WIN_MONTH };
int rf_window_parse(const char *s);
int rf_time_window(int64_t secs, int win, int64_t *out, const char **why);
void rf_window_name(int64_t w, int win, char *dst, size_t n);
/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t rf_days_from_civil(int64_t y, unsigned m, unsigned d);
void rf_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* ---- schemas (lib/schema.c) ----------------------------------------------
 *
 * An inferred schema, refill-schema/1, is specified in refill-schema(5):
 * for each field path (members of objects, and "[]" for the elements of
 * arrays) how often it is present, missing and null, its types, the range
 * of its numbers, and for strings with few distinct values the values.
 * What it holds is bounded: at most max_fields paths, and per path at most
 * max_values distinct strings of at most RF_SCHEMA_VALUE_MAX bytes each;
 * values at paths past the bound are counted, not described.
 */
#define RF_SCHEMA_FORMAT "refill-schema/1"
#define RF_SCHEMA_FIELDS_DEFAULT 10000
#define RF_SCHEMA_VALUES_DEFAULT 20
#define RF_SCHEMA_VALUE_MAX 64

typedef struct rf_schema rf_schema;

int rf_schema_new(size_t max_fields, size_t max_values, rf_schema **out,
    rf_err *e);
void rf_schema_free(rf_schema *s);
/* Forgets what was added, keeping the limits and the memory for reuse. */
void rf_schema_clear(rf_schema *s);
/* Adds one record, already validated (rf_json_validate).  0 or RF_ENOMEM. */
int rf_schema_add(rf_schema *s, const char *rec, size_t len);
/*
 * Adds what from describes to into, as if into had seen its records too
 * (into's limits apply).  0 or RF_ENOMEM.
 */
int rf_schema_merge(rf_schema *into, const rf_schema *from);
uint64_t rf_schema_records(const rf_schema *s);
/* Values at paths past the bound, counted but not described. */
uint64_t rf_schema_unrecorded(const rf_schema *s);
/* Appends the schema as one line of canonical JSON, with its newline. */
int rf_schema_format(const rf_schema *s, rf_buf *out, rf_err *e);
/*
 * Reads a schema document (rf_schema_format's line, or the same JSON
 * formatted otherwise).  name names it in messages.  RF_EDATA for
 * anything that is not refill-schema/1, RF_ENOMEM.  Safe on any bytes.
 */
int rf_schema_parse(const char *buf, size_t len, const char *name,
    rf_schema **out, rf_err *e);

/*
 * Compatibility between two schemas, as a schema registry judges it:
 * backward when readers of the new schema can read data of the old,
 * forward when readers of the old can read data of the new.
 */
enum { RF_COMPAT_NONE = 0, RF_COMPAT_BACKWARD = 1, RF_COMPAT_FORWARD = 2,
	RF_COMPAT_FULL = 3 };
/* "none", "backward", "forward" or "full" to its value; -1 otherwise. */
int rf_compat_parse(const char *s);
const char *rf_compat_name(int mode);

typedef struct rf_change {
	const char *path;	/* refill-schema(5)'s path of the field */
	const char *what;	/* "added optional field", "type widened", ... */
	const char *detail;	/* "integer to number", or "" */
	bool backward, forward;	/* whether each compatibility survives it */
} rf_change;

/*
 * Calls cb for each change from old to new, in path order; a field added
 * or removed is one change, not one for each field under it.  A negative
 * cb result stops the walk and is returned.  Returns the number of
 * changes, or RF_ENOMEM.
 */
long rf_schema_compat(const rf_schema *old, const rf_schema *new_,
    int (*cb)(const rf_change *c, void *arg), void *arg);
/* Whether mode forbids c. */
bool rf_compat_breaks(int mode, const rf_change *c);
/*
 * Appends a line for each field, for people: "  PATH  TYPES", then how
 * often it is missing or null, its numbers' range, its few values.
 */
int rf_schema_describe(const rf_schema *s, rf_buf *out);

/*
 * Adds every record of an NDJSON file (gzip or not); a record that is
 * not valid is RF_EDATA naming FILE:LINE.
 */
int rf_schema_read(rf_schema *s, const char *path, rf_err *e);
/*
 * The schema a file stands for (gzip or not; "-" is standard input): a
 * refill-schema document, on one line or several, or records to infer
 * one from with the default bounds.  A document of another format
 * version is RF_EDATA, not records.
 */
int rf_schema_load(const char *path, rf_schema **out, rf_err *e);
/*
 * The schema of version v: the one its MANIFEST records, checked as
 * rf_store_check checks the MANIFEST; for a version committed before
 * schemas were recorded, inferred from its files with the default limits.
 */
int rf_store_schema(rf_store *s, uint32_t v, const rf_trusted *trusted,
    rf_schema **out, rf_err *e);

/* ---- schema migrations (lib/migrate.c) ------------------------------------
 *
 * The built-in migrations of refill-transform(1): an ordered list of
 * operations, compiled once from their command-line arguments and applied
 * to each record by any number of threads at once.  The output of
 * rf_migrate_apply is the record in canonical form (refill(7)) with the
 * operations applied, so that its digest is the SHA-256 of those bytes.
 *
 * Paths are rf_path_compile's.  A step that names an array element finds
 * an existing element; parents that a default or a rename must create are
 * always objects (a missing "a.0" is made {"a":{"0":...}}).
 */
enum {
	RF_MIG_RENAME,		/* "FROM=TO": move the value; TO must not exist */
	RF_MIG_DEFAULT,		/* "PATH=JSON": set it where PATH is absent */
	RF_MIG_DROP,		/* "PATH" */
	RF_MIG_CAST,		/* "PATH=TYPE": number, string, rfc3339,
				 * rfc3339-ms */
	RF_MIG_UTC		/* "PATH": an RFC 3339 string, to UTC */
};

typedef struct rf_migrate rf_migrate;

int rf_migrate_new(rf_migrate **out, rf_err *e);
/*
 * Appends an operation, arg as given to its option.  RF_EUSAGE with the
 * reason ("--cast a=bogus: ...") for a malformed argument; RF_ENOMEM.
 */
int rf_migrate_add(rf_migrate *m, int op, const char *arg, rf_err *e);
size_t rf_migrate_count(const rf_migrate *m);
/*
 * Appends the operations as a JSON array in canonical form, one array a
 * step: ["rename",FROM,TO], ["default",PATH,VALUE], ["drop",PATH],
 * ["cast",PATH,TYPE], ["utc",PATH]; paths as given, VALUE canonical.
 */
int rf_migrate_describe(const rf_migrate *m, rf_buf *out);
/*
 * Appends the migrated record (canonical, no newline) to out.  tmp is
 * three scratch buffers of the caller's, one set per thread.  RF_EDATA with
 * the reason for a record that is not JSON ("invalid JSON at byte N: ...")
 * or that an operation cannot apply to, naming it and the path
 * ("--cast n=number: \"x\" is not a number"); RF_ENOMEM.  out is as it
 * was after an error.
 */
int rf_migrate_apply(const rf_migrate *m, const char *rec, size_t n,
    rf_buf *out, rf_buf tmp[3], rf_err *e);
void rf_migrate_free(rf_migrate *m);

/* ---- dataset policies (lib/policy.c) --------------------------------------
 *
 * A dataset's POLICY, refill-policy/1, is specified in refill-policy(5):
 * the roles of the trusted-signers file that may do each kind of change,
 * whether unsigned changes are allowed, and the compatibility mode.  A
 * dataset without one allows what refill-commit always has.
 */
#define RF_POLICY_FORMAT "refill-policy/1"

enum { RF_ACT_COMMIT, RF_ACT_PUBLISH, RF_ACT_ROLLBACK, RF_ACT_GC,
	RF_ACT_APPROVE, RF_ACT_VERIFY, RF_ACT_N };
/* The checks of refill-verify whose signed reports a policy can require. */
enum { RF_CHECK_DATASET, RF_CHECK_DIFF, RF_CHECK_DRIFT, RF_CHECK_RULES,
	RF_CHECK_N };
#define RF_APPROVALS_MAX 100

typedef struct rf_policy {
	char **roles[RF_ACT_N];		/* sorted role names, for each action */
	size_t nroles[RF_ACT_N];
	unsigned approvals;		/* distinct approvals a publish needs */
	bool self_approval;		/* a committer may approve its version */
	unsigned verified;		/* bit 1 << RF_CHECK_*: reports needed */
	bool unsigned_ok;		/* unsigned changes allowed */
	int compat;			/* RF_COMPAT_* */
} rf_policy;

/* "commit", "publish", "rollback", "gc", "approve" or "verify". */
const char *rf_policy_action(int act);
/* "dataset", "diff", "drift" or "rules"; and back (-1 for none of them). */
const char *rf_policy_check(int c);
int rf_policy_check_parse(const char *s, size_t n);
/* The policy of a dataset without a POLICY. */
int rf_policy_default(rf_policy *p, rf_err *e);
/*
 * Reads a policy file's bytes; members it leaves out take their default.
 * RF_EDATA naming the file ("NAME: reason") for anything else, a member
 * it does not know included; RF_ENOMEM.  Safe on any bytes.
 */
int rf_policy_parse(const char *buf, size_t len, const char *name,
    rf_policy *p, rf_err *e);
/* Appends the policy as one line of canonical JSON, with its newline. */
int rf_policy_format(const rf_policy *p, rf_buf *out, rf_err *e);
void rf_policy_free(rf_policy *p);
/* Whether a key with signer s's roles may do act. */
bool rf_policy_allows(const rf_policy *p, int act, const rf_signer *s);
/*
 * The dataset's POLICY, checked against the log line that set it last
 * (its SHA-256, and with trusted, that the line's key is an owner's):
 * 0, or 1 with the defaults when no line set one (unsigned changes
 * allowed when trusted is NULL, as they are then).  RF_ECHECK for a POLICY
 * that is not the one the log set, or one that no line set.
 */
int rf_store_policy(const rf_store *s, const rf_trusted *trusted,
    rf_policy *p, rf_err *e);

/* ---- audit exports (lib/audit.c) ----------------------------------------
 *
 * refill-audit(5): {"audit":{...},"sig":"..."} (sig only when signed).
 */
#define RF_AUDIT_FORMAT "refill-audit/1"

/*
 * Appends the "history" object of s: its log and POLICY, and each version
 * directory's MANIFEST, MANIFEST.sig (base64) and SHA256SUMS, as text.
 */
int rf_audit_history(rf_store *s, rf_buf *out, rf_err *e);
/*
 * Appends the summary of s's history, canonical: each version committed,
 * with who committed, approved, published (with the reports the line
 * carries, each checked: one that does not hold is {"holds":false}) and
 * removed it, and what its MANIFEST holds and names as made it.  It reads
 * the log and MANIFESTs only, so that a checker derives it again from the
 * history.
 */
int rf_audit_summary(rf_store *s, const rf_trusted *trusted, rf_buf *out,
    rf_err *e);
/*
 * Checks the reports that publish and rollback lines carry: each one's
 * signature, and that it is of the version and MANIFEST its line names.
 * Calls bad with a message naming the line for each that does not hold;
 * returns how many, or RF_ENOMEM.
 */
int rf_audit_reports(rf_store *s, void (*bad)(void *arg, const char *msg),
    void *arg, rf_err *e);
/*
 * Reads p[0..n), a report that log line l carries (name for messages),
 * and checks it is of the version and MANIFEST l names.  RF_ECHECK or
 * RF_EDATA as rf_report_parse, or RF_ECHECK for another version's.
 */
int rf_audit_report(const rf_logent *l, const char *p, size_t n,
    const char *name, rf_report *r, rf_err *e);
/*
 * The versions the log says are there (committed, and removed by no gc)
 * that are not among have[0..nhave), with the line of each one's commit.
 * Both arrays are the caller's.
 */
int rf_audit_missing(rf_store *s, const uint32_t *have, size_t nhave,
    uint32_t **vs, size_t **lines, size_t *nv, rf_err *e);

typedef struct rf_audit_info {
	char dataset[256], exported[32];
	char signer[RF_PUBKEY_LEN + 1];	/* "" when unsigned */
	bool is_signed, verified_ok;	/* verified_ok: its verification's "ok" */
	size_t versions, log_lines;
	uint32_t current;
} rf_audit_info;

/*
 * Checks an export (doc names it in messages): its signature if signed
 * (by a key trusted lists, when given); its history, rebuilt in a
 * scratch directory under TMPDIR and checked as a dataset is; and its
 * summary against the one the history gives.  RF_ECHECK naming the first
 * thing that does not hold, RF_EDATA for what is not an export.
 */
int rf_audit_check(const char *p, size_t n, const char *doc,
    const rf_trusted *trusted, rf_audit_info *info, rf_err *e);
/*
 * Sets the POLICY to text (rf_policy_format's): written beside the old
 * one, then the log line ev (its policy member is filled in), signed with
 * key, then renamed into place.  A writer's repair finishes what a killed
 * one left, or takes it back, as the log says.  The caller holds the lock.
 */
int rf_store_set_policy(rf_store *s, const char *text, size_t n,
    const rf_event *ev, const rf_key *key, rf_err *e);

#endif
