#!/usr/bin/env bash
# Integration: oro-intake's group commit (batch_max, batch_wait_ms).
#   - concurrent concerns share transactions (fewer distinct xmin than
#     reports), never more than batch_max in one;
#   - every concern is answered with its own case, in one batch or not;
#   - two clients filing the same client_keys at the same moment (so that
#     the same key is twice in one batch, or in two batches) get one case
#     per key, the same case number each, one of them told "duplicate",
#     and no case number is lost to a batch that held a key filed before;
#   - on a connection with several filings in flight, a request refused at
#     once is answered after the filings before it (replies in request
#     order);
#   - each filing has its audit entry, the chain verifies, and every
#     report is routed.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

tools=${ORO_TEST_TOOLS:-$ORO_REPO/build/tests}
cases=$ORO_REPO/tests/integration/data/routing-cases.json
[[ -x $tools/oro-load ]] || fail "$tools/oro-load is not built"
count=400
batch_max=16

stack_init
stack_pg_start
stack_import
# a short sweep: housekeeping waits for the committer often, while the next batch is full
daemon_start intake --batch-max "$batch_max" --batch-wait-ms 20 --sweep-interval-ms 50
daemon_start router
daemon_start notify
endpoint=ipc://$ORO_TEST_DIR/intake.sock

# Distinct keys, 32 connections, closed loop: up to 32 concerns in flight at any time.
"$tools/oro-load" --endpoint "$endpoint" --cases "$cases" --count "$count" --closed --concurrency 32 \
	--key-prefix gc --out "$ORO_TEST_DIR/a.jsonl" >"$ORO_TEST_DIR/a.out"
cat "$ORO_TEST_DIR/a.out"
check "[ \$(jq -s 'map(select(.case != null and .duplicate == false)) | length' $ORO_TEST_DIR/a.jsonl) = $count ]" \
	"all $count concerns got a new case number"
check "[ \$(jq -rs 'map(.case) | unique | length' $ORO_TEST_DIR/a.jsonl) = $count ]" "... $count different ones"
check "[ $(psql_q "SELECT count(*) FROM report WHERE client_key LIKE 'gc-%'") = $count ]" "$count reports stored"
# report_content rows are never updated (report rows are, by the router): their xmin is the filing's.
txns=$(psql_q "SELECT count(DISTINCT c.xmin::text) FROM report_content c JOIN report r ON r.id = c.report_id
	WHERE r.client_key LIKE 'gc-%'")
largest=$(psql_q "SELECT max(n) FROM (SELECT count(*) AS n FROM report_content c JOIN report r ON r.id = c.report_id
	WHERE r.client_key LIKE 'gc-%' GROUP BY c.xmin::text) b")
echo "group commit: $count reports in $txns transactions, at most $largest in one"
check "[ $txns -lt $((count / 2)) ]" "concurrent concerns share transactions ($txns for $count)"
check "[ $largest -le $batch_max ]" "no transaction holds more than batch_max = $batch_max ($largest)"
check "[ $(psql_q "SELECT count(*) FROM report_content c JOIN report r ON r.id = c.report_id
	JOIN timeline t ON t.report_id = r.id AND t.event = 'filed' JOIN audit a ON a.report_id = r.id AND a.action = 'filed'
	WHERE r.client_key LIKE 'gc-%' AND c.xmin = t.xmin AND c.xmin = a.xmin") = $count ]" \
	"each filing's content, timeline entry and audit entry commit in the same transaction"

# The same 200 keys from two clients at once: one case per key, both told the same number.
"$tools/oro-load" --endpoint "$endpoint" --cases "$cases" --count 200 --closed --concurrency 16 \
	--key-prefix twin --out "$ORO_TEST_DIR/b1.jsonl" >"$ORO_TEST_DIR/b1.out" &
b1=$!
"$tools/oro-load" --endpoint "$endpoint" --cases "$cases" --count 200 --closed --concurrency 16 \
	--key-prefix twin --out "$ORO_TEST_DIR/b2.jsonl" >"$ORO_TEST_DIR/b2.out"
wait "$b1"
cat "$ORO_TEST_DIR/b1.out" "$ORO_TEST_DIR/b2.out"
check "[ $(psql_q "SELECT count(*) FROM report WHERE client_key LIKE 'twin-%'") = 200 ]" \
	"200 keys filed twice at once: 200 reports"
check "[ \$(jq -n --slurpfile a $ORO_TEST_DIR/b1.jsonl --slurpfile b $ORO_TEST_DIR/b2.jsonl \
	'[\$a, \$b] | transpose | map(select(.[0].case != null and .[0].case == .[1].case)) | length') = 200 ]" \
	"both clients were told the same case number for every key"
check "[ \$(cat $ORO_TEST_DIR/b1.jsonl $ORO_TEST_DIR/b2.jsonl | jq -s 'map(select(.duplicate)) | length') = 200 ]" \
	"exactly one of the two was told duplicate, for every key"
same=$(psql_q "SELECT count(DISTINCT c.xmin::text) FROM report_content c JOIN report r ON r.id = c.report_id
	WHERE r.client_key LIKE 'twin-%'")
echo "the twin keys were filed in $same transactions"
# a batch holding a key filed before is rolled back and filed again: no case number is lost
check "[ $(psql_q "SELECT max(split_part(case_number, '-', 3)::int) - min(split_part(case_number, '-', 3)::int) + 1
	- count(*) FROM report") = 0 ]" "the case numbers have no gaps ($(psql_q "SELECT count(*) FROM report") reports)"

# Several filings in flight on each connection, every 7th refused at once (an unknown category):
# the refusals and the cases still come back in the order of the requests, connection by connection.
"$tools/oro-load" --endpoint "$endpoint" --cases "$cases" --count 300 --rate 600 --concurrency 4 \
	--invalid-every 7 --key-prefix ord --out "$ORO_TEST_DIR/ord.jsonl" >"$ORO_TEST_DIR/ord.out"
cat "$ORO_TEST_DIR/ord.out"
check "grep -q ', 0 out of order' $ORO_TEST_DIR/ord.out" "replies came in request order on every connection"
check "[ \$(jq -s 'map(select(.error == \"invalid_value\")) | length' $ORO_TEST_DIR/ord.jsonl) = 42 ]" \
	"the 42 concerns with an unknown category were refused"
check "[ $(psql_q "SELECT count(*) FROM report WHERE client_key LIKE 'ord-%'") = 258 ]" \
	"the other 258 were filed"

# Audit and routing.
check "[ $(psql_q "SELECT count(*) FROM audit WHERE action = 'filed'") = $((count + 200 + 258)) ]" \
	"one audit entry per filing"
oro audit verify --json >"$ORO_TEST_DIR/verify.json"
check_json "$(cat "$ORO_TEST_DIR/verify.json")" '.ok == true' "the audit chain verifies"
wait_sql 0 "SELECT count(*) FROM report WHERE state = 'received'" || fail "some reports were not routed"
echo "ok: every report is routed"
stack_teardown
