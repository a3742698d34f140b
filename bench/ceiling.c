/*
 * oro-bench-ceiling: PostgreSQL's own ceiling for Oro's filing, one row per
 * commit (issue 6, point 1).
 *
 *   oro-bench-ceiling --db CONNINFO [--concurrency N] [--seconds T]
 *                     [--desc-bytes D] [--receipt-bytes R] [--schema S]
 *
 *   --db CONNINFO       libpq connection string (the same cluster as Oro)
 *   --concurrency N     connections, one thread each (default 1)
 *   --seconds T         timed seconds (default 5)
 *   --desc-bytes D      size of report_content.description (default 200;
 *                       give the mean octet_length of Oro's sealed column)
 *   --receipt-bytes R   size of report_content.receipt (default 40)
 *   --schema S          the scratch schema (default bench_ceiling)
 *
 * It creates schema S with copies of public.report and
 * public.report_content (CREATE TABLE ... (LIKE public.x INCLUDING ALL):
 * same columns, defaults, checks and indexes: the primary keys, the
 * UNIQUE case_number, receipt_hash and (reporter, client_key), the partial
 * index report_unrouted; plus the foreign key of report_content), empties
 * them, and then each thread inserts, until the time is up, one report row
 * and its report_content row per transaction (BEGIN, two INSERTs, COMMIT)
 * with synchronous_commit = on. So every commit waits for its WAL flush,
 * as Oro's intake does today, without Oro's audit, timeline and sealing.
 * The schema is dropped at the end.
 *
 * Prints one line: concurrency, seconds, rows committed, rows/s (a row is
 * one report with its content), and the commit latency p50/p99 in ms.
 * Exit status 0 when it ran, 2 on a usage error, 1 on a database error.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "toolopt.h"

#define MAX_THREADS 256

static const char usage_text[] = "usage: oro-bench-ceiling --db CONNINFO [--concurrency N] [--seconds T]\n"
                                 "                         [--desc-bytes D] [--receipt-bytes R] [--schema S]\n";

/* One inserting thread. */
struct worker {
	pthread_t thread;
	int index;
	PGconn *conn;
	long rows;   /* committed */
	double *lat; /* commit latencies in ms, one per row (capacity cap) */
	size_t n_lat, cap;
	bool failed;
};

static const char *conninfo, *schema = "bench_ceiling";
static long concurrency = 1, seconds = 5, desc_bytes = 200, receipt_bytes = 40;
static atomic_bool stop_now;
static char *description, *receipt;

/* Monotonic clock in seconds. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run sql on c; on failure print it with the server's message and return false. */
static bool exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "oro-bench-ceiling: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* Connect with synchronous_commit = on, or exit 1. */
static PGconn *connect_db(void)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "oro-bench-ceiling: cannot connect: %s", PQerrorMessage(c));
		exit(1);
	}
	if (!exec_ok(c, "SET synchronous_commit = on; SET client_min_messages = warning"))
		exit(1);
	return c;
}

/* Create (again) the scratch schema with copies of report and report_content. */
static void make_schema(PGconn *c)
{
	char sql[2048];

	snprintf(sql, sizeof sql,
	         "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s;"
	         "CREATE SEQUENCE %s.report_id_seq;"
	         "CREATE TABLE %s.report (LIKE public.report INCLUDING ALL);"
	         "ALTER TABLE %s.report ALTER COLUMN id SET DEFAULT nextval('%s.report_id_seq');"
	         "CREATE TABLE %s.report_content (LIKE public.report_content INCLUDING ALL,"
	         " FOREIGN KEY (report_id) REFERENCES %s.report (id));",
	         schema, schema, schema, schema, schema, schema, schema, schema);
	if (!exec_ok(c, sql))
		exit(1);
}

/* Insert one report and its content in one transaction; false on error. */
static bool insert_one(struct worker *w, long seq)
{
	char key[64], cnum[64], hash[80];
	const char *params[5];
	PGresult *r;
	char sql[1024];

	snprintf(key, sizeof key, "ceiling-%d-%ld", w->index, seq);
	snprintf(cnum, sizeof cnum, "CEIL-%03d-%09ld", w->index, seq);
	/* a 32-byte hash as bytea hex, distinct per row */
	snprintf(hash, sizeof hash, "\\x%016lx%016lx%032x", (unsigned long)w->index, (unsigned long)seq, 0u);
	params[0] = cnum;
	params[1] = key;
	params[2] = hash;
	params[3] = description;
	params[4] = receipt;
	snprintf(sql, sizeof sql,
	         "WITH r AS (INSERT INTO %s.report (case_number, reporter, client_key, receipt_hash, category,"
	         " urgency, subject_kind, age_band, setting, district, association_grant, relatives_informed,"
	         " reporter_unit, guidance) VALUES ($1, 'load', $2, $3::bytea, 'recruitment', 'concern', 'child',"
	         " '12-17', 'school', 'Hagalund', 'unknown', 'unknown', 'Hagalundskolan', '[]') RETURNING id)"
	         " INSERT INTO %s.report_content (report_id, description, subject_age, receipt)"
	         " SELECT id, $4, NULL, $5 FROM r",
	         schema, schema);
	if (!exec_ok(w->conn, "BEGIN"))
		return false;
	r = PQexecParams(w->conn, sql, 5, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "oro-bench-ceiling: insert: %s", PQerrorMessage(w->conn));
		PQclear(r);
		return false;
	}
	PQclear(r);
	return exec_ok(w->conn, "COMMIT");
}

/* A thread: insert until stop_now, recording each transaction's latency. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (long seq = 0; !atomic_load(&stop_now); seq++) {
		double t0 = now_s();

		if (!insert_one(w, seq)) {
			w->failed = true;
			break;
		}
		w->rows++;
		if (w->n_lat == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 4096;
			w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
			if (w->lat == NULL)
				abort();
		}
		w->lat[w->n_lat++] = (now_s() - t0) * 1000.0;
	}
	return NULL;
}

/* qsort order of doubles, ascending. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* A string of n printable bytes (base64-like, as sealed content is). */
static char *filler(long n)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *s = malloc((size_t)n + 1);

	if (s == NULL)
		abort();
	for (long i = 0; i < n; i++)
		s[i] = alphabet[(i * 7 + i / 64) % 64];
	s[n] = '\0';
	return s;
}

/* Parse the options, set up the schema, run the threads, print the result. */
int main(int argc, char **argv)
{
	struct worker *w;
	PGconn *admin;
	double t0, elapsed, *all;
	long rows = 0;
	size_t n_all = 0, k = 0;
	bool failed = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (v == NULL) {
			fprintf(stderr, "oro-bench-ceiling: %s needs a value\n%s", a, usage_text);
			return 2;
		}
		i++;
		if (strcmp(a, "--db") == 0)
			conninfo = v;
		else if (strcmp(a, "--schema") == 0)
			schema = v;
		else if (strcmp(a, "--concurrency") == 0)
			concurrency = tool_parse_long("oro-bench-ceiling", usage_text, a, v, 1, MAX_THREADS);
		else if (strcmp(a, "--seconds") == 0)
			seconds = tool_parse_long("oro-bench-ceiling", usage_text, a, v, 1, 3600);
		else if (strcmp(a, "--desc-bytes") == 0)
			desc_bytes = tool_parse_long("oro-bench-ceiling", usage_text, a, v, 1, 1000000);
		else if (strcmp(a, "--receipt-bytes") == 0)
			receipt_bytes = tool_parse_long("oro-bench-ceiling", usage_text, a, v, 1, 10000);
		else {
			fprintf(stderr, "oro-bench-ceiling: unknown option %s\n%s", a, usage_text);
			return 2;
		}
	}
	if (conninfo == NULL) {
		fprintf(stderr, "oro-bench-ceiling: --db is required\n%s", usage_text);
		return 2;
	}
	for (const char *p = schema; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '_')) {
			fprintf(stderr, "oro-bench-ceiling: --schema: a-z and _ only\n");
			return 2;
		}
	description = filler(desc_bytes);
	receipt = filler(receipt_bytes);
	admin = connect_db();
	make_schema(admin);
	w = calloc((size_t)concurrency, sizeof *w);
	for (long i = 0; i < concurrency; i++) {
		w[i].index = (int)i;
		w[i].conn = connect_db();
	}
	t0 = now_s();
	for (long i = 0; i < concurrency; i++)
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	while (now_s() - t0 < (double)seconds) {
		struct timespec ts = {0, 10000000};

		nanosleep(&ts, NULL);
	}
	atomic_store(&stop_now, true);
	for (long i = 0; i < concurrency; i++) {
		pthread_join(w[i].thread, NULL);
		rows += w[i].rows;
		n_all += w[i].n_lat;
		failed |= w[i].failed;
	}
	elapsed = now_s() - t0;
	all = malloc((n_all ? n_all : 1) * sizeof *all);
	for (long i = 0; i < concurrency; i++) {
		memcpy(all + k, w[i].lat, w[i].n_lat * sizeof *all);
		k += w[i].n_lat;
		free(w[i].lat);
		PQfinish(w[i].conn);
	}
	qsort(all, n_all, sizeof *all, cmp_double);
	printf("ceiling concurrency=%ld seconds=%.2f rows=%ld rows_per_s=%.1f commit_ms_p50=%.3f "
	       "commit_ms_p99=%.3f desc_bytes=%ld\n",
	       concurrency, elapsed, rows, (double)rows / elapsed, n_all ? all[n_all / 2] : 0.0,
	       n_all ? all[(size_t)((double)n_all * 0.99)] : 0.0, desc_bytes);
	{
		char sql[256];

		snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
		exec_ok(admin, sql);
	}
	PQfinish(admin);
	free(all);
	free(w);
	free(description);
	free(receipt);
	return failed ? 1 : 0;
}
