# The build every C unit suite shares: one test binary, ASan, UBSan, -Werror.
# Include it last, after TOP, PROG, SRCS, HDRS, CPPFLAGS, LDLIBS [RUN_*].

O	= $(TOP)/build/regress
CFLAGS	= -std=gnu11 -g -O1 -fno-omit-frame-pointer \
	  -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -Wall -Wextra -Werror
CPPFLAGS += -D_GNU_SOURCE -I$(TOP)/regress/lib
SRCS	+= $(TOP)/regress/lib/test.c
HDRS	+= $(TOP)/regress/lib/test.h

# RUN_FIRST: what must be made before the run; RUN_ARGS: the binary's.
regress: $(RUN_FIRST) $(O)/$(PROG)
	@$(O)/$(PROG) $(RUN_ARGS)

$(O)/$(PROG): $(SRCS) $(HDRS)
	@mkdir -p $(O)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(SRCS) $(LDLIBS)

# For suites that run the real children: RUN_FIRST = daemons.
daemons:
	@$(MAKE) -s -C $(TOP) all >/dev/null

.PHONY: regress daemons
