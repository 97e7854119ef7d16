/*
 * Flags and environment variables (config.h): the one option table,
 * parsing with flags over environment over defaults, and the --help text.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allowlist.h"
#include "config.h"

enum opt_id {
	O_REGION, O_FIPS, O_LISTEN, O_IP_RANGES, O_ALLOW_CIDR, O_VPCE_CIDRS,
	O_VPCE_DNS, O_ALLOW_CLIENT,
	O_MAX_CONNS, O_WORKERS, O_IDLE, O_MAX_SESSION, O_CONNECT, O_DRAIN,
	O_LOG_FORMAT, O_STATS, O_USER, O_LANDLOCK, O_PROXY_PROTOCOL,
	O_HEALTH_LISTEN, O_CHECK, O_HEALTHCHECK, O_PRINT_SECCOMP, O_VERSION,
	O_HELP, O_COUNT
};

/*
 * The one table of options: parsing, defaults and the --help text (in
 * this order) all come from it; README.md's configuration table is checked
 * against --help by tests/deploy/test_interface.py.
 */
struct opt {
	const char *flag;
	const char *meta;	/* the value's name in --help */
	const char *env;	/* NULL: no variable */
	int	arg;		/* takes a value (2: an optional one) */
	int	list;		/* repeatable flag / comma-separated variable */
	unsigned min, max;	/* for numbers */
	const char *def;	/* default, as text */
	const char *unset;	/* what no value means, when def is NULL */
	const char *help;	/* what it does, for --help */
};

static const struct opt opts[O_COUNT] = {
	[O_REGION] = { .flag = "--region", .meta = "R", .env = "SES_REGION",
	    .arg = 1, .def = "us-east-1",
	    .help = "AWS region of the SES endpoint" },
	[O_FIPS] = { .flag = "--fips", .env = "SES_FIPS", .unset = "off",
	    .help = "use email-smtp-fips.R.amazonaws.com" },
	[O_LISTEN] = { .flag = "--listen", .meta = "ADDR:PORT", .env = "LISTEN",
	    .arg = 1, .unset = "0.0.0.0:1587 and [::]:1587",
	    .help = "where clients connect" },
	[O_IP_RANGES] = { .flag = "--ip-ranges", .meta = "PATH",
	    .env = "SES_IP_RANGES", .arg = 1,
	    .def = "/etc/ses-smtp-proxy/ip-ranges.json",
	    .help = "AWS ip-ranges.json" },
	[O_ALLOW_CIDR] = { .flag = "--allow-cidr", .meta = "CIDR",
	    .env = "SES_ALLOW_CIDRS", .arg = 1, .list = 1, .unset = "none",
	    .help = "extra trusted upstream networks" },
	/* No .meta: a value name would push the variable off its column. */
	[O_VPCE_CIDRS] = { .flag = "--vpc-endpoint-cidrs",
	    .env = "SES_VPC_ENDPOINT_CIDRS", .arg = 1, .list = 1,
	    .unset = "off", .help = "CIDRs: endpoint-only mode, the SES VPC "
	    "endpoint's subnets are the only upstream networks and "
	    "ip-ranges.json is not read" },
	[O_VPCE_DNS] = { .flag = "--vpc-endpoint-dns",
	    .env = "SES_VPC_ENDPOINT_DNS", .arg = 1, .unset = "private DNS",
	    .help = "vpce-<id>-<suffix>: resolve it.email-smtp.R.vpce."
	    "amazonaws.com instead" },
	[O_ALLOW_CLIENT] = { .flag = "--allow-client", .meta = "CIDR",
	    .env = "ALLOW_CLIENTS", .arg = 1, .list = 1, .unset = "any",
	    .help = "client networks allowed" },
	[O_MAX_CONNS] = { .flag = "--max-conns", .meta = "N",
	    .env = "MAX_CONNS", .arg = 1, .min = 1, .max = 1000000,
	    .def = "1024", .help = "concurrent sessions" },
	[O_WORKERS] = { .flag = "--workers", .meta = "N", .env = "WORKERS",
	    .arg = 1, .min = 1, .max = CONFIG_WORKERS_MAX, .def = "1",
	    .help = "relay processes on the listener" },
	[O_IDLE] = { .flag = "--idle-timeout", .meta = "S",
	    .env = "IDLE_TIMEOUT", .arg = 1, .min = 1, .max = 86400,
	    .def = "300", .help = "idle seconds before close" },
	[O_MAX_SESSION] = { .flag = "--max-session", .meta = "S",
	    .env = "MAX_SESSION", .arg = 1, .max = 604800, .def = "3600",
	    .help = "session length cap, 0 = none" },
	[O_CONNECT] = { .flag = "--connect-timeout", .meta = "S",
	    .env = "CONNECT_TIMEOUT", .arg = 1, .min = 1, .max = 300,
	    .def = "10", .help = "per upstream address" },
	[O_DRAIN] = { .flag = "--drain-timeout", .meta = "S",
	    .env = "DRAIN_TIMEOUT", .arg = 1, .max = 3600, .def = "8",
	    .help = "after SIGTERM or SIGINT" },
	[O_LOG_FORMAT] = { .flag = "--log-format", .meta = "F",
	    .env = "LOG_FORMAT", .arg = 1, .def = "json",
	    .help = "json or text" },
	[O_STATS] = { .flag = "--stats-interval", .meta = "S",
	    .env = "STATS_INTERVAL", .arg = 1, .max = 86400, .def = "60",
	    .help = "stats event period, 0 = off" },
	[O_USER] = { .flag = "--user", .meta = "UID:GID", .env = "RUN_AS",
	    .arg = 1, .def = "65534:65534",
	    .help = "ids to drop to when started as root" },
	[O_LANDLOCK] = { .flag = "--landlock", .meta = "MODE",
	    .env = "LANDLOCK", .arg = 1, .def = "best-effort",
	    .help = "best-effort or required" },
	[O_PROXY_PROTOCOL] = { .flag = "--proxy-protocol",
	    .env = "PROXY_PROTOCOL", .unset = "off",
	    .help = "each connection starts with a PROXY v1/v2 header "
	    "naming the client" },
	[O_HEALTH_LISTEN] = { .flag = "--health-listen", .meta = "A:P",
	    .env = "HEALTH_LISTEN", .arg = 1, .unset = "off",
	    .help = "HTTP GET /livez, /readyz and /metrics here" },
	[O_CHECK] = { .flag = "--check",
	    .help = "validate, resolve once, print verdicts, exit 0/1" },
	[O_HEALTHCHECK] = { .flag = "--healthcheck", .meta = "[A:P]", .arg = 2,
	    .help = "expect a 220 line from the local listener in 5 s" },
	[O_PRINT_SECCOMP] = { .flag = "--print-seccomp",
	    .help = "the syscall allowlist with a reason per row" },
	[O_VERSION] = { .flag = "--version", .help = "print the version" },
	[O_HELP] = { .flag = "--help", .help = "print this text" },
};

/* Longest value accepted from argv or the environment. */
#define VALUE_MAX	4096

/* Where each option's value came from, for messages. */
struct seen {
	const char *val[O_COUNT];
	const char *src[O_COUNT];	/* flag or variable name */
	int	given[O_COUNT];
};

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return (-1);
}

/* Count the run of bytes from ${s} within [lo, hi]. */
static size_t
span(const char *s, char lo, char hi)
{
	size_t n = 0;

	while (s[n] >= lo && s[n] <= hi)
		n++;
	return (n);
}

int
config_region_valid(const char *r)
{
	size_t n, parts = 0;

	/* [a-z]{2}(-[a-z]+)+-[0-9]{1,2}: us-east-1, us-gov-west-1. */
	if (strlen(r) > 32 || span(r, 'a', 'z') != 2)
		return (0);
	r += 2;
	while (r[0] == '-' && (n = span(r + 1, 'a', 'z')) > 0) {
		r += 1 + n;
		parts++;
	}
	if (parts == 0 || r[0] != '-')
		return (0);
	n = span(r + 1, '0', '9');
	return (n >= 1 && n <= 2 && r[1 + n] == '\0');
}

static int
parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < min || v > max)
		return (-1);
	*out = (unsigned)v;
	return (0);
}

/* "a.b.c.d:port" or "[v6]:port" into a sockaddr. */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *colon = strrchr(s, ':');
	struct cidr_addr a;
	const char *h = s;
	size_t hn;
	unsigned port;

	if (colon == NULL || parse_uint(colon + 1, 1, 65535, &port))
		return (-1);
	hn = (size_t)(colon - s);
	if (hn >= 2 && s[0] == '[' && s[hn - 1] == ']') {
		h = s + 1;
		hn -= 2;
		if (memchr(h, ':', hn) == NULL)
			return (-1);
	} else if (memchr(s, ':', hn) != NULL) {
		return (-1);	/* IPv6 needs brackets */
	}
	if (cidr_addr_parse(h, hn, &a))
		return (-1);
	/* Keep an explicit [::ffff:a.b.c.d] as the IPv4 address it names. */
	*len = cidr_addr_to_sockaddr(&a, (uint16_t)port, ss);
	return (0);
}

/*
 * A comma-separated list (or one flag value) of CIDRs into ${set}.  Those
 * of --allow-cidr and --vpc-endpoint-cidrs (${tag} ALLOWLIST_TAG_OPERATOR
 * or ALLOWLIST_TAG_VPCE) become dialable: refuse one that cidr_unsafe
 * rules out.
 */
static int
parse_cidrs(const char *s, struct cidrset *set, uint8_t tag,
    const char *src, char *err, size_t errlen)
{
	const char *p = s, *e;
	char why[256];
	struct cidr c;
	int r;

	for (;;) {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		r = cidr_parse(p, (size_t)(e - p), &c);
		if (r == -2)
			return (fail(err, errlen, "%s: \"%.*s\" has bits set "
			    "beyond the prefix length", src, (int)(e - p), p));
		if (r != 0)
			return (fail(err, errlen, "%s: \"%.*s\" is not an "
			    "address or CIDR prefix", src, (int)(e - p), p));
		if ((tag == ALLOWLIST_TAG_OPERATOR ||
		    tag == ALLOWLIST_TAG_VPCE) &&
		    cidr_unsafe(&c, why, sizeof(why)))
			return (fail(err, errlen, "%s: \"%.*s\" %s: not an "
			    "upstream network to trust", src, (int)(e - p), p,
			    why));
		c.tag = tag;
		if (cidrset_add(set, &c))
			return (fail(err, errlen, "out of memory"));
		if (*e == '\0')
			break;
		p = e + 1;
	}
	return (0);
}

/*
 * The value ${val} of list option ${id}, from ${src}, into its set; other
 * options are only recorded.  Returns 0 or -1.
 */
static int
add_list(struct config *cfg, int id, const char *val, const char *src,
    char *err, size_t errlen)
{

	switch (id) {
	case O_ALLOW_CIDR:
		return (parse_cidrs(val, &cfg->allow_cidr,
		    ALLOWLIST_TAG_OPERATOR, src, err, errlen));
	case O_VPCE_CIDRS:
		return (parse_cidrs(val, &cfg->vpce_cidr, ALLOWLIST_TAG_VPCE,
		    src, err, errlen));
	case O_ALLOW_CLIENT:
		return (parse_cidrs(val, &cfg->allow_client, 0, src, err,
		    errlen));
	}
	return (0);
}

static const char *
env_get(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return (*envp + n + 1);
	return (NULL);
}

/* Find the option for argv[i]; split "--flag=value". */
static int
match_flag(const char *a, const char **inl)
{
	size_t n;
	int i;

	for (i = 0; i < O_COUNT; i++) {
		n = strlen(opts[i].flag);
		if (strncmp(a, opts[i].flag, n) != 0)
			continue;
		if (a[n] == '\0') {
			*inl = NULL;
			return (i);
		}
		if (a[n] == '=' && opts[i].arg) {
			*inl = a + n + 1;
			return (i);
		}
	}
	return (-1);
}

/* Walk argv: record each option once; repeatable lists go straight in. */
static int
scan_argv(struct config *cfg, struct seen *sn, int argc, char **argv,
    char *err, size_t errlen)
{
	const char *val;
	int i, id;

	for (i = 1; i < argc; i++) {
		if ((id = match_flag(argv[i], &val)) < 0)
			return (fail(err, errlen, "unknown option \"%.64s\"",
			    argv[i]));
		if (opts[id].arg == 2 && val == NULL) {
			/* --healthcheck [ADDR:PORT] */
			if (i + 1 < argc && argv[i + 1][0] != '-')
				val = argv[++i];
		} else if (opts[id].arg && val == NULL) {
			if (i + 1 >= argc)
				return (fail(err, errlen, "%s needs a value",
				    opts[id].flag));
			val = argv[++i];
		}
		if (val != NULL && strlen(val) > VALUE_MAX)
			return (fail(err, errlen, "%s: value too long",
			    opts[id].flag));
		if (sn->given[id] && !opts[id].list)
			return (fail(err, errlen, "%s given more than once",
			    opts[id].flag));
		sn->given[id] = 1;
		sn->val[id] = val;
		sn->src[id] = opts[id].flag;
		if (add_list(cfg, id, val, opts[id].flag, err, errlen))
			return (-1);
	}
	return (0);
}

/* Fill in values from the environment, then defaults. */
static int
scan_env(struct config *cfg, struct seen *sn, char **envp, char *err,
    size_t errlen)
{
	const char *v;
	int id;

	for (id = 0; id < O_COUNT; id++) {
		if (sn->given[id] || opts[id].env == NULL)
			continue;
		if ((v = env_get(envp, opts[id].env)) == NULL) {
			sn->val[id] = opts[id].def;
			sn->src[id] = opts[id].flag;
			continue;
		}
		if (strlen(v) > VALUE_MAX)
			return (fail(err, errlen, "%s: value too long",
			    opts[id].env));
		sn->given[id] = 1;
		sn->val[id] = v;
		sn->src[id] = opts[id].env;
		if (add_list(cfg, id, v, opts[id].env, err, errlen))
			return (-1);
	}
	return (0);
}

static int
apply_numbers(struct config *cfg, const struct seen *sn, char *err,
    size_t errlen)
{
	static const struct {
		int	id;
		size_t	off;
	} nums[] = {
		{ O_MAX_CONNS, offsetof(struct config, max_conns) },
		{ O_WORKERS, offsetof(struct config, workers) },
		{ O_IDLE, offsetof(struct config, idle_timeout) },
		{ O_MAX_SESSION, offsetof(struct config, max_session) },
		{ O_CONNECT, offsetof(struct config, connect_timeout) },
		{ O_DRAIN, offsetof(struct config, drain_timeout) },
		{ O_STATS, offsetof(struct config, stats_interval) },
	};
	size_t i;
	int id;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		id = nums[i].id;
		if (sn->val[id] == NULL || parse_uint(sn->val[id], opts[id].min, opts[id].max,
		    (unsigned *)(void *)((char *)cfg + nums[i].off)))
			return (fail(err, errlen, "%s: \"%.64s\" is not a "
			    "whole number from %u to %u", sn->src[id],
			    sn->val[id], opts[id].min, opts[id].max));
	}
	return (0);
}

/* A switch ${id} into ${on}: the bare flag, or VAR=1 or true; 0 or false. */
static int
apply_bool(const struct seen *sn, int id, int *on, char *err, size_t errlen)
{
	const char *v = sn->val[id];

	*on = sn->given[id] && (v == NULL || strcmp(v, "1") == 0 ||
	    strcmp(v, "true") == 0);
	if (sn->given[id] && !*on && strcmp(v, "0") != 0 &&
	    strcmp(v, "false") != 0 && *v != '\0')
		return (fail(err, errlen, "%s: \"%.64s\" is not 1 or true "
		    "(on), or 0, false or empty (off)", sn->src[id], v));
	return (0);
}

static int
apply_bools(struct config *cfg, const struct seen *sn, char *err,
    size_t errlen)
{

	if (apply_bool(sn, O_FIPS, &cfg->fips, err, errlen) ||
	    apply_bool(sn, O_PROXY_PROTOCOL, &cfg->proxy_protocol, err,
	    errlen))
		return (-1);
	return (0);
}

/*
 * No --listen: the addresses of the option table's default text, "A and
 * B" (the IPv6 one is optional: create_listeners).  Returns 0 or -1.
 */
static int
listen_defaults(struct config *cfg)
{
	const char *s = opts[O_LISTEN].unset, *and;
	char one[CIDR_ADDRSTRLEN + 8];
	size_t n;

	for (cfg->nlisten = 0; cfg->nlisten < CONFIG_MAX_LISTEN;
	    cfg->nlisten++) {
		and = strstr(s, " and ");
		n = and != NULL ? (size_t)(and - s) : strlen(s);
		if (n >= sizeof(one))
			return (-1);
		memcpy(one, s, n);
		one[n] = '\0';
		if (parse_listen(one, &cfg->listen[cfg->nlisten],
		    &cfg->listen_len[cfg->nlisten]))
			return (-1);
		if (and == NULL) {
			cfg->nlisten++;
			return (0);
		}
		s = and + 5;
	}
	return (-1);
}

int
config_vpce_dns_valid(const char *s)
{
	size_t id, sfx;

	/* ^vpce-[0-9a-f]{8}([0-9a-f]{9})?-[a-z0-9]{8}$ */
	if (strncmp(s, "vpce-", 5) != 0)
		return (0);
	s += 5;
	for (id = 0; (s[id] >= '0' && s[id] <= '9') ||
	    (s[id] >= 'a' && s[id] <= 'f'); id++)
		;
	if ((id != 8 && id != 17) || s[id] != '-')
		return (0);
	s += id + 1;
	for (sfx = 0; (s[sfx] >= '0' && s[sfx] <= '9') ||
	    (s[sfx] >= 'a' && s[sfx] <= 'z'); sfx++)
		;
	return (sfx == 8 && s[sfx] == '\0');
}

int
config_upstream_host(char *buf, size_t len, const char *region, int fips,
    const char *vpce_dns)
{
	int n;

	if (vpce_dns[0] != '\0')
		n = snprintf(buf, len, "%s.email-smtp.%s.vpce.amazonaws.com",
		    vpce_dns, region);
	else
		n = snprintf(buf, len, "email-smtp%s.%s.amazonaws.com",
		    fips ? "-fips" : "", region);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

/*
 * Endpoint-only mode (--vpc-endpoint-cidrs) and --vpc-endpoint-dns, then
 * the SES name (after the region).  --allow-cidr would widen what the
 * endpoint's subnets narrow; the endpoint's regional name has no FIPS
 * form the relay could derive: both pairs are refused.
 */
static int
apply_vpce(struct config *cfg, const struct seen *sn, char *err,
    size_t errlen)
{
	const char *v = sn->val[O_VPCE_DNS];

	if (sn->given[O_VPCE_CIDRS] && sn->given[O_ALLOW_CIDR])
		return (fail(err, errlen, "%s and %s exclude each other: in "
		    "endpoint-only mode the endpoint's subnets are the only "
		    "upstream networks", sn->src[O_VPCE_CIDRS],
		    sn->src[O_ALLOW_CIDR]));
	if (v != NULL && !sn->given[O_VPCE_CIDRS])
		return (fail(err, errlen, "%s needs --vpc-endpoint-cidrs "
		    "(or SES_VPC_ENDPOINT_CIDRS): the endpoint's subnets",
		    sn->src[O_VPCE_DNS]));
	if (v != NULL && !config_vpce_dns_valid(v))
		return (fail(err, errlen, "%s: \"%.64s\" is not the first "
		    "label of a VPC endpoint's DNS name, vpce-<id>-<suffix> "
		    "(e.g. vpce-0123456789abcdef0-abcd1234)",
		    sn->src[O_VPCE_DNS], v));
	if (v != NULL && cfg->fips)
		return (fail(err, errlen, "%s and %s exclude each other: the "
		    "endpoint's name is not a FIPS name; with private DNS on, "
		    "--fips alone resolves email-smtp-fips in the VPC",
		    sn->src[O_VPCE_DNS], sn->src[O_FIPS]));
	if (v != NULL)
		snprintf(cfg->vpce_dns, sizeof(cfg->vpce_dns), "%s", v);
	if (config_upstream_host(cfg->upstream_host,
	    sizeof(cfg->upstream_host), cfg->region, cfg->fips, cfg->vpce_dns))
		return (fail(err, errlen, "internal: SES name too long"));
	return (0);
}

static int
apply_strings(struct config *cfg, const struct seen *sn, char *err,
    size_t errlen)
{
	const char *v;

	/* Every option used here has a default: NULL would be our bug. */
	if (sn->val[O_REGION] == NULL || sn->val[O_LOG_FORMAT] == NULL ||
	    sn->val[O_IP_RANGES] == NULL)
		return (fail(err, errlen, "internal: option without a value"));
	v = sn->val[O_REGION];
	if (!config_region_valid(v))
		return (fail(err, errlen, "%s: \"%.64s\" is not an AWS region "
		    "name (e.g. us-east-1, eu-west-1)", sn->src[O_REGION], v));
	snprintf(cfg->region, sizeof(cfg->region), "%s", v);
	if (apply_vpce(cfg, sn, err, errlen))
		return (-1);

	v = sn->val[O_LOG_FORMAT];
	if (strcmp(v, "json") == 0)
		cfg->log_json = 1;
	else if (strcmp(v, "text") == 0)
		cfg->log_json = 0;
	else
		return (fail(err, errlen, "%s: \"%.64s\" is not json or text",
		    sn->src[O_LOG_FORMAT], v));

	v = sn->val[O_IP_RANGES];
	if (*v == '\0')
		return (fail(err, errlen, "%s: empty path",
		    sn->src[O_IP_RANGES]));
	cfg->ip_ranges = v;

	if ((v = sn->val[O_LISTEN]) == NULL) {
		cfg->listen_default = 1;
		if (listen_defaults(cfg) != 0)
			return (fail(err, errlen, "internal: the default of "
			    "--listen"));
		return (0);
	}
	if (parse_listen(v, &cfg->listen[0], &cfg->listen_len[0]))
		return (fail(err, errlen, "%s: \"%.64s\" is not ADDR:PORT "
		    "(e.g. 0.0.0.0:1587 or [::1]:1587, port 1-65535)",
		    sn->src[O_LISTEN], v));
	cfg->nlisten = 1;
	return (0);
}

/* --user UID:GID (numeric: a FROM scratch image has no passwd file). */
static int
apply_sandbox(struct config *cfg, const struct seen *sn, char *err,
    size_t errlen)
{
	const char *v = sn->val[O_USER], *colon;
	char uid[12];

	if (v == NULL || sn->val[O_LANDLOCK] == NULL)
		return (fail(err, errlen, "internal: option without a value"));
	colon = strchr(v, ':');
	if (colon == NULL || (size_t)(colon - v) >= sizeof(uid))
		goto bad_user;
	memcpy(uid, v, (size_t)(colon - v));
	uid[colon - v] = '\0';
	if (parse_uint(uid, 1, 2147483647u, &cfg->run_uid) ||
	    parse_uint(colon + 1, 1, 2147483647u, &cfg->run_gid))
		goto bad_user;
	cfg->user_src = sn->given[O_USER] ? sn->src[O_USER] : NULL;

	v = sn->val[O_LANDLOCK];
	if (strcmp(v, "required") == 0)
		cfg->landlock_required = 1;
	else if (strcmp(v, "best-effort") != 0)
		return (fail(err, errlen, "%s: \"%.64s\" is not best-effort or "
		    "required", sn->src[O_LANDLOCK], v));
	return (0);
bad_user:
	return (fail(err, errlen, "%s: \"%.64s\" is not UID:GID with numeric "
	    "ids other than 0 (e.g. 65534:65534)", sn->src[O_USER], v));
}

/*
 * Would ${a} and ${b} claim the same port on a shared address: the same
 * family and port, and equal addresses or one of them the wildcard?  Then
 * bind(2) of the second fails (the first is listening; IPv6 listeners are
 * IPV6_V6ONLY, so [::] and 0.0.0.0 do not meet).
 */
static int
listen_overlap(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	static const uint8_t any[16];
	struct cidr_addr x, y;
	uint16_t px, py;

	if (a->ss_family != b->ss_family ||
	    cidr_addr_from_sockaddr((const struct sockaddr *)a, &x, &px) ||
	    cidr_addr_from_sockaddr((const struct sockaddr *)b, &y, &py))
		return (0);
	return (px == py && (cidr_addr_eq(&x, &y) ||
	    memcmp(x.a, any, sizeof(any)) == 0 ||
	    memcmp(y.a, any, sizeof(any)) == 0));
}

/*
 * --health-listen ADDR:PORT: the HTTP health listener, on an address and
 * port of its own (not one an SMTP listener already holds).
 */
static int
apply_health_listen(struct config *cfg, const struct seen *sn, char *err,
    size_t errlen)
{
	const char *v = sn->val[O_HEALTH_LISTEN];
	char a[CIDR_ADDRSTRLEN + 8];
	size_t i;

	if (v == NULL)
		return (0);
	if (parse_listen(v, &cfg->health_listen, &cfg->health_listen_len))
		return (fail(err, errlen, "%s: \"%.64s\" is not ADDR:PORT "
		    "(e.g. 0.0.0.0:8080 or [::1]:8080, port 1-65535)",
		    sn->src[O_HEALTH_LISTEN], v));
	for (i = 0; i < cfg->nlisten; i++) {
		if (!listen_overlap(&cfg->health_listen, &cfg->listen[i]))
			continue;
		cidr_sockaddr_format((const struct sockaddr *)&cfg->listen[i],
		    a);
		return (fail(err, errlen, "%s: \"%.64s\" is the SMTP "
		    "listener's address and port (%s); give it a port of its "
		    "own", sn->src[O_HEALTH_LISTEN], v, a));
	}
	return (0);
}

/*
 * A wildcard address in ${ss} turned into loopback.  Read and written
 * through copies: a store through a struct sockaddr_in pointer into the
 * struct sockaddr_storage just assigned is undefined (strict aliasing), and
 * the aarch64 build lost it.
 */
static void
wildcard_to_loopback(struct sockaddr_storage *ss)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	if (ss->ss_family == AF_INET) {
		memcpy(&sin, ss, sizeof(sin));
		if (sin.sin_addr.s_addr == htonl(INADDR_ANY)) {
			sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			memcpy(ss, &sin, sizeof(sin));
		}
	} else if (ss->ss_family == AF_INET6) {
		memcpy(&sin6, ss, sizeof(sin6));
		if (IN6_IS_ADDR_UNSPECIFIED(&sin6.sin6_addr)) {
			sin6.sin6_addr = in6addr_loopback;
			memcpy(ss, &sin6, sizeof(sin6));
		}
	}
}

/*
 * --healthcheck [ADDR:PORT]: the given address, else the (first) listening
 * address with a wildcard turned into loopback.
 */
static int
apply_health(struct config *cfg, const struct seen *sn, char *err,
    size_t errlen)
{
	const char *v = sn->val[O_HEALTHCHECK];

	if (v != NULL) {
		if (parse_listen(v, &cfg->health, &cfg->health_len))
			return (fail(err, errlen, "--healthcheck: \"%.64s\" is "
			    "not ADDR:PORT", v));
		return (0);
	}
	cfg->health = cfg->listen[0];
	cfg->health_len = cfg->listen_len[0];
	wildcard_to_loopback(&cfg->health);
	return (0);
}

int
config_parse(struct config *cfg, int argc, char **argv, char **envp,
    char *err, size_t errlen)
{
	struct seen sn;

	memset(cfg, 0, sizeof(*cfg));
	memset(&sn, 0, sizeof(sn));
	if (scan_argv(cfg, &sn, argc, argv, err, errlen))
		return (-1);
	if (sn.given[O_HELP] || sn.given[O_VERSION] ||
	    sn.given[O_PRINT_SECCOMP]) {
		cfg->mode = sn.given[O_HELP] ? CONFIG_HELP :
		    sn.given[O_VERSION] ? CONFIG_VERSION : CONFIG_PRINT_SECCOMP;
		return (0);
	}
	if (sn.given[O_CHECK] && sn.given[O_HEALTHCHECK])
		return (fail(err, errlen, "--check and --healthcheck exclude "
		    "each other"));
	cfg->mode = sn.given[O_CHECK] ? CONFIG_CHECK :
	    sn.given[O_HEALTHCHECK] ? CONFIG_HEALTHCHECK : CONFIG_RUN;
	if (scan_env(cfg, &sn, envp, err, errlen) ||
	    apply_bools(cfg, &sn, err, errlen) ||
	    apply_strings(cfg, &sn, err, errlen) ||
	    apply_health_listen(cfg, &sn, err, errlen) ||
	    apply_sandbox(cfg, &sn, err, errlen) ||
	    apply_numbers(cfg, &sn, err, errlen) ||
	    apply_health(cfg, &sn, err, errlen))
		return (-1);
	cidrset_finish(&cfg->allow_cidr);
	cidrset_finish(&cfg->vpce_cidr);
	cidrset_finish(&cfg->allow_client);
	return (0);
}

void
config_free(struct config *cfg)
{

	cidrset_free(&cfg->allow_cidr);
	cidrset_free(&cfg->vpce_cidr);
	cidrset_free(&cfg->allow_client);
}

/* --help: columns of the flag, the variable and the text; 80 wide. */
#define USAGE_ENV_COL	25
#define USAGE_HELP_COL	42
#define USAGE_WIDTH	79

struct usage {
	char	buf[4096];
	size_t	len;
	size_t	col;		/* of the next byte on the current line */
};

/* Append ${n} bytes of ${s}; what does not fit is dropped. */
static void
usage_add(struct usage *u, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && u->len + 1 < sizeof(u->buf); i++) {
		u->buf[u->len++] = s[i];
		u->col = s[i] == '\n' ? 0 : u->col + 1;
	}
	u->buf[u->len] = '\0';
}

static void
usage_str(struct usage *u, const char *s)
{

	usage_add(u, s, strlen(s));
}

/* Move to column ${col}: on this line if a space fits, else the next. */
static void
usage_pad(struct usage *u, size_t col)
{

	if (u->col > 0 && u->col + 1 > col)
		usage_add(u, "\n", 1);
	while (u->col < col)
		usage_add(u, " ", 1);
}

/*
 * Append the word ${w} of ${n} bytes after a space, or at column ${col} of
 * a new line when it would pass column 79; ${first}: no space before it.
 */
static void
usage_word(struct usage *u, const char *w, size_t n, size_t col, int first)
{

	if (!first && u->col + 1 + n > USAGE_WIDTH)
		usage_pad(u, col);
	else if (!first)
		usage_add(u, " ", 1);
	usage_add(u, w, n);
}

/*
 * One row: "  --flag META   VAR   what it does (default)", the text
 * wrapped at its column and the default kept in one piece.
 */
static void
usage_opt(struct usage *u, const struct opt *o)
{
	const char *d = o->def != NULL ? o->def : o->unset;
	const char *s = o->help;
	char def[64];
	size_t col = USAGE_ENV_COL, n;
	int first = 1;

	usage_str(u, "  ");
	usage_str(u, o->flag);
	if (o->meta != NULL) {
		usage_str(u, " ");
		usage_str(u, o->meta);
	}
	if (o->env != NULL) {
		usage_pad(u, USAGE_ENV_COL);
		usage_str(u, o->env);
		if (!o->arg)
			usage_str(u, "=1");
		col = USAGE_HELP_COL;
	}
	usage_pad(u, col);
	while (*s != '\0') {
		n = strcspn(s, " ");
		usage_word(u, s, n, col, first);
		first = 0;
		s += n + strspn(s + n, " ");
	}
	if (d != NULL) {
		snprintf(def, sizeof(def), "(%s)", d);
		usage_word(u, def, strlen(def), col, first);
	}
	usage_str(u, "\n");
}

const char *
config_usage(void)
{
	static struct usage u;
	int id;

	if (u.len > 0)
		return (u.buf);
	usage_str(&u, "usage: ses-smtp-proxy [options]\n"
	    "Relay TCP :1587 to email-smtp.<region>.amazonaws.com:587, "
	    "and nowhere else.\n\n");
	for (id = 0; id < O_COUNT; id++)
		usage_opt(&u, &opts[id]);
	usage_str(&u, "\n"
	    "Flags win over environment variables. The upstream port is "
	    "always 587.\n"
	    "Switches: VAR=1 or true is on; 0, false or empty is off.\n"
	    "Lists (CIDR): repeat the flag, or separate them with commas in "
	    "the variable.\n"
	    "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration "
	    "error.\n");
	return (u.buf);
}
