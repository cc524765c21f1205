/*
 * Result lines for C unit tests; a suite exits non-zero if any test failed
 * so that a crash before the summary is still counted as a failure.
 */
#include <stdarg.h>
#include <stdio.h>

#include "test.h"

static int test_failed;

void
test_result(const char *name, int passed, const char *why, ...)
{
	va_list ap;

	if (passed) {
		printf("ok %s\n", name);
	} else {
		test_failed++;
		printf("not ok %s: ", name);
		va_start(ap, why);
		vprintf(why, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

int
test_done(void)
{
	return test_failed == 0 ? 0 : 1;
}
