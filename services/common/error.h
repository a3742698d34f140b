/*
 * error: the structured refusal that every bad input gets, on the wire
 * (proto Error), in the client's --json output and in tests alike.
 *
 * Error model (stated once): functions return 0 on success or a negative
 * value on failure and, where they take a `struct oro_error *`, fill it with
 * a code from the list below, the offending field as a JSON path
 * ("subject.age", empty when not about one field) and a message for people.
 * Messages never quote sealed content (description, identities, contact).
 */
#ifndef ORO_ERROR_H
#define ORO_ERROR_H

#include <stdbool.h>

/* Error codes. docs/protocol.md lists them with their meaning. */
#define ORO_E_BAD_VERSION   "bad_version"   /* protocol version not spoken */
#define ORO_E_UNKNOWN_TYPE  "unknown_type"  /* message type not known or not allowed here */
#define ORO_E_MALFORMED     "malformed"     /* frames or protobuf do not parse exactly */
#define ORO_E_INVALID_JSON  "invalid_json"  /* a JSON document does not parse */
#define ORO_E_MISSING       "missing_field" /* a required field is absent */
#define ORO_E_UNKNOWN_FIELD "unknown_field" /* a field that the format does not have */
#define ORO_E_WRONG_TYPE    "wrong_type"    /* a field of the wrong JSON type */
#define ORO_E_INVALID_VALUE "invalid_value" /* not one of the allowed values, or bad format */
#define ORO_E_OUT_OF_RANGE  "out_of_range"  /* a number or time outside its bounds */
#define ORO_E_TOO_LONG      "too_long"      /* a text or list over its limit */
#define ORO_E_INVALID_UTF8  "invalid_utf8"  /* text that is not valid UTF-8 */
#define ORO_E_NOT_FOUND     "not_found"     /* no such case, receipt or delivery (for you) */
#define ORO_E_FORBIDDEN     "forbidden"     /* not allowed for this principal */
#define ORO_E_UNAVAILABLE   "unavailable"   /* temporarily unavailable (database down): try again */
#define ORO_E_INTERNAL      "internal"      /* a fault on our side, logged */
#define ORO_E_TIMEOUT       "timeout"       /* client side: no answer in time */

struct oro_error {
	char code[32];
	char field[96];
	char message[256];
};

/* Fill e (may be NULL: then nothing happens). Always returns -1, so that
 * callers can write `return oro_error_set(...)`. */
int oro_error_set(struct oro_error *e, const char *code, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* True when e holds an error. */
bool oro_error_isset(const struct oro_error *e);

#endif
