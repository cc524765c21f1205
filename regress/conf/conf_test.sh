#!/bin/bash
# vmediad.conf as "vmediad -n" checks it: the sample and the demo config
# pass; each bad/NAME.conf fails with exactly the lines in bad/NAME.err.
#
# A bad config's first line is a comment naming its test. Before a run,
# @CHROOT@ becomes a root-owned 0755 directory and @WRITABLE@ a group-
# writable one, in the .conf and the .err alike. vmediad runs in the copy's
# directory with a relative name, so an expected line reads
# "NAME.conf:LINE: problem". The sample says "user = _vmediad" and
# "chroot = /var/empty", which need not exist here: the test checks a copy
# that uses the account nobody and the test chroot instead.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

vmediad=$top/build/sbin/vmediad
work=$top/build/regress/conf
chroot=$work/empty
writable=$work/writable

if [ ! -x "$vmediad" ]; then
	notok conf_vmediad_is_built "$vmediad missing; run make first"
	test_done
	exit
fi
rm -rf "$work"
mkdir -p "$work/bad" "$chroot" "$writable" "$top/build/demo/empty"
chmod 755 "$chroot" "$top/build/demo/empty"
chmod 775 "$writable"
# The chroot check wants root's directory; without root, borrow one.
chown 0:0 "$chroot" "$top/build/demo/empty" 2>/dev/null || chroot=/usr

# expect_ok NAME FILE: vmediad -n accepts FILE and says so.
expect_ok() {
	local name=$1 file=$2 out err rc
	out=$("$vmediad" -n -f "$file" 2>"$work/stderr")
	rc=$?
	err=$(cat "$work/stderr")
	if [ "$rc" -eq 0 ] && [ "$out" = "configuration OK" ] &&
	    [ -z "$err" ]; then
		ok "$name"
	else
		notok "$name" "exit $rc, stdout '$out', stderr '${err//$'\n'/ | }'"
	fi
}

# expect_errors NAME DIR FILE EXPECTED: vmediad -n, run in DIR, rejects FILE
# with exit 1 and prints exactly the lines of EXPECTED on stderr.
expect_errors() {
	local name=$1 dir=$2 file=$3 expected=$4 out rc got want
	out=$(cd "$dir" && "$vmediad" -n -f "$file" 2>"$work/stderr")
	rc=$?
	got=$(cat "$work/stderr")
	want=$(cat "$expected")
	if [ "$rc" -ne 1 ]; then
		notok "$name" "exit $rc, not 1 (stderr '${got//$'\n'/ | }')"
	elif [ -n "$out" ]; then
		notok "$name" "unexpected stdout '$out'"
	elif [ "$got" != "$want" ]; then
		notok "$name" "got '${got//$'\n'/ | }', want '${want//$'\n'/ | }'"
	else
		ok "$name"
	fi
}

substitute() {
	sed -e "s|@CHROOT@|$chroot|g" -e "s|@WRITABLE@|$writable|g" \
	    -e "s|@TOP@|$top|g" "$1"
}

# The configs we ship.
sed -e 's|^user = _vmediad$|user = nobody|' \
    -e "s|^chroot = /var/empty\$|chroot = $chroot|" \
    "$top/conf/vmediad.conf" >"$work/vmediad.conf"
if cmp -s "$top/conf/vmediad.conf" "$work/vmediad.conf"; then
	notok conf_sample_passes_check "sample lost its user or chroot line"
else
	expect_ok conf_sample_passes_check "$work/vmediad.conf"
fi
sed "s|@TOP@|$top|g" "$top/conf/demo.conf" >"$work/demo.conf"
expect_ok conf_demo_passes_check "$work/demo.conf"

# Every key the parser knows is shown in the sample and the manual.
keys=$(sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", CONF_K_.*/\1/p' \
    "$top/conf/conf.c")
missing=
for key in $keys; do
	grep -Eq "^(; )?$key = " "$top/conf/vmediad.conf" ||
	    missing="$missing $key"
done
if [ -n "$keys" ] && [ -z "$missing" ]; then
	ok conf_sample_shows_every_key
else
	notok conf_sample_shows_every_key "not in the sample:${missing:- no keys found}"
fi
missing=
for key in $keys; do
	grep -Eqs "^\.It Ic $key( |\$)" "$top/conf/vmediad.conf.5" ||
	    missing="$missing $key"
done
if [ -n "$keys" ] && [ -z "$missing" ]; then
	ok conf_manual_documents_every_key
else
	notok conf_manual_documents_every_key "not in vmediad.conf.5:${missing:- no keys found}"
fi

# The manual's whole examples (those starting with [vmediad]; others are
# fragments) pass too, on this machine's account and chroot.
rm -f "$work"/manual-example-*.conf
awk -v dir="$work" '
	/^\.Bd -literal/ { block = 1; first = 1; next }
	/^\.Ed/ { block = 0; file = ""; next }
	block && first { first = 0; if ($0 == "[vmediad]") {
		n++; file = dir "/manual-example-" n ".conf" } }
	file != "" { print > file }
' "$top/conf/vmediad.conf.5" 2>/dev/null
for example in "$work"/manual-example-*.conf; do
	[ -f "$example" ] || continue
	sed -i -e '/^user = /d' -e '/^chroot = /d' \
	    -e "s|^\[vmediad\]\$|[vmediad]\nuser = nobody\nchroot = $chroot|" \
	    "$example"
	n=$(basename "$example" .conf)
	expect_ok "conf_${n//-/_}_passes_check" "$example"
done
[ -f "$work/manual-example-1.conf" ] ||
    notok conf_manual_has_examples "no .Bd -literal block in vmediad.conf.5"

# Variants of good configs that must still pass.
tr -d '\r' <"$work/vmediad.conf" | sed 's/$/\r/' >"$work/crlf.conf"
expect_ok conf_crlf_line_endings_are_accepted "$work/crlf.conf"

{
	substitute "$here/bad/no-listen.conf" |
	    sed -e 's|^\[vmediad\]$|[vmediad]\t; the daemon\nlisten = 127.0.0.1:8080 ; loopback only|' \
		-e 's|^\[export "cd"\]$|[export "cd"]  ; a comment after spaces|'
	echo "read-only = yes ; a comment after a blank is not part of the value"
	echo "; a comment line"
	echo "  # an indented comment line"
	printf 'hook = /%s\n' "$(printf '%*s' 189 '' | tr ' ' h)"
} >"$work/comments.conf"
expect_ok conf_comments_after_blanks_and_197_character_lines_are_accepted \
    "$work/comments.conf"

# Every bad config: exit 1 and exactly the expected lines.
nbad=0
for conf in "$here"/bad/*.conf; do
	base=$(basename "$conf" .conf)
	name=$(sed -n '1s/^; \(conf_[a-z0-9_]*\)$/\1/p' "$conf")
	if [ -z "$name" ] || [ ! -f "$here/bad/$base.err" ]; then
		notok "conf_bad_${base//-/_}" "needs a test name on line 1 and $base.err"
		continue
	fi
	substitute "$conf" >"$work/bad/$base.conf"
	substitute "$here/bad/$base.err" >"$work/bad/$base.err"
	expect_errors "$name" "$work/bad" "$base.conf" "$work/bad/$base.err"
	nbad=$((nbad + 1))
done
if [ "$nbad" -ge 20 ]; then
	ok conf_at_least_20_bad_configs_checked
else
	notok conf_at_least_20_bad_configs_checked "only $nbad"
fi

# Bad input a text file in the tree cannot hold.
{
	substitute "$here/bad/no-listen.conf" | sed -n '1,2p'
	printf 'listen = 127.0.0.1:8080\0junk\n'
} >"$work/bad/nul.conf"
printf 'nul.conf:3: NUL byte in line\nnul.conf:2: no listen address in [vmediad]\n' \
    >"$work/bad/nul.err"
expect_errors conf_nul_byte_in_line_is_rejected "$work/bad" nul.conf \
    "$work/bad/nul.err"

echo "no-such.conf:0: No such file or directory" >"$work/bad/no-such.err"
expect_errors conf_missing_file_is_reported "$work/bad" no-such.conf \
    "$work/bad/no-such.err"

substitute "$here/bad/no-listen.conf" | sed 's|^\[vmediad\]$|[vmediad]\nlisten = 127.0.0.1:8080\nserver-name = bmc.example.com bmc [2001:db8::1] 192.0.2.1\nlogins-per-user = 64|' \
    >"$work/server-name.conf"
expect_ok conf_server_names_and_addresses_are_accepted "$work/server-name.conf"

# The TLS key: refused, by vmediad -n too, unless only root may read or
# write it. -n does not load it, so any bytes do.
keyconf() {
	printf '[vmediad]\nlisten = 127.0.0.1:8443 tls\nuser = nobody\n'
	printf 'chroot = %s\nauth = users\n' "$chroot"
	printf 'tls-certificate = %s\ntls-key = %s\n' "$work/tls/cert.pem" "$1"
}
# expect_key NAME MODE OWNER PROBLEM: a key of that mode and owner is
# refused for PROBLEM at line 1 ([vmediad]), or accepted if PROBLEM is "".
expect_key() {
	local key=$work/tls/$1.pem
	printf 'not really a key\n' >"$key"
	chmod "$2" "$key"
	chown "$3" "$key" 2>/dev/null
	keyconf "$key" >"$work/tls/$1.conf"
	if [ -z "$4" ]; then
		expect_ok "$1" "$work/tls/$1.conf"
	else
		echo "$1.conf:1: tls-key $key $4" >"$work/tls/$1.err"
		expect_errors "$1" "$work/tls" "$1.conf" "$work/tls/$1.err"
	fi
}
mkdir -p "$work/tls"
printf 'not really a certificate\n' >"$work/tls/cert.pem"
owned="must be owned by root"
private="must not be readable or writable by group or others (chmod 600)"
if [ "$(id -u)" -eq 0 ]; then
	expect_key conf_tls_key_readable_by_others_is_refused 0604 root "$private"
	expect_key conf_tls_key_readable_by_group_is_refused 0640 root "$private"
	expect_key conf_tls_key_writable_by_group_is_refused 0620 root "$private"
	expect_key conf_tls_key_not_owned_by_root_is_refused 0600 nobody "$owned"
	expect_key conf_tls_key_owned_by_root_0600_is_accepted 0600 root ""
	expect_key conf_tls_key_owned_by_root_0400_is_accepted 0400 root ""
else
	echo "# not root: only the owner check of tls-key is tested"
	expect_key conf_tls_key_not_owned_by_root_is_refused 0600 "$(id -u)" "$owned"
fi
keyconf "$work/tls/none.pem" >"$work/tls/missing.conf"
echo "missing.conf:1: tls-key $work/tls/none.pem: No such file or directory" \
    >"$work/tls/missing.err"
expect_errors conf_tls_key_missing_is_refused "$work/tls" missing.conf \
    "$work/tls/missing.err"

# Export sources: every scheme and its keys, with files as they must be
# (secrets root's and 0600, a CA file, an https CA folder), pass; so does
# an allow-source of every kind of pattern, with its CA.
src=$work/source
mkdir -p "$src/cas"
for f in ca.pem client.pem; do printf 'public\n' >"$src/$f"; chmod 644 "$src/$f"; done
printf 'not really a key\n' >"$src/client.key"
printf 'lab:0123456789abcdefABCDEF\n' >"$src/up.psk"
printf 'carol:any thing: even colons\n' >"$src/web.cred"
chmod 600 "$src/client.key" "$src/up.psk" "$src/web.cred"
sourceconf() {
	printf '[vmediad]\nlisten = 127.0.0.1:8080\nuser = nobody\n'
	printf 'chroot = %s\nauth = none\n' "$chroot"
	printf '%s\n' "$@"
}
sourceconf '[export "tcp"]' 'socket = /run/tcp.sock' \
    'source = nbd://upstream.example:10809/disk-1.img' \
    '[export "v6"]' 'socket = /run/v6.sock' 'source = nbd://[2001:db8::1]' \
    '[export "psk"]' 'socket = /run/psk.sock' \
    'source = nbds://192.0.2.7/a/b_c~d' "source-psk = $src/up.psk" \
    '[export "x509"]' 'device = /dev/nbd3' 'source = nbds://upstream.example/' \
    "source-ca = $src/ca.pem" "source-certificate = $src/client.pem" \
    "source-key = $src/client.key" \
    '[export "unix"]' 'socket = /run/unix.sock' \
    'source = nbd+unix:///?socket=/run/qemu-nbd/disk.sock' \
    '[export "iso"]' 'socket = /run/iso.sock' 'read-only = yes' \
    'source = https://mirror.example:8443/debian/debian-12.8%2B1.iso' \
    "source-ca = $src/cas" "source-credentials = $src/web.cred" \
    '[export "plain"]' 'socket = /run/plain.sock' 'read-only = yes' \
    'source = http://192.0.2.8/boot.img' 'source-http = yes' \
    '[export "cow"]' 'socket = /run/cow.sock' 'source-overlay = yes' \
    'source = https://mirror.example/live.iso' "source-ca = $src/ca.pem" \
    '[export "cow-nbd"]' 'device = /dev/nbd4' 'source-overlay = yes' \
    'source = nbd+unix:///?socket=/run/qemu-nbd/ro.sock' \
    '[export "ins"]' 'socket = /run/ins.sock' 'read-only = yes' \
    'allow-source = https://images.example.com nbd://10.0.0.0/8 nbds://[2001:db8::1]:10809 http://192.0.2.9/' \
    'source-http = yes' "source-ca = $src/ca.pem" \
    >"$src/good.conf"
if [ "$(id -u)" -eq 0 ]; then
	expect_ok conf_sources_of_every_scheme_are_accepted "$src/good.conf"
else
	echo "# not root: a source's secrets cannot be root's; not checked"
fi

# A source's secret must be root's alone; its public files must exist.
# expect_source NAME KEY FILE PROBLEM: an nbds:// (or https://) source with
# KEY = FILE is refused at the source line (9) for PROBLEM (with its
# leading blank or colon).
expect_source() {
	local scheme=nbds://upstream.example/disk extra=
	case $2 in source-credentials)
		scheme=https://mirror.example/disk.iso extra='read-only = yes' ;;
	esac
	sourceconf '[export "e"]' 'socket = /run/e.sock' "$extra" \
	    "source = $scheme" "$2 = $3" >"$src/$1.conf"
	echo "$1.conf:9: export \"e\": $2 $3$4" >"$src/$1.err"
	expect_errors "$1" "$src" "$1.conf" "$src/$1.err"
}
if [ "$(id -u)" -eq 0 ]; then
	cp "$src/up.psk" "$src/shared.psk"
	chmod 640 "$src/shared.psk"
	expect_source conf_source_psk_readable_by_group_is_refused source-psk \
	    "$src/shared.psk" " $private"
	cp "$src/web.cred" "$src/world.cred"
	chmod 604 "$src/world.cred"
	expect_source conf_source_credentials_readable_by_others_is_refused \
	    source-credentials "$src/world.cred" " $private"
else
	expect_source conf_source_psk_not_owned_by_root_is_refused source-psk \
	    "$src/up.psk" " $owned"
fi
expect_source conf_source_key_missing_is_refused source-psk "$src/none.psk" \
    ": No such file or directory"
# A PSK file or credentials whose first line is not NAME:SECRET.
# bad_line NAME KEY LINE WHAT: KEY's file holding LINE is refused.
bad_line() {
	printf '%s\n' "$3" >"$src/bad.secret"
	chmod 600 "$src/bad.secret"
	expect_source "$1" "$2" "$src/bad.secret" \
	    ": the first line must be $4 of letters, digits, '.', '_', '@' or '-'"
}
psk="NAME:HEX-KEY, NAME"
cred="USER:PASSWORD, USER"
bad_line conf_source_psk_key_not_hex_is_refused source-psk 'lab:not-hex' "$psk"
bad_line conf_source_psk_without_name_is_refused source-psk ':0123abcd' "$psk"
bad_line conf_source_psk_without_key_is_refused source-psk 'lab' "$psk"
bad_line conf_source_psk_name_with_blanks_is_refused source-psk \
    'l a b:0123abcd' "$psk"
bad_line conf_source_psk_empty_is_refused source-psk '' "$psk"
bad_line conf_source_credentials_without_password_are_refused \
    source-credentials 'carol:' "$cred"
bad_line conf_source_credentials_without_colon_are_refused \
    source-credentials 'carol' "$cred"
sourceconf '[export "e"]' 'socket = /run/e.sock' '' \
    'source = nbds://upstream.example/disk' "source-ca = $src/cas" \
    >"$src/ca-folder.conf"
echo "ca-folder.conf:9: export \"e\": source-ca $src/cas is not a file" \
    >"$src/ca-folder.err"
expect_errors conf_source_ca_folder_only_for_https "$src" ca-folder.conf \
    "$src/ca-folder.err"

# nbd-psk-file: psktool's IDENTITY:HEX-KEY lines, each identity a [user];
# read by vmediad -n too. A bad line is refused as FILE:LINE, and the
# exact expected lines show that no key (nor part of one) is printed.
pskd=$work/psk
mkdir -p "$pskd"
printf 'not really a key\n' >"$pskd/key.pem"
chmod 600 "$pskd/key.pem"
hash='$y$j9T$jf4XBcs55t5E/CKGobTwk1$DMOci5RMXjvXia8Fxmc7tU5MznD6Lt.OLQvrWWDOa87'
pskconf() {
	printf '[vmediad]\nlisten = 127.0.0.1:8080\nnbd-listen = 192.0.2.1\n'
	printf 'user = nobody\nchroot = %s\nauth = users\n' "$chroot"
	printf 'tls-certificate = %s\ntls-key = %s\n' "$work/tls/cert.pem" \
	    "$pskd/key.pem"
	printf 'nbd-psk-file = %s\n\n' "$1"
	printf '[export "cd"]\nsocket = /run/cd.sock\nnbd-clients = yes\n'
	printf 'allow = alice bob\n\n'
	printf '[user "alice"]\npassword = %s\n\n' "$hash"
	printf '[user "bob"]\npassword = %s\n' "$hash"
}
k32=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
k16=00112233445566778899AABBCCDDEEFF
# expect_psk NAME CONTENT PROBLEM: nbd-psk-file holding CONTENT (printf's
# format) is accepted if PROBLEM is "", else refused with PROBLEM, whose
# leading "LINE: " follows the file's path.
expect_psk() {
	local f=$pskd/$1.psk
	printf "$2" >"$f"
	chmod 600 "$f"
	pskconf "$f" >"$pskd/$1.conf"
	if [ -z "$3" ]; then
		expect_ok "$1" "$pskd/$1.conf"
	else
		echo "$f:$3" >"$pskd/$1.err"
		expect_errors "$1" "$pskd" "$1.conf" "$pskd/$1.err"
	fi
}
if [ "$(id -u)" -eq 0 ]; then
	expect_psk conf_nbd_psk_file_of_two_users_is_accepted \
	    "alice:$k32\r\n\nbob:$k16\n" ""
	expect_psk conf_nbd_psk_identity_naming_no_user_is_refused \
	    "alice:$k32\ncarol:$k32\n" '2: identity "carol" names no [user]'
	expect_psk conf_nbd_psk_identity_twice_is_refused \
	    "alice:$k32\nbob:$k16\nalice:$k16\n" \
	    '3: identity "alice" has a key already'
	expect_psk conf_nbd_psk_short_key_is_refused "bob:0123abcd\n" \
	    '1: identity "bob": the key must be 32 to 128 hex digits, an even number'
	expect_psk conf_nbd_psk_odd_key_is_refused "bob:${k16}0\n" \
	    '1: identity "bob": the key must be 32 to 128 hex digits, an even number'
	expect_psk conf_nbd_psk_key_past_64_bytes_is_refused \
	    "bob:$k32$k32$k16\n" \
	    '1: identity "bob": the key must be 32 to 128 hex digits, an even number'
	expect_psk conf_nbd_psk_key_not_hex_is_refused \
	    "bob:${k16:0:30}zz\n" '1: identity "bob": the key is not hex'
	expect_psk conf_nbd_psk_line_without_colon_is_refused "alice\n" \
	    '1: expected IDENTITY:HEX-KEY'
	expect_psk conf_nbd_psk_identity_not_a_name_is_refused \
	    "al ice:$k32\n" \
	    "1: the identity must be a user's name: letters, digits, '.', '_' or '-', at most 31"
	expect_psk conf_nbd_psk_long_line_is_refused \
	    "alice:$k32\nbob:$(printf '%*s' 260 '' | tr ' ' 0)\n" \
	    '2: line longer than 255 bytes'
	printf 'alice:%s\nbob:\0%s\n' "$k32" "$k16" >"$pskd/nul.psk"
	chmod 600 "$pskd/nul.psk"
	pskconf "$pskd/nul.psk" >"$pskd/nul.conf"
	echo "$pskd/nul.psk:2: NUL byte in line" >"$pskd/nul.err"
	expect_errors conf_nbd_psk_nul_byte_is_refused "$pskd" nul.conf \
	    "$pskd/nul.err"
	head -c 70000 /dev/zero | tr '\0' '\n' >"$pskd/big.psk"
	chmod 600 "$pskd/big.psk"
	pskconf "$pskd/big.psk" >"$pskd/big.conf"
	echo "$pskd/big.psk:0: file too large (over 65536 bytes)" >"$pskd/big.err"
	expect_errors conf_nbd_psk_file_over_64k_is_refused "$pskd" big.conf \
	    "$pskd/big.err"
	printf 'alice:%s\n' "$k32" >"$pskd/shared.psk"
	chmod 640 "$pskd/shared.psk"
	pskconf "$pskd/shared.psk" >"$pskd/shared.conf"
	echo "shared.conf:1: nbd-psk-file $pskd/shared.psk $private" \
	    >"$pskd/shared.err"
	expect_errors conf_nbd_psk_file_readable_by_group_is_refused "$pskd" \
	    shared.conf "$pskd/shared.err"
else
	echo "# not root: nbd-psk-file cannot be root's; not checked"
fi

# The systemd unit, as make install lays it out, passes systemd-analyze
# verify: its commands exist, its keys are known, its man pages are there.
# The unit names installed paths; the check points them at the staging
# folder.
stage=$work/stage
rm -rf "$stage"
if ! command -v systemd-analyze >/dev/null; then
	notok systemd_unit_verifies "no systemd-analyze (Debian package systemd; make deps)"
elif ! make -s -C "$top" install DESTDIR="$stage" >"$work/install.log" 2>&1; then
	notok systemd_unit_verifies "make install failed: $(tail -2 "$work/install.log")"
elif [ ! -f "$stage/lib/systemd/system/vmediad.service" ]; then
	notok systemd_unit_verifies "make install put no lib/systemd/system/vmediad.service"
else
	sed "s|/usr/sbin/vmediad|$stage/usr/sbin/vmediad|g" \
	    "$stage/lib/systemd/system/vmediad.service" >"$work/vmediad.service"
	if out=$(MANPATH=$stage/usr/share/man systemd-analyze verify \
	    "$work/vmediad.service" 2>&1) && [ -z "$out" ]; then
		ok systemd_unit_verifies
	else
		notok systemd_unit_verifies "$out"
	fi
	# The unit's ExecStartPre checks the config the sample installs.
	grep -q '^ExecStartPre=/usr/sbin/vmediad -n -f /etc/vmediad.conf$' \
	    "$stage/lib/systemd/system/vmediad.service" &&
		ok systemd_unit_checks_config_first ||
		notok systemd_unit_checks_config_first "no ExecStartPre with -n"
fi

test_done
