import { describe, expect, it } from 'vitest';
import {
  type ArtifactManifest,
  type Commit,
  ConflictError,
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemorySourceHistory,
  InMemoryWorkflowStarter,
  ManualClock,
  NotFoundError,
  PromotionService,
  RecordingEventPublisher,
  type Release,
  ReleaseRecorder,
  Topology,
} from '../../../core/index.js';
import { smallDefinition, T0 } from '../../support/fixtures.js';

const artifacts = (digest: string): ArtifactManifest => ({
  images: [{ name: 'api', repository: 'api', digest: `sha256:${digest}` }],
  files: [],
  dependencies: [],
});

const commit = (sha: string, reviewed = true): Commit => ({
  sha,
  author: 'ana',
  message: `change ${sha}`,
  review: reviewed ? { pullRequest: `#${sha}`, approvedBy: ['bo'] } : null,
});

const main = { repository: 'api', branch: 'main' };

/**
 * main: a → b → c → d (its tip); `x` branches off `b` (a rewritten history, once main is
 * force-pushed to it); `f` is on branch feature, off `c`.
 */
function repository(): InMemorySourceHistory {
  const history = new InMemorySourceHistory();
  history.commit('api', commit('a'), []);
  history.commit('api', commit('b', false), ['a']);
  history.commit('api', commit('c'), ['b']);
  history.commit('api', commit('d'), ['c']);
  history.commit('api', commit('x'), ['b']);
  history.commit('api', commit('f'), ['c']);
  history.branch('api', 'main', 'd');
  history.branch('api', 'feature', 'f');
  return history;
}

function world(releases = new InMemoryReleaseStore()) {
  const topology = new Topology(smallDefinition());
  const events = new RecordingEventPublisher();
  const clock = new ManualClock(T0);
  const service = new PromotionService(topology, {
    promotions: new InMemoryPromotionStore(),
    releases,
    deployments: new InMemoryDeploymentLog(),
    audit: new InMemoryAuditLog(),
    events,
    workflows: new InMemoryWorkflowStarter(),
    clock,
  });
  const history = repository();
  const recorder = new ReleaseRecorder(service, { releases, history, clock }, main);
  return { service, releases, events, recorder, history };
}

const created = (events: RecordingEventPublisher) =>
  events.events.filter((e) => e.type === 'Release Created').map((e) => e.detail.release);

describe('InMemorySourceHistory.compare', () => {
  const history = repository();

  it('lists the commits new in head, oldest first, with their reviews', async () => {
    expect(await history.compare(main, 'a', 'd')).toEqual({
      status: 'ahead',
      commits: [commit('b', false), commit('c'), commit('d')],
    });
  });

  it('knows a head that is behind, identical or diverged', async () => {
    const rewritten = repository();
    rewritten.branch('api', 'main', 'x');

    expect(await history.compare(main, 'd', 'b')).toEqual({ status: 'behind' });
    expect(await history.compare(main, 'c', 'c')).toEqual({ status: 'identical' });
    expect(await rewritten.compare(main, 'd', 'x')).toEqual({
      status: 'diverged',
      commits: [commit('x')],
    });
  });

  it.each([
    { name: 'a commit of another branch', base: 'c', head: 'f' },
    { name: 'a first release from another branch', base: null, head: 'f' },
    { name: 'history a force-push abandoned', base: 'd', head: 'x' },
    { name: 'a head behind base: the branch comes first', base: 'f', head: 'c', tip: 'b' },
  ])('answers not-on-branch for $name', async ({ base, head, tip }) => {
    const moved = repository();
    if (tip !== undefined) moved.branch('api', 'main', tip);

    expect(await moved.compare(main, base, head)).toEqual({ status: 'not-on-branch' });
  });

  it('takes the branch’s tip and every ancestor of it as on the branch', async () => {
    expect(await history.compare(main, 'c', 'd')).toMatchObject({ status: 'ahead' });
    expect(await history.compare(main, null, 'a')).toMatchObject({ status: 'ahead' });
    expect(await history.compare({ ...main, branch: 'feature' }, 'c', 'f')).toEqual({
      status: 'ahead',
      commits: [commit('f')],
    });
  });

  it('gives the head alone for a first release, and names unknown commits and branches', async () => {
    expect(await history.compare(main, null, 'c')).toEqual({
      status: 'ahead',
      commits: [commit('c')],
    });
    await expect(history.compare(main, 'a', 'zz')).rejects.toThrow(
      new NotFoundError('Commit zz is not in repository api.'),
    );
    await expect(history.compare({ ...main, branch: 'trunk' }, 'a', 'c')).rejects.toThrow(
      new NotFoundError('Branch trunk is not in repository api.'),
    );
    expect(() => history.commit('api', commit('y'), ['nope'])).toThrow(NotFoundError);
    expect(() => history.branch('api', 'main', 'nope')).toThrow(NotFoundError);
  });
});

describe('ReleaseRecorder.record', () => {
  it('records r1 with the head alone, then r2 with every commit since r1’s head', async () => {
    const { recorder, releases, events } = world();

    const first = await recorder.record({ headCommit: 'a', artifacts: artifacts('1') });
    const second = await recorder.record({ headCommit: 'c', artifacts: artifacts('2') });

    expect(first).toMatchObject({ created: true, release: { number: 1, commits: [commit('a')] } });
    expect(second).toMatchObject({
      created: true,
      release: { number: 2, headCommit: 'c', commits: [commit('b', false), commit('c')] },
    });
    expect(await releases.getRelease('api', 2)).toEqual((second as { release: Release }).release);
    expect(created(events)).toEqual([1, 2]);
  });

  it('gives the same release for a repeated build of the newest head', async () => {
    const { recorder, events } = world();
    const first = await recorder.record({ headCommit: 'c', artifacts: artifacts('1') });

    const again = await recorder.record({ headCommit: 'c', artifacts: artifacts('1') });

    expect(again).toEqual({ release: (first as { release: Release }).release, created: false });
    expect(created(events)).toEqual([1]);
  });

  it('never records a commit a newer release already contains (builds finishing out of order)', async () => {
    const { recorder, releases, events } = world();
    await recorder.record({ headCommit: 'd', artifacts: artifacts('d') });

    const late = await recorder.record({ headCommit: 'b', artifacts: artifacts('b') });

    expect(late).toEqual({
      skipped:
        'b is already part of r1 (head d); a release never takes api back to an older commit.',
    });
    expect(await releases.listReleases('api', { limit: 10 })).toHaveLength(1);
    expect(created(events)).toEqual([1]);
  });

  it('records a rewritten branch with only the commits since the histories split', async () => {
    const { recorder, history } = world();
    await recorder.record({ headCommit: 'd', artifacts: artifacts('d') });
    history.branch('api', 'main', 'x');

    const rewritten = await recorder.record({ headCommit: 'x', artifacts: artifacts('x') });

    expect(rewritten).toMatchObject({ release: { number: 2, commits: [commit('x')] } });
  });

  it('never records a build that finishes after a force-push abandoned its commit', async () => {
    const { recorder, releases, events, history } = world();
    await recorder.record({ headCommit: 'c', artifacts: artifacts('c') });
    // d is pushed, then main is force-pushed to x; x's build finishes first.
    history.branch('api', 'main', 'x');
    await recorder.record({ headCommit: 'x', artifacts: artifacts('x') });

    const late = await recorder.record({ headCommit: 'd', artifacts: artifacts('d') });

    expect(late).toEqual({
      skipped:
        "d is not on branch main of api (its tip neither is nor contains it): a build of another branch, or of a commit a force-push abandoned. Only main's commits become releases of api.",
    });
    expect((await releases.listReleases('api', { limit: 10 })).map((r) => r.headCommit)).toEqual([
      'x',
      'c',
    ]);
    expect(created(events)).toEqual([1, 2]);
  });

  it.each([
    { name: 'as the first release', before: [] },
    { name: 'after a release of main', before: ['c'] },
  ])('never records a build of a feature-branch commit $name', async ({ before }) => {
    const { recorder, releases, events } = world();
    for (const head of before)
      await recorder.record({ headCommit: head, artifacts: artifacts(head) });

    const feature = await recorder.record({ headCommit: 'f', artifacts: artifacts('f') });

    expect(feature).toEqual({ skipped: expect.stringMatching(/^f is not on branch main of api/) });
    expect(await releases.listReleases('api', { limit: 10 })).toHaveLength(before.length);
    expect(created(events)).toHaveLength(before.length);
  });

  it('finishes a release a crash left stored but unannounced before recording the next', async () => {
    const { recorder, releases, events, service } = world();
    await recorder.record({ headCommit: 'a', artifacts: artifacts('a') });
    // The process died after storing r2 and before its createRelease rule ran.
    await releases.createRelease({
      pipeline: 'api',
      number: 2,
      headCommit: 'c',
      commits: [commit('b', false), commit('c')],
      artifacts: artifacts('c'),
      createdAt: T0,
    });

    const next = await recorder.record({ headCommit: 'd', artifacts: artifacts('d') });

    expect(next).toMatchObject({ release: { number: 3, commits: [commit('d')] } });
    expect(created(events)).toEqual([1, 2, 3]);
    expect((await service.state()).meta.latestRelease).toBe(3);
  });

  it('retrying the crashed build itself announces its release once', async () => {
    const { recorder, releases, events } = world();
    const stored: Release = {
      pipeline: 'api',
      number: 1,
      headCommit: 'c',
      commits: [commit('c')],
      artifacts: artifacts('c'),
      createdAt: T0,
    };
    await releases.createRelease(stored);

    expect(await recorder.record({ headCommit: 'c', artifacts: artifacts('c') })).toEqual({
      release: stored,
      created: false,
    });
    await recorder.record({ headCommit: 'c', artifacts: artifacts('c') });
    expect(created(events)).toEqual([1]);
  });

  it('loses a race for a number gracefully: compares again with the winner’s head', async () => {
    /** A store where another build records `d` as r1 just before this one writes. */
    class RacedStore extends InMemoryReleaseStore {
      raced = false;
      override async createRelease(release: Release): Promise<void> {
        if (!this.raced) {
          this.raced = true;
          await super.createRelease({ ...release, headCommit: 'd', commits: [commit('d')] });
        }
        await super.createRelease(release);
      }
    }
    const { recorder, releases } = world(new RacedStore());

    const result = await recorder.record({ headCommit: 'c', artifacts: artifacts('c') });

    expect(result).toEqual({
      skipped:
        'c is already part of r1 (head d); a release never takes api back to an older commit.',
    });
    expect((await releases.getRelease('api', 1))?.headCommit).toBe('d');
  });

  it('gives up after repeated conflicts with the store’s error', async () => {
    class AlwaysConflicting extends InMemoryReleaseStore {
      override async createRelease(): Promise<void> {
        throw new ConflictError('someone else, again');
      }
    }
    const { recorder } = world(new AlwaysConflicting());

    await expect(recorder.record({ headCommit: 'a', artifacts: artifacts('a') })).rejects.toThrow(
      'someone else, again',
    );
  });
});
