/*
 * blockd: the only process that touches the kernel's NBD devices, through
 * the generic netlink family, for the exports named in its own config.
 */
#ifndef BLOCKD_H
#define BLOCKD_H

#include "sandbox.h"

extern const struct sandbox_policy blockd_policy;

#endif
