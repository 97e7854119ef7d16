/*
 * AWS's ip-ranges.json: read once at startup, validated strictly (known
 * keys typed and required, unknown ones skipped and counted), and the
 * AMAZON prefixes of the configured region put into the allowlist.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allowlist.h"
#include "json.h"
#include "readfile.h"

struct doc {
	const char *buf;
	struct json_tok *t;
	int	n;
	char	*err;
	size_t	errlen;
};

static int
fail(struct doc *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
	return (-1);
}

/* Does string token ${i} equal ${s}?  Escapes are not decoded. */
static int
tok_eq(const struct doc *d, int i, const char *s)
{
	const struct json_tok *t = &d->t[i];
	size_t n = (size_t)(t->end - t->start);

	return (t->type == JSON_STRING && strlen(s) == n &&
	    memcmp(d->buf + t->start, s, n) == 0);
}

/* Does string token ${i} hold a backslash? */
static int
tok_escaped(const struct doc *d, int i)
{
	const struct json_tok *t = &d->t[i];

	return (memchr(d->buf + t->start, '\\', t->end - t->start) != NULL);
}

/* Index of the token after the subtree rooted at ${i}. */
static int
skip(const struct doc *d, int i)
{
	int pending = 1;

	/* Every token's size counts its direct children (a key has one). */
	while (pending > 0 && i < d->n) {
		pending += (int)d->t[i].size - 1;
		i++;
	}
	return (i);
}

/* Token ${i}, the value of key ${what}, must be a non-empty plain string. */
static int
check_string(struct doc *d, int i, const char *what)
{
	const struct json_tok *t = &d->t[i];

	if (t->type != JSON_STRING)
		return (fail(d, "%s is not a string", what));
	if (t->end == t->start || tok_escaped(d, i))
		return (fail(d, "%s has a bad length or escapes", what));
	return (0);
}

/* Copy string token ${i} (no escapes allowed) into ${out}. */
static int
get_string(struct doc *d, int i, char *out, size_t cap, const char *what)
{
	const struct json_tok *t = &d->t[i];
	size_t n = (size_t)(t->end - t->start);

	if (check_string(d, i, what))
		return (-1);
	if (n >= cap)
		return (fail(d, "%s has a bad length or escapes", what));
	memcpy(out, d->buf + t->start, n);
	out[n] = '\0';
	return (0);
}

/*
 * Walk the object at token ${i}.  For each key ${keys}[x] (x < ${n}) set
 * ${val}[x] to the index of its value token (0 if the key is absent).  Any
 * other key is skipped with its whole value, whatever its type, and counted
 * in ${ignored}: AWS adds fields now and then (network_border_group was one),
 * and a new one must not stop every image build and restart.  Such a value
 * is still bounded by the caps of json_parse (depth, tokens, size).  A
 * known key given twice, or a key with escapes (which could spell a known
 * key that tok_eq would miss), is an error.  Returns the index of the token
 * after the object, or -1.
 */
static int
walk_object(struct doc *d, int i, const char *const *keys, int n, int *val,
    size_t *ignored)
{
	int end = skip(d, i), k, x;

	for (x = 0; x < n; x++)
		val[x] = 0;
	for (k = i + 1; k < end; k = skip(d, k)) {
		if (tok_escaped(d, k))
			return (fail(d, "key at byte %zu has escapes",
			    d->t[k].start));
		for (x = 0; x < n && !tok_eq(d, k, keys[x]); x++)
			;
		if (x == n) {
			(*ignored)++;
			continue;
		}
		if (val[x] != 0)
			return (fail(d, "repeated key %s at byte %zu", keys[x],
			    d->t[k].start));
		val[x] = k + 1;
	}
	return (end);
}

/* Parse "YYYY-MM-DD-hh-mm-ss" (UTC) strictly. */
static int
parse_date(const char *s, time_t *out)
{
	struct tm tm;
	int f[6], i, k = 0;

	if (strlen(s) != 19)
		return (-1);
	for (i = 0; i < 6; i++) {
		int w = i == 0 ? 4 : 2, v = 0;
		for (; w > 0; w--, k++) {
			if (s[k] < '0' || s[k] > '9')
				return (-1);
			v = v * 10 + (s[k] - '0');
		}
		if (i < 5 && s[k++] != '-')
			return (-1);
		f[i] = v;
	}
	if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 ||
	    f[4] > 59 || f[5] > 60 || f[0] < 2000)
		return (-1);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = f[0] - 1900;
	tm.tm_mon = f[1] - 1;
	tm.tm_mday = f[2];
	tm.tm_hour = f[3];
	tm.tm_min = f[4];
	tm.tm_sec = f[5];
	*out = timegm(&tm);
	/* timegm normalises Feb 30 to Mar 2: reject what does not round-trip. */
	if (gmtime_r(out, &tm) == NULL || tm.tm_mday != f[2] ||
	    tm.tm_mon != f[1] - 1)
		return (-1);
	return (0);
}

/* Keys of a prefix entry; E_PREFIX is ip_prefix in "prefixes". */
enum { E_PREFIX, E_OTHER_PREFIX, E_REGION, E_SERVICE, E_NBG, E_NKEYS };

/*
 * Parse the prefix of an entry whose value tokens are ${v}, named ${pkey};
 * add it to ${set} if its service is AMAZON and its region ${region}.
 * Every prefix must be well formed, whichever service or region it has.
 */
static int
add_prefix(struct doc *d, const int *v, const char *pkey, int v6,
    const char *region, struct cidrset *set)
{
	char prefix[64];
	struct cidr c;
	int r;

	if (get_string(d, v[E_PREFIX], prefix, sizeof(prefix), pkey))
		return (-1);
	r = cidr_parse(prefix, strlen(prefix), &c);
	if (r == -2)
		return (fail(d, "%s %s has host bits set", pkey, prefix));
	if (r != 0 || (c.net.family == AF_INET6) != v6)
		return (fail(d, "%s %s is malformed", pkey, prefix));
	if (!tok_eq(d, v[E_SERVICE], "AMAZON") ||
	    !tok_eq(d, v[E_REGION], region))
		return (0);
	c.tag = ALLOWLIST_TAG_AWS;
	if (cidrset_add(set, &c))
		return (fail(d, "out of memory"));
	return (0);
}

/*
 * One entry of "prefixes" (${v6} == 0) or "ipv6_prefixes": an object with
 * the keys ip_prefix (ipv6_prefix), region and service, each a non-empty
 * string without escapes; the other family's prefix key is an error.  Any
 * service and region name is accepted (only AMAZON in ${region} is kept).
 * network_border_group is optional, but a string if present: the relay
 * does not use it, so its absence must not stop startup, yet a wrong type
 * still marks a file that is not AWS's format.  Other keys are ignored and
 * counted in ${info}.  Returns the next token index or -1.
 */
static int
parse_entry(struct doc *d, int i, int v6, const char *region,
    struct cidrset *set, struct allowlist_info *info)
{
	const char *const keys[E_NKEYS] = {
		v6 ? "ipv6_prefix" : "ip_prefix",
		v6 ? "ip_prefix" : "ipv6_prefix",
		"region", "service", "network_border_group"
	};
	int v[E_NKEYS], end, x;

	if (d->t[i].type != JSON_OBJECT)
		return (fail(d, "entry at byte %zu is not an object",
		    d->t[i].start));
	if ((end = walk_object(d, i, keys, E_NKEYS, v,
	    &info->ignored_entry_keys)) < 0)
		return (-1);
	if (v[E_OTHER_PREFIX] != 0)
		return (fail(d, "%s in %s at byte %zu", keys[E_OTHER_PREFIX],
		    v6 ? "ipv6_prefixes" : "prefixes", d->t[i].start));
	for (x = 0; x < E_NKEYS; x++) {
		if (v[x] == 0 && x != E_NBG && x != E_OTHER_PREFIX)
			return (fail(d, "entry at byte %zu lacks key %s",
			    d->t[i].start, keys[x]));
		if (v[x] != 0 && check_string(d, v[x], keys[x]))
			return (-1);
	}
	if (add_prefix(d, v, keys[E_PREFIX], v6, region, set))
		return (-1);
	return (end);
}

/* The array value of "prefixes" or "ipv6_prefixes" at token ${i}. */
static int
parse_array(struct doc *d, int i, int v6, const char *region,
    struct cidrset *set, struct allowlist_info *info)
{
	int n, k;

	if (d->t[i].type != JSON_ARRAY)
		return (fail(d, "%s is not an array",
		    v6 ? "ipv6_prefixes" : "prefixes"));
	n = (int)d->t[i].size;
	for (k = i + 1; n > 0; n--) {
		if ((k = parse_entry(d, k, v6, region, set, info)) < 0)
			return (-1);
		info->entries++;
	}
	return (k);
}

/* Keys of the top-level object, all required. */
enum { T_TOKEN, T_DATE, T_V4, T_V6, T_NKEYS };

/*
 * The top-level object: syncToken, createDate, prefixes and ipv6_prefixes,
 * each exactly once; other keys are ignored and counted in ${info}.
 */
static int
parse_top(struct doc *d, const char *region, struct cidrset *set,
    struct allowlist_info *info)
{
	static const char *const keys[T_NKEYS] = {
		"syncToken", "createDate", "prefixes", "ipv6_prefixes"
	};
	int v[T_NKEYS], x;

	if (d->n < 1 || d->t[0].type != JSON_OBJECT)
		return (fail(d, "not a JSON object"));
	if (skip(d, 0) != d->n)
		return (fail(d, "trailing data after the object"));
	if (walk_object(d, 0, keys, T_NKEYS, v, &info->ignored_top_keys) < 0)
		return (-1);
	for (x = 0; x < T_NKEYS; x++)
		if (v[x] == 0)
			return (fail(d, "missing key %s", keys[x]));
	if (get_string(d, v[T_TOKEN], info->sync_token,
	    sizeof(info->sync_token), "syncToken") ||
	    get_string(d, v[T_DATE], info->create_date,
	    sizeof(info->create_date), "createDate"))
		return (-1);
	if (parse_date(info->create_date, &info->created))
		return (fail(d, "createDate %s is not YYYY-MM-DD-hh-mm-ss",
		    info->create_date));
	if (parse_array(d, v[T_V4], 0, region, set, info) < 0 ||
	    parse_array(d, v[T_V6], 1, region, set, info) < 0)
		return (-1);
	return (0);
}

/* Distinct AMAZON prefixes of ${family} (not --allow-cidr ones). */
static size_t
count_aws(const struct cidrset *set, int family)
{
	size_t i, n = 0;

	for (i = 0; i < set->n; i++)
		if (set->v[i].tag == ALLOWLIST_TAG_AWS &&
		    set->v[i].net.family == family)
			n++;
	return (n);
}

int
allowlist_parse(const char *buf, size_t len, const char *region,
    struct cidrset *set, struct allowlist_info *info, char *err,
    size_t errlen)
{
	struct doc d = { buf, NULL, 0, err, errlen };
	size_t before = set->n, pos = 0;
	long n;
	int rc = -1;

	memset(info, 0, sizeof(*info));
	if (len > ALLOWLIST_MAX_BYTES)
		return (fail(&d, "larger than %u bytes", ALLOWLIST_MAX_BYTES));

	/* First pass counts the tokens, so the array is exactly sized. */
	n = json_parse(buf, len, NULL, 0, ALLOWLIST_MAX_DEPTH, &pos);
	if (n < 0)
		return (fail(&d, "invalid JSON or nested deeper than %d "
		    "levels at byte %zu", ALLOWLIST_MAX_DEPTH, pos));
	if ((unsigned long)n > ALLOWLIST_MAX_TOKENS)
		return (fail(&d, "more than %u JSON tokens",
		    ALLOWLIST_MAX_TOKENS));
	if ((d.t = calloc((size_t)n + 1, sizeof(*d.t))) == NULL)
		return (fail(&d, "out of memory"));
	if (json_parse(buf, len, d.t, (size_t)n, ALLOWLIST_MAX_DEPTH,
	    &pos) != n) {
		fail(&d, "invalid JSON at byte %zu", pos);
		goto done;
	}
	d.n = (int)n;
	if (parse_top(&d, region, set, info))
		goto done;
	cidrset_finish(set);
	info->v4 = count_aws(set, AF_INET);
	info->v6 = count_aws(set, AF_INET6);
	rc = 0;
done:
	if (rc != 0)
		set->n = before;
	free(d.t);
	return (rc);
}

int
allowlist_endpoint_only(const struct cidrset *set)
{

	return (set->n > 0 && set->v[0].tag == ALLOWLIST_TAG_VPCE);
}

const char *
allowlist_scope(const struct cidrset *set)
{

	return (allowlist_endpoint_only(set) ? "--vpc-endpoint-cidrs" :
	    "the AMAZON prefixes of the region and --allow-cidr");
}

int
allowlist_load(const char *path, const char *region, struct cidrset *set,
    struct allowlist_info *info, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len;
	int rc;

	if (readfile(path, ALLOWLIST_MAX_BYTES, 0, &buf, &len, err,
	    errlen) != 0)
		return (-1);
	rc = allowlist_parse(buf, len, region, set, info, err, errlen);
	free(buf);
	return (rc);
}
