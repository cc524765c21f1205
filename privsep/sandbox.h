/*
 * The sandbox every vmediad process enters: no_new_privs, its capability
 * row (libcap-ng), uid and chroot where allowed, then a seccomp allow-list.
 */
#ifndef SANDBOX_H
#define SANDBOX_H

#include <seccomp.h>

#include "conf.h"

/*
 * One allowed syscall and why. arg1 is 1 + the index of an argument to
 * compare (0: any arguments): the call is allowed when
 * (arg & mask) == value, i.e. SCMP_CMP_MASKED_EQ.
 */
struct sandbox_rule {
	int		 syscall;
	const char	*why;
	unsigned	 arg1;
	scmp_datum_t	 mask;
	scmp_datum_t	 value;
};

struct sandbox_policy {
	const char			*name;
	const struct sandbox_rule	*rules;
	size_t				 nrules;
	const int			*caps;		/* kept, effective */
	size_t				 ncaps;
	int				 drop_root;	/* chroot + setuid */
};

void	sandbox_enter(const struct sandbox_policy *, const struct conf_global *);
void	sandbox_print(const struct sandbox_policy *);

#endif
