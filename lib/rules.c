/*
 * Rules files (refill-rules(5)): the parser, the check of one record on a
 * worker thread, and the state of a whole input, fed on the main thread in
 * input order.
 *
 * unique and monotonic remember something per value seen.  That state is
 * kept in a hash table up to a budget; past it the table is written out as
 * entries of a spill (lib/spill.c), every later record follows it there,
 * and at the end each bucket is read back and decided on its own.  Since
 * everything about one value lands in one bucket, in input order, a bucket
 * decides its records exactly as the table would have, so the answer does
 * not depend on the budget.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refill.h"

/* ---- ISO 4217 ------------------------------------------------------------ */

/*
 * The alphabetic codes of iso-codes 4.15.0 (Debian package iso-codes
 * 4.15.0-1, /usr/share/iso-codes/json/iso_4217.json): every code it lists,
 * funds, metals and the testing codes included, sorted.  The build does
 * not read that file, so the list does not change with the machine.  To
 * regenerate it:
 *
 *   python3 -c 'import json; c = sorted(x["alpha_3"] for x in json.load(
 *       open("/usr/share/iso-codes/json/iso_4217.json"))["4217"]);
 *       [print("\t" + " ".join("\"%s\"," % x for x in c[i:i + 10]))
 *        for i in range(0, len(c), 10)]'
 *
 * tests/verify-rules.bats checks it against that file where it exists.
 */
static const char currencies[][4] = {
	"AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN",
	"BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV",
	"BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF",
	"CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE",
	"CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD",
	"FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
	"HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK",
	"JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
	"KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL",
	"MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
	"MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR",
	"PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
	"RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE",
	"SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS",
	"TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD",
	"USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST",
	"XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XDR", "XOF",
	"XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW",
	"ZWL",
};

bool
rf_currency_valid(const char *s, size_t n)
{
	size_t lo = 0, hi = sizeof currencies / sizeof currencies[0];

	if (n != 3)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(s, currencies[mid], 3);
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

/* ---- the compiled rules ---------------------------------------------------- */

enum kind {
	R_COUNT, R_CURRENCY, R_ENUM, R_MAX, R_MAX_LENGTH, R_MIN, R_MONOTONIC,
	R_NOT_NULL, R_NULL_RATIO, R_PATTERN, R_REQUIRED, R_TIMESTAMP, R_TYPE,
	R_UNIQUE, R_NKINDS
};

static const struct {
	const char *name, *syntax;
} kinds[R_NKINDS] = {
	[R_COUNT] = { "count", "count MIN MAX" },
	[R_CURRENCY] = { "currency", "currency PATH" },
	[R_ENUM] = { "enum", "enum PATH VALUE..." },
	[R_MAX] = { "max", "max PATH NUMBER" },
	[R_MAX_LENGTH] = { "max-length", "max-length PATH N" },
	[R_MIN] = { "min", "min PATH NUMBER" },
	[R_MONOTONIC] = { "monotonic", "monotonic PATH by PATH..." },
	[R_NOT_NULL] = { "not-null", "not-null PATH" },
	[R_NULL_RATIO] = { "null-ratio", "null-ratio PATH MAX%" },
	[R_PATTERN] = { "pattern", "pattern PATH REGEX" },
	[R_REQUIRED] = { "required", "required PATH" },
	[R_TIMESTAMP] = { "timestamp", "timestamp PATH [utc]" },
	[R_TYPE] = { "type", "type PATH TYPE[|TYPE...]" },
	[R_UNIQUE] = { "unique", "unique PATH..." },
};

enum {
	T_STRING = 1, T_NUMBER = 2, T_INTEGER = 4, T_BOOLEAN = 8,
	T_OBJECT = 16, T_ARRAY = 32, T_NULL = 64
};

static const char *const tnames[] = {
	"string", "number", "integer", "boolean", "object", "array", "null"
};

struct rule {
	enum kind kind;
	unsigned long line;
	char *text;			/* as written, without a comment */
	rf_path *path;			/* the field; NULL for count and unique */
	rf_path **more;			/* unique: its paths; monotonic: by */
	size_t nmore;
	rf_path *when;			/* or NULL */
	char *whenval;			/* canonical */
	size_t whenlen;
	uint64_t lo, hi;		/* count: the bounds; max-length: hi */
	unsigned types;
	char **vals;			/* enum: canonical, sorted */
	size_t *vlens, nvals;
	char *num;			/* min, max: the number as written;
					 * null-ratio: the percentage */
	size_t numlen;
	uint64_t pct;			/* null-ratio: percent times 10^6 */
	regex_t *re;			/* pattern: compiled */
	bool utc;
};

struct rf_rules {
	struct rule *r;
	size_t n, cap;
};

static void
rule_free(struct rule *ru)
{
	free(ru->text);
	rf_path_free(ru->path);
	for (size_t i = 0; i < ru->nmore; i++)
		rf_path_free(ru->more[i]);
	free(ru->more);
	rf_path_free(ru->when);
	free(ru->whenval);
	for (size_t i = 0; i < ru->nvals; i++)
		free(ru->vals[i]);
	free(ru->vals);
	free(ru->vlens);
	free(ru->num);
	if (ru->re != NULL)
		regfree(ru->re);
	free(ru->re);
}

void
rf_rules_free(rf_rules *rs)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(&rs->r[i]);
	free(rs->r);
	free(rs);
}

size_t
rf_rules_count(const rf_rules *rs)
{
	return rs->n;
}

unsigned long
rf_rules_line(const rf_rules *rs, size_t i)
{
	return rs->r[i].line;
}

const char *
rf_rules_text(const rf_rules *rs, size_t i)
{
	return rs->r[i].text;
}

/* ---- the tokenizer --------------------------------------------------------- */

struct tok {
	char *s;			/* decoded, NUL-terminated; a quoted
					 * token may also hold U+0000 */
	size_t len;
	char quote;			/* 0 (a bare word), '"' or '\'' */
	size_t from, to;		/* its bytes in the line */
	const char *raw;		/* the same, as written */
};

struct toks {
	struct tok *t;
	size_t n, cap;
};

static void
toks_clear(struct toks *tk)
{
	for (size_t i = 0; i < tk->n; i++)
		free(tk->t[i].s);
	tk->n = 0;
}

static char *
dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		if (n > 0)
			memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static bool
blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Splits a line into tokens.  A '#' that starts a token starts a comment;
 * one inside a bare word is part of it.
 */
static int
tokenize(const char *s, size_t n, struct toks *tk, char *why, size_t wn)
{
	size_t i = 0;

	for (;;) {
		struct tok t = { 0 };

		while (i < n && blank(s[i]))
			i++;
		if (i == n || s[i] == '#')
			return 0;
		t.from = i;
		if (s[i] == '"') {
			size_t j = i + 1;
			rf_buf b = { 0 };
			rf_err e;
			int rc;

			while (j < n && s[j] != '"')
				j += s[j] == '\\' ? 2 : 1;
			if (j >= n) {
				snprintf(why, wn, "a double-quoted string "
				    "without its closing quote");
				return RF_EUSAGE;
			}
			j++;
			if ((rc = rf_json_validate(s + i, j - i, &e)) < 0) {
				if (rc == RF_ENOMEM)
					return rc;
				snprintf(why, wn, "bad double-quoted string: %.150s",
				    e.msg);
				return RF_EUSAGE;
			}
			if (rf_json_unescape(s + i, j - i, &b) < 0 ||
			    rf_buf_addc(&b, '\0') < 0) {
				rf_buf_free(&b);
				return RF_ENOMEM;
			}
			t.s = b.p;
			t.len = b.len - 1;
			t.quote = '"';
			i = j;
		} else if (s[i] == '\'') {
			const char *q = memchr(s + i + 1, '\'', n - i - 1);
			if (q == NULL) {
				snprintf(why, wn, "a single-quoted string "
				    "without its closing quote");
				return RF_EUSAGE;
			}
			t.len = (size_t)(q - (s + i + 1));
			if ((t.s = dupn(s + i + 1, t.len)) == NULL)
				return RF_ENOMEM;
			t.quote = '\'';
			i = (size_t)(q - s) + 1;
		} else {
			size_t j = i;
			while (j < n && !blank(s[j]))
				j++;
			t.len = j - i;
			if ((t.s = dupn(s + i, t.len)) == NULL)
				return RF_ENOMEM;
			i = j;
		}
		t.to = i;
		t.raw = s + t.from;
		if (tk->n == tk->cap) {
			size_t nc = tk->cap ? tk->cap * 2 : 16;
			struct tok *nt = realloc(tk->t, nc * sizeof *nt);
			if (nt == NULL) {
				free(t.s);
				return RF_ENOMEM;
			}
			tk->t = nt;
			tk->cap = nc;
		}
		tk->t[tk->n++] = t;
		if (i < n && !blank(s[i])) {
			snprintf(why, wn, "a quoted string must be followed "
			    "by a blank or the end of the line");
			return RF_EUSAGE;
		}
	}
}

/* ---- operands ---------------------------------------------------------------- */

static bool
bare(const struct tok *t, const char *word)
{
	return t->quote == 0 && strcmp(t->s, word) == 0;
}

static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The grammar of a JSON number (RFC 8259), not its range. */
static bool
is_number(const char *s, size_t n)
{
	size_t i = 0, f;

	if (i < n && s[i] == '-')
		i++;
	if (i == n)
		return false;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < n && digit(s[i]))
			i++;
	else
		return false;
	if (i < n && s[i] == '.') {
		for (f = ++i; i < n && digit(s[i]); i++)
			;
		if (i == f)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (f = i; i < n && digit(s[i]); i++)
			;
		if (i == f)
			return false;
	}
	return i == n;
}

/* Shows an operand in a message as written: at most 40 bytes of it. */
#define SHOWOP(t) showlen((t)->raw, (t)->to - (t)->from), (t)->raw

static int
showlen(const char *s, size_t n)
{
	if (n <= 40)
		return (int)n;
	/* Not in the middle of a character. */
	for (n = 40; n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; n--)
		;
	return (int)n;
}

static int
path_of(const struct tok *t, rf_path **p, char *why, size_t wn)
{
	rf_err e;
	int rc;

	if (memchr(t->s, '\0', t->len) != NULL) {
		snprintf(why, wn, "a field path cannot hold U+0000");
		return RF_EUSAGE;
	}
	if ((rc = rf_path_compile(t->s, p, &e)) < 0) {
		if (rc == RF_ENOMEM)
			return rc;
		snprintf(why, wn, "%.180s", e.msg);
		return RF_EUSAGE;
	}
	return 0;
}

/* A VALUE operand, appended to out in canonical form. */
static int
value_of(const struct tok *t, rf_buf *out, char *why, size_t wn)
{
	rf_err e;
	int rc;

	if (t->quote == 0 && (is_number(t->s, t->len) || bare(t, "true") ||
	    bare(t, "false") || bare(t, "null"))) {
		if ((rc = rf_json_canon(t->s, t->len, out, &e)) < 0) {
			if (rc == RF_ENOMEM)
				return rc;
			snprintf(why, wn, "bad number %.*s: %.100s", SHOWOP(t),
			    e.msg);
			return RF_EUSAGE;
		}
		return 0;
	}
	return rf_json_addstr(out, t->s, t->len) < 0 ? RF_ENOMEM : 0;
}

/* A NUMBER operand of min and max: a JSON number, finite as a double. */
static int
number_of(const struct tok *t, char *why, size_t wn)
{
	rf_err e;
	int rc;

	if (t->quote != 0 || !is_number(t->s, t->len)) {
		snprintf(why, wn, "not a number: %.*s", SHOWOP(t));
		return RF_EUSAGE;
	}
	if ((rc = rf_json_validate(t->s, t->len, &e)) < 0) {
		if (rc == RF_ENOMEM)
			return rc;
		snprintf(why, wn, "bad number %.*s: %.100s", SHOWOP(t), e.msg);
		return RF_EUSAGE;
	}
	return 0;
}

static int
uint_of(const struct tok *t, uint64_t *v, char *why, size_t wn)
{
	if (t->quote != 0 || rf_parse_uint(t->s, 0, UINT64_MAX, v) < 0) {
		snprintf(why, wn, "not a whole number: %.*s", SHOWOP(t));
		return RF_EUSAGE;
	}
	return 0;
}

/* "12.5%": percent times 10^6, from 0 to 100 with at most 6 decimals. */
static int
percent_of(const struct tok *t, uint64_t *v, char *why, size_t wn)
{
	const char *s = t->s;
	size_t n = t->len, i = 0, ip, fp = 0;
	uint64_t x = 0;

	if (t->quote == 0 && n >= 2 && s[n - 1] == '%') {
		for (n--; i < n && digit(s[i]) && i < 3; i++)
			x = x * 10 + (uint64_t)(s[i] - '0');
		ip = i;
		if (ip > 0 && i < n && s[i] == '.')
			for (i++; i < n && digit(s[i]) && fp < 6; i++, fp++)
				x = x * 10 + (uint64_t)(s[i] - '0');
		for (size_t k = fp; k < 6; k++)
			x *= 10;
		if (ip > 0 && i == n && (s[ip] != '.' || fp > 0) &&
		    x <= 100000000) {
			*v = x;
			return 0;
		}
	}
	snprintf(why, wn, "not a percentage from 0%% to 100%% "
	    "(at most 6 decimals): %.*s", SHOWOP(t));
	return RF_EUSAGE;
}

/*
 * glibc's regcomp expands a bounded repetition into copies of what it
 * repeats, and x+ into xx*, so nested bounds multiply (a{255}{255}{255}
 * would be 16 million copies) and a run of + doubles each time; then it
 * works out, for each copy, the copies it can skip to, which grows with
 * the square of their number: ((a?){255}){10} takes 500 MB.  This
 * estimates the size of the expansion, to refuse such a pattern before
 * regcomp spends the memory and time on it.  A thousand is far beyond
 * what a field's format needs (a UUID is about 40).
 */
#define RE_MAX_DUP 255
#define RE_MAX_SIZE 1000
#define RE_MAX_DEPTH 64

static size_t
bracket_end(const char *re, size_t n, size_t i)
{
	size_t j = i + 1;

	if (j < n && re[j] == '^')
		j++;
	if (j < n && re[j] == ']')
		j++;
	while (j < n && re[j] != ']') {
		if (re[j] == '[' && j + 1 < n &&
		    (re[j + 1] == ':' || re[j + 1] == '.' || re[j + 1] == '=')) {
			char c = re[j + 1];
			for (j += 2; j + 1 < n && !(re[j] == c && re[j + 1] == ']');
			    j++)
				;
			j += 2;
			continue;
		}
		j++;
	}
	return j < n ? j : n;
}

static int
re_check(const char *re, size_t n, char *why, size_t wn)
{
	uint64_t sum[RE_MAX_DEPTH], last[RE_MAX_DEPTH];
	size_t d = 0;
	bool dup = false;	/* the element before is a repetition */

	sum[0] = last[0] = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t atom = 1;

		/*
		 * A repetition of a repetition (a**, a+?) is undefined in a
		 * POSIX ERE, and glibc's regcomp takes time exponential in a
		 * run of them.
		 */
		bool rep = re[i] == '*' || re[i] == '+' || re[i] == '?' ||
		    (re[i] == '{' && i + 1 < n && digit(re[i + 1]));
		if (rep && dup) {
			snprintf(why, wn, "bad regular expression: a repetition "
			    "of a repetition, such as a** or a+?");
			return RF_EUSAGE;
		}
		dup = rep;
		switch (re[i]) {
		case '\\':
			i++;
			break;
		case '[':
			i = bracket_end(re, n, i);
			break;
		case '(':
			if (d + 1 == RE_MAX_DEPTH) {
				snprintf(why, wn, "bad regular expression: "
				    "parentheses nested too deep");
				return RF_EUSAGE;
			}
			d++;
			sum[d] = last[d] = 0;
			continue;
		case ')':
			if (d > 0) {
				atom = sum[d] + 1;
				d--;
			}
			break;
		case '|':
			last[d] = 0;
			continue;
		case '+':
			sum[d] += last[d];
			last[d] *= 2;
			if (sum[d] > RE_MAX_SIZE)
				goto big;
			continue;
		case '*': case '?':
			continue;
		case '{': {
			uint64_t m = 0, hi = 0, mult;
			size_t j = i + 1, k;
			bool comma = false, top = false;
			for (k = j; j < n && digit(re[j]) && m <= RE_MAX_DUP; j++)
				m = m * 10 + (uint64_t)(re[j] - '0');
			if (j == k)
				break;
			if (j < n && re[j] == ',') {
				comma = true;
				for (k = ++j; j < n && digit(re[j]) &&
				    hi <= RE_MAX_DUP; j++)
					hi = hi * 10 + (uint64_t)(re[j] - '0');
				top = j > k;
			}
			if (j >= n || re[j] != '}')
				break;
			if (m > RE_MAX_DUP || hi > RE_MAX_DUP) {
				snprintf(why, wn, "bad regular expression: a "
				    "repetition count over %d", RE_MAX_DUP);
				return RF_EUSAGE;
			}
			mult = !comma ? m : top ? hi : m + 1;
			if (mult < 1)
				mult = 1;
			sum[d] += last[d] * (mult - 1);
			last[d] *= mult;
			i = j;
			if (sum[d] > RE_MAX_SIZE)
				goto big;
			continue;
		}
		}
		sum[d] += atom;
		last[d] = atom;
		if (sum[d] > RE_MAX_SIZE)
			goto big;
	}
	return 0;
big:
	snprintf(why, wn, "bad regular expression: too large once its "
	    "repetitions are expanded");
	return RF_EUSAGE;
}

/*
 * Compiles a pattern once for all threads: regexec takes a const regex_t,
 * and glibc's locks it, so threads take turns, which costs little beside
 * the rest of a record's check and keeps one copy in memory.
 */
static int
pattern_of(const struct tok *t, regex_t **out, char *why, size_t wn)
{
	regex_t *rx;
	int rc;

	if (memchr(t->s, '\0', t->len) != NULL) {
		snprintf(why, wn, "a regular expression cannot hold U+0000");
		return RF_EUSAGE;
	}
	if ((rc = re_check(t->s, t->len, why, wn)) < 0)
		return rc;
	if ((rx = malloc(sizeof *rx)) == NULL)
		return RF_ENOMEM;
	if ((rc = regcomp(rx, t->s, REG_EXTENDED)) != 0) {
		char msg[128];
		regerror(rc, rx, msg, sizeof msg);
		free(rx);
		if (rc == REG_ESPACE)
			return RF_ENOMEM;
		snprintf(why, wn, "bad regular expression: %s", msg);
		return RF_EUSAGE;
	}
	*out = rx;
	return 0;
}

static int
types_of(const struct tok *t, unsigned *types, char *why, size_t wn)
{
	const char *s = t->s, *end = t->s + t->len;

	*types = 0;
	for (;;) {
		const char *bar = memchr(s, '|', (size_t)(end - s));
		size_t k, n = (size_t)((bar != NULL ? bar : end) - s);
		for (k = 0; k < sizeof tnames / sizeof tnames[0]; k++)
			if (strlen(tnames[k]) == n && memcmp(tnames[k], s, n) == 0)
				break;
		if (k == sizeof tnames / sizeof tnames[0]) {
			snprintf(why, wn, "unknown type '%.*s': string, number, "
			    "integer, boolean, object, array or null",
			    showlen(s, n), s);
			return RF_EUSAGE;
		}
		*types |= 1u << k;
		if (bar == NULL)
			return 0;
		s = bar + 1;
	}
}

static int
cmpval(const void *a, const void *b, size_t an, size_t bn)
{
	int r = memcmp(a, b, an < bn ? an : bn);

	return r != 0 ? r : (an > bn) - (an < bn);
}

/* Sorts an enum's values, keeping each value's length beside it. */
static void
sort_vals(struct rule *ru)
{
	for (size_t i = 1; i < ru->nvals; i++)
		for (size_t j = i; j > 0 && cmpval(ru->vals[j - 1],
		    ru->vals[j], ru->vlens[j - 1], ru->vlens[j]) > 0; j--) {
			char *v = ru->vals[j];
			size_t l = ru->vlens[j];
			ru->vals[j] = ru->vals[j - 1];
			ru->vlens[j] = ru->vlens[j - 1];
			ru->vals[j - 1] = v;
			ru->vlens[j - 1] = l;
		}
}

static int
paths_of(const struct tok *t, size_t n, struct rule *ru, char *why, size_t wn)
{
	int rc;

	if ((ru->more = calloc(n, sizeof *ru->more)) == NULL)
		return RF_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((rc = path_of(&t[i], &ru->more[i], why, wn)) < 0)
			return rc;
		ru->nmore++;
	}
	return 0;
}

/* The operands of one rule: ops[0..nops), the name and any when gone. */
static int
operands(struct rule *ru, const struct tok *ops,
    size_t nops, char *why, size_t wn)
{
	rf_buf b = { 0 };
	int rc;

	switch (ru->kind) {
	case R_COUNT:
		if (nops != 2)
			break;
		ru->lo = 0;
		ru->hi = UINT64_MAX;
		if ((!bare(&ops[0], "-") &&
		    (rc = uint_of(&ops[0], &ru->lo, why, wn)) < 0) ||
		    (!bare(&ops[1], "-") &&
		    (rc = uint_of(&ops[1], &ru->hi, why, wn)) < 0))
			return rc;
		if (ru->lo > ru->hi) {
			snprintf(why, wn, "the minimum is more than the "
			    "maximum");
			return RF_EUSAGE;
		}
		return 0;
	case R_CURRENCY:
	case R_NOT_NULL:
	case R_REQUIRED:
		if (nops != 1)
			break;
		return path_of(&ops[0], &ru->path, why, wn);
	case R_TIMESTAMP:
		if (nops == 2 && !bare(&ops[1], "utc")) {
			snprintf(why, wn, "timestamp takes 'utc' or nothing "
			    "after its path, not '%.*s'", SHOWOP(&ops[1]));
			return RF_EUSAGE;
		}
		if (nops != 1 && nops != 2)
			break;
		ru->utc = nops == 2;
		return path_of(&ops[0], &ru->path, why, wn);
	case R_TYPE:
		if (nops != 2)
			break;
		if ((rc = path_of(&ops[0], &ru->path, why, wn)) < 0)
			return rc;
		return types_of(&ops[1], &ru->types, why, wn);
	case R_ENUM:
		if (nops < 2)
			break;
		if ((rc = path_of(&ops[0], &ru->path, why, wn)) < 0)
			return rc;
		if ((ru->vals = calloc(nops - 1, sizeof *ru->vals)) == NULL ||
		    (ru->vlens = calloc(nops - 1, sizeof *ru->vlens)) == NULL)
			return RF_ENOMEM;
		for (size_t i = 1; i < nops; i++) {
			b.len = 0;
			if ((rc = value_of(&ops[i], &b, why, wn)) < 0) {
				rf_buf_free(&b);
				return rc;
			}
			if ((ru->vals[ru->nvals] = dupn(b.p, b.len)) == NULL) {
				rf_buf_free(&b);
				return RF_ENOMEM;
			}
			ru->vlens[ru->nvals++] = b.len;
		}
		rf_buf_free(&b);
		sort_vals(ru);
		return 0;
	case R_MIN:
	case R_MAX:
		if (nops != 2)
			break;
		if ((rc = path_of(&ops[0], &ru->path, why, wn)) < 0 ||
		    (rc = number_of(&ops[1], why, wn)) < 0)
			return rc;
		ru->numlen = ops[1].len;
		return (ru->num = dupn(ops[1].s, ops[1].len)) == NULL ?
		    RF_ENOMEM : 0;
	case R_PATTERN:
		if (nops != 2)
			break;
		if ((rc = path_of(&ops[0], &ru->path, why, wn)) < 0)
			return rc;
		return pattern_of(&ops[1], &ru->re, why, wn);
	case R_MAX_LENGTH:
		if (nops != 2)
			break;
		if ((rc = path_of(&ops[0], &ru->path, why, wn)) < 0)
			return rc;
		return uint_of(&ops[1], &ru->hi, why, wn);
	case R_UNIQUE:
		if (nops < 1)
			break;
		return paths_of(ops, nops, ru, why, wn);
	case R_MONOTONIC:
		if (nops >= 2 && !bare(&ops[1], "by")) {
			snprintf(why, wn, "monotonic takes 'by' after its path, "
			    "not '%.*s'", SHOWOP(&ops[1]));
			return RF_EUSAGE;
		}
		if (nops < 3)
			break;
		if ((rc = path_of(&ops[0], &ru->path, why, wn)) < 0)
			return rc;
		return paths_of(ops + 2, nops - 2, ru, why, wn);
	case R_NULL_RATIO:
		if (nops != 2)
			break;
		if ((rc = path_of(&ops[0], &ru->path, why, wn)) < 0 ||
		    (rc = percent_of(&ops[1], &ru->pct, why, wn)) < 0)
			return rc;
		ru->numlen = ops[1].len - 1;
		return (ru->num = dupn(ops[1].s, ru->numlen)) == NULL ?
		    RF_ENOMEM : 0;
	case R_NKINDS:
		break;
	}
	snprintf(why, wn, "wrong number of operands: %s",
	    kinds[ru->kind].syntax);
	return RF_EUSAGE;
}

static int
parse_line(struct rf_rules *rs, const char *s, size_t n, unsigned long lineno,
    struct toks *tk, char *why, size_t wn)
{
	struct rule ru = { 0 };
	const struct tok *t;
	size_t nt, k, w;
	int rc;

	if (!rf_utf8_valid(s, n)) {
		snprintf(why, wn, "not valid UTF-8");
		return RF_EUSAGE;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t') {
			snprintf(why, wn, "a control character (0x%02x)",
			    (unsigned char)s[i]);
			return RF_EUSAGE;
		}
	if ((rc = tokenize(s, n, tk, why, wn)) < 0 || tk->n == 0)
		return rc;
	t = tk->t;
	nt = tk->n;
	for (k = 0; k < R_NKINDS; k++)
		if (bare(&t[0], kinds[k].name))
			break;
	if (k == R_NKINDS) {
		snprintf(why, wn, "unknown rule '%.*s'", SHOWOP(&t[0]));
		return RF_EUSAGE;
	}
	ru.kind = (enum kind)k;
	ru.line = lineno;
	for (w = 1; w < nt && !bare(&t[w], "when"); w++)
		;
	if (w < nt) {
		rf_buf b = { 0 };
		if (ru.kind == R_COUNT) {
			snprintf(why, wn, "count takes no 'when'");
			return RF_EUSAGE;
		}
		if (nt - w != 3) {
			snprintf(why, wn, "'when' takes a path and a value");
			return RF_EUSAGE;
		}
		if ((rc = path_of(&t[w + 1], &ru.when, why, wn)) < 0 ||
		    (rc = value_of(&t[w + 2], &b, why, wn)) < 0) {
			rf_buf_free(&b);
			goto fail;
		}
		ru.whenval = b.p;
		ru.whenlen = b.len;
	}
	if ((rc = operands(&ru, t + 1, w - 1, why, wn)) < 0)
		goto fail;
	if ((ru.text = dupn(s + t[0].from, t[nt - 1].to - t[0].from)) == NULL) {
		rc = RF_ENOMEM;
		goto fail;
	}
	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 16;
		struct rule *nr = realloc(rs->r, nc * sizeof *nr);
		if (nr == NULL) {
			rc = RF_ENOMEM;
			goto fail;
		}
		rs->r = nr;
		rs->cap = nc;
	}
	rs->r[rs->n++] = ru;
	return 0;
fail:
	rule_free(&ru);
	return rc;
}

int
rf_rules_parse(const char *buf, size_t len, const char *name, rf_rules **out,
    rf_err *e)
{
	struct rf_rules *rs = calloc(1, sizeof *rs);
	struct toks tk = { 0 };
	unsigned long lineno = 0;
	size_t pos = 0;
	char why[200];
	int rc = 0;

	if (rs == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	while (pos < len) {
		const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;

		pos += n + (nl != NULL);
		lineno++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		rc = parse_line(rs, s, n, lineno, &tk, why, sizeof why);
		toks_clear(&tk);
		if (rc < 0)
			break;
	}
	free(tk.t);
	if (rc == RF_ENOMEM)
		rf_seterr(e, rc, "out of memory");
	else if (rc < 0)
		rf_seterr(e, rc, "%s:%lu: %s", name, lineno, why);
	else if (rs->n == 0)
		rc = rf_seterr(e, RF_EUSAGE, "%s: no rules", name);
	if (rc < 0) {
		rf_rules_free(rs);
		return rc;
	}
	*out = rs;
	return 0;
}

/* ---- checking a record --------------------------------------------------- */

struct rf_rules_scratch {
	rf_buf a, b, c;			/* values, the reason, a display */
	rf_sha256 *sha;
};

int
rf_rules_scratch_new(const rf_rules *rs, rf_rules_scratch **out, rf_err *e)
{
	rf_rules_scratch *sc = calloc(1, sizeof *sc);

	(void)rs;
	if (sc == NULL || (sc->sha = rf_sha256_new()) == NULL) {
		rf_rules_scratch_free(sc);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	*out = sc;
	return 0;
}

void
rf_rules_scratch_free(rf_rules_scratch *sc)
{
	if (sc == NULL)
		return;
	rf_buf_free(&sc->a);
	rf_buf_free(&sc->b);
	rf_buf_free(&sc->c);
	rf_sha256_free(sc->sha);
	free(sc);
}

/*
 * What a record's check found, for rf_rules_feed: items of a tag byte, the
 * rule's index and the payload's length (4 bytes each, native order: the
 * bytes never leave the process), then the payload.
 */
enum {
	F_OK = 'o',		/* the rule applies and holds */
	F_BROKEN = 'b',		/* it applies and breaks: the reason */
	F_NULL = 'n',		/* null-ratio: 1 if null or missing, else 0 */
	F_KEY = 'u',		/* unique: the key digest */
	F_SEQ = 'm'		/* monotonic: group digest, kind, value */
};

/* What monotonic compares, and what it cannot. */
enum { K_NUM = 1, K_TIME, K_STR };

static int
put(rf_buf *out, int tag, size_t rule, const void *p, size_t n,
    const void *q, size_t qn)
{
	unsigned char h[9];
	uint32_t r = (uint32_t)rule, len = (uint32_t)(n + qn);

	if (n + qn > UINT32_MAX || rule > UINT32_MAX ||
	    rf_buf_reserve(out, sizeof h + n + qn) < 0)
		return RF_ENOMEM;
	h[0] = (unsigned char)tag;
	memcpy(h + 1, &r, 4);
	memcpy(h + 5, &len, 4);
	rf_buf_add(out, h, sizeof h);
	rf_buf_add(out, p, n);
	rf_buf_add(out, q, qn);
	return 0;
}

/*
 * Appends a value as a message shows it: a number as written, a string in
 * canonical form, cut after about 40 bytes (then followed by "..."), an
 * object or array as {...} or [...].
 */
#define SHOW_MAX 40

static int
show(rf_buf *out, rf_buf *tmp, const char *v, size_t vn)
{
	const char *s = v;
	size_t n = vn, i = 0;

	if (*v == '{')
		return rf_buf_adds(out, "{...}");
	if (*v == '[')
		return rf_buf_adds(out, "[...]");
	if (*v == '"' && memchr(v, '\\', vn) != NULL) {
		tmp->len = 0;
		if (rf_json_canon(v, vn, tmp, NULL) < 0)
			return RF_ENOMEM;
		s = tmp->p;
		n = tmp->len;
	}
	if (n <= SHOW_MAX + 2)
		return rf_buf_add(out, s, n);
	/* Cut between characters, and never inside an escape. */
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t step = c == '\\' ? (i + 1 < n && s[i + 1] == 'u' ? 6 : 2) :
		    c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (i + step > SHOW_MAX)
			break;
		i += step;
	}
	if (rf_buf_add(out, s, i) < 0)
		return RF_ENOMEM;
	return rf_buf_adds(out, *s == '"' ? "\"..." : "...");
}

static unsigned
type_of(const char *v)
{
	switch (*v) {
	case '"': return T_STRING;
	case '{': return T_OBJECT;
	case '[': return T_ARRAY;
	case 't': case 'f': return T_BOOLEAN;
	case 'n': return T_NULL;
	default: return T_NUMBER;
	}
}

static const char *
type_name(unsigned t)
{
	switch (t) {
	case T_STRING: return "a string";
	case T_OBJECT: return "an object";
	case T_ARRAY: return "an array";
	case T_BOOLEAN: return "a boolean";
	case T_NULL: return "null";
	default: return "a number";
	}
}

/*
 * Whether a number token has no fractional part, judged on the decimal as
 * written: the digits D with f of them after the point and z zeros at
 * the end, and the exponent x, make D / 10^z times 10^(x - f + z).
 */
static bool
is_integer(const char *t, size_t n)
{
	const char *p = t, *end = t + n;
	long long frac = 0, zeros = 0, x = 0;
	bool nonzero = false, neg = false;

	if (p < end && *p == '-')
		p++;
	for (; p < end && digit(*p); p++) {
		zeros = *p == '0' ? zeros + 1 : 0;
		nonzero |= *p != '0';
	}
	if (p < end && *p == '.')
		for (p++; p < end && digit(*p); p++, frac++) {
			zeros = *p == '0' ? zeros + 1 : 0;
			nonzero |= *p != '0';
		}
	if (!nonzero)
		return true;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			neg = *p++ == '-';
		/* Saturates: a line cannot hold 10^15 digits. */
		for (; p < end; p++)
			if (x < 1000000000000000LL)
				x = x * 10 + (*p - '0');
		if (neg)
			x = -x;
	}
	return x - frac + zeros >= 0;
}

/* Decodes a string token into b (and a NUL after it, not counted). */
static int
decode(rf_buf *b, const char *v, size_t vn)
{
	b->len = 0;
	if (rf_json_unescape(v, vn, b) < 0 || rf_buf_addc(b, '\0') < 0)
		return RF_ENOMEM;
	b->len--;
	return 0;
}

static int
broken(rf_buf *out, size_t i, rf_rules_scratch *sc)
{
	return put(out, F_BROKEN, i, sc->b.p, sc->b.len, NULL, 0);
}

/* Appends "VALUE" and then the words to the reason. */
static int
reason(rf_rules_scratch *sc, const char *v, size_t vn, const char *words)
{
	if (show(&sc->b, &sc->c, v, vn) < 0 || rf_buf_adds(&sc->b, words) < 0)
		return RF_ENOMEM;
	return 0;
}

/*
 * The checks of a present, non-null value.  Returns 1 with the reason in
 * sc->b when it breaks the rule, 0 when it holds, or RF_ENOMEM.
 */
static int
check_value(const struct rule *ru, rf_rules_scratch *sc, const char *v,
    size_t vn)
{
	unsigned t = type_of(v);
	char num[64];
	int rc;

	switch (ru->kind) {
	case R_TYPE:
		if ((ru->types & t) != 0 || (t == T_NUMBER &&
		    (ru->types & T_INTEGER) != 0 && is_integer(v, vn)))
			return 0;
		if (t == T_NUMBER && (ru->types & T_INTEGER) != 0)
			rc = reason(sc, v, vn, " is not an integer");
		else if ((rc = reason(sc, v, vn, " is ")) == 0)
			rc = rf_buf_adds(&sc->b, type_name(t));
		return rc < 0 ? RF_ENOMEM : 1;
	case R_ENUM: {
		size_t lo = 0, hi = ru->nvals;
		if (t != T_OBJECT && t != T_ARRAY) {
			sc->a.len = 0;
			if (rf_json_canon(v, vn, &sc->a, NULL) < 0)
				return RF_ENOMEM;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				int c = cmpval(sc->a.p, ru->vals[mid], sc->a.len,
				    ru->vlens[mid]);
				if (c == 0)
					return 0;
				if (c < 0)
					hi = mid;
				else
					lo = mid + 1;
			}
		}
		return reason(sc, v, vn, " is not one of the listed values") <
		    0 ? RF_ENOMEM : 1;
	}
	case R_MIN:
	case R_MAX:
		if (t != T_NUMBER)
			rc = reason(sc, v, vn, " is not a number");
		else if (ru->kind == R_MIN &&
		    rf_json_cmp(v, vn, ru->num, ru->numlen) < 0) {
			if ((rc = reason(sc, v, vn, " is less than ")) == 0)
				rc = rf_buf_add(&sc->b, ru->num, ru->numlen);
		} else if (ru->kind == R_MAX &&
		    rf_json_cmp(v, vn, ru->num, ru->numlen) > 0) {
			if ((rc = reason(sc, v, vn, " is more than ")) == 0)
				rc = rf_buf_add(&sc->b, ru->num, ru->numlen);
		} else
			return 0;
		return rc < 0 ? RF_ENOMEM : 1;
	default:
		break;
	}
	/* The rest apply to strings only. */
	if (t != T_STRING)
		return reason(sc, v, vn, " is not a string") < 0 ? RF_ENOMEM : 1;
	if (decode(&sc->a, v, vn) < 0)
		return RF_ENOMEM;
	switch (ru->kind) {
	case R_PATTERN: {
		regmatch_t m[1];
		if (memchr(sc->a.p, '\0', sc->a.len) != NULL)
			return reason(sc, v, vn, " holds U+0000") < 0 ?
			    RF_ENOMEM : 1;
		rc = regexec(ru->re, sc->a.p, 1, m, 0);
		if (rc != 0 && rc != REG_NOMATCH)
			return RF_ENOMEM;
		/* POSIX: the leftmost match, and the longest from there. */
		if (rc == 0 && m[0].rm_so == 0 &&
		    (size_t)m[0].rm_eo == sc->a.len)
			return 0;
		return reason(sc, v, vn, " does not match") < 0 ? RF_ENOMEM : 1;
	}
	case R_MAX_LENGTH: {
		uint64_t cp = 0;
		for (size_t i = 0; i < sc->a.len; i++)
			cp += ((unsigned char)sc->a.p[i] & 0xc0) != 0x80;
		if (cp <= ru->hi)
			return 0;
		snprintf(num, sizeof num, " has %llu characters, more than ",
		    (unsigned long long)cp);
		if ((rc = reason(sc, v, vn, num)) == 0) {
			snprintf(num, sizeof num, "%llu",
			    (unsigned long long)ru->hi);
			rc = rf_buf_adds(&sc->b, num);
		}
		return rc < 0 ? RF_ENOMEM : 1;
	}
	case R_TIMESTAMP: {
		const char *s = sc->a.p;
		size_t n = sc->a.len;
		int64_t secs;
		if (n <= 10 || rf_parse_rfc3339(s, n, &secs) < 0)
			return reason(sc, v, vn, " is not an RFC 3339 "
			    "date-time") < 0 ? RF_ENOMEM : 1;
		if (ru->utc && s[n - 1] != 'Z' && s[n - 1] != 'z' &&
		    strcmp(s + n - 6, "+00:00") != 0)
			return reason(sc, v, vn, " is not in UTC") < 0 ?
			    RF_ENOMEM : 1;
		return 0;
	}
	case R_CURRENCY:
		if (rf_currency_valid(sc->a.p, sc->a.len))
			return 0;
		return reason(sc, v, vn, " is not an ISO 4217 currency code") <
		    0 ? RF_ENOMEM : 1;
	default:
		return 0;
	}
}

/*
 * The first 16 bytes of the SHA-256 of the canonical value at one path,
 * or of the canonical array of the values at several.  0 when a path
 * names nothing.
 */
static int
digest_of(rf_path *const *paths, size_t np, rf_rules_scratch *sc,
    const char *rec, size_t len, unsigned char keyd[RF_KEYD_LEN])
{
	unsigned char d[RF_SHA256_LEN];
	const char *v;
	size_t vn;

	sc->a.len = 0;
	if (np > 1 && rf_buf_addc(&sc->a, '[') < 0)
		return RF_ENOMEM;
	for (size_t i = 0; i < np; i++) {
		if (rf_json_get(rec, len, paths[i], &v, &vn) < 0)
			return 0;
		if ((i > 0 && rf_buf_addc(&sc->a, ',') < 0) ||
		    rf_json_canon(v, vn, &sc->a, NULL) < 0)
			return RF_ENOMEM;
	}
	if (np > 1 && rf_buf_addc(&sc->a, ']') < 0)
		return RF_ENOMEM;
	rf_sha256_once(sc->sha, sc->a.p, sc->a.len, d);
	memcpy(keyd, d, RF_KEYD_LEN);
	return 1;
}

/* Whether a canonical string token is an RFC 3339 date or date-time. */
static bool
is_time(const char *tok, size_t n)
{
	int64_t secs;

	return memchr(tok, '\\', n) == NULL &&
	    rf_parse_rfc3339(tok + 1, n - 2, &secs) == 0;
}

static int
check_monotonic(const struct rule *ru, size_t i, rf_rules_scratch *sc,
    const char *rec, size_t len, rf_buf *out)
{
	unsigned char pay[RF_KEYD_LEN + 1];
	const char *v;
	size_t vn;
	int rc;

	if ((rc = digest_of(ru->more, ru->nmore, sc, rec, len, pay)) <= 0)
		return rc;
	sc->b.len = 0;
	if (rf_json_get(rec, len, ru->path, &v, &vn) < 0) {
		if (rf_buf_adds(&sc->b, "missing") < 0)
			return RF_ENOMEM;
		return broken(out, i, sc);
	}
	if (*v == '"') {
		sc->c.len = 0;
		if (rf_json_canon(v, vn, &sc->c, NULL) < 0)
			return RF_ENOMEM;
		pay[RF_KEYD_LEN] = is_time(sc->c.p, sc->c.len) ? K_TIME : K_STR;
		return put(out, F_SEQ, i, pay, sizeof pay, sc->c.p, sc->c.len);
	}
	if (type_of(v) == T_NUMBER) {
		pay[RF_KEYD_LEN] = K_NUM;
		return put(out, F_SEQ, i, pay, sizeof pay, v, vn);
	}
	if (reason(sc, v, vn, " is neither a number nor a string") < 0)
		return RF_ENOMEM;
	return broken(out, i, sc);
}

/* Whether the rule's when holds: 1, 0, or RF_ENOMEM. */
static int
holds(const struct rule *ru, rf_rules_scratch *sc, const char *rec,
    size_t len)
{
	const char *v;
	size_t vn;

	if (rf_json_get(rec, len, ru->when, &v, &vn) < 0)
		return 0;
	/* Only numbers change their first byte in canonical form. */
	if (type_of(v) != type_of(ru->whenval))
		return 0;
	sc->a.len = 0;
	if (rf_json_canon(v, vn, &sc->a, NULL) < 0)
		return RF_ENOMEM;
	return sc->a.len == ru->whenlen &&
	    memcmp(sc->a.p, ru->whenval, ru->whenlen) == 0;
}

static int
check1(const struct rule *ru, size_t i, rf_rules_scratch *sc, const char *rec,
    size_t len, rf_buf *out)
{
	unsigned char keyd[RF_KEYD_LEN], isnull;
	const char *v = NULL;
	size_t vn = 0;
	bool have;
	int rc;

	if (ru->kind == R_COUNT)
		return 0;
	if (ru->when != NULL && (rc = holds(ru, sc, rec, len)) <= 0)
		return rc;
	if (ru->kind == R_UNIQUE) {
		if ((rc = digest_of(ru->more, ru->nmore, sc, rec, len, keyd)) <= 0)
			return rc;
		return put(out, F_KEY, i, keyd, sizeof keyd, NULL, 0);
	}
	if (ru->kind == R_MONOTONIC)
		return check_monotonic(ru, i, sc, rec, len, out);
	have = rf_json_get(rec, len, ru->path, &v, &vn) == 0;
	sc->b.len = 0;
	switch (ru->kind) {
	case R_REQUIRED:
		if (have)
			return put(out, F_OK, i, NULL, 0, NULL, 0);
		return rf_buf_adds(&sc->b, "missing") < 0 ? RF_ENOMEM :
		    broken(out, i, sc);
	case R_NOT_NULL:
		if (have && *v != 'n')
			return put(out, F_OK, i, NULL, 0, NULL, 0);
		return rf_buf_adds(&sc->b, have ? "null" : "missing") < 0 ?
		    RF_ENOMEM : broken(out, i, sc);
	case R_NULL_RATIO:
		isnull = !have || *v == 'n';
		return put(out, F_NULL, i, &isnull, 1, NULL, 0);
	default:
		break;
	}
	if (!have || *v == 'n')
		return 0;
	if ((rc = check_value(ru, sc, v, vn)) < 0)
		return rc;
	if (rc == 0)
		return put(out, F_OK, i, NULL, 0, NULL, 0);
	return broken(out, i, sc);
}

int
rf_rules_check(const rf_rules *rs, rf_rules_scratch *sc, const char *rec,
    size_t len, rf_buf *out, rf_err *e)
{
	size_t mark = out->len;

	for (size_t i = 0; i < rs->n; i++)
		if (check1(&rs->r[i], i, sc, rec, len, out) < 0) {
			out->len = mark;
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		}
	return 0;
}

/* ---- the state of a whole input --------------------------------------- */

/* An offending record kept as an example, by its place in the input. */
struct ex {
	uint64_t seq, line;
	uint32_t file;
	char *reason;
};

/* The first max offending records in input order. */
struct exset {
	struct ex *v;
	size_t n, cap, max;
};

static int
offer(struct exset *s, uint64_t seq, uint32_t file, uint64_t line,
    const char *why, size_t wn)
{
	size_t lo = 0, hi = s->n;
	char *r;

	if (s->n == s->max && (s->max == 0 || seq >= s->v[s->n - 1].seq))
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if ((r = dupn(why, wn)) == NULL)
		return RF_ENOMEM;
	if (s->n == s->max)
		free(s->v[--s->n].reason);
	else if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 4;
		struct ex *nv;
		if (nc > s->max)
			nc = s->max;
		if ((nv = realloc(s->v, nc * sizeof *nv)) == NULL) {
			free(r);
			return RF_ENOMEM;
		}
		s->v = nv;
		s->cap = nc;
	}
	memmove(s->v + lo + 1, s->v + lo, (s->n - lo) * sizeof *s->v);
	s->v[lo] = (struct ex){ seq, line, file, r };
	s->n++;
	return 0;
}

static void
exset_free(struct exset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].reason);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/*
 * The table of unique or monotonic: for each key digest, the first record
 * with that value (unique), or the group's last comparable value and its
 * record (monotonic).
 */
struct kitem {
	unsigned char key[RF_KEYD_LEN];
	uint64_t line;
	uint32_t file;
	unsigned char kind;
	size_t vlen, vcap;
	char v[];
};

/* An item and its hash: most probes stop at the hash, in the array. */
struct kslot {
	uint64_t h;
	struct kitem *it;
};

/*
 * Items are cut from chunks and never freed one by one: a table of
 * millions is given back in a few calls, and malloc's overhead for each
 * item is saved.
 */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	uint64_t mem[];			/* aligned for a kitem */
};

#define CHUNK ((size_t)64 << 10)

struct ktab {
	struct kslot *slot;
	size_t cap, n;			/* cap = 1 << bits */
	unsigned bits;
	struct chunk *chunks;
	size_t mem;			/* the slots and the chunks */
};

static struct kitem *
kalloc(struct ktab *t, size_t vn)
{
	size_t need = (sizeof(struct kitem) + vn + 7) & ~(size_t)7;
	struct chunk *c = t->chunks;
	struct kitem *it;

	if (need < vn)
		return NULL;
	if (c == NULL || c->cap - c->used < need) {
		size_t sz = need > CHUNK ? need : CHUNK;
		if ((c = malloc(sizeof *c + sz)) == NULL)
			return NULL;
		c->next = t->chunks;
		c->used = 0;
		c->cap = sz;
		t->chunks = c;
		t->mem += sizeof *c + sz;
	}
	it = (struct kitem *)((char *)c->mem + c->used);
	c->used += need;
	it->vcap = need - sizeof(struct kitem);
	return it;
}

static uint64_t
khash(const unsigned char *key)
{
	uint64_t a, b;

	/*
	 * Spill buckets fix leading bits of the digest, so its bits are
	 * mixed before the table takes the high ones.
	 */
	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	return (a ^ b) * 0x9e3779b97f4a7c15ULL;
}

static struct kslot *
kfind(struct ktab *t, const unsigned char *key, uint64_t h)
{
	for (size_t i = (size_t)(h >> (64 - t->bits));; i = (i + 1) & (t->cap - 1)) {
		struct kslot *s = &t->slot[i];
		if (s->it == NULL ||
		    (s->h == h && memcmp(s->it->key, key, RF_KEYD_LEN) == 0))
			return s;
	}
}

static int
kgrow(struct ktab *t)
{
	struct ktab nt = { 0 };

	nt.bits = t->cap ? t->bits + 1 : 6;
	nt.cap = (size_t)1 << nt.bits;
	if ((nt.slot = calloc(nt.cap, sizeof *nt.slot)) == NULL)
		return RF_ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i].it != NULL)
			*kfind(&nt, t->slot[i].it->key, t->slot[i].h) =
			    t->slot[i];
	free(t->slot);
	t->mem += (nt.cap - t->cap) * sizeof *t->slot;
	t->slot = nt.slot;
	t->cap = nt.cap;
	t->bits = nt.bits;
	return 0;
}

/*
 * Sets slot s, empty or holding the same key, to these values.  An item
 * is rewritten in place when the value fits; one that does not is left
 * where it is, unused, and counts against the budget until the end.
 */
static int
kset(struct ktab *t, struct kslot *s, uint64_t h, const unsigned char *key,
    unsigned kind, uint32_t file, uint64_t line, const char *v, size_t vn)
{
	struct kitem *it = s->it;

	if (it == NULL || it->vcap < vn) {
		/* Doubling: a group wastes at most twice its longest value. */
		struct kitem *ni = kalloc(t, it != NULL && vn < 2 * it->vcap ?
		    2 * it->vcap : vn);
		if (ni == NULL)
			return RF_ENOMEM;
		if (it == NULL)
			t->n++;
		memcpy(ni->key, key, RF_KEYD_LEN);
		s->it = it = ni;
		s->h = h;
	}
	it->kind = (unsigned char)kind;
	it->file = file;
	it->line = line;
	it->vlen = vn;
	if (vn > 0)
		memcpy(it->v, v, vn);
	return 0;
}

static void
ktab_free(struct ktab *t)
{
	while (t->chunks != NULL) {
		struct chunk *c = t->chunks;
		t->chunks = c->next;
		free(c);
	}
	free(t->slot);
	memset(t, 0, sizeof *t);
}

/*
 * A spilled entry's payload: what it is (a record, or an item of the table
 * as it was when it spilled), the monotonic kind, the file, the record's
 * place in the input, its line, then the value.  Reading a bucket back
 * needs no telling the two apart: an item's key is new to the bucket's
 * table, as it was to the table it came from, and it comes before every
 * record of that key.
 */
enum { E_RECORD, E_STATE };
#define EHDR 22

struct rstate {
	uint64_t applies, broken, nulls;
	bool ok;
	struct exset ex;
	struct ktab t;			/* unique, monotonic */
	rf_spill *sp;			/* once t outgrew the budget */
	char *figures;
	rf_rule_example *pub;
};

struct rf_rules_state {
	const rf_rules *rs;
	struct rstate *r;
	uint64_t records;
	char **files;
	size_t nfiles;
	size_t budget;			/* for each unique or monotonic rule */
	unsigned nbuckets, wbits;	/* wbits = log2(nbuckets) */
	uint64_t spilled;
	rf_buf why, tmp, ent;
	bool finished;
};

int
rf_rules_state_new(const rf_rules *rs, size_t memory, size_t examples,
    rf_rules_state **out, rf_err *e)
{
	rf_rules_state *st = calloc(1, sizeof *st);
	size_t nk = 0;

	if (st == NULL || (st->r = calloc(rs->n, sizeof *st->r)) == NULL) {
		free(st);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	st->rs = rs;
	for (size_t i = 0; i < rs->n; i++) {
		st->r[i].ex.max = examples;
		nk += rs->r[i].kind == R_UNIQUE || rs->r[i].kind == R_MONOTONIC;
	}
	st->budget = nk > 0 ? memory / nk : memory;
	if (st->budget < RF_RULES_MEMORY_MIN / 2)
		st->budget = RF_RULES_MEMORY_MIN / 2;
	/*
	 * A bucket buffers up to 128 KiB before it writes.  While a rule
	 * writes buckets its table is gone, so the buffers take its budget.
	 */
	for (st->nbuckets = 2; st->nbuckets < 256 &&
	    (size_t)st->nbuckets * 2 * (128 << 10) <= st->budget;
	    st->nbuckets *= 2)
		st->wbits++;
	st->wbits++;
	*out = st;
	return 0;
}

void
rf_rules_state_free(rf_rules_state *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->rs->n; i++) {
		struct rstate *r = &st->r[i];
		exset_free(&r->ex);
		ktab_free(&r->t);
		rf_spill_free(r->sp);
		free(r->figures);
		free(r->pub);
	}
	free(st->r);
	for (size_t i = 0; i < st->nfiles; i++)
		free(st->files[i]);
	free(st->files);
	rf_buf_free(&st->why);
	rf_buf_free(&st->tmp);
	rf_buf_free(&st->ent);
	free(st);
}

/* Where a unique or monotonic finding goes: the table, counts, examples. */
struct kctx {
	rf_rules_state *st;
	const struct rule *ru;
	struct ktab *t;
	struct exset *ex;
	uint64_t *broken;
};

static const char *
kind_one(unsigned kind)
{
	return kind == K_NUM ? "a number" : kind == K_TIME ?
	    "an RFC 3339 date-time" : "a string";
}

static const char *
kind_all(unsigned kind)
{
	return kind == K_NUM ? "numbers" : kind == K_TIME ?
	    "RFC 3339 date-times" : "other strings";
}

/* An instant: seconds, and the digits of the fraction without end zeros. */
static void
instant(const char *tok, size_t n, int64_t *secs, const char **frac,
    size_t *fn)
{
	const char *s = tok + 1;
	size_t len = n - 2, i = 20;

	*secs = 0;
	rf_parse_rfc3339(s, len, secs);
	*frac = s;
	*fn = 0;
	if (len > 19 && s[19] == '.') {
		while (i < len && digit(s[i]))
			i++;
		*frac = s + 20;
		*fn = i - 20;
		while (*fn > 0 && (*frac)[*fn - 1] == '0')
			(*fn)--;
	}
}

static int
kcmp(unsigned kind, const char *a, size_t an, const char *b, size_t bn)
{
	int64_t sa, sb;
	const char *fa, *fb;
	size_t fan, fbn;

	if (kind != K_TIME)
		return rf_json_cmp(a, an, b, bn);
	instant(a, an, &sa, &fa, &fan);
	instant(b, bn, &sb, &fb, &fbn);
	if (sa != sb)
		return sa < sb ? -1 : 1;
	return cmpval(fa, fb, fan, fbn);
}

static int
kfeed(struct kctx *c, const unsigned char *key, unsigned kind,
    uint32_t file, uint64_t seq, uint64_t line, const char *v, size_t vn)
{
	rf_rules_state *st = c->st;
	struct ktab *t = c->t;
	struct kslot *s;
	struct kitem *it;
	uint64_t h = khash(key);
	rf_buf *w = &st->why;
	char place[64];
	int rc;

	if ((t->n + 1) * 2 > t->cap && kgrow(t) < 0)
		return RF_ENOMEM;
	s = kfind(t, key, h);
	if ((it = s->it) == NULL)
		return kset(t, s, h, key, kind, file, line, v, vn);
	w->len = 0;
	if (c->ru->kind == R_UNIQUE) {
		(*c->broken)++;
		snprintf(place, sizeof place, ":%llu",
		    (unsigned long long)it->line);
		if (rf_buf_adds(w, "same value as ") < 0 ||
		    rf_buf_adds(w, st->files[it->file]) < 0 ||
		    rf_buf_adds(w, place) < 0)
			return RF_ENOMEM;
		return offer(c->ex, seq, file, line, w->p, w->len);
	}
	if (kind != it->kind) {
		(*c->broken)++;
		if (show(w, &st->tmp, v, vn) < 0 || rf_buf_adds(w, " is ") < 0 ||
		    rf_buf_adds(w, kind_one(kind)) < 0 ||
		    rf_buf_adds(w, ", and its group holds ") < 0 ||
		    rf_buf_adds(w, kind_all(it->kind)) < 0)
			return RF_ENOMEM;
		return offer(c->ex, seq, file, line, w->p, w->len);
	}
	if (kcmp(kind, v, vn, it->v, it->vlen) < 0) {
		(*c->broken)++;
		snprintf(place, sizeof place, ":%llu)",
		    (unsigned long long)it->line);
		if (show(w, &st->tmp, v, vn) < 0 ||
		    rf_buf_adds(w, " is less than ") < 0 ||
		    show(w, &st->tmp, it->v, it->vlen) < 0 ||
		    rf_buf_adds(w, ", the previous value in its group (") < 0 ||
		    rf_buf_adds(w, st->files[it->file]) < 0 ||
		    rf_buf_adds(w, place) < 0)
			return RF_ENOMEM;
		if ((rc = offer(c->ex, seq, file, line, w->p, w->len)) < 0)
			return rc;
	}
	/* The value before the next one is this one, even if it went down. */
	return kset(t, s, h, key, kind, file, line, v, vn);
}

static int
spill_entry(rf_rules_state *st, rf_spill *sp, int type,
    const unsigned char *key, unsigned kind, uint32_t file, uint64_t seq,
    uint64_t line, const char *v, size_t vn, rf_err *e)
{
	rf_buf *b = &st->ent;
	unsigned char h[EHDR];

	h[0] = (unsigned char)type;
	h[1] = (unsigned char)kind;
	memcpy(h + 2, &file, 4);
	memcpy(h + 6, &seq, 8);
	memcpy(h + 14, &line, 8);
	b->len = 0;
	if (rf_buf_add(b, h, EHDR) < 0 || rf_buf_add(b, v, vn) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	st->spilled += RF_KEYD_LEN + 4 + b->len;
	return rf_spill_add(sp, key, b->p, b->len, e);
}

/* The table outgrew its budget: from now on everything goes to disk. */
static int
kdump(rf_rules_state *st, struct rstate *r, rf_err *e)
{
	int rc;

	if ((rc = rf_spill_new(st->nbuckets, 0, &r->sp, e)) < 0)
		return rc;
	for (size_t i = 0; i < r->t.cap; i++) {
		struct kitem *it = r->t.slot[i].it;
		if (it != NULL && (rc = spill_entry(st, r->sp, E_STATE, it->key,
		    it->kind, it->file, 0, it->line, it->v, it->vlen, e)) < 0)
			return rc;
	}
	ktab_free(&r->t);
	return 0;
}

static int
kmain(rf_rules_state *st, size_t i, const unsigned char *key, unsigned kind,
    uint32_t file, uint64_t seq, uint64_t line, const char *v, size_t vn,
    rf_err *e)
{
	struct rstate *r = &st->r[i];
	struct kctx c = { st, &st->rs->r[i], &r->t, &r->ex, &r->broken };

	if (r->sp != NULL)
		return spill_entry(st, r->sp, E_RECORD, key, kind, file, seq,
		    line, v, vn, e);
	if (kfeed(&c, key, kind, file, seq, line, v, vn) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	if (r->t.mem > st->budget)
		return kdump(st, r, e);
	return 0;
}

static int
intern(rf_rules_state *st, const char *file, uint32_t *idx)
{
	char **nf;

	if (st->nfiles > 0 && strcmp(st->files[st->nfiles - 1], file) == 0) {
		*idx = (uint32_t)(st->nfiles - 1);
		return 0;
	}
	if (st->nfiles >= UINT32_MAX ||
	    (nf = realloc(st->files, (st->nfiles + 1) * sizeof *nf)) == NULL)
		return RF_ENOMEM;
	st->files = nf;
	if ((nf[st->nfiles] = dupn(file, strlen(file))) == NULL)
		return RF_ENOMEM;
	*idx = (uint32_t)st->nfiles++;
	return 0;
}

int
rf_rules_feed(rf_rules_state *st, const char *found, size_t len,
    const char *file, uint64_t line, rf_err *e)
{
	/* A record that no rule looks into may have found nothing at all. */
	const unsigned char *p = (const unsigned char *)(len > 0 ? found : "");
	const unsigned char *end = p + len;
	uint64_t seq = st->records++;
	uint32_t fi;
	int rc;

	if (intern(st, file, &fi) < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	while (end - p >= 9) {
		uint32_t ri, n;
		memcpy(&ri, p + 1, 4);
		memcpy(&n, p + 5, 4);
		const unsigned char *q = p + 9;
		if (ri >= st->rs->n || (size_t)(end - q) < n)
			break;
		struct rstate *r = &st->r[ri];
		r->applies++;
		switch (p[0]) {
		case F_BROKEN:
			r->broken++;
			if (offer(&r->ex, seq, fi, line, (const char *)q, n) < 0)
				return rf_seterr(e, RF_ENOMEM, "out of memory");
			break;
		case F_NULL:
			r->nulls += n > 0 && q[0] != 0;
			break;
		case F_KEY:
		case F_SEQ:
			if (n < RF_KEYD_LEN + (p[0] == F_SEQ))
				break;
			rc = p[0] == F_KEY ?
			    kmain(st, ri, q, 0, fi, seq, line, NULL, 0, e) :
			    kmain(st, ri, q, q[RF_KEYD_LEN], fi, seq, line,
			    (const char *)q + RF_KEYD_LEN + 1,
			    n - RF_KEYD_LEN - 1, e);
			if (rc < 0)
				return rc;
			break;
		}
		p = q + n;
	}
	if (p != end)
		return rf_seterr(e, RF_EUSAGE, "findings not made by "
		    "rf_rules_check");
	return 0;
}

/*
 * Decides the records of one spilled bucket.  If its table outgrows the
 * budget on the way, what it found is dropped and the bucket is spilled
 * again, at the next level, into smaller buckets.
 */
static int drain(rf_rules_state *st, size_t ri, rf_spill *sp, unsigned b,
    rf_err *e);

static int
respill(rf_rules_state *st, size_t ri, rf_spill *sp, unsigned b, rf_err *e)
{
	rf_spill *sub;
	rf_spill_iter it;
	const unsigned char *key;
	const char *p;
	size_t n;
	int rc;

	if ((rc = rf_spill_new(st->nbuckets, rf_spill_level(sp) + 1, &sub,
	    e)) < 0)
		return rc;
	if ((rc = rf_spill_open(sp, b, &it, e)) == 0) {
		while ((rc = rf_spill_next(&it, &key, &p, &n, e)) == 1) {
			st->spilled += RF_KEYD_LEN + 4 + n;
			if ((rc = rf_spill_add(sub, key, p, n, e)) < 0)
				break;
		}
		rf_spill_close(&it);
	}
	rf_spill_drop(sp, b);
	for (unsigned j = 0; rc == 0 && j < rf_spill_count(sub); j++)
		rc = drain(st, ri, sub, j, e);
	rf_spill_free(sub);
	return rc;
}

static int
drain(rf_rules_state *st, size_t ri, rf_spill *sp, unsigned b, rf_err *e)
{
	struct rstate *r = &st->r[ri];
	struct ktab t = { 0 };
	struct exset ex = { .max = r->ex.max };
	uint64_t nbroken = 0;
	struct kctx c = { st, &st->rs->r[ri], &t, &ex, &nbroken };
	bool deeper = (rf_spill_level(sp) + 2) * st->wbits <= 8 * RF_KEYD_LEN,
	    over = false;
	rf_spill_iter it;
	const unsigned char *key;
	const char *p;
	size_t n;
	int rc;

	if (rf_spill_entries(sp, b) == 0)
		return 0;
	if ((rc = rf_spill_open(sp, b, &it, e)) < 0)
		return rc;
	while ((rc = rf_spill_next(&it, &key, &p, &n, e)) == 1) {
		uint32_t file;
		uint64_t seq, line;
		if (n < EHDR) {
			rc = rf_seterr(e, RF_EIO, "scratch file: a bad entry");
			break;
		}
		memcpy(&file, p + 2, 4);
		memcpy(&seq, p + 6, 8);
		memcpy(&line, p + 14, 8);
		if (kfeed(&c, key, (unsigned char)p[1], file, seq, line,
		    p + EHDR, n - EHDR) < 0) {
			rc = rf_seterr(e, RF_ENOMEM, "out of memory");
			break;
		}
		if (deeper && t.mem > st->budget) {
			over = true;
			break;
		}
	}
	rf_spill_close(&it);
	ktab_free(&t);
	if (rc < 0 || over) {
		exset_free(&ex);
		return rc < 0 ? rc : respill(st, ri, sp, b, e);
	}
	r->broken += nbroken;
	for (size_t i = 0; rc == 0 && i < ex.n; i++)
		if (offer(&r->ex, ex.v[i].seq, ex.v[i].file, ex.v[i].line,
		    ex.v[i].reason, strlen(ex.v[i].reason)) < 0)
			rc = rf_seterr(e, RF_ENOMEM, "out of memory");
	exset_free(&ex);
	rf_spill_drop(sp, b);
	return rc;
}

/* a * b as 128 bits, compared: a*b > c*d. */
static bool
mul_gt(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t x[2], y[2];
	const uint64_t *in[2][2] = { { &a, &b }, { &c, &d } };
	uint64_t *o[2] = { x, y };

	for (int k = 0; k < 2; k++) {
		uint64_t p = *in[k][0], q = *in[k][1];
		uint64_t pl = p & 0xffffffff, ph = p >> 32;
		uint64_t ql = q & 0xffffffff, qh = q >> 32;
		uint64_t ll = pl * ql, lh = pl * qh, hl = ph * ql, hh = ph * qh;
		uint64_t mid = (ll >> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);
		o[k][1] = (ll & 0xffffffff) | (mid << 32);
		o[k][0] = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
	}
	return x[0] > y[0] || (x[0] == y[0] && x[1] > y[1]);
}

/* "12.5": a percentage with no zeros at the end, over lim if over. */
static void
fmt_percent(uint64_t n, uint64_t d, bool over, uint64_t lim, char *dst,
    size_t size)
{
	double p = d > 0 ? (double)n * 100 / (double)d : 0;

	for (int prec = 2; prec <= 9; prec++) {
		snprintf(dst, size, "%.*f", prec, p);
		if (!over || strtod(dst, NULL) > (double)lim / 1e6)
			break;
	}
	if (strchr(dst, '.') != NULL) {
		size_t k = strlen(dst);
		while (dst[k - 1] == '0')
			dst[--k] = '\0';
		if (dst[k - 1] == '.')
			dst[k - 1] = '\0';
	}
}

static int
figures(rf_rules_state *st, const struct rule *ru, struct rstate *r)
{
	char buf[256], pct[48];

	if (ru->kind == R_COUNT) {
		r->applies = st->records;
		r->ok = st->records >= ru->lo && st->records <= ru->hi;
		r->broken = r->ok ? 0 : st->records;
		const char *s = st->records == 1 ? "" : "s";
		if (r->ok)
			snprintf(buf, sizeof buf, "%llu record%s",
			    (unsigned long long)st->records, s);
		else
			snprintf(buf, sizeof buf, "%llu record%s, %s than %llu",
			    (unsigned long long)st->records, s,
			    st->records < ru->lo ? "fewer" : "more",
			    (unsigned long long)(st->records < ru->lo ?
			    ru->lo : ru->hi));
	} else {
		r->ok = !mul_gt(r->nulls, 100000000, ru->pct, r->applies);
		r->broken = r->ok ? 0 : r->nulls;
		fmt_percent(r->nulls, r->applies, !r->ok, ru->pct, pct,
		    sizeof pct);
		snprintf(buf, sizeof buf, "%s%% null or missing, %s %s%%", pct,
		    r->ok ? "at most" : "more than", ru->num);
	}
	return (r->figures = dupn(buf, strlen(buf))) == NULL ? RF_ENOMEM : 0;
}

int
rf_rules_finish(rf_rules_state *st, rf_err *e)
{
	int rc;

	if (st->finished)
		return 0;
	st->finished = true;
	for (size_t i = 0; i < st->rs->n; i++) {
		const struct rule *ru = &st->rs->r[i];
		struct rstate *r = &st->r[i];

		if (r->sp != NULL) {
			for (unsigned b = 0; b < rf_spill_count(r->sp); b++)
				if ((rc = drain(st, i, r->sp, b, e)) < 0)
					return rc;
			rf_spill_free(r->sp);
			r->sp = NULL;
		}
		ktab_free(&r->t);
		if (ru->kind == R_COUNT || ru->kind == R_NULL_RATIO) {
			if (figures(st, ru, r) < 0)
				return rf_seterr(e, RF_ENOMEM, "out of memory");
		} else
			r->ok = r->broken == 0;
		if (r->ex.n > 0 &&
		    (r->pub = calloc(r->ex.n, sizeof *r->pub)) == NULL)
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		for (size_t k = 0; k < r->ex.n; k++)
			r->pub[k] = (rf_rule_example){ st->files[r->ex.v[k].file],
			    r->ex.v[k].line, r->ex.v[k].reason };
	}
	return 0;
}

uint64_t
rf_rules_records(const rf_rules_state *st)
{
	return st->records;
}

uint64_t
rf_rules_spilled(const rf_rules_state *st)
{
	return st->spilled;
}

void
rf_rules_result(const rf_rules_state *st, size_t i, rf_rule_result *res)
{
	const struct rstate *r = &st->r[i];

	res->line = st->rs->r[i].line;
	res->text = st->rs->r[i].text;
	res->ok = r->ok;
	res->applies = r->applies;
	res->broken = r->broken;
	res->figures = r->figures;
	res->examples = r->pub;
	res->nexamples = r->ex.n;
}
