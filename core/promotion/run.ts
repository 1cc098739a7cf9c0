import type { BakeVerdict } from '../bake/evaluate-bake.js';
import { type AlarmState, commitsNewTo, evaluateBlockers } from '../blockers/evaluate.js';
import { RuleViolationError } from '../errors.js';
import { type Release, releaseLabel } from '../model/release.js';
import {
  APPROVED_HISTORY_LIMIT,
  type BlockerNotice,
  type StageRun,
  type TargetRun,
  type TargetState,
} from '../model/stage-state.js';
import { hasSeen, promoteOut, startRun, supersede, take } from './flow.js';
import { rule } from './rule.js';
import type { Draft } from './transition.js';

/** Every request about a run names it, so a late or duplicated request for an old run changes nothing. */
export interface RunRef {
  readonly stage: string;
  readonly seq: number;
}

function activeRun(draft: Draft, ref: RunRef): StageRun | null {
  const run = draft.stage(ref.stage).run;
  if (run === null || run.seq !== ref.seq) {
    draft.note = `run ${ref.seq} of ${ref.stage} is no longer active (superseded, finished or replaced)`;
    return null;
  }
  return run;
}

export interface AdmitRequest extends RunRef {
  /**
   * Every release from the oldest one a target of the stage runs up to the run's
   * release: the run's release for known-bad checks, all of them for property 8.
   */
  readonly releases: readonly Release[];
  /** The states of the alarms `alarmsToCheck` names for the stage's targets; a missing name is `MISSING`. */
  readonly alarms: Readonly<Record<string, AlarmState>>;
}

/**
 * Starts every waiting target of a normal run that has no blocker in force; the others
 * keep waiting and show their blockers. The blockers are evaluated here, against the
 * stored gates, known-bad list and overrides, so a request built before an operator
 * closed a gate or marked a release known-bad cannot start anything. Targets start
 * independently, so a wave across time zones deploys each Region inside its own window.
 *
 * @example
 * admitTargets(ctx, state, { stage: 'prod-w1-z1', seq: 3, releases: [r8, r9], alarms: { 'payments-aggregate-use1': 'OK', … } });
 * // use1-az1 → deploying (Deployment Started); euw1-az1 waits: its window opens at 09:00 Dublin time
 */
export const admitTargets = rule((draft, input: AdmitRequest) => {
  const run = activeRun(draft, input);
  if (run === null) return;
  if (run.kind !== 'normal' || (run.step !== 'waiting' && run.step !== 'deploying')) {
    draft.note = `run ${run.seq} of ${input.stage} is ${run.step}; targets start only while waiting or deploying`;
    return;
  }
  const release = input.releases.find((candidate) => candidate.number === run.release);
  if (release === undefined) {
    throw new RuleViolationError(
      `admitTargets needs ${releaseLabel(run.release)}, the release of run ${run.seq} of ${input.stage}.`,
    );
  }
  const state = draft.stage(input.stage);
  const stageDefinition = draft.topology.stage(input.stage);
  const targets: Record<string, TargetRun> = { ...run.targets };
  const blockers: BlockerNotice[] = [];
  for (const [id, target] of Object.entries(run.targets)) {
    if (target.status !== 'waiting') continue;
    const evaluation = evaluateBlockers({
      definition: draft.topology.definition,
      stage: stageDefinition,
      target: draft.topology.target(input.stage, id),
      release,
      newCommits: commitsNewTo(state.targets[id]?.deployed ?? null, input.releases, run.release),
      promotionsIn: state.promotionsIn,
      alarms: input.alarms,
      knownBad: draft.meta.knownBad,
      overrides: draft.meta.overrides,
      now: new Date(draft.now),
    });
    if (evaluation.blockers.length > 0) {
      for (const blocker of evaluation.blockers) {
        blockers.push({
          target: id,
          kind: blocker.kind,
          reason: blocker.reason,
          until: blocker.until,
        });
      }
      continue;
    }
    for (const { blocker, override } of evaluation.overridden) {
      draft.emit({
        type: 'Blocker Overridden',
        stage: input.stage,
        release: run.release,
        target: id,
        occurrence: `${run.seq}:${override.id}:${blocker.kind}:${blocker.subject}`,
        reason: `${blocker.reason}; overridden by ${override.by}: ${override.reason}`,
      });
    }
    targets[id] = { ...target, status: 'deploying', startedAt: draft.now };
    draft.emit({
      type: 'Deployment Started',
      stage: input.stage,
      release: run.release,
      target: id,
      occurrence: run.seq,
      data: { kind: 'normal', from: target.before },
    });
  }
  const anyDeploying = Object.values(targets).some((target) => target.status !== 'waiting');
  const blockedBefore = run.blockers.map(noticeKey).sort().join('|');
  const blockedNow = blockers.map(noticeKey).sort().join('|');
  if (blockers.length > 0 && blockedNow !== blockedBefore) {
    const reason = blockers.map((notice) => `${notice.target}: ${notice.reason}`).join('; ');
    draft.emit({
      type: 'Release Blocked',
      stage: input.stage,
      release: run.release,
      // The stage's version tells blockers A → B → A apart.
      occurrence: `${run.seq}:v${state.version}`,
      reason,
    });
    if (!anyDeploying)
      draft.outcome(run.release, input.stage, { status: 'blocked', at: draft.now, reason });
  }
  if (anyDeploying && run.step === 'waiting' && run.blockers.length > 0) {
    draft.outcome(run.release, input.stage, { status: 'in-flight', at: draft.now });
  }
  draft.setRun(input.stage, {
    targets,
    blockers,
    step: anyDeploying ? 'deploying' : 'waiting',
  });
});

const noticeKey = (notice: BlockerNotice) =>
  `${notice.target}\u0000${notice.kind}\u0000${notice.reason}`;

export interface DeploymentResult extends RunRef {
  readonly target: string;
  /**
   * Which deployment of the target this result is about. A late duplicate of "the
   * deployment failed" must not be read as "the rollback failed".
   */
  readonly kind: 'normal' | 'rollback';
  readonly result: 'succeeded' | 'failed';
  /** Why it failed: the deployer's message or the alarm that fired. */
  readonly reason?: string;
}

/**
 * Records the end of one target's deployment or rollback. The last success of a normal
 * run starts its bake; a failure fails the run, which rolls every touched target back.
 *
 * @example
 * // prod-1 deploys r2 to prod-1-a (done) and prod-1-b, which fails; both ran r1 before:
 * recordDeployment(ctx, state, { stage: 'prod-1', seq: 5, target: 'prod-1-b', kind: 'normal', result: 'failed', reason: 'health checks' });
 * // r2 rejected at prod-1; Deployment Failed, Rollback Started; both targets rolling back to r1
 */
export const recordDeployment = rule((draft, input: DeploymentResult) => {
  const run = activeRun(draft, input);
  if (run === null) return;
  const target = run.targets[input.target];
  if (target === undefined) {
    throw new RuleViolationError(
      `Stage ${input.stage} has no target "${input.target}" in run ${run.seq}; its targets are ${Object.keys(run.targets).join(', ')}.`,
    );
  }
  const expected = input.kind === 'normal' ? 'deploying' : 'rolling-back';
  if (target.status !== expected) {
    draft.note = `target ${input.target} is ${target.status}; a ${input.kind} result for it was already recorded or does not apply`;
    return;
  }
  if (input.kind === 'rollback') {
    recordRollbackResult(draft, input, run, target);
    return;
  }
  const stage = draft.stage(input.stage);
  const reason = input.reason ?? null;
  draft.deployments.push({
    target: input.target,
    stage: input.stage,
    kind: 'normal',
    from: target.before,
    to: run.release,
    result: input.result,
    startedAt: target.startedAt,
    finishedAt: draft.now,
    reason,
  });
  if (input.result === 'failed') {
    draft.emit({
      type: 'Deployment Failed',
      stage: input.stage,
      release: run.release,
      target: input.target,
      occurrence: run.seq,
      reason: reason ?? 'the deployment failed',
    });
    failRun(
      draft,
      input.stage,
      `deployment to ${input.target} failed: ${reason ?? 'no reason given'}`,
    );
    return;
  }
  const targets = { ...run.targets, [input.target]: { ...target, status: 'deployed' as const } };
  const current = stage.targets[input.target] ?? { deployed: null, approved: [] };
  draft.setStage(input.stage, {
    targets: { ...stage.targets, [input.target]: { ...current, deployed: run.release } },
  });
  draft.emit({
    type: 'Deployment Succeeded',
    stage: input.stage,
    release: run.release,
    target: input.target,
    occurrence: run.seq,
  });
  const allDeployed = Object.values(targets).every((t) => t.status === 'deployed');
  draft.setRun(input.stage, {
    targets,
    ...(allDeployed ? { step: 'baking' as const, bakeStartedAt: draft.now } : {}),
  });
  if (allDeployed) {
    draft.emit({
      type: 'Bake Started',
      stage: input.stage,
      release: run.release,
      occurrence: run.seq,
    });
  }
});

function recordRollbackResult(
  draft: Draft,
  input: DeploymentResult,
  run: StageRun,
  target: TargetRun,
): void {
  const stage = draft.stage(input.stage);
  const current = stage.targets[input.target] ?? { deployed: null, approved: [] };
  const from = run.kind === 'normal' ? run.release : current.deployed;
  draft.deployments.push({
    target: input.target,
    stage: input.stage,
    kind: 'rollback',
    from,
    to: target.rollbackTo,
    result: input.result,
    startedAt: target.startedAt,
    finishedAt: draft.now,
    reason: input.reason ?? null,
  });
  const succeeded = input.result === 'succeeded';
  draft.emit({
    type: succeeded ? 'Deployment Succeeded' : 'Deployment Failed',
    stage: input.stage,
    release: target.rollbackTo ?? undefined,
    target: input.target,
    occurrence: `rollback${run.seq}`,
    reason: input.reason,
    data: { kind: 'rollback', from },
  });
  if (succeeded) {
    draft.setStage(input.stage, {
      targets: { ...stage.targets, [input.target]: { ...current, deployed: target.rollbackTo } },
    });
  }
  const status = succeeded ? ('rolled-back' as const) : ('rollback-failed' as const);
  const updated = draft.setRun(input.stage, {
    targets: { ...run.targets, [input.target]: { ...target, status } },
  });
  if (Object.values(updated.targets).every((t) => t.status !== 'rolling-back')) {
    finishRollback(draft, input.stage);
  }
}

/**
 * Where a failed run rolls a target back to: the release it ran before the run if that
 * one was approved there, else its newest approved release, else what it ran before
 * (`null`: the target's state before its first deployment by Release Captain).
 *
 * @example
 * automaticRollbackTarget({ before: 3, … }, { deployed: 3, approved: [1, 2, 3] }); // 3
 * automaticRollbackTarget({ before: 4, … }, { deployed: 4, approved: [1, 2, 3] }); // 3 (r4 was never approved there)
 */
export function automaticRollbackTarget(
  target: TargetRun,
  state: TargetState | undefined,
): number | null {
  const approved = state?.approved ?? [];
  if (target.before !== null && approved.includes(target.before)) return target.before;
  return approved.at(-1) ?? target.before;
}

/**
 * Fails the stage's normal run: the release is rejected here, and every target the run
 * touched rolls back (safety property 4). Targets still waiting were never touched.
 */
export function failRun(draft: Draft, stage: string, reason: string): void {
  const state = draft.stage(stage);
  const run = state.run;
  if (run === null || run.kind !== 'normal' || run.step === 'rolling-back') return;
  draft.outcome(run.release, stage, { status: 'rejected', at: draft.now, reason });
  const targets: Record<string, TargetRun> = {};
  for (const [id, target] of Object.entries(run.targets)) {
    targets[id] =
      target.status === 'waiting'
        ? target
        : {
            ...target,
            status: 'rolling-back',
            rollbackTo: automaticRollbackTarget(target, state.targets[id]),
            startedAt: draft.now,
          };
  }
  draft.setRun(stage, { step: 'rolling-back', failure: reason, targets, blockers: [] });
  draft.emit({
    type: 'Rollback Started',
    stage,
    release: run.release,
    occurrence: run.seq,
    reason,
  });
  if (Object.values(targets).every((target) => target.status === 'waiting'))
    finishRollback(draft, stage);
}

/** Ends a rollback; a target whose rollback failed closes the stage to promotions for an operator. */
export function finishRollback(draft: Draft, stage: string): void {
  const run = draft.stage(stage).run;
  if (run === null) return;
  const failed = Object.entries(run.targets)
    .filter(([, target]) => target.status === 'rollback-failed')
    .map(([id]) => id);
  draft.emit({
    type: 'Rollback Completed',
    stage,
    release: run.release,
    occurrence: run.seq,
    reason:
      failed.length > 0 ? `rollback failed for ${failed.join(', ')}` : (run.failure ?? undefined),
    data: { failedTargets: failed.length },
  });
  draft.setStage(stage, { run: null });
  if (failed.length > 0 && draft.stage(stage).promotionsIn.enabled) {
    const reason = `rollback of ${failed.join(', ')} failed; an operator must restore ${failed.length > 1 ? 'them' : 'it'} and re-enable promotions`;
    draft.setStage(stage, {
      promotionsIn: { enabled: false, by: 'release-captain', reason, at: draft.now },
    });
    draft.emit({
      type: 'Promotions Disabled',
      stage,
      occurrence: `in:rollback-failed${run.seq}`,
      reason,
      data: { direction: 'in' },
    });
  }
  take(draft, stage);
}

/**
 * Ends a run with an explicit failure: an alarm during the deployment, a failed test, a timeout.
 *
 * @example
 * failStage(ctx, state, { stage: 'gamma', seq: 4, reason: 'alarm api-onebox-use1 in ALARM' });
 * // r9 rejected at gamma; every target it touched rolls back
 */
export const failStage = rule((draft, input: RunRef & { readonly reason: string }) => {
  const run = activeRun(draft, input);
  if (run === null) return;
  if (run.kind !== 'normal' || run.step === 'rolling-back') {
    draft.note = `run ${run.seq} of ${input.stage} is already ${run.kind === 'rollback' ? 'a rollback' : 'rolling back'}`;
    return;
  }
  failRun(draft, input.stage, input.reason);
});

/**
 * Applies a bake verdict (see `evaluateBake`): passed → the approval steps, or approval
 * when there are none; failed → rollback; still baking → nothing changes.
 *
 * @example
 * recordBake(ctx, state, { stage: 'gamma', seq: 4, verdict: { verdict: 'passed' } });
 * // gamma approves r9 (Stage Approved), promotes it (Release Promoted), takes its pending release
 */
export const recordBake = rule((draft, input: RunRef & { readonly verdict: BakeVerdict }) => {
  const run = activeRun(draft, input);
  if (run === null) return;
  if (run.step !== 'baking') {
    draft.note = `run ${run.seq} of ${input.stage} is ${run.step}, not baking`;
    return;
  }
  if (input.verdict.verdict === 'baking') {
    draft.note = 'still baking';
    return;
  }
  if (input.verdict.verdict === 'failed') {
    failRun(draft, input.stage, `bake failed: ${input.verdict.reason}`);
    return;
  }
  if (draft.topology.stage(input.stage).approvalSteps.length === 0) approve(draft, input.stage);
  else draft.setRun(input.stage, { step: 'approving' });
});

export interface ApprovalStepResult extends RunRef {
  /** The approval step's name in the stage definition. */
  readonly step: string;
  readonly passed: boolean;
  /** A person for a manual approval, the test runner for integration tests. */
  readonly by: string;
  readonly reason: string;
}

/**
 * Records one approval step; the last one to pass approves the stage, any failure fails it.
 *
 * @example
 * recordApprovalStep(ctx, state, { stage: 'beta', seq: 2, step: 'api-tests', passed: false, by: 'tests', reason: '3 failed' });
 * // r4 rejected at beta; rollback
 */
export const recordApprovalStep = rule((draft, input: ApprovalStepResult) => {
  const run = activeRun(draft, input);
  if (run === null) return;
  const steps = draft.topology.stage(input.stage).approvalSteps;
  if (!steps.some((step) => step.name === input.step)) {
    throw new RuleViolationError(
      `Stage ${input.stage} has no approval step "${input.step}"; its steps are ${steps.map((s) => s.name).join(', ') || 'none'}.`,
    );
  }
  if (run.step !== 'approving') {
    draft.note = `run ${run.seq} of ${input.stage} is ${run.step}, not waiting for approvals`;
    return;
  }
  if (!input.passed) {
    failRun(
      draft,
      input.stage,
      `approval step ${input.step} failed (${input.by}): ${input.reason}`,
    );
    return;
  }
  if (steps.find((step) => step.name === input.step)?.kind === 'manual-approval') {
    draft.audit.push({
      at: draft.now,
      stage: input.stage,
      by: input.by,
      action: `approve ${input.step} of ${releaseLabel(run.release)} at ${input.stage}`,
      reason: input.reason,
    });
  }
  const passed = [...new Set([...run.approvalsPassed, input.step])];
  draft.setRun(input.stage, { approvalsPassed: passed });
  if (steps.every((step) => passed.includes(step.name))) approve(draft, input.stage);
});

/** The stage approves its run's release and promotes it (safety property 1 holds by construction). */
function approve(draft: Draft, stage: string): void {
  const state = draft.stage(stage);
  const run = state.run as StageRun;
  const targets: Record<string, TargetState> = { ...state.targets };
  for (const id of Object.keys(run.targets)) {
    const approved = (targets[id]?.approved ?? []).filter((release) => release !== run.release);
    targets[id] = {
      deployed: run.release,
      approved: [...approved, run.release].slice(-APPROVED_HISTORY_LIMIT),
    };
  }
  // A release approved earlier but held here (promotions out disabled, an expedite) will
  // never be handed on now that a newer one is approved: it ends superseded downstream.
  const held = state.lastApproved;
  if (held !== null && held < run.release) {
    for (const next of draft.topology.downstreamOf(stage)) {
      if (!hasSeen(draft, next, held)) supersede(draft, next, held, run.release, { stage });
    }
  }
  draft.setStage(stage, { run: null, lastApproved: run.release, targets });
  draft.outcome(run.release, stage, { status: 'approved', at: draft.now });
  draft.emit({ type: 'Stage Approved', stage, release: run.release, occurrence: run.seq });
  promoteOut(draft, stage);
  take(draft, stage);
}

/**
 * Starts the run again under a new attempt number, when its execution is gone (a crash,
 * a restart of the local runtime). The attempt is part of the execution name, so a
 * restart is a recorded decision and the same attempt cannot start twice.
 *
 * @example
 * restartRun(ctx, state, { stage: 'gamma', seq: 4, attempt: 1 }); // starts api-gamma-r9-2
 */
export const restartRun = rule((draft, input: RunRef & { readonly attempt: number }) => {
  const run = activeRun(draft, input);
  if (run === null) return;
  if (run.attempt !== input.attempt) {
    draft.note = `run ${run.seq} of ${input.stage} is at attempt ${run.attempt}, not ${input.attempt}`;
    return;
  }
  const next = draft.setRun(input.stage, { attempt: run.attempt + 1 });
  startRun(draft, input.stage, next);
});
