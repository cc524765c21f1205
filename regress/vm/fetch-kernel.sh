#!/bin/sh
# Gets the Debian kernel the VM boots, without installing it: resolves
# linux-image-amd64 to its versioned package, downloads it with apt and
# unpacks it into a cache. Prints the cached kernel's folder.
#   fetch-kernel.sh CACHE_DIR
# The folder holds boot/vmlinuz-VER and lib/modules/VER with a
# modules.dep (busybox depmod; the package ships none). A second run
# reuses it. Failing to get a kernel is an error, never a skip.
set -eu

cache=${1:?usage: fetch-kernel.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

die() {
	echo "fetch-kernel: $*" >&2
	exit 1
}

# The versioned package the meta package points at today, e.g.
# linux-image-6.1.0-56-amd64.
resolve() {
	apt-cache depends linux-image-amd64 2>/dev/null |
	    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' |
	    head -1
}

pkg=$(resolve)
if [ -z "$pkg" ]; then
	# No package lists yet (a fresh container): fetch them once.
	timeout 300 apt-get update -qq >/dev/null 2>&1 || true
	pkg=$(resolve)
fi
if [ -z "$pkg" ]; then
	# Offline but cached earlier: that kernel will do.
	for d in "$cache"/linux-image-*; do
		[ -f "$d/.complete" ] && { echo "$d"; exit 0; }
	done
	die "cannot resolve linux-image-amd64 with apt-cache (no package" \
	    "lists? no network?) and no kernel is cached in $cache"
fi

dir=$cache/$pkg
if [ -f "$dir/.complete" ]; then
	echo "$dir"
	exit 0
fi

ver=${pkg#linux-image-}
echo "fetch-kernel: downloading $pkg" >&2
rm -rf "$dir" "$cache"/dl
mkdir -p "$cache/dl"
# apt's download sandbox user cannot write into a root-only folder.
(cd "$cache/dl" && timeout 300 apt-get download -q \
    -o APT::Sandbox::User=root "$pkg" >&2) ||
	die "apt-get download $pkg failed"
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
