#!/usr/bin/env bash
# Integration: the audit trail. Filing, sending, reading, acknowledging,
# re-routing, publishing rules and rotating keys each leave an entry, in
# the same transaction as the action; the police's disclosure basis is in
# the entry of each full delivery to them; each writing program appends to
# a chain of its own; the table refuses edits; and `oro audit verify` names
# the first entry (chain and id) modified, moved or deleted behind the
# trigger's back; a trail written before the chains (sql/010_audit_chains.sql)
# becomes the chain "all" and still verifies.
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
check_json "$out" '.chains | keys == ["oro", "oro-intake", "oro-notify"]' \
	"one chain per writing program: $(jq -c .chains <<<"$out")"
check "[ $(psql_q "SELECT count(*) FROM (SELECT chain FROM audit GROUP BY chain HAVING min(id) <> 1 OR max(id) <> count(*)) c") = 0 ]" \
	"each chain's ids run from 1 without a gap"
check "[ '$(oro audit verify)' = 'The audit trail is intact: $n entries verified (chains: $(jq -r '.chains | to_entries | map("\(.key) \(.value)") | join(", ")' <<<"$out")).' ]" \
	"the text output counts them per chain"

# The table refuses edits.
check "! psql_q \"UPDATE audit SET actor = 'mallory' WHERE chain = 'oro-notify' AND id = 3\" 2>/dev/null" "UPDATE of an audit row is refused"
check "! psql_q \"DELETE FROM audit WHERE chain = 'oro-notify' AND id = 3\" 2>/dev/null" "DELETE of an audit row is refused"

# Behind the trigger's back (a superuser): verify names the entry and its
# chain. The chains are verified in order of name: oro, oro-intake, then
# oro-notify, whose first two entries verify before entry 3.
tamper() { psql_q "ALTER TABLE audit DISABLE TRIGGER audit_append_only; $1; ALTER TABLE audit ENABLE TRIGGER audit_append_only" >/dev/null; }
before=$(psql_q "SELECT count(*) FROM audit WHERE chain IN ('oro', 'oro-intake')")
actor3=$(psql_q "SELECT actor FROM audit WHERE chain = 'oro-notify' AND id = 3")
tamper "UPDATE audit SET actor = 'mallory' WHERE chain = 'oro-notify' AND id = 3"
status=0
out=$(oro audit verify --json) || status=$?
check "[ $status = 1 ]" "verify exits 1 after a modification"
check_json "$out" ".ok == false and .chain == \"oro-notify\" and .entry == 3 and .problem == \"modified\" and .entries == $before + 2" \
	"... naming entry 3 of chain oro-notify as modified"
tamper "UPDATE audit SET actor = '$actor3' WHERE chain = 'oro-notify' AND id = 3"
oro audit verify >/dev/null || fail "the chain does not verify once entry 3 is restored"
echo "ok: restored, the chain verifies again"
# An entry of one chain moved to another no longer verifies: the MAC covers the chain's name.
last=$(psql_q "SELECT max(id) FROM audit WHERE chain = 'oro'")
tamper "UPDATE audit SET chain = 'oro-router', id = 1, prev_id = 0 WHERE chain = 'oro' AND id = $last"
status=0
out=$(oro audit verify --json) || status=$?
check_json "$out" '.ok == false and .chain == "oro-router" and .entry == 1 and .problem == "modified"' \
	"an entry moved to another chain is named as modified ($status)"
tamper "UPDATE audit SET chain = 'oro', id = $last, prev_id = $((last - 1)) WHERE chain = 'oro-router'"
oro audit verify >/dev/null || fail "the chain does not verify once the entry is back"
tamper "DELETE FROM audit WHERE chain = 'oro-notify' AND id = 2"
status=0
out=$(oro audit verify --json) || status=$?
check_json "$out" '.ok == false and .chain == "oro-notify" and .entry == 2 and .problem == "deleted"' \
	"a deleted entry 2 of chain oro-notify is named ($status)"
out=$(oro audit verify || true)
check "grep -q 'entry 2 of chain oro-notify deleted' <<<'$out'" "the text output names it too: $out"

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

# A trail written before sql/010_audit_chains.sql (one chain, MACs of the
# first canonical form, computed here with pgcrypto from the key file's
# audit key) is the chain "all" after it, and still verifies; an edit in it
# is still named.
psql_q "CREATE DATABASE legacy" >/dev/null
legacy="$ORO_DB dbname=legacy"
mkdir -p "$ORO_TEST_DIR/old/deploy" "$ORO_TEST_DIR/old/sql"
cp "$ORO_REPO/deploy/migrate" "$ORO_TEST_DIR/old/deploy/"
cp "$ORO_REPO"/sql/00[1-9]_*.sql "$ORO_TEST_DIR/old/sql/"
"$ORO_TEST_DIR/old/deploy/migrate" "$legacy" >/dev/null || fail "migrations 001-009 failed"
key=$(awk '$1 == "audit" { print $2 }' "$ORO_TEST_DIR/keys")
psql -XAtq -v ON_ERROR_STOP=1 "$legacy" >/dev/null <<SQL || fail "could not write a trail of the first form"
CREATE EXTENSION pgcrypto;
DO \$\$
DECLARE
    prev bytea := '\\x' || repeat('00', 32);
    at text;
    actions text[] := ARRAY['rules_published', 'rules_activated', 'keys_rotated'];
    canon text;
BEGIN
    FOR i IN 1..3 LOOP
        at := '2026-01-0' || i || 'T10:00:00.000000Z';
        canon := 'oro-audit-1;' || i || ';' || (i - 1) || ';' || length(at) || ':' || at || ';5:admin;'
            || length(actions[i]) || ':' || actions[i] || ';0:;0:;2:{};';
        prev := hmac(prev || convert_to(canon, 'UTF8'), decode('$key', 'hex'), 'sha256');
        INSERT INTO audit (id, prev_id, at, actor, action, detail, mac)
        VALUES (i, i - 1, at::timestamptz, 'admin', actions[i], '{}', prev);
    END LOOP;
END
\$\$;
SQL
"$ORO_REPO/deploy/migrate" "$legacy" >/dev/null || fail "migration 010 failed on a trail of the first form"
out=$(oro --database "$legacy" audit verify --json) || true
check_json "$out" '.ok == true and .chains == {"all": 3}' "after migration 010 it is the chain \"all\" and still verifies: $(jq -c . <<<"$out")"
psql -XAtq "$legacy" -c "ALTER TABLE audit DISABLE TRIGGER audit_append_only; UPDATE audit SET detail = '{\"x\":1}' WHERE id = 2" >/dev/null
out=$(oro --database "$legacy" audit verify --json) || true
check_json "$out" '.ok == false and .chain == "all" and .entry == 2 and .problem == "modified"' "an edit in it is named"
