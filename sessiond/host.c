/*
 * Is the Host a request names one of ours: the address the connection
 * reached, "localhost" on loopback and Unix listeners, or a server-name?
 * A page served from a rebound DNS name names its own, and is refused.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/bufferevent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "child.h"
#include "route.h"
#include "sessiond.h"

/* A Host's name without its port (or trailing dot); 0 if malformed. */
static int
host_name(const char *host, char *name, size_t size)
{
	const char *port;
	size_t len;

	if (host[0] != '[')
		port = host + strcspn(host, ":");
	else if ((port = strchr(host, ']')) != NULL)
		port++;
	else
		return 0;
	if (*port != '\0' &&
	    (*port != ':' ||
		strspn(port + 1, "0123456789") != strlen(port + 1)))
		return 0;
	len = port - host;
	if (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 0 || len >= size)
		return 0;
	memcpy(name, host, len);
	name[len] = '\0';
	return 1;
}

/* An address literal as in Host ("192.0.2.1", "[2001:db8::1]"), as IPv6. */
static int
host_literal(const char *name, struct in6_addr *a)
{
	char inner[INET6_ADDRSTRLEN];
	struct in_addr a4;
	size_t len = strlen(name);

	if (inet_pton(AF_INET, name, &a4) == 1) {
		memset(a, 0, sizeof(*a));
		a->s6_addr[10] = a->s6_addr[11] = 0xff; /* v4-mapped */
		memcpy(&a->s6_addr[12], &a4, 4);
		return 1;
	}
	if (name[0] != '[' || len < 3 || len - 2 >= sizeof(inner))
		return 0;
	memcpy(inner, name + 1, len - 2);
	inner[len - 2] = '\0';
	return inet_pton(AF_INET6, inner, a) == 1;
}

/*
 * The address this connection reached, as IPv6 (IPv4 mapped); -1 for a
 * Unix socket or if unknown. *loopback: it came over loopback or a Unix
 * socket, where "localhost" can only mean this machine.
 */
static int
local_addr(const struct conn *c, struct in6_addr *a, int *loopback)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

	*loopback = 0;
	if (getsockname(bufferevent_getfd(c->bev), (struct sockaddr *)&ss,
		&len) == -1)
		return -1;
	if (ss.ss_family == AF_UNIX) {
		*loopback = 1;
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		memset(a, 0, sizeof(*a));
		a->s6_addr[10] = a->s6_addr[11] = 0xff;
		memcpy(&a->s6_addr[12], &sin->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6)
		*a = sin6->sin6_addr;
	else
		return -1;
	*loopback = IN6_IS_ADDR_LOOPBACK(a) ||
	    (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	return 0;
}

static int
server_name(const char *name, const struct in6_addr *literal)
{
	const char *list = sd_child->conf->global.server_names;
	char word[CONF_LIST_MAX];
	struct in6_addr a;

	while (conf_list_next(&list, " \t", word, sizeof(word))) {
		if (literal != NULL ? host_literal(word, &a) &&
			    memcmp(&a, literal, sizeof(a)) == 0 :
				      strcasecmp(word, name) == 0)
			return 1;
	}
	return 0;
}

/* 1 if the request may go on; a request without Host (HTTP/1.0) may. */
int
host_served(const struct conn *c)
{
	char name[HTTP_HOST_MAX];
	struct in6_addr literal, ours;
	int loopback, have_ours;

	if (!c->req->has_host)
		return 1;
	if (!host_name(c->req->host, name, sizeof(name)))
		return 0;
	have_ours = local_addr(c, &ours, &loopback) == 0;
	if (host_literal(name, &literal))
		return (have_ours &&
			   memcmp(&literal, &ours, sizeof(ours)) == 0) ||
		    server_name(name, &literal);
	return (loopback && strcasecmp(name, "localhost") == 0) ||
	    server_name(name, NULL);
}
