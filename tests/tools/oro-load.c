/*
 * oro-load: a load generator for the crash test and bench/run. It files
 * concerns with oro-intake through the real protocol (docs/protocol.md
 * §5.1) at a steady offered rate (or closed loop) and records, per concern,
 * what its reporter was told and when.
 *
 *   oro-load --endpoint E --cases FILE.json --count N --rate R
 *            [--concurrency C] [--timeout-ms T] [--retries K]
 *            [--key-prefix P] [--invalid-every N]
 *            [--curve-key-file F --curve-server-key K] --out RESULTS.jsonl
 *   oro-load --endpoint E --cases FILE.json --count N --closed
 *            [--concurrency C] ... --out RESULTS.jsonl
 *
 *   --endpoint E      intake_endpoint (tcp:// or ipc://)
 *   --cases FILE      a JSON array of concern documents, or of wrappers
 *                     {"name", "concern", ...} of which .concern is taken
 *   --count N         concerns to file: concern i (0-based) is element
 *                     i mod len(FILE), with client_key P-i and
 *                     reporter_principal "load"
 *   --rate R          offered rate in concerns per second; open loop:
 *                     concern i is sent at i/R s whatever the answers
 *   --closed          closed loop instead of --rate: each connection keeps
 *                     exactly one concern in flight, and the next concern
 *                     goes to whichever connection is answered
 *   --concurrency C   DEALER connections; open loop: concern i goes on
 *                     connection i mod C (default 8)
 *   --curve-key-file F   the client's CURVE keypair (oro keys new), and
 *   --curve-server-key K the daemons' public key (Z85 text or a .pub file):
 *                     as the oro client does, every connection then uses
 *                     CURVE (needed for a tcp:// endpoint of daemons that
 *                     require it; the reporter on record is the key's
 *                     principal)
 *   --timeout-ms T    how long to wait for a reply (default 2000)
 *   --retries K       resends of one concern before giving up (default 30)
 *   --key-prefix P    client_key prefix, at most 40 printable ASCII
 *                     characters (default "load")
 *   --invalid-every N every Nth concern (i mod N = N - 1) goes with an
 *                     unknown category, which intake refuses at once
 *                     (error invalid_value, final): between filings still
 *                     in flight on the same connection, for the reply order
 *   --out FILE        one JSON line per concern, in order of i:
 *                     {"client_key", "case": "ORO-…" or null,
 *                      "duplicate": bool, "attempts": n, "error": code or null,
 *                      "reply_ms": ms from the first send to the reply
 *                      that carried the case number, or null,
 *                      "sent_at_us": wall-clock time of the first send
 *                      (CLOCK_REALTIME, µs since the epoch), or null when
 *                      never sent}; bench/run joins sent_at_us by case
 *                      number with the department clients' receipt times
 *
 * The Lazy Pirate pattern, per connection: when a request on a connection
 * gets no reply within T ms, or is answered `unavailable` or `internal`
 * (both mean that nothing was stored), the connection is closed, reopened
 * after a short pause that grows with consecutive failures (100 ms doubling
 * to 1 s, with jitter), and every request outstanding on it is sent again
 * unchanged: the same FileConcern with the same client_key. Intake answers
 * a resent key that it had stored with duplicate=true and the original case
 * number, so a reporter never files twice; and a concern counts as filed
 * only when a FileReply carried its case number, so a reporter never
 * believes that a lost report was filed. A concern still unanswered after K
 * resends is recorded as failed, with the last reason ("timeout",
 * "unavailable" or "internal"); any other Error is final and recorded as
 * is (the concern was refused, nothing was stored).
 *
 * A reply to a request sent on a connection after one still unanswered
 * there counts as "out of order": intake answers each connection in the
 * order of its requests (docs/protocol.md §3), so this stays 0.
 *
 * Before the first concern, every connection is opened and waited for
 * (at most T ms) until its handshake, CURVE included, has completed: the
 * run measures filing on established connections, not C handshakes at
 * once (at 64 connections, the concerns sent meanwhile waited up to 37 ms,
 * most of the slowest 1 % of a 2-second run at 1,000/s).
 *
 * Prints two summary lines on standard output: counts, then latency and
 * throughput as key=value pairs (accepted_per_s is concerns filed over the
 * time from the first send to the last case number; reply_ms_p50, _p95,
 * _p99 and _max over the filed concerns, nearest rank; connections_ready
 * and connect_ms: how many connections completed their handshake before
 * the first send, and how long that took). Exit status 0 when it ran,
 * even if some concerns failed; 2 on a usage error (bad option, unreadable
 * or invalid cases file, output file that cannot be created); 1 when
 * ZeroMQ failed or the results could not be written.
 *
 * Without the --curve options it speaks plain ZeroMQ: use an ipc:// endpoint,
 * or a tcp:// one only where the daemons do not require CURVE.
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
#include "auth.h"
#include "concern.h"
#include "error.h"
#include "wire.h"

#include "toolopt.h"

#define LOAD_PRINCIPAL    "load"
#define LOAD_PREFIX_MAX   40  /* so that client_key and request_id stay within their limits */
#define LOAD_PAUSE_MIN_MS 100 /* first pause before reconnecting */
#define LOAD_PAUSE_MAX_MS 1000
#define LOAD_POLL_MAX_MS  50 /* bounded waits: dispatch stays on time */

static const char usage_text[] =
        "usage: oro-load --endpoint E --cases FILE.json --count N --rate R [--concurrency C]\n"
        "                [--timeout-ms T] [--retries K] [--key-prefix P] [--invalid-every N]\n"
        "                [--curve-key-file F --curve-server-key K] --out RESULTS.jsonl\n"
        "       oro-load ... --closed (instead of --rate: one concern in flight per connection)\n";

/* Where one concern stands. */
enum req_state {
	REQ_WAITING, /* assigned to a connection, not sent on its current socket */
	REQ_SENT,    /* sent; its reply is awaited until deadline */
	REQ_DONE,    /* answered with a case number or a final error, or given up */
};

/* One concern to file. */
struct request {
	char key[LOAD_PREFIX_MAX + 24]; /* client_key */
	char rid[LOAD_PREFIX_MAX + 40]; /* request_id of the attempt in flight */
	enum req_state state;
	int attempts;      /* sends so far */
	int64_t deadline;  /* of the attempt in flight */
	char *case_number; /* owned; NULL until a FileReply carried one */
	bool duplicate;    /* the FileReply said duplicate */
	char error[32];    /* final error code, "" when none */
	int64_t first_us;  /* monotonic µs of the first send */
	int64_t sent_at;   /* wall-clock µs of the first send (comparable across processes) */
	int64_t reply_us;  /* monotonic µs of the reply with the case number, 0 if none */
};

/* One DEALER connection and the concerns assigned to it. */
struct conn {
	void *sock;        /* NULL while paused before reconnecting */
	int64_t reopen_at; /* monotonic ms; meaningful while sock is NULL */
	int failures;      /* consecutive resets: the pause grows with them */
	size_t *open;      /* indices of its requests not done, in order */
	size_t n_open, cap;
};

/* The run: options, concerns, connections, counters. */
struct load {
	const char *endpoint, *prefix;
	long count, concurrency, timeout_ms, retries;
	double rate;
	bool closed; /* closed loop: one concern in flight per connection */
	const char *curve_key_file, *curve_server_key;
	struct curve_keys keys; /* loaded when curve_key_file is set */
	char server_key[AUTH_Z85_LEN + 1];
	struct concern *cases;
	size_t n_cases;
	struct request *req;
	struct conn *conns;
	void *zmq;
	long invalid_every; /* > 0: every Nth concern is sent with an unknown category */
	long done, sends, stale, out_of_order;
	long resets_timeout, resets_unavailable, resets_internal;
	long ready;       /* connections whose first handshake completed before the run */
	int64_t ready_ms; /* how long the run waited for them */
};

/* Print a usage error and exit 2. */
static void usage_fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "oro-load: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage_text);
	exit(2);
}

/* Monotonic clock in milliseconds. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic clock in microseconds. */
static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Read the cases file into load->cases: each element (or its .concern) as
 * a concern, checked with concern_validate() so that every send is a
 * concern intake accepts. Exits 2 on any problem.
 */
static void load_cases(struct load *load, const char *path)
{
	json_error_t jerr;
	json_t *arr = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (arr == NULL)
		usage_fail("cannot read the cases: %s", jerr.text);
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		usage_fail("%s: expected a non-empty JSON array", path);
	load->n_cases = json_array_size(arr);
	load->cases = xcalloc(load->n_cases, sizeof *load->cases);
	for (size_t i = 0; i < load->n_cases; i++) {
		json_t *e = json_array_get(arr, i), *doc = e;
		struct concern *c = &load->cases[i];
		struct oro_error err = {0};

		if (json_is_object(e) && json_object_get(e, "concern") != NULL)
			doc = json_object_get(e, "concern");
		if (concern_from_json(doc, c, &err) == 0) {
			/* every send carries its own key: validate with a stand-in */
			free(c->client_key);
			c->client_key = xstrdup("stand-in");
			concern_validate(c, NULL, 0, &err);
		}
		if (oro_error_isset(&err)) {
			fprintf(stderr, "oro-load: %s: element %zu: %s %s: %s\n", path, i, err.code, err.field,
			        err.message);
			exit(2);
		}
	}
	json_decref(arr);
}

/* Send request i on connection c's socket (a new attempt of the same FileConcern). */
static void conn_send(struct load *load, struct conn *c, size_t i)
{
	struct request *r = &load->req[i];
	const struct concern *tmpl = &load->cases[i % load->n_cases];
	Oro__Envelope env;
	Oro__FileConcern m;
	Oro__Subject subject;
	Oro__Reporter reporter;

	if (r->attempts == 0) {
		r->first_us = now_us();
		r->sent_at = tool_realtime_us();
	}
	r->attempts++;
	snprintf(r->rid, sizeof r->rid, "%s#%d", r->key, r->attempts);
	r->deadline = now_ms() + load->timeout_ms;
	r->state = REQ_SENT;
	wire_envelope_init(&env);
	wire_concern_to_pb(tmpl, &m, &subject, &reporter);
	m.client_key = r->key;
	m.reporter_principal = LOAD_PRINCIPAL;
	if (load->invalid_every > 0 && (long)i % load->invalid_every == load->invalid_every - 1)
		m.category = "no-such-category"; /* refused at once, between filings still in flight */
	env.request_id = r->rid;
	env.body_case = ORO__ENVELOPE__BODY_FILE_CONCERN;
	env.file_concern = &m;
	load->sends++;
	/* a send that cannot be queued is a lost message: its deadline resets the connection */
	wire_send_request(c->sock, &env);
}

/*
 * Open (or reopen) connection c and send every request waiting on it. With
 * monitor_ep, first have its handshake reported there (zmq_socket_monitor).
 */
static void conn_open(struct load *load, struct conn *c, const char *monitor_ep)
{
	int zero = 0;

	c->sock = zmq_socket(load->zmq, ZMQ_DEALER);
	if (c->sock == NULL) {
		fprintf(stderr, "oro-load: zmq_socket: %s\n", zmq_strerror(errno));
		exit(1);
	}
	zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
	if (load->curve_key_file != NULL) {
		/* as services/client/util.c: CURVE client of the daemons' key */
		zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, load->server_key, AUTH_Z85_LEN);
		zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, load->keys.public_key, AUTH_Z85_LEN);
		zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, load->keys.secret_key, AUTH_Z85_LEN);
	}
	if (monitor_ep != NULL && zmq_socket_monitor(c->sock, monitor_ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0) {
		fprintf(stderr, "oro-load: zmq_socket_monitor: %s\n", zmq_strerror(errno));
		exit(1);
	}
	if (zmq_connect(c->sock, load->endpoint) != 0)
		usage_fail("cannot connect to %s", load->endpoint);
	for (size_t k = 0; k < c->n_open; k++)
		if (load->req[c->open[k]].state == REQ_WAITING)
			conn_send(load, c, c->open[k]);
}

/* Mark request i done and drop it from c's list. */
static void conn_finish(struct load *load, struct conn *c, size_t i)
{
	load->req[i].state = REQ_DONE;
	load->done++;
	for (size_t k = 0; k < c->n_open; k++) {
		if (c->open[k] == i) {
			memmove(&c->open[k], &c->open[k + 1], (c->n_open - k - 1) * sizeof *c->open);
			c->n_open--;
			return;
		}
	}
}

/*
 * The Lazy Pirate step: close c, give up on requests that used all their
 * retries (recording reason), and schedule the reconnection after which
 * the others are sent again.
 */
static void conn_reset(struct load *load, struct conn *c, const char *reason)
{
	int pause;
	size_t kept = 0;

	zmq_close(c->sock);
	c->sock = NULL;
	if (strcmp(reason, ORO_E_TIMEOUT) == 0)
		load->resets_timeout++;
	else if (strcmp(reason, ORO_E_UNAVAILABLE) == 0)
		load->resets_unavailable++;
	else
		load->resets_internal++;
	for (size_t k = 0; k < c->n_open; k++) {
		struct request *r = &load->req[c->open[k]];

		if (r->attempts > load->retries) {
			snprintf(r->error, sizeof r->error, "%s", reason);
			r->state = REQ_DONE;
			load->done++;
			continue;
		}
		r->state = REQ_WAITING;
		c->open[kept++] = c->open[k];
	}
	c->n_open = kept;
	pause = LOAD_PAUSE_MIN_MS << (c->failures < 4 ? c->failures : 4);
	if (pause > LOAD_PAUSE_MAX_MS)
		pause = LOAD_PAUSE_MAX_MS;
	pause += (int)(random() % (pause / 2 + 1));
	c->failures++;
	c->reopen_at = now_ms() + pause;
}

/* Assign request i to connection c, and send it if the connection is up. */
static void assign(struct load *load, struct conn *c, size_t i)
{
	if (c->n_open == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->open = xrealloc(c->open, c->cap * sizeof *c->open);
	}
	c->open[c->n_open++] = i;
	load->req[i].state = REQ_WAITING;
	if (c->sock != NULL)
		conn_send(load, c, i);
}

/*
 * Handle one reply on c. Returns false when it reset the connection (the
 * socket is closed: stop reading it).
 */
static bool on_reply(struct load *load, struct conn *c, const Oro__Envelope *env)
{
	struct request *r = NULL;
	size_t i = 0;
	bool earlier = false; /* a request sent before it on this socket is still unanswered */

	for (size_t k = 0; k < c->n_open && env->request_id != NULL; k++) {
		struct request *q = &load->req[c->open[k]];

		if (q->state == REQ_SENT && strcmp(q->rid, env->request_id) == 0) {
			r = q;
			i = c->open[k];
			break;
		}
		earlier = earlier || q->state == REQ_SENT;
	}
	if (r == NULL) {
		load->stale++; /* an answer to an attempt we no longer wait for */
		return true;
	}
	/* replies to one connection come in the order of its requests (docs/protocol.md §3) */
	load->out_of_order += earlier;
	if (env->body_case == ORO__ENVELOPE__BODY_FILE_REPLY && env->file_reply->case_number != NULL) {
		r->case_number = xstrdup(env->file_reply->case_number);
		r->duplicate = env->file_reply->duplicate;
		r->reply_us = now_us();
		c->failures = 0;
		conn_finish(load, c, i);
		return true;
	}
	if (env->body_case == ORO__ENVELOPE__BODY_ERROR && env->error->code != NULL &&
	    (strcmp(env->error->code, ORO_E_UNAVAILABLE) == 0 || strcmp(env->error->code, ORO_E_INTERNAL) == 0)) {
		/* nothing was stored: reconnect after a pause and send again */
		conn_reset(load, c, env->error->code);
		return false;
	}
	snprintf(r->error, sizeof r->error, "%s",
	         env->body_case == ORO__ENVELOPE__BODY_ERROR && env->error->code ? env->error->code : ORO_E_MALFORMED);
	conn_finish(load, c, i);
	return true;
}

/* Read every reply waiting on c. */
static void conn_drain(struct load *load, struct conn *c)
{
	for (;;) {
		struct oro_error err = {0};
		Oro__Envelope *env = NULL;
		enum wire_recv_status st = wire_recv_reply(c->sock, &env, &err);
		bool keep;

		if (st == WIRE_NONE)
			return;
		if (st != WIRE_OK) {
			load->stale++; /* undecodable: its request will time out and be resent */
			continue;
		}
		keep = on_reply(load, c, env);
		wire_envelope_free(&env);
		if (!keep)
			return;
	}
}

/* Reset every open connection that has a request past its deadline. */
static void check_deadlines(struct load *load, int64_t now)
{
	for (long k = 0; k < load->concurrency; k++) {
		struct conn *c = &load->conns[k];

		if (c->sock == NULL)
			continue;
		for (size_t j = 0; j < c->n_open; j++) {
			const struct request *r = &load->req[c->open[j]];

			if (r->state == REQ_SENT && r->deadline <= now) {
				conn_reset(load, c, ORO_E_TIMEOUT);
				break;
			}
		}
	}
}

/* Milliseconds until the next thing to do (a due send, a deadline, a reconnection), within [0, max]. */
static long next_wait(const struct load *load, int64_t now, int64_t next_due)
{
	int64_t next = now + LOAD_POLL_MAX_MS;

	if (next_due < next)
		next = next_due;
	for (long k = 0; k < load->concurrency; k++) {
		const struct conn *c = &load->conns[k];

		if (c->sock == NULL) {
			if (c->reopen_at < next)
				next = c->reopen_at;
			continue;
		}
		for (size_t j = 0; j < c->n_open; j++) {
			const struct request *r = &load->req[c->open[j]];

			if (r->state == REQ_SENT && r->deadline < next)
				next = r->deadline;
		}
	}
	return next > now ? (long)(next - now) : 0;
}

/*
 * Open every connection and wait (at most timeout_ms) until each has
 * completed its handshake, CURVE included, so that the run measures filing
 * on established connections, not the handshakes of all of them at once.
 * Records how many were ready, and how long it took, in load.
 */
static void open_all(struct load *load)
{
	size_t n = (size_t)load->concurrency;
	void **mon = xcalloc(n, sizeof *mon);
	zmq_pollitem_t *items = xcalloc(n, sizeof *items);
	int64_t t0 = now_ms();

	for (size_t k = 0; k < n; k++) {
		char ep[64];

		snprintf(ep, sizeof ep, "inproc://oro-load-monitor-%zu", k);
		conn_open(load, &load->conns[k], ep);
		/* events sent before a peer connects are dropped; the handshake takes longer than this */
		mon[k] = zmq_socket(load->zmq, ZMQ_PAIR);
		zmq_connect(mon[k], ep);
		items[k] = (zmq_pollitem_t){mon[k], 0, ZMQ_POLLIN, 0};
	}
	while (load->ready < load->concurrency && now_ms() - t0 < load->timeout_ms) {
		if (zmq_poll(items, (int)n, load->timeout_ms - (now_ms() - t0)) <= 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			zmq_msg_t frame;

			if (!(items[k].revents & ZMQ_POLLIN))
				continue;
			/* an event is two frames: the event and its value, then the endpoint */
			for (int more = 1; more;) {
				zmq_msg_init(&frame);
				more = zmq_msg_recv(&frame, mon[k], 0) >= 0 && zmq_msg_more(&frame);
				zmq_msg_close(&frame);
			}
			items[k].events = 0; /* one handshake per connection is enough */
			load->ready++;
		}
	}
	load->ready_ms = now_ms() - t0;
	for (size_t k = 0; k < n; k++) {
		zmq_socket_monitor(load->conns[k].sock, NULL, 0);
		zmq_close(mon[k]);
	}
	free(mon);
	free(items);
}

/* File every concern: dispatch on time, poll, reconnect and resend until all are done. */
static void run(struct load *load)
{
	int64_t start;
	size_t next = 0, n = (size_t)load->count;
	zmq_pollitem_t *items = xcalloc((size_t)load->concurrency, sizeof *items);
	long *which = xcalloc((size_t)load->concurrency, sizeof *which);

	open_all(load);
	start = now_ms();
	while (load->done < load->count) {
		int64_t now = now_ms(), next_due = INT64_MAX;
		int n_items = 0;

		if (load->closed) {
			/* closed loop: a connection with nothing in flight takes the next concern */
			for (long k = 0; k < load->concurrency && next < n; k++)
				if (load->conns[k].n_open == 0)
					assign(load, &load->conns[k], next++);
		} else {
			/* open loop: concern i is due at i/R seconds, answered or not */
			while (next < n && start + (int64_t)((double)next * 1000.0 / load->rate) <= now) {
				assign(load, &load->conns[next % (size_t)load->concurrency], next);
				next++;
			}
		}
		if (next < n && !load->closed)
			next_due = start + (int64_t)((double)next * 1000.0 / load->rate);
		for (long k = 0; k < load->concurrency; k++) {
			struct conn *c = &load->conns[k];

			if (c->sock == NULL && c->reopen_at <= now)
				conn_open(load, c, NULL);
		}
		check_deadlines(load, now);
		for (long k = 0; k < load->concurrency; k++) {
			if (load->conns[k].sock == NULL)
				continue;
			items[n_items] = (zmq_pollitem_t){load->conns[k].sock, 0, ZMQ_POLLIN, 0};
			which[n_items++] = k;
		}
		if (zmq_poll(items, n_items, next_wait(load, now, next_due)) <= 0) {
			if (n_items == 0)
				usleep(1000); /* every connection paused: zmq_poll has nothing to wait on */
			continue;
		}
		for (int k = 0; k < n_items; k++)
			if ((items[k].revents & ZMQ_POLLIN) && load->conns[which[k]].sock != NULL)
				conn_drain(load, &load->conns[which[k]]);
	}
	for (long k = 0; k < load->concurrency; k++)
		if (load->conns[k].sock != NULL)
			zmq_close(load->conns[k].sock);
	free(items);
	free(which);
}

/* Write one JSON line per concern to f; returns false on a write error. */
static bool write_results(const struct load *load, FILE *f)
{
	for (long i = 0; i < load->count; i++) {
		const struct request *r = &load->req[i];
		json_t *ms = r->reply_us ? json_real((double)(r->reply_us - r->first_us) / 1000.0) : NULL;
		json_t *sent = r->attempts > 0 ? json_integer((json_int_t)r->sent_at) : NULL;
		json_t *j = json_pack("{s:s, s:s?, s:b, s:i, s:s?, s:o?, s:o?}", "client_key", r->key, "case",
		                      r->case_number, "duplicate", r->duplicate, "attempts", r->attempts, "error",
		                      r->error[0] ? r->error : NULL, "reply_ms", ms, "sent_at_us", sent);

		json_dumpf(j, f, JSON_COMPACT | JSON_REAL_PRECISION(6));
		fputc('\n', f);
		json_decref(j);
	}
	return fflush(f) == 0 && !ferror(f);
}

/* qsort order of doubles, ascending. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank percentile p (0-100) of the n sorted values v; 0 when n is 0. */
static double percentile(const double *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return v[(rank > n ? n : rank) - 1];
}

/* Print the latency and throughput summary line (key=value pairs) of the filed concerns. */
static void print_latency(const struct load *load)
{
	double *v = xcalloc((size_t)load->count, sizeof *v);
	int64_t first = INT64_MAX, last = 0;
	size_t n = 0;
	double secs;

	for (long i = 0; i < load->count; i++) {
		const struct request *r = &load->req[i];

		if (r->attempts > 0 && r->first_us < first)
			first = r->first_us;
		if (r->reply_us == 0)
			continue;
		if (r->reply_us > last)
			last = r->reply_us;
		v[n++] = (double)(r->reply_us - r->first_us) / 1000.0;
	}
	qsort(v, n, sizeof *v, cmp_double);
	secs = n > 0 && last > first ? (double)(last - first) / 1e6 : 0;
	printf("oro-load: summary mode=%s concurrency=%ld offered_per_s=%.1f filed=%zu elapsed_s=%.3f "
	       "accepted_per_s=%.1f reply_ms_p50=%.3f reply_ms_p95=%.3f reply_ms_p99=%.3f reply_ms_max=%.3f "
	       "connections_ready=%ld connect_ms=%lld\n",
	       load->closed ? "closed" : "open", load->concurrency, load->closed ? 0.0 : load->rate, n, secs,
	       secs > 0 ? (double)n / secs : 0.0, percentile(v, n, 50), percentile(v, n, 95), percentile(v, n, 99),
	       n ? v[n - 1] : 0.0, load->ready, (long long)load->ready_ms);
	free(v);
}

/* Parse the options, file every concern, write the results and the summary. */
int main(int argc, char **argv)
{
	struct load load = {.concurrency = 8, .timeout_ms = 2000, .retries = 30, .prefix = "load", .count = -1};
	const char *cases = NULL, *out = NULL;
	long filed = 0, duplicates = 0, failed = 0;
	int64_t t0;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (strcmp(a, "--closed") == 0) {
			load.closed = true;
			continue;
		}
		if (v == NULL)
			usage_fail("%s needs a value", a);
		i++;
		if (strcmp(a, "--endpoint") == 0) {
			load.endpoint = v;
		} else if (strcmp(a, "--cases") == 0) {
			cases = v;
		} else if (strcmp(a, "--out") == 0) {
			out = v;
		} else if (strcmp(a, "--curve-key-file") == 0) {
			load.curve_key_file = v;
		} else if (strcmp(a, "--curve-server-key") == 0) {
			load.curve_server_key = v;
		} else if (strcmp(a, "--key-prefix") == 0) {
			load.prefix = v;
		} else if (strcmp(a, "--invalid-every") == 0) {
			load.invalid_every = tool_parse_long("oro-load", usage_text, a, v, 1, 10000000);
		} else if (strcmp(a, "--count") == 0) {
			load.count = tool_parse_long("oro-load", usage_text, a, v, 1, 10000000);
		} else if (strcmp(a, "--concurrency") == 0) {
			load.concurrency = tool_parse_long("oro-load", usage_text, a, v, 1, 1024);
		} else if (strcmp(a, "--timeout-ms") == 0) {
			load.timeout_ms = tool_parse_long("oro-load", usage_text, a, v, 10, 600000);
		} else if (strcmp(a, "--retries") == 0) {
			load.retries = tool_parse_long("oro-load", usage_text, a, v, 0, 1000);
		} else if (strcmp(a, "--rate") == 0) {
			char *end;

			load.rate = strtod(v, &end);
			if (*v == '\0' || *end != '\0' || !(load.rate > 0 && load.rate <= 1e6))
				usage_fail("--rate must be a number of concerns per second above 0, not \"%s\"", v);
		} else {
			usage_fail("unknown option %s", a);
		}
	}
	if (load.closed && load.rate > 0)
		usage_fail("%s", "--rate (open loop) and --closed (closed loop) exclude each other");
	if (load.endpoint == NULL || cases == NULL || out == NULL || load.count < 0 || (load.rate <= 0 && !load.closed))
		usage_fail("%s", "--endpoint, --cases, --count, --rate (or --closed) and --out are required");
	if ((load.curve_key_file == NULL) != (load.curve_server_key == NULL))
		usage_fail("%s", "--curve-key-file and --curve-server-key go together");
	if (load.curve_key_file != NULL) {
		struct oro_error err = {0};

		if (curve_keys_load(load.curve_key_file, &load.keys, &err) < 0)
			usage_fail("--curve-key-file: %s", err.message);
		if (strlen(load.curve_server_key) == AUTH_Z85_LEN && strchr(load.curve_server_key, '/') == NULL)
			strcpy(load.server_key, load.curve_server_key);
		else if (curve_public_key_read(load.curve_server_key, load.server_key, &err) < 0)
			usage_fail("--curve-server-key: %s", err.message);
	}
	if (strlen(load.prefix) == 0 || strlen(load.prefix) > LOAD_PREFIX_MAX)
		usage_fail("--key-prefix must be 1 to 40 characters, not \"%s\"", load.prefix);
	for (const char *p = load.prefix; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			usage_fail("--key-prefix must be printable ASCII: \"%s\"", load.prefix);
	load_cases(&load, cases);
	f = fopen(out, "w");
	if (f == NULL)
		usage_fail("cannot create %s", out);

	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	load.zmq = zmq_ctx_new();
	load.req = xcalloc((size_t)load.count, sizeof *load.req);
	load.conns = xcalloc((size_t)load.concurrency, sizeof *load.conns);
	for (long i = 0; i < load.count; i++)
		snprintf(load.req[i].key, sizeof load.req[i].key, "%s-%ld", load.prefix, i);
	t0 = now_ms();
	run(&load);

	if (!write_results(&load, f) || fclose(f) != 0) {
		fprintf(stderr, "oro-load: cannot write %s: %s\n", out, strerror(errno));
		return 1;
	}
	for (long i = 0; i < load.count; i++) {
		filed += load.req[i].case_number != NULL;
		duplicates += load.req[i].case_number != NULL && load.req[i].duplicate;
		failed += load.req[i].case_number == NULL;
	}
	if (load.closed)
		printf("oro-load: %ld concerns in %.1f s (closed loop on %ld connections): filed %ld "
		       "(answered duplicate %ld), failed %ld; %ld sends, reconnects after timeout %ld, "
		       "unavailable %ld, internal %ld; %ld stale replies, %ld out of order\n",
		       load.count, (double)(now_ms() - t0) / 1000.0, load.concurrency, filed, duplicates, failed,
		       load.sends, load.resets_timeout, load.resets_unavailable, load.resets_internal, load.stale,
		       load.out_of_order);
	else
		printf("oro-load: %ld concerns in %.1f s (offered %.1f/s on %ld connections): filed %ld "
		       "(answered duplicate %ld), failed %ld; %ld sends, reconnects after timeout %ld, "
		       "unavailable %ld, internal %ld; %ld stale replies, %ld out of order\n",
		       load.count, (double)(now_ms() - t0) / 1000.0, load.rate, load.concurrency, filed, duplicates,
		       failed, load.sends, load.resets_timeout, load.resets_unavailable, load.resets_internal,
		       load.stale, load.out_of_order);
	print_latency(&load);

	for (long i = 0; i < load.count; i++)
		free(load.req[i].case_number);
	for (long k = 0; k < load.concurrency; k++)
		free(load.conns[k].open);
	for (size_t i = 0; i < load.n_cases; i++)
		concern_clear(&load.cases[i]);
	free(load.cases);
	free(load.req);
	free(load.conns);
	zmq_ctx_term(load.zmq);
	return 0;
}
