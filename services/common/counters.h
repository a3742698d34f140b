/*
 * counters: named event counters of one process (refusals by error code,
 * escalations, operator alerts, ...), reported by `oro health` through the
 * daemon_status table. Names are error codes and fixed event names, never
 * data from a request.
 */
#ifndef ORO_COUNTERS_H
#define ORO_COUNTERS_H

#include <stdint.h>

#include <jansson.h>

/* Add n to the counter `name` (copied on first use). */
void counter_add(const char *name, uint64_t n);

/* The value of `name` (0 when never counted). */
uint64_t counter_get(const char *name);

/* Every counter as a new JSON object {name: value}. */
json_t *counters_json(void);

#endif
