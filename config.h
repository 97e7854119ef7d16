#ifndef CONFIG_H_
#define CONFIG_H_

#include <sys/socket.h>

#include <stddef.h>

#include "cidr.h"

/*
 * The interface contract of README.md: flags, then environment variables,
 * then defaults.  Parsing only: nothing here opens a file or a socket.
 */

#define CONFIG_MAX_LISTEN	2
/*
 * The longest upstream name: "vpce-" 17 hex "-" 8 ".email-smtp." region
 * (32) ".vpce.amazonaws.com" is 94 bytes; 128 leaves room.
 */
#define CONFIG_HOSTLEN		128
#define CONFIG_VPCE_DNS_MAX	31	/* vpce-<17 hex>-<8> */
#define CONFIG_WORKERS_MAX	16

enum config_mode {
	CONFIG_RUN,
	CONFIG_CHECK,
	CONFIG_VERSION,
	CONFIG_HELP,
	CONFIG_PRINT_SECCOMP,
	CONFIG_HEALTHCHECK
};

struct config {
	enum config_mode mode;
	char	region[33];
	int	fips;
	char	upstream_host[CONFIG_HOSTLEN];
	struct sockaddr_storage listen[CONFIG_MAX_LISTEN];
	socklen_t listen_len[CONFIG_MAX_LISTEN];
	size_t	nlisten;
	int	listen_default;		/* no --listen: 0.0.0.0 + [::], v6
					   optional */
	const char *ip_ranges;
	struct cidrset allow_cidr;	/* tag ALLOWLIST_TAG_OPERATOR */
	struct cidrset vpce_cidr;	/* tag ALLOWLIST_TAG_VPCE; not empty:
					   endpoint-only mode, no file read */
	char	vpce_dns[CONFIG_VPCE_DNS_MAX + 1];	/* "": none */
	struct cidrset allow_client;	/* empty: any client */
	unsigned max_conns;
	unsigned workers;		/* relay processes (--workers) */
	unsigned idle_timeout;
	unsigned connect_timeout;
	unsigned drain_timeout;
	unsigned max_session;		/* 0: no cap */
	unsigned stats_interval;	/* 0: no stats events */
	int	log_json;
	struct sockaddr_storage health;	/* --healthcheck target */
	socklen_t health_len;
	int	proxy_protocol;		/* a PROXY header starts each conn */
	struct sockaddr_storage health_listen;	/* HTTP /livez, /readyz */
	socklen_t health_listen_len;	/* 0: no health listener */
	unsigned run_uid, run_gid;	/* used only when started as root */
	const char *user_src;		/* "--user" or "RUN_AS"; NULL: default */
	int	landlock_required;
};

/**
 * config_parse(cfg, argc, argv, envp, err, errlen): fill ${cfg} from the
 * command line and the environment ${envp} (NULL-terminated "K=V" list).
 * Returns 0, or -1 with one message in ${err} naming the flag or variable.
 * Strings in ${cfg} may point into ${argv} and ${envp}.
 */
int config_parse(struct config *cfg, int argc, char **argv, char **envp,
    char *err, size_t errlen);

/** config_region_valid(r): does ${r} look like an AWS region name? */
int config_region_valid(const char *r);

/**
 * config_vpce_dns_valid(s): is ${s} the first label of an interface VPC
 * endpoint's regional DNS name, "vpce-" then an endpoint id of 8 or 17
 * lower-case hex digits, "-" and 8 lower-case letters or digits?
 */
int config_vpce_dns_valid(const char *s);

/**
 * config_upstream_host(buf, len, region, fips, vpce_dns): write the SES
 * name the relay resolves into ${buf}: email-smtp[-fips].${region}.
 * amazonaws.com, or with a non-empty ${vpce_dns} (never with ${fips}) the
 * endpoint's regional name ${vpce_dns}.email-smtp.${region}.vpce.
 * amazonaws.com.  Returns 0, or -1 if it does not fit in ${len}.
 */
int config_upstream_host(char *buf, size_t len, const char *region,
    int fips, const char *vpce_dns);

/** config_free(cfg): release what config_parse allocated. */
void config_free(struct config *cfg);

/** config_usage(): the --help text. */
const char *config_usage(void);

#endif /* !CONFIG_H_ */
