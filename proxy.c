/*
 * ses-smtp-proxy: relay TCP :1587 to email-smtp.<region>.amazonaws.com:587
 * and nowhere else.  main() is the startup sequence, one step per block:
 * everything is read and every socket that listens is created before the
 * first client is accepted.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "allowlist.h"
#include "config.h"
#include "fds.h"
#include "health.h"
#include "healthport.h"
#include "landlock.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "privdrop.h"
#include "pump.h"
#include "relay.h"
#include "resolvconf.h"
#include "seccomp.h"
#include "staleness.h"
#include "upstream.h"
#include "workers.h"

#define EXIT_RUNTIME	1
#define EXIT_CONFIG	2
/* stdio, epoll, listeners, DNS sockets, the health port and its 16
 * probes, a reject in flight (about 30), and the splice pipes */
#define NOFILE_RESERVE	(32 + 2 * PUMP_PIPES_MAX)

extern char **environ;

static struct config cfg;
static struct cidrset allow;
static struct allowlist_info info;
static struct resolvconf rc;
static struct cidr_addr hosts[HOSTS_MAX_ADDRS];
static size_t nhosts;
#ifndef SANDBOX_OFF
static int landlock_abi;		/* of this kernel, for sandbox_ready */
#endif

/* A configuration problem: one line naming the flag or file, exit 2. */
static int
config_error(const char *what, const char *msg)
{
	struct log_line l;
	char buf[600];

	snprintf(buf, sizeof(buf), "%s: %s", what, msg);
	log_begin(&l, LOG_ERROR, "config_error");
	log_str(&l, "error", buf);
	log_end(&l);
	return (EXIT_CONFIG);
}

/*
 * An explicit --user (or RUN_AS) that this start cannot apply: only root
 * changes its ids.  Refused rather than ignored: whoever set it expects
 * the relay to run as that user (file ownership, a uid-based egress rule).
 */
static int
user_error(void)
{
	char what[64], msg[200];

	snprintf(what, sizeof(what), "%s %u:%u", cfg.user_src, cfg.run_uid,
	    cfg.run_gid);
	snprintf(msg, sizeof(msg), "started as uid %u gid %u, not root, so "
	    "the ids cannot change: start as root or as %u:%u, or leave "
	    "--user and RUN_AS unset", (unsigned)getuid(), (unsigned)getgid(),
	    cfg.run_uid, cfg.run_gid);
	return (config_error(what, msg));
}

/* The upstream mode, as logged and printed by --check. */
static const char *
mode_name(void)
{

	return (cfg.vpce_cidr.n > 0 ? "vpc-endpoint" : "public");
}

/*
 * The prefixes of ${set} as "a/n,b/m" in ${buf}; a list that does not fit
 * ends with ",...".
 */
static void
format_cidrs(const struct cidrset *set, char *buf, size_t len)
{
	char one[CIDR_ADDRSTRLEN + 4];
	size_t i, n = 0, k;

	buf[0] = '\0';
	for (i = 0; i < set->n; i++) {
		cidr_format(&set->v[i], one);
		k = strlen(one) + (i > 0);
		if (n + k + 5 > len) {
			snprintf(buf + n, len - n, ",...");
			return;
		}
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i > 0 ? "," :
		    "", one);
	}
}

static void
log_startup(void)
{
	struct log_line l;
	char up[CONFIG_HOSTLEN + 8];
	char lis[CONFIG_MAX_LISTEN * (CIDR_ADDRSTRLEN + 8)];
	size_t i, n = 0;

	snprintf(up, sizeof(up), "%s:%d", cfg.upstream_host, UPSTREAM_PORT);
	/* "a,b": every SMTP listener, joined by commas. */
	lis[0] = '\0';
	for (i = 0; i < cfg.nlisten; i++) {
		if (i > 0)
			lis[n++] = ',';
		cidr_sockaddr_format((const struct sockaddr *)&cfg.listen[i],
		    lis + n);
		n += strlen(lis + n);
	}
	log_begin(&l, LOG_INFO, "startup");
	log_str(&l, "version", VERSION);
	log_str(&l, "region", cfg.region);
	log_str(&l, "upstream", up);
	log_str(&l, "mode", mode_name());
	log_str(&l, "listen", lis);
	log_u64(&l, "max_conns", cfg.max_conns);
	log_u64(&l, "workers", cfg.workers);
	log_u64(&l, "pid", (uint64_t)getpid());
	log_end(&l);
}

/*
 * Endpoint-only mode: the --vpc-endpoint-cidrs prefixes are the whole
 * allowlist; ip-ranges.json is not read (nor required), so its age is not
 * judged either.
 */
static int
load_endpoint_only(void)
{
	char list[512];
	struct log_line l;
	size_t i;

	for (i = 0; i < cfg.vpce_cidr.n; i++)
		if (cidrset_add(&allow, &cfg.vpce_cidr.v[i]))
			return (config_error("--vpc-endpoint-cidrs",
			    "out of memory"));
	cidrset_finish(&allow);
	format_cidrs(&allow, list, sizeof(list));
	log_begin(&l, LOG_INFO, "allowlist_vpc_endpoint");
	log_str(&l, "region", cfg.region);
	log_str(&l, "cidrs", list);
	log_str(&l, "ip_ranges", "not read");
	log_end(&l);
	return (0);
}

/* Read ip-ranges.json, add --allow-cidr, log what was loaded. */
static int
load_allowlist(void)
{
	char err[256], opt[128];
	struct log_line l;
	size_t i;

	if (cfg.vpce_cidr.n > 0)
		return (load_endpoint_only());
	snprintf(opt, sizeof(opt), "--ip-ranges %s", cfg.ip_ranges);
	if (allowlist_load(cfg.ip_ranges, cfg.region, &allow, &info, err,
	    sizeof(err)))
		return (config_error(opt, err));
	if (info.v4 + info.v6 == 0) {
		snprintf(err, sizeof(err), "no AMAZON prefixes for region %s "
		    "(see --region)", cfg.region);
		return (config_error(opt, err));
	}
	for (i = 0; i < cfg.allow_cidr.n; i++)
		if (cidrset_add(&allow, &cfg.allow_cidr.v[i]))
			return (config_error(opt, "out of memory"));
	cidrset_finish(&allow);

	log_begin(&l, LOG_INFO, "allowlist_loaded");
	log_str(&l, "file", cfg.ip_ranges);
	log_str(&l, "sync_token", info.sync_token);
	log_str(&l, "create_date", info.create_date);
	log_str(&l, "region", cfg.region);
	log_u64(&l, "v4", info.v4);
	log_u64(&l, "v6", info.v6);
	log_u64(&l, "ignored_top_keys", info.ignored_top_keys);
	log_u64(&l, "ignored_entry_keys", info.ignored_entry_keys);
	log_u64(&l, "allow_cidrs", cfg.allow_cidr.n);
	log_end(&l);
	staleness_init(cfg.ip_ranges, info.create_date, info.created);
	return (0);
}

/* /etc/resolv.conf and /etc/hosts, read now and never again. */
static void
load_resolver(void)
{
	static char buf[HOSTS_MAX_BYTES];
	long n;

	n = resolvconf_read("/etc/resolv.conf", buf, RESOLVCONF_MAX_BYTES);
	resolvconf_parse(buf, n < 0 ? 0 : (size_t)n, &rc);
	n = resolvconf_read("/etc/hosts", buf, sizeof(buf));
	nhosts = n < 0 ? 0 : hosts_lookup(buf, (size_t)n, cfg.upstream_host,
	    hosts, HOSTS_MAX_ADDRS);
}

/* Two descriptors per session plus a reserve; lower the cap if need be. */
static void
raise_nofile(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)cfg.max_conns * 2 + NOFILE_RESERVE;
	struct log_line l;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need) {
		cfg.max_conns = rl.rlim_cur > NOFILE_RESERVE + 2 ?
		    (unsigned)((rl.rlim_cur - NOFILE_RESERVE) / 2) : 1;
		log_begin(&l, LOG_WARN, "max_conns_lowered");
		log_u64(&l, "nofile", rl.rlim_cur);
		log_u64(&l, "max_conns", cfg.max_conns);
		log_end(&l);
	}
}

/*
 * --health-listen: the metrics' shared block, mapped before the fork, and
 * what they report that is fixed from now on.
 */
static int
start_metrics(void)
{
	struct metrics_info mi;
	struct rlimit rl;
	size_t i;

	memset(&mi, 0, sizeof(mi));
	mi.version = VERSION;
	mi.region = cfg.region;
	mi.mode = mode_name();
	mi.fips = cfg.fips;
	mi.allow_file = cfg.vpce_cidr.n == 0;
	mi.start_ms = loop_wall_ms();
	mi.allow_created = info.created > 0 ? (uint64_t)info.created : 0;
	mi.sync_token = strtoull(info.sync_token, NULL, 10);
	for (i = 0; i < allow.n; i++) {
		if (allow.v[i].net.family == AF_INET6)
			mi.prefixes_v6++;
		else
			mi.prefixes_v4++;
	}
	mi.max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ?
	    (uint64_t)rl.rlim_cur : 0;
	mi.sessions_limit = cfg.max_conns;
	mi.workers = cfg.workers > 1 ? cfg.workers : 1;
	if (metrics_init(&mi) != 0) {
		log_errno("startup_failed", "--health-listen: mmap MAP_SHARED "
		    "for the metrics");
		return (-1);
	}
	return (0);
}

static int
listen_one(const struct sockaddr_storage *ss, socklen_t len, int optional)
{
	char name[CIDR_ADDRSTRLEN + 8], msg[160];
	const char *what;
	struct log_line l;

	cidr_sockaddr_format((const struct sockaddr *)ss, name);
	if (relay_listen((const struct sockaddr *)ss, len, &what) == 0) {
		log_begin(&l, LOG_INFO, "listening");
		log_str(&l, "addr", name);
		log_end(&l);
		return (0);
	}
	if (optional && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
		return (0);	/* no IPv6 here: serve IPv4 only */
	snprintf(msg, sizeof(msg), "--listen %s: %s: %s", name, what,
	    strerror(errno));
	log_msg(LOG_ERROR, "startup_failed", msg);
	return (-1);
}

/* The SMTP listeners; without --listen the IPv6 one is optional. */
static int
create_listeners(void)
{
	size_t i;

	for (i = 0; i < cfg.nlisten; i++)
		if (listen_one(&cfg.listen[i], cfg.listen_len[i],
		    cfg.listen_default && i > 0) != 0)
			return (-1);
	return (0);
}

/*
 * One line of the --check report on stdout, with one write(2); a line cut
 * at the buffer's end still ends with its newline.  Values that come from
 * the operator or a file go through log_quote first, as in a log line.
 */
static void
say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t len;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	line[len - 1] = '\n';
	(void)write(1, line, len);
}

/* --check: print every resolved address with its verdict. */
static void
callback_check_done(void)
{
	const struct upstream_result *r;
	char a[CIDR_ADDRSTRLEN], why[96], q[128];
	size_t i, n = upstream_results(&r), usable = 0;

	say("upstream host=%s port=%d source=%s\n", log_quote(q, sizeof(q),
	    cfg.upstream_host), UPSTREAM_PORT, nhosts > 0 ? "hosts" : "dns");
	for (i = 0; i < n; i++) {
		cidr_addr_format(&r[i].addr, a);
		if (r[i].match == NULL) {
			say("address addr=%s verdict=denied reason=%s\n", a,
			    allowlist_endpoint_only(&allow) ?
			    "outside_vpc_endpoint_cidrs" : "outside_allowlist");
			continue;
		}
		upstream_why(r[i].match, why, sizeof(why));
		say("address addr=%s verdict=allowed match=%s\n", a,
		    log_quote(q, sizeof(q), why));
		usable++;
	}
	say("result usable=%zu\n", usable);
	loop_stop(usable > 0 ? 0 : 1);
}

/*
 * Steps 2-3 of SECURITY.md section 3, each fatal: leave root, no new
 * privileges, Landlock (fatal only with --landlock required).  With
 * --workers they come before the fork: the supervisor and its workers
 * share one Landlock domain, in which the supervisor may signal them.
 */
static int
sandbox_restrict(unsigned port)
{
	struct landlock_status ll;
	struct log_line l;

	if (privdrop_apply(cfg.run_uid, cfg.run_gid) != 0)
		return (-1);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		log_errno("sandbox_failed", "prctl PR_SET_NO_NEW_PRIVS");
		return (-1);
	}
#ifdef SANDBOX_OFF
	/* Test builds only (make asan, valgrind, arm64-test); the release has
	 * no switch. */
	(void)ll;
	(void)port;
	(void)l;
	log_msg(LOG_ERROR, "sandbox_disabled", "Landlock and seccomp compiled "
	    "out of this test build (ASan, valgrind, qemu-user): never run it in "
	    "production");
	return (0);
#else
	if (landlock_apply(port, &ll) < 0)
		return (-1);
	landlock_abi = ll.abi;
	log_begin(&l, ll.net ? LOG_INFO : LOG_WARN, "landlock");
	log_u64(&l, "abi", (uint64_t)ll.abi);
	log_str(&l, "fs", ll.fs ? "denied" : "off");
	log_str(&l, "net", !ll.net ? "off" : port == UPSTREAM_PORT ?
	    "connect_tcp_587_only" : "connect_tcp_healthcheck_port_only");
	log_str(&l, "scope", ll.scope ? "on" : "off");
	log_str(&l, "why", ll.why);
	log_end(&l);
	if (cfg.landlock_required && !ll.net) {
		log_msg(LOG_ERROR, "sandbox_failed", "--landlock required: "
		    "Landlock with TCP port rules (ABI 4, Linux 6.7) is not "
		    "available here");
		return (-1);
	}
	return (0);
#endif
}

/*
 * Step 4, fatal: no new process (RLIMIT_NPROC 0), then the seccomp filter
 * of table ${t}, last of all.
 */
static int
sandbox_seal(enum seccomp_table t)
{
#ifdef SANDBOX_OFF
	(void)t;
	return (privdrop_no_fork());
#else
	struct log_line l;
	uid_t uid;
	gid_t gid;

	/* getuid is not in the filter: read the ids first. */
	uid = getuid();
	gid = getgid();
	if (privdrop_no_fork() != 0 || seccomp_install(t) != 0)
		return (-1);
	log_begin(&l, LOG_INFO, "sandbox_ready");
	log_u64(&l, "uid", (uint64_t)uid);
	log_u64(&l, "gid", (uint64_t)gid);
	log_u64(&l, "landlock_abi", (uint64_t)landlock_abi);
	log_str(&l, "seccomp", "filter");
	log_str(&l, "role", t == SECCOMP_RELAY ? "relay" : "supervisor");
	log_end(&l);
	return (0);
#endif
}

static int
sandbox_enter(unsigned port)
{

	if (sandbox_restrict(port) != 0)
		return (-1);
	return (sandbox_seal(SECCOMP_RELAY));
}

/*
 * The supervisor of --workers: no descriptor, its own filter, waiting.
 * The listeners above all must go: the last close lets the kernel refuse
 * new clients once every worker has closed its copy (drain).
 */
static int
run_supervisor(void)
{

	fds_close_from(STDERR_FILENO + 1);
	return (workers_supervise(sandbox_seal(SECCOMP_SUPERVISOR) != 0));
}

/* --check's first line: the mode and what the allowlist holds. */
static void
say_allowlist(void)
{
	char file[512], token[128], date[128], region[64], list[512];

	log_quote(region, sizeof(region), cfg.region);
	if (cfg.vpce_cidr.n > 0) {
		format_cidrs(&allow, list, sizeof(list));
		say("allowlist mode=%s region=%s vpc_endpoint_cidrs=%s "
		    "ip_ranges=not_read\n", mode_name(), region, list);
		return;
	}
	say("allowlist mode=%s file=%s sync_token=%s create_date=%s "
	    "region=%s v4=%zu v6=%zu ignored_top_keys=%zu "
	    "ignored_entry_keys=%zu allow_cidrs=%zu\n", mode_name(),
	    log_quote(file, sizeof(file), cfg.ip_ranges),
	    log_quote(token, sizeof(token), info.sync_token),
	    log_quote(date, sizeof(date), info.create_date), region, info.v4,
	    info.v6, info.ignored_top_keys, info.ignored_entry_keys,
	    cfg.allow_cidr.n);
}

static int
run_check(void)
{
	static const struct loop_hooks hooks = { NULL, NULL };

	say_allowlist();
	if (loop_init() != 0 || upstream_init(cfg.upstream_host, cfg.region,
	    &allow, &rc, hosts, nhosts, callback_check_done) != 0)
		return (EXIT_RUNTIME);
	/* The DNS answers are untrusted input here too: parse them boxed. */
	if (sandbox_enter(UPSTREAM_PORT) != 0)
		return (EXIT_RUNTIME);
	upstream_start();
	return (loop_run(&hooks) == 0 ? 0 : EXIT_RUNTIME);
}

/*
 * --healthcheck: a new process next to the relay (docker HEALTHCHECK, ECS
 * healthCheck).  It boxes itself like the relay, with Landlock allowing a
 * TCP connect to the checked port only.
 */
static int
run_healthcheck(void)
{
	const struct sockaddr *sa = (const struct sockaddr *)&cfg.health;
	uint16_t port = 0;
	struct cidr_addr a;

	(void)cidr_addr_from_sockaddr(sa, &a, &port);
	if (health_prepare(sa) != 0 || sandbox_enter(port) != 0)
		return (EXIT_RUNTIME);
	return (health_run(sa, cfg.health_len, cfg.proxy_protocol) == 0 ? 0 :
	    EXIT_RUNTIME);
}

int
main(int argc, char **argv)
{
	struct relay_config rcfg = { 0 };
	char err[512];
	size_t i;
	int rv;

	/* 0. Nothing inherited but stdin, stdout and stderr (fds.c). */
	if (fds_sanitise() != 0)
		return (EXIT_RUNTIME);

	/* 1. Parse: flags, then environment, then defaults. */
	log_init(1);
	if (config_parse(&cfg, argc, argv, environ, err, sizeof(err))) {
		/* The message quotes user input: one line, no control bytes. */
		for (i = 0; err[i] != '\0'; i++)
			if ((unsigned char)err[i] < 0x20 ||
			    (unsigned char)err[i] >= 0x7f)
				err[i] = '?';
		fprintf(stderr, "ses-smtp-proxy: %s (see --help)\n", err);
		return (EXIT_CONFIG);
	}
	if (cfg.mode == CONFIG_HELP) {
		fputs(config_usage(), stdout);
		return (0);
	}
	if (cfg.mode == CONFIG_VERSION) {
		printf("ses-smtp-proxy %s\n", VERSION);
		return (0);
	}
	if (cfg.mode == CONFIG_PRINT_SECCOMP) {
		seccomp_print(1);
		return (0);
	}
	log_init(cfg.log_json);
	if (cfg.user_src != NULL && !privdrop_user_applies(cfg.run_uid,
	    cfg.run_gid))
		return (user_error());
	if (cfg.mode == CONFIG_HEALTHCHECK)
		return (run_healthcheck());
	log_startup();

	/* 2. Read every file now: the allowlist and the resolver's two. */
	if ((rv = load_allowlist()) != 0)
		return (rv);
	load_resolver();
	if (cfg.mode == CONFIG_CHECK)
		return (run_check());

	/* 3. Descriptors for max_conns sessions; the listening sockets. */
	raise_nofile();
	if (create_listeners() != 0)
		return (EXIT_RUNTIME);
	if (cfg.health_listen_len != 0 && healthport_listen(
	    (const struct sockaddr *)&cfg.health_listen,
	    cfg.health_listen_len) != 0)
		return (EXIT_RUNTIME);
	if (cfg.health_listen_len != 0 && start_metrics() != 0)
		return (EXIT_RUNTIME);

	/* 4. Leave root, NO_NEW_PRIVS, Landlock. */
	if (sandbox_restrict(UPSTREAM_PORT) != 0)
		return (EXIT_RUNTIME);

	/* 5. --workers N: N relay processes; this one supervises them. */
	if (cfg.workers > 1) {
		switch (workers_fork(cfg.workers, &rcfg.worker,
		    &rcfg.shared_conns)) {
		case 1:
			return (run_supervisor());
		case -1:
			return (EXIT_RUNTIME);
		}
	}

	/* 6. Event loop, signals (SIGTERM/SIGINT drain, SIGPIPE ignored). */
	if (loop_init() != 0)
		return (EXIT_RUNTIME);
	rcfg.max_conns = cfg.max_conns;
	rcfg.idle_s = cfg.idle_timeout;
	rcfg.max_session_s = cfg.max_session;
	rcfg.connect_s = cfg.connect_timeout;
	rcfg.drain_s = cfg.drain_timeout;
	rcfg.stats_s = cfg.stats_interval;
	rcfg.metrics_s = cfg.health_listen_len != 0;
	metrics_set_worker(rcfg.worker);
	rcfg.allow_client = &cfg.allow_client;
	rcfg.proxy_protocol = cfg.proxy_protocol;
	rcfg.nworkers = cfg.workers;
	if (relay_init(&rcfg) != 0)
		return (EXIT_RUNTIME);
	/* The file's age is judged again while running, by one process. */
	if (rcfg.worker == 0 && staleness_start() != 0)
		return (EXIT_RUNTIME);
	if (healthport_start(cfg.proxy_protocol, relay_ready,
	    relay_metrics) != 0 ||
	    upstream_init(cfg.upstream_host, cfg.region, &allow, &rc, hosts,
	    nhosts, relay_upstream_changed) != 0)
		return (EXIT_RUNTIME);

	/* 7. seccomp: from here on, only the calls of the relay's table. */
	if (sandbox_seal(SECCOMP_RELAY) != 0)
		return (EXIT_RUNTIME);

	/* 8. First resolution, then serve until drained. */
	upstream_start();
	rv = relay_run();
	healthport_stop();
	pump_cleanup();
	cidrset_free(&allow);
	config_free(&cfg);
	return (rv);
}
