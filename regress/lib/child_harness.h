/*
 * A harness that runs one real, sandboxed child (blockd, hookd) the way
 * the parent does and plays the processes on the other end of its channels.
 */
#ifndef CHILD_HARNESS_H
#define CHILD_HARNESS_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "msg.h"

#define WAIT_MS 10000 /* the longest any one wait may take */
#define EXIT_MS 5000  /* for a child that should be exiting */

struct kid {
	enum msg_proc proc; /* who it is; we play its peers */
	pid_t pid;	    /* 0 once reaped */
	int parent;	    /* our end of the child's fd 3 */
	int sib[2];	    /* our ends of its fds 4 and 5, or -1 */
	char log[PATH_MAX]; /* its stderr */
};

extern char harness_work[PATH_MAX];	 /* build/regress/NAME, root-owned */
extern char harness_empty[PATH_MAX];	 /* the children's empty chroot */
extern const char *harness_hook_modules; /* hook-modules, or NULL */

void harness_setup(const char *, const char *, void (*)(void));
void
harness_fail(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
long now_ms(void);
void sleep_ms(long);
void path_of(char *, size_t, const char *);
char *read_path(const char *);

void spawn_child(struct kid *, const char *, int);
void kid_close(struct kid *);
void send_conf(struct kid *, const struct conf_export *, int, uint32_t);
int kid_up(struct kid *, const char *, int, const struct conf_export *, int);
int kid_up_for(const char *, struct kid *, const char *, int,
    const struct conf_export *, int);
int ping(struct kid *);
int expect_msg(const struct kid *, int, uint32_t, int, struct msg *);
int expect_silence(int, int);
int wait_exit(struct kid *, int, int *);
int log_count(const struct kid *, const char *);
const char *proc_status(pid_t, const char *, char *, size_t);

void test_proc_status(struct kid *, const char *, const char *, const char *);
void expect_fatal(const char *, struct kid *, const char *);
void test_shutdown(struct kid *, const char *);
void test_parent_gone(const char *, int, const struct conf_export *, int);
void test_full_queue(const char *, int, const struct conf_export *, int);

#endif
