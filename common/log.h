/*
 * Logging for every vmediad process: stderr in the foreground (-d),
 * syslog otherwise; fatal()/fatalx() end the process.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>

void log_init(const char *, int, int);
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_emit(int, const char *);
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
