import type { ReleaseNumber } from './release.js';

/** What can stop a deployment from starting (DESIGN.md §1, "blocker"). */
export type BlockerKind =
  | 'time-window'
  | 'alarm'
  | 'known-bad'
  | 'unreviewed'
  | 'promotions-disabled';

/**
 * A recorded decision to start despite a blocker: who, why, until when, and how far it
 * reaches (`null` scope fields match anything).
 */
export interface Override {
  readonly id: string;
  readonly kind: Exclude<BlockerKind, 'promotions-disabled'>;
  /** The alarm name, known-bad entry, … it lifts; `null` for any of its kind. */
  readonly subject: string | null;
  readonly stage: string | null;
  readonly release: ReleaseNumber | null;
  readonly by: string;
  readonly reason: string;
  readonly at: string;
  readonly until: string;
}

/** Something that must not be deployed: a release, an artifact digest or a dependency version. */
export interface KnownBad {
  readonly kind: 'release' | 'artifact' | 'dependency';
  /** `r42`, `sha256:…` (image digest or file sha256), or `name@version`. */
  readonly value: string;
  readonly by: string;
  readonly reason: string;
  readonly at: string;
}

/**
 * An urgent release whose bakes are dialled down, asked for by one authenticated principal
 * and approved by another. It still goes through every step; while it is in flight no
 * other release enters a stage.
 */
export interface Expedite {
  readonly release: ReleaseNumber;
  /** Who asked for it, as authenticated. */
  readonly requestedBy: string;
  /** Who approved it, as authenticated: never the requester. */
  readonly approver: string;
  readonly reason: string;
  /** When it was approved, and so took effect. */
  readonly at: string;
  /** Multiplies every bake duration of this release, in (0, 1]. */
  readonly bakeFactor: number;
}

/** An expedite asked for and not yet approved: it changes nothing until a second person approves it. */
export interface ExpediteRequest {
  readonly release: ReleaseNumber;
  readonly requestedBy: string;
  readonly reason: string;
  readonly at: string;
  readonly bakeFactor: number;
}

/**
 * The pipeline item next to the stages: the newest release and the controls operators
 * set. One DynamoDB item, written with a version check.
 */
export interface PipelineMeta {
  readonly version: number;
  /** The newest release created; the next one is `latestRelease + 1`. */
  readonly latestRelease: ReleaseNumber | null;
  readonly overrides: readonly Override[];
  readonly knownBad: readonly KnownBad[];
  readonly expedite: Expedite | null;
  /** An expedite waiting for its approval (at most one). */
  readonly expediteRequest: ExpediteRequest | null;
}

export const initialMeta = (): PipelineMeta => ({
  version: 0,
  latestRelease: null,
  overrides: [],
  knownBad: [],
  expedite: null,
  expediteRequest: null,
});
