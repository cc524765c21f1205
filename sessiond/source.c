/*
 * An export's source as a session's peer. The parent hands over its end
 * of the socketpair of the export's nbdkit (SOURCE_PEER, privsep/
 * launcher.c): a byte stream without WebSocket framing, which goes
 * through the same NBD handshake (nbd_client.c) and the same validating
 * relay as a browser's. nbdkit -s serves that one connection: when the
 * session ends the socket closes, nbdkit exits, and the parent starts it
 * again with back-off, which brings the next SOURCE_PEER.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sessiond.h"
#include "stream.h"

void
source_peer(const struct msg_source *src, int fd)
{
	struct export_rt *ex = sd_export(src->export);
	int flags;

	/* A reload may have taken the source away since it started. */
	if (ex == NULL ||
	    (ex->conf.source[0] == '\0' && ex->inserted[0] == '\0')) {
		log_warnx("export %s: no longer has a source; nbdkit (pid %d) "
			  "not attached",
		    src->export, src->pid);
		close(fd);
		return;
	}
	if (ex->session != NULL || ex->state != EXPORT_IDLE) {
		log_info("export %s: busy; its source (nbdkit pid %d) waits",
		    ex->conf.name, src->pid);
		close(fd);
		return;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		log_warn("export %s: source socket", ex->conf.name);
		close(fd);
		return;
	}
	log_info("export %s: its source (nbdkit pid %d) attaches",
	    ex->conf.name, src->pid);
	/* An inserted source is its inserter's: they, or an admin, eject. */
	session_start(ex, stream_new(fd), "source", ex->inserted_by, 0);
}

/*
 * A reload took the export's source away or changed it: its session
 * ends, which closes nbdkit's socket (the parent stops it too, and
 * starts the new one). e is the export as now configured, or NULL.
 */
void
source_conf_applied(struct export_rt *ex, const struct conf_export *e)
{
	struct session *s = ex->session;

	if (s == NULL || s->framed || s->ending || ex->conf.source[0] == '\0' ||
	    (e != NULL && strcmp(e->source, ex->conf.source) == 0))
		return;
	session_end(s,
	    e == NULL || e->source[0] == '\0' ? "its source was taken away" :
						"its source was changed",
	    WS_CLOSE_NORMAL);
}
