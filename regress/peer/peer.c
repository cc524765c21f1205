/*
 * vmedia-peer: plays the browser for tests and benchmarks, serving an
 * image file as an NBD server over a WebSocket to vmediad. The test build
 * (-DPEER_TEST) of vmedia-attach's layers (attach/), with the options the
 * suites need: faults, drops, raw headers and subprotocols.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

#define DEFAULT_MAX_FRAME (1024 * 1024)
#define MAX_FRAME_LIMIT (16 * 1024 * 1024)

static const struct {
	const char *name;
	enum peer_fault fault;
} fault_names[] = {
	{ "bad-magic", FAULT_BAD_MAGIC },
	{ "bad-handle", FAULT_BAD_HANDLE },
	{ "short-read", FAULT_SHORT_READ },
	{ "long-read", FAULT_LONG_READ },
	{ "close-mid-read", FAULT_CLOSE_MID_READ },
	{ "stall", FAULT_STALL },
	{ "bad-greeting", FAULT_BAD_GREETING },
	{ "zero-size", FAULT_ZERO_SIZE },
	{ "huge-size", FAULT_HUGE_SIZE },
	{ "bad-option-reply", FAULT_BAD_OPTION_REPLY },
	{ "slow-handshake", FAULT_SLOW_HANDSHAKE },
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vmedia-peer [-hrv] [--basic user:password] [--ca file]\n"
	    "           [--daemon-ready file] [--die-after-bytes n] [--export-name-only]\n"
	    "           [--fault kind[:n]] [--header 'Name: value'] [--insecure]\n"
	    "           [--max-frame n] [--once] [--protocol value] [--size n]\n"
	    "           ws[s]://host[:port]/path image\n");
}

static void
help(void)
{
	size_t i;

	usage(stdout);
	printf(
	    "Serves IMAGE as an NBD server over a WebSocket, as the browser does.\n"
	    "  -r, --read-only          open IMAGE read-only, advertise READ_ONLY\n"
	    "  -v, --verbose            log options; twice: every request\n"
	    "      --size n             advertise n bytes instead of the file size\n"
	    "      --max-frame n        largest WebSocket payload sent (default 1M)\n"
	    "      --protocol value     offer a Sec-WebSocket-Protocol (repeatable)\n"
	    "      --header 'N: v'      extra upgrade request header (repeatable)\n"
	    "      --basic user:pw      send Authorization: Basic on the upgrade\n"
	    "      --ca file            wss://: trust this CA or self-signed certificate\n"
	    "                           instead of the system store\n"
	    "      --insecure           wss://: do not check the server's certificate\n"
	    "      --export-name-only   know only EXPORT_NAME and ABORT, like nbd.js\n"
	    "      --fault kind[:n]     misbehave after n requests (default 0)\n"
	    "      --die-after-bytes n  drop TCP after n bytes of READ payload\n"
	    "      --daemon-ready file  write \"ready\" there after the NBD handshake\n"
	    "      --once               serve one session, then exit (the default)\n"
	    "Sizes take a K, M, G or T suffix (powers of 1024).\n"
	    "Faults (reply faults hit request n, read faults the first READ from n on):");
	for (i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
		printf("%s%s", i % 6 ? " " : "\n  ", fault_names[i].name);
	printf(
	    "\nExit: 0 clean end (also when a fault drops the connection"
	    " on\npurpose), 1 usage or local error, 2 HTTP refusal, 3 abnormal"
	    " close,\nconnection error or TLS failure (handshake, untrusted"
	    " certificate).\n");
}

/* Also called from the signal handler: snprintf and write only. */
static void
stats_print(void)
{
	struct timespec now;
	double secs;
	char line[256];
	int n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (now.tv_sec - peer_stats.start.tv_sec) +
	    (now.tv_nsec - peer_stats.start.tv_nsec) / 1e9;
	n = snprintf(line, sizeof(line),
	    "vmedia-peer: stats requests=%" PRIu64 " read=%" PRIu64
	    " written=%" PRIu64 " seconds=%.3f\n",
	    peer_stats.requests, peer_stats.bytes_read,
	    peer_stats.bytes_written, secs);
	(void)write(STDERR_FILENO, line, n);
}

static void
on_signal(int sig)
{
	(void)sig;
	stats_print();
	_exit(PEER_EXIT_ABNORMAL);
}

static int
parse_fault(const char *arg, struct peer_opts *o)
{
	const char *colon = strchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg), i;

	for (i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
		if (strlen(fault_names[i].name) == len &&
		    strncmp(fault_names[i].name, arg, len) == 0)
			break;
	if (i == sizeof(fault_names) / sizeof(fault_names[0]))
		return -1;
	o->fault = fault_names[i].fault;
	o->fault_after = 0;
	return colon ? peer_parse_size(colon + 1, &o->fault_after) : 0;
}

/* Written then renamed, so a waiting script never sees half a file. */
static int
write_ready(const char *path)
{
	char tmp[4096];
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) ==
	    -1) {
		peer_warnx("%s: %s", tmp, strerror(errno));
		return -1;
	}
	ok = write(fd, "ready\n", 6) == 6;
	if (close(fd) == -1 || !ok || rename(tmp, path) == -1) {
		peer_warnx("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
ready(const struct peer_opts *o, uint64_t size)
{
	(void)size;
	return write_ready(o->ready_file);
}

enum {
	OPT_SIZE = 256,
	OPT_MAX_FRAME,
	OPT_PROTOCOL,
	OPT_HEADER,
	OPT_NAME_ONLY,
	OPT_FAULT,
	OPT_DIE_AFTER,
	OPT_ONCE,
	OPT_READY,
	OPT_BASIC,
	OPT_CA,
	OPT_INSECURE,
};

static const struct option longopts[] = {
	{ "read-only", no_argument, NULL, 'r' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },
	{ "protocol", required_argument, NULL, OPT_PROTOCOL },
	{ "header", required_argument, NULL, OPT_HEADER },
	{ "export-name-only", no_argument, NULL, OPT_NAME_ONLY },
	{ "fault", required_argument, NULL, OPT_FAULT },
	{ "die-after-bytes", required_argument, NULL, OPT_DIE_AFTER },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "daemon-ready", required_argument, NULL, OPT_READY },
	{ "basic", required_argument, NULL, OPT_BASIC },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ NULL, 0, NULL, 0 },
};

static const char *
option_name(int ch)
{
	const struct option *lo;

	for (lo = longopts; lo->name != NULL; lo++)
		if (lo->val == ch)
			return lo->name;
	return "?";
}

/* Returns 0, or -1 after saying what is wrong. */
static int
parse_option(int ch, const char *arg, struct peer_opts *o)
{
	uint64_t v;

	switch (ch) {
	case 'r':
		o->read_only = 1;
		return 0;
	case 'v':
		o->verbose++;
		return 0;
	case OPT_SIZE:
		o->have_size = 1;
		if (peer_parse_size(arg, &o->size) == 0)
			return 0;
		break;
	case OPT_MAX_FRAME:
		if (peer_parse_size(arg, &v) == 0 && v > 0 &&
		    v <= MAX_FRAME_LIMIT) {
			o->max_frame = v;
			return 0;
		}
		break;
	case OPT_PROTOCOL:
	case OPT_HEADER:
		if (ch == OPT_PROTOCOL && o->nprotocols < PEER_MAX_LIST &&
		    strpbrk(arg, "\r\n") == NULL) {
			o->protocols[o->nprotocols++] = arg;
			return 0;
		}
		if (ch == OPT_HEADER && o->nheaders < PEER_MAX_LIST &&
		    strchr(arg, ':') != NULL && strpbrk(arg, "\r\n") == NULL) {
			o->headers[o->nheaders++] = arg;
			return 0;
		}
		break;
	case OPT_NAME_ONLY:
		o->export_name_only = 1;
		return 0;
	case OPT_FAULT:
		if (parse_fault(arg, o) == 0)
			return 0;
		break;
	case OPT_DIE_AFTER:
		if (peer_parse_size(arg, &o->die_after_bytes) == 0)
			return 0;
		break;
	case OPT_ONCE:
		return 0;
	case OPT_READY:
		o->ready_file = arg;
		o->on_ready = ready;
		return 0;
	case OPT_BASIC:
		/* RFC 7617: the user name cannot hold a colon. */
		if (strchr(arg, ':') != NULL && arg[0] != ':') {
			o->basic = arg;
			return 0;
		}
		break;
	case OPT_CA:
		o->ca_file = arg;
		return 0;
	case OPT_INSECURE:
		o->insecure = 1;
		return 0;
	default:
		return -1;
	}
	peer_warnx("bad value for --%s: \"%s\"", option_name(ch), arg);
	return -1;
}

int
main(int argc, char *argv[])
{
	struct peer_opts o = { .max_frame = DEFAULT_MAX_FRAME,
		.die_after_bytes = UINT64_MAX };
	struct peer_url url;
	struct sigaction sa;
	struct stat sb;
	int ch, fd, rc;

	while ((ch = getopt_long(argc, argv, "hrv", longopts, NULL)) != -1) {
		if (ch == 'h') {
			help();
			return PEER_EXIT_OK;
		}
		if (parse_option(ch, optarg, &o) == -1) {
			usage(stderr);
			return PEER_EXIT_LOCAL;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2) {
		usage(stderr);
		return PEER_EXIT_LOCAL;
	}
	peer_verbose = o.verbose;
	if (peer_parse_url(argv[0], &url) == -1) {
		peer_warnx("bad URL \"%s\": want ws[s]://host[:port]/path",
		    argv[0]);
		return PEER_EXIT_LOCAL;
	}
	if (url.tls && tls_init(o.ca_file, o.insecure) == -1)
		return PEER_EXIT_LOCAL;
	if ((fd = peer_open_image(argv[1], &o, &sb)) == -1)
		return PEER_EXIT_LOCAL;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	/* EPIPE is handled where it occurs. */
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = peer_run(&url, fd, &o, peer_export_size(&o, &sb));
	stats_print();
	close(fd);
	return rc;
}
