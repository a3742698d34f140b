/*
 * oro keys new and oro principal ...: who may talk to Oro.
 *
 *   oro keys new PATH                      PATH.key (secret, 0600) and PATH.pub
 *   oro principal add NAME --kind K [--department D] --key PUB
 *   oro principal revoke NAME
 *   oro principal list
 *
 * Principals live in PostgreSQL with their CURVE public keys; the daemons'
 * ZAP handlers admit only registered, unrevoked keys, reloading them every
 * sweep, so a revocation holds within seconds. Like the other strategy
 * owner's commands these connect to the database directly: whoever holds
 * an administrator's database role manages principals. Every change is in
 * the audit trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "auth.h"
#include "client.h"
#include "crypto.h"
#include "db.h"

static const char principal_help[] =
        "usage: oro principal add NAME --kind staff|department|service|admin [--department D] --key FILE.pub\n"
        "       oro principal revoke NAME\n"
        "       oro principal list [--json]\n"
        "\n"
        "add     registers a principal with its CURVE public key (from `oro keys new`);\n"
        "        a department principal names its department.\n"
        "revoke  revokes it: the daemons refuse its key within a sweep interval.\n"
        "list    every principal: kind, department, key, created, revoked.\n";

static const char keys_new_help[] = "usage: oro keys new PATH\n"
                                    "\n"
                                    "Writes a new CURVE keypair: PATH.key (both keys, mode 0600: the principal's\n"
                                    "curve_key_file) and PATH.pub (the public key, for oro principal add).\n";

static const struct db_statement statements[] = {
        AUDIT_STATEMENTS,
        {"principal_add",
         "INSERT INTO principal (name, kind, department, public_key) VALUES ($1, $2, nullif($3, ''), $4) RETURNING id"},
        {"principal_revoke",
         "UPDATE principal SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING id"},
        {"principal_list", "SELECT name, kind, coalesce(department, ''), coalesce(public_key, ''), " DB_RFC3339(
                                   "created_at") ", " DB_RFC3339("revoked_at") " FROM principal ORDER BY name"},
};

/* oro keys new PATH */
int keys_new(const char *path)
{
	struct curve_keys k;
	struct oro_error err = {0};

	if (curve_keys_new(path, &k, &err) < 0) {
		fprintf(stderr, "oro: %s: %s\n", err.field, err.message);
		return EXIT_REFUSED;
	}
	if (json_output)
		print_json(json_pack("{s:s, s:s+, s:s+}", "public_key", k.public_key, "key_file", path, ".key",
		                     "public_file", path, ".pub"));
	else
		printf("CURVE keypair written: %s.key (secret, mode 0600) and %s.pub (public key %s).\n", path, path,
		       k.public_key);
	crypto_wipe(k.secret_key, sizeof k.secret_key);
	return EXIT_DONE;
}

const char *keys_new_usage(void)
{
	return keys_new_help;
}

/* Run statement with params and an audit entry in one transaction; returns rows changed or -1. */
static int audited_change(struct db *db, const char *stmt, int nparams, const char *const *params, const char *name,
                          const char *what)
{
	struct oro_error err = {0};
	struct keyring *kr = keyring_load(svc.cfg.key_file, &err);
	struct db_result *res = NULL;
	int rows = -1, rc;

	if (kr == NULL) {
		fprintf(stderr, "oro: key_file: %s (the audit trail needs its key)\n", err.message);
		return -1;
	}
	rc = db_begin(db);
	if (rc == DB_OK)
		rc = db_exec(db, stmt, nparams, params, &res);
	if (rc == DB_OK && db_result_rows(res) > 0) {
		json_t *d = json_pack("{s:s, s:s}", "principal", name, "change", what);
		char *detail = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		struct audit_entry e = {my_principal(), "principal_changed", 0, 0, detail};

		rc = audit_append(db, kr, svc.name, &e, 1);
		free(detail);
		json_decref(d);
	}
	if (rc == DB_OK)
		rc = db_commit(db);
	if (rc == DB_OK) {
		rows = db_result_rows(res);
	} else {
		fprintf(stderr, "oro: %s failed, nothing changed: %s\n", what, db_last_error(db));
		db_rollback(db);
	}
	db_result_free(&res);
	keyring_destroy(&kr);
	return rows;
}

int cmd_principal(int argc, char **argv)
{
	const char *pos[1], *kind = NULL, *department = "", *key = NULL;
	/* --department is the client's own configuration key: config_load() has taken it */
	struct opt add_opts[] = {{"kind", true, &kind, NULL}, {"key", true, &key, NULL}, {NULL, false, NULL, NULL}};
	struct opt no_opts[] = {{NULL, false, NULL, NULL}};
	const char *sub = argc >= 3 ? argv[2] : "";
	struct db *db;
	int rc = EXIT_DONE;

	if (argc < 3 || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(principal_help, argc < 3 ? stderr : stdout);
		return argc < 3 ? EXIT_USAGE : EXIT_DONE;
	}
	if (strcmp(sub, "add") == 0) {
		char pub[AUTH_Z85_LEN + 1];
		struct oro_error err = {0};

		if (parse_opts(argc, argv, 3, add_opts, pos, 1, principal_help) != 1 || kind == NULL || key == NULL)
			usage_error("principal add needs NAME, --kind and --key");
		department = svc.cfg.department;
		if (strlen(pos[0]) == 0 || strlen(pos[0]) > AUTH_NAME_MAX)
			usage_error("a principal's name is 1..%d bytes", AUTH_NAME_MAX);
		if (strcmp(kind, "department") == 0 && *department == '\0')
			usage_error("a department principal needs --department");
		if (strcmp(kind, "department") != 0)
			department = "";
		if (curve_public_key_read(key, pub, &err) < 0)
			usage_error("--key: %s", err.message);
		db = admin_db(statements, sizeof statements / sizeof statements[0]);
		const char *p[4] = {pos[0], kind, department, pub};

		if (audited_change(db, "principal_add", 4, p, pos[0], "added") < 0)
			rc = EXIT_REFUSED;
		else if (json_output)
			print_json(json_pack("{s:s, s:s, s:s}", "principal", pos[0], "kind", kind, "public_key", pub));
		else
			printf("Principal %s (%s%s%s) added.\n", pos[0], kind, *department ? ", " : "", department);
		db_destroy(&db);
		return rc;
	}
	if (strcmp(sub, "revoke") == 0) {
		int rows;

		if (parse_opts(argc, argv, 3, no_opts, pos, 1, principal_help) != 1)
			usage_error("principal revoke needs NAME");
		db = admin_db(statements, sizeof statements / sizeof statements[0]);
		const char *p[1] = {pos[0]};

		rows = audited_change(db, "principal_revoke", 1, p, pos[0], "revoked");
		if (rows < 0) {
			rc = EXIT_REFUSED;
		} else if (rows == 0) {
			struct oro_error err;

			oro_error_set(&err, ORO_E_NOT_FOUND, "name", "no unrevoked principal %.60s", pos[0]);
			rc = report_error(&err);
		} else if (json_output) {
			print_json(json_pack("{s:s, s:b}", "principal", pos[0], "revoked", 1));
		} else {
			printf("Principal %s revoked: its key is refused within a sweep interval.\n", pos[0]);
		}
		db_destroy(&db);
		return rc;
	}
	if (strcmp(sub, "list") == 0) {
		struct db_result *res;
		json_t *arr = json_array();

		parse_opts(argc, argv, 3, no_opts, pos, 0, principal_help);
		db = admin_db(statements, sizeof statements / sizeof statements[0]);
		if (db_exec(db, "principal_list", 0, NULL, &res) != DB_OK) {
			fprintf(stderr, "oro: %s\n", db_last_error(db));
			db_destroy(&db);
			json_decref(arr);
			return EXIT_UNAVAILABLE;
		}
		for (int i = 0; i < db_result_rows(res); i++)
			json_array_append_new(
			        arr,
			        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?}", "name", db_result_value(res, i, 0), "kind",
			                  db_result_value(res, i, 1), "department", db_result_value(res, i, 2),
			                  "public_key", db_result_value(res, i, 3), "created_at",
			                  db_result_value(res, i, 4), "revoked_at", db_result_value(res, i, 5)));
		if (json_output) {
			print_json(arr);
		} else {
			printf("%-24s %-10s %-16s %-8s %s\n", "name", "kind", "department", "state", "public key");
			for (int i = 0; i < db_result_rows(res); i++)
				printf("%-24s %-10s %-16s %-8s %s\n", db_result_value(res, i, 0),
				       db_result_value(res, i, 1), db_result_value(res, i, 2),
				       db_result_value(res, i, 5) ? "revoked" : "active", db_result_value(res, i, 3));
			json_decref(arr);
		}
		db_result_free(&res);
		db_destroy(&db);
		return EXIT_DONE;
	}
	usage_error("unknown principal command \"%s\"", sub);
}
