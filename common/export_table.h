/*
 * The per-export tables of sessiond, blockd and hookd: a fixed array of
 * entries found by the export's name. Reloads may rename exports without
 * end, so a full table lets an entry of an export gone from the config be
 * taken over, when its owner says nothing uses it any more.
 */
#ifndef EXPORT_TABLE_H
#define EXPORT_TABLE_H

#include <stddef.h>

struct export_table {
	void *entries;
	size_t size;	 /* of one entry */
	size_t name_off; /* where the export's name is in it */
	int n;		 /* entries in use */
	int max;
};

/* A table over ARRAY of TYPE whose NAME field holds the export's name. */
#define EXPORT_TABLE(array, type, name) \
	{ \
		array, sizeof(type), offsetof(type, name), 0, \
		    (int)(sizeof(array) / sizeof(array[0])) \
	}

typedef int (*export_table_unused_fn)(const void *entry, const void *arg);

void *export_table_find(const struct export_table *, const char *);
void *
export_table_slot(struct export_table *, export_table_unused_fn, const void *);

#endif
