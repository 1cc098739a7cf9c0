import { ConflictError, NotFoundError, RuleViolationError } from '../../errors.js';
import {
  laterOutcome,
  type Release,
  type ReleaseNumber,
  type ReleaseProgress,
  type StageOutcome,
} from '../../model/release.js';
import type { OutcomeChange } from '../../promotion/transition.js';
import type { CommitInRelease, ReleaseStore } from '../stores.js';

/** Releases and progress in memory; the same contract as the DynamoDB adapter. */
export class InMemoryReleaseStore implements ReleaseStore {
  readonly #releases = new Map<string, Release>();
  readonly #progress = new Map<string, Record<string, StageOutcome>>();

  async createRelease(release: Release): Promise<void> {
    const id = key(release.pipeline, release.number);
    const existing = this.#releases.get(id);
    if (existing !== undefined) {
      if (JSON.stringify(existing) === JSON.stringify(release)) return;
      throw new ConflictError(
        `Release r${release.number} of ${release.pipeline} already exists with other contents; releases are immutable.`,
      );
    }
    this.#releases.set(id, structuredClone(release));
  }

  async getRelease(pipeline: string, release: ReleaseNumber): Promise<Release | null> {
    return this.#releases.get(key(pipeline, release)) ?? null;
  }

  async listReleases(
    pipeline: string,
    options: { limit: number; before?: ReleaseNumber },
  ): Promise<Release[]> {
    return [...this.#releases.values()]
      .filter((release) => release.pipeline === pipeline)
      .filter((release) => options.before === undefined || release.number < options.before)
      .sort((a, b) => b.number - a.number)
      .slice(0, options.limit);
  }

  async recordOutcomes(pipeline: string, changes: readonly OutcomeChange[]): Promise<void> {
    for (const change of changes) {
      const id = key(pipeline, change.release);
      if (!this.#releases.has(id)) {
        throw new NotFoundError(
          `Cannot record the outcome of r${change.release} at ${change.stage}: release r${change.release} of ${pipeline} does not exist.`,
        );
      }
      const stored = this.#progress.get(id);
      if (!laterOutcome(stored?.[change.stage], change.outcome)) continue;
      this.#progress.set(id, { ...stored, [change.stage]: change.outcome });
    }
  }

  async getProgress(pipeline: string, release: ReleaseNumber): Promise<ReleaseProgress> {
    if (!this.#releases.has(key(pipeline, release))) {
      throw new NotFoundError(
        `Release r${release} of ${pipeline} does not exist; list the releases with \`captain releases\`.`,
      );
    }
    return { release, stages: { ...this.#progress.get(key(pipeline, release)) } };
  }

  async findCommits(pipeline: string, prefix: string, limit: number): Promise<CommitInRelease[]> {
    checkCommitPrefix(prefix);
    const found = [...this.#releases.values()]
      .filter((release) => release.pipeline === pipeline)
      .sort((a, b) => a.number - b.number)
      .flatMap((release) =>
        release.commits
          .filter((commit) => commit.sha.startsWith(prefix.toLowerCase()))
          .map((commit) => ({ sha: commit.sha, release: release.number })),
      );
    return found.sort((a, b) => a.sha.localeCompare(b.sha)).slice(0, limit);
  }
}

/**
 * Refuses what cannot be a commit prefix: a short prefix matches too much to be useful.
 *
 * @example
 * checkCommitPrefix('3f9c');   // fine
 * checkCommitPrefix('main');   // throws: not hexadecimal
 */
export function checkCommitPrefix(prefix: string): void {
  if (!/^[0-9a-fA-F]{4,40}$/.test(prefix)) {
    throw new RuleViolationError(
      `"${prefix}" is not a commit: give 4 to 40 hexadecimal characters of its sha, e.g. 3f9c2a1.`,
    );
  }
}

const key = (pipeline: string, release: number) => `${pipeline}\u0000${release}`;
