/* Errors, growable buffers and argument parsing shared by every program. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "refill.h"

int
rf_seterr(rf_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e != NULL) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

int
rf_status(int code)
{
	switch (code) {
	case 0:
		return RF_EXIT_OK;
	case RF_EDATA:
	case RF_ETOOLONG:
	case RF_EMISSING:
		return RF_EXIT_DATA;
	case RF_EUSAGE:
		return RF_EXIT_USAGE;
	case RF_ECHECK:
		return RF_EXIT_CHECK;
	case RF_ECONFLICT:
		return RF_EXIT_CONFLICT;
	default:
		return RF_EXIT_IO;
	}
}

int
rf_buf_reserve(rf_buf *b, size_t extra)
{
	size_t need = b->len + extra, nc;
	char *np;

	if (need < b->len)
		return RF_ENOMEM;
	if (need <= b->cap)
		return 0;
	nc = b->cap ? b->cap : 256;
	while (nc < need)
		nc = nc * 2 > nc ? nc * 2 : need;
	if ((np = realloc(b->p, nc)) == NULL)
		return RF_ENOMEM;
	b->p = np;
	b->cap = nc;
	return 0;
}

int
rf_buf_add(rf_buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n && rf_buf_reserve(b, n) < 0)
		return RF_ENOMEM;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int
rf_buf_adds(rf_buf *b, const char *s)
{
	return rf_buf_add(b, s, strlen(s));
}

int
rf_buf_addc(rf_buf *b, char c)
{
	if (b->len == b->cap && rf_buf_reserve(b, 1) < 0)
		return RF_ENOMEM;
	b->p[b->len++] = c;
	return 0;
}

void
rf_buf_free(rf_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int
rf_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return RF_EUSAGE;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return RF_EUSAGE;
		v = v * 10 + (*s - '0');
	}
	if (v < lo || v > hi)
		return RF_EUSAGE;
	*out = v;
	return 0;
}

int
rf_parse_size(const char *s, size_t *out)
{
	char num[32];
	size_t n = strlen(s);
	unsigned shift = 0;
	uint64_t v;

	if (n == 0 || n >= sizeof num)
		return RF_EUSAGE;
	switch (s[n - 1]) {
	case 'k': case 'K': shift = 10; n--; break;
	case 'm': case 'M': shift = 20; n--; break;
	case 'g': case 'G': shift = 30; n--; break;
	}
	memcpy(num, s, n);
	num[n] = '\0';
	if (rf_parse_uint(num, 1, UINT64_MAX >> 30, &v) < 0 ||
	    (v << shift) > SIZE_MAX / 2)
		return RF_EUSAGE;
	*out = (size_t)(v << shift);
	return 0;
}

double
rf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
rf_timestamp(double t, char dst[32])
{
	int64_t s = (int64_t)t, y;
	unsigned mo, d, ms = (unsigned)((t - s) * 1000);
	int64_t days = s / 86400, rem = s % 86400;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	rf_civil_from_days(days, &y, &mo, &d);
	snprintf(dst, 32, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ",
	    (long long)y, mo, d, (unsigned)(rem / 3600),
	    (unsigned)(rem / 60 % 60), (unsigned)(rem % 60), ms % 1000);
}

bool
rf_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}
