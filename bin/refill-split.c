/*
 * refill-split: partitions an NDJSON stream into batch files, by the hash
 * of a key or by time window, atomically, with a provenance stamp per file.
 *
 * The main thread reads lines into batches.  Worker threads parse each
 * batch: record digest, and partition or time window.  The main thread
 * takes finished batches in input order and appends each record to its
 * partition's buffer.  A full buffer becomes a flush job for the workers,
 * which compress it and append it to the partition's file.  Flushes of one
 * partition reach its file in the order they were made (a sequence number
 * per partition), so records keep their input order.  Files are opened
 * only to append one flush, so thousands of partitions need no more
 * descriptors than there are workers.
 */
#define _GNU_SOURCE	/* sync_file_range(2) where there is one; see append() */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refill.h"

#define PART_FLUSH ((size_t)1 << 20)	/* a partition's buffer is written at this size */
#define MAX_PARTS 65536


struct part {
	char *name;		/* "part-00042.ndjson.gz", relative to -o */
	char *tmppath;		/* the file inside the temporary directory */
	char *provtmp;		/* its stamp there */
	int fd;			/* the file, while it is kept open; else -1 */
	int64_t window;		/* the time window's number (hour, day or month) */
	rf_buf buf;		/* records not yet handed to a worker */
	uint64_t seq_made;	/* jobs made so far */
	/* Written by workers, in job order. */
	uint64_t seq_done;
	rf_sha256 *sha;
	rf_dsum sum;
	uint64_t bytes;
};

/* A partition's buffer on its way to the file. */
struct flush {
	rf_task task;
	struct part *pt;
	uint64_t seq;
	rf_buf data;
	struct flush *next;
};

/* A batch of records and what the workers found: see split_work. */
struct sbatch {
	rf_batch b;
	rf_sha256 *sha;
	rf_buf canon, why;
	unsigned char (*digest)[RF_SHA256_LEN];
	int64_t *dest;		/* partition number, or time window */
	int *bad;		/* offset of the reason in why, or -1 */
};

#define NBATCH 8

static rf_run run;
static rf_path *keypath, *timepath;
static int window = -1;
static int epoch_unit;		/* 0 auto, 1 seconds, 1000 milliseconds */
static int level = -1;		/* gzip level, -1 for plain */
static size_t memory = (size_t)64 << 20;
static uint32_t nkeyparts;	/* -n */

static struct part **parts;
static size_t nparts, capparts;
static int32_t *wintab;		/* open-addressed window -> part index + 1 */
static size_t wincap;
static size_t buffered;		/* bytes in part buffers */
static char *tmpdir;
static char *outdir;		/* -o, without trailing slashes */
static bool installed;		/* tmpdir has become the output directory */
static char *olddir;		/* the output directory that -f replaces */

static rf_pool *pool;
static struct sbatch batches[NBATCH];
static rf_batch *ring[NBATCH];
static struct flush *fhead, *ftail;	/* flushes in flight, oldest first */
static size_t inflight;			/* their bytes */

/* Flushes of one partition wait here for their turn. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_seq = PTHREAD_COND_INITIALIZER;
static int werr;		/* first flush error, an exit status */
static int nopen, maxopen;	/* partition files kept open, and the limit */
static char werrmsg[sizeof(((rf_err *)0)->msg)];

static _Noreturn void
usage(int status)
{
	fprintf(status == RF_EXIT_OK ? stdout : stderr,
	    "usage: refill-split [-fqz] [--bad file] [--epoch s|ms] [--level n] "
	    "[--max-line size]\n"
	    "                    [--memory size] [--metrics file] [--progress] "
	    "[--stats file]\n"
	    "                    -k path -n count -o dir [file ...]\n"
	    "       refill-split [-fqz] [--bad file] [--epoch s|ms] [--level n] "
	    "[--max-line size]\n"
	    "                    [--memory size] [--metrics file] [--progress] "
	    "[--stats file]\n"
	    "                    -T path -w hour|day|month -o dir [file ...]\n");
	exit(status == RF_EXIT_OK ? rf_close_stdout() : status);
}

/* Async-signal-safe: removes what is in the temporary directory. */
static void
cleanup_files(void)
{
	for (size_t i = 0; i < nparts; i++) {
		unlink(parts[i]->tmppath);
		unlink(parts[i]->provtmp);
	}
}

static void
flush_fail(const rf_err *e)
{
	pthread_mutex_lock(&mu);
	if (werr == 0) {
		werr = RF_EXIT_IO;
		memcpy(werrmsg, e->msg, sizeof werrmsg);
	}
	pthread_mutex_unlock(&mu);
}

/*
 * Appends bytes to a partition's file.  The first maxopen files opened stay
 * open; the others are opened for each write only, so the number of
 * descriptors stays bounded however many partitions there are.
 */
static int
append(struct part *pt, const void *p, size_t n, rf_err *e)
{
	int rc;
	bool keep;

	if (pt->fd < 0) {
		pt->fd = open(pt->tmppath, O_WRONLY | O_CREAT | O_APPEND |
		    O_NOFOLLOW | O_CLOEXEC, 0666);
		if (pt->fd < 0)
			return rf_seterr(e, RF_EIO, "%s: %s", pt->tmppath,
			    strerror(errno));
		pthread_mutex_lock(&mu);
		if ((keep = nopen < maxopen))
			nopen++;
		pthread_mutex_unlock(&mu);
	} else
		keep = true;
	rc = rf_write_all(pt->fd, p, n, e, pt->tmppath);
#ifdef SYNC_FILE_RANGE_WRITE
	/*
	 * Linux: start writing back now, so that the fsync before the
	 * final rename finds little left to do.
	 */
	if (rc == 0)
		sync_file_range(pt->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
	if (!keep) {
		if (close(pt->fd) < 0 && rc == 0)
			rc = rf_seterr(e, RF_EIO, "%s: %s", pt->tmppath,
			    strerror(errno));
		pt->fd = -1;
	}
	return rc;
}

static void
flush_work(rf_task *t)
{
	struct flush *f = (struct flush *)t;
	struct part *pt = f->pt;
	rf_buf z = { 0 };
	rf_err e;
	const void *out = f->data.p;
	size_t outlen = f->data.len;
	int rc = 0;

	if (level >= 0) {
		if ((rc = rf_gzip_member(f->data.p, f->data.len, level, &z,
		    &e)) < 0)
			flush_fail(&e);
		out = z.p;
		outlen = z.len;
	}
	/* Earlier flushes of this partition were queued first: never a deadlock. */
	pthread_mutex_lock(&mu);
	while (pt->seq_done != f->seq)
		pthread_cond_wait(&cv_seq, &mu);
	pthread_mutex_unlock(&mu);
	if (rc == 0 && werr == 0) {
		if (append(pt, out, outlen, &e) < 0)
			flush_fail(&e);
		rf_sha256_update(pt->sha, out, outlen);
		pt->bytes += outlen;
	}
	pthread_mutex_lock(&mu);
	pt->seq_done++;
	pthread_cond_broadcast(&cv_seq);
	pthread_mutex_unlock(&mu);
	rf_buf_free(&z);
}

/* Waits for the oldest flush in flight and frees it. */
static void
flush_reap(void)
{
	struct flush *f = fhead;

	rf_pool_wait(pool, &f->task);
	if ((fhead = f->next) == NULL)
		ftail = NULL;
	inflight -= f->data.len;
	rf_buf_free(&f->data);
	free(f);
}

/* Hands a partition's buffer to the workers, keeping memory in bounds. */
static int
submit(struct part *pt)
{
	struct flush *f;

	if (pt->buf.len == 0)
		return RF_EXIT_OK;
	while (fhead != NULL && inflight > memory / 2)
		flush_reap();
	if ((f = calloc(1, sizeof *f)) == NULL) {
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	f->task.fn = flush_work;
	f->pt = pt;
	f->seq = pt->seq_made++;
	f->data = pt->buf;
	memset(&pt->buf, 0, sizeof pt->buf);
	buffered -= f->data.len;
	inflight += f->data.len;
	if (ftail != NULL)
		ftail->next = f;
	else
		fhead = f;
	ftail = f;
	rf_pool_submit(pool, &f->task);
	return werr;
}

/* Waits for every flush; returns their status. */
static int
flush_all(void)
{
	while (fhead != NULL)
		flush_reap();
	if (werr != 0)
		rf_warnx("%s", werrmsg);
	return werr;
}

static struct part *
new_part(const char *name)
{
	struct part *pt = calloc(1, sizeof *pt);
	size_t n = strlen(tmpdir) + strlen(name) + 8;

	if (pt == NULL || (pt->name = strdup(name)) == NULL ||
	    (pt->tmppath = malloc(n)) == NULL || (pt->provtmp = malloc(n)) == NULL ||
	    (pt->sha = rf_sha256_new()) == NULL) {
		rf_warnx("out of memory");
		return NULL;
	}
	pt->fd = -1;
	snprintf(pt->tmppath, n, "%s/%s", tmpdir, name);
	snprintf(pt->provtmp, n, "%s/%s.prov", tmpdir, name);
	rf_dsum_init(&pt->sum);
	if (nparts == capparts) {
		size_t nc = capparts ? capparts * 2 : 64;
		struct part **np = realloc(parts, nc * sizeof *np);
		if (np == NULL) {
			rf_warnx("out of memory");
			return NULL;
		}
		parts = np;
		capparts = nc;
	}
	/* The signal hook reads parts[]: publish the entry before the count. */
	parts[nparts] = pt;
	nparts++;
	return pt;
}

static void
free_parts(void)
{
	for (size_t i = 0; i < nparts; i++) {
		free(parts[i]->name);
		free(parts[i]->tmppath);
		free(parts[i]->provtmp);
		if (parts[i]->fd >= 0)
			close(parts[i]->fd);
		rf_buf_free(&parts[i]->buf);
		rf_sha256_free(parts[i]->sha);
		free(parts[i]);
	}
	free(parts);
	free(wintab);
}

/* ---- time windows ------------------------------------------------------ */

/* The window of a time value, or -1 with *why set. */
static int
time_window(const char *v, size_t n, int64_t *win, const char **why)
{
	int64_t secs;

	if (rf_json_time(v, n, epoch_unit, &secs, why) < 0)
		return -1;
	return rf_time_window(secs, window, win, why);
}

static void
window_name(int64_t win, char *dst, size_t n)
{
	char w[32];

	rf_window_name(win, window, w, sizeof w);
	snprintf(dst, n, "%s%s", w, level >= 0 ? ".ndjson.gz" : ".ndjson");
}

static uint64_t
mix(int64_t v)
{
	uint64_t x = (uint64_t)v * 0x9E3779B97F4A7C15u;
	return x ^ x >> 29;
}

static struct part *
window_part(int64_t win)
{
	size_t i;
	char name[64];
	struct part *pt;

	if (wincap > 0)
		for (i = mix(win) & (wincap - 1); wintab[i] != 0;
		    i = (i + 1) & (wincap - 1))
			if (parts[wintab[i] - 1]->window == win)
				return parts[wintab[i] - 1];
	if (nparts >= INT32_MAX - 1) {
		rf_warnx("too many time windows");
		return NULL;
	}
	if (2 * (nparts + 1) > wincap) {
		size_t nc = wincap ? wincap * 2 : 256;
		int32_t *nt = calloc(nc, sizeof *nt);
		if (nt == NULL) {
			rf_warnx("out of memory");
			return NULL;
		}
		for (size_t k = 0; k < nparts; k++) {
			for (i = mix(parts[k]->window) & (nc - 1); nt[i] != 0;
			    i = (i + 1) & (nc - 1))
				;
			nt[i] = (int32_t)k + 1;
		}
		free(wintab);
		wintab = nt;
		wincap = nc;
	}
	window_name(win, name, sizeof name);
	if ((pt = new_part(name)) == NULL)
		return NULL;
	pt->window = win;
	for (i = mix(win) & (wincap - 1); wintab[i] != 0;
	    i = (i + 1) & (wincap - 1))
		;
	wintab[i] = (int32_t)nparts;
	return pt;
}

/* ---- the output directory --------------------------------------------- */

/*
 * 0 if dir does not exist or is an empty directory (rename(2) replaces an
 * empty directory), 1 if it has entries, -2 if it is not a directory.
 */
static int
dir_state(const char *dir, bool *exists)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	*exists = false;
	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		rf_warnx("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		rf_warnx("%s: exists and is not a directory", dir);
		return -2;
	}
	if ((d = opendir(dir)) == NULL) {
		rf_warnx("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			*exists = true;
			rc = 1;
			break;
		}
	closedir(d);
	return rc;
}

static char *
sibling(const char *dir, const char *tag)
{
	const char *slash = strrchr(dir, '/');
	size_t n = strlen(dir) + strlen(tag) + 16;
	char *p = malloc(n);

	if (p == NULL)
		return NULL;
	if (slash == NULL)
		snprintf(p, n, ".%s.%s-XXXXXX", dir, tag);
	else
		snprintf(p, n, "%.*s/.%s.%s-XXXXXX", (int)(slash - dir),
		    dir, slash + 1, tag);
	return p;
}

static char *
parent_of(const char *dir)
{
	const char *slash = strrchr(dir, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == dir)
		return strdup("/");
	return strndup(dir, slash - dir);
}

/* Makes each file durable, then writes its stamp. */
static int
finish_files(const char *dir, rf_prov_input *inputs, size_t ninputs,
    int argc, char **argv, double start)
{
	rf_err e;
	rf_prov pv;
	rf_buf prov = { 0 };
	char *outname;
	double end = rf_now();
	int fd;

	for (size_t i = 0; i < nparts; i++) {
		struct part *pt = parts[i];

		if (pt->bytes == 0) {
			/* Every partition exists; an empty gzip is still gzip. */
			rf_buf z = { 0 };
			int rc = 0;
			if (level >= 0)
				rc = rf_gzip_member("", 0, level, &z, &e);
			if (rc == 0)
				rc = append(pt, z.p, z.len, &e);
			if (rc == 0) {
				rf_sha256_update(pt->sha, z.p, z.len);
				pt->bytes = z.len;
			}
			rf_buf_free(&z);
			if (rc < 0) {
				rf_warnx("%s", e.msg);
				goto fail;
			}
		}
		if (pt->fd < 0 && (pt->fd = open(pt->tmppath,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			rf_warnx("%s: %s", pt->tmppath, strerror(errno));
			goto fail;
		}
		if (fsync(pt->fd) < 0 || close(pt->fd) < 0) {
			rf_warnx("%s: %s", pt->tmppath, strerror(errno));
			pt->fd = -1;
			goto fail;
		}
		pt->fd = -1;

		size_t n = strlen(dir) + strlen(pt->name) + 2;
		if ((outname = malloc(n)) == NULL) {
			rf_warnx("out of memory");
			goto fail;
		}
		snprintf(outname, n, "%s/%s", dir, pt->name);
		memset(&pv, 0, sizeof pv);
		pv.program = run.prog;
		pv.argc = argc;
		pv.argv = argv;
		pv.inputs = inputs;
		pv.ninputs = ninputs;
		pv.output = outname;
		rf_sha256_final(pt->sha, pv.out_sha256);
		pv.out_bytes = pt->bytes;
		pv.out_digest = pt->sum;
		pv.records_in = run.records_in;
		pv.quarantined = run.quarantined;
		pv.start = start;
		pv.end = end;
		/* The directory is private until the final rename. */
		prov.len = 0;
		int rc = rf_prov_format(&pv, &prov, &e);
		free(outname);
		if (rc == 0 && (fd = open(pt->provtmp, O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666)) < 0)
			rc = rf_seterr(&e, RF_EIO, "%s: %s", pt->provtmp,
			    strerror(errno));
		if (rc == 0) {
			rc = rf_write_all(fd, prov.p, prov.len, &e, pt->provtmp);
			if (rc == 0 && (fsync(fd) < 0 || close(fd) < 0))
				rc = rf_seterr(&e, RF_EIO, "%s: %s",
				    pt->provtmp, strerror(errno));
			else if (rc < 0)
				close(fd);
		}
		if (rc < 0) {
			rf_warnx("%s", e.msg);
			goto fail;
		}
	}
	rf_buf_free(&prov);
	if (rf_fsync_dir(tmpdir, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	return RF_EXIT_OK;
fail:
	rf_buf_free(&prov);	/* the stamp of a file before this one */
	return RF_EXIT_IO;
}

/*
 * Puts the finished directory in place of outdir.  The old one, moved
 * aside to olddir, stays there until the run has succeeded.
 */
static int
install(const char *dir, bool replace)
{
	rf_err e;
	char *parent;
	int status = RF_EXIT_OK;

	if (replace) {
		/* Two renames: the old tree is moved aside, then removed. */
		if ((olddir = sibling(dir, "old")) == NULL ||
		    mkdtemp(olddir) == NULL || rename(dir, olddir) < 0) {
			rf_warnx("%s: %s", dir, strerror(errno));
			if (olddir != NULL)
				rmdir(olddir);
			free(olddir);
			olddir = NULL;
			return RF_EXIT_IO;
		}
	}
	if (rename(tmpdir, dir) < 0) {
		rf_warnx("%s: %s", dir, strerror(errno));
		if (olddir != NULL && rename(olddir, dir) == 0) {
			free(olddir);
			olddir = NULL;
		}
		return RF_EXIT_IO;
	}
	rf_cleanup_remove(tmpdir);
	installed = true;
	if ((parent = parent_of(dir)) == NULL ||
	    rf_fsync_dir(parent, &e) < 0) {
		rf_warnx("%s", parent ? e.msg : "out of memory");
		status = RF_EXIT_IO;
	}
	free(parent);
	return status;
}

/*
 * A run that fails after the install takes its directory back and puts
 * the old one again in its place: a failed run leaves nothing at the
 * final name, so that the next run finds the directory as it was.
 */
static void
uninstall(const char *dir)
{
	if (rename(dir, tmpdir) < 0) {
		rf_warnx("%s: %s", dir, strerror(errno));
		return;
	}
	installed = false;
	rf_cleanup_add(tmpdir, true);
	if (olddir == NULL)
		return;
	if (rename(olddir, dir) < 0) {
		rf_warnx("%s: %s; the old directory is %s", dir,
		    strerror(errno), olddir);
		return;
	}
	free(olddir);
	olddir = NULL;
}

/* ---- reading ------------------------------------------------------------ */

/* On a worker: each record's digest, and where it goes. */
static void
split_work(rf_task *t)
{
	struct sbatch *sb = (struct sbatch *)t;
	rf_batch *b = &sb->b;
	unsigned char d[RF_SHA256_LEN];
	rf_err e;

	sb->why.len = 0;
	for (size_t i = 0; i < b->n; i++) {
		const char *p = b->text.p + b->line[i].off, *v, *why = e.msg;
		size_t len = b->line[i].len, vlen;

		sb->bad[i] = -1;
		sb->canon.len = 0;
		if (rf_json_canon(p, len, &sb->canon, &e) < 0)
			goto bad;
		rf_sha256_once(sb->sha, sb->canon.p, sb->canon.len, sb->digest[i]);
		if (rf_json_get(p, len, keypath ? keypath : timepath, &v,
		    &vlen) < 0) {
			snprintf(e.msg, sizeof e.msg, "missing %s %s",
			    keypath ? "key" : "time field",
			    rf_path_spec(keypath ? keypath : timepath));
			goto bad;
		}
		if (keypath != NULL) {
			sb->canon.len = 0;
			if (rf_json_canon(v, vlen, &sb->canon, &e) < 0)
				goto bad;
			rf_sha256_once(sb->sha, sb->canon.p, sb->canon.len, d);
			sb->dest[i] = rf_partition(d, nkeyparts);
		} else if (time_window(v, vlen, &sb->dest[i], &why) < 0)
			goto bad;
		continue;
bad:
		sb->bad[i] = (int)sb->why.len;
		rf_buf_add(&sb->why, why, strlen(why) + 1);
	}
}

/* On the main thread, in input order: records into partition buffers. */
static int
split_deliver(rf_batch *b, void *arg)
{
	struct sbatch *sb = (struct sbatch *)b;
	rf_prov_input *in = arg;
	int st;

	in->records += b->n;
	for (size_t i = 0; i < b->n; i++) {
		const char *p = b->text.p + b->line[i].off;
		size_t len = b->line[i].len;
		struct part *pt;

		if (sb->bad[i] >= 0) {
			st = rf_run_bad(&run, b->file, b->line[i].lineno, p, len,
			    sb->why.p + sb->bad[i]);
			if (st != RF_EXIT_OK)
				return st;
			continue;
		}
		if (keypath != NULL)
			pt = parts[sb->dest[i]];
		else if ((pt = window_part(sb->dest[i])) == NULL)
			return RF_EXIT_IO;
		if (rf_buf_reserve(&pt->buf, len + 1) < 0) {
			rf_warnx("out of memory");
			return RF_EXIT_IO;
		}
		memcpy(pt->buf.p + pt->buf.len, p, len);
		pt->buf.p[pt->buf.len + len] = '\n';
		pt->buf.len += len + 1;
		buffered += len + 1;
		rf_dsum_add_digest(&pt->sum, sb->digest[i]);
		run.records_out++;
		if (pt->buf.len >= PART_FLUSH && (st = submit(pt)) != 0)
			return st;
	}
	if (buffered > memory / 2) {
		/* Many small partitions: hand them all over. */
		for (size_t i = 0; i < nparts; i++)
			if ((st = submit(parts[i])) != 0)
				return st;
	}
	return werr;
}

static int
setup_batches(void)
{
	rf_err e;

	if (rf_pool_new(0, &pool, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	for (int i = 0; i < NBATCH; i++) {
		struct sbatch *sb = &batches[i];
		size_t n = RF_BATCH_LINES;
		sb->b.task.fn = split_work;
		sb->sha = rf_sha256_new();
		sb->digest = malloc(n * sizeof *sb->digest);
		sb->dest = malloc(n * sizeof *sb->dest);
		sb->bad = malloc(n * sizeof *sb->bad);
		if (sb->sha == NULL || sb->digest == NULL || sb->dest == NULL ||
		    sb->bad == NULL) {
			rf_warnx("out of memory");
			return RF_EXIT_IO;
		}
		ring[i] = &sb->b;
	}
	return RF_EXIT_OK;
}

static void
free_batches(void)
{
	rf_pool_free(pool);
	for (int i = 0; i < NBATCH; i++) {
		struct sbatch *sb = &batches[i];
		rf_batch_free(&sb->b);
		rf_sha256_free(sb->sha);
		rf_buf_free(&sb->canon);
		rf_buf_free(&sb->why);
		free(sb->digest);
		free(sb->dest);
		free(sb->bad);
	}
}

static int
split_file(const char *name, rf_prov_input *in)
{
	rf_reader *r;
	rf_err e;
	int status;

	in->path = name;
	in->records = 0;
	if (rf_reader_open(name, run.max_line, RF_READ_SHA256, &r, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	status = rf_run_batches(&run, r, pool, ring, NBATCH, split_deliver, in);
	if (status == RF_EXIT_OK)
		rf_reader_sha256(r, in->sha256);
	run.bytes_in += rf_reader_pos(r);
	rf_reader_close(r);
	return status;
}

int
main(int argc, char *argv[])
{
	enum { OPT_EPOCH = RF_OPT_PROGRAM, OPT_LEVEL, OPT_MEMORY };
	static const struct option longopts[] = {
		{ "epoch", required_argument, NULL, OPT_EPOCH },
		{ "force", no_argument, NULL, 'f' },
		{ "gzip", no_argument, NULL, 'z' },
		{ "key", required_argument, NULL, 'k' },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "output", required_argument, NULL, 'o' },
		{ "partitions", required_argument, NULL, 'n' },
		{ "time", required_argument, NULL, 'T' },
		{ "window", required_argument, NULL, 'w' },
		RF_RUN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char *stdin_only[] = { "-", NULL };
	int pargc = argc;
	char **pargv = argv;
	bool force = false, gzip = false, exists;
	uint64_t n = 0, v;
	rf_prov_input *inputs = NULL;
	rf_err e;
	double start = rf_now();
	int ch, rc, status;

	rf_run_init(&run, "refill-split");
	while ((ch = getopt_long(argc, argv, "fhk:n:o:qT:Vw:z", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'f':
			force = true;
			break;
		case 'h':
			usage(RF_EXIT_OK);
		case 'k':
			rf_path_free(keypath);
			if (rf_path_compile(optarg, &keypath, &e) < 0) {
				rf_warnx("--key: %s", e.msg);
				return RF_EXIT_USAGE;
			}
			break;
		case 'n':
			if (rf_parse_uint(optarg, 1, MAX_PARTS, &n) < 0) {
				rf_warnx("-n: not a number from 1 to %d: %s",
				    MAX_PARTS, optarg);
				return RF_EXIT_USAGE;
			}
			break;
		case 'o': {
			/*
			 * "out/" names out: the temporary is its sibling.  A
			 * copy, so the stamp records argv as given.
			 */
			size_t k = strlen(optarg);
			while (k > 1 && optarg[k - 1] == '/')
				k--;
			free(outdir);
			if ((outdir = strndup(optarg, k)) == NULL) {
				rf_warnx("out of memory");
				return RF_EXIT_IO;
			}
			break;
		}
		case 'T':
			rf_path_free(timepath);
			if (rf_path_compile(optarg, &timepath, &e) < 0) {
				rf_warnx("--time: %s", e.msg);
				return RF_EXIT_USAGE;
			}
			break;
		case 'V':
			return rf_print_version();
		case 'w':
			if ((window = rf_window_parse(optarg)) < 0) {
				rf_warnx("--window: not hour, day or month: %s",
				    optarg);
				return RF_EXIT_USAGE;
			}
			break;
		case 'z':
			gzip = true;
			break;
		case OPT_EPOCH:
			if ((epoch_unit = rf_parse_epoch(optarg)) < 0) {
				rf_warnx("--epoch: not s or ms: %s", optarg);
				return RF_EXIT_USAGE;
			}
			break;
		case OPT_LEVEL:
			if (rf_parse_uint(optarg, 1, 9, &v) < 0) {
				rf_warnx("--level: not a number from 1 to 9: %s",
				    optarg);
				return RF_EXIT_USAGE;
			}
			level = (int)v;
			break;
		case OPT_MEMORY:
			if (rf_parse_size(optarg, &memory) < 0 ||
			    memory < ((size_t)1 << 20)) {
				rf_warnx("--memory: invalid size (at least 1M): %s",
				    optarg);
				return RF_EXIT_USAGE;
			}
			break;
		default:
			if ((rc = rf_run_opt(&run, ch, optarg)) < 0)
				return RF_EXIT_USAGE;
			if (rc == 0)
				usage(RF_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;

	if (outdir == NULL) {
		rf_warnx("-o DIR is required");
		usage(RF_EXIT_USAGE);
	}
	if ((keypath != NULL) == (timepath != NULL)) {
		rf_warnx("give either -k PATH with -n N, or -T PATH with -w WINDOW");
		usage(RF_EXIT_USAGE);
	}
	if (keypath != NULL && (n == 0 || window >= 0)) {
		rf_warnx("-k needs -n, and takes no -w");
		usage(RF_EXIT_USAGE);
	}
	if (timepath != NULL && (window < 0 || n != 0)) {
		rf_warnx("-T needs -w, and takes no -n");
		usage(RF_EXIT_USAGE);
	}
	if (epoch_unit != 0 && timepath == NULL) {
		rf_warnx("--epoch applies to -T only");
		usage(RF_EXIT_USAGE);
	}
	if (gzip && level < 0)
		level = 6;
	nkeyparts = (uint32_t)n;
	if (argc == 0) {
		argc = 1;
		argv = stdin_only;
	}

	switch (dir_state(outdir, &exists)) {
	case 0:
		break;
	case 1:
		if (force)
			break;
		rf_warnx("%s: directory not empty (-f replaces it)", outdir);
		return RF_EXIT_USAGE;
	case -2:
		return RF_EXIT_USAGE;
	default:
		return RF_EXIT_IO;
	}

	if ((tmpdir = sibling(outdir, "refill")) == NULL ||
	    (inputs = calloc(argc, sizeof *inputs)) == NULL) {
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	rf_cleanup_hook(cleanup_files);
	rf_cleanup_install();
	if (mkdtemp(tmpdir) == NULL) {
		rf_warnx("%s: %s", tmpdir, strerror(errno));
		return RF_EXIT_IO;
	}
	rf_cleanup_add(tmpdir, true);
	{
		/* mkdtemp makes 0700; the result is an ordinary directory. */
		mode_t um = umask(022);
		umask(um);
		chmod(tmpdir, 0777 & ~um);
	}

	status = rf_run_start(&run, argc, argv);
	for (uint64_t i = 0; status == RF_EXIT_OK && i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "part-%05u.ndjson%s", (unsigned)i,
		    level >= 0 ? ".gz" : "");
		if (new_part(name) == NULL)
			status = RF_EXIT_IO;
	}
	if (status == RF_EXIT_OK) {
		struct rlimit rl;
		/* Half the descriptors, leaving room for inputs and stamps. */
		maxopen = 0;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 64)
			maxopen = rl.rlim_cur == RLIM_INFINITY ||
			    rl.rlim_cur / 2 - 16 > 1024 ?
			    1024 : (int)(rl.rlim_cur / 2) - 16;
		status = setup_batches();
	}
	for (int i = 0; status == RF_EXIT_OK && i < argc; i++)
		status = split_file(argv[i], &inputs[i]);
	for (size_t i = 0; status == RF_EXIT_OK && i < nparts; i++)
		status = submit(parts[i]);
	if ((rc = flush_all()) != 0 && status == RF_EXIT_OK)
		status = rc;
	if (status == RF_EXIT_OK)
		status = finish_files(outdir, inputs, argc, pargc, pargv, start);
	if (status == RF_EXIT_OK) {
		/* Before the install: a --stats that cannot be written fails the run. */
		rf_stat extra = { "partitions", "Partition files written.",
		    nparts };
		status = rf_run_prepare(&run, &extra, 1);
	}
	/* The directory, then --bad, --stats and --metrics: all or nothing. */
	if (status == RF_EXIT_OK)
		status = install(outdir, exists);
	if (status == RF_EXIT_OK)
		status = rf_run_publish(&run);
	if (status != RF_EXIT_OK && installed)
		uninstall(outdir);
	if (status != RF_EXIT_OK) {
		rf_run_abort(&run);
		if (!installed) {
			cleanup_files();
			if (rf_rmtree(tmpdir, &e) < 0)
				rf_warnx("%s", e.msg);
			rf_cleanup_remove(tmpdir);
		}
	}
	/* The old tree goes once the new one is in place for good. */
	if (installed && olddir != NULL && rf_rmtree(olddir, &e) < 0) {
		rf_warnx("%s", e.msg);
		status = RF_EXIT_IO;
	}
	free(olddir);
	free_batches();
	free_parts();
	free(inputs);
	free(tmpdir);
	free(outdir);
	rf_path_free(keypath);
	rf_path_free(timepath);
	rc = rf_close_stdout();
	return status != RF_EXIT_OK ? status : rc;
}
