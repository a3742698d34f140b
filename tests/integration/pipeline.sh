#!/usr/bin/env bash
# Integration: concerns covering every rule of solna-v1 go through the real
# daemons on a throwaway PostgreSQL and reach exactly the expected
# departments, with the expected views, priorities, deadlines and
# disclosure bases; department clients receive exactly their deliveries,
# notice deliveries without content, and their acknowledgements are
# recorded with time and principal.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up

cases="$ORO_REPO/tests/integration/data/routing-cases.json"
n=$(jq length "$cases")
departments=$(psql_q "SELECT code FROM department ORDER BY code")

# One following, acknowledging client per department, each its own principal.
for d in $departments; do
	ORO_PRINCIPAL="clerk-$d" oro inbox --department "$d" --follow --ack --json --for 120 \
		>"$ORO_TEST_DIR/follow-$d.out" 2>"$ORO_TEST_DIR/follow-$d.err" &
done
sleep 1

for ((i = 0; i < n; i++)); do
	jq ".[$i].concern + {client_key: \"pipeline-$i\"}" "$cases" >"$ORO_TEST_DIR/case-$i.json"
	oro report --file "$ORO_TEST_DIR/case-$i.json" --json >"$ORO_TEST_DIR/reply-$i.json"
	check "jq -e '.case_number | test(\"^ORO-[0-9]{4}-[0-9]{6}$\")' $ORO_TEST_DIR/reply-$i.json >/dev/null" \
		"case $i filed: $(jq -r .case_number "$ORO_TEST_DIR/reply-$i.json")"
done

all_acknowledged() {
	[ "$(psql_q "SELECT count(*) FROM report WHERE state <> 'routed'")" = 0 ] &&
		[ "$(psql_q "SELECT count(*) FROM delivery WHERE state <> 'acknowledged'")" = 0 ] &&
		[ "$(psql_q "SELECT count(*) FROM delivery")" -gt 0 ]
}
WAIT_FOR_TRIES=300 wait_for all_acknowledged || fail "not every delivery was routed and acknowledged"
echo "ok: every case routed, every delivery acknowledged"

for ((i = 0; i < n; i++)); do
	cn=$(jq -r .case_number "$ORO_TEST_DIR/reply-$i.json")
	want=$(jq -c ".[$i].recipients" "$cases")
	got=$(psql_q "SELECT coalesce(json_agg(json_build_array(department, view, priority, ack_within, disclosure_basis)
	              ORDER BY department COLLATE \"C\"), '[]') FROM delivery d JOIN report r ON r.id = d.report_id
	              WHERE r.case_number = '$cn'" | jq -c .)
	check "[ '$got' = '$want' ]" "case $i ($cn) deliveries: $(jq -r ".[$i].name" "$cases")"
	want=$(jq -c ".[$i].rules" "$cases")
	got=$(psql_q "SELECT to_json(matched_rules) FROM decision d JOIN report r ON r.id = d.report_id
	              WHERE r.case_number = '$cn'" | jq -c .)
	check "[ '$got' = '$want' ]" "case $i matched rules $got under ruleset version 1"
done

check "[ $(psql_q "SELECT count(*) FROM delivery WHERE deadline <> created_at + make_interval(secs => ack_within)") = 0 ]" \
	"every deadline is creation time plus the rule's acknowledgement window"
check "[ $(psql_q "SELECT count(*) FROM delivery WHERE acknowledged_by <> 'clerk-' || department") = 0 ]" \
	"every acknowledgement records the acknowledging principal"
check "[ $(psql_q "SELECT count(DISTINCT ruleset_version) FROM decision") = 1 ]" "decisions record the ruleset version"

# Guidance: the acute cases' guidance starts with the call to 112.
for ((i = 0; i < n; i++)); do
	if jq -e ".[$i].concern.urgency == \"acute\"" "$cases" >/dev/null; then
		check "jq -e '.guidance[0].sv | startswith(\"Ring 112 nu\")' $ORO_TEST_DIR/reply-$i.json >/dev/null" \
			"acute case $i guidance starts with \"Ring 112 nu\""
	fi
done

# Each department client saw exactly its department's deliveries.
for d in $departments; do
	want=$(psql_q "SELECT coalesce(json_agg(id ORDER BY id), '[]') FROM delivery WHERE department = '$d'" | jq -c .)
	got=$(jq -sc '[.[] | select(.delivery) | .delivery.delivery_id] | unique' "$ORO_TEST_DIR/follow-$d.out")
	check "[ '$got' = '$want' ]" "department $d received deliveries $got"
	check "[ $(jq -s '[.[] | select(.delivery.view == "notice") | select(.delivery.description or .delivery.subject or .delivery.reporter)] | length' "$ORO_TEST_DIR/follow-$d.out") = 0 ]" \
		"department $d: no notice delivery carries description, identity or contact"
	check "[ $(jq -s '[.[] | select(.delivery.view == "full") | select(.delivery.description | not)] | length' "$ORO_TEST_DIR/follow-$d.out") = 0 ]" \
		"department $d: every full delivery carries the description"
done

# The case timeline: filed, routed, and per delivery delivered and acknowledged.
check "[ $(psql_q "SELECT count(*) FROM report r WHERE (SELECT count(*) FROM timeline t WHERE t.report_id = r.id AND event = 'filed') <> 1
                   OR (SELECT count(*) FROM timeline t WHERE t.report_id = r.id AND event = 'routed') <> 1") = 0 ]" \
	"each case's timeline has one filed and one routed entry"
check "[ $(psql_q "SELECT count(*) FROM delivery d WHERE (SELECT count(*) FROM timeline t WHERE t.delivery_id = d.id AND event = 'delivered') <> 1
                   OR (SELECT count(*) FROM timeline t WHERE t.delivery_id = d.id AND event = 'acknowledged') <> 1") = 0 ]" \
	"each delivery's timeline has one delivered and one acknowledged entry"

# The reporter follows the case with the receipt.
receipt=$(jq -r .receipt "$ORO_TEST_DIR/reply-0.json")
oro status "$receipt" --json >"$ORO_TEST_DIR/status.json"
check "jq -e '.state == \"acknowledged\" and .deliveries == 5 and .acknowledged == 5' $ORO_TEST_DIR/status.json >/dev/null" \
	"oro status shows the first case acknowledged by 5 of 5 departments"
check "! oro status AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA >/dev/null 2>&1" "an unknown receipt is not found"

jobs -p | xargs -r kill 2>/dev/null || true
echo "pipeline: $n cases, $(psql_q "SELECT count(*) FROM delivery") deliveries checked"
