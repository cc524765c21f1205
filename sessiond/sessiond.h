/*
 * sessiond: the network-facing process. HTTP, WebSocket, login and access
 * control, the NBD handshake and the validating relay.
 */
#ifndef SESSIOND_H
#define SESSIOND_H

#include "sandbox.h"

extern const struct sandbox_policy sessiond_policy;

#endif
