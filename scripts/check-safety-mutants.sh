#!/usr/bin/env bash
# Breaks one promotion rule at a time and checks that the promotion tests fail for each:
# the model-based tests (safety-properties.test.ts, crash-retry.test.ts) and the rule tests
# beside them in test/unit/promotion. A mutant that survives means no test would notice
# that rule being wrong.
#
# Usage: scripts/check-safety-mutants.sh     (needs a clean core/: it restores files with git)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "$(git status --porcelain core)" ]; then
  echo "core/ has uncommitted changes; commit or stash them first (this script restores core/ with git)." >&2
  exit 2
fi

survivors=0
mutate() {
  local file=$1 old=$2 new=$3 label=$4
  python3 - "$file" "$old" "$new" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
if old not in text:
    sys.exit(f"mutation source not found in {path}: {old!r}")
open(path, 'w').write(text.replace(old, new, 1))
PY
  if SAFETY_RUNS=${SAFETY_RUNS:-4000} npx vitest run test/unit/promotion >/dev/null 2>&1; then
    echo "SURVIVED  $label"
    survivors=$((survivors + 1))
  else
    echo "killed    $label"
  fi
  git checkout -q -- "$file"
}

mutate core/promotion/flow.ts 'if (release < newer) {' 'if (release > newer) {' 'supersede comparison flipped'
mutate core/promotion/flow.ts 'if (state.run !== null || state.pending === null || !state.promotionsIn.enabled) return;' 'if (state.run !== null || state.pending === null) return;' 'a stage takes a release while promotions in are disabled'
mutate core/promotion/flow.ts 'if (release === null || !state.promotionsOut.enabled) return;' 'if (release === null) return;' 'a release leaves while promotions out are disabled'
mutate core/promotion/admit.ts 'promotionsIn: state.promotionsIn,' 'promotionsIn: { enabled: true },' 'targets start while promotions in are disabled'
mutate core/blockers/evaluate.ts 'unreviewedCommits({ commits: input.newCommits })' 'unreviewedCommits(release)' 'only the release’s own commits are checked for review'
mutate core/promotion/deployment.ts 'rollbackTo: automaticRollbackTarget(target, state.targets[id]),' 'rollbackTo: run.release,' 'a failed run "rolls back" to the failing release'
mutate core/promotion/flow.ts 'return Math.max(state.pending ?? 0, state.newestStarted ?? 0, running);' 'return Math.max(state.pending ?? 0, running);' 'a release taken once enters the same stage again'
mutate core/promotion/deployment.ts 'if (target.status !== expected) {' "if (target.status !== 'deploying' && target.status !== 'rolling-back') {" 'a late deployment result is read as a rollback result'
mutate core/promotion/approval.ts 'if (held !== null && held < run.release) {' 'if (held !== null && held > run.release) {' 'a held approved release is dropped without an outcome'
mutate core/promotion/flow.ts 'if (run !== null && runHasNotStarted(run) && run.release < release) {' "if (run !== null && run.kind === 'normal' && run.step !== 'rolling-back' && run.release < release) {" 'a running stage is interrupted by a newer release'
mutate core/promotion/deployment.ts "draft.outcome(run.release, stage, { status: 'rejected', at: draft.now, reason });" "draft.outcome(run.release, stage, { status: 'approved', at: draft.now });" 'a failed run does not reject its release'
mutate core/promotion/transition.ts 'const writes: ItemWrite[] = changed.map(' 'const writes: ItemWrite[] = [...changed].reverse().map(' 'effects are written before their cause'
mutate core/promotion/flow.ts '    withdraw(draft, stage);' '    // withdraw(draft, stage);' 'a release a rollback upstream took back keeps waiting downstream'
mutate core/promotion/rule.ts '    for (const stage of draft.topology.stageNames) withdraw(draft, stage);' '' 'a late request decides before the withdrawal a crash left undone'
mutate core/promotion/controls.ts 'if (draft.stage(input.stage).handledRequests.includes(input.requestId)) {' 'if (false) {' 'a late retry of a gate request is carried out again'

echo "$survivors mutant(s) survived"
[ "$survivors" -eq 0 ]
