/*
 * An export's source through nbdkit, as root prepares it and starts it.
 *
 * nbdkit runs as the unprivileged account of [vmediad] "user", with no
 * capabilities (bounding and ambient sets empty), no_new_privs, no
 * supplementary groups, an empty environment but PATH (and TMPDIR,
 * below), cwd "/", and only its end of a socketpair on stdin and stdout
 * (nbdkit -s serves one NBD connection there) and stderr. Its argument list is
 * built from the checked config only (conf_source_parse took the URI apart),
 * one value per argument, and execve() runs it: no shell.
 *
 * The files of a source are root's and mode 0600, which that account
 * cannot read: root copies what nbdkit needs into a private folder per
 * export, owned by the account, mode 0700, under names nbdkit and libnbd
 * expect (ca-cert.pem, client-cert.pem, client-key.pem for
 * tls-certificates=DIR; keys.psk; the password of HTTP credentials).
 * Secrets never appear in an argument: only the folder's paths do.
 *
 * An export with source-overlay = yes is offered writable through
 * nbdkit's cow filter, the upstream opened read-only: the filter keeps
 * the writes in a temporary file in $TMPDIR (/var/tmp without it), made
 * and unlinked at once. TMPDIR is the folder "overlay" of the private
 * folder, the account's alone, so the writes are in no shared place,
 * vanish with nbdkit (an eject, a kill, the daemon stopping), and the
 * folder is removed when nbdkit is reaped.
 *
 * No seccomp filter of ours: nbdkit loads plugins and filters with
 * dlopen (executable mappings), runs threads, and its nbd and curl
 * plugins use GnuTLS, libnbd and libcurl, whose calls differ by version
 * and architecture; an allow-list for it that holds on x86-64, arm64 and
 * armhf cannot be kept honest here. Its confinement is the account, no
 * capabilities, no_new_privs and nothing open but its socket.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cap-ng.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source.h"

#define SOURCE_FILE_MAX (1024 * 1024) /* a CA bundle is about 200 KiB */
#define SOURCE_CAS_MAX 512	      /* files in an https CA folder */

static const char *const source_files[] = { "ca-cert.pem", "client-cert.pem",
	"client-key.pem", "keys.psk", "user", "password" };

static int fail(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -1;
}

static int
join(char *out, size_t size, const char *dir, const char *name)
{
	return (size_t)snprintf(out, size, "%s/%s", dir, name) < size ? 0 : -1;
}

/* Reads a whole (small) file; the caller frees *buf. */
static int
read_all(const char *path, char **buf, size_t *len, char *why, size_t size)
{
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return fail(why, size, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > SOURCE_FILE_MAX) {
		close(fd);
		return fail(why, size, "%s: not a file of at most 1 MiB", path);
	}
	if ((*buf = malloc(st.st_size + 1)) == NULL) {
		close(fd);
		return fail(why, size, "%s: out of memory", path);
	}
	*len = 0;
	while ((n = read(fd, *buf + *len, st.st_size - *len)) > 0)
		*len += n;
	close(fd);
	if (n == -1) {
		free(*buf);
		return fail(why, size, "%s: %s", path, strerror(errno));
	}
	(*buf)[*len] = '\0';
	return 0;
}

static int
write_owned(const char *path, const char *data, size_t len, uid_t uid,
    gid_t gid, char *why, size_t size)
{
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return fail(why, size, "%s: %s", path, strerror(errno));
	if (write(fd, data, len) != (ssize_t)len || fchown(fd, uid, gid) == -1)
		r = fail(why, size, "%s: %s", path, strerror(errno));
	close(fd);
	return r;
}

static int
copy_owned(const char *from, const char *to, uid_t uid, gid_t gid, char *why,
    size_t size)
{
	char *buf;
	size_t len;
	int r;

	if (read_all(from, &buf, &len, why, size) == -1)
		return -1;
	r = write_owned(to, buf, len, uid, gid, why, size);
	explicit_bzero(buf, len);
	free(buf);
	return r;
}

/* The first line of a file: "name:rest", name made of safe characters. */
static int
first_line_split(const char *path, char *name, size_t nsize, char **rest,
    char *why, size_t size)
{
	char *buf, *colon, *nl;
	size_t len, nlen;

	if (read_all(path, &buf, &len, why, size) == -1)
		return -1;
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	if ((nl = strchr(buf, '\r')) != NULL)
		*nl = '\0';
	colon = strchr(buf, ':');
	nlen = colon != NULL ? (size_t)(colon - buf) : 0;
	if (nlen == 0 || nlen >= nsize ||
	    strspn(buf,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789._@-") != nlen ||
	    colon[1] == '\0') {
		explicit_bzero(buf, len);
		free(buf);
		return fail(why, size,
		    "%s: the first line must be NAME:SECRET, NAME of "
		    "letters, digits, '.', '_', '@' or '-'",
		    path);
	}
	memcpy(name, buf, nlen);
	name[nlen] = '\0';
	if (rest != NULL && (*rest = strdup(colon + 1)) == NULL) {
		explicit_bzero(buf, len);
		free(buf);
		return fail(why, size, "out of memory");
	}
	explicit_bzero(buf, len);
	free(buf);
	return 0;
}

/* An https CA folder: its regular files (and links to them), copied. */
static int
copy_ca_folder(const char *from, const char *to, uid_t uid, gid_t gid,
    char *why, size_t size)
{
	char src[CONF_PATH_MAX * 2], dst[CONF_PATH_MAX * 2];
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int n = 0, r = 0;

	if (mkdir(to, 0700) == -1 || chown(to, uid, gid) == -1)
		return fail(why, size, "%s: %s", to, strerror(errno));
	if ((dir = opendir(from)) == NULL)
		return fail(why, size, "%s: %s", from, strerror(errno));
	while (r == 0 && (d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' ||
		    join(src, sizeof(src), from, d->d_name) == -1 ||
		    stat(src, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		if (++n > SOURCE_CAS_MAX)
			r = fail(why, size, "%s: more than %d files", from,
			    SOURCE_CAS_MAX);
		else if (join(dst, sizeof(dst), to, d->d_name) == -1)
			r = fail(why, size, "%s: name too long", d->d_name);
		else
			r = copy_owned(src, dst, uid, gid, why, size);
	}
	closedir(dir);
	return r;
}

/* Removes a folder of files (no subfolders) and the folder. */
static void
remove_files(const char *dir, const char *name)
{
	char path[CONF_PATH_MAX * 2], file[CONF_PATH_MAX * 3];
	struct dirent *d;
	DIR *files;

	if (join(path, sizeof(path), dir, name) == -1)
		return;
	if ((files = opendir(path)) != NULL) {
		while ((d = readdir(files)) != NULL)
			if (strcmp(d->d_name, ".") != 0 &&
			    strcmp(d->d_name, "..") != 0 &&
			    join(file, sizeof(file), path, d->d_name) == 0)
				unlink(file);
		closedir(files);
	}
	rmdir(path);
}

/* Removes a private folder and what source_prepare() or nbdkit put in it. */
void
source_cleanup(const char *dir)
{
	char path[CONF_PATH_MAX * 2];
	size_t i;

	for (i = 0; i < sizeof(source_files) / sizeof(source_files[0]); i++)
		if (join(path, sizeof(path), dir, source_files[i]) == 0)
			unlink(path);
	remove_files(dir, "cas");
	remove_files(dir, SOURCE_NO_CAS);
	/* The cow filter unlinks its file at once; one killed before not. */
	remove_files(dir, SOURCE_OVERLAY);
	rmdir(dir);
}

/*
 * The private folder dir of export e for the account uid:gid, made anew
 * with copies of the source's files. Returns 0, or -1 and why.
 */
int
source_prepare(const struct conf_export *e, const char *dir, uid_t uid,
    gid_t gid, char *why, size_t size)
{
	char path[CONF_PATH_MAX * 2], user[CONF_NAME_MAX], *password = NULL;
	const struct {
		const char *from;
		const char *name;
	} copies[] = {
		{ e->source_certificate, "client-cert.pem" },
		{ e->source_key, "client-key.pem" },
		{ e->source_psk, "keys.psk" },
	};
	struct stat st;
	size_t i;
	int r = 0;

	why[0] = '\0';
	source_cleanup(dir);
	if (mkdir(dir, 0700) == -1)
		return fail(why, size, "%s: %s", dir, strerror(errno));
	for (i = 0; r == 0 && i < sizeof(copies) / sizeof(copies[0]); i++)
		if (copies[i].from[0] != '\0')
			r = join(path, sizeof(path), dir, copies[i].name) ||
			    copy_owned(copies[i].from, path, uid, gid, why,
				size);
	if (r == 0 && e->source_ca[0] != '\0') {
		if (stat(e->source_ca, &st) == 0 && S_ISDIR(st.st_mode))
			r = join(path, sizeof(path), dir, "cas") ||
			    copy_ca_folder(e->source_ca, path, uid, gid, why,
				size);
		else {
			r = join(path, sizeof(path), dir, "ca-cert.pem") ||
			    copy_owned(e->source_ca, path, uid, gid, why, size);
			if (r == 0 &&
			    (join(path, sizeof(path), dir, SOURCE_NO_CAS) ==
				    -1 ||
				mkdir(path, 0700) == -1 ||
				chown(path, uid, gid) == -1))
				r = fail(why, size, "%s/%s: %s", dir,
				    SOURCE_NO_CAS, strerror(errno));
		}
	}
	if (r == 0 && e->source_credentials[0] != '\0') {
		r = first_line_split(e->source_credentials, user, sizeof(user),
		    &password, why, size);
		if (r == 0)
			r = join(path, sizeof(path), dir, "user") ||
			    write_owned(path, user, strlen(user), uid, gid, why,
				size) ||
			    join(path, sizeof(path), dir, "password") ||
			    write_owned(path, password, strlen(password), uid,
				gid, why, size);
		if (password != NULL) {
			explicit_bzero(password, strlen(password));
			free(password);
		}
	}
	if (r == 0 && e->source_overlay &&
	    (join(path, sizeof(path), dir, SOURCE_OVERLAY) == -1 ||
		mkdir(path, 0700) == -1 || chown(path, uid, gid) == -1))
		r = fail(why, size, "%s/%s: %s", dir, SOURCE_OVERLAY,
		    strerror(errno));
	if (r == 0 && chown(dir, uid, gid) == -1)
		r = fail(why, size, "%s: %s", dir, strerror(errno));
	if (r != 0) {
		if (why[0] == '\0')
			fail(why, size, "%s: path too long", dir);
		source_cleanup(dir);
	}
	return r == 0 ? 0 : -1;
}

static int arg(struct source_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
arg(struct source_argv *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->argc == SOURCE_ARGV_MAX)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(a->args[a->argc], SOURCE_ARG_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= SOURCE_ARG_MAX)
		return -1;
	a->argv[a->argc] = a->args[a->argc];
	a->argv[++a->argc] = NULL;
	return 0;
}

/* A host as nbdkit's hostname= takes it: an IPv6 address without [ ]. */
static void
bare_host(const char *host, char *out, size_t size)
{
	size_t len = strlen(host);

	if (host[0] == '[' && len >= 2)
		snprintf(out, size, "%.*s", (int)(len - 2), host + 1);
	else
		snprintf(out, size, "%s", host);
}

static int
argv_nbd(const struct conf_export *e, const struct conf_source *src,
    const char *dir, struct source_argv *a, char *why, size_t size)
{
	char host[CONF_HOST_MAX], user[CONF_NAME_MAX], path[CONF_PATH_MAX * 2];
	int r = 0;

	r |= arg(a, "nbd");
	if (src->scheme == CONF_SCHEME_NBD_UNIX)
		r |= arg(a, "socket=%s", src->socket);
	else {
		bare_host(src->host, host, sizeof(host));
		r |= arg(a, "hostname=%s", host);
		if (src->port[0] != '\0')
			r |= arg(a, "port=%s", src->port);
	}
	r |= arg(a, "export=%s", src->export);
	if (src->scheme != CONF_SCHEME_NBDS)
		return r;
	r |= arg(a, "tls=require");
	if (e->source_psk[0] != '\0') {
		if (join(path, sizeof(path), dir, "keys.psk") == -1 ||
		    first_line_split(path, user, sizeof(user), NULL, why,
			size) == -1)
			return -1;
		r |= arg(a, "tls-psk=%s", path);
		r |= arg(a, "tls-username=%s", user);
	} else if (e->source_ca[0] != '\0' ||
	    e->source_certificate[0] != '\0') {
		/* libnbd's layout; without ca-cert.pem it trusts the system. */
		r |= arg(a, "tls-certificates=%s", dir);
		r |= arg(a, "tls-verify=true");
	}
	return r;
}

static int
argv_curl(const struct conf_export *e, const struct conf_source *src,
    const char *dir, unsigned int flags, struct source_argv *a, char *why,
    size_t size)
{
	char path[CONF_PATH_MAX * 2], *user;
	size_t len;
	struct stat st;
	int r = 0;

	r |= arg(a, "curl");
	r |= arg(a, "url=%s%s%s%s%s", conf_scheme_name(src->scheme), src->host,
	    src->port[0] != '\0' ? ":" : "", src->port, src->export);
	r |= arg(a, "protocols=%s",
	    src->scheme == CONF_SCHEME_HTTPS ? "https" : "http");
	r |= arg(a, "followlocation=false");
	if (flags & SOURCE_NO_VERIFY)
		r |= arg(a, "sslverify=false");
	else if (e->source_ca[0] != '\0') {
		if (join(path, sizeof(path), dir, "cas") == 0 &&
		    stat(path, &st) == 0)
			r |= arg(a, "capath=%s", path);
		else if (join(path, sizeof(path), dir, "ca-cert.pem") == 0) {
			r |= arg(a, "cainfo=%s", path);
			/*
			 * libcurl keeps its built-in CA folder (Debian's:
			 * /etc/ssl/certs) beside cainfo: an empty one in its
			 * place, so that these CAs are trusted alone.
			 */
			if (join(path, sizeof(path), dir, SOURCE_NO_CAS) == 0)
				r |= arg(a, "capath=%s", path);
		}
	}
	if (e->source_credentials[0] != '\0') {
		if (join(path, sizeof(path), dir, "user") == -1 ||
		    read_all(path, &user, &len, why, size) == -1)
			return -1;
		r |= arg(a, "user=%s", user);
		free(user);
		if (join(path, sizeof(path), dir, "password") == -1)
			return -1;
		r |= arg(a, "password=+%s", path);
	}
	return r;
}

/*
 * The argument list of the nbdkit that serves export e, its private
 * folder dir. Returns 0, or -1 and why.
 */
int
source_build_argv(const struct conf_export *e, const char *dir,
    unsigned int flags, struct source_argv *a, char *why, size_t size)
{
	struct conf_source src;
	const char *r;
	int http;

	memset(a, 0, sizeof(*a));
	why[0] = '\0';
	if ((r = conf_source_parse(e->source, &src, why, size)) != NULL)
		return fail(why, size, "source: %s", r);
	http =
	    src.scheme == CONF_SCHEME_HTTPS || src.scheme == CONF_SCHEME_HTTP;
	/* The cow filter outermost: beneath it nothing is written. */
	if (arg(a, "nbdkit") || arg(a, "-s") || arg(a, "--exit-with-parent") ||
	    (e->read_only && arg(a, "--readonly")) ||
	    (e->source_overlay && arg(a, "--filter=cow")) ||
	    (http && arg(a, "--filter=readahead")) || arg(a, "--filter=retry"))
		return fail(why, size, "argument list too long");
	snprintf(a->envs[0], SOURCE_ARG_MAX,
	    "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	a->envp[0] = a->envs[0];
	if (e->source_overlay) {
		if ((size_t)snprintf(a->envs[1], SOURCE_ARG_MAX, "TMPDIR=%s/%s",
			dir, SOURCE_OVERLAY) >= SOURCE_ARG_MAX)
			return fail(why, size, "%s: path too long", dir);
		a->envp[1] = a->envs[1];
	}
	if ((http ? argv_curl(e, &src, dir, flags, a, why, size) :
		    argv_nbd(e, &src, dir, a, why, size)) != 0)
		return why[0] != '\0' ?
		    -1 :
		    fail(why, size, "argument list too long");
	return 0;
}

/* In the child: the account, no capabilities, no_new_privs, then exec. */
static void __attribute__((noreturn))
source_exec(struct source_argv *a, int sock, int errfd, uid_t uid, gid_t gid)
{
	int high;

	if ((high = fcntl(sock, F_DUPFD_CLOEXEC, 16)) == -1 ||
	    dup2(high, STDIN_FILENO) == -1 || dup2(high, STDOUT_FILENO) == -1 ||
	    (errfd != -1 && dup2(errfd, STDERR_FILENO) == -1))
		_exit(127);
	closefrom(STDERR_FILENO + 1);
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_change_id(uid, gid,
		CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING) != 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 ||
	    getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || uid == 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    chdir("/") == -1) {
		dprintf(STDERR_FILENO,
		    "vmediad: source: cannot drop to uid %u\n", (unsigned)uid);
		_exit(127);
	}
	umask(077);
	signal(SIGPIPE, SIG_DFL);
	execve(SOURCE_NBDKIT, a->argv, a->envp);
	dprintf(STDERR_FILENO, "vmediad: exec %s: %s\n", SOURCE_NBDKIT,
	    strerror(errno));
	_exit(127);
}

/*
 * Starts nbdkit for export e, prepared in dir, as uid:gid. With
 * SOURCE_STDERR its stderr comes back in c->err_fd; otherwise it shares
 * ours. Returns 0, or -1 and why.
 */
int
source_spawn(const struct conf_export *e, const char *dir, uid_t uid, gid_t gid,
    unsigned int flags, struct source_child *c, char *why, size_t size)
{
	static struct source_argv a;
	int want_stderr = (flags & SOURCE_STDERR) != 0;
	int sp[2], errpipe[2] = { -1, -1 };

	c->pid = -1;
	c->fd = c->err_fd = -1;
	if (uid == 0)
		return fail(why, size, "nbdkit must not run as root");
	if (source_build_argv(e, dir, flags, &a, why, size) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		return fail(why, size, "socketpair: %s", strerror(errno));
	if (want_stderr && pipe2(errpipe, O_CLOEXEC) == -1) {
		close(sp[0]);
		close(sp[1]);
		return fail(why, size, "pipe: %s", strerror(errno));
	}
	switch (c->pid = fork()) {
	case -1:
		close(sp[0]);
		close(sp[1]);
		if (errpipe[0] != -1) {
			close(errpipe[0]);
			close(errpipe[1]);
		}
		return fail(why, size, "fork: %s", strerror(errno));
	case 0:
		close(sp[0]);
		source_exec(&a, sp[1], errpipe[1], uid, gid);
	}
	close(sp[1]);
	if (errpipe[1] != -1)
		close(errpipe[1]);
	c->fd = sp[0];
	c->err_fd = errpipe[0];
	return 0;
}
