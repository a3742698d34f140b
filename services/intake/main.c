/*
 * oro-intake: accepts concerns from staff clients, stores them, answers.
 *
 * One job: validate a concern, store it (report, its sensitive content and
 * the first timeline entry) in one transaction, and only after COMMIT answer
 * the client with case number, receipt and guidance; then prompt the router.
 * Resubmission with the same client_key by the same reporter returns the
 * stored case and stores nothing. It also answers receipt look-ups.
 *
 * Endpoints:
 *   intake_endpoint         ROUTER, bound: staff clients (REQ or DEALER)
 *   intake_prompt_endpoint  PUB, bound: prompts to oro-router ("report_filed")
 *
 * The description, exact age, the subject's identity, the reporter's phone
 * and the receipt are sealed (content.h) before they are stored, under the
 * keys of key_file, which is reloaded when it changes.
 *
 * Configuration (docs in --help; defaults work for one machine):
 *   database, key_file, curve_key_file, database_roles, intake_endpoint, intake_prompt_endpoint,
 *   sweep_interval_ms (how often the active ruleset and the key file are
 *   rechecked), max_message_size, db_retry_max_ms, log_level, instance.
 *
 * Guidance comes from the active ruleset as this daemon holds it; the router
 * records the routing decision itself (XXX: a publish between the two can
 * make the guidance come from the previous version; the reply is advice,
 * the decision is the record).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <jansson.h>

#include "alloc.h"
#include "audit.h"
#include "content.h"
#include "counters.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "rules.h"
#include "service.h"
#include "strategy.h"
#include "wire.h"

static const struct db_statement statements[] = {
        STRATEGY_STATEMENTS,
        SERVICE_STATUS_STATEMENTS,
        AUDIT_STATEMENTS,
        AUTH_STATEMENTS,
        {"find_case", "SELECT r.case_number, c.receipt, r.guidance::text, " DB_RFC3339(
                              "r.filed_at") ", encode(r.receipt_hash, 'hex')"
                                            " FROM report r JOIN report_content c ON c.report_id = r.id"
                                            " WHERE r.reporter = $1 AND r.client_key = $2"},
        /* One statement, so one atomic round trip: number, report, content, timeline. */
        {"file_case", "WITH n AS ("
                      "  INSERT INTO case_counter AS cc (year, last_number)"
                      "  VALUES (extract(year FROM now() AT TIME ZONE 'Europe/Stockholm')::int, 1)"
                      "  ON CONFLICT (year) DO UPDATE SET last_number = cc.last_number + 1"
                      "  RETURNING year, last_number),"
                      " r AS ("
                      "  INSERT INTO report (case_number, reporter, client_key, receipt_hash, category, urgency,"
                      "   subject_kind, age_band, setting, district, association_grant, relatives_informed,"
                      "   observed_at, reporter_unit, guidance)"
                      "  SELECT format('ORO-%s-%s', n.year, lpad(n.last_number::text, greatest(6, "
                      "length(n.last_number::text)), '0')),"
                      "   $1, $2, $3::bytea, $4, $5, $6, $7, $8, $9, $10, $11, $12::timestamptz, $13, $14::jsonb FROM n"
                      "  RETURNING id, case_number, filed_at),"
                      " c AS ("
                      "  INSERT INTO report_content (report_id, description, subject_age, subject_name,"
                      "   subject_personal_number, subject_unit, reporter_phone, receipt)"
                      "  SELECT r.id, $15, $16, $17, $18, $19, $20, $21 FROM r),"
                      " t AS ("
                      "  INSERT INTO timeline (report_id, event, actor, detail)"
                      "  SELECT r.id, 'filed', $1, jsonb_build_object('instance', $22::text) FROM r)"
                      " SELECT id, case_number, " DB_RFC3339("filed_at") " FROM r"},
        {"case_status",
         "SELECT r.case_number, r.state, " DB_RFC3339("r.filed_at") ", " DB_RFC3339(
                 "r.routed_at") ","
                                " count(d.id), count(d.id) FILTER (WHERE d.state = 'acknowledged'), r.reporter"
                                " FROM report r LEFT JOIN delivery d ON d.report_id = r.id"
                                " WHERE r.receipt_hash = $1::bytea GROUP BY r.id"},
};

struct intake {
	struct service svc;
	struct db *db;
	struct ruleset *rs;
	struct keyring *keys; /* seal the content before it is stored */
	void *clients;
	void *prompts;
	int64_t next_refresh;
	unsigned db_generation; /* connection the ruleset was last checked on */
	bool ready;
};

/* The guidance array of a JSON text stored with the report, into reply. */
static void reply_guidance(Oro__FileReply *reply, json_t *guidance)
{
	size_t n = json_array_size(guidance);

	reply->n_guidance = n;
	reply->guidance = xcalloc(n ? n : 1, sizeof *reply->guidance);
	for (size_t i = 0; i < n; i++) {
		json_t *g = json_array_get(guidance, i);
		Oro__Guidance *m = xmalloc(sizeof *m);

		oro__guidance__init(m);
		m->sv = (char *)json_string_value(json_object_get(g, "sv"));
		m->en = (char *)json_string_value(json_object_get(g, "en"));
		reply->guidance[i] = m;
	}
}

/* Send FileReply built from a stored case (row of find_case or file_case). */
static void reply_case(struct intake *in, const struct wire_peer *peer, const char *request_id, const char *case_number,
                       const char *receipt, json_t *guidance, const char *filed_at, bool duplicate)
{
	Oro__Envelope env;
	Oro__FileReply reply;

	wire_envelope_init(&env);
	oro__file_reply__init(&reply);
	reply.case_number = (char *)case_number;
	reply.receipt = (char *)receipt;
	reply.has_duplicate = true;
	reply.duplicate = duplicate;
	reply.filed_at = (char *)filed_at;
	reply_guidance(&reply, guidance);
	env.request_id = (char *)request_id;
	env.body_case = ORO__ENVELOPE__BODY_FILE_REPLY;
	env.file_reply = &reply;
	if (wire_send_routed(in->clients, peer, &env) < 0)
		log_warn("case=%s reply=undeliverable reason=\"client gone\"", case_number);
	for (size_t i = 0; i < reply.n_guidance; i++)
		free(reply.guidance[i]);
	free(reply.guidance);
}

/* Look for an earlier filing of the same (reporter, client_key); 1 found and answered, 0 none, <0 db error. */
static int answer_existing(struct intake *in, const struct wire_peer *peer, const char *request_id,
                           const struct concern *c)
{
	const char *params[2] = {c->reporter_principal, c->client_key};
	struct db_result *res;
	json_t *guidance;
	int rc = db_exec(in->db, "find_case", 2, params, &res);

	if (rc != DB_OK)
		return rc;
	if (db_result_rows(res) == 0) {
		db_result_free(&res);
		return 0;
	}
	bool failed = false;
	char *receipt = content_open(in->keys, db_result_value(res, 0, 4), CONTENT_RECEIPT, db_result_value(res, 0, 1),
	                             &failed);

	if (failed || receipt == NULL) {
		log_error("case=%s event=unseal_failed field=receipt", db_result_value(res, 0, 0));
		db_result_free(&res);
		free(receipt);
		return DB_ERR_OTHER;
	}
	guidance = json_loads(db_result_value(res, 0, 2), 0, NULL);
	reply_case(in, peer, request_id, db_result_value(res, 0, 0), receipt, guidance, db_result_value(res, 0, 3),
	           true);
	log_info("case=%s event=resubmitted", db_result_value(res, 0, 0));
	free(receipt);
	json_decref(guidance);
	db_result_free(&res);
	return 1;
}

/* The reporter's guidance for c as a JSON array [{sv, en}], most urgent first. */
static json_t *guidance_for(const struct ruleset *rs, const struct concern *c)
{
	struct route route = {0};
	json_t *out = json_array();

	ruleset_evaluate(rs, c, &route);
	for (size_t i = 0; i < route.n_guidance; i++)
		json_array_append_new(
		        out, json_pack("{s:s?, s:s?}", "sv", route.guidance[i].sv, "en", route.guidance[i].en));
	route_free(&route);
	return out;
}

/* Store a new case and answer; returns a db status. */
static int file_new(struct intake *in, const struct wire_peer *peer, const char *request_id, const struct concern *c)
{
	char receipt[CRYPTO_RECEIPT_LEN + 1];
	unsigned char hash[CRYPTO_SHA256_LEN];
	char age[16];
	json_t *guidance = guidance_for(in->rs, c);
	char *guidance_text = json_dumps(guidance, JSON_COMPACT);
	char *hash_hex;
	struct db_result *res;
	int rc;

	crypto_receipt_new(receipt);
	crypto_sha256(receipt, CRYPTO_RECEIPT_LEN, hash);
	hash_hex = db_bytea_hex(hash, sizeof hash);
	snprintf(age, sizeof age, "%d", c->age);

	/* Sealed before they leave this process: the database never sees them in clear. */
	const char *plain[CONTENT_FIELDS] = {
	        c->description,  c->has_age ? age : NULL, c->subject_name, c->personal_number,
	        c->subject_unit, c->reporter_phone,       receipt};
	char *sealed[CONTENT_FIELDS];

	for (int f = 0; f < CONTENT_FIELDS; f++)
		sealed[f] = content_seal(in->keys, hash_hex + 2, (enum content_field)f, plain[f]);

	const char *params[22] = {
	        c->reporter_principal,
	        c->client_key,
	        hash_hex,
	        category_names[c->v.category],
	        urgency_names[c->v.urgency],
	        subject_kind_names[c->v.kind],
	        age_band_names[c->v.band],
	        setting_names[c->v.setting],
	        c->district,
	        tristate_names[c->v.grant],
	        tristate_names[c->v.relatives],
	        c->observed_at,
	        c->reporter_unit,
	        guidance_text,
	        sealed[CONTENT_DESCRIPTION],
	        sealed[CONTENT_AGE],
	        sealed[CONTENT_NAME],
	        sealed[CONTENT_PERSONAL_NUMBER],
	        sealed[CONTENT_UNIT],
	        sealed[CONTENT_PHONE],
	        sealed[CONTENT_RECEIPT],
	        in->svc.cfg.instance,
	};

	/* One transaction: the report, its content, its timeline and audit entries. */
	rc = db_begin(in->db);
	if (rc == DB_OK)
		rc = db_exec(in->db, "file_case", 22, params, &res);
	if (rc == DB_OK) {
		json_t *d = json_pack("{s:s, s:s, s:s}", "case", db_result_value(res, 0, 1), "category",
		                      category_names[c->v.category], "urgency", urgency_names[c->v.urgency]);
		char *detail = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		struct audit_entry e = {c->reporter_principal, "filed", db_result_int(res, 0, 0), 0, detail};

		rc = audit_append(in->db, in->keys, &e, 1);
		free(detail);
		json_decref(d);
	}
	if (rc == DB_OK)
		rc = db_commit(in->db);
	if (rc != DB_OK)
		db_rollback(in->db);
	if (rc == DB_OK) {
		const char *case_number = db_result_value(res, 0, 1);
		int64_t id = db_result_int(res, 0, 0);

		log_info("case=%s event=filed report=%lld category=%s urgency=%s", case_number, (long long)id,
		         category_names[c->v.category], urgency_names[c->v.urgency]);
		/* The case is durable now (COMMIT returned): only now may the reporter hear it exists. */
		reply_case(in, peer, request_id, case_number, receipt, guidance, db_result_value(res, 0, 2), false);
		counter_add("filed", 1);
		wire_publish_prompt(in->prompts, "report_filed", id);
	}
	db_result_free(&res);
	for (int f = 0; f < CONTENT_FIELDS; f++)
		free(sealed[f]);
	free(hash_hex);
	free(guidance_text);
	json_decref(guidance);
	return rc;
}

/* Map a database failure to the client's error. */
static void db_failure(struct intake *in, const char *what, int rc, struct oro_error *err)
{
	if (rc == DB_ERR_CONNECTION) {
		oro_error_set(err, ORO_E_UNAVAILABLE, "",
		              "the case store is temporarily unavailable; nothing was stored: try again");
		return;
	}
	log_error("request=%s db=failed sqlstate=%s error=%s", what, db_last_sqlstate(in->db),
	          log_quote(db_last_error(in->db)));
	oro_error_set(err, ORO_E_INTERNAL, "", "the request failed on our side and was logged; nothing was stored");
}

/* Record a refusal for lack of rights in the audit trail (its own transaction). */
static void audit_forbidden(struct intake *in, const char *who, const char *what)
{
	char detail[96];
	struct audit_entry e = {who, "forbidden", 0, 0, detail};

	snprintf(detail, sizeof detail, "{\"request\":\"%s\"}", what);
	if (db_ready(in->db))
		audit_record(in->db, in->keys, &e);
}

/*
 * On an authenticated (CURVE) connection, the principal must be staff (or
 * an admin) to file or follow; returns it, or NULL after refusing with
 * `forbidden` (audited). On a local ipc:// connection, *ok is set and NULL
 * returned: the name in the message is trusted there.
 */
static const struct principal *authorize(struct intake *in, const struct wire_peer *peer, const char *request_id,
                                         const char *what, bool *ok)
{
	const struct principal *p = service_principal(&in->svc, peer->user);
	struct oro_error err = {0};

	*ok = true;
	if (peer->user[0] == '\0')
		return NULL;
	if (p != NULL && (strcmp(p->kind, "staff") == 0 || strcmp(p->kind, "admin") == 0))
		return p;
	*ok = false;
	oro_error_set(&err, ORO_E_FORBIDDEN, "", "%s is not allowed for principal %.60s", what, peer->user);
	audit_forbidden(in, peer->user, what);
	service_refuse(in->clients, peer, request_id, &err);
	return NULL;
}

/* FileConcern: validate, deduplicate, store, answer, prompt. */
static void handle_file(struct intake *in, const struct wire_peer *peer, const char *request_id,
                        const Oro__FileConcern *m)
{
	struct concern c = {0};
	struct oro_error err = {0};
	bool allowed;
	const struct principal *p = authorize(in, peer, request_id, "file_concern", &allowed);
	int rc;

	if (!allowed)
		return;
	wire_concern_from_pb(m, &c);
	if (p != NULL) {
		/* the reporter on record is the authenticated principal, whatever the message says */
		free(c.reporter_principal);
		c.reporter_principal = xstrdup(p->name);
	}
	if (c.reporter_principal == NULL || *c.reporter_principal == '\0') {
		oro_error_set(&err, ORO_E_MISSING, "reporter_principal", "who files the concern is required");
		goto refuse;
	}
	if (strlen(c.reporter_principal) > CONCERN_TEXT_MAX) {
		oro_error_set(&err, ORO_E_TOO_LONG, "reporter_principal", "at most %d bytes", CONCERN_TEXT_MAX);
		goto refuse;
	}
	if (in->rs == NULL || !db_ready(in->db)) {
		oro_error_set(&err, ORO_E_UNAVAILABLE, "",
		              "the case store is temporarily unavailable; nothing was stored: try again");
		goto refuse;
	}
	if (concern_validate(&c, in->rs, 0, &err) < 0)
		goto refuse;

	/* Two attempts: a concurrent filing of the same client_key makes the
	 * first insert fail on the unique key, and the second finds it. */
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = answer_existing(in, peer, request_id, &c);
		if (rc == 0)
			rc = file_new(in, peer, request_id, &c);
		if (rc >= 0)
			goto done;
		if (rc != DB_ERR_CONSTRAINT && rc != DB_ERR_RETRY)
			break;
	}
	db_failure(in, "file", rc, &err);
refuse:
	service_refuse(in->clients, peer, request_id, &err);
done:
	concern_clear(&c);
}

/* FollowReceipt: the case's status for the holder of its receipt. */
static void handle_follow(struct intake *in, const struct wire_peer *peer, const char *request_id,
                          const Oro__FollowReceipt *m)
{
	struct oro_error err = {0};
	char receipt[CRYPTO_RECEIPT_LEN + 1];
	unsigned char hash[CRYPTO_SHA256_LEN];
	const char *params[1];
	struct db_result *res = NULL;
	char *hash_hex;
	size_t len = m->receipt ? strlen(m->receipt) : 0;
	bool allowed;
	const struct principal *p = authorize(in, peer, request_id, "follow_receipt", &allowed);
	int rc;

	if (!allowed)
		return;
	if (len != CRYPTO_RECEIPT_LEN ||
	    strspn(m->receipt, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz") != len) {
		oro_error_set(&err, len ? ORO_E_INVALID_VALUE : ORO_E_MISSING, "receipt",
		              "a receipt is %d characters A-Z and 2-7", CRYPTO_RECEIPT_LEN);
		service_refuse(in->clients, peer, request_id, &err);
		return;
	}
	for (size_t i = 0; i <= len; i++)
		receipt[i] = (char)(m->receipt[i] >= 'a' && m->receipt[i] <= 'z' ? m->receipt[i] - 32 : m->receipt[i]);
	crypto_sha256(receipt, len, hash);
	hash_hex = db_bytea_hex(hash, sizeof hash);
	params[0] = hash_hex;
	rc = db_ready(in->db) ? db_exec(in->db, "case_status", 1, params, &res) : DB_ERR_CONNECTION;
	free(hash_hex);
	if (rc != DB_OK) {
		db_failure(in, "follow", rc, &err);
		service_refuse(in->clients, peer, request_id, &err);
		return;
	}
	if (db_result_rows(res) == 0) {
		oro_error_set(&err, ORO_E_NOT_FOUND, "receipt", "no case has this receipt");
		service_refuse(in->clients, peer, request_id, &err);
		db_result_free(&res);
		return;
	}
	/* staff follow only their own cases (an admin any) */
	if (p != NULL && strcmp(p->kind, "staff") == 0 && strcmp(db_result_value(res, 0, 6), p->name) != 0) {
		db_result_free(&res);
		oro_error_set(&err, ORO_E_FORBIDDEN, "receipt", "this receipt belongs to another reporter's case");
		audit_forbidden(in, p->name, "follow_receipt");
		service_refuse(in->clients, peer, request_id, &err);
		return;
	}

	Oro__Envelope env;
	Oro__CaseStatus st;
	int64_t total = db_result_int(res, 0, 4), acked = db_result_int(res, 0, 5);

	wire_envelope_init(&env);
	oro__case_status__init(&st);
	st.case_number = (char *)db_result_value(res, 0, 0);
	st.state = (char *)(total > 0 && acked == total ? "acknowledged" : db_result_value(res, 0, 1));
	st.filed_at = (char *)db_result_value(res, 0, 2);
	st.routed_at = (char *)db_result_value(res, 0, 3);
	st.has_deliveries = st.has_acknowledged = true;
	st.deliveries = (uint32_t)total;
	st.acknowledged = (uint32_t)acked;
	env.request_id = (char *)request_id;
	env.body_case = ORO__ENVELOPE__BODY_CASE_STATUS;
	env.case_status = &st;
	wire_send_routed(in->clients, peer, &env);
	db_result_free(&res);
}

/* One request from a staff client: the dispatcher. Returns false when none was waiting. */
static bool handle_request(struct intake *in)
{
	struct wire_peer peer;
	struct oro_error err = {0};
	char request_id[64];
	Oro__Envelope *env = NULL;

	switch (wire_recv_routed(in->clients, &peer, &env, &err, request_id)) {
	case WIRE_NONE:
		return false;
	case WIRE_REFUSED:
		service_refuse(in->clients, &peer, request_id, &err);
		return true;
	case WIRE_DROPPED:
		log_warn("request=dropped code=%s", err.code);
		counter_add("dropped", 1);
		return true;
	case WIRE_OK:
		break;
	}
	switch (env->body_case) {
	case ORO__ENVELOPE__BODY_FILE_CONCERN:
		handle_file(in, &peer, request_id, env->file_concern);
		break;
	case ORO__ENVELOPE__BODY_FOLLOW_RECEIPT:
		handle_follow(in, &peer, request_id, env->follow_receipt);
		break;
	default:
		oro_error_set(&err, ORO_E_UNKNOWN_TYPE, "body",
		              "message type %d is not served by oro-intake (file_concern, follow_receipt)",
		              (int)env->body_case);
		service_refuse(in->clients, &peer, request_id, &err);
		break;
	}
	wire_envelope_free(&env);
	return true;
}

/* This instance's status for oro health. */
static void write_status(struct intake *in, bool log_it)
{
	service_status_write(&in->svc, in->db, json_pack("{s:i}", "ruleset", in->rs ? ruleset_version(in->rs) : 0),
	                     log_it);
}

/* Periodic work: reconnect, follow the active ruleset, report status. */
static void housekeeping(struct intake *in)
{
	int64_t now = service_now_ms();

	if (!db_ready(in->db) || (now < in->next_refresh && db_generation(in->db) == in->db_generation))
		return;
	in->next_refresh = now + in->svc.cfg.sweep_interval_ms;
	in->db_generation = db_generation(in->db);
	content_keys_follow(&in->keys, in->svc.cfg.key_file);
	service_auth_refresh(&in->svc, in->db);
	if (strategy_refresh(in->db, &in->rs) == DB_OK && in->rs == NULL)
		log_warn("ruleset=none event=waiting reason=\"no active ruleset: publish one with oro rules publish\"");
	if (!in->ready && in->rs != NULL) {
		in->ready = true;
		log_info("event=ready endpoint=%s ruleset=%d", in->svc.cfg.intake_endpoint, ruleset_version(in->rs));
	}
	write_status(in, false);
}

int main(int argc, char **argv)
{
	struct intake in = {
	        .svc =
	                {
	                        .name = "oro-intake",
	                        .users = CFG_INTAKE,
	                        .manual = "usage: oro-intake [--config FILE] [--KEY VALUE]...\n"
	                                  "Accepts concerns from staff clients, stores them in PostgreSQL and answers\n"
	                                  "with case number, receipt and guidance only after COMMIT; then prompts "
	                                  "oro-router.",
	                },
	};

	service_start(&in.svc, argc, argv);
	content_keys_follow(&in.keys, in.svc.cfg.key_file);
	in.db = service_db(&in.svc, statements, sizeof statements / sizeof statements[0]);
	in.clients = service_socket(&in.svc, ZMQ_ROUTER, in.svc.cfg.intake_endpoint, true);
	in.prompts = service_socket(&in.svc, ZMQ_PUB, in.svc.cfg.intake_prompt_endpoint, true);
	db_listen(in.db, STRATEGY_CHANNEL);

	while (service_running()) {
		/* the database socket carries NOTIFY oro_ruleset: follow a publish at once */
		zmq_pollitem_t items[3];
		int n_items = 0;

		items[n_items++] = (zmq_pollitem_t){in.clients, 0, ZMQ_POLLIN, 0};
		if (in.svc.auth != NULL) /* the ZAP handler: connections authenticate on this loop */
			items[n_items++] = (zmq_pollitem_t){auth_socket(in.svc.auth), 0, ZMQ_POLLIN, 0};
		if (db_socket(in.db) >= 0)
			items[n_items++] = (zmq_pollitem_t){NULL, db_socket(in.db), ZMQ_POLLIN, 0};
		int64_t wait = in.next_refresh - service_now_ms();

		if (!db_ready(in.db) && db_retry_in_ms(in.db) < wait)
			wait = db_retry_in_ms(in.db) + 1;
		if (wait < 1)
			wait = 1;
		if (wait > 1000)
			wait = 1000;
		if (zmq_poll(items, n_items, (long)wait) > 0) {
			/* bounded batch so housekeeping is never starved */
			service_auth_poll(&in.svc);
			for (int i = 0; i < 256 && handle_request(&in); i++)
				;
		}
		/* every pass: libpq may have queued a notification while running a query */
		if (db_notifications(in.db) > 0)
			in.next_refresh = 0;
		if (service_status_requested())
			write_status(&in, true);
		housekeeping(&in);
	}
	log_info("event=stopping");
	zmq_close(in.clients);
	zmq_close(in.prompts);
	ruleset_destroy(&in.rs);
	keyring_destroy(&in.keys);
	db_destroy(&in.db);
	service_stop(&in.svc);
	return 0;
}
