/*
 * SHA-256 through libcrypto's low-level interface, and the dataset digest.
 *
 * The low-level calls are deprecated in OpenSSL 3 but still there (and in
 * 4.0).  They run the same SHA-NI code as EVP without the provider
 * dispatch, which costs about 90 ns a call: a third of the time hashing a
 * 270-byte record.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stdlib.h>
#include <string.h>

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

void
rf_sha256_free(rf_sha256 *h)
{
	free(h);
}

void
rf_hex(const unsigned char *p, size_t n, char *dst)
{
	static const char hexd[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = hexd[p[i] >> 4];
		dst[2 * i + 1] = hexd[p[i] & 15];
	}
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

	for (int i = 0; i < 4; i++) {
		uint64_t x = 0;
		for (int j = 0; j < 8; j++)
			x = x << 8 | d[8 * i + j];
		v[i] = x;
	}
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
