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
	    "      --login user:pw      log in first (POST /api/login), then use its cookie\n"
	    "      --resume             once attached, fetch the resume secret; after the\n"
	    "                           --die-after-bytes cut, resume the session with it\n"
	    "      --resume-after s     seconds to wait after the cut (default 1)\n"
	    "      --resume-wait file   or wait until file exists\n"
	    "      --resume-image file  serve this image after the cut\n"
	    "      --secret-file file   write the resume secret there (tests)\n"
	    "      --cut-rst            the cut resets the connection instead of a FIN\n"
	    "      --cut-silent         the cut leaves the connection open but unused\n"
	    "      --cut-after-requests n  cut between requests, after n answered\n"
	    "      --cut-after-written n   cut once n bytes are written, that write\n"
	    "                           stored but not answered\n"
	    "      --cookie name=value  the login's cookie (and Origin) on every request\n"
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

/* The resume secret's child and pipe, while the first session runs. */
static int secret_fd = -1;
static pid_t secret_pid = -1;
static const struct peer_url *secret_url;

/*
 * The first session is attached: say so (--ready) and start fetching the
 * resume secret (--resume). A resumed session does neither again.
 */
static int
ready(const struct peer_opts *o, uint64_t size)
{
	static int sessions;

	(void)size;
	if (sessions++ > 0)
		return 0;
	if (o->ready_file != NULL && write_ready(o->ready_file) == -1)
		return -1;
	if (o->resume &&
	    (secret_fd = api_fetch_secret(secret_url, o, &secret_pid)) == -1)
		return -1;
	return 0;
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
	OPT_LOGIN,
	OPT_RESUME,
	OPT_RESUME_AFTER,
	OPT_RESUME_WAIT,
	OPT_RESUME_IMAGE,
	OPT_SECRET_FILE,
	OPT_CUT_RST,
	OPT_CUT_AFTER_REQUESTS,
	OPT_CUT_AFTER_WRITTEN,
	OPT_COOKIE,
	OPT_CUT_SILENT,
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
	{ "login", required_argument, NULL, OPT_LOGIN },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "resume-after", required_argument, NULL, OPT_RESUME_AFTER },
	{ "resume-wait", required_argument, NULL, OPT_RESUME_WAIT },
	{ "resume-image", required_argument, NULL, OPT_RESUME_IMAGE },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "cut-rst", no_argument, NULL, OPT_CUT_RST },
	{ "cut-after-requests", required_argument, NULL,
	    OPT_CUT_AFTER_REQUESTS },
	{ "cut-after-written", required_argument, NULL, OPT_CUT_AFTER_WRITTEN },
	{ "cookie", required_argument, NULL, OPT_COOKIE },
	{ "cut-silent", no_argument, NULL, OPT_CUT_SILENT },
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
	case OPT_LOGIN:
		if (strchr(arg, ':') != NULL && arg[0] != ':') {
			o->login = arg;
			return 0;
		}
		break;
	case OPT_RESUME:
		o->resume = 1;
		o->on_ready = ready;
		return 0;
	case OPT_RESUME_AFTER:
		if (peer_parse_size(arg, &v) == 0 && v <= 3600) {
			o->resume_after = (int)v;
			return 0;
		}
		break;
	case OPT_RESUME_WAIT:
		o->resume_wait = arg;
		return 0;
	case OPT_RESUME_IMAGE:
		o->resume_image = arg;
		return 0;
	case OPT_SECRET_FILE:
		o->secret_file = arg;
		return 0;
	case OPT_CUT_RST:
		o->cut_rst = 1;
		return 0;
	case OPT_CUT_SILENT:
		o->cut_silent = 1;
		return 0;
	case OPT_CUT_AFTER_REQUESTS:
		if (peer_parse_size(arg, &o->cut_after_requests) == 0)
			return 0;
		break;
	case OPT_CUT_AFTER_WRITTEN:
		if (peer_parse_size(arg, &o->cut_after_written) == 0)
			return 0;
		break;
	case OPT_COOKIE:
		if (strchr(arg, '=') != NULL &&
		    strlen(strchr(arg, '=') + 1) < sizeof(o->cookie) &&
		    strpbrk(arg, "\r\n;") == NULL) {
			snprintf(o->cookie, sizeof(o->cookie), "%s",
			    strchr(arg, '=') + 1);
			return 0;
		}
		break;
	default:
		return -1;
	}
	peer_warnx("bad value for --%s: \"%s\"", option_name(ch), arg);
	return -1;
}

/* Writes the secret where the tests read it, then renames it there. */
static int
write_secret(const char *path, const char *hex)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "%s\n", hex);
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		return -1;
	return 0;
}

/*
 * After the cut: wait, arm the resume with the secret, and serve the
 * same (or --resume-image) image on a new WebSocket.
 */
static int
resume(const struct peer_url *url, int fd, struct peer_opts *o, uint64_t size)
{
	char hex[65];
	struct stat sb;
	int rfd = fd, rc, status, i;

	if (api_secret_collect(secret_fd, secret_pid, hex) == -1) {
		peer_warnx("resume: no secret was given");
		return PEER_EXIT_LOCAL;
	}
	if (o->secret_file != NULL && write_secret(o->secret_file, hex) == -1) {
		peer_warnx("%s: %s", o->secret_file, strerror(errno));
		return PEER_EXIT_LOCAL;
	}
	if (o->resume_wait != NULL) {
		for (i = 0; access(o->resume_wait, F_OK) == -1; i++)
			usleep(100000);
	} else
		sleep(o->resume_after);
	if (o->resume_image != NULL) {
		if ((rfd = peer_open_image(o->resume_image, o, &sb)) == -1)
			return PEER_EXIT_LOCAL;
		size = peer_export_size(o, &sb);
	}
	peer_log(1, "resuming");
	status = api_resume(url, o, hex);
	explicit_bzero(hex, sizeof(hex));
	if (status != 200)
		return PEER_EXIT_REFUSED;
	o->die_after_bytes = UINT64_MAX;
	o->cut_after_requests = 0;
	o->cut_after_written = 0;
	peer_stats.cut = 0;
	rc = peer_run(url, rfd, o, size);
	if (rfd != fd)
		close(rfd);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct peer_opts o = { .max_frame = DEFAULT_MAX_FRAME,
		.die_after_bytes = UINT64_MAX,
		.resume_after = 1 };
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

	secret_url = &url;
	if (o.login != NULL && api_login(&url, &o) == -1)
		return PEER_EXIT_REFUSED;
	rc = peer_run(&url, fd, &o, peer_export_size(&o, &sb));
	if (o.resume && peer_stats.cut && rc == PEER_EXIT_OK)
		rc = resume(&url, fd, &o, peer_export_size(&o, &sb));
	else if (secret_pid > 0) {
		kill(secret_pid, SIGTERM);
		(void)api_secret_collect(secret_fd, secret_pid,
		    (char[65]){ 0 });
	}
	stats_print();
	close(fd);
	return rc;
}
