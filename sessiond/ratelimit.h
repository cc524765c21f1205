/*
 * Failed logins back off, per address and per user: after a few free
 * tries, each failure doubles the wait, up to five minutes.
 */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <time.h>

int	ratelimit_wait(const char *, time_t);
void	ratelimit_failed(const char *, time_t);
void	ratelimit_passed(const char *);

#endif
