#!/usr/bin/env bash
# Integration: deploy/pg reserve-wal makes min_wal_size of WAL files ready,
# so that a burst writes into existing files instead of making every COMMIT
# wait while a new one is created (docs/operations.md §1.5).
#   1. deploy/pg sets min_wal_size = 2GB;
#   2. with min_wal_size lowered to 64MB (4 files of 16 MB, to keep the test
#      small), reserve-wal leaves at least 3 files past the current one;
#   3. the cluster still works: a table written after it is read back;
#   4. reserve-wal on a stopped cluster fails and says why.
set -euo pipefail
. "$(dirname "$0")/../lib/stack.sh"

stack_init
stack_pg_start

check '[[ $(psql_q "SHOW min_wal_size") == 2GB ]]' "deploy/pg sets min_wal_size = 2GB"

before=$(wal_files_ahead)
psql_q "ALTER SYSTEM SET min_wal_size = '64MB'" >/dev/null
psql_q "SELECT pg_reload_conf()" >/dev/null
"$ORO_REPO/deploy/pg" reserve-wal "$ORO_TEST_DIR/pg" || fail "deploy/pg reserve-wal failed"
after=$(wal_files_ahead)
check "[ $after -ge 3 ]" "reserve-wal with min_wal_size 64MB: $after WAL files ready ahead (at least 3; $before before)"

psql_q "CREATE TABLE wal_reserve_check AS SELECT g FROM generate_series(1, 1000) g" >/dev/null
check '[[ $(psql_q "SELECT sum(g) FROM wal_reserve_check") == 500500 ]]' "the cluster writes and reads after reserve-wal"

"$ORO_REPO/deploy/pg" stop "$ORO_TEST_DIR/pg"
if out=$("$ORO_REPO/deploy/pg" reserve-wal "$ORO_TEST_DIR/pg" 2>&1); then
	fail "reserve-wal on a stopped cluster succeeded"
fi
check '[[ $out == *"is not running"* ]]' "reserve-wal on a stopped cluster fails: $out"
