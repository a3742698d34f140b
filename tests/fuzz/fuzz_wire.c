/*
 * fuzz_wire: libFuzzer harness for wire_decode(), the strict decoder of the
 * protocol Envelope. Every message of proto/oro.proto travels as a member of
 * the Envelope's oneof, so this one entry point reaches the decoding of
 * each of them.
 *
 * Besides "no crash, no leak, no undefined behaviour" it checks what the
 * decoder promises (wire.h, protocol.md): a refusal carries one of the
 * decoder's error codes; an accepted envelope has version 1 and a body,
 * re-encodes (wire_encode) to exactly as many bytes as were read (anything
 * non-canonical is refused), and that re-encoding decodes again and encodes
 * to the same bytes. A FileConcern body also goes through
 * wire_concern_from_pb() and concern_validate(), as oro-intake does. A broken
 * promise aborts, which libFuzzer reports as a crash and saves the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concern.h"
#include "error.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message when a promise of the decoder does not hold. */
#define FUZZ_CHECK(cond, what)                                                    \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz_wire: broken promise: %s\n", what); \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* True when code is one that wire_decode() gives. */
static bool wire_code_known(const char *code)
{
	return strcmp(code, ORO_E_MALFORMED) == 0 || strcmp(code, ORO_E_BAD_VERSION) == 0 ||
	       strcmp(code, ORO_E_UNKNOWN_TYPE) == 0 || strcmp(code, ORO_E_INVALID_UTF8) == 0;
}

/* The intake's path for a FileConcern: copy into a concern and validate it
 * (no ruleset: any district name is accepted). Only memory safety is checked. */
static void fuzz_file_concern(const Oro__FileConcern *m)
{
	struct concern c;
	struct oro_error err;

	memset(&c, 0, sizeof c);
	memset(&err, 0, sizeof err);
	wire_concern_from_pb(m, &c);
	if (concern_validate(&c, NULL, 0, &err) < 0)
		FUZZ_CHECK(oro_error_isset(&err), "concern_validate refused without an error");
	concern_clear(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oro_error err;
	char request_id[64];
	Oro__Envelope *env, *again;
	uint8_t *first, *second;
	size_t first_len, second_len;

	memset(&err, 0, sizeof err);
	memset(request_id, 'x', sizeof request_id);
	env = wire_decode(data, size, &err, request_id);
	FUZZ_CHECK(memchr(request_id, '\0', sizeof request_id) != NULL, "request_id is not terminated");
	if (env == NULL) {
		FUZZ_CHECK(oro_error_isset(&err), "a refusal without an error");
		FUZZ_CHECK(wire_code_known(err.code), "a refusal with a code wire_decode does not give");
		return 0;
	}
	FUZZ_CHECK(env->has_version && env->version == ORO_PROTOCOL_VERSION, "accepted another version");
	FUZZ_CHECK(env->body_case != ORO__ENVELOPE__BODY__NOT_SET, "accepted an envelope with no body");
	if (env->body_case == ORO__ENVELOPE__BODY_FILE_CONCERN)
		fuzz_file_concern(env->file_concern);

	first = wire_encode(env, &first_len);
	FUZZ_CHECK(first_len == size, "accepted an encoding that is not canonical (re-encodes to another size)");
	again = wire_decode(first, first_len, &err, NULL);
	FUZZ_CHECK(again != NULL, "the re-encoding of an accepted envelope is refused");
	second = wire_encode(again, &second_len);
	FUZZ_CHECK(second_len == first_len && memcmp(first, second, first_len) == 0,
	           "encode(decode(encode(m))) differs from encode(m)");

	free(second);
	free(first);
	wire_envelope_free(&again);
	wire_envelope_free(&env);
	return 0;
}
