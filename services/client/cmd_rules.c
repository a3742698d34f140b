/*
 * oro rules ...: the strategy owner's commands. They connect to the
 * database directly with the `database` connection string: whoever holds
 * a role that may write the ruleset tables manages the strategy.
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
#include "db.h"
#include "strategy.h"

static const char rules_help[] =
	"usage: oro rules test [--rules FILE] CASES.json [--json]\n"
	"       oro rules import FILE [--note TEXT] [--json]\n"
	"\n"
	"test:   evaluates each concern document of the JSON array in CASES.json with the\n"
	"        same code as oro-router: against FILE with --rules (no server needed), else\n"
	"        against the database's active ruleset. Prints, per case, the matched rules\n"
	"        (1-based positions), the recipients (department, view, priority, ack_within\n"
	"        in seconds, disclosure_basis) and the guidance, or an error for an invalid case.\n"
	"import: validates FILE and, in one transaction, stores it as the next ruleset\n"
	"        version with its rules and departments and makes it active. Importing the\n"
	"        document that is already active changes nothing.\n"
	"The ruleset format is in docs/rules.md.\n";

/* oro rules test */
static int rules_test(const char *rules_file, const char *cases_file)
{
	static const struct db_statement stmts[] = { STRATEGY_STATEMENTS };
	struct ruleset *rs = NULL;
	json_error_t jerr;
	json_t *cases, *results;

	if (rules_file != NULL) {
		rs = load_rules(rules_file);
		if (rs == NULL)
			return EXIT_REFUSED;
	} else {
		struct db *db = admin_db(stmts, 1);

		if (strategy_refresh(db, &rs) != DB_OK || rs == NULL) {
			fprintf(stderr, "oro: no active ruleset could be loaded from the database\n");
			db_destroy(&db);
			return EXIT_UNAVAILABLE;
		}
		db_destroy(&db);
	}
	cases = json_load_file(cases_file, JSON_REJECT_DUPLICATES, &jerr);
	if (cases == NULL || !json_is_array(cases)) {
		struct oro_error err;

		oro_error_set(&err, cases ? ORO_E_WRONG_TYPE : ORO_E_INVALID_JSON, "", "%s: %s", cases_file,
			      cases ? "expected a JSON array of concern documents" : jerr.text);
		json_decref(cases);
		ruleset_destroy(&rs);
		return report_error(&err);
	}
	results = rules_test_cases(rs, cases);
	if (json_output) {
		print_json(json_incref(results));
	} else {
		for (size_t i = 0; i < json_array_size(results); i++) {
			json_t *r = json_array_get(results, i), *e = json_object_get(r, "error");
			size_t j;
			json_t *v;

			printf("case %zu:", i + 1);
			if (e != NULL) {
				printf(" error %s %s: %s\n", json_string_value(json_object_get(e, "code")),
				       json_string_value(json_object_get(e, "field")),
				       json_string_value(json_object_get(e, "message")));
				continue;
			}
			printf(" rules");
			json_array_foreach(json_object_get(r, "matched_rules"), j, v)
				printf(" %lld", (long long)json_integer_value(v));
			printf("\n");
			json_array_foreach(json_object_get(r, "recipients"), j, v) {
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
	json_decref(results);
	json_decref(cases);
	ruleset_destroy(&rs);
	return EXIT_DONE;
}

/* oro rules import: one transaction; no-op when the same document is active. */
static int rules_import(const char *path, const char *note)
{
	static const struct db_statement stmts[] = {
		{ "active_sha", "SELECT r.version, r.sha256 FROM ruleset_active a JOIN ruleset r USING (version)" },
		{ "next_version", "SELECT coalesce(max(version), 0) + 1 FROM ruleset" },
		{ "insert_ruleset",
		  "INSERT INTO ruleset (version, name, document, sha256, note, published_by) VALUES ($1, $2, $3, $4, $5, $6)" },
		{ "insert_rule", "INSERT INTO rule (ruleset_version, position, name, document) VALUES ($1, $2, $3, $4)" },
		{ "upsert_department",
		  "INSERT INTO department (code, name, escalates_to, disclosure_basis_required) VALUES ($1, $2, $3, $4)"
		  " ON CONFLICT (code) DO UPDATE SET name = excluded.name, escalates_to = excluded.escalates_to,"
		  " disclosure_basis_required = excluded.disclosure_basis_required, updated_at = now()" },
		{ "activate",
		  "INSERT INTO ruleset_active (singleton, version, activated_by) VALUES (true, $1, $2)"
		  " ON CONFLICT (singleton) DO UPDATE SET version = excluded.version,"
		  " activated_by = excluded.activated_by, activated_at = now()" },
	};
	struct ruleset *rs = load_rules(path);
	struct db *db;
	struct db_result *res = NULL;
	char sha[2 * CRYPTO_SHA256_LEN + 1];
	char version[16] = "";
	char *text;
	size_t len;
	json_t *doc;
	int rc;

	if (rs == NULL)
		return EXIT_REFUSED;
	text = read_file(path, &len);
	doc = json_loadb(text, len, 0, NULL);
	crypto_sha256_hex(text, len, sha);
	db = admin_db(stmts, sizeof stmts / sizeof stmts[0]);

	rc = db_begin(db);
	if (rc == DB_OK)
		rc = db_command(db, "LOCK TABLE ruleset IN EXCLUSIVE MODE");
	if (rc == DB_OK)
		rc = db_exec(db, "active_sha", 0, NULL, &res);
	if (rc == DB_OK && db_result_rows(res) == 1 && strcmp(db_result_value(res, 0, 1), sha) == 0) {
		snprintf(version, sizeof version, "%s", db_result_value(res, 0, 0));
		db_rollback(db);
		if (json_output)
			print_json(json_pack("{s:i, s:b}", "version", atoi(version), "changed", 0));
		else
			printf("Ruleset version %s is this document and already active: nothing changed.\n", version);
		goto out;
	}
	db_result_free(&res);
	if (rc == DB_OK)
		rc = db_exec(db, "next_version", 0, NULL, &res);
	if (rc == DB_OK) {
		snprintf(version, sizeof version, "%s", db_result_value(res, 0, 0));
		const char *p[6] = { version, ruleset_name(rs), text, sha, note, my_principal() };

		rc = db_exec(db, "insert_ruleset", 6, p, NULL);
	}
	for (size_t i = 0; rc == DB_OK && i < ruleset_department_count(rs); i++) {
		const struct department *d = ruleset_department(rs, i);
		const char *p[4] = { d->code, d->name, d->escalates_to, d->disclosure_basis_required ? "true" : "false" };

		rc = db_exec(db, "upsert_department", 4, p, NULL);
	}
	for (size_t i = 0; rc == DB_OK && i < json_array_size(json_object_get(doc, "rules")); i++) {
		char pos[24];
		char *rule = json_dumps(json_array_get(json_object_get(doc, "rules"), i), JSON_COMPACT);
		const char *p[4] = { version, pos, ruleset_rule_name(rs, i + 1), rule };

		snprintf(pos, sizeof pos, "%zu", i + 1);
		rc = db_exec(db, "insert_rule", 4, p, NULL);
		free(rule);
	}
	if (rc == DB_OK) {
		const char *p[2] = { version, my_principal() };

		rc = db_exec(db, "activate", 2, p, NULL);
	}
	if (rc == DB_OK)
		rc = db_commit(db);
	if (rc != DB_OK) {
		fprintf(stderr, "oro: import failed, nothing changed: %s\n", db_last_error(db));
		db_rollback(db);
		rc = rc == DB_ERR_CONNECTION ? EXIT_UNAVAILABLE : EXIT_REFUSED;
		goto out;
	}
	if (json_output)
		print_json(json_pack("{s:i, s:b}", "version", atoi(version), "changed", 1));
	else
		printf("Ruleset \"%s\" stored as version %s and active (%zu rules).\n", ruleset_name(rs), version,
		       ruleset_rule_count(rs));
out:
	db_result_free(&res);
	db_destroy(&db);
	json_decref(doc);
	free(text);
	ruleset_destroy(&rs);
	return rc;
}

/* oro rules ... */
int cmd_rules(int argc, char **argv)
{
	const char *rules_file = NULL, *note = NULL;
	const char *pos[1];
	struct opt test_opts[] = { { "rules", true, &rules_file, NULL }, { NULL, false, NULL, NULL } };
	struct opt import_opts[] = { { "note", true, &note, NULL }, { NULL, false, NULL, NULL } };

	if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
		fputs(rules_help, argc < 3 ? stderr : stdout);
		return argc < 3 ? EXIT_USAGE : EXIT_DONE;
	}
	if (strcmp(argv[2], "test") == 0) {
		if (parse_opts(argc, argv, 3, test_opts, pos, 1, rules_help) != 1)
			usage_error("rules test needs CASES.json");
		return rules_test(rules_file, pos[0]);
	}
	if (strcmp(argv[2], "import") == 0) {
		if (parse_opts(argc, argv, 3, import_opts, pos, 1, rules_help) != 1)
			usage_error("rules import needs a ruleset FILE");
		return rules_import(pos[0], note);
	}
	usage_error("unknown rules command \"%s\"", argv[2]);
}
