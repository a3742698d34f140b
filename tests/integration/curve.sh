#!/usr/bin/env bash
# Integration: transport security and authorisation. The stack runs on
# tcp:// loopback endpoints with CURVE; the ZAP handlers admit only
# registered, unrevoked keys; the reporter on record is the authenticated
# principal; staff follow only their own receipts; a department principal
# reads only its own department's deliveries; refusals are `forbidden` and
# audited; a revocation holds within seconds; a tcp:// endpoint without
# CURVE keys is refused at start.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_pg_start
K=$ORO_TEST_DIR/curve
mkdir -m 700 "$K"
for p in service anna bertil clerk officer mallory; do oro keys new "$K/$p" >/dev/null; done
check "[ \$(stat -c %a '$K/anna.key') = 600 ]" "oro keys new writes the secret key with mode 600"
port=$(tcp_port_base)
cat >>"$ORO_CONFIG" <<CONF
intake_endpoint = tcp://127.0.0.1:$port
intake_prompt_endpoint = tcp://127.0.0.1:$((port + 1))
notify_endpoint = tcp://127.0.0.1:$((port + 2))
router_prompt_endpoint = tcp://127.0.0.1:$((port + 3))
curve_key_file = $K/service.key
curve_server_key = $K/service.pub
request_timeout_ms = 1500
CONF
stack_import
oro principal add anna --kind staff --key "$K/anna.pub" >/dev/null
oro principal add bertil --kind staff --key "$K/bertil.pub" >/dev/null
oro principal add clerk --kind department --department soc-barn --key "$K/clerk.pub" >/dev/null
oro principal add officer --kind department --department polis --key "$K/officer.pub" >/dev/null
check "oro principal list --json | jq -e 'length == 4 and (.[] | select(.name == \"clerk\") | .department == \"soc-barn\")' >/dev/null" \
	"four principals registered, the clerk with her department"
for d in intake router notify; do daemon_start "$d"; done
as() { local who=$1; shift; oro --curve-key-file "$K/$who.key" "$@"; }

# The reporter on record is the key's principal, whatever the message claims.
as anna report --json --principal somebody-else --client-key c1 --category recruitment --urgency concern \
	--subject-kind child --setting school --district Hagalund --description "Recruits younger pupils." >"$ORO_TEST_DIR/c1.json"
c1=$(jq -r .case_number "$ORO_TEST_DIR/c1.json")
receipt=$(jq -r .receipt "$ORO_TEST_DIR/c1.json")
check "[ '$(psql_q "SELECT reporter FROM report WHERE case_number = '$c1'")' = anna ]" \
	"the reporter recorded on $c1 is the authenticated anna, not the claimed name"
as anna status "$receipt" >/dev/null || fail "anna cannot follow her own receipt"
echo "ok: anna follows her own receipt"
out=$(as bertil status "$receipt" --json || true)
check_json "$out" '.error.code == "forbidden"' "bertil following anna's receipt is forbidden"

# Unknown keys are refused at the handshake: no answer, nothing stored.
status=0
as mallory report --json --request-retries 0 --client-key m1 --category other --urgency concern --subject-kind unknown \
	--setting other --district okänt --description "x" >/dev/null 2>&1 || status=$?
check "[ $status = 3 ] && [ $(psql_q "SELECT count(*) FROM report WHERE client_key = 'm1'") = 0 ]" \
	"an unregistered key gets no answer (exit 3) and stores nothing"
check "grep -q 'auth=refused' '$ORO_TEST_DIR/intake.log'" "... and the refusal is logged"

# Departments see only their own deliveries.
wait_sql 0 "SELECT count(*) FROM report WHERE state <> 'routed'" || fail "not routed"
sb=$(psql_q "SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.case_number = '$c1' AND department = 'soc-barn'")
out=$(as officer show "$sb" --department soc-barn --json || true)
check_json "$out" '.error.code == "forbidden"' "the police officer reading soc-barn's delivery is forbidden"
out=$(as officer inbox --department soc-barn --json || true)
check_json "$out" '.error.code == "forbidden"' "... and listing soc-barn's inbox is forbidden"
out=$(as clerk show "$sb" --department soc-barn --json)
check_json "$out" '.description == "Recruits younger pupils."' "the soc-barn clerk reads it, with its content"
out=$(as officer inbox --department polis --json)
check_json "$out" '.deliveries | length == 1' "the officer lists the police inbox"
as officer inbox --department polis --follow --ack --max 1 --for 10 >/dev/null || fail "the officer cannot follow the police inbox"
check "[ '$(psql_q "SELECT acknowledged_by FROM delivery WHERE department = 'polis'")' = officer ]" \
	"the acknowledgement names the authenticated officer"
out=$(as anna inbox --department polis --json || true)
check_json "$out" '.error.code == "forbidden"' "a staff key cannot read a department's inbox"
check "[ $(psql_q "SELECT count(*) FROM audit WHERE action = 'forbidden'") -ge 4 ]" "every refusal is in the audit trail"
oro audit verify >/dev/null || fail "the audit trail does not verify"

# Revocation holds within seconds, without restart.
oro principal revoke anna >/dev/null
sleep 1.5 # sweep_interval_ms is 500 in tests
status=0
as anna report --json --request-retries 0 --client-key c2 --category other --urgency concern --subject-kind unknown \
	--setting other --district okänt --description "y" >/dev/null 2>&1 || status=$?
check "[ $status = 3 ] && [ $(psql_q "SELECT count(*) FROM report WHERE client_key = 'c2'") = 0 ]" \
	"anna's revoked key is refused within seconds"

# A tcp:// endpoint without CURVE keys is refused at start.
status=0
timeout 10 "$ORO_BIN/oro-intake" --config "$ORO_CONFIG" --curve-key-file "" --intake-endpoint "tcp://127.0.0.1:$((port + 9))" \
	>"$ORO_TEST_DIR/nocurve.log" 2>&1 || status=$?
check "[ $status = 1 ] && grep -q 'tcp:// endpoints need CURVE' '$ORO_TEST_DIR/nocurve.log'" "a daemon refuses a tcp:// endpoint without CURVE"
