/* content: sealing conventions for report_content (see content.h). */
#include "content.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

const char *const content_columns[CONTENT_FIELDS] = {
        "description",  "subject_age",    "subject_name", "subject_personal_number",
        "subject_unit", "reporter_phone", "receipt",
};

/* The associated data binding a value to its report and column; the caller frees. */
static char *content_ad(const char *hash_hex, enum content_field field)
{
	return xasprintf("oro:report_content:%s:%s", hash_hex, content_columns[field]);
}

char *content_seal(const struct keyring *kr, const char *hash_hex, enum content_field field, const char *plaintext)
{
	char *ad, *sealed;

	if (plaintext == NULL)
		return NULL;
	ad = content_ad(hash_hex, field);
	sealed = crypto_seal(kr, plaintext, strlen(plaintext), ad);
	free(ad);
	return sealed;
}

/* Open stored; a value with no "s1." prefix is clear text, accepted only when legacy. */
static char *content_open_as(const struct keyring *kr, const char *hash_hex, enum content_field field,
                             const char *stored, bool legacy, bool *failed)
{
	char *ad, *plain;

	if (stored == NULL)
		return NULL;
	if (crypto_sealed_key(stored) < 0) {
		if (legacy)
			return xstrdup(stored);
		*failed = true;
		return NULL;
	}
	ad = content_ad(hash_hex, field);
	plain = crypto_unseal(kr, stored, ad, NULL);
	free(ad);
	if (plain == NULL)
		*failed = true;
	return plain;
}

char *content_open(const struct keyring *kr, const char *hash_hex, enum content_field field, const char *stored,
                   bool *failed)
{
	return content_open_as(kr, hash_hex, field, stored, false, failed);
}

char *content_open_legacy(const struct keyring *kr, const char *hash_hex, enum content_field field, const char *stored,
                          bool *failed)
{
	return content_open_as(kr, hash_hex, field, stored, true, failed);
}

bool content_keys_follow(struct keyring **kr, const char *path)
{
	struct oro_error err = {0};
	struct keyring *fresh;

	if (*kr != NULL && !keyring_changed(*kr))
		return false;
	if (path == NULL || *path == '\0') {
		if (*kr == NULL)
			log_fatal("keys=none error=\"key_file is not set: content cannot be sealed\"");
		return false;
	}
	fresh = keyring_load(path, &err);
	if (fresh == NULL) {
		if (*kr == NULL)
			log_fatal("keys=unusable file=%s error=%s", log_quote(path), log_quote(err.message));
		log_error("keys=reload_refused file=%s error=%s", log_quote(path), log_quote(err.message));
		return false;
	}
	log_info("keys=loaded current=%d", keyring_current(fresh));
	keyring_destroy(kr);
	*kr = fresh;
	return true;
}
