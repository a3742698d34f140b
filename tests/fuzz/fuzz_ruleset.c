/*
 * fuzz_ruleset: libFuzzer harness for the ruleset document (rules.h):
 * ruleset_parse(), and for a ruleset that it accepts, rules_test_cases() of
 * a fixed set of concerns (which validates each against the ruleset and runs
 * ruleset_evaluate()): the path of `oro rules validate` and `oro rules test`,
 * and of the router loading a published version.
 *
 * The fixed concerns between them name every condition key a rule can test
 * (category, urgency, subject kind, setting, age and age band, association
 * grant); each is given one of the fuzzed ruleset's own districts, so that
 * they pass validation and reach the rules whatever the districts are.
 *
 * Checked besides memory safety and undefined behaviour: a refused document
 * has at least one error diagnostic; every routed case reaches at least one
 * department with the full view (the fallback guarantees it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rules.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, what)                                                       \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "fuzz_ruleset: broken promise: %s\n", what); \
			abort();                                                     \
		}                                                                    \
	} while (0)

/* Concern documents for routing only (no client key, no description); the
 * district is filled in per ruleset. */
static const char fixed_concerns[] =
        "["
        "{\"category\": \"travel_conflict_zone\", \"urgency\": \"concern\","
        " \"subject\": {\"kind\": \"child\", \"age\": 15}, \"setting\": \"school\"},"
        "{\"category\": \"propaganda\", \"urgency\": \"concern\","
        " \"subject\": {\"kind\": \"adult\"}, \"setting\": \"online\"},"
        "{\"category\": \"extremist_symbols\", \"urgency\": \"concern\","
        " \"subject\": {\"kind\": \"material\"}, \"setting\": \"public_space\"},"
        "{\"category\": \"violent_rhetoric\", \"urgency\": \"concern\","
        " \"subject\": {\"kind\": \"association\"}, \"setting\": \"leisure\", \"association_grant\": \"yes\"},"
        "{\"category\": \"other\", \"urgency\": \"acute\","
        " \"subject\": {\"kind\": \"adult\", \"age\": 35}, \"setting\": \"public_space\"},"
        "{\"category\": \"threat_against_staff\", \"urgency\": \"urgent\","
        " \"subject\": {\"kind\": \"employee\", \"age\": 19}, \"setting\": \"workplace\"},"
        "{\"category\": \"returnee\", \"urgency\": \"urgent\","
        " \"subject\": {\"kind\": \"unknown\", \"age_band\": \"21+\"}, \"setting\": \"other\","
        " \"association_grant\": \"no\", \"relatives_informed\": \"no\"},"
        "{\"category\": \"planned_attack\", \"urgency\": \"urgent\","
        " \"subject\": {\"kind\": \"group\", \"age_band\": \"12-17\"}, \"setting\": \"sports_facility\","
        " \"relatives_informed\": \"yes\"},"
        "{\"category\": \"recruitment\", \"urgency\": \"concern\","
        " \"subject\": {\"kind\": \"child\", \"age_band\": \"0-11\"}, \"setting\": \"social_services\","
        " \"association_grant\": \"unknown\"}"
        "]";

/* The fixed concerns, parsed once. Only their "district" changes per input. */
static json_t *cases;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	json_error_t jerr;

	(void)argc;
	(void)argv;
	cases = json_loads(fixed_concerns, 0, &jerr);
	if (!json_is_array(cases)) {
		fprintf(stderr, "fuzz_ruleset: fixed concerns: line %d: %s\n", jerr.line, jerr.text);
		exit(2);
	}
	return 0;
}

/* Check one element of rules_test_cases(): an error, or a route with a full view. */
static void fuzz_check_result(json_t *r)
{
	json_t *recipients, *rc;
	size_t i;
	bool full = false;

	FUZZ_CHECK(json_is_object(r), "rules_test_cases gave an element that is not an object");
	if (json_object_get(r, "error") != NULL)
		return;
	recipients = json_object_get(r, "recipients");
	FUZZ_CHECK(json_is_array(recipients), "a route without recipients");
	json_array_foreach(recipients, i, rc)
	{
		const char *view = json_string_value(json_object_get(rc, "view"));

		if (view != NULL && strcmp(view, "full") == 0)
			full = true;
	}
	FUZZ_CHECK(full, "a routed concern reached no department with the full view");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules_diags diags = {NULL, 0, 0};
	struct ruleset *rs;
	json_t *out, *c, *r;
	size_t i, n;

	rs = ruleset_parse((const char *)data, size, &diags);
	if (rs == NULL) {
		FUZZ_CHECK(diags.errors > 0, "a ruleset refused without an error diagnostic");
		rules_diags_free(&diags);
		return 0;
	}
	FUZZ_CHECK(diags.errors == 0, "a ruleset accepted with an error diagnostic");
	rules_diags_free(&diags);

	n = ruleset_district_count(rs);
	json_array_foreach(cases, i, c)
	{
		if (n > 0)
			json_object_set_new(c, "district", json_string(ruleset_district(rs, i % n)));
	}
	out = rules_test_cases(rs, cases);
	FUZZ_CHECK(json_is_array(out) && json_array_size(out) == json_array_size(cases),
	           "rules_test_cases gave no element per case");
	json_array_foreach(out, i, r)
	{
		fuzz_check_result(r);
	}
	json_decref(out);
	ruleset_destroy(&rs);
	return 0;
}
