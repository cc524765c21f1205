/*
 * The message contract: msg.c's table against the one written out in
 * msg_test.c, every type on every channel, every field check with a bad
 * message, and the table in ARCHITECTURE.md against the one printed here.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg_tests.h"
#include "nbd_proto.h"
#include "test.h"

#define TABLE_BEGIN "<!-- msg_test -M begin: make -s -C regress/msg table -->"
#define TABLE_END "<!-- msg_test -M end -->"

static const char *
lower(const char *name)
{
	static char buf[64];
	size_t i;

	for (i = 0; name[i] != '\0' && i < sizeof(buf) - 1; i++)
		buf[i] = tolower((unsigned char)name[i]);
	buf[i] = '\0';
	return buf;
}

static void
test_table_rows(void)
{
	const struct msg_info *info;
	const struct contract *c;
	size_t i;
	int bad = 0, single = 1, loops = 0, worded = 1;

	for (i = 0; i < ncontract; i++) {
		c = &contract[i];
		if ((info = msg_info(c->type)) == NULL ||
		    info->size != c->size ||
		    (info->fd == MSG_FD_ALWAYS) != c->fd ||
		    info->from != c->from || info->to != c->to) {
			fprintf(stderr, "%s differs from the contract\n",
			    c->name);
			bad++;
			continue;
		}
		/* One side single: the two sets name exact channels. */
		if (__builtin_popcount(info->from) != 1 &&
		    __builtin_popcount(info->to) != 1)
			single = 0;
		if (__builtin_popcount(info->from) == 1 &&
		    (info->from & info->to))
			loops++;
		if (info->checks == NULL || info->checks[0] == '\0' ||
		    info->payload == NULL ||
		    (info->size > 0 && info->check == NULL))
			worded = 0;
	}
	test_result("msg_table_matches_the_contract", bad == 0,
	    "%d types differ", bad);
	test_result("msg_table_each_type_has_one_sender_or_one_receiver",
	    single, "a type with several senders and several receivers");
	test_result("msg_table_no_process_sends_to_itself", loops == 0,
	    "%d types", loops);
	test_result("msg_table_every_payload_is_checked_and_said_in_words",
	    worded, "a type without check, payload or checks text");
}

/*
 * A valid message of each type, decoded as each process from each other
 * process: accepted exactly on its channels, refused with the direction
 * named everywhere else.
 */
static void
test_channels(void)
{
	static unsigned char buf[sizeof(struct msg_hdr) + MSG_PAYLOAD_MAX];
	static struct msg valid, m;
	const struct contract *c;
	char name[96], want[96];
	const char *why;
	size_t i, len;
	int self, peer, ok, allowed;

	for (i = 0; i < ncontract; i++) {
		c = &contract[i];
		valid_payload(c->type, &valid);
		len = encode(buf, c->type, &valid);
		ok = 1;
		for (peer = 0; peer < PROC_MAX && ok; peer++)
			for (self = 0; self < PROC_MAX && ok; self++) {
				if (self == peer)
					continue;
				allowed = (c->from & PROC_BIT(peer)) &&
				    (c->to & PROC_BIT(self));
				why = msg_decode(buf, len, c->fd ? 9 : -1, self,
				    peer, &m);
				snprintf(want, sizeof(want),
				    "%s not allowed from %s to %s", c->name,
				    msg_proc_name(peer), msg_proc_name(self));
				if (allowed ?
					why != NULL :
					why == NULL || strcmp(why, want) != 0) {
					fprintf(stderr,
					    "%s from %s to %s: %s\n", c->name,
					    msg_proc_name(peer),
					    msg_proc_name(self),
					    why ? why : "accepted");
					ok = 0;
				}
			}
		snprintf(name, sizeof(name),
		    "msg_decode_%s_only_on_its_channels", lower(c->name));
		test_result(name, ok, "see stderr");
	}
}

/* --- one bad field per check ------------------------------------------ */

struct bad_case {
	const char *test;
	enum msg_type type;
	enum msg_proc from;
	void (*spoil)(struct msg *);
	const char *want; /* the decoder's reason */
};

static void
global_auth_7(struct msg *m)
{
	m->u.global.auth = 7;
}

static void
global_web_unterminated(struct msg *m)
{
	memset(m->u.global.web, 'w', sizeof(m->u.global.web));
}

static void
export_name_unterminated(struct msg *m)
{
	memset(m->u.export.name, 'e', sizeof(m->u.export.name));
}

static void
export_name_dotdot(struct msg *m)
{
	snprintf(m->u.export.name, CONF_NAME_MAX, "../cd");
}

static void
export_timeout_0(struct msg *m)
{
	m->u.export.timeout = 0;
}

static void
export_device_not_nbd(struct msg *m)
{
	snprintf(m->u.export.device, CONF_PATH_MAX, "/dev/sda");
}

static void
user_name_unterminated(struct msg *m)
{
	memset(m->u.user.name, 'u', sizeof(m->u.user.name));
}

static void
user_groups_unterminated(struct msg *m)
{
	memset(m->u.user.groups, 'g', sizeof(m->u.user.groups));
}

static void
user_psk_8_bytes(struct msg *m)
{
	m->u.user.psk_len = 8; /* shorter than CONF_PSK_MIN */
}

static void
user_psk_65_bytes(struct msg *m)
{
	m->u.user.psk_len = CONF_PSK_MAX + 1;
}

static void
end_65_exports(struct msg *m)
{
	m->u.conf_end.nexports = CONF_EXPORT_MAX + 1;
}

static void
end_negative_users(struct msg *m)
{
	m->u.conf_end.nusers = -1;
}

static void
ping_seq_0(struct msg *m)
{
	m->u.ping.seq = 0;
}

static void
listener_kind_4(struct msg *m)
{
	m->u.listener.kind = 4;
}

static void
listener_index_8(struct msg *m)
{
	m->u.listener.index = CONF_LISTEN_MAX;
}

static void
listener_export_unterminated(struct msg *m)
{
	memset(m->u.listener.export, 'l', sizeof(m->u.listener.export));
}

static void
listener_export_bad_name(struct msg *m)
{
	m->u.listener.kind = MSG_LISTEN_EXPORT;
	snprintf(m->u.listener.export, CONF_NAME_MAX, "a b");
}

static void
attach_export_unterminated(struct msg *m)
{
	memset(m->u.attach.export, 'a', sizeof(m->u.attach.export));
}

static void
attach_user_bad_name(struct msg *m)
{
	snprintf(m->u.attach.user, CONF_NAME_MAX, "al/ice");
}

static void
attach_size_0(struct msg *m)
{
	m->u.attach.size = 0;
}

static void
attach_session_0(struct msg *m)
{
	m->u.attach.session = 0;
}

static void
attach_flags_multi_conn(struct msg *m)
{
	m->u.attach.flags |= NBD_TFLAG_CAN_MULTI_CONN;
}

static void
attached_ok_2(struct msg *m)
{
	m->u.attached.ok = 2;
}

static void
attached_reason_unterminated(struct msg *m)
{
	memset(m->u.attached.reason, 'r', sizeof(m->u.attached.reason));
}

static void
attached_device_with_refusal(struct msg *m)
{
	m->u.attached.ok = 0;
	snprintf(m->u.attached.reason, 128, "busy");
}

static void
detach_export_unterminated(struct msg *m)
{
	memset(m->u.detach.export, 'd', sizeof(m->u.detach.export));
}

static void
detach_session_0(struct msg *m)
{
	m->u.detach.session = 0;
}

static void
hook_run_action_0(struct msg *m)
{
	m->u.hook.action = 0;
}

static void
hook_run_read_only_2(struct msg *m)
{
	m->u.hook.read_only = 2;
}

static void
hook_run_user_unterminated(struct msg *m)
{
	memset(m->u.hook.user, 'h', sizeof(m->u.hook.user));
}

static void
hook_done_action_3(struct msg *m)
{
	m->u.hook_done.action = 3;
}

static void
hook_done_ok_minus_1(struct msg *m)
{
	m->u.hook_done.ok = -1;
}

static void
hook_done_reason_unterminated(struct msg *m)
{
	memset(m->u.hook_done.reason, 'r', sizeof(m->u.hook_done.reason));
}

static void
audit_event_0(struct msg *m)
{
	m->u.audit.event = 0;
}

static void
audit_event_count(struct msg *m)
{
	m->u.audit.event = AUDIT_EV_COUNT;
}

static void
audit_config_reload(struct msg *m)
{
	m->u.audit.event = AUDIT_EV_CONFIG_RELOAD;
}

static void
audit_source_exited(struct msg *m)
{
	m->u.audit.event = AUDIT_EV_SOURCE_EXITED;
}

static void
audit_addr_unterminated(struct msg *m)
{
	memset(m->u.audit.addr, '1', sizeof(m->u.audit.addr));
}

static void
audit_login(struct msg *m)
{
	m->u.audit.event = AUDIT_EV_LOGIN;
}

static void
source_start_no_source(struct msg *m)
{
	memset(m->u.export.source, 0, sizeof(m->u.export.source));
}

static void
source_start_bad_export(struct msg *m)
{
	m->u.export.timeout = 0;
}

static void
source_started_reason(struct msg *m)
{
	snprintf(m->u.source.reason, sizeof(m->u.source.reason), "why");
}

static void
source_started_pid_1(struct msg *m)
{
	m->u.source.pid = 1;
}

static void
source_export_bad_name(struct msg *m)
{
	snprintf(m->u.source.export, sizeof(m->u.source.export), "../x");
}

static void
source_exited_no_reason(struct msg *m)
{
	m->u.source.reason[0] = '\0';
}

static void
source_exited_pid_minus_1(struct msg *m)
{
	m->u.source.pid = -1;
}

static void
source_insert_unix(struct msg *m)
{
	snprintf(m->u.insert.uri, CONF_URI_MAX, "nbd+unix:///?socket=/run/x");
}

static void
source_insert_bad_uri(struct msg *m)
{
	snprintf(m->u.insert.uri, CONF_URI_MAX, "https://a b/c.iso");
}

static void
source_insert_uri_unterminated(struct msg *m)
{
	memset(m->u.insert.uri, 'a', sizeof(m->u.insert.uri));
}

static void
source_export_bad_name_insert(struct msg *m)
{
	snprintf(m->u.insert.export, CONF_NAME_MAX, "../cd");
}

static void
source_insert_user_without_password(struct msg *m)
{
	m->u.insert.cred_password[0] = '\0';
}

static void
source_insert_credentials_for_nbd(struct msg *m)
{
	snprintf(m->u.insert.uri, CONF_URI_MAX, "nbd://images.example/cd");
}

static void
source_insert_password_with_a_newline(struct msg *m)
{
	snprintf(m->u.insert.cred_password, MSG_SECRET_MAX, "a\nb");
}

static void
source_credentials_user_with_a_colon(struct msg *m)
{
	snprintf(m->u.credentials.user, CONF_NAME_MAX, "car:ol");
}

static void
source_credentials_password_unterminated(struct msg *m)
{
	memset(m->u.credentials.password, 'x',
	    sizeof(m->u.credentials.password));
}

static void
insert_ca_with_a_key(struct msg *m)
{
	snprintf(m->u.ca.pem, MSG_PEM_MAX,
	    "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n");
}

static void
insert_ca_with_text_after(struct msg *m)
{
	size_t len = strlen(m->u.ca.pem);

	snprintf(m->u.ca.pem + len, MSG_PEM_MAX - len, "rm -rf /\n");
}

static void
insert_ca_index_past_count(struct msg *m)
{
	m->u.ca.index = 2;
}

static void
insert_ca_five(struct msg *m)
{
	m->u.ca.count = 5;
}

static void
insert_ca_without_verify(struct msg *m)
{
	m->u.ca.verify = 0;
}

static void
source_ca_off_with_a_pem(struct msg *m)
{
	m->u.ca.verify = 0;
	m->u.ca.index = m->u.ca.count = 0;
}

static void
source_insert_cas_without_verify(struct msg *m)
{
	m->u.insert.verify = 0;
	m->u.insert.ncas = 1;
}

static void
source_insert_five_cas(struct msg *m)
{
	m->u.insert.verify = 1;
	m->u.insert.ncas = 5;
}

static void
source_eject_with_pid(struct msg *m)
{
	m->u.source.pid = 4242;
}

static const struct bad_case bad_cases[] = {
	{ "conf_global_with_auth_7_refused", MSG_CONF_GLOBAL, PROC_PARENT,
	    global_auth_7, "CONF_GLOBAL: not a valid [vmediad] section" },
	{ "conf_global_with_unterminated_web_refused", MSG_CONF_GLOBAL,
	    PROC_PARENT, global_web_unterminated,
	    "CONF_GLOBAL: not a valid [vmediad] section" },
	{ "conf_export_with_unterminated_name_refused", MSG_CONF_EXPORT,
	    PROC_PARENT, export_name_unterminated,
	    "CONF_EXPORT: not a valid export" },
	{ "conf_export_named_outside_name_rules_refused", MSG_CONF_EXPORT,
	    PROC_PARENT, export_name_dotdot,
	    "CONF_EXPORT: not a valid export" },
	{ "conf_export_with_a_device_not_dev_nbdn_refused", MSG_CONF_EXPORT,
	    PROC_PARENT, export_device_not_nbd,
	    "CONF_EXPORT: not a valid export" },
	{ "conf_export_with_timeout_0_refused", MSG_CONF_EXPORT, PROC_PARENT,
	    export_timeout_0, "CONF_EXPORT: not a valid export" },
	{ "conf_user_with_unterminated_name_refused", MSG_CONF_USER,
	    PROC_PARENT, user_name_unterminated,
	    "CONF_USER: not a valid user" },
	{ "conf_user_with_unterminated_groups_refused", MSG_CONF_USER,
	    PROC_PARENT, user_groups_unterminated,
	    "CONF_USER: not a valid user" },
	{ "conf_user_with_an_8_byte_psk_refused", MSG_CONF_USER, PROC_PARENT,
	    user_psk_8_bytes, "CONF_USER: not a valid user" },
	{ "conf_user_with_a_psk_past_its_array_refused", MSG_CONF_USER,
	    PROC_PARENT, user_psk_65_bytes, "CONF_USER: not a valid user" },
	{ "conf_end_with_65_exports_refused", MSG_CONF_END, PROC_PARENT,
	    end_65_exports, "CONF_END: export count out of range" },
	{ "conf_end_with_negative_users_refused", MSG_CONF_END, PROC_PARENT,
	    end_negative_users, "CONF_END: user count out of range" },
	{ "ping_with_sequence_0_refused", MSG_PING, PROC_PARENT, ping_seq_0,
	    "PING: sequence number 0" },
	{ "pong_with_sequence_0_refused", MSG_PONG, PROC_BLOCKD, ping_seq_0,
	    "PONG: sequence number 0" },
	{ "listener_of_kind_4_refused", MSG_LISTENER, PROC_PARENT,
	    listener_kind_4, "LISTENER: unknown listener kind" },
	{ "listener_index_past_the_listeners_refused", MSG_LISTENER,
	    PROC_PARENT, listener_index_8,
	    "LISTENER: listener index out of range" },
	{ "listener_with_unterminated_export_refused", MSG_LISTENER,
	    PROC_PARENT, listener_export_unterminated,
	    "LISTENER: export not terminated" },
	{ "listener_for_export_outside_name_rules_refused", MSG_LISTENER,
	    PROC_PARENT, listener_export_bad_name,
	    "LISTENER: export is not a valid name" },
	{ "attach_with_unterminated_export_refused", MSG_ATTACH, PROC_SESSIOND,
	    attach_export_unterminated, "ATTACH: export is not a valid name" },
	{ "attach_with_user_outside_name_rules_refused", MSG_ATTACH,
	    PROC_SESSIOND, attach_user_bad_name,
	    "ATTACH: user is not a valid name" },
	{ "attach_of_size_0_refused", MSG_ATTACH, PROC_SESSIOND, attach_size_0,
	    "ATTACH: size out of range" },
	{ "attach_for_session_0_refused", MSG_ATTACH, PROC_SESSIOND,
	    attach_session_0, "ATTACH: session 0" },
	{ "attach_with_flags_outside_relayed_refused", MSG_ATTACH,
	    PROC_SESSIOND, attach_flags_multi_conn,
	    "ATTACH: transmission flags outside what is relayed" },
	{ "attached_with_ok_2_refused", MSG_ATTACHED, PROC_BLOCKD,
	    attached_ok_2, "ATTACHED: ok neither 0 nor 1" },
	{ "attached_with_unterminated_reason_refused", MSG_ATTACHED,
	    PROC_BLOCKD, attached_reason_unterminated,
	    "ATTACHED: device or reason not terminated" },
	{ "attached_refusal_with_a_device_refused", MSG_ATTACHED, PROC_BLOCKD,
	    attached_device_with_refusal,
	    "ATTACHED: a device with a refusal, or a reason with success" },
	{ "detach_with_unterminated_export_refused", MSG_DETACH, PROC_SESSIOND,
	    detach_export_unterminated, "DETACH: export is not a valid name" },
	{ "detached_for_session_0_refused", MSG_DETACHED, PROC_BLOCKD,
	    detach_session_0, "DETACHED: session 0" },
	{ "hook_run_with_action_0_refused", MSG_HOOK_RUN, PROC_BLOCKD,
	    hook_run_action_0, "HOOK_RUN: unknown action" },
	{ "hook_run_with_read_only_2_refused", MSG_HOOK_RUN, PROC_BLOCKD,
	    hook_run_read_only_2, "HOOK_RUN: read_only neither 0 nor 1" },
	{ "hook_run_with_unterminated_user_refused", MSG_HOOK_RUN, PROC_BLOCKD,
	    hook_run_user_unterminated, "HOOK_RUN: user is not a valid name" },
	{ "hook_done_with_action_3_refused", MSG_HOOK_DONE, PROC_HOOKD,
	    hook_done_action_3, "HOOK_DONE: unknown action" },
	{ "hook_done_with_ok_minus_1_refused", MSG_HOOK_DONE, PROC_HOOKD,
	    hook_done_ok_minus_1, "HOOK_DONE: ok neither 0 nor 1" },
	{ "hook_done_with_unterminated_reason_refused", MSG_HOOK_DONE,
	    PROC_HOOKD, hook_done_reason_unterminated,
	    "HOOK_DONE: reason not terminated" },
	{ "audit_event_0_refused", MSG_AUDIT, PROC_SESSIOND, audit_event_0,
	    "AUDIT: event out of range" },
	{ "audit_event_past_the_last_refused", MSG_AUDIT, PROC_SESSIOND,
	    audit_event_count, "AUDIT: event out of range" },
	{ "audit_config_reload_from_a_child_refused", MSG_AUDIT, PROC_SESSIOND,
	    audit_config_reload, "AUDIT: event out of range" },
	{ "audit_source_exited_from_a_child_refused", MSG_AUDIT, PROC_SESSIOND,
	    audit_source_exited, "AUDIT: event out of range" },
	{ "audit_with_unterminated_address_refused", MSG_AUDIT, PROC_SESSIOND,
	    audit_addr_unterminated, "AUDIT: a string not terminated" },
	{ "audit_login_from_blockd_refused", MSG_AUDIT, PROC_BLOCKD,
	    audit_login, "AUDIT: blockd reports hook failures only" },
	{ "source_start_without_a_source_refused", MSG_SOURCE_START,
	    PROC_PARENT, source_start_no_source,
	    "SOURCE_START: an export without a source" },
	{ "source_start_of_an_invalid_export_refused", MSG_SOURCE_START,
	    PROC_PARENT, source_start_bad_export,
	    "SOURCE_START: not a valid export" },
	{ "source_started_with_a_reason_refused", MSG_SOURCE_STARTED,
	    PROC_LAUNCHER, source_started_reason,
	    "SOURCE_STARTED: a reason with a start" },
	{ "source_started_as_pid_1_refused", MSG_SOURCE_STARTED, PROC_LAUNCHER,
	    source_started_pid_1, "SOURCE_STARTED: no pid" },
	{ "source_started_for_export_outside_name_rules_refused",
	    MSG_SOURCE_STARTED, PROC_LAUNCHER, source_export_bad_name,
	    "SOURCE_STARTED: export is not a valid name" },
	{ "source_exited_without_a_reason_refused", MSG_SOURCE_EXITED,
	    PROC_LAUNCHER, source_exited_no_reason,
	    "SOURCE_EXITED: reason empty or not terminated" },
	{ "source_peer_with_a_reason_refused", MSG_SOURCE_PEER, PROC_PARENT,
	    source_started_reason, "SOURCE_PEER: a reason with a start" },
	{ "source_peer_for_export_outside_name_rules_refused", MSG_SOURCE_PEER,
	    PROC_PARENT, source_export_bad_name,
	    "SOURCE_PEER: export is not a valid name" },
	{ "source_exited_with_pid_minus_1_refused", MSG_SOURCE_EXITED,
	    PROC_LAUNCHER, source_exited_pid_minus_1,
	    "SOURCE_EXITED: pid out of range" },
	{ "source_insert_of_nbd_unix_refused", MSG_SOURCE_INSERT, PROC_SESSIOND,
	    source_insert_unix,
	    "SOURCE_INSERT: nbd+unix:// is never inserted" },
	{ "source_insert_of_a_uri_with_a_space_refused", MSG_SOURCE_INSERT,
	    PROC_SESSIOND, source_insert_bad_uri,
	    "SOURCE_INSERT: uri is not a valid source" },
	{ "source_insert_with_unterminated_uri_refused", MSG_SOURCE_INSERT,
	    PROC_SESSIOND, source_insert_uri_unterminated,
	    "SOURCE_INSERT: uri is not a valid source" },
	{ "source_insert_for_export_outside_name_rules_refused",
	    MSG_SOURCE_INSERT, PROC_SESSIOND, source_export_bad_name_insert,
	    "SOURCE_INSERT: export is not a valid name" },
	{ "source_eject_with_a_pid_refused", MSG_SOURCE_EJECT, PROC_SESSIOND,
	    source_eject_with_pid, "SOURCE_EJECT: a pid" },
	{ "source_eject_without_a_reason_refused", MSG_SOURCE_EJECT,
	    PROC_SESSIOND, source_exited_no_reason,
	    "SOURCE_EJECT: reason empty or not terminated" },
	{ "source_ended_without_a_reason_refused", MSG_SOURCE_ENDED,
	    PROC_PARENT, source_exited_no_reason,
	    "SOURCE_ENDED: reason empty or not terminated" },
	{ "source_stop_of_pid_1_refused", MSG_SOURCE_STOP, PROC_PARENT,
	    source_started_pid_1, "SOURCE_STOP: no pid" },
	{ "source_insert_user_without_a_password_refused", MSG_SOURCE_INSERT,
	    PROC_SESSIOND, source_insert_user_without_password,
	    "SOURCE_INSERT: a user without a password, or a password without "
	    "one" },
	{ "source_insert_credentials_for_nbd_refused", MSG_SOURCE_INSERT,
	    PROC_SESSIOND, source_insert_credentials_for_nbd,
	    "SOURCE_INSERT: credentials for a source that is not https:// or "
	    "http://" },
	{ "source_insert_password_with_a_newline_refused", MSG_SOURCE_INSERT,
	    PROC_SESSIOND, source_insert_password_with_a_newline,
	    "SOURCE_INSERT: a control byte in the password" },
	{ "source_credentials_user_with_a_colon_refused",
	    MSG_SOURCE_CREDENTIALS, PROC_PARENT,
	    source_credentials_user_with_a_colon,
	    "SOURCE_CREDENTIALS: a user of other characters" },
	{ "source_credentials_password_unterminated_refused",
	    MSG_SOURCE_CREDENTIALS, PROC_PARENT,
	    source_credentials_password_unterminated,
	    "SOURCE_CREDENTIALS: credentials not terminated" },
	{ "insert_ca_of_a_private_key_refused", MSG_INSERT_CA, PROC_SESSIOND,
	    insert_ca_with_a_key, "INSERT_CA: pem is not one certificate" },
	{ "insert_ca_with_text_after_the_certificate_refused", MSG_INSERT_CA,
	    PROC_SESSIOND, insert_ca_with_text_after,
	    "INSERT_CA: pem is not one certificate" },
	{ "insert_ca_index_past_its_count_refused", MSG_INSERT_CA,
	    PROC_SESSIOND, insert_ca_index_past_count,
	    "INSERT_CA: index or count out of range" },
	{ "insert_ca_count_5_refused", MSG_INSERT_CA, PROC_SESSIOND,
	    insert_ca_five, "INSERT_CA: index or count out of range" },
	{ "insert_ca_with_verify_0_refused", MSG_INSERT_CA, PROC_SESSIOND,
	    insert_ca_without_verify, "INSERT_CA: a CA with verification off" },
	{ "source_ca_verify_off_with_a_pem_refused", MSG_SOURCE_CA, PROC_PARENT,
	    source_ca_off_with_a_pem, "SOURCE_CA: a CA with verification off" },
	{ "source_ca_of_a_private_key_refused", MSG_SOURCE_CA, PROC_PARENT,
	    insert_ca_with_a_key, "SOURCE_CA: pem is not one certificate" },
	{ "source_insert_cas_without_verify_refused", MSG_SOURCE_INSERT,
	    PROC_SESSIOND, source_insert_cas_without_verify,
	    "SOURCE_INSERT: verify or ncas out of range" },
	{ "source_insert_five_cas_refused", MSG_SOURCE_INSERT, PROC_SESSIOND,
	    source_insert_five_cas,
	    "SOURCE_INSERT: verify or ncas out of range" },
};

static void
test_bad_fields(void)
{
	static unsigned char buf[sizeof(struct msg_hdr) + MSG_PAYLOAD_MAX];
	static struct msg spoilt, m;
	const struct bad_case *b;
	enum msg_proc self, peer;
	char name[128];
	const char *why;
	size_t i, len;
	int fd;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		b = &bad_cases[i];
		ends_of(b->type, &self, &peer);
		fd = msg_info(b->type)->fd == MSG_FD_ALWAYS ? 9 : -1;
		valid_payload(b->type, &spoilt);
		b->spoil(&spoilt);
		len = encode(buf, b->type, &spoilt);
		why = msg_decode(buf, len, fd, self, b->from, &m);
		snprintf(name, sizeof(name), "msg_decode_%s", b->test);
		test_result(name, why != NULL && strcmp(why, b->want) == 0,
		    "reason \"%s\", want \"%s\"", why ? why : "accepted",
		    b->want);
	}
	/* The same AUDIT that blockd may not send, sessiond may. */
	valid_payload(MSG_AUDIT, &spoilt);
	audit_login(&spoilt);
	len = encode(buf, MSG_AUDIT, &spoilt);
	why = msg_decode(buf, len, -1, PROC_PARENT, PROC_SESSIOND, &m);
	test_result("msg_decode_audit_login_from_sessiond_accepted",
	    why == NULL, "%s", why ? why : "");
	/* The reconnect window's events come after the parent's own. */
	{
		static const int32_t window[] = { AUDIT_EV_RECONNECTING,
			AUDIT_EV_RESUMED, AUDIT_EV_RESUME_REFUSED,
			AUDIT_EV_RECONNECT_ENDED };
		size_t i;
		int ok = 1;

		for (i = 0; i < sizeof(window) / sizeof(window[0]); i++) {
			valid_payload(MSG_AUDIT, &spoilt);
			spoilt.u.audit.event = window[i];
			len = encode(buf, MSG_AUDIT, &spoilt);
			if (msg_decode(buf, len, -1, PROC_PARENT, PROC_SESSIOND,
				&m) != NULL ||
			    msg_decode(buf, len, -1, PROC_PARENT, PROC_BLOCKD,
				&m) == NULL)
				ok = 0;
		}
		test_result("msg_decode_audit_reconnect_events_from_sessiond_"
			    "only",
		    ok, "one was refused from sessiond or taken from blockd");
	}
	(void)peer;
}

void
test_contract(void)
{
	test_table_rows();
	test_channels();
	test_bad_fields();
}

/* --- the table for ARCHITECTURE.md -------------------------------------- */

/* "parent", "sessiond, blockd", or "children" for all three. */
static const char *
procs_text(unsigned int mask)
{
	static char buf[64];
	int p;

	if (mask == CHILDREN)
		return "children";
	buf[0] = '\0';
	for (p = 0; p < PROC_MAX; p++)
		if (mask & PROC_BIT(p))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
			    "%s%s", buf[0] ? ", " : "", msg_proc_name(p));
	return buf;
}

static void
print_types(FILE *f, int proc, int sends)
{
	const struct msg_info *info;
	uint32_t t;
	int first = 1;

	for (t = 1; t < MSG_TYPE_COUNT; t++) {
		if ((info = msg_info(t)) == NULL ||
		    !((sends ? info->from : info->to) & PROC_BIT(proc)))
			continue;
		fprintf(f, "%s`%s`", first ? "" : ", ", info->name);
		first = 0;
	}
}

/* The contract as markdown, from the table itself: it cannot drift. */
void
print_table(FILE *f)
{
	const struct msg_info *info;
	static const int order[] = { PROC_PARENT, PROC_SESSIOND, PROC_BLOCKD,
		PROC_HOOKD, PROC_LAUNCHER };
	uint32_t t;
	size_t i;

	fprintf(f,
	    "| type | from | to | payload | fd | the receiver checks |\n"
	    "| --- | --- | --- | --- | --- | --- |\n");
	for (t = 1; t < MSG_TYPE_COUNT; t++) {
		if ((info = msg_info(t)) == NULL)
			continue;
		fprintf(f, "| `%s` | %s ", info->name, procs_text(info->from));
		fprintf(f, "| %s | %s%s%s | %s | %s |\n", procs_text(info->to),
		    info->size > 0 ? "`" : "", info->payload,
		    info->size > 0 ? "`" : "",
		    info->fd == MSG_FD_ALWAYS ? "yes" : "no", info->checks);
	}
	fprintf(f, "\n| process | says | hears |\n| --- | --- | --- |\n");
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		fprintf(f, "| %s | ", msg_proc_name(order[i]));
		print_types(f, order[i], 1);
		fprintf(f, " | ");
		print_types(f, order[i], 0);
		fprintf(f, " |\n");
	}
}

/* The text between the markers, or NULL if they are not there. */
static char *
page_table(const char *page)
{
	const char *begin, *end;
	char *text;

	if ((begin = strstr(page, TABLE_BEGIN "\n")) == NULL ||
	    (end = strstr(begin, "\n" TABLE_END)) == NULL)
		return NULL;
	begin += strlen(TABLE_BEGIN "\n");
	if ((text = strndup(begin, end + 1 - begin)) == NULL)
		abort();
	return text;
}

static char *
read_file(const char *path)
{
	char *buf = NULL;
	size_t len;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) == -1) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/*
 * The page must show the table this build prints, between the markers:
 * regenerate it with make -s -C regress/msg table when the table changes.
 */
void
test_architecture(const char *path)
{
	char *page, *shown, *printed = NULL, needle[64];
	size_t len = 0, i;
	FILE *f;
	int missing = 0;

	if ((page = read_file(path)) == NULL) {
		test_result("architecture_md_names_every_message_type", 0,
		    "cannot read %s", path);
		return;
	}
	shown = page_table(page);
	for (i = 0; i < ncontract; i++) {
		snprintf(needle, sizeof(needle), "| `%s` |", contract[i].name);
		if (shown == NULL || strstr(shown, needle) == NULL) {
			fprintf(stderr, "%s: no row for %s\n", path,
			    contract[i].name);
			missing++;
		}
	}
	test_result("architecture_md_names_every_message_type", missing == 0,
	    "%d types missing from %s", missing, path);
	if ((f = open_memstream(&printed, &len)) == NULL)
		abort();
	print_table(f);
	fclose(f);
	test_result("architecture_md_message_table_is_the_printed_one",
	    shown != NULL && strcmp(shown, printed) == 0,
	    "%s differs from "
	    "msg_test -M between its markers: make -s -C regress/msg table",
	    path);
	free(printed);
	free(shown);
	free(page);
}
