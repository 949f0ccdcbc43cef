/*
 * Shared by the libFuzzer targets in fuzz/.  A target checks properties
 * of what the library returns, beyond not crashing; a violated property
 * is reported like a crash, so that libFuzzer keeps the input.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refill.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_ASSERT(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property violated: %s: ",	\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/*
 * Splits data at the first occurrence of sep: the part before it in
 * *a, *an and the part after in *b, *bn.  Without sep, all is a.
 */
static inline void
fuzz_split(const char *data, size_t size, const char *sep, const char **a,
    size_t *an, const char **b, size_t *bn)
{
	size_t sl = strlen(sep);

	*a = data;
	*an = size;
	*b = data + size;
	*bn = 0;
	for (size_t i = 0; i + sl <= size; i++)
		if (memcmp(data + i, sep, sl) == 0) {
			*an = i;
			*b = data + i + sl;
			*bn = size - i - sl;
			return;
		}
}

/* p[0..*n) without the JSON whitespace around it. */
static inline const char *
fuzz_trim(const char *p, size_t *n)
{
	while (*n > 0 && memchr(" \t\r\n", p[0], 4) != NULL) {
		p++;
		(*n)--;
	}
	while (*n > 0 && memchr(" \t\r\n", p[*n - 1], 4) != NULL)
		(*n)--;
	return p;
}

/*
 * Writes data to a new file at path, replacing what was there.  Not by
 * truncating it: ext4 flushes a file truncated to nothing when it is
 * closed, which made a run take milliseconds.
 */
static inline void
fuzz_put(const char *path, const unsigned char *data, size_t size)
{
	rf_err e;
	int fd;

	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    rf_write_all(fd, data, size, &e, path) < 0 || close(fd) < 0) {
		perror(path);
		abort();
	}
}

/*
 * Makes path a new empty file named TMPDIR/refill-fuzz-NAME.XXXXXX, for a
 * target whose library function reads only from files, and removes it at
 * exit.  path must hold 4200 bytes and live until then.
 */
static char *fuzz_tmpfile_path;

static inline void
fuzz_tmpfile_cleanup(void)
{
	unlink(fuzz_tmpfile_path);
}

static inline void
fuzz_tmpfile(char *path, size_t size, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	snprintf(path, size, "%s/refill-fuzz-%s.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp", name);
	if ((fd = mkstemp(path)) < 0) {
		perror(path);
		exit(2);
	}
	close(fd);
	fuzz_tmpfile_path = path;
	atexit(fuzz_tmpfile_cleanup);
}

/* A NUL-terminated copy (libFuzzer's data is not), or NULL. */
static inline char *
fuzz_cstr(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

#endif
