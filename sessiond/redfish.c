/*
 * Redfish virtual media: the service root, the session service, one
 * manager (its Id is redfish-manager) and its VirtualMedia collection,
 * one member per export the caller may use, as the DMTF schemas name
 * them (VirtualMedia v1_6). Logins are the same logins as /api/login's,
 * their token sent as X-Auth-Token; Basic goes through the same password
 * checks; exports through the same ACLs; EjectMedia through route.c's
 * eject. Every error is a Base message registry entry.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "json.h"
#include "log.h"
#include "redfish.h"
#include "route.h"
#include "sessiond.h"

#define RF_ROOT "/redfish/v1"
#define RF_SESSIONS RF_ROOT "/SessionService/Sessions"
#define RF_MANAGERS RF_ROOT "/Managers"
#define RF_REGISTRY "Base.1.16.0."
#define RF_PATH_MAX 256
#define RF_SEGMENTS 8
#define RF_VERSION "1.17.0"

/* --- the Base message registry, what of it we answer with ------------- */

enum rf_msg {
	RF_GENERAL_ERROR,
	RF_NO_VALID_SESSION,
	RF_INSUFFICIENT_PRIVILEGE,
	RF_INVALID_URI,
	RF_RESOURCE_NOT_FOUND,
	RF_OPERATION_NOT_ALLOWED,
	RF_RESOURCE_IN_USE,
	RF_PAYLOAD_TOO_LARGE,
	RF_SERVICE_UNAVAILABLE,
	RF_INTERNAL_ERROR,
	RF_MALFORMED_JSON,
	RF_PROPERTY_VALUE_NOT_IN_LIST,
	RF_ACTION_PARAMETER_MISSING,
	RF_ACTION_PARAMETER_UNKNOWN,
	RF_ACTION_NOT_SUPPORTED,
	RF_PROPERTY_UNKNOWN,
	RF_PROPERTY_MISSING,
	RF_PROPERTY_VALUE_TYPE_ERROR,
	RF_PROPERTY_DUPLICATE,
	RF_PROPERTY_VALUE_FORMAT_ERROR,
	RF_PROPERTY_VALUE_CONFLICT,
	RF_PROPERTY_NOT_WRITABLE,
	RF_PROPERTY_VALUE_OUT_OF_RANGE,
	RF_PRECONDITION_FAILED,
	RF_CREATE_LIMIT_REACHED,
};

struct rf_message {
	const char *id;
	const char *text; /* %1, %2: MessageArgs */
	int nargs;
	const char *severity;
	const char *resolution;
};

static const struct rf_message rf_messages[] = {
	[RF_GENERAL_ERROR] = { "GeneralError",
	    "A general error has occurred.  See Resolution for information "
	    "on how to resolve the error, or @Message.ExtendedInfo if "
	    "Resolution is not provided.",
	    0, "Critical", NULL },
	[RF_NO_VALID_SESSION] = { "NoValidSession",
	    "There is no valid session established with the implementation.", 0,
	    "Critical",
	    "Establish a session before attempting any operations." },
	[RF_INSUFFICIENT_PRIVILEGE] = { "InsufficientPrivilege",
	    "There are insufficient privileges for the account or "
	    "credentials associated with the current session to perform the "
	    "requested operation.",
	    0, "Critical",
	    "Either abandon the operation or change the associated access "
	    "rights and resubmit the request if the operation failed." },
	[RF_INVALID_URI] = { "InvalidURI", "The URI %1 was not found.", 1,
	    "Critical", "Provide a valid URI and resubmit the request." },
	[RF_RESOURCE_NOT_FOUND] = { "ResourceNotFound",
	    "The requested resource of type %1 named '%2' was not found.", 2,
	    "Critical",
	    "Provide a valid resource identifier and resubmit the request." },
	[RF_OPERATION_NOT_ALLOWED] = { "OperationNotAllowed",
	    "The HTTP method is not allowed on this resource.", 0, "Critical",
	    "None." },
	[RF_RESOURCE_IN_USE] = { "ResourceInUse",
	    "The change to the requested resource failed because the "
	    "resource is in use or in transition.",
	    0, "Warning",
	    "Remove the condition and resubmit the request if the operation "
	    "failed." },
	[RF_PAYLOAD_TOO_LARGE] = { "PayloadTooLarge",
	    "The supplied payload exceeds the maximum size supported by the "
	    "service.",
	    0, "Critical",
	    "Check that the supplied payload is correct and supported by "
	    "this service." },
	[RF_SERVICE_UNAVAILABLE] = { "ServiceTemporarilyUnavailable",
	    "The service is temporarily unavailable.  Retry in %1 seconds.", 1,
	    "Critical",
	    "Wait for the indicated retry duration and retry the operation." },
	[RF_INTERNAL_ERROR] = { "InternalError",
	    "The request failed due to an internal service error.  The "
	    "service is still operational.",
	    0, "Critical",
	    "Resubmit the request.  If the problem persists, consider "
	    "resetting the service." },
	[RF_MALFORMED_JSON] = { "MalformedJSON",
	    "The request body submitted was malformed JSON and could not be "
	    "parsed by the receiving service.",
	    0, "Critical",
	    "Ensure that the request body is valid JSON and resubmit the "
	    "request." },
	[RF_PROPERTY_VALUE_NOT_IN_LIST] = { "PropertyValueNotInList",
	    "The value '%1' for the property %2 is not in the list of "
	    "acceptable values.",
	    2, "Warning",
	    "Choose a value from the enumeration list that the "
	    "implementation can support and resubmit the request if the "
	    "operation failed." },
	[RF_ACTION_PARAMETER_MISSING] = { "ActionParameterMissing",
	    "The action %1 requires the parameter %2 to be present in the "
	    "request body.",
	    2, "Critical",
	    "Supply the action with the required parameter in the request "
	    "body when the request is resubmitted." },
	[RF_ACTION_PARAMETER_UNKNOWN] = { "ActionParameterUnknown",
	    "The action %1 was submitted with the invalid parameter %2.", 2,
	    "Warning",
	    "Correct the invalid action parameter and resubmit the request "
	    "if the operation failed." },
	[RF_ACTION_NOT_SUPPORTED] = { "ActionNotSupported",
	    "The action %1 is not supported by the resource.", 1, "Critical",
	    "The action supplied cannot be resubmitted to the "
	    "implementation.  Perhaps the action was invalid, the wrong "
	    "resource was the target or the implementation documentation "
	    "may be of assistance." },
	[RF_PROPERTY_UNKNOWN] = { "PropertyUnknown",
	    "The property %1 is not in the list of valid properties for the "
	    "resource.",
	    1, "Warning",
	    "Remove the unknown property from the request body and resubmit "
	    "the request if the operation failed." },
	[RF_PROPERTY_MISSING] = { "PropertyMissing",
	    "The property %1 is a required property and must be included in "
	    "the request.",
	    1, "Warning",
	    "Ensure that the property is in the request body and has a "
	    "valid value and resubmit the request if the operation failed." },
	[RF_PROPERTY_VALUE_TYPE_ERROR] = { "PropertyValueTypeError",
	    "The value '%1' for the property %2 is of a different type than "
	    "the property can accept.",
	    2, "Warning",
	    "Correct the value for the property in the request body and "
	    "resubmit the request if the operation failed." },
	[RF_PROPERTY_DUPLICATE] = { "PropertyDuplicate",
	    "The property %1 was duplicated in the request.", 1, "Warning",
	    "Remove the duplicate property from the request body and "
	    "resubmit the request if the operation failed." },
	[RF_PROPERTY_VALUE_FORMAT_ERROR] = { "PropertyValueFormatError",
	    "The value '%1' for the property %2 is of a different format "
	    "than the property can accept.",
	    2, "Warning",
	    "Correct the value for the property in the request body and "
	    "resubmit the request if the operation failed." },
	[RF_PROPERTY_VALUE_CONFLICT] = { "PropertyValueConflict",
	    "The property '%1' could not be written because its value would "
	    "conflict with the value of the '%2' property.",
	    2, "Warning", "No resolution is required." },
	[RF_PROPERTY_NOT_WRITABLE] = { "PropertyNotWritable",
	    "The property %1 is a read-only property and cannot be assigned "
	    "a value.",
	    1, "Warning",
	    "Remove the property from the request body and resubmit the "
	    "request if the operation failed." },
	[RF_PROPERTY_VALUE_OUT_OF_RANGE] = { "PropertyValueOutOfRange",
	    "The value '%1' for the property %2 is not in the supported "
	    "range of acceptable values.",
	    2, "Warning",
	    "Correct the value for the property in the request body and "
	    "resubmit the request if the operation failed." },
	[RF_PRECONDITION_FAILED] = { "PreconditionFailed",
	    "The ETag supplied did not match the ETag required to change "
	    "this resource.",
	    0, "Critical",
	    "Try the operation again using the appropriate ETag." },
	[RF_CREATE_LIMIT_REACHED] = { "CreateLimitReachedForResource",
	    "The create operation failed because the resource has reached "
	    "the limit of possible resources.",
	    0, "Critical",
	    "Either delete resources and resubmit the request if the "
	    "operation failed or do not resubmit the request." },
};

/* One error: the status, a registry message and what it is about. */
struct rf_err {
	int status;
	enum rf_msg msg;
	const char *detail;  /* ours, as error.message; NULL: the text */
	const char *args[2]; /* MessageArgs */
	const char *related; /* RelatedProperties, a member name */
};

/* The registry text with its arguments in place, JSON-escaped. */
static void
rf_message_text(struct evbuffer *b, const struct rf_message *m,
    const char *const *args)
{
	char text[1024];
	const char *t;
	size_t n = 0, len;
	int i;

	for (t = m->text; *t != '\0' && n + 1 < sizeof(text); t++) {
		if (t[0] == '%' && (t[1] == '1' || t[1] == '2')) {
			i = *++t - '1';
			len = strnlen(args[i] ? args[i] : "",
			    sizeof(text) - n - 1);
			memcpy(text + n, args[i] ? args[i] : "", len);
			n += len;
		} else
			text[n++] = *t;
	}
	text[n] = '\0';
	json_string(b, text);
}

static struct evbuffer *
rf_error_body(const struct rf_err *e)
{
	const struct rf_message *m = &rf_messages[e->msg];
	struct evbuffer *b = route_body_new();
	int i;

	evbuffer_add_printf(b,
	    "{\"error\": {\"code\": \"" RF_REGISTRY "%s\", "
	    "\"message\": ",
	    m->id);
	if (e->detail != NULL)
		json_string(b, e->detail);
	else
		rf_message_text(b, m, e->args);
	evbuffer_add_printf(b,
	    ", \"@Message.ExtendedInfo\": [{\"@odata.type\": "
	    "\"#Message.v1_1_1.Message\", \"MessageId\": \"" RF_REGISTRY
	    "%s\", \"Message\": ",
	    m->id);
	rf_message_text(b, m, e->args);
	evbuffer_add_printf(b, ", \"MessageArgs\": [");
	for (i = 0; i < m->nargs; i++) {
		evbuffer_add_printf(b, i ? ", " : "");
		json_string(b, e->args[i] ? e->args[i] : "");
	}
	evbuffer_add_printf(b,
	    "], \"MessageSeverity\": \"%s\", \"Severity\": \"%s\", "
	    "\"Resolution\": ",
	    m->severity, m->severity);
	json_string(b,
	    m->resolution ? m->resolution : (e->detail ? e->detail : "None."));
	if (e->related != NULL) {
		evbuffer_add_printf(b, ", \"RelatedProperties\": [\"#/");
		json_escape(b, e->related, strlen(e->related));
		evbuffer_add_printf(b, "\"]");
	}
	evbuffer_add_printf(b, "}]}}\n");
	return b;
}

/* --- answers ---------------------------------------------------------- */

/* A weak ETag of what we send: FNV-1a over the body. */
static void
rf_etag(struct evbuffer *body, char *tag, size_t size)
{
	const unsigned char *p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i, len = evbuffer_get_length(body);

	p = evbuffer_pullup(body, -1);
	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(tag, size, "W/\"%016" PRIx64 "\"", h);
}

/* flags for rf_send */
#define RF_ETAG 0x01  /* a resource: its ETag */
#define RF_CLOSE 0x02 /* an error conn_error would close on */

static void
rf_send(struct conn *c, int status, struct evbuffer *body,
    const struct http_header *hdrs, size_t n, int flags)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int keep = !(flags & RF_CLOSE) && http_keep_alive(c->req);
	char tag[40];
	size_t i;

	http_response_begin(out, status,
	    status == 204 ? NULL : "application/json; charset=utf-8",
	    evbuffer_get_length(body), keep);
	http_response_header(out, "OData-Version", "4.0");
	http_response_header(out, "Cache-Control", "no-store");
	if (flags & RF_ETAG) {
		rf_etag(body, tag, sizeof(tag));
		http_response_header(out, "ETag", tag);
	}
	for (i = 0; i < n; i++)
		http_response_header(out, hdrs[i].name, hdrs[i].value);
	http_response_end(out);
	if (c->req->method != HTTP_METHOD_HEAD && status != 204)
		evbuffer_add_buffer(out, body);
	evbuffer_free(body);
	if (flags & RF_CLOSE)
		conn_close_after_write(c);
	else
		conn_request_done(c, keep);
}

/* 401s tell how to authenticate; the realm names nothing secret. */
static const struct http_header www_authenticate = { "WWW-Authenticate",
	"Basic realm=\"vmediad\"" };

static void
rf_error(struct conn *c, const struct rf_err *e)
{
	const struct http_header *h =
	    e->status == 401 ? &www_authenticate : NULL;

	log_debug("%s: %d %s", c->addr, e->status, rf_messages[e->msg].id);
	rf_send(c, e->status, rf_error_body(e), h, h != NULL, 0);
}

/* An error that is also a refusal: audited, as route.c's are. */
static void
rf_refuse(struct conn *c, int event, const char *export, const char *why,
    const struct rf_err *e)
{
	refusal_audit(c, e->status, event, c->id.user, export, why);
	rf_error(c, e);
}

/*
 * conn_error's answer on a Redfish path: the registry message that
 * fits the status, our words as error.message. conn.c closes after.
 */
void
redfish_conn_error(struct conn *c, int status, const char *message,
    const struct http_header *hdrs, size_t n)
{
	struct http_header h[8];
	struct rf_err e = { status, RF_GENERAL_ERROR, message, { NULL, NULL },
		NULL };
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer *body;
	size_t i, nh = 0;

	for (i = 0; i < n && nh + 1 < sizeof(h) / sizeof(h[0]); i++) {
		h[nh++] = hdrs[i];
		if (strcasecmp(hdrs[i].name, "Retry-After") == 0)
			e.args[0] = hdrs[i].value;
	}
	switch (status) {
	case 401:
		e.msg = RF_NO_VALID_SESSION;
		h[nh++] = www_authenticate;
		break;
	case 403:
		e.msg = RF_INSUFFICIENT_PRIVILEGE;
		break;
	case 404:
		e.msg = RF_INVALID_URI;
		e.args[0] = c->req->path;
		break;
	case 405:
		e.msg = RF_OPERATION_NOT_ALLOWED;
		break;
	case 409:
		e.msg = RF_RESOURCE_IN_USE;
		break;
	case 413:
		e.msg = RF_PAYLOAD_TOO_LARGE;
		break;
	case 429:
	case 503:
		e.msg = RF_SERVICE_UNAVAILABLE;
		if (e.args[0] == NULL)
			e.args[0] = "1";
		break;
	case 500:
		e.msg = RF_INTERNAL_ERROR;
		break;
	default:
		break;
	}
	body = rf_error_body(&e);
	http_response_begin(out, status, "application/json; charset=utf-8",
	    evbuffer_get_length(body), 0);
	http_response_header(out, "OData-Version", "4.0");
	http_response_header(out, "Cache-Control", "no-store");
	for (i = 0; i < nh; i++)
		http_response_header(out, h[i].name, h[i].value);
	http_response_end(out);
	if (c->req->method != HTTP_METHOD_HEAD)
		evbuffer_add_buffer(out, body);
	evbuffer_free(body);
}

/* --- paths ------------------------------------------------------------ */

int
redfish_path(const char *path)
{
	return strncmp(path, "/redfish", 8) == 0 &&
	    (path[8] == '\0' || path[8] == '/');
}

/*
 * The path split at '/', one trailing '/' ignored: /redfish/v1/ is the
 * service root as /redfish/v1 is. Returns the number of segments, -1 for
 * an empty segment or too many.
 */
static int
rf_split(const char *path, char *copy, size_t size, char **seg)
{
	size_t len = strlen(path);
	char *p;
	int n = 0;

	if (len >= size)
		return -1;
	memcpy(copy, path, len + 1);
	if (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	for (p = copy + 1; n < RF_SEGMENTS;) {
		seg[n++] = p;
		if ((p = strchr(p, '/')) == NULL)
			return seg[n - 1][0] == '\0' ? -1 : n;
		*p++ = '\0';
		if (seg[n - 1][0] == '\0')
			return -1;
	}
	return -1;
}

static const char *
rf_manager(void)
{
	return sd_child->conf->global.redfish_manager;
}

/* --- resources -------------------------------------------------------- */

static void
rf_head(struct evbuffer *b, const char *type, const char *context,
    const char *id_fmt, const char *a, const char *z)
{
	evbuffer_add_printf(b, "{\"@odata.id\": \"");
	evbuffer_add_printf(b, id_fmt, a, z);
	evbuffer_add_printf(b,
	    "\", \"@odata.type\": \"#%s\", "
	    "\"@odata.context\": \"/redfish/v1/$metadata#%s\"",
	    type, context);
}

static void
serve_versions(struct conn *c)
{
	struct evbuffer *b = route_body_new();

	evbuffer_add_printf(b, "{\"v1\": \"/redfish/v1/\"}\n");
	rf_send(c, 200, b, NULL, 0, RF_ETAG);
}

static void
serve_root(struct conn *c)
{
	struct evbuffer *b = route_body_new();

	rf_head(b, "ServiceRoot.v1_15_0.ServiceRoot", "ServiceRoot.ServiceRoot",
	    RF_ROOT "%s%s", "", "");
	evbuffer_add_printf(b,
	    ", \"Id\": \"RootService\", \"Name\": \"Root Service\", "
	    "\"RedfishVersion\": \"" RF_VERSION "\", \"Product\": "
	    "\"vmediad\", \"Vendor\": \"vmediad\", "
	    "\"Managers\": {\"@odata.id\": \"" RF_MANAGERS "\"}, "
	    "\"SessionService\": {\"@odata.id\": \"" RF_ROOT
	    "/SessionService\"}, \"Links\": {\"Sessions\": "
	    "{\"@odata.id\": \"" RF_SESSIONS "\"}}}\n");
	rf_send(c, 200, b, NULL, 0, RF_ETAG);
}

static struct evbuffer *
session_service_body(void)
{
	struct evbuffer *b = route_body_new();

	rf_head(b, "SessionService.v1_1_8.SessionService",
	    "SessionService.SessionService", RF_ROOT "/SessionService%s%s", "",
	    "");
	evbuffer_add_printf(b,
	    ", \"Id\": \"SessionService\", \"Name\": \"Session Service\", "
	    "\"ServiceEnabled\": true, \"SessionTimeout\": %d, "
	    "\"Status\": {\"State\": \"Enabled\", \"Health\": \"OK\"}, "
	    "\"Sessions\": {\"@odata.id\": \"" RF_SESSIONS "\"}}\n",
	    auth_login_idle());
	return b;
}

/* One's own logins; an admin sees everyone's. */
static int
rf_may_see_login(const struct conn *c, const char *user)
{
	return c->id.admin || c->id.how == AUTH_HOW_ANONYMOUS ||
	    strcmp(user, c->id.user) == 0;
}

static void
serve_sessions(struct conn *c)
{
	struct evbuffer *b = route_body_new(), *m = route_body_new();
	char rid[AUTH_RID_LEN + 1], user[CONF_NAME_MAX];
	int i = 0, n = 0;

	while (auth_login_next(&i, rid, user) == 0) {
		if (!rf_may_see_login(c, user))
			continue;
		evbuffer_add_printf(m,
		    "%s{\"@odata.id\": \"" RF_SESSIONS "/%s\"}",
		    n++ ? ", " : "", rid);
	}
	rf_head(b, "SessionCollection.SessionCollection",
	    "SessionCollection.SessionCollection", RF_SESSIONS "%s%s", "", "");
	evbuffer_add_printf(b,
	    ", \"Name\": \"Session Collection\", \"Members@odata.count\": %d, "
	    "\"Members\": [",
	    n);
	evbuffer_add_buffer(b, m);
	evbuffer_free(m);
	evbuffer_add_printf(b, "]}\n");
	rf_send(c, 200, b, NULL, 0, RF_ETAG);
}

static void
rf_session_body(struct evbuffer *b, const char *rid, const char *user)
{
	rf_head(b, "Session.v1_5_0.Session", "Session.Session",
	    RF_SESSIONS "/%s%s", rid, "");
	evbuffer_add_printf(b,
	    ", \"Id\": \"%s\", \"Name\": \"User Session\", "
	    "\"Description\": \"Manager User Session\", \"UserName\": ",
	    rid);
	json_string(b, user);
	evbuffer_add_printf(b, "}\n");
}

/* GET or DELETE of one login: its owner or an admin; 404 to others. */
static void
serve_session(struct conn *c, const char *rid)
{
	char user[CONF_NAME_MAX];
	struct rf_err e = { 404, RF_RESOURCE_NOT_FOUND, NULL,
		{ "Session", rid }, NULL };
	struct evbuffer *b;

	if (auth_login_rid_user(rid, user) == -1 ||
	    !rf_may_see_login(c, user)) {
		rf_refuse(c, AUDIT_EV_ACCESS_DENIED, "", "no such session", &e);
		return;
	}
	b = route_body_new();
	if (c->req->method == HTTP_METHOD_DELETE) {
		auth_login_remove_rid(rid);
		log_info("%s: %s logged out (Redfish session %s)", c->addr,
		    user, rid);
		route_audit(c, AUDIT_EV_LOGOUT, user, "",
		    strcmp(user, c->id.user) == 0 ? "Redfish session deleted" :
						    "Redfish session deleted "
						    "by an admin");
		rf_send(c, 204, b, NULL, 0, 0);
		return;
	}
	rf_session_body(b, rid, user);
	rf_send(c, 200, b, NULL, 0, RF_ETAG);
}

static void
serve_managers(struct conn *c)
{
	struct evbuffer *b = route_body_new();

	rf_head(b, "ManagerCollection.ManagerCollection",
	    "ManagerCollection.ManagerCollection", RF_MANAGERS "%s%s", "", "");
	evbuffer_add_printf(b,
	    ", \"Name\": \"Manager Collection\", \"Members@odata.count\": 1, "
	    "\"Members\": [{\"@odata.id\": \"" RF_MANAGERS "/%s\"}]}\n",
	    rf_manager());
	rf_send(c, 200, b, NULL, 0, RF_ETAG);
}

static void
serve_manager(struct conn *c)
{
	struct evbuffer *b = route_body_new();

	rf_head(b, "Manager.v1_15_0.Manager", "Manager.Manager",
	    RF_MANAGERS "/%s%s", rf_manager(), "");
	evbuffer_add_printf(b,
	    ", \"Id\": \"%s\", \"Name\": \"vmediad\", \"ManagerType\": "
	    "\"BMC\", \"Model\": \"vmediad\", \"Status\": {\"State\": "
	    "\"Enabled\", \"Health\": \"OK\"}, \"VirtualMedia\": "
	    "{\"@odata.id\": \"" RF_MANAGERS "/%s/VirtualMedia\"}}\n",
	    rf_manager(), rf_manager());
	rf_send(c, 200, b, NULL, 0, RF_ETAG);
}

static void
serve_media_collection(struct conn *c)
{
	struct evbuffer *b = route_body_new(), *m = route_body_new();
	struct export_rt *table;
	int i, n, count = 0;

	table = sd_exports(&n);
	for (i = 0; i < n; i++) {
		if (!table[i].present || !auth_may_use(&c->id, &table[i].conf))
			continue;
		evbuffer_add_printf(m,
		    "%s{\"@odata.id\": \"" RF_MANAGERS "/%s/VirtualMedia/%s\"}",
		    count++ ? ", " : "", rf_manager(), table[i].conf.name);
	}
	rf_head(b, "VirtualMediaCollection.VirtualMediaCollection",
	    "VirtualMediaCollection.VirtualMediaCollection",
	    RF_MANAGERS "/%s/VirtualMedia%s", rf_manager(), "");
	evbuffer_add_printf(b,
	    ", \"Name\": \"Virtual Media Services\", "
	    "\"Members@odata.count\": %d, \"Members\": [",
	    count);
	evbuffer_add_buffer(b, m);
	evbuffer_free(m);
	evbuffer_add_printf(b, "]}\n");
	rf_send(c, 200, b, NULL, 0, RF_ETAG);
}

/* The scheme of a URI as TransferProtocolType names it, or NULL. */
static const char *
rf_protocol_of(const char *uri)
{
	if (strncmp(uri, "https://", 8) == 0)
		return "HTTPS";
	if (strncmp(uri, "http://", 7) == 0)
		return "HTTP";
	if (strncmp(uri, "nbd", 3) == 0)
		return "OEM";
	return NULL;
}

/* The last path segment of a URI, without query: what it names. */
static void
rf_image_name(struct evbuffer *b, const char *uri)
{
	const char *p = strstr(uri, "://"), *end, *name;

	p = p != NULL ? p + 3 : uri;
	end = p + strcspn(p, "?#");
	name = end;
	while (name > p && name[-1] != '/')
		name--;
	if (name == end || name == p) {
		evbuffer_add_printf(b, "null");
		return;
	}
	evbuffer_add_printf(b, "\"");
	json_escape(b, name, end - name);
	evbuffer_add_printf(b, "\"");
}

static struct evbuffer *
media_body(const struct export_rt *ex)
{
	const struct session *s = ex->session;
	const char *name = ex->conf.name, *mgr = rf_manager();
	const char *uri = ex->inserted[0] ? ex->inserted : ex->conf.source;
	const char *via = "NotConnected";
	struct evbuffer *b = route_body_new();
	int applet = s != NULL && !s->ending && s->framed;
	int inserted = (s != NULL && !s->ending) ||
	    (ex->inserted[0] != '\0' && !ex->insert_pending);

	if (inserted)
		via = applet ? "Applet" : "URI";
	rf_head(b, "VirtualMedia.v1_6_0.VirtualMedia",
	    "VirtualMedia.VirtualMedia", RF_MANAGERS "/%s/VirtualMedia/%s", mgr,
	    name);
	evbuffer_add_printf(b, ", \"Id\": \"%s\", \"Name\": ", name);
	json_string(b, ex->conf.description[0] ? ex->conf.description : name);
	evbuffer_add_printf(b, ", \"MediaTypes\": [\"%s\"], \"Image\": ",
	    ex->conf.read_only ? "CD" : "USBStick");
	/* A URL source's image is its URI (which holds no secret, api.c). */
	if (uri[0] != '\0' && !applet) {
		json_string(b, uri);
		evbuffer_add_printf(b, ", \"ImageName\": ");
		rf_image_name(b, uri);
		evbuffer_add_printf(b, ", \"TransferProtocolType\": \"%s\"",
		    rf_protocol_of(uri) ? rf_protocol_of(uri) : "OEM");
	} else
		evbuffer_add_printf(b,
		    "null, \"ImageName\": null, "
		    "\"TransferProtocolType\": null");
	evbuffer_add_printf(b,
	    ", \"Inserted\": %s, \"WriteProtected\": %s, "
	    "\"ConnectedVia\": \"%s\", \"TransferMethod\": \"Stream\", "
	    "\"VerifyCertificate\": %s, \"Certificates\": {\"@odata.id\": "
	    "\"" RF_MANAGERS "/%s/VirtualMedia/%s/Certificates\"}, "
	    "\"Status\": {\"State\": \"Enabled\", \"Health\": \"OK\"}, "
	    "\"Actions\": {\"#VirtualMedia.InsertMedia\": {\"target\": "
	    "\"" RF_MANAGERS "/%s/VirtualMedia/%s/Actions/"
	    "VirtualMedia.InsertMedia\"}, \"#VirtualMedia.EjectMedia\": "
	    "{\"target\": \"" RF_MANAGERS "/%s/VirtualMedia/%s/Actions/"
	    "VirtualMedia.EjectMedia\"}}}\n",
	    inserted ? "true" : "false", ex->conf.read_only ? "true" : "false",
	    via, ex->no_verify ? "false" : "true", mgr, name, mgr, name, mgr,
	    name);
	return b;
}

/*
 * If-Match: the request goes on only if one of its tags is the one a GET
 * of the resource would carry now (its body: now), or "*". Tags compare
 * weakly (W/ aside): ours are weak, and clients send back what they got.
 * Returns 1 to go on, 0 after a 412.
 */
static int
rf_if_match(struct conn *c, struct evbuffer *now)
{
	const char *p = c->req->if_match, *t;
	struct rf_err e = { 412, RF_PRECONDITION_FAILED, NULL, { NULL, NULL },
		NULL };
	char tag[40];
	size_t len, tl;

	if (p[0] == '\0') {
		evbuffer_free(now);
		return 1;
	}
	rf_etag(now, tag, sizeof(tag));
	evbuffer_free(now);
	while (*(p += strspn(p, " \t,")) != '\0') {
		len = strcspn(p, ",");
		for (tl = len;
		     tl > 0 && (p[tl - 1] == ' ' || p[tl - 1] == '\t'); tl--)
			;
		t = p;
		if (tl >= 2 && strncmp(t, "W/", 2) == 0) {
			t += 2;
			tl -= 2;
		}
		if ((tl == 1 && t[0] == '*') ||
		    (tl == strlen(tag + 2) && memcmp(t, tag + 2, tl) == 0))
			return 1;
		p += len;
	}
	rf_error(c, &e);
	return 0;
}

/* --- actions ---------------------------------------------------------- */

/* A body's fault, in the registry's words; audited. */
static void
rf_body_refused(struct conn *c, const char *export, const char *action,
    const struct rf_body *body)
{
	struct rf_err e = { 400, RF_MALFORMED_JSON, NULL, { NULL, NULL },
		NULL };

	switch (body->error) {
	case RF_BODY_UNKNOWN:
		e.msg =
		    action ? RF_ACTION_PARAMETER_UNKNOWN : RF_PROPERTY_UNKNOWN;
		e.args[0] = action ? action : body->property;
		e.args[1] = body->property;
		e.related = body->property;
		break;
	case RF_BODY_TYPE:
		e.msg = RF_PROPERTY_VALUE_TYPE_ERROR;
		e.args[0] = "";
		e.args[1] = body->property;
		e.related = body->property;
		break;
	case RF_BODY_DUPLICATE:
		e.msg = RF_PROPERTY_DUPLICATE;
		e.args[0] = body->property;
		e.related = body->property;
		break;
	case RF_BODY_TOO_LONG:
		e.msg = RF_PROPERTY_VALUE_FORMAT_ERROR;
		e.args[0] = "";
		e.args[1] = body->property;
		e.related = body->property;
		break;
	case RF_BODY_MALFORMED:
	default:
		break;
	}
	rf_refuse(c, AUDIT_EV_PROTOCOL_VIOLATION, export, rf_messages[e.msg].id,
	    &e);
}

/* A body, if any, must say it is JSON. */
static int
rf_json_body(struct conn *c, const char *export)
{
	const char *ct = c->req->content_type;
	struct rf_err e = { 415, RF_GENERAL_ERROR,
		"the request body must be application/json", { NULL, NULL },
		NULL };

	if (c->req->body_len == 0 || ct[0] == '\0' ||
	    strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	rf_refuse(c, AUDIT_EV_PROTOCOL_VIOLATION, export,
	    "request body not application/json", &e);
	return 0;
}

#define INSERT_ACTION "VirtualMedia.InsertMedia"
#define EJECT_ACTION "VirtualMedia.EjectMedia"

/*
 * InsertMedia's parameters checked as the schema has them. Returns 0, or
 * -1 after a refusal.
 */
static int
insert_checked(struct conn *c, const struct export_rt *ex,
    const struct rf_body *body)
{
	const char *name = ex->conf.name, *p = body->transfer_protocol;
	struct rf_err e = { 400, RF_ACTION_PARAMETER_MISSING, NULL,
		{ INSERT_ACTION, "Image" }, "Image" };

	if (!(body->seen & RF_BIT(RF_M_IMAGE))) {
		rf_refuse(c, AUDIT_EV_INSERT_REFUSED, name,
		    "InsertMedia without Image", &e);
		return -1;
	}
	if ((body->seen & RF_BIT(RF_M_TRANSFER_PROTOCOL)) &&
	    strcmp(p, "HTTPS") != 0 && strcmp(p, "HTTP") != 0 &&
	    strcmp(p, "OEM") != 0) {
		e.msg = RF_PROPERTY_VALUE_NOT_IN_LIST;
		e.args[0] = p;
		e.args[1] = e.related = "TransferProtocolType";
		rf_refuse(c, AUDIT_EV_INSERT_REFUSED, name,
		    "unsupported TransferProtocolType", &e);
		return -1;
	}
	if ((body->seen & RF_BIT(RF_M_TRANSFER_METHOD)) &&
	    strcmp(body->transfer_method, "Stream") != 0) {
		e.msg = RF_PROPERTY_VALUE_NOT_IN_LIST;
		e.args[0] = body->transfer_method;
		e.args[1] = e.related = "TransferMethod";
		rf_refuse(c, AUDIT_EV_INSERT_REFUSED, name,
		    "unsupported TransferMethod", &e);
		return -1;
	}
	if ((body->seen & RF_BIT(RF_M_TRANSFER_PROTOCOL)) &&
	    rf_protocol_of(body->image) != NULL &&
	    strcmp(rf_protocol_of(body->image), p) != 0) {
		e.msg = RF_PROPERTY_VALUE_CONFLICT;
		e.args[0] = "TransferProtocolType";
		e.args[1] = e.related = "Image";
		rf_refuse(c, AUDIT_EV_INSERT_REFUSED, name,
		    "TransferProtocolType does not match Image", &e);
		return -1;
	}
	if ((body->seen & RF_BIT(RF_M_INSERTED)) && !body->inserted) {
		e.msg = RF_PROPERTY_VALUE_NOT_IN_LIST;
		e.args[0] = "false";
		e.args[1] = e.related = "Inserted";
		e.detail = "media is inserted when inserted: Inserted false "
			   "is not supported";
		rf_refuse(c, AUDIT_EV_INSERT_REFUSED, name,
		    "InsertMedia with Inserted false", &e);
		return -1;
	}
	if ((body->seen & RF_BIT(RF_M_WRITE_PROTECTED)) &&
	    !body->write_protected && rf_protocol_of(body->image) != NULL &&
	    strcmp(rf_protocol_of(body->image), "OEM") != 0) {
		e.msg = RF_PROPERTY_VALUE_NOT_IN_LIST;
		e.args[0] = "false";
		e.args[1] = e.related = "WriteProtected";
		e.detail = "a web server's image is read-only";
		rf_refuse(c, AUDIT_EV_INSERT_REFUSED, name,
		    "InsertMedia of a web image not write-protected", &e);
		return -1;
	}
	return 0;
}

/*
 * InsertMedia's parameters as insert.c takes them: Image, and UserName
 * with Password, both or neither. Returns 0, or -1 after a refusal.
 */
static int
insert_body(struct conn *c, const struct export_rt *ex,
    const struct rf_body *body, struct cred_insert *in)
{
	unsigned int cred =
	    body->seen & (RF_BIT(RF_M_USERNAME) | RF_BIT(RF_M_PASSWORD));
	struct rf_err e = { 400, RF_ACTION_PARAMETER_MISSING, NULL,
		{ INSERT_ACTION, "Password" }, "Password" };

	memset(in, 0, sizeof(*in));
	if (cred != 0 &&
	    cred != (RF_BIT(RF_M_USERNAME) | RF_BIT(RF_M_PASSWORD))) {
		if (!(cred & RF_BIT(RF_M_USERNAME)))
			e.args[1] = e.related = "UserName";
		rf_refuse(c, AUDIT_EV_INSERT_REFUSED, ex->conf.name,
		    "InsertMedia with UserName or Password alone", &e);
		return -1;
	}
	if (strlen(body->user) >= sizeof(in->user)) {
		e.msg = RF_PROPERTY_VALUE_FORMAT_ERROR;
		e.args[0] = "";
		e.args[1] = e.related = "UserName";
		rf_refuse(c, AUDIT_EV_INSERT_REFUSED, ex->conf.name,
		    "InsertMedia UserName too long", &e);
		return -1;
	}
	memcpy(in->url, body->image, sizeof(in->url));
	memcpy(in->user, body->user, strlen(body->user) + 1);
	memcpy(in->password, body->password, sizeof(in->password));
	return 0;
}

/*
 * The insert itself is insert.c's, as for POST /api/exports/NAME/insert:
 * the answer waits until the source attached (204, redfish_inserted) or
 * failed (conn_error's, in the registry's form).
 */
static void
serve_insert(struct conn *c, struct export_rt *ex)
{
	struct rf_body body;
	struct cred_insert in;
	int rv;

	if (!rf_json_body(c, ex->conf.name))
		return;
	rv = rf_body_parse(c->req->body, c->req->body_len,
	    RF_BIT(RF_M_IMAGE) | RF_BIT(RF_M_INSERTED) |
		RF_BIT(RF_M_WRITE_PROTECTED) | RF_BIT(RF_M_TRANSFER_PROTOCOL) |
		RF_BIT(RF_M_TRANSFER_METHOD) | RF_BIT(RF_M_USERNAME) |
		RF_BIT(RF_M_PASSWORD),
	    &body);
	explicit_bzero(c->req->body, sizeof(c->req->body));
	if (rv == -1)
		rf_body_refused(c, ex->conf.name, INSERT_ACTION, &body);
	else if (rf_if_match(c, media_body(ex)) &&
	    insert_checked(c, ex, &body) == 0 &&
	    insert_body(c, ex, &body, &in) == 0)
		insert_start(c, ex, &in);
	rf_body_clear(&body);
	explicit_bzero(&in, sizeof(in));
}

static void
serve_eject(struct conn *c, struct export_rt *ex)
{
	struct rf_body body;
	struct rf_err e = { 403, RF_INSUFFICIENT_PRIVILEGE,
		"only its owner or an admin may eject", { NULL, NULL }, NULL };

	if (!rf_json_body(c, ex->conf.name))
		return;
	if (rf_body_parse(c->req->body, c->req->body_len, 0, &body) == -1) {
		rf_body_refused(c, ex->conf.name, EJECT_ACTION, &body);
		return;
	}
	if (!rf_if_match(c, media_body(ex)))
		return;
	switch (route_eject(c, ex)) {
	case ROUTE_EJECT_NOTHING:
		/*
		 * Nothing in it: the media is out, as asked. sushy's
		 * eject_media() swallows any error, Ironic and Ansible eject
		 * only what shows Inserted; a success spares them and a
		 * script a special case. Nothing happened: no audit.
		 */
		log_debug("%s: EjectMedia of %s: nothing inserted", c->addr,
		    ex->conf.name);
		rf_send(c, 204, route_body_new(), NULL, 0, 0);
		return;
	case ROUTE_EJECT_NOT_OWNER:
		rf_error(c, &e);
		return;
	case ROUTE_EJECT_DONE:
	default:
		rf_send(c, 204, route_body_new(), NULL, 0, 0);
	}
}

/* An insert attached: insert.c's answer, in Redfish's form. */
void
redfish_inserted(struct conn *c)
{
	conn_resume(c);
	rf_send(c, 204, route_body_new(), NULL, 0, 0);
}

/* --- login ------------------------------------------------------------ */

int
redfish_is_login(const struct conn *c)
{
	char copy[RF_PATH_MAX], *seg[RF_SEGMENTS];

	return rf_split(c->req->path, copy, sizeof(copy), seg) == 4 &&
	    strcmp(seg[0], "redfish") == 0 && strcmp(seg[1], "v1") == 0 &&
	    strcmp(seg[2], "SessionService") == 0 &&
	    strcmp(seg[3], "Sessions") == 0;
}

static void
login_done(void *arg, int ok)
{
	struct conn *c = arg;
	char token[CRED_TOKEN_LEN + 1], location[128];
	struct http_header h[2] = { { "X-Auth-Token", token },
		{ "Location", location } };
	struct auth_dropped dropped;
	struct evbuffer *b;

	if (!login_password_checked(c, ok, AUTH_HOW_X_AUTH_TOKEN))
		return;
	if (auth_login_create(c->id.user, token, &dropped) == -1 ||
	    auth_login_find(token, &c->id, AUTH_HOW_X_AUTH_TOKEN) != 0) {
		explicit_bzero(token, sizeof(token));
		conn_error(c, 503, "cannot create a login");
		return;
	}
	login_record(c, &dropped);
	snprintf(location, sizeof(location), RF_SESSIONS "/%s", c->id.rid);
	b = route_body_new();
	rf_session_body(b, c->id.rid, c->id.user);
	conn_resume(c);
	rf_send(c, 201, b, h, 2, 0);
	explicit_bzero(token, sizeof(token));
}

/*
 * POST /redfish/v1/SessionService/Sessions with UserName and Password:
 * /api/login's checks, back-off and audit; the token comes back as
 * X-Auth-Token, the session's URI as Location.
 */
void
redfish_login(struct conn *c)
{
	struct rf_body body;
	struct rf_err e = { 400, RF_PROPERTY_MISSING, NULL,
		{ "UserName", NULL }, "UserName" };
	int rv;

	if (!auth_required()) {
		explicit_bzero(c->req->body, sizeof(c->req->body));
		e.msg = RF_GENERAL_ERROR;
		e.detail = "this server does not use logins (auth = none)";
		e.related = NULL;
		rf_error(c, &e);
		return;
	}
	if (!rf_json_body(c, "")) {
		explicit_bzero(c->req->body, sizeof(c->req->body));
		return;
	}
	rv = rf_body_parse(c->req->body, c->req->body_len,
	    RF_BIT(RF_M_USERNAME) | RF_BIT(RF_M_PASSWORD), &body);
	explicit_bzero(c->req->body, sizeof(c->req->body));
	if (rv == -1) {
		rf_body_refused(c, "", NULL, &body);
		rf_body_clear(&body);
		return;
	}
	if (!(body.seen & RF_BIT(RF_M_PASSWORD)))
		e.args[0] = e.related = "Password";
	if ((body.seen & (RF_BIT(RF_M_USERNAME) | RF_BIT(RF_M_PASSWORD))) !=
	    (RF_BIT(RF_M_USERNAME) | RF_BIT(RF_M_PASSWORD))) {
		if (!(body.seen & RF_BIT(RF_M_USERNAME)))
			e.args[0] = e.related = "UserName";
		rf_refuse(c, AUDIT_EV_LOGIN_FAILED, "",
		    "session login without UserName or Password", &e);
		rf_body_clear(&body);
		return;
	}
	memset(&c->cred, 0, sizeof(c->cred));
	c->cred.kind = CRED_BASIC;
	/* A name no user can have fails as a wrong password does. */
	if (conf_name_valid(body.user))
		memcpy(c->cred.user, body.user, strlen(body.user) + 1);
	snprintf(c->cred.password, sizeof(c->cred.password), "%s",
	    body.password);
	rf_body_clear(&body);
	if (login_password_allowed(c))
		login_check_password(c, login_done);
}

/* --- routing ---------------------------------------------------------- */

enum rf_allow {
	RF_GET = 0x01,
	RF_POST = 0x02,
	RF_DELETE = 0x04,
	RF_PATCH = 0x08,
};

/* The method one of allow; else 405 with Allow. */
static int
rf_method(struct conn *c, int allow)
{
	enum http_method m = c->req->method;
	char list[64];
	struct http_header h = { "Allow", list };
	struct rf_err e = { 405, RF_OPERATION_NOT_ALLOWED, NULL, { NULL, NULL },
		NULL };

	if (((m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD) &&
		(allow & RF_GET)) ||
	    (m == HTTP_METHOD_POST && (allow & RF_POST)) ||
	    (m == HTTP_METHOD_PATCH && (allow & RF_PATCH)) ||
	    (m == HTTP_METHOD_DELETE && (allow & RF_DELETE)))
		return 1;
	snprintf(list, sizeof(list), "%s%s%s%s",
	    allow & RF_GET ? "GET, HEAD" : "",
	    allow & RF_POST ? (allow & RF_GET ? ", POST" : "POST") : "",
	    allow & RF_PATCH ? ", PATCH" : "",
	    allow & RF_DELETE ? ", DELETE" : "");
	log_debug("%s: 405 %s %s", c->addr, c->req->method_name, c->req->path);
	rf_send(c, 405, rf_error_body(&e), &h, 1, 0);
	return 0;
}

static int
rf_need_identity(struct conn *c)
{
	struct rf_err e = { 401, RF_NO_VALID_SESSION, NULL, { NULL, NULL },
		NULL };

	if (c->id.how != AUTH_HOW_NONE)
		return 1;
	rf_refuse(c, AUDIT_EV_ACCESS_DENIED, "", "authentication required", &e);
	return 0;
}

static void
rf_not_found(struct conn *c, const char *type, const char *name)
{
	struct rf_err e = { 404, RF_RESOURCE_NOT_FOUND, NULL, { type, name },
		NULL };

	rf_error(c, &e);
}

/*
 * Changes only an admin may make. Which image servers a member trusts
 * (VerifyCertificate, Certificates) is one: every user of the export
 * inserts under it, so one tenant's CA must not vouch for the server
 * another tenant's image comes from.
 */
static int
rf_need_admin(struct conn *c, const char *export, const char *why)
{
	struct rf_err e = { 403, RF_INSUFFICIENT_PRIVILEGE, NULL,
		{ NULL, NULL }, NULL };

	if (c->id.admin || c->id.how == AUTH_HOW_ANONYMOUS)
		return 1;
	explicit_bzero(c->req->body, sizeof(c->req->body));
	rf_refuse(c, AUDIT_EV_ACCESS_DENIED, export, why, &e);
	return 0;
}

/* A PATCH's fault: a property this resource has but lets nobody write
 * is PropertyNotWritable, another one PropertyUnknown. */
static void
rf_patch_refused(struct conn *c, const char *export, const struct rf_body *b,
    const char *const *read_only)
{
	struct rf_err e = { 400, RF_PROPERTY_NOT_WRITABLE, NULL,
		{ b->property, NULL }, b->property };

	for (; b->error == RF_BODY_UNKNOWN && *read_only != NULL; read_only++)
		if (strcmp(*read_only, b->property) == 0) {
			rf_refuse(c, AUDIT_EV_PROTOCOL_VIOLATION, export,
			    "PropertyNotWritable", &e);
			return;
		}
	rf_body_refused(c, export, NULL, b);
}

static const char *const media_read_only[] = { "@odata.id", "@odata.type",
	"@odata.context", "@odata.etag", "Id", "Name", "Description",
	"MediaTypes", "Image", "ImageName", "Inserted", "WriteProtected",
	"ConnectedVia", "TransferProtocolType", "TransferMethod", "UserName",
	"Password", "Status", "Actions", "Certificates", NULL };

/*
 * PATCH of a VirtualMedia: VerifyCertificate alone, for the inserts that
 * follow (an image already inserted keeps how it was checked).
 */
static void
serve_media_patch(struct conn *c, struct export_rt *ex)
{
	struct rf_body body;

	if (!rf_need_admin(c, ex->conf.name, "VerifyCertificate is an admin's"))
		return;
	if (!rf_json_body(c, ex->conf.name))
		return;
	if (rf_body_parse(c->req->body, c->req->body_len,
		RF_BIT(RF_M_VERIFY_CERTIFICATE), &body) == -1) {
		rf_patch_refused(c, ex->conf.name, &body, media_read_only);
		return;
	}
	if (!rf_if_match(c, media_body(ex)))
		return;
	if ((body.seen & RF_BIT(RF_M_VERIFY_CERTIFICATE)) &&
	    ex->no_verify != !body.verify_certificate) {
		ex->no_verify = !body.verify_certificate;
		route_audit(c, AUDIT_EV_SETTING_CHANGED, c->id.user,
		    ex->conf.name,
		    ex->no_verify ? "VerifyCertificate false" :
				    "VerifyCertificate true");
	}
	rf_send(c, 200, media_body(ex), NULL, 0, RF_ETAG);
}

static const char *const session_service_read_only[] = { "@odata.id",
	"@odata.type", "@odata.context", "@odata.etag", "Id", "Name",
	"Description", "ServiceEnabled", "Status", "Sessions", NULL };

/* Redfish's bounds of SessionTimeout (SessionService v1_1_8). */
#define RF_SESSION_TIMEOUT_MIN 30
#define RF_SESSION_TIMEOUT_MAX 86400

/*
 * PATCH of the SessionService: an admin sets SessionTimeout, which
 * stands for login-idle until the next reload.
 */
static void
serve_session_service_patch(struct conn *c)
{
	struct rf_err e = { 400, RF_PROPERTY_VALUE_OUT_OF_RANGE, NULL,
		{ NULL, NULL }, NULL };
	struct rf_body body;
	char value[24];

	if (!rf_need_admin(c, "", "SessionTimeout is an admin's"))
		return;
	if (!rf_json_body(c, ""))
		return;
	if (rf_body_parse(c->req->body, c->req->body_len,
		RF_BIT(RF_M_SESSION_TIMEOUT), &body) == -1) {
		rf_patch_refused(c, "", &body, session_service_read_only);
		return;
	}
	if (!rf_if_match(c, session_service_body()))
		return;
	if (body.seen & RF_BIT(RF_M_SESSION_TIMEOUT)) {
		if (body.session_timeout < RF_SESSION_TIMEOUT_MIN ||
		    body.session_timeout > RF_SESSION_TIMEOUT_MAX) {
			snprintf(value, sizeof(value), "%lld",
			    body.session_timeout);
			e.args[0] = value;
			e.args[1] = e.related = "SessionTimeout";
			rf_refuse(c, AUDIT_EV_PROTOCOL_VIOLATION, "",
			    "SessionTimeout out of range", &e);
			return;
		}
		auth_login_idle_set((int)body.session_timeout);
		snprintf(value, sizeof(value), "SessionTimeout %lld s",
		    body.session_timeout);
		route_audit(c, AUDIT_EV_SETTING_CHANGED, c->id.user, "", value);
	}
	rf_send(c, 200, session_service_body(), NULL, 0, RF_ETAG);
}

/* --- certificates: the CAs an insert on a member trusts alone ---------- */

#define RF_CERTS "Certificates"

static void
rf_cert_body(struct evbuffer *b, const struct export_rt *ex, int i)
{
	char id[16];

	snprintf(id, sizeof(id), "%u", ex->cas_id[i]);
	evbuffer_add_printf(b,
	    "{\"@odata.id\": \"" RF_MANAGERS "/%s/VirtualMedia/%s/" RF_CERTS
	    "/%s\", \"@odata.type\": \"#Certificate.v1_8_0.Certificate\", "
	    "\"@odata.context\": "
	    "\"/redfish/v1/$metadata#Certificate.Certificate\", "
	    "\"Id\": \"%s\", \"Name\": \"Image server CA %s\", "
	    "\"CertificateType\": \"PEM\", \"CertificateUsageTypes\": "
	    "[\"Device\"], \"CertificateString\": ",
	    rf_manager(), ex->conf.name, id, id, id);
	json_string(b, ex->cas[i]);
	evbuffer_add_printf(b, "}\n");
}

static void
serve_certs(struct conn *c, const struct export_rt *ex)
{
	struct evbuffer *b = route_body_new();
	int i, n = 0;

	rf_head(b, "CertificateCollection.CertificateCollection",
	    "CertificateCollection.CertificateCollection",
	    RF_MANAGERS "/%s/VirtualMedia/%s/" RF_CERTS, rf_manager(),
	    ex->conf.name);
	evbuffer_add_printf(b,
	    ", \"Name\": \"Image server CAs\", \"Members\": [");
	for (i = 0; i < MSG_CAS_MAX; i++) {
		if (ex->cas[i] == NULL)
			continue;
		evbuffer_add_printf(b,
		    "%s{\"@odata.id\": \"" RF_MANAGERS
		    "/%s/VirtualMedia/%s/" RF_CERTS "/%u\"}",
		    n++ ? ", " : "", rf_manager(), ex->conf.name,
		    ex->cas_id[i]);
	}
	evbuffer_add_printf(b, "], \"Members@odata.count\": %d}\n", n);
	rf_send(c, 200, b, NULL, 0, RF_ETAG);
}

/*
 * One X.509 certificate in PEM, nothing else, written back as OpenSSL
 * writes it into out. Returns 0, or -1 if it is none, or more than one,
 * or does not fit.
 */
static int
rf_pem_canonical(const char *pem, char *out, size_t size)
{
	BIO *in = NULL, *w = NULL;
	const char *p = pem;
	X509 *x = NULL;
	char *data;
	long len;
	int r = -1, blocks = 0;

	/* One PEM block: no second certificate, no key beside it. */
	while ((p = strstr(p, "-----BEGIN")) != NULL) {
		blocks++;
		p++;
	}
	if (blocks != 1 ||
	    (in = BIO_new_mem_buf(pem, (int)strlen(pem))) == NULL ||
	    (x = PEM_read_bio_X509(in, NULL, NULL, NULL)) == NULL ||
	    (w = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509(w, x))
		goto out;
	len = BIO_get_mem_data(w, &data);
	if (len <= 0 || (size_t)len >= size)
		goto out;
	memcpy(out, data, len);
	out[len] = '\0';
	r = 0;
out:
	ERR_clear_error();
	X509_free(x);
	BIO_free(in);
	BIO_free(w);
	return r;
}

/*
 * An admin's certificate change, audited with the certificate's SHA-256
 * fingerprint: the audit trail must say which CA was trusted, and when.
 */
static void
rf_cert_audit(struct conn *c, const struct export_rt *ex, int i,
    const char *what)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	char why[128], fp[2 * 32 + 1] = "?";
	unsigned int n = 0, k;
	BIO *in;
	X509 *x = NULL;

	if ((in = BIO_new_mem_buf(ex->cas[i], -1)) != NULL &&
	    (x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL &&
	    X509_digest(x, EVP_sha256(), md, &n) && n == 32) {
		for (k = 0; k < n; k++) {
			fp[2 * k] = hexd[md[k] >> 4];
			fp[2 * k + 1] = hexd[md[k] & 15];
		}
		fp[2 * n] = '\0';
	}
	ERR_clear_error();
	X509_free(x);
	BIO_free(in);
	snprintf(why, sizeof(why), "certificate %u %s, SHA-256 %s",
	    ex->cas_id[i], what, fp);
	route_audit(c, AUDIT_EV_SETTING_CHANGED, c->id.user, ex->conf.name,
	    why);
}

/*
 * POST to a member's Certificates: one CA in PEM (CertificateString,
 * CertificateType "PEM"), at most MSG_CAS_MAX of them. 201 with its
 * Location.
 */
static void
serve_cert_add(struct conn *c, struct export_rt *ex)
{
	struct rf_err e = { 400, RF_PROPERTY_MISSING, NULL,
		{ "CertificateString", NULL }, "CertificateString" };
	char location[RF_PATH_MAX], pem[MSG_PEM_MAX];
	struct http_header h = { "Location", location };
	struct evbuffer *b;
	struct rf_body body;
	int i, slot = -1;

	if (!rf_need_admin(c, ex->conf.name, "Certificates are an admin's"))
		return;
	if (!rf_json_body(c, ex->conf.name))
		return;
	if (rf_body_parse(c->req->body, c->req->body_len,
		RF_BIT(RF_M_CERTIFICATE_STRING) | RF_BIT(RF_M_CERTIFICATE_TYPE),
		&body) == -1) {
		rf_body_refused(c, ex->conf.name, NULL, &body);
		return;
	}
	if (!(body.seen & RF_BIT(RF_M_CERTIFICATE_STRING)) ||
	    !(body.seen & RF_BIT(RF_M_CERTIFICATE_TYPE))) {
		if (body.seen & RF_BIT(RF_M_CERTIFICATE_STRING))
			e.args[0] = e.related = "CertificateType";
		rf_refuse(c, AUDIT_EV_PROTOCOL_VIOLATION, ex->conf.name,
		    "certificate without CertificateString or "
		    "CertificateType",
		    &e);
		return;
	}
	if (strcmp(body.certificate_type, "PEM") != 0) {
		e.msg = RF_PROPERTY_VALUE_NOT_IN_LIST;
		e.args[0] = body.certificate_type;
		e.args[1] = e.related = "CertificateType";
		rf_refuse(c, AUDIT_EV_PROTOCOL_VIOLATION, ex->conf.name,
		    "CertificateType not PEM", &e);
		return;
	}
	if (rf_pem_canonical(body.certificate, pem, sizeof(pem)) == -1) {
		e.msg = RF_PROPERTY_VALUE_FORMAT_ERROR;
		e.args[0] = "";
		e.args[1] = e.related = "CertificateString";
		e.detail = "CertificateString must be one X.509 certificate "
			   "in PEM";
		rf_refuse(c, AUDIT_EV_PROTOCOL_VIOLATION, ex->conf.name,
		    "CertificateString not one PEM certificate", &e);
		return;
	}
	for (i = 0; i < MSG_CAS_MAX && slot == -1; i++)
		if (ex->cas[i] == NULL)
			slot = i;
	if (slot == -1 || (ex->cas[slot] = strdup(pem)) == NULL) {
		e.msg = RF_CREATE_LIMIT_REACHED;
		e.related = NULL;
		e.detail = "a virtual media trusts at most 4 certificates";
		rf_refuse(c, AUDIT_EV_PROTOCOL_VIOLATION, ex->conf.name,
		    "more than 4 certificates", &e);
		return;
	}
	ex->cas_id[slot] = ++ex->cas_next;
	rf_cert_audit(c, ex, slot, "added");
	snprintf(location, sizeof(location),
	    RF_MANAGERS "/%s/VirtualMedia/%s/" RF_CERTS "/%u", rf_manager(),
	    ex->conf.name, ex->cas_id[slot]);
	b = route_body_new();
	rf_cert_body(b, ex, slot);
	rf_send(c, 201, b, &h, 1, 0);
}

/* GET or DELETE of one of a member's certificates. */
static void
serve_cert(struct conn *c, struct export_rt *ex, const char *id)
{
	struct evbuffer *b;
	char want[16];
	int i;

	for (i = 0; i < MSG_CAS_MAX; i++) {
		snprintf(want, sizeof(want), "%u", ex->cas_id[i]);
		if (ex->cas[i] != NULL && strcmp(want, id) == 0)
			break;
	}
	if (i == MSG_CAS_MAX) {
		rf_not_found(c, "Certificate", id);
		return;
	}
	if (c->req->method == HTTP_METHOD_DELETE) {
		if (!rf_need_admin(c, ex->conf.name,
			"Certificates are an admin's"))
			return;
		rf_cert_audit(c, ex, i, "deleted");
		free(ex->cas[i]);
		ex->cas[i] = NULL;
		rf_send(c, 204, route_body_new(), NULL, 0, 0);
		return;
	}
	b = route_body_new();
	rf_cert_body(b, ex, i);
	rf_send(c, 200, b, NULL, 0, RF_ETAG);
}

/* .../VirtualMedia/NAME[/Actions/ACTION]: the caller's exports only. */
static void
serve_media_path(struct conn *c, char **seg, int n)
{
	struct export_rt *ex = sd_export(seg[5]);
	struct rf_err e = { 404, RF_RESOURCE_NOT_FOUND, NULL,
		{ "VirtualMedia", seg[5] }, NULL };

	if (ex == NULL || !auth_may_use(&c->id, &ex->conf)) {
		rf_refuse(c, AUDIT_EV_ACCESS_DENIED, ex ? seg[5] : "",
		    ex != NULL ? "not allowed to use this export" :
				 "no such export",
		    &e);
		return;
	}
	if (n == 6) {
		if (!rf_method(c, RF_GET | RF_PATCH))
			return;
		if (c->req->method == HTTP_METHOD_PATCH)
			serve_media_patch(c, ex);
		else
			rf_send(c, 200, media_body(ex), NULL, 0, RF_ETAG);
	} else if (n == 7 && strcmp(seg[6], RF_CERTS) == 0) {
		if (!rf_method(c, RF_GET | RF_POST))
			return;
		if (c->req->method == HTTP_METHOD_POST)
			serve_cert_add(c, ex);
		else
			serve_certs(c, ex);
	} else if (n == 8 && strcmp(seg[6], RF_CERTS) == 0) {
		if (rf_method(c, RF_GET | RF_DELETE))
			serve_cert(c, ex, seg[7]);
	} else if (n == 8 && strcmp(seg[6], "Actions") == 0 &&
	    strcmp(seg[7], INSERT_ACTION) == 0) {
		if (rf_method(c, RF_POST))
			serve_insert(c, ex);
	} else if (n == 8 && strcmp(seg[6], "Actions") == 0 &&
	    strcmp(seg[7], EJECT_ACTION) == 0) {
		if (rf_method(c, RF_POST))
			serve_eject(c, ex);
	} else
		rf_not_found(c, "Action", n == 8 ? seg[7] : seg[n - 1]);
}

/* Below /redfish/v1, with the caller known (or known to be nobody). */
static void
serve_tree(struct conn *c, char **seg, int n)
{
	if (n == 2) {
		if (rf_method(c, RF_GET))
			serve_root(c);
		return;
	}
	if (!rf_need_identity(c))
		return;
	if (strcmp(seg[2], "SessionService") == 0) {
		if (n == 3 && rf_method(c, RF_GET | RF_PATCH)) {
			if (c->req->method == HTTP_METHOD_PATCH)
				serve_session_service_patch(c);
			else
				rf_send(c, 200, session_service_body(), NULL, 0,
				    RF_ETAG);
		} else if (n == 4 && strcmp(seg[3], "Sessions") == 0) {
			if (rf_method(c, RF_GET | RF_POST))
				serve_sessions(c); /* POST went to login */
		} else if (n == 5 && strcmp(seg[3], "Sessions") == 0) {
			if (rf_method(c, RF_GET | RF_DELETE))
				serve_session(c, seg[4]);
		} else if (n > 3)
			rf_not_found(c, "Resource", seg[n - 1]);
		return;
	}
	if (strcmp(seg[2], "Managers") != 0) {
		rf_not_found(c, "Resource", seg[2]);
		return;
	}
	if (n == 3) {
		if (rf_method(c, RF_GET))
			serve_managers(c);
	} else if (strcmp(seg[3], rf_manager()) != 0)
		rf_not_found(c, "Manager", seg[3]);
	else if (n == 4) {
		if (rf_method(c, RF_GET))
			serve_manager(c);
	} else if (strcmp(seg[4], "VirtualMedia") != 0)
		rf_not_found(c, "Resource", seg[4]);
	else if (n == 5) {
		if (rf_method(c, RF_GET))
			serve_media_collection(c);
	} else
		serve_media_path(c, seg, n);
}

void
redfish_serve(struct conn *c)
{
	char copy[RF_PATH_MAX], *seg[RF_SEGMENTS];
	int n = rf_split(c->req->path, copy, sizeof(copy), seg);

	if (n == 1) {
		if (rf_method(c, RF_GET))
			serve_versions(c);
	} else if (n >= 2 && strcmp(seg[1], "v1") == 0)
		serve_tree(c, seg, n);
	else if (rf_need_identity(c))
		conn_error(c, 404, "not found");
}
