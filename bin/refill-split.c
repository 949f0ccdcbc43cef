/*
 * refill-split: partitions an NDJSON stream into batch files, by the hash
 * of a key or by time window, atomically, with a provenance stamp per file.
 *
 * The main thread reads, validates and routes records into per-partition
 * buffers.  A full buffer becomes a job for the worker threads, which take
 * the record digests, compress, and append to the partition's file.  Jobs
 * of one partition reach its file in the order they were made (a sequence
 * number per partition), so records keep their input order.  Files are
 * opened only to append one job, so thousands of partitions need no more
 * descriptors than there are workers.
 */
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
#include <sys/stat.h>
#include <unistd.h>

#include "refill.h"

#define PART_FLUSH ((size_t)1 << 20)	/* a partition's buffer is written at this size */
#define MAX_PARTS 65536
#define MAX_WORKERS 8

enum { WIN_HOUR, WIN_DAY, WIN_MONTH };

struct part {
	char *name;		/* "part-00042.ndjson.gz", relative to -o */
	char *tmppath;		/* the file inside the temporary directory */
	char *provtmp;		/* its stamp there */
	int64_t window;		/* the time window's number (hour, day or month) */
	rf_buf buf;		/* records not yet handed to a worker */
	uint64_t seq_made;	/* jobs made so far */
	/* Written by workers, in job order. */
	uint64_t seq_done;
	rf_sha256 *sha;
	rf_dsum sum;
	uint64_t bytes;
};

struct job {
	struct part *pt;
	uint64_t seq;
	rf_buf data;
	struct job *next;
};

static rf_run run;
static rf_path *keypath, *timepath;
static int window = -1;
static int epoch_unit;		/* 0 auto, 1 seconds, 1000 milliseconds */
static int level = -1;		/* gzip level, -1 for plain */
static size_t memory = (size_t)64 << 20;

static struct part **parts;
static size_t nparts, capparts;
static int32_t *wintab;		/* open-addressed window -> part index + 1 */
static size_t wincap;
static size_t buffered;		/* bytes in part buffers */
static char *tmpdir;

/* The job queue and the workers' shared state, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_job = PTHREAD_COND_INITIALIZER;	/* queue or done */
static pthread_cond_t cv_room = PTHREAD_COND_INITIALIZER;	/* inflight fell */
static pthread_cond_t cv_seq = PTHREAD_COND_INITIALIZER;	/* a seq_done rose */
static struct job *qhead, *qtail;
static size_t inflight;		/* bytes in queued or running jobs */
static bool closing;
static int werr;		/* first worker error, an exit status */
static char werrmsg[sizeof(((rf_err *)0)->msg)];
static pthread_t workers[MAX_WORKERS];
static int nworkers;

static _Noreturn void
usage(int status)
{
	fprintf(status == RF_EXIT_OK ? stdout : stderr,
	    "usage: refill-split [-fqz] [--bad file] [--epoch s|ms] [--level n] "
	    "[--max-line size]\n"
	    "                    [--memory size] [--progress] [--stats file] "
	    "-k path -n count\n"
	    "                    -o dir [file ...]\n"
	    "       refill-split [-fqz] [--bad file] [--epoch s|ms] [--level n] "
	    "[--max-line size]\n"
	    "                    [--memory size] [--progress] [--stats file] "
	    "-T path\n"
	    "                    -w hour|day|month -o dir [file ...]\n");
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
worker_fail(const rf_err *e)
{
	pthread_mutex_lock(&mu);
	if (werr == 0) {
		werr = RF_EXIT_IO;
		memcpy(werrmsg, e->msg, sizeof werrmsg);
	}
	pthread_cond_broadcast(&cv_room);
	pthread_mutex_unlock(&mu);
}

/* Appends bytes to a partition's file: opened for this write only. */
static int
append(struct part *pt, const void *p, size_t n, rf_err *e)
{
	int fd = open(pt->tmppath, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC, 0666);
	int rc;

	if (fd < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", pt->tmppath, strerror(errno));
	rc = rf_write_all(fd, p, n, e, pt->tmppath);
	if (close(fd) < 0 && rc == 0)
		rc = rf_seterr(e, RF_EIO, "%s: %s", pt->tmppath, strerror(errno));
	return rc;
}

static void
run_job(struct job *j, rf_sha256 *sha, rf_buf *z)
{
	struct part *pt = j->pt;
	const char *p = j->data.p, *end = p + j->data.len;
	unsigned char d[RF_SHA256_LEN];
	rf_buf canon = { 0 };
	rf_dsum sum;
	rf_err e;
	const void *out = j->data.p;
	size_t outlen = j->data.len;

	/* The main thread validated every record, so canon cannot fail. */
	rf_dsum_init(&sum);
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		canon.len = 0;
		if (rf_json_canon(p, nl - p, &canon, &e) < 0) {
			worker_fail(&e);
			goto out;
		}
		rf_sha256_once(sha, canon.p, canon.len, d);
		rf_dsum_add_digest(&sum, d);
		p = nl + 1;
	}
	if (level >= 0) {
		z->len = 0;
		if (rf_gzip_member(j->data.p, j->data.len, level, z, &e) < 0) {
			worker_fail(&e);
			goto out;
		}
		out = z->p;
		outlen = z->len;
	}

	pthread_mutex_lock(&mu);
	while (pt->seq_done != j->seq && werr == 0)
		pthread_cond_wait(&cv_seq, &mu);
	pthread_mutex_unlock(&mu);
	if (append(pt, out, outlen, &e) < 0) {
		worker_fail(&e);
		/* Later jobs of this partition must not wait for ever. */
	}
	rf_sha256_update(pt->sha, out, outlen);
	rf_dsum_merge(&pt->sum, &sum);
	pt->bytes += outlen;
	pthread_mutex_lock(&mu);
	pt->seq_done++;
	pthread_cond_broadcast(&cv_seq);
	pthread_mutex_unlock(&mu);
out:
	rf_buf_free(&canon);
}

static void *
worker(void *arg)
{
	rf_sha256 *sha = rf_sha256_new();
	rf_buf z = { 0 };

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&mu);
		while (qhead == NULL && !closing)
			pthread_cond_wait(&cv_job, &mu);
		if ((j = qhead) == NULL) {
			pthread_mutex_unlock(&mu);
			break;
		}
		if ((qhead = j->next) == NULL)
			qtail = NULL;
		pthread_mutex_unlock(&mu);

		if (sha == NULL) {
			rf_err e;
			rf_seterr(&e, RF_ENOMEM, "cannot initialise SHA-256");
			worker_fail(&e);
		} else if (werr == 0)
			run_job(j, sha, &z);

		pthread_mutex_lock(&mu);
		inflight -= j->data.len;
		pthread_cond_broadcast(&cv_room);
		/* A failed job still counts, so its successors are released. */
		if (j->pt->seq_done == j->seq && werr != 0) {
			j->pt->seq_done++;
			pthread_cond_broadcast(&cv_seq);
		}
		pthread_mutex_unlock(&mu);
		rf_buf_free(&j->data);
		free(j);
	}
	rf_sha256_free(sha);
	rf_buf_free(&z);
	rf_json_thread_free();
	return arg;
}

/* Hands a partition's buffer to the workers; waits while memory is full. */
static int
submit(struct part *pt)
{
	struct job *j;

	if (pt->buf.len == 0)
		return 0;
	if ((j = calloc(1, sizeof *j)) == NULL) {
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	j->pt = pt;
	j->seq = pt->seq_made++;
	j->data = pt->buf;
	memset(&pt->buf, 0, sizeof pt->buf);
	buffered -= j->data.len;

	pthread_mutex_lock(&mu);
	while (inflight > memory / 2 && werr == 0)
		pthread_cond_wait(&cv_room, &mu);
	inflight += j->data.len;
	if (qtail != NULL)
		qtail->next = j;
	else
		qhead = j;
	qtail = j;
	pthread_cond_signal(&cv_job);
	int st = werr;
	pthread_mutex_unlock(&mu);
	return st;
}

/* Ends the workers, after the queue drains; returns their status. */
static int
join_workers(void)
{
	pthread_mutex_lock(&mu);
	closing = true;
	pthread_cond_broadcast(&cv_job);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	nworkers = 0;
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
	static rf_buf s;	/* the main thread's only */
	int64_t secs, days, y;
	unsigned m, d;

	if (*v == '"') {
		s.len = 0;
		if (rf_json_unescape(v, n, &s) < 0 ||
		    rf_parse_rfc3339(s.p, s.len, &secs) < 0) {
			*why = "timestamp is not RFC 3339";
			return -1;
		}
	} else if (*v == '-' || (*v >= '0' && *v <= '9')) {
		char num[64];
		double x;
		if (n >= sizeof num) {
			*why = "timestamp out of range";
			return -1;
		}
		memcpy(num, v, n);
		num[n] = '\0';
		x = strtod(num, NULL);
		if (epoch_unit == 1000 || (epoch_unit == 0 && fabs(x) >= 1e11))
			x /= 1000;
		/* 0000-01-01 .. 9999-12-31, the years a window name can hold. */
		if (!(x >= -62167219200.0 && x < 253402300800.0)) {
			*why = "timestamp out of range";
			return -1;
		}
		secs = (int64_t)floor(x);
	} else {
		*why = "timestamp is neither a string nor a number";
		return -1;
	}
	days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	rf_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		*why = "timestamp out of range";
		return -1;
	}
	switch (window) {
	case WIN_HOUR:
		*win = days * 24 + (secs - days * 86400) / 3600;
		break;
	case WIN_DAY:
		*win = days;
		break;
	default:
		*win = y * 12 + (m - 1);
	}
	return 0;
}

static void
window_name(int64_t win, char *dst, size_t n)
{
	const char *ext = level >= 0 ? ".ndjson.gz" : ".ndjson";
	int64_t y, days = win;
	unsigned m, d;

	if (window == WIN_MONTH) {
		snprintf(dst, n, "%04lld-%02lld%s", (long long)(win / 12),
		    (long long)(win % 12 + 1), ext);
		return;
	}
	if (window == WIN_HOUR)
		days = win >= 0 ? win / 24 : -((-win + 23) / 24);
	rf_civil_from_days(days, &y, &m, &d);
	if (window == WIN_HOUR)
		snprintf(dst, n, "%04lld-%02u-%02uT%02lld%s", (long long)y, m,
		    d, (long long)(win - days * 24), ext);
	else
		snprintf(dst, n, "%04lld-%02u-%02u%s", (long long)y, m, d, ext);
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
finish_files(const char *outdir, rf_prov_input *inputs, size_t ninputs,
    int argc, char **argv, double start)
{
	rf_err e;
	rf_prov pv;
	char *outname;
	double end = rf_now();

	for (size_t i = 0; i < nparts; i++) {
		struct part *pt = parts[i];
		int fd;

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
				return RF_EXIT_IO;
			}
		}
		if ((fd = open(pt->tmppath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
		    fsync(fd) < 0) {
			rf_warnx("%s: %s", pt->tmppath, strerror(errno));
			if (fd >= 0)
				close(fd);
			return RF_EXIT_IO;
		}
		close(fd);

		size_t n = strlen(outdir) + strlen(pt->name) + 2;
		if ((outname = malloc(n)) == NULL) {
			rf_warnx("out of memory");
			return RF_EXIT_IO;
		}
		snprintf(outname, n, "%s/%s", outdir, pt->name);
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
		int rc = rf_prov_write(pt->provtmp, &pv, &e);
		free(outname);
		if (rc < 0) {
			rf_warnx("%s", e.msg);
			return RF_EXIT_IO;
		}
	}
	if (rf_fsync_dir(tmpdir, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	return RF_EXIT_OK;
}

/* Puts the finished directory in place of outdir. */
static int
install(const char *outdir, bool replace)
{
	rf_err e;
	char *old = NULL, *parent;
	int status = RF_EXIT_OK;

	if (replace) {
		/* Two renames: the old tree is moved aside, then removed. */
		if ((old = sibling(outdir, "old")) == NULL ||
		    mkdtemp(old) == NULL || rename(outdir, old) < 0) {
			rf_warnx("%s: %s", outdir, strerror(errno));
			if (old != NULL)
				rmdir(old);
			free(old);
			return RF_EXIT_IO;
		}
	}
	if (rename(tmpdir, outdir) < 0) {
		rf_warnx("%s: %s", outdir, strerror(errno));
		if (old != NULL)
			rename(old, outdir);
		free(old);
		return RF_EXIT_IO;
	}
	rf_cleanup_remove(tmpdir);
	if ((parent = parent_of(outdir)) == NULL ||
	    rf_fsync_dir(parent, &e) < 0) {
		rf_warnx("%s", parent ? e.msg : "out of memory");
		status = RF_EXIT_IO;
	}
	free(parent);
	if (old != NULL && rf_rmtree(old, &e) < 0) {
		rf_warnx("%s", e.msg);
		status = RF_EXIT_IO;
	}
	free(old);
	return status;
}

/* ---- reading ------------------------------------------------------------ */

static int
route(const rf_line *ln, const char *file, rf_sha256 *sha, rf_buf *kc,
    uint32_t n)
{
	rf_err e;
	const char *v, *why = e.msg;
	size_t vlen;
	struct part *pt;
	unsigned char d[RF_SHA256_LEN];

	if (rf_json_validate(ln->p, ln->len, &e) < 0)
		goto bad;
	if (rf_json_get(ln->p, ln->len, keypath ? keypath : timepath, &v,
	    &vlen) < 0) {
		snprintf(e.msg, sizeof e.msg, "missing %s %s",
		    keypath ? "key" : "time field",
		    rf_path_spec(keypath ? keypath : timepath));
		goto bad;
	}
	if (keypath != NULL) {
		kc->len = 0;
		if (rf_json_canon(v, vlen, kc, &e) < 0)
			goto bad;
		rf_sha256_once(sha, kc->p, kc->len, d);
		pt = parts[rf_partition(d, n)];
	} else {
		int64_t win;
		if (time_window(v, vlen, &win, &why) < 0)
			goto bad;
		if ((pt = window_part(win)) == NULL)
			return RF_EXIT_IO;
	}
	if (rf_buf_reserve(&pt->buf, ln->len + 1) < 0) {
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	memcpy(pt->buf.p + pt->buf.len, ln->p, ln->len);
	pt->buf.p[pt->buf.len + ln->len] = '\n';
	pt->buf.len += ln->len + 1;
	buffered += ln->len + 1;
	run.records_out++;
	if (pt->buf.len >= PART_FLUSH)
		return submit(pt);
	if (buffered > memory / 2) {
		/* Many small partitions: hand them all over. */
		for (size_t i = 0; i < nparts; i++) {
			int st = submit(parts[i]);
			if (st != 0)
				return st;
		}
	}
	return 0;
bad:
	return rf_run_bad(&run, file, ln->lineno, ln->p, ln->len, why);
}

static int
split_file(const char *name, rf_prov_input *in, uint32_t n)
{
	rf_reader *r;
	rf_line ln;
	rf_err e;
	rf_sha256 *sha = rf_sha256_new();
	rf_buf kc = { 0 };
	int rc, status = RF_EXIT_OK;
	in->path = name;
	in->records = 0;
	if (sha == NULL) {
		rf_warnx("cannot initialise SHA-256");
		return RF_EXIT_IO;
	}
	if (rf_reader_open(name, run.max_line, &r, &e) < 0) {
		rf_warnx("%s", e.msg);
		rf_sha256_free(sha);
		return RF_EXIT_IO;
	}
	while ((rc = rf_reader_next(r, &ln, &e)) > 0) {
		if (rf_blank(ln.p, ln.len)) {
			run.blank++;
			continue;
		}
		run.records_in++;
		in->records++;
		if ((run.records_in & 4095) == 0)
			rf_run_tick(&run, rf_reader_pos(r));
		if ((status = route(&ln, name, sha, &kc, n)) != 0)
			break;
	}
	if (rc < 0) {
		rf_warnx("%s", e.msg);
		status = rf_status(rc);
	}
	if (status == RF_EXIT_OK)
		rf_reader_sha256(r, in->sha256);
	run.bytes_in += rf_reader_pos(r);
	rf_reader_close(r);
	rf_sha256_free(sha);
	rf_buf_free(&kc);
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
	const char *outdir = NULL;
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
		case 'o':
			outdir = optarg;
			break;
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
			if (strcmp(optarg, "hour") == 0)
				window = WIN_HOUR;
			else if (strcmp(optarg, "day") == 0)
				window = WIN_DAY;
			else if (strcmp(optarg, "month") == 0)
				window = WIN_MONTH;
			else {
				rf_warnx("--window: not hour, day or month: %s",
				    optarg);
				return RF_EXIT_USAGE;
			}
			break;
		case 'z':
			gzip = true;
			break;
		case OPT_EPOCH:
			if (strcmp(optarg, "s") == 0)
				epoch_unit = 1;
			else if (strcmp(optarg, "ms") == 0)
				epoch_unit = 1000;
			else {
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
		long np = sysconf(_SC_NPROCESSORS_ONLN);
		int want = np < 1 ? 1 : np > MAX_WORKERS ? MAX_WORKERS : (int)np;
		for (int i = 0; i < want; i++) {
			if (pthread_create(&workers[i], NULL, worker, NULL) != 0)
				break;
			nworkers++;
		}
		if (nworkers == 0) {
			rf_warnx("cannot start a worker thread");
			status = RF_EXIT_IO;
		}
	}
	for (int i = 0; status == RF_EXIT_OK && i < argc; i++)
		status = split_file(argv[i], &inputs[i], (uint32_t)n);
	for (size_t i = 0; status == RF_EXIT_OK && i < nparts; i++)
		status = submit(parts[i]);
	if ((rc = join_workers()) != 0 && status == RF_EXIT_OK)
		status = rc;
	if (status == RF_EXIT_OK)
		status = finish_files(outdir, inputs, argc, pargc, pargv, start);
	if (status == RF_EXIT_OK) {
		/* The summary first: a --stats that cannot be written fails the run. */
		char extra[64];
		snprintf(extra, sizeof extra, "\"partitions\":%zu", nparts);
		status = rf_run_finish(&run, extra);
	}
	if (status == RF_EXIT_OK)
		status = install(outdir, exists);
	if (status != RF_EXIT_OK) {
		rf_run_abort(&run);
		cleanup_files();
		if (rf_rmtree(tmpdir, &e) < 0)
			rf_warnx("%s", e.msg);
		rf_cleanup_remove(tmpdir);
	}
	free_parts();
	free(inputs);
	free(tmpdir);
	rf_path_free(keypath);
	rf_path_free(timepath);
	rc = rf_close_stdout();
	return status != RF_EXIT_OK ? status : rc;
}
