import type { Topology } from '../definition/topology.js';
import type { PipelineMeta } from '../model/controls.js';
import type { Release, ReleaseNumber, ReleaseProgress } from '../model/release.js';
import type {
  AuditEntry,
  DeploymentRecord,
  Effects,
  ItemKey,
  ItemWrite,
  OutcomeChange,
  PipelineState,
  Transition,
} from '../promotion/transition.js';

/** Releases and their progress. Releases are written once; progress is set per stage. */
export interface ReleaseStore {
  /** Writes a new release; writing the same release again is a no-op, a different one with the same number a `ConflictError`. */
  createRelease(release: Release): Promise<void>;
  getRelease(pipeline: string, release: ReleaseNumber): Promise<Release | null>;
  /** Newest first; `before` pages back from a release number. */
  listReleases(
    pipeline: string,
    options: { limit: number; before?: ReleaseNumber },
  ): Promise<Release[]>;
  /**
   * Sets each release's outcome at a stage, unless the stored one is later (`laterOutcome`):
   * outcomes are relayed at least once, and an old one must not overwrite a newer one.
   */
  recordOutcomes(pipeline: string, changes: readonly OutcomeChange[]): Promise<void>;
  getProgress(pipeline: string, release: ReleaseNumber): Promise<ReleaseProgress>;
  /**
   * The releases that brought commits whose sha starts with `prefix` (at least 4 hex
   * characters), at most `limit`: main is linear, so each commit is new in one release and
   * every later release contains it too.
   */
  findCommits(pipeline: string, prefix: string, limit: number): Promise<CommitInRelease[]>;
}

/** A commit and the release it was new in. */
export interface CommitInRelease {
  readonly sha: string;
  readonly release: ReleaseNumber;
}

/** The promotion state: one item per stage plus the pipeline's meta item. */
export interface PromotionStore {
  /** Every stage of the pipeline (fresh ones for stages never written) and the meta item. */
  load(topology: Topology): Promise<PipelineState>;
  /**
   * Carries out `transition.writes` in order: each item only if its stored version is
   * still `expectedVersion`, together with its effects (an outbox that a relay publishes).
   * Throws `ConflictError` if another writer moved first: reload, re-apply the rule, save
   * again. If the process dies part-way, retrying the same request completes the rest.
   */
  save(pipeline: string, transition: Transition): Promise<void>;
  /**
   * The effects written with items and not yet acknowledged (the outboxes), meta item
   * first, then the stages in pipeline order, each item's oldest first.
   */
  pendingEffects(topology: Topology): Promise<OutboxEntry[]>;
  /** Drops relayed entries from their items' outboxes; unknown or already dropped ids are ignored. */
  acknowledge(pipeline: string, entries: readonly OutboxEntry[]): Promise<void>;
}

/** The effects one item write brought about, kept with the item until they are relayed. */
export interface OutboxEntry {
  /** `<item>@<version>`: unique, because each version of an item is written once. */
  readonly id: string;
  readonly item: ItemKey;
  readonly effects: Effects;
}

/**
 * The id of the outbox entry a write stores.
 *
 * @example
 * outboxEntryId({ item: 'stage', stage: 'gamma', state: { version: 12, … }, … }); // 'gamma@12'
 */
export function outboxEntryId(write: ItemWrite): string {
  return `${write.item === 'meta' ? ' meta' : write.stage}@${write.state.version}`;
}

/** Whether a write brought anything about that must be relayed. */
export function hasEffects(effects: Effects): boolean {
  return Object.values(effects).some((list: readonly unknown[]) => list.length > 0);
}

/** The record of every deployment of every target (`captain history`). */
export interface DeploymentLog {
  /** Idempotent: the same record (target, kind, to, finishedAt) written twice is kept once. */
  record(pipeline: string, records: readonly DeploymentRecord[]): Promise<void>;
  /** Newest first. */
  history(pipeline: string, target: string, limit: number): Promise<DeploymentRecord[]>;
}

/** Who did what and why: overrides, rollbacks, promotion toggles, approvals. */
export interface AuditLog {
  append(pipeline: string, entries: readonly AuditEntry[]): Promise<void>;
  /** Newest first. */
  list(pipeline: string, limit: number): Promise<AuditEntry[]>;
}

export type { PipelineMeta };
