import { isDeepStrictEqual } from 'node:util';
import type { Topology } from '../../definition/topology.js';
import { ConflictError } from '../../errors.js';
import { initialMeta, type PipelineMeta } from '../../model/controls.js';
import { initialStageState, type StageState } from '../../model/stage-state.js';
import type { Effects, PipelineState, Transition } from '../../promotion/transition.js';
import { hasEffects, type OutboxEntry, outboxEntryId, type PromotionStore } from '../stores.js';

/**
 * The promotion state in memory, with the same contract as the DynamoDB adapter: the
 * transition's writes go one item at a time, in order, each only if the item's version is
 * still the one that was read and so are those of the items its decision read
 * (`dependsOn`), each with its effects. `failAfterWrites` simulates the
 * process dying between two writes.
 */
export class InMemoryPromotionStore implements PromotionStore {
  readonly #stages = new Map<string, StageState>();
  readonly #meta = new Map<string, PipelineMeta>();
  /** Writes left before the next save throws as if the process died; `null` never. */
  failAfterWrites: number | null = null;
  /** The effects of every item written, in write order: what a relay would publish. */
  readonly committed: Effects[] = [];
  /** Outbox entries not yet acknowledged, in write order. */
  readonly #outbox: (OutboxEntry & { readonly pipeline: string })[] = [];

  async load(topology: Topology): Promise<PipelineState> {
    const stages: Record<string, StageState> = {};
    for (const stage of topology.definition.stages) {
      stages[stage.name] =
        this.#stages.get(key(topology.pipeline, stage.name)) ??
        initialStageState(
          stage.name,
          stage.targets.map((target) => target.id),
        );
    }
    return { stages, meta: this.#meta.get(topology.pipeline) ?? initialMeta() };
  }

  async save(pipeline: string, transition: Transition): Promise<void> {
    for (const write of transition.writes) {
      const id = write.item === 'meta' ? pipeline : key(pipeline, write.stage);
      const stored =
        (write.item === 'meta' ? this.#meta.get(id) : this.#stages.get(id))?.version ?? 0;
      const current = write.item === 'meta' ? this.#meta.get(id) : this.#stages.get(id);
      // The same write again (its response was lost, the caller retried): already done.
      if (stored === write.state.version && isDeepStrictEqual(current, write.state)) continue;
      if (stored !== write.expectedVersion) {
        const what = write.item === 'meta' ? 'The meta item' : `Stage ${write.stage}`;
        throw new ConflictError(
          `${what} of ${pipeline} changed (version ${stored}, read ${write.expectedVersion}); reload and retry.`,
        );
      }
      // The items the decision read must be as read, checked with the write (a transaction).
      for (const dependency of write.dependsOn) {
        const read = dependency.item;
        const now =
          (read === 'meta' ? this.#meta.get(pipeline) : this.#stages.get(key(pipeline, read.stage)))
            ?.version ?? 0;
        if (now !== dependency.version) {
          const what = write.item === 'meta' ? 'The meta item' : `Stage ${write.stage}`;
          const source = read === 'meta' ? 'the meta item' : `stage ${read.stage}`;
          throw new ConflictError(
            `${what} of ${pipeline} was decided on ${source}, which changed (version ${now}, read ${dependency.version}); reload and retry.`,
          );
        }
      }
      this.#tick();
      if (write.item === 'meta') this.#meta.set(id, write.state);
      else this.#stages.set(id, write.state);
      // The item and its effects land together, as one DynamoDB item with its outbox would.
      this.committed.push(write.effects);
      if (hasEffects(write.effects)) {
        this.#outbox.push({
          pipeline,
          id: outboxEntryId(write),
          item: write.item === 'meta' ? 'meta' : { stage: write.stage },
          effects: write.effects,
        });
      }
    }
  }

  async pendingEffects(topology: Topology): Promise<OutboxEntry[]> {
    const order = (entry: OutboxEntry) =>
      entry.item === 'meta' ? -1 : topology.stageNames.indexOf(entry.item.stage);
    return this.#outbox
      .filter((entry) => entry.pipeline === topology.pipeline)
      .map(({ pipeline: _, ...entry }) => entry)
      .sort((a, b) => order(a) - order(b));
  }

  async acknowledge(pipeline: string, entries: readonly OutboxEntry[]): Promise<void> {
    const ids = new Set(entries.map((entry) => entry.id));
    for (let index = this.#outbox.length - 1; index >= 0; index--) {
      const entry = this.#outbox[index];
      if (entry !== undefined && entry.pipeline === pipeline && ids.has(entry.id))
        this.#outbox.splice(index, 1);
    }
  }

  #tick(): void {
    if (this.failAfterWrites === null) return;
    if (this.failAfterWrites === 0) {
      this.failAfterWrites = null;
      throw new Error('simulated crash between two writes');
    }
    this.failAfterWrites -= 1;
  }
}

const key = (pipeline: string, stage: string) => `${pipeline}\u0000${stage}`;
