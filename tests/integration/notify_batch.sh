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
# only the locked one fails; when new deliveries were pushed in the same
# turn, their sendings (recorded in that transaction) are recorded alone
# and pushed once. While one turn is being recorded (held up by a lock),
# what is routed meanwhile is pushed, and the deliveries of the turn are
# not pushed again. With record_wait_ms a sending is recorded that long
# after the push, written once with an acknowledgement that came meanwhile.
# Timeline, audit entries and the audit chain stay exact.
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
# A counter as it is now: oro-notify writes its status at once on SIGUSR1.
notify_counter_fresh() {
	local before
	before=$(psql_q "SELECT heartbeat_at FROM daemon_status WHERE daemon = 'oro-notify'")
	kill -USR1 "$(daemon_pid notify)"
	wait_sql t "SELECT heartbeat_at > '$before' FROM daemon_status WHERE daemon = 'oro-notify'" >/dev/null ||
		fail "oro-notify wrote no status"
	notify_counter "$1"
}
# File concern KEY: propaganda goes to slf-samordnare (full), an employee's
# to hr (full) and others, an association case to akf (full) and
# slf-samordnare (notice). Prints the case number.
file_propaganda() {
	oro report --json --client-key "$1" --category propaganda --urgency concern --subject-kind adult --age 30 \
		--setting online --district Råsunda --description "Posts propaganda." | jq -r .case_number
}
file_employee() {
	oro report --json --client-key "$1" --category propaganda --urgency concern --subject-kind employee \
		--age 40 --setting workplace --district Råsunda --description "Shares propaganda at work." | jq -r .case_number
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

# ---------------------------------------------------------------- a turn's sendings with a batch that fails
# A new delivery pushed in the same turn of the loop is recorded in the
# acknowledgements' transaction; when that fails as a whole, the sending is
# recorded alone (so it is not pushed again) and the acknowledgements one
# at a time. To make the turn, oro-notify's committer is held in the
# acknowledgement of a locked delivery, and its main thread waits for that
# turn before it answers a `show` (which it audits), while two
# acknowledgements (one of a delivery that a trigger refuses to update) and
# the new delivery's prompt queue up: its next turn of the loop reads the
# acknowledgements, then the prompt, and pushes.
t_cn=$(file_association fallback-t)
t_akf=$(delivery_of "$t_cn" akf)
t_slf=$(delivery_of "$t_cn" slf-samordnare)
b_akf=$(delivery_of "$(file_association fallback-b)" akf)
psql_q "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN RAISE EXCEPTION 'refused by the test'; END \$\$;
        CREATE TRIGGER test_refuse BEFORE UPDATE ON delivery FOR EACH ROW WHEN (OLD.id = $t_akf)
        EXECUTE FUNCTION test_refuse()" >/dev/null
daemon_stop notify
# heartbeats of 5 s: the client must not take notify's wait for a lost connection; no sweep
# meanwhile, which would push the new delivery before the acknowledgements are read; no
# record_wait_ms, which would leave the sending just pushed for a turn of its own
daemon_start notify --heartbeat-ms 5000 --sweep-interval-ms 60000 --record-wait-ms 0
oro inbox --department hr --follow --json --for 20 --max 1 >"$T/follow.out" 2>"$T/follow.err" &
follower=$!
wait_for grep -q "department=hr .*event=subscribed" "$T/notify.log" || fail "the hr client did not subscribe"
PGAPPNAME=locker psql -XAtq -d "$ORO_DB" \
	-c "BEGIN; SELECT 1 FROM delivery WHERE id = $b_akf FOR UPDATE; SELECT pg_sleep(4); COMMIT" >/dev/null &
locker=$!
wait_sql 1 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'locker' AND wait_event = 'PgSleep'" ||
	fail "the locker did not start"
ORO_PRINCIPAL=handlaggare-1 oro ack "$b_akf" --department akf --json >"$T/t0.json" 2>/dev/null &
client_pids+=($!)
wait_sql 1 "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'oro-notify%' AND wait_event_type = 'Lock'" ||
	fail "oro-notify did not wait for the locked delivery"
ORO_PRINCIPAL=clerk-s oro show "$t_slf" --department slf-samordnare --json >/dev/null 2>&1 &
client_pids+=($!)
sleep 0.5
ORO_PRINCIPAL=handlaggare-1 oro ack "$t_akf" --department akf --json >"$T/t1.json" 2>/dev/null &
client_pids+=($!)
ORO_PRINCIPAL=clerk-s oro ack "$t_slf" --department slf-samordnare --json >"$T/t2.json" 2>/dev/null &
client_pids+=($!)
# an employee: hr (and slf-sakerhet and slf-samordnare, which have no client)
u_hr=$(delivery_of "$(file_employee employee-u)" hr)
[ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'locker' AND wait_event = 'PgSleep'")" = 1 ] ||
	fail "the locker ended before the acknowledgements and the prompt were queued"
wait "$locker" || fail "the locker failed"
clients_wait
wait "$follower" || fail "the hr client failed: $(cat "$T/follow.err")"
psql_q "DROP TRIGGER test_refuse ON delivery; DROP FUNCTION test_refuse()" >/dev/null
grep -q "deliveries=1 acks=2 event=turn_record_failed .*action=separately" "$T/notify.log" ||
	fail "the turn's transaction did not fail as a whole: $(tail -5 "$T/notify.log")"
echo "ok: the turn's transaction (one sending, two acknowledgements) failed as a whole"
check_json "$(cat "$T/t0.json")" '.acknowledged.already == false' "the locked delivery is acknowledged once free"
check_json "$(cat "$T/t1.json")" '.error.code == "internal"' "the refused acknowledgement fails"
check_json "$(cat "$T/t2.json")" '.acknowledged.already == false' "the other one is recorded"
check "[ '$(jq -r 'select(.delivery) | .delivery.delivery_id' "$T/follow.out")' = '$u_hr' ]" "the new delivery reached the client"
check "[ '$(psql_q "SELECT state || ' ' || send_count FROM delivery WHERE id = $u_hr")' = 'sent 1' ]" \
	"its sending is recorded, once"
check "[ '$(psql_q "SELECT (SELECT count(*) FROM timeline WHERE delivery_id = $u_hr AND event = 'delivered') || ' ' ||
                           (SELECT count(*) FROM audit WHERE delivery_id = $u_hr AND action = 'delivery_sent')")' = '1 1' ]" \
	"with one delivered entry and one audit entry"
out=$(ORO_PRINCIPAL=handlaggare-1 oro ack "$t_akf" --department akf --json)
check_json "$out" '.acknowledged.already == false' "the refused one is acknowledged once the trigger is gone"

# ---------------------------------------------------------------- pushing while a turn is recorded
# The committer records a turn on its own connection while the main thread
# pushes what is routed meanwhile. A lock on oro-notify's audit chain holds
# a turn up after its statements: its deliveries stay pending to every
# other session until it commits, yet the next push must not send them
# again. Two ways in: (1) the rows of a new client's backlog, above notify's
# high-water mark; (2) a delivery pushed as new, below it once pushed.
# Held for 5 s, or for $1 s unless release_chain ends it first.
lock_chain() {
	PGAPPNAME=locker psql -XAtq -d "$ORO_DB" \
		-c "BEGIN; SELECT pg_advisory_xact_lock(727001, hashtext('oro-notify')); SELECT pg_sleep(${1:-5}); COMMIT" \
		>/dev/null &
	locker=$!
	wait_sql 1 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'locker' AND wait_event = 'PgSleep'" ||
		fail "the locker did not start"
}
release_chain() {
	psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'locker'" >/dev/null
	wait "$locker" 2>/dev/null || true
}
notify_waits() {
	wait_sql 1 "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'oro-notify%' AND wait_event_type = 'Lock'" ||
		fail "oro-notify's turn did not wait for the audit chain: $1"
}
locked() {
	[ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'locker' AND wait_event = 'PgSleep'")" = 1 ]
}
# how many times the client whose output is $1 got delivery $2 (grep's status: whether at all)
received() { jq -r 'select(.delivery) | .delivery.delivery_id' "$1" | grep -cx "$2"; }
# wait until the client whose output is $1 got delivery $2
await() {
	wait_for received "$1" "$2" >/dev/null ||
		fail "delivery $2 did not reach the client, which got: $(jq -r 'select(.delivery) | .delivery.delivery_id' "$1" | xargs)"
}
# the state and sendings of deliveries $@, as "state count,..."
sendings() { psql_q "SELECT string_agg(state || ' ' || send_count, ',' ORDER BY id) FROM delivery WHERE id IN ($(IFS=,; echo "$*"))"; }
open_hr() { psql_q "SELECT count(*) FROM delivery WHERE department = 'hr' AND state IN ('pending', 'sent')"; }
# NEW was routed while the turn with the sending of HELD was held up: the client (output OUT,
# $follower) got NEW before the lock ended, each of the two once, and each sending is recorded once.
pushed_meanwhile() {
	local out=$1 held=$2 new=$3
	await "$out" "$new"
	check locked "$new reached the client while the sending of $held was being recorded"
	wait "$locker" || fail "the locker failed"
	wait "$follower" || fail "the hr client failed: $(cat "${out%.out}.err")"
	check "[ $(received "$out" "$held") = 1 ] && [ $(received "$out" "$new") = 1 ]" \
		"the client got each of $held and $new once"
	check "[ '$(sendings "$held" "$new")' = 'sent 1,sent 1' ]" "both sendings are recorded, once each"
}

# (1) E waits for an hr client, above the high-water mark of a restarted notify; no sweep
# meanwhile, which waits for the turn in flight before it escalates, reminds or reloads keys
daemon_stop notify
daemon_start notify --heartbeat-ms 5000 --sweep-interval-ms 60000
e_hr=$(delivery_of "$(file_employee flight-e)" hr)
lock_chain
oro inbox --department hr --follow --json --for 30 --max $(($(open_hr) + 1)) >"$T/flight1.out" 2>"$T/flight1.err" &
follower=$!
notify_waits "the backlog's sendings"
pushed_meanwhile "$T/flight1.out" "$e_hr" "$(delivery_of "$(file_employee flight-f)" hr)"

# (2) G is pushed as new, and H while the sending of G is being recorded
oro inbox --department hr --follow --json --for 30 --max $(($(open_hr) + 2)) >"$T/flight2.out" 2>"$T/flight2.err" &
follower=$!
wait_sql 2 "SELECT send_count FROM delivery WHERE id = $e_hr" >/dev/null ||
	fail "the second hr client's backlog was not recorded"
lock_chain
g_hr=$(delivery_of "$(file_employee flight-g)" hr)
await "$T/flight2.out" "$g_hr"
notify_waits "the sending of $g_hr"
pushed_meanwhile "$T/flight2.out" "$g_hr" "$(delivery_of "$(file_employee flight-h)" hr)"
check "[ $(psql_q "SELECT count(*) FROM timeline WHERE report_id IN (SELECT id FROM report WHERE client_key LIKE 'flight-%')
                   AND department = 'hr' AND event = 'delivered'") = 4 ]" "with one delivered entry each"

# (3) While the sending of K is being recorded, L is pushed (its sending queued for the next
# turn) and acknowledged, and then M is pushed: pushing does not wait for the turn in flight.
# The next turn records L's sending and acknowledgement together, in one write of the row.
oro inbox --department hr --follow --json --for 30 --max $(($(open_hr) + 3)) >"$T/flight3.out" 2>"$T/flight3.err" &
follower=$!
wait_sql 0 "SELECT count(*) FROM delivery WHERE department = 'hr' AND state = 'pending'" >/dev/null ||
	fail "the third hr client's backlog was not recorded"
lock_chain 60 # until release_chain
k_hr=$(delivery_of "$(file_employee flight-k)" hr)
await "$T/flight3.out" "$k_hr"
notify_waits "the sending of $k_hr"
l_hr=$(delivery_of "$(file_employee flight-l)" hr)
await "$T/flight3.out" "$l_hr"
acks0=$(notify_counter_fresh ack_requests)
ORO_PRINCIPAL=handlaggare-1 oro ack "$l_hr" --department hr --json >"$T/flight3.ack" 2>/dev/null &
acker=$!
ack_read() { (($(notify_counter_fresh ack_requests) > acks0)); }
wait_for ack_read || fail "oro-notify did not read the acknowledgement of $l_hr"
m_hr=$(delivery_of "$(file_employee flight-m)" hr)
await "$T/flight3.out" "$m_hr"
check locked "$l_hr and $m_hr reached the client one after the other, and the acknowledgement of $l_hr was read, while the sending of $k_hr was being recorded"
release_chain
wait "$acker" || fail "the acknowledgement of $l_hr failed"
wait "$follower" || fail "the hr client failed: $(cat "$T/flight3.err")"
check "[ $(received "$T/flight3.out" "$k_hr")$(received "$T/flight3.out" "$l_hr")$(received "$T/flight3.out" "$m_hr") = 111 ]" \
	"the client got each of $k_hr, $l_hr and $m_hr once"
check_json "$(cat "$T/flight3.ack")" '.acknowledged.already == false' "the acknowledgement of $l_hr is confirmed"
check "[ '$(sendings "$k_hr" "$l_hr" "$m_hr")' = 'sent 1,acknowledged 0,sent 1' ]" \
	"$l_hr was written once, acknowledged with its sending (no separate sending record)"
check "[ '$(psql_q "SELECT string_agg(event || ' ' || (actor = (SELECT actor FROM timeline WHERE delivery_id = $m_hr
                    AND event = 'delivered')), ',' ORDER BY id) FROM timeline WHERE delivery_id = $l_hr")' = 'delivered true,acknowledged false' ]" \
	"its timeline: delivered, by oro-notify as $m_hr was, then acknowledged"
check "[ '$(psql_q "SELECT string_agg(action, ',' ORDER BY id) FROM audit WHERE delivery_id = $l_hr")' = 'delivery_sent,acknowledged' ]" \
	"its audit entries: sent, then acknowledged"

# (4) record_wait_ms: a sending is recorded that long after the push, and the acknowledgement
# that comes meanwhile joins it (the row written once); one not acknowledged is recorded as sent.
daemon_stop notify
daemon_start notify --heartbeat-ms 5000 --sweep-interval-ms 60000 --record-wait-ms 3000
oro inbox --department hr --follow --json --for 30 --max $(($(open_hr) + 2)) >"$T/wait.out" 2>"$T/wait.err" &
follower=$!
WAIT_FOR_TRIES=200 wait_sql 0 "SELECT count(*) FROM delivery WHERE department = 'hr' AND state = 'pending'" >/dev/null ||
	fail "the fourth hr client's backlog was not recorded"
p_hr=$(delivery_of "$(file_employee wait-p)" hr)
await "$T/wait.out" "$p_hr"
check "[ '$(sendings "$p_hr")' = 'pending 0' ]" "$p_hr reached the client and its sending is not recorded yet"
ORO_PRINCIPAL=handlaggare-1 oro ack "$p_hr" --department hr --json >"$T/wait.ack" 2>/dev/null &
acker=$!
q_hr=$(delivery_of "$(file_employee wait-q)" hr)
await "$T/wait.out" "$q_hr"
check "[ '$(sendings "$q_hr")' = 'pending 0' ]" "$q_hr reached the client and its sending is not recorded yet"
wait "$acker" || fail "the acknowledgement of $p_hr failed"
check_json "$(cat "$T/wait.ack")" '.acknowledged.already == false' "the acknowledgement of $p_hr is confirmed"
check "[ '$(sendings "$p_hr")' = 'acknowledged 0' ]" "$p_hr was written once, acknowledged with its sending"
WAIT_FOR_TRIES=100 wait_sql 'sent 1' "SELECT state || ' ' || send_count FROM delivery WHERE id = $q_hr" >/dev/null ||
	fail "the sending of $q_hr was not recorded"
echo "ok: $q_hr, not acknowledged, is recorded as sent once the wait is over"
check "[ '$(psql_q "SELECT string_agg(event || ' ' || (actor = (SELECT actor FROM timeline WHERE delivery_id = $q_hr
                    AND event = 'delivered')), ',' ORDER BY id) FROM timeline WHERE delivery_id = $p_hr")' = 'delivered true,acknowledged false' ]" \
	"the timeline of $p_hr: delivered, by oro-notify as $q_hr was, then acknowledged"
wait "$follower" || fail "the hr client failed: $(cat "$T/wait.err")"

# ---------------------------------------------------------------- the records
check "[ $(psql_q "SELECT count(*) FROM delivery d WHERE d.state = 'acknowledged' AND (
	(SELECT count(*) FROM timeline t WHERE t.delivery_id = d.id AND t.event = 'acknowledged') <> 1 OR
	(SELECT count(*) FROM timeline t WHERE t.delivery_id = d.id AND t.event = 'delivered') <> 1 OR
	(SELECT count(*) FROM audit a WHERE a.delivery_id = d.id AND a.action = 'acknowledged') <> 1)") = 0 ]" \
	"each acknowledged delivery has one acknowledged and one delivered timeline entry and one audit entry"
check "[ $(psql_q "SELECT count(*) FROM audit WHERE action = 'acknowledged'") = $(psql_q "SELECT count(*) FROM delivery WHERE state = 'acknowledged'") ]" \
	"no audit entry for an acknowledgement that was not recorded"
check_json "$(oro audit verify --json)" '.ok == true' "the audit chain is intact"
