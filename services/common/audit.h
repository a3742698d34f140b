/*
 * audit: appending to the tamper-evident audit trail (sql/005_audit.sql)
 * and checking it. Entries are appended inside the caller's transaction,
 * so an entry exists exactly when its action committed. Each program
 * appends to a chain of its own, named after it (sql/010_audit_chains.sql);
 * a chain's MAC covers every column in a canonical, length-prefixed form:
 * the same bytes at append and at verify.
 */
#ifndef ORO_AUDIT_H
#define ORO_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto.h"
#include "db.h"

/* The statement that locks a chain and reads its last entry. */
#define AUDIT_HEAD "audit_head"
/*
 * It as a step of db_exec_steps for the chain named by the string *chain
 * (which outlives the step), its result in *res, for audit_append_commit.
 */
#define AUDIT_HEAD_STEP(chain, res) ((struct db_step){.name = AUDIT_HEAD, .nparams = 1, .params = (chain), .out = (res)})

/* Include in the statement table of every program that appends. */
#define AUDIT_STATEMENTS                                                                                               \
	/* the chain's lock, then its last entry: sql/010_audit_chains.sql */                                          \
	{AUDIT_HEAD, "SELECT id, mac FROM audit_head($1)"},                                                            \
	{                                                                                                              \
		"audit_insert",                                                                                        \
		        "INSERT INTO audit (chain, id, prev_id, at, actor, action, report_id, delivery_id, detail, mac)" \
		        " SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::timestamptz[], $5::text[],"         \
		        " $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::bytea[])"                           \
	}

struct audit_entry {
	const char *actor;  /* the principal who acted */
	const char *action; /* one of the actions in sql/005_audit.sql */
	int64_t report_id;  /* 0: none */
	int64_t delivery_id;
	const char *detail; /* a JSON object as text; NULL for {} (never sealed content) */
};

/*
 * Append entries (in order) to chain (the program's name: "oro-intake",
 * "oro-notify", "oro"), inside the caller's open transaction; the chain's
 * lock is held until that transaction ends. Returns a db status.
 */
int audit_append(struct db *db, const struct keyring *kr, const char *chain, const struct audit_entry *e, size_t n);

/*
 * The end of a transaction that took the chain's head in the same round
 * trip as its statements (db_exec_steps with AUDIT_HEAD_STEP(&chain,
 * &head)): append e[0..n) after that head and COMMIT, in one round trip.
 * Returns a db status; on failure the caller rolls back.
 */
int audit_append_commit(struct db *db, const struct db_result *head, const struct keyring *kr, const char *chain,
                        const struct audit_entry *e, size_t n);

/* Append one entry in a transaction of its own (a refusal, a rotation: no
 * other action to share it with). Returns a db status; rolls back on failure. */
int audit_record(struct db *db, const struct keyring *kr, const char *chain, const struct audit_entry *e);

/*
 * Walk every chain (db must prepare AUDIT_VERIFY_STATEMENTS) and return
 * {"entries": n, "chains": {name: entries, ...}, "ok": bool, and when not
 * ok: "chain": name, "entry": id, "problem": "modified"|"deleted"|"inserted",
 * "message": text}; "entries" counts the entries verified. NULL on a
 * database error.
 */
#define AUDIT_VERIFY_STATEMENTS                                                                                       \
	{                                                                                                             \
		"audit_page", "SELECT chain, id, prev_id, to_char(at AT TIME ZONE 'UTC', "                            \
		              "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor,"                                          \
		              " action, report_id, delivery_id, detail, encode(mac, 'hex') FROM audit"                \
		              " WHERE (chain, id) > ($1, $2) ORDER BY chain, id LIMIT 1000"                           \
	}
json_t *audit_verify(struct db *db, const struct keyring *kr);

#endif
