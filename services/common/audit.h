/*
 * audit: appending to the tamper-evident audit trail (sql/005_audit.sql)
 * and checking it. Entries are appended inside the caller's transaction,
 * so an entry exists exactly when its action committed. The chain's MAC
 * covers every column in a canonical, length-prefixed form: the same bytes
 * at append and at verify.
 */
#ifndef ORO_AUDIT_H
#define ORO_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto.h"
#include "db.h"

/* The statement that locks the chain and reads its last entry. */
#define AUDIT_HEAD "audit_head"
/* It as a step of db_exec_steps, its result in *res, for audit_append_commit. */
#define AUDIT_HEAD_STEP(res) ((struct db_step){.name = AUDIT_HEAD, .out = (res)})

/* Include in the statement table of every program that appends. */
#define AUDIT_STATEMENTS                                                                                               \
	/* the chain's lock, then its last entry: sql/009_audit_head.sql */                                            \
	{AUDIT_HEAD, "SELECT id, mac FROM audit_head()"},                                                              \
	{                                                                                                              \
		"audit_insert",                                                                                        \
		        "INSERT INTO audit (id, prev_id, at, actor, action, report_id, delivery_id, detail, mac)"      \
		        " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[]," \
		        " $6::bigint[], $7::bigint[], $8::text[], $9::bytea[])"                                        \
	}

struct audit_entry {
	const char *actor;  /* the principal who acted */
	const char *action; /* one of the actions in sql/005_audit.sql */
	int64_t report_id;  /* 0: none */
	int64_t delivery_id;
	const char *detail; /* a JSON object as text; NULL for {} (never sealed content) */
};

/*
 * Append entries (in order) to the chain, inside the caller's open
 * transaction; the chain's lock is held until that transaction ends.
 * Returns a db status.
 */
int audit_append(struct db *db, const struct keyring *kr, const struct audit_entry *e, size_t n);

/*
 * The end of a transaction that took the chain's head in the same round
 * trip as its statements (db_exec_steps with AUDIT_HEAD_STEP(&head)):
 * append e[0..n) after that head and COMMIT, in one round trip.
 * Returns a db status; on failure the caller rolls back.
 */
int audit_append_commit(struct db *db, const struct db_result *head, const struct keyring *kr,
                        const struct audit_entry *e, size_t n);

/* Append one entry in a transaction of its own (a refusal, a rotation: no
 * other action to share it with). Returns a db status; rolls back on failure. */
int audit_record(struct db *db, const struct keyring *kr, const struct audit_entry *e);

/*
 * Walk the whole chain (db must prepare AUDIT_VERIFY_STATEMENTS) and return
 * {"entries": n, "ok": bool, and when not ok: "entry": id, "problem":
 * "modified"|"deleted"|"inserted", "message": text}. NULL on a database
 * error.
 */
#define AUDIT_VERIFY_STATEMENTS                                                                                       \
	{                                                                                                             \
		"audit_page", "SELECT id, prev_id, to_char(at AT TIME ZONE 'UTC', "                                   \
		              "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor,"                                          \
		              " action, report_id, delivery_id, detail, encode(mac, 'hex') FROM audit WHERE id > $1 " \
		              "ORDER BY id"                                                                           \
		              " LIMIT 1000"                                                                           \
	}
json_t *audit_verify(struct db *db, const struct keyring *kr);

#endif
