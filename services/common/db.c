/*
 * db: libpq behind one small interface (see db.h). Invariants: every
 * PGresult is cleared on every path before a function returns, except the
 * one handed to the caller inside a struct db_result; after any connection
 * failure the PGconn is closed and the next db_ready() reconnects and
 * re-prepares, so a statement name never refers to a lost session.
 */
#include "db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"

#define DB_RETRY_MIN_MS 100

struct db {
	char *conninfo;
	const struct db_statement *stmts;
	size_t n_stmts;
	PGconn *conn;
	bool in_tx;
	int retry_max_ms;
	int delay_ms;        /* current backoff step */
	int64_t retry_at;    /* monotonic ms of the next connection attempt */
	bool was_up;         /* for logging transitions once */
	bool lookups_only;   /* db_lookups_only: plan without sequential scans */
	unsigned generation; /* successful connections so far */
	const char *listen[4];
	size_t n_listen;
	char sqlstate[6];
	char error[256];
};

struct db_result {
	PGresult *res;
};

/* Monotonic clock in milliseconds. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct db *db_new(const char *conninfo, const char *application_name, const struct db_statement *stmts, size_t n_stmts,
                  int retry_max_ms)
{
	struct db *db = xcalloc(1, sizeof *db);

	/* connect_timeout bounds a blocking connection attempt; later keys win */
	db->conninfo = xasprintf("connect_timeout=5 application_name='%s' %s", application_name, conninfo);
	db->stmts = stmts;
	db->n_stmts = n_stmts;
	db->retry_max_ms = retry_max_ms > DB_RETRY_MIN_MS ? retry_max_ms : DB_RETRY_MIN_MS;
	db->delay_ms = DB_RETRY_MIN_MS;
	return db;
}

void db_destroy(struct db **pdb)
{
	struct db *db = pdb ? *pdb : NULL;

	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	free(db->conninfo);
	free(db);
	*pdb = NULL;
}

/* Remember the failure of conn/res for db_last_error(). */
static void db_note_error(struct db *db, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;

	if (msg == NULL || *msg == '\0')
		msg = db->conn ? PQerrorMessage(db->conn) : "not connected";
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "08000");
	snprintf(db->error, sizeof db->error, "%s", msg);
	for (char *p = db->error; *p != '\0'; p++)
		if (*p == '\n')
			*p = (p[1] == '\0') ? '\0' : ' ';
}

/* Close the connection and schedule the next attempt with jittered backoff. */
static void db_drop(struct db *db)
{
	int jitter;

	if (db->conn != NULL) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->in_tx = false;
	/* full jitter on the upper half: spread reconnects of many daemons */
	jitter = db->delay_ms / 2 + (int)(random() % (db->delay_ms / 2 + 1));
	db->retry_at = now_ms() + jitter;
	db->delay_ms *= 2;
	if (db->delay_ms > db->retry_max_ms)
		db->delay_ms = db->retry_max_ms;
}

/* Map a failed result to a status; drops the connection when it is gone. */
static int db_classify(struct db *db, const PGresult *res)
{
	db_note_error(db, res);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK || strncmp(db->sqlstate, "08", 2) == 0 ||
	    strncmp(db->sqlstate, "57P", 3) == 0) {
		if (db->was_up)
			log_warn("database=lost sqlstate=%s error=%s", db->sqlstate, log_quote(db->error));
		db->was_up = false;
		db_drop(db);
		return DB_ERR_CONNECTION;
	}
	if (strcmp(db->sqlstate, "40001") == 0 || strcmp(db->sqlstate, "40P01") == 0)
		return DB_ERR_RETRY;
	if (strncmp(db->sqlstate, "23", 2) == 0)
		return DB_ERR_CONSTRAINT;
	return DB_ERR_OTHER;
}

/* Issue LISTEN channel on the current connection. */
static bool db_listen_now(struct db *db, const char *channel)
{
	char sql[96];
	PGresult *res;
	bool ok;

	snprintf(sql, sizeof sql, "LISTEN \"%s\"", channel);
	res = PQexec(db->conn, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		db_classify(db, res);
	PQclear(res);
	return ok;
}

void db_lookups_only(struct db *db)
{
	db->lookups_only = true;
}

/* Run a session setting on a new connection; on failure the connection is dropped. */
static bool db_session_set(struct db *db, const char *sql)
{
	PGresult *res = PQexec(db->conn, sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok) {
		if (db_classify(db, res) != DB_ERR_CONNECTION)
			log_error("database=session_setting sql=%s sqlstate=%s error=%s", log_quote(sql), db->sqlstate,
			          log_quote(db->error));
		db_drop(db);
	}
	PQclear(res);
	return ok;
}

bool db_ready(struct db *db)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		return true;
	if (db->conn != NULL)
		db_drop(db);
	if (now_ms() < db->retry_at)
		return false;

	db->conn = PQconnectdb(db->conninfo);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		db_note_error(db, NULL);
		if (db->was_up || db->delay_ms == DB_RETRY_MIN_MS)
			log_warn("database=unavailable error=%s retry_max_ms=%d", log_quote(db->error),
			         db->retry_max_ms);
		db->was_up = false;
		db_drop(db);
		return false;
	}
	if (db->lookups_only && !db_session_set(db, "SET enable_seqscan = off; SET jit = off"))
		return false;
	for (size_t i = 0; i < db->n_stmts; i++) {
		PGresult *res = PQprepare(db->conn, db->stmts[i].name, db->stmts[i].sql, 0, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			int rc = db_classify(db, res);

			PQclear(res);
			if (rc != DB_ERR_CONNECTION) {
				/* a statement that does not prepare is a schema mismatch */
				log_error("database=prepare statement=%s sqlstate=%s error=%s", db->stmts[i].name,
				          db->sqlstate, log_quote(db->error));
				db_drop(db);
			}
			return false;
		}
		PQclear(res);
	}
	for (size_t i = 0; i < db->n_listen; i++) {
		if (!db_listen_now(db, db->listen[i])) {
			db_drop(db);
			return false;
		}
	}
	db->delay_ms = DB_RETRY_MIN_MS;
	db->retry_at = 0;
	db->was_up = true;
	db->generation++;
	log_info("database=connected statements=%zu", db->n_stmts);
	return true;
}

int db_retry_in_ms(const struct db *db)
{
	int64_t d;

	if (db->conn != NULL)
		return 0;
	d = db->retry_at - now_ms();
	return d > 0 ? (int)d : 0;
}

/* Check an executed result; on success hand it over or clear it. */
static int db_finish(struct db *db, PGresult *res, struct db_result **out)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out != NULL) {
			*out = xmalloc(sizeof **out);
			(*out)->res = res;
		} else {
			PQclear(res);
		}
		return DB_OK;
	}
	int rc = db_classify(db, res);

	PQclear(res);
	return rc;
}

/* False, with the error noted, when db has no connection. */
static bool db_connected(struct db *db)
{
	if (db->conn != NULL)
		return true;
	snprintf(db->sqlstate, sizeof db->sqlstate, "08003");
	snprintf(db->error, sizeof db->error, "not connected");
	return false;
}

int db_exec(struct db *db, const char *name, int nparams, const char *const *params, struct db_result **out)
{
	if (out != NULL)
		*out = NULL;
	if (!db_connected(db))
		return DB_ERR_CONNECTION;
	return db_finish(db, PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0), out);
}

int db_exec_steps(struct db *db, const struct db_step *steps, size_t n)
{
	int rc = DB_OK;
	size_t sent = 0;

	for (size_t i = 0; i < n; i++)
		if (steps[i].out != NULL)
			*steps[i].out = NULL;
	if (!db_connected(db))
		return DB_ERR_CONNECTION;
	if (!PQenterPipelineMode(db->conn))
		return db_classify(db, NULL);
	for (; sent < n; sent++) {
		const struct db_step *st = &steps[sent];
		int ok = st->name != NULL ? PQsendQueryPrepared(db->conn, st->name, st->nparams, st->params, NULL, NULL, 0)
		                          : PQsendQueryParams(db->conn, st->sql, st->nparams, NULL, st->params, NULL, NULL, 0);

		if (!ok)
			break;
	}
	if (sent < n || !PQpipelineSync(db->conn)) {
		/* the connection is gone (no SQLSTATE: classified as lost, and dropped with what was queued) */
		return db_classify(db, NULL);
	}
	/* each step's results end with NULL; then the sync */
	for (size_t i = 0; i < n && db->conn != NULL; i++) {
		PGresult *res;

		while (db->conn != NULL && (res = PQgetResult(db->conn)) != NULL) {
			ExecStatusType st = PQresultStatus(res);

			if (st == PGRES_PIPELINE_ABORTED) {
				PQclear(res);
				continue;
			}
			if (rc != DB_OK) { /* a failed step's further results */
				PQclear(res);
				continue;
			}
			rc = db_finish(db, res, steps[i].out);
		}
	}
	if (db->conn != NULL) {
		PGresult *res = PQgetResult(db->conn);

		if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && rc == DB_OK)
			rc = db_classify(db, res);
		PQclear(res);
	}
	if (db->conn != NULL && !PQexitPipelineMode(db->conn) && rc == DB_OK)
		rc = db_classify(db, NULL);
	if (db->conn != NULL) { /* whatever the steps were: BEGIN, COMMIT, or a failure inside a transaction */
		PGTransactionStatusType ts = PQtransactionStatus(db->conn);

		db->in_tx = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
	}
	if (rc != DB_OK)
		for (size_t i = 0; i < n; i++)
			if (steps[i].out != NULL)
				db_result_free(steps[i].out);
	return rc;
}

int db_command(struct db *db, const char *sql)
{
	if (!db_connected(db))
		return DB_ERR_CONNECTION;
	return db_finish(db, PQexec(db->conn, sql), NULL);
}

int db_begin(struct db *db)
{
	int rc = db_command(db, "BEGIN");

	db->in_tx = rc == DB_OK;
	return rc;
}

int db_commit(struct db *db)
{
	int rc = db_command(db, "COMMIT");

	db->in_tx = false;
	return rc;
}

void db_rollback(struct db *db)
{
	if (db->conn != NULL && db->in_tx) {
		PGresult *res = PQexec(db->conn, "ROLLBACK");

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			db_classify(db, res);
		PQclear(res);
	}
	db->in_tx = false;
}

const char *db_last_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

const char *db_last_error(const struct db *db)
{
	return db->error;
}

int db_result_rows(const struct db_result *r)
{
	return r ? PQntuples(r->res) : 0;
}

const char *db_result_value(const struct db_result *r, int row, int col)
{
	if (r == NULL || row >= PQntuples(r->res) || col >= PQnfields(r->res) || PQgetisnull(r->res, row, col))
		return NULL;
	return PQgetvalue(r->res, row, col);
}

int64_t db_result_int(const struct db_result *r, int row, int col)
{
	const char *v = db_result_value(r, row, col);

	return v ? strtoll(v, NULL, 10) : 0;
}

void db_result_free(struct db_result **r)
{
	if (r == NULL || *r == NULL)
		return;
	PQclear((*r)->res);
	free(*r);
	*r = NULL;
}

int db_socket(const struct db *db)
{
	return db->conn ? PQsocket(db->conn) : -1;
}

char *db_bytea_hex(const unsigned char *bytes, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *s = xmalloc(2 * len + 3);

	s[0] = '\\';
	s[1] = 'x';
	for (size_t i = 0; i < len; i++) {
		s[2 + 2 * i] = hex[bytes[i] >> 4];
		s[3 + 2 * i] = hex[bytes[i] & 15];
	}
	s[2 + 2 * len] = '\0';
	return s;
}

char *db_text_array(const char *const *values, size_t n)
{
	size_t cap = 3;
	char *s, *p;

	for (size_t i = 0; i < n; i++)
		cap += values[i] ? 2 * strlen(values[i]) + 3 : 5;
	s = p = xmalloc(cap);
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		if (values[i] == NULL) {
			memcpy(p, "NULL", 4);
			p += 4;
			continue;
		}
		*p++ = '"';
		for (const char *v = values[i]; *v != '\0'; v++) {
			if (*v == '"' || *v == '\\')
				*p++ = '\\';
			*p++ = *v;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

void db_listen(struct db *db, const char *channel)
{
	if (db->n_listen == sizeof db->listen / sizeof db->listen[0])
		log_panic("database=listen channels=%zu error=\"too many channels\"", db->n_listen);
	db->listen[db->n_listen++] = channel;
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK && !db_listen_now(db, channel))
		db_drop(db);
}

int db_notifications(struct db *db)
{
	PGnotify *n;
	int count = 0;

	if (db->conn == NULL)
		return 0;
	if (PQconsumeInput(db->conn) != 1) {
		db_classify(db, NULL);
		return 0;
	}
	while ((n = PQnotifies(db->conn)) != NULL) {
		count++;
		PQfreemem(n);
	}
	return count;
}

unsigned db_generation(const struct db *db)
{
	return db->generation;
}
