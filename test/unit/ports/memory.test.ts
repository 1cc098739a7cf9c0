import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  createRelease,
  FakeAlarmMonitor,
  FakeDeployer,
  FakeMetricSource,
  InMemoryArtifactStore,
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemoryWorkflowStarter,
  ManualClock,
  pipelineEvent,
  RecordingEventPublisher,
  reconcile,
  Topology,
} from '../../../core/index.js';
import { release, smallDefinition, T0, target } from '../../support/fixtures.js';

const topology = new Topology(smallDefinition());

describe('InMemoryPromotionStore', () => {
  it('loads fresh stages, then what was saved', async () => {
    const store = new InMemoryPromotionStore();
    const read = await store.load(topology);
    expect(read.stages.beta).toMatchObject({
      version: 0,
      run: null,
      targets: { 'beta-t1': { deployed: null, approved: [] } },
    });

    const t = createRelease({ topology, now: T0 }, read, { release: release(1) });
    await store.save('api', t);

    const again = await store.load(topology);
    expect(again.stages.beta).toMatchObject({ version: 1, run: { release: 1 } });
    expect(again.meta).toMatchObject({ version: 1, latestRelease: 1 });
  });

  it('refuses a write based on a stale read (a lost race)', async () => {
    const store = new InMemoryPromotionStore();
    const read = await store.load(topology);
    await store.save('api', createRelease({ topology, now: T0 }, read, { release: release(1) }));

    // Another request decided differently (later) on the same read.
    const later = '2026-11-23T11:00:00.000Z';
    const stale = createRelease({ topology, now: later }, read, { release: release(1) });
    await expect(store.save('api', stale)).rejects.toThrow(ConflictError);
    // The meta item is the same either way (done already); beta's run differs.
    await expect(store.save('api', stale)).rejects.toThrow(
      'Stage beta of api changed (version 1, read 0); reload and retry.',
    );
  });

  it('refuses a stale stage write', async () => {
    const store = new InMemoryPromotionStore();
    const read = await store.load(topology);
    await store.save('api', createRelease({ topology, now: T0 }, read, { release: release(1) }));
    const full = createRelease({ topology, now: '2026-11-23T11:00:00.000Z' }, read, {
      release: release(1),
    });
    const stageOnly = { ...full, writes: full.writes.filter((w) => w.item === 'stage') };
    await expect(store.save('api', stageOnly)).rejects.toThrow(
      'Stage beta of api changed (version 1, read 0); reload and retry.',
    );
  });

  it('can simulate a crash between two writes', async () => {
    const store = new InMemoryPromotionStore();
    const read = await store.load(topology);
    store.failAfterWrites = 1;
    await expect(
      store.save('api', createRelease({ topology, now: T0 }, read, { release: release(1) })),
    ).rejects.toThrow('simulated crash between two writes');
    // Causes before effects: the meta item (with Release Created) landed, beta's take (with
    // Stage Started) did not. The next decision, here the reconciler, completes it.
    const after = await store.load(topology);
    expect(after.meta.latestRelease).toBe(1);
    expect(after.stages.beta?.version).toBe(0);
    expect(store.committed.flatMap((e) => e.events.map((event) => event.type))).toEqual([
      'Release Created',
    ]);

    await store.save('api', reconcile({ topology, now: T0 }, after, {}));
    expect((await store.load(topology)).stages.beta?.run?.release).toBe(1);
    expect(store.committed.flatMap((e) => e.events.map((event) => event.type))).toEqual([
      'Release Created',
      'Stage Started',
    ]);
  });
});

describe('InMemoryReleaseStore', () => {
  it('keeps releases immutable: the same release twice is fine, a different one conflicts', async () => {
    const store = new InMemoryReleaseStore();
    await store.createRelease(release(1));
    await store.createRelease(release(1));
    await expect(store.createRelease(release(1, { headCommit: 'other' }))).rejects.toThrow(
      'Release r1 of api already exists with other contents; releases are immutable.',
    );
  });

  it('lists newest first, pages back, and records outcomes per stage', async () => {
    const store = new InMemoryReleaseStore();
    for (const n of [1, 2, 3]) await store.createRelease(release(n));
    await store.createRelease({ ...release(1), pipeline: 'other' });

    expect((await store.listReleases('api', { limit: 2 })).map((r) => r.number)).toEqual([3, 2]);
    expect((await store.listReleases('api', { limit: 5, before: 3 })).map((r) => r.number)).toEqual(
      [2, 1],
    );
    expect(await store.getRelease('api', 9)).toBeNull();

    await store.recordOutcomes('api', [
      { release: 2, stage: 'beta', outcome: { status: 'approved', at: T0 } },
      { release: 2, stage: 'gamma', outcome: { status: 'pending', at: T0 } },
    ]);
    // An old outcome delivered again, late, does not overwrite the newer one.
    await store.recordOutcomes('api', [
      { release: 2, stage: 'beta', outcome: { status: 'pending', at: T0 } },
    ]);
    expect(await store.getProgress('api', 2)).toEqual({
      release: 2,
      stages: { beta: { status: 'approved', at: T0 }, gamma: { status: 'pending', at: T0 } },
    });
  });
});

describe('logs', () => {
  it('keeps a deployment once, newest first per target', async () => {
    const log = new InMemoryDeploymentLog();
    const record = {
      target: 't',
      stage: 's',
      kind: 'normal' as const,
      from: null,
      to: 1,
      result: 'succeeded' as const,
      startedAt: T0,
      finishedAt: T0,
      reason: null,
    };
    await log.record('api', [
      record,
      record,
      { ...record, to: 2, finishedAt: '2026-11-23T11:00:00.000Z' },
    ]);
    expect((await log.history('api', 't', 10)).map((r) => r.to)).toEqual([2, 1]);
    expect(await log.history('other', 't', 10)).toEqual([]);
  });

  it('lists audit entries newest first', async () => {
    const audit = new InMemoryAuditLog();
    await audit.append('api', [
      { at: T0, stage: null, by: 'a', action: 'one', reason: 'x' },
      { at: T0, stage: null, by: 'b', action: 'two', reason: 'y' },
    ]);
    expect((await audit.list('api', 1)).map((e) => e.action)).toEqual(['two']);
  });

  it('drops duplicate events by id', async () => {
    const publisher = new RecordingEventPublisher();
    const event = pipelineEvent({
      type: 'Stage Approved',
      pipeline: 'api',
      stage: 'gamma',
      release: 42,
      occurrence: 7,
      at: T0,
    });
    await publisher.publish([event, event]);
    expect(publisher.events).toEqual([event]);
    expect(publisher.duplicates).toBe(1);
    expect(event.id).toBe('api/gamma/r42/Stage Approved/7');
  });
});

describe('fakes of the services', () => {
  it('starts one deployment per idempotency key and finishes it when told', async () => {
    const deployer = new FakeDeployer();
    const t = target('t') as never;
    const request = {
      pipeline: 'api',
      target: t,
      release: release(1),
      kind: 'normal' as const,
      idempotencyKey: 'api_beta_r1-1/t',
    };
    const first = await deployer.startDeployment(request);
    const again = await deployer.startDeployment(request);
    expect(again).toEqual(first);
    expect(deployer.requests).toHaveLength(1);
    expect(await deployer.getDeployment(t, first.deploymentId)).toEqual({ status: 'in-progress' });
    deployer.finish(first.deploymentId, { status: 'failed', reason: 'health checks' });
    expect(await deployer.getDeployment(t, first.deploymentId)).toEqual({
      status: 'failed',
      reason: 'health checks',
    });
    await expect(deployer.getDeployment(t, 'd-9')).rejects.toThrow('No deployment d-9.');
    expect(() => deployer.finish('d-9', { status: 'succeeded' })).toThrow('No deployment d-9.');
  });

  it('reports alarm states, and when each last fired if it did since the time asked', async () => {
    const alarms = new FakeAlarmMonitor();
    alarms.set('a', 'ALARM', T0);
    alarms.set('a', 'OK');
    alarms.set('b', 'ALARM');
    const since = (offsetSeconds: number) => ({
      since: new Date(Date.parse(T0) + offsetSeconds * 1000),
    });
    expect(await alarms.describeAlarms(['a', 'b', 'c'], since(-60))).toEqual({
      a: { state: 'OK', lastAlarmAt: T0 },
      b: { state: 'ALARM', lastAlarmAt: null },
      c: { state: 'MISSING', lastAlarmAt: null },
    });
    // An ALARM before the look-back, or with none asked, is not in the history read.
    expect((await alarms.describeAlarms(['a'], since(60))).a?.lastAlarmAt).toBeNull();
    expect((await alarms.describeAlarms(['a'])).a?.lastAlarmAt).toBeNull();
  });

  it('counts data points of the named targets inside the window', async () => {
    const metrics = new FakeMetricSource();
    metrics.add('RequestCount', 't1', new Date('2026-11-23T10:00:00Z'), 5);
    metrics.add('RequestCount', 't2', new Date('2026-11-23T10:30:00Z'), 7);
    metrics.add('RequestCount', 't1', new Date('2026-11-23T11:00:00Z'), 100);
    metrics.add('Faults', 't1', new Date('2026-11-23T10:10:00Z'), 1);
    const count = await metrics.countDataPoints({
      metric: 'RequestCount',
      targets: [target('t1') as never, target('t2') as never],
      from: new Date('2026-11-23T10:00:00Z'),
      to: new Date('2026-11-23T11:00:00Z'),
    });
    expect(count).toEqual({ t1: 5, t2: 7 });
  });

  it('stores artifacts by content and refuses bytes that do not match their sha256', async () => {
    const store = new InMemoryArtifactStore();
    const bytes = new TextEncoder().encode('hello');
    const file = await store.putFile('api', 'hello.txt', bytes);
    expect(file).toEqual({
      name: 'hello.txt',
      key: 'api/artifacts/sha256/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
      sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    });
    expect(new TextDecoder().decode(await store.getFile(file))).toBe('hello');

    const manifestKey = await store.putManifest('api', 1, {
      images: [],
      files: [file],
      dependencies: [],
    });
    expect(manifestKey).toMatch(/^api\/artifacts\/sha256\/[0-9a-f]{64}$/);

    store.tamper(file.key, new TextEncoder().encode('evil'));
    await expect(store.getFile(file)).rejects.toThrow(
      /^Artifact api\/artifacts\/sha256\/2cf2.* has sha256 .*, expected 2cf2.*: refusing to deploy it\.$/,
    );
    await expect(store.getFile({ ...file, key: 'nope' })).rejects.toThrow('No artifact at nope.');
  });

  it('starts an execution name once', async () => {
    const starter = new InMemoryWorkflowStarter();
    const run = {
      stage: 'beta',
      seq: 1,
      kind: 'normal' as const,
      release: 1,
      attempt: 1,
      executionName: 'api_beta_r1-1',
      targets: ['beta-t1'],
    };
    expect(await starter.startRun('api', run)).toBe('started');
    expect(await starter.startRun('api', run)).toBe('already-started');
    expect(starter.started).toHaveLength(1);
  });

  it('moves the clock only when told', () => {
    const clock = new ManualClock(T0);
    clock.advance(90);
    expect(clock.now().toISOString()).toBe('2026-11-23T10:01:30.000Z');
  });
});
