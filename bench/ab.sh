#!/usr/bin/env bash
# Paired A/B of two or more relays on one SMTP workload: each repetition
# runs every command once, back to back, so that slow drift of the machine
# hits all of them alike; the verdict is the median of the per-repetition
# ratios to the first command, and in how many repetitions each was ahead.
#
#   bench/ab.sh [options] NAME=COMMAND [NAME=COMMAND ...]
#     --topology apart|shared  apart (default): every command on CPU 1,
#                              smtp-source and smtp-sink on CPU 0
#     --mode one|many          one message per session (default), or many
#     --msgs N                 messages per run (default 8000)
#     --sessions N             parallel sessions (default 8)
#     --reps N                 repetitions (default 12, at most 100)
#
# A COMMAND listens on 127.0.0.1:1587 and relays to
# email-smtp.us-east-1.amazonaws.com:587, which maps to 127.0.0.2 (smtp-sink)
# inside the namespace; {ranges} in it becomes a generated allowlist whose
# AMAZON/us-east-1 prefix is 127.0.0.0/28. Its stderr is a pipe read by
# `cat` on the clients' CPU, as a container runtime reads a container's.
# Example, the relay before and after a change (bench/README.md):
#
#   git worktree add /tmp/old HEAD~1 && make -C /tmp/old ses-smtp-proxy
#   make ses-smtp-proxy
#   R="--region us-east-1 --listen 127.0.0.1:1587 --ip-ranges {ranges}"
#   sudo bench/ab.sh "old=/tmp/old/ses-smtp-proxy $R" "new=$PWD/ses-smtp-proxy $R"
#
# Root, in a private network and mount namespace (loopback only), like
# run.sh. A measurement, not a test: no timing threshold.
set -euo pipefail

topology=apart mode=one msgs=8000 sessions=8 reps=12
while [[ $# -gt 0 ]]; do
	case "$1" in
	--topology) topology=$2; shift ;;
	--mode) mode=$2; shift ;;
	--msgs) msgs=$2; shift ;;
	--sessions) sessions=$2; shift ;;
	--reps) reps=$2; shift ;;
	-h | --help) sed -n '2,27p' "$0"; exit 0 ;;
	--*) echo "ab.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
case "$topology/$mode" in
apart/one | apart/many | shared/one | shared/many) ;;
*) echo "ab.sh: --topology apart|shared, --mode one|many" >&2; exit 2 ;;
esac
if [[ $# -lt 2 || ! $reps =~ ^[0-9]+$ || $reps -lt 1 || $reps -gt 100 ]]; then
	echo "ab.sh: two NAME=COMMAND or more, --reps 1-100 (--help)" >&2
	exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "ab.sh: must run as root (unshare)" >&2
	exit 2
fi
for tool in smtp-source smtp-sink taskset; do
	command -v "$tool" >/dev/null || {
		echo "ab.sh: $tool is missing: run bench/run.sh --smoke once" \
			"(it installs postfix and util-linux)" >&2
		exit 2
	}
done

if [[ "${SES_AB_NETNS:-}" != "$$" ]]; then
	export SES_AB_NETNS=$$
	exec unshare --net --mount --propagation private -- bash "$0" \
		--topology "$topology" --mode "$mode" --msgs "$msgs" \
		--sessions "$sessions" --reps "$reps" "$@"
fi

# ---- inside the namespace --------------------------------------------------
work=$(mktemp -d /tmp/ses-ab.XXXXXX)
sink=""
cleanup() {
	[[ -n $sink ]] && kill "$sink" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
ip link set lo up
[[ $(ip -o link show | wc -l) -eq 1 ]] || {
	echo "ab.sh: the namespace has interfaces other than lo" >&2; exit 2; }
sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
	net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096
printf '127.0.0.1\tlocalhost\n127.0.0.2\temail-smtp.us-east-1.amazonaws.com\n' \
	>"$work/hosts"
printf 'nameserver 127.0.0.1\n' >"$work/resolv.conf"
mount --bind "$work/hosts" /etc/hosts
mount --bind "$work/resolv.conf" /etc/resolv.conf
now=$(date -u +%s)
printf '{"syncToken": "%s", "createDate": "%s", "prefixes": [{"ip_prefix": "127.0.0.0/28", "region": "us-east-1", "service": "AMAZON", "network_border_group": "us-east-1"}], "ipv6_prefixes": []}\n' \
	"$now" "$(date -u -d "@$now" +%Y-%m-%d-%H-%M-%S)" >"$work/ip-ranges.json"
chmod 755 "$work"
chmod 644 "$work/ip-ranges.json"

if [[ $topology == apart ]]; then pin_proxy="taskset -c 1" pin_load="taskset -c 0"
else pin_proxy="" pin_load=""; fi
$pin_load smtp-sink -u nobody -m 2000 127.0.0.2:587 4096 &
sink=$!
opts=()
[[ $mode == many ]] && opts=(-d)

listening() {
	ss -Hltn 'sport = :1587' | grep -q .
}

# One run of ${2} (name ${1}): prints "NAME REP RATE".
run_one() {
	local name=$1 cmd=${2//\{ranges\}/$work/ip-ranges.json} rep=$3 px t0 t1
	# shellcheck disable=SC2086 # the command is words, as given
	$pin_proxy $cmd 2> >($pin_load cat >/dev/null) &
	px=$!
	for _ in $(seq 100); do listening && break; sleep 0.02; done
	listening || { echo "ab.sh: $name does not listen on 1587" >&2; kill "$px"; exit 1; }
	t0=$(date +%s%N)
	$pin_load timeout 300 smtp-source -s "$sessions" -m "$msgs" -l 1000 \
		-f a@example.com -t b@example.com "${opts[@]}" 127.0.0.1:1587
	t1=$(date +%s%N)
	kill "$px"
	wait "$px" 2>/dev/null || true
	for _ in $(seq 100); do listening || break; sleep 0.02; done
	echo "$name $rep $((msgs * 1000000000 / (t1 - t0)))"
}

echo "ab.sh: $topology, $mode message(s) per session, $msgs messages," \
	"$sessions sessions, $reps repetitions"
for rep in $(seq "$reps"); do
	for spec in "$@"; do
		run_one "${spec%%=*}" "${spec#*=}" "$rep"
	done
done | tee "$work/runs" | awk '{ printf "  rep %s %-10s %6d msgs/s\n", $2, $1, $3 }'
/usr/bin/python3 - "$work/runs" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, rep, rate = line.split()
    runs.setdefault(name, {})[int(rep)] = int(rate)
names = list(runs)
ref = runs[names[0]]
for name in names:
    r = runs[name]
    v = list(r.values())
    out = (f"{name:10} median {statistics.median(v):7.0f} msgs/s "
           f"(min {min(v)}, max {max(v)}, {len(v)} runs)")
    if name != names[0]:
        ratios = [r[k] / ref[k] for k in r if k in ref]
        out += (f"; to {names[0]}: median ratio "
                f"{statistics.median(ratios):.3f}, ahead in "
                f"{sum(x > 1 for x in ratios)} of {len(ratios)}")
    print(out)
EOF
