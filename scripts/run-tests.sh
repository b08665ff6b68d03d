#!/usr/bin/env bash
# The whole suite on SQLite and on PostgreSQL, side by side, each spread over pytest-xdist workers
# (tests mostly wait on real parts, so more workers than cores pay off). Each pass writes its own log;
# both are printed when both have ended, with the 15 slowest tests of each. Exit status: non-zero if
# either pass failed.
set -uo pipefail
bin="${BIN:-.venv/bin}"
workers="${BERTH_TEST_WORKERS:-4}"
logs="$(mktemp -d)"
start=$(date +%s)
run_pass() {  # name, then environment assignments
  local name=$1; shift
  env "$@" "$bin/pytest" -q -p no:cacheprovider -n "$workers" --durations=15 ${PYTEST_ARGS:-} \
    > "$logs/$name.log" 2>&1
  echo $? > "$logs/$name.rc"
}
run_pass sqlite BERTH_TEST_DATABASE=sqlite &
run_pass postgresql BERTH_TEST_DATABASE=postgresql &
wait
status=0
for name in sqlite postgresql; do
  rc=$(cat "$logs/$name.rc")
  echo "===================== $name (exit $rc) ====================="
  cat "$logs/$name.log"
  [ "$rc" = 0 ] || status=1
done
echo "make test: both passes in $(( $(date +%s) - start )) s (SQLite and PostgreSQL side by side, $workers workers each)"
rm -rf "$logs"
exit $status
