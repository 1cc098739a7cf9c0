import { RuleViolationError } from '../errors.js';
import { type ReleaseNumber, releaseLabel } from '../model/release.js';
import type { StageRun, StageState, TargetRun, TargetState } from '../model/stage-state.js';
import { automaticRollbackTarget, recordStopped } from './deployment.js';
import { remember, startRun } from './flow.js';
import { rule } from './rule.js';
import type { Draft } from './transition.js';

/**
 * The release a manual rollback deploys to one target: the operator's choice if it was
 * deployed and approved there and is older than what runs now, otherwise the newest such
 * release.
 *
 * @example
 * chooseRollbackRelease('use1-az1', 7, [3, 5, 7], null); // 5
 * chooseRollbackRelease('use1-az1', 7, [3, 5, 7], 3);    // 3 (a latent change: go further back)
 * chooseRollbackRelease('use1-az1', 7, [3, 5, 7], 4);    // throws: r4 was never approved in use1-az1
 */
export function chooseRollbackRelease(
  target: string,
  current: ReleaseNumber | null,
  approved: readonly ReleaseNumber[],
  requested: ReleaseNumber | null,
): ReleaseNumber {
  if (current === null) {
    throw new RuleViolationError(
      `Target ${target} has no release deployed; there is nothing to roll back.`,
    );
  }
  const older = approved.filter((release) => release < current).sort((a, b) => b - a);
  const choices = older.length > 0 ? older.map(releaseLabel).join(', ') : 'none';
  if (requested === null) {
    const newest = older[0];
    if (newest === undefined) {
      throw new RuleViolationError(
        `No release older than ${releaseLabel(current)} was deployed and approved in ${target}; there is nothing to roll back to.`,
      );
    }
    return newest;
  }
  if (requested === current) {
    throw new RuleViolationError(`Target ${target} already runs ${releaseLabel(current)}.`);
  }
  if (requested > current) {
    throw new RuleViolationError(
      `${releaseLabel(requested)} is newer than ${releaseLabel(current)}, which ${target} runs: a rollback goes back. Let the pipeline deploy newer releases.`,
    );
  }
  if (!older.includes(requested)) {
    throw new RuleViolationError(
      `${releaseLabel(requested)} was never deployed and approved in ${target}; choose one of: ${choices}.`,
    );
  }
  return requested;
}

export interface RollbackRequest {
  /** The targets to roll back; the CLI expands a stage into all its targets. */
  readonly targets: readonly { readonly stage: string; readonly target: string }[];
  /** @default - the last release deployed and approved in each target */
  readonly to: ReleaseNumber | null;
  readonly by: string;
  readonly reason: string;
  /**
   * Chosen by the caller once per request (the CLI makes a UUID): the same id again,
   * even after the rollback finished, is the same request and changes nothing.
   */
  readonly requestId: string;
  /**
   * What the operator saw in the preview and confirmed: the rollback is refused if the
   * pipeline moved since (a target runs another release or would go back to another one,
   * or a run would be stopped that the preview did not show), so it never does something
   * other than what was confirmed. @default - no check
   */
  readonly confirmed?: RollbackConfirmation | undefined;
}

/** A preview as the operator confirmed it. */
export interface RollbackConfirmation {
  readonly targets: readonly RollbackExpectation[];
  /** The normal runs the rollback stops (their releases end rejected there). */
  readonly interrupted: readonly { readonly stage: string; readonly release: ReleaseNumber }[];
}

/** One target of a confirmed preview: from the release it runs to the one it goes back to. */
export interface RollbackExpectation {
  readonly target: string;
  readonly from: ReleaseNumber;
  readonly to: ReleaseNumber;
}

/**
 * What a target runs now, as a rollback sees it: the in-flight release of a normal run
 * once the target's deployment has begun, otherwise what was last deployed there.
 *
 * @example
 * runningRelease(gamma, 'gamma-t1'); // 9 while r9 deploys to gamma-t1 (8 before it began)
 */
export function runningRelease(state: StageState, target: string): ReleaseNumber | null {
  const run = state.run;
  const inRun = run?.targets[target];
  if (run !== null && run.kind === 'normal' && inRun !== undefined && inRun.status !== 'waiting') {
    return run.release;
  }
  return state.targets[target]?.deployed ?? null;
}

/**
 * A manual rollback: each chosen target goes back to an older approved release, any
 * normal run in those stages is stopped and its release rejected there (its other touched
 * targets roll back automatically), and promotions into and out of the stages are
 * disabled until someone enables them again.
 *
 * @example
 * manualRollback(ctx, state, { targets: [{ stage: 'prod-w1-z1', target: 'prod-w1-z1-use1' }], to: null, by: 'ana', reason: 'latency' });
 * // prod-w1-z1-use1: r9 → r8; Promotions Disabled (in, out); Rollback Started; starts api_prod-w1-z1_rollback6-1
 */
export const manualRollback = rule((draft, input: RollbackRequest) => {
  if (input.targets.length === 0)
    throw new RuleViolationError('Name at least one stage or target to roll back.');
  if (input.by.trim() === '' || input.reason.trim() === '') {
    throw new RuleViolationError(
      'A rollback needs who asks for it and why: give --reason and a user.',
    );
  }
  if (input.requestId.trim() === '') {
    throw new RuleViolationError(
      'A rollback needs a request id, chosen once per request, so that a retry is recognised.',
    );
  }
  const byStage = new Map<string, string[]>();
  for (const { stage, target } of input.targets) {
    draft.topology.target(stage, target);
    byStage.set(stage, [...(byStage.get(stage) ?? []), target]);
  }

  for (const [stage, targets] of byStage) {
    const state = draft.stage(stage);
    const run = state.run;
    if (state.handledRequests.includes(input.requestId)) {
      // The same request again (a retried CLI call, or a retry after a crash between the
      // writes of a multi-stage rollback): this stage already did what it asks.
      draft.note = `${stage} already carried out rollback request ${input.requestId}`;
      continue;
    }
    const choices = rollbackChoices(stage, state, targets, input.to);
    checkInterrupted(input.confirmed, stage, run);
    for (const choice of choices) checkConfirmed(input.confirmed, choice);
    const chosen = new Map(choices.map((choice) => [choice.target, choice.to]));
    startManualRollback(draft, stage, run, chosen, input);
  }
});

/**
 * Where each of a stage's named targets goes back to, as a manual rollback decides it:
 * from what it runs now to the operator's choice or its last approved release. Refuses a
 * stage that is rolling back already. The preview and the rule both ask this, so what is
 * shown is what is done.
 *
 * @example
 * rollbackChoices('prod-1', prod1, ['prod-1-a'], null); // [{ target: 'prod-1-a', from: 9, to: 8 }]
 */
export function rollbackChoices(
  stage: string,
  state: StageState,
  targets: readonly string[],
  to: ReleaseNumber | null,
): RollbackExpectation[] {
  const run = state.run;
  if (run !== null && (run.kind === 'rollback' || run.step === 'rolling-back')) {
    throw new RuleViolationError(
      `Stage ${stage} is already rolling back (run ${run.seq}); wait for it to finish, then roll back again if needed.`,
    );
  }
  return targets.map((target) => {
    const from = runningRelease(state, target);
    const chosen = chooseRollbackRelease(target, from, state.targets[target]?.approved ?? [], to);
    // chooseRollbackRelease refused a target that runs nothing: `from` is a release here.
    return { target, from: from as ReleaseNumber, to: chosen };
  });
}

/** Refuses a rollback other than the one the operator confirmed. */
function checkConfirmed(
  confirmed: RollbackConfirmation | undefined,
  { target, from, to }: RollbackExpectation,
): void {
  if (confirmed === undefined) return;
  const seen = confirmed.targets.find((e) => e.target === target);
  if (seen === undefined) {
    throw new RuleViolationError(
      `The confirmed preview does not include ${target}; preview the rollback again and confirm what it shows.`,
    );
  }
  if (seen.from !== from || seen.to !== to) {
    throw new RuleViolationError(
      `The pipeline moved since the preview: ${target} now runs ${releaseLabel(from)} and would go back to ${releaseLabel(to)}, not ${releaseLabel(seen.from)} → ${releaseLabel(seen.to)} as confirmed. Preview the rollback again.`,
    );
  }
}

/** Refuses to stop (and reject) a run the confirmed preview did not show. */
function checkInterrupted(
  confirmed: RollbackConfirmation | undefined,
  stage: string,
  run: StageRun | null,
): void {
  if (confirmed === undefined) return;
  const shown = confirmed.interrupted.find((i) => i.stage === stage)?.release ?? null;
  const now = run !== null && run.kind === 'normal' ? run.release : null;
  if (shown !== now) {
    throw new RuleViolationError(
      `The pipeline moved since the preview: at ${stage} the rollback would ${now === null ? 'stop no run' : `stop ${releaseLabel(now)} (and reject it there)`}, not ${shown === null ? 'stop no run' : `stop ${releaseLabel(shown)}`} as confirmed. Preview the rollback again.`,
    );
  }
}

function startManualRollback(
  draft: Draft,
  stage: string,
  interrupted: StageRun | null,
  chosen: ReadonlyMap<string, ReleaseNumber>,
  input: RollbackRequest,
): void {
  const state = draft.stage(stage);
  const why = `manual rollback by ${input.by}: ${input.reason}`;
  const targets: Record<string, TargetRun> = {};
  let from = 0;

  if (interrupted !== null) {
    draft.outcome(interrupted.release, stage, { status: 'rejected', at: draft.now, reason: why });
    for (const [id, target] of Object.entries(interrupted.targets)) {
      recordStopped(draft, stage, interrupted, id, target, why);
      if (target.status === 'waiting' || chosen.has(id)) continue;
      targets[id] = {
        status: 'rolling-back',
        before: target.before,
        rollbackTo: automaticRollbackTarget(target, state.targets[id]),
        startedAt: draft.now,
        deploymentId: null,
        abandoned: inFlight(target),
      };
      from = Math.max(from, interrupted.release);
    }
  }
  for (const [id, release] of chosen) {
    const current = runningRelease(draft.stage(stage), id) ?? 0;
    from = Math.max(from, current);
    targets[id] = {
      status: 'rolling-back',
      before: current,
      rollbackTo: release,
      startedAt: draft.now,
      deploymentId: null,
      abandoned: inFlight(interrupted?.targets[id]),
    };
  }

  const run: StageRun = {
    seq: state.runSeq + 1,
    kind: 'rollback',
    release: from,
    attempt: 1,
    step: 'rolling-back',
    startedAt: draft.now,
    bakeStartedAt: null,
    approvingSince: null,
    approvalsPassed: [],
    targets,
    blockers: [],
    failure: null,
    requestedBy: { by: input.by, reason: input.reason },
  };
  draft.setStage(stage, {
    run,
    runSeq: run.seq,
    handledRequests: remember(state.handledRequests, input.requestId),
    targets: forgetRolledBack(state.targets, chosen),
  });
  // The release approved here is judged bad: it ends rejected here and is not handed on.
  // The stage takes back its approval altogether (not only down to the rollback's release):
  // whatever waits downstream without having started is withdrawn (see `withdraw`), and an
  // older release, already handed on or passed over there, is never offered again. The
  // stage owes the next stages nothing until it approves again.
  const lowest = Math.min(...chosen.values());
  const approved = state.lastApproved;
  if (approved !== null && approved > lowest) {
    draft.outcome(approved, stage, { status: 'rejected', at: draft.now, reason: why });
    draft.setStage(stage, { lastApproved: null });
  }
  for (const direction of ['in', 'out'] as const) {
    const key = direction === 'in' ? 'promotionsIn' : 'promotionsOut';
    if (!draft.stage(stage)[key].enabled) continue;
    draft.setStage(stage, { [key]: { enabled: false, by: input.by, reason: why, at: draft.now } });
    draft.emit({
      type: 'Promotions Disabled',
      stage,
      occurrence: `${direction}:rollback${run.seq}`,
      reason: why,
      data: { direction },
    });
  }
  const plan = [...chosen].map(([id, release]) => `${id} → ${releaseLabel(release)}`).join(', ');
  draft.emit({
    type: 'Rollback Started',
    stage,
    release: from,
    occurrence: `rollback${run.seq}`,
    reason: why,
    data: { plan },
  });
  draft.audit.push({
    at: draft.now,
    stage,
    by: input.by,
    action: `roll back ${plan}`,
    reason: input.reason,
  });
  startRun(draft, stage, run);
}

/**
 * Drops from each rolled-back target's approved history the releases newer than the one
 * it goes back to: the operator judged them bad, so no later rollback picks them.
 */
function forgetRolledBack(
  targets: Readonly<Record<string, TargetState>>,
  chosen: ReadonlyMap<string, ReleaseNumber>,
): Record<string, TargetState> {
  const next: Record<string, TargetState> = { ...targets };
  for (const [id, to] of chosen) {
    const state = targets[id];
    if (state !== undefined)
      next[id] = { ...state, approved: state.approved.filter((release) => release <= to) };
  }
  return next;
}

/** The deployment a target is running right now, which a rollback must stop first. */
function inFlight(target: TargetRun | undefined): string | null {
  if (target === undefined) return null;
  return target.status === 'deploying' || target.status === 'rolling-back'
    ? target.deploymentId
    : null;
}
