/*
 * auth: who is at the other end of a ZeroMQ connection. Every socket on a
 * tcp:// endpoint uses CURVE (service_socket() refuses one without keys);
 * each daemon runs a ZAP handler (RFC 27) on its main loop that admits only
 * public keys registered in table principal and not revoked, and names the
 * connection's principal as the ZeroMQ User-Id of every message on it. The
 * principal cache is reloaded every sweep, so a revocation takes effect
 * within seconds without restart. The daemons' own key (shared by the
 * services of one installation) is admitted as principal "service".
 *
 * ipc:// endpoints carry no CURVE: their socket files are the owner's only
 * (mode 0700 directory), and names given in messages are trusted there.
 */
#ifndef ORO_AUTH_H
#define ORO_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "error.h"

#define AUTH_Z85_LEN  40
#define AUTH_NAME_MAX 100

/* A CURVE keypair in Z85 (40 characters each). */
struct curve_keys {
	char public_key[AUTH_Z85_LEN + 1];
	char secret_key[AUTH_Z85_LEN + 1];
};

/* Load a key file written by curve_keys_write() ("public Z85" and "secret
 * Z85" lines); refused when others may read it. */
int curve_keys_load(const char *path, struct curve_keys *k, struct oro_error *err);

/* A new keypair: PATH.key (both keys, mode 0600) and PATH.pub (the public
 * key alone, to give to whoever registers the principal). */
int curve_keys_new(const char *path, struct curve_keys *k, struct oro_error *err);

/* Read a public key from a .pub file (or a key file); 0 or -1. */
int curve_public_key_read(const char *path, char out[AUTH_Z85_LEN + 1], struct oro_error *err);

struct principal {
	char name[AUTH_NAME_MAX + 1];
	char kind[16]; /* staff, department, service, admin */
	char department[AUTH_NAME_MAX + 1];
};

struct auth;

/* Include in the statement table of a daemon that authenticates. */
#define AUTH_STATEMENTS                                                                                     \
	{                                                                                                   \
		"auth_principals", "SELECT name, kind, coalesce(department, ''), public_key FROM principal" \
		                   " WHERE revoked_at IS NULL AND public_key IS NOT NULL"                   \
	}

/* The ZAP handler of this process's ZeroMQ context (binds inproc://zeromq.zap.01). */
struct auth *auth_new(void *zmq, const struct curve_keys *own);
void auth_destroy(struct auth **a);
/* Its socket, to poll for ZMQ_POLLIN. */
void *auth_socket(const struct auth *a);
/* Answer every waiting ZAP request. */
void auth_handle(struct auth *a);
/* Reload the principals; a db status. */
int auth_refresh(struct auth *a, struct db *db);
/* The principal named name, or NULL (not registered, revoked, or not yet loaded). */
const struct principal *auth_find(const struct auth *a, const char *name);

#endif
