import type { Topology } from '../../definition/topology.js';
import { ConflictError } from '../../errors.js';
import { initialMeta, type PipelineMeta } from '../../model/controls.js';
import { initialStageState, type StageState } from '../../model/stage-state.js';
import type { PipelineState, Transition } from '../../promotion/transition.js';
import type { PromotionStore } from '../stores.js';

/**
 * The promotion state in memory, with the same conditional-write contract as the
 * DynamoDB adapter: each item is written only if its version is the one that was read.
 * Like DynamoDB without transactions, items are written one at a time, stages first and
 * the meta item last; `failAfterWrites` simulates a crash between two of them.
 */
export class InMemoryPromotionStore implements PromotionStore {
  readonly #stages = new Map<string, StageState>();
  readonly #meta = new Map<string, PipelineMeta>();
  /** Writes left before the next save throws as if the process died; `null` never. */
  failAfterWrites: number | null = null;

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

  async save(pipeline: string, read: PipelineState, transition: Transition): Promise<void> {
    for (const name of transition.changedStages) {
      const stored = this.#stages.get(key(pipeline, name))?.version ?? 0;
      const expected = read.stages[name]?.version ?? 0;
      if (stored !== expected) {
        throw new ConflictError(
          `Stage ${name} of ${pipeline} changed (version ${stored}, read ${expected}); reload and retry.`,
        );
      }
      this.#tick();
      this.#stages.set(key(pipeline, name), transition.state.stages[name] as StageState);
    }
    if (transition.metaChanged) {
      const stored = this.#meta.get(pipeline)?.version ?? 0;
      if (stored !== read.meta.version) {
        throw new ConflictError(
          `The meta item of ${pipeline} changed (version ${stored}, read ${read.meta.version}); reload and retry.`,
        );
      }
      this.#tick();
      this.#meta.set(pipeline, transition.state.meta);
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
