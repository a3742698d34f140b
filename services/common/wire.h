/*
 * wire: the only module that encodes and decodes protobuf-c messages and
 * handles ZeroMQ framing. Programs build and read the generated structs
 * (oro.pb-c.h, from proto/oro.proto) but never pack, unpack or frame them.
 *
 * Frame shapes (docs/protocol.md):
 *   request/reply sockets (staff and department clients): the client sends
 *   [empty][Envelope] (a REQ socket adds the empty frame itself); the
 *   server's ROUTER sees [identity][empty][Envelope] and replies the same way;
 *   prompt sockets (PUB/SUB): [Envelope].
 *
 * Decoding is strict: the version is checked first, then that exactly one
 * body is set, then that no message at any depth carries fields unknown to
 * this version. Anything else is refused with a structured error.
 */
#ifndef ORO_WIRE_H
#define ORO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "concern.h"
#include "error.h"
#include "oro.pb-c.h"

#define ORO_PROTOCOL_VERSION 1
#define WIRE_PEER_MAX        256

/* A ROUTER socket's routing identity of one client connection. */
struct wire_peer {
	unsigned char id[WIRE_PEER_MAX];
	size_t len;
	char user[128]; /* the ZAP User-Id (the authenticated principal) or "" without CURVE */
};

/* True when a and b are the same connection (ROUTER identity). */
bool wire_peer_same(const struct wire_peer *a, const struct wire_peer *b);

/* Outcome of receiving one message. */
enum wire_recv_status {
	WIRE_NONE = 0,    /* nothing to read (would block) */
	WIRE_OK = 1,      /* *env holds a decoded envelope */
	WIRE_REFUSED = 2, /* undecodable; err set; the peer can be answered */
	WIRE_DROPPED = 3, /* wrong frame shape; no way to answer; err set for the log */
};

/* Counters of refused and dropped messages since start. */
struct wire_counters {
	uint64_t received, refused, dropped;
};
extern struct wire_counters wire_counters;

/* A zeroed envelope of this protocol version. */
void wire_envelope_init(Oro__Envelope *env);

/*
 * Encode env into a new buffer (*len bytes); the caller frees it. The
 * version is set to ORO_PROTOCOL_VERSION.
 */
uint8_t *wire_encode(Oro__Envelope *env, size_t *len);

/*
 * Decode a strict envelope. Returns the envelope (free with
 * wire_envelope_free()) or NULL with err set (code bad_version,
 * unknown_type or malformed). request_id, if not NULL, receives the
 * request id when the envelope parsed far enough to have one (borrowed
 * into a caller buffer of 64 bytes).
 */
Oro__Envelope *wire_decode(const uint8_t *data, size_t len, struct oro_error *err, char request_id[64]);

/* Free a decoded envelope; *env becomes NULL. Safe on NULL. */
void wire_envelope_free(Oro__Envelope **env);

/* ROUTER side: receive [identity][empty][payload] without blocking. */
enum wire_recv_status wire_recv_routed(void *sock, struct wire_peer *peer, Oro__Envelope **env, struct oro_error *err,
                                       char request_id[64]);
/*
 * ROUTER side (ZMQ_ROUTER_MANDATORY): send env to peer without blocking.
 * Returns 0, or -1 with errno EHOSTUNREACH when the peer is gone or EAGAIN
 * when its queue is full.
 */
int wire_send_routed(void *sock, const struct wire_peer *peer, Oro__Envelope *env);
/* The same with a message wire_encode() made: one encoding for several peers. */
int wire_send_encoded(void *sock, const struct wire_peer *peer, const uint8_t *buf, size_t len);
/* ROUTER side: send Error{code, field, message} with request_id (may be ""). */
int wire_send_error(void *sock, const struct wire_peer *peer, const char *request_id, const struct oro_error *err);

/* Client side (DEALER): send [empty][payload]. Returns 0 or -1. */
int wire_send_request(void *sock, Oro__Envelope *env);
/* Client side: receive [empty][payload] without blocking. */
enum wire_recv_status wire_recv_reply(void *sock, Oro__Envelope **env, struct oro_error *err);

/* PUB side: send a Prompt{kind, id}. Never blocks; a prompt nobody hears is fine. */
void wire_publish_prompt(void *sock, const char *kind, int64_t id);
/* SUB side: receive one prompt; true when one was read (content ignored by design:
 * the receiver rescans the database). Drains at most `max` queued prompts. */
bool wire_drain_prompts(void *sock, int max);

/* FileConcern <-> struct concern (strings copied; c must be zeroed). */
void wire_concern_from_pb(const Oro__FileConcern *m, struct concern *c);
/* Fill m (zeroed by the caller) from c; strings are borrowed from c. */
void wire_concern_to_pb(const struct concern *c, Oro__FileConcern *m, Oro__Subject *subject, Oro__Reporter *reporter);

#endif
