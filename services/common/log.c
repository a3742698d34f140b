/*
 * log: key=value lines on stderr (see log.h). Lines are written with one
 * write so that concurrent processes sharing a log file do not interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "oro";
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "fatal", "panic"};

void log_init(const char *prog, enum log_level min)
{
	log_prog = prog;
	log_min = min;
}

int log_level_parse(const char *s)
{
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
		if (s != NULL && strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

/* Format and emit one line. */
static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int m;

	if (level < log_min)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	m = snprintf(line + n, sizeof line - n, ".%03ldZ level=%s prog=%s ", (long)(tv.tv_usec / 1000),
	             level_names[level], log_prog);
	n += (size_t)m;
	m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

void log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_FATAL, fmt, ap);
	va_end(ap);
	exit(1);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_PANIC, fmt, ap);
	va_end(ap);
	abort();
}

const char *log_quote(const char *v)
{
	/* per thread: oro-intake files its batches on a second thread */
	static _Thread_local char bufs[4][512];
	static _Thread_local int next;
	char *b;
	size_t n = 0;

	if (v == NULL)
		return "\"\"";
	if (*v != '\0' && strpbrk(v, " \"=\\\n\r\t") == NULL)
		return v;
	b = bufs[next];
	next = (next + 1) % 4;
	b[n++] = '"';
	for (const char *p = v; *p != '\0' && n < sizeof bufs[0] - 3; p++) {
		if (*p == '"' || *p == '\\') {
			b[n++] = '\\';
			b[n++] = *p;
		} else if (*p == '\n' || *p == '\r' || *p == '\t') {
			b[n++] = ' ';
		} else {
			b[n++] = *p;
		}
	}
	b[n++] = '"';
	b[n] = '\0';
	return b;
}
