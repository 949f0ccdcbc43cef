/*
 * Ed25519 keys and signatures through libcrypto, base64, and the
 * trusted-signers file.
 *
 * A public key travels as the base64 of its DER SubjectPublicKeyInfo, the
 * form `openssl pkey -pubout` prints, so that anyone can check a signature
 * with openssl alone.  Base64 is decoded strictly (padding required, unused
 * bits zero) and a decoded key must re-encode to the same bytes: each key
 * then has exactly one text, and comparing texts compares keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "refill.h"

#define SPKI_LEN 44		/* DER SubjectPublicKeyInfo, Ed25519 */
#define KEYFILE_MAX ((size_t)64 << 10)

struct rf_key {
	EVP_PKEY *pk;
	char pub[RF_PUBKEY_LEN + 1];
};

/* ---- base64 ------------------------------------------------------------- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
rf_b64_encode(const void *p, size_t n, char *dst)
{
	const unsigned char *s = p;
	char *d = dst;
	uint32_t v;

	for (; n >= 3; s += 3, n -= 3) {
		v = (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2];
		*d++ = b64[v >> 18];
		*d++ = b64[v >> 12 & 63];
		*d++ = b64[v >> 6 & 63];
		*d++ = b64[v & 63];
	}
	if (n > 0) {
		v = (uint32_t)s[0] << 16 | (n == 2 ? (uint32_t)s[1] << 8 : 0);
		*d++ = b64[v >> 18];
		*d++ = b64[v >> 12 & 63];
		*d++ = n == 2 ? b64[v >> 6 & 63] : '=';
		*d++ = '=';
	}
	*d = '\0';
	return d - dst;
}

int
rf_buf_add_b64(rf_buf *b, const void *p, size_t n)
{
	size_t m = 4 * ((n + 2) / 3);

	if (rf_buf_reserve(b, m + 1) < 0)
		return RF_ENOMEM;
	b->len += rf_b64_encode(p, n, b->p + b->len);
	return 0;
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
rf_b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	size_t len, pad = 0, i, o = 0;
	int v[4];

	if (n % 4 != 0)
		return RF_EDATA;
	if (n == 0)
		return 0;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	len = n / 4 * 3 - pad;
	if (len > cap || len > INT_MAX)
		return RF_EDATA;
	for (i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		for (int j = 0; j < 4; j++) {
			/* '=' only where pad says, so "A=A=" is refused. */
			if (last && j >= 4 - (int)pad && s[i + j] == '=')
				v[j] = 0;
			else if ((v[j] = b64val(s[i + j])) < 0)
				return RF_EDATA;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Nonzero unused bits would give one value two spellings. */
		if (last && (pad == 1 ? (w & 0xff) != 0 : pad == 2 ?
		    (w & 0xffff) != 0 : false))
			return RF_EDATA;
		out[o++] = w >> 16;
		if (!last || pad < 2)
			out[o++] = w >> 8 & 0xff;
		if (!last || pad < 1)
			out[o++] = w & 0xff;
	}
	return (int)len;
}

/* ---- public keys -------------------------------------------------------- */

/*
 * Decodes the public-key text s[0..n).  On success *pk (if pk is not NULL)
 * holds the key.  Anything but the one canonical text of an Ed25519 key is
 * RF_EDATA.
 */
/*
 * The DER of an Ed25519 SubjectPublicKeyInfo is this fixed prefix (RFC
 * 8410: SEQUENCE, AlgorithmIdentifier 1.3.101.112, BIT STRING) and the
 * 32-byte key.  Matching it exactly gives each key one text, and is much
 * cheaper than libcrypto's decoder, which matters when a long log is
 * checked line by line.
 */
static const unsigned char spki_prefix[SPKI_LEN - 32] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00
};

static int
pub_decode(const char *s, size_t n, EVP_PKEY **pk)
{
	unsigned char der[SPKI_LEN];
	EVP_PKEY *k;

	if (n != RF_PUBKEY_LEN || rf_b64_decode(s, n, der, sizeof der) !=
	    SPKI_LEN || memcmp(der, spki_prefix, sizeof spki_prefix) != 0)
		return RF_EDATA;
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
	    der + sizeof spki_prefix, 32);
	if (k == NULL) {
		ERR_clear_error();
		return RF_EDATA;
	}
	if (pk != NULL)
		*pk = k;
	else
		EVP_PKEY_free(k);
	return 0;
}

static int
pub_encode(EVP_PKEY *pk, char pub[RF_PUBKEY_LEN + 1])
{
	unsigned char der[SPKI_LEN], *q = der;

	if (i2d_PUBKEY(pk, NULL) != SPKI_LEN ||
	    i2d_PUBKEY(pk, &q) != SPKI_LEN) {
		ERR_clear_error();
		return RF_EDATA;
	}
	rf_b64_encode(der, sizeof der, pub);
	return 0;
}

int
rf_sig_verify(const char *pub, const void *msg, size_t n,
    const unsigned char sig[RF_SIG_LEN], rf_err *e)
{
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;
	int ok;

	if (pub_decode(pub, strlen(pub), &pk) < 0)
		return rf_seterr(e, RF_EDATA, "not an Ed25519 public key");
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		EVP_PKEY_free(pk);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	/* Ed25519 hashes the message itself: no digest, one call. */
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestVerify(ctx, sig, RF_SIG_LEN,
	    n > 0 ? msg : (const void *)"", n) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (!ok) {
		ERR_clear_error();
		return rf_seterr(e, RF_ECHECK,
		    "the signature does not match the data and key");
	}
	return 0;
}

/* ---- private keys ------------------------------------------------------- */

/* An encrypted key is refused; without this libcrypto asks on the tty. */
static int
nopass(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* Reads the key file into memory; the caller cleanses and frees *buf. */
static int
readkey(int fd, const char *path, unsigned char **buf, size_t *len, rf_err *e)
{
	unsigned char *b;
	size_t n = 0;
	ssize_t k;

	/* One more byte than allowed, to tell a full file from a larger one. */
	if ((b = malloc(KEYFILE_MAX + 1)) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	*buf = b;
	while (n <= KEYFILE_MAX) {
		k = read(fd, b + n, KEYFILE_MAX + 1 - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return rf_seterr(e, RF_EIO, "%s: %s", path,
			    strerror(errno));
		}
		if (k == 0)
			break;
		n += k;
	}
	*len = n;
	return 0;
}

static int
key_from_pem(const unsigned char *buf, size_t len, const char *path,
    rf_key **out, rf_err *e)
{
	BIO *bio;
	EVP_PKEY *pk = NULL;
	rf_key *k;

	if (len > KEYFILE_MAX)
		return rf_seterr(e, RF_EUSAGE,
		    "%s: not an Ed25519 private key in PEM", path);
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	pk = PEM_read_bio_PrivateKey(bio, NULL, nopass, NULL);
	BIO_free(bio);
	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pk);
		ERR_clear_error();
		return rf_seterr(e, RF_EUSAGE,
		    "%s: not an Ed25519 private key in PEM", path);
	}
	if ((k = calloc(1, sizeof *k)) == NULL) {
		EVP_PKEY_free(pk);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	k->pk = pk;
	if (pub_encode(pk, k->pub) < 0) {
		rf_key_free(k);
		return rf_seterr(e, RF_EUSAGE,
		    "%s: not an Ed25519 private key in PEM", path);
	}
	*out = k;
	return 0;
}

int
rf_key_load(const char *path, rf_key **out, rf_err *e)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	/*
	 * O_NONBLOCK so that a FIFO planted at path is refused below
	 * rather than hanging the open; it changes nothing for a file.
	 */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP && lstat(path, &st) == 0 &&
		    S_ISLNK(st.st_mode))
			return rf_seterr(e, RF_EUSAGE, "%s: is a symbolic "
			    "link; give the path of the key file itself", path);
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return rf_seterr(e, RF_EUSAGE, "%s: not a regular file", path);
	}
	/* As ssh does: a key others can read may be someone else's by now. */
	if (st.st_mode & 077) {
		close(fd);
		return rf_seterr(e, RF_EUSAGE, "%s: permissions %04o are too "
		    "open; the key must be readable by its owner only "
		    "(chmod 600)", path, (unsigned)(st.st_mode & 07777));
	}
	rc = readkey(fd, path, &buf, &len, e);
	close(fd);
	if (rc == 0)
		rc = key_from_pem(buf, len, path, out, e);
	if (buf != NULL) {
		OPENSSL_cleanse(buf, KEYFILE_MAX + 1);
		free(buf);
	}
	return rc;
}

void
rf_key_public(const rf_key *k, char pub[RF_PUBKEY_LEN + 1])
{
	memcpy(pub, k->pub, RF_PUBKEY_LEN + 1);
}

int
rf_key_sign(const rf_key *k, const void *msg, size_t n,
    unsigned char sig[RF_SIG_LEN], rf_err *e)
{
	EVP_MD_CTX *ctx;
	size_t len = RF_SIG_LEN;
	int ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pk) == 1 &&
	    EVP_DigestSign(ctx, sig, &len, n > 0 ? msg : (const void *)"",
	    n) == 1 && len == RF_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		char why[128];
		ERR_error_string_n(ERR_peek_last_error(), why, sizeof why);
		ERR_clear_error();
		return rf_seterr(e, RF_EIO, "signing failed: %s", why);
	}
	return 0;
}

void
rf_key_free(rf_key *k)
{
	if (k == NULL)
		return;
	/* EVP_PKEY_free clears the private key's memory. */
	EVP_PKEY_free(k->pk);
	free(k);
}

/*
 * Writes the PEM to a new temporary file beside path and links it to
 * path: link, unlike rename, fails if path exists (even as a dangling
 * symbolic link), so an existing key is never replaced.
 */
int
rf_key_generate(const char *path, char pub[RF_PUBKEY_LEN + 1], rf_err *e)
{
	EVP_PKEY *pk;
	BIO *bio = NULL;
	char *tmp = NULL, *dir = NULL, *pem;
	unsigned char rnd[8];
	char hex[2 * sizeof rnd + 1], newpub[RF_PUBKEY_LEN + 1];
	size_t tlen = strlen(path) + sizeof hex + 8;
	long plen;
	int fd = -1, rc = 0;
	bool created = false;	/* tmp names our file: remove on failure */
	bool linked = false;	/* and so does path */

	if ((pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL) {
		ERR_clear_error();
		return rf_seterr(e, RF_EIO, "%s: cannot generate a key", path);
	}
	if ((rc = pub_encode(pk, newpub)) < 0) {
		EVP_PKEY_free(pk);
		return rf_seterr(e, RF_EIO, "%s: cannot generate a key", path);
	}
	/* A memory BIO clears its buffer when freed (BUF_MEM_free). */
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (plen = BIO_get_mem_data(bio, &pem)) <= 0) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto out;
	}
	if ((tmp = malloc(tlen)) == NULL) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto out;
	}
	for (int tries = 0; fd < 0; tries++) {
		if (RAND_bytes(rnd, sizeof rnd) != 1) {
			rc = rf_seterr(e, RF_EIO, "%s: no random bytes", path);
			goto out;
		}
		rf_hex(rnd, sizeof rnd, hex);
		snprintf(tmp, tlen, "%s.tmp.%s", path, hex);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd < 0 && (errno != EEXIST || tries == 100)) {
			rc = rf_seterr(e, RF_EIO, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
	}
	created = true;
	rf_cleanup_add(tmp, false);
	/* The umask may have taken bits from 0600, which is promised. */
	if (fchmod(fd, 0600) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((rc = rf_write_all(fd, pem, (size_t)plen, e, path)) < 0)
		goto out;
	if (fsync(fd) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: fsync: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: close: %s", path,
		    strerror(errno));
		goto out;
	}
	if (link(tmp, path) < 0) {
		if (errno == EEXIST)
			rc = rf_seterr(e, RF_EUSAGE, "%s: already exists",
			    path);
		else
			rc = rf_seterr(e, RF_EIO, "%s: %s", path,
			    strerror(errno));
		goto out;
	}
	/* The key is in place; a second name for it must not stay behind. */
	created = false;
	linked = true;
	rf_cleanup_remove(tmp);
	if (unlink(tmp) < 0) {
		rc = rf_seterr(e, RF_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if ((dir = strdup(path)) == NULL) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = rf_fsync_dir(dirname(dir), e)) == 0)
		memcpy(pub, newpub, sizeof newpub);
out:
	if (fd >= 0)
		close(fd);
	if (created) {
		unlink(tmp);
		rf_cleanup_remove(tmp);
	}
	/* A failure leaves no key, which would refuse the next keygen. */
	if (rc < 0 && linked)
		unlink(path);
	free(tmp);
	free(dir);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return rc;
}

/* ---- trusted signers ---------------------------------------------------- */

static bool
blankc(char c)
{
	return c == ' ' || c == '\t';
}

static bool
namechar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
	    c == '-';
}

static bool
rolechar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static void
signer_free(rf_signer *s)
{
	free(s->name);
	for (size_t i = 0; i < s->nroles; i++)
		free(s->roles[i]);
	free(s->roles);
}

/*
 * Parses one line (without its line end) into s.  Returns 0, RF_ENOMEM,
 * or RF_EDATA with the reason in *why.
 */
static int
parse_signer(const char *p, size_t n, rf_signer *s, const char **why)
{
	const char *f[3];
	size_t fl[3], nf = 0, i = 0;

	while (i < n) {
		while (i < n && blankc(p[i]))
			i++;
		if (i == n)
			break;
		if (nf == 3) {
			*why = "expected NAME ROLES PUBKEY";
			return RF_EDATA;
		}
		f[nf] = p + i;
		while (i < n && !blankc(p[i]))
			i++;
		fl[nf] = p + i - f[nf];
		nf++;
	}
	if (nf != 3) {
		*why = "expected NAME ROLES PUBKEY";
		return RF_EDATA;
	}
	for (i = 0; i < fl[0]; i++)
		if (!namechar(f[0][i])) {
			*why = "bad name";
			return RF_EDATA;
		}
	/* Roles: one or more words, no empty one. */
	size_t nr = 1;
	for (i = 0; i < fl[1]; i++) {
		if (f[1][i] == ',') {
			if (i == 0 || i + 1 == fl[1] || f[1][i + 1] == ',') {
				*why = "bad role";
				return RF_EDATA;
			}
			nr++;
		} else if (!rolechar(f[1][i])) {
			*why = "bad role";
			return RF_EDATA;
		}
	}
	if (pub_decode(f[2], fl[2], NULL) < 0) {
		*why = "not an Ed25519 public key";
		return RF_EDATA;
	}
	if ((s->name = strndup(f[0], fl[0])) == NULL ||
	    (s->roles = calloc(nr, sizeof *s->roles)) == NULL)
		return RF_ENOMEM;
	const char *r = f[1], *end = f[1] + fl[1];
	while (s->nroles < nr) {
		const char *c = memchr(r, ',', end - r);
		if (c == NULL)
			c = end;
		if ((s->roles[s->nroles] = strndup(r, c - r)) == NULL)
			return RF_ENOMEM;
		s->nroles++;
		r = c + 1;
	}
	memcpy(s->pub, f[2], RF_PUBKEY_LEN);
	s->pub[RF_PUBKEY_LEN] = '\0';
	return 0;
}

int
rf_trusted_load(const char *path, rf_trusted *t, rf_err *e)
{
	FILE *f;
	char *line = NULL;
	size_t lcap = 0, cap = 0, i;
	uint64_t *lines = NULL, lineno = 0;
	ssize_t len;
	const char *why;
	int rc = 0;

	memset(t, 0, sizeof *t);
	if ((f = fopen(path, "r")) == NULL)
		return rf_seterr(e, RF_EIO, "%s: %s", path, strerror(errno));
	if ((t->path = strdup(path)) == NULL) {
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		/* getline reports running out of memory only through errno. */
		errno = 0;
		if ((len = getline(&line, &lcap, f)) < 0)
			break;
		size_t n = len;
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		for (i = 0; i < n && blankc(line[i]); i++)
			;
		if (i == n || line[i] == '#')
			continue;
		if (t->n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			rf_signer *ns = realloc(t->s, nc * sizeof *ns);
			if (ns != NULL)
				t->s = ns;
			uint64_t *nl = realloc(lines, nc * sizeof *nl);
			if (nl != NULL)
				lines = nl;
			if (ns == NULL || nl == NULL) {
				rc = rf_seterr(e, RF_ENOMEM, "out of memory");
				goto out;
			}
			cap = nc;
		}
		rf_signer *s = &t->s[t->n];
		memset(s, 0, sizeof *s);
		rc = parse_signer(line, n, s, &why);
		if (rc < 0) {
			signer_free(s);
			if (rc == RF_ENOMEM)
				rc = rf_seterr(e, rc, "out of memory");
			else
				rc = rf_seterr(e, rc, "%s:%llu: %s", path,
				    (unsigned long long)lineno, why);
			goto out;
		}
		for (i = 0; i < t->n && strcmp(t->s[i].pub, s->pub) != 0; i++)
			;
		if (i < t->n) {
			signer_free(s);
			rc = rf_seterr(e, RF_EDATA, "%s:%llu: key listed twice "
			    "(also on line %llu)", path,
			    (unsigned long long)lineno,
			    (unsigned long long)lines[i]);
			goto out;
		}
		lines[t->n++] = lineno;
	}
	if (errno == ENOMEM)
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
	else if (ferror(f))
		rc = rf_seterr(e, RF_EIO, "%s: %s", path,
		    strerror(errno != 0 ? errno : EIO));
out:
	free(line);
	free(lines);
	fclose(f);
	if (rc < 0)
		rf_trusted_free(t);
	return rc;
}

int
rf_trusted_default(const char *path, rf_trusted *t, rf_err *e)
{
	int rc;

	if (path == NULL)
		path = getenv("REFILL_TRUSTED");
	if (path == NULL || *path == '\0')
		return 0;
	return (rc = rf_trusted_load(path, t, e)) < 0 ? rc : 1;
}

const rf_signer *
rf_trusted_find(const rf_trusted *t, const char *pub)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->s[i].pub, pub) == 0)
			return &t->s[i];
	return NULL;
}

bool
rf_signer_has_role(const rf_signer *s, const char *role)
{
	for (size_t i = 0; i < s->nroles; i++)
		if (strcmp(s->roles[i], role) == 0)
			return true;
	return false;
}

void
rf_trusted_free(rf_trusted *t)
{
	for (size_t i = 0; i < t->n; i++)
		signer_free(&t->s[i]);
	free(t->s);
	free(t->path);
	memset(t, 0, sizeof *t);
}
