/*
 * Timeouts handed to libevent, written in the layout of the libevent we
 * link, which may have been built with another time_t than ours.
 */
#ifndef LIBEVENT_TV_H
#define LIBEVENT_TV_H

#include <sys/time.h>

#include <event2/event-config.h>
#include <stdint.h>

/*
 * armhf builds use a 64-bit time_t (-D_TIME_BITS=64: no 2038 end), but a
 * libevent built with a 32-bit one (Debian 12's armhf package) reads a
 * struct timeval as two 32-bit fields and would see our 64-bit seconds as
 * seconds and zero microseconds. Where the two differ, a timeout is
 * written in libevent's layout; everywhere else it is a struct timeval.
 */
#if EVENT__SIZEOF_TIME_T == 4 && defined(__USE_TIME_BITS64)
struct libevent_tv {
	int32_t tv_sec;
	int32_t tv_usec;
};
#else
struct libevent_tv {
	time_t tv_sec;
	suseconds_t tv_usec;
};
#endif
_Static_assert(sizeof(struct libevent_tv) == 2 * EVENT__SIZEOF_TIME_T,
    "struct libevent_tv must be libevent's struct timeval");

/* What to pass where libevent's prototype says struct timeval. */
#define LIBEVENT_TV(tv) ((const struct timeval *)(const void *)(tv))

#endif
