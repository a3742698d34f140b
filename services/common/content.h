/*
 * content: how a report's sensitive content is sealed at rest. Every value
 * of table report_content (description, exact age, the subject's name,
 * personal number and unit, the reporter's phone, the receipt) is stored as
 * a sealed text (crypto.h) whose associated data names the report (by its
 * receipt hash, which is known before the row exists and unique) and the
 * column, so a ciphertext copied to another row or column does not open.
 * Routing attributes stay in clear in table report.
 */
#ifndef ORO_CONTENT_H
#define ORO_CONTENT_H

#include <stdbool.h>

#include "crypto.h"

enum content_field {
	CONTENT_DESCRIPTION,
	CONTENT_AGE,
	CONTENT_NAME,
	CONTENT_PERSONAL_NUMBER,
	CONTENT_UNIT,
	CONTENT_PHONE,
	CONTENT_RECEIPT,
	CONTENT_FIELDS
};

/* The report_content column of each field. */
extern const char *const content_columns[CONTENT_FIELDS];

/* Seal plaintext (NULL gives NULL) for field of the report whose receipt
 * hash is hash_hex (64 hex digits). The caller frees. */
char *content_seal(const struct keyring *kr, const char *hash_hex, enum content_field field, const char *plaintext);

/*
 * Open a stored value (NULL gives NULL). On failure (a key not in the file,
 * tampering, a value moved from elsewhere, or a value that is not sealed
 * at all) returns NULL and sets *failed. The caller frees.
 */
char *content_open(const struct keyring *kr, const char *hash_hex, enum content_field field, const char *stored,
                   bool *failed);

/* As content_open(), but a value stored in clear before sealing existed
 * (no "s1." prefix) is returned as it is: for `oro keys rotate`, which
 * seals such values, and nothing else (anyone who can write the database
 * could plant clear text). */
char *content_open_legacy(const struct keyring *kr, const char *hash_hex, enum content_field field, const char *stored,
                          bool *failed);

/*
 * Load the key file at start (fatal when it cannot be: a daemon must not
 * store content it cannot seal) or, with *kr set, reload it when it
 * changed (keeping the old keys, with an error logged, when the new file
 * is refused). Returns true when a (re)load happened.
 */
bool content_keys_follow(struct keyring **kr, const char *path);

#endif
