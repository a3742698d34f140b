/*
 * oro purge and oro hold: retention (gallring) and legal holds.
 *
 * oro purge destroys what is due, one batch per transaction with its
 * audit entries: the sealed content of a case (report_content) once every
 * full delivery of it has been acknowledged or sent on for
 * retention_content_days; and, retention_metadata_days after filing, the
 * case's routing metadata, deliveries and timeline. The audit trail keeps
 * its entries (they hold no content), so the purge itself stays on record.
 * A case on legal hold is never purged. --dry-run lists what would go.
 * Run it daily (deploy/ has a timer unit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "audit.h"
#include "client.h"
#include "crypto.h"
#include "db.h"

static const char purge_help[] = "usage: oro purge [--dry-run] [--json]\n"
                                 "\n"
                                 "Destroys what retention says is due: the sealed content of cases whose every\n"
                                 "full delivery was acknowledged or sent on more than retention_content_days ago,\n"
                                 "and the routing metadata, deliveries and timeline of cases filed more than\n"
                                 "retention_metadata_days ago. Cases on legal hold (oro hold) are kept. Each\n"
                                 "purge is recorded in the audit trail. --dry-run lists what would go and\n"
                                 "changes nothing.\n";

static const char hold_help[] = "usage: oro hold CASE --reason TEXT [--json]\n"
                                "       oro hold CASE --release [--json]\n"
                                "\n"
                                "Puts a case on legal hold (nothing of it is purged while it lasts) or releases\n"
                                "it; both are recorded in the case timeline and the audit trail.\n";

static const struct db_statement statements[] = {
        AUDIT_STATEMENTS,
        {"content_due", "SELECT r.id, r.case_number FROM report r JOIN delivery d ON d.report_id = r.id"
                        " WHERE r.content_purged_at IS NULL AND r.hold_reason IS NULL AND r.state = 'routed'"
                        " GROUP BY r.id HAVING bool_and(d.view <> 'full' OR d.state IN ('acknowledged', 'rerouted'))"
                        " AND max(coalesce(d.acknowledged_at, d.rerouted_at)) FILTER (WHERE d.view = 'full')"
                        "  < now() - make_interval(days => $1::int)"
                        " ORDER BY r.id LIMIT 500"},
        {"metadata_due", "SELECT r.id, r.case_number FROM report r WHERE r.hold_reason IS NULL"
                         " AND r.filed_at < now() - make_interval(days => $1::int) ORDER BY r.id LIMIT 500"},
        {"purge_content",
         "WITH c AS (DELETE FROM report_content WHERE report_id = ANY ($1::bigint[])),"
         " u AS (UPDATE report SET content_purged_at = now() WHERE id = ANY ($1::bigint[]))"
         " INSERT INTO timeline (report_id, event, actor, detail)"
         " SELECT unnest($1::bigint[]), 'content_purged', $2, jsonb_build_object('retention_days', $3::int)"},
        {"purge_metadata", "WITH c AS (DELETE FROM report_content WHERE report_id = ANY ($1::bigint[])),"
                           " x AS (DELETE FROM decision WHERE report_id = ANY ($1::bigint[])),"
                           " d AS (UPDATE delivery SET parent_id = NULL WHERE report_id = ANY ($1::bigint[]))"
                           " SELECT 1"},
        {"purge_deliveries", "DELETE FROM delivery WHERE report_id = ANY ($1::bigint[])"},
        {"purge_reports", "DELETE FROM report WHERE id = ANY ($1::bigint[])"},
        /*
         * Last (the timeline has no foreign keys, sql/008): a sending or
         * acknowledgement recorded concurrently committed before
         * purge_deliveries could lock its delivery, so its entry is seen here.
         */
        {"purge_timeline", "DELETE FROM timeline WHERE report_id = ANY ($1::bigint[])"},
        {"hold", "WITH u AS (UPDATE report SET hold_reason = $2, hold_by = $3, hold_at = now()"
                 "  WHERE case_number = $1 AND hold_reason IS NULL RETURNING id)"
                 " INSERT INTO timeline (report_id, event, actor, detail)"
                 " SELECT id, 'hold', $3, jsonb_build_object('reason', $2::text) FROM u RETURNING report_id"},
        {"release",
         "WITH u AS (UPDATE report SET hold_reason = NULL, hold_by = NULL, hold_at = NULL"
         "  WHERE case_number = $1 AND hold_reason IS NOT NULL RETURNING id)"
         " INSERT INTO timeline (report_id, event, actor) SELECT id, 'hold_released', $2 FROM u RETURNING report_id"},
        {"case_exists", "SELECT id, hold_reason IS NOT NULL FROM report WHERE case_number = $1"},
};

/* The keys, for audit entries; exits 1 when key_file is not usable. */
static struct keyring *audit_keys(void)
{
	struct oro_error err = {0};
	struct keyring *kr = keyring_load(svc.cfg.key_file, &err);

	if (kr == NULL) {
		fprintf(stderr, "oro: key_file: %s (the audit trail needs its key)\n", err.message);
		exit(EXIT_REFUSED);
	}
	return kr;
}

/*
 * Purge one kind ("content" or "metadata") in batches, each one transaction
 * with an audit entry per case. Appends the case numbers to `listed`.
 * Returns the count, or -1 on a database error.
 */
static long purge_kind(struct db *db, const struct keyring *kr, bool metadata, bool dry_run, json_t *listed)
{
	char days[16];
	const char *p1[1] = {days};
	long total = 0;
	int d = metadata ? svc.cfg.retention_metadata_days : svc.cfg.retention_content_days;

	snprintf(days, sizeof days, "%d", d);
	for (;;) {
		struct db_result *res = NULL;
		int rows, rc = db_begin(db);

		if (rc == DB_OK)
			rc = db_exec(db, metadata ? "metadata_due" : "content_due", 1, p1, &res);
		if (rc != DB_OK) {
			db_rollback(db);
			return -1;
		}
		rows = db_result_rows(res);
		if (rows == 0 || dry_run) {
			for (int i = 0; i < rows; i++)
				json_array_append_new(listed, json_string(db_result_value(res, i, 1)));
			db_rollback(db);
			db_result_free(&res);
			return total + rows;
		}

		const char **ids = xcalloc((size_t)rows, sizeof *ids);
		struct audit_entry *e = xcalloc((size_t)rows, sizeof *e);
		char **details = xcalloc((size_t)rows, sizeof *details);
		char *array;

		for (int i = 0; i < rows; i++) {
			ids[i] = db_result_value(res, i, 0);
			details[i] = xasprintf("{\"case\":\"%s\",\"what\":\"%s\",\"retention_days\":%d}",
			                       db_result_value(res, i, 1), metadata ? "metadata" : "content", d);
			e[i] = (struct audit_entry){my_principal(), "purged", db_result_int(res, i, 0), 0, details[i]};
			json_array_append_new(listed, json_string(db_result_value(res, i, 1)));
		}
		array = db_text_array(ids, (size_t)rows);
		const char *p3[3] = {array, my_principal(), days};

		if (metadata) {
			rc = db_exec(db, "purge_metadata", 1, p3, NULL);
			if (rc == DB_OK)
				rc = db_exec(db, "purge_deliveries", 1, p3, NULL);
			if (rc == DB_OK)
				rc = db_exec(db, "purge_reports", 1, p3, NULL);
			if (rc == DB_OK)
				rc = db_exec(db, "purge_timeline", 1, p3, NULL);
		} else {
			rc = db_exec(db, "purge_content", 3, p3, NULL);
		}
		if (rc == DB_OK)
			rc = audit_append(db, kr, svc.name, e, (size_t)rows);
		if (rc == DB_OK)
			rc = db_commit(db);
		if (rc != DB_OK)
			db_rollback(db);
		for (int i = 0; i < rows; i++)
			free(details[i]);
		free(details);
		free(e);
		free(ids);
		free(array);
		db_result_free(&res);
		if (rc != DB_OK)
			return -1;
		total += rows;
	}
}

/* oro purge */
int cmd_purge(int argc, char **argv)
{
	bool dry_run = false;
	struct opt opts[] = {{"dry-run", false, NULL, &dry_run}, {NULL, false, NULL, NULL}};
	struct keyring *kr;
	struct db *db;
	json_t *content = json_array(), *metadata = json_array();
	long nc, nm;

	parse_opts(argc, argv, 2, opts, NULL, 0, purge_help);
	kr = audit_keys();
	db = admin_db(statements, sizeof statements / sizeof statements[0]);
	nc = purge_kind(db, kr, false, dry_run, content);
	nm = nc < 0 ? -1 : purge_kind(db, kr, true, dry_run, metadata);
	if (nc < 0 || nm < 0) {
		fprintf(stderr, "oro: purge failed (what was purged before stays purged): %s\n", db_last_error(db));
		db_destroy(&db);
		keyring_destroy(&kr);
		json_decref(content);
		json_decref(metadata);
		return EXIT_UNAVAILABLE;
	}
	if (json_output) {
		print_json(json_pack("{s:b, s:o, s:o}", "dry_run", dry_run, "content", content, "metadata", metadata));
	} else {
		size_t i;
		json_t *v;

		printf("%s sealed content of %ld cases (retention %d days after the last full delivery closed)%s\n",
		       dry_run ? "Would purge the" : "Purged the", nc, svc.cfg.retention_content_days, nc ? ":" : ".");
		json_array_foreach(content, i, v) printf("  %s\n", json_string_value(v));
		printf("%s routing metadata and timeline of %ld cases (retention %d days after filing)%s\n",
		       dry_run ? "Would purge the" : "Purged the", nm, svc.cfg.retention_metadata_days, nm ? ":" : ".");
		json_array_foreach(metadata, i, v) printf("  %s\n", json_string_value(v));
		json_decref(content);
		json_decref(metadata);
	}
	db_destroy(&db);
	keyring_destroy(&kr);
	return EXIT_DONE;
}

/* oro hold CASE --reason TEXT | --release */
int cmd_hold(int argc, char **argv)
{
	const char *pos[1], *reason = NULL;
	bool release = false;
	struct opt opts[] = {
	        {"reason", true, &reason, NULL}, {"release", false, NULL, &release}, {NULL, false, NULL, NULL}};
	struct keyring *kr;
	struct db *db;
	struct db_result *res = NULL;
	int rc;

	if (parse_opts(argc, argv, 2, opts, pos, 1, hold_help) != 1)
		usage_error("hold needs a CASE number");
	if (release == (reason != NULL))
		usage_error("hold needs either --reason TEXT or --release");
	if (reason != NULL && (*reason == '\0' || strlen(reason) > 500))
		usage_error("--reason must be 1..500 bytes");
	kr = audit_keys();
	db = admin_db(statements, sizeof statements / sizeof statements[0]);
	const char *p3[3] = {pos[0], reason, my_principal()};
	const char *p2[2] = {pos[0], my_principal()};

	rc = db_begin(db);
	if (rc == DB_OK)
		rc = release ? db_exec(db, "release", 2, p2, &res) : db_exec(db, "hold", 3, p3, &res);
	if (rc == DB_OK && db_result_rows(res) == 1) {
		json_t *d = json_pack("{s:s, s:b, s:s?}", "case", pos[0], "released", release, "reason", reason);
		char *detail = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		struct audit_entry e = {my_principal(), "hold", db_result_int(res, 0, 0), 0, detail};

		rc = audit_append(db, kr, svc.name, &e, 1);
		free(detail);
		json_decref(d);
	}
	if (rc == DB_OK)
		rc = db_commit(db);
	if (rc != DB_OK) {
		fprintf(stderr, "oro: hold failed, nothing changed: %s\n", db_last_error(db));
		db_rollback(db);
		rc = EXIT_UNAVAILABLE;
	} else if (db_result_rows(res) == 0) {
		struct oro_error err;

		db_result_free(&res);
		rc = db_exec(db, "case_exists", 1, p3, &res);
		if (rc == DB_OK && db_result_rows(res) == 0)
			oro_error_set(&err, ORO_E_NOT_FOUND, "case", "no case %.40s", pos[0]);
		else
			oro_error_set(&err, ORO_E_INVALID_VALUE, "case", "case %.40s is %s on hold", pos[0],
			              release ? "not" : "already");
		rc = report_error(&err);
	} else {
		rc = EXIT_DONE;
		if (json_output)
			print_json(json_pack("{s:s, s:b}", "case", pos[0], "hold", !release));
		else
			printf("Case %s is %s.\n", pos[0], release ? "released from its legal hold" : "on legal hold");
	}
	db_result_free(&res);
	db_destroy(&db);
	keyring_destroy(&kr);
	return rc;
}
