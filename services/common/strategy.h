/*
 * strategy: keeping a daemon's copy of the active ruleset current. The
 * ruleset lives in PostgreSQL (tables ruleset and ruleset_active); a daemon
 * calls strategy_refresh() at start, periodically and after reconnecting,
 * and routes each report under whatever version it holds at that moment.
 */
#ifndef ORO_STRATEGY_H
#define ORO_STRATEGY_H

#include "db.h"
#include "rules.h"

/* The channel on which PostgreSQL announces a new active version (sql/002). */
#define STRATEGY_CHANNEL "oro_ruleset"

/* Include in the daemon's statement table. */
#define STRATEGY_STATEMENTS                                                                           \
	{                                                                                             \
		"strategy_active", "SELECT r.version, CASE WHEN r.version <> $1 THEN r.document END " \
		                   "FROM ruleset_active a JOIN ruleset r USING (version)"             \
	}

/*
 * Make *rs the active ruleset: load and parse it when the active version
 * differs from (*rs)'s (or *rs is NULL), destroying the old one. Returns
 * DB_OK (also when there is no active ruleset yet: *rs stays as it was), a
 * negative db status, or DB_ERR_OTHER when the stored document does not
 * parse (logged; the old ruleset is kept).
 */
int strategy_refresh(struct db *db, struct ruleset **rs);

#endif
