#!/usr/bin/env bash
# The whole suite on SQLite and on PostgreSQL, side by side, each spread over pytest-xdist workers
# (tests mostly wait on real parts, so more workers than cores pay off). Before them, the Kubernetes
# control plane and helm are built when missing (scripts/kube-build.sh, scripts/go-tool.sh: helm and cosign; the latency proxy; cached) and two clusters are started for
# the whole run (tests/fixtures/cluster.py), used by both passes. Each pass writes its own log; both
# are printed when both have ended, with the 30 slowest tests of each; the tests' durations are kept
# (~/.cache/berth/test-durations.json) to split the next run's single-pass tests evenly. Exit status: non-zero if either
# pass failed.
set -uo pipefail
bin="${BIN:-.venv/bin}"
workers="${BERTH_TEST_WORKERS:-4}"
logs="$(mktemp -d)"
start=$(date +%s)
kube_bin=$(scripts/kube-build.sh) || { echo "make test: building the Kubernetes control plane failed"; exit 1; }
export BERTH_KUBE_BIN="$kube_bin"
BERTH_HELM=$(scripts/go-tool.sh helm) || { echo "make test: building helm failed"; exit 1; }
export BERTH_HELM
BERTH_COSIGN=$(scripts/go-tool.sh cosign) || { echo "make test: building cosign failed"; exit 1; }
export BERTH_COSIGN
"$bin/python" -c "from tests.fixtures.latency import binary; binary()" \
  || { echo "make test: building the latency proxy (tools/latency-proxy) failed"; exit 1; }
export BERTH_TEST_CLUSTER="$logs/cluster" BERTH_TEST_SECOND_CLUSTER="$logs/cluster2"
trap '"$bin/python" -m tests.fixtures.cluster stop "$BERTH_TEST_CLUSTER";
      "$bin/python" -m tests.fixtures.cluster stop "$BERTH_TEST_SECOND_CLUSTER"; rm -rf "$logs"' EXIT
# Two control planes, started side by side: the second for the tests of several clusters
# (environments), shared by every worker instead of one started per worker.
"$bin/python" -m tests.fixtures.cluster start "$BERTH_TEST_SECOND_CLUSTER" berth-test-2 &
second=$!
first_ok=0; "$bin/python" -m tests.fixtures.cluster start "$BERTH_TEST_CLUSTER" || first_ok=1
second_ok=0; wait "$second" || second_ok=1
if [ "$first_ok" != 0 ] || [ "$second_ok" != 0 ]; then
  for log in "$BERTH_TEST_CLUSTER"/*.log "$BERTH_TEST_SECOND_CLUSTER"/*.log; do echo "--- $log"; tail -n 30 "$log"; done
  echo "make test: a Kubernetes test cluster did not start"
  exit 1
fi
run_pass() {  # name, then environment assignments
  local name=$1; shift
  # Each pass's temporary files in this run's own folder (removed with it), so no pass spends its end
  # removing an earlier run's leftovers.
  env "$@" "$bin/pytest" -q -p no:cacheprovider -n "$workers" --durations=30 --basetemp "$logs/tmp-$name" \
    ${PYTEST_ARGS:-} > "$logs/$name.log" 2>&1
  echo $? > "$logs/$name.rc"
}
# The tests that are the same on either database run once, split between the passes so both take
# about as long, by the durations the last run on this machine recorded (tests/conftest.py).
durations="${XDG_CACHE_HOME:-$HOME/.cache}/berth/test-durations.json"
mkdir -p "$logs/durations" "$(dirname "$durations")"
split=(BERTH_TEST_SPLIT_RUNTIME=1 BERTH_TEST_DURATIONS="$durations" BERTH_TEST_DURATIONS_OUT="$logs/durations")
run_pass sqlite BERTH_TEST_DATABASE=sqlite "${split[@]}" &
run_pass postgresql BERTH_TEST_DATABASE=postgresql "${split[@]}" &
wait
"$bin/python" - "$durations" "$logs"/durations/*.json <<'PY' || true
import json, sys
out, merged = sys.argv[1], {}
try:
    merged = json.load(open(out))
except (OSError, ValueError):
    pass
for path in sys.argv[2:]:
    for nodeid, seconds in json.load(open(path)).items():
        merged[nodeid] = round(max(seconds, merged.get(nodeid, 0) * 0.5), 2)  # this run's, smoothed upward
json.dump(merged, open(out, "w"))
PY
status=0
for name in sqlite postgresql; do
  rc=$(cat "$logs/$name.rc")
  echo "===================== $name (exit $rc) ====================="
  cat "$logs/$name.log"
  [ "$rc" = 0 ] || status=1
done
echo "make test: both passes in $(( $(date +%s) - start )) s (SQLite and PostgreSQL side by side, $workers workers each)"
exit $status
