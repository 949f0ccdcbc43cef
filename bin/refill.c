/*
 * refill: runs refill-CMD, as git runs git-CMD.  The program beside this
 * executable wins over one found in PATH, so a build tree or an install
 * prefix is used as a whole.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refill.h"

static const struct {
	const char *name, *what;
} cmds[] = {
	{ "commit", "publish a staged directory as a signed version" },
	{ "hash", "canonical digests, and the schema, of records" },
	{ "lineage", "query provenance and what must be recomputed" },
	{ "replay", "stream a committed version back out, verified" },
	{ "split", "partition records into batch files by key hash or time" },
	{ "transform", "run a derivation or migration over a batch, with provenance" },
	{ "verify", "decide whether a backfill may be published" },
};

static char dir[PATH_MAX];	/* this executable's directory, or "" */

/* True if refill-NAME is beside this executable or in PATH. */
static bool
installed(const char *name)
{
	char path[PATH_MAX + 64];
	const char *p = getenv("PATH");

	if (dir[0] != '\0') {
		snprintf(path, sizeof path, "%s/refill-%s", dir, name);
		if (access(path, X_OK) == 0)
			return true;
	}
	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, ":");
		snprintf(path, sizeof path, "%.*s/refill-%s", (int)n,
		    n ? p : ".", name);
		if (access(path, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* A name that can be a command: no path, no absurd length. */
static bool
valid(const char *cmd)
{
	if (strlen(cmd) <= 32 && strchr(cmd, '/') == NULL)
		return true;
	rf_warnx("'%s' is not a refill command; see 'refill --help'", cmd);
	return false;
}

static _Noreturn void
usage(int status)
{
	FILE *f = status == RF_EXIT_OK ? stdout : stderr;

	fprintf(f, "usage: refill [-hV] command [arg ...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "   %-10s %s%s\n", cmds[i].name, cmds[i].what,
		    installed(cmds[i].name) ? "" : " (not installed)");
	fprintf(f, "\n'refill help command' shows the manual of refill-command.\n");
	if (status == RF_EXIT_OK)
		exit(rf_close_stdout());
	exit(status);
}

/* The directory of this executable, from /proc or argv[0]. */
static void
selfdir(const char *argv0, char *buf, size_t n)
{
	ssize_t k = readlink("/proc/self/exe", buf, n - 1);
	char *slash;

	if (k > 0)
		buf[k] = '\0';
	else if (strchr(argv0, '/') != NULL)
		snprintf(buf, n, "%s", argv0);
	else {
		buf[0] = '\0';
		return;
	}
	if ((slash = strrchr(buf, '/')) != NULL)
		*slash = '\0';
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char prog[64], path[PATH_MAX + 64];
	const char *cmd;
	int ch;

	rf_setprog("refill");
	selfdir(argv[0], dir, sizeof dir);
	/* "+": options after the command belong to the command. */
	while ((ch = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(RF_EXIT_OK);
		case 'V':
			return rf_print_version();
		default:
			usage(RF_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;

	if (argc == 0)
		usage(RF_EXIT_USAGE);
	cmd = argv[0];
	if (strcmp(cmd, "help") == 0) {
		if (argc < 2)
			usage(RF_EXIT_OK);
		cmd = argv[1];
		if (!valid(cmd))
			return RF_EXIT_USAGE;
		snprintf(prog, sizeof prog, "refill-%s", cmd);
		execlp("man", "man", prog, (char *)NULL);
		rf_warnx("man: %s", strerror(errno));
		return RF_EXIT_IO;
	}
	if (!valid(cmd))
		return RF_EXIT_USAGE;
	snprintf(prog, sizeof prog, "refill-%s", cmd);
	argv[0] = prog;
	if (dir[0] != '\0') {
		/*
		 * As git does with its exec-path: a command, or a script it
		 * runs, that calls refill-* gets this installation's.
		 */
		const char *old = getenv("PATH");
		char *np = malloc(strlen(dir) + (old ? strlen(old) : 0) + 2);
		if (np != NULL) {
			sprintf(np, "%s%s%s", dir, old ? ":" : "", old ? old : "");
			setenv("PATH", np, 1);
			free(np);
		}
		snprintf(path, sizeof path, "%s/%s", dir, prog);
		execv(path, argv);
	}
	execvp(prog, argv);
	if (errno == ENOENT) {
		for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
			if (strcmp(cmds[i].name, cmd) == 0) {
				rf_warnx("%s is not installed", prog);
				return RF_EXIT_USAGE;
			}
		rf_warnx("'%s' is not a refill command; see 'refill --help'", cmd);
		return RF_EXIT_USAGE;
	}
	rf_warnx("%s: %s", prog, strerror(errno));
	return RF_EXIT_IO;
}
