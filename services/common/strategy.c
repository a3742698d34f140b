/* strategy: follow the active ruleset version in the database (see strategy.h). */
#include "strategy.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

int strategy_refresh(struct db *db, struct ruleset **rs)
{
	char have[16];
	const char *params[1] = {have};
	struct db_result *res;
	struct rules_diags diags = {0};
	struct ruleset *fresh;
	const char *doc;
	int version;
	int rc;

	snprintf(have, sizeof have, "%d", *rs ? ruleset_version(*rs) : 0);
	rc = db_exec(db, "strategy_active", 1, params, &res);
	if (rc != DB_OK)
		return rc;
	if (db_result_rows(res) == 0) {
		db_result_free(&res);
		return DB_OK;
	}
	version = (int)db_result_int(res, 0, 0);
	doc = db_result_value(res, 0, 1);
	if (doc == NULL) {
		db_result_free(&res);
		return DB_OK;
	}
	fresh = ruleset_parse(doc, strlen(doc), &diags);
	db_result_free(&res);
	if (fresh == NULL) {
		struct oro_error err = {0};

		rules_diags_first_error(&diags, &err);
		rules_diags_free(&diags);
		log_error("ruleset=%d event=invalid field=%s error=%s", version, log_quote(err.field),
		          log_quote(err.message));
		return DB_ERR_OTHER;
	}
	rules_diags_free(&diags);
	ruleset_set_version(fresh, version);
	log_info("ruleset=%d event=active rules=%zu", version, ruleset_rule_count(fresh));
	ruleset_destroy(rs);
	*rs = fresh;
	return DB_OK;
}
