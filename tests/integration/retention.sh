#!/usr/bin/env bash
# Integration: retention (gallring) and legal holds. The sealed content of
# a case goes retention_content_days after its last full delivery closed,
# its metadata and timeline retention_metadata_days after filing; a case on
# hold keeps everything; --dry-run changes nothing; each purge and hold is
# in the audit trail, which still verifies afterwards.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up

file() {
	oro report --json --client-key "$1" --category propaganda --urgency concern --subject-kind adult --age 40 \
		--setting online --district Råsunda --description "Posts propaganda ($1)." | jq -r .case_number
}
old=$(file old)       # acknowledged 31 days ago: content due
held=$(file held)     # the same, on legal hold
recent=$(file recent) # acknowledged now: kept
open=$(file open)     # never acknowledged: kept
ancient=$(file ancient) # filed six years ago: metadata due
wait_sql 0 "SELECT count(*) FROM report WHERE state <> 'routed'" || fail "not routed"
for c in "$old" "$held" "$recent" "$ancient"; do
	id=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c'")
	oro ack "$id" --department slf-samordnare >/dev/null
done
psql_q "UPDATE delivery SET acknowledged_at = now() - interval '31 days' WHERE report_id IN
        (SELECT id FROM report WHERE case_number IN ('$old', '$held', '$ancient'))" >/dev/null
psql_q "UPDATE report SET filed_at = now() - interval '6 years', routed_at = now() - interval '6 years'
        WHERE case_number = '$ancient'" >/dev/null

out=$(oro hold "$held" --reason "Begärd av polisen i förundersökning" --json)
check_json "$out" '.hold == true' "$held is put on legal hold"
check "! oro hold '$held' --reason again >/dev/null 2>&1" "a case already on hold cannot be held twice"
check "! oro hold ORO-1999-000001 --reason x >/dev/null 2>&1" "an unknown case cannot be held"

ancient_id=$(psql_q "SELECT id FROM report WHERE case_number = '$ancient'")
before=$(psql_q "SELECT count(*) FROM report_content")
out=$(oro purge --dry-run --json)
check_json "$out" ".dry_run and (.content | sort) == ([\"$old\", \"$ancient\"] | sort) and .metadata == [\"$ancient\"]" \
	"--dry-run lists the content of $old and $ancient and the metadata of $ancient"
check "[ $(psql_q "SELECT count(*) FROM report_content") = $before ]" "--dry-run changes nothing"

out=$(oro purge --json)
check_json "$out" "(.content | sort) == ([\"$old\", \"$ancient\"] | sort) and .metadata == [\"$ancient\"]" "oro purge purges what is due"
check "[ $(psql_q "SELECT count(*) FROM report_content c JOIN report r ON r.id = c.report_id WHERE r.case_number = '$old'") = 0 ]" \
	"the sealed content of $old is gone"
check "[ '$(psql_q "SELECT state || ' ' || (content_purged_at IS NOT NULL) FROM report WHERE case_number = '$old'")' = 'routed true' ]" \
	"its routing metadata stays, marked purged"
check "[ $(psql_q "SELECT count(*) FROM timeline t JOIN report r ON r.id = t.report_id WHERE r.case_number = '$old' AND event = 'content_purged'") = 1 ]" \
	"the purge is in its timeline"
check "[ $(psql_q "SELECT count(*) FROM report WHERE case_number = '$ancient'") = 0 ]" "the six-year-old case's metadata is gone"
# the timeline has no foreign keys (sql/008): the purge itself must leave nothing of the case
check "[ $(psql_q "SELECT (SELECT count(*) FROM timeline WHERE report_id = $ancient_id)
                        + (SELECT count(*) FROM delivery WHERE report_id = $ancient_id)") = 0 ]" \
	"its timeline and deliveries are gone with it"
for c in "$held" "$recent" "$open"; do
	check "[ $(psql_q "SELECT count(*) FROM report_content c JOIN report r ON r.id = c.report_id WHERE r.case_number = '$c'") = 1 ]" \
		"$c keeps its content"
done
check "[ $(psql_q "SELECT count(*) FROM audit WHERE action = 'purged'") = 3 ]" "three purges in the audit trail (two content, one metadata)"
check "[ $(psql_q "SELECT count(*) FROM audit WHERE action = 'hold'") = 1 ]" "the hold is in the audit trail"
id=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$old'")
out=$(oro show "$id" --department slf-samordnare --json)
check_json "$out" '.case_number and (.description | not)' "a purged case still shows its routing metadata, without content"

oro hold "$held" --release >/dev/null
out=$(oro purge --json)
check_json "$out" ".content == [\"$held\"]" "released from hold, $held is purged at the next run"
oro audit verify >/dev/null || fail "the audit trail does not verify after the purges"
echo "ok: the audit trail verifies after the purges"
