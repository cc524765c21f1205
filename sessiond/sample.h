/*
 * The reconnect window's check of a resuming peer's image: a few blocks
 * read from the first peer at attach, hashed (SHA-256), read again from
 * the one that resumes. The reads go out before the relay starts, under
 * handles of their own.
 */
#ifndef SAMPLE_H
#define SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#define SAMPLE_COUNT 4
#define SAMPLE_LEN 4096
#define SAMPLE_HANDLE UINT64_C(0x53414d504c450000) /* "SAMPLE", then i */

struct evbuffer;

struct sample_set {
	uint64_t offset[SAMPLE_COUNT];
	uint32_t length[SAMPLE_COUNT];
	unsigned char hash[SAMPLE_COUNT][32];
	unsigned int have; /* bit i: hash[i] is known */
};

/* The replies coming in. */
struct sampler {
	struct sample_set set;
	unsigned int pending; /* bit i: reply i still to come */
	int reading;	      /* whose payload: -1 none */
	uint32_t left;
	unsigned char buf[SAMPLE_LEN];
	char reason[96];
};

enum sample_result {
	SAMPLE_MORE,
	SAMPLE_DONE,
	SAMPLE_ERROR, /* reason says why */
};

int sample_init(void);
void sample_plan(struct sample_set *, uint64_t);
void
sample_start(struct sampler *, const struct sample_set *, struct evbuffer *);
enum sample_result sample_input(struct sampler *, struct evbuffer *);
int sample_differs(const struct sample_set *, unsigned int,
    const struct sample_set *);

#endif
