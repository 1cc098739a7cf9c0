#!/usr/bin/env bash
# Breaks one safety rule at a time and checks that the tests fail for each: the promotion
# rules (core/promotion, core/blockers) against test/unit/promotion, with its model-based
# tests (safety-properties.test.ts, crash-retry.test.ts); the bake (core/bake) and the stage
# driver (core/service: stage-driver.ts, stage-step.ts, driver-step.ts) against
# test/unit/service, with the driver's model test (driver-model.test.ts), and test/unit/bake.
# A mutant that survives means no test would notice that rule being wrong.
#
# Each mutant replaces one exact piece of source text, which must occur exactly once: a
# pattern that no longer matches the code is an error (update it to the code's equivalent),
# not a reason to stop; every mutant is tried and the summary counts all three outcomes.
# The mutated file is restored from a copy after its run, also when the run fails or the
# script is interrupted.
#
# Usage: scripts/check-safety-mutants.sh [TEXT]   (TEXT: only the mutants whose label has it)
#   needs a clean core/ (CI's checkout is); to run it beside work in progress, use a
#   worktree: git worktree add /tmp/mutants HEAD && ln -s "$PWD/node_modules" /tmp/mutants/
#   SAFETY_RUNS, DRIVER_RUNS: histories per model-based test (defaults below)
#   MUTANT_TIMEOUT: seconds one mutant's tests may take before it counts as killed (a hang)
# Exit: 0 if every mutant was killed, 1 if one survived or a pattern did not match,
#   2 if it cannot start (dirty core/, tests failing without any mutant).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -n "$(git status --porcelain -- core)" ]; then
  cat >&2 <<'EOF'
check-safety-mutants: core/ has uncommitted changes, so nothing was mutated.
The script rewrites files in core/ one at a time while their tests run; an edit made
meanwhile would be overwritten when the file is restored, and a mutant of uncommitted code
proves nothing about the commit. Commit first, or run it on a separate worktree:
  git worktree add /tmp/mutants HEAD && ln -s "$PWD/node_modules" /tmp/mutants/node_modules
  /tmp/mutants/scripts/check-safety-mutants.sh
EOF
  exit 2
fi

export SAFETY_RUNS=${SAFETY_RUNS:-1000}
export DRIVER_RUNS=${DRIVER_RUNS:-1000}
# A failing model-based test ends at once instead of shrinking its history for minutes.
export SAFETY_NO_SHRINK=1
MUTANT_TIMEOUT=${MUTANT_TIMEOUT:-600}
PROMOTION=test/unit/promotion
SERVICE=test/unit/service
BAKE=test/unit/bake
VITEST=node_modules/.bin/vitest
only=${1:-}

logs=$(mktemp -d)
backup="$logs/original"
mutated=''
child=''

restore() {
  if [ -n "$mutated" ]; then
    cp "$backup" "$mutated"
    mutated=''
  fi
}
stop() {
  if [ -n "$child" ]; then
    kill "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  restore
  echo "interrupted; every file is restored" >&2
  exit "$1"
}
trap restore EXIT
trap 'stop 130' INT
trap 'stop 143' TERM

# Runs vitest on the given paths, stopping at the first failure, output in $log. In the
# background so that a signal reaches the trap at once; `timeout` ends the whole tree.
tests() {
  timeout --kill-after=10 "$MUTANT_TIMEOUT" "$VITEST" run --bail 1 "$@" >"$log" 2>&1 &
  child=$!
  wait "$child"
  local status=$?
  child=''
  return "$status"
}

# The first test that failed, from a vitest log.
first_failure() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -m1 -E '^ *(FAIL|×) ' | sed -E 's/^ *(FAIL|×) +//; s/ +[0-9]+ms$//'
}

killed=0
survived=0
errors=0
n=0

# mutant LABEL FILE OLD NEW TEST_PATH... : replaces OLD (exactly one occurrence) with NEW
# in FILE, runs the tests at TEST_PATH..., restores FILE.
mutant() {
  local label=$1 file=$2 old=$3 new=$4
  shift 4
  if [ -n "$only" ] && [[ $label != *"$only"* ]]; then return; fi
  n=$((n + 1))
  log="$logs/$n.log"
  cp "$file" "$backup"
  mutated=$file
  local problem
  if ! problem=$(
    python3 - "$file" "$old" "$new" 2>&1 <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path, encoding='utf-8').read()
count = text.count(old)
if count != 1:
    where = 'not found' if count == 0 else f'found {count} times'
    sys.exit(f'source text {where} in {path}: {old!r}')
open(path, 'w', encoding='utf-8').write(text.replace(old, new, 1))
PY
  ); then
    echo "ERROR     $label: $problem"
    restore
    errors=$((errors + 1))
    return
  fi
  # A mutant that does not parse would be "killed" by a syntax error, not by a test.
  if ! problem=$(node -e "require('esbuild').transformSync(require('node:fs').readFileSync(process.argv[1], 'utf8'), { loader: 'ts' })" "$file" 2>&1); then
    restore
    echo "ERROR     $label: the mutant does not parse: ${problem%%$'\n'*}"
    errors=$((errors + 1))
    return
  fi
  local began=$SECONDS
  tests "$@"
  local status=$?
  local took=$((SECONDS - began))
  restore
  if [ "$status" -eq 0 ]; then
    echo "SURVIVED  $label    (${took} s; ran $*)"
    survived=$((survived + 1))
  elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "killed    $label    (${took} s; the tests hung past ${MUTANT_TIMEOUT} s)"
    killed=$((killed + 1))
  else
    local by
    by=$(first_failure "$log")
    echo "killed    $label    (${took} s; by ${by:-vitest exiting with $status})"
    killed=$((killed + 1))
  fi
}

start=$(date +%s)
log="$logs/baseline.log"
echo "without a mutant: $PROMOTION $SERVICE $BAKE (SAFETY_RUNS=$SAFETY_RUNS, DRIVER_RUNS=$DRIVER_RUNS)"
if ! tests "$PROMOTION" "$SERVICE" "$BAKE"; then
  cat "$log" >&2
  echo "check-safety-mutants: the tests fail without any mutant, so a killed mutant would prove nothing; fix them first." >&2
  exit 2
fi

# The promotion rules.
mutant 'supersede comparison flipped' \
  core/promotion/flow.ts 'if (release < newer) {' 'if (release > newer) {' "$PROMOTION"
mutant 'a stage takes a release while promotions in are disabled' \
  core/promotion/flow.ts 'if (state.run !== null || state.pending === null || !state.promotionsIn.enabled) return;' 'if (state.run !== null || state.pending === null) return;' "$PROMOTION"
mutant 'a release leaves while promotions out are disabled' \
  core/promotion/flow.ts 'if (upstream.some((name) => !draft.stage(name).promotionsOut.enabled)) return;' '' "$PROMOTION"
mutant 'targets start while promotions in are disabled' \
  core/promotion/admit.ts 'promotionsIn: state.promotionsIn,' 'promotionsIn: { enabled: true },' "$PROMOTION"
mutant 'an offer is not conditioned on the stages it leaves (read)' \
  core/promotion/flow.ts "for (const name of upstream) draft.dependsOn({ stage }, { stage: name });" '' "$PROMOTION"
mutant 'an offer is not conditioned on the expedite it read (read)' \
  core/promotion/flow.ts "draft.dependsOn({ stage }, { stage: name });
  draft.dependsOn({ stage }, 'meta');" "draft.dependsOn({ stage }, { stage: name });" "$PROMOTION"
mutant 'a take is not conditioned on the expedite it read (read)' \
  core/promotion/flow.ts "the take lands only if the meta item is as read.
  draft.dependsOn({ stage }, 'meta');" 'the take lands only if the meta item is as read.' "$PROMOTION"
mutant 'an admission is not conditioned on the known-bad marks it read (read)' \
  core/promotion/admit.ts "draft.dependsOn({ stage: input.stage }, 'meta');" '' "$PROMOTION"
mutant 'a bake judged under a cancelled expedite passes (read)' \
  core/promotion/approval.ts 'if (factor !== (input.bakeFactor ?? null)) {' 'if (false) {' "$PROMOTION"
mutant 'the store writes without checking what a decision read (read)' \
  core/ports/memory/promotion-store.ts 'for (const dependency of write.dependsOn) {' 'for (const dependency of []) {' "$PROMOTION"
mutant 'a join takes a release only one lane approved (graph)' \
  core/promotion/flow.ts '.filter((release) => upstream.every((name) => approves(draft, name, release)))' '.filter((release) => upstream.some((name) => approves(draft, name, release)))' "$PROMOTION"
mutant 'a join looks only at its first lane’s gate (graph)' \
  core/promotion/flow.ts 'if (upstream.some((name) => !draft.stage(name).promotionsOut.enabled)) return;' "if (!draft.stage(upstream[0] ?? '').promotionsOut.enabled) return;" "$PROMOTION"
mutant 'a join drops a release it skipped without an outcome (graph)' \
  core/promotion/flow.ts 'if (skipped > seen && skipped < release) supersede(' 'if (false) supersede(' "$PROMOTION"
mutant 'a withdrawal at a join looks at the lane that approves most (graph)' \
  core/promotion/flow.ts 'const approved = Math.min(...upstream.map((name) => draft.stage(name).lastApproved ?? 0));' 'const approved = Math.max(...upstream.map((name) => draft.stage(name).lastApproved ?? 0));' "$PROMOTION"
mutant 'an approval supersedes a held release at a join (graph)' \
  core/promotion/approval.ts 'if (draft.topology.upstreamOf(next).length > 1 || hasSeen(draft, next, held)) continue;' 'if (hasSeen(draft, next, held)) continue;' "$PROMOTION"
mutant 'only the release’s own commits are checked for review' \
  core/blockers/evaluate.ts 'unreviewedCommits({ commits: input.newCommits })' 'unreviewedCommits(release)' "$PROMOTION"
mutant 'a failed run "rolls back" to the failing release' \
  core/promotion/deployment.ts 'rollbackTo: automaticRollbackTarget(target, state.targets[id]),' 'rollbackTo: run.release,' "$PROMOTION"
mutant 'a release taken once enters the same stage again' \
  core/promotion/flow.ts 'return Math.max(state.pending ?? 0, state.newestStarted ?? 0, running);' 'return Math.max(state.pending ?? 0, running);' "$PROMOTION"
mutant 'a late deployment result is read as a rollback result' \
  core/promotion/deployment.ts 'if (target.status !== expected) {' "if (target.status !== 'deploying' && target.status !== 'rolling-back') {" "$PROMOTION"
mutant 'a held approved release is dropped without an outcome' \
  core/promotion/approval.ts 'if (held !== null && held < run.release) {' 'if (held !== null && held > run.release) {' "$PROMOTION"
mutant 'a running stage is interrupted by a newer release' \
  core/promotion/flow.ts 'if (run !== null && runHasNotStarted(run) && run.release < release) {' "if (run !== null && run.kind === 'normal' && run.step !== 'rolling-back' && run.release < release) {" "$PROMOTION"
mutant 'a failed run does not reject its release' \
  core/promotion/deployment.ts "draft.outcome(run.release, stage, { status: 'rejected', at: draft.now, reason });" "draft.outcome(run.release, stage, { status: 'approved', at: draft.now });" "$PROMOTION"
mutant 'effects are written before their cause' \
  core/promotion/transition.ts 'const writes: ItemWrite[] = changed.map(' 'const writes: ItemWrite[] = [...changed].reverse().map(' "$PROMOTION"
mutant 'a release a rollback upstream took back keeps waiting downstream' \
  core/promotion/flow.ts '    withdraw(draft, stage);' '    // withdraw(draft, stage);' "$PROMOTION"
mutant 'a late request decides before the withdrawal a crash left undone' \
  core/promotion/rule.ts '    for (const stage of draft.topology.stageNames) withdraw(draft, stage);' '' "$PROMOTION"
mutant 'a late retry of a gate request is carried out again' \
  core/promotion/controls.ts 'if (before.handledRequests.includes(input.requestId)) {' 'if (false) {' "$PROMOTION"
mutant 'a call from a replaced attempt drives the run' \
  core/promotion/run-ref.ts 'if (ref.attempt === undefined || ref.attempt === run.attempt) return run;' 'return run;' "$PROMOTION" "$SERVICE"

# The alarm watch and the bake.
mutant 'an alarm that came and went since the release ran is not a failure (only ALARM now counts)' \
  core/bake/alarm-watch.ts 'if (alarm.lastAlarmAt !== null && Date.parse(alarm.lastAlarmAt) > Date.parse(alarm.since)) {' 'if (false) {' "$BAKE" "$SERVICE"
mutant 'a watched alarm that no longer exists counts as quiet' \
  core/bake/alarm-watch.ts "if (alarm.state === 'MISSING') return" "if (false) return" "$BAKE" "$SERVICE"
mutant 'the bake watches deploying targets only, so no deployed one' \
  core/bake/alarm-watch.ts "if (state.status !== 'deploying' && state.status !== 'deployed') continue;" "if (state.status !== 'deploying') continue;" "$BAKE" "$SERVICE"
mutant 'a shared alarm is watched from its targets’ latest start, not their first' \
  core/bake/alarm-watch.ts 'Date.parse(state.startedAt) < Date.parse(earlier)' 'Date.parse(state.startedAt) > Date.parse(earlier)' "$BAKE" "$SERVICE"
mutant 'the alarm monitor looks back to the latest watch only' \
  core/bake/alarm-watch.ts 'return new Date(Math.min(...watches.map((watch) => Date.parse(watch.since))));' 'return new Date(Math.max(...watches.map((watch) => Date.parse(watch.since))));' "$BAKE" "$SERVICE"
mutant 'a bake passes before its bake time' \
  core/bake/evaluate-bake.ts 'if (remainingSeconds === 0 && missingDataPoints === 0 && noData.length === 0)' 'if (missingDataPoints === 0 && noData.length === 0)' "$BAKE" "$SERVICE"
mutant 'a bake passes with too few data points' \
  core/bake/evaluate-bake.ts 'if (remainingSeconds === 0 && missingDataPoints === 0 && noData.length === 0)' 'if (remainingSeconds === 0 && noData.length === 0)' "$BAKE" "$SERVICE"
mutant 'a bake passes while an alarm has too little data to judge' \
  core/bake/evaluate-bake.ts 'if (remainingSeconds === 0 && missingDataPoints === 0 && noData.length === 0)' 'if (remainingSeconds === 0 && missingDataPoints === 0)' "$BAKE" "$SERVICE"

# The stage driver: advanceTarget (D), advanceStage (S) and what both share (C). Not
# mutated: the 'waiting' step in watchesUntilBake, since a run is 'waiting' only while none
# of its targets has started, so none is deployed then (dropping it changes nothing).
D=core/service/stage-driver.ts
S=core/service/stage-step.ts
C=core/service/driver-step.ts
mutant 'the deploy-time watch ignores lastAlarmAt (only ALARM now counts)' \
  "$D" "      if (kind === 'normal') {
        const failure = await firstFailure(ports, watch);" "      if (kind === 'normal') {
        const failure = await firstFailure(ports, watch.map((w) => ({ ...w, since: '9999-01-01T00:00:00.000Z' })));" "$SERVICE"
mutant 'the driver drops what the monitor says of alarms that came and went' \
  "$C" 'lastAlarmAt: statuses[watch.name]?.lastAlarmAt ?? null,' 'lastAlarmAt: null,' "$SERVICE"
mutant 'the bake and approval watch from the bake’s start, not the first deployment' \
  "$S" 'const watches = alarmWatches(stage, run);' 'const watches = alarmWatches(stage, run).map((w) => ({ ...w, since: run.bakeStartedAt ?? w.since }));' "$SERVICE"
mutant 'the alarm monitor is asked with no look-back (observe passes no since)' \
  "$C" 'since === undefined ? {} : { since },' '{},' "$SERVICE"
mutant 'data points are counted from the epoch, not from the bake’s start' \
  "$S" 'from: new Date(bakeStartedAt),' 'from: new Date(0),' "$SERVICE"
mutant 'an expedite of one release shortens the bake of another' \
  "$S" 'expedite !== null && expedite.release === run.release ? expedite.bakeFactor : null;' 'expedite !== null ? expedite.bakeFactor : null;' "$SERVICE"
mutant 'the stage approves without a last look at its alarms' \
  "$S" 'const failure = alarms.map(alarmFailure).find((reason) => reason !== null) ?? null;' 'const failure = step === undefined ? null : (alarms.map(alarmFailure).find((reason) => reason !== null) ?? null);' "$SERVICE"
mutant 'approval steps and approval pass over alarms' \
  "$S" 'const failure = alarms.map(alarmFailure).find((reason) => reason !== null) ?? null;' 'const failure: string | null = null;' "$SERVICE"
mutant 'an approval step that timed out passes' \
  "$S" 'passed: false,' 'passed: true,' "$SERVICE"
mutant 'a deployed target is not watched while its siblings deploy or wait' \
  "$D" "if (target.status === 'deployed' && watchesUntilBake(run)) {" 'if (false) {' "$SERVICE"
mutant 'an alarm during a deployment does not stop it' \
  "$D" 'await ports.deployer.stopDeployment?.(definition, target.deploymentId);' '' "$SERVICE"
mutant 'a failed deployment does not wake the other targets to roll back' \
  "$D" "if (kind === 'normal' && status.status === 'failed') wake.push(runSubject);" '' "$SERVICE"
mutant 'the failed deployment is not stopped before the rollback starts' \
  "$D" "if (target.deploymentId === null && kind === 'rollback' && run.kind === 'normal') {" 'if (false) {' "$SERVICE"
mutant 'a start that returns after its run failed leaves its deployment running' \
  "$D" "if (kind === 'normal' && now?.status === 'rolling-back' && now.abandoned === null) {" 'if (false) {' "$SERVICE"
mutant 'a deployment whose id was never recorded is looked up by the wrong key' \
  "$D" "idempotencyKey(topology.pipeline, request.stage, run.seq, request.target, 'normal')," "idempotencyKey(topology.pipeline, request.stage, run.seq, request.target, 'rollback')," "$SERVICE"
mutant 'a waiting target of a failed run is admitted' \
  "$D" "if (run.kind !== 'normal' || run.step === 'rolling-back') {" "if (run.kind !== 'normal') {" "$SERVICE"
mutant 'a terminal error while rolling back loops the workflow' \
  "$D" "if (kind !== 'rollback' || !(error instanceof TerminalError)) throw error;" 'throw error;' "$SERVICE"
mutant 'new commits are read from the run’s release only (releasesFor)' \
  "$D" 'const oldest = Math.min(run.release - 1, ...runs);' 'const oldest = run.release - 1;' "$SERVICE"
mutant 'a target’s step from a replaced attempt carries on' \
  "$D" 'if (fence.attempt !== undefined && run.attempt !== fence.attempt) {' 'if (false) {' "$SERVICE"
mutant 'the stage’s step from a replaced attempt carries on' \
  "$S" 'if (fence.attempt !== undefined && run.attempt !== fence.attempt) {' 'if (false) {' "$SERVICE"
mutant 'a loop never hands its run over, however long its history (withinHistory)' \
  "$C" 'if (request.looks + 1 < budget) return' 'if (true) return' "$SERVICE"
mutant 'a wait does not register its attempt’s subject' \
  "$C" 'return { ...step, subjects: [...step.subjects, own] };' 'return step;' "$SERVICE"
mutant 'a hand-over does not wake the other waits of its attempt' \
  "$C" 'wake: [...(step.wake ?? []), own],' 'wake: [...(step.wake ?? [])],' "$SERVICE"

echo "$n mutants in $(($(date +%s) - start)) s: $killed killed, $survived survived, $errors error(s)"
[ "$survived" -eq 0 ] && [ "$errors" -eq 0 ]
