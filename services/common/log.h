/*
 * log: one line per event on stderr, `key=value` after a fixed prefix:
 *
 *   ts=2026-11-27T15:04:05.123Z level=info prog=oro-intake case=ORO-2026-000001 event=filed
 *
 * The caller's text starts with the object concerned (case=, delivery=) and
 * never carries sealed content, identities or keys. Severity ladder: debug,
 * info, warn (unexpected, handled), error (a request or task failed),
 * fatal (cannot go on: exit 1, the supervisor restarts), panic (a broken
 * invariant: abort for a core dump). Log at one layer only: where the
 * failure is handled.
 */
#ifndef ORO_LOG_H
#define ORO_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL, LOG_PANIC };

/* Set the program name and the lowest level printed. */
void log_init(const char *prog, enum log_level min);
/* Parse "debug", "info", "warn" or "error"; -1 when unknown. */
int log_level_parse(const char *s);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
/* Log and exit(1). */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Log and abort(). */
void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Quote a value for a log line: returns v if it needs no quoting, else a
 * copy in a rotating buffer of the calling thread with quotes and escapes. For short,
 * non-sensitive values (codes, field names, error text from libraries).
 */
const char *log_quote(const char *v);

#endif
