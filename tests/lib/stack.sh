# shellcheck shell=bash
# tests/lib/stack.sh: a throwaway Oro stack for one integration test.
#
# Source it from a bash test, then:
#
#   stack_init                 private directory $ORO_TEST_DIR under /tmp; teardown on exit
#   stack_pg_start             PostgreSQL cluster (fsync off), migrations, the sealing key file
#                              $ORO_TEST_DIR/keys, $ORO_TEST_DIR/oro.conf;
#                              exports ORO_CONFIG so that every oro program uses that file
#   stack_pg_stop              stop the cluster (stack_pg_start starts it again, data kept)
#   stack_pg_crash             stop the cluster at once (pg_ctl stop -m immediate: connections
#                              cut, no shutdown checkpoint; the next start runs crash recovery)
#   stack_pg_resume            start the cluster again, nothing else (no migration, oro.conf untouched)
#   stack_import [FILE]        oro rules publish FILE (default sql/strategy/solna-v1.json)
#   daemon_start NAME [ARGS]   start oro-NAME (intake, router, notify) and wait for event=ready
#   daemon_stop NAME [SIGNAL]  signal it (default TERM), wait; SIGKILL after 10 s
#   daemon_pid NAME            print its process id
#   stack_up                   stack_pg_start + stack_import + the three daemons
#   oro ARGS...                $ORO_BIN/oro
#   psql_q SQL                 run SQL against the cluster, print the rows (unaligned, tuples only)
#   tcp_port_base              print a random loopback port P for tcp:// endpoints P..P+3,
#                              below the kernel's ephemeral range
#   wal_files_ahead            print how many WAL files the cluster has ready past the current one
#   wait_for CMD...            poll CMD until it succeeds (WAIT_FOR_TRIES x 0.1 s, default 100)
#   wait_sql EXPECTED SQL      poll until SQL prints EXPECTED (same tries)
#   fail MSG                   print MSG and exit 1
#   check COND MSG             eval COND; print "ok: MSG", or fail with MSG
#   check_json JSON FILTER MSG jq -e FILTER on the text JSON; print "ok: MSG", or fail
#   stack_teardown             stop daemons and cluster, remove $ORO_TEST_DIR (kept when
#                              ORO_KEEP_TEST_DIR is set); after a failure, print the logs' tails
#
# Daemons talk over ipc:// sockets in $ORO_TEST_DIR, so tests run in
# parallel without port clashes. Each daemon's stdout and stderr go to
# $ORO_TEST_DIR/NAME.log, appended across restarts. ORO_BIN, the directory
# of the built programs, comes from the caller (CTest sets it) and defaults
# to build/bin of this repository.
set -euo pipefail

ORO_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
ORO_BIN=${ORO_BIN:-$ORO_REPO/build/bin}
export ORO_REPO ORO_BIN
ORO_DAEMONS=(intake router notify)
ORO_STOP_WAIT_TRIES=100 # x 0.1 s before SIGKILL
ORO_READY_TRIES=${ORO_READY_TRIES:-300} # x 0.1 s for event=ready (sanitizer builds start slowly)
stack_torn_down=0
# shellcheck disable=SC2034 # read by tests
daemon_exit_status= # exit status of the daemon last stopped by daemon_stop, when it was our child

# Print MSG to stderr and end the test with status 1.
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# Evaluate COND (a shell expression); on success print "ok: MSG", else fail.
check() {
	(($# == 2)) || fail "check: usage: check COND MSG"
	if eval "$1"; then
		printf 'ok: %s\n' "$2"
	else
		fail "$2 (check failed: $1)"
	fi
}

# Check that jq FILTER holds for the JSON text JSON; print "ok: MSG" or fail.
check_json() {
	(($# == 3)) || fail "check_json: usage: check_json JSON FILTER MSG"
	if jq -e "$2" <<<"$1" >/dev/null 2>&1; then
		printf 'ok: %s\n' "$3"
	else
		fail "$3 (jq $2 does not hold for: $1)"
	fi
}

# Poll CMD... every 0.1 s until it succeeds; return 1 after WAIT_FOR_TRIES tries.
wait_for() {
	local tries=${WAIT_FOR_TRIES:-100} i
	for ((i = 0; i < tries; i++)); do
		if "$@"; then
			return 0
		fi
		sleep 0.1
	done
	printf 'wait_for: gave up after %d tries: %s\n' "$tries" "$*" >&2
	return 1
}

# Poll until SQL prints EXPECTED (same tries as wait_for); return 1 if it never does.
wait_sql() {
	local expected=$1 sql=$2 tries=${WAIT_FOR_TRIES:-100} i got=
	for ((i = 0; i < tries; i++)); do
		got=$(psql_q "$sql" 2>/dev/null || true)
		if [ "$got" = "$expected" ]; then
			return 0
		fi
		sleep 0.1
	done
	printf 'wait_sql: wanted "%s", still "%s" after %d tries: %s\n' "$expected" "$got" "$tries" "$sql" >&2
	return 1
}

# The oro client, configured by $ORO_CONFIG.
oro() {
	"$ORO_BIN/oro" "$@"
}

# Make $ORO_TEST_DIR and arrange for stack_teardown at exit.
stack_init() {
	ORO_TEST_DIR=$(mktemp -d /tmp/oro-test.XXXXXX)
	# The postgres system user runs the cluster when we are root: let it in.
	chmod 755 "$ORO_TEST_DIR"
	export ORO_TEST_DIR
	stack_torn_down=0
	trap 'stack__on_exit' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

stack__on_exit() {
	local rc=$?
	stack_teardown "$rc"
	exit "$rc"
}

stack__need_init() {
	[[ -n ${ORO_TEST_DIR:-} && -d $ORO_TEST_DIR ]] || fail "call stack_init first"
}

# Start (or restart) the cluster, migrate, and write the configuration.
stack_pg_start() {
	stack__need_init
	local out
	"$ORO_REPO/deploy/pg" start "$ORO_TEST_DIR/pg" --fast || fail "deploy/pg start failed"
	ORO_DB=$("$ORO_REPO/deploy/pg" conninfo "$ORO_TEST_DIR/pg")
	export ORO_DB
	if ! out=$("$ORO_REPO/deploy/migrate" "$ORO_DB" 2>&1); then
		printf '%s\n' "$out" >&2
		fail "deploy/migrate failed"
	fi
	# The sealing keys, made once per test (a restart of the cluster keeps them).
	if [[ ! -e $ORO_TEST_DIR/keys ]]; then
		"$ORO_BIN/oro" keys init "$ORO_TEST_DIR/keys" >/dev/null || fail "oro keys init failed"
	fi
	cat >"$ORO_TEST_DIR/oro.conf" <<EOF
# Written by tests/lib/stack.sh for one test.
database = $ORO_DB
key_file = $ORO_TEST_DIR/keys
database_roles = 1
instance = test
intake_endpoint = ipc://$ORO_TEST_DIR/intake.sock
intake_prompt_endpoint = ipc://$ORO_TEST_DIR/intake-prompt.sock
notify_endpoint = ipc://$ORO_TEST_DIR/notify.sock
router_prompt_endpoint = ipc://$ORO_TEST_DIR/router-prompt.sock
sweep_interval_ms = 500
heartbeat_ms = 500
request_timeout_ms = 5000
EOF
	export ORO_CONFIG=$ORO_TEST_DIR/oro.conf
}

# Stop the cluster; its data stays for the next stack_pg_start.
stack_pg_stop() {
	stack__need_init
	"$ORO_REPO/deploy/pg" stop "$ORO_TEST_DIR/pg" || fail "deploy/pg stop failed"
}

# Stop the cluster as a crash would: immediate shutdown, data kept.
stack_pg_crash() {
	stack__need_init
	local pg=$ORO_TEST_DIR/pg
	local ctl=(/usr/lib/postgresql/15/bin/pg_ctl stop -D "$pg/data" -m immediate -w -t 60)
	# As deploy/pg does: the cluster belongs to the postgres user when we are root.
	if [[ $EUID -eq 0 ]]; then
		(cd "$pg" && runuser -u postgres -- "${ctl[@]}") >/dev/null || fail "pg_ctl stop -m immediate failed"
	else
		"${ctl[@]}" >/dev/null || fail "pg_ctl stop -m immediate failed"
	fi
}

# Start the cluster again after stack_pg_stop or stack_pg_crash; only that,
# so that programs starting meanwhile never read a half-written oro.conf.
stack_pg_resume() {
	stack__need_init
	"$ORO_REPO/deploy/pg" start "$ORO_TEST_DIR/pg" --fast || fail "deploy/pg start failed"
}

# Import a ruleset document (default: the seeded strategy).
stack_import() {
	stack__need_init
	local file=${1:-$ORO_REPO/sql/strategy/solna-v1.json} out
	if ! out=$("$ORO_BIN/oro" rules publish "$file" 2>&1); then
		printf '%s\n' "$out" >&2
		fail "oro rules publish $file failed"
	fi
}

stack__check_name() {
	case ${1:-} in
	intake | router | notify) ;;
	*) fail "unknown daemon '${1:-}' (intake, router, notify)" ;;
	esac
}

# True when process $1 exists and is not a zombie.
stack__alive() {
	local stat
	[[ -n $1 ]] || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# Print the process id of daemon NAME (empty when never started).
daemon_pid() {
	stack__check_name "${1:-}"
	cat "$ORO_TEST_DIR/$1.pid" 2>/dev/null || true
}

# Print the last lines of a log file to stderr.
stack__log_tail() {
	local file=$1 lines=${2:-40}
	[[ -s $file ]] || return 0
	printf -- '--- last %d lines of %s\n' "$lines" "$file" >&2
	tail -n "$lines" "$file" >&2 || true
}

# Start oro-NAME with ARGS, wait for event=ready in its log.
daemon_start() {
	stack__need_init
	local name=${1:-}
	stack__check_name "$name"
	shift
	local log=$ORO_TEST_DIR/$name.log pid offset i
	[[ -x $ORO_BIN/oro-$name ]] || fail "$ORO_BIN/oro-$name is not built"
	pid=$(daemon_pid "$name")
	if stack__alive "$pid"; then
		fail "oro-$name is already running (pid $pid)"
	fi
	touch "$log"
	offset=$(stat -c %s "$log")
	"$ORO_BIN/oro-$name" "$@" >>"$log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$ORO_TEST_DIR/$name.pid"
	for ((i = 0; i < ORO_READY_TRIES; i++)); do
		if [[ $(tail -c +"$((offset + 1))" "$log") == *event=ready* ]]; then
			return 0
		fi
		if ! stack__alive "$pid"; then
			stack__log_tail "$log"
			fail "oro-$name exited before it was ready"
		fi
		sleep 0.1
	done
	stack__log_tail "$log"
	fail "oro-$name not ready after $((ORO_READY_TRIES / 10)) s"
}

# Signal process PID (called WHAT in messages) with SIG, wait for it to end,
# SIGKILL after 10 s; daemon_exit_status is its status when it was our child.
stack__stop_pid() {
	local what=$1 pid=$2 sig=$3 i status=0
	daemon_exit_status=
	[[ -n $pid ]] || return 0
	if stack__alive "$pid"; then
		kill -s "$sig" "$pid" 2>/dev/null || true
		for ((i = 0; i < ORO_STOP_WAIT_TRIES; i++)); do
			stack__alive "$pid" || break
			sleep 0.1
		done
		if stack__alive "$pid"; then
			printf 'stop: %s ignored SIG%s for 10 s: SIGKILL\n' "$what" "$sig" >&2
			kill -s KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				stack__alive "$pid" || break
				sleep 0.1
			done
		fi
	fi
	# Reap it (it is our child unless started in a subshell) for its status.
	wait "$pid" 2>/dev/null || status=$?
	# shellcheck disable=SC2034 # read by tests
	daemon_exit_status=$status
}

# Send SIGNAL (default TERM) to oro-NAME and wait for it to end; SIGKILL
# after 10 s. Sets daemon_exit_status when the daemon was our child.
daemon_stop() {
	stack__need_init
	local name=${1:-} sig=${2:-TERM} pid
	stack__check_name "$name"
	pid=$(daemon_pid "$name")
	stack__stop_pid "oro-$name" "$pid" "$sig"
	rm -f "$ORO_TEST_DIR/$name.pid"
}

# The whole stack: cluster, strategy, the three daemons.
stack_up() {
	stack_pg_start
	stack_import "$ORO_REPO/sql/strategy/solna-v1.json"
	local d
	for d in "${ORO_DAEMONS[@]}"; do
		daemon_start "$d"
	done
}

# A random port P for tcp:// endpoints P..P+3 on 127.0.0.1, below the
# kernel's range of ephemeral ports, so that no outgoing connection (of this
# run or of one before) can hold one of them when a daemon binds it.
tcp_port_base() {
	local low _
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range || low=32768
	((low >= 12000)) || low=32768
	echo $((10000 + RANDOM % (low - 10004)))
}

# The WAL files past the one being written now (deploy/pg reserve-wal makes them).
wal_files_ahead() {
	psql_q "SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}\$'
		AND name > pg_walfile_name(pg_current_wal_lsn())"
}

# Run SQL against the test database; print the rows, unaligned.
psql_q() {
	(($# >= 1)) || fail "psql_q: usage: psql_q SQL"
	[[ -n ${ORO_DB:-} ]] || fail "psql_q: call stack_pg_start first"
	psql -XAtq -v ON_ERROR_STOP=1 -d "$ORO_DB" -c "$1"
}

# Stop everything and remove $ORO_TEST_DIR. $1 is the test's exit status
# (non-zero prints the logs' tails). Safe to call twice.
stack_teardown() {
	local rc=${1:-0} d
	((stack_torn_down == 0)) || return 0
	stack_torn_down=1
	[[ -n ${ORO_TEST_DIR:-} && -d $ORO_TEST_DIR ]] || return 0
	set +e
	for d in "${ORO_DAEMONS[@]}"; do
		[[ -f $ORO_TEST_DIR/$d.pid ]] && daemon_stop "$d"
	done
	if ((rc != 0)); then
		for d in "${ORO_DAEMONS[@]}"; do
			stack__log_tail "$ORO_TEST_DIR/$d.log" 40
		done
		stack__log_tail "$ORO_TEST_DIR/pg/postgres.log" 20
	fi
	"$ORO_REPO/deploy/pg" stop "$ORO_TEST_DIR/pg"
	if [[ -n ${ORO_KEEP_TEST_DIR:-} ]]; then
		printf 'stack: kept %s\n' "$ORO_TEST_DIR" >&2
	else
		rm -rf "$ORO_TEST_DIR"
	fi
	set -e
	return 0
}

# ------------------------------------------------------------------------
# Further daemon instances, for tests of several instances on one database.
# Each has its own instance name INST (also the daemon's --instance), pid
# file $ORO_TEST_DIR/INST.pid and log $ORO_TEST_DIR/INST.log; give it its own
# endpoints with ARGS (e.g. --router-prompt-endpoint ipc://...). A test that
# starts any must stop them before stack_teardown (instance_stop_all in its
# own EXIT trap): stack_teardown knows only intake, router and notify.
#
#   instance_start NAME INST [ARGS]  start oro-NAME --instance INST ARGS, wait for event=ready
#   instance_pid INST                print its process id (empty when not running)
#   instance_stop INST [SIGNAL]      as daemon_stop (sets daemon_exit_status)
#   instance_stop_all [RC]           stop every instance still running; RC != 0 prints their logs' tails
#   proc_cpu_ticks PID [--reaped]    user + system CPU time of PID in clock ticks (getconf CLK_TCK);
#                                    --reaped adds that of the children it has waited for
#   proc_rss_kib PID                 resident set size (VmRSS) of PID in KiB
ORO_INSTANCES=()

stack__check_instance() {
	[[ ${1:-} =~ ^[a-z0-9][a-z0-9-]*$ ]] || fail "bad instance name '${1:-}' (a-z, 0-9 and -)"
	case $1 in
	intake | router | notify | pg | oro) fail "instance name '$1' is taken by the stack" ;;
	esac
}

# Print the process id of instance INST (empty when never started).
instance_pid() {
	stack__check_instance "${1:-}"
	cat "$ORO_TEST_DIR/$1.pid" 2>/dev/null || true
}

# Start oro-NAME as instance INST with ARGS; wait for event=ready in INST.log.
instance_start() {
	stack__need_init
	local name=${1:-} inst=${2:-} log pid offset i known
	stack__check_name "$name"
	stack__check_instance "$inst"
	shift 2
	log=$ORO_TEST_DIR/$inst.log
	[[ -x $ORO_BIN/oro-$name ]] || fail "$ORO_BIN/oro-$name is not built"
	pid=$(instance_pid "$inst")
	if stack__alive "$pid"; then
		fail "instance $inst is already running (pid $pid)"
	fi
	touch "$log"
	offset=$(stat -c %s "$log")
	"$ORO_BIN/oro-$name" --instance "$inst" "$@" >>"$log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$ORO_TEST_DIR/$inst.pid"
	known=0
	for i in "${ORO_INSTANCES[@]}"; do
		[[ $i != "$inst" ]] || known=1
	done
	((known)) || ORO_INSTANCES+=("$inst")
	for ((i = 0; i < ORO_READY_TRIES; i++)); do
		if [[ $(tail -c +"$((offset + 1))" "$log") == *event=ready* ]]; then
			return 0
		fi
		if ! stack__alive "$pid"; then
			stack__log_tail "$log"
			fail "oro-$name instance $inst exited before it was ready"
		fi
		sleep 0.1
	done
	stack__log_tail "$log"
	fail "oro-$name instance $inst not ready after $((ORO_READY_TRIES / 10)) s"
}

# Send SIGNAL (default TERM) to instance INST and wait for it to end; SIGKILL after 10 s.
instance_stop() {
	stack__need_init
	local inst=${1:-} sig=${2:-TERM} pid
	stack__check_instance "$inst"
	pid=$(instance_pid "$inst")
	stack__stop_pid "$inst" "$pid" "$sig"
	rm -f "$ORO_TEST_DIR/$inst.pid"
}

# Stop every instance started by instance_start; $1 != 0 prints their logs' tails.
instance_stop_all() {
	local rc=${1:-0} inst
	[[ -n ${ORO_TEST_DIR:-} && -d $ORO_TEST_DIR ]] || return 0
	for inst in "${ORO_INSTANCES[@]}"; do
		[[ -f $ORO_TEST_DIR/$inst.pid ]] && instance_stop "$inst"
		((rc == 0)) || stack__log_tail "$ORO_TEST_DIR/$inst.log" 40
	done
	return 0
}

# Print utime + stime of process PID, in clock ticks; with --reaped, plus
# cutime + cstime (the children it has waited for).
proc_cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat") || return 1
	stat=${stat##*) }
	# after the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based)
	awk -v reaped="${2:-}" '{ print $12 + $13 + (reaped == "--reaped" ? $14 + $15 : 0) }' <<<"$stat"
}

# Print the resident set size (VmRSS) of process PID in KiB.
proc_rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
