/*
 * The launcher: forked by vmediad before its sandbox, it starts and reaps
 * the nbdkit of each export that has a source, asked over a channel.
 */
#ifndef LAUNCHER_H
#define LAUNCHER_H

#include "sandbox.h"

#define LAUNCHER_FD 3 /* the launcher's channel to the parent */

extern const struct sandbox_policy launcher_policy;

struct vmediad;
struct msg_ca;
struct msg_insert;
struct msg_source;

/* launcher.c: the launcher process */
void launcher_main(const struct conf_global *) __attribute__((noreturn));

/* launcher_parent.c: the parent's side */
int launcher_wanted(const struct conf *);
void launcher_fork(struct vmediad *);
void launcher_attach(struct vmediad *);
void launcher_stop(struct vmediad *);
int launcher_reaped(struct vmediad *, pid_t, int);
void launcher_insert(struct vmediad *, const struct msg_insert *);
void launcher_insert_ca(struct vmediad *, const struct msg_ca *);
void launcher_eject(struct vmediad *, const struct msg_source *);
void launcher_reload(struct vmediad *);

#endif
