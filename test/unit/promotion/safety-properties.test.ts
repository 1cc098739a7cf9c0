/**
 * Model-based test of DESIGN.md §2, properties 1–8: random sequences of what happens to
 * a pipeline (new releases, deployment results, alarms during deployments and bakes,
 * time windows opening and closing, manual rollbacks, promotion gates, expedites, and
 * the same request delivered twice) go through the real rules, and every property is
 * checked after every step against a log of everything the rules decided.
 *
 * On failure fast-check prints the seed and the shrunk sequence; rerun one with
 * `fc.assert(…, { seed, path })`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  InMemoryPromotionStore,
  type ItemKey,
  type PipelineState,
  type Topology,
  type Transition,
} from '../../../core/index.js';
import {
  attempt,
  FAST_CHECK,
  MODEL_TEST_TIMEOUT,
  MODEL_TIME_LIMIT,
  type Request,
  RUNS,
  randomGraph,
  type Step,
  stepArbitrary,
  topology,
  toRequest,
  World,
} from '../../support/pipeline-model.js';
import { checkNothingLost, checkTransition } from '../../support/safety-checks.js';

/** What a history exercised, so the test can show it reached the interesting cases. */
type Reach = Record<
  | 'prodApprovals'
  | 'joinApprovals'
  | 'rollbacks'
  | 'manualRollbacks'
  | 'superseded'
  | 'blockedAdmits'
  | 'expedites'
  | 'duplicates'
  | 'lateDuplicates'
  | 'crashes'
  | 'racesLost',
  number
>;

/**
 * Steps whose requests may arrive again, late: the engine's (executions, events) are
 * delivered at least once, and operator requests carry ids so a retry is recognised.
 */
const REPLAYABLE_STEPS = new Set<Step['kind']>([
  'rollback',
  'promotions',
  'create',
  'progress',
  'admit',
  'deployment',
  'bake',
  'alarm-during-run',
  'restart',
]);

interface Plan {
  /** The pipeline: the fixed one (fan-out, then a join) or a random graph. */
  readonly graph: Topology;
  readonly steps: readonly Step[];
  readonly duplicateEvery: number;
  /** Per step: die after this many item writes (`null`: no crash). */
  readonly crashes: readonly (number | null)[];
  /** Per step: deliver an old engine request again, late (`null`: none). */
  readonly lateDuplicates: readonly (number | null)[];
  /**
   * Per step: decide the step's request, then let an operator's request that changes an
   * item the decision read be written first (chosen by this number), then write the
   * decision, now stale: two requests racing, each read before the other wrote (`null`:
   * none).
   */
  readonly races: readonly (number | null)[];
}

/**
 * Applies a request through the store, as a handler would, and returns what was actually
 * committed: with a crash, only the writes that landed and their effects.
 */
async function commit(
  world: World,
  store: InMemoryPromotionStore,
  request: Request,
  crashAfter: number | null,
  decided?: Transition,
) {
  const t = decided ?? attempt(world, request);
  if (t === null) return null;
  const mark = store.committed.length;
  const crashes = crashAfter !== null && crashAfter >= 1 && crashAfter < t.writes.length;
  store.failAfterWrites = crashes ? crashAfter : null;
  let conflicted = false;
  try {
    await store.save(world.topology.pipeline, t);
  } catch (error) {
    // A decision raced by another (see `race`) may lose at any of its writes, after the
    // earlier ones landed: like a crash, what landed is observed.
    conflicted = decided !== undefined && error instanceof ConflictError;
    if (!crashes && !conflicted) throw error;
  }
  store.failAfterWrites = null;
  const landed = store.committed.slice(mark);
  world.state = await store.load(world.topology);
  const observed: Transition = {
    ...t,
    state: world.state,
    events: landed.flatMap((e) => e.events),
    outcomes: landed.flatMap((e) => e.outcomes),
    starts: landed.flatMap((e) => e.starts),
    deployments: landed.flatMap((e) => e.deployments),
    audit: landed.flatMap((e) => e.audit),
  };
  return { observed, crashed: crashes, conflicted, transition: t };
}

async function replay(plan: Plan, reach: Reach): Promise<void> {
  const world = new World(plan.graph);
  const store = new InMemoryPromotionStore();
  const engineRequests: Request[] = [];
  const observe = (before: PipelineState, observed: Transition) => {
    checkTransition(world, observed);
    checkNothingLost(world);
    countReach(world.topology, reach, before, observed);
  };
  /**
   * 6 across items: `request` is decided, the rival is written, then the decision. It
   * lands only if nothing it read changed; else it is refused, and the step's request is
   * then decided again on fresh state (the caller goes on with it, as a retry would).
   */
  const race = async (request: Request, choice: number) => {
    const decided = attempt(world, request);
    if (decided === null) return;
    // What a decision about a stage may have read: the stage before it and the meta item
    // (derived from the shape, not from what the rules declare, which is what is tested).
    const read = decided.writes.flatMap((write): ItemKey[] => {
      if (write.item === 'meta') return [];
      return ['meta', ...world.topology.upstreamOf(write.stage).map((stage) => ({ stage }))];
    });
    const item = read[choice % read.length];
    if (item === undefined) return;
    const rival = toRequest(world, rivalOf(world, item, decided, choice));
    if (rival === null) return;
    const rivalBefore = world.state;
    const rivalResult = await commit(world, store, rival, null);
    if (rivalResult === null || rivalResult.transition.writes.length === 0) return;
    observe(rivalBefore, rivalResult.observed);
    const staleBefore = world.state;
    const landed = await commit(world, store, request, null, decided);
    if (landed === null) return;
    observe(staleBefore, landed.observed);
    if (landed.conflicted) reach.racesLost++;
  };

  for (const [index, step] of plan.steps.entries()) {
    const request = toRequest(world, step);
    if (request === null) continue;
    const rivalAt = plan.races[index];
    if (rivalAt !== null && rivalAt !== undefined) await race(request, rivalAt);
    const before = world.state;
    const result = await commit(world, store, request, plan.crashes[index] ?? null);
    if (result === null) continue;
    observe(before, result.observed);
    if (result.crashed) reach.crashes++;
    // The retry of a request that crashed part-way completes what it left (an offer to the
    // next stage, say) from items it does not write: race that too.
    if (result.crashed && rivalAt !== null && rivalAt !== undefined) await race(request, rivalAt);
    if (REPLAYABLE_STEPS.has(step.kind)) engineRequests.push(request);

    if (!result.crashed && index % plan.duplicateEvery === 0) {
      // 7: the same request delivered twice changes nothing the second time.
      const again = attempt(world, request);
      if (again !== null) {
        reach.duplicates++;
        expect(again.state, `duplicate of ${JSON.stringify(step)}`).toEqual(world.state);
        expect(again.events).toEqual([]);
        expect(again.starts).toEqual([]);
      }
    }

    const late = plan.lateDuplicates[index];
    const old =
      late === null || late === undefined
        ? undefined
        : engineRequests[late % engineRequests.length];
    if (old !== undefined) {
      // 7: an old request delivered again, late, may only finish what a crash left undone.
      reach.lateDuplicates++;
      const lateBefore = world.state;
      const lateResult = await commit(world, store, old, null);
      if (lateResult !== null) observe(lateBefore, lateResult.observed);
    }
  }
}

/**
 * An operator's request that changes `item`, which a decision read: for a stage, closing
 * its promotions out or rolling it back; for the meta item, marking the decision's
 * release known-bad or approving or cancelling an expedite.
 */
function rivalOf(world: World, item: ItemKey, decided: Transition, choice: number): Step {
  const variant = Math.floor(choice / 7);
  if (item !== 'meta') {
    const stage = world.topology.stageNames.indexOf(item.stage);
    return variant % 2 === 0
      ? { kind: 'promotions', stage, direction: 'out', enabled: false }
      : { kind: 'rollback', stage, targets: variant, to: null };
  }
  const release = decided.events.find((e) => e.detail.release !== null)?.detail.release ?? 1;
  switch (variant % 3) {
    case 0:
      return { kind: 'known-bad', release: release - 1, present: true };
    case 1:
      return { kind: 'approve-expedite' };
    default:
      return { kind: 'cancel-expedite' };
  }
}

function countReach(graph: Topology, reach: Reach, before: PipelineState, t: Transition): void {
  for (const e of t.events) {
    if (e.type === 'Stage Approved' && e.detail.stage?.startsWith('prod')) reach.prodApprovals++;
    const joins = e.detail.stage !== null && graph.upstreamOf(e.detail.stage).length > 1;
    if (e.type === 'Stage Approved' && joins) reach.joinApprovals++;
    if (e.type === 'Rollback Completed') reach.rollbacks++;
    if (e.type === 'Rollback Started' && e.id.includes('/rollback')) reach.manualRollbacks++;
    if (e.type === 'Release Superseded') reach.superseded++;
  }
  if (before.meta.expedite === null && t.state.meta.expedite !== null) reach.expedites++;
  const blockedNow = Object.values(t.state.stages).some((s) => (s.run?.blockers.length ?? 0) > 0);
  if (blockedNow && t.changedStages.length > 0) reach.blockedAdmits++;
}

describe('safety properties 1–8 over random histories', () => {
  it(
    'hold after every step, with crashes between writes, late duplicates and racing requests',
    async () => {
      const reach: Reach = {
        prodApprovals: 0,
        joinApprovals: 0,
        rollbacks: 0,
        manualRollbacks: 0,
        superseded: 0,
        blockedAdmits: 0,
        expedites: 0,
        duplicates: 0,
        lateDuplicates: 0,
        crashes: 0,
        racesLost: 0,
      };
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            graph: fc.oneof(fc.constant(topology), randomGraph),
            steps: fc.array(stepArbitrary, { minLength: 1, maxLength: 100, size: 'max' }),
            duplicateEvery: fc.integer({ min: 1, max: 4 }),
            crashes: fc.array(fc.option(fc.nat({ max: 2 }), { nil: null, freq: 8 }), {
              minLength: 100,
              maxLength: 100,
            }),
            lateDuplicates: fc.array(fc.option(fc.nat(), { nil: null, freq: 10 }), {
              minLength: 100,
              maxLength: 100,
            }),
            // About one step in eight races an operator's write.
            races: fc.array(
              fc.oneof(
                { weight: 7, arbitrary: fc.constant(null) },
                { weight: 1, arbitrary: fc.nat() },
              ),
              {
                minLength: 100,
                maxLength: 100,
              },
            ),
          }),
          (plan) => replay(plan, reach),
        ),
        {
          ...FAST_CHECK,
          numRuns: RUNS,
          ...MODEL_TIME_LIMIT,
        },
      );
      // A property checked only on empty histories proves nothing: each case must occur often.
      for (const [name, count] of Object.entries(reach)) {
        // The join is the sixth stage: fewer histories get that far (about 35 in 1,000).
        const often = name === 'joinApprovals' ? RUNS / 50 : RUNS / 20;
        expect(count, `${name} occurred ${count} times in ${RUNS} histories`).toBeGreaterThan(
          often,
        );
      }
    },
    MODEL_TEST_TIMEOUT,
  );
});
