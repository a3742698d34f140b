/*
 * crypto: OpenSSL behind a small interface (see crypto.h). Nothing here
 * logs secret material; failures of the random source are fatal because a
 * predictable receipt or nonce is worse than no service. Key bytes are
 * wiped (OPENSSL_cleanse) before their memory is freed.
 */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

#define NONCE_LEN 12
#define TAG_LEN   16

struct keyring {
	char *path;
	struct stat st; /* of the file when loaded */
	int n;
	struct {
		int id;
		unsigned char key[CRYPTO_KEY_LEN];
	} keys[CRYPTO_KEYRING_MAX];
	bool has_audit;
	unsigned char audit[CRYPTO_KEY_LEN]; /* the audit chain's HMAC key */
	EVP_MAC_CTX *audit_mac;              /* HMAC-SHA256 keyed with it once; re-initialised per MAC */
};

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

/* Value of one hex digit, or -1. */
static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse white space and 64 hex digits (then the end of the line) into key; -1 when malformed. */
static int parse_key(const char *p, unsigned char key[CRYPTO_KEY_LEN])
{
	while (*p == ' ' || *p == '\t')
		p++;
	for (int i = 0; i < CRYPTO_KEY_LEN; i++) {
		int hi = hexval(p[2 * i]), lo = hi < 0 ? -1 : hexval(p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	p += 2 * CRYPTO_KEY_LEN;
	return (*p == '\n' || *p == '\0' || *p == ' ' || *p == '\t' || *p == '\r') ? 0 : -1;
}

/* Parse the key lines of f into kr; -1 with err naming the line. */
static int keyring_parse(struct keyring *kr, FILE *f, const char *path, struct oro_error *err)
{
	char line[256];
	int lineno = 0;

	while (fgets(line, sizeof line, f) != NULL) {
		char *p = line, *end;
		long id;
		int i;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		if (strncmp(p, "audit", 5) == 0 && (p[5] == ' ' || p[5] == '\t')) {
			if (kr->has_audit)
				return oro_error_set(err, ORO_E_INVALID_VALUE, path, "line %d: a second audit key",
				                     lineno);
			if (parse_key(p + 5, kr->audit) < 0)
				return oro_error_set(err, ORO_E_MALFORMED, path, "line %d: a key is %d hex digits",
				                     lineno, 2 * CRYPTO_KEY_LEN);
			kr->has_audit = true;
			continue;
		}
		id = strtol(p, &end, 10);
		if (end == p || id <= 0 || id > 1000000 || (*end != ' ' && *end != '\t'))
			return oro_error_set(err, ORO_E_MALFORMED, path, "line %d: expected \"ID HEX\"", lineno);
		p = end;
		if (kr->n == CRYPTO_KEYRING_MAX)
			return oro_error_set(err, ORO_E_TOO_LONG, path, "more than %d keys", CRYPTO_KEYRING_MAX);
		for (i = 0; i < kr->n; i++)
			if (kr->keys[i].id == id)
				return oro_error_set(err, ORO_E_INVALID_VALUE, path, "line %d: key id %ld twice",
				                     lineno, id);
		if (parse_key(p, kr->keys[kr->n].key) < 0)
			return oro_error_set(err, ORO_E_MALFORMED, path, "line %d: a key is %d hex digits", lineno,
			                     2 * CRYPTO_KEY_LEN);
		kr->keys[kr->n++].id = (int)id;
	}
	if (kr->n == 0)
		return oro_error_set(err, ORO_E_MISSING, path, "the key file holds no key");
	if (!kr->has_audit)
		return oro_error_set(err, ORO_E_MISSING, path,
		                     "the key file holds no audit key (a line \"audit HEX\")");
	return 0;
}

/* Key the audit chain's HMAC once: each MAC then re-initialises it with the same key. */
static void keyring_audit_mac_init(struct keyring *kr)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_END};

	kr->audit_mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac);
	if (kr->audit_mac == NULL || !EVP_MAC_init(kr->audit_mac, kr->audit, sizeof kr->audit, params))
		log_panic("crypto=hmac error=\"cannot set up HMAC-SHA256\"");
}

struct keyring *keyring_load(const char *path, struct oro_error *err)
{
	struct keyring *kr;
	FILE *f;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		oro_error_set(err, ORO_E_NOT_FOUND, path, "cannot open the key file: %s", strerror(errno));
		return NULL;
	}
	kr = xcalloc(1, sizeof *kr);
	if (fstat(fd, &kr->st) != 0 || !S_ISREG(kr->st.st_mode)) {
		oro_error_set(err, ORO_E_INVALID_VALUE, path, "the key file is not a regular file");
		goto fail;
	}
	if ((kr->st.st_mode & 077) != 0) {
		oro_error_set(err, ORO_E_FORBIDDEN, path,
		              "the key file may be read or written by others (mode %03o): chmod 600 it",
		              (unsigned)(kr->st.st_mode & 0777));
		goto fail;
	}
	f = fdopen(fd, "r");
	fd = -1;
	if (keyring_parse(kr, f, path, err) < 0) {
		fclose(f);
		goto fail;
	}
	fclose(f);
	kr->path = xstrdup(path);
	keyring_audit_mac_init(kr);
	return kr;
fail:
	if (fd >= 0)
		close(fd);
	keyring_destroy(&kr);
	return NULL;
}

void keyring_destroy(struct keyring **kr)
{
	if (kr == NULL || *kr == NULL)
		return;
	OPENSSL_cleanse((*kr)->keys, sizeof(*kr)->keys);
	OPENSSL_cleanse((*kr)->audit, sizeof(*kr)->audit);
	EVP_MAC_CTX_free((*kr)->audit_mac);
	free((*kr)->path);
	free(*kr);
	*kr = NULL;
}

int keyring_current(const struct keyring *kr)
{
	int best = 0;

	for (int i = 0; i < kr->n; i++)
		if (kr->keys[i].id > kr->keys[best].id)
			best = i;
	return kr->keys[best].id;
}

bool keyring_changed(const struct keyring *kr)
{
	struct stat st;

	if (stat(kr->path, &st) != 0)
		return false; /* keep the keys we have */
	return st.st_ino != kr->st.st_ino || st.st_size != kr->st.st_size ||
	       st.st_mtim.tv_sec != kr->st.st_mtim.tv_sec || st.st_mtim.tv_nsec != kr->st.st_mtim.tv_nsec;
}

int keyring_add_key(const struct keyring *kr, struct oro_error *err)
{
	char *tmp = xasprintf("%s.new", kr->path);
	unsigned char key[CRYPTO_KEY_LEN];
	int id = keyring_current(kr) + 1;
	FILE *f;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok;

	if (fd < 0) {
		oro_error_set(err, ORO_E_INTERNAL, tmp, "cannot write: %s", strerror(errno));
		free(tmp);
		return -1;
	}
	f = fdopen(fd, "w");
	fprintf(f, "# Oro keys: \"audit HEX\" keys the audit chain; \"ID HEX\" lines seal content (the highest\n"
	           "# id seals, every id opens). Keep this file secret (mode 0600) and backed up.\n");
	fprintf(f, "audit ");
	for (int j = 0; j < CRYPTO_KEY_LEN; j++)
		fprintf(f, "%02x", kr->audit[j]);
	fputc('\n', f);
	for (int i = 0; i < kr->n; i++) {
		fprintf(f, "%d ", kr->keys[i].id);
		for (int j = 0; j < CRYPTO_KEY_LEN; j++)
			fprintf(f, "%02x", kr->keys[i].key[j]);
		fputc('\n', f);
	}
	crypto_random(key, sizeof key);
	fprintf(f, "%d ", id);
	for (int j = 0; j < CRYPTO_KEY_LEN; j++)
		fprintf(f, "%02x", key[j]);
	fputc('\n', f);
	OPENSSL_cleanse(key, sizeof key);
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, kr->path) != 0) {
		oro_error_set(err, ORO_E_INTERNAL, kr->path, "cannot replace the key file: %s", strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return id;
}

/* The key with this id, or NULL. */
static const unsigned char *keyring_key(const struct keyring *kr, int id)
{
	for (int i = 0; i < kr->n; i++)
		if (kr->keys[i].id == id)
			return kr->keys[i].key;
	return NULL;
}

/* AES-256-GCM in either direction; false on any failure (for open: does not authenticate). */
static bool gcm(bool encrypt, const unsigned char *key, const unsigned char nonce[NONCE_LEN], const char *ad,
                const unsigned char *in, size_t len, unsigned char *out, unsigned char tag[TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	bool ok = ctx != NULL && len <= (size_t)(1 << 30) &&
	          EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) == 1 &&
	          EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
	          EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, encrypt) == 1 &&
	          EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)ad, (int)strlen(ad)) == 1 &&
	          (len == 0 || EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1) &&
	          (encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1) &&
	          EVP_CipherFinal_ex(ctx, out + (len ? n : 0), &fin) == 1 &&
	          (!encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1);

	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

char *crypto_seal(const struct keyring *kr, const void *plaintext, size_t len, const char *ad)
{
	int id = keyring_current(kr);
	size_t raw_len = NONCE_LEN + len + TAG_LEN;
	unsigned char *raw = xmalloc(raw_len);
	char *out = xmalloc(32 + 4 * (raw_len / 3 + 1) + 1);
	int prefix;

	crypto_random(raw, NONCE_LEN);
	if (!gcm(true, keyring_key(kr, id), raw, ad, plaintext, len, raw + NONCE_LEN, raw + NONCE_LEN + len))
		log_panic("crypto=seal error=\"AES-256-GCM failed\"");
	prefix = sprintf(out, "s1.%d.", id);
	EVP_EncodeBlock((unsigned char *)out + prefix, raw, (int)raw_len);
	free(raw);
	return out;
}

int crypto_sealed_key(const char *sealed)
{
	char *end;
	long id;

	if (sealed == NULL || strncmp(sealed, "s1.", 3) != 0)
		return -1;
	id = strtol(sealed + 3, &end, 10);
	return (end != sealed + 3 && *end == '.' && id > 0 && id <= 1000000) ? (int)id : -1;
}

char *crypto_unseal(const struct keyring *kr, const char *sealed, const char *ad, size_t *len)
{
	int id = crypto_sealed_key(sealed);
	const unsigned char *key = id > 0 ? keyring_key(kr, id) : NULL;
	const char *b64;
	size_t b64_len, raw_len, pad = 0;
	unsigned char *raw;
	char *plain;
	int n;

	if (key == NULL)
		return NULL;
	b64 = strchr(sealed + 3, '.') + 1;
	b64_len = strlen(b64);
	if (b64_len % 4 != 0 || b64_len < 4 * ((NONCE_LEN + TAG_LEN + 2) / 3))
		return NULL;
	pad = (b64[b64_len - 1] == '=') + (b64[b64_len - 2] == '=');
	raw = xmalloc(b64_len / 4 * 3);
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len);
	if (n < 0 || (size_t)n < pad + NONCE_LEN + TAG_LEN) {
		free(raw);
		return NULL;
	}
	raw_len = (size_t)n - pad;
	plain = xmalloc(raw_len - NONCE_LEN - TAG_LEN + 1);
	if (!gcm(false, key, raw, ad, raw + NONCE_LEN, raw_len - NONCE_LEN - TAG_LEN, (unsigned char *)plain,
	         raw + raw_len - TAG_LEN)) {
		OPENSSL_cleanse(plain, raw_len - NONCE_LEN - TAG_LEN);
		free(plain);
		free(raw);
		return NULL;
	}
	plain[raw_len - NONCE_LEN - TAG_LEN] = '\0';
	if (len != NULL)
		*len = raw_len - NONCE_LEN - TAG_LEN;
	free(raw);
	return plain;
}

void crypto_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

void crypto_audit_mac(const struct keyring *kr, const unsigned char prev[CRYPTO_SHA256_LEN], const void *content,
                      size_t len, unsigned char out[CRYPTO_SHA256_LEN])
{
	size_t n = 0;

	/* no key: the one keyring_audit_mac_init() set, without fetching HMAC and SHA-256 again */
	if (!EVP_MAC_init(kr->audit_mac, NULL, 0, NULL) || !EVP_MAC_update(kr->audit_mac, prev, CRYPTO_SHA256_LEN) ||
	    !EVP_MAC_update(kr->audit_mac, content, len) || !EVP_MAC_final(kr->audit_mac, out, &n, CRYPTO_SHA256_LEN) ||
	    n != CRYPTO_SHA256_LEN)
		log_panic("crypto=hmac error=\"HMAC failed\"");
}

int crypto_key_file_new(const char *path, struct oro_error *err)
{
	unsigned char key[CRYPTO_KEY_LEN];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FILE *f;
	bool ok;

	if (fd < 0)
		return oro_error_set(err, ORO_E_INVALID_VALUE, path, "cannot create: %s", strerror(errno));
	f = fdopen(fd, "w");
	fprintf(f, "# Oro keys: \"audit HEX\" keys the audit chain; \"ID HEX\" lines seal content (the highest\n"
	           "# id seals, every id opens). Keep this file secret (mode 0600) and backed up.\naudit ");
	crypto_random(key, sizeof key);
	for (size_t i = 0; i < sizeof key; i++)
		fprintf(f, "%02x", key[i]);
	fprintf(f, "\n1 ");
	crypto_random(key, sizeof key);
	for (size_t i = 0; i < sizeof key; i++)
		fprintf(f, "%02x", key[i]);
	fputc('\n', f);
	OPENSSL_cleanse(key, sizeof key);
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	return ok ? 0 : oro_error_set(err, ORO_E_INTERNAL, path, "cannot write: %s", strerror(errno));
}
