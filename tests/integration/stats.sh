#!/usr/bin/env bash
# Integration: oro stats, the coordinator's de-identified situation picture.
# A known mix of concerns is filed and routed by the real daemons, some
# deliveries are acknowledged with `oro ack`; then, with the daemons
# stopped so that nothing changes underneath, times to acknowledge,
# deadlines and filing dates are set directly, and the numbers are checked:
# totals, groups, small-number suppression ("<3", never 0, 1 or 2 as a
# count), percentiles only behind 3 acknowledgements, overdue (a delivery
# re-routed before its deadline is not), the period, and usage errors.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up

# report CATEGORY URGENCY KIND AGE SETTING DISTRICT
report() {
	oro report --json --category "$1" --urgency "$2" --subject-kind "$3" --age "$4" --setting "$5" \
		--district "$6" --description "Observed at work." >/dev/null
}

# Every count in a stats JSON document is "<3" or a number of at least 3.
no_small_counts() {
	jq -e '[(.rows[], .total) | (.cases, .deliveries, .acknowledged, .overdue)
	        | select((type == "number" and . < 3) or (type == "string" and . != "<3") or type == "null")]
	       | length == 0' <<<"$1" >/dev/null
}

# stats ARGS...: oro stats --json ARGS, checked for suppression, printed.
stats() {
	local out
	out=$(oro stats --json "$@") || fail "oro stats --json $* failed"
	no_small_counts "$out" || fail "oro stats $*: a count below 3 is shown exactly: $out"
	printf '%s\n' "$out"
}

# The mix: 5 adults' propaganda online in Råsunda (one delivery each, to the
# coordinator), 2 children's violent rhetoric at school in Hagalund (children
# & youth intake, school administration, coordinator: 3 each), 1 adult with
# weapons in Bergshamra (coordinator, police, security chief).
for _ in 1 2 3 4 5; do
	report propaganda concern adult 40 online Råsunda
done
report violent_rhetoric concern child 15 school Hagalund
report violent_rhetoric concern child 14 school Hagalund
report weapons urgent adult 30 online Bergshamra
wait_sql 8 "SELECT count(*) FROM report WHERE state = 'routed'" || fail "the 8 concerns were not routed"
wait_sql 14 "SELECT count(*) FROM delivery" || fail "expected 14 deliveries"
echo "ok: 8 concerns filed and routed into 14 deliveries"

# deliveries CATEGORY DEPARTMENT: their ids, in order.
deliveries() {
	psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id
	        WHERE r.category = '$1' AND d.department = '$2' ORDER BY d.id"
}
mapfile -t P < <(deliveries propaganda slf-samordnare)
mapfile -t V < <(deliveries violent_rhetoric slf-samordnare)
mapfile -t S < <(deliveries violent_rhetoric soc-barn)
mapfile -t W < <(deliveries weapons slf-samordnare)
check "[ ${#P[@]} = 5 ] && [ ${#V[@]} = 2 ] && [ ${#S[@]} = 2 ] && [ ${#W[@]} = 1 ]" "the deliveries went where solna-v1 sends them"

# Acknowledge 4 of the propaganda deliveries and both children's intake deliveries.
for id in "${P[@]:0:4}"; do
	oro ack "$id" --department slf-samordnare >/dev/null || fail "oro ack $id failed"
done
for id in "${S[@]}"; do
	oro ack "$id" --department soc-barn >/dev/null || fail "oro ack $id failed"
done
wait_sql 6 "SELECT count(*) FROM delivery WHERE state = 'acknowledged'" || fail "6 acknowledgements expected"
echo "ok: 6 deliveries acknowledged with oro ack"

# From here on only the database: nothing may route, escalate or redeliver.
for d in notify router intake; do
	daemon_stop "$d"
done

# Times to acknowledge: propaganda 1h, 2h, 3h, 4h; children's intake 30m and 5h.
set_ack() {
	psql_q "UPDATE delivery SET created_at = acknowledged_at - interval '$2' WHERE id = $1"
}
set_ack "${P[0]}" '1 hour'
set_ack "${P[1]}" '2 hours'
set_ack "${P[2]}" '3 hours'
set_ack "${P[3]}" '4 hours'
set_ack "${S[0]}" '30 minutes'
set_ack "${S[1]}" '5 hours'
# Overdue: P0 acknowledged a minute after its deadline; P4 and all three
# weapons deliveries open past theirs; V0 re-routed an hour before its
# deadline, which has passed since: closed in time, not overdue.
psql_q "UPDATE delivery SET deadline = acknowledged_at - interval '1 minute' WHERE id = ${P[0]}"
psql_q "UPDATE delivery SET deadline = now() - interval '1 hour' WHERE id = ${P[4]}"
psql_q "UPDATE delivery d SET deadline = now() - interval '1 hour' FROM report r
        WHERE r.id = d.report_id AND r.category = 'weapons'"
psql_q "UPDATE delivery SET deadline = now() - interval '1 hour', state = 'rerouted',
        rerouted_at = now() - interval '2 hours', rerouted_by = 'test', reroute_reason = 'test'
        WHERE id = ${V[0]}"

# Totals, in the default period (the last 30 days).
out=$(stats)
today=$(psql_q "SELECT to_char((now() AT TIME ZONE 'Europe/Stockholm')::date, 'YYYY-MM-DD')")
first=$(psql_q "SELECT to_char((now() AT TIME ZONE 'Europe/Stockholm')::date - 29, 'YYYY-MM-DD')")
check_json "$out" ".from == \"$first\" and .to == \"$today\" and .by == []" "the default period is the last 30 days up to today"
check_json "$out" '.total == {"cases": 8, "deliveries": 14, "acknowledged": 6, "ack_median_s": 9000,
                             "ack_p90_s": 16200, "overdue": 5}' \
	"total: 8 cases, 14 deliveries, 6 acknowledged, median 2h 30m, p90 4h 30m, 5 overdue"
check_json "$out" '.rows == [.total]' "without --by the one row is the total"

# By category: a group of 5 shows 5; groups of 1 and 2 show "<3".
out=$(stats --by category)
check_json "$out" '.by == ["category"] and [.rows[].category] == ["propaganda", "violent_rhetoric", "weapons"]' \
	"--by category: one row per category, sorted"
check_json "$out" '.rows[0] == {"category": "propaganda", "cases": 5, "deliveries": 5, "acknowledged": 4,
                               "ack_median_s": 9000, "ack_p90_s": 13320, "overdue": "<3"}' \
	"propaganda: 5 cases, 4 acknowledged with median 2h 30m and p90 3h 42m, 2 overdue shown as <3"
check_json "$out" '.rows[1] == {"category": "violent_rhetoric", "cases": "<3", "deliveries": 6, "acknowledged": "<3",
                               "ack_median_s": null, "ack_p90_s": null, "overdue": "<3"}' \
	"violent_rhetoric: 2 cases shown as <3, no median or p90 behind 2 acknowledgements, 0 overdue shown as <3"
check_json "$out" '.rows[2] == {"category": "weapons", "cases": "<3", "deliveries": 3, "acknowledged": "<3",
                               "ack_median_s": null, "ack_p90_s": null, "overdue": 3}' \
	"weapons: 1 case shown as <3, its 3 overdue deliveries shown"
check_json "$out" '.total.cases == 8' "the total counts every case"
check "! grep -Eq 'ORO-[0-9]{4}-|Hagalund|Råsunda|Bergshamra|child|adult' <<<\"\$out\"" \
	"no case number, district or subject beyond the group keys"

# By district and category together.
out=$(stats --by district --by category)
check_json "$out" '.by == ["district", "category"] and ([.rows[] | [.district, .category]] | length) == 3' \
	"--by district --by category: one row per combination"
check_json "$out" '[.rows[] | select(.district == "Råsunda" and .category == "propaganda") | .cases] == [5]' \
	"Råsunda/propaganda shows 5"
check_json "$out" '[.rows[] | select(.district != "Råsunda") | .cases] == ["<3", "<3"]' \
	"the districts with 1 and 2 cases show <3"

# By department: cases are the cases each department received.
out=$(stats --by department)
check_json "$out" '[.rows[].department] == ["buf", "polis", "slf-sakerhet", "slf-samordnare", "soc-barn"]' \
	"--by department: the receiving departments, sorted"
check_json "$out" '.rows[] | select(.department == "slf-samordnare") == {"department": "slf-samordnare",
                   "cases": 8, "deliveries": 8, "acknowledged": 4, "ack_median_s": 9000, "ack_p90_s": 13320,
                   "overdue": 3}' \
	"the coordinator received 8 cases, acknowledged 4; 3 overdue (the re-routed one closed in time is not)"
check_json "$out" '[.rows[] | select(.department != "slf-samordnare") | .cases, .deliveries] | all(. == "<3")' \
	"the departments with 1 or 2 cases show <3"
check_json "$out" '.total.cases == 8 and .total.deliveries == 14' "... and the total still counts each case once"

# By urgency: sorted by severity, not alphabetically.
out=$(stats --by urgency)
check_json "$out" '[.rows[].urgency] == ["urgent", "concern"] and .rows[1].cases == 7' "--by urgency: urgent before concern"

# By action area: the areas of the matched rules, or "(none)".
version=$(psql_q "SELECT version FROM ruleset_active")
tagged=$(psql_q "SELECT count(*) FROM rule WHERE ruleset_version = $version AND action_area IS NOT NULL")
if [ "$tagged" = 0 ]; then
	out=$(stats --by action_area)
	check_json "$out" '.rows == [{"action_area": "(none)", "cases": 8, "deliveries": 14, "acknowledged": 6,
	                             "ack_median_s": 9000, "ack_p90_s": 16200, "overdue": 5}]' \
		"--by action_area: the ruleset names no action areas yet, so every case is under (none)"
	# Tag the rule "adult" (the propaganda and weapons cases match it) with an area.
	psql_q "INSERT INTO action_area (ruleset_version, number, name) VALUES ($version, 1, 'Testområde')"
	psql_q "UPDATE rule SET action_area = 1 WHERE ruleset_version = $version AND name = 'adult'"
	out=$(stats --by action_area)
	check_json "$out" '[.rows[] | [.action_area, .cases]] == [["Testområde", 6], ["(none)", "<3"]]' \
		"--by action_area names the area of the matched rule; the other cases are under (none)"
else
	out=$(stats --by action_area)
	names=$(psql_q "SELECT json_agg(name) FROM action_area WHERE ruleset_version = $version")
	check_json "$out" "[.rows[].action_area] - $names - [\"(none)\"] == [] and ([.rows[].action_area] - [\"(none)\"] | length) > 0" \
		"--by action_area names the areas of the active ruleset"
	for rule in adult situation-picture; do
		area=$(psql_q "SELECT a.name FROM rule r JOIN action_area a ON a.ruleset_version = r.ruleset_version
		               AND a.number = r.action_area WHERE r.ruleset_version = $version AND r.name = '$rule'")
		[ -n "$area" ] || continue
		check_json "$out" "[.rows[] | select(.action_area == \"$area\") | .cases | numbers | select(. >= 5)] | length == 1" \
			"the area of rule $rule ($area) counts the cases that matched it"
	done
fi
check_json "$out" '.total.cases == 8' "... and the total counts each case once"

# Table output: header, rows, total, period; suppressed values and durations.
table=$(oro stats --by category) || fail "oro stats --by category failed"
printf '%s\n' "$table"
check "head -1 <<<\"\$table\" | grep -Eq '^category +cases +deliveries +acknowledged +ack median +ack p90 +overdue\$'" \
	"the table has a header line"
check "grep -Eq '^propaganda +5 +5 +4 +2h 30m +3h 42m +<3\$' <<<\"\$table\"" "the propaganda line, times as 2h 30m"
check "grep -Eq '^weapons +<3 +3 +<3 +- +- +3\$' <<<\"\$table\"" "the weapons line: <3 and - where suppressed"
check "grep -Eq '^total +8 +14 +6 +2h 30m +4h 30m +5\$' <<<\"\$table\"" "the total line"
check "tail -1 <<<\"\$table\" | grep -q '^period $first to $today'" "the last line names the period"
# widths TEXT: how many different widths, in characters, its lines other than the period have.
widths() {
	local line
	while IFS= read -r line; do
		[[ $line == period* ]] || LC_ALL=C.UTF-8 bash -c 'printf "%d\n" "${#1}"' _ "$line"
	done <<<"$1" | sort -u | wc -l
}
check "[ \$(widths \"\$table\") = 1 ]" "the columns are aligned (every line as wide as the others)"
table=$(oro stats --by district --by category) || fail "oro stats --by district --by category failed"
printf '%s\n' "$table"
check "[ \$(widths \"\$table\") = 1 ] && grep -Eq '^Råsunda +propaganda +5 ' <<<\"\$table\"" \
	"... also with two keys and names like Råsunda (counted in characters, not bytes)"

# Weeks and months: move 3 propaganda cases 35 days back (always an
# earlier month and week); the default period no longer holds them.
psql_q "UPDATE report SET filed_at = filed_at - interval '35 days'
        WHERE id IN (SELECT id FROM report WHERE category = 'propaganda' ORDER BY id LIMIT 3)"
old_week=$(psql_q "SELECT to_char((now() - interval '35 days') AT TIME ZONE 'Europe/Stockholm', 'IYYY-\"W\"IW')")
old_month=$(psql_q "SELECT to_char((now() - interval '35 days') AT TIME ZONE 'Europe/Stockholm', 'YYYY-MM')")
week=$(psql_q "SELECT to_char(now() AT TIME ZONE 'Europe/Stockholm', 'IYYY-\"W\"IW')")
month=$(psql_q "SELECT to_char(now() AT TIME ZONE 'Europe/Stockholm', 'YYYY-MM')")
long_ago=$(psql_q "SELECT to_char((now() AT TIME ZONE 'Europe/Stockholm')::date - 40, 'YYYY-MM-DD')")
yesterday=$(psql_q "SELECT to_char((now() AT TIME ZONE 'Europe/Stockholm')::date - 1, 'YYYY-MM-DD')")
out=$(stats)
check_json "$out" '.total.cases == 5' "the default period leaves out cases filed 35 days ago"
out=$(stats --from "$long_ago" --by week)
check_json "$out" "[.rows[] | [.week, .cases]] == [[\"$old_week\", 3], [\"$week\", 5]]" \
	"--by week: ISO weeks ($old_week, $week), in order"
out=$(stats --from "$long_ago" --by month --by category)
check_json "$out" "[.rows[] | [.month, .category, .cases]] == [[\"$old_month\", \"propaganda\", 3],
                   [\"$month\", \"propaganda\", \"<3\"], [\"$month\", \"violent_rhetoric\", \"<3\"], [\"$month\", \"weapons\", \"<3\"]]" \
	"--by month --by category: months ($old_month, $month) first, then categories"
out=$(stats --from "$long_ago" --to "$yesterday")
check_json "$out" ".from == \"$long_ago\" and .to == \"$yesterday\" and .total.cases == 3" "--from and --to are both inclusive days"
out=$(stats --to "$first")
check_json "$out" '.total.cases == 3' "--to alone: the 30 days up to it"
out=$(stats --from 2020-01-01 --to 2020-01-31 --by category)
check_json "$out" '.rows == [] and .total == {"cases": "<3", "deliveries": "<3", "acknowledged": "<3",
                   "ack_median_s": null, "ack_p90_s": null, "overdue": "<3"}' "an empty period: no rows, and 0 shown as <3"

# Usage errors exit 2 with a message; an unreachable database exits 3.
# usage ARGS...: oro stats ARGS exits 2 with a message on standard error.
usage() {
	local rc=0 err
	err=$(oro stats "$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = 2 ] && [ -n "$err" ]
}
check "usage --from 2026-02-30" "a day that does not exist is a usage error"
check "usage --from 2026-1-5" "a date not written YYYY-MM-DD is a usage error"
check "usage --to yesterday" "a word for a date is a usage error"
check "usage --from 2026-11-02 --to 2026-11-01" "--from after --to is a usage error"
check "usage --from 2999-01-01" "--from after today (the default --to) is a usage error"
check "usage --by district --by street" "an unknown --by key is a usage error"
check "usage --by week --by week" "the same --by key twice is a usage error"
check "usage --by" "--by without a key is a usage error"
oro stats --by street 2>"$ORO_TEST_DIR/usage.err" || true
check "grep -q 'unknown --by key \"street\"' $ORO_TEST_DIR/usage.err" "... with a message naming the bad key"
rc=0
oro stats --database "host=$ORO_TEST_DIR/nowhere dbname=oro connect_timeout=2" >/dev/null 2>&1 || rc=$?
check "[ $rc = 3 ]" "a database that cannot be reached exits 3"
