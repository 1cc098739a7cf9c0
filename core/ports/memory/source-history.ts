import { NotFoundError } from '../../errors.js';
import type { Commit } from '../../model/release.js';
import type { SourceComparison, SourceHistory } from '../services.js';

interface StoredCommit {
  readonly commit: Commit;
  readonly parents: readonly string[];
}

/**
 * A repository's history in memory: commits with their parents and reviews, for tests and
 * the local mode. `compare` answers as GitHub's compare API does.
 *
 * @example
 * const history = new InMemorySourceHistory();
 * history.commit('api', { sha: 'a1', author: 'ana', message: 'first', review: null }, []);
 * history.commit('api', { sha: 'b2', author: 'bo', message: 'fix', review: { pullRequest: '#2', approvedBy: ['ana'] } }, ['a1']);
 * await history.compare('api', 'a1', 'b2'); // { status: 'ahead', commits: [b2] }
 */
export class InMemorySourceHistory implements SourceHistory {
  readonly #commits = new Map<string, StoredCommit>();

  /** Adds a commit whose parents were added before. */
  commit(repository: string, commit: Commit, parents: readonly string[]): void {
    for (const parent of parents) this.#get(repository, parent);
    this.#commits.set(key(repository, commit.sha), { commit: structuredClone(commit), parents });
  }

  async compare(repository: string, base: string | null, head: string): Promise<SourceComparison> {
    const headCommit = this.#get(repository, head);
    if (base === null) return { status: 'ahead', commits: [headCommit.commit] };
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
