#!/bin/sh
# Print the Debian archive mirror this host's apt already uses, for
# debootstrap (tests/container/seed-base.sh, tests/fresh/run.sh).
#
#   tests/debian-mirror.sh [SUITE]        (SUITE defaults to bookworm)
#
# $DEBIAN_MIRROR wins when set.  Otherwise the first source that serves
# SUITE's main component (not SUITE-security or SUITE-updates) is taken from
# /etc/apt/sources.list and /etc/apt/sources.list.d/*.list (one-line form)
# or *.sources (deb822 form).  No mirror host is written into the project:
# a host whose apt has no such source makes this exit 1 with a message.
set -eu

SUITE=${1:-bookworm}

if [ -n "${DEBIAN_MIRROR:-}" ]; then
	echo "$DEBIAN_MIRROR"
	exit 0
fi

one_line() {
	# deb [options] URI SUITE COMPONENT...
	sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$@" 2>/dev/null |
	    awk -v s="$SUITE" '$1 == "deb" && $3 == s {
		for (i = 4; i <= NF; i++)
			if ($i == "main") { print $2; exit }
	    }'
}

deb822() {
	# Stanzas separated by blank lines; Types, URIs, Suites, Components,
	# Enabled.  (Folded continuation lines are not read.)
	awk -v s="$SUITE" '
	    function flush() {
		if (types ~ /(^| )deb( |$)/ && enabled != "no" &&
		    (" " suites " ") ~ (" " s " ") &&
		    (" " comps " ") ~ / main /) {
			split(uris, u, " "); print u[1]; found = 1; exit
		}
		types = uris = suites = comps = enabled = ""
	    }
	    /^[ \t]*#/ { next }
	    /^[ \t]*$/ { flush(); next }
	    { key = tolower($1); $1 = ""; sub(/^ +/, "") }
	    key == "types:" { types = $0 }
	    key == "uris:" { uris = $0 }
	    key == "suites:" { suites = $0 }
	    key == "components:" { comps = $0 }
	    key == "enabled:" { enabled = tolower($0) }
	    END { if (!found) flush() }' "$@" 2>/dev/null
}

m=""
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -r "$f" ] || continue
	m=$(one_line "$f")
	[ -n "$m" ] && break
done
if [ -z "$m" ]; then
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		m=$(deb822 "$f")
		[ -n "$m" ] && break
	done
fi
if [ -z "$m" ]; then
	echo "debian-mirror: no apt source for '$SUITE main' in /etc/apt;" \
	    "set DEBIAN_MIRROR to a Debian mirror URL" >&2
	exit 1
fi
echo "$m"
