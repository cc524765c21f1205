/*
 * The kernel's read-ahead of each device (queue/read_ahead_kb), set to
 * the export's read-ahead when it is connected. A USB gadget or a dd
 * reads the device through the page cache, which reads ahead as far as
 * this says: the default of 128 KiB keeps one request in flight to a
 * peer that may be far away. The kernel may reset it when it sizes the
 * device, so it is written after every connect.
 *
 * The files are opened before the sandbox, for the devices in the first
 * config: a device named only by a later one keeps the kernel's default,
 * and the log says so.
 */
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blockd.h"
#include "conf.h"
#include "log.h"

static struct {
	uint32_t index;
	int fd;
} ra_files[CONF_EXPORT_MAX];
static int nra_files;

void
blk_ra_open(const struct conf *conf)
{
	const struct conf_export *e;
	char path[64];
	int i, fd, index;

	for (i = 0; i < conf->nexports && nra_files < CONF_EXPORT_MAX; i++) {
		e = &conf->exports[i];
		if ((index = conf_nbd_index(e->device)) < 0)
			continue;
		snprintf(path, sizeof(path),
		    "/sys/block/nbd%d/queue/read_ahead_kb", index);
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1) {
			log_debug("export %s: %s: %s", e->name, path,
			    strerror(errno));
			continue;
		}
		ra_files[nra_files].index = (uint32_t)index;
		ra_files[nra_files++].fd = fd;
	}
}

void
blk_ra_set(const struct conf_export *e, uint32_t index)
{
	char value[32];
	struct iovec iov;
	int i, n;

	if (e->read_ahead == 0)
		return;
	for (i = 0; i < nra_files && ra_files[i].index != index; i++)
		;
	if (i == nra_files) {
		log_warnx("export %s: read-ahead of %s not set: its "
			  "read_ahead_kb was not open at start",
		    e->name, e->device);
		return;
	}
	n = snprintf(value, sizeof(value), "%llu\n",
	    (unsigned long long)(e->read_ahead / 1024));
	iov.iov_base = value;
	iov.iov_len = (size_t)n;
	if (writev(ra_files[i].fd, &iov, 1) != n)
		log_warn("export %s: read-ahead of %s", e->name, e->device);
	else
		log_debug("export %s: %s reads ahead %llu KiB", e->name,
		    e->device, (unsigned long long)(e->read_ahead / 1024));
}
