/*
 * Finding an export's entry in a per-export table, and a slot for a new
 * one: a slot never used while there are any, then the first entry its
 * owner lets go.
 */
#include <string.h>

#include "export_table.h"

static char *
entry_at(const struct export_table *t, int i)
{
	return (char *)t->entries + (size_t)i * t->size;
}

void *
export_table_find(const struct export_table *t, const char *name)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(entry_at(t, i) + t->name_off, name) == 0)
			return entry_at(t, i);
	return NULL;
}

/*
 * A slot for a new export, as it is: zero if never used, else the old
 * export's entry, which the caller sets up anew. NULL when the table is
 * full and unused() lets nothing go.
 */
void *
export_table_slot(struct export_table *t, export_table_unused_fn unused,
    const void *arg)
{
	int i;

	if (t->n < t->max)
		return entry_at(t, t->n++);
	for (i = 0; i < t->n; i++)
		if (unused(entry_at(t, i), arg))
			return entry_at(t, i);
	return NULL;
}
