/*
 * Redfish request bodies: one flat JSON object whose members are among
 * those the endpoint allows (a session's UserName and Password,
 * InsertMedia's parameters, a PATCH's VerifyCertificate or SessionTimeout,
 * a Certificate's CertificateString and CertificateType), each of its
 * type. Nothing nested, nothing
 * unbounded; an empty body is an empty object (EjectMedia is often sent
 * without one). What went wrong, and with which member, is told in the
 * result, for the Base registry message that answers it.
 */
#include <string.h>

#include "json_in.h"
#include "redfish.h"

static const char *const member_names[RF_M_COUNT] = {
	[RF_M_USERNAME] = "UserName",
	[RF_M_PASSWORD] = "Password",
	[RF_M_IMAGE] = "Image",
	[RF_M_INSERTED] = "Inserted",
	[RF_M_WRITE_PROTECTED] = "WriteProtected",
	[RF_M_TRANSFER_PROTOCOL] = "TransferProtocolType",
	[RF_M_TRANSFER_METHOD] = "TransferMethod",
	[RF_M_VERIFY_CERTIFICATE] = "VerifyCertificate",
	[RF_M_SESSION_TIMEOUT] = "SessionTimeout",
	[RF_M_CERTIFICATE_STRING] = "CertificateString",
	[RF_M_CERTIFICATE_TYPE] = "CertificateType",
};

const char *
rf_member_name(enum rf_member m)
{
	return m < RF_M_COUNT ? member_names[m] : "";
}

static int
fail(struct rf_body *b, enum rf_body_error e, const char *property)
{
	b->error = e;
	if (property != NULL)
		memcpy(b->property, property,
		    strnlen(property, sizeof(b->property) - 1));
	return -1;
}

/* true or false into *v; 1 when it was one, 0 for another value. */
static int
boolean(struct json_in *in, int *v)
{
	size_t left = in->end - in->p;

	if (left >= 4 && memcmp(in->p, "true", 4) == 0) {
		in->p += 4;
		*v = 1;
		return 1;
	}
	if (left >= 5 && memcmp(in->p, "false", 5) == 0) {
		in->p += 5;
		*v = 0;
		return 1;
	}
	return 0;
}

/*
 * A JSON number that is a whole one, 0 or more, into *v (capped at
 * 10^12); 1 when it was one, 0 for another value (a fraction, a sign, a
 * string).
 */
static int
integer(struct json_in *in, long long *v)
{
	const char *p = in->p;

	if (p >= in->end || *p < '0' || *p > '9' ||
	    (*p == '0' && p + 1 < in->end && p[1] >= '0' && p[1] <= '9'))
		return 0;
	for (*v = 0; p < in->end && *p >= '0' && *p <= '9'; p++)
		if ((*v = *v * 10 + (*p - '0')) > 1000000000000LL)
			*v = 1000000000000LL;
	if (p < in->end && (*p == '.' || *p == 'e' || *p == 'E'))
		return 0;
	in->p = p;
	return 1;
}

/* A string member into out: a too long one is told from a bad one. */
static int
string(struct json_in *in, char *out, size_t size, struct rf_body *b,
    const char *name)
{
	const char *start = in->p;

	if (in->p >= in->end || *in->p != '"')
		return fail(b,
		    json_in_skip(in) == 0 ? RF_BODY_TYPE : RF_BODY_MALFORMED,
		    name);
	if (json_in_string(in, out, size) == 0)
		return 0;
	in->p = start;
	return fail(b,
	    json_in_string(in, NULL, 0) == 0 ? RF_BODY_TOO_LONG :
					       RF_BODY_MALFORMED,
	    name);
}

static int
value(struct json_in *in, enum rf_member m, struct rf_body *b)
{
	const char *name = member_names[m];
	int *flag;

	switch (m) {
	case RF_M_USERNAME:
		return string(in, b->user, sizeof(b->user), b, name);
	case RF_M_PASSWORD:
		return string(in, b->password, sizeof(b->password), b, name);
	case RF_M_IMAGE:
		return string(in, b->image, sizeof(b->image), b, name);
	case RF_M_TRANSFER_PROTOCOL:
		return string(in, b->transfer_protocol,
		    sizeof(b->transfer_protocol), b, name);
	case RF_M_TRANSFER_METHOD:
		return string(in, b->transfer_method,
		    sizeof(b->transfer_method), b, name);
	case RF_M_CERTIFICATE_STRING:
		return string(in, b->certificate, sizeof(b->certificate), b,
		    name);
	case RF_M_CERTIFICATE_TYPE:
		return string(in, b->certificate_type,
		    sizeof(b->certificate_type), b, name);
	case RF_M_SESSION_TIMEOUT:
		if (integer(in, &b->session_timeout))
			return 0;
		return fail(b,
		    json_in_skip(in) == 0 ? RF_BODY_TYPE : RF_BODY_MALFORMED,
		    name);
	case RF_M_INSERTED:
	case RF_M_WRITE_PROTECTED:
	case RF_M_VERIFY_CERTIFICATE:
	default:
		flag = m == RF_M_INSERTED     ? &b->inserted :
		    m == RF_M_WRITE_PROTECTED ? &b->write_protected :
						&b->verify_certificate;
		if (boolean(in, flag))
			return 0;
		return fail(b,
		    json_in_skip(in) == 0 ? RF_BODY_TYPE : RF_BODY_MALFORMED,
		    name);
	}
}

static int
member(struct json_in *in, unsigned int allowed, struct rf_body *b)
{
	char key[64];
	int m;

	if (json_in_string(in, key, sizeof(key)) == -1)
		return fail(b, RF_BODY_MALFORMED, NULL);
	json_in_ws(in);
	if (in->p >= in->end || *in->p++ != ':')
		return fail(b, RF_BODY_MALFORMED, NULL);
	json_in_ws(in);
	for (m = 0; m < RF_M_COUNT; m++)
		if (strcmp(key, member_names[m]) == 0)
			break;
	if (m == RF_M_COUNT || !(allowed & RF_BIT(m))) {
		/* Whole JSON first: a malformed body is told as such. */
		if (json_in_skip(in) == -1)
			return fail(b, RF_BODY_MALFORMED, NULL);
		return fail(b, RF_BODY_UNKNOWN, key);
	}
	if (b->seen & RF_BIT(m))
		return fail(b, RF_BODY_DUPLICATE, key);
	if (value(in, m, b) == -1)
		return -1;
	b->seen |= RF_BIT(m);
	json_in_ws(in);
	return 0;
}

/*
 * 0 with the members found in b->seen; -1 with b->error and b->property
 * saying why. allowed: the RF_BIT()s of the members this endpoint takes.
 */
int
rf_body_parse(const char *body, size_t len, unsigned int allowed,
    struct rf_body *b)
{
	struct json_in in = { body, body + len };

	memset(b, 0, sizeof(*b));
	json_in_ws(&in);
	if (in.p == in.end)
		return 0;
	if (*in.p++ != '{')
		return fail(b, RF_BODY_MALFORMED, NULL);
	json_in_ws(&in);
	while (in.p < in.end && *in.p != '}') {
		if (member(&in, allowed, b) == -1)
			return -1;
		if (in.p < in.end && *in.p == ',') {
			in.p++;
			json_in_ws(&in);
			if (in.p < in.end && *in.p == '}')
				return fail(b, RF_BODY_MALFORMED, NULL);
		} else if (in.p < in.end && *in.p != '}')
			return fail(b, RF_BODY_MALFORMED, NULL);
	}
	if (in.p >= in.end)
		return fail(b, RF_BODY_MALFORMED, NULL);
	in.p++;
	json_in_ws(&in);
	if (in.p != in.end)
		return fail(b, RF_BODY_MALFORMED, NULL);
	return 0;
}

/* Wipes what the body held: passwords above all. */
void
rf_body_clear(struct rf_body *b)
{
	explicit_bzero(b, sizeof(*b));
}
