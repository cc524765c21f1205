/*
 * nbdkit's last words in plain ones: the launcher keeps the tail of each
 * nbdkit's stderr (bounded) and, when it exits, finds here a short reason
 * a user can act on ("connection refused", "HTTP 404").
 */
#include <stdio.h>
#include <string.h>

#include "source.h"

/*
 * What nbdkit 1.32's nbd and curl plugins (libnbd, GnuTLS, libcurl) say,
 * first match wins within a line; lines are read from the last one up.
 */
static const struct {
	const char *says;
	const char *means;
} source_words[] = {
	{ "Could not resolve host", "DNS: host not found" },
	{ "Name or service not known", "DNS: host not found" },
	{ "No address associated with hostname", "DNS: host not found" },
	{ "Temporary failure in name resolution", "DNS: no answer" },
	{ "Connection refused", "connection refused" },
	{ "Couldn't connect to server", "connection refused" },
	{ "No route to host", "no route to host" },
	{ "Network is unreachable", "network unreachable" },
	{ "timed out", "connection timed out" },
	{ "SSL certificate problem", "TLS: certificate verify failed" },
	{ "certificate verify failed", "TLS: certificate verify failed" },
	{ "certificate verification", "TLS: certificate verify failed" },
	{ "NOT trusted", "TLS: certificate verify failed" },
	{ "SSL peer certificate", "TLS: certificate verify failed" },
	{ "gnutls_handshake", "TLS: handshake failed (wrong key?)" },
	{ "TLS handshake", "TLS: handshake failed" },
	{ "does not support 'range'",
	    "HTTP: no Range requests (a redirect? they are not followed)" },
	{ "server has no export named",
	    "NBD: the upstream has no such export" },
	{ "Connection reset by peer", "the upstream reset the connection" },
	{ "disconnected", "the upstream went away" },
};

/* "... returned error: 404" (libcurl's words): "HTTP 404". */
static int
http_status(const char *line, char *out, size_t size)
{
	const char *p = strstr(line, "returned error: ");
	int code = 0, i;

	if (p == NULL)
		return 0;
	p += strlen("returned error: ");
	for (i = 0; i < 3; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		code = code * 10 + (p[i] - '0');
	}
	if (code < 100 || (p[3] >= '0' && p[3] <= '9'))
		return 0;
	snprintf(out, size, "HTTP %d", code);
	return 1;
}

/* Only nbdkit's error lines ("nbdkit: curl[1]: error: ..."). */
static int
line_reason(const char *line, char *out, size_t size)
{
	size_t i;

	if (strstr(line, "error") == NULL)
		return 0;
	if (http_status(line, out, size))
		return 1;
	for (i = 0; i < sizeof(source_words) / sizeof(source_words[0]); i++)
		if (strstr(line, source_words[i].says) != NULL) {
			snprintf(out, size, "%s", source_words[i].means);
			return 1;
		}
	return 0;
}

/*
 * The reason in text[0..len) (any bytes: a NUL or a byte that is not
 * text just ends a line), in out. Returns 1 if one was found, else 0.
 */
int
source_reason(const char *text, size_t len, char *out, size_t size)
{
	char line[SOURCE_STDERR_MAX + 1];
	size_t end = len, start, n;

	out[0] = '\0';
	if (len > SOURCE_STDERR_MAX)
		return 0;
	while (end > 0) {
		start = end;
		while (start > 0 && text[start - 1] != '\n' &&
		    text[start - 1] != '\0')
			start--;
		n = end - start;
		memcpy(line, text + start, n);
		line[n] = '\0';
		if (line_reason(line, out, size))
			return 1;
		end = start > 0 ? start - 1 : 0;
	}
	return 0;
}
