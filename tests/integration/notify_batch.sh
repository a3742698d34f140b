#!/usr/bin/env bash
# Integration: oro-notify's group commit of acknowledgements. Requests that
# arrive together are recorded in one transaction, and each keeps the
# outcome it would have alone: two clients acknowledging the same
# deliveries (first wins, the second is confirmed as `already` with the
# first's time and principal); one batch mixing a new acknowledgement, a
# repeat, a re-routed delivery, an unknown one and another department's
# (each answered as if alone, a never-sent delivery getting its
# `delivered` entry); and a batch that fails as a whole (one delivery held
# locked past lock_timeout) is retried one acknowledgement at a time, so
# only the locked one fails. Timeline, audit entries and the audit chain
# stay exact.
#
# To make the batches, oro-notify runs with batch_wait_ms = 100 and is
# stopped (SIGSTOP) while the `oro ack` clients send, then continued.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_pg_start
stack_import
daemon_start intake
daemon_start router
daemon_start notify --batch-wait-ms 100

# The counter NAME of oro-notify as last written to daemon_status (0 when none).
notify_counter() {
	psql_q "SELECT coalesce((SELECT (details->'counters'->>'$1')::int FROM daemon_status WHERE daemon = 'oro-notify'), 0)"
}
# A counter read after the next status write (every sweep, 500 ms).
notify_counter_now() {
	sleep 1.2
	notify_counter "$1"
}
# File concern KEY: propaganda goes to slf-samordnare (full), an association
# case to akf (full) and slf-samordnare (notice). Prints the case number.
file_propaganda() {
	oro report --json --client-key "$1" --category propaganda --urgency concern --subject-kind adult --age 30 \
		--setting online --district Råsunda --description "Posts propaganda." | jq -r .case_number
}
file_association() {
	oro report --json --client-key "$1" --category association_activity --urgency concern \
		--subject-kind association --setting leisure --district Hagalund --grant yes \
		--description "The association's leader praises an attack." | jq -r .case_number
}
# The delivery of case CN to department DEPT, once routed.
delivery_of() {
	wait_sql 1 "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id
	            WHERE r.case_number = '$1' AND d.department = '$2'" >/dev/null || fail "$1 has no delivery to $2"
	psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id
	        WHERE r.case_number = '$1' AND d.department = '$2'"
}
# The recorded acknowledgement of delivery ID as the clients see it: "TIME BY".
acked_as() {
	psql_q "SELECT to_char(acknowledged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') || ' ' || acknowledged_by
	        FROM delivery WHERE id = $1"
}
# Clients started in the background, and waiting for them to end.
client_pids=()
clients_wait() {
	local p
	for p in "${client_pids[@]}"; do wait "$p" || true; done
	client_pids=()
}
# Stop oro-notify, start one `oro ack ID --department DEPT --json >OUT` as
# PRINCIPAL per line "ID DEPT PRINCIPAL OUT" of stdin, so that their
# requests wait on its socket together; continue it and wait for the answers.
acks_together() {
	local id dept principal out
	kill -STOP "$(daemon_pid notify)"
	while read -r id dept principal out; do
		ORO_PRINCIPAL=$principal oro ack "$id" --department "$dept" --json >"$out" 2>/dev/null &
		client_pids+=($!)
	done
	sleep 1
	kill -CONT "$(daemon_pid notify)"
	clients_wait
}
T=$ORO_TEST_DIR

# ---------------------------------------------------------------- two clients, the same deliveries
for p in clerk-a clerk-b; do
	ORO_PRINCIPAL=$p oro inbox --department slf-samordnare --follow --ack --max 6 --for 60 --json \
		>"$T/follow-$p.out" 2>"$T/follow-$p.err" &
	client_pids+=($!)
done
wait_for grep -q "principal=clerk-b event=subscribed" "$T/notify.log" || fail "the clients did not subscribe"
wait_for grep -q "principal=clerk-a event=subscribed" "$T/notify.log" || fail "the clients did not subscribe"
commits0=$(notify_counter ack_commits)
for i in 1 2 3 4 5 6; do file_propaganda "both-$i" >/dev/null; done
clients_wait
for p in clerk-a clerk-b; do
	check "[ \$(jq -s '[.[] | select(.acknowledged)] | length' $T/follow-$p.out) = 6 ]" \
		"$p got a confirmation of each of the 6 deliveries"
done
ids=$(jq -r 'select(.acknowledged) | .acknowledged.delivery_id' "$T/follow-clerk-a.out" | sort -n)
for id in $ids; do
	pair=$(jq -s -c --argjson id "$id" '[.[] | select(.acknowledged.delivery_id == $id) | .acknowledged]' \
		"$T/follow-clerk-a.out" "$T/follow-clerk-b.out")
	check_json "$pair" 'length == 2 and ([.[] | select(.already | not)] | length) == 1' \
		"delivery $id: one client's acknowledgement recorded, the other's confirmed as already"
	want=$(acked_as "$id")
	check_json "$pair" "all(.acknowledged_at + \" \" + .acknowledged_by == \"$want\") and
		(.[] | select(.already | not) | .acknowledged_by) == \"${want#* }\"" \
		"delivery $id: both confirmations name the recorded (first) acknowledgement: $want"
done
commits=$(($(notify_counter_now ack_commits) - commits0))
echo "12 acknowledgements of 6 deliveries took $commits commits"
check "[ $commits -ge 1 ] && [ $commits -lt 12 ]" "acknowledgements that arrived together shared a commit"
first_acked=$(head -1 <<<"$ids")
first_acked_as=$(acked_as "$first_acked")

# ---------------------------------------------------------------- one batch, every outcome
p_cn=$(file_association mixed-p)
q_cn=$(file_association mixed-q)
p_akf=$(delivery_of "$p_cn" akf)
p_slf=$(delivery_of "$p_cn" slf-samordnare)
q_akf=$(delivery_of "$q_cn" akf)
oro reroute "$q_akf" --department akf --to soc-vuxen --reason "adult support" --json >/dev/null ||
	fail "re-routing $q_akf failed"
states=$(psql_q "SELECT string_agg(state, ',') FROM delivery WHERE id IN ($p_akf, $p_slf)")
check "[ '$states' = 'pending,pending' ]" \
	"the association case's deliveries were never sent (no akf or slf-samordnare client is connected)"
commits0=$(notify_counter_now ack_commits)
acks_together <<EOF
$p_akf akf handlaggare-1 $T/m1.json
$p_akf akf handlaggare-2 $T/m2.json
$first_acked slf-samordnare clerk-c $T/m3.json
$q_akf akf handlaggare-1 $T/m4.json
99999999 akf handlaggare-1 $T/m5.json
$p_slf akf handlaggare-1 $T/m6.json
$p_slf slf-samordnare clerk-s $T/m7.json
EOF
commits=$(($(notify_counter_now ack_commits) - commits0))
echo "7 acknowledgements sent together took $commits commits"
check "[ $commits -ge 1 ] && [ $commits -lt 7 ]" "they shared a commit"
pair=$(jq -s -c '[.[].acknowledged]' "$T/m1.json" "$T/m2.json")
want=$(acked_as "$p_akf")
check_json "$pair" "length == 2 and ([.[] | select(.already | not)] | length) == 1 and
	all(.acknowledged_at + \" \" + .acknowledged_by == \"$want\") and
	(.[] | select(.already | not) | .acknowledged_by) == \"${want#* }\"" \
	"two acknowledgements of one delivery in a batch: the first recorded, the second already ($want)"
check_json "$(cat "$T/m3.json")" ".acknowledged.already == true and
	.acknowledged.acknowledged_at + \" \" + .acknowledged.acknowledged_by == \"$first_acked_as\"" \
	"a repeat is confirmed as already, with the first acknowledgement's time and principal"
check_json "$(cat "$T/m4.json")" '.error.code == "invalid_value" and .error.field == "delivery_id"' \
	"a re-routed delivery cannot be acknowledged"
check_json "$(cat "$T/m5.json")" '.error.code == "not_found"' "an unknown delivery is not found"
check_json "$(cat "$T/m6.json")" '.error.code == "not_found"' "another department's delivery is not found"
check_json "$(cat "$T/m7.json")" ".acknowledged.already == false and .acknowledged.acknowledged_by == \"clerk-s\"" \
	"a new acknowledgement among them is recorded"
check "[ '$(psql_q "SELECT state FROM delivery WHERE id = $q_akf")' = rerouted ]" "the re-routed delivery stays re-routed"
for id in $p_akf $p_slf; do
	by=$(psql_q "SELECT acknowledged_by FROM delivery WHERE id = $id")
	got=$(psql_q "SELECT string_agg(event || ':' || actor, ',' ORDER BY event) FROM timeline
	              WHERE delivery_id = $id AND event IN ('delivered', 'acknowledged')")
	check "[ '$got' = 'acknowledged:$by,delivered:$by' ]" \
		"delivery $id (never sent): one delivered and one acknowledged entry, by the acknowledging principal $by"
done

# ---------------------------------------------------------------- a batch that fails as a whole
r_cn=$(file_association fallback-r)
s_cn=$(file_association fallback-s)
r_akf=$(delivery_of "$r_cn" akf)
r_slf=$(delivery_of "$r_cn" slf-samordnare)
s_akf=$(delivery_of "$s_cn" akf)
s_slf=$(delivery_of "$s_cn" slf-samordnare)
psql_q "ALTER ROLE oro_notify SET lock_timeout = '300ms'" >/dev/null
daemon_stop notify
daemon_start notify --batch-wait-ms 100
# Hold r_akf locked for 4 s: the batch that holds it fails (55P03), and so does r_akf alone.
PGAPPNAME=locker psql -XAtq -d "$ORO_DB" \
	-c "BEGIN; SELECT 1 FROM delivery WHERE id = $r_akf FOR UPDATE; SELECT pg_sleep(4); COMMIT" >/dev/null &
locker=$!
wait_sql 1 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'locker' AND wait_event = 'PgSleep'" ||
	fail "the locker did not start"
acks_together <<EOF
$r_slf slf-samordnare clerk-s $T/f1.json
$r_akf akf handlaggare-1 $T/f2.json
$s_akf akf handlaggare-1 $T/f3.json
$s_slf slf-samordnare clerk-s $T/f4.json
EOF
wait "$locker" || fail "the locker failed"
grep -q "event=ack_batch_failed" "$T/notify.log" || fail "the batch did not fail as a whole: $(tail -5 "$T/notify.log")"
echo "ok: the batch failed as a whole and was retried one acknowledgement at a time"
check_json "$(cat "$T/f2.json")" '.error.code == "internal"' "the locked delivery alone fails"
for f in f1 f3 f4; do
	check_json "$(cat "$T/$f.json")" '.acknowledged.already == false' \
		"the others are recorded, each in its own transaction ($f)"
done
check "[ '$(psql_q "SELECT state FROM delivery WHERE id = $r_akf")' = pending ]" "the failed one is still open"
out=$(ORO_PRINCIPAL=handlaggare-1 oro ack "$r_akf" --department akf --json)
check_json "$out" '.acknowledged.already == false' "... and is acknowledged once the lock is gone"
psql_q "ALTER ROLE oro_notify RESET lock_timeout" >/dev/null

# ---------------------------------------------------------------- the records
check "[ $(psql_q "SELECT count(*) FROM delivery d WHERE d.state = 'acknowledged' AND (
	(SELECT count(*) FROM timeline t WHERE t.delivery_id = d.id AND t.event = 'acknowledged') <> 1 OR
	(SELECT count(*) FROM timeline t WHERE t.delivery_id = d.id AND t.event = 'delivered') <> 1 OR
	(SELECT count(*) FROM audit a WHERE a.delivery_id = d.id AND a.action = 'acknowledged') <> 1)") = 0 ]" \
	"each acknowledged delivery has one acknowledged and one delivered timeline entry and one audit entry"
check "[ $(psql_q "SELECT count(*) FROM audit WHERE action = 'acknowledged'") = $(psql_q "SELECT count(*) FROM delivery WHERE state = 'acknowledged'") ]" \
	"no audit entry for an acknowledgement that was not recorded"
check_json "$(oro audit verify --json)" '.ok == true' "the audit chain is intact"
