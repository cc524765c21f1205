/*
 * libFuzzer target for the config parser: any bytes through
 * conf_parse_buffer, which must report errors, never crash or overrun;
 * and the same bytes as an nbd-psk-file (conf_psk_parse_buffer) for a
 * config of two users, whose keys then must be valid or none.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"

static void
ignore_error(void *arg, const char *line)
{
	(void)arg;
	(void)line;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf conf, users;
	int errors, i;

	/* The same bytes as psktool's IDENTITY:HEX-KEY lines. */
	memset(&users, 0, sizeof(users));
	snprintf(users.users[0].name, CONF_NAME_MAX, "alice");
	snprintf(users.users[1].name, CONF_NAME_MAX, "bob");
	users.nusers = 2;
	errors = conf_psk_parse_buffer(&users, "fuzz.psk", (const char *)data,
	    size, ignore_error, NULL);
	if (errors < 0)
		__builtin_trap();
	for (i = 0; i < users.nusers; i++)
		if (!conf_user_valid(&users.users[i]) ||
		    (errors != 0 && users.users[i].psk_len != 0))
			__builtin_trap();

	errors = conf_parse_buffer(&conf, "fuzz.conf", (const char *)data, size,
	    ignore_error, NULL);
	if (errors < 0)
		__builtin_trap();
	if (errors != 0)
		return 0;
	/* What passes the parser must pass a child's re-validation. */
	if (!conf_global_valid(&conf.global))
		__builtin_trap();
	for (i = 0; i < conf.nexports; i++)
		if (!conf_export_valid(&conf.exports[i]))
			__builtin_trap();
	for (i = 0; i < conf.nusers; i++)
		if (!conf_user_valid(&conf.users[i]))
			__builtin_trap();
	return 0;
}
