/*
 * auth: CURVE keys and the ZAP handler (see auth.h). Invariant: a key is
 * admitted only if it was in the principal table (not revoked) at the last
 * refresh; everything else is refused with ZAP status 400, counted and
 * logged with the key's first characters only.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "alloc.h"
#include "counters.h"
#include "log.h"

struct entry {
	struct principal p;
	char key[AUTH_Z85_LEN + 1];
};

struct auth {
	void *zap;
	char own[AUTH_Z85_LEN + 1];
	struct entry *entries;
	size_t n;
	bool loaded;
};

/* True when s is 40 characters of the Z85 alphabet. */
static bool z85_valid(const char *s)
{
	static const char alphabet[] =
	        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

	return s != NULL && strlen(s) == AUTH_Z85_LEN && strspn(s, alphabet) == AUTH_Z85_LEN;
}

/* Read "name Z85" lines of path into k (public, secret; either may be absent). */
static int curve_read(const char *path, struct curve_keys *k, bool need_secret, struct oro_error *err)
{
	char line[256];
	struct stat st;
	FILE *f = fopen(path, "r");

	memset(k, 0, sizeof *k);
	if (f == NULL)
		return oro_error_set(err, ORO_E_NOT_FOUND, path, "cannot open: %s", strerror(errno));
	if (need_secret && (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0)) {
		fclose(f);
		return oro_error_set(err, ORO_E_FORBIDDEN, path, "the key file may be read by others: chmod 600 it");
	}
	while (fgets(line, sizeof line, f) != NULL) {
		char name[16], value[64];

		if (line[0] == '#' || sscanf(line, "%15s %63s", name, value) != 2)
			continue;
		if (strcmp(name, "public") == 0 && z85_valid(value))
			strcpy(k->public_key, value);
		else if (strcmp(name, "secret") == 0 && z85_valid(value))
			strcpy(k->secret_key, value);
	}
	fclose(f);
	if (k->public_key[0] == '\0' || (need_secret && k->secret_key[0] == '\0'))
		return oro_error_set(err, ORO_E_MALFORMED, path, "expected lines \"public Z85\"%s",
		                     need_secret ? " and \"secret Z85\"" : "");
	return 0;
}

int curve_keys_load(const char *path, struct curve_keys *k, struct oro_error *err)
{
	return curve_read(path, k, true, err);
}

int curve_public_key_read(const char *path, char out[AUTH_Z85_LEN + 1], struct oro_error *err)
{
	struct curve_keys k;

	if (curve_read(path, &k, false, err) < 0)
		return -1;
	strcpy(out, k.public_key);
	return 0;
}

/* Write text to path with mode, failing if it exists. */
static int write_new(const char *path, const char *text, mode_t mode, struct oro_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	size_t len = strlen(text);
	bool ok;

	if (fd < 0)
		return oro_error_set(err, ORO_E_INVALID_VALUE, path, "cannot create: %s", strerror(errno));
	ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	return ok ? 0 : oro_error_set(err, ORO_E_INTERNAL, path, "cannot write: %s", strerror(errno));
}

int curve_keys_new(const char *path, struct curve_keys *k, struct oro_error *err)
{
	char *key_path = xasprintf("%s.key", path), *pub_path = xasprintf("%s.pub", path), *text;
	int rc;

	if (zmq_curve_keypair(k->public_key, k->secret_key) != 0) {
		free(key_path);
		free(pub_path);
		return oro_error_set(err, ORO_E_INTERNAL, "", "libzmq was built without CURVE");
	}
	text = xasprintf("# Oro CURVE keypair: keep this file secret (mode 0600).\npublic %s\nsecret %s\n",
	                 k->public_key, k->secret_key);
	rc = write_new(key_path, text, 0600, err);
	free(text);
	if (rc == 0) {
		text = xasprintf("public %s\n", k->public_key);
		rc = write_new(pub_path, text, 0644, err);
		free(text);
	}
	free(key_path);
	free(pub_path);
	return rc;
}

struct auth *auth_new(void *zmq, const struct curve_keys *own)
{
	struct auth *a = xcalloc(1, sizeof *a);
	int zero = 0;

	a->zap = zmq_socket(zmq, ZMQ_REP);
	zmq_setsockopt(a->zap, ZMQ_LINGER, &zero, sizeof zero);
	if (zmq_bind(a->zap, "inproc://zeromq.zap.01") != 0)
		log_fatal("zap=bind error=%s", log_quote(zmq_strerror(errno)));
	strcpy(a->own, own->public_key);
	return a;
}

void auth_destroy(struct auth **a)
{
	if (a == NULL || *a == NULL)
		return;
	zmq_close((*a)->zap);
	free((*a)->entries);
	free(*a);
	*a = NULL;
}

void *auth_socket(const struct auth *a)
{
	return a->zap;
}

/* The principal name for a client key (Z85), or NULL when not admitted. */
static const char *auth_admit(const struct auth *a, const char *key)
{
	if (strcmp(key, a->own) == 0)
		return "service";
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->entries[i].key, key) == 0)
			return a->entries[i].p.name;
	return NULL;
}

void auth_handle(struct auth *a)
{
	for (;;) {
		zmq_msg_t f[7];
		int n = 0, more = 1;

		while (more) {
			zmq_msg_t scratch, *m = n < 7 ? &f[n] : &scratch;

			zmq_msg_init(m);
			if (zmq_msg_recv(m, a->zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
				zmq_msg_close(m);
				for (int i = 0; i < n && i < 7; i++)
					zmq_msg_close(&f[i]);
				return;
			}
			more = zmq_msg_more(m);
			if (m == &scratch)
				zmq_msg_close(m);
			n++;
		}

		const char *user = NULL;
		char key[AUTH_Z85_LEN + 1] = "";

		if (n == 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
		    zmq_msg_size(&f[6]) == 32) {
			zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
			user = auth_admit(a, key);
		}
		if (user == NULL) {
			counter_add("auth_refused", 1);
			log_warn("auth=refused key=%.8s... reason=\"not a registered, unrevoked principal\"", key);
		}
		/* reply: version, request id, status, text, user id, metadata */
		zmq_send(a->zap, "1.0", 3, ZMQ_SNDMORE);
		if (n >= 2)
			zmq_send(a->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
		else
			zmq_send(a->zap, "", 0, ZMQ_SNDMORE);
		zmq_send(a->zap, user ? "200" : "400", 3, ZMQ_SNDMORE);
		zmq_send(a->zap, user ? "OK" : "unknown or revoked key", user ? 2 : 22, ZMQ_SNDMORE);
		zmq_send(a->zap, user ? user : "", user ? strlen(user) : 0, ZMQ_SNDMORE);
		zmq_send(a->zap, "", 0, 0);
		for (int i = 0; i < n && i < 7; i++)
			zmq_msg_close(&f[i]);
	}
}

int auth_refresh(struct auth *a, struct db *db)
{
	struct db_result *res;
	int rc = db_exec(db, "auth_principals", 0, NULL, &res);
	size_t rows;

	if (rc != DB_OK)
		return rc; /* keep the principals we have */
	rows = (size_t)db_result_rows(res);
	free(a->entries);
	a->entries = xcalloc(rows + 1, sizeof *a->entries);
	a->n = 0;
	for (size_t i = 0; i < rows; i++) {
		const char *key = db_result_value(res, (int)i, 3);
		struct entry *e = &a->entries[a->n];

		if (!z85_valid(key))
			continue;
		snprintf(e->p.name, sizeof e->p.name, "%s", db_result_value(res, (int)i, 0));
		snprintf(e->p.kind, sizeof e->p.kind, "%s", db_result_value(res, (int)i, 1));
		snprintf(e->p.department, sizeof e->p.department, "%s", db_result_value(res, (int)i, 2));
		strcpy(e->key, key);
		a->n++;
	}
	a->loaded = true;
	db_result_free(&res);
	return DB_OK;
}

const struct principal *auth_find(const struct auth *a, const char *name)
{
	static const struct principal service = {"service", "service", ""};

	if (a == NULL || name == NULL)
		return NULL;
	if (strcmp(name, "service") == 0)
		return &service;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->entries[i].p.name, name) == 0)
			return &a->entries[i].p;
	return NULL;
}
