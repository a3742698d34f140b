#!/usr/bin/env bash
# Integration, crash test: nothing accepted is lost or doubled through
# SIGKILL of every daemon at random moments, an immediate PostgreSQL
# restart, and department clients killed and restarted.
#
# oro-load files ORO_CRASH_CONCERNS concerns (default 3000, never fewer than
# 2000) at ORO_CRASH_RATE a second (default 80) from the routing cases, with
# Lazy Pirate retries. Meanwhile one following, acknowledging client per
# department runs in a restart loop, and at random moments the test
# SIGKILLs and restarts oro-intake, oro-router and oro-notify (ORO_CRASH_KILLS
# times each, default 3, at least 3), kills department clients with SIGKILL
# (they come back), and stops PostgreSQL with an immediate shutdown and
# starts it again: the same daemon processes must reconnect by themselves.
# Then it waits, at most 90 s, for every delivery to be acknowledged, stops
# the daemons with SIGTERM, and prints the counts and checks that:
#   - every concern got a case number (oro-load retries for a minute), and
#     every case number a reporter was given is stored under its client
#     key; no client key has two cases; no case is unrouted;
#   - every case has exactly its expected deliveries (department, view,
#     priority, acknowledgement time, disclosure basis: the hand-written
#     expectations of routing-cases.json) and its expected matched rules;
#   - every delivery is acknowledged, by its own department's clerk, with
#     exactly one 'acknowledged' timeline entry, and was seen by a client
#     of its department and no other;
#   - no daemon died by itself, logged fatal, drew a sanitizer report or
#     failed to stop cleanly.
# Cases stored for concerns whose reporter gave up are allowed and counted.
# Run: ORO_BIN=build/bin ORO_TEST_TOOLS=build/tests bash tests/integration/crash.sh
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

tools=${ORO_TEST_TOOLS:-$ORO_REPO/build/tests}
count=${ORO_CRASH_CONCERNS:-3000}
((count >= 2000)) || count=2000
rate=${ORO_CRASH_RATE:-80} # whole concerns per second
kills=${ORO_CRASH_KILLS:-3}
((kills >= 3)) || kills=3
client_kills=4
drain_s=90
cases=$ORO_REPO/tests/integration/data/routing-cases.json
[[ -x $tools/oro-load ]] || fail "$tools/oro-load is not built"

started=$SECONDS
# Milliseconds since the epoch.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}
t0=$(now_ms)
# A line of the test's own log, with the time since the start.
note() {
	local ms=$(($(now_ms) - t0))
	printf 'crash: %3d.%d s  %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}
# Sleep a random time between $1 and $2 milliseconds.
sleep_between() {
	local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

stack_init
stack_up
departments=$(psql_q "SELECT code FROM department ORDER BY code")
mapfile -t department_list <<<"$departments"
n_cases=$(jq length "$cases")
endpoint=$(sed -n 's/^intake_endpoint = //p' "$ORO_CONFIG")

# ---------------------------------------------------------------- clients

# One department's following, acknowledging client, restarted whenever it
# ends (killed, or ended by itself) until the stop file exists. Its pid is
# in follow-D.pid for the test to kill; its output is appended.
follow_loop() {
	local d=$1 out=$ORO_TEST_DIR/follow-$1.out pid
	while [[ ! -e $ORO_TEST_DIR/stop-followers ]]; do
		echo >>"$out" # a line cut by SIGKILL must not glue onto the next one
		ORO_PRINCIPAL="clerk-$d" "$ORO_BIN/oro" inbox --department "$d" --follow --ack --json --for 600 \
			>>"$out" 2>>"$ORO_TEST_DIR/follow-$d.err" &
		pid=$!
		echo "$pid" >"$ORO_TEST_DIR/follow-$d.pid"
		wait "$pid" || true
		echo "$(date +%T.%N) exit" >>"$ORO_TEST_DIR/follow-$d.restarts"
		sleep 0.2
	done
}

# Stop the client loops and their clients (each by its own pid).
stop_followers() {
	local d pid
	[[ -n ${ORO_TEST_DIR:-} && -d $ORO_TEST_DIR ]] || return 0
	touch "$ORO_TEST_DIR/stop-followers"
	for d in $departments; do
		pid=$(cat "$ORO_TEST_DIR/follow-$d.pid" 2>/dev/null || true)
		if [[ -n $pid ]]; then
			kill "$pid" 2>/dev/null || true
		fi
	done
	for pid in "${loop_pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	loop_pids=()
	return 0
}

load_pid=
# Stop what this test started besides the stack, then tear the stack down.
crash__on_exit() {
	local rc=$?
	set +e
	[[ -n $load_pid ]] && kill "$load_pid" 2>/dev/null
	stop_followers
	stack_teardown "$rc"
	exit "$rc"
}
trap 'crash__on_exit' EXIT

loop_pids=()
for d in $departments; do
	# the loop's own stderr only carries bash's notices of killed clients
	follow_loop "$d" 2>>"$ORO_TEST_DIR/follow-$d.loop" &
	loop_pids+=($!)
done

# ---------------------------------------------------------------- faults

events=()
for d in intake router notify; do
	for ((k = 0; k < kills; k++)); do
		events+=("kill $d")
	done
done
events+=("postgres")
for ((k = 0; k < client_kills; k++)); do
	events+=("clients")
done
for ((i = ${#events[@]} - 1; i > 0; i--)); do # shuffle
	j=$((RANDOM % (i + 1)))
	e=${events[i]}
	events[i]=${events[j]}
	events[j]=$e
done

declare -A done_kills=([intake]=0 [router]=0 [notify]=0)
client_killed=0
pg_restarts=0
pg_reconnected=""
during_load=0

# True when every daemon has logged database=connected past the byte offsets in $@.
reconnected_since() {
	local d i=1
	for d in intake router notify; do
		[[ $(tail -c +"$((${!i} + 1))" "$ORO_TEST_DIR/$d.log") == *database=connected* ]] || return 1
		i=$((i + 1))
	done
}

# Carry out one fault.
fault() {
	local what=$1 name=${2:-} pid d first killed=""
	case $what in
	kill)
		pid=$(daemon_pid "$name")
		daemon_stop "$name" KILL
		sleep_between 0 800
		daemon_start "$name"
		done_kills[$name]=$((done_kills[$name] + 1))
		note "SIGKILL oro-$name (pid $pid), restarted as pid $(daemon_pid "$name")"
		;;
	postgres)
		local pids offsets=() t
		pids="$(daemon_pid intake) $(daemon_pid router) $(daemon_pid notify)"
		for d in intake router notify; do
			offsets+=("$(stat -c %s "$ORO_TEST_DIR/$d.log")")
		done
		stack_pg_crash
		note "PostgreSQL stopped with -m immediate"
		sleep_between 1000 2500
		stack_pg_resume
		pg_restarts=$((pg_restarts + 1))
		t=$(now_ms)
		note "PostgreSQL started again; the daemons are left running and must reconnect by themselves"
		WAIT_FOR_TRIES=300 wait_for reconnected_since "${offsets[@]}" ||
			fail "not every daemon reconnected to PostgreSQL within 30 s"
		[[ "$(daemon_pid intake) $(daemon_pid router) $(daemon_pid notify)" == "$pids" ]] ||
			fail "a daemon was restarted during the PostgreSQL restart"
		for d in intake router notify; do
			stack__alive "$(daemon_pid "$d")" || fail "oro-$d died when PostgreSQL restarted"
		done
		pg_reconnected="in $(($(now_ms) - t)) ms, same processes"
		note "every daemon reconnected $pg_reconnected"
		;;
	clients)
		# about half of them, at least one
		first=${department_list[RANDOM % ${#department_list[@]}]}
		for d in $departments; do
			[[ $d == "$first" ]] || ((RANDOM % 2 == 0)) || continue
			pid=$(cat "$ORO_TEST_DIR/follow-$d.pid" 2>/dev/null || true)
			if [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null; then
				killed+=" $d"
				client_killed=$((client_killed + 1))
			fi
		done
		note "SIGKILL department clients:$killed"
		;;
	esac
}

# ---------------------------------------------------------------- load

note "oro-load: $count concerns at $rate/s from $n_cases routing cases; ${#events[@]} faults to come"
"$tools/oro-load" --endpoint "$endpoint" --cases "$cases" --count "$count" --rate "$rate" \
	--out "$ORO_TEST_DIR/load.jsonl" >"$ORO_TEST_DIR/load.out" 2>&1 &
load_pid=$!
load_t0=$(now_ms)
load_ms=$((count * 1000 / rate))

# Spread the faults over the expected duration of the load, at random.
for ((e = 0; e < ${#events[@]}; e++)); do
	left=$((load_t0 + load_ms - $(now_ms) - 1000))
	gap=$((left > 0 ? left / (${#events[@]} - e + 1) : 300))
	sleep_between $((gap / 2)) $((gap * 3 / 2))
	! kill -0 "$load_pid" 2>/dev/null || during_load=$((during_load + 1))
	# shellcheck disable=SC2086 # "kill NAME" is two words
	fault ${events[e]}
done

# The load ends by itself; bound the wait all the same (retries included).
for ((i = 0; i < 1200; i++)); do
	kill -0 "$load_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$load_pid" 2>/dev/null && fail "oro-load did not finish within 120 s of the end of its faults"
load_status=0
wait "$load_pid" || load_status=$?
load_pid=
cat "$ORO_TEST_DIR/load.out"
check "[ $load_status = 0 ]" "oro-load ran to the end"
note "load finished; $during_load of ${#events[@]} faults happened while it ran"

# Let the clients work until every delivery is acknowledged (at most 90 s).
if WAIT_FOR_TRIES=$((drain_s * 8)) wait_sql 0 \
	"SELECT (SELECT count(*) FROM report WHERE state <> 'routed')
	      + (SELECT count(*) FROM delivery WHERE state IN ('pending', 'sent'))"; then
	note "every case routed and every delivery acknowledged"
else
	note "not everything was routed and acknowledged within $drain_s s (see the counts)"
fi
stop_followers

# Nothing died by itself; a clean stop now also lets LeakSanitizer speak in
# the sanitizer build.
died=""
stop_status=""
for d in intake router notify; do
	stack__alive "$(daemon_pid "$d")" || died+=" $d"
	daemon_stop "$d" TERM
	stop_status+=" $d=$daemon_exit_status"
done

# ---------------------------------------------------------------- checks

note "checking the record"
# The generator's results and the expectations, as tables next to the record.
psql_q "CREATE TABLE crash_load (client_key text PRIMARY KEY, case_number text, duplicate boolean,
                                 attempts integer, error text, i integer, t integer)"
jq -r '[.client_key, .case, .duplicate, .attempts, .error] | @csv' "$ORO_TEST_DIR/load.jsonl" >"$ORO_TEST_DIR/load.csv"
psql_q "\\copy crash_load (client_key, case_number, duplicate, attempts, error) FROM '$ORO_TEST_DIR/load.csv' CSV"
psql_q "UPDATE crash_load SET i = substring(client_key FROM '[0-9]+\$')::int,
                              t = substring(client_key FROM '[0-9]+\$')::int % $n_cases"
psql_q "CREATE TABLE crash_expected (t integer, department text, view text, priority text, ack_within integer,
                                     disclosure_basis text)"
jq -r 'to_entries[] | .key as $t | .value.recipients[] | [$t] + . | @csv' "$cases" >"$ORO_TEST_DIR/expected.csv"
psql_q "\\copy crash_expected FROM '$ORO_TEST_DIR/expected.csv' CSV"
psql_q "CREATE TABLE crash_rules (t integer, rules integer[])"
jq -r 'to_entries[] | [.key, "{" + (.value.rules | map(tostring) | join(",")) + "}"] | @csv' "$cases" \
	>"$ORO_TEST_DIR/rules.csv"
psql_q "\\copy crash_rules FROM '$ORO_TEST_DIR/rules.csv' CSV"

# The department clients' output: deliveries received and acknowledgements confirmed.
for d in $departments; do
	jq -R -r --arg d "$d" 'fromjson? | select(.delivery) | [.delivery.delivery_id, $d, .delivery.department] | @csv' \
		"$ORO_TEST_DIR/follow-$d.out"
done >"$ORO_TEST_DIR/seen.csv"
for d in $departments; do
	jq -R -r --arg d "$d" 'fromjson? | select(.acknowledged) | [.acknowledged.delivery_id, $d, .acknowledged.already] | @csv' \
		"$ORO_TEST_DIR/follow-$d.out"
done >"$ORO_TEST_DIR/acks.csv"
psql_q "CREATE TABLE crash_seen (delivery_id bigint, client text, department text)"
psql_q "\\copy crash_seen FROM '$ORO_TEST_DIR/seen.csv' CSV"
psql_q "CREATE TABLE crash_acks (delivery_id bigint, client text, already boolean)"
psql_q "\\copy crash_acks FROM '$ORO_TEST_DIR/acks.csv' CSV"
psql_q "CREATE INDEX ON crash_seen (delivery_id); ANALYZE"

q() { psql_q "$1"; }
# The load's cases: reports of the generator's reporter, with its result row.
LOADED="report r JOIN crash_load l ON r.reporter = 'load' AND r.client_key = l.client_key"
MATCH="d.department = e.department AND d.view = e.view AND d.priority = e.priority
       AND d.ack_within = e.ack_within AND d.disclosure_basis IS NOT DISTINCT FROM e.disclosure_basis"

filed=$(q "SELECT count(*) FROM crash_load WHERE case_number IS NOT NULL")
duplicate=$(q "SELECT count(*) FROM crash_load WHERE duplicate")
resent=$(q "SELECT count(*) FROM crash_load WHERE attempts > 1")
failed=$(q "SELECT count(*) FROM crash_load WHERE case_number IS NULL")
failed_codes=$(q "SELECT coalesce(string_agg(error || ' ' || n, ', '), 'none')
                  FROM (SELECT error, count(*) n FROM crash_load WHERE case_number IS NULL GROUP BY 1) x")
reports=$(q "SELECT count(*) FROM report")
missing_case=$(q "SELECT count(*) FROM crash_load l LEFT JOIN report r ON r.reporter = 'load' AND r.client_key = l.client_key
                  WHERE l.case_number IS NOT NULL AND r.case_number IS DISTINCT FROM l.case_number")
shared_number=$(q "SELECT count(*) - count(DISTINCT case_number) FROM crash_load WHERE case_number IS NOT NULL")
double_key=$(q "SELECT count(*) FROM (SELECT reporter, client_key FROM report GROUP BY 1, 2 HAVING count(*) > 1) x")
stray=$(q "SELECT count(*) FROM report r WHERE r.reporter <> 'load'
           OR NOT EXISTS (SELECT 1 FROM crash_load l WHERE l.client_key = r.client_key)")
gave_up_stored=$(q "SELECT count(*) FROM $LOADED WHERE l.case_number IS NULL")
unrouted=$(q "SELECT count(*) FROM report WHERE state <> 'routed'")
bad_decision=$(q "SELECT count(*) FROM $LOADED JOIN crash_rules x ON x.t = l.t
                  LEFT JOIN decision dc ON dc.report_id = r.id
                  WHERE dc.matched_rules IS DISTINCT FROM x.rules OR dc.ruleset_version <> 1")
expected_deliveries=$(q "SELECT count(*) FROM $LOADED JOIN crash_expected e ON e.t = l.t")
rule_deliveries=$(q "SELECT count(*) FROM delivery WHERE origin = 'rule'")
other_deliveries=$(q "SELECT count(*) FROM delivery WHERE origin <> 'rule'")
missing_deliveries=$(q "SELECT count(*) FROM $LOADED JOIN crash_expected e ON e.t = l.t
                        WHERE NOT EXISTS (SELECT 1 FROM delivery d WHERE d.report_id = r.id AND d.origin = 'rule' AND $MATCH)")
extra_deliveries=$(q "SELECT count(*) FROM delivery d JOIN report r ON r.id = d.report_id
                      LEFT JOIN crash_load l ON r.reporter = 'load' AND r.client_key = l.client_key
                      WHERE d.origin = 'rule' AND NOT EXISTS (SELECT 1 FROM crash_expected e WHERE e.t = l.t AND $MATCH)")
deliveries=$(q "SELECT count(*) FROM delivery")
unacknowledged=$(q "SELECT count(*) FROM delivery WHERE state <> 'acknowledged'")
wrong_clerk=$(q "SELECT count(*) FROM delivery WHERE state = 'acknowledged' AND acknowledged_by <> 'clerk-' || department")
# Timeline entries per delivery and per case, counted once (timeline has no index on delivery_id).
psql_q "CREATE TABLE crash_per_delivery AS SELECT d.id, count(t.id) FILTER (WHERE t.event = 'acknowledged') AS acked,
               count(t.id) FILTER (WHERE t.event = 'delivered') AS delivered
        FROM delivery d LEFT JOIN timeline t ON t.delivery_id = d.id GROUP BY d.id"
psql_q "CREATE TABLE crash_per_report AS SELECT r.id, count(t.id) FILTER (WHERE t.event = 'filed') AS filed,
               count(t.id) FILTER (WHERE t.event = 'routed') AS routed
        FROM report r LEFT JOIN timeline t ON t.report_id = r.id GROUP BY r.id"
ack_entries_wrong=$(q "SELECT count(*) FROM crash_per_delivery WHERE acked <> 1")
ack_entries=$(q "SELECT count(*) FROM timeline WHERE event = 'acknowledged'")
delivered_none=$(q "SELECT count(*) FROM crash_per_delivery WHERE delivered = 0")
delivered_twice=$(q "SELECT count(*) FROM crash_per_delivery WHERE delivered > 1")
timeline_wrong=$(q "SELECT count(*) FROM crash_per_report WHERE filed <> 1 OR routed <> 1")
unseen=$(q "SELECT count(*) FROM delivery d
            WHERE NOT EXISTS (SELECT 1 FROM crash_seen s WHERE s.delivery_id = d.id AND s.client = d.department)")
misdelivered=$(q "SELECT count(*) FROM crash_seen s
                  WHERE s.department <> s.client
                     OR NOT EXISTS (SELECT 1 FROM delivery d WHERE d.id = s.delivery_id AND d.department = s.client)")
seen_lines=$(q "SELECT count(*) FROM crash_seen")
seen_again=$(q "SELECT count(*) FROM (SELECT delivery_id FROM crash_seen GROUP BY 1 HAVING count(*) > 1) x")
confirmed_twice=$(q "SELECT count(*) FROM (SELECT delivery_id FROM crash_acks WHERE NOT already
                                          GROUP BY 1 HAVING count(*) > 1) x")
confirmed_already=$(q "SELECT count(*) FROM crash_acks WHERE already")
sum_sends=$(q "SELECT coalesce(sum(send_count), 0) FROM delivery")
client_restarts=$(cat "$ORO_TEST_DIR"/follow-*.restarts 2>/dev/null | wc -l)
logs=("$ORO_TEST_DIR"/{intake,router,notify}.log)
db_lost=$(cat "${logs[@]}" | grep -c 'database=lost' || true)
error_lines=$(cat "${logs[@]}" | grep -c 'level=error' || true)
fatal_lines=$(cat "${logs[@]}" | grep -c 'level=fatal\|level=panic' || true)
sanitizer_reports=$(cat "${logs[@]}" "$ORO_TEST_DIR"/follow-*.err | grep -c 'ERROR: [A-Za-z]*Sanitizer\|runtime error:' || true)

echo
echo "crash test: $((SECONDS - started)) s so far"
printf '  faults:   SIGKILL intake %d, router %d, notify %d; department clients killed %d (client restarts %d);\n' \
	"${done_kills[intake]}" "${done_kills[router]}" "${done_kills[notify]}" "$client_killed" "$client_restarts"
printf '            PostgreSQL immediate restarts %d (daemons logged database=lost %d times, reconnected %s); %d of %d faults during the load\n' \
	"$pg_restarts" "$db_lost" "$pg_reconnected" "$during_load" "${#events[@]}"
printf '  load:     %d concerns: got a case number %d (answered duplicate %d, resent %d), no case number %d (%s)\n' \
	"$count" "$filed" "$duplicate" "$resent" "$failed" "$failed_codes"
printf '  cases:    %d in the database; with a case number but not stored under it %d; case numbers given twice %d;\n' \
	"$reports" "$missing_case" "$shared_number"
printf '            client keys with two cases %d; stored for a concern whose reporter gave up %d; not the load'"'"'s %d; unrouted %d; wrong decision %d\n' \
	"$double_key" "$gave_up_stored" "$stray" "$unrouted" "$bad_decision"
printf '  deliveries: %d (rule %d, other origins %d); expected %d, missing %d, extra %d\n' \
	"$deliveries" "$rule_deliveries" "$other_deliveries" "$expected_deliveries" "$missing_deliveries" "$extra_deliveries"
printf '  acknowledgements: unacknowledged %d; by another than the department'"'"'s clerk %d; timeline entries %d,\n' \
	"$unacknowledged" "$wrong_clerk" "$ack_entries"
printf '            deliveries without exactly one %d; confirmed as first acknowledgement twice %d; confirmed as already %d\n' \
	"$ack_entries_wrong" "$confirmed_twice" "$confirmed_already"
printf '  clients:  %d deliveries received (%d received more than once; %d sendings recorded); never seen by its department %d; seen by another %d\n' \
	"$seen_lines" "$seen_again" "$sum_sends" "$unseen" "$misdelivered"
printf '  daemons:  died by themselves:%s; exit status on SIGTERM at the end:%s;\n' "${died:- none}" "$stop_status"
printf '            log lines at error %d, at fatal or panic %d; sanitizer reports %d\n' \
	"$error_lines" "$fatal_lines" "$sanitizer_reports"
printf '  timeline: cases without exactly one filed and one routed entry %d; deliveries without a delivered entry %d, with several %d\n' \
	"$timeline_wrong" "$delivered_none" "$delivered_twice"
echo

check "((${done_kills[intake]} >= 3 && ${done_kills[router]} >= 3 && ${done_kills[notify]} >= 3 && pg_restarts == 1))" \
	"every daemon was killed at least 3 times and PostgreSQL restarted once"
check "[[ -z '$died' && '$stop_status' == ' intake=0 router=0 notify=0' ]] && ((fatal_lines == 0 && sanitizer_reports == 0))" \
	"no daemon died by itself, logged fatal or panic, drew a sanitizer report, or failed to stop cleanly"
check "((failed == 0))" "every concern got a case number ($filed of $count)"
check "((missing_case == 0 && shared_number == 0))" "every case number given to a reporter is stored under its client key"
check "((double_key == 0))" "no client key has two cases"
check "((stray == 0))" "every case in the database was filed by the generator"
check "((unrouted == 0 && bad_decision == 0))" "every case is routed, under version 1, with its expected rules"
check "((missing_deliveries == 0 && extra_deliveries == 0 && rule_deliveries == expected_deliveries))" \
	"every case has exactly its expected deliveries ($expected_deliveries)"
check "((other_deliveries == 0))" "no escalated or re-routed deliveries appeared"
check "((unacknowledged == 0 && wrong_clerk == 0))" "every delivery was acknowledged by its department's clerk"
check "((ack_entries_wrong == 0 && ack_entries == deliveries))" \
	"every delivery has exactly one 'acknowledged' timeline entry: nobody acknowledged one twice"
check "((confirmed_twice == 0))" "no delivery was confirmed as a first acknowledgement twice"
check "((unseen == 0 && misdelivered == 0))" "every delivery was seen by its department's client and no other"
check "((timeline_wrong == 0 && delivered_twice == 0))" "each case has one filed and one routed entry; no delivery was recorded delivered twice"
((delivered_none == 0)) ||
	note "$delivered_none deliveries were acknowledged without a 'delivered' timeline entry (sent, but the sending was not recorded before a crash)"
echo "crash: passed in $((SECONDS - started)) s"
