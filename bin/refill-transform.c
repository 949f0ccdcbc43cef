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
#define _GNU_SOURCE	/* F_SETPIPE_SZ */
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

enum { OPT_CACHE = RF_OPT_PROGRAM, OPT_CHECK, OPT_DEP, OPT_ENV, OPT_LEVEL, OPT_SHUFFLE,
	OPT_TIMEOUT, OPT_RENAME, OPT_DEFAULT, OPT_DROP, OPT_CAST, OPT_UTC };

#define FEED ((size_t)64 << 10)	/* input gathered for one write */
#define JOBFEED ((size_t)1 << 20)
#define MOVE_MIN ((size_t)64 << 10)	/* a poll's worth of work */
#define GRACE_MS 2000		/* after SIGTERM, before SIGKILL */

static rf_run run;
/* The figures of its own, beside the shared ones. */
static rf_stat extra[] = {
	{ "up_to_date", "1 if the output was up to date and nothing ran.", 0 },
	{ "cache_hit", "1 if the output was made from the cache.", 0 },
	{ "command_runs", "Copies of the command run.", 0 },
};
#define NEXTRA (sizeof extra / sizeof extra[0])
static const char *outpath;
static int level = -1;
static double timeout;		/* seconds; 0: none */
static int runs = 1;		/* --check-determinism */
static bool shuffle;
static const char *cachedir;	/* --cache */
#define MAX_JOBS 64
static int njobs = 1;		/* --jobs */
static rf_path *keypath;	/* --key */
static rf_migrate *mig;		/* --rename, --default, ...: NULL if none */
static rf_buf mrec, mtmp[3];	/* a record migrated on this thread */
static volatile pid_t pids[MAX_JOBS];	/* the jobs running, or -1 */
static volatile int npids;

static _Noreturn void
usage(int status)
{
	fprintf(status == RF_EXIT_OK ? stdout : stderr,
	    "usage: refill-transform [-fqz] [--bad file] [--cache dir] "
	    "[--check-determinism[=runs]]\n"
	    "                        [--dep file] [--env name] [-i file] "
	    "[-j jobs] [-k path]\n"
	    "                        [--level n] [--max-line size] "
	    "[--metrics file] [-o file]\n"
	    "                        [--progress] [--shuffle-input] "
	    "[--stats file] [--timeout seconds]\n"
	    "                        [--rename from=to] [--default path=json] "
	    "[--drop path]\n"
	    "                        [--cast path=type] [--utc path] "
	    "-n name -v version\n"
	    "                        [-- command [arg ...]]\n");
	exit(status == RF_EXIT_OK ? rf_close_stdout() : status);
}

/*
 * Says why the run failed; unless the reader of standard output went
 * away, as head(1) does, which shows up as EPIPE since SIGPIPE is ignored
 * for the command's pipes: then the run ends killed by SIGPIPE, silently,
 * as the other programs do, once the command is stopped.
 */
static bool sigpipe;

static void
failed(int rc, const rf_err *e)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };

	if (rc == RF_EIO && outpath == NULL && poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLERR | POLLHUP)))
		sigpipe = true;
	else
		rf_warnx("%s", e->msg);
}

/* On a signal the jobs go too: they would write to a closed pipe. */
static void
kill_jobs(void)
{
	for (int k = 0; k < npids; k++)
		if (pids[k] > 0)
			kill(pids[k], SIGTERM);
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

/* The value at spec in a stamp, or NULL. */
static const char *
stamp_get(const char *st, size_t n, const char *spec, size_t *vn)
{
	rf_path *p;
	const char *v;
	rf_err e;
	int rc;

	if (rf_path_compile(spec, &p, &e) < 0)
		return NULL;
	rc = rf_json_get(st, n, p, &v, vn);
	rf_path_free(p);
	return rc == 0 ? v : NULL;
}

/* The value at spec in the stamp is the string s. */
static bool
stamp_has(const char *st, size_t n, const char *spec, const char *s)
{
	size_t vn;
	const char *v = stamp_get(st, n, spec, &vn);

	return v != NULL && vn > 0 && v[0] == '"' && token_is(v, vn, s);
}

/* The value at spec in the stamp is an integer from 0 to 2^53. */
static bool
stamp_u64(const char *st, size_t n, const char *spec, uint64_t *u)
{
	char num[24];
	size_t vn;
	const char *v = stamp_get(st, n, spec, &vn);

	if (v == NULL || vn == 0 || vn >= sizeof num)
		return false;
	memcpy(num, v, vn);
	num[vn] = '\0';
	return rf_parse_uint(num, 0, (uint64_t)1 << 53, u) == 0;
}

/* The inputs' SHA-256, taken once, when first needed. */
struct ins {
	char **path;
	int n;
	unsigned char (*dig)[RF_SHA256_LEN];
	int have;		/* 0 not yet, 1 taken, -1 failed */
};

static bool
input_digests(struct ins *in)
{
	struct stat st;
	rf_err e;

	/*
	 * A pipe, like standard input, can be read only once: taking its
	 * digest would consume what the command must get.
	 */
	for (int i = 0; in->have == 0 && i < in->n; i++)
		if (strcmp(in->path[i], "-") == 0 ||
		    stat(in->path[i], &st) < 0 || !S_ISREG(st.st_mode) ||
		    file_digest(in->path[i], in->dig[i], &e) < 0)
			in->have = -1;
	if (in->have == 0)
		in->have = 1;
	return in->have == 1;
}

/*
 * Whether outpath and its stamp are what this run would make: the same
 * transform identity, the same inputs (by path and SHA-256) and an
 * output that is still what the stamp says.
 */
static bool
up_to_date(struct ins *in, const char *id)
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
	if (!stamp_has(st.p, st.len, "output.sha256", hex) ||
	    !input_digests(in))
		goto done;
	for (int i = 0; i < in->n; i++) {
		snprintf(spec, sizeof spec, "inputs.%d.path", i);
		if (!stamp_has(st.p, st.len, spec, in->path[i]))
			goto done;
		rf_hex(in->dig[i], RF_SHA256_LEN, hex);
		snprintf(spec, sizeof spec, "inputs.%d.sha256", i);
		if (!stamp_has(st.p, st.len, spec, hex))
			goto done;
	}
	/* And no input more than these. */
	snprintf(spec, sizeof spec, "inputs.%d", in->n);
	size_t vn;
	ok = stamp_get(st.p, st.len, spec, &vn) == NULL;
done:
	rf_buf_free(&st);
	return ok;
}

/* ---- --cache --------------------------------------------------------- */

/*
 * An entry's key: the SHA-256 of the canonical JSON object
 * {"inputs":[SHA-256, ...],"transform":ID}, what the output is a function
 * of (refill-transform(1)).
 */
static int
cache_key(const char *id, unsigned char (*dig)[RF_SHA256_LEN], int n,
    char ck[65], rf_err *e)
{
	unsigned char d[RF_SHA256_LEN];
	char hex[65];
	rf_buf b = { 0 };
	rf_sha256 *h = rf_sha256_new();
	int rc = 0;

	rf_buf_adds(&b, "{\"inputs\":[");
	for (int i = 0; i < n; i++) {
		rf_hex(dig[i], RF_SHA256_LEN, hex);
		rf_buf_adds(&b, i > 0 ? ",\"" : "\"");
		rf_buf_adds(&b, hex);
		rf_buf_addc(&b, '"');
	}
	rf_buf_adds(&b, "],\"transform\":\"");
	rf_buf_adds(&b, id);
	if (h == NULL || rf_buf_adds(&b, "\"}") < 0)
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
	else {
		rf_sha256_once(h, b.p, b.len, d);
		rf_hex(d, RF_SHA256_LEN, ck);
	}
	rf_sha256_free(h);
	rf_buf_free(&b);
	return rc;
}

/* DIR/ab/cdef...[suffix] */
static int
cache_path(const char *dir, const char *ck, const char *suffix,
    char dst[PATH_MAX], rf_err *e)
{
	if (snprintf(dst, PATH_MAX, "%s/%.2s/%s%s", dir, ck, ck + 2,
	    suffix) >= PATH_MAX)
		return rf_seterr(e, RF_EUSAGE, "%s: path too long", dir);
	return 0;
}

/* What a sound cache entry says of its output. */
struct hit {
	char data[PATH_MAX];
	uint64_t in, out, *records;	/* records per input */
	rf_dsum sum;
	bool gz;
};

/*
 * Looks for the entry of key: its stamp must name this transform and
 * these inputs, have quarantined nothing, and describe the data file as
 * it is.  Returns true for such an entry; a damaged one is reported and
 * taken as missing.
 */
static bool
cache_find(const char *dir, const char *ck, const char *id, struct ins *in,
    struct hit *h)
{
	char pp[PATH_MAX], spec[64], hex[65];
	unsigned char d[RF_SHA256_LEN], magic[2];
	uint64_t size, q;
	rf_buf st = { 0 };
	size_t vn;
	const char *v;
	rf_err e;
	bool ok = false;
	size_t got;
	ssize_t k;
	int fd;

	if (cache_path(dir, ck, ".prov", pp, &e) < 0 ||
	    cache_path(dir, ck, "", h->data, &e) < 0)
		goto done;
	if (access(pp, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR))
		goto done;
	if (rf_read_file(pp, (size_t)16 << 20, &st, &e) < 0 ||
	    rf_json_validate(st.p, st.len, &e) < 0)
		goto bad;
	if (!stamp_has(st.p, st.len, "transform.id", id))
		goto bad;
	for (int i = 0; i < in->n; i++) {
		rf_hex(in->dig[i], RF_SHA256_LEN, hex);
		snprintf(spec, sizeof spec, "inputs.%d.sha256", i);
		if (!stamp_has(st.p, st.len, spec, hex))
			goto bad;
		snprintf(spec, sizeof spec, "inputs.%d.records", i);
		if (!stamp_u64(st.p, st.len, spec, &h->records[i]))
			goto bad;
	}
	snprintf(spec, sizeof spec, "inputs.%d", in->n);
	if (stamp_get(st.p, st.len, spec, &vn) != NULL ||
	    !stamp_u64(st.p, st.len, "counts.in", &h->in) ||
	    !stamp_u64(st.p, st.len, "counts.quarantined", &q) || q != 0 ||
	    !stamp_u64(st.p, st.len, "output.records", &h->out) ||
	    (v = stamp_get(st.p, st.len, "output.dataset_digest", &vn)) ==
	    NULL || vn != 66 || rf_dsum_parse(v + 1, 64, h->out, &h->sum) < 0)
		goto bad;
	if (rf_sha256_file(h->data, d, &size, &e) < 0)
		goto bad;
	rf_hex(d, RF_SHA256_LEN, hex);
	if (!stamp_has(st.p, st.len, "output.sha256", hex))
		goto bad;
	if ((fd = open(h->data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		goto bad;
	/*
	 * A read that fails, or stops short, must not make a gzip entry
	 * plain: it would be served as it is, compressed, for plain output.
	 */
	for (got = 0; got < 2; got += k) {
		if ((k = read(fd, magic + got, 2 - got)) < 0 && errno == EINTR)
			k = 0;
		else if (k <= 0)
			break;
	}
	close(fd);
	if (k < 0)
		goto bad;
	h->gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
	ok = true;
	goto done;
bad:
	rf_warnx("%s: a damaged cache entry, not used", pp);
done:
	rf_buf_free(&st);
	return ok;
}

/*
 * Writes the cached output to pu->out, created here: the bytes as they
 * are when the entry is already in the form wanted (gzip or plain), else
 * its records again.
 */
static int
cache_serve(struct hit *h, struct ins *in, rf_out **out, rf_prov_input *pin,
    rf_dsum *sum, rf_err *e)
{
	bool want_gz = outpath != NULL && level > 0;
	int rc;

	if (outpath != NULL)
		rc = rf_out_create(outpath, h->gz == want_gz ? -1 : level, out,
		    e);
	else
		rc = rf_out_fd(STDOUT_FILENO, "stdout", -1, out, e);
	if (rc < 0)
		return rc;
	if (h->gz == want_gz) {
		char buf[1 << 16];
		int fd = open(h->data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		ssize_t k;
		if (fd < 0)
			return rf_seterr(e, RF_EIO, "%s: %s", h->data,
			    strerror(errno));
		while ((k = read(fd, buf, sizeof buf)) > 0 ||
		    (k < 0 && errno == EINTR))
			if (k > 0 && (rc = rf_out_write(*out, buf, k, e)) < 0)
				break;
		if (k < 0)
			rc = rf_seterr(e, RF_EIO, "%s: %s", h->data,
			    strerror(errno));
		close(fd);
	} else {
		rf_reader *r;
		rf_line ln;
		if ((rc = rf_reader_open(h->data, RF_MAX_LINE_DEFAULT, 0, &r,
		    e)) < 0)
			return rc;
		while ((rc = rf_reader_next(r, &ln, e)) == 1)
			if ((rc = rf_out_write(*out, ln.p, ln.len, e)) < 0 ||
			    (rc = rf_out_write(*out, "\n", 1, e)) < 0)
				break;
		rf_reader_close(r);
	}
	if (rc < 0)
		return rc;
	for (int i = 0; i < in->n; i++) {
		pin[i].path = in->path[i];
		memcpy(pin[i].sha256, in->dig[i], RF_SHA256_LEN);
		pin[i].records = h->records[i];
	}
	*sum = h->sum;
	run.records_in = h->in;
	run.records_out = h->out;
	return 0;
}

/*
 * Keeps what this run made: the output linked (or copied) into the cache
 * and its stamp beside it, each under its final name at once.  The stamp
 * goes last, so an entry without one is never used.
 */
static int
cache_put(const char *dir, const char *id, const rf_prov_input *pin, int n,
    const rf_buf *stamp, rf_err *e)
{
	char ck[65], sub[PATH_MAX], data[PATH_MAX], pp[PATH_MAX];
	char tmp[PATH_MAX + 96];
	unsigned char (*dig)[RF_SHA256_LEN];
	int rc;

	if ((dig = calloc(n, sizeof *dig)) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	for (int i = 0; i < n; i++)
		memcpy(dig[i], pin[i].sha256, RF_SHA256_LEN);
	rc = cache_key(id, dig, n, ck, e);
	free(dig);
	if (rc < 0 || (rc = cache_path(dir, ck, "", data, e)) < 0 ||
	    (rc = cache_path(dir, ck, ".prov", pp, e)) < 0)
		return rc;
	snprintf(sub, sizeof sub, "%s/%.2s", dir, ck);
	if ((mkdir(dir, 0777) < 0 && errno != EEXIST) ||
	    (mkdir(sub, 0777) < 0 && errno != EEXIST))
		return rf_seterr(e, RF_EIO, "%s: %s", sub, strerror(errno));
	snprintf(tmp, sizeof tmp, "%s/.tmp-%ld-%s", sub, (long)getpid(),
	    ck + 2);
	unlink(tmp);
	rf_cleanup_add(tmp, false);
	/* A copy is readable as the output is, so that a team can share it. */
	mode_t um = umask(022);
	umask(um);
	if ((rc = rf_link_or_copy(outpath, tmp, e)) == 1 &&
	    chmod(tmp, 0444 & ~um) < 0)
		rc = rf_seterr(e, RF_EIO, "%s: %s", tmp, strerror(errno));
	if (rc >= 0 && rename(tmp, data) < 0)
		rc = rf_seterr(e, RF_EIO, "%s: %s", data, strerror(errno));
	unlink(tmp);
	rf_cleanup_remove(tmp);
	if (rc >= 0)
		rc = rf_write_file(pp, stamp->p, stamp->len, e);
	return rc;
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
spawn(const char *exe, char **argv, char **env, volatile pid_t *pid, int *to,
    int *from, int *tail, rf_err *e)
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
	if ((*pid = fork()) < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return rf_seterr(e, RF_EIO, "fork: %s", strerror(errno));
	}
	if (*pid == 0) {
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
#ifdef F_SETPIPE_SZ
		fcntl(fd, F_SETPIPE_SZ, 1 << 20);
#endif
	}
	if (k == sizeof err) {
		waitpid(*pid, NULL, 0);
		*pid = -1;
		return rf_seterr(e, RF_EIO, "%s: cannot run: %s", argv[0],
		    strerror(err));
	}
	return 0;
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

struct obatch;

/* One copy of the command. */
struct job {
	int k;			/* its index in pids[] */
	int to, from, tail;	/* -1 when closed */
	rf_buf feed;		/* records for it; [fed, len) not yet written */
	size_t fed;
	bool in_done;		/* its input is closed */
	bool out_done;		/* its output has ended */
	bool unread;		/* it exited with input left */
	int ws;			/* its wait status, once reaped */
	struct obatch *fill;	/* the batch its output goes into */
	size_t start;		/* of its line not yet ended, in fill */
	uint64_t lineno;	/* its output lines */
	char *name;		/* "CMD", or "CMD (job 2)" with --jobs */
	char *label;		/* "output of " name, for diagnostics */
	struct spool outs;	/* with --jobs, what jobs after the first wrote,
				 * kept for later */
};

/* What the pump keeps between polls. */
struct pump {
	char **inputs;
	int ninputs, cur;	/* the input being read */
	rf_reader *r;
	rf_prov_input *pin;
	bool input_done;	/* every record has been read */
	struct job *jobs;
	int njobs;
	rf_pool *pool;
	struct obatch *ob;	/* njobs + NQUEUE batches */
	struct obatch **queue;	/* submitted, oldest first, from qhead */
	struct obatch **spare;	/* neither submitted nor being filled */
	int nob, qhead, qlen, nspare;
	rf_buf carry;		/* a line going on from a full batch */
	rf_out *out;
	rf_buf canon;
	rf_sha256 *h;
	rf_dsum sum;		/* of the records this run wrote */
	int status;

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

static size_t
pending(const struct job *j)
{
	return j->feed.len - j->fed;
}

/* Appends a record, with its LF, to a job's feed. */
static int
give(struct job *j, const char *p, size_t n, rf_err *e)
{
	if (j->fed == j->feed.len)
		j->feed.len = j->fed = 0;
	else if (j->fed > FEED) {
		memmove(j->feed.p, j->feed.p + j->fed, pending(j));
		j->feed.len -= j->fed;
		j->fed = 0;
	}
	if (rf_buf_add(&j->feed, p, n) < 0 || rf_buf_addc(&j->feed, '\n') < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	return 0;
}

/*
 * The job a record goes to, by the partition of its key (refill(7)), or
 * -1 for a bad record, which has been quarantined (or pu->status set).
 */
static int
route(struct pump *pu, const char *p, size_t n, uint64_t lineno, rf_err *e)
{
	unsigned char d[RF_SHA256_LEN];
	const char *v;
	size_t vn;
	int rc;

	if ((rc = rf_json_validate(p, n, e)) == 0 &&
	    (rc = rf_json_get(p, n, keypath, &v, &vn)) < 0)
		snprintf(e->msg, sizeof e->msg, "missing key %s",
		    rf_path_spec(keypath));
	pu->canon.len = 0;
	if (rc == 0 && (rc = rf_json_canon(v, vn, &pu->canon, e)) == 0) {
		rf_sha256_once(pu->h, pu->canon.p, pu->canon.len, d);
		return (int)rf_partition(d, (uint32_t)pu->njobs);
	}
	if (rc == RF_ENOMEM)
		return rc;
	pu->status = rf_run_bad(&run, pu->inputs[pu->cur], lineno, p, n,
	    e->msg);
	return -1;
}

/* Reads records into the jobs' feeds.  Returns 0, or an error. */
static int
refill_feed(struct pump *pu, rf_err *e)
{
	rf_line ln;
	int rc;

	for (;;) {
		for (int i = 0; i < pu->njobs; i++)
			if (pending(&pu->jobs[i]) >= JOBFEED)
				goto full;
		if (pu->cur == pu->ninputs) {
			pu->input_done = true;
			break;
		}
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
		if (mig != NULL) {
			mrec.len = 0;
			if ((rc = rf_migrate_apply(mig, ln.p, ln.len, &mrec, mtmp,
			    e)) == RF_ENOMEM)
				return rc;
			if (rc < 0) {
				pu->status = rf_run_bad(&run, pu->inputs[pu->cur],
				    ln.lineno, ln.p, ln.len, e->msg);
				if (pu->status != RF_EXIT_OK) {
					e->msg[0] = '\0';
					return RF_EDATA;
				}
				continue;
			}
			/* The command, the key and the checks see it migrated. */
			ln.p = mrec.p;
			ln.len = mrec.len;
		}
		int to = 0;
		if (keypath != NULL && (to = route(pu, ln.p, ln.len, ln.lineno,
		    e)) < 0) {
			if (to != -1)
				return to;
			if (pu->status != RF_EXIT_OK) {
				e->msg[0] = '\0';
				return RF_EDATA;
			}
			continue;
		}
		if ((rc = give(&pu->jobs[to], ln.p, ln.len, e)) < 0)
			return rc;
		if (!pu->check)
			continue;
		if ((rc = spool_add(&pu->in, ln.p, ln.len, e)) < 0 ||
		    (rc = spool_add(&pu->in, "\n", 1, e)) < 0)
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
full:
	if (pu->r != NULL)
		rf_run_tick(&run, rf_reader_pos(pu->r));
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
	struct job *j = &pu->jobs[0];
	int rc;

	if (pending(j) > 0)
		return 0;
	j->feed.len = j->fed = 0;
	if (pu->order == NULL) {
		size_t n = pu->in.size - pu->feed_off;
		if (n > FEED)
			n = FEED;
		if (rf_buf_reserve(&j->feed, n) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		if ((rc = pread_all(pu->in.fd, j->feed.p, n, pu->feed_off, e)) < 0)
			return rc;
		j->feed.len = n;
		pu->feed_off += n;
	} else
		while (j->feed.len < FEED && pu->next < pu->nrecs) {
			const struct rec *r = &pu->recs[pu->order[pu->next++]];
			if (rf_buf_reserve(&j->feed, r->len) < 0)
				return rf_seterr(e, RF_ENOMEM, "out of memory");
			if ((rc = pread_all(pu->in.fd, j->feed.p + j->feed.len,
			    r->len, r->off, e)) < 0)
				return rc;
			j->feed.len += r->len;
		}
	pu->input_done = j->feed.len == 0;
	return 0;
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

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Output lines are checked on the pool's threads: canonical form and
 * digest are most of the work a record costs, and a command such as cat
 * writes faster than one thread can check.  A job's lines go into its
 * batch; a full batch is submitted, and batches are delivered (written
 * out, counted, quarantined) in the order they were submitted, which
 * keeps each job's lines in order.
 */
struct obatch {
	rf_batch b;
	struct job *j;
	bool check;		/* a bad line's digest is of its bytes */
	bool nomem;
	rf_sha256 *sha;
	rf_buf canon;		/* the worker's */
	rf_dsum sum;		/* of the good lines */
	uint64_t good;
	unsigned char (*dig)[RF_SHA256_LEN];
	int *bad;		/* offset of the reason in why, or -1 */
	size_t cap;		/* of dig and bad */
	rf_buf why;
};

static void
check_work(rf_task *t)
{
	struct obatch *ob = (struct obatch *)t;
	rf_batch *b = &ob->b;
	rf_err e;

	ob->why.len = 0;
	ob->good = 0;
	rf_dsum_init(&ob->sum);
	for (size_t i = 0; i < b->n; i++) {
		const char *p = b->text.p + b->line[i].off;
		size_t n = b->line[i].len;

		ob->canon.len = 0;
		int rc = rf_json_canon(p, n, &ob->canon, &e);
		if (rc == 0) {
			rf_sha256_once(ob->sha, ob->canon.p, ob->canon.len,
			    ob->dig[i]);
			rf_dsum_add_digest(&ob->sum, ob->dig[i]);
			ob->bad[i] = -1;
			ob->good++;
			continue;
		}
		ob->bad[i] = (int)ob->why.len;
		if (rc == RF_ENOMEM ||
		    rf_buf_add(&ob->why, e.msg, strlen(e.msg) + 1) < 0) {
			ob->nomem = true;
			return;
		}
		/* Checking determinism, bad lines are compared by their bytes. */
		if (ob->check)
			rf_sha256_once(ob->sha, p, n, ob->dig[i]);
	}
}

/* Writes bytes of a job's output where they go. */
static int
emit(struct pump *pu, struct job *j, const char *p, size_t n, rf_err *e)
{
	if (j->outs.fd >= 0)
		return spool_add(&j->outs, p, n, e);
	return rf_out_write(pu->out, p, n, e);
}

/*
 * Delivers a checked batch: its records written out and counted, its bad
 * lines quarantined, in order.  Runs of lines that stand in the batch
 * exactly as they will be written go out in one piece.
 */
static int
deliver(struct pump *pu, struct obatch *ob, rf_err *e)
{
	rf_batch *b = &ob->b;
	struct job *j = ob->j;
	size_t from = 0, to = 0;	/* the run not yet written */
	int rc;

	if (ob->nomem)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	if (!pu->compare) {
		rf_dsum_merge(&pu->sum, &ob->sum);
		run.records_out += ob->good;
	}
	for (size_t i = 0; i < b->n; i++) {
		const char *p = b->text.p + b->line[i].off;
		size_t n = b->line[i].len, off = b->line[i].off;

		if (ob->bad[i] >= 0) {
			if (pu->check)
				rf_dsum_add_digest(&pu->bad, ob->dig[i]);
			if (pu->compare)
				continue;
			if (to > from && (rc = emit(pu, j, b->text.p + from,
			    to - from, e)) < 0)
				return rc;
			from = to = 0;
			/* Without --bad, rf_run_bad has said why. */
			if ((pu->status = rf_run_bad(&run, j->label,
			    b->line[i].lineno, p, n, ob->why.p + ob->bad[i])) !=
			    RF_EXIT_OK) {
				e->msg[0] = '\0';
				return RF_EDATA;
			}
			continue;
		}
		if (pu->compare) {
			e->msg[0] = '\0';
			if ((rc = compare(pu, p, n, ob->dig[i], e)) < 0)
				return rc;
			continue;
		}
		if (pu->check && ((rc = spool_add(&pu->outs, p, n, e)) < 0 ||
		    (rc = spool_add(&pu->outs, "\n", 1, e)) < 0))
			return rc;
		if (to > from && off == to &&
		    off + n < b->text.len && p[n] == '\n') {
			to = off + n + 1;
			continue;
		}
		if (to > from && (rc = emit(pu, j, b->text.p + from, to - from,
		    e)) < 0)
			return rc;
		from = off;
		to = off + n;
		if (off + n < b->text.len && p[n] == '\n')
			to++;
		else {
			/* A line stripped of its CR, or the last without LF. */
			if ((rc = emit(pu, j, p, n, e)) < 0 ||
			    (rc = emit(pu, j, "\n", 1, e)) < 0)
				return rc;
			from = to = 0;
		}
	}
	if (to > from && (rc = emit(pu, j, b->text.p + from, to - from, e)) < 0)
		return rc;
	return 0;
}

/* Waits for the oldest batch submitted and delivers it. */
static int
deliver_oldest(struct pump *pu, rf_err *e)
{
	struct obatch *ob = pu->queue[pu->qhead];

	rf_pool_wait(pu->pool, &ob->b.task);
	pu->qhead = (pu->qhead + 1) % pu->nob;
	pu->qlen--;
	pu->spare[pu->nspare++] = ob;
	return deliver(pu, ob, e);
}

/* Delivers every batch submitted, or with e NULL only waits for them. */
static int
drain(struct pump *pu, rf_err *e)
{
	int rc = 0;

	while (pu->qlen > 0) {
		if (e == NULL) {
			struct obatch *ob = pu->queue[pu->qhead];
			rf_pool_wait(pu->pool, &ob->b.task);
			pu->qhead = (pu->qhead + 1) % pu->nob;
			pu->qlen--;
			pu->spare[pu->nspare++] = ob;
		} else if ((rc = deliver_oldest(pu, e)) < 0)
			return rc;
	}
	return 0;
}

/* An empty batch for a job, once one is free. */
static int
take_batch(struct pump *pu, struct job *j, rf_err *e)
{
	int rc;

	if (pu->nspare == 0 && (rc = deliver_oldest(pu, e)) < 0)
		return rc;
	struct obatch *ob = pu->spare[--pu->nspare];
	rf_batch_clear(&ob->b);
	ob->j = j;
	ob->check = pu->check;
	ob->nomem = false;
	j->fill = ob;
	j->start = 0;
	return 0;
}

/* Submits the job's batch; its lines are checked while more are read. */
static int
submit(struct pump *pu, struct job *j, rf_err *e)
{
	struct obatch *ob = j->fill;

	/* One read of short lines can hold more than RF_BATCH_LINES. */
	if (ob->b.n > ob->cap) {
		void *d = realloc(ob->dig, ob->b.n * sizeof *ob->dig);
		if (d != NULL)
			ob->dig = d;
		void *bd = realloc(ob->bad, ob->b.n * sizeof *ob->bad);
		if (bd != NULL)
			ob->bad = bd;
		if (d == NULL || bd == NULL)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		ob->cap = ob->b.n;
	}
	j->fill = NULL;
	pu->queue[(pu->qhead + pu->qlen++) % pu->nob] = ob;
	rf_pool_submit(pu->pool, &ob->b.task);
	return 0;
}

/*
 * The line from the job's start to end: counted, and kept if not blank.
 * RF_ETOOLONG for a line over --max-line.
 */
static int
add_line(struct job *j, size_t end, rf_err *e)
{
	rf_batch *b = &j->fill->b;
	size_t start = j->start, n = end - start;

	if (n > 0 && b->text.p[start + n - 1] == '\r')
		n--;
	if (n > run.max_line)
		return RF_ETOOLONG;
	j->lineno++;
	j->start = end + 1;
	if (rf_blank(b->text.p + start, n))
		return 0;
	if (rf_batch_line_add(b, start, n, j->lineno) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	return 0;
}

/* A line over --max-line: what came before it is delivered first. */
static int
too_long(struct pump *pu, struct job *j, rf_err *e)
{
	int rc;

	j->fill->b.text.len = j->start;
	if ((rc = submit(pu, j, e)) < 0 || (rc = drain(pu, e)) < 0)
		return rc;
	pu->status = RF_EXIT_DATA;
	return rf_seterr(e, RF_ETOOLONG,
	    "%s:%llu: line longer than %zu bytes (--max-line)", j->label,
	    (unsigned long long)j->lineno + 1, run.max_line);
}

/* Takes what a job wrote into its batch: whole lines, and at its end the rest. */
static int
take_output(struct pump *pu, struct job *j, size_t *moved, rf_err *e)
{
	rf_batch *b;
	int rc;

	if (j->fill == NULL && (rc = take_batch(pu, j, e)) < 0)
		return rc;
	b = &j->fill->b;
	if (rf_buf_reserve(&b->text, FEED) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	size_t at = b->text.len;
	ssize_t k = read(j->from, b->text.p + at, b->text.cap - at);
	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (k < 0)
		return rf_seterr(e, RF_EIO, "reading %s: %s", j->label,
		    strerror(errno));
	if (k == 0) {
		close(j->from);
		j->from = -1;
		j->out_done = true;
		/* The last line may lack its newline. */
		if (j->start < at && (rc = add_line(j, at, e)) < 0)
			return rc == RF_ETOOLONG ? too_long(pu, j, e) : rc;
		return submit(pu, j, e);
	}
	b->text.len += k;
	*moved += k;
	for (char *nl = b->text.p + at;
	    (nl = memchr(nl, '\n', b->text.p + b->text.len - nl)) != NULL; nl++)
		if ((rc = add_line(j, nl - b->text.p, e)) < 0)
			return rc == RF_ETOOLONG ? too_long(pu, j, e) : rc;
	size_t part = b->text.len - j->start;
	if (part > run.max_line + 1)
		return too_long(pu, j, e);
	if (b->text.len < RF_BATCH_BYTES && b->n < RF_BATCH_LINES)
		return 0;
	/* Full: the line it ends in goes on in the next batch. */
	pu->carry.len = 0;
	if (rf_buf_add(&pu->carry, b->text.p + j->start, part) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	if ((rc = submit(pu, j, e)) < 0 || (rc = take_batch(pu, j, e)) < 0)
		return rc;
	if (rf_buf_add(&j->fill->b.text, pu->carry.p, part) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	return 0;
}

static void
close_input(struct job *j)
{
	if (j->to >= 0)
		close(j->to);
	j->to = -1;
	j->in_done = true;
}

/*
 * Feeds the records to the jobs and reads what they write until every one
 * has closed its output and its input.  Returns 0; an error (e set) for
 * bad data (pu->status says which) or a failure to read or write; or
 * RF_ECHECK if the deadline passed.
 */
static int
pump(struct pump *pu, double deadline, rf_err *e)
{
	struct pollfd fds[2 * MAX_JOBS];
	struct job *who[2 * MAX_JOBS];
	int rc;

	for (;;) {
		int nfds = 0, ms = -1;
		bool waiting = false;

		if (!pu->input_done && (rc = pu->compare ?
		    refill_feed_again(pu, e) : refill_feed(pu, e)) < 0)
			return rc;
		for (int i = 0; i < pu->njobs; i++) {
			struct job *j = &pu->jobs[i];
			if (!j->in_done && pu->input_done && pending(j) == 0)
				close_input(j);
			if (!j->in_done && pending(j) > 0) {
				who[nfds] = j;
				fds[nfds++] = (struct pollfd){ .fd = j->to,
				    .events = POLLOUT };
			}
			if (!j->out_done) {
				who[nfds] = j;
				fds[nfds++] = (struct pollfd){ .fd = j->from,
				    .events = POLLIN };
			}
			/*
			 * It closed its output but may still read, unless it
			 * has exited: our own read end keeps the pipe from
			 * breaking, so look now and then.
			 */
			if (j->out_done && !j->in_done) {
				waiting = true;
				if (waitpid(pids[j->k], &j->ws, WNOHANG) ==
				    pids[j->k]) {
					pids[j->k] = -1;
					j->unread = true;
					close_input(j);
				}
			}
		}
		if (nfds == 0)
			return drain(pu, e);
		if (waiting)
			ms = 50;
		if (deadline > 0) {
			double left = deadline - now();
			if (left <= 0)
				return RF_ECHECK;
			if (ms < 0 || left * 1000 < ms)
				ms = (int)(left * 1000) + 1;
		}
		if ((rc = poll(fds, nfds, ms)) < 0 && errno != EINTR)
			return rf_seterr(e, RF_EIO, "poll: %s", strerror(errno));
		size_t moved = 0;
		for (int i = 0; rc > 0 && i < nfds; i++) {
			struct job *j = who[i];
			if (fds[i].revents == 0)
				continue;
			if (fds[i].events == POLLIN) {
				if ((rc = take_output(pu, j, &moved, e)) < 0)
					return rc;
				rc = 1;
				continue;
			}
			ssize_t k = write(j->to, j->feed.p + j->fed, pending(j));
			if (k > 0) {
				j->fed += k;
				moved += k;
			} else if (k < 0 && errno != EAGAIN && errno != EINTR)
				return rf_seterr(e, RF_EIO, "writing to %s: %s",
				    j->name, strerror(errno));
		}
		/*
		 * A command that writes in small pieces (stdio's 4 KiB to a
		 * pipe) would wake us for each: let them gather a little in
		 * the pipe, which holds far more than a millisecond of it.
		 */
		if (moved > 0 && moved < MOVE_MIN)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
}

/*
 * Waits for job k, until the deadline if there is one.  Returns its wait
 * status, or -1 if the deadline passed.
 */
static int
reap(int k, double deadline)
{
	int ws;

	for (;;) {
		pid_t p = waitpid(pids[k], &ws, deadline > 0 ? WNOHANG : 0);
		if (p == pids[k]) {
			pids[k] = -1;
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

/* Ends the jobs still running: SIGTERM, then SIGKILL. */
static void
stop_jobs(void)
{
	double grace = now() + GRACE_MS / 1000.0;

	kill_jobs();
	for (int k = 0; k < npids; k++)
		if (pids[k] > 0 && reap(k, grace) == -1 && pids[k] > 0) {
			kill(pids[k], SIGKILL);
			reap(k, 0);
		}
	npids = 0;
}

static void
close_fds(struct job *j)
{
	close_input(j);
	if (j->from >= 0)
		close(j->from);
	if (j->tail >= 0)
		close(j->tail);
	j->from = j->tail = -1;
}

static void
free_jobs(struct pump *pu)
{
	for (int i = 0; i < pu->njobs; i++) {
		struct job *j = &pu->jobs[i];
		close_fds(j);
		if (j->outs.fd >= 0)
			close(j->outs.fd);
		j->outs.fd = -1;
		free(j->name);
		free(j->label);
		rf_buf_free(&j->feed);
		rf_buf_free(&j->outs.b);
	}
}

/* After a failure: no batch in flight or being filled. */
static void
discard(struct pump *pu)
{
	drain(pu, NULL);
	for (int i = 0; i < pu->njobs; i++)
		if (pu->jobs[i].fill != NULL) {
			pu->spare[pu->nspare++] = pu->jobs[i].fill;
			pu->jobs[i].fill = NULL;
		}
}

#define NQUEUE 6	/* batches in flight beyond one being filled per job */

static int
alloc_batches(struct pump *pu, rf_err *e)
{
	int rc;

	if ((rc = rf_pool_new(0, &pu->pool, e)) < 0)
		return rc;
	pu->nob = pu->njobs + NQUEUE;
	if ((pu->ob = calloc(pu->nob, sizeof *pu->ob)) == NULL ||
	    (pu->queue = calloc(pu->nob, sizeof *pu->queue)) == NULL ||
	    (pu->spare = calloc(pu->nob, sizeof *pu->spare)) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	for (int i = 0; i < pu->nob; i++) {
		struct obatch *ob = &pu->ob[i];
		ob->b.task.fn = check_work;
		if ((ob->sha = rf_sha256_new()) == NULL ||
		    (ob->dig = malloc(RF_BATCH_LINES * sizeof *ob->dig)) ==
		    NULL ||
		    (ob->bad = malloc(RF_BATCH_LINES * sizeof *ob->bad)) == NULL)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		ob->cap = RF_BATCH_LINES;
		pu->spare[pu->nspare++] = ob;
	}
	return 0;
}

static void
free_batches(struct pump *pu)
{
	for (int i = 0; pu->ob != NULL && i < pu->nob; i++) {
		struct obatch *ob = &pu->ob[i];
		rf_batch_free(&ob->b);
		rf_sha256_free(ob->sha);
		rf_buf_free(&ob->canon);
		rf_buf_free(&ob->why);
		free(ob->dig);
		free(ob->bad);
	}
	free(pu->ob);
	free(pu->queue);
	free(pu->spare);
	rf_buf_free(&pu->carry);
}

/*
 * Runs the jobs once over the records.  Returns an exit status, having
 * said why it is not 0.
 */
static int
run_once(struct pump *pu, const char *exe, char **argv, char **env)
{
	double deadline = timeout > 0 ? now() + timeout : 0;
	struct pollfd tp;
	struct job *j;
	char c;
	rf_err e;
	int rc;

	e.msg[0] = '\0';
	npids = 0;
	for (int i = 0; i < pu->njobs; i++) {
		j = &pu->jobs[i];
		j->k = npids++;
		close_fds(j);
		j->in_done = j->out_done = j->unread = false;
		j->feed.len = j->fed = 0;
		j->lineno = 0;
		if ((rc = spawn(exe, argv, env, &pids[j->k], &j->to, &j->from,
		    &j->tail, &e)) < 0)
			goto fail;
	}
	rc = pump(pu, deadline, &e);
	if (rc == RF_ECHECK)
		goto late;
	if (rc < 0) {
		/* Their output is not wanted any more. */
		stop_jobs();
		discard(pu);
		if (pu->status != RF_EXIT_OK) {
			if (e.msg[0] != '\0')
				rf_warnx("%s", e.msg);
			return pu->status;
		}
		goto fail;
	}
	for (int i = 0; i < pu->njobs; i++) {
		j = &pu->jobs[i];
		int ws = pids[j->k] > 0 ? reap(j->k, deadline) : j->ws;
		if (ws == -1)
			goto late;
		tp = (struct pollfd){ .fd = j->tail, .events = POLLIN };
		if (WIFSIGNALED(ws))
			rc = rf_seterr(&e, RF_EIO, "%s: killed by signal %d (%s)",
			    j->name, WTERMSIG(ws), strsignal(WTERMSIG(ws)));
		else if (WEXITSTATUS(ws) != 0)
			rc = rf_seterr(&e, RF_EIO, "%s: exited with status %d",
			    j->name, WEXITSTATUS(ws));
		else if (j->unread ||
		    (poll(&tp, 1, 0) == 1 && read(j->tail, &c, 1) == 1))
			rc = rf_seterr(&e, RF_EIO, "%s: exited before reading "
			    "all of its input", j->name);
		else
			continue;
		goto fail;
	}
	npids = 0;
	return RF_EXIT_OK;
late:
	rc = rf_seterr(&e, RF_EIO, "%s: did not finish within %g seconds, "
	    "stopped", argv[0], timeout);
fail:
	stop_jobs();
	discard(pu);
	failed(rc, &e);
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
	pu->input_done = false;
	pu->feed_off = 0;
	pu->next = 0;
	rf_dsum_init(&pu->bad);
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

/* With --jobs: the records of the jobs after the first, job after job. */
static int
write_jobs(struct pump *pu, rf_err *e)
{
	rf_buf b = { 0 };
	int rc = 0;

	if (rf_buf_reserve(&b, FEED) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	for (int i = 1; rc == 0 && i < pu->njobs; i++) {
		struct spool *sp = &pu->jobs[i].outs;
		if ((rc = spool_flush(sp, e)) < 0)
			break;
		for (off_t off = 0; rc == 0 && off < sp->size;) {
			size_t n = sp->size - off > (off_t)FEED ? FEED :
			    (size_t)(sp->size - off);
			if ((rc = pread_all(sp->fd, b.p, n, off, e)) == 0)
				rc = rf_out_write(pu->out, b.p, n, e);
			off += n;
		}
	}
	rf_buf_free(&b);
	return rc;
}

/* ---- migrations alone: no command ------------------------------------ */

/*
 * A batch of input records migrated on a worker: the output, where each
 * record's ends, the sum of their digests, and why each bad one is bad.
 * Parsing is most of the work, so it is spread over the pool as
 * refill-hash does; the main thread reads, writes and takes the SHA-256
 * of the input and of the output.
 */
struct mbatch {
	rf_batch b;
	rf_sha256 *sha;
	rf_dsum sum;
	uint64_t good;
	size_t *end;		/* of each record's output, in out */
	int *bad;		/* offset of the reason in why, or -1 */
	size_t cap;		/* of end and bad */
	rf_buf out, why, tmp[3];
	bool nomem;
};

#define NMBATCH 8	/* batches in flight: enough to keep the pool busy */

static void
migrate_work(rf_task *t)
{
	struct mbatch *mb = (struct mbatch *)t;
	rf_batch *b = &mb->b;
	unsigned char d[RF_SHA256_LEN];
	rf_err e;

	mb->out.len = mb->why.len = 0;
	mb->good = 0;
	mb->nomem = false;
	rf_dsum_init(&mb->sum);
	if (b->n > mb->cap) {
		size_t *ne = realloc(mb->end, b->n * sizeof *ne);
		if (ne != NULL)
			mb->end = ne;
		int *nb = realloc(mb->bad, b->n * sizeof *nb);
		if (nb != NULL)
			mb->bad = nb;
		if (ne == NULL || nb == NULL) {
			mb->nomem = true;
			return;
		}
		mb->cap = b->n;
	}
	if (rf_buf_reserve(&mb->out, b->text.len + b->text.len / 4 + 64) < 0) {
		mb->nomem = true;
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		size_t mark = mb->out.len;
		int rc = rf_migrate_apply(mig, b->text.p + b->line[i].off,
		    b->line[i].len, &mb->out, mb->tmp, &e);
		if (rc == 0) {
			rf_sha256_once(mb->sha, mb->out.p + mark,
			    mb->out.len - mark, d);
			rf_dsum_add_digest(&mb->sum, d);
			mb->good++;
			mb->bad[i] = -1;
			if (rf_buf_addc(&mb->out, '\n') < 0) {
				mb->nomem = true;
				return;
			}
			mb->end[i] = mb->out.len;
			continue;
		}
		mb->end[i] = mark;
		mb->bad[i] = (int)mb->why.len;
		if (rc == RF_ENOMEM ||
		    rf_buf_add(&mb->why, e.msg, strlen(e.msg) + 1) < 0) {
			mb->nomem = true;
			return;
		}
	}
}

/* Runs on the main thread, in input order. */
static int
migrate_deliver(rf_batch *b, void *arg)
{
	struct mbatch *mb = (struct mbatch *)b;
	struct pump *pu = arg;
	size_t from = 0;	/* output not yet written */
	int rc, status;
	rf_err e;

	if (mb->nomem) {
		rf_warnx("%s: out of memory", b->file);
		return RF_EXIT_IO;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (mb->bad[i] < 0)
			continue;
		if (mb->end[i] > from && (rc = rf_out_write(pu->out,
		    mb->out.p + from, mb->end[i] - from, &e)) < 0)
			goto fail;
		from = mb->end[i];
		if ((status = rf_run_bad(&run, b->file, b->line[i].lineno,
		    b->text.p + b->line[i].off, b->line[i].len,
		    mb->why.p + mb->bad[i])) != RF_EXIT_OK)
			return status;
	}
	if (mb->out.len > from && (rc = rf_out_write(pu->out, mb->out.p + from,
	    mb->out.len - from, &e)) < 0)
		goto fail;
	rf_dsum_merge(&pu->sum, &mb->sum);
	run.records_out += mb->good;
	return RF_EXIT_OK;
fail:
	failed(rc, &e);
	return rf_status(rc);
}

/*
 * Migrates every input into pu->out, filling pu->pin and pu->sum.
 * Returns an exit status, having said why it is not 0.
 */
static int
migrate_all(struct pump *pu)
{
	struct mbatch mb[NMBATCH];
	rf_batch *ring[NMBATCH];
	rf_pool *pool = NULL;
	rf_reader *r;
	rf_err e;
	int rc, status = RF_EXIT_OK;

	memset(mb, 0, sizeof mb);
	if ((rc = rf_pool_new(0, &pool, &e)) < 0)
		goto fail;
	for (int i = 0; i < NMBATCH; i++) {
		mb[i].b.task.fn = migrate_work;
		ring[i] = &mb[i].b;
		if ((mb[i].sha = rf_sha256_new()) == NULL) {
			rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
			goto fail;
		}
	}
	for (int i = 0; status == RF_EXIT_OK && i < pu->ninputs; i++) {
		uint64_t before = run.records_in;
		if ((rc = rf_reader_open(pu->inputs[i], run.max_line,
		    RF_READ_SHA256, &r, &e)) < 0)
			goto fail;
		pu->pin[i].path = pu->inputs[i];
		status = rf_run_batches(&run, r, pool, ring, NMBATCH,
		    migrate_deliver, pu);
		pu->pin[i].records = run.records_in - before;
		rf_reader_sha256(r, pu->pin[i].sha256);
		run.bytes_in += rf_reader_pos(r);
		rf_reader_close(r);
	}
	goto done;
fail:
	failed(rc, &e);
	status = rf_status(rc);
done:
	/* The threads go before the batches they may be working on. */
	rf_pool_free(pool);
	for (int i = 0; i < NMBATCH; i++) {
		rf_batch_free(&mb[i].b);
		rf_sha256_free(mb[i].sha);
		free(mb[i].end);
		free(mb[i].bad);
		rf_buf_free(&mb[i].out);
		rf_buf_free(&mb[i].why);
		for (int k = 0; k < 3; k++)
			rf_buf_free(&mb[i].tmp[k]);
	}
	return status;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "cache", required_argument, NULL, OPT_CACHE },
		{ "cast", required_argument, NULL, OPT_CAST },
		{ "check-determinism", optional_argument, NULL, OPT_CHECK },
		{ "default", required_argument, NULL, OPT_DEFAULT },
		{ "dep", required_argument, NULL, OPT_DEP },
		{ "drop", required_argument, NULL, OPT_DROP },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "force", no_argument, NULL, 'f' },
		{ "input", required_argument, NULL, 'i' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "key", required_argument, NULL, 'k' },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "name", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "rename", required_argument, NULL, OPT_RENAME },
		{ "shuffle-input", no_argument, NULL, OPT_SHUFFLE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "transform-version", required_argument, NULL, 'v' },
		{ "utc", required_argument, NULL, OPT_UTC },
		RF_RUN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char *stdin_only[] = { "-", NULL };
	/* Static: a usage error returns with them still reachable. */
	static char **inputs, **deps, **envs;
	char **env = NULL;
	char *own[3] = { NULL, NULL, NULL };
	const char *name = NULL, *version = NULL;
	int ninputs = 0, ndeps = 0, nenvs = 0, oargc = argc, ch, rc;
	int status = RF_EXIT_OK;
	char **oargv = argv, exe[PATH_MAX], id[65];
	bool force = false, zflag = false, cached = false, placing = false;
	struct hit hit = { .records = NULL };
	struct ins in = { .dig = NULL };	/* freed after any failure */
	rf_tfile *files = NULL, *dfiles = NULL;
	const char **envvals = NULL;
	rf_buf tjson = { 0 }, pb = { 0 }, mdesc = { 0 };
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
	while ((ch = getopt_long(argc, argv, "fhi:j:k:n:o:qVv:z", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_CACHE:
			cachedir = optarg;
			break;
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
		case OPT_RENAME: case OPT_DEFAULT: case OPT_DROP: case OPT_CAST:
		case OPT_UTC:
			if ((mig == NULL && (rc = rf_migrate_new(&mig, &e)) < 0) ||
			    (rc = rf_migrate_add(mig, RF_MIG_RENAME + ch -
			    OPT_RENAME, optarg, &e)) < 0) {
				rf_warnx("%s", e.msg);
				rf_migrate_free(mig);
				return rc == RF_EUSAGE ? RF_EXIT_USAGE :
				    rf_status(rc);
			}
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
		case 'j':
			if (rf_parse_uint(optarg, 1, MAX_JOBS, &u) < 0) {
				rf_warnx("--jobs %s: not a number from 1 to %d",
				    optarg, MAX_JOBS);
				return RF_EXIT_USAGE;
			}
			njobs = (int)u;
			break;
		case 'k':
			if (rf_path_compile(optarg, &keypath, &e) < 0) {
				rf_warnx("--key: %s", e.msg);
				return RF_EXIT_USAGE;
			}
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

	if (argc == 0 && mig == NULL) {
		rf_warnx("no command given, and no migration");
		usage(RF_EXIT_USAGE);
	}
	/* Migrations alone run no command: what concerns one is a mistake. */
	if (argc == 0 && (njobs > 1 || keypath != NULL || runs > 1 ||
	    timeout > 0 || ndeps > 0 || nenvs > 0)) {
		rf_warnx("-j, -k, --check-determinism, --timeout, --dep and "
		    "--env need a command");
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
	if (njobs > 1 && keypath == NULL) {
		rf_warnx("--jobs needs --key, to route each record to its job");
		usage(RF_EXIT_USAGE);
	}
	if (njobs > 1 && runs > 1) {
		rf_warnx("--check-determinism runs one job: it takes no --jobs");
		usage(RF_EXIT_USAGE);
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
		.exe = argc > 0 ? exe : NULL, .files = files, .deps = dfiles,
		.ndeps = ndeps, .env_names = (const char *const *)envs,
		.env_values = envvals, .nenv = nenvs
	};
	if (argc > 0 && ((rc = resolve(argv[0], exe, &e)) < 0 ||
	    (rc = file_digest(exe, t.exe_sha256, &e)) < 0))
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
	if (mig != NULL && (rf_migrate_describe(mig, &mdesc) < 0 ||
	    rf_buf_addc(&mdesc, '\0') < 0)) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	t.migrations = mig != NULL ? mdesc.p : NULL;
	if ((rc = rf_transform_format(&t, &tjson, id, &e)) < 0)
		goto fail;
	if (rf_buf_addc(&tjson, '\0') < 0) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}

	/* A check of determinism is a request to run. */
	in.path = inputs;
	in.n = ninputs;
	if ((in.dig = calloc(ninputs, sizeof *in.dig)) == NULL ||
	    (hit.records = calloc(ninputs, sizeof *hit.records)) == NULL) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	if (outpath != NULL && !force && runs == 1 && up_to_date(&in, id)) {
		if (run.progress >= 0)
			rf_warnx("%s: up to date", outpath);
		/*
		 * The figures say so, for whoever watches that the job runs;
		 * the --bad file stays the one of the run that made the output.
		 */
		run.bad_path = NULL;
		run.progress = -1;
		extra[0].value = 1;
		if ((status = rf_run_start(&run, 0, NULL)) == RF_EXIT_OK)
			status = rf_run_finish(&run, extra, NEXTRA);
		goto done;
	}
	char ck[65];
	if (cachedir != NULL && !force && runs == 1 && input_digests(&in)) {
		if ((rc = cache_key(id, in.dig, ninputs, ck, &e)) < 0)
			goto fail;
		cached = cache_find(cachedir, ck, id, &in, &hit);
	}

	rf_cleanup_install();
	rf_cleanup_hook(kill_jobs);
	signal(SIGPIPE, SIG_IGN);
	if ((status = rf_run_start(&run, ninputs, inputs)) != RF_EXIT_OK)
		goto done;
	if ((pu.pin = calloc(ninputs, sizeof *pu.pin)) == NULL) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	if (cached) {
		/* The entry's records; the inputs were read for their digests. */
		extra[1].value = 1;
		run.bytes_in = run.bytes_total;
		if ((rc = cache_serve(&hit, &in, &pu.out, pu.pin, &pu.sum,
		    &e)) < 0)
			goto fail;
		if (run.progress >= 0)
			rf_warnx("%s: from the cache, %s",
			    outpath != NULL ? outpath : "standard output",
			    hit.data);
		goto publish;
	}
	if (outpath != NULL)
		rc = rf_out_create(outpath, level, &pu.out, &e);
	else
		rc = rf_out_fd(STDOUT_FILENO, "stdout", -1, &pu.out, &e);
	if (rc < 0)
		goto fail;
	pu.inputs = inputs;
	pu.ninputs = ninputs;
	if (argc == 0) {
		rf_dsum_init(&pu.sum);
		if ((status = migrate_all(&pu)) != RF_EXIT_OK)
			goto abort;
		goto publish;
	}
	if ((pu.check = runs > 1) && ((pu.in.fd = rf_scratch_file(&e)) < 0 ||
	    (pu.outs.fd = rf_scratch_file(&e)) < 0)) {
		rc = pu.in.fd < 0 ? pu.in.fd : pu.outs.fd;
		goto fail;
	}
	if ((pu.jobs = calloc(njobs, sizeof *pu.jobs)) == NULL) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	pu.njobs = njobs;
	for (int i = 0; i < njobs; i++) {
		struct job *j = &pu.jobs[i];
		size_t n = strlen(argv[0]) + 32;
		j->to = j->from = j->tail = j->outs.fd = -1;
		if ((j->name = malloc(n)) == NULL ||
		    (j->label = malloc(n + 10)) == NULL) {
			rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
			goto fail;
		}
		if (njobs > 1)
			snprintf(j->name, n, "%s (job %d)", argv[0], i + 1);
		else
			snprintf(j->name, n, "%s", argv[0]);
		snprintf(j->label, n + 10, "output of %s", j->name);
		/* The first job's records go straight out, the others wait. */
		if (i > 0 && (j->outs.fd = rf_scratch_file(&e)) < 0) {
			rc = j->outs.fd;
			goto fail;
		}
	}
	if ((rc = alloc_batches(&pu, &e)) < 0)
		goto fail;
	rf_dsum_init(&pu.sum);
	rf_dsum_init(&pu.bad);
	if ((pu.h = rf_sha256_new()) == NULL ||
	    (env = child_env(inputs, ninputs, name, version, own)) == NULL) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	extra[2].value = (uint64_t)njobs * runs;
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

	if (njobs > 1 && (rc = write_jobs(&pu, &e)) < 0)
		goto fail;
publish:
	if (outpath == NULL) {
		if ((rc = rf_out_commit(pu.out, &e)) < 0)
			goto fail;
		rf_out_free(pu.out);
		pu.out = NULL;
		status = rf_run_finish(&run, extra, NEXTRA);
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
	if ((status = rf_run_prepare(&run, extra, NEXTRA)) != RF_EXIT_OK)
		goto abort;
	/*
	 * The old stamp goes first, so that no stamp ever describes other
	 * bytes than its file's, even after a crash; and a failure from here
	 * on leaves neither the output nor its stamp.
	 */
	if (unlink(pp) < 0 && errno != ENOENT) {
		rc = rf_seterr(&e, RF_EIO, "%s: %s", pp, strerror(errno));
		goto fail;
	}
	placing = true;
	if ((rc = rf_out_commit(pu.out, &e)) < 0)
		goto fail;
	rf_out_free(pu.out);
	pu.out = NULL;
	rc = rf_out_commit(po, &e);
	rf_out_free(po);
	po = NULL;
	if (rc < 0)
		goto fail;
	if ((status = rf_run_publish(&run)) != RF_EXIT_OK)
		goto abort;
	/* The output is out: a cache that cannot keep it is only said. */
	if (cachedir != NULL && !cached && run.quarantined == 0 &&
	    (rc = cache_put(cachedir, id, pu.pin, ninputs, &pb, &e)) < 0)
		rf_warnx("not kept in the cache: %s", e.msg);
	goto done;
fail:
	failed(rc, &e);
	status = rf_status(rc);
abort:
	if (placing) {
		struct stat sb;
		unlink(pp);
		/* Not a device or a FIFO, which is written in place. */
		if (lstat(outpath, &sb) == 0 && S_ISREG(sb.st_mode))
			unlink(outpath);
	}
	stop_jobs();
	rf_out_abort(pu.out);
	pu.out = NULL;
	rf_out_abort(po);
	po = NULL;
	rf_run_abort(&run);
done:
	if (pu.r != NULL)
		rf_reader_close(pu.r);
	/* The threads go before the batches they may be working on. */
	rf_pool_free(pu.pool);
	free_batches(&pu);
	if (pu.jobs != NULL)
		free_jobs(&pu);
	free(pu.jobs);
	rf_buf_free(&pu.canon);
	rf_sha256_free(pu.h);
	free(pu.pin);
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
	rf_buf_free(&mdesc);
	rf_buf_free(&mrec);
	for (int i = 0; i < 3; i++)
		rf_buf_free(&mtmp[i]);
	rf_migrate_free(mig);
	free(files);
	free(dfiles);
	free(envvals);
	rf_path_free(keypath);
	free(in.dig);
	free(hit.records);
	free(deps);
	free(envs);
	if (inputs != stdin_only)
		free(inputs);
	if (sigpipe) {
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
	}
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}
