import { type ReleaseNumber, releaseLabel } from '../model/release.js';
import { HANDLED_REQUESTS_LIMIT, type StageRun } from '../model/stage-state.js';
import { type Draft, type ItemKey, runStart } from './transition.js';

/**
 * The movement of releases between stages: offering a release to a stage, a stage
 * taking its pending release, and handing an approved release on. Every function here is
 * idempotent: applying it to the state it produced changes nothing.
 */

/** Whether the run has deployed nothing yet, so a newer release may still replace it. */
export function runHasNotStarted(run: StageRun): boolean {
  return run.kind === 'normal' && Object.values(run.targets).every((t) => t.status === 'waiting');
}

/**
 * A release approved upstream (or newly created, for a first stage) arrives at `stage`.
 * It becomes pending there, superseding an older pending release; a release no newer than
 * one the stage already started is superseded at once (safety property 2). A run that is
 * still waiting on blockers has deployed nothing, so a newer release replaces it too.
 *
 * @example
 * // gamma is baking r41 and has r42 pending; r43 is approved in beta:
 * offer(draft, 'gamma', 43); // r42 → superseded by r43 at gamma; gamma.pending = 43
 */
export function offer(draft: Draft, stage: string, release: ReleaseNumber): void {
  const state = draft.stage(stage);
  const run = state.run;
  const isRunRelease = run !== null && run.kind === 'normal' && run.release === release;
  if (state.pending === release || state.newestStarted === release || isRunRelease) return;

  const newer = Math.max(
    state.newestStarted ?? 0,
    state.pending ?? 0,
    run !== null && run.kind === 'normal' ? run.release : 0,
  );
  if (release < newer) {
    supersede(draft, stage, release, newer);
    return;
  }

  if (state.pending !== null) supersede(draft, stage, state.pending, release);
  draft.setStage(stage, { pending: release });
  draft.outcome(release, stage, { status: 'pending', at: draft.now });

  if (run !== null && runHasNotStarted(run) && run.release < release) {
    // The run's execution sees that its run is gone at its next step and ends.
    supersede(draft, stage, run.release, release);
    draft.setStage(stage, { run: null });
  }
  take(draft, stage);
}

/** Records that `release` goes no further at `stage` because `by` is newer. */
export function supersede(
  draft: Draft,
  stage: string,
  release: ReleaseNumber,
  by: ReleaseNumber,
  causedBy?: ItemKey,
): void {
  draft.outcome(release, stage, { status: 'superseded', at: draft.now, by }, causedBy);
  draft.emit(
    {
      type: 'Release Superseded',
      stage,
      release,
      reason: `${releaseLabel(by)} is newer`,
      data: { by },
    },
    causedBy,
  );
}

/**
 * An idle stage takes its pending release, unless promotions into it are disabled or an
 * expedited release is in flight and this is not it.
 */
export function take(draft: Draft, stage: string): void {
  const state = draft.stage(stage);
  if (state.run !== null || state.pending === null || !state.promotionsIn.enabled) return;
  const expedite = draft.meta.expedite;
  if (expedite !== null && expedite.release !== state.pending) return;

  const release = state.pending;
  // Taken because no expedite holds it: the take lands only if the meta item is as read.
  draft.dependsOn({ stage }, 'meta');
  const run: StageRun = {
    seq: state.runSeq + 1,
    kind: 'normal',
    release,
    attempt: 1,
    step: 'waiting',
    startedAt: draft.now,
    bakeStartedAt: null,
    approvingSince: null,
    approvalsPassed: [],
    targets: Object.fromEntries(
      draft.topology.stage(stage).targets.map((target) => [
        target.id,
        {
          status: 'waiting' as const,
          before: state.targets[target.id]?.deployed ?? null,
          rollbackTo: null,
          startedAt: null,
          deploymentId: null,
          abandoned: null,
        },
      ]),
    ),
    blockers: [],
    failure: null,
    requestedBy: null,
  };
  draft.setStage(stage, { run, runSeq: run.seq, pending: null, newestStarted: release });
  draft.outcome(release, stage, { status: 'in-flight', at: draft.now });
  draft.emit({ type: 'Stage Started', stage, release, occurrence: run.seq });
  startRun(draft, stage, run);
}

export function startRun(draft: Draft, stage: string, run: StageRun): void {
  draft.starts.push(runStart(draft.pipeline, stage, run));
}

/**
 * Whether `stage` has already been offered `release` or something newer: pending there,
 * running there, taken there before, or passed over for a newer one. Promotion is derived
 * from this, not remembered, so an offer lost to a crash is simply made again.
 */
export function hasSeen(draft: Draft, stage: string, release: ReleaseNumber): boolean {
  return seenUpTo(draft, stage) >= release;
}

/** The newest release the stage was offered (0 if none). */
function seenUpTo(draft: Draft, stage: string): number {
  const state = draft.stage(stage);
  const running = state.run?.kind === 'normal' ? state.run.release : 0;
  return Math.max(state.pending ?? 0, state.newestStarted ?? 0, running);
}

/**
 * Hands what the stage approved on to each next stage (see {@link handOn}), unless
 * promotions out are disabled or an expedited release is in flight and this is not it
 * (then it waits here and goes on when the gate opens).
 */
export function promoteOut(draft: Draft, stage: string): void {
  for (const next of draft.topology.downstreamOf(stage)) handOn(draft, next);
}

/**
 * Offers `stage` the newest release every stage it follows approves (see {@link approves}),
 * if it has not seen that one or a newer: after a single stage, that stage's last
 * approval; at a join, the newest release approved by all of them (a release one lane
 * approved waits there until the others approve it too, and a newer one approved by all
 * replaces it). Nothing is offered while a stage it follows has promotions out disabled,
 * or while an expedite is in flight and the candidate is not the expedited release.
 *
 * @example
 * // prod-w2 joins prod-w1-dub and prod-w1-iad; dub approved r5, iad still bakes r5 (r4 approved):
 * handOn(draft, 'prod-w2'); // offers r4 if prod-w2 has not seen it; r5 once iad approves it
 */
export function handOn(draft: Draft, stage: string): void {
  const upstream = draft.topology.upstreamOf(stage);
  if (upstream.some((name) => !draft.stage(name).promotionsOut.enabled)) return;
  const release = candidate(draft, stage, upstream);
  if (release === null || hasSeen(draft, stage, release)) return;
  const expedite = draft.meta.expedite;
  if (expedite !== null && expedite.release !== release) return;

  // Offered because the stages before approved it with their gates open and no expedite
  // held it: the offer lands only if their items and the meta item are still as read.
  for (const name of upstream) draft.dependsOn({ stage }, { stage: name });
  draft.dependsOn({ stage }, 'meta');
  if (upstream.length > 1) {
    // Releases every lane approved that the join never saw end here, passed over for this one.
    const seen = seenUpTo(draft, stage);
    for (const skipped of approvedByAll(draft, upstream)) {
      if (skipped > seen && skipped < release) supersede(draft, stage, skipped, release, { stage });
    }
  }
  for (const name of upstream) {
    // Announced with the offer it describes: it lands only if this stage's item does.
    draft.emit(
      {
        type: 'Release Promoted',
        stage: name,
        release,
        occurrence: `to:${stage}`,
        data: { to: stage },
      },
      { stage },
    );
  }
  offer(draft, stage, release);
}

/** The release `stage` would take from the stages it follows, before gates and expedites. */
function candidate(draft: Draft, stage: string, upstream: readonly string[]): ReleaseNumber | null {
  if (upstream.length === 1) return draft.stage(upstream[0] as string).lastApproved;
  // Releases the stage has seen (or older) cannot be offered again.
  const seen = seenUpTo(draft, stage);
  const newest = approvedByAll(draft, upstream)
    .filter((release) => release > seen)
    .at(-1);
  return newest ?? null;
}

/**
 * The releases every one of `upstream` approves (see {@link approves}), oldest first. Only
 * the first stage's last approval and its first target's approved history can qualify
 * (every target must have approved an earlier one), so the work is bounded by that
 * history, not by the number of releases.
 */
function approvedByAll(draft: Draft, upstream: readonly string[]): ReleaseNumber[] {
  const first = upstream[0] as string;
  const state = draft.stage(first);
  const target = draft.topology.stage(first).targets[0]?.id;
  const possible = new Set([
    ...(state.lastApproved === null ? [] : [state.lastApproved]),
    ...(target === undefined ? [] : (state.targets[target]?.approved ?? [])),
  ]);
  return [...possible]
    .filter((release) => upstream.every((name) => approves(draft, name, release)))
    .sort((a, b) => a - b);
}

/**
 * Whether `stage` approves `release` now: it is the stage's last approval, or an earlier
 * one every target of the stage approved and no manual rollback has taken back since (a
 * rollback takes back every approval newer than the release it goes back to).
 */
export function approves(draft: Draft, stage: string, release: ReleaseNumber): boolean {
  const state = draft.stage(stage);
  const last = state.lastApproved;
  if (last === null || release > last) return false;
  if (release === last) return true;
  return draft.topology
    .stage(stage)
    .targets.every((target) => state.targets[target.id]?.approved.includes(release) ?? false);
}

/** Whether the stage approved `release` and holds it for a next stage that has not seen it. */
export function holds(draft: Draft, stage: string, release: ReleaseNumber): boolean {
  return (
    draft.stage(stage).lastApproved === release &&
    draft.topology.downstreamOf(stage).some((next) => !hasSeen(draft, next, release))
  );
}

/**
 * Whether a release can still move: pending or running (not rolling back) somewhere, or
 * approved and held at a stage for a next stage.
 */
export function inFlight(draft: Draft, release: ReleaseNumber): boolean {
  return draft.topology.stageNames.some((name) => {
    const state = draft.stage(name);
    const running =
      state.run?.kind === 'normal' &&
      state.run.step !== 'rolling-back' &&
      state.run.release === release;
    return state.pending === release || running || holds(draft, name, release);
  });
}

/** Whether every last stage has approved the release (or a newer one). */
export function everywhere(draft: Draft, release: ReleaseNumber): boolean {
  return draft.topology.leaves.every((leaf) => (draft.stage(leaf).lastApproved ?? 0) >= release);
}

/**
 * Ends an expedite once its release is approved at every last stage or can no longer
 * move (rejected or superseded). `settle` then lets the releases it held go on.
 */
export function settleExpedite(draft: Draft): void {
  const expedite = draft.meta.expedite;
  if (expedite === null) return;
  if (inFlight(draft, expedite.release) && !everywhere(draft, expedite.release)) return;

  draft.setMeta({ expedite: null });
}

/**
 * Brings the pipeline to rest after a decision: the newest release enters the first
 * stages, every stage hands on what it approved, idle stages take their pending release,
 * an expedite that is over ends. Everything here is derived from the stored state, so it
 * also completes the work of a request that died between two writes: whichever request
 * comes next (or the reconciler) finishes it.
 */
export function settle(draft: Draft): void {
  settleExpedite(draft);
  const latest = draft.meta.latestRelease;
  if (latest !== null && draft.meta.expedite === null) {
    for (const root of draft.topology.roots) {
      if (hasSeen(draft, root, latest)) continue;
      // Releases created while one was expedited, or whose admission a crash left undone,
      // never reached this stage: only the newest goes on, the others end superseded.
      draft.dependsOn({ stage: root }, 'meta');
      for (let skipped = seenUpTo(draft, root) + 1; skipped < latest; skipped++) {
        supersede(draft, root, skipped, latest);
      }
      offer(draft, root, latest);
    }
  }
  for (const stage of draft.topology.stageNames) {
    withdraw(draft, stage);
    promoteOut(draft, stage);
    take(draft, stage);
  }
  // Promotions above may have ended the expedite (its release is now everywhere).
  if (draft.meta.expedite !== null) {
    settleExpedite(draft);
    if (draft.meta.expedite === null) settle(draft);
  }
}

/**
 * A release waiting at a stage (pending, or taken but not started) that the stage before
 * no longer approves, because a manual rollback there took back the stage's approval, is
 * withdrawn: it ends rejected here and nothing of it is deployed. Derived from stored state, like all of
 * `settle`, so it holds even if the rollback's process died before reaching this stage.
 */
export function withdraw(draft: Draft, stage: string): void {
  const upstream = draft.topology.upstreamOf(stage);
  if (upstream.length === 0) return;
  // At a join, the stage that approves least decides.
  const approved = Math.min(...upstream.map((name) => draft.stage(name).lastApproved ?? 0));
  const by = upstream.filter((name) => (draft.stage(name).lastApproved ?? 0) === approved);
  const state = draft.stage(stage);
  const reason = `withdrawn: a manual rollback at ${by.join(', ')} took back its approval`;
  // No condition on the stages before (see `Draft.dependsOn`): a release withdrawn on a
  // stale read is one such a stage no longer approves whatever it did since, for it
  // approves again only releases newer than any it started, this one among them; a fresh
  // read would end it too (superseded by the newer one).
  if (state.pending !== null && state.pending > approved) {
    draft.outcome(state.pending, stage, { status: 'rejected', at: draft.now, reason });
    draft.setStage(stage, { pending: null });
  }
  const run = state.run;
  if (run !== null && runHasNotStarted(run) && run.release > approved) {
    draft.outcome(run.release, stage, { status: 'rejected', at: draft.now, reason });
    draft.setStage(stage, { run: null });
  }
}

/** Adds a handled request id, keeping the newest {@link HANDLED_REQUESTS_LIMIT}. */
export function remember(handled: readonly string[], requestId: string): string[] {
  return [...handled.filter((id) => id !== requestId), requestId].slice(-HANDLED_REQUESTS_LIMIT);
}
