/*
 * Signed verification reports (refill-report(5)): what refill-verify
 * --sign vouches for, and what refill-commit publish counts against a
 * POLICY's "verified" checks.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refill.h"

static int
bad(rf_err *e, const char *name, const char *why)
{
	return rf_seterr(e, RF_EDATA, "%s: not a verification report: %s",
	    name, why);
}

int
rf_report_sign(const char *body, size_t n, const rf_key *k, rf_buf *out,
    rf_err *e)
{
	unsigned char sig[RF_SIG_LEN];
	char b64[RF_SIG_LEN * 2];
	int rc;

	if ((rc = rf_key_sign(k, body, n, sig, e)) < 0)
		return rc;
	rf_b64_encode(sig, sizeof sig, b64);
	/* "report" sorts before "sig": the envelope is canonical too. */
	rf_buf_adds(out, "{\"report\":");
	rf_buf_add(out, body, n);
	rf_buf_adds(out, ",\"sig\":\"");
	rf_buf_adds(out, b64);
	if (rf_buf_adds(out, "\"}\n") < 0)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	return 0;
}

/* A string member's bytes, without quotes; NULL if it is not a plain string. */
static const char *
plain(const char *v, size_t vn, size_t *n)
{
	if (vn < 2 || v[0] != '"' || memchr(v + 1, '\\', vn - 2) != NULL)
		return NULL;
	*n = vn - 2;
	return v + 1;
}

int
rf_report_parse(const char *p, size_t n, const char *name, rf_report *r,
    rf_err *e)
{
	const char *k, *v, *body = NULL, *s;
	size_t pos = 0, kn, vn, bn = 0, sn;
	unsigned char sig[RF_SIG_LEN];
	bool has_sig = false, has[6] = { false };
	char why[160];
	int rc;

	memset(r, 0, sizeof *r);
	if (n > 0 && p[n - 1] == '\n')
		n--;
	/* One text for one report: what was signed is what is read. */
	if ((rc = rf_json_is_canon(p, n, e)) < 0) {
		char m[sizeof e->msg];
		snprintf(m, sizeof m, "%s", e->msg);
		return rc == RF_ENOMEM ? rc : rf_seterr(e, RF_EDATA, "%s: not a "
		    "verification report: %s", name, m);
	}
	if (rc == 0)
		return bad(e, name, "not one line of canonical JSON");
	if (p[0] != '{')
		return bad(e, name, "not a JSON object");
	while ((rc = rf_json_next(p, n, &pos, &k, &kn, &v, &vn)) > 0) {
		if (rf_json_name_is(k, kn, "report") && v[0] == '{') {
			body = v;
			bn = vn;
		} else if (rf_json_name_is(k, kn, "sig") && (s = plain(v, vn, &sn)) != NULL &&
		    rf_b64_decode(s, sn, sig, sizeof sig) == RF_SIG_LEN)
			has_sig = true;
		else
			return bad(e, name, "members are report and sig, a "
			    "signature");
	}
	if (body == NULL || !has_sig)
		return bad(e, name, "no report, or no sig");
	pos = 0;
	while ((rc = rf_json_next(body, bn, &pos, &k, &kn, &v, &vn)) > 0) {
		if (rf_json_name_is(k, kn, "format")) {
			has[0] = (s = plain(v, vn, &sn)) != NULL &&
			    sn == strlen(RF_REPORT_FORMAT) &&
			    memcmp(s, RF_REPORT_FORMAT, sn) == 0;
			if (!has[0])
				return bad(e, name, "format is not \""
				    RF_REPORT_FORMAT "\"");
		} else if (rf_json_name_is(k, kn, "check")) {
			has[1] = (s = plain(v, vn, &sn)) != NULL && sn > 0 &&
			    sn < sizeof r->check;
			if (has[1])
				memcpy(r->check, s, sn);
		} else if (rf_json_name_is(k, kn, "version")) {
			char num[16];
			uint64_t u;
			has[2] = vn < sizeof num && (memcpy(num, v, vn),
			    num[vn] = '\0', rf_parse_uint(num, 1,
			    RF_VERSION_MAX, &u)) == 0;
			r->version = has[2] ? (uint32_t)u : 0;
		} else if (rf_json_name_is(k, kn, "manifest")) {
			has[3] = (s = plain(v, vn, &sn)) != NULL &&
			    rf_unhex(s, sn, r->manifest, RF_SHA256_LEN) == 0;
		} else if (rf_json_name_is(k, kn, "passed")) {
			has[4] = (vn == 4 && memcmp(v, "true", 4) == 0) ||
			    (vn == 5 && memcmp(v, "false", 5) == 0);
			r->passed = vn == 4;
		} else if (rf_json_name_is(k, kn, "signer")) {
			has[5] = (s = plain(v, vn, &sn)) != NULL &&
			    sn == RF_PUBKEY_LEN;
			if (has[5])
				memcpy(r->signer, s, sn);
		}
	}
	static const char *const need[] = { "format", "check", "version",
	    "manifest", "passed", "signer" };
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
		if (!has[i]) {
			snprintf(why, sizeof why, "no valid %s", need[i]);
			return bad(e, name, why);
		}
	rf_err se;
	if ((rc = rf_sig_verify(r->signer, body, bn, sig, &se)) < 0)
		return rf_seterr(e, RF_ECHECK, "%s: %s", name,
		    rc == RF_ECHECK ? "the signature does not match its "
		    "report" : se.msg);
	return 0;
}
