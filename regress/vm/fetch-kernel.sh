#!/bin/sh
# Gets the Debian kernel a test VM boots, without installing it: resolves
# the arch's meta package (linux-image-amd64, linux-image-arm64:arm64,
# linux-image-armmp:armhf) to its versioned package, downloads it with
# apt and unpacks it into a cache. Prints the cached kernel's folder.
#   fetch-kernel.sh ARCH CACHE_DIR
# ARCH is x86_64, arm64 or armhf. The folder holds boot/vmlinuz-VER,
# lib/modules/VER with a modules.dep (busybox depmod; the package ships
# none) and, for ARM, usr/lib/linux-image-VER/*.dtb. A second run reuses
# it. Failing to get a kernel is an error, never a skip.
set -eu

usage="usage: fetch-kernel.sh x86_64|arm64|armhf CACHE_DIR"
arch=${1:?$usage}
cache=${2:?$usage}

die() {
	echo "fetch-kernel: $*" >&2
	exit 1
}

case $arch in
x86_64)	debarch=amd64 meta=linux-image-amd64 flavour=amd64 ;;
arm64)	debarch=arm64 meta=linux-image-arm64 flavour=arm64 ;;
armhf)	debarch=armhf meta=linux-image-armmp flavour=armmp ;;
*)	die "$usage" ;;
esac
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# apt names a foreign package NAME:ARCH.
hostarch=$(dpkg --print-architecture)
q=
[ "$debarch" = "$hostarch" ] || q=:$debarch

# The versioned package the meta package points at today, e.g.
# linux-image-6.1.0-50-armmp.
resolve() {
	apt-cache depends "$meta$q" 2>/dev/null |
	    sed -n "s/^ *Depends: \(linux-image-[0-9][^ :]*-$flavour\)\(:$debarch\)\{0,1\}\$/\1/p" |
	    head -1
}

cached() {
	for d in "$cache"/linux-image-*; do
		[ -f "$d/.complete" ] && { echo "$d"; return 0; }
	done
	return 1
}

pkg=$(resolve)
if [ -z "$pkg" ] && [ -n "$q" ] &&
    ! dpkg --print-foreign-architectures | grep -qx "$debarch"; then
	# apt knows no $debarch package before the architecture is added.
	cached && exit 0
	[ "$(id -u)" = 0 ] ||
		die "apt does not know architecture $debarch; as root:" \
		    "dpkg --add-architecture $debarch && apt-get update"
	echo "fetch-kernel: dpkg --add-architecture $debarch" >&2
	dpkg --add-architecture "$debarch" ||
		die "dpkg --add-architecture $debarch failed"
fi
if [ -z "$pkg" ]; then
	# No package lists yet (a fresh container, a new architecture):
	# fetch them once. A failing secondary index does not matter.
	timeout 300 apt-get update -qq >/dev/null 2>&1 || true
	pkg=$(resolve)
fi
if [ -z "$pkg" ]; then
	# Offline but cached earlier: that kernel will do.
	cached && exit 0
	die "cannot resolve $meta$q with apt-cache (no package lists? no" \
	    "network?) and no kernel is cached in $cache"
fi

dir=$cache/$pkg
if [ -f "$dir/.complete" ]; then
	echo "$dir"
	exit 0
fi

ver=${pkg#linux-image-}
echo "fetch-kernel: downloading $pkg$q" >&2
rm -rf "$dir" "$dir.tmp" "$cache"/dl
mkdir -p "$cache/dl"
# apt's download sandbox user cannot write into a root-only folder.
(cd "$cache/dl" && timeout 300 apt-get download -q \
    -o APT::Sandbox::User=root "$pkg$q" >&2) ||
	die "apt-get download $pkg$q failed"
deb=$(ls "$cache"/dl/"$pkg"_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || die "apt-get download left no $pkg .deb in $cache/dl"
mkdir -p "$dir.tmp"
dpkg-deb -x "$deb" "$dir.tmp" || die "dpkg-deb -x $deb failed"
[ -f "$dir.tmp/boot/vmlinuz-$ver" ] || die "$deb holds no boot/vmlinuz-$ver"
[ -d "$dir.tmp/lib/modules/$ver" ] || die "$deb holds no lib/modules/$ver"
busybox depmod -b "$dir.tmp" "$ver" || die "depmod of $ver failed"
rm -rf "$cache/dl"
# Older kernels go: the cache holds one.
for d in "$cache"/linux-image-*; do
	[ "$d" = "$dir.tmp" ] || rm -rf "$d"
done
mv "$dir.tmp" "$dir"
touch "$dir/.complete"
echo "$dir"
