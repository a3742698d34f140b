/*
 * wire_seeds: writes the seed corpus of fuzz_wire (tests/fuzz/corpus/wire/)
 * with the real encoder, wire_encode(). Not run by the tests: the seeds are
 * checked in, and this program is how they were made and how to remake them
 * when proto/oro.proto changes:
 *
 *   cmake --build build-fuzz --target fuzz-wire-seeds
 *   build-fuzz/fuzz/fuzz-wire-seeds tests/fuzz/corpus/wire
 *
 * Seeds, each one Envelope:
 *   BODY-empty  every member of the body oneof, with no field set;
 *   BODY-full   every member, every field set (repeated fields twice),
 *               filled through the protobuf-c descriptors, so that a field
 *               added to proto/oro.proto gets a seed without editing this;
 *   a few realistic messages (a concern as `oro report` files it, a full
 *               delivery, an error reply);
 *   bad-*       near misses that the decoder must refuse: another version,
 *               no version, no body, an unknown field at the top and nested,
 *               a truncated message, a field given twice, invalid UTF-8, a
 *               NUL inside a text, a non-minimal varint.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "concern.h"
#include "wire.h"

/* Directory the seeds go to (argv[1]). */
static const char *out_dir;

/* Write n bytes to out_dir/name, or exit. */
static void seed_write(const char *name, const uint8_t *b, size_t n)
{
	char *path = xasprintf("%s/%s", out_dir, name);
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	free(path);
}

/* Encode env and write it as name. */
static void seed_envelope(const char *name, Oro__Envelope *env)
{
	size_t n;
	uint8_t *b = wire_encode(env, &n);

	seed_write(name, b, n);
	free(b);
}

/* Size of one value of field f in the C struct; 0 for a type oro.proto does not use. */
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
		fprintf(stderr, "wire_seeds: field %s: protobuf-c type %d not handled; extend value_fill()\n", f->name,
		        (int)f->type);
		exit(1);
	}
}

static ProtobufCMessage *msg_new(const ProtobufCMessageDescriptor *d, bool full);

/* Store at p a plausible value for field f. */
static void value_fill(const ProtobufCFieldDescriptor *f, void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32: {
		uint32_t v = 15;

		memcpy(p, &v, sizeof v);
		break;
	}
	case PROTOBUF_C_TYPE_INT64: {
		int64_t v = 4711;

		memcpy(p, &v, sizeof v);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean v = 1;

		memcpy(p, &v, sizeof v);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *v = xasprintf("%s-\xc3\xa5", f->name); /* "å": multi-byte UTF-8 */

		memcpy(p, &v, sizeof v);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *v = msg_new(f->descriptor, true);

		memcpy(p, &v, sizeof v);
		break;
	}
	default:
		(void)value_size(f);
	}
}

/* A new message of type d, every field set when full (oneofs left alone).
 * Everything comes from malloc: free with protobuf_c_message_free_unpacked(m, NULL). */
static ProtobufCMessage *msg_new(const ProtobufCMessageDescriptor *d, bool full)
{
	ProtobufCMessage *m = xcalloc(1, d->sizeof_message);
	char *base = (char *)m;

	d->message_init(m);
	for (unsigned i = 0; full && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = 2, size = value_size(f);
			char *arr = xcalloc(n, size);

			for (size_t j = 0; j < n; j++)
				value_fill(f, arr + j * size);
			memcpy(base + f->quantifier_offset, &n, sizeof n);
			memcpy(base + f->offset, &arr, sizeof arr);
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE) {
			protobuf_c_boolean yes = 1;

			memcpy(base + f->quantifier_offset, &yes, sizeof yes);
		}
		value_fill(f, base + f->offset);
	}
	return m;
}

/* One -empty and one -full seed per member of the Envelope's body oneof. */
static void seeds_every_body(void)
{
	const ProtobufCMessageDescriptor *d = &oro__envelope__descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		for (int full = 0; full <= 1; full++) {
			Oro__Envelope *env = xcalloc(1, sizeof *env);
			ProtobufCMessage *body = msg_new(f->descriptor, full);
			char *name = xasprintf("%s-%s", f->name, full ? "full" : "empty");

			wire_envelope_init(env);
			env->request_id = full ? xstrdup("req-1") : NULL;
			memcpy((char *)env + f->quantifier_offset, &f->id, sizeof f->id);
			memcpy((char *)env + f->offset, &body, sizeof body);
			seed_envelope(name, env);
			free(name);
			protobuf_c_message_free_unpacked(&env->base, NULL);
		}
	}
}

/* The concern `oro report --file deploy/examples/child-travel.json` files. */
static void seed_file_concern(void)
{
	struct concern c = {
	        .client_key = "demo-child-travel",
	        .category = "travel_conflict_zone",
	        .urgency = "concern",
	        .subject_kind = "child",
	        .has_age = true,
	        .age = 15,
	        .subject_name = "Elev Exempelsson",
	        .subject_unit = "Hagalundsskolan, klass 9B",
	        .setting = "school",
	        .district = "Hagalund",
	        .description = "Eleven har berättat för klasskamrater att hen ska resa till en konfliktzon.",
	        .observed_at = "2026-11-20T10:15:00+01:00",
	        .relatives_informed = "unknown",
	        .reporter_unit = "Hagalundsskolan",
	        .reporter_phone = "08-123 456 78",
	        .reporter_principal = "anna",
	};
	Oro__Envelope env;
	Oro__FileConcern m;
	Oro__Subject subject;
	Oro__Reporter reporter;

	wire_concern_to_pb(&c, &m, &subject, &reporter);
	wire_envelope_init(&env);
	env.request_id = "r-1";
	env.body_case = ORO__ENVELOPE__BODY_FILE_CONCERN;
	env.file_concern = &m;
	seed_envelope("file_concern-child-travel", &env);

	/* the same with a personal number and an age band, as a routing test would */
	subject.personal_number = "20101010-1010";
	subject.has_age = false;
	subject.age_band = "12-17";
	seed_envelope("file_concern-age-band", &env);
}

/* A full delivery to the police and a notice-level inbox of two. */
static void seed_deliveries(void)
{
	Oro__Envelope env;
	Oro__Delivery d, notice[2];
	Oro__Delivery *list[2] = {&notice[0], &notice[1]};
	Oro__Subject subject;
	Oro__Reporter reporter;
	Oro__Inbox inbox;

	oro__delivery__init(&d);
	oro__subject__init(&subject);
	oro__reporter__init(&reporter);
	d.has_delivery_id = true;
	d.delivery_id = 12;
	d.case_number = "ORO-2026-000012";
	d.department = "polis";
	d.view = "full";
	d.priority = "P1";
	d.deadline = "2026-11-20T14:15:00Z";
	d.disclosure_basis = "Misstanke om brott (suspected crime)";
	d.state = "sent";
	d.category = "travel_conflict_zone";
	d.urgency = "concern";
	d.subject_kind = "child";
	d.age_band = "12-17";
	d.setting = "school";
	d.district = "Hagalund";
	d.relatives_informed = "unknown";
	d.filed_at = "2026-11-20T10:15:00Z";
	d.description = "Talks about travelling to join an armed group.";
	subject.kind = "child";
	subject.has_age = true;
	subject.age = 15;
	subject.name = "Elev Exempelsson";
	d.subject = &subject;
	reporter.unit = "Hagalundsskolan";
	reporter.phone = "08-123 456 78";
	d.reporter = &reporter;
	wire_envelope_init(&env);
	env.body_case = ORO__ENVELOPE__BODY_DELIVERY;
	env.delivery = &d;
	seed_envelope("delivery-police-full", &env);

	for (int i = 0; i < 2; i++) {
		oro__delivery__init(&notice[i]);
		notice[i].has_delivery_id = true;
		notice[i].delivery_id = 20 + i;
		notice[i].case_number = i ? "ORO-2026-000021" : "ORO-2026-000020";
		notice[i].view = "notice";
		notice[i].priority = "P3";
		notice[i].state = i ? "acknowledged" : "sent";
		notice[i].category = "propaganda";
		notice[i].district = "Råsunda";
	}
	oro__inbox__init(&inbox);
	inbox.department = "slf-samordnare";
	inbox.n_deliveries = 2;
	inbox.deliveries = list;
	wire_envelope_init(&env);
	env.request_id = "r-9";
	env.body_case = ORO__ENVELOPE__BODY_INBOX;
	env.inbox = &inbox;
	seed_envelope("inbox-two-notices", &env);
}

/* A small Subscribe, encoded; the caller frees. The bad-* seeds are edits of it. */
static uint8_t *subscribe_bytes(size_t *n, const char *department)
{
	Oro__Envelope env;
	Oro__Subscribe s;

	oro__subscribe__init(&s);
	s.department = (char *)department;
	s.principal = "anna";
	wire_envelope_init(&env);
	env.request_id = "r-2";
	env.body_case = ORO__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &s;
	return wire_encode(&env, n);
}

/* Write b[0..n) with extra bytes appended. */
static void seed_with_suffix(const char *name, const uint8_t *b, size_t n, const uint8_t *extra, size_t n_extra)
{
	uint8_t *buf = xmalloc(n + n_extra);

	memcpy(buf, b, n);
	memcpy(buf + n, extra, n_extra);
	seed_write(name, buf, n + n_extra);
	free(buf);
}

/* Near misses. The Subscribe encodes as 08 01 (version), 12 03 "r-2",
 * f2 01 LEN (field 30, the body) then 0a LEN department, 12 04 "anna". */
static void seeds_bad(void)
{
	static const uint8_t unknown_top[] = {0x78, 0x05};          /* field 15, varint 5 */
	static const uint8_t twice[] = {0x12, 0x03, 'r', '-', '3'}; /* request_id again */
	static const uint8_t no_body[] = {0x08, 0x01, 0x12, 0x03, 'r', '-', '4'};
	static const uint8_t long_varint[] = {0x08, 0x81, 0x00, 0xa2,
	                                      0x01, 0x02, 0x10, 0x01};        /* version 1 in 2 bytes */
	static const uint8_t unknown_body[] = {0x08, 0x01, 0xc2, 0x0c, 0x00}; /* field 200, empty */
	size_t n;
	uint8_t *b = subscribe_bytes(&n, "polis");

	b[1] = 2;
	seed_write("bad-version-2", b, n);
	b[1] = 1;
	seed_write("bad-no-version", b + 2, n - 2);
	seed_write("bad-truncated", b, n - 1);
	seed_with_suffix("bad-unknown-field", b, n, unknown_top, sizeof unknown_top);
	seed_with_suffix("bad-field-twice", b, n, twice, sizeof twice);
	seed_write("bad-no-body", no_body, sizeof no_body);
	seed_write("bad-non-minimal-varint", long_varint, sizeof long_varint);
	seed_write("bad-unknown-body", unknown_body, sizeof unknown_body);
	free(b);

	/* edit the department's bytes in place, same lengths: "poliå" is the 6
	 * bytes before the principal's 12 04 a n n a, its 0xc3 at n - 8 */
	b = subscribe_bytes(&n, "poli\xc3\xa5");
	b[n - 8] = 0xff; /* the lead byte of "å" becomes 0xff: invalid UTF-8 */
	seed_write("bad-invalid-utf8", b, n);
	b[n - 8] = 0x00; /* a NUL inside the text */
	seed_write("bad-nul-in-text", b, n);
	free(b);

	/* an unknown field at the end of the body (the last field of the
	 * envelope): 08 01 12 03 r - 2 f2 01 LEN, so the body's length is byte 9 */
	b = subscribe_bytes(&n, "polis");
	b = xrealloc(b, n + 2);
	b[9] = (uint8_t)(b[9] + 2);
	b[n] = 0x78; /* field 15, varint 7 */
	b[n + 1] = 0x07;
	seed_write("bad-unknown-nested-field", b, n + 2);
	free(b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz-wire-seeds DIR\n");
		return 2;
	}
	out_dir = argv[1];
	seeds_every_body();
	seed_file_concern();
	seed_deliveries();
	seeds_bad();
	return 0;
}
