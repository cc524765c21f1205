/*
 * What the msg suite's files share: the contract as the tests state it,
 * messages each receiver accepts, socketpairs and descriptor counts.
 */
#ifndef MSG_TESTS_H
#define MSG_TESTS_H

#include <stdio.h>

#include "msg.h"

#define P(proc) PROC_BIT(PROC_##proc)
#define CHILDREN (P(SESSIOND) | P(BLOCKD) | P(HOOKD))

/*
 * Every type as a reader of msg.h expects it: payload size, fd, senders
 * and receivers. Written out here, not read from msg.c, so that a change
 * to the table shows up as a failed test.
 */
struct contract {
	enum msg_type type;
	const char *name;
	size_t size;
	int fd;
	unsigned int from;
	unsigned int to;
	const char *test; /* its round trip */
};

extern const struct contract contract[];
extern const size_t ncontract;

void seqpacket_pair(int[2]);
void close_pair(int[2]);
int open_fd_count(void);
int lowest_free_fd(void);
size_t craft(unsigned char *, uint32_t, uint32_t, size_t);
void valid_payload(enum msg_type, struct msg *);
void ends_of(uint32_t, enum msg_proc *, enum msg_proc *);
size_t encode(unsigned char *, enum msg_type, const struct msg *);

void test_contract(void);
void test_architecture(const char *);
void print_table(FILE *);
void test_chan_all(void);

#endif
