/*
 * test_vocab_concern: the vocabularies (vocab.c) and the concern document
 * (concern.c): reading, every validation check, writing back.
 *
 * Validation cases are a table of JSON merge patches (RFC 7386) applied to
 * one valid concern, each with the error code and field it must give; the
 * table is meant to cover every check in concern_validate(). Runs from the
 * source directory (sql/strategy/solna-v1.json gives the district list).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "alloc.h"
#include "concern.h"
#include "rules.h"
#include "vocab.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const base_concern =
        "{\"client_key\": \"k-1\", \"category\": \"propaganda\", \"urgency\": \"concern\","
        " \"subject\": {\"kind\": \"child\", \"age\": 15, \"name\": \"Anna A\","
        " \"personal_number\": \"811218-9876\", \"unit\": \"Skola 7B\"},"
        " \"setting\": \"school\", \"district\": \"Hagalund\", \"association_grant\": \"no\","
        " \"description\": \"Talar om att resa.\", \"observed_at\": \"2024-11-27T14:05:00+01:00\","
        " \"relatives_informed\": \"unknown\","
        " \"reporter\": {\"unit\": \"Skola\", \"phone\": \"+46 8-123 45 67\"}}";

/* ---- vocab ---- */

/* Every name of every table looks up to its own index; others give -1. */
static void test_vocab_roundtrip(void **state)
{
	static const struct {
		const char *const *names;
		size_t n;
	} tables[] = {
	        {category_names, CAT_COUNT},  {urgency_names, URG_COUNT},   {subject_kind_names, KIND_COUNT},
	        {age_band_names, BAND_COUNT}, {setting_names, SET_COUNT},   {tristate_names, TRI_COUNT},
	        {view_names, VIEW_COUNT},     {priority_names, PRIO_COUNT},
	};
	size_t t, i;

	(void)state;
	for (t = 0; t < NELEM(tables); t++) {
		for (i = 0; i < tables[t].n; i++) {
			assert_non_null(tables[t].names[i]);
			assert_int_equal(vocab_lookup(tables[t].names, tables[t].n, tables[t].names[i]), (int)i);
		}
		assert_int_equal(vocab_lookup(tables[t].names, tables[t].n, NULL), -1);
		assert_int_equal(vocab_lookup(tables[t].names, tables[t].n, "nonsense"), -1);
		assert_int_equal(vocab_lookup(tables[t].names, tables[t].n, ""), -1);
	}
	assert_int_equal(VOCAB_LOOKUP(category_names, "travel_conflict_zone"), CAT_TRAVEL_CONFLICT_ZONE);
	assert_int_equal(VOCAB_LOOKUP(setting_names, "sports_facility"), SET_SPORTS_FACILITY);
	assert_int_equal(VOCAB_LOOKUP(age_band_names, "21+"), BAND_21_PLUS);
	assert_int_equal(VOCAB_LOOKUP(priority_names, "p0"), -1); /* case matters */
	assert_true(VIEW_FULL > VIEW_NOTICE);
	assert_true(PRIO_P0 < PRIO_P3);
}

/* The band boundaries of STRATEGY.md. */
static void test_age_band_of(void **state)
{
	static const struct {
		int age;
		enum age_band band;
	} cases[] = {
	        {-1, BAND_UNKNOWN}, {-100, BAND_UNKNOWN}, {0, BAND_0_11},   {11, BAND_0_11},    {12, BAND_12_17},
	        {17, BAND_12_17},   {18, BAND_18_20},     {20, BAND_18_20}, {21, BAND_21_PLUS}, {120, BAND_21_PLUS},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++)
		assert_int_equal(age_band_of(cases[i].age), cases[i].band);
}

/* ---- utf8_valid_text ---- */

static void test_utf8(void **state)
{
	static const struct {
		const char *s;
		size_t len; /* 0: strlen */
		bool ok;
	} cases[] = {
	        {"", 0, true},
	        {"plain", 0, true},
	        {"tab\tcr\rlf\n", 0, true},
	        {"J\xc3\xa4rva R\xc3\xa5sunda", 0, true}, /* Järva Råsunda */
	        {"\xe2\x82\xac", 0, true},                /* euro sign */
	        {"\xf0\x9f\x98\x80", 0, true},            /* emoji */
	        {"\x01", 0, false},                       /* control */
	        {"a\x1b[0m", 0, false},                   /* escape */
	        {"a\0b", 3, false},                       /* NUL */
	        {"\xc3", 0, false},                       /* truncated */
	        {"\xc3\x28", 0, false},                   /* bad continuation */
	        {"\x80", 0, false},                       /* lone continuation */
	        {"\xc0\xaf", 0, false},                   /* overlong '/' */
	        {"\xe0\x80\xaf", 0, false},               /* overlong */
	        {"\xed\xa0\x80", 0, false},               /* surrogate */
	        {"\xf4\x90\x80\x80", 0, false},           /* > U+10FFFF */
	        {"\xff", 0, false},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].s);

		if (utf8_valid_text(cases[i].s, len) != cases[i].ok)
			fail_msg("case %zu", i);
	}
}

/* ---- reading ---- */

/* Parse text into c; asserts success. */
static void parse_ok(const char *text, struct concern *c)
{
	struct oro_error err;

	memset(&err, 0, sizeof err);
	memset(c, 0, sizeof *c);
	if (concern_parse(text, strlen(text), c, &err) < 0)
		fail_msg("parse: %s %s %s", err.code, err.field, err.message);
}

static void test_parse_fields(void **state)
{
	struct concern c;

	(void)state;
	parse_ok(base_concern, &c);
	assert_string_equal(c.client_key, "k-1");
	assert_string_equal(c.category, "propaganda");
	assert_string_equal(c.urgency, "concern");
	assert_string_equal(c.subject_kind, "child");
	assert_true(c.has_age);
	assert_int_equal(c.age, 15);
	assert_null(c.age_band);
	assert_string_equal(c.subject_name, "Anna A");
	assert_string_equal(c.personal_number, "811218-9876");
	assert_string_equal(c.subject_unit, "Skola 7B");
	assert_string_equal(c.setting, "school");
	assert_string_equal(c.district, "Hagalund");
	assert_string_equal(c.association_grant, "no");
	assert_string_equal(c.description, "Talar om att resa.");
	assert_string_equal(c.observed_at, "2024-11-27T14:05:00+01:00");
	assert_string_equal(c.relatives_informed, "unknown");
	assert_string_equal(c.reporter_unit, "Skola");
	assert_string_equal(c.reporter_phone, "+46 8-123 45 67");
	assert_null(c.reporter_principal);
	concern_clear(&c);
	concern_clear(&c); /* twice is safe */
	assert_null(c.client_key);
}

/* Structural errors of concern_parse() / concern_from_json(). */
static void test_parse_errors(void **state)
{
	static const struct {
		const char *text;
		const char *code;
		const char *field;
	} cases[] = {
	        {"{", ORO_E_INVALID_JSON, ""},
	        {"", ORO_E_INVALID_JSON, ""},
	        {"{\"category\": \"a\", \"category\": \"b\"}", ORO_E_INVALID_JSON, ""},
	        {"{\"category\": \"\xc3\x28\"}", ORO_E_INVALID_UTF8, ""},
	        {"[1, 2]", ORO_E_WRONG_TYPE, ""},
	        {"{\"colour\": \"red\"}", ORO_E_UNKNOWN_FIELD, "colour"},
	        {"{\"f\\u00e4rg\\u0001\": \"r\"}", ORO_E_UNKNOWN_FIELD, "f??rg?"},
	        {"{\"reporter_principal\": \"x\"}", ORO_E_UNKNOWN_FIELD, "reporter_principal"},
	        {"{\"subject\": {\"shoe_size\": 4}}", ORO_E_UNKNOWN_FIELD, "subject.shoe_size"},
	        {"{\"reporter\": {\"email\": \"a@b\"}}", ORO_E_UNKNOWN_FIELD, "reporter.email"},
	        {"{\"category\": 3}", ORO_E_WRONG_TYPE, "category"},
	        {"{\"client_key\": true}", ORO_E_WRONG_TYPE, "client_key"},
	        {"{\"description\": [\"a\"]}", ORO_E_WRONG_TYPE, "description"},
	        {"{\"subject\": \"child\"}", ORO_E_WRONG_TYPE, "subject"},
	        {"{\"reporter\": 5}", ORO_E_WRONG_TYPE, "reporter"},
	        {"{\"subject\": {\"age\": \"15\"}}", ORO_E_WRONG_TYPE, "subject.age"},
	        {"{\"subject\": {\"age\": 15.5}}", ORO_E_WRONG_TYPE, "subject.age"},
	        {"{\"subject\": {\"kind\": 1}}", ORO_E_WRONG_TYPE, "subject.kind"},
	        {"{\"reporter\": {\"phone\": 812345}}", ORO_E_WRONG_TYPE, "reporter.phone"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct concern c;
		struct oro_error err;

		memset(&c, 0, sizeof c);
		memset(&err, 0, sizeof err);
		if (concern_parse(cases[i].text, strlen(cases[i].text), &c, &err) != -1)
			fail_msg("case %zu parsed", i);
		if (strcmp(err.code, cases[i].code) != 0 || strcmp(err.field, cases[i].field) != 0)
			fail_msg("case %zu: got %s \"%s\" (%s)", i, err.code, err.field, err.message);
		assert_true(oro_error_isset(&err));
		assert_true(err.message[0] != '\0');
		concern_clear(&c);
	}
}

/* A JSON null is the same as an absent key. */
static void test_parse_null(void **state)
{
	struct concern c;

	(void)state;
	parse_ok("{\"client_key\": null, \"subject\": {\"age\": null, \"kind\": \"adult\"},"
	         " \"reporter\": null}",
	         &c);
	assert_null(c.client_key);
	assert_false(c.has_age);
	assert_string_equal(c.subject_kind, "adult");
	concern_clear(&c);
}

/* ---- validation ---- */

/* RFC 7386 merge patch of patch into target. */
static void merge_patch(json_t *target, json_t *patch)
{
	const char *key;
	json_t *v;

	json_object_foreach(patch, key, v)
	{
		json_t *t = json_object_get(target, key);

		if (json_is_null(v))
			json_object_del(target, key);
		else if (json_is_object(v) && json_is_object(t))
			merge_patch(t, v);
		else
			json_object_set(target, key, v);
	}
}

/* The base concern with patch (JSON text) applied, read into c. Returns
 * concern_validate()'s result. */
static int validate_patched(const char *patch, const struct ruleset *rs, unsigned flags, struct concern *c,
                            struct oro_error *err)
{
	json_error_t jerr;
	json_t *doc = json_loads(base_concern, 0, &jerr);
	json_t *p = json_loads(patch, JSON_DECODE_ANY, &jerr);

	if (doc == NULL || p == NULL)
		fail_msg("bad test JSON %s: %s", patch, jerr.text);
	merge_patch(doc, p);
	memset(c, 0, sizeof *c);
	memset(err, 0, sizeof *err);
	if (concern_from_json(doc, c, err) < 0)
		fail_msg("from_json %s: %s %s", patch, err->code, err->field);
	json_decref(doc);
	json_decref(p);
	return concern_validate(c, rs, flags, err);
}

static struct ruleset *load_solna(void)
{
	struct rules_diags d = {NULL, 0, 0};
	struct ruleset *rs = ruleset_load_file("sql/strategy/solna-v1.json", &d);

	if (rs == NULL)
		fail_msg("solna-v1.json: %zu errors, first %s %s", d.errors, d.count ? d.items[0].field : "",
		         d.count ? d.items[0].message : "");
	rules_diags_free(&d);
	return rs;
}

#define ROUTING CONCERN_ROUTING_ONLY

/* Every check of concern_validate(): one row per way to fail, then rows
 * that must pass. code NULL means valid. */
static void test_validate_table(void **state)
{
	static char long_key[CONCERN_CLIENT_KEY_MAX + 20];
	static char long_text[300];
	static char long_desc[CONCERN_DESCRIPTION_MAX + 100];
	static char max_key[CONCERN_CLIENT_KEY_MAX + 20];
	struct {
		const char *patch;
		unsigned flags;
		bool with_rs;
		const char *code;
		const char *field;
	} cases[] = {
	        /* valid */
	        {"{}", 0, true, NULL, NULL},
	        {"{}", 0, false, NULL, NULL},
	        {"{\"client_key\": null, \"description\": null}", ROUTING, true, NULL, NULL},
	        {"{\"subject\": {\"kind\": \"adult\", \"age\": 15}}", 0, true, NULL, NULL},
	        {"{\"subject\": {\"age\": null, \"age_band\": \"12-17\"}}", 0, true, NULL, NULL},
	        {"{\"subject\": {\"age\": 17, \"age_band\": \"12-17\"}}", 0, true, NULL, NULL},
	        {"{\"subject\": {\"age\": 0}}", 0, true, NULL, NULL},
	        {"{\"subject\": {\"kind\": \"adult\", \"age\": 120}}", 0, true, NULL, NULL},
	        {"{\"subject\": {\"kind\": \"group\", \"age\": null, \"name\": null,"
	         " \"personal_number\": null, \"unit\": null}}",
	         0, true, NULL, NULL},
	        {"{\"district\": \"Järva\"}", 0, true, NULL, NULL},
	        {"{\"district\": \"okänt\"}", 0, true, NULL, NULL},
	        {"{\"district\": \"Anywhere\"}", 0, false, NULL, NULL},
	        {"{\"association_grant\": null, \"relatives_informed\": null,"
	         " \"observed_at\": null, \"reporter\": null}",
	         0, true, NULL, NULL},
	        {"{\"client_key\": \"a b ~!\"}", 0, true, NULL, NULL},
	        {"{\"reporter\": {\"phone\": \"(08) 123 45\"}}", 0, true, NULL, NULL},
	        {"{\"reporter\": {\"phone\": \"12345\"}}", 0, true, NULL, NULL},
	        /* client_key */
	        {"{\"client_key\": null}", 0, true, ORO_E_MISSING, "client_key"},
	        {"{\"client_key\": \"\"}", 0, true, ORO_E_INVALID_VALUE, "client_key"},
	        {"{\"client_key\": \"nyckel-å\"}", 0, true, ORO_E_INVALID_VALUE, "client_key"},
	        {"{\"client_key\": \"tab\\there\"}", 0, true, ORO_E_INVALID_VALUE, "client_key"},
	        {NULL /* long_key */, 0, true, ORO_E_TOO_LONG, "client_key"},
	        {NULL /* max_key */, 0, true, NULL, NULL},
	        /* category, urgency */
	        {"{\"category\": null}", 0, true, ORO_E_MISSING, "category"},
	        {"{\"category\": \"gossip\"}", 0, true, ORO_E_INVALID_VALUE, "category"},
	        {"{\"category\": \"Propaganda\"}", 0, true, ORO_E_INVALID_VALUE, "category"},
	        {"{\"urgency\": null}", 0, true, ORO_E_MISSING, "urgency"},
	        {"{\"urgency\": \"now\"}", 0, true, ORO_E_INVALID_VALUE, "urgency"},
	        /* subject */
	        {"{\"subject\": null}", 0, true, ORO_E_MISSING, "subject.kind"},
	        {"{\"subject\": {\"kind\": null}}", 0, true, ORO_E_MISSING, "subject.kind"},
	        {"{\"subject\": {\"kind\": \"person\"}}", 0, true, ORO_E_INVALID_VALUE, "subject.kind"},
	        {"{\"subject\": {\"age\": -1}}", 0, true, ORO_E_OUT_OF_RANGE, "subject.age"},
	        {"{\"subject\": {\"kind\": \"adult\", \"age\": 121}}", 0, true, ORO_E_OUT_OF_RANGE, "subject.age"},
	        {"{\"subject\": {\"kind\": \"adult\", \"age\": 99999999999}}", 0, true, ORO_E_OUT_OF_RANGE,
	         "subject.age"},
	        {"{\"subject\": {\"age\": 18}}", 0, true, ORO_E_OUT_OF_RANGE, "subject.age"},
	        {"{\"subject\": {\"age\": 40}}", 0, true, ORO_E_OUT_OF_RANGE, "subject.age"},
	        {"{\"subject\": {\"age\": null, \"age_band\": \"18-20\"}}", 0, true, ORO_E_INVALID_VALUE,
	         "subject.age_band"},
	        {"{\"subject\": {\"age\": null, \"age_band\": \"21+\"}}", 0, true, ORO_E_INVALID_VALUE,
	         "subject.age_band"},
	        {"{\"subject\": {\"age_band\": \"teen\"}}", 0, true, ORO_E_INVALID_VALUE, "subject.age_band"},
	        {"{\"subject\": {\"age\": 15, \"age_band\": \"0-11\"}}", 0, true, ORO_E_INVALID_VALUE,
	         "subject.age_band"},
	        {"{\"subject\": {\"kind\": \"adult\", \"age\": 30, \"age_band\": \"unknown\"}}", 0, true,
	         ORO_E_INVALID_VALUE, "subject.age_band"},
	        {NULL /* long name */, 0, true, ORO_E_TOO_LONG, "subject.name"},
	        {"{\"subject\": {\"name\": \"bad\\u0007bell\"}}", 0, true, ORO_E_INVALID_UTF8, "subject.name"},
	        {"{\"subject\": {\"unit\": \"a\\u001fb\"}}", 0, true, ORO_E_INVALID_UTF8, "subject.unit"},
	        {"{\"subject\": {\"personal_number\": \"811218-9875\"}}", 0, true, ORO_E_INVALID_VALUE,
	         "subject.personal_number"},
	        /* setting, district */
	        {"{\"setting\": null}", 0, true, ORO_E_MISSING, "setting"},
	        {"{\"setting\": \"beach\"}", 0, true, ORO_E_INVALID_VALUE, "setting"},
	        {"{\"district\": null}", 0, true, ORO_E_MISSING, "district"},
	        {"{\"district\": null}", 0, false, ORO_E_MISSING, "district"},
	        {"{\"district\": \"Sundbyberg\"}", 0, true, ORO_E_INVALID_VALUE, "district"},
	        {"{\"district\": \"hagalund\"}", 0, true, ORO_E_INVALID_VALUE, "district"},
	        {"{\"district\": \"\"}", 0, false, ORO_E_INVALID_VALUE, "district"},
	        {"{\"district\": \"a\\u0002\"}", 0, false, ORO_E_INVALID_UTF8, "district"},
	        {NULL /* long district */, 0, false, ORO_E_TOO_LONG, "district"},
	        /* association_grant, relatives_informed */
	        {"{\"association_grant\": \"maybe\"}", 0, true, ORO_E_INVALID_VALUE, "association_grant"},
	        {"{\"relatives_informed\": \"YES\"}", 0, true, ORO_E_INVALID_VALUE, "relatives_informed"},
	        /* description */
	        {"{\"description\": null}", 0, true, ORO_E_MISSING, "description"},
	        {"{\"description\": \"  \\n \"}", 0, true, ORO_E_INVALID_VALUE, "description"},
	        {"{\"description\": \"x\\u0000y\"}", 0, true, NULL, NULL}, /* see below */
	        {NULL /* long description */, 0, true, ORO_E_TOO_LONG, "description"},
	        {NULL /* long description, routing only */, ROUTING, true, ORO_E_TOO_LONG, "description"},
	        {"{\"description\": \"a\\u0001\"}", 0, true, ORO_E_INVALID_UTF8, "description"},
	        /* observed_at */
	        {"{\"observed_at\": \"2024-11-27 14:05\"}", 0, true, ORO_E_INVALID_VALUE, "observed_at"},
	        {"{\"observed_at\": \"2024-11-27T14:05:00\"}", 0, true, ORO_E_INVALID_VALUE, "observed_at"},
	        {"{\"observed_at\": \"2024-02-30T14:05:00Z\"}", 0, true, ORO_E_INVALID_VALUE, "observed_at"},
	        {"{\"observed_at\": \"2024-11-27T24:00:00Z\"}", 0, true, ORO_E_INVALID_VALUE, "observed_at"},
	        {"{\"observed_at\": \"2024-11-27T14:05:00+1:00\"}", 0, true, ORO_E_INVALID_VALUE, "observed_at"},
	        {"{\"observed_at\": \"2024-11-27T14:05:00.Z\"}", 0, true, ORO_E_INVALID_VALUE, "observed_at"},
	        {"{\"observed_at\": \"2024-11-27T14:05:00Zjunk\"}", 0, true, ORO_E_INVALID_VALUE, "observed_at"},
	        {"{\"observed_at\": \"yesterday\"}", 0, true, ORO_E_INVALID_VALUE, "observed_at"},
	        {"{\"observed_at\": \"2999-01-01T00:00:00Z\"}", 0, true, ORO_E_OUT_OF_RANGE, "observed_at"},
	        {NULL /* two hours ahead */, 0, true, ORO_E_OUT_OF_RANGE, "observed_at"},
	        /* reporter */
	        {NULL /* long unit */, 0, true, ORO_E_TOO_LONG, "reporter.unit"},
	        {"{\"reporter\": {\"phone\": \"1234\"}}", 0, true, ORO_E_INVALID_VALUE, "reporter.phone"},
	        {"{\"reporter\": {\"phone\": \"08-123 45 67 ext 5\"}}", 0, true, ORO_E_INVALID_VALUE, "reporter.phone"},
	        {"{\"reporter\": {\"phone\": \"-- () --\"}}", 0, true, ORO_E_INVALID_VALUE, "reporter.phone"},
	        {"{\"reporter\": {\"phone\": \"12345678901234567890123456789012345678901\"}}", 0, true,
	         ORO_E_INVALID_VALUE, "reporter.phone"},
	};
	struct ruleset *rs = load_solna();
	char *owned[NELEM(cases)];
	size_t i, n_owned = 0;
	char ahead[64];
	time_t t = time(NULL) + 7200;
	struct tm tm;

	(void)state;
	/* fill the generated patches in table order */
	memset(long_key, 'k', CONCERN_CLIENT_KEY_MAX + 1);
	long_key[CONCERN_CLIENT_KEY_MAX + 1] = '\0';
	memset(max_key, 'k', CONCERN_CLIENT_KEY_MAX);
	max_key[CONCERN_CLIENT_KEY_MAX] = '\0';
	memset(long_text, 'x', CONCERN_TEXT_MAX + 1);
	long_text[CONCERN_TEXT_MAX + 1] = '\0';
	memset(long_desc, 'd', CONCERN_DESCRIPTION_MAX + 1);
	long_desc[CONCERN_DESCRIPTION_MAX + 1] = '\0';
	gmtime_r(&t, &tm);
	strftime(ahead, sizeof ahead, "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (i = 0; i < NELEM(cases); i++) {
		const char *f = cases[i].field ? cases[i].field : "client_key";
		char *p = NULL;

		if (cases[i].patch != NULL)
			continue;
		if (strcmp(f, "client_key") == 0)
			p = xasprintf("{\"client_key\": \"%s\"}", cases[i].code ? long_key : max_key);
		else if (strcmp(f, "subject.name") == 0)
			p = xasprintf("{\"subject\": {\"name\": \"%s\"}}", long_text);
		else if (strcmp(f, "district") == 0)
			p = xasprintf("{\"district\": \"%s\"}", long_text);
		else if (strcmp(f, "description") == 0)
			p = xasprintf("{\"description\": \"%s\"}", long_desc);
		else if (strcmp(f, "observed_at") == 0)
			p = xasprintf("{\"observed_at\": \"%s\"}", ahead);
		else if (strcmp(f, "reporter.unit") == 0)
			p = xasprintf("{\"reporter\": {\"unit\": \"%s\"}}", long_text);
		else
			fail_msg("no generator for case %zu", i);
		cases[i].patch = owned[n_owned++] = p;
	}
	for (i = 0; i < NELEM(cases); i++) {
		struct concern c;
		struct oro_error err;
		int r;

		/* "x\u0000y" is refused by the JSON reader itself */
		if (strstr(cases[i].patch, "\\u0000") != NULL) {
			json_error_t jerr;

			assert_null(json_loads(cases[i].patch, 0, &jerr));
			continue;
		}
		r = validate_patched(cases[i].patch, cases[i].with_rs ? rs : NULL, cases[i].flags, &c, &err);
		if (cases[i].code == NULL) {
			if (r != 0)
				fail_msg("case %zu %.60s: unexpected %s %s (%s)", i, cases[i].patch, err.code,
				         err.field, err.message);
		} else if (r != -1 || strcmp(err.code, cases[i].code) != 0 || strcmp(err.field, cases[i].field) != 0) {
			fail_msg("case %zu %.60s: want %s %s, got %d %s %s (%s)", i, cases[i].patch, cases[i].code,
			         cases[i].field, r, err.code, err.field, err.message);
		}
		concern_clear(&c);
	}
	for (i = 0; i < n_owned; i++)
		free(owned[i]);
	ruleset_destroy(&rs);
}

/* Resolved values in c->v after a successful validation. */
static void test_validate_resolves(void **state)
{
	static const struct {
		const char *patch;
		bool with_rs;
		enum category cat;
		enum urgency urg;
		enum subject_kind kind;
		enum age_band band;
		enum setting setting;
		int district; /* with rs: index in solna-v1.json (sorted); -1 without */
		enum tristate grant, relatives;
		int64_t observed_at;
	} cases[] = {
	        {"{}", true, CAT_PROPAGANDA, URG_CONCERN, KIND_CHILD, BAND_12_17, SET_SCHOOL, 3, TRI_NO, TRI_UNKNOWN,
	         1732712700},
	        {"{}", false, CAT_PROPAGANDA, URG_CONCERN, KIND_CHILD, BAND_12_17, SET_SCHOOL, -1, TRI_NO, TRI_UNKNOWN,
	         1732712700},
	        {"{\"category\": \"planned_attack\", \"urgency\": \"acute\", \"subject\":"
	         " {\"kind\": \"adult\", \"age\": null}, \"setting\": \"online\","
	         " \"district\": \"okänt\", \"association_grant\": null,"
	         " \"relatives_informed\": \"yes\", \"observed_at\": null}",
	         true, CAT_PLANNED_ATTACK, URG_ACUTE, KIND_ADULT, BAND_UNKNOWN, SET_ONLINE, 12, TRI_UNKNOWN, TRI_YES,
	         0},
	        {"{\"subject\": {\"kind\": \"unknown\", \"age\": null, \"age_band\": \"0-11\"},"
	         " \"observed_at\": \"2024-11-27T13:05:00Z\", \"district\": \"Arenastaden\"}",
	         true, CAT_PROPAGANDA, URG_CONCERN, KIND_UNKNOWN, BAND_0_11, SET_SCHOOL, 0, TRI_NO, TRI_UNKNOWN,
	         1732712700},
	        {"{\"subject\": {\"kind\": \"adult\", \"age\": 19},"
	         " \"observed_at\": \"2024-11-27T08:35:00.123-04:30\"}",
	         true, CAT_PROPAGANDA, URG_CONCERN, KIND_ADULT, BAND_18_20, SET_SCHOOL, 3, TRI_NO, TRI_UNKNOWN,
	         1732712700},
	        {"{\"subject\": {\"kind\": \"employee\", \"age\": 45},"
	         " \"observed_at\": \"1970-01-01T00:00:00z\", \"association_grant\": \"yes\"}",
	         true, CAT_PROPAGANDA, URG_CONCERN, KIND_EMPLOYEE, BAND_21_PLUS, SET_SCHOOL, 3, TRI_YES, TRI_UNKNOWN,
	         0},
	        {"{\"subject\": {\"kind\": \"adult\", \"age\": 30},"
	         " \"observed_at\": \"2000-02-29T23:59:60+00:00\"}",
	         true, CAT_PROPAGANDA, URG_CONCERN, KIND_ADULT, BAND_21_PLUS, SET_SCHOOL, 3, TRI_NO, TRI_UNKNOWN,
	         951868800},
	};
	struct ruleset *rs = load_solna();
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct concern c;
		struct oro_error err;

		if (validate_patched(cases[i].patch, cases[i].with_rs ? rs : NULL, 0, &c, &err) != 0)
			fail_msg("case %zu: %s %s %s", i, err.code, err.field, err.message);
		assert_int_equal(c.v.category, cases[i].cat);
		assert_int_equal(c.v.urgency, cases[i].urg);
		assert_int_equal(c.v.kind, cases[i].kind);
		assert_int_equal(c.v.band, cases[i].band);
		assert_int_equal(c.v.setting, cases[i].setting);
		assert_int_equal(c.v.district, cases[i].district);
		assert_int_equal(c.v.grant, cases[i].grant);
		assert_int_equal(c.v.relatives, cases[i].relatives);
		if (c.v.observed_at != cases[i].observed_at)
			fail_msg("case %zu: observed_at %lld", i, (long long)c.v.observed_at);
		concern_clear(&c);
	}
	ruleset_destroy(&rs);
}

/* Personal identity numbers: the four forms, check digit, dates. */
static void test_personal_number(void **state)
{
	static const struct {
		const char *pn;
		bool ok;
	} cases[] = {
	        {"811218-9876", true},
	        {"811218+9876", true},
	        {"19811218-9876", true},
	        {"198112189876", true},
	        {"640823-3234", true},
	        {"811278-9873", true},
	        {"000229-1235", true},
	        {"20000229-1235", true},
	        {"121212-1212", true},
	        {"811218-9875", false},
	        {"8112189876", false},
	        {"81121-89876", false},
	        {"811218 9876", false},
	        {"811218_9876", false},
	        {"1981121898760", false},
	        {"19811218+9876", false},
	        {"811318-9876", false},
	        {"810018-9876", false},
	        {"811200-9876", false},
	        {"811232-9876", false},
	        {"811292-9876", false},
	        {"19000229-1235", false},
	        {"17811218-9876", false},
	        {"a11218-9876", false},
	        {"", false},
	        {"811218-987a", false},
	};
	size_t i;
	char patch[128];

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct concern c;
		struct oro_error err;
		int r;

		snprintf(patch, sizeof patch, "{\"subject\": {\"personal_number\": \"%s\"}}", cases[i].pn);
		r = validate_patched(patch, NULL, 0, &c, &err);
		if ((r == 0) != cases[i].ok)
			fail_msg("%s: got %d %s", cases[i].pn, r, err.code);
		if (!cases[i].ok) {
			assert_string_equal(err.code, ORO_E_INVALID_VALUE);
			assert_string_equal(err.field, "subject.personal_number");
			/* the message never quotes the number */
			assert_null(strstr(err.message, "9876"));
		}
		concern_clear(&c);
	}
}

/* observed_at half an hour ahead is clock skew, two hours is not. */
static void test_observed_future(void **state)
{
	static const int ahead[] = {-86400, 0, 1800, 3500, 3700, 7200};
	static const bool ok[] = {true, true, true, true, false, false};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(ahead); i++) {
		char ts[64], patch[128];
		time_t t = time(NULL) + ahead[i];
		struct tm tm;
		struct concern c;
		struct oro_error err;

		gmtime_r(&t, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(patch, sizeof patch, "{\"observed_at\": \"%s\"}", ts);
		if ((validate_patched(patch, NULL, 0, &c, &err) == 0) != ok[i])
			fail_msg("ahead %d: %s", ahead[i], err.code);
		if (ok[i])
			assert_int_equal(c.v.observed_at, (int64_t)t);
		concern_clear(&c);
	}
}

/* Validation does not depend on what was resolved before (c->v reset). */
static void test_validate_twice(void **state)
{
	struct concern c;
	struct oro_error err;
	struct ruleset *rs = load_solna();

	(void)state;
	assert_int_equal(validate_patched("{}", rs, 0, &c, &err), 0);
	assert_int_equal(c.v.district, 3);
	assert_int_equal(concern_validate(&c, NULL, 0, &err), 0);
	assert_int_equal(c.v.district, -1);
	free(c.district);
	c.district = xstrdup("Solna centrum");
	assert_int_equal(concern_validate(&c, rs, 0, &err), 0);
	assert_int_equal(c.v.district, 9);
	concern_clear(&c);
	ruleset_destroy(&rs);
}

/* ---- writing ---- */

/* concern_to_json() gives back the document read (golden: the base). */
static void test_to_json_roundtrip(void **state)
{
	static const char *const docs[] = {
	        NULL, /* base_concern */
	        "{\"category\": \"other\", \"urgency\": \"urgent\", \"setting\": \"online\","
	        " \"district\": \"Järva\", \"subject\": {\"kind\": \"group\"}}",
	        "{\"category\": \"other\"}",
	        "{\"subject\": {\"age\": 4}, \"reporter\": {\"phone\": \"12345\"}}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(docs); i++) {
		const char *text = docs[i] ? docs[i] : base_concern;
		json_error_t jerr;
		json_t *want = json_loads(text, 0, &jerr), *got;
		struct concern c;

		parse_ok(text, &c);
		got = concern_to_json(&c);
		if (!json_equal(want, got)) {
			char *s = json_dumps(got, 0);

			fail_msg("doc %zu gave %s", i, s);
		}
		json_decref(want);
		json_decref(got);
		concern_clear(&c);
	}
}

/* reporter_principal is never written to or read from the document. */
static void test_to_json_no_principal(void **state)
{
	struct concern c;
	json_t *doc;

	(void)state;
	parse_ok(base_concern, &c);
	c.reporter_principal = xstrdup("staff:42");
	doc = concern_to_json(&c);
	assert_null(json_object_get(doc, "reporter_principal"));
	assert_int_equal(json_object_size(json_object_get(doc, "reporter")), 2);
	json_decref(doc);
	concern_clear(&c);
	assert_null(c.reporter_principal);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_vocab_roundtrip),
	        cmocka_unit_test(test_age_band_of),
	        cmocka_unit_test(test_utf8),
	        cmocka_unit_test(test_parse_fields),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test(test_parse_null),
	        cmocka_unit_test(test_validate_table),
	        cmocka_unit_test(test_validate_resolves),
	        cmocka_unit_test(test_personal_number),
	        cmocka_unit_test(test_observed_future),
	        cmocka_unit_test(test_validate_twice),
	        cmocka_unit_test(test_to_json_roundtrip),
	        cmocka_unit_test(test_to_json_no_principal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
