/*
 * The one output format every regress suite speaks: a line "ok NAME" or
 * "not ok NAME: why" per test; regress/run counts them.
 */
#ifndef TEST_H
#define TEST_H

void test_result(const char *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));
int test_done(void);

#endif
