/*
 * A small fixed table of recent failures. When it is full the entry
 * quiet for longest goes; an attacker cycling through many keys only
 * loses the memory of the oldest, never gains memory of its own.
 */
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

#define RL_ENTRIES	512
#define RL_KEY_MAX	96
#define RL_FREE_TRIES	5	/* failures before any wait */
#define RL_MAX_WAIT	300	/* seconds */
#define RL_FORGET	900	/* quiet this long: start afresh */

struct rl_entry {
	char	 key[RL_KEY_MAX];
	int	 failures;
	time_t	 last;
	time_t	 until;		/* no tries before */
};

static struct rl_entry rl_table[RL_ENTRIES];

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

/* Seconds the key must still wait; 0 when it may try. */
int
ratelimit_wait(const char *key, time_t now)
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

void
ratelimit_failed(const char *key, time_t now)
{
	struct rl_entry *e = rl_find(key), *oldest = &rl_table[0];
	int i, wait;

	if (e == NULL) {
		for (i = 0; i < RL_ENTRIES; i++) {
			if (rl_table[i].key[0] == '\0') {
				oldest = &rl_table[i];
				break;
			}
			if (rl_table[i].last < oldest->last)
				oldest = &rl_table[i];
		}
		e = oldest;
		memset(e, 0, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
	}
	e->failures++;
	e->last = now;
	if (e->failures >= RL_FREE_TRIES) {
		wait = e->failures - RL_FREE_TRIES >= 9 ? RL_MAX_WAIT :
		    1 << (e->failures - RL_FREE_TRIES);
		e->until = now + (wait > RL_MAX_WAIT ? RL_MAX_WAIT : wait);
	}
}

void
ratelimit_passed(const char *key)
{
	struct rl_entry *e = rl_find(key);

	if (e != NULL)
		memset(e, 0, sizeof(*e));
}
