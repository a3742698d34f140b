/*
 * gen_rules: deterministic generators for the rule-evaluation benchmark
 * (rules_bench.c) and for the index-equivalence unit test: a large ruleset
 * document built on solna-v1.json's departments, districts, action areas and
 * fallback, and valid concerns that vary every routing attribute.
 */
#ifndef ORO_BENCH_GEN_RULES_H
#define ORO_BENCH_GEN_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "concern.h"
#include "rules.h"

/* A small deterministic PRNG (splitmix64); the state is the seed. */
uint64_t gen_next(uint64_t *state);

/*
 * A ruleset document of n_rules generated rules (valid under
 * ruleset_parse()), built on the departments, districts, action areas and
 * fallback of base_json (solna-v1.json's text). A realistic mix: most rules
 * name one to three categories and some districts, kinds, settings or age
 * bands; some use "any" (most under a category), some have variants, about a third give guidance, a
 * few are final with a narrow condition, a few name no category. Returns
 * malloc'd JSON text, or NULL when base_json is not a usable ruleset.
 */
char *gen_ruleset_json(const char *base_json, size_t n_rules, uint64_t seed);

/*
 * Fill c (zeroed) with a valid concern for rs, varied across all categories,
 * urgencies, kinds, ages and age bands, settings, districts and grant values,
 * and validate it with concern_validate(c, rs, 0). Returns 0, or -1 (err
 * filled) if validation refused it, which is a bug of the generator.
 */
int gen_concern(struct concern *c, const struct ruleset *rs, uint64_t *state, struct oro_error *err);

#endif
