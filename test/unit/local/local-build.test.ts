import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BuiltCommit,
  InMemoryArtifactStore,
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemoryWorkflowStarter,
  ManualClock,
  NotFoundError,
  PromotionService,
  RecordingEventPublisher,
  type RecordResult,
  ReleaseRecorder,
  TerminalError,
  Topology,
} from '../../../core/index.js';
import { LocalGitRepository } from '../../../local/git-repository.js';
import { GitSourceHistory } from '../../../local/git-source-history.js';
import { type CommitFiles, LocalBuild, LocalBuildStarter } from '../../../local/local-build.js';
import { smallDefinition, T0 } from '../../support/fixtures.js';

const directories: string[] = [];
afterEach(async () => {
  await Promise.all(
    directories.splice(0).map((path) => rm(path, { recursive: true, force: true })),
  );
});

async function repository(seed?: string): Promise<LocalGitRepository> {
  const path = await mkdtemp(join(tmpdir(), 'captain-build-'));
  directories.push(path);
  return LocalGitRepository.open({
    path: join(path, 'api'),
    ...(seed === undefined ? {} : { seed }),
  });
}

const service = (version: string, faultRate = 0) =>
  `${JSON.stringify({ version, faultRate, latencyMs: 20 })}\n`;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A release recorder stand-in that keeps what it was handed. */
function recording(result: RecordResult = { skipped: 'recorded by the test' }) {
  const calls: { built: BuiltCommit; pipeline: string }[] = [];
  const record = async (built: BuiltCommit, pipeline: string) => {
    calls.push({ built, pipeline });
    return result;
  };
  return { calls, record };
}

/** A repository whose every read waits for the test to let it go. */
class GatedFiles implements CommitFiles {
  readonly #inner: CommitFiles;
  #open: () => void = () => {};
  readonly #gate = new Promise<void>((resolve) => {
    this.#open = resolve;
  });
  reads = 0;

  constructor(inner: CommitFiles) {
    this.#inner = inner;
  }

  async show(sha: string, path: string): Promise<Uint8Array> {
    this.reads++;
    await this.#gate;
    return this.#inner.show(sha, path);
  }

  open(): void {
    this.#open();
  }
}

describe('LocalBuild', () => {
  it('stores service.json content-addressed and records the release with its manifest', async () => {
    const repo = await repository();
    const text = service('2', 0.05);
    const commit = await repo.commit({
      files: { 'service.json': text },
      message: 'v2',
      author: 'ana',
    });
    const artifacts = new InMemoryArtifactStore();
    const { calls, record } = recording();

    const result = await new LocalBuild({ artifacts, record }).build({
      pipeline: 'api',
      commit,
      repository: repo,
    });

    expect(result).toEqual({ skipped: 'recorded by the test' });
    const file = { name: 'service.json', key: expect.any(String), sha256: sha256(text) };
    expect(calls).toEqual([
      {
        pipeline: 'api',
        built: { headCommit: commit, artifacts: { images: [], files: [file], dependencies: [] } },
      },
    ]);
    const stored = calls[0]?.built.artifacts.files[0];
    expect(stored?.key).toContain(sha256(text));
    expect(new TextDecoder().decode(await artifacts.getFile(stored ?? file))).toBe(text);
  });

  it.each([
    { name: 'a fault rate above 1', text: service('2', 7), problem: 'faultRate' },
    { name: 'a missing version', text: '{ "faultRate": 0, "latencyMs": 1 }', problem: 'version' },
    {
      name: 'a negative latency',
      text: '{ "version": "2", "faultRate": 0, "latencyMs": -5 }',
      problem: 'latencyMs',
    },
    { name: 'text that is not JSON', text: 'faultRate = 0.5', problem: 'JSON:' },
  ])('refuses $name, naming the commit and the field', async ({ text, problem }) => {
    const repo = await repository();
    const commit = await repo.commit({
      files: { 'service.json': text },
      message: 'bad',
      author: 'ana',
    });
    const { calls, record } = recording();
    const build = new LocalBuild({ artifacts: new InMemoryArtifactStore(), record });

    const refused = build.build({ pipeline: 'api', commit, repository: repo });

    await expect(refused).rejects.toThrow(TerminalError);
    await expect(refused).rejects.toThrow(
      new RegExp(
        `^Commit ${commit.slice(0, 7)} of api cannot be built: service\\.json is not.*${problem}`,
      ),
    );
    expect(calls).toEqual([]);
  });

  it('refuses a commit without service.json', async () => {
    const seed = await mkdtemp(join(tmpdir(), 'captain-seed-'));
    directories.push(seed);
    await writeFile(join(seed, 'README.md'), 'no service here\n');
    const repo = await repository(seed);
    const { record } = recording();

    await expect(
      new LocalBuild({ artifacts: new InMemoryArtifactStore(), record }).build({
        pipeline: 'api',
        commit: await repo.head(),
        repository: repo,
      }),
    ).rejects.toThrow(NotFoundError);
  });
});

describe('LocalBuildStarter', () => {
  const request = (commit: string) => ({
    pipeline: 'api',
    commit,
    previousCommit: null,
    pushedBy: 'ana',
  });

  it('builds a pipeline’s commit once, however often it is asked', async () => {
    const repo = await repository();
    const gated = new GatedFiles(repo);
    const { calls, record } = recording();
    const artifacts = new InMemoryArtifactStore();
    const builds = new LocalBuildStarter({
      build: new LocalBuild({ artifacts, record }),
      repository: () => gated,
    });
    const commit = await repo.head();

    const first = await builds.startBuild(request(commit));
    const second = await builds.startBuild({ ...request(commit), pushedBy: 'bo' });
    const running = builds.builds();
    gated.open();
    await builds.drain();
    const third = await builds.startBuild(request(commit));

    expect(first).toEqual({ buildId: `api:${commit}` });
    expect([second, third]).toEqual([first, first]);
    expect(running).toEqual([
      {
        id: first.buildId,
        pipeline: 'api',
        commit,
        previousCommit: null,
        pushedBy: 'ana',
        status: 'running',
      },
    ]);
    expect(builds.builds()).toEqual([
      { ...running[0], status: 'succeeded', result: { skipped: 'recorded by the test' } },
    ]);
    expect(gated.reads).toBe(1);
    expect(calls).toHaveLength(1);
  });

  it('records a failed build with its reason, and builds other commits apart', async () => {
    const repo = await repository();
    const good = await repo.head();
    const bad = await repo.commit({
      files: { 'service.json': service('2', 7) },
      message: 'Fail everything',
      author: 'ana',
    });
    const { calls, record } = recording();
    const builds = new LocalBuildStarter({
      build: new LocalBuild({ artifacts: new InMemoryArtifactStore(), record }),
      repository: () => repo,
    });

    await builds.startBuild(request(bad));
    await builds.startBuild(request(good));
    await builds.drain();

    expect(builds.builds()).toEqual([
      expect.objectContaining({
        commit: bad,
        status: 'failed',
        error: expect.stringMatching(/^Commit \w{7} of api cannot be built: .*faultRate/),
      }),
      expect.objectContaining({ commit: good, status: 'succeeded' }),
    ]);
    expect(calls.map(({ built }) => built.headCommit)).toEqual([good]);
  });

  it('refuses a pipeline it has no repository for', async () => {
    const builds = new LocalBuildStarter({
      build: new LocalBuild({ artifacts: new InMemoryArtifactStore(), record: recording().record }),
      repository: () => undefined,
    });

    await expect(builds.startBuild(request('a'.repeat(40)))).rejects.toThrow(
      'Pipeline api has no local repository',
    );
    expect(builds.builds()).toEqual([]);
  });
});

describe('a push to the local repository, built and recorded', () => {
  it('records r1 with its head alone, then r2 with the two newer commits and their reviews', async () => {
    const repo = await repository();
    const clock = new ManualClock(T0);
    const releases = new InMemoryReleaseStore();
    const events = new RecordingEventPublisher();
    const promotion = new PromotionService(new Topology(smallDefinition()), {
      promotions: new InMemoryPromotionStore(),
      releases,
      deployments: new InMemoryDeploymentLog(),
      audit: new InMemoryAuditLog(),
      events,
      workflows: new InMemoryWorkflowStarter(),
      clock,
    });
    const history = new GitSourceHistory({ repositories: { api: repo.path } });
    const recorder = new ReleaseRecorder(
      promotion,
      { releases, history, clock },
      { repository: 'api', branch: 'main' },
    );
    const artifacts = new InMemoryArtifactStore();
    const builds = new LocalBuildStarter({
      build: new LocalBuild({ artifacts, record: (built) => recorder.record(built) }),
      repository: () => repo,
    });
    const push = async (version: string, author: string, reviewedBy?: string[]) => {
      const previousCommit = await repo.head();
      const commit = await repo.commit({
        files: { 'service.json': service(version) },
        message: `Version ${version}`,
        author,
        ...(reviewedBy === undefined ? {} : { reviewedBy, pullRequest: `api#${version}` }),
      });
      return { pipeline: 'api', commit, previousCommit, pushedBy: author };
    };

    const one = await push('1.1', 'ana', ['bo']);
    await builds.startBuild(one);
    await builds.drain();
    const two = await push('1.2', 'bo');
    const three = await push('1.3', 'cy', ['ana', 'cy']);
    await builds.startBuild(three);
    await builds.drain();
    await builds.startBuild(two); // a late build of a commit r2 already holds
    await builds.drain();

    const [r2, r1] = await releases.listReleases('api', { limit: 10 });
    expect(r1).toMatchObject({
      number: 1,
      headCommit: one.commit,
      commits: [
        {
          sha: one.commit,
          author: 'ana',
          message: 'Version 1.1',
          review: { pullRequest: 'api#1.1', approvedBy: ['bo'] },
        },
      ],
    });
    expect(r2).toMatchObject({
      number: 2,
      headCommit: three.commit,
      commits: [
        { sha: two.commit, author: 'bo', message: 'Version 1.2', review: null },
        {
          sha: three.commit,
          author: 'cy',
          message: 'Version 1.3',
          review: { pullRequest: 'api#1.3', approvedBy: ['ana'] },
        },
      ],
      artifacts: {
        images: [],
        files: [{ name: 'service.json', sha256: sha256(service('1.3')) }],
        dependencies: [],
      },
    });
    expect(
      new TextDecoder().decode(
        await artifacts.getFile(r2?.artifacts.files[0] ?? { name: '', key: '', sha256: '' }),
      ),
    ).toBe(service('1.3'));
    expect(
      events.events.filter((e) => e.type === 'Release Created').map((e) => e.detail.release),
    ).toEqual([1, 2]);
    expect(
      builds.builds().map(({ status, result }) => [status, result && 'skipped' in result]),
    ).toEqual([
      ['succeeded', false],
      ['succeeded', false],
      ['succeeded', true],
    ]);
  });
});
