/*
 * hookd: runs the state hook named in the config for an export, as
 * `HOOK start|stop NAME` (the jsnbd contract), with a timeout.
 */
#ifndef HOOKD_H
#define HOOKD_H

#include "sandbox.h"

extern const struct sandbox_policy hookd_policy;

/* prepare.c */
void	hookd_prepare(const struct conf_global *);

#endif
