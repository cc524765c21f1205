/*
 * hookd's start: take the config from the parent, enter the sandbox,
 * serve. Running hooks arrives in later work; today it answers the parent.
 */
#include <stddef.h>

#include "child.h"
#include "log.h"
#include "hookd.h"

static void
hookd_conf_applied(struct child *c, const struct conf *old)
{
	if (old != NULL)
		log_info("config %u in force", c->generation);
}

static const struct child_role hookd_role = {
	.name = "hookd",
	.policy = &hookd_policy,
	.conf_applied = hookd_conf_applied,
	.siblings = { NULL, NULL },
	.dispatch = NULL,
	.stop = NULL,
};

int
main(int argc, char **argv)
{
	struct child c;

	child_start(&c, &hookd_role, argc, argv);
	child_run(&c);
	return 1;
}
