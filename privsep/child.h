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
	const char			*name;
	const struct sandbox_policy	*policy;
	/* A new config is in force; old is NULL the first time. */
	void	(*conf_applied)(struct child *, const struct conf *old);
	/* A message the common code does not know; 0 means unexpected. */
	int	(*dispatch)(struct child *, struct msg *);
	/* Told to stop, or the parent is gone: release what we hold. */
	void	(*stop)(struct child *);
};

struct child {
	const struct child_role	*role;
	struct event_base	*base;
	struct chan		 chan;
	struct conf		*conf;		/* in force */
	struct conf		*staging;	/* being received */
	uint32_t		 generation;
	int			 verbose;
	void			*state;		/* the role's own */
};

void	child_start(struct child *, const struct child_role *, int, char **);
void	child_run(struct child *);

#endif
