/*
 * Run as a hook by regress/hookd: makes one system call a hook may or may
 * not make, saying so before and after, so a kill by the filter shows as
 * "before" without "after" and the hook's death by SIGSYS.
 */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>

#include <errno.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	const char *call = argc > 1 ? argv[1] : "";
	long r = -1;

	printf("probe before %s\n", call);
	fflush(stdout);
	if (strcmp(call, "mount") == 0)
		r = mount("none", "/nonexistent", "tmpfs", 0, NULL);
	else if (strcmp(call, "finit_module") == 0)
		r = syscall(SYS_finit_module, -1, "", 0);
	else if (strcmp(call, "ioctl_blkflsbuf") == 0)
		r = ioctl(STDIN_FILENO, BLKFLSBUF, 0);
	else if (strcmp(call, "ioctl_tcgets") == 0)
		r = isatty(STDIN_FILENO);
	else
		return 2;
	printf("probe after %s: %ld %s\n", call, r, strerror(errno));
	return 0;
}
