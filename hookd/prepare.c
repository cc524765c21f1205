/*
 * What hooks may no longer do for themselves: load the kernel modules the
 * config names (hook-modules) and, when configfs is one of them, mount
 * it. hookd does both once, at start, while it still holds the rights;
 * its sandbox then drops them.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "hookd.h"
#include "log.h"

#define CONFIGFS_PATH "/sys/kernel/config"
#define CONFIGFS_MAGIC 0x62656570 /* linux/magic.h */

static const char *const modprobe_paths[] = {
	"/sbin/modprobe",
	"/usr/sbin/modprobe",
	"/bin/modprobe",
};

static const char *
modprobe_path(void)
{
	size_t i;

	for (i = 0; i < sizeof(modprobe_paths) / sizeof(modprobe_paths[0]); i++)
		if (access(modprobe_paths[i], X_OK) == 0)
			return modprobe_paths[i];
	return NULL;
}

/*
 * modprobe NAME, its output in our log. A module that will not load is
 * not fatal: the hook that needs it fails then, and says what is missing.
 */
static void
load_module(const char *modprobe, const char *name)
{
	char *argv[] = { (char *)modprobe, "-q", "--", (char *)name, NULL };
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	pid_t pid;
	int status;

	if ((pid = fork()) == -1) {
		log_warn("hook-modules: fork for %s", name);
		return;
	}
	if (pid == 0) {
		closefrom(STDERR_FILENO + 1);
		execve(modprobe, argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			log_warn("hook-modules: waitpid");
			return;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_info("hook-modules: %s loaded", name);
	else
		log_warnx("hook-modules: %s %s failed (status %#x); hooks "
			  "that need it will fail",
		    modprobe, name, status);
}

static void
load_modules(const char *list)
{
	const char *modprobe = NULL;
	char name[CONF_NAME_MAX];

	while (conf_list_next(&list, CONF_LIST_SEPS, name, sizeof(name))) {
		if (modprobe == NULL && (modprobe = modprobe_path()) == NULL) {
			log_warnx("hook-modules: no modprobe in /sbin, "
				  "/usr/sbin or /bin; no module loaded");
			return;
		}
		load_module(modprobe, name);
	}
}

/*
 * USB gadget hooks build their gadget in configfs: where nothing mounted
 * it yet (systemd does, at boot), mount it for them. Only when the config
 * names it, so that hookd changes nothing on a system that did not ask.
 */
static void
mount_configfs(void)
{
	struct statfs sfs;

	if (statfs(CONFIGFS_PATH, &sfs) == -1 ||
	    (unsigned long)sfs.f_type == CONFIGFS_MAGIC)
		return;
	if (mount("configfs", CONFIGFS_PATH, "configfs",
		MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == -1)
		log_warn("mount configfs on %s", CONFIGFS_PATH);
	else
		log_info("configfs mounted on %s", CONFIGFS_PATH);
}

void
hookd_prepare(const struct conf_global *g)
{
	load_modules(g->hook_modules);
	if (conf_list_has(g->hook_modules, "configfs", 0))
		mount_configfs();
}
