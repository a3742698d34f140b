#!/usr/bin/env bash
# Integration: report content is sealed at rest. Marker strings filed in
# every sealed field appear in no pg_dump and no log file, yet the full
# deliveries carry them to the departments; a ciphertext moved to another
# report does not open; a key file others may read is refused; key
# rotation re-seals everything under a new key and is resumable.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_up

marker=MARKER$RANDOM$RANDOM
pn=19121212-1212 # Skatteverket's test personal number
phone="08-555 01 99"
oro report --json --client-key sealed-1 --category travel_conflict_zone --urgency concern --subject-kind child \
	--age 15 --setting school --district Hagalund --description "Description $marker-description" \
	--subject-name "Name $marker-name" --personal-number "$pn" --subject-unit "Unit $marker-unit" \
	--reporter-unit "Hagalundsskolan" --phone "$phone" >"$ORO_TEST_DIR/c1.json"
c1=$(jq -r .case_number "$ORO_TEST_DIR/c1.json")
receipt=$(jq -r .receipt "$ORO_TEST_DIR/c1.json")
oro report --json --client-key sealed-2 --category propaganda --urgency concern --subject-kind adult --age 40 \
	--setting online --district Råsunda --description "Other $marker-other" >"$ORO_TEST_DIR/c2.json"
c2=$(jq -r .case_number "$ORO_TEST_DIR/c2.json")
wait_sql 0 "SELECT count(*) FROM report WHERE state <> 'routed'" || fail "not routed"

# The departments receive the content (the full views), and acknowledge.
for d in polis buf; do
	oro inbox --department "$d" --follow --ack --max 1 --for 20 --json >"$ORO_TEST_DIR/$d.out"
done
check "grep -q '$marker-description' '$ORO_TEST_DIR/polis.out' && grep -q '$marker-name' '$ORO_TEST_DIR/polis.out' &&
       grep -q '$pn' '$ORO_TEST_DIR/polis.out' && grep -q '08-555 01 99' '$ORO_TEST_DIR/polis.out'" \
	"the police (full view) receive the description, identity and contact"
check "! grep -q '$marker' '$ORO_TEST_DIR/buf.out'" "the school administration (notice) receives none of it"
id=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c1' AND department = 'soc-barn'")
out=$(oro show "$id" --department soc-barn --json)
check_json "$out" ".description == \"Description $marker-description\" and .subject.age == 15 and .subject.unit == \"Unit $marker-unit\"" \
	"oro show opens a full delivery for its department"
out=$(oro report --json --client-key sealed-1 --category travel_conflict_zone --urgency concern --subject-kind child \
	--age 15 --setting school --district Hagalund --description "again")
check_json "$out" ".duplicate and .receipt == \"$receipt\"" "a resubmission gets the sealed receipt back, opened"
oro status "$receipt" >/dev/null || fail "the receipt does not follow its case"

# At rest: no marker, personal number or phone in a dump of the database.
"$ORO_REPO/deploy/pg" psql "$ORO_TEST_DIR/pg" -c "SELECT 1" >/dev/null
if [[ $EUID -eq 0 ]]; then dump=(runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_dump); else dump=(/usr/lib/postgresql/15/bin/pg_dump); fi
(cd /tmp && "${dump[@]}" -h "$ORO_TEST_DIR/pg/sock" -p "$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$ORO_DB")" -U oro oro) >"$ORO_TEST_DIR/dump.sql"
check "[ -s '$ORO_TEST_DIR/dump.sql' ] && grep -q '$c1' '$ORO_TEST_DIR/dump.sql'" "pg_dump holds the cases ($(wc -c <"$ORO_TEST_DIR/dump.sql") bytes)"
for secret in "$marker" "$pn" "191212121212" "121212-1212" "$phone" "$receipt"; do
	check "! grep -q -- '$secret' '$ORO_TEST_DIR/dump.sql'" "\"$secret\" is not in the dump"
done
check "[ $(psql_q "SELECT count(*) FROM report_content WHERE description NOT LIKE 's1.1.%' OR receipt NOT LIKE 's1.1.%'
                   OR subject_age NOT LIKE 's1.1.%' OR reporter_phone NOT LIKE 's1.1.%'") = 0 ]" "every stored value is sealed under key 1"
for f in "$ORO_TEST_DIR"/*.log; do
	check "! grep -q -- '$marker' '$f' && ! grep -q -- '$pn' '$f' && ! grep -q -- '$receipt' '$f'" "nothing sealed is in $(basename "$f")"
done

# A ciphertext moved to another report does not open there.
own=$(psql_q "SELECT c.description FROM report_content c JOIN report r ON r.id = c.report_id WHERE r.case_number = '$c2'")
psql_q "UPDATE report_content SET description = (SELECT c.description FROM report_content c JOIN report r ON r.id = c.report_id
        WHERE r.case_number = '$c1') WHERE report_id = (SELECT id FROM report WHERE case_number = '$c2')" >/dev/null
id2=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c2'")
out=$(oro show "$id2" --department slf-samordnare --json)
check_json "$out" "(.description | contains(\"$marker-description\") | not) and (.description | startswith(\"(sealed\"))" \
	"a description copied from another report does not open"
check "grep -q 'event=unseal_failed field=description' '$ORO_TEST_DIR/notify.log'" "... and the failure is logged (without content)"

# Clear text planted in the database is not passed off as content either.
psql_q "UPDATE report_content SET subject_unit = 'planted unit' WHERE report_id = (SELECT id FROM report WHERE case_number = '$c1')" >/dev/null
out=$(oro show "$id" --department soc-barn --json)
check_json "$out" '(.subject.unit | startswith("(sealed")) and .description == "Description '"$marker"'-description"' \
	"a value planted in clear is refused like a tampered one"
psql_q "UPDATE report_content SET subject_unit = NULL WHERE report_id = (SELECT id FROM report WHERE case_number = '$c1')" >/dev/null

# A key file others may read is refused.
chmod 640 "$ORO_TEST_DIR/keys"
status=0
timeout 10 "$ORO_BIN/oro-router" --config "$ORO_CONFIG" --instance keycheck >"$ORO_TEST_DIR/keycheck.log" 2>&1 || status=$?
check "[ $status = 1 ] && grep -q 'level=fatal.*chmod 600' '$ORO_TEST_DIR/keycheck.log'" "a daemon refuses a group-readable key file"
chmod 600 "$ORO_TEST_DIR/keys"

# Rotation: a new key, everything re-sealed under it, still readable; the
# moved ciphertext opens with no key, so it is reported and left; once put
# back, --resume finishes the rotation.
status=0
oro keys rotate --json >"$ORO_TEST_DIR/rotate.json" 2>/dev/null || status=$?
check "[ $status = 1 ] && jq -e '.key == 2 and .resealed >= 1 and .unopenable == 1' '$ORO_TEST_DIR/rotate.json' >/dev/null" \
	"oro keys rotate adds key 2, re-seals, and reports the one value no key opens ($(cat "$ORO_TEST_DIR/rotate.json" | tr -d ' \n'))"
psql_q "UPDATE report_content SET description = '$own' WHERE report_id = (SELECT id FROM report WHERE case_number = '$c2')" >/dev/null
out=$(oro keys rotate --resume --json)
check_json "$out" '.key == 2 and .resealed == 1 and .unopenable == 0' "rotate --resume re-seals the restored value"
check "[ $(psql_q "SELECT count(*) FROM report_content WHERE description NOT LIKE 's1.2.%' OR receipt NOT LIKE 's1.2.%'") = 0 ]" \
	"every value is sealed under key 2"
out=$(oro show "$id" --department soc-barn --json)
check_json "$out" ".description == \"Description $marker-description\"" "content still opens after the rotation"
WAIT_FOR_TRIES=50 wait_for grep -q 'keys=loaded current=2' "$ORO_TEST_DIR/intake.log" || fail "intake did not load key 2"
oro report --json --client-key sealed-3 --category propaganda --urgency concern --subject-kind adult --setting online \
	--district Råsunda --description "After rotation" >/dev/null
check "[ $(psql_q "SELECT count(*) FROM report_content c JOIN report r ON r.id = c.report_id WHERE r.client_key = 'sealed-3'
                   AND description LIKE 's1.2.%'") = 1 ]" "the daemons seal new content with key 2"
out=$(oro keys rotate --resume --json)
check_json "$out" '.key == 2 and .resealed == 0' "another --resume finds nothing left to re-seal"
