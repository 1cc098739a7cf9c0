import { describe, expect, it } from 'vitest';
import {
  admitTargets,
  chooseRollbackRelease,
  InMemoryPromotionStore,
  manualRollback,
  rollbackChoices,
  setPromotions,
} from '../../../core/index.js';
import { drive, quiet, Sandbox, T0 } from '../../support/fixtures.js';

describe('chooseRollbackRelease', () => {
  // Worked example from the TSDoc: use1-az1 runs r7, approved there: r3, r5, r7.
  it.each([
    { current: 7, approved: [3, 5, 7], requested: null, expected: 5 },
    { current: 7, approved: [3, 5, 7], requested: 3, expected: 3 },
    { current: 5, approved: [3, 5, 7], requested: null, expected: 3 },
  ])(
    'runs r$current, approved $approved, asked $requested → r$expected',
    ({ current, approved, requested, expected }) => {
      expect(chooseRollbackRelease('use1-az1', current, approved, requested)).toBe(expected);
    },
  );

  it.each([
    {
      current: null,
      approved: [],
      requested: null,
      message: 'Target use1-az1 has no release deployed; there is nothing to roll back.',
    },
    {
      current: 3,
      approved: [3],
      requested: null,
      message:
        'No release older than r3 was deployed and approved in use1-az1; there is nothing to roll back to.',
    },
    { current: 7, approved: [3, 5, 7], requested: 7, message: 'Target use1-az1 already runs r7.' },
    {
      current: 5,
      approved: [3, 5, 7],
      requested: 7,
      message:
        'r7 is newer than r5, which use1-az1 runs: a rollback goes back. Let the pipeline deploy newer releases.',
    },
    {
      current: 7,
      approved: [3, 5, 7],
      requested: 4,
      message: 'r4 was never deployed and approved in use1-az1; choose one of: r5, r3.',
    },
  ])(
    'refuses: runs $current, approved $approved, asked $requested',
    ({ current, approved, requested, message }) => {
      expect(() => chooseRollbackRelease('use1-az1', current, approved, requested)).toThrow(
        message,
      );
    },
  );
});

/** r1, r2 and r3 approved at every stage up to prod-1. */
function threeReleasesOut(): Sandbox {
  const sb = new Sandbox();
  for (const n of [1, 2, 3]) {
    drive.create(sb, n);
    for (const s of ['beta', 'gamma', 'prod-1']) drive.pass(sb, s);
    drive.pass(sb, 'prod-2');
  }
  return sb;
}

describe('manualRollback', () => {
  it('goes back to the last approved release by default and disables promotions in and out', () => {
    const sb = threeReleasesOut();

    const t = sb.apply(manualRollback, {
      targets: [
        { stage: 'prod-1', target: 'prod-1-a' },
        { stage: 'prod-1', target: 'prod-1-b' },
      ],
      to: null,
      by: 'ana',
      reason: 'latency regression',
      requestId: 'req-1',
    });

    expect(sb.run('prod-1')).toMatchObject({
      kind: 'rollback',
      release: 3,
      step: 'rolling-back',
      requestedBy: { by: 'ana', reason: 'latency regression' },
    });
    expect(sb.run('prod-1').targets['prod-1-a']).toMatchObject({
      status: 'rolling-back',
      rollbackTo: 2,
      before: 3,
    });
    expect(sb.stage('prod-1').promotionsIn).toMatchObject({ enabled: false, by: 'ana' });
    expect(sb.stage('prod-1').promotionsOut).toMatchObject({ enabled: false, by: 'ana' });
    expect(t.events.map((e) => e.type)).toEqual([
      'Promotions Disabled',
      'Promotions Disabled',
      'Rollback Started',
    ]);
    expect(t.starts.map((s) => s.executionName)).toEqual(['api_prod-1_rollback4-1']);
    expect(t.audit[0]).toMatchObject({
      by: 'ana',
      action: 'roll back prod-1-a → r2, prod-1-b → r2',
    });

    drive.finish(sb, 'prod-1');
    expect(sb.stage('prod-1').run).toBeNull();
    expect(sb.stage('prod-1').targets['prod-1-a']?.deployed).toBe(2);
    expect(sb.stage('prod-1').newestStarted).toBe(3);
  });

  it('goes further back to an older release the operator names (latent change)', () => {
    const sb = threeReleasesOut();
    sb.apply(manualRollback, {
      targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
      to: 1,
      by: 'ana',
      reason: 'latent bug since r2',
      requestId: 'req-1',
    });
    drive.finish(sb, 'prod-1');
    expect(sb.stage('prod-1').targets['prod-1-a']?.deployed).toBe(1);
    expect(sb.stage('prod-1').targets['prod-1-b']?.deployed).toBe(3);
  });

  it('stops a normal run in flight: its release is rejected there and its other touched targets roll back too', () => {
    const sb = threeReleasesOut();
    drive.create(sb, 4);
    drive.pass(sb, 'beta');
    drive.pass(sb, 'gamma');
    drive.admit(sb, 'prod-1'); // r4 deploying to both prod-1 targets

    const t = sb.apply(manualRollback, {
      targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
      to: null,
      by: 'ana',
      reason: 'bad',
      requestId: 'req-1',
    });

    expect(t.outcomes).toContainEqual({
      release: 4,
      stage: 'prod-1',
      outcome: { status: 'rejected', at: T0, reason: 'manual rollback by ana: bad' },
    });
    // The history keeps the deployments of r4 that the rollback stopped.
    expect(t.deployments.filter((d) => d.kind === 'normal')).toEqual(
      ['prod-1-a', 'prod-1-b'].map((target) => ({
        target,
        stage: 'prod-1',
        kind: 'normal',
        from: 3,
        to: 4,
        result: 'failed',
        startedAt: T0,
        finishedAt: T0,
        reason: 'stopped: manual rollback by ana: bad',
      })),
    );
    expect(sb.run('prod-1').targets).toEqual({
      'prod-1-a': {
        status: 'rolling-back',
        before: 4,
        rollbackTo: 3,
        startedAt: T0,
        deploymentId: null,
        abandoned: null,
      },
      'prod-1-b': {
        status: 'rolling-back',
        before: 3,
        rollbackTo: 3,
        startedAt: T0,
        deploymentId: null,
        abandoned: null,
      },
    });
  });

  it('withdraws what waits downstream, unstarted, when a rollback takes back the approval', () => {
    const sb = threeReleasesOut();
    sb.apply(setPromotions, {
      requestId: 'gate-12',
      stage: 'prod-1',
      direction: 'in',
      enabled: false,
      by: 'ana',
      reason: 'hold',
    });
    drive.create(sb, 4);
    drive.pass(sb, 'beta');
    drive.pass(sb, 'gamma');
    expect(sb.stage('prod-1').pending).toBe(4);

    const t = sb.apply(manualRollback, {
      targets: [{ stage: 'gamma', target: 'gamma-t1' }],
      to: null,
      by: 'ana',
      reason: 'r4 is bad',
      requestId: 'req-1',
    });

    expect(sb.stage('gamma').lastApproved).toBeNull();
    expect(sb.stage('prod-1')).toMatchObject({ pending: null, run: null });
    expect(t.outcomes).toContainEqual({
      release: 4,
      stage: 'prod-1',
      outcome: {
        status: 'rejected',
        at: T0,
        reason: 'withdrawn: a manual rollback at gamma took back its approval',
      },
    });
  });

  it('starts nothing on a late admit that a crash let through after a rollback upstream', async () => {
    const sb = threeReleasesOut();
    drive.create(sb, 4);
    drive.pass(sb, 'beta');
    drive.pass(sb, 'gamma');
    const org = { 'org-large-scale-event': 'ALARM' as const };
    drive.admit(sb, 'prod-1', org); // r4 taken by prod-1, every target blocked
    const lateAdmit = { stage: 'prod-1', seq: sb.run('prod-1').seq };
    const store = new InMemoryPromotionStore();
    for (const t of sb.transitions) await store.save('api', t);

    const rollback = sb.apply(manualRollback, {
      targets: [{ stage: 'gamma', target: 'gamma-t1' }],
      to: null,
      by: 'ana',
      reason: 'r4 is bad',
      requestId: 'req-1',
    });
    expect(rollback.writes.map((w) => (w.item === 'stage' ? w.stage : 'meta'))).toEqual([
      'gamma',
      'prod-1',
    ]);
    store.failAfterWrites = 1; // gamma's write lands, prod-1's withdrawal does not
    await expect(store.save('api', rollback)).rejects.toThrow('simulated crash');
    sb.state = await store.load(sb.topology);
    expect(sb.run('prod-1').release).toBe(4);

    const t = sb.apply(admitTargets, {
      ...lateAdmit,
      releases: [...sb.releases.values()],
      alarms: quiet(sb.topology),
    });

    expect(t.events.filter((e) => e.type === 'Deployment Started')).toEqual([]);
    expect(sb.stage('prod-1').run).toBeNull();
    expect(t.note).toMatch(/^run 4 of prod-1 is no longer active/);
  });

  it('keeps a newer release out until promotions are enabled again (property 6)', () => {
    const sb = threeReleasesOut();
    sb.apply(manualRollback, {
      targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
      to: null,
      by: 'ana',
      reason: 'bad',
      requestId: 'req-1',
    });
    drive.finish(sb, 'prod-1');
    drive.create(sb, 4);
    drive.pass(sb, 'beta');
    drive.pass(sb, 'gamma');
    expect(sb.stage('prod-1')).toMatchObject({ pending: 4, run: null });

    sb.apply(setPromotions, {
      requestId: 'gate-8',
      stage: 'prod-1',
      direction: 'in',
      enabled: true,
      by: 'ana',
      reason: 'fixed in r4',
    });

    expect(sb.run('prod-1').release).toBe(4);
  });

  it.each([
    {
      name: 'no target',
      request: { targets: [], to: null, by: 'ana', reason: 'x', requestId: 'req-1' },
      message: 'Name at least one stage or target to roll back.',
    },
    {
      name: 'no reason',
      request: {
        targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
        to: null,
        by: 'ana',
        reason: ' ',
        requestId: 'req-1',
      },
      message: 'A rollback needs who asks for it and why: give --reason and a user.',
    },
    {
      name: 'an unknown target',
      request: {
        targets: [{ stage: 'prod-1', target: 'nope' }],
        to: null,
        by: 'ana',
        reason: 'x',
        requestId: 'req-1',
      },
      message: 'Stage prod-1 has no target "nope"; its targets are prod-1-a, prod-1-b.',
    },
  ])('refuses $name', ({ request, message }) => {
    const sb = threeReleasesOut();
    expect(() => sb.apply(manualRollback, request)).toThrow(message);
  });

  it('treats the same request again as done, stage by stage', () => {
    const sb = threeReleasesOut();
    const request = {
      targets: [
        { stage: 'prod-1', target: 'prod-1-a' },
        { stage: 'prod-2', target: 'prod-2-t1' },
      ],
      to: null,
      by: 'ana',
      reason: 'x',
      requestId: 'req-1',
    };
    sb.apply(manualRollback, request);
    const again = sb.apply(manualRollback, request);
    expect(again.writes).toEqual([]);
    expect(again.note).toBe('prod-2 already carried out rollback request req-1');

    // Even after it finished: a late retry must not roll back one release further.
    drive.finish(sb, 'prod-1');
    drive.finish(sb, 'prod-2');
    const late = sb.apply(manualRollback, request);
    expect(late.writes).toEqual([]);
    expect(sb.stage('prod-1').targets['prod-1-a']?.deployed).toBe(2);
  });

  it('forgets the releases it rolled back: a later rollback does not pick them', () => {
    const sb = threeReleasesOut();
    sb.apply(manualRollback, {
      targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
      to: 1,
      by: 'ana',
      reason: 'latent',
      requestId: 'req-1',
    });
    drive.finish(sb, 'prod-1');
    expect(sb.stage('prod-1').targets['prod-1-a']?.approved).toEqual([1]);
  });

  it('does not hand on a release approved here that the rollback removed', () => {
    // gamma approves r3 while promotions out are closed, then is rolled back to r2.
    const sb = new Sandbox();
    for (const n of [1, 2]) {
      drive.create(sb, n);
      for (const s of ['beta', 'gamma', 'prod-1', 'prod-2']) drive.pass(sb, s);
    }
    sb.apply(setPromotions, {
      requestId: 'gate-9',
      stage: 'gamma',
      direction: 'out',
      enabled: false,
      by: 'ana',
      reason: 'hold',
    });
    drive.create(sb, 3);
    drive.pass(sb, 'beta');
    drive.pass(sb, 'gamma');

    const t = sb.apply(manualRollback, {
      targets: [{ stage: 'gamma', target: 'gamma-t1' }],
      to: null,
      by: 'ana',
      reason: 'bad',
      requestId: 'req-1',
    });
    drive.finish(sb, 'gamma');
    sb.apply(setPromotions, {
      requestId: 'gate-10',
      stage: 'gamma',
      direction: 'in',
      enabled: true,
      by: 'ana',
      reason: 'ok',
    });
    sb.apply(setPromotions, {
      requestId: 'gate-11',
      stage: 'gamma',
      direction: 'out',
      enabled: true,
      by: 'ana',
      reason: 'ok',
    });

    expect(t.outcomes).toContainEqual({
      release: 3,
      stage: 'gamma',
      outcome: { status: 'rejected', at: T0, reason: 'manual rollback by ana: bad' },
    });
    expect(sb.stage('prod-1').run).toBeNull();
    expect(sb.stage('prod-1').newestStarted).toBe(2);
  });

  it('refuses a request without an id', () => {
    const sb = threeReleasesOut();
    expect(() =>
      sb.apply(manualRollback, {
        targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
        to: null,
        by: 'ana',
        reason: 'x',
        requestId: ' ',
      }),
    ).toThrow(
      'A rollback needs a request id, chosen once per request, so that a retry is recognised.',
    );
  });

  it('refuses a second rollback while one is running', () => {
    const sb = threeReleasesOut();
    const request = {
      targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
      to: null,
      by: 'ana',
      reason: 'x',
      requestId: 'req-1',
    };
    sb.apply(manualRollback, request);
    expect(() => sb.apply(manualRollback, { ...request, requestId: 'req-2' })).toThrow(
      /^Stage prod-1 is already rolling back \(run 4\)/,
    );
  });
});

describe('rollbackChoices', () => {
  it('says where each named target goes back to, and refuses a stage rolling back already', () => {
    const sb = threeReleasesOut();

    expect(rollbackChoices('prod-1', sb.stage('prod-1'), ['prod-1-b'], null)).toEqual([
      { target: 'prod-1-b', from: 3, to: 2 },
    ]);
    expect(rollbackChoices('prod-1', sb.stage('prod-1'), ['prod-1-a'], 1)).toEqual([
      { target: 'prod-1-a', from: 3, to: 1 },
    ]);
    sb.apply(manualRollback, {
      targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
      to: null,
      by: 'ana',
      reason: 'bad',
      requestId: 'req-1',
    });
    expect(() => rollbackChoices('prod-1', sb.stage('prod-1'), ['prod-1-b'], null)).toThrow(
      'Stage prod-1 is already rolling back',
    );
  });
});
