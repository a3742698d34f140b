/*
 * audit: the append-only, HMAC-chained audit trail (see audit.h). The
 * writers of a chain serialise on its advisory lock, read its last entry
 * after taking it (a new statement, so a fresh snapshot in READ COMMITTED),
 * and number their entries after it: a chain never forks.
 */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "alloc.h"

/* The chain of the entries written while the trail had one chain (sql/010_audit_chains.sql). */
#define AUDIT_CHAIN_BEFORE_010 "all"

/*
 * The bytes a MAC covers: every column, each as "length:value;", after
 * "oro-audit-2;" and the chain's name, or for the entries written before
 * there were chains, "oro-audit-1;" and no name. The caller frees.
 */
static char *audit_canonical(const char *chain, int64_t id, int64_t prev, const char *at, const char *actor,
                             const char *action, const char *report, const char *delivery, const char *detail,
                             size_t *len)
{
	const char *v[] = {at, actor, action, report ? report : "", delivery ? delivery : "", detail};
	size_t cap = 64 + strlen(chain);
	char *s, *p;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		cap += strlen(v[i]) + 24;
	s = p = xmalloc(cap);
	if (strcmp(chain, AUDIT_CHAIN_BEFORE_010) == 0)
		p += sprintf(p, "oro-audit-1;%lld;%lld;", (long long)id, (long long)prev);
	else
		p += sprintf(p, "oro-audit-2;%zu:%s;%lld;%lld;", strlen(chain), chain, (long long)id, (long long)prev);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		p += sprintf(p, "%zu:%s;", strlen(v[i]), v[i]);
	*len = (size_t)(p - s);
	return s;
}

/* Decode 64 hex digits (optionally after "\\x") into out; false when malformed. */
static bool audit_unhex(const char *hex, unsigned char out[CRYPTO_SHA256_LEN])
{
	if (hex == NULL)
		return false;
	if (hex[0] == '\\' && hex[1] == 'x')
		hex += 2;
	if (strlen(hex) != 2 * CRYPTO_SHA256_LEN)
		return false;
	for (int i = 0; i < CRYPTO_SHA256_LEN; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (unsigned char)v;
	}
	return true;
}

/* The columns of an entry but its chain, which is one parameter of "audit_insert" for all. */
#define AUDIT_COLUMNS 9

/* The parameters of "audit_insert" for e[0..n), chained after head (the result of AUDIT_HEAD). */
struct audit_rows {
	char *arrays[AUDIT_COLUMNS];
	const char *params[1 + AUDIT_COLUMNS];
};

static void audit_rows_build(struct audit_rows *rows, const struct db_result *head, const struct keyring *kr,
                             const char *chain, const struct audit_entry *e, size_t n)
{
	unsigned char prev_mac[CRYPTO_SHA256_LEN] = {0};
	int64_t prev = 0;
	char at[40];
	struct timeval tv;
	struct tm tm;

	if (db_result_rows(head) == 1) {
		prev = db_result_int(head, 0, 0);
		audit_unhex(db_result_value(head, 0, 1), prev_mac);
	}
	/* microseconds, as the database keeps them, so that verify sees the same text */
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(at + strlen(at), sizeof at - strlen(at), ".%06ldZ", (long)tv.tv_usec);

	const char **ids = xcalloc(n, sizeof *ids), **prevs = xcalloc(n, sizeof *prevs),
	           **ats = xcalloc(n, sizeof *ats);
	const char **actors = xcalloc(n, sizeof *actors), **actions = xcalloc(n, sizeof *actions);
	const char **reports = xcalloc(n, sizeof *reports), **deliveries = xcalloc(n, sizeof *deliveries);
	const char **details = xcalloc(n, sizeof *details), **macs = xcalloc(n, sizeof *macs);
	char **owned = xcalloc(5 * n, sizeof *owned);

	for (size_t i = 0; i < n; i++) {
		unsigned char mac[CRYPTO_SHA256_LEN];
		int64_t id = prev + 1;
		size_t len;
		char *canon;

		owned[5 * i] = xasprintf("%lld", (long long)id);
		owned[5 * i + 1] = xasprintf("%lld", (long long)prev);
		owned[5 * i + 2] = e[i].report_id > 0 ? xasprintf("%lld", (long long)e[i].report_id) : NULL;
		owned[5 * i + 3] = e[i].delivery_id > 0 ? xasprintf("%lld", (long long)e[i].delivery_id) : NULL;
		details[i] = e[i].detail ? e[i].detail : "{}";
		canon = audit_canonical(chain, id, prev, at, e[i].actor, e[i].action, owned[5 * i + 2],
		                        owned[5 * i + 3], details[i], &len);
		crypto_audit_mac(kr, prev_mac, canon, len, mac);
		free(canon);
		owned[5 * i + 4] = db_bytea_hex(mac, sizeof mac);
		memcpy(prev_mac, mac, sizeof mac);
		prev = id;
		ids[i] = owned[5 * i];
		prevs[i] = owned[5 * i + 1];
		ats[i] = at;
		actors[i] = e[i].actor;
		actions[i] = e[i].action;
		reports[i] = owned[5 * i + 2];
		deliveries[i] = owned[5 * i + 3];
		macs[i] = owned[5 * i + 4];
	}

	const char *const *cols[AUDIT_COLUMNS] = {ids, prevs, ats, actors, actions, reports, deliveries, details, macs};

	rows->params[0] = chain;
	for (int c = 0; c < AUDIT_COLUMNS; c++)
		rows->params[1 + c] = rows->arrays[c] = db_text_array(cols[c], n);
	for (size_t i = 0; i < 5 * n; i++)
		free(owned[i]);
	free(owned);
	free(ids);
	free(prevs);
	free(ats);
	free(actors);
	free(actions);
	free(reports);
	free(deliveries);
	free(details);
	free(macs);
}

static void audit_rows_free(struct audit_rows *rows)
{
	for (int c = 0; c < AUDIT_COLUMNS; c++)
		free(rows->arrays[c]);
}

int audit_append_commit(struct db *db, const struct db_result *head, const struct keyring *kr, const char *chain,
                        const struct audit_entry *e, size_t n)
{
	struct audit_rows rows;
	int rc;

	if (n == 0)
		return db_commit(db);
	audit_rows_build(&rows, head, kr, chain, e, n);
	struct db_step steps[] = {{.name = "audit_insert", .nparams = 1 + AUDIT_COLUMNS, .params = rows.params},
	                          {.sql = "COMMIT"}};

	rc = db_exec_steps(db, steps, sizeof steps / sizeof steps[0]);
	audit_rows_free(&rows);
	return rc;
}

int audit_append(struct db *db, const struct keyring *kr, const char *chain, const struct audit_entry *e, size_t n)
{
	struct db_result *head = NULL;
	struct audit_rows rows;
	int rc;

	if (n == 0)
		return DB_OK;
	rc = db_exec(db, AUDIT_HEAD, 1, &chain, &head);
	if (rc != DB_OK)
		return rc;
	audit_rows_build(&rows, head, kr, chain, e, n);
	db_result_free(&head);
	rc = db_exec(db, "audit_insert", 1 + AUDIT_COLUMNS, rows.params, NULL);
	audit_rows_free(&rows);
	return rc;
}

int audit_record(struct db *db, const struct keyring *kr, const char *chain, const struct audit_entry *e)
{
	int rc = db_begin(db);

	if (rc == DB_OK)
		rc = audit_append(db, kr, chain, e, 1);
	if (rc == DB_OK)
		rc = db_commit(db);
	if (rc != DB_OK)
		db_rollback(db);
	return rc;
}

/* The verdict on the entry id of chain when it is not intact, with the counts so far. */
static json_t *audit_broken(json_t *chains, int64_t count, const char *chain, int64_t id, const char *problem,
                            const char *message)
{
	return json_pack("{s:b, s:I, s:o, s:s, s:I, s:s, s:s}", "ok", 0, "entries", (json_int_t)count, "chains",
	                 chains, "chain", chain, "entry", (json_int_t)id, "problem", problem, "message", message);
}

json_t *audit_verify(struct db *db, const struct keyring *kr)
{
	unsigned char prev_mac[CRYPTO_SHA256_LEN] = {0};
	int64_t prev = 0, count = 0, in_chain = 0;
	char chain[64] = "", after[24] = "0";
	json_t *chains = json_object();

	for (;;) {
		const char *params[2] = {chain, after};
		struct db_result *res;
		int rows;

		if (db_exec(db, "audit_page", 2, params, &res) != DB_OK) {
			json_decref(chains);
			return NULL;
		}
		rows = db_result_rows(res);
		for (int i = 0; i < rows; i++) {
			const char *name = db_result_value(res, i, 0);
			int64_t id = db_result_int(res, i, 1), claimed = db_result_int(res, i, 2);
			unsigned char mac[CRYPTO_SHA256_LEN], stored[CRYPTO_SHA256_LEN];
			size_t len;
			char *canon;
			json_t *bad = NULL;

			if (strcmp(name, chain) != 0) { /* the first entry of the next chain */
				snprintf(chain, sizeof chain, "%s", name);
				memset(prev_mac, 0, sizeof prev_mac);
				prev = in_chain = 0;
			}
			if (claimed != prev) {
				bad = claimed > prev
				              ? audit_broken(chains, count, chain, claimed, "deleted",
				                             "an entry is missing: the next one names it as its predecessor")
				              : audit_broken(chains, count, chain, id, "inserted",
				                             "this entry does not follow the one before it");
			} else {
				canon = audit_canonical(chain, id, claimed, db_result_value(res, i, 3),
				                        db_result_value(res, i, 4), db_result_value(res, i, 5),
				                        db_result_value(res, i, 6), db_result_value(res, i, 7),
				                        db_result_value(res, i, 8), &len);
				crypto_audit_mac(kr, prev_mac, canon, len, mac);
				free(canon);
				if (!audit_unhex(db_result_value(res, i, 9), stored) ||
				    memcmp(mac, stored, sizeof mac) != 0)
					bad = audit_broken(
					        chains, count, chain, id, "modified",
					        "its content or MAC is not what was written (modified, or forged)");
			}
			if (bad != NULL) {
				db_result_free(&res);
				return bad;
			}
			memcpy(prev_mac, mac, sizeof mac);
			prev = id;
			count++;
			json_object_set_new(chains, chain, json_integer(++in_chain));
		}
		db_result_free(&res);
		if (rows == 0)
			break;
		snprintf(after, sizeof after, "%lld", (long long)prev);
	}
	return json_pack("{s:b, s:I, s:o}", "ok", 1, "entries", (json_int_t)count, "chains", chains);
}
