/*
 * The per-export tables of sessiond, blockd and hookd: a fixed array of
 * entries, one per export ever configured, found by the export's name.
 */
#ifndef EXPORT_TABLE_H
#define EXPORT_TABLE_H

#include <stddef.h>

struct export_table {
	const char	*what;		/* for the log: "export", "device" */
	void		*entries;
	size_t		 size;		/* of one entry */
	size_t		 name_off;	/* where the export's name is in it */
	int		 n;		/* entries in use */
	int		 max;
};

/* A table over ARRAY of TYPE whose NAME field holds the export's name. */
#define EXPORT_TABLE(what, array, type, name)				\
	{ what, array, sizeof(type), offsetof(type, name), 0,		\
	    (int)(sizeof(array) / sizeof(array[0])) }

void	*export_table_find(const struct export_table *, const char *);
void	*export_table_get(struct export_table *, const char *);

#endif
