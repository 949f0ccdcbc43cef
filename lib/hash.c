/*
 * SHA-256 through libcrypto's low-level interface, and the dataset digest.
 *
 * The low-level calls are deprecated in OpenSSL 3 but still there (and in
 * 4.0).  They run the same SHA-NI code as EVP without the provider
 * dispatch, which costs about 90 ns a call: a third of the time hashing a
 * 270-byte record.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "refill.h"

struct rf_sha256 {
	SHA256_CTX c;
};

rf_sha256 *
rf_sha256_new(void)
{
	rf_sha256 *h = malloc(sizeof *h);

	if (h != NULL)
		SHA256_Init(&h->c);
	return h;
}

void
rf_sha256_update(rf_sha256 *h, const void *p, size_t n)
{
	SHA256_Update(&h->c, p, n);
}

void
rf_sha256_final(rf_sha256 *h, unsigned char out[RF_SHA256_LEN])
{
	SHA256_Final(out, &h->c);
	SHA256_Init(&h->c);
}

void
rf_sha256_once(rf_sha256 *h, const void *p, size_t n,
    unsigned char out[RF_SHA256_LEN])
{
	SHA256_Update(&h->c, p, n);
	rf_sha256_final(h, out);
}

int
rf_sha256_file(const char *path, unsigned char d[RF_SHA256_LEN],
    uint64_t *size, rf_err *e)
{
	size_t bufsz = (size_t)1 << 17;
	char *buf = malloc(bufsz);
	SHA256_CTX c;
	int fd, rc = 0;

	*size = 0;
	if (buf == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		free(buf);
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	}
	SHA256_Init(&c);
	for (;;) {
		ssize_t k = read(fd, buf, bufsz);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			rc = rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
		if (k <= 0)
			break;
		SHA256_Update(&c, buf, k);
		*size += k;
	}
	close(fd);
	free(buf);
	SHA256_Final(d, &c);
	return rc;
}

void
rf_sha256_free(rf_sha256 *h)
{
	free(h);
}

void
rf_hex(const unsigned char *p, size_t n, char *dst)
{
	/* Two digits a byte, from one table: every record's digest is hex. */
	static const char pairs[2 * 256 + 1] =
	    "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f"
	    "202122232425262728292a2b2c2d2e2f"
	    "303132333435363738393a3b3c3d3e3f"
	    "404142434445464748494a4b4c4d4e4f"
	    "505152535455565758595a5b5c5d5e5f"
	    "606162636465666768696a6b6c6d6e6f"
	    "707172737475767778797a7b7c7d7e7f"
	    "808182838485868788898a8b8c8d8e8f"
	    "909192939495969798999a9b9c9d9e9f"
	    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	    "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	    "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
	for (size_t i = 0; i < n; i++)
		memcpy(dst + 2 * i, pairs + 2 * p[i], 2);
	dst[2 * n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
rf_unhex(const char *s, size_t slen, unsigned char *out, size_t n)
{
	if (slen != 2 * n)
		return RF_EDATA;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return RF_EDATA;
		out[i] = hi << 4 | lo;
	}
	return 0;
}

void
rf_dsum_init(rf_dsum *s)
{
	memset(s, 0, sizeof *s);
}

static void
add256(uint64_t w[4], const uint64_t v[4])
{
	unsigned carry = 0;

	for (int i = 3; i >= 0; i--) {
		uint64_t a = w[i] + v[i];
		unsigned c1 = a < w[i];
		uint64_t b = a + carry;
		carry = c1 | (b < a);
		w[i] = b;
	}
}

void
rf_dsum_add_digest(rf_dsum *s, const unsigned char d[RF_SHA256_LEN])
{
	uint64_t v[4];

	/* Big-endian words: one load and a byte swap each. */
	memcpy(v, d, sizeof v);
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
	for (int i = 0; i < 4; i++)
		v[i] = __builtin_bswap64(v[i]);
#endif
	add256(s->w, v);
	s->count++;
}

void
rf_dsum_merge(rf_dsum *s, const rf_dsum *t)
{
	add256(s->w, t->w);
	s->count += t->count;
}

void
rf_dsum_hex(const rf_dsum *s, char dst[65])
{
	unsigned char b[32];

	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 8; j++)
			b[8 * i + j] = s->w[i] >> (56 - 8 * j);
	rf_hex(b, 32, dst);
}

int
rf_dsum_parse(const char *hex, size_t len, uint64_t count, rf_dsum *s)
{
	unsigned char b[32];

	if (rf_unhex(hex, len, b, 32) < 0)
		return RF_EDATA;
	rf_dsum_init(s);
	rf_dsum_add_digest(s, b);
	s->count = count;
	return 0;
}

bool
rf_dsum_equal(const rf_dsum *a, const rf_dsum *b)
{
	return a->count == b->count && memcmp(a->w, b->w, sizeof a->w) == 0;
}

uint32_t
rf_partition(const unsigned char d[RF_SHA256_LEN], uint32_t n)
{
	uint64_t x = 0;

	for (int i = 0; i < 8; i++)
		x = x << 8 | d[i];
	return (uint32_t)(x % n);
}
