/*
 * Built-in schema migrations (refill-transform(1)): rename, default, drop,
 * cast and normalise to UTC, applied to each record in order.
 *
 * Each record is parsed once, into its canonical form; the operations
 * then work on that text, where a value's end is found without parsing
 * (no whitespace, members sorted, one escaping of strings), and keep it
 * canonical: a new member goes where the sort puts it.  The result's
 * digest is then the SHA-256 of its bytes, with no second parse.
 */
#include <stdlib.h>
#include <string.h>

#include "refill.h"

enum { CAST_NUMBER, CAST_STRING, CAST_RFC3339, CAST_RFC3339_MS };
static const char *const cast_names[] = { "number", "string", "rfc3339",
	"rfc3339-ms" };
static const char *const op_names[] = { "rename", "default", "drop", "cast",
	"utc" };

struct op {
	int kind;
	rf_path *p, *q;		/* q: rename's TO */
	int type;		/* cast */
	char *value;		/* default's, canonical */
	size_t vlen;
	char *label;		/* "--cast n=number", for messages */
};

struct rf_migrate {
	struct op *op;
	size_t n, cap;
};

int
rf_migrate_new(rf_migrate **out, rf_err *e)
{
	if ((*out = calloc(1, sizeof **out)) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	return 0;
}

void
rf_migrate_free(rf_migrate *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		rf_path_free(m->op[i].p);
		rf_path_free(m->op[i].q);
		free(m->op[i].value);
		free(m->op[i].label);
	}
	free(m->op);
	free(m);
}

size_t
rf_migrate_count(const rf_migrate *m)
{
	return m == NULL ? 0 : m->n;
}

/* A path for an operation: not the record itself, and names in UTF-8. */
static int
compile(const char *label, const char *spec, rf_path **p, rf_err *e)
{
	int rc;

	if (*spec == '\0')
		return rf_seterr(e, RF_EUSAGE, "%s: an empty path", label);
	if ((rc = rf_path_compile(spec, p, e)) < 0) {
		if (rc == RF_EUSAGE) {
			rf_err t = *e;
			rf_seterr(e, rc, "%s: %s", label, t.msg);
		}
		return rc;
	}
	for (size_t i = 0; i < rf_path_len(*p); i++) {
		size_t n;
		long long idx;
		const char *s = rf_path_seg(*p, i, &n, &idx);
		if (!rf_utf8_valid(s, n)) {
			rf_path_free(*p);
			*p = NULL;
			return rf_seterr(e, RF_EUSAGE, "%s: a path that is not "
			    "UTF-8", label);
		}
	}
	return 0;
}

static bool
same_path(const rf_path *a, const rf_path *b)
{
	if (rf_path_len(a) != rf_path_len(b))
		return false;
	for (size_t i = 0; i < rf_path_len(a); i++) {
		size_t an, bn;
		long long ai, bi;
		const char *as = rf_path_seg(a, i, &an, &ai);
		const char *bs = rf_path_seg(b, i, &bn, &bi);
		if (an != bn || memcmp(as, bs, an) != 0)
			return false;
	}
	return true;
}

int
rf_migrate_add(rf_migrate *m, int kind, const char *arg, rf_err *e)
{
	struct op o = { .kind = kind };
	const char *eq = strchr(arg, '=');
	char label[200];
	rf_buf v = { 0 };
	char *left = NULL;
	int rc = 0;

	if (kind < RF_MIG_RENAME || kind > RF_MIG_UTC)
		return rf_seterr(e, RF_EUSAGE, "no such migration");
	snprintf(label, sizeof label, "--%s %s", op_names[kind], arg);
	if (kind == RF_MIG_CAST)
		eq = strrchr(arg, '=');
	bool pair = kind == RF_MIG_RENAME || kind == RF_MIG_DEFAULT ||
	    kind == RF_MIG_CAST;
	if (pair && eq == NULL)
		return rf_seterr(e, RF_EUSAGE, "%s: not %s", label,
		    kind == RF_MIG_RENAME ? "FROM=TO" : kind == RF_MIG_DEFAULT ?
		    "PATH=JSON" : "PATH=TYPE");
	if (pair && (left = strndup(arg, eq - arg)) == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	if ((rc = compile(label, pair ? left : arg, &o.p, e)) < 0)
		goto fail;
	switch (kind) {
	case RF_MIG_RENAME:
		if ((rc = compile(label, eq + 1, &o.q, e)) < 0)
			goto fail;
		if (same_path(o.p, o.q)) {
			rc = rf_seterr(e, RF_EUSAGE, "%s: FROM and TO are the "
			    "same field", label);
			goto fail;
		}
		break;
	case RF_MIG_DEFAULT:
		if ((rc = rf_json_canon(eq + 1, strlen(eq + 1), &v, e)) < 0) {
			if (rc != RF_ENOMEM) {
				rf_err t = *e;
				rc = rf_seterr(e, RF_EUSAGE, "%s: %s", label,
				    t.msg);
			}
			goto fail;
		}
		o.value = v.p;
		o.vlen = v.len;
		v.p = NULL;
		/* The label of a message needs no value, which may be long. */
		snprintf(label, sizeof label, "--default %s", left);
		break;
	case RF_MIG_CAST:
		o.type = -1;
		for (int i = 0; i < 4; i++)
			if (strcmp(eq + 1, cast_names[i]) == 0)
				o.type = i;
		if (o.type < 0) {
			rc = rf_seterr(e, RF_EUSAGE, "%s: TYPE is number, string, "
			    "rfc3339 or rfc3339-ms", label);
			goto fail;
		}
		break;
	}
	if ((o.label = strdup(label)) == NULL)
		goto nomem;
	if (m->n == m->cap) {
		size_t nc = m->cap ? 2 * m->cap : 8;
		struct op *no = realloc(m->op, nc * sizeof *no);
		if (no == NULL)
			goto nomem;
		m->op = no;
		m->cap = nc;
	}
	m->op[m->n++] = o;
	free(left);
	return 0;
nomem:
	rc = rf_seterr(e, RF_ENOMEM, "out of memory");
fail:
	rf_path_free(o.p);
	rf_path_free(o.q);
	free(o.value);
	free(o.label);
	rf_buf_free(&v);
	free(left);
	return rc;
}

int
rf_migrate_describe(const rf_migrate *m, rf_buf *out)
{
	rf_buf b = { 0 };
	int rc = 0;

	rf_buf_addc(&b, '[');
	for (size_t i = 0; m != NULL && i < m->n; i++) {
		const struct op *o = &m->op[i];
		const char *ps = rf_path_spec(o->p);
		if (i > 0)
			rf_buf_addc(&b, ',');
		rf_buf_addc(&b, '[');
		rf_json_addstr(&b, op_names[o->kind], strlen(op_names[o->kind]));
		rf_buf_addc(&b, ',');
		rf_json_addstr(&b, ps, strlen(ps));
		if (o->kind == RF_MIG_RENAME) {
			rf_buf_addc(&b, ',');
			ps = rf_path_spec(o->q);
			rf_json_addstr(&b, ps, strlen(ps));
		} else if (o->kind == RF_MIG_DEFAULT) {
			rf_buf_addc(&b, ',');
			rf_buf_add(&b, o->value, o->vlen);
		} else if (o->kind == RF_MIG_CAST) {
			rf_buf_addc(&b, ',');
			rf_json_addstr(&b, cast_names[o->type],
			    strlen(cast_names[o->type]));
		}
		rf_buf_addc(&b, ']');
	}
	if (rf_buf_addc(&b, ']') < 0 || rf_buf_add(out, b.p, b.len) < 0)
		rc = RF_ENOMEM;
	rf_buf_free(&b);
	return rc;
}

/* ---- canonical text --------------------------------------------------- */

/* One past the closing quote of the string whose opening quote is at i. */
static size_t
str_end(const char *t, size_t i, size_t n)
{
	size_t start = ++i;

	for (;;) {
		const char *q = memchr(t + i, '"', n - i);
		if (q == NULL)
			return n;
		size_t j = q - t, bs = 0;
		while (j - bs > start && t[j - bs - 1] == '\\')
			bs++;
		if (bs % 2 == 0)
			return j + 1;
		i = j + 1;
	}
}

/* Bytes that matter when skipping a container: quotes and brackets. */
static const unsigned char structural[256] = {
	['"'] = 1, ['{'] = 2, ['['] = 2, ['}'] = 3, [']'] = 3
};

/* One past the value starting at i. */
static size_t
val_end(const char *t, size_t i, size_t n)
{
	const unsigned char *u = (const unsigned char *)t;

	if (t[i] == '"')
		return str_end(t, i, n);
	if (t[i] == '{' || t[i] == '[') {
		int depth = 0;
		while (i < n) {
			switch (structural[u[i]]) {
			case 0:
				i++;
				continue;
			case 1:
				i = str_end(t, i, n);
				continue;
			case 2:
				depth++;
				break;
			default:
				if (--depth == 0)
					return i + 1;
			}
			i++;
		}
		return n;
	}
	while (i < n && t[i] != ',' && t[i] != '}' && t[i] != ']')
		i++;
	return i;
}

static int
hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/*
 * Orders a member name as canonical text writes it (k, kn: between the
 * quotes) against a decoded name.  Canonical escapes each stand for one
 * byte: \" \\ \b \f \n \r \t and \u00XX.
 */
static int
keyorder(const char *k, size_t kn, const char *name, size_t nn)
{
	unsigned char *d;
	size_t w = 0;
	int c;

	if (memchr(k, '\\', kn) == NULL)
		return rf_json_keycmp((const unsigned char *)k, kn,
		    (const unsigned char *)name, nn);
	/* Rare: a name with a quote, a backslash or a control character. */
	if ((d = malloc(kn)) == NULL)
		return -1;
	for (size_t i = 0; i < kn; i++) {
		if (k[i] != '\\') {
			d[w++] = k[i];
			continue;
		}
		switch (k[++i]) {
		case 'b': d[w++] = '\b'; break;
		case 'f': d[w++] = '\f'; break;
		case 'n': d[w++] = '\n'; break;
		case 'r': d[w++] = '\r'; break;
		case 't': d[w++] = '\t'; break;
		case 'u':
			d[w++] = (unsigned char)(hexval(k[i + 3]) << 4 |
			    hexval(k[i + 4]));
			i += 4;
			break;
		default: d[w++] = k[i];
		}
	}
	c = rf_json_keycmp(d, w, (const unsigned char *)name, nn);
	free(d);
	return c;
}

/*
 * Where a path leads in a canonical value t[0..n).  depth segments were
 * found.  [vs, ve) is the path's value when depth is the whole path, else
 * the value in which segment depth is missing; ms is the found member's
 * first byte (its name's quote, or the element); ins, when the missing
 * segment's container is an object, is where its member would go (on a
 * name's quote or on the closing brace), else SIZE_MAX.
 */
struct where {
	size_t depth, vs, ve, ms, ins;
};

static void
find(const char *t, size_t n, const rf_path *p, struct where *w)
{
	size_t vs = 0, ve = n, np = rf_path_len(p);

	w->depth = 0;
	w->ms = 0;
	w->ins = SIZE_MAX;
	for (size_t i = 0; i < np; i++) {
		size_t sl;
		long long idx;
		const char *s = rf_path_seg(p, i, &sl, &idx);
		bool found = false;
		w->vs = vs;
		w->ve = ve;
		w->ins = SIZE_MAX;
		if (t[vs] == '{') {
			size_t q = vs + 1;
			w->ins = ve - 1;
			while (t[q] == '"') {
				size_t ke = str_end(t, q, ve);
				int c = keyorder(t + q + 1, ke - q - 2, s, sl);
				size_t v1 = val_end(t, ke + 1, ve);
				if (c == 0) {
					w->ms = q;
					vs = ke + 1;
					ve = v1;
					found = true;
					break;
				}
				if (c > 0) {
					w->ins = q;
					break;
				}
				q = t[v1] == ',' ? v1 + 1 : v1;
			}
		} else if (t[vs] == '[' && idx >= 0 && t[vs + 1] != ']') {
			size_t q = vs + 1;
			for (long long k = 0;; k++) {
				size_t v1 = val_end(t, q, ve);
				if (k == idx) {
					w->ms = q;
					vs = q;
					ve = v1;
					found = true;
					break;
				}
				if (t[v1] != ',')
					break;
				q = v1 + 1;
			}
		}
		if (!found)
			return;
		w->depth = i + 1;
	}
	w->vs = vs;
	w->ve = ve;
}

/* The path's first depth segments as its spec writes them, for messages. */
static void
prefix(const rf_path *p, size_t depth, char *dst, size_t cap)
{
	bool ptr = rf_path_spec(p)[0] == '/';
	size_t w = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < depth && w + 8 < cap; i++) {
		size_t n;
		long long idx;
		const char *s = rf_path_seg(p, i, &n, &idx);
		if (ptr || i > 0)
			dst[w++] = ptr ? '/' : '.';
		for (size_t j = 0; j < n && w + 8 < cap; j++) {
			if (ptr && (s[j] == '~' || s[j] == '/')) {
				dst[w++] = '~';
				dst[w++] = s[j] == '~' ? '0' : '1';
			} else
				dst[w++] = s[j];
		}
	}
	if (w + 8 >= cap) {
		memcpy(dst + w, "...", 3);
		w += 3;
	}
	dst[w] = '\0';
}

/* A value for a message: at most 60 bytes of it. */
static void
excerpt(const char *v, size_t n, char *dst, size_t cap)
{
	if (n > 60)
		snprintf(dst, cap, "%.57s...", v);
	else
		snprintf(dst, cap, "%.*s", (int)n, v);
}

/* t[0..n) with [a, b) replaced by r[0..rn), into out. */
static int
splice(const char *t, size_t n, size_t a, size_t b, const char *r, size_t rn,
    rf_buf *out)
{
	out->len = 0;
	if (rf_buf_reserve(out, n - (b - a) + rn) < 0)
		return RF_ENOMEM;
	memcpy(out->p, t, a);
	memcpy(out->p + a, r, rn);
	memcpy(out->p + a + rn, t + b, n - b);
	out->len = n - (b - a) + rn;
	return 0;
}

/* Removes the found member or element w from t, into out. */
static int
cut(const char *t, size_t n, const struct where *w, rf_buf *out)
{
	size_t a = w->ms, b = w->ve;

	if (t[b] == ',')
		b++;
	else if (t[a - 1] == ',')
		a--;
	return splice(t, n, a, b, "", 0, out);
}

/*
 * Puts v at path p, which find left at w with segment w->depth missing,
 * making the missing parents objects; into out.  RF_EDATA when the value
 * that should hold it is not an object.
 */
static int
put(const struct op *o, const rf_path *p, const char *t, size_t n,
    const struct where *w, const char *v, size_t vn, rf_buf *out,
    rf_err *e)
{
	size_t np = rf_path_len(p), at = w->ins;
	rf_buf *b = out;
	char pre[120], ex[64];

	if (at == SIZE_MAX) {
		prefix(p, w->depth, pre, sizeof pre);
		excerpt(t + w->vs, w->ve - w->vs, ex, sizeof ex);
		if (w->depth == 0)
			return rf_seterr(e, RF_EDATA, "%s: the record is not an "
			    "object", o->label);
		return rf_seterr(e, RF_EDATA, "%s: %s is %s, not an object",
		    o->label, pre, ex);
	}
	b->len = 0;
	rf_buf_add(b, t, at);
	if (t[at] == '}' && t[at - 1] != '{')
		rf_buf_addc(b, ',');
	for (size_t i = w->depth; i < np; i++) {
		size_t sl;
		long long idx;
		const char *s = rf_path_seg(p, i, &sl, &idx);
		if (i > w->depth)
			rf_buf_addc(b, '{');
		rf_json_addstr(b, s, sl);
		rf_buf_addc(b, ':');
	}
	rf_buf_add(b, v, vn);
	for (size_t i = w->depth + 1; i < np; i++)
		rf_buf_addc(b, '}');
	if (t[at] == '"')
		rf_buf_addc(b, ',');
	if (rf_buf_add(b, t + at, n - at) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	return 0;
}

/* Whether s[0..n) is exactly a JSON number (RFC 8259). */
static bool
is_number(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < n && s[i] == '.') {
		size_t f = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t x = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == x)
			return false;
	}
	return i == n;
}

#define FRAC_MAX 400	/* a fraction's digits: 5e-324 has 324 */

/*
 * A canonical number of seconds (unit 1) or milliseconds (1000) as an
 * RFC 3339 UTC string, exactly: decimal digits are moved, never rounded
 * through a double.  0 on success, -1 out of range.
 */
static int
epoch_string(const char *v, size_t n, int unit, char *dst, size_t cap)
{
	char dig[40], ip[FRAC_MAX + 40], fr[FRAC_MAX + 40];
	size_t nd = 0, in = 0, fn = 0, i = 0;
	long point = 0, exp10 = 0;
	bool neg = false;

	if (v[i] == '-') {
		neg = true;
		i++;
	}
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, point++)
		if (nd < sizeof dig)
			dig[nd++] = v[i];
	if (i < n && v[i] == '.')
		for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++)
			if (nd < sizeof dig)
				dig[nd++] = v[i];
	if (i < n && (v[i] == 'e' || v[i] == 'E')) {
		bool eneg = v[++i] == '-';
		if (v[i] == '+' || v[i] == '-')
			i++;
		for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
			if (exp10 < 100000)
				exp10 = exp10 * 10 + (v[i] - '0');
		if (eneg)
			exp10 = -exp10;
	}
	point += exp10 - (unit == 1000 ? 3 : 0);
	/* 253402300800 has 12 digits: a longer integer part is out of range. */
	if (point > 12 || point < -FRAC_MAX)
		return -1;
	for (long k = 0; k < point; k++)
		ip[in++] = k < (long)nd ? dig[k] : '0';
	for (long k = point; k < (long)nd; k++)
		if (fn < FRAC_MAX)
			fr[fn++] = k < 0 ? '0' : dig[k];
	while (fn > 0 && fr[fn - 1] == '0')
		fn--;
	int64_t secs = 0;
	for (size_t k = 0; k < in; k++)
		secs = secs * 10 + (ip[k] - '0');
	if (neg && fn > 0) {
		/* -1.25 is 2 seconds before 0, plus 0.75: 10^fn - fraction. */
		for (size_t k = 0; k < fn; k++)
			fr[k] = (char)('0' + (k == fn - 1 ? 10 : 9) - (fr[k] - '0'));
		secs = -secs - 1;
		while (fn > 0 && fr[fn - 1] == '0')
			fn--;
	} else if (neg)
		secs = -secs;
	if (secs < -62167219200LL || secs >= 253402300800LL)
		return -1;
	return rf_format_rfc3339(secs, fr, fn, dst, cap) > 0 ? 0 : -1;
}

/*
 * The value a cast or --utc makes of v[0..vn), into r (a JSON value), or
 * the value itself when it needs no change (*same).  RF_EDATA why not.
 */
static int
convert(const struct op *o, const char *v, size_t vn, rf_buf *r, bool *same,
    rf_err *e)
{
	char ex[64], ts[FRAC_MAX + 64];
	bool num = *v == '-' || (*v >= '0' && *v <= '9'), str = *v == '"';
	const char *s = v + 1;
	size_t sn = vn - 2;
	int64_t secs;
	const char *frac;
	size_t fn;

	*same = false;
	r->len = 0;
	excerpt(v, vn, ex, sizeof ex);
	if (o->kind == RF_MIG_UTC) {
		if (!str)
			return rf_seterr(e, RF_EDATA, "%s: %s is not a string",
			    o->label, ex);
		if (memchr(s, '\\', sn) != NULL ||
		    rf_parse_rfc3339_frac(s, sn, &secs, &frac, &fn) < 0)
			return rf_seterr(e, RF_EDATA, "%s: %s is not an RFC 3339 "
			    "timestamp", o->label, ex);
		if (rf_buf_reserve(r, sn + 16) < 0)
			return RF_ENOMEM;
		r->p[0] = '"';
		size_t k = rf_format_rfc3339(secs, frac, fn, r->p + 1,
		    r->cap - 1);
		if (k == 0)
			return rf_seterr(e, RF_EDATA, "%s: %s is out of range in "
			    "UTC", o->label, ex);
		r->p[k + 1] = '"';
		r->len = k + 2;
		*same = r->len == vn && memcmp(r->p, v, vn) == 0;
		return 0;
	}
	switch (o->type) {
	case CAST_NUMBER:
		if (num) {
			*same = true;
			return 0;
		}
		if (!str)
			break;
		if (memchr(s, '\\', sn) != NULL || !is_number(s, sn))
			return rf_seterr(e, RF_EDATA, "%s: %s is not a number",
			    o->label, ex);
		if (rf_json_canon(s, sn, r, e) < 0)
			return rf_seterr(e, RF_EDATA, "%s: %s is out of range",
			    o->label, ex);
		return 0;
	case CAST_STRING:
		if (str) {
			*same = true;
			return 0;
		}
		if (!num)
			break;
		/* Canonical already: the number as the digest sees it. */
		if (rf_buf_addc(r, '"') < 0 || rf_buf_add(r, v, vn) < 0 ||
		    rf_buf_addc(r, '"') < 0)
			return RF_ENOMEM;
		return 0;
	default:
		if (str) {
			if (memchr(s, '\\', sn) != NULL ||
			    rf_parse_rfc3339(s, sn, &secs) < 0)
				return rf_seterr(e, RF_EDATA, "%s: %s is not an "
				    "RFC 3339 timestamp", o->label, ex);
			*same = true;
			return 0;
		}
		if (!num)
			break;
		if (epoch_string(v, vn, o->type == CAST_RFC3339_MS ? 1000 : 1,
		    ts, sizeof ts) < 0)
			return rf_seterr(e, RF_EDATA, "%s: %s is out of range "
			    "(years 0000 to 9999)", o->label, ex);
		if (rf_json_addstr(r, ts, strlen(ts)) < 0)
			return RF_ENOMEM;
		return 0;
	}
	return rf_seterr(e, RF_EDATA, "%s: %s is not a string or a number",
	    o->label, ex);
}

/*
 * Applies one operation to t[0..n), into out.  Returns 1 when it wrote
 * out, 0 when the record is unchanged (out untouched), or an error.
 */
static int
apply1(const struct op *o, const char *t, size_t n, rf_buf *out, rf_buf *r,
    rf_err *e)
{
	struct where w, w2;
	size_t np = rf_path_len(o->p);
	bool same;
	int rc;

	find(t, n, o->p, &w);
	switch (o->kind) {
	case RF_MIG_DROP:
		if (w.depth < np)
			return 0;
		return cut(t, n, &w, out) < 0 ? RF_ENOMEM : 1;
	case RF_MIG_DEFAULT:
		if (w.depth == np)
			return 0;
		return (rc = put(o, o->p, t, n, &w, o->value, o->vlen, out, e)) <
		    0 ? rc : 1;
	case RF_MIG_RENAME:
		if (w.depth < np)
			return 0;
		/* Cut first: TO may lie where FROM was, as in a=a.b. */
		r->len = 0;
		if (rf_buf_add(r, t + w.vs, w.ve - w.vs) < 0 ||
		    cut(t, n, &w, out) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		/* The cut text moves to r's tail, the value stays at its head. */
		size_t vn = r->len;
		if (rf_buf_add(r, out->p, out->len) < 0)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		const char *u = r->p + vn;
		size_t un = r->len - vn;
		find(u, un, o->q, &w2);
		if (w2.depth == rf_path_len(o->q)) {
			char to[120];
			prefix(o->q, w2.depth, to, sizeof to);
			return rf_seterr(e, RF_EDATA, "%s: %s already exists",
			    o->label, to);
		}
		return (rc = put(o, o->q, u, un, &w2, r->p, vn, out, e)) < 0 ?
		    rc : 1;
	default:
		if (w.depth < np || t[w.vs] == 'n')
			return 0;
		if ((rc = convert(o, t + w.vs, w.ve - w.vs, r, &same, e)) < 0)
			return rc == RF_ENOMEM ?
			    rf_seterr(e, RF_ENOMEM, "out of memory") : rc;
		if (same)
			return 0;
		return splice(t, n, w.vs, w.ve, r->p, r->len, out) < 0 ?
		    rf_seterr(e, RF_ENOMEM, "out of memory") : 1;
	}
}

int
rf_migrate_apply(const rf_migrate *m, const char *rec, size_t n,
    rf_buf *out, rf_buf tmp[3], rf_err *e)
{
	rf_buf *cur = &tmp[0], *next = &tmp[1], *r = &tmp[2];
	int rc = 0;

	cur->len = 0;
	if ((rc = rf_json_canon(rec, n, cur, e)) < 0)
		return rc;
	for (size_t i = 0; i < m->n; i++) {
		if ((rc = apply1(&m->op[i], cur->p, cur->len, next, r, e)) < 0)
			break;
		if (rc == 1) {
			rf_buf *x = cur;
			cur = next;
			next = x;
		}
		rc = 0;
	}
	if (rc == 0 && rf_buf_add(out, cur->p, cur->len) < 0)
		rc = rf_seterr(e, RF_ENOMEM, "out of memory");
	return rc;
}
