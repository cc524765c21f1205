/*
 * blockd: the only process that touches the kernel's NBD devices, through
 * the generic netlink family, for the exports named in its own config.
 */
#ifndef BLOCKD_H
#define BLOCKD_H

#include <stdint.h>

#include "sandbox.h"

extern const struct sandbox_policy blockd_policy;

struct conf;
struct conf_export;

/* read_ahead.c */
void blk_ra_open(const struct conf *);
void blk_ra_set(const struct conf_export *, uint32_t);

#endif
