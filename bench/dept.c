/*
 * oro-bench-dept: acknowledging department clients for the end-to-end
 * benchmark (issue 6, point 1). It speaks the department session of
 * docs/protocol.md §5.3 and §5.4 to oro-notify, for one or more
 * departments, each on its own DEALER connection with its own CURVE key
 * (a real department principal), and records when each delivery arrived,
 * so that bench/run can measure submit → receipt at the department.
 *
 *   oro-bench-dept --endpoint E --department CODE[=KEYFILE] [--department ...]
 *                  [--curve-server-key K] [--heartbeat-ms H] [--seconds T]
 *                  [--ack-retry-ms R] --out RECEIPTS.tsv
 *
 *   --endpoint E        notify_endpoint (tcp:// or ipc://)
 *   --department CODE=KEYFILE
 *                       follow department CODE with the CURVE keypair in
 *                       KEYFILE (oro keys new; the key's principal must be
 *                       a department principal of CODE); repeat for more
 *                       departments. Without =KEYFILE the connection uses
 *                       no CURVE (ipc:// endpoints only). The principal
 *                       named in messages is "dept-CODE" (ignored by the
 *                       daemons under CURVE, where the key decides).
 *   --curve-server-key K the daemons' public key (Z85 text or a .pub file);
 *                       required when any department has a key file
 *   --heartbeat-ms H    resend Subscribe this often until oro-notify's
 *                       Subscribed.heartbeat_ms says otherwise (default 2000)
 *   --seconds T         stop after T seconds (default: until SIGTERM/SIGINT)
 *   --ack-retry-ms R    send an Acknowledge refused `unavailable` or
 *                       `internal` again after R ms, and acknowledge a
 *                       repeated delivery again only when the last
 *                       Acknowledge went out at least R ms ago (default 5000)
 *   --out FILE          the receipts, one tab-separated line per event:
 *                         delivery RECV_US DELIVERY_ID CASE DEPARTMENT N
 *                       for every Delivery that arrived (N = 1 on its first
 *                       receipt, 2, 3, ... on repeats), and
 *                         ack CONFIRM_US DELIVERY_ID ALREADY
 *                       for the first AckConfirmed of each delivery
 *                       (ALREADY 0 or 1). Times are CLOCK_REALTIME in µs
 *                       since the epoch, taken when the message was read,
 *                       comparable with oro-load's sent_at_us on the same
 *                       machine. The file is flushed at least every 100 ms.
 *
 * As the reference client (services/client, inbox --follow --ack) does, each
 * connection sends Subscribe at once and then every heartbeat, and is
 * closed and opened again (a fresh Subscribe: the backlog comes again) when
 * nothing arrived for 3 heartbeats. Every delivery is acknowledged as soon
 * as it is read, without waiting for the confirmation (the confirmations
 * arrive interleaved with further deliveries): the client is pipelined, and
 * never the bottleneck. An acknowledgement refused with `unavailable` or
 * `internal` is sent again R ms later, one that could not be queued at the
 * next scan (within 500 ms; a scan stops sending on a connection at its
 * first send that fails, the queue being still full). One merely unconfirmed is not resent on a
 * timer: as with the reference client, a redelivery of the delivery (after
 * a reconnect, or when oro-notify forgot the connection) brings it again,
 * and it is acknowledged again then if the last acknowledgement went out R
 * ms ago or more. A repeated delivery of a confirmed one is recorded but
 * not acknowledged again. The first 20 refusals are logged on standard
 * error, the rest only counted.
 *
 * On exit it prints one summary line of key=value pairs on standard
 * output. Exit status 0 when it ran; 2 on a usage error; 1 when a
 * Subscribe was refused for good (not `unavailable`), ZeroMQ failed or the
 * receipts could not be written.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "alloc.h"
#include "auth.h"
#include "error.h"
#include "service.h"
#include "wire.h"

#include "toolopt.h"

#define DEPT_MAX           64
#define DEPT_NAME_MAX      100    /* Subscribe.department and .principal limits */
#define DEPT_HWM           100000 /* queue depth both ways: notify drops a client whose queue is full */
#define DEPT_FLUSH_MS      100
#define DEPT_RETRY_SCAN_MS 500
#define DEPT_LOG_MAX       20 /* refusals logged; further ones are only counted */

static const char usage_text[] = "usage: oro-bench-dept --endpoint E --department CODE[=KEYFILE] [--department ...]\n"
                                 "                      [--curve-server-key K] [--heartbeat-ms H] [--seconds T]\n"
                                 "                      [--ack-retry-ms R] --out RECEIPTS.tsv\n";

/* One followed department: its connection and its counters. */
struct dept {
	char code[DEPT_NAME_MAX + 1];
	char principal[DEPT_NAME_MAX + 8];
	const char *key_file;   /* borrowed from argv; NULL: no CURVE */
	struct curve_keys keys; /* loaded when key_file is set */
	void *sock;
	int heartbeat_ms;   /* from Subscribed, else the option */
	int64_t next_beat;  /* monotonic ms of the next Subscribe */
	int64_t last_heard; /* monotonic ms of the last message read */
	long reconnects;
};

/* What the client knows of one delivery (an open-addressing table keyed by id). */
struct seen {
	int64_t id;          /* 0: empty slot */
	int64_t ack_sent_ms; /* monotonic ms of the last Acknowledge sent, 0 if none went out */
	int64_t retry_at;    /* monotonic ms when the retry scan sends it again; 0: it does not */
	uint32_t receipts;   /* Deliveries read with this id */
	uint16_t dept;       /* index into the dept array */
	bool confirmed;      /* an AckConfirmed arrived */
};

/* The run: options, connections, deliveries, counters. */
struct bench {
	const char *endpoint, *server_key_arg;
	char server_key[AUTH_Z85_LEN + 1];
	struct dept dept[DEPT_MAX];
	int n_dept;
	int heartbeat_ms, ack_retry_ms;
	long seconds;
	FILE *out;
	void *zmq;
	struct seen *seen;
	size_t seen_cap, seen_len;
	long deliveries, repeats, acks_sent, acks_confirmed, acks_already, ack_errors, ack_send_failed;
	long acks_resent;
};

static volatile sig_atomic_t stop_requested;

/* SIGTERM / SIGINT: finish the current pass and exit. */
static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Print a usage error and exit 2. */
static void usage_fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "oro-bench-dept: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage_text);
	exit(2);
}

/* The slot of delivery id in the table: its entry, or the empty slot where it belongs. */
static struct seen *seen_slot(struct bench *b, int64_t id)
{
	size_t i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15u >> 20) & (b->seen_cap - 1);

	while (b->seen[i].id != 0 && b->seen[i].id != id)
		i = (i + 1) & (b->seen_cap - 1);
	return &b->seen[i];
}

/* The entry of delivery id, added (zeroed, for department d) when new; the table stays at most half full. */
static struct seen *seen_get(struct bench *b, int64_t id, int d)
{
	struct seen *s;

	if (2 * (b->seen_len + 1) > b->seen_cap) {
		struct seen *old = b->seen;
		size_t old_cap = b->seen_cap;

		b->seen_cap = old_cap ? 2 * old_cap : 4096;
		b->seen = xcalloc(b->seen_cap, sizeof *b->seen);
		for (size_t k = 0; k < old_cap; k++)
			if (old[k].id != 0)
				*seen_slot(b, old[k].id) = old[k];
		free(old);
	}
	s = seen_slot(b, id);
	if (s->id == 0) {
		s->id = id;
		s->dept = (uint16_t)d;
		b->seen_len++;
	}
	return s;
}

/* Open (or reopen) department d's connection; the next pass subscribes at once. */
static void dept_open(struct bench *b, struct dept *d)
{
	int zero = 0, hwm = DEPT_HWM;

	d->sock = zmq_socket(b->zmq, ZMQ_DEALER);
	if (d->sock == NULL) {
		fprintf(stderr, "oro-bench-dept: zmq_socket: %s\n", zmq_strerror(errno));
		exit(1);
	}
	zmq_setsockopt(d->sock, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(d->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(d->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
	if (d->key_file != NULL) {
		/* as services/client/util.c: a CURVE client of the daemons' key, with the department's own keys */
		zmq_setsockopt(d->sock, ZMQ_CURVE_SERVERKEY, b->server_key, AUTH_Z85_LEN);
		zmq_setsockopt(d->sock, ZMQ_CURVE_PUBLICKEY, d->keys.public_key, AUTH_Z85_LEN);
		zmq_setsockopt(d->sock, ZMQ_CURVE_SECRETKEY, d->keys.secret_key, AUTH_Z85_LEN);
	}
	if (zmq_connect(d->sock, b->endpoint) != 0)
		usage_fail("cannot connect to %s", b->endpoint);
	d->next_beat = 0;
	d->last_heard = service_now_ms();
}

/* Send Subscribe for department d (the first one on a connection is fresh: the backlog follows). */
static void dept_subscribe(struct dept *d)
{
	Oro__Envelope env;
	Oro__Subscribe m;

	wire_envelope_init(&env);
	oro__subscribe__init(&m);
	m.department = d->code;
	m.principal = d->principal;
	env.request_id = "subscribe";
	env.body_case = ORO__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &m;
	/* a Subscribe that cannot be queued is retried by the next heartbeat */
	wire_send_request(d->sock, &env);
}

/* Send Acknowledge of delivery s on its department's connection, without waiting for AckConfirmed. */
static void send_ack(struct bench *b, struct seen *s)
{
	struct dept *d = &b->dept[s->dept];
	Oro__Envelope env;
	Oro__Acknowledge m;
	char rid[32];

	wire_envelope_init(&env);
	oro__acknowledge__init(&m);
	m.has_delivery_id = true;
	m.delivery_id = s->id;
	m.department = d->code;
	m.principal = d->principal;
	/* the request id names the delivery, so that an Error can be matched to it */
	snprintf(rid, sizeof rid, "ack-%lld", (long long)s->id);
	env.request_id = rid;
	env.body_case = ORO__ENVELOPE__BODY_ACKNOWLEDGE;
	env.acknowledge = &m;
	if (wire_send_request(d->sock, &env) == 0) {
		s->ack_sent_ms = service_now_ms();
		s->retry_at = 0;
		b->acks_sent++;
	} else {
		/* not queued (full queue, connection not up): the next retry scan sends it */
		s->retry_at = service_now_ms();
		b->ack_send_failed++;
	}
}

/*
 * A Delivery arrived for department d at recv_us: record it and acknowledge
 * it, unless it is confirmed, or is a repeat whose acknowledgement went out
 * less than ack_retry_ms ago (a backlog sent again to a connection that
 * oro-notify forgot while it was busy must not double the acknowledgements
 * it still has to read).
 */
static void on_delivery(struct bench *b, int d, const Oro__Delivery *m, int64_t recv_us)
{
	struct seen *s;

	if (!m->has_delivery_id || m->delivery_id <= 0)
		return;
	s = seen_get(b, m->delivery_id, d);
	s->receipts++;
	if (s->receipts == 1)
		b->deliveries++;
	else
		b->repeats++;
	fprintf(b->out, "delivery\t%lld\t%lld\t%s\t%s\t%u\n", (long long)recv_us, (long long)m->delivery_id,
	        m->case_number ? m->case_number : "-", b->dept[d].code, s->receipts);
	if (!s->confirmed &&
	    (s->receipts == 1 || s->ack_sent_ms == 0 || service_now_ms() - s->ack_sent_ms >= b->ack_retry_ms))
		send_ack(b, s);
}

/* An AckConfirmed arrived at recv_us: the delivery is acknowledged for good. */
static void on_ack_confirmed(struct bench *b, int d, const Oro__AckConfirmed *m, int64_t recv_us)
{
	struct seen *s;

	if (!m->has_delivery_id || m->delivery_id <= 0)
		return;
	s = seen_get(b, m->delivery_id, d);
	if (s->confirmed)
		return;
	s->confirmed = true;
	b->acks_confirmed++;
	b->acks_already += m->already;
	fprintf(b->out, "ack\t%lld\t%lld\t%d\n", (long long)recv_us, (long long)m->delivery_id, m->already ? 1 : 0);
}

/*
 * An Error arrived on department d's connection. Returns false when it is
 * a refused Subscribe other than `unavailable` (a configuration problem).
 */
static bool on_error(struct bench *b, int d, const Oro__Envelope *env)
{
	const char *code = env->error->code ? env->error->code : ORO_E_INTERNAL;
	const char *rid = env->request_id ? env->request_id : "";

	if (strncmp(rid, "ack-", 4) == 0 && strtoll(rid + 4, NULL, 10) > 0) {
		struct seen *s = seen_get(b, strtoll(rid + 4, NULL, 10), d);

		/* unavailable or internal: nothing was done, and the retry scan sends it again
		 * ack_retry_ms later; any other refusal is final (e.g. re-routed) */
		if (strcmp(code, ORO_E_UNAVAILABLE) != 0 && strcmp(code, ORO_E_INTERNAL) != 0)
			s->confirmed = true;
		else
			s->retry_at = service_now_ms() + b->ack_retry_ms;
		if (b->ack_errors++ < DEPT_LOG_MAX)
			fprintf(stderr, "oro-bench-dept: delivery=%s department=%s ack refused: %s\n", rid + 4,
			        b->dept[d].code, code);
		return true;
	}
	if (strcmp(code, ORO_E_UNAVAILABLE) == 0)
		return true; /* keep heartbeating */
	fprintf(stderr, "oro-bench-dept: department=%s subscribe refused: %s %s: %s\n", b->dept[d].code, code,
	        env->error->field ? env->error->field : "", env->error->message ? env->error->message : "");
	return false;
}

/* Read everything waiting on department d's connection. Returns false on a refused Subscribe. */
static bool dept_drain(struct bench *b, int d)
{
	struct dept *dp = &b->dept[d];

	for (;;) {
		struct oro_error err = {0};
		Oro__Envelope *env = NULL;
		enum wire_recv_status st = wire_recv_reply(dp->sock, &env, &err);
		int64_t recv_us = tool_realtime_us();
		bool ok = true;

		if (st == WIRE_NONE)
			return true;
		if (st != WIRE_OK)
			continue; /* undecodable: skip it, the protocol recovers by redelivery */
		dp->last_heard = service_now_ms();
		switch (env->body_case) {
		case ORO__ENVELOPE__BODY_DELIVERY:
			on_delivery(b, d, env->delivery, recv_us);
			break;
		case ORO__ENVELOPE__BODY_ACK_CONFIRMED:
			on_ack_confirmed(b, d, env->ack_confirmed, recv_us);
			break;
		case ORO__ENVELOPE__BODY_SUBSCRIBED:
			/* the heartbeat's answer; the server says how often it wants one */
			if (env->subscribed->has_heartbeat_ms && env->subscribed->heartbeat_ms >= 100)
				dp->heartbeat_ms = (int)env->subscribed->heartbeat_ms;
			break;
		case ORO__ENVELOPE__BODY_ERROR:
			ok = on_error(b, d, env);
			break;
		default:
			break;
		}
		wire_envelope_free(&env);
		if (!ok)
			return false;
	}
}

/*
 * Send again every acknowledgement that could not be queued or was refused
 * for now and is due. One merely unconfirmed is not resent on a timer: under
 * load that would multiply oro-notify's work; a lost one (notify restarted,
 * or forgot the connection) is made good by the redelivery that follows.
 */
static void retry_acks(struct bench *b, int64_t now)
{
	bool full[DEPT_MAX] = {false}; /* a send failed: the connection's queue is still full */

	for (size_t k = 0; k < b->seen_cap; k++) {
		struct seen *s = &b->seen[k];

		if (s->id != 0 && !s->confirmed && s->retry_at != 0 && s->retry_at <= now && !full[s->dept]) {
			b->acks_resent++;
			send_ack(b, s);
			full[s->dept] = s->retry_at != 0;
		}
	}
}

/* Follow every department until the time is up or a signal; returns the exit status. */
static int run(struct bench *b)
{
	zmq_pollitem_t items[DEPT_MAX];
	int64_t start = service_now_ms();
	int64_t end = b->seconds > 0 ? start + b->seconds * 1000 : INT64_MAX;
	int64_t next_flush = start + DEPT_FLUSH_MS, next_retry = start + DEPT_RETRY_SCAN_MS;
	int rc = 0;

	for (int d = 0; d < b->n_dept; d++)
		dept_open(b, &b->dept[d]);
	while (!stop_requested && rc == 0) {
		int64_t now = service_now_ms(), wake = next_flush < end ? next_flush : end;

		if (now >= end)
			break;
		for (int d = 0; d < b->n_dept; d++) {
			struct dept *dp = &b->dept[d];

			if (now - dp->last_heard > 3 * (int64_t)dp->heartbeat_ms) {
				/* oro-notify went silent: a new connection gets the backlog again */
				zmq_close(dp->sock);
				dept_open(b, dp);
				dp->reconnects++;
			}
			if (now >= dp->next_beat) {
				dept_subscribe(dp);
				dp->next_beat = now + dp->heartbeat_ms;
			}
			if (dp->next_beat < wake)
				wake = dp->next_beat;
			items[d] = (zmq_pollitem_t){dp->sock, 0, ZMQ_POLLIN, 0};
		}
		if (zmq_poll(items, b->n_dept, wake > now ? (long)(wake - now) : 0) < 0 && errno != EINTR) {
			fprintf(stderr, "oro-bench-dept: zmq_poll: %s\n", zmq_strerror(errno));
			rc = 1;
			break;
		}
		for (int d = 0; d < b->n_dept && rc == 0; d++)
			if ((items[d].revents & ZMQ_POLLIN) && !dept_drain(b, d))
				rc = 1;
		now = service_now_ms();
		if (now >= next_retry) {
			retry_acks(b, now);
			next_retry = now + DEPT_RETRY_SCAN_MS;
		}
		if (now >= next_flush) {
			fflush(b->out);
			next_flush = now + DEPT_FLUSH_MS;
		}
	}
	for (int d = 0; d < b->n_dept; d++)
		zmq_close(b->dept[d].sock);
	return rc;
}

/* Print the summary line (key=value pairs) of a run of secs seconds. */
static void print_summary(const struct bench *b, double secs)
{
	long reconnects = 0, unconfirmed = 0;

	for (int d = 0; d < b->n_dept; d++)
		reconnects += b->dept[d].reconnects;
	for (size_t k = 0; k < b->seen_cap; k++)
		unconfirmed += b->seen[k].id != 0 && b->seen[k].receipts > 0 && !b->seen[k].confirmed;
	printf("oro-bench-dept: summary departments=%d seconds=%.1f deliveries=%ld repeats=%ld "
	       "acks_sent=%ld acks_resent=%ld acks_confirmed=%ld acks_already=%ld ack_errors=%ld "
	       "ack_send_failed=%ld unconfirmed=%ld reconnects=%ld\n",
	       b->n_dept, secs, b->deliveries, b->repeats, b->acks_sent, b->acks_resent, b->acks_confirmed,
	       b->acks_already, b->ack_errors, b->ack_send_failed, unconfirmed, reconnects);
}

/* Add department arg (CODE or CODE=KEYFILE), or exit 2. */
static void add_department(struct bench *b, char *arg)
{
	struct dept *d;
	char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);

	if (b->n_dept == DEPT_MAX)
		usage_fail("at most %s departments", "64");
	if (len == 0 || len > DEPT_NAME_MAX)
		usage_fail("--department needs CODE[=KEYFILE] with a code of 1 to 100 characters, not \"%s\"", arg);
	d = &b->dept[b->n_dept++];
	memcpy(d->code, arg, len);
	d->code[len] = '\0';
	snprintf(d->principal, sizeof d->principal, "dept-%.*s", (int)len, arg);
	if (eq != NULL) {
		struct oro_error err = {0};

		d->key_file = eq + 1;
		if (curve_keys_load(d->key_file, &d->keys, &err) < 0)
			usage_fail("--department key file: %s", err.message);
	}
}

/* Parse the options, follow the departments, print the summary. */
int main(int argc, char **argv)
{
	struct bench b = {.heartbeat_ms = 2000, .ack_retry_ms = 5000};
	const char *out = NULL;
	bool any_key = false;
	struct sigaction sa;
	int64_t t0;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (v == NULL)
			usage_fail("%s needs a value", a);
		i++;
		if (strcmp(a, "--endpoint") == 0)
			b.endpoint = v;
		else if (strcmp(a, "--department") == 0)
			add_department(&b, v);
		else if (strcmp(a, "--curve-server-key") == 0)
			b.server_key_arg = v;
		else if (strcmp(a, "--heartbeat-ms") == 0)
			b.heartbeat_ms = (int)tool_parse_long("oro-bench-dept", usage_text, a, v, 100, 600000);
		else if (strcmp(a, "--ack-retry-ms") == 0)
			b.ack_retry_ms = (int)tool_parse_long("oro-bench-dept", usage_text, a, v, 10, 600000);
		else if (strcmp(a, "--seconds") == 0)
			b.seconds = tool_parse_long("oro-bench-dept", usage_text, a, v, 1, 100000000);
		else if (strcmp(a, "--out") == 0)
			out = v;
		else
			usage_fail("unknown option %s", a);
	}
	if (b.endpoint == NULL || b.n_dept == 0 || out == NULL)
		usage_fail("%s", "--endpoint, --department and --out are required");
	for (int d = 0; d < b.n_dept; d++) {
		b.dept[d].heartbeat_ms = b.heartbeat_ms;
		any_key |= b.dept[d].key_file != NULL;
	}
	if (any_key) {
		struct oro_error err = {0};

		if (b.server_key_arg == NULL)
			usage_fail("%s", "--curve-server-key is required with a department key file");
		if (strlen(b.server_key_arg) == AUTH_Z85_LEN && strchr(b.server_key_arg, '/') == NULL)
			strcpy(b.server_key, b.server_key_arg);
		else if (curve_public_key_read(b.server_key_arg, b.server_key, &err) < 0)
			usage_fail("--curve-server-key: %s", err.message);
	}
	b.out = fopen(out, "w");
	if (b.out == NULL)
		usage_fail("cannot create %s", out);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	b.zmq = zmq_ctx_new();
	t0 = service_now_ms();
	rc = run(&b);
	if (fclose(b.out) != 0) {
		fprintf(stderr, "oro-bench-dept: cannot write %s: %s\n", out, strerror(errno));
		rc = 1;
	}
	print_summary(&b, (double)(service_now_ms() - t0) / 1000.0);
	free(b.seen);
	zmq_ctx_term(b.zmq);
	return rc;
}
