#!/bin/sh
# Makes the target libraries for a cross build: a sysroot per arch, without
# installing anything of that arch (multiarch -dev packages conflict).
#   sysroot.sh ARCH DIR        ARCH is armhf or arm64
# Downloads the Debian packages below for ARCH with apt-get download,
# unpacks them into DIR with dpkg-deb -x and re-points their absolute
# symlinks into DIR (relative links, so DIR may move). DIR/.complete marks
# a finished sysroot: a second run returns at once. The first needs root
# (dpkg --add-architecture, apt-get update) and the package mirror.
# DIR also holds the guest's busybox (DIR/bin/busybox) and libc for the
# ARM VM tests. Failing to make it is an error, never a skip.
set -eu

arch=${1:?usage: sysroot.sh ARCH DIR}
dir=${2:?usage: sysroot.sh ARCH DIR}

PKGS="libevent-dev libevent-2.1-7 libevent-core-2.1-7 libevent-openssl-2.1-7
    libevent-pthreads-2.1-7 libevent-extra-2.1-7 libseccomp-dev libseccomp2
    libcap-ng-dev libcap-ng0 libinih-dev libinih1 libssl-dev libssl3
    libcrypt-dev libcrypt1 libc6 busybox-static"

die() {
	echo "sysroot: $*" >&2
	exit 1
}

case $arch in
armhf|arm64) ;;
*) die "unknown arch '$arch' (armhf or arm64)" ;;
esac

[ -f "$dir/.complete" ] && exit 0

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# apt knows ARCH's packages only once dpkg lists the arch and the index
# for it is fetched.
known() {
	apt-cache show "libc6:$arch" >/dev/null 2>&1
}
if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
	[ "$(id -u)" -eq 0 ] ||
	    die "dpkg does not know $arch: run 'dpkg --add-architecture $arch" \
	    "&& apt-get update' as root, or this script as root"
	dpkg --add-architecture "$arch" || die "dpkg --add-architecture $arch failed"
fi
if ! known; then
	[ "$(id -u)" -eq 0 ] || die "no $arch package index: run 'apt-get update' as root"
	# A failing index elsewhere (the armhf security mirror sometimes
	# says "Mirror sync in progress") is fine if the main one came; a
	# held apt lock (another apt running) is worth a wait.
	for try in 1 2 3; do
		echo "sysroot: apt-get update for $arch" >&2
		err=$(timeout 600 apt-get update -qq 2>&1 >/dev/null) || true
		known && break
		[ "$try" -eq 3 ] || sleep 20
	done
	known || die "apt-get update brought no $arch package index:" \
	    "$(echo "$err" | grep -m1 '^E:')"
fi

echo "sysroot: downloading the $arch packages into $dir" >&2
tmp=$dir.tmp
rm -rf "$tmp"
mkdir -p "$tmp/dl"
list=
for p in $PKGS; do
	list="$list $p:$arch"
done
# apt's download sandbox user cannot write into a root-only folder.
# shellcheck disable=SC2086
if ! (cd "$tmp/dl" && timeout 600 apt-get download -q \
    -o APT::Sandbox::User=root $list) >"$tmp/apt.log" 2>&1; then
	cat "$tmp/apt.log" >&2
	die "apt-get download for $arch failed:" \
	    "$(grep -m1 '^E:' "$tmp/apt.log")"
fi
for deb in "$tmp"/dl/*.deb; do
	dpkg-deb -x "$deb" "$tmp" || die "dpkg-deb -x $deb failed"
done
rm -rf "$tmp/dl" "$tmp/apt.log"

# An absolute link (/usr/lib/T/libfoo.so -> /lib/T/libfoo.so.1) would
# point at the build machine's own files: make it relative, inside.
find "$tmp" -type l | while read -r link; do
	target=$(readlink "$link")
	case $target in
	/*) ;;
	*) continue ;;
	esac
	rel=${link#"$tmp"/}
	up=.
	case $rel in
	*/*) up=$(dirname "$rel" | sed 's|[^/][^/]*|..|g') ;;
	esac
	ln -sfn "$up$target" "$link"
done

[ -x "$tmp/bin/busybox" ] || die "busybox-static:$arch left no bin/busybox"
rm -rf "$dir"
mv "$tmp" "$dir"
touch "$dir/.complete"
