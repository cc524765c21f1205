/*
 * sessiond's start: take the config from the parent, enter the sandbox,
 * serve. Sessions arrive in later work; today it answers the parent.
 */
#include <stddef.h>

#include "child.h"
#include "log.h"
#include "sessiond.h"

static void
sessiond_conf_applied(struct child *c, const struct conf *old)
{
	if (old != NULL)
		log_info("config %u in force", c->generation);
}

static const struct child_role sessiond_role = {
	.name = "sessiond",
	.policy = &sessiond_policy,
	.conf_applied = sessiond_conf_applied,
	.siblings = { NULL, NULL },
	.dispatch = NULL,
	.stop = NULL,
};

int
main(int argc, char **argv)
{
	struct child c;

	child_start(&c, &sessiond_role, argc, argv);
	child_run(&c);
	return 1;
}
