/*
 * Dataset policies (refill-policy(5)): which roles of the trusted-signers
 * file may do each kind of change, whether unsigned changes are allowed,
 * and the compatibility mode.  A policy file is read strictly: a member
 * it does not know is an error, so that a misspelt rule never reads as a
 * weaker one.
 */
#include <stdlib.h>
#include <string.h>

#include "refill.h"

static const char *const actions[RF_ACT_N] = { "commit", "publish",
	"rollback", "gc", "approve", "verify" };
static const char *const checks[RF_CHECK_N] = { "dataset", "diff", "drift",
	"rules" };

const char *
rf_policy_action(int act)
{
	return act >= 0 && act < RF_ACT_N ? actions[act] : "?";
}

const char *
rf_policy_check(int c)
{
	return c >= 0 && c < RF_CHECK_N ? checks[c] : "?";
}

int
rf_policy_check_parse(const char *s, size_t n)
{
	for (int c = 0; c < RF_CHECK_N; c++)
		if (strlen(checks[c]) == n && memcmp(checks[c], s, n) == 0)
			return c;
	return -1;
}

void
rf_policy_free(rf_policy *p)
{
	for (int a = 0; a < RF_ACT_N; a++) {
		for (size_t i = 0; i < p->nroles[a]; i++)
			free(p->roles[a][i]);
		free(p->roles[a]);
	}
	memset(p, 0, sizeof *p);
}

/*
 * What a dataset without a POLICY allows: refill-commit's two roles for
 * its changes; approving is for approvers and owners, signing reports
 * that count for verifiers and owners.
 */
static int
defaults(rf_policy *p)
{
	static const char *const deflt[] = { "committer", "owner" };
	static const char *const approve[] = { "approver", "owner" };
	static const char *const verify[] = { "owner", "verifier" };

	memset(p, 0, sizeof *p);
	p->compat = RF_COMPAT_NONE;
	for (int a = 0; a < RF_ACT_N; a++) {
		const char *const *r = a == RF_ACT_APPROVE ? approve :
		    a == RF_ACT_VERIFY ? verify : deflt;
		if ((p->roles[a] = calloc(2, sizeof *p->roles[a])) == NULL)
			return RF_ENOMEM;
		for (int i = 0; i < 2; i++)
			if ((p->roles[a][p->nroles[a]++] = strdup(r[i])) == NULL)
				return RF_ENOMEM;
	}
	return 0;
}

int
rf_policy_default(rf_policy *p, rf_err *e)
{
	if (defaults(p) < 0) {
		rf_policy_free(p);
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	}
	return 0;
}

static bool
role_name(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int
bad(rf_err *e, const char *name, const char *what)
{
	return rf_seterr(e, RF_EDATA, "%s: %s", name, what);
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The roles of one action: an array of role names, sorted, no repeats. */
static int
read_roles(const char *v, size_t vn, const char *name, const char *act,
    char ***out, size_t *nout, rf_err *e)
{
	const char *k, *rv;
	size_t pos = 0, kn, rn;
	char why[128];
	rf_buf b = { 0 };
	int rc;

	for (size_t i = 0; i < *nout; i++)
		free((*out)[i]);
	free(*out);
	*out = NULL;
	*nout = 0;
	snprintf(why, sizeof why, "roles.%s: not an array of role names", act);
	if (v[0] != '[')
		return bad(e, name, why);
	while ((rc = rf_json_next(v, vn, &pos, &k, &kn, &rv, &rn)) > 0) {
		char **nr;
		b.len = 0;
		if (rv[0] != '"' || rf_json_unescape(rv, rn, &b) < 0 ||
		    !role_name(b.p, b.len)) {
			rf_buf_free(&b);
			return bad(e, name, why);
		}
		for (size_t i = 0; i < *nout; i++)
			if (strlen((*out)[i]) == b.len &&
			    memcmp((*out)[i], b.p, b.len) == 0) {
				rf_buf_free(&b);
				snprintf(why, sizeof why, "roles.%s: a role "
				    "named twice", act);
				return bad(e, name, why);
			}
		if ((nr = realloc(*out, (*nout + 1) * sizeof *nr)) == NULL ||
		    ((*out = nr), (nr[*nout] = strndup(b.p, b.len)) == NULL)) {
			rf_buf_free(&b);
			return rf_seterr(e, RF_ENOMEM, "out of memory");
		}
		(*nout)++;
	}
	rf_buf_free(&b);
	if (*nout == 0) {
		snprintf(why, sizeof why, "roles.%s: no role may do it", act);
		return bad(e, name, why);
	}
	/* Sorted, so that one policy has one text. */
	qsort(*out, *nout, sizeof **out, cmpstr);
	return 0;
}

int
rf_policy_parse(const char *buf, size_t len, const char *name, rf_policy *p,
    rf_err *e)
{
	const char *k, *v;
	size_t pos = 0, kn, vn;
	bool format = false;
	rf_buf t = { 0 };
	int rc;

	if ((rc = rf_json_validate(buf, len, e)) < 0) {
		char why[sizeof e->msg];
		snprintf(why, sizeof why, "%s", e->msg);
		return rf_seterr(e, RF_EDATA, "%s: %s", name, why);
	}
	if ((rc = rf_policy_default(p, e)) < 0)
		return rc;
	rf_json_trim(&buf, &len);
	if (len == 0 || buf[0] != '{') {
		rc = bad(e, name, "not a JSON object");
		goto out;
	}
	while ((rc = rf_json_next(buf, len, &pos, &k, &kn, &v, &vn)) > 0) {
		rc = 0;
		if (rf_json_name_is(k, kn, "format")) {
			format = rf_json_name_is(v, vn, RF_POLICY_FORMAT);
			if (!format)
				rc = bad(e, name, "format is not \""
				    RF_POLICY_FORMAT "\"");
		} else if (rf_json_name_is(k, kn, "unsigned") || rf_json_name_is(k, kn, "self_approval")) {
			bool *b = rf_json_name_is(k, kn, "unsigned") ? &p->unsigned_ok :
			    &p->self_approval;
			if (vn == 4 && memcmp(v, "true", 4) == 0)
				*b = true;
			else if (vn == 5 && memcmp(v, "false", 5) == 0)
				*b = false;
			else
				rc = bad(e, name, b == &p->unsigned_ok ?
				    "unsigned: not true or false" :
				    "self_approval: not true or false");
		} else if (rf_json_name_is(k, kn, "approvals")) {
			char num[8];
			uint64_t u;
			if (vn >= sizeof num || (memcpy(num, v, vn),
			    num[vn] = '\0', rf_parse_uint(num, 0,
			    RF_APPROVALS_MAX, &u)) < 0)
				rc = bad(e, name, "approvals: not a count from 0 "
				    "to 100");
			else
				p->approvals = (unsigned)u;
		} else if (rf_json_name_is(k, kn, "compat")) {
			t.len = 0;
			if (v[0] != '"' || rf_json_unescape(v, vn, &t) < 0 ||
			    rf_buf_addc(&t, '\0') < 0 ||
			    (p->compat = rf_compat_parse(t.p)) < 0)
				rc = bad(e, name, "compat: not \"backward\", "
				    "\"forward\", \"full\" or \"none\"");
		} else if (rf_json_name_is(k, kn, "roles")) {
			const char *ak, *av;
			size_t apos = 0, akn, avn;
			if (v[0] != '{') {
				rc = bad(e, name, "roles: not an object");
				break;
			}
			while (rc == 0 && rf_json_next(v, vn, &apos, &ak, &akn,
			    &av, &avn) > 0) {
				int a;
				for (a = 0; a < RF_ACT_N; a++)
					if (rf_json_name_is(ak, akn, actions[a]))
						break;
				if (a == RF_ACT_N) {
					char why[160];
					snprintf(why, sizeof why, "roles: %.*s is "
					    "not commit, publish, rollback, gc, "
					    "approve or verify",
					    (int)(akn < 64 ? akn : 64), ak);
					rc = bad(e, name, why);
				} else
					rc = read_roles(av, avn, name, actions[a],
					    &p->roles[a], &p->nroles[a], e);
			}
		} else if (rf_json_name_is(k, kn, "verified")) {
			const char *ck, *cv;
			size_t cpos = 0, ckn, cvn;
			int c;
			p->verified = 0;
			if (v[0] != '[')
				rc = bad(e, name, "verified: not an array of "
				    "checks");
			while (rc == 0 && rf_json_next(v, vn, &cpos, &ck, &ckn,
			    &cv, &cvn) > 0) {
				if (cv[0] != '"' || (c = rf_policy_check_parse(cv + 1,
				    cvn - 2)) < 0)
					rc = bad(e, name, "verified: a check is "
					    "\"dataset\", \"diff\", \"drift\" or "
					    "\"rules\"");
				else if (p->verified & 1u << c)
					rc = bad(e, name, "verified: a check "
					    "named twice");
				else
					p->verified |= 1u << c;
			}
		} else {
			char why[160];
			snprintf(why, sizeof why, "%.*s: not a member of a "
			    "policy", (int)(kn < 64 ? kn : 64), k);
			rc = bad(e, name, why);
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && !format)
		rc = bad(e, name, "no \"format\": \"" RF_POLICY_FORMAT "\"");
out:
	rf_buf_free(&t);
	if (rc < 0)
		rf_policy_free(p);
	return rc;
}

int
rf_policy_format(const rf_policy *p, rf_buf *out, rf_err *e)
{
	rf_buf b = { 0 };
	int rc;

	char num[32];
	snprintf(num, sizeof num, "{\"approvals\":%u,", p->approvals);
	rf_buf_adds(&b, num);
	rf_buf_adds(&b, "\"compat\":\"");
	rf_buf_adds(&b, rf_compat_name(p->compat));
	rf_buf_adds(&b, "\",\"format\":\"" RF_POLICY_FORMAT "\",\"roles\":{");
	for (int a = 0; a < RF_ACT_N; a++) {
		if (a > 0)
			rf_buf_addc(&b, ',');
		rf_buf_addc(&b, '"');
		rf_buf_adds(&b, actions[a]);
		rf_buf_adds(&b, "\":[");
		for (size_t i = 0; i < p->nroles[a]; i++) {
			if (i > 0)
				rf_buf_addc(&b, ',');
			rf_json_addstr(&b, p->roles[a][i], strlen(p->roles[a][i]));
		}
		rf_buf_addc(&b, ']');
	}
	rf_buf_adds(&b, "},\"self_approval\":");
	rf_buf_adds(&b, p->self_approval ? "true" : "false");
	rf_buf_adds(&b, ",\"unsigned\":");
	rf_buf_adds(&b, p->unsigned_ok ? "true" : "false");
	rf_buf_adds(&b, ",\"verified\":[");
	for (int c = 0, n = 0; c < RF_CHECK_N; c++)
		if (p->verified & 1u << c) {
			rf_buf_adds(&b, n++ > 0 ? ",\"" : "\"");
			rf_buf_adds(&b, checks[c]);
			rf_buf_addc(&b, '"');
		}
	rc = rf_buf_adds(&b, "]}");
	size_t mark = out->len;
	if (rc == 0 && (rc = rf_json_canon(b.p, b.len, out, e)) == 0 &&
	    (rc = rf_buf_addc(out, '\n')) < 0)
		out->len = mark;
	rf_buf_free(&b);
	return rc == RF_ENOMEM ? rf_seterr(e, rc, "out of memory") : rc;
}

bool
rf_policy_allows(const rf_policy *p, int act, const rf_signer *s)
{
	for (size_t i = 0; s != NULL && i < p->nroles[act]; i++)
		if (rf_signer_has_role(s, p->roles[act][i]))
			return true;
	return false;
}
