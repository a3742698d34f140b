/*
 * oro stats: the coordinator's de-identified situation picture (lägesbild):
 * per group of the chosen keys, how many concerns were filed in a period,
 * how many deliveries they made, how soon these were acknowledged and how
 * many were overdue. Read directly from the database (`database`), like
 * the other strategy owner's commands.
 *
 * Invariants:
 * - The aggregation is done in SQL, in one read-only REPEATABLE READ
 *   transaction, so the rows, the total and "now" (for overdue) are one
 *   snapshot. The statements are assembled only from the fixed fragments of
 *   stats_keys[] chosen by name; user text reaches SQL only as the two date
 *   parameters.
 * - Small numbers are suppressed in SQL, before they leave the database:
 *   every count below STATS_MIN (0 included) comes back as the text "<3",
 *   and the median and p90 only when at least STATS_MIN acknowledged
 *   deliveries are behind them. This file never sees an exact small count.
 * - Nothing identifying is selected: no case number, reporter, subject or
 *   content, and no attribute beyond the chosen group keys.
 *
 * XXX Suppression is per cell only: a suppressed cell can sometimes be
 * worked out from the total and the other rows (a total of 6 beside rows
 * of 5 and "<3" gives the small one away as 1), or from two runs over
 * overlapping periods. Secondary suppression would close that; the issue
 * asks for the per-cell rule.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "client.h"
#include "db.h"

/* Counts below this are shown as "<3"; percentiles need this many acknowledgements. */
#define STATS_MIN      3
#define STATS_MIN_TEXT "<3"

/* The calendar the period and the week and month groups are counted in. */
#define STATS_TZ "'Europe/Stockholm'"

/* Days in the default period (ending today, inclusive), as SQL text. */
#define STATS_DEFAULT_DAYS "30"

/* The metrics of each row, in the order the statements return them after the keys. */
enum stats_metric { M_CASES, M_DELIVERIES, M_ACKNOWLEDGED, M_MEDIAN, M_P90, M_OVERDUE, M_COUNT };

static const struct {
	const char *json;  /* key in --json output */
	const char *title; /* column title in the table */
	bool duration;     /* seconds, or NULL when suppressed; else a count or "<3" */
} stats_metrics[M_COUNT] = {
        [M_CASES] = {"cases", "cases", false},
        [M_DELIVERIES] = {"deliveries", "deliveries", false},
        [M_ACKNOWLEDGED] = {"acknowledged", "acknowledged", false},
        [M_MEDIAN] = {"ack_median_s", "ack median", true},
        [M_P90] = {"ack_p90_s", "ack p90", true},
        [M_OVERDUE] = {"overdue", "overdue", false},
};

/*
 * The allowed group keys: the only SQL that a user's choice puts into a
 * statement. label is the group's value, over c (the case), d (its
 * delivery) and a (one of its action areas); order sorts the groups (NULL:
 * by label) and may be an aggregate.
 */
struct stats_key {
	const char *name;
	const char *label;
	const char *order;
};

static const struct stats_key stats_keys[] = {
        {"week", "to_char(c.filed_at AT TIME ZONE " STATS_TZ ", 'IYYY-\"W\"IW')", NULL},
        {"month", "to_char(c.filed_at AT TIME ZONE " STATS_TZ ", 'YYYY-MM')", NULL},
        {"department", "d.department", NULL},
        {"category", "c.category", NULL},
        {"district", "c.district", NULL},
        {"urgency", "c.urgency", "array_position(ARRAY['acute', 'urgent', 'concern'], c.urgency)"},
        {"age_band", "c.age_band", NULL},
        {"action_area", "a.name", "min(a.number)"},
};
#define STATS_NKEYS (sizeof stats_keys / sizeof stats_keys[0])

static const char stats_help[] = "usage: oro stats [--from DATE] [--to DATE] [--by KEY]... [--json]\n"
                                 "\n"
                                 "The coordinator's situation picture (lägesbild): de-identified counts of the\n"
                                 "concerns filed in a period and of their deliveries, read from the database\n"
                                 "(configuration key `database`).\n"
                                 "\n"
                                 "  --from DATE  first day of the period, YYYY-MM-DD (default: 29 days before --to)\n"
                                 "  --to DATE    last day of the period, inclusive (default: today)\n"
                                 "               Days are calendar days in Europe/Stockholm; a case belongs to the\n"
                                 "               day it was filed. Without either option: the last 30 days.\n"
                                 "  --by KEY     group by KEY; repeat it to group by several keys (one row per\n"
                                 "               combination that occurs, sorted by the keys in the order given).\n"
                                 "               Without --by: one total row. KEY is one of\n"
                                 "                 week         ISO week of filing, e.g. 2026-W48\n"
                                 "                 month        month of filing, e.g. 2026-11\n"
                                 "                 department   the department a delivery went to; its cases are\n"
                                 "                              the cases that department received\n"
                                 "                 category, district, urgency, age_band\n"
                                 "                              the case's routing attributes\n"
                                 "                 action_area  the action areas (åtgärdsområden) of the rules that\n"
                                 "                              matched the case under its ruleset version; a case\n"
                                 "                              counts once under each of its areas, and under\n"
                                 "                              \"(none)\" when no matched rule names one\n"
                                 "               Week and month groups at the ends of the period cover only the\n"
                                 "               days inside it.\n"
                                 "\n"
                                 "Per group:\n"
                                 "  cases         concerns filed in the period\n"
                                 "  deliveries    their deliveries to departments (re-routed copies included)\n"
                                 "  acknowledged  those deliveries that were acknowledged\n"
                                 "  ack median, ack p90\n"
                                 "                median and 90th percentile of the time from delivery to\n"
                                 "                acknowledgement, over the acknowledged deliveries\n"
                                 "  overdue       deliveries acknowledged after their deadline, or still open past\n"
                                 "                it now (a re-routed delivery is closed when it was sent on)\n"
                                 "A total line (the --json \"total\") counts every case of the period once.\n"
                                 "\n"
                                 "Small numbers: so that no person can be singled out, every count below 3, 0\n"
                                 "included, is shown as <3 (in JSON the string \"<3\", other counts are numbers),\n"
                                 "and the median and p90 only when at least 3 acknowledged deliveries are behind\n"
                                 "them (else - in the table, null in JSON). No case number, person or attribute\n"
                                 "beyond the chosen keys is shown.\n"
                                 "\n"
                                 "Output: a table with a header line, one line per group, the total and the\n"
                                 "period; times as \"3h 12m\". With --json:\n"
                                 "  {\"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\", \"by\": [KEY...],\n"
                                 "   \"rows\": [{KEY: VALUE..., \"cases\", \"deliveries\", \"acknowledged\",\n"
                                 "             \"ack_median_s\", \"ack_p90_s\", \"overdue\"}...],\n"
                                 "   \"total\": {the same metrics}}\n"
                                 "\n"
                                 "Exit codes: 0 done; 2 usage (a bad date, --from after --to, an unknown --by key\n"
                                 "or the same key twice); 3 the database cannot be reached.\n";

/* Append printf-formatted text to the growing string *s. */
static void sql_add(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql_add(char **s, const char *fmt, ...)
{
	size_t have = *s ? strlen(*s) : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	*s = xrealloc(*s, have + (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(*s + have, (size_t)n + 1, fmt, ap);
	va_end(ap);
}

/*
 * The statement for groups of keys[0..n) (n == 0: the one total row), with
 * parameters $1 and $2 the first and last day. Columns: the n group values,
 * then enum stats_metric, already suppressed. The caller frees.
 */
static char *stats_sql(const struct stats_key *const *keys, size_t n)
{
	bool by_department = false, by_area = false;
	char *s = NULL;

	for (size_t i = 0; i < n; i++) {
		by_department |= strcmp(keys[i]->name, "department") == 0;
		by_area |= strcmp(keys[i]->name, "action_area") == 0;
	}
	/* c: the cases of the period; d: their deliveries, each closed at its
	 * acknowledgement or its re-routing, whichever came first */
	sql_add(&s, "WITH c AS (SELECT r.id, r.filed_at, r.category, r.district, r.urgency, r.age_band"
	            " FROM report r WHERE r.filed_at >= $1::date::timestamp AT TIME ZONE " STATS_TZ
	            " AND r.filed_at < ($2::date + 1)::timestamp AT TIME ZONE " STATS_TZ "),"
	            " d AS (SELECT d.id, d.report_id, d.department,"
	            " extract(epoch FROM d.acknowledged_at - d.created_at)::float8 AS ack_s,"
	            " coalesce(least(d.acknowledged_at, d.rerouted_at), now()) > d.deadline AS overdue"
	            " FROM delivery d JOIN c ON c.id = d.report_id)");
	/* a: each case's action areas from the rules its decision matched, or
	 * one "(none)" row (no decision yet, no match, or no rule with an area) */
	if (by_area)
		sql_add(&s,
		        ", a AS (SELECT c.id AS report_id, coalesce(x.name, '(none)') AS name, x.number FROM c"
		        " LEFT JOIN decision dn ON dn.report_id = c.id"
		        " LEFT JOIN LATERAL (SELECT DISTINCT aa.number, aa.name FROM rule ru"
		        " JOIN action_area aa ON aa.ruleset_version = ru.ruleset_version AND aa.number = ru.action_area"
		        " WHERE ru.ruleset_version = dn.ruleset_version AND ru.position = ANY (dn.matched_rules)) x"
		        " ON true)");
	sql_add(&s, " SELECT");
	for (size_t i = 0; i < n; i++)
		sql_add(&s, " g.k%zu,", i);
	/* suppression happens here, so that no exact small number leaves the database */
	sql_add(&s,
	        " CASE WHEN g.cases < %d THEN '%s' ELSE g.cases::text END,"
	        " CASE WHEN g.deliveries < %d THEN '%s' ELSE g.deliveries::text END,"
	        " CASE WHEN g.acknowledged < %d THEN '%s' ELSE g.acknowledged::text END,"
	        " CASE WHEN g.acknowledged >= %d THEN round(g.median)::bigint END,"
	        " CASE WHEN g.acknowledged >= %d THEN round(g.p90)::bigint END,"
	        " CASE WHEN g.overdue < %d THEN '%s' ELSE g.overdue::text END"
	        " FROM (SELECT",
	        STATS_MIN, STATS_MIN_TEXT, STATS_MIN, STATS_MIN_TEXT, STATS_MIN, STATS_MIN_TEXT, STATS_MIN, STATS_MIN,
	        STATS_MIN, STATS_MIN_TEXT);
	for (size_t i = 0; i < n; i++)
		sql_add(&s, " %s AS k%zu, %s AS o%zu,", keys[i]->label, i,
		        keys[i]->order ? keys[i]->order : keys[i]->label, i);
	/* DISTINCT: with action areas a case and its deliveries appear once per area */
	sql_add(&s, " count(DISTINCT c.id) AS cases, count(DISTINCT d.id) AS deliveries,"
	            " count(DISTINCT d.id) FILTER (WHERE d.ack_s IS NOT NULL) AS acknowledged,"
	            " percentile_cont(0.5) WITHIN GROUP (ORDER BY d.ack_s) AS median,"
	            " percentile_cont(0.9) WITHIN GROUP (ORDER BY d.ack_s) AS p90,"
	            " count(DISTINCT d.id) FILTER (WHERE d.overdue) AS overdue"
	            " FROM c");
	if (by_area)
		sql_add(&s, " JOIN a ON a.report_id = c.id");
	/* by department, a case counts where it was delivered; else every case counts */
	sql_add(&s, " %s d ON d.report_id = c.id", by_department ? "JOIN" : "LEFT JOIN");
	for (size_t i = 0; i < n; i++)
		sql_add(&s, "%s k%zu", i == 0 ? " GROUP BY" : ",", i);
	sql_add(&s, ") g");
	for (size_t i = 0; i < n; i++)
		sql_add(&s, "%s g.o%zu NULLS LAST, g.k%zu", i == 0 ? " ORDER BY" : ",", i, i);
	return s;
}

/* True when s is a real calendar day written YYYY-MM-DD. */
static bool valid_date(const char *s)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

/* The allowed key named name, or NULL. */
static const struct stats_key *find_key(const char *name)
{
	for (size_t i = 0; i < STATS_NKEYS; i++)
		if (strcmp(stats_keys[i].name, name) == 0)
			return &stats_keys[i];
	return NULL;
}

/* Seconds as people read them: the two largest units ("3h 12m", "2d 4h", "45s"). */
static void format_duration(const char *secs, char *buf, size_t size)
{
	long long s = strtoll(secs, NULL, 10);

	if (s >= 86400)
		snprintf(buf, size, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, size, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, size, "%lldm %llds", s / 60, s % 60);
	else
		snprintf(buf, size, "%llds", s);
}

/* A metric value as JSON: "<3" stays a string, a count or seconds a number, NULL null. */
static json_t *metric_json(const char *v)
{
	if (v == NULL)
		return json_null();
	if (strcmp(v, STATS_MIN_TEXT) == 0)
		return json_string(v);
	return json_integer(strtoll(v, NULL, 10));
}

/* The metrics of row i of r (after n key columns) as a JSON object, added to into. */
static json_t *metrics_json(const struct db_result *r, int row, size_t n, json_t *into)
{
	for (int m = 0; m < M_COUNT; m++)
		json_object_set_new(into, stats_metrics[m].json, metric_json(db_result_value(r, row, (int)n + m)));
	return into;
}

/* Columns on screen of a UTF-8 string (one per code point: names like Råsunda). */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

/* Print s padded to width, left- or right-aligned, with sep before it. */
static void print_cell(const char *s, size_t width, bool right, const char *sep)
{
	size_t pad = width - text_width(s);

	fputs(sep, stdout);
	if (right)
		printf("%*s%s", (int)pad, "", s);
	else
		printf("%s%*s", s, (int)pad, "");
}

/*
 * Print the table: a header line, the groups of rows, the total line and
 * the period. cells holds (nrows + 2) lines of ncols strings: the header,
 * the rows and the total.
 */
static void print_table(char ***cells, size_t nlines, size_t ncols, size_t nkeys, const char *from, const char *to)
{
	size_t *width = xcalloc(ncols, sizeof *width);

	for (size_t l = 0; l < nlines; l++)
		for (size_t c = 0; c < ncols; c++)
			if (text_width(cells[l][c]) > width[c])
				width[c] = text_width(cells[l][c]);
	for (size_t l = 0; l < nlines; l++) {
		/* keys to the left, numbers (and their titles) to the right */
		for (size_t c = 0; c < ncols; c++)
			print_cell(cells[l][c], width[c], c >= nkeys, c ? "  " : "");
		putchar('\n');
	}
	printf("period %s to %s (Europe/Stockholm days, by filing date); counts below %d shown as %s\n", from, to,
	       STATS_MIN, STATS_MIN_TEXT);
	free(width);
}

/*
 * One table line of lead key columns and the metrics, for row of r, whose
 * first rkeys columns are group values: with label, the total line
 * (label, then blanks, under the key columns). The caller frees.
 */
static char **table_line(const struct db_result *r, int row, size_t rkeys, size_t lead, const char *label)
{
	char **line = xcalloc(lead + M_COUNT, sizeof *line);

	for (size_t c = 0; c < lead; c++) {
		const char *v = label ? (c == 0 ? label : "") : db_result_value(r, row, (int)c);

		line[c] = xstrdup(v ? v : "");
	}
	for (int m = 0; m < M_COUNT; m++) {
		const char *v = db_result_value(r, row, (int)rkeys + m);
		char buf[64];

		if (v != NULL && stats_metrics[m].duration) {
			format_duration(v, buf, sizeof buf);
			v = buf;
		}
		line[lead + (size_t)m] = xstrdup(v ? v : "-");
	}
	return line;
}

/* Print rows and total as the table or as JSON. */
static void print_stats(const struct db_result *rows, const struct db_result *total,
                        const struct stats_key *const *keys, size_t nkeys, const char *from, const char *to)
{
	if (json_output) {
		json_t *by = json_array(), *list = json_array();

		for (size_t k = 0; k < nkeys; k++)
			json_array_append_new(by, json_string(keys[k]->name));
		for (int i = 0; i < db_result_rows(rows); i++) {
			json_t *row = json_object();

			for (size_t k = 0; k < nkeys; k++) {
				const char *v = db_result_value(rows, i, (int)k);

				json_object_set_new(row, keys[k]->name, v ? json_string(v) : json_null());
			}
			json_array_append_new(list, metrics_json(rows, i, nkeys, row));
		}
		print_json(json_pack("{s:s, s:s, s:o, s:o, s:o}", "from", from, "to", to, "by", by, "rows", list,
		                     "total", metrics_json(total, 0, 0, json_object())));
		return;
	}
	size_t lead = nkeys ? nkeys : 1, ncols = lead + M_COUNT;
	/* without keys the total is the only row */
	size_t nrows = nkeys ? (size_t)db_result_rows(rows) : 0, nlines = nrows + 2;
	char ***cells = xcalloc(nlines, sizeof *cells);

	cells[0] = xcalloc(ncols, sizeof **cells);
	for (size_t c = 0; c < lead; c++)
		cells[0][c] = xstrdup(nkeys ? keys[c]->name : "");
	for (int m = 0; m < M_COUNT; m++)
		cells[0][lead + (size_t)m] = xstrdup(stats_metrics[m].title);
	for (size_t i = 0; i < nrows; i++)
		cells[1 + i] = table_line(rows, (int)i, nkeys, lead, NULL);
	cells[nlines - 1] = table_line(total, 0, 0, lead, "total");
	print_table(cells, nlines, ncols, lead, from, to);
	for (size_t l = 0; l < nlines; l++) {
		for (size_t c = 0; c < ncols; c++)
			free(cells[l][c]);
		free(cells[l]);
	}
	free(cells);
}

/*
 * Take the --by options out of argv (parse_opts keeps one value per
 * option): their keys go to keys (checked: known, not repeated), the other
 * arguments to the returned argv copy, of *argc entries. The caller frees it.
 */
static char **take_by(int *argc, char **argv, const struct stats_key **keys, size_t *nkeys)
{
	char **rest = xcalloc((size_t)*argc + 1, sizeof *rest);
	int n = 0;

	*nkeys = 0;
	for (int i = 0; i < *argc; i++) {
		const struct stats_key *k;

		/* a --from or --to value is never taken for --by */
		if (i >= 2 && (strcmp(argv[i], "--from") == 0 || strcmp(argv[i], "--to") == 0) && i + 1 < *argc) {
			rest[n++] = argv[i++];
			rest[n++] = argv[i];
			continue;
		}
		if (i < 2 || strcmp(argv[i], "--by") != 0) {
			rest[n++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc)
			usage_error("--by needs a KEY (week, month, department, category, district, urgency, age_band, "
			            "action_area)");
		k = find_key(argv[++i]);
		if (k == NULL)
			usage_error("unknown --by key \"%s\" (week, month, department, category, district, urgency, "
			            "age_band, action_area)",
			            argv[i]);
		for (size_t j = 0; j < *nkeys; j++)
			if (keys[j] == k)
				usage_error("--by %s given twice", k->name);
		keys[(*nkeys)++] = k;
	}
	*argc = n;
	return rest;
}

/* Run the statements in one read-only snapshot; DB_OK with *rows and *total set. */
static int stats_query(struct db *db, const char *const *period, struct db_result **rows, struct db_result **total)
{
	int rc = db_begin(db);

	if (rc == DB_OK)
		rc = db_command(db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	if (rc == DB_OK)
		rc = db_exec(db, "stats_rows", 2, period, rows);
	if (rc == DB_OK)
		rc = db_exec(db, "stats_total", 2, period, total);
	if (rc == DB_OK)
		rc = db_commit(db);
	if (rc != DB_OK) {
		db_rollback(db);
		db_result_free(rows);
		db_result_free(total);
	}
	return rc;
}

/* oro stats */
int cmd_stats(int argc, char **argv)
{
	/* resolves the defaults against today's date in Stockholm, as the database's clock has it */
	static const char period_sql[] =
	        "SELECT to_char(f, 'YYYY-MM-DD'), to_char(t, 'YYYY-MM-DD'), f <= t FROM"
	        " (SELECT coalesce($1::date, t - (" STATS_DEFAULT_DAYS " - 1)) AS f, t FROM"
	        " (SELECT coalesce($2::date, (now() AT TIME ZONE " STATS_TZ ")::date) AS t) x) y";
	const char *from = NULL, *to = NULL;
	struct opt opts[] = {{"from", true, &from, NULL}, {"to", true, &to, NULL}, {NULL, false, NULL, NULL}};
	const struct stats_key *keys[STATS_NKEYS];
	size_t nkeys;
	int rest_argc = argc;
	char **rest = take_by(&rest_argc, argv, keys, &nkeys);
	struct db_statement stmts[3];
	struct db_result *period = NULL, *rows = NULL, *total = NULL;
	char *rows_sql, *total_sql;
	char first[11], last[11];
	struct db *db;
	int rc;

	parse_opts(rest_argc, rest, 2, opts, NULL, 0, stats_help);
	free(rest);
	if (from != NULL && !valid_date(from))
		usage_error("--from \"%s\" is not a date (YYYY-MM-DD)", from);
	if (to != NULL && !valid_date(to))
		usage_error("--to \"%s\" is not a date (YYYY-MM-DD)", to);
	if (from != NULL && to != NULL && strcmp(from, to) > 0)
		usage_error("--from %s is after --to %s", from, to);

	rows_sql = stats_sql(keys, nkeys);
	total_sql = stats_sql(keys, 0);
	stmts[0] = (struct db_statement){"stats_period", period_sql};
	stmts[1] = (struct db_statement){"stats_rows", rows_sql};
	stmts[2] = (struct db_statement){"stats_total", total_sql};
	db = admin_db(stmts, 3);

	{
		const char *p[2] = {from, to};

		rc = db_exec(db, "stats_period", 2, p, &period);
	}
	if (rc == DB_OK) {
		snprintf(first, sizeof first, "%s", db_result_value(period, 0, 0));
		snprintf(last, sizeof last, "%s", db_result_value(period, 0, 1));
		if (strcmp(db_result_value(period, 0, 2), "t") != 0) {
			db_result_free(&period);
			db_destroy(&db);
			usage_error("--from %s is after --to %s%s", first, last, to ? "" : " (today)");
		}
		const char *p[2] = {first, last};

		rc = stats_query(db, p, &rows, &total);
	}
	if (rc != DB_OK) {
		fprintf(stderr, "oro: stats failed: %s\n", db_last_error(db));
		rc = rc == DB_ERR_CONNECTION ? EXIT_UNAVAILABLE : EXIT_REFUSED;
	} else {
		print_stats(rows, total, keys, nkeys, first, last);
		rc = EXIT_DONE;
	}
	db_result_free(&period);
	db_result_free(&rows);
	db_result_free(&total);
	db_destroy(&db);
	free(rows_sql);
	free(total_sql);
	return rc;
}
