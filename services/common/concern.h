/*
 * concern: the concern document (BRIEF.md §6), as JSON (`oro report --file`,
 * `oro rules test`) and as the fields of the FileConcern message, and its
 * validation. Validation is one function, concern_validate(), used by the
 * client, the rule tester and oro-intake alike, so that every path refuses
 * the same inputs with the same error.
 *
 * JSON document (every key optional unless marked required):
 *   client_key (required*), category (required), urgency (required),
 *   subject {kind (required), age | age_band, name, personal_number, unit}
 *   (required), setting (required), district (required),
 *   association_grant, description (required*), observed_at (RFC 3339),
 *   relatives_informed, reporter {unit, phone}.
 *   (*) not required with CONCERN_ROUTING_ONLY.
 *
 * Ownership: every char * member is owned by the struct and freed by
 * concern_clear(). A zeroed struct is a valid empty concern.
 */
#ifndef ORO_CONCERN_H
#define ORO_CONCERN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "vocab.h"

struct ruleset;

/* Limits, in bytes of UTF-8. */
#define CONCERN_CLIENT_KEY_MAX  100
#define CONCERN_TEXT_MAX        200
#define CONCERN_DESCRIPTION_MAX 10000
#define CONCERN_AGE_MAX         120

/* concern_validate() flags */
#define CONCERN_ROUTING_ONLY 0x1u /* client_key and description not required */

struct concern {
	/* as received: NULL when absent */
	char *client_key;
	char *category;
	char *urgency;
	char *subject_kind;
	bool has_age;
	int age; /* years, when has_age */
	char *age_band;
	char *subject_name;    /* sealed at rest */
	char *personal_number; /* sealed at rest */
	char *subject_unit;    /* sealed at rest */
	char *setting;
	char *district;
	char *association_grant;
	char *description; /* sealed at rest */
	char *observed_at;
	char *relatives_informed;
	char *reporter_unit;
	char *reporter_phone;     /* sealed at rest */
	char *reporter_principal; /* set by intake, never from the JSON document */

	/* resolved by concern_validate(); meaningless before */
	struct {
		enum category category;
		enum urgency urgency;
		enum subject_kind kind;
		enum age_band band; /* from age when given, else age_band, else unknown */
		enum setting setting;
		int district;            /* index in the ruleset's district list */
		enum tristate grant;     /* default unknown */
		enum tristate relatives; /* default unknown */
		int64_t observed_at;     /* Unix seconds; 0 when not given */
	} v;
};

/*
 * Read a concern document (a JSON object) into c, which must be zeroed.
 * Checks structure only: unknown keys, wrong JSON types, nesting. Values are
 * checked by concern_validate(). On error fills err, leaves c to be cleared
 * by concern_clear(), and returns -1.
 */
int concern_from_json(json_t *doc, struct concern *c, struct oro_error *err);

/* Parse JSON text and call concern_from_json(). Invalid JSON or invalid UTF-8
 * gives ORO_E_INVALID_JSON / ORO_E_INVALID_UTF8 with the position. */
int concern_parse(const char *text, size_t len, struct concern *c, struct oro_error *err);

/*
 * Check every value and fill c->v. rs gives the district list; with rs NULL
 * any district name of valid length is accepted and v.district is -1.
 * Checks: required fields, allowed values, UTF-8 and lengths of every
 * string, age 0..CONCERN_AGE_MAX, a child aged 18 or more (or in band
 * 18-20 or 21+), age and age_band that disagree, personal number format,
 * date and check digit (coordination numbers accepted), phone format,
 * observed_at format and not in the future (1 hour of clock skew allowed),
 * client_key printable ASCII. Returns 0, or -1 with err naming the field.
 */
int concern_validate(struct concern *c, const struct ruleset *rs, unsigned flags, struct oro_error *err);

/* The concern as a JSON document (the format above); the caller owns it.
 * Sealed fields are included: do not log the result. */
json_t *concern_to_json(const struct concern *c);

/* The routing attributes of a stored report, in the order of the report
 * table's columns: category, urgency, subject_kind, age_band, setting,
 * district, association_grant, relatives_informed. */
enum { CONCERN_STORED_ATTRS = 8 };

/*
 * Fill c->v from a stored report's attributes (names as stored, which the
 * schema's CHECK constraints keep inside the vocabularies) and its age (NULL
 * when none), resolving the district against rs (-1 when rs no longer lists
 * it, so that it matches no district condition). c must be zeroed. This is
 * how the router and `oro explain` rebuild what a rule sees.
 */
void concern_from_stored(struct concern *c, const struct ruleset *rs, const char *const attrs[CONCERN_STORED_ATTRS],
                         const char *age);

/* Free every member and zero c. Safe on a zeroed struct and twice. */
void concern_clear(struct concern *c);

/* True when s (len bytes) is valid UTF-8 with no NUL and no C0 control
 * characters other than tab, CR and LF. */
bool utf8_valid_text(const char *s, size_t len);

#endif
