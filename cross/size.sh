#!/bin/sh
# Prints the stripped size in bytes of each executable of one or more
# builds, one row per arch with its total (make size; regress/cross).
#   size.sh LABEL=DIR:STRIP...   e.g. armhf=build/armhf:arm-linux-gnueabihf-strip
# Strips copies into a temporary folder; the builds are left as they are.
set -eu

PROGS="sbin/vmediad libexec/vmediad/sessiond libexec/vmediad/blockd
    libexec/vmediad/hookd"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '%-8s %9s %9s %9s %9s %9s\n' arch vmediad sessiond blockd hookd total
for spec in "$@"; do
	label=${spec%%=*}
	dir=${spec#*=}
	strip=${dir##*:}
	dir=${dir%:*}
	row=$(printf '%-8s' "$label")
	total=0
	for p in $PROGS; do
		"$strip" -o "$tmp/out" "$dir/$p" || {
			echo "size: cannot strip $dir/$p with $strip" >&2
			exit 1
		}
		n=$(wc -c <"$tmp/out")
		row="$row $(printf '%9d' "$n")"
		total=$((total + n))
	done
	printf '%s %9d\n' "$row" "$total"
done
