import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Commit,
  InMemorySourceHistory,
  NotFoundError,
  RetryableError,
  type SourceComparison,
  TerminalError,
} from '../../../core/index.js';
import { type CommitChange, LocalGitRepository, runGit } from '../../../local/git-repository.js';
import { GitSourceHistory } from '../../../local/git-source-history.js';

const EXAMPLE = new URL('../../../examples/local-service/', import.meta.url);
const UNKNOWN = '0'.repeat(40);
const main = { repository: 'api', branch: 'main' };

const directories: string[] = [];
afterEach(async () => {
  await Promise.all(
    directories.splice(0).map((path) => rm(path, { recursive: true, force: true })),
  );
});

async function temporary(): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), 'captain-git-'));
  directories.push(path);
  return path;
}

async function repo() {
  const repository = await LocalGitRepository.open({ path: join(await temporary(), 'api') });
  const history = new GitSourceHistory({ repositories: { api: repository.path } });
  return { repository, history };
}

const service = (version: string, faultRate = 0) =>
  `${JSON.stringify({ version, faultRate, latencyMs: 20 })}\n`;

const status = async (path: string) =>
  (await runGit(['status', '--porcelain'], { cwd: path })).stdout.toString();

/**
 * main: a (the seed) → b (unreviewed) → c → d, its tip; `f` is on branch feature, off
 * `c`; `x` is on branch rewrite, off `b` (the history main is force-pushed to). The same
 * graph as the release recorder's tests, with real commits.
 */
async function graph() {
  const { repository, history } = await repo();
  const memory = new InMemorySourceHistory();
  const seed = await repository.head();
  const a = {
    sha: seed,
    commit: {
      sha: seed,
      author: 'Release Captain',
      message: 'Start from local-service',
      review: null,
    },
  };
  memory.commit('api', a.commit, []);
  /** Commits on `branch` in the repository, and the same commit in memory. */
  const commit = async (name: string, branch: string, reviewed: boolean) => {
    const parent = await repository.head(branch);
    const sha = await repository.commit({
      files: { 'service.json': service(name) },
      message: `change ${name}`,
      author: 'ana',
      branch,
      ...(reviewed ? { reviewedBy: ['bo'], pullRequest: `api#${name}` } : {}),
    });
    const review = reviewed ? { pullRequest: `api#${name}`, approvedBy: ['bo'] } : null;
    const made: Commit = { sha, author: 'ana', message: `change ${name}`, review };
    memory.commit('api', made, [parent]);
    return { sha, commit: made };
  };
  const b = await commit('b', 'main', false);
  const c = await commit('c', 'main', true);
  const d = await commit('d', 'main', true);
  await repository.setBranch('feature', c.sha);
  const f = await commit('f', 'feature', true);
  await repository.setBranch('rewrite', b.sha);
  const x = await commit('x', 'rewrite', true);
  memory.branch('api', 'main', d.sha);
  memory.branch('api', 'feature', f.sha);
  memory.branch('api', 'rewrite', x.sha);
  return { repository, history, memory, commits: { a, b, c, d, f, x } };
}

const outcome = (answer: Promise<SourceComparison>) =>
  answer.then(
    (value) => value,
    (error: Error) => ({ error: error.name, message: error.message }),
  );

describe('LocalGitRepository', () => {
  it('starts a new repository from the example service, on main, once', async () => {
    const path = join(await temporary(), 'local-service');

    const repository = await LocalGitRepository.open({ path });
    const head = await repository.head('main');
    const again = await LocalGitRepository.open({ path });

    const example = await readFile(new URL('service.json', EXAMPLE));
    expect(Buffer.from(await repository.show(head, 'service.json'))).toEqual(example);
    expect(Buffer.from(await repository.show(head, 'README.md'))).toEqual(
      await readFile(new URL('README.md', EXAMPLE)),
    );
    expect(await readFile(join(path, 'service.json'))).toEqual(example);
    expect(await again.head()).toBe(head);
    expect(await status(path)).toBe('');
  });

  it('commits files, keeps each version, and checks them out on main', async () => {
    const { repository } = await repo();
    const first = await repository.head();

    const second = await repository.commit({
      files: { 'service.json': service('2', 0.3), 'config/flags.json': '{}\n' },
      message: 'Make a third of the requests fail',
      author: 'ana',
    });

    expect(await repository.head()).toBe(second);
    expect(new TextDecoder().decode(await repository.show(second, 'service.json'))).toBe(
      service('2', 0.3),
    );
    expect(new TextDecoder().decode(await repository.show(first, 'service.json'))).toBe(
      '{ "version": "1", "faultRate": 0, "latencyMs": 20 }\n',
    );
    expect(await readFile(join(repository.path, 'config/flags.json'), 'utf8')).toBe('{}\n');
    expect(await status(repository.path)).toBe('');
  });

  it('leaves a person’s uncommitted edits of other files alone', async () => {
    const { repository } = await repo();
    await writeFile(join(repository.path, 'README.md'), 'edited by hand\n');

    await repository.commit({
      files: { 'service.json': service('2') },
      message: 'v2',
      author: 'ana',
    });

    expect(await status(repository.path)).toBe(' M README.md\n');
    expect(await readFile(join(repository.path, 'service.json'), 'utf8')).toBe(service('2'));
  });

  it('creates its own repository inside another one, never committing to the outer one', async () => {
    const outer = await temporary();
    await runGit(['init', '--quiet'], { cwd: outer });

    const repository = await LocalGitRepository.open({ path: join(outer, 'repos', 'api') });

    await expect(repository.head()).resolves.toMatch(/^[0-9a-f]{40}$/);
    const outerHead = await runGit(['rev-parse', '--verify', '--quiet', 'HEAD'], {
      cwd: outer,
      answers: [0, 1],
    });
    expect(outerHead.code).toBe(1);
  });

  it('starts from another seed when given one', async () => {
    const seed = await temporary();
    await mkdir(join(seed, 'src'));
    await writeFile(join(seed, 'src', 'main.txt'), 'hello');

    const repository = await LocalGitRepository.open({ path: join(await temporary(), 'r'), seed });

    const head = await repository.head();
    expect(new TextDecoder().decode(await repository.show(head, 'src/main.txt'))).toBe('hello');
    await expect(repository.show(head, 'service.json')).rejects.toThrow(
      `service.json is not in commit ${head.slice(0, 7)} of ${repository.path}.`,
    );
  });

  it('refuses a directory that holds files but no repository', async () => {
    const path = await temporary();
    await writeFile(join(path, 'notes.txt'), 'mine');

    await expect(LocalGitRepository.open({ path })).rejects.toThrow(
      `${path} has files but is not a git repository`,
    );
  });

  it.each<{ name: string; change: Partial<CommitChange>; error: string }>([
    { name: 'a path out of the repository', change: { files: { '../x': '' } }, error: '"../x"' },
    { name: 'a path into .git', change: { files: { '.git/config': '' } }, error: '".git/config"' },
    { name: 'an absolute path', change: { files: { '/etc/x': '' } }, error: '"/etc/x"' },
    { name: 'a directory', change: { files: { 'config/': '' } }, error: '"config/"' },
    { name: 'an empty message', change: { message: '  ' }, error: 'needs a message' },
    { name: 'an author git cannot record', change: { author: 'a <b>' }, error: 'author "a <b>"' },
    { name: 'a reviewer on two lines', change: { reviewedBy: ['bo\ncy'] }, error: 'reviewer' },
    { name: 'revision syntax as a branch', change: { branch: 'main~1' }, error: '"main~1"' },
    { name: 'a missing branch', change: { branch: 'trunk' }, error: "setBranch('trunk'" },
  ])('refuses to commit $name', async ({ change, error }) => {
    const { repository } = await repo();
    const head = await repository.head();

    await expect(
      repository.commit({ files: {}, message: 'm', author: 'ana', ...change }),
    ).rejects.toThrow(error);
    expect(await repository.head()).toBe(head);
  });

  it('names what show cannot find', async () => {
    const { repository } = await repo();
    const head = await repository.head();

    await expect(repository.show(head, 'nope.json')).rejects.toThrow(NotFoundError);
    await expect(repository.show(UNKNOWN, 'service.json')).rejects.toThrow(
      `Commit ${UNKNOWN} is not in repository ${repository.path}.`,
    );
    await expect(repository.show('main', 'service.json')).rejects.toThrow('full sha');
    await expect(repository.head('trunk')).rejects.toThrow(NotFoundError);
  });

  it('force-pushes the checked-out branch, working tree included', async () => {
    const { repository } = await repo();
    const a = await repository.head();
    await repository.commit({
      files: { 'service.json': service('2') },
      message: 'v2',
      author: 'ana',
    });

    await repository.setBranch('main', a);

    expect(await repository.head()).toBe(a);
    expect(await readFile(join(repository.path, 'service.json'), 'utf8')).toBe(
      '{ "version": "1", "faultRate": 0, "latencyMs": 20 }\n',
    );
    expect(await status(repository.path)).toBe('');
  });
});

describe('runGit', () => {
  it('fails with git’s own words', async () => {
    const { repository } = await repo();

    await expect(
      runGit(['rev-parse', '--verify', 'nope'], { cwd: repository.path }),
    ).rejects.toThrow(
      new TerminalError(
        `git rev-parse --verify nope failed in ${repository.path} (exit 128): fatal: Needed a single revision`,
      ),
    );
    await expect(runGit(['status'], { cwd: join(repository.path, 'missing') })).rejects.toThrow(
      'either git is not installed',
    );
  });

  it('stops a git that takes too long, as retryable', async () => {
    const path = await temporary();

    await expect(
      runGit(['-c', 'alias.wait=!sleep 0.3', 'wait'], { cwd: path, timeoutMs: 50 }),
    ).rejects.toThrow(RetryableError);
  });
});

describe('GitSourceHistory.compare', () => {
  it('reads reviews from trailers, leaving out the author’s own', async () => {
    const { repository, history } = await repo();
    const base = await repository.head();
    const commit = (author: string, extra: object, message = `by ${author}`) =>
      repository.commit({ files: { 'service.json': service(author) }, message, author, ...extra });
    const reviewed = await commit('ana', { reviewedBy: ['bo', 'cy', 'bo'], pullRequest: 'api#7' });
    const self = await commit('ana', { reviewedBy: ['Ana'], pullRequest: 'api#8' });
    const mixed = await commit('ana', { reviewedBy: ['ana', 'bo'], pullRequest: 'api#9' });
    const unreviewed = await commit('bo', { pullRequest: 'api#10' });
    const byHand = await commit(
      'cy',
      {},
      'Lower latency\n\nWhy: the canary is slow.\n\nReviewed-by: Bo <bo@example.com>',
    );

    const answer = await history.compare(main, base, byHand);

    expect(answer).toEqual({
      status: 'ahead',
      commits: [
        {
          sha: reviewed,
          author: 'ana',
          message: 'by ana',
          review: { pullRequest: 'api#7', approvedBy: ['bo', 'cy'] },
        },
        { sha: self, author: 'ana', message: 'by ana', review: null },
        {
          sha: mixed,
          author: 'ana',
          message: 'by ana',
          review: { pullRequest: 'api#9', approvedBy: ['bo'] },
        },
        { sha: unreviewed, author: 'bo', message: 'by bo', review: null },
        {
          sha: byHand,
          author: 'cy',
          message: 'Lower latency',
          review: { pullRequest: `api@${byHand.slice(0, 7)}`, approvedBy: ['Bo'] },
        },
      ],
    });
  });

  it('knows all five answers, a force-push included', async () => {
    const { repository, history, commits } = await graph();
    const { a, b, c, d, f, x } = commits;

    expect(await history.compare(main, null, d.sha)).toEqual({
      status: 'ahead',
      commits: [d.commit],
    });
    expect(await history.compare(main, a.sha, d.sha)).toEqual({
      status: 'ahead',
      commits: [b.commit, c.commit, d.commit],
    });
    expect(b.commit.review).toBeNull();
    expect(await history.compare(main, c.sha, c.sha)).toEqual({ status: 'identical' });
    expect(await history.compare(main, d.sha, b.sha)).toEqual({ status: 'behind' });
    expect(await history.compare(main, c.sha, f.sha)).toEqual({ status: 'not-on-branch' });
    expect(await history.compare(main, d.sha, x.sha)).toEqual({ status: 'not-on-branch' });

    await repository.setBranch('main', x.sha);

    expect(await history.compare(main, d.sha, x.sha)).toEqual({
      status: 'diverged',
      commits: [x.commit],
    });
    expect(await history.compare(main, c.sha, d.sha)).toEqual({ status: 'not-on-branch' });
  });

  it('names unknown repositories, commits and branches', async () => {
    const { history, commits } = await graph();

    await expect(
      history.compare({ ...main, repository: 'web' }, null, commits.a.sha),
    ).rejects.toThrow('Repository web is not a local repository');
    await expect(history.compare(main, null, 'zz')).rejects.toThrow(
      new NotFoundError('Commit zz is not in repository api.'),
    );
    await expect(
      history.compare({ ...main, branch: 'trunk' }, null, commits.a.sha),
    ).rejects.toThrow(new NotFoundError('Branch trunk is not in repository api.'));
    expect(() => new GitSourceHistory({ repositories: {}, maxCommits: 0 })).toThrow(TerminalError);
  });

  it('refuses more new commits than maxCommits', async () => {
    const { repository } = await repo();
    const base = await repository.head();
    for (const n of [1, 2, 3]) {
      await repository.commit({ files: {}, message: `empty ${n}`, author: 'ana' });
    }
    const history = new GitSourceHistory({ repositories: () => repository.path, maxCommits: 2 });

    await expect(history.compare(main, base, await repository.head())).rejects.toThrow(
      'is 3 commits ahead',
    );
  });

  it('agrees with InMemorySourceHistory on every pair of the same graph, before and after a force-push', async () => {
    const { repository, history, memory, commits } = await graph();
    const shas = Object.values(commits).map((commit) => commit.sha);
    const casesOf = (branches: readonly string[]) =>
      branches.flatMap((branch) =>
        [...shas, UNKNOWN, 'zz'].flatMap((head) =>
          [null, ...shas, UNKNOWN].map((base) => ({ branch, base, head })),
        ),
      );
    /** Each case with both answers; in batches, so that a few dozen gits run at once. */
    const compareAll = async (
      cases: readonly { branch: string; base: string | null; head: string }[],
    ) => {
      const answers: { git: object; memory: object }[] = [];
      for (let i = 0; i < cases.length; i += 16) {
        const batch = cases.slice(i, i + 16).map(async (c) => {
          const source = { repository: 'api', branch: c.branch };
          return {
            git: { ...c, answer: await outcome(history.compare(source, c.base, c.head)) },
            memory: { ...c, answer: await outcome(memory.compare(source, c.base, c.head)) },
          };
        });
        answers.push(...(await Promise.all(batch)));
      }
      return answers;
    };

    const before = await compareAll(casesOf(['main', 'feature', 'trunk']));
    await repository.setBranch('main', commits.x.sha);
    memory.branch('api', 'main', commits.x.sha);
    // Only main moved: the other branches answer as before.
    const after = await compareAll(casesOf(['main']));

    const all = [...before, ...after];
    expect(all.map(({ git }) => git)).toEqual(all.map(({ memory }) => memory));
    const statuses = all.map(({ git }) => {
      const answer = (git as { answer: { status?: string } }).answer;
      return answer.status ?? 'error';
    });
    expect([...new Set(statuses)].sort()).toEqual([
      'ahead',
      'behind',
      'diverged',
      'error',
      'identical',
      'not-on-branch',
    ]);
    // Hundreds of git processes: minutes on a loaded 2-core machine, not the default 5 s.
  }, 120_000);
});
