# vmediad: plain make and pkg-config; everything is built into $(O).
# make              release build into build/
# make regress      deps, builds, every suite, "N passed, N failed"
# make O=build/test TEST=1   the test build (test-only triggers compiled in)
# make ARCH=armhf   cross build for a BMC into build/armhf (or ARCH=arm64)
# make size         stripped sizes per executable and arch

PREFIX	?= /usr
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/vmediad
MANDIR	?= $(PREFIX)/share/man
SHAREDIR ?= $(PREFIX)/share/vmediad
UNITDIR	?= /lib/systemd/system

CC	?= cc
STRIP	?= strip
PKG_CONFIG ?= pkg-config
CFLAGS	?= -O2 -g
# Each function and object in its own section, and the linker drops those
# an executable never uses: every process links all of common/ and conf/.
CFLAGS	+= -std=gnu11 -Wall -Wextra -Werror -fstack-protector-strong -fPIE \
	   -D_FORTIFY_SOURCE=2 -ffunction-sections -fdata-sections

# A cross build takes the target's libraries from a sysroot of Debian
# packages (cross/sysroot.sh), made on demand in build/sysroot/ARCH.
ifeq ($(ARCH),arm64)
TRIPLET	= aarch64-linux-gnu
else ifeq ($(ARCH),armhf)
TRIPLET	= arm-linux-gnueabihf
# A 32-bit time_t ends in 2038, a 32-bit off_t refuses images over 2 GiB.
CPPFLAGS += -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64
else ifneq ($(ARCH),)
$(error ARCH=$(ARCH): armhf or arm64, or none for a native build)
endif
ifneq ($(ARCH),)
O	?= build/$(ARCH)
SYSROOT	?= $(CURDIR)/build/sysroot/$(ARCH)
CC	= $(TRIPLET)-gcc
STRIP	= $(TRIPLET)-strip
PKG_CONFIG = PKG_CONFIG_LIBDIR=$(SYSROOT)/usr/lib/$(TRIPLET)/pkgconfig \
	   PKG_CONFIG_SYSROOT_DIR=$(SYSROOT) pkg-config
CPPFLAGS += -I$(SYSROOT)/usr/include/$(TRIPLET)
LDFLAGS	+= -L$(SYSROOT)/lib/$(TRIPLET) -L$(SYSROOT)/usr/lib/$(TRIPLET) \
	   -Wl,-rpath-link,$(SYSROOT)/usr/lib/$(TRIPLET):$(SYSROOT)/lib/$(TRIPLET)
CROSS_READY = cross-toolchain $(SYSROOT)/.complete
endif
O	?= build

PKGS	= libevent_core libseccomp libcap-ng inih
CPPFLAGS += -D_GNU_SOURCE $(shell $(PKG_CONFIG) --cflags $(PKGS))
ifeq ($(TEST),1)
CPPFLAGS += -DVMEDIAD_TEST
endif
LDFLAGS	+= -pie -Wl,-z,relro,-z,now -Wl,--gc-sections
LDLIBS	= $(shell $(PKG_CONFIG) --libs $(PKGS))
# Only sessiond needs OpenSSL (WebSocket accept keys, TLS) and crypt(3).
SESSIOND_LIBS = $(shell $(PKG_CONFIG) --libs libevent_openssl libssl libcrypto \
	   libxcrypt) -lpthread

# Who depends on what. common/ holds what several executables share; each
# executable's own folder sees only itself, common/ and conf/.
COMMON_SRCS = common/log.c common/msg.c common/chan.c common/msg_audit.c \
	   common/sandbox.c \
	   conf/conf.c conf/conf_value.c conf/conf_check.c conf/conf_lookup.c
CHILD_SRCS = $(COMMON_SRCS) common/child.c common/export_table.c
VMEDIAD_SRCS = $(COMMON_SRCS) common/nbd_netlink.c common/json.c \
	   privsep/vmediad.c privsep/proc.c privsep/listen.c \
	   privsep/devices.c privsep/audit.c privsep/vmediad_sandbox.c \
	   privsep/hashpw.c privsep/nofile.c privsep/launcher.c \
	   privsep/launcher_parent.c privsep/launcher_sandbox.c \
	   privsep/source.c privsep/source_reason.c
SESSIOND_SRCS = $(CHILD_SRCS) common/json.c common/nbd_proto.c \
	   sessiond/sessiond.c sessiond/sessiond_sandbox.c \
	   sessiond/accept.c sessiond/conn.c sessiond/web.c sessiond/api.c sessiond/session.c \
	   sessiond/local.c sessiond/source.c sessiond/insert.c sessiond/relay.c sessiond/readahead.c sessiond/flow.c sessiond/stream.c \
	   sessiond/nbd_client.c sessiond/nbd_server.c sessiond/http.c \
	   sessiond/http_response.c sessiond/ws.c \
	   sessiond/ws_handshake.c sessiond/route.c sessiond/login.c \
	   sessiond/refusal.c sessiond/host.c sessiond/auth.c \
	   sessiond/cred.c sessiond/cred_json.c sessiond/json_in.c \
	   sessiond/redfish.c sessiond/redfish_body.c sessiond/passwd.c \
	   sessiond/ratelimit.c sessiond/tls.c \
	   sessiond/sample.c sessiond/resume.c
BLOCKD_SRCS = $(CHILD_SRCS) common/nbd_netlink.c \
	   blockd/blockd.c blockd/blockd_sandbox.c blockd/read_ahead.c
HOOKD_SRCS = $(CHILD_SRCS) hookd/hookd.c hookd/hook_exec.c hookd/prepare.c \
	   hookd/hookd_sandbox.c
# The workstation's tool, not the daemon's: its layers are also the test
# peer's (regress/peer builds them with -DPEER_TEST, faults compiled in).
ATTACH_SRCS = attach/attach.c attach/peer_run.c attach/peer_io.c \
	   attach/peer_tls.c attach/peer_http.c attach/peer_ws.c \
	   attach/peer_wsin.c attach/peer_nbd.c attach/peer_xmit.c
ATTACH_LIBS = $(shell $(PKG_CONFIG) --libs libssl libcrypto)

# Include paths per folder: a file sees its own folder and what it shares.
$(O)/obj/common/%.o: INCLUDES = -Icommon -Iconf
$(O)/obj/conf/%.o: INCLUDES = -Iconf
$(O)/obj/privsep/%.o: INCLUDES = -Iprivsep -Icommon -Iconf
$(O)/obj/sessiond/%.o: INCLUDES = -Isessiond -Icommon -Iconf
$(O)/obj/blockd/%.o: INCLUDES = -Iblockd -Icommon -Iconf
$(O)/obj/hookd/%.o: INCLUDES = -Ihookd -Icommon -Iconf
$(O)/obj/attach/%.o: INCLUDES = -Iattach

PROGS	= $(O)/sbin/vmediad $(O)/libexec/vmediad/sessiond \
	  $(O)/libexec/vmediad/blockd $(O)/libexec/vmediad/hookd \
	  $(O)/bin/vmedia-attach

objs	= $(patsubst %.c,$(O)/obj/%.o,$(1))

# The data path (every byte relayed passes these) is built as CFLAGS says,
# for speed; the rest (config, HTTP, Redfish, JSON, the parent, blockd,
# hookd) runs once per request or per attach and is built for size, since
# a BMC's flash is small (make size; regress/cross holds the total).
# make SIZE_OPT= builds everything as CFLAGS says.
HOT_SRCS = sessiond/stream.c sessiond/relay.c sessiond/ws.c \
	  sessiond/readahead.c sessiond/flow.c sessiond/session.c \
	  sessiond/tls.c sessiond/local.c sessiond/nbd_server.c \
	  common/nbd_proto.c
SIZE_OPT ?= -Os
$(O)/obj/%.o: OPT = $(SIZE_OPT)
$(O)/obj/attach/%.o: OPT =
$(call objs,$(HOT_SRCS)): OPT =

all: $(PROGS)

$(O)/obj/%.o: %.c | $(CROSS_READY)
	@mkdir -p $(dir $@)
	$(CC) $(INCLUDES) $(CPPFLAGS) $(CFLAGS) $(OPT) -MMD -MP -c -o $@ $<

$(O)/sbin/vmediad: $(call objs,$(VMEDIAD_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcrypt

$(O)/libexec/vmediad/sessiond: $(call objs,$(SESSIOND_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SESSIOND_LIBS)

$(O)/libexec/vmediad/blockd: $(call objs,$(BLOCKD_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/libexec/vmediad/hookd: $(call objs,$(HOOKD_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/bin/vmedia-attach: $(call objs,$(ATTACH_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(ATTACH_LIBS)

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)

# Debian packages the build, the tests and the demo need; installs only
# what is missing, so it is cheap to run every time. A failing
# apt-get update is not fatal: with the ARM package indexes added for the
# sysroots, one of them may be mid-sync while the rest are fine.
CROSS_PKGS = crossbuild-essential-arm64 crossbuild-essential-armhf
DEB_PKGS = build-essential pkg-config clang libevent-dev libseccomp-dev \
	   libcap-ng-dev libinih-dev libssl-dev libnbd-bin python3-libnbd qemu-utils curl \
	   nbdkit nginx nbd-client python3-sushy redfishtool \
	   python3 openssl chromium qemu-system-x86 qemu-system-arm busybox-static \
	   xorriso systemd kmod clang-format iproute2 $(BENCH_PKGS) $(CROSS_PKGS)
# make bench's reference rows: nbdkit (its file plugin), a socat hop,
# jsnbd's websocketd + socat relay; strace counts sessiond's syscalls.
BENCH_PKGS = nbdkit socat websocketd strace
define apt-install-missing
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "make $@: installing $$missing"; \
		apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    -o DPkg::Lock::Timeout=300 $$missing >/dev/null; \
	else \
		echo "make $@: all packages present"; \
	fi
endef
deps:
	$(call apt-install-missing,$(DEB_PKGS))

# The cross toolchains alone; a cross build runs this if its compiler is
# missing.
deps-cross:
	$(call apt-install-missing,$(CROSS_PKGS))

ifneq ($(ARCH),)
sysroot: $(SYSROOT)/.complete

$(SYSROOT)/.complete: | cross-toolchain
	cross/sysroot.sh $(ARCH) $(SYSROOT)

cross-toolchain:
	@command -v $(CC) >/dev/null 2>&1 || $(MAKE) -s deps-cross
	@command -v $(CC) >/dev/null 2>&1 || \
	    { echo "no $(CC), even after make deps-cross" >&2; exit 1; }
endif

# Builds what is missing for the three arches, then one table.
size:
	@$(MAKE) -s ARCH= O=build all
	@$(MAKE) -s ARCH=arm64 O=build/arm64 all
	@$(MAKE) -s ARCH=armhf O=build/armhf all
	@cross/size.sh $$(uname -m)=build:strip \
	    arm64=build/arm64:aarch64-linux-gnu-strip \
	    armhf=build/armhf:arm-linux-gnueabihf-strip

test-build:
	$(MAKE) O=build/test TEST=1 all

SUITES	= style conf msg sandbox nbd cred http ws web peer attach hookd blockd daemon \
	  source sessiond netnbd auth redfish \
	  browser cross vm vm-arm64 vm-ast2600 fuzz

regress: deps
	$(MAKE) all
	$(MAKE) test-build
	regress/run $(SUITES)

# Lays out every C file as .clang-format says; regress/style checks it.
format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '^regress/fuzz/corpus/')

fuzz: deps
	$(MAKE) -C regress/fuzz fuzz

# Throughput, as ratios against a reference in the same run.
bench: deps
	$(MAKE) all
	$(MAKE) -C regress/bench bench

# The far-link bench: the peer 50 ms RTT away at 100 Mbit/s, emulated
# with netem in the x86_64 test VM. Some minutes; not part of regress.
bench-far: deps
	$(MAKE) all
	$(MAKE) -C regress/bench bench-far

# Headless Chromium's own cost to read a File and send over a WebSocket
# (no NBD): the bound on make bench's Chromium row. About two minutes.
bench-chromium: deps
	$(MAKE) -C regress/bench bench-chromium

# Like regress, installs what it needs first, so it works on a fresh machine.
demo: deps
	$(MAKE) all
	mkdir -p build/demo/empty build/demo/run
	chmod 755 build/demo/empty
	sed 's|@TOP@|$(CURDIR)|g' conf/demo.conf > build/demo/vmediad.conf
	@echo "vmediad demo: web page at http://127.0.0.1:8080/," \
	    "local NBD socket $(CURDIR)/build/demo/run/demo.sock"
	$(O)/sbin/vmediad -d -v -f build/demo/vmediad.conf

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(SHAREDIR)/web $(DESTDIR)/etc
	install -m 755 $(O)/sbin/vmediad $(DESTDIR)$(SBINDIR)/vmediad
	install -m 755 $(O)/libexec/vmediad/sessiond \
	    $(O)/libexec/vmediad/blockd $(O)/libexec/vmediad/hookd \
	    $(DESTDIR)$(LIBEXECDIR)/
	install -m 755 $(O)/bin/vmedia-attach $(DESTDIR)$(BINDIR)/vmedia-attach
	install -m 644 privsep/vmediad.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 attach/vmedia-attach.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 conf/vmediad.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 $(wildcard web/*.html web/*.js web/*.css web/*.svg) \
	    $(DESTDIR)$(SHAREDIR)/web/
	if [ -e conf/hooks/usb-gadget ]; then \
		install -d $(DESTDIR)$(SHAREDIR)/hooks && \
		install -m 755 conf/hooks/usb-gadget $(DESTDIR)$(SHAREDIR)/hooks/; \
	fi
	install -d $(DESTDIR)$(UNITDIR)
	install -m 644 conf/vmediad.service $(DESTDIR)$(UNITDIR)/
	[ -e $(DESTDIR)/etc/vmediad.conf ] || \
	    install -m 600 conf/vmediad.conf $(DESTDIR)/etc/vmediad.conf

clean:
	rm -rf build

.PHONY: all deps deps-cross cross-toolchain sysroot size test-build regress format fuzz bench \
	bench-far bench-chromium \
	demo install clean
