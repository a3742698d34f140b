/*
 * test_rules: the ruleset (rules.c) against STRATEGY.md. Every worked example
 * of STRATEGY.md and at least one case per rule of ruleset version 1 are rows
 * of one table, checked for exact matched rules, recipients (in order, with
 * view, priority, deadline in seconds and disclosure basis), guidance order
 * and fallback. Small inline rulesets test `final`, variants, conditions and
 * every class of validation finding. rules_test_cases() is checked against
 * a golden file (tests/unit/data/solna-v1-expected.json).
 *
 * The strategy owner's tools: action areas (solna-v1.json's 12, and their
 * validation); ruleset_explain() agrees with ruleset_evaluate() on every
 * table row, a sweep of concerns and the whole suite, says which condition
 * failed and where each value came from, and has a golden file
 * (tests/unit/data/solna-v1-explain.json); rules_diff_documents() on a
 * table of changes; and the regression suite sql/strategy/solna-v1-tests.json
 * (hand-derived from STRATEGY.md) passes with rules_check_cases(), covers
 * what it promises, and reports exactly the mismatch of each single change.
 *
 * Runs from the source directory (ctest's WORKING_DIRECTORY).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "concern.h"
#include "rules.h"
#include "vocab.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define SOLNA          "sql/strategy/solna-v1.json"
#define CASES          "tests/unit/data/solna-v1-cases.json"
#define EXPECTED       "tests/unit/data/solna-v1-expected.json"
#define SUITE          "sql/strategy/solna-v1-tests.json"
#define EXPLAIN_GOLDEN "tests/unit/data/solna-v1-explain.json"
#define ROUTING_CASES  "tests/integration/data/routing-cases.json"

#define MIN  60
#define HOUR 3600

/* The disclosure bases of solna-v1.json. */
#define B_ACUTE "Akut fara för liv eller hälsa (acute danger to life or health)"
#define B_CRIME "Misstanke om brott (suspected crime)"
#define B_CHILD "Skydd av barn (protection of a child)"

static struct ruleset *solna;

static int setup_solna(void **state)
{
	struct rules_diags d = {NULL, 0, 0};

	(void)state;
	solna = ruleset_load_file(SOLNA, &d);
	if (solna == NULL || d.count != 0) {
		size_t i;

		for (i = 0; i < d.count; i++)
			fprintf(stderr, "%s %s %s\n", d.items[i].code, d.items[i].field, d.items[i].message);
		rules_diags_free(&d);
		return -1;
	}
	rules_diags_free(&d);
	return 0;
}

static int teardown_solna(void **state)
{
	(void)state;
	ruleset_destroy(&solna);
	ruleset_destroy(&solna); /* twice is safe */
	return 0;
}

/* Parse, validate (routing only) and evaluate one concern document. */
static void route_of(const struct ruleset *rs, const char *json, struct route *r)
{
	struct concern c;
	struct oro_error err;

	memset(&c, 0, sizeof c);
	memset(&err, 0, sizeof err);
	if (concern_parse(json, strlen(json), &c, &err) < 0 || concern_validate(&c, rs, CONCERN_ROUTING_ONLY, &err) < 0)
		fail_msg("concern %s: %s %s %s", json, err.code, err.field, err.message);
	ruleset_evaluate(rs, &c, r);
	concern_clear(&c);
}

/* A concern with defaults for what a case leaves out. */
#define CONCERN(cat, urg, subject, setting, extra)                                                                \
	"{\"category\": \"" cat "\", \"urgency\": \"" urg "\", \"subject\": " subject ", \"setting\": \"" setting \
	"\", \"district\": \"Hagalund\"" extra "}"

struct want_rc {
	const char *dept;
	enum view view;
	enum priority prio;
	int64_t ack;
	const char *basis;
};

struct route_case {
	const char *what;
	const char *concern;
	int matched[14];       /* 0-terminated */
	struct want_rc rc[10]; /* dept NULL terminates */
	int guidance[14];      /* rule positions in reply order, 0-terminated */
	bool fallback;
	const char *first_sv; /* optional: the reply's guidance starts so */
};

/* Compare r with the expectation of c. */
static void check_route(const struct route_case *c, const struct route *r)
{
	size_t i, n;

	for (n = 0; c->matched[n]; n++)
		;
	if (r->n_matched != n)
		fail_msg("%s: %zu rules matched, want %zu", c->what, r->n_matched, n);
	for (i = 0; i < n; i++)
		if (r->matched[i] != c->matched[i])
			fail_msg("%s: matched[%zu] = %d, want %d", c->what, i, r->matched[i], c->matched[i]);
	for (n = 0; c->rc[n].dept; n++)
		;
	if (r->n_recipients != n)
		fail_msg("%s: %zu recipients, want %zu", c->what, r->n_recipients, n);
	for (i = 0; i < n; i++) {
		const struct route_recipient *g = &r->recipients[i];
		const struct want_rc *w = &c->rc[i];

		if (strcmp(g->department, w->dept) != 0 || g->view != w->view || g->priority != w->prio ||
		    g->ack_within != w->ack)
			fail_msg("%s: recipient %zu is %s %s %s %lld, want %s %s %s %lld", c->what, i, g->department,
			         view_names[g->view], priority_names[g->priority], (long long)g->ack_within, w->dept,
			         view_names[w->view], priority_names[w->prio], (long long)w->ack);
		if ((g->disclosure_basis == NULL) != (w->basis == NULL) ||
		    (w->basis && strcmp(g->disclosure_basis, w->basis) != 0))
			fail_msg("%s: %s basis \"%s\", want \"%s\"", c->what, w->dept,
			         g->disclosure_basis ? g->disclosure_basis : "(null)", w->basis ? w->basis : "(null)");
	}
	for (n = 0; c->guidance[n]; n++)
		;
	if (r->n_guidance != n)
		fail_msg("%s: %zu guidance texts, want %zu", c->what, r->n_guidance, n);
	for (i = 0; i < n; i++) {
		if (r->guidance[i].rule != c->guidance[i])
			fail_msg("%s: guidance[%zu] from rule %d, want %d", c->what, i, r->guidance[i].rule,
			         c->guidance[i]);
		assert_non_null(r->guidance[i].sv);
		assert_non_null(r->guidance[i].en);
		if (i > 0)
			assert_true(r->guidance[i - 1].priority <= r->guidance[i].priority);
	}
	if (r->fallback != c->fallback)
		fail_msg("%s: fallback %d, want %d", c->what, r->fallback, c->fallback);
	if (c->first_sv != NULL && (r->n_guidance == 0 || strncmp(r->guidance[0].sv, c->first_sv, strlen(c->first_sv))))
		fail_msg("%s: guidance does not start with \"%s\"", c->what, c->first_sv);
}

#define FULL   VIEW_FULL
#define NOTICE VIEW_NOTICE
#define P0     PRIO_P0
#define P1     PRIO_P1
#define P2     PRIO_P2
#define P3     PRIO_P3

/* STRATEGY.md's worked examples and one or more cases per rule. */
static const struct route_case solna_cases[] = {
        /* ---- worked examples ---- */
        {"example 1: 15-year-old in school, travel to a conflict zone",
         CONCERN("travel_conflict_zone", "concern", "{\"kind\": \"child\", \"age\": 15}", "school", ""),
         {3, 6, 12, 13},
         {{"soc-barn", FULL, P1, 4 * HOUR, NULL},
          {"polis", FULL, P1, 4 * HOUR, B_CRIME},
          {"slf-sakerhet", FULL, P1, 4 * HOUR, NULL},
          {"buf", NOTICE, P2, 72 * HOUR, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {3, 6, 13},
         false,
         "Du är skyldig att anmäla genast"},
        {"example 2: adult posts propaganda online",
         CONCERN("propaganda", "concern", "{\"kind\": \"adult\"}", "online", ""),
         {5, 13},
         {{"slf-samordnare", FULL, P2, 72 * HOUR, NULL}},
         {5, 13},
         false,
         "Misstänker du brott"},
        {"example 3: stickers in a park, no person",
         CONCERN("extremist_symbols", "concern", "{\"kind\": \"material\"}", "public_space", ""),
         {11, 13},
         {{"slf-samordnare", FULL, P3, 120 * HOUR, NULL}},
         {11, 13},
         false,
         "Notera tid"},
        {"example 4: association with grants invites a violent speaker",
         CONCERN("violent_rhetoric", "concern", "{\"kind\": \"association\"}", "leisure",
                 ", \"association_grant\": \"yes\""),
         {10, 13},
         {{"akf", FULL, P2, 120 * HOUR, NULL}, {"slf-samordnare", NOTICE, P2, 120 * HOUR, NULL}},
         {10, 13},
         false,
         "Ange föreningens namn"},
        {"example 5: acute, adult",
         CONCERN("other", "acute", "{\"kind\": \"adult\", \"age\": 35}", "public_space", ""),
         {1, 5, 13},
         {{"polis", FULL, P0, 15 * MIN, B_ACUTE},
          {"slf-sakerhet", FULL, P0, 15 * MIN, NULL},
          {"slf-samordnare", FULL, P2, 72 * HOUR, NULL}},
         {1, 5, 13},
         false,
         "Ring 112 nu"},
        {"example 5: acute, unknown subject",
         CONCERN("extremist_contacts", "acute", "{\"kind\": \"unknown\"}", "online", ""),
         {1, 13},
         {{"polis", FULL, P0, 15 * MIN, B_ACUTE},
          {"slf-sakerhet", FULL, P0, 15 * MIN, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {1, 13},
         false,
         "Ring 112 nu"},
        /* ---- rule 1 acute-danger ---- */
        {"rule 1: planned attack, not acute",
         CONCERN("planned_attack", "urgent", "{\"kind\": \"group\"}", "online", ""),
         {1, 13},
         {{"polis", FULL, P0, 15 * MIN, B_ACUTE},
          {"slf-sakerhet", FULL, P0, 15 * MIN, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {1, 13},
         false,
         "Ring 112 nu"},
        /* ---- rule 2 acute-child ---- */
        {"rule 2: acute, child of 9",
         CONCERN("violent_rhetoric", "acute", "{\"kind\": \"child\", \"age\": 9}", "school", ""),
         {1, 2, 3, 12, 13},
         {{"polis", FULL, P0, 15 * MIN, B_ACUTE},
          {"slf-sakerhet", FULL, P0, 15 * MIN, NULL},
          {"soc-barn", FULL, P0, 15 * MIN, NULL},
          {"buf", NOTICE, P2, 72 * HOUR, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {1, 3, 13},
         false,
         "Ring 112 nu"},
        {"rule 2: acute, age band 0-11 of unknown kind",
         CONCERN("other", "acute", "{\"kind\": \"unknown\", \"age_band\": \"0-11\"}", "leisure", ""),
         {1, 2, 3, 13},
         {{"polis", FULL, P0, 15 * MIN, B_ACUTE},
          {"slf-sakerhet", FULL, P0, 15 * MIN, NULL},
          {"soc-barn", FULL, P0, 15 * MIN, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {1, 3, 13},
         false,
         NULL},
        /* ---- rule 3 child ---- */
        {"rule 3: child by age band, P2 category",
         CONCERN("propaganda", "concern", "{\"kind\": \"unknown\", \"age_band\": \"12-17\"}", "online", ""),
         {3, 13},
         {{"soc-barn", FULL, P2, 24 * HOUR, NULL}, {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {3, 13},
         false,
         NULL},
        {"rule 3: child without age, P2 category",
         CONCERN("returnee", "urgent", "{\"kind\": \"child\"}", "social_services", ""),
         {3, 13},
         {{"soc-barn", FULL, P2, 24 * HOUR, NULL}, {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {3, 13},
         false,
         NULL},
        {"rule 3: an adult aged 15 is a child; weapons gives P1 4 h",
         CONCERN("weapons", "concern", "{\"kind\": \"adult\", \"age\": 15}", "sports_facility", ""),
         {3, 6, 13},
         {{"soc-barn", FULL, P1, 4 * HOUR, NULL},
          {"polis", FULL, P1, 4 * HOUR, B_CRIME},
          {"slf-sakerhet", FULL, P1, 4 * HOUR, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {3, 6, 13},
         false,
         NULL},
        /* ---- rule 4 young-adult ---- */
        {"rule 4: adult of 19",
         CONCERN("extremist_contacts", "concern", "{\"kind\": \"adult\", \"age\": 19}", "leisure", ""),
         {4, 13},
         {{"soc-vuxen", FULL, P2, 48 * HOUR, NULL}, {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {4, 13},
         false,
         "Vuxna kan inte utredas"},
        /* ---- rule 5 adult ---- */
        {"rule 5: age band 21+ of unknown kind",
         CONCERN("returnee", "concern", "{\"kind\": \"unknown\", \"age_band\": \"21+\"}", "other", ""),
         {5, 13},
         {{"slf-samordnare", FULL, P2, 72 * HOUR, NULL}},
         {5, 13},
         false,
         NULL},
        {"rule 5: adult with age band unknown given",
         CONCERN("returnee", "concern", "{\"kind\": \"adult\", \"age_band\": \"unknown\"}", "other", ""),
         {5, 13},
         {{"slf-samordnare", FULL, P2, 72 * HOUR, NULL}},
         {5, 13},
         false,
         NULL},
        /* ---- rule 6 crime-indicators ---- */
        {"rule 6: financing by a group",
         CONCERN("financing", "urgent", "{\"kind\": \"group\"}", "online", ""),
         {6, 13},
         {{"polis", FULL, P1, 4 * HOUR, B_CRIME},
          {"slf-sakerhet", FULL, P1, 4 * HOUR, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {6, 13},
         false,
         "Kontakta polisen"},
        {"rules 1, 5, 6: acute weapons, adult: two bases, guidance by priority",
         CONCERN("weapons", "acute", "{\"kind\": \"adult\", \"age\": 40}", "public_space", ""),
         {1, 5, 6, 13},
         {{"polis", FULL, P0, 15 * MIN, B_ACUTE "; " B_CRIME},
          {"slf-sakerhet", FULL, P0, 15 * MIN, NULL},
          {"slf-samordnare", FULL, P2, 72 * HOUR, NULL}},
         {1, 6, 5, 13},
         false,
         "Ring 112 nu"},
        /* ---- rule 7 recruitment-of-minors ---- */
        {"rule 7: recruitment of a child of 14",
         CONCERN("recruitment", "concern", "{\"kind\": \"child\", \"age\": 14}", "leisure", ""),
         {3, 7, 13},
         {{"soc-barn", FULL, P1, 4 * HOUR, NULL},
          {"polis", FULL, P1, 4 * HOUR, B_CHILD},
          {"slf-sakerhet", NOTICE, P1, 4 * HOUR, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {3, 13},
         false,
         NULL},
        {"rules 1, 2, 3, 7, 12: acute recruitment of a child at school",
         CONCERN("recruitment", "acute", "{\"kind\": \"child\", \"age\": 16}", "school", ""),
         {1, 2, 3, 7, 12, 13},
         {{"polis", FULL, P0, 15 * MIN, B_ACUTE "; " B_CHILD},
          {"slf-sakerhet", FULL, P0, 15 * MIN, NULL},
          {"soc-barn", FULL, P0, 15 * MIN, NULL},
          {"buf", NOTICE, P2, 72 * HOUR, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {1, 3, 13},
         false,
         "Ring 112 nu"},
        {"rule 7 not for an adult recruiter",
         CONCERN("recruitment", "concern", "{\"kind\": \"adult\", \"age\": 30}", "online", ""),
         {5, 13},
         {{"slf-samordnare", FULL, P2, 72 * HOUR, NULL}},
         {5, 13},
         false,
         NULL},
        /* ---- rule 8 threat-against-staff ---- */
        {"rule 8: threat against staff",
         CONCERN("threat_against_staff", "urgent", "{\"kind\": \"unknown\"}", "workplace", ""),
         {8, 13},
         {{"slf-sakerhet", FULL, P1, 8 * HOUR, NULL},
          {"hr", FULL, P1, 8 * HOUR, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {8, 13},
         false,
         "Sätt dig i säkerhet"},
        /* ---- rule 9 employee ---- */
        {"rule 9: employee without age",
         CONCERN("other", "concern", "{\"kind\": \"employee\"}", "workplace", ""),
         {9, 13},
         {{"hr", FULL, P1, 24 * HOUR, NULL},
          {"slf-sakerhet", FULL, P1, 24 * HOUR, NULL},
          {"slf-samordnare", NOTICE, P3, 120 * HOUR, NULL}},
         {13},
         false,
         NULL},
        {"rules 5, 9: employee of 45",
         CONCERN("violent_rhetoric", "concern", "{\"kind\": \"employee\", \"age\": 45}", "workplace", ""),
         {5, 9, 13},
         {{"slf-samordnare", FULL, P2, 72 * HOUR, NULL},
          {"hr", FULL, P1, 24 * HOUR, NULL},
          {"slf-sakerhet", FULL, P1, 24 * HOUR, NULL}},
         {5, 13},
         false,
         NULL},
        /* ---- rule 10 association ---- */
        {"rule 10: association activity by a group",
         CONCERN("association_activity", "concern", "{\"kind\": \"group\"}", "sports_facility",
                 ", \"association_grant\": \"unknown\""),
         {10, 13},
         {{"akf", FULL, P2, 120 * HOUR, NULL}, {"slf-samordnare", NOTICE, P2, 120 * HOUR, NULL}},
         {10, 13},
         false,
         NULL},
        /* ---- rule 11 material-only ---- */
        {"rule 11: propaganda material at school",
         CONCERN("propaganda", "urgent", "{\"kind\": \"material\"}", "school", ""),
         {11, 12, 13},
         {{"slf-samordnare", FULL, P3, 120 * HOUR, NULL}, {"buf", NOTICE, P2, 72 * HOUR, NULL}},
         {11, 13},
         false,
         NULL},
        /* ---- rule 12 school, and the fallback ---- */
        {"rule 12: group at school: notices only, so the fallback",
         CONCERN("other", "concern", "{\"kind\": \"group\"}", "school", ""),
         {12, 13},
         {{"buf", NOTICE, P2, 72 * HOUR, NULL}, {"slf-samordnare", FULL, P2, 24 * HOUR, NULL}},
         {13},
         true,
         "Anhöriga kan få stöd"},
        /* ---- rule 13 situation-picture ---- */
        {"rule 13 only: the coordinator ends full P2 24 h",
         CONCERN("other", "concern", "{\"kind\": \"group\"}", "online", ""),
         {13},
         {{"slf-samordnare", FULL, P2, 24 * HOUR, NULL}},
         {13},
         true,
         "Anhöriga kan få stöd"},
        {"rule 13 only: unknown subject, symbols",
         "{\"category\": \"extremist_symbols\", \"urgency\": \"urgent\", \"subject\":"
         " {\"kind\": \"unknown\"}, \"setting\": \"public_space\", \"district\": \"okänt\"}",
         {13},
         {{"slf-samordnare", FULL, P2, 24 * HOUR, NULL}},
         {13},
         true,
         NULL},
};

static void test_solna_table(void **state)
{
	struct route r;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof r);
	for (i = 0; i < NELEM(solna_cases); i++) {
		route_of(solna, solna_cases[i].concern, &r);
		check_route(&solna_cases[i], &r);
	}
	route_free(&r);
	route_free(&r);
}

/* Every rule of version 1 is in STRATEGY.md's order and matched somewhere. */
static void test_solna_shape(void **state)
{
	static const char *const names[] = {
	        "acute-danger",
	        "acute-child",
	        "child",
	        "young-adult",
	        "adult",
	        "crime-indicators",
	        "recruitment-of-minors",
	        "threat-against-staff",
	        "employee",
	        "association",
	        "material-only",
	        "school",
	        "situation-picture",
	};
	static const struct {
		const char *code, *escalates_to;
		bool basis;
	} depts[] = {
	        {"soc-barn", "socialjour", false},     {"soc-vuxen", "slf-samordnare", false},
	        {"socialjour", "slf-sakerhet", false}, {"polis", "slf-sakerhet", true},
	        {"buf", "slf-samordnare", false},      {"akf", "slf-samordnare", false},
	        {"hr", "slf-sakerhet", false},         {"slf-sakerhet", "slf-samordnare", false},
	        {"slf-samordnare", NULL, false},
	};
	static const char *const districts[] = {
	        "Arenastaden", "Bergshamra", "Frösunda",      "Hagalund",  "Hagastaden",    "Huvudsta", "Järva",
	        "Råsunda",     "Skytteholm", "Solna centrum", "Ulriksdal", "Västra Skogen", "okänt",
	};
	bool seen[14] = {false};
	struct route r;
	size_t i, j;

	(void)state;
	assert_int_equal(ruleset_rule_count(solna), NELEM(names));
	for (i = 0; i < NELEM(names); i++)
		assert_string_equal(ruleset_rule_name(solna, i + 1), names[i]);
	assert_null(ruleset_rule_name(solna, 0));
	assert_null(ruleset_rule_name(solna, NELEM(names) + 1));
	assert_int_equal(ruleset_department_count(solna), NELEM(depts));
	for (i = 0; i < NELEM(depts); i++) {
		const struct department *d = ruleset_department(solna, i);

		assert_string_equal(d->code, depts[i].code);
		assert_true(d->name != NULL && d->name[0] != '\0');
		if (depts[i].escalates_to == NULL)
			assert_null(d->escalates_to);
		else
			assert_string_equal(d->escalates_to, depts[i].escalates_to);
		assert_int_equal(d->disclosure_basis_required, depts[i].basis);
		assert_ptr_equal(ruleset_department_find(solna, depts[i].code), d);
	}
	assert_null(ruleset_department(solna, NELEM(depts)));
	assert_null(ruleset_department_find(solna, "police"));
	assert_null(ruleset_department_find(solna, NULL));
	assert_int_equal(ruleset_district_count(solna), NELEM(districts));
	for (i = 0; i < NELEM(districts); i++) {
		assert_string_equal(ruleset_district(solna, i), districts[i]);
		assert_int_equal(ruleset_district_index(solna, districts[i]), (int)i);
	}
	assert_null(ruleset_district(solna, NELEM(districts)));
	assert_int_equal(ruleset_district_index(solna, "Sundbyberg"), -1);
	assert_int_equal(ruleset_district_index(solna, NULL), -1);
	assert_int_equal(ruleset_version(solna), 0);
	ruleset_set_version(solna, 1);
	assert_int_equal(ruleset_version(solna), 1);
	assert_non_null(strstr(ruleset_name(solna), "Solna"));

	/* the table above exercises every rule */
	memset(&r, 0, sizeof r);
	for (i = 0; i < NELEM(solna_cases); i++) {
		route_of(solna, solna_cases[i].concern, &r);
		for (j = 0; j < r.n_matched; j++)
			seen[r.matched[j]] = true;
	}
	for (i = 1; i <= NELEM(names); i++)
		if (!seen[i])
			fail_msg("rule %zu is never matched by the table", i);
	route_free(&r);
}

/* Any acute case starts its guidance with "Ring 112 nu", whatever else. */
static void test_acute_guidance_first(void **state)
{
	struct route r;
	size_t cat, kind, set;
	char doc[512];

	(void)state;
	memset(&r, 0, sizeof r);
	for (cat = 0; cat < CAT_COUNT; cat++)
		for (kind = 0; kind < KIND_COUNT; kind++)
			for (set = 0; set < SET_COUNT; set++) {
				snprintf(doc, sizeof doc,
				         "{\"category\": \"%s\", \"urgency\": \"acute\","
				         " \"subject\": {\"kind\": \"%s\"}, \"setting\": \"%s\","
				         " \"district\": \"Järva\"}",
				         category_names[cat], subject_kind_names[kind], setting_names[set]);
				route_of(solna, doc, &r);
				assert_true(r.n_guidance > 0);
				if (strncmp(r.guidance[0].sv, "Ring 112 nu", 11) != 0)
					fail_msg("%s", doc);
				assert_int_equal(r.guidance[0].priority, PRIO_P0);
				assert_int_equal(r.matched[0], 1);
				/* the police always has its basis */
				assert_string_equal(r.recipients[0].department, "polis");
				assert_non_null(r.recipients[0].disclosure_basis);
				assert_false(r.fallback);
			}
	route_free(&r);
}

/* Properties of one routing decision that hold for every concern: nothing
 * unrouted, a full view for someone, the police's full view always with a
 * basis, notice never with a basis, each department once, guidance in
 * priority order without repeats, rule 13 always matched. */
static void check_invariants(const char *doc, struct route *r)
{
	bool full = false;
	size_t i, j;

	route_of(solna, doc, r);
	assert_true(r->n_recipients > 0);
	assert_int_equal(r->matched[r->n_matched - 1], 13);
	for (i = 0; i < r->n_recipients; i++) {
		const struct route_recipient *rc = &r->recipients[i];

		full |= rc->view == VIEW_FULL;
		if (rc->view == VIEW_NOTICE)
			assert_null(rc->disclosure_basis);
		if (rc->view == VIEW_FULL && strcmp(rc->department, "polis") == 0)
			assert_non_null(rc->disclosure_basis);
		assert_true(rc->ack_within > 0);
		for (j = 0; j < i; j++)
			assert_string_not_equal(rc->department, r->recipients[j].department);
	}
	assert_true(full);
	for (i = 1; i < r->n_guidance; i++) {
		assert_true(r->guidance[i - 1].priority <= r->guidance[i].priority);
		if (r->guidance[i - 1].priority == r->guidance[i].priority)
			assert_true(r->guidance[i - 1].rule < r->guidance[i].rule);
	}
	for (i = 0; i < r->n_guidance; i++)
		for (j = 0; j < i; j++)
			assert_ptr_not_equal(r->guidance[i].sv, r->guidance[j].sv);
}

/* check_invariants() over every category, urgency, kind, setting and a
 * spread of ages. */
static void test_solna_invariants(void **state)
{
	static const char *const ages[] = {
	        "", ", \"age\": 5", ", \"age\": 15", ", \"age\": 19", ", \"age\": 60", ", \"age_band\": \"12-17\""};
	struct route r;
	size_t n, cat, urg, kind, set, age;
	char doc[512];

	(void)state;
	memset(&r, 0, sizeof r);
	for (n = 0; n < CAT_COUNT * URG_COUNT * KIND_COUNT * SET_COUNT * NELEM(ages); n++) {
		cat = n % CAT_COUNT;
		urg = n / CAT_COUNT % URG_COUNT;
		kind = n / (CAT_COUNT * URG_COUNT) % KIND_COUNT;
		set = n / (CAT_COUNT * URG_COUNT * KIND_COUNT) % SET_COUNT;
		age = n / (CAT_COUNT * URG_COUNT * KIND_COUNT * SET_COUNT);
		if (kind == KIND_CHILD && (age == 3 || age == 4))
			continue; /* a child of 19 or 60 is refused by validation */
		snprintf(doc, sizeof doc,
		         "{\"category\": \"%s\", \"urgency\": \"%s\", \"subject\":"
		         " {\"kind\": \"%s\"%s}, \"setting\": \"%s\", \"district\": \"Råsunda\"}",
		         category_names[cat], urgency_names[urg], subject_kind_names[kind], ages[age],
		         setting_names[set]);
		check_invariants(doc, &r);
	}
	route_free(&r);
}

/* After the first evaluation the route does not allocate: its arrays stay. */
static void test_route_warm(void **state)
{
	struct route r;
	void *m, *rc, *g, *b;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof r);
	route_of(solna, solna_cases[0].concern, &r);
	m = r.matched;
	rc = r.recipients;
	g = r.guidance;
	b = r.basis_buf;
	assert_true(r.cap_matched >= ruleset_rule_count(solna));
	assert_true(r.cap_recipients >= ruleset_department_count(solna));
	for (i = 0; i < NELEM(solna_cases); i++) {
		route_of(solna, solna_cases[i].concern, &r);
		check_route(&solna_cases[i], &r);
		assert_ptr_equal(r.matched, m);
		assert_ptr_equal(r.recipients, rc);
		assert_ptr_equal(r.guidance, g);
		assert_ptr_equal(r.basis_buf, b);
	}
	route_free(&r);
	assert_null(r.matched);
	assert_int_equal(r.cap_matched, 0);
}

/* ---- small inline rulesets ---- */

#define T_DEPTS                                                                                 \
	"\"departments\": [{\"code\": \"a\", \"name\": \"A\", \"disclosure_basis_required\":"   \
	" true, \"escalates_to\": \"c\"}, {\"code\": \"b\", \"name\": \"B\", \"escalates_to\":" \
	" \"c\"}, {\"code\": \"c\", \"name\": \"C\", \"escalates_to\": null}]"
#define T_DISTRICTS  "\"districts\": [\"North\", \"South\"]"
#define T_FALLBACK   "\"fallback\": {\"department\": \"c\", \"priority\": \"P2\", \"ack_within\": \"1d\"}"
#define T_HEAD       "\"oro_ruleset\": 1, \"name\": \"test\", " T_DEPTS ", " T_DISTRICTS ", " T_FALLBACK
#define T_DOC(rules) "{" T_HEAD ", \"rules\": [" rules "]}"
#define T_RC(d, v)   "{\"department\": \"" d "\", \"view\": \"" v "\"}"
#define T_RULE(name, when, rcs, prio, ack, more)                                                        \
	"{\"name\": \"" name "\", \"when\": " when ", \"recipients\": [" rcs "], \"priority\": \"" prio \
	"\", \"ack_within\": \"" ack "\"" more "}"
#define T_OK T_RULE("r1", "{}", T_RC("b", "full"), "P1", "1h", "")

/* Parse text; asserts it is valid with exactly n_warnings warnings. */
static struct ruleset *parse_ok(const char *text, size_t n_warnings)
{
	struct rules_diags d = {NULL, 0, 0};
	struct ruleset *rs = ruleset_parse(text, strlen(text), &d);
	size_t i;

	if (rs == NULL || d.count != n_warnings) {
		for (i = 0; i < d.count; i++)
			fprintf(stderr, "  %s %s %s\n", d.items[i].code, d.items[i].field, d.items[i].message);
		fail_msg("%zu findings, want %zu warnings: %s", d.count, n_warnings, text);
	}
	rules_diags_free(&d);
	return rs;
}

/* A concern for the inline rulesets; T_CONCERN() takes the defaults. */
#define TC(cat, urg, subject, district, extra)                                        \
	"{\"category\": \"" cat "\", \"urgency\": \"" urg "\", \"subject\": " subject \
	", \"setting\": \"online\", \"district\": \"" district "\"" extra "}"
#define ADULT            "{\"kind\": \"adult\"}"
#define T_CONCERN(extra) TC("other", "concern", ADULT, "North", extra)

/* Three rules, the first final for district North (test_final, test_explain). */
#define T_FINAL_DOC                                                                                                     \
	T_DOC(T_RULE(                                                                                                   \
	        "stop-north", "{\"district\": [\"North\"]}", T_RC("b", "notice"), "P1", "1h",                           \
	        ", \"final\": true, \"guidance\": {\"sv\": \"N\", \"en\": \"N\"}") "," T_RULE("all", "{}",              \
	                                                                                      T_RC("b", "full"), "P2",  \
	                                                                                      "2h",                     \
	                                                                                      "") "," T_RULE("all-c",   \
	                                                                                                     "{}",      \
	                                                                                                     T_RC("c",  \
	                                                                                                          "no"  \
	                                                                                                          "ti"  \
	                                                                                                          "c"   \
	                                                                                                          "e"), \
	                                                                                                     "P3",      \
	                                                                                                     "3h",      \
	                                                                                                     ", "       \
	                                                                                                     "\"final"  \
	                                                                                                     "\": "     \
	                                                                                                     "false"))

/* `final` stops evaluation after a matching rule; not after one that
 * did not match; the fallback still applies. */
static void test_final(void **state)
{
	static const char doc[] = T_FINAL_DOC;
	static const struct route_case cases[] = {
	        {"north: final matched",
	         T_CONCERN(""),
	         {1},
	         {{"b", NOTICE, P1, HOUR, NULL}, {"c", FULL, P2, 86400, NULL}},
	         {1},
	         true,
	         "N"},
	        {"south: final did not match",
	         TC("other", "concern", ADULT, "South", ""),
	         {2, 3},
	         {{"b", FULL, P2, 2 * HOUR, NULL}, {"c", NOTICE, P3, 3 * HOUR, NULL}},
	         {0},
	         false,
	         NULL},
	};
	struct ruleset *rs = parse_ok(doc, 0);
	struct route r;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof r);
	for (i = 0; i < NELEM(cases); i++) {
		route_of(rs, cases[i].concern, &r);
		check_route(&cases[i], &r);
	}
	route_free(&r);
	ruleset_destroy(&rs);
}

/* Conditions of every kind (test_conditions, test_explain). */
#define T_COND_DOC                                                                                             \
	T_DOC(/* 1 */ T_RULE("teen", "{\"age\": {\"min\": 13, \"max\": 15}}", T_RC("a", "notice"), "P3", "1h", \
	                     "") "," /* 2 */ T_RULE("grant", "{\"association_grant\": [\"yes\"]}",             \
	                                            T_RC("b", "notice"), "P3", "1h", "") "," /* 3 */           \
	      T_RULE("south-online", "{\"district\": [\"South\"], \"setting\": [\"online\", \"school\"]}",     \
	             T_RC("c", "notice"), "P3", "1h", "") "," /* 4 */                                          \
	      T_RULE("nested",                                                                                 \
	             "{\"urgency\": [\"urgent\"], \"any\": [{\"category\": [\"weapons\"]},"                    \
	             " {\"any\": [{\"subject_kind\": [\"group\"]}, {\"age\": {\"min\": 70}}]}]}",              \
	             T_RC("b", "full"), "P2", "10h",                                                           \
	             ", \"variants\": [{\"when\": {\"category\": [\"weapons\"]},"                              \
	             " \"priority\": \"P0\"}, {\"when\": {\"subject_kind\": [\"group\"]},"                     \
	             " \"ack_within\": 60}, {\"when\": {}, \"priority\": \"P3\"}]") "," /* 5 */                \
	      T_RULE("old", "{\"age\": {\"max\": 2}}", T_RC("c", "notice"), "P3", "1h", ""))

/* Conditions: each attribute, age ranges, grant, districts, nested any,
 * and variants (first match wins; what a variant leaves out is the rule's). */
static void test_conditions(void **state)
{
	static const char doc[] = T_COND_DOC;
	static const struct route_case cases[] = {
	        {"no age: age rules do not match", T_CONCERN(""), {0}, {{"c", FULL, P2, 86400, NULL}}, {0}, true, NULL},
	        {"age 14",
	         TC("other", "concern", "{\"kind\": \"adult\", \"age\": 14}", "North", ""),
	         {1},
	         {{"a", NOTICE, P3, HOUR, NULL}, {"c", FULL, P2, 86400, NULL}},
	         {0},
	         true,
	         NULL},
	        {"age 16",
	         TC("other", "concern", "{\"kind\": \"adult\", \"age\": 16}", "North", ""),
	         {0},
	         {{"c", FULL, P2, 86400, NULL}},
	         {0},
	         true,
	         NULL},
	        {"age 0 and grant: the fallback merges with a notice",
	         TC("other", "concern", "{\"kind\": \"child\", \"age\": 0}", "North",
	            ", \"association_grant\": \"yes\""),
	         {2, 5},
	         {{"b", NOTICE, P3, HOUR, NULL}, {"c", FULL, P2, HOUR, NULL}},
	         {0},
	         true,
	         NULL},
	        {"south online",
	         TC("other", "concern", ADULT, "South", ""),
	         {3},
	         {{"c", FULL, P2, HOUR, NULL}},
	         {0},
	         true,
	         NULL},
	        {"urgent weapons: first variant",
	         TC("weapons", "urgent", ADULT, "North", ""),
	         {4},
	         {{"b", FULL, P0, 10 * HOUR, NULL}},
	         {0},
	         false,
	         NULL},
	        {"urgent group: second variant",
	         TC("other", "urgent", "{\"kind\": \"group\"}", "North", ""),
	         {4},
	         {{"b", FULL, P2, 60, NULL}},
	         {0},
	         false,
	         NULL},
	        {"urgent, 75: nested age, catch-all variant",
	         TC("other", "urgent", "{\"kind\": \"adult\", \"age\": 75}", "North", ""),
	         {4},
	         {{"b", FULL, P3, 10 * HOUR, NULL}},
	         {0},
	         false,
	         NULL},
	        {"concern weapons: not urgent",
	         TC("weapons", "concern", ADULT, "North", ""),
	         {0},
	         {{"c", FULL, P2, 86400, NULL}},
	         {0},
	         true,
	         NULL},
	};
	struct ruleset *rs = parse_ok(doc, 0);
	struct route r;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof r);
	for (i = 0; i < NELEM(cases); i++) {
		route_of(rs, cases[i].concern, &r);
		check_route(&cases[i], &r);
	}
	route_free(&r);
	ruleset_destroy(&rs);
}

/* Merging: widest view, highest priority, earliest deadline, bases joined
 * in rule order once each; guidance by effective priority, identical texts
 * once (at the most urgent place); recipients in order of first contribution. */
static void test_merge(void **state)
{
	static const char doc[] = T_DOC(
	        /* 1 */ T_RULE("one", "{}", T_RC("c", "notice") ", " T_RC("b", "notice"), "P3", "5h",
	                       ", \"guidance\": {\"sv\": \"Samma\", \"en\": \"Same\"}") ","
	        /* 2 */ T_RULE("two", "{}", "{\"department\": \"a\", \"view\": \"full\", \"disclosure_basis\": \"X\"}",
	                       "P2", "9h", ", \"guidance\": {\"sv\": \"Annan\", \"en\": \"Other\"}") ","
	        /* 3 */ T_RULE("three", "{}",
	                       "{\"department\": \"a\", \"view\": \"full\", \"disclosure_basis\": \"Y\"},"
	                       " {\"department\": \"b\", \"view\": \"full\", \"disclosure_basis\": \"Z\"}",
	                       "P1", "7h", ", \"guidance\": {\"sv\": \"Samma\", \"en\": \"Same\"}") ","
	        /* 4 */ T_RULE("four", "{}", "{\"department\": \"a\", \"view\": \"full\", \"disclosure_basis\": \"X\"}",
	                       "P3", "1h", ", \"guidance\": {\"sv\": \"Samma\", \"en\": \"Not same\"}") ","
	        /* 5 */ T_RULE("five", "{}", "{\"department\": \"c\", \"view\": \"notice\"}", "P0", "8h",
	                       ", \"variants\": [{\"when\": {}, \"priority\": \"P3\"}],"
	                       " \"guidance\": {\"sv\": \"Sist\", \"en\": \"Last\"}"));
	static const struct route_case c = {
	        "merge",
	        T_CONCERN(""),
	        {1, 2, 3, 4, 5},
	        {{"c", NOTICE, P3, 5 * HOUR, NULL}, {"b", FULL, P1, 5 * HOUR, "Z"}, {"a", FULL, P1, HOUR, "X; Y"}},
	        {3, 2, 4, 5},
	        false,
	        "Samma"};
	struct ruleset *rs = parse_ok(doc, 0);
	struct route r;

	(void)state;
	memset(&r, 0, sizeof r);
	route_of(rs, c.concern, &r);
	check_route(&c, &r);
	assert_string_equal(r.guidance[0].en, "Same");
	assert_int_equal(r.guidance[0].priority, PRIO_P1);
	assert_string_equal(r.guidance[2].en, "Not same");
	assert_int_equal(r.guidance[3].priority, PRIO_P3); /* after the variant */
	route_free(&r);
	ruleset_destroy(&rs);
}

/* A fallback with a basis for a department that needs one; it merges with
 * an existing notice and keeps the fallback's basis. */
static void test_fallback_basis(void **state)
{
	static const char doc[] = "{\"oro_ruleset\": 1, \"name\": \"fb\", " T_DEPTS ", " T_DISTRICTS ","
	                          " \"fallback\": {\"department\": \"a\", \"priority\": \"P1\", \"ack_within\": 7200,"
	                          " \"disclosure_basis\": \"Fallback basis\"},"
	                          " \"rules\": [" T_RULE("n", "{}", T_RC("a", "notice"), "P3", "3d", "") "]}";
	static const struct route_case c = {"fallback with basis",
	                                    T_CONCERN(""),
	                                    {1},
	                                    {{"a", FULL, P1, 2 * HOUR, "Fallback basis"}},
	                                    {0},
	                                    true,
	                                    NULL};
	struct ruleset *rs = parse_ok(doc, 0);
	struct route r;

	(void)state;
	memset(&r, 0, sizeof r);
	route_of(rs, c.concern, &r);
	check_route(&c, &r);
	route_free(&r);
	ruleset_destroy(&rs);
}

/* An empty rule list is valid: everything goes to the fallback. */
static void test_no_rules(void **state)
{
	static const struct route_case c = {"no rules", T_CONCERN(""), {0}, {{"c", FULL, P2, 86400, NULL}},
	                                    {0},        true,          NULL};
	struct ruleset *rs = parse_ok(T_DOC(""), 0);
	struct route r;

	(void)state;
	memset(&r, 0, sizeof r);
	route_of(rs, c.concern, &r);
	check_route(&c, &r);
	route_free(&r);
	ruleset_destroy(&rs);
}

/* Durations in every accepted spelling. */
static void test_durations(void **state)
{
	static const struct {
		const char *json;
		int64_t seconds;
	} cases[] = {
	        {"\"30s\"", 30},      {"\"15m\"", 900}, {"\"4h\"", 14400}, {"\"2d\"", 172800},
	        {"\"120h\"", 432000}, {"1", 1},         {"86400", 86400},  {"\"366d\"", 366 * 86400},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		char *doc = xasprintf("{" T_HEAD ", \"rules\": [{\"name\": \"d\", \"recipients\": [" T_RC(
		                              "b", "full") "], \"priority\": \"P1\", \"ack_within\": %s}]}",
		                      cases[i].json);
		struct ruleset *rs = parse_ok(doc, 0);
		struct route r;

		memset(&r, 0, sizeof r);
		route_of(rs, T_CONCERN(""), &r);
		assert_int_equal(r.recipients[0].ack_within, cases[i].seconds);
		route_free(&r);
		ruleset_destroy(&rs);
		free(doc);
	}
}

/* ---- validation ---- */

struct bad_case {
	const char *doc;
	const char *code;
	const char *field;
	int rule;
	bool warning; /* the finding is a warning and the ruleset valid */
};

#define R1(more)                                           \
	T_DOC("{\"name\": \"r1\", \"recipients\": [" T_RC( \
	        "b", "full") "], \"priority\": \"P1\", \"ack_within\": \"1h\"" more "}")
#define RW(when) R1(", \"when\": " when)
#define RR(rcs)  T_DOC("{\"name\": \"r1\", \"recipients\": " rcs ", \"priority\": \"P1\", \"ack_within\": \"1h\"}")
#define RP(prio, ack)                                                                           \
	T_DOC("{\"name\": \"r1\", \"recipients\": [" T_RC("b", "full") "], \"priority\": " prio \
	                                                               ", \"ack_within\": " ack "}")
#define TOP(depts, districts, fallback) \
	"{\"oro_ruleset\": 1, \"name\": \"t\", " depts ", " districts ", " fallback ", \"rules\": [" T_OK "]}"
#define D3(a, b, c)     "\"departments\": [" a ", " b ", " c "]"
#define DEP(code, more) "{\"code\": \"" code "\", \"name\": \"N\"" more "}"

#define T_AREAS      "\"action_areas\": [{\"number\": 1, \"name\": \"One\"}, {\"number\": 2, \"name\": \"Two\"}]"
#define AREAS(areas) "{" T_HEAD ", " areas ", \"rules\": [" T_OK "]}"
#define AREA1(more)  AREAS("\"action_areas\": [{\"number\": 1, \"name\": \"One\"}, " more "]")
#define RA(area)                                                                          \
	"{" T_HEAD ", " T_AREAS ", \"rules\": [{\"name\": \"r1\", \"action_area\": " area \
	", \"recipients\": [" T_RC("b", "full") "], \"priority\": \"P1\", \"ack_within\": \"1h\"}]}"

static const struct bad_case bad_cases[] = {
        /* JSON */
        {"{", ORO_E_INVALID_JSON, "", 0, false},
        {"", ORO_E_INVALID_JSON, "", 0, false},
        {"{\"name\": \"a\", \"name\": \"b\"}", ORO_E_INVALID_JSON, "", 0, false},
        {"{\"name\": \"\xff\"}", ORO_E_INVALID_UTF8, "", 0, false},
        {"[]", ORO_E_WRONG_TYPE, "", 0, false},
        /* top level */
        {"{\"name\": \"t\", " T_DEPTS ", " T_DISTRICTS ", " T_FALLBACK ", \"rules\": []}", ORO_E_MISSING, "oro_ruleset",
         0, false},
        {"{\"oro_ruleset\": 2, \"name\": \"t\", " T_DEPTS ", " T_DISTRICTS ", " T_FALLBACK ", \"rules\": []}",
         ORO_E_INVALID_VALUE, "oro_ruleset", 0, false},
        {"{\"oro_ruleset\": \"1\", \"name\": \"t\", " T_DEPTS ", " T_DISTRICTS ", " T_FALLBACK ", \"rules\": []}",
         ORO_E_WRONG_TYPE, "oro_ruleset", 0, false},
        {"{\"oro_ruleset\": 1, " T_DEPTS ", " T_DISTRICTS ", " T_FALLBACK ", \"rules\": []}", ORO_E_MISSING, "name", 0,
         false},
        {"{\"oro_ruleset\": 1, \"name\": 7, " T_DEPTS ", " T_DISTRICTS ", " T_FALLBACK ", \"rules\": []}",
         ORO_E_WRONG_TYPE, "name", 0, false},
        {"{" T_HEAD ", \"rules\": [], \"colour\": \"red\"}", ORO_E_UNKNOWN_FIELD, "colour", 0, false},
        {"{" T_HEAD ", \"description\": 5, \"rules\": []}", ORO_E_WRONG_TYPE, "description", 0, false},
        {"{" T_HEAD "}", ORO_E_MISSING, "rules", 0, false},
        {"{" T_HEAD ", \"rules\": {}}", ORO_E_WRONG_TYPE, "rules", 0, false},
        /* departments */
        {"{\"oro_ruleset\": 1, \"name\": \"t\", " T_DISTRICTS ", " T_FALLBACK ", \"rules\": []}", ORO_E_MISSING,
         "departments", 0, false},
        {TOP("\"departments\": []", T_DISTRICTS, T_FALLBACK), RULES_E_EMPTY, "departments", 0, false},
        {TOP("\"departments\": {}", T_DISTRICTS, T_FALLBACK), ORO_E_WRONG_TYPE, "departments", 0, false},
        {TOP(D3("\"b\"", DEP("b", ""), DEP("c", "")), T_DISTRICTS, T_FALLBACK), ORO_E_WRONG_TYPE, "departments[0]", 0,
         false},
        {TOP(D3(DEP("a", ", \"colour\": 1"), DEP("b", ""), DEP("c", "")), T_DISTRICTS, T_FALLBACK), ORO_E_UNKNOWN_FIELD,
         "departments[0].colour", 0, false},
        {TOP(D3("{\"name\": \"N\"}", DEP("b", ""), DEP("c", "")), T_DISTRICTS, T_FALLBACK), ORO_E_MISSING,
         "departments[0].code", 0, false},
        {TOP(D3(DEP("a b", ""), DEP("b", ""), DEP("c", "")), T_DISTRICTS, T_FALLBACK), ORO_E_INVALID_VALUE,
         "departments[0].code", 0, false},
        {TOP(D3(DEP("", ""), DEP("b", ""), DEP("c", "")), T_DISTRICTS, T_FALLBACK), ORO_E_INVALID_VALUE,
         "departments[0].code", 0, false},
        {TOP(D3("{\"code\": \"a\"}", DEP("b", ""), DEP("c", "")), T_DISTRICTS, T_FALLBACK), ORO_E_MISSING,
         "departments[0].name", 0, false},
        {TOP(D3(DEP("a", ""), DEP("b", ""), DEP("b", "")), T_DISTRICTS, T_FALLBACK), RULES_E_DUPLICATE,
         "departments[2].code", 0, false},
        {TOP(D3(DEP("a", ", \"escalates_to\": \"zz\""), DEP("b", ""), DEP("c", "")), T_DISTRICTS, T_FALLBACK),
         ORO_E_INVALID_VALUE, "departments[0].escalates_to", 0, false},
        {TOP(D3(DEP("a", ", \"escalates_to\": 3"), DEP("b", ""), DEP("c", "")), T_DISTRICTS, T_FALLBACK),
         ORO_E_WRONG_TYPE, "departments[0].escalates_to", 0, false},
        {TOP(D3(DEP("a", ", \"escalates_to\": \"b\""), DEP("b", ", \"escalates_to\": \"c\""),
                DEP("c", ", \"escalates_to\": \"a\"")),
             T_DISTRICTS, T_FALLBACK),
         RULES_E_CYCLE, "departments[0].escalates_to", 0, false},
        {TOP(D3(DEP("a", ""), DEP("b", ", \"escalates_to\": \"b\""), DEP("c", "")), T_DISTRICTS, T_FALLBACK),
         RULES_E_CYCLE, "departments[1].escalates_to", 0, false},
        {TOP(D3(DEP("a", ", \"disclosure_basis_required\": \"yes\""), DEP("b", ""), DEP("c", "")), T_DISTRICTS,
             T_FALLBACK),
         ORO_E_WRONG_TYPE, "departments[0].disclosure_basis_required", 0, false},
        /* districts */
        {TOP(T_DEPTS, "\"districts\": []", T_FALLBACK), RULES_E_EMPTY, "districts", 0, false},
        {TOP(T_DEPTS, "\"districts\": \"North\"", T_FALLBACK), ORO_E_WRONG_TYPE, "districts", 0, false},
        {TOP(T_DEPTS, "\"districts\": [\"North\", 2]", T_FALLBACK), ORO_E_WRONG_TYPE, "districts[1]", 0, false},
        {TOP(T_DEPTS, "\"districts\": [\"North\", \"\"]", T_FALLBACK), ORO_E_INVALID_VALUE, "districts[1]", 0, false},
        {TOP(T_DEPTS, "\"districts\": [\"North\", \"South\", \"North\"]", T_FALLBACK), RULES_E_DUPLICATE,
         "districts[2]", 0, false},
        {"{\"oro_ruleset\": 1, \"name\": \"t\", " T_DEPTS ", " T_FALLBACK ", \"rules\": []}", ORO_E_MISSING,
         "districts", 0, false},
        /* fallback */
        {"{\"oro_ruleset\": 1, \"name\": \"t\", " T_DEPTS ", " T_DISTRICTS ", \"rules\": []}", ORO_E_MISSING,
         "fallback", 0, false},
        {TOP(T_DEPTS, T_DISTRICTS, "\"fallback\": \"c\""), ORO_E_WRONG_TYPE, "fallback", 0, false},
        {TOP(T_DEPTS, T_DISTRICTS,
             "\"fallback\": {\"department\": \"zz\", \"priority\": \"P2\", \"ack_within\": \"1d\"}"),
         ORO_E_INVALID_VALUE, "fallback.department", 0, false},
        {TOP(T_DEPTS, T_DISTRICTS, "\"fallback\": {\"priority\": \"P2\", \"ack_within\": \"1d\"}"), ORO_E_MISSING,
         "fallback.department", 0, false},
        {TOP(T_DEPTS, T_DISTRICTS,
             "\"fallback\": {\"department\": \"c\", \"priority\": \"P5\", \"ack_within\": \"1d\"}"),
         ORO_E_INVALID_VALUE, "fallback.priority", 0, false},
        {TOP(T_DEPTS, T_DISTRICTS,
             "\"fallback\": {\"department\": \"c\", \"priority\": \"P2\", \"ack_within\": \"soon\"}"),
         ORO_E_INVALID_VALUE, "fallback.ack_within", 0, false},
        {TOP(T_DEPTS, T_DISTRICTS, "\"fallback\": {\"department\": \"c\", \"priority\": \"P2\"}"), ORO_E_MISSING,
         "fallback.ack_within", 0, false},
        {TOP(T_DEPTS, T_DISTRICTS,
             "\"fallback\": {\"department\": \"c\", \"priority\": \"P2\", \"ack_within\": \"1d\","
             " \"view\": \"full\"}"),
         ORO_E_UNKNOWN_FIELD, "fallback.view", 0, false},
        {TOP(T_DEPTS, T_DISTRICTS,
             "\"fallback\": {\"department\": \"a\", \"priority\": \"P2\", \"ack_within\": \"1d\"}"),
         RULES_E_NO_BASIS, "fallback.disclosure_basis", 0, false},
        /* rules: shape */
        {T_DOC("\"r1\""), ORO_E_WRONG_TYPE, "rules[0]", 1, false},
        {R1(", \"colour\": 1"), ORO_E_UNKNOWN_FIELD, "rules[0].colour", 1, false},
        {T_DOC("{\"recipients\": [" T_RC("b", "full") "], \"priority\": \"P1\", \"ack_within\": 60}"), ORO_E_MISSING,
         "rules[0].name", 1, false},
        {T_DOC("{\"name\": \"r 1\", \"recipients\": [" T_RC("b",
                                                            "full") "], \"priority\": \"P1\", \"ack_within\": 60}"),
         ORO_E_INVALID_VALUE, "rules[0].name", 1, false},
        {T_DOC(T_OK ", " T_OK), RULES_E_DUPLICATE, "rules[1].name", 2, false},
        {R1(", \"description\": 5"), ORO_E_WRONG_TYPE, "rules[0].description", 1, false},
        {R1(", \"final\": \"yes\""), ORO_E_WRONG_TYPE, "rules[0].final", 1, false},
        /* conditions */
        {RW("[]"), ORO_E_WRONG_TYPE, "rules[0].when", 1, false},
        {RW("{\"colour\": [\"red\"]}"), ORO_E_UNKNOWN_FIELD, "rules[0].when.colour", 1, false},
        {RW("{\"category\": [\"gossip\"]}"), ORO_E_INVALID_VALUE, "rules[0].when.category[0]", 1, false},
        {RW("{\"category\": \"weapons\"}"), ORO_E_WRONG_TYPE, "rules[0].when.category", 1, false},
        {RW("{\"category\": []}"), RULES_E_EMPTY, "rules[0].when.category", 1, false},
        {RW("{\"category\": [\"weapons\", 3]}"), ORO_E_WRONG_TYPE, "rules[0].when.category[1]", 1, false},
        {RW("{\"urgency\": [\"now\"]}"), ORO_E_INVALID_VALUE, "rules[0].when.urgency[0]", 1, false},
        {RW("{\"subject_kind\": [\"person\"]}"), ORO_E_INVALID_VALUE, "rules[0].when.subject_kind[0]", 1, false},
        {RW("{\"setting\": [\"school\", \"beach\"]}"), ORO_E_INVALID_VALUE, "rules[0].when.setting[1]", 1, false},
        {RW("{\"age_band\": [\"13-19\"]}"), ORO_E_INVALID_VALUE, "rules[0].when.age_band[0]", 1, false},
        {RW("{\"district\": [\"East\"]}"), ORO_E_INVALID_VALUE, "rules[0].when.district[0]", 1, false},
        {RW("{\"association_grant\": [\"true\"]}"), ORO_E_INVALID_VALUE, "rules[0].when.association_grant[0]", 1,
         false},
        {RW("{\"age\": {}}"), ORO_E_MISSING, "rules[0].when.age", 1, false},
        {RW("{\"age\": [1, 2]}"), ORO_E_WRONG_TYPE, "rules[0].when.age", 1, false},
        {RW("{\"age\": {\"min\": \"5\"}}"), ORO_E_WRONG_TYPE, "rules[0].when.age.min", 1, false},
        {RW("{\"age\": {\"max\": 200}}"), ORO_E_OUT_OF_RANGE, "rules[0].when.age.max", 1, false},
        {RW("{\"age\": {\"min\": -1}}"), ORO_E_OUT_OF_RANGE, "rules[0].when.age.min", 1, false},
        {RW("{\"age\": {\"min\": 18, \"max\": 17}}"), ORO_E_OUT_OF_RANGE, "rules[0].when.age", 1, false},
        {RW("{\"age\": {\"min\": 1, \"from\": 2}}"), ORO_E_UNKNOWN_FIELD, "rules[0].when.age.from", 1, false},
        {RW("{\"any\": []}"), RULES_E_EMPTY, "rules[0].when.any", 1, false},
        {RW("{\"any\": [{\"urgency\": [\"acute\"]}, {\"kind\": [\"child\"]}]}"), ORO_E_UNKNOWN_FIELD,
         "rules[0].when.any[1].kind", 1, false},
        {RW("{\"any\": [{\"any\": [{\"setting\": [\"pool\"]}]}]}"), ORO_E_INVALID_VALUE,
         "rules[0].when.any[0].any[0].setting[0]", 1, false},
        {RW("{\"any\": [{\"any\": [{\"any\": [{\"any\": [{\"any\": [{\"any\": [{\"any\": [{\"any\":"
            " [{\"any\": [{}]}]}]}]}]}]}]}]}]}"),
         ORO_E_TOO_LONG, "rules[0].when.any[0].any[0].any[0].any[0].any[0].any[0].any[0].any[0].any", 1, false},
        /* recipients */
        {T_DOC("{\"name\": \"r1\", \"priority\": \"P1\", \"ack_within\": \"1h\"}"), ORO_E_MISSING,
         "rules[0].recipients", 1, false},
        {RR("[]"), RULES_E_EMPTY, "rules[0].recipients", 1, false},
        {RR("[\"b\"]"), ORO_E_WRONG_TYPE, "rules[0].recipients[0]", 1, false},
        {RR("[" T_RC("zz", "full") "]"), ORO_E_INVALID_VALUE, "rules[0].recipients[0].department", 1, false},
        {RR("[{\"view\": \"full\"}]"), ORO_E_MISSING, "rules[0].recipients[0].department", 1, false},
        {RR("[" T_RC("b", "partial") "]"), ORO_E_INVALID_VALUE, "rules[0].recipients[0].view", 1, false},
        {RR("[{\"department\": \"b\"}]"), ORO_E_MISSING, "rules[0].recipients[0].view", 1, false},
        {RR("[" T_RC("b", "full") ", " T_RC("b", "notice") "]"), RULES_E_DUPLICATE, "rules[0].recipients[1].department",
         1, false},
        {RR("[" T_RC("b", "full") ", " T_RC("a", "full") "]"), RULES_E_NO_BASIS,
         "rules[0].recipients[1].disclosure_basis", 1, false},
        {RR("[{\"department\": \"a\", \"view\": \"full\", \"disclosure_basis\": \"\"}]"), ORO_E_INVALID_VALUE,
         "rules[0].recipients[0].disclosure_basis", 1, false},
        {RR("[{\"department\": \"b\", \"view\": \"full\", \"priority\": \"P0\"}]"), ORO_E_UNKNOWN_FIELD,
         "rules[0].recipients[0].priority", 1, false},
        /* priority and deadline */
        {T_DOC("{\"name\": \"r1\", \"recipients\": [" T_RC("b", "full") "], \"ack_within\": 60}"), ORO_E_MISSING,
         "rules[0].priority", 1, false},
        {RP("\"P4\"", "\"1h\""), ORO_E_INVALID_VALUE, "rules[0].priority", 1, false},
        {RP("\"p1\"", "\"1h\""), ORO_E_INVALID_VALUE, "rules[0].priority", 1, false},
        {RP("1", "\"1h\""), ORO_E_WRONG_TYPE, "rules[0].priority", 1, false},
        {T_DOC("{\"name\": \"r1\", \"recipients\": [" T_RC("b", "full") "], \"priority\": \"P1\"}"), ORO_E_MISSING,
         "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "\"0m\""), ORO_E_OUT_OF_RANGE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "0"), ORO_E_OUT_OF_RANGE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "-60"), ORO_E_OUT_OF_RANGE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "\"367d\""), ORO_E_OUT_OF_RANGE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "\"-1h\""), ORO_E_INVALID_VALUE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "\"15 m\""), ORO_E_INVALID_VALUE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "\"15\""), ORO_E_INVALID_VALUE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "\"h\""), ORO_E_INVALID_VALUE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "\"1h30m\""), ORO_E_INVALID_VALUE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "\"4H\""), ORO_E_INVALID_VALUE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "\"99999999999999s\""), ORO_E_INVALID_VALUE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "1.5"), ORO_E_WRONG_TYPE, "rules[0].ack_within", 1, false},
        {RP("\"P1\"", "true"), ORO_E_WRONG_TYPE, "rules[0].ack_within", 1, false},
        /* variants */
        {R1(", \"variants\": {}"), ORO_E_WRONG_TYPE, "rules[0].variants", 1, false},
        {R1(", \"variants\": [5]"), ORO_E_WRONG_TYPE, "rules[0].variants[0]", 1, false},
        {R1(", \"variants\": [{\"priority\": \"P0\"}]"), ORO_E_MISSING, "rules[0].variants[0].when", 1, false},
        {R1(", \"variants\": [{\"when\": {}}]"), ORO_E_MISSING, "rules[0].variants[0]", 1, false},
        {R1(", \"variants\": [{\"when\": {}, \"priority\": \"P9\"}]"), ORO_E_INVALID_VALUE,
         "rules[0].variants[0].priority", 1, false},
        {R1(", \"variants\": [{\"when\": {}, \"ack_within\": \"0s\"}]"), ORO_E_OUT_OF_RANGE,
         "rules[0].variants[0].ack_within", 1, false},
        {R1(", \"variants\": [{\"when\": {\"urgency\": [\"soon\"]}, \"priority\": \"P0\"}]"), ORO_E_INVALID_VALUE,
         "rules[0].variants[0].when.urgency[0]", 1, false},
        {R1(", \"variants\": [{\"when\": {}, \"priority\": \"P0\", \"view\": \"full\"}]"), ORO_E_UNKNOWN_FIELD,
         "rules[0].variants[0].view", 1, false},
        /* guidance */
        {R1(", \"guidance\": \"Ring 112\""), ORO_E_WRONG_TYPE, "rules[0].guidance", 1, false},
        {R1(", \"guidance\": {\"sv\": \"Ring\"}"), ORO_E_MISSING, "rules[0].guidance.en", 1, false},
        {R1(", \"guidance\": {\"sv\": \"\", \"en\": \"Call\"}"), ORO_E_INVALID_VALUE, "rules[0].guidance.sv", 1, false},
        {R1(", \"guidance\": {\"sv\": \"Ring\", \"en\": \"Call\", \"fi\": \"Soita\"}"), ORO_E_UNKNOWN_FIELD,
         "rules[0].guidance.fi", 1, false},
        /* warnings: the ruleset stays valid */
        {T_DOC(T_RULE("stop", "{}", T_RC("b", "full"), "P1", "1h", ", \"final\": true") ", " T_RULE(
                 "never", "{\"urgency\": [\"acute\"]}", T_RC("c", "full"), "P0", "1m", "")),
         RULES_E_UNREACHABLE, "rules[0].final", 1, true},
        {T_DOC(T_RULE("stop", "{\"any\": [{\"urgency\": [\"acute\"]}, {}]}", T_RC("b", "full"), "P1", "1h",
                      ", \"final\": true") ", " T_OK),
         RULES_E_UNREACHABLE, "rules[0].final", 1, true},
        {T_DOC(T_RULE("stop",
                      "{\"district\": [\"North\", \"South\"], \"urgency\": [\"acute\","
                      " \"urgent\", \"concern\"]}",
                      T_RC("b", "full"), "P1", "1h", ", \"final\": true") ", " T_OK),
         RULES_E_UNREACHABLE, "rules[0].final", 1, true},
        {RR("[{\"department\": \"b\", \"view\": \"notice\", \"disclosure_basis\": \"X\"}]"), RULES_E_IGNORED,
         "rules[0].recipients[0].disclosure_basis", 1, true},
        /* action areas */
        {AREAS("\"action_areas\": {}"), ORO_E_WRONG_TYPE, "action_areas", 0, false},
        {AREAS("\"action_areas\": [3]"), ORO_E_WRONG_TYPE, "action_areas[0]", 0, false},
        {AREAS("\"action_areas\": [{\"number\": 1}]"), ORO_E_MISSING, "action_areas[0].name", 0, false},
        {AREAS("\"action_areas\": [{\"name\": \"A\"}]"), ORO_E_MISSING, "action_areas[0].number", 0, false},
        {AREA1("{\"number\": 0, \"name\": \"A\"}"), ORO_E_OUT_OF_RANGE, "action_areas[1].number", 0, false},
        {AREA1("{\"number\": -3, \"name\": \"A\"}"), ORO_E_OUT_OF_RANGE, "action_areas[1].number", 0, false},
        {AREA1("{\"number\": 2147483648, \"name\": \"A\"}"), ORO_E_OUT_OF_RANGE, "action_areas[1].number", 0, false},
        {AREA1("{\"number\": \"2\", \"name\": \"A\"}"), ORO_E_WRONG_TYPE, "action_areas[1].number", 0, false},
        {AREA1("{\"number\": 2.5, \"name\": \"A\"}"), ORO_E_WRONG_TYPE, "action_areas[1].number", 0, false},
        {AREA1("{\"number\": 2, \"name\": \"\"}"), ORO_E_INVALID_VALUE, "action_areas[1].name", 0, false},
        {AREA1("{\"number\": 2, \"name\": 5}"), ORO_E_WRONG_TYPE, "action_areas[1].name", 0, false},
        {AREA1("{\"number\": 2, \"name\": \"A\", \"title\": \"A\"}"), ORO_E_UNKNOWN_FIELD, "action_areas[1].title", 0,
         false},
        {AREA1("{\"number\": 1, \"name\": \"A\"}"), RULES_E_DUPLICATE, "action_areas[1].number", 0, false},
        {AREA1("{\"number\": 2, \"name\": \"One\"}"), RULES_E_DUPLICATE, "action_areas[1].name", 0, false},
        {RA("3"), ORO_E_INVALID_VALUE, "rules[0].action_area", 1, false},
        {RA("0"), ORO_E_INVALID_VALUE, "rules[0].action_area", 1, false},
        {RA("-1"), ORO_E_INVALID_VALUE, "rules[0].action_area", 1, false},
        {RA("\"1\""), ORO_E_WRONG_TYPE, "rules[0].action_area", 1, false},
        {RA("null"), ORO_E_WRONG_TYPE, "rules[0].action_area", 1, false},
        {RA("1.0"), ORO_E_WRONG_TYPE, "rules[0].action_area", 1, false},
        {R1(", \"action_area\": 1"), ORO_E_INVALID_VALUE, "rules[0].action_area", 1, false},
};

/* Each bad document gives (at least) the expected finding, with rule
 * position and name; an error makes the ruleset NULL, a warning does not. */
static void test_validation_table(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < NELEM(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct rules_diags d = {NULL, 0, 0};
		struct ruleset *rs = ruleset_parse(c->doc, strlen(c->doc), &d);
		bool found = false;

		for (j = 0; j < d.count; j++) {
			const struct rules_diag *g = &d.items[j];

			if (strcmp(g->code, c->code) != 0 || strcmp(g->field, c->field) != 0)
				continue;
			found = true;
			assert_int_equal(g->warning, c->warning);
			assert_int_equal(g->rule, c->rule);
			if (c->rule > 0 && strstr(c->doc, "\"name\": \"") != NULL &&
			    strcmp(c->field, "rules[0]") != 0 && strcmp(c->field, "rules[0].name") != 0)
				assert_true(g->rule_name[0] != '\0');
			if (c->rule == 0)
				assert_string_equal(g->rule_name, "");
			assert_true(g->message[0] != '\0');
		}
		if (!found) {
			for (j = 0; j < d.count; j++)
				fprintf(stderr, "  got %s %s %s\n", d.items[j].code, d.items[j].field,
				        d.items[j].message);
			fail_msg("case %zu: no %s at \"%s\" in %s", i, c->code, c->field, c->doc);
		}
		if (c->warning) {
			if (rs == NULL || d.errors != 0)
				fail_msg("case %zu: a warning made the ruleset invalid", i);
		} else {
			if (rs != NULL || d.errors == 0)
				fail_msg("case %zu: invalid ruleset accepted", i);
		}
		ruleset_destroy(&rs);
		rules_diags_free(&d);
	}
}

/* Every problem is reported, not just the first. */
static void test_validation_collects_all(void **state)
{
	static const char doc[] =
	        "{\"oro_ruleset\": 1, \"name\": \"t\", \"colour\": 1,"
	        " \"departments\": [" DEP("a", ", \"disclosure_basis_required\": true") ", " DEP("a", "") ", " DEP(
	                "c",
	                ", \"escalates_to\": \"nowhere\"") "],"
	                                                   " \"districts\": [\"North\"],"
	                                                   " \"fallback\": {\"department\": \"x\", \"priority\": "
	                                                   "\"P2\", \"ack_within\": \"1d\"},"
	                                                   " \"rules\": [" T_RULE("one", "{\"category\": [\"gossip\"]}",
	                                                                          T_RC("a", "full"), "P0", "0s",
	                                                                          "") ", " T_RULE("one", "{}",
	                                                                                          T_RC("q", "notice"),
	                                                                                          "P7", "1h", "") "]}";
	static const struct {
		const char *code, *field;
		int rule;
		const char *rule_name;
	} want[] = {
	        {ORO_E_UNKNOWN_FIELD, "colour", 0, ""},
	        {RULES_E_DUPLICATE, "departments[1].code", 0, ""},
	        {ORO_E_INVALID_VALUE, "departments[2].escalates_to", 0, ""},
	        {ORO_E_INVALID_VALUE, "fallback.department", 0, ""},
	        {ORO_E_INVALID_VALUE, "rules[0].when.category[0]", 1, "one"},
	        {RULES_E_NO_BASIS, "rules[0].recipients[0].disclosure_basis", 1, "one"},
	        {ORO_E_OUT_OF_RANGE, "rules[0].ack_within", 1, "one"},
	        {RULES_E_DUPLICATE, "rules[1].name", 2, "one"},
	        {ORO_E_INVALID_VALUE, "rules[1].recipients[0].department", 2, "one"},
	        {ORO_E_INVALID_VALUE, "rules[1].priority", 2, "one"},
	};
	struct rules_diags d = {NULL, 0, 0};
	struct ruleset *rs = ruleset_parse(doc, strlen(doc), &d);
	struct oro_error err;
	json_t *j, *e;
	size_t i;

	(void)state;
	assert_null(rs);
	if (d.count != NELEM(want)) {
		for (i = 0; i < d.count; i++)
			fprintf(stderr, "  %s %s %s\n", d.items[i].code, d.items[i].field, d.items[i].message);
		fail_msg("%zu findings, want %zu", d.count, NELEM(want));
	}
	assert_int_equal(d.errors, NELEM(want));
	for (i = 0; i < NELEM(want); i++) {
		assert_string_equal(d.items[i].code, want[i].code);
		assert_string_equal(d.items[i].field, want[i].field);
		assert_int_equal(d.items[i].rule, want[i].rule);
		assert_string_equal(d.items[i].rule_name, want[i].rule_name);
		assert_false(d.items[i].warning);
	}

	/* the first error as a struct oro_error */
	rules_diags_first_error(&d, &err);
	assert_string_equal(err.code, ORO_E_UNKNOWN_FIELD);
	assert_string_equal(err.field, "colour");

	/* as JSON */
	j = rules_diags_to_json(&d);
	assert_int_equal(json_array_size(j), NELEM(want));
	e = json_array_get(j, 0);
	assert_int_equal(json_object_size(e), 6);
	assert_string_equal(json_string_value(json_object_get(e, "severity")), "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")), ORO_E_UNKNOWN_FIELD);
	assert_true(json_is_null(json_object_get(e, "rule")));
	assert_true(json_is_null(json_object_get(e, "rule_name")));
	assert_string_equal(json_string_value(json_object_get(e, "field")), "colour");
	assert_true(json_is_string(json_object_get(e, "message")));
	e = json_array_get(j, 4);
	assert_int_equal(json_integer_value(json_object_get(e, "rule")), 1);
	assert_string_equal(json_string_value(json_object_get(e, "rule_name")), "one");
	json_decref(j);
	rules_diags_free(&d);
	rules_diags_free(&d);
	assert_int_equal(d.count, 0);

	/* without diags the answer is still NULL */
	assert_null(ruleset_parse(doc, strlen(doc), NULL));
}

/* Warnings only: valid; the first error of a warning-only list is empty;
 * diags accumulate across calls. */
static void test_warnings_and_first_error(void **state)
{
	static const char doc[] =
	        T_DOC(T_RULE("stop", "{}", T_RC("b", "full"), "P1", "1h", ", \"final\": true") ", " T_OK);
	struct rules_diags d = {NULL, 0, 0};
	struct ruleset *rs = ruleset_parse(doc, strlen(doc), &d);
	struct oro_error err;
	json_t *j;

	(void)state;
	assert_non_null(rs);
	assert_int_equal(d.count, 1);
	assert_int_equal(d.errors, 0);
	assert_string_equal(d.items[0].rule_name, "stop");
	rules_diags_first_error(&d, &err);
	assert_false(oro_error_isset(&err));
	j = rules_diags_to_json(&d);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "severity")), "warning");
	json_decref(j);
	ruleset_destroy(&rs);

	rs = ruleset_parse("{", 1, &d);
	assert_null(rs);
	assert_int_equal(d.count, 2);
	assert_int_equal(d.errors, 1);
	rules_diags_first_error(&d, &err);
	assert_string_equal(err.code, ORO_E_INVALID_JSON);
	rules_diags_free(&d);
	rules_diags_first_error(NULL, &err);
	assert_false(oro_error_isset(&err));
}

/* A file that cannot be read is one "io" error. */
static void test_load_file_io(void **state)
{
	struct rules_diags d = {NULL, 0, 0};

	(void)state;
	assert_null(ruleset_load_file("tests/unit/data/no-such-file.json", &d));
	assert_int_equal(d.count, 1);
	assert_int_equal(d.errors, 1);
	assert_string_equal(d.items[0].code, RULES_E_IO);
	rules_diags_free(&d);
	assert_null(ruleset_load_file("tests/unit/data", &d)); /* a directory */
	assert_true(d.errors >= 1);
	rules_diags_free(&d);
	assert_null(ruleset_load_file("tests/unit/data/no-such-file.json", NULL));
}

/* Limits of rules.h: departments, districts, rules. */
static void test_limits(void **state)
{
	static const struct {
		int depts, districts, rules;
		const char *field; /* NULL: valid */
	} cases[] = {
	        {RULES_MAX_DEPARTMENTS, RULES_MAX_DISTRICTS, 100, NULL},
	        {RULES_MAX_DEPARTMENTS + 1, 2, 1, "departments"},
	        {3, RULES_MAX_DISTRICTS + 1, 1, "districts"},
	        {3, 2, RULES_MAX_RULES, NULL},
	        {3, 2, RULES_MAX_RULES + 1, "rules"},
	};
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		json_t *doc = json_pack("{s:i, s:s, s:[], s:[], s:{s:s, s:s, s:s}, s:[]}", "oro_ruleset", 1, "name",
		                        "limits", "departments", "districts", "fallback", "department", "d0",
		                        "priority", "P2", "ack_within", "1d", "rules");
		struct rules_diags d = {NULL, 0, 0};
		struct ruleset *rs;
		char *text;

		for (k = 0; k < cases[i].depts; k++) {
			char code[32];

			snprintf(code, sizeof code, "d%d", k);
			json_array_append_new(json_object_get(doc, "departments"),
			                      json_pack("{s:s, s:s}", "code", code, "name", code));
		}
		for (k = 0; k < cases[i].districts; k++) {
			char name[32];

			snprintf(name, sizeof name, "District %d", k);
			json_array_append_new(json_object_get(doc, "districts"), json_string(name));
		}
		for (k = 0; k < cases[i].rules; k++) {
			char name[32], dist[32], dept[32];

			snprintf(name, sizeof name, "rule-%d", k);
			snprintf(dist, sizeof dist, "District %d", k % cases[i].districts);
			snprintf(dept, sizeof dept, "d%d", k % cases[i].depts);
			json_array_append_new(json_object_get(doc, "rules"),
			                      json_pack("{s:s, s:{s:[s]}, s:[{s:s, s:s}], s:s, s:s}", "name", name,
			                                "when", "district", dist, "recipients", "department", dept,
			                                "view", "full", "priority", "P2", "ack_within", "1h"));
		}
		text = json_dumps(doc, 0);
		rs = ruleset_parse(text, strlen(text), &d);
		if (cases[i].field == NULL) {
			if (rs == NULL)
				fail_msg("case %zu: %s %s", i, d.items[0].field, d.items[0].message);
			assert_int_equal(ruleset_rule_count(rs), cases[i].rules);
			if (cases[i].districts == RULES_MAX_DISTRICTS) {
				struct route r;
				char concern[256];

				/* the last district is bit 63 of the mask */
				memset(&r, 0, sizeof r);
				snprintf(concern, sizeof concern,
				         "{\"category\": \"other\", \"urgency\": \"concern\","
				         " \"subject\": {\"kind\": \"adult\"}, \"setting\": \"online\","
				         " \"district\": \"District %d\"}",
				         RULES_MAX_DISTRICTS - 1);
				route_of(rs, concern, &r);
				assert_int_equal(r.n_matched, 100 / RULES_MAX_DISTRICTS);
				assert_int_equal(r.matched[0], RULES_MAX_DISTRICTS);
				route_free(&r);
			}
		} else {
			assert_null(rs);
			assert_string_equal(d.items[0].code, ORO_E_TOO_LONG);
			assert_string_equal(d.items[0].field, cases[i].field);
		}
		ruleset_destroy(&rs);
		rules_diags_free(&d);
		free(text);
		json_decref(doc);
	}
}

/* ---- JSON output ---- */

/* rules_test_cases(): one element per case, route or error, exact shape. */
static void test_test_cases_shape(void **state)
{
	json_error_t jerr;
	json_t *cases = json_loads("[" CONCERN("travel_conflict_zone", "concern", "{\"kind\": \"child\", \"age\": 15}",
	                                       "school", "") ","
	                                                     " {\"category\": \"gossip\"},"
	                                                     " 7,"
	                                                     " " CONCERN("other", "concern", "{\"kind\": \"group\"}",
	                                                                 "online", ", \"colour\": 1") "]",
	                           0, &jerr);
	json_t *out, *e, *rc;
	const char *key;
	json_t *v;
	size_t i;

	(void)state;
	assert_non_null(cases);
	out = rules_test_cases(solna, cases);
	assert_int_equal(json_array_size(out), 4);

	e = json_array_get(out, 0);
	assert_int_equal(json_object_size(e), 4);
	assert_true(json_is_array(json_object_get(e, "matched_rules")));
	assert_int_equal(json_integer_value(json_array_get(json_object_get(e, "matched_rules"), 1)), 6);
	assert_true(json_is_false(json_object_get(e, "fallback")));
	assert_int_equal(json_array_size(json_object_get(e, "recipients")), 5);
	json_array_foreach(json_object_get(e, "recipients"), i, rc)
	{
		assert_int_equal(json_object_size(rc), 5);
		assert_true(json_is_string(json_object_get(rc, "department")));
		assert_true(json_is_string(json_object_get(rc, "view")));
		assert_true(json_is_string(json_object_get(rc, "priority")));
		assert_true(json_is_integer(json_object_get(rc, "ack_within")));
		v = json_object_get(rc, "disclosure_basis");
		assert_true(json_is_string(v) || json_is_null(v));
	}
	rc = json_array_get(json_object_get(e, "recipients"), 1);
	assert_string_equal(json_string_value(json_object_get(rc, "department")), "polis");
	assert_string_equal(json_string_value(json_object_get(rc, "view")), "full");
	assert_string_equal(json_string_value(json_object_get(rc, "priority")), "P1");
	assert_int_equal(json_integer_value(json_object_get(rc, "ack_within")), 4 * HOUR);
	assert_string_equal(json_string_value(json_object_get(rc, "disclosure_basis")), B_CRIME);
	assert_int_equal(json_array_size(json_object_get(e, "guidance")), 3);
	json_array_foreach(json_object_get(e, "guidance"), i, v)
	{
		assert_int_equal(json_object_size(v), 2);
		json_object_foreach(v, key, rc) assert_true(json_is_string(rc));
	}

	for (i = 1; i < 4; i++) {
		static const char *const codes[] = {NULL, ORO_E_INVALID_VALUE, ORO_E_WRONG_TYPE, ORO_E_UNKNOWN_FIELD};
		static const char *const fields[] = {NULL, "category", "", "colour"};

		e = json_array_get(out, i);
		assert_int_equal(json_object_size(e), 1);
		e = json_object_get(e, "error");
		assert_int_equal(json_object_size(e), 3);
		assert_string_equal(json_string_value(json_object_get(e, "code")), codes[i]);
		assert_string_equal(json_string_value(json_object_get(e, "field")), fields[i]);
		assert_true(json_is_string(json_object_get(e, "message")));
	}
	json_decref(out);
	json_decref(cases);

	assert_null(rules_test_cases(solna, NULL));
	cases = json_object();
	assert_null(rules_test_cases(solna, cases));
	json_decref(cases);
	cases = json_array();
	out = rules_test_cases(solna, cases);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	json_decref(cases);
}

/* Golden file: the dry run of the example cases gives exactly the expected
 * document (regenerate deliberately, and review the diff, when the strategy
 * changes). */
static void test_test_cases_golden(void **state)
{
	json_error_t jerr;
	json_t *cases = json_load_file(CASES, 0, &jerr);
	json_t *want = json_load_file(EXPECTED, 0, &jerr);
	json_t *got;

	(void)state;
	if (cases == NULL || want == NULL)
		fail_msg("%s: %s", jerr.source, jerr.text);
	got = rules_test_cases(solna, cases);
	if (!json_equal(got, want)) {
		char *s = json_dumps(got, JSON_INDENT(2));

		fprintf(stderr, "%s\n", s);
		free(s);
		fail_msg("rules_test_cases differs from %s", EXPECTED);
	}
	json_decref(got);
	json_decref(want);
	json_decref(cases);
}

/* Findings and errors built from document keys stay valid UTF-8 JSON even
 * when a key is cut inside a character or holds control characters. */
static void test_diags_utf8(void **state)
{
	struct rules_diags d = {NULL, 0, 0};
	struct oro_error err;
	json_t *j, *cases, *out;
	char key[200], *doc;
	size_t i, n = 0;

	(void)state;
	key[n++] = 'x';
	for (i = 0; i < 70; i++) {
		key[n++] = (char)0xc3; /* ä */
		key[n++] = (char)0xa4;
	}
	key[n] = '\0';
	doc = xasprintf("{" T_HEAD ", \"rules\": [" T_OK "], \"%s\": 1, \"a\\u0001b\": 2}", key);
	assert_null(ruleset_parse(doc, strlen(doc), &d));
	assert_int_equal(d.count, 2);
	j = rules_diags_to_json(&d);
	assert_int_equal(json_array_size(j), 2);
	for (i = 0; i < 2; i++) {
		json_t *e = json_array_get(j, i);

		assert_true(json_is_string(json_object_get(e, "field")));
		assert_true(json_is_string(json_object_get(e, "message")));
		assert_true(utf8_valid_text(d.items[i].field, strlen(d.items[i].field)));
		assert_true(utf8_valid_text(d.items[i].message, strlen(d.items[i].message)));
	}
	assert_string_equal(d.items[1].field, "a?b");
	json_decref(j);
	rules_diags_free(&d);
	free(doc);

	/* an error whose text was cut inside a character */
	memset(&err, 0, sizeof err);
	oro_error_set(&err, ORO_E_INVALID_VALUE, "f\xc3", "bad \xc3\xa4\xc3");
	j = oro_error_to_json(&err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "field")), "f?");
	assert_string_equal(json_string_value(json_object_get(j, "message")), "bad \xc3\xa4?");
	json_decref(j);

	/* and the dry run keeps one element per case */
	cases = json_pack("[{s:i}]", key, 1);
	out = rules_test_cases(solna, cases);
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(json_array_get(out, 0), "error"), "code")),
	        ORO_E_UNKNOWN_FIELD);
	json_decref(out);
	json_decref(cases);
}

/* oro_error_to_json and route_to_json of an empty route. */
static void test_json_small(void **state)
{
	struct oro_error err;
	struct route r;
	json_t *j;

	(void)state;
	oro_error_set(&err, ORO_E_MISSING, "subject.kind", "is %s", "required");
	j = oro_error_to_json(&err);
	assert_string_equal(json_string_value(json_object_get(j, "code")), "missing_field");
	assert_string_equal(json_string_value(json_object_get(j, "field")), "subject.kind");
	assert_string_equal(json_string_value(json_object_get(j, "message")), "is required");
	json_decref(j);
	memset(&r, 0, sizeof r);
	j = route_to_json(&r);
	assert_int_equal(json_array_size(json_object_get(j, "matched_rules")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "recipients")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "guidance")), 0);
	json_decref(j);
}

/* ---- action areas ---- */

/* solna-v1.json defines the strategy's 12 action areas, numbered 1..12 and
 * named in Swedish with English in parentheses, and tags every rule. */
static void test_action_areas_solna(void **state)
{
	static const int area_of_rule[] = {4, 4, 5, 6, 8, 1, 5, 4, 3, 9, 2, 5, 12};
	size_t i;

	(void)state;
	assert_int_equal(ruleset_action_area_count(solna), 12);
	for (i = 0; i < 12; i++) {
		const struct action_area *a = ruleset_action_area(solna, i);

		assert_non_null(a);
		assert_int_equal(a->number, (int)i + 1);
		assert_non_null(strchr(a->name, '('));
		assert_true(a->name[0] != '(');
		assert_ptr_equal(ruleset_action_area_find(solna, (int)i + 1), a);
	}
	assert_null(ruleset_action_area(solna, 12));
	assert_null(ruleset_action_area_find(solna, 0));
	assert_null(ruleset_action_area_find(solna, 13));
	assert_int_equal(NELEM(area_of_rule), ruleset_rule_count(solna));
	for (i = 0; i < NELEM(area_of_rule); i++)
		assert_int_equal(ruleset_rule_action_area(solna, i + 1), area_of_rule[i]);
	assert_int_equal(ruleset_rule_action_area(solna, 0), 0);
	assert_int_equal(ruleset_rule_action_area(solna, NELEM(area_of_rule) + 1), 0);
}

/* Action areas are optional, kept in document order, and a rule without
 * one has 0; at most RULES_MAX_ACTION_AREAS. */
static void test_action_areas_inline(void **state)
{
	static const struct {
		const char *doc;
		size_t n_areas;
		int first_number; /* of area 0 */
		int rule_area;    /* of rule 1 */
	} cases[] = {
	        {T_DOC(T_OK), 0, 0, 0},
	        {AREAS("\"action_areas\": []"), 0, 0, 0},
	        {AREAS(T_AREAS), 2, 1, 0},
	        {RA("2"), 2, 1, 2},
	        {"{" T_HEAD
	         ", \"action_areas\": [{\"number\": 7, \"name\": \"Sju\"}, {\"number\": 3, \"name\": \"Tre\"}],"
	         " \"rules\": [" T_RULE("r1", "{}", T_RC("b", "full"), "P1", "1h", ", \"action_area\": 3") "]}",
	         2, 7, 3},
	};
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset *rs = parse_ok(cases[i].doc, 0);

		assert_int_equal(ruleset_action_area_count(rs), cases[i].n_areas);
		if (cases[i].n_areas > 0)
			assert_int_equal(ruleset_action_area(rs, 0)->number, cases[i].first_number);
		assert_null(ruleset_action_area(rs, cases[i].n_areas));
		assert_int_equal(ruleset_rule_action_area(rs, 1), cases[i].rule_area);
		ruleset_destroy(&rs);
	}

	/* the limit */
	for (k = RULES_MAX_ACTION_AREAS; k <= RULES_MAX_ACTION_AREAS + 1; k++) {
		json_t *doc = json_loads(T_DOC(T_OK), 0, NULL), *areas = json_array();
		struct rules_diags d = {NULL, 0, 0};
		struct ruleset *rs;
		char *text;
		int n;

		for (n = 1; n <= k; n++) {
			char name[32];

			snprintf(name, sizeof name, "Område %d", n);
			json_array_append_new(areas, json_pack("{s:i, s:s}", "number", n, "name", name));
		}
		json_object_set_new(doc, "action_areas", areas);
		text = json_dumps(doc, 0);
		rs = ruleset_parse(text, strlen(text), &d);
		if (k == RULES_MAX_ACTION_AREAS) {
			assert_non_null(rs);
			assert_int_equal(ruleset_action_area_count(rs), RULES_MAX_ACTION_AREAS);
		} else {
			assert_null(rs);
			assert_string_equal(d.items[0].code, ORO_E_TOO_LONG);
			assert_string_equal(d.items[0].field, "action_areas");
		}
		ruleset_destroy(&rs);
		rules_diags_free(&d);
		free(text);
		json_decref(doc);
	}
}

/* ---- explanations ---- */

/* Parse and validate (routing only) a concern for rs into c. */
static void concern_of(const struct ruleset *rs, const char *json, struct concern *c)
{
	struct oro_error err;

	memset(c, 0, sizeof *c);
	memset(&err, 0, sizeof err);
	if (concern_parse(json, strlen(json), c, &err) < 0 || concern_validate(c, rs, CONCERN_ROUTING_ONLY, &err) < 0)
		fail_msg("concern %s: %s %s %s", json, err.code, err.field, err.message);
}

/* True when the JSON array a holds the integer n. */
static bool json_array_has_int(json_t *a, json_int_t n)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) if (json_integer_value(v) == n) return true;
	return false;
}

/* ruleset_explain() agrees exactly with ruleset_evaluate() (and so with
 * route_to_json()), and its per-rule and per-recipient parts are coherent. */
static void check_explain_agrees(const struct ruleset *rs, const struct concern *c)
{
	static const char *const rc_keys[] = {"department", "view", "priority", "ack_within", "disclosure_basis"};
	struct route r;
	json_t *want, *x, *rules, *v;
	bool stopped = false;
	size_t i, k;

	memset(&r, 0, sizeof r);
	ruleset_evaluate(rs, c, &r);
	want = route_to_json(&r);
	x = ruleset_explain(rs, c);
	assert_non_null(x);
	assert_int_equal(json_object_size(x), 6);
	assert_int_equal(json_integer_value(json_object_get(x, "version")), ruleset_version(rs));
	assert_true(json_equal(json_object_get(x, "matched_rules"), json_object_get(want, "matched_rules")));
	assert_true(json_equal(json_object_get(x, "fallback"), json_object_get(want, "fallback")));

	/* recipients: the route's, in its order, plus where each value came from */
	assert_int_equal(json_array_size(json_object_get(x, "recipients")), r.n_recipients);
	for (i = 0; i < r.n_recipients; i++) {
		json_t *g = json_array_get(json_object_get(x, "recipients"), i);
		json_t *w = json_array_get(json_object_get(want, "recipients"), i);
		json_t *from;

		assert_int_equal(json_object_size(g), 8);
		for (k = 0; k < NELEM(rc_keys); k++)
			assert_true(json_equal(json_object_get(g, rc_keys[k]), json_object_get(w, rc_keys[k])));
		from = json_object_get(g, "view_from");
		if (json_is_string(from)) {
			assert_string_equal(json_string_value(from), "fallback");
			assert_true(r.fallback);
			assert_int_equal(r.recipients[i].view, VIEW_FULL);
		} else {
			assert_true(json_array_size(from) > 0);
			json_array_foreach(from, k, v) assert_true(
			        json_array_has_int(json_object_get(x, "matched_rules"), json_integer_value(v)));
		}
		from = json_object_get(g, "priority_from");
		if (json_is_string(from))
			assert_true(r.fallback);
		else
			assert_true(json_array_has_int(json_object_get(x, "matched_rules"),
			                               json_integer_value(json_object_get(from, "rule"))));
		from = json_object_get(g, "ack_within_from");
		if (json_is_string(from))
			assert_true(r.fallback);
		else
			assert_true(json_array_has_int(json_object_get(x, "matched_rules"),
			                               json_integer_value(json_object_get(from, "rule"))));
	}

	/* guidance: the route's, with rule and priority */
	assert_int_equal(json_array_size(json_object_get(x, "guidance")), r.n_guidance);
	for (i = 0; i < r.n_guidance; i++) {
		json_t *g = json_array_get(json_object_get(x, "guidance"), i);

		assert_string_equal(json_string_value(json_object_get(g, "sv")), r.guidance[i].sv);
		assert_string_equal(json_string_value(json_object_get(g, "en")), r.guidance[i].en);
		assert_int_equal(json_integer_value(json_object_get(g, "rule")), r.guidance[i].rule);
		assert_string_equal(json_string_value(json_object_get(g, "priority")),
		                    priority_names[r.guidance[i].priority]);
	}

	/* rules: every rule once; matched exactly the route's; failed exactly
	 * for the evaluated rules that did not match */
	rules = json_object_get(x, "rules");
	assert_int_equal(json_array_size(rules), ruleset_rule_count(rs));
	json_array_foreach(rules, i, v)
	{
		bool matched = json_is_true(json_object_get(v, "matched"));
		bool evaluated = json_is_true(json_object_get(v, "evaluated"));
		int area = ruleset_rule_action_area(rs, i + 1);

		assert_int_equal(json_object_size(v), 9);
		assert_int_equal(json_integer_value(json_object_get(v, "rule")), i + 1);
		assert_string_equal(json_string_value(json_object_get(v, "name")), ruleset_rule_name(rs, i + 1));
		if (area > 0)
			assert_int_equal(json_integer_value(json_object_get(v, "action_area")), area);
		else
			assert_true(json_is_null(json_object_get(v, "action_area")));
		assert_int_equal(matched, json_array_has_int(json_object_get(x, "matched_rules"), (json_int_t)i + 1));
		assert_int_equal(evaluated, !stopped);
		assert_true(json_is_boolean(json_object_get(v, "final")));
		if (evaluated && !matched) {
			assert_true(json_string_length(json_object_get(v, "failed")) > 0);
			assert_true(strncmp(json_string_value(json_object_get(v, "failed_field")), "when", 4) == 0);
		} else {
			assert_true(json_is_null(json_object_get(v, "failed")));
			assert_true(json_is_null(json_object_get(v, "failed_field")));
		}
		if (!matched)
			assert_true(json_is_null(json_object_get(v, "variant")));
		if (matched && json_is_true(json_object_get(v, "final")))
			stopped = true;
	}
	json_decref(x);
	json_decref(want);
	route_free(&r);
}

/* check_explain_agrees() for one concern document. */
static void explain_agrees(const struct ruleset *rs, const char *json)
{
	struct concern c;

	concern_of(rs, json, &c);
	check_explain_agrees(rs, &c);
	concern_clear(&c);
}

/* Explanations agree with evaluation: every row of the table, both small
 * rulesets with final and conditions, and a sweep of every category,
 * urgency and subject kind with a spread of ages and two settings. */
static void test_explain_agrees(void **state)
{
	static const char *const ages[] = {
	        "", ", \"age\": 11", ", \"age\": 17", ", \"age\": 18", ", \"age\": 21", ", \"age_band\": \"unknown\""};
	static const char *const settings[] = {"school", "online"};
	struct ruleset *rs;
	size_t i, n;
	char doc[512];

	(void)state;
	for (i = 0; i < NELEM(solna_cases); i++)
		explain_agrees(solna, solna_cases[i].concern);
	rs = parse_ok(T_FINAL_DOC, 0);
	explain_agrees(rs, T_CONCERN(""));
	explain_agrees(rs, TC("other", "concern", ADULT, "South", ""));
	ruleset_destroy(&rs);
	rs = parse_ok(T_COND_DOC, 0);
	explain_agrees(rs, T_CONCERN(""));
	explain_agrees(rs, TC("weapons", "urgent", ADULT, "South", ""));
	explain_agrees(rs, TC("other", "urgent", "{\"kind\": \"group\", \"age\": 75}", "North", ""));
	explain_agrees(rs, TC("other", "concern", "{\"kind\": \"child\", \"age\": 0}", "North",
	                      ", \"association_grant\": \"yes\""));
	ruleset_destroy(&rs);
	for (n = 0; n < CAT_COUNT * URG_COUNT * KIND_COUNT * NELEM(ages) * NELEM(settings); n++) {
		size_t cat = n % CAT_COUNT, urg = n / CAT_COUNT % URG_COUNT;
		size_t kind = n / (CAT_COUNT * URG_COUNT) % KIND_COUNT;
		size_t age = n / (CAT_COUNT * URG_COUNT * KIND_COUNT) % NELEM(ages);
		size_t set = n / (CAT_COUNT * URG_COUNT * KIND_COUNT * NELEM(ages));

		if (kind == KIND_CHILD && (age == 3 || age == 4))
			continue; /* a child of 18 or 21 is refused by validation */
		snprintf(doc, sizeof doc,
		         "{\"category\": \"%s\", \"urgency\": \"%s\", \"subject\": {\"kind\": \"%s\"%s},"
		         " \"setting\": \"%s\", \"district\": \"Järva\"}",
		         category_names[cat], urgency_names[urg], subject_kind_names[kind], ages[age], settings[set]);
		explain_agrees(solna, doc);
	}
}

/* Which ruleset a row of the explain tables is about. */
enum which { W_SOLNA, W_COND, W_FINAL };

/* The ruleset for w: solna, or a new one the caller destroys. */
static struct ruleset *ruleset_for(enum which w)
{
	if (w == W_COND)
		return parse_ok(T_COND_DOC, 0);
	if (w == W_FINAL)
		return parse_ok(T_FINAL_DOC, 0);
	return solna;
}

#define WE1 CONCERN("travel_conflict_zone", "concern", "{\"kind\": \"child\", \"age\": 15}", "school", "")
#define WE2 CONCERN("propaganda", "concern", "{\"kind\": \"adult\"}", "online", "")
#define WE4                                                                              \
	CONCERN("violent_rhetoric", "concern", "{\"kind\": \"association\"}", "leisure", \
	        ", \"association_grant\": \"yes\"")
#define ONLY13 CONCERN("other", "concern", "{\"kind\": \"group\"}", "online", "")

/* One rule of an explanation: matched or not, evaluated or not, the
 * variant, and the first condition that failed. */
static void test_explain_rules(void **state)
{
	static const struct {
		enum which rs;
		const char *concern;
		int rule;
		bool matched, evaluated;
		int variant;        /* -1: null */
		const char *failed; /* NULL: null */
		const char *field;
	} cases[] = {
	        {W_SOLNA, WE2, 1, false, true, -1,
	         "none of the alternatives in when.any holds: urgency is concern, not one of acute; category is"
	         " propaganda, not one of planned_attack",
	         "when.any"},
	        {W_SOLNA, WE2, 2, false, true, -1, "urgency is concern, not one of acute", "when.urgency"},
	        {W_SOLNA, WE2, 3, false, true, -1,
	         "none of the alternatives in when.any holds: subject_kind is adult, not one of child; age_band is"
	         " unknown, not one of 0-11, 12-17",
	         "when.any"},
	        {W_SOLNA, WE2, 4, false, true, -1, "age_band is unknown, not one of 18-20", "when.age_band"},
	        {W_SOLNA, WE2, 5, true, true, -1, NULL, NULL},
	        {W_SOLNA, WE2, 6, false, true, -1,
	         "category is propaganda, not one of travel_conflict_zone, financing, weapons, threat_of_violence",
	         "when.category"},
	        {W_SOLNA, WE2, 12, false, true, -1, "setting is online, not one of school", "when.setting"},
	        {W_SOLNA, WE2, 13, true, true, -1, NULL, NULL},
	        {W_SOLNA, WE1, 3, true, true, 0, NULL, NULL},
	        {W_SOLNA, WE1, 4, false, true, -1, "age_band is 12-17 (age 15), not one of 18-20", "when.age_band"},
	        {W_SOLNA, WE1, 5, false, true, -1,
	         "none of the alternatives in when.any holds: age_band is 12-17 (age 15), not one of 21+;"
	         " subject_kind is child, not one of adult",
	         "when.any"},
	        {W_SOLNA, WE1, 7, false, true, -1, "category is travel_conflict_zone, not one of recruitment",
	         "when.category"},
	        {W_SOLNA, CONCERN("propaganda", "concern", "{\"kind\": \"child\", \"age\": 12}", "online", ""), 3, true,
	         true, -1, NULL, NULL},
	        {W_SOLNA, WE4, 11, false, true, -1, "subject_kind is association, not one of material",
	         "when.subject_kind"},
	        {W_COND, T_CONCERN(""), 1, false, true, -1,
	         "no age is given, and the condition needs an age from 13 to 15", "when.age"},
	        {W_COND, TC("other", "concern", "{\"kind\": \"adult\", \"age\": 16}", "North", ""), 1, false, true, -1,
	         "age is 16, not from 13 to 15", "when.age"},
	        {W_COND, T_CONCERN(""), 2, false, true, -1, "association_grant is unknown, not one of yes",
	         "when.association_grant"},
	        {W_COND, T_CONCERN(""), 3, false, true, -1, "district is North, not one of South", "when.district"},
	        {W_COND,
	         "{\"category\": \"other\", \"urgency\": \"concern\", \"subject\": " ADULT ", \"setting\": \"leisure\","
	         " \"district\": \"South\"}",
	         3, false, true, -1, "setting is leisure, not one of school, online", "when.setting"},
	        {W_COND, TC("other", "urgent", ADULT, "North", ""), 4, false, true, -1,
	         "none of the alternatives in when.any holds: category is other, not one of weapons; (none of the"
	         " alternatives in when.any[1].any holds: subject_kind is adult, not one of group; no age is given, and"
	         " the condition needs an age from 70 to 120)",
	         "when.any"},
	        {W_COND, TC("other", "urgent", "{\"kind\": \"group\"}", "North", ""), 4, true, true, 1, NULL, NULL},
	        {W_COND, TC("other", "urgent", "{\"kind\": \"adult\", \"age\": 75}", "North", ""), 4, true, true, 2,
	         NULL, NULL},
	        {W_FINAL, T_CONCERN(""), 1, true, true, -1, NULL, NULL},
	        {W_FINAL, T_CONCERN(""), 2, false, false, -1, NULL, NULL},
	        {W_FINAL, T_CONCERN(""), 3, false, false, -1, NULL, NULL},
	        {W_FINAL, TC("other", "concern", ADULT, "South", ""), 1, false, true, -1,
	         "district is South, not one of North", "when.district"},
	        {W_FINAL, TC("other", "concern", ADULT, "South", ""), 3, true, true, -1, NULL, NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset *rs = ruleset_for(cases[i].rs);
		struct concern c;
		json_t *x, *rule, *v;

		concern_of(rs, cases[i].concern, &c);
		x = ruleset_explain(rs, &c);
		rule = json_array_get(json_object_get(x, "rules"), (size_t)cases[i].rule - 1);
		if (json_is_true(json_object_get(rule, "matched")) != cases[i].matched ||
		    json_is_true(json_object_get(rule, "evaluated")) != cases[i].evaluated)
			fail_msg("case %zu: rule %d matched %d evaluated %d", i, cases[i].rule,
			         json_is_true(json_object_get(rule, "matched")),
			         json_is_true(json_object_get(rule, "evaluated")));
		v = json_object_get(rule, "variant");
		if (cases[i].variant < 0)
			assert_true(json_is_null(v));
		else
			assert_int_equal(json_integer_value(v), cases[i].variant);
		v = json_object_get(rule, "failed");
		if (cases[i].failed == NULL) {
			assert_true(json_is_null(v));
			assert_true(json_is_null(json_object_get(rule, "failed_field")));
		} else {
			if (!json_is_string(v) || strcmp(json_string_value(v), cases[i].failed) != 0)
				fail_msg("case %zu: rule %d failed \"%s\", want \"%s\"", i, cases[i].rule,
				         json_is_string(v) ? json_string_value(v) : "(null)", cases[i].failed);
			assert_string_equal(json_string_value(json_object_get(rule, "failed_field")), cases[i].field);
		}
		json_decref(x);
		concern_clear(&c);
		if (rs != solna)
			ruleset_destroy(&rs);
	}
}

/* Where each recipient's view, priority and deadline came from. */
static void test_explain_provenance(void **state)
{
	static const struct {
		enum which rs;
		const char *concern;
		const char *dept;
		const char *view_from, *priority_from, *ack_from; /* JSON */
	} cases[] = {
	        {W_SOLNA, WE1, "soc-barn", "[3]", "{\"rule\": 3, \"variant\": 0}", "{\"rule\": 3, \"variant\": 0}"},
	        {W_SOLNA, WE1, "polis", "[6]", "{\"rule\": 6, \"variant\": null}", "{\"rule\": 6, \"variant\": null}"},
	        {W_SOLNA, WE1, "buf", "[12]", "{\"rule\": 12, \"variant\": null}", "{\"rule\": 12, \"variant\": null}"},
	        {W_SOLNA, WE1, "slf-samordnare", "[13]", "{\"rule\": 13, \"variant\": null}",
	         "{\"rule\": 13, \"variant\": null}"},
	        {W_SOLNA, WE2, "slf-samordnare", "[5]", "{\"rule\": 5, \"variant\": null}",
	         "{\"rule\": 5, \"variant\": null}"},
	        {W_SOLNA, WE4, "slf-samordnare", "[10, 13]", "{\"rule\": 10, \"variant\": null}",
	         "{\"rule\": 10, \"variant\": null}"},
	        {W_SOLNA, ONLY13, "slf-samordnare", "\"fallback\"", "\"fallback\"", "\"fallback\""},
	        {W_SOLNA, CONCERN("other", "concern", "{\"kind\": \"group\"}", "school", ""), "slf-samordnare",
	         "\"fallback\"", "\"fallback\"", "\"fallback\""},
	        {W_SOLNA, CONCERN("recruitment", "acute", "{\"kind\": \"child\", \"age\": 16}", "school", ""), "polis",
	         "[1, 7]", "{\"rule\": 1, \"variant\": null}", "{\"rule\": 1, \"variant\": null}"},
	        {W_SOLNA, CONCERN("recruitment", "acute", "{\"kind\": \"child\", \"age\": 16}", "school", ""),
	         "slf-sakerhet", "[1]", "{\"rule\": 1, \"variant\": null}", "{\"rule\": 1, \"variant\": null}"},
	        {W_SOLNA, CONCERN("recruitment", "acute", "{\"kind\": \"child\", \"age\": 16}", "school", ""),
	         "soc-barn", "[2, 3]", "{\"rule\": 2, \"variant\": null}", "{\"rule\": 2, \"variant\": null}"},
	        {W_SOLNA, CONCERN("weapons", "acute", "{\"kind\": \"adult\", \"age\": 40}", "public_space", ""),
	         "slf-samordnare", "[5]", "{\"rule\": 5, \"variant\": null}", "{\"rule\": 5, \"variant\": null}"},
	        /* variant 0 sets only the priority, variant 1 only the deadline */
	        {W_COND, TC("weapons", "urgent", ADULT, "North", ""), "b", "[4]", "{\"rule\": 4, \"variant\": 0}",
	         "{\"rule\": 4, \"variant\": null}"},
	        {W_COND, TC("other", "urgent", "{\"kind\": \"group\"}", "North", ""), "b", "[4]",
	         "{\"rule\": 4, \"variant\": null}", "{\"rule\": 4, \"variant\": 1}"},
	        /* a notice widened by the fallback, the deadline from the rule */
	        {W_COND,
	         TC("other", "concern", "{\"kind\": \"child\", \"age\": 0}", "North",
	            ", \"association_grant\": \"yes\""),
	         "c", "\"fallback\"", "\"fallback\"", "{\"rule\": 5, \"variant\": null}"},
	        {W_FINAL, T_CONCERN(""), "b", "[1]", "{\"rule\": 1, \"variant\": null}",
	         "{\"rule\": 1, \"variant\": null}"},
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct ruleset *rs = ruleset_for(cases[i].rs);
		const char *want[3] = {cases[i].view_from, cases[i].priority_from, cases[i].ack_from};
		static const char *const keys[3] = {"view_from", "priority_from", "ack_within_from"};
		struct concern c;
		json_t *x, *rc = NULL, *v;

		concern_of(rs, cases[i].concern, &c);
		x = ruleset_explain(rs, &c);
		json_array_foreach(json_object_get(x, "recipients"), k, v)
		{
			if (strcmp(json_string_value(json_object_get(v, "department")), cases[i].dept) == 0)
				rc = v;
		}
		if (rc == NULL)
			fail_msg("case %zu: %s not routed", i, cases[i].dept);
		for (k = 0; k < 3; k++) {
			json_t *w = json_loads(want[k], JSON_DECODE_ANY, NULL);

			assert_non_null(w);
			if (!json_equal(json_object_get(rc, keys[k]), w)) {
				char *got = json_dumps(json_object_get(rc, keys[k]), JSON_ENCODE_ANY);

				fail_msg("case %zu: %s %s is %s, want %s", i, cases[i].dept, keys[k], got, want[k]);
			}
			json_decref(w);
		}
		json_decref(x);
		concern_clear(&c);
		if (rs != solna)
			ruleset_destroy(&rs);
	}
}

/* Golden file: the explanations of worked example 1 and of a case that only
 * the fallback gives to anyone (review the diff when the strategy changes). */
static void test_explain_golden(void **state)
{
	static const char *const concerns[] = {WE1, ONLY13};
	json_t *got = json_array(), *want;
	json_error_t jerr;
	size_t i;

	(void)state;
	ruleset_set_version(solna, 1);
	for (i = 0; i < NELEM(concerns); i++) {
		struct concern c;

		concern_of(solna, concerns[i], &c);
		json_array_append_new(got, ruleset_explain(solna, &c));
		concern_clear(&c);
	}
	want = json_load_file(EXPLAIN_GOLDEN, 0, &jerr);
	if (want == NULL)
		fail_msg("%s: %s", EXPLAIN_GOLDEN, jerr.text);
	if (!json_equal(got, want)) {
		char *s = json_dumps(got, JSON_INDENT(2));

		fprintf(stderr, "%s\n", s);
		free(s);
		fail_msg("ruleset_explain differs from %s", EXPLAIN_GOLDEN);
	}
	json_decref(got);
	json_decref(want);
}

/* A concern rebuilt from stored attributes (concern_from_stored(), as the
 * router and `oro explain` do) whose district the ruleset no longer lists:
 * it matches no district condition, and the explanation says why. */
static void test_explain_stored(void **state)
{
	static const char *const attrs[CONCERN_STORED_ATTRS] = {"other",  "concern",    "adult",   "21+",
	                                                        "online", "Gamla stan", "unknown", "unknown"};
	struct ruleset *rs = parse_ok(T_COND_DOC, 0);
	struct concern c;
	json_t *x, *rule;

	(void)state;
	memset(&c, 0, sizeof c);
	concern_from_stored(&c, rs, attrs, "40");
	check_explain_agrees(rs, &c);
	x = ruleset_explain(rs, &c);
	rule = json_array_get(json_object_get(x, "rules"), 2);
	assert_string_equal(json_string_value(json_object_get(rule, "failed")),
	                    "district is not in the ruleset's list, not one of South");
	assert_string_equal(json_string_value(json_object_get(rule, "failed_field")), "when.district");
	rule = json_array_get(json_object_get(x, "rules"), 0);
	assert_string_equal(json_string_value(json_object_get(rule, "failed")), "age is 40, not from 13 to 15");
	json_decref(x);
	concern_clear(&c);
	ruleset_destroy(&rs);
}

/* ---- differences ---- */

#define D_RA               T_RULE("a", "{\"urgency\": [\"acute\"]}", T_RC("b", "full"), "P0", "15m", ", \"description\": \"A\"")
#define D_RB               T_RULE("b", "{}", T_RC("c", "notice"), "P1", "1h", "")
#define D_RC               T_RULE("c", "{\"district\": [\"South\"]}", T_RC("b", "notice"), "P3", "3d", "")
#define D_DOC(head, rules) "{" head ", \"rules\": [" rules "]}"
#define D_BASE             D_DOC(T_HEAD ", " T_AREAS, D_RA ", " D_RB ", " D_RC)

/* True when diff section v has nothing in it. */
static bool diff_section_empty(json_t *v)
{
	const char *key;
	json_t *e;

	if (json_is_null(v) || json_is_false(v))
		return true;
	if (json_is_array(v))
		return json_array_size(v) == 0;
	if (!json_is_object(v))
		return false;
	json_object_foreach(v, key, e) if (!diff_section_empty(e)) return false;
	return true;
}

/* rules_diff_documents(): rules by name with positions, field by field;
 * departments, districts, action areas, fallback, name, description. Each
 * row gives the sections that are not empty; all others must be. */
static void test_diff(void **state)
{
	static const struct {
		const char *what, *a, *b;
		const char *want; /* the non-empty sections, as JSON */
	} cases[] = {
	        {"identical", D_BASE, D_BASE, "{\"identical\": true}"},
	        {"one field", D_BASE,
	         D_DOC(T_HEAD ", " T_AREAS, D_RA ", " T_RULE("b", "{}", T_RC("c", "notice"), "P2", "1h", "") ", " D_RC),
	         "{\"rules\": {\"changed\": [{\"name\": \"b\", \"from_position\": 2, \"to_position\": 2,"
	         " \"fields\": [{\"field\": \"priority\", \"from\": \"P1\", \"to\": \"P2\"}]}]}}"},
	        {"fields in the format's order; absent is null", D_BASE,
	         D_DOC(T_HEAD ", " T_AREAS, T_RULE("a", "{\"urgency\": [\"urgent\"]}", T_RC("b", "full"), "P0", "10m",
	                                           ", \"final\": true, \"action_area\": 2") ", " D_RB ", " D_RC),
	         "{\"rules\": {\"changed\": [{\"name\": \"a\", \"from_position\": 1, \"to_position\": 1, \"fields\": ["
	         "{\"field\": \"description\", \"from\": \"A\", \"to\": null},"
	         " {\"field\": \"action_area\", \"from\": null, \"to\": 2},"
	         " {\"field\": \"when\", \"from\": {\"urgency\": [\"acute\"]}, \"to\": {\"urgency\": [\"urgent\"]}},"
	         " {\"field\": \"ack_within\", \"from\": \"15m\", \"to\": \"10m\"},"
	         " {\"field\": \"final\", \"from\": null, \"to\": true}]}]}}"},
	        {"added at the end", D_BASE,
	         D_DOC(T_HEAD ", " T_AREAS,
	               D_RA ", " D_RB ", " D_RC ", " T_RULE("d", "{}", T_RC("b", "full"), "P1", "1h", "")),
	         "{\"rules\": {\"added\": [{\"name\": \"d\", \"position\": 4}]}}"},
	        {"removed in the middle: the next rule moves", D_BASE, D_DOC(T_HEAD ", " T_AREAS, D_RA ", " D_RC),
	         "{\"rules\": {\"removed\": [{\"name\": \"b\", \"position\": 2}],"
	         " \"changed\": [{\"name\": \"c\", \"from_position\": 3, \"to_position\": 2, \"fields\": []}]}}"},
	        {"swapped", D_BASE, D_DOC(T_HEAD ", " T_AREAS, D_RB ", " D_RA ", " D_RC),
	         "{\"rules\": {\"changed\": [{\"name\": \"b\", \"from_position\": 2, \"to_position\": 1, \"fields\": "
	         "[]},"
	         " {\"name\": \"a\", \"from_position\": 1, \"to_position\": 2, \"fields\": []}]}}"},
	        {"renamed: removed and added", D_BASE,
	         D_DOC(T_HEAD ", " T_AREAS,
	               D_RA ", " T_RULE("bb", "{}", T_RC("c", "notice"), "P1", "1h", "") ", " D_RC),
	         "{\"rules\": {\"added\": [{\"name\": \"bb\", \"position\": 2}],"
	         " \"removed\": [{\"name\": \"b\", \"position\": 2}]}}"},
	        {"departments", D_BASE,
	         D_DOC("\"oro_ruleset\": 1, \"name\": \"test\", \"departments\": [{\"code\": \"b\", \"name\": \"B2\","
	               " \"escalates_to\": \"c\"}, {\"code\": \"c\", \"name\": \"C\"}, {\"code\": \"d\", \"name\": "
	               "\"D\"}], " T_DISTRICTS ", " T_FALLBACK ", " T_AREAS,
	               D_RA ", " D_RB ", " D_RC),
	         "{\"departments\": {\"added\": [\"d\"], \"removed\": [\"a\"], \"changed\": [{\"code\": \"b\", "
	         "\"fields\":"
	         " [{\"field\": \"name\", \"from\": \"B\", \"to\": \"B2\"}]}]}}"},
	        {"districts", D_BASE,
	         D_DOC("\"oro_ruleset\": 1, \"name\": \"test\", " T_DEPTS
	               ", \"districts\": [\"East\", \"North\"], " T_FALLBACK ", " T_AREAS,
	               D_RA ", " D_RB
	                    ", " T_RULE("c", "{\"district\": [\"East\"]}", T_RC("b", "notice"), "P3", "3d", "")),
	         "{\"districts\": {\"added\": [\"East\"], \"removed\": [\"South\"]}, \"rules\": {\"changed\": "
	         "[{\"name\": \"c\","
	         " \"from_position\": 3, \"to_position\": 3, \"fields\": [{\"field\": \"when\", \"from\": "
	         "{\"district\":"
	         " [\"South\"]}, \"to\": {\"district\": [\"East\"]}}]}]}}"},
	        {"action areas", D_BASE,
	         D_DOC(T_HEAD
	               ", \"action_areas\": [{\"number\": 2, \"name\": \"Två\"}, {\"number\": 3, \"name\": \"Tre\"}]",
	               D_RA ", " D_RB ", " D_RC),
	         "{\"action_areas\": {\"added\": [{\"number\": 3, \"name\": \"Tre\"}], \"removed\": [{\"number\": 1,"
	         " \"name\": \"One\"}], \"changed\": [{\"number\": 2, \"fields\": [{\"field\": \"name\", \"from\": "
	         "\"Two\","
	         " \"to\": \"Två\"}]}]}}"},
	        {"fallback, name and description", D_BASE,
	         D_DOC("\"oro_ruleset\": 1, \"name\": \"test 2\", \"description\": \"new\", " T_DEPTS ", " T_DISTRICTS
	               ", \"fallback\": {\"department\": \"a\", \"priority\": \"P2\", \"ack_within\": 86400,"
	               " \"disclosure_basis\": \"X\"}, " T_AREAS,
	               D_RA ", " D_RB ", " D_RC),
	         "{\"name\": {\"from\": \"test\", \"to\": \"test 2\"}, \"description\": {\"from\": null, \"to\": "
	         "\"new\"},"
	         " \"fallback\": [{\"field\": \"department\", \"from\": \"c\", \"to\": \"a\"}, {\"field\": "
	         "\"ack_within\","
	         " \"from\": \"1d\", \"to\": 86400}, {\"field\": \"disclosure_basis\", \"from\": null, \"to\": "
	         "\"X\"}]}"},
	};
	static const char *const sections[] = {"name",      "description",  "rules",   "departments",
	                                       "districts", "action_areas", "fallback"};
	json_t *a, *b;
	size_t i, k;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		json_t *want = json_loads(cases[i].want, 0, NULL), *got, *again;

		struct ruleset *ra, *rb;

		a = json_loads(cases[i].a, 0, NULL);
		b = json_loads(cases[i].b, 0, NULL);
		if (a == NULL || b == NULL || want == NULL)
			fail_msg("%s: bad test JSON", cases[i].what);
		/* both sides are valid rulesets, as rules_diff_documents() assumes */
		ra = parse_ok(cases[i].a, 0);
		rb = parse_ok(cases[i].b, 0);
		got = rules_diff_documents(a, b);
		assert_non_null(got);
		assert_int_equal(json_object_size(got), 8);
		assert_int_equal(json_is_true(json_object_get(got, "identical")),
		                 json_is_true(json_object_get(want, "identical")));
		for (k = 0; k < NELEM(sections); k++) {
			json_t *g = json_object_get(got, sections[k]), *w = json_object_get(want, sections[k]);
			bool ok;

			assert_non_null(g);
			if (w == NULL)
				ok = diff_section_empty(g);
			else if (json_is_object(w) && json_is_object(g) && strcmp(sections[k], "name") != 0 &&
			         strcmp(sections[k], "description") != 0) {
				const char *key;
				json_t *e;

				ok = true;
				json_object_foreach(g, key, e)
				{
					json_t *we = json_object_get(w, key);

					ok = ok && (we != NULL ? json_equal(e, we) : diff_section_empty(e));
				}
			} else {
				ok = json_equal(g, w);
			}
			if (!ok) {
				char *s = json_dumps(g, 0);

				fail_msg("%s: %s is %s", cases[i].what, sections[k], s);
			}
		}
		/* deterministic */
		again = rules_diff_documents(a, b);
		assert_true(json_equal(got, again));
		json_decref(again);
		json_decref(got);
		json_decref(want);
		json_decref(a);
		json_decref(b);
		ruleset_destroy(&ra);
		ruleset_destroy(&rb);
	}
	assert_null(rules_diff_documents(NULL, NULL));
	a = json_array();
	b = json_object();
	assert_null(rules_diff_documents(a, b));
	assert_null(rules_diff_documents(b, a));
	json_decref(a);
	json_decref(b);
}

/* The diff of solna-v1 with itself, and with the version 2 of the
 * integration test (rule 13 at P2 within 48 h); the result shares nothing
 * with its inputs. */
static void test_diff_solna(void **state)
{
	json_error_t jerr;
	json_t *a = json_load_file(SOLNA, 0, &jerr), *b, *d, *rule, *fields;

	(void)state;
	assert_non_null(a);
	d = rules_diff_documents(a, a);
	assert_true(json_is_true(json_object_get(d, "identical")));
	json_decref(d);

	b = json_deep_copy(a);
	rule = json_array_get(json_object_get(b, "rules"), 12);
	json_object_set_new(rule, "priority", json_string("P2"));
	json_object_set_new(rule, "ack_within", json_string("48h"));
	d = rules_diff_documents(a, b);
	json_decref(a);
	json_decref(b);
	assert_true(json_is_false(json_object_get(d, "identical")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(d, "rules"), "changed")), 1);
	rule = json_array_get(json_object_get(json_object_get(d, "rules"), "changed"), 0);
	assert_string_equal(json_string_value(json_object_get(rule, "name")), "situation-picture");
	assert_int_equal(json_integer_value(json_object_get(rule, "from_position")), 13);
	assert_int_equal(json_integer_value(json_object_get(rule, "to_position")), 13);
	fields = json_object_get(rule, "fields");
	assert_int_equal(json_array_size(fields), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 0), "field")), "priority");
	assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 0), "from")), "P3");
	assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 0), "to")), "P2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 1), "field")), "ack_within");
	assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 1), "to")), "48h");
	json_decref(d);
}

/* ---- test cases with expectations ---- */

/* rules_test_cases() takes wrappers too: the same decision as the bare
 * concern, plus its name; errors in a wrapper's concern start "concern.". */
static void test_test_cases_wrapper(void **state)
{
	json_t *cases =
	        json_loads("[{\"name\": \"we1\", \"concern\": " WE1 ", \"expect\": {\"recipients\": []}},"
	                   " " WE1 ","
	                   " {\"concern\": " WE1 "},"
	                   " {\"name\": \"bad\", \"concern\": {\"category\": \"gossip\", \"urgency\": \"concern\"}},"
	                   " {\"name\": \"extra\", \"concern\": " WE1 ", \"comment\": \"x\"},"
	                   " {\"name\": 5, \"concern\": " WE1 "},"
	                   " {\"name\": \"not an object\", \"concern\": [1]}]",
	                   0, NULL);
	static const struct {
		const char *name, *code, *field; /* code NULL: routed */
	} want[] = {
	        {"we1", NULL, NULL},
	        {NULL, NULL, NULL},
	        {NULL, NULL, NULL},
	        {"bad", ORO_E_INVALID_VALUE, "concern.category"},
	        {"extra", ORO_E_UNKNOWN_FIELD, "comment"},
	        {NULL, ORO_E_WRONG_TYPE, "name"},
	        {"not an object", ORO_E_WRONG_TYPE, "concern"},
	};
	json_t *out, *e, *bare;
	size_t i;

	(void)state;
	assert_non_null(cases);
	out = rules_test_cases(solna, cases);
	assert_int_equal(json_array_size(out), NELEM(want));
	bare = json_array_get(out, 1);
	for (i = 0; i < NELEM(want); i++) {
		e = json_array_get(out, i);
		if (want[i].name != NULL)
			assert_string_equal(json_string_value(json_object_get(e, "name")), want[i].name);
		else
			assert_null(json_object_get(e, "name"));
		if (want[i].code == NULL) {
			json_t *copy = json_copy(e);

			json_object_del(copy, "name");
			assert_true(json_equal(copy, bare));
			json_decref(copy);
			continue;
		}
		assert_int_equal(json_object_size(e), want[i].name != NULL ? 2 : 1);
		e = json_object_get(e, "error");
		assert_string_equal(json_string_value(json_object_get(e, "code")), want[i].code);
		assert_string_equal(json_string_value(json_object_get(e, "field")), want[i].field);
	}
	json_decref(out);
	json_decref(cases);
}

/* Load the shipped suite. */
static json_t *load_suite(void)
{
	json_error_t jerr;
	json_t *suite = json_load_file(SUITE, 0, &jerr);

	if (suite == NULL)
		fail_msg("%s: line %d: %s", SUITE, jerr.line, jerr.text);
	return suite;
}

/* The shipped regression suite passes on solna-v1 with no mismatch, and
 * covers what it promises: every rule matched, both variants of rule 3, the
 * fallback, the worked examples, acute guidance, the age edges. */
static void test_suite_solna(void **state)
{
	static const int ages[] = {11, 12, 17, 18, 20, 21};
	json_t *suite = load_suite(), *res, *routes, *v, *routing;
	bool rule_seen[14] = {false}, variant_seen = false, base_seen = false, fallback_seen = false;
	bool age_seen[NELEM(ages)] = {false}, adult_no_age = false, unknown_no_age = false;
	size_t mismatches = 99, i, j, k, acute = 0;
	json_error_t jerr;

	(void)state;
	assert_true(json_array_size(suite) >= 40);
	res = rules_check_cases(solna, suite, &mismatches);
	assert_non_null(res);
	json_array_foreach(res, i, v)
	{
		if (!json_is_true(json_object_get(v, "ok"))) {
			char *s = json_dumps(v, JSON_INDENT(2));

			fprintf(stderr, "%s\n", s);
			free(s);
		}
		assert_int_equal(json_object_size(v), 4);
		assert_int_equal(json_integer_value(json_object_get(v, "case")), i + 1);
		assert_true(json_string_length(json_object_get(v, "name")) > 0);
		assert_int_equal(json_array_size(json_object_get(v, "mismatches")), 0);
	}
	assert_int_equal(mismatches, 0);
	json_decref(res);

	/* coverage, from the decisions and the explanations */
	routes = rules_test_cases(solna, suite);
	json_array_foreach(suite, i, v)
	{
		json_t *route = json_array_get(routes, i), *concern = json_object_get(v, "concern");
		json_t *subject = json_object_get(concern, "subject"), *age = json_object_get(subject, "age");
		json_t *expect = json_object_get(v, "expect"), *m;
		struct concern c;
		char *text;
		json_t *x;

		assert_null(json_object_get(route, "error"));
		assert_non_null(json_object_get(expect, "matched_rules"));
		json_array_foreach(json_object_get(route, "matched_rules"), j, m) rule_seen[json_integer_value(m)] =
		        true;
		fallback_seen |= json_is_true(json_object_get(route, "fallback"));
		if (strcmp(json_string_value(json_object_get(concern, "urgency")), "acute") == 0) {
			acute++;
			assert_string_equal(json_string_value(json_object_get(expect, "guidance_starts_with")),
			                    "Ring 112 nu");
		}
		for (k = 0; k < NELEM(ages); k++)
			age_seen[k] |= json_integer_value(age) == ages[k] && age != NULL;
		if (age == NULL && json_object_get(subject, "age_band") == NULL) {
			adult_no_age |= strcmp(json_string_value(json_object_get(subject, "kind")), "adult") == 0;
			unknown_no_age |= strcmp(json_string_value(json_object_get(subject, "kind")), "unknown") == 0;
		}
		text = json_dumps(concern, 0);
		concern_of(solna, text, &c);
		check_explain_agrees(solna, &c);
		x = ruleset_explain(solna, &c);
		json_array_foreach(json_object_get(x, "recipients"), j, m)
		{
			json_t *from = json_object_get(m, "priority_from");

			if (strcmp(json_string_value(json_object_get(m, "department")), "soc-barn") != 0 ||
			    json_integer_value(json_object_get(from, "rule")) != 3)
				continue;
			if (json_is_integer(json_object_get(from, "variant")))
				variant_seen = true;
			else
				base_seen = true;
		}
		json_decref(x);
		concern_clear(&c);
		free(text);
	}
	for (i = 1; i <= 13; i++)
		if (!rule_seen[i])
			fail_msg("rule %zu is matched by no case of the suite", i);
	assert_true(variant_seen);
	assert_true(base_seen);
	assert_true(fallback_seen);
	assert_true(acute >= 5);
	for (k = 0; k < NELEM(ages); k++)
		if (!age_seen[k])
			fail_msg("no case of age %d", ages[k]);
	assert_true(adult_no_age);
	assert_true(unknown_no_age);
	json_decref(routes);

	/* the hand-written integration cases are all in the suite, unchanged */
	routing = json_load_file(ROUTING_CASES, 0, &jerr);
	assert_non_null(routing);
	json_array_foreach(routing, i, v)
	{
		json_t *w = json_array_get(suite, i);

		assert_true(json_equal(json_object_get(v, "name"), json_object_get(w, "name")));
		assert_true(json_equal(json_object_get(v, "concern"), json_object_get(w, "concern")));
		assert_true(json_equal(json_object_get(v, "rules"),
		                       json_object_get(json_object_get(w, "expect"), "matched_rules")));
		assert_int_equal(json_array_size(json_object_get(v, "recipients")),
		                 json_array_size(json_object_get(json_object_get(w, "expect"), "recipients")));
	}
	json_decref(routing);
	json_decref(suite);
}

/* One change to the first case of the suite (worked example 1, whose
 * expected recipients are buf, polis, slf-sakerhet, slf-samordnare and
 * soc-barn, in that order). */
typedef void mutation(json_t *c);

/* The expected recipient i of case c. */
static json_t *want_rc(json_t *c, size_t i)
{
	return json_array_get(json_object_get(json_object_get(c, "expect"), "recipients"), i);
}

/* Mutation: polis expected with the notice view. */
static void mut_view(json_t *c)
{
	json_object_set_new(want_rc(c, 1), "view", json_string("notice"));
}

/* Mutation: polis expected at P2. */
static void mut_priority(json_t *c)
{
	json_object_set_new(want_rc(c, 1), "priority", json_string("P2"));
}

/* Mutation: polis expected within 5 h. */
static void mut_ack(json_t *c)
{
	json_object_set_new(want_rc(c, 1), "ack_within", json_string("5h"));
}

/* Mutation: polis expected with the child-protection basis. */
static void mut_basis(json_t *c)
{
	json_object_set_new(want_rc(c, 1), "disclosure_basis", json_string(B_CHILD));
}

/* Mutation: polis expected without a basis. */
static void mut_basis_null(json_t *c)
{
	json_object_set_new(want_rc(c, 1), "disclosure_basis", json_null());
}

/* Mutation: buf expected with a basis. */
static void mut_basis_unexpected(json_t *c)
{
	json_object_set_new(want_rc(c, 0), "disclosure_basis", json_string("X"));
}

/* Mutation: buf not expected. */
static void mut_drop_buf(json_t *c)
{
	json_array_remove(json_object_get(json_object_get(c, "expect"), "recipients"), 0);
}

/* Mutation: hr expected too. */
static void mut_add_hr(json_t *c)
{
	json_array_append_new(json_object_get(json_object_get(c, "expect"), "recipients"),
	                      json_pack("{s:s, s:s, s:s}", "department", "hr", "view", "full", "priority", "P1"));
}

/* Mutation: only rules 3 and 6 expected to match. */
static void mut_matched(json_t *c)
{
	json_object_set_new(json_object_get(c, "expect"), "matched_rules", json_pack("[i, i]", 3, 6));
}

/* Mutation: guidance expected to start with "Ring 112". */
static void mut_guidance(json_t *c)
{
	json_object_set_new(json_object_get(c, "expect"), "guidance_starts_with", json_string("Ring 112"));
}

/* Mutation: the fallback expected. */
static void mut_fallback(json_t *c)
{
	json_object_set_new(json_object_get(c, "expect"), "fallback", json_true());
}

/* Mutation: no expectation at all. */
static void mut_no_expect(json_t *c)
{
	json_object_del(c, "expect");
}

/* Mutation: two wrong values for one department. */
static void mut_two(json_t *c)
{
	mut_view(c);
	mut_priority(c);
}

/* Mutation: a view that does not exist. */
static void mut_bad_view(json_t *c)
{
	json_object_set_new(want_rc(c, 1), "view", json_string("ful"));
}

/* Mutation: a department that does not exist. */
static void mut_bad_dept(json_t *c)
{
	json_object_set_new(want_rc(c, 1), "department", json_string("police"));
}

/* Mutation: one department expected twice. */
static void mut_twice(json_t *c)
{
	json_object_set_new(want_rc(c, 0), "department", json_string("polis"));
}

/* Mutation: a deadline that does not parse. */
static void mut_bad_ack(json_t *c)
{
	json_object_set_new(want_rc(c, 1), "ack_within", json_string("soon"));
}

/* Mutation: a misspelt key of the expectation. */
static void mut_bad_key(json_t *c)
{
	json_object_set_new(json_object_get(c, "expect"), "recipient", json_array());
}

/* Mutation: a rule number beyond the ruleset. */
static void mut_bad_rule(json_t *c)
{
	json_object_set_new(json_object_get(c, "expect"), "matched_rules", json_pack("[i]", 14));
}

/* Mutation: a concern that is not valid. */
static void mut_bad_concern(json_t *c)
{
	json_object_set_new(json_object_get(c, "concern"), "category", json_string("gossip"));
}

/* Mutation: a key that a wrapper does not have. */
static void mut_bad_wrapper(json_t *c)
{
	json_object_set_new(c, "comment", json_string("x"));
}

/* Mutation: the bare concern instead of the wrapper. */
static void mut_bare(json_t *c)
{
	json_t *concern = json_incref(json_object_get(c, "concern"));

	json_object_clear(c);
	json_object_update(c, concern);
	json_decref(concern);
}

/* Each single change to the suite gives exactly one failing case with
 * exactly the expected mismatches (a '*' at the end: a prefix). */
static void test_suite_mutations(void **state)
{
	static const struct {
		mutation *mutate;
		const char *want[3];
	} cases[] = {
	        {mut_view, {"department polis: expected view notice, got full"}},
	        {mut_priority, {"department polis: expected priority P2, got P1"}},
	        {mut_ack, {"department polis: expected ack_within 5h, got 4h"}},
	        {mut_basis, {"department polis: expected disclosure_basis \"" B_CHILD "\", got \"" B_CRIME "\""}},
	        {mut_basis_null, {"department polis: expected no disclosure_basis, got \"" B_CRIME "\""}},
	        {mut_basis_unexpected, {"department buf: expected disclosure_basis \"X\", got none"}},
	        {mut_drop_buf, {"department buf: routed, not expected"}},
	        {mut_add_hr, {"department hr: expected, not routed"}},
	        {mut_matched, {"matched_rules: expected [3,6], got [3,6,12,13]"}},
	        {mut_guidance,
	         {"guidance: expected to start with \"Ring 112\", got \"Du är skyldig att anmäla genast och kan inte "
	          "v...\""}},
	        {mut_fallback, {"fallback: expected true, got false"}},
	        {mut_no_expect, {"no expectation"}},
	        {mut_bare, {"no expectation"}},
	        {mut_two,
	         {"department polis: expected view notice, got full",
	          "department polis: expected priority P2, got P1"}},
	        {mut_bad_view,
	         {"invalid expectation: expect.recipients[1].view: must be one of: notice, full (invalid_value)"}},
	        {mut_bad_dept,
	         {"invalid expectation: expect.recipients[1].department: unknown department \"police\" "
	          "(invalid_value)"}},
	        {mut_twice,
	         {"invalid expectation: expect.recipients[1].department: department \"polis\" is expected twice"
	          " (duplicate)"}},
	        {mut_bad_ack, {"invalid expectation: expect.recipients[1].ack_within: must be a number of seconds*"}},
	        {mut_bad_key, {"invalid expectation: expect.recipient: not a field of an expectation (unknown_field)"}},
	        {mut_bad_rule,
	         {"invalid expectation: expect.matched_rules[0]: the ruleset has rules 1..13 (out_of_range)"}},
	        {mut_bad_concern, {"invalid case: concern.category: must be one of: *"}},
	        {mut_bad_wrapper, {"invalid case: comment: not a field of a test case (unknown_field)"}},
	};
	json_t *suite = load_suite();
	size_t i, j, k;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		json_t *copy = json_deep_copy(suite), *res, *v, *mm;
		size_t mismatches = 0, n;

		cases[i].mutate(json_array_get(copy, 0));
		res = rules_check_cases(solna, copy, &mismatches);
		assert_int_equal(mismatches, 1);
		json_array_foreach(res, j, v) assert_int_equal(json_is_true(json_object_get(v, "ok")), j != 0);
		mm = json_object_get(json_array_get(res, 0), "mismatches");
		for (n = 0; n < 3 && cases[i].want[n] != NULL; n++)
			;
		if (json_array_size(mm) != n) {
			char *s = json_dumps(mm, 0);

			fail_msg("mutation %zu: %s", i, s);
		}
		for (k = 0; k < n; k++) {
			const char *got = json_string_value(json_array_get(mm, k)), *want = cases[i].want[k];
			size_t len = strlen(want);

			if (want[len - 1] == '*' ? strncmp(got, want, len - 1) != 0 : strcmp(got, want) != 0)
				fail_msg("mutation %zu: \"%s\", want \"%s\"", i, got, want);
		}
		json_decref(res);
		json_decref(copy);
	}
	json_decref(suite);
}

/* rules_check_cases() on edge inputs: not an array, an empty array, a
 * NULL counter, the name of a case, and every case failing. */
static void test_check_cases_edges(void **state)
{
	json_t *cases = json_loads("[{\"name\": \"n\", \"concern\": " WE2 ", \"expect\": {\"recipients\":"
	                           " [{\"department\": \"slf-samordnare\", \"view\": \"full\", \"priority\": \"P2\","
	                           " \"ack_within\": 259200, \"disclosure_basis\": null}]}}, 7, " WE2 "]",
	                           0, NULL);
	json_t *res, *e;
	size_t mismatches = 5;

	(void)state;
	assert_null(rules_check_cases(solna, NULL, &mismatches));
	assert_int_equal(mismatches, 0);
	e = json_object();
	assert_null(rules_check_cases(solna, e, NULL));
	json_decref(e);
	e = json_array();
	res = rules_check_cases(solna, e, &mismatches);
	assert_int_equal(json_array_size(res), 0);
	assert_int_equal(mismatches, 0);
	json_decref(res);
	json_decref(e);

	assert_non_null(cases);
	res = rules_check_cases(solna, cases, &mismatches);
	assert_int_equal(mismatches, 2);
	e = json_array_get(res, 0);
	assert_string_equal(json_string_value(json_object_get(e, "name")), "n");
	assert_true(json_is_true(json_object_get(e, "ok")));
	e = json_array_get(res, 1);
	assert_true(json_is_null(json_object_get(e, "name")));
	assert_int_equal(json_integer_value(json_object_get(e, "case")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "mismatches"), 0)),
	                    "invalid case: a concern must be a JSON object (wrong_type)");
	e = json_array_get(res, 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "mismatches"), 0)), "no expectation");
	json_decref(res);
	res = rules_check_cases(solna, cases, NULL);
	assert_int_equal(json_array_size(res), 3);
	json_decref(res);
	json_decref(cases);
}

/*
 * The category index skips only rules that cannot match: over a ruleset of
 * 300 rules with mixed categories (some none), every rule the evaluation
 * did not match must fail its own condition check (explain's "failed"),
 * for concerns of every category, urgency, kind and setting.
 */
static void test_category_index_equivalence(void **state)
{
	static const char *const cats[] = {
	        "violent_rhetoric", "propaganda",           "recruitment", "weapons", "other",
	        "planned_attack",   "association_activity", "returnee"};
	json_t *doc =
	        json_pack("{s:i, s:s, s:[{s:s, s:s, s:n}], s:[s], s:{s:s, s:s, s:s}, s:[]}", "oro_ruleset", 1, "name",
	                  "index test", "departments", "code", "d", "name", "D", "escalates_to", "districts", "X",
	                  "fallback", "department", "d", "priority", "P2", "ack_within", "1h", "rules");
	json_t *rules = json_object_get(doc, "rules");
	struct rules_diags d = {0};
	struct ruleset *rs;
	char *text;
	unsigned seed = 7;

	(void)state;
	for (int i = 0; i < 300; i++) {
		json_t *when = json_object();
		char name[16];

		seed = seed * 1103515245u + 12345u;
		if (seed % 5 != 0) /* most rules name one to three categories; some none */
			json_object_set_new(when, "category",
			                    json_pack("[s, s]", cats[seed % 8], cats[(seed >> 8) % 8]));
		if (seed % 3 == 0)
			json_object_set_new(when, "urgency", json_pack("[s]", (seed >> 4) % 2 ? "acute" : "concern"));
		snprintf(name, sizeof name, "r%d", i);
		json_array_append_new(rules, json_pack("{s:s, s:o, s:[{s:s, s:s}], s:s, s:s, s:b}", "name", name,
		                                       "when", when, "recipients", "department", "d", "view", "notice",
		                                       "priority", "P3", "ack_within", "1h", "final", i == 290));
	}
	text = json_dumps(doc, JSON_COMPACT);
	rs = ruleset_parse(text, strlen(text), &d);
	if (rs == NULL)
		fail_msg("the generated ruleset does not parse: %s", d.count ? d.items[0].message : "?");
	for (int cat = 0; cat < CAT_COUNT; cat++) {
		for (int urg = 0; urg < URG_COUNT; urg++) {
			struct concern c = {0};
			json_t *x, *r;
			size_t i;

			c.v.category = (enum category)cat;
			c.v.urgency = (enum urgency)urg;
			c.v.kind = KIND_ADULT;
			c.v.band = BAND_21_PLUS;
			c.v.setting = SET_ONLINE;
			c.v.district = 0;
			c.v.grant = TRI_UNKNOWN;
			c.v.relatives = TRI_UNKNOWN;
			x = ruleset_explain(rs, &c);
			json_array_foreach(json_object_get(x, "rules"), i, r)
			{
				const char *failed = json_string_value(json_object_get(r, "failed"));

				if (json_is_true(json_object_get(r, "evaluated")) &&
				    json_is_false(json_object_get(r, "matched")) &&
				    (failed == NULL || strcmp(failed, "does not hold") == 0))
					fail_msg("category %d urgency %d: rule %zu holds but was not matched", cat, urg,
					         i + 1);
			}
			json_decref(x);
		}
	}
	ruleset_destroy(&rs);
	rules_diags_free(&d);
	free(text);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_category_index_equivalence),
	        cmocka_unit_test(test_solna_table),
	        cmocka_unit_test(test_solna_shape),
	        cmocka_unit_test(test_acute_guidance_first),
	        cmocka_unit_test(test_solna_invariants),
	        cmocka_unit_test(test_route_warm),
	        cmocka_unit_test(test_final),
	        cmocka_unit_test(test_conditions),
	        cmocka_unit_test(test_merge),
	        cmocka_unit_test(test_fallback_basis),
	        cmocka_unit_test(test_no_rules),
	        cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_validation_table),
	        cmocka_unit_test(test_validation_collects_all),
	        cmocka_unit_test(test_warnings_and_first_error),
	        cmocka_unit_test(test_load_file_io),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_test_cases_shape),
	        cmocka_unit_test(test_test_cases_golden),
	        cmocka_unit_test(test_diags_utf8),
	        cmocka_unit_test(test_json_small),
	        cmocka_unit_test(test_action_areas_solna),
	        cmocka_unit_test(test_action_areas_inline),
	        cmocka_unit_test(test_explain_agrees),
	        cmocka_unit_test(test_explain_rules),
	        cmocka_unit_test(test_explain_provenance),
	        cmocka_unit_test(test_explain_golden),
	        cmocka_unit_test(test_explain_stored),
	        cmocka_unit_test(test_diff),
	        cmocka_unit_test(test_diff_solna),
	        cmocka_unit_test(test_test_cases_wrapper),
	        cmocka_unit_test(test_suite_solna),
	        cmocka_unit_test(test_suite_mutations),
	        cmocka_unit_test(test_check_cases_edges),
	};

	return cmocka_run_group_tests(tests, setup_solna, teardown_solna);
}
