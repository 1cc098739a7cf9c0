/**
 * A release: the immutable outcome of one build of the pipeline's branch. Its number,
 * commits and artifacts never change after creation; what changes is its progress
 * through the stages, which lives in {@link ReleaseProgress}.
 */

/** Release numbers grow by one per pipeline: r1, r2, … */
export type ReleaseNumber = number;

/** `42` → `"r42"`, the label people read in the CLI, the console and events. */
export function releaseLabel(release: ReleaseNumber): string {
  return `r${release}`;
}

/**
 * A release as people write it, `r42` or `42`, back to its number; `null` for anything
 * else.
 *
 * @example
 * parseRelease('r42'); // 42
 * parseRelease('latest'); // null
 */
export function parseRelease(raw: string): ReleaseNumber | null {
  return /^r?[1-9]\d{0,5}$/.test(raw) ? Number(raw.replace(/^r/, '')) : null;
}

/** Who approved the pull request a commit was merged through, if anyone. */
export interface Review {
  readonly pullRequest: string;
  readonly approvedBy: readonly string[];
}

export interface Commit {
  readonly sha: string;
  readonly author: string;
  readonly message: string;
  /** `null` when the commit reached the branch without an approved pull request. */
  readonly review: Review | null;
}

/** A container image pinned by digest; tags are never trusted. */
export interface ImageArtifact {
  readonly name: string;
  /**
   * Where the image is pulled from: the repository URI, e.g.
   * `123456789012.dkr.ecr.eu-west-1.amazonaws.com/api` (deployers pin `<repository>@<digest>`).
   * A bare name (`api`) means a repository in the control plane's own registry.
   */
  readonly repository: string;
  /** `sha256:…` */
  readonly digest: string;
}

/** A file (Lambda zip, CloudFormation template, configuration bundle) stored under a content-addressed key. */
export interface FileArtifact {
  readonly name: string;
  readonly key: string;
  /** Hex sha256 of the file's bytes; the key is derived from it. */
  readonly sha256: string;
}

/** A third-party dependency the build resolved, e.g. `{ name: 'jackson-databind', version: '2.9.10' }`. */
export interface Dependency {
  readonly name: string;
  readonly version: string;
}

/** Everything a release deploys. Deploy stages read this, never the repository. */
export interface ArtifactManifest {
  readonly images: readonly ImageArtifact[];
  readonly files: readonly FileArtifact[];
  readonly dependencies: readonly Dependency[];
}

export interface Release {
  readonly pipeline: string;
  readonly number: ReleaseNumber;
  readonly headCommit: string;
  /** Commits new since the previous release, oldest first. */
  readonly commits: readonly Commit[];
  readonly artifacts: ArtifactManifest;
  readonly createdAt: string;
}

/** Where a release stands at one stage. Property 5: every release ends in one of these at every stage it reached. */
export type StageOutcome =
  | { readonly status: 'pending'; readonly at: string }
  | { readonly status: 'in-flight'; readonly at: string }
  | { readonly status: 'approved'; readonly at: string }
  | { readonly status: 'rejected'; readonly at: string; readonly reason: string }
  | { readonly status: 'superseded'; readonly at: string; readonly by: ReleaseNumber }
  | { readonly status: 'blocked'; readonly at: string; readonly reason: string };

export type StageOutcomeStatus = StageOutcome['status'];

const OUTCOME_RANK: Readonly<Record<StageOutcomeStatus, number>> = {
  pending: 0,
  blocked: 1,
  'in-flight': 1,
  approved: 2,
  rejected: 2,
  superseded: 2,
};

/**
 * Whether `incoming` should replace `current` as a release's outcome at a stage. Outcomes
 * are relayed at least once, so an old one may arrive after a newer one: a release moves
 * from pending to in flight (or blocked) to an end, never back; between outcomes of the
 * same rank, the later decision wins.
 *
 * @example
 * laterOutcome({ status: 'approved', at: '…T11:00Z' }, { status: 'pending', at: '…T09:00Z' }); // false
 */
export function laterOutcome(current: StageOutcome | undefined, incoming: StageOutcome): boolean {
  if (current === undefined) return true;
  const rank = OUTCOME_RANK[incoming.status] - OUTCOME_RANK[current.status];
  if (rank !== 0) return rank > 0;
  return Date.parse(incoming.at) >= Date.parse(current.at);
}

/** The mutable side of a release: its outcome at each stage it reached. */
export interface ReleaseProgress {
  readonly release: ReleaseNumber;
  readonly stages: Readonly<Record<string, StageOutcome>>;
}

/** Commits of a release that did not go through an approved review (safety property 8). */
export function unreviewedCommits(release: Pick<Release, 'commits'>): readonly Commit[] {
  return release.commits.filter(
    (commit) => commit.review === null || commit.review.approvedBy.length === 0,
  );
}
