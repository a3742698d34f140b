/*
 * oro-probe: a test tool that sends hand-made frames to an Oro socket and
 * prints what comes back, so that tests can feed daemons malformed input
 * that no well-behaved client would produce.
 *
 *   oro-probe ENDPOINT [--timeout MS] [--zeros N] FRAME...
 *
 * Each FRAME is one ZeroMQ frame written in hex ("" or "-" for an empty
 * frame); --zeros N adds one final frame of N zero bytes. The frames go out
 * as one multipart message on a DEALER socket. Prints one JSON line: the
 * reply's body type and, for an Error, its code, field and message; or
 * {"reply": null} when nothing came back in time. Exit 0 either way;
 * exit 2 on usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <jansson.h>

#include "alloc.h"
#include "wire.h"

/* Decode hex text into a new buffer; *len bytes. */
static unsigned char *from_hex(const char *s, size_t *len)
{
	size_t n = strlen(s);
	unsigned char *b = xmalloc(n / 2 + 1);

	if (n % 2 != 0) {
		fprintf(stderr, "oro-probe: odd-length hex \"%s\"\n", s);
		exit(2);
	}
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			fprintf(stderr, "oro-probe: bad hex \"%s\"\n", s);
			exit(2);
		}
		b[i] = (unsigned char)v;
	}
	*len = n / 2;
	return b;
}

int main(int argc, char **argv)
{
	void *ctx = zmq_ctx_new();
	void *sock = zmq_socket(ctx, ZMQ_DEALER);
	int timeout = 3000, zero = 0;
	long zeros = -1;
	int first = 2, last;
	json_t *out;

	if (argc < 3) {
		fprintf(stderr, "usage: oro-probe ENDPOINT [--timeout MS] [--zeros N] FRAME...\n");
		return 2;
	}
	while (first < argc && strncmp(argv[first], "--", 2) == 0) {
		if (strcmp(argv[first], "--timeout") == 0 && first + 1 < argc)
			timeout = atoi(argv[first + 1]);
		else if (strcmp(argv[first], "--zeros") == 0 && first + 1 < argc)
			zeros = atol(argv[first + 1]);
		else
			return 2;
		first += 2;
	}
	zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
	if (zmq_connect(sock, argv[1]) != 0) {
		fprintf(stderr, "oro-probe: cannot connect to %s\n", argv[1]);
		return 2;
	}
	last = argc - 1;
	for (int i = first; i <= last; i++) {
		size_t len = 0;
		unsigned char *b = strcmp(argv[i], "-") == 0 ? xmalloc(1) : from_hex(argv[i], &len);

		zmq_send(sock, b, len, (i < last || zeros >= 0) ? ZMQ_SNDMORE : 0);
		free(b);
	}
	if (zeros >= 0) {
		unsigned char *b = xcalloc((size_t)zeros + 1, 1);

		zmq_send(sock, b, (size_t)zeros, 0);
		free(b);
	}

	/* the reply: [empty][Envelope] */
	zmq_msg_t f[2];
	int n = 0, more = 1;

	while (more && n < 2) {
		zmq_msg_init(&f[n]);
		if (zmq_msg_recv(&f[n], sock, 0) < 0) {
			zmq_msg_close(&f[n]);
			break;
		}
		more = zmq_msg_more(&f[n]);
		n++;
	}
	if (n < 2) {
		out = json_pack("{s:n}", "reply");
	} else {
		struct oro_error err = {0};
		Oro__Envelope *env = wire_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &err, NULL);

		if (env == NULL)
			out = json_pack("{s:s, s:s}", "reply", "undecodable", "code", err.code);
		else if (env->body_case == ORO__ENVELOPE__BODY_ERROR)
			out = json_pack("{s:s, s:s?, s:s?, s:s?}", "reply", "error", "code", env->error->code, "field",
			                env->error->field, "message", env->error->message);
		else
			out = json_pack("{s:s, s:i}", "reply", "message", "body", (int)env->body_case);
		wire_envelope_free(&env);
	}
	for (int i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	zmq_close(sock);
	zmq_ctx_term(ctx);
	return 0;
}
