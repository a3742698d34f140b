/*
 * crypto: the only module that calls OpenSSL. For now: random bytes,
 * SHA-256 and receipts; sealing at rest (AES-256-GCM) and the audit HMAC
 * come here too.
 */
#ifndef ORO_CRYPTO_H
#define ORO_CRYPTO_H

#include <stddef.h>

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

#endif
