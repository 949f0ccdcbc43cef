/*
 * refill-hash: canonical digests of NDJSON records, per record, per file
 * and per dataset; a check mode that reads its own output back; and the
 * inferred schema of the records.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refill.h"

enum mode { SUMS, RECORDS, CANONICAL, SCHEMA };
enum { OPT_SCHEMA = RF_OPT_PROGRAM, OPT_MAX_FIELDS, OPT_MAX_VALUES };

static rf_run run;
static enum mode mode = SUMS;
static rf_path *key;
static rf_schema *schema;	/* --schema: what the batches found, merged */
static size_t max_fields = RF_SCHEMA_FIELDS_DEFAULT;
static size_t max_values = RF_SCHEMA_VALUES_DEFAULT;

static _Noreturn void
usage(int status)
{
	fprintf(status == RF_EXIT_OK ? stdout : stderr, "usage: refill-hash [-Cqrt] [--bad file] [-c file] "
	    "[-k path] [--max-line size]\n"
	    "                   [--metrics file] [--progress] [--stats file] [file ...]\n"
	    "       refill-hash --schema [-q] [--bad file] [--max-fields n] "
	    "[--max-line size]\n"
	    "                   [--max-values n] [--metrics file] [--progress] "
	    "[--stats file]\n"
	    "                   [file ...]\n");
	exit(status == RF_EXIT_OK ? rf_close_stdout() : status);
}

/*
 * A batch of records and what the workers made of them: the sum of the
 * good records' digests, what to print for each (its digest in hex, or its
 * canonical text, or nothing), or why it is bad.
 */
struct hbatch {
	rf_batch b;
	rf_sha256 *sha;
	rf_dsum sum;
	size_t *end;		/* where each record's output ends in out */
	int *bad;		/* offset of the reason in why, or -1 */
	rf_buf out, why;
	rf_schema *schema;	/* --schema: this batch's records */
	bool nomem;		/* the batch could not be finished */
};

#define NBATCH 8	/* batches in flight: enough to keep the pool busy */

static rf_pool *pool;
static struct hbatch batches[NBATCH];
static rf_batch *ring[NBATCH];

static void
hash_work(rf_task *t)
{
	struct hbatch *hb = (struct hbatch *)t;
	rf_batch *b = &hb->b;
	rf_err e;

	hb->out.len = hb->why.len = 0;
	hb->nomem = false;
	rf_dsum_init(&hb->sum);
	for (size_t i = 0; i < b->n; i++) {
		const char *p = b->text.p + b->line[i].off, *v = p;
		size_t len = b->line[i].len, vlen = len, mark = hb->out.len;
		int rc = 0;

		hb->bad[i] = -1;
		if (mode == SCHEMA) {
			if ((rc = rf_json_validate(p, len, &e)) == 0 &&
			    (rc = rf_schema_add(hb->schema, p, len)) < 0) {
				hb->nomem = true;
				return;
			}
		} else if (key != NULL && (rc = rf_json_validate(p, len, &e)) == 0 &&
		    (rc = rf_json_get(p, len, key, &v, &vlen)) < 0)
			snprintf(e.msg, sizeof e.msg, "missing key %s",
			    rf_path_spec(key));
		if (rc == 0 && mode != SCHEMA)
			rc = rf_json_canon(v, vlen, &hb->out, &e);
		if (rc < 0) {
			hb->bad[i] = (int)hb->why.len;
			if (rc == RF_ENOMEM ||
			    rf_buf_add(&hb->why, e.msg, strlen(e.msg) + 1) < 0) {
				hb->nomem = true;
				return;
			}
			continue;
		}
		if (mode == SCHEMA) {
			hb->end[i] = hb->out.len;
			continue;
		}
		if (mode == CANONICAL) {
			if (rf_buf_addc(&hb->out, '\n') < 0) {
				hb->nomem = true;
				return;
			}
			hb->end[i] = hb->out.len;
			continue;
		}
		unsigned char d[RF_SHA256_LEN];
		rf_sha256_once(hb->sha, hb->out.p + mark, hb->out.len - mark, d);
		rf_dsum_add_digest(&hb->sum, d);
		hb->out.len = mark;
		if (mode == RECORDS) {
			if (rf_buf_reserve(&hb->out, 2 * RF_SHA256_LEN + 1) < 0) {
				hb->nomem = true;
				return;
			}
			rf_hex(d, RF_SHA256_LEN, hb->out.p + mark);
			hb->out.p[mark + 2 * RF_SHA256_LEN] = '\n';
			hb->out.len += 2 * RF_SHA256_LEN + 1;
		}
		hb->end[i] = hb->out.len;
	}
}

/* Runs on the main thread, in input order. */
static int
hash_deliver(rf_batch *b, void *arg)
{
	struct hbatch *hb = (struct hbatch *)b;
	size_t from = 0, to = 0;	/* output not yet written */
	int status;

	if (hb->nomem) {
		rf_warnx("%s: out of memory", b->file);
		return RF_EXIT_IO;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (hb->bad[i] < 0) {
			run.records_out++;
			to = hb->end[i];
			continue;
		}
		/* --schema writes nothing: no buffer to offset. */
		if (to > from)
			fwrite(hb->out.p + from, 1, to - from, stdout);
		from = to;
		status = rf_run_bad(&run, b->file, b->line[i].lineno,
		    b->text.p + b->line[i].off, b->line[i].len,
		    hb->why.p + hb->bad[i]);
		if (status != RF_EXIT_OK)
			return status;
	}
	if (to > from)
		fwrite(hb->out.p + from, 1, to - from, stdout);
	rf_dsum_merge(arg, &hb->sum);
	if (mode == SCHEMA) {
		int rc = rf_schema_merge(schema, hb->schema);
		rf_schema_clear(hb->schema);
		if (rc < 0) {
			rf_warnx("%s: out of memory", b->file);
			return RF_EXIT_IO;
		}
	}
	/* A closed pipe or a full disk stops the work early. */
	return ferror(stdout) ? RF_EXIT_IO : RF_EXIT_OK;
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
		struct hbatch *hb = &batches[i];
		size_t n = RF_BATCH_LINES;
		hb->b.task.fn = hash_work;
		hb->sha = rf_sha256_new();
		hb->end = malloc(n * sizeof *hb->end);
		hb->bad = malloc(n * sizeof *hb->bad);
		/*
		 * A batch keeps every path it meets (as many as its bytes
		 * can hold): the bound applies as batches are merged, in
		 * input order, so a path is counted from its first value
		 * or not at all, however the work was shared.
		 */
		if (mode == SCHEMA && rf_schema_new(SIZE_MAX, max_values,
		    &hb->schema, &e) < 0)
			hb->bad = NULL;
		if (hb->sha == NULL || hb->end == NULL || hb->bad == NULL) {
			rf_warnx("out of memory");
			return RF_EXIT_IO;
		}
		ring[i] = &hb->b;
	}
	return RF_EXIT_OK;
}

static void
free_batches(void)
{
	rf_pool_free(pool);
	for (int i = 0; i < NBATCH; i++) {
		struct hbatch *hb = &batches[i];
		rf_batch_free(&hb->b);
		rf_sha256_free(hb->sha);
		free(hb->end);
		free(hb->bad);
		rf_schema_free(hb->schema);
		rf_buf_free(&hb->out);
		rf_buf_free(&hb->why);
	}
}

/*
 * Digests (or canonicalises) every record of one input into sum.  Returns
 * an exit status; on a bad record without --bad it stops at once.
 */
static int
hash_file(const char *name, rf_dsum *sum)
{
	rf_reader *r;
	rf_err e;
	int status;

	rf_dsum_init(sum);
	if (rf_reader_open(name, run.max_line, 0, &r, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	status = rf_run_batches(&run, r, pool, ring, NBATCH, hash_deliver, sum);
	run.bytes_in += rf_reader_pos(r);
	rf_reader_close(r);
	return status;
}

static void
print_sum(const rf_dsum *s, const char *name)
{
	char hex[65];

	rf_dsum_hex(s, hex);
	printf("%s  %llu  %s\n", hex, (unsigned long long)s->count, name);
}

/* Keeps the worst status: I/O beats bad data beats a failed check. */
static int
worse(int a, int b)
{
	static const int rank[] = { 0, 1, 0, 2, 3, 0 };

	return rank[b] > rank[a] ? b : a;
}

/*
 * Parses "DIGEST  COUNT  NAME".  NAME is everything after the second
 * separator, so names with spaces work.
 */
static int
parse_line(const char *p, size_t n, rf_dsum *want, char **name)
{
	const char *q, *end = p + n;
	char num[24];
	uint64_t count;

	if (n < 64 + 2 + 1 + 2 + 1 || memcmp(p + 64, "  ", 2) != 0)
		return -1;
	q = memchr(p + 66, ' ', end - (p + 66));
	if (q == NULL || q - (p + 66) >= (ptrdiff_t)sizeof num ||
	    end - q < 3 || q[1] != ' ')
		return -1;
	memcpy(num, p + 66, q - (p + 66));
	num[q - (p + 66)] = '\0';
	if (rf_parse_uint(num, 0, UINT64_MAX, &count) < 0 ||
	    rf_dsum_parse(p, 64, count, want) < 0 ||
	    memchr(q + 2, '\0', end - (q + 2)) != NULL)
		return -1;
	if ((*name = strndup(q + 2, end - (q + 2))) == NULL)
		return -1;
	return 0;
}

static int
check(const char *file)
{
	rf_reader *r;
	rf_line ln;
	rf_err e;
	rf_dsum want, got, total;
	/* What the closing warnings count: each a kind of line printed. */
	uint64_t nlines = 0, lines = 0, malformed = 0, unread = 0, failed = 0;
	int rc, status = RF_EXIT_OK;

	rf_dsum_init(&total);
	if (rf_reader_open(file, RF_MAX_LINE_DEFAULT, 0, &r, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	while ((rc = rf_reader_next(r, &ln, &e)) > 0) {
		char *name;
		int st;

		if (rf_blank(ln.p, ln.len))
			continue;
		if (parse_line(ln.p, ln.len, &want, &name) < 0) {
			rf_warnx("%s:%llu: malformed line", file,
			    (unsigned long long)ln.lineno);
			malformed++;
			status = worse(status, RF_EXIT_DATA);
			continue;
		}
		nlines++;
		if (strcmp(name, "total") == 0 && lines > 0) {
			got = total;
			st = RF_EXIT_OK;
		} else {
			lines++;
			st = hash_file(name, &got);
			rf_dsum_merge(&total, &got);
		}
		if (st == RF_EXIT_IO) {
			printf("%s: FAILED open or read\n", name);
			unread++;
		} else if (st != RF_EXIT_OK || !rf_dsum_equal(&got, &want)) {
			printf("%s: FAILED\n", name);
			failed++;
			if (st == RF_EXIT_OK)
				st = RF_EXIT_CHECK;
		} else
			printf("%s: OK\n", name);
		status = worse(status, st);
		free(name);
	}
	if (rc < 0) {
		rf_warnx("%s", e.msg);
		status = worse(status, rf_status(rc));
	}
	rf_reader_close(r);
	/* The order and words of sha256sum -c, which users know. */
	fflush(stdout);
	if (nlines == 0 && rc == 0) {
		rf_warnx("%s: no properly formatted lines found", file);
		status = worse(status, RF_EXIT_DATA);
	} else if (malformed > 0)
		rf_warnx("WARNING: %llu line%s improperly formatted",
		    (unsigned long long)malformed,
		    malformed == 1 ? " is" : "s are");
	if (unread > 0)
		rf_warnx("WARNING: %llu listed file%s could not be read",
		    (unsigned long long)unread, unread == 1 ? "" : "s");
	if (failed > 0)
		rf_warnx("WARNING: %llu computed digest%s did NOT match",
		    (unsigned long long)failed, failed == 1 ? "" : "s");
	return status;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "canonical", no_argument, NULL, 'C' },
		{ "check", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "max-fields", required_argument, NULL, OPT_MAX_FIELDS },
		{ "max-values", required_argument, NULL, OPT_MAX_VALUES },
		{ "records", no_argument, NULL, 'r' },
		{ "schema", no_argument, NULL, OPT_SCHEMA },
		{ "total", no_argument, NULL, 't' },
		RF_RUN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char *stdin_only[] = { "-", NULL };
	const char *checkfile = NULL;
	bool Cflag = false, rflag = false, total = false, sflag = false;
	uint64_t u;
	rf_dsum sum, all;
	rf_err e;
	int ch, rc, status;

	rf_run_init(&run, "refill-hash");
	while ((ch = getopt_long(argc, argv, "Cc:hk:qrtV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'C':
			Cflag = true;
			break;
		case 'c':
			checkfile = optarg;
			break;
		case 'h':
			usage(RF_EXIT_OK);
		case 'k':
			rf_path_free(key);
			if (rf_path_compile(optarg, &key, &e) < 0) {
				rf_warnx("--key: %s", e.msg);
				return RF_EXIT_USAGE;
			}
			break;
		case 'r':
			rflag = true;
			break;
		case 't':
			total = true;
			break;
		case 'V':
			return rf_print_version();
		case OPT_MAX_FIELDS:
		case OPT_MAX_VALUES:
			if (rf_parse_uint(optarg, ch == OPT_MAX_FIELDS, 1000000,
			    &u) < 0) {
				rf_warnx("--%s: %s: not a number from %d to "
				    "1000000", ch == OPT_MAX_FIELDS ?
				    "max-fields" : "max-values", optarg,
				    ch == OPT_MAX_FIELDS);
				return RF_EXIT_USAGE;
			}
			*(ch == OPT_MAX_FIELDS ? &max_fields : &max_values) = u;
			break;
		case OPT_SCHEMA:
			sflag = true;
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

	if (Cflag && rflag) {
		rf_warnx("-C and -r exclude each other");
		usage(RF_EXIT_USAGE);
	}
	mode = Cflag ? CANONICAL : rflag ? RECORDS : SUMS;
	if (sflag && (mode != SUMS || total || key != NULL ||
	    checkfile != NULL)) {
		rf_warnx("--schema takes no -C, -c, -k, -r or -t");
		usage(RF_EXIT_USAGE);
	}
	if (sflag)
		mode = SCHEMA;
	else if (max_fields != RF_SCHEMA_FIELDS_DEFAULT ||
	    max_values != RF_SCHEMA_VALUES_DEFAULT) {
		rf_warnx("--max-fields and --max-values apply to --schema only");
		usage(RF_EXIT_USAGE);
	}

	if (checkfile != NULL && (mode != SUMS || total || argc > 0)) {
		rf_warnx("--check takes no file operands and no -C, -r or -t");
		usage(RF_EXIT_USAGE);
	}
	if (total && mode != SUMS) {
		rf_warnx("--total applies to dataset digests only");
		usage(RF_EXIT_USAGE);
	}
	if (argc == 0) {
		argc = 1;
		argv = stdin_only;
	}
	/* The --bad, --stats and --metrics temporaries go on a signal. */
	rf_cleanup_install();
	if ((status = rf_run_start(&run, argc, argv)) != RF_EXIT_OK)
		return status;
	if ((status = setup_batches()) != RF_EXIT_OK)
		return status;
	/*
	 * Digests are one stream of small writes: batch them, unless someone
	 * watches --check report file by file, or a terminal shows them.
	 */
	if (checkfile != NULL)
		setvbuf(stdout, NULL, _IOLBF, 0);
	else if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	if (mode == SCHEMA && rf_schema_new(max_fields, max_values, &schema,
	    &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	if (checkfile != NULL)
		status = check(checkfile);
	else {
		rf_dsum_init(&all);
		for (int i = 0; i < argc; i++) {
			int st = hash_file(argv[i], &sum);
			if (st == RF_EXIT_DATA) {
				status = worse(status, st);
				break;
			}
			status = worse(status, st);
			if (st != RF_EXIT_OK)
				continue;
			rf_dsum_merge(&all, &sum);
			if (mode == SUMS)
				print_sum(&sum, argv[i]);
		}
		if (total && status == RF_EXIT_OK)
			print_sum(&all, "total");
		/* One schema of every input, or none: a failed run's is not. */
		if (mode == SCHEMA && status == RF_EXIT_OK) {
			rf_buf doc = { 0 };
			if (rf_schema_format(schema, &doc, &e) < 0) {
				rf_warnx("%s", e.msg);
				status = RF_EXIT_IO;
			} else
				fwrite(doc.p, 1, doc.len, stdout);
			rf_buf_free(&doc);
		}
	}
	if (status == RF_EXIT_IO) {
		/*
		 * An unreadable input does not stop the others, whose digests
		 * were printed: keep what they quarantined.  The figures of a
		 * failed run are not published.
		 */
		run.stats_path = run.metrics_path = NULL;
		rf_run_finish(&run, NULL, 0);
	} else if (status == RF_EXIT_OK || status == RF_EXIT_CHECK) {
		if ((rc = rf_run_finish(&run, NULL, 0)) != RF_EXIT_OK)
			status = rc;
	} else
		rf_run_abort(&run);
	free_batches();
	rf_schema_free(schema);
	rf_path_free(key);
	return worse(status, rf_close_stdout());
}
