/*
 * A hook's process: forked with its output on a pipe, in a process group
 * of its own, signalled and reaped as a group. hookd.c decides what runs
 * and when; this file is the only one that touches processes.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hookd.h"

/* In the new process: stdin /dev/null, out for stdout and stderr, exec. */
static void
hook_exec(const struct hook_cmd *cmd, int out)
{
	int devnull;

	setpgid(0, 0);
	if ((devnull = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(out, STDOUT_FILENO) == -1 || dup2(out, STDERR_FILENO) == -1)
		_exit(126);
	closefrom(STDERR_FILENO + 1);
	/* child_start() ignored these; ignored stays ignored across exec. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	execve(cmd->argv[0], cmd->argv, cmd->envp);
	dprintf(STDERR_FILENO, "exec %s: %s\n", cmd->argv[0], strerror(errno));
	_exit(127);
}

/* The hook's pid, or -1 with errno set; out is still the caller's. */
pid_t
hook_spawn(const struct hook_cmd *cmd, int out)
{
	pid_t pid;

	if ((pid = fork()) == 0)
		hook_exec(cmd, out);
	return pid;
}

/* The hook and whatever it started: its whole process group. */
void
hook_signal(pid_t pid, int sig)
{
	kill(-pid, sig);
}

/* A hook that ended, with its status; 0 when none has. */
pid_t
hook_reap(int *status)
{
	return waitpid(-1, status, WNOHANG);
}
