/*
 * counters: a small fixed table of named counters (see counters.h). A name
 * beyond the table's size is folded into "other" rather than allocated, so
 * counting never fails and never grows without bound. Names are copied.
 */
#include "counters.h"

#include <string.h>

#include "alloc.h"

#define COUNTERS_MAX 64

static struct {
	char *name;
	uint64_t value;
} counters[COUNTERS_MAX];
static int n_counters;

void counter_add(const char *name, uint64_t n)
{
	int i;

	for (i = 0; i < n_counters; i++)
		if (strcmp(counters[i].name, name) == 0)
			break;
	if (i == n_counters) {
		if (n_counters == COUNTERS_MAX - 1 && strcmp(name, "other") != 0) {
			counter_add("other", n);
			return;
		}
		counters[n_counters++].name = xstrdup(name);
	}
	counters[i].value += n;
}

uint64_t counter_get(const char *name)
{
	for (int i = 0; i < n_counters; i++)
		if (strcmp(counters[i].name, name) == 0)
			return counters[i].value;
	return 0;
}

json_t *counters_json(void)
{
	json_t *o = json_object();

	for (int i = 0; i < n_counters; i++)
		json_object_set_new(o, counters[i].name, json_integer((json_int_t)counters[i].value));
	return o;
}
