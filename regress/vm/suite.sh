#!/bin/bash
# A VM suite (run.sh) as make regress runs it, with one allowance: when
# the guest's kernel oopses in dummy_hcd, the emulated USB controller the
# gadget tests use (a list corrupted in its nuke() on a gadget unbind,
# seen on the armmp kernel under TCG, and on arm64, where nuke() is
# inlined into dummy_udc_stop(), when the reconnect window's end unbinds
# the gadget with a read in flight), the run says so and is made once
# more; only the second run's lines count. Any other failure stands.
#   suite.sh ARCH SUITE-NAME   (as run.sh: VM_ARCH=ARCH, build/SUITE-NAME)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
arch=$1
console=$top/build/$2/console-failed.log
out=$(mktemp)
trap 'rm -f "$out"' EXIT

rm -f "$console"
VM_ARCH=$arch bash "$here/run.sh" >"$out" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ -s "$console" ] &&
    grep -aqE 'from nuke\+.*\[dummy_hcd\]|(nuke|dummy_udc_stop)\+0x[0-9a-f]+/0x[0-9a-f]+ \[dummy_hcd\]' "$console" &&
    grep -aqE 'Internal error|Oops|BUG:' "$console"; then
	echo "# $2: the guest kernel oopsed in dummy_hcd (the emulated USB controller), not in vmediad; its lines:"
	sed 's/^\(not \)\{0,1\}ok /# first run: &/' "$out"
	cp "$console" "$console.dummy_hcd-oops"
	echo "# $2: once more"
	VM_ARCH=$arch bash "$here/run.sh"
	exit $?
fi
cat "$out"
exit $rc
