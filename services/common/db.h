/*
 * db: the only module that calls libpq. A struct db is one connection with
 * its retry policy: it reconnects with exponential backoff and jitter,
 * prepares its statements once per connection (again after every
 * reconnect), runs parameterised statements only, and classifies errors by
 * SQLSTATE so that callers decide between "try again" and "give up".
 *
 * Error model: functions return DB_OK (0) or a negative enum db_status. The
 * db module logs connection changes (warn/info); failures of a statement are
 * returned, not logged: the caller, who knows what was being done, logs.
 */
#ifndef ORO_DB_H
#define ORO_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_status {
	DB_OK = 0,
	DB_ERR_CONNECTION = -1, /* not connected, or lost (SQLSTATE 08, 57P): try later */
	DB_ERR_RETRY = -2,      /* serialization failure or deadlock (40001, 40P01): retry the transaction */
	DB_ERR_CONSTRAINT = -3, /* integrity violation (class 23) */
	DB_ERR_OTHER = -4,      /* anything else: a bug or a schema mismatch */
};

/* A statement prepared on every connection. */
struct db_statement {
	const char *name;
	const char *sql;
};

struct db;
struct db_result;

/*
 * A connection object for conninfo (copied). stmts must outlive the db
 * (normally a static table). Does not connect: db_ready() does.
 */
struct db *db_new(const char *conninfo, const char *application_name, const struct db_statement *stmts, size_t n_stmts,
                  int retry_max_ms);

/* Close and free; *db becomes NULL. Safe on NULL and twice. */
void db_destroy(struct db **db);

/*
 * True when connected. When not, and the backoff delay has passed, makes one
 * connection attempt (blocking at most connect_timeout, 5 s) and prepares
 * the statements. Never sleeps: daemons call it from their loop.
 */
bool db_ready(struct db *db);

/* Milliseconds until db_ready() will try again (0 when connected or due). */
int db_retry_in_ms(const struct db *db);

/*
 * Run prepared statement `name` with text parameters (NULL for SQL NULL).
 * On DB_OK and out != NULL, *out is the result, which the caller frees with
 * db_result_free(). On error *out is NULL.
 */
int db_exec(struct db *db, const char *name, int nparams, const char *const *params, struct db_result **out);

/*
 * For a daemon whose statements read tables only by key (an index look-up
 * per row of a batch) and write batches: its sessions plan without
 * sequential scans (enable_seqscan off, set at every connection) and
 * without JIT compilation (jit off: the cost that disables a sequential
 * scan where there is no other path, as for a one-row table, would set off
 * 80 ms of compiling at every execution). A
 * prepared statement's plan may be cached after five executions, made for
 * the tables as they were then; on a new installation, where report starts
 * nearly empty, a sequential scan is the cheaper plan, and it would read
 * all of report at every batch once it has grown (tests/integration/plans).
 * Planning each batch's statements anew instead cost a sixth of
 * PostgreSQL's CPU at 1,000 concerns/s (docs/performance.md). Statements
 * of such a daemon reach each table's rows through an index condition
 * (= ANY, a parameterised subquery, LATERAL), never through a join that
 * could read a whole index instead. Call before the first db_ready().
 */
void db_lookups_only(struct db *db);

/*
 * One statement of db_exec_steps: a prepared statement (name), or SQL
 * (sql: not prepared, planned at execution; "BEGIN" and "COMMIT"
 * among them open and end a transaction, which db_rollback then knows
 * of). out as in db_exec.
 */
struct db_step {
	const char *name;
	const char *sql;
	int nparams;
	const char *const *params;
	struct db_result **out;
};

/*
 * Run steps[0..n) in one round trip (libpq's pipeline mode), in order; once
 * one fails the rest are not run. Returns DB_OK, or the status of the first
 * failure (after a failure inside a transaction, the caller rolls back as
 * after db_exec).
 */
int db_exec_steps(struct db *db, const struct db_step *steps, size_t n);

/* Run a parameterless command (BEGIN, COMMIT, LISTEN x ...). */
int db_command(struct db *db, const char *sql);

int db_begin(struct db *db);
int db_commit(struct db *db);
/* Roll back the open transaction, if any; errors are ignored (a lost
 * connection has rolled back already). */
void db_rollback(struct db *db);

/* SQLSTATE and message of the last failure (borrowed, valid until the next call). */
const char *db_last_sqlstate(const struct db *db);
const char *db_last_error(const struct db *db);

int db_result_rows(const struct db_result *r);
/* Value at (row, col) as text, or NULL for SQL NULL (borrowed, lives as long as r). */
const char *db_result_value(const struct db_result *r, int row, int col);
/* Value as a 64-bit integer (0 for NULL). */
int64_t db_result_int(const struct db_result *r, int row, int col);
/* Free r and set *r to NULL. Safe on NULL and twice. */
void db_result_free(struct db_result **r);

/* The connection's socket for poll(), or -1 when not connected. */
int db_socket(const struct db *db);

/* LISTEN on channel (a static string) now, if connected, and after every
 * reconnect. */
void db_listen(struct db *db, const char *channel);

/* Read what the server sent and return how many notifications arrived
 * since the last call (0 when none or not connected). */
int db_notifications(struct db *db);

/* Counts successful connections: a caller that holds state derived from
 * the database refreshes it when this changes (it may have missed
 * notifications while disconnected). */
unsigned db_generation(const struct db *db);

/* Escape a byte string as bytea hex text ("\\x0a1b..."); the caller frees. */
char *db_bytea_hex(const unsigned char *bytes, size_t len);

/* A PostgreSQL array literal of text values (NULL members allowed), for
 * parameters like $1::text[]; the caller frees. */
char *db_text_array(const char *const *values, size_t n);

/* SQL expression: a timestamptz column as RFC 3339 UTC text ("...Z"), NULL stays NULL. */
#define DB_RFC3339(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#endif
