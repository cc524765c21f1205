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
	if (ex == NULL || ex->conf.source[0] == '\0') {
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
	session_start(ex, stream_new(fd), "source", "", 0);
}
