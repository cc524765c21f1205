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

static void
set_listen(struct conf_ctx *ctx, const char *value)
{
	struct conf_global *g = &ctx->conf->global;
	struct conf_listen *l;
	const char *why;
	char addr[CONF_ADDR_MAX];
	size_t len = strlen(value);
	int tls = 0;

	/* "address tls": this listener speaks HTTPS. */
	if (len > 4 && strcmp(value + len - 4, " tls") == 0) {
		tls = 1;
		len -= 4;
		while (len > 0 && value[len - 1] == ' ')
			len--;
	}
	if (len >= sizeof(addr)) {
		conf_error(ctx, ctx->line, "bad listen address: too long");
		return;
	}
	memcpy(addr, value, len);
	addr[len] = '\0';
	value = addr;

	if (g->nlisten == CONF_LISTEN_MAX) {
		conf_error(ctx, ctx->line, "too many listen addresses (max %d)",
		    CONF_LISTEN_MAX);
		return;
	}
	l = &g->listen[g->nlisten];
	if (strlen(value) >= sizeof(l->text)) {
		conf_error(ctx, ctx->line, "bad listen address: too long");
		return;
	}
	if ((why = parse_listen(value, l)) != NULL) {
		conf_error(ctx, ctx->line, "bad listen address \"%s\": %s",
		    value, why);
		return;
	}
	snprintf(l->text, sizeof(l->text), "%s", value);
	l->line = ctx->line;
	l->tls = tls;
	g->nlisten++;
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
		set_listen(ctx, value);
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
