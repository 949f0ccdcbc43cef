/*
 * refill-replay: stream a committed version's records back out, each file
 * checked against the signed manifest before any of its records is
 * written; optionally only some files, a time window, a stable sample by
 * key, or one shard.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refill.h"

static const char *outpath, *trustfile;
static char **globs;
static size_t nglobs;
static rf_path *keypath, *mergepath, *timepath;
static double sample = -1;
static uint64_t shard_k, shard_n;
static bool have_from, have_to, zflag;
static int64_t t_from, t_to;
static int epoch_unit;

static _Noreturn void
usage(int status)
{
	fprintf(status == RF_EXIT_OK ? stdout : stderr,
	    "usage: refill-replay [-qz] [--files glob] [--from time] "
	    "[-k path] [--merge-by path]\n"
	    "                     [--metrics file] [-o file] [--progress] "
	    "[--sample fraction]\n"
	    "                     [--shard k/n] [--stats file] [-t trusted] "
	    "[--time path] [--to time]\n"
	    "                     [--epoch s|ms] dataset[@version]\n");
	exit(status == RF_EXIT_OK ? rf_close_stdout() : status);
}

/* The first 8 bytes of the SHA-256 of the canonical value, big-endian. */
static uint64_t
keyhash(const char *v, size_t n, rf_buf *canon, rf_sha256 *h)
{
	unsigned char d[RF_SHA256_LEN];
	uint64_t x = 0;
	rf_err e;

	canon->len = 0;
	if (rf_json_canon(v, n, canon, &e) < 0)
		return 0;
	rf_sha256_once(h, canon->p, canon->len, d);
	for (int i = 0; i < 8; i++)
		x = x << 8 | d[i];
	return x;
}

struct sel {
	rf_buf canon;
	rf_sha256 *h;
};

/*
 * Whether a record is selected.  Returns 1 or 0, or -1 with *why set for
 * a record that lacks what the selection needs.
 */
static int
selected(const char *p, size_t n, struct sel *s, const char **why)
{
	const char *v;
	size_t vn;

	if (timepath != NULL) {
		int64_t t;
		if (rf_json_get(p, n, timepath, &v, &vn) < 0) {
			*why = "missing time field";
			return -1;
		}
		if (rf_json_time(v, vn, epoch_unit, &t, why) < 0)
			return -1;
		if ((have_from && t < t_from) || (have_to && t >= t_to))
			return 0;
	}
	if (keypath != NULL && (sample >= 0 || shard_n > 0)) {
		if (rf_json_get(p, n, keypath, &v, &vn) < 0) {
			*why = "missing key";
			return -1;
		}
		uint64_t x = keyhash(v, vn, &s->canon, s->h);
		/* x / 2^64 < fraction: a smaller sample is inside a larger. */
		if (sample >= 0 && (double)x >= sample * 18446744073709551616.0)
			return 0;
		if (shard_n > 0 && x % shard_n != shard_k - 1)
			return 0;
	}
	return 1;
}

/* One selected file of the version. */
struct src {
	const rf_mfile *f;
	char *path, *shown;	/* on disk; as messages name it */
	rf_reader *r;
	rf_line ln;		/* its record at hand */
	const char *key;	/* --merge-by: that record's key, in ln */
	size_t keylen;
	rf_buf prev;		/* --merge-by: the key before it */
	uint64_t recs;
};

static struct src *srcs;
static size_t nsrc;
static rf_out *out;
static struct sel sel;
static rf_dsum outsum;
/* records_in: read from the files; records_out: selected and written. */
static rf_run run;

/* Progress now and then: the files finished, and those being read. */
static void
tick(void)
{
	uint64_t pos = 0;

	if ((run.records_in & 1023) != 0)
		return;
	for (size_t i = 0; i < nsrc; i++)
		if (srcs[i].r != NULL)
			pos += rf_reader_pos(srcs[i].r);
	rf_run_tick(&run, pos);
}

/* Checks the whole file against the manifest; a mismatch is status 1. */
static int
check_file(const struct src *x, int *status, rf_err *e)
{
	unsigned char d[RF_SHA256_LEN];
	uint64_t size;
	int rc;

	if ((rc = rf_sha256_file(x->path, d, &size, e)) < 0)
		return rc;
	if (memcmp(d, x->f->sha256, sizeof d) != 0 || size != x->f->size) {
		rf_warnx("%s: does not match the manifest: the file was changed "
		    "or damaged", x->path);
		*status = RF_EXIT_CHECK;
	}
	return 0;
}

static int
open_src(struct src *x, int flags, rf_err *e)
{
	return rf_reader_open(x->path, RF_MAX_LINE_DEFAULT,
	    RF_READ_SHA256 | flags, &x->r, e);
}

/*
 * Reads up to the next selected record.  Returns 1 with x->ln (and for
 * --merge-by x->key) set; 0 at the end, or with *status set for a record
 * that lacks what is needed; or an error code.
 */
static int
next_record(struct src *x, int *status, rf_err *e)
{
	const char *why;
	int rc, k;

	while ((rc = rf_reader_next(x->r, &x->ln, e)) > 0) {
		unsigned long long no = x->ln.lineno;
		if (rf_blank(x->ln.p, x->ln.len))
			continue;
		x->recs++;
		run.records_in++;
		tick();
		if ((k = selected(x->ln.p, x->ln.len, &sel, &why)) < 0) {
			rf_warnx("%s:%llu: %s%s%s", x->shown, no, why,
			    why[0] == 'm' ? " " : "", why[0] != 'm' ? "" :
			    rf_path_spec(strcmp(why, "missing key") == 0 ?
			    keypath : timepath));
			*status = RF_EXIT_DATA;
			return 0;
		}
		if (k == 0)
			continue;
		if (mergepath == NULL)
			return 1;
		if (rf_json_get(x->ln.p, x->ln.len, mergepath, &x->key,
		    &x->keylen) < 0) {
			rf_warnx("%s:%llu: missing merge key %s", x->shown, no,
			    rf_path_spec(mergepath));
			*status = RF_EXIT_DATA;
			return 0;
		}
		if (x->prev.len > 0 && rf_json_cmp(x->key, x->keylen, x->prev.p,
		    x->prev.len) < 0) {
			rf_warnx("%s:%llu: not sorted by %s: %.*s comes after "
			    "%.*s", x->shown, no, rf_path_spec(mergepath),
			    (int)(x->keylen > 64 ? 64 : x->keylen), x->key,
			    (int)(x->prev.len > 64 ? 64 : x->prev.len), x->prev.p);
			*status = RF_EXIT_DATA;
			return 0;
		}
		return 1;
	}
	return rc;
}

/* Writes a record out, and adds it to the output's digest for -o. */
static int
emit(const char *p, size_t n, rf_err *e)
{
	int rc;

	if ((rc = rf_out_write(out, p, n, e)) < 0 ||
	    (rc = rf_out_write(out, "\n", 1, e)) < 0)
		return rc;
	if (outpath != NULL) {
		unsigned char d[RF_SHA256_LEN];
		sel.canon.len = 0;
		if (rf_json_canon(p, n, &sel.canon, e) == 0) {
			rf_sha256_once(sel.h, sel.canon.p, sel.canon.len, d);
			rf_dsum_add_digest(&outsum, d);
		}
	}
	run.records_out++;
	return 0;
}

/* At a file's end: what was read must be what was checked. */
static void
finish_src(struct src *x, int *status)
{
	unsigned char d[RF_SHA256_LEN];

	rf_reader_sha256(x->r, d);
	run.bytes_in += rf_reader_pos(x->r);
	rf_reader_close(x->r);
	x->r = NULL;
	if (*status == RF_EXIT_OK && memcmp(d, x->f->sha256, sizeof d) != 0) {
		rf_warnx("%s: changed while it was being read", x->path);
		*status = RF_EXIT_CHECK;
	}
}

/* Heap order: by key, then by file, so equal keys keep file order. */
static bool
before(const struct src *a, const struct src *b)
{
	int c = rf_json_cmp(a->key, a->keylen, b->key, b->keylen);

	return c != 0 ? c < 0 : a < b;
}

static void
sift(struct src **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && before(h[l], h[m]))
			m = l;
		if (l + 1 < n && before(h[l + 1], h[m]))
			m = l + 1;
		if (m == i)
			return;
		struct src *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/*
 * --merge-by: every file is checked before any record is written, then
 * all are read at once, the smallest key first.  Each file must be in
 * order itself; that is checked as it is read.
 */
static int
merge(int *status, rf_err *e)
{
	struct src **h;
	size_t n = 0;
	struct rlimit rl;
	int rc = 0;

	for (size_t i = 0; i < nsrc && *status == RF_EXIT_OK; i++)
		if ((rc = check_file(&srcs[i], status, e)) < 0)
			return rc;
	if (*status != RF_EXIT_OK)
		return 0;
	/* One descriptor per file: take what the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((h = calloc(nsrc ? nsrc : 1, sizeof *h)) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	for (size_t i = 0; i < nsrc; i++) {
		struct src *x = &srcs[i];
		if ((rc = open_src(x, RF_READ_SMALL, e)) < 0) {
			if (errno == EMFILE)
				rc = rf_seterr(e, RF_EIO, "%s: %zu files to merge "
				    "are more than may be open at once (ulimit "
				    "-n); merge fewer with --files", x->shown,
				    nsrc);
			goto out;
		}
		if ((rc = next_record(x, status, e)) < 0 ||
		    *status != RF_EXIT_OK)
			goto out;
		if (rc > 0)
			h[n++] = x;
		else
			finish_src(x, status);
	}
	for (size_t i = n / 2; i-- > 0;)
		sift(h, n, i);
	while (n > 0 && *status == RF_EXIT_OK) {
		struct src *x = h[0];
		if ((rc = emit(x->ln.p, x->ln.len, e)) < 0)
			break;
		x->prev.len = 0;
		if (rf_buf_add(&x->prev, x->key, x->keylen) < 0) {
			rc = rf_seterr(e, RF_ENOMEM, "out of memory");
			break;
		}
		if ((rc = next_record(x, status, e)) < 0)
			break;
		if (rc == 0) {
			if (*status != RF_EXIT_OK)
				break;
			finish_src(x, status);
			h[0] = h[--n];
		}
		sift(h, n, 0);
	}
out:
	free(h);
	return rc < 0 ? rc : 0;
}

int
main(int argc, char *argv[])
{
	enum { OPT_EPOCH = RF_OPT_PROGRAM, OPT_FILES,
		OPT_FROM, OPT_MERGE, OPT_SAMPLE, OPT_SHARD, OPT_TIME, OPT_TO };
	static const struct option longopts[] = {
		{ "epoch", required_argument, NULL, OPT_EPOCH },
		{ "files", required_argument, NULL, OPT_FILES },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "help", no_argument, NULL, 'h' },
		{ "key", required_argument, NULL, 'k' },
		{ "merge-by", required_argument, NULL, OPT_MERGE },
		{ "output", required_argument, NULL, 'o' },
		{ "sample", required_argument, NULL, OPT_SAMPLE },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "time", required_argument, NULL, OPT_TIME },
		{ "to", required_argument, NULL, OPT_TO },
		{ "trusted", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "gzip", no_argument, NULL, 'z' },
		RF_RUN_FIGURE_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	char dir[PATH_MAX], *end;
	rf_trusted trusted;
	bool have_trusted = false;
	rf_store *s = NULL;
	rf_manifest m = { 0 };
	rf_prov_input *inputs = NULL;
	rf_err e;
	uint32_t v = 0;
	double start = rf_now();
	int ch, rc, status = RF_EXIT_OK;

	int oargc = argc;
	char **oargv = argv;

	rf_run_init(&run, "refill-replay");
	while ((ch = getopt_long(argc, argv, "hk:o:qt:Vz", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_EPOCH:
			if ((epoch_unit = rf_parse_epoch(optarg)) < 0) {
				rf_warnx("--epoch: not s or ms: %s", optarg);
				return RF_EXIT_USAGE;
			}
			break;
		case OPT_FILES: {
			char **n = realloc(globs, (nglobs + 1) * sizeof *n);
			if (n == NULL)
				return RF_EXIT_IO;
			globs = n;
			globs[nglobs++] = optarg;
			break;
		}
		case OPT_FROM:
		case OPT_TO: {
			int64_t t;
			if (rf_parse_rfc3339(optarg, strlen(optarg), &t) < 0) {
				rf_warnx("--%s %s: not an RFC 3339 date or "
				    "date-time", ch == OPT_FROM ? "from" : "to",
				    optarg);
				return RF_EXIT_USAGE;
			}
			if (ch == OPT_FROM) {
				t_from = t;
				have_from = true;
			} else {
				t_to = t;
				have_to = true;
			}
			break;
		}
		case 'h':
			usage(RF_EXIT_OK);
		case 'k':
		case OPT_MERGE:
		case OPT_TIME: {
			rf_path **pp = ch == 'k' ? &keypath : ch == OPT_MERGE ?
			    &mergepath : &timepath;
			rf_path_free(*pp);
			if (rf_path_compile(optarg, pp, &e) < 0) {
				rf_warnx("--%s: %s", ch == 'k' ? "key" :
				    ch == OPT_MERGE ? "merge-by" : "time", e.msg);
				return RF_EXIT_USAGE;
			}
			break;
		}
		case 'o':
			outpath = optarg;
			break;
		case OPT_SAMPLE:
			sample = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(sample >= 0 &&
			    sample <= 1)) {
				rf_warnx("--sample %s: not a fraction from 0 to 1",
				    optarg);
				return RF_EXIT_USAGE;
			}
			break;
		case OPT_SHARD: {
			char *slash = strchr(optarg, '/');
			if (slash == NULL)
				shard_n = 0;
			else {
				*slash = '\0';
				if (rf_parse_uint(optarg, 1, UINT32_MAX, &shard_k) < 0 ||
				    rf_parse_uint(slash + 1, 1, UINT32_MAX,
				    &shard_n) < 0)
					shard_n = 0;
				*slash = '/';
			}
			if (shard_n == 0 || shard_k > shard_n) {
				rf_warnx("--shard %s: not K/N with 1 <= K <= N",
				    optarg);
				return RF_EXIT_USAGE;
			}
			break;
		}
		case 't':
			trustfile = optarg;
			break;
		case 'V':
			return rf_print_version();
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
	if (argc != 1)
		usage(RF_EXIT_USAGE);
	if ((have_from || have_to || epoch_unit != 0) != (timepath != NULL)) {
		rf_warnx(timepath != NULL ? "--time needs --from or --to" :
		    "--from, --to and --epoch need --time");
		usage(RF_EXIT_USAGE);
	}
	if (outpath != NULL) {
		char pp[PATH_MAX];
		/* The stamp goes beside the file: it must be a file. */
		if (strncmp(outpath, "/dev/", 5) == 0) {
			rf_warnx("-o %s: not a regular file (FILE.prov goes beside "
			    "it); leave out -o for standard output", outpath);
			return RF_EXIT_USAGE;
		}
		snprintf(pp, sizeof pp, "%s.prov", outpath);
		if (rf_out_check(outpath, &e) < 0 || rf_out_check(pp, &e) < 0) {
			rf_warnx("%s", e.msg);
			return RF_EXIT_USAGE;
		}
	}
	if (sample >= 0 && keypath == NULL) {
		rf_warnx("--sample needs --key");
		usage(RF_EXIT_USAGE);
	}
	if (keypath != NULL && sample < 0 && shard_n == 0) {
		rf_warnx("--key goes with --sample or --shard");
		usage(RF_EXIT_USAGE);
	}
	if (zflag && outpath == NULL) {
		rf_warnx("-z needs -o");
		usage(RF_EXIT_USAGE);
	}

	if (rf_dataset_arg(argv[0], dir, sizeof dir, &v, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_USAGE;
	}
	for (size_t k = strlen(dir); k > 1 && dir[k - 1] == '/'; k--)
		dir[k - 1] = '\0';
	if ((rc = rf_trusted_default(trustfile, &trusted, &e)) < 0) {
		rf_warnx("%s", e.msg);
		return rf_status(rc);
	}
	have_trusted = rc == 1;
	if ((status = rf_run_start(&run, 0, NULL)) != RF_EXIT_OK)
		goto done;
	rf_cleanup_install();
	if ((rc = rf_store_open(dir, 0, have_trusted ? &trusted : NULL, &s,
	    NULL, &e)) < 0)
		goto fail;
	/* The log's current version is read; the link is only reported. */
	if (v == 0 && rf_store_check_pointer(s, &e) < 0)
		rf_warnx("%s", e.msg);
	if (v == 0 && (v = s->current) == 0) {
		rf_warnx("%s: no current version", dir);
		status = RF_EXIT_USAGE;
		goto done;
	}
	if (!rf_store_committed(s, v)) {
		rf_warnx("%s: no version %06u", dir, (unsigned)v);
		status = RF_EXIT_USAGE;
		goto done;
	}
	if ((rc = rf_store_load(s, v, have_trusted ? &trusted : NULL, &m,
	    &e)) < 0)
		goto fail;
	if (outpath != NULL) {
		int level = zflag || (strlen(outpath) > 3 &&
		    strcmp(outpath + strlen(outpath) - 3, ".gz") == 0) ? 6 : -1;
		if ((rc = rf_out_create(outpath, level, &out, &e)) < 0)
			goto fail;
	} else if ((rc = rf_out_fd(STDOUT_FILENO, "stdout", -1, &out,
	    &e)) < 0)
		goto fail;
	if ((inputs = calloc(m.n ? m.n : 1, sizeof *inputs)) == NULL ||
	    (sel.h = rf_sha256_new()) == NULL) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	rf_dsum_init(&outsum);
	if ((srcs = calloc(m.n ? m.n : 1, sizeof *srcs)) == NULL) {
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
		goto fail;
	}
	/* The files: by name, then whole files dealt to shards in turn. */
	size_t fileno = 0;
	for (size_t i = 0; i < m.n; i++) {
		const rf_mfile *f = &m.f[i];
		char p[PATH_MAX], shown[PATH_MAX];
		bool match = nglobs == 0;

		for (size_t g = 0; g < nglobs && !match; g++)
			match = fnmatch(globs[g], f->name, FNM_PATHNAME) == 0;
		if (!match)
			continue;
		if (shard_n > 0 && keypath == NULL &&
		    fileno++ % shard_n != shard_k - 1)
			continue;
		if (rf_version_path(s, v, f->name, p) < 0 ||
		    snprintf(shown, sizeof shown, "%s@%06u/%s", dir, (unsigned)v,
		    f->name) >= (int)sizeof shown) {
			rc = rf_seterr(&e, RF_EUSAGE, "%s: path too long",
			    f->name);
			goto fail;
		}
		srcs[nsrc].f = f;
		run.bytes_total += f->size;
		if ((srcs[nsrc].path = strdup(p)) == NULL ||
		    (srcs[nsrc++].shown = strdup(shown)) == NULL) {
			rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
			goto fail;
		}
	}
	rc = 0;
	if (mergepath != NULL)
		rc = merge(&status, &e);
	else
		for (size_t i = 0; rc == 0 && i < nsrc && status == RF_EXIT_OK;
		    i++) {
			struct src *x = &srcs[i];
			/* The whole file is checked before any of it is written. */
			if ((rc = check_file(x, &status, &e)) < 0 ||
			    status != RF_EXIT_OK ||
			    (rc = open_src(x, 0, &e)) < 0)
				break;
			while ((rc = next_record(x, &status, &e)) > 0)
				if ((rc = emit(x->ln.p, x->ln.len, &e)) < 0)
					break;
			if (rc == 0 && status == RF_EXIT_OK)
				finish_src(x, &status);
		}
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < nsrc && status == RF_EXIT_OK; i++) {
		inputs[i].path = srcs[i].shown;
		memcpy(inputs[i].sha256, srcs[i].f->sha256, RF_SHA256_LEN);
		inputs[i].records = srcs[i].recs;
	}
	if (status != RF_EXIT_OK && outpath != NULL) {
		/* No file at all rather than a partial one. */
		rf_out_abort(out);
		out = NULL;
		rf_run_abort(&run);
		goto done;
	}
	rf_stat extra[] = {
		{ "files_read", "Files read, each checked against the signed "
		    "manifest first.", nsrc },
		{ "dataset_version", "The number of the dataset version.", v },
	};
	if (outpath == NULL) {
		/* A stream keeps the files that were checked before the bad one. */
		if ((rc = rf_out_commit(out, &e)) < 0)
			goto fail;
		if (status == RF_EXIT_OK)
			status = rf_run_finish(&run, extra,
			    sizeof extra / sizeof extra[0]);
		else
			rf_run_abort(&run);
	} else {
		char pp[PATH_MAX];
		if ((rc = rf_out_finish(out, &e)) < 0)
			goto fail;
		rf_prov pv = {
			.program = "refill-replay", .argc = oargc, .argv = oargv,
			.inputs = inputs, .ninputs = nsrc, .output = outpath,
			.out_bytes = rf_out_bytes(out), .out_digest = outsum,
			/* in = out + quarantined: what the selection let in. */
			.records_in = run.records_out, .quarantined = 0,
			.start = start, .end = rf_now()
		};
		rf_buf pb = { 0 };
		rf_out *po = NULL;
		rf_out_sha256(out, pv.out_sha256);
		snprintf(pp, sizeof pp, "%s.prov", outpath);
		/* Both durable first; then the file, then its stamp. */
		if ((rc = rf_prov_format(&pv, &pb, &e)) == 0)
			rc = rf_out_prepare(pp, pb.p, pb.len, &po, &e);
		rf_buf_free(&pb);
		if (rc < 0)
			goto fail;
		/* Then --stats and --metrics: all or nothing. */
		if ((status = rf_run_prepare(&run, extra,
		    sizeof extra / sizeof extra[0])) != RF_EXIT_OK) {
			rf_out_abort(po);
			rf_out_abort(out);
			out = NULL;
			rf_run_abort(&run);
			goto done;
		}
		/*
		 * The old stamp goes first, so that no stamp ever describes
		 * other bytes than its file's, even after a crash; and a
		 * failure from here on leaves neither the file nor its stamp.
		 */
		if (unlink(pp) < 0 && errno != ENOENT) {
			rc = rf_seterr(&e, RF_EIO, "%s: %s", pp, strerror(errno));
			rf_out_abort(po);
			goto fail;
		}
		if ((rc = rf_out_commit(out, &e)) == 0) {
			rc = rf_out_commit(po, &e);
			rf_out_free(po);
			po = NULL;
		}
		if (rc < 0 || (status = rf_run_publish(&run)) != RF_EXIT_OK) {
			struct stat sb;
			rf_out_abort(po);
			unlink(pp);
			/* Not a FIFO, which is written in place. */
			if (lstat(outpath, &sb) == 0 && S_ISREG(sb.st_mode))
				unlink(outpath);
			if (rc < 0)
				goto fail;
			rf_out_free(out);
			out = NULL;
			goto done;
		}
	}
	rf_out_free(out);
	out = NULL;
	if (run.progress >= 0 && status == RF_EXIT_OK)
		rf_warnx("%s@%06u: %llu of %llu records", dir, (unsigned)v,
		    (unsigned long long)run.records_out,
		    (unsigned long long)run.records_in);
	goto done;
fail:
	rf_warnx("%s", e.msg);
	status = rf_status(rc);
	rf_run_abort(&run);
	if (out != NULL && outpath == NULL) {
		/* What was written came from checked files: let it out. */
		rf_out_commit(out, &e);
		rf_out_free(out);
		out = NULL;
	} else if (out != NULL) {
		rf_out_abort(out);
		out = NULL;
	}
done:
	for (size_t i = 0; i < nsrc; i++) {
		rf_reader_close(srcs[i].r);
		free(srcs[i].path);
		free(srcs[i].shown);
		rf_buf_free(&srcs[i].prev);
	}
	free(srcs);
	free(inputs);
	rf_buf_free(&sel.canon);
	rf_sha256_free(sel.h);
	rf_manifest_free(&m);
	rf_store_close(s);
	if (have_trusted)
		rf_trusted_free(&trusted);
	rf_path_free(keypath);
	rf_path_free(mergepath);
	rf_path_free(timepath);
	free(globs);
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}
