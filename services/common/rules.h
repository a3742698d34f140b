/*
 * rules: the strategy's routing rules. A ruleset document (JSON, format in
 * docs/rules.md) is parsed and validated into an immutable struct ruleset;
 * ruleset_evaluate() applies it to a validated concern. The router, the
 * intake (for the reporter's guidance) and `oro rules test` all use this
 * one evaluation, so an offline test gives exactly what the router decides.
 *
 * Semantics (STRATEGY.md): a rule matches when every condition it names
 * holds; every matching rule contributes its recipients; per department the
 * widest view, the highest priority and the earliest deadline win; a `final`
 * rule stops evaluation after it; if no department gets the full view the
 * ruleset's fallback department gets it; guidance of matching rules is
 * ordered by priority, then rule order. Nothing about departments, deadlines
 * or texts is hard-coded here: it is all in the document.
 *
 * Thread-safety: a struct ruleset is read-only after parsing and may be
 * shared between threads.
 */
#ifndef ORO_RULES_H
#define ORO_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "concern.h"
#include "error.h"
#include "vocab.h"

#define RULES_MAX_DEPARTMENTS  64
#define RULES_MAX_DISTRICTS    64
#define RULES_MAX_RULES        10000
#define RULES_MAX_ACTION_AREAS 64

struct ruleset;

/* Diagnostic codes besides the ORO_E_* codes of error.h (docs/rules.md). */
#define RULES_E_IO          "io"                       /* the file cannot be read */
#define RULES_E_DUPLICATE   "duplicate"                /* a name or code given twice */
#define RULES_E_EMPTY       "empty"                    /* an empty list where one is needed */
#define RULES_E_CYCLE       "escalation_cycle"         /* escalates_to leads back to itself */
#define RULES_E_NO_BASIS    "missing_disclosure_basis" /* full view needs a basis */
#define RULES_E_UNREACHABLE "unreachable"              /* warning: rules after an always-final rule */
#define RULES_E_IGNORED     "ignored"                  /* warning: a value that has no effect */

/* One finding of validation. rule is the 1-based rule position, or 0 when the
 * finding is not about one rule (then rule_name is empty). field is the JSON
 * path from the document root with 0-based indexes, so rule 4's first
 * recipient is "rules[3].recipients[0]". */
struct rules_diag {
	bool warning; /* a warning does not make the ruleset invalid */
	char code[32];
	int rule;
	char rule_name[64];
	char field[96];
	char message[256];
};

struct rules_diags {
	struct rules_diag *items;
	size_t count;
	size_t errors; /* items that are not warnings */
};

struct department {
	const char *code;
	const char *name;
	const char *escalates_to;       /* NULL at the top of the chain */
	bool disclosure_basis_required; /* a full view needs a recorded basis */
};

/* One of the strategy's action areas (åtgärdsområden): a number unique in
 * the document and a name for people. */
struct action_area {
	int number; /* positive */
	const char *name;
};

/*
 * Parse and validate a ruleset document. Every problem found is appended to
 * diags (which may be NULL; free with rules_diags_free()). Returns the
 * ruleset, or NULL when there is at least one error. The ruleset's version
 * is 0 until ruleset_set_version().
 */
struct ruleset *ruleset_parse(const char *text, size_t len, struct rules_diags *diags);

/* Read a file and ruleset_parse() it. A file that cannot be read is one
 * error diagnostic with code "io". */
struct ruleset *ruleset_load_file(const char *path, struct rules_diags *diags);

/* Free rs and set *rs to NULL. Safe on NULL and twice. */
void ruleset_destroy(struct ruleset **rs);

void rules_diags_free(struct rules_diags *d);
/* The first error (not warning) of d as a struct oro_error, its field the
 * diagnostic's full path; err is zeroed when d has no error. */
void rules_diags_first_error(const struct rules_diags *d, struct oro_error *err);
/* d as a JSON array of {severity, code, rule, rule_name, field, message}. */
json_t *rules_diags_to_json(const struct rules_diags *d);

/* Version as stored in the database (0 for a file not yet published). */
int ruleset_version(const struct ruleset *rs);
void ruleset_set_version(struct ruleset *rs, int version);

/* The document's name, its rule count and its departments (borrowed, valid
 * as long as rs). */
const char *ruleset_name(const struct ruleset *rs);
size_t ruleset_rule_count(const struct ruleset *rs);
const char *ruleset_rule_name(const struct ruleset *rs, size_t position /* 1-based */);
size_t ruleset_department_count(const struct ruleset *rs);
const struct department *ruleset_department(const struct ruleset *rs, size_t i);
const struct department *ruleset_department_find(const struct ruleset *rs, const char *code);

/* The document's action areas, in document order (borrowed, valid as long
 * as rs); there may be none. ruleset_action_area() is NULL for i out of
 * range; ruleset_action_area_find() is NULL for a number not defined. */
size_t ruleset_action_area_count(const struct ruleset *rs);
const struct action_area *ruleset_action_area(const struct ruleset *rs, size_t i);
const struct action_area *ruleset_action_area_find(const struct ruleset *rs, int number);
/* The number of the action area rule `position` (1-based) serves, or 0 when
 * it names none or the position is out of range. */
int ruleset_rule_action_area(const struct ruleset *rs, size_t position);

/* Index of a district name, or -1. */
int ruleset_district_index(const struct ruleset *rs, const char *name);
size_t ruleset_district_count(const struct ruleset *rs);
const char *ruleset_district(const struct ruleset *rs, size_t i);

/* One department's share of a routing decision. */
struct route_recipient {
	const char *department; /* borrowed from the ruleset */
	enum view view;
	enum priority priority;
	int64_t ack_within; /* seconds */
	/* NULL unless view full and a basis was given; several distinct bases
	 * are joined with "; " in rule order. Borrowed from the ruleset or from
	 * the route: valid until the next ruleset_evaluate() or route_free(). */
	const char *disclosure_basis;
};

struct route_guidance {
	const char *sv; /* borrowed from the ruleset */
	const char *en;
	enum priority priority;
	int rule; /* 1-based position of the rule that gave it */
};

/*
 * A routing decision. Zero it before first use; ruleset_evaluate() reuses
 * its arrays across calls (no allocation once warm); route_free() releases
 * them. Borrowed strings live as long as the ruleset evaluated.
 */
struct route {
	int *matched; /* 1-based rule positions, ascending */
	size_t n_matched;
	struct route_recipient *recipients; /* in order of first contribution */
	size_t n_recipients;
	struct route_guidance *guidance; /* priority order, then rule order; no duplicates */
	size_t n_guidance;
	bool fallback; /* the fallback department's full view was added */
	size_t cap_matched, cap_recipients, cap_guidance;
	char *basis_buf; /* joined disclosure bases */
	size_t cap_basis;
};

/* Apply rs to c, which concern_validate() accepted against rs. */
void ruleset_evaluate(const struct ruleset *rs, const struct concern *c, struct route *out);

void route_free(struct route *r);

/*
 * The `oro rules test` element for r:
 * {"matched_rules": [..], "recipients": [{"department", "view", "priority",
 *  "ack_within", "disclosure_basis"}], "guidance": [{"sv", "en"}],
 *  "fallback": bool}; ack_within in seconds, disclosure_basis null when none.
 */
json_t *route_to_json(const struct route *r);

/*
 * Evaluate each element of cases (a JSON array of concern documents, or of
 * wrappers {"name", "concern", "expect"} as for rules_check_cases(), whose
 * expectation is ignored here) against rs with CONCERN_ROUTING_ONLY
 * validation. Returns a new JSON array with one element per case, in order:
 * route_to_json(), or {"error": {"code", "field", "message"}} for an
 * invalid case; a wrapper's element also has its "name" when it gives one,
 * and the field of an error in its concern starts with "concern.". NULL
 * when cases is not an array.
 */
json_t *rules_test_cases(const struct ruleset *rs, json_t *cases);

/* {"code","field","message"} for err; the caller owns it. */
json_t *oro_error_to_json(const struct oro_error *err);

/*
 * Why c is routed as it is, for people (`oro explain`). c must have been
 * accepted by concern_validate() against rs. The answer is built on
 * ruleset_evaluate() itself, so its matched rules, recipients, guidance and
 * fallback are exactly the router's:
 *
 * {"version": N, "matched_rules": [..], "fallback": bool,
 *  "rules": [{"rule": N, "name", "action_area": N | null, "matched", "final",
 *             "evaluated" (false after a matching final rule),
 *             "variant": 0-based index of the variant that set priority or
 *                        deadline | null,
 *             "failed": the first condition that does not hold | null,
 *             "failed_field": its path from the rule, "when.any[0].urgency",
 *                             | null}],
 *  "recipients": [{"department", "view", "priority", "ack_within" (seconds),
 *                  "disclosure_basis", "view_from": [rule numbers] | "fallback",
 *                  "priority_from": {"rule": N, "variant": index | null} | "fallback",
 *                  "ack_within_from": same shape}],
 *  "guidance": [{"sv", "en", "rule", "priority"}]}
 *
 * Slower than ruleset_evaluate() (it allocates); meant for people, not for
 * the router. The caller owns the result.
 */
json_t *ruleset_explain(const struct ruleset *rs, const struct concern *c);

/*
 * What changed from ruleset document a to document b (both already
 * validated; `oro rules diff`). Rules are matched by name, departments by
 * code, action areas by number; a key absent from an object compares as
 * JSON null; values are compared as JSON, exactly as written.
 *
 * {"identical": bool (the documents are equal as JSON),
 *  "name": {"from", "to"} | null, "description": {"from", "to"} | null,
 *  "rules": {"added": [{"name", "position"}], "removed": [{"name", "position"}],
 *            "changed": [{"name", "from_position", "to_position",
 *                         "fields": [{"field", "from", "to"}]}]},
 *  "departments": {"added": [codes], "removed": [codes],
 *                  "changed": [{"code", "fields": [...]}]},
 *  "districts": {"added": [names], "removed": [names]},
 *  "action_areas": {"added": [{"number", "name"}], "removed": [{"number", "name"}],
 *                   "changed": [{"number", "fields": [...]}]},
 *  "fallback": [{"field", "from", "to"}]}
 *
 * Added items are in b's order, removed ones in a's, changed ones in b's; a
 * rule that only moved is "changed" with empty "fields"; the fields of one
 * object come in the format's order of keys (docs/rules.md), then any other
 * keys alphabetically. NULL when a or b is not an object. The caller owns
 * the result; it shares nothing with a or b.
 */
json_t *rules_diff_documents(json_t *a, json_t *b);

/*
 * The strategy owner's regression suite (`oro rules test --expect`). Each
 * element of cases is a bare concern document (which has no expectation) or
 * a wrapper {"name", "concern": {...}, "expect": {"recipients": [{"department",
 * "view", "priority", "ack_within" (optional), "disclosure_basis" (optional,
 * text or null)}], "matched_rules": [..] (optional), "guidance_starts_with":
 * text (optional), "fallback": bool (optional)}} (docs/rules.md). A case
 * passes when exactly the expected departments are routed, each as
 * expected, and every optional expectation given holds.
 *
 * Returns an array with one element per case: {"case": 1-based index,
 * "name": text | null, "ok": bool, "mismatches": [text, ...]}; a case with
 * no expectation, or one that is invalid (the concern or the expectation),
 * is a mismatch that says so. *mismatches (may be NULL) is set to the
 * number of cases that are not ok. NULL (and *mismatches 0) when cases is
 * not an array. The caller owns the result.
 */
json_t *rules_check_cases(const struct ruleset *rs, json_t *cases, size_t *mismatches);

#endif
