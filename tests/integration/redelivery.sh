#!/usr/bin/env bash
# Integration: a delivery is pushed again, with the same delivery id, to
# every client that connects until it is acknowledged, and never after;
# acknowledging twice is harmless; show and inbox respect the department
# and the view.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up

# A material-only concern: slf-samordnare gets it (full), nobody else.
oro report --json --client-key redelivery-1 --category extremist_symbols --urgency concern \
	--subject-kind material --setting public_space --district Bergshamra \
	--description "Stickers with symbols at the bus stop." >"$ORO_TEST_DIR/reply.json"
cn=$(jq -r .case_number "$ORO_TEST_DIR/reply.json")
wait_sql 1 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$cn'" ||
	fail "case $cn was not routed"
id=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$cn'")
check "[ '$(psql_q "SELECT department || ' ' || view || ' ' || state FROM delivery WHERE id = $id")' = 'slf-samordnare full pending' ]" \
	"delivery $id waits for slf-samordnare, nobody connected yet"

# First client: receives it, does not acknowledge.
oro inbox --department slf-samordnare --follow --max 1 --for 10 --json >"$ORO_TEST_DIR/first.out"
check "[ \"\$(jq -r .delivery.delivery_id $ORO_TEST_DIR/first.out)\" = $id ]" "a connecting client receives delivery $id"
wait_sql "sent 1" "SELECT state || ' ' || send_count FROM delivery WHERE id = $id" || fail "the sending was not recorded"
echo "ok: the sending is recorded"

# A client connecting later gets the same delivery id again.
oro inbox --department slf-samordnare --follow --max 1 --for 10 --json >"$ORO_TEST_DIR/second.out"
check "[ \"\$(jq -r .delivery.delivery_id $ORO_TEST_DIR/second.out)\" = $id ]" "a later client receives the same delivery id $id"

# Another department sees nothing of it.
check "! oro show $id --department polis >/dev/null 2>&1" "polis cannot show slf-samordnare's delivery"
oro show "$id" --department polis --json >"$ORO_TEST_DIR/show-polis.json" || true
check "jq -e '.error.code == \"not_found\"' $ORO_TEST_DIR/show-polis.json >/dev/null" "... with a not_found error"
check "! oro ack $id --department polis >/dev/null 2>&1" "polis cannot acknowledge it"
oro show "$id" --department slf-samordnare --json >"$ORO_TEST_DIR/show.json"
check "jq -e '.description == \"Stickers with symbols at the bus stop.\"' $ORO_TEST_DIR/show.json >/dev/null" \
	"its department sees the full content"
oro inbox --department slf-samordnare --json >"$ORO_TEST_DIR/inbox.json"
check "jq -e '.deliveries | length == 1 and (.[0].description | not)' $ORO_TEST_DIR/inbox.json >/dev/null" \
	"the inbox lists it without content"

# Acknowledge; again is harmless and reports the first acknowledgement.
ORO_PRINCIPAL=anna oro ack "$id" --department slf-samordnare --json >"$ORO_TEST_DIR/ack1.json"
ORO_PRINCIPAL=bertil oro ack "$id" --department slf-samordnare --json >"$ORO_TEST_DIR/ack2.json"
check "jq -e '.acknowledged.already == false and .acknowledged.acknowledged_by == \"anna\"' $ORO_TEST_DIR/ack1.json >/dev/null" \
	"acknowledged by anna"
check "jq -e '.acknowledged.already == true and .acknowledged.acknowledged_by == \"anna\"' $ORO_TEST_DIR/ack2.json >/dev/null" \
	"a second acknowledgement reports the first"
check "[ $(psql_q "SELECT count(*) FROM timeline WHERE delivery_id = $id AND event = 'acknowledged'") = 1 ]" \
	"one acknowledgement in the timeline"

# After the acknowledgement nobody gets it again.
if oro inbox --department slf-samordnare --follow --max 1 --for 3 --json >"$ORO_TEST_DIR/third.out"; then
	fail "an acknowledged delivery was sent again"
fi
check "[ ! -s $ORO_TEST_DIR/third.out ]" "an acknowledged delivery is not sent again"
oro inbox --department slf-samordnare --json >"$ORO_TEST_DIR/inbox2.json"
check "jq -e '.deliveries | length == 0' $ORO_TEST_DIR/inbox2.json >/dev/null" "the inbox is empty"
oro inbox --department slf-samordnare --all --json >"$ORO_TEST_DIR/inbox3.json"
check "jq -e '.deliveries | length == 1 and .[0].acknowledged_by == \"anna\"' $ORO_TEST_DIR/inbox3.json >/dev/null" \
	"--all still lists it, acknowledged"

# Unknown department and bad ids are refused with structured errors.
oro inbox --department nosuch --json >"$ORO_TEST_DIR/nosuch.json" || true
check "jq -e '.error.code == \"not_found\" and .error.field == \"department\"' $ORO_TEST_DIR/nosuch.json >/dev/null" \
	"an unknown department is not_found"
check "[ \"\$(oro ack 0 --department polis 2>&1; echo \$?)\" != 0 ]" "delivery id 0 is a usage error"
