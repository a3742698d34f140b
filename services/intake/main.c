/*
 * oro-intake: accepts concerns from staff clients, stores them, answers.
 *
 * One job: validate a concern, store it (report, its sensitive content,
 * the first timeline entry and the audit entry) and only after COMMIT
 * answer the client with case number, receipt and guidance; then prompt the
 * router. Resubmission with the same client_key by the same reporter
 * returns the stored case and stores nothing. It also answers receipt
 * look-ups.
 *
 * Group commit: the concerns that arrived together (up to batch_max; with
 * batch_wait_ms > 0, also those arriving that long after the first) are
 * stored in one transaction by one statement, so they share one WAL flush
 * and one hold of the audit chain's lock. A second thread, the committer,
 * runs those transactions on its own connection; while it stores one
 * batch, the main thread reads, validates and seals the concerns of the
 * next (struct intake). Each client is answered only after the COMMIT that
 * holds its concern. A batch that fails as a whole (say a unique
 * violation: another instance filed the same client_key at that moment) is
 * retried one concern at a time.
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
 *   rechecked), batch_max, batch_wait_ms, max_message_size, db_retry_max_ms,
 *   log_level, instance.
 *
 * Guidance comes from the active ruleset as this daemon holds it; the router
 * records the routing decision itself (XXX: a publish between the two can
 * make the guidance come from the previous version; the reply is advice,
 * the decision is the record).
 */
#include <errno.h>
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
        /*
         * The earlier filings among the pairs ($1[i], $2[i]) of (reporter,
         * client_key): an index look-up per pair, whatever the size of report
         * when the plan was cached (db_lookups_only; LIMIT keeps each
         * subquery a look-up of its own rather than a join to plan).
         */
        {"find_cases",
         "SELECT r.reporter, r.client_key, r.case_number, c.receipt, r.guidance::text, " DB_RFC3339(
                 "r.filed_at") ", encode(r.receipt_hash, 'hex')"
                               " FROM unnest($1::text[], $2::text[]) AS k(reporter, client_key),"
                               " LATERAL (SELECT * FROM report x"
                               "  WHERE x.reporter = k.reporter AND x.client_key = k.client_key LIMIT 1) r,"
                               " LATERAL (SELECT x.receipt FROM report_content x WHERE x.report_id = r.id LIMIT 1) c"},
        /*
         * One statement files a whole batch (element i of each array is
         * concern i): numbers in order of i, reports, contents, timeline. A
         * (reporter, client_key) filed before is skipped, not an error: the
         * caller sees a row short, rolls back and looks the pairs up first
         * (file_batch).
         */
        {"file_cases",
         "WITH i AS ("
         "  SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[],"
         "   $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::text[],"
         "   $14::jsonb[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],"
         "   $21::text[]) WITH ORDINALITY"
         "   AS t(reporter, client_key, receipt_hash, category, urgency, subject_kind, age_band, setting,"
         "   district, grant_, relatives, observed_at, reporter_unit, guidance, description, subject_age,"
         "   subject_name, personal_number, subject_unit, reporter_phone, receipt, ord)),"
         " n AS ("
         "  INSERT INTO case_counter AS cc (year, last_number)"
         "  VALUES (extract(year FROM now() AT TIME ZONE 'Europe/Stockholm')::int, cardinality($1::text[]))"
         "  ON CONFLICT (year) DO UPDATE SET last_number = cc.last_number + EXCLUDED.last_number"
         "  RETURNING year, last_number - cardinality($1::text[]) AS base),"
         " r AS ("
         "  INSERT INTO report (case_number, reporter, client_key, receipt_hash, category, urgency,"
         "   subject_kind, age_band, setting, district, association_grant, relatives_informed,"
         "   observed_at, reporter_unit, guidance)"
         "  SELECT format('ORO-%s-%s', n.year, lpad((n.base + i.ord)::text, greatest(6, "
         "length((n.base + i.ord)::text)), '0')),"
         "   i.reporter, i.client_key, i.receipt_hash, i.category, i.urgency, i.subject_kind, i.age_band,"
         "   i.setting, i.district, i.grant_, i.relatives, i.observed_at, i.reporter_unit, i.guidance"
         "  FROM i, n ORDER BY i.ord"
         "  ON CONFLICT (reporter, client_key) DO NOTHING"
         "  RETURNING id, case_number, filed_at, receipt_hash),"
         " c AS ("
         "  INSERT INTO report_content (report_id, description, subject_age, subject_name,"
         "   subject_personal_number, subject_unit, reporter_phone, receipt)"
         "  SELECT r.id, i.description, i.subject_age, i.subject_name, i.personal_number, i.subject_unit,"
         "   i.reporter_phone, i.receipt FROM r JOIN i USING (receipt_hash)),"
         " t AS ("
         "  INSERT INTO timeline (report_id, event, actor, detail)"
         "  SELECT r.id, 'filed', i.reporter, jsonb_build_object('instance', $22::text)"
         "  FROM r JOIN i USING (receipt_hash))"
         " SELECT encode(receipt_hash, 'hex'), id, case_number, " DB_RFC3339("filed_at") " FROM r"},
        {"case_status",
         "SELECT r.case_number, r.state, " DB_RFC3339("r.filed_at") ", " DB_RFC3339(
                 "r.routed_at") ","
                                " count(d.id), count(d.id) FILTER (WHERE d.state = 'acknowledged'), r.reporter"
                                " FROM report r LEFT JOIN delivery d ON d.report_id = r.id"
                                " WHERE r.receipt_hash = $1::bytea GROUP BY r.id"},
};

/* file_new's status when a (reporter, client_key) of the batch was filed before: rolled back */
#define FILED_BEFORE 1

/* What became of a filing: set by the committer, answered by the main thread. */
enum outcome {
	OUTCOME_NONE,      /* not yet settled */
	OUTCOME_FILED,     /* a new case, committed */
	OUTCOME_DUPLICATE, /* (reporter, client_key) was filed before: that case */
	OUTCOME_FAILED,    /* nothing stored: err */
};

/* A concern waiting in a batch, and what is known of it. */
struct filing {
	struct wire_peer peer;
	char request_id[64];
	struct concern c;
	bool follower; /* the same (reporter, client_key) as an earlier filing in the batch */
	/* set by filing_prepare when it is queued: a new case's receipt, guidance, sealed content */
	char receipt[CRYPTO_RECEIPT_LEN + 1];
	char *hash_bytea; /* the receipt's hash as bytea text "\\x..."; + 2: plain hex */
	json_t *guidance;
	char *guidance_text;
	char *sealed[CONTENT_FIELDS];
	/* set by the committer */
	enum outcome outcome;
	int64_t report_id;     /* filed */
	char *case_number;     /* filed, duplicate */
	char *filed_at;        /* filed, duplicate */
	char *stored_receipt;  /* duplicate: the receipt as stored (sealed) */
	char *stored_hash;     /* duplicate: its hash, hex */
	char *stored_guidance; /* duplicate: the guidance as stored (JSON text) */
	struct oro_error err;  /* failed */
};

/*
 * Two threads. The main thread owns the sockets, the ruleset and the key
 * file: it reads the requests, validates and seals each concern, answers
 * look-ups, and answers each filing once the committer has settled it.
 * The committer thread only runs the batch transactions, on its own
 * connection (commit_db), one batch at a time: while it commits one batch,
 * the main thread reads and seals the next, so that the two overlap. The
 * batch in flight (flight, n_flight) is the committer's from the message
 * that hands it over (committer_hand) until it is done; meanwhile
 * the main thread neither touches it nor replaces the keyring, whose audit
 * MAC the committer uses.
 */
struct intake {
	struct service svc;
	struct db *db;
	struct ruleset *rs;
	struct keyring *keys; /* seal the content before it is stored */
	void *clients;
	void *prompts;
	struct filing *batch; /* batch_max filings, filling: group commit */
	size_t n_batch;
	struct filing *flight; /* batch_max filings: the batch being committed */
	size_t n_flight;
	bool busy;            /* the committer holds flight */
	struct db *commit_db; /* the committer's connection */
	struct committer committer;
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

/*
 * Committer: settle, as duplicates, the filings of the batch not yet
 * settled whose (reporter, client_key) was filed before (followers only
 * when `followers`, the others only when not). Returns a db status.
 */
static int answer_existing(struct intake *in, struct filing *batch, size_t n, bool followers)
{
	const char **reporters = xcalloc(n, sizeof *reporters), **keys = xcalloc(n, sizeof *keys);
	struct db_result *res = NULL;
	size_t k = 0;
	int rc = DB_OK;

	for (size_t i = 0; i < n; i++)
		if (batch[i].outcome == OUTCOME_NONE && batch[i].follower == followers) {
			reporters[k] = batch[i].c.reporter_principal;
			keys[k++] = batch[i].c.client_key;
		}
	if (k > 0) {
		char *a_reporters = db_text_array(reporters, k), *a_keys = db_text_array(keys, k);
		const char *params[2] = {a_reporters, a_keys};

		rc = db_exec(in->commit_db, "find_cases", 2, params, &res);
		free(a_reporters);
		free(a_keys);
	}
	for (int row = 0; rc == DB_OK && row < db_result_rows(res); row++) {
		for (size_t i = 0; i < n; i++) {
			struct filing *f = &batch[i];

			if (f->outcome != OUTCOME_NONE || f->follower != followers ||
			    strcmp(f->c.reporter_principal, db_result_value(res, row, 0)) != 0 ||
			    strcmp(f->c.client_key, db_result_value(res, row, 1)) != 0)
				continue;
			f->outcome = OUTCOME_DUPLICATE;
			f->case_number = xstrdup(db_result_value(res, row, 2));
			f->stored_receipt = xstrdup(db_result_value(res, row, 3));
			f->stored_guidance = xstrdup(db_result_value(res, row, 4));
			f->filed_at = xstrdup(db_result_value(res, row, 5));
			f->stored_hash = xstrdup(db_result_value(res, row, 6));
		}
	}
	db_result_free(&res);
	free(reporters);
	free(keys);
	return rc;
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

/* Receipt, guidance and sealed content of a new filing: sealed before they
 * leave this process, so the database never sees them in clear. Main
 * thread, as the filing is queued; unused when it turns out a duplicate. */
static void filing_prepare(struct intake *in, struct filing *f)
{
	const struct concern *c = &f->c;
	unsigned char hash[CRYPTO_SHA256_LEN];
	char age[16];

	crypto_receipt_new(f->receipt);
	crypto_sha256(f->receipt, CRYPTO_RECEIPT_LEN, hash);
	f->hash_bytea = db_bytea_hex(hash, sizeof hash);
	f->guidance = guidance_for(in->rs, c);
	f->guidance_text = json_dumps(f->guidance, JSON_COMPACT);
	snprintf(age, sizeof age, "%d", c->age);

	const char *plain[CONTENT_FIELDS] = {
	        c->description,  c->has_age ? age : NULL, c->subject_name, c->personal_number,
	        c->subject_unit, c->reporter_phone,       f->receipt};

	for (int k = 0; k < CONTENT_FIELDS; k++)
		f->sealed[k] = content_seal(in->keys, f->hash_bytea + 2, (enum content_field)k, plain[k]);
}

/* Free what filing_prepare() and the committer made, and the concern. */
static void filing_release(struct filing *f)
{
	json_decref(f->guidance);
	free(f->guidance_text);
	free(f->hash_bytea);
	for (int k = 0; k < CONTENT_FIELDS; k++)
		free(f->sealed[k]);
	free(f->case_number);
	free(f->filed_at);
	free(f->stored_receipt);
	free(f->stored_hash);
	free(f->stored_guidance);
	concern_clear(&f->c);
	memset(f, 0, sizeof *f);
}

/* Column j of file_cases ($j+1) for filing f, as text. */
#define FILE_COLUMNS 21
static const char *file_column(const struct filing *f, int j)
{
	const struct concern *c = &f->c;

	switch (j) {
	case 0: return c->reporter_principal;
	case 1: return c->client_key;
	case 2: return f->hash_bytea;
	case 3: return category_names[c->v.category];
	case 4: return urgency_names[c->v.urgency];
	case 5: return subject_kind_names[c->v.kind];
	case 6: return age_band_names[c->v.band];
	case 7: return setting_names[c->v.setting];
	case 8: return c->district;
	case 9: return tristate_names[c->v.grant];
	case 10: return tristate_names[c->v.relatives];
	case 11: return c->observed_at;
	case 12: return c->reporter_unit;
	case 13: return f->guidance_text;
	default: return f->sealed[j - 14]; /* CONTENT_DESCRIPTION ... CONTENT_RECEIPT */
	}
}

/* The filing of todo[0..k) whose receipt hash is hex, or NULL; rows come
 * back in insertion order in practice, so todo[hint] is tried first. */
static struct filing *filing_of(struct filing **todo, size_t k, size_t hint, const char *hex)
{
	for (size_t i = 0; i < k; i++) {
		struct filing *f = todo[(hint + i) % k];

		if (hex != NULL && strcmp(f->hash_bytea + 2, hex) == 0)
			return f;
	}
	return NULL;
}

/*
 * Committer: file the batch's filings that are neither settled nor
 * followers, in one transaction (reports, contents, timeline and audit
 * entries: one COMMIT, one WAL flush, one hold of the audit chain's lock),
 * and only after COMMIT settle each of them as filed. Returns a db status,
 * or FILED_BEFORE when a (reporter, client_key) of them was filed before;
 * on failure nothing was stored and nothing settled.
 */
static int file_new(struct intake *in, struct filing *batch, size_t n)
{
	struct filing **todo = xcalloc(n, sizeof *todo), **by_row = xcalloc(n, sizeof *by_row);
	const char **col = xcalloc(n, sizeof *col);
	char *arrays[FILE_COLUMNS];
	const char *params[FILE_COLUMNS + 1];
	struct db_result *res = NULL, *head = NULL;
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (batch[i].outcome == OUTCOME_NONE && !batch[i].follower)
			todo[k++] = &batch[i];
	for (int j = 0; j < FILE_COLUMNS; j++) {
		for (size_t i = 0; i < k; i++)
			col[i] = file_column(todo[i], j);
		params[j] = arrays[j] = db_text_array(col, k);
	}
	params[FILE_COLUMNS] = in->svc.cfg.instance;

	/* one round trip to file them and take the audit chain's head, one to append to it and commit */
	struct db_step filing[] = {{.sql = "BEGIN"},
	                           {.name = "file_cases", .nparams = FILE_COLUMNS + 1, .params = params, .out = &res},
	                           AUDIT_HEAD_STEP(&in->svc.name, &head)};

	rc = k == 0 ? DB_OK : db_exec_steps(in->commit_db, filing, sizeof filing / sizeof filing[0]);
	/* each row of i makes one report, unless its pair was filed before: match them up by receipt hash */
	if (k > 0 && rc == DB_OK && (size_t)db_result_rows(res) != k)
		rc = FILED_BEFORE;
	for (size_t row = 0; k > 0 && rc == DB_OK && row < k; row++)
		if ((by_row[row] = filing_of(todo, k, row, db_result_value(res, (int)row, 0))) == NULL)
			rc = DB_ERR_OTHER;
	if (k > 0 && rc == DB_OK) {
		struct audit_entry *audit = xcalloc(k, sizeof *audit);
		char **details = xcalloc(k, sizeof *details);

		for (int row = 0; row < (int)k; row++) {
			const struct filing *f = by_row[row];
			json_t *d = json_pack("{s:s, s:s, s:s}", "case", db_result_value(res, row, 2), "category",
			                      category_names[f->c.v.category], "urgency", urgency_names[f->c.v.urgency]);

			details[row] = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
			json_decref(d);
			audit[row] = (struct audit_entry){f->c.reporter_principal, "filed", db_result_int(res, row, 1), 0,
			                                  details[row]};
		}
		rc = audit_append_commit(in->commit_db, head, in->keys, in->svc.name, audit, k);
		for (size_t i = 0; i < k; i++)
			free(details[i]);
		free(details);
		free(audit);
	}
	if (rc != DB_OK)
		db_rollback(in->commit_db);
	/* The cases are durable now (COMMIT returned): only now may the reporters hear they exist. */
	for (int row = 0; rc == DB_OK && row < (int)k; row++) {
		struct filing *f = by_row[row];

		f->outcome = OUTCOME_FILED;
		f->report_id = db_result_int(res, row, 1);
		f->case_number = xstrdup(db_result_value(res, row, 2));
		f->filed_at = xstrdup(db_result_value(res, row, 3));
	}
	db_result_free(&res);
	db_result_free(&head);
	for (int j = 0; j < FILE_COLUMNS; j++)
		free(arrays[j]);
	free(col);
	free(by_row);
	free(todo);
	return rc;
}

/* The client's message for a failure on our side. */
static const char internal_message[] = "the request failed on our side and was logged; nothing was stored";

/* Map a database failure on db to the client's error. */
static void db_failure(struct db *db, const char *what, int rc, struct oro_error *err)
{
	if (rc == DB_ERR_CONNECTION) {
		oro_error_set(err, ORO_E_UNAVAILABLE, "",
		              "the case store is temporarily unavailable; nothing was stored: try again");
		return;
	}
	log_error("request=%s db=failed sqlstate=%s error=%s", what, db_last_sqlstate(db),
	          log_quote(db_last_error(db)));
	oro_error_set(err, ORO_E_INTERNAL, "", "%s", internal_message);
}

static void settle(struct intake *in);

/* Record a refusal for lack of rights in the audit trail (its own transaction). */
static void audit_forbidden(struct intake *in, const char *who, const char *what)
{
	char detail[96];
	struct audit_entry e = {who, "forbidden", 0, 0, detail};

	snprintf(detail, sizeof detail, "{\"request\":\"%s\"}", what);
	settle(in); /* the keyring's audit MAC is the committer's meanwhile */
	if (db_ready(in->db))
		audit_record(in->db, in->keys, in->svc.name, &e);
}

/*
 * Committer: deduplicate and file batch[0..n): filings of a (reporter,
 * client_key) stored before are settled as duplicates, the rest filed in
 * one transaction, then the later filings of a pair that the batch itself
 * holds twice are settled as duplicates of the first. Most concerns are
 * new, so the batch is filed at once and the pairs are looked up only when
 * one was filed before (a round trip saved per batch). Returns a db status;
 * DB_ERR_CONSTRAINT when a pair was filed meanwhile (by another instance).
 */
static int file_batch(struct intake *in, struct filing *batch, size_t n)
{
	int rc;

	for (size_t i = 1; i < n; i++)
		for (size_t j = 0; j < i && !batch[i].follower; j++)
			batch[i].follower = !batch[j].follower &&
			                    strcmp(batch[i].c.reporter_principal, batch[j].c.reporter_principal) == 0 &&
			                    strcmp(batch[i].c.client_key, batch[j].c.client_key) == 0;
	rc = file_new(in, batch, n);
	if (rc == FILED_BEFORE) {
		rc = answer_existing(in, batch, n, false);
		if (rc == DB_OK)
			rc = file_new(in, batch, n);
		if (rc == FILED_BEFORE)
			rc = DB_ERR_CONSTRAINT;
	}
	if (rc == DB_OK)
		rc = answer_existing(in, batch, n, true);
	return rc;
}

/*
 * Committer: settle every filing of the batch in flight (a case, a
 * duplicate, or an error: nothing stored). When the batch as a whole fails
 * for anything but a lost connection (such as another intake instance
 * filing the same client_key at the same moment: a unique violation), each
 * filing is tried alone, twice, so one cannot hold up the others.
 */
static void commit_batch(void *arg)
{
	struct intake *in = arg;
	int rc = db_ready(in->commit_db) ? file_batch(in, in->flight, in->n_flight) : DB_ERR_CONNECTION;

	for (size_t i = 0; i < in->n_flight; i++) {
		struct filing *f = &in->flight[i];
		int one = rc;

		for (int attempt = 0; f->outcome == OUTCOME_NONE && one != DB_ERR_CONNECTION && attempt < 2;
		     attempt++) {
			f->follower = false;
			one = file_batch(in, f, 1);
			if (one != DB_ERR_CONSTRAINT && one != DB_ERR_RETRY)
				break;
		}
		if (f->outcome == OUTCOME_NONE) {
			db_failure(in->commit_db, "file", one, &f->err);
			f->outcome = OUTCOME_FAILED;
		}
	}
}

/* Main thread: answer a filing the committer settled. */
static void answer(struct intake *in, struct filing *f)
{
	json_t *guidance;
	char *receipt;
	bool failed = false;

	switch (f->outcome) {
	case OUTCOME_FILED:
		log_info("case=%s event=filed report=%lld category=%s urgency=%s", f->case_number,
		         (long long)f->report_id, category_names[f->c.v.category], urgency_names[f->c.v.urgency]);
		reply_case(in, &f->peer, f->request_id, f->case_number, f->receipt, f->guidance, f->filed_at, false);
		return;
	case OUTCOME_DUPLICATE:
		receipt = content_open(in->keys, f->stored_hash, CONTENT_RECEIPT, f->stored_receipt, &failed);
		if (failed || receipt == NULL) {
			log_error("case=%s event=unseal_failed field=receipt", f->case_number);
			oro_error_set(&f->err, ORO_E_INTERNAL, "", "%s", internal_message);
			service_refuse(in->clients, &f->peer, f->request_id, &f->err);
		} else {
			guidance = json_loads(f->stored_guidance, 0, NULL);
			reply_case(in, &f->peer, f->request_id, f->case_number, receipt, guidance, f->filed_at, true);
			log_info("case=%s event=resubmitted", f->case_number);
			json_decref(guidance);
		}
		free(receipt);
		return;
	case OUTCOME_NONE: /* cannot happen: commit_batch settles every filing */
	case OUTCOME_FAILED:
		service_refuse(in->clients, &f->peer, f->request_id, &f->err);
		return;
	}
}

/* Main thread: the committer is done with the batch in flight: answer each filing, prompt the router. */
static void answer_batch(struct intake *in)
{
	int64_t last = 0;
	size_t filed = 0;

	for (size_t i = 0; i < in->n_flight; i++) {
		struct filing *f = &in->flight[i];

		answer(in, f);
		if (f->outcome == OUTCOME_FILED) {
			filed++;
			last = f->report_id > last ? f->report_id : last;
		}
		filing_release(f);
	}
	if (filed > 0) {
		counter_add("filed", filed);
		wire_publish_prompt(in->prompts, "report_filed", last);
	}
	in->n_flight = 0;
	in->busy = false;
}

/* Main thread: hand the filling batch to the committer, if it is idle. */
static void dispatch(struct intake *in)
{
	struct filing *b = in->flight;

	if (in->busy || in->n_batch == 0)
		return;
	in->flight = in->batch;
	in->n_flight = in->n_batch;
	in->batch = b;
	in->n_batch = 0;
	in->busy = true;
	committer_hand(&in->committer);
}

/* Main thread: wait for the committer to hand back the batch in flight, and answer it. */
static void committed(struct intake *in)
{
	committer_done(&in->committer);
	answer_batch(in);
}

/* Main thread: wait until the committer is idle (answering the batch it held). */
static void settle(struct intake *in)
{
	if (in->busy)
		committed(in);
}

/*
 * Before answering a request of peer at once (a refusal, a look-up): file
 * the batches that hold a filing of the same connection and answer them,
 * so that each connection gets its replies in the order of its requests
 * (docs/protocol.md §3).
 */
static void keep_order(struct intake *in, const struct wire_peer *peer)
{
	bool queued = false;

	for (size_t i = 0; i < in->n_batch && !queued; i++)
		queued = wire_peer_same(&in->batch[i].peer, peer);
	for (size_t i = 0; in->busy && i < in->n_flight && !queued; i++)
		queued = wire_peer_same(&in->flight[i].peer, peer);
	if (!queued)
		return;
	settle(in);
	dispatch(in);
	settle(in);
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
	keep_order(in, peer);
	service_refuse(in->clients, peer, request_id, &err);
	return NULL;
}

/* FileConcern: validate, and queue for the next group commit (file_batch). */
static void handle_file(struct intake *in, const struct wire_peer *peer, const char *request_id,
                        const Oro__FileConcern *m)
{
	struct filing *f = &in->batch[in->n_batch];
	struct concern *c = &f->c;
	struct oro_error err = {0};
	bool allowed;
	const struct principal *p = authorize(in, peer, request_id, "file_concern", &allowed);

	if (!allowed)
		return;
	memset(f, 0, sizeof *f);
	wire_concern_from_pb(m, c);
	if (p != NULL) {
		/* the reporter on record is the authenticated principal, whatever the message says */
		free(c->reporter_principal);
		c->reporter_principal = xstrdup(p->name);
	}
	if (c->reporter_principal == NULL || *c->reporter_principal == '\0') {
		oro_error_set(&err, ORO_E_MISSING, "reporter_principal", "who files the concern is required");
		goto refuse;
	}
	if (strlen(c->reporter_principal) > CONCERN_TEXT_MAX) {
		oro_error_set(&err, ORO_E_TOO_LONG, "reporter_principal", "at most %d bytes", CONCERN_TEXT_MAX);
		goto refuse;
	}
	if (in->rs == NULL || !db_ready(in->db)) {
		oro_error_set(&err, ORO_E_UNAVAILABLE, "",
		              "the case store is temporarily unavailable; nothing was stored: try again");
		goto refuse;
	}
	if (concern_validate(c, in->rs, 0, &err) < 0)
		goto refuse;
	f->peer = *peer;
	snprintf(f->request_id, sizeof f->request_id, "%s", request_id);
	filing_prepare(in, f);
	in->n_batch++;
	return;
refuse:
	keep_order(in, peer);
	service_refuse(in->clients, peer, request_id, &err);
	concern_clear(c);
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
	keep_order(in, peer);
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
		db_failure(in->db, "follow", rc, &err);
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
		keep_order(in, &peer);
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
		keep_order(in, &peer);
		service_refuse(in->clients, &peer, request_id, &err);
		break;
	}
	wire_envelope_free(&env);
	return true;
}

/*
 * Read the waiting requests: look-ups are answered at once, filings queue
 * for one group commit, until batch_max filings are queued or no request
 * is waiting; with batch_wait_ms, and the committer idle, wait that long
 * after the first filing for more. Bounded, so that housekeeping is never
 * starved.
 */
static void take_requests(struct intake *in)
{
	size_t max = (size_t)in->svc.cfg.batch_max;
	int64_t until = 0;

	for (size_t handled = 0; in->n_batch < max && handled < 4 * max; handled++) {
		if (handle_request(in)) {
			if (until == 0 && in->n_batch > 0)
				until = service_now_ms() + in->svc.cfg.batch_wait_ms;
			continue;
		}
		zmq_pollitem_t item = {in->clients, 0, ZMQ_POLLIN, 0};
		int64_t left = until - service_now_ms();

		if (in->n_batch == 0 || in->busy || left <= 0 || zmq_poll(&item, 1, (long)left) <= 0)
			break;
		service_auth_poll(&in->svc);
	}
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
	settle(in); /* the committer uses the keyring that a changed key file replaces */
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
	in.commit_db = service_db(&in.svc, statements, sizeof statements / sizeof statements[0]);
	db_lookups_only(in.db);
	db_lookups_only(in.commit_db);
	in.clients = service_socket(&in.svc, ZMQ_ROUTER, in.svc.cfg.intake_endpoint, true);
	in.prompts = service_socket(&in.svc, ZMQ_PUB, in.svc.cfg.intake_prompt_endpoint, true);
	in.batch = xcalloc((size_t)in.svc.cfg.batch_max, sizeof *in.batch);
	in.flight = xcalloc((size_t)in.svc.cfg.batch_max, sizeof *in.flight);
	db_listen(in.db, STRATEGY_CHANNEL);
	committer_start(&in.committer, &in.svc, commit_batch, &in);

	while (service_running()) {
		/* the database socket carries NOTIFY oro_ruleset: follow a publish at once */
		zmq_pollitem_t items[4];
		int n_items = 0;

		items[n_items++] = (zmq_pollitem_t){in.committer.pipe, 0, ZMQ_POLLIN, 0};
		if (in.n_batch < (size_t)in.svc.cfg.batch_max) /* else wait for the committer first */
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
			if (items[0].revents & ZMQ_POLLIN)
				committed(&in);
			service_auth_poll(&in.svc);
			take_requests(&in);
		}
		/* every pass: libpq may have queued a notification while running a query */
		if (db_notifications(in.db) > 0)
			in.next_refresh = 0;
		if (service_status_requested())
			write_status(&in, true);
		housekeeping(&in);
		/* every pass: a settle() (housekeeping, a refusal) leaves the committer idle with filings queued */
		dispatch(&in);
	}
	log_info("event=stopping");
	/* answer what was queued */
	settle(&in);
	dispatch(&in);
	settle(&in);
	committer_stop(&in.committer);
	zmq_close(in.clients);
	zmq_close(in.prompts);
	free(in.batch);
	free(in.flight);
	db_destroy(&in.commit_db);
	ruleset_destroy(&in.rs);
	keyring_destroy(&in.keys);
	db_destroy(&in.db);
	service_stop(&in.svc);
	return 0;
}
