/*
 * What sessiond, blockd and hookd share: start-up checks, receiving and
 * re-receiving the config from the parent, liveness, shutdown.
 */
#ifndef CHILD_H
#define CHILD_H

#include <stdint.h>

#include "conf.h"
#include "msg.h"
#include "sandbox.h"

struct child;

struct child_role {
	enum msg_proc self; /* its siblings: msg_sibling() */
	const struct sandbox_policy *policy;
	/* A new config is in force; old is NULL the first time. */
	void (*conf_applied)(struct child *, const struct conf *old);
	/*
	 * A message the common code does not handle, already checked
	 * against the table; 0 means the role forgot a type it may get.
	 */
	int (*dispatch)(struct child *, struct chan *, struct msg *);
	/*
	 * Told to stop, or the parent is gone: release what we hold.
	 * Returns 1 when done, 0 when it will call child_exit() later.
	 */
	int (*stop)(struct child *);
};

struct child {
	const struct child_role *role;
	const char *name; /* the role's, for log lines */
	struct event_base *base;
	struct chan chan;   /* to the parent */
	struct chan sib[2]; /* to the siblings */
	int stopping;
	struct conf *conf;    /* in force */
	struct conf *staging; /* being received */
	uint32_t generation;
	int verbose;
	void *state; /* the role's own */
};

void child_start(struct child *, const struct child_role *, int, char **);
void child_channels(struct child *);
void child_run(struct child *);
void child_exit(struct child *);

#endif
