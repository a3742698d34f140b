#!/usr/bin/env bash
# Integration: malformed frames, unknown message types, wrong versions,
# invalid UTF-8, oversized messages, invalid JSON and invalid concerns get
# structured errors (or, for oversized messages, are dropped by the socket)
# while the daemons keep serving, and nothing is stored.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up
probe() { "${ORO_TEST_TOOLS:-$ORO_REPO/build/tests}/oro-probe" "$@"; }
endpoint() { sed -n "s/^$1 = //p" "$ORO_CONFIG"; }
intake=$(endpoint intake_endpoint)
notify=$(endpoint notify_endpoint)

# expect ENDPOINT CODE FIELD DESCRIPTION FRAME...: the reply is Error{CODE, FIELD}.
expect() {
	local ep=$1 code=$2 field=$3 what=$4 out
	shift 4
	out=$(probe "$ep" "$@")
	check_json "$out" ".reply == \"error\" and .code == \"$code\" and .field == \"$field\"" \
		"$what -> $code ${field:-(no field)}"
}

for ep in "$intake" "$notify"; do
	name=$([ "$ep" = "$intake" ] && echo intake || echo notify)
	expect "$ep" malformed "" "$name: random bytes" - ffffffffffff
	expect "$ep" malformed "" "$name: no empty delimiter frame" 08016200
	expect "$ep" malformed "" "$name: an extra frame" - 08016200 00
	expect "$ep" bad_version version "$name: protocol version 2" - 08026200
	expect "$ep" bad_version version "$name: no protocol version" - 6200
	expect "$ep" unknown_type body "$name: a message type version 1 does not have (field 50)" - 0801920300
	expect "$ep" malformed follow_receipt "$name: an unknown field inside a message" - 080162021005
	expect "$ep" invalid_utf8 follow_receipt.receipt "$name: invalid UTF-8" - 080162040a02fffe
done
expect "$intake" unknown_type body "intake: a department's Subscribe" - 0801f20100
expect "$notify" unknown_type body "notify: a staff FileConcern" - 08015200
expect "$notify" missing_field department "notify: Subscribe without department" - 0801f20100

# Oversized: the socket drops it (and the connection); the daemon goes on.
out=$(probe "$intake" --timeout 1000 --zeros 100000 -)
check_json "$out" '.reply == null' "intake: a message over max_message_size gets no reply"

# Invalid concerns, validated by intake itself (--no-check skips the client's check).
concern() {
	oro report --json --no-check --client-key "bad-$RANDOM$RANDOM" --category propaganda --urgency concern \
		--subject-kind adult --setting online --district Råsunda --description "x" "$@" || true
}
expect_concern() {
	local code=$1 field=$2 what=$3 out
	shift 3
	out=$(concern "$@")
	check_json "$out" ".error.code == \"$code\" and .error.field == \"$field\"" \
		"intake refuses $what -> $code $field"
}
expect_concern invalid_value category "an unknown category" --category gossip
expect_concern invalid_value urgency "an unknown urgency" --urgency whenever
expect_concern invalid_value district "a district not in the strategy" --district Atlantis
expect_concern out_of_range subject.age "an age of 130" --age 130
expect_concern out_of_range subject.age "a child aged 19" --subject-kind child --age 19
expect_concern too_long description "an over-long description" --description "$(head -c 10001 /dev/zero | tr '\0' a)"
out=$(oro report --json --no-check --client-key bad-missing --category propaganda --urgency concern \
	--subject-kind adult --setting online --district Råsunda || true)
check_json "$out" '.error.code == "missing_field" and .error.field == "description"' \
	"intake refuses a concern without description -> missing_field description"

# Invalid JSON documents are refused by the client with a structured error.
printf '{"category": "propaganda",' >"$ORO_TEST_DIR/broken.json"
out=$(oro report --file "$ORO_TEST_DIR/broken.json" --json || true)
check_json "$out" '.error.code == "invalid_json"' "a truncated JSON document -> invalid_json"
printf '{"category": "propaganda", "colour": "red"}' >"$ORO_TEST_DIR/unknown.json"
out=$(oro report --file "$ORO_TEST_DIR/unknown.json" --json || true)
check_json "$out" '.error.code == "unknown_field" and .error.field == "colour"' "an unknown field -> unknown_field colour"
printf '{"category": "propaganda\xff"}' >"$ORO_TEST_DIR/latin1.json"
out=$(oro report --file "$ORO_TEST_DIR/latin1.json" --json || true)
check_json "$out" '.error.code == "invalid_json" or .error.code == "invalid_utf8"' "invalid UTF-8 in a document is refused"
status=0
oro report --file "$ORO_TEST_DIR/broken.json" >/dev/null 2>&1 || status=$?
check "[ $status = 1 ]" "a refused concern exits with status 1"

check "[ $(psql_q "SELECT count(*) FROM report") = 0 ]" "nothing was stored by any refused input"

# The daemons still serve well-behaved clients.
out=$(oro report --json --client-key good-after-bad --category propaganda --urgency concern --subject-kind adult \
	--setting online --district Råsunda --description "Posts propaganda.")
check_json "$out" '.case_number' "intake still files concerns"
oro inbox --department slf-samordnare --follow --ack --max 1 --for 20 >/dev/null ||
	fail "the department client did not receive the good concern"
wait_sql acknowledged "SELECT min(state) FROM delivery" || fail "the good concern was not delivered"
echo "ok: notify still delivers and records acknowledgements"
for d in intake router notify; do
	check "kill -0 $(daemon_pid $d)" "oro-$d is still running"
done
