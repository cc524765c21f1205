/*
 * Credentials as clients present them: the session cookie, an
 * Authorization header (Basic or Bearer), and the JSON login body.
 * Pure parsers over bounded strings, fuzzed on their own.
 */
#ifndef CRED_H
#define CRED_H

#include <stddef.h>

#include "conf.h"

#define CRED_TOKEN_LEN 64     /* hex of 32 random bytes */
#define CRED_PASSWORD_MAX 256 /* with the NUL */
#define CRED_COOKIE_NAME "vmediad_session"

enum cred_kind {
	CRED_NONE,   /* no Authorization header */
	CRED_BASIC,  /* user and password filled */
	CRED_BEARER, /* token filled */
	CRED_BAD,    /* present but unusable */
};

struct cred {
	enum cred_kind kind;
	char user[CONF_NAME_MAX];
	char password[CRED_PASSWORD_MAX];
	char token[CRED_TOKEN_LEN + 1];
};

int cred_token_valid(const char *, size_t);
int cred_cookie_token(const char *, char[CRED_TOKEN_LEN + 1]);
void cred_authorization(const char *, struct cred *);
int cred_login_body(const char *, size_t, struct cred *);
/* An insert's body (cred_json.c): the password is wiped by its user. */
struct cred_insert {
	char url[CONF_URI_MAX];
	char user[CONF_NAME_MAX];
	char password[CRED_PASSWORD_MAX];
};
int cred_insert_body(const char *, size_t, struct cred_insert *);
void cred_clear(struct cred *);

#endif
