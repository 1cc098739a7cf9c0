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
  InMemoryPromotionStore,
  type PipelineState,
  type Transition,
} from '../../../core/index.js';
import {
  attempt,
  FAST_CHECK,
  MODEL_TEST_TIMEOUT,
  MODEL_TIME_LIMIT,
  type Request,
  RUNS,
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
  | 'rollbacks'
  | 'manualRollbacks'
  | 'superseded'
  | 'blockedAdmits'
  | 'expedites'
  | 'duplicates'
  | 'lateDuplicates'
  | 'crashes',
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
  readonly steps: readonly Step[];
  readonly duplicateEvery: number;
  /** Per step: die after this many item writes (`null`: no crash). */
  readonly crashes: readonly (number | null)[];
  /** Per step: deliver an old engine request again, late (`null`: none). */
  readonly lateDuplicates: readonly (number | null)[];
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
) {
  const t = attempt(world, request);
  if (t === null) return null;
  const mark = store.committed.length;
  const crashes = crashAfter !== null && crashAfter >= 1 && crashAfter < t.writes.length;
  store.failAfterWrites = crashes ? crashAfter : null;
  try {
    await store.save(topology.pipeline, t);
  } catch (error) {
    if (!crashes) throw error;
  }
  store.failAfterWrites = null;
  const landed = store.committed.slice(mark);
  world.state = await store.load(topology);
  const observed: Transition = {
    ...t,
    state: world.state,
    events: landed.flatMap((e) => e.events),
    outcomes: landed.flatMap((e) => e.outcomes),
    starts: landed.flatMap((e) => e.starts),
    deployments: landed.flatMap((e) => e.deployments),
    audit: landed.flatMap((e) => e.audit),
  };
  return { observed, crashed: crashes, transition: t };
}

async function replay(plan: Plan, reach: Reach): Promise<void> {
  const world = new World();
  const store = new InMemoryPromotionStore();
  const engineRequests: Request[] = [];
  const observe = (before: PipelineState, observed: Transition) => {
    checkTransition(world, observed);
    checkNothingLost(world);
    countReach(reach, before, observed);
  };

  for (const [index, step] of plan.steps.entries()) {
    const request = toRequest(world, step);
    if (request === null) continue;
    const before = world.state;
    const result = await commit(world, store, request, plan.crashes[index] ?? null);
    if (result === null) continue;
    observe(before, result.observed);
    if (result.crashed) reach.crashes++;
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

function countReach(reach: Reach, before: PipelineState, t: Transition): void {
  for (const e of t.events) {
    if (e.type === 'Stage Approved' && e.detail.stage?.startsWith('prod')) reach.prodApprovals++;
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
    'hold after every step, with crashes between writes and late duplicates',
    async () => {
      const reach: Reach = {
        prodApprovals: 0,
        rollbacks: 0,
        manualRollbacks: 0,
        superseded: 0,
        blockedAdmits: 0,
        expedites: 0,
        duplicates: 0,
        lateDuplicates: 0,
        crashes: 0,
      };
      await fc.assert(
        fc.asyncProperty(
          fc.record({
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
        expect(count, `${name} occurred ${count} times in ${RUNS} histories`).toBeGreaterThan(
          RUNS / 20,
        );
      }
    },
    MODEL_TEST_TIMEOUT,
  );
});
