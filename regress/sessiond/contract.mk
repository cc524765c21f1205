# The real, sandboxed sessiond under the child harness, playing its parent
# and blockd: what ends it. Run by the Makefile's regress target.

TOP	= ../..
PROG	= sessiond_contract_test
SRCS	= contract_test.c
HDRS	= $(TOP)/common/nbd_proto.h

include $(TOP)/regress/lib/child.mk
