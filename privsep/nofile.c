/*
 * The open-file limit that max-connections needs. Children inherit the
 * parent's limit at spawn, and sessiond cannot raise its own: so the
 * parent raises it at start if it may, and refuses a config it cannot
 * honour (vmediad -n too), rather than let sessiond run out at accept().
 */
#include <sys/resource.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmediad.h"

/*
 * What sessiond holds besides its connections: standard streams, the
 * channels, the event loop's, the password worker's, syslog, and the one
 * being accepted before another is evicted.
 */
#define NOFILE_RESERVE 32

/* One per connection, listener, and export (listener or kernel socket). */
rlim_t
nofile_needed(const struct conf *conf)
{
	return (rlim_t)conf->global.max_connections + NOFILE_RESERVE +
	    (rlim_t)conf->global.nlisten + 2 * (rlim_t)conf->nexports;
}

static int
nofile_refuse(const struct conf *conf, const struct rlimit *rl, int err,
    char *why, size_t len)
{
	snprintf(why, len,
	    "max-connections %d needs %llu open files; the "
	    "limit is %llu (hard %llu) and cannot be raised: %s",
	    conf->global.max_connections,
	    (unsigned long long)nofile_needed(conf),
	    (unsigned long long)rl->rlim_cur, (unsigned long long)rl->rlim_max,
	    strerror(err));
	return -1;
}

/*
 * Raises RLIMIT_NOFILE to what conf needs: the soft limit up to the hard
 * one, the hard one only with CAP_SYS_RESOURCE. Sets *was to the soft
 * limit before; returns -1 with why filled if the limit stays too low.
 */
int
nofile_raise(const struct conf *conf, rlim_t *was, char *why, size_t len)
{
	rlim_t need = nofile_needed(conf);
	struct rlimit rl, want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return nofile_refuse(conf, &rl, errno, why, len);
	*was = rl.rlim_cur;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return 0;
	want.rlim_cur = need;
	want.rlim_max = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ?
	    need :
	    rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &want) == -1)
		return nofile_refuse(conf, &rl, errno, why, len);
	return 0;
}

/* A reload must fit the limit the children were started with. */
int
nofile_fits(const struct conf *conf, rlim_t limit, char *why, size_t len)
{
	if (limit == RLIM_INFINITY || nofile_needed(conf) <= limit)
		return 0;
	snprintf(why, len,
	    "max-connections %d needs %llu open files; the "
	    "limit in force is %llu: restart vmediad to raise it",
	    conf->global.max_connections,
	    (unsigned long long)nofile_needed(conf), (unsigned long long)limit);
	return -1;
}
