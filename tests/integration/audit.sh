#!/usr/bin/env bash
# Integration: the audit trail. Filing, sending, reading, acknowledging,
# re-routing, publishing rules and rotating keys each leave an entry, in
# the same transaction as the action; the police's disclosure basis is in
# the entry of each full delivery to them; the table refuses edits; and
# `oro audit verify` names the first entry modified or deleted behind the
# trigger's back.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up

oro report --json --client-key audit-1 --category weapons --urgency concern --subject-kind adult --age 30 \
	--setting public_space --district Råsunda --description "Shows a weapon AUDITMARKER." >"$ORO_TEST_DIR/c1.json"
c1=$(jq -r .case_number "$ORO_TEST_DIR/c1.json")
wait_sql 0 "SELECT count(*) FROM report WHERE state <> 'routed'" || fail "not routed"
ORO_PRINCIPAL=officer oro inbox --department polis --follow --ack --max 1 --for 20 >/dev/null
pol=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c1' AND department = 'polis'")
ORO_PRINCIPAL=officer oro show "$pol" --department polis >/dev/null
sak=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c1' AND department = 'slf-sakerhet'")
ORO_PRINCIPAL=chief oro reroute "$sak" --department slf-sakerhet --to hr --reason "staff matter" >/dev/null
jq '.name = "v2"' "$ORO_REPO/sql/strategy/solna-v1.json" >"$ORO_TEST_DIR/v2.json"
ORO_PRINCIPAL=coordinator oro rules publish "$ORO_TEST_DIR/v2.json" >/dev/null
oro keys rotate >/dev/null 2>&1

actions=$(psql_q "SELECT string_agg(DISTINCT action, ' ' ORDER BY action) FROM audit")
for a in acknowledged delivery_read delivery_sent filed keys_rotated rerouted rules_published; do
	check "[[ ' $actions ' == *' $a '* ]]" "the audit trail records $a"
done
check "[ '$(psql_q "SELECT actor || ' ' || (detail::jsonb->>'view') FROM audit WHERE action = 'delivery_read'")' = 'officer full' ]" \
	"a read names the reader and the view"
check "[ '$(psql_q "SELECT detail::jsonb->>'disclosure_basis' FROM audit WHERE action = 'delivery_sent' AND delivery_id = $pol LIMIT 1")' = 'Misstanke om brott (suspected crime)' ]" \
	"the police delivery's disclosure basis is in its audit entry"
check "[ $(psql_q "SELECT count(*) FROM audit WHERE action = 'filed' AND actor = '$(id -un)' AND report_id IS NOT NULL") = 1 ]" \
	"the filing names the reporter and the report"
check "! psql_q \"SELECT 1 FROM audit WHERE detail LIKE '%AUDITMARKER%'\" | grep -q 1" "no sealed content in the audit trail"

out=$(oro audit verify --json)
n=$(jq .entries <<<"$out")
check_json "$out" '.ok == true and .entries >= 8' "oro audit verify: the chain of $n entries is intact"

# The table refuses edits.
check "! psql_q \"UPDATE audit SET actor = 'mallory' WHERE id = 3\" 2>/dev/null" "UPDATE of an audit row is refused"
check "! psql_q \"DELETE FROM audit WHERE id = 3\" 2>/dev/null" "DELETE of an audit row is refused"

# Behind the trigger's back (a superuser): verify names the entry.
tamper() { psql_q "ALTER TABLE audit DISABLE TRIGGER audit_append_only; $1; ALTER TABLE audit ENABLE TRIGGER audit_append_only" >/dev/null; }
actor3=$(psql_q "SELECT actor FROM audit WHERE id = 3")
tamper "UPDATE audit SET actor = 'mallory' WHERE id = 3"
status=0
out=$(oro audit verify --json) || status=$?
check "[ $status = 1 ]" "verify exits 1 after a modification"
check_json "$out" '.ok == false and .entry == 3 and .problem == "modified" and .entries == 2' "... naming entry 3 as modified"
tamper "UPDATE audit SET actor = '$actor3' WHERE id = 3"
oro audit verify >/dev/null || fail "the chain does not verify once entry 3 is restored"
echo "ok: restored, the chain verifies again"
tamper "DELETE FROM audit WHERE id = 5"
status=0
out=$(oro audit verify --json) || status=$?
check_json "$out" '.ok == false and .entry == 5 and .problem == "deleted"' "a deleted entry 5 is named ($status)"
out=$(oro audit verify || true)
check "grep -q 'entry 5 deleted' <<<'$out'" "the text output names it too: $out"

# Least privilege: each daemon is connected as its own role, and no daemon
# role may change the audit trail or the strategy.
check "[ '$(psql_q "SELECT string_agg(DISTINCT usename, ' ' ORDER BY usename) FROM pg_stat_activity
                    WHERE application_name IN ('oro-intake', 'oro-router', 'oro-notify')")' = 'oro_intake oro_notify oro_router' ]" \
	"the daemons are connected as oro_intake, oro_router and oro_notify"
as_role() { psql -XAtq -v ON_ERROR_STOP=1 "$ORO_DB user=$1" -c "$2" 2>&1 || true; }
for r in oro_intake oro_router oro_notify; do
	check "as_role $r 'UPDATE audit SET actor = actor WHERE id = 1' | grep -q 'permission denied'" "$r may not UPDATE audit rows"
	check "as_role $r 'DELETE FROM audit WHERE id = 1' | grep -q 'permission denied'" "$r may not DELETE audit rows"
	check "as_role $r 'SELECT count(*) FROM audit' | grep -qE '^[0-9]+$'" "$r may SELECT audit rows"
	check "as_role $r 'UPDATE ruleset_active SET version = version' | grep -q 'permission denied'" "$r may not switch the ruleset"
done
check "as_role oro_router 'SELECT count(*) FROM report_content' | grep -qE '^[0-9]+$' &&
       as_role oro_router 'UPDATE delivery SET state = state' | grep -q 'permission denied'" \
	"the router reads sealed rows (the age) but may not change deliveries"
check "as_role oro_intake 'UPDATE report SET state = state' | grep -q 'permission denied'" "intake may not change a filed report"
