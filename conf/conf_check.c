/*
 * Checks that need the whole config (cross references, defaults), checks
 * that need this machine (accounts, directories), and the re-validation a
 * child applies to a config it receives over its channel.
 */
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "conf_parse.h"

int
conf_listen_is_local(const struct conf_listen *l)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;

	switch (l->addr.sa.sa_family) {
	case AF_UNIX:
		return 1;
	case AF_INET:
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	case AF_INET6:
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	default:
		return 0;
	}
}

static int
group_exists(const struct conf *conf, const char *group)
{
	int i;

	for (i = 0; i < conf->nusers; i++)
		if (conf_list_has(conf->users[i].groups, group, 0))
			return 1;
	return 0;
}

static void
check_allow(struct conf_ctx *ctx, const struct conf_export *e)
{
	const char *list = e->allow;
	char word[CONF_NAME_MAX + 1];

	while (conf_list_next(&list, CONF_LIST_SEPS, word, sizeof(word))) {
		if (*word == '@' && !group_exists(ctx->conf, word + 1))
			conf_error(ctx, e->allow_line,
			    "export \"%s\": allow: no user is in group \"%s\"",
			    e->name, word + 1);
		else if (*word != '@' &&
		    conf_find_user(ctx->conf, word) == NULL)
			conf_error(ctx, e->allow_line,
			    "export \"%s\": allow: unknown user \"%s\"",
			    e->name, word);
	}
}

/*
 * An export whose source is inserted (POST /api/exports/NAME/insert):
 * source-ca is the only file it may name (the CA an nbds:// or https://
 * insert trusts); plain http:// needs source-http; web sources are
 * read-only.
 */
static void
check_allow_source(struct conf_ctx *ctx, const struct conf_export *e)
{
	const char *const other[] = { "source-certificate", "source-key",
		"source-psk", "source-credentials" };
	const char *const value[] = { e->source_certificate, e->source_key,
		e->source_psk, e->source_credentials };
	int line = e->allow_source_line, http, web;
	size_t i;

	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (value[i][0] != '\0')
			conf_error(ctx, line,
			    "export \"%s\": %s does not go with allow-source "
			    "(an inserted source takes no client certificate, "
			    "key or credentials file)",
			    e->name, other[i]);
	if (e->source_overlay)
		conf_error(ctx, line,
		    "export \"%s\": source-overlay does not go with "
		    "allow-source (an inserted source is never offered "
		    "writable)",
		    e->name);
	http = conf_allow_has_scheme(e->allow_source, CONF_SCHEME_HTTP);
	web = http || conf_allow_has_scheme(e->allow_source, CONF_SCHEME_HTTPS);
	if (http && !e->source_http)
		conf_error(ctx, line,
		    "export \"%s\": allow-source names http://, which needs "
		    "source-http = yes (nothing protects it on the way)",
		    e->name);
	if (!http && e->source_http)
		conf_error(ctx, line,
		    "export \"%s\": source-http = yes but allow-source names "
		    "no http://",
		    e->name);
	if (web && !e->read_only)
		conf_error(ctx, line,
		    "export \"%s\": allow-source names https:// or http://, "
		    "whose sources are read-only; add read-only = yes",
		    e->name);
}

/*
 * Which source keys go with which scheme. TLS material and credentials
 * are files named by their own keys, never part of the URI or an argv.
 */
static void
check_source(struct conf_ctx *ctx, const struct conf_export *e)
{
	const struct {
		const char *key;
		const char *value;
		int nbds, https; /* allowed with */
	} keys[] = {
		{ "source-ca", e->source_ca, 1, 1 },
		{ "source-certificate", e->source_certificate, 1, 0 },
		{ "source-key", e->source_key, 1, 0 },
		{ "source-psk", e->source_psk, 1, 0 },
		{ "source-credentials", e->source_credentials, 0, 1 },
	};
	struct conf_source src;
	char why[160];
	size_t i;
	int line = e->source_line ? e->source_line : e->line;

	if (e->source[0] != '\0' && e->allow_source[0] != '\0')
		conf_error(ctx, e->allow_source_line,
		    "export \"%s\": allow-source is for an export without a "
		    "source; choose one",
		    e->name);
	if (e->source[0] == '\0' && e->allow_source[0] != '\0') {
		check_allow_source(ctx, e);
		return;
	}
	if (e->source[0] == '\0') {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (keys[i].value[0] != '\0')
				conf_error(ctx, e->line,
				    "export \"%s\": %s given without a source",
				    e->name, keys[i].key);
		if (e->source_http)
			conf_error(ctx, e->line,
			    "export \"%s\": source-http given without a "
			    "source",
			    e->name);
		if (e->source_overlay)
			conf_error(ctx, e->line,
			    "export \"%s\": source-overlay given without a "
			    "source",
			    e->name);
		return;
	}
	if (conf_source_parse(e->source, &src, why, sizeof(why)) != NULL)
		return; /* reported at its line */
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].value[0] == '\0')
			continue;
		if (src.scheme == CONF_SCHEME_NBDS	? !keys[i].nbds :
			src.scheme == CONF_SCHEME_HTTPS ? !keys[i].https :
							  1)
			conf_error(ctx, line,
			    "export \"%s\": %s does not go with an %s source%s",
			    e->name, keys[i].key, conf_scheme_name(src.scheme),
			    keys[i].nbds && !keys[i].https ? " (only nbds://)" :
				!keys[i].nbds ? " (only https://)" :
						" (only nbds:// and https://)");
	}
	if (src.scheme == CONF_SCHEME_NBDS &&
	    (e->source_certificate[0] == '\0') != (e->source_key[0] == '\0'))
		conf_error(ctx, line,
		    "export \"%s\": source-certificate and source-key go "
		    "together",
		    e->name);
	if (src.scheme == CONF_SCHEME_NBDS && e->source_psk[0] != '\0' &&
	    (e->source_certificate[0] != '\0' || e->source_ca[0] != '\0'))
		conf_error(ctx, line,
		    "export \"%s\": source-psk is instead of X.509 "
		    "(source-ca, source-certificate, source-key); choose one",
		    e->name);
	if (src.scheme == CONF_SCHEME_HTTP && !e->source_http)
		conf_error(ctx, line,
		    "export \"%s\": a plain http:// source needs "
		    "source-http = yes (nothing protects it on the way)",
		    e->name);
	if (src.scheme != CONF_SCHEME_HTTP && e->source_http)
		conf_error(ctx, line,
		    "export \"%s\": source-http = yes is only for an "
		    "http:// source",
		    e->name);
	if ((src.scheme == CONF_SCHEME_HTTPS ||
		src.scheme == CONF_SCHEME_HTTP) &&
	    !e->read_only && !e->source_overlay)
		conf_error(ctx, line,
		    "export \"%s\": an %s source is read-only; "
		    "add read-only = yes, or source-overlay = yes for "
		    "writes kept until eject",
		    e->name, conf_scheme_name(src.scheme));
	if (e->source_overlay && e->read_only)
		conf_error(ctx, line,
		    "export \"%s\": source-overlay = yes makes the export "
		    "writable; it does not go with read-only = yes",
		    e->name);
}

static void
check_export(struct conf_ctx *ctx, const struct conf_export *e)
{
	const struct conf *conf = ctx->conf;
	const struct conf_export *other;

	if (e->device[0] != '\0' && e->socket[0] != '\0')
		conf_error(ctx, e->line,
		    "export \"%s\": both device and socket given; choose one",
		    e->name);
	else if (e->device[0] == '\0' && e->socket[0] == '\0')
		conf_error(ctx, e->line,
		    "export \"%s\": needs a device or a socket", e->name);
	for (other = conf->exports; other < e; other++) {
		if (e->device[0] != '\0' &&
		    strcmp(e->device, other->device) == 0)
			conf_error(ctx, e->line,
			    "export \"%s\": device %s "
			    "already used by export \"%s\"",
			    e->name, e->device, other->name);
		if (e->socket[0] != '\0' &&
		    strcmp(e->socket, other->socket) == 0)
			conf_error(ctx, e->line,
			    "export \"%s\": socket %s "
			    "already used by export \"%s\"",
			    e->name, e->socket, other->name);
		if (e->is_default && other->is_default)
			conf_error(ctx, e->line,
			    "export \"%s\": export \"%s\" "
			    "is already the default",
			    e->name, other->name);
	}
	if (conf->global.auth == CONF_AUTH_USERS)
		check_allow(ctx, e);
	check_source(ctx, e);
}

static void
default_number(int32_t *field, int32_t value)
{
	if (*field == 0)
		*field = value;
}

static void
conf_defaults(struct conf_global *g)
{
	default_number(&g->max_connections, CONF_DEFAULT_MAX_CONNECTIONS);
	if (g->redfish_manager[0] == '\0')
		memcpy(g->redfish_manager, CONF_DEFAULT_REDFISH_MANAGER,
		    sizeof(CONF_DEFAULT_REDFISH_MANAGER));
	default_number(&g->sessions_per_user, CONF_DEFAULT_SESSIONS_PER_USER);
	default_number(&g->request_timeout, CONF_DEFAULT_REQUEST_TIMEOUT);
	default_number(&g->handshake_timeout, CONF_DEFAULT_HANDSHAKE_TIMEOUT);
	default_number(&g->idle_timeout, CONF_DEFAULT_IDLE_TIMEOUT);
	default_number(&g->login_idle, CONF_DEFAULT_LOGIN_IDLE);
	default_number(&g->login_lifetime, CONF_DEFAULT_LOGIN_LIFETIME);
	default_number(&g->logins_per_user, CONF_DEFAULT_LOGINS_PER_USER);
	default_number(&g->max_header_size, CONF_DEFAULT_MAX_HEADER_SIZE);
	default_number(&g->max_headers, CONF_DEFAULT_MAX_HEADERS);
	default_number(&g->nbd_per_user, CONF_DEFAULT_NBD_PER_USER);
}

static void
check_global(struct conf_ctx *ctx)
{
	struct conf_global *g = &ctx->conf->global;
	int i, http, nbdtls;

	if (g->line == 0)
		return; /* missing [vmediad] is reported already */
	for (i = 0, http = 0, nbdtls = 0; i < g->nlisten; i++) {
		http += !g->listen[i].nbd;
		nbdtls += g->listen[i].nbd && g->listen[i].tls;
	}
	if (g->nbd_client_ca[0] != '\0' && nbdtls == 0)
		conf_error(ctx, g->line,
		    "nbd-client-ca without an nbd-listen that requires TLS");
	if (ctx->conf->nbd_psk_file[0] != '\0' && nbdtls == 0)
		conf_error(ctx, g->line,
		    "nbd-psk-file without an nbd-listen that requires TLS");
	if (http == 0)
		conf_error(ctx, g->line, "no listen address in [vmediad]");
	if ((g->tls_certificate[0] == '\0') != (g->tls_key[0] == '\0'))
		conf_error(ctx, g->line,
		    "tls-certificate and tls-key go together");
	if (g->auth == CONF_AUTH_NONE) {
		for (i = 0; i < g->nlisten; i++)
			if (!conf_listen_is_local(&g->listen[i]))
				conf_error(ctx, g->auth_line,
				    "auth = none is "
				    "only allowed on loopback and Unix "
				    "listeners, not %s (line %d)",
				    g->listen[i].text, g->listen[i].line);
	}
	for (i = 0; i < g->nlisten; i++) {
		if (g->listen[i].nbd && !g->listen[i].tls &&
		    !conf_listen_is_local(&g->listen[i]))
			conf_error(ctx, g->listen[i].line,
			    "nbd-listen %s plain: NBD clients may skip TLS only "
			    "on loopback",
			    g->listen[i].text);
		else if (g->listen[i].nbd && g->listen[i].tls &&
		    g->tls_certificate[0] == '\0')
			conf_error(ctx, g->listen[i].line,
			    "nbd-listen %s needs tls-certificate and tls-key "
			    "(or \"plain\" on loopback)",
			    g->listen[i].text);
		else if (!g->listen[i].nbd && g->listen[i].tls &&
		    g->tls_certificate[0] == '\0')
			conf_error(ctx, g->listen[i].line,
			    "listen %s tls needs tls-certificate and tls-key",
			    g->listen[i].text);
	}
	conf_defaults(g);
	if (g->user[0] == '\0')
		snprintf(g->user, sizeof(g->user), "_vmediad");
	if (g->chroot[0] == '\0')
		snprintf(g->chroot, sizeof(g->chroot), "/var/empty");
	if (g->web[0] == '\0')
		snprintf(g->web, sizeof(g->web), "/usr/share/vmediad/web");
}

void
conf_check(struct conf_ctx *ctx)
{
	int i;

	check_global(ctx);
	for (i = 0; i < ctx->conf->nexports; i++)
		check_export(ctx, &ctx->conf->exports[i]);
	for (i = 0; i < ctx->conf->nusers; i++)
		if (ctx->conf->users[i].password[0] == '\0')
			conf_error(ctx, ctx->conf->users[i].line,
			    "user \"%s\": no password",
			    ctx->conf->users[i].name);
}

/*
 * A file named by key exists and is a file (or, with dir_ok, a folder);
 * else says what is wrong. 1 when it is there, st filled in.
 */
static int
check_exists(struct conf_ctx *ctx, int line, const char *label, const char *key,
    const char *path, int dir_ok, struct stat *st)
{
	if (stat(path, st) == -1) {
		conf_error(ctx, line, "%s%s %s: %s", label, key, path,
		    strerror(errno));
		return 0;
	}
	if (!S_ISREG(st->st_mode) && !(dir_ok && S_ISDIR(st->st_mode))) {
		conf_error(ctx, line, "%s%s %s is not a file%s", label, key,
		    path, dir_ok ? " or a folder" : "");
		return 0;
	}
	return 1;
}

/*
 * A secret (the TLS key, a source's key, PSK or credentials): only root
 * may read or change the file it comes from, as sshd wants of its host
 * keys. label says whose ("export \"x\": ", or empty).
 */
static void
check_secret(struct conf_ctx *ctx, int line, const char *label, const char *key,
    const char *path)
{
	struct stat st;

	if (path[0] == '\0' ||
	    !check_exists(ctx, line, label, key, path, 0, &st))
		return;
	if (st.st_uid != 0)
		conf_error(ctx, line, "%s%s %s must be owned by root", label,
		    key, path);
	else if (st.st_mode & (S_IRWXG | S_IRWXO))
		conf_error(ctx, line,
		    "%s%s %s must not be readable or "
		    "writable by group or others (chmod 600)",
		    label, key, path);
}

/* Public material: a file (or, for https, a folder of CAs) that exists. */
static void
check_public(struct conf_ctx *ctx, int line, const char *label, const char *key,
    const char *path, int dir_ok)
{
	struct stat st;

	if (path[0] != '\0')
		check_exists(ctx, line, label, key, path, dir_ok, &st);
}

/*
 * The first line of a PSK file ("name:hex-key") or of credentials
 * ("user:password"): name of letters, digits, '.', '_', '@' or '-'. Read
 * here, as root, so that a wrong file stops vmediad at start, not an
 * attach later. Says nothing of the secret itself.
 */
static void
check_secret_line(struct conf_ctx *ctx, int line, const char *label,
    const char *key, const char *path, int hex)
{
	char buf[1024];
	size_t nlen, len;
	FILE *f;

	if (path[0] == '\0' || (f = fopen(path, "re")) == NULL)
		return; /* check_secret said why */
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	len = strlen(buf);
	nlen = strspn(buf,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._@-");
	if (nlen == 0 || buf[nlen] != ':' || nlen + 1 == len ||
	    (hex &&
		strspn(buf + nlen + 1, "0123456789abcdefABCDEF") !=
		    len - nlen - 1))
		conf_error(ctx, line,
		    "%s%s %s: the first line must be %s, %s of letters, "
		    "digits, '.', '_', '@' or '-'",
		    label, key, path, hex ? "NAME:HEX-KEY" : "USER:PASSWORD",
		    hex ? "NAME" : "USER");
	explicit_bzero(buf, sizeof(buf));
}

static void
check_source_files(struct conf_ctx *ctx, const struct conf_export *e)
{
	char label[CONF_NAME_MAX + 16];
	int line = e->source_line ? e->source_line : e->line;

	if (e->source[0] == '\0' && e->allow_source[0] != '\0') {
		snprintf(label, sizeof(label), "export \"%s\": ", e->name);
		check_public(ctx, e->allow_source_line, label, "source-ca",
		    e->source_ca,
		    conf_allow_has_scheme(e->allow_source, CONF_SCHEME_HTTPS));
		return;
	}
	if (e->source[0] == '\0')
		return;
	snprintf(label, sizeof(label), "export \"%s\": ", e->name);
	check_public(ctx, line, label, "source-ca", e->source_ca,
	    strncmp(e->source, "https://", 8) == 0);
	check_public(ctx, line, label, "source-certificate",
	    e->source_certificate, 0);
	check_secret(ctx, line, label, "source-key", e->source_key);
	check_secret(ctx, line, label, "source-psk", e->source_psk);
	check_secret(ctx, line, label, "source-credentials",
	    e->source_credentials);
	check_secret_line(ctx, line, label, "source-psk", e->source_psk, 1);
	check_secret_line(ctx, line, label, "source-credentials",
	    e->source_credentials, 0);
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * One line of nbd-psk-file, IDENTITY:HEX-KEY as psktool writes it: the
 * identity names a [user], who gets the key. Errors name the file and
 * line, and the identity only once it is a valid name; never the key.
 */
static void
psk_line(struct conf_ctx *ctx, char *text, size_t len)
{
	struct conf_user *u = NULL;
	unsigned char key[CONF_PSK_MAX];
	char *colon, *hex;
	size_t hlen, i;
	int hi, lo;

	if (memchr(text, '\0', len) != NULL) {
		conf_error(ctx, ctx->line, "NUL byte in line");
		return;
	}
	text[len] = '\0';
	if ((colon = strchr(text, ':')) == NULL) {
		conf_error(ctx, ctx->line, "expected IDENTITY:HEX-KEY");
		return;
	}
	*colon = '\0';
	hex = colon + 1;
	if (!conf_name_valid(text)) {
		conf_error(ctx, ctx->line,
		    "the identity must be a user's name: letters, digits, "
		    "'.', '_' or '-', at most %d",
		    CONF_NAME_MAX - 1);
		return;
	}
	for (i = 0; i < (size_t)ctx->conf->nusers; i++)
		if (strcmp(ctx->conf->users[i].name, text) == 0)
			u = &ctx->conf->users[i];
	if (u == NULL) {
		conf_error(ctx, ctx->line, "identity \"%s\" names no [user]",
		    text);
		return;
	}
	if (u->psk_len != 0) {
		conf_error(ctx, ctx->line, "identity \"%s\" has a key already",
		    text);
		return;
	}
	hlen = strlen(hex);
	if (hlen % 2 != 0 || hlen < 2 * CONF_PSK_MIN ||
	    hlen > 2 * CONF_PSK_MAX) {
		conf_error(ctx, ctx->line,
		    "identity \"%s\": the key must be %d to %d hex digits, an "
		    "even number",
		    text, 2 * CONF_PSK_MIN, 2 * CONF_PSK_MAX);
		return;
	}
	for (i = 0; i < hlen / 2; i++) {
		hi = hex_digit(hex[2 * i]);
		lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			conf_error(ctx, ctx->line,
			    "identity \"%s\": the key is not hex", text);
			explicit_bzero(key, sizeof(key));
			return;
		}
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(u->psk, key, hlen / 2);
	u->psk_len = (int32_t)(hlen / 2);
	explicit_bzero(key, sizeof(key));
}

/*
 * nbd-psk-file's contents: a key per line for users' identities, lines of
 * at most CONF_PSK_LINE_MAX bytes, at most one per user; blank lines are
 * skipped. file names it in messages. Returns the number of errors; on
 * any, no user keeps a key.
 */
int
conf_psk_parse_buffer(struct conf *conf, const char *file, const char *buf,
    size_t len, conf_error_fn err, void *arg)
{
	struct conf_ctx ctx;
	char line[CONF_PSK_LINE_MAX + 1];
	const char *nl;
	size_t off = 0, n;
	int i, count = 0;

	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.file = file;
	ctx.err = err;
	ctx.arg = arg;
	for (i = 0; i < conf->nusers; i++) {
		explicit_bzero(conf->users[i].psk, sizeof(conf->users[i].psk));
		conf->users[i].psk_len = 0;
	}
	if (len > CONF_PSK_FILE_MAX)
		conf_error(&ctx, 0, "file too large (over %d bytes)",
		    CONF_PSK_FILE_MAX);
	while (ctx.errors == 0 && off < len) {
		ctx.line++;
		nl = memchr(buf + off, '\n', len - off);
		n = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;
		if (n > 0 && buf[off + n - 1] == '\r')
			n--;
		if (n >= CONF_PSK_LINE_MAX)
			conf_error(&ctx, ctx.line, "line longer than %d bytes",
			    CONF_PSK_LINE_MAX - 1);
		else if (n > 0 && ++count > CONF_USER_MAX)
			conf_error(&ctx, ctx.line, "more than %d keys",
			    CONF_USER_MAX);
		else if (n > 0) {
			memcpy(line, buf + off, n);
			psk_line(&ctx, line, n);
		}
		off += nl != NULL ? (size_t)(nl - (buf + off)) + 1 : len - off;
	}
	explicit_bzero(line, sizeof(line));
	if (ctx.errors != 0)
		for (i = 0; i < conf->nusers; i++) {
			explicit_bzero(conf->users[i].psk,
			    sizeof(conf->users[i].psk));
			conf->users[i].psk_len = 0;
		}
	return ctx.errors;
}

/* Read as root at each (re)load; its keys go to sessiond with the users. */
static void
check_psk_file(struct conf_ctx *ctx, struct conf *conf)
{
	const char *path = conf->nbd_psk_file;
	size_t len = 0;
	ssize_t n = 0;
	char *buf;
	int fd, errors = ctx->errors;

	if (path[0] == '\0')
		return;
	check_secret(ctx, conf->global.line, "", "nbd-psk-file", path);
	if (ctx->errors != errors)
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		conf_error(ctx, conf->global.line, "nbd-psk-file %s: %s", path,
		    strerror(errno));
		return;
	}
	if ((buf = malloc(CONF_PSK_FILE_MAX + 1)) == NULL) {
		close(fd);
		conf_error(ctx, conf->global.line, "out of memory");
		return;
	}
	while (len <= CONF_PSK_FILE_MAX &&
	    (n = read(fd, buf + len, CONF_PSK_FILE_MAX + 1 - len)) > 0)
		len += n;
	close(fd);
	if (n == -1)
		conf_error(ctx, conf->global.line, "nbd-psk-file %s: %s", path,
		    strerror(errno));
	else
		ctx->errors += conf_psk_parse_buffer(conf, path, buf, len,
		    ctx->err, ctx->arg);
	explicit_bzero(buf, len);
	free(buf);
}

/* What only this machine can answer: the account, the chroot, the key. */
int
conf_check_system(struct conf *conf, const char *file, conf_error_fn err,
    void *arg)
{
	struct conf_global *g = &conf->global;
	struct conf_ctx ctx;
	struct passwd *pw;
	struct stat st;
	int i, line = g->user_line ? g->user_line : g->line;

	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.file = file;
	ctx.err = err;
	ctx.arg = arg;
	if ((pw = getpwnam(g->user)) == NULL)
		conf_error(&ctx, line, "unknown user \"%s\"", g->user);
	else if (pw->pw_uid == 0)
		conf_error(&ctx, line,
		    "user \"%s\" is root; use an unprivileged account",
		    g->user);
	else {
		g->uid = pw->pw_uid;
		g->gid = pw->pw_gid;
	}
	if (stat(g->chroot, &st) == -1 || !S_ISDIR(st.st_mode))
		conf_error(&ctx, g->line, "chroot %s is not a directory",
		    g->chroot);
	else if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		conf_error(&ctx, g->line,
		    "chroot %s must be owned by root "
		    "and not writable by others",
		    g->chroot);
	check_secret(&ctx, g->line, "", "tls-key", g->tls_key);
	check_public(&ctx, g->line, "", "nbd-client-ca", g->nbd_client_ca, 0);
	check_psk_file(&ctx, conf);
	for (i = 0; i < conf->nexports; i++)
		check_source_files(&ctx, &conf->exports[i]);
	return ctx.errors;
}

/*
 * A string field ends inside its array: what every receiver of a config
 * or a message checks first (common/msg.c uses this one too).
 */
int
conf_terminated(const char *field, size_t size)
{
	return memchr(field, '\0', size) != NULL;
}

/* A child re-checks what arrives over its channel before using it. */
int
conf_global_valid(const struct conf_global *g)
{
	int i;

	if (g->nlisten < 0 || g->nlisten > CONF_LISTEN_MAX)
		return 0;
	for (i = 0; i < g->nlisten; i++)
		if (!conf_terminated(g->listen[i].text,
			sizeof(g->listen[i].text)) ||
		    g->listen[i].addrlen > sizeof(g->listen[i].addr))
			return 0;
	return conf_terminated(g->user, sizeof(g->user)) &&
	    conf_terminated(g->chroot, sizeof(g->chroot)) &&
	    conf_terminated(g->web, sizeof(g->web)) &&
	    conf_terminated(g->audit, sizeof(g->audit)) &&
	    conf_terminated(g->tls_certificate, sizeof(g->tls_certificate)) &&
	    conf_terminated(g->tls_key, sizeof(g->tls_key)) &&
	    conf_terminated(g->nbd_client_ca, sizeof(g->nbd_client_ca)) &&
	    conf_terminated(g->origins, sizeof(g->origins)) &&
	    conf_terminated(g->server_names, sizeof(g->server_names)) &&
	    conf_terminated(g->hook_modules, sizeof(g->hook_modules)) &&
	    conf_terminated(g->redfish_manager, sizeof(g->redfish_manager)) &&
	    (g->redfish_manager[0] == '\0' ||
		conf_name_valid(g->redfish_manager)) &&
	    g->max_connections > 0 && g->sessions_per_user > 0 &&
	    g->request_timeout > 0 && g->handshake_timeout > 0 &&
	    g->idle_timeout > 0 && g->login_idle > 0 && g->login_lifetime > 0 &&
	    g->logins_per_user > 0 && g->max_header_size > 0 &&
	    g->max_headers > 0 && g->nbd_per_user > 0 &&
	    (g->auth == CONF_AUTH_USERS || g->auth == CONF_AUTH_NONE);
}

int
conf_export_valid(const struct conf_export *e)
{
	struct conf_source src;
	char why[160];

	return conf_terminated(e->name, sizeof(e->name)) &&
	    conf_name_valid(e->name) &&
	    conf_terminated(e->description, sizeof(e->description)) &&
	    conf_terminated(e->device, sizeof(e->device)) &&
	    conf_terminated(e->socket, sizeof(e->socket)) &&
	    conf_terminated(e->hook, sizeof(e->hook)) &&
	    conf_terminated(e->allow, sizeof(e->allow)) &&
	    conf_terminated(e->source, sizeof(e->source)) &&
	    conf_terminated(e->source_ca, sizeof(e->source_ca)) &&
	    conf_terminated(e->source_certificate,
		sizeof(e->source_certificate)) &&
	    conf_terminated(e->source_key, sizeof(e->source_key)) &&
	    conf_terminated(e->source_psk, sizeof(e->source_psk)) &&
	    conf_terminated(e->source_credentials,
		sizeof(e->source_credentials)) &&
	    (e->source[0] == '\0' ||
		conf_source_parse(e->source, &src, why, sizeof(why)) == NULL) &&
	    conf_terminated(e->allow_source, sizeof(e->allow_source)) &&
	    conf_allow_valid(e->allow_source) &&
	    (e->device[0] == '\0') != (e->socket[0] == '\0') &&
	    (e->device[0] == '\0' || conf_nbd_index(e->device) >= 0) &&
	    e->timeout >= 1 && e->timeout <= 3600 && e->max_size > 0 &&
	    e->read_ahead <= CONF_READ_AHEAD_MAX && e->reconnect >= 0 &&
	    e->reconnect <= CONF_RECONNECT_MAX &&
	    (e->source_overlay == 0 ||
		(e->source_overlay == 1 && e->source[0] != '\0' &&
		    !e->read_only));
}

int
conf_user_valid(const struct conf_user *u)
{
	return conf_terminated(u->name, sizeof(u->name)) &&
	    conf_name_valid(u->name) &&
	    (u->psk_len == 0 ||
		(u->psk_len >= CONF_PSK_MIN && u->psk_len <= CONF_PSK_MAX)) &&
	    conf_terminated(u->password, sizeof(u->password)) &&
	    conf_terminated(u->groups, sizeof(u->groups));
}
