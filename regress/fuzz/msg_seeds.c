/*
 * Writes the msg fuzz seeds: one datagram of every message type, encoded
 * by msg_send itself, with a real config (from the file given) inside,
 * each one that its receiver accepts, so fuzzing starts past the checks.
 * The seeds carry no fd; fuzz_msg decodes each input with and without.
 * Usage: msg_seeds vmediad.conf outdir
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"

static void
print_error(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s\n", line);
}

static void
seed(int sp[2], const char *dir, const char *name, enum msg_type type,
    const void *payload, size_t len)
{
	unsigned char buf[sizeof(struct msg_hdr) + MSG_PAYLOAD_MAX];
	char path[4096];
	ssize_t n;
	int fd;

	if (msg_send(sp[0], type, payload, len, -1) == -1 ||
	    (n = recv(sp[1], buf, sizeof(buf), 0)) == -1) {
		perror(name);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    write(fd, buf, n) != n || close(fd) == -1) {
		perror(path);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	static struct msg_ca ca;
	static struct conf conf;
	struct msg_conf_end end = { 1, 0, 0 };
	struct msg_ping ping = { 42 };
	struct msg_listener listener;
	struct msg_attach attach;
	struct msg_attach_result attached;
	struct msg_detach detach;
	struct msg_hook hook;
	struct msg_hook_done hook_done;
	struct msg_audit audit;
	int sp[2];

	if (argc != 3) {
		fprintf(stderr, "usage: msg_seeds vmediad.conf outdir\n");
		return 1;
	}
	if (conf_parse_file(&conf, argv[1], print_error, NULL) != 0)
		return 1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == -1) {
		perror("socketpair");
		return 1;
	}
	end.nexports = conf.nexports;
	end.nusers = conf.nusers;
	seed(sp, argv[2], "conf_global", MSG_CONF_GLOBAL, &conf.global,
	    sizeof(conf.global));
	seed(sp, argv[2], "conf_export_device", MSG_CONF_EXPORT,
	    &conf.exports[0], sizeof(conf.exports[0]));
	seed(sp, argv[2], "conf_export_socket", MSG_CONF_EXPORT,
	    &conf.exports[1], sizeof(conf.exports[1]));
	seed(sp, argv[2], "conf_user", MSG_CONF_USER, &conf.users[0],
	    sizeof(conf.users[0]));
	seed(sp, argv[2], "conf_end", MSG_CONF_END, &end, sizeof(end));
	seed(sp, argv[2], "ping", MSG_PING, &ping, sizeof(ping));
	seed(sp, argv[2], "pong", MSG_PONG, &ping, sizeof(ping));
	seed(sp, argv[2], "shutdown", MSG_SHUTDOWN, NULL, 0);
	seed(sp, argv[2], "test_syscall", MSG_TEST_SYSCALL, NULL, 0);

	/* The data path, for the device export and its user. */
	memset(&listener, 0, sizeof(listener));
	listener.kind = MSG_LISTEN_HTTP;
	seed(sp, argv[2], "listener", MSG_LISTENER, &listener,
	    sizeof(listener));
	memset(&attach, 0, sizeof(attach));
	snprintf(attach.export, sizeof(attach.export), "%s",
	    conf.exports[0].name);
	snprintf(attach.user, sizeof(attach.user), "%s", conf.users[0].name);
	attach.size = UINT64_C(1) << 30;
	attach.session = 1;
	attach.flags = 1 | 2; /* HAS_FLAGS | READ_ONLY */
	seed(sp, argv[2], "attach", MSG_ATTACH, &attach, sizeof(attach));
	memset(&attached, 0, sizeof(attached));
	memcpy(attached.export, attach.export, sizeof(attached.export));
	snprintf(attached.device, sizeof(attached.device), "%s",
	    conf.exports[0].device);
	attached.session = 1;
	attached.ok = 1;
	seed(sp, argv[2], "attached", MSG_ATTACHED, &attached,
	    sizeof(attached));
	memset(&detach, 0, sizeof(detach));
	memcpy(detach.export, attach.export, sizeof(detach.export));
	detach.session = 1;
	seed(sp, argv[2], "detach", MSG_DETACH, &detach, sizeof(detach));
	seed(sp, argv[2], "detached", MSG_DETACHED, &detach, sizeof(detach));
	memset(&hook, 0, sizeof(hook));
	memcpy(hook.export, attach.export, sizeof(hook.export));
	memcpy(hook.user, attach.user, sizeof(hook.user));
	hook.size = attach.size;
	hook.session = 1;
	hook.action = MSG_HOOK_START;
	hook.read_only = 1;
	seed(sp, argv[2], "hook_run", MSG_HOOK_RUN, &hook, sizeof(hook));
	memset(&hook_done, 0, sizeof(hook_done));
	memcpy(hook_done.export, attach.export, sizeof(hook_done.export));
	hook_done.session = 1;
	hook_done.action = MSG_HOOK_START;
	hook_done.ok = 1;
	seed(sp, argv[2], "hook_done", MSG_HOOK_DONE, &hook_done,
	    sizeof(hook_done));
	memset(&audit, 0, sizeof(audit));
	memcpy(audit.user, attach.user, sizeof(audit.user));
	snprintf(audit.addr, sizeof(audit.addr), "192.0.2.1");
	memcpy(audit.export, attach.export, sizeof(audit.export));
	snprintf(audit.target, sizeof(audit.target), "%s",
	    conf.exports[0].device);
	audit.size = attach.size;
	audit.session = 1;
	audit.event = AUDIT_EV_SESSION_START;
	seed(sp, argv[2], "audit", MSG_AUDIT, &audit, sizeof(audit));
	/* A Redfish certificate on its way to the launcher, and none. */
	memset(&ca, 0, sizeof(ca));
	memcpy(ca.export, attach.export, sizeof(ca.export));
	ca.count = 1;
	ca.verify = 1;
	snprintf(ca.pem, sizeof(ca.pem),
	    "-----BEGIN CERTIFICATE-----\n"
	    "MIIBdzCCAR2gAwIBAgIUS0VFUCBJVCBTSE9SVCBBTkQgU0lNUExFMAoGCCqGSM49\n"
	    "BAMCMBExDzANBgNVBAMMBnRlc3RjYTAeFw0yNjAxMDEwMDAwMDBaFw0yNzAxMDEw\n"
	    "-----END CERTIFICATE-----\n");
	seed(sp, argv[2], "insert_ca", MSG_INSERT_CA, &ca, sizeof(ca));
	seed(sp, argv[2], "source_ca", MSG_SOURCE_CA, &ca, sizeof(ca));
	memset(ca.pem, 0, sizeof(ca.pem));
	ca.count = ca.verify = 0;
	seed(sp, argv[2], "source_ca_no_verify", MSG_SOURCE_CA, &ca,
	    sizeof(ca));
	return 0;
}
