/**
 * The stage workflow end to end on this machine: the real ASL in aws-local-stepfunctions,
 * the handler modules of functions/, DynamoDB on dynalite. Hours pass on fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parsePipelineDefinition } from '../../core/index.js';
import { release, smallDefinition, stage, target } from '../support/fixtures.js';
import { type LocalPipeline, startLocalPipeline } from '../support/local-pipeline.js';

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
        target('prod-1-b', { region: 'us-east-1', timeZone: 'America/New_York' }),
      ],
    }),
  ],
});

let p: LocalPipeline;
beforeEach(async () => {
  // dynalite activates its table on a timer: fake time only once the table is there.
  p = await startLocalPipeline(definition);
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(async () => {
  await p.close();
  vi.useRealTimers();
});

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
async function bakeThrough(name: string, release = 1) {
  await p.until(
    () => p.waitingIn(`api-${name}-r${release}-1`, 'Await a stage event'),
    `${name} baking`,
  );
  await p.pass(3600);
}

async function passStage(name: string, targets: number) {
  for (const id of await deploymentsOf(name, targets)) await p.finishDeployment(id);
  await bakeThrough(name);
}

describe('the stage workflow', { timeout: 60_000 }, () => {
  it('takes a release through three stages, each deployment woken by its event', async () => {
    await p.create(release(1));

    await passStage('beta', 1);
    await passStage('gamma', 1);
    await passStage('prod-1', 2);

    await p.until(async () => (await p.stage('prod-1'))?.lastApproved === 1, 'prod-1 approves r1');
    await p.until(() => p.executions.list().every((e) => e.status !== 'running'), 'executions end');
    expect(p.executions.list().map((e) => [e.name, e.status])).toEqual([
      ['api-beta-r1-1', 'succeeded'],
      ['api-gamma-r1-1', 'succeeded'],
      ['api-prod-1-r1-1', 'succeeded'],
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
});
