import { NotFoundError } from '../../errors.js';
import type { Commit } from '../../model/release.js';
import type { SourceComparison, SourceHistory, WatchedBranch } from '../services.js';

interface StoredCommit {
  readonly commit: Commit;
  readonly parents: readonly string[];
}

/**
 * A repository's history in memory: commits with their parents and reviews, and branches
 * pointing at them, for tests (and the local mode, once it exists). `compare` answers as
 * the GitHub adapter does: `not-on-branch` for a head the branch's tip does not contain,
 * then GitHub's compare API.
 *
 * @example
 * const history = new InMemorySourceHistory();
 * history.commit('api', { sha: 'a1', author: 'ana', message: 'first', review: null }, []);
 * history.commit('api', { sha: 'b2', author: 'bo', message: 'fix', review: { pullRequest: '#2', approvedBy: ['ana'] } }, ['a1']);
 * history.commit('api', { sha: 'f3', author: 'cy', message: 'try', review: null }, ['a1']);
 * history.branch('api', 'main', 'b2');
 * await history.compare({ repository: 'api', branch: 'main' }, 'a1', 'b2'); // { status: 'ahead', commits: [b2] }
 * await history.compare({ repository: 'api', branch: 'main' }, 'a1', 'f3'); // { status: 'not-on-branch' }
 */
export class InMemorySourceHistory implements SourceHistory {
  readonly #commits = new Map<string, StoredCommit>();
  readonly #branches = new Map<string, string>();

  /** Adds a commit whose parents were added before. */
  commit(repository: string, commit: Commit, parents: readonly string[]): void {
    for (const parent of parents) this.#get(repository, parent);
    this.#commits.set(key(repository, commit.sha), { commit: structuredClone(commit), parents });
  }

  /** Points branch `name` at `sha`, a commit added before (a push, or a force-push). */
  branch(repository: string, name: string, sha: string): void {
    this.#get(repository, sha);
    this.#branches.set(key(repository, name), sha);
  }

  async compare(
    { repository, branch }: WatchedBranch,
    base: string | null,
    head: string,
  ): Promise<SourceComparison> {
    const headCommit = this.#get(repository, head);
    const tip = this.#branches.get(key(repository, branch));
    if (tip === undefined) {
      throw new NotFoundError(`Branch ${branch} is not in repository ${repository}.`);
    }
    if (!this.#ancestors(repository, tip).has(head)) return { status: 'not-on-branch' };
    if (base === null) return { status: 'ahead', commits: [structuredClone(headCommit.commit)] };
    this.#get(repository, base);
    if (base === head) return { status: 'identical' };
    const fromHead = this.#ancestors(repository, head);
    if (fromHead.has(base)) {
      return { status: 'ahead', commits: this.#newer(repository, fromHead, base) };
    }
    const fromBase = this.#ancestors(repository, base);
    if (fromBase.has(head)) return { status: 'behind' };
    return { status: 'diverged', commits: this.#newer(repository, fromHead, base) };
  }

  /** The commits reachable from `head` and not from `base`, oldest (farthest from `head`) first. */
  #newer(repository: string, fromHead: Map<string, number>, base: string): Commit[] {
    const fromBase = this.#ancestors(repository, base);
    return [...fromHead]
      .filter(([sha]) => !fromBase.has(sha))
      .sort(([, a], [, b]) => b - a)
      .map(([sha]) => structuredClone(this.#get(repository, sha).commit));
  }

  /** Every commit reachable from `sha` (itself included) with its distance from it. */
  #ancestors(repository: string, sha: string): Map<string, number> {
    const seen = new Map<string, number>([[sha, 0]]);
    const queue = [sha];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const distance = seen.get(next) ?? 0;
      for (const parent of this.#get(repository, next).parents) {
        if (!seen.has(parent)) {
          seen.set(parent, distance + 1);
          queue.push(parent);
        }
      }
    }
    return seen;
  }

  #get(repository: string, sha: string): StoredCommit {
    const stored = this.#commits.get(key(repository, sha));
    if (stored === undefined) {
      throw new NotFoundError(`Commit ${sha} is not in repository ${repository}.`);
    }
    return stored;
  }
}

const key = (repository: string, sha: string) => `${repository}@${sha}`;
