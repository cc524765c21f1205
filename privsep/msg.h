/*
 * Every message vmediad's processes exchange: one table of types, each
 * with its payload struct, direction and whether it carries an fd.
 */
#ifndef MSG_H
#define MSG_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define MSG_CHANNEL_FD		3	/* a child's channel to the parent */
#define MSG_PAYLOAD_MAX		4096

enum msg_type {
	MSG_NONE = 0,
	MSG_CONF_GLOBAL,	/* parent → children: struct conf_global */
	MSG_CONF_EXPORT,	/* parent → children: struct conf_export */
	MSG_CONF_USER,		/* parent → sessiond: struct conf_user */
	MSG_CONF_END,		/* parent → children: struct msg_conf_end */
	MSG_PING,		/* parent → child: struct msg_ping */
	MSG_PONG,		/* child → parent: struct msg_ping, echoed */
	MSG_SHUTDOWN,		/* parent → child: no payload */
	MSG_TEST_SYSCALL,	/* test builds: parent → child, no payload */
	MSG_TYPE_COUNT
};

enum msg_fd {
	MSG_FD_NEVER,
	MSG_FD_ALWAYS,
};

struct msg_info {
	const char	*name;
	size_t		 size;		/* exact payload size */
	enum msg_fd	 fd;
};

/* Ends a config push; the counts let the receiver see nothing was lost. */
struct msg_conf_end {
	uint32_t	 generation;
	int32_t		 nexports;
	int32_t		 nusers;
};

struct msg_ping {
	uint64_t	 seq;
};

struct msg_hdr {
	uint32_t	 type;
	uint32_t	 len;
};

struct msg {
	uint32_t	 type;
	uint32_t	 len;
	int		 fd;		/* -1 if none */
	union {
		unsigned char		 bytes[MSG_PAYLOAD_MAX];
		struct conf_global	 global;
		struct conf_export	 export;
		struct conf_user	 user;
		struct msg_conf_end	 conf_end;
		struct msg_ping		 ping;
		uint64_t		 align;
	} u;
};

struct event_base;
struct chan;

typedef void (*chan_dispatch_fn)(struct chan *, struct msg *, void *);
typedef void (*chan_closed_fn)(struct chan *, void *);

struct chan {
	int			 fd;
	const char		*peer;		/* for log lines */
	struct event		*ev;
	chan_dispatch_fn	 dispatch;
	chan_closed_fn		 closed;
	void			*arg;
};

const char	*msg_type_name(uint32_t);
const char	*msg_decode(const void *, size_t, int, struct msg *);
int		 msg_recv(int, struct msg *, const char **);
int		 msg_send(int, enum msg_type, const void *, size_t, int);
void		 chan_init(struct chan *, struct event_base *, int,
		    const char *, chan_dispatch_fn, chan_closed_fn, void *);
void		 chan_close(struct chan *);
void		 chan_send(struct chan *, enum msg_type, const void *, size_t,
		    int);

#endif
