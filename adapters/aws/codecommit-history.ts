import {
  type CodeCommitClient,
  type Commit as CodeCommitCommit,
  DescribePullRequestEventsCommand,
  EvaluatePullRequestApprovalRulesCommand,
  GetBranchCommand,
  GetCommitCommand,
  GetMergeCommitCommand,
  GetPullRequestApprovalStatesCommand,
  GetPullRequestCommand,
  ListPullRequestsCommand,
  type PullRequest,
  type PullRequestTarget,
} from '@aws-sdk/client-codecommit';
import {
  type Commit,
  type Review,
  type SourceComparison,
  type SourceHistory,
  TerminalError,
  type WatchedBranch,
} from '../../core/index.js';
import { awsError } from './errors.js';

export interface CodeCommitSourceHistoryOptions {
  readonly client: CodeCommitClient;
  /**
   * More new commits than this is refused: a release that large is not reviewable, and
   * the DynamoDB item holding it must stay under 400 KB.
   * @default 1000
   */
  readonly maxCommits?: number;
  /**
   * How many closed pull requests, in the order ListPullRequests gives them (newest first
   * in practice), are searched for the ones that merged the new commits.
   * @default 200
   */
  readonly pullRequestWindow?: number;
}

interface GitCommit {
  readonly sha: string;
  readonly parents: readonly string[];
  readonly author: string;
  readonly message: string;
}

/**
 * The {@link SourceHistory} of a CodeCommit repository. The role needs, on the repository,
 * `codecommit:GetBranch`, `codecommit:GetCommit`, `codecommit:GetMergeCommit`,
 * `codecommit:ListPullRequests`, `codecommit:GetPullRequest`,
 * `codecommit:GetPullRequestApprovalStates`, `codecommit:DescribePullRequestEvents` and
 * `codecommit:EvaluatePullRequestApprovalRules`.
 *
 * - `compare` first asks whether `head` is on the watched branch: GetBranch gives its tip,
 *   and `head` is on it if it is the tip or the merge base of `head` and the tip
 *   (GetMergeCommit's `baseCommitId`, `head` the source and the tip the destination);
 *   otherwise it is `not-on-branch`.
 * - Then `compare` finds the merge base of `head` and `base` (CodeCommit has no GetMergeBase:
 *   GetMergeCommit's `baseCommitId` is it), then walks GetCommit parents from `head` down
 *   to it. Past a merge commit a parent may already be in `base`'s history through
 *   another path, so from there each commit is checked (GetMergeCommit again) before it
 *   counts as new. More than `maxCommits` new commits is a `TerminalError`.
 * - A commit's review comes from the merged pull request into the watched branch (its
 *   target's `destinationReference` is `refs/heads/<branch>`) that brought it: its merge
 *   commit, or a commit reachable from its source commit and not from the destination
 *   commit it merged into (fast-forward and three-way merges; a squash merge brings its
 *   merge commit only). The pull requests are the repository's most recent
 *   `pullRequestWindow` CLOSED ones (ListPullRequests, GetPullRequest), searched until
 *   every new commit has a review. Approvers are the users (the last part of their ARN)
 *   whose approval state is APPROVE on the merged revision (the pull request's last, whose
 *   source commit is what was merged), the author excluded, and whose latest approval
 *   event (DescribePullRequestEvents) is an APPROVE given on that revision: an approval of
 *   an earlier revision is stale and does not count, even if CodeCommit carried it
 *   forward. The review counts only if every approval rule of the pull request is satisfied
 *   (EvaluatePullRequestApprovalRules) — an override of CodeCommit's rules does not
 *   count: Release Captain's own override records who accepted an unreviewed commit.
 * - SDK errors go through `awsError`: throttling and 5xx are retryable, the rest terminal.
 *
 * Limits: a commit merged by a pull request older than the window reads as unreviewed; a
 * commit with no approved pull request costs a search of the whole window; a commit's
 * message is its first line, so that a large release still fits one item.
 *
 * @example
 * const history = new CodeCommitSourceHistory({ client: new CodeCommitClient({}) });
 * await history.compare({ repository: 'api', branch: 'main' }, 'a1b2…', 'c3d4…');
 * // { status: 'ahead', commits: [{ sha: 'c3d4…', author: 'Ana', message: 'Fix retries',
 * //   review: { pullRequest: 'api#17', approvedBy: ['bo'] } }] }
 */
export class CodeCommitSourceHistory implements SourceHistory {
  readonly #client: CodeCommitClient;
  readonly #maxCommits: number;
  readonly #window: number;

  constructor(options: CodeCommitSourceHistoryOptions) {
    const maxCommits = options.maxCommits ?? 1000;
    const window = options.pullRequestWindow ?? 200;
    for (const [name, value] of [
      ['maxCommits', maxCommits],
      ['pullRequestWindow', window],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new TerminalError(`${name} must be a whole number ≥ 1, got ${value}.`);
      }
    }
    this.#client = options.client;
    this.#maxCommits = maxCommits;
    this.#window = window;
  }

  async compare(
    source: WatchedBranch,
    base: string | null,
    head: string,
  ): Promise<SourceComparison> {
    const graph = new Graph(this.#client, source.repository);
    const { branch } = source;
    if (!(await this.#onBranch(graph, branch, head))) return { status: 'not-on-branch' };
    if (base === null) {
      return { status: 'ahead', commits: await this.#reviewed(graph, branch, [head]) };
    }
    if (base === head) return { status: 'identical' };
    const mergeBase = await graph.mergeBase(head, base);
    if (mergeBase === head) return { status: 'behind' };
    const fresh = await graph.between(head, base, mergeBase, this.#maxCommits);
    return {
      status: mergeBase === base ? 'ahead' : 'diverged',
      commits: await this.#reviewed(graph, branch, fresh.reverse()),
    };
  }

  /** Whether `branch`'s tip is `head` or contains it (`head` is their merge base). */
  async #onBranch(graph: Graph, branch: string, head: string): Promise<boolean> {
    const { branch: found } = await graph.call(`GetBranch ${branch}`, (client) =>
      client.send(new GetBranchCommand({ repositoryName: graph.repository, branchName: branch })),
    );
    const tip = found?.commitId;
    if (tip === undefined) {
      throw new TerminalError(
        `GetBranch ${branch} in CodeCommit repository ${graph.repository} answered without a commit; check the pipeline's source.branch.`,
      );
    }
    return tip === head || (await graph.mergeBase(head, tip)) === head;
  }

  /** The commits with their reviews, in the order given. */
  async #reviewed(graph: Graph, branch: string, shas: readonly string[]): Promise<Commit[]> {
    const commits = await Promise.all(shas.map((sha) => graph.commit(sha)));
    const reviews = await this.#reviews(graph, branch, new Set(shas));
    return commits.map(({ sha, author, message }) => ({
      sha,
      author,
      message,
      review: reviews.get(sha) ?? null,
    }));
  }

  /** The approved review of each commit in `wanted` that has one, by a pull request into `branch`. */
  async #reviews(
    graph: Graph,
    branch: string,
    wanted: ReadonlySet<string>,
  ): Promise<Map<string, Review>> {
    const found = new Map<string, Review>();
    if (wanted.size === 0) return found;
    let listed = 0;
    let nextToken: string | undefined;
    do {
      const page = await graph.call('ListPullRequests', (client) =>
        client.send(
          new ListPullRequestsCommand({
            repositoryName: graph.repository,
            pullRequestStatus: 'CLOSED',
            maxResults: Math.min(100, this.#window - listed),
            nextToken,
          }),
        ),
      );
      for (const id of page.pullRequestIds ?? []) {
        listed++;
        const { pullRequest } = await graph.call(`GetPullRequest ${id}`, (client) =>
          client.send(new GetPullRequestCommand({ pullRequestId: id })),
        );
        for (const target of pullRequest?.pullRequestTargets ?? []) {
          if (
            target.repositoryName !== graph.repository ||
            target.destinationReference !== `refs/heads/${branch}` ||
            !target.mergeMetadata?.isMerged
          ) {
            continue;
          }
          const brought = await this.#brought(graph, target, wanted);
          const open = brought.filter((sha) => !found.has(sha));
          if (open.length === 0 || pullRequest === undefined) continue;
          const review = await this.#review(graph, pullRequest);
          if (review !== null) for (const sha of open) found.set(sha, review);
        }
        if (found.size === wanted.size) return found;
      }
      nextToken = page.nextToken;
    } while (nextToken !== undefined && listed < this.#window);
    return found;
  }

  /** Which of the wanted commits a merged pull request brought to its destination. */
  async #brought(
    graph: Graph,
    target: PullRequestTarget,
    wanted: ReadonlySet<string>,
  ): Promise<string[]> {
    const merge = target.mergeMetadata?.mergeCommitId;
    const brought = merge !== undefined && wanted.has(merge) ? [merge] : [];
    const { sourceCommit, destinationCommit } = target;
    if (sourceCommit !== undefined && destinationCommit !== undefined && wanted.has(sourceCommit)) {
      brought.push(
        ...(await graph.between(
          sourceCommit,
          destinationCommit,
          target.mergeBase,
          this.#maxCommits,
          wanted,
        )),
      );
    }
    return brought;
  }

  async #review(graph: Graph, pullRequest: PullRequest): Promise<Review | null> {
    const { pullRequestId, revisionId, authorArn } = pullRequest;
    if (pullRequestId === undefined || revisionId === undefined) return null;
    const what = `of pull request ${pullRequestId} revision ${revisionId}`;
    const [states, rules] = await Promise.all([
      graph.call(`GetPullRequestApprovalStates ${what}`, (client) =>
        client.send(new GetPullRequestApprovalStatesCommand({ pullRequestId, revisionId })),
      ),
      graph.call(`EvaluatePullRequestApprovalRules ${what}`, (client) =>
        client.send(new EvaluatePullRequestApprovalRulesCommand({ pullRequestId, revisionId })),
      ),
    ]);
    const unsatisfied = rules.evaluation?.approvalRulesNotSatisfied ?? [];
    const approving = (states.approvals ?? []).filter(
      (a) => a.approvalState === 'APPROVE' && a.userArn !== undefined && a.userArn !== authorArn,
    );
    if (approving.length === 0 || unsatisfied.length > 0) return null;
    const current = await this.#approvedOn(graph, pullRequestId, revisionId);
    const approvedBy = [
      ...new Set(
        approving.flatMap((a) =>
          a.userArn !== undefined && current.has(a.userArn) ? [userName(a.userArn)] : [],
        ),
      ),
    ];
    if (approvedBy.length === 0) return null;
    return { pullRequest: `${graph.repository}#${pullRequestId}`, approvedBy };
  }

  /**
   * The users (ARNs) whose latest approval event on the pull request approves `revisionId`:
   * a user who approved an earlier revision and not this one is not among them.
   */
  async #approvedOn(
    graph: Graph,
    pullRequestId: string,
    revisionId: string,
  ): Promise<ReadonlySet<string>> {
    const events: { at: number; actor: string; approves: boolean }[] = [];
    let nextToken: string | undefined;
    for (let page = 1; ; page++) {
      const answer = await graph.call(
        `DescribePullRequestEvents of pull request ${pullRequestId}`,
        (client) =>
          client.send(
            new DescribePullRequestEventsCommand({
              pullRequestId,
              pullRequestEventType: 'PULL_REQUEST_APPROVAL_STATE_CHANGED',
              maxResults: 100,
              nextToken,
            }),
          ),
      );
      for (const event of answer.pullRequestEvents ?? []) {
        const change = event.approvalStateChangedEventMetadata;
        if (event.actorArn === undefined || change === undefined) continue;
        events.push({
          at: event.eventDate?.getTime() ?? 0,
          actor: event.actorArn,
          approves: change.approvalStatus === 'APPROVE' && change.revisionId === revisionId,
        });
      }
      nextToken = answer.nextToken;
      if (nextToken === undefined) break;
      if (page === MAX_EVENT_PAGES) {
        throw new TerminalError(
          `Pull request ${pullRequestId} in CodeCommit repository ${graph.repository} has more than ${page * 100} approval events, more than Release Captain reads; approve its commits through a new pull request.`,
        );
      }
    }
    // Oldest first whatever order the pages came in, so that each actor's last event wins.
    events.sort((x, y) => x.at - y.at);
    const latest = new Map<string, boolean>();
    for (const { actor, approves } of events) latest.set(actor, approves);
    return new Set([...latest].filter(([, approves]) => approves).map(([actor]) => actor));
  }
}

/** 1,000 approval events: a pull request with more is not one anybody reviewed. */
const MAX_EVENT_PAGES = 10;

/** `arn:aws:iam::123456789012:user/ana` → `ana`; `…:assumed-role/Dev/ana` → `ana`. */
export function userName(arn: string): string {
  return arn.split('/').pop()?.split(':').pop() || arn;
}

/** One repository's commits and merge bases as read during one `compare`, each read once. */
class Graph {
  readonly #client: CodeCommitClient;
  readonly repository: string;
  readonly #commits = new Map<string, Promise<GitCommit>>();
  readonly #bases = new Map<string, Promise<string | undefined>>();

  constructor(client: CodeCommitClient, repository: string) {
    this.#client = client;
    this.repository = repository;
  }

  /** Calls CodeCommit; its errors become retryable or terminal ones naming `what`. */
  async call<Output>(what: string, send: (client: CodeCommitClient) => Promise<Output>) {
    try {
      return await send(this.#client);
    } catch (error) {
      throw awsError(error, `${what} in CodeCommit repository ${this.repository}`);
    }
  }

  commit(sha: string): Promise<GitCommit> {
    let commit = this.#commits.get(sha);
    if (commit === undefined) {
      commit = this.call(`GetCommit ${sha}`, (client) =>
        client.send(new GetCommitCommand({ repositoryName: this.repository, commitId: sha })),
      ).then(({ commit: found }: { commit?: CodeCommitCommit }) => ({
        sha,
        parents: found?.parents ?? [],
        author: found?.author?.name || found?.author?.email || 'unknown',
        message: (found?.message ?? '').split('\n', 1)[0] ?? '',
      }));
      this.#commits.set(sha, commit);
    }
    return commit;
  }

  /** The merge base of `source` and `destination`, `undefined` for unrelated histories. */
  mergeBase(source: string, destination: string): Promise<string | undefined> {
    const key = `${source}..${destination}`;
    let base = this.#bases.get(key);
    if (base === undefined) {
      base = this.call(`GetMergeCommit ${source} into ${destination}`, (client) =>
        client.send(
          new GetMergeCommitCommand({
            repositoryName: this.repository,
            sourceCommitSpecifier: source,
            destinationCommitSpecifier: destination,
          }),
        ),
      ).then((output) => output.baseCommitId || undefined);
      this.#bases.set(key, base);
    }
    return base;
  }

  /**
   * The commits reachable from `head` and not from `base`, newest first (breadth-first),
   * where `stop` is their merge base; only commits in `within`, if given. While the walk
   * follows a single chain from `head`, no commit above `stop` can be in `base`'s history
   * (it would be a nearer common ancestor); below a merge commit, each one is checked.
   */
  async between(
    head: string,
    base: string,
    stop: string | undefined,
    limit: number,
    within?: ReadonlySet<string>,
  ): Promise<string[]> {
    const found: string[] = [];
    const seen = new Set([head]);
    const queue = [{ sha: head, check: stop === undefined }];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const { sha, check } = next;
      if (sha === base || sha === stop || (within !== undefined && !within.has(sha))) continue;
      if (check && (await this.mergeBase(base, sha)) === sha) continue;
      if (found.length === limit) {
        throw new TerminalError(
          `${head} has more than ${limit} commits that ${base} has not in CodeCommit repository ${this.repository}, more than a release may hold. Record a release from a nearer commit first (push in smaller steps), or raise maxCommits.`,
        );
      }
      found.push(sha);
      const { parents } = await this.commit(sha);
      for (const parent of parents) {
        if (!seen.has(parent)) {
          seen.add(parent);
          queue.push({ sha: parent, check: check || parents.length > 1 });
        }
      }
    }
    return found;
  }
}
