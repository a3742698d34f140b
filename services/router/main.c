/*
 * oro-router: decides which departments get each filed concern.
 *
 * One job: for every report still in state 'received', evaluate the active
 * ruleset and record the decision (ruleset version and matched rules), one
 * delivery per recipient department, the timeline entry and the report's
 * new state; then prompt oro-notify. Prompts from intake only wake it
 * early: it also sweeps the database at start and every sweep_interval_ms,
 * so a lost prompt or a restart only delays routing. Reports are claimed
 * with FOR UPDATE SKIP LOCKED, so several routers may share one database
 * without routing a report twice.
 *
 * Group commit: a sweep claims up to batch_max reports at a time, evaluates
 * each, and records all of their rows with one statement in one
 * transaction, so a batch costs one commit (claim and statement go in one
 * round trip each, COMMIT with the statement). notify is prompted after
 * each batch's COMMIT. When a batch fails for anything but a lost
 * connection, it is rolled back and its reports are routed one per
 * transaction, so one bad row cannot hold up the others; a report that
 * fails on its own is skipped for the rest of the sweep and retried in the
 * next. A lost connection ends the sweep: the reports stay unrouted until
 * the sweep after the reconnect. A prompt starts a sweep at once, or with
 * batch_wait_ms > 0 that long after the first prompt, so that the reports
 * filed meanwhile share its commits.
 *
 * The active ruleset is followed through LISTEN oro_ruleset (a publish or
 * rollback switches the router within a second, without restart) and
 * checked again after every reconnect and every sweep_interval_ms, so a
 * missed notification cannot leave it on an old version; the key file and
 * the principals are rechecked at the same times, not on a prompt. Each
 * report is evaluated under the one version held at that moment, which its
 * decision records.
 *
 * Endpoints:
 *   intake_prompt_endpoint  SUB, connected: "report_filed" prompts from oro-intake
 *   router_prompt_endpoint  PUB, bound: "deliveries_created" prompts to oro-notify
 *
 * Rules may test the exact age, which is sealed at rest: the router opens
 * it with the keys of key_file (reloaded when the file changes).
 *
 * Configuration (see --help): database, key_file, curve_key_file, database_roles,
 * intake_prompt_endpoint, router_prompt_endpoint, sweep_interval_ms,
 * batch_max (reports per transaction, default 256), batch_wait_ms (delay
 * of a prompted sweep, default 0), max_message_size, db_retry_max_ms,
 * log_level, instance.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <jansson.h>

#include "alloc.h"
#include "content.h"
#include "counters.h"
#include "db.h"
#include "log.h"
#include "rules.h"
#include "service.h"
#include "strategy.h"
#include "wire.h"

/*
 * The router's statements read report and report_content only by key, an
 * index look-up per report whatever the tables' size when a plan was cached
 * (db_lookups_only): the content by a subquery per row, the reports to
 * mark by id = ANY.
 *
 * Claim up to $3 unrouted reports with $1 < id <= $2; SKIP LOCKED lets
 * other routers take others.
 */
static const char claim_reports_sql[] =
        "SELECT r.id, r.case_number, r.category, r.urgency, r.subject_kind, r.age_band, r.setting,"
        " r.district, r.association_grant, r.relatives_informed,"
        " (SELECT c.subject_age FROM report_content c WHERE c.report_id = r.id), encode(r.receipt_hash, 'hex')"
        " FROM report r WHERE r.state = 'received' AND r.id > $1 AND r.id <= $2 ORDER BY r.id LIMIT $3"
        " FOR UPDATE OF r SKIP LOCKED";

/*
 * Record a batch in one statement, under ruleset version $1 by
 * instance $2: element i of $3..$5 is report i (its matched rules
 * as an int[] literal); element j of $6..$11 is one delivery of
 * report $6[j], in order of report and then recipient, which is the
 * order of the delivery ids.
 */
static const char record_decisions_sql[] =
        "WITH b AS ("
        "  SELECT * FROM unnest($3::bigint[], $4::text[], $5::boolean[]) WITH ORDINALITY"
        "   AS b(report_id, matched, fallback, ord)),"
        " e AS ("
        "  SELECT * FROM unnest($6::bigint[], $7::text[], $8::text[], $9::text[], $10::int[], $11::text[])"
        "   WITH ORDINALITY AS e(report_id, department, view, priority, ack_within, basis, ord)),"
        " d AS ("
        "  INSERT INTO decision (report_id, ruleset_version, matched_rules, fallback, decided_by)"
        "  SELECT report_id, $1::int, matched::int[], fallback, $2::text FROM b),"
        " u AS (UPDATE report SET state = 'routed', routed_at = now() WHERE id = ANY ($3::bigint[])),"
        /* ids in the order of the recipients; each starts its own chain (no trigger per row) */
        " x AS ("
        "  INSERT INTO delivery (id, chain_id, report_id, department, view, priority, ack_within, deadline,"
        "   disclosure_basis)"
        "  SELECT id, id, report_id, department, view, priority, ack_within,"
        "   now() + make_interval(secs => ack_within), basis"
        "  FROM (SELECT nextval('delivery_id_seq') AS id, e.* FROM e ORDER BY ord) n)"
        " INSERT INTO timeline (report_id, event, actor, detail)"
        " SELECT b.report_id, 'routed', $2::text, jsonb_build_object('ruleset_version', $1::int,"
        "  'matched_rules', b.matched::int[], 'fallback', b.fallback, 'departments',"
        "  coalesce(array_agg(e.department ORDER BY e.ord) FILTER (WHERE e.ord IS NOT NULL), '{}'))"
        " FROM b LEFT JOIN e USING (report_id) GROUP BY b.ord, b.report_id, b.matched, b.fallback ORDER BY b.ord";

static const struct db_statement statements[] = {
        STRATEGY_STATEMENTS,
        SERVICE_STATUS_STATEMENTS,
        AUTH_STATEMENTS,
        {"claim_reports", claim_reports_sql},
        {"record_decisions", record_decisions_sql},
};

struct router {
	struct service svc;
	struct db *db;
	struct ruleset *rs;
	struct keyring *keys; /* to open the exact age, for rules with an age range */
	void *prompts_in;
	void *prompts_out;
	struct route *routes;   /* batch_max of them, one per report of a batch, reused across batches */
	int64_t next_refresh;   /* ruleset, keys, principals and a sweep: every sweep_interval_ms */
	int64_t sweep_at;       /* a prompted sweep, batch_wait_ms after the prompt; INT64_MAX: none */
	unsigned db_generation; /* connection the ruleset was last checked on */
	int64_t next_status;    /* status is written once per sweep interval, not per prompt */
	bool ready;
};

/* A PostgreSQL array literal of integers, "{1,2}"; the caller frees. */
static char *int_array(const int64_t *v, size_t n)
{
	char *s = xmalloc(n * 21 + 3), *p = s;

	*p++ = '{';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%lld", i ? "," : "", (long long)v[i]);
	strcpy(p, "}");
	return s;
}

/* The matched rules of route as an int[] literal, "{1,4}"; the caller frees. */
static char *matched_rules(const struct route *route)
{
	char *s = xmalloc(route->n_matched * 12 + 3), *p = s;

	*p++ = '{';
	for (size_t i = 0; i < route->n_matched; i++)
		p += sprintf(p, "%s%d", i ? "," : "", route->matched[i]);
	strcpy(p, "}");
	return s;
}

/* Evaluate the report in row i of the claim res under the ruleset held now. */
static void evaluate(struct router *r, const struct db_result *res, int i, struct route *route)
{
	const char *attrs[CONCERN_STORED_ATTRS];
	struct concern c;
	bool failed = false;

	for (int k = 0; k < CONCERN_STORED_ATTRS; k++)
		attrs[k] = db_result_value(res, i, 2 + k);
	char *age =
	        content_open(r->keys, db_result_value(res, i, 11), CONTENT_AGE, db_result_value(res, i, 10), &failed);

	if (failed) /* route on the age band alone; age-range conditions do not match */
		log_error("case=%s event=unseal_failed field=subject_age", db_result_value(res, i, 1));
	memset(&c, 0, sizeof c);
	concern_from_stored(&c, r->rs, attrs, age);
	free(age);
	ruleset_evaluate(r->rs, &c, route);
}

/*
 * Record the decisions of the n reports of the claim res, evaluated into
 * r->routes[0..n) with their matched rules in matched, and commit the
 * transaction of the claim.
 */
static int record(struct router *r, const struct db_result *res, int n, char *const *matched)
{
	size_t n_deliveries = 0, k = 0;
	char version[16];
	int rc;

	for (int i = 0; i < n; i++)
		n_deliveries += r->routes[i].n_recipients;
	int64_t *ids = xcalloc((size_t)n, sizeof *ids);
	const char **fallback = xcalloc((size_t)n, sizeof *fallback);
	int64_t *of = xcalloc(n_deliveries + 1, sizeof *of);
	int64_t *aw = xcalloc(n_deliveries + 1, sizeof *aw);
	const char **dep = xcalloc(n_deliveries + 1, sizeof *dep);
	const char **view = xcalloc(n_deliveries + 1, sizeof *view);
	const char **prio = xcalloc(n_deliveries + 1, sizeof *prio);
	const char **basis = xcalloc(n_deliveries + 1, sizeof *basis);

	for (int i = 0; i < n; i++) {
		const struct route *route = &r->routes[i];

		ids[i] = db_result_int(res, i, 0);
		fallback[i] = route->fallback ? "true" : "false";
		for (size_t j = 0; j < route->n_recipients; j++, k++) {
			const struct route_recipient *to = &route->recipients[j];

			of[k] = ids[i];
			dep[k] = to->department;
			view[k] = view_names[to->view];
			prio[k] = priority_names[to->priority];
			aw[k] = to->ack_within;
			basis[k] = to->disclosure_basis;
		}
	}
	snprintf(version, sizeof version, "%d", ruleset_version(r->rs));
	char *a_ids = int_array(ids, (size_t)n);
	char *a_matched = db_text_array((const char *const *)matched, (size_t)n);
	char *a_fallback = db_text_array(fallback, (size_t)n);
	char *a_of = int_array(of, n_deliveries);
	char *a_dep = db_text_array(dep, n_deliveries);
	char *a_view = db_text_array(view, n_deliveries);
	char *a_prio = db_text_array(prio, n_deliveries);
	char *a_aw = int_array(aw, n_deliveries);
	char *a_basis = db_text_array(basis, n_deliveries);
	const char *params[11] = {
	        version, r->svc.cfg.instance, a_ids, a_matched, a_fallback, a_of, a_dep, a_view, a_prio, a_aw, a_basis};

	/* the statement and COMMIT in one round trip */
	struct db_step steps[] = {{.name = "record_decisions", .nparams = 11, .params = params}, {.sql = "COMMIT"}};

	rc = db_exec_steps(r->db, steps, sizeof steps / sizeof steps[0]);
	free(a_ids);
	free(a_matched);
	free(a_fallback);
	free(a_of);
	free(a_dep);
	free(a_view);
	free(a_prio);
	free(a_aw);
	free(a_basis);
	free(ids);
	free(fallback);
	free(of);
	free(aw);
	free(dep);
	free(view);
	free(prio);
	free(basis);
	return rc;
}

/*
 * Claim up to limit unrouted reports with *after < id <= last, evaluate
 * them and record them all in one transaction. *claimed is how many were
 * claimed and *after becomes the last of their ids (unchanged when none
 * was). Returns DB_OK or the failure, logged and rolled back.
 */
static int route_batch(struct router *r, int64_t *after, int64_t last, int limit, int *claimed)
{
	char a_after[24], a_last[24], a_limit[16];
	const char *params[3] = {a_after, a_last, a_limit};
	struct db_result *res = NULL;
	struct db_step claim[] = {{.sql = "BEGIN"}, {.name = "claim_reports", .nparams = 3, .params = params, .out = &res}};
	char **matched = NULL;
	int n = 0;
	int rc;

	snprintf(a_after, sizeof a_after, "%lld", (long long)*after);
	snprintf(a_last, sizeof a_last, "%lld", (long long)last);
	snprintf(a_limit, sizeof a_limit, "%d", limit);
	rc = db_exec_steps(r->db, claim, sizeof claim / sizeof claim[0]);
	if (rc == DB_OK) {
		n = db_result_rows(res);
		matched = xcalloc((size_t)n + 1, sizeof *matched);
		for (int i = 0; i < n; i++) {
			evaluate(r, res, i, &r->routes[i]);
			matched[i] = matched_rules(&r->routes[i]);
		}
		/* record() commits */
		rc = n > 0 ? record(r, res, n, matched) : db_commit(r->db);
	}
	if (rc == DB_OK) {
		/* committed: only now is each of them routed, and may notify be told */
		counter_add("routed", n);
		if (n > 0)
			wire_publish_prompt(r->prompts_out, "deliveries_created", 0);
		for (int i = 0; i < n; i++)
			log_info("case=%s event=routed ruleset=%d rules=%s deliveries=%zu fallback=%d",
			         db_result_value(res, i, 1), ruleset_version(r->rs), matched[i],
			         r->routes[i].n_recipients, r->routes[i].fallback);
	} else if (n <= 1) {
		counter_add("route_failed", 1);
		/* a lost connection only delays (the report stays unrouted); anything else is a fault */
		log_write(rc == DB_ERR_CONNECTION ? LOG_WARN : LOG_ERROR,
		          "case=%s event=route_failed sqlstate=%s error=%s", n == 1 ? db_result_value(res, 0, 1) : "-",
		          db_last_sqlstate(r->db), log_quote(db_last_error(r->db)));
	} else {
		/* after a lost connection the sweep stops; otherwise each report is tried (and counted) alone */
		if (rc == DB_ERR_CONNECTION)
			counter_add("route_failed", n);
		log_warn("cases=%s..%s reports=%d event=batch_failed then=%s sqlstate=%s error=%s",
		         db_result_value(res, 0, 1), db_result_value(res, n - 1, 1), n,
		         rc == DB_ERR_CONNECTION ? "stop" : "one_by_one", db_last_sqlstate(r->db),
		         log_quote(db_last_error(r->db)));
	}
	if (rc != DB_OK)
		db_rollback(r->db);
	if (n > 0)
		*after = db_result_int(res, n - 1, 0);
	*claimed = n;
	for (int i = 0; i < n; i++)
		free(matched[i]);
	free(matched);
	db_result_free(&res);
	return rc;
}

/*
 * Route every report still unrouted, batch_max per transaction (each batch
 * prompts notify once it is committed: a sweep that new filings keep going
 * must not hold back the deliveries of its first batches). A failed batch
 * is routed again one report per transaction; a report that fails alone is
 * skipped for the rest of this sweep (and retried in the next), so one bad
 * row cannot hold up the others. A lost connection or a failed claim ends
 * the sweep.
 */
static void sweep(struct router *r)
{
	int64_t after = 0;

	while (service_running()) {
		int64_t first = after;
		int n;
		int rc = route_batch(r, &after, INT64_MAX, r->svc.cfg.batch_max, &n);

		if (n == 0 || rc == DB_ERR_CONNECTION)
			break;
		if (rc == DB_OK || n == 1)
			continue;
		/* the reports of the failed batch, (first, after], one per transaction */
		while (service_running()) {
			rc = route_batch(r, &first, after, 1, &n);
			if (n == 0 || rc == DB_ERR_CONNECTION)
				break;
		}
		if (rc == DB_ERR_CONNECTION)
			break;
	}
}

/* This instance's status for oro health. */
static void write_status(struct router *r, bool log_it)
{
	service_status_write(&r->svc, r->db, json_pack("{s:i}", "ruleset", r->rs ? ruleset_version(r->rs) : 0), log_it);
}

/*
 * Reconnect if needed; when the refresh is due or the connection is new,
 * follow the active ruleset, the key file and the principals; route what
 * is waiting; report status once per sweep interval.
 */
static void work(struct router *r)
{
	if (!db_ready(r->db))
		return;
	r->sweep_at = INT64_MAX;
	if (service_now_ms() >= r->next_refresh || db_generation(r->db) != r->db_generation) {
		r->next_refresh = service_now_ms() + r->svc.cfg.sweep_interval_ms;
		r->db_generation = db_generation(r->db);
		content_keys_follow(&r->keys, r->svc.cfg.key_file);
		service_auth_refresh(&r->svc, r->db);
		if (strategy_refresh(r->db, &r->rs) == DB_OK && r->rs == NULL)
			log_warn("ruleset=none event=waiting reason=\"no active ruleset: publish one with oro rules "
			         "publish\"");
	}
	if (r->rs == NULL)
		return;
	if (!r->ready) {
		r->ready = true;
		log_info("event=ready ruleset=%d", ruleset_version(r->rs));
	}
	sweep(r);
	if (service_now_ms() >= r->next_status) {
		r->next_status = service_now_ms() + r->svc.cfg.sweep_interval_ms;
		write_status(r, false);
	}
}

int main(int argc, char **argv)
{
	struct router r = {
	        .svc =
	                {
	                        .name = "oro-router",
	                        .users = CFG_ROUTER,
	                        .manual =
	                                "usage: oro-router [--config FILE] [--KEY VALUE]...\n"
	                                "Routes each filed concern under the active ruleset: records the decision and\n"
	                                "one delivery per department, up to batch_max concerns per transaction, then\n"
	                                "prompts oro-notify.",
	                },
	        .sweep_at = INT64_MAX,
	};

	service_start(&r.svc, argc, argv);
	content_keys_follow(&r.keys, r.svc.cfg.key_file);
	r.db = service_db(&r.svc, statements, sizeof statements / sizeof statements[0]);
	db_lookups_only(r.db);
	r.prompts_in = service_socket(&r.svc, ZMQ_SUB, r.svc.cfg.intake_prompt_endpoint, false);
	r.prompts_out = service_socket(&r.svc, ZMQ_PUB, r.svc.cfg.router_prompt_endpoint, true);
	db_listen(r.db, STRATEGY_CHANNEL);
	r.routes = xcalloc((size_t)r.svc.cfg.batch_max, sizeof *r.routes);

	while (service_running()) {
		/* the database socket carries NOTIFY oro_ruleset: a publish switches us at once */
		zmq_pollitem_t items[3];
		int n_items = 0;

		items[n_items++] = (zmq_pollitem_t){r.prompts_in, 0, ZMQ_POLLIN, 0};
		if (r.svc.auth != NULL) /* the ZAP handler for notify's connections to our PUB */
			items[n_items++] = (zmq_pollitem_t){auth_socket(r.svc.auth), 0, ZMQ_POLLIN, 0};
		if (db_socket(r.db) >= 0)
			items[n_items++] = (zmq_pollitem_t){NULL, db_socket(r.db), ZMQ_POLLIN, 0};
		int64_t wait = (r.sweep_at < r.next_refresh ? r.sweep_at : r.next_refresh) - service_now_ms();

		if (!db_ready(r.db))
			wait = db_retry_in_ms(r.db) + 1;
		if (wait < 0)
			wait = 0;
		if (wait > 1000)
			wait = 1000;
		if (zmq_poll(items, n_items, (long)wait) > 0) {
			service_auth_poll(&r.svc);
			/* a prompt: sweep, after batch_wait_ms for the reports filed meanwhile */
			if (wire_drain_prompts(r.prompts_in, 1000) && r.sweep_at == INT64_MAX)
				r.sweep_at = service_now_ms() + r.svc.cfg.batch_wait_ms;
		}
		/* every pass: libpq may have queued a notification while running a query */
		if (db_notifications(r.db) > 0)
			r.next_refresh = 0; /* a new active ruleset */
		if (db_generation(r.db) != r.db_generation)
			r.next_refresh = 0; /* reconnected: notifications may have been missed */
		if (service_status_requested())
			write_status(&r, true);
		if (service_now_ms() >= r.next_refresh || service_now_ms() >= r.sweep_at)
			work(&r);
	}
	log_info("event=stopping");
	zmq_close(r.prompts_in);
	zmq_close(r.prompts_out);
	for (int i = 0; i < r.svc.cfg.batch_max; i++)
		route_free(&r.routes[i]);
	free(r.routes);
	ruleset_destroy(&r.rs);
	keyring_destroy(&r.keys);
	db_destroy(&r.db);
	service_stop(&r.svc);
	return 0;
}
