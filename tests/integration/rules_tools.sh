#!/usr/bin/env bash
# Integration: the strategy owner's tools on a real database and running
# daemons: validation errors, atomic publish, list, export round trip,
# diff, a publish observed by the running router and intake within one
# second (LISTEN/NOTIFY), rollback with activate, explain reproduced from
# the stored version after a later publish, and the regression suite.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up
v1="$ORO_REPO/sql/strategy/solna-v1.json"
suite="$ORO_REPO/sql/strategy/solna-v1-tests.json"

# --- validate: every error, with rule and field; exit 0 only when valid.
jq '.rules[0].recipients[0] |= del(.disclosure_basis) | .rules[4].recipients[0].department = "nosuch"
    | .rules[5].ack_within = "0s" | .rules[6].name = .rules[7].name' "$v1" >"$ORO_TEST_DIR/bad.json"
status=0
oro rules validate "$ORO_TEST_DIR/bad.json" --json >"$ORO_TEST_DIR/validate.json" || status=$?
check "[ $status = 1 ]" "validate exits 1 for an invalid ruleset"
out=$(cat "$ORO_TEST_DIR/validate.json")
check_json "$out" '[.findings[] | select(.severity == "error")] | length >= 4' "validate lists every error (4 planted)"
check_json "$out" 'any(.findings[]; .rule == 1 and (.field | test("recipients\\[0\\]")))' \
	"... the police full view without a disclosure basis, at rule 1"
check_json "$out" 'any(.findings[]; .rule == 5 and (.field | test("department")))' "... the unknown department, at rule 5"
check_json "$out" 'any(.findings[]; .rule == 6 and (.field | test("ack_within")))' "... the non-positive deadline, at rule 6"
check_json "$out" 'any(.findings[]; (.rule == 7 or .rule == 8) and (.field | test("name")))' "... the duplicate rule name"
oro rules validate "$v1" >/dev/null || fail "solna-v1 does not validate"
echo "ok: solna-v1 validates"

# --- publish: an invalid file changes nothing.
before=$(psql_q "SELECT count(*) || '/' || (SELECT version FROM ruleset_active) FROM ruleset")
status=0
oro rules publish "$ORO_TEST_DIR/bad.json" >/dev/null 2>&1 || status=$?
check "[ $status = 1 ] && [ '$(psql_q "SELECT count(*) || '/' || (SELECT version FROM ruleset_active) FROM ruleset")' = '$before' ]" \
	"publishing an invalid file is refused and changes nothing ($before)"
out=$(oro rules publish "$v1" --json)
check_json "$out" '.changed == false and .version == 1' "publishing the active document again changes nothing"

# --- export writes the document byte for byte.
oro rules export --version 1 >"$ORO_TEST_DIR/export.json"
check "cmp -s '$ORO_TEST_DIR/export.json' '$v1'" "export gives back the published bytes"

# --- version 2: the situation picture (rule 13) gives the coordinator the full view, P2, 48 h.
jq '.rules[12].recipients[0].view = "full" | .rules[12].priority = "P2" | .rules[12].ack_within = "48h"' \
	"$v1" >"$ORO_TEST_DIR/v2.json"
out=$(oro rules diff 1 "$ORO_TEST_DIR/v2.json" --json)
check_json "$out" '.rules.changed | length == 1 and .[0].name == "situation-picture"' "diff finds the one changed rule"
check_json "$out" '[.rules.changed[0].fields[] | .field] | sort == ["ack_within", "priority", "recipients"]' \
	"... field by field: recipients, priority and ack_within"
check_json "$out" '.rules.changed[0].fields[] | select(.field == "priority") | .from == "P3" and .to == "P2"' \
	"... priority P3 -> P2"

# A case under version 1, to explain later.
oro report --json --client-key explain-me --category propaganda --urgency concern --subject-kind group \
	--setting online --district Råsunda --description "A group shares propaganda." >"$ORO_TEST_DIR/c1.json"
c1=$(jq -r .case_number "$ORO_TEST_DIR/c1.json")
wait_sql 1 "SELECT d.ruleset_version FROM decision d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c1'" ||
	fail "$c1 was not routed under version 1"

# Publish version 2 and watch the running daemons switch within a second.
t0=$(date +%s.%N)
ORO_PRINCIPAL=coordinator oro rules publish "$ORO_TEST_DIR/v2.json" --note "situation picture P2" --json \
	>"$ORO_TEST_DIR/pub2.json"
check_json "$(cat "$ORO_TEST_DIR/pub2.json")" '.version == 2 and .changed == true' "version 2 published"
WAIT_FOR_TRIES=10 wait_for grep -q "ruleset=2 event=active" "$ORO_TEST_DIR/router.log" ||
	fail "the router did not switch to version 2 within one second"
WAIT_FOR_TRIES=10 wait_for grep -q "ruleset=2 event=active" "$ORO_TEST_DIR/intake.log" ||
	fail "the intake did not switch to version 2 within one second"
t1=$(date +%s.%N)
echo "ok: router and intake switched to version 2 within one second ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s, with polling)"

oro report --json --client-key under-v2 --category propaganda --urgency concern --subject-kind group \
	--setting online --district Råsunda --description "Another group." >"$ORO_TEST_DIR/c2.json"
c2=$(jq -r .case_number "$ORO_TEST_DIR/c2.json")
wait_sql "2 full P2 172800" "SELECT dc.ruleset_version || ' ' || d.view || ' ' || d.priority || ' ' || d.ack_within
	FROM decision dc JOIN report r ON r.id = dc.report_id JOIN delivery d ON d.report_id = r.id
	WHERE r.case_number = '$c2'" || fail "$c2 was not routed under version 2"
echo "ok: a case filed after the publish is routed under version 2 (coordinator full P2 48 h from rule 13, not the fallback)"

out=$(oro rules list --json)
check_json "$out" 'length == 2 and (.[] | select(.version == 2) | .active and .published_by == "coordinator"
	and .note == "situation picture P2") and (.[] | select(.version == 1) | .active | not)' \
	"list shows both versions, version 2 active, who and the note"

# --- explain the version-1 case after version 2 is active: still version 1.
out=$(oro explain "$c1" --json)
check_json "$out" '.ruleset_version == 1 and .reproduced == true and .matched_rules == [13]' \
	"explain $c1 reproduces its version-1 decision after a later publish"
check_json "$out" '.rules | length == 13' "... listing all 13 rules"
check_json "$out" '.rules[0].matched == false and (.rules[0].failed | length > 0)' \
	"... with the first failed condition of a rule that did not match"
check_json "$out" '.recipients[0].department == "slf-samordnare" and .recipients[0].priority == "P2"
	and .recipients[0].priority_from == "fallback"' "... and where the coordinator's priority came from (the fallback)"
oro explain "$c1" >"$ORO_TEST_DIR/explain.txt"
check "grep -q 'ruleset version 1' '$ORO_TEST_DIR/explain.txt'" "explain prints a readable explanation"
check "! oro explain ORO-1999-000001 >/dev/null 2>&1" "explain of an unknown case fails"

# --- rollback: activate 1, the daemons follow within a second.
n_before=$(grep -c "ruleset=1 event=active" "$ORO_TEST_DIR/router.log")
switched_back() { [ "$(grep -c "ruleset=1 event=active" "$ORO_TEST_DIR/router.log")" -gt "$n_before" ]; }
oro rules activate 1 --note "back to v1" >/dev/null
WAIT_FOR_TRIES=10 wait_for switched_back || fail "the router did not switch back to version 1 within one second"
echo "ok: rollback to version 1 observed by the router within one second"
check "[ $(psql_q "SELECT count(*) FROM ruleset_activation") = 3 ]" "every activation is recorded (publish 1, publish 2, activate 1)"
oro report --json --client-key after-rollback --category propaganda --urgency concern --subject-kind group \
	--setting online --district Råsunda --description "A third group." >"$ORO_TEST_DIR/c3.json"
c3=$(jq -r .case_number "$ORO_TEST_DIR/c3.json")
wait_sql 1 "SELECT d.ruleset_version FROM decision d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c3'" ||
	fail "$c3 was not routed under version 1 after the rollback"
echo "ok: after the rollback, cases are routed under version 1 again"

# --- the regression suite: all pass on v1 (file and database), v2 breaks some.
oro rules test --expect --rules "$v1" "$suite" >/dev/null || fail "the solna-v1 suite fails on solna-v1.json"
oro rules test --expect --version 1 "$suite" >/dev/null || fail "the solna-v1 suite fails on stored version 1"
oro rules test --expect "$suite" >/dev/null || fail "the solna-v1 suite fails on the active ruleset"
echo "ok: the solna-v1 regression suite passes on the file, on version 1 and on the active ruleset"
status=0
oro rules test --expect --version 2 "$suite" --json >"$ORO_TEST_DIR/v2-suite.json" || status=$?
out=$(cat "$ORO_TEST_DIR/v2-suite.json")
check "[ $status = 1 ]" "the suite fails against version 2 (exit 1)"
check_json "$out" '.failed > 0 and ([.results[] | select(.ok | not) | .mismatches[]] | any(test("slf-samordnare")))' \
	"... listing the slf-samordnare mismatches"
