/*
 * Finding things in a loaded config: exports and users by name, the words
 * of a list such as "alice, @lab", and the index of a /dev/nbdN device.
 * Every process that holds a config looks things up through these.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

const struct conf_export *
conf_find_export(const struct conf *conf, const char *name)
{
	int i;

	for (i = 0; i < conf->nexports; i++)
		if (strcmp(conf->exports[i].name, name) == 0)
			return &conf->exports[i];
	return NULL;
}

const struct conf_user *
conf_find_user(const struct conf *conf, const char *name)
{
	int i;

	for (i = 0; i < conf->nusers; i++)
		if (strcmp(conf->users[i].name, name) == 0)
			return &conf->users[i];
	return NULL;
}

/*
 * The next word of a list whose words are separated by any of seps. A
 * word longer than the buffer comes back empty, so that no check can
 * mistake it for the shorter word it would be cut to. Returns 0 once the
 * list is used up.
 */
int
conf_list_next(const char **cursor, const char *seps, char *word, size_t size)
{
	const char *s = *cursor;
	size_t len;

	s += strspn(s, seps);
	if (*s == '\0')
		return 0;
	len = strcspn(s, seps);
	*cursor = s + len;
	if (len >= size)
		len = 0;
	memcpy(word, s, len);
	word[len] = '\0';
	return 1;
}

/* Is name in a list of names and @groups, as a group or as a name? */
int
conf_list_has(const char *list, const char *name, int as_group)
{
	char word[CONF_NAME_MAX + 1];

	while (conf_list_next(&list, CONF_LIST_SEPS, word, sizeof(word)))
		if ((word[0] == '@') == as_group &&
		    strcmp(word + as_group, name) == 0)
			return 1;
	return 0;
}

/* "/dev/nbd12" gives 12; anything else -1. At most three digits. */
int
conf_nbd_index(const char *device)
{
	const char *digits = device + strlen("/dev/nbd");
	size_t n;

	if (strncmp(device, "/dev/nbd", strlen("/dev/nbd")) != 0)
		return -1;
	n = strspn(digits, "0123456789");
	if (n == 0 || n > 3 || digits[n] != '\0')
		return -1;
	return atoi(digits);
}

/* The port a URI reaches: its own, or its scheme's. */
static const char *
source_port(const struct conf_source *src)
{
	if (src->port[0] != '\0')
		return src->port;
	switch (src->scheme) {
	case CONF_SCHEME_HTTPS:
		return "443";
	case CONF_SCHEME_HTTP:
		return "80";
	default:
		return "10809";
	}
}

/* Same name (any case), same IPv6 address however written, or inside. */
static int
allow_host(const struct conf_allow *a, const char *host)
{
	struct in6_addr x6, y6;
	struct in_addr x4, y4;
	char inner[2][INET6_ADDRSTRLEN + 2];
	uint32_t mask;
	size_t alen = strlen(a->host), hlen = strlen(host);

	if (a->bits >= 0) {
		if (inet_pton(AF_INET, a->host, &x4) != 1 ||
		    inet_pton(AF_INET, host, &y4) != 1)
			return 0;
		mask = a->bits == 0 ? 0 : htonl(~UINT32_C(0) << (32 - a->bits));
		return (x4.s_addr & mask) == (y4.s_addr & mask);
	}
	if (a->host[0] == '[' && host[0] == '[' &&
	    alen - 2 < sizeof(inner[0]) && hlen - 2 < sizeof(inner[1])) {
		memcpy(inner[0], a->host + 1, alen - 2);
		inner[0][alen - 2] = '\0';
		memcpy(inner[1], host + 1, hlen - 2);
		inner[1][hlen - 2] = '\0';
		return inet_pton(AF_INET6, inner[0], &x6) == 1 &&
		    inet_pton(AF_INET6, inner[1], &y6) == 1 &&
		    memcmp(&x6, &y6, sizeof(x6)) == 0;
	}
	return strcasecmp(a->host, host) == 0;
}

/* Does a word of the allow-source list name a URI of this scheme? */
int
conf_allow_has_scheme(const char *list, enum conf_scheme scheme)
{
	struct conf_allow a;
	char word[CONF_LIST_MAX];

	while (conf_list_next(&list, " \t", word, sizeof(word)))
		if (conf_allow_parse(word, &a) == NULL && a.scheme == scheme)
			return 1;
	return 0;
}

/* Is the source src one that the allow-source list names? */
int
conf_source_allowed(const char *list, const struct conf_source *src)
{
	struct conf_allow a;
	char word[CONF_LIST_MAX];

	if (src->scheme == CONF_SCHEME_NBD_UNIX)
		return 0;
	while (conf_list_next(&list, " \t", word, sizeof(word))) {
		if (conf_allow_parse(word, &a) != NULL ||
		    a.scheme != src->scheme)
			continue;
		if (a.port[0] != '\0' && strcmp(a.port, source_port(src)) != 0)
			continue;
		if (allow_host(&a, src->host))
			return 1;
	}
	return 0;
}
