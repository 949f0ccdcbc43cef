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
	{ "commit", "publish a staged directory as a signed dataset version" },
	{ "hash", "canonical digests per record, file and dataset" },
	{ "lineage", "query provenance: inputs, dependants, what to recompute" },
	{ "replay", "stream a committed dataset version back out, verified" },
	{ "split", "partition records into batch files by key hash or time" },
	{ "transform", "run a derivation over a batch with a provenance stamp" },
	{ "verify", "compare old and new output keyed by primary key" },
};

static _Noreturn void
usage(int status)
{
	FILE *f = status == RF_EXIT_OK ? stdout : stderr;

	fprintf(f, "usage: refill [-hV] command [arg ...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "   %-10s %s\n", cmds[i].name, cmds[i].what);
	fprintf(f, "\n'refill help command' shows the manual of refill-command.\n");
	if (status == RF_EXIT_OK)
		exit(rf_close_stdout());
	exit(status);
}

/* The directory of this executable, from /proc or argv[0]. */
static void
selfdir(const char *argv0, char *dir, size_t n)
{
	ssize_t k = readlink("/proc/self/exe", dir, n - 1);
	char *slash;

	if (k > 0)
		dir[k] = '\0';
	else if (strchr(argv0, '/') != NULL)
		snprintf(dir, n, "%s", argv0);
	else {
		dir[0] = '\0';
		return;
	}
	if ((slash = strrchr(dir, '/')) != NULL)
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
	char dir[PATH_MAX], prog[64], path[PATH_MAX + 64];
	const char *cmd;
	int ch;

	rf_setprog("refill");
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
	selfdir(argv[0], dir, sizeof dir);
	argc -= optind;
	argv += optind;

	if (argc == 0)
		usage(RF_EXIT_USAGE);
	cmd = argv[0];
	if (strcmp(cmd, "help") == 0) {
		if (argc < 2)
			usage(RF_EXIT_OK);
		snprintf(prog, sizeof prog, "refill-%s", argv[1]);
		execlp("man", "man", prog, (char *)NULL);
		rf_warnx("man: %s", strerror(errno));
		return RF_EXIT_IO;
	}
	if (strlen(cmd) > 32 || strchr(cmd, '/') != NULL) {
		rf_warnx("'%s' is not a refill command; see 'refill --help'", cmd);
		return RF_EXIT_USAGE;
	}
	snprintf(prog, sizeof prog, "refill-%s", cmd);
	argv[0] = prog;
	if (dir[0] != '\0') {
		snprintf(path, sizeof path, "%s/%s", dir, prog);
		execv(path, argv);
	}
	execvp(prog, argv);
	if (errno == ENOENT) {
		rf_warnx("'%s' is not a refill command; see 'refill --help'", cmd);
		return RF_EXIT_USAGE;
	}
	rf_warnx("%s: %s", prog, strerror(errno));
	return RF_EXIT_IO;
}
