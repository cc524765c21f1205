/*
 * Password checks off the event loop: a worker thread runs crypt(3) so
 * that a slow hash never stalls another session's data.
 */
#ifndef PASSWD_H
#define PASSWD_H

#include <stdint.h>

struct event_base;

typedef void (*passwd_done_fn)(void *, int);

int passwd_init(struct event_base *);
int passwd_check(const char *, const char *, passwd_done_fn, void *);
void passwd_forget(void *);
const char *passwd_dummy_hash(void);

#endif
