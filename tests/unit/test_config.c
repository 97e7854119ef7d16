#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allowlist.h"
#include "config.h"
#include "harness.h"

#define MAXARG	40

/*
 * Writable copies of argv and envp: config_parse may keep pointers into
 * them, so they live until the next call.
 */
static struct {
	char	*argv[MAXARG + 2];
	char	*envp[MAXARG + 1];
	char	store[64 * 1024];
	size_t	used;
	int	argc;
} av;

static char *
keep(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = av.store + av.used;

	if (av.used + n > sizeof(av.store)) {
		fprintf(stderr, "test arguments too long\n");
		exit(2);
	}
	memcpy(p, s, n);
	av.used += n;
	return (p);
}

/* Parse ${args} and ${env} (NULL-terminated; either may be NULL). */
static int
parse(struct config *cfg, const char *const *args, const char *const *env,
    char *err, size_t errlen)
{
	int i;

	av.used = 0;
	av.argc = 0;
	av.argv[av.argc++] = keep("ses-smtp-proxy");
	for (i = 0; args != NULL && args[i] != NULL && i < MAXARG; i++)
		av.argv[av.argc++] = keep(args[i]);
	av.argv[av.argc] = NULL;
	for (i = 0; env != NULL && env[i] != NULL && i < MAXARG; i++)
		av.envp[i] = keep(env[i]);
	av.envp[i] = NULL;
	err[0] = '\0';
	return (config_parse(cfg, av.argc, av.argv, av.envp, err, errlen));
}

#define ARGS(...)	((const char *const []){ __VA_ARGS__, NULL })
#define NOARGS		((const char *const []){ NULL })

static void
test_defaults(void)
{
	struct config cfg;
	char err[256], a[CIDR_ADDRSTRLEN + 8];

	TEST_START("config_parse defaults");
	if (!ASSERT_INT_EQ(parse(&cfg, NOARGS, NOARGS, err, sizeof(err)), 0))
		printf("  err: %s\n", err);
	ASSERT_INT_EQ(cfg.mode, CONFIG_RUN);
	ASSERT_STR_EQ(cfg.region, "us-east-1");
	ASSERT_INT_EQ(cfg.fips, 0);
	ASSERT_STR_EQ(cfg.upstream_host, "email-smtp.us-east-1.amazonaws.com");
	ASSERT_INT_EQ(cfg.listen_default, 1);
	if (ASSERT_SIZE_EQ(cfg.nlisten, 2)) {
		cidr_sockaddr_format((struct sockaddr *)&cfg.listen[0], a);
		ASSERT_STR_EQ(a, "0.0.0.0:1587");
		cidr_sockaddr_format((struct sockaddr *)&cfg.listen[1], a);
		ASSERT_STR_EQ(a, "[::]:1587");
	}
	cidr_sockaddr_format((struct sockaddr *)&cfg.health, a);
	ASSERT_STR_EQ(a, "127.0.0.1:1587");
	if (ASSERT_PTR_NONNULL(cfg.ip_ranges))
		ASSERT_STR_EQ(cfg.ip_ranges,
		    "/etc/ses-smtp-proxy/ip-ranges.json");
	ASSERT_SIZE_EQ(cfg.allow_cidr.n, 0);
	ASSERT_SIZE_EQ(cfg.allow_client.n, 0);
	ASSERT_INT_EQ(cfg.max_conns, 1024);
	ASSERT_INT_EQ(cfg.workers, 1);
	ASSERT_INT_EQ(cfg.idle_timeout, 300);
	ASSERT_INT_EQ(cfg.connect_timeout, 10);
	ASSERT_INT_EQ(cfg.drain_timeout, 8);
	ASSERT_INT_EQ(cfg.max_session, 3600);
	ASSERT_INT_EQ(cfg.stats_interval, 60);
	ASSERT_INT_EQ(cfg.log_json, 1);
	ASSERT_INT_EQ(cfg.proxy_protocol, 0);
	ASSERT_INT_EQ(cfg.health_listen_len, 0);
	config_free(&cfg);
	TEST_DONE();

	TEST_START("config_parse unrelated environment ignored");
	ASSERT_INT_EQ(parse(&cfg, NOARGS, ARGS("PATH=/bin", "SES_REGIONX=x",
	    "XSES_REGION=eu-west-1", "ses_region=eu-west-1", "MAX_CONNS_=5",
	    "SES_REGION_=x", "=", "HOME"), err, sizeof(err)), 0);
	ASSERT_STR_EQ(cfg.region, "us-east-1");
	ASSERT_INT_EQ(cfg.max_conns, 1024);
	config_free(&cfg);
	TEST_DONE();
}

/* Which field a case checks, and its expected value. */
enum field {
	F_REGION, F_UPSTREAM, F_FIPS, F_IPR, F_MAXC, F_IDLE, F_SESS, F_CONN,
	F_DRAIN, F_STATS, F_JSON, F_MODE, F_NCIDR, F_NCLIENT, F_LISTEN,
	F_PROXYP, F_HLISTEN, F_WORKERS
};

static int
check(const struct config *cfg, enum field f, const char *s, long n)
{
	char buf[CIDR_ADDRSTRLEN + 8];

	switch (f) {
	case F_REGION:
		return (ASSERT_STR_EQ(cfg->region, s));
	case F_UPSTREAM:
		return (ASSERT_STR_EQ(cfg->upstream_host, s));
	case F_IPR:
		return (ASSERT_PTR_NONNULL(cfg->ip_ranges) &&
		    ASSERT_STR_EQ(cfg->ip_ranges, s));
	case F_FIPS:
		return (ASSERT_INT_EQ(cfg->fips != 0, n));
	case F_MAXC:
		return (ASSERT_INT_EQ(cfg->max_conns, n));
	case F_WORKERS:
		return (ASSERT_INT_EQ(cfg->workers, n));
	case F_IDLE:
		return (ASSERT_INT_EQ(cfg->idle_timeout, n));
	case F_SESS:
		return (ASSERT_INT_EQ(cfg->max_session, n));
	case F_CONN:
		return (ASSERT_INT_EQ(cfg->connect_timeout, n));
	case F_DRAIN:
		return (ASSERT_INT_EQ(cfg->drain_timeout, n));
	case F_STATS:
		return (ASSERT_INT_EQ(cfg->stats_interval, n));
	case F_JSON:
		return (ASSERT_INT_EQ(cfg->log_json != 0, n));
	case F_MODE:
		return (ASSERT_INT_EQ(cfg->mode, n));
	case F_NCIDR:
		return (ASSERT_SIZE_EQ(cfg->allow_cidr.n, n));
	case F_NCLIENT:
		return (ASSERT_SIZE_EQ(cfg->allow_client.n, n));
	case F_LISTEN:
		if (!ASSERT_SIZE_EQ(cfg->nlisten, 1) ||
		    !ASSERT_INT_EQ(cfg->listen_default, 0))
			return (0);
		cidr_sockaddr_format((const struct sockaddr *)&cfg->listen[0],
		    buf);
		ASSERT_SIZE_EQ(cfg->listen_len[0],
		    cfg->listen[0].ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		return (ASSERT_STR_EQ(buf, s));
	case F_PROXYP:
		return (ASSERT_INT_EQ(cfg->proxy_protocol != 0, n));
	case F_HLISTEN:
		if (s == NULL)
			return (ASSERT_INT_EQ(cfg->health_listen_len, 0));
		cidr_sockaddr_format(
		    (const struct sockaddr *)&cfg->health_listen, buf);
		ASSERT_SIZE_EQ(cfg->health_listen_len,
		    cfg->health_listen.ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		return (ASSERT_STR_EQ(buf, s));
	}
	return (0);
}

#define A_(...)		{ __VA_ARGS__ }
#define NONE		{ NULL }

/* Accepted settings: flags in both forms, environment, precedence. */
static void
test_accept(void)
{
	static const struct {
		const char *args[8];
		const char *env[8];
		enum field f;
		const char *s;
		long	n;
	} t[] = {
		{ A_("--region", "eu-west-1"), NONE, F_REGION, "eu-west-1", 0 },
		{ A_("--region=eu-west-1"), NONE, F_REGION, "eu-west-1", 0 },
		{ A_("--region", "eu-west-1"), NONE, F_UPSTREAM,
		    "email-smtp.eu-west-1.amazonaws.com", 0 },
		{ A_("--region", "us-gov-west-1"), NONE, F_UPSTREAM,
		    "email-smtp.us-gov-west-1.amazonaws.com", 0 },
		{ NONE, A_("SES_REGION=ap-southeast-2"), F_UPSTREAM,
		    "email-smtp.ap-southeast-2.amazonaws.com", 0 },
		{ A_("--region", "us-west-2"), A_("SES_REGION=eu-west-1"),
		    F_REGION, "us-west-2", 0 },
		{ A_("--fips"), NONE, F_UPSTREAM,
		    "email-smtp-fips.us-east-1.amazonaws.com", 0 },
		{ A_("--fips"), NONE, F_FIPS, NULL, 1 },
		{ A_("--fips", "--region", "us-gov-west-1"), NONE, F_UPSTREAM,
		    "email-smtp-fips.us-gov-west-1.amazonaws.com", 0 },
		{ A_("--region=ca-central-1", "--fips"), NONE, F_UPSTREAM,
		    "email-smtp-fips.ca-central-1.amazonaws.com", 0 },
		{ NONE, A_("SES_FIPS=1"), F_UPSTREAM,
		    "email-smtp-fips.us-east-1.amazonaws.com", 0 },
		{ NONE, A_("SES_FIPS=1", "SES_REGION=us-west-1"), F_UPSTREAM,
		    "email-smtp-fips.us-west-1.amazonaws.com", 0 },
		{ NONE, A_("SES_FIPS=0"), F_UPSTREAM,
		    "email-smtp.us-east-1.amazonaws.com", 0 },
		{ NONE, A_("SES_FIPS=0"), F_FIPS, NULL, 0 },
		{ A_("--ip-ranges", "/x/y.json"), NONE, F_IPR, "/x/y.json", 0 },
		{ A_("--ip-ranges=/x/y.json"), NONE, F_IPR, "/x/y.json", 0 },
		{ NONE, A_("SES_IP_RANGES=/e.json"), F_IPR, "/e.json", 0 },
		{ A_("--ip-ranges=/f.json"), A_("SES_IP_RANGES=/e.json"), F_IPR,
		    "/f.json", 0 },
		{ A_("--max-conns", "5"), NONE, F_MAXC, NULL, 5 },
		{ A_("--max-conns=5"), NONE, F_MAXC, NULL, 5 },
		{ NONE, A_("MAX_CONNS=7"), F_MAXC, NULL, 7 },
		{ A_("--max-conns", "6"), A_("MAX_CONNS=7"), F_MAXC, NULL, 6 },
		{ A_("--max-conns", "100000"), NONE, F_MAXC, NULL, 100000 },
		{ A_("--workers", "2"), NONE, F_WORKERS, NULL, 2 },
		{ A_("--workers=16"), NONE, F_WORKERS, NULL, 16 },
		{ NONE, A_("WORKERS=3"), F_WORKERS, NULL, 3 },
		{ A_("--workers", "1"), A_("WORKERS=4"), F_WORKERS, NULL, 1 },
		{ A_("--idle-timeout", "7"), NONE, F_IDLE, NULL, 7 },
		{ A_("--idle-timeout=7"), NONE, F_IDLE, NULL, 7 },
		{ NONE, A_("IDLE_TIMEOUT=9"), F_IDLE, NULL, 9 },
		{ A_("--idle-timeout=8"), A_("IDLE_TIMEOUT=9"), F_IDLE, NULL,
		    8 },
		{ A_("--max-session", "0"), NONE, F_SESS, NULL, 0 },
		{ A_("--max-session=60"), NONE, F_SESS, NULL, 60 },
		{ NONE, A_("MAX_SESSION=0"), F_SESS, NULL, 0 },
		{ A_("--max-session=5"), A_("MAX_SESSION=0"), F_SESS, NULL, 5 },
		{ A_("--connect-timeout", "3"), NONE, F_CONN, NULL, 3 },
		{ A_("--connect-timeout=3"), NONE, F_CONN, NULL, 3 },
		{ NONE, A_("CONNECT_TIMEOUT=4"), F_CONN, NULL, 4 },
		{ A_("--connect-timeout=2"), A_("CONNECT_TIMEOUT=4"), F_CONN,
		    NULL, 2 },
		{ A_("--drain-timeout", "0"), NONE, F_DRAIN, NULL, 0 },
		{ A_("--drain-timeout=30"), NONE, F_DRAIN, NULL, 30 },
		{ NONE, A_("DRAIN_TIMEOUT=20"), F_DRAIN, NULL, 20 },
		{ A_("--drain-timeout=1"), A_("DRAIN_TIMEOUT=20"), F_DRAIN,
		    NULL, 1 },
		{ A_("--stats-interval", "0"), NONE, F_STATS, NULL, 0 },
		{ A_("--stats-interval=15"), NONE, F_STATS, NULL, 15 },
		{ NONE, A_("STATS_INTERVAL=0"), F_STATS, NULL, 0 },
		{ A_("--stats-interval=5"), A_("STATS_INTERVAL=0"), F_STATS,
		    NULL, 5 },
		{ A_("--log-format", "text"), NONE, F_JSON, NULL, 0 },
		{ A_("--log-format=text"), NONE, F_JSON, NULL, 0 },
		{ A_("--log-format=json"), NONE, F_JSON, NULL, 1 },
		{ NONE, A_("LOG_FORMAT=text"), F_JSON, NULL, 0 },
		{ A_("--log-format=json"), A_("LOG_FORMAT=text"), F_JSON, NULL,
		    1 },
		{ A_("--listen", "1.2.3.4:1587"), NONE, F_LISTEN,
		    "1.2.3.4:1587", 0 },
		{ A_("--listen=1.2.3.4:1587"), NONE, F_LISTEN, "1.2.3.4:1587",
		    0 },
		{ A_("--listen", "[::1]:1587"), NONE, F_LISTEN, "[::1]:1587",
		    0 },
		{ A_("--listen=[::]:2525"), NONE, F_LISTEN, "[::]:2525", 0 },
		{ A_("--listen=0.0.0.0:1"), NONE, F_LISTEN, "0.0.0.0:1", 0 },
		{ A_("--listen=0.0.0.0:65535"), NONE, F_LISTEN,
		    "0.0.0.0:65535", 0 },
		{ NONE, A_("LISTEN=127.0.0.1:2587"), F_LISTEN,
		    "127.0.0.1:2587", 0 },
		{ A_("--listen=127.0.0.2:1"), A_("LISTEN=127.0.0.1:2587"),
		    F_LISTEN, "127.0.0.2:1", 0 },
		{ A_("--allow-cidr", "10.0.0.0/8"), NONE, F_NCIDR, NULL, 1 },
		{ A_("--allow-cidr=10.0.0.0/8"), NONE, F_NCIDR, NULL, 1 },
		{ A_("--allow-cidr", "10.0.0.0/8",
		    "--allow-cidr=192.168.0.0/16", "--allow-cidr",
		    "2001:db8::/32"), NONE, F_NCIDR, NULL, 3 },
		{ NONE, A_("SES_ALLOW_CIDRS=10.0.0.0/8,192.168.0.0/16,"
		    "2001:db8::/32"), F_NCIDR, NULL, 3 },
		{ NONE, A_("SES_ALLOW_CIDRS=10.0.0.0/8"), F_NCIDR, NULL, 1 },
		{ A_("--allow-cidr=1.0.0.0/8"), A_("SES_ALLOW_CIDRS=10.0.0.0/8,"
		    "11.0.0.0/8"), F_NCIDR, NULL, 1 },
		{ A_("--allow-client", "192.168.0.0/16"), NONE, F_NCLIENT, NULL,
		    1 },
		{ A_("--allow-client=192.168.0.0/16", "--allow-client",
		    "::1/128"), NONE, F_NCLIENT, NULL, 2 },
		{ NONE, A_("ALLOW_CLIENTS=127.0.0.0/8,::1/128,10.0.0.0/8"),
		    F_NCLIENT, NULL, 3 },
		{ A_("--allow-client=127.0.0.0/8"), NONE, F_NCIDR, NULL, 0 },
		{ A_("--allow-cidr=10.0.0.0/8"), NONE, F_NCLIENT, NULL, 0 },
		/* Loopback and the rest are refused for upstreams only. */
		{ A_("--allow-client=169.254.0.0/16", "--allow-client=::/0"),
		    NONE, F_NCLIENT, NULL, 2 },
		{ A_("--allow-cidr=64:ff9b::a00:0/104", "--allow-cidr",
		    "2002:a00::/24", "--allow-cidr=::ffff:10.0.0.0/104"), NONE,
		    F_NCIDR, NULL, 3 },
		{ A_("--proxy-protocol"), NONE, F_PROXYP, NULL, 1 },
		{ NONE, A_("PROXY_PROTOCOL=1"), F_PROXYP, NULL, 1 },
		{ NONE, A_("PROXY_PROTOCOL=true"), F_PROXYP, NULL, 1 },
		{ NONE, A_("PROXY_PROTOCOL=0"), F_PROXYP, NULL, 0 },
		{ NONE, A_("PROXY_PROTOCOL=false"), F_PROXYP, NULL, 0 },
		{ NONE, A_("PROXY_PROTOCOL="), F_PROXYP, NULL, 0 },
		{ A_("--proxy-protocol"), A_("PROXY_PROTOCOL=0"), F_PROXYP,
		    NULL, 1 },
		{ NONE, NONE, F_PROXYP, NULL, 0 },
		{ A_("--fips"), NONE, F_PROXYP, NULL, 0 },
		{ A_("--proxy-protocol"), NONE, F_FIPS, NULL, 0 },
		{ NONE, NONE, F_HLISTEN, NULL, 0 },
		{ A_("--health-listen", "127.0.0.1:8080"), NONE, F_HLISTEN,
		    "127.0.0.1:8080", 0 },
		{ A_("--health-listen=[::1]:8080"), NONE, F_HLISTEN,
		    "[::1]:8080", 0 },
		{ NONE, A_("HEALTH_LISTEN=0.0.0.0:8081"), F_HLISTEN,
		    "0.0.0.0:8081", 0 },
		{ A_("--health-listen=[::]:1"),
		    A_("HEALTH_LISTEN=0.0.0.0:8081"), F_HLISTEN, "[::]:1", 0 },
		{ A_("--listen=127.0.0.1:1587", "--health-listen",
		    "127.0.0.1:1588"), NONE, F_HLISTEN, "127.0.0.1:1588", 0 },
		{ A_("--listen=127.0.0.1:1587", "--health-listen",
		    "127.0.0.2:1587"), NONE, F_HLISTEN, "127.0.0.2:1587", 0 },
		{ A_("--listen=127.0.0.1:1587", "--health-listen",
		    "[::1]:1587"), NONE, F_HLISTEN, "[::1]:1587", 0 },
		{ A_("--listen=[::]:1587", "--health-listen", "0.0.0.0:1587"),
		    NONE, F_HLISTEN, "0.0.0.0:1587", 0 },
		{ A_("--health-listen", "0.0.0.0:1588"), NONE, F_HLISTEN,
		    "0.0.0.0:1588", 0 },
		{ A_("--health-listen=127.0.0.1:8080", "--proxy-protocol"),
		    NONE, F_PROXYP, NULL, 1 },
		{ A_("--check"), NONE, F_MODE, NULL, CONFIG_CHECK },
		{ A_("--check", "--region", "eu-west-1"), NONE, F_REGION,
		    "eu-west-1", 0 },
		{ A_("--region", "eu-west-1", "--check"), NONE, F_MODE, NULL,
		    CONFIG_CHECK },
		{ A_("--version"), NONE, F_MODE, NULL, CONFIG_VERSION },
		{ A_("--help"), NONE, F_MODE, NULL, CONFIG_HELP },
		{ A_("--help"), A_("MAX_CONNS=abc"), F_MODE, NULL,
		    CONFIG_HELP },
		{ NONE, NONE, F_MODE, NULL, CONFIG_RUN },
	};
	struct config cfg;
	char err[256];
	size_t i, j;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char desc[200] = "";
		for (j = 0; t[i].args[j] != NULL; j++)
			snprintf(desc + strlen(desc), sizeof(desc) -
			    strlen(desc), "%s ", t[i].args[j]);
		for (j = 0; t[i].env[j] != NULL; j++)
			snprintf(desc + strlen(desc), sizeof(desc) -
			    strlen(desc), "[%s] ", t[i].env[j]);
		TEST_START("config_parse accepts %s", desc);
		if (ASSERT_INT_EQ(parse(&cfg, t[i].args, t[i].env, err,
		    sizeof(err)), 0))
			check(&cfg, t[i].f, t[i].s, t[i].n);
		else
			printf("  err: %s\n", err);
		config_free(&cfg);
		TEST_DONE();
	}
}

/* The prefixes of the repeatable options, and their tags. */
static void
test_lists(void)
{
	struct config cfg;
	struct cidr_addr a;
	const struct cidr *c;
	char err[256];

	TEST_START("config_parse --allow-cidr contents and tag");
	ASSERT_INT_EQ(parse(&cfg, ARGS("--allow-cidr", "10.0.0.0/8",
	    "--allow-cidr=2001:db8::/32"), NOARGS, err, sizeof(err)), 0);
	ASSERT_SIZE_EQ(cfg.allow_cidr.n, 2);
	cidr_addr_parse("10.9.9.9", 8, &a);
	c = cidrset_find(&cfg.allow_cidr, &a);
	if (ASSERT_PTR_NONNULL(c))
		ASSERT_INT_EQ(c->tag, ALLOWLIST_TAG_OPERATOR);
	cidr_addr_parse("2001:db8::9", 11, &a);
	ASSERT_PTR_NONNULL(cidrset_find(&cfg.allow_cidr, &a));
	cidr_addr_parse("11.0.0.1", 8, &a);
	ASSERT_PTR_NULL(cidrset_find(&cfg.allow_cidr, &a));
	config_free(&cfg);
	TEST_DONE();

	TEST_START("config_parse ALLOW_CLIENTS contents");
	ASSERT_INT_EQ(parse(&cfg, NOARGS, ARGS("ALLOW_CLIENTS=192.0.2.0/24,"
	    "2001:db8::/48"), err, sizeof(err)), 0);
	cidr_addr_parse("192.0.2.200", 11, &a);
	ASSERT_PTR_NONNULL(cidrset_find(&cfg.allow_client, &a));
	cidr_addr_parse("2001:db8:0:1::1", 15, &a);
	ASSERT_PTR_NONNULL(cidrset_find(&cfg.allow_client, &a));
	cidr_addr_parse("2001:db8:1::1", 13, &a);
	ASSERT_PTR_NULL(cidrset_find(&cfg.allow_client, &a));
	ASSERT_SIZE_EQ(cfg.allow_cidr.n, 0);
	config_free(&cfg);
	TEST_DONE();
}

/* Rejected: -1 and a message that names the flag or variable. */
static void
test_reject(void)
{
	static const struct {
		const char *args[8];
		const char *env[8];
		const char *name;	/* must appear in err */
	} t[] = {
		{ A_("--bogus"), NONE, "--bogus" },
		{ A_("--regionx", "eu-west-1"), NONE, "--regionx" },
		{ A_("--fipsx"), NONE, "--fipsx" },
		{ A_("--max-conns5"), NONE, "--max-conns5" },
		{ A_("eu-west-1"), NONE, "eu-west-1" },
		{ A_("-r"), NONE, "-r" },
		{ A_("--region"), NONE, "--region" },
		{ A_("--listen"), NONE, "--listen" },
		{ A_("--max-conns"), NONE, "--max-conns" },
		{ A_("--allow-cidr"), NONE, "--allow-cidr" },
		{ A_("--region="), NONE, "--region" },
		{ A_("--region", "eu-west-1", "--region", "eu-west-1"), NONE,
		    "--region" },
		{ A_("--region=eu-west-1", "--region", "us-west-2"), NONE,
		    "--region" },
		{ A_("--fips", "--fips"), NONE, "--fips" },
		{ A_("--max-conns", "1", "--max-conns", "1"), NONE,
		    "--max-conns" },
		{ A_("--log-format=json", "--log-format=json"), NONE,
		    "--log-format" },
		{ A_("--ip-ranges=/a", "--ip-ranges=/b"), NONE, "--ip-ranges" },
		{ A_("--check", "--check"), NONE, "--check" },
		{ A_("--region", "US-EAST-1"), NONE, "--region" },
		{ A_("--region", "us-east-1.evil.com"), NONE, "--region" },
		{ A_("--region", "us-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaa-1"), NONE, "--region" },
		{ NONE, A_("SES_REGION=../../etc"), "SES_REGION" },
		{ NONE, A_("SES_REGION="), "SES_REGION" },
		{ A_("--log-format", "xml"), NONE, "--log-format" },
		{ A_("--log-format", "JSON "), NONE, "--log-format" },
		{ NONE, A_("LOG_FORMAT=xml"), "LOG_FORMAT" },
		{ A_("--ip-ranges="), NONE, "--ip-ranges" },
		{ NONE, A_("SES_FIPS=maybe"), "SES_FIPS" },
		/* Numbers. */
		{ A_("--max-conns", "0"), NONE, "--max-conns" },
		{ A_("--workers", "0"), NONE, "--workers" },
		{ A_("--workers", "17"), NONE, "--workers" },
		{ A_("--workers", "two"), NONE, "--workers" },
		{ A_("--workers"), NONE, "--workers" },
		{ NONE, A_("WORKERS=0"), "WORKERS" },
		{ NONE, A_("WORKERS="), "WORKERS" },
		{ A_("--max-conns", "-1"), NONE, "--max-conns" },
		{ A_("--max-conns", "+5"), NONE, "--max-conns" },
		{ A_("--max-conns", "05"), NONE, "--max-conns" },
		{ A_("--max-conns", "00"), NONE, "--max-conns" },
		{ A_("--max-conns", " 5"), NONE, "--max-conns" },
		{ A_("--max-conns", "5 "), NONE, "--max-conns" },
		{ A_("--max-conns", "5s"), NONE, "--max-conns" },
		{ A_("--max-conns", "0x10"), NONE, "--max-conns" },
		{ A_("--max-conns", "1e3"), NONE, "--max-conns" },
		{ A_("--max-conns", "1.5"), NONE, "--max-conns" },
		{ A_("--max-conns", ""), NONE, "--max-conns" },
		{ A_("--max-conns", "4294967296"), NONE, "--max-conns" },
		{ A_("--max-conns", "4294968320"), NONE, "--max-conns" },
		{ A_("--max-conns", "18446744073709552640"), NONE,
		    "--max-conns" },
		{ A_("--max-conns", "99999999999999999999999999999"), NONE,
		    "--max-conns" },
		{ A_("--max-conns=abc"), NONE, "--max-conns" },
		{ NONE, A_("MAX_CONNS=abc"), "MAX_CONNS" },
		{ NONE, A_("MAX_CONNS=4294967297"), "MAX_CONNS" },
		{ NONE, A_("MAX_CONNS="), "MAX_CONNS" },
		{ A_("--idle-timeout", "x"), NONE, "--idle-timeout" },
		{ A_("--idle-timeout", "010"), NONE, "--idle-timeout" },
		{ A_("--idle-timeout", "4294967596"), NONE, "--idle-timeout" },
		{ NONE, A_("IDLE_TIMEOUT=-5"), "IDLE_TIMEOUT" },
		{ A_("--max-session", "-1"), NONE, "--max-session" },
		{ A_("--max-session", "4294967296"), NONE, "--max-session" },
		{ NONE, A_("MAX_SESSION=1h"), "MAX_SESSION" },
		{ A_("--connect-timeout", "0"), NONE, "--connect-timeout" },
		{ A_("--connect-timeout", "4294967306"), NONE,
		    "--connect-timeout" },
		{ NONE, A_("CONNECT_TIMEOUT=ten"), "CONNECT_TIMEOUT" },
		{ A_("--drain-timeout", "08"), NONE, "--drain-timeout" },
		{ NONE, A_("DRAIN_TIMEOUT=8.5"), "DRAIN_TIMEOUT" },
		{ A_("--stats-interval", "-60"), NONE, "--stats-interval" },
		{ NONE, A_("STATS_INTERVAL=4294967356"), "STATS_INTERVAL" },
		/* Listen addresses. */
		{ A_("--listen", "::1:1587"), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4:0"), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4:65536"), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4:4294968883"), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4"), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4:"), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4:01587"), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4:+1587"), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4:-1"), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4:1587 "), NONE, "--listen" },
		{ A_("--listen", "1.2.3.4:15x87"), NONE, "--listen" },
		{ A_("--listen", "[::1]1587"), NONE, "--listen" },
		{ A_("--listen", "[::1]:"), NONE, "--listen" },
		{ A_("--listen", "[::1:1587"), NONE, "--listen" },
		{ A_("--listen", "::1]:1587"), NONE, "--listen" },
		{ A_("--listen", "[]:1587"), NONE, "--listen" },
		{ A_("--listen", "localhost:1587"), NONE, "--listen" },
		{ A_("--listen", "256.0.0.1:1587"), NONE, "--listen" },
		{ A_("--listen", ""), NONE, "--listen" },
		{ NONE, A_("LISTEN=::1:1587"), "LISTEN" },
		{ NONE, A_("LISTEN=0.0.0.0:0"), "LISTEN" },
		/* Prefix lists. */
		{ A_("--allow-cidr", "banana"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "10.0.0.1/8"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "10.0.0.0/33"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", ""), NONE, "--allow-cidr" },
		/* Issue 15 item 8: upstream networks too wide or special. */
		{ A_("--allow-cidr", "0.0.0.0/0"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "10.0.0.0/7"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "169.254.0.0/16"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "127.0.0.0/8"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "224.0.0.1/32"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "::ffff:0:0/96"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "::/0"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "::1/128"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "fe80::/64"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "fd00:ec2::254/128"), NONE,
		    "--allow-cidr" },
		{ A_("--allow-cidr", "64:ff9b::/96"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "64:ff9b:1::/64"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "2002::/16"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "2002:a9fe::/32"), NONE, "--allow-cidr" },
		{ A_("--allow-cidr", "10.0.0.0/8", "--allow-cidr=::/0"), NONE,
		    "--allow-cidr" },
		{ NONE, A_("SES_ALLOW_CIDRS=10.0.0.0/8,169.254.169.254"),
		    "SES_ALLOW_CIDRS" },
		{ NONE, A_("SES_ALLOW_CIDRS=2001::/32"), "SES_ALLOW_CIDRS" },
		{ A_("--allow-client", "10.0.0.0/8/8"), NONE,
		    "--allow-client" },
		{ NONE, A_("SES_ALLOW_CIDRS=banana"), "SES_ALLOW_CIDRS" },
		{ NONE, A_("SES_ALLOW_CIDRS=10.0.0.0/8,"), "SES_ALLOW_CIDRS" },
		{ NONE, A_("SES_ALLOW_CIDRS=,10.0.0.0/8"), "SES_ALLOW_CIDRS" },
		{ NONE, A_("SES_ALLOW_CIDRS=10.0.0.0/8,,11.0.0.0/8"),
		    "SES_ALLOW_CIDRS" },
		{ NONE, A_("SES_ALLOW_CIDRS=10.0.0.0/8,11.0.0.1/8"),
		    "SES_ALLOW_CIDRS" },
		{ NONE, A_("ALLOW_CLIENTS=10.0.0.0/8;11.0.0.0/8"),
		    "ALLOW_CLIENTS" },
		{ NONE, A_("ALLOW_CLIENTS=2001:db8::1/32"), "ALLOW_CLIENTS" },
		/* Switches. */
		{ A_("--proxy-protocol", "--proxy-protocol"), NONE,
		    "--proxy-protocol" },
		{ A_("--proxy-protocol=1"), NONE, "--proxy-protocol" },
		{ A_("--proxy-protocolx"), NONE, "--proxy-protocolx" },
		{ NONE, A_("PROXY_PROTOCOL=yes"), "PROXY_PROTOCOL" },
		{ NONE, A_("PROXY_PROTOCOL=2"), "PROXY_PROTOCOL" },
		/* The health listener. */
		{ A_("--health-listen"), NONE, "--health-listen" },
		{ A_("--health-listen", ""), NONE, "--health-listen" },
		{ A_("--health-listen", "8080"), NONE, "--health-listen" },
		{ A_("--health-listen", "127.0.0.1"), NONE, "--health-listen" },
		{ A_("--health-listen", "127.0.0.1:0"), NONE,
		    "--health-listen" },
		{ A_("--health-listen", "::1:8080"), NONE, "--health-listen" },
		{ A_("--health-listen", "localhost:8080"), NONE,
		    "--health-listen" },
		{ A_("--health-listen=1.2.3.4:1", "--health-listen=1.2.3.4:2"),
		    NONE, "--health-listen" },
		{ NONE, A_("HEALTH_LISTEN=:8080"), "HEALTH_LISTEN" },
		{ A_("--listen", "127.0.0.1:1587", "--health-listen",
		    "127.0.0.1:1587"), NONE, "--health-listen" },
		{ A_("--health-listen", "[::1]:2525", "--listen", "[::1]:2525"),
		    NONE, "--health-listen" },
		{ A_("--listen", "0.0.0.0:1587", "--health-listen",
		    "127.0.0.1:1587"), NONE, "--health-listen" },
		{ A_("--listen", "127.0.0.1:1587", "--health-listen",
		    "0.0.0.0:1587"), NONE, "--health-listen" },
		{ A_("--listen", "[::ffff:127.0.0.1]:1587", "--health-listen",
		    "127.0.0.1:1587"), NONE, "--health-listen" },
		{ A_("--health-listen", "0.0.0.0:1587"), NONE,
		    "--health-listen" },
		{ A_("--health-listen", "[::]:1587"), NONE, "--health-listen" },
		{ A_("--health-listen", "127.0.0.1:1587"), NONE,
		    "--health-listen" },
		{ A_("--health-listen", "[::1]:1587"), NONE,
		    "--health-listen" },
		{ NONE, A_("LISTEN=[::1]:25", "HEALTH_LISTEN=[::1]:25"),
		    "HEALTH_LISTEN" },
	};
	struct config cfg;
	char err[256];
	size_t i, j;
	int r;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char desc[200] = "";
		for (j = 0; t[i].args[j] != NULL; j++)
			snprintf(desc + strlen(desc), sizeof(desc) -
			    strlen(desc), "\"%s\" ", t[i].args[j]);
		for (j = 0; t[i].env[j] != NULL; j++)
			snprintf(desc + strlen(desc), sizeof(desc) -
			    strlen(desc), "[%s] ", t[i].env[j]);
		TEST_START("config_parse rejects %s", desc);
		r = parse(&cfg, t[i].args, t[i].env, err, sizeof(err));
		ASSERT_INT_EQ(r, -1);
		if (!ASSERT_PTR_NONNULL(strstr(err, t[i].name)))
			printf("  err: \"%s\", wanted \"%s\" in it\n", err,
			    t[i].name);
		config_free(&cfg);
		TEST_DONE();
	}

	TEST_START("config_parse --allow-cidr refusal names prefix and why");
	ASSERT_INT_EQ(parse(&cfg, ARGS("--allow-cidr", "10.0.0.0/8",
	    "--allow-cidr", "2002:a9fe::/32"), NOARGS, err, sizeof(err)), -1);
	ASSERT_PTR_NONNULL(strstr(err, "--allow-cidr: \"2002:a9fe::/32\" "));
	ASSERT_PTR_NONNULL(strstr(err, "169.254.0.0/16 (6to4)"));
	config_free(&cfg);
	TEST_DONE();

	TEST_START("config_parse err is cut to errlen");
	{
		char tiny[12];
		memset(tiny, '#', sizeof(tiny));
		av.used = 0;
		av.argv[0] = keep("ses-smtp-proxy");
		av.argv[1] = keep("--bogus-option-with-a-long-name");
		av.argv[2] = NULL;
		av.envp[0] = NULL;
		ASSERT_INT_EQ(config_parse(&cfg, 2, av.argv, av.envp, tiny, 8),
		    -1);
		ASSERT_SIZE_LE(strnlen(tiny, 8), 7);
		ASSERT_INT_EQ(tiny[8], '#');
		config_free(&cfg);
	}
	TEST_DONE();
}

#define VPCE_DNS	"vpce-0123456789abcdef0-ab12cd34"

static void
test_vpce_dns_valid(void)
{
	static const struct {
		const char *s;
		int	ok;
	} t[] = {
		{ VPCE_DNS, 1 }, { "vpce-0fe5b17a0707d6abc-29p5708s", 1 },
		{ "vpce-0123abcd-abcdefgh", 1 },
		{ "vpce-01234567-00000000", 1 },
		{ "", 0 }, { "vpce-", 0 }, { "vpce--abcd1234", 0 },
		{ "vpce-0123456789abcdef-ab12cd34", 0 },	/* 16 hex */
		{ "vpce-0123456789abcdef01-ab12cd34", 0 },	/* 18 hex */
		{ "vpce-0123456-ab12cd34", 0 },		/* 7 hex */
		{ "vpce-012345678-ab12cd34", 0 },		/* 9 hex */
		{ "vpce-0123456789ABCDEF0-ab12cd34", 0 },
		{ "vpce-0123456789abcdeg0-ab12cd34", 0 },
		{ "vpce-0123456789abcdef0-AB12CD34", 0 },
		{ "vpce-0123456789abcdef0-ab12cd3", 0 },
		{ "vpce-0123456789abcdef0-ab12cd345", 0 },
		{ "vpce-0123456789abcdef0-ab12-d34", 0 },
		{ "vpce-0123456789abcdef0_ab12cd34", 0 },
		{ "vpce-0123456789abcdef0-ab12cd34.", 0 },
		{ "vpce-0123456789abcdef0-ab12cd34.evil.example", 0 },
		{ "vpce-0123456789abcdef0-ab12cd34-us-east-1a", 0 },
		{ VPCE_DNS ".email-smtp.us-east-1.vpce.amazonaws.com", 0 },
		{ "VPCE-0123456789abcdef0-ab12cd34", 0 },
		{ " vpce-0123456789abcdef0-ab12cd34", 0 },
		{ "vpce-0123456789abcdef0-ab12cd34 ", 0 },
		{ "vpce-0123456789abcdef0-ab12cd34\n", 0 },
		{ "vpce-0123456789abcdef0-ab12cd\xc3\xa9", 0 },
		{ "xvpce-0123456789abcdef0-ab12cd34", 0 },
		{ "vpc-0123456789abcdef0-ab12cd34", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("config_vpce_dns_valid \"%.48s\"", t[i].s);
		ASSERT_INT_EQ(config_vpce_dns_valid(t[i].s) != 0, t[i].ok);
		TEST_DONE();
	}
}

/* The SES name: public, FIPS, and the endpoint's regional name. */
static void
test_upstream_host(void)
{
	char buf[CONFIG_HOSTLEN];

	TEST_START("config_upstream_host derives each name");
	ASSERT_INT_EQ(config_upstream_host(buf, sizeof(buf), "eu-west-1", 0,
	    ""), 0);
	ASSERT_STR_EQ(buf, "email-smtp.eu-west-1.amazonaws.com");
	ASSERT_INT_EQ(config_upstream_host(buf, sizeof(buf), "eu-west-1", 1,
	    ""), 0);
	ASSERT_STR_EQ(buf, "email-smtp-fips.eu-west-1.amazonaws.com");
	ASSERT_INT_EQ(config_upstream_host(buf, sizeof(buf), "eu-west-1", 0,
	    VPCE_DNS), 0);
	ASSERT_STR_EQ(buf, VPCE_DNS ".email-smtp.eu-west-1.vpce.amazonaws.com");
	TEST_DONE();

	TEST_START("config_upstream_host: the longest name fits, cut is -1");
	ASSERT_INT_EQ(config_upstream_host(buf, sizeof(buf),
	    "us-aaaaaaaaaaaaaaaaaaaaaaaaaaa-1", 0, VPCE_DNS), 0);
	ASSERT_SIZE_EQ(strlen(VPCE_DNS), CONFIG_VPCE_DNS_MAX);
	ASSERT_INT_EQ(config_upstream_host(buf, 20, "us-east-1", 0, ""), -1);
	TEST_DONE();
}

/* Endpoint-only mode: its prefixes, its name, and what it refuses. */
static void
test_vpce(void)
{
	static const struct {
		const char *args[8];
		const char *env[8];
		const char *name[2];	/* both must appear in err */
	} bad[] = {
		{ A_("--vpc-endpoint-cidrs", "10.0.0.0/24", "--allow-cidr",
		    "10.1.0.0/24"), NONE, { "--vpc-endpoint-cidrs",
		    "--allow-cidr" } },
		{ A_("--vpc-endpoint-cidrs", "10.0.0.0/24"),
		    A_("SES_ALLOW_CIDRS=10.1.0.0/24"), { "--vpc-endpoint-cidrs",
		    "SES_ALLOW_CIDRS" } },
		{ NONE, A_("SES_VPC_ENDPOINT_CIDRS=10.0.0.0/24",
		    "SES_ALLOW_CIDRS=10.1.0.0/24"), { "SES_VPC_ENDPOINT_CIDRS",
		    "SES_ALLOW_CIDRS" } },
		{ A_("--vpc-endpoint-dns", VPCE_DNS), NONE,
		    { "--vpc-endpoint-dns", "--vpc-endpoint-cidrs" } },
		{ NONE, A_("SES_VPC_ENDPOINT_DNS=" VPCE_DNS),
		    { "SES_VPC_ENDPOINT_DNS", "--vpc-endpoint-cidrs" } },
		{ A_("--vpc-endpoint-cidrs", "10.0.0.0/24",
		    "--vpc-endpoint-dns",
		    "email-smtp.evil.example"), NONE, { "--vpc-endpoint-dns",
		    "vpce-<id>-<suffix>" } },
		{ A_("--vpc-endpoint-cidrs", "10.0.0.0/24"),
		    A_("SES_VPC_ENDPOINT_DNS=vpce-1-2"),
		    { "SES_VPC_ENDPOINT_DNS", "\"vpce-1-2\"" } },
		{ A_("--vpc-endpoint-cidrs", "10.0.0.0/24",
		    "--vpc-endpoint-dns",
		    VPCE_DNS, "--fips"), NONE, { "--vpc-endpoint-dns",
		    "--fips" } },
		{ A_("--vpc-endpoint-cidrs", "10.0.0.0/24",
		    "--vpc-endpoint-dns",
		    VPCE_DNS), A_("SES_FIPS=1"), { "--vpc-endpoint-dns",
		    "SES_FIPS" } },
		{ A_("--vpc-endpoint-cidrs", "10.0.0.0/24",
		    "--vpc-endpoint-dns",
		    VPCE_DNS, "--vpc-endpoint-dns", VPCE_DNS), NONE,
		    { "--vpc-endpoint-dns", "more than once" } },
		{ A_("--vpc-endpoint-cidrs", "127.0.0.0/8"), NONE,
		    { "--vpc-endpoint-cidrs", "loopback" } },
		{ A_("--vpc-endpoint-cidrs", "10.0.0.0/7"), NONE,
		    { "--vpc-endpoint-cidrs", "\"10.0.0.0/7\"" } },
		{ A_("--vpc-endpoint-cidrs", "10.0.0.1/24"), NONE,
		    { "--vpc-endpoint-cidrs", "bits set" } },
		{ NONE,
		    A_("SES_VPC_ENDPOINT_CIDRS=10.0.0.0/24,169.254.169.254"),
		    { "SES_VPC_ENDPOINT_CIDRS", "169.254.169.254" } },
		{ NONE, A_("SES_VPC_ENDPOINT_CIDRS=64:ff9b::a9fe:0/112"),
		    { "SES_VPC_ENDPOINT_CIDRS", "64:ff9b::a9fe:0/112" } },
		{ NONE, A_("SES_VPC_ENDPOINT_CIDRS="),
		    { "SES_VPC_ENDPOINT_CIDRS", "not an address" } },
		{ A_("--vpc-endpoint-cidrs"), NONE,
		    { "--vpc-endpoint-cidrs", "needs a value" } },
	};
	struct config cfg;
	struct cidr_addr a;
	const struct cidr *c;
	char err[256];
	size_t i, j;

	TEST_START("config_parse --vpc-endpoint-cidrs: its prefixes, tagged");
	ASSERT_INT_EQ(parse(&cfg, ARGS("--vpc-endpoint-cidrs",
	    "10.0.0.0/24,10.0.1.0/24", "--vpc-endpoint-cidrs=fd12::/64",
	    "--region", "eu-west-1"), NOARGS, err, sizeof(err)), 0);
	ASSERT_SIZE_EQ(cfg.vpce_cidr.n, 3);
	ASSERT_SIZE_EQ(cfg.allow_cidr.n, 0);
	cidr_addr_parse("10.0.1.9", 8, &a);
	c = cidrset_find(&cfg.vpce_cidr, &a);
	if (ASSERT_PTR_NONNULL(c))
		ASSERT_INT_EQ(c->tag, ALLOWLIST_TAG_VPCE);
	ASSERT_STR_EQ(cfg.vpce_dns, "");
	ASSERT_STR_EQ(cfg.upstream_host, "email-smtp.eu-west-1.amazonaws.com");
	config_free(&cfg);
	TEST_DONE();

	TEST_START("config_parse --vpc-endpoint-dns: the endpoint's name");
	ASSERT_INT_EQ(parse(&cfg, ARGS("--vpc-endpoint-dns=" VPCE_DNS,
	    "--region", "eu-west-1"),
	    ARGS("SES_VPC_ENDPOINT_CIDRS=10.0.0.0/24"), err, sizeof(err)), 0);
	ASSERT_SIZE_EQ(cfg.vpce_cidr.n, 1);
	ASSERT_STR_EQ(cfg.vpce_dns, VPCE_DNS);
	ASSERT_STR_EQ(cfg.upstream_host,
	    VPCE_DNS ".email-smtp.eu-west-1.vpce.amazonaws.com");
	config_free(&cfg);
	TEST_DONE();

	TEST_START("config_parse SES_VPC_ENDPOINT_DNS; flags win");
	ASSERT_INT_EQ(parse(&cfg, ARGS("--vpc-endpoint-cidrs", "10.2.0.0/16"),
	    ARGS("SES_VPC_ENDPOINT_DNS=vpce-0123abcd-abcdefgh",
	    "SES_VPC_ENDPOINT_CIDRS=10.0.0.0/24"), err, sizeof(err)), 0);
	ASSERT_STR_EQ(cfg.upstream_host,
	    "vpce-0123abcd-abcdefgh.email-smtp.us-east-1.vpce.amazonaws.com");
	cidr_addr_parse("10.2.3.4", 8, &a);
	ASSERT_PTR_NONNULL(cidrset_find(&cfg.vpce_cidr, &a));
	cidr_addr_parse("10.0.0.4", 8, &a);
	ASSERT_PTR_NULL(cidrset_find(&cfg.vpce_cidr, &a));
	config_free(&cfg);
	TEST_DONE();

	TEST_START("config_parse --fips with private DNS: the FIPS name");
	ASSERT_INT_EQ(parse(&cfg, ARGS("--vpc-endpoint-cidrs", "10.0.0.0/24",
	    "--fips"), NOARGS, err, sizeof(err)), 0);
	ASSERT_STR_EQ(cfg.upstream_host,
	    "email-smtp-fips.us-east-1.amazonaws.com");
	config_free(&cfg);
	TEST_DONE();

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TEST_START("config_parse endpoint-only refusal %zu", i);
		ASSERT_INT_EQ(parse(&cfg, bad[i].args, bad[i].env, err,
		    sizeof(err)), -1);
		for (j = 0; j < 2; j++)
			if (!ASSERT_PTR_NONNULL(strstr(err, bad[i].name[j])))
				printf("  err: \"%s\", wanted \"%s\"\n", err,
				    bad[i].name[j]);
		config_free(&cfg);
		TEST_DONE();
	}
}

static void
test_region_valid(void)
{
	static char longname[301];
	static const struct {
		const char *r;
		int	ok;
	} t[] = {
		{ "us-east-1", 1 }, { "us-gov-west-1", 1 },
		{ "ap-southeast-2", 1 }, { "eu-central-1", 1 },
		{ "cn-north-1", 1 }, { "me-central-1", 1 },
		{ "il-central-1", 1 }, { "ap-northeast-3", 1 },
		{ "ca-west-1", 1 }, { "us-isob-east-1", 1 },
		{ "us-east-1.evil.com", 0 }, { "../", 0 }, { "", 0 },
		{ "US-EAST-1", 0 }, { "Us-east-1", 0 }, { "us-east", 0 },
		{ "us-east-123", 0 }, { "u-east-1", 0 }, { "use-east-1", 0 },
		{ "useast-1", 0 }, { "us--east-1", 0 }, { "us-east-1 ", 0 },
		{ " us-east-1", 0 }, { "us-east-1\n", 0 }, { "-east-1", 0 },
		{ "us-east-", 0 }, { "us-east-1-", 0 }, { "us_east_1", 0 },
		{ "us-east-1a", 0 }, { "us-east-1/../", 0 },
		{ "us-ea st-1", 0 },
		{ "us-1", 0 }, { "us-east-x", 0 }, { "us-east--1", 0 },
		{ "us-east-1.", 0 }, { "us-east-1:", 0 }, { "us-éast-1", 0 },
		{ longname, 0 },
	};
	size_t i;

	memset(longname, 'a', sizeof(longname) - 1);
	memcpy(longname, "us-", 3);
	memcpy(longname + sizeof(longname) - 3, "-1", 2);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("config_region_valid \"%.40s\"", t[i].r);
		ASSERT_INT_EQ(config_region_valid(t[i].r) != 0, t[i].ok);
		TEST_DONE();
	}
}

/* A switch's error lists every value it takes, for each switch. */
static void
test_switch_message(void)
{
	static const char *const env[][2] = {
		{ "SES_FIPS=yes", NULL }, { "PROXY_PROTOCOL=on", NULL },
		{ "SES_FIPS=TRUE", NULL }, { "PROXY_PROTOCOL=2", NULL },
	};
	static const char *const words[] = {
		"1", "true", "0", "false", "empty",
	};
	struct config cfg;
	char err[256];
	size_t i, j;

	for (i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		TEST_START("config_parse names the switch values: %s",
		    env[i][0]);
		ASSERT_INT_EQ(parse(&cfg, NULL, env[i], err, sizeof(err)), -1);
		for (j = 0; j < sizeof(words) / sizeof(words[0]); j++)
			if (!ASSERT_PTR_NONNULL(strstr(err, words[j])))
				printf("  err: \"%s\", wanted %s\n", err,
				    words[j]);
		config_free(&cfg);
		TEST_DONE();
	}
}

static void
test_usage(void)
{
	static const char *const flags[] = {
		"--region", "--fips", "--listen", "--ip-ranges", "--allow-cidr",
		"--allow-client", "--max-conns", "--idle-timeout",
		"--max-session", "--connect-timeout", "--drain-timeout",
		"--log-format", "--stats-interval", "--check", "--version",
		"--help", "--proxy-protocol", "PROXY_PROTOCOL",
		"--health-listen", "HEALTH_LISTEN", "--workers", "--user",
		"--landlock", "--healthcheck [A:P]", "--print-seccomp",
		"--vpc-endpoint-cidrs", "SES_VPC_ENDPOINT_CIDRS",
		"--vpc-endpoint-dns", "SES_VPC_ENDPOINT_DNS",
	};
	const char *u = config_usage(), *p, *nl;
	size_t i;

	TEST_START("config_usage names every flag");
	if (ASSERT_PTR_NONNULL(u)) {
		ASSERT_PTR_NONNULL(strstr(u, "usage"));
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			if (!ASSERT_PTR_NONNULL(strstr(u, flags[i])))
				printf("  missing %s\n", flags[i]);
	}
	TEST_DONE();

	/* Generated from the option table: nothing cut, 80 columns. */
	TEST_START("config_usage is whole and within 79 columns");
	ASSERT_PTR_NONNULL(strstr(u, "\nExit codes: "));
	ASSERT_INT_EQ(u[strlen(u) - 1], '\n');
	ASSERT_PTR_EQ(config_usage(), u);
	for (p = u; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		if (!ASSERT_SIZE_LE((size_t)(nl - p), 79))
			printf("  line: %.*s\n", (int)(nl - p), p);
	TEST_DONE();
}

int
main(void)
{

	test_defaults();
	test_accept();
	test_lists();
	test_reject();
	test_region_valid();
	test_vpce_dns_valid();
	test_upstream_host();
	test_vpce();
	test_switch_message();
	test_usage();
	return (test_summary());
}
