#!/bin/sh
# Builds a test VM's initramfs: busybox-static, the kernel modules the
# tests need (with their dependencies), one of vmediad's release builds
# at its installed layout with every library it loads, the USB gadget
# hook, the guest's config and accounts, and guest/init as /init.
#   mkinitramfs.sh ARCH KERNEL_DIR TOP BUILD SYSROOT OUT TLS_DIR
# ARCH is x86_64, arm64 or armhf; KERNEL_DIR what fetch-kernel.sh printed;
# TOP the source tree; BUILD the release build of that arch (sbin/,
# libexec/vmediad/); SYSROOT where that arch's libraries and busybox are
# (/ for the build machine's own; lib/TRIPLET, usr/lib/TRIPLET, the
# loader, bin/busybox); OUT the uncompressed cpio archive; TLS_DIR holds
# the guest listener's cert.pem and key.pem.
# The environment may add modules (VM_NIC_MODULES: the NIC's driver, the
# guest loads them in that order; VM_EXTRA_MODULES: more, loaded by the
# guest as it needs them), settings for the guest's /init (VM_CONSOLE:
# the console's tty, which also carries the host's answers), another
# /init (VM_INIT: a file of guest/) and programs of the build machine with
# every library they load (VM_EXTRA_BINS: paths, copied to /usr/local/bin,
# which comes first in that /init's PATH; for the build machine's own arch
# only, as SYSROOT is then /). VM_NBDKIT=yes adds the sysroot's nbdkit
# (/usr/bin/nbdkit, where vmediad's launcher runs it) with the plugins and
# filters sources use (nbd, curl; retry, readahead, cow) at their
# installed paths, every library they load, and TLS_DIR's source-ca.pem
# as /etc/vmediad/source-ca.pem; and the sysroot's nbd-client with
# TLS_DIR/nbdtls's CA and client certificates in /etc/nbd-client.
set -eu

usage="usage: mkinitramfs.sh ARCH KERNEL_DIR TOP BUILD SYSROOT OUT TLS_DIR"
arch=${1:?$usage}
kdir=${2:?$usage}
top=${3:?$usage}
build=${4:?$usage}
sysroot=${5:?$usage}
out=${6:?$usage}
tls=${7:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
case $sysroot in /*) ;; *) sysroot=$(pwd)/$sysroot ;; esac
sysroot=${sysroot%/}

die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

case $arch in
x86_64)	triplet=x86_64-linux-gnu machine="Advanced Micro Devices X86-64" ;;
arm64)	triplet=aarch64-linux-gnu machine=AArch64 ;;
armhf)	triplet=arm-linux-gnueabihf machine=ARM ;;
*)	die "$usage" ;;
esac

# What the tests load: NBD, the NIC, the USB gadget chain looped back
# into the same kernel (dummy_hcd), the USB disk and ISO 9660 on top.
# configfs, libcomposite and usb_f_mass_storage are there for the hook
# to load itself, as it would on a BMC.
MODULES="nbd ${VM_NIC_MODULES:-virtio_pci virtio_net} dummy_hcd usb-storage
sd_mod sr_mod isofs configfs libcomposite usb_f_mass_storage
${VM_EXTRA_MODULES:-}"
init=${VM_INIT:-init}
case $init in */*|'') die "VM_INIT=$init: a file name of $here/guest" ;; esac
[ -f "$here/guest/$init" ] || die "no $here/guest/$init"

ver=$(ls "$kdir/lib/modules")
[ -n "$ver" ] && [ -f "$kdir/lib/modules/$ver/modules.dep" ] ||
	die "no lib/modules/VER/modules.dep in $kdir"
command -v readelf >/dev/null || die "no readelf (package binutils)"

# elf_is FILE: FILE is an ELF executable of this arch.
elf_is() {
	LC_ALL=C readelf -h "$1" 2>/dev/null |
	    grep -q "^ *Machine: *$machine\$"
}

interp() {
	LC_ALL=C readelf -l "$1" 2>/dev/null |
	    sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p'
}

needed() {
	LC_ALL=C readelf -d "$1" 2>/dev/null |
	    sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'
}

# The sysroot's busybox, a static one: the host's own for x86_64.
busybox=$sysroot/bin/busybox
[ -f "$busybox" ] || busybox=$sysroot/usr/bin/busybox
[ -f "$busybox" ] || die "no ${sysroot:-/}/bin/busybox (package busybox-static, $arch)"
elf_is "$busybox" || die "$busybox is not an $arch executable"
[ -z "$(interp "$busybox")" ] ||
	die "$busybox is linked dynamically; want busybox-static"
# Its applets, listed by the build machine's busybox (the same Debian
# release; a foreign one cannot run here).
applets=$(busybox --list) || die "no busybox here to list the applets"

root=$out.root
rm -rf "$root"
mkdir -p "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin usr/local/bin usr/libexec/vmediad \
    usr/share/vmediad usr/share/vmediad/hooks etc/vmediad dev proc sys run \
    tmp mnt root var/empty "lib/modules/$ver" "lib/$triplet"
chmod 1777 tmp
chmod 755 var/empty

# busybox, and a link per applet; "busybox" itself is in the list, and a
# link of that name would replace the binary.
cp "$busybox" bin/busybox
for applet in $applets; do
	[ "$applet" = busybox ] || ln -s busybox "bin/$applet"
done
# The kernel runs /sbin/modprobe to load modules on demand.
ln -s ../bin/busybox sbin/modprobe

# vmediad as make install lays it out: /usr/sbin/vmediad finds its
# children in ../libexec/vmediad; the hook in /usr/share/vmediad/hooks.
for f in sbin/vmediad libexec/vmediad/sessiond libexec/vmediad/blockd \
    libexec/vmediad/hookd; do
	[ -x "$build/$f" ] || die "no $build/$f: build $arch first"
	elf_is "$build/$f" || die "$build/$f is not an $arch executable"
	cp "$build/$f" "usr/$f"
done
install -m 755 "$top/conf/hooks/usb-gadget" usr/share/vmediad/hooks/usb-gadget
cp -r "$top/web" usr/share/vmediad/web
for f in ${VM_EXTRA_BINS:-}; do
	[ -f "$f" ] || die "VM_EXTRA_BINS: no $f"
	elf_is "$f" || die "VM_EXTRA_BINS: $f is not an $arch executable"
	cp -L "$f" "usr/local/bin/${f##*/}"
done

# nbdkit for sources, where its build looks for plugins and filters.
nbdkit_so=
if [ "${VM_NBDKIT:-no}" = yes ]; then
	nk=$sysroot/usr/bin/nbdkit
	[ -f "$nk" ] || die "VM_NBDKIT: no $nk (package nbdkit, $arch)"
	elf_is "$nk" || die "VM_NBDKIT: $nk is not an $arch executable"
	cp -L "$nk" usr/bin/nbdkit
	for so in plugins/nbdkit-nbd-plugin.so plugins/nbdkit-curl-plugin.so \
	    filters/nbdkit-retry-filter.so filters/nbdkit-readahead-filter.so \
	    filters/nbdkit-cow-filter.so; do
		from=$sysroot/usr/lib/$triplet/nbdkit/$so
		[ -f "$from" ] || die "VM_NBDKIT: no $from (nbdkit-plugin-*)"
		mkdir -p "usr/lib/$triplet/nbdkit/${so%/*}"
		cp -L "$from" "usr/lib/$triplet/nbdkit/$so"
		nbdkit_so="$nbdkit_so usr/lib/$triplet/nbdkit/$so"
	done
	[ -f "$tls/source-ca.pem" ] || die "VM_NBDKIT: no $tls/source-ca.pem"
	install -m 644 "$tls/source-ca.pem" etc/vmediad/source-ca.pem
	# Debian's nbd-client (gnutls) for network NBD over TLS to the
	# host's vmediad; the CA and the client certificates of alice and
	# mallory it presents.
	nc=$sysroot/usr/sbin/nbd-client
	[ -f "$nc" ] || die "VM_NBDKIT: no $nc (package nbd-client, $arch)"
	elf_is "$nc" || die "VM_NBDKIT: $nc is not an $arch executable"
	cp -L "$nc" usr/sbin/nbd-client
	mkdir -p etc/nbd-client
	for f in ca.pem alice.pem alice.key mallory.pem mallory.key; do
		[ -f "$tls/nbdtls/$f" ] || die "VM_NBDKIT: no $tls/nbdtls/$f"
		install -m 600 "$tls/nbdtls/$f" "etc/nbd-client/$f"
	done
fi

# Every library the binaries load, by their NEEDED entries, from the
# sysroot's library folders into /lib/TRIPLET (the loader's own default
# path); and the loader at the path the binaries name.
libdirs="$sysroot/lib/$triplet $sysroot/usr/lib/$triplet"
todo=$(for f in usr/sbin/vmediad usr/libexec/vmediad/* usr/local/bin/* \
    usr/bin/nbdkit usr/sbin/nbd-client $nbdkit_so; do
	if [ -f "$f" ]; then needed "$f"; fi
done)
[ -n "$todo" ] || die "readelf listed no libraries of $build/sbin/vmediad"
while [ -n "$todo" ]; do
	next=
	for lib in $todo; do
		[ -e "lib/$triplet/$lib" ] && continue
		found=
		for d in $libdirs; do
			[ -e "$d/$lib" ] && { found=$d/$lib; break; }
		done
		[ -n "$found" ] || die "library $lib not found in $libdirs"
		cp -L "$found" "lib/$triplet/$lib" || die "cannot copy $found"
		elf_is "lib/$triplet/$lib" || die "$found is not an $arch library"
		next="$next $(needed "lib/$triplet/$lib")"
	done
	todo=$next
done
loader=$(interp usr/sbin/vmediad)
[ -n "$loader" ] || die "$build/sbin/vmediad names no program interpreter"
name=${loader##*/}
[ -e "lib/$triplet/$name" ] || {
	found=
	for d in $libdirs; do
		[ -e "$d/$name" ] && { found=$d/$name; break; }
	done
	[ -n "$found" ] || die "loader $name not found in $libdirs"
	cp -L "$found" "lib/$triplet/$name"
}
if [ "$loader" != "/lib/$triplet/$name" ]; then
	mkdir -p ".${loader%/*}"
	ln -s "/lib/$triplet/$name" ".$loader"
fi

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
busybox depmod -b "$root" "$ver" ||
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
# What /init needs to know of this VM.
cat >etc/vmtest.env <<EOF
VM_ARCH=$arch
VM_NIC_MODULES="${VM_NIC_MODULES:-virtio_pci virtio_net}"
VM_CONSOLE=${VM_CONSOLE:-ttyS0}
EOF
cp "$here/guest/vmediad.conf" etc/vmediad.conf
cp "$here/guest/vmediad-sources.conf" etc/vmediad-sources.conf.in
cp "$here/guest/usb-gadget.conf" etc/vmediad/usb-gadget.conf
# Root's alone (the archive makes everything root's): vmediad wants that.
install -m 644 "$tls/cert.pem" etc/vmediad/cert.pem
install -m 600 "$tls/key.pem" etc/vmediad/key.pem
install -m 755 "$here/guest/test-hook" usr/share/vmediad/hooks/test-hook
install -m 755 "$here/guest/$init" init

# The build machine's busybox: the guest's may be of another arch.
find . | sort | busybox cpio -o -H newc -R 0:0 >"$out.tmp" 2>/dev/null ||
	die "cpio failed"
mv "$out.tmp" "$out"
cd /
rm -rf "$root"
