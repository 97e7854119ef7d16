# shellcheck shell=bash
# --halt-poll for bench/run.sh and bench/ab.sh (sourced): the guest's
# cpuidle haltpoll window, a machine-wide setting that a run changes and
# must put back.
halt_file=/sys/module/haltpoll/parameters/guest_halt_poll_ns
idle_driver=/sys/devices/system/cpu/cpuidle/current_driver

# Refuse ${2} (from script ${1}) unless it is 0-9999999 ns without leading
# zeros (the kernel would read those as octal) and the idle driver is
# haltpoll, whose window it sets.
haltpoll_check() {
	[[ -z $2 ]] && return 0
	if [[ ! $2 =~ ^(0|[1-9][0-9]{0,6})$ || ! -w $halt_file ||
		$(cat "$idle_driver" 2>/dev/null) != haltpoll ]]; then
		echo "$1: --halt-poll $2: needs nanoseconds (0-9999999) and the" \
			"haltpoll cpuidle driver ($idle_driver, $halt_file)" >&2
		exit 2
	fi
}
