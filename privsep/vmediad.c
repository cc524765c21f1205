/*
 * vmediad, the parent: checks and loads the config, spawns its children,
 * restricts itself, then supervises: SIGHUP reloads, SIGTERM stops all,
 * any child dying stops all with a non-zero exit.
 */
#include <sys/types.h>

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "libevent_tv.h"
#include "log.h"
#include "vmediad.h"

#ifdef VMEDIAD_TEST
#define PING_INTERVAL_MS 1000
#else
#define PING_INTERVAL_MS 5000
#endif

static void
usage(void)
{
	fprintf(stderr,
	    "usage: vmediad [-dnSv] [-f file]\n       vmediad -P\n");
	exit(1);
}

static void
conf_print_error(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s\n", line);
}

static void
conf_log_error(void *arg, const char *line)
{
	(void)arg;
	log_warnx("reload: %s", line);
}

/* What the children were built around cannot change without a restart. */
static void
reload_keep_fixed(const struct conf_global *old, struct conf_global *new)
{
	if (memcmp(old->listen, new->listen, sizeof(old->listen)) != 0 ||
	    old->nlisten != new->nlisten || strcmp(old->user, new->user) != 0 ||
	    strcmp(old->chroot, new->chroot) != 0 ||
	    strcmp(old->web, new->web) != 0 ||
	    strcmp(old->tls_certificate, new->tls_certificate) != 0 ||
	    strcmp(old->tls_key, new->tls_key) != 0 ||
	    strcmp(old->nbd_client_ca, new->nbd_client_ca) != 0 ||
	    strcmp(old->audit, new->audit) != 0)
		log_warnx("reload: listen, user, chroot, web, audit and tls "
			  "changes take effect only after a restart");
	memcpy(new->listen, old->listen, sizeof(new->listen));
	new->nlisten = old->nlisten;
	memcpy(new->user, old->user, sizeof(new->user));
	memcpy(new->chroot, old->chroot, sizeof(new->chroot));
	memcpy(new->web, old->web, sizeof(new->web));
	memcpy(new->audit, old->audit, sizeof(new->audit));
	memcpy(new->tls_certificate, old->tls_certificate,
	    sizeof(new->tls_certificate));
	memcpy(new->tls_key, old->tls_key, sizeof(new->tls_key));
	memcpy(new->nbd_client_ca, old->nbd_client_ca,
	    sizeof(new->nbd_client_ca));
	new->uid = old->uid;
	new->gid = old->gid;
}

static void
reload(struct vmediad *env)
{
	struct conf *conf;
	char why[128];
	int i, errors;

	if ((conf = calloc(1, sizeof(*conf))) == NULL) {
		log_warn("reload");
		return;
	}
	if ((errors = conf_load(conf, env->conffile, conf_log_error, NULL)) !=
	    0) {
		log_warnx("reload: %s has errors; keeping the running "
			  "configuration",
		    env->conffile);
		snprintf(why, sizeof(why), "rejected: %d errors in %s", errors,
		    env->conffile);
		audit_reload(env, why);
		explicit_bzero(conf, sizeof(*conf)); /* its users' keys */
		free(conf);
		return;
	}
	reload_keep_fixed(&env->conf->global, &conf->global);
	if (nofile_fits(conf, env->nofile, why, sizeof(why)) == -1) {
		log_warnx("reload: %s: %s; keeping the running configuration",
		    env->conffile, why);
		audit_reload(env,
		    "rejected: more connections than open files allow");
		explicit_bzero(conf, sizeof(*conf));
		free(conf);
		return;
	}
	explicit_bzero(env->conf, sizeof(*env->conf));
	free(env->conf);
	env->conf = conf;
	env->generation++;
	for (i = 0; i < PROC_COUNT; i++)
		proc_send_conf(env, &env->procs[i]);
	listen_exports(env);
	launcher_reload(env);
	log_info("reloaded %s (config %u)", env->conffile, env->generation);
	snprintf(why, sizeof(why), "config %u from %s", env->generation,
	    env->conffile);
	audit_reload(env, why);
}

static void
on_signal(evutil_socket_t sig, short events, void *arg)
{
	struct vmediad *env = arg;
#ifdef VMEDIAD_TEST
	struct proc *p;
#endif

	(void)events;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_info("stopping on SIG%s", sigabbrev_np(sig));
		proc_stop_all(env, 0);
		break;
	case SIGHUP:
		if (!env->stopping)
			reload(env);
		break;
	case SIGCHLD:
		proc_reap(env);
		break;
#ifdef VMEDIAD_TEST
	case SIGUSR1:
		if ((p = proc_by_name(env, env->test_child)) != NULL &&
		    p->pid != 0)
			chan_send(&p->chan, MSG_TEST_SYSCALL, NULL, 0, -1);
		break;
	case SIGUSR2:
		if ((p = proc_by_name(env, env->test_child)) != NULL &&
		    p->pid != 0 && !env->stopping)
			proc_flood(env, p);
		break;
#endif
	}
}

static void
on_ping_timer(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	proc_ping(arg);
}

static void
watch_signals(struct vmediad *env)
{
	static const int sigs[] = {
		SIGTERM,
		SIGINT,
		SIGHUP,
		SIGCHLD,
#ifdef VMEDIAD_TEST
		SIGUSR1,
		SIGUSR2,
#endif
	};
	struct event *ev;
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ev = evsignal_new(env->base, sigs[i], on_signal, env);
		if (ev == NULL || evsignal_add(ev, NULL) == -1)
			fatalx("cannot watch signal %d", sigs[i]);
	}
}

static void
start_ping_timer(struct vmediad *env)
{
	struct libevent_tv tv = { PING_INTERVAL_MS / 1000,
		(PING_INTERVAL_MS % 1000) * 1000 };

	env->ping_timer =
	    event_new(env->base, -1, EV_PERSIST, on_ping_timer, env);
	if (env->ping_timer == NULL ||
	    evtimer_add(env->ping_timer, LIBEVENT_TV(&tv)) == -1)
		fatalx("cannot arm the liveness timer");
}

/*
 * Before anything is spawned: the open-file limit fits max-connections,
 * raised if need be, or the config is refused (by -n as well).
 */
static int
nofile_start(struct vmediad *env)
{
	char why[256];
	rlim_t was, need = nofile_needed(env->conf);

	if (nofile_raise(env->conf, &was, why, sizeof(why)) == -1) {
		fprintf(stderr, "%s: %s\n", env->conffile, why);
		return -1;
	}
	env->nofile = was == RLIM_INFINITY || was >= need ? was : need;
	return 0;
}

int
main(int argc, char **argv)
{
	struct vmediad env;
	int ch, checkonly = 0, i;

	memset(&env, 0, sizeof(env));
	env.conffile = CONF_DEFAULT_FILE;
	while ((ch = getopt(argc, argv, "df:nPSv")) != -1) {
		switch (ch) {
		case 'd':
			env.foreground = 1;
			break;
		case 'f':
			env.conffile = optarg;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'P':
			return hashpw_main();
		case 'S':
			sandbox_print(&vmediad_policy);
			sandbox_print(&launcher_policy);
			return 0;
		case 'v':
			env.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if ((env.conf = calloc(1, sizeof(*env.conf))) == NULL)
		fatal("calloc");
	if (conf_load(env.conf, env.conffile, conf_print_error, NULL) != 0 ||
	    nofile_start(&env) == -1)
		return 1;
	if (checkonly) {
		printf("configuration OK\n");
		return 0;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "vmediad: must be started as root\n");
		return 1;
	}
	log_init("vmediad", env.foreground, env.verbose);
	log_debug("open files: %llu for max-connections %d",
	    (unsigned long long)env.nofile, env.conf->global.max_connections);
#ifdef VMEDIAD_TEST
	env.test_child = getenv("VMEDIAD_TEST_CHILD");
	if (env.test_child == NULL)
		env.test_child = "sessiond";
#endif
	if (!env.foreground && daemon(0, 0) == -1)
		fatal("daemon");
	launcher_fork(&env);
	if ((env.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	watch_signals(&env);
	listen_bind_http(&env);
	devices_open(&env);
	audit_open(&env);
	proc_spawn_all(&env);
	/*
	 * What the children's sockets do not take now waits in the channels'
	 * queues, listeners and all, and goes once the loop below runs; the
	 * children wait for their whole config before anything else.
	 */
	for (i = 0; i < PROC_COUNT; i++)
		proc_send_conf(&env, &env.procs[i]);
	listen_send_http(&env);
	listen_exports(&env);
	launcher_attach(&env);
	sandbox_enter(&vmediad_policy, &env.conf->global);
	start_ping_timer(&env);
	log_info("started with %s: %d exports", env.conffile,
	    env.conf->nexports);
	event_base_dispatch(env.base);
	listen_cleanup(&env);
	log_info("stopped%s", env.exit_code ? " after a failure" : "");
	return env.exit_code;
}
