/*
 * rules: parsing, validating and evaluating a ruleset document (rules.h;
 * the format is documented in docs/rules.md, the semantics in STRATEGY.md),
 * and the strategy owner's tools around it: explanations, differences
 * between two documents, and test cases with expectations.
 *
 * Representation. A concern's closed-vocabulary attributes (category,
 * urgency, subject kind, setting, age band, grant flag) become one 64-bit
 * feature word with exactly one bit set per attribute group; a condition
 * keeps a word of allowed bits, in which a group it does not name has all
 * its bits set. A condition's attribute part therefore holds exactly when
 * (features & ~allowed) == 0. Districts are a second word indexed by the
 * ruleset's district list, and the age range and `any` alternatives are
 * checked after that. The words also make a later index of the rules
 * (by category, urgency, ...) a matter of grouping rules by their masks.
 *
 * Invariants: a struct ruleset is immutable after ruleset_parse() and owns
 * every string it points at (rs->pool); guidance texts and disclosure bases
 * are interned, so equal texts are equal pointers; ruleset_evaluate() does
 * not allocate once the route's arrays have grown to the ruleset's bounds;
 * nothing here knows any department, district or text: all of it comes
 * from the document.
 *
 * The tools are for people and may allocate freely, but they never decide
 * anything themselves: ruleset_explain() and rules_check_cases() take the
 * decision from ruleset_evaluate() and only add to it (cond_why() mirrors
 * cond_match() to say why a condition fails), so what they show is what
 * the router does.
 */
#include "rules.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define RULES_FORMAT       1    /* the oro_ruleset value this code reads */
#define RULES_NAME_MAX     63   /* rule names and department codes */
#define RULES_TITLE_MAX    200  /* ruleset and department names */
#define RULES_TEXT_MAX     2000 /* descriptions, guidance, disclosure bases */
#define RULES_DEPTH_MAX    8    /* nesting of "any" */
#define RULES_DURATION_MAX (366 * 86400)
#define RULES_FILE_MAX     (16 * 1024 * 1024)

/* Feature bit layout: one group of bits per closed vocabulary. */
#define FB_CAT   0
#define FB_URG   (FB_CAT + CAT_COUNT)
#define FB_KIND  (FB_URG + URG_COUNT)
#define FB_SET   (FB_KIND + KIND_COUNT)
#define FB_BAND  (FB_SET + SET_COUNT)
#define FB_GRANT (FB_BAND + BAND_COUNT)
#define FB_END   (FB_GRANT + TRI_COUNT)
#define FB_ALL   ((UINT64_C(1) << FB_END) - 1)
/* Set for an out-of-range attribute: in no condition, so nothing matches. */
#define FB_INVALID (UINT64_C(1) << 63)

_Static_assert(FB_END < 63, "feature groups must fit below the invalid bit");
_Static_assert(RULES_MAX_DISTRICTS <= 64, "districts are a 64-bit mask");

/* A condition: conjunction of attribute sets, districts, age range, and at
 * least one of the `any` alternatives when there are some. */
struct cond {
	uint64_t attrs;     /* allowed feature bits */
	uint64_t districts; /* allowed districts, when has_districts */
	bool has_districts;
	bool has_age;
	int age_min, age_max;
	struct cond *any;
	size_t n_any;
};

struct recipient_spec {
	int dept; /* index in rs->depts */
	enum view view;
	const char *basis; /* interned; NULL when none */
};

/* A variant's priority and deadline are resolved at parse time (a value the
 * variant leaves out is the rule's). */
struct variant {
	struct cond when;
	enum priority priority;
	int64_t ack_within;
	bool has_priority, has_ack; /* given by the variant itself (for explain) */
};

struct rule {
	const char *name;
	const char *description;
	struct cond when;
	struct recipient_spec *recipients;
	size_t n_recipients;
	enum priority priority;
	int64_t ack_within;
	struct variant *variants;
	size_t n_variants;
	const char *guidance_sv; /* interned; NULL when the rule gives none */
	const char *guidance_en;
	bool final;
	int action_area; /* its number, or 0 */
};

struct ruleset {
	int version;
	const char *name;
	struct department depts[RULES_MAX_DEPARTMENTS];
	size_t n_depts;
	const char *districts[RULES_MAX_DISTRICTS];
	size_t n_districts;
	struct action_area areas[RULES_MAX_ACTION_AREAS];
	size_t n_areas;
	int fallback_dept;
	enum priority fallback_priority;
	int64_t fallback_ack;
	const char *fallback_basis;
	struct rule *rules;
	size_t n_rules;
	/* The rules whose top-level condition admits each category, ascending:
	 * evaluation walks only its concern's list (the others cannot match). */
	uint32_t *by_category[CAT_COUNT];
	size_t n_by_category[CAT_COUNT];
	size_t n_guided;      /* rules with guidance: bound of route.guidance */
	size_t basis_buf_max; /* bound of the joined disclosure bases of one route */
	char **pool;          /* every string above */
	size_t n_pool, cap_pool;
};

/* ---- strings ---- */

/* A set of strings by content (open addressing); borrows the strings. */
struct strset {
	const char **slot;
	size_t cap, n;
};

/* FNV-1a. */
static size_t str_hash(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
	return (size_t)h;
}

/* The member of t equal to s, or NULL. */
static const char *strset_get(const struct strset *t, const char *s)
{
	size_t i;

	if (t->cap == 0)
		return NULL;
	for (i = str_hash(s) & (t->cap - 1); t->slot[i] != NULL; i = (i + 1) & (t->cap - 1))
		if (strcmp(t->slot[i], s) == 0)
			return t->slot[i];
	return NULL;
}

/* Add s, which is not in t yet. */
static void strset_put(struct strset *t, const char *s)
{
	size_t i;

	if (2 * (t->n + 1) > t->cap) {
		struct strset bigger = {NULL, t->cap ? 2 * t->cap : 64, 0};

		bigger.slot = xcalloc(bigger.cap, sizeof *bigger.slot);
		for (i = 0; i < t->cap; i++)
			if (t->slot[i] != NULL)
				strset_put(&bigger, t->slot[i]);
		free(t->slot);
		*t = bigger;
	}
	for (i = str_hash(s) & (t->cap - 1); t->slot[i] != NULL; i = (i + 1) & (t->cap - 1))
		;
	t->slot[i] = s;
	t->n++;
}

/* Free the table (not the strings, which it borrows). */
static void strset_free(struct strset *t)
{
	free(t->slot);
	memset(t, 0, sizeof *t);
}

/* A copy of s owned by rs. */
static const char *rs_own(struct ruleset *rs, const char *s)
{
	if (rs->n_pool == rs->cap_pool) {
		rs->cap_pool = rs->cap_pool ? 2 * rs->cap_pool : 64;
		rs->pool = xrealloc(rs->pool, rs->cap_pool * sizeof *rs->pool);
	}
	rs->pool[rs->n_pool] = xstrdup(s);
	return rs->pool[rs->n_pool++];
}

/* Replace in place every byte of s that is not part of valid UTF-8 text
 * (broken or truncated sequences, control characters) by '?', so that
 * messages and paths built from document keys and cut by snprintf stay
 * valid JSON strings. */
static void utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t need = 0, k;

		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f)
				*p = '?';
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			need = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			need = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			need = 3;
		for (k = 1; need && k <= need; k++)
			if ((p[k] & 0xc0) != 0x80)
				need = 0;
		if (need == 0 || !utf8_valid_text((const char *)p, need + 1)) {
			*p++ = '?';
			continue;
		}
		p += need + 1;
	}
}

/* ---- diagnostics ---- */

/* Parse state: the ruleset being built and where we are in the document. */
struct parse {
	struct ruleset *rs;
	struct rules_diags *diags;
	int rule;            /* 1-based position of the rule being read, or 0 */
	char rule_name[64];  /* its name when known */
	struct strset names; /* rule names seen */
	struct strset texts; /* interned guidance texts and bases (in rs->pool) */
};

/* Append one finding to p->diags. */
static void diag(struct parse *p, bool warning, const char *code, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static void diag(struct parse *p, bool warning, const char *code, const char *field, const char *fmt, ...)
{
	struct rules_diags *d = p->diags;
	struct rules_diag *g;
	va_list ap;

	d->items = xrealloc(d->items, (d->count + 1) * sizeof *d->items);
	g = &d->items[d->count++];
	memset(g, 0, sizeof *g);
	g->warning = warning;
	snprintf(g->code, sizeof g->code, "%s", code);
	g->rule = p->rule;
	snprintf(g->rule_name, sizeof g->rule_name, "%s", p->rule ? p->rule_name : "");
	snprintf(g->field, sizeof g->field, "%s", field);
	va_start(ap, fmt);
	vsnprintf(g->message, sizeof g->message, fmt, ap);
	va_end(ap);
	utf8_scrub(g->rule_name);
	utf8_scrub(g->field);
	utf8_scrub(g->message);
	if (!warning)
		d->errors++;
}

void rules_diags_free(struct rules_diags *d)
{
	if (d == NULL)
		return;
	free(d->items);
	memset(d, 0, sizeof *d);
}

void rules_diags_first_error(const struct rules_diags *d, struct oro_error *err)
{
	size_t i;

	if (err == NULL)
		return;
	memset(err, 0, sizeof *err);
	for (i = 0; d != NULL && i < d->count; i++) {
		const struct rules_diag *g = &d->items[i];

		if (g->warning)
			continue;
		if (g->rule > 0)
			oro_error_set(err, g->code, g->field, "rule %d (%s): %s", g->rule, g->rule_name, g->message);
		else
			oro_error_set(err, g->code, g->field, "%s", g->message);
		return;
	}
}

json_t *rules_diags_to_json(const struct rules_diags *d)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; d != NULL && i < d->count; i++) {
		const struct rules_diag *g = &d->items[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}", "severity",
		                                   g->warning ? "warning" : "error", "code", g->code, "rule",
		                                   g->rule ? json_integer(g->rule) : json_null(), "rule_name",
		                                   g->rule ? json_string(g->rule_name) : json_null(), "field", g->field,
		                                   "message", g->message));
	}
	return a;
}

/* ---- reading JSON values ---- */

/* Format a field path into buf. Paths are for people: one cut short by
 * the buffer is still a useful finding, so truncation is accepted here. */
static const char *pathf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const char *pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return buf;
}

/* "path.key" into buf. */
static const char *join(char *buf, size_t size, const char *path, const char *key)
{
	return pathf(buf, size, "%s%s%s", path, *path ? "." : "", key);
}

/* "path[i]" into buf. */
static const char *join_index(char *buf, size_t size, const char *path, size_t i)
{
	return pathf(buf, size, "%s[%zu]", path, i);
}

/* Report every key of obj not in allowed (NULL-terminated). */
static void check_keys(struct parse *p, json_t *obj, const char *path, const char *const *allowed)
{
	const char *key;
	json_t *v;
	char field[160];
	size_t i;

	json_object_foreach(obj, key, v)
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] != NULL)
			continue;
		diag(p, false, ORO_E_UNKNOWN_FIELD, join(field, sizeof field, path, key), "unknown key \"%.60s\"", key);
	}
}

/* A string value of 1..max bytes at field; NULL (reported) otherwise. */
static const char *want_string(struct parse *p, json_t *v, const char *field, size_t max)
{
	const char *s;

	if (!json_is_string(v)) {
		diag(p, false, ORO_E_WRONG_TYPE, field, "must be a string");
		return NULL;
	}
	s = json_string_value(v);
	if (s[0] == '\0') {
		diag(p, false, ORO_E_INVALID_VALUE, field, "must not be empty");
		return NULL;
	}
	if (strlen(s) > max) {
		diag(p, false, ORO_E_TOO_LONG, field, "longer than %zu bytes", max);
		return NULL;
	}
	return s;
}

/* obj[key] as a string; missing is reported when required. */
static const char *get_string(struct parse *p, json_t *obj, const char *path, const char *key, bool required,
                              size_t max)
{
	char field[160];
	json_t *v = json_object_get(obj, key);

	join(field, sizeof field, path, key);
	if (v == NULL) {
		if (required)
			diag(p, false, ORO_E_MISSING, field, "is required");
		return NULL;
	}
	return want_string(p, v, field, max);
}

/* An identifier: 1..RULES_NAME_MAX of letters, digits, '-', '_', '.'. */
static const char *get_ident(struct parse *p, json_t *obj, const char *path, const char *key)
{
	char field[160];
	const char *s = get_string(p, obj, path, key, true, RULES_NAME_MAX);
	const char *c;

	if (s == NULL)
		return NULL;
	for (c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_' || *c == '.')) {
			diag(p, false, ORO_E_INVALID_VALUE, join(field, sizeof field, path, key),
			     "must be letters, digits, '-', '_' or '.'");
			return NULL;
		}
	return s;
}

/* obj[key] as a vocabulary value; -1 (reported) when absent or unknown. */
static int get_enum(struct parse *p, json_t *obj, const char *path, const char *key, const char *what,
                    const char *const *names, size_t n)
{
	char field[160];
	const char *s = get_string(p, obj, path, key, true, 64);
	int v;

	if (s == NULL)
		return -1;
	v = vocab_lookup(names, n, s);
	if (v < 0)
		diag(p, false, ORO_E_INVALID_VALUE, join(field, sizeof field, path, key), "unknown %s \"%.40s\"", what,
		     s);
	return v;
}

/*
 * A duration: a positive integer of seconds, or digits and one unit of
 * s, m, h, d ("15m"). Returns seconds, or -1 (reported).
 */
static int64_t parse_duration(struct parse *p, json_t *v, const char *field)
{
	int64_t n = 0, unit;
	const char *s, *c;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		s = json_string_value(v);
		for (c = s; *c >= '0' && *c <= '9' && c - s < 10; c++)
			n = n * 10 + (*c - '0');
		switch (*c) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			unit = 0;
			break;
		}
		if (c == s || unit == 0 || c[1] != '\0') {
			diag(p, false, ORO_E_INVALID_VALUE, field,
			     "must be a number of seconds or a duration like \"30s\", \"15m\", "
			     "\"4h\", \"2d\"");
			return -1;
		}
		n *= unit;
	} else {
		diag(p, false, ORO_E_WRONG_TYPE, field, "must be a duration string or seconds");
		return -1;
	}
	if (n <= 0 || n > RULES_DURATION_MAX) {
		diag(p, false, ORO_E_OUT_OF_RANGE, field, "must be positive and at most %d days",
		     RULES_DURATION_MAX / 86400);
		return -1;
	}
	return n;
}

/* obj[key] as a duration; required. */
static int64_t get_duration(struct parse *p, json_t *obj, const char *path, const char *key)
{
	char field[160];
	json_t *v = json_object_get(obj, key);

	join(field, sizeof field, path, key);
	if (v == NULL) {
		diag(p, false, ORO_E_MISSING, field, "is required");
		return -1;
	}
	return parse_duration(p, v, field);
}

/* An array at obj[key]; NULL when absent (reported when required) or not an
 * array (reported). An empty array is reported when !may_be_empty. */
static json_t *get_array(struct parse *p, json_t *obj, const char *path, const char *key, bool required,
                         bool may_be_empty)
{
	char field[160];
	json_t *v = json_object_get(obj, key);

	join(field, sizeof field, path, key);
	if (v == NULL) {
		if (required)
			diag(p, false, ORO_E_MISSING, field, "is required");
		return NULL;
	}
	if (!json_is_array(v)) {
		diag(p, false, ORO_E_WRONG_TYPE, field, "must be an array");
		return NULL;
	}
	if (!may_be_empty && json_array_size(v) == 0) {
		diag(p, false, RULES_E_EMPTY, field, "must not be empty");
		return NULL;
	}
	return v;
}

/* Intern s in rs: equal texts share one copy. */
static const char *intern(struct parse *p, const char *s)
{
	const char *have = strset_get(&p->texts, s);

	if (have != NULL)
		return have;
	have = rs_own(p->rs, s);
	strset_put(&p->texts, have);
	return have;
}

/* ---- conditions ---- */

/* One attribute key of a condition and its vocabulary. */
struct cond_attr {
	const char *key;
	const char *what;
	const char *const *names;
	size_t n;
	int base; /* first feature bit */
};

static const struct cond_attr cond_attrs[] = {
        {"category", "category", category_names, CAT_COUNT, FB_CAT},
        {"urgency", "urgency", urgency_names, URG_COUNT, FB_URG},
        {"subject_kind", "subject kind", subject_kind_names, KIND_COUNT, FB_KIND},
        {"setting", "setting", setting_names, SET_COUNT, FB_SET},
        {"age_band", "age band", age_band_names, BAND_COUNT, FB_BAND},
        {"association_grant", "grant value", tristate_names, TRI_COUNT, FB_GRANT},
};

#define N_COND_ATTRS (sizeof cond_attrs / sizeof cond_attrs[0])

static const char *const cond_keys[] = {"category",          "urgency",  "subject_kind", "setting", "age_band",
                                        "association_grant", "district", "age",          "any",     NULL};

/* Bits base..base+n-1. */
static uint64_t group_mask(int base, size_t n)
{
	return ((UINT64_C(1) << n) - 1) << base;
}

/* Free k's alternatives, recursively (k itself belongs to its rule). */
static void cond_free(struct cond *k)
{
	size_t i;

	for (i = 0; i < k->n_any; i++)
		cond_free(&k->any[i]);
	free(k->any);
	k->any = NULL;
	k->n_any = 0;
}

/* The age range {"min", "max"} of a condition. */
static void parse_age(struct parse *p, json_t *v, const char *path, struct cond *k)
{
	static const char *const keys[] = {"min", "max", NULL};
	const char *which[2] = {"min", "max"};
	int bound[2] = {0, CONCERN_AGE_MAX};
	char field[160];
	bool ok = true;
	int i;

	if (!json_is_object(v)) {
		diag(p, false, ORO_E_WRONG_TYPE, path, "must be an object {\"min\", \"max\"}");
		return;
	}
	check_keys(p, v, path, keys);
	if (json_object_get(v, "min") == NULL && json_object_get(v, "max") == NULL) {
		diag(p, false, ORO_E_MISSING, path, "needs min or max");
		return;
	}
	for (i = 0; i < 2; i++) {
		json_t *b = json_object_get(v, which[i]);

		join(field, sizeof field, path, which[i]);
		if (b == NULL)
			continue;
		if (!json_is_integer(b)) {
			diag(p, false, ORO_E_WRONG_TYPE, field, "must be an integer");
			ok = false;
		} else if (json_integer_value(b) < 0 || json_integer_value(b) > CONCERN_AGE_MAX) {
			diag(p, false, ORO_E_OUT_OF_RANGE, field, "must be 0..%d", CONCERN_AGE_MAX);
			ok = false;
		} else {
			bound[i] = (int)json_integer_value(b);
		}
	}
	if (ok && bound[0] > bound[1]) {
		diag(p, false, ORO_E_OUT_OF_RANGE, path, "min is greater than max");
	}
	k->has_age = true;
	k->age_min = bound[0];
	k->age_max = bound[1];
}

/* The district list of a condition, as a mask over rs->districts. */
static void parse_districts(struct parse *p, json_t *arr, const char *path, struct cond *k)
{
	char field[160];
	size_t i;
	json_t *v;

	k->has_districts = true;
	k->districts = 0;
	json_array_foreach(arr, i, v)
	{
		const char *s;
		int d;

		join_index(field, sizeof field, path, i);
		s = want_string(p, v, field, CONCERN_TEXT_MAX);
		if (s == NULL)
			continue;
		d = ruleset_district_index(p->rs, s);
		if (d < 0)
			diag(p, false, ORO_E_INVALID_VALUE, field, "\"%.60s\" is not in the ruleset's districts", s);
		else
			k->districts |= UINT64_C(1) << d;
	}
}

/* A condition object into k (which parse_cond initialises). */
static void parse_cond(struct parse *p, json_t *v, const char *path, struct cond *k, int depth)
{
	char field[160], item[160];
	size_t a, i;
	json_t *arr, *e;

	memset(k, 0, sizeof *k);
	k->attrs = FB_ALL;
	if (!json_is_object(v)) {
		diag(p, false, ORO_E_WRONG_TYPE, path, "a condition must be an object");
		return;
	}
	check_keys(p, v, path, cond_keys);
	for (a = 0; a < N_COND_ATTRS; a++) {
		const struct cond_attr *ca = &cond_attrs[a];
		uint64_t bits = 0;

		arr = get_array(p, v, path, ca->key, false, false);
		if (arr == NULL)
			continue;
		join(field, sizeof field, path, ca->key);
		json_array_foreach(arr, i, e)
		{
			const char *s;
			int x;

			join_index(item, sizeof item, field, i);
			s = want_string(p, e, item, 64);
			if (s == NULL)
				continue;
			x = vocab_lookup(ca->names, ca->n, s);
			if (x < 0)
				diag(p, false, ORO_E_INVALID_VALUE, item, "unknown %s \"%.40s\"", ca->what, s);
			else
				bits |= UINT64_C(1) << (ca->base + x);
		}
		k->attrs = (k->attrs & ~group_mask(ca->base, ca->n)) | bits;
	}
	arr = get_array(p, v, path, "district", false, false);
	if (arr != NULL)
		parse_districts(p, arr, join(field, sizeof field, path, "district"), k);
	e = json_object_get(v, "age");
	if (e != NULL)
		parse_age(p, e, join(field, sizeof field, path, "age"), k);
	arr = get_array(p, v, path, "any", false, false);
	if (arr == NULL)
		return;
	join(field, sizeof field, path, "any");
	if (depth >= RULES_DEPTH_MAX) {
		diag(p, false, ORO_E_TOO_LONG, field, "\"any\" nested more than %d deep", RULES_DEPTH_MAX);
		return;
	}
	k->n_any = json_array_size(arr);
	k->any = xcalloc(k->n_any, sizeof *k->any);
	json_array_foreach(arr, i, e) parse_cond(p, e, join_index(item, sizeof item, field, i), &k->any[i], depth + 1);
}

/* True when k holds for every concern. */
static bool cond_always(const struct ruleset *rs, const struct cond *k)
{
	size_t i;

	if (k->attrs != FB_ALL || k->has_age)
		return false;
	if (k->has_districts && k->districts != group_mask(0, rs->n_districts))
		return false;
	if (k->n_any == 0)
		return true;
	for (i = 0; i < k->n_any; i++)
		if (cond_always(rs, &k->any[i]))
			return true;
	return false;
}

/* ---- document sections ---- */

static const char *const top_keys[] = {"oro_ruleset",  "name",     "description", "departments", "districts",
                                       "action_areas", "fallback", "rules",       NULL};
static const char *const dept_keys[] = {"code", "name", "escalates_to", "disclosure_basis_required", NULL};
static const char *const fallback_keys[] = {"department", "priority", "ack_within", "disclosure_basis", NULL};
static const char *const rule_keys[] = {"name",       "description", "action_area", "when",  "recipients", "priority",
                                        "ack_within", "variants",    "guidance",    "final", NULL};
static const char *const recipient_keys[] = {"department", "view", "disclosure_basis", NULL};
static const char *const variant_keys[] = {"when", "priority", "ack_within", NULL};
static const char *const area_keys[] = {"number", "name", NULL};
static const char *const guidance_keys[] = {"sv", "en", NULL};

/* Departments: codes unique; escalates_to resolved after all are read. */
static void parse_departments(struct parse *p, json_t *doc)
{
	struct ruleset *rs = p->rs;
	json_t *arr = get_array(p, doc, "", "departments", true, false);
	const char *escalates[RULES_MAX_DEPARTMENTS];
	size_t pos[RULES_MAX_DEPARTMENTS]; /* position in the document */
	char path[160], field[160];
	size_t i, j;
	json_t *v;

	if (arr == NULL)
		return;
	if (json_array_size(arr) > RULES_MAX_DEPARTMENTS)
		diag(p, false, ORO_E_TOO_LONG, "departments", "more than %d departments", RULES_MAX_DEPARTMENTS);
	json_array_foreach(arr, i, v)
	{
		const char *code, *name, *esc = NULL;
		json_t *e;
		bool req = false, ok = true;

		if (i >= RULES_MAX_DEPARTMENTS)
			break;
		join_index(path, sizeof path, "departments", i);
		if (!json_is_object(v)) {
			diag(p, false, ORO_E_WRONG_TYPE, path, "a department must be an object");
			continue;
		}
		check_keys(p, v, path, dept_keys);
		code = get_ident(p, v, path, "code");
		name = get_string(p, v, path, "name", true, RULES_TITLE_MAX);
		e = json_object_get(v, "escalates_to");
		if (e != NULL && !json_is_null(e)) {
			esc = want_string(p, e, join(field, sizeof field, path, "escalates_to"), RULES_NAME_MAX);
			ok = esc != NULL;
		}
		e = json_object_get(v, "disclosure_basis_required");
		if (e != NULL) {
			if (json_is_boolean(e)) {
				req = json_is_true(e);
			} else {
				diag(p, false, ORO_E_WRONG_TYPE,
				     join(field, sizeof field, path, "disclosure_basis_required"),
				     "must be true or false");
				ok = false;
			}
		}
		if (code == NULL || name == NULL || !ok)
			continue;
		if (ruleset_department_find(rs, code) != NULL) {
			diag(p, false, RULES_E_DUPLICATE, join(field, sizeof field, path, "code"),
			     "department \"%s\" is defined twice", code);
			continue;
		}
		escalates[rs->n_depts] = esc;
		pos[rs->n_depts] = i;
		rs->depts[rs->n_depts].code = rs_own(rs, code);
		rs->depts[rs->n_depts].name = rs_own(rs, name);
		rs->depts[rs->n_depts].escalates_to = NULL;
		rs->depts[rs->n_depts].disclosure_basis_required = req;
		rs->n_depts++;
	}
	/* resolve escalation targets, then look for cycles */
	for (i = 0; i < rs->n_depts; i++) {
		const struct department *t;

		if (escalates[i] == NULL)
			continue;
		t = ruleset_department_find(rs, escalates[i]);
		if (t == NULL) {
			pathf(field, sizeof field, "departments[%zu].escalates_to", pos[i]);
			diag(p, false, ORO_E_INVALID_VALUE, field, "unknown department \"%s\"", escalates[i]);
			continue;
		}
		rs->depts[i].escalates_to = t->code;
	}
	for (i = 0; i < rs->n_depts; i++) {
		const struct department *d = &rs->depts[i];
		size_t steps, lowest = i;

		/* i is on a cycle when following the chain comes back to it; report
		 * each cycle once, at its first department */
		for (steps = 0; steps < rs->n_depts && d->escalates_to != NULL; steps++) {
			d = ruleset_department_find(rs, d->escalates_to);
			j = (size_t)(d - rs->depts);
			if (j == i)
				break;
			if (j < lowest)
				lowest = j;
		}
		if (d->escalates_to == NULL || (size_t)(d - rs->depts) != i || lowest != i)
			continue;
		pathf(field, sizeof field, "departments[%zu].escalates_to", pos[i]);
		diag(p, false, RULES_E_CYCLE, field, "escalation from \"%s\" leads back to itself", rs->depts[i].code);
	}
}

/* Districts: unique names of valid length. */
static void parse_district_list(struct parse *p, json_t *doc)
{
	struct ruleset *rs = p->rs;
	json_t *arr = get_array(p, doc, "", "districts", true, false);
	char field[160];
	size_t i;
	json_t *v;

	if (arr == NULL)
		return;
	if (json_array_size(arr) > RULES_MAX_DISTRICTS)
		diag(p, false, ORO_E_TOO_LONG, "districts", "more than %d districts", RULES_MAX_DISTRICTS);
	json_array_foreach(arr, i, v)
	{
		const char *s;

		if (i >= RULES_MAX_DISTRICTS)
			break;
		join_index(field, sizeof field, "districts", i);
		s = want_string(p, v, field, CONCERN_TEXT_MAX);
		if (s == NULL)
			continue;
		if (ruleset_district_index(rs, s) >= 0) {
			diag(p, false, RULES_E_DUPLICATE, field, "district \"%.60s\" is listed twice", s);
			continue;
		}
		rs->districts[rs->n_districts++] = rs_own(rs, s);
	}
}

/* Action areas (optional): numbers unique and positive, names non-empty and
 * unique. A number is kept even when its entry has another error, so that
 * the rules naming it are not reported as well. */
static void parse_action_areas(struct parse *p, json_t *doc)
{
	struct ruleset *rs = p->rs;
	json_t *arr = get_array(p, doc, "", "action_areas", false, true);
	char path[160], field[160];
	size_t i, j;
	json_t *v;

	if (arr == NULL)
		return;
	if (json_array_size(arr) > RULES_MAX_ACTION_AREAS)
		diag(p, false, ORO_E_TOO_LONG, "action_areas", "more than %d action areas", RULES_MAX_ACTION_AREAS);
	json_array_foreach(arr, i, v)
	{
		const char *name;
		json_t *num;
		int number = 0;

		if (i >= RULES_MAX_ACTION_AREAS)
			break;
		join_index(path, sizeof path, "action_areas", i);
		if (!json_is_object(v)) {
			diag(p, false, ORO_E_WRONG_TYPE, path,
			     "an action area must be an object {\"number\", \"name\"}");
			continue;
		}
		check_keys(p, v, path, area_keys);
		join(field, sizeof field, path, "number");
		num = json_object_get(v, "number");
		if (num == NULL)
			diag(p, false, ORO_E_MISSING, field, "is required");
		else if (!json_is_integer(num))
			diag(p, false, ORO_E_WRONG_TYPE, field, "must be an integer");
		else if (json_integer_value(num) <= 0 || json_integer_value(num) > INT_MAX)
			diag(p, false, ORO_E_OUT_OF_RANGE, field, "must be a positive integer (at most %d)", INT_MAX);
		else
			number = (int)json_integer_value(num);
		name = get_string(p, v, path, "name", true, RULES_TITLE_MAX);
		if (number > 0 && ruleset_action_area_find(rs, number) != NULL) {
			diag(p, false, RULES_E_DUPLICATE, field, "action area %d is defined twice", number);
			number = 0;
		}
		for (j = 0; name != NULL && j < rs->n_areas; j++) {
			if (strcmp(rs->areas[j].name, name) == 0) {
				diag(p, false, RULES_E_DUPLICATE, join(field, sizeof field, path, "name"),
				     "another action area is also named \"%.60s\"", name);
				break;
			}
		}
		if (number == 0)
			continue;
		rs->areas[rs->n_areas].number = number;
		rs->areas[rs->n_areas].name = rs_own(rs, name != NULL ? name : "");
		rs->n_areas++;
	}
}

/* A department code at field; its index or -1 (reported). */
static int find_dept(struct parse *p, const char *code, const char *field)
{
	const struct department *d = ruleset_department_find(p->rs, code);

	if (d == NULL) {
		diag(p, false, ORO_E_INVALID_VALUE, field, "unknown department \"%s\"", code);
		return -1;
	}
	return (int)(d - p->rs->depts);
}

/* The fallback: who gets the full view when no rule gave it to anyone. */
static void parse_fallback(struct parse *p, json_t *doc)
{
	struct ruleset *rs = p->rs;
	json_t *fb = json_object_get(doc, "fallback");
	const char *code, *basis;
	char field[160];
	int prio;

	rs->fallback_dept = -1;
	if (fb == NULL) {
		diag(p, false, ORO_E_MISSING, "fallback", "is required");
		return;
	}
	if (!json_is_object(fb)) {
		diag(p, false, ORO_E_WRONG_TYPE, "fallback", "must be an object");
		return;
	}
	check_keys(p, fb, "fallback", fallback_keys);
	code = get_string(p, fb, "fallback", "department", true, RULES_NAME_MAX);
	prio = get_enum(p, fb, "fallback", "priority", "priority", priority_names, PRIO_COUNT);
	rs->fallback_ack = get_duration(p, fb, "fallback", "ack_within");
	basis = get_string(p, fb, "fallback", "disclosure_basis", false, RULES_TEXT_MAX);
	if (prio >= 0)
		rs->fallback_priority = (enum priority)prio;
	if (basis != NULL)
		rs->fallback_basis = intern(p, basis);
	if (code == NULL)
		return;
	rs->fallback_dept = find_dept(p, code, "fallback.department");
	if (rs->fallback_dept >= 0 && rs->depts[rs->fallback_dept].disclosure_basis_required && basis == NULL)
		diag(p, false, RULES_E_NO_BASIS, join(field, sizeof field, "fallback", "disclosure_basis"),
		     "department \"%s\" needs a disclosure basis for the full view", code);
}

/* A rule's recipients. */
static void parse_recipients(struct parse *p, json_t *r, const char *path, struct rule *rule)
{
	json_t *arr = get_array(p, r, path, "recipients", true, false);
	char base[160], rpath[160], field[160];
	bool seen[RULES_MAX_DEPARTMENTS] = {false};
	size_t i;
	json_t *v;

	if (arr == NULL)
		return;
	join(base, sizeof base, path, "recipients");
	rule->recipients = xcalloc(json_array_size(arr), sizeof *rule->recipients);
	json_array_foreach(arr, i, v)
	{
		struct recipient_spec *rc = &rule->recipients[rule->n_recipients];
		const char *code, *basis;
		int dept = -1, view;

		join_index(rpath, sizeof rpath, base, i);
		if (!json_is_object(v)) {
			diag(p, false, ORO_E_WRONG_TYPE, rpath, "a recipient must be an object");
			continue;
		}
		check_keys(p, v, rpath, recipient_keys);
		code = get_string(p, v, rpath, "department", true, RULES_NAME_MAX);
		view = get_enum(p, v, rpath, "view", "view", view_names, VIEW_COUNT);
		basis = get_string(p, v, rpath, "disclosure_basis", false, RULES_TEXT_MAX);
		if (code != NULL)
			dept = find_dept(p, code, join(field, sizeof field, rpath, "department"));
		if (dept < 0 || view < 0)
			continue;
		if (seen[dept]) {
			diag(p, false, RULES_E_DUPLICATE, join(field, sizeof field, rpath, "department"),
			     "department \"%s\" is named twice in this rule", code);
			continue;
		}
		seen[dept] = true;
		join(field, sizeof field, rpath, "disclosure_basis");
		if (view == VIEW_FULL && basis == NULL && p->rs->depts[dept].disclosure_basis_required)
			diag(p, false, RULES_E_NO_BASIS, field,
			     "department \"%s\" needs a disclosure basis for the full view", code);
		if (view == VIEW_NOTICE && basis != NULL)
			diag(p, true, RULES_E_IGNORED, field, "a notice discloses nothing: the basis is not recorded");
		rc->dept = dept;
		rc->view = (enum view)view;
		rc->basis = view == VIEW_FULL && basis != NULL ? intern(p, basis) : NULL;
		rule->n_recipients++;
	}
}

/* A rule's variants: the first whose condition holds sets priority and
 * deadline; what a variant leaves out is the rule's own. */
static void parse_variants(struct parse *p, json_t *r, const char *path, struct rule *rule)
{
	json_t *arr = get_array(p, r, path, "variants", false, true);
	char base[160], vpath[160], field[160];
	size_t i;
	json_t *v, *when;

	if (arr == NULL)
		return;
	join(base, sizeof base, path, "variants");
	rule->variants = xcalloc(json_array_size(arr) + 1, sizeof *rule->variants);
	json_array_foreach(arr, i, v)
	{
		struct variant *va = &rule->variants[rule->n_variants];
		int prio = rule->priority;

		join_index(vpath, sizeof vpath, base, i);
		if (!json_is_object(v)) {
			diag(p, false, ORO_E_WRONG_TYPE, vpath, "a variant must be an object");
			continue;
		}
		check_keys(p, v, vpath, variant_keys);
		when = json_object_get(v, "when");
		if (when == NULL) {
			diag(p, false, ORO_E_MISSING, join(field, sizeof field, vpath, "when"), "is required");
			continue;
		}
		parse_cond(p, when, join(field, sizeof field, vpath, "when"), &va->when, 0);
		rule->n_variants++;
		va->ack_within = rule->ack_within;
		if (json_object_get(v, "priority") == NULL && json_object_get(v, "ack_within") == NULL)
			diag(p, false, ORO_E_MISSING, vpath, "needs priority or ack_within");
		va->has_priority = json_object_get(v, "priority") != NULL;
		va->has_ack = json_object_get(v, "ack_within") != NULL;
		if (va->has_priority)
			prio = get_enum(p, v, vpath, "priority", "priority", priority_names, PRIO_COUNT);
		if (va->has_ack)
			va->ack_within = get_duration(p, v, vpath, "ack_within");
		va->priority = prio >= 0 ? (enum priority)prio : rule->priority;
	}
}

/* A rule's guidance {"sv", "en"}. */
static void parse_guidance(struct parse *p, json_t *r, const char *path, struct rule *rule)
{
	json_t *g = json_object_get(r, "guidance");
	char gpath[160];
	const char *sv, *en;

	if (g == NULL)
		return;
	join(gpath, sizeof gpath, path, "guidance");
	if (!json_is_object(g)) {
		diag(p, false, ORO_E_WRONG_TYPE, gpath, "must be an object {\"sv\", \"en\"}");
		return;
	}
	check_keys(p, g, gpath, guidance_keys);
	sv = get_string(p, g, gpath, "sv", true, RULES_TEXT_MAX);
	en = get_string(p, g, gpath, "en", true, RULES_TEXT_MAX);
	if (sv == NULL || en == NULL)
		return;
	rule->guidance_sv = intern(p, sv);
	rule->guidance_en = intern(p, en);
}

/* One rule at position i + 1. */
static void parse_rule(struct parse *p, json_t *r, size_t i, struct rule *rule)
{
	char path[160], field[160];
	const char *name, *desc;
	json_t *v;
	int prio;

	p->rule = (int)i + 1;
	p->rule_name[0] = '\0';
	rule->when.attrs = FB_ALL;
	join_index(path, sizeof path, "rules", i);
	if (!json_is_object(r)) {
		diag(p, false, ORO_E_WRONG_TYPE, path, "a rule must be an object");
		return;
	}
	v = json_object_get(r, "name");
	if (json_is_string(v)) {
		snprintf(p->rule_name, sizeof p->rule_name, "%s", json_string_value(v));
		utf8_scrub(p->rule_name);
	}
	check_keys(p, r, path, rule_keys);
	name = get_ident(p, r, path, "name");
	if (name != NULL) {
		if (strset_get(&p->names, name) != NULL) {
			diag(p, false, RULES_E_DUPLICATE, join(field, sizeof field, path, "name"),
			     "another rule is also named \"%s\"", name);
		} else {
			rule->name = rs_own(p->rs, name);
			strset_put(&p->names, rule->name);
		}
	}
	desc = get_string(p, r, path, "description", false, RULES_TEXT_MAX);
	if (desc != NULL)
		rule->description = rs_own(p->rs, desc);
	v = json_object_get(r, "action_area");
	if (v != NULL) {
		join(field, sizeof field, path, "action_area");
		if (!json_is_integer(v))
			diag(p, false, ORO_E_WRONG_TYPE, field, "must be the number of an action area");
		else if (json_integer_value(v) <= 0 || json_integer_value(v) > INT_MAX ||
		         ruleset_action_area_find(p->rs, (int)json_integer_value(v)) == NULL)
			diag(p, false, ORO_E_INVALID_VALUE, field, "action area %lld is not defined in action_areas",
			     (long long)json_integer_value(v));
		else
			rule->action_area = (int)json_integer_value(v);
	}
	v = json_object_get(r, "when");
	if (v != NULL)
		parse_cond(p, v, join(field, sizeof field, path, "when"), &rule->when, 0);
	parse_recipients(p, r, path, rule);
	prio = get_enum(p, r, path, "priority", "priority", priority_names, PRIO_COUNT);
	rule->priority = prio >= 0 ? (enum priority)prio : PRIO_P3;
	rule->ack_within = get_duration(p, r, path, "ack_within");
	parse_variants(p, r, path, rule);
	parse_guidance(p, r, path, rule);
	v = json_object_get(r, "final");
	if (v != NULL) {
		if (json_is_boolean(v))
			rule->final = json_is_true(v);
		else
			diag(p, false, ORO_E_WRONG_TYPE, join(field, sizeof field, path, "final"),
			     "must be true or false");
	}
}

/* The rules, then the checks that need all of them. */
static void parse_rules(struct parse *p, json_t *doc)
{
	struct ruleset *rs = p->rs;
	json_t *arr = get_array(p, doc, "", "rules", true, true);
	char field[160];
	size_t i, n;
	json_t *v;

	if (arr == NULL)
		return;
	n = json_array_size(arr);
	if (n > RULES_MAX_RULES) {
		diag(p, false, ORO_E_TOO_LONG, "rules", "more than %d rules", RULES_MAX_RULES);
		n = RULES_MAX_RULES;
	}
	rs->rules = xcalloc(n, sizeof *rs->rules);
	json_array_foreach(arr, i, v)
	{
		if (i >= n)
			break;
		parse_rule(p, v, i, &rs->rules[i]);
		rs->n_rules++;
	}
	for (i = 0; i + 1 < rs->n_rules; i++) {
		struct rule *r = &rs->rules[i];

		if (!r->final || !cond_always(rs, &r->when))
			continue;
		p->rule = (int)i + 1;
		snprintf(p->rule_name, sizeof p->rule_name, "%s", r->name ? r->name : "");
		pathf(field, sizeof field, "rules[%zu].final", i);
		diag(p, true, RULES_E_UNREACHABLE, field,
		     "final rule always matches: rules %zu..%zu are never evaluated", i + 2, rs->n_rules);
		break;
	}
	p->rule = 0;
}

/* Bounds for route arrays: rules with guidance, joined disclosure bases. */
static void compute_bounds(struct ruleset *rs)
{
	const char **seen = xcalloc(rs->n_rules + 1, sizeof *seen);
	size_t d, i, j, k, n;

	for (i = 0; i < rs->n_rules; i++)
		if (rs->rules[i].guidance_sv != NULL)
			rs->n_guided++;
	for (d = 0; d < rs->n_depts; d++) {
		size_t len = 1;

		n = 0;
		if ((int)d == rs->fallback_dept && rs->fallback_basis != NULL)
			seen[n++] = rs->fallback_basis;
		for (i = 0; i < rs->n_rules; i++) {
			for (j = 0; j < rs->rules[i].n_recipients; j++) {
				const struct recipient_spec *rc = &rs->rules[i].recipients[j];

				if ((size_t)rc->dept != d || rc->basis == NULL)
					continue;
				for (k = 0; k < n && seen[k] != rc->basis; k++)
					;
				if (k == n)
					seen[n++] = rc->basis;
			}
		}
		for (k = 0; k < n; k++)
			len += strlen(seen[k]) + 2;
		if (n > 1)
			rs->basis_buf_max += len;
	}
	free(seen);
}

static uint64_t feature_bit(int base, int v, int n);

/*
 * Index the rules by category (see struct ruleset): a rule is listed under
 * every category its top-level condition admits, in rule order, so walking
 * one list visits exactly the rules that can match, in the same order, and
 * `final` and merging behave as over all rules.
 */
static void index_rules(struct ruleset *rs)
{
	for (int cat = 0; cat < CAT_COUNT; cat++) {
		uint64_t bit = feature_bit(FB_CAT, cat, CAT_COUNT);

		rs->by_category[cat] = xcalloc(rs->n_rules + 1, sizeof *rs->by_category[cat]);
		rs->n_by_category[cat] = 0;
		for (size_t i = 0; i < rs->n_rules; i++)
			if (rs->rules[i].when.attrs & bit)
				rs->by_category[cat][rs->n_by_category[cat]++] = (uint32_t)i;
	}
}

struct ruleset *ruleset_parse(const char *text, size_t len, struct rules_diags *diags)
{
	struct rules_diags local = {NULL, 0, 0};
	struct parse p;
	json_error_t jerr;
	json_t *doc, *v;
	size_t errors_before;

	memset(&p, 0, sizeof p);
	p.diags = diags != NULL ? diags : &local;
	errors_before = p.diags->errors;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		diag(&p, false,
		     json_error_code(&jerr) == json_error_invalid_utf8 ? ORO_E_INVALID_UTF8 : ORO_E_INVALID_JSON, "",
		     "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		rules_diags_free(&local);
		return NULL;
	}
	p.rs = xcalloc(1, sizeof *p.rs);
	p.rs->fallback_dept = -1;
	if (!json_is_object(doc)) {
		diag(&p, false, ORO_E_WRONG_TYPE, "", "a ruleset must be a JSON object");
		goto done;
	}
	check_keys(&p, doc, "", top_keys);
	v = json_object_get(doc, "oro_ruleset");
	if (v == NULL)
		diag(&p, false, ORO_E_MISSING, "oro_ruleset", "is required (the format version, %d)", RULES_FORMAT);
	else if (!json_is_integer(v))
		diag(&p, false, ORO_E_WRONG_TYPE, "oro_ruleset", "must be an integer");
	else if (json_integer_value(v) != RULES_FORMAT)
		diag(&p, false, ORO_E_INVALID_VALUE, "oro_ruleset",
		     "format version %lld is not supported (this program reads %d)", (long long)json_integer_value(v),
		     RULES_FORMAT);
	p.rs->name = get_string(&p, doc, "", "name", true, RULES_TITLE_MAX);
	if (p.rs->name != NULL)
		p.rs->name = rs_own(p.rs, p.rs->name);
	get_string(&p, doc, "", "description", false, RULES_TEXT_MAX);
	parse_departments(&p, doc);
	parse_district_list(&p, doc);
	parse_action_areas(&p, doc);
	parse_fallback(&p, doc);
	parse_rules(&p, doc);
done:
	json_decref(doc);
	strset_free(&p.names);
	strset_free(&p.texts);
	if (p.diags->errors > errors_before) {
		ruleset_destroy(&p.rs);
	} else {
		if (p.rs->name == NULL)
			p.rs->name = rs_own(p.rs, "");
		compute_bounds(p.rs);
		index_rules(p.rs);
	}
	rules_diags_free(&local);
	return p.rs;
}

struct ruleset *ruleset_load_file(const char *path, struct rules_diags *diags)
{
	struct rules_diags local = {NULL, 0, 0};
	struct parse p;
	struct ruleset *rs;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	FILE *f;

	memset(&p, 0, sizeof p);
	p.diags = diags != NULL ? diags : &local;
	f = fopen(path, "rb");
	if (f == NULL) {
		diag(&p, false, RULES_E_IO, "", "cannot open %.150s: %s", path, strerror(errno));
		rules_diags_free(&local);
		return NULL;
	}
	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 65536;
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0 && len <= RULES_FILE_MAX);
	if (ferror(f) || len > RULES_FILE_MAX) {
		diag(&p, false, RULES_E_IO, "", ferror(f) ? "cannot read %.150s" : "%.150s is larger than 16 MiB",
		     path);
		fclose(f);
		free(buf);
		rules_diags_free(&local);
		return NULL;
	}
	fclose(f);
	rs = ruleset_parse(buf, len, p.diags);
	free(buf);
	rules_diags_free(&local);
	return rs;
}

void ruleset_destroy(struct ruleset **rsp)
{
	struct ruleset *rs;
	size_t i, j;

	if (rsp == NULL || *rsp == NULL)
		return;
	rs = *rsp;
	for (i = 0; i < rs->n_rules; i++) {
		struct rule *r = &rs->rules[i];

		cond_free(&r->when);
		for (j = 0; j < r->n_variants; j++)
			cond_free(&r->variants[j].when);
		free(r->variants);
		free(r->recipients);
	}
	/* n_rules counts every rule parse_rule() touched, even half-read ones */
	free(rs->rules);
	for (i = 0; i < CAT_COUNT; i++)
		free(rs->by_category[i]);
	for (i = 0; i < rs->n_pool; i++)
		free(rs->pool[i]);
	free(rs->pool);
	free(rs);
	*rsp = NULL;
}

/* ---- accessors ---- */

int ruleset_version(const struct ruleset *rs)
{
	return rs->version;
}

void ruleset_set_version(struct ruleset *rs, int version)
{
	rs->version = version;
}

const char *ruleset_name(const struct ruleset *rs)
{
	return rs->name;
}

size_t ruleset_rule_count(const struct ruleset *rs)
{
	return rs->n_rules;
}

const char *ruleset_rule_name(const struct ruleset *rs, size_t position)
{
	if (position < 1 || position > rs->n_rules)
		return NULL;
	return rs->rules[position - 1].name;
}

size_t ruleset_department_count(const struct ruleset *rs)
{
	return rs->n_depts;
}

const struct department *ruleset_department(const struct ruleset *rs, size_t i)
{
	return i < rs->n_depts ? &rs->depts[i] : NULL;
}

const struct department *ruleset_department_find(const struct ruleset *rs, const char *code)
{
	size_t i;

	if (code == NULL)
		return NULL;
	for (i = 0; i < rs->n_depts; i++)
		if (strcmp(rs->depts[i].code, code) == 0)
			return &rs->depts[i];
	return NULL;
}

size_t ruleset_action_area_count(const struct ruleset *rs)
{
	return rs->n_areas;
}

const struct action_area *ruleset_action_area(const struct ruleset *rs, size_t i)
{
	return i < rs->n_areas ? &rs->areas[i] : NULL;
}

const struct action_area *ruleset_action_area_find(const struct ruleset *rs, int number)
{
	size_t i;

	for (i = 0; i < rs->n_areas; i++)
		if (rs->areas[i].number == number)
			return &rs->areas[i];
	return NULL;
}

int ruleset_rule_action_area(const struct ruleset *rs, size_t position)
{
	if (position < 1 || position > rs->n_rules)
		return 0;
	return rs->rules[position - 1].action_area;
}

int ruleset_district_index(const struct ruleset *rs, const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < rs->n_districts; i++)
		if (strcmp(rs->districts[i], name) == 0)
			return (int)i;
	return -1;
}

size_t ruleset_district_count(const struct ruleset *rs)
{
	return rs->n_districts;
}

const char *ruleset_district(const struct ruleset *rs, size_t i)
{
	return i < rs->n_districts ? rs->districts[i] : NULL;
}

/* ---- evaluation ---- */

/* One bit at base + v, or FB_INVALID when v is out of range. */
static uint64_t feature_bit(int base, int v, int n)
{
	return v >= 0 && v < n ? UINT64_C(1) << (base + v) : FB_INVALID;
}

/* The concern's attributes as a feature word. */
static uint64_t concern_features(const struct concern *c)
{
	return feature_bit(FB_CAT, (int)c->v.category, CAT_COUNT) | feature_bit(FB_URG, (int)c->v.urgency, URG_COUNT) |
	       feature_bit(FB_KIND, (int)c->v.kind, KIND_COUNT) | feature_bit(FB_SET, (int)c->v.setting, SET_COUNT) |
	       feature_bit(FB_BAND, (int)c->v.band, BAND_COUNT) | feature_bit(FB_GRANT, (int)c->v.grant, TRI_COUNT);
}

/* The concern's district as a bit of rs's district mask (0 when it names
 * none of them, e.g. validated without a ruleset). */
static uint64_t concern_dbit(const struct ruleset *rs, const struct concern *c)
{
	return c->v.district >= 0 && (size_t)c->v.district < rs->n_districts ? UINT64_C(1) << c->v.district : 0;
}

/* Does k hold for the concern c with features feat and district bit dbit? */
static bool cond_match(const struct cond *k, uint64_t feat, uint64_t dbit, const struct concern *c)
{
	size_t i;

	if (feat & ~k->attrs)
		return false;
	if (k->has_districts && !(k->districts & dbit))
		return false;
	if (k->has_age && (!c->has_age || c->age < k->age_min || c->age > k->age_max))
		return false;
	if (k->n_any == 0)
		return true;
	for (i = 0; i < k->n_any; i++)
		if (cond_match(&k->any[i], feat, dbit, c))
			return true;
	return false;
}

/* Grow r's arrays to what rs can need, so evaluation does not allocate. */
static void route_reserve(struct route *r, const struct ruleset *rs)
{
	if (r->cap_matched < rs->n_rules) {
		r->cap_matched = rs->n_rules;
		r->matched = xrealloc(r->matched, r->cap_matched * sizeof *r->matched);
	}
	if (r->cap_recipients < rs->n_depts) {
		r->cap_recipients = rs->n_depts;
		r->recipients = xrealloc(r->recipients, r->cap_recipients * sizeof *r->recipients);
	}
	if (r->cap_guidance < rs->n_guided) {
		r->cap_guidance = rs->n_guided;
		r->guidance = xrealloc(r->guidance, r->cap_guidance * sizeof *r->guidance);
	}
	if (r->cap_basis < rs->basis_buf_max) {
		r->cap_basis = rs->basis_buf_max;
		r->basis_buf = xrealloc(r->basis_buf, r->cap_basis);
	}
}

/* Per-evaluation merge state, indexed by department. */
struct merge {
	int slot[RULES_MAX_DEPARTMENTS];   /* index in route.recipients, or -1 */
	bool multi[RULES_MAX_DEPARTMENTS]; /* more than one distinct basis */
};

/* Merge one contribution into the route: widest view, highest priority,
 * earliest deadline; the first basis is kept, more are joined later. */
static void contribute(struct route *r, struct merge *m, const struct ruleset *rs, int dept, enum view view,
                       enum priority prio, int64_t ack, const char *basis)
{
	struct route_recipient *rc;

	if (m->slot[dept] < 0) {
		m->slot[dept] = (int)r->n_recipients;
		m->multi[dept] = false;
		rc = &r->recipients[r->n_recipients++];
		rc->department = rs->depts[dept].code;
		rc->view = view;
		rc->priority = prio;
		rc->ack_within = ack;
		rc->disclosure_basis = view == VIEW_FULL ? basis : NULL;
		return;
	}
	rc = &r->recipients[m->slot[dept]];
	if (view > rc->view)
		rc->view = view;
	if (prio < rc->priority)
		rc->priority = prio;
	if (ack < rc->ack_within)
		rc->ack_within = ack;
	if (view != VIEW_FULL || basis == NULL)
		return;
	if (rc->disclosure_basis == NULL)
		rc->disclosure_basis = basis;
	else if (rc->disclosure_basis != basis)
		m->multi[dept] = true;
}

/* Append s to the distinct list bases[0..*n) unless it is there. */
static void basis_add(const char **bases, size_t *n, const char *s)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (bases[i] == s)
			return;
	bases[(*n)++] = s;
}

/* Join the distinct bases of department d, in rule order, into r's buffer
 * at *used, and point recipient slot at the result. */
static void join_bases(struct route *r, const struct ruleset *rs, int d, int slot, size_t *used)
{
	/* XXX: more than 64 distinct bases for one department are cut off;
	 * no real strategy comes near, and the buffer bound stays exact. */
	const char *bases[64];
	size_t n = 0, i, j, len;
	char *out = r->basis_buf + *used, *w = out;

	for (i = 0; i < r->n_matched; i++) {
		const struct rule *rule = &rs->rules[r->matched[i] - 1];

		for (j = 0; j < rule->n_recipients && n < 64; j++)
			if (rule->recipients[j].dept == d && rule->recipients[j].basis != NULL)
				basis_add(bases, &n, rule->recipients[j].basis);
	}
	if (r->fallback && d == rs->fallback_dept && rs->fallback_basis != NULL && n < 64)
		basis_add(bases, &n, rs->fallback_basis);
	for (i = 0; i < n; i++) {
		if (i > 0) {
			memcpy(w, "; ", 2);
			w += 2;
		}
		len = strlen(bases[i]);
		memcpy(w, bases[i], len);
		w += len;
	}
	*w++ = '\0';
	*used += (size_t)(w - out);
	r->recipients[slot].disclosure_basis = out;
}

/* Order guidance by priority, then rule (insertion sort: stable, short
 * lists), and drop a text that a more urgent or earlier rule already gave. */
static void guidance_order(struct route *r)
{
	size_t i, j, n = 0;

	for (i = 1; i < r->n_guidance; i++) {
		struct route_guidance g = r->guidance[i];

		for (j = i; j > 0 && r->guidance[j - 1].priority > g.priority; j--)
			r->guidance[j] = r->guidance[j - 1];
		r->guidance[j] = g;
	}
	for (i = 0; i < r->n_guidance; i++) {
		for (j = 0; j < n; j++)
			if (r->guidance[j].sv == r->guidance[i].sv && r->guidance[j].en == r->guidance[i].en)
				break;
		if (j == n)
			r->guidance[n++] = r->guidance[i];
	}
	r->n_guidance = n;
}

/* c must have been validated against rs: c->v.district indexes rs's list (a
 * concern validated without a ruleset matches no district condition). */
void ruleset_evaluate(const struct ruleset *rs, const struct concern *c, struct route *out)
{
	struct merge m;
	uint64_t feat = concern_features(c);
	uint64_t dbit = concern_dbit(rs, c);
	bool any_full = false;
	size_t i, j, used = 0;

	route_reserve(out, rs);
	out->n_matched = out->n_recipients = out->n_guidance = 0;
	out->fallback = false;
	memset(m.slot, 0xff, sizeof m.slot);

	/* only the rules that admit the concern's category; none for a category
	 * out of range (which no condition admits: the fallback alone applies) */
	bool known = (int)c->v.category >= 0 && (int)c->v.category < CAT_COUNT;
	const uint32_t *candidates = known ? rs->by_category[c->v.category] : NULL;
	size_t n_candidates = known ? rs->n_by_category[c->v.category] : 0;

	for (size_t k = 0; k < n_candidates; k++) {
		const struct rule *rule = &rs->rules[candidates[k]];
		enum priority prio = rule->priority;
		int64_t ack = rule->ack_within;

		i = candidates[k];
		if (!cond_match(&rule->when, feat, dbit, c))
			continue;
		out->matched[out->n_matched++] = (int)i + 1;
		for (j = 0; j < rule->n_variants; j++) {
			if (cond_match(&rule->variants[j].when, feat, dbit, c)) {
				prio = rule->variants[j].priority;
				ack = rule->variants[j].ack_within;
				break;
			}
		}
		for (j = 0; j < rule->n_recipients; j++) {
			const struct recipient_spec *rc = &rule->recipients[j];

			contribute(out, &m, rs, rc->dept, rc->view, prio, ack, rc->basis);
			any_full |= rc->view == VIEW_FULL;
		}
		if (rule->guidance_sv != NULL) {
			struct route_guidance *g = &out->guidance[out->n_guidance++];

			g->sv = rule->guidance_sv;
			g->en = rule->guidance_en;
			g->priority = prio;
			g->rule = (int)i + 1;
		}
		if (rule->final)
			break;
	}
	if (!any_full && rs->fallback_dept >= 0) {
		contribute(out, &m, rs, rs->fallback_dept, VIEW_FULL, rs->fallback_priority, rs->fallback_ack,
		           rs->fallback_basis);
		out->fallback = true;
	}
	for (i = 0; i < rs->n_depts; i++)
		if (m.slot[i] >= 0 && m.multi[i])
			join_bases(out, rs, (int)i, m.slot[i], &used);
	guidance_order(out);
}

void route_free(struct route *r)
{
	if (r == NULL)
		return;
	free(r->matched);
	free(r->recipients);
	free(r->guidance);
	free(r->basis_buf);
	memset(r, 0, sizeof *r);
}

/* ---- JSON output ---- */

json_t *route_to_json(const struct route *r)
{
	json_t *matched = json_array(), *recipients = json_array(), *guidance = json_array();
	size_t i;

	for (i = 0; i < r->n_matched; i++)
		json_array_append_new(matched, json_integer(r->matched[i]));
	for (i = 0; i < r->n_recipients; i++) {
		const struct route_recipient *rc = &r->recipients[i];

		json_array_append_new(
		        recipients, json_pack("{s:s, s:s, s:s, s:I, s:o}", "department", rc->department, "view",
		                              view_names[rc->view], "priority", priority_names[rc->priority],
		                              "ack_within", (json_int_t)rc->ack_within, "disclosure_basis",
		                              rc->disclosure_basis ? json_string(rc->disclosure_basis) : json_null()));
	}
	for (i = 0; i < r->n_guidance; i++)
		json_array_append_new(guidance,
		                      json_pack("{s:s, s:s}", "sv", r->guidance[i].sv, "en", r->guidance[i].en));
	return json_pack("{s:o, s:o, s:o, s:b}", "matched_rules", matched, "recipients", recipients, "guidance",
	                 guidance, "fallback", r->fallback);
}

/* Make e's texts valid UTF-8: a field or message cut by snprintf may end
 * inside a character. */
static void error_scrub(struct oro_error *e)
{
	e->code[sizeof e->code - 1] = e->field[sizeof e->field - 1] = '\0';
	e->message[sizeof e->message - 1] = '\0';
	utf8_scrub(e->code);
	utf8_scrub(e->field);
	utf8_scrub(e->message);
}

json_t *oro_error_to_json(const struct oro_error *err)
{
	struct oro_error e = *err;

	error_scrub(&e);
	return json_pack("{s:s, s:s, s:s}", "code", e.code, "field", e.field, "message", e.message);
}

/* ---- text for people ---- */

/* A growing string for messages; s is NULL until something is written. */
struct sbuf {
	char *s;
	size_t len, cap;
};

/* Append printf output to b. */
static void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = 2 * (b->len + (size_t)n + 1);
		b->s = xrealloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* b's text, "" when empty (borrowed from b). */
static const char *sbuf_str(const struct sbuf *b)
{
	return b->s != NULL ? b->s : "";
}

/* Free b's text and empty it. */
static void sbuf_free(struct sbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof *b);
}

/* Append b's text to the JSON array a as a string, and empty b. */
static void sbuf_append_to(struct sbuf *b, json_t *a)
{
	json_array_append_new(a, json_string(sbuf_str(b)));
	sbuf_free(b);
}

/* A deadline for people: hours, minutes or seconds, whichever is exact. */
static void sbuf_duration(struct sbuf *b, int64_t secs)
{
	if (secs > 0 && secs % 3600 == 0)
		sbuf_printf(b, "%lldh", (long long)(secs / 3600));
	else if (secs > 0 && secs % 60 == 0)
		sbuf_printf(b, "%lldm", (long long)(secs / 60));
	else
		sbuf_printf(b, "%llds", (long long)secs);
}

/* Append at most max bytes of the UTF-8 text s, cut at a character
 * boundary, with "..." when cut. */
static void sbuf_excerpt(struct sbuf *b, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max) {
		sbuf_printf(b, "%s", s);
		return;
	}
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	sbuf_printf(b, "%.*s...", (int)n, s);
}

/* ---- explanations ---- */

/* Index of the one bit of feat in the attribute group of ca, or -1. */
static int feature_value(uint64_t feat, const struct cond_attr *ca)
{
	size_t x;

	for (x = 0; x < ca->n; x++)
		if (feat & (UINT64_C(1) << (ca->base + x)))
			return (int)x;
	return -1;
}

/*
 * The mirror of cond_match() for people: when k does not hold, append the
 * first of its conditions that fails to why (in the order category,
 * urgency, subject_kind, setting, age_band, association_grant, district,
 * age, any), put that condition's path into field, and return false. path
 * is k's own path from the rule ("when", "when.any[1]"). A failing `any`
 * lists why each alternative fails, in parentheses when nested.
 */
static bool cond_why(const struct ruleset *rs, const struct cond *k, const char *path, uint64_t feat, uint64_t dbit,
                     const struct concern *c, struct sbuf *why, char *field, size_t fsize, bool nested)
{
	char sub[160], subfield[160];
	size_t a, i;
	bool first;

	if (feat & FB_INVALID) {
		sbuf_printf(why, "the concern has a value outside the vocabularies");
		pathf(field, fsize, "%s", path);
		return false;
	}
	for (a = 0; a < N_COND_ATTRS; a++) {
		const struct cond_attr *ca = &cond_attrs[a];
		int x = feature_value(feat, ca);

		if ((feat & group_mask(ca->base, ca->n) & ~k->attrs) == 0 || x < 0)
			continue;
		sbuf_printf(why, "%s is %s", ca->key, ca->names[x]);
		if (ca->base == FB_BAND && c->has_age)
			sbuf_printf(why, " (age %d)", c->age);
		sbuf_printf(why, ", not one of ");
		first = true;
		for (i = 0; i < ca->n; i++) {
			if (!(k->attrs & (UINT64_C(1) << (ca->base + i))))
				continue;
			sbuf_printf(why, "%s%s", first ? "" : ", ", ca->names[i]);
			first = false;
		}
		join(field, fsize, path, ca->key);
		return false;
	}
	if (k->has_districts && !(k->districts & dbit)) {
		if (c->v.district >= 0 && (size_t)c->v.district < rs->n_districts)
			sbuf_printf(why, "district is %s, not one of ", rs->districts[c->v.district]);
		else if (c->district != NULL)
			sbuf_printf(why, "district is %s, not one of ", c->district);
		else
			sbuf_printf(why, "district is not in the ruleset's list, not one of ");
		first = true;
		for (i = 0; i < rs->n_districts; i++) {
			if (!(k->districts & (UINT64_C(1) << i)))
				continue;
			sbuf_printf(why, "%s%s", first ? "" : ", ", rs->districts[i]);
			first = false;
		}
		join(field, fsize, path, "district");
		return false;
	}
	if (k->has_age && !c->has_age) {
		sbuf_printf(why, "no age is given, and the condition needs an age from %d to %d", k->age_min,
		            k->age_max);
		join(field, fsize, path, "age");
		return false;
	}
	if (k->has_age && (c->age < k->age_min || c->age > k->age_max)) {
		sbuf_printf(why, "age is %d, not from %d to %d", c->age, k->age_min, k->age_max);
		join(field, fsize, path, "age");
		return false;
	}
	if (k->n_any == 0)
		return true;
	for (i = 0; i < k->n_any; i++)
		if (cond_match(&k->any[i], feat, dbit, c))
			return true;
	join(field, fsize, path, "any");
	sbuf_printf(why, "%snone of the alternatives in %s holds: ", nested ? "(" : "", field);
	for (i = 0; i < k->n_any; i++) {
		if (i > 0)
			sbuf_printf(why, "; ");
		pathf(sub, sizeof sub, "%s[%zu]", field, i);
		if (cond_why(rs, &k->any[i], sub, feat, dbit, c, why, subfield, sizeof subfield, true))
			sbuf_printf(why, "holds"); /* not reached: cond_match said it does not */
	}
	if (nested)
		sbuf_printf(why, ")");
	return false;
}

/* The 0-based index of the variant of rule that applies to c, or -1:
 * the same choice as ruleset_evaluate(). */
static int rule_variant(const struct rule *rule, uint64_t feat, uint64_t dbit, const struct concern *c)
{
	size_t j;

	for (j = 0; j < rule->n_variants; j++)
		if (cond_match(&rule->variants[j].when, feat, dbit, c))
			return (int)j;
	return -1;
}

/* Where one recipient's merged values came from. rule 0: not yet known. */
struct provenance {
	json_t *view_from;           /* array of rule numbers */
	int prio_rule, prio_variant; /* variant -1: the rule's own */
	int ack_rule, ack_variant;
};

/* {"rule": N, "variant": index | null}, or "fallback" for rule 0. */
static json_t *provenance_json(int rule, int variant)
{
	if (rule == 0)
		return json_string("fallback");
	return json_pack("{s:i, s:o}", "rule", rule, "variant", variant >= 0 ? json_integer(variant) : json_null());
}

/* The explanation's "rules": each rule, matched or not, and why not. */
static json_t *explain_rules(const struct ruleset *rs, const struct concern *c, const struct route *r)
{
	uint64_t feat = concern_features(c), dbit = concern_dbit(rs, c);
	json_t *out = json_array();
	bool stopped = false;
	size_t i, m = 0;

	for (i = 0; i < rs->n_rules; i++) {
		const struct rule *rule = &rs->rules[i];
		bool matched = m < r->n_matched && r->matched[m] == (int)i + 1;
		bool evaluated = !stopped;
		json_t *failed = json_null(), *failed_field = json_null();
		int variant = -1;

		if (matched) {
			m++;
			variant = rule_variant(rule, feat, dbit, c);
		} else if (evaluated) {
			struct sbuf why = {NULL, 0, 0};
			char field[160] = "when";

			if (cond_why(rs, &rule->when, "when", feat, dbit, c, &why, field, sizeof field, false))
				sbuf_printf(&why, "does not hold"); /* not reached: evaluate and cond_why agree */
			failed = json_string(sbuf_str(&why));
			failed_field = json_string(field);
			sbuf_free(&why);
		}
		json_array_append_new(out,
		                      json_pack("{s:i, s:s, s:o, s:b, s:b, s:b, s:o, s:o, s:o}", "rule", (int)i + 1,
		                                "name", rule->name, "action_area",
		                                rule->action_area > 0 ? json_integer(rule->action_area) : json_null(),
		                                "matched", matched, "final", rule->final, "evaluated", evaluated,
		                                "variant", variant >= 0 ? json_integer(variant) : json_null(), "failed",
		                                failed, "failed_field", failed_field));
		if (matched && rule->final)
			stopped = true;
	}
	return out;
}

/* The explanation's "recipients": the route's, each with the first
 * contribution that gave its view, priority and deadline (the merge keeps
 * the first of equal values, and the fallback comes last). */
static json_t *explain_recipients(const struct ruleset *rs, const struct concern *c, const struct route *r)
{
	uint64_t feat = concern_features(c), dbit = concern_dbit(rs, c);
	struct provenance *pv = xcalloc(r->n_recipients + 1, sizeof *pv);
	json_t *out = json_array();
	size_t i, j, k;

	for (k = 0; k < r->n_recipients; k++)
		pv[k].view_from = json_array();
	for (i = 0; i < r->n_matched; i++) {
		const struct rule *rule = &rs->rules[r->matched[i] - 1];
		int v = rule_variant(rule, feat, dbit, c);
		enum priority prio = v >= 0 ? rule->variants[v].priority : rule->priority;
		int64_t ack = v >= 0 ? rule->variants[v].ack_within : rule->ack_within;

		for (j = 0; j < rule->n_recipients; j++) {
			const struct recipient_spec *spec = &rule->recipients[j];
			const struct route_recipient *rc;

			for (k = 0; k < r->n_recipients; k++)
				if (r->recipients[k].department == rs->depts[spec->dept].code)
					break;
			if (k == r->n_recipients)
				continue; /* not reached: every contribution is in the route */
			rc = &r->recipients[k];
			if (spec->view == rc->view)
				json_array_append_new(pv[k].view_from, json_integer(r->matched[i]));
			if (pv[k].prio_rule == 0 && prio == rc->priority) {
				pv[k].prio_rule = r->matched[i];
				pv[k].prio_variant = v >= 0 && rule->variants[v].has_priority ? v : -1;
			}
			if (pv[k].ack_rule == 0 && ack == rc->ack_within) {
				pv[k].ack_rule = r->matched[i];
				pv[k].ack_variant = v >= 0 && rule->variants[v].has_ack ? v : -1;
			}
		}
	}
	for (k = 0; k < r->n_recipients; k++) {
		const struct route_recipient *rc = &r->recipients[k];
		json_t *view_from = pv[k].view_from;

		/* what no rule gave came from the fallback */
		if (json_array_size(view_from) == 0) {
			json_decref(view_from);
			view_from = json_string("fallback");
		}
		json_array_append_new(
		        out,
		        json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "department", rc->department, "view",
		                  view_names[rc->view], "priority", priority_names[rc->priority], "ack_within",
		                  (json_int_t)rc->ack_within, "disclosure_basis",
		                  rc->disclosure_basis ? json_string(rc->disclosure_basis) : json_null(), "view_from",
		                  view_from, "priority_from", provenance_json(pv[k].prio_rule, pv[k].prio_variant),
		                  "ack_within_from", provenance_json(pv[k].ack_rule, pv[k].ack_variant)));
	}
	free(pv);
	return out;
}

json_t *ruleset_explain(const struct ruleset *rs, const struct concern *c)
{
	struct route r;
	json_t *matched = json_array(), *guidance = json_array(), *out;
	size_t i;

	memset(&r, 0, sizeof r);
	ruleset_evaluate(rs, c, &r);
	for (i = 0; i < r.n_matched; i++)
		json_array_append_new(matched, json_integer(r.matched[i]));
	for (i = 0; i < r.n_guidance; i++)
		json_array_append_new(guidance, json_pack("{s:s, s:s, s:i, s:s}", "sv", r.guidance[i].sv, "en",
		                                          r.guidance[i].en, "rule", r.guidance[i].rule, "priority",
		                                          priority_names[r.guidance[i].priority]));
	out = json_pack("{s:i, s:o, s:b, s:o, s:o, s:o}", "version", rs->version, "matched_rules", matched, "fallback",
	                r.fallback, "rules", explain_rules(rs, c, &r), "recipients", explain_recipients(rs, c, &r),
	                "guidance", guidance);
	route_free(&r);
	return out;
}

/* ---- test cases and expectations ---- */

/* One element of a test-case file: its concern document and, for a
 * wrapper, its name and expectation (all borrowed from the element). */
struct test_case {
	json_t *concern;
	const char *name;
	json_t *expect;
	bool wrapped;
};

static const char *const case_keys[] = {"name", "concern", "expect", NULL};
static const char *const expect_keys[] = {"recipients", "matched_rules", "guidance_starts_with", "fallback", NULL};
static const char *const expect_rc_keys[] = {"department", "view", "priority", "ack_within", "disclosure_basis", NULL};

/* True when key is one of keys (NULL-terminated). */
static bool key_in(const char *key, const char *const *keys)
{
	for (; *keys != NULL; keys++)
		if (strcmp(*keys, key) == 0)
			return true;
	return false;
}

/* Split element v of a test-case file. A wrapper is an object with a
 * "concern" key (a concern document has none); anything else is a bare
 * concern. Returns 0, or -1 with err for a malformed wrapper (its name is
 * still taken when it is a string). */
static int case_unwrap(json_t *v, struct test_case *tc, struct oro_error *err)
{
	const char *key;
	json_t *e;

	memset(tc, 0, sizeof *tc);
	if (!json_is_object(v) || json_object_get(v, "concern") == NULL) {
		tc->concern = v;
		return 0;
	}
	tc->wrapped = true;
	e = json_object_get(v, "name");
	if (json_is_string(e))
		tc->name = json_string_value(e);
	json_object_foreach(v, key, e)
	{
		if (!key_in(key, case_keys))
			return oro_error_set(err, ORO_E_UNKNOWN_FIELD, key, "not a field of a test case");
	}
	e = json_object_get(v, "name");
	if (e != NULL && !json_is_string(e))
		return oro_error_set(err, ORO_E_WRONG_TYPE, "name", "must be a string");
	tc->concern = json_object_get(v, "concern");
	if (!json_is_object(tc->concern))
		return oro_error_set(err, ORO_E_WRONG_TYPE, "concern", "must be a concern document (an object)");
	tc->expect = json_object_get(v, "expect");
	return 0;
}

/* Read, validate (routing only) and evaluate the case's concern into r.
 * Returns 0, or -1 with err; a wrapper's error field starts "concern.". */
static int case_route(const struct ruleset *rs, const struct test_case *tc, struct route *r, struct oro_error *err)
{
	struct concern c;
	int rc = 0;

	memset(&c, 0, sizeof c);
	if (concern_from_json(tc->concern, &c, err) < 0 || concern_validate(&c, rs, CONCERN_ROUTING_ONLY, err) < 0)
		rc = -1;
	else
		ruleset_evaluate(rs, &c, r);
	concern_clear(&c);
	if (rc < 0 && tc->wrapped) {
		char field[sizeof err->field];

		snprintf(field, sizeof field, "concern%s%s", err->field[0] ? "." : "", err->field);
		memcpy(err->field, field, sizeof field);
	}
	return rc;
}

json_t *rules_test_cases(const struct ruleset *rs, json_t *cases)
{
	struct route route;
	json_t *out, *v;
	size_t i;

	if (!json_is_array(cases))
		return NULL;
	memset(&route, 0, sizeof route);
	out = json_array();
	json_array_foreach(cases, i, v)
	{
		struct test_case tc;
		struct oro_error err;
		json_t *e;

		memset(&err, 0, sizeof err);
		if (case_unwrap(v, &tc, &err) < 0 || case_route(rs, &tc, &route, &err) < 0)
			e = json_pack("{s:o}", "error", oro_error_to_json(&err));
		else
			e = route_to_json(&route);
		if (tc.name != NULL)
			json_object_set_new(e, "name", json_string(tc.name));
		json_array_append_new(out, e);
	}
	route_free(&route);
	return out;
}

/* One expected recipient. */
struct expect_rc {
	const char *dept; /* borrowed from the ruleset */
	enum view view;
	enum priority prio;
	int64_t ack; /* -1: not checked */
	bool has_basis;
	const char *basis; /* NULL: none expected (borrowed from the case) */
};

/* A case's expectation, read and checked. */
struct expect {
	struct expect_rc *rc;
	size_t n_rc;
	json_t *matched;      /* array of rule numbers, or NULL */
	const char *guidance; /* prefix of the first guidance's sv, or NULL */
	int fallback;         /* -1: not checked */
};

/* v as a duration at field: seconds, or -1 with err (the ruleset's own
 * duration rules and messages). */
static int64_t duration_value(json_t *v, const char *field, struct oro_error *err)
{
	struct rules_diags d = {NULL, 0, 0};
	struct parse p;
	int64_t n;

	memset(&p, 0, sizeof p);
	p.diags = &d;
	n = parse_duration(&p, v, field);
	if (n < 0)
		rules_diags_first_error(&d, err);
	rules_diags_free(&d);
	return n;
}

/* obj[key] as one of names at path.key; -1 with err. */
static int expect_enum(json_t *obj, const char *path, const char *key, const char *const *names, size_t n,
                       struct oro_error *err)
{
	char field[160], allowed[128] = "";
	json_t *v = json_object_get(obj, key);
	size_t i;
	int x;

	join(field, sizeof field, path, key);
	if (v == NULL)
		return oro_error_set(err, ORO_E_MISSING, field, "is required");
	if (!json_is_string(v))
		return oro_error_set(err, ORO_E_WRONG_TYPE, field, "must be a string");
	x = vocab_lookup(names, n, json_string_value(v));
	if (x >= 0)
		return x;
	for (i = 0; i < n; i++)
		pathf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", i ? ", " : "", names[i]);
	return oro_error_set(err, ORO_E_INVALID_VALUE, field, "must be one of: %s", allowed);
}

/* One expected recipient at path into e. */
static int expect_recipient(const struct ruleset *rs, json_t *v, const char *path, struct expect_rc *e,
                            struct oro_error *err)
{
	const struct department *d;
	const char *key;
	char field[160];
	json_t *x;
	int view, prio;

	if (!json_is_object(v))
		return oro_error_set(err, ORO_E_WRONG_TYPE, path, "an expected recipient must be an object");
	json_object_foreach(v, key, x)
	{
		if (!key_in(key, expect_rc_keys))
			return oro_error_set(err, ORO_E_UNKNOWN_FIELD, join(field, sizeof field, path, key),
			                     "not a field of an expected recipient");
	}
	join(field, sizeof field, path, "department");
	x = json_object_get(v, "department");
	if (x == NULL)
		return oro_error_set(err, ORO_E_MISSING, field, "is required");
	if (!json_is_string(x))
		return oro_error_set(err, ORO_E_WRONG_TYPE, field, "must be a string");
	d = ruleset_department_find(rs, json_string_value(x));
	if (d == NULL)
		return oro_error_set(err, ORO_E_INVALID_VALUE, field, "unknown department \"%.60s\"",
		                     json_string_value(x));
	e->dept = d->code;
	view = expect_enum(v, path, "view", view_names, VIEW_COUNT, err);
	if (view < 0)
		return -1;
	prio = expect_enum(v, path, "priority", priority_names, PRIO_COUNT, err);
	if (prio < 0)
		return -1;
	e->view = (enum view)view;
	e->prio = (enum priority)prio;
	e->ack = -1;
	x = json_object_get(v, "ack_within");
	if (x != NULL) {
		e->ack = duration_value(x, join(field, sizeof field, path, "ack_within"), err);
		if (e->ack < 0)
			return -1;
	}
	x = json_object_get(v, "disclosure_basis");
	if (x != NULL) {
		if (!json_is_null(x) && !json_is_string(x))
			return oro_error_set(err, ORO_E_WRONG_TYPE, join(field, sizeof field, path, "disclosure_basis"),
			                     "must be a string or null");
		e->has_basis = true;
		e->basis = json_string_value(x); /* NULL for null */
	}
	return 0;
}

/* Read and check a case's expectation into ex (free ex->rc). */
static int expect_parse(const struct ruleset *rs, json_t *x, struct expect *ex, struct oro_error *err)
{
	const char *key;
	char path[160], field[160];
	json_t *v, *arr;
	size_t i, j;

	memset(ex, 0, sizeof *ex);
	ex->fallback = -1;
	if (!json_is_object(x))
		return oro_error_set(err, ORO_E_WRONG_TYPE, "expect", "must be an object");
	json_object_foreach(x, key, v)
	{
		if (!key_in(key, expect_keys))
			return oro_error_set(err, ORO_E_UNKNOWN_FIELD, join(path, sizeof path, "expect", key),
			                     "not a field of an expectation");
	}
	arr = json_object_get(x, "recipients");
	if (arr == NULL)
		return oro_error_set(err, ORO_E_MISSING, "expect.recipients", "is required");
	if (!json_is_array(arr))
		return oro_error_set(err, ORO_E_WRONG_TYPE, "expect.recipients", "must be an array");
	ex->rc = xcalloc(json_array_size(arr) + 1, sizeof *ex->rc);
	json_array_foreach(arr, i, v)
	{
		join_index(path, sizeof path, "expect.recipients", i);
		if (expect_recipient(rs, v, path, &ex->rc[i], err) < 0)
			return -1;
		for (j = 0; j < i; j++)
			if (ex->rc[j].dept == ex->rc[i].dept)
				return oro_error_set(err, RULES_E_DUPLICATE,
				                     join(field, sizeof field, path, "department"),
				                     "department \"%s\" is expected twice", ex->rc[i].dept);
		ex->n_rc++;
	}
	arr = json_object_get(x, "matched_rules");
	if (arr != NULL) {
		if (!json_is_array(arr))
			return oro_error_set(err, ORO_E_WRONG_TYPE, "expect.matched_rules", "must be an array");
		json_array_foreach(arr, i, v)
		{
			join_index(path, sizeof path, "expect.matched_rules", i);
			if (!json_is_integer(v))
				return oro_error_set(err, ORO_E_WRONG_TYPE, path, "must be a rule number");
			if (json_integer_value(v) < 1 || json_integer_value(v) > (json_int_t)rs->n_rules)
				return oro_error_set(err, ORO_E_OUT_OF_RANGE, path, "the ruleset has rules 1..%zu",
				                     rs->n_rules);
		}
		ex->matched = arr;
	}
	v = json_object_get(x, "guidance_starts_with");
	if (v != NULL) {
		if (!json_is_string(v))
			return oro_error_set(err, ORO_E_WRONG_TYPE, "expect.guidance_starts_with", "must be a string");
		if (json_string_value(v)[0] == '\0')
			return oro_error_set(err, ORO_E_INVALID_VALUE, "expect.guidance_starts_with",
			                     "must not be empty");
		ex->guidance = json_string_value(v);
	}
	v = json_object_get(x, "fallback");
	if (v != NULL) {
		if (!json_is_boolean(v))
			return oro_error_set(err, ORO_E_WRONG_TYPE, "expect.fallback", "must be true or false");
		ex->fallback = json_is_true(v);
	}
	return 0;
}

/* One expected recipient against the routed one: a mismatch per field. */
static void expect_compare_rc(const struct expect_rc *e, const struct route_recipient *rc, json_t *mm)
{
	struct sbuf b = {NULL, 0, 0};

	if (e->view != rc->view) {
		sbuf_printf(&b, "department %s: expected view %s, got %s", e->dept, view_names[e->view],
		            view_names[rc->view]);
		sbuf_append_to(&b, mm);
	}
	if (e->prio != rc->priority) {
		sbuf_printf(&b, "department %s: expected priority %s, got %s", e->dept, priority_names[e->prio],
		            priority_names[rc->priority]);
		sbuf_append_to(&b, mm);
	}
	if (e->ack >= 0 && e->ack != rc->ack_within) {
		sbuf_printf(&b, "department %s: expected ack_within ", e->dept);
		sbuf_duration(&b, e->ack);
		sbuf_printf(&b, ", got ");
		sbuf_duration(&b, rc->ack_within);
		sbuf_append_to(&b, mm);
	}
	if (!e->has_basis)
		return;
	if (e->basis == NULL && rc->disclosure_basis != NULL)
		sbuf_printf(&b, "department %s: expected no disclosure_basis, got \"%s\"", e->dept,
		            rc->disclosure_basis);
	else if (e->basis != NULL && rc->disclosure_basis == NULL)
		sbuf_printf(&b, "department %s: expected disclosure_basis \"%s\", got none", e->dept, e->basis);
	else if (e->basis != NULL && strcmp(e->basis, rc->disclosure_basis) != 0)
		sbuf_printf(&b, "department %s: expected disclosure_basis \"%s\", got \"%s\"", e->dept, e->basis,
		            rc->disclosure_basis);
	else
		return;
	sbuf_append_to(&b, mm);
}

/* Every way r differs from ex, appended to mm as text. */
static void expect_compare(const struct expect *ex, const struct route *r, json_t *mm)
{
	struct sbuf b = {NULL, 0, 0};
	size_t i, j;
	json_t *v;

	for (i = 0; i < ex->n_rc; i++) {
		for (j = 0; j < r->n_recipients; j++)
			if (strcmp(r->recipients[j].department, ex->rc[i].dept) == 0)
				break;
		if (j < r->n_recipients) {
			expect_compare_rc(&ex->rc[i], &r->recipients[j], mm);
		} else {
			sbuf_printf(&b, "department %s: expected, not routed", ex->rc[i].dept);
			sbuf_append_to(&b, mm);
		}
	}
	for (j = 0; j < r->n_recipients; j++) {
		for (i = 0; i < ex->n_rc; i++)
			if (strcmp(r->recipients[j].department, ex->rc[i].dept) == 0)
				break;
		if (i == ex->n_rc) {
			sbuf_printf(&b, "department %s: routed, not expected", r->recipients[j].department);
			sbuf_append_to(&b, mm);
		}
	}
	if (ex->matched != NULL) {
		bool same = json_array_size(ex->matched) == r->n_matched;

		json_array_foreach(ex->matched, i, v) same = same && json_integer_value(v) == r->matched[i];
		if (!same) {
			sbuf_printf(&b, "matched_rules: expected [");
			json_array_foreach(ex->matched, i, v)
			        sbuf_printf(&b, "%s%lld", i ? "," : "", (long long)json_integer_value(v));
			sbuf_printf(&b, "], got [");
			for (i = 0; i < r->n_matched; i++)
				sbuf_printf(&b, "%s%d", i ? "," : "", r->matched[i]);
			sbuf_printf(&b, "]");
			sbuf_append_to(&b, mm);
		}
	}
	if (ex->guidance != NULL) {
		if (r->n_guidance == 0) {
			sbuf_printf(&b, "guidance: expected to start with \"%s\", got none", ex->guidance);
			sbuf_append_to(&b, mm);
		} else if (strncmp(r->guidance[0].sv, ex->guidance, strlen(ex->guidance)) != 0) {
			sbuf_printf(&b, "guidance: expected to start with \"%s\", got \"", ex->guidance);
			sbuf_excerpt(&b, r->guidance[0].sv, strlen(ex->guidance) + 40);
			sbuf_printf(&b, "\"");
			sbuf_append_to(&b, mm);
		}
	}
	if (ex->fallback >= 0 && ex->fallback != (int)r->fallback) {
		sbuf_printf(&b, "fallback: expected %s, got %s", ex->fallback ? "true" : "false",
		            r->fallback ? "true" : "false");
		sbuf_append_to(&b, mm);
	}
}

/* "<what>: <field>: <message> (<code>)" as one mismatch. */
static void mismatch_error(json_t *mm, const char *what, struct oro_error *err)
{
	struct sbuf b = {NULL, 0, 0};

	error_scrub(err);
	if (err->field[0] != '\0')
		sbuf_printf(&b, "%s: %s: %s (%s)", what, err->field, err->message, err->code);
	else
		sbuf_printf(&b, "%s: %s (%s)", what, err->message, err->code);
	sbuf_append_to(&b, mm);
}

json_t *rules_check_cases(const struct ruleset *rs, json_t *cases, size_t *mismatches)
{
	struct route route;
	json_t *out, *v;
	size_t i, failing = 0;

	if (mismatches != NULL)
		*mismatches = 0;
	if (!json_is_array(cases))
		return NULL;
	memset(&route, 0, sizeof route);
	out = json_array();
	json_array_foreach(cases, i, v)
	{
		json_t *mm = json_array();
		struct test_case tc;
		struct oro_error err;
		struct expect ex;

		memset(&err, 0, sizeof err);
		memset(&ex, 0, sizeof ex);
		if (case_unwrap(v, &tc, &err) < 0 || case_route(rs, &tc, &route, &err) < 0)
			mismatch_error(mm, "invalid case", &err);
		else if (tc.expect == NULL)
			json_array_append_new(mm, json_string("no expectation"));
		else if (expect_parse(rs, tc.expect, &ex, &err) < 0)
			mismatch_error(mm, "invalid expectation", &err);
		else
			expect_compare(&ex, &route, mm);
		free(ex.rc);
		if (json_array_size(mm) > 0)
			failing++;
		json_array_append_new(out, json_pack("{s:I, s:o, s:b, s:o}", "case", (json_int_t)i + 1, "name",
		                                     tc.name != NULL ? json_string(tc.name) : json_null(), "ok",
		                                     json_array_size(mm) == 0, "mismatches", mm));
	}
	route_free(&route);
	if (mismatches != NULL)
		*mismatches = failing;
	return out;
}

/* ---- differences between two documents ---- */

/* A copy of v, JSON null for NULL. */
static json_t *copy_or_null(json_t *v)
{
	return v != NULL ? json_deep_copy(v) : json_null();
}

/* {"from": x, "to": y} when x and y differ (an absent value is null),
 * else JSON null. */
static json_t *from_to(json_t *x, json_t *y)
{
	if (json_equal(x != NULL ? x : json_null(), y != NULL ? y : json_null()))
		return json_null();
	return json_pack("{s:o, s:o}", "from", copy_or_null(x), "to", copy_or_null(y));
}

/* strcmp for qsort on an array of const char *. */
static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Append {"field", "from", "to"} to out when x[key] and y[key] differ. */
static void field_change(json_t *out, const char *key, json_t *x, json_t *y)
{
	json_t *ft = from_to(json_object_get(x, key), json_object_get(y, key));

	if (json_is_null(ft))
		return;
	json_object_set_new(ft, "field", json_string(key));
	json_array_append_new(out, ft);
}

/* The fields in which objects x and y (either may be NULL) differ: the keys
 * of order first, then any other key alphabetically. */
static json_t *object_changes(json_t *x, json_t *y, const char *const *order)
{
	json_t *out = json_array();
	const char **extra;
	const char *key;
	size_t i, n = 0;
	json_t *v;

	for (i = 0; order[i] != NULL; i++)
		field_change(out, order[i], x, y);
	extra = xcalloc(json_object_size(x) + json_object_size(y) + 1, sizeof *extra);
	json_object_foreach(x, key, v)
	{
		if (!key_in(key, order))
			extra[n++] = key;
	}
	json_object_foreach(y, key, v)
	{
		if (!key_in(key, order) && json_object_get(x, key) == NULL)
			extra[n++] = key;
	}
	qsort(extra, n, sizeof *extra, str_cmp);
	for (i = 0; i < n; i++)
		field_change(out, extra[i], x, y);
	free(extra);
	return out;
}

/* The elements of array arr that are objects with a string or integer
 * key, as a map from that key (as text) to the element's 0-based index;
 * the first of equal keys wins. */
static json_t *index_by(json_t *arr, const char *key)
{
	json_t *map = json_object(), *v, *k;
	char num[32];
	size_t i;

	json_array_foreach(arr, i, v)
	{
		const char *s;

		k = json_object_get(v, key);
		if (json_is_string(k)) {
			s = json_string_value(k);
		} else if (json_is_integer(k)) {
			snprintf(num, sizeof num, "%lld", (long long)json_integer_value(k));
			s = num;
		} else {
			continue;
		}
		if (json_object_get(map, s) == NULL)
			json_object_set_new(map, s, json_integer((json_int_t)i));
	}
	return map;
}

/* The map key of element v (see index_by) into buf; NULL when it has none. */
static const char *element_key(json_t *v, const char *key, char *buf, size_t size)
{
	json_t *k = json_object_get(v, key);

	if (json_is_string(k))
		return json_string_value(k);
	if (!json_is_integer(k))
		return NULL;
	snprintf(buf, size, "%lld", (long long)json_integer_value(k));
	return buf;
}

/*
 * Added, removed and changed elements of two keyed arrays (rules by name,
 * departments by code, action areas by number). describe() gives an added
 * or removed element's entry; a changed one is {key: its key, "fields"},
 * and for rules (positions true) also its positions, including rules that
 * only moved.
 */
static json_t *keyed_diff(json_t *xa, json_t *xb, const char *key, const char *const *order, bool positions,
                          json_t *(*describe)(json_t *v, size_t i))
{
	json_t *ia = index_by(xa, key), *ib = index_by(xb, key);
	json_t *added = json_array(), *removed = json_array(), *changed = json_array(), *v;
	char buf[32];
	size_t i;

	json_array_foreach(xb, i, v)
	{
		const char *k = element_key(v, key, buf, sizeof buf);
		json_t *at;

		if (k == NULL || (size_t)json_integer_value(json_object_get(ib, k)) != i)
			continue;
		at = json_object_get(ia, k);
		if (at == NULL) {
			json_array_append_new(added, describe(v, i));
		} else {
			size_t from = (size_t)json_integer_value(at);
			json_t *fields = object_changes(json_array_get(xa, from), v, order);

			if (json_array_size(fields) == 0 && (!positions || from == i)) {
				json_decref(fields);
				continue;
			}
			if (positions)
				json_array_append_new(changed,
				                      json_pack("{s:o, s:I, s:I, s:o}", key,
				                                copy_or_null(json_object_get(v, key)), "from_position",
				                                (json_int_t)from + 1, "to_position", (json_int_t)i + 1,
				                                "fields", fields));
			else
				json_array_append_new(changed, json_pack("{s:o, s:o}", key,
				                                         copy_or_null(json_object_get(v, key)),
				                                         "fields", fields));
		}
	}
	json_array_foreach(xa, i, v)
	{
		const char *k = element_key(v, key, buf, sizeof buf);

		if (k != NULL && (size_t)json_integer_value(json_object_get(ia, k)) == i &&
		    json_object_get(ib, k) == NULL)
			json_array_append_new(removed, describe(v, i));
	}
	json_decref(ia);
	json_decref(ib);
	return json_pack("{s:o, s:o, s:o}", "added", added, "removed", removed, "changed", changed);
}

/* A rule added or removed: {"name", "position"}. */
static json_t *describe_rule(json_t *v, size_t i)
{
	return json_pack("{s:o, s:I}", "name", copy_or_null(json_object_get(v, "name")), "position", (json_int_t)i + 1);
}

/* A department added or removed: its code. */
static json_t *describe_department(json_t *v, size_t i)
{
	(void)i;
	return copy_or_null(json_object_get(v, "code"));
}

/* An action area added or removed: {"number", "name"}. */
static json_t *describe_area(json_t *v, size_t i)
{
	(void)i;
	return json_pack("{s:o, s:o}", "number", copy_or_null(json_object_get(v, "number")), "name",
	                 copy_or_null(json_object_get(v, "name")));
}

/* Strings of xb not in xa, in xb's order. */
static json_t *strings_missing(json_t *xa, json_t *xb)
{
	json_t *out = json_array(), *v, *w;
	size_t i, j;

	json_array_foreach(xb, i, v)
	{
		bool found = false;

		json_array_foreach(xa, j, w) found = found || json_equal(v, w);
		if (!found)
			json_array_append_new(out, json_deep_copy(v));
	}
	return out;
}

json_t *rules_diff_documents(json_t *a, json_t *b)
{
	json_t *da, *db;

	if (!json_is_object(a) || !json_is_object(b))
		return NULL;
	da = json_object_get(a, "districts");
	db = json_object_get(b, "districts");
	return json_pack("{s:b, s:o, s:o, s:o, s:o, s:{s:o, s:o}, s:o, s:o}", "identical", json_equal(a, b), "name",
	                 from_to(json_object_get(a, "name"), json_object_get(b, "name")), "description",
	                 from_to(json_object_get(a, "description"), json_object_get(b, "description")), "rules",
	                 keyed_diff(json_object_get(a, "rules"), json_object_get(b, "rules"), "name", rule_keys, true,
	                            describe_rule),
	                 "departments",
	                 keyed_diff(json_object_get(a, "departments"), json_object_get(b, "departments"), "code",
	                            dept_keys, false, describe_department),
	                 "districts", "added", strings_missing(da, db), "removed", strings_missing(db, da),
	                 "action_areas",
	                 keyed_diff(json_object_get(a, "action_areas"), json_object_get(b, "action_areas"), "number",
	                            area_keys, false, describe_area),
	                 "fallback",
	                 object_changes(json_object_get(a, "fallback"), json_object_get(b, "fallback"), fallback_keys));
}
