/* RFC 3339 timestamps, normalised to UTC without the C library's tz code. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "refill.h"

/* Howard Hinnant's days_from_civil, proleptic Gregorian. */
int64_t
rf_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void
rf_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int
digits(const char *s, int n, unsigned *v)
{
	unsigned x = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 0;
}

static unsigned
mdays(unsigned y, unsigned m)
{
	static const unsigned char len[] = { 31, 28, 31, 30, 31, 30, 31, 31,
	    30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : len[m - 1];
}

int
rf_parse_rfc3339(const char *s, size_t n, int64_t *secs)
{
	unsigned y, mo, d, h = 0, mi = 0, se = 0, oh = 0, om = 0;
	int sign = 0;
	size_t i;

	if (n < 10 || digits(s, 4, &y) < 0 || s[4] != '-' ||
	    digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
	    digits(s + 8, 2, &d) < 0)
		return RF_EDATA;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays(y, mo))
		return RF_EDATA;
	if (n > 10) {
		if (n < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
		    digits(s + 11, 2, &h) < 0 || s[13] != ':' ||
		    digits(s + 14, 2, &mi) < 0 || s[16] != ':' ||
		    digits(s + 17, 2, &se) < 0)
			return RF_EDATA;
		/* A leap second stays in its minute. */
		if (h > 23 || mi > 59 || se > 60)
			return RF_EDATA;
		if (se == 60)
			se = 59;
		i = 19;
		if (s[i] == '.') {
			size_t f = ++i;
			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
			if (i == f)
				return RF_EDATA;
		}
		if (i < n && (s[i] == 'Z' || s[i] == 'z') && i + 1 == n)
			sign = 0;
		else if (i + 6 == n && (s[i] == '+' || s[i] == '-') &&
		    digits(s + i + 1, 2, &oh) == 0 && s[i + 3] == ':' &&
		    digits(s + i + 4, 2, &om) == 0 && oh <= 23 && om <= 59)
			sign = s[i] == '-' ? -1 : 1;
		else
			return RF_EDATA;
	}
	*secs = rf_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
	    sign * (int64_t)(oh * 3600 + om * 60);
	return 0;
}

int
rf_json_time(const char *v, size_t n, int unit, int64_t *secs,
    const char **why)
{
	if (*v == '"') {
		/* Runs on workers: no shared buffer, and none unless escaped. */
		rf_buf s = { 0 };
		int rc;
		if (memchr(v, '\\', n) == NULL)
			rc = rf_parse_rfc3339(v + 1, n - 2, secs);
		else if ((rc = rf_json_unescape(v, n, &s)) == 0)
			rc = rf_parse_rfc3339(s.p, s.len, secs);
		rf_buf_free(&s);
		if (rc < 0) {
			*why = "timestamp is not RFC 3339";
			return -1;
		}
		return 0;
	}
	if (*v == '-' || (*v >= '0' && *v <= '9')) {
		/* A valid JSON number: strtod reads it up to its end. */
		char num[64], *heap = NULL, *s = num;
		double x;
		if (n >= sizeof num && (s = heap = malloc(n + 1)) == NULL) {
			*why = "out of memory";
			return -1;
		}
		memcpy(s, v, n);
		s[n] = '\0';
		x = strtod(s, NULL);
		free(heap);
		if (unit == 1000 || (unit == 0 && fabs(x) >= 1e11))
			x /= 1000;
		/* 0000-01-01 .. 9999-12-31, the years a window name can hold. */
		if (!(x >= -62167219200.0 && x < 253402300800.0)) {
			*why = "timestamp out of range";
			return -1;
		}
		*secs = (int64_t)floor(x);
		return 0;
	}
	*why = "timestamp is neither a string nor a number";
	return -1;
}

int
rf_parse_epoch(const char *s)
{
	if (strcmp(s, "s") == 0)
		return 1;
	if (strcmp(s, "ms") == 0)
		return 1000;
	return -1;
}

int
rf_window_parse(const char *s)
{
	static const char *names[] = { "hour", "day", "month" };

	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int
rf_time_window(int64_t secs, int win, int64_t *out, const char **why)
{
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400), y;
	unsigned m, d;

	rf_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		*why = "timestamp out of range";
		return -1;
	}
	switch (win) {
	case RF_WIN_HOUR:
		*out = days * 24 + (secs - days * 86400) / 3600;
		break;
	case RF_WIN_DAY:
		*out = days;
		break;
	default:
		*out = y * 12 + (m - 1);
	}
	return 0;
}

void
rf_window_name(int64_t w, int win, char *dst, size_t n)
{
	int64_t y, days = w;
	unsigned m, d;

	if (win == RF_WIN_MONTH) {
		snprintf(dst, n, "%04lld-%02lld", (long long)(w / 12),
		    (long long)(w % 12 + 1));
		return;
	}
	if (win == RF_WIN_HOUR)
		days = w >= 0 ? w / 24 : -((-w + 23) / 24);
	rf_civil_from_days(days, &y, &m, &d);
	if (win == RF_WIN_HOUR)
		snprintf(dst, n, "%04lld-%02u-%02uT%02lld", (long long)y, m, d,
		    (long long)(w - days * 24));
	else
		snprintf(dst, n, "%04lld-%02u-%02u", (long long)y, m, d);
}

int
rf_parse_rfc3339_frac(const char *s, size_t n, int64_t *secs,
    const char **frac, size_t *fn)
{
	int rc;

	if ((rc = rf_parse_rfc3339(s, n, secs)) < 0)
		return rc;
	*frac = NULL;
	*fn = 0;
	if (n > 20 && s[19] == '.') {
		size_t i = 20;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		*frac = s + 20;
		*fn = i - 20;
	}
	return 0;
}

size_t
rf_format_rfc3339(int64_t secs, const char *frac, size_t fn, char *dst,
    size_t cap)
{
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400), y;
	int64_t rem = secs - days * 86400;
	unsigned m, d;
	int k;

	rf_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return 0;
	k = snprintf(dst, cap, "%04lld-%02u-%02uT%02u:%02u:%02u%s%.*sZ",
	    (long long)y, m, d, (unsigned)(rem / 3600),
	    (unsigned)(rem / 60 % 60), (unsigned)(rem % 60), fn > 0 ? "." : "",
	    (int)fn, fn > 0 ? frac : "");
	return k < 0 || (size_t)k >= cap ? 0 : (size_t)k;
}
