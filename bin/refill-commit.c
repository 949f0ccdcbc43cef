/*
 * refill-commit: publish a staged directory as a new immutable, signed
 * version of a dataset; publish a candidate; roll back; show the history
 * and a version; collect garbage; make a key.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refill.h"

static const char *message, *keyfile, *trustfile, *dsname;
static const char *allow_breaking;	/* --allow-breaking: why */
static bool unsigned_ok, update, nopublish, json, quiet;
static char **deletes;
static size_t ndeletes;
static char **reports;		/* --report: signed reports of refill-verify */
static size_t nreports;
static uint32_t expect;
static bool expect_set;
static uint64_t keep;
static bool keep_set;

static rf_key *key;
static rf_trusted trusted;
static bool have_trusted;

/*
 * The POLICY of the dataset open for writing, read once by open_writer
 * under the lock (the defaults where none is set); freed in main.
 */
static rf_policy policy;
static bool policy_set;

/* Progress and figures; the workers add to its counts under runlock. */
static rf_run run;
static pthread_mutex_t runlock = PTHREAD_MUTEX_INITIALIZER;

static _Noreturn void
usage(int status)
{
	fprintf(status == RF_EXIT_OK ? stdout : stderr,
	    "usage: refill-commit [-nqu] [--allow-breaking message] [-d name] "
	    "[-e version]\n"
	    "                     [-k keyfile] [--metrics file] [--name name] "
	    "[--progress]\n"
	    "                     [--stats file] [-t trusted] [--unsigned] "
	    "-m message\n"
	    "                     dataset stagedir\n"
	    "       refill-commit publish [-q] [-e version] [-k keyfile] "
	    "[-m message] [-t trusted]\n"
	    "                     [--metrics file] [--report file ...] "
	    "[--stats file] [--unsigned]\n"
	    "                     dataset version\n"
	    "       refill-commit rollback [-q] [-e version] [-k keyfile] "
	    "[-m message] [-t trusted]\n"
	    "                     [--metrics file] [--report file ...] "
	    "[--stats file] [--unsigned]\n"
	    "                     "
	    "dataset [version]\n"
	    "       refill-commit log [--json] [-t trusted] dataset\n"
	    "       refill-commit show [--json] [-t trusted] "
	    "dataset[@version]\n"
	    "       refill-commit gc [-q] [-k keyfile] [-m message] "
	    "[-t trusted] [--metrics file]\n"
	    "                     [--stats file] [--unsigned] --keep n dataset\n"
	    "       refill-commit compat [-q] [-e version] [-k keyfile] "
	    "[-m message] [-t trusted]\n"
	    "                     [--unsigned] dataset backward|forward|full|none\n"
	    "       refill-commit policy [-q] [-e version] [-k keyfile] "
	    "[-m message] [-t trusted]\n"
	    "                     dataset [policyfile]\n"
	    "       refill-commit approve [-q] [-e version] [-k keyfile] "
	    "[-t trusted] -m message\n"
	    "                     dataset version\n"
	    "       refill-commit keygen keyfile\n");
	exit(status == RF_EXIT_OK ? rf_close_stdout() : status);
}


/*
 * Moves current after the log line that records the move: the line is
 * the change, so a pointer left behind here is the next writer's repair
 * to set, which the user is told.
 */
static int
switch_current(rf_store *s, uint32_t v)
{
	rf_err e;
	int rc;

	if ((rc = rf_store_set_current(s, v, &e)) == 0)
		return RF_EXIT_OK;
	rf_warnx("%s", e.msg);
	rf_warnx("%s: the log records version %06u as current; the next "
	    "refill-commit on %s moves current there if it is not", s->dir,
	    (unsigned)v, s->dir);
	return rf_status(rc);
}

/* Who did it: REFILL_USER, or the login name and host. */
static const char *
who(void)
{
	static char buf[512];
	const char *u = getenv("REFILL_USER");
	struct passwd *pw;
	char host[256] = "";

	if (u != NULL && *u != '\0')
		return u;
	pw = getpwuid(geteuid());
	gethostname(host, sizeof host - 1);
	snprintf(buf, sizeof buf, "%s@%s", pw != NULL ? pw->pw_name : "?",
	    host);
	return buf;
}

static int
parse_version(const char *s, uint32_t *v)
{
	uint64_t x;

	if (rf_parse_uint(s, 1, RF_VERSION_MAX, &x) < 0) {
		rf_warnx("%s: not a version number (1 to %d)", s,
		    RF_VERSION_MAX);
		return -1;
	}
	*v = (uint32_t)x;
	return 0;
}

/* What a dataset without a POLICY lets write: owner or committer. */
static bool
default_role(const rf_signer *s)
{
	return rf_signer_has_role(s, "owner") ||
	    rf_signer_has_role(s, "committer");
}

/*
 * The signing key and the trusted signers.  A writer needs a key, or an
 * explicit --unsigned; with a trusted-signers file in force, the key must
 * be listed there, and for a dataset yet to be made be an owner or a
 * committer.  The roles of an existing dataset's changes are its POLICY's,
 * checked once it is open (check_policy).
 */
static int
load_keys(bool writer, const char *dataset)
{
	rf_err e;
	int rc;

	if ((rc = rf_trusted_default(trustfile, &trusted, &e)) < 0)
		return rf_fail(rc, &e);
	have_trusted = rc == 1;
	if (!writer)
		return RF_EXIT_OK;
	if (keyfile == NULL && !unsigned_ok)
		keyfile = getenv("REFILL_KEY");
	if (keyfile != NULL && *keyfile == '\0')
		keyfile = NULL;
	if (unsigned_ok && have_trusted) {
		rf_warnx("--unsigned: a trusted-signers file (%s) is in force, "
		    "and readers would refuse an unsigned line", trusted.path);
		return RF_EXIT_USAGE;
	}
	if (keyfile != NULL && unsigned_ok) {
		rf_warnx("--key and --unsigned exclude each other");
		return RF_EXIT_USAGE;
	}
	if (keyfile == NULL && !unsigned_ok) {
		rf_warnx("no signing key: give --key FILE or set REFILL_KEY "
		    "(or --unsigned to write without a signature)");
		return RF_EXIT_USAGE;
	}
	if (keyfile == NULL)
		return RF_EXIT_OK;
	if ((rc = rf_key_load(keyfile, &key, &e)) < 0)
		return rf_fail(rc, &e);
	if (have_trusted) {
		char pub[RF_PUBKEY_LEN + 1];
		const rf_signer *s;
		rf_key_public(key, pub);
		s = rf_trusted_find(&trusted, pub);
		/* Before anything is made, for a dataset yet to be made. */
		if (s == NULL || (!rf_is_dataset(dataset) &&
		    !default_role(s))) {
			rf_warnx("%s: %s in %s", keyfile, s == NULL ?
			    "this key is not listed" :
			    "this key has neither the owner nor the committer role",
			    trusted.path);
			return RF_EXIT_CHECK;
		}
	}
	return RF_EXIT_OK;
}

static const rf_trusted *
trust(void)
{
	return have_trusted ? &trusted : NULL;
}

/* What a writer does, for its POLICY: RF_ACT_*, or one of these. */
enum { ACT_COMPAT = -1, ACT_POLICY = -2 };

/* The roles a signer has, for a message: "committer,reader". */
static void
roles_of(const rf_signer *sg, char *dst, size_t n)
{
	size_t k = 0;

	dst[0] = '\0';
	for (size_t i = 0; sg != NULL && i < sg->nroles && k < n; i++)
		k += snprintf(dst + k, n - k, "%s%s", i ? "," : "",
		    sg->roles[i]);
}

/* The roles a policy gives act, as "a, b or c". */
static void
roles_needed(const rf_policy *p, int act, char *need, size_t n)
{
	size_t k = 0;

	need[0] = '\0';
	for (size_t i = 0; i < p->nroles[act] && k < n; i++)
		k += snprintf(need + k, n - k, "%s%s", i == 0 ? "" :
		    i + 1 == p->nroles[act] ? " or " : ", ", p->roles[act][i]);
}

/*
 * Whether the dataset's POLICY lets this key do act, said if not; without
 * a POLICY, the two roles that apply then.
 */
static int
check_policy(rf_store *s, int act)
{
	const rf_policy *p = &policy;
	bool set = policy_set;
	int status = RF_EXIT_OK;

	if (!set && key != NULL && have_trusted && act != ACT_POLICY &&
	    act != RF_ACT_APPROVE) {
		char pub[RF_PUBKEY_LEN + 1];
		rf_key_public(key, pub);
		if (!default_role(rf_trusted_find(&trusted, pub))) {
			rf_warnx("%s: this key has neither the owner nor the "
			    "committer role in %s", keyfile, trusted.path);
			status = RF_EXIT_CHECK;
		}
	} else if (act == ACT_COMPAT && set) {
		rf_warnx("%s: its POLICY sets the compatibility mode: change "
		    "its compat member with refill-commit policy", s->dir);
		status = RF_EXIT_USAGE;
	} else if (act == ACT_POLICY && key == NULL) {
		rf_warnx("%s: a POLICY is set with an owner's key: give --key",
		    s->dir);
		status = RF_EXIT_USAGE;
	} else if ((set || act == ACT_POLICY) && key == NULL) {
		if (!p->unsigned_ok) {
			rf_warnx("%s: its POLICY allows no unsigned change",
			    s->dir);
			status = RF_EXIT_CHECK;
		}
	} else if (set || act == ACT_POLICY || (act == RF_ACT_APPROVE &&
	    have_trusted)) {
		/* Approving has roles of its own even without a POLICY. */
		char pub[RF_PUBKEY_LEN + 1], has[256], need[256];
		const rf_signer *sg;
		/*
		 * Roles are the trusted-signers file's.  A POLICY that lets
		 * changes go unsigned asks no more of a signed one without it.
		 */
		if (!have_trusted && act != ACT_POLICY && p->unsigned_ok)
			return RF_EXIT_OK;
		if (!have_trusted) {
			rf_warnx("%s: %s: give the trusted-signers file that "
			    "names the roles (-t or REFILL_TRUSTED)", s->dir,
			    set ? "its POLICY gives each change to roles" :
			    "a POLICY needs an owner");
			return RF_EXIT_USAGE;
		}
		rf_key_public(key, pub);
		sg = rf_trusted_find(&trusted, pub);
		roles_of(sg, has, sizeof has);
		if (act == ACT_POLICY) {
			if (!rf_signer_has_role(sg, "owner")) {
				rf_warnx("%s: setting its POLICY needs the role "
				    "owner; %s has %s", s->dir, sg->name, has);
				status = RF_EXIT_CHECK;
			}
		} else if (act >= 0 && !rf_policy_allows(p, act, sg)) {
			roles_needed(p, act, need, sizeof need);
			rf_warnx("%s: %s needs the role %s (%s); %s has %s",
			    s->dir, rf_policy_action(act), need, set ?
			    "its POLICY" : "no POLICY: the default", sg->name,
			    has);
			status = RF_EXIT_CHECK;
		}
	}
	return status;
}

/* Opens the dataset for writing: lock, check the log, repair, --expect. */
static int
open_writer(const char *dir, bool create, int act, rf_store **s)
{
	rf_buf notes = { 0 };
	rf_err e;
	int rc;

	rc = rf_store_open(dir, RF_STORE_LOCK | (create ? RF_STORE_CREATE : 0),
	    trust(), s, &notes, &e);
	for (size_t i = 0; i < notes.len;) {
		char *nl = memchr(notes.p + i, '\n', notes.len - i);
		rf_warnx("%s: repaired: %.*s", dir, (int)(nl - (notes.p + i)),
		    notes.p + i);
		i = nl - notes.p + 1;
	}
	rf_buf_free(&notes);
	if (rc < 0)
		return rf_fail(rc, &e);
	if (expect_set && (*s)->current != expect) {
		char want[16] = "none", have[16] = "none";
		if (expect != 0)
			snprintf(want, sizeof want, "%06u", (unsigned)expect);
		if ((*s)->current != 0)
			snprintf(have, sizeof have, "%06u",
			    (unsigned)(*s)->current);
		rf_warnx("%s: --expect %s, but current is %s", dir, want, have);
		rf_store_close(*s);
		*s = NULL;
		return RF_EXIT_CONFLICT;
	}
	rf_policy_free(&policy);
	if ((rc = rf_store_policy(*s, trust(), &policy, &e)) < 0)
		rc = rf_fail(rc, &e);
	else {
		policy_set = rc == 0;
		rc = check_policy(*s, act);
	}
	if (rc != RF_EXIT_OK) {
		rf_store_close(*s);
		*s = NULL;
		return rc;
	}
	return RF_EXIT_OK;
}

/* ---- staging ------------------------------------------------------------ */

struct staged {
	char *name;		/* relative to STAGEDIR */
	char *src;		/* STAGEDIR/name */
	bool has_prov;
};

static struct staged *stg;
static size_t nstg, capstg;

static int
add_staged(const char *name, const char *src)
{
	if (nstg == capstg) {
		size_t nc = capstg ? 2 * capstg : 64;
		struct staged *n = realloc(stg, nc * sizeof *n);
		if (n == NULL)
			return -1;
		stg = n;
		capstg = nc;
	}
	stg[nstg].name = strdup(name);
	stg[nstg].src = strdup(src);
	stg[nstg].has_prov = false;
	if (stg[nstg].name == NULL || stg[nstg].src == NULL)
		return -1;
	nstg++;
	return 0;
}


/* Lists the regular files under dir; a symbolic link or other kind stops it. */
static int
scan_stage(const char *root, const char *rel)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int status = RF_EXIT_OK;

	snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
	if ((d = opendir(dir)) == NULL) {
		rf_warnx("%s: %s", dir, strerror(errno));
		return RF_EXIT_IO;
	}
	while (status == RF_EXIT_OK && (de = readdir(d)) != NULL) {
		char name[PATH_MAX], src[PATH_MAX];
		struct stat st;
		rf_err e;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "",
		    de->d_name) >= (int)sizeof name ||
		    snprintf(src, sizeof src, "%s/%s", root, name) >=
		    (int)sizeof src) {
			rf_warnx("%s/%s: path too long", dir, de->d_name);
			status = RF_EXIT_DATA;
			break;
		}
		if (lstat(src, &st) < 0) {
			rf_warnx("%s: %s", src, strerror(errno));
			status = RF_EXIT_IO;
		} else if (S_ISLNK(st.st_mode)) {
			rf_warnx("%s: a symbolic link: stage the file itself",
			    src);
			status = RF_EXIT_DATA;
		} else if (S_ISDIR(st.st_mode))
			status = scan_stage(root, name);
		else if (!S_ISREG(st.st_mode)) {
			rf_warnx("%s: not a regular file", src);
			status = RF_EXIT_DATA;
		} else if (rf_check_name(name, &e) < 0) {
			rf_warnx("%s: %s", root, e.msg);
			status = RF_EXIT_DATA;
		} else if (add_staged(name, src) < 0) {
			rf_warnx("out of memory");
			status = RF_EXIT_IO;
		} else if (!rf_ends_with(name, ".prov"))
			run.bytes_total += st.st_size;
	}
	closedir(d);
	return status;
}

static int
stgcmp(const void *a, const void *b)
{
	return strcmp(((const struct staged *)a)->name,
	    ((const struct staged *)b)->name);
}

/*
 * Pairs each FILE.prov with FILE and drops it from the list.  A stamp
 * without its file is refused: it would describe nothing committed.
 */
static int
pair_stamps(void)
{
	size_t w = 0;

	qsort(stg, nstg, sizeof *stg, stgcmp);
	for (size_t i = 0; i < nstg; i++) {
		if (!rf_ends_with(stg[i].name, ".prov"))
			continue;
		struct staged want;
		want.name = strndup(stg[i].name, strlen(stg[i].name) - 5);
		struct staged *f = want.name == NULL ? NULL :
		    bsearch(&want, stg, nstg, sizeof *stg, stgcmp);
		free(want.name);
		if (f == NULL) {
			rf_warnx("%s: a stamp without its file", stg[i].src);
			return RF_EXIT_DATA;
		}
		f->has_prov = true;
	}
	/* Then drop the stamps from the list: they travel with their files. */
	for (size_t i = 0; i < nstg; i++) {
		if (!rf_ends_with(stg[i].name, ".prov")) {
			stg[w++] = stg[i];
			continue;
		}
		free(stg[i].name);
		free(stg[i].src);
	}
	nstg = w;
	return RF_EXIT_OK;
}

/* ---- storing one file --------------------------------------------------- */

struct job {
	rf_task task;
	rf_store *s;
	struct staged *st;
	char tmp[PATH_MAX];	/* its temporary name in objects/ */
	rf_mfile f;
	rf_schema *schema;	/* its records' */
	bool reused;		/* objects/ held its content already */
	bool stored;		/* else this commit made its object */
	int status;
	rf_err e;
};

/* A worker's records and bytes since it last said, into run. */
static void
progress(uint64_t records, uint64_t bytes)
{
	pthread_mutex_lock(&runlock);
	run.records_in += records;
	run.records_out += records;
	run.bytes_in += bytes;
	rf_run_tick(&run, 0);
	pthread_mutex_unlock(&runlock);
}

/*
 * Reads a stored file: its SHA-256, size, records and dataset digest.
 * Every record must be valid: a version holds nothing unreadable.
 */
static int
digest_file(const char *path, const char *shown, rf_mfile *f,
    rf_schema *schema, rf_err *e)
{
	rf_reader *r;
	rf_line ln;
	rf_buf canon = { 0 };
	rf_sha256 *h = rf_sha256_new();
	unsigned char d[RF_SHA256_LEN];
	uint64_t said = 0;
	int rc;

	if (h == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	rf_dsum_init(&f->digest);
	if ((rc = rf_reader_open(path, RF_MAX_LINE_DEFAULT, RF_READ_SHA256, &r,
	    e)) < 0) {
		rf_sha256_free(h);
		return rc;
	}
	while ((rc = rf_reader_next(r, &ln, e)) > 0) {
		if (rf_blank(ln.p, ln.len))
			continue;
		canon.len = 0;
		if ((rc = rf_json_canon(ln.p, ln.len, &canon, e)) < 0) {
			char why[sizeof e->msg];
			snprintf(why, sizeof why, "%s", e->msg);
			rc = rf_seterr(e, rc, "%s:%llu: %s", shown,
			    (unsigned long long)ln.lineno, why);
			break;
		}
		if (rf_schema_add(schema, ln.p, ln.len) < 0) {
			rc = rf_seterr(e, RF_ENOMEM, "out of memory");
			break;
		}
		rf_sha256_once(h, canon.p, canon.len, d);
		rf_dsum_add_digest(&f->digest, d);
		if ((f->digest.count & 1023) == 0) {
			progress(1024, rf_reader_pos(r) - said);
			said = rf_reader_pos(r);
		}
	}
	if (rc == 0) {
		rf_reader_sha256(r, f->sha256);
		f->size = rf_reader_pos(r);
		progress(f->digest.count & 1023, f->size - said);
	} else if (rc != RF_EIO && strncmp(e->msg, shown, strlen(shown)) != 0) {
		char why[sizeof e->msg];
		size_t n = strlen(path);

		snprintf(why, sizeof why, "%s", e->msg);
		/*
		 * The reader names the temporary object, which the user never
		 * saw: a line too long or a corrupt gzip stream is reported
		 * as STAGEDIR/FILE:LINE, as a bad record is.
		 */
		if (strncmp(why, path, n) == 0 && why[n] == ':')
			rf_seterr(e, rc, "%s%s", shown, why + n);
		else
			rf_seterr(e, rc, "%s: %s", shown, why);
	}
	rf_reader_close(r);
	rf_buf_free(&canon);
	rf_sha256_free(h);
	rf_json_thread_free();
	return rc;
}

static int
fsync_path(const char *p, rf_err *e)
{
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", p, strerror(errno));
	if (fsync(fd) < 0)
		rc = rf_seterr(e, RF_EIO, "%s: fsync: %s", p, strerror(errno));
	close(fd);
	return rc;
}

/*
 * The staged file goes into objects/ under a temporary name, by a hard
 * link when it can (then the staged name and the object are one
 * read-only inode) or else by a copy, and is digested from there, so
 * what was digested is what is stored.
 */
static void
store_file(rf_task *t)
{
	struct job *j = (struct job *)t;
	char obj[80], final[PATH_MAX], dir[PATH_MAX];
	const char *tmp = j->tmp;
	rf_err *e = &j->e;
	int rc;

	struct stat st;

	if ((rc = rf_link_or_copy(j->st->src, tmp, e)) < 0)
		goto out;
	/*
	 * link(2) does not follow a link: a staged file swapped for a
	 * symbolic link since the scan would be linked as one, and then
	 * read and chmod-ed through it.  What is in objects/ is ours now.
	 */
	if (lstat(tmp, &st) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = rf_seterr(e, RF_EDATA, "%s: %s", j->st->src,
		    S_ISLNK(st.st_mode) ? "a symbolic link: stage the file "
		    "itself" : "not a regular file");
		goto out;
	}
	if ((rc = digest_file(tmp, j->st->src, &j->f, j->schema, e)) < 0 ||
	    (rc = fsync_path(tmp, e)) < 0)
		goto out;
	if (chmod(tmp, 0444) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	rf_object_name(j->f.sha256, obj);
	rf_store_path(j->s, final, obj);
	snprintf(dir, sizeof dir, "%s", final);
	*strrchr(dir, '/') = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = rf_seterr(e, RF_EIO, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if ((rc = rf_store_realdir(dir, e)) < 0)
		goto out;
	/* The same content may be stored already: keep that inode. */
	if (link(tmp, final) < 0) {
		if (errno != EEXIST) {
			rc = rf_seterr(e, RF_EIO, "%s: %s", final,
			    strerror(errno));
			goto out;
		}
		j->reused = true;
	}
	j->stored = true;
	rc = rf_fsync_dir(dir, e);
out:
	unlink(tmp);
	j->status = rc < 0 ? rf_status(rc) : RF_EXIT_OK;
}

/* Reads FILE.prov: valid JSON, and about this very content. */
static int
read_stamp(const struct staged *st, rf_mfile *f)
{
	char p[PATH_MAX], h[65];
	rf_buf b = { 0 }, c = { 0 };
	rf_path *path = NULL;
	const char *v;
	size_t vn;
	rf_err e;
	int rc, status = RF_EXIT_OK;

	snprintf(p, sizeof p, "%s.prov", st->src);
	if ((rc = rf_read_file(p, (size_t)16 << 20, &b, &e)) < 0) {
		rf_buf_free(&b);
		return rf_fail(rc, &e);
	}
	while (b.len > 0 && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
		b.len--;
	if ((rc = rf_json_canon(b.p, b.len, &c, &e)) < 0 || c.p[0] != '{') {
		rf_warnx("%s: %s", p, rc < 0 ? e.msg : "not a JSON object");
		status = RF_EXIT_DATA;
		goto out;
	}
	rf_hex(f->sha256, RF_SHA256_LEN, h);
	if (rf_path_compile("output.sha256", &path, &e) == 0 &&
	    rf_json_get(c.p, c.len, path, &v, &vn) == 0 &&
	    (vn != 66 || memcmp(v + 1, h, 64) != 0)) {
		rf_warnx("%s: describes other content than %s (its output.sha256 "
		    "is %.*s, the file's is %s)", p, st->src, (int)vn, v, h);
		status = RF_EXIT_CHECK;
		goto out;
	}
	if (rf_buf_addc(&c, '\0') < 0) {
		status = RF_EXIT_IO;
		goto out;
	}
	f->prov = c.p;
	c.p = NULL;
out:
	rf_path_free(path);
	rf_buf_free(&b);
	rf_buf_free(&c);
	return status;
}

/* ---- building the version ----------------------------------------------- */

static int
mkparents(const char *root, const char *name, rf_err *e)
{
	char p[PATH_MAX];
	int n = snprintf(p, sizeof p, "%s/%s", root, name);

	for (int i = (int)strlen(root) + 1; i < n; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return rf_seterr(e, RF_EIO, "%s: %s", p, strerror(errno));
		p[i] = '/';
	}
	return 0;
}

/* fsyncs and seals a version's directories, deepest first. */
static int
seal_dir(const char *p, rf_err *e)
{
	DIR *d = opendir(p);
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return rf_seterr(e, RF_EIO, "%s: %s", p, strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char sub[PATH_MAX];
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof sub, "%s/%s", p, de->d_name) >=
		    (int)sizeof sub)
			continue;
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			rc = seal_dir(sub, e);
	}
	closedir(d);
	if (rc == 0)
		rc = rf_fsync_dir(p, e);
	if (rc == 0 && chmod(p, 0555) < 0)
		rc = rf_seterr(e, RF_EIO, "%s: %s", p, strerror(errno));
	return rc;
}

static int
put_meta(const char *dir, const char *name, const void *p, size_t n,
    rf_err *e)
{
	char path[PATH_MAX];
	int rc;

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return rf_seterr(e, RF_EUSAGE, "%s: path too long", dir);
	if ((rc = rf_write_file(path, p, n, e)) < 0)
		return rc;
	if (chmod(path, 0444) < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	return 0;
}

static char tmpver[PATH_MAX];

static void
drop_tmpver(void)
{
	rf_err e;

	if (tmpver[0] == '\0')
		return;
	/* If it was sealed already, the next writer's repair removes it. */
	rf_rmtree(tmpver, &e);
	rf_cleanup_remove(tmpver);
	tmpver[0] = '\0';
}

static int
build_version(rf_store *s, rf_manifest *m, rf_err *e)
{
	char final[PATH_MAX], rel[64], src[PATH_MAX], dst[PATH_MAX], obj[80];
	rf_buf mb = { 0 }, sb = { 0 };
	unsigned char sig[RF_SIG_LEN];
	int rc = 0;

	snprintf(rel, sizeof rel, "versions/.tmp-%06u", (unsigned)m->version);
	rf_store_path(s, tmpver, rel);
	rf_version_path(s, m->version, NULL, final);
	if (mkdir(tmpver, 0755) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: %s", tmpver, strerror(errno));
		tmpver[0] = '\0';
		return rc;
	}
	rf_cleanup_add(tmpver, true);
	for (size_t i = 0; rc == 0 && i < m->n; i++) {
		rf_object_name(m->f[i].sha256, obj);
		rf_store_path(s, src, obj);
		if (snprintf(dst, sizeof dst, "%s/%s", tmpver, m->f[i].name) >=
		    (int)sizeof dst) {
			rc = rf_seterr(e, RF_EUSAGE, "%s: path too long",
			    m->f[i].name);
			break;
		}
		if ((rc = mkparents(tmpver, m->f[i].name, e)) < 0)
			break;
		/* A copy, unlike the object, is neither durable nor sealed yet. */
		if ((rc = rf_link_or_copy(src, dst, e)) == 1 &&
		    (rc = fsync_path(dst, e)) == 0 && chmod(dst, 0444) < 0)
			rc = rf_seterr(e, RF_EIO, "%s: %s", dst, strerror(errno));
		if (rc < 0)
			break;
	}
	if (rc < 0 || (rc = rf_sums_format(m, &sb, e)) < 0 ||
	    (rc = put_meta(tmpver, "SHA256SUMS", sb.p, sb.len, e)) < 0)
		goto out;
	rf_sha256 *h = rf_sha256_new();
	if (h == NULL) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto out;
	}
	rf_sha256_once(h, sb.p, sb.len, m->sums_sha256);
	rf_sha256_free(h);
	if ((rc = rf_manifest_format(m, &mb, e)) < 0 ||
	    (rc = put_meta(tmpver, "MANIFEST", mb.p, mb.len, e)) < 0)
		goto out;
	if (key != NULL && ((rc = rf_key_sign(key, mb.p, mb.len, sig, e)) < 0 ||
	    (rc = put_meta(tmpver, "MANIFEST.sig", sig, sizeof sig, e)) < 0))
		goto out;
	if ((rc = seal_dir(tmpver, e)) < 0)
		goto out;
	if (rename(tmpver, final) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: %s", final, strerror(errno));
		goto out;
	}
	rf_cleanup_remove(tmpver);
	tmpver[0] = '\0';
	rf_store_path(s, dst, "versions");
	rc = rf_fsync_dir(dst, e);
out:
	rf_buf_free(&mb);
	rf_buf_free(&sb);
	return rc;
}

/*
 * Copies a stamp into lineage/, named by the data's SHA-256.  It is
 * written under a temporary name in objects/, where repair looks, and
 * renamed into place: lineage/ grows with the data, so no writer lists it.
 */
static int
put_lineage(rf_store *s, const rf_mfile *f, rf_err *e)
{
	char rel[96], p[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX], h[65];
	struct stat st;
	int fd, rc;

	rf_hex(f->sha256, RF_SHA256_LEN, h);
	snprintf(rel, sizeof rel, "lineage/%s.prov", h);
	rf_store_path(s, p, rel);
	if (lstat(p, &st) == 0)
		return 0;
	snprintf(rel, sizeof rel, "objects/.tmp-%ld-prov", (long)getpid());
	rf_store_path(s, tmp, rel);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0444)) < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", tmp, strerror(errno));
	rf_cleanup_add(tmp, false);
	if ((rc = rf_write_all(fd, f->prov, strlen(f->prov), e, tmp)) == 0 &&
	    (rc = rf_write_all(fd, "\n", 1, e, tmp)) == 0 && fsync(fd) < 0)
		rc = rf_seterr(e, RF_EIO, "%s: fsync: %s", tmp, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = rf_seterr(e, RF_EIO, "%s: close: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, p) < 0)
		rc = rf_seterr(e, RF_EIO, "%s: %s", p, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	rf_cleanup_remove(tmp);
	rf_store_path(s, dir, "lineage");
	return rc < 0 ? rc : rf_fsync_dir(dir, e);
}

static int
take_parent(rf_store *s, rf_manifest *m, rf_manifest *parent)
{
	rf_err e;
	int rc;

	if (s->current == 0) {
		rf_warnx("%s: --update needs a current version", s->dir);
		return RF_EXIT_USAGE;
	}
	if ((rc = rf_store_load(s, s->current, trust(), parent, &e)) < 0)
		return rf_fail(rc, &e);
	for (size_t i = 0; i < parent->n; i++) {
		rf_mfile f = parent->f[i];
		f.name = strdup(f.name);
		f.prov = f.prov != NULL ? strdup(f.prov) : NULL;
		if (f.name == NULL || rf_manifest_add(m, &f) < 0) {
			rf_warnx("out of memory");
			return RF_EXIT_IO;
		}
	}
	for (size_t i = 0; i < ndeletes; i++) {
		rf_mfile *f = rf_manifest_find(m, deletes[i]);
		if (f == NULL) {
			rf_warnx("--delete %s: not in version %06u", deletes[i],
			    (unsigned)s->current);
			return RF_EXIT_USAGE;
		}
		free(f->name);
		free(f->prov);
		size_t k = f - m->f;
		memmove(f, f + 1, (m->n - k - 1) * sizeof *f);
		m->n--;
	}
	return RF_EXIT_OK;
}

/*
 * The workers' temporaries in objects/ go on a signal (the registry of
 * rf_cleanup_add is for the main thread).  unlink is async-signal-safe.
 */
static struct job *jobs;

static void
drop_objtmps(void)
{
	for (size_t i = 0; jobs != NULL && i < nstg; i++)
		unlink(jobs[i].tmp);
}

/*
 * The schema of the version m: the staged files' schemas merged, with an
 * update's inherited files added from the parent's schema.  The merge is
 * exact when no part left paths unrecorded (each file is read with its
 * own bound, in parallel).  Otherwise, or when an update replaced or
 * deleted files (a schema cannot take records away), or its parent has
 * no schema, the version's files are read again, in order, from objects/.
 */
static int
version_schema(rf_store *s, const rf_manifest *m, const rf_manifest *parent,
    bool replaced, rf_schema **out, rf_err *e)
{
	rf_schema *sc, *ps = NULL;
	char obj[80], p[PATH_MAX];
	bool exact = !update || (!replaced && parent->schema != NULL);
	int rc;

	if ((rc = rf_schema_new(RF_SCHEMA_FIELDS_DEFAULT,
	    RF_SCHEMA_VALUES_DEFAULT, &sc, e)) < 0)
		return rc;
	if (exact && update && (rc = rf_schema_parse(parent->schema,
	    strlen(parent->schema), "the parent's schema", &ps, e)) < 0)
		goto out;
	if (exact && ps != NULL)
		exact = rf_schema_unrecorded(ps) == 0;
	for (size_t i = 0; exact && i < nstg; i++)
		exact = rf_schema_unrecorded(jobs[i].schema) == 0;
	if (exact && ps != NULL)
		rc = rf_schema_merge(sc, ps);
	for (size_t i = 0; exact && i < nstg && rc == 0; i++)
		rc = rf_schema_merge(sc, jobs[i].schema);
	for (size_t i = 0; !exact && i < m->n && rc == 0; i++) {
		rf_object_name(m->f[i].sha256, obj);
		rf_store_path(s, p, obj);
		rc = rf_schema_read(sc, p, e);
	}
out:
	rf_schema_free(ps);
	if (rc == RF_ENOMEM)
		rf_seterr(e, rc, "out of memory");
	if (rc < 0) {
		rf_schema_free(sc);
		return rc;
	}
	*out = sc;
	return 0;
}

/*
 * A commit refused after its files were stored takes back the objects it
 * made, which no version references (the lock is held), as if it had not
 * run; objects/ is gc's otherwise.  What cannot be removed is left to gc.
 */
static void
drop_objects(rf_store *s, const rf_manifest *m)
{
	char obj[80], p[PATH_MAX];

	for (size_t i = 0; i < nstg; i++) {
		if (!jobs[i].stored || jobs[i].reused)
			continue;
		rf_mfile *f = rf_manifest_find(m, stg[i].name);
		if (f == NULL)
			continue;
		rf_object_name(f->sha256, obj);
		rf_store_path(s, p, obj);
		unlink(p);
	}
}

/* The changes from the current version's schema that the mode forbids. */
struct forbidden {
	int mode;
	char **what;
	size_t n;
};

static int
forbid(const rf_change *c, void *arg)
{
	struct forbidden *f = arg;
	char t[1024], **nw;

	if (!rf_compat_breaks(f->mode, c))
		return 0;
	snprintf(t, sizeof t, "%s: %s%s%s%s", c->path, c->what,
	    *c->detail ? " (" : "", c->detail, *c->detail ? ")" : "");
	if ((nw = realloc(f->what, (f->n + 1) * sizeof *nw)) == NULL)
		return RF_ENOMEM;
	f->what = nw;
	if ((f->what[f->n] = strdup(t)) == NULL)
		return RF_ENOMEM;
	f->n++;
	return 0;
}

static int
check_compat(rf_store *s, const rf_schema *sc, struct forbidden *f)
{
	rf_schema *old;
	rf_err e;
	int rc;

	f->mode = rf_store_compat(s);
	if (f->mode == RF_COMPAT_NONE || s->current == 0)
		return RF_EXIT_OK;
	if ((rc = rf_store_schema(s, s->current, trust(), &old, &e)) < 0)
		return rf_fail(rc, &e);
	long n = rf_schema_compat(old, sc, forbid, f);
	rf_schema_free(old);
	if (n < 0) {
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	if (f->n == 0)
		return RF_EXIT_OK;
	for (size_t i = 0; i < f->n; i++)
		rf_warnx("%s: %s: %s compatibility with version %06u breaks",
		    s->dir, f->what[i], rf_compat_name(f->mode),
		    (unsigned)s->current);
	if (allow_breaking != NULL) {
		rf_warnx("%s: committed all the same: --allow-breaking, which "
		    "the log records", s->dir);
		return RF_EXIT_OK;
	}
	rf_warnx("%s: the dataset's mode is %s: nothing committed (override "
	    "with --allow-breaking MESSAGE)", s->dir, rf_compat_name(f->mode));
	return RF_EXIT_CHECK;
}

static int
cmd_commit(const char *dir, const char *stagedir)
{
	char rel[64];
	rf_store *s = NULL;
	rf_manifest m = { 0 }, parent = { 0 };
	rf_pool *pool = NULL;
	rf_schema *schema = NULL;
	rf_buf sdoc = { 0 };
	struct forbidden fb = { 0 };
	bool replaced = ndeletes > 0;
	rf_err e;
	int status, rc;

	if ((status = scan_stage(stagedir, "")) != RF_EXIT_OK ||
	    (status = pair_stamps()) != RF_EXIT_OK)
		return status;
	if (nstg == 0 && !(update && ndeletes > 0)) {
		rf_warnx("%s: no files to commit", stagedir);
		return RF_EXIT_USAGE;
	}
	if ((status = open_writer(dir, true, RF_ACT_COMMIT, &s)) != RF_EXIT_OK)
		return status;
	/*
	 * A commit that makes its version current publishes it too: with
	 * the publish role, and without approvals to wait for.
	 */
	if (!nopublish && (status = check_policy(s, RF_ACT_PUBLISH)) !=
	    RF_EXIT_OK) {
		rf_warnx("%s: commit with -n, for a candidate that a publisher "
		    "publishes", dir);
		rf_store_close(s);
		return status;
	}
	unsigned need = policy.approvals;
	if (!nopublish && need > 0) {
		rf_warnx("%s: its POLICY needs %u approval%s to publish a "
		    "version: commit with -n, have it approved, then publish",
		    dir, need, need == 1 ? "" : "s");
		rf_store_close(s);
		return RF_EXIT_CHECK;
	}
	if (!nopublish && policy.verified != 0) {
		rf_warnx("%s: its POLICY needs signed reports of refill-verify "
		    "to publish a version: commit with -n, verify it, then "
		    "publish with --report", dir);
		rf_store_close(s);
		return RF_EXIT_CHECK;
	}
	if (s->latest >= RF_VERSION_MAX) {
		rf_warnx("%s: no version numbers left", dir);
		status = RF_EXIT_USAGE;
		goto out;
	}
	if (update && (status = take_parent(s, &m, &parent)) != RF_EXIT_OK)
		goto out;

	if ((jobs = calloc(nstg ? nstg : 1, sizeof *jobs)) == NULL ||
	    (rc = rf_pool_new(0, &pool, &e)) < 0) {
		rf_warnx("out of memory");
		status = RF_EXIT_IO;
		goto out;
	}
	rf_cleanup_hook(drop_objtmps);
	for (size_t i = 0; i < nstg; i++) {
		jobs[i].task.fn = store_file;
		jobs[i].s = s;
		jobs[i].st = &stg[i];
		if (rf_schema_new(RF_SCHEMA_FIELDS_DEFAULT,
		    RF_SCHEMA_VALUES_DEFAULT, &jobs[i].schema, &e) < 0) {
			status = rf_fail(RF_ENOMEM, &e);
			goto out;
		}
		snprintf(rel, sizeof rel, "objects/.tmp-%ld-%zu", (long)getpid(),
		    i);
		rf_store_path(s, jobs[i].tmp, rel);
		rf_pool_submit(pool, &jobs[i].task);
	}
	for (size_t i = 0; i < nstg; i++) {
		rf_pool_wait(pool, &jobs[i].task);
		if (jobs[i].status != RF_EXIT_OK && status == RF_EXIT_OK) {
			rf_warnx("%s", jobs[i].e.msg);
			status = jobs[i].status;
		}
	}
	if (status != RF_EXIT_OK)
		goto out;
	/*
	 * Staged names replace the parent's (a lookup among its sorted
	 * entries only) or are appended; one sort at the end orders all.
	 */
	rf_manifest inherited = m;
	for (size_t i = 0; i < nstg; i++) {
		rf_mfile *old = rf_manifest_find(&inherited, stg[i].name);
		jobs[i].f.name = strdup(stg[i].name);
		if (jobs[i].f.name == NULL) {
			status = RF_EXIT_IO;
			goto out;
		}
		if (stg[i].has_prov &&
		    (status = read_stamp(&stg[i], &jobs[i].f)) != RF_EXIT_OK)
			goto out;
		if (old != NULL) {
			replaced = true;
			free(old->name);
			free(old->prov);
			*old = jobs[i].f;
		} else if (rf_manifest_add(&m, &jobs[i].f) < 0) {
			status = RF_EXIT_IO;
			goto out;
		}
		memset(&jobs[i].f, 0, sizeof jobs[i].f);
		inherited.f = m.f;	/* rf_manifest_add may have moved it */
	}
	rf_manifest_sort(&m);
	if ((rc = version_schema(s, &m, &parent, replaced, &schema, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	if ((rc = rf_schema_format(schema, &sdoc, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	sdoc.p[--sdoc.len] = '\0';	/* a member of the header, no newline */
	m.schema = sdoc.p;
	sdoc = (rf_buf){ 0 };
	if ((status = check_compat(s, schema, &fb)) != RF_EXIT_OK) {
		drop_objects(s, &m);
		goto out;
	}
	m.version = s->latest + 1;
	m.parent = s->current;
	/* The name: the parent's with -u, else --name, else current's. */
	if (parent.dataset == NULL && dsname == NULL && s->current != 0 &&
	    (rc = rf_store_check(s, s->current, trust(), &parent, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	const char *base = strrchr(s->dir, '/');
	m.dataset = strdup(parent.dataset != NULL ? parent.dataset :
	    dsname != NULL ? dsname : base != NULL ? base + 1 : s->dir);
	m.author = strdup(who());
	m.message = strdup(message);
	rf_timestamp(rf_now(), m.created);
	memcpy(m.log_head, s->head, sizeof m.log_head);
	if (key != NULL)
		rf_key_public(key, m.signer);
	if (m.dataset == NULL || m.author == NULL || m.message == NULL) {
		status = RF_EXIT_IO;
		goto out;
	}
	uint64_t records = 0, reused = 0;
	for (size_t i = 0; i < m.n; i++)
		records += m.f[i].digest.count;
	for (size_t i = 0; i < nstg; i++)
		reused += jobs[i].reused;
	rf_stat extra[] = {
		{ "files_committed", "Files staged and stored in the version.",
		    nstg },
		{ "files_reused", "Files staged whose content was stored "
		    "already.", reused },
		{ "files_inherited", "Files taken from the parent version "
		    "(-u).", m.n - nstg },
		{ "dataset_version", "The number of the dataset version.",
		    m.version },
		{ "version_records", "Records in the version committed.",
		    records },
	};
	/* --stats and --metrics wait under temporary names for the log line. */
	if ((status = rf_run_prepare(&run, extra,
	    sizeof extra / sizeof extra[0])) != RF_EXIT_OK)
		goto out;
	for (size_t i = 0; i < m.n; i++)
		if (m.f[i].prov != NULL && (rc = put_lineage(s, &m.f[i], &e)) < 0) {
			status = rf_fail(rc, &e);
			goto out;
		}
	if ((rc = build_version(s, &m, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	rf_manifest loaded;
	if ((rc = rf_store_load(s, m.version, NULL, &loaded, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	rf_event ev = {
		.event = "commit", .user = m.author, .message = message,
		.version = m.version, .from = s->current,
		.current = nopublish ? s->current : m.version,
		.manifest = loaded.sha256,
		.breaking = (const char *const *)fb.what, .nbreaking = fb.n,
		.override = fb.n > 0 ? allow_breaking : NULL
	};
	rc = rf_store_log(s, &ev, key, &e);
	rf_manifest_free(&loaded);
	if (rc < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	if (!nopublish && (status = switch_current(s, m.version)) != RF_EXIT_OK)
		goto out;
	printf("%06u\n", (unsigned)m.version);
	if (!quiet)
		rf_warnx("%s: version %06u %s: %zu file%s, %llu records%s",
		    dir, (unsigned)m.version,
		    nopublish ? "committed as a candidate (not current)" :
		    "committed and current", m.n, m.n == 1 ? "" : "s",
		    (unsigned long long)records,
		    key == NULL ? ", unsigned" : "");
	status = rf_run_publish(&run);
out:
	if (status != RF_EXIT_OK)
		rf_run_abort(&run);
	if (pool != NULL)
		rf_pool_free(pool);
	if (jobs != NULL)
		for (size_t i = 0; i < nstg; i++) {
			free(jobs[i].f.name);
			free(jobs[i].f.prov);
			rf_schema_free(jobs[i].schema);
		}
	for (size_t i = 0; i < fb.n; i++)
		free(fb.what[i]);
	free(fb.what);
	rf_schema_free(schema);
	rf_buf_free(&sdoc);
	rf_cleanup_hook(NULL);
	free(jobs);
	jobs = NULL;
	drop_tmpver();
	rf_manifest_free(&m);
	rf_manifest_free(&parent);
	rf_store_close(s);
	return status;
}

/* ---- approvals ---------------------------------------------------------- */

/* The value of a member of a checked log line, as text (strings unquoted). */
static void
member(const rf_logent *l, const char *name, char *dst, size_t n)
{
	rf_path *p;
	const char *v;
	size_t vn;
	rf_err e;

	dst[0] = '\0';
	if (rf_path_compile(name, &p, &e) < 0)
		return;
	if (rf_json_get(l->line, l->len, p, &v, &vn) == 0) {
		if (vn == 4 && memcmp(v, "null", 4) == 0)
			snprintf(dst, n, "-");
		else if (v[0] == '"') {
			rf_buf b = { 0 };
			if (rf_json_unescape(v, vn, &b) == 0)
				snprintf(dst, n, "%.*s", (int)b.len, b.p);
			rf_buf_free(&b);
		} else
			snprintf(dst, n, "%.*s", (int)vn, v);
	}
	rf_path_free(p);
}

/* The key that signed line l, in pub ("" for an unsigned line). */
static void
line_signer(const rf_logent *l, char pub[RF_PUBKEY_LEN + 1])
{
	char t[RF_PUBKEY_LEN + 2];	/* room to tell a longer one */

	member(l, "signer", t, sizeof t);
	pub[0] = '\0';
	if (strlen(t) == RF_PUBKEY_LEN)
		memcpy(pub, t, RF_PUBKEY_LEN + 1);
}

/* The key that committed version v, in pub. */
static void
committer_of(const rf_store *s, uint32_t v, char pub[RF_PUBKEY_LEN + 1])
{
	pub[0] = '\0';
	for (size_t i = 0; i < s->nlog; i++)
		if (strcmp(s->log[i].event, "commit") == 0 &&
		    s->log[i].version == v)
			line_signer(&s->log[i], pub);
}

/* The first line of the log that made version v current, or 0. */
static size_t
published_at(const rf_store *s, uint32_t v)
{
	for (size_t i = 0; i < s->nlog; i++)
		if (s->log[i].current == v)
			return i + 1;
	return 0;
}

/*
 * Counts in *n the approvals of version v's MANIFEST (its SHA-256 is sha)
 * that count: lines of the log, each by a distinct key that may approve
 * now, and not the committer's unless the policy lets it.  Their signers'
 * names are appended to who.  0 or RF_ENOMEM.
 */
static int
count_approvals(const rf_store *s, const rf_policy *p, uint32_t v,
    const unsigned char sha[RF_SHA256_LEN], rf_buf *who, unsigned *n)
{
	char committer[RF_PUBKEY_LEN + 1], pub[RF_PUBKEY_LEN + 1];
	rf_buf seen = { 0 };	/* the keys counted, one after another */
	int rc = 0;

	*n = 0;
	committer_of(s, v, committer);
	for (size_t i = 0; i < s->nlog && rc == 0; i++) {
		const rf_logent *l = &s->log[i];
		if (strcmp(l->event, "approve") != 0 || l->version != v ||
		    !l->has_manifest ||
		    memcmp(l->manifest, sha, RF_SHA256_LEN) != 0)
			continue;
		line_signer(l, pub);
		if (pub[0] == '\0' || (!p->self_approval &&
		    strcmp(pub, committer) == 0))
			continue;
		const rf_signer *sg = have_trusted ?
		    rf_trusted_find(&trusted, pub) : NULL;
		if (have_trusted && !rf_policy_allows(p, RF_ACT_APPROVE, sg))
			continue;
		bool dup = false;
		for (size_t k = 0; k < seen.len && !dup; k += RF_PUBKEY_LEN)
			dup = memcmp(seen.p + k, pub, RF_PUBKEY_LEN) == 0;
		if (dup)
			continue;
		(*n)++;
		if ((rc = rf_buf_add(&seen, pub, RF_PUBKEY_LEN)) == 0 &&
		    who->len > 0)
			rc = rf_buf_adds(who, ", ");
		if (rc == 0)
			rc = rf_buf_adds(who, sg != NULL ? sg->name : "a key");
	}
	rf_buf_free(&seen);
	return rc;
}

/* Whether the POLICY's approvals of version v are there, said if not. */
static int
check_approvals(rf_store *s, uint32_t v, const unsigned char sha[RF_SHA256_LEN])
{
	const rf_policy *p = &policy;
	rf_buf who = { 0 };
	char h[65];
	int status = RF_EXIT_OK;

	unsigned n;
	if (p->approvals > 0 &&
	    count_approvals(s, p, v, sha, &who, &n) < 0) {
		rf_warnx("%s: out of memory", s->dir);
		status = RF_EXIT_IO;
	} else if (p->approvals > 0) {
		if (n < p->approvals) {
			rf_hex(sha, RF_SHA256_LEN, h);
			rf_warnx("%s: version %06u needs %u approval%s of its "
			    "MANIFEST %.12s... (its POLICY); it has %u%s%.*s%s",
			    s->dir, (unsigned)v, p->approvals,
			    p->approvals == 1 ? "" : "s", h, n,
			    n > 0 ? " (" : "", (int)who.len, who.len ? who.p : "",
			    n > 0 ? ")" : "");
			status = RF_EXIT_CHECK;
		}
	}
	rf_buf_free(&who);
	return status;
}

/*
 * Approves version v: a signed line of the log naming its MANIFEST's
 * SHA-256, which counts toward publishing that MANIFEST and no other.
 */
static int
cmd_approve(const char *dir, const char *vs)
{
	rf_store *s = NULL;
	rf_manifest m = { 0 };
	const rf_policy *p = &policy;
	uint32_t v;
	char pub[RF_PUBKEY_LEN + 1], committer[RF_PUBKEY_LEN + 1];
	rf_buf names = { 0 };
	rf_err e;
	int rc, status;

	if (parse_version(vs, &v) < 0)
		return RF_EXIT_USAGE;
	if (key == NULL) {
		rf_warnx("an approval is signed: give --key");
		return RF_EXIT_USAGE;
	}
	if (message == NULL) {
		rf_warnx("an approval says why: -m MESSAGE");
		return RF_EXIT_USAGE;
	}
	if ((status = open_writer(dir, false, RF_ACT_APPROVE, &s)) !=
	    RF_EXIT_OK)
		return status;
	if ((rc = rf_store_version(s, &v, &e)) < 0 ||
	    (rc = rf_store_check(s, v, trust(), &m, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	rf_key_public(key, pub);
	committer_of(s, v, committer);
	size_t at = published_at(s, v);
	if (at > 0) {
		/* An approval is of a candidate, before anyone sees it. */
		rf_warnx("%s: version %06u was published already (line %zu): "
		    "there is nothing left to approve", dir, (unsigned)v, at);
		status = RF_EXIT_CHECK;
	} else if (!p->self_approval && strcmp(pub, committer) == 0) {
		rf_warnx("%s: this key committed version %06u, and %s lets no "
		    "committer approve its own version", dir, (unsigned)v,
		    policy_set ? "its POLICY" : "without a POLICY, the default");
		status = RF_EXIT_CHECK;
	} else {
		/* Once a key: a second approval adds nothing. */
		for (size_t i = 0; i < s->nlog; i++) {
			char ls[RF_PUBKEY_LEN + 1];
			const rf_logent *l = &s->log[i];
			if (strcmp(l->event, "approve") != 0 ||
			    l->version != v || !l->has_manifest ||
			    memcmp(l->manifest, m.sha256, RF_SHA256_LEN) != 0)
				continue;
			line_signer(l, ls);
			if (strcmp(ls, pub) == 0) {
				if (!quiet)
					rf_warnx("%s: this key approved version "
					    "%06u already (line %zu)", dir,
					    (unsigned)v, i + 1);
				goto out;
			}
		}
		rf_event ev = {
			.event = "approve", .user = who(), .message = message,
			.version = v, .from = s->current, .current = s->current,
			.manifest = m.sha256
		};
		if ((rc = rf_store_log(s, &ev, key, &e)) < 0) {
			status = rf_fail(rc, &e);
			goto out;
		}
		unsigned n;
		if (!quiet && count_approvals(s, p, v, m.sha256, &names,
		    &n) == 0) {
			if (p->approvals == 0)
				rf_warnx("%s: version %06u approved: %u approval%s; "
				    "publishing needs none", dir, (unsigned)v, n,
				    n == 1 ? "" : "s");
			else
				rf_warnx("%s: version %06u approved: %u of the %u "
				    "its POLICY needs to publish it", dir,
				    (unsigned)v, n, p->approvals);
		}
	}
out:
	rf_buf_free(&names);
	rf_manifest_free(&m);
	rf_store_close(s);
	return status;
}

/* ---- verification reports --------------------------------------------- */

/*
 * Reads the --report files for version v, whose MANIFEST's SHA-256 is
 * sha, and appends each to arr, a JSON array's elements, for the log.
 * Each must be a report of refill-verify, signed, passing, of this very
 * MANIFEST and, with a trusted-signers file, by a key the policy lets
 * verify; together they must cover the POLICY's "verified" checks.
 */
static int
check_reports(rf_store *s, uint32_t v, const unsigned char sha[RF_SHA256_LEN],
    rf_buf *arr)
{
	const rf_policy *p = &policy;
	rf_buf b = { 0 };
	rf_err e;
	char h[2 * RF_SHA256_LEN + 1], rh[2 * RF_SHA256_LEN + 1];
	unsigned have = 0;
	int rc, status = RF_EXIT_OK;

	rf_hex(sha, RF_SHA256_LEN, h);
	for (size_t i = 0; i < nreports && status == RF_EXIT_OK; i++) {
		const char *f = reports[i];
		rf_report r;
		b.len = 0;
		if ((rc = rf_read_file(f, (size_t)1 << 20, &b, &e)) < 0 ||
		    (rc = rf_report_parse(b.p, b.len, f, &r, &e)) < 0) {
			status = rf_fail(rc, &e);
			break;
		}
		int c = rf_policy_check_parse(r.check, strlen(r.check));
		const rf_signer *sg = have_trusted ?
		    rf_trusted_find(&trusted, r.signer) : NULL;
		rf_hex(r.manifest, RF_SHA256_LEN, rh);
		if (r.version != v || memcmp(r.manifest, sha,
		    RF_SHA256_LEN) != 0) {
			rf_warnx("%s: a report of version %06u's MANIFEST "
			    "%.12s..., not of version %06u's %.12s...", f,
			    (unsigned)r.version, rh, (unsigned)v, h);
			status = RF_EXIT_CHECK;
		} else if (!r.passed) {
			rf_warnx("%s: the %s check of version %06u failed", f,
			    r.check, (unsigned)v);
			status = RF_EXIT_CHECK;
		} else if (c < 0) {
			rf_warnx("%s: %s is not a check a POLICY can require",
			    f, r.check);
			status = RF_EXIT_CHECK;
		} else if (have_trusted && !rf_policy_allows(p,
		    RF_ACT_VERIFY, sg)) {
			char need[256], has[256];
			roles_needed(p, RF_ACT_VERIFY, need, sizeof need);
			roles_of(sg, has, sizeof has);
			if (sg == NULL)
				rf_warnx("%s: signed by a key that %s does not "
				    "list", f, trusted.path);
			else
				rf_warnx("%s: a report counts when signed by the "
				    "role %s (%s); %s has %s", f, need, policy_set ?
				    "its POLICY" : "no POLICY: the default",
				    sg->name, has);
			status = RF_EXIT_CHECK;
		} else if (!have_trusted && p->verified != 0) {
			rf_warnx("%s: no trusted-signers file names the "
			    "verifiers that its POLICY needs", s->dir);
			status = RF_EXIT_USAGE;
		} else {
			have |= 1u << c;
			/* The line without its newline: canonical JSON. */
			while (b.len > 0 && b.p[b.len - 1] == '\n')
				b.len--;
			if ((arr->len > 0 && rf_buf_addc(arr, ',') < 0) ||
			    rf_buf_add(arr, b.p, b.len) < 0) {
				rf_warnx("out of memory");
				status = RF_EXIT_IO;
			}
		}
	}
	unsigned missing = p->verified & ~have;
	if (status == RF_EXIT_OK && missing != 0) {
		char list[128] = "";
		size_t k = 0;
		for (int c = 0; c < RF_CHECK_N; c++)
			if (missing & 1u << c)
				k += snprintf(list + k, sizeof list - k, "%s%s",
				    k > 0 ? ", " : "", rf_policy_check(c));
		rf_warnx("%s: version %06u needs a passing report of %s by a "
		    "key that may verify, of its MANIFEST %.12s... (its "
		    "POLICY)", s->dir, (unsigned)v, list, h);
		status = RF_EXIT_CHECK;
	}
	rf_buf_free(&b);
	return status;
}

/* ---- publish and rollback ---------------------------------------------- */

static int
cmd_switch(bool rollback, const char *dir, const char *vs)
{
	rf_store *s = NULL;
	rf_manifest m = { 0 };
	rf_buf reps = { 0 }, arr = { 0 };
	uint32_t v = 0;
	rf_err e;
	int rc, status;

	if (vs != NULL && parse_version(vs, &v) < 0)
		return RF_EXIT_USAGE;
	if ((status = open_writer(dir, false, rollback ? RF_ACT_ROLLBACK :
	    RF_ACT_PUBLISH, &s)) != RF_EXIT_OK)
		return status;
	if (v == 0 && (v = rf_store_previous(s)) == 0) {
		rf_warnx("%s: no earlier current version to roll back to", dir);
		status = RF_EXIT_USAGE;
		goto out;
	}
	if (!rf_store_committed(s, v)) {
		rf_warnx("%s: no version %06u", dir, (unsigned)v);
		status = RF_EXIT_USAGE;
		goto out;
	}
	if (rollback && (s->current == 0 || v >= s->current)) {
		rf_warnx("%s: version %06u is not older than current%s; use "
		    "publish", dir, (unsigned)v, s->current == 0 ? " (none)" : "");
		status = RF_EXIT_USAGE;
		goto out;
	}
	/* A version removed by gc has no MANIFEST left: this says so. */
	if ((rc = rf_store_check(s, v, trust(), &m, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	/*
	 * A version made current for the first time is published, and
	 * needs its approvals, whether by publish or by rollback; going
	 * back to one that was current before does not.
	 */
	bool before = published_at(s, v) > 0;
	/* Current already, by a publish that a rerun repeats: nothing to do. */
	if (before && nreports > 0 && v != s->current) {
		rf_warnx("%s: version %06u was current before (line %zu): a "
		    "report is for a version's first publication", dir,
		    (unsigned)v, published_at(s, v));
		status = RF_EXIT_USAGE;
		goto out;
	}
	if (!before && ((status = check_approvals(s, v, m.sha256)) !=
	    RF_EXIT_OK || (status = check_reports(s, v, m.sha256,
	    &reps)) != RF_EXIT_OK))
		goto out;
	rf_stat extra[] = {
		{ "dataset_version", "The number of the dataset version.", v },
		{ "previous_version", "The version current before, 0 for none.",
		    s->current },
	};
	if ((status = rf_run_prepare(&run, extra,
	    sizeof extra / sizeof extra[0])) != RF_EXIT_OK)
		goto out;
	if (v == s->current) {
		if (!quiet)
			rf_warnx("%s: version %06u is current already", dir,
			    (unsigned)v);
		printf("%06u\n", (unsigned)v);
		status = rf_run_publish(&run);
		goto out;
	}
	rf_event ev = {
		.event = rollback ? "rollback" : "publish", .user = who(),
		.message = message, .version = v, .from = s->current,
		.current = v, .manifest = m.sha256
	};
	if (reps.len > 0) {
		if (rf_buf_addc(&arr, '[') < 0 ||
		    rf_buf_add(&arr, reps.p, reps.len) < 0 ||
		    rf_buf_add(&arr, "]", 2) < 0) {
			rf_warnx("out of memory");
			status = RF_EXIT_IO;
			goto out;
		}
		ev.reports = arr.p;
	}
	uint32_t from = s->current;
	if ((rc = rf_store_log(s, &ev, key, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	if ((status = switch_current(s, v)) != RF_EXIT_OK)
		goto out;
	printf("%06u\n", (unsigned)v);
	if (!quiet) {
		char was[32] = "none";
		if (from != 0)
			snprintf(was, sizeof was, "%06u", (unsigned)from);
		rf_warnx("%s: current is version %06u (was %s)", dir,
		    (unsigned)v, was);
	}
	status = rf_run_publish(&run);
out:
	if (status != RF_EXIT_OK)
		rf_run_abort(&run);
	rf_buf_free(&reps);
	rf_buf_free(&arr);
	rf_manifest_free(&m);
	rf_store_close(s);
	return status;
}

/* ---- log and show ------------------------------------------------------- */


static const char *
signer_name(const char *pub)
{
	const rf_signer *s;

	if (pub[0] == '\0' || strcmp(pub, "-") == 0)
		return "unsigned";
	if (!have_trusted)
		return "signed";
	s = rf_trusted_find(&trusted, pub);
	return s != NULL ? s->name : "signed by an unlisted key";
}

/* The reports a publish line carries: "report diff passed, by vera". */
static void
show_reports(const rf_logent *l)
{
	rf_path *p;
	const char *v, *x;
	size_t vn, xn, pos = 0;
	rf_err e;

	if (rf_path_compile("reports", &p, &e) < 0)
		return;
	if (rf_json_get(l->line, l->len, p, &v, &vn) == 0 && v[0] == '[')
		while (rf_json_next(v, vn, &pos, NULL, NULL, &x, &xn) > 0) {
			rf_report r;
			const rf_signer *sg;
			/* refill-verify dataset names one that does not hold. */
			if (rf_audit_report(l, x, xn, "report", &r, &e) < 0)
				printf("     %s\n", e.msg);
			else
				printf("     report %s %s, by %s\n", r.check,
				    r.passed ? "passed" : "failed", !have_trusted ?
				    r.signer : (sg = rf_trusted_find(&trusted,
				    r.signer)) != NULL ? sg->name :
				    "a key the trusted-signers file does not list");
		}
	rf_path_free(p);
}

static int
cmd_log(const char *dir)
{
	rf_store *s;
	rf_err e;
	int rc;

	if ((rc = rf_store_open(dir, 0, trust(), &s, NULL, &e)) < 0)
		return rf_fail(rc, &e);
	for (size_t i = 0; i < s->nlog; i++) {
		const rf_logent *l = &s->log[i];
		char t[64], user[256], msg[1024], signer[128], ver[16], cur[16];
		if (json) {
			printf("%.*s\n", (int)l->len, l->line);
			continue;
		}
		member(l, "time", t, sizeof t);
		member(l, "user", user, sizeof user);
		member(l, "message", msg, sizeof msg);
		member(l, "signer", signer, sizeof signer);
		snprintf(ver, sizeof ver, l->version ? "%06u" : "-",
		    (unsigned)l->version);
		snprintf(cur, sizeof cur, l->current ? "%06u" : "-",
		    (unsigned)l->current);
		printf("%-4zu %s  %-8s %-6s current %-6s %s (%s)%s%s\n", i + 1,
		    t, l->event, ver, cur, user, signer_name(signer),
		    msg[0] != '\0' && strcmp(msg, "-") != 0 ? ": " : "",
		    strcmp(msg, "-") != 0 ? msg : "");
		if (strcmp(l->event, "compat") == 0 ||
		    strcmp(l->event, "policy") == 0)
			printf("     mode %s\n", rf_compat_name(l->mode));
		if (l->has_policy) {
			char h[65];
			rf_hex(l->policy, RF_SHA256_LEN, h);
			printf("     POLICY %s\n", h);
		}
		member(l, "override", msg, sizeof msg);
		if (msg[0] != '\0')
			printf("     broke the mode, allowed: %s\n", msg);
		show_reports(l);
	}
	rf_store_close(s);
	return RF_EXIT_OK;
}

/* The schema the version's MANIFEST records, field by field. */
static int
show_schema(const rf_manifest *m)
{
	rf_schema *sc;
	rf_buf b = { 0 };
	rf_err e;
	int rc;

	if (m->schema == NULL) {
		printf("schema    none recorded (committed before schemas were)\n");
		return RF_EXIT_OK;
	}
	if ((rc = rf_schema_parse(m->schema, strlen(m->schema), "MANIFEST",
	    &sc, &e)) < 0)
		return rf_fail(rc, &e);
	if (rf_schema_describe(sc, &b) < 0) {
		rf_schema_free(sc);
		rf_warnx("out of memory");
		return RF_EXIT_IO;
	}
	printf("schema    %llu records\n",
	    (unsigned long long)rf_schema_records(sc));
	fwrite(b.p, 1, b.len, stdout);
	rf_buf_free(&b);
	rf_schema_free(sc);
	return RF_EXIT_OK;
}

static int
cmd_show(const char *arg)
{
	char dir[PATH_MAX], mp[PATH_MAX];
	rf_store *s;
	rf_manifest m;
	uint32_t v;
	rf_err e;
	int rc, status;

	if (rf_dataset_arg(arg, dir, sizeof dir, &v, &e) < 0) {
		rf_warnx("%s", e.msg);
		return RF_EXIT_USAGE;
	}
	if ((rc = rf_store_open(dir, 0, trust(), &s, NULL, &e)) < 0)
		return rf_fail(rc, &e);
	if (v == 0 && rf_store_check_pointer(s, &e) < 0)
		rf_warnx("%s", e.msg);
	if ((rc = rf_store_version(s, &v, &e)) < 0 ||
	    (rc = rf_store_load(s, v, trust(), &m, &e)) < 0) {
		rf_store_close(s);
		return rf_fail(rc, &e);
	}
	if (json) {
		rf_buf b = { 0 };
		rf_version_path(s, v, "MANIFEST", mp);
		if ((rc = rf_read_file(mp, (size_t)1 << 30, &b, &e)) < 0) {
			rf_buf_free(&b);
			rf_manifest_free(&m);
			rf_store_close(s);
			return rf_fail(rc, &e);
		}
		fwrite(b.p, 1, b.len, stdout);
		rf_buf_free(&b);
	} else {
		char h[65], par[16] = "-";
		if (m.parent != 0)
			snprintf(par, sizeof par, "%06u", (unsigned)m.parent);
		printf("dataset   %s\n", m.dataset);
		printf("version   %06u%s\n", (unsigned)m.version,
		    v == s->current ? " (current)" : "");
		printf("parent    %s\n", par);
		printf("created   %s\n", m.created);
		printf("author    %s\n", m.author);
		printf("message   %s\n", m.message);
		if (m.signer[0] == '\0')
			printf("signer    unsigned\n");
		else
			printf("signer    %s (%s)\n", m.signer,
			    have_trusted ? signer_name(m.signer) :
			    "signature good; no trusted-signers file to name it");
		rf_dsum_hex(&m.total, h);
		printf("records   %llu\n", (unsigned long long)m.total.count);
		printf("digest    %s\n", h);
		printf("files     %zu\n", m.n);
		for (size_t i = 0; i < m.n; i++) {
			rf_hex(m.f[i].sha256, RF_SHA256_LEN, h);
			printf("  %s  %10llu records  %12llu bytes  %s\n", h,
			    (unsigned long long)m.f[i].digest.count,
			    (unsigned long long)m.f[i].size, m.f[i].name);
		}
		if ((status = show_schema(&m)) != RF_EXIT_OK) {
			rf_manifest_free(&m);
			rf_store_close(s);
			return status;
		}
	}
	rf_manifest_free(&m);
	rf_store_close(s);
	return RF_EXIT_OK;
}

/* ---- compat ------------------------------------------------------------- */

/*
 * Sets the dataset's compatibility mode, which each later commit must
 * keep: a line of the log, so that who set it, when and why is on record.
 */
static int
cmd_compat(const char *dir, const char *name)
{
	rf_store *s = NULL;
	int mode = rf_compat_parse(name), status;
	rf_err e;

	if (mode < 0) {
		rf_warnx("%s: not a mode: backward, forward, full or none", name);
		return RF_EXIT_USAGE;
	}
	if ((status = open_writer(dir, false, ACT_COMPAT, &s)) != RF_EXIT_OK)
		return status;
	if (rf_store_compat(s) == mode) {
		if (!quiet)
			rf_warnx("%s: the mode is %s already", dir, name);
		rf_store_close(s);
		return RF_EXIT_OK;
	}
	rf_event ev = {
		.event = "compat", .user = who(), .message = message,
		.from = s->current, .current = s->current, .mode = name
	};
	int rc = rf_store_log(s, &ev, key, &e);
	if (rc < 0)
		status = rf_fail(rc, &e);
	else if (!quiet)
		rf_warnx("%s: mode %s: each commit is checked against the "
		    "current version", dir, name);
	rf_store_close(s);
	return status;
}

/* ---- policy ------------------------------------------------------------- */

/*
 * Without a file, writes the POLICY in force (the defaults if none was
 * set); with one, sets it: checked, in canonical form, signed by the log
 * line that sets it, which must be an owner's.
 */
static int
cmd_policy(const char *dir, const char *file)
{
	rf_store *s = NULL;
	rf_policy p;
	rf_buf b = { 0 }, text = { 0 }, now = { 0 };
	rf_err e;
	int rc, status = RF_EXIT_OK;

	if (file == NULL) {
		if ((rc = rf_store_open(dir, 0, trust(), &s, NULL, &e)) < 0)
			return rf_fail(rc, &e);
		if ((rc = rf_store_policy(s, trust(), &p, &e)) < 0) {
			rf_store_close(s);
			return rf_fail(rc, &e);
		}
		if (rc == 1 && !quiet)
			rf_warnx("%s: no POLICY set: these are the defaults", dir);
		if (rf_policy_format(&p, &text, &e) < 0)
			status = rf_fail(RF_ENOMEM, &e);
		else
			fwrite(text.p, 1, text.len, stdout);
		rf_policy_free(&p);
		rf_buf_free(&text);
		rf_store_close(s);
		return status;
	}
	/* A file that is no policy is the user's mistake: status 2. */
	if ((rc = rf_read_file(file, (size_t)1 << 20, &b, &e)) < 0) {
		rf_buf_free(&b);
		return rf_fail(rc, &e);
	}
	rc = rf_policy_parse(b.p, b.len, file, &p, &e);
	rf_buf_free(&b);
	if (rc < 0) {
		rf_warnx("%s", e.msg);
		return rc == RF_EDATA ? RF_EXIT_USAGE : rf_status(rc);
	}
	rc = rf_policy_format(&p, &text, &e);
	/* The mode, for rf_store_compat: the line names it as compat's do. */
	char mode[16];
	snprintf(mode, sizeof mode, "%s", rf_compat_name(p.compat));
	rf_policy_free(&p);
	if (rc < 0) {
		rf_buf_free(&text);
		return rf_fail(rc, &e);
	}
	if ((status = open_writer(dir, false, ACT_POLICY, &s)) != RF_EXIT_OK)
		goto out;
	if (policy_set && rf_policy_format(&policy, &now, &e) == 0 &&
	    now.len == text.len && memcmp(now.p, text.p, text.len) == 0) {
		if (!quiet)
			rf_warnx("%s: that POLICY is in force already", dir);
		goto out;
	}
	rf_event ev = {
		.event = "policy", .user = who(), .message = message,
		.from = s->current, .current = s->current, .mode = mode
	};
	if ((rc = rf_store_set_policy(s, text.p, text.len, &ev, key, &e)) < 0)
		status = rf_fail(rc, &e);
	else if (!quiet)
		rf_warnx("%s: POLICY set: every change is checked against it",
		    dir);
out:
	rf_buf_free(&text);
	rf_buf_free(&now);
	rf_store_close(s);
	return status;
}

/* ---- gc ----------------------------------------------------------------- */

static int
hexcmp(const void *a, const void *b)
{
	return memcmp(a, b, RF_SHA256_LEN);
}

/* Removes the objects that no version left references. */
static int
sweep_objects(rf_store *s, unsigned char (*keep_d)[RF_SHA256_LEN], size_t nk,
    uint64_t *removed, rf_err *e)
{
	char odir[PATH_MAX];
	DIR *d;
	struct dirent *de;

	qsort(keep_d, nk, sizeof *keep_d, hexcmp);
	rf_store_path(s, odir, "objects");
	/*
	 * By descriptors that never follow a link, so that a link planted in
	 * objects/ cannot make gc remove files outside the dataset.
	 */
	int ofd = open(odir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ofd < 0 || (d = fdopendir(ofd)) == NULL) {
		int rc = rf_seterr(e, errno == ELOOP ? RF_ECHECK : RF_EIO,
		    "%s: %s", odir, strerror(errno));
		if (ofd >= 0)
			close(ofd);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		DIR *d2 = NULL;
		struct dirent *de2;
		struct stat st = { .st_mode = 0 };
		int sfd = -1;
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		if (fstatat(ofd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
			continue;	/* not the store's */
		if ((sfd = openat(ofd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) < 0 ||
		    (d2 = fdopendir(sfd)) == NULL) {
			int err = errno, rc;
			if (sfd >= 0)
				close(sfd);
			rc = rf_seterr(e, S_ISLNK(st.st_mode) ? RF_ECHECK :
			    RF_EIO, "%s/%s: %s", odir, de->d_name,
			    S_ISLNK(st.st_mode) ? "a symbolic link, where the "
			    "dataset has a directory: refused" : strerror(err));
			closedir(d);
			return rc;
		}
		while ((de2 = readdir(d2)) != NULL) {
			char hex[65];
			unsigned char dg[RF_SHA256_LEN];
			if (strlen(de2->d_name) != 62)
				continue;
			snprintf(hex, sizeof hex, "%s%s", de->d_name, de2->d_name);
			if (rf_unhex(hex, 64, dg, sizeof dg) < 0)
				continue;
			if (nk > 0 && bsearch(dg, keep_d, nk, sizeof *keep_d,
			    hexcmp) != NULL)
				continue;
			if (unlinkat(sfd, de2->d_name, 0) < 0) {
				int rc = rf_seterr(e, RF_EIO, "%s/%s/%s: %s",
				    odir, de->d_name, de2->d_name,
				    strerror(errno));
				closedir(d2);
				closedir(d);
				return rc;
			}
			(*removed)++;
		}
		closedir(d2);
	}
	closedir(d);
	return 0;
}

static int
cmd_gc(const char *dir)
{
	rf_store *s = NULL;
	uint32_t *vs = NULL, *gone = NULL;
	size_t nv = 0, ngone = 0, nk = 0, capk = 0;
	unsigned char (*kd)[RF_SHA256_LEN] = NULL;
	uint64_t nobj = 0;
	rf_err e;
	int rc, status;

	if ((status = open_writer(dir, false, RF_ACT_GC, &s)) != RF_EXIT_OK)
		return status;
	if ((rc = rf_store_versions(s, &vs, &nv, &e)) < 0 ||
	    (gone = calloc(nv ? nv : 1, sizeof *gone)) == NULL) {
		status = rc < 0 ? rf_fail(rc, &e) : RF_EXIT_IO;
		goto out;
	}
	uint32_t prev = rf_store_previous(s);
	/* Each kept version's manifest names the objects to keep. */
	for (size_t i = 0; i < nv; i++) {
		bool k = i + keep >= nv || vs[i] == s->current || vs[i] == prev;
		rf_manifest m;
		if (!k) {
			gone[ngone++] = vs[i];
			continue;
		}
		if ((rc = rf_store_load(s, vs[i], trust(), &m, &e)) < 0) {
			rf_warnx("%s", e.msg);
			rf_warnx("%s: gc stops: it cannot tell what version %06u "
			    "references", dir, (unsigned)vs[i]);
			status = rf_status(rc);
			goto out;
		}
		for (size_t j = 0; j < m.n; j++) {
			if (nk == capk) {
				capk = capk ? 2 * capk : 256;
				void *n = realloc(kd, capk * sizeof *kd);
				if (n == NULL) {
					rf_manifest_free(&m);
					status = RF_EXIT_IO;
					goto out;
				}
				kd = n;
			}
			memcpy(kd[nk++], m.f[j].sha256, RF_SHA256_LEN);
		}
		rf_manifest_free(&m);
	}
	rf_event ev = {
		.event = "gc", .user = who(), .message = message,
		.from = s->current, .current = s->current,
		.removed = gone, .nremoved = ngone
	};
	/* The log first: a crash after it leaves versions gc meant to remove. */
	if ((rc = rf_store_log(s, &ev, key, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	for (size_t i = 0; i < ngone; i++)
		if ((rc = rf_store_remove_version(s, gone[i], &e)) < 0) {
			status = rf_fail(rc, &e);
			goto out;
		}
	if ((rc = sweep_objects(s, kd, nk, &nobj, &e)) < 0) {
		status = rf_fail(rc, &e);
		goto out;
	}
	if (!quiet)
		rf_warnx("%s: removed %zu version%s and %llu object%s", dir,
		    ngone, ngone == 1 ? "" : "s", (unsigned long long)nobj,
		    nobj == 1 ? "" : "s");
	/* Known only now, after the work: gc has no all or nothing. */
	rf_stat extra[] = {
		{ "versions_removed", "Versions removed by gc.", ngone },
		{ "objects_removed", "Objects removed by gc.", nobj },
	};
	status = rf_run_finish(&run, extra, sizeof extra / sizeof extra[0]);
out:
	free(vs);
	free(gone);
	free(kd);
	rf_store_close(s);
	return status;
}

/* ---- keygen ------------------------------------------------------------- */

static int
cmd_keygen(const char *path)
{
	char pub[RF_PUBKEY_LEN + 1], pp[PATH_MAX], pem[160];
	rf_err e;
	int rc;

	if (snprintf(pp, sizeof pp, "%s.pub", path) >= (int)sizeof pp) {
		rf_warnx("%s: path too long", path);
		return RF_EXIT_USAGE;
	}
	if ((rc = rf_key_generate(path, pub, &e)) < 0)
		return rf_fail(rc, &e);
	snprintf(pem, sizeof pem, "-----BEGIN PUBLIC KEY-----\n%s\n"
	    "-----END PUBLIC KEY-----\n", pub);
	if ((rc = rf_write_file(pp, pem, strlen(pem), &e)) < 0) {
		/* No key without its public half: the next keygen makes both. */
		unlink(path);
		return rf_fail(rc, &e);
	}
	printf("%s\n", pub);
	if (!quiet)
		rf_warnx("wrote %s (private, mode 600) and %s; a trusted-signers "
		    "line for it:\n    %s committer %s", path, pp, who(), pub);
	return RF_EXIT_OK;
}

/* ---- main --------------------------------------------------------------- */

enum { OPT_JSON = RF_OPT_PROGRAM, OPT_KEEP, OPT_NAME, OPT_UNSIGNED,
	OPT_ALLOW_BREAKING, OPT_REPORT };

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "allow-breaking", required_argument, NULL, OPT_ALLOW_BREAKING },
		{ "delete", required_argument, NULL, 'd' },
		{ "expect", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "key", required_argument, NULL, 'k' },
		{ "message", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "no-publish", no_argument, NULL, 'n' },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "trusted", required_argument, NULL, 't' },
		{ "unsigned", no_argument, NULL, OPT_UNSIGNED },
		{ "update", no_argument, NULL, 'u' },
		{ "version", no_argument, NULL, 'V' },
		RF_RUN_FIGURE_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char *cmds[] = { "publish", "rollback", "log", "show",
	    "gc", "keygen", "compat", "policy", "approve", NULL };
	const char *cmd = "commit";
	bool progress = false;
	int ch, rc, status;

	char prog[] = "refill-commit";

	rf_run_init(&run, "refill-commit");
	if (argc > 1)
		for (int i = 0; cmds[i] != NULL; i++)
			if (strcmp(argv[1], cmds[i]) == 0) {
				cmd = cmds[i];
				argv++;
				argc--;
				break;
			}
	/* getopt_long's messages name argv[0]: the program, not a command. */
	argv[0] = prog;
	while ((ch = getopt_long(argc, argv, "d:e:hk:m:nqt:uV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_ALLOW_BREAKING:
			allow_breaking = optarg;
			break;
		case 'd': {
			char **n = realloc(deletes, (ndeletes + 1) * sizeof *n);
			rf_err e;
			if (n == NULL)
				return RF_EXIT_IO;
			deletes = n;
			if (rf_check_name(optarg, &e) < 0) {
				rf_warnx("--delete %s", e.msg);
				return RF_EXIT_USAGE;
			}
			deletes[ndeletes++] = optarg;
			break;
		}
		case 'e':
			if (strcmp(optarg, "none") == 0 || strcmp(optarg, "0") == 0)
				expect = 0;
			else if (parse_version(optarg, &expect) < 0)
				return RF_EXIT_USAGE;
			expect_set = true;
			break;
		case 'h':
			usage(RF_EXIT_OK);
		case OPT_JSON:
			json = true;
			break;
		case OPT_KEEP:
			if (rf_parse_uint(optarg, 0, RF_VERSION_MAX, &keep) < 0) {
				rf_warnx("--keep %s: not a count", optarg);
				return RF_EXIT_USAGE;
			}
			keep_set = true;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'm':
			message = optarg;
			break;
		case OPT_NAME:
			dsname = optarg;
			break;
		case 'n':
			nopublish = true;
			break;
		case OPT_REPORT: {
			char **n = realloc(reports, (nreports + 1) * sizeof *n);
			if (n == NULL)
				return RF_EXIT_IO;
			reports = n;
			reports[nreports++] = optarg;
			break;
		}
		case 'q':
			/* No summary; and no progress, unless --progress follows. */
			quiet = true;
			rf_run_opt(&run, ch, optarg);
			break;
		case RF_OPT_PROGRESS:
			progress = true;
			rf_run_opt(&run, ch, optarg);
			break;
		case 't':
			trustfile = optarg;
			break;
		case OPT_UNSIGNED:
			unsigned_ok = true;
			break;
		case 'u':
			update = true;
			break;
		case 'V':
			return rf_print_version();
		default:
			if ((rc = rf_run_opt(&run, ch, optarg)) < 0)
				return RF_EXIT_USAGE;
			if (rc == 0)
				usage(RF_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;

	bool commit = strcmp(cmd, "commit") == 0;
	bool writer = commit || strcmp(cmd, "publish") == 0 ||
	    strcmp(cmd, "rollback") == 0 || strcmp(cmd, "gc") == 0 ||
	    strcmp(cmd, "compat") == 0 || strcmp(cmd, "policy") == 0 ||
	    strcmp(cmd, "approve") == 0;
	if (progress && !commit) {
		rf_warnx("--progress applies to a commit only");
		usage(RF_EXIT_USAGE);
	}
	if ((run.stats_path != NULL || run.metrics_path != NULL) &&
	    (!writer || strcmp(cmd, "compat") == 0 ||
	    strcmp(cmd, "policy") == 0 || strcmp(cmd, "approve") == 0)) {
		rf_warnx("--stats and --metrics apply to commit, publish, "
		    "rollback and gc");
		usage(RF_EXIT_USAGE);
	}
	/* The others read no records: there is no progress to show. */
	run.command = cmd;
	if (!commit)
		run.progress = -1;
	if (!commit && (update || nopublish || ndeletes > 0 || dsname ||
	    allow_breaking)) {
		rf_warnx("-u, -n, -d, --name and --allow-breaking apply to a "
		    "commit only");
		usage(RF_EXIT_USAGE);
	}
	if (nreports > 0 && strcmp(cmd, "publish") != 0 &&
	    strcmp(cmd, "rollback") != 0) {
		rf_warnx("--report applies to publish and rollback only");
		usage(RF_EXIT_USAGE);
	}
	if (ndeletes > 0 && !update) {
		rf_warnx("--delete needs --update");
		usage(RF_EXIT_USAGE);
	}
	if (keep_set != (strcmp(cmd, "gc") == 0)) {
		rf_warnx(keep_set ? "--keep applies to gc only" :
		    "gc needs --keep N");
		usage(RF_EXIT_USAGE);
	}
	if (json && strcmp(cmd, "log") != 0 && strcmp(cmd, "show") != 0) {
		rf_warnx("--json applies to log and show only");
		usage(RF_EXIT_USAGE);
	}
	/* Text that goes into the signed log must be UTF-8 (JSON). */
	const char *texts[] = { message, dsname, getenv("REFILL_USER"),
	    allow_breaking };
	const char *tnames[] = { "-m", "--name", "REFILL_USER",
	    "--allow-breaking" };
	for (int i = 0; i < 4; i++)
		if (texts[i] != NULL && !rf_utf8_valid(texts[i], strlen(texts[i]))) {
			rf_warnx("%s: not UTF-8", tnames[i]);
			return RF_EXIT_USAGE;
		}
	rf_cleanup_install();
	if (commit) {
		if (argc != 2)
			usage(RF_EXIT_USAGE);
		if (message == NULL) {
			rf_warnx("a commit needs a message: -m MESSAGE");
			usage(RF_EXIT_USAGE);
		}
		if ((status = load_keys(true, argv[0])) == RF_EXIT_OK &&
		    (status = rf_run_start(&run, 0, NULL)) == RF_EXIT_OK)
			status = cmd_commit(argv[0], argv[1]);
	} else if (strcmp(cmd, "publish") == 0 || strcmp(cmd, "rollback") == 0) {
		bool rb = cmd[0] == 'r';
		if (argc != 2 && !(rb && argc == 1))
			usage(RF_EXIT_USAGE);
		if ((status = load_keys(true, argv[0])) == RF_EXIT_OK &&
		    (status = rf_run_start(&run, 0, NULL)) == RF_EXIT_OK)
			status = cmd_switch(rb, argv[0], argc == 2 ? argv[1] : NULL);
	} else if (strcmp(cmd, "log") == 0 || strcmp(cmd, "show") == 0) {
		if (argc != 1)
			usage(RF_EXIT_USAGE);
		if ((status = load_keys(false, argv[0])) == RF_EXIT_OK)
			status = cmd[0] == 'l' ? cmd_log(argv[0]) :
			    cmd_show(argv[0]);
	} else if (strcmp(cmd, "compat") == 0) {
		if (argc != 2)
			usage(RF_EXIT_USAGE);
		if ((status = load_keys(true, argv[0])) == RF_EXIT_OK)
			status = cmd_compat(argv[0], argv[1]);
	} else if (strcmp(cmd, "approve") == 0) {
		if (argc != 2)
			usage(RF_EXIT_USAGE);
		if ((status = load_keys(true, argv[0])) == RF_EXIT_OK)
			status = cmd_approve(argv[0], argv[1]);
	} else if (strcmp(cmd, "policy") == 0) {
		if (argc != 1 && argc != 2)
			usage(RF_EXIT_USAGE);
		if ((status = load_keys(argc == 2, argv[0])) == RF_EXIT_OK)
			status = cmd_policy(argv[0], argc == 2 ? argv[1] : NULL);
	} else if (strcmp(cmd, "gc") == 0) {
		if (argc != 1)
			usage(RF_EXIT_USAGE);
		if ((status = load_keys(true, argv[0])) == RF_EXIT_OK &&
		    (status = rf_run_start(&run, 0, NULL)) == RF_EXIT_OK)
			status = cmd_gc(argv[0]);
	} else {
		if (argc != 1)
			usage(RF_EXIT_USAGE);
		status = cmd_keygen(argv[0]);
	}
	for (size_t i = 0; i < nstg; i++) {
		free(stg[i].name);
		free(stg[i].src);
	}
	free(stg);
	free(deletes);
	free(reports);
	rf_policy_free(&policy);
	rf_key_free(key);
	if (have_trusted)
		rf_trusted_free(&trusted);
	int cs = rf_close_stdout();
	return status != RF_EXIT_OK ? status : cs;
}
