/*
 * Finding and adding entries of a per-export table. Entries are never
 * removed: an export that leaves the config keeps its slot, so the table
 * holds at most one entry per name the config ever had.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "export_table.h"
#include "log.h"

static char *
entry_name(const struct export_table *t, int i)
{
	return (char *)t->entries + (size_t)i * t->size + t->name_off;
}

void *
export_table_find(const struct export_table *t, const char *name)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(entry_name(t, i), name) == 0)
			return (char *)t->entries + (size_t)i * t->size;
	return NULL;
}

/* The entry for name; a new one, zeroed but for the name, if none. */
void *
export_table_get(struct export_table *t, const char *name)
{
	char *entry;

	if ((entry = export_table_find(t, name)) != NULL)
		return entry;
	if (t->n == t->max)
		fatalx("%s table full (%d)", t->what, t->max);
	entry = (char *)t->entries + (size_t)t->n++ * t->size;
	memset(entry, 0, t->size);
	snprintf(entry + t->name_off, CONF_NAME_MAX, "%s", name);
	return entry;
}
