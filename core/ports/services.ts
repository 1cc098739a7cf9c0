import type { AlarmState } from '../blockers/evaluate.js';
import type { TargetDefinition } from '../definition/schema.js';
import type { PipelineEvent } from '../model/events.js';
import type {
  ArtifactManifest,
  Commit,
  FileArtifact,
  Release,
  ReleaseNumber,
} from '../model/release.js';
import type { RunStart } from '../promotion/transition.js';

export interface DeploymentRequest {
  readonly pipeline: string;
  readonly target: TargetDefinition;
  readonly release: Release;
  readonly kind: 'normal' | 'rollback';
  /** The same key twice starts one deployment: `<execution>/<target>`. */
  readonly idempotencyKey: string;
}

export type DeploymentStatus =
  | { readonly status: 'in-progress' }
  | { readonly status: 'succeeded' }
  | { readonly status: 'failed'; readonly reason: string };

/** Deploys a release's artifacts to one target (CodeDeploy, ECS, a local fleet). */
export interface Deployer {
  startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }>;
  getDeployment(target: TargetDefinition, deploymentId: string): Promise<DeploymentStatus>;
  /**
   * Stops a deployment still in progress so that its rollback can start: `stopping` when
   * the deployment must be waited for until it ends (CodeDeploy allows one active
   * deployment per group), `replaced` when the next deployment supersedes it anyway (an
   * ECS rolling update). A deployment that already ended is left alone. Absent: `replaced`.
   */
  stopDeployment?(target: TargetDefinition, deploymentId: string): Promise<'stopping' | 'replaced'>;
  /**
   * The deployment started with `idempotencyKey`, whatever its status, or `null` if none
   * was: a run that failed while a target's start was under way never recorded its id,
   * and the rollback must stop it first. Absent where a rollback replaces any deployment
   * in flight anyway (an ECS rolling update).
   */
  findDeployment?(target: TargetDefinition, idempotencyKey: string): Promise<string | null>;
}

export interface AlarmStatus {
  readonly state: AlarmState;
  /**
   * The newest time the alarm entered ALARM: when it did, if it is in ALARM now; else the
   * newest entry found in its history from `since` on (`null` if none was). A monitor
   * that remembers more may report an older one: callers compare with their `since`.
   */
  readonly lastAlarmAt: string | null;
}

/** Reads alarm states (CloudWatch composite and metric alarms). */
export interface AlarmMonitor {
  /**
   * Every name asked for is in the answer; an alarm that does not exist is `MISSING`.
   * With `since`, an ALARM that came and went since then is reported in `lastAlarmAt`:
   * a run watches from its first deployment on, however long ago that was.
   */
  describeAlarms(
    names: readonly string[],
    options?: { readonly since?: Date },
  ): Promise<Record<string, AlarmStatus>>;
}

/** Data points counted for each target, by target id. */
export type DataPointCounts = Readonly<Record<string, number>>;

/** Counts data points (e.g. requests) for a bake's minimum, which each target must meet. */
export interface MetricSource {
  /**
   * Each target's data points in `[from, to)`: every target asked for is in the answer
   * (0 when it saw none), so that no target's silence hides behind another's traffic.
   */
  countDataPoints(query: {
    readonly metric: string;
    readonly targets: readonly TargetDefinition[];
    readonly from: Date;
    readonly to: Date;
  }): Promise<DataPointCounts>;
}

/** Stores artifacts and manifests under content-addressed keys. */
export interface ArtifactStore {
  /** Stores bytes under a key derived from their sha256; storing the same bytes twice is a no-op. */
  putFile(pipeline: string, name: string, bytes: Uint8Array): Promise<FileArtifact>;
  /** Reads a file back and verifies its sha256; throws if the stored bytes do not match. */
  getFile(artifact: FileArtifact): Promise<Uint8Array>;
  putManifest(
    pipeline: string,
    release: ReleaseNumber,
    manifest: ArtifactManifest,
  ): Promise<string>;
}

/** Publishes pipeline events; consumers dedupe by event id. */
export interface EventPublisher {
  publish(events: readonly PipelineEvent[]): Promise<void>;
}

/** Starts stage executions under deterministic names. */
export interface WorkflowStarter {
  /** `already-started` when an execution with that name exists: the name is the idempotency key. */
  startRun(pipeline: string, run: RunStart): Promise<'started' | 'already-started'>;
  /** Whether the run's execution exists and is still running (for the reconciler). */
  isRunning(pipeline: string, run: RunStart): Promise<boolean>;
}

export interface Clock {
  now(): Date;
}

/**
 * Resumes waiting workflow steps (Step Functions task tokens, or the local runtime's).
 * A token whose step already moved on (timed out, woken before) is `gone`: late and
 * duplicated wake-ups are normal, not errors.
 */
export interface TaskTokens {
  succeed(token: string, output: object): Promise<'sent' | 'gone'>;
  fail(token: string, error: string, cause: string): Promise<'sent' | 'gone'>;
}

/**
 * Which waiting steps an event should wake: a step registers its task token under the
 * subjects it waits on (a deployment, an alarm, an approval); the event's handler claims
 * the tokens of its subject. Registrations expire with the step's own timeout, after
 * which the step re-checks by itself.
 *
 * An event may arrive after the step decided to wait but before it registered. So a wake
 * records when the subject was last woken *before* claiming tokens, and a registration
 * looks at that record *after* storing its token: whichever comes second sees the other,
 * and the step is woken at once instead of at its timeout.
 */
export interface WakeRegistry {
  /**
   * Stores `token` under each subject until `expiresAt`. Returns `woken` if one of the
   * subjects was woken at or after `decidedAt` (the caller resumes the step itself).
   */
  register(
    token: string,
    subjects: readonly string[],
    expiresAt: Date,
    decidedAt: Date,
  ): Promise<'registered' | 'woken'>;
  /** Records that `subject` was woken at `at`, then returns its unexpired tokens and forgets them. */
  claim(subject: string, at: Date): Promise<string[]>;
}

/**
 * Checks, before a deployment, that a release's artifacts are still what it recorded: every
 * image's digest is in its repository, every file's bytes match their sha256. Throws a
 * `TerminalError` naming the artifact otherwise (a deleted image is not worth retrying).
 */
export interface ArtifactVerifier {
  verify(release: Release): Promise<void>;
}

/** What a push to a watched branch asks for: a build of that commit, which records the release. */
export interface BuildRequest {
  readonly pipeline: string;
  readonly commit: string;
  /** The commit the branch pointed to before the push: the build lists the commits in between. */
  readonly previousCommit: string | null;
  readonly pushedBy: string;
}

/** Where a pipeline's releases come from: a repository and its watched branch. */
export interface WatchedBranch {
  /** `owner/name` or `name`, as the pipeline definition's `source.repository`. */
  readonly repository: string;
  /** The branch name without `refs/heads/`, e.g. `main`. */
  readonly branch: string;
}

/**
 * How a built commit relates to the watched branch and to the head of the newest release:
 * `not-on-branch` (the branch's current tip neither is nor contains the commit: a build of
 * another branch, or of history a force-push abandoned — never released), `ahead` (a
 * normal push), `diverged` (the branch was rewritten: only the commits since the two
 * histories split are new), `behind` or `identical` (the commit is already part of a
 * release: a late or repeated build, never released again).
 */
export type SourceComparison =
  | {
      readonly status: 'ahead' | 'diverged';
      /** The commits new in `head`, oldest first, each with its review (or `null`). */
      readonly commits: readonly Commit[];
    }
  | { readonly status: 'behind' | 'identical' | 'not-on-branch' };

/** The repository's history and its reviews (GitHub, CodeCommit, or a local one). */
export interface SourceHistory {
  /**
   * Compares `head`, a built commit, with `base`, the newest release's head commit, on
   * `source.branch`. The branch comes first: a `head` that is not the branch's current tip
   * or one of its ancestors is `not-on-branch`, whatever `base` is. Otherwise, with `base`
   * `null` (the pipeline's first release) the new commits are `head` alone. A commit's
   * review is that of a merged pull request into `source.branch`; a pull request into
   * another branch is no review.
   *
   * @example
   * await history.compare({ repository: 'acme/api', branch: 'main' }, 'a1b2…', 'c3d4…');
   * // { status: 'ahead', commits: [{ sha: 'c3d4…', …, review: { pullRequest: 'acme/api#42', approvedBy: ['bo'] } }] }
   * await history.compare({ repository: 'acme/api', branch: 'main' }, 'c3d4…', 'f00d…');
   * // { status: 'not-on-branch' } (f00d… was pushed to a feature branch)
   */
  compare(source: WatchedBranch, base: string | null, head: string): Promise<SourceComparison>;
}

/** Starts the release build of a commit (CodeBuild in the cloud, a local build locally). */
export interface BuildStarter {
  /** The same pipeline and commit twice starts one build. */
  startBuild(request: BuildRequest): Promise<{ buildId: string }>;
}
