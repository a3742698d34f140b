/*
 * crypto: the only module that calls OpenSSL: random bytes, SHA-256,
 * receipts, and sealing at rest with AES-256-GCM under keys from a key
 * file (a keyring).
 *
 * A sealed value is text: "s1.<key id>.<base64 of nonce, ciphertext and
 * tag>". Each value gets a fresh random 96-bit nonce; the associated data
 * the caller gives (which row and which field) is authenticated with it, so
 * a ciphertext moved to another row or field does not open. The key id
 * lets keys rotate: the newest key seals, every key in the file unseals.
 * Nothing here logs or returns key material, and plaintexts are never in
 * an error message.
 */
#ifndef ORO_CRYPTO_H
#define ORO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define CRYPTO_SHA256_LEN 32
/* A receipt is 160 random bits in RFC 4648 base32: 32 characters A-Z2-7. */
#define CRYPTO_RECEIPT_LEN 32

/* Fill buf with n cryptographically strong random bytes; panics if the
 * system cannot provide them (nothing may go on without). */
void crypto_random(void *buf, size_t n);

/* SHA-256 of data. */
void crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_LEN]);

/* SHA-256 as 64 lower-case hex characters and a NUL. */
void crypto_sha256_hex(const void *data, size_t len, char out[2 * CRYPTO_SHA256_LEN + 1]);

/* A new receipt, NUL-terminated. */
void crypto_receipt_new(char out[CRYPTO_RECEIPT_LEN + 1]);

#define CRYPTO_KEY_LEN     32 /* AES-256 */
#define CRYPTO_KEYRING_MAX 64

struct keyring;

/*
 * Load the keys from path: one line "audit HEX" (the audit chain's HMAC
 * key) and lines "ID HEX" (sealing keys; ID a positive integer), HEX 64 hex
 * digits, '#' comments. Refuses (NULL, err set) a file that the group or
 * others may read or write, that is not a regular file, or that lacks a
 * sealing or the audit key, or has a malformed line or a repeated id.
 */
struct keyring *keyring_load(const char *path, struct oro_error *err);

/* Free the keys (wiped first) and set *kr to NULL. Safe on NULL and twice. */
void keyring_destroy(struct keyring **kr);

/* The id of the key that seals (the highest). */
int keyring_current(const struct keyring *kr);

/* True when the file changed since it was loaded (size, mtime or inode), so
 * a daemon can reload it without restart. */
bool keyring_changed(const struct keyring *kr);

/*
 * Append a new random key with the next id to the key file of kr
 * (written to a temporary file, 0600, fsynced and renamed over it).
 * Returns the new id, or -1 with err set.
 */
int keyring_add_key(const struct keyring *kr, struct oro_error *err);

/* Seal len bytes of plaintext under the current key with associated data
 * ad. Returns the sealed text; the caller frees. */
char *crypto_seal(const struct keyring *kr, const void *plaintext, size_t len, const char *ad);

/*
 * Open a sealed text with associated data ad. Returns the plaintext
 * (NUL-terminated; *len bytes when len is not NULL; the caller frees) or
 * NULL when the text is not sealed, its key is unknown, or it does not
 * authenticate (tampered, or moved to another row or field).
 */
char *crypto_unseal(const struct keyring *kr, const char *sealed, const char *ad, size_t *len);

/* The key id of a sealed text, or -1 when it is not one. */
int crypto_sealed_key(const char *sealed);

/* A new key file at path (which must not exist), mode 0600, with a random
 * audit key and sealing key 1. Returns 0 or -1 with err set. */
int crypto_key_file_new(const char *path, struct oro_error *err);

/* The audit chain's MAC of an entry: HMAC-SHA256 under the audit key of
 * the previous entry's MAC followed by the entry's canonical content. */
void crypto_audit_mac(const struct keyring *kr, const unsigned char prev[CRYPTO_SHA256_LEN], const void *content,
                      size_t len, unsigned char out[CRYPTO_SHA256_LEN]);

/* Overwrite n bytes at p with zeros in a way the compiler keeps. */
void crypto_wipe(void *p, size_t n);

#endif
