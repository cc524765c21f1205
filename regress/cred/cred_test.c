/*
 * Credential regress: which cookies, Authorization headers and login
 * bodies sessiond/cred*.c accept, what they yield, and what they refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "test.h"

#define TOK_A \
	"0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef"
#define TOK_B \
	"fedcba9876543210fedcba9876543210" \
	"fedcba9876543210fedcba9876543210"

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

/* --- Cookie ------------------------------------------------------------ */

/* 1 if header yields want (NULL: yields nothing). */
static int
cookie_is(const char *header, const char *want, char got[CRED_TOKEN_LEN + 1])
{
	int found;

	memset(got, 0, CRED_TOKEN_LEN + 1);
	found = cred_cookie_token(header, got);
	if (want == NULL)
		return !found;
	return found && strcmp(got, want) == 0;
}

static void
cookie(const char *name, const char *header, const char *want)
{
	char got[CRED_TOKEN_LEN + 1];

	test_result(name, cookie_is(header, want, got),
	    "header \"%s\": got \"%s\", want %s", header, got,
	    want ? want : "nothing");
}

static void
test_cookie(void)
{
	cookie("cookie_alone_yields_token", "vmediad_session=" TOK_A, TOK_A);
	cookie("cookie_among_others_with_spaces_yields_token",
	    "theme=dark;  vmediad_session=" TOK_A " ;lang=en", TOK_A);
	cookie("cookie_after_semicolons_and_spaces_yields_token",
	    " ; ;vmediad_session=" TOK_A, TOK_A);
	cookie("cookie_first_valid_wins",
	    "vmediad_session=nothex; vmediad_session=" TOK_B
	    "; vmediad_session=" TOK_A,
	    TOK_B);
	cookie("cookie_named_vmediad_session_x_not_confused",
	    "vmediad_session_x=" TOK_A "; vmediad_session=" TOK_B, TOK_B);
	cookie("cookie_named_vmediad_session_x_alone_yields_nothing",
	    "vmediad_session_x=" TOK_A, NULL);
	cookie("cookie_name_with_prefix_yields_nothing",
	    "xvmediad_session=" TOK_A, NULL);
	cookie("cookie_63_hex_rejected", "vmediad_session=" TOK_A + 1, NULL);
	cookie("cookie_65_hex_rejected", "vmediad_session=" TOK_A "0", NULL);
	cookie("cookie_uppercase_hex_rejected",
	    "vmediad_session=0123456789ABCDEF0123456789abcdef"
	    "0123456789abcdef0123456789abcdef",
	    NULL);
	cookie("cookie_non_hex_rejected",
	    "vmediad_session=0123456789abcdeg0123456789abcdef"
	    "0123456789abcdef0123456789abcdef",
	    NULL);
	cookie("cookie_quoted_value_rejected", "vmediad_session=\"" TOK_A "\"",
	    NULL);
	cookie("cookie_empty_value_rejected", "vmediad_session=", NULL);
	cookie("cookie_name_without_value_rejected", "vmediad_session", NULL);
	cookie("cookie_empty_header_yields_nothing", "", NULL);
	cookie("cookie_space_before_equals_rejected", "vmediad_session =" TOK_A,
	    NULL);
}

/* --- Authorization ----------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* "scheme base64(raw)" into out, raw being len bytes. */
static void
basic_header(char *out, size_t size, const char *scheme, const char *raw,
    size_t len)
{
	const unsigned char *in = (const unsigned char *)raw;
	size_t i, n;
	unsigned v;

	n = snprintf(out, size, "%s ", scheme);
	for (i = 0; i < len && n + 5 < size; i += 3) {
		v = in[i] << 16;
		if (i + 1 < len)
			v |= in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[n++] = b64_alphabet[v >> 18 & 63];
		out[n++] = b64_alphabet[v >> 12 & 63];
		out[n++] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		out[n++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[n] = '\0';
}

static void
auth_basic_ok(const char *name, const char *scheme, const char *raw, size_t len,
    const char *user, const char *password)
{
	char header[1024];
	struct cred c;

	basic_header(header, sizeof(header), scheme, raw, len);
	cred_authorization(header, &c);
	test_result(name,
	    c.kind == CRED_BASIC && strcmp(c.user, user) == 0 &&
		strcmp(c.password, password) == 0 && c.token[0] == '\0',
	    "\"%s\": kind %d user \"%s\" password \"%s\"", header, c.kind,
	    c.user, c.password);
	cred_clear(&c);
}

/* A header refused as CRED_BAD that keeps nothing of what it held. */
static void
auth_bad(const char *name, const char *header)
{
	struct cred c;

	memset(&c, 0xa5, sizeof(c));
	cred_authorization(header, &c);
	test_result(name,
	    c.kind == CRED_BAD && all_zero(c.user, sizeof(c.user)) &&
		all_zero(c.password, sizeof(c.password)) &&
		all_zero(c.token, sizeof(c.token)),
	    "\"%s\": kind %d user \"%s\" password \"%s\" token \"%s\"", header,
	    c.kind, c.user, c.password, c.token);
}

static void
auth_basic_bad(const char *name, const char *raw, size_t len)
{
	char header[1024];

	basic_header(header, sizeof(header), "Basic", raw, len);
	auth_bad(name, header);
}

static void
test_authorization_basic(void)
{
	char raw[600], header[1024];
	struct cred c;

	auth_basic_ok("authorization_basic_valid_fills_user_and_password",
	    "Basic", "alice:s3cret", 12, "alice", "s3cret");
	/* The same, spelled by hand: the encoder above is not the oracle. */
	cred_authorization("Basic YWxpY2U6czNjcmV0", &c);
	test_result("authorization_basic_literal_header_decodes",
	    c.kind == CRED_BASIC && strcmp(c.user, "alice") == 0 &&
		strcmp(c.password, "s3cret") == 0,
	    "kind %d user \"%s\"", c.kind, c.user);
	cred_clear(&c);
	auth_basic_ok("authorization_basic_lowercase_scheme_accepted", "basic",
	    "bob:pw", 6, "bob", "pw");
	auth_basic_ok("authorization_basic_uppercase_scheme_accepted", "BASIC",
	    "bob:pw", 6, "bob", "pw");
	auth_basic_ok("authorization_basic_password_keeps_its_colons", "Basic",
	    "carol:a:b::c:", 13, "carol", "a:b::c:");
	auth_basic_ok("authorization_basic_empty_password_accepted", "Basic",
	    "dave:", 5, "dave", "");
	auth_basic_ok("authorization_basic_password_keeps_spaces_and_utf8",
	    "Basic", "eve: p\xc3\xa9 w ", 11, "eve", " p\xc3\xa9 w ");
	auth_basic_ok("authorization_basic_name_with_dot_dash_underscore",
	    "Basic", "a.b-c_D9:x", 10, "a.b-c_D9", "x");

	auth_bad("authorization_basic_bad_base64_char_is_bad",
	    "Basic YWxpY2U6c*NjcmV0");
	auth_bad("authorization_basic_base64_wrong_length_is_bad",
	    "Basic YWxpY2U6czNjcmV");
	auth_bad("authorization_basic_base64_misplaced_padding_is_bad",
	    "Basic YW=pY2U6czNjcmV0");
	auth_bad("authorization_basic_base64_padding_then_data_is_bad",
	    "Basic YWxpY2U6====czNjcmV0");
	auth_bad("authorization_basic_base64_with_spaces_is_bad",
	    "Basic YWxp Y2U6czNjcmV0");
	auth_bad("authorization_basic_empty_credentials_is_bad", "Basic ");
	auth_bad("authorization_basic_scheme_without_space_is_bad",
	    "BasicYWxpY2U6czNjcmV0");
	auth_basic_bad("authorization_basic_no_colon_is_bad", "alice", 5);
	auth_basic_bad("authorization_basic_empty_user_is_bad", ":secret", 7);
	auth_basic_bad("authorization_basic_user_with_space_is_bad",
	    "al ice:pw", 9);
	auth_basic_bad("authorization_basic_user_with_utf8_is_bad",
	    "r\xc3\xa9my:pw", 8);
	auth_basic_bad("authorization_basic_user_starting_with_dash_is_bad",
	    "-alice:pw", 9);
	auth_basic_bad("authorization_basic_user_with_slash_is_bad",
	    "../etc:pw", 9);
	auth_basic_bad("authorization_basic_tab_in_user_is_bad", "al\tice:pw",
	    9);
	auth_basic_bad("authorization_basic_newline_in_password_is_bad",
	    "alice:p\nw", 9);
	auth_basic_bad("authorization_basic_nul_in_password_is_bad",
	    "alice:p\0w", 9);
	auth_basic_bad("authorization_basic_del_in_password_is_bad",
	    "alice:p\x7fw", 9);

	/* 31 + ":" + 255 is the longest that fits. */
	memset(raw, 'u', 31);
	raw[31] = ':';
	memset(raw + 32, 'p', 255);
	raw[287] = '\0';
	basic_header(header, sizeof(header), "Basic", raw, 287);
	cred_authorization(header, &c);
	test_result("authorization_basic_longest_user_and_password_accepted",
	    c.kind == CRED_BASIC && strlen(c.user) == 31 &&
		strlen(c.password) == 255,
	    "kind %d", c.kind);
	cred_clear(&c);
	memset(raw, 'u', 32);
	raw[32] = ':';
	raw[33] = 'p';
	auth_basic_bad("authorization_basic_user_of_32_is_bad", raw, 34);
	raw[0] = 'u';
	raw[1] = ':';
	memset(raw + 2, 'p', 256);
	auth_basic_bad("authorization_basic_password_of_256_is_bad", raw, 258);
	memset(raw, 'x', sizeof(raw));
	raw[5] = ':';
	auth_basic_bad("authorization_basic_overlong_decoded_is_bad", raw,
	    sizeof(raw));
}

static void
test_authorization_other(void)
{
	struct cred c;

	memset(&c, 0xa5, sizeof(c));
	cred_authorization("", &c);
	test_result("authorization_absent_is_none_and_empty",
	    c.kind == CRED_NONE && all_zero(c.user, sizeof(c.user)) &&
		all_zero(c.password, sizeof(c.password)) &&
		all_zero(c.token, sizeof(c.token)),
	    "kind %d", c.kind);

	cred_authorization("Bearer " TOK_A, &c);
	test_result("authorization_bearer_valid_fills_token",
	    c.kind == CRED_BEARER && strcmp(c.token, TOK_A) == 0 &&
		c.user[0] == '\0' && c.password[0] == '\0',
	    "kind %d token \"%s\"", c.kind, c.token);
	cred_authorization("bearer " TOK_B, &c);
	test_result("authorization_bearer_lowercase_scheme_accepted",
	    c.kind == CRED_BEARER && strcmp(c.token, TOK_B) == 0, "kind %d",
	    c.kind);
	auth_bad("authorization_bearer_63_hex_is_bad", "Bearer " TOK_A + 1);
	auth_bad("authorization_bearer_65_hex_is_bad", "Bearer " TOK_A "0");
	auth_bad("authorization_bearer_uppercase_hex_is_bad",
	    "Bearer 0123456789ABCDEF0123456789abcdef"
	    "0123456789abcdef0123456789abcdef");
	auth_bad("authorization_bearer_trailing_space_is_bad",
	    "Bearer " TOK_A " ");
	auth_bad("authorization_bearer_two_spaces_is_bad", "Bearer  " TOK_A);
	auth_bad("authorization_bearer_empty_is_bad", "Bearer ");
	auth_bad("authorization_unknown_scheme_digest_is_bad",
	    "Digest username=\"alice\"");
	auth_bad("authorization_unknown_scheme_negotiate_is_bad",
	    "Negotiate YWxpY2U6czNjcmV0");
	auth_bad("authorization_scheme_alone_is_bad", "Basic");
	auth_bad("authorization_token_without_scheme_is_bad", TOK_A);
}

/* --- Login body -------------------------------------------------------- */

/* Parses exactly strlen(text) bytes from a heap copy without a NUL. */
static int
login_len(const char *text, size_t len, struct cred *c)
{
	char *body = malloc(len ? len : 1);
	int rv;

	if (body == NULL)
		abort();
	memcpy(body, text, len);
	memset(c, 0xa5, sizeof(*c));
	rv = cred_login_body(body, len, c);
	free(body);
	return rv;
}

static void
login_ok(const char *name, const char *text, const char *user,
    const char *password)
{
	struct cred c;
	int rv;

	rv = login_len(text, strlen(text), &c);
	test_result(name,
	    rv == 0 && c.kind == CRED_BASIC && strcmp(c.user, user) == 0 &&
		strcmp(c.password, password) == 0 && c.token[0] == '\0',
	    "%s: rv %d user \"%s\" password \"%s\"", text, rv, c.user,
	    c.password);
	cred_clear(&c);
}

/* Refused, and nothing of it kept. */
static void
login_bad_len(const char *name, const char *text, size_t len)
{
	struct cred c;
	int rv;

	rv = login_len(text, len, &c);
	test_result(name, rv == -1 && all_zero(&c, sizeof(c)),
	    "%.*s: rv %d user \"%s\"", (int)len, text, rv, c.user);
}

static void
login_bad(const char *name, const char *text)
{
	login_bad_len(name, text, strlen(text));
}

static void
test_login_accepts(void)
{
	login_ok("login_valid_fills_user_and_password",
	    "{\"username\":\"alice\",\"password\":\"s3cret\"}", "alice",
	    "s3cret");
	login_ok("login_members_in_either_order",
	    "{\"password\":\"pw\",\"username\":\"bob\"}", "bob", "pw");
	login_ok("login_extra_string_member_ignored",
	    "{\"username\":\"a\",\"note\":\"{not [nested]}\",\"password\":"
	    "\"b\"}",
	    "a", "b");
	login_ok("login_extra_number_true_false_null_members_ignored",
	    "{\"n\":0,\"m\":-12.5e+3,\"k\":3E-2,\"t\":true,\"f\":false,"
	    "\"z\":null,\"username\":\"a\",\"password\":\"b\"}",
	    "a", "b");
	login_ok("login_whitespace_everywhere_accepted",
	    " \t\r\n{ \n\"username\" \t: \r\"a\" \n, \"remember\"\n:\ntrue\n,"
	    "\t\"password\"  :  \"b\"  \r\n}\n\t ",
	    "a", "b");
	login_ok("login_escapes_decoded",
	    "{\"username\":\"a\",\"password\":\"q\\\"b\\\\s\\/n\\nt\\tr\\r"
	    "b\\bf\\f\"}",
	    "a", "q\"b\\s/n\nt\tr\rb\bf\f");
	login_ok("login_unicode_escape_decoded_to_utf8",
	    "{\"username\":\"a\",\"password\":"
	    "\"\\u00e9\\u00E9\\u20ac\\u0041\"}",
	    "a", "\xc3\xa9\xc3\xa9\xe2\x82\xac\x41");
	login_ok("login_surrogate_pair_decoded_to_utf8",
	    "{\"username\":\"a\",\"password\":\"\\ud83d\\ude00!\"}", "a",
	    "\xf0\x9f\x98\x80!");
	login_ok("login_raw_utf8_password_kept",
	    "{\"username\":\"a\",\"password\":\"p\xc3\xa9\"}", "a",
	    "p\xc3\xa9");
	login_ok("login_escaped_key_matches",
	    "{\"user\\u006eame\":\"a\",\"password\":\"b\"}", "a", "b");
	login_ok("login_empty_password_accepted",
	    "{\"username\":\"a\",\"password\":\"\"}", "a", "");
}

static void
test_login_refuses(void)
{
	login_bad("login_empty_body_rejected", "");
	login_bad("login_whitespace_only_rejected", " \n\t");
	login_bad("login_empty_object_rejected", "{}");
	login_bad("login_array_rejected", "[\"a\",\"b\"]");
	login_bad("login_string_rejected", "\"username\"");
	login_bad("login_missing_password_rejected", "{\"username\":\"a\"}");
	login_bad("login_missing_username_rejected", "{\"password\":\"b\"}");
	login_bad("login_duplicate_username_rejected",
	    "{\"username\":\"a\",\"password\":\"b\",\"username\":\"c\"}");
	login_bad("login_duplicate_password_rejected",
	    "{\"username\":\"a\",\"password\":\"b\",\"password\":\"c\"}");
	login_bad("login_nested_object_rejected",
	    "{\"username\":\"a\",\"x\":{\"y\":1},\"password\":\"b\"}");
	login_bad("login_nested_array_rejected",
	    "{\"username\":\"a\",\"x\":[1],\"password\":\"b\"}");
	login_bad("login_password_as_object_rejected",
	    "{\"username\":\"a\",\"password\":{\"p\":\"b\"}}");
	login_bad("login_password_as_number_rejected",
	    "{\"username\":\"a\",\"password\":1234}");
	login_bad("login_member_without_value_rejected",
	    "{\"x\":,\"username\":\"a\",\"password\":\"b\"}");
	login_bad("login_member_with_bare_word_rejected",
	    "{\"x\":yes,\"username\":\"a\",\"password\":\"b\"}");
	login_bad("login_member_with_misspelt_true_rejected",
	    "{\"x\":tru,\"username\":\"a\",\"password\":\"b\"}");
	login_bad("login_number_with_leading_zero_rejected",
	    "{\"x\":012,\"username\":\"a\",\"password\":\"b\"}");
	login_bad("login_number_with_bare_dot_rejected",
	    "{\"x\":1.,\"username\":\"a\",\"password\":\"b\"}");
	login_bad("login_number_with_bare_exponent_rejected",
	    "{\"x\":1e,\"username\":\"a\",\"password\":\"b\"}");
	login_bad("login_member_without_colon_rejected",
	    "{\"username\" \"a\",\"password\":\"b\"}");
	login_bad("login_unquoted_key_rejected",
	    "{username:\"a\",\"password\":\"b\"}");
	login_bad("login_lone_high_surrogate_rejected",
	    "{\"username\":\"a\",\"password\":\"\\ud800\"}");
	login_bad("login_high_surrogate_then_letter_rejected",
	    "{\"username\":\"a\",\"password\":\"\\ud800\\u0041\"}");
	login_bad("login_lone_low_surrogate_rejected",
	    "{\"username\":\"a\",\"password\":\"\\udc00x\"}");
	login_bad("login_nul_escape_rejected",
	    "{\"username\":\"a\",\"password\":\"a\\u0000b\"}");
	login_bad("login_short_unicode_escape_rejected",
	    "{\"username\":\"a\",\"password\":\"\\u00e\"}");
	login_bad("login_unknown_escape_rejected",
	    "{\"username\":\"a\",\"password\":\"\\x41\"}");
	login_bad_len("login_raw_nul_byte_rejected",
	    "{\"username\":\"a\",\"password\":\"a\0b\"}", 33);
	login_bad("login_raw_newline_in_string_rejected",
	    "{\"username\":\"a\",\"password\":\"a\nb\"}");
	login_bad("login_trailing_garbage_rejected",
	    "{\"username\":\"a\",\"password\":\"b\"} x");
	login_bad("login_second_object_rejected",
	    "{\"username\":\"a\",\"password\":\"b\"}{}");
	login_bad("login_trailing_comma_rejected",
	    "{\"username\":\"a\",\"password\":\"b\",}");
	login_bad("login_leading_comma_rejected",
	    "{,\"username\":\"a\",\"password\":\"b\"}");
	login_bad("login_double_comma_rejected",
	    "{\"username\":\"a\",,\"password\":\"b\"}");
	login_bad("login_unterminated_object_rejected",
	    "{\"username\":\"a\",\"password\":\"b\"");
	login_bad("login_unterminated_string_rejected",
	    "{\"username\":\"a\",\"password\":\"b}");
	login_bad("login_invalid_username_rejected",
	    "{\"username\":\"al ice\",\"password\":\"b\"}");
	login_bad("login_empty_username_rejected",
	    "{\"username\":\"\",\"password\":\"b\"}");
	login_bad("login_username_of_32_rejected",
	    "{\"username\":\"uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu\","
	    "\"password\":\"b\"}");
	login_bad("login_overlong_key_rejected",
	    "{\"a_member_name_longer_than_31_bytes\":1,\"username\":\"a\","
	    "\"password\":\"b\"}");
}

/* The longest password, its one byte too many, counted after decoding. */
static void
test_login_password_bounds(void)
{
	char body[700], want[300];
	struct cred c;
	int rv;

	memset(want, 'p', 255);
	want[255] = '\0';
	snprintf(body, sizeof(body), "{\"username\":\"a\",\"password\":\"%s\"}",
	    want);
	rv = login_len(body, strlen(body), &c);
	test_result("login_password_of_255_bytes_accepted",
	    rv == 0 && strcmp(c.password, want) == 0, "rv %d", rv);
	cred_clear(&c);
	snprintf(body, sizeof(body),
	    "{\"username\":\"a\",\"password\":\"%sp\"}", want);
	login_bad("login_password_of_256_bytes_rejected", body);
	want[254] = '\0';
	snprintf(body, sizeof(body),
	    "{\"username\":\"a\",\"password\":\"%s\\u00e9\"}", want);
	login_bad("login_password_over_255_after_decoding_rejected", body);
	want[253] = '\0';
	snprintf(body, sizeof(body),
	    "{\"username\":\"a\",\"password\":\"%s\\u00e9\"}", want);
	rv = login_len(body, strlen(body), &c);
	test_result("login_password_of_255_after_decoding_accepted",
	    rv == 0 && strlen(c.password) == 255, "rv %d", rv);
	cred_clear(&c);
}

/* --- cred_clear -------------------------------------------------------- */

static void
test_clear(void)
{
	struct cred c;

	cred_authorization("Basic YWxpY2U6czNjcmV0", &c);
	cred_clear(&c);
	test_result("clear_wipes_user_and_password_and_resets_kind",
	    c.kind == CRED_NONE && all_zero(c.user, sizeof(c.user)) &&
		all_zero(c.password, sizeof(c.password)) &&
		all_zero(c.token, sizeof(c.token)),
	    "kind %d", c.kind);
	cred_authorization("Bearer " TOK_A, &c);
	cred_clear(&c);
	test_result("clear_wipes_token",
	    c.kind == CRED_NONE && all_zero(c.token, sizeof(c.token)),
	    "kind %d", c.kind);
	memset(&c, 0xa5, sizeof(c));
	c.kind = CRED_BAD;
	cred_clear(&c);
	test_result("clear_keeps_bad_and_wipes_the_rest",
	    c.kind == CRED_BAD && all_zero(c.user, sizeof(c.user)) &&
		all_zero(c.password, sizeof(c.password)) &&
		all_zero(c.token, sizeof(c.token)),
	    "kind %d", c.kind);
}

int
main(void)
{
	test_cookie();
	test_authorization_basic();
	test_authorization_other();
	test_login_accepts();
	test_login_refuses();
	test_login_password_bounds();
	test_clear();
	return test_done();
}
