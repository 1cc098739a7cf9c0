/**
 * The stage workflow end to end on this machine: the real ASL in aws-local-stepfunctions,
 * the handler modules of functions/, DynamoDB on AWS's DynamoDB Local. Hours pass
 * on fake timers.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parsePipelineDefinition, TerminalError } from '../../core/index.js';
import { sharedTables } from '../support/dynamodb-local.js';
import { release, smallDefinition, stage, target } from '../support/fixtures.js';
import {
  FUNCTION_ARNS,
  type LocalPipeline,
  startLocalPipeline,
} from '../support/local-pipeline.js';

const bake = { durationSeconds: 3600, minDataPoints: 0 };
const definition = parsePipelineDefinition({
  ...smallDefinition(),
  stages: [
    stage('beta', null, { bake }),
    stage('gamma', 'beta', { bake }),
    stage('prod-1', 'gamma', {
      phase: 'production',
      wave: 1,
      bake,
      targets: [
        target('prod-1-a'),
        target('prod-1-b', {
          region: 'us-east-1',
          timeZone: 'America/New_York',
          alarms: { rollback: 'prod-1-b-rollback', aggregate: 'team-aggregate-use1' },
        }),
      ],
    }),
  ],
});

let p: LocalPipeline;

/** DynamoDB Local, started once for the file on first use, a table per test. */
const dynamodb = sharedTables();
afterAll(() => dynamodb.close());

/** The deployment ids the stage's current run started, waiting until every target has one. */
async function deploymentsOf(name: string, count: number): Promise<string[]> {
  let ids: string[] = [];
  await p.until(async () => {
    const run = (await p.stage(name))?.run;
    ids = Object.values(run?.targets ?? {}).flatMap((t) =>
      t.deploymentId === null ? [] : [t.deploymentId],
    );
    return ids.length === count;
  }, `${name} started ${count} deployments`);
  return ids;
}

/** Waits until the stage bakes and its workflow waits on the bake, then lets the bake time pass. */
async function bakeThrough(name: string, release = 1, attempt = 1) {
  await p.until(
    () => p.waitingIn(`api_${name}_r${release}-${attempt}`, 'Await a stage event'),
    `${name} baking`,
  );
  await p.pass(3600);
}

async function passStage(name: string, targets: number, release = 1) {
  for (const id of await deploymentsOf(name, targets)) await p.finishDeployment(id);
  await bakeThrough(name, release);
}

describe('on DynamoDB Local', () => {
  beforeEach(async () => {
    // Fake time only once the table is there.
    p = await startLocalPipeline(definition, { table: dynamodb.table });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(async () => {
    await p.close();
    vi.useRealTimers();
  });

  describe('the stage workflow', { timeout: 60_000 }, () => {
    it('takes a release through three stages, each deployment woken by its event', async () => {
      await p.create(release(1));

      await passStage('beta', 1);
      await passStage('gamma', 1);
      await passStage('prod-1', 2);

      await p.until(
        async () => (await p.stage('prod-1'))?.lastApproved === 1,
        'prod-1 approves r1',
      );
      await p.until(
        () => p.executions.list().every((e) => e.status !== 'running'),
        'executions end',
      );
      expect(p.executions.list().map((e) => [e.name, e.status])).toEqual([
        ['api_beta_r1-1', 'succeeded'],
        ['api_gamma_r1-1', 'succeeded'],
        ['api_prod-1_r1-1', 'succeeded'],
      ]);
      expect((await p.releases.getProgress('api', 1)).stages).toMatchObject({
        beta: { status: 'approved' },
        gamma: { status: 'approved' },
        'prod-1': { status: 'approved' },
      });
      expect(
        p.events.events.filter((e) => e.type === 'Stage Approved').map((e) => e.detail.stage),
      ).toEqual(['beta', 'gamma', 'prod-1']);
    });

    it('rolls back and rejects a release whose bake sees the aggregate alarm', async () => {
      await p.create(release(1));
      await passStage('beta', 1);
      await p.create(release(2));
      await p.until(async () => (await p.stage('beta'))?.run?.release === 2, 'beta takes r2');
      const [r2] = await deploymentsOf('beta', 1);
      await p.finishDeployment(r2 as string);
      await p.until(() => p.waitingIn('api_beta_r2-1', 'Await a stage event'), 'beta bakes r2');

      await p.setAlarm('team-aggregate-euw1', 'ALARM');

      const rollback = { id: null as string | null };
      await p.until(async () => {
        const t = (await p.stage('beta'))?.run?.targets['beta-t1'];
        rollback.id = t?.status === 'rolling-back' ? t.deploymentId : null;
        return rollback.id !== null;
      }, 'beta starts rolling back');
      expect(p.deployer.requests.at(-1)).toMatchObject({ kind: 'rollback' });
      expect(p.deployer.requests.at(-1)?.release.number).toBe(1);
      await p.finishDeployment(rollback.id as string);
      await p.until(async () => (await p.stage('beta'))?.run === null, 'the rollback ends');
      await p.executions.get('api_beta_r2-1')?.done;

      expect(p.executions.get('api_beta_r2-1')?.status).toBe('succeeded');
      expect((await p.stage('beta'))?.targets['beta-t1']?.deployed).toBe(1);
      expect((await p.releases.getProgress('api', 2)).stages.beta).toMatchObject({
        status: 'rejected',
        reason: expect.stringContaining('alarm team-aggregate-euw1'),
      });
      expect(p.events.events.map((e) => e.type)).toEqual(
        expect.arrayContaining(['Rollback Started', 'Rollback Completed']),
      );
      expect(p.executions.get('api_gamma_r2-1')).toBeUndefined();
    });

    it('lets a newer release supersede an older one waiting at a busy stage', async () => {
      await p.create(release(1));
      await deploymentsOf('beta', 1);

      await p.create(release(2));
      await p.create(release(3));
      await passStage('beta', 1);

      await p.until(async () => (await p.stage('beta'))?.run?.release === 3, 'beta takes r3');
      expect((await p.releases.getProgress('api', 2)).stages.beta).toMatchObject({
        status: 'superseded',
        by: 3,
      });
      await p.until(() => p.executions.get('api_beta_r3-1') !== undefined, 'r3 runs at beta');
      expect(p.executions.get('api_beta_r2-1')).toBeUndefined();
    });

    it('changes nothing when a task is delivered twice', async () => {
      await p.create(release(1));
      await deploymentsOf('beta', 1);
      await p.until(() => p.waitingIn('api_beta_r1-1', 'Await a target event'), 'beta waits');
      const before = await p.stage('beta');
      const deployments = p.deployer.requests.length;
      const events = p.events.events.length;

      // The same invocation again, as a Lambda retry or a duplicated delivery would make it.
      const input = {
        pipeline: 'api',
        stage: 'beta',
        seq: 1,
        attempt: 1,
        looks: 1,
        target: 'beta-t1',
      };
      const again = await p.handlers[FUNCTION_ARNS.AdvanceTargetFunctionArn]?.(input, {} as never);

      expect(again).toMatchObject({
        action: 'await',
        subjects: [
          'deployment:d-1',
          expect.any(String),
          expect.any(String),
          'run:api/beta/1',
          'attempt:api/beta/1/1',
        ],
      });
      expect(await p.stage('beta')).toEqual(before);
      expect(p.deployer.requests).toHaveLength(deployments);
      expect(p.events.events).toHaveLength(events);
    });

    it('resumes a run whose execution died mid-bake, under a new attempt, deploying nothing twice', async () => {
      await p.create(release(1));
      const [id] = await deploymentsOf('beta', 1);
      await p.finishDeployment(id as string);
      await p.until(() => p.waitingIn('api_beta_r1-1', 'Await a stage event'), 'beta bakes');
      p.executions.get('api_beta_r1-1')?.abort();
      await p.executions.get('api_beta_r1-1')?.done;
      await p.pass(900);

      const report = await p.reconcile();

      expect(report).toMatchObject({ restarted: ['api_beta_r1-2'], failed: [], stuck: [] });
      await bakeThrough('beta', 1, 2);
      await p.until(async () => (await p.stage('beta'))?.lastApproved === 1, 'beta approves r1');
      expect(p.deployer.requests.filter((r) => r.target.id === 'beta-t1')).toHaveLength(1);
      expect(p.executions.get('api_beta_r1-1')?.status).toBe('aborted');
    });

    it('fails an execution of a replaced attempt at its first step, and it changes nothing', async () => {
      // Prepare: attempt 1 died while beta-t1 deployed; the reconciler started attempt 2.
      await p.create(release(1));
      const [id] = await deploymentsOf('beta', 1);
      await p.until(() => p.waitingIn('api_beta_r1-1', 'Await a target event'), 'beta deploys');
      p.executions.get('api_beta_r1-1')?.abort();
      await p.executions.get('api_beta_r1-1')?.done;
      await p.pass(900);
      expect(await p.reconcile()).toMatchObject({ restarted: ['api_beta_r1-2'] });
      await p.until(() => p.waitingIn('api_beta_r1-2', 'Await a target event'), 'attempt 2 waits');
      const before = await p.stage('beta');

      // Act: attempt 1's start, left in an outbox by a failed relay, arrives after the restart.
      await p.executions.startRun('api', {
        stage: 'beta',
        seq: 1,
        kind: 'normal',
        release: 1,
        attempt: 1,
        executionName: 'api_beta_r1-1-relayed-late',
        targets: ['beta-t1'],
      });
      const late = p.executions.get('api_beta_r1-1-relayed-late');
      await late?.done;

      // Assess: refused at its first call, its "Fail the run" step never ran.
      expect(late?.status).toBe('failed');
      expect(late?.error).toContain(
        "attempt 1 of run 1 of beta is not the run's current attempt (2)",
      );
      expect(late?.history.map((h) => h.state)).not.toContain('Fail the run for the target');
      expect(await p.stage('beta')).toEqual(before);
      await p.finishDeployment(id as string);
      await bakeThrough('beta', 1, 2);
      await p.until(async () => (await p.stage('beta'))?.lastApproved === 1, 'beta approves r1');
      expect(p.deployer.requests.filter((r) => r.target.id === 'beta-t1')).toHaveLength(1);
    });

    it('stops the other targets’ deployments when one fails, and rolls them back once stopped', async () => {
      await p.create(release(1));
      await passStage('beta', 1);
      await passStage('gamma', 1);
      await passStage('prod-1', 2);
      await p.create(release(2));
      await p.until(async () => (await p.stage('beta'))?.run?.release === 2, 'beta takes r2');
      await passStage('beta', 1, 2);
      await p.until(async () => (await p.stage('gamma'))?.run?.release === 2, 'gamma takes r2');
      await passStage('gamma', 1, 2);
      await p.until(async () => (await p.stage('prod-1'))?.run?.release === 2, 'prod-1 takes r2');
      const [first, second] = await deploymentsOf('prod-1', 2);
      await p.until(() => p.waitingIn('api_prod-1_r2-1', 'Await a target event'), 'prod-1 waits');

      await p.finishDeployment(first as string, 'failed');

      await p.until(
        () => p.deployer.stopped.includes(second as string),
        'the other deployment is stopped',
      );
      await p.until(
        () => p.deployer.requests.filter((r) => r.kind === 'rollback').length === 2,
        'both targets roll back',
      );
      expect(
        p.deployer.requests.filter((r) => r.kind === 'rollback').map((r) => r.release.number),
      ).toEqual([1, 1]);
      for (const request of p.deployer.requests.slice(-2)) {
        const id = `d-${p.deployer.requests.indexOf(request) + 1}`;
        await p.finishDeployment(id);
      }
      await p.until(async () => (await p.stage('prod-1'))?.run === null, 'the rollback ends');
      expect((await p.releases.getProgress('api', 2)).stages['prod-1']).toMatchObject({
        status: 'rejected',
      });
      expect(
        Object.values((await p.stage('prod-1'))?.targets ?? {}).map((t) => t.deployed),
      ).toEqual([1, 1]);
    });

    it('closes the stage instead of looping when a rollback cannot be started', async () => {
      await p.create(release(1));
      await passStage('beta', 1);
      await p.create(release(2));
      const [id] = await deploymentsOf('beta', 1);
      const start = p.deployer.startDeployment.bind(p.deployer);
      p.deployer.startDeployment = async (request) => {
        if (request.kind === 'rollback')
          throw new TerminalError('the image of r1 was deleted from ECR');
        return start(request);
      };

      await p.finishDeployment(id as string, 'failed');

      await p.until(async () => (await p.stage('beta'))?.run === null, 'the run ends');
      await p.executions.get('api_beta_r2-1')?.done;
      expect(p.executions.get('api_beta_r2-1')?.status).toBe('succeeded');
      expect((await p.stage('beta'))?.promotionsIn).toMatchObject({ enabled: false });
      // The driver records the rollback as failed itself: no trip through fail-run, no loop.
      expect(p.invocations.filter((i) => i.fn === 'fail-run')).toHaveLength(0);
      expect(p.invocations.filter((i) => i.fn === 'advance-target').length).toBeLessThan(6);
    });

    it('starts a blocked target once its blocking alarm clears, woken by the alarm event', async () => {
      p.alarms.set('team-aggregate-euw1', 'ALARM', p.clock.now().toISOString());
      await p.create(release(1));
      await p.until(() => p.waitingIn('api_beta_r1-1', 'Await a target event'), 'beta waits');
      expect(p.deployer.requests).toEqual([]);
      expect((await p.stage('beta'))?.run?.blockers).toMatchObject([
        { kind: 'alarm', subject: 'team-aggregate-euw1' },
      ]);

      await p.setAlarm('team-aggregate-euw1', 'OK');

      await deploymentsOf('beta', 1);
      expect(p.deployer.requests).toHaveLength(1);
    });
  });

  describe('an approval step', { timeout: 60_000 }, () => {
    const withSteps = async (
      approvalSteps: NonNullable<Parameters<typeof stage>[2]>['approvalSteps'],
    ) => {
      await p.close();
      vi.useRealTimers(); // the table is created on real time
      p = await startLocalPipeline(
        parsePipelineDefinition({
          ...definition,
          stages: [stage('beta', null, { bake, approvalSteps })],
        }),
        { table: dynamodb.table },
      );
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      await p.create(release(1));
      const [id] = await deploymentsOf('beta', 1);
      await p.finishDeployment(id as string);
      await bakeThrough('beta');
      await p.until(
        async () =>
          (await p.stage('beta'))?.run?.step === 'approving' &&
          p.waitingIn('api_beta_r1-1', 'Await a stage event'),
        'beta waits for its approval step',
      );
    };

    it('waits for the test runner’s verdict, resumed by its task token, then approves', async () => {
      await withSteps([{ kind: 'integration-tests', name: 'api-tests', timeoutSeconds: 3600 }]);

      const reported = await p.approve({
        stage: 'beta',
        seq: 1,
        step: 'api-tests',
        passed: true,
        by: 'test-runner',
        reason: '412 passed',
      });

      expect(reported).toMatchObject({ recorded: true, woken: 1 });
      await p.executions.get('api_beta_r1-1')?.done;
      expect(p.executions.get('api_beta_r1-1')?.status).toBe('succeeded');
      expect((await p.stage('beta'))?.lastApproved).toBe(1);
    });

    it('refuses a manual approval reported as a test result, in anybody’s name, changing nothing', async () => {
      await withSteps([{ kind: 'manual-approval', name: 'qa-sign-off', timeoutSeconds: 86_400 }]);
      const before = await p.stage('beta');

      const refused = await p
        .approve({
          stage: 'beta',
          seq: 1,
          step: 'qa-sign-off',
          passed: true,
          by: 'the-release-manager',
          reason: 'looks good',
        })
        .catch((error: unknown) => error);

      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(
        /manual approval: a person passes or fails it through the operator API/,
      );
      expect(await p.stage('beta')).toEqual(before);
      expect(p.waitingIn('api_beta_r1-1', 'Await a stage event')).toBe(true);
    });
  });
});
