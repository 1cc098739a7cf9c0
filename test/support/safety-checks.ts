/**
 * The checks of DESIGN.md §2 that the model-based tests run after every step, on what a
 * step committed (its events and outcomes) and on the state it left, against a log of
 * everything decided so far (the model's {@link World}). Shared by the rules' model
 * (test/unit/promotion/safety-properties.test.ts) and the stage driver's
 * (test/unit/service/driver-model.test.ts).
 */
import { expect } from 'vitest';
import type { StageState, Topology, Transition } from '../../core/index.js';
import { stageOf, type World } from './pipeline-model.js';

export const key = (release: number, stage: string) => `${release}@${stage}`;

/** Checks properties 1, 2, 3, 4 and 6 on what one transition decided, then records it. */
/**
 * `graph` is the pipeline as it is now: a target added to a stage later is one of its
 * targets from then on.
 */
export function checkTransition(
  world: World,
  t: Transition,
  graph: Topology = world.topology,
): void {
  const after = t.state;
  // Outcomes first: an event of this transition may depend on an outcome it also decided.
  for (const change of t.outcomes) {
    world.outcomes.set(key(change.release, change.stage), change.outcome);
    // A release rejected at a stage after it was approved there (a manual rollback) no
    // longer counts as approved there for property 1.
    if (change.outcome.status === 'rejected')
      world.approved.delete(key(change.release, change.stage));
    if (change.outcome.status === 'superseded') {
      const set = world.supersededAt.get(change.release) ?? new Set<string>();
      set.add(change.stage);
      world.supersededAt.set(change.release, set);
    }
  }
  for (const event of t.events) {
    // 7: an id names one decision: the same id always carries the same event.
    const { at: _at, ...same } = event;
    const earlier = world.eventsById.get(event.id);
    if (earlier !== undefined)
      expect(same, `event id ${event.id} reused for another event`).toEqual(earlier);
    world.eventsById.set(event.id, same);
    const { stage: s, release: r, target } = event.detail;
    const isRollbackEvent = event.detail.data.kind === 'rollback';
    if (event.type === 'Deployment Succeeded' && target !== null) world.deployedAt.set(target, r);
    // A rollback to "nothing" (a first deployment) names no release: record it before skipping those.
    if (event.type === 'Deployment Failed' && isRollbackEvent && target !== null && s !== null) {
      world.runs.get(s)?.rollbackFailed.add(target);
    }
    if (s === null || r === null) continue;
    if (event.type === 'Stage Started') {
      // A running stage is never interrupted: a run that deployed anything ends approved or rolled back.
      const previous = world.runs.get(s);
      expect(
        previous === undefined || previous.touched.size === 0,
        `${event.id}: interrupts a run that deployed`,
      ).toBe(true);
      const before = new Map(
        graph.stage(s).targets.map((t) => [t.id, world.deployedAt.get(t.id) ?? null]),
      );
      world.runs.set(s, { before, touched: new Set(), failed: false, rollbackFailed: new Set() });
    }
    // Whether this start is the run's first deployment, before it is recorded below.
    const runStarts = (world.runs.get(s)?.touched.size ?? 0) === 0;
    if (event.type === 'Deployment Started' && !isRollbackEvent && target !== null)
      world.runs.get(s)?.touched.add(target);
    if (event.type === 'Rollback Started') {
      // A manual rollback (occurrence `rollbackN`) is the operator's choice, not property 4's.
      if (event.id.includes('/rollback')) world.runs.delete(s);
      else {
        const run = world.runs.get(s);
        if (run !== undefined) run.failed = true;
      }
    }
    const isNormalStart =
      event.type === 'Deployment Started' && event.detail.data.kind === 'normal';
    if (isNormalStart) {
      // 1: a run starts deploying a release only if the stage before it approved it (and
      // still does: a release rejected there by a manual rollback is withdrawn).
      // Over a graph: every stage it follows approved it (and still does).
      for (const upstream of runStarts ? graph.upstreamOf(s) : []) {
        expect(
          world.approved.has(key(r, upstream)),
          `${event.id}: r${r} not approved at ${upstream}`,
        ).toBe(true);
      }
      // Blockers: a release marked known-bad starts deploying nowhere (the model never
      // overrides one), even if the mark and the admission were decided at the same time.
      expect(
        after.meta.knownBad.some((entry) => entry.kind === 'release' && entry.value === `r${r}`),
        `${event.id}: r${r} is marked known-bad`,
      ).toBe(false);
      // 2: never older than the newest release already started here.
      expect(
        r,
        `${event.id}: older than r${world.maxStarted.get(s)} already started`,
      ).toBeGreaterThanOrEqual(world.maxStarted.get(s) ?? 0);
      world.maxStarted.set(s, Math.max(world.maxStarted.get(s) ?? 0, r));
      // 3: a superseded release is never deployed where it was superseded or later.
      const supersededWhere = world.supersededAt.get(r) ?? new Set<string>();
      for (const where of supersededWhere) {
        expect(
          where === s || graph.descendantsOf(where).includes(s),
          `${event.id}: r${r} was superseded at ${where}`,
        ).toBe(false);
      }
      // 8: production gets only reviewed commits: every release the target skips to r included.
      if (graph.stage(s).phase === 'production' && target !== null) {
        for (let n = (world.deployedAt.get(target) ?? 0) + 1; n <= r; n++) {
          const unreviewed = world.releases.get(n)?.commits.some((c) => c.review === null);
          expect(unreviewed, `${event.id}: brings r${n}'s unreviewed commit to production`).toBe(
            false,
          );
        }
      }
      // 6: nothing enters a stage whose promotions in are disabled.
      expect(
        after.stages[s]?.promotionsIn.enabled,
        `${event.id}: promotions into ${s} are disabled`,
      ).toBe(true);
    }
    if (event.type === 'Stage Started') {
      // While a release is expedited, no other enters a stage.
      const expedited = after.meta.expedite?.release ?? r;
      expect(expedited, `${event.id}: ${s} took r${r} while r${expedited} is expedited`).toBe(r);
      // 6: a stage with promotions in disabled does not even take a release into a run.
      expect(
        after.stages[s]?.promotionsIn.enabled,
        `${event.id}: ${s} took a release while promotions in are disabled`,
      ).toBe(true);
    }
    if (event.type === 'Release Promoted') {
      // While a release is expedited, the others stay where they are.
      const expedited = after.meta.expedite?.release ?? r;
      expect(expedited, `${event.id}: r${r} promoted while r${expedited} is expedited`).toBe(r);
      // 6: nothing leaves a stage whose promotions out are disabled.
      expect(
        after.stages[s]?.promotionsOut.enabled,
        `${event.id}: promotions out of ${s} are disabled`,
      ).toBe(true);
    }
    if (event.type === 'Stage Approved') {
      world.approved.add(key(r, s));
      for (const t of graph.stage(s).targets) world.lastApprovedAt.set(t.id, r);
      world.runs.delete(s);
    }
    if (event.type === 'Rollback Completed') {
      // 4: after a failed run every target it touched is back on what it ran before (or its
      // last approved release), unless its own rollback deployment failed, which closes the
      // stage for an operator.
      const run = world.runs.get(s);
      const state = after.stages[s];
      if (run?.failed && state !== undefined) {
        for (const id of run.touched) {
          const deployed = world.deployedAt.get(id) ?? null;
          const allowed = [run.before.get(id) ?? null, world.lastApprovedAt.get(id) ?? null];
          if (run.rollbackFailed.has(id)) {
            expect(
              state.promotionsIn.enabled,
              `${event.id}: ${id}'s rollback failed but ${s} stays open`,
            ).toBe(false);
            continue;
          }
          expect(
            allowed.includes(deployed),
            `${event.id}: ${id} runs r${deployed}, expected one of ${allowed}`,
          ).toBe(true);
        }
        expect(world.outcomes.get(key(r, s))?.status).toBe('rejected');
      }
      world.runs.delete(s);
    }
  }
}

/** Property 5: no release is lost; every recorded outcome agrees with the stages. */
export function checkNothingLost(world: World): void {
  const { meta } = world.state;
  const latest = meta.latestRelease ?? 0;
  for (let r = 1; r <= latest; r++) {
    for (const s of world.topology.stageNames) {
      const outcome = world.outcomes.get(key(r, s));
      const state = stageOf(world, s);
      if (outcome?.status === 'pending') expect(state.pending, `r${r} pending at ${s}`).toBe(r);
      if (outcome?.status === 'in-flight' || outcome?.status === 'blocked') {
        expect(
          state.run?.kind === 'normal' && state.run.release === r,
          `r${r} ${outcome.status} at ${s}`,
        ).toBe(true);
      }
      if (outcome?.status === 'blocked') {
        expect(state.run?.step, `r${r} blocked at ${s} but its run moved on`).toBe('waiting');
      }
      if (world.topology.roots.includes(s) && outcome === undefined) {
        // Only releases held during an expedite, or whose admission a crash left to the next
        // decision (the stage has not seen the newest release yet), may not have reached it.
        const admissionPending = !seen(state, latest);
        expect(
          (meta.expedite !== null && r > meta.expedite.release) || admissionPending,
          `r${r} never reached ${s}`,
        ).toBe(true);
      }
      if (outcome?.status === 'approved') {
        for (const next of world.topology.downstreamOf(s)) {
          const upstream = world.topology.upstreamOf(next);
          if (upstream.length > 1) {
            // A join is owed only what every stage it follows approved; until then it waits
            // in the lanes, and while the join has not seen it, it is still owed (a closed
            // gate, an expedite, a crash before the offer). Once the join has seen a newer
            // release, it must have been offered or passed over (superseded), not dropped.
            if (!upstream.every((u) => world.approved.has(key(r, u)))) continue;
            expect(
              !seen(stageOf(world, next), r) || world.outcomes.has(key(r, next)),
              `r${r} approved at every stage before the join ${next} but lost there`,
            ).toBe(true);
            continue;
          }
          // Still held here (a closed gate, an expedite) is in flight, not lost.
          const held = state.lastApproved === r && !seen(stageOf(world, next), r);
          expect(
            held || world.outcomes.has(key(r, next)),
            `r${r} approved at ${s} but lost before ${next}`,
          ).toBe(true);
        }
      }
    }
  }
}

/** Whether a stage was offered the release or a newer one (independent of the rules' own helper). */
function seen(state: StageState, r: number): boolean {
  const running = state.run?.kind === 'normal' ? state.run.release : 0;
  return Math.max(state.pending ?? 0, state.newestStarted ?? 0, running) >= r;
}
