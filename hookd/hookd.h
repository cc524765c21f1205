/*
 * hookd: runs the state hook named in the config for an export, as
 * `HOOK start|stop NAME` (the jsnbd contract), with a timeout.
 */
#ifndef HOOKD_H
#define HOOKD_H

#include <sys/types.h>

#include "conf.h"
#include "sandbox.h"

extern const struct sandbox_policy hookd_policy;

/* What one hook runs with: its argv and environment (hookd.c). */
struct hook_cmd {
	char env[6][CONF_PATH_MAX + 32];
	char *envp[8];
	char *argv[4];
};

/* hook_exec.c: the only code that makes, signals or reaps a process. */
pid_t hook_spawn(const struct hook_cmd *, int);
void hook_signal(pid_t, int);
pid_t hook_reap(int *);

/* prepare.c */
void hookd_prepare(const struct conf_global *);

#endif
