/*
 * The reconnect window's resume secret and the body that presents it
 * (POST /api/exports/NAME/resume, resume.c).
 */
#ifndef RESUME_H
#define RESUME_H

#include <stddef.h>

#define SESSION_SECRET_LEN 32 /* bytes; 64 hex digits in JSON */

int resume_body_parse(const char *, size_t, unsigned char *);

#endif
