/*
 * vmediad's configuration as every process sees it. Strings live in fixed
 * arrays so that a whole export or user travels as one checked message.
 */
#ifndef CONF_H
#define CONF_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <stdint.h>

#define CONF_NAME_MAX 32  /* export, user and group names, with NUL */
#define CONF_TEXT_MAX 128 /* descriptions */
#define CONF_PATH_MAX 256 /* absolute paths */
#define CONF_SOCK_MAX 108 /* sizeof(sun_path) */
#define CONF_LIST_MAX 256 /* allow and groups lists */
#define CONF_HASH_MAX 160 /* crypt(3) hashes */
#define CONF_ADDR_MAX 64  /* a listen address as written */
#define CONF_URI_MAX 256  /* an export's source URI */
#define CONF_HOST_MAX 256 /* a host in a source URI, with NUL */
#define CONF_LISTEN_MAX 8 /* HTTP and NBD listeners together */
#define CONF_NBD_PORT 10809
#define CONF_EXPORT_MAX 64
#define CONF_USER_MAX 256

#define CONF_DEFAULT_FILE "/etc/vmediad.conf"
#define CONF_DEFAULT_TIMEOUT 30
#define CONF_DEFAULT_RECONNECT 30 /* seconds a lost peer may resume in */
#define CONF_RECONNECT_MAX 600
#define CONF_DEFAULT_MAX_SIZE (UINT64_C(1) << 44) /* 16 TiB */
#define CONF_DEFAULT_READ_AHEAD (UINT64_C(4) << 20)
#define CONF_READ_AHEAD_MAX (UINT64_C(64) << 20)
#define CONF_DEFAULT_MAX_CONNECTIONS 256
#define CONF_DEFAULT_SESSIONS_PER_USER 2
#define CONF_DEFAULT_REDFISH_MANAGER "bmc"
#define CONF_DEFAULT_REQUEST_TIMEOUT 10
#define CONF_DEFAULT_HANDSHAKE_TIMEOUT 20
#define CONF_DEFAULT_IDLE_TIMEOUT 60
#define CONF_DEFAULT_LOGIN_IDLE 1800
#define CONF_DEFAULT_LOGIN_LIFETIME 43200
#define CONF_DEFAULT_LOGINS_PER_USER 16
#define CONF_DEFAULT_MAX_HEADER_SIZE 16384
#define CONF_DEFAULT_MAX_HEADERS 64
#define CONF_DEFAULT_NBD_PER_USER 16   /* network NBD clients of one user */
#define CONF_DEFAULT_NBD_PER_EXPORT 64 /* and of one export */
#define CONF_PSK_MIN 16		       /* bytes of an NBD client's PSK */
#define CONF_PSK_MAX 64
#define CONF_PSK_LINE_MAX 256	      /* of nbd-psk-file, with the newline */
#define CONF_PSK_FILE_MAX (64 * 1024) /* refuse PSK files larger */

enum conf_auth {
	CONF_AUTH_USERS = 0,
	CONF_AUTH_NONE = 1,
};

/*
 * A listener's address: IPv4, IPv6 or a Unix path. Not a whole
 * sockaddr_storage: eight of these travel in the one message that carries
 * the global config (msg.c asserts it fits).
 */
union conf_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_un un;
};

struct conf_listen {
	union conf_sockaddr addr;
	socklen_t addrlen;
	char text[CONF_ADDR_MAX];
	int line;
	int tls; /* HTTP: "address tls"; NBD: STARTTLS required */
	int nbd; /* nbd-listen: an NBD listener */
};

struct conf_global {
	struct conf_listen listen[CONF_LISTEN_MAX];
	int nlisten;
	char user[CONF_NAME_MAX];
	char chroot[CONF_PATH_MAX];
	char web[CONF_PATH_MAX];
	char audit[CONF_PATH_MAX];
	char tls_certificate[CONF_PATH_MAX];
	char tls_key[CONF_PATH_MAX];
	char
	    nbd_client_ca[CONF_PATH_MAX]; /* CAs of NBD clients' certificates */
	char origins[CONF_LIST_MAX];	  /* also allowed */
	char server_names[CONF_LIST_MAX]; /* Host besides ours */
	char hook_modules[CONF_LIST_MAX]; /* hookd loads */
	char redfish_manager[CONF_NAME_MAX]; /* its Manager's Id */
	int32_t auth;			     /* enum conf_auth */
	int32_t max_connections;
	int32_t sessions_per_user;
	int32_t request_timeout; /* seconds */
	int32_t handshake_timeout;
	int32_t idle_timeout;
	int32_t login_idle;
	int32_t login_lifetime;
	int32_t logins_per_user;
	int32_t max_header_size; /* bytes */
	int32_t max_headers;
	int32_t nbd_per_user; /* network NBD clients of one user */
	int32_t line;	      /* of [vmediad] */
	int32_t user_line;
	int32_t auth_line;
	uid_t uid; /* resolved from user */
	gid_t gid;
};

struct conf_export {
	char name[CONF_NAME_MAX];
	char description[CONF_TEXT_MAX];
	char device[CONF_PATH_MAX];
	char socket[CONF_SOCK_MAX];
	char hook[CONF_PATH_MAX];
	char allow[CONF_LIST_MAX];
	char source[CONF_URI_MAX];     /* nbd://, nbds://, https:// ... */
	char source_ca[CONF_PATH_MAX]; /* CA file (or https: folder) */
	char source_certificate[CONF_PATH_MAX]; /* nbds client certificate */
	char source_key[CONF_PATH_MAX];		/* and its key */
	char source_psk[CONF_PATH_MAX];		/* nbds pre-shared keys file */
	char source_credentials[CONF_PATH_MAX]; /* https "user:password" */
	int32_t source_http;			/* plain http:// allowed */
	int32_t source_line;
	char allow_source[CONF_LIST_MAX]; /* what POST .../insert may name */
	int32_t allow_source_line;
	uint64_t max_size;
	uint64_t read_ahead; /* bytes, 0: off */
	int32_t timeout;     /* seconds */
	int32_t reconnect;   /* seconds a lost peer may resume in; 0: none */
	int32_t read_only;
	int32_t is_default;
	int32_t line; /* of the section header */
	int32_t allow_line;
	int32_t source_overlay;	 /* writable through nbdkit's cow filter */
	int32_t nbd_clients;	 /* served on nbd-listen */
	int32_t nbd_connections; /* network clients at once, at most */
};

struct conf_user {
	char name[CONF_NAME_MAX];
	char password[CONF_HASH_MAX];
	char groups[CONF_LIST_MAX];
	int32_t admin;
	int32_t line;
	/* nbd-psk-file's key of the identity naming this user: sessiond's */
	int32_t psk_len; /* 0: none, else CONF_PSK_MIN to CONF_PSK_MAX */
	unsigned char psk[CONF_PSK_MAX];
};

struct conf {
	struct conf_global global;
	struct conf_export exports[CONF_EXPORT_MAX];
	int nexports;
	struct conf_user users[CONF_USER_MAX];
	int nusers;
	/*
	 * Not in global: the parent reads this file into the users' psk and
	 * tells no child where it is (and CONF_GLOBAL has no room for it).
	 */
	char nbd_psk_file[CONF_PATH_MAX];
};

/* Receives one finished error line, "file:line: problem". */
typedef void (*conf_error_fn)(void *, const char *);

int conf_parse_buffer(struct conf *, const char *, const char *, size_t,
    conf_error_fn, void *);
int conf_parse_file(struct conf *, const char *, conf_error_fn, void *);
int conf_check_system(struct conf *, const char *, conf_error_fn, void *);
int conf_load(struct conf *, const char *, conf_error_fn, void *);
int conf_psk_parse_buffer(struct conf *, const char *, const char *, size_t,
    conf_error_fn, void *);
int conf_terminated(const char *, size_t);
int conf_export_valid(const struct conf_export *);
int conf_user_valid(const struct conf_user *);
int conf_global_valid(const struct conf_global *);

/* An export's source, as conf_source_parse() takes it apart. */
enum conf_scheme {
	CONF_SCHEME_NONE = 0,
	CONF_SCHEME_NBD,      /* nbd://HOST[:PORT]/[EXPORT] */
	CONF_SCHEME_NBDS,     /* nbds://HOST[:PORT]/[EXPORT] */
	CONF_SCHEME_NBD_UNIX, /* nbd+unix:///[EXPORT]?socket=PATH */
	CONF_SCHEME_HTTPS,    /* https://HOST[:PORT]/PATH */
	CONF_SCHEME_HTTP,     /* http://HOST[:PORT]/PATH */
};

struct conf_source {
	enum conf_scheme scheme;
	char host[CONF_HOST_MAX];   /* IPv6 in brackets, as written */
	char port[6];		    /* decimal, or empty for the default */
	char export[CONF_URI_MAX];  /* NBD export name, may be empty */
	char socket[CONF_SOCK_MAX]; /* nbd+unix */
};

const char *
conf_source_parse(const char *, struct conf_source *, char *, size_t);
const char *conf_scheme_name(enum conf_scheme);

/*
 * One word of allow-source: SCHEME://HOST[:PORT], or for an IPv4
 * network SCHEME://A.B.C.D[:PORT]/BITS. The URI's scheme must be the
 * same, its host the same name or address (or inside the network), its
 * port the same (or any, without one).
 */
struct conf_allow {
	enum conf_scheme scheme;
	char host[CONF_HOST_MAX]; /* as written, IPv6 in brackets */
	char port[6];		  /* empty: any port */
	int bits;		  /* an IPv4 network's prefix, -1: none */
};
const char *conf_allow_parse(const char *, struct conf_allow *);
int conf_allow_valid(const char *);
int conf_allow_has_scheme(const char *, enum conf_scheme);
int conf_source_allowed(const char *, const struct conf_source *);

/* conf_lookup.c */
#define CONF_LIST_SEPS " \t," /* between names and @groups */
const struct conf_export *conf_find_export(const struct conf *, const char *);
const struct conf_user *conf_find_user(const struct conf *, const char *);
int conf_list_next(const char **, const char *, char *, size_t);
int conf_list_has(const char *, const char *, int);
int conf_nbd_index(const char *);
int conf_listen_is_local(const struct conf_listen *);
int conf_name_valid(const char *);

#endif
