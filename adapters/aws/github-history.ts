import { z } from 'zod';
import {
  type Commit,
  RetryableError,
  type Review,
  type SourceComparison,
  type SourceHistory,
  TerminalError,
  type WatchedBranch,
} from '../../core/index.js';

export interface GitHubSourceHistoryOptions {
  /** The API token (Secrets Manager through Powertools `getSecret` on Lambda). */
  readonly token: () => Promise<string>;
  /**
   * The owner of repositories named without one (`api` rather than `acme/api`).
   * @default - every repository must be named `owner/name`
   */
  readonly owner?: string;
  /** @default 'https://api.github.com' (GitHub Enterprise Server: `https://<host>/api/v3`) */
  readonly apiUrl?: string;
  /** @default globalThis.fetch */
  readonly fetch?: typeof globalThis.fetch;
  /**
   * More new commits than this is refused: a release that large is not reviewable, and
   * the DynamoDB item holding it must stay under 400 KB.
   * @default 1000
   */
  readonly maxCommits?: number;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

const PER_PAGE = 100;
/** Review lookups in flight at once: fast enough, and far from GitHub's secondary rate limits. */
const CONCURRENCY = 4;
const NAME = /^[A-Za-z0-9_.-]+$/;
/** 1,000 reviews: a pull request with more is not one anybody reviewed. */
const MAX_REVIEW_PAGES = 10;

const gitCommit = z.object({
  sha: z.string().min(1),
  commit: z.object({
    message: z.string(),
    author: z.object({ name: z.string().nullish() }).nullish(),
  }),
  author: z.object({ login: z.string() }).nullish(),
});
const comparisonStatus = z.object({ status: z.enum(['ahead', 'behind', 'identical', 'diverged']) });
const comparison = comparisonStatus.extend({
  total_commits: z.number().int().min(0),
  commits: z.array(gitCommit),
});
const pulls = z.array(
  z.object({
    number: z.number().int(),
    merged_at: z.string().nullish(),
    user: z.object({ login: z.string() }).nullish(),
    /** The branch the pull request merges into. */
    base: z.object({ ref: z.string() }),
    /** The last commit the pull request proposed: what was merged. */
    head: z.object({ sha: z.string().min(1) }),
  }),
);
const reviews = z.array(
  z.object({
    user: z.object({ login: z.string() }).nullish(),
    state: z.string(),
    /** The commit the review was given on; `null` for a review whose commit is gone. */
    commit_id: z.string().nullish(),
  }),
);
/** `GET /repos/{o}/{r}/git/commits/{sha}`: only the tree is read. */
const gitObject = z.object({ tree: z.object({ sha: z.string().min(1) }) });

type GitCommit = z.output<typeof gitCommit>;
type Pull = z.output<typeof pulls>[number];
type Repo = { readonly owner: string; readonly name: string; readonly label: string };

/**
 * The {@link SourceHistory} of a GitHub repository, over the REST API with a token that
 * has `contents:read` and `pull_requests:read` on it.
 *
 * - `compare` first asks whether `head` is on the watched branch:
 *   `GET /repos/{o}/{r}/compare/{head}...{branch}` answers `ahead` or `identical` when the
 *   branch's tip is `head` or contains it; `behind` or `diverged` is `not-on-branch`. Then
 *   `GET /repos/{o}/{r}/compare/{base}...{head}`, paged 100 commits at a time (base `null`:
 *   `GET /repos/{o}/{r}/commits/{head}`). More than `maxCommits` new commits is a
 *   `TerminalError`.
 * - A commit's review comes from the merged pull request into the watched branch that
 *   brought it (`GET …/commits/{sha}/pulls`, `base.ref` the branch; a pull request into
 *   another branch is no review): its approvers are the users whose latest decisive review
 *   (`APPROVED`, `CHANGES_REQUESTED`, `DISMISSED`; comments do not count) is an approval
 *   of what was merged, the pull request's author excluded. An approval is of what was
 *   merged when it was given on the pull request's last commit (`head.sha`), or on a
 *   commit with the same tree (`GET …/git/commits/{sha}`: a later push that changed only
 *   messages or history, not files). An approval of an earlier state is stale and does not
 *   count, whatever the repository's branch protection says about dismissing stale reviews.
 *   No merged pull request, or no approver: `null`. Reviews are fetched once per pull
 *   request and trees once per commit within one `compare`.
 * - 401, 403 and 404 are `TerminalError`s that say what to fix; 429, 5xx, a 403 from the
 *   rate limiter (`x-ratelimit-remaining: 0` or `retry-after`), timeouts and network
 *   failures are `RetryableError`s.
 *
 * Limits: a commit's message is its first line, so that a large release still fits one item.
 *
 * @example
 * const history = new GitHubSourceHistory({ token: () => getSecret('github-token') });
 * await history.compare({ repository: 'acme/api', branch: 'main' }, 'a1b2…', 'c3d4…');
 * // { status: 'ahead', commits: [{ sha: 'c3d4…', author: 'ana', message: 'Fix retries',
 * //   review: { pullRequest: 'acme/api#42', approvedBy: ['bo'] } }] }
 */
export class GitHubSourceHistory implements SourceHistory {
  readonly #token: () => Promise<string>;
  readonly #owner: string | undefined;
  readonly #apiUrl: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #maxCommits: number;
  readonly #timeoutMs: number;

  constructor(options: GitHubSourceHistoryOptions) {
    if (options.owner !== undefined && !NAME.test(options.owner)) {
      throw new TerminalError(
        `GitHub owner ${JSON.stringify(options.owner)} is not an organisation or user name (letters, digits, "-", "_", "."); set GITHUB_OWNER to e.g. "acme".`,
      );
    }
    const maxCommits = options.maxCommits ?? 1000;
    if (!Number.isInteger(maxCommits) || maxCommits < 1) {
      throw new TerminalError(`maxCommits must be a whole number ≥ 1, got ${maxCommits}.`);
    }
    this.#token = options.token;
    this.#owner = options.owner;
    this.#apiUrl = (options.apiUrl ?? 'https://api.github.com').replace(/\/+$/, '');
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#maxCommits = maxCommits;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async compare(
    source: WatchedBranch,
    base: string | null,
    head: string,
  ): Promise<SourceComparison> {
    const repo = this.#repo(source.repository);
    const path = `/repos/${repo.owner}/${repo.name}`;
    const { branch } = source;
    if (!(await this.#onBranch(repo, branch, head))) return { status: 'not-on-branch' };
    if (base === null) {
      const what = `commit ${head}`;
      const body = await this.#get(repo, `${path}/commits/${encodeURIComponent(head)}`, what);
      const commit = parse(gitCommit, body, repo, what);
      return { status: 'ahead', commits: await this.#reviewed(repo, branch, [commit]) };
    }
    const basehead = `${encodeURIComponent(base)}...${encodeURIComponent(head)}`;
    const what = `the comparison ${base}...${head}`;
    const commits: GitCommit[] = [];
    for (let page = 1; ; page++) {
      const body = await this.#get(
        repo,
        `${path}/compare/${basehead}?per_page=${PER_PAGE}&page=${page}`,
        what,
      );
      const answer = parse(comparison, body, repo, what);
      if (answer.status === 'behind' || answer.status === 'identical') {
        return { status: answer.status };
      }
      if (answer.total_commits > this.#maxCommits) {
        throw new TerminalError(
          `${head} is ${answer.total_commits} commits ahead of ${base} in ${repo.label}, more than the ${this.#maxCommits} a release may hold. Record a release from a nearer commit first (push in smaller steps), or raise maxCommits.`,
        );
      }
      commits.push(...answer.commits);
      if (answer.commits.length < PER_PAGE || commits.length >= answer.total_commits) {
        return { status: answer.status, commits: await this.#reviewed(repo, branch, commits) };
      }
    }
  }

  /**
   * Whether `branch`'s tip is `head` or contains it: compared as `head...branch`, the branch
   * is then `ahead` of `head` or `identical` to it. One commit per page is enough: only the
   * status is read.
   */
  async #onBranch(repo: Repo, branch: string, head: string): Promise<boolean> {
    const basehead = `${encodeURIComponent(head)}...${encodeURIComponent(branch)}`;
    const what = `the comparison ${head}...${branch}`;
    const body = await this.#get(
      repo,
      `/repos/${repo.owner}/${repo.name}/compare/${basehead}?per_page=1`,
      what,
    );
    const { status } = parse(comparisonStatus, body, repo, what);
    return status === 'ahead' || status === 'identical';
  }

  /**
   * The commits with their reviews, in the order given; only pull requests merged into
   * `branch` count; one review lookup per pull request.
   */
  async #reviewed(repo: Repo, branch: string, commits: readonly GitCommit[]): Promise<Commit[]> {
    const byPull = new Map<number, Promise<readonly string[]>>();
    const trees = new Map<string, Promise<string | null>>();
    const tree = (sha: string) => {
      let cached = trees.get(sha);
      if (cached === undefined) {
        const what = `the tree of ${sha}`;
        const path = `/repos/${repo.owner}/${repo.name}/git/commits/${encodeURIComponent(sha)}`;
        // A commit force-pushed away may be gone: no tree, so no approval of it counts.
        cached = this.#get(repo, path, what, 'null').then((body) =>
          body === null ? null : parse(gitObject, body, repo, what).tree.sha,
        );
        trees.set(sha, cached);
      }
      return cached;
    };
    const approvers = (pull: Pull) => {
      let cached = byPull.get(pull.number);
      if (cached === undefined) {
        cached = this.#approvers(repo, pull, tree);
        byPull.set(pull.number, cached);
      }
      return cached;
    };
    return mapLimit(commits, CONCURRENCY, async (commit) => {
      const what = `the pull requests of ${commit.sha}`;
      const path = `/repos/${repo.owner}/${repo.name}/commits/${commit.sha}/pulls?per_page=${PER_PAGE}`;
      const merged = parse(pulls, await this.#get(repo, path, what), repo, what).filter(
        (pull) => typeof pull.merged_at === 'string' && pull.base.ref === branch,
      );
      let review: Review | null = null;
      for (const pull of merged) {
        const approvedBy = await approvers(pull);
        if (approvedBy.length > 0) {
          review = { pullRequest: `${repo.label}#${pull.number}`, approvedBy };
          break;
        }
      }
      return {
        sha: commit.sha,
        author: commit.author?.login ?? commit.commit.author?.name ?? 'unknown',
        message: commit.commit.message.split('\n', 1)[0] ?? '',
        review,
      };
    });
  }

  /**
   * Users whose latest decisive review approves what was merged (the pull request's last
   * commit, or a commit with its tree), the author excluded, in review order.
   */
  async #approvers(
    repo: Repo,
    pull: Pull,
    tree: (sha: string) => Promise<string | null>,
  ): Promise<readonly string[]> {
    const latest = new Map<string, { state: string; on: string | null }>();
    for (let page = 1; ; page++) {
      const what = `the reviews of ${repo.label}#${pull.number}`;
      const batch = parse(
        reviews,
        await this.#get(
          repo,
          `/repos/${repo.owner}/${repo.name}/pulls/${pull.number}/reviews?per_page=${PER_PAGE}&page=${page}`,
          what,
        ),
        repo,
        what,
      );
      for (const review of batch) {
        const login = review.user?.login;
        if (login === undefined || !DECISIVE.has(review.state)) continue;
        latest.delete(login);
        latest.set(login, { state: review.state, on: review.commit_id ?? null });
      }
      if (batch.length < PER_PAGE) break;
      if (page === MAX_REVIEW_PAGES) {
        throw new TerminalError(
          `${repo.label}#${pull.number} has more than ${page * PER_PAGE} reviews, more than Release Captain reads; approve its commits through a new pull request.`,
        );
      }
    }
    const merged = pull.head.sha;
    const approvals = [...latest].filter(
      ([login, { state, on }]) => state === 'APPROVED' && on !== null && login !== pull.user?.login,
    );
    const current = await Promise.all(
      approvals.map(async ([, { on }]) => {
        if (on === merged) return true;
        // Trees only when an approval is of another commit: the common case costs nothing.
        const [approved, released] = await Promise.all([tree(on ?? ''), tree(merged)]);
        return approved !== null && approved === released;
      }),
    );
    return approvals.filter((_, i) => current[i]).map(([login]) => login);
  }

  #repo(repository: string): Repo {
    const parts = repository.split('/');
    const [owner, name] = parts.length === 1 ? [this.#owner, parts[0]] : parts;
    if (parts.length > 2 || name === undefined || !NAME.test(name)) {
      throw new TerminalError(
        `Repository ${JSON.stringify(repository)} is not a GitHub repository name: write source.repository as "owner/name", e.g. "acme/api".`,
      );
    }
    if (owner === undefined || !NAME.test(owner)) {
      throw new TerminalError(
        `Repository ${JSON.stringify(repository)} names no owner: write source.repository as "owner/name" (e.g. "acme/${name}") or set GITHUB_OWNER for the release recorder.`,
      );
    }
    return { owner, name, label: `${owner}/${name}` };
  }

  /** `null` when GitHub answers 404, for things that may be gone (a force-pushed commit). */
  async #get(repo: Repo, path: string, what: string, missing: 'null'): Promise<unknown | null>;
  async #get(repo: Repo, path: string, what: string): Promise<unknown>;
  async #get(repo: Repo, path: string, what: string, missing?: 'null'): Promise<unknown> {
    let response: Response;
    try {
      response = await this.#fetch(`${this.#apiUrl}${path}`, {
        headers: {
          accept: 'application/vnd.github+json',
          authorization: `Bearer ${await this.#token()}`,
          'user-agent': 'release-captain',
          'x-github-api-version': '2022-11-28',
        },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      if (error instanceof TerminalError || error instanceof RetryableError) throw error;
      throw new RetryableError(
        `Reading ${what} of ${repo.label} from GitHub failed (${(error as Error).name}: ${(error as Error).message}); it may pass.`,
        { cause: error },
      );
    }
    if (response.ok) {
      try {
        return await response.json();
      } catch (error) {
        throw new RetryableError(
          `GitHub answered ${what} of ${repo.label} with a body that is not JSON; it may pass.`,
          { cause: error },
        );
      }
    }
    if (response.status === 404 && missing === 'null') return null;
    throw failure(response, repo, what, await response.text().catch(() => ''));
  }
}

const DECISIVE = new Set(['APPROVED', 'CHANGES_REQUESTED', 'DISMISSED']);

/** Maps a GitHub error response to what the caller should do about it. */
function failure(response: Response, repo: Repo, what: string, body: string): Error {
  const status = response.status;
  const detail = `${status}${body === '' ? '' : `: ${body.slice(0, 200)}`}`;
  const limited =
    response.headers.get('x-ratelimit-remaining') === '0' || response.headers.has('retry-after');
  if (status === 429 || (status === 403 && limited)) {
    const reset = response.headers.get('x-ratelimit-reset');
    return new RetryableError(
      `GitHub rate-limited reading ${what} of ${repo.label} (${status}${reset === null ? '' : `, resets at ${new Date(Number(reset) * 1000).toISOString()}`}); retry later.`,
    );
  }
  if (status >= 500) {
    return new RetryableError(`GitHub failed reading ${what} of ${repo.label} (${detail}).`);
  }
  const fix = `Store a token with contents:read and pull_requests:read on ${repo.label} in the secret named by GITHUB_TOKEN_SECRET_NAME.`;
  if (status === 401) {
    return new TerminalError(
      `GitHub refused the token reading ${what} of ${repo.label} (${detail}): it is wrong, expired or revoked. ${fix}`,
    );
  }
  if (status === 403) {
    return new TerminalError(
      `GitHub forbade reading ${what} of ${repo.label} (${detail}): the token lacks a permission. ${fix}`,
    );
  }
  if (status === 404) {
    return new TerminalError(
      `GitHub found no ${what} in ${repo.label} (${detail}): check the pipeline's source.repository and source.branch, that the commit was pushed to GitHub, and that the token can see the repository. ${fix}`,
    );
  }
  return new TerminalError(`GitHub refused reading ${what} of ${repo.label} (${detail}).`);
}

function parse<Schema extends z.ZodType>(
  schema: Schema,
  body: unknown,
  repo: Repo,
  what: string,
): z.output<Schema> {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issues = result.error.issues
      .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
      .join('; ');
    throw new TerminalError(
      `GitHub answered with ${what} of ${repo.label} in an unexpected shape (${issues}).`,
    );
  }
  return result.data;
}

/** `fn` over `items` with at most `limit` calls in flight; results in the items' order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
