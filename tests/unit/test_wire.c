/*
 * test_wire: the wire module (wire.c), the only code that packs, unpacks
 * and frames protocol messages.
 *
 *   - strict decoding: version first, then exactly one known body, then no
 *     unknown field and no invalid text at any depth, each refusal with its
 *     code and field path (a table of hand-made encodings);
 *   - garbage, truncated and bit-flipped encodings never crash and are
 *     refused as malformed;
 *   - a round trip of every body of the Envelope oneof, with every field
 *     of every nested message set (filled and compared through the
 *     protobuf-c descriptors, so a field added to proto/oro.proto is
 *     covered without editing this file);
 *   - FileConcern <-> struct concern;
 *   - golden files: the .hex files in tests/unit/data/wire/ hold the exact bytes of
 *     fixed envelopes, annotated by hand field by field against
 *     proto/oro.proto, so that they prove the wire format itself;
 *   - framing over real ZeroMQ sockets on inproc://: ROUTER/DEALER request
 *     and reply, wrong frame shapes, empty sockets, PUB/SUB prompts.
 *
 * Runs from the source directory (the golden files). Tests named
 * Regression tests keep fixed bugs fixed; the comment at each says what it was.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "alloc.h"
#include "concern.h"
#include "error.h"
#include "wire.h"

#define NELEM(a)   (sizeof(a) / sizeof((a)[0]))
#define GOLDEN_DIR "tests/unit/data/wire/"
#define WAIT_MS    2000 /* upper bound for anything to cross an inproc:// pipe */
#define MAX_FRAMES 4

/* ---- helpers: hex, files ---- */

/*
 * Decode hex text into a new buffer of *len bytes. White space is skipped
 * and '#' starts a comment that runs to the end of the line, so that golden
 * files can be annotated. The caller frees.
 */
static uint8_t *hex_decode(const char *text, size_t *len)
{
	uint8_t *buf = xmalloc(strlen(text) / 2 + 1);
	size_t n = 0;
	int hi = -1;

	for (const char *p = text; *p != '\0'; p++) {
		int v = 0;

		if (*p == '#') {
			while (p[1] != '\0' && p[1] != '\n')
				p++;
			continue;
		}
		if (isspace((unsigned char)*p))
			continue;
		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			fail_msg("not a hex digit: '%c' in \"%.40s\"", *p, text);
		if (hi < 0) {
			hi = v;
		} else {
			buf[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0)
		fail_msg("odd number of hex digits in \"%.40s\"", text);
	*len = n;
	return buf;
}

/* Bytes as lower-case hex in a new string. The caller frees. */
static char *hex_encode(const uint8_t *b, size_t n)
{
	char *s = xmalloc(2 * n + 1);

	for (size_t i = 0; i < n; i++)
		snprintf(s + 2 * i, 3, "%02x", b[i]);
	s[2 * n] = '\0';
	return s;
}

/* The whole file at path as a new NUL-terminated string. The caller frees. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s (tests run from the source directory)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Fail unless err holds code and field. */
static void check_error(const char *what, const struct oro_error *err, const char *code, const char *field)
{
	if (strcmp(err->code, code) != 0 || strcmp(err->field, field) != 0)
		fail_msg("%s: got %s \"%s\" (%s), want %s \"%s\"", what, err->code, err->field, err->message, code,
		         field);
	assert_true(err->message[0] != '\0');
}

/* True when code is one of the three codes wire_decode() may give. */
static bool decode_code_known(const char *code)
{
	return strcmp(code, ORO_E_MALFORMED) == 0 || strcmp(code, ORO_E_BAD_VERSION) == 0 ||
	       strcmp(code, ORO_E_UNKNOWN_TYPE) == 0 || strcmp(code, ORO_E_INVALID_UTF8) == 0;
}

/* ---- helpers: messages through their descriptors ---- */

/* True when the optional field f has a has_ member (proto2 scalars). */
static bool has_flag(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	       f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE &&
	       f->type != PROTOBUF_C_TYPE_BYTES;
}

/*
 * Size of one value of field f in the C struct. Fails on a type that
 * proto/oro.proto does not use yet, so that a new one is noticed here.
 */
static size_t value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32:
		return sizeof(uint32_t);
	case PROTOBUF_C_TYPE_INT64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		fail_msg("field %s: protobuf-c type %d is not handled by this test; extend it", f->name, (int)f->type);
	}
	return 0;
}

static ProtobufCMessage *msg_new(const ProtobufCMessageDescriptor *d, bool full, unsigned *seed, int depth);

/* Store at p a value for field f derived from *seed (distinct per field). */
static void value_fill(const ProtobufCFieldDescriptor *f, void *p, unsigned *seed, int depth)
{
	unsigned s = ++*seed;

	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32: {
		uint32_t v = s * 7919u;

		memcpy(p, &v, sizeof v);
		break;
	}
	case PROTOBUF_C_TYPE_INT64: {
		/* negative values take ten bytes on the wire: worth a round trip */
		int64_t v = (s & 1) ? -(int64_t)s * 1000000007 : (int64_t)s << 40;

		memcpy(p, &v, sizeof v);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean v = 1;

		memcpy(p, &v, sizeof v);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *v = xasprintf("%s-%u-\xc3\xa5\xe2\x82\xac", f->name, s); /* "å€": multi-byte UTF-8 */

		memcpy(p, &v, sizeof v);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *v = msg_new(f->descriptor, true, seed, depth + 1);

		memcpy(p, &v, sizeof v);
		break;
	}
	default:
		(void)value_size(f);
	}
}

/*
 * A new message of type d: with every field set (repeated fields get two
 * elements) when full, else empty. Oneof members are left to the caller.
 * Free with protobuf_c_message_free_unpacked(m, NULL): everything here comes
 * from malloc.
 */
static ProtobufCMessage *msg_new(const ProtobufCMessageDescriptor *d, bool full, unsigned *seed, int depth)
{
	ProtobufCMessage *m = xcalloc(1, d->sizeof_message);
	char *base = (char *)m;

	d->message_init(m);
	if (!full)
		return m;
	assert_true(depth < 6); /* oro.proto has no recursive message */
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = 2, size = value_size(f);
			char *arr = xcalloc(n, size);

			for (size_t j = 0; j < n; j++)
				value_fill(f, arr + j * size, seed, depth);
			memcpy(base + f->quantifier_offset, &n, sizeof n);
			memcpy(base + f->offset, &arr, sizeof arr);
			continue;
		}
		if (has_flag(f)) {
			protobuf_c_boolean yes = 1;

			memcpy(base + f->quantifier_offset, &yes, sizeof yes);
		}
		value_fill(f, base + f->offset, seed, depth);
	}
	return m;
}

static void msg_assert_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path);

/* Fail unless the values of field f at pa and pb are equal. */
static void value_assert_equal(const ProtobufCFieldDescriptor *f, const void *pa, const void *pb, const char *path)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_BOOL:
		if (memcmp(pa, pb, value_size(f)) != 0)
			fail_msg("%s: values differ", path);
		break;
	case PROTOBUF_C_TYPE_STRING: {
		const char *sa, *sb;

		memcpy(&sa, pa, sizeof sa);
		memcpy(&sb, pb, sizeof sb);
		if ((sa == NULL) != (sb == NULL) || (sa != NULL && strcmp(sa, sb) != 0))
			fail_msg("%s: \"%s\" != \"%s\"", path, sa ? sa : "(absent)", sb ? sb : "(absent)");
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *ma, *mb;

		memcpy(&ma, pa, sizeof ma);
		memcpy(&mb, pb, sizeof mb);
		if ((ma == NULL) != (mb == NULL))
			fail_msg("%s: present on one side only", path);
		if (ma != NULL)
			msg_assert_equal(ma, mb, path);
		break;
	}
	default:
		(void)value_size(f);
	}
}

/* Fail unless a and b hold the same fields and values; path names a in messages. */
static void msg_assert_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path)
{
	const ProtobufCMessageDescriptor *d = a->descriptor;
	const char *ba = (const char *)a, *bb = (const char *)b;

	assert_ptr_equal(d, b->descriptor);
	assert_int_equal(b->n_unknown_fields, 0);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char sub[128];

		snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", f->name);
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t ca, cb;

			memcpy(&ca, ba + f->quantifier_offset, sizeof ca);
			memcpy(&cb, bb + f->quantifier_offset, sizeof cb);
			if (ca != cb)
				fail_msg("%s: oneof case %u != %u", sub, ca, cb);
			if (ca != f->id)
				continue;
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t na, nb, size = value_size(f);
			const char *aa, *ab;

			memcpy(&na, ba + f->quantifier_offset, sizeof na);
			memcpy(&nb, bb + f->quantifier_offset, sizeof nb);
			if (na != nb)
				fail_msg("%s: %zu elements != %zu", sub, na, nb);
			memcpy(&aa, ba + f->offset, sizeof aa);
			memcpy(&ab, bb + f->offset, sizeof ab);
			for (size_t j = 0; j < na; j++)
				value_assert_equal(f, aa + j * size, ab + j * size, sub);
			continue;
		} else if (has_flag(f)) {
			protobuf_c_boolean ha, hb;

			memcpy(&ha, ba + f->quantifier_offset, sizeof ha);
			memcpy(&hb, bb + f->quantifier_offset, sizeof hb);
			if (!ha != !hb)
				fail_msg("%s: present on one side only", sub);
			if (!ha)
				continue;
		}
		value_assert_equal(f, ba + f->offset, bb + f->offset, sub);
	}
}

/* ---- the body table ---- */

/*
 * Every member of the Envelope body oneof, by its name in proto/oro.proto.
 * The body case is taken from the descriptor, so a member that is renamed
 * or removed fails here rather than breaking the build; one that is added
 * fails test_roundtrip_every_body until it is listed.
 */
static const char *const bodies[] = {
        "file_concern", "file_reply", "follow_receipt", "case_status",   "prompt",        "subscribe",
        "subscribed",   "delivery",   "acknowledge",    "ack_confirmed", "show_delivery", "list_inbox",
        "inbox",        "reroute",    "rerouted",       "error",
};

/* The oneof member named name. */
static const ProtobufCFieldDescriptor *body_field(const char *name)
{
	const ProtobufCFieldDescriptor *f =
	        protobuf_c_message_descriptor_get_field_by_name(&oro__envelope__descriptor, name);

	if (f == NULL || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		fail_msg("no body %s in the Envelope oneof of proto/oro.proto", name);
	return f;
}

/*
 * A new envelope with request_id "rt-NAME" and the body name, every field
 * set when full. Free with protobuf_c_message_free_unpacked(&env->base, NULL).
 */
static Oro__Envelope *envelope_new(const char *name, bool full, unsigned *seed)
{
	const ProtobufCFieldDescriptor *f = body_field(name);
	Oro__Envelope *env = xcalloc(1, sizeof *env);
	ProtobufCMessage *body;

	wire_envelope_init(env);
	env->request_id = xasprintf("rt-%s", name);
	body = msg_new(f->descriptor, full, seed, 0);
	env->body_case = (Oro__Envelope__BodyCase)f->id;
	memcpy((char *)env + f->offset, &body, sizeof body);
	return env;
}

/* ---- regressions ---- */

/*
 * Regression (fixed in 2fc0375, wire.c wire_check_message): the strict
 * check once loaded every singular field as a pointer, scalars included: a
 * misaligned load for every Envelope (version sits at offset 28) and a read
 * past the end of messages that end in a 4-byte scalar (ListInbox.limit,
 * Subscribed.heartbeat_ms, CaseStatus.acknowledged, AckConfirmed.already).
 * Only a sanitizer build sees it: run with -DORO_SANITIZE=ON.
 */
static void test_decode_scalar_tail_fields(void **state)
{
	static const char *const hex[] = {
	        "08 01 f2 01 00",                   /* Subscribe{} */
	        "08 01 a2 02 06 0a 01 78 18 e8 07", /* ListInbox{department "x", limit 1000} */
	        "08 01 fa 01 04 10 03 18 05",       /* Subscribed{pending 3, heartbeat_ms 5} */
	};
	struct oro_error err = {0};

	(void)state;
	for (size_t i = 0; i < NELEM(hex); i++) {
		size_t len;
		uint8_t *b = hex_decode(hex[i], &len);
		Oro__Envelope *env = wire_decode(b, len, &err, NULL);

		if (env == NULL)
			fail_msg("%s: %s %s", hex[i], err.code, err.message);
		wire_envelope_free(&env);
		free(b);
	}
}

/*
 * Regression: a text with an embedded NUL byte was cut at the NUL (C
 * strings cannot hold it), so "a\0b" read as "a"; wire_decode() now
 * refuses any message whose re-encoding differs in size.
 */
static void test_embedded_nul_is_refused(void **state)
{
	static const char *const hex[] = {
	        "08 01 f2 01 05 0a 03 61 00 62",    /* Subscribe{department "a\0b"} */
	        "08 01 52 07 22 05 22 03 41 00 42", /* FileConcern{subject{name "A\0B"}} */
	        "08 01 52 05 0a 03 6b 00 31",       /* FileConcern{client_key "k" NUL "1"} */
	};
	struct oro_error err = {0};

	(void)state;
	for (size_t i = 0; i < NELEM(hex); i++) {
		size_t len;
		uint8_t *b = hex_decode(hex[i], &len);
		Oro__Envelope *env = wire_decode(b, len, &err, NULL);

		free(b);
		if (env != NULL) {
			wire_envelope_free(&env);
			fail_msg("%s: a text with a NUL byte was accepted (and cut at the NUL)", hex[i]);
		}
		if (strcmp(err.code, ORO_E_MALFORMED) != 0 && strcmp(err.code, ORO_E_INVALID_UTF8) != 0)
			fail_msg("%s: code %s, want malformed or invalid_utf8", hex[i], err.code);
	}
}

/* ---- decoding ---- */

/* Every body type survives encode and decode with every field, and with none. */
static void test_roundtrip_every_body(void **state)
{
	unsigned oneof_members = 0, seed = 0;

	(void)state;
	/* the table covers the oneof exactly; the C names agree with oro.proto */
	for (unsigned i = 0; i < oro__envelope__descriptor.n_fields; i++)
		if (oro__envelope__descriptor.fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			oneof_members++;
	assert_int_equal(oneof_members, NELEM(bodies));
	for (size_t r = 0; r < NELEM(bodies); r++)
		(void)body_field(bodies[r]);
	assert_int_equal(body_field("file_concern")->id, ORO__ENVELOPE__BODY_FILE_CONCERN);
	assert_int_equal(body_field("subscribe")->id, ORO__ENVELOPE__BODY_SUBSCRIBE);
	assert_int_equal(body_field("error")->id, ORO__ENVELOPE__BODY_ERROR);

	for (size_t r = 0; r < NELEM(bodies); r++) {
		for (int full = 0; full <= 1; full++) {
			Oro__Envelope *env = envelope_new(bodies[r], full, &seed);
			Oro__Envelope *dec;
			struct oro_error err = {0};
			char rid[64] = "stale";
			size_t len, len2;
			uint8_t *buf, *buf2;

			env->version = 7; /* wire_encode sets the version itself */
			buf = wire_encode(env, &len);
			assert_int_equal(env->version, ORO_PROTOCOL_VERSION);
			assert_true(env->has_version);
			dec = wire_decode(buf, len, &err, rid);
			if (dec == NULL)
				fail_msg("%s (%s): refused: %s %s %s", bodies[r], full ? "full" : "empty", err.code,
				         err.field, err.message);
			assert_int_equal(dec->body_case, body_field(bodies[r])->id);
			assert_string_equal(rid, env->request_id);
			msg_assert_equal(&env->base, &dec->base, "");
			/* and the decoded envelope encodes to the same bytes */
			buf2 = wire_encode(dec, &len2);
			assert_int_equal(len2, len);
			assert_memory_equal(buf2, buf, len);
			free(buf2);
			free(buf);
			wire_envelope_free(&dec);
			assert_null(dec);
			protobuf_c_message_free_unpacked(&env->base, NULL);
		}
	}
}

/* Hand-made encodings and what wire_decode() must say about each. */
static const struct refusal_row {
	const char *name;
	const char *hex;
	const char *code, *field;
	const char *request_id; /* echoed into the caller's buffer */
} refusals[] = {
        /* version first */
        {"empty buffer (no version)", "", ORO_E_BAD_VERSION, "version", ""},
        {"no version", "12 03 616263  f2 01 00", ORO_E_BAD_VERSION, "version", "abc"},
        {"version 2", "08 02  12 03 616263  f2 01 00", ORO_E_BAD_VERSION, "version", "abc"},
        {"version 0", "08 00  f2 01 00", ORO_E_BAD_VERSION, "version", ""},
        {"version 2^32-1", "08 ffffffff0f  f2 01 00", ORO_E_BAD_VERSION, "version", ""},
        /* then exactly one known body */
        {"no body", "08 01  12 03 616263", ORO_E_UNKNOWN_TYPE, "body", "abc"},
        {"unknown body: field 50, a message", "08 01  12 03 616263  92 03 00", ORO_E_UNKNOWN_TYPE, "body", "abc"},
        {"unknown body: field 50, a varint", "08 01  90 03 01", ORO_E_UNKNOWN_TYPE, "body", ""},
        /* then no unknown field at any depth */
        {"field 50 beside a known body", "08 01  f2 01 00  92 03 00", ORO_E_MALFORMED, "", ""},
        {"field 5 in FollowReceipt", "08 01  12 03 616263  62 02 28 01", ORO_E_MALFORMED, "follow_receipt", "abc"},
        {"field 9 in FileConcern.subject", "08 01  52 04 22 02 48 01", ORO_E_MALFORMED, "file_concern.subject", ""},
        {"field 3 in FileReply.guidance[0]", "08 01  5a 04 1a 02 18 01", ORO_E_MALFORMED, "file_reply.guidance", ""},
        {"field 7 in Inbox.deliveries[0].subject", "08 01  aa 02 07 12 05 fa 01 02 38 01", ORO_E_MALFORMED,
         "inbox.deliveries.subject", ""},
        /* and every text valid UTF-8 without control characters */
        {"0xff in file_concern.subject.name", "08 01  12 03 616263  52 05 22 03 22 01 ff", ORO_E_INVALID_UTF8,
         "file_concern.subject.name", "abc"},
        {"cut sequence in subscribe.department", "08 01  f2 01 03 0a 01 c3", ORO_E_INVALID_UTF8, "subscribe.department",
         ""},
        {"overlong '/' in file_concern.description", "08 01  52 04 42 02 c0 af", ORO_E_INVALID_UTF8,
         "file_concern.description", ""},
        {"surrogate in error.message", "08 01  9a 06 05 1a 03 ed a0 80", ORO_E_INVALID_UTF8, "error.message", ""},
        {"0xff in file_reply.guidance[0].sv", "08 01  5a 05 1a 03 0a 01 ff", ORO_E_INVALID_UTF8,
         "file_reply.guidance.sv", ""},
        {"0xff in inbox.deliveries[0].reporter.phone", "08 01  aa 02 08 12 06 82 02 03 12 01 ff", ORO_E_INVALID_UTF8,
         "inbox.deliveries.reporter.phone", ""},
        {"control character in prompt.kind", "08 01  a2 01 03 0a 01 01", ORO_E_INVALID_UTF8, "prompt.kind", ""},
        {"0xff in request_id (not echoed)", "08 01  12 01 ff  f2 01 00", ORO_E_INVALID_UTF8, "request_id", ""},
        /* anything protobuf-c cannot parse */
        {"one byte 0xff", "ff", ORO_E_MALFORMED, "", ""},
        {"a tag and nothing else", "08", ORO_E_MALFORMED, "", ""},
        {"field number 0", "00 01", ORO_E_MALFORMED, "", ""},
        {"varint of eleven bytes", "08 ffffffffffffffffffff 01", ORO_E_MALFORMED, "", ""},
        {"string past the end", "08 01  12 05 61 62", ORO_E_MALFORMED, "", ""},
        {"body length missing", "08 01  f2 01", ORO_E_MALFORMED, "", ""},
        {"body past the end", "08 01  f2 01 05 0a 03 61", ORO_E_MALFORMED, "", ""},
        {"version as fixed32 (wrong wire type)", "0d 01000000  f2 01 00", ORO_E_MALFORMED, "", ""},
        {"Subject.name as varint (wrong wire type)", "08 01  52 04 22 02 20 01", ORO_E_MALFORMED, "", ""},
        {"start of a group", "08 01  0b", ORO_E_MALFORMED, "", ""},
        {"garbage after a request_id (not echoed)", "08 01  12 03 616263  ff", ORO_E_MALFORMED, "", ""},
};

/* Each hand-made encoding is refused with its code, field and echoed request id. */
static void test_decode_refusals(void **state)
{
	(void)state;
	for (size_t r = 0; r < NELEM(refusals); r++) {
		const struct refusal_row *row = &refusals[r];
		struct oro_error err = {0};
		char rid[64] = "stale";
		size_t len;
		uint8_t *b = hex_decode(row->hex, &len);
		Oro__Envelope *env = wire_decode(b, len, &err, rid);

		if (env != NULL) {
			wire_envelope_free(&env);
			fail_msg("%s: accepted", row->name);
		}
		check_error(row->name, &err, row->code, row->field);
		if (strcmp(rid, row->request_id) != 0)
			fail_msg("%s: request id \"%s\", want \"%s\"", row->name, rid, row->request_id);
		/* request_id may be NULL */
		memset(&err, 0, sizeof err);
		assert_null(wire_decode(b, len, &err, NULL));
		check_error(row->name, &err, row->code, row->field);
		free(b);
	}
}

/* The request id is echoed only when it fits the 64-byte buffer. */
static void test_decode_request_id_length(void **state)
{
	static const struct {
		size_t len;
		bool echoed;
	} rows[] = {{0, false}, {1, true}, {63, true}, {64, false}, {200, false}};

	(void)state;
	for (size_t r = 0; r < NELEM(rows); r++) {
		Oro__Envelope env;
		struct oro_error err = {0};
		char rid[64] = "stale";
		char *id = xmalloc(rows[r].len + 1);
		size_t len;
		uint8_t *b;

		memset(id, 'r', rows[r].len);
		id[rows[r].len] = '\0';
		wire_envelope_init(&env);
		env.request_id = id; /* and no body: refused after the id is read */
		b = wire_encode(&env, &len);
		assert_null(wire_decode(b, len, &err, rid));
		check_error("no body", &err, ORO_E_UNKNOWN_TYPE, "body");
		assert_string_equal(rid, rows[r].echoed ? id : "");
		free(b);
		free(id);
	}
}

/* Every proper prefix of a full encoding is refused, as malformed once it cuts into the body. */
static void test_decode_truncated(void **state)
{
	unsigned seed = 0;
	Oro__Envelope *env = envelope_new("file_concern", true, &seed);
	size_t len, head_len;
	uint8_t *buf = wire_encode(env, &len);
	uint8_t *head;

	(void)state;
	/* the encoding of version and request_id: protobuf-c writes the body last */
	env->body_case = ORO__ENVELOPE__BODY__NOT_SET;
	head = wire_encode(env, &head_len);
	env->body_case = ORO__ENVELOPE__BODY_FILE_CONCERN;
	assert_true(head_len < len);
	assert_memory_equal(head, buf, head_len);
	for (size_t k = 0; k < len; k++) {
		uint8_t *copy = xmalloc(k ? k : 1); /* exact size, so that ASan sees any over-read */
		struct oro_error err = {0};
		char rid[64];
		Oro__Envelope *dec;

		memcpy(copy, buf, k);
		dec = wire_decode(copy, k, &err, rid);
		free(copy);
		if (dec != NULL) {
			wire_envelope_free(&dec);
			fail_msg("prefix of %zu of %zu bytes accepted", k, len);
		}
		if (k > head_len)
			check_error("cut in the body", &err, ORO_E_MALFORMED, "");
		else if (k == head_len)
			check_error("cut before the body", &err, ORO_E_UNKNOWN_TYPE, "body");
		else if (k == 0)
			check_error("nothing", &err, ORO_E_BAD_VERSION, "version");
		else
			assert_true(decode_code_known(err.code));
		if (k == head_len)
			assert_string_equal(rid, "rt-file_concern");
		else if (k > head_len)
			assert_string_equal(rid, "");
	}
	free(head);
	free(buf);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

/*
 * Random bytes and every single-bit flip of a full encoding never crash;
 * a refusal always carries one of the decoder's codes. (A fuzz in miniature,
 * meant to run under -DORO_SANITIZE=ON.)
 */
static void test_decode_garbage(void **state)
{
	uint32_t x = 2463534242u; /* xorshift32: the same bytes every run */
	unsigned seed = 0, refused = 0;
	Oro__Envelope *env = envelope_new("delivery", true, &seed); /* the largest body */
	size_t len;
	uint8_t *buf = wire_encode(env, &len);

	(void)state;
	for (int i = 0; i < 3000; i++) {
		size_t n = 1 + i % 64;
		uint8_t *b = xmalloc(n);
		struct oro_error err = {0};
		char rid[64];
		Oro__Envelope *dec;

		for (size_t j = 0; j < n; j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			b[j] = (uint8_t)x;
		}
		dec = wire_decode(b, n, &err, rid);
		if (dec == NULL) {
			assert_true(decode_code_known(err.code));
			refused++;
		}
		assert_true(strlen(rid) < 64);
		wire_envelope_free(&dec);
		free(b);
	}
	assert_true(refused > 2900);
	for (size_t bit = 0; bit < len * 8; bit++) {
		uint8_t *b = xmalloc(len);
		struct oro_error err = {0};
		Oro__Envelope *dec;

		memcpy(b, buf, len);
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		dec = wire_decode(b, len, &err, NULL);
		if (dec == NULL)
			assert_true(decode_code_known(err.code));
		wire_envelope_free(&dec);
		free(b);
	}
	free(buf);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

/* wire_envelope_init gives version 1 and no body; wire_envelope_free is safe twice and on NULL. */
static void test_envelope_init_free(void **state)
{
	Oro__Envelope env, *p = NULL;

	(void)state;
	memset(&env, 0xa5, sizeof env);
	wire_envelope_init(&env);
	assert_true(env.has_version);
	assert_int_equal(env.version, ORO_PROTOCOL_VERSION);
	assert_null(env.request_id);
	assert_int_equal(env.body_case, ORO__ENVELOPE__BODY__NOT_SET);
	wire_envelope_free(&p);
	wire_envelope_free(&p);
	wire_envelope_free(NULL);
}

/* ---- FileConcern <-> struct concern ---- */

/* The char * members of struct concern, for comparing two of them. */
static const struct {
	const char *name;
	size_t offset;
} concern_texts[] = {
#define CT(m)                                   \
	{                                       \
#m, offsetof(struct concern, m) \
	}
        CT(client_key),      CT(category),           CT(urgency),
        CT(subject_kind),    CT(age_band),           CT(subject_name),
        CT(personal_number), CT(subject_unit),       CT(setting),
        CT(district),        CT(association_grant),  CT(description),
        CT(observed_at),     CT(relatives_informed), CT(reporter_unit),
        CT(reporter_phone),  CT(reporter_principal),
#undef CT
};

/* The text member at offset of c. */
static const char *concern_text(const struct concern *c, size_t offset)
{
	const char *s;

	memcpy(&s, (const char *)c + offset, sizeof s);
	return s;
}

/* Fail unless a and b hold the same texts and age. */
static void concern_assert_equal(const char *what, const struct concern *a, const struct concern *b)
{
	for (size_t i = 0; i < NELEM(concern_texts); i++) {
		const char *sa = concern_text(a, concern_texts[i].offset);
		const char *sb = concern_text(b, concern_texts[i].offset);

		if ((sa == NULL) != (sb == NULL) || (sa != NULL && strcmp(sa, sb) != 0))
			fail_msg("%s: %s \"%s\" != \"%s\"", what, concern_texts[i].name, sa ? sa : "(absent)",
			         sb ? sb : "(absent)");
	}
	if (a->has_age != b->has_age || a->age != b->age)
		fail_msg("%s: age %d/%d != %d/%d", what, a->has_age, a->age, b->has_age, b->age);
}

/* The concern of the golden file file_concern.hex. */
static const struct concern golden_concern = {
        .client_key = "k-1",
        .category = "propaganda",
        .urgency = "concern",
        .subject_kind = "child",
        .has_age = true,
        .age = 15,
        .subject_name = "Anna A",
        .personal_number = "811218-9876",
        .subject_unit = "Skola 7B",
        .setting = "school",
        .district = "Hagalund",
        .association_grant = "no",
        .description = "Talar om att resa.",
        .observed_at = "2024-11-27T14:05:00+01:00",
        .relatives_informed = "unknown",
        .reporter_unit = "Skola",
        .reporter_phone = "+46 8-123 45 67",
        .reporter_principal = "lisa",
};

/* Concerns that must survive to_pb, encode, decode, from_pb unchanged. */
static const struct concern_row {
	const char *name;
	struct concern c;
	bool reporter; /* the FileConcern carries a Reporter */
} concern_rows[] = {
        {"every field",
         {.client_key = "k-1",
          .category = "propaganda",
          .urgency = "acute",
          .subject_kind = "child",
          .has_age = true,
          .age = 15,
          .age_band = "12-17",
          .subject_name = "\xc3\x85sa \xc3\x96",
          .personal_number = "811218-9876",
          .subject_unit = "Skola 7B",
          .setting = "school",
          .district = "Hagalund",
          .association_grant = "no",
          .description = "Rad ett.\nRad tv\xc3\xa5.",
          .observed_at = "2024-11-27T14:05:00+01:00",
          .relatives_informed = "yes",
          .reporter_unit = "Skola",
          .reporter_phone = "+46 8-123 45 67",
          .reporter_principal = "lisa"},
         true},
        {"nothing at all", {.client_key = NULL}, false},
        {"routing fields only",
         {.category = "violence",
          .urgency = "urgent",
          .subject_kind = "group",
          .setting = "online",
          .district = "Centrum"},
         false},
        {"age 0 is an age", {.subject_kind = "child", .has_age = true, .age = 0}, false},
        {"age 120", {.has_age = true, .age = 120}, false},
        {"age band, no age", {.subject_kind = "adult", .age_band = "21+"}, false},
        {"reporter phone only", {.reporter_phone = "070-123 45 67"}, true},
        {"reporter unit only", {.reporter_unit = "Fritidsg\xc3\xa5rden"}, true},
        {"empty strings stay empty, not absent", {.client_key = "", .description = "", .reporter_unit = ""}, true},
};

/* Every row survives struct -> FileConcern -> bytes -> FileConcern -> struct. */
static void test_concern_pb_roundtrip(void **state)
{
	(void)state;
	for (size_t r = 0; r < NELEM(concern_rows); r++) {
		const struct concern_row *row = &concern_rows[r];
		Oro__FileConcern m;
		Oro__Subject subject;
		Oro__Reporter reporter;
		Oro__Envelope env, *dec;
		struct concern out;
		struct oro_error err = {0};
		size_t len;
		uint8_t *buf;

		memset(&m, 0, sizeof m);
		memset(&subject, 0, sizeof subject);
		memset(&reporter, 0, sizeof reporter);
		wire_concern_to_pb(&row->c, &m, &subject, &reporter);
		/* strings are borrowed, not copied */
		assert_ptr_equal(m.client_key, row->c.client_key);
		assert_ptr_equal(m.description, row->c.description);
		assert_ptr_equal(subject.name, row->c.subject_name);
		assert_ptr_equal(m.subject, &subject);
		assert_int_equal(subject.has_age, row->c.has_age);
		if (row->reporter) {
			assert_ptr_equal(m.reporter, &reporter);
			assert_ptr_equal(reporter.phone, row->c.reporter_phone);
		} else {
			assert_null(m.reporter);
		}

		wire_envelope_init(&env);
		env.body_case = ORO__ENVELOPE__BODY_FILE_CONCERN;
		env.file_concern = &m;
		buf = wire_encode(&env, &len);
		dec = wire_decode(buf, len, &err, NULL);
		if (dec == NULL)
			fail_msg("%s: refused: %s %s", row->name, err.code, err.field);
		assert_int_equal(dec->body_case, ORO__ENVELOPE__BODY_FILE_CONCERN);
		assert_int_equal(dec->file_concern->reporter != NULL, row->reporter);
		memset(&out, 0, sizeof out);
		wire_concern_from_pb(dec->file_concern, &out);
		concern_assert_equal(row->name, &out, &row->c);
		/* copies, owned by out */
		if (out.client_key != NULL)
			assert_ptr_not_equal(out.client_key, dec->file_concern->client_key);
		concern_clear(&out);
		wire_envelope_free(&dec);
		free(buf);
	}
}

/* What wire_concern_from_pb makes of FileConcerns that to_pb never produces. */
static void test_concern_from_pb_edges(void **state)
{
	static const struct {
		const char *name;
		bool subject;
		protobuf_c_boolean has_age;
		uint32_t age;
		bool want_has_age;
		int want_age;
	} rows[] = {
	        {"no Subject at all", false, 0, 0, false, 0},
	        {"Subject without age", true, 0, 33, false, 0},
	        {"age 1000", true, 1, 1000, true, 1000},
	        {"age past int range is clamped", true, 1, UINT32_MAX, true, 1000},
	        {"age 2^31 is clamped", true, 1, 2147483648u, true, 1000},
	};

	(void)state;
	for (size_t r = 0; r < NELEM(rows); r++) {
		Oro__FileConcern m = ORO__FILE_CONCERN__INIT;
		Oro__Subject s = ORO__SUBJECT__INIT;
		struct concern c;

		m.category = "violence";
		s.kind = "adult";
		s.has_age = rows[r].has_age;
		s.age = rows[r].age;
		m.subject = rows[r].subject ? &s : NULL;
		memset(&c, 0, sizeof c);
		wire_concern_from_pb(&m, &c);
		assert_string_equal(c.category, "violence");
		if (rows[r].subject)
			assert_string_equal(c.subject_kind, "adult");
		else
			assert_null(c.subject_kind);
		if (c.has_age != rows[r].want_has_age || c.age != rows[r].want_age)
			fail_msg("%s: age %d/%d, want %d/%d", rows[r].name, c.has_age, c.age, rows[r].want_has_age,
			         rows[r].want_age);
		assert_null(c.reporter_unit);
		assert_null(c.reporter_phone);
		concern_clear(&c);
	}
}

/* ---- golden files ---- */

/* FileConcern of golden_concern, request_id "g-1". */
static void golden_file_concern(Oro__Envelope *env)
{
	static Oro__FileConcern m;
	static Oro__Subject subject;
	static Oro__Reporter reporter;

	wire_concern_to_pb(&golden_concern, &m, &subject, &reporter);
	env->request_id = "g-1";
	env->body_case = ORO__ENVELOPE__BODY_FILE_CONCERN;
	env->file_concern = &m;
}

/* Subscribe{department "police", principal "anna"}, request_id "g-2". */
static void golden_subscribe(Oro__Envelope *env)
{
	static Oro__Subscribe m = ORO__SUBSCRIBE__INIT;

	m.department = "police";
	m.principal = "anna";
	env->request_id = "g-2";
	env->body_case = ORO__ENVELOPE__BODY_SUBSCRIBE;
	env->subscribe = &m;
}

/* The refusal of golden error.hex, also sent through wire_send_error(). */
static const struct oro_error golden_oro_error = {
        .code = ORO_E_OUT_OF_RANGE,
        .field = "subject.age",
        .message = "must be 0..120",
};

/* Error{code, field, message} of golden_oro_error, request_id "g-3". */
static void golden_error(Oro__Envelope *env)
{
	static Oro__Error m = ORO__ERROR__INIT;

	m.code = (char *)golden_oro_error.code;
	m.field = (char *)golden_oro_error.field;
	m.message = (char *)golden_oro_error.message;
	env->request_id = "g-3";
	env->body_case = ORO__ENVELOPE__BODY_ERROR;
	env->error = &m;
}

/* Prompt{kind "report_filed", id 42}, no request_id: what wire_publish_prompt() sends. */
static void golden_prompt(Oro__Envelope *env)
{
	static Oro__Prompt m = ORO__PROMPT__INIT;

	m.kind = "report_filed";
	m.has_id = true;
	m.id = 42;
	env->body_case = ORO__ENVELOPE__BODY_PROMPT;
	env->prompt = &m;
}

static const struct golden_row {
	const char *file;
	void (*build)(Oro__Envelope *env);
} goldens[] = {
        {GOLDEN_DIR "file_concern.hex", golden_file_concern},
        {GOLDEN_DIR "subscribe.hex", golden_subscribe},
        {GOLDEN_DIR "error.hex", golden_error},
        {GOLDEN_DIR "prompt.hex", golden_prompt},
};

/* The golden bytes of file (hex, annotated). The caller frees. */
static uint8_t *golden_load(const char *file, size_t *len)
{
	char *text = slurp(file);
	uint8_t *b = hex_decode(text, len);

	free(text);
	return b;
}

/* Fail with both encodings in hex unless got equals the golden bytes of file. */
static void golden_assert(const char *file, const uint8_t *got, size_t got_len)
{
	size_t len;
	uint8_t *want = golden_load(file, &len);

	if (len != got_len || memcmp(want, got, len) != 0) {
		char *hw = hex_encode(want, len), *hg = hex_encode(got, got_len);

		print_error("%s:\n  golden %s\n  got    %s\n", file, hw, hg);
		free(hw);
		free(hg);
		free(want);
		fail_msg("%s: the encoding differs from the golden file", file);
	}
	free(want);
}

/* Fixed envelopes encode to exactly the golden bytes, and the golden bytes decode back. */
static void test_golden_encodings(void **state)
{
	(void)state;
	for (size_t r = 0; r < NELEM(goldens); r++) {
		Oro__Envelope env, *dec;
		struct oro_error err = {0};
		size_t len, glen;
		uint8_t *buf, *golden;

		wire_envelope_init(&env);
		goldens[r].build(&env);
		buf = wire_encode(&env, &len);
		golden_assert(goldens[r].file, buf, len);

		golden = golden_load(goldens[r].file, &glen);
		dec = wire_decode(golden, glen, &err, NULL);
		if (dec == NULL)
			fail_msg("%s: refused: %s %s", goldens[r].file, err.code, err.field);
		msg_assert_equal(&env.base, &dec->base, "");
		assert_int_equal(dec->version, ORO_PROTOCOL_VERSION);
		wire_envelope_free(&dec);
		free(golden);
		free(buf);
	}
}

/* The golden FileConcern decodes into the golden concern. */
static void test_golden_file_concern_to_struct(void **state)
{
	size_t len;
	uint8_t *b = golden_load(GOLDEN_DIR "file_concern.hex", &len);
	struct oro_error err = {0};
	char rid[64];
	Oro__Envelope *env = wire_decode(b, len, &err, rid);
	struct concern c;

	(void)state;
	assert_non_null(env);
	assert_string_equal(rid, "g-1");
	memset(&c, 0, sizeof c);
	wire_concern_from_pb(env->file_concern, &c);
	concern_assert_equal("golden", &c, &golden_concern);
	concern_clear(&c);
	wire_envelope_free(&env);
	free(b);
}

/* ---- framing over ZeroMQ ---- */

/* A ROUTER bound and a DEALER connected on inproc:// in one context. */
struct pair {
	void *ctx, *router, *dealer;
};

/* A new socket of type with LINGER 0, so that the context ends at once. */
static void *sock_new(void *ctx, int type)
{
	void *s = zmq_socket(ctx, type);
	int zero = 0;

	assert_non_null(s);
	assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
	return s;
}

/* Setup: the pair, with ROUTER_MANDATORY as the daemons set it (service.c). */
static int pair_setup(void **state)
{
	struct pair *p = xcalloc(1, sizeof *p);
	int one = 1;

	p->ctx = zmq_ctx_new();
	assert_non_null(p->ctx);
	p->router = sock_new(p->ctx, ZMQ_ROUTER);
	assert_int_equal(zmq_setsockopt(p->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one), 0);
	assert_int_equal(zmq_bind(p->router, "inproc://test-wire"), 0);
	p->dealer = sock_new(p->ctx, ZMQ_DEALER);
	assert_int_equal(zmq_connect(p->dealer, "inproc://test-wire"), 0);
	*state = p;
	return 0;
}

/* Teardown: close both sockets and end the context. */
static int pair_teardown(void **state)
{
	struct pair *p = *state;

	zmq_close(p->dealer);
	zmq_close(p->router);
	zmq_ctx_term(p->ctx);
	free(p);
	return 0;
}

/* True when sock has a message within ms. */
static bool wait_readable(void *sock, int ms)
{
	zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};

	return zmq_poll(&item, 1, ms) == 1;
}

/* Send one multipart message: an optional first frame, then frames given in hex ("" is empty). */
static void send_frames(void *sock, const void *first, size_t first_len, const char *const *hex, int n)
{
	if (first != NULL)
		assert_true(zmq_send(sock, first, first_len, n > 0 ? ZMQ_SNDMORE : 0) >= 0);
	for (int i = 0; i < n; i++) {
		size_t len;
		uint8_t *b = hex_decode(hex[i], &len);

		assert_true(zmq_send(sock, b, len, i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
		free(b);
	}
}

/* Receive on a ROUTER, waiting for a message to arrive. */
static enum wire_recv_status recv_routed_wait(void *sock, struct wire_peer *peer, Oro__Envelope **env,
                                              struct oro_error *err, char rid[64])
{
	assert_true(wait_readable(sock, WAIT_MS));
	return wire_recv_routed(sock, peer, env, err, rid);
}

/* Receive on a DEALER, waiting for a message to arrive. */
static enum wire_recv_status recv_reply_wait(void *sock, Oro__Envelope **env, struct oro_error *err)
{
	assert_true(wait_readable(sock, WAIT_MS));
	return wire_recv_reply(sock, env, err);
}

/* Receive the frames of one message into a new buffer per frame; returns the count. */
static int recv_raw(void *sock, uint8_t **frames, size_t *lens)
{
	int n = 0, more;
	size_t more_len = sizeof more;

	assert_true(wait_readable(sock, WAIT_MS));
	do {
		zmq_msg_t m;

		assert_true(n < MAX_FRAMES);
		zmq_msg_init(&m);
		assert_true(zmq_msg_recv(&m, sock, 0) >= 0);
		lens[n] = zmq_msg_size(&m);
		frames[n] = xmalloc(lens[n] + 1);
		memcpy(frames[n], zmq_msg_data(&m), lens[n]);
		zmq_msg_close(&m);
		n++;
		assert_int_equal(zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len), 0);
	} while (more);
	return n;
}

/* Free what recv_raw() returned. */
static void free_raw(uint8_t **frames, int n)
{
	for (int i = 0; i < n; i++)
		free(frames[i]);
}

/* Nothing waiting: WIRE_NONE on both sides, nothing counted, outputs reset. */
static void test_framing_empty(void **state)
{
	struct pair *p = *state;
	struct wire_counters before = wire_counters;
	struct wire_peer peer;
	struct oro_error err = {0};
	Oro__Envelope dummy, *env = &dummy; /* not NULL: must be reset */
	char rid[64] = "stale";

	assert_int_equal(wire_recv_routed(p->router, &peer, &env, &err, rid), WIRE_NONE);
	assert_null(env);
	assert_string_equal(rid, "");
	env = &dummy;
	assert_int_equal(wire_recv_reply(p->dealer, &env, &err), WIRE_NONE);
	assert_null(env);
	assert_false(oro_error_isset(&err));
	assert_int_equal(wire_counters.received, before.received);
	assert_int_equal(wire_counters.refused, before.refused);
	assert_int_equal(wire_counters.dropped, before.dropped);
}

/* Request, reply and error reply over ROUTER/DEALER, with the frames they must have. */
static void test_framing_request_reply(void **state)
{
	struct pair *p = *state;
	struct wire_counters before = wire_counters;
	struct wire_peer peer, nobody = {.id = {0, 'x'}, .len = 2};
	struct oro_error err = {0};
	Oro__Envelope req, reply, *env;
	Oro__Subscribe sub = ORO__SUBSCRIBE__INIT;
	Oro__Subscribed subd = ORO__SUBSCRIBED__INIT;
	uint8_t *frames[MAX_FRAMES];
	size_t lens[MAX_FRAMES];
	char rid[64];
	int n;

	/* DEALER -> ROUTER: [empty][Envelope] arrives as [identity][empty][Envelope] */
	wire_envelope_init(&req);
	sub.department = "police";
	sub.principal = "anna";
	req.request_id = "req-1";
	req.body_case = ORO__ENVELOPE__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	assert_int_equal(wire_send_request(p->dealer, &req), 0);
	assert_int_equal(recv_routed_wait(p->router, &peer, &env, &err, rid), WIRE_OK);
	assert_true(peer.len > 0 && peer.len <= WIRE_PEER_MAX);
	assert_string_equal(rid, "req-1");
	assert_int_equal(env->body_case, ORO__ENVELOPE__BODY_SUBSCRIBE);
	assert_string_equal(env->subscribe->department, "police");
	assert_string_equal(env->subscribe->principal, "anna");
	wire_envelope_free(&env);
	assert_int_equal(wire_counters.received, before.received + 1);

	/* ROUTER -> DEALER */
	wire_envelope_init(&reply);
	subd.department = "police";
	subd.has_pending = true;
	subd.pending = 3;
	subd.has_heartbeat_ms = true;
	subd.heartbeat_ms = 2000;
	reply.request_id = "req-1";
	reply.body_case = ORO__ENVELOPE__BODY_SUBSCRIBED;
	reply.subscribed = &subd;
	assert_int_equal(wire_send_routed(p->router, &peer, &reply), 0);
	assert_int_equal(recv_reply_wait(p->dealer, &env, &err), WIRE_OK);
	assert_string_equal(env->request_id, "req-1");
	assert_int_equal(env->body_case, ORO__ENVELOPE__BODY_SUBSCRIBED);
	assert_int_equal(env->subscribed->pending, 3);
	assert_int_equal(env->subscribed->heartbeat_ms, 2000);
	wire_envelope_free(&env);

	/* wire_send_error: decoded, then the raw frames against the golden file */
	assert_int_equal(wire_send_error(p->router, &peer, "g-3", &golden_oro_error), 0);
	assert_int_equal(recv_reply_wait(p->dealer, &env, &err), WIRE_OK);
	assert_int_equal(env->body_case, ORO__ENVELOPE__BODY_ERROR);
	assert_string_equal(env->request_id, "g-3");
	assert_string_equal(env->error->code, ORO_E_OUT_OF_RANGE);
	assert_string_equal(env->error->field, "subject.age");
	assert_string_equal(env->error->message, "must be 0..120");
	wire_envelope_free(&env);
	assert_int_equal(wire_send_error(p->router, &peer, "g-3", &golden_oro_error), 0);
	n = recv_raw(p->dealer, frames, lens);
	assert_int_equal(n, 2);
	assert_int_equal(lens[0], 0);
	golden_assert(GOLDEN_DIR "error.hex", frames[1], lens[1]);
	free_raw(frames, n);

	/* no request id ("" or NULL): the Error goes without one */
	for (int i = 0; i < 2; i++) {
		struct oro_error e = {.code = ORO_E_MALFORMED, .field = "", .message = "m"};

		assert_int_equal(wire_send_error(p->router, &peer, i ? NULL : "", &e), 0);
		assert_int_equal(recv_reply_wait(p->dealer, &env, &err), WIRE_OK);
		assert_null(env->request_id);
		assert_string_equal(env->error->code, ORO_E_MALFORMED);
		assert_string_equal(env->error->field, "");
		wire_envelope_free(&env);
	}

	/* a peer that is gone (ROUTER_MANDATORY): -1, nothing sent */
	assert_int_equal(wire_send_routed(p->router, &nobody, &reply), -1);
	assert_int_equal(wire_send_error(p->router, &nobody, "x", &golden_oro_error), -1);
	assert_false(wait_readable(p->dealer, 50));
	assert_int_equal(wire_counters.refused, before.refused);
	assert_int_equal(wire_counters.dropped, before.dropped);
}

/* A DEALER with no peer cannot queue a request: -1, without blocking. */
static void test_framing_request_unconnected(void **state)
{
	void *ctx = zmq_ctx_new();
	void *dealer = sock_new(ctx, ZMQ_DEALER);
	Oro__Envelope env;
	Oro__FollowReceipt fr = ORO__FOLLOW_RECEIPT__INIT;

	(void)state;
	wire_envelope_init(&env);
	env.body_case = ORO__ENVELOPE__BODY_FOLLOW_RECEIPT;
	env.follow_receipt = &fr;
	assert_int_equal(wire_send_request(dealer, &env), -1);
	zmq_close(dealer);
	zmq_ctx_term(ctx);
}

/* Frames a client may send and what the ROUTER side must make of them. */
static const struct routed_row {
	const char *name;
	int n;
	const char *frames[MAX_FRAMES]; /* after the identity the ROUTER adds */
	const char *code, *field, *request_id;
} routed_rows[] = {
        {"no empty delimiter", 1, {"08 01 f2 01 00"}, ORO_E_MALFORMED, "", ""},
        {"an extra frame", 3, {"", "08 01 f2 01 00", "00"}, ORO_E_MALFORMED, "", ""},
        {"two extra frames", 4, {"", "08 01 f2 01 00", "", ""}, ORO_E_MALFORMED, "", ""},
        {"delimiter not empty", 2, {"00", "08 01 f2 01 00"}, ORO_E_MALFORMED, "", ""},
        {"delimiter only", 1, {""}, ORO_E_MALFORMED, "", ""},
        {"garbage payload", 2, {"", "ff ff"}, ORO_E_MALFORMED, "", ""},
        {"empty payload", 2, {"", ""}, ORO_E_BAD_VERSION, "version", ""},
        {"version 2, id echoed", 2, {"", "08 02 12 03 616263 f2 01 00"}, ORO_E_BAD_VERSION, "version", "abc"},
        {"unknown body, id echoed", 2, {"", "08 01 12 03 616263 92 03 00"}, ORO_E_UNKNOWN_TYPE, "body", "abc"},
        {"bad text, id echoed",
         2,
         {"", "08 01 12 03 616263 a2 01 03 0a 01 ff"},
         ORO_E_INVALID_UTF8,
         "prompt.kind",
         "abc"},
};

/*
 * Each wrong message is refused with the peer known (so it can be
 * answered), is counted, and leaves the socket in step: a good request
 * sent after all of them is read whole.
 */
static void test_framing_refused(void **state)
{
	struct pair *p = *state;
	struct wire_counters before = wire_counters;
	Oro__Envelope req, *env;
	Oro__FollowReceipt fr = ORO__FOLLOW_RECEIPT__INIT;
	struct wire_peer peer;
	struct oro_error err;
	char rid[64];

	for (size_t r = 0; r < NELEM(routed_rows); r++) {
		const struct routed_row *row = &routed_rows[r];

		memset(&peer, 0, sizeof peer);
		memset(&err, 0, sizeof err);
		send_frames(p->dealer, NULL, 0, row->frames, row->n);
		if (recv_routed_wait(p->router, &peer, &env, &err, rid) != WIRE_REFUSED)
			fail_msg("%s: not refused", row->name);
		assert_null(env);
		assert_true(peer.len > 0);
		check_error(row->name, &err, row->code, row->field);
		if (strcmp(rid, row->request_id) != 0)
			fail_msg("%s: request id \"%s\", want \"%s\"", row->name, rid, row->request_id);
		/* the refusal can be answered: the DEALER gets it */
		assert_int_equal(wire_send_error(p->router, &peer, rid, &err), 0);
		assert_int_equal(recv_reply_wait(p->dealer, &env, &err), WIRE_OK);
		assert_string_equal(env->error->code, row->code);
		wire_envelope_free(&env);
	}
	/* each row is received twice: the refused request, then the Error reply */
	assert_int_equal(wire_counters.received, before.received + 2 * NELEM(routed_rows));
	assert_int_equal(wire_counters.refused, before.refused + NELEM(routed_rows));

	wire_envelope_init(&req);
	fr.receipt = "r";
	req.request_id = "after";
	req.body_case = ORO__ENVELOPE__BODY_FOLLOW_RECEIPT;
	req.follow_receipt = &fr;
	assert_int_equal(wire_send_request(p->dealer, &req), 0);
	assert_int_equal(recv_routed_wait(p->router, &peer, &env, &err, rid), WIRE_OK);
	assert_string_equal(rid, "after");
	assert_string_equal(env->follow_receipt->receipt, "r");
	wire_envelope_free(&env);
	assert_false(wait_readable(p->router, 0));
}

/* Frames a server may send and what the DEALER side must make of them. */
static const struct reply_row {
	const char *name;
	int n;
	const char *frames[MAX_FRAMES]; /* after the identity the ROUTER strips */
	enum wire_recv_status status;
	const char *code;
} reply_rows[] = {
        {"no empty delimiter", 1, {"08 01 f2 01 00"}, WIRE_DROPPED, ORO_E_MALFORMED},
        {"an extra frame", 3, {"", "08 01 f2 01 00", "00"}, WIRE_DROPPED, ORO_E_MALFORMED},
        {"delimiter not empty", 2, {"00", "08 01 f2 01 00"}, WIRE_DROPPED, ORO_E_MALFORMED},
        {"delimiter only", 1, {""}, WIRE_DROPPED, ORO_E_MALFORMED},
        {"garbage payload", 2, {"", "ff"}, WIRE_REFUSED, ORO_E_MALFORMED},
        {"version 2", 2, {"", "08 02 f2 01 00"}, WIRE_REFUSED, ORO_E_BAD_VERSION},
        {"no body", 2, {"", "08 01"}, WIRE_REFUSED, ORO_E_UNKNOWN_TYPE},
};

/* Each wrong reply is dropped or refused and counted; the socket stays in step. */
static void test_framing_reply_shapes(void **state)
{
	struct pair *p = *state;
	struct wire_counters before;
	struct wire_peer peer;
	struct oro_error err = {0};
	Oro__Envelope req, *env;
	Oro__Subscribe sub = ORO__SUBSCRIBE__INIT;
	char rid[64];
	uint64_t dropped = 0, refused = 0;

	/* learn the DEALER's identity */
	wire_envelope_init(&req);
	req.body_case = ORO__ENVELOPE__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	assert_int_equal(wire_send_request(p->dealer, &req), 0);
	assert_int_equal(recv_routed_wait(p->router, &peer, &env, &err, rid), WIRE_OK);
	wire_envelope_free(&env);

	before = wire_counters;
	for (size_t r = 0; r < NELEM(reply_rows); r++) {
		const struct reply_row *row = &reply_rows[r];
		enum wire_recv_status st;

		memset(&err, 0, sizeof err);
		send_frames(p->router, peer.id, peer.len, row->frames, row->n);
		st = recv_reply_wait(p->dealer, &env, &err);
		if (st != row->status)
			fail_msg("%s: status %d, want %d", row->name, (int)st, (int)row->status);
		assert_null(env);
		if (strcmp(err.code, row->code) != 0)
			fail_msg("%s: code %s, want %s", row->name, err.code, row->code);
		if (st == WIRE_DROPPED)
			dropped++;
		else
			refused++;
	}
	assert_int_equal(wire_counters.received, before.received + NELEM(reply_rows));
	assert_int_equal(wire_counters.dropped, before.dropped + dropped);
	assert_int_equal(wire_counters.refused, before.refused + refused);

	assert_int_equal(wire_send_routed(p->router, &peer, &req), 0);
	assert_int_equal(recv_reply_wait(p->dealer, &env, &err), WIRE_OK);
	assert_int_equal(env->body_case, ORO__ENVELOPE__BODY_SUBSCRIBE);
	wire_envelope_free(&env);
	assert_false(wait_readable(p->dealer, 0));
}

/*
 * Prompts over PUB/SUB: wire_publish_prompt sends the golden Prompt in one
 * frame and never blocks; wire_drain_prompts reads at most max of them,
 * whatever their content.
 */
static void test_prompts(void **state)
{
	void *ctx = zmq_ctx_new();
	void *pub = sock_new(ctx, ZMQ_PUB);
	void *sub = sock_new(ctx, ZMQ_SUB);
	void *lonely = sock_new(ctx, ZMQ_PUB);
	uint8_t *frames[MAX_FRAMES];
	size_t lens[MAX_FRAMES];
	struct oro_error err = {0};
	Oro__Envelope *env;
	bool joined = false;
	int n, spins;

	(void)state;
	/* with no subscriber at all a prompt is dropped, without blocking */
	assert_int_equal(zmq_bind(lonely, "inproc://test-wire-nobody"), 0);
	wire_publish_prompt(lonely, "report_filed", 1);

	assert_int_equal(zmq_bind(pub, "inproc://test-wire-prompts"), 0);
	assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0), 0);
	assert_int_equal(zmq_connect(sub, "inproc://test-wire-prompts"), 0);
	assert_false(wire_drain_prompts(sub, 10));

	/* slow joiner: the subscription reaches PUB some time after connect */
	for (int i = 0; i < 200 && !joined; i++) {
		wire_publish_prompt(pub, "join", 1);
		joined = wait_readable(sub, 10);
	}
	assert_true(joined);
	for (spins = 0; spins < 1000 && wire_drain_prompts(sub, 100); spins++)
		;
	assert_true(spins < 1000);
	assert_false(wire_drain_prompts(sub, 10));

	/* one frame, exactly the golden Prompt */
	wire_publish_prompt(pub, "report_filed", 42);
	n = recv_raw(sub, frames, lens);
	assert_int_equal(n, 1);
	golden_assert(GOLDEN_DIR "prompt.hex", frames[0], lens[0]);
	free_raw(frames, n);

	/* id 0 means "not known": no id on the wire */
	wire_publish_prompt(pub, "deliveries_created", 0);
	n = recv_raw(sub, frames, lens);
	assert_int_equal(n, 1);
	env = wire_decode(frames[0], lens[0], &err, NULL);
	assert_non_null(env);
	assert_int_equal(env->body_case, ORO__ENVELOPE__BODY_PROMPT);
	assert_string_equal(env->prompt->kind, "deliveries_created");
	assert_false(env->prompt->has_id);
	assert_null(env->request_id);
	wire_envelope_free(&env);
	free_raw(frames, n);

	/* draining: at most max per call; content is not looked at */
	wire_publish_prompt(pub, "report_filed", 1);
	wire_publish_prompt(pub, "report_filed", 2);
	assert_true(zmq_send(pub, "\xff", 1, 0) == 1);
	assert_true(wait_readable(sub, WAIT_MS));
	assert_true(wire_drain_prompts(sub, 2));
	assert_true(wait_readable(sub, 0));
	assert_true(wire_drain_prompts(sub, 5));
	assert_false(wire_drain_prompts(sub, 5));
	assert_false(wire_drain_prompts(sub, 0));

	zmq_close(lonely);
	zmq_close(sub);
	zmq_close(pub);
	zmq_ctx_term(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_decode_scalar_tail_fields),
	        cmocka_unit_test(test_envelope_init_free),
	        cmocka_unit_test(test_roundtrip_every_body),
	        cmocka_unit_test(test_decode_refusals),
	        cmocka_unit_test(test_decode_request_id_length),
	        cmocka_unit_test(test_decode_truncated),
	        cmocka_unit_test(test_decode_garbage),
	        cmocka_unit_test(test_concern_pb_roundtrip),
	        cmocka_unit_test(test_concern_from_pb_edges),
	        cmocka_unit_test(test_golden_encodings),
	        cmocka_unit_test(test_golden_file_concern_to_struct),
	        cmocka_unit_test_setup_teardown(test_framing_empty, pair_setup, pair_teardown),
	        cmocka_unit_test_setup_teardown(test_framing_request_reply, pair_setup, pair_teardown),
	        cmocka_unit_test(test_framing_request_unconnected),
	        cmocka_unit_test_setup_teardown(test_framing_refused, pair_setup, pair_teardown),
	        cmocka_unit_test_setup_teardown(test_framing_reply_shapes, pair_setup, pair_teardown),
	        cmocka_unit_test(test_prompts),
	        cmocka_unit_test(test_embedded_nul_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
