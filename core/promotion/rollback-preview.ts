import { RuleViolationError } from '../errors.js';
import type { Commit, Release } from '../model/release.js';
import { releaseLabel } from '../model/release.js';

/** One artifact or dependency that differs between two releases; `null` where it is absent. */
export interface Change {
  readonly name: string;
  readonly from: string | null;
  readonly to: string | null;
}

/** What a rollback from one release to an older one takes away, shown before it is confirmed. */
export interface RollbackPreview {
  readonly from: number;
  readonly to: number;
  /** Commits that leave the target, newest first. */
  readonly commitsRemoved: readonly Commit[];
  /** Images by name: digest now → digest after. */
  readonly images: readonly Change[];
  /** Files (Lambda zips, templates) by name: sha256 now → sha256 after. */
  readonly files: readonly Change[];
  /** Dependencies by name: version now → version after. */
  readonly dependencies: readonly Change[];
}

/**
 * The difference a rollback makes: the commits it removes (those of every release after
 * `to`, up to `from`) and the artifacts and dependencies that change.
 *
 * @example
 * previewRollback(r9, r7, [r8, r9]);
 * // { from: 9, to: 7, commitsRemoved: [r9's, then r8's], images: [{ name: 'api', from: 'sha256:9…', to: 'sha256:7…' }],
 * //   files: [], dependencies: [{ name: 'jackson-databind', from: '2.15.0', to: '2.14.2' }] }
 */
export function previewRollback(
  from: Release,
  to: Release,
  between: readonly Release[],
): RollbackPreview {
  if (to.number >= from.number) {
    throw new RuleViolationError(
      `A rollback goes back: ${releaseLabel(to.number)} is not older than ${releaseLabel(from.number)}.`,
    );
  }
  const removed = [...between, from]
    .filter((release) => release.number > to.number && release.number <= from.number)
    .filter((release, index, all) => all.findIndex((r) => r.number === release.number) === index)
    .sort((a, b) => b.number - a.number);
  for (let number = to.number + 1; number <= from.number; number++) {
    if (!removed.some((release) => release.number === number)) {
      throw new RuleViolationError(
        `The preview needs every release from ${releaseLabel(to.number + 1)} to ${releaseLabel(from.number)}; ${releaseLabel(number)} was not given.`,
      );
    }
  }
  return {
    from: from.number,
    to: to.number,
    commitsRemoved: removed.flatMap((release) => [...release.commits].reverse()),
    images: changes(
      from.artifacts.images.map((image) => [image.name, image.digest]),
      to.artifacts.images.map((image) => [image.name, image.digest]),
    ),
    files: changes(
      from.artifacts.files.map((file) => [file.name, file.sha256]),
      to.artifacts.files.map((file) => [file.name, file.sha256]),
    ),
    dependencies: changes(
      from.artifacts.dependencies.map((dependency) => [dependency.name, dependency.version]),
      to.artifacts.dependencies.map((dependency) => [dependency.name, dependency.version]),
    ),
  };
}

function changes(now: readonly [string, string][], after: readonly [string, string][]): Change[] {
  const before = new Map(now);
  const later = new Map(after);
  const names = [...new Set([...before.keys(), ...later.keys()])].sort();
  return names
    .map((name) => ({ name, from: before.get(name) ?? null, to: later.get(name) ?? null }))
    .filter((change) => change.from !== change.to);
}
