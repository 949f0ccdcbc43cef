/*
 * refill-transform: runs the user's command over NDJSON records, checks
 * every line it writes, and stamps the output with its inputs and the
 * transform's identity.  A result whose inputs and transform have not
 * changed is not made again.
 *
 * One thread does the piping: poll(2) writes input to the command and
 * reads its output as each side is ready, so neither side waits on the
 * other however much either of them writes.
 */
#define _XOPEN_SOURCE 700	/* realpath(3) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "refill.h"

extern char **environ;

enum { OPT_CHECK = RF_OPT_PROGRAM, OPT_DEP, OPT_ENV, OPT_LEVEL, OPT_SHUFFLE,
	OPT_TIMEOUT };

#define FEED ((size_t)64 << 10)	/* input gathered for one write */
#define GRACE_MS 2000		/* after SIGTERM, before SIGKILL */

static rf_run run;
static const char *outpath;
static int level = -1;
static double timeout;		/* seconds; 0: none */
static int runs = 1;		/* --check-determinism */
static bool shuffle;
static volatile pid_t child = -1;

static _Noreturn void
usage(int status)
{
	fprintf(status == RF_EXIT_OK ? stdout : stderr,
	    "usage: refill-transform [-fqz] [--bad file] "
	    "[--check-determinism[=runs]] [--dep file]\n"
	    "                        [--env name] [-i file] [--level n] "
	    "[--max-line size]\n"
	    "                        [--metrics file] [-o file] [--progress] "
	    "[--shuffle-input]\n"
	    "                        [--stats file] [--timeout seconds]\n"
	    "                        -n name -v version -- command [arg ...]\n");
	exit(status == RF_EXIT_OK ? rf_close_stdout() : status);
}

/* On a signal the command goes too: it would write to a closed pipe. */
static void
kill_child(void)
{
	if (child > 0)
		kill(child, SIGTERM);
}

/*
 * Finds cmd as execvp(3) would, on PATH unless it has a slash, and sets
 * exe to the file that will run, with symbolic links resolved.
 */
static int
resolve(const char *cmd, char exe[PATH_MAX], rf_err *e)
{
	const char *path = getenv("PATH"), *p, *q;
	char cand[PATH_MAX];
	struct stat st;

	if (*cmd == '\0')
		return rf_seterr(e, RF_EUSAGE, "the command is empty");
	if (strchr(cmd, '/') != NULL) {
		if (stat(cmd, &st) < 0)
			return rf_seterr(e, RF_EIO, "%s: %s", cmd, strerror(errno));
		if (!S_ISREG(st.st_mode) || access(cmd, X_OK) < 0)
			return rf_seterr(e, RF_EIO, "%s: not an executable file",
			    cmd);
		if (realpath(cmd, exe) == NULL)
			return rf_seterr(e, RF_EIO, "%s: %s", cmd, strerror(errno));
		return 0;
	}
	if (path == NULL)
		path = "/usr/bin:/bin";
	for (p = path;; p = q + 1) {
		size_t n;
		q = strchr(p, ':');
		n = q != NULL ? (size_t)(q - p) : strlen(p);
		/* An empty entry is the working directory. */
		if (snprintf(cand, sizeof cand, "%.*s%s%s", (int)n, p,
		    n > 0 ? "/" : "", cmd) < (int)sizeof cand &&
		    stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(cand, X_OK) == 0 && realpath(cand, exe) != NULL)
			return 0;
		if (q == NULL)
			break;
	}
	return rf_seterr(e, RF_EIO, "%s: command not found", cmd);
}

/* The SHA-256 of the file a path names, symbolic links followed. */
static int
file_digest(const char *path, unsigned char d[RF_SHA256_LEN], rf_err *e)
{
	char real[PATH_MAX];
	uint64_t size;

	if (realpath(path, real) == NULL)
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	return rf_sha256_file(real, d, &size, e);
}

static bool
token_is(const char *tok, size_t n, const char *s)
{
	rf_buf b = { 0 };
	bool same;

	same = rf_json_unescape(tok, n, &b) == 0 && b.len == strlen(s) &&
	    memcmp(b.p, s, b.len) == 0;
	rf_buf_free(&b);
	return same;
}

/* The value at spec in the stamp is the string s. */
static bool
stamp_has(const char *st, size_t n, const char *spec, const char *s)
{
	rf_path *p;
	const char *v;
	size_t vn;
	rf_err e;
	bool same;

	if (rf_path_compile(spec, &p, &e) < 0)
		return false;
	same = rf_json_get(st, n, p, &v, &vn) == 0 && vn > 0 && v[0] == '"' &&
	    token_is(v, vn, s);
	rf_path_free(p);
	return same;
}

/*
 * Whether outpath and its stamp are what this run would make: the same
 * transform identity, the same inputs (by path and SHA-256) and an
 * output that is still what the stamp says.
 */
static bool
up_to_date(char **inputs, int ninputs, const char *id)
{
	char pp[PATH_MAX], spec[64], hex[65];
	unsigned char d[RF_SHA256_LEN];
	uint64_t size;
	rf_buf st = { 0 };
	rf_err e;
	bool ok = false;

	if (snprintf(pp, sizeof pp, "%s.prov", outpath) >= (int)sizeof pp ||
	    rf_read_file(pp, (size_t)16 << 20, &st, &e) < 0 ||
	    rf_json_validate(st.p, st.len, &e) < 0 ||
	    !stamp_has(st.p, st.len, "transform.id", id) ||
	    rf_sha256_file(outpath, d, &size, &e) < 0)
		goto done;
	rf_hex(d, RF_SHA256_LEN, hex);
	if (!stamp_has(st.p, st.len, "output.sha256", hex))
		goto done;
	for (int i = 0; i < ninputs; i++) {
		snprintf(spec, sizeof spec, "inputs.%d.path", i);
		if (!stamp_has(st.p, st.len, spec, inputs[i]) ||
		    file_digest(inputs[i], d, &e) < 0)
			goto done;
		rf_hex(d, RF_SHA256_LEN, hex);
		snprintf(spec, sizeof spec, "inputs.%d.sha256", i);
		if (!stamp_has(st.p, st.len, spec, hex))
			goto done;
	}
	/* And no input more than these. */
	snprintf(spec, sizeof spec, "inputs.%d", ninputs);
	rf_path *p;
	const char *v;
	size_t vn;
	if (rf_path_compile(spec, &p, &e) == 0) {
		ok = rf_json_get(st.p, st.len, p, &v, &vn) == RF_EMISSING;
		rf_path_free(p);
	}
done:
	rf_buf_free(&st);
	return ok;
}

/*
 * The environment of the command: ours, and the three REFILL_ names, whose
 * strings go to own[] for the caller to free.
 */
static char **
child_env(char **inputs, int ninputs, const char *name, const char *version,
    char *own[3])
{
	size_t n = 0, k = 0;
	char **env;
	rf_buf in = { 0 }, part = { 0 }, tr = { 0 };

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 4, sizeof *env)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "REFILL_INPUT=", 13) != 0 &&
		    strncmp(environ[i], "REFILL_PARTITION=", 17) != 0 &&
		    strncmp(environ[i], "REFILL_TRANSFORM=", 17) != 0)
			env[k++] = environ[i];
	rf_buf_adds(&in, "REFILL_INPUT=");
	for (int i = 0; i < ninputs; i++) {
		if (i > 0)
			rf_buf_addc(&in, '\n');
		rf_buf_adds(&in, inputs[i]);
	}
	/* The output's name less its directory and extensions. */
	rf_buf_adds(&part, "REFILL_PARTITION=");
	if (outpath != NULL) {
		const char *b = strrchr(outpath, '/');
		b = b != NULL ? b + 1 : outpath;
		size_t bn = strlen(b);
		static const char *ext[] = { ".gz", ".ndjson", ".jsonl", ".json" };
		for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
			size_t en = strlen(ext[i]);
			if (bn > en && memcmp(b + bn - en, ext[i], en) == 0)
				bn -= en;
		}
		rf_buf_add(&part, b, bn);
	}
	rf_buf_adds(&tr, "REFILL_TRANSFORM=");
	rf_buf_adds(&tr, name);
	rf_buf_addc(&tr, '@');
	rf_buf_adds(&tr, version);
	if (rf_buf_addc(&in, '\0') < 0 || rf_buf_addc(&part, '\0') < 0 ||
	    rf_buf_addc(&tr, '\0') < 0) {
		rf_buf_free(&in);
		rf_buf_free(&part);
		rf_buf_free(&tr);
		free(env);
		return NULL;
	}
	env[k++] = own[0] = in.p;
	env[k++] = own[1] = part.p;
	env[k++] = own[2] = tr.p;
	env[k] = NULL;
	return env;
}

/*
 * Starts the command with pipes for its standard input and output.  An
 * exec that fails is reported through a close-on-exec pipe, so that it is
 * told apart from a command that exits 127.  *tail is our own read end of
 * the command's input: what is left in it when the command has exited,
 * the command never read.
 */
static int
spawn(const char *exe, char **argv, char **env, int *to, int *from, int *tail,
    rf_err *e)
{
	int in[2], out[2], ep[2], err = 0;
	ssize_t k;

	if (pipe(in) < 0 || pipe(out) < 0 || pipe(ep) < 0)
		return rf_seterr(e, RF_EIO, "pipe: %s", strerror(errno));
	fcntl(ep[1], F_SETFD, FD_CLOEXEC);
	/*
	 * Signals wait until the child has dropped our handlers, which would
	 * remove our temporary files from a process that is not us.
	 */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((child = fork()) < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return rf_seterr(e, RF_EIO, "fork: %s", strerror(errno));
	}
	if (child == 0) {
		static const int sigs[] = { SIGHUP, SIGINT, SIGPIPE, SIGTERM };
		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			signal(sigs[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (dup2(in[0], STDIN_FILENO) < 0 ||
		    dup2(out[1], STDOUT_FILENO) < 0)
			err = errno;
		else {
			close(in[0]);
			close(in[1]);
			close(out[0]);
			close(out[1]);
			close(ep[0]);
			execve(exe, argv, env);
			err = errno;
		}
		k = write(ep[1], &err, sizeof err);
		(void)k;
		_exit(127);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(out[1]);
	close(ep[1]);
	do
		k = read(ep[0], &err, sizeof err);
	while (k < 0 && errno == EINTR);
	close(ep[0]);
	*to = in[1];
	*from = out[0];
	*tail = in[0];
	fcntl(*tail, F_SETFD, FD_CLOEXEC);
	/* Not *tail: the command's standard input shares its flags. */
	for (int i = 0; i < 2; i++) {
		int fd = i == 0 ? *to : *from;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	if (k == sizeof err) {
		waitpid(child, NULL, 0);
		child = -1;
		return rf_seterr(e, RF_EIO, "%s: cannot run: %s", argv[0],
		    strerror(err));
	}
	return 0;
}

/*
 * A scratch file for --check-determinism, unlinked at once: the records
 * fed to the first run, and what it wrote.
 */
static int
scratch(rf_err *e)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	snprintf(path, sizeof path, "%s/refill-transform.XXXXXX", dir);
	if ((fd = mkstemp(path)) < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	unlink(path);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/* Appending to a scratch file through a buffer. */
struct spool {
	int fd;
	rf_buf b;
	off_t size;		/* flushed and buffered */
};

static int
spool_add(struct spool *sp, const char *p, size_t n, rf_err *e)
{
	if (rf_buf_add(&sp->b, p, n) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	sp->size += n;
	if (sp->b.len < FEED)
		return 0;
	int rc = rf_write_all(sp->fd, sp->b.p, sp->b.len, e, "scratch file");
	sp->b.len = 0;
	return rc;
}

static int
spool_flush(struct spool *sp, rf_err *e)
{
	int rc = rf_write_all(sp->fd, sp->b.p, sp->b.len, e, "scratch file");

	sp->b.len = 0;
	return rc;
}

/* Where each record fed to the first run is in the input spool. */
struct rec {
	off_t off;
	size_t len;		/* with its LF */
};

/* What the pump keeps between polls. */
struct pump {
	char **inputs;
	int ninputs, cur;	/* the input being read */
	rf_reader *r;
	rf_prov_input *pin;
	rf_buf feed;		/* read, not yet written to the command */
	size_t fed;		/* of feed, written */
	bool in_done, unread;
	rf_buf got;		/* read from the command, not yet a whole line */
	uint64_t lineno;	/* output lines */
	const char *label;	/* "COMMAND output", for diagnostics */
	rf_out *out;
	rf_buf canon;
	rf_sha256 *h;
	rf_dsum sum;		/* of the records this run wrote */
	int status;
	int ws;			/* the command's wait status, once reaped */

	/* --check-determinism: the first run keeps copies, later runs compare. */
	bool check, compare;
	struct spool in, outs;	/* what the first run read and wrote */
	struct rec *recs;
	size_t nrecs, caprecs;
	size_t *order, next;	/* the order later runs feed the records in */
	off_t feed_off;		/* the next byte of the input spool, in order */
	rf_buf first;		/* the first run's output, read back */
	off_t first_off;
	size_t first_pos;
	bool first_eof;
	rf_dsum first_sum;
	uint64_t diffat;	/* the first output record that differs, or 0 */
	char *diff1, *diffk;	/* it, in the first run and in this one */
	rf_dsum bad, first_bad;	/* of the lines that were not JSON, this run
				 * and the first: compared as records are */
};

/* Refills the feed from the inputs.  Returns 0, or an error. */
static int
refill_feed(struct pump *pu, rf_err *e)
{
	rf_line ln;
	int rc;

	pu->feed.len = pu->fed = 0;
	while (pu->feed.len < FEED && pu->cur < pu->ninputs) {
		if (pu->r == NULL) {
			if ((rc = rf_reader_open(pu->inputs[pu->cur],
			    run.max_line, RF_READ_SHA256, &pu->r, e)) < 0)
				return rc;
			pu->pin[pu->cur].path = pu->inputs[pu->cur];
		}
		if ((rc = rf_reader_next(pu->r, &ln, e)) < 0)
			return rc;
		if (rc == 0) {
			rf_reader_sha256(pu->r, pu->pin[pu->cur].sha256);
			run.bytes_in += rf_reader_pos(pu->r);
			rf_reader_close(pu->r);
			pu->r = NULL;
			pu->cur++;
			continue;
		}
		if (rf_blank(ln.p, ln.len)) {
			run.blank++;
			continue;
		}
		run.records_in++;
		pu->pin[pu->cur].records++;
		size_t at = pu->feed.len;
		if (rf_buf_add(&pu->feed, ln.p, ln.len) < 0 ||
		    rf_buf_addc(&pu->feed, '\n') < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		if (!pu->check)
			continue;
		if ((rc = spool_add(&pu->in, pu->feed.p + at, ln.len + 1, e)) < 0)
			return rc;
		if (!shuffle)
			continue;
		if (pu->nrecs == pu->caprecs) {
			size_t nc = pu->caprecs ? 2 * pu->caprecs : 1024;
			struct rec *nr = realloc(pu->recs, nc * sizeof *nr);
			if (nr == NULL)
				return rf_seterr(e, RF_ENOMEM, "out of memory");
			pu->recs = nr;
			pu->caprecs = nc;
		}
		pu->recs[pu->nrecs].off = pu->in.size - (ln.len + 1);
		pu->recs[pu->nrecs++].len = ln.len + 1;
	}
	if (pu->r != NULL)
		rf_run_tick(&run, run.bytes_in + rf_reader_pos(pu->r));
	return 0;
}

static int
pread_all(int fd, char *p, size_t n, off_t off, rf_err *e)
{
	while (n > 0) {
		ssize_t k = pread(fd, p, n, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return rf_seterr(e, RF_EIO, "scratch file: %s",
			    k < 0 ? strerror(errno) : "cut short");
		p += k;
		n -= k;
		off += k;
	}
	return 0;
}

/* A later run's feed: the first run's records again, in order or not. */
static int
refill_feed_again(struct pump *pu, rf_err *e)
{
	int rc;

	pu->feed.len = pu->fed = 0;
	if (pu->order == NULL) {
		size_t n = pu->in.size - pu->feed_off;
		if (n > FEED)
			n = FEED;
		if (rf_buf_reserve(&pu->feed, n) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		if ((rc = pread_all(pu->in.fd, pu->feed.p, n, pu->feed_off, e)) < 0)
			return rc;
		pu->feed.len = n;
		pu->feed_off += n;
		return 0;
	}
	while (pu->feed.len < FEED && pu->next < pu->nrecs) {
		const struct rec *r = &pu->recs[pu->order[pu->next++]];
		if (rf_buf_reserve(&pu->feed, r->len) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		if ((rc = pread_all(pu->in.fd, pu->feed.p + pu->feed.len, r->len,
		    r->off, e)) < 0)
			return rc;
		pu->feed.len += r->len;
	}
	return 0;
}

static int
feed(struct pump *pu, rf_err *e)
{
	return pu->compare ? refill_feed_again(pu, e) : refill_feed(pu, e);
}

/* The next line of the first run's output, or NULL after its last. */
static const char *
first_line(struct pump *pu, size_t *n, rf_err *e)
{
	for (;;) {
		size_t left = pu->first.len - pu->first_pos;
		char *b = left > 0 ? pu->first.p + pu->first_pos : NULL;
		char *nl = left > 0 ? memchr(b, '\n', left) : NULL;
		if (nl != NULL) {
			pu->first_pos = nl + 1 - pu->first.p;
			*n = nl - b;
			return b;
		}
		if (pu->first_eof)
			return NULL;
		if (left > 0)
			memmove(pu->first.p, b, left);
		pu->first.len = left;
		pu->first_pos = 0;
		size_t want = FEED;
		if ((off_t)want > pu->outs.size - pu->first_off)
			want = pu->outs.size - pu->first_off;
		if (rf_buf_reserve(&pu->first, want) < 0 ||
		    pread_all(pu->outs.fd, pu->first.p + pu->first.len, want,
		    pu->first_off, e) < 0)
			return NULL;
		pu->first.len += want;
		pu->first_off += want;
		pu->first_eof = pu->first_off == pu->outs.size;
	}
}

/* A short copy of a record for a message. */
static char *
excerpt(const char *p, size_t n)
{
	rf_buf b = { 0 };

	if (p == NULL)
		return strdup("(no record)");
	if (n > 200) {
		rf_buf_add(&b, p, 200);
		rf_buf_adds(&b, "...");
	} else
		rf_buf_add(&b, p, n);
	rf_buf_addc(&b, '\0');
	return b.p;
}

/* A later run's record: compared with the first run's at the same place. */
static int
compare(struct pump *pu, const char *p, size_t n, const unsigned char *d,
    rf_err *e)
{
	unsigned char d1[RF_SHA256_LEN];
	const char *q;
	size_t qn;

	rf_dsum_add_digest(&pu->sum, d);
	if ((q = first_line(pu, &qn, e)) == NULL && e->msg[0] != '\0')
		return RF_EIO;
	if (pu->diffat != 0)
		return 0;
	if (q != NULL) {
		pu->canon.len = 0;
		if (rf_json_canon(q, qn, &pu->canon, e) < 0)
			return RF_EIO;
		rf_sha256_once(pu->h, pu->canon.p, pu->canon.len, d1);
		if (memcmp(d, d1, sizeof d1) == 0)
			return 0;
	}
	pu->diffat = pu->sum.count;
	pu->diff1 = excerpt(q, qn);
	pu->diffk = excerpt(p, n);
	return 0;
}

/* One line the command wrote: checked, digested and written out. */
static int
take_line(struct pump *pu, const char *p, size_t n, rf_err *e)
{
	int rc;

	pu->lineno++;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n > run.max_line) {
		pu->status = RF_EXIT_DATA;
		return rf_seterr(e, RF_ETOOLONG,
		    "%s:%llu: line longer than %zu bytes (--max-line)",
		    pu->label, (unsigned long long)pu->lineno, run.max_line);
	}
	if (rf_blank(p, n))
		return 0;
	pu->canon.len = 0;
	if ((rc = rf_json_canon(p, n, &pu->canon, e)) == RF_ENOMEM)
		return rc;
	if (rc < 0) {
		/* Checking determinism, bad lines are compared by their bytes. */
		unsigned char d[RF_SHA256_LEN];
		if (pu->check) {
			rf_sha256_once(pu->h, p, n, d);
			rf_dsum_add_digest(&pu->bad, d);
		}
		if (pu->compare)
			return 0;
		/* Without --bad, rf_run_bad has said why. */
		if ((pu->status = rf_run_bad(&run, pu->label, pu->lineno, p, n,
		    e->msg)) != RF_EXIT_OK) {
			e->msg[0] = '\0';
			return RF_EDATA;
		}
		return 0;
	}
	unsigned char d[RF_SHA256_LEN];
	rf_sha256_once(pu->h, pu->canon.p, pu->canon.len, d);
	if (pu->compare) {
		e->msg[0] = '\0';
		return compare(pu, p, n, d, e);
	}
	rf_dsum_add_digest(&pu->sum, d);
	run.records_out++;
	if ((rc = rf_out_write(pu->out, p, n, e)) < 0 ||
	    (rc = rf_out_write(pu->out, "\n", 1, e)) < 0)
		return rc;
	if (pu->check && ((rc = spool_add(&pu->outs, p, n, e)) < 0 ||
	    (rc = spool_add(&pu->outs, "\n", 1, e)) < 0))
		return rc;
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Feeds the inputs to the command and reads what it writes until it
 * closes its output.  Returns 0; an error (e set) for bad output
 * (pu->status says which) or a failure to read or write; or RF_ECHECK if
 * the deadline passed.
 */
static int
pump(struct pump *pu, int to, int from, double deadline, rf_err *e)
{
	char buf[1 << 16];
	int rc;

	for (;;) {
		struct pollfd fds[2];
		int nfds = 0, ms = -1;

		if (!pu->in_done && pu->fed == pu->feed.len) {
			if ((rc = feed(pu, e)) < 0)
				return rc;
			if (pu->feed.len == 0) {
				close(to);
				pu->in_done = true;
			}
		}
		if (!pu->in_done)
			fds[nfds++] = (struct pollfd){ .fd = to, .events = POLLOUT };
		fds[nfds++] = (struct pollfd){ .fd = from, .events = POLLIN };
		if (deadline > 0) {
			double left = deadline - now();
			if (left <= 0)
				return RF_ECHECK;
			ms = (int)(left * 1000) + 1;
		}
		if ((rc = poll(fds, nfds, ms)) < 0 && errno != EINTR)
			return rf_seterr(e, RF_EIO, "poll: %s", strerror(errno));
		if (rc <= 0)
			continue;
		if (!pu->in_done && fds[0].revents != 0) {
			ssize_t k = write(to, pu->feed.p + pu->fed,
			    pu->feed.len - pu->fed);
			if (k > 0)
				pu->fed += k;
			else if (k < 0 && errno != EAGAIN && errno != EINTR)
				return rf_seterr(e, RF_EIO, "writing to %s: %s",
				    pu->label, strerror(errno));
		}
		if (fds[nfds - 1].revents == 0)
			continue;
		ssize_t k = read(from, buf, sizeof buf);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k < 0)
			return rf_seterr(e, RF_EIO, "reading %s: %s", pu->label,
			    strerror(errno));
		if (k == 0)
			break;
		if (rf_buf_add(&pu->got, buf, k) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		size_t start = 0;
		char *nl;
		while ((nl = memchr(pu->got.p + start, '\n',
		    pu->got.len - start)) != NULL) {
			if ((rc = take_line(pu, pu->got.p + start,
			    nl - (pu->got.p + start), e)) < 0)
				return rc;
			start = nl + 1 - pu->got.p;
		}
		memmove(pu->got.p, pu->got.p + start, pu->got.len - start);
		pu->got.len -= start;
		if (pu->got.len > run.max_line + 1) {
			pu->status = RF_EXIT_DATA;
			return rf_seterr(e, RF_ETOOLONG,
			    "%s:%llu: line longer than %zu bytes (--max-line)",
			    pu->label, (unsigned long long)pu->lineno + 1,
			    run.max_line);
		}
	}
	/* The last line may lack its newline. */
	if (pu->got.len > 0 &&
	    (rc = take_line(pu, pu->got.p, pu->got.len, e)) < 0)
		return rc;
	/*
	 * It closed its output but may still read: give it the rest, unless
	 * it has exited (our own read end keeps the pipe from breaking).
	 */
	while (!pu->in_done) {
		pid_t p = waitpid(child, &pu->ws, WNOHANG);
		if (p == child) {
			child = -1;
			pu->unread = true;
			break;
		}
		if (deadline > 0 && now() >= deadline)
			return RF_ECHECK;
		struct pollfd fd = { .fd = to, .events = POLLOUT };
		if (poll(&fd, 1, 50) <= 0)
			continue;
		ssize_t k = write(to, pu->feed.p + pu->fed, pu->feed.len - pu->fed);
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return rf_seterr(e, RF_EIO, "writing to %s: %s",
			    pu->label, strerror(errno));
		if (k > 0 && (pu->fed += k) == pu->feed.len) {
			if ((rc = feed(pu, e)) < 0)
				return rc;
			if (pu->feed.len == 0) {
				close(to);
				pu->in_done = true;
			}
		}
	}
	return 0;
}

/*
 * Waits for the command, until the deadline if there is one.  Returns its
 * wait status, or -1 if the deadline passed.
 */
static int
reap(double deadline)
{
	int ws;

	for (;;) {
		pid_t p = waitpid(child, &ws, deadline > 0 ? WNOHANG : 0);
		if (p == child) {
			child = -1;
			return ws;
		}
		if (p < 0 && errno != EINTR)
			return -1;
		if (p == 0) {
			if (now() >= deadline)
				return -1;
			nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
		}
	}
}

/* Ends a command that ran out of time: SIGTERM, then SIGKILL. */
static void
stop_child(void)
{
	if (child <= 0)
		return;
	kill(child, SIGTERM);
	if (reap(now() + GRACE_MS / 1000.0) == -1 && child > 0) {
		kill(child, SIGKILL);
		reap(0);
	}
}

/*
 * Runs the command once over the records.  Returns an exit status, having
 * said why it is not 0.
 */
static int
run_once(struct pump *pu, const char *exe, char **argv, char **env)
{
	double deadline = timeout > 0 ? now() + timeout : 0;
	int rc, to = -1, from = -1, tail = -1, ws;
	struct pollfd tp;
	char c;
	rf_err e;

	e.msg[0] = '\0';
	if ((rc = spawn(exe, argv, env, &to, &from, &tail, &e)) < 0)
		goto fail;
	rc = pump(pu, to, from, deadline, &e);
	if (!pu->in_done)
		close(to);
	close(from);
	if (rc == RF_ECHECK)
		goto late;
	if (rc < 0) {
		/* Its output is not wanted any more. */
		stop_child();
		if (pu->status != RF_EXIT_OK) {
			if (e.msg[0] != '\0')
				rf_warnx("%s", e.msg);
			close(tail);
			return pu->status;
		}
		goto fail;
	}
	if ((ws = child > 0 ? reap(deadline) : pu->ws) == -1)
		goto late;
	if (WIFSIGNALED(ws))
		rc = rf_seterr(&e, RF_EIO, "%s: killed by signal %d (%s)",
		    argv[0], WTERMSIG(ws), strsignal(WTERMSIG(ws)));
	else if (WEXITSTATUS(ws) != 0)
		rc = rf_seterr(&e, RF_EIO, "%s: exited with status %d", argv[0],
		    WEXITSTATUS(ws));
	else if (tp = (struct pollfd){ .fd = tail, .events = POLLIN },
	    pu->unread || (poll(&tp, 1, 0) == 1 && read(tail, &c, 1) == 1))
		rc = rf_seterr(&e, RF_EIO, "%s: exited before reading all of "
		    "its input", argv[0]);
	else {
		close(tail);
		return RF_EXIT_OK;
	}
	goto fail;
late:
	stop_child();
	rc = rf_seterr(&e, RF_EIO, "%s: did not finish within %g seconds, "
	    "stopped", argv[0], timeout);
fail:
	if (tail >= 0)
		close(tail);
	rf_warnx("%s", e.msg);
	return rf_status(rc);
}

/* Fisher-Yates with a fixed generator: another order, the same each time. */
static void
shuffle_order(size_t *order, size_t n, uint64_t seed)
{
	uint64_t x = seed;

	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n; i > 1; i--) {
		uint64_t z = (x += 0x9e3779b97f4a7c15u);
		z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9u;
		z = (z ^ z >> 27) * 0x94d049bb133111ebu;
		z ^= z >> 31;
		size_t j = z % i, t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	/* A shuffle may leave them in order: that would compare nothing. */
	bool same = true;
	for (size_t i = 0; i < n && same; i++)
		same = order[i] == i;
	for (size_t i = 0; same && i < n / 2; i++) {
		size_t t = order[i];
		order[i] = order[n - 1 - i];
		order[n - 1 - i] = t;
	}
}

/*
 * Runs the command again, k-th, over the first run's records, and
 * compares what it writes with what the first run wrote.  Returns an exit
 * status: 1 if it differs.
 */
static int
run_again(struct pump *pu, int k, const char *exe, char **argv, char **env)
{
	int status;
	rf_err e;

	pu->compare = true;
	pu->feed.len = pu->fed = 0;
	pu->feed_off = 0;
	pu->next = 0;
	pu->in_done = pu->unread = false;
	rf_dsum_init(&pu->bad);
	pu->got.len = 0;
	pu->lineno = 0;
	rf_dsum_init(&pu->sum);
	pu->first.len = pu->first_pos = 0;
	pu->first_off = 0;
	pu->first_eof = pu->outs.size == 0;
	pu->diffat = 0;
	free(pu->diff1);
	free(pu->diffk);
	pu->diff1 = pu->diffk = NULL;
	if (shuffle)
		shuffle_order(pu->order, pu->nrecs, (uint64_t)k);
	if ((status = run_once(pu, exe, argv, env)) != RF_EXIT_OK)
		return status;
	const char *q;
	size_t n;
	e.msg[0] = '\0';
	if (pu->diffat == 0 && (q = first_line(pu, &n, &e)) != NULL) {
		/* The first run wrote more. */
		pu->diffat = pu->sum.count + 1;
		pu->diff1 = excerpt(q, n);
		pu->diffk = excerpt(NULL, 0);
	}
	if (e.msg[0] != '\0') {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	bool badsame = rf_dsum_equal(&pu->bad, &pu->first_bad);
	if (pu->diffat == 0 && badsame)
		return RF_EXIT_OK;
	if (pu->diffat == 0) {
		rf_warnx("not deterministic: run %d wrote other lines that are "
		    "not JSON than run 1", k);
		return RF_EXIT_CHECK;
	}
	bool same = badsame && rf_dsum_equal(&pu->sum, &pu->first_sum);
	if (same && shuffle)
		return RF_EXIT_OK;
	rf_warnx("not deterministic: run %d wrote %s", k, same ?
	    "the same records in another order" : "different records");
	rf_warnx("run 1 wrote %llu records and run %d %llu; record %llu is the "
	    "first to differ:", (unsigned long long)pu->first_sum.count, k,
	    (unsigned long long)pu->sum.count, (unsigned long long)pu->diffat);
	fprintf(stderr, "  run 1: %s\n  run %d: %s\n", pu->diff1, k, pu->diffk);
	return RF_EXIT_CHECK;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "check-determinism", optional_argument, NULL, OPT_CHECK },
		{ "dep", required_argument, NULL, OPT_DEP },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "force", no_argument, NULL, 'f' },
		{ "input", required_argument, NULL, 'i' },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "name", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "shuffle-input", no_argument, NULL, OPT_SHUFFLE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "transform-version", required_argument, NULL, 'v' },
		RF_RUN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char *stdin_only[] = { "-", NULL };
	/* Static: a usage error returns with them still reachable. */
	static char **inputs, **deps, **envs;
	char **env = NULL;
	char *own[3] = { NULL, NULL, NULL }, *label = NULL;
	const char *name = NULL, *version = NULL;
	int ninputs = 0, ndeps = 0, nenvs = 0, oargc = argc, ch, rc;
	int status = RF_EXIT_OK;
	char **oargv = argv, exe[PATH_MAX], id[65];
	bool force = false, zflag = false;
	rf_tfile *files = NULL, *dfiles = NULL;
	const char **envvals = NULL;
	rf_buf tjson = { 0 }, pb = { 0 };
	rf_out *po = NULL;
	struct pump pu = { 0 };
	double start = rf_now();
	uint64_t u;
	rf_err e;

	rf_run_init(&run, "refill-transform");
	pu.in.fd = pu.outs.fd = -1;
	inputs = calloc(argc, sizeof *inputs);
	deps = calloc(argc, sizeof *deps);
	envs = calloc(argc, sizeof *envs);
	if (inputs == NULL || deps == NULL || envs == NULL) {
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	while ((ch = getopt_long(argc, argv, "fhi:n:o:qVv:z", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_CHECK:
			runs = 2;
			if (optarg != NULL && rf_parse_uint(optarg, 2, 100, &u) < 0) {
				rf_warnx("--check-determinism=%s: not a number of "
				    "runs from 2 to 100", optarg);
				return RF_EXIT_USAGE;
			}
			if (optarg != NULL)
				runs = (int)u;
			break;
		case OPT_DEP:
			deps[ndeps++] = optarg;
			break;
		case OPT_ENV:
			if (*optarg == '\0' || strchr(optarg, '=') != NULL) {
				rf_warnx("--env %s: not a variable name", optarg);
				return RF_EXIT_USAGE;
			}
			for (int i = 0; i < nenvs; i++)
				if (strcmp(envs[i], optarg) == 0) {
					rf_warnx("--env %s: given twice", optarg);
					return RF_EXIT_USAGE;
				}
			envs[nenvs++] = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage(RF_EXIT_OK);
		case 'i':
			inputs[ninputs++] = optarg;
			break;
		case OPT_LEVEL:
			if (rf_parse_uint(optarg, 1, 9, &u) < 0) {
				rf_warnx("--level %s: not a number from 1 to 9",
				    optarg);
				return RF_EXIT_USAGE;
			}
			level = (int)u;
			break;
		case 'n':
			name = optarg;
			break;
		case 'o':
			outpath = optarg;
			break;
		case OPT_SHUFFLE:
			shuffle = true;
			break;
		case OPT_TIMEOUT: {
			char *end;
			errno = 0;
			timeout = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(timeout > 0) || timeout > 1e9) {
				rf_warnx("--timeout %s: not a positive number of "
				    "seconds", optarg);
				return RF_EXIT_USAGE;
			}
			break;
		}
		case 'V':
			return rf_print_version();
		case 'v':
			version = optarg;
			break;
		case 'z':
			zflag = true;
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

	if (argc == 0) {
		rf_warnx("no command given");
		usage(RF_EXIT_USAGE);
	}
	if (name == NULL || version == NULL) {
		rf_warnx("-n name and -v version are required");
		usage(RF_EXIT_USAGE);
	}
	if (*name == '\0' || strchr(name, '@') != NULL || *version == '\0') {
		rf_warnx("-n %s -v %s: a name without '@', and a version, both "
		    "not empty", name, version);
		return RF_EXIT_USAGE;
	}
	if (shuffle && runs == 1) {
		rf_warnx("--shuffle-input needs --check-determinism");
		usage(RF_EXIT_USAGE);
	}
	if (ninputs == 0) {
		ninputs = 1;
		free(inputs);
		inputs = stdin_only;
	}
	if (outpath != NULL) {
		size_t n = strlen(outpath);
		if (zflag || level > 0 || (n > 3 &&
		    strcmp(outpath + n - 3, ".gz") == 0))
			level = level > 0 ? level : 6;
		if ((rc = rf_out_check(outpath, &e)) < 0) {
			rf_warnx("%s", e.msg);
			return rf_status(rc);
		}
	} else if (zflag || level > 0) {
		rf_warnx("-z and --level need -o");
		usage(RF_EXIT_USAGE);
	}

	/* The identity of the transform. */
	if ((files = calloc(argc, sizeof *files)) == NULL ||
	    (dfiles = calloc(ndeps ? ndeps : 1, sizeof *dfiles)) == NULL ||
	    (envvals = calloc(nenvs ? nenvs : 1, sizeof *envvals)) == NULL) {
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	rf_transform t = {
		.name = name, .version = version, .argc = argc, .argv = argv,
		.exe = exe, .files = files, .deps = dfiles, .ndeps = ndeps,
		.env_names = (const char *const *)envs, .env_values = envvals,
		.nenv = nenvs
	};
	if ((rc = resolve(argv[0], exe, &e)) < 0 ||
	    (rc = file_digest(exe, t.exe_sha256, &e)) < 0)
		goto fail;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		files[t.nfiles].arg = i;
		files[t.nfiles].path = argv[i];
		if ((rc = file_digest(argv[i], files[t.nfiles++].sha256,
		    &e)) < 0)
			goto fail;
	}
	for (int i = 0; i < ndeps; i++) {
		dfiles[i].arg = -1;
		dfiles[i].path = deps[i];
		if ((rc = file_digest(deps[i], dfiles[i].sha256, &e)) < 0)
			goto fail;
	}
	for (int i = 0; i < nenvs; i++)
		envvals[i] = getenv(envs[i]);
	if ((rc = rf_transform_format(&t, &tjson, id, &e)) < 0)
		goto fail;
	if (rf_buf_addc(&tjson, '\0') < 0) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}

	/* A check of determinism is a request to run. */
	if (outpath != NULL && !force && runs == 1 &&
	    strcmp(inputs[0], "-") != 0 && up_to_date(inputs, ninputs, id)) {
		if (run.progress >= 0)
			rf_warnx("%s: up to date", outpath);
		goto done;
	}

	rf_cleanup_install();
	rf_cleanup_hook(kill_child);
	signal(SIGPIPE, SIG_IGN);
	if ((status = rf_run_start(&run, ninputs, inputs)) != RF_EXIT_OK)
		goto done;
	if (outpath != NULL)
		rc = rf_out_create(outpath, level, &pu.out, &e);
	else
		rc = rf_out_fd(STDOUT_FILENO, "standard output", -1, &pu.out, &e);
	if (rc < 0)
		goto fail;
	pu.inputs = inputs;
	pu.ninputs = ninputs;
	if ((pu.check = runs > 1) && ((pu.in.fd = scratch(&e)) < 0 ||
	    (pu.outs.fd = scratch(&e)) < 0)) {
		rc = pu.in.fd < 0 ? pu.in.fd : pu.outs.fd;
		goto fail;
	}
	size_t ln = strlen(argv[0]) + sizeof "output of ";
	if ((label = malloc(ln)) == NULL) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(label, ln, "output of %s", argv[0]);
	pu.label = label;
	rf_dsum_init(&pu.sum);
	rf_dsum_init(&pu.bad);
	if ((pu.pin = calloc(ninputs, sizeof *pu.pin)) == NULL ||
	    (pu.h = rf_sha256_new()) == NULL ||
	    (env = child_env(inputs, ninputs, name, version, own)) == NULL) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	if ((status = run_once(&pu, exe, argv, env)) != RF_EXIT_OK)
		goto abort;
	if (runs > 1) {
		if ((rc = spool_flush(&pu.in, &e)) < 0 ||
		    (rc = spool_flush(&pu.outs, &e)) < 0)
			goto fail;
		pu.first_sum = pu.sum;
		pu.first_bad = pu.bad;
		if (shuffle && (pu.order = calloc(pu.nrecs ? pu.nrecs : 1,
		    sizeof *pu.order)) == NULL) {
			rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
			goto fail;
		}
		for (int k = 2; k <= runs; k++)
			if ((status = run_again(&pu, k, exe, argv, env)) !=
			    RF_EXIT_OK)
				goto abort;
		pu.sum = pu.first_sum;
		if (run.progress >= 0)
			rf_warnx("deterministic: %d runs wrote the same records%s",
			    runs, shuffle ? ", from the input in other orders" :
			    "");
	}

	if (outpath == NULL) {
		if ((rc = rf_out_commit(pu.out, &e)) < 0)
			goto fail;
		rf_out_free(pu.out);
		pu.out = NULL;
		status = rf_run_finish(&run, NULL, 0);
		goto done;
	}
	if ((rc = rf_out_finish(pu.out, &e)) < 0)
		goto fail;
	rf_prov pv = {
		.program = "refill-transform", .argc = oargc, .argv = oargv,
		.inputs = pu.pin, .ninputs = ninputs, .output = outpath,
		.out_bytes = rf_out_bytes(pu.out), .out_digest = pu.sum,
		.records_in = run.records_in, .quarantined = run.quarantined,
		.start = start, .end = rf_now(), .transform = tjson.p
	};
	char pp[PATH_MAX];
	rf_out_sha256(pu.out, pv.out_sha256);
	snprintf(pp, sizeof pp, "%s.prov", outpath);
	/* Everything durable first; then the file, its stamp, the rest. */
	if ((rc = rf_prov_format(&pv, &pb, &e)) < 0 ||
	    (rc = rf_out_prepare(pp, pb.p, pb.len, &po, &e)) < 0)
		goto fail;
	if ((status = rf_run_prepare(&run, NULL, 0)) != RF_EXIT_OK)
		goto abort;
	if ((rc = rf_out_commit(pu.out, &e)) < 0)
		goto fail;
	rf_out_free(pu.out);
	pu.out = NULL;
	rc = rf_out_commit(po, &e);
	rf_out_free(po);
	po = NULL;
	if (rc < 0)
		goto fail;
	status = rf_run_publish(&run);
	goto done;
fail:
	rf_warnx("%s", e.msg);
	status = rf_status(rc);
abort:
	stop_child();
	rf_out_abort(pu.out);
	pu.out = NULL;
	rf_out_abort(po);
	po = NULL;
	rf_run_abort(&run);
done:
	if (pu.r != NULL)
		rf_reader_close(pu.r);
	rf_buf_free(&pu.feed);
	rf_buf_free(&pu.got);
	rf_buf_free(&pu.canon);
	rf_sha256_free(pu.h);
	free(pu.pin);
	free(label);
	if (pu.in.fd >= 0)
		close(pu.in.fd);
	if (pu.outs.fd >= 0)
		close(pu.outs.fd);
	rf_buf_free(&pu.in.b);
	rf_buf_free(&pu.outs.b);
	rf_buf_free(&pu.first);
	free(pu.recs);
	free(pu.order);
	free(pu.diff1);
	free(pu.diffk);
	for (int i = 0; i < 3; i++)
		free(own[i]);
	free(env);
	rf_buf_free(&tjson);
	rf_buf_free(&pb);
	free(files);
	free(dfiles);
	free(envvals);
	free(deps);
	free(envs);
	if (inputs != stdin_only)
		free(inputs);
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}
