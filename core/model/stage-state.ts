import type { ReleaseNumber } from './release.js';

/** Who closed a promotion gate and why; open gates carry nothing. */
export type PromotionGate =
  | { readonly enabled: true }
  | { readonly enabled: false; readonly by: string; readonly reason: string; readonly at: string };

/** What one target of a run is doing. */
export type TargetStatus =
  | 'waiting' // blocked or not yet admitted: nothing was deployed
  | 'deploying'
  | 'deployed'
  | 'rolling-back'
  | 'rolled-back'
  | 'rollback-failed';

export interface TargetRun {
  readonly status: TargetStatus;
  /** What the target ran when this run started: the fallback of a rollback. */
  readonly before: ReleaseNumber | null;
  /** The release a rollback deploys to this target (set when the rollback starts). */
  readonly rollbackTo: ReleaseNumber | null;
  /** When the current deployment or rollback of this target started. */
  readonly startedAt: string | null;
  /**
   * The deployer's id of the current deployment or rollback, once started: asked for its
   * status from then on, never started again.
   */
  readonly deploymentId: string | null;
  /**
   * A deployment of this target still in flight when its run failed (or was interrupted by
   * a manual rollback): stopped, and waited for, before the rollback starts, so two
   * deployments never run on one target at once.
   */
  readonly abandoned: string | null;
}

export type RunStep = 'waiting' | 'deploying' | 'baking' | 'approving' | 'rolling-back';

/** A blocker as shown to people: which target, what kind, why, until when. */
export interface BlockerNotice {
  readonly target: string;
  readonly kind: string;
  /** The alarm, known-bad entry or window it is about. */
  readonly subject: string;
  readonly reason: string;
  /** When it should lift by itself (a time window's next opening), if known. */
  readonly until: string | null;
}

/**
 * One stage working on one release: a normal run deploys `release` to every target, a
 * rollback run deploys each target's `rollbackTo`. A stage has at most one run.
 */
export interface StageRun {
  /** Per stage, grows by one for every run, normal or rollback. */
  readonly seq: number;
  readonly kind: 'normal' | 'rollback';
  /** The release being deployed (normal) or rolled back from (rollback). */
  readonly release: ReleaseNumber;
  /** Execution attempt of this run; a restart after a crash is a new, recorded attempt. */
  readonly attempt: number;
  /**
   * How many of the attempts began as a hand-over: an execution that waited long passes
   * the run on to a new one before its history reaches Step Functions' limit. The
   * reconciler's limit on restarts counts only the others. Absent: none.
   */
  readonly handovers?: number;
  /**
   * The attempt that last handed the run over to the next one: its remaining steps end
   * quietly, while a call from any other attempt but the current one is refused.
   * Absent: none.
   */
  readonly handedOverBy?: number;
  readonly step: RunStep;
  readonly startedAt: string;
  readonly bakeStartedAt: string | null;
  /** When the bake passed and the approval steps began: their timeouts count from here. */
  readonly approvingSince: string | null;
  /** Approval steps (by name) that passed. */
  readonly approvalsPassed: readonly string[];
  readonly targets: Readonly<Record<string, TargetRun>>;
  readonly blockers: readonly BlockerNotice[];
  /** Why the run failed, once it did. */
  readonly failure: string | null;
  /** For a manual rollback: who asked and why. */
  readonly requestedBy: { readonly by: string; readonly reason: string } | null;
}

/** How many operator request ids a stage remembers. */
export const HANDLED_REQUESTS_LIMIT = 50;

/** The most approved releases kept per target for rollback selection. */
export const APPROVED_HISTORY_LIMIT = 25;

export interface TargetState {
  /** What the target runs, as far as the control plane knows. */
  readonly deployed: ReleaseNumber | null;
  /**
   * Releases that were deployed to this target and approved there (or restored by a
   * rollback), oldest first, at most {@link APPROVED_HISTORY_LIMIT}.
   */
  readonly approved: readonly ReleaseNumber[];
}

/** The promotion state of one stage: one DynamoDB item, written with a version check. */
export interface StageState {
  readonly stage: string;
  /** Incremented by every change; writes are conditional on it. */
  readonly version: number;
  readonly promotionsIn: PromotionGate;
  readonly promotionsOut: PromotionGate;
  /** The newest release approved upstream and waiting to enter. */
  readonly pending: ReleaseNumber | null;
  readonly run: StageRun | null;
  /** Last run number used; the next run is `runSeq + 1`. */
  readonly runSeq: number;
  /**
   * The last release approved here, which the next stages are owed; `null` after a manual
   * rollback took it back, until the stage approves again. While it is `null`, nothing
   * that waits downstream without having started may start there.
   */
  readonly lastApproved: ReleaseNumber | null;
  /**
   * The newest release this stage took into a run (safety property 2): an older one, or
   * the same one again, never enters, even if its run failed before deploying anything.
   */
  readonly newestStarted: ReleaseNumber | null;
  /**
   * Ids of the operator requests (rollbacks, gate changes) carried out here, newest last,
   * at most {@link HANDLED_REQUESTS_LIMIT}: a retry, however late, is recognised.
   */
  readonly handledRequests: readonly string[];
  readonly targets: Readonly<Record<string, TargetState>>;
}

/** A fresh stage: nothing deployed, gates open. */
export function initialStageState(stage: string, targetIds: readonly string[]): StageState {
  return {
    stage,
    version: 0,
    promotionsIn: { enabled: true },
    promotionsOut: { enabled: true },
    pending: null,
    run: null,
    runSeq: 0,
    lastApproved: null,
    newestStarted: null,
    handledRequests: [],
    targets: Object.fromEntries(targetIds.map((id) => [id, { deployed: null, approved: [] }])),
  };
}
