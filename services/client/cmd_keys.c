/*
 * oro keys ...: the sealing keys of report content (content.h).
 *
 *   oro keys init FILE        a new key file with one random key, mode 0600
 *   oro keys rotate [--resume]
 *
 * rotate adds a new key to key_file (the daemons pick it up within a sweep
 * and seal new content with it) and re-seals every stored value under it,
 * in batches of one transaction each, so that an interrupted rotation
 * loses nothing and `oro keys rotate --resume` finishes it without adding
 * another key. Values stored before sealing existed are sealed on the way.
 * Old keys stay in the file (remove them by hand once rotate reports that
 * nothing is sealed under them any more).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "audit.h"
#include "client.h"
#include "content.h"
#include "crypto.h"
#include "db.h"

static const char keys_help[] = "usage: oro keys new PATH\n"
                                "       oro keys init FILE\n"
                                "       oro keys rotate [--resume] [--json]\n"
                                "\n"
                                "init    writes a new key file (a random audit key and AES-256 sealing key 1,\n"
                                "        mode 0600; it will\n"
                                "        not overwrite a file). Point key_file at it in the configuration of\n"
                                "        every daemon and admin client; keep it secret and backed up.\n"
                                "new     writes a CURVE keypair for a principal or the daemons: PATH.key (mode\n"
                                "        0600, its curve_key_file) and PATH.pub (for oro principal add).\n"
                                "rotate  adds a new key to key_file and re-seals every stored value under it,\n"
                                "        one batch per transaction: an interrupted rotation is finished with\n"
                                "        --resume (no new key). The daemons switch to the new key within a sweep.\n";

#define ROTATE_PASSES 3000 /* 200 ms apart: ten minutes at most */

static const struct db_statement statements[] = {
        AUDIT_STATEMENTS,
        AUDIT_VERIFY_STATEMENTS,
        /* rows after report $2 with any value not sealed under the current key ($1 = 's1.<id>.%') */
        {"stale_rows",
         "SELECT c.report_id, encode(r.receipt_hash, 'hex'), c.description, c.subject_age, c.subject_name,"
         " c.subject_personal_number, c.subject_unit, c.reporter_phone, c.receipt"
         " FROM report_content c JOIN report r ON r.id = c.report_id"
         " WHERE (c.description NOT LIKE $1 OR c.receipt NOT LIKE $1 OR c.subject_age NOT LIKE $1"
         " OR c.subject_name NOT LIKE $1 OR c.subject_personal_number NOT LIKE $1 OR c.subject_unit NOT LIKE $1"
         " OR c.reporter_phone NOT LIKE $1) AND c.report_id > $2"
         " ORDER BY c.report_id LIMIT 200 FOR UPDATE OF c SKIP LOCKED"},
        {"reseal",
         "UPDATE report_content SET description = $2, subject_age = $3, subject_name = $4,"
         " subject_personal_number = $5, subject_unit = $6, reporter_phone = $7, receipt = $8 WHERE report_id = $1"},
};

/* oro keys init FILE */
static int keys_init(const char *path)
{
	struct oro_error err = {0};

	if (crypto_key_file_new(path, &err) < 0) {
		fprintf(stderr, "oro: %s: %s\n", err.field, err.message);
		return EXIT_REFUSED;
	}
	if (json_output)
		print_json(json_pack("{s:s, s:i}", "key_file", path, "key", 1));
	else
		printf("Key file %s written (audit key and sealing key 1, mode 0600).\n", path);
	return EXIT_DONE;
}

/*
 * Re-seal one batch of reports after *after under the current key, in one
 * transaction, advancing *after; returns the rows looked at or -1. Reports
 * with a value that no key opens are left as they are and counted in
 * *unopenable.
 */
static int reseal_batch(struct db *db, const struct keyring *kr, int64_t *after, long *unopenable)
{
	char like[32], from[24];
	const char *params[2] = {like, from};
	struct db_result *res = NULL;
	int rows = 0, rc;

	snprintf(like, sizeof like, "s1.%d.%%", keyring_current(kr));
	snprintf(from, sizeof from, "%lld", (long long)*after);
	rc = db_begin(db);
	if (rc == DB_OK)
		rc = db_exec(db, "stale_rows", 2, params, &res);
	for (int i = 0; rc == DB_OK && i < db_result_rows(res); i++) {
		const char *hash = db_result_value(res, i, 1);
		char *values[CONTENT_FIELDS];
		const char *p[CONTENT_FIELDS + 1];
		bool failed = false;

		p[0] = db_result_value(res, i, 0);
		*after = db_result_int(res, i, 0);
		rows++;
		for (int f = 0; f < CONTENT_FIELDS; f++) {
			char *plain = content_open_legacy(kr, hash, (enum content_field)f,
			                                  db_result_value(res, i, 2 + f), &failed);

			values[f] = content_seal(kr, hash, (enum content_field)f, plain);
			if (plain != NULL)
				crypto_wipe(plain, strlen(plain));
			free(plain);
			p[1 + f] = values[f];
		}
		if (failed) {
			fprintf(stderr,
			        "oro: report %s: a value opens with no key in the file (tampered, or its key is gone); "
			        "left as it is\n",
			        p[0]);
			(*unopenable)++;
		} else {
			rc = db_exec(db, "reseal", CONTENT_FIELDS + 1, p, NULL);
		}
		for (int f = 0; f < CONTENT_FIELDS; f++)
			free(values[f]);
	}
	if (rc == DB_OK)
		rc = db_commit(db);
	db_result_free(&res);
	if (rc != DB_OK) {
		fprintf(stderr, "oro: re-sealing failed (this batch is unchanged; run oro keys rotate --resume): %s\n",
		        db_last_error(db));
		db_rollback(db);
		return -1;
	}
	return rows;
}

/* oro keys rotate */
static int keys_rotate(bool resume)
{
	struct oro_error err = {0};
	struct keyring *kr = keyring_load(svc.cfg.key_file, &err);
	struct db *db;
	long total = 0, unopenable = 0;
	int id;

	if (kr == NULL) {
		fprintf(stderr, "oro: key_file: %s\n", err.message);
		return EXIT_REFUSED;
	}
	if (!resume) {
		id = keyring_add_key(kr, &err);
		keyring_destroy(&kr);
		if (id < 0 || (kr = keyring_load(svc.cfg.key_file, &err)) == NULL) {
			fprintf(stderr, "oro: key_file: %s\n", err.message);
			return EXIT_REFUSED;
		}
		fprintf(stderr, "oro: key %d added to %s; re-sealing\n", id, svc.cfg.key_file);
	}
	db = admin_db(statements, sizeof statements / sizeof statements[0]);
	/* Daemons seal with the old key until their next sweep reloads the file:
	 * pass again until a pass after two sweep intervals finds nothing. */
	int64_t settled = service_now_ms() + 2 * (int64_t)svc.cfg.sweep_interval_ms;

	for (int pass = 0; pass < ROTATE_PASSES; pass++) {
		int64_t after = 0;
		long pass_rows = 0;
		int n;

		unopenable = 0;
		while ((n = reseal_batch(db, kr, &after, &unopenable)) > 0)
			pass_rows += n;
		if (n < 0) {
			db_destroy(&db);
			keyring_destroy(&kr);
			return EXIT_UNAVAILABLE;
		}
		total += pass_rows - unopenable;
		if (pass_rows == unopenable && service_now_ms() >= settled)
			break;
		usleep(200000);
	}
	/* the rotation in the audit trail */
	char detail[96];
	struct audit_entry e = {my_principal(), "keys_rotated", 0, 0, detail};

	snprintf(detail, sizeof detail, "{\"key\":%d,\"resealed\":%ld,\"unopenable\":%ld}", keyring_current(kr), total,
	         unopenable);
	if (audit_record(db, kr, svc.name, &e) != DB_OK)
		fprintf(stderr, "oro: the rotation is done but its audit entry failed: %s\n", db_last_error(db));
	if (json_output)
		print_json(json_pack("{s:i, s:I, s:I}", "key", keyring_current(kr), "resealed", (json_int_t)total,
		                     "unopenable", (json_int_t)unopenable));
	else if (unopenable == 0)
		printf("Every stored value is sealed under key %d (%ld reports re-sealed).\n", keyring_current(kr),
		       total);
	else
		printf("%ld reports re-sealed under key %d; %ld could not be opened and were left as they are.\n",
		       total, keyring_current(kr), unopenable);
	db_destroy(&db);
	keyring_destroy(&kr);
	return unopenable == 0 ? EXIT_DONE : EXIT_REFUSED;
}

static const char audit_help[] = "usage: oro audit verify [--json]\n"
                                 "\n"
                                 "Walks the whole audit trail and checks its HMAC chains (one per writing\n"
                                 "program: oro-intake, oro-notify, oro) with the audit key of key_file. Exit 0\n"
                                 "when every entry is as written; exit 1 naming the first entry (chain and id)\n"
                                 "that was modified (or forged), deleted or inserted; 3 when the database cannot\n"
                                 "be reached.\n";

/* oro audit verify */
int cmd_audit(int argc, char **argv)
{
	struct opt no_opts[] = {{NULL, false, NULL, NULL}};
	struct oro_error err = {0};
	struct keyring *kr;
	struct db *db;
	json_t *r;
	int rc;

	if (argc < 3 || strcmp(argv[2], "verify") != 0) {
		if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
			fputs(audit_help, stdout);
			return EXIT_DONE;
		}
		fputs(audit_help, stderr);
		return EXIT_USAGE;
	}
	parse_opts(argc, argv, 3, no_opts, NULL, 0, audit_help);
	kr = keyring_load(svc.cfg.key_file, &err);
	if (kr == NULL) {
		fprintf(stderr, "oro: key_file: %s\n", err.message);
		return EXIT_REFUSED;
	}
	db = admin_db(statements, sizeof statements / sizeof statements[0]);
	r = audit_verify(db, kr);
	if (r == NULL) {
		fprintf(stderr, "oro: audit verify: %s\n", db_last_error(db));
		rc = EXIT_UNAVAILABLE;
	} else {
		rc = json_is_true(json_object_get(r, "ok")) ? EXIT_DONE : EXIT_REFUSED;
		if (json_output)
			print_json(json_incref(r));
		else if (rc == EXIT_DONE) {
			const char *chain, *sep = " (chains: ";
			json_t *n;

			printf("The audit trail is intact: %lld entries verified",
			       (long long)json_integer_value(json_object_get(r, "entries")));
			json_object_foreach(json_object_get(r, "chains"), chain, n) {
				printf("%s%s %lld", sep, chain, (long long)json_integer_value(n));
				sep = ", ";
			}
			puts(*sep == ',' ? ")." : ".");
		} else
			printf("The audit trail is NOT intact: entry %lld of chain %s %s (%s); %lld entries before it "
			       "verified.\n",
			       (long long)json_integer_value(json_object_get(r, "entry")),
			       json_string_value(json_object_get(r, "chain")),
			       json_string_value(json_object_get(r, "problem")),
			       json_string_value(json_object_get(r, "message")),
			       (long long)json_integer_value(json_object_get(r, "entries")));
		json_decref(r);
	}
	db_destroy(&db);
	keyring_destroy(&kr);
	return rc;
}

int cmd_keys(int argc, char **argv)
{
	const char *pos[1];
	bool resume = false;
	struct opt no_opts[] = {{NULL, false, NULL, NULL}};
	struct opt rotate_opts[] = {{"resume", false, NULL, &resume}, {NULL, false, NULL, NULL}};
	const char *sub = argc >= 3 ? argv[2] : "";

	if (argc < 3 || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(keys_help, argc < 3 ? stderr : stdout);
		return argc < 3 ? EXIT_USAGE : EXIT_DONE;
	}
	if (strcmp(sub, "new") == 0) {
		if (parse_opts(argc, argv, 3, no_opts, pos, 1, keys_new_usage()) != 1)
			usage_error("keys new needs a PATH (PATH.key and PATH.pub are written)");
		return keys_new(pos[0]);
	}
	if (strcmp(sub, "init") == 0) {
		if (parse_opts(argc, argv, 3, no_opts, pos, 1, keys_help) != 1)
			usage_error("keys init needs a FILE");
		return keys_init(pos[0]);
	}
	if (strcmp(sub, "rotate") == 0) {
		parse_opts(argc, argv, 3, rotate_opts, pos, 0, keys_help);
		return keys_rotate(resume);
	}
	usage_error("unknown keys command \"%s\"", sub);
}
