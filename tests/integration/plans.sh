#!/usr/bin/env bash
# Integration: the daemons' look-ups stay look-ups as the tables grow.
# oro-intake's look-up of earlier filings (find_cases) and oro-router's
# claim of unrouted reports are planned at each execution: a plan cached
# on a new, nearly empty installation would read all of report at every
# batch once it has grown (a sequential scan per batch).
#   1. 20 concerns filed one at a time on a new installation (more than
#      the 5 executions after which PostgreSQL may cache a plan);
#   2. report grows by 20,000 rows (routed, as after a year of use);
#   3. 40 more concerns, one at a time: each is filed and routed, and
#      report is read sequentially at most 5 times meanwhile (once per
#      batch, 80 or more, before).
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

tools=${ORO_TEST_TOOLS:-$ORO_REPO/build/tests}
cases=$ORO_REPO/tests/integration/data/routing-cases.json
[[ -x $tools/oro-load ]] || fail "$tools/oro-load is not built"

stack_init
stack_pg_start
stack_import
daemon_start intake
daemon_start router
endpoint=$(sed -n 's/^intake_endpoint = //p' "$ORO_CONFIG")

# File $2 concerns one at a time (closed loop, one connection), keys $1-0, $1-1, ...
file() {
	"$tools/oro-load" --endpoint "$endpoint" --cases "$cases" --count "$2" --closed --concurrency 1 \
		--key-prefix "$1" --out "$ORO_TEST_DIR/$1.jsonl" >"$ORO_TEST_DIR/$1.out" 2>&1 ||
		fail "oro-load failed: $(cat "$ORO_TEST_DIR/$1.out")"
}
# Sequential scans of report so far, as the daemons' sessions have reported them.
seq_scans() { psql_q "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'report'"; }

file young 20
# routed: counted in decision, so that this script reads report sequentially neither
wait_sql 20 "SELECT count(*) FROM decision" || fail "the first 20 concerns not routed"

psql_q "INSERT INTO report (case_number, reporter, client_key, receipt_hash, category, urgency, subject_kind,
                            age_band, setting, district, association_grant, relatives_informed, state, routed_at)
        SELECT 'GROWN-' || g, 'grown', 'grown-' || g, sha256(g::text::bytea), category, urgency, subject_kind,
               age_band, setting, district, association_grant, relatives_informed, 'routed', now()
        FROM generate_series(1, 20000) g, (SELECT * FROM report LIMIT 1) r" >/dev/null
sleep 1.5 # sessions report their counts when idle, at most once a second
before=$(seq_scans)

file grown 40
wait_sql 60 "SELECT count(*) FROM decision" || fail "the next 40 concerns not routed"
sleep 1.5
after=$(seq_scans)
check "[ $((after - before)) -le 5 ]" "40 concerns filed and routed with $((after - before)) sequential scans of report (at most 5)"
check "[ $(jq -s '[.[] | select(.case != null)] | length' "$ORO_TEST_DIR/grown.jsonl") = 40 ]" "all 40 filed"
