/*
 * Output: buffered, optionally gzip, optionally hashed, and for files
 * created atomically: a temporary name in the same directory, fsync,
 * rename, fsync of the directory.  A failed or interrupted run leaves
 * nothing at the final name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "refill.h"

#define OBUF ((size_t)256 << 10)

struct rf_out {
	int fd;
	bool own;			/* created by us: fsync, rename */
	bool finished;			/* rf_out_finish has run */
	bool closefd;			/* a device or FIFO opened by us */
	char *name, *tmp;
	bool gz;
	z_stream zs;
	unsigned char *buf;
	size_t len;
	rf_sha256 *sha;
	unsigned char digest[RF_SHA256_LEN];
	uint64_t bytes;
};

/* ---- cleanup on signals ---------------------------------------------- */

#define NCLEAN 64
static struct {
	char *path;
	bool dir;
} cleanup[NCLEAN];

int
rf_cleanup_add(const char *path, bool is_dir)
{
	for (int i = 0; i < NCLEAN; i++)
		if (cleanup[i].path == NULL) {
			char *p = strdup(path);
			if (p == NULL)
				return RF_ENOMEM;
			cleanup[i].dir = is_dir;
			cleanup[i].path = p;
			return 0;
		}
	return 0;
}

void
rf_cleanup_remove(const char *path)
{
	for (int i = 0; i < NCLEAN; i++)
		if (cleanup[i].path != NULL && strcmp(cleanup[i].path, path) == 0) {
			char *p = cleanup[i].path;
			cleanup[i].path = NULL;
			free(p);
			return;
		}
}

static void (*hook)(void);

void
rf_cleanup_hook(void (*fn)(void))
{
	hook = fn;
}

/*
 * Only async-signal-safe calls here: the hook unlinks the files the
 * program knows it created, then registered files and (by then empty)
 * directories go.
 */
static void
on_signal(int sig)
{
	if (hook != NULL)
		hook();
	for (int i = 0; i < NCLEAN; i++) {
		if (cleanup[i].path == NULL)
			continue;
		if (cleanup[i].dir)
			rmdir(cleanup[i].path);
		else
			unlink(cleanup[i].path);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void
rf_cleanup_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction old;
		/* An ignored signal stays ignored: nohup must keep working. */
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

/* ---- writing ------------------------------------------------------------ */

int
rf_write_all(int fd, const void *p, size_t n, rf_err *e, const char *name)
{
	const char *c = p;

	while (n > 0) {
		ssize_t k = write(fd, c, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return rf_seterr(e, RF_EIO, "%s: %s", name, strerror(errno));
		}
		c += k;
		n -= k;
	}
	return 0;
}

static int
copy_file(const char *src, const char *dst, rf_err *e)
{
	char buf[1 << 16];
	int in, out, rc = 0;

	if ((in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", src, strerror(errno));
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0) {
		close(in);
		return rf_seterr(e, RF_EIO, "%s: %s", dst, strerror(errno));
	}
	for (;;) {
		ssize_t k = read(in, buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			rc = rf_seterr(e, RF_EIO, "%s: %s", src, strerror(errno));
		if (k <= 0)
			break;
		if ((rc = rf_write_all(out, buf, k, e, dst)) < 0)
			break;
	}
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = rf_seterr(e, RF_EIO, "%s: %s", dst, strerror(errno));
	if (rc < 0)
		unlink(dst);
	return rc;
}

int
rf_link_or_copy(const char *src, const char *dst, rf_err *e)
{
	struct stat st;

	/* link(2) may follow a symbolic link, and we will not. */
	if (lstat(src, &st) < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", src, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rf_seterr(e, RF_EIO, "%s: not a regular file", src);
	if (link(src, dst) == 0)
		return 0;
	if (errno != EXDEV && errno != EPERM && errno != EMLINK &&
	    errno != ENOTSUP)
		return rf_seterr(e, RF_EIO, "%s: %s", dst, strerror(errno));
	int rc = copy_file(src, dst, e);
	return rc < 0 ? rc : 1;
}

int
rf_fsync_dir(const char *dir, rf_err *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return rf_seterr(e, RF_EIO, "%s: %s", dir, strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL) {
		int rc = rf_seterr(e, RF_EIO, "%s: fsync: %s", dir, strerror(errno));
		close(fd);
		return rc;
	}
	close(fd);
	return 0;
}

static int
init(rf_out *o, int gzip_level, rf_err *e)
{
	if ((o->buf = malloc(OBUF)) == NULL || (o->sha = rf_sha256_new()) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	if (gzip_level >= 0) {
		if (deflateInit2(&o->zs, gzip_level, Z_DEFLATED, 16 + MAX_WBITS, 8,
		    Z_DEFAULT_STRATEGY) != Z_OK)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		o->gz = true;
	}
	return 0;
}

static void
freeout(rf_out *o)
{
	if (o->gz)
		deflateEnd(&o->zs);
	rf_sha256_free(o->sha);
	free(o->buf);
	free(o->name);
	free(o->tmp);
	free(o);
}

int
rf_out_stdfd(const char *path)
{
	uint64_t fd;

	if (strcmp(path, "/dev/stdout") == 0)
		return STDOUT_FILENO;
	if (strcmp(path, "/dev/stderr") == 0)
		return STDERR_FILENO;
	if (strncmp(path, "/dev/fd/", 8) == 0 &&
	    rf_parse_uint(path + 8, 0, INT_MAX, &fd) == 0)
		return (int)fd;
	return -1;
}

int
rf_out_check(const char *path, rf_err *e)
{
	struct stat st;

	if (rf_out_stdfd(path) >= 0 || lstat(path, &st) < 0)
		return 0;
	/*
	 * Replacing a link would break it; writing through it is how a
	 * planted link in a shared directory redirects a write.
	 */
	if (S_ISLNK(st.st_mode))
		return rf_seterr(e, RF_EUSAGE, "%s: is a symbolic link; give "
		    "the path of the file itself", path);
	if (S_ISDIR(st.st_mode))
		return rf_seterr(e, RF_EUSAGE, "%s: %s", path, strerror(EISDIR));
	return 0;
}

int
rf_out_create(const char *path, int gzip_level, rf_out **out, rf_err *e)
{
	rf_out *o;
	size_t n = strlen(path);
	struct stat st;
	bool inplace = true;
	int fd, rc;

	if ((rc = rf_out_check(path, e)) < 0)
		return rc;
	/*
	 * Written in place: /dev/stdout and the like through the descriptor
	 * the program was given, sharing its offset (reopening would write
	 * over what was printed before); a device or a FIFO, which a rename
	 * would replace.
	 */
	if ((fd = rf_out_stdfd(path)) >= 0)
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	else if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		fd = open(path, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
	else
		inplace = false;
	if (inplace) {
		if (fd < 0)
			return rf_seterr(e, RF_EIO, "%s: %s", path,
			    strerror(errno));
		if ((rc = rf_out_fd(fd, path, gzip_level, out, e)) < 0)
			close(fd);
		else
			(*out)->closefd = true;
		return rc;
	}
	o = calloc(1, sizeof *o);

	if (o == NULL || (o->name = strdup(path)) == NULL ||
	    (o->tmp = malloc(n + 16)) == NULL) {
		if (o != NULL)
			free(o->name);
		free(o);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	/* The temporary name stays in path's directory so rename is atomic. */
	snprintf(o->tmp, n + 16, "%s.tmp.XXXXXX", path);
	o->own = true;
	if ((o->fd = mkstemp(o->tmp)) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
		freeout(o);
		return rc;
	}
	/* A command that a program runs must not inherit it. */
	fcntl(o->fd, F_SETFD, FD_CLOEXEC);
	/* mkstemp makes 0600; a published file gets the usual mode. */
	mode_t um = umask(022);
	umask(um);
	fchmod(o->fd, 0666 & ~um);
	rf_cleanup_add(o->tmp, false);
	if ((rc = init(o, gzip_level, e)) < 0) {
		rf_out_abort(o);
		return rc;
	}
	*out = o;
	return 0;
}

int
rf_out_fd(int fd, const char *name, int gzip_level, rf_out **out, rf_err *e)
{
	rf_out *o = calloc(1, sizeof *o);
	int rc;

	if (o == NULL || (o->name = strdup(name)) == NULL) {
		free(o);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	o->fd = fd;
	if ((rc = init(o, gzip_level, e)) < 0) {
		freeout(o);
		return rc;
	}
	*out = o;
	return 0;
}

static int
flushbuf(rf_out *o, rf_err *e)
{
	int rc;

	if (o->len == 0)
		return 0;
	if ((rc = rf_write_all(o->fd, o->buf, o->len, e, o->name)) < 0)
		return rc;
	rf_sha256_update(o->sha, o->buf, o->len);
	o->bytes += o->len;
	o->len = 0;
	return 0;
}

static int
deflate_some(rf_out *o, const void *p, size_t n, int flush, rf_err *e)
{
	int zr, rc;

	o->zs.next_in = (unsigned char *)p;
	o->zs.avail_in = n;
	do {
		o->zs.next_out = o->buf + o->len;
		o->zs.avail_out = OBUF - o->len;
		zr = deflate(&o->zs, flush);
		o->len = OBUF - o->zs.avail_out;
		if (zr == Z_STREAM_ERROR)
			return rf_seterr(e, RF_EIO, "%s: deflate failed", o->name);
		if (o->len == OBUF && (rc = flushbuf(o, e)) < 0)
			return rc;
	} while (o->zs.avail_in > 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

int
rf_out_write(rf_out *o, const void *p, size_t n, rf_err *e)
{
	int rc;

	if (o->gz)
		return deflate_some(o, p, n, Z_NO_FLUSH, e);
	if (n > OBUF - o->len) {
		if ((rc = flushbuf(o, e)) < 0)
			return rc;
		if (n >= OBUF) {
			if ((rc = rf_write_all(o->fd, p, n, e, o->name)) < 0)
				return rc;
			rf_sha256_update(o->sha, p, n);
			o->bytes += n;
			return 0;
		}
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return 0;
}

int
rf_out_finish(rf_out *o, rf_err *e)
{
	int rc = 0;

	if (o->finished)
		return 0;
	o->finished = true;
	if (o->gz)
		rc = deflate_some(o, "", 0, Z_FINISH, e);
	if (rc == 0)
		rc = flushbuf(o, e);
	rf_sha256_final(o->sha, o->digest);
	if (o->closefd) {
		if (close(o->fd) < 0 && rc == 0)
			rc = rf_seterr(e, RF_EIO, "%s: %s", o->name,
			    strerror(errno));
		o->fd = -1;
	}
	if (!o->own)
		return rc;
	if (rc == 0 && fsync(o->fd) < 0)
		rc = rf_seterr(e, RF_EIO, "%s: fsync: %s", o->name, strerror(errno));
	if (close(o->fd) < 0 && rc == 0)
		rc = rf_seterr(e, RF_EIO, "%s: close: %s", o->name, strerror(errno));
	o->fd = -1;
	if (rc < 0) {
		unlink(o->tmp);
		rf_cleanup_remove(o->tmp);
	}
	return rc;
}

int
rf_out_commit(rf_out *o, rf_err *e)
{
	int rc;

	if ((rc = rf_out_finish(o, e)) < 0 || !o->own)
		return rc;
	if (rename(o->tmp, o->name) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: rename: %s", o->name, strerror(errno));
		unlink(o->tmp);
		rf_cleanup_remove(o->tmp);
		return rc;
	}
	rf_cleanup_remove(o->tmp);
	char *d = strdup(o->name);
	if (d == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	rc = rf_fsync_dir(dirname(d), e);
	free(d);
	return rc;
}

void
rf_out_abort(rf_out *o)
{
	if (o == NULL)
		return;
	if (o->own) {
		if (o->fd >= 0)
			close(o->fd);
		unlink(o->tmp);
		rf_cleanup_remove(o->tmp);
	} else if (o->closefd)
		close(o->fd);
	freeout(o);
}

int
rf_out_prepare(const char *path, const void *p, size_t n, rf_out **out,
    rf_err *e)
{
	int rc;

	if ((rc = rf_out_create(path, -1, out, e)) < 0)
		return rc;
	if ((rc = rf_out_write(*out, p, n, e)) < 0 ||
	    (rc = rf_out_finish(*out, e)) < 0) {
		rf_out_abort(*out);
		*out = NULL;
	}
	return rc;
}

int
rf_write_file(const char *path, const void *p, size_t n, rf_err *e)
{
	rf_out *o;
	int rc;

	if ((rc = rf_out_prepare(path, p, n, &o, e)) < 0)
		return rc;
	rc = rf_out_commit(o, e);
	rf_out_free(o);
	return rc;
}

void
rf_out_free(rf_out *o)
{
	if (o != NULL)
		freeout(o);
}

void
rf_out_sha256(const rf_out *o, unsigned char out[RF_SHA256_LEN])
{
	memcpy(out, o->digest, RF_SHA256_LEN);
}

uint64_t
rf_out_bytes(const rf_out *o)
{
	return o->bytes;
}

int
rf_gzip_member(const void *src, size_t n, int level, rf_buf *dst, rf_err *e)
{
	z_stream zs;
	int zr;

	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	uLong bound = deflateBound(&zs, n);
	if (rf_buf_reserve(dst, bound) < 0) {
		deflateEnd(&zs);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	zs.next_in = (unsigned char *)src;
	zs.avail_in = n;
	zs.next_out = (unsigned char *)dst->p + dst->len;
	zs.avail_out = bound;
	zr = deflate(&zs, Z_FINISH);
	dst->len += bound - zs.avail_out;
	deflateEnd(&zs);
	if (zr != Z_STREAM_END)
		return rf_seterr(e, RF_EIO, "deflate failed");
	return 0;
}

int
rf_rmtree(const char *path, rf_err *e)
{
	DIR *d;
	struct dirent *de;
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc = 0;

	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	}
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, de->d_name, 0) == 0)
			continue;
		if (errno == EISDIR || errno == EPERM) {
			size_t n = strlen(path) + strlen(de->d_name) + 2;
			char *sub = malloc(n);
			if (sub == NULL) {
				rc = rf_seterr(e, RF_ENOMEM, "out of memory");
				break;
			}
			snprintf(sub, n, "%s/%s", path, de->d_name);
			rc = rf_rmtree(sub, e);
			free(sub);
			if (rc < 0)
				break;
		} else {
			rc = rf_seterr(e, RF_EIO, "%s/%s: %s", path, de->d_name,
			    strerror(errno));
			break;
		}
	}
	closedir(d);
	if (rc == 0 && rmdir(path) < 0)
		rc = rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	return rc;
}
