/*
 * Login sessions and access rules. A login is a random 256-bit token
 * (hex in the cookie) with idle and absolute expiry; tokens are compared
 * in constant time; a user holds at most logins-per-user of them.
 * Exports: admins may use all; others what allow names.
 */
#include <sys/random.h>

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "child.h"
#include "log.h"
#include "sessiond.h"

#define AUTH_LOGINS_MAX 1024

struct login {
	char token[CRED_TOKEN_LEN + 1];
	char rid[AUTH_RID_LEN + 1]; /* names it in Redfish; no secret */
	char user[CONF_NAME_MAX];
	time_t created;
	time_t used;
};

static struct login logins[AUTH_LOGINS_MAX];

int
auth_required(void)
{
	return sd_child->conf->global.auth == CONF_AUTH_USERS;
}

const struct conf_user *
auth_user(const char *name)
{
	return conf_find_user(sd_child->conf, name);
}

void
auth_identity_user(struct identity *id, enum auth_how how, const char *user)
{
	const struct conf_user *u = auth_user(user);

	id->how = how;
	snprintf(id->user, sizeof(id->user), "%s", user);
	id->admin = u != NULL && u->admin;
}

/* allow names users and @groups; an export without allow is admins' only. */
int
auth_may_use(const struct identity *id, const struct conf_export *e)
{
	const struct conf_user *u;
	const char *groups;
	char group[CONF_NAME_MAX + 1];

	if (id->how == AUTH_HOW_ANONYMOUS || id->admin)
		return 1;
	if (id->how == AUTH_HOW_NONE || (u = auth_user(id->user)) == NULL)
		return 0;
	if (conf_list_has(e->allow, u->name, 0))
		return 1;
	groups = u->groups;
	while (conf_list_next(&groups, CONF_LIST_SEPS, group, sizeof(group)))
		if (conf_list_has(e->allow, group, 1))
			return 1;
	return 0;
}

/*
 * Redfish's SessionService SessionTimeout, PATCHed by an admin: it stands
 * for login-idle until the next reload (0: login-idle).
 */
static int login_idle_set;

void
auth_login_idle_set(int seconds)
{
	login_idle_set = seconds;
}

int
auth_login_idle(void)
{
	return login_idle_set > 0 ? login_idle_set :
				    sd_child->conf->global.login_idle;
}

static int
login_expired(const struct login *l, time_t now)
{
	const struct conf_global *g = &sd_child->conf->global;

	return now - l->used > auth_login_idle() ||
	    now - l->created > g->login_lifetime || auth_user(l->user) == NULL;
}

/* Ends every login past its time or whose user left the config. */
static void
login_purge(time_t now)
{
	int i;

	for (i = 0; i < AUTH_LOGINS_MAX; i++)
		if (logins[i].token[0] != '\0' &&
		    login_expired(&logins[i], now))
			explicit_bzero(&logins[i], sizeof(logins[i]));
}

/* The user's logins, and the one unused longest. */
static int
login_count(const char *user, struct login **lru)
{
	int i, n = 0;

	*lru = NULL;
	for (i = 0; i < AUTH_LOGINS_MAX; i++) {
		if (logins[i].token[0] == '\0' ||
		    strcmp(logins[i].user, user) != 0)
			continue;
		n++;
		if (*lru == NULL || logins[i].used < (*lru)->used)
			*lru = &logins[i];
	}
	return n;
}

/*
 * The table is full of live logins: the user holding the most gives up
 * the one unused longest, so that it takes many accounts, not many
 * logins of one, to push anyone else out.
 */
static struct login *
login_evict(void)
{
	const struct conf *conf = sd_child->conf;
	const struct conf_user *u, *busiest = NULL;
	int counts[CONF_USER_MAX] = { 0 };
	struct login *victim;
	int i, n, most = 0;

	for (i = 0; i < AUTH_LOGINS_MAX; i++) {
		if ((u = auth_user(logins[i].user)) == NULL)
			continue;
		if ((n = ++counts[u - conf->users]) > most) {
			most = n;
			busiest = u;
		}
	}
	if (busiest == NULL || login_count(busiest->name, &victim) == 0)
		return &logins[0];
	return victim;
}

/*
 * Room for one more login of user: the user's own oldest when they are
 * at logins-per-user, else a free slot, else the table's evictee. What
 * had to end is told in *dropped.
 */
static struct login *
login_slot(const char *user, time_t now, struct auth_dropped *dropped)
{
	struct login *l;
	int i;

	memset(dropped, 0, sizeof(*dropped));
	login_purge(now);
	if (login_count(user, &l) >= sd_child->conf->global.logins_per_user) {
		snprintf(dropped->user, sizeof(dropped->user), "%s", user);
		return l;
	}
	for (i = 0; i < AUTH_LOGINS_MAX; i++)
		if (logins[i].token[0] == '\0')
			return &logins[i];
	l = login_evict();
	snprintf(dropped->user, sizeof(dropped->user), "%s", l->user);
	dropped->table_full = 1;
	return l;
}

int
auth_login_create(const char *user, char token[CRED_TOKEN_LEN + 1],
    struct auth_dropped *dropped)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[CRED_TOKEN_LEN / 2 + AUTH_RID_LEN / 2];
	struct login *l;
	time_t now = time(NULL);
	size_t i;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	l = login_slot(user, now, dropped);
	for (i = 0; i < CRED_TOKEN_LEN / 2; i++) {
		l->token[2 * i] = hex[raw[i] >> 4];
		l->token[2 * i + 1] = hex[raw[i] & 0xf];
	}
	l->token[CRED_TOKEN_LEN] = '\0';
	for (i = 0; i < AUTH_RID_LEN / 2; i++) {
		l->rid[2 * i] = hex[raw[CRED_TOKEN_LEN / 2 + i] >> 4];
		l->rid[2 * i + 1] = hex[raw[CRED_TOKEN_LEN / 2 + i] & 0xf];
	}
	l->rid[AUTH_RID_LEN] = '\0';
	explicit_bzero(raw, sizeof(raw));
	snprintf(l->user, sizeof(l->user), "%s", user);
	l->created = l->used = now;
	memcpy(token, l->token, sizeof(l->token));
	return 0;
}

/* Compares against every slot, found or not: no timing tells. */
static struct login *
login_lookup(const char *token)
{
	struct login *found = NULL;
	int i;

	for (i = 0; i < AUTH_LOGINS_MAX; i++)
		if (logins[i].token[0] != '\0' &&
		    CRYPTO_memcmp(logins[i].token, token, CRED_TOKEN_LEN) == 0)
			found = &logins[i];
	return found;
}

/* 0 with id filled; -1 for no such login, -2 for one that expired. */
int
auth_login_find(const char *token, struct identity *id, enum auth_how how)
{
	struct login *l = login_lookup(token);
	time_t now = time(NULL);

	if (l == NULL)
		return -1;
	if (login_expired(l, now)) {
		memset(l, 0, sizeof(*l));
		return -2;
	}
	l->used = now;
	auth_identity_user(id, how, l->user);
	memcpy(id->token, l->token, sizeof(id->token));
	memcpy(id->rid, l->rid, sizeof(id->rid));
	return 0;
}

void
auth_login_remove(const char *token)
{
	struct login *l = login_lookup(token);

	if (l != NULL)
		explicit_bzero(l, sizeof(*l));
}

/*
 * The i-th live login from *i on, for listing: its rid and user. Returns
 * 0 and advances *i, or -1 past the last.
 */
int
auth_login_next(int *i, char rid[AUTH_RID_LEN + 1], char user[CONF_NAME_MAX])
{
	time_t now = time(NULL);

	for (; *i < AUTH_LOGINS_MAX; (*i)++) {
		struct login *l = &logins[*i];

		if (l->token[0] == '\0' || login_expired(l, now))
			continue;
		memcpy(rid, l->rid, AUTH_RID_LEN + 1);
		memcpy(user, l->user, CONF_NAME_MAX);
		(*i)++;
		return 0;
	}
	return -1;
}

/* The live login named rid: its user, or -1. */
int
auth_login_rid_user(const char *rid, char user[CONF_NAME_MAX])
{
	int i = 0;
	char r[AUTH_RID_LEN + 1];

	while (auth_login_next(&i, r, user) == 0)
		if (strcmp(r, rid) == 0)
			return 0;
	return -1;
}

/* Ends the login named rid. */
void
auth_login_remove_rid(const char *rid)
{
	int i;

	for (i = 0; i < AUTH_LOGINS_MAX; i++)
		if (logins[i].token[0] != '\0' &&
		    strcmp(logins[i].rid, rid) == 0)
			explicit_bzero(&logins[i], sizeof(logins[i]));
}
