/*
 * test_rules: the ruleset (rules.c) against STRATEGY.md. Every worked example
 * of STRATEGY.md and at least one case per rule of ruleset version 1 are rows
 * of one table, checked for exact matched rules, recipients (in order, with
 * view, priority, deadline in seconds and disclosure basis), guidance order
 * and fallback. Small inline rulesets test `final`, variants, conditions and
 * every class of validation finding. rules_test_cases() is checked against
 * a golden file (tests/unit/data/solna-v1-expected.json).
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

#define SOLNA    "sql/strategy/solna-v1.json"
#define CASES    "tests/unit/data/solna-v1-cases.json"
#define EXPECTED "tests/unit/data/solna-v1-expected.json"

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
#define T_FINAL_DOC                                                                                  \
	T_DOC(T_RULE("stop-north", "{\"district\": [\"North\"]}", T_RC("b", "notice"), "P1", "1h",   \
	             ", \"final\": true, \"guidance\": {\"sv\": \"N\", \"en\": \"N\"}") ","          \
	      T_RULE("all", "{}", T_RC("b", "full"), "P2", "2h", "") ","                            \
	      T_RULE("all-c", "{}", T_RC("c", "notice"), "P3", "3h", ", \"final\": false"))

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
#define T_COND_DOC T_DOC( \
	        /* 1 */ T_RULE("teen", "{\"age\": {\"min\": 13, \"max\": 15}}", T_RC("a", "notice"), "P3", "1h", "") "," \
	        /* 2 */ T_RULE("grant", "{\"association_grant\": [\"yes\"]}", T_RC("b", "notice"), "P3", "1h", "") "," \
	        /* 3 */ T_RULE("south-online", "{\"district\": [\"South\"], \"setting\": [\"online\", \"school\"]}", \
	                       T_RC("c", "notice"), "P3", "1h", "") "," \
	        /* 4 */ T_RULE("nested", \
	                       "{\"urgency\": [\"urgent\"], \"any\": [{\"category\": [\"weapons\"]}," \
	                       " {\"any\": [{\"subject_kind\": [\"group\"]}, {\"age\": {\"min\": 70}}]}]}", \
	                       T_RC("b", "full"), "P2", "10h", \
	                       ", \"variants\": [{\"when\": {\"category\": [\"weapons\"]}," \
	                       " \"priority\": \"P0\"}, {\"when\": {\"subject_kind\": [\"group\"]}," \
	                       " \"ack_within\": 60}, {\"when\": {}, \"priority\": \"P3\"}]") "," \
	        /* 5 */ T_RULE("old", "{\"age\": {\"max\": 2}}", T_RC("c", "notice"), "P3", "1h", ""))

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

#define T_AREAS "\"action_areas\": [{\"number\": 1, \"name\": \"One\"}, {\"number\": 2, \"name\": \"Two\"}]"
#define AREAS(areas) "{" T_HEAD ", " areas ", \"rules\": [" T_OK "]}"
#define AREA1(more)  AREAS("\"action_areas\": [{\"number\": 1, \"name\": \"One\"}, " more "]")
#define RA(area)                                                                                              \
	"{" T_HEAD ", " T_AREAS ", \"rules\": [{\"name\": \"r1\", \"action_area\": " area ", \"recipients\": [" \
	T_RC("b", "full") "], \"priority\": \"P1\", \"ack_within\": \"1h\"}]}"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
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
	};

	return cmocka_run_group_tests(tests, setup_solna, teardown_solna);
}
