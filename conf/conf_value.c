/*
 * Turns one "key = value" into a field of the config, or an error naming
 * the line. Every string is bounded by the field it lands in.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_parse.h"

int
conf_name_valid(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len >= CONF_NAME_MAX || name[0] == '-' ||
	    name[0] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '.' || c == '_' ||
			c == '-'))
			return 0;
	}
	return 1;
}

static int
text_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' ||
		    *s == '\\')
			return 0;
	return 1;
}

static int
path_valid(const char *s)
{
	return s[0] == '/' && text_printable(s) && strstr(s, "/../") == NULL;
}

static int
device_valid(const char *s)
{
	return conf_nbd_index(s) >= 0;
}

/* Names or @groups separated by blanks or commas, each a valid name. */
static int
namelist_valid(const char *s)
{
	char word[CONF_NAME_MAX + 1];

	while (conf_list_next(&s, CONF_LIST_SEPS, word, sizeof(word)))
		if (!conf_name_valid(word[0] == '@' ? word + 1 : word))
			return 0;
	return 1;
}

static int
hash_valid(const char *s)
{
	return s[0] == '$' && strchr(s + 1, '$') != NULL && text_printable(s) &&
	    strchr(s, ' ') == NULL;
}

static int
parse_bool(const char *s, int32_t *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0) {
		*out = 1;
		return 1;
	}
	if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0) {
		*out = 0;
		return 1;
	}
	return 0;
}

static int
parse_timeout(const char *s, int32_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 3600)
		return 0;
	*out = v;
	return 1;
}

/* Bytes with an optional K, M, G or T (powers of 1024); at most 2^60. */
static int
parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return 0;
	switch (*end) {
	case 'T':
		shift += 10; /* FALLTHROUGH */
	case 'G':
		shift += 10; /* FALLTHROUGH */
	case 'M':
		shift += 10; /* FALLTHROUGH */
	case 'K':
		shift += 10;
		end++;
		break;
	case '\0':
		break;
	default:
		return 0;
	}
	if (*end != '\0' || v == 0 || v > (UINT64_C(1) << 60) >> shift)
		return 0;
	*out = (uint64_t)v << shift;
	return 1;
}

static int
parse_number(const char *s, int32_t min, int32_t max, int32_t *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return 0;
	*out = (int32_t)v;
	return 1;
}

/* http://host[:port] or https://host[:port], as browsers send Origin. */
static int
origin_valid(const char *s)
{
	const char *host;
	size_t i;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return 0;
	if (*host == '\0')
		return 0;
	for (i = 0; host[i] != '\0'; i++)
		if (!((host[i] >= 'a' && host[i] <= 'z') ||
			(host[i] >= 'A' && host[i] <= 'Z') ||
			(host[i] >= '0' && host[i] <= '9') || host[i] == '.' ||
			host[i] == '-' || host[i] == ':' || host[i] == '[' ||
			host[i] == ']'))
			return 0;
	return 1;
}

/* Module names as modprobe takes them: letters, digits, '_' and '-'. */
static int
modules_valid(const char *s)
{
	char word[CONF_NAME_MAX];

	while (conf_list_next(&s, CONF_LIST_SEPS, word, sizeof(word)))
		if (word[0] == '\0' || word[0] == '-' ||
		    word[strspn(word,
			"abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")] != '\0')
			return 0;
	return 1;
}

static int
origins_valid(const char *s)
{
	char word[CONF_LIST_MAX];

	while (conf_list_next(&s, " \t", word, sizeof(word)))
		if (!origin_valid(word))
			return 0;
	return 1;
}

/*
 * A name clients reach us by, as it appears in Host without the port: a
 * DNS name (or IPv4 address), or an IPv6 address in brackets.
 */
static int
host_valid(const char *s)
{
	struct in6_addr a6;
	char inner[INET6_ADDRSTRLEN];
	size_t i, len = strlen(s);

	if (s[0] == '[') {
		if (len < 3 || len - 2 >= sizeof(inner) || s[len - 1] != ']')
			return 0;
		memcpy(inner, s + 1, len - 2);
		inner[len - 2] = '\0';
		return inet_pton(AF_INET6, inner, &a6) == 1;
	}
	if (len == 0 || len > 253 || s[0] == '.' || s[0] == '-' ||
	    strstr(s, "..") != NULL)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
			s[i] == '-'))
			return 0;
	return 1;
}

static int
hosts_valid(const char *s)
{
	char word[CONF_LIST_MAX];

	while (conf_list_next(&s, " \t", word, sizeof(word)))
		if (!host_valid(word))
			return 0;
	return 1;
}

static int
parse_port(const char *s, in_port_t *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535 ||
	    *s == '+' || *s == '-')
		return 0;
	*port = htons((in_port_t)v);
	return 1;
}

/* "a.b.c.d:port", "[v6]:port" or an absolute Unix socket path. */
static const char *
parse_listen(const char *s, struct conf_listen *l)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr;
	struct sockaddr_un *sun = (struct sockaddr_un *)&l->addr;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port;
	size_t hostlen;

	memset(&l->addr, 0, sizeof(l->addr));
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(sun->sun_path) || !path_valid(s))
			return "not a usable socket path";
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s, strlen(s) + 1);
		l->addrlen = sizeof(*sun);
		return NULL;
	}
	if (s[0] == '[') {
		colon = strstr(s, "]:");
		if (colon == NULL)
			return "expected [address]:port";
		hostlen = colon - (s + 1);
		port = colon + 2;
		if (hostlen >= sizeof(host))
			return "address too long";
		memcpy(host, s + 1, hostlen);
		host[hostlen] = '\0';
		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return "not an IPv6 address";
		if (!parse_port(port, &sin6->sin6_port))
			return "bad port";
		l->addrlen = sizeof(*sin6);
		return NULL;
	}
	if ((colon = strrchr(s, ':')) == NULL)
		return "expected address:port";
	hostlen = colon - s;
	if (hostlen >= sizeof(host))
		return "address too long";
	memcpy(host, s, hostlen);
	host[hostlen] = '\0';
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return "not an IPv4 address (IPv6 goes in brackets)";
	if (!parse_port(colon + 1, &sin->sin_port))
		return "bad port";
	l->addrlen = sizeof(*sin);
	return NULL;
}

/* Strips a trailing " word" from value[0..*len); 1 if it was there. */
static int
strip_word(const char *value, size_t *len, const char *word)
{
	size_t wl = strlen(word);

	if (*len <= wl + 1 || value[*len - wl - 1] != ' ' ||
	    strncmp(value + *len - wl, word, wl) != 0)
		return 0;
	*len -= wl;
	while (*len > 0 && value[*len - 1] == ' ')
		(*len)--;
	return 1;
}

/*
 * nbd = 0: "listen = address [tls]", an HTTP listener (tls: HTTPS).
 * nbd = 1: "nbd-listen = address[:port] [plain]", an NBD listener on
 * port 10809 unless one is given, where clients must STARTTLS unless
 * "plain" says they need not (loopback only, checked with the rest).
 */
static void
set_listen(struct conf_ctx *ctx, const char *value, int nbd)
{
	struct conf_global *g = &ctx->conf->global;
	struct conf_listen *l;
	const char *why;
	char addr[CONF_ADDR_MAX];
	size_t len = strlen(value);
	int tls;
	const char *key = nbd ? "nbd-listen" : "listen";

	if (nbd)
		tls = !strip_word(value, &len, "plain");
	else
		tls = strip_word(value, &len, "tls");
	if (len >= sizeof(addr) - (nbd ? 6 : 0)) {
		conf_error(ctx, ctx->line, "bad %s address: too long", key);
		return;
	}
	memcpy(addr, value, len);
	addr[len] = '\0';
	/* An NBD listener's port defaults to NBD's own. */
	if (nbd && addr[0] != '/' &&
	    (addr[0] == '[' ? addr[len - 1] == ']' : strchr(addr, ':') == NULL))
		snprintf(addr + len, sizeof(addr) - len, ":%d", CONF_NBD_PORT);
	if (nbd && addr[0] == '/') {
		conf_error(ctx, ctx->line,
		    "bad nbd-listen address \"%s\": an address and port, not a "
		    "path (a socket export has its own socket)",
		    addr);
		return;
	}
	value = addr;

	if (g->nlisten == CONF_LISTEN_MAX) {
		conf_error(ctx, ctx->line,
		    "too many listen and nbd-listen addresses (max %d)",
		    CONF_LISTEN_MAX);
		return;
	}
	l = &g->listen[g->nlisten];
	if (strlen(value) >= sizeof(l->text)) {
		conf_error(ctx, ctx->line, "bad listen address: too long");
		return;
	}
	if ((why = parse_listen(value, l)) != NULL) {
		conf_error(ctx, ctx->line, "bad %s address \"%s\": %s", key,
		    value, why);
		return;
	}
	snprintf(l->text, sizeof(l->text), "%s", value);
	l->line = ctx->line;
	l->tls = tls;
	l->nbd = nbd;
	g->nlisten++;
}

/*
 * Export sources. A URI is taken apart here, once, into the pieces
 * vmediad later hands nbdkit one argument each; whatever these rules do
 * not name is refused, so no byte a shell, a URI parser or nbdkit's
 * key=value syntax could read as more than a name gets through.
 */
static const struct {
	const char *prefix;
	enum conf_scheme scheme;
} source_schemes[] = {
	{ "nbd://", CONF_SCHEME_NBD },
	{ "nbds://", CONF_SCHEME_NBDS },
	{ "nbd+unix://", CONF_SCHEME_NBD_UNIX },
	{ "https://", CONF_SCHEME_HTTPS },
	{ "http://", CONF_SCHEME_HTTP },
};

#define URI_UNRESERVED \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
	"0123456789-._~"

const char *
conf_scheme_name(enum conf_scheme scheme)
{
	size_t i;

	for (i = 0; i < sizeof(source_schemes) / sizeof(source_schemes[0]); i++)
		if (source_schemes[i].scheme == scheme)
			return source_schemes[i].prefix;
	return "";
}

static int
hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/*
 * s[0..len): unreserved characters and '/'; with escapes (an HTTP path)
 * also %XX and + , = : @. Returns NULL or what is wrong, in why.
 */
static const char *
source_chars(const char *s, size_t len, int escapes, char *why, size_t size)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c != '\0' &&
		    (strchr(URI_UNRESERVED "/", c) != NULL ||
			(escapes && strchr("+,=:@", c) != NULL)))
			continue;
		if (escapes && c == '%' && i + 2 < len && hex_digit(s[i + 1]) &&
		    hex_digit(s[i + 2])) {
			i += 2;
			continue;
		}
		if (c == '%')
			snprintf(why, size,
			    escapes ? "'%%' must start an escape such as %%20" :
				      "no %%-escapes in an NBD export name");
		else if (c == '\'')
			snprintf(why, size, "a quote (') is not allowed");
		else if (c > 0x20 && c < 0x7f)
			snprintf(why, size, "character '%c' is not allowed", c);
		else
			snprintf(why, size,
			    "character 0x%02x is not allowed (spaces and "
			    "non-ASCII bytes must be %%-escaped in a path)",
			    c);
		return why;
	}
	return NULL;
}

/* HOST[:PORT] from s[0..len): a DNS name, an IPv4 or a [IPv6] address. */
static const char *
source_authority(const char *s, size_t len, struct conf_source *src, char *why,
    size_t size)
{
	const char *colon = NULL;
	size_t hlen, plen;
	long port;
	char *end;

	if (memchr(s, '@', len) != NULL)
		return "credentials do not go in a URI (use "
		       "source-credentials)";
	if (len == 0)
		return "no host";
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL)
			return "an IPv6 address needs its closing ']'";
		hlen = close + 1 - s;
		if (hlen < len) {
			if (s[hlen] != ':')
				return "expected ':' and a port after ']'";
			colon = s + hlen;
		}
	} else {
		colon = memchr(s, ':', len);
		hlen = colon != NULL ? (size_t)(colon - s) : len;
	}
	if (hlen >= sizeof(src->host))
		return "host too long";
	memcpy(src->host, s, hlen);
	src->host[hlen] = '\0';
	if (!host_valid(src->host)) {
		snprintf(why, size,
		    "\"%s\" is not a host name, an IPv4 address or "
		    "an [IPv6] address",
		    src->host);
		return why;
	}
	if (colon == NULL)
		return NULL;
	plen = s + len - (colon + 1);
	if (plen == 0 || plen >= sizeof(src->port) ||
	    strspn(colon + 1, "0123456789") < plen)
		return "the port must be a number from 1 to 65535";
	memcpy(src->port, colon + 1, plen);
	src->port[plen] = '\0';
	port = strtol(src->port, &end, 10);
	if (port < 1 || port > 65535)
		return "the port must be a number from 1 to 65535";
	return NULL;
}

/* "socket=PATH", the one query an nbd+unix:// source takes. */
static const char *
source_unix_socket(const char *query, struct conf_source *src, char *why,
    size_t size)
{
	const char *path;
	size_t len;

	if (strncmp(query, "socket=", 7) != 0)
		return "nbd+unix:// takes exactly one query, ?socket=PATH";
	path = query + 7;
	len = strlen(path);
	if (source_chars(path, len, 0, why, size) != NULL)
		return why;
	if (len >= sizeof(src->socket))
		return "the socket path is longer than 107 characters";
	if (!path_valid(path) ||
	    (len >= 3 && strcmp(path + len - 3, "/..") == 0))
		return "the socket must be an absolute path without /../";
	memcpy(src->socket, path, len + 1);
	return NULL;
}

static const char *
source_parse(const char *uri, struct conf_source *src, char *why, size_t size)
{
	const char *rest, *slash, *query, *r;
	size_t i, alen, elen;
	int http;

	memset(src, 0, sizeof(*src));
	if (strlen(uri) >= CONF_URI_MAX)
		return "longer than 255 characters";
	for (i = 0; i < sizeof(source_schemes) / sizeof(source_schemes[0]); i++)
		if (strncmp(uri, source_schemes[i].prefix,
			strlen(source_schemes[i].prefix)) == 0)
			break;
	if (i == sizeof(source_schemes) / sizeof(source_schemes[0]))
		return "expected nbd://, nbds://, nbd+unix://, https:// or "
		       "http://";
	src->scheme = source_schemes[i].scheme;
	rest = uri + strlen(source_schemes[i].prefix);
	http =
	    src->scheme == CONF_SCHEME_HTTPS || src->scheme == CONF_SCHEME_HTTP;
	if (strchr(rest, '#') != NULL)
		return "a URI fragment ('#') is not allowed";
	query = strchr(rest, '?');
	if (query != NULL && src->scheme != CONF_SCHEME_NBD_UNIX)
		return http ? "a query ('?') is not allowed" :
			      "a query ('?') is not allowed; TLS material "
			      "goes in source-ca, source-certificate, "
			      "source-key or source-psk";
	slash = strchr(rest, '/');
	if (query != NULL && (slash == NULL || slash > query))
		slash = query;
	alen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	if (src->scheme == CONF_SCHEME_NBD_UNIX) {
		if (alen != 0 || *rest != '/')
			return "nbd+unix:// takes no host: "
			       "nbd+unix:///EXPORT?socket=PATH";
		if (query == NULL)
			return "nbd+unix:// needs ?socket=PATH";
		if ((r = source_unix_socket(query + 1, src, why, size)) != NULL)
			return r;
	} else if ((r = source_authority(rest, alen, src, why, size)) != NULL)
		return r;
	if (slash == NULL || *slash == '?') {
		if (http)
			return "needs a path to the image after the host";
		return NULL; /* the default export "" */
	}
	/* The path: an HTTP path as written, or an NBD export name. */
	elen = (query != NULL ? (size_t)(query - slash) : strlen(slash));
	if (source_chars(slash, elen, http, why, size) != NULL)
		return why;
	if (http) {
		if (elen < 2)
			return "needs a path to the image after the host";
		if (elen >= sizeof(src->export))
			return "path too long";
		memcpy(src->export, slash, elen);
		src->export[elen] = '\0';
	} else {
		memcpy(src->export, slash + 1, elen - 1);
		src->export[elen - 1] = '\0';
	}
	return NULL;
}

/*
 * Takes uri apart into src. Returns NULL, or why it is not a source we
 * accept (in why, or a constant).
 */
const char *
conf_source_parse(const char *uri, struct conf_source *src, char *why,
    size_t size)
{
	const char *r = source_parse(uri, src, why, size);

	if (r != NULL)
		memset(src, 0, sizeof(*src));
	return r;
}

/*
 * allow-source: SCHEME://HOST[:PORT], or SCHEME://A.B.C.D[:PORT]/BITS
 * for an IPv4 network. Schemes nbd, nbds, https and http (nbd+unix is
 * never inserted: a socket path names a file of this machine); no path,
 * no wildcard. Returns NULL, or what is wrong with word.
 */
const char *
conf_allow_parse(const char *word, struct conf_allow *a)
{
	struct conf_source src;
	struct in_addr a4;
	const char *rest, *slash;
	char why[160], *end;
	size_t i;
	long bits;

	memset(a, 0, sizeof(*a));
	a->bits = -1;
	for (i = 0; i < sizeof(source_schemes) / sizeof(source_schemes[0]); i++)
		if (strncmp(word, source_schemes[i].prefix,
			strlen(source_schemes[i].prefix)) == 0)
			break;
	if (i == sizeof(source_schemes) / sizeof(source_schemes[0]) ||
	    source_schemes[i].scheme == CONF_SCHEME_NBD_UNIX)
		return "expected nbd://, nbds://, https:// or http:// and a "
		       "host";
	a->scheme = source_schemes[i].scheme;
	rest = word + strlen(source_schemes[i].prefix);
	slash = strchr(rest, '/');
	memset(&src, 0, sizeof(src));
	if (source_authority(rest,
		slash ? (size_t)(slash - rest) : strlen(rest), &src, why,
		sizeof(why)) != NULL)
		return "expected a host name, an IPv4 or an [IPv6] address, "
		       "and an optional :PORT";
	memcpy(a->host, src.host, sizeof(a->host));
	memcpy(a->port, src.port, sizeof(a->port));
	if (slash == NULL || slash[1] == '\0')
		return NULL; /* "https://host/" is "https://host" */
	if (inet_pton(AF_INET, a->host, &a4) != 1)
		return "only an IPv4 address takes a /BITS network";
	bits = strtol(slash + 1, &end, 10);
	if (*end != '\0' || slash[1] < '0' || slash[1] > '9' || bits > 32)
		return "a network is A.B.C.D/BITS, BITS from 0 to 32, and "
		       "nothing else follows the host";
	a->bits = (int)bits;
	return NULL;
}

int
conf_allow_valid(const char *list)
{
	struct conf_allow a;
	char word[CONF_LIST_MAX];

	while (conf_list_next(&list, " \t", word, sizeof(word)))
		if (conf_allow_parse(word, &a) != NULL)
			return 0;
	return 1;
}

static void
set_allow_source(struct conf_ctx *ctx, const char *label,
    const struct conf_key *key, char *field, const char *value)
{
	struct conf_allow a;
	char word[CONF_LIST_MAX];
	const char *list = value, *r;

	if (strlen(value) >= key->size) {
		conf_error(ctx, ctx->line, "%s%s: value too long (max %zu)",
		    label, key->name, key->size - 1);
		return;
	}
	while (conf_list_next(&list, " \t", word, sizeof(word)))
		if ((r = conf_allow_parse(word, &a)) != NULL) {
			conf_error(ctx, ctx->line, "%s%s: \"%s\": %s", label,
			    key->name, word, r);
			return;
		}
	memcpy(field, value, strlen(value) + 1);
}

static void
set_source(struct conf_ctx *ctx, const char *label, const struct conf_key *key,
    char *field, const char *value)
{
	struct conf_source src;
	char why[160];
	const char *r;

	if (strlen(value) >= key->size) {
		conf_error(ctx, ctx->line, "%s%s: value too long (max %zu)",
		    label, key->name, key->size - 1);
		return;
	}
	if ((r = conf_source_parse(value, &src, why, sizeof(why))) != NULL) {
		conf_error(ctx, ctx->line, "%s%s: %s", label, key->name, r);
		return;
	}
	memcpy(field, value, strlen(value) + 1);
}

static void
set_string(struct conf_ctx *ctx, const char *label, const struct conf_key *key,
    char *field, const char *value)
{
	int valid;
	const char *expect;

	if (strlen(value) >= key->size) {
		conf_error(ctx, ctx->line, "%s%s: value too long (max %zu)",
		    label, key->name, key->size - 1);
		return;
	}
	switch (key->kind) {
	case CONF_K_PATH:
		valid = path_valid(value);
		expect = "must be an absolute path";
		break;
	case CONF_K_SOCKET:
		valid = path_valid(value);
		expect = "must be an absolute path";
		break;
	case CONF_K_DEVICE:
		valid = device_valid(value);
		expect = "must be /dev/nbdN";
		break;
	case CONF_K_USERNAME:
		valid = conf_name_valid(value);
		expect = "not a valid account name";
		break;
	case CONF_K_NAMELIST:
		valid = namelist_valid(value);
		expect = "expected names and @groups";
		break;
	case CONF_K_HASH:
		valid = hash_valid(value);
		expect = "expected a crypt(3) hash such as $y$...";
		break;
	case CONF_K_MODULES:
		valid = modules_valid(value);
		expect = "expected kernel module names such as libcomposite";
		break;
	case CONF_K_ORIGINS:
		valid = origins_valid(value);
		expect = "expected origins such as https://bmc.example.com";
		break;
	case CONF_K_HOSTS:
		valid = hosts_valid(value);
		expect = "expected host names such as bmc.example.com, "
			 "without a port";
		break;
	case CONF_K_TEXT:
	default:
		valid = text_printable(value);
		expect = "quotes, backslashes and control characters "
			 "are not allowed";
		break;
	}
	if (!valid) {
		conf_error(ctx, ctx->line, "%s%s: %s", label, key->name,
		    expect);
		return;
	}
	memcpy(field, value, strlen(value) + 1);
}

void
conf_set_value(struct conf_ctx *ctx, const char *label,
    const struct conf_key *key, void *target, const char *value)
{
	char *field = (char *)target + key->offset;

	switch (key->kind) {
	case CONF_K_LISTEN:
		set_listen(ctx, value, 0);
		break;
	case CONF_K_NBD_LISTEN:
		set_listen(ctx, value, 1);
		break;
	case CONF_K_SOURCE:
		set_source(ctx, label, key, field, value);
		break;
	case CONF_K_ALLOW_SOURCE:
		set_allow_source(ctx, label, key, field, value);
		break;
	case CONF_K_AUTH:
		if (strcmp(value, "users") == 0)
			*(int32_t *)field = CONF_AUTH_USERS;
		else if (strcmp(value, "none") == 0)
			*(int32_t *)field = CONF_AUTH_NONE;
		else
			conf_error(ctx, ctx->line,
			    "auth: expected users or none, not \"%s\"", value);
		break;
	case CONF_K_BOOL:
		if (!parse_bool(value, (int32_t *)field))
			conf_error(ctx, ctx->line, "%s%s: expected yes or no",
			    label, key->name);
		break;
	case CONF_K_TIMEOUT:
		if (!parse_timeout(value, (int32_t *)field))
			conf_error(ctx, ctx->line,
			    "%s%s: expected seconds from 1 to 3600", label,
			    key->name);
		break;
	case CONF_K_NUMBER:
		if (!parse_number(value, key->min, key->max, (int32_t *)field))
			conf_error(ctx, ctx->line,
			    "%s%s: expected a number from %d to %d", label,
			    key->name, key->min, key->max);
		break;
	case CONF_K_SIZE:
		if (!parse_size(value, (uint64_t *)field))
			conf_error(ctx, ctx->line,
			    "%s%s: expected a size such as 4G", label,
			    key->name);
		break;
	case CONF_K_WINDOW:
		if (strcmp(value, "0") == 0)
			*(uint64_t *)field = 0;
		else if (!parse_size(value, (uint64_t *)field) ||
		    *(uint64_t *)field > CONF_READ_AHEAD_MAX)
			conf_error(ctx, ctx->line,
			    "%s%s: expected 0 or a size up to 64M", label,
			    key->name);
		break;
	default:
		set_string(ctx, label, key, field, value);
		break;
	}
}
