/*
 * What every record-reading program shares: diagnostics, the --bad
 * quarantine, progress on a terminal and the --stats summary.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refill.h"

static const char *progname = "refill";

void
rf_setprog(const char *prog)
{
	progname = prog;
}

const char *
rf_getprog(void)
{
	return progname;
}

void
rf_warnx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
rf_close_stdout(void)
{
	/* A full disk or a closed pipe shows up here, not at exit. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		rf_warnx("stdout: %s", strerror(errno ? errno : EIO));
		return RF_EXIT_IO;
	}
	if (fclose(stdout) != 0) {
		rf_warnx("stdout: %s", strerror(errno));
		return RF_EXIT_IO;
	}
	return RF_EXIT_OK;
}

void
rf_run_init(rf_run *r, const char *prog)
{
	memset(r, 0, sizeof *r);
	r->prog = prog;
	r->max_line = RF_MAX_LINE_DEFAULT;
	rf_setprog(prog);
}

int
rf_run_opt(rf_run *r, int ch, const char *arg)
{
	switch (ch) {
	case RF_OPT_BAD:
		r->bad_path = arg;
		return 1;
	case RF_OPT_MAX_LINE:
		if (rf_parse_size(arg, &r->max_line) < 0) {
			rf_warnx("--max-line: invalid size: %s", arg);
			return -1;
		}
		return 1;
	case RF_OPT_METRICS:
		r->metrics_path = arg;
		return 1;
	case RF_OPT_PROGRESS:
		r->progress = 1;
		return 1;
	case RF_OPT_STATS:
		r->stats_path = arg;
		return 1;
	case 'q':
		r->progress = -1;
		return 1;
	}
	return 0;
}

int
rf_print_version(void)
{
	printf("%s %s\n", progname, RF_VERSION);
	return rf_close_stdout();
}

int
rf_run_start(rf_run *r, int ninputs, char **inputs)
{
	rf_err e;
	int rc;

	r->t0 = r->tlast = rf_now();
	r->show = r->progress > 0 ||
	    (r->progress == 0 && isatty(STDERR_FILENO));
	/* One input of unknown size, such as a pipe, makes the ETA a guess. */
	r->bytes_total = 0;
	for (int i = 0; i < ninputs; i++) {
		struct stat st;
		if (strcmp(inputs[i], "-") == 0 || stat(inputs[i], &st) < 0 ||
		    !S_ISREG(st.st_mode)) {
			r->bytes_total = 0;
			break;
		}
		r->bytes_total += st.st_size;
	}
	/* Found now, not after the work: --stats and --metrics come last. */
	const char *later[] = { r->stats_path, r->metrics_path };
	for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
		if (later[i] != NULL && (rc = rf_out_check(later[i], &e)) < 0) {
			rf_warnx("%s", e.msg);
			return rf_status(rc);
		}
	if (r->bad_path != NULL) {
		size_t n = strlen(r->bad_path);
		int lvl = n > 3 && strcmp(r->bad_path + n - 3, ".gz") == 0 ? 6 : -1;
		if ((rc = rf_out_create(r->bad_path, lvl, &r->bad, &e)) < 0) {
			rf_warnx("%s", e.msg);
			return rf_status(rc);
		}
	}
	return RF_EXIT_OK;
}

int
rf_run_bad(rf_run *r, const char *file, uint64_t lineno, const char *line,
    size_t len, const char *why)
{
	rf_buf b = { 0 };
	rf_err e;
	char num[32];
	int rc;

	if (r->bad == NULL) {
		rf_warnx("%s:%llu: %s", file, (unsigned long long)lineno, why);
		return RF_EXIT_DATA;
	}
	r->quarantined++;
	/* Each line must be JSON, whatever the bytes of the name or reason. */
	rf_buf_adds(&b, "{\"file\":");
	rf_json_addstr_lossy(&b, file, strlen(file));
	snprintf(num, sizeof num, ",\"line\":%llu,\"reason\":",
	    (unsigned long long)lineno);
	rf_buf_add(&b, num, strlen(num));
	rf_json_addstr_lossy(&b, why, strlen(why));
	if (rf_utf8_valid(line, len)) {
		rf_buf_adds(&b, ",\"text\":");
		rf_json_addstr(&b, line, len);
	} else {
		rf_buf_adds(&b, ",\"base64\":\"");
		rf_buf_add_b64(&b, line, len);
		rf_buf_addc(&b, '"');
	}
	if (rf_buf_adds(&b, "}\n") < 0) {
		rf_buf_free(&b);
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	rc = rf_out_write(r->bad, b.p, b.len, &e);
	rf_buf_free(&b);
	if (rc < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	return 0;
}

static void
human(double v, char *dst, size_t n)
{
	static const char *u[] = { "", "k", "M", "G", "T" };
	int i = 0;

	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(dst, n, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

static void
draw(rf_run *r, double now)
{
	char recs[16], bytes[16], rate[16], eta[32] = "";
	double el = now - r->t0;
	uint64_t done = r->bytes_in + r->cur_pos;

	human(r->records_in, recs, sizeof recs);
	human(done, bytes, sizeof bytes);
	human(el > 0 ? done / el : 0, rate, sizeof rate);
	/* To the end, where it is 0:00:00: a known size shows to the last. */
	if (r->bytes_total >= done && done > 0 && el > 0) {
		double left = (r->bytes_total - done) / (done / el);
		unsigned s = left < 359999 ? (unsigned)left : 359999;
		snprintf(eta, sizeof eta, ", ETA %u:%02u:%02u", s / 3600,
		    s / 60 % 60, s % 60);
	}
	fprintf(stderr, "\r%s: %s records, %sB, %sB/s%s\033[K", r->prog, recs,
	    bytes, rate, eta);
	r->showed = true;
}

void
rf_run_tick(rf_run *r, uint64_t pos)
{
	double now;

	r->cur_pos = pos;
	if (!r->show)
		return;
	now = rf_now();
	if (now - r->tlast < 0.25)
		return;
	r->tlast = now;
	draw(r, now);
}

/*
 * Writes the --stats JSON and the --metrics text of the run.  Both come
 * from one table, so the two files can never disagree.
 */
static int
write_figures(rf_run *r, double el, const rf_stat *extra, size_t nextra)
{
	static const struct {
		const char *json, *metric, *help;
	} shared[] = {
		{ "records_in", "records_in",
		    "Records read, blank lines not counted." },
		{ "records_out", "records_out",
		    "Records read and not quarantined." },
		{ "quarantined", "records_quarantined",
		    "Bad records written to the --bad file." },
		{ "blank", "blank_lines", "Blank lines skipped." },
		{ "bytes_in", "input_bytes",
		    "Bytes read from the inputs, as stored." },
		{ "seconds", "duration_seconds", "Wall-clock time of the run." },
	};
	enum { NSHARED = sizeof shared / sizeof shared[0] };
	const uint64_t count[NSHARED - 1] = { r->records_in, r->records_out,
	    r->quarantined, r->blank, r->bytes_in };
	rf_buf js = { 0 }, pm = { 0 };
	char line[512], val[32], labels[128];
	rf_err e;
	bool nomem = false;
	int rc = 0;

	snprintf(line, sizeof line, "{\"program\":\"%s\",\"version\":\"%s\"",
	    r->prog, RF_VERSION);
	nomem |= rf_buf_adds(&js, line) < 0;
	snprintf(labels, sizeof labels, "program=\"%s\"", r->prog);
	/*
	 * A command is a label too: the textfile collector refuses two
	 * series of one name and labels, as a diff's and a rules' would be.
	 */
	if (r->command != NULL) {
		snprintf(line, sizeof line, ",\"command\":\"%s\"", r->command);
		nomem |= rf_buf_adds(&js, line) < 0;
		snprintf(labels, sizeof labels, "program=\"%s\",command=\"%s\"",
		    r->prog, r->command);
	}
	for (size_t i = 0; i < NSHARED + nextra; i++) {
		const char *json, *metric, *help;
		if (i < NSHARED) {
			json = shared[i].json;
			metric = shared[i].metric;
			help = shared[i].help;
		} else {
			json = metric = extra[i - NSHARED].name;
			help = extra[i - NSHARED].help;
		}
		if (i < NSHARED - 1)
			snprintf(val, sizeof val, "%llu",
			    (unsigned long long)count[i]);
		else if (i == NSHARED - 1)
			snprintf(val, sizeof val, "%.3f", el);
		else
			snprintf(val, sizeof val, "%llu",
			    (unsigned long long)extra[i - NSHARED].value);
		snprintf(line, sizeof line, ",\"%s\":%s", json, val);
		nomem |= rf_buf_adds(&js, line) < 0;
		snprintf(line, sizeof line, "# HELP refill_%s %s\n"
		    "# TYPE refill_%s gauge\nrefill_%s{%s} %s\n",
		    metric, help, metric, metric, labels, val);
		nomem |= rf_buf_adds(&pm, line) < 0;
	}
	nomem |= rf_buf_adds(&js, "}\n") < 0;
	/* What a "has the backfill run lately?" alert looks at. */
	snprintf(line, sizeof line, "# HELP refill_last_run_timestamp_seconds "
	    "When the run ended, in seconds since the epoch.\n"
	    "# TYPE refill_last_run_timestamp_seconds gauge\n"
	    "refill_last_run_timestamp_seconds{%s} %.3f\n", labels, rf_now());
	nomem |= rf_buf_adds(&pm, line) < 0;
	if (r->figures != NULL) {
		r->figures->len = 0;
		nomem |= rf_buf_add(r->figures, js.p, js.len - 1) < 0;
	}
	if (nomem)
		rc = rf_seterr(&e, RF_ENOMEM, "out of memory");
	/* After what the program printed, when that is where they go. */
	fflush(stdout);
	if (rc == 0 && r->stats_path != NULL)
		rc = rf_out_prepare(r->stats_path, js.p, js.len, &r->stats, &e);
	if (rc == 0 && r->metrics_path != NULL)
		rc = rf_out_prepare(r->metrics_path, pm.p, pm.len, &r->metrics,
		    &e);
	rf_buf_free(&js);
	rf_buf_free(&pm);
	if (rc < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	return RF_EXIT_OK;
}

int
rf_run_prepare(rf_run *r, const rf_stat *extra, size_t nextra)
{
	rf_err e;
	double el = rf_now() - r->t0;

	if (r->show) {
		/* The last figures, whatever the time since the last tick. */
		r->cur_pos = 0;
		draw(r, rf_now());
		fputc('\n', stderr);
		r->showed = false;
	}
	if (r->bad != NULL && rf_out_finish(r->bad, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_IO;
	}
	if (r->stats_path != NULL || r->metrics_path != NULL ||
	    r->figures != NULL)
		return write_figures(r, el, extra, nextra);
	return RF_EXIT_OK;
}

int
rf_run_publish(rf_run *r)
{
	rf_out **o[] = { &r->bad, &r->stats, &r->metrics };
	rf_err e;
	int status = RF_EXIT_OK;

	for (size_t i = 0; i < sizeof o / sizeof o[0]; i++) {
		if (*o[i] == NULL)
			continue;
		if (status != RF_EXIT_OK)
			rf_out_abort(*o[i]);
		else {
			if (rf_out_commit(*o[i], &e) < 0) {
				rf_warnx("%s", e.msg);
				status = RF_EXIT_IO;
			}
			rf_out_free(*o[i]);
		}
		*o[i] = NULL;
	}
	if (status == RF_EXIT_OK && r->quarantined > 0 && r->progress >= 0)
		rf_warnx("%llu records in, %llu out, %llu quarantined to %s",
		    (unsigned long long)r->records_in,
		    (unsigned long long)r->records_out,
		    (unsigned long long)r->quarantined, r->bad_path);
	return status;
}

int
rf_run_finish(rf_run *r, const rf_stat *extra, size_t nextra)
{
	int status;

	if ((status = rf_run_prepare(r, extra, nextra)) != RF_EXIT_OK) {
		rf_run_abort(r);
		return status;
	}
	return rf_run_publish(r);
}

int
rf_run_batches(rf_run *run, rf_reader *r, rf_pool *pool, rf_batch **b,
    size_t nb, int (*deliver)(rf_batch *, void *), void *arg)
{
	size_t head = 0, busy = 0;	/* b[head] is the oldest in flight */
	rf_batch *cur;
	rf_err e;
	int rc, status = RF_EXIT_OK;

	do {
		cur = b[(head + busy) % nb];
		rf_batch_clear(cur);
		cur->file = rf_reader_name(r);
		rc = rf_reader_batch(r, cur, &run->blank, &e);
		run->records_in += cur->n;
		if (rc < 0 || cur->n == 0)
			continue;
		rf_run_tick(run, rf_reader_pos(r));
		rf_pool_submit(pool, &cur->task);
		if (++busy == nb) {
			/* Every batch is out: the oldest is delivered first. */
			rf_pool_wait(pool, &b[head]->task);
			status = deliver(b[head], arg);
			head = (head + 1) % nb;
			busy--;
		}
	} while (rc > 0 && status == RF_EXIT_OK);
	if (rc < 0) {
		rf_warnx("%s", e.msg);
		status = rf_status(rc);
	}
	for (; busy > 0; busy--, head = (head + 1) % nb) {
		rf_pool_wait(pool, &b[head]->task);
		if (status == RF_EXIT_OK)
			status = deliver(b[head], arg);
	}
	return status;
}

void
rf_run_abort(rf_run *r)
{
	rf_out **o[] = { &r->bad, &r->stats, &r->metrics };

	if (r->showed)
		fputc('\n', stderr);
	r->showed = false;
	for (size_t i = 0; i < sizeof o / sizeof o[0]; i++) {
		rf_out_abort(*o[i]);
		*o[i] = NULL;
	}
}

int
rf_fail(int code, const rf_err *e)
{
	rf_warnx("%s", e->msg);
	return rf_status(code);
}
