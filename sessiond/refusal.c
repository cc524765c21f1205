/*
 * Every refusal is answered and recorded in the audit trail, but one
 * address (an IPv6 /64) gets at most REFUSAL_RECORDS records a window:
 * past that its refusals are counted, and one record says how many were
 * not recorded, so that no client can flood the audit file.
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "libevent_tv.h"
#include "log.h"
#include "ratelimit.h"
#include "route.h"
#include "sessiond.h"

#define REFUSAL_RECORDS 30 /* per address and window */
#define REFUSAL_ADDRS 256  /* addresses counted at once */
#ifdef VMEDIAD_TEST
#define REFUSAL_WINDOW 3 /* seconds: a test sees the summary soon */
#else
#define REFUSAL_WINDOW 60
#endif

struct refusal_count {
	char addr[RATELIMIT_ADDR_MAX]; /* empty: free */
	time_t since;		       /* the window began */
	int recorded;
	int unrecorded;
};

static struct refusal_count counts[REFUSAL_ADDRS];
static struct event *summary_timer;

/* The window is over: say what went unrecorded, and start afresh. */
static void
count_close(struct refusal_count *rc, time_t now)
{
	struct msg_audit a;
	char why[128];

	if (rc->unrecorded > 0) {
		snprintf(why, sizeof(why), "%d refusals from %s not recorded",
		    rc->unrecorded, rc->addr);
		msg_audit_init(&a, AUDIT_EV_NOT_RECORDED, "", rc->addr, "",
		    why);
		sd_audit(&a);
	}
	rc->since = now;
	rc->recorded = 0;
	rc->unrecorded = 0;
}

/* The address's count, its window current; a new one if need be. */
static struct refusal_count *
count_get(const char *addr, time_t now)
{
	struct refusal_count *rc, *oldest = NULL;
	int i;

	for (i = 0; i < REFUSAL_ADDRS; i++) {
		rc = &counts[i];
		if (rc->addr[0] != '\0' && strcmp(rc->addr, addr) == 0) {
			if (now - rc->since >= REFUSAL_WINDOW)
				count_close(rc, now);
			return rc;
		}
		if (oldest == NULL || rc->addr[0] == '\0' ||
		    (oldest->addr[0] != '\0' && rc->since < oldest->since))
			oldest = rc;
	}
	if (oldest->addr[0] != '\0')
		count_close(oldest, now); /* its summary comes early */
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
	oldest->since = now;
	return oldest;
}

/* Closes every window that is over and has something to say. */
static void
summary_due(evutil_socket_t fd, short events, void *arg)
{
	struct libevent_tv tv = { 1, 0 };
	time_t now = time(NULL);
	int i, pending = 0;

	(void)fd;
	(void)events;
	(void)arg;
	for (i = 0; i < REFUSAL_ADDRS; i++) {
		if (counts[i].unrecorded == 0)
			continue;
		if (now - counts[i].since >= REFUSAL_WINDOW)
			count_close(&counts[i], now);
		else
			pending = 1;
	}
	if (pending)
		evtimer_add(summary_timer, LIBEVENT_TV(&tv));
}

static void
summary_arm(const struct refusal_count *rc, time_t now)
{
	struct libevent_tv tv = { rc->since + REFUSAL_WINDOW - now, 0 };

	if (summary_timer == NULL &&
	    (summary_timer = evtimer_new(sd_child->base, summary_due, NULL)) ==
		NULL)
		fatalx("evtimer_new");
	if (tv.tv_sec < 1)
		tv.tv_sec = 1;
	if (!evtimer_pending(summary_timer, NULL))
		evtimer_add(summary_timer, LIBEVENT_TV(&tv));
}

/* The audit record of a refusal, if its address is within its bound. */
void
refusal_audit(const struct conn *c, int status, int event, const char *user,
    const char *export, const char *why)
{
	refusal_audit_from(c->host, c->addr, status, event, user, export, why);
}

/*
 * The same for any client: host is its address without the port (what
 * is counted), addr with it (what is recorded).
 */
void
refusal_audit_from(const char *host, const char *from, int status, int event,
    const char *user, const char *export, const char *why)
{
	struct refusal_count *rc;
	struct msg_audit a;
	char addr[RATELIMIT_ADDR_MAX];
	time_t now = time(NULL);

	ratelimit_addr(host, addr);
	rc = count_get(addr, now);
	if (rc->recorded < REFUSAL_RECORDS) {
		rc->recorded++;
		msg_audit_init(&a, event, user, from, export, why);
		a.status = status;
		sd_audit(&a);
		return;
	}
	if (rc->unrecorded++ == 0) {
		log_info("%s: more than %d refusals in %d s; counting them, "
			 "not recording each",
		    addr, REFUSAL_RECORDS, REFUSAL_WINDOW);
		summary_arm(rc, now);
	}
}

/* Answers status with why, and records it. */
void
refuse(struct conn *c, int status, int event, const char *user,
    const char *export, const char *why)
{
	refusal_audit(c, status, event, user, export, why);
	conn_error(c, status, why);
}
