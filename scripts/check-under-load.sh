#!/usr/bin/env bash
# Runs tests again and again beside processes that keep every core busy, and counts the
# runs that passed: a test that passes only on an idle machine fails here.
#
#   scripts/check-under-load.sh [--runs N] [--hogs N] [vitest files or filters…]
#
# --runs: how many times (default 3); --hogs: busy processes (default: 2 per core).
# Without files: the tests that run the local engine end to end (the demo, the local
# runtime, a restart, the CLI and the web view), the ones that depended on the machine's
# speed before the clock was simulated. `npm test` runs everything. Prints one line per
# run and a summary; exits 1 if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
hogs=$(( $(nproc) * 2 ))
files=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --hogs) hogs="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) files+=("$1"); shift ;;
  esac
done
if [[ ${#files[@]} -eq 0 ]]; then
  files=(test/integration/demo.test.ts test/integration/local-runtime.test.ts
    test/integration/local-restart.test.ts test/e2e/cli.test.ts test/e2e/web-view.test.ts)
fi

pids=()
stop_hogs() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_hogs EXIT
for ((i = 0; i < hogs; i++)); do
  node -e 'for (;;) { Math.sqrt(Math.random()); }' &
  pids+=($!)
done
echo "$hogs busy processes on $(nproc) cores; $runs runs of: ${files[*]}"

failed=0
log=$(mktemp -t under-load-XXXX.log)
for ((run = 1; run <= runs; run++)); do
  started=$(date +%s)
  if npx vitest run "${files[@]}" >"$log" 2>&1; then result=passed; else result=FAILED; failed=$((failed + 1)); fi
  echo "run $run: $result in $(( $(date +%s) - started )) s ($(grep -Eo 'Tests +[^(]+' "$log" | tail -1))"
  if [[ $result == FAILED ]]; then grep -E 'FAIL|Error' "$log" | head -20; fi
done
echo "$((runs - failed)) of $runs runs passed under load (last log: $log)"
[[ $failed -eq 0 ]]
