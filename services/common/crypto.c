/*
 * crypto: OpenSSL behind a small interface (see crypto.h). Nothing here
 * logs secret material; failures of the random source are fatal because a
 * predictable receipt or nonce is worse than no service.
 */
#include "crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"

void crypto_random(void *buf, size_t n)
{
	if (RAND_bytes(buf, (int)n) != 1)
		log_panic("crypto=random error=\"RAND_bytes failed\"");
}

void crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned int n = CRYPTO_SHA256_LEN;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		log_panic("crypto=sha256 error=\"EVP_Digest failed\"");
}

void crypto_sha256_hex(const void *data, size_t len, char out[2 * CRYPTO_SHA256_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[CRYPTO_SHA256_LEN];

	crypto_sha256(data, len, d);
	for (size_t i = 0; i < CRYPTO_SHA256_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * CRYPTO_SHA256_LEN] = '\0';
}

void crypto_receipt_new(char out[CRYPTO_RECEIPT_LEN + 1])
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char r[20];

	crypto_random(r, sizeof r);
	/* 160 bits = 32 groups of 5 bits */
	for (int i = 0; i < CRYPTO_RECEIPT_LEN; i++) {
		int bit = i * 5;
		int v = (r[bit / 8] << 8 | (bit / 8 + 1 < 20 ? r[bit / 8 + 1] : 0)) >> (11 - bit % 8);

		out[i] = b32[v & 31];
	}
	out[CRYPTO_RECEIPT_LEN] = '\0';
}
