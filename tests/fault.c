/*
 * Fault injection for the tests, loaded with LD_PRELOAD.  It counts the
 * calls to write, fsync, rename, link and close that a program makes
 * (through the C library's exported symbols: stdio's internal calls are
 * not seen) and acts on one of them:
 *
 *   REFILL_FAULT_FAIL=N   the Nth call fails, without taking effect (close
 *                         still releases the descriptor, as on Linux), with
 *                         errno REFILL_FAULT_ERRNO: EIO (default) or ENOSPC.
 *   REFILL_FAULT_STOP=N   before the Nth call the process stops itself with
 *                         SIGSTOP, so that a test can kill -9 it there.
 *   REFILL_FAULT_COUNT=F  at exit, the number of calls is written to F.
 *   REFILL_FAULT_LOG=F    each counted call appends "N NAME" to F, so that a
 *                         failing test can say which call it broke.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_ulong calls;
static unsigned long fail_at, stop_at;
static int fail_errno = EIO;
static const char *count_file, *log_file;

static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_link)(const char *, const char *);
static int (*real_close)(int);

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

__attribute__((constructor)) static void
init(void)
{
	const char *v;

	real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT,
	    "write");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT,
	    "rename");
	real_link = (int (*)(const char *, const char *))dlsym(RTLD_NEXT,
	    "link");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	if ((v = getenv("REFILL_FAULT_FAIL")) != NULL)
		fail_at = strtoul(v, NULL, 10);
	if ((v = getenv("REFILL_FAULT_STOP")) != NULL)
		stop_at = strtoul(v, NULL, 10);
	if ((v = getenv("REFILL_FAULT_ERRNO")) != NULL)
		fail_errno = strcmp(v, "ENOSPC") == 0 ? ENOSPC : EIO;
	count_file = getenv("REFILL_FAULT_COUNT");
	log_file = getenv("REFILL_FAULT_LOG");
}

__attribute__((destructor)) static void
fini(void)
{
	char line[32];

	if (count_file == NULL)
		return;
	snprintf(line, sizeof line, "%lu\n", (unsigned long)calls);
	append(count_file, line);
}

/* Counts a call; true if it is to fail. */
static int
fault(const char *name)
{
	unsigned long n = atomic_fetch_add(&calls, 1) + 1;

	if (log_file != NULL) {
		char line[64];
		snprintf(line, sizeof line, "%lu %s\n", n, name);
		append(log_file, line);
	}
	if (n == stop_at)
		raise(SIGSTOP);
	return n == fail_at;
}

ssize_t
write(int fd, const void *p, size_t n)
{
	if (fault("write")) {
		errno = fail_errno;
		return -1;
	}
	return real_write(fd, p, n);
}

int
fsync(int fd)
{
	if (fault("fsync")) {
		errno = fail_errno;
		return -1;
	}
	return real_fsync(fd);
}

int
rename(const char *from, const char *to)
{
	if (fault("rename")) {
		errno = fail_errno;
		return -1;
	}
	return real_rename(from, to);
}

int
link(const char *from, const char *to)
{
	if (fault("link")) {
		errno = fail_errno;
		return -1;
	}
	return real_link(from, to);
}

int
close(int fd)
{
	int f = fault("close");
	int rc = real_close(fd);

	if (f) {
		errno = fail_errno;
		return -1;
	}
	return rc;
}
