#!/usr/bin/env bash
# make demo: the container against a fake SES, offline, step by step.
#
#   tests/container/demo.sh              (docker run)
#   tests/container/demo.sh --compose    (the same with deploy/compose.yaml)
#
# Needs root (Docker, and the fake SES binds port 587). Every byte stays on
# loopback: the fake SES listens on 127.0.0.2:587, the container shares the
# host network and is told the SES name's address with --add-host (no DNS),
# and the proxy listens on 127.0.0.1:11587. If the image is missing it is
# built first (that step needs Debian's mirror, once); the demo itself needs
# no network. Everything it starts is removed at the end.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
image=${IMAGE:-ses-smtp-proxy}
name=ses-smtp-proxy-demo
project=sesproxydemo
ses_name=email-smtp.us-east-1.amazonaws.com
ses_addr=127.0.0.2
port=11587
mode=run
case "${1:-}" in
"") ;;
--compose) mode=compose ;;
*)
	echo "usage: $0 [--compose]" >&2
	exit 2
	;;
esac

step=0
say() {
	step=$((step + 1))
	printf '\n=== %d. %s\n' "$step" "$*"
}
note() { printf '    %s\n' "$*"; }
fail() {
	printf '\nDEMO FAILED: %s\n' "$*" >&2
	exit 1
}

if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: run it as root (Docker, and port 587 for the fake SES)" >&2
	exit 2
fi
compose=()
if [[ $mode == compose ]]; then
	if docker compose version >/dev/null 2>&1; then
		compose=(docker compose)
	elif command -v docker-compose >/dev/null 2>&1; then
		compose=(docker-compose)
	else
		echo "demo.sh: neither 'docker compose' nor docker-compose is" \
			"installed (apt-get install docker-compose)" >&2
		exit 2
	fi
	compose+=(-p "$project" -f "$repo/deploy/compose.yaml")
fi

tmp=$(mktemp -d /tmp/ses-smtp-proxy-demo.XXXXXX)
chmod 0755 "$tmp"
ses_pid=""
started=""
nc_pid=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	printf '\n=== Cleaning up\n'
	exec 3>&- 4<&- 2>/dev/null || true
	if [[ -n $nc_pid ]]; then
		kill "$nc_pid" 2>/dev/null || true
	fi
	if [[ -n $started ]]; then
		if [[ $mode == compose ]]; then
			"${compose[@]}" down >/dev/null 2>&1 || true
			note "removed the compose project $project"
		else
			docker rm -f "$name" >/dev/null 2>&1 || true
			note "removed the container $name"
		fi
	fi
	if [[ -n $ses_pid ]]; then
		kill "$ses_pid" 2>/dev/null || true
		wait "$ses_pid" 2>/dev/null || true
		note "stopped the fake SES"
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Bounded wait: wait_until SECONDS COMMAND...
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# One scripted SMTP session through nc, shown as a transcript (C: client,
# S: the server's lines, relayed by the proxy). Checks the 220 greeting and
# the 250 EHLO reply.
reply=""
read_reply() {
	local line
	reply=""
	while IFS= read -r -t 10 line <&4; do
		line=${line%$'\r'}
		printf '    S: %s\n' "$line"
		reply+="$line"$'\n'
		[[ ${line:3:1} == "-" ]] || return 0
	done
	return 1
}
send() {
	printf '    C: %s\n' "$1"
	printf '%s\r\n' "$1" >&3
}
smtp_session() {
	rm -f "$tmp/in" "$tmp/out"
	mkfifo -m 0600 "$tmp/in" "$tmp/out"
	nc -w 10 127.0.0.1 "$port" <"$tmp/in" >"$tmp/out" &
	nc_pid=$!
	exec 3>"$tmp/in" 4<"$tmp/out"
	note "\$ nc 127.0.0.1 $port"
	read_reply || fail "no greeting"
	[[ $reply == 220\ * ]] || fail "the greeting is not 220"
	send "EHLO demo.example.com"
	read_reply || fail "no EHLO reply"
	[[ $reply == 250* ]] || fail "the EHLO reply is not 250"
	send "QUIT"
	read_reply || fail "no QUIT reply"
	exec 3>&- 4<&-
	wait "$nc_pid" || true
	nc_pid=""
}

container_id() {
	if [[ $mode == compose ]]; then
		"${compose[@]}" ps -q proxy 2>/dev/null
	else
		docker inspect -f '{{.Id}}' "$name" 2>/dev/null
	fi
}
count_event() {
	docker logs "$cid" 2>&1 | grep -c "\"event\":\"$1\"" || true
}
listening_count_is() { [[ $(count_event listening) -ge $1 ]]; }
pid_changed() {
	new_pid=$(docker inspect -f '{{.State.Pid}}' "$cid")
	[[ $new_pid != 0 && $new_pid != "$old_pid" ]]
}

say "Preparing: the Docker engine and the image"
"$here/seed-base.sh" --dockerd-only
if docker image inspect "$image" >/dev/null 2>&1; then
	note "image $image is here ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
else
	note "image $image is missing: building it (once; needs Debian's mirror)"
	IMAGE=$image "$here/build-image.sh"
fi
if nc -z 127.0.0.1 "$port" 2>/dev/null; then
	fail "something already listens on 127.0.0.1:$port"
fi
if [[ $mode == run ]]; then
	docker rm -f "$name" >/dev/null 2>&1 || true # a previous demo's
fi

say "Starting a fake SES on $ses_addr:587"
note "A real SMTP server (Python aiosmtpd) that greets like SES, offers"
note "STARTTLS, and only listens on loopback. It also writes an allowlist in"
note "AWS's ip-ranges.json format whose AMAZON us-east-1 prefix covers"
note "127.0.0.0/28: the proxy only ever dials addresses in its allowlist."
/usr/bin/python3 "$here/fake_ses.py" "$tmp/ses" "$ses_addr" \
	>"$tmp/ses.log" 2>&1 &
ses_pid=$!
if ! wait_until 30 test -f "$tmp/ses/ready"; then
	cat "$tmp/ses.log" >&2
	fail "the fake SES did not start (is port 587 of $ses_addr free?)"
fi
note "listening: $(cat "$tmp/ses/ready")"

say "Starting the proxy container, locked down"
if [[ $mode == compose ]]; then
	note "\$ ${compose[*]} up -d   (service proxy: read_only, cap_drop ALL,"
	note "  no-new-privileges, restart unless-stopped, network_mode host,"
	note "  extra_hosts $ses_name:$ses_addr, the allowlist mounted read-only)"
	started=yes
	SES_DEMO_IP_RANGES="$tmp/ses/ip-ranges.json" \
		SES_SMTP_PROXY_IMAGE="$image" "${compose[@]}" up -d 2>&1 |
		sed 's/^/    /'
	export SES_DEMO_IP_RANGES="$tmp/ses/ip-ranges.json"
else
	run=(docker run -d --name "$name"
		--read-only --cap-drop=ALL --security-opt no-new-privileges
		--restart unless-stopped
		--network host --add-host "$ses_name:$ses_addr"
		-v "$tmp/ses/ip-ranges.json:/etc/ses-smtp-proxy/ip-ranges.json:ro"
		-e "LISTEN=127.0.0.1:$port" -e DRAIN_TIMEOUT=3
		"$image")
	note "\$ ${run[*]}"
	started=yes
	"${run[@]}" >/dev/null
fi
cid=$(container_id)
[[ -n $cid ]] || fail "no container"
note "read-only root file system, every capability dropped, no new"
note "privileges, user 65534; Docker restarts it unless it is stopped:"
note "$(docker inspect -f 'ReadonlyRootfs={{.HostConfig.ReadonlyRootfs}} CapDrop={{.HostConfig.CapDrop}} SecurityOpt={{.HostConfig.SecurityOpt}} Restart={{.HostConfig.RestartPolicy.Name}} User={{.Config.User}}' "$cid")"
wait_until 15 listening_count_is 1 || fail "the proxy did not start listening"
note "the proxy logs (JSON, one event per line):"
docker logs "$cid" 2>&1 | sed 's/^/      /'

say "A client session through the proxy"
note "The greeting and the EHLO reply come from the fake SES, relayed byte"
note "for byte (a real client would now say STARTTLS and talk TLS with SES"
note "itself, end to end):"
smtp_session

say "A crash: the proxy process is killed with SIGKILL"
old_pid=$(docker inspect -f '{{.State.Pid}}' "$cid")
note "On the host the proxy is process $old_pid, running as user" \
	"$(ps -o user= -p "$old_pid")."
note "kill -9 gives it no chance to clean up, like an OOM kill or a crash."
note "\$ kill -9 $old_pid"
kill -9 "$old_pid"
t0=$(date +%s%N)
new_pid=""
wait_until 15 pid_changed || fail "Docker did not restart the container"
note "Docker restarted the container $((($(date +%s%N) - t0) / 1000000)) ms later:" \
	"new PID $new_pid, restart count" \
	"$(docker inspect -f '{{.RestartCount}}' "$cid")"
wait_until 15 listening_count_is 2 || fail "the restarted proxy is not listening"

say "The next session works"
smtp_session

say "What Docker and the proxy say now"
docker ps --filter "id=$cid" --format '{{.Names}}: {{.Status}}' | sed 's/^/    /'
note "the proxy's log since the first start (no payload byte is ever logged):"
docker logs "$cid" 2>&1 | grep -E '"event":"(startup|listening|conn_close)"' |
	sed 's/^/      /'

say "Done: 220 and EHLO through the locked-down container, a SIGKILL, an"
note "automatic restart, and the next session served."
