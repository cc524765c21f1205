/*
 * Reading and writing the handler fuzzers' records (handler_input.h), and
 * the two configs the process under test is given.
 */
#include <string.h>

#include "handler_input.h"

/* Returns 0 once the input is used up; a record's payload may be cut. */
int
rec_next(const uint8_t **data, size_t *size, struct rec *r)
{
	size_t len;

	if (*size < REC_HDR_SIZE)
		return 0;
	r->sender = (*data)[0] % PROC_MAX;
	r->type = (*data)[1];
	r->flags = (*data)[2];
	len = (size_t)(*data)[3] | (size_t)(*data)[4] << 8;
	*data += REC_HDR_SIZE;
	*size -= REC_HDR_SIZE;
	if (len > *size)
		len = *size;
	r->payload = *data;
	r->len = len;
	*data += len;
	*size -= len;
	return 1;
}

/* Appends one record to buf; returns its size, 0 if it does not fit. */
size_t
rec_put(uint8_t *buf, size_t size, enum msg_proc sender, uint32_t type,
    uint8_t flags, const void *payload, size_t len)
{
	if (type > 0xff || len > 0xffff || size < REC_HDR_SIZE + len)
		return 0;
	buf[0] = sender;
	buf[1] = type;
	buf[2] = flags;
	buf[3] = len & 0xff;
	buf[4] = len >> 8;
	if (len > 0)
		memcpy(buf + REC_HDR_SIZE, payload, len);
	return REC_HDR_SIZE + len;
}

/*
 * The reload drops cd (its device goes to raw), moves usb to another
 * device and makes it read-only, gives raw a hook and a bigger limit,
 * and adds dvd on the last device there is.
 */
const char handler_conf_text[2][1024] = {
	"[vmediad]\nlisten = 127.0.0.1:8080\nauth = none\n[export \"cd\"]\n"
	"device = /dev/nbd0\nread-only = yes\nhook = /bin/sh\nmax-size = 1G\n"
	"[export \"usb\"]\ndevice = /dev/nbd1\n"
	"hook = /nonexistent/vmediad-fuzz-hook\ntimeout = 5\n[export \"raw\"]\n"
	"device = /dev/nbd2\nmax-size = 4096\ntimeout = 3600\n"
	"[export \"lab\"]\nsocket = /run/vmediad-fuzz/lab.sock\n",

	"[vmediad]\nlisten = 127.0.0.1:8080\nauth = none\n[export \"usb\"]\n"
	"device = /dev/nbd3\nread-only = yes\nhook = /bin/sh\ntimeout = 1\n"
	"[export \"raw\"]\ndevice = /dev/nbd0\nhook = /bin/sh\nmax-size = 1M\n"
	"[export \"dvd\"]\ndevice = /dev/nbd999\nhook = /bin/sh\n"
	"[export \"lab\"]\nsocket = /run/vmediad-fuzz/lab.sock\n"
	"[export \"cd\"]\nsocket = /run/vmediad-fuzz/cd.sock\n",
};
