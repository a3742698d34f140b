#!/usr/bin/env bash
# Integration: a department client that is slow to read. oro-notify queues
# at most client_queue_max deliveries for one connection (here 10); when
# that queue is full, the client falls behind: notify keeps it (it is alive,
# and heartbeats), holds the rest of its deliveries back, and sends them in
# id order, a page at a time, as its queue empties.
#
# The client (`oro inbox --follow --ack`) is stopped (SIGSTOP) while
# oro-load files ORO_SLOW_CONCERNS concerns (default 1,000) for its
# department, then continued. Checks: notify logged the client falling
# behind and never forgot it; meanwhile another department's client got
# its deliveries at once (the slow one's held-back deliveries, more than a
# page, do not hold up the others'); the slow client received every
# delivery exactly once, in increasing id order, and acknowledged each; the subscription
# backlog of a second client, which subscribes afterwards to as many open
# deliveries, comes in pages and whole.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

tools=${ORO_TEST_TOOLS:-$ORO_REPO/build/tests}
count=${ORO_SLOW_CONCERNS:-1000}
[[ -x $tools/oro-load ]] || fail "$tools/oro-load is not built"
started=$SECONDS

stack_init
stack_pg_start
stack_import
daemon_start intake
daemon_start router
# heartbeat 10 s: a client is forgotten only after 30 s of silence, longer than it is stopped
daemon_start notify --client-queue-max 10 --heartbeat-ms 10000
T=$ORO_TEST_DIR
endpoint=$(sed -n 's/^intake_endpoint = //p' "$ORO_CONFIG")

# Propaganda online, an adult: one full delivery to slf-samordnare.
cat >"$T/cases.json" <<'EOF'
[{"concern": {"category": "propaganda", "urgency": "concern", "subject": {"kind": "adult", "age": 30},
  "setting": "online", "district": "Råsunda", "description": "Posts propaganda videos from an extremist group."}}]
EOF
open_deliveries() {
	psql_q "SELECT count(*) FROM delivery WHERE department = 'slf-samordnare' AND state <> 'acknowledged'"
}

# its deliveries: the concerns, and the notices of 5 association cases below
total=$((count + 5))
# the binary itself, not the oro function: SIGSTOP must reach the client process
"$ORO_BIN/oro" inbox --department slf-samordnare --follow --ack --json --for 120 --max "$total" \
	>"$T/slow.out" 2>"$T/slow.err" &
slow=$!
wait_for grep -q "department=slf-samordnare .*event=subscribed" "$T/notify.log" || fail "the client did not subscribe"
kill -STOP "$slow"
"$tools/oro-load" --endpoint "$endpoint" --cases "$T/cases.json" --count "$count" --closed --concurrency 8 \
	--key-prefix slow --out "$T/load.jsonl" >"$T/load.out" 2>&1 || fail "oro-load failed: $(tail -3 "$T/load.out")"
WAIT_FOR_TRIES=300 wait_sql "$count" "SELECT count(*) FROM delivery WHERE department = 'slf-samordnare'" >/dev/null ||
	fail "the $count concerns were not routed within 30 s"
wait_for grep -q "department=slf-samordnare .*event=client_behind" "$T/notify.log" ||
	fail "notify did not see the stopped client's queue fill up"
echo "ok: $count concerns filed and routed while the client was stopped; notify: $(grep -m1 event=client_behind "$T/notify.log" | cut -c1-160)"
# Association cases go to akf (full) and slf-samordnare (notice).
oro inbox --department akf --follow --ack --json --for 20 --max 5 >"$T/akf.out" 2>"$T/akf.err" &
akf=$!
wait_for grep -q "department=akf .*event=subscribed" "$T/notify.log" || fail "the akf client did not subscribe"
for i in 1 2 3 4 5; do
	oro report --client-key "akf-$i" --category association_activity --urgency concern --subject-kind association \
		--setting leisure --district Hagalund --grant yes --description "The leader praises an attack." >/dev/null
done
status=0
wait "$akf" || status=$?
check "((status == 0)) && [ \$(jq -s '[.[] | select(.acknowledged)] | length' $T/akf.out) = 5 ]" \
	"akf's client got and acknowledged its 5 deliveries while slf-samordnare's was stopped and behind"
kill -CONT "$slow"
wait "$slow" || fail "the client failed, or did not get its $total deliveries within 120 s: $(tail -3 "$T/slow.err"); $(jq -s "[.[] | select(.delivery)] | length" "$T/slow.out") received"
wait_sql 0 "SELECT count(*) FROM delivery WHERE department = 'slf-samordnare' AND state <> 'acknowledged'" >/dev/null ||
	fail "$(open_deliveries) deliveries are still unacknowledged"

got=$(jq -r 'select(.delivery) | .delivery.delivery_id' "$T/slow.out")
check "[ $(wc -l <<<"$got") = $total ] && [ $(sort -u <<<"$got" | wc -l) = $total ]" \
	"the client received each of its $total deliveries exactly once ($(wc -l <<<"$got") received, $(sort -u <<<"$got" | wc -l) distinct)"
check "[ '$(sort -n <<<"$got" | md5sum)' = '$(md5sum <<<"$got")' ]" "... in increasing id order"
check "[ $(jq -s '[.[] | select(.acknowledged)] | length' "$T/slow.out") = $total ]" "... and acknowledged each"
check "! grep -q 'department=slf-samordnare .*event=client_gone' '$T/notify.log'" "notify never forgot the slow client"
sleep 1.2 # a status write
behind=$(psql_q "SELECT coalesce((details->'counters'->>'client_behind')::int, 0) FROM daemon_status WHERE daemon = 'oro-notify'")
check "((behind >= 1))" "notify's client_behind counter shows it ($behind)"

# ---------------------------------------------------------------- a backlog of several pages
"$tools/oro-load" --endpoint "$endpoint" --cases "$T/cases.json" --count 1200 --closed --concurrency 8 \
	--key-prefix backlog --out "$T/load2.jsonl" >"$T/load2.out" 2>&1 || fail "oro-load failed: $(tail -3 "$T/load2.out")"
WAIT_FOR_TRIES=300 wait_sql 1200 "SELECT count(*) FROM delivery WHERE department = 'slf-samordnare' AND state = 'pending'" \
	>/dev/null || fail "the 1,200 concerns were not routed within 30 s"
oro inbox --department slf-samordnare --follow --json --for 120 --max 1200 >"$T/backlog.out" 2>"$T/backlog.err" ||
	fail "the second client failed: $(cat "$T/backlog.err")"
got=$(jq -r 'select(.delivery) | .delivery.delivery_id' "$T/backlog.out")
want=$(psql_q "SELECT id FROM delivery WHERE department = 'slf-samordnare' AND state <> 'acknowledged' ORDER BY id")
check "[ '$(md5sum <<<"$got")' = '$(md5sum <<<"$want")' ]" \
	"a new client's backlog of 1,200 open deliveries (3 pages) came whole, once each, in id order ($(wc -l <<<"$got") received)"
echo "slow_client: passed in $((SECONDS - started)) s"
