# Suites running a real, sandboxed child under regress/lib/child_harness.c,
# as root. Include it last, after TOP, PROG, SRCS (the suite's own) [HDRS].

CC	= gcc
CPPFLAGS = -I$(TOP)/common -I$(TOP)/conf -I$(TOP)/sessiond \
	  $(shell pkg-config --cflags libevent_core)
LDLIBS	= $(shell pkg-config --libs libevent_core inih libseccomp libcap-ng)
# The message table checks names by the config's rules: conf/ comes along.
SRCS	+= $(TOP)/regress/lib/child_harness.c $(TOP)/common/msg.c \
	  $(TOP)/common/log.c $(TOP)/conf/conf.c $(TOP)/conf/conf_value.c \
	  $(TOP)/conf/conf_check.c $(TOP)/conf/conf_lookup.c
HDRS	+= $(TOP)/regress/lib/child_harness.h $(TOP)/common/msg.h \
	  $(TOP)/common/log.h $(TOP)/conf/conf.h
RUN_FIRST = daemons
RUN_ARGS = $(abspath $(TOP))

include $(TOP)/regress/lib/unit.mk
