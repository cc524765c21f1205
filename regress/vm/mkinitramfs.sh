#!/bin/sh
# Builds the VM's initramfs: busybox-static, the kernel modules the tests
# need (with their dependencies), vmediad's release build at its installed
# layout with every library ldd lists, the USB gadget hook, the guest's
# config and accounts, and guest/init as /init.
#   mkinitramfs.sh KERNEL_DIR TOP OUT TLS_DIR
# KERNEL_DIR is what fetch-kernel.sh printed; TOP the source tree, whose
# build/ holds the release build; OUT the uncompressed cpio archive;
# TLS_DIR holds the listener's cert.pem and key.pem.
set -eu

usage="usage: mkinitramfs.sh KERNEL_DIR TOP OUT TLS_DIR"
kdir=${1:?$usage}
top=${2:?$usage}
out=${3:?$usage}
tls=${4:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
case $out in /*) ;; *) out=$(pwd)/$out ;; esac

die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

# What the tests load: NBD, the NIC, the USB gadget chain looped back
# into the same kernel (dummy_hcd), the USB disk and ISO 9660 on top.
# configfs, libcomposite and usb_f_mass_storage are there for the hook
# to load itself, as it would on a BMC.
MODULES="nbd virtio_pci virtio_net dummy_hcd usb-storage sd_mod sr_mod
isofs configfs libcomposite usb_f_mass_storage"

ver=$(ls "$kdir/lib/modules")
[ -n "$ver" ] && [ -f "$kdir/lib/modules/$ver/modules.dep" ] ||
	die "no lib/modules/VER/modules.dep in $kdir"
busybox=$(command -v busybox) || die "no busybox (package busybox-static)"
ldd "$busybox" >/dev/null 2>&1 &&
	die "$busybox is linked dynamically; install busybox-static"

root=$out.root
rm -rf "$root"
mkdir -p "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin usr/libexec/vmediad usr/share/vmediad \
    usr/share/vmediad/hooks etc/vmediad dev proc sys run tmp mnt root \
    var/empty "lib/modules/$ver"
chmod 1777 tmp
chmod 755 var/empty

# busybox, and a link per applet; "busybox" itself is in the list, and a
# link of that name would replace the binary.
cp "$busybox" bin/busybox
for applet in $(bin/busybox --list); do
	[ "$applet" = busybox ] || ln -s busybox "bin/$applet"
done
# The kernel runs /sbin/modprobe to load modules on demand.
ln -s ../bin/busybox sbin/modprobe

# vmediad as make install lays it out: /usr/sbin/vmediad finds its
# children in ../libexec/vmediad; the hook in /usr/share/vmediad/hooks.
for f in sbin/vmediad libexec/vmediad/sessiond libexec/vmediad/blockd \
    libexec/vmediad/hookd; do
	[ -x "$top/build/$f" ] || die "no $top/build/$f: run make first"
	cp "$top/build/$f" "usr/$f"
done
install -m 755 "$top/conf/hooks/usb-gadget" usr/share/vmediad/hooks/usb-gadget
cp -r "$top/web" usr/share/vmediad/web

# Every library the binaries load, and the loader, at their own paths.
libs=$(for f in usr/sbin/vmediad usr/libexec/vmediad/*; do ldd "$f"; done |
    awk '/=> \// { print $3 } /^[ \t]*\/[^ ]*ld-linux/ { print $1 }' | sort -u)
[ -n "$libs" ] || die "ldd listed no libraries"
for lib in $libs; do
	mkdir -p ".${lib%/*}"
	cp -L "$lib" ".$lib"
done

# The modules and everything they depend on, by the cache's modules.dep;
# then a modules.dep of our own for busybox modprobe in the guest.
mdir=$kdir/lib/modules/$ver
want=
for m in $MODULES; do
	path=$(sed -n "s|^\(\(.*/\)\{0,1\}$m\.ko\):.*|\1|p" "$mdir/modules.dep" |
	    head -1)
	if [ -z "$path" ]; then
		alt=$(echo "$m" | tr _- -_)
		path=$(sed -n "s|^\(\(.*/\)\{0,1\}$alt\.ko\):.*|\1|p" \
		    "$mdir/modules.dep" | head -1)
	fi
	[ -n "$path" ] || die "module $m not found in $mdir/modules.dep"
	deps=$(grep "^$path:" "$mdir/modules.dep" | cut -d: -f2)
	want="$want $path $deps"
done
for path in $want; do
	mkdir -p "lib/modules/$ver/${path%/*}"
	cp "$mdir/$path" "lib/modules/$ver/$path"
done
cp "$mdir/modules.builtin" "$mdir/modules.order" "lib/modules/$ver/"
bin/busybox depmod -b "$root" "$ver" ||
	die "depmod of the initramfs modules failed"

# Accounts and name service: glibc 2.34+ has the files service built in.
cat >etc/passwd <<EOF
root:x:0:0:root:/root:/bin/sh
_vmediad:x:999:999:vmediad:/var/empty:/bin/false
EOF
cat >etc/group <<EOF
root:x:0:
_vmediad:x:999:
EOF
printf 'passwd: files\ngroup: files\nshadow: files\n' >etc/nsswitch.conf
# The kernel's tick, for reading nbd's debugfs timeout (in jiffies).
sed -n 's/^CONFIG_HZ=//p' "$kdir/boot/config-$ver" >etc/kernel-hz
[ -s etc/kernel-hz ] || die "no CONFIG_HZ in $kdir/boot/config-$ver"
cp "$here/guest/vmediad.conf" etc/vmediad.conf
cp "$here/guest/usb-gadget.conf" etc/vmediad/usb-gadget.conf
# Root's alone (the archive makes everything root's): vmediad wants that.
install -m 644 "$tls/cert.pem" etc/vmediad/cert.pem
install -m 600 "$tls/key.pem" etc/vmediad/key.pem
install -m 755 "$here/guest/test-hook" usr/share/vmediad/hooks/test-hook
install -m 755 "$here/guest/init" init

find . | sort | bin/busybox cpio -o -H newc -R 0:0 >"$out.tmp" 2>/dev/null ||
	die "cpio failed"
mv "$out.tmp" "$out"
cd /
rm -rf "$root"
