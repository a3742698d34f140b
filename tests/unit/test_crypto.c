/*
 * Unit tests of the crypto module: sealing with AES-256-GCM (round trip,
 * fresh nonces, associated data binding, tampering, unknown keys, key
 * rotation by adding a key), the key file's permission check and format,
 * receipts, and the audit chain's HMAC-SHA256 against a known answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"

#define AUDIT "audit 1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100\n"
#define KEY1  "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"

/* Write text to a new temporary file with mode; returns its path (static buffer). */
static const char *key_file(const char *text, mode_t mode)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/oro-test-keys.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
	return path;
}

/* A sealed value opens with its associated data and nothing else. */
static void test_seal_round_trip(void **state)
{
	struct oro_error err = {0};
	const char *path = key_file("# keys\n" AUDIT KEY1, 0600);
	struct keyring *kr = keyring_load(path, &err);
	static const char *const texts[] = {"", "x", "Elev Exempelsson, 15 år",
	                                    "a longer text with\nnew lines\tand tabs"};

	(void)state;
	assert_non_null(kr);
	assert_int_equal(keyring_current(kr), 1);
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		char *a = crypto_seal(kr, texts[i], strlen(texts[i]), "report/abc/description");
		char *b = crypto_seal(kr, texts[i], strlen(texts[i]), "report/abc/description");
		size_t len = 99;
		char *plain = crypto_unseal(kr, a, "report/abc/description", &len);

		assert_string_equal(plain, texts[i]);
		assert_int_equal(len, strlen(texts[i]));
		assert_int_equal(crypto_sealed_key(a), 1);
		assert_string_not_equal(a, b); /* a fresh nonce each time */
		if (strlen(texts[i]) > 8)      /* a short text may occur in base64 by chance */
			assert_null(strstr(a, texts[i]));
		/* moved to another row or field: does not open */
		assert_null(crypto_unseal(kr, a, "report/abd/description", NULL));
		assert_null(crypto_unseal(kr, a, "report/abc/subject_name", NULL));
		/* tampered: change one character of the base64 (not one whose low bits are padding) */
		a[5 + 20] = a[5 + 20] == 'A' ? 'B' : 'A';
		assert_null(crypto_unseal(kr, a, "report/abc/description", NULL));
		free(a);
		free(b);
		free(plain);
	}
	assert_null(crypto_unseal(kr, "plain text", "x", NULL));
	assert_null(crypto_unseal(kr, "s1.2.AAAA", "x", NULL)); /* unknown key */
	assert_null(crypto_unseal(kr, "s1.1.!!!!", "x", NULL));
	assert_null(crypto_unseal(kr, "s1.1.", "x", NULL));
	assert_int_equal(crypto_sealed_key("s1.x.AAAA"), -1);
	keyring_destroy(&kr);
	keyring_destroy(&kr);
	unlink(path);
}

/* Adding a key: the new one seals, the old one still opens old values. */
static void test_rotation(void **state)
{
	struct oro_error err = {0};
	const char *path = key_file(AUDIT KEY1, 0600);
	struct keyring *kr = keyring_load(path, &err), *kr2;
	char *old = crypto_seal(kr, "old", 3, "ad"), *plain;
	struct stat st;

	(void)state;
	assert_false(keyring_changed(kr));
	assert_int_equal(keyring_add_key(kr, &err), 2);
	assert_true(keyring_changed(kr));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	kr2 = keyring_load(path, &err);
	assert_non_null(kr2);
	assert_int_equal(keyring_current(kr2), 2);
	plain = crypto_unseal(kr2, old, "ad", NULL);
	assert_string_equal(plain, "old");
	free(plain);
	free(old);
	old = crypto_seal(kr2, "new", 3, "ad");
	assert_int_equal(crypto_sealed_key(old), 2);
	assert_null(crypto_unseal(kr, old, "ad", NULL)); /* the old ring lacks key 2 */
	free(old);
	keyring_destroy(&kr);
	keyring_destroy(&kr2);
	unlink(path);
}

/* Key files that must be refused, each with its error code. */
static void test_key_file_refused(void **state)
{
	static const struct {
		const char *text;
		mode_t mode;
		const char *code;
	} rows[] = {
	        {AUDIT KEY1, 0640, ORO_E_FORBIDDEN},
	        {AUDIT KEY1, 0604, ORO_E_FORBIDDEN},
	        {AUDIT KEY1, 0620, ORO_E_FORBIDDEN},
	        {"# nothing\n", 0600, ORO_E_MISSING},
	        {AUDIT, 0600, ORO_E_MISSING},
	        {KEY1, 0600, ORO_E_MISSING}, /* no audit key */
	        {AUDIT AUDIT KEY1, 0600, ORO_E_INVALID_VALUE},
	        {AUDIT "1 0001\n", 0600, ORO_E_MALFORMED},
	        {AUDIT "x 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600, ORO_E_MALFORMED},
	        {AUDIT KEY1 KEY1, 0600, ORO_E_INVALID_VALUE},
	        {AUDIT "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fff\n", 0600, ORO_E_MALFORMED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct oro_error err = {0};
		const char *path = key_file(rows[i].text, rows[i].mode);

		assert_null(keyring_load(path, &err));
		if (strcmp(err.code, rows[i].code) != 0)
			fail_msg("row %zu: expected %s, got %s (%s)", i, rows[i].code, err.code, err.message);
		assert_null(strstr(err.message, "0001020304")); /* never the key in a message */
		unlink(path);
	}
	struct oro_error err = {0};

	assert_null(keyring_load("/nonexistent/keys", &err));
	assert_string_equal(err.code, ORO_E_NOT_FOUND);
}

/* A new key file: mode 0600, loads, and is never overwritten; the audit MAC chains. */
static void test_key_file_new(void **state)
{
	struct oro_error err = {0};
	char path[] = "/tmp/oro-test-newkeys.XXXXXX";
	unsigned char prev[CRYPTO_SHA256_LEN] = {0}, a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];
	struct keyring *kr;
	struct stat st;
	int fd = mkstemp(path);

	(void)state;
	close(fd);
	unlink(path);
	assert_int_equal(crypto_key_file_new(path, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(crypto_key_file_new(path, &err), -1); /* exists */
	kr = keyring_load(path, &err);
	assert_non_null(kr);
	crypto_audit_mac(kr, prev, "entry", 5, a);
	crypto_audit_mac(kr, prev, "entry", 5, b);
	assert_memory_equal(a, b, sizeof a);
	crypto_audit_mac(kr, a, "entry", 5, b); /* another predecessor, another MAC */
	assert_memory_not_equal(a, b, sizeof a);
	assert_int_equal(keyring_add_key(kr, &err), 2);
	keyring_destroy(&kr);
	kr = keyring_load(path, &err); /* the audit key survives adding a sealing key */
	assert_non_null(kr);
	crypto_audit_mac(kr, prev, "entry", 5, b);
	assert_memory_equal(a, b, sizeof a);
	keyring_destroy(&kr);
	unlink(path);
}

/* Receipts: 32 characters of the base32 alphabet, different each time. */
static void test_receipt(void **state)
{
	char a[CRYPTO_RECEIPT_LEN + 1], b[CRYPTO_RECEIPT_LEN + 1];

	(void)state;
	crypto_receipt_new(a);
	crypto_receipt_new(b);
	assert_int_equal(strlen(a), CRYPTO_RECEIPT_LEN);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), CRYPTO_RECEIPT_LEN);
	assert_string_not_equal(a, b);
}

/*
 * The audit MAC is HMAC-SHA256 under the audit key of the predecessor's MAC
 * followed by the content; the expected value was computed with Python's
 * hmac module. Twice: the keyed context is reused.
 */
static void test_audit_mac(void **state)
{
	static const unsigned char want[] = {0xa3, 0x2e, 0x6b, 0xb0, 0x4f, 0xa6, 0xcb, 0x55, 0xe7, 0xd7, 0x2d,
	                                     0xf8, 0x20, 0xc2, 0x19, 0x1e, 0xc8, 0x98, 0x7a, 0x35, 0xca, 0xfa,
	                                     0x25, 0x1c, 0xd6, 0xfc, 0x05, 0x2b, 0xe3, 0xdb, 0x64, 0x70};
	const char *path = key_file(AUDIT KEY1, 0600);
	struct oro_error err = {0};
	struct keyring *kr = keyring_load(path, &err);
	unsigned char prev[CRYPTO_SHA256_LEN] = {0}, out[CRYPTO_SHA256_LEN];
	const char *content = "oro-audit-1;1;0;entry";

	(void)state;
	assert_non_null(kr);
	for (int i = 0; i < 2; i++) {
		memset(out, 0, sizeof out);
		crypto_audit_mac(kr, prev, content, strlen(content), out);
		assert_memory_equal(out, want, sizeof want);
	}
	keyring_destroy(&kr);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_seal_round_trip),  cmocka_unit_test(test_rotation),
	        cmocka_unit_test(test_key_file_refused), cmocka_unit_test(test_key_file_new),
	        cmocka_unit_test(test_receipt),          cmocka_unit_test(test_audit_mac),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
