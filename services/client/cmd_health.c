/*
 * oro health: is the stack doing its job? Read from PostgreSQL, the record
 * every daemon writes its status into (daemon_status, every sweep), so it
 * answers also when a daemon is down: database connectivity, the active
 * ruleset, backlogs (unrouted reports, unacknowledged and overdue
 * deliveries), every daemon instance with its uptime, last heartbeat,
 * ruleset and counters (refusals by error code, escalations, operator
 * alerts...), and connected department clients per department.
 *
 * Exit codes, for monitoring: 0 healthy; 1 unhealthy (the reasons are
 * listed): more unrouted reports than health_max_unrouted, more overdue
 * deliveries than health_max_overdue, no active ruleset, or a daemon with
 * no live instance (no heartbeat within three sweep intervals); 3 the
 * database cannot be reached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "db.h"

static const char health_help[] = "usage: oro health [--json] [--health-max-unrouted N] [--health-max-overdue N]\n"
                                  "\n"
                                  "Reports database connectivity, the active ruleset version, backlogs (reports\n"
                                  "waiting for routing, unacknowledged and overdue deliveries), each daemon\n"
                                  "instance (uptime, last heartbeat, counters of errors by code and of events)\n"
                                  "and the department clients connected to oro-notify. A daemon instance is live\n"
                                  "when its heartbeat is younger than three sweep intervals (sweep_interval_ms).\n"
                                  "Exit 0 when healthy; 1 when a backlog or overdue count is above its threshold,\n"
                                  "no ruleset is active or a daemon has no live instance (reasons printed);\n"
                                  "3 when the database cannot be reached. Send SIGUSR1 to a daemon to have it\n"
                                  "log its status at once.\n";

static const struct db_statement statements[] = {
        {"backlog",
         "SELECT (SELECT version FROM ruleset_active),"
         " (SELECT count(*) FROM report WHERE state = 'received'),"
         " (SELECT coalesce(extract(epoch FROM now() - min(filed_at)), 0)::bigint FROM report WHERE state = "
         "'received'),"
         " (SELECT count(*) FROM delivery WHERE state IN ('pending', 'sent')),"
         " (SELECT count(*) FROM delivery WHERE state IN ('pending', 'sent') AND deadline < now()),"
         " (SELECT count(*) FROM timeline WHERE event = 'operator_alert' AND at > now() - interval '1 day')"},
        {"daemons", "SELECT daemon, instance, pid, host, extract(epoch FROM now() - started_at)::bigint,"
                    " extract(epoch FROM now() - heartbeat_at)::float8, details::text"
                    " FROM daemon_status ORDER BY daemon, instance"},
};

/* oro health */
int cmd_health(int argc, char **argv)
{
	struct opt opts[] = {{NULL, false, NULL, NULL}};
	static const char *const daemons[] = {"oro-intake", "oro-router", "oro-notify"};
	struct db *db;
	struct db_result *b = NULL, *d = NULL;
	json_t *out, *inst, *clients, *reasons;
	double stale_s = 3.0 * svc.cfg.sweep_interval_ms / 1000.0;
	int rc;

	parse_opts(argc, argv, 2, opts, NULL, 0, health_help);
	db = db_new(svc.cfg.database, "oro-health", statements, sizeof statements / sizeof statements[0], 1000);
	if (!db_ready(db)) {
		if (json_output)
			print_json(json_pack("{s:b, s:s, s:s}", "healthy", 0, "database", "unreachable", "error",
			                     db_last_error(db)));
		else
			printf("UNHEALTHY: the database cannot be reached: %s\n", db_last_error(db));
		db_destroy(&db);
		return EXIT_UNAVAILABLE;
	}
	if (db_exec(db, "backlog", 0, NULL, &b) != DB_OK || db_exec(db, "daemons", 0, NULL, &d) != DB_OK) {
		fprintf(stderr, "oro: health: %s\n", db_last_error(db));
		db_result_free(&b);
		db_destroy(&db);
		return EXIT_UNAVAILABLE;
	}

	int64_t unrouted = db_result_int(b, 0, 1), overdue = db_result_int(b, 0, 4);

	reasons = json_array();
	inst = json_array();
	clients = json_object();
	for (int i = 0; i < db_result_rows(d); i++) {
		json_t *details = json_loads(db_result_value(d, i, 6), 0, NULL);
		double age = strtod(db_result_value(d, i, 5), NULL);
		bool live = age <= stale_s;
		const char *k;
		json_t *v;

		if (details == NULL)
			details = json_object();
		json_object_foreach(json_object_get(details, "clients"), k, v)
		{
			if (!live)
				break;
			json_t *sum = json_object_get(clients, k);

			json_object_set_new(clients, k,
			                    json_integer((sum ? json_integer_value(sum) : 0) + json_integer_value(v)));
		}
		json_array_append_new(inst,
		                      json_pack("{s:s, s:s, s:I, s:s, s:I, s:f, s:b, s:o}", "daemon",
		                                db_result_value(d, i, 0), "instance", db_result_value(d, i, 1), "pid",
		                                (json_int_t)db_result_int(d, i, 2), "host", db_result_value(d, i, 3),
		                                "uptime_s", (json_int_t)db_result_int(d, i, 4), "heartbeat_age_s", age,
		                                "live", live, "details", details));
	}
	for (size_t k = 0; k < sizeof daemons / sizeof daemons[0]; k++) {
		bool any = false;
		size_t i;
		json_t *v;

		json_array_foreach(inst, i,
		                   v) if (strcmp(json_string_value(json_object_get(v, "daemon")), daemons[k]) == 0 &&
		                          json_is_true(json_object_get(v, "live"))) any = true;
		if (!any)
			json_array_append_new(reasons, json_sprintf("%s has no live instance", daemons[k]));
	}
	if (db_result_value(b, 0, 0) == NULL)
		json_array_append_new(reasons, json_string("no active ruleset"));
	if (unrouted > svc.cfg.health_max_unrouted)
		json_array_append_new(reasons, json_sprintf("%lld reports wait for routing (more than %d)",
		                                            (long long)unrouted, svc.cfg.health_max_unrouted));
	if (overdue > svc.cfg.health_max_overdue)
		json_array_append_new(reasons, json_sprintf("%lld deliveries are overdue (more than %d)",
		                                            (long long)overdue, svc.cfg.health_max_overdue));

	bool healthy = json_array_size(reasons) == 0;

	out = json_pack("{s:b, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:o}", "healthy", healthy, "database",
	                "connected", "ruleset",
	                db_result_value(b, 0, 0) ? json_integer(db_result_int(b, 0, 0)) : json_null(), "backlog",
	                "unrouted", (json_int_t)unrouted, "oldest_unrouted_s", (json_int_t)db_result_int(b, 0, 2),
	                "unacknowledged", (json_int_t)db_result_int(b, 0, 3), "overdue", (json_int_t)overdue,
	                "operator_alerts_24h", (json_int_t)db_result_int(b, 0, 5), "daemons", inst, "clients", clients,
	                "reasons", reasons);
	if (json_output) {
		print_json(out);
	} else {
		size_t i;
		json_t *v;
		const char *k;

		printf("%s\n", healthy ? "HEALTHY" : "UNHEALTHY");
		json_array_foreach(reasons, i, v) printf("  - %s\n", json_string_value(v));
		printf("database: connected; active ruleset: %s\n",
		       db_result_value(b, 0, 0) ? db_result_value(b, 0, 0) : "none");
		printf("backlog: %lld unrouted (oldest %llds), %lld unacknowledged, %lld overdue; %lld operator alerts "
		       "in 24 h\n",
		       (long long)unrouted, (long long)db_result_int(b, 0, 2), (long long)db_result_int(b, 0, 3),
		       (long long)overdue, (long long)db_result_int(b, 0, 5));
		printf("daemons:\n");
		json_array_foreach(inst, i, v)
		{
			char *counters =
			        json_dumps(json_object_get(json_object_get(v, "details"), "counters"), JSON_COMPACT);

			printf("  %-10s %-12s pid %-7lld %s uptime %llds, heartbeat %.1fs ago; counters %s\n",
			       json_string_value(json_object_get(v, "daemon")),
			       json_string_value(json_object_get(v, "instance")),
			       (long long)json_integer_value(json_object_get(v, "pid")),
			       json_is_true(json_object_get(v, "live")) ? "live " : "STALE",
			       (long long)json_integer_value(json_object_get(v, "uptime_s")),
			       json_real_value(json_object_get(v, "heartbeat_age_s")), counters ? counters : "{}");
			free(counters);
		}
		printf("department clients connected:");
		json_object_foreach(clients, k, v) printf(" %s=%lld", k, (long long)json_integer_value(v));
		printf("%s\n", json_object_size(clients) ? "" : " none");
		json_decref(out);
	}
	rc = healthy ? EXIT_DONE : EXIT_REFUSED;
	db_result_free(&b);
	db_result_free(&d);
	db_destroy(&db);
	return rc;
}
