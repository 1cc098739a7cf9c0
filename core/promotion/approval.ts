import type { BakeVerdict } from '../bake/evaluate-bake.js';
import { RuleViolationError } from '../errors.js';
import { releaseLabel } from '../model/release.js';
import { APPROVED_HISTORY_LIMIT, type StageRun, type TargetState } from '../model/stage-state.js';
import { failRun } from './deployment.js';
import { hasSeen, promoteOut, startRun, supersede, take } from './flow.js';
import { rule } from './rule.js';
import { activeRun, type RunRef } from './run-ref.js';
import type { Draft } from './transition.js';

/**
 * Applies a bake verdict (see `evaluateBake`): passed → the approval steps, or approval
 * when there are none; failed → rollback; still baking → nothing changes.
 *
 * @example
 * recordBake(ctx, state, { stage: 'gamma', seq: 4, verdict: { verdict: 'passed' } });
 * // gamma approves r9 (Stage Approved), promotes it (Release Promoted), takes its pending release
 */
export const recordBake = rule((draft, input: BakeResult) => {
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
  if (input.verdict.verdict === 'passed') {
    // A bake shortened by an expedite passes only while that expedite still holds: one
    // cancelled (or approved) after the verdict was judged makes it judged again.
    const expedite = draft.meta.expedite;
    const factor =
      expedite !== null && expedite.release === run.release ? expedite.bakeFactor : null;
    if (factor !== (input.bakeFactor ?? null)) {
      draft.note = `the bake was judged with bakes × ${input.bakeFactor ?? 1}, the expedite now says × ${factor ?? 1}; it is judged again`;
      return;
    }
    draft.dependsOn({ stage: input.stage }, 'meta');
  }
  if (input.verdict.verdict === 'failed') {
    failRun(draft, input.stage, `bake failed: ${input.verdict.reason}`);
    return;
  }
  if (draft.topology.stage(input.stage).approvalSteps.length === 0) approve(draft, input.stage);
  else draft.setRun(input.stage, { step: 'approving', approvingSince: draft.now });
});

export interface BakeResult extends RunRef {
  readonly verdict: BakeVerdict;
  /** The expedite's bake factor the verdict was judged with; none for a full bake. */
  readonly bakeFactor?: number | null;
}

export interface ApprovalStepResult extends RunRef {
  /** The approval step's name in the stage definition. */
  readonly step: string;
  readonly passed: boolean;
  /** A person for a manual approval, the test runner for integration tests. */
  readonly by: string;
  readonly reason: string;
  /**
   * Who reports it, which decides what it may report: `operator`, a person through the
   * operator API, signed in (`by` is the authenticated caller), passes manual approvals
   * only; `test-runner` reports integration tests only; `timeout`, the stage driver,
   * only fails a step whose time ran out.
   */
  readonly via: 'operator' | 'test-runner' | 'timeout';
}

/**
 * Records one approval step; any failure fails the run. Passing the last step does not
 * approve the stage by itself: the stage driver approves it ({@link approveRun}) once it
 * has looked at the watched alarms after that step, so that no approval, a person's or a
 * test runner's, promotes a release over an alarm that fired while it waited.
 *
 * @example
 * recordApprovalStep(ctx, state, { stage: 'beta', seq: 2, step: 'api-tests', passed: false, by: 'tests', reason: '3 failed', via: 'test-runner' });
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
  const kind = steps.find((step) => step.name === input.step)?.kind;
  if (kind === 'manual-approval' && input.via === 'test-runner') {
    throw new RuleViolationError(
      `Approval step ${input.step} of ${input.stage} is a manual approval: a person passes or fails it through the operator API (captain approve, the web view), signed in; a test runner reports integration tests only.`,
    );
  }
  if (kind === 'integration-tests' && input.via === 'operator') {
    throw new RuleViolationError(
      `Approval step ${input.step} of ${input.stage} runs integration tests: its runner reports the result, not a person.`,
    );
  }
  if (input.via === 'timeout' && input.passed) {
    throw new RuleViolationError(
      `A step whose time ran out fails; ${input.step} of ${input.stage} cannot pass by timing out.`,
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
  if (run.approvalsPassed.includes(input.step) && input.passed) {
    draft.note = `approval step ${input.step} of run ${run.seq} already passed`;
    return;
  }
  if (kind === 'manual-approval') {
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
});

/**
 * Approves a run whose approval steps have all passed. Applied by the stage driver only,
 * after it found every watched alarm quiet since the run's first deployment.
 *
 * @example
 * approveRun(ctx, state, { stage: 'gamma', seq: 4 });
 * // gamma approves r9 (Stage Approved), promotes it, takes its pending release
 */
export const approveRun = rule((draft, input: RunRef) => {
  const run = activeRun(draft, input);
  if (run === null) return;
  if (run.step !== 'approving') {
    draft.note = `run ${run.seq} of ${input.stage} is ${run.step}, not approving`;
    return;
  }
  const waiting = draft.topology
    .stage(input.stage)
    .approvalSteps.filter((step) => !run.approvalsPassed.includes(step.name));
  if (waiting.length > 0) {
    throw new RuleViolationError(
      `Run ${run.seq} of ${input.stage} cannot be approved: approval steps ${waiting.map((s) => s.name).join(', ')} have not passed.`,
    );
  }
  approve(draft, input.stage);
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
      // A join may still take it once every stage it follows approves it (see `handOn`).
      if (draft.topology.upstreamOf(next).length > 1 || hasSeen(draft, next, held)) continue;
      // Decided on the next stage's state, but the approval is the cause of what follows
      // there (the offer): it is written first, conditioned on the next stage as it is then.
      draft.dependsOn({ stage }, { stage: next }, { ordered: false });
      supersede(draft, next, held, run.release, { stage });
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
 * restartRun(ctx, state, { stage: 'gamma', seq: 4, attempt: 1 }); // starts api_gamma_r9-2
 */
export const restartRun = rule((draft, input: RunRef & { readonly attempt: number }) => {
  // The attempt is the one to replace: a retried restart of it is a no-op, not a stale call.
  const run = activeRun(draft, { stage: input.stage, seq: input.seq });
  if (run === null) return;
  if (run.attempt !== input.attempt) {
    draft.note = `run ${run.seq} of ${input.stage} is at attempt ${run.attempt}, not ${input.attempt}`;
    return;
  }
  const next = draft.setRun(input.stage, { attempt: run.attempt + 1 });
  startRun(draft, input.stage, next);
});

/**
 * Passes the run on to a new execution attempt, decided by the execution itself after a
 * long wait (a window closed for days, a blocker nobody lifts), before its history
 * reaches Step Functions' 25,000 events. The old execution's steps see that their attempt
 * is no longer the run's and end; the new one goes on from the stored state.
 *
 * @example
 * handOverRun(ctx, state, { stage: 'prod-w4-z1', seq: 3, attempt: 1 }); // starts api_prod-w4-z1_r9-2
 */
export const handOverRun = rule((draft, input: RunRef & { readonly attempt: number }) => {
  const run = activeRun(draft, { stage: input.stage, seq: input.seq });
  if (run === null) return;
  if (run.attempt !== input.attempt) {
    draft.note = `run ${run.seq} of ${input.stage} is at attempt ${run.attempt}, not ${input.attempt}`;
    return;
  }
  const next = draft.setRun(input.stage, {
    attempt: run.attempt + 1,
    handovers: (run.handovers ?? 0) + 1,
    handedOverBy: run.attempt,
  });
  startRun(draft, input.stage, next);
});
