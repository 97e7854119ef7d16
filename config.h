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
#define CONFIG_HOSTLEN		96
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

/** config_free(cfg): release what config_parse allocated. */
void config_free(struct config *cfg);

/** config_usage(): the --help text. */
const char *config_usage(void);

#endif /* !CONFIG_H_ */
