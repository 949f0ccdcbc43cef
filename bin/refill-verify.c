/*
 * refill-verify: decides whether a backfill may be published.  diff
 * compares two sides record by record, by key; rules checks records
 * against a rules file; drift compares per-group counts and sums; dataset
 * checks a stored version end to end; compat judges a schema change.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refill.h"

static rf_run run;

/*
 * Writes b, a JSON report built in pieces, in canonical form on one line.
 * Returns an exit status, having said why it is not 0.
 */
static int
print_json(const rf_buf *b)
{
	rf_buf c = { 0 };
	rf_err e;
	int rc;

	if ((rc = rf_json_canon(b->p, b->len, &c, &e)) < 0)
		rf_warnx("%s", e.msg);
	else {
		fwrite(c.p, 1, c.len, stdout);
		putchar('\n');
	}
	rf_buf_free(&c);
	return rc < 0 ? rf_status(rc) : RF_EXIT_OK;
}

/* ---- signed reports: --sign and --report ------------------------------ */

enum { V_REPORT = RF_OPT_PROGRAM + 40, V_SIGN };
#define ATTEST_LONGOPTS \
	{ "report", required_argument, NULL, V_REPORT }, \
	{ "sign", required_argument, NULL, V_SIGN }

/* A dataset version, as a report names it. */
struct vref {
	char dataset[PATH_MAX];
	uint32_t version;
	unsigned char manifest[RF_SHA256_LEN];
};

static struct {
	const char *keypath, *path;
	rf_key *key;
	int argc;			/* the check as given, for the report */
	char **argv;
	unsigned nfound;		/* candidates met: one, for a report */
	struct vref cand;		/* what the report vouches for */
	bool has_rules;
	unsigned char rules[RF_SHA256_LEN];
	bool has_against;		/* diff, drift: OLD, a dataset version */
	struct vref against;
	rf_buf figures;
} att;

static int
attest_opt(int ch, const char *arg)
{
	if (ch == V_REPORT)
		att.path = arg;
	else if (ch == V_SIGN)
		att.keypath = arg;
	else
		return 0;
	return 1;
}

/* After the options: the key is loaded before the check runs. */
static int
attest_start(void)
{
	rf_err e;
	int rc;

	if ((att.path == NULL) != (att.keypath == NULL)) {
		rf_warnx("--sign and --report go together: the key signs the "
		    "report");
		return RF_EXIT_USAGE;
	}
	if (att.path == NULL)
		return RF_EXIT_OK;
	/* Standard output is the check's own, and closed before the report. */
	if (strcmp(att.path, "-") == 0 || rf_out_stdfd(att.path) == 1) {
		rf_warnx("--report %s: the report goes to a file of its own",
		    att.path);
		return RF_EXIT_USAGE;
	}
	if ((rc = rf_out_check(att.path, &e)) < 0 ||
	    (rc = rf_key_load(att.keypath, &att.key, &e)) < 0)
		return rf_fail(rc, &e);
	run.figures = &att.figures;
	return RF_EXIT_OK;
}

static void
vref_set(struct vref *r, const char *dir, uint32_t v,
    const unsigned char manifest[RF_SHA256_LEN])
{
	snprintf(r->dataset, sizeof r->dataset, "%s", dir);
	r->version = v;
	memcpy(r->manifest, manifest, RF_SHA256_LEN);
}

/* The dataset version a report vouches for: the one checked. */
static void
attest_candidate(const char *dir, uint32_t v,
    const unsigned char manifest[RF_SHA256_LEN])
{
	att.nfound++;
	vref_set(&att.cand, dir, v, manifest);
}

static void
addhexm(rf_buf *b, const char *name, const unsigned char sha[RF_SHA256_LEN])
{
	char h[2 * RF_SHA256_LEN + 1];

	rf_hex(sha, RF_SHA256_LEN, h);
	rf_buf_adds(b, ",\"");
	rf_buf_adds(b, name);
	rf_buf_adds(b, "\":\"");
	rf_buf_adds(b, h);
	rf_buf_addc(b, '"');
}

/* The members dataset, manifest and version of r, then a comma. */
static void
addvref(rf_buf *b, const struct vref *r)
{
	char num[32];

	rf_buf_adds(b, "\"dataset\":");
	rf_json_addstr_lossy(b, r->dataset, strlen(r->dataset));
	addhexm(b, "manifest", r->manifest);
	snprintf(num, sizeof num, ",\"version\":%u,", (unsigned)r->version);
	rf_buf_adds(b, num);
}

/*
 * Writes the signed report of a check that ended with status: 0 passed,
 * 1 failed.  Any other status means the check did not finish, and no
 * report is written.  Returns the status to exit with.
 */
static int
attest_finish(int status)
{
	rf_buf b = { 0 }, canon = { 0 }, line = { 0 };
	rf_out *o = NULL;
	char pub[RF_PUBKEY_LEN + 1], t[32], num[128];
	rf_err e;
	int rc;

	if (att.path == NULL || (status != RF_EXIT_OK &&
	    status != RF_EXIT_CHECK))
		goto out;
	if (att.nfound != 1) {
		/* A version whose MANIFEST did not load has nothing to name. */
		rf_warnx("%s: no report: no dataset version's MANIFEST was read",
		    att.path);
		goto out;
	}
	rf_key_public(att.key, pub);
	rf_timestamp(rf_now(), t);
	/* In any order: the report is put in canonical form below. */
	rf_buf_adds(&b, "{");
	addvref(&b, &att.cand);
	if (att.has_against) {
		rf_buf_adds(&b, "\"against\":{");
		addvref(&b, &att.against);
		b.len--;		/* its last comma */
		rf_buf_adds(&b, "},");
	}
	rf_buf_adds(&b, "\"check\":\"");
	rf_buf_adds(&b, run.command);
	rf_buf_adds(&b, "\",\"command\":[");
	for (int i = 0; i < att.argc; i++) {
		if (i > 0)
			rf_buf_addc(&b, ',');
		rf_json_addstr_lossy(&b, att.argv[i], strlen(att.argv[i]));
	}
	rf_buf_adds(&b, "],\"figures\":");
	if (att.figures.len > 0)
		rf_buf_add(&b, att.figures.p, att.figures.len);
	else
		rf_buf_adds(&b, "{}");
	rf_buf_adds(&b, ",\"format\":\"" RF_REPORT_FORMAT "\"");
	rf_buf_adds(&b, status == RF_EXIT_OK ? ",\"passed\":true" :
	    ",\"passed\":false");
	if (att.has_rules)
		addhexm(&b, "rules", att.rules);
	snprintf(num, sizeof num, ",\"signer\":\"%s\",\"status\":%d,", pub,
	    status);
	rf_buf_adds(&b, num);
	snprintf(num, sizeof num, "\"time\":\"%s\"}", t);
	if (rf_buf_adds(&b, num) < 0) {
		rf_warnx("out of memory");
		status = RF_EXIT_IO;
		goto out;
	}
	if ((rc = rf_json_canon(b.p, b.len, &canon, &e)) < 0 ||
	    (rc = rf_report_sign(canon.p, canon.len, att.key, &line, &e)) < 0 ||
	    (rc = rf_out_prepare(att.path, line.p, line.len, &o, &e)) < 0 ||
	    (rc = rf_out_commit(o, &e)) < 0) {
		rf_warnx("%s", e.msg);
		status = RF_EXIT_IO;
	}
	rf_out_free(o);
out:
	rf_buf_free(&b);
	rf_buf_free(&canon);
	rf_buf_free(&line);
	rf_buf_free(&att.figures);
	rf_key_free(att.key);
	return status;
}

static _Noreturn void
usage(int status)
{
	fprintf(status == RF_EXIT_OK ? stdout : stderr,
	    "usage: refill-verify diff [-q] [--abs-tol x] [--bad file] [--emit file] [--full]\n"
	    "                          [--ignore path] [--json] [--max-added n[%%]]\n"
	    "                          [--max-changed n[%%]] [--max-duplicates n[%%]]\n"
	    "                          [--max-line size] [--max-removed n[%%]] [--memory size]\n"
	    "                          [--metrics file] [--progress] [--rel-tol x]\n"
	    "                          [--sign keyfile --report file] [--stats file]\n"
	    "                          [-t trusted] -k path old new\n"
	    "       refill-verify rules [-q] [--bad file] [--examples n] [--json] [--max-line size]\n"
	    "                           [--memory size] [--metrics file] [--progress]\n"
	    "                           [--sign keyfile --report file] [--stats file]\n"
	    "                           [-t trusted] rules [file ...]\n"
	    "       refill-verify drift [-q] [--bad file] [--json] [--max-line size] [--memory size]\n"
	    "                           [--metrics file] [--progress]\n"
	    "                           [--sign keyfile --report file] [--stats file]\n"
	    "                           [--sum path] [-t trusted] [--window hour|day|month]\n"
	    "                           --by path --max-change p%% old new\n"
	    "       refill-verify dataset [-q] [--all] [--json] [--metrics file] [--progress]\n"
	    "                             [--sign keyfile --report file] [--stats file]\n"
	    "                             [-t trusted] dataset[@version]\n"
	    "       refill-verify dataset --audit [-q] [--metrics file] [--progress]\n"
	    "                             [--sign keyfile] [--stats file] [-t trusted] dataset\n"
	    "       refill-verify audit [-q] [-t trusted] file\n"
	    "       refill-verify compat [-q] [--json] [--mode mode] [-t trusted] old new\n");
	exit(status == RF_EXIT_OK ? rf_close_stdout() : status);
}

/* --memory: a size of at least min bytes.  Returns 0, or -1 having said why. */
static int
parse_memory(const char *arg, size_t min, size_t *out)
{
	if (rf_parse_size(arg, out) == 0 && *out >= min)
		return 0;
	if (min >= ((size_t)1 << 20))
		rf_warnx("--memory: invalid size (at least %zuM): %s", min >> 20,
		    arg);
	else
		rf_warnx("--memory: invalid size (at least %zuk): %s", min >> 10,
		    arg);
	return -1;
}


/* ---- rules ---------------------------------------------------------------- */

/*
 * A batch of records and what the workers found in them: the findings of
 * record i end at end[i] in found; a line that is not a record has instead
 * the offset of its reason in why (bad[i] >= 0).
 */
struct rules_batch {
	rf_batch b;
	rf_rules_scratch *sc;
	rf_buf found, why;
	size_t *end;
	int *bad;
	bool nomem;			/* the batch could not be finished */
};

#define RULES_NBATCH 8		/* batches in flight: enough to keep the pool busy */
#define RULES_FILE_MAX ((size_t)16 << 20)

static rf_rules *rules_set;
static rf_rules_state *rules_state;
static rf_pool *rules_pool;
static struct rules_batch rules_batches[RULES_NBATCH];
static rf_batch *rules_ring[RULES_NBATCH];

static void
rules_work(rf_task *t)
{
	struct rules_batch *rb = (struct rules_batch *)t;
	rf_batch *b = &rb->b;
	rf_err e;

	rb->found.len = rb->why.len = 0;
	rb->nomem = false;
	for (size_t i = 0; i < b->n; i++) {
		const char *p = b->text.p + b->line[i].off;
		size_t len = b->line[i].len;
		int rc;

		rb->bad[i] = -1;
		if ((rc = rf_json_validate(p, len, &e)) == 0)
			rc = rf_rules_check(rules_set, rb->sc, p, len,
			    &rb->found, &e);
		if (rc == RF_ENOMEM) {
			rb->nomem = true;
			return;
		}
		if (rc < 0) {
			rb->bad[i] = (int)rb->why.len;
			if (rf_buf_add(&rb->why, e.msg, strlen(e.msg) + 1) < 0) {
				rb->nomem = true;
				return;
			}
		}
		rb->end[i] = rb->found.len;
	}
}

/* Runs on the main thread, in input order. */
static int
rules_deliver(rf_batch *b, void *arg)
{
	struct rules_batch *rb = (struct rules_batch *)b;
	size_t from = 0;
	rf_err e;
	int rc, status;

	(void)arg;
	if (rb->nomem) {
		rf_warnx("%s: out of memory", b->file);
		return RF_EXIT_IO;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (rb->bad[i] >= 0) {
			status = rf_run_bad(&run, b->file, b->line[i].lineno,
			    b->text.p + b->line[i].off, b->line[i].len,
			    rb->why.p + rb->bad[i]);
			if (status != RF_EXIT_OK)
				return status;
			continue;
		}
		if ((rc = rf_rules_feed(rules_state, rb->end[i] > from ?
		    rb->found.p + from : NULL, rb->end[i] - from, b->file,
		    b->line[i].lineno, &e)) < 0) {
			rf_warnx("%s", e.msg);
			return rf_status(rc);
		}
		from = rb->end[i];
		run.records_out++;
	}
	return RF_EXIT_OK;
}

static int
rules_setup(void)
{
	rf_err e;

	if (rf_pool_new(0, &rules_pool, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	for (int i = 0; i < RULES_NBATCH; i++) {
		struct rules_batch *rb = &rules_batches[i];
		rb->b.task.fn = rules_work;
		rb->end = malloc(RF_BATCH_LINES * sizeof *rb->end);
		rb->bad = malloc(RF_BATCH_LINES * sizeof *rb->bad);
		if (rb->end == NULL || rb->bad == NULL) {
			rf_warnx("out of memory");
			return RF_EXIT_IO;
		}
		if (rf_rules_scratch_new(rules_set, &rb->sc, &e) < 0) {
			rf_warnx("%s", e.msg);
			return RF_EXIT_IO;
		}
		rules_ring[i] = &rb->b;
	}
	return RF_EXIT_OK;
}

static void
rules_teardown(void)
{
	if (rules_pool != NULL)
		rf_pool_free(rules_pool);
	for (int i = 0; i < RULES_NBATCH; i++) {
		struct rules_batch *rb = &rules_batches[i];
		rf_batch_free(&rb->b);
		rf_rules_scratch_free(rb->sc);
		free(rb->end);
		free(rb->bad);
		rf_buf_free(&rb->found);
		rf_buf_free(&rb->why);
	}
	rf_rules_state_free(rules_state);
	rf_rules_free(rules_set);
}

/* Reads the rules file whole; "-" is standard input. */
static int
rules_read(const char *path, rf_buf *out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char tmp[65536];
	size_t k;
	int status = RF_EXIT_OK;

	if (f == NULL) {
		rf_warnx("%s: %s", path, strerror(errno));
		return RF_EXIT_IO;
	}
	while (status == RF_EXIT_OK && (k = fread(tmp, 1, sizeof tmp, f)) > 0) {
		if (out->len + k > RULES_FILE_MAX) {
			rf_warnx("%s: a rules file of more than 16M", path);
			status = RF_EXIT_USAGE;
		} else if (rf_buf_add(out, tmp, k) < 0) {
			rf_warnx("out of memory");
			status = RF_EXIT_IO;
		}
	}
	if (status == RF_EXIT_OK && ferror(f)) {
		rf_warnx("%s: %s", path, strerror(errno));
		status = RF_EXIT_IO;
	}
	if (f != stdin)
		fclose(f);
	return status;
}

static int
rules_input(const char *name)
{
	rf_reader *r;
	rf_err e;
	int status;

	if (rf_reader_open(name, run.max_line, 0, &r, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	status = rf_run_batches(&run, r, rules_pool, rules_ring, RULES_NBATCH,
	    rules_deliver, NULL);
	run.bytes_in += rf_reader_pos(r);
	rf_reader_close(r);
	return status;
}

static int
rules_addnum(rf_buf *b, const char *member, uint64_t v)
{
	char num[64];

	snprintf(num, sizeof num, "\"%s\":%llu", member, (unsigned long long)v);
	return rf_buf_adds(b, num);
}

/* One canonical JSON object: members are written in sorted order. */
static int
rules_json(rf_buf *b, size_t nbroken)
{
	bool nomem = false;

	nomem |= rf_buf_addc(b, '{') < 0;
	nomem |= rules_addnum(b, "broken", nbroken) < 0;
	nomem |= rf_buf_addc(b, ',') < 0;
	nomem |= rules_addnum(b, "records", rf_rules_records(rules_state)) < 0;
	nomem |= rf_buf_adds(b, ",\"rules\":[") < 0;
	for (size_t i = 0; i < rf_rules_count(rules_set); i++) {
		rf_rule_result r;
		rf_rules_result(rules_state, i, &r);
		nomem |= rf_buf_adds(b, i > 0 ? ",{" : "{") < 0;
		nomem |= rules_addnum(b, "applies", r.applies) < 0;
		nomem |= rf_buf_addc(b, ',') < 0;
		nomem |= rules_addnum(b, "broken", r.broken) < 0;
		nomem |= rf_buf_adds(b, ",\"examples\":[") < 0;
		for (size_t k = 0; k < r.nexamples; k++) {
			const rf_rule_example *x = &r.examples[k];
			nomem |= rf_buf_adds(b, k > 0 ? ",{\"file\":" :
			    "{\"file\":") < 0;
			nomem |= rf_json_addstr_lossy(b, x->file,
			    strlen(x->file)) < 0;
			nomem |= rf_buf_addc(b, ',') < 0;
			nomem |= rules_addnum(b, "line", x->line) < 0;
			nomem |= rf_buf_adds(b, ",\"reason\":") < 0;
			nomem |= rf_json_addstr_lossy(b, x->reason,
			    strlen(x->reason)) < 0;
			nomem |= rf_buf_addc(b, '}') < 0;
		}
		nomem |= rf_buf_addc(b, ']') < 0;
		if (r.figures != NULL) {
			nomem |= rf_buf_adds(b, ",\"figures\":") < 0;
			nomem |= rf_json_addstr(b, r.figures,
			    strlen(r.figures)) < 0;
		}
		nomem |= rf_buf_addc(b, ',') < 0;
		nomem |= rules_addnum(b, "line", r.line) < 0;
		nomem |= rf_buf_adds(b, r.ok ? ",\"ok\":true,\"rule\":" :
		    ",\"ok\":false,\"rule\":") < 0;
		nomem |= rf_json_addstr(b, r.text, strlen(r.text)) < 0;
		nomem |= rf_buf_addc(b, '}') < 0;
	}
	nomem |= rf_buf_adds(b, "]}") < 0;
	return nomem ? RF_ENOMEM : 0;
}

/*
 * Prints the report: for each broken rule its line and counts, then its
 * figures or its first offending records; or the JSON object.  Returns
 * an exit status: 1 when a rule is broken.
 */
static int
rules_report(const char *path, bool json, size_t *nbroken)
{
	size_t n = rf_rules_count(rules_set);
	rf_buf b = { 0 }, c = { 0 };
	rf_err e;
	int status = RF_EXIT_OK;

	*nbroken = 0;
	for (size_t i = 0; i < n; i++) {
		rf_rule_result r;
		rf_rules_result(rules_state, i, &r);
		*nbroken += !r.ok;
	}
	if (json) {
		/* Canonical by construction; rf_json_canon proves it. */
		if (rules_json(&b, *nbroken) < 0 ||
		    rf_json_canon(b.p, b.len, &c, &e) < 0 ||
		    c.len != b.len || memcmp(b.p, c.p, b.len) != 0) {
			rf_warnx("out of memory, or a report that is not "
			    "canonical JSON");
			status = RF_EXIT_IO;
		} else {
			fwrite(c.p, 1, c.len, stdout);
			putchar('\n');
		}
		rf_buf_free(&b);
		rf_buf_free(&c);
	} else
		for (size_t i = 0; i < n; i++) {
			rf_rule_result r;
			rf_rules_result(rules_state, i, &r);
			if (r.ok)
				continue;
			printf("%s:%lu: %s: %llu of %llu records\n", path,
			    r.line, r.text, (unsigned long long)r.broken,
			    (unsigned long long)r.applies);
			if (r.figures != NULL)
				printf("  %s\n", r.figures);
			for (size_t k = 0; k < r.nexamples; k++)
				printf("  %s:%llu: %s\n", r.examples[k].file,
				    (unsigned long long)r.examples[k].line,
				    r.examples[k].reason);
		}
	if (status == RF_EXIT_OK && *nbroken > 0)
		status = RF_EXIT_CHECK;
	return status;
}

/* Defined with diff's sides, which a dataset operand of rules reuses. */
static bool dataset_version(const char *arg, char *dir, uint32_t *v);
static int rules_dataset(const char *arg, const rf_trusted *trusted);

static int
cmd_rules(int argc, char *argv[])
{
	enum { R_EXAMPLES = RF_OPT_PROGRAM, R_JSON, R_MEMORY };
	static const struct option longopts[] = {
		{ "examples", required_argument, NULL, R_EXAMPLES },
		{ "json", no_argument, NULL, R_JSON },
		{ "memory", required_argument, NULL, R_MEMORY },
		{ "trusted", required_argument, NULL, 't' },
		ATTEST_LONGOPTS,
		RF_RUN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char prog[] = "refill-verify", *stdin_only[] = { "-", NULL };
	size_t memory = RF_RULES_MEMORY_DEFAULT, nbroken = 0;
	uint64_t examples = 3;
	bool json = false;
	const char *path, *trustfile = NULL;
	char **inputs;
	int ninputs, ch, rc, status;
	rf_buf text = { 0 };
	rf_trusted trusted;
	bool have_trusted = false;
	rf_err e;

	/* getopt_long names argv[0] in its messages: the program, not "rules". */
	argv[0] = prog;
	while ((ch = getopt_long(argc, argv, "hqt:V", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			trustfile = optarg;
			break;
		case R_EXAMPLES:
			if (rf_parse_uint(optarg, 0, RF_RULES_EXAMPLES_MAX,
			    &examples) < 0) {
				rf_warnx("--examples: not a number from 0 to "
				    "%d: %s", RF_RULES_EXAMPLES_MAX, optarg);
				return RF_EXIT_USAGE;
			}
			break;
		case R_JSON:
			json = true;
			break;
		case R_MEMORY:
			if (parse_memory(optarg, RF_RULES_MEMORY_MIN, &memory) < 0)
				return RF_EXIT_USAGE;
			break;
		case 'h':
			usage(RF_EXIT_OK);
		case 'V':
			return rf_print_version();
		default:
			if (attest_opt(ch, optarg))
				break;
			if ((rc = rf_run_opt(&run, ch, optarg)) < 0)
				return RF_EXIT_USAGE;
			if (rc == 0)
				usage(RF_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;

	if (argc < 1) {
		rf_warnx("rules: no rules file");
		usage(RF_EXIT_USAGE);
	}
	path = argv[0];
	inputs = argv + 1;
	ninputs = argc - 1;
	if (ninputs == 0) {
		inputs = stdin_only;
		ninputs = 1;
	}
	for (int i = 0; i < ninputs && strcmp(path, "-") == 0; i++)
		if (strcmp(inputs[i], "-") == 0) {
			rf_warnx("rules: standard input cannot hold both the "
			    "rules and the records");
			return RF_EXIT_USAGE;
		}
	if (att.path != NULL && (ninputs != 1 ||
	    !dataset_version(inputs[0], NULL, NULL))) {
		rf_warnx("--report: the records must be one dataset version, "
		    "which the report vouches for");
		return RF_EXIT_USAGE;
	}
	if ((status = attest_start()) != RF_EXIT_OK)
		return status;
	if ((status = rules_read(path, &text)) != RF_EXIT_OK) {
		rf_buf_free(&text);
		return status;
	}
	if (att.path != NULL) {
		/* The rules checked, by their text. */
		rf_sha256 *h = rf_sha256_new();
		if (h == NULL) {
			rf_buf_free(&text);
			rf_warnx("out of memory");
			return RF_EXIT_IO;
		}
		rf_sha256_once(h, text.p, text.len, att.rules);
		rf_sha256_free(h);
		att.has_rules = true;
	}
	rc = rf_rules_parse(text.p, text.len, path, &rules_set, &e);
	rf_buf_free(&text);
	if (rc < 0 || (rc = rf_rules_state_new(rules_set, memory,
	    (size_t)examples, &rules_state, &e)) < 0) {
		rf_warnx("%s", e.msg);
		rf_rules_free(rules_set);
		return rf_status(rc);
	}

	/* The --bad, --stats and --metrics temporaries go on a signal. */
	rf_cleanup_install();
	if ((status = rf_run_start(&run, ninputs, inputs)) == RF_EXIT_OK)
		status = rules_setup();
	if (status == RF_EXIT_OK &&
	    (rc = rf_trusted_default(trustfile, &trusted, &e)) < 0)
		status = rf_fail(rc, &e);
	else
		have_trusted = rc == 1;
	for (int i = 0; status == RF_EXIT_OK && i < ninputs; i++)
		status = dataset_version(inputs[i], NULL, NULL) ?
		    rules_dataset(inputs[i], have_trusted ? &trusted : NULL) :
		    rules_input(inputs[i]);
	if (have_trusted)
		rf_trusted_free(&trusted);
	if (status == RF_EXIT_OK &&
	    (rc = rf_rules_finish(rules_state, &e)) < 0) {
		rf_warnx("%s", e.msg);
		status = rf_status(rc);
	}
	/* Every record was read: the rules were judged on all of them. */
	bool judged = status == RF_EXIT_OK;
	if (status == RF_EXIT_OK)
		status = rules_report(path, json, &nbroken);
	if (status == RF_EXIT_OK || status == RF_EXIT_CHECK) {
		rf_stat extra[] = {
			{ "rules", "Rules in the rules file.",
			    rf_rules_count(rules_set) },
			{ "rules_broken", "Rules broken.", nbroken },
			{ "spilled_bytes", "Bytes of unique and monotonic "
			    "state written to scratch files.",
			    rf_rules_spilled(rules_state) },
		};
		if ((rc = rf_run_finish(&run, extra,
		    sizeof extra / sizeof extra[0])) != RF_EXIT_OK)
			status = rc;
		else if (judged && run.progress >= 0)
			rf_warnx("%llu records, %zu rules, %zu broken",
			    (unsigned long long)rf_rules_records(rules_state),
			    rf_rules_count(rules_set), nbroken);
	} else
		rf_run_abort(&run);
	rules_teardown();
	rc = rf_close_stdout();
	return rc != RF_EXIT_OK ? rc : status;
}

/* ---- diff ----------------------------------------------------------------- */

enum { D_ABS_TOL = RF_OPT_PROGRAM, D_EMIT, D_FULL, D_IGNORE, D_JSON,
	D_MAX_ADDED, D_MAX_CHANGED, D_MAX_DUP, D_MAX_REMOVED, D_MEMORY,
	D_REL_TOL };

#define DIFF_MEMORY ((size_t)1 << 30)	/* --memory's default */
#define NEXAMPLE 3			/* examples shown of each kind */
#define MAXFIELDS 10000			/* changed fields counted apart */
#define NFSLOT 32768			/* a power of two past 2 * MAXFIELDS */

/* One file of a side. */
struct dfile {
	char *path;			/* opened */
	char *shown;			/* in messages */
	const char *name;		/* in its version, for the fast path */
	bool has_sha, skip;
	unsigned char sha[RF_SHA256_LEN];
	uint64_t records;
};

/* OLD or NEW: a file, a directory of batch files, or a dataset version. */
struct dside {
	const char *arg;
	struct dfile *f;
	size_t n, skipped;
	bool dataset;
	bool candidate;			/* what a report vouches for */
	rf_manifest m;			/* of a dataset version */
};

/* A --max-* limit: a count, or a percentage of OLD's records. */
struct limit {
	const char *opt, *arg;
	bool pct;
	double v;
};

struct field {
	char *path;
	size_t pathlen;			/* a name may hold U+0000 */
	uint64_t n;
	rf_buf ex;			/* up to NEXAMPLE lines */
	size_t nex;
};

/* What the report is made of, gathered in key-digest order. */
struct dreport {
	struct dside *side[2];
	struct field *fields;
	size_t nfields, capfields;
	uint32_t *fslot;		/* fields by path: index + 1, 0 empty */
	uint64_t otherfields;		/* past MAXFIELDS */
	rf_buf keys[5];			/* first keys of each kind, by kind */
	size_t nkeys[5];
	rf_out *emit;
	rf_buf line, canon;
	const rf_diff_item *it;		/* while its fields are walked */
	rf_err e;
};

struct dbatch {
	rf_batch b;
	rf_sha256 *sha;
	rf_buf out, scratch, why;
	rf_drec *r;
	int *bad;			/* offset of the reason in why, or -1 */
	bool nomem;
};

#define NDBATCH 8

static rf_diff_opts dopts;
static rf_pool *dpool;
static struct dbatch dbatches[NDBATCH];
static rf_batch *dring[NDBATCH];

static void
diff_work(rf_task *t)
{
	struct dbatch *db = (struct dbatch *)t;
	rf_batch *b = &db->b;
	rf_err e;

	db->out.len = db->why.len = 0;
	db->nomem = false;
	for (size_t i = 0; i < b->n; i++) {
		int rc = rf_diff_prepare(&dopts, b->text.p + b->line[i].off,
		    b->line[i].len, &db->out, &db->scratch, db->sha, &db->r[i],
		    &e);
		db->bad[i] = -1;
		if (rc == 0)
			continue;
		db->bad[i] = (int)db->why.len;
		if (rc == RF_ENOMEM ||
		    rf_buf_add(&db->why, e.msg, strlen(e.msg) + 1) < 0) {
			db->nomem = true;
			return;
		}
	}
}

static int
diff_setup(void)
{
	rf_err e;

	if (rf_pool_new(0, &dpool, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	for (int i = 0; i < NDBATCH; i++) {
		struct dbatch *db = &dbatches[i];
		db->b.task.fn = diff_work;
		db->sha = rf_sha256_new();
		db->r = malloc(RF_BATCH_LINES * sizeof *db->r);
		db->bad = malloc(RF_BATCH_LINES * sizeof *db->bad);
		if (db->sha == NULL || db->r == NULL || db->bad == NULL) {
			rf_warnx("out of memory");
			return RF_EXIT_IO;
		}
		dring[i] = &db->b;
	}
	return RF_EXIT_OK;
}

static void
diff_teardown(void)
{
	rf_pool_free(dpool);
	for (int i = 0; i < NDBATCH; i++) {
		struct dbatch *db = &dbatches[i];
		rf_batch_free(&db->b);
		rf_sha256_free(db->sha);
		rf_buf_free(&db->out);
		rf_buf_free(&db->scratch);
		rf_buf_free(&db->why);
		free(db->r);
		free(db->bad);
	}
}

/* Where the records of a batch go: the diff, as side and file. */
struct dwhere {
	rf_diff *d;
	int side;
	uint32_t file;
	const char *shown;
};

static int
diff_deliver(rf_batch *b, void *arg)
{
	struct dbatch *db = (struct dbatch *)b;
	struct dwhere *w = arg;
	rf_err e;
	int rc;

	if (db->nomem) {
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (db->bad[i] >= 0) {
			int st = rf_run_bad(&run, w->shown, b->line[i].lineno,
			    b->text.p + b->line[i].off, b->line[i].len,
			    db->why.p + db->bad[i]);
			if (st != RF_EXIT_OK)
				return st;
			continue;
		}
		if ((rc = rf_diff_add(w->d, w->side, w->file, b->line[i].lineno,
		    &db->r[i], db->out.p, &e)) < 0) {
			rf_warnx("%s", e.msg);
			return rf_status(rc);
		}
	}
	return RF_EXIT_OK;
}

static int
namecmp(const void *a, const void *b)
{
	return strcmp(((const struct dfile *)a)->shown,
	    ((const struct dfile *)b)->shown);
}


static int
add_file(struct dside *sd, const char *path, const char *shown)
{
	struct dfile *nf = realloc(sd->f, (sd->n + 1) * sizeof *nf);

	if (nf == NULL)
		return -1;
	sd->f = nf;
	memset(&sd->f[sd->n], 0, sizeof *sd->f);
	if ((sd->f[sd->n].path = strdup(path)) == NULL ||
	    (sd->f[sd->n].shown = strdup(shown)) == NULL)
		return -1;
	sd->n++;
	return 0;
}

/* The files directly in dir: not hidden, not stamps; sorted. */
static int
list_dir(struct dside *sd, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int status = RF_EXIT_OK;

	if (d == NULL) {
		rf_warnx("%s: %s", dir, strerror(errno));
		return RF_EXIT_IO;
	}
	while ((de = readdir(d)) != NULL) {
		char p[PATH_MAX];
		struct stat st;
		if (de->d_name[0] == '.' || rf_ends_with(de->d_name, ".prov"))
			continue;
		if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >=
		    (int)sizeof p) {
			rf_warnx("%s/%s: path too long", dir, de->d_name);
			status = RF_EXIT_USAGE;
			break;
		}
		if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (add_file(sd, p, p) < 0) {
			rf_warnx("out of memory");
			status = RF_EXIT_IO;
			break;
		}
	}
	closedir(d);
	if (sd->n > 1)
		qsort(sd->f, sd->n, sizeof *sd->f, namecmp);
	return status;
}

static int
open_version(struct dside *sd, const char *dir, uint32_t v,
    const rf_trusted *trusted)
{
	rf_store *s;
	rf_err e;
	int rc, status = RF_EXIT_OK;

	if ((rc = rf_store_open(dir, 0, trusted, &s, NULL, &e)) < 0) {
		rf_warnx("%s", e.msg);
		return rf_status(rc);
	}
	/* The log's current version is read; the link is only reported. */
	if (v == 0 && rf_store_check_pointer(s, &e) < 0)
		rf_warnx("%s", e.msg);
	if ((rc = rf_store_version(s, &v, &e)) < 0) {
		rf_store_close(s);
		return rf_fail(rc, &e);
	}
	if ((rc = rf_store_load(s, v, trusted, &sd->m, &e)) < 0) {
		rf_warnx("%s", e.msg);
		rf_store_close(s);
		return rf_status(rc);
	}
	sd->dataset = true;
	if (sd->candidate)
		attest_candidate(dir, v, sd->m.sha256);
	else if (att.path != NULL) {
		/* OLD of diff or drift: what the candidate was held against. */
		att.has_against = true;
		vref_set(&att.against, dir, v, sd->m.sha256);
	}
	for (size_t i = 0; i < sd->m.n && status == RF_EXIT_OK; i++) {
		const rf_mfile *f = &sd->m.f[i];
		char p[PATH_MAX], shown[PATH_MAX];
		if (rf_version_path(s, v, f->name, p) < 0 ||
		    snprintf(shown, sizeof shown, "%s@%06u/%s", dir,
		    (unsigned)v, f->name) >= (int)sizeof shown) {
			rf_warnx("%s: path too long", f->name);
			status = RF_EXIT_USAGE;
		} else if (add_file(sd, p, shown) < 0) {
			rf_warnx("out of memory");
			status = RF_EXIT_IO;
		} else {
			struct dfile *df = &sd->f[sd->n - 1];
			df->name = f->name;
			df->has_sha = true;
			memcpy(df->sha, f->sha256, RF_SHA256_LEN);
			df->records = f->digest.count;
		}
	}
	rf_store_close(s);
	return status;
}

/*
 * Whether arg names a dataset version: a dataset directory (v is 0, its
 * current version) or DATASET@VERSION.  Its directory goes in dir (of
 * PATH_MAX bytes) unless dir is NULL.
 */
static bool
dataset_version(const char *arg, char *dir, uint32_t *v)
{
	char d[PATH_MAX];
	struct stat st;
	uint32_t n;
	rf_err e;

	if (stat(arg, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || !rf_is_dataset(arg) ||
		    snprintf(d, sizeof d, "%s", arg) >= (int)sizeof d)
			return false;
		n = 0;
	} else if (strchr(arg, '@') == NULL ||
	    rf_dataset_arg(arg, d, sizeof d, &n, &e) < 0 || !rf_is_dataset(d))
		return false;
	if (dir != NULL)
		memcpy(dir, d, sizeof d);
	if (v != NULL)
		*v = n;
	return true;
}

/*
 * A side's operand: DATASET@VERSION, a dataset directory (its current
 * version), another directory (its files), a file, or - .
 */
static int
open_side(struct dside *sd, const char *arg, const rf_trusted *trusted)
{
	char dir[PATH_MAX];
	struct stat st;
	uint32_t v;

	sd->arg = arg;
	if (strcmp(arg, "-") == 0)
		return add_file(sd, "-", "-") < 0 ? RF_EXIT_IO : RF_EXIT_OK;
	if (dataset_version(arg, dir, &v))
		return open_version(sd, dir, v, trusted);
	if (stat(arg, &st) < 0) {
		rf_warnx("%s: %s", arg, strerror(errno));
		return RF_EXIT_IO;
	}
	if (S_ISDIR(st.st_mode))
		return list_dir(sd, arg);
	return add_file(sd, arg, arg) < 0 ? RF_EXIT_IO : RF_EXIT_OK;
}

/* Both operands of diff or drift, with -t or REFILL_TRUSTED's signers. */
static int
open_sides(struct dside side[2], char *argv[], const char *trustfile,
    rf_trusted *t, bool *have)
{
	rf_err e;
	int rc, status = RF_EXIT_OK;

	if (strcmp(argv[0], "-") == 0 && strcmp(argv[1], "-") == 0) {
		rf_warnx("old and new cannot both be standard input");
		return RF_EXIT_USAGE;
	}
	if ((rc = rf_trusted_default(trustfile, t, &e)) < 0)
		return rf_fail(rc, &e);
	*have = rc == 1;
	side[1].candidate = true;
	for (int s = 0; s < 2 && status == RF_EXIT_OK; s++)
		status = open_side(&side[s], argv[s], *have ? t : NULL);
	if (status == RF_EXIT_OK && att.path != NULL && !side[1].dataset) {
		rf_warnx("--report: %s is not a dataset version, and a report "
		    "vouches for one", argv[1]);
		status = RF_EXIT_USAGE;
	}
	return status;
}

static void
free_side(struct dside *sd)
{
	for (size_t i = 0; i < sd->n; i++) {
		free(sd->f[i].path);
		free(sd->f[i].shown);
	}
	free(sd->f);
	if (sd->dataset)
		rf_manifest_free(&sd->m);
}

/*
 * Two versions' files of the same name and SHA-256 hold the same records:
 * they are counted as unchanged and not read.  Their keys are then not
 * looked for in other files (refill-verify(1)).
 */
static void
fast_path(struct dside *o, struct dside *n, rf_diff *d)
{
	size_t i = 0, j = 0;

	while (i < o->n && j < n->n) {
		int c = strcmp(o->f[i].name, n->f[j].name);
		if (c == 0 && memcmp(o->f[i].sha, n->f[j].sha,
		    RF_SHA256_LEN) == 0) {
			o->f[i].skip = n->f[j].skip = true;
			o->skipped++;
			n->skipped++;
			rf_diff_skip(d, o->f[i].records, n->f[j].records);
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
}

/*
 * A file read to its end: counted, and for a file of a version, its bytes
 * checked against the MANIFEST's SHA-256.
 */
static int
done_file(const struct dfile *f, rf_reader *r)
{
	unsigned char sha[RF_SHA256_LEN];

	run.bytes_in += rf_reader_pos(r);
	if (!f->has_sha)
		return RF_EXIT_OK;
	rf_reader_sha256(r, sha);
	if (memcmp(sha, f->sha, RF_SHA256_LEN) == 0)
		return RF_EXIT_OK;
	rf_warnx("%s: its SHA-256 is not the one in the MANIFEST", f->shown);
	return RF_EXIT_CHECK;
}

/*
 * The records of a dataset version, for rules: its MANIFEST's files in
 * order, each checked against its SHA-256 there.
 */
static int
rules_dataset(const char *arg, const rf_trusted *trusted)
{
	struct dside sd;
	int status;

	memset(&sd, 0, sizeof sd);
	sd.candidate = true;
	status = open_side(&sd, arg, trusted);
	for (size_t i = 0; i < sd.n && status == RF_EXIT_OK; i++) {
		rf_reader *r;
		rf_err e;
		int rc;

		if ((rc = rf_reader_open(sd.f[i].path, run.max_line,
		    RF_READ_SHA256, &r, &e)) < 0) {
			rf_warnx("%s", e.msg);
			status = rf_status(rc);
			break;
		}
		status = rf_run_batches(&run, r, rules_pool, rules_ring,
		    RULES_NBATCH, rules_deliver, NULL);
		if (status == RF_EXIT_OK)
			status = done_file(&sd.f[i], r);
		rf_reader_close(r);
	}
	free_side(&sd);
	return status;
}

/* Reads one side's files into the diff. */
static int
read_side(struct dside *sd, int side, rf_diff *d)
{
	int status = RF_EXIT_OK;

	for (size_t i = 0; i < sd->n && status == RF_EXIT_OK; i++) {
		struct dfile *f = &sd->f[i];
		struct dwhere w = { d, side, (uint32_t)i, f->shown };
		rf_reader *r;
		rf_err e;
		int rc;

		if (f->skip)
			continue;
		if ((rc = rf_reader_open(f->path, run.max_line,
		    f->has_sha ? RF_READ_SHA256 : 0, &r, &e)) < 0) {
			rf_warnx("%s", e.msg);
			return rf_status(rc);
		}
		status = rf_run_batches(&run, r, dpool, dring, NDBATCH,
		    diff_deliver, &w);
		if (status == RF_EXIT_OK)
			status = done_file(f, r);
		rf_reader_close(r);
	}
	return status;
}

static int
parse_limit(struct limit *l, const char *opt, const char *arg)
{
	char *end;
	size_t n = strlen(arg);

	l->opt = opt;
	l->arg = arg;
	l->pct = n > 0 && arg[n - 1] == '%';
	errno = 0;
	l->v = strtod(arg, &end);
	if (errno != 0 || end == arg || end != arg + n - l->pct ||
	    !(l->v >= 0) || (l->pct && l->v > 100) || (!l->pct &&
	    l->v != (double)(uint64_t)l->v)) {
		rf_warnx("%s %s: not a count, nor a percentage from 0%% to 100%%",
		    opt, arg);
		return -1;
	}
	return 0;
}

static int
parse_tol(const char *opt, const char *arg, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || !(*v >= 0) ||
	    *v > 1e300) {
		rf_warnx("%s %s: not a number from 0", opt, arg);
		return -1;
	}
	return 0;
}

static const char *const kindname[] = { "", "changed", "added", "removed",
	"duplicate" };

static int
addloc(rf_buf *b, const struct dside *sd, uint32_t file, uint64_t line)
{
	char num[24];

	snprintf(num, sizeof num, ":%llu", (unsigned long long)line);
	rf_buf_addc(b, '"');
	/* File names are bytes; a JSON string holds UTF-8. */
	rf_buf tmp = { 0 };
	int rc = rf_json_addstr_lossy(&tmp, sd->f[file].shown,
	    strlen(sd->f[file].shown));
	if (rc == 0)
		rc = rf_buf_add(b, tmp.p + 1, tmp.len - 2);
	rf_buf_free(&tmp);
	if (rc == 0)
		rc = rf_buf_adds(b, num);
	if (rc == 0)
		rc = rf_buf_addc(b, '"');
	return rc;
}

/* One changed field of the record at hand: counted, kept, emitted. */
static int
field_cb(void *arg, const char *path, size_t pn, const char *a, size_t an,
    const char *b, size_t bn)
{
	struct dreport *r = arg;
	struct field *f = NULL;

	/*
	 * Looked up by a hash of the path: records keyed by ids, such as
	 * {"counts":{"u17":5}}, make thousands of fields, and a changed
	 * record must not scan them all.
	 */
	uint32_t h = 2166136261u, *slot;
	for (size_t i = 0; i < pn; i++)
		h = (h ^ (unsigned char)path[i]) * 16777619u;
	if (r->fslot == NULL &&
	    (r->fslot = calloc(NFSLOT, sizeof *r->fslot)) == NULL)
		return RF_ENOMEM;
	for (slot = &r->fslot[h & (NFSLOT - 1)]; *slot != 0;
	    slot = &r->fslot[(slot - r->fslot + 1) & (NFSLOT - 1)]) {
		struct field *g = &r->fields[*slot - 1];
		if (g->pathlen == pn && memcmp(g->path, path, pn) == 0) {
			f = g;
			break;
		}
	}
	if (f == NULL && r->nfields < MAXFIELDS) {
		if (r->nfields == r->capfields) {
			size_t nc = r->capfields ? 2 * r->capfields : 16;
			struct field *nf = realloc(r->fields, nc * sizeof *nf);
			if (nf == NULL)
				return RF_ENOMEM;
			r->fields = nf;
			r->capfields = nc;
		}
		f = &r->fields[r->nfields];
		memset(f, 0, sizeof *f);
		if ((f->path = malloc(pn + 1)) == NULL)
			return RF_ENOMEM;
		memcpy(f->path, path, pn);
		f->path[pn] = '\0';
		f->pathlen = pn;
		*slot = (uint32_t)++r->nfields;
	}
	if (f == NULL)
		r->otherfields++;
	else {
		f->n++;
		if (f->nex < NEXAMPLE) {
			/* "KEY": OLD -> NEW, a value on one side only as (none). */
			const rf_diff_item *it = r->it;
			rf_buf_add(&f->ex, it->key, it->keylen);
			rf_buf_adds(&f->ex, ": ");
			rf_buf_add(&f->ex, a != NULL ? a : "(none)",
			    a != NULL ? an : 6);
			rf_buf_adds(&f->ex, " -> ");
			rf_buf_add(&f->ex, b != NULL ? b : "(none)",
			    b != NULL ? bn : 6);
			if (rf_buf_addc(&f->ex, '\n') < 0)
				return RF_ENOMEM;
			f->nex++;
		}
	}
	if (r->emit == NULL)
		return 0;
	/* The member of "fields" in the emitted line. */
	rf_buf *l = &r->line;
	if (l->p[l->len - 1] != '{')
		rf_buf_addc(l, ',');
	rf_json_addstr(l, path, pn);
	rf_buf_adds(l, ":{");
	if (b != NULL) {
		rf_buf_adds(l, "\"new\":");
		rf_buf_add(l, b, bn);
	}
	if (a != NULL) {
		rf_buf_adds(l, b != NULL ? ",\"old\":" : "\"old\":");
		rf_buf_add(l, a, an);
	}
	return rf_buf_addc(l, '}') < 0 ? RF_ENOMEM : 0;
}

static int
diff_item(const rf_diff_item *it, void *arg)
{
	struct dreport *r = arg;
	rf_buf *l = &r->line;
	int rc = 0;

	if (r->nkeys[it->kind] < NEXAMPLE) {
		rf_buf_add(&r->keys[it->kind], it->key, it->keylen);
		rf_buf_addc(&r->keys[it->kind], '\n');
		r->nkeys[it->kind]++;
	}
	l->len = 0;
	rf_buf_adds(l, "{\"kind\":\"");
	rf_buf_adds(l, kindname[it->kind]);
	rf_buf_adds(l, "\",\"key\":");
	rf_buf_add(l, it->key, it->keylen);
	if (it->kind == RF_DIFF_CHANGED) {
		rf_buf_adds(l, ",\"fields\":{");
		r->it = it;
		long n = rf_json_diff(it->old, it->oldlen, it->new_, it->newlen,
		    dopts.abs_tol, dopts.rel_tol, field_cb, r);
		if (n < 0)
			return rf_seterr(&r->e, RF_ENOMEM, "out of memory");
		rf_buf_addc(l, '}');
	}
	if (r->emit == NULL)
		return 0;
	if (it->kind == RF_DIFF_ADDED) {
		rf_buf_adds(l, ",\"new\":");
		rf_buf_add(l, it->new_, it->newlen);
	} else if (it->kind == RF_DIFF_REMOVED) {
		rf_buf_adds(l, ",\"old\":");
		rf_buf_add(l, it->old, it->oldlen);
	} else if (it->kind == RF_DIFF_DUPLICATE) {
		char num[64];
		snprintf(num, sizeof num, ",\"records\":{\"new\":%llu,\"old\":%llu}",
		    (unsigned long long)it->nnew, (unsigned long long)it->nold);
		rf_buf_adds(l, num);
	}
	rf_buf_adds(l, ",\"where\":{");
	if (it->nnew > 0) {
		rf_buf_adds(l, "\"new\":");
		addloc(l, r->side[1], it->new_file, it->new_line);
	}
	if (it->nold > 0) {
		rf_buf_adds(l, it->nnew > 0 ? ",\"old\":" : "\"old\":");
		addloc(l, r->side[0], it->old_file, it->old_line);
	}
	if (rf_buf_adds(l, "}}") < 0)
		return rf_seterr(&r->e, RF_ENOMEM, "out of memory");
	r->canon.len = 0;
	if ((rc = rf_json_canon(l->p, l->len, &r->canon, &r->e)) < 0 ||
	    (rc = rf_buf_addc(&r->canon, '\n') < 0 ? RF_ENOMEM : 0) < 0 ||
	    (rc = rf_out_write(r->emit, r->canon.p, r->canon.len, &r->e)) < 0)
		return rc;
	return 0;
}

static int
fieldcmp(const void *x, const void *y)
{
	const struct field *a = x, *b = y;

	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	return strcmp(a->path, b->path);
}

static double
pct(uint64_t n, uint64_t of)
{
	return of == 0 ? (n == 0 ? 0 : 100) : 100.0 * n / of;
}

/* Whether n is within a limit; a percentage is of OLD's records. */
static bool
within(const struct limit *l, uint64_t n, uint64_t old)
{
	if (!l->pct)
		return n <= l->v;
	return pct(n, old) <= l->v;
}

static void
put_keys(const char *what, const rf_buf *b, size_t n)
{
	if (n == 0)
		return;
	printf("%s, first keys:", what);
	for (size_t i = 0, k = 0; k < n; k++) {
		const char *nl = memchr(b->p + i, '\n', b->len - i);
		printf(" %.*s", (int)(nl - (b->p + i)), b->p + i);
		i = nl + 1 - b->p;
	}
	putchar('\n');
}

static void
text_report(const struct dreport *r, const rf_diff_counts *c,
    char *const *keyspecs, size_t nkeys)
{
	const struct dside *o = r->side[0], *n = r->side[1];

	printf("old: %s, %llu records in %zu file%s", o->arg,
	    (unsigned long long)c->old, o->n, o->n == 1 ? "" : "s");
	if (o->skipped > 0)
		printf(" (%zu the same in new, not read)", o->skipped);
	printf("\nnew: %s, %llu records in %zu file%s\n", n->arg,
	    (unsigned long long)c->new_, n->n, n->n == 1 ? "" : "s");
	printf("key:");
	for (size_t i = 0; i < nkeys; i++)
		printf("%s %s", i > 0 ? "," : "", keyspecs[i]);
	putchar('\n');
	printf("%12llu  unchanged\n", (unsigned long long)c->unchanged);
	if (dopts.abs_tol > 0 || dopts.rel_tol > 0)
		printf("%12llu  within tolerance\n",
		    (unsigned long long)c->tolerated);
	printf("%12llu  changed\n", (unsigned long long)c->changed);
	printf("%12llu  added\n", (unsigned long long)c->added);
	printf("%12llu  removed\n", (unsigned long long)c->removed);
	printf("%12llu  duplicate keys in old (%llu records)\n",
	    (unsigned long long)c->dup_keys_old,
	    (unsigned long long)c->dup_records_old);
	printf("%12llu  duplicate keys in new (%llu records)\n",
	    (unsigned long long)c->dup_keys_new,
	    (unsigned long long)c->dup_records_new);
	if (r->nfields > 0)
		printf("changed fields:\n");
	for (size_t i = 0; i < r->nfields; i++) {
		const struct field *f = &r->fields[i];
		const char *p = f->ex.p;
		printf("%12llu  %s", (unsigned long long)f->n, f->path);
		for (size_t k = 0; k < f->nex; k++) {
			const char *nl = memchr(p, '\n', f->ex.p + f->ex.len - p);
			printf("%s%.*s", k == 0 ? "   e.g. " : "; ",
			    (int)(nl - p), p);
			p = nl + 1;
		}
		putchar('\n');
	}
	if (r->otherfields > 0)
		printf("%12llu  in other fields\n",
		    (unsigned long long)r->otherfields);
	put_keys("added", &r->keys[RF_DIFF_ADDED], r->nkeys[RF_DIFF_ADDED]);
	put_keys("removed", &r->keys[RF_DIFF_REMOVED],
	    r->nkeys[RF_DIFF_REMOVED]);
	put_keys("duplicate", &r->keys[RF_DIFF_DUPLICATE],
	    r->nkeys[RF_DIFF_DUPLICATE]);
}

static int
addnum(rf_buf *b, const char *k, uint64_t v)
{
	char num[48];

	snprintf(num, sizeof num, "\"%s\":%llu", k, (unsigned long long)v);
	return rf_buf_adds(b, num);
}

static int
json_report(const struct dreport *r, const rf_diff_counts *c,
    char *const *keyspecs, size_t nkeys, const char *const *failed,
    size_t nfailed)
{
	rf_buf b = { 0 };

	rf_buf_addc(&b, '{');
	addnum(&b, "added", c->added);
	rf_buf_adds(&b, ",\"duplicate_keys\":{");
	addnum(&b, "new", c->dup_keys_new);
	rf_buf_addc(&b, ',');
	addnum(&b, "old", c->dup_keys_old);
	rf_buf_adds(&b, "},\"duplicate_records\":{");
	addnum(&b, "new", c->dup_records_new);
	rf_buf_addc(&b, ',');
	addnum(&b, "old", c->dup_records_old);
	rf_buf_adds(&b, "},\"failed\":[");
	for (size_t i = 0; i < nfailed; i++) {
		if (i > 0)
			rf_buf_addc(&b, ',');
		rf_json_addstr(&b, failed[i], strlen(failed[i]));
	}
	rf_buf_adds(&b, "],\"fields\":[");
	for (size_t i = 0; i < r->nfields; i++) {
		const struct field *f = &r->fields[i];
		if (i > 0)
			rf_buf_addc(&b, ',');
		rf_buf_adds(&b, "{\"path\":");
		rf_json_addstr(&b, f->path, strlen(f->path));
		rf_buf_addc(&b, ',');
		addnum(&b, "records", f->n);
		rf_buf_addc(&b, '}');
	}
	rf_buf_adds(&b, "],\"key\":[");
	for (size_t i = 0; i < nkeys; i++) {
		if (i > 0)
			rf_buf_addc(&b, ',');
		rf_json_addstr_lossy(&b, keyspecs[i], strlen(keyspecs[i]));
	}
	rf_buf_adds(&b, "]");
	for (int s = 0; s < 2; s++) {
		const struct dside *sd = r->side[s];
		rf_buf_adds(&b, s == 0 ? ",\"old\":{" : ",\"new\":{");
		addnum(&b, "files", sd->n);
		rf_buf_adds(&b, ",\"name\":");
		rf_json_addstr_lossy(&b, sd->arg, strlen(sd->arg));
		rf_buf_addc(&b, ',');
		addnum(&b, "records", s == 0 ? c->old : c->new_);
		rf_buf_addc(&b, ',');
		addnum(&b, "skipped_files", sd->skipped);
		rf_buf_addc(&b, '}');
	}
	rf_buf_addc(&b, ',');
	addnum(&b, "other_fields", r->otherfields);
	rf_buf_addc(&b, ',');
	addnum(&b, "removed", c->removed);
	rf_buf_addc(&b, ',');
	addnum(&b, "tolerated", c->tolerated);
	rf_buf_addc(&b, ',');
	addnum(&b, "changed", c->changed);
	rf_buf_addc(&b, ',');
	addnum(&b, "unchanged", c->unchanged);
	rf_buf_addc(&b, '}');
	int status = print_json(&b);
	rf_buf_free(&b);
	return status;
}

static int
cmd_diff(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "abs-tol", required_argument, NULL, D_ABS_TOL },
		{ "emit", required_argument, NULL, D_EMIT },
		{ "full", no_argument, NULL, D_FULL },
		{ "ignore", required_argument, NULL, D_IGNORE },
		{ "json", no_argument, NULL, D_JSON },
		{ "key", required_argument, NULL, 'k' },
		{ "max-added", required_argument, NULL, D_MAX_ADDED },
		{ "max-changed", required_argument, NULL, D_MAX_CHANGED },
		{ "max-duplicates", required_argument, NULL, D_MAX_DUP },
		{ "max-removed", required_argument, NULL, D_MAX_REMOVED },
		{ "memory", required_argument, NULL, D_MEMORY },
		{ "rel-tol", required_argument, NULL, D_REL_TOL },
		{ "trusted", required_argument, NULL, 't' },
		ATTEST_LONGOPTS,
		RF_RUN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct limit lim[4] = {
		{ "--max-changed", "0", false, 0 },
		{ "--max-added", "0", false, 0 },
		{ "--max-removed", "0", false, 0 },
		{ "--max-duplicates", "0", false, 0 },
	};
	static rf_path **keys, **ignore;
	static char **keyspecs;
	size_t nkeys = 0, nignore = 0;
	const char *emitpath = NULL, *trustfile = NULL, *failed[4];
	bool json = false, full = false;
	struct dside side[2];
	struct dreport rep;
	rf_trusted trusted;
	rf_diff *d = NULL;
	rf_diff_counts c;
	rf_err e;
	size_t nfailed = 0;
	int ch, rc, status = RF_EXIT_OK;

	memset(side, 0, sizeof side);
	memset(&rep, 0, sizeof rep);
	dopts.memory = DIFF_MEMORY;
	if ((keys = calloc(argc, sizeof *keys)) == NULL ||
	    (keyspecs = calloc(argc, sizeof *keyspecs)) == NULL ||
	    (ignore = calloc(argc, sizeof *ignore)) == NULL) {
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	while ((ch = getopt_long(argc, argv, "hk:qt:", longopts, NULL)) != -1) {
		switch (ch) {
		case D_ABS_TOL:
			if (parse_tol("--abs-tol", optarg, &dopts.abs_tol) < 0)
				return RF_EXIT_USAGE;
			break;
		case D_EMIT:
			emitpath = optarg;
			break;
		case D_FULL:
			full = true;
			break;
		case D_IGNORE:
			if (optarg[0] == '\0') {
				rf_warnx("--ignore: the empty path is the whole "
				    "record, not a field");
				return RF_EXIT_USAGE;
			}
			if (rf_path_compile(optarg, &ignore[nignore], &e) < 0) {
				rf_warnx("--ignore: %s", e.msg);
				return RF_EXIT_USAGE;
			}
			nignore++;
			break;
		case D_JSON:
			json = true;
			break;
		case 'h':
			usage(RF_EXIT_OK);
		case 'k':
			if (rf_path_compile(optarg, &keys[nkeys], &e) < 0) {
				rf_warnx("--key: %s", e.msg);
				return RF_EXIT_USAGE;
			}
			keyspecs[nkeys++] = optarg;
			break;
		case D_MAX_ADDED:
			if (parse_limit(&lim[1], "--max-added", optarg) < 0)
				return RF_EXIT_USAGE;
			break;
		case D_MAX_CHANGED:
			if (parse_limit(&lim[0], "--max-changed", optarg) < 0)
				return RF_EXIT_USAGE;
			break;
		case D_MAX_DUP:
			if (parse_limit(&lim[3], "--max-duplicates", optarg) < 0)
				return RF_EXIT_USAGE;
			break;
		case D_MAX_REMOVED:
			if (parse_limit(&lim[2], "--max-removed", optarg) < 0)
				return RF_EXIT_USAGE;
			break;
		case D_MEMORY:
			if (parse_memory(optarg, (size_t)1 << 16, &dopts.memory) < 0)
				return RF_EXIT_USAGE;
			break;
		case D_REL_TOL: {
			size_t n = strlen(optarg);
			char buf[64];
			bool p = n > 0 && optarg[n - 1] == '%';
			snprintf(buf, sizeof buf, "%.*s", (int)(n - p), optarg);
			if (parse_tol("--rel-tol", buf, &dopts.rel_tol) < 0)
				return RF_EXIT_USAGE;
			if (p)
				dopts.rel_tol /= 100;
			break;
		}
		case 't':
			trustfile = optarg;
			break;
		default:
			if (attest_opt(ch, optarg))
				break;
			if ((rc = rf_run_opt(&run, ch, optarg)) < 0)
				return RF_EXIT_USAGE;
			if (rc == 0)
				usage(RF_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;

	if (nkeys == 0) {
		rf_warnx("diff needs -k path: the key that matches records");
		usage(RF_EXIT_USAGE);
	}
	if (argc != 2)
		usage(RF_EXIT_USAGE);
	if ((status = attest_start()) != RF_EXIT_OK)
		return status;
	if (emitpath != NULL && (rc = rf_out_check(emitpath, &e)) < 0) {
		rf_warnx("%s", e.msg);
		return rf_status(rc);
	}
	dopts.keys = keys;
	dopts.nkeys = nkeys;
	dopts.ignore = ignore;
	dopts.nignore = nignore;
	rf_cleanup_install();
	bool have_trusted = false;
	if ((status = open_sides(side, argv, trustfile, &trusted,
	    &have_trusted)) != RF_EXIT_OK)
		goto done;
	char *inputs[] = { argv[0], argv[1] };
	if ((status = rf_run_start(&run, 2, inputs)) != RF_EXIT_OK ||
	    (status = diff_setup()) != RF_EXIT_OK)
		goto done;
	if ((rc = rf_diff_new(&dopts, &d, &e)) < 0) {
		status = rf_status(rc);
		rf_warnx("%s", e.msg);
		goto done;
	}
	if (side[0].dataset && side[1].dataset && !full)
		fast_path(&side[0], &side[1], d);
	for (int s = 0; s < 2 && status == RF_EXIT_OK; s++)
		status = read_side(&side[s], s, d);
	if (status != RF_EXIT_OK)
		goto abort;
	rep.side[0] = &side[0];
	rep.side[1] = &side[1];
	if (emitpath != NULL &&
	    (rc = rf_out_create(emitpath, rf_ends_with(emitpath, ".gz") ? 6 : -1,
	    &rep.emit, &e)) < 0) {
		rf_warnx("%s", e.msg);
		status = rf_status(rc);
		goto abort;
	}
	if ((rc = rf_diff_finish(d, diff_item, &rep, &c, &e)) != 0) {
		rf_warnx("%s", rep.e.msg[0] != '\0' ? rep.e.msg : e.msg);
		status = rf_status(rc);
		goto abort;
	}
	if (rep.nfields > 1)
		qsort(rep.fields, rep.nfields, sizeof *rep.fields, fieldcmp);
	uint64_t got[4] = { c.changed, c.added, c.removed,
	    c.dup_keys_old + c.dup_keys_new };
	for (int i = 0; i < 4; i++)
		if (!within(&lim[i], got[i], c.old))
			failed[nfailed++] = lim[i].opt + 6;
	/* Every record read took part, but for those quarantined. */
	run.records_out = run.records_in - run.quarantined;
	if (json)
		status = json_report(&rep, &c, keyspecs, nkeys, failed, nfailed);
	else
		text_report(&rep, &c, keyspecs, nkeys);
	for (int i = 0; i < 4; i++)
		if (!within(&lim[i], got[i], c.old))
			rf_warnx("%s: %llu%s (%.2f%% of old's %llu records) is "
			    "more than %s %s", lim[i].opt + 6,
			    (unsigned long long)got[i], i == 3 ? " keys" : "",
			    pct(got[i], c.old), (unsigned long long)c.old,
			    lim[i].opt, lim[i].arg);
	rf_stat extra[] = {
		{ "unchanged", "Records the same in old and new.", c.unchanged },
		{ "tolerated", "Records different within the tolerances.",
		    c.tolerated },
		{ "changed", "Records changed beyond the tolerances.", c.changed },
		{ "added", "Keys in new only.", c.added },
		{ "removed", "Keys in old only.", c.removed },
		{ "duplicate_keys", "Keys with more than one record on a side.",
		    c.dup_keys_old + c.dup_keys_new },
	};
	if (status == RF_EXIT_OK && rep.emit != NULL &&
	    (rc = rf_out_commit(rep.emit, &e)) < 0) {
		rf_warnx("%s", e.msg);
		status = rf_status(rc);
	}
	rf_out_free(rep.emit);
	rep.emit = NULL;
	if (status == RF_EXIT_OK)
		status = rf_run_finish(&run, extra, sizeof extra / sizeof extra[0]);
	else
		rf_run_abort(&run);	/* nor its --bad file, left temporary */
	if (status == RF_EXIT_OK && nfailed > 0)
		status = RF_EXIT_CHECK;
	goto done;
abort:
	rf_out_abort(rep.emit);
	rep.emit = NULL;
	rf_run_abort(&run);
done:
	rf_diff_free(d);
	if (dpool != NULL)
		diff_teardown();
	for (int s = 0; s < 2; s++)
		free_side(&side[s]);
	for (size_t i = 0; i < rep.nfields; i++) {
		free(rep.fields[i].path);
		rf_buf_free(&rep.fields[i].ex);
	}
	free(rep.fields);
	free(rep.fslot);
	for (int i = 0; i < 5; i++)
		rf_buf_free(&rep.keys[i]);
	rf_buf_free(&rep.line);
	rf_buf_free(&rep.canon);
	for (size_t i = 0; i < nkeys; i++)
		rf_path_free(keys[i]);
	for (size_t i = 0; i < nignore; i++)
		rf_path_free(ignore[i]);
	free(keys);
	free(keyspecs);
	free(ignore);
	if (have_trusted)
		rf_trusted_free(&trusted);
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}

/* ---- drift ---------------------------------------------------------------- */

enum { G_BY = RF_OPT_PROGRAM, G_JSON, G_MAX_CHANGE, G_MEMORY, G_SUM,
	G_WINDOW };

#define DRIFT_MEMORY ((size_t)256 << 20)

/* One group's figures on both sides. */
struct group {
	unsigned char keyd[RF_KEYD_LEN];
	uint64_t n[2];
	double sum[2];
	uint32_t keyoff, keylen;	/* its canonical value, in the key arena */
};

/* Groups held in memory: an open-addressed table over an array. */
struct groups {
	struct group *g;
	size_t n, cap;
	uint32_t *slot;			/* index + 1, 0 empty */
	size_t nslot;
	rf_buf keys;
};

struct drift {
	rf_path *by, *sum;
	int window;			/* RF_WIN_*, or -1 */
	double limit;			/* percent */
	size_t memory;
	struct groups gs;
	rf_spill *spill;		/* partial figures, once memory is full */
	rf_buf scratch, canon, gkey;
	rf_sha256 *h;
	uint64_t records[2], groups_flagged, groups_total;
	uint64_t appeared, vanished, grew, shrank, sums;
	bool json;
	rf_buf out;			/* --json: the flagged groups */
};

static void
groups_clear(struct groups *gs)
{
	gs->n = 0;
	gs->keys.len = 0;
	if (gs->slot != NULL)
		memset(gs->slot, 0, gs->nslot * sizeof *gs->slot);
}

static void
groups_free(struct groups *gs)
{
	free(gs->g);
	free(gs->slot);
	rf_buf_free(&gs->keys);
}

static size_t
groups_held(const struct groups *gs)
{
	return gs->cap * sizeof *gs->g + gs->nslot * sizeof *gs->slot +
	    gs->keys.cap;
}

/* The group of a key, made when new; NULL when out of memory. */
static struct group *
group_get(struct groups *gs, const unsigned char keyd[RF_KEYD_LEN],
    const char *key, size_t keylen)
{
	uint64_t h;
	size_t i;

	memcpy(&h, keyd, sizeof h);
	if (2 * (gs->n + 1) > gs->nslot) {
		size_t ns = gs->nslot ? 2 * gs->nslot : 1024;
		uint32_t *nt = calloc(ns, sizeof *nt);
		if (nt == NULL)
			return NULL;
		for (size_t k = 0; k < gs->n; k++) {
			uint64_t hk;
			memcpy(&hk, gs->g[k].keyd, sizeof hk);
			for (i = hk & (ns - 1); nt[i] != 0; i = (i + 1) & (ns - 1))
				;
			nt[i] = (uint32_t)k + 1;
		}
		free(gs->slot);
		gs->slot = nt;
		gs->nslot = ns;
	}
	for (i = h & (gs->nslot - 1); gs->slot[i] != 0;
	    i = (i + 1) & (gs->nslot - 1)) {
		struct group *g = &gs->g[gs->slot[i] - 1];
		if (memcmp(g->keyd, keyd, RF_KEYD_LEN) == 0)
			return g;
	}
	if (gs->n == gs->cap) {
		size_t nc = gs->cap ? 2 * gs->cap : 256;
		struct group *ng = realloc(gs->g, nc * sizeof *ng);
		if (ng == NULL)
			return NULL;
		gs->g = ng;
		gs->cap = nc;
	}
	struct group *g = &gs->g[gs->n];
	memset(g, 0, sizeof *g);
	memcpy(g->keyd, keyd, RF_KEYD_LEN);
	g->keyoff = (uint32_t)gs->keys.len;
	g->keylen = (uint32_t)keylen;
	if (rf_buf_add(&gs->keys, key, keylen) < 0)
		return NULL;
	gs->slot[i] = (uint32_t)++gs->n;
	return g;
}

/* A spilled figure: a group's count and sum on one side, and its key. */
struct gpart {
	uint64_t n;
	double sum;
	uint8_t side;
};

/* Memory is full: the partial figures go to disk, to be added up later. */
static int
drift_flush(struct drift *dr, rf_err *e)
{
	int rc;

	if (dr->spill == NULL && (rc = rf_spill_new(64, 0, &dr->spill, e)) < 0)
		return rc;
	for (size_t i = 0; i < dr->gs.n; i++) {
		const struct group *g = &dr->gs.g[i];
		for (int s = 0; s < 2; s++) {
			if (g->n[s] == 0)
				continue;
			struct gpart p = { g->n[s], g->sum[s], (uint8_t)s };
			dr->scratch.len = 0;
			if (rf_buf_add(&dr->scratch, &p, sizeof p) < 0 ||
			    rf_buf_add(&dr->scratch, dr->gs.keys.p + g->keyoff,
			    g->keylen) < 0)
				return rf_seterr(e, RF_ENOMEM, "out of memory");
			if ((rc = rf_spill_add(dr->spill, g->keyd, dr->scratch.p,
			    dr->scratch.len, e)) < 0)
				return rc;
		}
	}
	groups_clear(&dr->gs);
	return 0;
}

/* The group of a record: its --by value, or the window that value is in. */
static int
drift_record(struct drift *dr, int side, const char *p, size_t n,
    const char **why, rf_err *e)
{
	const char *v;
	size_t vn;
	unsigned char d[RF_SHA256_LEN];
	int rc;

	dr->canon.len = 0;
	if ((rc = rf_json_canon(p, n, &dr->canon, e)) < 0) {
		*why = e->msg;
		return rc;
	}
	dr->gkey.len = 0;
	if (rf_json_get(dr->canon.p, dr->canon.len, dr->by, &v, &vn) < 0)
		/* Not a JSON text: the group of records without the field. */
		rc = rf_buf_adds(&dr->gkey, "(missing)");
	else if (dr->window >= 0) {
		int64_t secs, w;
		char name[32];
		if (rf_json_time(v, vn, 0, &secs, why) < 0 ||
		    rf_time_window(secs, dr->window, &w, why) < 0)
			return RF_EDATA;
		rf_window_name(w, dr->window, name, sizeof name);
		rc = rf_buf_addc(&dr->gkey, '"');
		if (rc == 0 && (rc = rf_buf_adds(&dr->gkey, name)) == 0)
			rc = rf_buf_addc(&dr->gkey, '"');
	} else
		rc = rf_buf_add(&dr->gkey, v, vn);
	if (rc < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	rf_sha256_once(dr->h, dr->gkey.p, dr->gkey.len, d);
	struct group *g = group_get(&dr->gs, d, dr->gkey.p, dr->gkey.len);
	if (g == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	g->n[side]++;
	dr->records[side]++;
	if (dr->sum != NULL &&
	    rf_json_get(dr->canon.p, dr->canon.len, dr->sum, &v, &vn) == 0 &&
	    (*v == '-' || (*v >= '0' && *v <= '9')))
		g->sum[side] += strtod(v, NULL);
	if (groups_held(&dr->gs) > dr->memory)
		return drift_flush(dr, e);
	return 0;
}

static int
drift_side(struct drift *dr, int side, struct dside *sd)
{
	int status = RF_EXIT_OK;

	for (size_t i = 0; i < sd->n && status == RF_EXIT_OK; i++) {
		struct dfile *f = &sd->f[i];
		rf_reader *r;
		rf_line ln;
		rf_err e;
		int rc;

		if ((rc = rf_reader_open(f->path, run.max_line,
		    f->has_sha ? RF_READ_SHA256 : 0, &r, &e)) < 0) {
			rf_warnx("%s", e.msg);
			return rf_status(rc);
		}
		while ((rc = rf_reader_next(r, &ln, &e)) == 1) {
			const char *why = NULL;
			if (rf_blank(ln.p, ln.len)) {
				run.blank++;
				continue;
			}
			run.records_in++;
			if ((rc = drift_record(dr, side, ln.p, ln.len, &why,
			    &e)) == 0)
				continue;
			if (rc == RF_ENOMEM || (rc != RF_EDATA && why == NULL)) {
				rf_warnx("%s", e.msg);
				status = rf_status(rc);
				break;
			}
			if ((status = rf_run_bad(&run, f->shown, ln.lineno, ln.p,
			    ln.len, why)) != RF_EXIT_OK)
				break;
		}
		if (rc < 0 && status == RF_EXIT_OK) {
			rf_warnx("%s", e.msg);
			status = rf_status(rc);
		}
		if (status == RF_EXIT_OK)
			status = done_file(f, r);
		rf_reader_close(r);
	}
	return status;
}

/* Groups in the order of their values: days, numbers, names. */
static const struct groups *sortgs;

static int
groupcmp(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	const char *kx = sortgs->keys.p + x->keyoff;
	const char *ky = sortgs->keys.p + y->keyoff;
	bool mx = x->keylen == 9 && memcmp(kx, "(missing)", 9) == 0;
	bool my = y->keylen == 9 && memcmp(ky, "(missing)", 9) == 0;

	if (mx || my)
		return mx - my;
	return rf_json_cmp(kx, x->keylen, ky, y->keylen);
}

static double
change(double from, double to)
{
	return from == 0 ? (to == 0 ? 0 : HUGE_VAL) :
	    100 * (to - from) / fabs(from);
}

/* Judges the groups held, in value order, and reports those flagged. */
static int
drift_judge(struct drift *dr)
{
	struct groups *gs = &dr->gs;

	sortgs = gs;
	if (gs->n > 1)
		qsort(gs->g, gs->n, sizeof *gs->g, groupcmp);
	for (size_t i = 0; i < gs->n; i++) {
		const struct group *g = &gs->g[i];
		const char *what = NULL;
		double c = change((double)g->n[0], (double)g->n[1]);
		double sc = change(g->sum[0], g->sum[1]);
		bool sumflag = dr->sum != NULL && fabs(sc) > dr->limit;

		dr->groups_total++;
		if (g->n[0] == 0) {
			what = "appeared";
			dr->appeared++;
		} else if (g->n[1] == 0) {
			what = "vanished";
			dr->vanished++;
		} else if (fabs(c) > dr->limit) {
			what = c > 0 ? "grew" : "shrank";
			if (c > 0)
				dr->grew++;
			else
				dr->shrank++;
		} else if (sumflag) {
			what = "sum changed";
			dr->sums++;
		} else
			continue;
		dr->groups_flagged++;
		const char *k = gs->keys.p + g->keyoff;
		if (dr->json) {
			rf_buf *o = &dr->out;
			char num[160];
			if (o->len > 0)
				rf_buf_addc(o, ',');
			rf_buf_adds(o, "{\"group\":");
			if (g->keylen == 9 && memcmp(k, "(missing)", 9) == 0)
				rf_buf_adds(o, "null,\"missing\":true");
			else
				rf_buf_add(o, k, g->keylen);
			snprintf(num, sizeof num, ",\"new\":%llu,\"old\":%llu,"
			    "\"what\":", (unsigned long long)g->n[1],
			    (unsigned long long)g->n[0]);
			rf_buf_adds(o, num);
			rf_json_addstr(o, what, strlen(what));
			if (dr->sum != NULL) {
				char a[32], b[32];
				a[rf_fmt_double(g->sum[0], a)] = '\0';
				b[rf_fmt_double(g->sum[1], b)] = '\0';
				snprintf(num, sizeof num, ",\"sum_new\":%s,"
				    "\"sum_old\":%s", b, a);
				rf_buf_adds(o, num);
			}
			rf_buf_addc(o, '}');
			continue;
		}
		printf("  %-24.*s %10llu %10llu", (int)g->keylen, k,
		    (unsigned long long)g->n[0], (unsigned long long)g->n[1]);
		if (g->n[0] > 0 && g->n[1] > 0)
			printf(" %+9.1f%%", c);
		else
			printf(" %10s", "");
		if (dr->sum != NULL)
			printf("  sum %+.1f%%", isinf(sc) ? 100.0 : sc);
		printf("  %s\n", what);
	}
	groups_clear(gs);
	return RF_EXIT_OK;
}

/* The spilled figures, a bucket at a time, added up and judged. */
static int
drift_spilled(struct drift *dr, rf_spill *s, rf_err *e)
{
	int rc;

	for (unsigned b = 0; b < rf_spill_count(s); b++) {
		rf_spill_iter it;
		const unsigned char *keyd;
		const char *p;
		size_t pn;

		if (rf_spill_entries(s, b) == 0)
			continue;
		if ((rc = rf_spill_open(s, b, &it, e)) < 0)
			return rc;
		while ((rc = rf_spill_next(&it, &keyd, &p, &pn, e)) == 1) {
			struct gpart gp;
			memcpy(&gp, p, sizeof gp);
			struct group *g = group_get(&dr->gs, keyd,
			    p + sizeof gp, pn - sizeof gp);
			if (g == NULL) {
				rc = rf_seterr(e, RF_ENOMEM, "out of memory");
				break;
			}
			g->n[gp.side] += gp.n;
			g->sum[gp.side] += gp.sum;
		}
		rf_spill_close(&it);
		rf_spill_drop(s, b);
		if (rc < 0)
			return rc;
		drift_judge(dr);
	}
	return 0;
}

static int
cmd_drift(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "by", required_argument, NULL, G_BY },
		{ "json", no_argument, NULL, G_JSON },
		{ "max-change", required_argument, NULL, G_MAX_CHANGE },
		{ "memory", required_argument, NULL, G_MEMORY },
		{ "sum", required_argument, NULL, G_SUM },
		{ "trusted", required_argument, NULL, 't' },
		{ "window", required_argument, NULL, G_WINDOW },
		ATTEST_LONGOPTS,
		RF_RUN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	/* Static: a usage error returns with its paths still reachable. */
	static struct drift dr;
	struct dside side[2];
	const char *trustfile = NULL, *byspec = NULL, *limitarg = NULL;
	rf_trusted trusted;
	bool have_trusted = false;
	rf_err e;
	int ch, rc, status = RF_EXIT_OK;

	memset(&dr, 0, sizeof dr);
	memset(side, 0, sizeof side);
	dr.window = -1;
	dr.limit = -1;
	dr.memory = DRIFT_MEMORY;
	while ((ch = getopt_long(argc, argv, "hqt:", longopts, NULL)) != -1) {
		switch (ch) {
		case G_BY:
			rf_path_free(dr.by);
			if (rf_path_compile(optarg, &dr.by, &e) < 0) {
				rf_warnx("--by: %s", e.msg);
				return RF_EXIT_USAGE;
			}
			byspec = optarg;
			break;
		case 'h':
			usage(RF_EXIT_OK);
		case G_JSON:
			dr.json = true;
			break;
		case G_MAX_CHANGE: {
			char *end;
			errno = 0;
			dr.limit = strtod(optarg, &end);
			if (errno != 0 || end == optarg || strcmp(end, "%") != 0 ||
			    !(dr.limit >= 0)) {
				rf_warnx("--max-change %s: not a percentage, such "
				    "as 20%%", optarg);
				return RF_EXIT_USAGE;
			}
			limitarg = optarg;
			break;
		}
		case G_MEMORY:
			if (parse_memory(optarg, (size_t)1 << 16, &dr.memory) < 0)
				return RF_EXIT_USAGE;
			break;
		case G_SUM:
			rf_path_free(dr.sum);
			if (rf_path_compile(optarg, &dr.sum, &e) < 0) {
				rf_warnx("--sum: %s", e.msg);
				return RF_EXIT_USAGE;
			}
			break;
		case 't':
			trustfile = optarg;
			break;
		case G_WINDOW:
			if ((dr.window = rf_window_parse(optarg)) < 0) {
				rf_warnx("--window: not hour, day or month: %s",
				    optarg);
				return RF_EXIT_USAGE;
			}
			break;
		default:
			if (attest_opt(ch, optarg))
				break;
			if ((rc = rf_run_opt(&run, ch, optarg)) < 0)
				return RF_EXIT_USAGE;
			if (rc == 0)
				usage(RF_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;

	if (dr.by == NULL || dr.limit < 0) {
		rf_warnx("drift needs --by path and --max-change p%%");
		usage(RF_EXIT_USAGE);
	}
	if (argc != 2)
		usage(RF_EXIT_USAGE);
	if ((status = attest_start()) != RF_EXIT_OK)
		return status;
	rf_cleanup_install();
	if ((status = open_sides(side, argv, trustfile, &trusted,
	    &have_trusted)) != RF_EXIT_OK)
		goto done;
	if ((dr.h = rf_sha256_new()) == NULL) {
		rf_warnx("out of memory");
		status = RF_EXIT_IO;
		goto done;
	}
	char *inputs[] = { argv[0], argv[1] };
	if ((status = rf_run_start(&run, 2, inputs)) != RF_EXIT_OK)
		goto done;
	for (int s = 0; s < 2 && status == RF_EXIT_OK; s++)
		status = drift_side(&dr, s, &side[s]);
	if (status != RF_EXIT_OK) {
		rf_run_abort(&run);
		goto done;
	}
	if (!dr.json) {
		printf("old: %s, %llu records\nnew: %s, %llu records\n",
		    side[0].arg, (unsigned long long)dr.records[0], side[1].arg,
		    (unsigned long long)dr.records[1]);
		printf("by: %s%s%s, more than %s flagged\n", byspec,
		    dr.window >= 0 ? ", by " : "", dr.window == RF_WIN_HOUR ?
		    "hour" : dr.window == RF_WIN_DAY ? "day" : dr.window ==
		    RF_WIN_MONTH ? "month" : "", limitarg);
	}
	if (dr.spill != NULL) {
		if ((rc = drift_flush(&dr, &e)) < 0 ||
		    (rc = drift_spilled(&dr, dr.spill, &e)) < 0) {
			rf_warnx("%s", e.msg);
			status = rf_status(rc);
			rf_run_abort(&run);
			goto done;
		}
	} else
		drift_judge(&dr);
	if (dr.json) {
		rf_buf b = { 0 };
		char num[256];
		snprintf(num, sizeof num, "{\"appeared\":%llu,\"flagged\":[",
		    (unsigned long long)dr.appeared);
		rf_buf_adds(&b, num);
		rf_buf_add(&b, dr.out.p, dr.out.len);
		snprintf(num, sizeof num, "],\"grew\":%llu,\"groups\":%llu,"
		    "\"new\":%llu,\"old\":%llu,\"shrank\":%llu,"
		    "\"sum_changed\":%llu,\"vanished\":%llu}",
		    (unsigned long long)dr.grew,
		    (unsigned long long)dr.groups_total,
		    (unsigned long long)dr.records[1],
		    (unsigned long long)dr.records[0],
		    (unsigned long long)dr.shrank, (unsigned long long)dr.sums,
		    (unsigned long long)dr.vanished);
		rf_buf_adds(&b, num);
		status = print_json(&b);
		rf_buf_free(&b);
	} else {
		printf("%llu groups: %llu appeared, %llu vanished, %llu grew, "
		    "%llu shrank", (unsigned long long)dr.groups_total,
		    (unsigned long long)dr.appeared,
		    (unsigned long long)dr.vanished, (unsigned long long)dr.grew,
		    (unsigned long long)dr.shrank);
		if (dr.sum != NULL)
			printf(", %llu sums changed", (unsigned long long)dr.sums);
		printf(", %llu within %s\n", (unsigned long long)(dr.groups_total -
		    dr.groups_flagged), limitarg);
	}
	run.records_out = run.records_in - run.quarantined;
	rf_stat extra[] = {
		{ "groups", "Groups on either side.", dr.groups_total },
		{ "groups_flagged", "Groups flagged.", dr.groups_flagged },
		{ "groups_appeared", "Groups in new only.", dr.appeared },
		{ "groups_vanished", "Groups in old only.", dr.vanished },
		{ "groups_grew", "Groups whose count grew past the limit.",
		    dr.grew },
		{ "groups_shrank", "Groups whose count shrank past the limit.",
		    dr.shrank },
		{ "groups_sum_changed", "Groups whose count held but whose "
		    "total moved past the limit.", dr.sums },
	};
	if (status == RF_EXIT_OK)
		status = rf_run_finish(&run, extra,
		    sizeof extra / sizeof extra[0]);
	if (status == RF_EXIT_OK && dr.groups_flagged > 0)
		status = RF_EXIT_CHECK;
done:
	for (int s = 0; s < 2; s++)
		free_side(&side[s]);
	groups_free(&dr.gs);
	rf_spill_free(dr.spill);
	rf_buf_free(&dr.scratch);
	rf_buf_free(&dr.canon);
	rf_buf_free(&dr.gkey);
	rf_buf_free(&dr.out);
	rf_sha256_free(dr.h);
	rf_path_free(dr.by);
	rf_path_free(dr.sum);
	if (have_trusted)
		rf_trusted_free(&trusted);
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}

/* ---- dataset -------------------------------------------------------------- */

enum { S_ALL = RF_OPT_PROGRAM, S_JSON, S_MODE, S_AUDIT };

/* Without --all, the size of the version's files is known: an ETA. */
static bool dataset_sized;

/* One file of a version, checked on the pool against its manifest line. */
struct fcheck {
	rf_task task;
	char path[PATH_MAX];
	const rf_mfile *want;
	size_t maxline;
	/* results */
	bool regular;
	unsigned char sha[RF_SHA256_LEN];
	uint64_t size;
	rf_dsum sum;
	rf_schema *schema;	/* its records', when the MANIFEST has one */
	rf_err e;
	int rc;
};

static void
check_file(rf_task *t)
{
	struct fcheck *fc = (struct fcheck *)t;
	struct stat st;
	rf_reader *r;
	rf_line ln;
	rf_buf canon = { 0 };
	rf_sha256 *h;
	unsigned char d[RF_SHA256_LEN];
	int rc;

	rf_dsum_init(&fc->sum);
	fc->rc = 0;
	fc->e.msg[0] = '\0';
	/* A link in a version would make its bytes someone else's. */
	if (lstat(fc->path, &st) < 0) {
		fc->rc = rf_seterr(&fc->e, RF_ECHECK, "missing: %s",
		    strerror(errno));
		return;
	}
	if (!(fc->regular = S_ISREG(st.st_mode))) {
		fc->rc = rf_seterr(&fc->e, RF_ECHECK, "not a regular file");
		return;
	}
	if ((h = rf_sha256_new()) == NULL) {
		fc->rc = rf_seterr(&fc->e, RF_ENOMEM, "out of memory");
		return;
	}
	if ((rc = rf_reader_open(fc->path, fc->maxline, RF_READ_SHA256, &r,
	    &fc->e)) < 0) {
		fc->rc = rc;
		rf_sha256_free(h);
		return;
	}
	while ((rc = rf_reader_next(r, &ln, &fc->e)) == 1) {
		if (rf_blank(ln.p, ln.len))
			continue;
		canon.len = 0;
		if ((rc = rf_json_canon(ln.p, ln.len, &canon, &fc->e)) < 0) {
			char why[sizeof fc->e.msg];
			snprintf(why, sizeof why, "%s", fc->e.msg);
			rc = rf_seterr(&fc->e, RF_ECHECK, "line %llu: %s",
			    (unsigned long long)ln.lineno, why);
			break;
		}
		rf_sha256_once(h, canon.p, canon.len, d);
		rf_dsum_add_digest(&fc->sum, d);
		if (fc->schema != NULL &&
		    (rc = rf_schema_add(fc->schema, ln.p, ln.len)) < 0) {
			rf_seterr(&fc->e, rc, "out of memory");
			break;
		}
	}
	if (rc == 0) {
		rf_reader_sha256(r, fc->sha);
		fc->size = rf_reader_pos(r);
	}
	/* A corrupt gzip stream is a damaged file, not bad data. */
	fc->rc = rc == RF_EDATA || rc == RF_ETOOLONG ? RF_ECHECK : rc;
	rf_reader_close(r);
	rf_buf_free(&canon);
	rf_sha256_free(h);
}

static void
free_fcheck(struct fcheck *fc, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rf_schema_free(fc[i].schema);
	free(fc);
}

/* A problem found: said, and counted.  *st keeps the worst status. */
struct vreport {
	const char *name;		/* DATASET@NNNNNN, or DATASET */
	uint64_t problems;
	bool json, echo;		/* echo: said on stderr too */
	rf_buf out;			/* --json: the problems */
};

static void problem(struct vreport *vr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
problem(struct vreport *vr, const char *fmt, ...)
{
	char msg[PATH_MAX + 512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	vr->problems++;
	/* An audit export is the output: its problems are said aside too. */
	if (vr->echo)
		rf_warnx("%s: %s", vr->name, msg);
	if (!vr->json) {
		printf("%s: %s\n", vr->name, msg);
		return;
	}
	if (vr->out.len > 0)
		rf_buf_addc(&vr->out, ',');
	rf_json_addstr_lossy(&vr->out, msg, strlen(msg));
}

static int
mfilecmp(const void *key, const void *elem)
{
	return strcmp(key, ((const rf_mfile *)elem)->name);
}

/* Files in the version's directory that its manifest does not list. */
static int
strays(struct vreport *vr, const rf_manifest *m, const char *root,
    const char *rel)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
	if ((d = opendir(dir)) == NULL) {
		problem(vr, "%s: %s", dir, strerror(errno));
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		char name[PATH_MAX], p[PATH_MAX * 2];
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "",
		    de->d_name);
		if (*rel == '\0' && (strcmp(name, "MANIFEST") == 0 ||
		    strcmp(name, "MANIFEST.sig") == 0 ||
		    strcmp(name, "SHA256SUMS") == 0))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			strays(vr, m, root, name);
		else if (bsearch(name, m->f, m->n, sizeof *m->f,
		    mfilecmp) == NULL)
			problem(vr, "%s: a file the MANIFEST does not list", name);
	}
	closedir(d);
	return 0;
}

static int
first_change(const rf_change *c, void *arg)
{
	snprintf(arg, 512, "%s: %s%s%s%s", c->path, c->what,
	    *c->detail ? " (" : "", c->detail, *c->detail ? ")" : "");
	return -1;
}

/*
 * The schema the MANIFEST records must be the one the files' records
 * make: the files' schemas merged in order, exact when none left paths
 * unrecorded, or else the files read again in order, as a commit does.
 * Only when every file is the MANIFEST's: one that is not is the problem.
 */
static int
check_schema(struct vreport *vr, const rf_manifest *m, struct fcheck *fc)
{
	rf_schema *got, *want;
	rf_buf b = { 0 };
	rf_err e;
	bool exact = true;
	int rc;

	for (size_t i = 0; i < m->n; i++) {
		/* A file that is not the MANIFEST's is the problem already. */
		if (fc[i].rc < 0 || memcmp(fc[i].sha, m->f[i].sha256,
		    RF_SHA256_LEN) != 0)
			return RF_EXIT_OK;
		exact = exact && rf_schema_unrecorded(fc[i].schema) == 0;
	}
	if ((rc = rf_schema_new(RF_SCHEMA_FIELDS_DEFAULT,
	    RF_SCHEMA_VALUES_DEFAULT, &got, &e)) < 0)
		return rf_fail(rc, &e);
	for (size_t i = 0; i < m->n && rc == 0; i++)
		rc = exact ? rf_schema_merge(got, fc[i].schema) :
		    rf_schema_read(got, fc[i].path, &e);
	if (rc == 0)
		rc = rf_schema_format(got, &b, &e);
	if (rc == 0 && (b.len - 1 != strlen(m->schema) ||
	    memcmp(b.p, m->schema, b.len - 1) != 0)) {
		char what[512] = "";
		if (rf_schema_parse(m->schema, strlen(m->schema), "MANIFEST",
		    &want, &e) == 0) {
			rf_schema_compat(want, got, first_change, what);
			rf_schema_free(want);
		}
		problem(vr, "its schema is not the one its records make%s%s",
		    *what ? ": " : "", what);
	}
	if (rc == RF_ENOMEM)
		rf_seterr(&e, rc, "out of memory");
	rf_buf_free(&b);
	rf_schema_free(got);
	return rc < 0 ? rf_fail(rc, &e) : RF_EXIT_OK;
}

/* Everything about version v; its problems are said and counted. */
static int
check_version(rf_store *s, uint32_t v, const rf_trusted *trusted,
    rf_pool *pool, struct vreport *vr, uint64_t *files, uint64_t *records)
{
	rf_manifest m;
	rf_buf sums = { 0 }, have = { 0 };
	char vdir[PATH_MAX], sp[PATH_MAX];
	struct fcheck *fc;
	rf_err e;
	int rc;

	if (!rf_store_committed(s, v))
		problem(vr, "no line of the log commits it");
	if ((rc = rf_store_load(s, v, trusted, &m, &e)) < 0) {
		if (rc != RF_ECHECK)
			return rf_fail(rc, &e);
		problem(vr, "%s", e.msg);
		return RF_EXIT_OK;
	}
	if (att.path != NULL)
		attest_candidate(s->dir, v, m.sha256);
	*files += m.n;
	*records += m.total.count;
	for (size_t i = 0; i < m.n && dataset_sized; i++)
		run.bytes_total += m.f[i].size;
	/* SHA256SUMS is vouched for by the manifest: it must say the same. */
	rf_version_path(s, v, "SHA256SUMS", sp);
	if ((rc = rf_sums_format(&m, &sums, &e)) < 0 ||
	    (rc = rf_read_file(sp, (size_t)1 << 30, &have, &e)) < 0) {
		rf_manifest_free(&m);
		rf_buf_free(&sums);
		rf_buf_free(&have);
		return rf_fail(rc, &e);
	}
	if (have.len != sums.len || memcmp(have.p, sums.p, sums.len) != 0)
		problem(vr, "SHA256SUMS does not list the files as the MANIFEST "
		    "does");
	rf_buf_free(&sums);
	rf_buf_free(&have);
	if ((fc = calloc(m.n ? m.n : 1, sizeof *fc)) == NULL) {
		rf_manifest_free(&m);
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	for (size_t i = 0; i < m.n; i++) {
		if (m.schema != NULL && rf_schema_new(RF_SCHEMA_FIELDS_DEFAULT,
		    RF_SCHEMA_VALUES_DEFAULT, &fc[i].schema, &e) < 0) {
			free_fcheck(fc, i);
			rf_manifest_free(&m);
			return rf_fail(RF_ENOMEM, &e);
		}
		fc[i].task.fn = check_file;
		fc[i].want = &m.f[i];
		fc[i].maxline = run.max_line;
		rf_version_path(s, v, m.f[i].name, fc[i].path);
		rf_pool_submit(pool, &fc[i].task);
	}
	for (size_t i = 0; i < m.n; i++) {
		const rf_mfile *f = &m.f[i];
		char hex[65];
		rf_pool_wait(pool, &fc[i].task);
		run.records_in += fc[i].sum.count;
		run.records_out += fc[i].sum.count;
		run.bytes_in += fc[i].size;
		rf_run_tick(&run, 0);
		if (fc[i].rc < 0 && fc[i].rc != RF_ECHECK) {
			for (size_t k = i + 1; k < m.n; k++)
				rf_pool_wait(pool, &fc[k].task);
			rc = rf_fail(fc[i].rc, &fc[i].e);
			free_fcheck(fc, m.n);
			rf_manifest_free(&m);
			return rc;
		}
		if (fc[i].rc == RF_ECHECK)
			problem(vr, "%s: %s", f->name, fc[i].e.msg);
		else if (memcmp(fc[i].sha, f->sha256, RF_SHA256_LEN) != 0)
			problem(vr, "%s: its SHA-256 is not the MANIFEST's",
			    f->name);
		else if (fc[i].size != f->size)
			problem(vr, "%s: %llu bytes, not the MANIFEST's %llu",
			    f->name, (unsigned long long)fc[i].size,
			    (unsigned long long)f->size);
		else if (!rf_dsum_equal(&fc[i].sum, &f->digest))
			problem(vr, "%s: its records are not the MANIFEST's "
			    "(%llu records and dataset digest)", f->name,
			    (unsigned long long)fc[i].sum.count);
		/* The stamp, in the manifest and in lineage/. */
		rf_stamp st;
		char lp[PATH_MAX], rel[96];
		rf_buf lb = { 0 };
		if (f->prov == NULL) {
			problem(vr, "%s: no provenance stamp", f->name);
			continue;
		}
		if (rf_stamp_parse(f->prov, strlen(f->prov), &st, &e) < 0) {
			problem(vr, "%s: its stamp: %s", f->name, e.msg);
			continue;
		}
		if (memcmp(st.out_sha256, f->sha256, RF_SHA256_LEN) != 0)
			problem(vr, "%s: its stamp is another file's", f->name);
		rf_stamp_free(&st);
		rf_hex(f->sha256, RF_SHA256_LEN, hex);
		snprintf(rel, sizeof rel, "lineage/%s.prov", hex);
		rf_store_path(s, lp, rel);
		if ((rc = rf_read_file(lp, (size_t)16 << 20, &lb, &e)) ==
		    RF_EIO && errno != ENOENT) {
			/* Not a problem of the version: status 4, not 1. */
			for (size_t k = i + 1; k < m.n; k++)
				rf_pool_wait(pool, &fc[k].task);
			free_fcheck(fc, m.n);
			rf_manifest_free(&m);
			rf_buf_free(&lb);
			return rf_fail(rc, &e);
		} else if (rc < 0)
			problem(vr, "%s: %s: %s", f->name, rel,
			    errno == ENOENT ? "missing" : e.msg);
		else if (rf_stamp_parse(lb.p, lb.len, &st, &e) < 0)
			problem(vr, "%s: %s: %s", f->name, rel, e.msg);
		else {
			if (memcmp(st.out_sha256, f->sha256, RF_SHA256_LEN) != 0)
				problem(vr, "%s: %s is another file's stamp",
				    f->name, rel);
			rf_stamp_free(&st);
		}
		rf_buf_free(&lb);
	}
	if (m.schema != NULL && (rc = check_schema(vr, &m, fc)) !=
	    RF_EXIT_OK) {
		free_fcheck(fc, m.n);
		rf_manifest_free(&m);
		return rc;
	}
	free_fcheck(fc, m.n);
	rf_version_path(s, v, NULL, vdir);
	strays(vr, &m, vdir, "");
	rf_manifest_free(&m);
	return RF_EXIT_OK;
}

/*
 * Prints the audit export of s (refill-audit(5)): its history, the
 * summary derived from it, and verification, the --json report of the
 * check just made; signed with --sign's key.
 */
static int
audit_export(rf_store *s, const char *dir, const rf_trusted *trusted,
    const rf_buf *verification)
{
	rf_buf a = { 0 }, c = { 0 }, line = { 0 };
	char t[32], pub[RF_PUBKEY_LEN + 1];
	rf_err e;
	int rc = 0;

	if (s == NULL) {
		/* What does not hold cannot be checked by anyone else either. */
		rf_warnx("%s: no audit export: its log does not hold", dir);
		return RF_EXIT_CHECK;
	}
	rf_timestamp(rf_now(), t);
	rf_buf_adds(&a, "{\"dataset\":");
	rf_json_addstr_lossy(&a, dir, strlen(dir));
	rf_buf_adds(&a, ",\"exported\":\"");
	rf_buf_adds(&a, t);
	rf_buf_adds(&a, "\",\"format\":\"" RF_AUDIT_FORMAT "\",\"history\":");
	if ((rc = rf_audit_history(s, &a, &e)) == 0) {
		if (att.key != NULL) {
			rf_key_public(att.key, pub);
			rf_buf_adds(&a, ",\"signer\":\"");
			rf_buf_adds(&a, pub);
			rf_buf_addc(&a, '"');
		}
		rf_buf_adds(&a, ",\"summary\":");
		rc = rf_audit_summary(s, trusted, &a, &e);
	}
	if (rc == 0) {
		rf_buf_adds(&a, ",\"verification\":");
		rf_buf_add(&a, verification->p, verification->len);
		rc = rf_buf_addc(&a, '}') < 0 ? RF_ENOMEM : 0;
		if (rc == RF_ENOMEM)
			rf_seterr(&e, rc, "out of memory");
	}
	if (rc == 0)
		rc = rf_json_canon(a.p, a.len, &c, &e);
	if (rc == 0) {
		rf_buf_adds(&line, "{\"audit\":");
		rf_buf_add(&line, c.p, c.len);
		if (att.key != NULL) {
			unsigned char sig[RF_SIG_LEN];
			char b64[RF_SIG_LEN * 2];
			if ((rc = rf_key_sign(att.key, c.p, c.len, sig, &e)) == 0) {
				rf_b64_encode(sig, sizeof sig, b64);
				rf_buf_adds(&line, ",\"sig\":\"");
				rf_buf_adds(&line, b64);
				rf_buf_addc(&line, '"');
			}
		}
		if (rc == 0 && rf_buf_adds(&line, "}\n") < 0)
			rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
	}
	if (rc == 0)
		fwrite(line.p, 1, line.len, stdout);
	else
		rf_warnx("%s", e.msg);
	rf_buf_free(&a);
	rf_buf_free(&c);
	rf_buf_free(&line);
	return rc < 0 ? rf_status(rc) : RF_EXIT_OK;
}

static void
bad_report(void *vr, const char *msg)
{
	problem(vr, "%s", msg);
}

static int
cmd_dataset(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, S_ALL },
		{ "audit", no_argument, NULL, S_AUDIT },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, S_JSON },
		{ "trusted", required_argument, NULL, 't' },
		ATTEST_LONGOPTS,
		RF_RUN_FIGURE_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *trustfile = NULL;
	bool all = false, json = false, have_trusted = false, audit = false;
	char dir[PATH_MAX];
	rf_trusted trusted;
	rf_store *s = NULL;
	rf_pool *pool = NULL;
	uint32_t v, *vs = NULL;
	size_t nv = 0;
	uint64_t problems = 0, files = 0, records = 0, checked = 0;
	rf_buf out = { 0 };
	rf_err e;
	int ch, rc, status = RF_EXIT_OK;

	while ((ch = getopt_long(argc, argv, "hqt:", longopts, NULL)) != -1) {
		switch (ch) {
		case S_ALL:
			all = true;
			break;
		case S_AUDIT:
			audit = true;
			break;
		case 'h':
			usage(RF_EXIT_OK);
		case S_JSON:
			json = true;
			break;
		case 't':
			trustfile = optarg;
			break;
		default:
			if (attest_opt(ch, optarg))
				break;
			if ((rc = rf_run_opt(&run, ch, optarg)) < 0)
				return RF_EXIT_USAGE;
			if (rc == 0)
				usage(RF_EXIT_USAGE);
		}
	}
	bool quiet = run.progress < 0;
	argc -= optind;
	argv += optind;

	if (argc != 1)
		usage(RF_EXIT_USAGE);
	if ((rc = rf_dataset_arg(argv[0], dir, sizeof dir, &v, &e)) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_USAGE;
	}
	if (all && v != 0) {
		rf_warnx("--all checks every version: give the dataset alone");
		return RF_EXIT_USAGE;
	}
	if (all && att.path != NULL) {
		rf_warnx("--report vouches for one version: not with --all");
		return RF_EXIT_USAGE;
	}
	if (audit) {
		/* The export is of every version, and is the output. */
		if (v != 0 || json || att.path != NULL) {
			rf_warnx("--audit exports the whole dataset: give it "
			    "alone, without --json or --report");
			return RF_EXIT_USAGE;
		}
		all = true;
		if (att.keypath != NULL &&
		    (rc = rf_key_load(att.keypath, &att.key, &e)) < 0)
			return rf_fail(rc, &e);
	} else if ((status = attest_start()) != RF_EXIT_OK)
		return status;
	if ((rc = rf_trusted_default(trustfile, &trusted, &e)) < 0) {
		rf_warnx("%s", e.msg);
		return rf_status(rc);
	}
	have_trusted = rc == 1;
	struct vreport vr = { .name = dir, .json = json || audit,
	    .echo = audit };
	dataset_sized = !all;
	if ((status = rf_run_start(&run, 0, NULL)) != RF_EXIT_OK)
		goto done;
	/* The log: its chain, its signatures and, if given, its signers. */
	if ((rc = rf_store_open(dir, 0, have_trusted ? &trusted : NULL, &s,
	    NULL, &e)) < 0) {
		if (rc != RF_ECHECK) {
			status = rf_fail(rc, &e);
			goto done;
		}
		problem(&vr, "log: %s", e.msg);
		problems += vr.problems;
		goto report;
	}
	if (rf_store_check_pointer(s, &e) < 0) {
		problem(&vr, "%s", e.msg);
		problems += vr.problems;
	}
	/* A report a publish line carries must be what it says it is. */
	if ((rc = rf_audit_reports(s, bad_report, &vr, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto done;
	}
	problems = vr.problems;
	/* The POLICY must be the one the log set last, by an owner. */
	rf_policy pol;
	if ((rc = rf_store_policy(s, have_trusted ? &trusted : NULL, &pol,
	    &e)) == RF_ECHECK) {
		problem(&vr, "%s", e.msg);
		problems = vr.problems;
	} else if (rc < 0) {
		status = rf_fail(rc, &e);
		goto done;
	} else
		rf_policy_free(&pol);
	if ((rc = rf_pool_new(0, &pool, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto done;
	}
	if (all) {
		uint32_t *miss = NULL;
		size_t *mline = NULL, nmiss = 0;
		if ((rc = rf_store_versions(s, &vs, &nv, &e)) < 0 ||
		    (rc = rf_audit_missing(s, vs, nv, &miss, &mline, &nmiss,
		    &e)) < 0) {
			status = rf_fail(rc, &e);
			goto done;
		}
		/* What the log keeps must be there: a version is not lost. */
		for (size_t i = 0; i < nmiss; i++)
			problem(&vr, "version %06u is committed (line %zu of the "
			    "log) and no gc removed it, but its directory is "
			    "gone", (unsigned)miss[i], mline[i]);
		problems = vr.problems;
		free(miss);
		free(mline);
	} else {
		if (v == 0 && (v = s->current) == 0) {
			rf_warnx("%s: no current version", dir);
			status = RF_EXIT_USAGE;
			goto done;
		}
		if ((vs = malloc(sizeof *vs)) == NULL) {
			rf_warnx("out of memory");
			status = RF_EXIT_IO;
			goto done;
		}
		vs[nv++] = v;
	}
	for (size_t i = 0; i < nv && status == RF_EXIT_OK; i++) {
		char name[PATH_MAX + 16], vp[PATH_MAX];
		struct stat st;
		snprintf(name, sizeof name, "%s@%06u", dir, (unsigned)vs[i]);
		struct vreport vv = { .name = name, .json = json || audit,
		    .echo = audit };
		uint64_t f0 = files, r0 = records;
		rf_version_path(s, vs[i], NULL, vp);
		if (stat(vp, &st) < 0) {
			rf_warnx("%s: no version %06u", dir, (unsigned)vs[i]);
			status = RF_EXIT_USAGE;
			break;
		}
		status = check_version(s, vs[i], have_trusted ? &trusted : NULL,
		    pool, &vv, &files, &records);
		problems += vv.problems;
		checked++;
		if (json || audit) {
			char num[128];
			if (out.len > 0)
				rf_buf_addc(&out, ',');
			snprintf(num, sizeof num, "{\"files\":%llu,\"ok\":%s,"
			    "\"problems\":[", (unsigned long long)(files - f0),
			    vv.problems == 0 ? "true" : "false");
			rf_buf_adds(&out, num);
			rf_buf_add(&out, vv.out.p, vv.out.len);
			snprintf(num, sizeof num, "],\"records\":%llu,"
			    "\"version\":%u}", (unsigned long long)(records - r0),
			    (unsigned)vs[i]);
			rf_buf_adds(&out, num);
		} else if (vv.problems == 0 && !quiet)
			printf("%s: OK: %llu files, %llu records\n", name,
			    (unsigned long long)(files - f0),
			    (unsigned long long)(records - r0));
		rf_buf_free(&vv.out);
	}
	if (status != RF_EXIT_OK)
		goto done;
report:
	if (json || audit) {
		rf_buf b = { 0 };
		char num[128];
		rf_buf_adds(&b, "{\"dataset\":");
		rf_json_addstr_lossy(&b, dir, strlen(dir));
		rf_buf_adds(&b, ",\"log\":[");
		rf_buf_add(&b, vr.out.p, vr.out.len);
		snprintf(num, sizeof num, "],\"ok\":%s,\"versions\":[",
		    problems == 0 ? "true" : "false");
		rf_buf_adds(&b, num);
		rf_buf_add(&b, out.p, out.len);
		rf_buf_adds(&b, "]}");
		status = audit ? audit_export(s, dir, have_trusted ? &trusted :
		    NULL, &b) : print_json(&b);
		rf_buf_free(&b);
	}
	if (status == RF_EXIT_OK) {
		rf_stat extra[] = {
			{ "versions_checked", "Dataset versions checked.",
			    checked },
			{ "files_checked", "Files that the versions' manifests "
			    "list.", files },
			{ "problems", "Problems found.", problems },
		};
		status = rf_run_finish(&run, extra,
		    sizeof extra / sizeof extra[0]);
	}
	if (status == RF_EXIT_OK && problems > 0) {
		if (!quiet)
			rf_warnx("%s: %llu problem%s found", dir,
			    (unsigned long long)problems, problems == 1 ? "" : "s");
		status = RF_EXIT_CHECK;
	}
done:
	if (status != RF_EXIT_OK && status != RF_EXIT_CHECK)
		rf_run_abort(&run);
	rf_pool_free(pool);
	rf_store_close(s);
	free(vs);
	rf_buf_free(&out);
	rf_buf_free(&vr.out);
	if (have_trusted)
		rf_trusted_free(&trusted);
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}

/* ---- audit -------------------------------------------------------------- */

/* Checks an audit export offline: refill-audit(5). */
static int
cmd_audit(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "trusted", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *trustfile = NULL;
	bool quiet = false, have_trusted;
	rf_trusted trusted;
	rf_audit_info info;
	rf_buf b = { 0 };
	rf_err e;
	int ch, rc, status = RF_EXIT_OK;

	while ((ch = getopt_long(argc, argv, "hqt:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(RF_EXIT_OK);
		case 'q':
			quiet = true;
			break;
		case 't':
			trustfile = optarg;
			break;
		default:
			usage(RF_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage(RF_EXIT_USAGE);
	if ((rc = rf_trusted_default(trustfile, &trusted, &e)) < 0)
		return rf_fail(rc, &e);
	have_trusted = rc == 1;
	if ((rc = rf_read_file(argv[0], SIZE_MAX / 2, &b, &e)) < 0 ||
	    (rc = rf_audit_check(b.p, b.len, argv[0], have_trusted ? &trusted :
	    NULL, &info, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	const rf_signer *sg = have_trusted && info.is_signed ?
	    rf_trusted_find(&trusted, info.signer) : NULL;
	if (!quiet) {
		printf("%s: the history holds and the summary is its own: "
		    "dataset %s, %zu log lines, %zu versions, current %06u\n",
		    argv[0], info.dataset, info.log_lines, info.versions,
		    (unsigned)info.current);
		if (info.is_signed)
			printf("%s: exported %s, signed by %s\n", argv[0],
			    info.exported, sg != NULL ? sg->name : info.signer);
		else
			printf("%s: exported %s, unsigned: its verification is "
			    "the exporter's word\n", argv[0], info.exported);
		printf("%s: verification at export: %s\n", argv[0],
		    info.verified_ok ? "no problem found" : "problems found");
	}
	if (!info.verified_ok)
		status = RF_EXIT_CHECK;
out:
	rf_buf_free(&b);
	if (have_trusted)
		rf_trusted_free(&trusted);
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}

/* ---- compat ------------------------------------------------------------ */

/*
 * The schema an operand stands for: a dataset's current version, a
 * version, a refill-schema(5) document, or a file of records to infer one
 * from.
 */
static int
compat_side(const char *arg, const rf_trusted *trusted, rf_schema **out)
{
	char dir[PATH_MAX];
	struct stat st;
	uint32_t v = 0;
	rf_store *s;
	rf_err e;
	int rc;

	if ((stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) ||
	    (stat(arg, &st) < 0 && strchr(arg, '@') != NULL)) {
		if ((rc = rf_dataset_arg(arg, dir, sizeof dir, &v, &e)) < 0)
			return rf_fail(rc, &e);
		if (!rf_is_dataset(dir)) {
			rf_warnx("%s: not a dataset", dir);
			return RF_EXIT_USAGE;
		}
		if ((rc = rf_store_open(dir, 0, trusted, &s, NULL, &e)) < 0)
			return rf_fail(rc, &e);
		/* The log's current version is read; the link is only reported. */
		rf_err pe;
		if (v == 0 && rf_store_check_pointer(s, &pe) < 0)
			rf_warnx("%s", pe.msg);
		if ((rc = rf_store_version(s, &v, &e)) == 0)
			rc = rf_store_schema(s, v, trusted, out, &e);
		rf_store_close(s);
		return rc < 0 ? rf_fail(rc, &e) : RF_EXIT_OK;
	}
	if ((rc = rf_schema_load(arg, out, &e)) < 0)
		return rf_fail(rc, &e);
	return RF_EXIT_OK;
}

struct cctx {
	int mode;
	bool json, quiet;
	uint64_t changes, breaking;
	rf_buf out;
};

static int
compat_change(const rf_change *c, void *arg)
{
	struct cctx *x = arg;
	bool breaks = rf_compat_breaks(x->mode, c);
	const char *judged = c->backward && c->forward ? "compatible" :
	    c->backward ? "breaks forward" : c->forward ? "breaks backward" :
	    "breaks backward and forward";

	x->changes++;
	x->breaking += breaks;
	if (breaks)
		rf_warnx("%s: %s%s%s%s %s compatibility, which mode %s requires",
		    c->path, c->what, *c->detail ? " (" : "", c->detail,
		    *c->detail ? ")" : "", !c->backward && !c->forward &&
		    x->mode != RF_COMPAT_FULL ? "breaks" : judged,
		    rf_compat_name(x->mode));
	if (!x->json) {
		printf("%s: %s%s%s%s: %s\n", c->path, c->what,
		    *c->detail ? " (" : "", c->detail, *c->detail ? ")" : "",
		    judged);
		return 0;
	}
	if (x->out.len > 0)
		rf_buf_addc(&x->out, ',');
	rf_buf_adds(&x->out, "{\"allowed\":");
	rf_buf_adds(&x->out, breaks ? "false" : "true");
	rf_buf_adds(&x->out, ",\"backward\":");
	rf_buf_adds(&x->out, c->backward ? "true" : "false");
	rf_buf_adds(&x->out, ",\"change\":");
	rf_json_addstr(&x->out, c->what, strlen(c->what));
	rf_buf_adds(&x->out, ",\"detail\":");
	rf_json_addstr(&x->out, c->detail, strlen(c->detail));
	rf_buf_adds(&x->out, ",\"forward\":");
	rf_buf_adds(&x->out, c->forward ? "true" : "false");
	rf_buf_adds(&x->out, ",\"path\":");
	rf_json_addstr(&x->out, c->path, strlen(c->path));
	return rf_buf_addc(&x->out, '}') < 0 ? RF_ENOMEM : 0;
}

static int
cmd_compat(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, S_JSON },
		{ "mode", required_argument, NULL, S_MODE },
		{ "quiet", no_argument, NULL, 'q' },
		{ "trusted", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *trustfile = NULL;
	struct cctx x = { .mode = RF_COMPAT_BACKWARD };
	rf_schema *side[2] = { NULL, NULL };
	rf_trusted trusted;
	bool have_trusted;
	rf_err e;
	long n;
	int ch, rc, status = RF_EXIT_OK;

	while ((ch = getopt_long(argc, argv, "hqt:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(RF_EXIT_OK);
		case S_JSON:
			x.json = true;
			break;
		case S_MODE:
			if ((x.mode = rf_compat_parse(optarg)) < 0) {
				rf_warnx("--mode: %s: not backward, forward, "
				    "full or none", optarg);
				return RF_EXIT_USAGE;
			}
			break;
		case 'q':
			x.quiet = true;
			break;
		case 't':
			trustfile = optarg;
			break;
		default:
			usage(RF_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		usage(RF_EXIT_USAGE);
	if ((rc = rf_trusted_default(trustfile, &trusted, &e)) < 0)
		return rf_fail(rc, &e);
	have_trusted = rc == 1;
	for (int i = 0; i < 2 && status == RF_EXIT_OK; i++)
		status = compat_side(argv[i], have_trusted ? &trusted : NULL,
		    &side[i]);
	if (status != RF_EXIT_OK)
		goto out;
	if ((n = rf_schema_compat(side[0], side[1], compat_change, &x)) < 0) {
		rf_warnx("out of memory");
		status = RF_EXIT_IO;
		goto out;
	}
	if (x.json) {
		rf_buf b = { 0 };
		rf_buf_adds(&b, "{\"changes\":[");
		rf_buf_add(&b, x.out.p, x.out.len);
		rf_buf_adds(&b, "],\"compatible\":");
		rf_buf_adds(&b, x.breaking == 0 ? "true" : "false");
		rf_buf_adds(&b, ",\"mode\":\"");
		rf_buf_adds(&b, rf_compat_name(x.mode));
		rf_buf_adds(&b, "\"}");
		status = print_json(&b);
		rf_buf_free(&b);
	}
	if (status == RF_EXIT_OK && !x.quiet)
		rf_warnx("%llu change%s, %llu that mode %s forbids",
		    (unsigned long long)x.changes, x.changes == 1 ? "" : "s",
		    (unsigned long long)x.breaking, rf_compat_name(x.mode));
	if (status == RF_EXIT_OK && x.breaking > 0)
		status = RF_EXIT_CHECK;
out:
	rf_schema_free(side[0]);
	rf_schema_free(side[1]);
	rf_buf_free(&x.out);
	if (have_trusted)
		rf_trusted_free(&trusted);
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}

int
main(int argc, char *argv[])
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "audit", cmd_audit },
		{ "compat", cmd_compat },
		{ "dataset", cmd_dataset },
		{ "diff", cmd_diff },
		{ "drift", cmd_drift },
		{ "rules", cmd_rules },
	};

	rf_run_init(&run, "refill-verify");
	if (argc < 2)
		usage(RF_EXIT_USAGE);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		usage(RF_EXIT_OK);
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
		return rf_print_version();
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strcmp(argv[1], cmds[i].name) == 0) {
			run.command = cmds[i].name;
			/* As given: getopt_long reorders argv. */
			char **copy = malloc(argc * sizeof *copy);
			if (copy == NULL) {
				rf_warnx("out of memory");
				return RF_EXIT_IO;
			}
			memcpy(copy, argv + 1, (argc - 1) * sizeof *copy);
			att.argc = argc - 1;
			att.argv = copy;
			/* The subcommand's options start after its name. */
			int status = attest_finish(cmds[i].fn(argc - 1, argv + 1));
			free(copy);
			return status;
		}
	rf_warnx("%s: not a command: audit, compat, dataset, diff, drift or "
	    "rules",
	    argv[1]);
	usage(RF_EXIT_USAGE);
}
