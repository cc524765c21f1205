/*
 * Parses vmediad.conf with inih. Our line reader counts lines and handles
 * section headers itself, so every error can name its line.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "conf_parse.h"

#define CONF_FILE_MAX (1024 * 1024) /* refuse config files larger */

enum conf_section {
	SECTION_NONE, /* before the first header */
	SECTION_GLOBAL,
	SECTION_EXPORT,
	SECTION_USER,
	SECTION_BAD, /* an invalid header: its keys are skipped */
};

struct conf_parser {
	struct conf_ctx ctx;
	const char *buf;
	size_t len;
	size_t off;
	enum conf_section section;
	void *target;  /* export or user being filled */
	uint64_t seen; /* keys seen in this section */
	int seen_global;
};

static const struct conf_key global_keys[] = { { "listen", CONF_K_LISTEN, 0, 0,
						   1, 0, 0 },
	{ "nbd-listen", CONF_K_NBD_LISTEN, 0, 0, 1, 0, 0 },
	{ "user", CONF_K_USERNAME, offsetof(struct conf_global, user),
	    CONF_NAME_MAX, 0, 0, 0 },
	{ "chroot", CONF_K_PATH, offsetof(struct conf_global, chroot),
	    CONF_PATH_MAX, 0, 0, 0 },
	{ "web", CONF_K_PATH, offsetof(struct conf_global, web), CONF_PATH_MAX,
	    0, 0, 0 },
	{ "auth", CONF_K_AUTH, offsetof(struct conf_global, auth), 0, 0, 0, 0 },
	{ "audit", CONF_K_PATH, offsetof(struct conf_global, audit),
	    CONF_PATH_MAX, 0, 0, 0 },
	{ "tls-certificate", CONF_K_PATH,
	    offsetof(struct conf_global, tls_certificate), CONF_PATH_MAX, 0, 0,
	    0 },
	{ "tls-key", CONF_K_PATH, offsetof(struct conf_global, tls_key),
	    CONF_PATH_MAX, 0, 0, 0 },
	{ "nbd-client-ca", CONF_K_PATH,
	    offsetof(struct conf_global, nbd_client_ca), CONF_PATH_MAX, 0, 0,
	    0 },
	/* An offset into struct conf, not its global: see conf_handler. */
	{ "nbd-psk-file", CONF_K_PATH, offsetof(struct conf, nbd_psk_file),
	    CONF_PATH_MAX, 0, 0, 0 },
	{ "origin", CONF_K_ORIGINS, offsetof(struct conf_global, origins),
	    CONF_LIST_MAX, 0, 0, 0 },
	{ "server-name", CONF_K_HOSTS,
	    offsetof(struct conf_global, server_names), CONF_LIST_MAX, 0, 0,
	    0 },
	{ "hook-modules", CONF_K_MODULES,
	    offsetof(struct conf_global, hook_modules), CONF_LIST_MAX, 0, 0,
	    0 },
	{ "redfish-manager", CONF_K_USERNAME,
	    offsetof(struct conf_global, redfish_manager), CONF_NAME_MAX, 0, 0,
	    0 },
	{ "max-connections", CONF_K_NUMBER,
	    offsetof(struct conf_global, max_connections), 0, 0, 1, 4096 },
	{ "sessions-per-user", CONF_K_NUMBER,
	    offsetof(struct conf_global, sessions_per_user), 0, 0, 1, 64 },
	{ "request-timeout", CONF_K_NUMBER,
	    offsetof(struct conf_global, request_timeout), 0, 0, 1, 600 },
	{ "handshake-timeout", CONF_K_NUMBER,
	    offsetof(struct conf_global, handshake_timeout), 0, 0, 1, 600 },
	{ "idle-timeout", CONF_K_NUMBER,
	    offsetof(struct conf_global, idle_timeout), 0, 0, 1, 3600 },
	{ "login-idle", CONF_K_NUMBER, offsetof(struct conf_global, login_idle),
	    0, 0, 60, 604800 },
	{ "login-lifetime", CONF_K_NUMBER,
	    offsetof(struct conf_global, login_lifetime), 0, 0, 60, 2592000 },
	{ "logins-per-user", CONF_K_NUMBER,
	    offsetof(struct conf_global, logins_per_user), 0, 0, 1, 64 },
	{ "max-header-size", CONF_K_NUMBER,
	    offsetof(struct conf_global, max_header_size), 0, 0, 1024, 16384 },
	{ "max-headers", CONF_K_NUMBER,
	    offsetof(struct conf_global, max_headers), 0, 0, 8, 64 },
	{ "nbd-connections-per-user", CONF_K_NUMBER,
	    offsetof(struct conf_global, nbd_per_user), 0, 0, 1, 1024 },
	{ NULL, 0, 0, 0, 0, 0, 0 } };

static const struct conf_key export_keys[] = {
	{ "description", CONF_K_TEXT, offsetof(struct conf_export, description),
	    CONF_TEXT_MAX, 0, 0, 0 },
	{ "device", CONF_K_DEVICE, offsetof(struct conf_export, device),
	    CONF_PATH_MAX, 0, 0, 0 },
	{ "socket", CONF_K_SOCKET, offsetof(struct conf_export, socket),
	    CONF_SOCK_MAX, 0, 0, 0 },
	{ "read-only", CONF_K_BOOL, offsetof(struct conf_export, read_only), 0,
	    0, 0, 0 },
	{ "timeout", CONF_K_TIMEOUT, offsetof(struct conf_export, timeout), 0,
	    0, 0, 0 },
	{ "hook", CONF_K_PATH, offsetof(struct conf_export, hook),
	    CONF_PATH_MAX, 0, 0, 0 },
	{ "allow", CONF_K_NAMELIST, offsetof(struct conf_export, allow),
	    CONF_LIST_MAX, 0, 0, 0 },
	{ "default", CONF_K_BOOL, offsetof(struct conf_export, is_default), 0,
	    0, 0, 0 },
	{ "max-size", CONF_K_SIZE, offsetof(struct conf_export, max_size), 0, 0,
	    0, 0 },
	{ "reconnect", CONF_K_NUMBER, offsetof(struct conf_export, reconnect),
	    0, 0, 0, CONF_RECONNECT_MAX },
	{ "read-ahead", CONF_K_WINDOW, offsetof(struct conf_export, read_ahead),
	    0, 0, 0, 0 },
	{ "source", CONF_K_SOURCE, offsetof(struct conf_export, source),
	    CONF_URI_MAX, 0, 0, 0 },
	{ "source-ca", CONF_K_PATH, offsetof(struct conf_export, source_ca),
	    CONF_PATH_MAX, 0, 0, 0 },
	{ "source-certificate", CONF_K_PATH,
	    offsetof(struct conf_export, source_certificate), CONF_PATH_MAX, 0,
	    0, 0 },
	{ "source-key", CONF_K_PATH, offsetof(struct conf_export, source_key),
	    CONF_PATH_MAX, 0, 0, 0 },
	{ "source-psk", CONF_K_PATH, offsetof(struct conf_export, source_psk),
	    CONF_PATH_MAX, 0, 0, 0 },
	{ "source-credentials", CONF_K_PATH,
	    offsetof(struct conf_export, source_credentials), CONF_PATH_MAX, 0,
	    0, 0 },
	{ "source-http", CONF_K_BOOL, offsetof(struct conf_export, source_http),
	    0, 0, 0, 0 },
	{ "source-overlay", CONF_K_BOOL,
	    offsetof(struct conf_export, source_overlay), 0, 0, 0, 0 },
	{ "allow-source", CONF_K_ALLOW_SOURCE,
	    offsetof(struct conf_export, allow_source), CONF_LIST_MAX, 0, 0,
	    0 },
	{ "nbd-clients", CONF_K_BOOL, offsetof(struct conf_export, nbd_clients),
	    0, 0, 0, 0 },
	{ "nbd-connections", CONF_K_NUMBER,
	    offsetof(struct conf_export, nbd_connections), 0, 0, 1, 1024 },
	{ NULL, 0, 0, 0, 0, 0, 0 }
};

static const struct conf_key user_keys[] = {
	{ "password", CONF_K_HASH, offsetof(struct conf_user, password),
	    CONF_HASH_MAX, 0, 0, 0 },
	{ "groups", CONF_K_NAMELIST, offsetof(struct conf_user, groups),
	    CONF_LIST_MAX, 0, 0, 0 },
	{ "admin", CONF_K_BOOL, offsetof(struct conf_user, admin), 0, 0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0, 0 }
};

void
conf_error(struct conf_ctx *ctx, int line, const char *fmt, ...)
{
	char msg[512], out[800];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(out, sizeof(out), "%s:%d: %s", ctx->file, line, msg);
	ctx->errors++;
	if (ctx->err != NULL)
		ctx->err(ctx->arg, out);
}

static const char *
section_label(struct conf_parser *p, char *label, size_t size)
{
	switch (p->section) {
	case SECTION_EXPORT:
		snprintf(label, size,
		    "export \"%s\": ", ((struct conf_export *)p->target)->name);
		break;
	case SECTION_USER:
		snprintf(label, size,
		    "user \"%s\": ", ((struct conf_user *)p->target)->name);
		break;
	default:
		label[0] = '\0';
		break;
	}
	return label;
}

/*
 * Reads `export "name"` (word, then a quoted name): 1 with the name in
 * name[size], 0 if text is no such header, -1 if the name is not valid.
 */
static int
section_quoted_name(const char *text, const char *word, char *name, size_t size)
{
	size_t wlen = strlen(word), nlen;
	const char *start, *end;

	if (strncmp(text, word, wlen) != 0 || text[wlen] != ' ')
		return 0;
	start = text + wlen;
	while (*start == ' ')
		start++;
	if (*start != '"')
		return 0;
	start++;
	end = strchr(start, '"');
	if (end == NULL || end[1] != '\0')
		return 0;
	nlen = end - start;
	if (nlen == 0 || nlen >= size)
		return -1;
	memcpy(name, start, nlen);
	name[nlen] = '\0';
	return conf_name_valid(name) ? 1 : -1;
}

/*
 * What every named section must pass: a name not used before (at
 * first_line, 0 if new) and room in its table.
 */
static int
section_admit(struct conf_parser *p, const char *what, const char *name,
    int first_line, int count, int max)
{
	if (first_line != 0)
		conf_error(&p->ctx, p->ctx.line,
		    "duplicate %s \"%s\" (first at line %d)", what, name,
		    first_line);
	else if (count == max)
		conf_error(&p->ctx, p->ctx.line, "too many %ss (max %d)", what,
		    max);
	else
		return 1;
	p->section = SECTION_BAD;
	return 0;
}

/*
 * A new section's entry in its table (exports, users), zeroed, with its
 * name and line, made the target of the keys that follow; NULL if the
 * name is taken or the table full. Both kinds begin with their name.
 */
static void *
section_entry(struct conf_parser *p, enum conf_section kind, const char *name,
    int first_line, void *table, size_t size, size_t line_off, int *count,
    int max)
{
	const char *what = kind == SECTION_EXPORT ? "export" : "user";
	char *entry;
	int32_t line = p->ctx.line;

	if (!section_admit(p, what, name, first_line, *count, max))
		return NULL;
	entry = (char *)table + (size_t)(*count)++ * size;
	memset(entry, 0, size);
	snprintf(entry, CONF_NAME_MAX, "%s", name);
	memcpy(entry + line_off, &line, sizeof(line));
	p->target = entry;
	p->section = kind;
	return entry;
}

static void
section_export(struct conf_parser *p, const char *name)
{
	struct conf *conf = p->ctx.conf;
	const struct conf_export *taken = conf_find_export(conf, name);
	struct conf_export *e;

	e = section_entry(p, SECTION_EXPORT, name, taken ? taken->line : 0,
	    conf->exports, sizeof(*e), offsetof(struct conf_export, line),
	    &conf->nexports, CONF_EXPORT_MAX);
	if (e != NULL) {
		e->timeout = CONF_DEFAULT_TIMEOUT;
		e->max_size = CONF_DEFAULT_MAX_SIZE;
		e->read_ahead = CONF_DEFAULT_READ_AHEAD;
		e->nbd_connections = CONF_DEFAULT_NBD_PER_EXPORT;
		e->reconnect = CONF_DEFAULT_RECONNECT;
	}
}

static void
section_user(struct conf_parser *p, const char *name)
{
	struct conf *conf = p->ctx.conf;
	const struct conf_user *taken = conf_find_user(conf, name);

	section_entry(p, SECTION_USER, name, taken ? taken->line : 0,
	    conf->users, sizeof(struct conf_user),
	    offsetof(struct conf_user, line), &conf->nusers, CONF_USER_MAX);
}

/* [export "name"] or [user "name"]: r is what section_quoted_name said. */
static void
section_named(struct conf_parser *p, const char *text, const char *what, int r,
    const char *name, void (*add)(struct conf_parser *, const char *))
{
	if (r > 0)
		add(p, name);
	else
		conf_error(&p->ctx, p->ctx.line,
		    "bad %s name in [%s]: use "
		    "1-%d letters, digits, '.', '_', '-'",
		    what, text, CONF_NAME_MAX - 1);
}

/* A "[...]" line: ours to parse, inih sees a blank line instead. */
static void
section_header(struct conf_parser *p, char *text)
{
	char name[CONF_NAME_MAX];
	char *end;
	int r;

	p->seen = 0;
	p->section = SECTION_BAD;
	end = strrchr(text, ']');
	if (end == NULL || end[1] != '\0') {
		conf_error(&p->ctx, p->ctx.line, "section header without ']'");
		return;
	}
	*end = '\0';
	text++;
	if (strcmp(text, "vmediad") == 0) {
		if (p->seen_global) {
			conf_error(&p->ctx, p->ctx.line,
			    "duplicate section [vmediad]");
			return;
		}
		p->seen_global = 1;
		p->ctx.conf->global.line = p->ctx.line;
		p->target = &p->ctx.conf->global;
		p->section = SECTION_GLOBAL;
	} else if ((r = section_quoted_name(text, "export", name,
			sizeof(name))) != 0)
		section_named(p, text, "export", r, name, section_export);
	else if ((r = section_quoted_name(text, "user", name, sizeof(name))) !=
	    0)
		section_named(p, text, "user", r, name, section_user);
	else
		conf_error(&p->ctx, p->ctx.line, "unknown section [%s]", text);
}

/*
 * inih's line reader: one line per call, counted; section headers are
 * handled here; a line too long for inih is an error, never split.
 *
 * Why not inih's own reader with its line numbers: INI_HANDLER_LINENO is
 * fixed when the library is built (it changes the handler's arguments),
 * and Debian's libinih is built without it; nor would inih report an
 * overlong line or a NUL byte at its line. Reading the lines ourselves
 * gives every error its line, whatever the library was built with.
 */
static char *
conf_read_line(char *str, int num, void *stream)
{
	struct conf_parser *p = stream;
	const char *nl;
	size_t linelen, skip;
	char *text;

	if (p->off >= p->len)
		return NULL;
	p->ctx.line++;
	nl = memchr(p->buf + p->off, '\n', p->len - p->off);
	linelen = nl ? (size_t)(nl - (p->buf + p->off)) : p->len - p->off;
	skip = nl ? linelen + 1 : linelen;
	if (linelen > 0 && p->buf[p->off + linelen - 1] == '\r')
		linelen--;
	/* At most num - 3 characters: the limit the message states. */
	if (linelen + 3 > (size_t)num ||
	    memchr(p->buf + p->off, '\0', linelen) != NULL) {
		if (linelen + 3 > (size_t)num)
			conf_error(&p->ctx, p->ctx.line,
			    "line too long (max %d characters)", num - 3);
		else
			conf_error(&p->ctx, p->ctx.line, "NUL byte in line");
		p->off += skip;
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	memcpy(str, p->buf + p->off, linelen);
	str[linelen] = '\0';
	p->off += skip;
	text = str;
	while (*text == ' ' || *text == '\t')
		text++;
	if (*text == '\0' || *text == ';' || *text == '#') {
		/* blank or comment: inih skips it */
	} else if (*text == '[') {
		/*
		 * Strip a trailing comment and blanks before parsing: a ';'
		 * after a space or a tab, as inih treats key lines.
		 */
		char *c = text + strcspn(text, ";");
		while (*c != '\0' && c[-1] != ' ' && c[-1] != '\t')
			c += 1 + strcspn(c + 1, ";");
		*c = '\0';
		c = text + strlen(text);
		while (c > text && (c[-1] == ' ' || c[-1] == '\t'))
			*--c = '\0';
		section_header(p, text);
		str[0] = '\0';
	} else if (strchr(text, '=') == NULL) {
		conf_error(&p->ctx, p->ctx.line,
		    "syntax error: expected \"key = value\"");
		str[0] = '\0';
	}
	strcat(str, "\n");
	return str;
}

static const struct conf_key *
key_lookup(const struct conf_key *keys, const char *name, int *index)
{
	int i;

	for (i = 0; keys[i].name != NULL; i++) {
		if (strcmp(keys[i].name, name) == 0) {
			*index = i;
			return &keys[i];
		}
	}
	return NULL;
}

static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_parser *p = user;
	const struct conf_key *keys, *key;
	char label[64];
	int index;

	(void)section;
	switch (p->section) {
	case SECTION_NONE:
		conf_error(&p->ctx, p->ctx.line, "\"%s\" outside any section",
		    name);
		return 1;
	case SECTION_BAD:
		return 1; /* already reported at the header */
	case SECTION_GLOBAL:
		keys = global_keys;
		break;
	case SECTION_EXPORT:
		keys = export_keys;
		break;
	case SECTION_USER:
	default:
		keys = user_keys;
		break;
	}
	section_label(p, label, sizeof(label));
	if ((key = key_lookup(keys, name, &index)) == NULL) {
		conf_error(&p->ctx, p->ctx.line, "%sunknown key \"%s\"", label,
		    name);
		return 1;
	}
	if (!key->repeatable && (p->seen & (UINT64_C(1) << index))) {
		conf_error(&p->ctx, p->ctx.line, "%sduplicate key \"%s\"",
		    label, name);
		return 1;
	}
	p->seen |= UINT64_C(1) << index;
	if (p->section == SECTION_GLOBAL && strcmp(name, "nbd-psk-file") == 0)
		conf_set_value(&p->ctx, label, key, p->ctx.conf, value);
	else
		conf_set_value(&p->ctx, label, key, p->target, value);
	if (p->section == SECTION_EXPORT && strcmp(name, "allow") == 0)
		((struct conf_export *)p->target)->allow_line = p->ctx.line;
	if (p->section == SECTION_EXPORT && strcmp(name, "source") == 0)
		((struct conf_export *)p->target)->source_line = p->ctx.line;
	if (p->section == SECTION_EXPORT && strcmp(name, "allow-source") == 0)
		((struct conf_export *)p->target)->allow_source_line =
		    p->ctx.line;
	if (p->section == SECTION_GLOBAL && strcmp(name, "auth") == 0)
		p->ctx.conf->global.auth_line = p->ctx.line;
	if (p->section == SECTION_GLOBAL && strcmp(name, "user") == 0)
		p->ctx.conf->global.user_line = p->ctx.line;
	return 1;
}

/*
 * Parses a whole config held in memory. file only names it in messages.
 * Returns the number of errors; conf is complete only when that is 0.
 */
int
conf_parse_buffer(struct conf *conf, const char *file, const char *buf,
    size_t len, conf_error_fn err, void *arg)
{
	struct conf_parser p;
	int r;

	memset(conf, 0, sizeof(*conf));
	memset(&p, 0, sizeof(p));
	p.ctx.conf = conf;
	p.ctx.file = file;
	p.ctx.err = err;
	p.ctx.arg = arg;
	p.buf = buf;
	p.len = len;
	p.section = SECTION_NONE;
	ini_allow_multiline = 0;
	ini_stop_on_first_error = 0;
	/* The reader has turned every line inih could reject into a blank. */
	r = ini_parse_stream(conf_read_line, &p, conf_handler, &p);
	if (r < 0)
		conf_error(&p.ctx, 0, "out of memory");
	else if (r > 0 && p.ctx.errors == 0)
		conf_error(&p.ctx, r, "syntax error");
	if (!p.seen_global)
		conf_error(&p.ctx, p.ctx.line, "missing section [vmediad]");
	conf_check(&p.ctx);
	return p.ctx.errors;
}

int
conf_parse_file(struct conf *conf, const char *file, conf_error_fn err,
    void *arg)
{
	struct conf_ctx ctx;
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd, errors;

	memset(&ctx, 0, sizeof(ctx));
	ctx.file = file;
	ctx.err = err;
	ctx.arg = arg;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		conf_error(&ctx, 0, "%s", strerror(errno));
		return ctx.errors;
	}
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		close(fd);
		conf_error(&ctx, 0, "out of memory");
		return ctx.errors;
	}
	while ((n = read(fd, buf + len, CONF_FILE_MAX + 1 - len)) > 0)
		len += n;
	close(fd);
	if (n == -1 || len > CONF_FILE_MAX) {
		conf_error(&ctx, 0, "%s",
		    n == -1 ? strerror(errno) : "file too large");
		free(buf);
		return ctx.errors;
	}
	errors = conf_parse_buffer(conf, file, buf, len, err, arg);
	free(buf);
	return errors;
}

/* Parse, then check what only this machine can tell (accounts, paths). */
int
conf_load(struct conf *conf, const char *file, conf_error_fn err, void *arg)
{
	int errors;

	if ((errors = conf_parse_file(conf, file, err, arg)) != 0)
		return errors;
	return conf_check_system(conf, file, err, arg);
}
