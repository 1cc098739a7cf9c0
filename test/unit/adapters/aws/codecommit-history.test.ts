import {
  CodeCommitClient,
  DescribePullRequestEventsCommand,
  EvaluatePullRequestApprovalRulesCommand,
  GetBranchCommand,
  GetCommitCommand,
  GetMergeCommitCommand,
  GetPullRequestApprovalStatesCommand,
  GetPullRequestCommand,
  ListPullRequestsCommand,
  type PullRequest,
} from '@aws-sdk/client-codecommit';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  CodeCommitSourceHistory,
  type CodeCommitSourceHistoryOptions,
  userName,
} from '../../../../adapters/aws/codecommit-history.js';
import {
  InMemorySourceHistory,
  RetryableError,
  type SourceComparison,
  TerminalError,
} from '../../../../core/index.js';

expect.extend(allCustomMatcher);
const codeCommit = mockClient(CodeCommitClient);

/**
 * main: a ← b ← c ← d ← m, where m merges feature f1 ← f2 (branched off b) into d.
 * x branches off b (a rewritten main); o: a commit whose first parent is an old feature
 * branch g1 (off a) and whose second is d, as a fast-forwarded local merge makes.
 */
const GRAPH: Record<string, string[]> = {
  a: [],
  b: ['a'],
  c: ['b'],
  d: ['c'],
  f1: ['b'],
  f2: ['f1'],
  m: ['d', 'f2'],
  x: ['b'],
  g1: ['a'],
  o: ['g1', 'd'],
};

function ancestors(graph: Record<string, string[]>, sha: string): Set<string> {
  const seen = new Set([sha]);
  for (const next of seen) for (const parent of graph[next] ?? []) seen.add(parent);
  return seen;
}

/** The best common ancestor, as `git merge-base` gives it. */
function mergeBase(graph: Record<string, string[]>, one: string, other: string) {
  const fromOther = ancestors(graph, other);
  const common = [...ancestors(graph, one)].filter((sha) => fromOther.has(sha));
  return common.find((sha) => !common.some((c) => c !== sha && ancestors(graph, c).has(sha)));
}

const missing = (sha: string) =>
  Object.assign(new Error(`${sha} does not exist`), {
    name: 'CommitIdDoesNotExistException',
    $metadata: { httpStatusCode: 400 },
  });

/**
 * Serves a commit graph through GetCommit and GetMergeCommit, and branch main (at `tip`,
 * which contains every commit of GRAPH but x, g1 and o) through GetBranch.
 */
function serve(graph: Record<string, string[]>, authors: Record<string, string> = {}, tip = 'm') {
  codeCommit.on(GetBranchCommand).callsFake(({ branchName }: { branchName: string }) =>
    branchName === 'main'
      ? { branch: { branchName, commitId: tip } }
      : Promise.reject(
          Object.assign(new Error(`${branchName} does not exist`), {
            name: 'BranchDoesNotExistException',
            $metadata: { httpStatusCode: 400 },
          }),
        ),
  );
  codeCommit.on(GetCommitCommand).callsFake(({ commitId }: { commitId: string }) => {
    const parents = graph[commitId];
    if (parents === undefined) throw missing(commitId);
    return {
      commit: {
        commitId,
        parents,
        message: `change ${commitId}\n\ndetails`,
        author: { name: authors[commitId] ?? 'Ana' },
      },
    };
  });
  codeCommit
    .on(GetMergeCommitCommand)
    .callsFake(
      ({
        sourceCommitSpecifier: s,
        destinationCommitSpecifier: d,
      }: {
        sourceCommitSpecifier: string;
        destinationCommitSpecifier: string;
      }) => {
        for (const sha of [s, d]) if (graph[sha] === undefined) throw missing(sha);
        return { sourceCommitId: s, destinationCommitId: d, baseCommitId: mergeBase(graph, s, d) };
      },
    );
}

interface FakePull {
  readonly id: string;
  readonly source: string;
  readonly destination: string;
  /** The branch merged into: `main` unless said. */
  readonly into?: string;
  readonly mergeBase?: string;
  readonly mergeCommit?: string;
  readonly merged?: boolean;
  readonly repository?: string;
  /** The approval states of the pull request's last revision, `rev-<id>`. */
  readonly approvals?: Record<string, 'APPROVE' | 'REVOKE'>;
  /**
   * The approval events, oldest first: by default each approval above given on the last
   * revision. `revision` names another revision, such as an earlier one (`rev-<id>-1`).
   */
  readonly events?: { user: string; status: 'APPROVE' | 'REVOKE'; revision?: string }[];
  readonly unsatisfied?: string[];
}

const arn = (user: string) => `arn:aws:iam::123456789012:user/${user}`;

/** Serves closed pull requests (newest first) with their approvals and rule evaluations. */
function pulls(list: FakePull[], pageSize = 100) {
  const byId = new Map(list.map((p) => [p.id, p]));
  codeCommit
    .on(ListPullRequestsCommand)
    .callsFake(({ nextToken, maxResults }: { nextToken?: string; maxResults: number }) => {
      const from = Number(nextToken ?? 0);
      const to = from + Math.min(pageSize, maxResults);
      return {
        pullRequestIds: list.slice(from, to).map((p) => p.id),
        nextToken: to < list.length ? String(to) : undefined,
      };
    });
  codeCommit.on(GetPullRequestCommand).callsFake(({ pullRequestId }: { pullRequestId: string }) => {
    const p = byId.get(pullRequestId) as FakePull;
    const pullRequest: PullRequest = {
      pullRequestId: p.id,
      authorArn: arn('fay'),
      revisionId: `rev-${p.id}`,
      pullRequestStatus: 'CLOSED',
      pullRequestTargets: [
        {
          repositoryName: p.repository ?? 'api',
          sourceCommit: p.source,
          destinationCommit: p.destination,
          destinationReference: `refs/heads/${p.into ?? 'main'}`,
          mergeBase: p.mergeBase ?? p.destination,
          mergeMetadata: { isMerged: p.merged ?? true, mergeCommitId: p.mergeCommit },
        },
      ],
    };
    return { pullRequest };
  });
  codeCommit
    .on(GetPullRequestApprovalStatesCommand)
    .callsFake(({ pullRequestId, revisionId }: { pullRequestId: string; revisionId: string }) => {
      expect(revisionId).toBe(`rev-${pullRequestId}`);
      const approvals = byId.get(pullRequestId)?.approvals ?? {};
      return {
        approvals: Object.entries(approvals).map(([user, state]) => ({
          userArn: arn(user),
          approvalState: state,
        })),
      };
    });
  /** Pages of two, newest first, so that the adapter must page and order them itself. */
  codeCommit
    .on(DescribePullRequestEventsCommand)
    .callsFake(({ pullRequestId, nextToken }: { pullRequestId: string; nextToken?: string }) => {
      const p = byId.get(pullRequestId) as FakePull;
      const given: NonNullable<FakePull['events']> =
        p.events ??
        Object.entries(p.approvals ?? {})
          .filter(([, status]) => status === 'APPROVE')
          .map(([user, status]) => ({ user, status }));
      const events = given
        .map(({ user, status, revision }, i) => ({
          pullRequestId,
          pullRequestEventType: 'PULL_REQUEST_APPROVAL_STATE_CHANGED',
          actorArn: arn(user),
          eventDate: new Date(Date.UTC(2026, 10, 20, 10, i)),
          approvalStateChangedEventMetadata: {
            revisionId: revision ?? `rev-${p.id}`,
            approvalStatus: status,
          },
        }))
        .reverse();
      const from = Number(nextToken ?? 0);
      return {
        pullRequestEvents: events.slice(from, from + 2),
        nextToken: from + 2 < events.length ? String(from + 2) : undefined,
      };
    });
  codeCommit
    .on(EvaluatePullRequestApprovalRulesCommand)
    .callsFake(({ pullRequestId }: { pullRequestId: string }) => {
      const unsatisfied = byId.get(pullRequestId)?.unsatisfied ?? [];
      return {
        evaluation: {
          approved: unsatisfied.length === 0,
          overridden: false,
          approvalRulesSatisfied: [],
          approvalRulesNotSatisfied: unsatisfied,
        },
      };
    });
}

const main = { repository: 'api', branch: 'main' };
const history = (options: Partial<CodeCommitSourceHistoryOptions> = {}) =>
  new CodeCommitSourceHistory({ client: new CodeCommitClient({}), ...options });
const shas = (result: SourceComparison) =>
  result.status === 'ahead' || result.status === 'diverged' ? result.commits.map((c) => c.sha) : [];

describe('CodeCommitSourceHistory.compare', () => {
  beforeEach(() => {
    codeCommit.reset();
    pulls([]);
  });

  /** The in-memory history answers as GitHub does: the contract the adapter must keep. */
  const model = new InMemorySourceHistory();
  for (const sha of ['a', 'b', 'c', 'd', 'f1', 'f2', 'm', 'x', 'g1', 'o']) {
    model.commit(
      'api',
      { sha, author: 'Ana', message: `change ${sha}`, review: null },
      GRAPH[sha] ?? [],
    );
  }

  it.each([
    { tip: 'd', base: 'a', head: 'd', name: 'a push on top of the release' },
    {
      tip: 'm',
      base: 'd',
      head: 'm',
      name: 'a merge of a branch that split off before the release',
    },
    { tip: 'o', base: 'd', head: 'o', name: 'a merge whose first parent is an old branch' },
    { tip: 'x', base: 'c', head: 'x', name: 'a rewritten branch' },
    { tip: 'm', base: 'x', head: 'm', name: 'back from a rewritten branch' },
    { tip: 'm', base: 'd', head: 'b', name: 'a head the release already contains' },
    { tip: 'm', base: 'd', head: 'd', name: 'the release’s own head' },
    { tip: 'm', base: null, head: 'm', name: 'a first release' },
    { tip: 'x', base: 'x', head: 'd', name: 'a late build of history a force-push abandoned' },
    { tip: 'd', base: 'c', head: 'f2', name: 'a build of a feature branch' },
    { tip: 'd', base: null, head: 'g1', name: 'a first release from a feature branch' },
    { tip: 'b', base: 'd', head: 'c', name: 'a head behind the release, off the branch' },
  ])(
    'answers as the in-memory history does for $name ($base → $head, main at $tip)',
    async ({ tip, base, head }) => {
      serve(GRAPH, {}, tip);
      model.branch('api', 'main', tip);
      const expected = await model.compare(main, base, head);

      const actual = await history().compare(main, base, head);

      expect(actual.status).toBe(expected.status);
      expect(new Set(shas(actual))).toEqual(new Set(shas(expected)));
      expect(shas(actual)).toHaveLength(shas(expected).length);
    },
  );

  it('lists the commits of a push oldest first, with author and first line, one merge base lookup', async () => {
    serve(GRAPH, { c: 'Bo' }, 'd');

    const result = await history().compare(main, 'a', 'd');

    expect(result).toEqual({
      status: 'ahead',
      commits: [
        { sha: 'b', author: 'Ana', message: 'change b', review: null },
        { sha: 'c', author: 'Bo', message: 'change c', review: null },
        { sha: 'd', author: 'Ana', message: 'change d', review: null },
      ],
    });
    // The branch's tip is the head itself, and a single chain above the merge base needs
    // no further ancestry checks.
    expect(codeCommit).toHaveReceivedCommandWith(GetBranchCommand, {
      repositoryName: 'api',
      branchName: 'main',
    });
    expect(codeCommit).toHaveReceivedCommandTimes(GetMergeCommitCommand, 1);
    expect(codeCommit).toHaveReceivedCommandWith(GetMergeCommitCommand, {
      repositoryName: 'api',
      sourceCommitSpecifier: 'd',
      destinationCommitSpecifier: 'a',
    });
  });

  it('refuses more new commits than a release may hold', async () => {
    serve(GRAPH);

    const failure = history({ maxCommits: 2 }).compare(main, 'a', 'd');

    await expect(failure).rejects.toThrow(TerminalError);
    await expect(failure).rejects.toThrow(/more than 2 commits .* CodeCommit repository api/);
  });

  it('maps an unknown commit to a terminal error and throttling to a retryable one', async () => {
    serve(GRAPH);
    codeCommit.on(GetMergeCommitCommand).rejectsOnce(
      Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      }),
    );

    await expect(history().compare(main, 'a', 'd')).rejects.toThrow(RetryableError);
    codeCommit.reset();
    serve(GRAPH);
    await expect(history().compare(main, null, 'nope')).rejects.toThrow(
      /GetMergeCommit nope into m in CodeCommit repository api failed: CommitIdDoesNotExistException/,
    );
  });

  it('asks whether head is on the branch by the merge base of head and the tip', async () => {
    serve(GRAPH, {}, 'x');

    expect(await history().compare(main, 'c', 'd')).toEqual({ status: 'not-on-branch' });
    expect(codeCommit).toHaveReceivedCommandTimes(GetMergeCommitCommand, 1);
    expect(codeCommit).toHaveReceivedCommandWith(GetMergeCommitCommand, {
      repositoryName: 'api',
      sourceCommitSpecifier: 'd',
      destinationCommitSpecifier: 'x',
    });
    expect(codeCommit).not.toHaveReceivedCommand(GetCommitCommand);
  });

  it('names a branch CodeCommit does not know, and one it answers without a commit', async () => {
    serve(GRAPH);

    await expect(history().compare({ ...main, branch: 'trunk' }, 'a', 'd')).rejects.toThrow(
      /GetBranch trunk in CodeCommit repository api failed: BranchDoesNotExistException/,
    );
    codeCommit.on(GetBranchCommand).resolves({ branch: { branchName: 'main' } });
    const failure = history().compare(main, 'a', 'd');
    await expect(failure).rejects.toThrow(TerminalError);
    await expect(failure).rejects.toThrow(/answered without a commit; check .*source\.branch/);
  });

  it.each([
    { name: 'maxCommits', options: { maxCommits: 0 } },
    { name: 'pullRequestWindow', options: { pullRequestWindow: 1.5 } },
  ])('refuses a $name that is not a whole number ≥ 1', ({ name, options }) => {
    expect(() => history(options)).toThrow(new RegExp(`${name} must be a whole number`));
  });
});

describe('CodeCommitSourceHistory reviews', () => {
  beforeEach(() => codeCommit.reset());

  const review = async (base: string, head: string, options = {}) => {
    const result = await history(options).compare(main, base, head);
    if (result.status !== 'ahead' && result.status !== 'diverged') throw new Error(result.status);
    return Object.fromEntries(result.commits.map((c) => [c.sha, c.review]));
  };

  it('gives every commit a three-way merged pull request brought its approvers, the author excluded', async () => {
    serve(GRAPH);
    pulls([
      {
        id: '12',
        source: 'f2',
        destination: 'd',
        mergeBase: 'b',
        mergeCommit: 'm',
        approvals: { bo: 'APPROVE', fay: 'APPROVE', cy: 'REVOKE' },
      },
    ]);

    expect(await review('d', 'm')).toEqual({
      f1: { pullRequest: 'api#12', approvedBy: ['bo'] },
      f2: { pullRequest: 'api#12', approvedBy: ['bo'] },
      m: { pullRequest: 'api#12', approvedBy: ['bo'] },
    });
  });

  it('reviews fast-forwarded and squashed commits, and leaves a direct push unreviewed', async () => {
    serve(GRAPH);
    pulls([
      // d squash-merged from a branch whose commits never reached main.
      { id: '3', source: 'zz', destination: 'c', mergeCommit: 'd', approvals: { cy: 'APPROVE' } },
      // c fast-forwarded: no merge commit.
      { id: '2', source: 'c', destination: 'b', approvals: { bo: 'APPROVE' } },
    ]);

    expect(await review('a', 'd')).toEqual({
      b: null,
      c: { pullRequest: 'api#2', approvedBy: ['bo'] },
      d: { pullRequest: 'api#3', approvedBy: ['cy'] },
    });
  });

  it('does not credit a pull request with main’s commits its branch merged in', async () => {
    // main: b ← c ← c2 ← e ← m (direct pushes c, c2, e); the feature merged main twice.
    const graph = {
      ...GRAPH,
      c2: ['c'],
      e: ['c2'],
      fm1: ['f1', 'c'],
      f3: ['fm1'],
      fm2: ['f3', 'c2'],
      m: ['e', 'fm2'],
    };
    serve(graph);
    pulls([
      {
        id: '9',
        source: 'fm2',
        destination: 'e',
        mergeBase: 'c2',
        mergeCommit: 'm',
        approvals: { bo: 'APPROVE' },
      },
    ]);

    const reviews = await review('b', 'm');

    const byPull = { pullRequest: 'api#9', approvedBy: ['bo'] };
    expect(reviews).toEqual({
      c: null,
      c2: null,
      e: null,
      f1: byPull,
      fm1: byPull,
      f3: byPull,
      fm2: byPull,
      m: byPull,
    });
  });

  it.each([
    { name: 'an approval rule is not satisfied', pull: { unsatisfied: ['Two approvers'] } },
    { name: 'only the author approved', pull: { approvals: { fay: 'APPROVE' } as const } },
    { name: 'the pull request was closed unmerged', pull: { merged: false } },
    { name: 'the pull request is of another repository', pull: { repository: 'web' } },
    { name: 'the pull request merged into another branch', pull: { into: 'develop' } },
  ])('leaves a commit unreviewed when $name', async ({ pull }) => {
    serve(GRAPH);
    pulls([{ id: '2', source: 'c', destination: 'b', approvals: { bo: 'APPROVE' }, ...pull }]);

    expect(await review('b', 'c')).toEqual({ c: null });
  });

  describe('an approval counts only for the revision that was merged', () => {
    const merged = (events: FakePull['events'], approvals: FakePull['approvals']) => {
      serve(GRAPH);
      pulls([{ id: '2', source: 'c', destination: 'b', approvals, events }]);
      return review('b', 'c');
    };

    it('refuses an approval of an earlier revision that the last revision still lists', async () => {
      // bo approved f1's revision; a push made rev-2 (c); CodeCommit still lists bo.
      expect(
        await merged([{ user: 'bo', status: 'APPROVE', revision: 'rev-2-1' }], { bo: 'APPROVE' }),
      ).toEqual({ c: null });
    });

    it('counts only the approvers of the last revision beside a stale one', async () => {
      expect(
        await merged(
          [
            { user: 'bo', status: 'APPROVE', revision: 'rev-2-1' },
            { user: 'cy', status: 'APPROVE' },
            { user: 'dee', status: 'APPROVE', revision: 'rev-2-1' },
          ],
          { bo: 'APPROVE', cy: 'APPROVE', dee: 'APPROVE' },
        ),
      ).toEqual({ c: { pullRequest: 'api#2', approvedBy: ['cy'] } });
    });

    it('counts an approval renewed on the last revision, whatever order the pages come in', async () => {
      expect(
        await merged(
          [
            { user: 'bo', status: 'APPROVE', revision: 'rev-2-1' },
            { user: 'cy', status: 'APPROVE', revision: 'rev-2-1' },
            { user: 'bo', status: 'APPROVE' },
          ],
          { bo: 'APPROVE', cy: 'APPROVE' },
        ),
      ).toEqual({ c: { pullRequest: 'api#2', approvedBy: ['bo'] } });
      expect(codeCommit).toHaveReceivedCommandTimes(DescribePullRequestEventsCommand, 2);
    });

    it('refuses an approval of the last revision revoked since', async () => {
      expect(
        await merged(
          [
            { user: 'bo', status: 'APPROVE' },
            { user: 'bo', status: 'REVOKE' },
          ],
          { bo: 'APPROVE' },
        ),
      ).toEqual({ c: null });
    });
  });

  it('stops reading pull requests once every commit has its review', async () => {
    serve(GRAPH);
    pulls([
      { id: '5', source: 'd', destination: 'c', approvals: { bo: 'APPROVE' } },
      { id: '4', source: 'c', destination: 'b', approvals: { bo: 'APPROVE' } },
    ]);

    await review('c', 'd');

    expect(codeCommit).toHaveReceivedCommandTimes(GetPullRequestCommand, 1);
  });

  it('pages through closed pull requests up to the window, and no further', async () => {
    serve(GRAPH);
    const list: FakePull[] = [
      { id: '7', source: 'x', destination: 'b', approvals: { bo: 'APPROVE' } },
      { id: '6', source: 'zz', destination: 'a', merged: false },
      { id: '5', source: 'd', destination: 'c', approvals: { cy: 'APPROVE' } },
    ];
    pulls(list, 1);

    expect(await review('c', 'd')).toEqual({ d: { pullRequest: 'api#5', approvedBy: ['cy'] } });
    expect(codeCommit).toHaveReceivedCommandTimes(ListPullRequestsCommand, 3);
    expect(codeCommit).toHaveReceivedCommandWith(ListPullRequestsCommand, {
      repositoryName: 'api',
      pullRequestStatus: 'CLOSED',
    });

    codeCommit.reset();
    serve(GRAPH);
    pulls(list, 1);
    expect(await review('c', 'd', { pullRequestWindow: 2 })).toEqual({ d: null });
    expect(codeCommit).toHaveReceivedCommandTimes(GetPullRequestCommand, 2);
  });
});

describe('userName', () => {
  it.each([
    ['arn:aws:iam::123456789012:user/ana', 'ana'],
    ['arn:aws:iam::123456789012:user/team/bo', 'bo'],
    ['arn:aws:sts::123456789012:assumed-role/Developer/cy@example.com', 'cy@example.com'],
    ['arn:aws:iam::123456789012:root', 'root'],
  ])('%s → %s', (arn, name) => {
    expect(userName(arn)).toBe(name);
  });
});
