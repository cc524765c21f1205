#!/bin/bash
# Redfish virtual media through the real daemon: the resource tree, a
# session login and Basic, sushy listing and ejecting, redfishtool's raw
# walk, and the bad requests, each with its status and Base message.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/regress/lib/test.sh"

work=$top/build/regress/redfish
port=18440
tport=18441
wport=18442 # nginx, HTTPS
rm -rf "$work"
mkdir -p "$work"
. "$top/regress/lib/session.sh"
. "$top/regress/lib/certs.sh"
. "$top/regress/lib/nginx.sh"
# The clients must trust our CA alone.
unset SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE REQUESTS_CA_BUNDLE

for cmd in openssl curl redfishtool nginx nbdcopy; do
	if ! command -v $cmd >/dev/null; then
		notok redfish_tools_installed "no $cmd (make deps)"
		exit 1
	fi
done
py=/usr/bin/python3 # Debian's, which has python3-sushy
if ! $py -c 'import sushy' 2>/dev/null; then
	notok redfish_tools_installed "no python3-sushy (make deps)"
	exit 1
fi

audit=$work/audit.log
tbase=https://127.0.0.1:$tport

hash() {
	printf '%s\n' "$1" | "$top/build/sbin/vmediad" -P
}

# A CA and a server certificate it signed, made here.
{
	cert_ca redfish-test-ca "$work/ca"
	cert_sign localhost "$work/ca" "$work/key.pem" "$work/cert.pem" \
	    subjectAltName=DNS:localhost,IP:127.0.0.1
	# nbdkit (as nobody) reads the CAs; a second CA trusts nothing of ours.
	cert_ca other-ca "$work/other-ca"
} >/dev/null 2>&1
chmod 755 "$work"
chmod 644 "$work/ca.pem" "$work/other-ca.pem"

cat >"$work/vmediad.conf" <<CONF
[vmediad]
listen = 127.0.0.1:$port
listen = 127.0.0.1:$tport tls
user = nobody
chroot = $work/empty
web = $top/web
auth = users
audit = $audit
tls-certificate = $work/cert.pem
tls-key = $work/key.pem
redfish-manager = vm1

[export "lab"]
description = Lab installer
socket = $work/lab.sock
read-only = yes
allow = @lab

[export "bobs"]
socket = $work/bobs.sock
allow = bob

[export "shared"]
socket = $work/shared.sock
allow = alice bob

[export "iso"]
description = Installer by URL
socket = $work/iso.sock
read-only = yes
allow = alice
allow-source = https://localhost:$wport
source-ca = $work/ca.pem

[export "untrusted"]
socket = $work/untrusted.sock
read-only = yes
allow = alice
allow-source = https://localhost:$wport
source-ca = $work/other-ca.pem

[user "alice"]
password = $(hash alicepw)
groups = lab

[user "bob"]
password = $(hash bobpw)

[user "ops"]
password = $(hash opspw)
admin = yes
CONF

start_daemon shared

sushy() {
	$py "$here/sushy_client.py" "$tbase" "$@" 2>"$work/sushy.err"
}

# rf METHOD PATH [curl args]: the status; body in $work/body, headers in
# $work/headers.
rf() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' \
	    --cacert "$work/ca.pem" -X "$m" "$@" "$tbase$p"
}

# msg: the first Base message's id in $work/body, and its related property.
msg() {
	json 'd["error"]["@Message.ExtendedInfo"][0]["MessageId"] + " " + ",".join(d["error"]["@Message.ExtendedInfo"][0].get("RelatedProperties", []))' <"$work/body"
}

# expect NAME WANT GOT
expect() {
	[ "$2" = "$3" ] && ok "$1" || notok "$1" "got '$3', want '$2'"
}

# audited N0 PATTERN: a record past line N0 matches PATTERN.
audited() {
	sleep 0.2
	tail -n +$(($1 + 1)) "$audit" | grep -Eq "$2"
}

vm=/redfish/v1/Managers/vm1/VirtualMedia
insert=Actions/VirtualMedia.InsertMedia
eject=Actions/VirtualMedia.EjectMedia
json_ct='Content-Type: application/json'

head -c 4M /dev/urandom >"$work/image.bin"
img=$work/image.bin

# --- the tree ----------------------------------------------------------------

c=$(rf GET /redfish)
expect redfish_versions_document_points_to_v1 "200 /redfish/v1/" \
    "$c $(json 'd["v1"]' <"$work/body")"
c=$(rf GET /redfish/v1/)
got=$(json 'd["RedfishVersion"] + " " + d["Managers"]["@odata.id"] + " " + d["SessionService"]["@odata.id"] + " " + d["Links"]["Sessions"]["@odata.id"]' <"$work/body")
if [ "$c" = 200 ] && grep -qi '^OData-Version: 4.0' "$work/headers" &&
    grep -qi '^ETag: W/"' "$work/headers" &&
    [ "$got" = "1.17.0 /redfish/v1/Managers /redfish/v1/SessionService /redfish/v1/SessionService/Sessions" ]; then
	ok redfish_service_root_is_public_with_links_odata_version_etag
else
	notok redfish_service_root_is_public_with_links_odata_version_etag "$c $got"
fi

c=$(rf GET /redfish/v1/Managers)
if [ "$c" = 401 ] && [ "$(msg)" = "Base.1.16.0.NoValidSession " ] &&
    grep -qi '^WWW-Authenticate: Basic' "$work/headers"; then
	ok redfish_without_credentials_is_401_no_valid_session
else
	notok redfish_without_credentials_is_401_no_valid_session "$c $(msg)"
fi

c=$(rf GET /redfish/v1/Managers -u alice:alicepw)
expect redfish_managers_collection_has_the_configured_manager \
    "200 1 /redfish/v1/Managers/vm1" \
    "$c $(json 'str(d["Members@odata.count"]) + " " + d["Members"][0]["@odata.id"]' <"$work/body")"
c=$(rf GET /redfish/v1/Managers/vm1 -u alice:alicepw)
expect redfish_manager_links_its_virtual_media "200 vm1 $vm" \
    "$c $(json 'd["Id"] + " " + d["VirtualMedia"]["@odata.id"]' <"$work/body")"
c=$(rf GET /redfish/v1/Managers/bmc -u alice:alicepw)
expect redfish_unknown_manager_is_404_resource_not_found \
    "404 Base.1.16.0.ResourceNotFound " "$c $(msg)"

c=$(rf GET $vm/lab -u alice:alicepw)
got=$(json '" ".join([d["@odata.type"], d["@odata.context"], d["@odata.id"], d["Id"], d["Name"], ",".join(d["MediaTypes"]), str(d["Inserted"]), str(d["WriteProtected"]), d["ConnectedVia"], d["TransferMethod"], str(d["Image"]), d["Status"]["State"], d["Actions"]["#VirtualMedia.InsertMedia"]["target"], d["Actions"]["#VirtualMedia.EjectMedia"]["target"]])' <"$work/body")
expect redfish_virtual_media_member_as_the_v1_6_schema \
    "200 #VirtualMedia.v1_6_0.VirtualMedia /redfish/v1/\$metadata#VirtualMedia.VirtualMedia $vm/lab lab Lab installer CD False True NotConnected Stream None Enabled $vm/lab/$insert $vm/lab/$eject" \
    "$c $got"
c=$(rf HEAD $vm/lab -u alice:alicepw -I)
[ "$c" = 200 ] && ! grep -q '@odata' "$work/body" &&
    grep -qi '^ETag:' "$work/headers" &&
	ok redfish_head_has_headers_and_no_body ||
	notok redfish_head_has_headers_and_no_body "$c"

# --- sushy: a session, and Basic, over TLS with our CA ----------------------

n0=$(wc -l <"$audit")
got=$(sushy "$work/ca.pem" session alice alicepw list)
expect sushy_session_lists_alices_virtual_media \
    "iso False NotConnected CD True None
lab False NotConnected CD True None
shared False NotConnected USBStick False None
untrusted False NotConnected CD True None" "$got"
audited "$n0" '"event": "login", "user": "alice"' &&
    audited "$n0" '"event": "logout", "user": "alice".*Redfish session deleted' &&
	ok sushy_session_login_and_delete_are_audited ||
	notok sushy_session_login_and_delete_are_audited "$(tail -3 "$audit")"
got=$(sushy "$work/ca.pem" basic bob bobpw list)
expect sushy_basic_lists_bobs_virtual_media \
    "bobs False NotConnected USBStick False None
shared False NotConnected USBStick False None" "$got"
got=$(sushy "$work/ca.pem" session ops opspw session)
expect sushy_session_gets_token_and_location \
    "vm1 64 /redfish/v1/SessionService/Sessions/" "${got%/*}/"
got=$(sushy system basic bob bobpw list)
[ -z "$got" ] && grep -q CERTIFICATE_VERIFY_FAILED "$work/sushy.err" &&
	ok sushy_refuses_our_certificate_without_our_ca ||
	notok sushy_refuses_our_certificate_without_our_ca "$got"
got=$(sushy "$work/ca.pem" basic bob wrong list)
[ -z "$got" ] && grep -qi 'AccessError\|401' "$work/sushy.err" &&
	ok sushy_wrong_password_is_refused ||
	notok sushy_wrong_password_is_refused "$got $(tail -1 "$work/sushy.err")"

# --- sessions by hand --------------------------------------------------------

n0=$(wc -l <"$audit")
c=$(rf POST /redfish/v1/SessionService/Sessions -H "$json_ct" \
    -d '{"UserName": "alice", "Password": "alicepw"}')
token=$(sed -n 's/^X-Auth-Token: *\([0-9a-f]*\).*/\1/ip' "$work/headers")
loc=$(sed -n 's/^Location: *\([^[:space:]]*\).*/\1/ip' "$work/headers")
[ "$c" = 201 ] && [ ${#token} = 64 ] &&
    [ "$loc" = "$(json 'd["@odata.id"]' <"$work/body")" ] &&
    [ "$(json 'd["UserName"]' <"$work/body")" = alice ] &&
	ok redfish_session_post_is_201_with_token_and_location ||
	notok redfish_session_post_is_201_with_token_and_location "$c $loc"
c=$(rf GET "$loc" -H "X-Auth-Token: $token")
expect redfish_session_get_with_its_token "200 alice" \
    "$c $(json 'd["UserName"]' <"$work/body")"
c=$(rf GET /redfish/v1/SessionService/Sessions -H "X-Auth-Token: $token")
expect redfish_sessions_lists_ones_own "200 $loc" \
    "$c $(json '" ".join(m["@odata.id"] for m in d["Members"])' <"$work/body")"
c=$(rf GET "$loc" -u bob:bobpw)
expect redfish_other_users_session_is_404 "404 Base.1.16.0.ResourceNotFound " "$c $(msg)"
c=$(rf DELETE "$loc" -u bob:bobpw)
expect redfish_other_user_cannot_delete_a_session "404" "$c"
c=$(rf DELETE "$loc" -H "X-Auth-Token: $token")
expect redfish_session_delete_is_204 204 "$c"
c=$(rf GET $vm -H "X-Auth-Token: $token")
expect redfish_deleted_token_is_401_no_valid_session \
    "401 Base.1.16.0.NoValidSession " "$c $(msg)"
c=$(rf GET $vm -H "X-Auth-Token: $(printf '%064d' 7)")
expect redfish_unknown_token_is_401 "401" "$c"
audited "$n0" '"event": "login_failed".*unknown token' &&
	ok redfish_bad_token_is_audited ||
	notok redfish_bad_token_is_audited "$(tail -2 "$audit")"
c=$(rf POST /redfish/v1/SessionService/Sessions -H "$json_ct" \
    -d '{"UserName": "alice", "Password": "nope"}')
expect redfish_session_wrong_password_is_401 "401 Base.1.16.0.NoValidSession " "$c $(msg)"
c=$(rf POST /redfish/v1/SessionService/Sessions -H "$json_ct" \
    -d '{"UserName": "alice"}')
expect redfish_session_without_password_is_400_property_missing \
    "400 Base.1.16.0.PropertyMissing #/Password" "$c $(msg)"

# --- redfishtool: raw GET walk with a session login, raw POST ---------------

rft() {
	redfishtool -r 127.0.0.1:$tport -S Always -A Session "$@" 2>"$work/rft.err"
}
walk=
for p in /redfish/v1 /redfish/v1/Managers /redfish/v1/Managers/vm1 $vm $vm/shared; do
	walk="$walk $(rft -u bob -p bobpw raw GET $p | json 'd["@odata.id"]')"
done
expect redfishtool_raw_get_walk_with_session \
    " /redfish/v1 /redfish/v1/Managers /redfish/v1/Managers/vm1 $vm $vm/shared" "$walk"
got=$(rft -u bob -p bobpw raw GET $vm | json '" ".join(m["@odata.id"] for m in d["Members"])')
expect redfishtool_lists_bobs_members "$vm/bobs $vm/shared" "$got"
rft -u bob -p bobpw SessionService login >"$work/rft.login"
tok=$(json 'd["X-Auth-Token"]' <"$work/rft.login")
loc=$(json 'd["SessionLocation"]' <"$work/rft.login")
got=$(rft -t "$tok" raw GET "$loc" | json 'd["UserName"]')
expect redfishtool_session_login_token_works bob "$got"
rft -t "$tok" SessionService logout -l "$loc" >/dev/null
c=$(rf GET $vm -H "X-Auth-Token: $tok")
expect redfishtool_session_logout_ends_the_token 401 "$c"

# --- EjectMedia: whatever is attached, for its owner or an admin ------------

bob_basic='Authorization: Basic Ym9iOmJvYnB3'
start_peer bob "ws://127.0.0.1:$port/nbd/shared" "$img" --header "$bob_basic"
bob_peer=$ppid_
got=$(sushy "$work/ca.pem" session alice alicepw show shared)
expect sushy_shows_a_peer_attached_export_as_applet \
    "shared True Applet USBStick False None" "$got"
# sushy's eject_media() swallows a 403: the media stays, the refusal is
# audited, and the status is seen by curl.
n0=$(wc -l <"$audit")
got=$(sushy "$work/ca.pem" session alice alicepw eject shared)
c=$(rf POST $vm/shared/$eject -u alice:alicepw)
if [ "$got" = "shared True Applet USBStick False None" ] &&
    [ "$c $(msg)" = "403 Base.1.16.0.InsufficientPrivilege " ] &&
    audited "$n0" '"event": "access_denied", "user": "alice".*"status": 403, "reason": "only its owner' &&
    kill -0 $bob_peer 2>/dev/null; then
	ok sushy_eject_of_another_users_media_is_403
else
	notok sushy_eject_of_another_users_media_is_403 "$got $c $(msg)"
fi
n0=$(wc -l <"$audit")
got=$(sushy "$work/ca.pem" basic ops opspw eject shared)
if [ "$got" = "shared False NotConnected USBStick False None" ] &&
    wait_gone $bob_peer 30 && grep -q "server closed: 1000" "$work/bob.out"; then
	ok sushy_admin_ejects_a_peer_attached_export
else
	notok sushy_admin_ejects_a_peer_attached_export "$got $(tail -1 "$work/bob.out")"
fi
audited "$n0" '"event": "eject", "user": "ops".*"export": "shared"' &&
	ok sushy_eject_is_audited || notok sushy_eject_is_audited "$(tail -2 "$audit")"

start_peer bob2 "ws://127.0.0.1:$port/nbd/bobs" "$img" --header "$bob_basic"
bob_peer=$ppid_
out=$(rft -u bob -p bobpw raw POST $vm/bobs/$eject -d '{}' 2>&1)
if wait_gone $bob_peer 30 && grep -q "server closed: 1000" "$work/bob2.out"; then
	ok redfishtool_raw_post_owner_ejects
else
	notok redfishtool_raw_post_owner_ejects "$out $(tail -2 "$work/rft.err")"
fi
# Nothing inserted: the media is out as asked, 204, and no eject is
# audited (sushy swallows any error of eject_media; Ironic and Ansible
# eject only a member that shows Inserted).
n0=$(wc -l <"$audit")
c=$(rf POST $vm/bobs/$eject -u bob:bobpw)
got=$(sushy "$work/ca.pem" basic bob bobpw eject bobs)
if [ "$c" = 204 ] && [ "$got" = "bobs False NotConnected USBStick False None" ] &&
    ! audited "$n0" '"event": "eject"'; then
	ok redfish_eject_with_nothing_inserted_is_204_and_not_audited
else
	notok redfish_eject_with_nothing_inserted_is_204_and_not_audited \
	    "$c '$got' $(tail -1 "$audit")"
fi

# --- bad requests ------------------------------------------------------------

c=$(rf POST /redfish/v1/SessionService/Sessions -H "$json_ct" \
    -d '{"UserName": "alice", "Password": "alicepw"}')
token=$(sed -n 's/^X-Auth-Token: *\([0-9a-f]*\).*/\1/ip' "$work/headers")
tok="X-Auth-Token: $token"

# bad TEST STATUS MESSAGE BODY: InsertMedia on lab with BODY.
bad() {
	local c
	c=$(rf POST $vm/lab/$insert -H "$tok" -H "$json_ct" --data-binary "$4")
	expect "$1" "$2 $3" "$c $(msg)"
}
n0=$(wc -l <"$audit")
bad redfish_insert_without_image_is_action_parameter_missing 400 \
    "Base.1.16.0.ActionParameterMissing #/Image" '{"Inserted": true}'
bad redfish_insert_unknown_transfer_protocol_is_not_in_list 400 \
    "Base.1.16.0.PropertyValueNotInList #/TransferProtocolType" \
    '{"Image": "https://127.0.0.1/x.iso", "TransferProtocolType": "GOPHER"}'
bad redfish_insert_upload_method_is_not_in_list 400 \
    "Base.1.16.0.PropertyValueNotInList #/TransferMethod" \
    '{"Image": "https://127.0.0.1/x.iso", "TransferMethod": "Upload"}'
bad redfish_insert_malformed_json 400 "Base.1.16.0.MalformedJSON " \
    '{"Image": "https://127.0.0.1/x.iso",'
bad redfish_insert_inserted_as_string_is_type_error 400 \
    "Base.1.16.0.PropertyValueTypeError #/Inserted" \
    '{"Image": "https://127.0.0.1/x.iso", "Inserted": "yes"}'
bad redfish_insert_unknown_parameter 400 \
    "Base.1.16.0.ActionParameterUnknown #/Foo" \
    '{"Image": "https://127.0.0.1/x.iso", "Foo": 1}'
audited "$n0" '"event": "insert_refused", "user": "alice".*"export": "lab".*InsertMedia without Image' &&
    audited "$n0" '"event": "protocol_violation", "user": "alice".*"export": "lab".*MalformedJSON' &&
	ok redfish_bad_requests_are_audited ||
	notok redfish_bad_requests_are_audited "$(tail -2 "$audit")"
head -c 1M /dev/zero | tr '\0' ' ' >"$work/big.json"
# With Expect, curl waits for our answer to the headers before the body,
# so the answer is read, not lost to a reset.
c=$(rf POST $vm/lab/$insert -H "$tok" -H "$json_ct" \
    -H 'Expect: 100-continue' --expect100-timeout 30 \
    --data-binary @"$work/big.json")
expect redfish_1mb_body_is_413_payload_too_large \
    "413 Base.1.16.0.PayloadTooLarge " "$c $(msg)"
c=$(rf POST $vm/lab/$insert -H "$tok" -H 'Content-Type: text/plain' \
    -d '{"Image": "https://127.0.0.1/x.iso"}')
expect redfish_non_json_body_is_415 415 "$c"

n0=$(wc -l <"$audit")
c=$(rf GET $vm/bobs -H "$tok")
expect redfish_another_tenants_media_is_404 \
    "404 Base.1.16.0.ResourceNotFound " "$c $(msg)"
c=$(rf POST $vm/bobs/$eject -H "$tok")
expect redfish_another_tenants_eject_is_404 404 "$c"
audited "$n0" '"event": "access_denied", "user": "alice".*"export": "bobs"' &&
	ok redfish_another_tenants_media_is_audited ||
	notok redfish_another_tenants_media_is_audited "$(tail -2 "$audit")"

c=$(rf DELETE /redfish/v1/Managers -H "$tok")
allow=$(sed -n 's/^Allow: *\([^\r]*\).*/\1/ip' "$work/headers")
expect redfish_wrong_method_is_405_with_allow \
    "405 Base.1.16.0.OperationNotAllowed GET, HEAD" "$c $(msg)$allow"
c=$(rf PATCH $vm/lab -u ops:opspw -H "$json_ct" -d '{"Inserted": false}')
expect redfish_patch_of_inserted_is_property_not_writable \
    "400 Base.1.16.0.PropertyNotWritable #/Inserted" "$c $(msg)"
c=$(rf GET $vm/lab/$eject -H "$tok")
allow=$(sed -n 's/^Allow: *\([^\r]*\).*/\1/ip' "$work/headers")
expect redfish_get_of_an_action_is_405_allow_post "405 POST" "$c $allow"
c=$(rf GET /redfish/v1/Nothing -H "$tok")
expect redfish_unknown_resource_is_404 404 "$c"

got=$(sushy "$work/ca.pem" basic ops opspw list)

# --- InsertMedia: an HTTPS image through nbdkit (insert.c) ------------------

www=$work/www
mkdir -p "$www" "$work/nginx"
chmod 755 "$www"
head -c $((8 << 20)) /dev/urandom >"$www/installer.iso"
mkdir -p "$www/private"
cp "$www/installer.iso" "$www/private/installer.iso"
chmod 755 "$www/private"
chmod 644 "$www/installer.iso" "$www/private/installer.iso"
webpw=$(openssl rand -hex 12)
printf 'carol:%s\n' "$(openssl passwd -apr1 "$webpw")" >"$work/htpasswd"
chmod 644 "$work/htpasswd"
want_iso="$(stat -c %s "$www/installer.iso") $(sha256sum "$www/installer.iso" | cut -d' ' -f1)"
nginx_conf "$work/nginx" <<NGINX
		listen 127.0.0.1:$wport ssl;
		server_name localhost;
		ssl_certificate $work/cert.pem;
		ssl_certificate_key $work/key.pem;
		root $www;
		location /private/ {
			auth_basic "vmediad test";
			auth_basic_user_file $work/htpasswd;
		}
NGINX
nginx -c "$work/nginx/nginx.conf" >"$work/nginx.log" 2>&1 &
for i in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$wport") 2>/dev/null && break
	sleep 0.1
done
image=https://localhost:$wport/installer.iso

n0=$(wc -l <"$audit")
got=$(sushy "$work/ca.pem" session alice alicepw insert iso "$image")
expect sushy_insert_media_https_shows_inserted_uri_and_image_name \
    "iso True URI CD True installer.iso" "$got"
c=$(rf GET $vm/iso -u alice:alicepw)
expect redfish_inserted_media_shows_its_image_and_protocol \
    "200 $image HTTPS" \
    "$c $(json 'd["Image"] + " " + d["TransferProtocolType"]' <"$work/body")"
rm -f "$work/copy.raw"
got=
nbdcopy "nbd+unix:///?socket=$work/iso.sock" "$work/copy.raw" \
    2>"$work/copy.err" &&
	got="$(stat -c %s "$work/copy.raw") $(sha256sum "$work/copy.raw" | cut -d' ' -f1)"
expect sushy_inserted_image_reads_byte_identical_by_nbdcopy "$want_iso" "$got"
audited "$n0" '"event": "source_inserted", "user": "alice".*"export": "iso"' &&
	ok sushy_insert_is_audited || notok sushy_insert_is_audited "$(tail -2 "$audit")"
c=$(rf POST $vm/iso/$insert -u alice:alicepw -H "$json_ct" \
    -d "{\"Image\": \"$image\"}")
expect redfish_insert_while_inserted_is_409_resource_in_use_again \
    "409 Base.1.16.0.ResourceInUse " "$c $(msg)"
got=$(sushy "$work/ca.pem" basic alice alicepw eject iso)
expect sushy_eject_media_ends_the_inserted_source \
    "iso False NotConnected CD True None" "$got"
audited "$n0" '"event": "eject", "user": "alice".*"export": "iso"' &&
	ok sushy_eject_of_inserted_media_is_audited ||
	notok sushy_eject_of_inserted_media_is_audited "$(tail -2 "$audit")"
# Its nbdkit stops, then the export takes the next insert.
for i in $(seq 300); do
	tail -n +$((n0 + 1)) "$audit" |
	    grep -q '"event": "source_exited", "export": "iso"' && break
	sleep 0.1
done

# insert_bad TEST EXPORT IMAGE STATUS MESSAGE [DETAIL-PATTERN]
insert_bad() {
	local c
	c=$(rf POST $vm/$2/$insert -u alice:alicepw -H "$json_ct" \
	    -d "{\"Image\": \"$3\"}" -m 120)
	if [ "$c $(msg)" = "$4 $5" ] &&
	    json 'd["error"]["message"]' <"$work/body" | grep -Eq -- "${6:-.}"; then
		ok "$1"
	else
		notok "$1" "$c $(msg) $(json 'd["error"]["message"]' <"$work/body")"
	fi
}
insert_bad redfish_insert_of_a_scheme_the_export_does_not_allow_is_403 iso \
    nbd://127.0.0.1:10809/ 403 "Base.1.16.0.InsufficientPrivilege " allow-source
insert_bad redfish_insert_on_an_export_without_allow_source_is_403 lab \
    "$image" 403 "Base.1.16.0.InsufficientPrivilege " allow-source
insert_bad redfish_insert_of_a_url_that_404s_fails_with_its_reason iso \
    "https://localhost:$wport/missing.iso" 502 "Base.1.16.0.GeneralError " \
    'insert failed.*404'
insert_bad redfish_insert_of_an_untrusted_certificate_fails untrusted \
    "$image" 502 "Base.1.16.0.GeneralError " 'insert failed.*certificate'
audited "$n0" '"event": "insert_failed", "user": "alice".*"export": "iso".*404' &&
    audited "$n0" '"event": "insert_failed", "user": "alice".*"export": "untrusted".*certificate' &&
    audited "$n0" '"event": "insert_refused", "user": "alice".*"export": "iso", "status": 403' &&
	ok redfish_insert_failures_and_refusals_are_audited ||
	notok redfish_insert_failures_and_refusals_are_audited "$(tail -3 "$audit")"
# UserName and Password go to nbdkit as a file: never logged, audited
# or shown.
private=https://localhost:$wport/private/installer.iso
insert_cred() {
	rf POST $vm/iso/$insert -u alice:alicepw -H "$json_ct" -m 120 \
	    -d "{\"Image\": \"$private\", \"UserName\": \"carol\", \"Password\": \"$1\"}"
}
n0=$(wc -l <"$audit")
c=$(insert_cred "$webpw")
got=$(sushy "$work/ca.pem" basic alice alicepw show iso)
rm -f "$work/copy.raw"
nbdcopy "nbd+unix:///?socket=$work/iso.sock" "$work/copy.raw" 2>"$work/copy.err"
shown=$(rf GET $vm/iso -u alice:alicepw)
seen=$(cat "$work/body" "$log" "$audit" | grep -c "$webpw")
if [ "$c" = 204 ] && [ "$got" = "iso True URI CD True installer.iso" ] &&
    cmp -s "$work/copy.raw" "$www/installer.iso" && [ "$shown $seen" = "200 0" ]; then
	ok redfish_insert_with_credentials_reads_and_never_shows_the_password
else
	notok redfish_insert_with_credentials_reads_and_never_shows_the_password \
	    "$c '$got' GET $shown, password seen $seen times"
fi
c=$(rf POST $vm/iso/$eject -u alice:alicepw)
for i in $(seq 300); do
	tail -n +$((n0 + 1)) "$audit" |
	    grep -q '"event": "source_exited", "export": "iso"' && break
	sleep 0.1
done
c=$(insert_cred "wrong-$webpw")
msgtext=$(json 'd["error"]["message"]' <"$work/body")
if [ "$c" = 502 ] && echo "$msgtext" | grep -q 401 &&
    ! grep -q "$webpw" "$log" "$audit" "$work/body"; then
	ok redfish_insert_with_a_wrong_password_fails_with_401
else
	notok redfish_insert_with_a_wrong_password_fails_with_401 "$c $msgtext"
fi
c=$(rf POST $vm/iso/$insert -u alice:alicepw -H "$json_ct" \
    -d "{\"Image\": \"$private\", \"UserName\": \"carol\"}")
expect redfish_insert_username_without_password_is_parameter_missing \
    "400 Base.1.16.0.ActionParameterMissing #/Password" "$c $(msg)"

# --- VerifyCertificate, Certificates and If-Match ----------------------------

# wait_exited N0 EXPORT: its nbdkit is gone (so the export takes an insert).
wait_exited() {
	for i in $(seq 300); do
		tail -n +$(($1 + 1)) "$audit" |
		    grep -q "\"event\": \"source_exited\", \"export\": \"$2\"" && return 0
		sleep 0.1
	done
	return 1
}
# insert_read TEST EXPORT: InsertMedia of the image, read byte-identical
# by nbdcopy, ejected.
insert_read() {
	local c got= n0
	n0=$(wc -l <"$audit")
	c=$(rf POST $vm/$2/$insert -u alice:alicepw -H "$json_ct" -m 120 \
	    -d "{\"Image\": \"$image\"}")
	rm -f "$work/copy.raw"
	[ "$c" = 204 ] &&
	    nbdcopy "nbd+unix:///?socket=$work/$2.sock" "$work/copy.raw" \
		2>"$work/copy.err" &&
	    got="$(stat -c %s "$work/copy.raw") $(sha256sum "$work/copy.raw" | cut -d' ' -f1)"
	rf POST $vm/$2/$eject -u alice:alicepw >/dev/null
	wait_exited "$n0" "$2"
	expect "$1" "204 $want_iso" "$c $got"
}

c=$(rf GET $vm/untrusted -u alice:alicepw)
expect redfish_member_has_verify_certificate_and_certificates_link \
    "200 True $vm/untrusted/Certificates" \
    "$c $(json 'str(d["VerifyCertificate"]) + " " + d["Certificates"]["@odata.id"]' <"$work/body")"
got=$(sushy "$work/ca.pem" session alice alicepw certs untrusted)
expect sushy_certificates_collection_starts_empty "" "$got"

# Certificates: our CA on "untrusted" (whose source-ca is another CA)
# is what its insert trusts, alone.
n_trust=$(wc -l <"$audit")
got=$(sushy "$work/ca.pem" session ops opspw addcert untrusted "$work/ca.pem")
expect sushy_certificates_create_member_of_a_pem_ca "1 PEM" "$got"
c=$(rf GET $vm/untrusted/Certificates/1 -u alice:alicepw)
json 'd["CertificateString"]' <"$work/body" >"$work/got-ca.pem"
if [ "$c" = 200 ] && [ "$(json 'd["@odata.type"] + " " + d["CertificateType"]' <"$work/body")" = "#Certificate.v1_8_0.Certificate PEM" ] &&
    [ "$(openssl x509 -noout -fingerprint -in "$work/got-ca.pem")" = "$(openssl x509 -noout -fingerprint -in "$work/ca.pem")" ]; then
	ok redfish_certificate_member_holds_the_pem
else
	notok redfish_certificate_member_holds_the_pem "$c $(head -c 200 "$work/body")"
fi
insert_read redfish_insert_trusts_the_members_certificate untrusted
# ... and on "iso" (source-ca: our CA), another CA as its certificate
# means our server is no longer trusted.
got=$(sushy "$work/ca.pem" session ops opspw addcert iso "$work/other-ca.pem")
n0=$(wc -l <"$audit")
insert_bad redfish_insert_trusts_only_the_members_certificates iso \
    "$image" 502 "Base.1.16.0.GeneralError " 'insert failed.*certificate'
wait_exited "$n0" iso
got=$(sushy "$work/ca.pem" session ops opspw delcert iso 1)
expect sushy_certificate_delete_leaves_none "" "$got"
c=$(rf GET $vm/iso/Certificates/1 -u alice:alicepw)
expect redfish_deleted_certificate_is_404 "404 Base.1.16.0.ResourceNotFound " "$c $(msg)"
insert_read redfish_insert_without_certificates_trusts_source_ca_again iso

# VerifyCertificate false: an image server no CA vouches for is read.
got=$(sushy "$work/ca.pem" session ops opspw delcert untrusted 1)
got="$got $(sushy "$work/ca.pem" session ops opspw verify untrusted false)"
expect sushy_set_verify_certificate_false " False" "$got"
fp() { # a PEM file's SHA-256 fingerprint as the audit writes it
	openssl x509 -noout -fingerprint -sha256 -in "$1" |
	    sed 's/.*=//; s/://g' | tr A-F a-f
}
audited "$n_trust" "\"event\": \"setting_changed\", \"user\": \"ops\".*\"export\": \"untrusted\".*certificate 1 added, SHA-256 $(fp "$work/ca.pem")" &&
    audited "$n_trust" "\"event\": \"setting_changed\", \"user\": \"ops\".*\"export\": \"iso\".*certificate 1 deleted, SHA-256 $(fp "$work/other-ca.pem")" &&
    audited "$n_trust" '"event": "setting_changed", "user": "ops".*"export": "untrusted".*VerifyCertificate false' &&
	ok redfish_trust_changes_are_audited_with_fingerprints ||
	notok redfish_trust_changes_are_audited_with_fingerprints "$(grep setting_changed "$audit" | tail -3)"
insert_read redfish_insert_with_verify_certificate_false_skips_the_check untrusted
grep -q 'export untrusted: alice inserts https://.*, its certificate not verified' "$log" &&
    grep -q 'export untrusted: alice inserts https://.*, trusting the member.s certificates' "$log" &&
	ok redfish_insert_logs_how_the_server_is_trusted ||
	notok redfish_insert_logs_how_the_server_is_trusted "$(grep inserts "$log" | tail -2)"
got=$(sushy "$work/ca.pem" basic ops opspw verify untrusted true)
n0=$(wc -l <"$audit")
insert_bad redfish_verify_certificate_true_again_checks untrusted \
    "$image" 502 "Base.1.16.0.GeneralError " 'insert failed.*certificate'
wait_exited "$n0" untrusted

# Bad certificates and PATCHes: each refused, audited, nothing kept.
n0=$(wc -l <"$audit")
certpost() {
	rf POST $vm/shared/Certificates -u ops:opspw -H "$json_ct" \
	    --data-binary "$1"
}
pemjson() { # the files' PEM as a CertificateString
	cat "$@" | $py -c 'import json,sys; print(json.dumps({"CertificateString": sys.stdin.read(), "CertificateType": "PEM"}))'
}
c=$(certpost '{"CertificateString": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", "CertificateType": "PEM"}')
expect redfish_certificate_bad_pem_is_property_value_format_error \
    "400 Base.1.16.0.PropertyValueFormatError #/CertificateString" "$c $(msg)"
c=$(certpost "$(pemjson "$work/ca.pem" "$work/other-ca.pem")")
expect redfish_certificate_two_in_one_string_is_refused \
    "400 Base.1.16.0.PropertyValueFormatError #/CertificateString" "$c $(msg)"
c=$(certpost "$(pemjson "$work/ca.pem" "$work/ca.key")")
expect redfish_certificate_with_a_key_beside_is_refused \
    "400 Base.1.16.0.PropertyValueFormatError #/CertificateString" "$c $(msg)"
c=$(certpost '{"CertificateString": "x", "CertificateType": "PKCS7"}')
expect redfish_certificate_type_pkcs7_is_not_in_list \
    "400 Base.1.16.0.PropertyValueNotInList #/CertificateType" "$c $(msg)"
c=$(certpost '{"CertificateType": "PEM"}')
expect redfish_certificate_without_string_is_property_missing \
    "400 Base.1.16.0.PropertyMissing #/CertificateString" "$c $(msg)"
c=$(certpost "{\"CertificateString\": \"$(head -c 5000 /dev/zero | tr '\0' A)\", \"CertificateType\": \"PEM\"}")
expect redfish_certificate_string_past_4_kib_is_format_error \
    "400 Base.1.16.0.PropertyValueFormatError #/CertificateString" "$c $(msg)"
c=$(certpost '{"CertificateString": 7, "CertificateType": "PEM"}')
expect redfish_certificate_string_as_number_is_type_error \
    "400 Base.1.16.0.PropertyValueTypeError #/CertificateString" "$c $(msg)"
for i in 1 2 3 4; do certpost "$(pemjson "$work/ca.pem")" >/dev/null; done
c=$(certpost "$(pemjson "$work/ca.pem")")
expect redfish_fifth_certificate_is_create_limit_reached \
    "400 Base.1.16.0.CreateLimitReachedForResource " "$c $(msg)"
got=$(sushy "$work/ca.pem" basic bob bobpw certs shared)
expect redfish_four_certificates_kept "1:PEM 2:PEM 3:PEM 4:PEM" "$got"
c=$(rf POST $vm/bobs/Certificates -u alice:alicepw -H "$json_ct" \
    --data-binary "$(pemjson "$work/ca.pem")")
expect redfish_certificate_of_another_tenants_media_is_404 404 "$c"
c=$(rf PATCH $vm/shared/Certificates -u ops:opspw -H "$json_ct" -d '{}')
expect redfish_patch_of_certificates_is_405 405 "$c"
c=$(rf PATCH $vm/shared -u ops:opspw -H "$json_ct" -d '{"VerifyCertificate": "no"}')
expect redfish_patch_verify_certificate_string_is_type_error \
    "400 Base.1.16.0.PropertyValueTypeError #/VerifyCertificate" "$c $(msg)"
c=$(rf PATCH $vm/shared -u ops:opspw -H "$json_ct" -d '{"Image": "https://localhost/x.iso"}')
expect redfish_patch_of_image_is_property_not_writable \
    "400 Base.1.16.0.PropertyNotWritable #/Image" "$c $(msg)"
c=$(rf PATCH $vm/shared -u ops:opspw -H "$json_ct" -d '{"Colour": "blue"}')
expect redfish_patch_of_an_unknown_property_is_property_unknown \
    "400 Base.1.16.0.PropertyUnknown #/Colour" "$c $(msg)"
c=$(rf PATCH $vm/shared -u ops:opspw -H "$json_ct" -d '{"VerifyCertificate": tru}')
expect redfish_patch_malformed_json "400 Base.1.16.0.MalformedJSON " "$c $(msg)"
audited "$n0" '"event": "protocol_violation", "user": "ops".*"export": "shared".*PropertyNotWritable' &&
    audited "$n0" '"event": "protocol_violation", "user": "ops".*"export": "shared".*more than 4 certificates' &&
	ok redfish_bad_certificates_and_patches_are_audited ||
	notok redfish_bad_certificates_and_patches_are_audited "$(tail -2 "$audit")"

# A member's trust is an admin's: users of the export may read it only.
n0=$(wc -l <"$audit")
c=$(rf PATCH $vm/shared -u bob:bobpw -H "$json_ct" -d '{"VerifyCertificate": false}')
expect redfish_verify_certificate_patch_by_a_user_is_403 \
    "403 Base.1.16.0.InsufficientPrivilege " "$c $(msg)"
c=$(rf POST $vm/shared/Certificates -u bob:bobpw -H "$json_ct" \
    --data-binary "$(pemjson "$work/ca.pem")")
expect redfish_certificate_post_by_a_user_is_403 \
    "403 Base.1.16.0.InsufficientPrivilege " "$c $(msg)"
c=$(rf DELETE $vm/shared/Certificates/1 -u bob:bobpw)
expect redfish_certificate_delete_by_a_user_is_403 \
    "403 Base.1.16.0.InsufficientPrivilege " "$c $(msg)"
got=$(sushy "$work/ca.pem" basic bob bobpw certs shared)
rf GET $vm/shared -u bob:bobpw >/dev/null
got="$got $(json 'str(d["VerifyCertificate"])' <"$work/body")"
expect redfish_users_refused_changes_left_nothing_changed \
    "1:PEM 2:PEM 3:PEM 4:PEM True" "$got"
audited "$n0" '"event": "access_denied", "user": "bob".*"export": "shared".*VerifyCertificate is an admin' &&
    audited "$n0" '"event": "access_denied", "user": "bob".*"export": "shared".*Certificates are an admin' &&
	ok redfish_users_trust_changes_are_audited ||
	notok redfish_users_trust_changes_are_audited "$(tail -2 "$audit")"

# ETag and If-Match: a stale tag is 412 PreconditionFailed, the tag of
# now goes through.
rf GET $vm/shared -u bob:bobpw >/dev/null
etag=$(sed -n 's/^ETag: *\([^\r]*\).*/\1/ip' "$work/headers")
c=$(rf PATCH $vm/shared -u ops:opspw -H "$json_ct" -H "If-Match: $etag" \
    -d '{"VerifyCertificate": false}')
etag2=$(sed -n 's/^ETag: *\([^\r]*\).*/\1/ip' "$work/headers")
expect redfish_patch_with_matching_if_match_proceeds "200 False" \
    "$c $(json 'str(d["VerifyCertificate"])' <"$work/body")"
c=$(rf PATCH $vm/shared -u ops:opspw -H "$json_ct" -H "If-Match: $etag" \
    -d '{"VerifyCertificate": true}')
c="$c $(msg)"
rf GET $vm/shared -u bob:bobpw >/dev/null
expect redfish_patch_with_stale_if_match_is_412_precondition_failed \
    "412 Base.1.16.0.PreconditionFailed False" \
    "$c$(json 'str(d["VerifyCertificate"])' <"$work/body")"
c=$(rf POST $vm/shared/$insert -u bob:bobpw -H "$json_ct" -H "If-Match: $etag" \
    -d "{\"Image\": \"$image\"}")
expect redfish_insert_with_stale_if_match_is_412 \
    "412 Base.1.16.0.PreconditionFailed " "$c $(msg)"
c=$(rf POST $vm/shared/$eject -u bob:bobpw -H "If-Match: \"0\", $etag2")
expect redfish_eject_with_if_match_of_now_in_a_list_proceeds 204 "$c"
c=$(rf PATCH $vm/shared -u ops:opspw -H "$json_ct" -H 'If-Match: *' \
    -d '{"VerifyCertificate": true}')
expect redfish_patch_with_if_match_star_proceeds "200 True" \
    "$c $(json 'str(d["VerifyCertificate"])' <"$work/body")"

got=$(sushy "$work/ca.pem" basic ops opspw list)
expect redfish_nothing_left_attached \
    "bobs False NotConnected USBStick False None
iso False NotConnected CD True None
lab False NotConnected CD True None
shared False NotConnected USBStick False None
untrusted False NotConnected CD True None" "$got"
kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null

# --- an expired session token: SessionTimeout, PATCHed by an admin ---------

n0=$(wc -l <"$audit")
ssvc=/redfish/v1/SessionService
c=$(rf PATCH $ssvc -u alice:alicepw -H "$json_ct" -d '{"SessionTimeout": 30}')
expect redfish_session_timeout_patch_by_a_non_admin_is_403 \
    "403 Base.1.16.0.InsufficientPrivilege " "$c $(msg)"
c=$(rf PATCH $ssvc -u ops:opspw -H "$json_ct" -d '{"SessionTimeout": 5}')
expect redfish_session_timeout_below_30_is_out_of_range \
    "400 Base.1.16.0.PropertyValueOutOfRange #/SessionTimeout" "$c $(msg)"
c=$(rf PATCH $ssvc -u ops:opspw -H "$json_ct" -d '{"SessionTimeout": "30"}')
expect redfish_session_timeout_as_string_is_type_error \
    "400 Base.1.16.0.PropertyValueTypeError #/SessionTimeout" "$c $(msg)"
c=$(rf PATCH $ssvc -u ops:opspw -H "$json_ct" -d '{"ServiceEnabled": false}')
expect redfish_service_enabled_is_property_not_writable \
    "400 Base.1.16.0.PropertyNotWritable #/ServiceEnabled" "$c $(msg)"
c=$(rf PATCH $ssvc -u ops:opspw -H "$json_ct" -H 'If-Match: W/"0000000000000000"' \
    -d '{"SessionTimeout": 30}')
expect redfish_session_service_stale_if_match_is_412 412 "$c"
c=$(rf PATCH $ssvc -u ops:opspw -H "$json_ct" -d '{"SessionTimeout": 30}')
expect redfish_admin_patches_session_timeout "200 30" \
    "$c $(json 'str(d["SessionTimeout"])' <"$work/body")"
audited "$n0" '"event": "setting_changed", "user": "ops".*SessionTimeout 30 s' &&
	ok redfish_session_timeout_change_is_audited ||
	notok redfish_session_timeout_change_is_audited "$(tail -2 "$audit")"
c=$(rf POST /redfish/v1/SessionService/Sessions -H "$json_ct" \
    -d '{"UserName": "alice", "Password": "alicepw"}')
token=$(sed -n 's/^X-Auth-Token: *\([0-9a-f]*\).*/\1/ip' "$work/headers")
c=$(rf GET $vm -H "X-Auth-Token: $token")
expect redfish_fresh_token_works_under_session_timeout 200 "$c"
# Unused past SessionTimeout (30 s; +3 for whole seconds): expired.
sleep 33
c=$(rf GET $vm -H "X-Auth-Token: $token")
expect redfish_expired_token_is_401_no_valid_session \
    "401 Base.1.16.0.NoValidSession " "$c $(msg)"
audited "$n0" '"event": "login_failed".*"status": 401.*expired token' &&
    audited "$n0" '"event": "access_denied", "user": "alice".*SessionTimeout' &&
	ok redfish_expired_token_and_refused_patch_are_audited ||
	notok redfish_expired_token_and_refused_patch_are_audited "$(tail -3 "$audit")"
c=$(rf PATCH $ssvc -u ops:opspw -H "$json_ct" -d '{"SessionTimeout": 1800}')
expect redfish_session_timeout_set_back 200 "$c"


daemon_survived redfish_daemon_survived
stop_daemon
test_done
