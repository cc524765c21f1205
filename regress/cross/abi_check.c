/* Compiled by regress/cross through the Makefile's own rule and flags: a
 * build that lost -D_TIME_BITS=64 or -D_FILE_OFFSET_BITS=64 fails here. */
#include <sys/types.h>
#include <time.h>

_Static_assert(sizeof(time_t) == 8, "time_t is not 64-bit");
_Static_assert(sizeof(off_t) == 8, "off_t is not 64-bit");
