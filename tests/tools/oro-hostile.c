/*
 * oro-hostile: a test tool that sends a daemon's ROUTER socket (oro-intake
 * or oro-notify) a stream of hostile messages, reads what comes back
 * without blocking, and counts the replies by error code.
 *
 *   oro-hostile --endpoint E --socket intake|notify --frames N
 *               [--max-size B] [--seed S] [--connections C] [--window W]
 *               [--mark K --mark-file F] [--timeout-ms T]
 *
 *   --endpoint E     the daemon's intake_endpoint or notify_endpoint
 *   --socket         which daemon it is: decides which message types are
 *                    served there (and so which are of the wrong type)
 *   --frames N       hostile messages to send
 *   --max-size B     the daemons' max_message_size (default 65536): the
 *                    oversized messages are above it, the others below
 *   --seed S         random seed (default: time and pid); printed
 *   --connections C  DEALER connections for the answered messages (default
 *                    4), some with odd routing ids (1 byte, 255 bytes)
 *   --window W       messages awaiting a reply per connection (default 32):
 *                    bounded, so the daemon's queues and ours stay small
 *   --mark K         after K messages (and their replies) create the file F,
 *   --mark-file F    wait (at most 60 s) until it is removed, then go on: the
 *                    test samples the daemons' memory there
 *   --timeout-ms T   a connection whose replies stop for T ms (default 5000)
 *                    counts its outstanding messages as lost and reconnects
 *
 * The kinds of message, chosen at random: random bytes; valid messages cut
 * short; messages above max_message_size (on a connection of their own,
 * reopened after each one, since the daemon's socket drops the message and
 * the connection); wrong or missing protocol versions; unknown message
 * types; invalid UTF-8 (overlong forms, surrogates, 0xFF, cut sequences,
 * control characters) in request ids and fields; multipart messages of the
 * wrong shape (1, 3, 5 frames, empty frames, a non-empty delimiter, up to
 * 48 frames); valid envelopes of a type the socket does not serve; served
 * types with missing, over-long or unknown values (never a valid request:
 * no real department, delivery or client key is named); and broken
 * protocol buffer encodings. Every message except the oversized ones must
 * get exactly one reply.
 *
 * Prints one JSON line: seed, messages sent by kind, replies by error code
 * (non-error replies by body type), replies that were not [empty][Envelope]
 * or did not decode, messages lost (no reply), reconnections, seconds.
 * Exit 0 when it ran (whatever the replies); 2 on a usage error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <jansson.h>

#include "alloc.h"
#include "wire.h"

#define HOSTILE_MAX_CONNS  16
#define HOSTILE_MAX_FRAMES 48

static const char usage_text[] =
        "usage: oro-hostile --endpoint E --socket intake|notify --frames N [--max-size B] [--seed S]\n"
        "                   [--connections C] [--window W] [--mark K --mark-file F] [--timeout-ms T]\n";

/* The kinds of hostile message (names in kind_names). */
enum kind {
	K_RANDOM,
	K_TRUNCATED,
	K_OVERSIZED,
	K_VERSION,
	K_UNKNOWN_TYPE,
	K_UTF8,
	K_SHAPE,
	K_MANY_FRAMES,
	K_WRONG_TYPE,
	K_BAD_VALUES,
	K_BAD_PROTOBUF,
	K_COUNT
};
static const char *const kind_names[K_COUNT] = {
        "random_bytes",          "truncated",    "oversized",    "wrong_version",
        "unknown_type",          "invalid_utf8", "wrong_shape",  "many_frames",
        "wrong_type_for_socket", "bad_values",   "bad_protobuf",
};
/* Relative frequencies of the kinds (oversized ones are costly: few). */
static const int kind_weight[K_COUNT] = {14, 12, 2, 8, 8, 12, 10, 3, 10, 12, 9};

/* One multipart message: its frames. */
struct msg {
	int n;
	unsigned char *data[HOSTILE_MAX_FRAMES];
	size_t len[HOSTILE_MAX_FRAMES];
};

/* One DEALER connection and its replies still awaited. */
struct conn {
	void *sock;
	long outstanding;
	int64_t last_progress; /* when it last got a reply or became idle */
	int odd_id;            /* 0: default routing id; 1: one byte; 2: 255 bytes */
};

/* The run: options, connections, counters. */
struct hostile {
	const char *endpoint, *mark_file;
	bool intake;
	long frames, max_size, window, mark, timeout_ms;
	int n_conns;
	uint64_t rng;
	void *zmq;
	struct conn conns[HOSTILE_MAX_CONNS];
	long sent[K_COUNT];
	json_t *replies;  /* error code or body type -> count */
	long bad_replies; /* not [empty][Envelope], or not decodable */
	long lost, reconnects, oversized_replies;
	long request_no;
};

/* Print a usage error and exit 2. */
static void usage_fail(const char *what)
{
	fprintf(stderr, "oro-hostile: %s\n%s", what, usage_text);
	exit(2);
}

/* Monotonic clock in milliseconds. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next pseudo-random number (xorshift64*). */
static uint64_t rnd(struct hostile *h)
{
	h->rng ^= h->rng >> 12;
	h->rng ^= h->rng << 25;
	h->rng ^= h->rng >> 27;
	return h->rng * 2685821657736338717ULL;
}

/* A pseudo-random number in [0, n). */
static size_t below(struct hostile *h, size_t n)
{
	return n ? (size_t)(rnd(h) % n) : 0;
}

/* Fill len bytes at p with random bytes. */
static void random_bytes(struct hostile *h, unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)rnd(h);
}

/* Append a frame (copied) to m. */
static void add_frame(struct msg *m, const void *data, size_t len)
{
	if (m->n == HOSTILE_MAX_FRAMES)
		return;
	m->data[m->n] = xmalloc(len + 1);
	if (len)
		memcpy(m->data[m->n], data, len);
	m->len[m->n++] = len;
}

/* Append a frame of len random bytes to m. */
static void add_random_frame(struct hostile *h, struct msg *m, size_t len)
{
	unsigned char *b = xmalloc(len + 1);

	random_bytes(h, b, len);
	add_frame(m, b, len);
	free(b);
}

/* Free the frames of m. */
static void msg_clear(struct msg *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->data[i]);
	m->n = 0;
}

/* Serialize env exactly as set (version included or not); *len bytes, caller frees. */
static unsigned char *pack(Oro__Envelope *env, size_t *len)
{
	unsigned char *b;

	*len = oro__envelope__get_packed_size(env);
	b = xmalloc(*len + 1);
	oro__envelope__pack(env, b);
	return b;
}

/* A new request id for env (most messages carry one). */
static char *request_id(struct hostile *h)
{
	return xasprintf("hostile-%ld", ++h->request_no);
}

/* PREFIX-xxxxxxxx (random hex): never a department code, client key or principal in use. */
static char *nope_name(struct hostile *h, const char *prefix)
{
	return xasprintf("%s-%08llx", prefix, (unsigned long long)(rnd(h) & 0xffffffffULL));
}

/* An invalid UTF-8 (or control character) text, NUL-terminated; caller frees. */
static char *bad_text(struct hostile *h)
{
	static const char *const bad[] = {
	        "\xc0\x80",             /* overlong NUL */
	        "\xe0\x80\xaf",         /* overlong '/' */
	        "\xed\xa0\x80",         /* surrogate */
	        "\xf4\x90\x80\x80",     /* above U+10FFFF */
	        "\xff",                 /* never in UTF-8 */
	        "\xfe\xff",             /* never in UTF-8 */
	        "\xe2\x82",             /* cut short */
	        "\x80",                 /* lone continuation byte */
	        "\xf8\x88\x80\x80\x80", /* five bytes */
	        "\x1b[31m",             /* ESC: a control character */
	        "\x01",                 /* SOH: a control character */
	        "\x7f\x08",             /* DEL and backspace */
	};
	const char *b = bad[below(h, sizeof bad / sizeof bad[0])];

	return below(h, 2) ? xasprintf("Bergshamra %s", b) : xasprintf("%s", b);
}

/*
 * A served request with wrong values (never one that would be carried
 * out): set into env, strings allocated into own[] (caller frees).
 * With utf8, one of its texts is invalid UTF-8 instead.
 */
static void served_request(struct hostile *h, Oro__Envelope *env, bool utf8, char **own, int *n_own,
                           Oro__FileConcern *fc, Oro__Subject *subj, Oro__FollowReceipt *fr, Oro__Subscribe *sub,
                           Oro__Acknowledge *ack, Oro__ShowDelivery *show, Oro__ListInbox *inbox, Oro__Reroute *rr)
{
	char *bad = utf8 ? bad_text(h) : NULL;
	size_t choice = below(h, 6);

	if (bad)
		own[(*n_own)++] = bad;
	if (h->intake) {
		if (choice < 3) {
			oro__file_concern__init(fc);
			oro__subject__init(subj);
			fc->client_key = own[(*n_own)++] = nope_name(h, "hostile");
			/* not a category: validation refuses it, nothing is stored */
			fc->category = choice == 0 ? "gossip" : "propaganda";
			fc->urgency = choice == 1 ? "whenever" : "concern";
			subj->kind = "adult";
			fc->subject = subj;
			fc->setting = "online";
			fc->district = choice == 2 ? "Atlantis" : "Råsunda";
			fc->description = "Hostile test input.";
			if (below(h, 4) == 0) {
				fc->reporter_principal = NULL; /* missing */
			} else if (below(h, 4) == 0) {
				char *p = xmalloc(260);

				memset(p, 'p', 259);
				p[259] = '\0';
				fc->reporter_principal = own[(*n_own)++] = p; /* too long */
			} else {
				fc->reporter_principal = "hostile";
			}
			if (bad) {
				/* refused by strict decoding, before validation */
				if (below(h, 2))
					fc->description = bad;
				else
					fc->district = bad;
			}
			env->body_case = ORO__ENVELOPE__BODY_FILE_CONCERN;
			env->file_concern = fc;
		} else {
			oro__follow_receipt__init(fr);
			if (bad) {
				fr->receipt = bad;
			} else if (choice == 3) {
				fr->receipt = below(h, 2) ? "" : "not-a-receipt";
			} else {
				/* well-formed, but no case has it (160 random bits) */
				char *r = xmalloc(33);

				for (int i = 0; i < 32; i++)
					r[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[below(h, 32)];
				r[32] = '\0';
				fr->receipt = own[(*n_own)++] = r;
			}
			env->body_case = ORO__ENVELOPE__BODY_FOLLOW_RECEIPT;
			env->follow_receipt = fr;
		}
		return;
	}
	char *dept = own[(*n_own)++] = nope_name(h, "nope");

	switch (choice) {
	case 0:
		oro__subscribe__init(sub);
		if (below(h, 3) == 0) {
			char *p = xmalloc(120);

			memset(p, 'd', 119);
			p[119] = '\0';
			dept = own[(*n_own)++] = p; /* too long */
		}
		sub->department = bad ? bad : (below(h, 4) ? dept : NULL);
		sub->principal = below(h, 4) ? "hostile" : NULL;
		env->body_case = ORO__ENVELOPE__BODY_SUBSCRIBE;
		env->subscribe = sub;
		break;
	case 1:
		oro__acknowledge__init(ack);
		ack->has_delivery_id = below(h, 5) != 0;
		ack->delivery_id = below(h, 2) ? -(int64_t)below(h, 1000) : (int64_t)(rnd(h) >> 1);
		ack->department = bad ? bad : dept;
		ack->principal = "hostile";
		env->body_case = ORO__ENVELOPE__BODY_ACKNOWLEDGE;
		env->acknowledge = ack;
		break;
	case 2:
		oro__show_delivery__init(show);
		show->has_delivery_id = true;
		show->delivery_id = 1 + (int64_t)below(h, 100);
		show->department = bad ? bad : dept;
		env->body_case = ORO__ENVELOPE__BODY_SHOW_DELIVERY;
		env->show_delivery = show;
		break;
	case 3:
		oro__list_inbox__init(inbox);
		inbox->department = bad ? bad : dept;
		inbox->has_limit = below(h, 2);
		inbox->limit = below(h, 2) ? 0 : 1001 + (uint32_t)below(h, 100000);
		env->body_case = ORO__ENVELOPE__BODY_LIST_INBOX;
		env->list_inbox = inbox;
		break;
	default:
		oro__reroute__init(rr);
		rr->has_delivery_id = true;
		rr->delivery_id = 1 + (int64_t)below(h, 100);
		rr->department = bad ? bad : dept;
		rr->to_department = "nope";
		rr->principal = below(h, 2) ? "hostile" : NULL;
		rr->reason = NULL; /* required: missing */
		env->body_case = ORO__ENVELOPE__BODY_REROUTE;
		env->reroute = rr;
		break;
	}
}

/*
 * Serialize one envelope: a served request with wrong values (utf8: with
 * invalid UTF-8; served false: of a type this socket does not serve),
 * with the given version (-1: none). Caller frees; *len bytes.
 */
static unsigned char *envelope_bytes(struct hostile *h, bool served, bool utf8, long version, size_t *len)
{
	Oro__Envelope env;
	Oro__FileConcern fc;
	Oro__Subject subj;
	Oro__FollowReceipt fr;
	Oro__Subscribe sub;
	Oro__Acknowledge ack;
	Oro__ShowDelivery show;
	Oro__ListInbox inbox;
	Oro__Reroute rr;
	Oro__Prompt prompt;
	Oro__FileReply reply;
	Oro__Error error;
	Oro__Delivery delivery;
	Oro__CaseStatus status;
	Oro__Subscribed subscribed;
	char *own[8];
	int n_own = 0;
	unsigned char *b;

	oro__envelope__init(&env);
	env.has_version = version >= 0;
	env.version = version >= 0 ? (uint32_t)version : 0;
	env.request_id = own[n_own++] = request_id(h);
	if (utf8 && below(h, 3) == 0) {
		/* the request id itself */
		free(env.request_id);
		env.request_id = own[n_own - 1] = bad_text(h);
		utf8 = false;
	}
	if (served) {
		served_request(h, &env, utf8, own, &n_own, &fc, &subj, &fr, &sub, &ack, &show, &inbox, &rr);
	} else {
		/* a type this socket does not serve: the other daemon's, or a reply or prompt */
		size_t pick = below(h, 6);

		if (pick == 0) {
			oro__prompt__init(&prompt);
			prompt.kind = "report_filed";
			env.body_case = ORO__ENVELOPE__BODY_PROMPT;
			env.prompt = &prompt;
		} else if (pick == 1) {
			oro__file_reply__init(&reply);
			reply.case_number = "ORO-2026-999999";
			env.body_case = ORO__ENVELOPE__BODY_FILE_REPLY;
			env.file_reply = &reply;
		} else if (pick == 2) {
			oro__error__init(&error);
			error.code = "internal";
			env.body_case = ORO__ENVELOPE__BODY_ERROR;
			env.error = &error;
		} else if (pick == 3) {
			oro__delivery__init(&delivery);
			delivery.has_delivery_id = true;
			delivery.delivery_id = 1;
			env.body_case = ORO__ENVELOPE__BODY_DELIVERY;
			env.delivery = &delivery;
		} else if (pick == 4) {
			oro__case_status__init(&status);
			status.state = "routed";
			env.body_case = ORO__ENVELOPE__BODY_CASE_STATUS;
			env.case_status = &status;
		} else {
			bool was = h->intake;

			/* the other daemon's request */
			h->intake = !was;
			served_request(h, &env, false, own, &n_own, &fc, &subj, &fr, &sub, &ack, &show, &inbox, &rr);
			h->intake = was;
			if (env.body_case == ORO__ENVELOPE__BODY_SUBSCRIBE) {
				oro__subscribed__init(&subscribed);
				subscribed.department = "nope";
				env.body_case = ORO__ENVELOPE__BODY_SUBSCRIBED;
				env.subscribed = &subscribed;
			}
		}
	}
	b = pack(&env, len);
	for (int i = 0; i < n_own; i++)
		free(own[i]);
	return b;
}

/* Broken protocol buffer encodings (as payloads); *len bytes, caller frees. */
static unsigned char *bad_protobuf(struct hostile *h, size_t *len)
{
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
	        {"\x08\x01\x62", 3},                                      /* length missing */
	        {"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12}, /* varint too long */
	        {"\x0a\x01\x01", 3},                                      /* version as bytes */
	        {"\x08\x81\x00\x62\x00", 5},                              /* non-minimal varint */
	        {"\x08\x01\x08\x01\x62\x00", 6},                          /* version twice */
	        {"\x08\x01\x62\xff\xff\xff\xff\x0f", 8},                  /* length beyond the end */
	        {"\x08\x01\x0b\x0c", 4},                                  /* a group */
	        {"\x08\x01\x52\x04\x22\x02\x08\x05", 8},                  /* unknown field in a subject */
	        {"\x08\x01\x12\x03\x61\x00\x62\x62\x00", 9},              /* NUL in request_id */
	        {"\x08\x01\xfa\x01\x03\x10\x80\x01", 8},                  /* acknowledge: bad nesting */
	        {"\x08\x01\x9a\x06\x00", 5},                              /* error body (99) to a daemon */
	        {"\x0f", 1},                                              /* wire type 7 */
	        {"\x00\x00\x00", 3},                                      /* field number 0 */
	};
	size_t i = below(h, sizeof bad / sizeof bad[0]);
	unsigned char *b = xmalloc(bad[i].len + 1);

	memcpy(b, bad[i].bytes, bad[i].len);
	*len = bad[i].len;
	return b;
}

/* An Envelope{version 1} with a body field number version 1 does not know. */
static unsigned char *unknown_type(struct hostile *h, size_t *len)
{
	static const unsigned field[] = {3, 9, 14, 21, 40, 50, 98, 100, 1000, 536870911};
	unsigned f = field[below(h, sizeof field / sizeof field[0])];
	unsigned char *b = xmalloc(32);
	size_t n = 0;
	uint64_t tag = ((uint64_t)f << 3) | 2;

	if (below(h, 5) == 0) {
		/* no body at all */
		b[n++] = 0x08;
		b[n++] = 0x01;
		*len = n;
		return b;
	}
	b[n++] = 0x08;
	b[n++] = 0x01;
	while (tag >= 0x80) {
		b[n++] = (unsigned char)(tag | 0x80);
		tag >>= 7;
	}
	b[n++] = (unsigned char)tag;
	b[n++] = 0x02;
	b[n++] = 0x08;
	b[n++] = 0x01;
	*len = n;
	return b;
}

/* Build one hostile message of kind k into m. */
static void build(struct hostile *h, enum kind k, struct msg *m)
{
	unsigned char *b = NULL;
	size_t len = 0;

	m->n = 0;
	switch (k) {
	case K_RANDOM:
		add_frame(m, "", 0);
		add_random_frame(h, m, below(h, 8) ? below(h, 300) : below(h, (size_t)h->max_size - 64));
		return;
	case K_TRUNCATED:
		b = envelope_bytes(h, true, false, 1, &len);
		add_frame(m, "", 0);
		add_frame(m, b, len > 1 ? 1 + below(h, len - 1) : 0);
		break;
	case K_OVERSIZED:
		add_frame(m, "", 0);
		add_random_frame(h, m, (size_t)h->max_size + 1 + below(h, (size_t)h->max_size));
		return;
	case K_VERSION: {
		static const long versions[] = {-1, 0, 2, 3, 255, 4294967295L};

		b = envelope_bytes(h, true, false, versions[below(h, sizeof versions / sizeof versions[0])], &len);
		add_frame(m, "", 0);
		add_frame(m, b, len);
		break;
	}
	case K_UNKNOWN_TYPE:
		b = unknown_type(h, &len);
		add_frame(m, "", 0);
		add_frame(m, b, len);
		break;
	case K_UTF8:
		b = envelope_bytes(h, true, true, 1, &len);
		add_frame(m, "", 0);
		add_frame(m, b, len);
		break;
	case K_SHAPE:
		b = envelope_bytes(h, true, false, 1, &len);
		switch (below(h, 6)) {
		case 0: /* no delimiter */
			add_frame(m, b, len);
			break;
		case 1: /* three frames */
			add_frame(m, "", 0);
			add_frame(m, b, len);
			add_frame(m, b, len);
			break;
		case 2: /* five frames, one empty */
			add_frame(m, "", 0);
			add_frame(m, b, len);
			add_frame(m, "", 0);
			add_frame(m, b, len);
			add_frame(m, "x", 1);
			break;
		case 3: /* empty delimiter and empty payload */
			add_frame(m, "", 0);
			add_frame(m, "", 0);
			break;
		case 4: /* a delimiter that is not empty */
			add_frame(m, "\x00", 1);
			add_frame(m, b, len);
			break;
		default: /* one empty frame */
			add_frame(m, "", 0);
			break;
		}
		break;
	case K_MANY_FRAMES: {
		size_t n = 2 + below(h, HOSTILE_MAX_FRAMES - 2);

		for (size_t i = 0; i < n; i++)
			add_random_frame(h, m, below(h, 4) ? below(h, 64) : below(h, (size_t)h->max_size - 64));
		return;
	}
	case K_WRONG_TYPE:
		b = envelope_bytes(h, false, false, 1, &len);
		add_frame(m, "", 0);
		add_frame(m, b, len);
		break;
	case K_BAD_VALUES:
		b = envelope_bytes(h, true, false, 1, &len);
		add_frame(m, "", 0);
		add_frame(m, b, len);
		break;
	case K_BAD_PROTOBUF:
		b = bad_protobuf(h, &len);
		add_frame(m, "", 0);
		add_frame(m, b, len);
		break;
	case K_COUNT:
		break;
	}
	free(b);
}

/* A new DEALER socket for connection slot c (a new routing id when odd). */
static void conn_open(struct hostile *h, struct conn *c)
{
	int zero = 0;
	int64_t unlimited = -1;

	c->sock = zmq_socket(h->zmq, ZMQ_DEALER);
	zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &unlimited, sizeof unlimited);
	if (c->odd_id) {
		unsigned char id[255];
		size_t n = c->odd_id == 1 ? 1 : sizeof id;

		random_bytes(h, id, n);
		id[0] |= 1; /* ids starting with a zero byte are the socket's own */
		zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, id, n);
	}
	if (zmq_connect(c->sock, h->endpoint) != 0) {
		fprintf(stderr, "oro-hostile: cannot connect to %s: %s\n", h->endpoint, zmq_strerror(errno));
		exit(2);
	}
	c->outstanding = 0;
	c->last_progress = now_ms();
}

/* Count one reply (frames already read) by error code or body type. */
static void count_reply(struct hostile *h, zmq_msg_t *f, int n)
{
	struct oro_error err = {0};
	Oro__Envelope *env;
	const char *key;
	char body[32];
	json_t *v;

	if (n != 2 || zmq_msg_size(&f[0]) != 0) {
		h->bad_replies++;
		return;
	}
	env = wire_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &err, NULL);
	if (env == NULL) {
		h->bad_replies++;
		return;
	}
	if (env->body_case == ORO__ENVELOPE__BODY_ERROR) {
		key = env->error->code ? env->error->code : "(no code)";
	} else {
		snprintf(body, sizeof body, "reply_body_%d", (int)env->body_case);
		key = body;
	}
	v = json_object_get(h->replies, key);
	json_object_set_new(h->replies, key, json_integer((v ? json_integer_value(v) : 0) + 1));
	wire_envelope_free(&env);
}

/* Read every reply waiting on c without blocking; returns how many. */
static long drain(struct hostile *h, struct conn *c)
{
	long got = 0;

	for (;;) {
		zmq_msg_t f[3];
		int n = 0, more = 1;

		while (more) {
			zmq_msg_t scratch, *m = n < 3 ? &f[n] : &scratch;

			zmq_msg_init(m);
			if (zmq_msg_recv(m, c->sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
				zmq_msg_close(m);
				break;
			}
			more = zmq_msg_more(m);
			if (m == &scratch)
				zmq_msg_close(m);
			n++;
		}
		if (n == 0)
			break;
		count_reply(h, f, n);
		for (int i = 0; i < n && i < 3; i++)
			zmq_msg_close(&f[i]);
		got++;
	}
	if (got > 0) {
		c->outstanding -= got;
		if (c->outstanding < 0) {
			h->bad_replies -= c->outstanding; /* more replies than requests */
			c->outstanding = 0;
		}
		c->last_progress = now_ms();
	}
	return got;
}

/* Wait (at most wait_ms) for replies on the connections; give up on a stuck one. */
static void await_replies(struct hostile *h, long wait_ms)
{
	zmq_pollitem_t items[HOSTILE_MAX_CONNS];
	int64_t now;

	for (int i = 0; i < h->n_conns; i++)
		items[i] = (zmq_pollitem_t){h->conns[i].sock, 0, ZMQ_POLLIN, 0};
	zmq_poll(items, h->n_conns, wait_ms);
	now = now_ms();
	for (int i = 0; i < h->n_conns; i++) {
		struct conn *c = &h->conns[i];

		drain(h, c);
		if (c->outstanding == 0) {
			c->last_progress = now;
		} else if (now - c->last_progress > h->timeout_ms) {
			/* no reply for too long: count them lost, start afresh */
			h->lost += c->outstanding;
			h->reconnects++;
			zmq_close(c->sock);
			conn_open(h, c);
		}
	}
}

/* Send m on sock; false when it could not be queued at once. */
static bool send_msg(void *sock, const struct msg *m)
{
	for (int i = 0; i < m->n; i++)
		if (zmq_send(sock, m->data[i], m->len[i], (i + 1 < m->n ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
			return false;
	return true;
}

/*
 * Send an oversized message on a connection of its own and close it: the
 * daemon drops the message and the connection; a short linger lets the
 * message leave. A reply would be counted (there must be none).
 */
static void send_oversized(struct hostile *h, const struct msg *m)
{
	void *s = zmq_socket(h->zmq, ZMQ_DEALER);
	int linger = 1000;
	zmq_pollitem_t item;

	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
	zmq_connect(s, h->endpoint);
	send_msg(s, m); /* queued: the connection completes in the background */
	item = (zmq_pollitem_t){s, 0, ZMQ_POLLIN, 0};
	if (zmq_poll(&item, 1, 20) > 0)
		h->oversized_replies++;
	zmq_close(s);
	h->reconnects++;
}

/* Pick a kind by weight. */
static enum kind pick_kind(struct hostile *h)
{
	int total = 0, r;

	for (int k = 0; k < K_COUNT; k++)
		total += kind_weight[k];
	r = (int)below(h, (size_t)total);
	for (int k = 0; k < K_COUNT; k++) {
		if (r < kind_weight[k])
			return (enum kind)k;
		r -= kind_weight[k];
	}
	return K_RANDOM;
}

/* Wait until every connection has its replies (or gave up on them). */
static void settle(struct hostile *h)
{
	for (;;) {
		long out = 0;

		for (int i = 0; i < h->n_conns; i++)
			out += h->conns[i].outstanding;
		if (out == 0)
			return;
		await_replies(h, 50);
	}
}

/* At the mark: create the mark file and wait (at most 60 s) until it is removed. */
static void at_mark(struct hostile *h)
{
	FILE *f;

	settle(h);
	f = fopen(h->mark_file, "w");
	if (f == NULL) {
		fprintf(stderr, "oro-hostile: cannot create %s: %s\n", h->mark_file, strerror(errno));
		exit(2);
	}
	fprintf(f, "%ld\n", h->mark);
	fclose(f);
	for (int i = 0; i < 600 && access(h->mark_file, F_OK) == 0; i++)
		usleep(100000);
}

/* Parse a positive number option or fail. */
static long number(const char *s, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v <= 0)
		usage_fail(name);
	return v;
}

int main(int argc, char **argv)
{
	struct hostile h = {.max_size = 65536, .window = 32, .timeout_ms = 5000, .n_conns = 4};
	const char *socket_kind = NULL;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	int64_t started = now_ms();
	json_t *kinds, *out;
	long i;

	for (int a = 1; a < argc; a++) {
		const char *o = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;

		if (v == NULL)
			usage_fail("an option needs a value");
		if (strcmp(o, "--endpoint") == 0)
			h.endpoint = v;
		else if (strcmp(o, "--socket") == 0)
			socket_kind = v;
		else if (strcmp(o, "--frames") == 0)
			h.frames = number(v, "--frames must be a positive number");
		else if (strcmp(o, "--max-size") == 0)
			h.max_size = number(v, "--max-size must be a positive number");
		else if (strcmp(o, "--seed") == 0)
			seed = (uint64_t)strtoull(v, NULL, 10);
		else if (strcmp(o, "--connections") == 0)
			h.n_conns = (int)number(v, "--connections must be a positive number");
		else if (strcmp(o, "--window") == 0)
			h.window = number(v, "--window must be a positive number");
		else if (strcmp(o, "--mark") == 0)
			h.mark = number(v, "--mark must be a positive number");
		else if (strcmp(o, "--mark-file") == 0)
			h.mark_file = v;
		else if (strcmp(o, "--timeout-ms") == 0)
			h.timeout_ms = number(v, "--timeout-ms must be a positive number");
		else
			usage_fail("unknown option");
		a++;
	}
	if (h.endpoint == NULL || socket_kind == NULL || h.frames == 0)
		usage_fail("--endpoint, --socket and --frames are required");
	if (strcmp(socket_kind, "intake") != 0 && strcmp(socket_kind, "notify") != 0)
		usage_fail("--socket is intake or notify");
	if ((h.mark > 0) != (h.mark_file != NULL) || h.n_conns > HOSTILE_MAX_CONNS || h.max_size < 128)
		usage_fail("--mark goes with --mark-file; at most 16 connections; --max-size at least 128");
	h.intake = strcmp(socket_kind, "intake") == 0;
	h.rng = seed ? seed : 1;
	h.replies = json_object();
	h.zmq = zmq_ctx_new();
	for (int c = 0; c < h.n_conns; c++) {
		h.conns[c].odd_id = c % 3; /* default, one byte, 255 bytes */
		conn_open(&h, &h.conns[c]);
	}

	for (i = 0; i < h.frames; i++) {
		enum kind k = pick_kind(&h);
		struct msg m = {0};

		if (h.mark > 0 && i == h.mark)
			at_mark(&h);
		build(&h, k, &m);
		h.sent[k]++;
		if (k == K_OVERSIZED) {
			send_oversized(&h, &m);
		} else {
			struct conn *c = &h.conns[i % h.n_conns];

			while (c->outstanding >= h.window)
				await_replies(&h, 50);
			while (!send_msg(c->sock, &m))
				await_replies(&h, 10); /* its queue is full: let replies come */
			c->outstanding++;
			drain(&h, c);
		}
		msg_clear(&m);
	}
	settle(&h);

	kinds = json_object();
	for (int k = 0; k < K_COUNT; k++)
		json_object_set_new(kinds, kind_names[k], json_integer(h.sent[k]));
	out = json_pack("{s:s, s:I, s:I, s:o, s:O, s:I, s:I, s:I, s:I, s:f}", "socket", socket_kind, "seed",
	                (json_int_t)(seed & 0x7fffffffffffffffULL), "sent", (json_int_t)h.frames, "kinds", kinds,
	                "replies", h.replies, "bad_replies", (json_int_t)h.bad_replies, "lost", (json_int_t)h.lost,
	                "oversized_replies", (json_int_t)h.oversized_replies, "reconnects", (json_int_t)h.reconnects,
	                "seconds", (double)(now_ms() - started) / 1000.0);
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	json_decref(h.replies);
	for (int c = 0; c < h.n_conns; c++)
		zmq_close(h.conns[c].sock);
	zmq_ctx_term(h.zmq);
	return 0;
}
