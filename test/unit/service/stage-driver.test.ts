import { describe, expect, it } from 'vitest';
import {
  advanceStage,
  advanceTarget,
  approveExpedite,
  type FakeDeployer,
  failStage,
  failStep,
  InMemoryReleaseStore,
  type PipelineDefinition,
  parsePipelineDefinition,
  RetryableError,
  requestExpedite,
  TerminalError,
} from '../../../core/index.js';
import { driverWorld } from '../../support/driver-world.js';
import { smallDefinition, stage, T0, target } from '../../support/fixtures.js';

const pipeline = (definition?: PipelineDefinition) => driverWorld(definition);

const beta = { stage: 'beta', seq: 1, target: 'beta-t1' };

/** r1 deployed to beta-t1 (d-1) and baking there. */
async function r1BakingAtBeta(definition?: PipelineDefinition) {
  const p = pipeline(definition);
  await p.create(1);
  await advanceTarget(p.ports, beta);
  p.deployer.finish('d-1', { status: 'succeeded' });
  await advanceTarget(p.ports, beta);
  return p;
}

/** r1 deployed to beta (d-1), baked an hour with its 10 data points, and approved there. */
async function r1ApprovedAtBeta() {
  const p = await r1BakingAtBeta();
  p.clock.advance(3600);
  for (let i = 0; i < 10; i++)
    p.metrics.add('RequestCount', 'beta-t1', new Date(Date.parse(T0) + 60_000));
  await advanceStage(p.ports, { stage: 'beta', seq: 1 });
  return p;
}

describe('advanceTarget', () => {
  it('admits the target, starts its deployment once, waits for it, then records the result', async () => {
    const p = pipeline();
    await p.create(1);

    const first = await advanceTarget(p.ports, beta);
    const again = await advanceTarget(p.ports, beta);

    const waiting = {
      action: 'await',
      subjects: [
        'deployment:d-1',
        'alarm:beta-t1-rollback',
        'alarm:team-aggregate-euw1',
        'run:api/beta/1',
      ],
      seconds: 900,
      reason: 'r1 deploying to beta-t1 (d-1)',
    };
    expect(first).toEqual(waiting);
    expect(again).toEqual(waiting);
    expect(p.deployer.requests).toHaveLength(1);
    expect(p.deployer.requests[0]).toMatchObject({
      kind: 'normal',
      idempotencyKey: 'api/beta/1/beta-t1/normal',
    });
    expect((await p.stage('beta'))?.run?.targets['beta-t1']?.deploymentId).toBe('d-1');

    p.deployer.finish('d-1', { status: 'succeeded' });
    const done = await advanceTarget(p.ports, beta);

    // The last target deployed starts the bake and wakes the others, which stop watching.
    expect(done).toEqual({
      action: 'done',
      reason: 'beta-t1 is deployed',
      wake: ['bake:api/beta/1'],
    });
    expect((await p.stage('beta'))?.run?.step).toBe('baking');
  });

  it('waits while blocked, on the alarm that blocks, and starts once it clears', async () => {
    const p = pipeline();
    await p.create(1);
    p.alarms.set('team-aggregate-euw1', 'ALARM', T0);

    const blocked = await advanceTarget(p.ports, beta);

    expect(blocked).toEqual({
      action: 'await',
      subjects: ['alarm:team-aggregate-euw1', 'run:api/beta/1'],
      seconds: 900,
      reason: 'blocked: alarm team-aggregate-euw1 is in ALARM',
    });
    expect(p.deployer.requests).toEqual([]);

    p.alarms.set('team-aggregate-euw1', 'OK');
    expect(await advanceTarget(p.ports, beta)).toMatchObject({
      subjects: ['deployment:d-1', expect.any(String), expect.any(String), 'run:api/beta/1'],
    });
  });

  it('waits for a closed time window until it opens', async () => {
    const p = pipeline(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [
          stage('beta', null, {
            timeWindow: {
              allow: [{ days: ['mon', 'tue', 'wed', 'thu'], start: '13:00', end: '16:00' }],
            },
          }),
        ],
      }),
    );
    await p.create(1); // T0 is Monday 10:00 UTC, 10:00 in Dublin

    const blocked = await advanceTarget(p.ports, beta);

    expect(blocked).toMatchObject({
      action: 'await',
      subjects: ['run:api/beta/1'],
      seconds: 3 * 3600,
    });
  });

  it('fails the run when the target’s alarm fires while it deploys, and rolls it back', async () => {
    const p = await r1ApprovedAtBeta();
    await p.create(2);
    const r2 = { stage: 'beta', seq: 2, target: 'beta-t1' };
    await advanceTarget(p.ports, r2); // r2 deploying (d-2)

    p.alarms.set('beta-t1-rollback', 'ALARM', new Date(Date.parse(T0) + 3_700_000).toISOString());
    const rollingBack = await advanceTarget(p.ports, r2);

    expect(rollingBack).toEqual({
      action: 'await',
      subjects: ['deployment:d-3', 'run:api/beta/2'],
      seconds: 900,
      reason: 'rolling back: r1 deploying to beta-t1 (d-3)',
      wake: ['run:api/beta/2'],
    });
    expect(p.deployer.stopped).toEqual(['d-2']);
    expect(p.deployer.requests[2]).toMatchObject({
      kind: 'rollback',
      idempotencyKey: 'api/beta/2/beta-t1/rollback',
    });
    expect(p.deployer.requests[2]?.release.number).toBe(1);
    p.deployer.finish('d-3', { status: 'succeeded' });
    expect(await advanceTarget(p.ports, r2)).toEqual({
      action: 'done',
      reason: 'run 2 of beta is over',
    });
    const types = p.events.events.map((e) => e.type);
    expect(types.slice(-3)).toEqual([
      'Rollback Started',
      'Deployment Succeeded',
      'Rollback Completed',
    ]);
  });

  it('cannot roll back a first deployment: the rollback fails and the stage closes to promotions', async () => {
    const p = pipeline();
    await p.create(1);
    await advanceTarget(p.ports, beta);
    p.deployer.finish('d-1', { status: 'failed', reason: 'health checks failed' });

    const done = await advanceTarget(p.ports, beta);

    expect(done).toEqual({
      action: 'done',
      reason: 'run 1 of beta is over',
      wake: ['run:api/beta/1'],
    });
    const state = await p.stage('beta');
    expect(state?.promotionsIn).toMatchObject({ enabled: false, by: 'release-captain' });
    expect(p.events.events.map((e) => [e.type, e.detail.reason])).toContainEqual([
      'Deployment Failed',
      'beta-t1 ran no release before this run; restore it by hand',
    ]);
  });

  it('leaves a blocked target untouched when the run fails on another one', async () => {
    const p = pipeline();
    await p.create(1);
    for (const s of ['beta', 'gamma']) {
      const target = `${s}-t1`;
      await advanceTarget(p.ports, { stage: s, seq: 1, target });
      const id = (await p.stage(s))?.run?.targets[target]?.deploymentId as string;
      p.deployer.finish(id, { status: 'succeeded' });
      await advanceTarget(p.ports, { stage: s, seq: 1, target });
      p.clock.advance(3600);
      for (let i = 0; i < 10; i++) p.metrics.add('RequestCount', target, p.clock.now());
      p.clock.advance(60);
      await advanceStage(p.ports, { stage: s, seq: 1 });
    }
    p.alarms.set('prod-1-b-rollback', 'ALARM', p.clock.now().toISOString());
    const a = { stage: 'prod-1', seq: 1, target: 'prod-1-a' };
    const b = { stage: 'prod-1', seq: 1, target: 'prod-1-b' };
    expect(await advanceTarget(p.ports, b)).toMatchObject({
      action: 'await',
      subjects: ['alarm:prod-1-b-rollback', 'run:api/prod-1/1'],
    });
    await advanceTarget(p.ports, a); // prod-1-a deploying
    const id = (await p.stage('prod-1'))?.run?.targets['prod-1-a']?.deploymentId as string;
    p.deployer.finish(id, { status: 'failed', reason: 'tasks failed to start' });
    await advanceTarget(p.ports, a);

    expect(await advanceTarget(p.ports, b)).toEqual({
      action: 'done',
      reason: 'run 1 of prod-1 is over',
    });
    expect(p.deployer.requests.map((r) => r.target.id)).not.toContain('prod-1-b');
    expect((await p.stage('prod-1'))?.targets['prod-1-b']?.deployed).toBeNull();
  });

  it('names the release a deployment needs when the release store lacks it', async () => {
    const p = pipeline();
    await p.create(1);
    const forgetful = { ...p.ports, releases: new InMemoryReleaseStore() };

    await expect(advanceTarget(forgetful, beta)).rejects.toThrow(
      'r1 of api is not in the release store, so it cannot be deployed',
    );
  });

  it('refuses a target the run does not have', async () => {
    const p = pipeline();
    await p.create(1);

    await expect(advanceTarget(p.ports, { ...beta, target: 'nope' })).rejects.toThrow(
      'Stage beta has no target "nope"; its targets are beta-t1.',
    );
  });

  it('waits for a failed deployment that is still stopping before it starts the rollback', async () => {
    const p = await r1ApprovedAtBeta();
    await p.create(2);
    const r2 = { stage: 'beta', seq: 2, target: 'beta-t1' };
    await advanceTarget(p.ports, r2); // d-2 deploying
    // CodeDeploy takes a while to stop a deployment: it stays in progress after the stop.
    const slow = {
      ...p.ports,
      deployer: {
        startDeployment: p.deployer.startDeployment.bind(p.deployer),
        getDeployment: p.deployer.getDeployment.bind(p.deployer),
        stopDeployment: async () => 'stopping' as const,
      },
    };
    await p.ports.service.apply(failStage, { stage: 'beta', seq: 2, reason: 'tests failed' });

    const waiting = await advanceTarget(slow, r2);

    expect(waiting).toEqual({
      action: 'await',
      subjects: ['deployment:d-2', 'run:api/beta/2'],
      seconds: 900,
      reason: 'rolling back beta-t1: waiting for d-2 to stop',
    });
    expect(p.deployer.requests.filter((r) => r.kind === 'rollback')).toEqual([]);

    p.deployer.finish('d-2', { status: 'failed', reason: 'stopped' });
    expect(await advanceTarget(slow, r2)).toMatchObject({
      subjects: ['deployment:d-3', 'run:api/beta/2'],
    });
  });

  it('starts the rollback at once where the next deployment replaces the failed one (ECS)', async () => {
    const p = await r1ApprovedAtBeta();
    await p.create(2);
    const r2 = { stage: 'beta', seq: 2, target: 'beta-t1' };
    await advanceTarget(p.ports, r2);
    p.deployer.finish('d-2', { status: 'succeeded' }); // an ECS update the rollback replaces
    const ecs = {
      ...p.ports,
      deployer: {
        startDeployment: (r: Parameters<FakeDeployer['startDeployment']>[0]) =>
          p.deployer.startDeployment(r),
        getDeployment: (t: Parameters<FakeDeployer['getDeployment']>[0], id: string) =>
          p.deployer.getDeployment(t, id),
      },
    };
    await p.ports.service.apply(failStage, { stage: 'beta', seq: 2, reason: 'tests failed' });

    expect(await advanceTarget(ecs, r2)).toMatchObject({
      subjects: ['deployment:d-3', 'run:api/beta/2'],
    });
  });

  it('ends at once for a run that is over', async () => {
    const p = pipeline();
    await p.create(1);

    expect(await advanceTarget(p.ports, { ...beta, seq: 9 })).toEqual({
      action: 'done',
      reason: 'run 9 of beta is over',
    });
  });
});

describe('advanceStage', () => {
  it('bakes for the bake time and the data points, then approves and hands the release on', async () => {
    const p = await r1BakingAtBeta();

    const baking = await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    expect(baking).toEqual({
      action: 'await',
      subjects: ['alarm:beta-t1-rollback', 'alarm:team-aggregate-euw1', 'run:api/beta/1'],
      seconds: 3600,
      reason: 'baking r1: 3600 s of bake time, 10 more data points at beta-t1',
    });
    p.clock.advance(3600);
    expect(await advanceStage(p.ports, { stage: 'beta', seq: 1 })).toMatchObject({
      seconds: 300,
      reason: 'baking r1: 10 more data points at beta-t1',
    });
    for (let i = 0; i < 10; i++)
      p.metrics.add('RequestCount', 'beta-t1', new Date(Date.parse(T0) + 60_000));

    const done = await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    expect(done).toEqual({ action: 'done', reason: 'run 1 of beta is over' });
    expect(p.workflows.started.map((s) => s.executionName)).toEqual([
      'api_beta_r1-1',
      'api_gamma_r1-1',
    ]);
  });

  it('needs the minimum data points at every target: a busy one does not carry a quiet one', async () => {
    // Prepare: r1 deployed to both targets of beta and baked its hour.
    const p = pipeline(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [stage('beta', null, { targets: [target('beta-t1'), target('beta-t2')] })],
      }),
    );
    await p.create(1);
    const both = ['beta-t1', 'beta-t2'].map((id) => ({ ...beta, target: id }));
    for (const t of both) await advanceTarget(p.ports, t);
    for (const id of ['d-1', 'd-2']) p.deployer.finish(id, { status: 'succeeded' });
    for (const t of both) await advanceTarget(p.ports, t);
    p.clock.advance(3600);
    const served = new Date(Date.parse(T0) + 60_000);
    p.metrics.add('RequestCount', 'beta-t1', served, 1000);
    p.metrics.add('RequestCount', 'beta-t2', served, 9);

    // Act
    const quiet = await advanceStage(p.ports, { stage: 'beta', seq: 1 });
    p.metrics.add('RequestCount', 'beta-t2', served, 1);
    const enough = await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    // Assess
    expect(quiet).toMatchObject({
      action: 'await',
      reason: 'baking r1: 1 more data points at beta-t2',
    });
    expect(enough).toEqual({ action: 'done', reason: 'run 1 of beta is over' });
    expect((await p.stage('beta'))?.lastApproved).toBe(1);
  });

  it('needs no data points when the stage asks for none, and shortens an expedited release’s bake', async () => {
    const p = pipeline(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [stage('beta', null, { bake: { durationSeconds: 3600, minDataPoints: 0 } })],
      }),
    );
    await p.create(1);
    await p.ports.service.apply(requestExpedite, {
      release: 1,
      requestedBy: 'ana',
      reason: 'CVE fix',
      bakeFactor: 0.25,
    });
    await p.ports.service.apply(approveExpedite, {
      release: 1,
      approvedBy: 'lee',
      reason: 'read it',
    });
    await advanceTarget(p.ports, beta);
    p.deployer.finish('d-1', { status: 'succeeded' });
    await advanceTarget(p.ports, beta);

    expect(await advanceStage(p.ports, { stage: 'beta', seq: 1 })).toMatchObject({
      seconds: 900,
      reason: 'baking r1: 900 s of bake time',
    });
  });

  it('sends the workflow back to its targets when the bake fails', async () => {
    const p = await r1BakingAtBeta();
    p.alarms.set('team-aggregate-euw1', 'ALARM', new Date(Date.parse(T0) + 1000).toISOString());

    const next = await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    expect(next).toEqual({ action: 'redeploy', reason: 'run 1 of beta is rolling-back' });
  });

  it('waits for a manual approval until its timeout, then rejects the release', async () => {
    const withApproval = parsePipelineDefinition({
      ...smallDefinition(),
      stages: [
        stage('beta', null, {
          approvalSteps: [{ kind: 'manual-approval', name: 'qa-sign-off', timeoutSeconds: 7200 }],
        }),
      ],
    });
    const p = await r1BakingAtBeta(withApproval);
    p.clock.advance(3600);
    for (let i = 0; i < 10; i++)
      p.metrics.add('RequestCount', 'beta-t1', new Date(Date.parse(T0) + 60_000));

    const approving = await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    // It watches the alarms while it waits, and looks again at least hourly.
    expect(approving).toEqual({
      action: 'await',
      subjects: [
        'approval:api/beta/1/qa-sign-off',
        'alarm:beta-t1-rollback',
        'alarm:team-aggregate-euw1',
        'run:api/beta/1',
      ],
      seconds: 3600,
      reason: 'waiting for a manual approval: qa-sign-off',
    });
    p.clock.advance(3600);
    expect(await advanceStage(p.ports, { stage: 'beta', seq: 1 })).toMatchObject({
      action: 'await',
      seconds: 3600,
    });
    p.clock.advance(3600);
    expect(await advanceStage(p.ports, { stage: 'beta', seq: 1 })).toEqual({
      action: 'redeploy',
      reason: 'run 1 of beta is rolling-back',
    });
  });
});

describe('failStep', () => {
  it('fails a normal run, rejecting its release, and names the waits to wake; a retry changes nothing', async () => {
    const p = await r1ApprovedAtBeta();
    await p.create(2);
    await advanceTarget(p.ports, { stage: 'beta', seq: 2, target: 'beta-t1' });
    const failure = { stage: 'beta', seq: 2, reason: 'TerminalError: x' };

    const failed = await failStep(p.ports.service, failure);
    const retried = await failStep(p.ports.service, failure);

    expect(failed).toMatchObject({ changed: true, wake: ['run:api/beta/2'] });
    expect(retried).toMatchObject({ changed: false, wake: ['run:api/beta/2'] });
    expect((await p.stage('beta'))?.run).toMatchObject({
      step: 'rolling-back',
      targets: { 'beta-t1': { status: 'rolling-back' } },
    });
    expect((await p.ports.releases.getProgress('api', 2)).stages.beta).toMatchObject({
      status: 'rejected',
      reason: 'TerminalError: x',
    });
  });
});

describe('a rollback that cannot be carried out', () => {
  it('is recorded as failed, closing the stage, instead of failing the workflow step again', async () => {
    const p = await r1ApprovedAtBeta();
    await p.create(2);
    const r2 = { stage: 'beta', seq: 2, target: 'beta-t1' };
    await advanceTarget(p.ports, r2);
    p.deployer.finish('d-2', { status: 'failed', reason: 'tasks failed to start' });
    const gone = {
      ...p.ports,
      deployer: {
        startDeployment: async () => {
          throw new TerminalError('image api@sha256:… of r1 is not in ECR repository api');
        },
        getDeployment: p.deployer.getDeployment.bind(p.deployer),
      },
    };

    const done = await advanceTarget(gone, r2);

    expect(done).toMatchObject({ action: 'done', reason: 'run 2 of beta is over' });
    const state = await p.stage('beta');
    expect(state?.run).toBeNull();
    expect(state?.promotionsIn).toMatchObject({ enabled: false, by: 'release-captain' });
    const failures = p.events.events.filter((e) => e.type === 'Deployment Failed');
    expect(failures.at(-1)?.detail.reason).toBe(
      'the rollback cannot be carried out: image api@sha256:… of r1 is not in ECR repository api',
    );
  });

  it('lets a retryable error through, for the workflow to retry', async () => {
    const p = await r1ApprovedAtBeta();
    await p.create(2);
    const r2 = { stage: 'beta', seq: 2, target: 'beta-t1' };
    await advanceTarget(p.ports, r2);
    p.deployer.finish('d-2', { status: 'failed', reason: 'tasks failed to start' });
    const throttled = {
      ...p.ports,
      deployer: {
        startDeployment: async () => {
          throw new RetryableError('ECS was throttled');
        },
        getDeployment: p.deployer.getDeployment.bind(p.deployer),
      },
    };

    await expect(advanceTarget(throttled, r2)).rejects.toThrow(RetryableError);
    expect((await p.stage('beta'))?.run?.targets['beta-t1']?.status).toBe('rolling-back');
  });
});
