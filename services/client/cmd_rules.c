/*
 * oro rules ... and oro explain: the strategy owner's commands. They connect
 * to PostgreSQL directly with the `database` connection string: whoever
 * holds a role that may write the ruleset tables manages the strategy
 * (deploy/ grants that to the administrators' role only).
 *
 * Publishing and activation are single transactions: the stored document is
 * the file exactly as given, its rules, action areas and departments are
 * written with it, and the switch of ruleset_active fires NOTIFY
 * oro_ruleset (sql/002), on which the daemons reload within a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "audit.h"
#include "client.h"
#include "content.h"
#include "crypto.h"
#include "db.h"
#include "strategy.h"

static const char rules_help[] =
        "usage: oro rules validate FILE [--json]\n"
        "       oro rules publish FILE [--note TEXT] [--json]\n"
        "       oro rules list [--json]\n"
        "       oro rules export [--version N]\n"
        "       oro rules activate N [--note TEXT] [--json]\n"
        "       oro rules diff A B [--json]\n"
        "       oro rules test [--rules FILE | --version N] [--expect] CASES.json [--json]\n"
        "\n"
        "validate  checks a ruleset document and lists every error and warning with the\n"
        "          rule (number and name) and the field; exit 0 only when it is valid.\n"
        "publish   validates FILE and, in one transaction, stores it as the next version\n"
        "          (exactly as written, with who and when and the note) and makes it\n"
        "          active; the daemons switch to it within a second. An invalid file\n"
        "          changes nothing; publishing the active document again changes nothing.\n"
        "list      every version: active marked, who published it, when, the note.\n"
        "export    writes a stored version (default: the active one) to standard output,\n"
        "          byte for byte as published: publishing it back gives the same rules.\n"
        "activate  makes an earlier (or later) stored version the active one again.\n"
        "diff      rules added, removed and changed field by field between A and B, each\n"
        "          a version number or a ruleset file; also departments, districts, areas.\n"
        "test      evaluates each case of the JSON array CASES.json with the router's own\n"
        "          code: against FILE (--rules, no server needed), a stored version\n"
        "          (--version) or the active ruleset. A case is a concern document, or\n"
        "          {\"name\", \"concern\", \"expect\"}; with --expect every case's expectation\n"
        "          is checked and the command exits 1 listing every mismatch.\n"
        "\n"
        "The ruleset format and the test-case format are in docs/rules.md.\n";

static const char explain_help[] = "usage: oro explain CASE [--json]\n"
                                   "\n"
                                   "Explains how a routed case was routed, reproduced from the ruleset version its\n"
                                   "decision names (so it stays true after later publishes): every rule, matched or\n"
                                   "not and, if not, the first condition that failed; the resulting recipients and\n"
                                   "which rule gave each its view, priority and deadline; and the deliveries made.\n";

static const struct db_statement statements[] = {
        STRATEGY_STATEMENTS,
        AUDIT_STATEMENTS,
        {"active_version", "SELECT r.version, r.sha256 FROM ruleset_active a JOIN ruleset r USING (version)"},
        {"next_version", "SELECT coalesce(max(version), 0) + 1 FROM ruleset"},
        {"insert_ruleset",
         "INSERT INTO ruleset (version, name, document, sha256, note, published_by) VALUES ($1, $2, $3, $4, $5, $6)"},
        {"insert_area", "INSERT INTO action_area (ruleset_version, number, name) VALUES ($1, $2, $3)"},
        {"insert_rule",
         "INSERT INTO rule (ruleset_version, position, name, document, action_area) VALUES ($1, $2, $3, $4, $5)"},
        {"upsert_department",
         "INSERT INTO department (code, name, escalates_to, disclosure_basis_required) VALUES ($1, $2, $3, $4)"
         " ON CONFLICT (code) DO UPDATE SET name = excluded.name, escalates_to = excluded.escalates_to,"
         " disclosure_basis_required = excluded.disclosure_basis_required, updated_at = now()"},
        {"activate", "INSERT INTO ruleset_active (singleton, version, activated_by) VALUES (true, $1, $2)"
                     " ON CONFLICT (singleton) DO UPDATE SET version = excluded.version,"
                     " activated_by = excluded.activated_by, activated_at = now()"},
        {"record_activation",
         "INSERT INTO ruleset_activation (version, activated_by, kind, note) VALUES ($1, $2, $3, $4)"},
        {"list",
         "SELECT r.version, r.name, r.published_by, " DB_RFC3339(
                 "r.published_at") ", r.note,"
                                   " a.version IS NOT NULL, (SELECT count(*) FROM rule WHERE ruleset_version = "
                                   "r.version)"
                                   " FROM ruleset r LEFT JOIN ruleset_active a USING (version) ORDER BY r.version"},
        {"document", "SELECT document FROM ruleset WHERE version = $1"},
        {"explain_case",
         "SELECT r.id, r.case_number, r.category, r.urgency, r.subject_kind, r.age_band, r.setting, r.district,"
         " r.association_grant, r.relatives_informed, c.subject_age, d.ruleset_version,"
         " array_to_json(d.matched_rules)::text, " DB_RFC3339(
                 "d.decided_at") ", d.decided_by,"
                                 " encode(r.receipt_hash, 'hex')"
                                 " FROM report r LEFT JOIN report_content c ON c.report_id = r.id"
                                 " LEFT JOIN decision d ON d.report_id = r.id WHERE r.case_number = $1"},
        {"case_deliveries", "SELECT id, department, view, priority, ack_within, disclosure_basis, origin, state"
                            " FROM delivery WHERE report_id = $1 ORDER BY id"},
};

/* The database, connected with every statement above prepared. */
static struct db *rules_db(void)
{
	return admin_db(statements, sizeof statements / sizeof statements[0]);
}

/* Print findings: JSON under "findings", or one line each on stderr. */
static void print_findings(const char *source, const struct rules_diags *d, bool valid)
{
	if (json_output) {
		print_json(json_pack("{s:s, s:b, s:o}", "source", source, "valid", valid, "findings",
		                     rules_diags_to_json(d)));
		return;
	}
	for (size_t i = 0; i < d->count; i++) {
		const struct rules_diag *g = &d->items[i];

		if (g->rule > 0)
			fprintf(stderr, "%s: %s: rule %d (%s): %s: %s\n", source, g->warning ? "warning" : "error",
			        g->rule, g->rule_name, g->field, g->message);
		else
			fprintf(stderr, "%s: %s: %s: %s\n", source, g->warning ? "warning" : "error", g->field,
			        g->message);
	}
}

/* Load and validate a ruleset file. NULL when invalid (findings printed);
 * warnings are printed only with `verbose`. */
static struct ruleset *load_rules(const char *path, bool verbose)
{
	struct rules_diags diags = {0};
	struct ruleset *rs = ruleset_load_file(path, &diags);

	if (rs == NULL || (verbose && diags.count > 0))
		print_findings(path, &diags, rs != NULL);
	rules_diags_free(&diags);
	return rs;
}

/* Fetch the stored document of version (text, caller frees), or NULL. */
static char *stored_document(struct db *db, const char *version)
{
	const char *params[1] = {version};
	struct db_result *res;
	char *doc = NULL;

	if (db_exec(db, "document", 1, params, &res) != DB_OK) {
		fprintf(stderr, "oro: %s\n", db_last_error(db));
		exit(EXIT_UNAVAILABLE);
	}
	if (db_result_rows(res) == 1)
		doc = xstrdup(db_result_value(res, 0, 0));
	db_result_free(&res);
	return doc;
}

/* A version number argument, or a usage error. */
static const char *parse_version(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0 || v > 1000000000)
		usage_error("\"%s\" is not a ruleset version (a positive number)", s);
	return s;
}

/* The active version as text into buf (empty when none). Returns a db status. */
static int active_version(struct db *db, char buf[16], char sha[2 * CRYPTO_SHA256_LEN + 1])
{
	struct db_result *res;
	int rc = db_exec(db, "active_version", 0, NULL, &res);

	buf[0] = '\0';
	if (sha != NULL)
		sha[0] = '\0';
	if (rc == DB_OK && db_result_rows(res) == 1) {
		snprintf(buf, 16, "%s", db_result_value(res, 0, 0));
		if (sha != NULL)
			snprintf(sha, 2 * CRYPTO_SHA256_LEN + 1, "%s", db_result_value(res, 0, 1));
	}
	db_result_free(&res);
	return rc;
}

/*
 * Write rs's departments and make version active, recording the activation;
 * inside the caller's transaction. Returns a db status.
 */
static int switch_to(struct db *db, const struct ruleset *rs, const char *version, const char *kind, const char *note)
{
	int rc = DB_OK;

	for (size_t i = 0; rc == DB_OK && i < ruleset_department_count(rs); i++) {
		const struct department *d = ruleset_department(rs, i);
		const char *p[4] = {d->code, d->name, d->escalates_to, d->disclosure_basis_required ? "true" : "false"};

		rc = db_exec(db, "upsert_department", 4, p, NULL);
	}
	if (rc == DB_OK) {
		const char *p[2] = {version, my_principal()};

		rc = db_exec(db, "activate", 2, p, NULL);
	}
	if (rc == DB_OK) {
		const char *p[4] = {version, my_principal(), kind, note};

		rc = db_exec(db, "record_activation", 4, p, NULL);
	}
	if (rc == DB_OK) {
		/* in the audit trail, in the same transaction as the switch */
		struct oro_error err = {0};
		struct keyring *kr = keyring_load(svc.cfg.key_file, &err);
		json_t *d = json_pack("{s:i, s:s?}", "version", atoi(version), "note", note);
		char *detail = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		struct audit_entry e = {my_principal(),
		                        strcmp(kind, "publish") == 0 ? "rules_published" : "rules_activated", 0, 0,
		                        detail};

		if (kr == NULL) {
			fprintf(stderr, "oro: key_file: %s (the audit trail needs its key)\n", err.message);
			rc = DB_ERR_OTHER;
		} else {
			rc = audit_append(db, kr, svc.name, &e, 1);
		}
		keyring_destroy(&kr);
		free(detail);
		json_decref(d);
	}
	return rc;
}

/* Finish a transaction: commit, or roll back and report. Returns an exit code. */
static int finish(struct db *db, int rc, const char *what)
{
	if (rc == DB_OK)
		rc = db_commit(db);
	if (rc == DB_OK)
		return EXIT_DONE;
	fprintf(stderr, "oro: %s failed, nothing changed: %s\n", what, db_last_error(db));
	db_rollback(db);
	return rc == DB_ERR_CONNECTION ? EXIT_UNAVAILABLE : EXIT_REFUSED;
}

/* oro rules validate */
static int rules_validate(const char *path)
{
	struct rules_diags diags = {0};
	struct ruleset *rs = ruleset_load_file(path, &diags);
	bool valid = rs != NULL;

	print_findings(path, &diags, valid);
	if (!json_output)
		printf("%s: %s (%zu errors, %zu warnings)\n", path, valid ? "valid" : "invalid", diags.errors,
		       diags.count - diags.errors);
	rules_diags_free(&diags);
	ruleset_destroy(&rs);
	return valid ? EXIT_DONE : EXIT_REFUSED;
}

/* oro rules publish: one transaction; nothing changes when the same document is active. */
static int rules_publish(const char *path, const char *note)
{
	struct ruleset *rs = load_rules(path, false);
	struct db *db;
	struct db_result *res = NULL;
	char sha[2 * CRYPTO_SHA256_LEN + 1], active_sha[2 * CRYPTO_SHA256_LEN + 1];
	char version[16] = "", active[16];
	json_t *doc, *rules;
	size_t len;
	char *text;
	int rc;

	if (rs == NULL)
		return EXIT_REFUSED;
	text = read_file(path, &len);
	if (text == NULL)
		usage_error("cannot read %s: %s", path, strerror(errno));
	crypto_sha256_hex(text, len, sha);
	doc = json_loadb(text, len, 0, NULL); /* parsed before: cannot fail */
	rules = json_object_get(doc, "rules");
	db = rules_db();

	rc = db_begin(db);
	/* one publisher at a time: versions are consecutive and the check below holds */
	if (rc == DB_OK)
		rc = db_command(db, "LOCK TABLE ruleset IN EXCLUSIVE MODE");
	if (rc == DB_OK)
		rc = active_version(db, active, active_sha);
	if (rc == DB_OK && strcmp(active_sha, sha) == 0) {
		db_rollback(db);
		if (json_output)
			print_json(json_pack("{s:i, s:b}", "version", atoi(active), "changed", 0));
		else
			printf("Ruleset version %s is this document and already active: nothing changed.\n", active);
		goto out;
	}
	if (rc == DB_OK)
		rc = db_exec(db, "next_version", 0, NULL, &res);
	if (rc == DB_OK) {
		snprintf(version, sizeof version, "%s", db_result_value(res, 0, 0));
		const char *p[6] = {version, ruleset_name(rs), text, sha, note, my_principal()};

		rc = db_exec(db, "insert_ruleset", 6, p, NULL);
	}
	for (size_t i = 0; rc == DB_OK && i < ruleset_action_area_count(rs); i++) {
		const struct action_area *a = ruleset_action_area(rs, i);
		char number[16];
		const char *p[3] = {version, number, a->name};

		snprintf(number, sizeof number, "%d", a->number);
		rc = db_exec(db, "insert_area", 3, p, NULL);
	}
	for (size_t i = 0; rc == DB_OK && i < ruleset_rule_count(rs); i++) {
		char pos[24], area[16];
		char *rule = json_dumps(json_array_get(rules, i), JSON_COMPACT);
		int a = ruleset_rule_action_area(rs, i + 1);
		const char *p[5] = {version, pos, ruleset_rule_name(rs, i + 1), rule, a > 0 ? area : NULL};

		snprintf(pos, sizeof pos, "%zu", i + 1);
		snprintf(area, sizeof area, "%d", a);
		rc = db_exec(db, "insert_rule", 5, p, NULL);
		free(rule);
	}
	if (rc == DB_OK)
		rc = switch_to(db, rs, version, "publish", note);
	rc = finish(db, rc, "publish");
	if (rc != EXIT_DONE)
		goto out;
	if (json_output)
		print_json(json_pack("{s:i, s:b}", "version", atoi(version), "changed", 1));
	else
		printf("Ruleset \"%s\" published as version %s and active (%zu rules).\n", ruleset_name(rs), version,
		       ruleset_rule_count(rs));
out:
	db_result_free(&res);
	db_destroy(&db);
	json_decref(doc);
	free(text);
	ruleset_destroy(&rs);
	return rc;
}

/* oro rules list */
static int rules_list(void)
{
	struct db *db = rules_db();
	struct db_result *res;
	json_t *arr;
	int rows;

	if (db_exec(db, "list", 0, NULL, &res) != DB_OK) {
		fprintf(stderr, "oro: %s\n", db_last_error(db));
		db_destroy(&db);
		return EXIT_UNAVAILABLE;
	}
	rows = db_result_rows(res);
	arr = json_array();
	for (int i = 0; i < rows; i++)
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s?, s:b, s:I}", "version",
		                                     (json_int_t)db_result_int(res, i, 0), "name",
		                                     db_result_value(res, i, 1), "published_by",
		                                     db_result_value(res, i, 2), "published_at",
		                                     db_result_value(res, i, 3), "note", db_result_value(res, i, 4),
		                                     "active", strcmp(db_result_value(res, i, 5), "t") == 0, "rules",
		                                     (json_int_t)db_result_int(res, i, 6)));
	if (json_output) {
		print_json(arr);
	} else {
		printf("%-8s %-6s %-24s %-16s %5s  %s\n", "version", "active", "published_at", "published_by", "rules",
		       "note");
		for (int i = 0; i < rows; i++)
			printf("%-8s %-6s %-24s %-16s %5s  %s\n", db_result_value(res, i, 0),
			       strcmp(db_result_value(res, i, 5), "t") == 0 ? "*" : "", db_result_value(res, i, 3),
			       db_result_value(res, i, 2), db_result_value(res, i, 6),
			       db_result_value(res, i, 4) ? db_result_value(res, i, 4) : "");
		json_decref(arr);
	}
	db_result_free(&res);
	db_destroy(&db);
	return EXIT_DONE;
}

/* oro rules export: the stored bytes, unchanged. */
static int rules_export(const char *version)
{
	struct db *db = rules_db();
	char active[16];
	char *doc;

	if (version == NULL) {
		if (active_version(db, active, NULL) != DB_OK || active[0] == '\0') {
			fprintf(stderr, "oro: no active ruleset\n");
			db_destroy(&db);
			return EXIT_REFUSED;
		}
		version = active;
	}
	doc = stored_document(db, version);
	db_destroy(&db);
	if (doc == NULL) {
		fprintf(stderr, "oro: no ruleset version %s\n", version);
		return EXIT_REFUSED;
	}
	fputs(doc, stdout);
	free(doc);
	return EXIT_DONE;
}

/* oro rules activate N: switch back (or forward) to a stored version. */
static int rules_activate(const char *version, const char *note)
{
	struct db *db = rules_db();
	struct rules_diags diags = {0};
	struct ruleset *rs = NULL;
	char active[16];
	char *doc;
	int rc = db_begin(db);

	if (rc == DB_OK)
		rc = db_command(db, "LOCK TABLE ruleset IN EXCLUSIVE MODE");
	if (rc == DB_OK)
		rc = active_version(db, active, NULL);
	if (rc != DB_OK) {
		rc = finish(db, rc, "activate");
		goto out;
	}
	doc = stored_document(db, version);
	if (doc == NULL) {
		db_rollback(db);
		fprintf(stderr, "oro: no ruleset version %s\n", version);
		rc = EXIT_REFUSED;
		goto out;
	}
	rs = ruleset_parse(doc, strlen(doc), &diags);
	free(doc);
	if (rs == NULL) {
		/* stored versions were valid when published; a later, stricter validator may disagree */
		db_rollback(db);
		print_findings(version, &diags, false);
		rc = EXIT_REFUSED;
		goto out;
	}
	if (strcmp(active, version) == 0) {
		db_rollback(db);
		if (json_output)
			print_json(json_pack("{s:i, s:b}", "version", atoi(version), "changed", 0));
		else
			printf("Ruleset version %s is already active: nothing changed.\n", version);
		rc = EXIT_DONE;
		goto out;
	}
	rc = finish(db, switch_to(db, rs, version, "activate", note), "activate");
	if (rc == EXIT_DONE) {
		if (json_output)
			print_json(json_pack("{s:i, s:s, s:b}", "version", atoi(version), "previous", active, "changed",
			                     1));
		else
			printf("Ruleset version %s is active again (was %s).\n", version, *active ? active : "none");
	}
out:
	rules_diags_free(&diags);
	ruleset_destroy(&rs);
	db_destroy(&db);
	return rc;
}

/*
 * A ruleset document for diff: a version number from the database or a
 * file. Returns the parsed JSON (validated), or exits.
 */
static json_t *diff_side(const char *arg, struct db **db, char **label)
{
	struct rules_diags diags = {0};
	struct ruleset *rs;
	char *text;
	size_t len;
	json_t *doc;
	char *end;

	strtol(arg, &end, 10);
	if (*arg != '\0' && *end == '\0') {
		if (*db == NULL)
			*db = rules_db();
		text = stored_document(*db, parse_version(arg));
		if (text == NULL) {
			fprintf(stderr, "oro: no ruleset version %s\n", arg);
			exit(EXIT_REFUSED);
		}
		len = strlen(text);
		*label = xasprintf("version %s", arg);
	} else {
		text = read_file(arg, &len);
		if (text == NULL)
			usage_error("cannot read %s: %s", arg, strerror(errno));
		*label = xstrdup(arg);
	}
	rs = ruleset_parse(text, len, &diags);
	if (rs == NULL) {
		print_findings(*label, &diags, false);
		exit(EXIT_REFUSED);
	}
	ruleset_destroy(&rs);
	rules_diags_free(&diags);
	doc = json_loadb(text, len, 0, NULL);
	free(text);
	return doc;
}

/* Print one changed field of a diff: "    field: FROM -> TO". */
static void print_change(json_t *change)
{
	char *from = json_dumps(json_object_get(change, "from"), JSON_COMPACT | JSON_ENCODE_ANY);
	char *to = json_dumps(json_object_get(change, "to"), JSON_COMPACT | JSON_ENCODE_ANY);

	printf("    %s: %s -> %s\n", json_string_value(json_object_get(change, "field")), from, to);
	free(from);
	free(to);
}

/* Print the names or codes of a JSON array after a heading, if any. */
static void print_list(const char *heading, json_t *arr, const char *key)
{
	size_t i;
	json_t *v;

	if (json_array_size(arr) == 0)
		return;
	printf("%s:", heading);
	json_array_foreach(arr, i, v)
	{
		json_t *k = key ? json_object_get(v, key) : v;
		char *s = json_dumps(k, JSON_COMPACT | JSON_ENCODE_ANY);

		printf(" %s", json_is_string(k) ? json_string_value(k) : s);
		if (key && json_object_get(v, "position"))
			printf(" (#%lld)", (long long)json_integer_value(json_object_get(v, "position")));
		free(s);
	}
	printf("\n");
}

/* oro rules diff A B */
static int rules_diff(const char *a, const char *b)
{
	struct db *db = NULL;
	char *la, *lb;
	json_t *da = diff_side(a, &db, &la), *db_doc = diff_side(b, &db, &lb);
	json_t *d = rules_diff_documents(da, db_doc);

	db_destroy(&db);
	if (json_output) {
		json_object_set_new(d, "a", json_string(la));
		json_object_set_new(d, "b", json_string(lb));
		print_json(json_incref(d));
	} else if (json_is_true(json_object_get(d, "identical"))) {
		printf("%s and %s are identical.\n", la, lb);
	} else {
		json_t *r = json_object_get(d, "rules"), *v;
		size_t i, j;
		json_t *c;

		printf("--- %s\n+++ %s\n", la, lb);
		print_list("rules added", json_object_get(r, "added"), "name");
		print_list("rules removed", json_object_get(r, "removed"), "name");
		json_array_foreach(json_object_get(r, "changed"), i, v)
		{
			printf("rule %s changed (#%lld -> #%lld):\n", json_string_value(json_object_get(v, "name")),
			       (long long)json_integer_value(json_object_get(v, "from_position")),
			       (long long)json_integer_value(json_object_get(v, "to_position")));
			json_array_foreach(json_object_get(v, "fields"), j, c) print_change(c);
		}
		json_t *dep = json_object_get(d, "departments");

		print_list("departments added", json_object_get(dep, "added"), NULL);
		print_list("departments removed", json_object_get(dep, "removed"), NULL);
		json_array_foreach(json_object_get(dep, "changed"), i, v)
		{
			printf("department %s changed:\n", json_string_value(json_object_get(v, "code")));
			json_array_foreach(json_object_get(v, "fields"), j, c) print_change(c);
		}
		print_list("districts added", json_object_get(json_object_get(d, "districts"), "added"), NULL);
		print_list("districts removed", json_object_get(json_object_get(d, "districts"), "removed"), NULL);
		json_array_foreach(json_object_get(d, "fallback"), i, c)
		{
			if (i == 0)
				printf("fallback changed:\n");
			print_change(c);
		}
		json_t *areas = json_object_get(d, "action_areas");

		json_array_foreach(json_object_get(areas, "added"), i, v) printf(
		        "action area added: %lld %s\n", (long long)json_integer_value(json_object_get(v, "number")),
		        json_string_value(json_object_get(v, "name")));
		json_array_foreach(json_object_get(areas, "removed"), i, v) printf(
		        "action area removed: %lld %s\n", (long long)json_integer_value(json_object_get(v, "number")),
		        json_string_value(json_object_get(v, "name")));
		json_array_foreach(json_object_get(areas, "changed"), i, v)
		{
			printf("action area %lld changed:\n",
			       (long long)json_integer_value(json_object_get(v, "number")));
			json_array_foreach(json_object_get(v, "fields"), j, c) print_change(c);
		}
	}
	json_decref(d);
	json_decref(da);
	json_decref(db_doc);
	free(la);
	free(lb);
	return EXIT_DONE;
}

/* The ruleset a test runs against: a file, a stored version, or the active one. */
static struct ruleset *test_ruleset(const char *rules_file, const char *version)
{
	struct ruleset *rs = NULL;
	struct db *db;

	if (rules_file != NULL)
		return load_rules(rules_file, false);
	db = rules_db();
	if (version == NULL) {
		if (strategy_refresh(db, &rs) != DB_OK || rs == NULL)
			fprintf(stderr, "oro: no active ruleset could be loaded from the database\n");
	} else {
		struct rules_diags diags = {0};
		char *doc = stored_document(db, version);

		if (doc == NULL)
			fprintf(stderr, "oro: no ruleset version %s\n", version);
		else if ((rs = ruleset_parse(doc, strlen(doc), &diags)) == NULL)
			print_findings(version, &diags, false);
		else
			ruleset_set_version(rs, atoi(version));
		rules_diags_free(&diags);
		free(doc);
	}
	db_destroy(&db);
	return rs;
}

/* Print the results of rules_test_cases() for people. */
static void print_test_results(json_t *results)
{
	size_t i, j;
	json_t *r, *v;

	json_array_foreach(results, i, r)
	{
		json_t *e = json_object_get(r, "error");
		const char *name = json_string_value(json_object_get(r, "name"));

		printf("case %zu%s%s:", i + 1, name ? " " : "", name ? name : "");
		if (e != NULL) {
			printf(" error %s %s: %s\n", json_string_value(json_object_get(e, "code")),
			       json_string_value(json_object_get(e, "field")),
			       json_string_value(json_object_get(e, "message")));
			continue;
		}
		printf("\n  rules");
		json_array_foreach(json_object_get(r, "matched_rules"), j, v)
		        printf(" %lld", (long long)json_integer_value(v));
		printf("\n");
		json_array_foreach(json_object_get(r, "recipients"), j, v)
		{
			const char *basis = json_string_value(json_object_get(v, "disclosure_basis"));

			printf("  %-16s %-6s %s  within %llds%s%s\n",
			       json_string_value(json_object_get(v, "department")),
			       json_string_value(json_object_get(v, "view")),
			       json_string_value(json_object_get(v, "priority")),
			       (long long)json_integer_value(json_object_get(v, "ack_within")),
			       basis ? "  basis: " : "", basis ? basis : "");
		}
	}
}

/* oro rules test */
static int rules_test(const char *rules_file, const char *version, bool expect, const char *cases_file)
{
	struct ruleset *rs;
	json_error_t jerr;
	json_t *cases, *results;
	size_t mismatches = 0;
	int rc = EXIT_DONE;

	if (rules_file != NULL && version != NULL)
		usage_error("--rules and --version exclude each other");
	cases = json_load_file(cases_file, JSON_REJECT_DUPLICATES, &jerr);
	if (cases == NULL || !json_is_array(cases)) {
		struct oro_error err;

		oro_error_set(&err, cases ? ORO_E_WRONG_TYPE : ORO_E_INVALID_JSON, "", "%s: %s", cases_file,
		              cases ? "expected a JSON array of test cases" : jerr.text);
		json_decref(cases);
		return report_error(&err);
	}
	rs = test_ruleset(rules_file, version);
	if (rs == NULL) {
		json_decref(cases);
		return rules_file ? EXIT_REFUSED : EXIT_UNAVAILABLE;
	}
	if (expect) {
		size_t i;
		json_t *r, *m;

		results = rules_check_cases(rs, cases, &mismatches);
		if (json_output) {
			print_json(json_pack("{s:I, s:I, s:O}", "cases", (json_int_t)json_array_size(results), "failed",
			                     (json_int_t)mismatches, "results", results));
		} else {
			json_array_foreach(results, i, r)
			{
				size_t j;
				const char *name = json_string_value(json_object_get(r, "name"));

				if (json_is_true(json_object_get(r, "ok")))
					continue;
				printf("case %zu%s%s:\n", i + 1, name ? " " : "", name ? name : "");
				json_array_foreach(json_object_get(r, "mismatches"), j, m)
				        printf("  %s\n", json_string_value(m));
			}
			printf("%zu cases, %zu as expected, %zu failed\n", json_array_size(results),
			       json_array_size(results) - mismatches, mismatches);
		}
		rc = mismatches > 0 ? EXIT_REFUSED : EXIT_DONE;
	} else {
		results = rules_test_cases(rs, cases);
		if (json_output)
			print_json(json_incref(results));
		else
			print_test_results(results);
	}
	json_decref(results);
	json_decref(cases);
	ruleset_destroy(&rs);
	return rc;
}

int cmd_rules(int argc, char **argv)
{
	const char *rules_file = NULL, *note = NULL, *version = NULL;
	const char *pos[2];
	bool expect = false;
	struct opt test_opts[] = {{"rules", true, &rules_file, NULL},
	                          {"version", true, &version, NULL},
	                          {"expect", false, NULL, &expect},
	                          {NULL, false, NULL, NULL}};
	struct opt note_opts[] = {{"note", true, &note, NULL}, {NULL, false, NULL, NULL}};
	struct opt version_opts[] = {{"version", true, &version, NULL}, {NULL, false, NULL, NULL}};
	struct opt no_opts[] = {{NULL, false, NULL, NULL}};
	const char *sub = argc >= 3 ? argv[2] : "";

	if (argc < 3 || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(rules_help, argc < 3 ? stderr : stdout);
		return argc < 3 ? EXIT_USAGE : EXIT_DONE;
	}
	if (strcmp(sub, "validate") == 0) {
		if (parse_opts(argc, argv, 3, no_opts, pos, 1, rules_help) != 1)
			usage_error("rules validate needs a ruleset FILE");
		return rules_validate(pos[0]);
	}
	if (strcmp(sub, "publish") == 0) {
		if (parse_opts(argc, argv, 3, note_opts, pos, 1, rules_help) != 1)
			usage_error("rules publish needs a ruleset FILE");
		return rules_publish(pos[0], note);
	}
	if (strcmp(sub, "list") == 0) {
		parse_opts(argc, argv, 3, no_opts, pos, 0, rules_help);
		return rules_list();
	}
	if (strcmp(sub, "export") == 0) {
		parse_opts(argc, argv, 3, version_opts, pos, 0, rules_help);
		return rules_export(version ? parse_version(version) : NULL);
	}
	if (strcmp(sub, "activate") == 0) {
		if (parse_opts(argc, argv, 3, note_opts, pos, 1, rules_help) != 1)
			usage_error("rules activate needs a version N");
		return rules_activate(parse_version(pos[0]), note);
	}
	if (strcmp(sub, "diff") == 0) {
		if (parse_opts(argc, argv, 3, no_opts, pos, 2, rules_help) != 2)
			usage_error("rules diff needs two versions or files A B");
		return rules_diff(pos[0], pos[1]);
	}
	if (strcmp(sub, "test") == 0) {
		if (parse_opts(argc, argv, 3, test_opts, pos, 1, rules_help) != 1)
			usage_error("rules test needs CASES.json");
		return rules_test(rules_file, version ? parse_version(version) : NULL, expect, pos[0]);
	}
	usage_error("unknown rules command \"%s\"", sub);
}

/*
 * Where a recipient's view, priority or deadline came from, for people:
 * "fallback", "rule 6", "rule 3 variant 1" or "rules 3, 12".
 */
static const char *provenance(json_t *from, char *buf, size_t size)
{
	size_t i, n = 0;
	json_t *v;

	if (json_is_string(from)) {
		snprintf(buf, size, "%s", json_string_value(from));
	} else if (json_is_array(from)) {
		n = (size_t)snprintf(buf, size, "rule%s", json_array_size(from) > 1 ? "s" : "");
		json_array_foreach(from, i, v) if (n < size) n +=
		        (size_t)snprintf(buf + n, size - n, "%s %lld", i ? "," : "", (long long)json_integer_value(v));
	} else {
		json_t *variant = json_object_get(from, "variant");

		n = (size_t)snprintf(buf, size, "rule %lld",
		                     (long long)json_integer_value(json_object_get(from, "rule")));
		if (json_is_integer(variant) && n < size)
			snprintf(buf + n, size - n, " variant %lld", (long long)json_integer_value(variant) + 1);
	}
	return buf;
}

/* Print an explanation for people. */
static void print_explanation(json_t *x)
{
	size_t i, j;
	json_t *r, *v;

	printf("Case %s, routed %s by %s under ruleset version %lld%s\n",
	       json_string_value(json_object_get(x, "case_number")),
	       json_string_value(json_object_get(x, "decided_at")), json_string_value(json_object_get(x, "decided_by")),
	       (long long)json_integer_value(json_object_get(x, "ruleset_version")),
	       json_is_true(json_object_get(x, "reproduced")) ? "" : "  (WARNING: the stored decision differs)");
	printf("\nRules:\n");
	json_array_foreach(json_object_get(x, "rules"), i, r)
	{
		const char *failed = json_string_value(json_object_get(r, "failed"));

		printf("  %2lld %-24s %s%s%s\n", (long long)json_integer_value(json_object_get(r, "rule")),
		       json_string_value(json_object_get(r, "name")),
		       json_is_true(json_object_get(r, "matched"))      ? "matched"
		       : json_is_false(json_object_get(r, "evaluated")) ? "not evaluated (after a final rule)"
		                                                        : "no: ",
		       failed && json_is_false(json_object_get(r, "matched")) ? failed : "",
		       json_is_true(json_object_get(r, "final")) && json_is_true(json_object_get(r, "matched"))
		               ? " (final)"
		               : "");
	}
	printf("\nRecipients:\n");
	json_array_foreach(json_object_get(x, "recipients"), i, v)
	{
		char vf[64], pf[64], af[64];

		printf("  %-16s %-6s %s within %llds  (view from %s, priority from %s, deadline from %s)\n",
		       json_string_value(json_object_get(v, "department")),
		       json_string_value(json_object_get(v, "view")), json_string_value(json_object_get(v, "priority")),
		       (long long)json_integer_value(json_object_get(v, "ack_within")),
		       provenance(json_object_get(v, "view_from"), vf, sizeof vf),
		       provenance(json_object_get(v, "priority_from"), pf, sizeof pf),
		       provenance(json_object_get(v, "ack_within_from"), af, sizeof af));
	}
	printf("\nDeliveries:\n");
	json_array_foreach(json_object_get(x, "deliveries"), j, v) printf(
	        "  %lld %-16s %-6s %s %s (%s)\n", (long long)json_integer_value(json_object_get(v, "delivery_id")),
	        json_string_value(json_object_get(v, "department")), json_string_value(json_object_get(v, "view")),
	        json_string_value(json_object_get(v, "priority")), json_string_value(json_object_get(v, "state")),
	        json_string_value(json_object_get(v, "origin")));
}

/* oro explain CASE */
int cmd_explain(int argc, char **argv)
{
	const char *pos[1];
	struct opt no_opts[] = {{NULL, false, NULL, NULL}};
	struct db *db;
	struct db_result *res = NULL, *dels = NULL;
	struct rules_diags diags = {0};
	struct ruleset *rs = NULL;
	struct concern c = {0};
	const char *attrs[CONCERN_STORED_ATTRS];
	json_t *x, *stored, *arr;
	char *doc;
	int rc = EXIT_DONE;

	if (parse_opts(argc, argv, 2, no_opts, pos, 1, explain_help) != 1)
		usage_error("explain needs a CASE number");
	db = rules_db();
	const char *p1[1] = {pos[0]};

	if (db_exec(db, "explain_case", 1, p1, &res) != DB_OK) {
		fprintf(stderr, "oro: %s\n", db_last_error(db));
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if (db_result_rows(res) == 0 || db_result_value(res, 0, 11) == NULL) {
		struct oro_error err;

		oro_error_set(&err, ORO_E_NOT_FOUND, "case",
		              db_result_rows(res) ? "case %.40s is not routed yet" : "no case %.40s", pos[0]);
		rc = report_error(&err);
		goto out;
	}
	doc = stored_document(db, db_result_value(res, 0, 11));
	rs = doc ? ruleset_parse(doc, strlen(doc), &diags) : NULL;
	free(doc);
	if (rs == NULL) {
		fprintf(stderr, "oro: ruleset version %s cannot be read back\n", db_result_value(res, 0, 11));
		rc = EXIT_REFUSED;
		goto out;
	}
	for (int i = 0; i < CONCERN_STORED_ATTRS; i++)
		attrs[i] = db_result_value(res, 0, 2 + i);
	/* the exact age is sealed: open it, as the router did, when the keys are at hand */
	struct oro_error kerr = {0};
	struct keyring *keys = *svc.cfg.key_file ? keyring_load(svc.cfg.key_file, &kerr) : NULL;
	bool failed = keys == NULL && db_result_value(res, 0, 10) != NULL;
	char *age = keys ? content_open(keys, db_result_value(res, 0, 15), CONTENT_AGE, db_result_value(res, 0, 10),
	                                &failed)
	                 : NULL;

	if (failed)
		fprintf(stderr,
		        "oro: the exact age cannot be opened (%s): rules with an age range are evaluated without it\n",
		        keys ? "its key is not in key_file" : "key_file is not usable");
	concern_from_stored(&c, rs, attrs, age);
	free(age);
	keyring_destroy(&keys);
	x = ruleset_explain(rs, &c);
	stored = json_loads(db_result_value(res, 0, 12), 0, NULL);
	json_object_set_new(x, "case_number", json_string(db_result_value(res, 0, 1)));
	json_object_set_new(x, "ruleset_version", json_integer(db_result_int(res, 0, 11)));
	json_object_set_new(x, "decided_at", json_string(db_result_value(res, 0, 13)));
	json_object_set_new(x, "decided_by", json_string(db_result_value(res, 0, 14)));
	json_object_set_new(x, "stored_matched_rules", stored);
	json_object_set_new(x, "reproduced", json_boolean(json_equal(stored, json_object_get(x, "matched_rules"))));

	const char *p2[1] = {db_result_value(res, 0, 0)};

	arr = json_array();
	if (db_exec(db, "case_deliveries", 1, p2, &dels) == DB_OK) {
		for (int i = 0; i < db_result_rows(dels); i++)
			json_array_append_new(
			        arr, json_pack("{s:I, s:s, s:s, s:s, s:I, s:s?, s:s, s:s}", "delivery_id",
			                       (json_int_t)db_result_int(dels, i, 0), "department",
			                       db_result_value(dels, i, 1), "view", db_result_value(dels, i, 2),
			                       "priority", db_result_value(dels, i, 3), "ack_within",
			                       (json_int_t)db_result_int(dels, i, 4), "disclosure_basis",
			                       db_result_value(dels, i, 5), "origin", db_result_value(dels, i, 6),
			                       "state", db_result_value(dels, i, 7)));
	}
	json_object_set_new(x, "deliveries", arr);
	if (json_output) {
		print_json(x);
	} else {
		print_explanation(x);
		json_decref(x);
	}
out:
	db_result_free(&res);
	db_result_free(&dels);
	rules_diags_free(&diags);
	ruleset_destroy(&rs);
	concern_clear(&c);
	db_destroy(&db);
	return rc;
}
