/*
 * oro-router: decides which departments get each filed concern.
 *
 * One job: for every report still in state 'received', evaluate the active
 * ruleset and record, in one transaction, the decision (ruleset version and
 * matched rules), one delivery per recipient department, the timeline
 * entry and the report's new state; then prompt oro-notify. Prompts from
 * intake only wake it early: it also sweeps the database at start and every
 * sweep_interval_ms, so a lost prompt or a restart only delays routing.
 * Reports are claimed with FOR UPDATE SKIP LOCKED, so several routers may
 * share one database without routing a report twice.
 *
 * The active ruleset is followed through LISTEN oro_ruleset (a publish or
 * rollback switches the router within a second, without restart), checked
 * again after every reconnect and on every sweep, so a missed notification
 * cannot leave it on an old version. Each report is evaluated under the one
 * version held at that moment, which its decision records.
 *
 * Endpoints:
 *   intake_prompt_endpoint  SUB, connected: "report_filed" prompts from oro-intake
 *   router_prompt_endpoint  PUB, bound: "deliveries_created" prompts to oro-notify
 *
 * Rules may test the exact age, which is sealed at rest: the router opens
 * it with the keys of key_file (reloaded when the file changes).
 *
 * Configuration (see --help): database, key_file, curve_key_file, database_roles,
 * intake_prompt_endpoint,
 * router_prompt_endpoint, sweep_interval_ms, max_message_size,
 * db_retry_max_ms, log_level, instance.
 */
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

static const struct db_statement statements[] = {
        STRATEGY_STATEMENTS,
        SERVICE_STATUS_STATEMENTS,
        AUTH_STATEMENTS,
        /* Claim the next unrouted report after $1; SKIP LOCKED lets other routers take others. */
        {"claim_report",
         "SELECT r.id, r.case_number, r.category, r.urgency, r.subject_kind, r.age_band, r.setting,"
         " r.district, r.association_grant, r.relatives_informed, c.subject_age, encode(r.receipt_hash, 'hex')"
         " FROM report r LEFT JOIN report_content c ON c.report_id = r.id"
         " WHERE r.state = 'received' AND r.id > $1 ORDER BY r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED"},
        {"record_decision",
         "WITH d AS ("
         "  INSERT INTO decision (report_id, ruleset_version, matched_rules, fallback, decided_by)"
         "  VALUES ($1, $2, $3::int[], $4, $5)),"
         " u AS (UPDATE report SET state = 'routed', routed_at = now() WHERE id = $1),"
         " x AS ("
         "  INSERT INTO delivery (report_id, department, view, priority, ack_within, deadline, disclosure_basis)"
         "  SELECT $1, dep, vw, pr, aw, now() + make_interval(secs => aw), basis"
         "  FROM unnest($6::text[], $7::text[], $8::text[], $9::int[], $10::text[]) AS t(dep, vw, pr, aw, basis)"
         "  RETURNING id),"
         " t AS ("
         "  INSERT INTO timeline (report_id, event, actor, detail)"
         "  VALUES ($1, 'routed', $5, jsonb_build_object('ruleset_version', $2::int, 'matched_rules', $3::int[],"
         "   'fallback', $4::boolean, 'departments', $6::text[])))"
         " SELECT count(*) FROM x"},
};

struct router {
	struct service svc;
	struct db *db;
	struct ruleset *rs;
	struct keyring *keys; /* to open the exact age, for rules with an age range */
	void *prompts_in;
	void *prompts_out;
	struct route route; /* reused across reports */
	int64_t next_sweep;
	unsigned db_generation; /* connection the ruleset was last checked on */
	int64_t next_status;    /* status is written once per sweep interval, not per prompt */
	bool ready;
};

/* Record the decision for the claimed report in res (transaction open). */
static int record(struct router *r, const struct db_result *res)
{
	struct route *route = &r->route;
	struct concern c;
	size_t n;
	const char **dep, **view, **prio, **basis;
	char **aw;
	char *matched, *a_dep, *a_view, *a_prio, *a_aw, *a_basis;
	char version[16];
	char *p;
	int rc;

	const char *attrs[CONCERN_STORED_ATTRS];

	for (int i = 0; i < CONCERN_STORED_ATTRS; i++)
		attrs[i] = db_result_value(res, 0, 2 + i);
	bool failed = false;
	char *age =
	        content_open(r->keys, db_result_value(res, 0, 11), CONTENT_AGE, db_result_value(res, 0, 10), &failed);

	if (failed) /* route on the age band alone; age-range conditions do not match */
		log_error("case=%s event=unseal_failed field=subject_age", db_result_value(res, 0, 1));
	memset(&c, 0, sizeof c);
	concern_from_stored(&c, r->rs, attrs, age);
	free(age);
	ruleset_evaluate(r->rs, &c, route);
	n = route->n_recipients;
	dep = xcalloc(n + 1, sizeof *dep);
	view = xcalloc(n + 1, sizeof *view);
	prio = xcalloc(n + 1, sizeof *prio);
	basis = xcalloc(n + 1, sizeof *basis);
	aw = xcalloc(n + 1, sizeof *aw);
	for (size_t i = 0; i < n; i++) {
		dep[i] = route->recipients[i].department;
		view[i] = view_names[route->recipients[i].view];
		prio[i] = priority_names[route->recipients[i].priority];
		basis[i] = route->recipients[i].disclosure_basis;
		aw[i] = xasprintf("%lld", (long long)route->recipients[i].ack_within);
	}
	matched = xmalloc(route->n_matched * 12 + 3);
	p = matched;
	*p++ = '{';
	for (size_t i = 0; i < route->n_matched; i++)
		p += sprintf(p, "%s%d", i ? "," : "", route->matched[i]);
	strcpy(p, "}");
	snprintf(version, sizeof version, "%d", ruleset_version(r->rs));
	a_dep = db_text_array(dep, n);
	a_view = db_text_array(view, n);
	a_prio = db_text_array(prio, n);
	a_aw = db_text_array((const char *const *)aw, n);
	a_basis = db_text_array(basis, n);

	const char *params[10] = {db_result_value(res, 0, 0),
	                          version,
	                          matched,
	                          route->fallback ? "true" : "false",
	                          r->svc.cfg.instance,
	                          a_dep,
	                          a_view,
	                          a_prio,
	                          a_aw,
	                          a_basis};

	rc = db_exec(r->db, "record_decision", 10, params, NULL);
	if (rc == DB_OK)
		log_info("case=%s event=routed ruleset=%s rules=%s deliveries=%zu fallback=%d",
		         db_result_value(res, 0, 1), version, matched, n, route->fallback);
	for (size_t i = 0; i < n; i++)
		free(aw[i]);
	free(aw);
	free(dep);
	free(view);
	free(prio);
	free(basis);
	free(matched);
	free(a_dep);
	free(a_view);
	free(a_prio);
	free(a_aw);
	free(a_basis);
	return rc;
}

/*
 * Route every report still unrouted, one transaction each. A report whose
 * routing fails is skipped for the rest of this sweep (and retried in the
 * next), so one bad row cannot hold up the others.
 */
static void sweep(struct router *r)
{
	char after[24] = "0";
	int routed = 0;

	while (service_running() && r->rs != NULL) {
		const char *params[1] = {after};
		struct db_result *res = NULL;
		int rc = db_begin(r->db);

		if (rc == DB_OK)
			rc = db_exec(r->db, "claim_report", 1, params, &res);
		if (rc == DB_OK && db_result_rows(res) == 0) {
			db_rollback(r->db);
			db_result_free(&res);
			break;
		}
		if (rc == DB_OK) {
			snprintf(after, sizeof after, "%s", db_result_value(res, 0, 0));
			rc = record(r, res);
		}
		if (rc == DB_OK)
			rc = db_commit(r->db);
		if (rc == DB_OK) {
			routed++;
			counter_add("routed", 1);
		} else {
			counter_add("route_failed", 1);
			/* a lost connection only delays (the report stays unrouted); anything else is a fault */
			log_write(rc == DB_ERR_CONNECTION ? LOG_WARN : LOG_ERROR,
			          "case=%s event=route_failed sqlstate=%s error=%s",
			          res ? db_result_value(res, 0, 1) : "-", db_last_sqlstate(r->db),
			          log_quote(db_last_error(r->db)));
			db_rollback(r->db);
		}
		db_result_free(&res);
		if (rc == DB_ERR_CONNECTION)
			break;
	}
	/* The deliveries are committed: only now may notify be told they exist. */
	if (routed > 0)
		wire_publish_prompt(r->prompts_out, "deliveries_created", 0);
}

/* This instance's status for oro health. */
static void write_status(struct router *r, bool log_it)
{
	service_status_write(&r->svc, r->db, json_pack("{s:i}", "ruleset", r->rs ? ruleset_version(r->rs) : 0), log_it);
}

/* Reconnect if needed, follow the active ruleset, route what is waiting, report status. */
static void work(struct router *r)
{
	if (!db_ready(r->db))
		return;
	r->next_sweep = service_now_ms() + r->svc.cfg.sweep_interval_ms;
	r->db_generation = db_generation(r->db);
	content_keys_follow(&r->keys, r->svc.cfg.key_file);
	service_auth_refresh(&r->svc, r->db);
	if (strategy_refresh(r->db, &r->rs) == DB_OK && r->rs == NULL) {
		log_warn("ruleset=none event=waiting reason=\"no active ruleset: publish one with oro rules publish\"");
		return;
	}
	if (!r->ready && r->rs != NULL) {
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
	                                "one delivery per department in one transaction, then prompts oro-notify.",
	                },
	};

	service_start(&r.svc, argc, argv);
	content_keys_follow(&r.keys, r.svc.cfg.key_file);
	r.db = service_db(&r.svc, statements, sizeof statements / sizeof statements[0]);
	r.prompts_in = service_socket(&r.svc, ZMQ_SUB, r.svc.cfg.intake_prompt_endpoint, false);
	r.prompts_out = service_socket(&r.svc, ZMQ_PUB, r.svc.cfg.router_prompt_endpoint, true);
	db_listen(r.db, STRATEGY_CHANNEL);

	while (service_running()) {
		/* the database socket carries NOTIFY oro_ruleset: a publish switches us at once */
		zmq_pollitem_t items[3];
		int n_items = 0;

		items[n_items++] = (zmq_pollitem_t){r.prompts_in, 0, ZMQ_POLLIN, 0};
		if (r.svc.auth != NULL) /* the ZAP handler for notify's connections to our PUB */
			items[n_items++] = (zmq_pollitem_t){auth_socket(r.svc.auth), 0, ZMQ_POLLIN, 0};
		if (db_socket(r.db) >= 0)
			items[n_items++] = (zmq_pollitem_t){NULL, db_socket(r.db), ZMQ_POLLIN, 0};
		int64_t wait = r.next_sweep - service_now_ms();

		if (!db_ready(r.db))
			wait = db_retry_in_ms(r.db) + 1;
		if (wait < 0)
			wait = 0;
		if (wait > 1000)
			wait = 1000;
		if (zmq_poll(items, n_items, (long)wait) > 0) {
			service_auth_poll(&r.svc);
			if (wire_drain_prompts(r.prompts_in, 1000))
				r.next_sweep = 0; /* a prompt: look now */
		}
		/* every pass: libpq may have queued a notification while running a query */
		if (db_notifications(r.db) > 0)
			r.next_sweep = 0; /* a new active ruleset */
		if (db_generation(r.db) != r.db_generation)
			r.next_sweep = 0; /* reconnected: notifications may have been missed */
		if (service_status_requested())
			write_status(&r, true);
		if (service_now_ms() >= r.next_sweep)
			work(&r);
	}
	log_info("event=stopping");
	zmq_close(r.prompts_in);
	zmq_close(r.prompts_out);
	route_free(&r.route);
	ruleset_destroy(&r.rs);
	keyring_destroy(&r.keys);
	db_destroy(&r.db);
	service_stop(&r.svc);
	return 0;
}
