import {
  type Commit,
  NotFoundError,
  type Review,
  type SourceComparison,
  type SourceHistory,
  TerminalError,
  type WatchedBranch,
} from '../core/index.js';
import { resolveCommits, runGit } from './git-repository.js';

export interface GitSourceHistoryProps {
  /**
   * Where each repository named by a pipeline's `source.repository` is on this machine: a
   * map from name to directory (a working tree or a bare repository), or a function
   * answering it (`undefined`: no such repository).
   */
  readonly repositories:
    | Readonly<Record<string, string>>
    | ((repository: string) => string | undefined);
  /**
   * More new commits than this is refused, as the GitHub adapter does: a release that
   * large is not reviewable.
   * @default 1000
   */
  readonly maxCommits?: number;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

/** Separators of the log format's fields and of a trailer's values: bytes no name or trailer holds. */
const FIELD = '\x1f';
const VALUES = '\x1e';
const FORMAT = [
  '%H',
  '%an',
  `%(trailers:key=Reviewed-by,valueonly,separator=%x1e)`,
  `%(trailers:key=Pull-request,valueonly,separator=%x1e)`,
  '%B',
].join('%x1f');

/**
 * The {@link SourceHistory} of local git repositories, answering as
 * `InMemorySourceHistory` does on the same commit graph:
 *
 * - `head` must be a commit (by its full sha) and `source.branch` a branch, or it is a
 *   `NotFoundError`; a `head` that is not the branch's tip nor one of its ancestors
 *   (`git merge-base --is-ancestor`) is `not-on-branch`.
 * - Then, with `base` `null` the new commits are `head` alone; otherwise `identical`,
 *   `ahead` (base is an ancestor of head), `behind` (head is an ancestor of base) or
 *   `diverged`, as `git rev-list --left-right --count base...head` tells, the new
 *   commits being `git log --topo-order head ^base`, reversed. More than `maxCommits` new
 *   commits is a `TerminalError`.
 * - A commit's review is in its trailers: `Reviewed-by: <name>` (an `<email>` after the
 *   name is dropped) and `Pull-request: <id>`, as {@link LocalGitRepository.commit}
 *   writes them. A reviewer who is the commit's author does not count; no reviewer left:
 *   `review: null`. Without a `Pull-request` trailer the review is named
 *   `<repository>@<short sha>`. A commit's message is its first line.
 *
 * Limits: a trailer says nothing of the branch a review was for, so a reviewed commit
 * counts as reviewed on any branch; past a merge, "oldest first" is git's topological
 * order, which may order two parallel lines differently from the in-memory history.
 *
 * @example
 * const history = new GitSourceHistory({ repositories: { 'local-service': '.captain/repos/local-service' } });
 * await history.compare({ repository: 'local-service', branch: 'main' }, 'a1b2…', 'c3d4…');
 * // { status: 'ahead', commits: [{ sha: 'c3d4…', author: 'ana', message: 'Raise the fault rate',
 * //   review: { pullRequest: 'local-service#2', approvedBy: ['bo'] } }] }
 */
export class GitSourceHistory implements SourceHistory {
  readonly #repositories: (repository: string) => string | undefined;
  readonly #maxCommits: number;
  readonly #timeoutMs: number | undefined;

  constructor(props: GitSourceHistoryProps) {
    const { repositories } = props;
    this.#repositories =
      typeof repositories === 'function'
        ? repositories
        : (name) => (Object.hasOwn(repositories, name) ? repositories[name] : undefined);
    const maxCommits = props.maxCommits ?? 1000;
    if (!Number.isInteger(maxCommits) || maxCommits < 1) {
      throw new TerminalError(`maxCommits must be a whole number ≥ 1, got ${maxCommits}.`);
    }
    this.#maxCommits = maxCommits;
    this.#timeoutMs = props.timeoutMs;
  }

  async compare(
    { repository, branch }: WatchedBranch,
    base: string | null,
    head: string,
  ): Promise<SourceComparison> {
    const cwd = this.#repositories(repository);
    if (cwd === undefined) {
      throw new NotFoundError(
        `Repository ${repository} is not a local repository: the local runtime knows no directory for it. Check the pipeline's source.repository.`,
      );
    }
    const options = { cwd, timeoutMs: this.#timeoutMs };
    const git = (args: readonly string[], answers?: readonly number[]) =>
      runGit(args, { ...options, answers });
    const log = async (range: readonly string[]) =>
      parseLog(
        (
          await git(['log', '-z', '--no-show-signature', `--format=${FORMAT}`, ...range])
        ).stdout.toString('utf8'),
        repository,
      );

    const [headCommit = null, tip = null, baseCommit = null] = await resolveCommits(
      [head, `refs/heads/${branch}`, base ?? head],
      options,
    );
    if (headCommit !== head) {
      throw new NotFoundError(`Commit ${head} is not in repository ${repository}.`);
    }
    if (tip === null) {
      throw new NotFoundError(`Branch ${branch} is not in repository ${repository}.`);
    }
    if (head !== tip) {
      const onBranch = await git(['merge-base', '--is-ancestor', head, tip], [0, 1]);
      if (onBranch.code !== 0) return { status: 'not-on-branch' };
    }
    if (base === null) return { status: 'ahead', commits: await log(['--max-count=1', head]) };
    if (baseCommit !== base) {
      throw new NotFoundError(`Commit ${base} is not in repository ${repository}.`);
    }
    if (base === head) return { status: 'identical' };
    // Commits only in base, and only in head: none only in base is ahead, none only in head behind.
    const counts = await git(['rev-list', '--left-right', '--count', `${base}...${head}`]);
    const [onlyBase = 0, onlyHead = 0] = counts.stdout.toString().trim().split(/\s+/).map(Number);
    if (onlyHead === 0) return { status: 'behind' };
    if (onlyHead > this.#maxCommits) {
      throw new TerminalError(
        `${head} is ${onlyHead} commits ahead of ${base} in ${repository}, more than the ${this.#maxCommits} a release may hold. Record a release from a nearer commit first, or raise maxCommits.`,
      );
    }
    const commits = (await log(['--topo-order', head, `^${base}`])).reverse();
    return { status: onlyBase === 0 ? 'ahead' : 'diverged', commits };
  }
}

/** `git log -z` output in {@link FORMAT}, newest first. */
function parseLog(output: string, repository: string): Commit[] {
  return output
    .split('\0')
    .filter((record) => record !== '')
    .map((record) => {
      const [sha = '', author = '', reviewers = '', pullRequests = '', ...body] =
        record.split(FIELD);
      const message = body.join(FIELD).split('\n', 1)[0] ?? '';
      return {
        sha,
        author,
        message,
        review: review(repository, sha, author, reviewers, pullRequests),
      };
    });
}

/** The review in a commit's trailers, its author's own approval left out. */
function review(
  repository: string,
  sha: string,
  author: string,
  reviewers: string,
  pullRequests: string,
): Review | null {
  const self = author.trim().toLowerCase();
  const approvedBy = [
    ...new Set(
      reviewers
        .split(VALUES)
        .map((value) => value.replace(/<[^>]*>\s*$/, '').trim())
        .filter((name) => name !== '' && name.toLowerCase() !== self),
    ),
  ];
  if (approvedBy.length === 0) return null;
  const pullRequest = pullRequests
    .split(VALUES)
    .map((value) => value.trim())
    .find((value) => value !== '');
  return { pullRequest: pullRequest ?? `${repository}@${sha.slice(0, 7)}`, approvedBy };
}
