/*
 * gen_rules: see gen_rules.h. Everything here is deterministic in the seed,
 * so two runs (and the unit test) see the same ruleset and the same concerns.
 */
#include "gen_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "vocab.h"

uint64_t gen_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in 0..n-1 (n > 0; the tiny modulo bias does not matter here). */
static size_t pick(uint64_t *st, size_t n)
{
	return (size_t)(gen_next(st) % n);
}

/* True with probability pct/100. */
static int chance(uint64_t *st, unsigned pct)
{
	return pick(st, 100) < pct;
}

/* An array of k distinct names out of names[0..n) (k clamped to n). */
static json_t *pick_names(uint64_t *st, const char *const *names, size_t n, size_t k)
{
	size_t idx[64], i;
	json_t *arr = json_array();

	if (k > n)
		k = n;
	for (i = 0; i < n && i < 64; i++)
		idx[i] = i;
	for (i = 0; i < k; i++) {
		size_t j = i + pick(st, n - i), t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
		json_array_append_new(arr, json_string(names[idx[i]]));
	}
	return arr;
}

/* The same for the strings of a JSON array. */
static json_t *pick_json_strings(uint64_t *st, json_t *list, size_t k)
{
	const char *names[64];
	size_t n = json_array_size(list), i;

	if (n > 64)
		n = 64;
	for (i = 0; i < n; i++)
		names[i] = json_string_value(json_array_get(list, i));
	return pick_names(st, names, n, k);
}

static const char *const durations[] = {"15m", "1h", "4h", "8h", "24h", "48h", "72h", "120h"};
static const char *const bases[] = {
        "Misstanke om brott (suspected crime)",
        "Skydd av barn (protection of a child)",
        "Akut fara för liv eller hälsa (acute danger to life or health)",
};

#define N_GUIDANCE 24

/* A narrow condition for a variant or an `any` alternative. */
static json_t *small_cond(uint64_t *st, json_t *districts)
{
	json_t *w = json_object();

	switch (pick(st, 5)) {
	case 0:
		json_object_set_new(w, "urgency", pick_names(st, urgency_names, URG_COUNT, 1));
		break;
	case 1:
		json_object_set_new(w, "category", pick_names(st, category_names, CAT_COUNT, 1 + pick(st, 2)));
		break;
	case 2:
		json_object_set_new(w, "subject_kind", pick_names(st, subject_kind_names, KIND_COUNT, 1 + pick(st, 2)));
		break;
	case 3:
		json_object_set_new(w, "age_band", pick_names(st, age_band_names, BAND_COUNT, 1 + pick(st, 2)));
		break;
	default:
		json_object_set_new(w, "district", pick_json_strings(st, districts, 1 + pick(st, 3)));
		json_object_set_new(w, "setting", pick_names(st, setting_names, SET_COUNT, 1 + pick(st, 2)));
		break;
	}
	return w;
}

/* The extra conditions a rule may add to its categories. */
static void add_refinements(uint64_t *st, json_t *w, json_t *districts)
{
	if (chance(st, 50))
		json_object_set_new(w, "district", pick_json_strings(st, districts, 1 + pick(st, 5)));
	if (chance(st, 30))
		json_object_set_new(w, "subject_kind", pick_names(st, subject_kind_names, KIND_COUNT, 1 + pick(st, 3)));
	if (chance(st, 30))
		json_object_set_new(w, "setting", pick_names(st, setting_names, SET_COUNT, 1 + pick(st, 3)));
	if (chance(st, 20))
		json_object_set_new(w, "urgency", pick_names(st, urgency_names, URG_COUNT, 1 + pick(st, 2)));
	if (chance(st, 15))
		json_object_set_new(w, "age_band", pick_names(st, age_band_names, BAND_COUNT, 1 + pick(st, 2)));
	if (chance(st, 10))
		json_object_set_new(w, "association_grant", pick_names(st, tristate_names, TRI_COUNT, 1 + pick(st, 2)));
	if (chance(st, 5)) {
		int lo = (int)pick(st, 60);

		json_object_set_new(w, "age", json_pack("{s:i, s:i}", "min", lo, "max", lo + 5 + (int)pick(st, 30)));
	}
}

static json_t *gen_when(uint64_t *st, json_t *districts, int *narrow)
{
	json_t *w = json_object(), *any;
	size_t r = pick(st, 100), i, n;

	*narrow = 0;
	if (r < 6) {
		/* no category: districts and settings (in every category's bucket) */
		json_object_set_new(w, "district", pick_json_strings(st, districts, 1 + pick(st, 3)));
		json_object_set_new(w, "setting", pick_names(st, setting_names, SET_COUNT, 1 + pick(st, 2)));
	} else if (r < 80) {
		json_object_set_new(w, "category", pick_names(st, category_names, CAT_COUNT, 1 + pick(st, 3)));
		add_refinements(st, w, districts);
		*narrow = json_object_size(w) >= 2;
	} else {
		/* alternatives, most of them under a category of their own */
		if (chance(st, 75))
			json_object_set_new(w, "category", pick_names(st, category_names, CAT_COUNT, 1 + pick(st, 2)));
		any = json_array();
		n = 2 + pick(st, 2);
		for (i = 0; i < n; i++)
			json_array_append_new(any, small_cond(st, districts));
		json_object_set_new(w, "any", any);
	}
	return w;
}

/* 1 or 2 distinct recipients among the departments. */
static json_t *gen_recipients(uint64_t *st, json_t *depts)
{
	json_t *arr = json_array();
	size_t n = 1 + pick(st, 2), nd = json_array_size(depts), first = nd, i;

	for (i = 0; i < n; i++) {
		size_t d = pick(st, nd);
		json_t *dept = json_array_get(depts, d), *rc;
		int full = chance(st, 60);

		if (d == first)
			continue;
		first = d;
		rc = json_pack("{s:O, s:s}", "department", json_object_get(dept, "code"), "view",
		               full ? "full" : "notice");
		if (full && (json_is_true(json_object_get(dept, "disclosure_basis_required")) || chance(st, 10)))
			json_object_set_new(rc, "disclosure_basis", json_string(bases[pick(st, 3)]));
		json_array_append_new(arr, rc);
	}
	return arr;
}

char *gen_ruleset_json(const char *base_json, size_t n_rules, uint64_t seed)
{
	json_error_t jerr;
	json_t *base = json_loads(base_json, 0, &jerr), *doc, *rules, *depts, *districts, *areas;
	uint64_t st = seed;
	char *text;
	size_t i;

	if (base == NULL)
		return NULL;
	depts = json_object_get(base, "departments");
	districts = json_object_get(base, "districts");
	areas = json_object_get(base, "action_areas");
	if (!json_is_array(depts) || json_array_size(depts) == 0 || !json_is_array(districts) ||
	    json_array_size(districts) == 0 || json_object_get(base, "fallback") == NULL) {
		json_decref(base);
		return NULL;
	}
	doc = json_object();
	json_object_set_new(doc, "oro_ruleset", json_integer(1));
	json_object_set_new(doc, "name",
	                    json_sprintf("Generated: %zu rules, seed %llu", n_rules, (unsigned long long)seed));
	json_object_set(doc, "departments", depts);
	json_object_set(doc, "districts", districts);
	if (json_is_array(areas))
		json_object_set(doc, "action_areas", areas);
	json_object_set(doc, "fallback", json_object_get(base, "fallback"));
	rules = json_array();
	for (i = 0; i < n_rules; i++) {
		json_t *rule = json_object(), *variants;
		int narrow;
		size_t j, nv;

		json_object_set_new(rule, "name", json_sprintf("gen-%05zu", i + 1));
		if (json_array_size(areas) > 0 && chance(&st, 70))
			json_object_set(
			        rule, "action_area",
			        json_object_get(json_array_get(areas, pick(&st, json_array_size(areas))), "number"));
		json_object_set_new(rule, "when", gen_when(&st, districts, &narrow));
		json_object_set_new(rule, "recipients", gen_recipients(&st, depts));
		json_object_set_new(rule, "priority", json_string(priority_names[pick(&st, PRIO_COUNT)]));
		json_object_set_new(rule, "ack_within", json_string(durations[pick(&st, 8)]));
		if (chance(&st, 20)) {
			variants = json_array();
			nv = 1 + pick(&st, 2);
			for (j = 0; j < nv; j++)
				json_array_append_new(variants,
				                      json_pack("{s:o, s:s, s:s}", "when", small_cond(&st, districts),
				                                "priority", priority_names[pick(&st, 2)], "ack_within",
				                                durations[pick(&st, 4)]));
			json_object_set_new(rule, "variants", variants);
		}
		if (chance(&st, 30)) {
			unsigned g = (unsigned)pick(&st, N_GUIDANCE);

			json_object_set_new(rule, "guidance",
			                    json_pack("{s:o, s:o}", "sv", json_sprintf("Råd %u till anmälaren.", g),
			                              "en", json_sprintf("Advice %u to the reporter.", g)));
		}
		if (narrow && chance(&st, 2))
			json_object_set_new(rule, "final", json_true());
		json_array_append_new(rules, rule);
	}
	json_object_set_new(doc, "rules", rules);
	text = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	json_decref(base);
	return text;
}

int gen_concern(struct concern *c, const struct ruleset *rs, uint64_t *st, struct oro_error *err)
{
	enum subject_kind kind = (enum subject_kind)pick(st, KIND_COUNT);
	size_t nd = ruleset_district_count(rs);

	c->client_key = xasprintf("bench-%016llx", (unsigned long long)gen_next(st));
	c->category = xstrdup(category_names[pick(st, CAT_COUNT)]);
	c->urgency = xstrdup(urgency_names[pick(st, URG_COUNT)]);
	c->subject_kind = xstrdup(subject_kind_names[kind]);
	switch (pick(st, 3)) {
	case 0: /* an age, which gives the band */
		c->has_age = true;
		c->age = kind == KIND_CHILD ? (int)pick(st, 18) : (int)pick(st, 91);
		break;
	case 1: /* a band only */
		c->age_band = xstrdup(
		        age_band_names[kind == KIND_CHILD ? (size_t[]){BAND_0_11, BAND_12_17, BAND_UNKNOWN}[pick(st, 3)]
		                                          : pick(st, BAND_COUNT)]);
		break;
	default: /* neither: band unknown */
		break;
	}
	c->setting = xstrdup(setting_names[pick(st, SET_COUNT)]);
	c->district = xstrdup(nd > 0 ? ruleset_district(rs, pick(st, nd)) : "x");
	if (pick(st, 4) != 0)
		c->association_grant = xstrdup(tristate_names[pick(st, TRI_COUNT)]);
	c->description = xstrdup("Generated for the rule-evaluation benchmark.");
	return concern_validate(c, rs, 0, err);
}
