import { isDeepStrictEqual } from 'node:util';
import type { Topology } from '../definition/topology.js';
import type { PipelineMeta } from '../model/controls.js';
import { type EventInput, type PipelineEvent, pipelineEvent } from '../model/events.js';
import type { ReleaseNumber, StageOutcome } from '../model/release.js';
import type { StageRun, StageState } from '../model/stage-state.js';

/** Everything the rules read: the stages of one pipeline and its meta item. */
export interface PipelineState {
  readonly stages: Readonly<Record<string, StageState>>;
  readonly meta: PipelineMeta;
}

/** Set a release's outcome at a stage: a blind, idempotent write to the release's progress. */
export interface OutcomeChange {
  readonly release: ReleaseNumber;
  readonly stage: string;
  readonly outcome: StageOutcome;
}

/** A run whose execution the caller must start (or restart), under this exact name. */
export interface RunStart {
  readonly stage: string;
  readonly seq: number;
  readonly kind: StageRun['kind'];
  readonly release: ReleaseNumber;
  readonly attempt: number;
  readonly executionName: string;
}

/** One finished deployment of one target, for its history (`captain history`). */
export interface DeploymentRecord {
  readonly target: string;
  readonly stage: string;
  readonly kind: 'normal' | 'rollback';
  readonly from: ReleaseNumber | null;
  readonly to: ReleaseNumber | null;
  readonly result: 'succeeded' | 'failed';
  readonly startedAt: string | null;
  readonly finishedAt: string;
  readonly reason: string | null;
}

/** A person's decision, kept in the audit log. */
export interface AuditEntry {
  readonly at: string;
  readonly by: string;
  readonly action: string;
  readonly reason: string;
}

/**
 * What a rule decided. Stage and meta items come back with their version incremented
 * once; a caller writes each changed item on the condition that its stored version is
 * the one it read, then writes outcomes, records and events (all idempotent).
 */
export interface Transition {
  readonly state: PipelineState;
  readonly changedStages: readonly string[];
  readonly metaChanged: boolean;
  readonly outcomes: readonly OutcomeChange[];
  readonly events: readonly PipelineEvent[];
  readonly starts: readonly RunStart[];
  readonly deployments: readonly DeploymentRecord[];
  readonly audit: readonly AuditEntry[];
  /** Why nothing changed, when nothing did (a duplicate, a stale run, a refused request). */
  readonly note: string | null;
}

/** The context every rule gets: the pipeline's shape and the time of the decision. */
export interface RuleContext {
  readonly topology: Topology;
  readonly now: string;
}

/**
 * The working copy a rule edits. It tracks which items changed so that each is written
 * once with one version bump, however many times the rule touched it.
 */
export class Draft {
  readonly context: RuleContext;
  readonly #original: PipelineState;
  readonly #stages: Record<string, StageState>;
  #meta: PipelineMeta;
  readonly #changed = new Set<string>();
  #metaChanged = false;
  readonly outcomes: OutcomeChange[] = [];
  readonly events: PipelineEvent[] = [];
  readonly starts: RunStart[] = [];
  readonly deployments: DeploymentRecord[] = [];
  readonly audit: AuditEntry[] = [];
  note: string | null = null;

  constructor(context: RuleContext, state: PipelineState) {
    this.context = context;
    this.#original = state;
    this.#stages = { ...state.stages };
    this.#meta = state.meta;
  }

  get now(): string {
    return this.context.now;
  }

  get topology(): Topology {
    return this.context.topology;
  }

  get pipeline(): string {
    return this.context.topology.pipeline;
  }

  get meta(): PipelineMeta {
    return this.#meta;
  }

  stage(name: string): StageState {
    this.topology.stage(name);
    const state = this.#stages[name];
    if (state === undefined) {
      throw new TypeError(
        `The state of stage ${name} was not loaded; load every stage of the pipeline.`,
      );
    }
    return state;
  }

  setStage(name: string, update: Partial<StageState>): StageState {
    const current = this.stage(name);
    // Writing what is already there is no change: a repeated request leaves versions alone.
    const same = Object.entries(update).every(([field, value]) =>
      isDeepStrictEqual(current[field as keyof StageState], value),
    );
    if (same) return current;
    const next = { ...current, ...update };
    this.#stages[name] = next;
    this.#changed.add(name);
    return next;
  }

  setRun(name: string, update: Partial<StageRun>): StageRun {
    const run = this.stage(name).run;
    if (run === null) throw new TypeError(`Stage ${name} has no run to update.`);
    const next = { ...run, ...update };
    this.setStage(name, { run: next });
    return next;
  }

  setMeta(update: Partial<PipelineMeta>): void {
    this.#meta = { ...this.#meta, ...update };
    this.#metaChanged = true;
  }

  emit(input: Omit<EventInput, 'pipeline' | 'at'>): void {
    this.events.push(pipelineEvent({ ...input, pipeline: this.pipeline, at: this.now }));
  }

  outcome(release: ReleaseNumber, stage: string, outcome: StageOutcome): void {
    this.outcomes.push({ release, stage, outcome });
  }

  finish(): Transition {
    // Compare with what was read, so that a change undone within the rule is no change.
    const changed = [...this.#changed].filter(
      (name) => !isDeepStrictEqual(this.#stages[name], this.#original.stages[name]),
    );
    const metaChanged = this.#metaChanged && !isDeepStrictEqual(this.#meta, this.#original.meta);
    const stages: Record<string, StageState> = { ...this.#original.stages };
    for (const name of changed) {
      const state = this.#stages[name] as StageState;
      stages[name] = { ...state, version: (this.#original.stages[name]?.version ?? 0) + 1 };
    }
    const meta = metaChanged
      ? { ...this.#meta, version: this.#original.meta.version + 1 }
      : this.#original.meta;
    const unchanged = changed.length === 0 && !metaChanged;
    return {
      // An unchanged state is the same object: a duplicate request is visibly a no-op.
      state: unchanged ? this.#original : { stages, meta },
      changedStages: changed,
      metaChanged,
      outcomes: this.outcomes,
      events: this.events,
      starts: this.starts,
      deployments: this.deployments,
      audit: this.audit,
      note: this.note,
    };
  }
}

/** `api-gamma-r42-1` for a normal run, `api-gamma-rollback7-1` for a rollback run. */
export function executionName(
  pipeline: string,
  stage: string,
  run: Pick<StageRun, 'kind' | 'release' | 'seq' | 'attempt'>,
): string {
  const what = run.kind === 'normal' ? `r${run.release}` : `rollback${run.seq}`;
  return `${pipeline}-${stage}-${what}-${run.attempt}`;
}
