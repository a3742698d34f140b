/*
 * oro-bench-rules: the rule-evaluation micro-benchmark of issue 6 (point 3).
 *
 * For solna-v1.json and for a generated ruleset of 1,000 rules (gen_rules.c),
 * it generates N valid concerns in memory (deterministic seed; every
 * category, urgency, kind, age and band, setting, district and grant value),
 * validates them once against the ruleset, then times ruleset_evaluate()
 * over them, round robin, for a few seconds on one CPU (sched_setaffinity),
 * and prints one table: ruleset, rules, cases/s, ns/case, target, met. Every
 * timed route is folded into a hash stored in a volatile, so the compiler
 * cannot drop the work; the checksum printed is that of one pass over the N
 * concerns, so equal checksums across runs, builds or a change to rules.c
 * mean the same routes were computed.
 *
 *   oro-bench-rules [--seconds S] [--cases N] [--rules N] [--seed X]
 *                   [--cpu K] [--solna PATH] [--emit-rules N]
 *
 * --emit-rules N prints the generated N-rule ruleset (JSON) and exits, so
 * that it can be inspected or checked with `oro rules validate`.
 * Exit status: 0 when every target is met, 1 when one is missed, 2 on error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "concern.h"
#include "gen_rules.h"
#include "rules.h"

#ifndef ORO_SOURCE_DIR
#define ORO_SOURCE_DIR "."
#endif

struct opts {
	double seconds;
	size_t cases;
	size_t rules;
	uint64_t seed;
	int cpu;
	const char *solna;
};

struct result {
	const char *label;
	size_t rules;
	double cases_per_s, ns_per_case;
	double target;
	double matched_avg;
	uint64_t checksum;
};

/* Where the timed loop's fold goes, so that no evaluation is optimised away. */
static volatile uint64_t bench_sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Pin this thread to one CPU: opts->cpu, or the first one allowed. */
static int pin(int want)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return -1;
	cpu = want;
	if (cpu < 0)
		for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set); cpu++)
			;
	if (cpu >= CPU_SETSIZE)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		return -1;
	return cpu;
}

/* Fold one route into the checksum (cheap next to the evaluation). */
static uint64_t fold(uint64_t h, const struct route *r)
{
	h = h * UINT64_C(0x100000001b3) ^ (uint64_t)r->n_matched;
	h = h * UINT64_C(0x100000001b3) ^ (uint64_t)(r->n_matched ? r->matched[r->n_matched - 1] : 0);
	h = h * UINT64_C(0x100000001b3) ^ (uint64_t)r->n_recipients;
	if (r->n_recipients > 0)
		h = h * UINT64_C(0x100000001b3) ^
		    (uint64_t)(r->recipients[0].ack_within * 4 + r->recipients[0].priority * 2 + r->recipients[0].view);
	h = h * UINT64_C(0x100000001b3) ^ (uint64_t)(r->n_guidance * 2 + r->fallback);
	return h;
}

static int run(const struct ruleset *rs, const char *label, double target, const struct opts *o, struct result *res)
{
	struct concern *cs = calloc(o->cases, sizeof *cs);
	struct route r;
	uint64_t st = o->seed, h = UINT64_C(0xcbf29ce484222325), live = 0;
	size_t i, evals = 0, matched = 0;
	double t0, t1, deadline;

	memset(&r, 0, sizeof r);
	if (cs == NULL)
		return -1;
	for (i = 0; i < o->cases; i++) {
		struct oro_error err;

		if (gen_concern(&cs[i], rs, &st, &err) != 0) {
			fprintf(stderr, "generated concern %zu is invalid: %s: %s\n", i, err.field, err.message);
			return -1;
		}
	}
	/* one pass to warm the route and the caches, to count matches and to
	 * take the checksum (of one pass, so it is the same in every run) */
	for (i = 0; i < o->cases; i++) {
		ruleset_evaluate(rs, &cs[i], &r);
		matched += r.n_matched;
		h = fold(h, &r);
	}
	t0 = now();
	deadline = t0 + o->seconds;
	do {
		for (i = 0; i < o->cases; i++) {
			ruleset_evaluate(rs, &cs[i], &r);
			live = fold(live, &r);
		}
		evals += o->cases;
		t1 = now();
	} while (t1 < deadline);
	res->label = label;
	res->rules = ruleset_rule_count(rs);
	res->cases_per_s = (double)evals / (t1 - t0);
	res->ns_per_case = (t1 - t0) * 1e9 / (double)evals;
	res->target = target;
	res->matched_avg = (double)matched / (double)o->cases;
	res->checksum = h;
	bench_sink ^= live;
	for (i = 0; i < o->cases; i++)
		concern_clear(&cs[i]);
	free(cs);
	route_free(&r);
	return 0;
}

static struct ruleset *parse_or_die(const char *text, const char *what)
{
	struct rules_diags d = {NULL, 0, 0};
	struct ruleset *rs = ruleset_parse(text, strlen(text), &d);
	size_t i;

	for (i = 0; i < d.count; i++)
		fprintf(stderr, "%s: %s %s %s: %s\n", what, d.items[i].warning ? "warning" : "error", d.items[i].code,
		        d.items[i].field, d.items[i].message);
	rules_diags_free(&d);
	if (rs == NULL)
		fprintf(stderr, "%s: not a valid ruleset\n", what);
	return rs;
}

static void usage(void)
{
	fprintf(stderr, "usage: oro-bench-rules [--seconds S] [--cases N] [--rules N] [--seed X] [--cpu K]\n"
	                "                       [--solna PATH] [--emit-rules N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {3.0, 4096, 1000, UINT64_C(20260601), -1, ORO_SOURCE_DIR "/sql/strategy/solna-v1.json"};
	struct result res[2];
	struct ruleset *solna, *big;
	char *solna_text, *gen_text, label[64];
	long emit = -1;
	int cpu, i, missed = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			usage();
		if (strcmp(a, "--seconds") == 0)
			o.seconds = atof(v);
		else if (strcmp(a, "--cases") == 0)
			o.cases = strtoul(v, NULL, 10);
		else if (strcmp(a, "--rules") == 0)
			o.rules = strtoul(v, NULL, 10);
		else if (strcmp(a, "--seed") == 0)
			o.seed = strtoull(v, NULL, 0);
		else if (strcmp(a, "--cpu") == 0)
			o.cpu = atoi(v);
		else if (strcmp(a, "--solna") == 0)
			o.solna = v;
		else if (strcmp(a, "--emit-rules") == 0)
			emit = atol(v);
		else
			usage();
		i++;
	}
	if (o.seconds <= 0 || o.cases == 0 || o.rules == 0 || o.rules > RULES_MAX_RULES)
		usage();
	solna_text = read_file(o.solna);
	if (solna_text == NULL) {
		fprintf(stderr, "%s: %s\n", o.solna, strerror(errno));
		return 2;
	}
	if (emit > 0) {
		gen_text = gen_ruleset_json(solna_text, (size_t)emit, o.seed);
		if (gen_text == NULL)
			return 2;
		puts(gen_text);
		free(gen_text);
		free(solna_text);
		return 0;
	}
	cpu = pin(o.cpu);
	if (cpu < 0) {
		fprintf(stderr, "sched_setaffinity: %s\n", strerror(errno));
		return 2;
	}
	solna = parse_or_die(solna_text, o.solna);
	gen_text = gen_ruleset_json(solna_text, o.rules, o.seed);
	big = gen_text ? parse_or_die(gen_text, "generated ruleset") : NULL;
	if (solna == NULL || big == NULL)
		return 2;
	snprintf(label, sizeof label, "generated-%zu", o.rules);
	if (run(solna, "solna-v1.json", 1e6, &o, &res[0]) != 0 || run(big, label, 1e5, &o, &res[1]) != 0)
		return 2;

	printf("rule evaluation, one core (CPU %d), %zu distinct concerns, %.1f s per ruleset, seed %llu\n\n", cpu,
	       o.cases, o.seconds, (unsigned long long)o.seed);
	printf("| ruleset | rules | cases/s | ns/case | target | met | matched/case | checksum |\n");
	printf("|---|---:|---:|---:|---:|---|---:|---|\n");
	for (i = 0; i < 2; i++) {
		int met = res[i].cases_per_s >= res[i].target;

		missed |= !met;
		printf("| %s | %zu | %.0f | %.1f | %.0f | %s | %.2f | %016llx |\n", res[i].label, res[i].rules,
		       res[i].cases_per_s, res[i].ns_per_case, res[i].target, met ? "yes" : "no", res[i].matched_avg,
		       (unsigned long long)res[i].checksum);
	}
	ruleset_destroy(&solna);
	ruleset_destroy(&big);
	free(gen_text);
	free(solna_text);
	return missed;
}
