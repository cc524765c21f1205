/*
 * vmedia-attach: attaches a local image file to a vmediad export from the
 * command line, as the web page does: the image is served as an NBD server
 * over a WebSocket until the session ends (an eject, ^C, or the server
 * ends it). Logins by password (prompted, or read from a file) or by a
 * login token from a file; never from the command line.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

#define MAX_FRAME (1024 * 1024)
#define SECRET_MAX 1024
#define EXPORT_MAX 31 /* vmediad's names: 1 to 31 characters */

struct attach {
	const char *image;
	const char *url;
	const char *export;
	const char *user;
	const char *password_file;
	const char *token_file;
	const char *ca_file;
	int quiet;
	int writable;
};

static int show_progress; /* stderr is a terminal and not -q */
static struct timespec last_tick;
static uint64_t last_bytes;

/* The terminal while the password prompt has echo off, to restore. */
static volatile sig_atomic_t tty_fd = -1;
static struct termios tty_saved;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vmedia-attach [-hqvw] [-c cafile] [-e export] "
	    "[-u user [-p file]]\n"
	    "                     [-t tokenfile] image url\n");
}

static void
help(void)
{
	usage(stdout);
	printf(
	    "Attaches IMAGE to a vmediad export at URL (https://host[:port]/)\n"
	    "until the session ends: ejected, ^C, or the server ends it.\n"
	    "  -c, --ca file          trust this CA (PEM) instead of the system's\n"
	    "  -e, --export name      the export (else URL's path: /nbd/NAME)\n"
	    "  -p, --password-file f  with -u: the password, its first line\n"
	    "  -q, --quiet            no progress on a terminal\n"
	    "  -t, --token-file f     a login token (POST /api/login), first line\n"
	    "  -u, --user name        log in as name; the password is prompted\n"
	    "  -v, --verbose          say more; twice: every request\n"
	    "  -w, --write            offer writes (read-only by default)\n"
	    "Exit: 0 clean end, 1 usage or local error, 2 login refused,\n"
	    "3 export refused (unknown, not allowed, busy), 4 connection\n"
	    "failed or lost (also TLS). See vmedia-attach(1).\n");
}

/* --- terminal output, from the main loop and the signal handlers -------- */

/* Whole, then tenths: n / unit to one decimal, integers only. */
static int
put_tenths(char *buf, size_t size, uint64_t n, uint64_t unit)
{
	uint64_t t = n / (unit / 10 ? unit / 10 : 1);

	return snprintf(buf, size, "%" PRIu64 ".%" PRIu64, t / 10, t % 10);
}

static int64_t
ns_since(const struct timespec *t, const struct timespec *now)
{
	return (int64_t)(now->tv_sec - t->tv_sec) * 1000000000 +
	    (now->tv_nsec - t->tv_nsec);
}

/*
 * One line, rewritten in place: what was served and at what rate since
 * the last. Async-signal-safe in practice: integer formats and write.
 */
static void
progress_line(const char *end)
{
	struct timespec now;
	uint64_t rd = peer_stats.bytes_read, wr = peer_stats.bytes_written;
	uint64_t bytes = rd + wr, rate = 0;
	int64_t ns;
	char line[160];
	int n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = ns_since(&last_tick, &now);
	/* Bytes per second in tenths of a MB/s: bytes * 1e4 / ns. */
	if (ns > 0 && bytes >= last_bytes)
		rate = (bytes - last_bytes) * 10000 / (uint64_t)ns;
	last_tick = now;
	last_bytes = bytes;
	n = snprintf(line, sizeof(line), "\r%s: ", peer_progname);
	n += put_tenths(line + n, sizeof(line) - n, rd, 1024 * 1024);
	n += snprintf(line + n, sizeof(line) - n, " MiB read, ");
	n += put_tenths(line + n, sizeof(line) - n, wr, 1024 * 1024);
	n += snprintf(line + n, sizeof(line) - n,
	    " MiB written, %" PRIu64 ".%" PRIu64 " MB/s   %s", rate / 10,
	    rate % 10, end);
	(void)!write(STDERR_FILENO, line, n);
	peer_line_open = *end != '\n';
}

static void
on_alarm(int sig)
{
	int saved = errno;

	(void)sig;
	progress_line("");
	errno = saved;
}

/*
 * The first ^C (or SIGTERM) ends the session as an eject does; a second,
 * or one before the session began, exits at once.
 */
static void
on_stop(int sig)
{
	if (tty_fd != -1) {
		(void)tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
		(void)!write(tty_fd, "\n", 1);
	}
	if (!peer_live)
		_exit(128 + sig);
	if (peer_stop) {
		if (show_progress)
			(void)!write(STDERR_FILENO, "\n", 1);
		_exit(PEER_EXIT_ABNORMAL);
	}
	peer_stop = 1;
}

static void
signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL); /* EPIPE is handled where it occurs */
	/* No SA_RESTART: a blocked read returns, to end the session. */
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
}

/* After the NBD handshake: say so on a terminal, start the progress. */
static int
on_ready(const struct peer_opts *o, uint64_t size)
{
	struct itimerval it = { { 1, 0 }, { 1, 0 } };

	if (show_progress || peer_verbose)
		peer_warnx("attached: %" PRIu64 " bytes%s; ^C ends the session",
		    size, o->read_only ? ", read-only" : ", writable");
	if (!show_progress)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &last_tick);
	last_bytes = 0;
	progress_line("");
	if (setitimer(ITIMER_REAL, &it, NULL) == -1)
		peer_warnx("setitimer: %s", strerror(errno));
	return 0;
}

static void
progress_end(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };

	if (!show_progress)
		return;
	(void)setitimer(ITIMER_REAL, &off, NULL);
	if (last_tick.tv_sec != 0)
		progress_line("\n");
}

/* --- secrets ------------------------------------------------------------- */

/* A line of printable characters, 1 to SECRET_MAX - 1 long. */
static int
secret_valid(const char *s)
{
	size_t len = strlen(s), i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return len > 0;
}

/* The first line of path into buf; -1 (said why) if none. */
static int
secret_file(const char *path, const char *what, char *buf, size_t size)
{
	struct stat sb;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1) {
		peer_warnx("%s file %s: %s", what, path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO))
		peer_warnx(
		    "warning: others may read the %s file %s (chmod 600)", what,
		    path);
	n = read(fd, buf, size - 1);
	close(fd);
	if (n == -1) {
		peer_warnx("%s file %s: %s", what, path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!secret_valid(buf)) {
		peer_warnx("%s file %s: no %s on its first line", what, path,
		    what);
		return -1;
	}
	return 0;
}

/* Asks on the terminal with echo off; -1 (said why) if there is none. */
static int
secret_prompt(const char *user, const char *host, char *buf, size_t size)
{
	struct termios t;
	char prompt[320];
	ssize_t n;
	int fd;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) == -1 ||
	    tcgetattr(fd, &tty_saved) == -1) {
		peer_warnx("no terminal to ask for %s's password: give it "
			   "with -p FILE",
		    user);
		if (fd != -1)
			close(fd);
		return -1;
	}
	t = tty_saved;
	t.c_lflag &= ~(ECHO | ECHOE | ECHOK | ECHONL);
	tty_fd = fd;
	n = snprintf(prompt, sizeof(prompt), "Password for %s at %s: ", user,
	    host);
	if (tcsetattr(fd, TCSAFLUSH, &t) == -1 || write(fd, prompt, n) != n) {
		peer_warnx("/dev/tty: %s", strerror(errno));
		n = -1;
	} else
		while ((n = read(fd, buf, size - 1)) == -1 && errno == EINTR)
			;
	(void)tcsetattr(fd, TCSAFLUSH, &tty_saved);
	tty_fd = -1;
	(void)!write(fd, "\n", 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!secret_valid(buf)) {
		peer_warnx("no password given");
		return -1;
	}
	return 0;
}

/* --- the command line ---------------------------------------------------- */

static int
host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int
export_valid(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= EXPORT_MAX && s[0] != '-' && s[0] != '.' &&
	    strspn(s,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789._-") == len;
}

/*
 * https://host[:port][/prefix/] (or http, wss, ws) and the export: the
 * WebSocket URL /prefix/nbd/EXPORT; without -e, the path as given ("/"
 * is the daemon's default export for this user). 0, or -1 (said why).
 */
static int
attach_url(const struct attach *a, struct peer_url *u)
{
	char ws[sizeof(u->path) + 512];
	const char *rest = a->url;
	size_t len;

	if (strncasecmp(rest, "https://", 8) == 0)
		snprintf(ws, sizeof(ws), "wss://%s", rest + 8);
	else if (strncasecmp(rest, "http://", 7) == 0)
		snprintf(ws, sizeof(ws), "ws://%s", rest + 7);
	else
		snprintf(ws, sizeof(ws), "%s", rest);
	if (peer_parse_url(ws, u) == -1) {
		peer_warnx("bad URL \"%s\": want https://host[:port]/", a->url);
		return -1;
	}
	if (a->export == NULL)
		return 0;
	if (!export_valid(a->export)) {
		peer_warnx("bad export name \"%s\"", a->export);
		return -1;
	}
	len = strlen(u->path);
	if (strchr(u->path, '?') != NULL ||
	    len + strlen(a->export) + 6 > sizeof(u->path)) {
		peer_warnx("URL \"%s\": with -e, a path is a prefix only",
		    a->url);
		return -1;
	}
	snprintf(u->path + len, sizeof(u->path) - len, "%snbd/%s",
	    u->path[len - 1] == '/' ? "" : "/", a->export);
	return 0;
}

/* The login: Basic user:password, or Bearer from the token file. */
static int
attach_login(const struct attach *a, const struct peer_url *u,
    struct peer_opts *o, char *cred, size_t size)
{
	char secret[SECRET_MAX];
	size_t n;

	if ((a->token_file != NULL || a->user != NULL) && !u->tls &&
	    !host_is_loopback(u->host)) {
		peer_warnx("will not send a %s in clear to %s: use https://",
		    a->token_file != NULL ? "token" : "password", u->host);
		return -1;
	}
	if (a->token_file != NULL) {
		n = snprintf(cred, size, "Authorization: Bearer ");
		if (secret_file(a->token_file, "token", cred + n, size - n) ==
		    -1)
			return -1;
		if (strpbrk(cred + n, " \t") != NULL) {
			peer_warnx("token file %s: not a token", a->token_file);
			return -1;
		}
		o->headers[o->nheaders++] = cred;
		return 0;
	}
	if (a->user == NULL)
		return 0;
	if ((a->password_file != NULL ?
		    secret_file(a->password_file, "password", secret,
			sizeof(secret)) :
		    secret_prompt(a->user, u->authority, secret,
			sizeof(secret))) == -1)
		return -1;
	snprintf(cred, size, "%s:%s", a->user, secret);
	explicit_bzero(secret, sizeof(secret));
	o->basic = cred;
	return 0;
}

static const struct option longopts[] = {
	{ "ca", required_argument, NULL, 'c' },
	{ "export", required_argument, NULL, 'e' },
	{ "help", no_argument, NULL, 'h' },
	{ "password-file", required_argument, NULL, 'p' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "token-file", required_argument, NULL, 't' },
	{ "user", required_argument, NULL, 'u' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "write", no_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};

/* 0, or -1 after saying what is wrong. */
static int
parse_args(int argc, char *argv[], struct attach *a, struct peer_opts *o)
{
	int ch;

	while ((ch = getopt_long(argc, argv, "c:e:hp:qt:u:vw", longopts,
		    NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->ca_file = optarg;
			break;
		case 'e':
			a->export = optarg;
			break;
		case 'h':
			help();
			exit(PEER_EXIT_OK);
		case 'p':
			a->password_file = optarg;
			break;
		case 'q':
			a->quiet = 1;
			break;
		case 't':
			a->token_file = optarg;
			break;
		case 'u':
			a->user = optarg;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'w':
			a->writable = 1;
			break;
		default:
			return -1;
		}
	}
	if (argc - optind != 2)
		return -1;
	a->image = argv[optind];
	a->url = argv[optind + 1];
	if (a->password_file != NULL && a->user == NULL) {
		peer_warnx("-p needs -u: whose password is it?");
		return -1;
	}
	if (a->token_file != NULL && a->user != NULL) {
		peer_warnx("-t and -u: a token or a password, not both");
		return -1;
	}
	/* RFC 7617: the user name cannot hold a colon. */
	if (a->user != NULL &&
	    (!secret_valid(a->user) || strchr(a->user, ':') != NULL)) {
		peer_warnx("bad user name \"%s\"", a->user);
		return -1;
	}
	return 0;
}

/* A refusal, said in a person's terms after the server's own words. */
static void
explain(int rc)
{
	if (rc == PEER_EXIT_LOGIN)
		peer_warnx("login refused: check the user name and password "
			   "(or token)");
	else if (rc == PEER_EXIT_REFUSED)
		peer_warnx("the export refused the session (see above)");
	else if (rc == PEER_EXIT_ABNORMAL)
		peer_warnx("connection failed or lost");
}

int
main(int argc, char *argv[])
{
	struct attach a = { 0 };
	struct peer_opts o = { .max_frame = MAX_FRAME,
		.die_after_bytes = UINT64_MAX,
		.on_ready = on_ready };
	static char cred[SECRET_MAX + 64];
	struct peer_url url;
	struct stat sb;
	int fd, rc;

	peer_progname = "vmedia-attach";
	if (parse_args(argc, argv, &a, &o) == -1) {
		usage(stderr);
		return PEER_EXIT_LOCAL;
	}
	peer_verbose = o.verbose;
	o.read_only = !a.writable;
	show_progress = !a.quiet && isatty(STDERR_FILENO);
	if (attach_url(&a, &url) == -1)
		return PEER_EXIT_LOCAL;
	/* Nothing to serve, nothing to ask: before any password. */
	if ((fd = peer_open_image(a.image, &o, &sb)) == -1)
		return PEER_EXIT_LOCAL;
	if (url.tls && tls_init(a.ca_file, 0) == -1)
		return PEER_EXIT_LOCAL;
	signals();
	if (attach_login(&a, &url, &o, cred, sizeof(cred)) == -1)
		return PEER_EXIT_LOCAL;
	peer_log(1, "attaching %s to %s%s", a.image, url.authority, url.path);

	rc = peer_run(&url, fd, &o, peer_export_size(&o, &sb));
	explicit_bzero(cred, sizeof(cred));
	progress_end();
	if (rc == PEER_EXIT_OK && peer_stop && (show_progress || peer_verbose))
		peer_warnx("session ended (interrupted)");
	explain(rc);
	close(fd);
	return rc;
}
