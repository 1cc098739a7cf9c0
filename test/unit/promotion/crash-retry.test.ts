/**
 * Safety property 7 under crashes: the process may die between any two item writes of
 * any transition. Retrying the same request (as Lambda and Step Functions do) must end
 * in exactly the state, and with exactly the events, of a run in which nothing crashed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryPromotionStore, type Transition } from '../../../core/index.js';
import {
  attempt,
  FAST_CHECK,
  RUNS,
  stepArbitrary,
  topology,
  toRequest,
  World,
} from '../../support/pipeline-model.js';

interface Pipeline {
  world: World;
  store: InMemoryPromotionStore;
}

const fresh = (): Pipeline => ({ world: new World(), store: new InMemoryPromotionStore() });

/** Applies one request through the store; `crashAfter` kills the process after that many writes, then retries. */
async function applyStep(
  pipeline: Pipeline,
  request: ReturnType<typeof toRequest>,
  crashAfter: number | null,
): Promise<boolean> {
  if (request === null) return false;
  let t: Transition | null = attempt(pipeline.world, request);
  if (t === null) return false;
  let crashed = false;
  if (crashAfter !== null && crashAfter < t.writes.length - 1) {
    pipeline.store.failAfterWrites = crashAfter;
    await expect(pipeline.store.save(topology.pipeline, t)).rejects.toThrow('simulated crash');
    crashed = true;
    // The retry reads the state the partial write left and applies the same request again.
    pipeline.world.state = await pipeline.store.load(topology);
    t = attempt(pipeline.world, request);
  }
  if (t !== null) await pipeline.store.save(topology.pipeline, t);
  pipeline.world.state = await pipeline.store.load(topology);
  return crashed;
}

const eventIds = (store: InMemoryPromotionStore) =>
  new Set(store.committed.flatMap((e) => e.events.map((event) => event.id)));
const starts = (store: InMemoryPromotionStore) =>
  new Set(store.committed.flatMap((e) => e.starts.map((s) => s.executionName)));

describe('a crash between two writes, then a retry', () => {
  it('ends as if nothing had crashed: same state, same events, same executions', async () => {
    let crashes = 0;
    const histories = Math.max(100, RUNS / 2);
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArbitrary, { minLength: 1, maxLength: 60, size: 'max' }),
        fc.array(fc.option(fc.nat({ max: 2 }), { nil: null, freq: 2 }), {
          minLength: 60,
          maxLength: 60,
        }),
        async (steps, crashPlan) => {
          const clean = fresh();
          const crashy = fresh();
          for (const [index, step] of steps.entries()) {
            await applyStep(clean, toRequest(clean.world, step), null);
            if (await applyStep(crashy, toRequest(crashy.world, step), crashPlan[index] ?? null))
              crashes++;
            expect(crashy.world.state).toEqual(clean.world.state);
          }
          expect(eventIds(crashy.store)).toEqual(eventIds(clean.store));
          expect(starts(crashy.store)).toEqual(starts(clean.store));
        },
      ),
      { ...FAST_CHECK, numRuns: histories },
    );
    // Crashes must actually happen between writes for this to mean anything.
    expect(crashes).toBeGreaterThan(histories / 5);
  }, 180_000);
});
