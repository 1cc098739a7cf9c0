import { NotFoundError } from '../errors.js';
import type { PipelineDefinition, StageDefinition, TargetDefinition } from './schema.js';

/**
 * A validated definition with the lookups the rules need: stages by name, the stages
 * each one follows and promotes to, the first and last stages. Stages form a directed
 * acyclic graph in definition order: a stage may fan out to several (a wave's Regions,
 * each in its own lane) and may join several (the next wave, once every lane of the one
 * before approved the same release).
 */
export class Topology {
  readonly definition: PipelineDefinition;
  readonly roots: readonly string[];
  readonly leaves: readonly string[];
  readonly #stages = new Map<string, StageDefinition>();
  readonly #downstream = new Map<string, string[]>();
  readonly #upstream = new Map<string, readonly string[]>();

  constructor(definition: PipelineDefinition) {
    this.definition = definition;
    for (const stage of definition.stages) {
      this.#stages.set(stage.name, stage);
      this.#downstream.set(stage.name, []);
    }
    for (const stage of definition.stages) {
      this.#upstream.set(stage.name, stage.after);
      for (const upstream of stage.after) this.#downstream.get(upstream)?.push(stage.name);
    }
    this.roots = definition.stages
      .filter((stage) => stage.after.length === 0)
      .map((stage) => stage.name);
    this.leaves = definition.stages
      .filter((stage) => this.downstreamOf(stage.name).length === 0)
      .map((stage) => stage.name);
  }

  get pipeline(): string {
    return this.definition.name;
  }

  /** Stage names in definition order (upstream before downstream). */
  get stageNames(): string[] {
    return this.definition.stages.map((stage) => stage.name);
  }

  stage(name: string): StageDefinition {
    const stage = this.#stages.get(name);
    if (stage === undefined) {
      throw new NotFoundError(
        `Pipeline ${this.pipeline} has no stage "${name}"; its stages are ${this.stageNames.join(', ')}.`,
      );
    }
    return stage;
  }

  target(stageName: string, targetId: string): TargetDefinition {
    const stage = this.stage(stageName);
    const target = stage.targets.find((candidate) => candidate.id === targetId);
    if (target === undefined) {
      throw new NotFoundError(
        `Stage ${stageName} has no target "${targetId}"; its targets are ${stage.targets.map((t) => t.id).join(', ')}.`,
      );
    }
    return target;
  }

  /** The stage that holds a target, for commands that name a target alone. */
  stageOfTarget(targetId: string): string {
    const stage = this.definition.stages.find((candidate) =>
      candidate.targets.some((target) => target.id === targetId),
    );
    if (stage === undefined)
      throw new NotFoundError(`Pipeline ${this.pipeline} has no target "${targetId}".`);
    return stage.name;
  }

  /**
   * The targets a name stands for, for commands that take either: a stage's targets, or
   * one target with its stage.
   *
   * @example
   * topology.targetsNamed('prod-1');   // [{ stage: 'prod-1', target: 'prod-1-a' }, { stage: 'prod-1', target: 'prod-1-b' }]
   * topology.targetsNamed('prod-1-b'); // [{ stage: 'prod-1', target: 'prod-1-b' }]
   */
  targetsNamed(name: string): { stage: string; target: string }[] {
    const stage = this.#stages.get(name);
    if (stage !== undefined) return stage.targets.map((t) => ({ stage: name, target: t.id }));
    const holder = this.definition.stages.find((s) => s.targets.some((t) => t.id === name));
    if (holder === undefined) {
      throw new NotFoundError(
        `${this.pipeline} has no stage or target "${name}"; stages: ${this.stageNames.join(', ')}.`,
      );
    }
    return [{ stage: holder.name, target: name }];
  }

  downstreamOf(name: string): readonly string[] {
    return this.#downstream.get(name) ?? [];
  }

  /** The stages that must each approve a release before `name` takes it (none for a root). */
  upstreamOf(name: string): readonly string[] {
    return this.#upstream.get(name) ?? [];
  }

  /** The stages after `name`, transitively, in definition order. */
  descendantsOf(name: string): string[] {
    const found = new Set<string>();
    const visit = (stage: string) => {
      for (const next of this.downstreamOf(stage)) {
        found.add(next);
        visit(next);
      }
    };
    visit(name);
    return this.stageNames.filter((stage) => found.has(stage));
  }
}
