import { RuleViolationError } from '../errors.js';
import type { StageRun, TargetRun, TargetState } from '../model/stage-state.js';
import { take } from './flow.js';
import { rule } from './rule.js';
import { activeRun, type RunRef } from './run-ref.js';
import type { Draft } from './transition.js';

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

export interface DeploymentStart extends RunRef {
  readonly target: string;
  readonly kind: 'normal' | 'rollback';
  /** The deployer's id (a CodeDeploy deployment id, an ECS deployment id, …). */
  readonly deploymentId: string;
}

/**
 * Records the id of a target's deployment (or rollback) once the deployer started it, so
 * that every later look asks the deployer for its status instead of starting it again.
 * The first id recorded stands: a second start for the same target of the same run is a
 * retry, and the deployer's idempotency key made it the same deployment anyway.
 *
 * @example
 * recordDeploymentStart(ctx, state, { stage: 'prod-1', seq: 7, target: 'use1-az1', kind: 'normal', deploymentId: 'd-42' });
 * // run 7's use1-az1: { status: 'deploying', deploymentId: 'd-42', … }
 */
export const recordDeploymentStart = rule((draft, input: DeploymentStart) => {
  const run = activeRun(draft, input);
  if (run === null) return;
  const target = run.targets[input.target];
  if (target === undefined) {
    throw new RuleViolationError(
      `Stage ${input.stage} has no target "${input.target}" in run ${run.seq}; its targets are ${Object.keys(run.targets).join(', ')}.`,
    );
  }
  const expected = input.kind === 'normal' ? 'deploying' : 'rolling-back';
  if (target.status !== expected || target.deploymentId !== null) {
    draft.note = `target ${input.target} is ${target.status}${target.deploymentId === null ? '' : ` with deployment ${target.deploymentId}`}; nothing to record`;
    return;
  }
  draft.setRun(input.stage, {
    targets: { ...run.targets, [input.target]: { ...target, deploymentId: input.deploymentId } },
  });
});

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
    recordStopped(draft, stage, run, id, target, reason);
    targets[id] =
      target.status === 'waiting'
        ? target
        : {
            ...target,
            status: 'rolling-back',
            rollbackTo: automaticRollbackTarget(target, state.targets[id]),
            startedAt: draft.now,
            deploymentId: null,
            abandoned: target.status === 'deploying' ? target.deploymentId : null,
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

/**
 * Keeps the record of a deployment stopped before it finished (its run failed, or an
 * operator rolled back): the history shows every deployment that began, not only those
 * that ended by themselves.
 */
export function recordStopped(
  draft: Draft,
  stage: string,
  run: StageRun,
  id: string,
  target: TargetRun,
  reason: string,
): void {
  if (run.kind !== 'normal' || target.status !== 'deploying') return;
  draft.deployments.push({
    target: id,
    stage,
    kind: 'normal',
    from: target.before,
    to: run.release,
    result: 'failed',
    startedAt: target.startedAt,
    finishedAt: draft.now,
    reason: `stopped: ${reason}`,
  });
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
  // A step of an execution that handed the run over decides nothing; one replaced is refused.
  const run = activeRun(draft, input);
  if (run === null) return;
  if (run.kind !== 'normal' || run.step === 'rolling-back') {
    draft.note = `run ${run.seq} of ${input.stage} is already ${run.kind === 'rollback' ? 'a rollback' : 'rolling back'}`;
    return;
  }
  failRun(draft, input.stage, input.reason);
});
