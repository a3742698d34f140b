/*
 * wire: protobuf-c and ZeroMQ framing behind one interface (see wire.h).
 * Invariants: every multipart message is read to its last frame, whatever
 * its shape, so a malformed message never desynchronises a socket; every
 * zmq_msg_t is closed on every path; nothing here blocks.
 */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "alloc.h"
#include "log.h"

struct wire_counters wire_counters;

void wire_envelope_init(Oro__Envelope *env)
{
	oro__envelope__init(env);
	env->has_version = true;
	env->version = ORO_PROTOCOL_VERSION;
}

uint8_t *wire_encode(Oro__Envelope *env, size_t *len)
{
	uint8_t *buf;

	env->has_version = true;
	env->version = ORO_PROTOCOL_VERSION;
	*len = oro__envelope__get_packed_size(env);
	buf = xmalloc(*len);
	oro__envelope__pack(env, buf);
	return buf;
}

/*
 * Check m and every message inside it: no unknown fields, every string
 * valid UTF-8. Returns false with err naming the field.
 */
static bool wire_check_message(const ProtobufCMessage *m, const char *path, struct oro_error *err)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;

	if (m->n_unknown_fields > 0) {
		oro_error_set(err, ORO_E_MALFORMED, path, "field number %u is not part of protocol version %d",
		              m->unknown_fields[0].tag, ORO_PROTOCOL_VERSION);
		return false;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char sub[96];

		if (f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
			continue; /* scalars carry nothing to check */
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
				continue;
		}
		snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", f->name);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
			void *const *arr = *(void *const *const *)(const void *)(base + f->offset);

			for (size_t j = 0; j < n; j++) {
				if (f->type == PROTOBUF_C_TYPE_MESSAGE && !wire_check_message(arr[j], sub, err))
					return false;
				if (f->type == PROTOBUF_C_TYPE_STRING && !utf8_valid_text(arr[j], strlen(arr[j]))) {
					oro_error_set(err, ORO_E_INVALID_UTF8, sub, "text is not valid UTF-8");
					return false;
				}
			}
			continue;
		}
		const void *v = *(const void *const *)(const void *)(base + f->offset);

		if (v == NULL)
			continue;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && !wire_check_message(v, sub, err))
			return false;
		if (f->type == PROTOBUF_C_TYPE_STRING && !utf8_valid_text(v, strlen(v))) {
			oro_error_set(err, ORO_E_INVALID_UTF8, sub, "text is not valid UTF-8");
			return false;
		}
	}
	return true;
}

Oro__Envelope *wire_decode(const uint8_t *data, size_t len, struct oro_error *err, char request_id[64])
{
	Oro__Envelope *env;

	if (request_id != NULL)
		request_id[0] = '\0';
	env = oro__envelope__unpack(NULL, len, data);
	if (env == NULL) {
		oro_error_set(err, ORO_E_MALFORMED, "", "the message is not a valid protocol buffer Envelope");
		return NULL;
	}
	if (request_id != NULL && env->request_id != NULL && strlen(env->request_id) < 64 &&
	    utf8_valid_text(env->request_id, strlen(env->request_id)))
		strcpy(request_id, env->request_id);
	if (!env->has_version || env->version != ORO_PROTOCOL_VERSION) {
		if (env->has_version)
			oro_error_set(err, ORO_E_BAD_VERSION, "version",
			              "protocol version %u is not spoken here; use %d", env->version,
			              ORO_PROTOCOL_VERSION);
		else
			oro_error_set(err, ORO_E_BAD_VERSION, "version", "the envelope has no protocol version; use %d",
			              ORO_PROTOCOL_VERSION);
		wire_envelope_free(&env);
		return NULL;
	}
	if (env->body_case == ORO__ENVELOPE__BODY__NOT_SET) {
		oro_error_set(err, ORO_E_UNKNOWN_TYPE, "body",
		              "the envelope carries no message type known to version %d", ORO_PROTOCOL_VERSION);
		wire_envelope_free(&env);
		return NULL;
	}
	/* A re-encoding of another size means a text cut at a NUL byte (C strings
	 * cannot hold it), a field given twice or a non-minimal number: none of
	 * them parses exactly. Field order does not change the size. */
	if (oro__envelope__get_packed_size(env) != len) {
		oro_error_set(
		        err, ORO_E_MALFORMED, "",
		        "the message does not encode canonically (a text with a NUL byte, or a field given twice)");
		wire_envelope_free(&env);
		return NULL;
	}
	if (!wire_check_message(&env->base, "", err)) {
		wire_envelope_free(&env);
		return NULL;
	}
	return env;
}

void wire_envelope_free(Oro__Envelope **env)
{
	if (env == NULL || *env == NULL)
		return;
	oro__envelope__free_unpacked(*env, NULL);
	*env = NULL;
}

/*
 * Read every frame of the next message without blocking. Keeps the first
 * `keep` frames in msgs and discards the rest. Returns the number of frames
 * (0 when nothing was waiting, -1 on a socket error).
 */
static int wire_read_frames(void *sock, zmq_msg_t *msgs, int keep)
{
	int n = 0;
	int more;

	do {
		zmq_msg_t scratch;
		zmq_msg_t *m = n < keep ? &msgs[n] : &scratch;

		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(m);
			for (int i = 0; i < n && i < keep; i++)
				zmq_msg_close(&msgs[i]);
			return (n == 0 && errno == EAGAIN) ? 0 : -1;
		}
		more = zmq_msg_more(m);
		if (m == &scratch)
			zmq_msg_close(m);
		n++;
	} while (more);
	return n;
}

/* Close the kept frames. */
static void wire_close_frames(zmq_msg_t *msgs, int n)
{
	for (int i = 0; i < n; i++)
		zmq_msg_close(&msgs[i]);
}

bool wire_peer_same(const struct wire_peer *a, const struct wire_peer *b)
{
	return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

/* Decode a payload frame into *env; sets the status counters. */
static enum wire_recv_status wire_decode_frame(zmq_msg_t *payload, Oro__Envelope **env, struct oro_error *err,
                                               char request_id[64])
{
	*env = wire_decode(zmq_msg_data(payload), zmq_msg_size(payload), err, request_id);
	if (*env == NULL) {
		wire_counters.refused++;
		return WIRE_REFUSED;
	}
	return WIRE_OK;
}

enum wire_recv_status wire_recv_routed(void *sock, struct wire_peer *peer, Oro__Envelope **env, struct oro_error *err,
                                       char request_id[64])
{
	zmq_msg_t f[3];
	int n = wire_read_frames(sock, f, 3);
	enum wire_recv_status st;

	*env = NULL;
	if (request_id != NULL)
		request_id[0] = '\0';
	if (n <= 0)
		return WIRE_NONE;
	wire_counters.received++;
	peer->len = zmq_msg_size(&f[0]) < WIRE_PEER_MAX ? zmq_msg_size(&f[0]) : WIRE_PEER_MAX;
	memcpy(peer->id, zmq_msg_data(&f[0]), peer->len);
	peer->user[0] = '\0';
	if (n >= 2) {
		/* set by the ZAP handler for the connection; absent without CURVE */
		const char *user = zmq_msg_gets(&f[n >= 3 ? 2 : 1], "User-Id");

		if (user != NULL)
			snprintf(peer->user, sizeof peer->user, "%s", user);
	}
	if (n != 3 || zmq_msg_size(&f[1]) != 0) {
		oro_error_set(err, ORO_E_MALFORMED, "",
		              "expected two frames: an empty delimiter and one Envelope (got %d)", n - 1);
		wire_counters.refused++;
		wire_close_frames(f, n < 3 ? n : 3);
		return WIRE_REFUSED;
	}
	st = wire_decode_frame(&f[2], env, err, request_id);
	wire_close_frames(f, 3);
	return st;
}

/* Send one frame; false when it could not be queued. */
static bool wire_send_frame(void *sock, const void *data, size_t len, int flags)
{
	return zmq_send(sock, data, len, flags | ZMQ_DONTWAIT) >= 0;
}

int wire_send_encoded(void *sock, const struct wire_peer *peer, const uint8_t *buf, size_t len)
{
	bool ok = wire_send_frame(sock, peer->id, peer->len, ZMQ_SNDMORE) &&
	          wire_send_frame(sock, "", 0, ZMQ_SNDMORE) && wire_send_frame(sock, buf, len, 0);

	return ok ? 0 : -1;
}

int wire_send_routed(void *sock, const struct wire_peer *peer, Oro__Envelope *env)
{
	size_t len;
	uint8_t *buf = wire_encode(env, &len);
	int rc = wire_send_encoded(sock, peer, buf, len), saved = errno;

	free(buf);
	errno = saved;
	return rc;
}

int wire_send_error(void *sock, const struct wire_peer *peer, const char *request_id, const struct oro_error *err)
{
	Oro__Envelope env;
	Oro__Error e;

	wire_envelope_init(&env);
	oro__error__init(&e);
	e.code = (char *)err->code;
	e.field = (char *)err->field;
	e.message = (char *)err->message;
	env.request_id = (request_id && *request_id) ? (char *)request_id : NULL;
	env.body_case = ORO__ENVELOPE__BODY_ERROR;
	env.error = &e;
	return wire_send_routed(sock, peer, &env);
}

int wire_send_request(void *sock, Oro__Envelope *env)
{
	size_t len;
	uint8_t *buf = wire_encode(env, &len);
	bool ok = wire_send_frame(sock, "", 0, ZMQ_SNDMORE) && wire_send_frame(sock, buf, len, 0);

	free(buf);
	return ok ? 0 : -1;
}

enum wire_recv_status wire_recv_reply(void *sock, Oro__Envelope **env, struct oro_error *err)
{
	zmq_msg_t f[2];
	int n = wire_read_frames(sock, f, 2);
	enum wire_recv_status st;

	*env = NULL;
	if (n <= 0)
		return WIRE_NONE;
	wire_counters.received++;
	if (n != 2 || zmq_msg_size(&f[0]) != 0) {
		oro_error_set(err, ORO_E_MALFORMED, "", "reply of the wrong shape (%d frames)", n);
		wire_counters.dropped++;
		wire_close_frames(f, n < 2 ? n : 2);
		return WIRE_DROPPED;
	}
	st = wire_decode_frame(&f[1], env, err, NULL);
	wire_close_frames(f, 2);
	return st;
}

void wire_publish_prompt(void *sock, const char *kind, int64_t id)
{
	Oro__Envelope env;
	Oro__Prompt p;
	size_t len;
	uint8_t *buf;

	wire_envelope_init(&env);
	oro__prompt__init(&p);
	p.kind = (char *)kind;
	p.has_id = id > 0;
	p.id = id;
	env.body_case = ORO__ENVELOPE__BODY_PROMPT;
	env.prompt = &p;
	buf = wire_encode(&env, &len);
	/* PUB never blocks; with no subscriber the prompt is dropped, by design */
	(void)wire_send_frame(sock, buf, len, 0);
	free(buf);
}

bool wire_drain_prompts(void *sock, int max)
{
	bool any = false;

	for (int i = 0; i < max; i++) {
		zmq_msg_t f[1];
		int n = wire_read_frames(sock, f, 1);

		if (n <= 0)
			break;
		wire_close_frames(f, 1);
		any = true;
	}
	return any;
}

void wire_concern_from_pb(const Oro__FileConcern *m, struct concern *c)
{
	c->client_key = xstrdup(m->client_key);
	c->category = xstrdup(m->category);
	c->urgency = xstrdup(m->urgency);
	if (m->subject != NULL) {
		c->subject_kind = xstrdup(m->subject->kind);
		c->has_age = m->subject->has_age;
		c->age = m->subject->has_age ? (m->subject->age > 1000 ? 1000 : (int)m->subject->age) : 0;
		c->age_band = xstrdup(m->subject->age_band);
		c->subject_name = xstrdup(m->subject->name);
		c->personal_number = xstrdup(m->subject->personal_number);
		c->subject_unit = xstrdup(m->subject->unit);
	}
	c->setting = xstrdup(m->setting);
	c->district = xstrdup(m->district);
	c->association_grant = xstrdup(m->association_grant);
	c->description = xstrdup(m->description);
	c->observed_at = xstrdup(m->observed_at);
	c->relatives_informed = xstrdup(m->relatives_informed);
	if (m->reporter != NULL) {
		c->reporter_unit = xstrdup(m->reporter->unit);
		c->reporter_phone = xstrdup(m->reporter->phone);
	}
	c->reporter_principal = xstrdup(m->reporter_principal);
}

void wire_concern_to_pb(const struct concern *c, Oro__FileConcern *m, Oro__Subject *subject, Oro__Reporter *reporter)
{
	oro__file_concern__init(m);
	oro__subject__init(subject);
	oro__reporter__init(reporter);
	m->client_key = c->client_key;
	m->category = c->category;
	m->urgency = c->urgency;
	subject->kind = c->subject_kind;
	subject->has_age = c->has_age;
	subject->age = c->has_age && c->age >= 0 ? (uint32_t)c->age : 0;
	subject->age_band = c->age_band;
	subject->name = c->subject_name;
	subject->personal_number = c->personal_number;
	subject->unit = c->subject_unit;
	m->subject = subject;
	m->setting = c->setting;
	m->district = c->district;
	m->association_grant = c->association_grant;
	m->description = c->description;
	m->observed_at = c->observed_at;
	m->relatives_informed = c->relatives_informed;
	if (c->reporter_unit != NULL || c->reporter_phone != NULL) {
		reporter->unit = c->reporter_unit;
		reporter->phone = c->reporter_phone;
		m->reporter = reporter;
	}
	m->reporter_principal = c->reporter_principal;
}
