/*
 * Redfish, the DMTF's REST API for BMCs, as far as virtual media goes:
 * the resource tree under /redfish/v1 (redfish.c), its errors in the
 * Base message registry's form, and the request bodies (redfish_body.c,
 * pure, fuzzed on its own).
 */
#ifndef REDFISH_H
#define REDFISH_H

#include <stddef.h>

#include "conf.h"
#include "cred.h"

/* The members a request body may carry. */
enum rf_member {
	RF_M_USERNAME,
	RF_M_PASSWORD,
	RF_M_IMAGE,
	RF_M_INSERTED,
	RF_M_WRITE_PROTECTED,
	RF_M_TRANSFER_PROTOCOL,
	RF_M_TRANSFER_METHOD,
	RF_M_VERIFY_CERTIFICATE, /* a VirtualMedia's, by PATCH */
	RF_M_SESSION_TIMEOUT,	 /* the SessionService's, by PATCH */
	RF_M_CERTIFICATE_STRING, /* a Certificate's, by POST */
	RF_M_CERTIFICATE_TYPE,
	RF_M_COUNT
};
#define RF_BIT(m) (1U << (m))

enum rf_body_error {
	RF_BODY_OK,
	RF_BODY_MALFORMED, /* not one flat JSON object */
	RF_BODY_UNKNOWN,   /* a member not allowed here: property */
	RF_BODY_TYPE,	   /* string for a boolean or the reverse */
	RF_BODY_DUPLICATE, /* a member twice */
	RF_BODY_TOO_LONG,  /* a string past its buffer */
};

#define RF_TOKEN_MAX 16 /* TransferProtocolType, TransferMethod */
#define RF_PEM_MAX 4096 /* CertificateString, as sent */

struct rf_body {
	unsigned int seen; /* RF_BIT()s */
	char user[CRED_PASSWORD_MAX];
	char password[CRED_PASSWORD_MAX];
	char image[CONF_URI_MAX];
	int inserted;
	int write_protected;
	char transfer_protocol[RF_TOKEN_MAX];
	char transfer_method[RF_TOKEN_MAX];
	int verify_certificate;
	long long session_timeout; /* a JSON integer, 0 to 10^12 (capped) */
	char certificate[RF_PEM_MAX];
	char certificate_type[RF_TOKEN_MAX];
	enum rf_body_error error;
	char property[32]; /* the member in question, as sent (cut) */
};

/* redfish_body.c */
const char *rf_member_name(enum rf_member);
int rf_body_parse(const char *, size_t, unsigned int, struct rf_body *);
void rf_body_clear(struct rf_body *);

/* redfish.c */
struct conn;
struct http_header;
int redfish_path(const char *);
void redfish_serve(struct conn *);
int redfish_is_login(const struct conn *);
void redfish_login(struct conn *);
void redfish_inserted(struct conn *);
void redfish_conn_error(struct conn *, int, const char *,
    const struct http_header *, size_t);

#endif
