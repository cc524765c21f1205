/*
 * Finding things in a loaded config: exports and users by name, the words
 * of a list such as "alice, @lab", and the index of a /dev/nbdN device.
 * Every process that holds a config looks things up through these.
 */
#include <stdlib.h>
#include <string.h>

#include "conf.h"

const struct conf_export *
conf_find_export(const struct conf *conf, const char *name)
{
	int i;

	for (i = 0; i < conf->nexports; i++)
		if (strcmp(conf->exports[i].name, name) == 0)
			return &conf->exports[i];
	return NULL;
}

const struct conf_user *
conf_find_user(const struct conf *conf, const char *name)
{
	int i;

	for (i = 0; i < conf->nusers; i++)
		if (strcmp(conf->users[i].name, name) == 0)
			return &conf->users[i];
	return NULL;
}

/*
 * The next word of a list whose words are separated by any of seps. A
 * word longer than the buffer comes back empty, so that no check can
 * mistake it for the shorter word it would be cut to. Returns 0 once the
 * list is used up.
 */
int
conf_list_next(const char **cursor, const char *seps, char *word, size_t size)
{
	const char *s = *cursor;
	size_t len;

	s += strspn(s, seps);
	if (*s == '\0')
		return 0;
	len = strcspn(s, seps);
	*cursor = s + len;
	if (len >= size)
		len = 0;
	memcpy(word, s, len);
	word[len] = '\0';
	return 1;
}

/* Is name in a list of names and @groups, as a group or as a name? */
int
conf_list_has(const char *list, const char *name, int as_group)
{
	char word[CONF_NAME_MAX + 1];

	while (conf_list_next(&list, CONF_LIST_SEPS, word, sizeof(word)))
		if ((word[0] == '@') == as_group &&
		    strcmp(word + as_group, name) == 0)
			return 1;
	return 0;
}

/* "/dev/nbd12" gives 12; anything else -1. At most three digits. */
int
conf_nbd_index(const char *device)
{
	const char *digits = device + strlen("/dev/nbd");
	size_t n;

	if (strncmp(device, "/dev/nbd", strlen("/dev/nbd")) != 0)
		return -1;
	n = strspn(digits, "0123456789");
	if (n == 0 || n > 3 || digits[n] != '\0')
		return -1;
	return atoi(digits);
}
