import { describe, expect, it } from 'vitest';
import {
  advanceStage,
  advanceTarget,
  approveExpedite,
  failStage,
  failStep,
  HISTORY_EVENTS_PER_LOOK,
  handOverRun,
  parsePipelineDefinition,
  recordDeployment,
  requestExpedite,
  restartRun,
  StaleAttemptError,
} from '../../../core/index.js';
import { type DriverWorld, driverWorld } from '../../support/driver-world.js';
import { smallDefinition, stage, T0, target } from '../../support/fixtures.js';

/**
 * Cases of the stage driver that scripts/check-safety-mutants.sh found no test for: each
 * fails when the driver is broken the way its mutant breaks it.
 */

const beta = { stage: 'beta', seq: 1, target: 'beta-t1' };
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

/** r1 deploying to beta-t1 (d-1), by the execution's first attempt. */
async function r1DeployingAtBeta(): Promise<DriverWorld> {
  const p = driverWorld();
  await p.create(1);
  await advanceTarget(p.ports, beta);
  return p;
}

/** r1 deployed to beta-t1 at T0 (d-1) and baking there. */
async function r1BakingAtBeta(): Promise<DriverWorld> {
  const p = await r1DeployingAtBeta();
  p.deployer.finish('d-1', { status: 'succeeded' });
  await advanceTarget(p.ports, beta);
  return p;
}

/** One stage over two Dublin targets, which share the Region's aggregate alarm. */
const twoInDublin = parsePipelineDefinition({
  ...smallDefinition(),
  stages: [stage('beta', null, { targets: [target('a'), target('b')] })],
});

describe('the alarms watched while a target deploys', () => {
  it('fail the run on an alarm that came and went between two looks', async () => {
    const p = await r1DeployingAtBeta();
    // 10:10: the rollback alarm fires and clears before anyone looks (a lost event).
    p.clock.advance(600);
    p.alarms.set('beta-t1-rollback', 'ALARM', p.at(0));
    p.alarms.set('beta-t1-rollback', 'OK');
    p.clock.advance(60);

    await advanceTarget(p.ports, beta);

    const progress = await p.ports.releases.getProgress('api', 1);
    expect(progress.stages.beta).toMatchObject({
      status: 'rejected',
      reason: `alarm beta-t1-rollback went into ALARM at ${at(600)}, while the release ran while r1 was deploying to beta-t1`,
    });
  });

  it('stop the deployment, even where there is nothing to roll back to', async () => {
    const p = await r1DeployingAtBeta();
    p.alarms.set('beta-t1-rollback', 'ALARM', p.at(0));

    await advanceTarget(p.ports, beta);

    expect(p.deployer.stopped).toEqual(['d-1']);
    expect((await p.ports.releases.getProgress('api', 1)).stages.beta?.status).toBe('rejected');
  });
});

describe('the bake', () => {
  it('watches an alarm two targets share from the first of them to deploy', async () => {
    const p = driverWorld(twoInDublin);
    p.alarms.set('b-rollback', 'ALARM'); // b is blocked at first
    await p.create(1);
    await advanceTarget(p.ports, { stage: 'beta', seq: 1, target: 'a' }); // a: 10:00
    p.clock.advance(1200);
    p.alarms.set('b-rollback', 'OK');
    await advanceTarget(p.ports, { stage: 'beta', seq: 1, target: 'b' }); // b: 10:20
    p.deployer.finish('d-1', { status: 'succeeded' });
    p.deployer.finish('d-2', { status: 'succeeded' });
    await advanceTarget(p.ports, { stage: 'beta', seq: 1, target: 'a' });
    await advanceTarget(p.ports, { stage: 'beta', seq: 1, target: 'b' });
    // Reported late: the shared aggregate alarm fired at 10:10, while only a ran r1.
    p.alarms.set('team-aggregate-euw1', 'ALARM', at(600));
    p.alarms.set('team-aggregate-euw1', 'OK');

    const next = await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    expect(next).toEqual({ action: 'redeploy', reason: 'run 1 of beta is rolling-back' });
    expect((await p.stage('beta'))?.run?.failure).toMatch(
      /^bake failed: alarm team-aggregate-euw1 went into ALARM at 2026-11-23T10:10:00.000Z/,
    );
  });

  it('counts only the data points seen since it began', async () => {
    const p = await r1BakingAtBeta();
    // Requests served before the bake (by the release before, or during the deployment).
    for (let i = 0; i < 10; i++) p.metrics.add('RequestCount', 'beta-t1', new Date(at(-60)));
    p.clock.advance(3600);

    const next = await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    expect(next).toMatchObject({
      action: 'await',
      reason: 'baking r1: 10 more data points at beta-t1',
    });
    expect((await p.stage('beta'))?.run?.step).toBe('baking');
  });

  it('is shortened only for the expedited release, not for the one baking before it', async () => {
    const p = await r1BakingAtBeta();
    await p.create(2);
    await p.ports.service.apply(requestExpedite, {
      release: 2,
      requestedBy: 'ana',
      reason: 'CVE fix',
      bakeFactor: 0.25,
    });
    await p.ports.service.apply(approveExpedite, {
      release: 2,
      approvedBy: 'lee',
      reason: 'read it',
    });

    const next = await advanceStage(p.ports, { stage: 'beta', seq: 1 });

    expect(next).toMatchObject({
      action: 'await',
      seconds: 3600,
      reason: 'baking r1: 3600 s of bake time, 10 more data points at beta-t1',
    });
  });
});

describe('a target still waiting when its run fails', () => {
  it('ends its iteration instead of waiting on its blockers while the others roll back', async () => {
    const p = driverWorld(twoInDublin);
    const a = { stage: 'beta', seq: 1, target: 'a' };
    const b = { stage: 'beta', seq: 1, target: 'b' };
    p.alarms.set('b-rollback', 'ALARM');
    await p.create(1);
    await advanceTarget(p.ports, a);
    await p.ports.service.apply(failStage, { stage: 'beta', seq: 1, reason: 'tests failed' });

    const next = await advanceTarget(p.ports, b);

    expect(next).toEqual({ action: 'done', reason: 'b was never deployed by this run' });
    expect(p.deployer.requests.map((r) => r.target.id)).toEqual(['a']);
  });
});

describe('a step of an attempt that handed its run over', () => {
  it('ends a target’s iteration without deploying anything', async () => {
    const p = driverWorld();
    await p.create(1);
    await p.ports.service.apply(handOverRun, { stage: 'beta', seq: 1, attempt: 1 });

    const next = await advanceTarget(p.ports, { ...beta, attempt: 1, looks: 0 });

    expect(next).toEqual({
      action: 'done',
      reason: 'attempt 1 of run 1 of beta handed the run over to attempt 2',
    });
    expect(p.deployer.requests).toEqual([]);
  });

  it('ends the stage’s loop without approving, even once the bake is over', async () => {
    const p = await r1BakingAtBeta();
    p.clock.advance(3600);
    for (let i = 0; i < 10; i++) p.metrics.add('RequestCount', 'beta-t1', new Date(at(60)));
    await p.ports.service.apply(handOverRun, { stage: 'beta', seq: 1, attempt: 1 });

    const next = await advanceStage(p.ports, { stage: 'beta', seq: 1, attempt: 1, looks: 0 });

    expect(next).toEqual({
      action: 'done',
      reason: 'attempt 1 of run 1 of beta handed the run over to attempt 2',
    });
    expect((await p.stage('beta'))?.run).toMatchObject({ step: 'baking', attempt: 2 });
  });

  it('cannot fail the run: its failure changes nothing', async () => {
    const p = await r1DeployingAtBeta();
    await p.ports.service.apply(handOverRun, { stage: 'beta', seq: 1, attempt: 1 });

    const failed = await failStep(p.ports.service, {
      stage: 'beta',
      seq: 1,
      reason: 'TerminalError: the old execution was stopped',
      attempt: 1,
    });

    expect(failed).toMatchObject({
      changed: false,
      note: 'attempt 1 of run 1 of beta handed the run over to attempt 2',
    });
    expect((await p.stage('beta'))?.run).toMatchObject({ step: 'deploying', attempt: 2 });
  });
});

describe('a step of an attempt that a restart replaced', () => {
  // A start left in the outbox by a failed relay, then a restart: attempts 1 and 2 are live.
  const stale = 'attempt 1 of run 1 of beta is not the run’s current attempt (2)'.replace('’', "'");

  it('is refused, deploying nothing and changing nothing, while the current attempt goes on', async () => {
    // Prepare
    const p = driverWorld();
    await p.create(1);
    await p.ports.service.apply(restartRun, { stage: 'beta', seq: 1, attempt: 1 });
    const before = await p.ports.service.state();

    // Act
    const old = advanceTarget(p.ports, { ...beta, attempt: 1, looks: 0 });
    const oldStage = advanceStage(p.ports, { stage: 'beta', seq: 1, attempt: 1, looks: 0 });

    // Assess
    await expect(old).rejects.toThrow(StaleAttemptError);
    await expect(old).rejects.toThrow(stale);
    await expect(oldStage).rejects.toThrow(stale);
    expect(await p.ports.service.state()).toEqual(before);
    expect(p.deployer.requests).toEqual([]);
    expect(await advanceTarget(p.ports, { ...beta, attempt: 2, looks: 0 })).toMatchObject({
      action: 'await',
    });
    expect(p.deployer.requests.map((r) => r.target.id)).toEqual(['beta-t1']);
  });

  it('cannot fail the run', async () => {
    const p = await r1DeployingAtBeta();
    await p.ports.service.apply(restartRun, { stage: 'beta', seq: 1, attempt: 1 });

    const failing = failStep(p.ports.service, {
      stage: 'beta',
      seq: 1,
      reason: 'TerminalError: from the late execution',
      attempt: 1,
    });

    await expect(failing).rejects.toThrow(StaleAttemptError);
    expect((await p.stage('beta'))?.run).toMatchObject({ step: 'deploying', attempt: 2 });
  });

  it('is refused by the rule itself, so a call that read the state before the restart cannot land', async () => {
    // The step read attempt 1 as current, then the restart was written before its write.
    const p = await r1DeployingAtBeta();
    await p.ports.service.apply(restartRun, { stage: 'beta', seq: 1, attempt: 1 });
    const before = await p.ports.service.state();

    const late = p.ports.service.apply(recordDeployment, {
      stage: 'beta',
      seq: 1,
      target: 'beta-t1',
      kind: 'normal',
      result: 'succeeded',
      attempt: 1,
    });

    await expect(late).rejects.toThrow(stale);
    expect(await p.ports.service.state()).toEqual(before);
  });
});

describe('a loop within its share of the execution’s history', () => {
  // One target and the stage's own loop share it: five looks each.
  const historyBudget = HISTORY_EVENTS_PER_LOOK * 2 * 5;

  it('waits on its attempt’s subject too, so that a hand-over ends the wait', async () => {
    const p = await r1DeployingAtBeta();

    const next = await advanceTarget(
      { ...p.ports, historyBudget },
      { ...beta, attempt: 1, looks: 3 },
    );

    expect(next).toMatchObject({ action: 'await' });
    expect(next.action === 'await' && next.subjects.at(-1)).toBe('attempt:api/beta/1/1');
  });

  it('hands the run over at its last look, and wakes every other wait of its attempt', async () => {
    const p = await r1DeployingAtBeta();

    const next = await advanceTarget(
      { ...p.ports, historyBudget },
      { ...beta, attempt: 1, looks: 4 },
    );

    expect(next).toEqual({
      action: 'done',
      reason:
        "handed over to api_beta_r1-2 after 5 looks, before the execution's history fills (r1 deploying to beta-t1 (d-1))",
      wake: ['attempt:api/beta/1/1'],
    });
    expect((await p.stage('beta'))?.run?.attempt).toBe(2);
  });
});
