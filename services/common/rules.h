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

#define RULES_MAX_DEPARTMENTS 64
#define RULES_MAX_DISTRICTS 64
#define RULES_MAX_RULES 10000

struct ruleset;

/* Diagnostic codes besides the ORO_E_* codes of error.h (docs/rules.md). */
#define RULES_E_IO "io"                           /* the file cannot be read */
#define RULES_E_DUPLICATE "duplicate"             /* a name or code given twice */
#define RULES_E_EMPTY "empty"                     /* an empty list where one is needed */
#define RULES_E_CYCLE "escalation_cycle"          /* escalates_to leads back to itself */
#define RULES_E_NO_BASIS "missing_disclosure_basis" /* full view needs a basis */
#define RULES_E_UNREACHABLE "unreachable"         /* warning: rules after an always-final rule */
#define RULES_E_IGNORED "ignored"                 /* warning: a value that has no effect */

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
	const char *escalates_to;     /* NULL at the top of the chain */
	bool disclosure_basis_required; /* a full view needs a recorded basis */
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

/* Index of a district name, or -1. */
int ruleset_district_index(const struct ruleset *rs, const char *name);
size_t ruleset_district_count(const struct ruleset *rs);
const char *ruleset_district(const struct ruleset *rs, size_t i);

/* One department's share of a routing decision. */
struct route_recipient {
	const char *department; /* borrowed from the ruleset */
	enum view view;
	enum priority priority;
	int64_t ack_within;           /* seconds */
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
 * Evaluate each element of cases (a JSON array of concern documents) against
 * rs with CONCERN_ROUTING_ONLY validation. Returns a new JSON array with one
 * element per case, in order: route_to_json(), or {"error": {"code",
 * "field", "message"}} for an invalid case. NULL when cases is not an array.
 */
json_t *rules_test_cases(const struct ruleset *rs, json_t *cases);

/* {"code","field","message"} for err; the caller owns it. */
json_t *oro_error_to_json(const struct oro_error *err);

#endif
