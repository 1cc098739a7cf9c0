import { describe, expect, it } from 'vitest';
import {
  GitHubSourceHistory,
  type GitHubSourceHistoryOptions,
} from '../../../../adapters/aws/github-history.js';
import { RetryableError, TerminalError } from '../../../../core/index.js';

type Reply = { status?: number; body?: unknown; headers?: Record<string, string> };

/** Every head is on main (main is ahead of it) unless a route says otherwise. */
const onMain = (path: string): Reply | undefined =>
  /\/compare\/\w+\.\.\.main\?per_page=1$/.test(path)
    ? { body: { status: 'ahead', total_commits: 1, commits: [] } }
    : undefined;

/** A fake GitHub API: answers by path and query, records every request. */
function github(routes: Record<string, Reply>, fallback?: (path: string) => Reply | undefined) {
  const requests: { path: string; headers: Headers }[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const path = `${url.pathname}${url.search}`;
    requests.push({ path, headers: new Headers(init?.headers) });
    const reply = routes[path] ??
      fallback?.(path) ??
      onMain(path) ?? { status: 404, body: { message: 'Not Found' } };
    return new Response(JSON.stringify(reply.body ?? {}), {
      status: reply.status ?? 200,
      headers: reply.headers,
    });
  };
  const history = (options: Partial<GitHubSourceHistoryOptions> = {}) =>
    new GitHubSourceHistory({
      token: async () => 'ghp_test',
      fetch: fetch as typeof globalThis.fetch,
      ...options,
    });
  const count = (pattern: RegExp) => requests.filter((r) => pattern.test(r.path)).length;
  return { history, requests, count };
}

const sha = (c: string) => c.repeat(40);
const commit = (c: string, login: string | null = 'ana') => ({
  sha: sha(c),
  commit: {
    message: `change ${c}\n\nWhy it changed.`,
    author: { name: `${login ?? 'Ghost'} Name` },
  },
  author: login === null ? null : { login },
});
const repo = '/repos/acme/api';
const main = { repository: 'acme/api', branch: 'main' };
/** The question whether `head` is on `branch`: is the branch ahead of it, or identical? */
const onBranchUrl = (head: string, branch = 'main') =>
  `${repo}/compare/${sha(head)}...${encodeURIComponent(branch)}?per_page=1`;
/** The comparisons of a release's head with a build's, as opposed to the branch questions. */
const comparisons = /\/compare\/\w+\.\.\.\w+\?per_page=100&page=/;
const compareUrl = (base: string, head: string, page = 1) =>
  `${repo}/compare/${sha(base)}...${sha(head)}?per_page=100&page=${page}`;
const pullsOf = (c: string) => `${repo}/commits/${sha(c)}/pulls?per_page=100`;
const reviewsOf = (n: number, page = 1) => `${repo}/pulls/${n}/reviews?per_page=100&page=${page}`;
/** A merged pull request whose last commit, the one merged, is `head`. */
const merged = (number: number, author = 'ana', base = 'main', head = 'f') => ({
  number,
  merged_at: '2026-11-20T10:00:00Z',
  user: { login: author },
  base: { ref: base },
  head: { sha: sha(head) },
});
/** A review given on commit `on`, by default the last commit of {@link merged}. */
const review = (login: string, state: string, on: string | null = 'f') => ({
  user: { login },
  state,
  commit_id: on === null ? null : sha(on),
});
const treeOf = (c: string) => `${repo}/git/commits/${sha(c)}`;
/** Every commit without a route of its own was merged through no pull request. */
const noPulls = (path: string) => (/\/commits\/\w+\/pulls/.test(path) ? { body: [] } : undefined);

describe('GitHubSourceHistory.compare', () => {
  it('lists the new commits oldest first, each with the approvers of its merged pull request', async () => {
    const { history, requests } = github({
      [compareUrl('a', 'c')]: {
        body: { status: 'ahead', total_commits: 2, commits: [commit('b'), commit('c', null)] },
      },
      [pullsOf('b')]: { body: [merged(7)] },
      [reviewsOf(7)]: { body: [review('bo', 'APPROVED')] },
      [pullsOf('c')]: { body: [] },
    });

    const result = await history().compare(main, sha('a'), sha('c'));

    expect(result).toEqual({
      status: 'ahead',
      commits: [
        {
          sha: sha('b'),
          author: 'ana',
          message: 'change b',
          review: { pullRequest: 'acme/api#7', approvedBy: ['bo'] },
        },
        { sha: sha('c'), author: 'Ghost Name', message: 'change c', review: null },
      ],
    });
    expect(requests[0]?.path).toBe(onBranchUrl('c'));
    expect(requests[0]?.headers.get('authorization')).toBe('Bearer ghp_test');
    expect(requests[0]?.headers.get('x-github-api-version')).toBe('2022-11-28');
  });

  it.each(['behind', 'identical'] as const)(
    'answers %s without looking for reviews',
    async (status) => {
      const { history, requests } = github({
        [compareUrl('c', 'b')]: { body: { status, total_commits: 0, commits: [] } },
      });

      expect(await history().compare(main, sha('c'), sha('b'))).toEqual({ status });
      expect(requests.map((r) => r.path)).toEqual([onBranchUrl('b'), compareUrl('c', 'b')]);
    },
  );

  it('answers diverged with the commits since the histories split', async () => {
    const { history } = github(
      {
        [compareUrl('d', 'e')]: {
          body: { status: 'diverged', total_commits: 1, commits: [commit('e')] },
        },
      },
      noPulls,
    );

    expect(await history().compare(main, sha('d'), sha('e'))).toMatchObject({
      status: 'diverged',
      commits: [{ sha: sha('e'), review: null }],
    });
  });

  it.each([
    { status: 'behind', base: sha('a'), name: 'a commit a force-push abandoned' },
    { status: 'diverged', base: sha('a'), name: 'a commit of another branch' },
    { status: 'diverged', base: null, name: 'a first release from another branch' },
  ] as const)(
    'answers not-on-branch for $name (main is $status of it), comparing nothing else',
    async ({ status, base }) => {
      const { history, requests } = github({
        [onBranchUrl('x')]: { body: { status, total_commits: 1, commits: [commit('m')] } },
      });

      expect(await history().compare(main, base, sha('x'))).toEqual({ status: 'not-on-branch' });
      expect(requests.map((r) => r.path)).toEqual([onBranchUrl('x')]);
    },
  );

  it('asks about the watched branch by its escaped name, and takes its tip as on it', async () => {
    const release = { repository: 'acme/api', branch: 'release/2026' };
    const { history, requests } = github({
      [onBranchUrl('b', 'release/2026')]: {
        body: { status: 'identical', total_commits: 0, commits: [] },
      },
      [compareUrl('a', 'b')]: {
        body: { status: 'ahead', total_commits: 1, commits: [commit('b')] },
      },
      [pullsOf('b')]: { body: [merged(7, 'ana', 'release/2026')] },
      [reviewsOf(7)]: { body: [review('bo', 'APPROVED')] },
    });

    const result = await history().compare(release, sha('a'), sha('b'));

    expect(requests[0]?.path).toBe(`${repo}/compare/${sha('b')}...release%2F2026?per_page=1`);
    expect(result).toMatchObject({
      status: 'ahead',
      commits: [{ sha: sha('b'), review: { pullRequest: 'acme/api#7', approvedBy: ['bo'] } }],
    });
  });

  it('names the branch setting when GitHub knows no such branch', async () => {
    const { history } = github({ [onBranchUrl('b')]: { status: 404 } });

    await expect(history().compare(main, sha('a'), sha('b'))).rejects.toThrow(
      /found no the comparison b{40}\.\.\.main in acme\/api .*source\.repository and source\.branch/,
    );
  });

  it('gives the head alone for a first release', async () => {
    const { history, count } = github(
      { [`${repo}/commits/${sha('a')}`]: { body: commit('a') } },
      noPulls,
    );

    expect(await history().compare(main, null, sha('a'))).toEqual({
      status: 'ahead',
      commits: [{ sha: sha('a'), author: 'ana', message: 'change a', review: null }],
    });
    expect(count(comparisons)).toBe(0);
  });

  it('pages through a comparison of more than 100 commits, keeping their order', async () => {
    const shas = Array.from({ length: 150 }, (_, i) => i.toString(16).padStart(40, '0'));
    const body = (from: number, to: number) => ({
      status: 'ahead',
      total_commits: 150,
      commits: shas.slice(from, to).map((s) => ({ ...commit('f'), sha: s })),
    });
    const { history, count } = github(
      {
        [compareUrl('a', 'f', 1)]: { body: body(0, 100) },
        [compareUrl('a', 'f', 2)]: { body: body(100, 150) },
      },
      noPulls,
    );

    const result = await history().compare(main, sha('a'), sha('f'));

    expect(result.status === 'ahead' && result.commits.map((c) => c.sha)).toEqual(shas);
    expect(count(comparisons)).toBe(2);
  });

  it('refuses more new commits than a release may hold, naming the count', async () => {
    const { history, count } = github({
      [compareUrl('a', 'f')]: {
        body: {
          status: 'ahead',
          total_commits: 3,
          commits: [commit('b'), commit('c'), commit('d')],
        },
      },
    });

    const failure = history({ maxCommits: 2 }).compare(main, sha('a'), sha('f'));

    await expect(failure).rejects.toThrow(TerminalError);
    await expect(failure).rejects.toThrow(
      /is 3 commits ahead .* more than the 2 a release may hold/,
    );
    expect(count(/pulls/)).toBe(0);
  });
});

describe('GitHubSourceHistory reviews', () => {
  const onePull = (
    reviews: unknown[] | Record<number, unknown[]>,
    author = 'ana',
    routes: Record<string, Reply> = {},
  ) => {
    const pages = Array.isArray(reviews) ? { 1: reviews } : reviews;
    return github(
      {
        ...routes,
        [compareUrl('a', 'b')]: {
          body: { status: 'ahead', total_commits: 1, commits: [commit('b')] },
        },
        [pullsOf('b')]: { body: [merged(7, author)] },
        ...Object.fromEntries(
          Object.entries(pages).map(([page, body]) => [reviewsOf(7, Number(page)), { body }]),
        ),
      },
      (path) => (path.startsWith(`${repo}/pulls/7/reviews`) ? { body: [] } : undefined),
    );
  };
  const approvers = async (fake: ReturnType<typeof onePull>) => {
    const result = await fake.history().compare(main, sha('a'), sha('b'));
    return result.status === 'ahead' ? result.commits[0]?.review : undefined;
  };

  it.each([
    {
      name: 'a later request for changes cancels an approval',
      reviews: [review('bo', 'APPROVED'), review('bo', 'CHANGES_REQUESTED')],
      expected: null,
    },
    {
      name: 'an approval after a request for changes counts',
      reviews: [review('cy', 'CHANGES_REQUESTED'), review('cy', 'APPROVED')],
      expected: ['cy'],
    },
    {
      name: 'a dismissed approval does not count',
      reviews: [review('eve', 'DISMISSED')],
      expected: null,
    },
    {
      name: 'a comment after an approval leaves it standing',
      reviews: [review('dee', 'APPROVED'), review('dee', 'COMMENTED')],
      expected: ['dee'],
    },
    {
      name: 'the author approving their own pull request does not count',
      reviews: [review('ana', 'APPROVED')],
      expected: null,
    },
    {
      name: 'several approvers, each counted once, a deleted user skipped',
      reviews: [
        review('bo', 'APPROVED'),
        { user: null, state: 'APPROVED' },
        review('cy', 'APPROVED'),
        review('bo', 'APPROVED'),
      ],
      expected: ['cy', 'bo'],
    },
  ])('$name', async ({ reviews, expected }) => {
    const review = await approvers(onePull(reviews));

    expect(review).toEqual(
      expected === null ? null : { pullRequest: 'acme/api#7', approvedBy: expected },
    );
  });

  describe('an approval counts only for what was merged', () => {
    /** Commit e is an earlier state of the pull request; d has the same files as f. */
    const trees = {
      [treeOf('e')]: { body: { tree: { sha: 'tree-of-e' } } },
      [treeOf('d')]: { body: { tree: { sha: 'tree-of-f' } } },
      [treeOf('f')]: { body: { tree: { sha: 'tree-of-f' } } },
    };

    it.each([
      {
        name: 'an approval of an earlier commit, pushed over since, is stale',
        reviews: [review('bo', 'APPROVED', 'e')],
        expected: null,
      },
      {
        name: 'a stale approval beside a current one: only the current one counts',
        reviews: [review('bo', 'APPROVED', 'e'), review('cy', 'APPROVED')],
        expected: ['cy'],
      },
      {
        name: 'an approval renewed on the merged commit counts',
        reviews: [review('bo', 'APPROVED', 'e'), review('bo', 'APPROVED')],
        expected: ['bo'],
      },
      {
        name: 'an approval of a commit with the same files as the merged one counts',
        reviews: [review('bo', 'APPROVED', 'd')],
        expected: ['bo'],
      },
      {
        name: 'an approval of a commit that is gone (force-pushed away) does not count',
        reviews: [review('bo', 'APPROVED', 'c')],
        expected: null,
      },
      {
        name: 'an approval that names no commit does not count',
        reviews: [review('bo', 'APPROVED', null)],
        expected: null,
      },
    ])('$name', async ({ reviews, expected }) => {
      const review = await approvers(onePull(reviews, 'ana', trees));

      expect(review).toEqual(
        expected === null ? null : { pullRequest: 'acme/api#7', approvedBy: expected },
      );
    });

    it('reads no trees when every approval is of the merged commit', async () => {
      const fake = onePull([review('bo', 'APPROVED'), review('cy', 'APPROVED')], 'ana', trees);

      expect(await approvers(fake)).toEqual({
        pullRequest: 'acme/api#7',
        approvedBy: ['bo', 'cy'],
      });
      expect(fake.count(/\/git\/commits\//)).toBe(0);
    });
  });

  it('reads every page of reviews: the latest one wins across pages', async () => {
    const fake = onePull({
      1: [review('bo', 'APPROVED'), ...Array.from({ length: 99 }, () => review('cy', 'COMMENTED'))],
      2: [review('bo', 'CHANGES_REQUESTED')],
    });

    expect(await approvers(fake)).toBeNull();
    expect(fake.count(/\/reviews/)).toBe(2);
  });

  it('takes the first merged pull request with an approver, and ignores unmerged ones', async () => {
    const { history } = github({
      [compareUrl('a', 'b')]: {
        body: { status: 'ahead', total_commits: 1, commits: [commit('b')] },
      },
      [pullsOf('b')]: {
        body: [
          {
            number: 3,
            merged_at: null,
            user: { login: 'ana' },
            base: { ref: 'main' },
            head: { sha: sha('f') },
          },
          merged(5),
          merged(6),
        ],
      },
      [reviewsOf(5)]: { body: [] },
      [reviewsOf(6)]: { body: [review('bo', 'APPROVED')] },
    });

    const result = await history().compare(main, sha('a'), sha('b'));

    expect(result).toMatchObject({
      commits: [{ review: { pullRequest: 'acme/api#6', approvedBy: ['bo'] } }],
    });
  });

  it('counts only pull requests merged into the watched branch', async () => {
    const { history, count } = github({
      [compareUrl('a', 'c')]: {
        body: { status: 'ahead', total_commits: 2, commits: [commit('b'), commit('c')] },
      },
      // b: approved into develop, then into main; c: approved into develop only.
      [pullsOf('b')]: { body: [merged(5, 'ana', 'develop'), merged(6)] },
      [pullsOf('c')]: { body: [merged(5, 'ana', 'develop')] },
      [reviewsOf(5)]: { body: [review('cy', 'APPROVED')] },
      [reviewsOf(6)]: { body: [review('bo', 'APPROVED')] },
    });

    const result = await history().compare(main, sha('a'), sha('c'));

    expect(result.status === 'ahead' && result.commits.map((c) => c.review)).toEqual([
      { pullRequest: 'acme/api#6', approvedBy: ['bo'] },
      null,
    ]);
    expect(count(/\/pulls\/5\/reviews/)).toBe(0);
  });

  it('reads the reviews of a pull request once for all the commits it merged', async () => {
    const { history, count } = github({
      [compareUrl('a', 'd')]: {
        body: {
          status: 'ahead',
          total_commits: 3,
          commits: [commit('b'), commit('c'), commit('d')],
        },
      },
      [pullsOf('b')]: { body: [merged(7)] },
      [pullsOf('c')]: { body: [merged(7)] },
      [pullsOf('d')]: { body: [merged(7)] },
      [reviewsOf(7)]: { body: [review('bo', 'APPROVED')] },
    });

    const result = await history().compare(main, sha('a'), sha('d'));

    expect(result.status === 'ahead' && result.commits.map((c) => c.review?.pullRequest)).toEqual([
      'acme/api#7',
      'acme/api#7',
      'acme/api#7',
    ]);
    expect(count(/\/reviews/)).toBe(1);
  });
});

describe('GitHubSourceHistory failures and names', () => {
  const failing = (reply: Reply) => github({ [compareUrl('a', 'b')]: reply }).history();

  it.each([
    { reply: { status: 401 }, error: TerminalError, message: /refused the token .*acme\/api/ },
    {
      reply: { status: 403, body: { message: 'Resource not accessible' } },
      error: TerminalError,
      message: /contents:read and pull_requests:read on acme\/api/,
    },
    {
      reply: { status: 404 },
      error: TerminalError,
      message: /found no .* in acme\/api .*source\.repository/,
    },
    { reply: { status: 422 }, error: TerminalError, message: /422/ },
    {
      reply: {
        status: 403,
        headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1790000000' },
      },
      error: RetryableError,
      message: /rate-limited/,
    },
    { reply: { status: 429 }, error: RetryableError, message: /rate-limited/ },
    { reply: { status: 502 }, error: RetryableError, message: /502/ },
  ])('maps $reply.status to $error.name ($message)', async ({ reply, error, message }) => {
    const failure = failing(reply).compare(main, sha('a'), sha('b'));

    await expect(failure).rejects.toThrow(error);
    await expect(failure).rejects.toThrow(message);
  });

  it('retries a dropped connection and an answer that is not JSON', async () => {
    const dropped = new GitHubSourceHistory({
      token: async () => 't',
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    const garbled = new GitHubSourceHistory({
      token: async () => 't',
      fetch: async () => new Response('<html>', { status: 200 }),
    });

    await expect(dropped.compare(main, sha('a'), sha('b'))).rejects.toThrow(RetryableError);
    await expect(garbled.compare(main, sha('a'), sha('b'))).rejects.toThrow(RetryableError);
  });

  it('refuses an answer in an unexpected shape, naming the field', async () => {
    const failure = failing({
      body: { status: 'sideways', total_commits: 1, commits: [] },
    }).compare(main, sha('a'), sha('b'));

    await expect(failure).rejects.toThrow(TerminalError);
    await expect(failure).rejects.toThrow(/status/);
  });

  it('takes the owner from the option for a repository named without one', async () => {
    const { history, requests } = github({
      [compareUrl('a', 'b')]: { body: { status: 'identical', total_commits: 0, commits: [] } },
    });

    expect(
      await history({ owner: 'acme' }).compare({ ...main, repository: 'api' }, sha('a'), sha('b')),
    ).toEqual({ status: 'identical' });
    expect(requests.map((r) => r.path)).toEqual([onBranchUrl('b'), compareUrl('a', 'b')]);
  });

  it.each([
    {
      repository: 'api',
      message:
        /names no owner: write source.repository as "owner\/name" \(e.g. "acme\/api"\) or set GITHUB_OWNER/,
    },
    { repository: 'acme/api/extra', message: /not a GitHub repository name/ },
    { repository: 'acme/a?b', message: /not a GitHub repository name/ },
  ])(
    'refuses repository $repository with a message saying how to name it',
    async ({ repository, message }) => {
      const { history, requests } = github({});

      await expect(history().compare({ ...main, repository }, sha('a'), sha('b'))).rejects.toThrow(
        message,
      );
      expect(requests).toHaveLength(0);
    },
  );

  it('refuses an owner option that is not a name', () => {
    expect(() => new GitHubSourceHistory({ token: async () => 't', owner: 'acme/x' })).toThrow(
      /GITHUB_OWNER/,
    );
  });
});
