#!/bin/bash
# Cross builds for armhf (AST2600) and arm64 (AST2700): sysroot, release and
# test builds, each executable's ELF machine, armhf's 64-bit time_t and
# off_t, and the size bound: all four ≤ 320 KiB stripped on armhf. The
# goal is 256 KiB (issue 11); Redfish, network NBD, inserted sources and
# the reconnect window took it past that (325,632 bytes all at -O2;
# 309,248 with the code off the data path at -Os, SIZE_OPT in the
# Makefile), so the goal is reported
# beside the bound until it is met again.
set -u
cd "$(dirname "$0")"
. ../lib/test.sh
top=$(cd ../.. && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

PROGS="sbin/vmediad libexec/vmediad/sessiond libexec/vmediad/blockd
    libexec/vmediad/hookd"
BUDGET=327680
GOAL=262144

# The last line of $log that is not make's own "*** Error".
lastline() {
	grep -v '^make.*\*\*\*' "$log" | tail -1
}

# topmake NAME ARGS...: make in the top folder; ok NAME, or not ok with the
# last lines of its output.
topmake() {
	local name=$1
	shift
	if make -s -C "$top" -j"$jobs" "$@" >"$log" 2>&1; then
		ok "$name"
		return 0
	fi
	notok "$name" "make $* failed: $(lastline)"
	tail -5 "$log" | sed 's/^/# /'
	return 1
}

# elf_is FILE CLASS MACHINE [FLAG]: readelf -h says so.
elf_is() {
	local h
	h=$(readelf -h "$1" 2>/dev/null) || return 1
	grep -q "Class: *$2\$" <<<"$h" && grep -q "Machine: *$3\$" <<<"$h" &&
	    { [ -z "${4:-}" ] || grep -q "Flags:.*$4" <<<"$h"; }
}

# check_elves NAME DIR CLASS MACHINE [FLAG]
check_elves() {
	local name=$1 dir=$2 p bad=
	shift 2
	for p in $PROGS; do
		elf_is "$top/$dir/$p" "$@" || bad="$bad $dir/$p"
	done
	if [ -z "$bad" ]; then
		ok "$name"
	else
		notok "$name" "not $* (readelf -h):$bad"
	fi
}

for arch in armhf arm64; do
	case $arch in
	armhf)
		triplet=arm-linux-gnueabihf
		elf="ELF32 ARM hard-float"
		;;
	arm64)
		triplet=aarch64-linux-gnu
		elf="ELF64 AArch64"
		;;
	esac
	# shellcheck disable=SC2086
	set -- $elf

	if command -v "$triplet-gcc" >/dev/null; then
		ok "cross_${arch}_toolchain_present"
	else
		why="no $triplet-gcc: install crossbuild-essential-$arch"
		notok "cross_${arch}_toolchain_present" "$why (make deps-cross)"
		continue
	fi

	topmake "cross_${arch}_sysroot_made" ARCH=$arch sysroot || continue
	sr=build/sysroot/$arch
	if elf_is "$top/$sr/bin/busybox" "$@"; then
		ok "cross_${arch}_sysroot_has_guest_busybox"
	else
		notok "cross_${arch}_sysroot_has_guest_busybox" \
		    "$sr/bin/busybox missing or not $elf"
	fi

	topmake "cross_${arch}_release_build" ARCH=$arch all &&
		check_elves "cross_${arch}_release_executables_are_$2" \
		    build/$arch "$@"
	topmake "cross_${arch}_test_build" ARCH=$arch O=build/$arch-test \
	    TEST=1 all &&
		check_elves "cross_${arch}_test_executables_are_$2" \
		    build/$arch-test "$@"

	# The Makefile's own compile rule and flags, on a file that only
	# compiles with a 64-bit time_t and off_t; make does not track
	# flags, so the object goes first.
	rm -f "$top/build/cross-abi/$arch/obj/regress/cross/abi_check.o"
	topmake "cross_${arch}_time_t_and_off_t_are_64_bit" ARCH=$arch \
	    O=build/cross-abi/$arch \
	    build/cross-abi/$arch/obj/regress/cross/abi_check.o
done

# The release executables themselves call glibc's 64-bit time entry points
# (__stat64_time64, __prctl_time64, ...), as they do only with _TIME_BITS=64.
bad=
for p in $PROGS; do
	f=$top/build/armhf/$p
	[ -f "$f" ] && readelf --dyn-syms -W "$f" | grep -q '_time64' ||
		bad="$bad $p"
done
if [ -z "$bad" ]; then
	ok cross_armhf_executables_use_time64_glibc
else
	notok cross_armhf_executables_use_time64_glibc \
	    "no *_time64 symbol imported (built without _TIME_BITS=64?):$bad"
fi

# Debian 12's armhf libevent has a 32-bit time_t, our armhf build a 64-bit
# one: every timeout handed to libevent must be a struct libevent_tv
# (common/libevent_tv.h), never a struct timeval of ours.
if grep -n 'struct timeval' "$top"/common/*.c "$top"/privsep/*.c \
    "$top"/sessiond/*.c "$top"/blockd/*.c "$top"/hookd/*.c >"$log"; then
	notok cross_libevent_timeouts_in_libevent_layout "$(head -3 "$log")"
else
	ok cross_libevent_timeouts_in_libevent_layout
fi

# Stripped sizes (make size also builds the native release build).
if make -s -C "$top" size >"$log" 2>&1; then
	sed "s/^/# /" "$log"
	ok cross_size_table
	total=$(awk '$1 == "armhf" { print $NF }' "$log")
	if [ -n "$total" ] && [ "$total" -le "$BUDGET" ]; then
		ok cross_armhf_stripped_total_within_320k
	else
		notok cross_armhf_stripped_total_within_320k \
		    "armhf total ${total:-unknown} bytes > $BUDGET"
	fi
	if [ -n "$total" ] && [ "$total" -gt "$GOAL" ]; then
		echo "# armhf total $total bytes: the 256 KiB goal ($GOAL)" \
		    "is missed by $((total - GOAL)) bytes"
	fi
else
	notok cross_size_table \
	    "make size failed: $(lastline)"
	notok cross_armhf_stripped_total_within_320k "no size table"
fi

test_done
