#!/usr/bin/env bash
# Integration: prompts are only hints. A concern filed while the router is
# stopped is routed when it starts; deliveries made while notify is stopped
# reach the department when it starts; resubmitting with the same client
# key returns the same case and stores nothing.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up

report() {
	oro report --json --client-key "$1" --category propaganda --urgency concern --subject-kind adult \
		--age 40 --setting online --district Råsunda --description "Posts propaganda." "${@:2}"
}

# Idempotent resubmission.
report same-key >"$ORO_TEST_DIR/a.json"
report same-key >"$ORO_TEST_DIR/b.json"
check "[ \"\$(jq -r .case_number $ORO_TEST_DIR/a.json)\" = \"\$(jq -r .case_number $ORO_TEST_DIR/b.json)\" ]" \
	"the same client key returns the same case number"
check "[ \"\$(jq -r .receipt $ORO_TEST_DIR/a.json)\" = \"\$(jq -r .receipt $ORO_TEST_DIR/b.json)\" ]" "... and the same receipt"
check "jq -e '.duplicate == false' $ORO_TEST_DIR/a.json >/dev/null && jq -e '.duplicate == true' $ORO_TEST_DIR/b.json >/dev/null" \
	"... marked as a duplicate"
check "[ $(psql_q "SELECT count(*) FROM report") = 1 ] && [ $(psql_q "SELECT count(*) FROM timeline WHERE event = 'filed'") = 1 ]" \
	"... and nothing new is stored"
ORO_PRINCIPAL=someone-else report same-key >"$ORO_TEST_DIR/c.json"
check "[ \"\$(jq -r .case_number $ORO_TEST_DIR/a.json)\" != \"\$(jq -r .case_number $ORO_TEST_DIR/c.json)\" ]" \
	"another reporter's equal client key is another case"
wait_sql 2 "SELECT count(*) FROM report WHERE state = 'routed'" || fail "not routed"

# Router stopped: the report waits in state received, then is routed at start.
daemon_stop router
report while-router-down >"$ORO_TEST_DIR/d.json"
cn=$(jq -r .case_number "$ORO_TEST_DIR/d.json")
sleep 1
check "[ '$(psql_q "SELECT state FROM report WHERE case_number = '$cn'")' = received ]" \
	"filed while the router is down: $cn is stored and waits"
daemon_start router
wait_sql routed "SELECT state FROM report WHERE case_number = '$cn'" ||
	fail "$cn was not routed after the router started"
echo "ok: the router routes $cn at start"

# Notify stopped: the delivery waits, then reaches the department client.
daemon_stop notify
report while-notify-down >"$ORO_TEST_DIR/e.json"
cn=$(jq -r .case_number "$ORO_TEST_DIR/e.json")
wait_sql 1 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$cn'" ||
	fail "$cn was not routed"
id=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$cn'")
oro inbox --department slf-samordnare --follow --ack --json --for 60 >"$ORO_TEST_DIR/follow.out" 2>&1 &
follower=$!
sleep 1
daemon_start notify
wait_sql acknowledged "SELECT state FROM delivery WHERE id = $id" ||
	fail "delivery $id did not reach the client after notify started"
echo "ok: delivery $id made while notify was down reached the client and was acknowledged"

# After the restarts, new work flows through end to end.
report after-restart >"$ORO_TEST_DIR/f.json"
cn=$(jq -r .case_number "$ORO_TEST_DIR/f.json")
wait_sql 1 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id
                      WHERE r.case_number = '$cn' AND d.state = 'acknowledged'" ||
	fail "$cn was not delivered and acknowledged"
echo "ok: $cn filed after restarts was routed, delivered and acknowledged"
kill "$follower" 2>/dev/null || true
check "[ $(psql_q "SELECT count(*) FROM delivery WHERE send_count > 0 AND state <> 'acknowledged'") = 0 ]" \
	"every sent delivery was acknowledged"
