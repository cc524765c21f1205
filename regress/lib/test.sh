# Shell side of the regress output format: ok NAME / not ok NAME: why.
# Sourced by shell suites; each suite exits non-zero if anything failed.

test_failed=0

ok() {
	echo "ok $1"
}

notok() {
	test_failed=$((test_failed + 1))
	echo "not ok $1: $2"
}

# check NAME COMMAND...: runs the command, ok if it exits 0.
check() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$name"; else notok "$name" "$*"; fi
}

test_done() {
	[ "$test_failed" -eq 0 ]
}
