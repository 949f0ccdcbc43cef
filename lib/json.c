/*
 * JSON: one recursive-descent parser serves both validation and RFC 8785
 * canonicalisation.  It writes canonical bytes as it goes and sorts each
 * object's members in place when the object closes, so no tree is ever
 * built; validation writes into a per-thread scratch buffer.
 *
 * The cursors, input p and output w, are passed and returned in registers
 * rather than kept in the parser's state: a byte stored through w may
 * alias any field of that state, and the compiler would have to reload a
 * cursor kept there after every byte it writes.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "refill.h"

typedef unsigned char uchar;

struct member {
	const uchar *k;		/* decoded name (UTF-8) */
	size_t klen;
	size_t koff;		/* offset in keys when the name had escapes */
	bool esc;
	size_t off, len;	/* the member's canonical text in out */
	uint64_t pre;		/* the first 8 bytes of an ASCII name, or 0 */
};

struct jp {
	const uchar *s, *end;
	rf_buf *out;
	rf_err *e;
	int rc;			/* the error code when a cursor is NULL */
	int depth;
	struct member *mem;
	size_t nmem, capmem;
	rf_buf keys;		/* decoded names that had escapes */
	rf_buf tmp;		/* scratch for reordering members */
	rf_buf num;		/* scratch for long numbers */
	rf_buf sink;		/* the output when only validating */
};

/* Input and output cursors; p == NULL means an error, in c->rc and c->e. */
struct pw {
	const uchar *p;
	uchar *w;
};

/*
 * Canonical text is never longer than its source, except for numbers
 * ("1e20" has 21 digits).  So the output keeps room for the rest of the
 * input plus SLACK bytes, and only number() has to check for room.
 */
#define SLACK 64

static struct pw
failure(struct jp *c, int rc)
{
	c->rc = rc;
	return (struct pw){ NULL, NULL };
}

static struct pw
fail(struct jp *c, const uchar *p, const char *what)
{
	return failure(c, rf_seterr(c->e, RF_EDATA,
	    "invalid JSON at byte %zu: %s%s", (size_t)(p - c->s) + 1, what,
	    p >= c->end ? ", found the end of the record" : ""));
}

static struct pw
nomem(struct jp *c)
{
	return failure(c, rf_seterr(c->e, RF_ENOMEM, "out of memory"));
}

static inline const uchar *
ws(const uchar *p, const uchar *end)
{
	/* Records are mostly compact: one test for the usual case. */
	if (p < end && *p > ' ')
		return p;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/*
 * Most tokens are a few bytes long, and a call to memcpy costs more than
 * the copy: two overlapping fixed-size moves cover 4 to 32 bytes.
 */
static inline uchar *
copy(uchar *d, const uchar *s, size_t n)
{
	if (n >= 8 && n <= 16) {
		memcpy(d, s, 8);
		memcpy(d + n - 8, s + n - 8, 8);
	} else if (n > 16 && n <= 32) {
		memcpy(d, s, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 4 && n < 8) {
		memcpy(d, s, 4);
		memcpy(d + n - 4, s + n - 4, 4);
	} else
		memcpy(d, s, n);
	return d + n;
}

/* Length of the UTF-8 sequence at p (RFC 3629), or 0 if it is invalid. */
static size_t
utf8_len(const uchar *p, const uchar *end)
{
	uchar b = p[0];
	size_t n = end - p;

	if (b < 0x80)
		return 1;
	if (b >= 0xC2 && b <= 0xDF)
		return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (b >= 0xE0 && b <= 0xEF) {
		uchar lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
		return n >= 3 && p[1] >= lo && p[1] <= hi &&
		    (p[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (b >= 0xF0 && b <= 0xF4) {
		uchar lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
		return n >= 4 && p[1] >= lo && p[1] <= hi &&
		    (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80 ? 4 : 0;
	}
	return 0;
}

bool
rf_utf8_valid(const char *s, size_t n)
{
	/* An empty rf_buf holds NULL, and NULL + 0 is undefined in C. */
	if (n == 0)
		return true;
	const uchar *p = (const uchar *)s, *end = p + n;

	while (p < end) {
		size_t k = utf8_len(p, end);
		if (k == 0)
			return false;
		p += k;
	}
	return true;
}

static int
hex4(const uchar *p, unsigned *v)
{
	unsigned x = 0;

	for (int i = 0; i < 4; i++) {
		uchar h = p[i];
		x <<= 4;
		if (h >= '0' && h <= '9')
			x |= h - '0';
		else if (h >= 'a' && h <= 'f')
			x |= h - 'a' + 10;
		else if (h >= 'A' && h <= 'F')
			x |= h - 'A' + 10;
		else
			return -1;
	}
	*v = x;
	return 0;
}

static size_t
put_utf8(uchar *d, unsigned cp)
{
	if (cp < 0x80) {
		d[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = 0xC0 | cp >> 6;
		d[1] = 0x80 | (cp & 0x3F);
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = 0xE0 | cp >> 12;
		d[1] = 0x80 | (cp >> 6 & 0x3F);
		d[2] = 0x80 | (cp & 0x3F);
		return 3;
	}
	d[0] = 0xF0 | cp >> 18;
	d[1] = 0x80 | (cp >> 12 & 0x3F);
	d[2] = 0x80 | (cp >> 6 & 0x3F);
	d[3] = 0x80 | (cp & 0x3F);
	return 4;
}

/*
 * Decodes the escape at p (just after the backslash) into d.  Returns the
 * input bytes consumed and sets *dn, or 0 on error (reason in *why).
 */
static size_t
unescape1(const uchar *p, const uchar *end, uchar *d, size_t *dn,
    const char **why)
{
	unsigned cp, lo;

	if (p >= end) {
		*why = "unterminated string";
		return 0;
	}
	*dn = 1;
	switch (*p) {
	case '"': case '\\': case '/':
		d[0] = *p;
		return 1;
	case 'b': d[0] = '\b'; return 1;
	case 'f': d[0] = '\f'; return 1;
	case 'n': d[0] = '\n'; return 1;
	case 'r': d[0] = '\r'; return 1;
	case 't': d[0] = '\t'; return 1;
	case 'u':
		break;
	default:
		*why = "invalid escape";
		return 0;
	}
	if (end - p < 5 || hex4(p + 1, &cp) < 0) {
		*why = "invalid \\u escape";
		return 0;
	}
	if (cp >= 0xDC00 && cp <= 0xDFFF) {
		*why = "lone surrogate escape";
		return 0;
	}
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (end - p < 11 || p[5] != '\\' || p[6] != 'u' ||
		    hex4(p + 7, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
			*why = "lone surrogate escape";
			return 0;
		}
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		*dn = put_utf8(d, cp);
		return 11;
	}
	*dn = put_utf8(d, cp);
	return 5;
}

/* Characters that end the fast scan inside a string. */
static const uchar special[256] = {
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
	0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
	0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
	0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
};

static int
addesc(rf_buf *b, const uchar *p, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		while (j < n && p[j] >= 0x20 && p[j] != '"' && p[j] != '\\')
			j++;
		if (rf_buf_add(b, p + i, j - i) < 0)
			return RF_ENOMEM;
		if (j == n)
			break;
		char e[6] = { '\\', 0 };
		size_t en = 2;
		switch (p[j]) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		default:
			e[1] = 'u'; e[2] = '0'; e[3] = '0';
			e[4] = hexd[p[j] >> 4]; e[5] = hexd[p[j] & 15];
			en = 6;
		}
		if (rf_buf_add(b, e, en) < 0)
			return RF_ENOMEM;
		i = j + 1;
	}
	return 0;
}

int
rf_json_addstr(rf_buf *b, const char *s, size_t n)
{
	if (rf_buf_addc(b, '"') < 0 || addesc(b, (const uchar *)s, n) < 0 ||
	    rf_buf_addc(b, '"') < 0)
		return RF_ENOMEM;
	return 0;
}

int
rf_json_addstr_lossy(rf_buf *b, const char *s, size_t n)
{
	rf_buf t = { 0 };
	bool nomem = false;
	int rc;

	if (rf_utf8_valid(s, n))
		return rf_json_addstr(b, s, n);
	for (size_t i = 0; i < n;) {
		size_t k = utf8_len((const uchar *)s + i, (const uchar *)s + n);
		if (k > 0) {
			nomem |= rf_buf_add(&t, s + i, k) < 0;
			i += k;
		} else {
			nomem |= rf_buf_add(&t, "\xef\xbf\xbd", 3) < 0;
			i++;
		}
	}
	rc = nomem ? RF_ENOMEM : rf_json_addstr(b, t.p, t.len);
	rf_buf_free(&t);
	return rc;
}

/*
 * Scans a string from just after its opening quote, validating it.
 * Returns the closing quote and sets *esc if the string had escapes, or
 * returns NULL with the error set.
 */
static inline const uchar *
scan(struct jp *c, const uchar *p, bool *esc)
{
	const uchar *end = c->end;
	const char *why;
	bool hasesc = false;

	for (;;) {
		/* Unrolled: most strings are short and plain. */
		while (end - p >= 4) {
			if (special[p[0]])
				goto stop;
			if (special[p[1]]) {
				p += 1;
				goto stop;
			}
			if (special[p[2]]) {
				p += 2;
				goto stop;
			}
			if (special[p[3]]) {
				p += 3;
				goto stop;
			}
			p += 4;
		}
		while (p < end && !special[*p])
			p++;
		if (p >= end) {
			fail(c, p, "unterminated string");
			return NULL;
		}
stop:
		if (*p == '"') {
			*esc = hasesc;
			return p;
		}
		if (*p == '\\') {
			uchar d[4];
			size_t dn, k = unescape1(p + 1, end, d, &dn, &why);
			if (k == 0) {
				fail(c, p, why);
				return NULL;
			}
			hasesc = true;
			p += 1 + k;
			continue;
		}
		if (*p < 0x20) {
			fail(c, p, "control character in string");
			return NULL;
		}
		size_t k = utf8_len(p, end);
		if (k == 0) {
			failure(c, rf_seterr(c->e, RF_EDATA,
			    "invalid UTF-8 at byte %zu", (size_t)(p - c->s) + 1));
			return NULL;
		}
		p += k;
	}
}

/*
 * Writes the canonical form of [p, q), the inside of a string scan() found
 * escapes in, and appends the decoded bytes to dec unless it is NULL.
 * Returns the new output cursor, or NULL if dec could not grow.
 */
static uchar *
put_escaped(const uchar *p, const uchar *q, uchar *w, rf_buf *dec)
{
	const char *why;

	while (p < q) {
		const uchar *bs = memchr(p, '\\', q - p);
		if (bs == NULL)
			bs = q;
		w = copy(w, p, bs - p);
		if (dec != NULL && rf_buf_add(dec, p, bs - p) < 0)
			return NULL;
		if (bs == q)
			break;
		uchar d[4];
		size_t dn;
		p = bs + 1 + unescape1(bs + 1, q, d, &dn, &why);
		if (dec != NULL && rf_buf_add(dec, d, dn) < 0)
			return NULL;
		if (dn > 1 || (d[0] >= 0x20 && d[0] != '"' && d[0] != '\\')) {
			memcpy(w, d, dn);
			w += dn;
			continue;
		}
		static const char hexd[] = "0123456789abcdef";
		*w++ = '\\';
		switch (d[0]) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case '\b': *w++ = 'b'; break;
		case '\f': *w++ = 'f'; break;
		case '\n': *w++ = 'n'; break;
		case '\r': *w++ = 'r'; break;
		case '\t': *w++ = 't'; break;
		default:
			memcpy(w, "u00", 3);
			w[3] = hexd[d[0] >> 4];
			w[4] = hexd[d[0] & 15];
			w += 5;
		}
	}
	return w;
}

/* A string value at p: validated and written in canonical form. */
static inline struct pw
strval(struct jp *c, const uchar *p, uchar *w)
{
	bool esc;
	const uchar *q = scan(c, p + 1, &esc);

	if (q == NULL)
		return (struct pw){ NULL, NULL };
	if (!esc)
		w = copy(w, p, q + 1 - p);
	else {
		*w++ = '"';
		w = put_escaped(p + 1, q, w, NULL);
		*w++ = '"';
	}
	return (struct pw){ q + 1, w };
}

/* Writes ECMAScript Number::toString of 0.D x 10^n (D has k digits). */
static size_t
es_format(char *dst, bool neg, const char *D, int k, int n)
{
	char *q = dst;

	if (neg)
		*q++ = '-';
	if (k <= n && n <= 21) {
		memcpy(q, D, k);
		q += k;
		memset(q, '0', n - k);
		q += n - k;
	} else if (0 < n && n <= 21) {
		memcpy(q, D, n);
		q += n;
		*q++ = '.';
		memcpy(q, D + n, k - n);
		q += k - n;
	} else if (-6 < n && n <= 0) {
		*q++ = '0';
		*q++ = '.';
		memset(q, '0', -n);
		q += -n;
		memcpy(q, D, k);
		q += k;
	} else {
		int x = n - 1;
		*q++ = D[0];
		if (k > 1) {
			*q++ = '.';
			memcpy(q, D + 1, k - 1);
			q += k - 1;
		}
		*q++ = 'e';
		*q++ = x < 0 ? '-' : '+';
		if (x < 0)
			x = -x;
		char t[8];
		int tn = 0;
		do
			t[tn++] = '0' + x % 10;
		while ((x /= 10) != 0);
		while (tn > 0)
			*q++ = t[--tn];
	}
	return q - dst;
}

size_t
rf_fmt_double(double d, char *dst)
{
	char buf[40], D[20];
	int k = 0, e;

	if (isnan(d) || isinf(d))
		return 0;
	if (d == 0) {
		dst[0] = '0';
		return 1;
	}
	/*
	 * The shortest digits that round-trip.  If 15 digits round-trip, the
	 * correctly rounded 15-digit form is the shortest one padded with
	 * zeros (15-digit decimals are spaced wider than a double's ulp), so
	 * at most three tries are needed: 15, 16, 17 significant digits.
	 * Subnormals have fewer significant bits, so there every length is
	 * tried.
	 */
	for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*e", prec - 1, fabs(d));
		if (strtod(buf, NULL) == fabs(d) || prec == 17)
			break;
	}
	const char *p = buf;
	for (; *p != 'e'; p++)
		if (*p != '.')
			D[k++] = *p;
	e = atoi(p + 1);
	while (k > 1 && D[k - 1] == '0')
		k--;
	return es_format(dst, d < 0, D, k, e + 1);
}

/*
 * Makes room in the output for n bytes more than the rest of the input
 * from p, plus SLACK.  Returns the output cursor, which may have moved.
 */
static uchar *
room(struct jp *c, const uchar *p, uchar *w, size_t n)
{
	rf_buf *o = c->out;
	size_t len = w - (uchar *)o->p, need = n + (c->end - p) + SLACK;

	if (o->cap - len >= need)
		return w;
	o->len = len;
	if (rf_buf_reserve(o, need) < 0)
		return NULL;
	return (uchar *)o->p + len;
}

static struct pw
number(struct jp *c, const uchar *p, uchar *w)
{
	const uchar *start = p, *end = c->end;
	const uchar *ib, *ie, *fb = NULL, *fe = NULL;
	bool neg = false, hasexp = false;
	long long ex = 0;

	if (*p == '-') {
		neg = true;
		p++;
	}
	ib = p;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return fail(c, p, "invalid number");
	ie = p;
	if (p < end && *p == '.') {
		fb = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		fe = p;
		if (fe == fb)
			return fail(c, p, "invalid number");
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		bool eneg = false;
		hasexp = true;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		if (p >= end || *p < '0' || *p > '9')
			return fail(c, p, "invalid number");
		while (p < end && *p >= '0' && *p <= '9') {
			if (ex < 100000000)
				ex = ex * 10 + (*p - '0');
			p++;
		}
		if (eneg)
			ex = -ex;
	}

	/*
	 * Most numbers are already canonical: at most 15 digits (so they
	 * round-trip through a double unchanged), no exponent, no trailing
	 * zero in a fraction, and not -0 or a fraction below 10^-6.
	 */
	if (!hasexp) {
		size_t il = ie - ib, fl = fb != NULL ? fe - fb : 0;
		bool same;
		if (*ib != '0')
			same = il + fl <= 15 && (fl == 0 || fe[-1] != '0');
		else if (fl == 0)
			same = !neg;
		else {
			size_t lz = 0;
			while (lz < fl && fb[lz] == '0')
				lz++;
			same = fe[-1] != '0' && lz <= 5 && fl - lz <= 15;
		}
		if (same)
			return (struct pw){ p, copy(w, start, p - start) };
	}

	/* Significant digits D and n with value 0.D x 10^n. */
	char D[16], o[48];
	int k = 0, lead = 0, total = 0, lastnz = -1;
	bool seen = false;
	long long ni = ie - ib;
	size_t on;
	for (int part = 0; part < 2; part++) {
		const uchar *q = part ? fb : ib, *qe = part ? fe : ie;
		for (; q != NULL && q < qe; q++, total++) {
			if (!seen) {
				if (*q == '0') {
					lead++;
					continue;
				}
				seen = true;
			}
			if (*q != '0')
				lastnz = total;
			if (k < 16)
				D[k] = *q;
			k++;
		}
	}
	k = lastnz - lead + 1;
	long long n = ni - lead + ex;
	if (!seen)
		on = es_format(o, false, "0", 1, 1);
	else if (k <= 15 && n > -300 && n <= 300)
		/* Up to 15 digits round-trip through a double unchanged. */
		on = es_format(o, neg, D, k, (int)n);
	else {
		c->num.len = 0;
		if (rf_buf_add(&c->num, start, p - start) < 0 ||
		    rf_buf_addc(&c->num, '\0') < 0)
			return nomem(c);
		double d = strtod(c->num.p, NULL);
		if (isinf(d))
			return failure(c, rf_seterr(c->e, RF_EDATA,
			    "number out of range at byte %zu",
			    (size_t)(start - c->s) + 1));
		on = rf_fmt_double(d, o);
	}
	if ((w = room(c, p, w, on)) == NULL)
		return nomem(c);
	return (struct pw){ p, copy(w, (const uchar *)o, on) };
}

/*
 * RFC 8785 orders names by their UTF-16 code units.  UTF-8 byte order is
 * code point order, which differs only where a supplementary character
 * (4-byte UTF-8, a surrogate pair in UTF-16) meets U+E000..U+FFFF.
 */
static inline int
keycmp(const uchar *a, size_t al, const uchar *b, size_t bl)
{
	size_t n = al < bl ? al : bl;

	for (size_t i = 0; i < n; i++) {
		if (a[i] == b[i])
			continue;
		if (a[i] >= 0xF0 && (b[i] == 0xEE || b[i] == 0xEF))
			return -1;
		if (b[i] >= 0xF0 && (a[i] == 0xEE || a[i] == 0xEF))
			return 1;
		return a[i] < b[i] ? -1 : 1;
	}
	return al < bl ? -1 : al > bl;
}

void
rf_json_trim(const char **p, size_t *n)
{
	while (*n > 0 && (**p == ' ' || **p == '\t' || **p == '\n' ||
	    **p == '\r')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' ||
	    (*p)[*n - 1] == '\n' || (*p)[*n - 1] == '\r'))
		(*n)--;
}

int
rf_json_keycmp(const unsigned char *a, size_t al, const unsigned char *b,
    size_t bl)
{
	return keycmp(a, al, b, bl);
}

static int
memcmpf(const void *x, const void *y)
{
	const struct member *a = x, *b = y;
	return keycmp(a->k, a->klen, b->k, b->klen);
}

static int dupkey(struct jp *c, const struct member *m);

/*
 * Most names differ in their first eight bytes, which compare as one
 * big-endian number: zero-padded, so a shorter name sorts first.  0 (fall
 * back to keycmp) for a name outside ASCII there, whose order is not byte
 * order, or one too near the end of the input to load eight bytes.
 */
static inline uint64_t
prefix(const uchar *k, size_t klen, const uchar *end)
{
	uint64_t x;

	if (end - k < 8)
		return 0;
	memcpy(&x, k, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	if (klen < 8)
		x &= ~(~(uint64_t)0 >> (8 * klen));
	return x & 0x8080808080808080u ? 0 : x;
}

static inline int
prefcmp(const struct member *a, const struct member *b)
{
	if (a->pre != b->pre && a->pre != 0 && b->pre != 0)
		return a->pre < b->pre ? -1 : 1;
	return keycmp(a->k, a->klen, b->k, b->klen);
}

/*
 * Rewrites the text of the object between objoff and endoff with its
 * members in sorted order: the i-th is m[ix[i]], or m[i] when ix is NULL.
 */
static int
rewrite(struct jp *c, size_t objoff, size_t endoff, const struct member *m,
    const unsigned char *ix, size_t n)
{
	size_t from = objoff + 1, len = endoff - 1 - from;
	char *w;

	c->tmp.len = 0;
	if (rf_buf_add(&c->tmp, c->out->p + from, len) < 0)
		return rf_seterr(c->e, RF_ENOMEM, "out of memory");
	w = c->out->p + from;
	for (size_t i = 0; i < n; i++) {
		const struct member *mi = ix != NULL ? &m[ix[i]] : &m[i];
		if (i > 0)
			*w++ = ',';
		w = (char *)copy((uchar *)w, (const uchar *)c->tmp.p +
		    (mi->off - from), mi->len);
	}
	return 0;
}

/*
 * Checks names for duplicates and writes the members of the object
 * between objoff and endoff in sorted order.
 */
static int
close_object(struct jp *c, size_t first, size_t keymark, size_t objoff,
    size_t endoff)
{
	struct member *m = c->mem + first;
	size_t n = c->nmem - first;
	bool sorted = true;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if (m[i].esc)
			m[i].k = (const uchar *)c->keys.p + m[i].koff;
	if (n <= 32) {
		/*
		 * Records' objects are small: one insertion sort tells whether
		 * they are in order, orders them and finds a duplicate (where
		 * an insertion stops is the greatest name not above the new
		 * one, so it is equal if any is).  It moves indices, which are
		 * cheaper than members.
		 */
		unsigned char ix[32];
		ix[0] = 0;
		for (size_t i = 1; i < n; i++) {
			size_t j = i;
			int r = 1;
			while (j > 0 && (r = prefcmp(&m[ix[j - 1]], &m[i])) > 0) {
				ix[j] = ix[j - 1];
				j--;
			}
			if (j > 0 && r == 0)
				return dupkey(c, &m[i]);
			sorted &= j == i;
			ix[j] = (unsigned char)i;
		}
		if (!sorted)
			rc = rewrite(c, objoff, endoff, m, ix, n);
	} else {
		for (size_t i = 1; i < n; i++) {
			int r = keycmp(m[i - 1].k, m[i - 1].klen, m[i].k,
			    m[i].klen);
			if (r == 0)
				return dupkey(c, &m[i]);
			sorted &= r < 0;
		}
		if (!sorted) {
			qsort(m, n, sizeof *m, memcmpf);
			for (size_t i = 1; i < n; i++)
				if (keycmp(m[i - 1].k, m[i - 1].klen, m[i].k,
				    m[i].klen) == 0)
					return dupkey(c, &m[i]);
			rc = rewrite(c, objoff, endoff, m, NULL, n);
		}
	}
	c->nmem = first;
	c->keys.len = keymark;
	return rc;
}

static int
dupkey(struct jp *c, const struct member *m)
{
	rf_buf b = { 0 };
	int rc;

	size_t n = m->klen;

	/* A long name is cut, at a character boundary. */
	if (n > 200)
		for (n = 200; n > 0 && (m->k[n] & 0xC0) == 0x80; n--)
			;
	if (rf_json_addstr(&b, (const char *)m->k, n) < 0 ||
	    rf_buf_addc(&b, '\0') < 0)
		rc = rf_seterr(c->e, RF_EDATA, "duplicate key");
	else
		rc = rf_seterr(c->e, RF_EDATA, "duplicate key %s", b.p);
	rf_buf_free(&b);
	return rc;
}

static struct pw value(struct jp *c, const uchar *p, uchar *w);

static struct pw
object(struct jp *c, const uchar *p, uchar *w)
{
	const uchar *end = c->end, *q;
	size_t first = c->nmem, keymark = c->keys.len;
	size_t objoff = w - (uchar *)c->out->p;
	struct member *m;
	struct pw r;
	bool esc;
	int rc;

	*w++ = '{';
	p = ws(p + 1, end);
	if (p < end && *p == '}') {
		*w++ = '}';
		return (struct pw){ p + 1, w };
	}
	for (;;) {
		if (p >= end || *p != '"')
			return fail(c, p, "expected a member name");
		if (c->nmem == c->capmem) {
			size_t nc = c->capmem ? 2 * c->capmem : 64;
			struct member *nm = realloc(c->mem, nc * sizeof *nm);
			if (nm == NULL)
				return nomem(c);
			c->mem = nm;
			c->capmem = nc;
		}
		m = &c->mem[c->nmem++];
		if (c->nmem - first > 1)
			*w++ = ',';
		m->off = w - (uchar *)c->out->p;
		if ((q = scan(c, p + 1, &esc)) == NULL)
			return (struct pw){ NULL, NULL };
		m->esc = esc;
		if (!esc) {
			m->k = p + 1;
			m->klen = q - (p + 1);
			m->pre = prefix(m->k, m->klen, end);
			w = copy(w, p, q + 1 - p);
		} else {
			/* Compared decoded; the pointer is set at the close. */
			m->koff = c->keys.len;
			m->pre = 0;
			*w++ = '"';
			if ((w = put_escaped(p + 1, q, w, &c->keys)) == NULL)
				return nomem(c);
			*w++ = '"';
			m->klen = c->keys.len - m->koff;
		}
		p = ws(q + 1, end);
		if (p >= end || *p != ':')
			return fail(c, p, "expected ':'");
		*w++ = ':';
		if ((r = value(c, p + 1, w)).p == NULL)
			return r;
		p = ws(r.p, end);
		w = r.w;
		/* value() may have moved c->mem and the output. */
		m = &c->mem[c->nmem - 1];
		m->len = (w - (uchar *)c->out->p) - m->off;
		if (p < end && *p == ',') {
			p = ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}') {
			*w++ = '}';
			if ((rc = close_object(c, first, keymark, objoff,
			    w - (uchar *)c->out->p)) < 0)
				return failure(c, rc);
			return (struct pw){ p + 1, w };
		}
		return fail(c, p, "expected ',' or '}'");
	}
}

static struct pw
array(struct jp *c, const uchar *p, uchar *w)
{
	const uchar *end = c->end;
	struct pw r;

	*w++ = '[';
	p = ws(p + 1, end);
	if (p < end && *p == ']') {
		*w++ = ']';
		return (struct pw){ p + 1, w };
	}
	for (;;) {
		if ((r = value(c, p, w)).p == NULL)
			return r;
		p = ws(r.p, end);
		w = r.w;
		if (p < end && *p == ',') {
			*w++ = ',';
			p++;
			continue;
		}
		if (p < end && *p == ']') {
			*w++ = ']';
			return (struct pw){ p + 1, w };
		}
		return fail(c, p, "expected ',' or ']'");
	}
}

static inline struct pw
literal(struct jp *c, const uchar *p, uchar *w, const char *lit, size_t n)
{
	if ((size_t)(c->end - p) < n || memcmp(p, lit, n) != 0)
		return fail(c, p, "invalid literal");
	memcpy(w, lit, n);
	return (struct pw){ p + n, w + n };
}

static struct pw
value(struct jp *c, const uchar *p, uchar *w)
{
	struct pw r;

	p = ws(p, c->end);
	if (p >= c->end)
		return fail(c, p, "expected a value");
	switch (*p) {
	case '"':
		return strval(c, p, w);
	case '{':
	case '[':
		if (++c->depth > RF_JSON_MAX_DEPTH)
			return failure(c, rf_seterr(c->e, RF_EDATA,
			    "nesting deeper than %d at byte %zu",
			    RF_JSON_MAX_DEPTH, (size_t)(p - c->s) + 1));
		r = *p == '{' ? object(c, p, w) : array(c, p, w);
		c->depth--;
		return r;
	case 't':
		return literal(c, p, w, "true", 4);
	case 'f':
		return literal(c, p, w, "false", 5);
	case 'n':
		return literal(c, p, w, "null", 4);
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return number(c, p, w);
	default:
		if (*p >= 0x80 && utf8_len(p, c->end) == 0)
			return failure(c, rf_seterr(c->e, RF_EDATA,
			    "invalid UTF-8 at byte %zu", (size_t)(p - c->s) + 1));
		return fail(c, p, "expected a value");
	}
}

/*
 * The parser's scratch space is kept per thread between calls, so the hot
 * path allocates nothing once it has warmed up.
 */
static _Thread_local struct jp scratch;

void
rf_json_thread_free(void)
{
	free(scratch.mem);
	rf_buf_free(&scratch.keys);
	rf_buf_free(&scratch.tmp);
	rf_buf_free(&scratch.num);
	rf_buf_free(&scratch.sink);
	memset(&scratch, 0, sizeof scratch);
}

static int
parse(const char *buf, size_t len, rf_buf *out, rf_err *e)
{
	struct jp *c = &scratch;
	/* An empty rf_buf holds NULL, and NULL + 0 is undefined in C. */
	const uchar *s = (const uchar *)(buf != NULL ? buf : "");
	size_t mark;
	struct pw r;

	if (out == NULL) {
		out = &c->sink;
		out->len = 0;
	}
	mark = out->len;
	if (out->cap - mark < len + SLACK && rf_buf_reserve(out, len + SLACK) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	c->s = s;
	c->end = s + len;
	c->out = out;
	c->e = e;
	c->depth = 0;
	c->nmem = 0;
	c->keys.len = 0;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		return rf_seterr(e, RF_EDATA, "byte-order mark at byte 1");
	r = value(c, s, (uchar *)out->p + mark);
	if (r.p != NULL && (r.p = ws(r.p, c->end)) != c->end)
		r = fail(c, r.p, "unexpected data after the value");
	/* room() may have set out->len on the way. */
	out->len = r.p != NULL ? (size_t)(r.w - (uchar *)out->p) : mark;
	return r.p != NULL ? 0 : c->rc;
}

int
rf_json_validate(const char *buf, size_t len, rf_err *e)
{
	return parse(buf, len, NULL, e);
}

bool
rf_json_name_is(const char *tok, size_t n, const char *word)
{
	size_t wn = strlen(word);

	return n == wn + 2 && memcmp(tok + 1, word, wn) == 0;
}

bool
rf_json_member(const char *obj, size_t n, const char *name, const char **v,
    size_t *vn)
{
	const char *k;
	size_t pos = 0, kn;

	while (rf_json_next(obj, n, &pos, &k, &kn, v, vn) > 0)
		if (rf_json_name_is(k, kn, name))
			return true;
	return false;
}

int
rf_json_is_canon(const char *buf, size_t len, rf_err *e)
{
	rf_buf c = { 0 };
	int rc;

	if ((rc = rf_json_canon(buf, len, &c, e)) == 0)
		rc = c.len == len && memcmp(c.p, buf, len) == 0;
	rf_buf_free(&c);
	return rc;
}

int
rf_json_canon(const char *buf, size_t len, rf_buf *out, rf_err *e)
{
	return parse(buf, len, out, e);
}

int
rf_json_unescape(const char *tok, size_t len, rf_buf *out)
{
	const uchar *p = (const uchar *)tok + 1, *end = (const uchar *)tok + len - 1;

	while (p < end) {
		const uchar *bs = memchr(p, '\\', end - p);
		if (bs == NULL)
			bs = end;
		if (rf_buf_add(out, p, bs - p) < 0)
			return RF_ENOMEM;
		if (bs == end)
			break;
		uchar d[4];
		size_t dn;
		const char *why;
		size_t k = unescape1(bs + 1, end, d, &dn, &why);
		if (k == 0)
			return RF_EDATA;
		if (rf_buf_add(out, d, dn) < 0)
			return RF_ENOMEM;
		p = bs + 1 + k;
	}
	return 0;
}

/* ---- ordering of values --------------------------------------------- */

/* A number token as 0.DIGITS x 10^exp, read exactly. */
struct num {
	int sign;			/* -1, 0 or 1 */
	long long exp;
	const char *p, *end;		/* significant digits, '.' skipped */
};

static void
num_parse(const char *t, size_t n, struct num *x)
{
	const char *end = t + n, *q = t, *mant_end;
	long long e = 0, pos = 0;
	bool neg = false, frac = false;

	if (q < end && *q == '-') {
		neg = true;
		q++;
	}
	for (mant_end = q; mant_end < end && *mant_end != 'e' &&
	    *mant_end != 'E'; mant_end++)
		;
	if (mant_end < end) {
		const char *r = mant_end + 1;
		bool eneg = false;
		if (*r == '+' || *r == '-')
			eneg = *r++ == '-';
		/* Saturates: no JSON number of sane length reaches 10^15. */
		for (; r < end; r++)
			if (e < 1000000000000000LL)
				e = e * 10 + (*r - '0');
		if (eneg)
			e = -e;
	}
	/* pos counts digits before the point, minus zeros after it. */
	x->sign = 0;
	x->p = x->end = mant_end;
	for (; q < mant_end; q++) {
		if (*q == '.') {
			frac = true;
			continue;
		}
		if (*q != '0') {
			x->sign = neg ? -1 : 1;
			x->p = q;
			break;
		}
		if (frac)
			pos--;
	}
	if (x->sign == 0)
		return;
	if (!frac)
		for (const char *r = q; r < mant_end && *r != '.'; r++)
			pos++;
	x->exp = pos + e;
}

static int
num_digit(const char **p, const char *end)
{
	if (*p < end && **p == '.')
		(*p)++;
	return *p < end ? *(*p)++ : '0';
}

static int
num_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	struct num x, y;
	int r = 0;

	num_parse(a, an, &x);
	num_parse(b, bn, &y);
	if (x.sign != y.sign)
		return x.sign < y.sign ? -1 : 1;
	if (x.sign == 0)
		return 0;
	if (x.exp != y.exp)
		r = x.exp < y.exp ? -1 : 1;
	else
		while (r == 0 && (x.p < x.end || y.p < y.end)) {
			int c = num_digit(&x.p, x.end), d = num_digit(&y.p, y.end);
			r = (c > d) - (c < d);
		}
	return x.sign < 0 ? -r : r;
}

static int
rank(char c)
{
	switch (c) {
	case 'n': return 0;
	case 'f': return 1;
	case 't': return 2;
	case '"': return 4;
	case '[': return 5;
	case '{': return 6;
	default: return 3;	/* a number */
	}
}

static int
bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	/* An empty decoded string has no buffer: no memcmp on NULL. */
	int r = an && bn ? memcmp(a, b, an < bn ? an : bn) : 0;

	return r != 0 ? (r > 0) - (r < 0) : (an > bn) - (an < bn);
}

int
rf_json_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	rf_buf x = { 0 }, y = { 0 };
	int ra = rank(a[0]), rb = rank(b[0]), r;
	rf_err e;

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ra == 3)
		return num_cmp(a, an, b, bn);
	if (ra < 3)
		return 0;
	if (ra == 4 && memchr(a, '\\', an) == NULL &&
	    memchr(b, '\\', bn) == NULL)
		return bytes_cmp(a + 1, an - 2, b + 1, bn - 2);
	/* Escaped strings decoded; arrays and objects in canonical form. */
	if (ra == 4 ? rf_json_unescape(a, an, &x) < 0 ||
	    rf_json_unescape(b, bn, &y) < 0 :
	    rf_json_canon(a, an, &x, &e) < 0 || rf_json_canon(b, bn, &y, &e) < 0)
		r = bytes_cmp(a, an, b, bn);
	else
		r = bytes_cmp(x.p, x.len, y.p, y.len);
	rf_buf_free(&x);
	rf_buf_free(&y);
	return r;
}

/* ---- field paths ---------------------------------------------------- */

struct seg {
	char *name;
	size_t len;
	long long idx;		/* >= 0 when the segment can index an array */
};

struct rf_path {
	char *spec;
	size_t n;
	struct seg seg[];
};

static long long
segidx(const char *s, size_t n)
{
	long long v = 0;

	if (n == 0 || n > 15 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
rf_path_compile(const char *spec, rf_path **out, rf_err *e)
{
	bool ptr = spec[0] == '/' || spec[0] == '\0';
	size_t len = strlen(spec), n = 0;
	rf_path *p;

	if (spec[0] == '\0')
		n = 0;
	else if (ptr) {
		for (size_t i = 0; i < len; i++)
			n += spec[i] == '/';
	} else {
		n = 1;
		for (size_t i = 0; i < len; i++)
			n += spec[i] == '.';
	}
	p = calloc(1, sizeof *p + n * sizeof p->seg[0]);
	if (p == NULL || (p->spec = strdup(spec)) == NULL) {
		free(p);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	p->n = n;
	const char *s = ptr ? spec + 1 : spec;
	for (size_t i = 0; i < n; i++) {
		const char *t = strchr(s, ptr ? '/' : '.');
		size_t sl = t != NULL ? (size_t)(t - s) : strlen(s);
		struct seg *g = &p->seg[i];
		if ((g->name = malloc(sl + 1)) == NULL) {
			rf_path_free(p);
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		}
		if (!ptr) {
			if (sl == 0) {
				rf_path_free(p);
				return rf_seterr(e, RF_EUSAGE,
				    "empty segment in field path '%s'", spec);
			}
			memcpy(g->name, s, sl);
			g->len = sl;
		} else {
			size_t w = 0;
			for (size_t j = 0; j < sl; j++) {
				if (s[j] != '~') {
					g->name[w++] = s[j];
					continue;
				}
				if (j + 1 < sl && (s[j + 1] == '0' || s[j + 1] == '1')) {
					g->name[w++] = s[j + 1] == '0' ? '~' : '/';
					j++;
					continue;
				}
				rf_path_free(p);
				return rf_seterr(e, RF_EUSAGE,
				    "bad '~' escape in JSON Pointer '%s'", spec);
			}
			g->len = w;
		}
		g->name[g->len] = '\0';
		g->idx = segidx(g->name, g->len);
		s += sl + 1;
	}
	*out = p;
	return 0;
}

void
rf_path_free(rf_path *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->seg[i].name);
	free(p->spec);
	free(p);
}

const char *
rf_path_spec(const rf_path *p)
{
	return p->spec;
}

size_t
rf_path_len(const rf_path *p)
{
	return p->n;
}

const char *
rf_path_seg(const rf_path *p, size_t i, size_t *len, long long *idx)
{
	*len = p->seg[i].len;
	*idx = p->seg[i].idx;
	return p->seg[i].name;
}

static const uchar *
skipws(const uchar *p, const uchar *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* End of the string token starting at p (on its quote); input is valid. */
static const uchar *
skipstr(const uchar *p, const uchar *end)
{
	p++;
	for (;;) {
		const uchar *q = memchr(p, '"', end - p);
		if (q == NULL)
			return end;
		size_t bs = 0;
		for (const uchar *b = q; b > p && b[-1] == '\\'; b--)
			bs++;
		if (bs % 2 == 0)
			return q + 1;
		p = q + 1;
	}
}

/* End of the value starting at p; input is valid. */
static const uchar *
skipval(const uchar *p, const uchar *end)
{
	if (*p == '"')
		return skipstr(p, end);
	if (*p == '{' || *p == '[') {
		int depth = 0;
		while (p < end) {
			switch (*p) {
			case '"':
				p = skipstr(p, end);
				continue;
			case '{': case '[':
				depth++;
				break;
			case '}': case ']':
				if (--depth == 0)
					return p + 1;
				break;
			}
			p++;
		}
		return end;
	}
	while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
	    *p != '\t' && *p != '\n' && *p != '\r')
		p++;
	return p;
}

/* Compares a string token's decoded text with name. */
static bool
key_eq(const uchar *tok, const uchar *tokend, const struct seg *g)
{
	const uchar *p = tok + 1, *end = tokend - 1;
	const uchar *nm = (const uchar *)g->name, *ne = nm + g->len;

	while (p < end) {
		if (*p != '\\') {
			if (nm >= ne || *nm != *p)
				return false;
			nm++;
			p++;
			continue;
		}
		uchar d[4];
		size_t dn;
		const char *why;
		size_t k = unescape1(p + 1, end, d, &dn, &why);
		if (k == 0 || (size_t)(ne - nm) < dn || memcmp(nm, d, dn) != 0)
			return false;
		nm += dn;
		p += 1 + k;
	}
	return nm == ne;
}

int
rf_json_get(const char *buf, size_t len, const rf_path *path,
    const char **val, size_t *vlen)
{
	const uchar *p = (const uchar *)buf, *end = p + len;

	p = skipws(p, end);
	for (size_t i = 0; i < path->n; i++) {
		const struct seg *g = &path->seg[i];
		if (p >= end)
			return RF_EMISSING;
		if (*p == '{') {
			bool found = false;
			p = skipws(p + 1, end);
			while (p < end && *p == '"') {
				const uchar *ke = skipstr(p, end);
				bool eq = key_eq(p, ke, g);
				p = skipws(ke, end);
				p = skipws(p + 1, end);		/* ':' */
				if (eq) {
					found = true;
					break;
				}
				p = skipws(skipval(p, end), end);
				if (p < end && *p == ',')
					p = skipws(p + 1, end);
			}
			if (!found)
				return RF_EMISSING;
		} else if (*p == '[' && g->idx >= 0) {
			p = skipws(p + 1, end);
			if (p < end && *p == ']')
				return RF_EMISSING;
			for (long long j = 0; j < g->idx; j++) {
				p = skipws(skipval(p, end), end);
				if (p >= end || *p != ',')
					return RF_EMISSING;
				p = skipws(p + 1, end);
			}
		} else
			return RF_EMISSING;
	}
	if (p >= end)
		return RF_EMISSING;
	*val = (const char *)p;
	*vlen = skipval(p, end) - p;
	return 0;
}

int
rf_json_next(const char *v, size_t vlen, size_t *pos, const char **key,
    size_t *kn, const char **val, size_t *vn)
{
	const uchar *b = (const uchar *)v, *end = b + vlen, *p;
	bool obj;

	if (vlen < 2 || (b[0] != '[' && b[0] != '{'))
		return RF_EDATA;
	obj = b[0] == '{';
	/* Past the opening bracket, or past the element before and its comma. */
	p = skipws(b + (*pos == 0 ? 1 : *pos), end);
	if (p < end && *p == ',')
		p = skipws(p + 1, end);
	if (p >= end || *p == ']' || *p == '}') {
		*pos = vlen;
		return 0;
	}
	if (obj) {
		const uchar *ke = skipstr(p, end);
		if (key != NULL) {
			*key = (const char *)p;
			*kn = ke - p;
		}
		p = skipws(ke, end);
		p = skipws(p + 1, end);		/* ':' */
		if (p >= end)
			return RF_EDATA;
	}
	const uchar *ve = skipval(p, end);
	*val = (const char *)p;
	*vn = ve - p;
	*pos = ve - b;
	return 1;
}

/* ---- removing fields, and comparing records field by field ---------------- */

/*
 * The paths still being followed inside a value: path k has matched its
 * first at[k] segments.
 */
struct strip {
	rf_path *const *paths;
	size_t np;
};

static bool
seg_matches(const struct seg *g, const uchar *key, const uchar *keyend,
    long long idx)
{
	if (key == NULL)
		return g->idx >= 0 && g->idx == idx;
	return key_eq(key, keyend, g);
}

static int
strip_val(const struct strip *s, const uchar *v, const uchar *ve,
    const size_t *at, rf_buf *out)
{
	size_t pos = 0, vn, kn = 0, few[16], *next = few;
	const char *val, *key = NULL;
	bool obj = *v == '{', first = true;
	long long idx = 0;
	int rc;

	/* Called for every record with --ignore: a few paths need no malloc. */
	if (s->np > sizeof few / sizeof few[0] &&
	    (next = malloc(s->np * sizeof *next)) == NULL)
		return RF_ENOMEM;
	rc = rf_buf_addc(out, (char)*v);
	while (rc == 0 && (rc = rf_json_next((const char *)v, ve - v, &pos,
	    obj ? &key : NULL, &kn, &val, &vn)) == 1) {
		const uchar *k = obj ? (const uchar *)key : NULL;
		bool drop = false, deeper = false;

		rc = 0;
		for (size_t i = 0; i < s->np; i++) {
			const rf_path *p = s->paths[i];
			next[i] = SIZE_MAX;
			if (at[i] == SIZE_MAX || !seg_matches(&p->seg[at[i]], k,
			    k != NULL ? k + kn : NULL, idx))
				continue;
			if (at[i] + 1 == p->n)
				drop = true;
			else {
				next[i] = at[i] + 1;
				deeper = true;
			}
		}
		idx++;
		if (drop)
			continue;
		if (!first)
			rc = rf_buf_addc(out, ',');
		first = false;
		if (rc == 0 && obj && ((rc = rf_buf_add(out, key, kn)) == 0))
			rc = rf_buf_addc(out, ':');
		if (rc < 0)
			break;
		if (deeper && (*val == '{' || *val == '['))
			rc = strip_val(s, (const uchar *)val,
			    (const uchar *)val + vn, next, out);
		else
			rc = rf_buf_add(out, val, vn);
	}
	if (rc == 0)
		rc = rf_buf_addc(out, obj ? '}' : ']');
	if (next != few)
		free(next);
	return rc < 0 ? RF_ENOMEM : 0;
}

int
rf_json_strip(const char *canon, size_t n, rf_path *const *paths, size_t np,
    rf_buf *out)
{
	struct strip s = { paths, np };
	size_t few[16], *at = few;
	int rc;

	if (np == 0 || n == 0 || (*canon != '{' && *canon != '['))
		return rf_buf_add(out, canon, n) < 0 ? RF_ENOMEM : 0;
	if (np > sizeof few / sizeof few[0] &&
	    (at = malloc(np * sizeof *at)) == NULL)
		return RF_ENOMEM;
	/* The empty pointer names the record, which is no member to drop. */
	for (size_t i = 0; i < np; i++)
		at[i] = paths[i]->n > 0 ? 0 : SIZE_MAX;
	rc = strip_val(&s, (const uchar *)canon, (const uchar *)canon + n, at,
	    out);
	if (at != few)
		free(at);
	return rc;
}

/* A step of the path being compared: a member's name token, or an index. */
struct step {
	const char *tok;
	size_t toklen;
	size_t idx;
};

struct fdiff {
	double abs_tol, rel_tol;
	int (*cb)(void *, const char *, size_t, const char *, size_t,
	    const char *, size_t);
	void *arg;
	struct step *st;
	size_t depth, cap;
	rf_buf path, name, ka, kb;
	long found;
};

static bool
plain_name(const char *s, size_t n)
{
	bool digits = true;

	if (n == 0 || *s == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.')
			return false;
		digits = digits && s[i] >= '0' && s[i] <= '9';
	}
	return !digits;
}

/*
 * The path of the current step, as a dot path when every name can be
 * written in one, else as a JSON Pointer (RFC 6901).
 */
static int
fdiff_path(struct fdiff *f)
{
	bool dot = true;

	for (int pass = 0; pass < 2; pass++) {
		f->path.len = 0;
		for (size_t i = 0; i < f->depth; i++) {
			const struct step *s = &f->st[i];
			char num[24];
			const char *nm = num;
			size_t nn;
			if (s->tok == NULL)
				nn = (size_t)snprintf(num, sizeof num, "%zu", s->idx);
			else {
				f->name.len = 0;
				if (rf_json_unescape(s->tok, s->toklen, &f->name) < 0)
					return RF_ENOMEM;
				nm = f->name.p;
				nn = f->name.len;
				if (pass == 0 && !plain_name(nm, nn)) {
					dot = false;
					break;
				}
			}
			if (dot) {
				if ((i > 0 && rf_buf_addc(&f->path, '.') < 0) ||
				    rf_buf_add(&f->path, nm, nn) < 0)
					return RF_ENOMEM;
				continue;
			}
			if (rf_buf_addc(&f->path, '/') < 0)
				return RF_ENOMEM;
			for (size_t j = 0; j < nn; j++) {
				int rc = nm[j] == '~' ? rf_buf_adds(&f->path, "~0") :
				    nm[j] == '/' ? rf_buf_adds(&f->path, "~1") :
				    rf_buf_addc(&f->path, nm[j]);
				if (rc < 0)
					return RF_ENOMEM;
			}
		}
		if (dot || pass == 1)
			break;
	}
	return 0;
}

static int
fdiff_report(struct fdiff *f, const char *a, size_t an, const char *b,
    size_t bn)
{
	int rc;

	f->found++;
	if (f->cb == NULL)
		return 0;
	if ((rc = fdiff_path(f)) < 0)
		return rc;
	/* The values themselves are at "", not at an empty buffer's NULL. */
	return f->cb(f->arg, f->path.p != NULL ? f->path.p : "", f->path.len,
	    a, an, b, bn);
}

static int
fdiff_push(struct fdiff *f, const char *tok, size_t toklen, size_t idx)
{
	if (f->depth == f->cap) {
		size_t nc = f->cap ? 2 * f->cap : 16;
		struct step *ns = realloc(f->st, nc * sizeof *ns);
		if (ns == NULL)
			return RF_ENOMEM;
		f->st = ns;
		f->cap = nc;
	}
	f->st[f->depth++] = (struct step){ tok, toklen, idx };
	return 0;
}

static bool
is_number(const char *v)
{
	return *v == '-' || (*v >= '0' && *v <= '9');
}

/* A member name token, decoded where it has escapes, for ordering. */
static const uchar *
keyname(const char *tok, size_t n, rf_buf *b, size_t *len)
{
	if (memchr(tok, '\\', n) == NULL) {
		*len = n - 2;
		return (const uchar *)tok + 1;
	}
	b->len = 0;
	if (rf_json_unescape(tok, n, b) < 0)
		return NULL;
	*len = b->len;
	return (const uchar *)b->p;
}

static int fdiff_val(struct fdiff *, const char *, size_t, const char *,
    size_t);

static int
fdiff_obj(struct fdiff *f, const char *a, size_t an, const char *b, size_t bn)
{
	size_t pa = 0, pb = 0, kan = 0, kbn = 0, van = 0, vbn = 0, la = 0, lb = 0;
	const char *ka = NULL, *kb = NULL, *va = NULL, *vb = NULL;
	int ra, rb, rc = 0;

	ra = rf_json_next(a, an, &pa, &ka, &kan, &va, &van);
	rb = rf_json_next(b, bn, &pb, &kb, &kbn, &vb, &vbn);
	while (rc == 0 && (ra == 1 || rb == 1)) {
		int c;
		if (ra != 1)
			c = 1;
		else if (rb != 1)
			c = -1;
		else {
			/* Two buffers: the first name must outlive the second. */
			const uchar *na = keyname(ka, kan, &f->ka, &la);
			const uchar *nb = keyname(kb, kbn, &f->kb, &lb);
			if (na == NULL || nb == NULL)
				return RF_ENOMEM;
			c = keycmp(na, la, nb, lb);
		}
		if ((rc = fdiff_push(f, c <= 0 ? ka : kb, c <= 0 ? kan : kbn,
		    0)) < 0)
			return rc;
		if (c < 0)
			rc = fdiff_report(f, va, van, NULL, 0);
		else if (c > 0)
			rc = fdiff_report(f, NULL, 0, vb, vbn);
		else
			rc = fdiff_val(f, va, van, vb, vbn);
		f->depth--;
		if (c <= 0)
			ra = rf_json_next(a, an, &pa, &ka, &kan, &va, &van);
		if (c >= 0)
			rb = rf_json_next(b, bn, &pb, &kb, &kbn, &vb, &vbn);
	}
	return rc < 0 ? rc : 0;
}

static int
fdiff_arr(struct fdiff *f, const char *a, size_t an, const char *b, size_t bn)
{
	size_t pa = 0, pb = 0, van, vbn, na = 0, nb = 0, i;
	const char *va, *vb;
	int rc = 0;

	/* Arrays of other lengths are one change: indexes no longer pair. */
	for (pa = 0; rf_json_next(a, an, &pa, NULL, NULL, &va, &van) == 1;)
		na++;
	for (pb = 0; rf_json_next(b, bn, &pb, NULL, NULL, &vb, &vbn) == 1;)
		nb++;
	if (na != nb)
		return fdiff_report(f, a, an, b, bn);
	pa = pb = 0;
	for (i = 0; rc == 0 && i < na; i++) {
		rf_json_next(a, an, &pa, NULL, NULL, &va, &van);
		rf_json_next(b, bn, &pb, NULL, NULL, &vb, &vbn);
		if ((rc = fdiff_push(f, NULL, 0, i)) < 0)
			return rc;
		rc = fdiff_val(f, va, van, vb, vbn);
		f->depth--;
	}
	return rc;
}

static int
fdiff_val(struct fdiff *f, const char *a, size_t an, const char *b, size_t bn)
{
	if (an == bn && memcmp(a, b, an) == 0)
		return 0;
	if (*a == '{' && *b == '{')
		return fdiff_obj(f, a, an, b, bn);
	if (*a == '[' && *b == '[')
		return fdiff_arr(f, a, an, b, bn);
	if (is_number(a) && is_number(b) &&
	    (f->abs_tol > 0 || f->rel_tol > 0)) {
		/* Canonical numbers are what strtod reads back exactly. */
		double x = strtod(a, NULL), y = strtod(b, NULL);
		double d = fabs(x - y), m = fmax(fabs(x), fabs(y));
		if (d <= f->abs_tol || d <= f->rel_tol * m)
			return 0;
	}
	return fdiff_report(f, a, an, b, bn);
}

long
rf_json_diff(const char *a, size_t an, const char *b, size_t bn,
    double abs_tol, double rel_tol,
    int (*cb)(void *arg, const char *path, size_t pathlen, const char *av,
    size_t avn, const char *bv, size_t bvn), void *arg)
{
	struct fdiff f = { .abs_tol = abs_tol, .rel_tol = rel_tol, .cb = cb,
	    .arg = arg };
	int rc = fdiff_val(&f, a, an, b, bn);

	free(f.st);
	rf_buf_free(&f.path);
	rf_buf_free(&f.name);
	rf_buf_free(&f.ka);
	rf_buf_free(&f.kb);
	return rc < 0 ? rc : f.found;
}
