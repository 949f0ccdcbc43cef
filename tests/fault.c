/*
 * Fault injection for the tests, loaded with LD_PRELOAD.  It counts the
 * calls that a program makes to
 *
 *   write fsync rename link close      (counted unless REFILL_FAULT_CALLS
 *                                        is set)
 *   read pread open unlink mkdir symlink
 *
 * through the C library's exported symbols, and acts on one of them.
 * stdio's own calls are not seen: fwrite(3) to standard output reaches
 * write(2) inside the C library, not through the symbol, and so do
 * fopen, fread, getline, fclose, mkstemp and mkdtemp.  What programs
 * print with stdio is tested with /dev/full instead; records that they
 * write to standard output with rf_out go through write(2) and are seen.
 * fdatasync, pwrite, renameat and linkat are not interposed: no program
 * calls them (strace -f -c of each).
 *
 *   REFILL_FAULT_CALLS=K,K  the kinds of call that are counted and may
 *                         fail, by name ("read,write"); those of the first
 *                         line above unless set, as before reads were.
 *   REFILL_FAULT_FAIL=N   the Nth call fails, without taking effect (close
 *                         still releases the descriptor, as on Linux), with
 *                         errno REFILL_FAULT_ERRNO: EIO (default), ENOSPC
 *                         or EINTR.
 *   REFILL_FAULT_SHORT=N  the Nth call, if it is a read, pread or write of
 *                         more than one byte, moves only half of them
 *                         (rounded down) and returns that count, as a
 *                         signal or a full disk may make it do.  "all"
 *                         makes every such call short.
 *   REFILL_FAULT_STOP=N   before the Nth call the process stops itself with
 *                         SIGSTOP, so that a test can kill -9 it there.
 *   REFILL_FAULT_COUNT=F  at exit, the number of calls is written to F.
 *   REFILL_FAULT_LOG=F    each counted call appends "N NAME" to F, so that a
 *                         failing test can say which call it broke.
 *
 * Only the process that loaded the library counts: it takes itself out of
 * LD_PRELOAD at start, so the commands that refill-transform runs are
 * left alone, and a child between fork and exec passes every call on.
 *
 * The counter is shared by all threads; which call is the Nth can vary
 * between runs when threads race, but every N from 1 to the count is a
 * call of the run.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

enum kind { READ, PREAD, WRITE, FSYNC, RENAME, LINK, CLOSE, OPEN, UNLINK,
	MKDIR, SYMLINK, NKIND };
static const char *const names[NKIND] = { "read", "pread", "write", "fsync",
	"rename", "link", "close", "open", "unlink", "mkdir", "symlink" };

static atomic_ulong calls;
static unsigned long fail_at, short_at, stop_at;
static bool short_all;
static bool counted[NKIND] = { [WRITE] = true, [FSYNC] = true,
	[RENAME] = true, [LINK] = true, [CLOSE] = true };
static int fail_errno = EIO;
static pid_t self;
static const char *count_file, *log_file;

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_link)(const char *, const char *);
static int (*real_close)(int);
static int (*real_open)(const char *, int, ...);
static int (*real_unlink)(const char *);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_symlink)(const char *, const char *);

/* Appends a line with raw system calls: none of them is counted. */
static void
append(const char *file, const char *line)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, file,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		return;
	syscall(SYS_write, fd, line, strlen(line));
	syscall(SYS_close, fd);
}

static void *
sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		static const char msg[] = "fault.so: a symbol is missing\n";
		syscall(SYS_write, 2, msg, sizeof msg - 1);
		_exit(99);
	}
	return p;
}

__attribute__((constructor)) static void
init(void)
{
	const char *v;

	real_read = (ssize_t (*)(int, void *, size_t))sym("read");
	real_pread = (ssize_t (*)(int, void *, size_t, off_t))sym("pread");
	real_write = (ssize_t (*)(int, const void *, size_t))sym("write");
	real_fsync = (int (*)(int))sym("fsync");
	real_rename = (int (*)(const char *, const char *))sym("rename");
	real_link = (int (*)(const char *, const char *))sym("link");
	real_close = (int (*)(int))sym("close");
	real_open = (int (*)(const char *, int, ...))sym("open");
	real_unlink = (int (*)(const char *))sym("unlink");
	real_mkdir = (int (*)(const char *, mode_t))sym("mkdir");
	real_symlink = (int (*)(const char *, const char *))sym("symlink");
	self = getpid();
	/* The commands a program runs are not under test. */
	unsetenv("LD_PRELOAD");
	if ((v = getenv("REFILL_FAULT_CALLS")) != NULL) {
		char *list = strdup(v), *s, *tok;
		memset(counted, 0, sizeof counted);
		for (s = list; s != NULL && (tok = strsep(&s, ",")) != NULL;)
			for (int k = 0; k < NKIND; k++)
				if (strcmp(tok, names[k]) == 0)
					counted[k] = true;
		free(list);
	}
	if ((v = getenv("REFILL_FAULT_FAIL")) != NULL)
		fail_at = strtoul(v, NULL, 10);
	if ((v = getenv("REFILL_FAULT_SHORT")) != NULL) {
		if (strcmp(v, "all") == 0)
			short_all = true;
		else
			short_at = strtoul(v, NULL, 10);
	}
	if ((v = getenv("REFILL_FAULT_STOP")) != NULL)
		stop_at = strtoul(v, NULL, 10);
	if ((v = getenv("REFILL_FAULT_ERRNO")) != NULL)
		fail_errno = strcmp(v, "ENOSPC") == 0 ? ENOSPC :
		    strcmp(v, "EINTR") == 0 ? EINTR : EIO;
	count_file = getenv("REFILL_FAULT_COUNT");
	log_file = getenv("REFILL_FAULT_LOG");
}

__attribute__((destructor)) static void
fini(void)
{
	char line[32];

	if (count_file == NULL || getpid() != self)
		return;
	snprintf(line, sizeof line, "%lu\n", (unsigned long)calls);
	append(count_file, line);
}

enum { PASS, FAIL, SHORT };

/* Counts a call: what to do with it. */
static int
fault(enum kind k)
{
	unsigned long n;

	/* A child between fork and exec is not the program under test. */
	if (!counted[k] || getpid() != self)
		return PASS;
	n = atomic_fetch_add(&calls, 1) + 1;
	if (log_file != NULL) {
		char line[64];
		snprintf(line, sizeof line, "%lu %s\n", n, names[k]);
		append(log_file, line);
	}
	if (n == stop_at)
		raise(SIGSTOP);
	if (n == fail_at)
		return FAIL;
	if (n == short_at || short_all)
		return SHORT;
	return PASS;
}

/* A short transfer moves half of n bytes, and at least one. */
static size_t
shorten(int f, size_t n)
{
	return f == SHORT && n > 1 ? n / 2 : n;
}

ssize_t
read(int fd, void *p, size_t n)
{
	int f = fault(READ);

	if (f == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_read(fd, p, shorten(f, n));
}

ssize_t
pread(int fd, void *p, size_t n, off_t off)
{
	int f = fault(PREAD);

	if (f == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_pread(fd, p, shorten(f, n), off);
}

ssize_t
write(int fd, const void *p, size_t n)
{
	int f = fault(WRITE);

	if (f == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_write(fd, p, shorten(f, n));
}

int
fsync(int fd)
{
	if (fault(FSYNC) == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_fsync(fd);
}

int
rename(const char *from, const char *to)
{
	if (fault(RENAME) == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_rename(from, to);
}

int
link(const char *from, const char *to)
{
	if (fault(LINK) == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_link(from, to);
}

int
close(int fd)
{
	int f = fault(CLOSE);
	int rc = real_close(fd);

	if (f == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return rc;
}

int
open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (fault(OPEN) == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_open(path, flags, mode);
}

int
unlink(const char *path)
{
	if (fault(UNLINK) == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_unlink(path);
}

int
mkdir(const char *path, mode_t mode)
{
	if (fault(MKDIR) == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_mkdir(path, mode);
}

int
symlink(const char *target, const char *path)
{
	if (fault(SYMLINK) == FAIL) {
		errno = fail_errno;
		return -1;
	}
	return real_symlink(target, path);
}
