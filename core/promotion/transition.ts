import { isDeepStrictEqual } from 'node:util';
import type { Topology } from '../definition/topology.js';
import type { PipelineMeta } from '../model/controls.js';
import { type EventInput, type PipelineEvent, pipelineEvent } from '../model/events.js';
import { executionName } from '../model/execution-name.js';
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
  /**
   * The run's targets, the items of the execution's Map: every target of the stage for a
   * normal run, only those chosen for a manual rollback.
   */
  readonly targets: readonly string[];
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
  /** The stage it concerns; `null` for the pipeline as a whole. */
  readonly stage: string | null;
  readonly by: string;
  readonly action: string;
  readonly reason: string;
}

/** What an item's change brought about: written with the item, as its outbox. */
export interface Effects {
  readonly events: readonly PipelineEvent[];
  readonly outcomes: readonly OutcomeChange[];
  readonly deployments: readonly DeploymentRecord[];
  readonly audit: readonly AuditEntry[];
  readonly starts: readonly RunStart[];
}

/** An item at the version a decision read it. */
export interface ItemVersion {
  readonly item: ItemKey;
  readonly version: number;
}

/**
 * One conditional write of one item: the version it must still have, its new state and
 * effects, and the other items whose versions must not have moved either: those the
 * decision about this item read (see {@link Draft.dependsOn}).
 */
export type ItemWrite =
  | {
      readonly item: 'stage';
      readonly stage: string;
      readonly expectedVersion: number;
      readonly state: StageState;
      readonly effects: Effects;
      readonly dependsOn: readonly ItemVersion[];
    }
  | {
      readonly item: 'meta';
      readonly expectedVersion: number;
      readonly state: PipelineMeta;
      readonly effects: Effects;
      readonly dependsOn: readonly ItemVersion[];
    };

/**
 * What a rule decided. `writes` lists the changed items in the order they must be
 * written, each on the condition that its stored version is still `expectedVersion`
 * and that the items its decision read (`dependsOn`) are still at the versions read,
 * each with the effects (events, outcomes, records, executions to start) its change
 * brought about, to be stored with it and relayed afterwards (an outbox).
 *
 * The order is the order in which the rule changed the items: causes before effects.
 * The item whose change is the decision (the stage that approved, the meta item of a new
 * release) is written first; what follows from it (an offer to the next stage, a take)
 * is derived from stored state by `settle`, which every rule and the reconciler run. So
 * if the process dies between two writes, or another writer wins the race for a later
 * item, nothing is half-decided: the decision is stored and the next request (any
 * request, or the reconciler) completes what follows. An effect is never written without
 * its cause, which is what keeps a rejected release out of the next stage (property 1).
 *
 * Conditioning each write on its own item alone would allow write skew: gamma takes r9
 * because beta's promotions out were open when it read them, while an operator closes
 * them; each write finds its own item unchanged and both land, so r9 leaves beta after
 * the operator was told nothing would. A write whose decision read another item is
 * therefore conditioned on that item's version too (`dependsOn`; in DynamoDB a
 * `ConditionCheck` in the same transaction), and one of the two fails and is decided
 * again on fresh state. No transaction spans two writes of a transition.
 */
export interface Transition {
  readonly state: PipelineState;
  readonly writes: readonly ItemWrite[];
  /** Every effect of the transition, in the order decided (the union of the writes' effects). */
  readonly events: readonly PipelineEvent[];
  readonly outcomes: readonly OutcomeChange[];
  readonly deployments: readonly DeploymentRecord[];
  readonly audit: readonly AuditEntry[];
  readonly starts: readonly RunStart[];
  readonly changedStages: readonly string[];
  readonly metaChanged: boolean;
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
  /** Items in the order the rule first changed them: `meta` or a stage name. */
  readonly #touched: string[] = [];
  /** Effects that belong to another item than the stage they name. */
  readonly #owners = new WeakMap<object, string>();
  /** Per item: the other items its change was decided on, and how each was read. */
  readonly #reads = new Map<string, Map<string, Read>>();
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
    this.#touch(name);
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
    this.#touch(META);
  }

  #touch(item: string): void {
    if (!this.#touched.includes(item)) this.#touched.push(item);
  }

  /**
   * Records that what the rule decides about `writer` depends on what `read` holds now
   * (beta's promotions out, say, for an offer to gamma): if `writer` changes, it is
   * written only while `read` is still at the version the rule saw, the stored one or, if
   * this rule changed it first, the one this transition writes. Reads that no write
   * follows from need nothing: a decision not to act is taken again by the next request.
   *
   * The read also orders the writes (see {@link Draft.#writeOrder}) unless `ordered` is
   * false: a stage's own approval looks at the next stage but is its cause, not its effect.
   */
  dependsOn(writer: ItemKey, read: ItemKey, options: { readonly ordered?: boolean } = {}): void {
    const [item, source] = [keyOf(writer), keyOf(read)];
    if (item === source) return;
    const reads = this.#reads.get(item) ?? new Map<string, Read>();
    this.#reads.set(item, reads);
    const earlier = reads.get(source);
    // Read once as stored and once as changed, the write needs the changed one.
    reads.set(source, {
      changed: (earlier?.changed ?? false) || this.#changed(source),
      ordered: (earlier?.ordered ?? false) || options.ordered !== false,
    });
  }

  #changed(item: string): boolean {
    return item === META
      ? !isDeepStrictEqual(this.#meta, this.#original.meta)
      : !isDeepStrictEqual(this.#stages[item], this.#original.stages[item]);
  }

  /**
   * Records an event. It is written with the item of the stage it names, if that item
   * changes; `causedBy` names the item whose change it follows from when that differs (an
   * outcome at the next stage decided by this stage's approval must not land without it).
   */
  emit(input: Omit<EventInput, 'pipeline' | 'at'>, causedBy?: ItemKey): void {
    const event = pipelineEvent({ ...input, pipeline: this.pipeline, at: this.now });
    this.events.push(event);
    if (causedBy !== undefined) this.#owners.set(event, keyOf(causedBy));
  }

  outcome(release: ReleaseNumber, stage: string, outcome: StageOutcome, causedBy?: ItemKey): void {
    const change = { release, stage, outcome };
    this.outcomes.push(change);
    if (causedBy !== undefined) this.#owners.set(change, keyOf(causedBy));
  }

  finish(): Transition {
    // Compare with what was read, so that a change undone within the rule is no change.
    const changed = this.#writeOrder(this.#touched.filter((item) => this.#changed(item)));
    if (changed.length === 0) {
      const effects =
        this.events.length +
        this.outcomes.length +
        this.starts.length +
        this.audit.length +
        this.deployments.length;
      if (effects > 0)
        throw new TypeError(
          'A rule produced effects without changing any item; they could not be written.',
        );
      return {
        ...this.#effects(() => true),
        state: this.#original,
        writes: [],
        changedStages: [],
        metaChanged: false,
        note: this.note,
      };
    }

    const stages: Record<string, StageState> = { ...this.#original.stages };
    let meta = this.#original.meta;
    for (const item of changed) {
      if (item === META) meta = { ...this.#meta, version: this.#original.meta.version + 1 };
      else
        stages[item] = {
          ...(this.#stages[item] as StageState),
          version: (this.#original.stages[item]?.version ?? 0) + 1,
        };
    }

    // An effect belongs to the stage it names if that stage changed, else to the cause:
    // the first item written (the first the rule changed, unless that one follows from another).
    const cause = changed[0] as string;
    const owner = (effect: object, stage: string | null) => {
      const named = this.#owners.get(effect) ?? stage;
      return named !== null && changed.includes(named) ? named : cause;
    };
    const writes: ItemWrite[] = changed.map((item) => {
      const effects = this.#effects((effect, stage) => owner(effect, stage) === item);
      const dependsOn = this.#dependencies(item, changed);
      return item === META
        ? {
            item: 'meta',
            expectedVersion: this.#original.meta.version,
            state: meta,
            effects,
            dependsOn,
          }
        : {
            item: 'stage',
            stage: item,
            expectedVersion: this.#original.stages[item]?.version ?? 0,
            state: stages[item] as StageState,
            effects,
            dependsOn,
          };
    });
    return {
      ...this.#effects(() => true),
      state: { stages, meta },
      writes,
      changedStages: changed.filter((item) => item !== META),
      metaChanged: changed.includes(META),
      note: this.note,
    };
  }

  /**
   * The changed items in the order they are written: the order the rule first changed
   * them, except that an item whose change was decided on another's new state comes after
   * it (an offer to gamma after beta's approval, even if gamma's pending release was
   * withdrawn first), and one decided on another's stored state before it (until then
   * that still holds what was read). So no write lands before its cause. Should two items
   * each be decided on the other's new state, they keep the order the rule changed them;
   * each is still conditioned on the other as it is when it lands.
   */
  #writeOrder(changed: readonly string[]): string[] {
    const before = new Map<string, Set<string>>(changed.map((item) => [item, new Set()]));
    for (const [item, reads] of this.#reads) {
      if (!before.has(item)) continue;
      for (const [source, read] of reads) {
        if (!before.has(source) || !read.ordered) continue;
        if (read.changed) before.get(item)?.add(source);
        else before.get(source)?.add(item);
      }
    }
    const order: string[] = [];
    while (order.length < changed.length) {
      const next = changed.find(
        (item) =>
          !order.includes(item) && [...(before.get(item) ?? [])].every((p) => order.includes(p)),
      );
      if (next === undefined) return [...changed];
      order.push(next);
    }
    return order;
  }

  /**
   * The versions the write of `item` is conditioned on: each item it was decided on, at
   * the version it has when `item` is written: the one this transition gives it if it is
   * written before (`order`), else the stored one.
   */
  #dependencies(item: string, order: readonly string[]): ItemVersion[] {
    const position = order.indexOf(item);
    return [...(this.#reads.get(item)?.keys() ?? [])].map((source) => {
      const stored =
        source === META
          ? this.#original.meta.version
          : (this.#original.stages[source]?.version ?? 0);
      const written = order.indexOf(source);
      return {
        item: itemOf(source),
        version: written !== -1 && written < position ? stored + 1 : stored,
      };
    });
  }

  #effects(belongs: (effect: object, stage: string | null) => boolean): Effects {
    return {
      events: this.events.filter((event) => belongs(event, event.detail.stage)),
      outcomes: this.outcomes.filter((change) => belongs(change, change.stage)),
      deployments: this.deployments.filter((record) => belongs(record, record.stage)),
      audit: this.audit.filter((entry) => belongs(entry, entry.stage)),
      starts: this.starts.filter((start) => belongs(start, start.stage)),
    };
  }
}

/** How a decision about an item read another: as this rule changed it, and whether that orders their writes. */
interface Read {
  readonly changed: boolean;
  readonly ordered: boolean;
}

/** An item of the promotion state: the pipeline's meta item or one stage's. */
export type ItemKey = 'meta' | { readonly stage: string };

/** The key of the meta item among stage names (no stage name can contain a space). */
const META = ' meta';
const keyOf = (item: ItemKey) => (item === 'meta' ? META : item.stage);
const itemOf = (key: string): ItemKey => (key === META ? 'meta' : { stage: key });

/**
 * What starting a run's execution needs: its name and input.
 *
 * @example
 * runStart('api', 'gamma', run); // { stage: 'gamma', seq: 4, …, executionName: 'api_gamma_r9-1', targets: ['gamma-t1'] }
 */
export function runStart(pipeline: string, stage: string, run: StageRun): RunStart {
  return {
    stage,
    seq: run.seq,
    kind: run.kind,
    release: run.release,
    attempt: run.attempt,
    executionName: executionName(pipeline, stage, run),
    targets: Object.keys(run.targets),
  };
}
