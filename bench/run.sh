#!/usr/bin/env bash
# Performance benchmark of ses-smtp-proxy against HAProxy, nginx (stream)
# and socat, all on loopback inside a private network + mount namespace.
#
#   bench/run.sh            full run, writes bench/results.md (+ .json)
#   bench/run.sh --smoke    under a minute: proves every proxy and workload
#                           runs (1 repetition unless --reps); writes
#                           $TMPDIR/.../results.md only
#   bench/run.sh --reps N   full run with N repetitions (default 5)
#   bench/run.sh --out F    write the table to F
#   bench/run.sh --only W[,W]  only these workloads (smtp_many, smtp_one,
#                           bulk_up, bulk_down, ping_unpinned, ping_pinned,
#                           connrate, idle): for development, not for tables
#   bench/run.sh --proxies P[,P]  only these proxies (direct always runs)
#   bench/run.sh --topology shared|apart|both  (or SES_BENCH_TOPOLOGY):
#                           shared (default): every process on every CPU;
#                           apart: each proxy pinned to CPU 1 (checked on
#                           every thread), client and server to CPU 0
#   bench/run.sh --scrape   instead of the proxy comparison: the relay with
#                           --health-listen, without and with a scraper
#                           GETting /metrics once a second (issue 17)
#   bench/run.sh --halt-poll NS  for this run, an idle CPU polls NS
#                           nanoseconds before it halts (the guest's
#                           cpuidle haltpoll window, restored at exit;
#                           the kernel's default is 200000); its sections
#                           get -haltpoll appended
#
# Results go into sections of the output (shared, apart, scrape-shared,
# scrape-apart; each with -haltpoll appended after a --halt-poll run); a
# run replaces the sections it measured and keeps the rest.
#
# Needs root on Debian 12 (unshare, apt-get). A measurement, not a test: it
# fails only when a tool or proxy cannot run at all, never on a timing.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/.." && pwd)

mode=full
reps=""
topology=${SES_BENCH_TOPOLOGY:-shared}
scrape=""
halt_poll=""
out=""
only=""
proxies=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--smoke) mode=smoke ;;
	--reps) reps=$2; shift ;;
	--out) out=$2; shift ;;
	--only) only=$2; shift ;;
	--proxies) proxies=$2; shift ;;
	--topology) topology=$2; shift ;;
	--scrape) scrape=1 ;;
	--halt-poll) halt_poll=$2; shift ;;
	-h | --help) sed -n '2,33p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

case "$topology" in
shared | apart) ;;
both) topology=shared,apart ;;
shared,apart) ;;
*) echo "run.sh: --topology $topology: shared, apart or both" >&2; exit 2 ;;
esac
# 5 repetitions for a full run, 1 for a smoke run, unless --reps says
if [[ -z $reps ]]; then
	if [[ $mode == smoke ]]; then reps=1; else reps=5; fi
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "run.sh: must run as root (unshare, apt-get)" >&2
	exit 2
fi
# shellcheck source=bench/haltpoll.sh
. "$here/haltpoll.sh"
haltpoll_check run.sh "$halt_poll"

# ---- outside the namespace: build and install -----------------------------
if [[ "${SES_BENCH_NETNS:-}" != "$$" ]]; then
	missing=()
	command -v haproxy >/dev/null || missing+=(haproxy)
	command -v nginx >/dev/null || missing+=(nginx)
	[[ -e /usr/lib/nginx/modules/ngx_stream_module.so ]] ||
		missing+=(libnginx-mod-stream)
	command -v socat >/dev/null || missing+=(socat)
	command -v smtp-source >/dev/null || missing+=(postfix)
	command -v taskset >/dev/null || missing+=(util-linux)
	if [[ ${#missing[@]} -gt 0 ]]; then
		echo "run.sh: installing ${missing[*]} (their services stay off)" >&2
		# policy-rc.d 101: no package may start its service.
		restore=""
		if [[ -e /usr/sbin/policy-rc.d ]]; then
			restore=$(mktemp)
			cp -p /usr/sbin/policy-rc.d "$restore"
		fi
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null || true
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
			install -y -q \
			--no-install-recommends "${missing[@]}" >/dev/null
		if [[ -n "$restore" ]]; then
			mv "$restore" /usr/sbin/policy-rc.d
		else
			rm -f /usr/sbin/policy-rc.d
		fi
		if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
			systemctl disable --now haproxy.service nginx.service \
				postfix.service >/dev/null 2>&1 || true
		fi
	fi

	# the release binary, as shipped (sandbox on)
	make -C "$repo" ses-smtp-proxy >&2

	work=$(mktemp -d /tmp/ses-bench.XXXXXX)
	gcc -O2 -Wall -Wextra -pthread -o "$work/benchtool" "$here/benchtool.c"
	if [[ -z "$out" ]]; then
		if [[ $mode == smoke ]]; then out=$work/results.md; else
			out=$here/results.md; fi
	fi
	export SES_BENCH_NETNS=$$ SES_BENCH_WORK=$work SES_BENCH_OUT=$out
	export SES_BENCH_MODE=$mode SES_BENCH_REPS=$reps
	export SES_BENCH_ONLY=$only SES_BENCH_PROXIES=$proxies
	export SES_BENCH_TOPOLOGY=$topology SES_BENCH_SCRAPE=$scrape
	export SES_BENCH_HALT_POLL=$halt_poll
	exec unshare --net --mount --propagation private -- bash "$0"
fi

# ---- inside the namespace --------------------------------------------------
work=$SES_BENCH_WORK
if [[ -n $SES_BENCH_HALT_POLL ]]; then
	# a machine-wide setting, not the namespace's: put back on every exit
	halt_was=$(<"$halt_file")
	trap 'echo "$halt_was" >"$halt_file"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	echo "$SES_BENCH_HALT_POLL" >"$halt_file"
fi
ip link set lo up
if [[ $(ip -o link show | wc -l) -ne 1 ]]; then
	echo "run.sh: the namespace has interfaces other than lo" >&2
	exit 2
fi
# per-namespace TCP settings: room for the connection-rate test's TIME_WAITs
sysctl -q -w net.ipv4.ip_local_port_range="1024 65535"
sysctl -q -w net.ipv4.tcp_tw_reuse=1
sysctl -q -w net.core.somaxconn=4096
# at most 4096 TIME_WAIT sockets (beyond, closed sockets are freed at once):
# every connection-rate run starts from the same state instead of from the
# tens of thousands the previous runs left (they last 60 s and make each
# connect's port search longer: the later a proxy ran, the fewer
# connections it got, down to a third in 12 back-to-back runs)
sysctl -q -w net.ipv4.tcp_max_tw_buckets=4096
sysctl -q -w net.ipv4.tcp_max_syn_backlog=4096
# as many descriptors as the hard limit allows (raising it needs
# CAP_SYS_RESOURCE); a relay needs 2 per connection, so the idle test holds
# min(10,000, (limit - 200) / 2) connections
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
nofile=$(ulimit -n)
idle=$(((nofile - 200) / 2))
[[ $idle -gt 10000 ]] && idle=10000
maxconns=$(((nofile - 32) / 2))
[[ $maxconns -gt 20000 ]] && maxconns=20000

# the SES name -> 127.0.0.2, visible in this mount namespace only
printf '127.0.0.1\tlocalhost\n127.0.0.2\temail-smtp.us-east-1.amazonaws.com\n' \
	>"$work/hosts"
printf 'nameserver 127.0.0.1\n' >"$work/resolv.conf"
mount --bind "$work/hosts" /etc/hosts
mount --bind "$work/resolv.conf" /etc/resolv.conf

# allowlist fixture in AWS's format: AMAZON/us-east-1 covers 127.0.0.0/28
/usr/bin/python3 - "$work/ip-ranges.json" <<'EOF'
import datetime, json, sys
now = datetime.datetime.now(datetime.timezone.utc)
doc = {
    "syncToken": str(int(now.timestamp())),
    "createDate": now.strftime("%Y-%m-%d-%H-%M-%S"),
    "prefixes": [
        {"ip_prefix": "127.0.0.0/28", "region": "us-east-1",
         "service": "AMAZON", "network_border_group": "us-east-1"},
    ],
    "ipv6_prefixes": [],
}
open(sys.argv[1], "w").write(json.dumps(doc, indent=2))
EOF
chmod 755 "$work"
chmod 644 "$work/ip-ranges.json"

real=${SHARED_DATA:-$repo/../shared/data}/aws-ip-ranges.json
args=(--workdir "$work" --tool "$work/benchtool"
	--proxy-bin "$repo/ses-smtp-proxy" --out "$SES_BENCH_OUT"
	--real-ranges "$real" --reps "$SES_BENCH_REPS" --nofile "$nofile"
	--idle-conns "$idle" --max-conns "$maxconns"
	--topology "$SES_BENCH_TOPOLOGY")
[[ -n $SES_BENCH_SCRAPE ]] && args+=(--scrape)
[[ -n $SES_BENCH_HALT_POLL ]] && args+=(--halt-poll "$SES_BENCH_HALT_POLL")
[[ -n $SES_BENCH_ONLY ]] && args+=(--only "$SES_BENCH_ONLY")
[[ -n $SES_BENCH_PROXIES ]] && args+=(--proxies "$SES_BENCH_PROXIES")
if [[ $SES_BENCH_MODE == smoke ]]; then
	args+=(--label smoke --smtp-many 200 --smtp-one 50
		--smtp-sessions 4 --bulk-bytes $((16 << 20)) --pings 500
		--connrate-seconds 0.3 --idle-conns 200 --max-conns 1000)
fi
rc=0
# In the background, so that a signal ends the wait at once: the trap
# stops bench.py (timeout passes the TERM on) and the EXIT trap puts
# --halt-poll back, instead of both waiting for the run to end.
timeout 7200 /usr/bin/python3 "$here/bench.py" "${args[@]}" &
bench=$!
trap 'kill "$bench" 2>/dev/null; wait "$bench"; exit 130' INT
trap 'kill "$bench" 2>/dev/null; wait "$bench"; exit 143' TERM
wait "$bench" || rc=$?
if [[ $rc -eq 0 ]]; then
	cat "$SES_BENCH_OUT"
	rm -rf "$work"
else
	echo "run.sh: bench.py failed (rc=$rc); logs kept in $work" >&2
fi
exit "$rc"
