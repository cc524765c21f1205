/*
 * JSON string escaping for answers that may quote client input (an export
 * name, a path): the output is always valid JSON and valid UTF-8.
 */
#include <stddef.h>
#include <string.h>

#include <event2/buffer.h>

#include "json.h"

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0 if there is none.
 */
size_t
json_utf8_char(const unsigned char *s, size_t len)
{
	size_t need, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (len == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		if (s[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		if (s[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if (len < need)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

int
json_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n;

	while (i < len) {
		/* Runs of ASCII are the common case; skip them cheaply. */
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = json_utf8_char(s + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

/*
 * Appends the escaped contents of a string (no quotes). Plain runs go out
 * in one evbuffer_add; controls become \n or \u00XX; bytes that are not
 * UTF-8 become U+FFFD so a hostile name cannot break the document.
 */
int
json_escape(struct evbuffer *out, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0, i = 0, n;
	char esc[7];
	const char *rep;
	size_t replen;

	while (i < len) {
		unsigned char c = s[i];

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			if (c < 0x80)
				n = 1;
			else if ((n = json_utf8_char(s + i, len - i)) == 0)
				goto special;
			i += n;
			continue;
		}
special:
		if (i > run && evbuffer_add(out, s + run, i - run) == -1)
			return -1;
		rep = esc;
		replen = 2;
		esc[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			esc[1] = c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			if (c >= 0x80) {
				rep = "\\ufffd";
				replen = 6;
				break;
			}
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			replen = 6;
			break;
		}
		if (evbuffer_add(out, rep, replen) == -1)
			return -1;
		i++;
		run = i;
	}
	if (i > run && evbuffer_add(out, s + run, i - run) == -1)
		return -1;
	return 0;
}

/* Appends a quoted JSON string. */
int
json_string(struct evbuffer *out, const char *s)
{
	if (evbuffer_add(out, "\"", 1) == -1 ||
	    json_escape(out, s, strlen(s)) == -1 ||
	    evbuffer_add(out, "\"", 1) == -1)
		return -1;
	return 0;
}
