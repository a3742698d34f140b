#!/usr/bin/env bash
# Integration: re-routing. The holder of a delivery (or the coordinator)
# closes it as re-routed and the target department gets a new delivery of
# the same view, priority and acknowledgement time, recorded in the
# timeline; a full view to the police needs a disclosure basis; nobody
# else may re-route.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up

# An association case: akf full, slf-samordnare notice.
oro report --json --client-key reroute-1 --category association_activity --urgency concern \
	--subject-kind association --setting leisure --district Hagalund --grant yes \
	--description "The association's leader praises an attack." >"$ORO_TEST_DIR/c.json"
cn=$(jq -r .case_number "$ORO_TEST_DIR/c.json")
wait_sql 2 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$cn'" ||
	fail "$cn not routed"
akf=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$cn' AND department = 'akf'")

out=$(oro reroute "$akf" --department buf --to soc-vuxen --reason "not ours" --json || true)
check_json "$out" '.error.code == "not_found"' "a department that does not hold the delivery cannot re-route it"
out=$(oro reroute "$akf" --department akf --to polis --reason "a crime is suspected" --json || true)
check_json "$out" '.error.code == "missing_field" and .error.field == "disclosure_basis"' \
	"a full view to the police without a disclosure basis is refused"
out=$(oro reroute "$akf" --department akf --to nosuch --reason "x" --json || true)
check_json "$out" '.error.code == "not_found" and .error.field == "to_department"' "an unknown target department is refused"
out=$(oro reroute "$akf" --department akf --to akf --reason "x" --json || true)
check_json "$out" '.error.code == "invalid_value"' "re-routing to the same department is refused"
check "[ '$(psql_q "SELECT state FROM delivery WHERE id = $akf")' = pending ]" "refusals changed nothing"

ORO_PRINCIPAL=handlaggare oro reroute "$akf" --department akf --to polis --reason "a crime is suspected" \
	--basis "Misstanke om brott (suspected crime)" --json >"$ORO_TEST_DIR/r.json"
new=$(jq -r .new_delivery_id "$ORO_TEST_DIR/r.json")
check "[ '$(psql_q "SELECT state || ' ' || rerouted_by || ' ' || reroute_reason FROM delivery WHERE id = $akf")' = 'rerouted handlaggare a crime is suspected' ]" \
	"the old delivery is closed as re-routed, by whom and why"
check "[ '$(psql_q "SELECT department || ' ' || view || ' ' || priority || ' ' || ack_within || ' ' || origin || ' ' || parent_id || ' ' || disclosure_basis FROM delivery WHERE id = $new")' = 'polis full P2 432000 reroute $akf Misstanke om brott (suspected crime)' ]" \
	"the police get a new delivery: same view, priority and time, its basis recorded"
check "[ $(psql_q "SELECT count(*) FROM timeline WHERE event = 'rerouted' AND delivery_id = $akf AND detail->>'to' = 'polis'") = 1 ]" \
	"the re-routing is in the case timeline"
oro inbox --department polis --follow --ack --max 1 --for 10 --json >"$ORO_TEST_DIR/polis.out"
check "[ \"\$(jq -r 'select(.delivery) | .delivery.delivery_id' $ORO_TEST_DIR/polis.out)\" = $new ]" \
	"the police client receives the new delivery"
out=$(oro ack "$akf" --department akf --json || true)
check_json "$out" '.error.code == "invalid_value"' "the closed delivery can no longer be acknowledged"
out=$(oro reroute "$akf" --department akf --to soc-vuxen --reason "again" --json || true)
check_json "$out" '.error.code == "invalid_value"' "a re-routed delivery cannot be re-routed again"

# The coordinator may send on any department's delivery; the open-copy guard holds.
notice=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$cn' AND department = 'slf-samordnare'")
out=$(oro reroute "$notice" --department slf-samordnare --to akf --reason "for the grants officer" --json)
check_json "$out" '.view == "notice" and .to_department == "akf"' "the coordinator re-routes its notice to akf"
oro report --json --client-key reroute-2 --category propaganda --urgency concern --subject-kind adult --age 30 \
	--setting online --district Råsunda --description "Posts propaganda." >"$ORO_TEST_DIR/c2.json"
cn2=$(jq -r .case_number "$ORO_TEST_DIR/c2.json")
wait_sql 1 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$cn2'" || fail "$cn2"
d2=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$cn2'")
out=$(oro reroute "$d2" --department slf-samordnare --to soc-vuxen --reason "adult support" --json)
check_json "$out" '.to_department == "soc-vuxen"' "the coordinator re-routes its own full delivery"
new2=$(jq -r .new_delivery_id <<<"$out")
out=$(oro reroute "$new2" --department slf-samordnare --to hr --reason "workplace matter" --json)
check_json "$out" '.to_department == "hr"' "the coordinator re-routes another department's delivery"
