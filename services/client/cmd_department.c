/*
 * oro inbox, show and ack: a department's commands (notify_endpoint).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <jansson.h>

#include "alloc.h"
#include "client.h"
#include "crypto.h"

/* A delivery as JSON (only the fields present). */
static json_t *delivery_json(const Oro__Delivery *d)
{
	json_t *j = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}",
	                      "delivery_id", (json_int_t)d->delivery_id, "case_number", d->case_number, "department",
	                      d->department, "view", d->view, "priority", d->priority, "deadline", d->deadline, "state",
	                      d->state, "category", d->category, "urgency", d->urgency, "subject_kind", d->subject_kind,
	                      "age_band", d->age_band, "setting", d->setting, "district", d->district);
	const struct {
		const char *key, *value;
	} extra[] = {
	        {"filed_at", d->filed_at},
	        {"disclosure_basis", d->disclosure_basis},
	        {"association_grant", d->association_grant},
	        {"relatives_informed", d->relatives_informed},
	        {"observed_at", d->observed_at},
	        {"acknowledged_at", d->acknowledged_at},
	        {"acknowledged_by", d->acknowledged_by},
	        {"description", d->description},
	        {"reporter_principal", d->reporter_principal},
	};

	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
		if (extra[i].value != NULL)
			json_object_set_new(j, extra[i].key, json_string(extra[i].value));
	if (d->subject != NULL) {
		json_t *s = json_object();

		if (d->subject->has_age)
			json_object_set_new(s, "age", json_integer(d->subject->age));
		if (d->subject->name)
			json_object_set_new(s, "name", json_string(d->subject->name));
		if (d->subject->personal_number)
			json_object_set_new(s, "personal_number", json_string(d->subject->personal_number));
		if (d->subject->unit)
			json_object_set_new(s, "unit", json_string(d->subject->unit));
		json_object_set_new(j, "subject", s);
	}
	if (d->reporter != NULL) {
		json_t *r = json_object();

		if (d->reporter->unit)
			json_object_set_new(r, "unit", json_string(d->reporter->unit));
		if (d->reporter->phone)
			json_object_set_new(r, "phone", json_string(d->reporter->phone));
		json_object_set_new(j, "reporter", r);
	}
	return j;
}

/* Print a delivery for people. */
static void print_delivery(const Oro__Delivery *d, bool brief)
{
#define S(x) ((x) ? (x) : "-")
	printf("Delivery %lld  %s  %s  %s view  %s  acknowledge by %s%s\n", (long long)d->delivery_id,
	       S(d->case_number), S(d->department), S(d->view), S(d->priority), S(d->deadline),
	       d->acknowledged_at ? "  (acknowledged)" : "");
	printf("  %s, %s; subject %s (age %s); %s, %s\n", S(d->category), S(d->urgency), S(d->subject_kind),
	       S(d->age_band), S(d->setting), S(d->district));
	if (brief)
		return;
	if (d->disclosure_basis)
		printf("  Disclosure basis: %s\n", d->disclosure_basis);
	if (d->observed_at)
		printf("  Observed: %s   Relatives informed: %s   Association grant: %s\n", d->observed_at,
		       S(d->relatives_informed), S(d->association_grant));
	if (d->description)
		printf("  Description: %s\n", d->description);
	if (d->subject &&
	    (d->subject->name || d->subject->personal_number || d->subject->unit || d->subject->has_age)) {
		printf("  Subject:");
		if (d->subject->name)
			printf(" %s", d->subject->name);
		if (d->subject->personal_number)
			printf(", %s", d->subject->personal_number);
		if (d->subject->has_age)
			printf(", %u years", d->subject->age);
		if (d->subject->unit)
			printf(", %s", d->subject->unit);
		printf("\n");
	}
	if (d->reporter_principal)
		printf("  Reported by: %s%s%s%s%s\n", d->reporter_principal,
		       d->reporter && d->reporter->unit ? ", " : "",
		       d->reporter && d->reporter->unit ? d->reporter->unit : "",
		       d->reporter && d->reporter->phone ? ", " : "",
		       d->reporter && d->reporter->phone ? d->reporter->phone : "");
	if (d->acknowledged_at)
		printf("  Acknowledged %s by %s\n", d->acknowledged_at, S(d->acknowledged_by));
#undef S
}

/* Fill env and m as an Acknowledge of delivery id by this client (request id "ack"). */
static void ack_envelope(Oro__Envelope *env, Oro__Acknowledge *m, int64_t id)
{
	wire_envelope_init(env);
	oro__acknowledge__init(m);
	m->has_delivery_id = true;
	m->delivery_id = id;
	m->department = (char *)my_department();
	m->principal = (char *)my_principal();
	env->request_id = "ack";
	env->body_case = ORO__ENVELOPE__BODY_ACKNOWLEDGE;
	env->acknowledge = m;
}

/* Send Acknowledge for delivery id on sock, without waiting; its request id is "ack:ID". */
static int send_ack(void *sock, int64_t id)
{
	Oro__Envelope env;
	Oro__Acknowledge m;
	char request_id[32];

	ack_envelope(&env, &m, id);
	snprintf(request_id, sizeof request_id, "ack:%lld", (long long)id);
	env.request_id = request_id;
	return wire_send_request(sock, &env);
}

/* Print an AckConfirmed (one JSON line with --json). */
static void print_ack(const Oro__AckConfirmed *a)
{
	if (json_output) {
		json_t *j = json_pack("{s:{s:I, s:s?, s:s?, s:b}}", "acknowledged", "delivery_id",
		                      (json_int_t)a->delivery_id, "acknowledged_at", a->acknowledged_at,
		                      "acknowledged_by", a->acknowledged_by, "already", a->already);

		json_dumpf(j, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(j);
	} else {
		printf("Acknowledged delivery %lld at %s by %s%s\n", (long long)a->delivery_id, a->acknowledged_at,
		       a->acknowledged_by, a->already ? " (earlier)" : "");
	}
	fflush(stdout);
}

static const char ack_help[] = "usage: oro ack DELIVERY [--department D] [--json]\n"
                               "\n"
                               "Acknowledges a delivery of your department: records that it reached a person,\n"
                               "with the time and your principal, and stops its redelivery. Acknowledging again\n"
                               "is harmless and reports the first acknowledgement.\n";

/* oro ack */
int cmd_ack(int argc, char **argv)
{
	const char *pos[1];
	struct opt opts[] = {{NULL, false, NULL, NULL}};
	struct oro_error err = {0};
	Oro__Envelope env, *reply;
	Oro__Acknowledge m;
	int rc = EXIT_DONE;

	if (parse_opts(argc, argv, 2, opts, pos, 1, ack_help) != 1)
		usage_error("ack needs a DELIVERY id");
	ack_envelope(&env, &m, parse_delivery_id(pos[0]));
	/* acknowledging is idempotent: a resend after a lost reply reports the first one */
	reply = request(svc.cfg.notify_endpoint, &env, true, &err);
	if (reply == NULL || is_error(reply, &err))
		rc = report_error(&err);
	else if (reply->body_case != ORO__ENVELOPE__BODY_ACK_CONFIRMED)
		rc = report_error(&(struct oro_error){ORO_E_MALFORMED, "", "unexpected reply type"});
	else
		print_ack(reply->ack_confirmed);
	wire_envelope_free(&reply);
	return rc;
}

static const char show_help[] = "usage: oro show DELIVERY [--department D] [--json]\n"
                                "\n"
                                "Shows one delivery of your department: with view full, the description, the\n"
                                "subject's identity and the reporter's contact; with view notice, only the\n"
                                "de-identified fields.\n";

/* oro show */
int cmd_show(int argc, char **argv)
{
	const char *pos[1];
	struct opt opts[] = {{NULL, false, NULL, NULL}};
	struct oro_error err = {0};
	Oro__Envelope env, *reply;
	Oro__ShowDelivery m;
	int rc = EXIT_DONE;

	if (parse_opts(argc, argv, 2, opts, pos, 1, show_help) != 1)
		usage_error("show needs a DELIVERY id");
	wire_envelope_init(&env);
	oro__show_delivery__init(&m);
	m.has_delivery_id = true;
	m.delivery_id = parse_delivery_id(pos[0]);
	m.department = (char *)my_department();
	m.principal = (char *)my_principal();
	env.body_case = ORO__ENVELOPE__BODY_SHOW_DELIVERY;
	env.show_delivery = &m;
	reply = request(svc.cfg.notify_endpoint, &env, true, &err);
	if (reply == NULL || is_error(reply, &err))
		rc = report_error(&err);
	else if (reply->body_case != ORO__ENVELOPE__BODY_DELIVERY)
		rc = report_error(&(struct oro_error){ORO_E_MALFORMED, "", "unexpected reply type"});
	else if (json_output)
		print_json(delivery_json(reply->delivery));
	else
		print_delivery(reply->delivery, false);
	wire_envelope_free(&reply);
	return rc;
}

static const char inbox_help[] =
        "usage: oro inbox [--department D] [--all] [--limit N] [--json]\n"
        "       oro inbox [--department D] --follow [--ack] [--max N] [--for SECONDS] [--json]\n"
        "\n"
        "Lists your department's unacknowledged deliveries (--all: also acknowledged\n"
        "ones; newest first, at most --limit, default 100), with the de-identified\n"
        "fields only: use `oro show` for the content.\n"
        "\n"
        "--follow subscribes and prints each delivery as it arrives (every open one\n"
        "first), with its content when the view is full, and again as a reminder while\n"
        "it stays unacknowledged; --ack acknowledges each one as it is printed (and\n"
        "shows each once; an acknowledgement refused for now or unanswered is sent\n"
        "again after request_timeout_ms). notify_endpoint may list several oro-notify\n"
        "instances, separated by commas: the client follows all of them. It stops\n"
        "after --max deliveries or --for seconds, or on Ctrl-C. With --json, follow\n"
        "prints one JSON object per line. Exit code 3 when --max was not reached\n"
        "within --for.\n";

/* Send Subscribe on sock, once per connected endpoint (DEALER sends round-robin). */
static void subscribe(void *sock, int n_endpoints)
{
	Oro__Envelope env;
	Oro__Subscribe m;

	wire_envelope_init(&env);
	oro__subscribe__init(&m);
	m.department = (char *)my_department();
	m.principal = (char *)my_principal();
	env.request_id = "subscribe";
	env.body_case = ORO__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &m;
	for (int i = 0; i < n_endpoints; i++)
		wire_send_request(sock, &env);
}

#define FOLLOW_SEEN 4096

/* True when id is among the recently remembered ones; remembers it if not. */
static bool seen_before(int64_t seen[FOLLOW_SEEN], int64_t id)
{
	int64_t *slot = &seen[(uint64_t)id % FOLLOW_SEEN];

	if (*slot == id)
		return true;
	*slot = id;
	return false;
}

/* True when id is among the recently remembered ones. */
static bool remembered(const int64_t seen[FOLLOW_SEEN], int64_t id)
{
	return seen[(uint64_t)id % FOLLOW_SEEN] == id;
}

/* Acknowledgements sent and not yet answered (oro inbox --follow --ack). */
struct unanswered {
	struct {
		int64_t id, sent_at;
	} *ack;
	size_t n, cap;
};

/* Note that the acknowledgement of id was sent now (again, or for the first time). */
static void unanswered_sent(struct unanswered *u, int64_t id)
{
	size_t i = 0;

	while (i < u->n && u->ack[i].id != id)
		i++;
	if (i == u->n) {
		if (u->n == u->cap) {
			u->cap = u->cap ? 2 * u->cap : 64;
			u->ack = xrealloc(u->ack, u->cap * sizeof *u->ack);
		}
		u->n++;
	}
	u->ack[i].id = id;
	u->ack[i].sent_at = service_now_ms();
}

/* The acknowledgement of id was answered: forget it. */
static void unanswered_done(struct unanswered *u, int64_t id)
{
	for (size_t i = 0; i < u->n; i++)
		if (u->ack[i].id == id) {
			u->ack[i] = u->ack[--u->n];
			return;
		}
}

/*
 * Send again each acknowledgement unanswered for request_timeout_ms: a reply
 * can be lost (notify drops what does not fit a full queue, an instance
 * dies), and acknowledging again is harmless.
 */
static void unanswered_resend(struct unanswered *u, void *sock)
{
	int64_t now = service_now_ms();

	for (size_t i = 0; i < u->n; i++)
		if (now - u->ack[i].sent_at >= svc.cfg.request_timeout_ms && send_ack(sock, u->ack[i].id) == 0)
			u->ack[i].sent_at = now;
}

/*
 * oro inbox --follow: subscribe, heartbeat, print what arrives and, with
 * ack, acknowledge it without waiting (confirmations arrive in the same
 * stream as further deliveries; one unanswered for request_timeout_ms is
 * sent again). Ends after max deliveries (and their confirmations), after
 * for_s seconds, or on a signal.
 */
static int inbox_follow(bool ack, long max, long for_s)
{
	int n_endpoints;
	void *sock = client_socket(svc.cfg.notify_endpoint, &n_endpoints);
	int64_t end = for_s > 0 ? service_now_ms() + for_s * 1000 : INT64_MAX;
	int64_t seen_ids[FOLLOW_SEEN] = {0}, confirmed[FOLLOW_SEEN] = {0};
	int64_t next_beat = 0, last_heard = service_now_ms();
	int hb = svc.cfg.heartbeat_ms;
	long seen = 0;
	struct unanswered acks = {0};
	int rc = EXIT_DONE;

	while (service_running() && (max <= 0 || seen < max || acks.n > 0)) {
		zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
		int64_t now = service_now_ms();
		Oro__Envelope *env;
		struct oro_error err = {0};

		if (now >= end) {
			if (max > 0)
				rc = EXIT_UNAVAILABLE;
			break;
		}
		if (now - last_heard > 3 * (int64_t)hb) {
			/* oro-notify went silent: a new connection gets the backlog again */
			zmq_close(sock);
			sock = client_socket(svc.cfg.notify_endpoint, NULL);
			last_heard = now;
			next_beat = 0;
			acks.n = 0; /* the backlog comes again, and is acknowledged again */
		}
		if (now >= next_beat) {
			subscribe(sock, n_endpoints);
			next_beat = now + hb;
		}
		unanswered_resend(&acks, sock);
		int64_t wait = next_beat < end ? next_beat - now : end - now;

		if (acks.n > 0 && wait > 100)
			wait = 100; /* an acknowledgement may be due again */
		if (zmq_poll(&item, 1, (long)wait) <= 0)
			continue;
		if (wire_recv_reply(sock, &env, &err) != WIRE_OK)
			continue;
		last_heard = service_now_ms();
		switch (env->body_case) {
		case ORO__ENVELOPE__BODY_DELIVERY:
			/* with --ack a delivery is shown once and handled once its acknowledgement
			 * is confirmed: until then a redelivery (several notify instances, a
			 * reconnect, a reminder) sends the acknowledgement again, as one sent to
			 * an instance that died meanwhile is lost; without --ack, a repeat is a
			 * reminder to show */
			if (ack && remembered(confirmed, env->delivery->delivery_id))
				break;
			if (!ack || !seen_before(seen_ids, env->delivery->delivery_id)) {
				seen++;
				if (json_output) {
					json_t *j = json_pack("{s:o}", "delivery", delivery_json(env->delivery));

					json_dumpf(j, stdout, JSON_COMPACT);
					putchar('\n');
					json_decref(j);
				} else {
					print_delivery(env->delivery, false);
				}
				fflush(stdout);
			}
			if (ack && send_ack(sock, env->delivery->delivery_id) == 0)
				unanswered_sent(&acks, env->delivery->delivery_id);
			break;
		case ORO__ENVELOPE__BODY_ACK_CONFIRMED:
			unanswered_done(&acks, env->ack_confirmed->delivery_id);
			if (!seen_before(confirmed, env->ack_confirmed->delivery_id))
				print_ack(env->ack_confirmed);
			break;
		case ORO__ENVELOPE__BODY_ERROR: {
			bool of_ack = env->request_id != NULL && strncmp(env->request_id, "ack:", 4) == 0;

			is_error(env, &err);
			/* refused for now (the database is away): unanswered_resend() sends it again */
			if (of_ack && strcmp(err.code, ORO_E_UNAVAILABLE) != 0 && strcmp(err.code, ORO_E_INTERNAL) != 0)
				unanswered_done(&acks, strtoll(env->request_id + 4, NULL, 10));
			if (strcmp(err.code, ORO_E_UNAVAILABLE) == 0) {
				/* the database is away: keep following; the next heartbeat asks again */
				fprintf(stderr, "oro: %s: %s\n", err.code, err.message);
				break;
			}
			rc = report_error(&err);
			if (!of_ack) {
				wire_envelope_free(&env);
				goto out; /* a refused subscription: nothing to follow */
			}
			break;
		}
		case ORO__ENVELOPE__BODY_SUBSCRIBED:
			/* the heartbeat's answer; the server says how often it wants one */
			if (env->subscribed->has_heartbeat_ms && env->subscribed->heartbeat_ms >= 100)
				hb = (int)env->subscribed->heartbeat_ms;
			break;
		default:
			break;
		}
		wire_envelope_free(&env);
	}
out:
	free(acks.ack);
	zmq_close(sock);
	return rc;
}

/* oro inbox */
int cmd_inbox(int argc, char **argv)
{
	bool follow = false, ack = false, all = false;
	const char *max_s = NULL, *for_s = NULL, *limit_s = NULL;
	struct opt opts[] = {{"follow", false, NULL, &follow}, {"ack", false, NULL, &ack},
	                     {"all", false, NULL, &all},       {"max", true, &max_s, NULL},
	                     {"for", true, &for_s, NULL},      {"limit", true, &limit_s, NULL},
	                     {NULL, false, NULL, NULL}};
	struct oro_error err = {0};
	Oro__Envelope env, *reply;
	Oro__ListInbox m;
	long max = max_s ? atol(max_s) : 0, limit;
	int rc = EXIT_DONE;

	parse_opts(argc, argv, 2, opts, NULL, 0, inbox_help);
	max = max_s ? atol(max_s) : 0;
	if (follow)
		return inbox_follow(ack, max, for_s ? atol(for_s) : 0);
	if (ack || max_s || for_s)
		usage_error("--ack, --max and --for go with --follow");
	limit = limit_s ? atol(limit_s) : 100;
	wire_envelope_init(&env);
	oro__list_inbox__init(&m);
	m.department = (char *)my_department();
	m.has_include_acknowledged = true;
	m.include_acknowledged = all;
	m.has_limit = true;
	m.limit = limit > 0 && limit < 100000 ? (uint32_t)limit : 0;
	env.body_case = ORO__ENVELOPE__BODY_LIST_INBOX;
	env.list_inbox = &m;
	reply = request(svc.cfg.notify_endpoint, &env, true, &err);
	if (reply == NULL || is_error(reply, &err)) {
		rc = report_error(&err);
	} else if (reply->body_case != ORO__ENVELOPE__BODY_INBOX) {
		rc = report_error(&(struct oro_error){ORO_E_MALFORMED, "", "unexpected reply type"});
	} else if (json_output) {
		json_t *arr = json_array();

		for (size_t i = 0; i < reply->inbox->n_deliveries; i++)
			json_array_append_new(arr, delivery_json(reply->inbox->deliveries[i]));
		print_json(json_pack("{s:s, s:o}", "department", m.department, "deliveries", arr));
	} else {
		printf("%zu deliveries for %s\n", reply->inbox->n_deliveries, m.department);
		for (size_t i = 0; i < reply->inbox->n_deliveries; i++)
			print_delivery(reply->inbox->deliveries[i], true);
	}
	wire_envelope_free(&reply);
	return rc;
}

static const char reroute_help[] =
        "usage: oro reroute DELIVERY --to DEPARTMENT --reason TEXT [--basis TEXT] [--department D] [--json]\n"
        "\n"
        "Sends a case on to another department: your delivery (or, for the strategy's\n"
        "coordinator, any delivery) is closed as re-routed, and the other department\n"
        "gets a new delivery with the same view, priority and acknowledgement time; both\n"
        "steps and the reason go into the case timeline. A full view to the police needs\n"
        "the legal basis for the disclosure (--basis).\n";

/* oro reroute */
int cmd_reroute(int argc, char **argv)
{
	const char *pos[1], *to = NULL, *reason = NULL, *basis = NULL;
	struct opt opts[] = {{"to", true, &to, NULL},
	                     {"reason", true, &reason, NULL},
	                     {"basis", true, &basis, NULL},
	                     {NULL, false, NULL, NULL}};
	struct oro_error err = {0};
	Oro__Envelope env, *reply;
	Oro__Reroute m;
	int rc = EXIT_DONE;

	if (parse_opts(argc, argv, 2, opts, pos, 1, reroute_help) != 1)
		usage_error("reroute needs a DELIVERY id");
	if (to == NULL || reason == NULL)
		usage_error("reroute needs --to DEPARTMENT and --reason TEXT");
	wire_envelope_init(&env);
	oro__reroute__init(&m);
	m.has_delivery_id = true;
	m.delivery_id = parse_delivery_id(pos[0]);
	m.department = (char *)my_department();
	m.to_department = (char *)to;
	m.reason = (char *)reason;
	m.principal = (char *)my_principal();
	m.disclosure_basis = (char *)basis;
	env.body_case = ORO__ENVELOPE__BODY_REROUTE;
	env.reroute = &m;
	/* not idempotent: a resend after a lost reply would be refused as re-routed already */
	reply = request(svc.cfg.notify_endpoint, &env, false, &err);
	if (reply == NULL || is_error(reply, &err)) {
		rc = report_error(&err);
	} else if (reply->body_case != ORO__ENVELOPE__BODY_REROUTED) {
		rc = report_error(&(struct oro_error){ORO_E_MALFORMED, "", "unexpected reply type"});
	} else {
		const Oro__Rerouted *r = reply->rerouted;

		if (json_output)
			print_json(json_pack("{s:I, s:I, s:s?, s:s?}", "delivery_id", (json_int_t)r->delivery_id,
			                     "new_delivery_id", (json_int_t)r->new_delivery_id, "to_department",
			                     r->to_department, "view", r->view));
		else
			printf("Delivery %lld re-routed: %s has it as delivery %lld (%s view).\n",
			       (long long)r->delivery_id, r->to_department, (long long)r->new_delivery_id, r->view);
	}
	wire_envelope_free(&reply);
	return rc;
}
