/*
 * An export's source through nbdkit: the private folder of its TLS
 * material, the argument list built from the checked config, and the
 * unprivileged child that serves one NBD connection on a socketpair.
 */
#ifndef SOURCE_H
#define SOURCE_H

#include <sys/types.h>

#include "conf.h"

#define SOURCE_NBDKIT "/usr/bin/nbdkit"
#define SOURCE_ARGV_MAX 32
#define SOURCE_ARG_MAX (CONF_URI_MAX + CONF_PATH_MAX + 64)
#define SOURCE_STDERR_MAX 2048 /* the tail of nbdkit's stderr kept */

#define SOURCE_ENV_MAX 2

/* source_spawn and source_build_argv flags */
#define SOURCE_STDERR 0x01	 /* nbdkit's stderr comes back in err_fd */
#define SOURCE_NO_VERIFY 0x02	 /* https: sslverify=false (Redfish) */
#define SOURCE_OVERLAY "overlay" /* the cow filter's folder (TMPDIR) */
#define SOURCE_NO_CAS "no-cas"	 /* an empty CA folder: cainfo's alone */

/*
 * The argument list of one nbdkit, each argument in its own array, and
 * its environment: PATH, and TMPDIR where the cow filter keeps writes.
 */
struct source_argv {
	char args[SOURCE_ARGV_MAX][SOURCE_ARG_MAX];
	char *argv[SOURCE_ARGV_MAX + 1];
	int argc;
	char envs[SOURCE_ENV_MAX][SOURCE_ARG_MAX];
	char *envp[SOURCE_ENV_MAX + 1];
};

/* One running nbdkit: its pid, our end of its socketpair, its stderr. */
struct source_child {
	pid_t pid;
	int fd;
	int err_fd; /* -1 if it writes on our stderr */
};

int source_prepare(const struct conf_export *, const char *, uid_t, gid_t,
    char *, size_t);
void source_cleanup(const char *);
int source_build_argv(const struct conf_export *, const char *, unsigned int,
    struct source_argv *, char *, size_t);
int source_spawn(const struct conf_export *, const char *, uid_t, gid_t,
    unsigned int, struct source_child *, char *, size_t);

/* source_reason.c */
int source_reason(const char *, size_t, char *, size_t);

#endif
