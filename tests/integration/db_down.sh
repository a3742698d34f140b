#!/usr/bin/env bash
# Integration: PostgreSQL unavailable (issue 4.3) and oro health (4.8).
#
# With the stack up, PostgreSQL stops (immediate shutdown) for about 10 s:
#   - oro report gets exit 3 and Error{unavailable} "... try again", never a
#     case number (request_retries 0: it answers at once);
#   - oro health exits 3;
#   - no daemon exits, none busy-loops (CPU time from /proc/PID/stat over
#     the outage under 1 s each), and each logs the outage without a flood;
#   - a report sent with retries while PostgreSQL comes back is filed
#     exactly once.
# PostgreSQL back, no daemon restarted: the department client that followed
# through the outage still follows; once every daemon has reconnected by
# itself, a new report is filed, routed, delivered to that client and
# acknowledged; oro health exits 0 and its JSON shows every
# daemon with its counters and the connected clients per department. Then
# unhealthy states: a report waiting for a stopped router with
# --health-max-unrouted 0, and an overdue delivery while oro-notify is
# stopped, each exit 1 with its reason; oro-notify started again escalates
# the overdue delivery once.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

outage_s=10
started=$SECONDS
stack_init
followers=()
# Stop the department clients, then tear the stack down.
db_down__on_exit() {
	local rc=$? pid
	set +e
	for pid in "${followers[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	stack_teardown "$rc"
	exit "$rc"
}
trap 'db_down__on_exit' EXIT
stack_up

# A concern that the default strategy sends to slf-samordnare only.
report() {
	oro report --json --client-key "$1" --category propaganda --urgency concern --subject-kind adult \
		--setting online --district Råsunda --description "Shares propaganda videos." "${@:2}"
}
# Start an acknowledging client of slf-samordnare in the background (output $1).
follow() {
	"$ORO_BIN/oro" inbox --department slf-samordnare --follow --ack --json --for 120 \
		>"$ORO_TEST_DIR/$1.out" 2>"$ORO_TEST_DIR/$1.err" &
	followers+=($!)
}
# The state of the delivery of the report filed with client key $1 (SQL).
STATE="SELECT d.state FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.client_key ="
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

follow before
report before-1 >/dev/null
wait_sql acknowledged "$STATE 'before-1'" ||
	fail "before the outage: the report was not acknowledged"
echo "ok: before the outage a report is filed, routed, delivered and acknowledged"

# ---------------------------------------------------------------- the outage
declare -A pid ticks0 lines0
for d in intake router notify; do
	pid[$d]=$(daemon_pid "$d")
	ticks0[$d]=$(proc_cpu_ticks "${pid[$d]}")
	lines0[$d]=$(wc -l <"$ORO_TEST_DIR/$d.log")
done
hz=$(getconf CLK_TCK)
stack_pg_crash
t_down=$(now_ms)
echo "PostgreSQL stopped (immediate shutdown)"

status=0
t=$(now_ms)
out=$(report down-1 --request-retries 0) || status=$?
took=$(($(now_ms) - t))
check "((status == 3))" "oro report while the database is down exits 3 (got $status, after $took ms)"
check_json "$out" '.error.code == "unavailable" and (.error.message | test("try again"))' \
	"... with Error{unavailable, \"$(jq -r .error.message <<<"$out")\"}"
check_json "$out" 'has("case_number") | not' "... and no case number"

status=0
health=$(oro health --json) || status=$?
check "((status == 3))" "oro health while the database is down exits 3"
check_json "$health" '.healthy == false and .database == "unreachable"' "... and says the database is unreachable"

# Most of the outage: then measure the daemons.
sleep "$(awk -v s="$outage_s" -v ms=$(($(now_ms) - t_down)) 'BEGIN { w = s - 1.5 - ms / 1000; print (w > 0 ? w : 0) }')"
# A report with retries while PostgreSQL comes back: filed once.
t_retry=$(now_ms)
oro report --json --client-key retry-1 --category propaganda --urgency concern --subject-kind adult \
	--setting online --district Råsunda --description "Shares propaganda videos." --request-retries 20 \
	>"$ORO_TEST_DIR/retry.json" 2>"$ORO_TEST_DIR/retry.err" &
retry_pid=$!
sleep 1.5
down_ms=$(($(now_ms) - t_down))
printf '  the database has been down for %d ms; per daemon: CPU time and log lines since it stopped\n' "$down_ms"
for d in intake router notify; do
	check "kill -0 ${pid[$d]}" "oro-$d (pid ${pid[$d]}) is still running"
	cpu_ms=$((($(proc_cpu_ticks "${pid[$d]}") - ticks0[$d]) * 1000 / hz))
	new=$(tail -n +"$((lines0[$d] + 1))" "$ORO_TEST_DIR/$d.log")
	# a refused request is logged once per request: those lines follow the clients, not a loop
	n_refused=$(grep -c 'request=refused' <<<"$new" || true)
	n_lines=$(($(grep -c . <<<"$new" || true) - n_refused))
	n_db=$(grep -c 'database=' <<<"$new" || true)
	printf '  oro-%-6s CPU %4d ms; %2d log lines besides %d refused requests; %d about the database: %s\n' "$d" \
		"$cpu_ms" "$n_lines" "$n_refused" "$n_db" \
		"$(grep -o 'database=[a-z]*' <<<"$new" | sort | uniq -c | awk '{ print $2 " x" $1 }' | paste -sd, -)"
	check "((cpu_ms < 1000))" "oro-$d does not busy-loop while the database is down (${cpu_ms} ms CPU in ${down_ms} ms)"
	check "((n_db >= 1))" "oro-$d logs that the database is gone"
	check "((n_lines <= 20))" "oro-$d does not flood its log ($n_lines lines in ${down_ms} ms besides refused requests)"
done

stack_pg_resume
t_up=$(now_ms)
echo "PostgreSQL started again after $((t_up - t_down)) ms"
pg_up=$(psql_q "SELECT now()")
status=0
wait "$retry_pid" || status=$?
retry_ms=$(($(now_ms) - t_retry))
tries=$(grep -c 'trying again' "$ORO_TEST_DIR/retry.err" || true)
check "((status == 0))" "the report sent with retries during the outage was filed (after $tries retries, $retry_ms ms)"
check "((tries >= 1))" "... it was answered unavailable at least once before"
check_json "$(cat "$ORO_TEST_DIR/retry.json")" '.case_number and .duplicate == false' \
	"... with case number $(jq -r .case_number "$ORO_TEST_DIR/retry.json")"
check "[ $(psql_q "SELECT count(*) FROM report WHERE client_key = 'retry-1'") = 1 ]" "... stored exactly once"
check "[ $(psql_q "SELECT count(*) FROM report WHERE client_key = 'down-1'") = 0 ]" \
	"the report refused as unavailable was not stored"

# ---------------------------------------------------------------- after the outage
for d in intake router notify; do
	check "[ '$(daemon_pid "$d")' = '${pid[$d]}' ] && kill -0 ${pid[$d]}" "oro-$d was not restarted (pid ${pid[$d]})"
done
if ! kill -0 "${followers[0]}" 2>/dev/null; then
	status=0
	wait "${followers[0]}" || status=$?
	fail "the department client following since before the outage gave up with status $status:" \
		"$(tr '\n' ' ' <"$ORO_TEST_DIR/before.err")$(jq -c 'select(.error)' "$ORO_TEST_DIR/before.out" 2>/dev/null | tr '\n' ' ')"
fi
echo "ok: the department client following since before the outage still follows" \
	"($(grep -c unavailable "$ORO_TEST_DIR/before.err" || true) heartbeats answered unavailable meanwhile)"
# Each daemon reconnects by itself (backoff up to db_retry_max_ms, 5 s) and writes its status.
WAIT_FOR_TRIES=200 wait_sql 3 "SELECT count(*) FROM daemon_status WHERE heartbeat_at > '$pg_up'" ||
	fail "not every daemon reconnected within 20 s of PostgreSQL's start"
echo "ok: every daemon reconnected and wrote its status within $(($(now_ms) - t_up)) ms of PostgreSQL's start"
report after-1 >"$ORO_TEST_DIR/after.json"
WAIT_FOR_TRIES=200 wait_sql acknowledged "$STATE 'after-1'" ||
	fail "after the outage: the new report was not routed, delivered and acknowledged within 20 s"
echo "ok: after the outage, without restarting a daemon, $(jq -r .case_number "$ORO_TEST_DIR/after.json") was filed, routed, delivered and acknowledged"
check "grep -q '\"case_number\":\"$(jq -r .case_number "$ORO_TEST_DIR/after.json")\"' '$ORO_TEST_DIR/before.out'" \
	"... by the client that followed through the outage"
wait_sql acknowledged "$STATE 'retry-1'" ||
	fail "the report filed during the outage was not delivered and acknowledged"
echo "ok: so was the report filed with retries during the outage"

if ! WAIT_FOR_TRIES=100 wait_for oro health >/dev/null; then
	oro health || true
	fail "oro health does not become healthy within 10 s"
fi
oro health
echo "ok: oro health exits 0"
sleep 1 # a sweep: the daemons' status then counts the last report
health=$(oro health --json)
check_json "$health" '.healthy == true and .database == "connected" and .ruleset == 1 and .reasons == []' \
	"oro health --json: healthy, database connected, ruleset 1, no reasons"
check_json "$health" '[.daemons[] | select(.live) | .daemon] | sort == ["oro-intake", "oro-notify", "oro-router"]' \
	"... one live instance of each daemon"
check_json "$health" '[.daemons[] | .details.counters | type] | all(. == "object")' "... each with its counters"
check_json "$health" '.daemons[] | select(.daemon == "oro-intake") | .details.counters.unavailable >= 1 and .details.counters.filed >= 3' \
	"... intake counted the refusal as unavailable and the reports filed"
check_json "$health" '.clients["slf-samordnare"] >= 1' "... and the department client connected to slf-samordnare"
check_json "$health" '.backlog | .unrouted == 0 and .overdue == 0' "... and no backlog"

# ---------------------------------------------------------------- unhealthy
daemon_stop router
report unrouted-1 >/dev/null
status=0
out=$(oro health --health-max-unrouted 0) || status=$?
check "((status == 1))" "a report waiting for a stopped router, --health-max-unrouted 0: oro health exits 1"
check "grep -q '1 reports wait for routing (more than 0)' <<<\"\$out\"" "... naming the reason: $(grep 'wait for routing' <<<"$out" | sed 's/^ *- //')"
status=0
out=$(oro health --json --health-max-unrouted 0) || status=$?
check_json "$out" '.healthy == false and .backlog.unrouted == 1 and any(.reasons[]; test("wait for routing"))' \
	"... also in --json (reasons: $(jq -c .reasons <<<"$out"))"

kill "${followers[-1]}" 2>/dev/null || true
daemon_stop notify
daemon_start router
wait_sql routed "SELECT state FROM report WHERE client_key = 'unrouted-1'" || fail "unrouted-1 was not routed"
psql_q "UPDATE delivery d SET deadline = now() - interval '1 minute' FROM report r
        WHERE r.id = d.report_id AND r.client_key = 'unrouted-1'"
status=0
out=$(oro health) || status=$?
check "((status == 1))" "an overdue delivery (oro-notify stopped): oro health exits 1"
check "grep -q '1 deliveries are overdue (more than 0)' <<<\"\$out\"" "... naming the reason: $(grep 'overdue (more' <<<"$out" | sed 's/^ *- //')"
out=$(oro health --json) || true
check_json "$out" '.backlog.overdue == 1 and any(.reasons[]; test("overdue"))' "... also in --json"
status=0
oro health --health-max-overdue 1 >/dev/null || status=$?
echo "  (with --health-max-overdue 1 it exits $status: the stopped oro-notify is a reason of its own)"

daemon_start notify
wait_sql 1 "SELECT count(*) FROM timeline t JOIN report r ON r.id = t.report_id
            WHERE r.client_key = 'unrouted-1' AND t.event IN ('escalated', 'operator_alert')" ||
	fail "oro-notify did not escalate the overdue delivery"
sleep 1
check "[ $(psql_q "SELECT count(*) FROM timeline t JOIN report r ON r.id = t.report_id
                  WHERE r.client_key = 'unrouted-1' AND t.event IN ('escalated', 'operator_alert')") = 1 ]" \
	"oro-notify started again escalates the overdue delivery once (slf-samordnare: operator alert)"
echo "db_down: passed in $((SECONDS - started)) s"
