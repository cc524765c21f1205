/*
 * The relay in a model world (relay_model.c): returns 0, or -1 with why.
 */
#ifndef RELAY_MODEL_H
#define RELAY_MODEL_H

#include <stddef.h>
#include <stdint.h>

int relay_model_run(const uint8_t *, size_t, char *, size_t);

#endif
