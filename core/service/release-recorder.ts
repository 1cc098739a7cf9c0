import { ConflictError } from '../errors.js';
import { type ArtifactManifest, type Release, releaseLabel } from '../model/release.js';
import type { Clock, SourceHistory, WatchedBranch } from '../ports/services.js';
import type { ReleaseStore } from '../ports/stores.js';
import { createRelease } from '../promotion/controls.js';
import { DEFAULT_MAX_ATTEMPTS, type PromotionService } from './promotion-service.js';

/** What a finished build hands over: the commit it built and what it produced. */
export interface BuiltCommit {
  readonly headCommit: string;
  readonly artifacts: ArtifactManifest;
}

export type RecordResult =
  /** `created` is false when this commit's release already existed (a repeated build). */
  | { readonly release: Release; readonly created: boolean }
  /** The commit is already part of a newer release, or not on the watched branch: nothing is recorded. */
  | { readonly skipped: string };

export interface ReleaseRecorderPorts {
  readonly releases: ReleaseStore;
  readonly history: SourceHistory;
  readonly clock: Clock;
}

/**
 * Turns a finished build into the pipeline's next release. The release's commits are the
 * ones new since the newest release's head, each with its review, so an unreviewed one
 * blocks the release where it would start (the blockers read them). A build of a commit
 * that a newer release already contains (builds finishing out of order, a redelivered
 * push) records nothing: a release never takes the pipeline back in time. Nor does a
 * build of a commit the watched branch's current tip does not contain: a build of another
 * branch, or one that finished after a force-push abandoned its commit.
 *
 * Retries and races are safe: the same commit twice gives the same release; two builds
 * finishing together race for the next number and the loser compares again with the
 * winner's head. The release is stored before the `createRelease` rule runs, and a crash
 * in between is finished by the next recording (or its retry) before anything else.
 *
 * @example
 * const recorder = new ReleaseRecorder(service, { releases, history, clock }, definition.source);
 * await recorder.record({ headCommit: 'b2…', artifacts }); // { release: r7, created: true }
 * await recorder.record({ headCommit: 'a1…', artifacts }); // { skipped: 'a1… is already part of r7 …' }
 * await recorder.record({ headCommit: 'f3…', artifacts }); // { skipped: 'f3… is not on branch main …' }
 */
export class ReleaseRecorder {
  readonly #service: PromotionService;
  readonly #ports: ReleaseRecorderPorts;
  readonly #source: WatchedBranch;

  /** `source` is the pipeline definition's: its repository and watched branch. */
  constructor(service: PromotionService, ports: ReleaseRecorderPorts, source: WatchedBranch) {
    this.#service = service;
    this.#ports = ports;
    this.#source = { repository: source.repository, branch: source.branch };
  }

  async record(built: BuiltCommit): Promise<RecordResult> {
    const pipeline = this.#service.topology.pipeline;
    for (let attempt = 1; ; attempt++) {
      const [latest] = await this.#ports.releases.listReleases(pipeline, { limit: 1 });
      if (latest !== undefined) await this.#finish(latest);
      if (latest?.headCommit === built.headCommit) return { release: latest, created: false };
      const comparison = await this.#ports.history.compare(
        this.#source,
        latest?.headCommit ?? null,
        built.headCommit,
      );
      if (comparison.status === 'not-on-branch') {
        const { repository, branch } = this.#source;
        return {
          skipped: `${short(built.headCommit)} is not on branch ${branch} of ${repository} (its tip neither is nor contains it): a build of another branch, or of a commit a force-push abandoned. Only ${branch}'s commits become releases of ${pipeline}.`,
        };
      }
      if (!('commits' in comparison)) {
        // behind or identical
        return {
          skipped: `${short(built.headCommit)} is already part of ${releaseLabel(latest?.number ?? 0)} (head ${short(latest?.headCommit ?? '')}); a release never takes ${pipeline} back to an older commit.`,
        };
      }
      const release: Release = {
        pipeline,
        number: (latest?.number ?? 0) + 1,
        headCommit: built.headCommit,
        commits: comparison.commits,
        artifacts: built.artifacts,
        createdAt: this.#ports.clock.now().toISOString(),
      };
      try {
        await this.#ports.releases.createRelease(release);
      } catch (error) {
        // Another build took this number first: compare again with its head.
        if (error instanceof ConflictError && attempt < DEFAULT_MAX_ATTEMPTS) continue;
        throw error;
      }
      await this.#service.apply(createRelease, { release });
      return { release, created: true };
    }
  }

  /** Runs `createRelease` for a stored release a crash left unannounced. */
  async #finish(release: Release): Promise<void> {
    const { meta } = await this.#service.state();
    if ((meta.latestRelease ?? 0) < release.number) {
      await this.#service.apply(createRelease, { release });
    }
  }
}

const short = (sha: string) => sha.slice(0, 7);
