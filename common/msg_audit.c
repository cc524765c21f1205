/*
 * An audit record, as any process builds one for the parent to write: the
 * fields every record has, filled in one place.
 */
#include <stdio.h>
#include <string.h>

#include "msg.h"

void
msg_audit_init(struct msg_audit *a, int event, const char *user,
    const char *addr, const char *export, const char *reason)
{
	memset(a, 0, sizeof(*a));
	a->event = event;
	snprintf(a->user, sizeof(a->user), "%s", user);
	snprintf(a->addr, sizeof(a->addr), "%s", addr);
	snprintf(a->export, sizeof(a->export), "%s", export);
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
}
