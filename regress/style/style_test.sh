#!/bin/bash
# Every C file of the tree as clang-format lays it out (.clang-format at
# the top): one test per folder, naming the files that differ.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

cd "$top" || exit 1
if ! command -v clang-format >/dev/null; then
	notok style_clang_format_present "no clang-format (Debian package clang-format; make deps)"
	exit 1
fi
files=$(git ls-files '*.c' '*.h' | grep -v '^regress/fuzz/corpus/')
for dir in $(echo "$files" | sed 's|/[^/]*$||' | sort -u); do
	bad=
	for f in $(echo "$files" | grep "^$dir/[^/]*$"); do
		clang-format --dry-run --Werror "$f" >/dev/null 2>&1 ||
			bad="$bad ${f##*/}"
	done
	name=style_${dir//\//_}_as_clang_format_lays_it_out
	if [ -z "$bad" ]; then
		ok "$name"
	else
		notok "$name" "differs:$bad (make format)"
	fi
done
test_done
