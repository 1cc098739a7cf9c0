import { describe, expect, it } from 'vitest';
import {
  advanceStage,
  advanceTarget,
  failStage,
  manualRollback,
  parsePipelineDefinition,
  recordApprovalStep,
} from '../../../core/index.js';
import { executionInput } from '../../../functions/lib/inputs.js';
import { type DriverWorld, driverStores, driverWorld } from '../../support/driver-world.js';
import { smallDefinition, stage, T0, target } from '../../support/fixtures.js';

/**
 * The scenarios of issue 12 where the stage driver broke DESIGN.md §2 although every rule
 * was sound: each drives the real driver over the core's in-memory ports and fakes.
 */

const businessHours = {
  allow: [
    {
      days: ['mon' as const, 'tue' as const, 'wed' as const, 'thu' as const],
      start: '09:00',
      end: '16:00',
    },
  ],
};

/** One production stage over Dublin and New York, deploying in local business hours. */
const dublinAndNewYork = parsePipelineDefinition({
  ...smallDefinition(),
  stages: [
    stage('prod-1', null, {
      phase: 'production',
      wave: 1,
      timeWindow: businessHours,
      targets: [
        target('dub'),
        target('nyc', {
          region: 'us-east-1',
          timeZone: 'America/New_York',
          alarms: { rollback: 'nyc-rollback', aggregate: 'team-aggregate-use1' },
        }),
      ],
    }),
  ],
});

const dub = { stage: 'prod-1', seq: 1, target: 'dub' };
const nyc = { stage: 'prod-1', seq: 1, target: 'nyc' };

/** r1 deployed to Dublin at 10:00 UTC (d-1); New York waits for 09:00 there (14:00 UTC). */
async function dublinDeployedNewYorkWaiting(): Promise<DriverWorld> {
  const p = driverWorld(dublinAndNewYork);
  await p.create(1); // T0: Monday 10:00 UTC
  await advanceTarget(p.ports, dub);
  expect(await advanceTarget(p.ports, nyc)).toMatchObject({ action: 'await', seconds: 4 * 3600 });
  p.deployer.finish('d-1', { status: 'succeeded' });
  return p;
}

describe('a deployed target is watched while its siblings still deploy or wait', () => {
  it('keeps watching Dublin while New York waits for its window, and fails the run on its alarm', async () => {
    const p = await dublinDeployedNewYorkWaiting();

    const watching = await advanceTarget(p.ports, dub);

    expect(watching).toEqual({
      action: 'await',
      subjects: [
        'alarm:dub-rollback',
        'alarm:team-aggregate-euw1',
        'bake:api/prod-1/1',
        'run:api/prod-1/1',
      ],
      seconds: 3600,
      reason:
        "r1 deployed to dub; watching its alarms until the stage's other targets have deployed",
    });

    // 11:00: Dublin's alarm fires and clears before anyone looks (a lost event).
    p.clock.advance(3600);
    p.alarms.set('dub-rollback', 'ALARM', p.at(0));
    p.alarms.set('dub-rollback', 'OK');
    p.clock.advance(600);
    const failed = await advanceTarget(p.ports, dub);

    // r1 is rejected at prod-1 (Dublin ran nothing before it: restored by hand).
    const progress = await p.ports.releases.getProgress('api', 1);
    expect(progress.stages['prod-1']).toMatchObject({
      status: 'rejected',
      reason:
        'alarm dub-rollback went into ALARM at 2026-11-23T11:00:00.000Z, while the release ran after r1 deployed to dub',
    });
    expect(failed).toMatchObject({ wake: ['run:api/prod-1/1'] });
    expect(p.events.events.map((e) => e.type)).toContain('Rollback Started');
    expect(await advanceTarget(p.ports, nyc)).toEqual({
      action: 'done',
      reason: 'run 1 of prod-1 is over',
    });
    expect(p.deployer.requests.map((r) => r.target.id)).toEqual(['dub']);
  });

  it('ends the watch when the last target deploys, and the bake looks back to the first deployment', async () => {
    const p = await dublinDeployedNewYorkWaiting();
    await advanceTarget(p.ports, dub);
    p.clock.advance(4 * 3600); // 14:00 UTC: New York opens
    await advanceTarget(p.ports, nyc);
    p.deployer.finish('d-2', { status: 'succeeded' });

    const last = await advanceTarget(p.ports, nyc);
    const first = await advanceTarget(p.ports, dub);

    expect(last).toEqual({
      action: 'done',
      reason: 'nyc is deployed',
      wake: ['bake:api/prod-1/1'],
    });
    expect(first).toEqual({ action: 'done', reason: 'dub is deployed' });
    // Reported late: Dublin's aggregate alarm fired at 12:00, before the bake began at 14:00.
    p.alarms.set(
      'team-aggregate-euw1',
      'ALARM',
      new Date(Date.parse(T0) + 2 * 3600_000).toISOString(),
    );
    p.alarms.set('team-aggregate-euw1', 'OK');
    expect(await advanceStage(p.ports, { stage: 'prod-1', seq: 1 })).toEqual({
      action: 'redeploy',
      reason: 'run 1 of prod-1 is rolling-back',
    });
    expect((await p.stage('prod-1'))?.run?.failure).toMatch(
      /^bake failed: alarm team-aggregate-euw1 went into ALARM at 2026-11-23T12:00:00.000Z/,
    );
  });

  it('does not hold an alarm against a target that fired before the target began to deploy', async () => {
    const p = await dublinDeployedNewYorkWaiting();
    // New York's alarm fires while it waits, and clears: a blocker then, not a failure later.
    p.alarms.set('nyc-rollback', 'ALARM', p.at(60));
    p.alarms.set('nyc-rollback', 'OK');
    p.clock.advance(4 * 3600);
    await advanceTarget(p.ports, nyc);

    expect((await p.stage('prod-1'))?.run?.targets.nyc?.status).toBe('deploying');
    expect(await advanceTarget(p.ports, nyc)).toMatchObject({ action: 'await', seconds: 900 });
  });
});

describe('alarms are watched while an approval step waits', () => {
  const withQa = parsePipelineDefinition({
    ...smallDefinition(),
    stages: [
      stage('beta', null, {
        approvalSteps: [{ kind: 'manual-approval', name: 'qa', timeoutSeconds: 86_400 }],
      }),
      stage('gamma', 'beta'),
    ],
  });

  async function waitingForQa(): Promise<DriverWorld> {
    const p = driverWorld(withQa);
    const beta = { stage: 'beta', seq: 1, target: 'beta-t1' };
    await p.create(1);
    await advanceTarget(p.ports, beta);
    p.deployer.finish('d-1', { status: 'succeeded' });
    await advanceTarget(p.ports, beta);
    p.clock.advance(3600);
    for (let i = 0; i < 10; i++) p.metrics.add('RequestCount', 'beta-t1', new Date(T0));
    expect(await advanceStage(p.ports, { stage: 'beta', seq: 1 })).toMatchObject({
      action: 'await',
      reason: 'waiting for a manual approval: qa',
    });
    return p;
  }

  it('fails the run when the aggregate alarm fires while QA waits, even if QA approves', async () => {
    const p = await waitingForQa();
    p.clock.advance(600);
    p.alarms.set('team-aggregate-euw1', 'ALARM', p.at(0));
    await p.service.apply(recordApprovalStep, {
      stage: 'beta',
      seq: 1,
      step: 'qa',
      passed: true,
      by: 'ana',
      via: 'operator',
      reason: 'looks good',
    });

    const next = await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    expect(next).toEqual({ action: 'redeploy', reason: 'run 1 of beta is rolling-back' });
    const beta = await p.stage('beta');
    expect(beta?.lastApproved).toBeNull();
    expect(beta?.run?.failure).toBe(
      'alarm team-aggregate-euw1 is in ALARM while r1 waited for its approval',
    );
    expect((await p.stage('gamma'))?.run).toBeNull();
  });

  it('fails the run on an alarm that came and went while the step waited', async () => {
    const p = await waitingForQa();
    p.clock.advance(600);
    p.alarms.set('beta-t1-rollback', 'ALARM', p.at(0));
    p.alarms.set('beta-t1-rollback', 'OK');
    p.clock.advance(3000);

    await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    expect((await p.stage('beta'))?.run?.failure).toMatch(
      /^alarm beta-t1-rollback went into ALARM at .* while r1 waited for approval step qa$/,
    );
  });

  it('approves once QA approved and the alarms stayed quiet', async () => {
    const p = await waitingForQa();
    await p.service.apply(recordApprovalStep, {
      stage: 'beta',
      seq: 1,
      step: 'qa',
      passed: true,
      by: 'ana',
      via: 'operator',
      reason: 'looks good',
    });

    await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    expect((await p.stage('beta'))?.lastApproved).toBe(1);
    expect((await p.stage('gamma'))?.run?.release).toBe(1);
  });
});

describe('the first deployment to a target that never ran anything', () => {
  it('admits a stage whose first release is not r1 (r1 was superseded upstream)', async () => {
    const p = driverWorld(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [
          stage('beta', null, { bake: { durationSeconds: 0, minDataPoints: 0 } }),
          stage('prod-1', 'beta', { phase: 'production', wave: 1 }),
        ],
      }),
    );
    p.alarms.set('beta-t1-rollback', 'ALARM', T0);
    await p.create(1);
    await advanceTarget(p.ports, { stage: 'beta', seq: 1, target: 'beta-t1' }); // blocked
    await p.create(2); // supersedes r1, which had deployed nothing
    p.alarms.set('beta-t1-rollback', 'OK');
    const beta = { stage: 'beta', seq: 2, target: 'beta-t1' };
    await advanceTarget(p.ports, beta);
    p.deployer.finish('d-1', { status: 'succeeded' });
    await advanceTarget(p.ports, beta);
    await advanceStage(p.ports, { stage: 'beta', seq: 2 });
    expect((await p.stage('prod-1'))?.run?.release).toBe(2);

    const step = await advanceTarget(p.ports, { stage: 'prod-1', seq: 1, target: 'prod-1-t1' });

    expect(step).toMatchObject({ action: 'await', reason: 'r2 deploying to prod-1-t1 (d-2)' });
  });

  it('admits a target added to a stage after several releases, checking every commit it gets', async () => {
    const one = parsePipelineDefinition({
      ...smallDefinition(),
      stages: [
        stage('prod-1', null, {
          phase: 'production',
          wave: 1,
          bake: { durationSeconds: 0, minDataPoints: 0 },
        }),
      ],
    });
    const two = parsePipelineDefinition({
      ...one,
      stages: [
        { ...one.stages[0], targets: [...(one.stages[0]?.targets ?? []), target('prod-1-t2')] },
      ],
    });
    const stores = driverStores();
    const before = driverWorld(one, stores);
    for (const n of [1, 2]) {
      const t = { stage: 'prod-1', seq: n, target: 'prod-1-t1' };
      await before.create(n);
      await advanceTarget(before.ports, t);
      before.deployer.finish(`d-${n}`, { status: 'succeeded' });
      await advanceTarget(before.ports, t);
      await advanceStage(before.ports, { stage: 'prod-1', seq: n });
    }
    // A Region joins the stage; r3 brings an unreviewed commit, r1 and r2 are reviewed.
    const after = driverWorld(two, stores);
    await after.create(3, {
      commits: [
        { sha: 'c3'.padEnd(40, '0'), author: 'dev@example.com', message: 'change 3', review: null },
      ],
    });

    const added = await advanceTarget(after.ports, {
      stage: 'prod-1',
      seq: 3,
      target: 'prod-1-t2',
    });

    expect(added).toMatchObject({
      action: 'await',
      reason: expect.stringMatching(
        /^blocked: r3 would deploy commits without an approved review: c300000/,
      ),
    });
    expect((await after.stage('prod-1'))?.run?.blockers.map((b) => b.target)).toEqual([
      'prod-1-t1',
      'prod-1-t2',
    ]);
  });
});

describe('a deployment started just as the run fails', () => {
  const twoTargets = parsePipelineDefinition({
    ...smallDefinition(),
    stages: [
      stage('beta', null, {
        targets: [target('a'), target('b')],
        bake: { durationSeconds: 0, minDataPoints: 0 },
      }),
    ],
  });

  it('is found by its idempotency key, stopped, and only then rolled back', async () => {
    const p = driverWorld(twoTargets);
    for (const id of ['a', 'b']) p.alarms.set(`${id}-rollback`, 'OK');
    await p.create(1);
    for (const id of ['a', 'b'])
      await advanceTarget(p.ports, { stage: 'beta', seq: 1, target: id });
    p.deployer.finish('d-1', { status: 'succeeded' });
    p.deployer.finish('d-2', { status: 'succeeded' });
    for (const id of ['a', 'b'])
      await advanceTarget(p.ports, { stage: 'beta', seq: 1, target: id });
    await advanceStage(p.ports, { stage: 'beta', seq: 1 });
    expect((await p.stage('beta'))?.lastApproved).toBe(1);

    await p.create(2);
    await advanceTarget(p.ports, { stage: 'beta', seq: 2, target: 'a' }); // admits a and b; a starts d-3
    // b's CreateDeployment reaches the deployer, but its id is not recorded yet …
    const started = await p.deployer.startDeployment({
      pipeline: 'api',
      target: twoTargets.stages[0]?.targets[1] as never,
      release: p.deployer.requests[2]?.release as never,
      kind: 'normal',
      idempotencyKey: 'api/beta/2/b/normal',
    });
    // … when a's alarm fails the run.
    p.alarms.set('a-rollback', 'ALARM', p.at(0));
    await advanceTarget(p.ports, { stage: 'beta', seq: 2, target: 'a' });
    expect((await p.stage('beta'))?.run?.targets.b).toMatchObject({
      status: 'rolling-back',
      abandoned: null,
    });

    const b = await advanceTarget(p.ports, { stage: 'beta', seq: 2, target: 'b' });

    expect(p.deployer.stopped).toEqual(['d-3', started.deploymentId]);
    expect(b).toMatchObject({ action: 'await', reason: 'rolling back: r1 deploying to b (d-6)' });
    expect(p.deployer.requests.at(-1)).toMatchObject({
      kind: 'rollback',
      idempotencyKey: 'api/beta/2/b/rollback',
    });
  });
});

describe('a start that returns after its run failed', () => {
  it('stops the deployment it started, whose id the failed run never recorded', async () => {
    const definition = parsePipelineDefinition({
      ...smallDefinition(),
      stages: [stage('beta', null, { targets: [target('a'), target('b')] })],
    });
    const p = driverWorld(definition);
    p.alarms.set('a-rollback', 'OK');
    p.alarms.set('b-rollback', 'OK');
    await p.create(1);
    // b's CreateDeployment is slow: a's alarm fails the run before it returns.
    const start = p.deployer.startDeployment.bind(p.deployer);
    p.deployer.startDeployment = async (request) => {
      const started = await start(request);
      if (request.target.id === 'b') {
        await p.service.apply(failStage, { stage: 'beta', seq: 1, reason: 'a-rollback in ALARM' });
      }
      return started;
    };
    await advanceTarget(p.ports, { stage: 'beta', seq: 1, target: 'a' }); // admits a and b; starts d-1

    await advanceTarget(p.ports, { stage: 'beta', seq: 1, target: 'b' });

    expect(p.deployer.stopped).toContain('d-2');
  });
});

describe('a manual rollback of some targets of a stage', () => {
  async function prod1OnR2() {
    const p = driverWorld(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [
          stage('prod-1', null, {
            phase: 'production',
            wave: 1,
            bake: { durationSeconds: 0, minDataPoints: 0 },
            targets: [target('prod-1-a'), target('prod-1-b')],
          }),
        ],
      }),
    );
    for (const n of [1, 2]) {
      await p.create(n);
      for (const id of ['prod-1-a', 'prod-1-b'])
        await advanceTarget(p.ports, { stage: 'prod-1', seq: n, target: id });
      for (const d of p.deployer.requests.keys())
        p.deployer.finish(`d-${d + 1}`, { status: 'succeeded' });
      for (const id of ['prod-1-a', 'prod-1-b'])
        await advanceTarget(p.ports, { stage: 'prod-1', seq: n, target: id });
      await advanceStage(p.ports, { stage: 'prod-1', seq: n });
    }
    const t = await p.service.apply(manualRollback, {
      targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
      to: null,
      by: 'ana',
      reason: 'latency',
      requestId: 'rb-1',
    });
    return { p, start: t.starts[0] };
  }

  it('starts an execution whose items are the run’s targets only', async () => {
    const { p, start } = await prod1OnR2();

    expect(start).toBeDefined();
    expect(executionInput(p.service.topology, 'api', start as never).targets).toEqual(['prod-1-a']);
  });

  it('settles a target outside the run instead of crashing its iteration', async () => {
    const { p } = await prod1OnR2();

    const other = await advanceTarget(p.ports, { stage: 'prod-1', seq: 3, target: 'prod-1-b' });
    const chosen = await advanceTarget(p.ports, { stage: 'prod-1', seq: 3, target: 'prod-1-a' });

    expect(other).toEqual({ action: 'done', reason: 'prod-1-b is not part of run 3 of prod-1' });
    expect(chosen).toMatchObject({
      action: 'await',
      reason: 'rolling back: r1 deploying to prod-1-a (d-5)',
    });
  });
});
