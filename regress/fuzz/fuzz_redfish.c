/*
 * libFuzzer target for Redfish request bodies (sessiond/redfish_body.c):
 * the first two bytes pick the members the endpoint allows (low byte
 * first), the rest is the
 * body as sessiond hands it over, bounded, not NUL-ended. What it accepts
 * is within its buffers and the allowed members, and, written back as
 * JSON, parses to the same values; what it refuses says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redfish.h"

#define CHECK(x) \
	do { \
		if (!(x)) \
			__builtin_trap(); \
	} while (0)

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

static int
all_zero(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* s as a JSON string: quotes, backslashes and controls escaped. */
static size_t
put_string(char *out, const char *s)
{
	size_t n = 0;

	out[n++] = '"';
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			out[n++] = '\\';
			out[n++] = *s;
		} else if ((unsigned char)*s < 0x20)
			n += sprintf(out + n, "\\u%04x", (unsigned char)*s);
		else
			out[n++] = *s;
	}
	out[n++] = '"';
	return n;
}

static void
check_round_trip(const struct rf_body *b, unsigned int allowed)
{
	static char body[64 * 1024];
	const char *strings[RF_M_COUNT] = {
		[RF_M_USERNAME] = b->user,
		[RF_M_PASSWORD] = b->password,
		[RF_M_IMAGE] = b->image,
		[RF_M_TRANSFER_PROTOCOL] = b->transfer_protocol,
		[RF_M_TRANSFER_METHOD] = b->transfer_method,
		[RF_M_CERTIFICATE_STRING] = b->certificate,
		[RF_M_CERTIFICATE_TYPE] = b->certificate_type,
	};
	struct rf_body again;
	size_t n = 0;
	int m;

	body[n++] = '{';
	for (m = 0; m < RF_M_COUNT; m++) {
		if (!(b->seen & RF_BIT(m)))
			continue;
		if (n > 1)
			body[n++] = ',';
		n += sprintf(body + n, "\"%s\":", rf_member_name(m));
		if (m == RF_M_INSERTED)
			n += sprintf(body + n, b->inserted ? "true" : "false");
		else if (m == RF_M_WRITE_PROTECTED)
			n += sprintf(body + n,
			    b->write_protected ? "true" : "false");
		else if (m == RF_M_VERIFY_CERTIFICATE)
			n += sprintf(body + n,
			    b->verify_certificate ? "true" : "false");
		else if (m == RF_M_SESSION_TIMEOUT)
			n += sprintf(body + n, "%lld", b->session_timeout);
		else
			n += put_string(body + n, strings[m]);
	}
	body[n++] = '}';
	CHECK(rf_body_parse(body, n, allowed, &again) == 0);
	CHECK(again.seen == b->seen);
	CHECK(strcmp(again.user, b->user) == 0);
	CHECK(strcmp(again.password, b->password) == 0);
	CHECK(strcmp(again.image, b->image) == 0);
	CHECK(strcmp(again.transfer_protocol, b->transfer_protocol) == 0);
	CHECK(strcmp(again.transfer_method, b->transfer_method) == 0);
	CHECK(again.inserted == b->inserted);
	CHECK(again.write_protected == b->write_protected);
	CHECK(again.verify_certificate == b->verify_certificate);
	CHECK(again.session_timeout == b->session_timeout);
	CHECK(strcmp(again.certificate, b->certificate) == 0);
	CHECK(strcmp(again.certificate_type, b->certificate_type) == 0);
	rf_body_clear(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rf_body b;
	unsigned int allowed;
	char *body;

	if (size < 2)
		return 0;
	allowed =
	    (data[0] | (unsigned int)data[1] << 8) & (RF_BIT(RF_M_COUNT) - 1);
	size -= 2;
	/* A copy of exactly size bytes: ASan sees any read past the end. */
	if ((body = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(body, data + 2, size);
	memset(&b, 0xa5, sizeof(b));
	if (rf_body_parse(body, size, allowed, &b) == 0) {
		CHECK(b.error == RF_BODY_OK);
		CHECK((b.seen & ~allowed) == 0);
		CHECK(TERMINATED(b.user) && TERMINATED(b.password) &&
		    TERMINATED(b.image) && TERMINATED(b.transfer_protocol) &&
		    TERMINATED(b.transfer_method) &&
		    TERMINATED(b.certificate) &&
		    TERMINATED(b.certificate_type));
		CHECK(b.inserted == 0 || b.inserted == 1);
		CHECK(b.write_protected == 0 || b.write_protected == 1);
		CHECK(b.verify_certificate == 0 || b.verify_certificate == 1);
		CHECK(b.session_timeout >= 0 &&
		    b.session_timeout <= 1000000000000LL);
		CHECK(b.property[0] == '\0');
		/* Only an empty (blank) body has no braces. */
		CHECK(b.seen == 0 || memchr(body, '{', size) != NULL);
		check_round_trip(&b, allowed);
	} else {
		CHECK(b.error != RF_BODY_OK);
		CHECK(TERMINATED(b.property));
		if (b.error == RF_BODY_TYPE || b.error == RF_BODY_TOO_LONG)
			CHECK(b.property[0] != '\0');
	}
	rf_body_clear(&b);
	CHECK(all_zero(&b, sizeof(b)));
	free(body);
	return 0;
}
