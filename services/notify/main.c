/*
 * oro-notify: puts each delivery in front of its department until
 * acknowledged.
 *
 * One job: push every delivery to the connected clients of its department
 * as soon as it exists, push every unacknowledged delivery again (same
 * delivery id) to each client that subscribes later, and record
 * acknowledgements (time and principal) and the first sending in the case
 * timeline. It also answers a department's requests to list its inbox,
 * show one delivery and re-route a delivery to another department. The
 * sealed content is opened (with the keys of key_file) only to send a full
 * delivery to its own department's clients. A notice delivery never carries the description,
 * identities or contact details: the SQL joins the sealed content only for
 * view 'full', and the message builder copies it only for view 'full'.
 *
 * Prompts from oro-router only wake it early; it also sweeps at start and
 * every sweep_interval_ms, so a lost prompt delays but loses nothing. Each
 * sweep escalates deliveries past their deadline to the department's
 * escalation target (the top of the chain raises an operator alert),
 * pushes new deliveries, and sends reminders of unacknowledged ones with
 * backing-off intervals (reminder_initial_ms doubling up to
 * reminder_max_ms). New deliveries are read 500 at a time: a longer
 * backlog is pushed page after page, with the waiting requests answered in
 * between. Client subscriptions live in memory only: after a restart
 * clients re-subscribe (they do every heartbeat) and get their backlog
 * again.
 *
 * Group commit of acknowledgements: the Acknowledge requests that arrived
 * together (up to batch_max; with batch_wait_ms > 0, also those arriving
 * that long after the first) are recorded in one transaction by one
 * statement, with one audit append, so they share one WAL flush and one
 * hold of the audit chain's lock; the record of the sendings of the
 * deliveries pushed meanwhile joins that transaction and that append. A
 * second thread, the committer, runs these transactions (the turns) on its
 * own connection, one at a time: while it records one turn, the main
 * thread reads requests and pushes the deliveries routed meanwhile, whose
 * sendings and acknowledgements wait for the next turn (struct notify); a
 * delivery sent and acknowledged by then is written once. A turn waits
 * until the oldest sending or acknowledgement queued is record_wait_ms old,
 * and records the sendings pushed that long ago, so that the
 * acknowledgements of most deliveries join the record of their sending;
 * pushing does not wait for it. Each client's AckConfirmed goes out only
 * after the COMMIT that holds its acknowledgement. Two acknowledgements of
 * one delivery in a batch behave as if sent one after the other: the
 * first is recorded, the second confirmed as `already`. A connection's
 * replies keep the order of its requests: before a request is answered at
 * once (any other request, or a refused acknowledgement), the
 * acknowledgements queued or in flight are recorded and confirmed if one
 * of them came from the same connection. A turn that fails as a whole
 * (but not for a lost connection) is retried in parts: the sendings alone
 * and each acknowledgement in a transaction of its own, so one bad request
 * cannot hold up the others. The counters acknowledged and ack_commits
 * (oro health) show how many acknowledgements the commits held.
 *
 * Several instances may share the database: each pushes to its own
 * clients; escalations and reminders are claimed with SKIP LOCKED, so each
 * happens once; a delivery keeps its id whoever sends it. SIGUSR1 logs the
 * instance's status; it is also written to daemon_status every sweep.
 *
 * Endpoints:
 *   notify_endpoint         ROUTER, bound: department clients (DEALER)
 *   router_prompt_endpoint  SUB, connected: "deliveries_created" from oro-router
 *
 * Configuration (see --help): database, key_file, curve_key_file,
 * database_roles, notify_endpoint, router_prompt_endpoint,
 * sweep_interval_ms, heartbeat_ms (clients silent for three intervals are
 * forgotten), reminder_initial_ms, reminder_max_ms, batch_max (default 256
 * acknowledgements per transaction), batch_wait_ms (default 0: record at
 * once what has arrived), record_wait_ms (default 5), max_message_size,
 * db_retry_max_ms, log_level, instance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "alloc.h"
#include "concern.h"
#include "content.h"
#include "audit.h"
#include "counters.h"
#include "db.h"
#include "log.h"
#include "service.h"
#include "wire.h"

#define NOTIFY_MAX_CLIENTS 4096
#define NOTIFY_NAME_MAX    100
#define NOTIFY_PAGE        500    /* new deliveries read per query; a longer backlog takes several */
#define NOTIFY_TURN        256    /* requests read per turn of the loop (at least batch_max) */
#define NOTIFY_RETRY_MS    100    /* a client whose queue was full is tried again after this */
#define NOTIFY_COUNT_MAX   100000 /* Subscribed.pending counts up to this */
#define NOTIFY_STR_(x)     #x
#define NOTIFY_STR(x)      NOTIFY_STR_(x)
#define PAGE_LIMIT         " LIMIT " NOTIFY_STR(NOTIFY_PAGE)

/* The columns of a delivery as sent; the content columns are NULL unless view is full. */
/* It would split the strings between the DB_RFC3339() calls at every few characters. */
/* clang-format off */
#define DELIVERY_COLUMNS                                                                              \
	"d.id, r.case_number, d.department, d.view, d.priority, " DB_RFC3339("d.deadline") ","         \
	" d.disclosure_basis, d.state, r.category, r.urgency, r.subject_kind, r.age_band, r.setting,"  \
	" r.district, r.association_grant, r.relatives_informed, " DB_RFC3339("r.observed_at") ", "    \
	DB_RFC3339("r.filed_at") ", " DB_RFC3339("d.acknowledged_at") ", d.acknowledged_by,"           \
	" c.description, c.subject_age, c.subject_name, c.subject_personal_number, c.subject_unit,"    \
	" r.reporter_unit, c.reporter_phone, r.reporter, encode(r.receipt_hash, 'hex'), d.report_id"
/* clang-format on */
#define DELIVERY_JOINS                         \
	" JOIN report r ON r.id = d.report_id" \
	" LEFT JOIN report_content c ON c.report_id = r.id AND d.view = 'full'"
#define DELIVERY_FROM " FROM delivery d" DELIVERY_JOINS

enum {
	COL_ID,
	COL_CASE,
	COL_DEPT,
	COL_VIEW,
	COL_PRIO,
	COL_DEADLINE,
	COL_BASIS,
	COL_STATE,
	COL_CATEGORY,
	COL_URGENCY,
	COL_KIND,
	COL_BAND,
	COL_SETTING,
	COL_DISTRICT,
	COL_GRANT,
	COL_RELATIVES,
	COL_OBSERVED,
	COL_FILED,
	COL_ACKED_AT,
	COL_ACKED_BY,
	COL_DESCRIPTION,
	COL_AGE,
	COL_NAME,
	COL_PN,
	COL_UNIT,
	COL_REPORTER_UNIT,
	COL_PHONE,
	COL_REPORTER,
	COL_HASH,
	COL_REPORT
};

static const struct db_statement statements[] = {
        SERVICE_STATUS_STATEMENTS,
        AUDIT_STATEMENTS,
        AUTH_STATEMENTS,
        {"department_exists", "SELECT 1 FROM department WHERE code = $1"},
        {"max_delivery", "SELECT coalesce(max(id), 0) FROM delivery"},
        /*
         * New to this instance (open, above its high-water mark) or sent by
         * nobody yet (pending, at most the mark, and not among $3: those this
         * instance sent, whose sending the committer is recording): two index
         * ranges merged in id order, so that the cost is the page's, not that
         * of every open or every acknowledged delivery (as one OR condition
         * was).
         */
        {"new_deliveries",
         "SELECT " DELIVERY_COLUMNS " FROM ("
         "  (SELECT * FROM delivery WHERE id > $2 AND state IN ('pending', 'sent') AND department = ANY ($1::text[])"
         "   ORDER BY id" PAGE_LIMIT ")"
         "  UNION ALL"
         "  (SELECT * FROM delivery WHERE id <= $2 AND state = 'pending' AND department = ANY ($1::text[])"
         "   AND id <> ALL ($3::bigint[]) ORDER BY id" PAGE_LIMIT ")"
         "  ORDER BY id" PAGE_LIMIT ") d" DELIVERY_JOINS " ORDER BY d.id"},
        /* Open deliveries whose reminder is due, claimed so that one instance sends each. */
        {"reminders_due", "SELECT " DELIVERY_COLUMNS DELIVERY_FROM
                          " WHERE d.department = ANY ($1::text[]) AND d.state IN ('pending', 'sent')"
                          " AND d.next_reminder_at <= now() ORDER BY d.next_reminder_at LIMIT 200"
                          " FOR UPDATE OF d SKIP LOCKED"},
        /* The next reminder backs off: initial, 2 x initial, 4 x initial ..., at most max (seconds). */
        {"reminded",
         "UPDATE delivery SET reminder_count = reminder_count + 1, send_count = send_count + 1, last_sent_at = now(),"
         " next_reminder_at = now() + make_interval(secs => least($2::float8 * power(2, reminder_count + 1), "
         "$3::float8))"
         " WHERE id = ANY ($1::bigint[])"},
        /*
         * Escalate what is past its deadline, unacknowledged, and in a chain that
         * nobody has acknowledged: the target gets a delivery of the same view
         * (notice when it needs a disclosure basis the late one lacks) and the
         * same acknowledgement time; the top of the chain alerts the operator.
         * SKIP LOCKED: several instances never escalate one delivery twice.
         */
        {"escalate",
         "WITH due AS ("
         "  SELECT d.id, d.report_id, d.department, d.priority, d.ack_within, d.chain_id, dep.escalates_to,"
         "   CASE WHEN d.view = 'full' AND t.disclosure_basis_required AND d.disclosure_basis IS NULL"
         "    THEN 'notice' ELSE d.view END AS view,"
         "   CASE WHEN d.view = 'full' THEN d.disclosure_basis END AS basis"
         "  FROM delivery d JOIN department dep ON dep.code = d.department"
         "  LEFT JOIN department t ON t.code = dep.escalates_to"
         "  WHERE d.state IN ('pending', 'sent') AND d.escalated_at IS NULL AND d.deadline <= now()"
         "   AND NOT EXISTS (SELECT 1 FROM delivery x WHERE x.chain_id = d.chain_id AND x.state = 'acknowledged')"
         "  ORDER BY d.deadline LIMIT 100 FOR UPDATE OF d SKIP LOCKED),"
         " mark AS (UPDATE delivery SET escalated_at = now() FROM due WHERE delivery.id = due.id),"
         " ins AS ("
         "  INSERT INTO delivery (report_id, department, view, priority, ack_within, deadline, disclosure_basis,"
         "   origin, parent_id, chain_id)"
         "  SELECT report_id, escalates_to, view, priority, ack_within, now() + make_interval(secs => ack_within),"
         "   CASE WHEN view = 'full' THEN basis END, 'escalation', id, chain_id FROM due WHERE escalates_to IS NOT NULL"
         "  ON CONFLICT (report_id, department) WHERE state IN ('pending', 'sent') DO NOTHING"
         "  RETURNING id, parent_id),"
         " tl AS ("
         "  INSERT INTO timeline (report_id, event, delivery_id, department, actor, detail)"
         "  SELECT due.report_id, CASE WHEN due.escalates_to IS NULL THEN 'operator_alert' ELSE 'escalated' END,"
         "   due.id, due.department, $1, jsonb_build_object('to', due.escalates_to, 'new_delivery', ins.id,"
         "   'reason', 'not acknowledged by its deadline')"
         "  FROM due LEFT JOIN ins ON ins.parent_id = due.id)"
         " SELECT due.id, due.department, due.escalates_to, ins.id, r.case_number, due.report_id"
         " FROM due LEFT JOIN ins ON ins.parent_id = due.id JOIN report r ON r.id = due.report_id"},
        /* A page of a department's open deliveries, from an id on: a subscription backlog, a catch-up. */
        {"open_for_department", "SELECT " DELIVERY_COLUMNS DELIVERY_FROM
                                " WHERE d.department = $1 AND d.state IN ('pending', 'sent') AND d.id >= $2"
                                " ORDER BY d.id" PAGE_LIMIT},
        {"show", "SELECT " DELIVERY_COLUMNS DELIVERY_FROM " WHERE d.id = $1 AND d.department = $2"},
        {"inbox", "SELECT " DELIVERY_COLUMNS " FROM delivery d JOIN report r ON r.id = d.report_id"
                  " LEFT JOIN report_content c ON false"
                  " WHERE d.department = $1 AND ($2 OR d.state IN ('pending', 'sent')) ORDER BY d.id DESC LIMIT $3"},
        /*
         * Subscribed.pending, counted up to NOTIFY_COUNT_MAX, as counting a
         * backlog of millions took 0.5 s each time; kept a while (pending_of).
         */
        {"count_open", "SELECT count(*) FROM (SELECT 1 FROM delivery WHERE department = $1"
                       " AND state IN ('pending', 'sent') LIMIT " NOTIFY_STR(NOTIFY_COUNT_MAX) ") o"},
        /*
         * Record a sending; the first one goes into the case timeline. "First"
         * is read from the row the update locked, as it is after any concurrent
         * sending or acknowledgement: an open delivery has had no sending
         * recorded exactly when its send_count is 0 (a pending one: the table's
         * check ties pending to no first_sent_at; only recorded sendings and
         * reminders count). One tuple write per row, not a lock and then an
         * update; rows are locked in the order of $1, which is id order. A
         * join with the array, not id = ANY: the planner then looks each row
         * up by primary key, whatever its statistics of a young table say
         * (= ANY let it read all open deliveries through a partial index).
         */
        {"mark_sent",
         "WITH s AS ("
         "  UPDATE delivery d SET state = CASE WHEN d.state = 'pending' THEN 'sent' ELSE d.state END,"
         "   first_sent_at = coalesce(d.first_sent_at, now()), last_sent_at = now(), send_count = d.send_count + 1,"
         "   next_reminder_at = coalesce(d.next_reminder_at, now() + make_interval(secs => $3::float8))"
         "  FROM unnest($1::bigint[]) AS u(id) WHERE d.id = u.id AND d.state IN ('pending', 'sent')"
         "  RETURNING d.id, d.report_id, d.department, d.send_count = 1 AS first)"
         " INSERT INTO timeline (report_id, event, delivery_id, department, actor)"
         " SELECT report_id, 'delivered', id, department, $2 FROM s WHERE first ORDER BY id"},
        /*
         * Acknowledge a batch: element i of the arrays is the request numbered
         * i + 1 (ord). Of several requests for one delivery the first is
         * recorded; the later ones find it acknowledged (ack_state), as if each
         * had come in a transaction of its own. $4: the deliveries whose
         * sending the same transaction records (mark_sent, after this: it
         * leaves the ones acknowledged here alone), sent by $5.
         */
        {"acknowledge",
         "WITH q AS ("
         "  SELECT DISTINCT ON (id, department) id, department, principal, ord"
         "  FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS u(id, department, principal, ord)"
         "  ORDER BY id, department, ord),"
         /* whether a sending was recorded, read from the row the update locked (see mark_sent) */
         " a AS ("
         "  UPDATE delivery d SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = q.principal,"
         "   first_sent_at = coalesce(d.first_sent_at, now())"
         "  FROM q WHERE d.id = q.id AND d.department = q.department AND d.state IN ('pending', 'sent')"
         "  RETURNING q.ord, d.id, d.report_id, d.department, d.acknowledged_at, d.acknowledged_by,"
         "   d.send_count = 0 AS unrecorded),"
         /*
          * delivered (when no sending was recorded: one in $4, or by another
          * instance that has not recorded it yet), then acknowledged
          */
         " t AS (INSERT INTO timeline (report_id, event, delivery_id, department, actor)"
         "  SELECT report_id, e.event, id, department,"
         "   CASE WHEN e.event = 'delivered' AND id = ANY ($4::bigint[]) THEN $5 ELSE acknowledged_by END"
         "  FROM a, (VALUES (1, 'delivered'), (2, 'acknowledged')) AS e(k, event)"
         "  WHERE unrecorded OR e.event = 'acknowledged' ORDER BY ord, e.k)"
         " SELECT ord, " DB_RFC3339("acknowledged_at") ", acknowledged_by, report_id FROM a ORDER BY ord"},
        /* The state of each delivery named (element i of the arrays: row i), NULL for none. */
        {"ack_state",
         "WITH q AS (SELECT * FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS u(id, department, ord)),"
         " s AS (SELECT q.ord, d.state, d.acknowledged_at, d.acknowledged_by"
         "  FROM q LEFT JOIN delivery d ON d.id = q.id AND d.department = q.department)"
         " SELECT state, acknowledged_by, " DB_RFC3339("acknowledged_at") " FROM s ORDER BY ord"},
        /* Lock the delivery to re-route; who may: its department, or the active strategy's coordinator. */
        {"reroute_lock", "SELECT d.state, d.view, d.department,"
                         " d.department = $2 OR $2 = (SELECT (s.document::jsonb)->'fallback'->>'department'"
                         "  FROM ruleset_active a JOIN ruleset s USING (version)),"
                         " (SELECT disclosure_basis_required FROM department WHERE code = $3), r.case_number"
                         " FROM delivery d JOIN report r ON r.id = d.report_id WHERE d.id = $1 FOR UPDATE OF d"},
        /* Close the delivery, open its successor, record both in the timeline. */
        {"reroute",
         "WITH o AS ("
         "  UPDATE delivery SET state = 'rerouted', rerouted_at = now(), rerouted_by = $2, reroute_reason = $3"
         "  WHERE id = $1 RETURNING id, report_id, department, view, priority, ack_within),"
         " n AS ("
         "  INSERT INTO delivery (report_id, department, view, priority, ack_within, deadline, disclosure_basis,"
         "   origin, parent_id)"
         "  SELECT report_id, $4, view, priority, ack_within, now() + make_interval(secs => ack_within),"
         "   CASE WHEN view = 'full' THEN $5 END, 'reroute', id FROM o RETURNING id),"
         " t AS ("
         "  INSERT INTO timeline (report_id, event, delivery_id, department, actor, detail)"
         "  SELECT o.report_id, 'rerouted', o.id, o.department, $2,"
         "   jsonb_build_object('to', $4::text, 'new_delivery', n.id, 'reason', $3::text) FROM o, n)"
         " SELECT n.id, o.report_id FROM n, o"},
};

/* A subscribed department client connection. */
struct client {
	struct wire_peer peer;
	char department[NOTIFY_NAME_MAX + 1];
	char principal[NOTIFY_NAME_MAX + 1];
	int64_t last_seen;
	int64_t backlog_upto;  /* its backlog (catch_up) held the open deliveries up to this id */
	int64_t resume_from;   /* > 0: behind; its open deliveries from this id on are still to send */
	int64_t next_catch_up; /* behind: not before this time (ms) */
};

/* A department's Subscribed.pending as counted at some time, and until when it is answered. */
struct pending_count {
	char department[NOTIFY_NAME_MAX + 1];
	int64_t count;
	int64_t until; /* ms */
};

/* What became of an acknowledgement: set by the committer, answered by the main thread (acks_answer). */
enum ack_outcome {
	ACK_RECORDED, /* recorded by its turn, at `at` */
	ACK_UNCHANGED, /* not recorded by its turn: the delivery's state decides */
	ACK_FAILED,    /* not recorded: err */
};

/* An authorised Acknowledge waiting for the next turn (dispatch), then its outcome. */
struct ack {
	struct wire_peer peer;
	char request_id[64];
	int64_t delivery_id;
	char id[24]; /* delivery_id as text */
	char department[NOTIFY_NAME_MAX + 1];
	char principal[NOTIFY_NAME_MAX + 1];
	int64_t came; /* when it came (ms) */
	/* set by the committer */
	enum ack_outcome outcome;
	char at[48];          /* recorded: acknowledged_at (acknowledged_by is principal) */
	struct oro_error err; /* failed */
};

/* One sending to record: row `row` of res, delivery id. */
struct sent_row {
	const struct db_result *res;
	int row;
	int64_t id;
};

/*
 * The rows of page `pushed` that reached a client, rows[0..n_sent) in id
 * order, at time `at` (ms): their sending is to be recorded.
 */
struct sendings {
	struct db_result *pushed;
	struct sent_row *rows;
	size_t n_sent;
	int64_t at;
};

/*
 * A turn for the committer: the sendings of the pages in groups (its own
 * from turn_start on), sent[0..n_sent) their rows by id, and the
 * acknowledgements acks[0..n_acks); either may be empty.
 */
struct turn {
	struct sendings *groups;
	size_t n_groups;
	struct sent_row *sent;
	size_t n_sent;
	struct ack *acks; /* batch_max */
	size_t n_acks;
	/* set by the committer */
	bool sent_recorded;
	uint64_t ack_commits; /* commits that recorded acknowledgements */
};

/* A delivery's content, opened for sending; freed by opened_free(). */
struct opened {
	char *field[CONTENT_FIELDS];
};

/* One delivery row as a message, built once for all the clients it goes to; freed by outgoing_free(). */
struct outgoing {
	Oro__Envelope env;
	Oro__Delivery d;
	Oro__Subject s;
	Oro__Reporter rep;
	struct opened o;
	uint8_t *buf; /* env encoded */
	size_t len;
};

/*
 * Two threads. The main thread owns the sockets, the clients, the key
 * file and its connection (db): it reads requests, reads the deliveries to
 * push and pushes them, and answers each acknowledgement once the
 * committer has recorded it. What it pushes waits for a later turn
 * (queue; turn_due, pages_due), as the acknowledgements do; a delivery
 * acknowledged by then is written once, acknowledged, not sent and then
 * acknowledged. The committer thread only records turns, on
 * its own connection (commit_db), one at a time: the turn in flight
 * (flight) is the committer's from committer_hand until it is done.
 * Meanwhile the main thread reads only (new_deliveries skips the rows
 * whose sending is queued or in flight) and waits for the committer
 * (settle) before it writes anything, audits anything (the keyring's
 * audit MAC is the committer's), or replaces the keyring; so the two
 * connections never wait for each other's locks.
 */
struct notify {
	struct service svc;
	struct db *db;
	struct keyring *keys; /* opens the sealed content of full deliveries */
	void *clients_sock;
	void *prompts;
	struct client *clients;
	size_t n_clients;
	struct ack *acks; /* batch_max acknowledgements, queued for the next turn: group commit */
	size_t n_acks;
	struct sendings *queue; /* pushed while a turn was in flight: the next turn records them */
	size_t n_queue, queue_cap, queued_rows;
	struct turn flight; /* the turn the committer holds while busy */
	bool busy;
	struct db *commit_db; /* the committer's connection */
	struct committer committer;
	char actor[128]; /* what this daemon does by itself is done by "oro-notify/INSTANCE" */
	struct pending_count *counts; /* Subscribed.pending per department, kept a while (pending_of) */
	size_t n_counts;
	int64_t next_sweep;
	int64_t high_water; /* deliveries up to this id were pushed to the clients connected then */
	bool push_due;      /* new deliveries may be waiting: a prompt came, or the last page was full */
	bool ready;
};

/* Free what open_content() opened. */
static void opened_free(struct opened *o)
{
	for (int f = 0; f < CONTENT_FIELDS; f++) {
		if (o->field[f] != NULL)
			crypto_wipe(o->field[f], strlen(o->field[f]));
		free(o->field[f]);
		o->field[f] = NULL;
	}
}

/*
 * Open the sealed content of row (a full delivery) into o. A value that
 * does not open is replaced by a notice saying so, and logged: the
 * department still learns that the case exists and whom to ask.
 */
static void open_content(struct notify *n, const struct db_result *res, int row, struct opened *o)
{
	static const int cols[CONTENT_FIELDS] = {COL_DESCRIPTION, COL_AGE, COL_NAME, COL_PN, COL_UNIT, COL_PHONE, -1};
	const char *hash = db_result_value(res, row, COL_HASH);

	for (int f = 0; f < CONTENT_FIELDS; f++) {
		bool failed = false;

		if (cols[f] < 0)
			continue;
		o->field[f] =
		        content_open(n->keys, hash, (enum content_field)f, db_result_value(res, row, cols[f]), &failed);
		if (failed) {
			counter_add("unseal_failed", 1);
			log_error("case=%s delivery=%s event=unseal_failed field=%s",
			          db_result_value(res, row, COL_CASE), db_result_value(res, row, COL_ID),
			          content_columns[f]);
			o->field[f] =
			        xstrdup("(sealed: the key to open this is not available; the operator is alerted)");
		}
	}
}

/*
 * Fill d (and its sub-messages) from row of res; strings borrowed from res
 * and from o. With o NULL, or for a notice delivery, only the de-identified
 * fields are filled.
 */
static void delivery_from_row(const struct db_result *res, int row, const struct opened *o, Oro__Delivery *d,
                              Oro__Subject *s, Oro__Reporter *rep)
{
#define V(col) ((char *)db_result_value(res, row, (col)))
	oro__delivery__init(d);
	d->has_delivery_id = true;
	d->delivery_id = db_result_int(res, row, COL_ID);
	d->case_number = V(COL_CASE);
	d->department = V(COL_DEPT);
	d->view = V(COL_VIEW);
	d->priority = V(COL_PRIO);
	d->deadline = V(COL_DEADLINE);
	d->state = V(COL_STATE);
	d->category = V(COL_CATEGORY);
	d->urgency = V(COL_URGENCY);
	d->subject_kind = V(COL_KIND);
	d->age_band = V(COL_BAND);
	d->setting = V(COL_SETTING);
	d->district = V(COL_DISTRICT);
	d->filed_at = V(COL_FILED);
	d->acknowledged_at = V(COL_ACKED_AT);
	d->acknowledged_by = V(COL_ACKED_BY);
	/* The full view only: everything beyond the de-identified notice. */
	if (o == NULL || strcmp(d->view, "full") != 0)
		return;
	d->disclosure_basis = V(COL_BASIS);
	d->association_grant = V(COL_GRANT);
	d->relatives_informed = V(COL_RELATIVES);
	d->observed_at = V(COL_OBSERVED);
	d->description = o->field[CONTENT_DESCRIPTION];
	d->reporter_principal = V(COL_REPORTER);
	oro__subject__init(s);
	s->kind = V(COL_KIND);
	s->age_band = V(COL_BAND);
	s->has_age = o->field[CONTENT_AGE] != NULL;
	s->age = o->field[CONTENT_AGE] ? (uint32_t)atoi(o->field[CONTENT_AGE]) : 0;
	s->name = o->field[CONTENT_NAME];
	s->personal_number = o->field[CONTENT_PERSONAL_NUMBER];
	s->unit = o->field[CONTENT_UNIT];
	d->subject = s;
	oro__reporter__init(rep);
	rep->unit = V(COL_REPORTER_UNIT);
	rep->phone = o->field[CONTENT_PHONE];
	d->reporter = rep;
#undef V
}

/*
 * Build the message of row of res into out (strings borrowed from res); a
 * full delivery's content is opened, which only its own department's
 * clients may receive.
 */
static void outgoing_init(struct notify *n, const struct db_result *res, int row, const char *request_id,
                          struct outgoing *out)
{
	memset(&out->o, 0, sizeof out->o);
	if (strcmp(db_result_value(res, row, COL_VIEW), "full") == 0)
		open_content(n, res, row, &out->o);
	delivery_from_row(res, row, &out->o, &out->d, &out->s, &out->rep);
	wire_envelope_init(&out->env);
	out->env.request_id = (char *)request_id;
	out->env.body_case = ORO__ENVELOPE__BODY_DELIVERY;
	out->env.delivery = &out->d;
	out->buf = wire_encode(&out->env, &out->len);
}

/* Wipe and free the opened content of out and its encoding. */
static void outgoing_free(struct outgoing *out)
{
	opened_free(&out->o);
	crypto_wipe(out->buf, out->len);
	free(out->buf);
}

/* Send one delivery row to one client. */
static void send_delivery(struct notify *n, const struct wire_peer *peer, const struct db_result *res, int row,
                          const char *request_id)
{
	struct outgoing out;

	outgoing_init(n, res, row, request_id, &out);
	wire_send_encoded(n->clients_sock, peer, out.buf, out.len);
	outgoing_free(&out);
}

/* Index of the client with this peer identity, or -1. */
static int client_find(const struct notify *n, const struct wire_peer *peer)
{
	for (size_t i = 0; i < n->n_clients; i++)
		if (wire_peer_same(&n->clients[i].peer, peer))
			return (int)i;
	return -1;
}

/* Forget client i. */
static void client_remove(struct notify *n, size_t i, const char *why)
{
	log_info("department=%s principal=%s event=client_gone reason=%s", n->clients[i].department,
	         log_quote(n->clients[i].principal), why);
	n->clients[i] = n->clients[--n->n_clients];
}

/* The parameters of a sending's statement ("mark_sent" or "reminded"); sent_params fills them. */
struct sent_params {
	char *ids, first[32], max[32];
	const char *params[3];
};

/* Fill rows[0..count) with the rows sent[0..count) of res, in the same order. */
static void sent_rows(struct sent_row *rows, const struct db_result *res, const int *sent, size_t count)
{
	for (size_t i = 0; i < count; i++)
		rows[i] = (struct sent_row){res, sent[i], db_result_int(res, sent[i], COL_ID)};
}

/*
 * The statement that records that rows[0..count) (in id order) were
 * handed to at least one client: the sending (first, or a reminder that
 * backs off the next one); fills p and audit[0..count) with an entry per
 * delivery, which names the disclosure basis of a full delivery to the
 * police (details[i] its detail, which the caller frees, as p->ids).
 * Returns its name.
 */
static const char *sent_params(struct notify *n, const struct sent_row *rows, size_t count, bool reminder,
                               struct audit_entry *audit, char **details, struct sent_params *p)
{
	const char **ids = xcalloc(count + 1, sizeof *ids);

	for (size_t i = 0; i < count; i++) {
		const struct db_result *res = rows[i].res;
		int row = rows[i].row;
		json_t *d = json_pack("{s:s, s:s, s:b}", "department", db_result_value(res, row, COL_DEPT), "view",
		                      db_result_value(res, row, COL_VIEW), "reminder", reminder);

		if (db_result_value(res, row, COL_BASIS) != NULL)
			json_object_set_new(d, "disclosure_basis", json_string(db_result_value(res, row, COL_BASIS)));
		ids[i] = db_result_value(res, row, COL_ID);
		details[i] = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(d);
		audit[i] = (struct audit_entry){n->actor, "delivery_sent", db_result_int(res, row, COL_REPORT),
		                                rows[i].id, details[i]};
	}
	snprintf(p->first, sizeof p->first, "%.3f", n->svc.cfg.reminder_initial_ms / 1000.0);
	snprintf(p->max, sizeof p->max, "%.3f", n->svc.cfg.reminder_max_ms / 1000.0);
	p->params[0] = p->ids = db_text_array(ids, count);
	free(ids);
	if (reminder) {
		p->params[1] = p->first;
		p->params[2] = p->max;
		return "reminded";
	}
	p->params[1] = n->svc.cfg.instance;
	p->params[2] = p->first;
	return "mark_sent";
}

/* sent_params for the rows sent[0..count) of res, run inside the caller's transaction. Returns a db status. */
static int sent_statement(struct notify *n, const struct db_result *res, const int *sent, size_t count, bool reminder,
                          struct audit_entry *audit, char **details)
{
	struct sent_params p;
	struct sent_row *rows = xcalloc(count + 1, sizeof *rows);
	const char *name;
	int rc;

	sent_rows(rows, res, sent, count);
	name = sent_params(n, rows, count, reminder, audit, details, &p);
	rc = db_exec(n->db, name, 3, p.params, NULL);
	free(p.ids);
	free(rows);
	return rc;
}

/* Set err for a database failure on db. */
static void db_failure(struct db *db, const char *what, int rc, struct oro_error *err)
{
	if (rc == DB_ERR_CONNECTION) {
		oro_error_set(err, ORO_E_UNAVAILABLE, "", "the case store is temporarily unavailable: try again");
		return;
	}
	log_error("request=%s db=failed sqlstate=%s error=%s", what, db_last_sqlstate(db),
	          log_quote(db_last_error(db)));
	oro_error_set(err, ORO_E_INTERNAL, "", "the request failed on our side and was logged");
}

/*
 * The parameters of the statement "acknowledge" for acks[0..count): the
 * acknowledgements and their timeline entries; the caller frees arrays.
 */
static void acks_params(struct ack *acks, size_t count, char *arrays[3])
{
	const char **ids = xcalloc(count, sizeof *ids), **depts = xcalloc(count, sizeof *depts),
	           **principals = xcalloc(count, sizeof *principals);

	for (size_t i = 0; i < count; i++) {
		ids[i] = acks[i].id;
		depts[i] = acks[i].department;
		principals[i] = acks[i].principal;
	}
	arrays[0] = db_text_array(ids, count);
	arrays[1] = db_text_array(depts, count);
	arrays[2] = db_text_array(principals, count);
	free(principals);
	free(depts);
	free(ids);
}

/*
 * From res, the result of "acknowledge" (a row per delivery acknowledged
 * now), give each of acks[0..count) its outcome and fill
 * audit[0..*n_audit) with an entry per delivery acknowledged now.
 */
static void acks_audit(struct ack *acks, size_t count, const struct db_result *res, struct audit_entry *audit,
                       size_t *n_audit)
{
	*n_audit = 0;
	for (size_t i = 0; i < count; i++)
		acks[i].outcome = ACK_UNCHANGED;
	for (int r = 0; r < db_result_rows(res); r++) {
		int64_t ord = db_result_int(res, r, 0);
		struct ack *a;

		if (ord < 1 || ord > (int64_t)count)
			log_panic("acks=%zu ord=%lld event=acknowledge_bad_row", count, (long long)ord);
		a = &acks[ord - 1];
		a->outcome = ACK_RECORDED;
		snprintf(a->at, sizeof a->at, "%s", db_result_value(res, r, 1));
		audit[(*n_audit)++] = (struct audit_entry){a->principal, "acknowledged", db_result_int(res, r, 3),
		                                           a->delivery_id, NULL};
	}
}

/*
 * Committer: record, in one transaction with one audit append (one WAL
 * flush, one hold of the audit chain's lock), the sendings sent[0..n_sent)
 * (by id) and the acknowledgements acks[0..n_acks); either may be empty.
 * A delivery both sent and acknowledged is written once, by "acknowledge";
 * its audit entries say sent, then acknowledged. On DB_OK each
 * acknowledgement has its outcome. Returns a db status; on failure it has
 * rolled back.
 */
static int record_turn(struct notify *n, const struct sent_row *sent, size_t n_sent, struct ack *acks, size_t n_acks)
{
	struct audit_entry *audit = xcalloc(n_sent + n_acks + 1, sizeof *audit);
	char **details = xcalloc(n_sent + 1, sizeof *details);
	char *ack_arrays[3] = {NULL, NULL, NULL};
	const char *ack_params[5];
	struct sent_params sp = {0};
	struct db_result *head = NULL, *ack_res = NULL;
	struct db_step steps[4];
	const char *sent_name = n_sent > 0 ? sent_params(n, sent, n_sent, false, audit, details, &sp) : NULL;
	size_t n_steps = 0, n_audit = 0;
	int rc;

	/* one round trip for the statements and the audit chain's head, one for the audit entries and COMMIT */
	steps[n_steps++] = (struct db_step){.sql = "BEGIN"};
	if (n_acks > 0) {
		acks_params(acks, n_acks, ack_arrays);
		memcpy(ack_params, ack_arrays, sizeof ack_arrays);
		ack_params[3] = n_sent > 0 ? sp.ids : "{}";
		ack_params[4] = n->svc.cfg.instance;
		steps[n_steps++] =
		        (struct db_step){.name = "acknowledge", .nparams = 5, .params = ack_params, .out = &ack_res};
	}
	if (n_sent > 0)
		steps[n_steps++] = (struct db_step){.name = sent_name, .nparams = 3, .params = sp.params};
	steps[n_steps++] = AUDIT_HEAD_STEP(&n->svc.name, &head);
	rc = db_exec_steps(n->commit_db, steps, n_steps);
	if (rc == DB_OK) {
		if (n_acks > 0)
			acks_audit(acks, n_acks, ack_res, audit + n_sent, &n_audit);
		n_audit += n_sent;
		/* the acknowledgements are confirmed only after this COMMIT */
		rc = audit_append_commit(n->commit_db, head, n->keys, n->svc.name, audit, n_audit);
	}
	if (rc != DB_OK)
		db_rollback(n->commit_db);
	db_result_free(&ack_res);
	db_result_free(&head);
	for (int c = 0; c < 3; c++)
		free(ack_arrays[c]);
	free(sp.ids);
	for (size_t i = 0; i < n_sent; i++)
		free(details[i]);
	free(details);
	free(audit);
	return rc;
}

/*
 * Committer: record the turn in flight. When it fails as a whole for
 * anything but a lost connection, an acknowledgement that cannot be
 * recorded must not lose the record of the sendings, nor hold up the
 * other acknowledgements: the sendings are recorded alone and each
 * acknowledgement in a transaction of its own. An acknowledgement not
 * recorded gets ACK_FAILED and its error.
 */
static void commit_turn(void *arg)
{
	struct notify *n = arg;
	struct turn *t = &n->flight;
	int rc = db_ready(n->commit_db) ? record_turn(n, t->sent, t->n_sent, t->acks, t->n_acks)
	                                : DB_ERR_CONNECTION;
	bool parts = rc != DB_OK && rc != DB_ERR_CONNECTION && (t->n_acks > 1 || (t->n_acks > 0 && t->n_sent > 0));

	t->ack_commits = rc == DB_OK && t->n_acks > 0;
	t->sent_recorded = rc == DB_OK;
	if (parts && t->n_sent > 0)
		log_warn("deliveries=%zu acks=%zu event=turn_record_failed sqlstate=%s error=%s action=separately",
		         t->n_sent, t->n_acks, db_last_sqlstate(n->commit_db), log_quote(db_last_error(n->commit_db)));
	else if (parts)
		log_warn("acks=%zu event=ack_batch_failed sqlstate=%s error=%s action=one_by_one", t->n_acks,
		         db_last_sqlstate(n->commit_db), log_quote(db_last_error(n->commit_db)));
	if (parts && t->n_sent > 0)
		t->sent_recorded = record_turn(n, t->sent, t->n_sent, NULL, 0) == DB_OK;
	if (t->n_sent > 0 && !t->sent_recorded) /* the clients have it; the record follows at the next sending */
		log_warn("deliveries=%zu event=record_sent_failed sqlstate=%s error=%s", t->n_sent,
		         db_last_sqlstate(n->commit_db), log_quote(db_last_error(n->commit_db)));
	for (size_t i = 0; rc != DB_OK && i < t->n_acks; i++) {
		struct ack *a = &t->acks[i];
		int one = parts ? record_turn(n, NULL, 0, a, 1) : rc;

		t->ack_commits += one == DB_OK;
		if (one != DB_OK) {
			a->outcome = ACK_FAILED;
			db_failure(n->commit_db, "acknowledge", one, &a->err);
		}
	}
}

static void acks_answer(struct notify *n, const struct ack *acks, size_t count);
static void acks_heard(struct notify *n);

/* Main thread: the committer is done with the turn in flight: answer its acknowledgements. */
static void turn_done(struct notify *n)
{
	struct turn *t = &n->flight;
	uint64_t recorded = 0;

	committer_done(&n->committer);
	n->busy = false;
	/* the rows stay pending: not again page after page, but at the next sweep or prompt */
	if (t->n_sent > 0 && !t->sent_recorded)
		n->push_due = false;
	for (size_t i = 0; i < t->n_acks; i++)
		recorded += t->acks[i].outcome == ACK_RECORDED;
	if (t->ack_commits > 0) {
		counter_add("ack_commits", t->ack_commits);
		counter_add("acknowledged", recorded);
	}
	acks_answer(n, t->acks, t->n_acks);
	for (size_t g = 0; g < t->n_groups; g++) {
		db_result_free(&t->groups[g].pushed);
		free(t->groups[g].rows);
	}
	free(t->groups);
	free(t->sent);
	t->groups = NULL;
	t->sent = NULL;
	t->n_groups = t->n_sent = t->n_acks = 0;
}

/* Main thread: wait until the committer is idle (answering the turn it held). */
static void settle(struct notify *n)
{
	if (n->busy)
		turn_done(n);
}

static int sent_row_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct sent_row *)a)->id, y = ((const struct sent_row *)b)->id;

	return (x > y) - (x < y);
}

/* Is delivery id among rows[0..count), which are in id order? */
static bool rows_have(const struct sent_row *rows, size_t count, int64_t id)
{
	struct sent_row key = {.id = id};

	return bsearch(&key, rows, count, sizeof *rows, sent_row_cmp) != NULL;
}

/*
 * How many of the queued pages the next turn takes (a turn keeps the
 * order of the pushes): all of them when `all`; else those pushed
 * record_wait_ms ago, whose acknowledgements had that long to come, and
 * those before a page that holds a delivery acknowledged in this turn.
 */
static size_t pages_due(const struct notify *n, bool all)
{
	int64_t old = service_now_ms() - n->svc.cfg.record_wait_ms;
	size_t take = 0;

	if (all)
		return n->n_queue;
	for (size_t g = 0; g < n->n_queue; g++) {
		bool due = n->queue[g].at <= old;

		for (size_t i = 0; i < n->n_acks && !due; i++)
			due = rows_have(n->queue[g].rows, n->queue[g].n_sent, n->acks[i].delivery_id);
		if (due)
			take = g + 1;
	}
	return take;
}

/*
 * Main thread, the committer idle: hand it a turn: the sendings of the
 * pages due (pages_due; the turn's from now on) and the acknowledgements
 * queued.
 */
static void turn_start(struct notify *n, bool all)
{
	struct turn *t = &n->flight;
	struct ack *spare = t->acks;
	size_t take = pages_due(n, all), k = 0;

	t->groups = xcalloc(take + 1, sizeof *t->groups);
	t->n_groups = take;
	t->n_sent = 0;
	for (size_t g = 0; g < take; g++) {
		t->groups[g] = n->queue[g];
		t->n_sent += t->groups[g].n_sent;
	}
	n->n_queue -= take;
	for (size_t g = 0; g < n->n_queue; g++)
		n->queue[g] = n->queue[g + take];
	n->queued_rows -= t->n_sent;
	acks_heard(n);
	t->acks = n->acks;
	t->n_acks = n->n_acks;
	n->acks = spare;
	n->n_acks = 0;
	t->sent = xcalloc(t->n_sent + 1, sizeof *t->sent);
	for (size_t g = 0; g < t->n_groups; k += t->groups[g++].n_sent)
		memcpy(t->sent + k, t->groups[g].rows, t->groups[g].n_sent * sizeof *t->sent);
	/* mark_sent locks its rows in the order of its array: by id, as the other writers of delivery do */
	qsort(t->sent, t->n_sent, sizeof *t->sent, sent_row_cmp);
	n->busy = true;
	committer_hand(&n->committer);
}

/*
 * When the next turn is due (ms; INT64_MAX: nothing queued): when the
 * oldest queued sending or acknowledgement is record_wait_ms old, so that
 * the acknowledgements of the deliveries just pushed can join the record
 * of their sending (written once), and one turn holds what came meanwhile.
 */
static int64_t turn_due(const struct notify *n)
{
	int64_t first = INT64_MAX;

	if (n->n_queue > 0)
		first = n->queue[0].at;
	if (n->n_acks > 0 && n->acks[0].came < first)
		first = n->acks[0].came;
	return first == INT64_MAX ? first : first + n->svc.cfg.record_wait_ms;
}

/*
 * Main thread: hand the queued sendings and acknowledgements to the
 * committer, if it is idle: those due (turn_due, pages_due), or all of
 * them at once when `now`.
 */
static void dispatch(struct notify *n, bool now)
{
	if (!n->busy && (n->n_acks > 0 || n->n_queue > 0) && (now || service_now_ms() >= turn_due(n)))
		turn_start(n, now);
}

/* The ids whose sending is queued or in flight, as a bigint[] literal; the caller frees it. */
static char *in_flight_array(const struct notify *n)
{
	size_t count = (n->busy ? n->flight.n_sent : 0) + n->queued_rows, k = 0;
	const char **texts = xcalloc(count + 1, sizeof *texts);
	char *array;

	for (size_t i = 0; n->busy && i < n->flight.n_sent; i++)
		texts[k++] = db_result_value(n->flight.sent[i].res, n->flight.sent[i].row, COL_ID);
	for (size_t g = 0; g < n->n_queue; g++)
		for (size_t i = 0; i < n->queue[g].n_sent; i++)
			texts[k++] = db_result_value(n->queue[g].pushed, n->queue[g].rows[i].row, COL_ID);
	array = db_text_array(texts, count);
	free(texts);
	return array;
}

/* Is delivery id among those whose sending is queued or in flight? */
static bool in_flight(const struct notify *n, int64_t id)
{
	bool found = n->busy && rows_have(n->flight.sent, n->flight.n_sent, id);

	for (size_t g = 0; g < n->n_queue && !found; g++)
		found = rows_have(n->queue[g].rows, n->queue[g].n_sent, id);
	return found;
}

/*
 * Send the rows of res, in id order, to every connected client of each
 * row's department that is not behind (or only to `only`, when not NULL;
 * with `fresh_only`, not to a client whose backlog already held the row).
 * A client whose queue is full falls behind from that row on (catch_up
 * sends it the rest); one that is gone is forgotten. Returns the indexes
 * of the rows that reached at least one client; the caller frees them.
 */
static int *push_rows(struct notify *n, const struct db_result *res, const struct wire_peer *only, bool fresh_only,
                      size_t *count)
{
	int rows = db_result_rows(res);
	int *sent = xcalloc((size_t)rows + 1, sizeof *sent);

	*count = 0;
	for (int row = 0; row < rows; row++) {
		const char *dept = db_result_value(res, row, COL_DEPT);
		int64_t id = db_result_int(res, row, COL_ID);
		/*
		 * the backlog held it, unless nobody has sent it yet (its transaction committed later);
		 * one whose sending is being recorded was sent
		 */
		bool held =
		        fresh_only && (strcmp(db_result_value(res, row, COL_STATE), "pending") != 0 || in_flight(n, id));
		struct outgoing out;
		bool built = false, delivered = false;

		for (size_t i = 0; i < n->n_clients;) {
			struct client *c = &n->clients[i];

			if (strcmp(c->department, dept) != 0 || c->resume_from > 0 ||
			    (only && !wire_peer_same(only, &c->peer)) || (held && id <= c->backlog_upto)) {
				i++;
				continue;
			}
			/* built (and its content opened) once for all of the department's clients */
			if (!built)
				outgoing_init(n, res, row, NULL, &out);
			built = true;
			if (wire_send_encoded(n->clients_sock, &c->peer, out.buf, out.len) != 0) {
				if (errno != EAGAIN) {
					client_remove(n, i, "unreachable");
					continue;
				}
				if (only == NULL) { /* not a catch-up that stopped again */
					counter_add("client_behind", 1);
					log_info("department=%s principal=%s delivery=%lld event=client_behind "
					         "reason=\"its queue is full: the rest follows as it reads\"",
					         c->department, log_quote(c->principal), (long long)id);
				}
				c->resume_from = id;
				c->next_catch_up = service_now_ms() + NOTIFY_RETRY_MS;
			} else {
				delivered = true;
			}
			i++;
		}
		if (built)
			outgoing_free(&out);
		if (delivered) {
			sent[(*count)++] = row;
			log_info("case=%s delivery=%s department=%s view=%s event=sent",
			         db_result_value(res, row, COL_CASE), db_result_value(res, row, COL_ID), dept,
			         db_result_value(res, row, COL_VIEW));
		}
	}
	return sent;
}

/*
 * Push the rows of res (see push_rows; res is this function's from now
 * on) and queue the record of the sendings for the next turn, which takes
 * the acknowledgements queued meanwhile along: at once when the committer
 * is idle. The queue holds a page's worth: beyond it, the push waits for
 * the turn in flight. Returns how many rows were sent.
 */
static size_t push_and_mark(struct notify *n, struct db_result *res, const struct wire_peer *only, bool fresh_only)
{
	size_t count;
	int *sent = push_rows(n, res, only, fresh_only, &count);

	if (count == 0) {
		free(sent);
		db_result_free(&res);
		return 0;
	}
	if (n->n_queue == n->queue_cap) {
		n->queue_cap = n->queue_cap ? 2 * n->queue_cap : 4;
		n->queue = xrealloc(n->queue, n->queue_cap * sizeof *n->queue);
	}
	n->queue[n->n_queue] = (struct sendings){res, xcalloc(count, sizeof(struct sent_row)), count, service_now_ms()};
	sent_rows(n->queue[n->n_queue++].rows, res, sent, count);
	n->queued_rows += count;
	free(sent);
	if (n->queued_rows >= NOTIFY_PAGE) {
		settle(n);
		dispatch(n, true);
	}
	return count;
}

/*
 * The departments of the connected clients that are not behind, as a
 * text[] literal (caller frees), or NULL when none. A department whose
 * clients are all behind is left out: its deliveries wait for catch_up,
 * and must not fill the pages that the other departments' new deliveries
 * and reminders are read in.
 */
static char *connected_departments(const struct notify *n)
{
	const char **depts;
	char *array = NULL;
	size_t count = 0;

	if (n->n_clients == 0)
		return NULL;
	depts = xcalloc(n->n_clients, sizeof *depts);
	for (size_t i = 0; i < n->n_clients; i++)
		if (n->clients[i].resume_from == 0)
			depts[count++] = n->clients[i].department;
	if (count > 0)
		array = db_text_array(depts, count);
	free(depts);
	return array;
}

/*
 * Push deliveries that are new to this instance (above its high-water
 * mark), or that nobody has sent yet, to the clients connected now: one
 * page of them. After a full page that was sent and recorded, push_due
 * stays set, so the main loop reads the next page at its next turn, after
 * the requests waiting meanwhile.
 */
static void push_unsent(struct notify *n)
{
	char hwm[24];
	const char *params[3] = {NULL, hwm, NULL};
	struct db_result *res;
	char *array, *skip;
	int rows, rc;

	n->push_due = false;
	if (!n->ready || !db_ready(n->db) || (array = connected_departments(n)) == NULL)
		return;
	params[0] = array;
	snprintf(hwm, sizeof hwm, "%lld", (long long)n->high_water);
	params[2] = skip = in_flight_array(n);
	rc = db_exec(n->db, "new_deliveries", 3, params, &res);
	free(skip);
	free(array);
	if (rc != DB_OK) {
		log_warn("event=sweep_failed sqlstate=%s error=%s", db_last_sqlstate(n->db),
		         log_quote(db_last_error(n->db)));
		return;
	}
	rows = db_result_rows(res);
	for (int i = 0; i < rows; i++)
		if (db_result_int(res, i, COL_ID) > n->high_water)
			n->high_water = db_result_int(res, i, COL_ID);
	/*
	 * a sent row never comes back (sent, or in flight, and at most the high-water mark): the
	 * pages end; a record that failed stops them (turn_done), before or after this page
	 */
	n->push_due = rows == NOTIFY_PAGE;
	if (push_and_mark(n, res, NULL, true) == 0)
		n->push_due = false;
}

/*
 * Send a client that is behind (its queue was full, or it has just
 * subscribed) the next page of its department's open deliveries from
 * resume_from on, in id order, recorded like any sending; new deliveries
 * wait for it here. It has caught up when a page went through that was
 * not full.
 */
static void catch_up(struct notify *n, size_t i)
{
	struct client *c = &n->clients[i];
	struct wire_peer peer = c->peer;
	char from[24];
	const char *params[2] = {c->department, from};
	struct db_result *res;
	int64_t last;
	int rows, found;

	snprintf(from, sizeof from, "%lld", (long long)c->resume_from);
	if (db_exec(n->db, "open_for_department", 2, params, &res) != DB_OK) {
		log_warn("department=%s event=catch_up_failed sqlstate=%s error=%s", c->department,
		         db_last_sqlstate(n->db), log_quote(db_last_error(n->db)));
		c->next_catch_up = service_now_ms() + n->svc.cfg.sweep_interval_ms;
		return;
	}
	rows = db_result_rows(res);
	last = rows > 0 ? db_result_int(res, rows - 1, COL_ID) : 0;
	c->resume_from = 0; /* push_rows sets it again at a row that does not fit */
	push_and_mark(n, res, &peer, false);
	found = client_find(n, &peer); /* push_rows forgets a client that is gone */
	if (found >= 0 && rows > 0) {
		c = &n->clients[found];
		if (c->resume_from == 0) {
			c->backlog_upto = last > c->backlog_upto ? last : c->backlog_upto;
			if (rows == NOTIFY_PAGE) { /* the next page at the next turn */
				c->resume_from = last + 1;
				c->next_catch_up = 0;
			}
		}
	}
}

/* Catch up the clients that are behind and due (see catch_up). */
static void catch_up_clients(struct notify *n)
{
	int64_t now = service_now_ms();
	bool can = n->ready && db_ready(n->db);

	/* downwards: a client forgotten meanwhile is replaced by one already visited */
	for (size_t i = n->n_clients; i-- > 0;) {
		if (n->clients[i].resume_from == 0 || n->clients[i].next_catch_up > now)
			continue;
		if (can)
			catch_up(n, i);
		else /* not before the database is back: no busy loop meanwhile */
			n->clients[i].next_catch_up = now + NOTIFY_RETRY_MS;
	}
}

/* Milliseconds until the next catch-up is due (at most limit). */
static int64_t catch_up_wait(const struct notify *n, int64_t limit)
{
	int64_t now = service_now_ms();

	for (size_t i = 0; i < n->n_clients; i++)
		if (n->clients[i].resume_from > 0 && n->clients[i].next_catch_up - now < limit)
			limit = n->clients[i].next_catch_up - now;
	return limit;
}

/*
 * Send again every open delivery whose reminder is due to its department's
 * connected clients, backing off the next one; one transaction, claimed
 * with SKIP LOCKED so that several instances do not double the reminders.
 */
static void send_reminders(struct notify *n)
{
	struct db_result *res = NULL;
	char *array = connected_departments(n);
	const char *params[1] = {array};
	int rc;

	if (array == NULL)
		return;
	settle(n);
	rc = db_begin(n->db);
	if (rc == DB_OK)
		rc = db_exec(n->db, "reminders_due", 1, params, &res);
	if (rc == DB_OK && db_result_rows(res) > 0) {
		size_t count;
		int *sent = push_rows(n, res, NULL, false, &count);
		struct audit_entry *audit = xcalloc(count + 1, sizeof *audit);
		char **details = xcalloc(count + 1, sizeof *details);

		if (count > 0)
			rc = sent_statement(n, res, sent, count, true, audit, details);
		if (rc == DB_OK)
			rc = audit_append(n->db, n->keys, n->svc.name, audit, count);
		if (rc == DB_OK)
			counter_add("reminders", count);
		for (size_t i = 0; i < count; i++)
			free(details[i]);
		free(details);
		free(audit);
		free(sent);
	}
	if (rc == DB_OK)
		rc = db_commit(n->db);
	if (rc != DB_OK) {
		log_warn("event=reminders_failed sqlstate=%s error=%s", db_last_sqlstate(n->db),
		         log_quote(db_last_error(n->db)));
		db_rollback(n->db);
	}
	db_result_free(&res);
	free(array);
}

/*
 * Escalate deliveries past their deadline (see the "escalate" statement);
 * log each, and at the top of a chain raise the operator alert.
 */
static void escalate(struct notify *n)
{
	const char *params[1] = {n->svc.cfg.instance};
	struct db_result *res = NULL;
	struct audit_entry *audit = NULL;
	char **details = NULL;
	int rows = 0;
	int rc;

	settle(n);
	rc = db_begin(n->db);
	if (rc == DB_OK)
		rc = db_exec(n->db, "escalate", 1, params, &res);
	if (rc == DB_OK && (rows = db_result_rows(res)) > 0) {
		audit = xcalloc((size_t)rows, sizeof *audit);
		details = xcalloc((size_t)rows, sizeof *details);
		for (int i = 0; i < rows; i++) {
			const char *to = db_result_value(res, i, 2);

			details[i] =
			        xasprintf("{\"department\":\"%s\",\"to\":%s%s%s,\"new_delivery\":%s}",
			                  db_result_value(res, i, 1), to ? "\"" : "", to ? to : "null", to ? "\"" : "",
			                  db_result_value(res, i, 3) ? db_result_value(res, i, 3) : "null");
			audit[i] = (struct audit_entry){n->actor, to ? "escalated" : "operator_alert",
			                                db_result_int(res, i, 5), db_result_int(res, i, 0), details[i]};
		}
		rc = audit_append(n->db, n->keys, n->svc.name, audit, (size_t)rows);
	}
	if (rc == DB_OK)
		rc = db_commit(n->db);
	if (rc != DB_OK) {
		log_warn("event=escalation_failed sqlstate=%s error=%s", db_last_sqlstate(n->db),
		         log_quote(db_last_error(n->db)));
		db_rollback(n->db);
		rows = 0;
	}
	/* committed: now tell */
	for (int i = 0; i < rows; i++) {
		const char *to = db_result_value(res, i, 2);

		if (to == NULL) {
			counter_add("operator_alerts", 1);
			log_error("case=%s delivery=%s department=%s event=operator_alert reason=\"not acknowledged by "
			          "its "
			          "deadline and nobody above to escalate to\"",
			          db_result_value(res, i, 4), db_result_value(res, i, 0), db_result_value(res, i, 1));
		} else {
			counter_add("escalations", 1);
			log_warn("case=%s delivery=%s department=%s event=escalated to=%s new_delivery=%s",
			         db_result_value(res, i, 4), db_result_value(res, i, 0), db_result_value(res, i, 1), to,
			         db_result_value(res, i, 3) ? db_result_value(res, i, 3)
			                                    : "none (already holds the case)");
		}
	}
	if (details != NULL)
		for (int i = 0; i < db_result_rows(res); i++)
			free(details[i]);
	free(details);
	free(audit);
	db_result_free(&res);
}

/* This instance's status for oro health: connected clients per department. */
static void write_status(struct notify *n, bool log_it)
{
	json_t *clients = json_object();

	for (size_t i = 0; i < n->n_clients; i++) {
		json_t *c = json_object_get(clients, n->clients[i].department);

		json_object_set_new(clients, n->clients[i].department, json_integer(c ? json_integer_value(c) + 1 : 1));
	}
	service_status_write(&n->svc, n->db, json_pack("{s:o}", "clients", clients), log_it);
}

/* Check a department code or principal name given by a client. */
static bool check_name(const char *value, const char *field, struct oro_error *err)
{
	if (value == NULL || *value == '\0') {
		oro_error_set(err, ORO_E_MISSING, field, "%s is required", field);
		return false;
	}
	if (strlen(value) > NOTIFY_NAME_MAX) {
		oro_error_set(err, ORO_E_TOO_LONG, field, "at most %d bytes", NOTIFY_NAME_MAX);
		return false;
	}
	return true;
}

/* Is `code` a department? Returns 1, 0, or a negative db status. */
static int department_exists(struct notify *n, const char *code)
{
	const char *params[1] = {code};
	struct db_result *res;
	int rc = db_ready(n->db) ? db_exec(n->db, "department_exists", 1, params, &res) : DB_ERR_CONNECTION;

	if (rc != DB_OK)
		return rc;
	rc = db_result_rows(res) > 0;
	db_result_free(&res);
	return rc;
}

/* Subscribe: register (or refresh) the client; a new one gets its backlog. */
/*
 * Subscribed.pending of department (known to exist): counted up to
 * NOTIFY_COUNT_MAX, and answered again without counting until
 * sweep_interval_ms have passed, or 100 times as long as the count took if
 * that is longer. Counting a backlog of 100,000 takes 0.4 s: done on every
 * client's every heartbeat, it held up the loop until heartbeats went
 * unanswered and clients reconnected (a 10-minute soak); now it costs at
 * most about 1 % of the loop per department. Returns a db status.
 */
static int pending_of(struct notify *n, const char *department, int64_t *count)
{
	const char *params[1] = {department};
	struct db_result *res;
	struct pending_count *pc = NULL;
	int64_t start = service_now_ms(), now, took;
	int rc;

	for (size_t i = 0; i < n->n_counts && pc == NULL; i++)
		if (strcmp(n->counts[i].department, department) == 0)
			pc = &n->counts[i];
	if (pc != NULL && start < pc->until) {
		*count = pc->count;
		return DB_OK;
	}
	if ((rc = db_exec(n->db, "count_open", 1, params, &res)) != DB_OK)
		return rc;
	*count = db_result_int(res, 0, 0);
	db_result_free(&res);
	if (pc == NULL) {
		n->counts = xrealloc(n->counts, (n->n_counts + 1) * sizeof *n->counts);
		pc = &n->counts[n->n_counts++];
		snprintf(pc->department, sizeof pc->department, "%s", department);
	}
	now = service_now_ms();
	took = now - start;
	pc->count = *count;
	pc->until = now + (100 * took > n->svc.cfg.sweep_interval_ms ? 100 * took : n->svc.cfg.sweep_interval_ms);
	return DB_OK;
}

static void handle_subscribe(struct notify *n, const struct wire_peer *peer, const char *request_id,
                             const Oro__Subscribe *m)
{
	struct oro_error err = {0};
	int64_t pending;
	int i = client_find(n, peer);
	bool fresh = i < 0 || strcmp(n->clients[i].department, m->department ? m->department : "") != 0;
	int rc;

	if (!check_name(m->department, "department", &err) || !check_name(m->principal, "principal", &err))
		goto refuse;
	if (fresh) {
		rc = department_exists(n, m->department);
		if (rc == 0)
			oro_error_set(&err, ORO_E_NOT_FOUND, "department", "no department has this code");
		if (rc <= 0) {
			if (rc < 0)
				db_failure(n->db, "subscribe", rc, &err);
			goto refuse;
		}
	}
	rc = pending_of(n, m->department, &pending);
	if (rc != DB_OK) {
		db_failure(n->db, "subscribe", rc, &err);
		goto refuse;
	}
	if (i < 0) {
		if (n->n_clients == NOTIFY_MAX_CLIENTS) {
			oro_error_set(&err, ORO_E_UNAVAILABLE, "", "too many connected clients: try again later");
			goto refuse;
		}
		i = (int)n->n_clients++;
		n->clients[i].peer = *peer;
		log_info("department=%s principal=%s event=subscribed", m->department, log_quote(m->principal));
	}
	snprintf(n->clients[i].department, sizeof n->clients[i].department, "%s", m->department);
	snprintf(n->clients[i].principal, sizeof n->clients[i].principal, "%s", m->principal);
	n->clients[i].last_seen = service_now_ms();

	Oro__Envelope env;
	Oro__Subscribed sub;

	wire_envelope_init(&env);
	oro__subscribed__init(&sub);
	sub.department = m->department;
	sub.has_pending = sub.has_heartbeat_ms = true;
	sub.pending = (uint32_t)pending;
	sub.heartbeat_ms = (uint32_t)n->svc.cfg.heartbeat_ms;
	env.request_id = (char *)request_id;
	env.body_case = ORO__ENVELOPE__BODY_SUBSCRIBED;
	env.subscribed = &sub;
	wire_send_routed(n->clients_sock, peer, &env);
	if (fresh) { /* its backlog: every open delivery of the department, a page at a time */
		n->clients[i].backlog_upto = 0;
		n->clients[i].resume_from = 1;
		catch_up(n, (size_t)i);
	}
	return;
refuse:
	service_refuse(n->clients_sock, peer, request_id, &err);
}

/* Parse a delivery id and department of a request. */
static bool check_delivery_ref(bool has_id, int64_t id, const char *department, char idbuf[24], struct oro_error *err)
{
	if (!has_id) {
		oro_error_set(err, ORO_E_MISSING, "delivery_id", "delivery_id is required");
		return false;
	}
	if (id <= 0) {
		oro_error_set(err, ORO_E_OUT_OF_RANGE, "delivery_id", "delivery ids are positive");
		return false;
	}
	snprintf(idbuf, 24, "%lld", (long long)id);
	return check_name(department, "department", err);
}

/* Send AckConfirmed to the sender of a (at and by borrowed). */
static void ack_confirm(struct notify *n, const struct ack *a, const char *at, const char *by, bool already)
{
	Oro__Envelope env;
	Oro__AckConfirmed ack;

	wire_envelope_init(&env);
	oro__ack_confirmed__init(&ack);
	ack.has_delivery_id = ack.has_already = true;
	ack.delivery_id = a->delivery_id;
	ack.acknowledged_at = (char *)at;
	ack.acknowledged_by = (char *)by;
	ack.already = already;
	env.request_id = (char *)a->request_id;
	env.body_case = ORO__ENVELOPE__BODY_ACK_CONFIRMED;
	env.ack_confirmed = &ack;
	wire_send_routed(n->clients_sock, &a->peer, &env);
}

/*
 * Answer acks[0..count) after the committer recorded their turn: those it
 * recorded are confirmed; for the others not failed the delivery's state
 * decides, read after that COMMIT: acknowledged earlier (confirmed as
 * `already`, with the first acknowledgement's time and principal; also a
 * second request for a delivery in the same batch), re-routed, or no such
 * delivery of that department.
 */
static void acks_answer(struct notify *n, const struct ack *acks, size_t count)
{
	struct db_result *states = NULL;
	size_t others = 0;
	int rc = DB_OK;

	for (size_t i = 0; i < count; i++)
		others += acks[i].outcome == ACK_UNCHANGED;
	if (others > 0) {
		const char **ids = xcalloc(others, sizeof *ids), **depts = xcalloc(others, sizeof *depts);
		const char *params[2];
		char *arrays[2];
		size_t k = 0;

		for (size_t i = 0; i < count; i++) {
			if (acks[i].outcome == ACK_UNCHANGED) {
				ids[k] = acks[i].id;
				depts[k++] = acks[i].department;
			}
		}
		params[0] = arrays[0] = db_text_array(ids, others);
		params[1] = arrays[1] = db_text_array(depts, others);
		rc = db_ready(n->db) ? db_exec(n->db, "ack_state", 2, params, &states) : DB_ERR_CONNECTION;
		free(arrays[0]);
		free(arrays[1]);
		free(depts);
		free(ids);
	}
	for (size_t i = 0, k = 0; i < count; i++) {
		const struct ack *a = &acks[i];
		struct oro_error err = {0};
		const char *state;
		int row;

		if (a->outcome == ACK_RECORDED) {
			log_info("delivery=%s department=%s principal=%s event=acknowledged", a->id, a->department,
			         log_quote(a->principal));
			ack_confirm(n, a, a->at, a->principal, false);
			continue;
		}
		if (a->outcome == ACK_FAILED) {
			service_refuse(n->clients_sock, &a->peer, a->request_id, &a->err);
			continue;
		}
		row = (int)k++;
		state = rc == DB_OK ? db_result_value(states, row, 0) : NULL;
		if (state != NULL && strcmp(state, "acknowledged") == 0) {
			ack_confirm(n, a, db_result_value(states, row, 2), db_result_value(states, row, 1), true);
			continue;
		}
		if (rc != DB_OK)
			db_failure(n->db, "acknowledge", rc, &err);
		else if (state == NULL)
			oro_error_set(&err, ORO_E_NOT_FOUND, "delivery_id", "department %.40s has no delivery %s",
			              a->department, a->id);
		else /* rerouted: closed without acknowledgement */
			oro_error_set(&err, ORO_E_INVALID_VALUE, "delivery_id",
			              "delivery %s was re-routed to another department and is closed", a->id);
		service_refuse(n->clients_sock, &a->peer, a->request_id, &err);
	}
	db_result_free(&states);
}

/*
 * A subscribed connection that acknowledges is alive: under load its
 * Subscribe (the heartbeat) may wait behind its acknowledgements.
 */
static void acks_heard(struct notify *n)
{
	for (size_t k = 0; k < n->n_acks; k++) {
		int i;

		if (k > 0 && wire_peer_same(&n->acks[k].peer, &n->acks[k - 1].peer))
			continue;
		if ((i = client_find(n, &n->acks[k].peer)) >= 0)
			n->clients[i].last_seen = service_now_ms();
	}
}

/*
 * Before answering a request of peer at once (anything but an
 * acknowledgement that is queued, refusals included): record and answer
 * the acknowledgements queued or in flight if one of them came from the
 * same connection, so that each connection gets its replies in the order
 * of its requests (docs/protocol.md §3).
 */
static void keep_order(struct notify *n, const struct wire_peer *peer)
{
	bool queued = false;

	for (size_t i = 0; i < n->n_acks && !queued; i++)
		queued = wire_peer_same(&n->acks[i].peer, peer);
	for (size_t i = 0; n->busy && i < n->flight.n_acks && !queued; i++)
		queued = wire_peer_same(&n->flight.acks[i].peer, peer);
	if (!queued)
		return;
	settle(n);
	dispatch(n, true);
	settle(n);
}

/* Acknowledge: check it and queue it for the next turn (dispatch). */
static void handle_ack(struct notify *n, const struct wire_peer *peer, const char *request_id,
                       const Oro__Acknowledge *m)
{
	struct oro_error err = {0};
	struct ack *a = &n->acks[n->n_acks];

	if (!check_delivery_ref(m->has_delivery_id, m->delivery_id, m->department, a->id, &err) ||
	    !check_name(m->principal, "principal", &err)) {
		keep_order(n, peer);
		service_refuse(n->clients_sock, peer, request_id, &err);
		return;
	}
	counter_add("ack_requests", 1);
	a->peer = *peer;
	snprintf(a->request_id, sizeof a->request_id, "%s", request_id);
	a->delivery_id = m->delivery_id;
	snprintf(a->department, sizeof a->department, "%s", m->department);
	snprintf(a->principal, sizeof a->principal, "%s", m->principal);
	a->came = service_now_ms();
	if (++n->n_acks == (size_t)n->svc.cfg.batch_max) {
		settle(n);
		dispatch(n, true);
	}
}

/* ShowDelivery: one delivery of the asking department, with content if full. */
static void handle_show(struct notify *n, const struct wire_peer *peer, const char *request_id,
                        const Oro__ShowDelivery *m)
{
	struct oro_error err = {0};
	char id[24];
	struct db_result *res = NULL;
	const char *params[2] = {id, m->department};
	int rc;

	if (!check_delivery_ref(m->has_delivery_id, m->delivery_id, m->department, id, &err) ||
	    !check_name(m->principal, "principal", &err))
		goto refuse;
	/* the read is recorded in the audit trail before the content leaves */
	settle(n);
	rc = db_ready(n->db) ? db_begin(n->db) : DB_ERR_CONNECTION;
	if (rc == DB_OK)
		rc = db_exec(n->db, "show", 2, params, &res);
	if (rc == DB_OK && db_result_rows(res) == 1) {
		char detail[64];
		struct audit_entry e = {m->principal, "delivery_read", db_result_int(res, 0, COL_REPORT),
		                        m->delivery_id, detail};

		snprintf(detail, sizeof detail, "{\"view\":\"%s\"}", db_result_value(res, 0, COL_VIEW));
		rc = audit_append(n->db, n->keys, n->svc.name, &e, 1);
	}
	if (rc == DB_OK)
		rc = db_commit(n->db);
	if (rc != DB_OK) {
		db_rollback(n->db);
		db_result_free(&res);
		db_failure(n->db, "show", rc, &err);
		goto refuse;
	}
	if (db_result_rows(res) == 0) {
		oro_error_set(&err, ORO_E_NOT_FOUND, "delivery_id", "department %.40s has no delivery %s",
		              m->department, id);
		db_result_free(&res);
		goto refuse;
	}
	send_delivery(n, peer, res, 0, request_id);
	db_result_free(&res);
	return;
refuse:
	service_refuse(n->clients_sock, peer, request_id, &err);
}

/* ListInbox: the department's deliveries, notice-level fields only. */
static void handle_inbox(struct notify *n, const struct wire_peer *peer, const char *request_id,
                         const Oro__ListInbox *m)
{
	struct oro_error err = {0};
	char limit[16];
	struct db_result *res = NULL;
	const char *params[3] = {m->department, m->include_acknowledged ? "true" : "false", limit};
	int rc;

	if (!check_name(m->department, "department", &err))
		goto refuse;
	if (m->has_limit && (m->limit < 1 || m->limit > 1000)) {
		oro_error_set(&err, ORO_E_OUT_OF_RANGE, "limit", "limit is 1..1000");
		goto refuse;
	}
	snprintf(limit, sizeof limit, "%u", m->has_limit ? m->limit : 100);
	rc = department_exists(n, m->department);
	if (rc == 0)
		oro_error_set(&err, ORO_E_NOT_FOUND, "department", "no department has this code");
	if (rc == 1)
		rc = db_exec(n->db, "inbox", 3, params, &res);
	else if (rc == 0)
		goto refuse;
	if (rc != DB_OK) {
		db_failure(n->db, "inbox", rc, &err);
		goto refuse;
	}

	int rows = db_result_rows(res);
	Oro__Envelope env;
	Oro__Inbox inbox;
	Oro__Delivery *items = xcalloc((size_t)rows + 1, sizeof *items);
	Oro__Delivery **ptrs = xcalloc((size_t)rows + 1, sizeof *ptrs);
	Oro__Subject s;
	Oro__Reporter rep;

	wire_envelope_init(&env);
	oro__inbox__init(&inbox);
	for (int i = 0; i < rows; i++) {
		/* a list shows notice-level fields only, whatever the view */
		delivery_from_row(res, i, NULL, &items[i], &s, &rep);
		ptrs[i] = &items[i];
	}
	inbox.department = m->department;
	inbox.n_deliveries = (size_t)rows;
	inbox.deliveries = ptrs;
	env.request_id = (char *)request_id;
	env.body_case = ORO__ENVELOPE__BODY_INBOX;
	env.inbox = &inbox;
	wire_send_routed(n->clients_sock, peer, &env);
	free(items);
	free(ptrs);
	db_result_free(&res);
	return;
refuse:
	service_refuse(n->clients_sock, peer, request_id, &err);
}

#define NOTIFY_REASON_MAX 500

/*
 * Reroute: in one transaction close the delivery as re-routed and open a
 * new one of the same view, priority and acknowledgement time for another
 * department; then push it. Only the delivery's department or the active
 * strategy's coordinator may; a full view to a department that needs a
 * disclosure basis must carry one.
 */
static void handle_reroute(struct notify *n, const struct wire_peer *peer, const char *request_id,
                           const Oro__Reroute *m)
{
	struct oro_error err = {0};
	char id[24];
	struct db_result *res = NULL;
	const char *lock_params[3] = {id, m->department, m->to_department};
	int rc;

	if (!check_delivery_ref(m->has_delivery_id, m->delivery_id, m->department, id, &err) ||
	    !check_name(m->to_department, "to_department", &err) || !check_name(m->principal, "principal", &err))
		goto refuse;
	if (m->reason == NULL || *m->reason == '\0') {
		oro_error_set(&err, ORO_E_MISSING, "reason", "a reason for the re-routing is required");
		goto refuse;
	}
	if (strlen(m->reason) > NOTIFY_REASON_MAX ||
	    (m->disclosure_basis != NULL && strlen(m->disclosure_basis) > NOTIFY_REASON_MAX)) {
		oro_error_set(&err, ORO_E_TOO_LONG,
		              strlen(m->reason) > NOTIFY_REASON_MAX ? "reason" : "disclosure_basis", "at most %d bytes",
		              NOTIFY_REASON_MAX);
		goto refuse;
	}
	settle(n);
	rc = db_ready(n->db) ? db_begin(n->db) : DB_ERR_CONNECTION;
	if (rc == DB_OK)
		rc = db_exec(n->db, "reroute_lock", 3, lock_params, &res);
	if (rc != DB_OK)
		goto db_error;
	if (db_result_rows(res) == 0 || strcmp(db_result_value(res, 0, 3), "t") != 0) {
		oro_error_set(&err, ORO_E_NOT_FOUND, "delivery_id", "department %.40s has no delivery %s",
		              m->department, id);
		goto rollback;
	}
	if (strcmp(db_result_value(res, 0, 0), "rerouted") == 0) {
		oro_error_set(&err, ORO_E_INVALID_VALUE, "delivery_id", "delivery %s was re-routed already", id);
		goto rollback;
	}
	if (db_result_value(res, 0, 4) == NULL) {
		oro_error_set(&err, ORO_E_NOT_FOUND, "to_department", "no department has this code");
		goto rollback;
	}
	if (strcmp(db_result_value(res, 0, 2), m->to_department) == 0) {
		oro_error_set(&err, ORO_E_INVALID_VALUE, "to_department",
		              "the delivery is already with that department");
		goto rollback;
	}
	bool full = strcmp(db_result_value(res, 0, 1), "full") == 0;

	if (full && strcmp(db_result_value(res, 0, 4), "t") == 0 &&
	    (m->disclosure_basis == NULL || *m->disclosure_basis == '\0')) {
		oro_error_set(&err, ORO_E_MISSING, "disclosure_basis",
		              "a full view to %.40s needs a recorded legal basis for the disclosure", m->to_department);
		goto rollback;
	}

	char *case_number = xstrdup(db_result_value(res, 0, 5));
	const char *params[5] = {id, m->principal, m->reason, m->to_department, m->disclosure_basis};

	db_result_free(&res);
	rc = db_exec(n->db, "reroute", 5, params, &res);
	if (rc == DB_OK) {
		json_t *d = json_pack("{s:s, s:s, s:I}", "from", m->department, "to", m->to_department, "new_delivery",
		                      (json_int_t)db_result_int(res, 0, 0));
		char *detail = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);

		json_decref(d);
		struct audit_entry e = {m->principal, "rerouted", db_result_int(res, 0, 1), m->delivery_id, detail};

		rc = audit_append(n->db, n->keys, n->svc.name, &e, 1);
		free(detail);
	}
	if (rc == DB_OK)
		rc = db_commit(n->db);
	if (rc == DB_ERR_CONSTRAINT) {
		free(case_number);
		oro_error_set(&err, ORO_E_INVALID_VALUE, "to_department",
		              "%.40s already holds an open copy of this case", m->to_department);
		goto rollback;
	}
	if (rc != DB_OK) {
		free(case_number);
		goto db_error;
	}

	Oro__Envelope env;
	Oro__Rerouted out;

	wire_envelope_init(&env);
	oro__rerouted__init(&out);
	out.has_delivery_id = out.has_new_delivery_id = true;
	out.delivery_id = m->delivery_id;
	out.new_delivery_id = db_result_int(res, 0, 0);
	out.to_department = m->to_department;
	out.view = full ? "full" : "notice";
	env.request_id = (char *)request_id;
	env.body_case = ORO__ENVELOPE__BODY_REROUTED;
	env.rerouted = &out;
	log_info("case=%s delivery=%s department=%s event=rerouted to=%s new_delivery=%lld principal=%s", case_number,
	         id, m->department, m->to_department, (long long)out.new_delivery_id, log_quote(m->principal));
	free(case_number);
	wire_send_routed(n->clients_sock, peer, &env);
	db_result_free(&res);
	push_unsent(n); /* the new delivery, to the target's connected clients */
	return;
db_error:
	db_failure(n->db, "reroute", rc, &err);
rollback:
	db_rollback(n->db);
	db_result_free(&res);
refuse:
	service_refuse(n->clients_sock, peer, request_id, &err);
}

/* Record a refusal for lack of rights in the audit trail (its own transaction). */
static void audit_forbidden(struct notify *n, const char *who, const char *what, const char *department)
{
	json_t *d = json_pack("{s:s, s:s?}", "request", what, "department", department);
	char *detail = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	struct audit_entry e = {who, "forbidden", 0, 0, detail};

	settle(n);
	if (db_ready(n->db))
		audit_record(n->db, n->keys, n->svc.name, &e);
	free(detail);
	json_decref(d);
}

/*
 * With CURVE, the authenticated principal decides who asks: it must be a
 * department principal, and it acts for its own department only. Points
 * *department (and *principal, if not NULL) at the authenticated values;
 * the caller restores the message's own pointers before freeing it.
 * Refuses with `forbidden` (and an audit entry) otherwise.
 */
static bool authorize(struct notify *n, const struct wire_peer *peer, const char *request_id, const char *what,
                      char **department, char **principal)
{
	const struct principal *p = service_principal(&n->svc, peer->user);
	struct oro_error err = {0};

	if (p != NULL && strcmp(p->kind, "department") == 0 &&
	    (*department == NULL || **department == '\0' || strcmp(*department, p->department) == 0)) {
		*department = (char *)p->department;
		if (principal != NULL)
			*principal = (char *)p->name;
		return true;
	}
	oro_error_set(&err, ORO_E_FORBIDDEN, p && strcmp(p->kind, "department") == 0 ? "department" : "",
	              "%s is not allowed for principal %.60s", what, peer->user);
	keep_order(n, peer);
	audit_forbidden(n, peer->user, what, *department);
	service_refuse(n->clients_sock, peer, request_id, &err);
	return false;
}

/* One message from a department client: the dispatcher. Returns false when none was waiting. */
static bool handle_request(struct notify *n)
{
	struct wire_peer peer;
	struct oro_error err = {0};
	char request_id[64];
	Oro__Envelope *env = NULL;
	char **department = NULL, **principal = NULL;
	char *saved_department = NULL, *saved_principal = NULL;
	const char *what = "";

	switch (wire_recv_routed(n->clients_sock, &peer, &env, &err, request_id)) {
	case WIRE_NONE:
		return false;
	case WIRE_REFUSED:
		keep_order(n, &peer);
		service_refuse(n->clients_sock, &peer, request_id, &err);
		return true;
	case WIRE_DROPPED:
		log_warn("request=dropped code=%s", err.code);
		counter_add("dropped", 1);
		return true;
	case WIRE_OK:
		break;
	}
	/* answered at once: not before the acknowledgements the connection sent earlier */
	if (env->body_case != ORO__ENVELOPE__BODY_ACKNOWLEDGE)
		keep_order(n, &peer);
	switch (env->body_case) {
	case ORO__ENVELOPE__BODY_SUBSCRIBE:
		what = "subscribe";
		department = &env->subscribe->department;
		principal = &env->subscribe->principal;
		break;
	case ORO__ENVELOPE__BODY_ACKNOWLEDGE:
		what = "acknowledge";
		department = &env->acknowledge->department;
		principal = &env->acknowledge->principal;
		break;
	case ORO__ENVELOPE__BODY_SHOW_DELIVERY:
		what = "show_delivery";
		department = &env->show_delivery->department;
		principal = &env->show_delivery->principal;
		break;
	case ORO__ENVELOPE__BODY_LIST_INBOX:
		what = "list_inbox";
		department = &env->list_inbox->department;
		break;
	case ORO__ENVELOPE__BODY_REROUTE:
		what = "reroute";
		department = &env->reroute->department;
		principal = &env->reroute->principal;
		break;
	default:
		break;
	}
	if (department != NULL) {
		saved_department = *department;
		saved_principal = principal ? *principal : NULL;
		/* an authenticated connection: its principal, not the message, says who asks */
		if (peer.user[0] != '\0' && !authorize(n, &peer, request_id, what, department, principal))
			goto done;
	}
	switch (env->body_case) {
	case ORO__ENVELOPE__BODY_SUBSCRIBE:
		handle_subscribe(n, &peer, request_id, env->subscribe);
		break;
	case ORO__ENVELOPE__BODY_ACKNOWLEDGE:
		handle_ack(n, &peer, request_id, env->acknowledge);
		break;
	case ORO__ENVELOPE__BODY_SHOW_DELIVERY:
		handle_show(n, &peer, request_id, env->show_delivery);
		break;
	case ORO__ENVELOPE__BODY_LIST_INBOX:
		handle_inbox(n, &peer, request_id, env->list_inbox);
		break;
	case ORO__ENVELOPE__BODY_REROUTE:
		handle_reroute(n, &peer, request_id, env->reroute);
		break;
	default:
		oro_error_set(&err, ORO_E_UNKNOWN_TYPE, "body",
		              "message type %d is not served by oro-notify (subscribe, acknowledge, show_delivery, "
		              "list_inbox, reroute)",
		              (int)env->body_case);
		service_refuse(n->clients_sock, &peer, request_id, &err);
		break;
	}
done:
	if (department != NULL) {
		*department = saved_department;
		if (principal != NULL)
			*principal = saved_principal;
	}
	wire_envelope_free(&env);
	return true;
}

/*
 * Read the waiting requests: acknowledgements queue for one group commit
 * until batch_max are queued or no request is waiting; with batch_wait_ms,
 * wait that long after the first queued one for more. The main loop then
 * records them, with the sendings of the new deliveries if there are any
 * (push_and_mark), and answers them. Bounded, so that pushing and the
 * sweep are never starved.
 */
static void take_requests(struct notify *n)
{
	size_t turn = (size_t)n->svc.cfg.batch_max > NOTIFY_TURN ? (size_t)n->svc.cfg.batch_max : NOTIFY_TURN;
	int64_t until = 0;

	for (size_t handled = 0; handled < turn; handled++) {
		if (handle_request(n)) {
			if (n->n_acks == 0)
				until = 0;
			else if (until == 0)
				until = service_now_ms() + n->svc.cfg.batch_wait_ms;
			continue;
		}
		zmq_pollitem_t items[] = {{n->clients_sock, 0, ZMQ_POLLIN, 0},
		                          {n->svc.auth ? auth_socket(n->svc.auth) : NULL, 0, ZMQ_POLLIN, 0}};
		int64_t left = until - service_now_ms();

		if (n->n_acks == 0 || left <= 0 || zmq_poll(items, n->svc.auth ? 2 : 1, (long)left) <= 0)
			break;
		service_auth_poll(&n->svc);
	}
}

/* Forget clients that stopped sending heartbeats. */
static void expire_clients(struct notify *n)
{
	int64_t limit = service_now_ms() - 3 * (int64_t)n->svc.cfg.heartbeat_ms;

	for (size_t i = 0; i < n->n_clients;) {
		if (n->clients[i].last_seen < limit)
			client_remove(n, i, "silent");
		else
			i++;
	}
}

int main(int argc, char **argv)
{
	struct notify n = {
	        .svc =
	                {
	                        .name = "oro-notify",
	                        .users = CFG_NOTIFY,
	                        .manual = "usage: oro-notify [--config FILE] [--KEY VALUE]...\n"
	                                  "Delivers routed cases to the connected clients of each department until\n"
	                                  "acknowledged, and records acknowledgements.",
	                },
	};

	service_start(&n.svc, argc, argv);
	content_keys_follow(&n.keys, n.svc.cfg.key_file);
	n.db = service_db(&n.svc, statements, sizeof statements / sizeof statements[0]);
	n.commit_db = service_db(&n.svc, statements, sizeof statements / sizeof statements[0]);
	snprintf(n.actor, sizeof n.actor, "oro-notify/%s", n.svc.cfg.instance);
	n.clients = xcalloc(NOTIFY_MAX_CLIENTS, sizeof *n.clients);
	n.acks = xcalloc((size_t)n.svc.cfg.batch_max, sizeof *n.acks);
	n.flight.acks = xcalloc((size_t)n.svc.cfg.batch_max, sizeof *n.flight.acks);
	n.clients_sock = service_socket(&n.svc, ZMQ_ROUTER, n.svc.cfg.notify_endpoint, true);
	n.prompts = service_socket(&n.svc, ZMQ_SUB, n.svc.cfg.router_prompt_endpoint, false);
	committer_start(&n.committer, &n.svc, commit_turn, &n);

	while (service_running()) {
		zmq_pollitem_t items[] = {{n.clients_sock, 0, ZMQ_POLLIN, 0},
		                          {n.prompts, 0, ZMQ_POLLIN, 0},
		                          {n.committer.pipe, 0, ZMQ_POLLIN, 0},
		                          {n.svc.auth ? auth_socket(n.svc.auth) : NULL, 0, ZMQ_POLLIN, 0}};
		int64_t wait = catch_up_wait(&n, n.push_due ? 0 : n.next_sweep - service_now_ms());
		int64_t turn_wait = n.busy ? INT64_MAX : turn_due(&n) - service_now_ms();

		if (turn_wait < wait)
			wait = turn_wait;
		if (wait < 0)
			wait = 0;
		if (wait > 1000)
			wait = 1000;
		if (zmq_poll(items, n.svc.auth ? 4 : 3, (long)wait) > 0) {
			if (items[2].revents & ZMQ_POLLIN)
				turn_done(&n);
			service_auth_poll(&n.svc);
			take_requests(&n);
			if (wire_drain_prompts(n.prompts, 1000))
				n.push_due = true;
		}
		if (n.push_due)
			push_unsent(&n);
		dispatch(&n, false); /* what was queued and is due, once the committer is idle */
		catch_up_clients(&n);
		if (service_status_requested())
			write_status(&n, true);
		if (service_now_ms() >= n.next_sweep) {
			n.next_sweep = service_now_ms() + n.svc.cfg.sweep_interval_ms;
			settle(&n); /* the committer uses the keyring that a changed key file replaces */
			if (!db_ready(n.db))
				continue;
			service_auth_refresh(&n.svc, n.db); /* before ready: principals are known when clients come */
			if (!n.ready) {
				struct db_result *res;

				if (db_exec(n.db, "max_delivery", 0, NULL, &res) != DB_OK)
					continue;
				/* older deliveries reach clients as their backlog when they subscribe */
				n.high_water = db_result_int(res, 0, 0);
				db_result_free(&res);
				n.ready = true;
				log_info("event=ready endpoint=%s", n.svc.cfg.notify_endpoint);
			}
			content_keys_follow(&n.keys, n.svc.cfg.key_file);
			expire_clients(&n);
			escalate(&n);
			push_unsent(&n);
			send_reminders(&n);
			write_status(&n, false);
		}
	}
	log_info("event=stopping");
	settle(&n); /* what is queued is recorded and answered first */
	dispatch(&n, true);
	settle(&n);
	committer_stop(&n.committer);
	zmq_close(n.clients_sock);
	zmq_close(n.prompts);
	free(n.clients);
	free(n.counts);
	free(n.acks);
	free(n.queue);
	free(n.flight.acks);
	keyring_destroy(&n.keys);
	db_destroy(&n.commit_db);
	db_destroy(&n.db);
	service_stop(&n.svc);
	return 0;
}
