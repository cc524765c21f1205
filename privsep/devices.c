/*
 * The parent's last line for kernel devices: if blockd dies without
 * releasing them, disconnect every configured /dev/nbdN itself, so no
 * device is left connected to nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vmediad.h"

/* Before the sandbox: the netlink socket, only if there are devices. */
void
devices_open(struct vmediad *env)
{
	int i, r;

	env->nl.fd = -1;
	for (i = 0; i < env->conf->nexports; i++)
		if (env->conf->exports[i].device[0] != '\0')
			break;
	if (i == env->conf->nexports)
		return;
	if ((r = nbd_nl_open(&env->nl)) != 0)
		log_debug("NBD netlink: %s", strerror(-r));
}

void
devices_release(struct vmediad *env)
{
	const struct conf_export *e;
	uint32_t index;
	int i, r;

	if (env->nl.family == 0)
		return;
	for (i = 0; i < env->conf->nexports; i++) {
		e = &env->conf->exports[i];
		if (e->device[0] == '\0')
			continue;
		index = (uint32_t)conf_nbd_index(e->device);
		if (nbd_nl_connected(&env->nl, index) != 1)
			continue;
		if ((r = nbd_nl_disconnect(&env->nl, index)) != 0)
			log_warnx("export %s: disconnect %s: %s", e->name,
			    e->device, strerror(-r));
		else
			log_warnx("export %s: %s released after blockd died",
			    e->name, e->device);
	}
}
