#!/usr/bin/env bash
# Integration: escalation and reminders with a ruleset whose deadlines are
# seconds. An unacknowledged delivery escalates along the departments'
# chain (soc-barn -> socialjour -> slf-sakerhet -> slf-samordnare), each
# step a delivery of the same view and deadline, recorded in the timeline;
# the top raises an operator alert; an acknowledgement anywhere in the
# chain stops it; deadlines survive a restart of notify; reminders are sent
# with doubling intervals and counted.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_pg_start
cat >>"$ORO_CONFIG" <<CONF
reminder_initial_ms = 600
reminder_max_ms = 60000
CONF
stack_import "$ORO_REPO/tests/integration/data/escalation-rules.json"
for d in intake router notify; do daemon_start "$d"; done

child() {
	oro report --json --client-key "$1" --category violent_rhetoric --urgency concern --subject-kind child \
		--setting leisure --district Hagalund --description "Talks about violence." | jq -r .case_number
}
chain() { # case -> "department:origin:view" of every delivery in id order
	psql_q "SELECT string_agg(d.department || ':' || d.origin || ':' || d.view, ' ' ORDER BY d.id)
	        FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$1'"
}

# 1. Nobody acknowledges: the whole chain, then the operator alert.
c1=$(child escalate-all)
WAIT_FOR_TRIES=200 wait_sql 1 "SELECT count(*) FROM timeline t JOIN report r ON r.id = t.report_id
	WHERE r.case_number = '$c1' AND t.event = 'operator_alert'" || fail "$c1 never reached the operator alert: $(chain "$c1")"
check "[ '$(chain "$c1")' = 'soc-barn:rule:full socialjour:escalation:full slf-sakerhet:escalation:full slf-samordnare:escalation:full' ]" \
	"$c1 escalated soc-barn -> socialjour -> slf-sakerhet -> slf-samordnare, each with the full view"
check "[ $(psql_q "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c1'
                   AND (ack_within <> 2 OR priority <> 'P1' OR chain_id <> (SELECT min(id) FROM delivery WHERE report_id = r.id))") = 0 ]" \
	"every step keeps the deadline (2 s) and priority and belongs to one chain"
check "[ $(psql_q "SELECT count(*) FROM delivery c JOIN delivery p ON p.id = c.parent_id
                   WHERE c.origin = 'escalation' AND c.created_at < p.deadline") = 0 ]" \
	"no step escalated before its parent's deadline"
check "[ $(psql_q "SELECT count(*) FROM timeline t JOIN report r ON r.id = t.report_id WHERE r.case_number = '$c1' AND event = 'escalated'
                   AND detail->>'reason' = 'not acknowledged by its deadline'") = 3 ]" "three escalations in the case timeline, with the reason"
check "grep -q 'level=error.*event=operator_alert' '$ORO_TEST_DIR/notify.log'" "the operator alert is logged at error level"
daemon_signal() { kill -USR1 "$(daemon_pid notify)"; }
daemon_signal
wait_for grep -q 'event=status.*operator_alerts' "$ORO_TEST_DIR/notify.log" || fail "no status line on SIGUSR1"
echo "ok: SIGUSR1 makes notify log its status, with the operator_alerts counter"
sleep 1
check "[ $(psql_q "SELECT count(*) FROM timeline t JOIN report r ON r.id = t.report_id WHERE r.case_number = '$c1' AND event = 'operator_alert'") = 1 ]" \
	"the operator is alerted once"

# 2. An acknowledgement in the middle of the chain stops it.
c2=$(child ack-stops)
WAIT_FOR_TRIES=100 wait_sql 1 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id
	WHERE r.case_number = '$c2' AND d.department = 'socialjour'" || fail "$c2 did not escalate to socialjour"
d2=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c2' AND d.department = 'socialjour'")
oro ack "$d2" --department socialjour >/dev/null
sleep 4
check "[ '$(chain "$c2")' = 'soc-barn:rule:full socialjour:escalation:full' ]" \
	"acknowledged by socialjour: no further escalation of $c2 ($(chain "$c2"))"

# 3. Deadlines are stored: notify down through a deadline escalates at its start.
daemon_stop notify KILL
c3=$(child while-notify-down)
sleep 3
check "[ '$(chain "$c3")' = 'soc-barn:rule:full' ]" "$c3 past its deadline while notify is down: not escalated yet"
daemon_start notify
WAIT_FOR_TRIES=30 wait_sql 2 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c3'" ||
	fail "$c3 did not escalate after notify restarted"
echo "ok: $c3 escalated as soon as notify was back (deadlines come from stored times)"

# 4. A full view to the police escalates to its target (slf-sakerhet) with the basis kept.
c4=$(oro report --json --client-key police-escalates --category weapons --urgency concern --subject-kind adult \
	--setting public_space --district Råsunda --description "Shows a gun." | jq -r .case_number)
WAIT_FOR_TRIES=100 wait_sql 2 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c4'" ||
	fail "$c4 did not escalate"
check "[ '$(psql_q "SELECT department || ':' || view || ':' || coalesce(disclosure_basis, '-') FROM delivery d JOIN report r ON r.id = d.report_id
                    WHERE r.case_number = '$c4' AND origin = 'escalation'")' = 'slf-sakerhet:full:Misstanke om brott (suspected crime)' ]" \
	"the police delivery escalated to slf-sakerhet, full view, its disclosure basis kept"

# 5. Reminders: an unacknowledged delivery is sent again at doubling intervals.
c5=$(oro report --json --client-key remind-me --category other --urgency concern --subject-kind adult \
	--setting workplace --district Råsunda --description "Odd remarks." | jq -r .case_number)
wait_sql 1 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c5'" || fail "$c5"
oro inbox --department hr --follow --json --for 6 >"$ORO_TEST_DIR/hr.out" || true
seen=$(jq -s '[.[] | select(.delivery)] | length' "$ORO_TEST_DIR/hr.out")
count=$(psql_q "SELECT reminder_count FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c5'")
# 0.6 s, 1.2 s, 2.4 s (+ up to a sweep each): 3 reminders in 6 s, never one per sweep
check "[ $count -ge 2 ] && [ $count -le 4 ]" "reminders back off: $count reminders in 6 s (not 12, one per sweep)"
# a reminder sent as the client stopped is counted but not seen
check "[ $seen -eq $((count + 1)) ] || [ $seen -eq $count ]" "the client saw the delivery and each reminder: $seen times"
check "[ $(psql_q "SELECT send_count FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c5'") -eq $((count + 1)) ]" \
	"send_count records every sending"
