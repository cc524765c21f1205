/*
 * Failed logins back off on three counts: per address and user, per
 * address, and per user. The first stops a guesser without locking the
 * victim out of their own address; the second, one address trying many
 * users; the third, set high, keeps guessing from many addresses slow.
 */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <stddef.h>
#include <time.h>

#define RATELIMIT_ADDR_MAX 52 /* an address or an IPv6 /64, with NUL */

void ratelimit_addr(const char *, char[RATELIMIT_ADDR_MAX]);
int ratelimit_wait(const char *, const char *, time_t);
void ratelimit_failed(const char *, const char *, time_t);
void ratelimit_passed(const char *, const char *);

#endif
