#!/usr/bin/env bash
# Integration: oro-router's group commit (batch_max, batch_wait_ms).
#   1. reports waiting when the router starts are routed batch_max per
#      transaction, and a batch stores the same rows as one report per
#      transaction does: decision, deliveries (in order of report, then
#      recipient), deadlines, timeline entry and state, compared case by
#      case with reports of the same concerns routed with batch_max 1, and
#      with the expectations of routing-cases.json;
#   2. a report whose rows cannot be stored (a planted trigger) fails its
#      batch, which is then routed one report per transaction: every other
#      report is routed, the bad one is logged and left unrouted, and is
#      routed by a later sweep once the fault is gone;
#   3. with batch_wait_ms a prompted sweep waits for the concerns filed
#      meanwhile, which share transactions.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

tools=${ORO_TEST_TOOLS:-$ORO_REPO/build/tests}
cases=$ORO_REPO/tests/integration/data/routing-cases.json
[[ -x $tools/oro-load ]] || fail "$tools/oro-load is not built"
n_cases=$(jq length "$cases")
count=$((3 * n_cases))
batch_max=8
wait_ms=100

stack_init
stack_pg_start
stack_import
daemon_start intake
endpoint=$(sed -n 's/^intake_endpoint = //p' "$ORO_CONFIG")
q() { psql_q "$1"; }

# File $count concerns with client keys $1-0, $1-1, ... (key i is case i % n_cases).
file() {
	"$tools/oro-load" --endpoint "$endpoint" --cases "$cases" --count "$count" --rate 200 \
		--key-prefix "$1" --out "$ORO_TEST_DIR/$1.jsonl" >"$ORO_TEST_DIR/$1.out" 2>&1 ||
		fail "oro-load failed: $(cat "$ORO_TEST_DIR/$1.out")"
	check "[ $(q "SELECT count(*) FROM report WHERE client_key LIKE '$1-%' AND state = 'received'") = $count ]" \
		"$count concerns $1-* filed, none routed yet"
}
# The reports of prefix $1: id and case t.
SET="SELECT id, substring(client_key FROM '[0-9]+\$')::int % $n_cases AS t FROM report WHERE client_key LIKE"
# Transactions that routed the reports of prefix $1, and the most reports in one.
commits() { q "SELECT count(DISTINCT dc.xmin::text) FROM decision dc JOIN ($SET '$1-%') s ON s.id = dc.report_id"; }
largest() {
	q "SELECT max(n) FROM (SELECT count(*) n FROM decision dc JOIN ($SET '$1-%') s ON s.id = dc.report_id
	   GROUP BY dc.xmin::text) x"
}

# What routing stored for a report, without its ids, times and author: the
# decision, the deliveries in id order (with their deadline, creation time
# and chain checked), the routed timeline entry and the report's state.
q "CREATE FUNCTION routed_rows(rid bigint) RETURNS text LANGUAGE sql AS \$\$
   SELECT concat_ws(' | ', dc.ruleset_version, dc.matched_rules::text, dc.fallback,
          (SELECT string_agg(concat_ws(',', d.department, d.view, d.priority, d.ack_within,
                  coalesce(d.disclosure_basis, '-'), d.origin, d.state, d.send_count,
                  d.deadline = d.created_at + make_interval(secs => d.ack_within),
                  d.created_at = dc.decided_at, d.chain_id = d.id), ';' ORDER BY d.id)
           FROM delivery d WHERE d.report_id = rid),
          (SELECT string_agg(t.detail::text || ' by ' || (t.actor = dc.decided_by)::text, ';')
           FROM timeline t WHERE t.report_id = rid AND t.event = 'routed'),
          r.state, r.routed_at = dc.decided_at)
   FROM report r JOIN decision dc ON dc.report_id = r.id WHERE r.id = rid \$\$"

# ---------------------------------------------------------------- 1. batches store what single reports do
file single
daemon_start router --instance router-single --batch-max 1
wait_sql "$count" "SELECT count(*) FROM decision dc JOIN ($SET 'single-%') s ON s.id = dc.report_id" ||
	fail "the single-* reports were not routed"
check "[ $(commits single) = $count ]" "with batch_max 1: one transaction per report ($count)"
daemon_stop router

file batch
# The report that will fail: the 13th of the batch reports, in the second batch of 8.
poison=$(q "SELECT id FROM report WHERE client_key LIKE 'batch-%' ORDER BY id OFFSET 12 LIMIT 1")
poison_case=$(q "SELECT case_number FROM report WHERE id = $poison")
q "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS \$\$
   BEGIN RAISE EXCEPTION 'planted fault for report %', NEW.report_id; END \$\$;
   CREATE TRIGGER refuse_poison BEFORE INSERT ON decision FOR EACH ROW
   WHEN (NEW.report_id = $poison) EXECUTE FUNCTION refuse_poison()"
daemon_start router --instance router-batch --batch-max "$batch_max"
wait_sql "$((count - 1))" "SELECT count(*) FROM decision dc JOIN ($SET 'batch-%') s ON s.id = dc.report_id" ||
	fail "the batch-* reports were not routed"
# ceil(count / batch_max) batches, of which the poisoned one went one report per transaction
want=$(((count + batch_max - 1) / batch_max - 1 + batch_max - 1))
printf '  batch-*: %d transactions, at most %d reports in one\n' "$(commits batch)" "$(largest batch)"
check "[ $(commits batch) = $want ] && [ $(largest batch) = $batch_max ]" \
	"with batch_max $batch_max: $want transactions, the failed batch's $((batch_max - 1)) good reports one by one"
check "[ $(q "SELECT count(*) FROM decision WHERE report_id = $poison") = 0 ] &&
       [ $(q "SELECT state FROM report WHERE id = $poison") = received ]" "the bad report $poison_case is not routed"
check "grep -q 'level=warn .*reports=$batch_max event=batch_failed then=one_by_one' '$ORO_TEST_DIR/router.log'" \
	"the failed batch is logged, and retried one by one"
check "grep -q 'level=error .*case=$poison_case event=route_failed sqlstate=P0001' '$ORO_TEST_DIR/router.log'" \
	"the bad report is logged with its SQLSTATE"
q "DROP TRIGGER refuse_poison ON decision"
wait_sql routed "SELECT state FROM report WHERE id = $poison" || fail "$poison_case was not routed after the fault went"
echo "ok: $poison_case is routed by a later sweep once the fault is gone"
routed_lines() { [ "$(grep -c 'event=routed ' "$ORO_TEST_DIR/router.log")" = $((2 * count)) ]; }
wait_for routed_lines || fail "not one routed log line per routed case"
echo "ok: one routed log line per routed case"

# Each case's rows are the same whether routed alone or in a batch (the poisoned one included).
q "CREATE TABLE rows_of AS SELECT split_part(r.client_key, '-', 1) AS prefix, s.t, routed_rows(s.id) AS stored
   FROM ($SET 'single-%' UNION ALL $SET 'batch-%') s JOIN report r USING (id)"
check "[ $(q "SELECT count(*) FROM (SELECT t FROM rows_of GROUP BY t HAVING count(DISTINCT stored) <> 1) x") = 0 ] &&
       [ $(q "SELECT count(*) FROM rows_of") = $((2 * count)) ]" \
	"every case stored the same decision, deliveries, timeline entry and state in a batch and alone"
want=$(jq -c '[.[] | {rules, recipients}]' "$cases")
got=$(q "SELECT json_agg(json_build_object('rules', (SELECT to_json(matched_rules) FROM decision WHERE report_id = s.id),
         'recipients', (SELECT coalesce(json_agg(json_build_array(department, view, priority, ack_within, disclosure_basis)
                        ORDER BY department COLLATE \"C\"), '[]') FROM delivery WHERE report_id = s.id)) ORDER BY s.t)
         FROM ($SET 'batch-%') s WHERE s.id IN (SELECT min(id) FROM ($SET 'batch-%') x GROUP BY t)" | jq -c .)
check "[ '$got' = '$want' ]" "the batch-routed cases have the rules and recipients of routing-cases.json"
# Delivery and routed-entry ids follow the reports' order within the batches (the late bad one aside).
check "[ $(q "SELECT count(*) FROM (SELECT report_id, lag(report_id) OVER (ORDER BY id) AS prev FROM delivery
                                    WHERE report_id <> $poison) x WHERE prev > report_id") = 0 ] &&
       [ $(q "SELECT count(*) FROM (SELECT report_id, lag(report_id) OVER (ORDER BY id) AS prev FROM timeline
                                    WHERE event = 'routed' AND report_id <> $poison) x WHERE prev > report_id") = 0 ]" \
	"deliveries and timeline entries are numbered in order of report, then recipient"
daemon_stop router

# ---------------------------------------------------------------- 3. batch_wait_ms
# No timer sweeps: the router sweeps only when prompted, $wait_ms after the prompt.
daemon_start router --instance router-wait --batch-wait-ms "$wait_ms" --sweep-interval-ms 60000
"$tools/oro-load" --endpoint "$endpoint" --cases "$cases" --count "$count" --rate 200 \
	--key-prefix wait --out "$ORO_TEST_DIR/wait.jsonl" >"$ORO_TEST_DIR/wait.out" 2>&1 ||
	fail "oro-load failed: $(cat "$ORO_TEST_DIR/wait.out")"
wait_sql "$count" "SELECT count(*) FROM decision dc JOIN ($SET 'wait-%') s ON s.id = dc.report_id" ||
	fail "the wait-* reports were not routed"
first_wait=$(q "SELECT round(extract(epoch FROM dc.decided_at - r.filed_at) * 1000) FROM report r
                JOIN decision dc ON dc.report_id = r.id WHERE r.client_key LIKE 'wait-%' ORDER BY r.id LIMIT 1")
printf '  wait-*: %d transactions for %d reports; the first was routed %d ms after it was filed\n' \
	"$(commits wait)" "$count" "$first_wait"
check "((first_wait >= wait_ms))" "a prompted sweep waits batch_wait_ms ($wait_ms ms)"
check "(($(commits wait) < count))" "the concerns filed meanwhile share transactions"
daemon_stop router
# shellcheck disable=SC2154 # daemon_exit_status is set by daemon_stop
check "[ '$daemon_exit_status' = 0 ] && ! grep -Eq 'Sanitizer|runtime error' '$ORO_TEST_DIR/router.log'" \
	"oro-router stops cleanly, and drew no sanitizer report"
