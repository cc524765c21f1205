/*
 * A fixed table of recent failures. When it is full, an entry that is not
 * holding anyone back goes first (the one quiet longest), so a flood of
 * fresh failures cannot buy back a lockout; only when every entry is a
 * lockout does the one ending soonest go.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

#define RL_ENTRIES 1024
#define RL_KEY_MAX (2 + RATELIMIT_ADDR_MAX + 32)
#define RL_MAX_WAIT 300 /* seconds */
#define RL_FORGET 900	/* quiet this long: start afresh */

/* Failures before any wait, per kind of count. */
#define RL_FREE_PAIR 5	 /* one address, one user */
#define RL_FREE_ADDR 20	 /* one address, any users */
#define RL_FREE_USER 100 /* one user, from anywhere */

struct rl_entry {
	char key[RL_KEY_MAX];
	int failures;
	time_t last;
	time_t until; /* no tries before */
};

static struct rl_entry rl_table[RL_ENTRIES];

/*
 * What a client counts as: an IPv4 address as it is, an IPv6 address by
 * its /64 (one subscriber's share), an IPv4-mapped one as IPv4.
 */
void
ratelimit_addr(const char *host, char out[RATELIMIT_ADDR_MAX])
{
	struct in6_addr a6;
	char text[INET6_ADDRSTRLEN];

	snprintf(out, RATELIMIT_ADDR_MAX, "%s", host);
	if (inet_pton(AF_INET6, host, &a6) != 1)
		return;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		if (inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof(text)) !=
		    NULL)
			snprintf(out, RATELIMIT_ADDR_MAX, "%s", text);
		return;
	}
	memset(&a6.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &a6, text, sizeof(text)) != NULL)
		snprintf(out, RATELIMIT_ADDR_MAX, "%s/64", text);
}

static struct rl_entry *
rl_find(const char *key)
{
	int i;

	for (i = 0; i < RL_ENTRIES; i++)
		if (rl_table[i].key[0] != '\0' &&
		    strcmp(rl_table[i].key, key) == 0)
			return &rl_table[i];
	return NULL;
}

/* A free slot; else one not locking anyone out; else the lockout ending first.
 */
static struct rl_entry *
rl_room(time_t now)
{
	struct rl_entry *quiet = NULL, *ending = NULL, *e;
	int i;

	for (i = 0; i < RL_ENTRIES; i++) {
		e = &rl_table[i];
		if (e->key[0] == '\0')
			return e;
		if (e->until <= now) {
			if (quiet == NULL || e->last < quiet->last)
				quiet = e;
		} else if (ending == NULL || e->until < ending->until)
			ending = e;
	}
	return quiet != NULL ? quiet : ending;
}

static int
rl_wait_key(const char *key, time_t now)
{
	struct rl_entry *e = rl_find(key);

	if (e == NULL)
		return 0;
	if (now - e->last > RL_FORGET) {
		memset(e, 0, sizeof(*e));
		return 0;
	}
	return e->until > now ? (int)(e->until - now) : 0;
}

/* After free_tries failures, each one doubles the wait, up to RL_MAX_WAIT. */
static void
rl_fail_key(const char *key, int free_tries, time_t now)
{
	struct rl_entry *e = rl_find(key);
	int over;

	if (e == NULL) {
		e = rl_room(now);
		memset(e, 0, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
	} else if (now - e->last > RL_FORGET) {
		e->failures = 0;
		e->until = 0;
	}
	e->failures++;
	e->last = now;
	if ((over = e->failures - free_tries) >= 0)
		e->until = now + (over >= 9 ? RL_MAX_WAIT : 1 << over);
}

static void
rl_keys(const char *addr, const char *user, char pair[RL_KEY_MAX],
    char a[RL_KEY_MAX], char u[RL_KEY_MAX])
{
	snprintf(pair, RL_KEY_MAX, "p:%s %s", addr, user);
	snprintf(a, RL_KEY_MAX, "a:%s", addr);
	snprintf(u, RL_KEY_MAX, "u:%s", user);
}

/* Seconds this address must still wait before trying user; 0 if it may. */
int
ratelimit_wait(const char *addr, const char *user, time_t now)
{
	char pair[RL_KEY_MAX], a[RL_KEY_MAX], u[RL_KEY_MAX];
	int wait, w;

	rl_keys(addr, user, pair, a, u);
	wait = rl_wait_key(pair, now);
	if ((w = rl_wait_key(a, now)) > wait)
		wait = w;
	if ((w = rl_wait_key(u, now)) > wait)
		wait = w;
	return wait;
}

void
ratelimit_failed(const char *addr, const char *user, time_t now)
{
	char pair[RL_KEY_MAX], a[RL_KEY_MAX], u[RL_KEY_MAX];

	rl_keys(addr, user, pair, a, u);
	rl_fail_key(pair, RL_FREE_PAIR, now);
	rl_fail_key(a, RL_FREE_ADDR, now);
	rl_fail_key(u, RL_FREE_USER, now);
}

/*
 * Only the pair forgets: a guesser who also holds an account must not
 * clear its address's count, or the user's, by logging in as itself.
 */
void
ratelimit_passed(const char *addr, const char *user)
{
	char pair[RL_KEY_MAX], a[RL_KEY_MAX], u[RL_KEY_MAX];
	struct rl_entry *e;

	rl_keys(addr, user, pair, a, u);
	if ((e = rl_find(pair)) != NULL)
		memset(e, 0, sizeof(*e));
}
