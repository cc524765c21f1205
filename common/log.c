/*
 * Logging for every vmediad process. Children always write to stderr: in
 * the foreground that is the terminal, otherwise a pipe the parent relays
 * to syslog, so a chrooted child never needs /dev/log.
 */
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int log_to_stderr = 1;
static int log_verbose;
static const char *log_name = "vmediad";

/*
 * to_stderr: foreground or child; verbose: also log debug lines.
 */
void
log_init(const char *name, int to_stderr, int verbose)
{
	log_name = name;
	log_to_stderr = to_stderr;
	log_verbose = verbose;
	if (!to_stderr)
		openlog("vmediad", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Writes one finished line; the parent also uses it for relayed lines. */
void
log_emit(int pri, const char *line)
{
	struct iovec iov[2] = {
		{ (void *)line, strlen(line) },
		{ "\n", 1 },
	};

	/* writev, not stdio: no fstat, one write per line. */
	if (log_to_stderr) {
		if (writev(STDERR_FILENO, iov, 2) == -1)
			return; /* nowhere left to say so */
		return;
	}
	syslog(pri, "%s", line);
}

static void
log_vformat(int pri, const char *err, const char *fmt, va_list ap)
{
	char msg[1024], line[1200];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err != NULL)
		snprintf(line, sizeof(line), "%s: %s: %s", log_name, msg, err);
	else
		snprintf(line, sizeof(line), "%s: %s", log_name, msg);
	log_emit(pri, line);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vformat(LOG_WARNING, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vformat(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vformat(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vformat(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vformat(LOG_CRIT, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vformat(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
