#!/usr/bin/env bash
# Paired A/B of two or more relays on one workload: each repetition
# runs every command once, back to back, so that slow drift of the machine
# hits all of them alike, starting one command later each time (the first
# run of a repetition was 1-3 % slower: four copies of one relay, 10
# repetitions, bench/README.md); the verdict is the median of the
# per-repetition ratios between every two commands, and in how many
# repetitions each was ahead.
#
#   bench/ab.sh [options] NAME=COMMAND [NAME=COMMAND ...]
#     --topology apart|shared  apart (default): every command on CPU 1,
#                              smtp-source and smtp-sink on CPU 0
#     --mode one|many|connrate one SMTP message per session (default), many
#                              per session, or bench/benchtool's connection
#                              rate (connect, 1 echoed byte, close)
#     --msgs N                 SMTP messages per run (default 8000)
#     --sessions N             parallel sessions or clients (default 8; 64
#                              for connrate)
#     --seconds S              connrate: seconds per run (default 3)
#     --reps N                 repetitions (default 12, at most 100)
#     --halt-poll NS           for the run, an idle CPU polls NS nanoseconds
#                              before it halts (cpuidle haltpoll, restored
#                              at exit; the kernel's default is 200000)
#
# A COMMAND listens on 127.0.0.1:1587 and relays to
# email-smtp.us-east-1.amazonaws.com:587, which maps to 127.0.0.2 (smtp-sink,
# or benchtool's echo server for connrate) inside the namespace; {ranges} in it becomes a generated allowlist whose
# AMAZON/us-east-1 prefix is 127.0.0.0/28. Its stderr is a pipe read by
# `cat` on the clients' CPU, as a container runtime reads a container's.
# Each run reports its rate and the CPU (user + system, from /proc, summed
# over the command's process tree) per message or connection.
# Example, the relay before and after a change (bench/README.md):
#
#   old=$(mktemp -d)/old
#   git worktree add "$old" HEAD~1 && make -C "$old" ses-smtp-proxy
#   make ses-smtp-proxy
#   R="--region us-east-1 --listen 127.0.0.1:1587 --ip-ranges {ranges}"
#   sudo bench/ab.sh "old=$old/ses-smtp-proxy $R" "new=$PWD/ses-smtp-proxy $R"
#
# Root, in a private network and mount namespace (loopback only), like
# run.sh. A measurement, not a test: no timing threshold.
set -euo pipefail

topology=apart mode=one msgs=8000 sessions="" reps=12 seconds=3 halt_poll=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--topology) topology=$2; shift ;;
	--mode) mode=$2; shift ;;
	--msgs) msgs=$2; shift ;;
	--sessions) sessions=$2; shift ;;
	--reps) reps=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--halt-poll) halt_poll=$2; shift ;;
	-h | --help) sed -n '2,41p' "$0"; exit 0 ;;
	--*) echo "ab.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
case "$topology/$mode" in
apart/one | apart/many | apart/connrate) ;;
shared/one | shared/many | shared/connrate) ;;
*) echo "ab.sh: --topology apart|shared, --mode one|many|connrate" >&2
	exit 2 ;;
esac
if [[ -z $sessions ]]; then
	if [[ $mode == connrate ]]; then sessions=64; else sessions=8; fi
fi
if [[ $# -lt 2 || ! $reps =~ ^[0-9]+$ || $reps -lt 1 || $reps -gt 100 ]]; then
	echo "ab.sh: two NAME=COMMAND or more, --reps 1-100 (--help)" >&2
	exit 2
fi
if [[ ! $msgs =~ ^[1-9][0-9]{0,6}$ || ! $sessions =~ ^[1-9][0-9]{0,3}$ ||
	! $seconds =~ ^[0-9]{1,3}(\.[0-9]+)?$ ]]; then
	echo "ab.sh: --msgs 1-9999999, --sessions 1-9999, --seconds a number" \
		"of seconds below 1000" >&2
	exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "ab.sh: must run as root (unshare)" >&2
	exit 2
fi
# shellcheck source=bench/haltpoll.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/haltpoll.sh"
haltpoll_check ab.sh "$halt_poll"
tools=(smtp-source smtp-sink taskset ss ip /usr/bin/python3)
[[ $mode == connrate ]] && tools+=(gcc)
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null || {
		echo "ab.sh: $tool is missing: run bench/run.sh --smoke once" \
			"(it installs what the bench needs)" >&2
		exit 2
	}
done

if [[ "${SES_AB_NETNS:-}" != "$$" ]]; then
	export SES_AB_NETNS=$$
	exec unshare --net --mount --propagation private -- bash "$0" \
		--topology "$topology" --mode "$mode" --msgs "$msgs" \
		--sessions "$sessions" --reps "$reps" --seconds "$seconds" \
		${halt_poll:+--halt-poll "$halt_poll"} "$@"
fi

# ---- inside the namespace --------------------------------------------------
work=$(mktemp -d /tmp/ses-ab.XXXXXX)
sink="" relay="" halt_was=""
cleanup() {
	[[ -n $halt_was ]] && { echo "$halt_was" >"$halt_file" || true; }
	if [[ -n $relay ]]; then
		kill "$relay" 2>/dev/null
		wait "$relay" 2>/dev/null
	fi
	[[ -n $sink ]] && kill "$sink" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -n $halt_poll ]]; then
	halt_was=$(<"$halt_file")
	echo "$halt_poll" >"$halt_file"
fi
ip link set lo up
[[ $(ip -o link show | wc -l) -eq 1 ]] || {
	echo "ab.sh: the namespace has interfaces other than lo" >&2; exit 2; }
# as run.sh: room for the connection rate's TIME_WAITs, at most 4096 kept
sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
	net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096 \
	net.ipv4.tcp_max_tw_buckets=4096
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
if [[ $mode == connrate ]]; then
	here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
	gcc -O2 -Wall -Wextra -pthread -o "$work/benchtool" "$here/benchtool.c"
	$pin_load "$work/benchtool" server 127.0.0.2 587 >/dev/null &
	unit=conns
else
	$pin_load smtp-sink -u nobody -m 2000 127.0.0.2:587 4096 &
	unit=msgs
fi
sink=$!
opts=()
[[ $mode == many ]] && opts=(-d)

listening() {
	ss -Hltn 'sport = :1587' | grep -q .
}

# CPU ticks (user + system) of ${1} and every process below it.
tree_ticks() {
	local pid=$1 kid sum
	# utime and stime, counted after the ")" that ends the command name
	sum=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null |
		awk '{ print $12 + $13 }')
	sum=${sum:-0}
	for kid in $(ps -o pid= --ppid "$pid"); do
		sum=$((sum + $(tree_ticks "$kid")))
	done
	echo "$sum"
}

# The load of one run; prints the units done (messages, connections),
# 0 when the client failed.
load() {
	local out
	if [[ $mode == connrate ]]; then
		out=$($pin_load "$work/benchtool" connrate 127.0.0.1 1587 \
			"$sessions" "$seconds") || out=""
		# "conns N failures F seconds S"
		if [[ ! $out =~ ^conns\ ([0-9]+)\ failures\ ([0-9]+) ]]; then
			echo 0
			return
		fi
		((BASH_REMATCH[2] == 0)) ||
			echo "ab.sh: ${BASH_REMATCH[2]} failed connections" >&2
		echo "${BASH_REMATCH[1]}"
		return
	fi
	if ! $pin_load timeout 300 smtp-source -s "$sessions" -m "$msgs" \
		-l 1000 -f a@example.com -t b@example.com "${opts[@]}" \
		127.0.0.1:1587 >&2; then
		echo 0
		return
	fi
	echo "$msgs"
}

# How many times CPU ${1} has halted since boot: the usage of every
# cpuidle state but POLL (a poll that times out then halts, counted once;
# 0 on a kernel without cpuidle).
idle_entries() {
	local d sum=0
	for d in /sys/devices/system/cpu/cpu"$1"/cpuidle/state*; do
		[[ -r $d/usage && $(<"$d/name") != POLL ]] &&
			sum=$((sum + $(<"$d/usage")))
	done
	echo "$sum"
}

# One run of ${2} (name ${1}): prints "NAME REP RATE CPU-NS-PER-UNIT
# IDLE0 IDLE1", the last two the times CPU 0 and CPU 1 halted per 1000
# units: each a halt that an interrupt had to end.
run_one() {
	local name=$1 cmd=${2//\{ranges\}/$work/ip-ranges.json} rep=$3 px t0 t1
	local c0 c1 n hz i0 i1 j0 j1
	hz=$(getconf CLK_TCK)
	# the command is words, as given, never a glob
	set -f
	# shellcheck disable=SC2086
	$pin_proxy $cmd >/dev/null 2> >($pin_load cat >/dev/null) &
	px=$!
	set +f
	relay=$px
	for _ in $(seq 100); do listening && break; sleep 0.02; done
	listening || { echo "ab.sh: $name does not listen on 1587" >&2; kill "$px"; exit 1; }
	c0=$(tree_ticks "$px")
	i0=$(idle_entries 0) i1=$(idle_entries 1)
	t0=$(date +%s%N)
	n=$(load)
	t1=$(date +%s%N)
	j0=$(idle_entries 0) j1=$(idle_entries 1)
	c1=$(tree_ticks "$px")
	kill "$px"
	wait "$px" 2>/dev/null || true
	relay=""
	if [[ ! $n =~ ^[0-9]+$ || $n -eq 0 ]]; then
		echo "ab.sh: the client failed through $name (repetition $rep)" >&2
		exit 1
	fi
	for _ in $(seq 100); do listening || break; sleep 0.02; done
	echo "$name $rep $((n * 1000000000 / (t1 - t0))) $(((c1 - c0) * (1000000000 / hz) / n))" \
		"$(((j0 - i0) * 1000 / n)) $(((j1 - i1) * 1000 / n))"
}

idle="no cpuidle haltpoll"
[[ -r $halt_file ]] && idle="an idle CPU polls $(<"$halt_file") ns before it halts"
echo "ab.sh: $topology, $mode, $sessions parallel, $reps repetitions; $idle"
# In this shell, not a pipeline's: cleanup must see ${relay}.
: >"$work/runs"
specs=("$@")
((reps % $# == 0)) || echo "ab.sh: $reps repetitions of $# commands:" \
	"some go first more often than others (a multiple of $# evens it out)" >&2
for rep in $(seq "$reps"); do
	for k in $(seq 0 $(($# - 1))); do
		spec=${specs[(rep - 1 + k) % $#]}
		run_one "${spec%%=*}" "${spec#*=}" "$rep" >>"$work/runs"
		tail -n 1 "$work/runs" | awk -v u="$unit" '{ printf "  rep %s %-10s %6d %s/s  CPU %6.1f us/%s  halts CPU 0 %5.2f, CPU 1 %5.2f\n", $2, $1, $3, u, $4 / 1000, substr(u, 1, length(u) - 1), $5 / 1000, $6 / 1000 }'
	done
done
/usr/bin/python3 - "$work/runs" "$unit" <<'EOF'
import statistics, sys
rate, cpu, idle0, idle1 = {}, {}, {}, {}
for line in open(sys.argv[1]):
    name, rep, r, c, i0, i1 = line.split()
    rate.setdefault(name, {})[int(rep)] = int(r)
    cpu.setdefault(name, {})[int(rep)] = int(c) / 1000
    idle0.setdefault(name, []).append(int(i0) / 1000)
    idle1.setdefault(name, []).append(int(i1) / 1000)
unit = sys.argv[2]
names = list(rate)


def paired(d, name, other, lower_wins):
    """Median (and range) of the per-repetition ratios of ${name} to
    ${other}, and in how many repetitions ${name} won."""
    ratios = [d[name][k] / d[other][k] for k in d[name]
              if k in d[other] and d[other][k] > 0]
    if not ratios:
        return "no pairs"
    won = sum(x < 1 if lower_wins else x > 1 for x in ratios)
    return (f"{statistics.median(ratios):.3f}x ({min(ratios):.3f}-"
            f"{max(ratios):.3f}), "
            f"{'less' if lower_wins else 'ahead'} in {won} of {len(ratios)}")


for name in names:
    v, c = list(rate[name].values()), list(cpu[name].values())
    print(f"{name:10} {statistics.median(v):7.0f} {unit}/s "
          f"(min {min(v)}, max {max(v)}), CPU {statistics.median(c):.1f} "
          f"us/{unit[:-1]} (min {min(c):.1f}, max {max(c):.1f}); "
          f"halts per {unit[:-1]}: CPU 0 "
          f"{statistics.median(idle0[name]):.2f}, CPU 1 "
          f"{statistics.median(idle1[name]):.2f}")
    for other in names:
        if other != name:
            print(f"{'':10} to {other}: rate "
                  f"{paired(rate, name, other, False)}; CPU "
                  f"{paired(cpu, name, other, True)}")
EOF
