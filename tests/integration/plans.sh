#!/usr/bin/env bash
# Integration: the daemons' look-ups stay look-ups as the tables grow.
# oro-intake's look-up of earlier filings (find_cases) and oro-router's
# claim and record of reports are prepared, and their plans may be cached
# on a new, nearly empty installation, where reading all of report is the
# cheaper plan; they must not read all of it at every batch once it has
# grown (db_lookups_only: sessions without sequential scans, statements
# that reach each row by an index condition).
#   1. 20 concerns filed one at a time on a new installation (more than
#      the 5 executions after which PostgreSQL may cache a plan);
#   2. report grows by 20,000 rows (routed, as after a year of use);
#   3. 40 more concerns, one at a time: each is filed and routed, and
#      meanwhile report is read sequentially at most 5 times, and at most
#      100 rows of report and of report_content are read per concern
#      (sequentially or through an index: a plan that reads a whole
#      index is caught too).
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
# Rows read from table $1 so far, sequentially or through an index.
rows_read() { psql_q "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables WHERE relname = '$1'"; }

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
report0=$(rows_read report) content0=$(rows_read report_content)

file grown 40
wait_sql 60 "SELECT count(*) FROM decision" || fail "the next 40 concerns not routed"
sleep 1.5
after=$(seq_scans)
check "[ $((after - before)) -le 5 ]" "40 concerns filed and routed with $((after - before)) sequential scans of report (at most 5)"
report_rows=$(($(rows_read report) - report0)) content_rows=$(($(rows_read report_content) - content0))
check "[ $report_rows -le 4000 ]" "40 concerns filed and routed reading $report_rows rows of report (at most 4,000)"
check "[ $content_rows -le 4000 ]" "40 concerns filed and routed reading $content_rows rows of report_content (at most 4,000)"
check "[ $(jq -s '[.[] | select(.case != null)] | length' "$ORO_TEST_DIR/grown.jsonl") = 40 ]" "all 40 filed"
