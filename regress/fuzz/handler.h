/*
 * A process's message handlers under libFuzzer (handler.c): each record
 * framed and decoded as the process decodes what that peer sends it, an
 * accepted message dispatched through the channel's own callback; the
 * channels, the log and fatal errors are fakes that record and check, so
 * that a target can assert what the process said and did.
 */
#ifndef HANDLER_H
#define HANDLER_H

#include <stdint.h>

#include "conf.h"
#include "handler_input.h"
#include "msg.h"

/* How a run ended: 0 is setjmp's first return. */
enum handler_end {
	HANDLER_EXITED = 1, /* the process exited: child_exit() */
	HANDLER_DIED,	    /* a protocol error ended it: fatalx() */
	HANDLER_RAN,	    /* the input is used up */
};

struct handler_target {
	enum msg_proc self;
	/* The formats of the fatalx() calls that are protocol errors. */
	const char *const *fatal_ok;
	/* A fresh process, given its config; options from the input. */
	void (*start)(uint8_t);
	/* The channel a peer's messages come in on, NULL if none. */
	struct chan *(*chan_from)(enum msg_proc);
	/* Something the world does: a record from the process to itself. */
	void (*world)(const struct rec *);
	/* Around each dispatch: sender, message, its fd's kind or -1. */
	void (*before)(enum msg_proc, const struct msg *, int);
	void (*after)(const struct msg *);
	/* A message the process sent on a channel; already decoded. */
	void (*sent)(const struct chan *, const struct msg *);
	/* Between two records: the loop turns, time may pass. */
	void (*settle)(void);
	/* What must hold after every record, and at the end. */
	void (*check)(void);
	void (*end)(enum handler_end);
	/* Frees what the process held, as its exit would have. */
	void (*cleanup)(void);
};

int handler_run(const struct handler_target *, const uint8_t *, size_t);
int handler_deliver(enum msg_proc, uint32_t, const void *, size_t, int);
void handler_push_conf(const struct conf *, uint32_t);
void handler_view(struct conf *, enum msg_proc, uint8_t);
void handler_closed(struct chan *);
int handler_fd_open(int);
void
handler_fail(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The last line the process logged (or its fatal error). */
extern char handler_log[2048];

#endif
