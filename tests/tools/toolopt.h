/*
 * toolopt: what the load and benchmark tools (oro-load, oro-bench-dept,
 * oro-bench-ceiling) share: reading a numeric option and the wall clock.
 * Header only, for tools that do not link orocommon too.
 */
#ifndef ORO_TOOLOPT_H
#define ORO_TOOLOPT_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Wall-clock time in µs since the epoch (comparable across processes). */
static inline int64_t tool_realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * The whole decimal s, the value of option opt, in [min, max]; otherwise
 * say so as program prog, print its usage and exit 2.
 */
static inline long tool_parse_long(const char *prog, const char *usage, const char *opt, const char *s, long min,
                                   long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		fprintf(stderr, "%s: %s must be an integer from %ld to %ld, not \"%s\"\n%s", prog, opt, min, max, s,
		        usage);
		exit(2);
	}
	return v;
}

#endif
