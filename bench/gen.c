/*
 * gen: writes N deterministic, realistic event records (NDJSON) to
 * standard output, for the benchmarks.  The same N and seed give the same
 * bytes on every machine: the generator is a fixed PRNG (splitmix64) and
 * does no floating-point formatting of its own.
 *
 * Each record is about 250 bytes: nested objects, arrays, \u escapes and
 * raw UTF-8, integers, decimals and numbers with exponents, nulls and
 * booleans, RFC 3339 timestamps with offsets and epoch numbers, and a
 * top-level key order that varies from record to record, so that the
 * canonicaliser has real sorting to do.
 *
 * With -d it writes what a keyed diff compares the plain output with: the
 * same records, less one in a thousand (removed), with a member added to
 * one in a hundred (changed), and one in a thousand more at the end
 * (added); the records it keeps are byte for byte those of the plain run.
 *
 * usage: gen [-d] count [seed]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state;

static uint64_t
next(void)
{
	uint64_t z = (state += 0x9E3779B97F4A7C15u);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	return z ^ (z >> 31);
}

static unsigned
pick(unsigned n)
{
	return (unsigned)(next() % n);
}

static const char *events[] = { "page_view", "click", "login", "logout",
    "add_to_cart", "purchase", "search", "video_play" };
static const char *pages[] = { "/home", "/caf\\u00e9/menu", "/search",
    "/product/\\u00fcber-kaffee", "/cart", "/na\xc3\xafve", "/account",
    "/\\u65e5\\u672c", "/deals/\\ud83d\\ude00" };
static const char *oses[] = { "iOS", "Android", "Windows", "macOS", "Linux" };
static const char *tags[] = { "promo", "beta", "returning", "mobile",
    "a\\/b", "\\\"quoted\\\"", "tab\\there" };
static const char *offsets[] = { "Z", "+02:00", "-05:00", "+05:30", "+00:00" };

/* The top-level members of a record, written in a varying order. */
enum { F_ID, F_USER, F_TS, F_EVENT, F_SESSION, F_PROPS, F_TAGS, F_AMOUNT,
	NFIELD };

static void
field(FILE *f, int which, uint64_t i)
{
	/* 2025-07-01T00:00:00Z plus up to 92 days. */
	uint64_t t = 1751328000u + next() % (92u * 86400u);
	unsigned n;

	switch (which) {
	case F_ID:
		fprintf(f, "\"event_id\":\"e%09llu\"", (unsigned long long)i);
		break;
	case F_USER:
		fprintf(f, "\"user_id\":\"u%06u\"", pick(200000));
		break;
	case F_TS:
		if (pick(8) == 0) {
			/* Epoch seconds or milliseconds, as some producers write. */
			if (pick(2))
				fprintf(f, "\"ts\":%llu", (unsigned long long)t);
			else
				fprintf(f, "\"ts\":%llu%03u",
				    (unsigned long long)t, pick(1000));
			break;
		}
		{
			uint64_t d = t / 86400, s = t % 86400;
			/* Civil date of day d (all within 2025). */
			static const unsigned mdays[] = { 31, 28, 31, 30, 31,
			    30, 31, 31, 30, 31, 30, 31 };
			unsigned y = 2025, m = 0, day = (unsigned)(d - 20089);
			while (day >= mdays[m])
				day -= mdays[m++];
			fprintf(f, "\"ts\":\"%u-%02u-%02uT%02u:%02u:%02u.%03u%s\"",
			    y, m + 1, day + 1, (unsigned)(s / 3600),
			    (unsigned)(s / 60 % 60), (unsigned)(s % 60),
			    pick(1000), offsets[pick(5)]);
		}
		break;
	case F_EVENT:
		fprintf(f, "\"event\":\"%s\"", events[pick(8)]);
		break;
	case F_SESSION:
		fprintf(f, "\"session\":{\"id\":\"s%08x\","
		    "\"device\":{\"os\":\"%s\",\"app\":%s}}",
		    (unsigned)next(), oses[pick(5)], pick(2) ? "true" : "false");
		break;
	case F_PROPS:
		fprintf(f, "\"props\":{\"page\":\"%s\",\"ref\":%s,"
		    "\"scroll\":0.%02u}", pages[pick(9)],
		    pick(3) ? "null" : "\"https://example.com/?q=x&y=1\"",
		    pick(100));
		break;
	case F_TAGS:
		fputs("\"tags\":[", f);
		n = pick(4);
		for (unsigned k = 0; k < n; k++)
			fprintf(f, "%s\"%s\"", k ? "," : "", tags[pick(7)]);
		fputc(']', f);
		break;
	case F_AMOUNT:
		switch (pick(5)) {
		case 0:
			fprintf(f, "\"amount\":%u.%02u", pick(1000), pick(100));
			break;
		case 1:
			fprintf(f, "\"amount\":%u.%uE%u", 1 + pick(9), pick(100),
			    pick(4));
			break;
		case 2:
			fprintf(f, "\"amount\":-%u.%03ue-3", pick(10), pick(1000));
			break;
		case 3:
			fprintf(f, "\"amount\":%u", pick(100000));
			break;
		default:
			fputs("\"amount\":null", f);
		}
		break;
	}
}

int
main(int argc, char *argv[])
{
	static char buf[1 << 16];
	unsigned long long count, seed = 1;
	char *end;
	FILE *out = stdout, *null = NULL;
	int dflag = argc > 1 && strcmp(argv[1], "-d") == 0;

	argc -= dflag;
	argv += dflag;
	if (argc < 2 || argc > 3) {
		fputs("usage: gen [-d] count [seed]\n", stderr);
		return 2;
	}
	/* A removed record still draws its numbers: the others stay the same. */
	if (dflag && (null = fopen("/dev/null", "w")) == NULL) {
		perror("gen: /dev/null");
		return 1;
	}
	count = strtoull(argv[1], &end, 10);
	if (*end != '\0' || (argc == 3 && (seed = strtoull(argv[2], &end,
	    10), *end != '\0'))) {
		fputs("gen: count and seed are decimal numbers\n", stderr);
		return 2;
	}
	state = seed;
	setvbuf(stdout, buf, _IOFBF, sizeof buf);
	for (unsigned long long i = 0; i < count; i++) {
		/* A rotation of the member order, different per record. */
		unsigned rot = pick(NFIELD);
		out = dflag && i % 1000 == 7 ? null : stdout;
		fputc('{', out);
		if (dflag && i % 100 == 3)
			fputs("\"fix\":1,", out);
		for (int k = 0; k < NFIELD; k++) {
			if (k > 0)
				fputc(',', out);
			field(out, (k + rot) % NFIELD, i);
		}
		fputs("}\n", out);
	}
	for (unsigned long long i = 0; dflag && i < count / 1000; i++)
		printf("{\"event_id\":\"n%09llu\",\"amount\":%llu}\n", i, i);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("gen: stdout");
		return 1;
	}
	return 0;
}
