/*
 * Schemas inferred from records (refill-schema(5)), and how two of them
 * compare for compatibility.
 *
 * A schema is a tree with a node for each field path: a member of an
 * object is a child by name, the elements of an array are one child of
 * their own.  Records of one shape meet the same members in the same
 * order, so a child is looked for first where the member's position says.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refill.h"

enum { T_NULL, T_BOOL, T_INT, T_NUM, T_STR, T_ARR, T_OBJ, NT };
static const char *const tname[NT] = { "null", "boolean", "integer", "number",
	"string", "array", "object" };

struct sval {
	char *s;
	size_t n;
	uint64_t count;
};

struct node {
	char *name;		/* decoded; NULL for the elements of an array */
	size_t nlen;
	uint64_t t[NT];		/* values seen, by type */
	bool hasnum;
	double min, max;
	struct sval *v;		/* distinct strings, while there are few */
	size_t nv, capv;
	bool open;		/* too many, or too long, to keep */
	struct node **kid;	/* members, in the order first seen */
	size_t nkid, capkid;
	uint32_t *tab;		/* index + 1 into kid by name, once many */
	size_t tabcap;
	struct node *el;
};

struct rf_schema {
	struct node root;
	size_t nodes, max_fields, max_values;
	uint64_t records, unrecorded;
	rf_buf tmp;		/* a decoded name or string, a number's text */
};

#define TAB_MIN 8	/* members before a node looks them up by hash */

static uint32_t
hashname(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static bool
name_eq(const struct node *k, const char *s, size_t n)
{
	return k->nlen == n && (n == 0 || memcmp(k->name, s, n) == 0);
}

static void
node_free(struct node *nd)
{
	for (size_t i = 0; i < nd->nkid; i++) {
		node_free(nd->kid[i]);
		free(nd->kid[i]);
	}
	if (nd->el != NULL) {
		node_free(nd->el);
		free(nd->el);
	}
	for (size_t i = 0; i < nd->nv; i++)
		free(nd->v[i].s);
	free(nd->v);
	free(nd->kid);
	free(nd->tab);
	free(nd->name);
	memset(nd, 0, sizeof *nd);
}

int
rf_schema_new(size_t max_fields, size_t max_values, rf_schema **out,
    rf_err *e)
{
	rf_schema *s = calloc(1, sizeof *s);

	if (s == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	s->max_fields = max_fields;
	s->max_values = max_values;
	*out = s;
	return 0;
}

void
rf_schema_clear(rf_schema *s)
{
	node_free(&s->root);
	s->nodes = 0;
	s->records = s->unrecorded = 0;
}

void
rf_schema_free(rf_schema *s)
{
	if (s == NULL)
		return;
	node_free(&s->root);
	rf_buf_free(&s->tmp);
	free(s);
}

uint64_t
rf_schema_records(const rf_schema *s)
{
	return s->records;
}

uint64_t
rf_schema_unrecorded(const rf_schema *s)
{
	return s->unrecorded;
}

static int
tab_build(struct node *p)
{
	size_t cap = 16;

	while (cap < 2 * p->nkid)
		cap *= 2;
	uint32_t *t = calloc(cap, sizeof *t);
	if (t == NULL)
		return RF_ENOMEM;
	for (size_t i = 0; i < p->nkid; i++) {
		size_t h = hashname(p->kid[i]->name, p->kid[i]->nlen) & (cap - 1);
		while (t[h] != 0)
			h = (h + 1) & (cap - 1);
		t[h] = (uint32_t)i + 1;
	}
	free(p->tab);
	p->tab = t;
	p->tabcap = cap;
	return 0;
}

static struct node *
kid_find(const struct node *p, const char *s, size_t n, size_t hint)
{
	if (hint < p->nkid && name_eq(p->kid[hint], s, n))
		return p->kid[hint];
	if (p->tab == NULL) {
		for (size_t i = 0; i < p->nkid; i++)
			if (name_eq(p->kid[i], s, n))
				return p->kid[i];
		return NULL;
	}
	for (size_t h = hashname(s, n) & (p->tabcap - 1); p->tab[h] != 0;
	    h = (h + 1) & (p->tabcap - 1))
		if (name_eq(p->kid[p->tab[h] - 1], s, n))
			return p->kid[p->tab[h] - 1];
	return NULL;
}

/*
 * The child named s of p, made if need be: 0 with *out, 1 when the bound
 * on fields leaves no room for it, or RF_ENOMEM.
 */
static int
kid_get(rf_schema *sc, struct node *p, const char *s, size_t n, size_t hint,
    struct node **out)
{
	struct node *k;

	if ((*out = kid_find(p, s, n, hint)) != NULL)
		return 0;
	if (sc->nodes >= sc->max_fields)
		return 1;
	if (p->nkid == p->capkid) {
		size_t nc = p->capkid ? 2 * p->capkid : 4;
		struct node **nk = realloc(p->kid, nc * sizeof *nk);
		if (nk == NULL)
			return RF_ENOMEM;
		p->kid = nk;
		p->capkid = nc;
	}
	if ((k = calloc(1, sizeof *k)) == NULL ||
	    (k->name = malloc(n ? n : 1)) == NULL) {
		free(k);
		return RF_ENOMEM;
	}
	if (n > 0)
		memcpy(k->name, s, n);
	k->nlen = n;
	p->kid[p->nkid++] = k;
	sc->nodes++;
	if (p->nkid >= TAB_MIN && (p->tab == NULL || 2 * p->nkid > p->tabcap)) {
		if (tab_build(p) < 0)
			return RF_ENOMEM;
	} else if (p->tab != NULL) {
		size_t h = hashname(s, n) & (p->tabcap - 1);
		while (p->tab[h] != 0)
			h = (h + 1) & (p->tabcap - 1);
		p->tab[h] = (uint32_t)p->nkid;
	}
	*out = k;
	return 0;
}

static int
el_get(rf_schema *sc, struct node *p, struct node **out)
{
	if ((*out = p->el) != NULL)
		return 0;
	if (sc->nodes >= sc->max_fields)
		return 1;
	if ((p->el = calloc(1, sizeof *p->el)) == NULL)
		return RF_ENOMEM;
	sc->nodes++;
	*out = p->el;
	return 0;
}

static void
open_values(struct node *nd)
{
	for (size_t i = 0; i < nd->nv; i++)
		free(nd->v[i].s);
	free(nd->v);
	nd->v = NULL;
	nd->nv = nd->capv = 0;
	nd->open = true;
}

/* Counts count more of the string s at nd, while nd keeps its strings. */
static int
add_sval(const rf_schema *sc, struct node *nd, const char *s, size_t n,
    uint64_t count)
{
	if (nd->open)
		return 0;
	if (n > RF_SCHEMA_VALUE_MAX) {
		open_values(nd);
		return 0;
	}
	for (size_t i = 0; i < nd->nv; i++)
		if (nd->v[i].n == n && (n == 0 || memcmp(nd->v[i].s, s, n) == 0)) {
			nd->v[i].count += count;
			return 0;
		}
	if (nd->nv >= sc->max_values) {
		open_values(nd);
		return 0;
	}
	if (nd->nv == nd->capv) {
		size_t nc = nd->capv ? 2 * nd->capv : 4;
		struct sval *nv = realloc(nd->v, nc * sizeof *nv);
		if (nv == NULL)
			return RF_ENOMEM;
		nd->v = nv;
		nd->capv = nc;
	}
	struct sval *v = &nd->v[nd->nv];
	if ((v->s = malloc(n ? n : 1)) == NULL)
		return RF_ENOMEM;
	if (n > 0)
		memcpy(v->s, s, n);
	v->n = n;
	v->count = count;
	nd->nv++;
	return 0;
}

/*
 * Whether a number token stands for an integer: 1.0, 1e3 and 100e-2 do,
 * 1.5 and 1e-3 do not.  Read from the digits, as no double is exact.
 */
static bool
integral(const char *t, size_t n)
{
	const char *p = t, *end = t + n, *i0, *i1, *f0, *f1;
	long long ex = 0;

	if (p < end && *p == '-')
		p++;
	for (i0 = p; p < end && *p >= '0' && *p <= '9'; p++)
		;
	i1 = f0 = f1 = p;
	if (p < end && *p == '.') {
		for (f0 = ++p; p < end && *p >= '0' && *p <= '9'; p++)
			;
		f1 = p;
	}
	if (p < end) {		/* e or E */
		bool neg = false;
		if (++p < end && (*p == '+' || *p == '-'))
			neg = *p++ == '-';
		for (; p < end; p++)
			if (ex < 1000000000LL)
				ex = ex * 10 + (*p - '0');
		if (neg)
			ex = -ex;
	}
	while (f1 > f0 && f1[-1] == '0')
		f1--;
	long long shift = ex - (f1 - f0);
	if (f1 == f0) {
		/* The digits are the integer part's: its zeros count too. */
		const char *q = i1;
		while (q > i0 && q[-1] == '0')
			q--;
		if (q == i0)
			return true;
		shift += i1 - q;
	}
	return shift >= 0;
}

static int
number_value(rf_schema *sc, const char *t, size_t n, double *d)
{
	/*
	 * Most numbers have at most 15 digits and no exponent: the digits
	 * as an integer and a power of ten are exact doubles, and one
	 * division of two exact doubles is rounded correctly, as strtod is.
	 */
	if (n <= 16) {
		static const double pow10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
			1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
		size_t i = t[0] == '-', frac = 0, digits = 0;
		bool point = false;
		long long v = 0;
		for (; i < n; i++) {
			if (t[i] == '.' && !point) {
				point = true;
				continue;
			}
			if (t[i] < '0' || t[i] > '9')
				break;
			v = v * 10 + (t[i] - '0');
			digits++;
			frac += point;
		}
		if (i == n && digits <= 15) {
			double x = (double)v / pow10[frac];
			*d = t[0] == '-' ? -x : x;
			return 0;
		}
	}
	/* strtod needs a terminated copy: a record is not. */
	sc->tmp.len = 0;
	if (rf_buf_add(&sc->tmp, t, n) < 0 || rf_buf_addc(&sc->tmp, '\0') < 0)
		return RF_ENOMEM;
	*d = strtod(sc->tmp.p, NULL);
	return 0;
}

static void
add_num(struct node *nd, double d)
{
	if (d == 0)
		d = 0;		/* -0 is 0 */
	if (!nd->hasnum) {
		nd->min = nd->max = d;
		nd->hasnum = true;
	} else if (d < nd->min)
		nd->min = d;
	else if (d > nd->max)
		nd->max = d;
}

/* A token's text decoded, when it has escapes; else its bytes. */
static int
decoded(rf_schema *sc, const char *tok, size_t tn, const char **s, size_t *n)
{
	*s = tok + 1;
	*n = tn - 2;
	if (memchr(*s, '\\', *n) == NULL)
		return 0;
	sc->tmp.len = 0;
	if (rf_json_unescape(tok, tn, &sc->tmp) < 0)
		return RF_ENOMEM;
	*s = sc->tmp.p;
	*n = sc->tmp.len;
	return 0;
}

static const char *
ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The end of the string token at p, in a validated record. */
static const char *
str_end(const char *p, const char *end, bool *esc)
{
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			*esc = true;
			p++;
		}
	}
	return end;
}

/*
 * Counts the value at p into nd (or, for a path past the bound, only
 * steps over it: nd is NULL) and sets *next past it.  One pass over the
 * bytes: a nested value is not found first and then read again.
 */
static int
walk(rf_schema *sc, struct node *nd, const char *p, const char *end,
    const char **next)
{
	struct node *kid;
	const char *s;
	size_t sn, i = 0;
	bool esc = false;
	int rc;
	double d;

	switch (*p) {
	case 'n':
	case 't':
	case 'f':
		if (nd != NULL)
			nd->t[*p == 'n' ? T_NULL : T_BOOL]++;
		*next = p + (*p == 'f' ? 5 : 4);
		return 0;
	case '"':
		*next = str_end(p, end, &esc);
		if (nd == NULL)
			return 0;
		nd->t[T_STR]++;
		if (nd->open)
			return 0;
		if (!esc) {
			s = p + 1;
			sn = *next - p - 2;
		} else if ((rc = decoded(sc, p, *next - p, &s, &sn)) < 0)
			return rc;
		return add_sval(sc, nd, s, sn, 1);
	case '[':
		if (nd != NULL)
			nd->t[T_ARR]++;
		p = ws(p + 1, end);
		while (p < end && *p != ']') {
			kid = NULL;
			if (nd != NULL && (rc = el_get(sc, nd, &kid)) != 0) {
				if (rc < 0)
					return rc;
				sc->unrecorded++;
			}
			if ((rc = walk(sc, kid, p, end, &p)) < 0)
				return rc;
			p = ws(p, end);
			if (p < end && *p == ',')
				p = ws(p + 1, end);
		}
		*next = p + 1;
		return 0;
	case '{':
		if (nd != NULL)
			nd->t[T_OBJ]++;
		p = ws(p + 1, end);
		while (p < end && *p == '"') {
			const char *ke;
			esc = false;
			ke = str_end(p, end, &esc);
			kid = NULL;
			if (nd != NULL) {
				if (!esc) {
					s = p + 1;
					sn = ke - p - 2;
				} else if ((rc = decoded(sc, p, ke - p, &s, &sn)) < 0)
					return rc;
				if ((rc = kid_get(sc, nd, s, sn, i++, &kid)) < 0)
					return rc;
				if (rc == 1)
					sc->unrecorded++;
			}
			p = ws(ws(ke, end) + 1, end);	/* past the ':' */
			if ((rc = walk(sc, kid, p, end, &p)) < 0)
				return rc;
			p = ws(p, end);
			if (p < end && *p == ',')
				p = ws(p + 1, end);
		}
		*next = p + 1;
		return 0;
	default:
		s = p;
		while (p < end && ((*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '+' || *p == '.' || *p == 'e' || *p == 'E'))
			p++;
		*next = p;
		if (nd == NULL)
			return 0;
		nd->t[integral(s, p - s) ? T_INT : T_NUM]++;
		if ((rc = number_value(sc, s, p - s, &d)) < 0)
			return rc;
		add_num(nd, d);
		return 0;
	}
}

int
rf_schema_add(rf_schema *s, const char *rec, size_t len)
{
	rf_json_trim(&rec, &len);
	const char *next;
	s->records++;
	return len == 0 ? 0 : walk(s, &s->root, rec, rec + len, &next);
}

static uint64_t
present(const struct node *nd)
{
	uint64_t n = 0;

	for (int i = 0; i < NT; i++)
		n += nd->t[i];
	return n;
}

static int
merge_node(rf_schema *sc, struct node *a, const struct node *b)
{
	struct node *k;
	int rc;

	for (int i = 0; i < NT; i++)
		a->t[i] += b->t[i];
	if (b->hasnum) {
		add_num(a, b->min);
		add_num(a, b->max);
	}
	if (b->open)
		open_values(a);
	for (size_t i = 0; i < b->nv && !a->open; i++)
		if ((rc = add_sval(sc, a, b->v[i].s, b->v[i].n,
		    b->v[i].count)) < 0)
			return rc;
	if (b->el != NULL) {
		if ((rc = el_get(sc, a, &k)) < 0)
			return rc;
		if (rc == 1)
			sc->unrecorded += present(b->el);
		else if ((rc = merge_node(sc, k, b->el)) < 0)
			return rc;
	}
	for (size_t i = 0; i < b->nkid; i++) {
		const struct node *bk = b->kid[i];
		if ((rc = kid_get(sc, a, bk->name, bk->nlen, i, &k)) < 0)
			return rc;
		if (rc == 1)
			sc->unrecorded += present(bk);
		else if ((rc = merge_node(sc, k, bk)) < 0)
			return rc;
	}
	return 0;
}

int
rf_schema_merge(rf_schema *into, const rf_schema *from)
{
	into->records += from->records;
	into->unrecorded += from->unrecorded;
	return merge_node(into, &into->root, &from->root);
}

/* ---- the document ------------------------------------------------------ */

/* A name written bare in a path; any other is written ["name"]. */
static bool
bare(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || c == '.' || c == '[' || c == ']' ||
		    c == '"' || c == '\\' || c == ':')
			return false;
	}
	return true;
}

/* Appends the step to nd (a member named name, or the elements). */
static int
path_add(rf_buf *p, const struct node *nd)
{
	if (nd->name == NULL)
		return rf_buf_adds(p, "[]");
	if (bare(nd->name, nd->nlen)) {
		if (p->len > 0 && rf_buf_addc(p, '.') < 0)
			return RF_ENOMEM;
		return rf_buf_add(p, nd->name, nd->nlen);
	}
	if (rf_buf_addc(p, '[') < 0 ||
	    rf_json_addstr(p, nd->name, nd->nlen) < 0)
		return RF_ENOMEM;
	return rf_buf_addc(p, ']');
}

static void
addu(rf_buf *b, const char *key, uint64_t v)
{
	char t[48];

	snprintf(t, sizeof t, "\"%s\":%llu,", key, (unsigned long long)v);
	rf_buf_adds(b, t);
}

static void
add_types(rf_buf *b, const uint64_t t[NT])
{
	rf_buf_adds(b, "\"types\":{");
	for (int i = 0, first = 1; i < NT; i++)
		if (t[i] > 0) {
			if (!first)
				rf_buf_addc(b, ',');
			first = 0;
			rf_buf_addc(b, '"');
			rf_buf_adds(b, tname[i]);
			rf_buf_adds(b, "\":");
			char n[24];
			snprintf(n, sizeof n, "%llu", (unsigned long long)t[i]);
			rf_buf_adds(b, n);
		}
	rf_buf_addc(b, '}');
}

/* The field nd (whose parent is par), then the fields under it. */
static int
format_node(rf_buf *b, rf_buf *path, const struct node *par,
    const struct node *nd)
{
	size_t mark = path->len;
	char num[32];

	if (path_add(path, nd) < 0 || rf_json_addstr(b, path->p, path->len) < 0)
		return RF_ENOMEM;
	rf_buf_adds(b, ":{");
	if (nd->name != NULL)
		addu(b, "missing", par->t[T_OBJ] - present(nd));
	addu(b, "present", present(nd));
	if (nd->hasnum) {
		rf_buf_adds(b, "\"min\":");
		rf_buf_add(b, num, rf_fmt_double(nd->min, num));
		rf_buf_adds(b, ",\"max\":");
		rf_buf_add(b, num, rf_fmt_double(nd->max, num));
		rf_buf_addc(b, ',');
	}
	if (nd->t[T_STR] > 0 && !nd->open) {
		rf_buf_adds(b, "\"values\":{");
		for (size_t i = 0; i < nd->nv; i++) {
			if (i > 0)
				rf_buf_addc(b, ',');
			rf_json_addstr(b, nd->v[i].s, nd->v[i].n);
			snprintf(num, sizeof num, ":%llu",
			    (unsigned long long)nd->v[i].count);
			rf_buf_adds(b, num);
		}
		rf_buf_adds(b, "},");
	}
	add_types(b, nd->t);
	if (rf_buf_addc(b, '}') < 0)
		return RF_ENOMEM;
	if (nd->el != NULL) {
		rf_buf_addc(b, ',');
		if (format_node(b, path, nd, nd->el) < 0)
			return RF_ENOMEM;
	}
	for (size_t i = 0; i < nd->nkid; i++) {
		rf_buf_addc(b, ',');
		if (format_node(b, path, nd, nd->kid[i]) < 0)
			return RF_ENOMEM;
	}
	path->len = mark;
	return 0;
}

int
rf_schema_format(const rf_schema *s, rf_buf *out, rf_err *e)
{
	rf_buf b = { 0 }, path = { 0 };
	int rc = 0;
	bool first = true;

	rf_buf_adds(&b, "{\"format\":\"" RF_SCHEMA_FORMAT "\",");
	addu(&b, "records", s->records);
	addu(&b, "unrecorded", s->unrecorded);
	rf_buf_adds(&b, "\"limits\":{");
	addu(&b, "fields", s->max_fields);
	addu(&b, "values", s->max_values);
	b.len--;
	rf_buf_adds(&b, "},");
	add_types(&b, s->root.t);
	rf_buf_adds(&b, ",\"fields\":{");
	if (s->root.el != NULL) {
		rc = format_node(&b, &path, &s->root, s->root.el);
		first = false;
	}
	for (size_t i = 0; rc == 0 && i < s->root.nkid; i++) {
		if (!first)
			rf_buf_addc(&b, ',');
		first = false;
		rc = format_node(&b, &path, &s->root, s->root.kid[i]);
	}
	if (rc == 0 && rf_buf_adds(&b, "}}") < 0)
		rc = RF_ENOMEM;
	/* Canonical form sorts the members: one text for one schema. */
	size_t mark = out->len;
	if (rc == 0 && (rc = rf_json_canon(b.p, b.len, out, e)) == 0 &&
	    rf_buf_addc(out, '\n') < 0) {
		out->len = mark;
		rc = RF_ENOMEM;
	}
	rf_buf_free(&b);
	rf_buf_free(&path);
	return rc == RF_ENOMEM ? rf_seterr(e, rc, "out of memory") : rc;
}

/* ---- reading a document ------------------------------------------------ */

struct reader {
	rf_schema *s;
	const char *name;
	rf_err *e;
	rf_buf t;
};

static int
rbad(struct reader *r, const char *field, const char *what)
{
	if (field != NULL)
		return rf_seterr(r->e, RF_EDATA, "%s: field %.100s: %s", r->name,
		    field, what);
	return rf_seterr(r->e, RF_EDATA, "%s: %s", r->name, what);
}

/* A member of an object value, or NULL. */
static bool
u64_of(const char *v, size_t vn, uint64_t *out)
{
	char t[24];

	if (vn == 0 || vn >= sizeof t || v[0] == '-')
		return false;
	memcpy(t, v, vn);
	t[vn] = '\0';
	return rf_parse_uint(t, 0, UINT64_MAX, out) == 0;
}

static bool
isnum(const char *v)
{
	return *v == '-' || (*v >= '0' && *v <= '9');
}

static int
read_types(struct reader *r, const char *field, const char *v, size_t vn,
    uint64_t t[NT])
{
	const char *k, *mv;
	size_t pos = 0, kn, mn;
	int rc;

	if (v[0] != '{')
		return rbad(r, field, "\"types\" is not an object");
	while ((rc = rf_json_next(v, vn, &pos, &k, &kn, &mv, &mn)) > 0) {
		int i;
		for (i = 0; i < NT; i++)
			if (rf_json_name_is(k, kn, tname[i]))
				break;
		if (i == NT)
			return rbad(r, field, "an unknown type");
		if (!u64_of(mv, mn, &t[i]))
			return rbad(r, field, "a type's count is not a count");
	}
	return 0;
}

/* The node of a path, made along the way. */
static int
path_node(struct reader *r, const char *p, size_t n, struct node **out)
{
	struct node *nd = &r->s->root;
	size_t i = 0;
	int rc;

	if (n == 0)
		return rbad(r, "\"\"", "an empty path");
	while (i < n) {
		const char *nm;
		size_t nn;
		if (p[i] == '[' && i + 1 < n && p[i + 1] == ']') {
			if ((rc = el_get(r->s, nd, &nd)) != 0)
				return rc < 0 ? rc : rbad(r, NULL, "too many fields");
			i += 2;
			continue;
		}
		if (p[i] == '[' && i + 1 < n && p[i + 1] == '"') {
			size_t q = i + 2;
			while (q < n && p[q] != '"')
				q += p[q] == '\\' ? 2 : 1;
			rf_err ignored;
			if (q >= n || q + 1 >= n || p[q + 1] != ']' ||
			    rf_json_validate(p + i + 1, q - i, &ignored) < 0)
				return rbad(r, NULL, "a malformed field path");
			r->t.len = 0;
			if (rf_json_unescape(p + i + 1, q - i, &r->t) < 0)
				return RF_ENOMEM;
			nm = r->t.p;
			nn = r->t.len;
			i = q + 2;
		} else {
			if (i > 0 && p[i++] != '.')
				return rbad(r, NULL, "a malformed field path");
			size_t j = i;
			while (j < n && p[j] != '.' && p[j] != '[')
				j++;
			if (!bare(p + i, j - i))
				return rbad(r, NULL, "a malformed field path");
			nm = p + i;
			nn = j - i;
			i = j;
		}
		if ((rc = kid_get(r->s, nd, nm, nn, SIZE_MAX, &nd)) != 0)
			return rc < 0 ? rc : rbad(r, NULL, "too many fields");
	}
	*out = nd;
	return 0;
}

static int
read_field(struct reader *r, const char *key, size_t kn, const char *v,
    size_t vn)
{
	struct node *nd = NULL;
	const char *mv, *k, *sv;
	size_t mn, pos = 0, skn, svn;
	char field[128];
	int rc;

	r->t.len = 0;
	if (rf_json_unescape(key, kn, &r->t) < 0)
		return RF_ENOMEM;
	snprintf(field, sizeof field, "%.*s", (int)(r->t.len < 100 ?
	    r->t.len : 100), r->t.len ? r->t.p : "");
	if (v[0] != '{')
		return rbad(r, field, "not an object");
	/* path_node decodes into r->t: a copy of the path first. */
	char *path = malloc(r->t.len ? r->t.len : 1);
	if (path == NULL)
		return RF_ENOMEM;
	size_t pn = r->t.len;
	if (pn > 0)
		memcpy(path, r->t.p, pn);
	rc = path_node(r, path, pn, &nd);
	free(path);
	if (rc < 0)
		return rc;
	if (!rf_json_member(v, vn, "types", &mv, &mn))
		return rbad(r, field, "no \"types\"");
	if ((rc = read_types(r, field, mv, mn, nd->t)) < 0)
		return rc;
	const char *lo, *hi;
	size_t lon, hin;
	bool hasmin = rf_json_member(v, vn, "min", &lo, &lon);
	if (hasmin != rf_json_member(v, vn, "max", &hi, &hin) ||
	    hasmin != (nd->t[T_INT] + nd->t[T_NUM] > 0) || (hasmin &&
	    (!isnum(lo) || !isnum(hi))))
		return rbad(r, field, "\"min\" and \"max\" go with numbers");
	if (hasmin && ((rc = number_value(r->s, lo, lon, &nd->min)) < 0 ||
	    (rc = number_value(r->s, hi, hin, &nd->max)) < 0))
		return rc;
	nd->hasnum = hasmin;
	if (!rf_json_member(v, vn, "values", &mv, &mn)) {
		nd->open = nd->t[T_STR] > 0;
		return 0;
	}
	if (mv[0] != '{')
		return rbad(r, field, "\"values\" is not an object");
	while ((rc = rf_json_next(mv, mn, &pos, &k, &skn, &sv, &svn)) > 0) {
		uint64_t c;
		if (!u64_of(sv, svn, &c))
			return rbad(r, field, "a value's count is not a count");
		r->t.len = 0;
		if (rf_json_unescape(k, skn, &r->t) < 0)
			return RF_ENOMEM;
		/* A document may hold more than this reader keeps. */
		size_t keep = r->s->max_values;
		r->s->max_values = SIZE_MAX / 2;
		rc = add_sval(r->s, nd, r->t.p, r->t.len, c);
		r->s->max_values = keep;
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
rf_schema_parse(const char *buf, size_t len, const char *name,
    rf_schema **out, rf_err *e)
{
	struct reader r = { .name = name, .e = e };
	const char *v, *mv, *k, *fv;
	size_t vn, mn, pos = 0, kn, fn;
	uint64_t u;
	int rc;

	*out = NULL;
	if (rf_json_validate(buf, len, e) < 0) {
		char why[sizeof e->msg];
		snprintf(why, sizeof why, "%s", e->msg);
		return rf_seterr(e, RF_EDATA, "%s: %s", name, why);
	}
	if ((rc = rf_schema_new(RF_SCHEMA_FIELDS_DEFAULT,
	    RF_SCHEMA_VALUES_DEFAULT, &r.s, e)) < 0)
		return rc;
	v = buf;
	vn = len;
	rf_json_trim(&v, &vn);
	if (vn == 0 || v[0] != '{' || !rf_json_member(v, vn, "format", &mv, &mn) ||
	    mn != strlen(RF_SCHEMA_FORMAT) + 2 ||
	    memcmp(mv + 1, RF_SCHEMA_FORMAT, mn - 2) != 0) {
		rc = rbad(&r, NULL, "not a " RF_SCHEMA_FORMAT " document");
		goto out;
	}
	if (!rf_json_member(v, vn, "records", &mv, &mn) ||
	    !u64_of(mv, mn, &r.s->records)) {
		rc = rbad(&r, NULL, "no count of \"records\"");
		goto out;
	}
	if (rf_json_member(v, vn, "unrecorded", &mv, &mn) &&
	    !u64_of(mv, mn, &r.s->unrecorded)) {
		rc = rbad(&r, NULL, "a bad \"unrecorded\"");
		goto out;
	}
	if (rf_json_member(v, vn, "limits", &mv, &mn) && mv[0] == '{') {
		const char *lv;
		size_t ln;
		if (rf_json_member(mv, mn, "fields", &lv, &ln) && u64_of(lv, ln, &u))
			r.s->max_fields = u < SIZE_MAX / 2 ? u : SIZE_MAX / 2;
		if (rf_json_member(mv, mn, "values", &lv, &ln) && u64_of(lv, ln, &u))
			r.s->max_values = u < 1u << 20 ? u : 1u << 20;
	}
	if (rf_json_member(v, vn, "types", &mv, &mn) &&
	    (rc = read_types(&r, NULL, mv, mn, r.s->root.t)) < 0)
		goto out;
	if (!rf_json_member(v, vn, "fields", &mv, &mn) || mv[0] != '{') {
		rc = rbad(&r, NULL, "no \"fields\" object");
		goto out;
	}
	/* What a document lists is all kept, whatever its limits say. */
	size_t keep = r.s->max_fields;
	r.s->max_fields = SIZE_MAX;
	while ((rc = rf_json_next(mv, mn, &pos, &k, &kn, &fv, &fn)) > 0)
		if ((rc = read_field(&r, k, kn, fv, fn)) < 0)
			break;
	r.s->max_fields = keep;
out:
	rf_buf_free(&r.t);
	if (rc < 0) {
		rf_schema_free(r.s);
		return rc == RF_ENOMEM ? rf_seterr(e, rc, "out of memory") : rc;
	}
	*out = r.s;
	return 0;
}

/* ---- compatibility ----------------------------------------------------- */

int
rf_compat_parse(const char *s)
{
	for (int m = 0; m <= RF_COMPAT_FULL; m++)
		if (strcmp(s, rf_compat_name(m)) == 0)
			return m;
	return -1;
}

const char *
rf_compat_name(int mode)
{
	static const char *const names[] = { "none", "backward", "forward",
		"full" };

	return mode >= 0 && mode <= RF_COMPAT_FULL ? names[mode] : "?";
}

bool
rf_compat_breaks(int mode, const rf_change *c)
{
	return ((mode & RF_COMPAT_BACKWARD) && !c->backward) ||
	    ((mode & RF_COMPAT_FORWARD) && !c->forward);
}

struct compat {
	int (*cb)(const rf_change *, void *);
	void *arg;
	long n;
	rf_buf path, detail;
};

static int
report(struct compat *c, const char *what, bool backward, bool forward)
{
	rf_change ch = { .what = what, .backward = backward,
		.forward = forward };

	if (rf_buf_addc(&c->path, '\0') < 0 || rf_buf_addc(&c->detail, '\0') < 0)
		return RF_ENOMEM;
	c->path.len--;
	c->detail.len--;
	ch.path = c->path.p;
	ch.detail = c->detail.p;
	c->n++;
	return c->cb != NULL ? c->cb(&ch, c->arg) : 0;
}

/* The types of nd but null, integer folded into number. */
static unsigned
typeset(const struct node *nd)
{
	unsigned m = 0;

	for (int i = T_BOOL; i < NT; i++)
		if (nd->t[i] > 0)
			m |= 1u << i;
	if (m & (1u << T_NUM))
		m &= ~(1u << T_INT);
	return m;
}

/* Whether every type of a is one of b's: an integer is a number. */
static bool
within(unsigned a, unsigned b)
{
	if (b & (1u << T_NUM))
		b |= 1u << T_INT;
	return (a & ~b) == 0;
}

static int
types_text(rf_buf *b, unsigned m)
{
	bool first = true;

	if (m == 0)
		return rf_buf_adds(b, "no type but null");
	for (int i = 0; i < NT; i++)
		if (m & (1u << i)) {
			if (!first && rf_buf_adds(b, " or ") < 0)
				return RF_ENOMEM;
			first = false;
			if (rf_buf_adds(b, tname[i]) < 0)
				return RF_ENOMEM;
		}
	return 0;
}

/* The strings one side keeps that the other does not, in b. */
static int
values_missing(rf_buf *b, const struct node *x, const struct node *y)
{
	size_t n = 0;

	for (size_t i = 0; i < x->nv; i++) {
		bool found = false;
		for (size_t j = 0; j < y->nv && !found; j++)
			found = x->v[i].n == y->v[j].n && (x->v[i].n == 0 ||
			    memcmp(x->v[i].s, y->v[j].s, x->v[i].n) == 0);
		if (found)
			continue;
		if ((n++ > 0 && rf_buf_adds(b, ", ") < 0) ||
		    rf_json_addstr(b, x->v[i].s, x->v[i].n) < 0)
			return RF_ENOMEM;
	}
	return (int)(n > 0);
}

static int compat_node(struct compat *c, const struct node *op,
    const struct node *o, const struct node *np, const struct node *n,
    const struct node *named);

static int
namecmp(const void *x, const void *y)
{
	const struct node *a = *(const struct node *const *)x;
	const struct node *b = *(const struct node *const *)y;
	size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
	int r = n ? memcmp(a->name, b->name, n) : 0;

	return r != 0 ? r : (a->nlen > b->nlen) - (a->nlen < b->nlen);
}

/* The fields under o and n, by name; elements first. */
static int
compat_kids(struct compat *c, const struct node *o, const struct node *n)
{
	size_t no = o ? o->nkid : 0, nn = n ? n->nkid : 0, k = 0;
	int rc = 0;

	if ((o && o->el) || (n && n->el))
		if ((rc = compat_node(c, o, o ? o->el : NULL, n,
		    n ? n->el : NULL, o && o->el ? o->el : n->el)) < 0)
			return rc;
	if (no + nn == 0)
		return 0;
	const struct node **all = malloc((no + nn) * sizeof *all);
	if (all == NULL)
		return RF_ENOMEM;
	for (size_t i = 0; i < no; i++)
		all[k++] = o->kid[i];
	for (size_t i = 0; i < nn; i++)
		if (o == NULL || kid_find(o, n->kid[i]->name, n->kid[i]->nlen,
		    SIZE_MAX) == NULL)
			all[k++] = n->kid[i];
	qsort(all, k, sizeof *all, namecmp);
	for (size_t i = 0; i < k && rc >= 0; i++) {
		const struct node *x = all[i];
		const struct node *a = o ? kid_find(o, x->name, x->nlen, SIZE_MAX) :
		    NULL;
		const struct node *b = n ? kid_find(n, x->name, x->nlen, SIZE_MAX) :
		    NULL;
		rc = compat_node(c, o, a, n, b, x);
	}
	free(all);
	return rc;
}

static uint64_t
missing(const struct node *par, const struct node *nd)
{
	return nd->name == NULL ? 0 : par->t[T_OBJ] - present(nd);
}

static int
compat_node(struct compat *c, const struct node *op, const struct node *o,
    const struct node *np, const struct node *n, const struct node *named)
{
	size_t mark = c->path.len;
	int rc;

	if (path_add(&c->path, named) < 0)
		return RF_ENOMEM;
	c->detail.len = 0;
	if (o == NULL) {
		/* New readers need it in old data only if it is always there. */
		bool always = missing(np, n) == 0 && n->name != NULL;
		rc = report(c, always ? "added field that is always present" :
		    "added optional field", !always, true);
		goto out;
	}
	if (n == NULL) {
		bool always = missing(op, o) == 0 && o->name != NULL;
		rc = report(c, always ? "removed field that was always present" :
		    "removed optional field", true, !always);
		goto out;
	}
	uint64_t om = missing(op, o), nm = missing(np, n);
	if (om == 0 && nm > 0 && (rc = report(c, "became optional", true,
	    false)) < 0)
		goto out;
	if (om > 0 && nm == 0 && (rc = report(c, "became always present",
	    false, true)) < 0)
		goto out;
	if (o->t[T_NULL] == 0 && n->t[T_NULL] > 0 &&
	    (rc = report(c, "became nullable", true, false)) < 0)
		goto out;
	if (o->t[T_NULL] > 0 && n->t[T_NULL] == 0 &&
	    (rc = report(c, "lost its nulls", false, true)) < 0)
		goto out;
	unsigned ot = typeset(o), nt = typeset(n);
	if (ot != nt) {
		bool wider = within(ot, nt), narrower = within(nt, ot);
		c->detail.len = 0;
		if (types_text(&c->detail, ot) < 0 ||
		    rf_buf_adds(&c->detail, " to ") < 0 ||
		    types_text(&c->detail, nt) < 0) {
			rc = RF_ENOMEM;
			goto out;
		}
		rc = report(c, wider ? "type widened" : narrower ?
		    "type narrowed" : "type changed", wider, narrower);
		if (rc < 0)
			goto out;
	}
	/* An enum is a closed set of strings on both sides. */
	if (o->t[T_STR] > 0 && !o->open && n->t[T_STR] > 0 && !n->open) {
		c->detail.len = 0;
		if ((rc = values_missing(&c->detail, n, o)) < 0)
			goto out;
		if (rc > 0 && (rc = report(c, "enum values added", true,
		    false)) < 0)
			goto out;
		c->detail.len = 0;
		if ((rc = values_missing(&c->detail, o, n)) < 0)
			goto out;
		if (rc > 0 && (rc = report(c, "enum values removed", false,
		    true)) < 0)
			goto out;
	}
	rc = compat_kids(c, o, n);
out:
	c->path.len = mark;
	return rc;
}

long
rf_schema_compat(const rf_schema *old, const rf_schema *new_,
    int (*cb)(const rf_change *c, void *arg), void *arg)
{
	struct compat c = { .cb = cb, .arg = arg };
	int rc = compat_kids(&c, &old->root, &new_->root);

	rf_buf_free(&c.path);
	rf_buf_free(&c.detail);
	return rc < 0 ? rc : c.n;
}

/* ---- the schemas of dataset versions ----------------------------------- */

/* Adds record lineno of name, or says why it is not one. */
static int
add_line(rf_schema *s, const char *name, uint64_t lineno, const char *p,
    size_t n, rf_err *e)
{
	int rc;

	if (rf_blank(p, n))
		return 0;
	if ((rc = rf_json_validate(p, n, e)) < 0) {
		char why[sizeof e->msg];
		snprintf(why, sizeof why, "%s", e->msg);
		return rf_seterr(e, rc, "%s:%llu: %s", name,
		    (unsigned long long)lineno, why);
	}
	if ((rc = rf_schema_add(s, p, n)) < 0)
		return rf_seterr(e, rc, "out of memory");
	return 0;
}

/* Whether v[0..n), a valid value, names a refill-schema format. */
static bool
is_document(const char *v, size_t n)
{
	rf_path *fp;
	const char *fv;
	size_t fn;
	rf_err e;
	bool yes;

	if (rf_path_compile("format", &fp, &e) < 0)
		return false;
	yes = rf_json_get(v, n, fp, &fv, &fn) == 0 && fn > 15 &&
	    memcmp(fv, "\"refill-schema/", 15) == 0;
	rf_path_free(fp);
	return yes;
}

int
rf_schema_read(rf_schema *s, const char *path, rf_err *e)
{
	rf_reader *r;
	rf_line ln;
	int rc;

	if ((rc = rf_reader_open(path, RF_MAX_LINE_DEFAULT, 0, &r, e)) < 0)
		return rc;
	while ((rc = rf_reader_next(r, &ln, e)) > 0)
		if ((rc = add_line(s, path, ln.lineno, ln.p, ln.len, e)) < 0)
			break;
	rf_reader_close(r);
	return rc;
}

#define DOC_MAX ((size_t)64 << 20)

int
rf_schema_load(const char *path, rf_schema **out, rf_err *e)
{
	rf_reader *r;
	rf_line ln;
	rf_buf doc = { 0 };
	uint64_t first = 0;
	bool records = false;
	int rc;

	*out = NULL;
	if ((rc = rf_schema_new(RF_SCHEMA_FIELDS_DEFAULT,
	    RF_SCHEMA_VALUES_DEFAULT, out, e)) < 0)
		return rc;
	if ((rc = rf_reader_open(path, RF_MAX_LINE_DEFAULT, 0, &r, e)) < 0)
		goto out;
	/*
	 * A first line that is a value of its own is a one-line document
	 * (as refill-hash --schema writes it) or the first record; any
	 * other first line starts a document of several lines, read whole.
	 */
	while ((rc = rf_reader_next(r, &ln, e)) > 0) {
		if (records) {
			if ((rc = add_line(*out, path, ln.lineno, ln.p, ln.len,
			    e)) < 0)
				break;
			continue;
		}
		if (doc.len == 0 && rf_blank(ln.p, ln.len))
			continue;
		if (doc.len == 0 && first == 0) {
			first = ln.lineno;
			if (rf_json_validate(ln.p, ln.len, e) == 0 &&
			    !is_document(ln.p, ln.len)) {
				records = true;
				if ((rc = add_line(*out, path, ln.lineno, ln.p,
				    ln.len, e)) < 0)
					break;
				continue;
			}
		}
		/* No document is this long: the first line is a bad record. */
		if (doc.len + ln.len >= DOC_MAX) {
			if (doc.len == 0 && (rc = add_line(*out, path,
			    ln.lineno, ln.p, ln.len, e)) == 0)
				rc = rf_seterr(e, RF_EDATA, "%s:%llu: a schema "
				    "document over %zu MB", path,
				    (unsigned long long)ln.lineno, DOC_MAX >> 20);
			break;
		}
		if (rf_buf_add(&doc, ln.p, ln.len) < 0 ||
		    rf_buf_addc(&doc, '\n') < 0) {
			rc = rf_seterr(e, RF_ENOMEM, "out of memory");
			break;
		}
	}
	rf_reader_close(r);
	if (rc < 0 || records)
		goto out;
	if (first == 0) {
		/* No line at all: no records. */
		rc = 0;
		goto out;
	}
	if (rc == 1 || rf_json_validate(doc.p, doc.len, e) < 0 ||
	    !is_document(doc.p, doc.len)) {
		/* Not a document: then its first line is a bad record. */
		const char *nl = memchr(doc.p, '\n', doc.len);
		rc = add_line(*out, path, first, doc.p, nl - doc.p, e);
		if (rc == 0)
			rc = rf_seterr(e, RF_EDATA, "%s: not a schema document",
			    path);
		goto out;
	}
	rf_schema_free(*out);
	*out = NULL;
	rc = rf_schema_parse(doc.p, doc.len, path, out, e);
out:
	rf_buf_free(&doc);
	if (rc < 0) {
		rf_schema_free(*out);
		*out = NULL;
	}
	return rc;
}

int
rf_store_schema(rf_store *s, uint32_t v, const rf_trusted *trusted,
    rf_schema **out, rf_err *e)
{
	rf_manifest m;
	char vp[PATH_MAX], name[PATH_MAX + 16];
	int rc;

	*out = NULL;
	if ((rc = rf_store_check(s, v, trusted, &m, e)) < 0)
		return rc;
	snprintf(name, sizeof name, "%s@%06u", s->dir, (unsigned)v);
	if (m.schema != NULL) {
		rc = rf_schema_parse(m.schema, strlen(m.schema), name, out, e);
		rf_manifest_free(&m);
		return rc;
	}
	rf_manifest_free(&m);
	if ((rc = rf_store_load(s, v, trusted, &m, e)) < 0)
		return rc;
	if ((rc = rf_schema_new(RF_SCHEMA_FIELDS_DEFAULT,
	    RF_SCHEMA_VALUES_DEFAULT, out, e)) < 0) {
		rf_manifest_free(&m);
		return rc;
	}
	for (size_t i = 0; i < m.n && rc == 0; i++)
		if ((rc = rf_version_path(s, v, m.f[i].name, vp)) < 0)
			rf_seterr(e, rc, "%s: %s: path too long", name, m.f[i].name);
		else
			rc = rf_schema_read(*out, vp, e);
	rf_manifest_free(&m);
	if (rc < 0) {
		rf_schema_free(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- for people --------------------------------------------------------- */

static int
describe_node(rf_buf *b, rf_buf *path, const struct node *par,
    const struct node *nd)
{
	size_t mark = path->len;
	uint64_t miss = missing(par, nd);
	char t[96];

	if (path_add(path, nd) < 0 || rf_buf_adds(b, "  ") < 0 ||
	    rf_buf_add(b, path->p, path->len) < 0 || rf_buf_adds(b, "  ") < 0 ||
	    types_text(b, typeset(nd)) < 0)
		return RF_ENOMEM;
	if (miss > 0) {
		snprintf(t, sizeof t, ", missing in %llu", (unsigned long long)miss);
		rf_buf_adds(b, t);
	}
	if (nd->t[T_NULL] > 0) {
		snprintf(t, sizeof t, ", null in %llu",
		    (unsigned long long)nd->t[T_NULL]);
		rf_buf_adds(b, t);
	}
	if (nd->hasnum) {
		char lo[32], hi[32];
		lo[rf_fmt_double(nd->min, lo)] = '\0';
		hi[rf_fmt_double(nd->max, hi)] = '\0';
		snprintf(t, sizeof t, ", %s to %s", lo, hi);
		rf_buf_adds(b, t);
	}
	if (nd->t[T_STR] > 0 && !nd->open) {
		rf_buf_adds(b, ", one of ");
		for (size_t i = 0; i < nd->nv; i++) {
			if (i > 0)
				rf_buf_adds(b, " ");
			rf_json_addstr(b, nd->v[i].s, nd->v[i].n);
		}
	}
	if (rf_buf_addc(b, '\n') < 0)
		return RF_ENOMEM;
	if (nd->el != NULL && describe_node(b, path, nd, nd->el) < 0)
		return RF_ENOMEM;
	for (size_t i = 0; i < nd->nkid; i++)
		if (describe_node(b, path, nd, nd->kid[i]) < 0)
			return RF_ENOMEM;
	path->len = mark;
	return 0;
}

int
rf_schema_describe(const rf_schema *s, rf_buf *out)
{
	rf_buf path = { 0 };
	int rc = 0;

	if (s->root.el != NULL)
		rc = describe_node(out, &path, &s->root, s->root.el);
	for (size_t i = 0; rc == 0 && i < s->root.nkid; i++)
		rc = describe_node(out, &path, &s->root, s->root.kid[i]);
	rf_buf_free(&path);
	return rc;
}
