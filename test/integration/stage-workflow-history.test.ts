/**
 * A run that waits for days must not fill its execution's history: Step Functions ends an
 * execution at 25,000 events, and after three such deaths the reconciler would reject a
 * release that was only waiting. The real ASL runs in the local interpreter; its history
 * is converted to the events Step Functions would write for the same states.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lookBudget, parsePipelineDefinition, recordOverride } from '../../core/index.js';
import type { LocalExecution } from '../../local/executions.js';
import { release, smallDefinition, stage, target } from '../support/fixtures.js';
import { type LocalPipeline, startLocalPipeline } from '../support/local-pipeline.js';

/** Small enough that a two-day wait hands over several times (25 looks per loop here). */
const BUDGET = 1_400;

/** A production stage over three targets; r1 brings a commit nobody reviewed. */
const definition = parsePipelineDefinition({
  ...smallDefinition(),
  stages: [
    stage('prod-1', null, {
      phase: 'production',
      wave: 1,
      bake: { durationSeconds: 0, minDataPoints: 0 },
      targets: [target('t1'), target('t2'), target('t3')],
    }),
  ],
});
const unreviewed = release(1, {
  commits: [{ sha: 'c1'.padEnd(40, '0'), author: 'dev', message: 'hotfix', review: null }],
});

/** Each state type's events on Step Functions, per entry (the Map's own, plus per iteration). */
const EVENTS = { Task: 5, Pass: 2, Choice: 2, Succeed: 2, Fail: 2, Map: 4 } as const;
const WAIT_TASK_EXTRA = 1; // TaskSubmitted of a .waitForTaskToken task
const ITERATION = 2; // MapIterationStarted, MapIterationSucceeded

/** The states of statemachines/stage.asl.json by name: their type, and whether they wait. */
const states = (() => {
  const asl = JSON.parse(readFileSync('statemachines/stage.asl.json', 'utf8'));
  const byName = new Map<string, { type: keyof typeof EVENTS; waits: boolean }>();
  const visit = (
    all: Record<
      string,
      { Type: keyof typeof EVENTS; Resource?: string; ItemProcessor?: { States: never } }
    >,
  ) => {
    for (const [name, state] of Object.entries(all)) {
      byName.set(name, {
        type: state.Type,
        waits: state.Resource?.endsWith('.waitForTaskToken') ?? false,
      });
      if (state.ItemProcessor) visit(state.ItemProcessor.States);
    }
  };
  visit(asl.States);
  return byName;
})();

/** The history events Step Functions would write for what the local execution did. */
function stepFunctionsEvents(execution: LocalExecution): number {
  let events = 2; // ExecutionStarted, ExecutionSucceeded
  for (const entry of execution.history) {
    if (entry.type === 'MapIterationStarted') events += ITERATION;
    if (entry.type !== 'StateEntered' || entry.state === undefined) continue;
    const state = states.get(entry.state);
    if (state === undefined) throw new Error(`unknown state ${entry.state}`);
    events += EVENTS[state.type] + (state.waits ? WAIT_TASK_EXTRA : 0);
  }
  return events;
}

/** Whether exactly one execution runs and each of its three target iterations waits. */
function waitingOnTargets(): boolean {
  const running = p.executions.list().filter((e) => e.status === 'running');
  if (running.length !== 1 || p.executions.list().some((e) => e.status === 'failed')) return false;
  const history = running[0]?.history ?? [];
  const count = (type: string) =>
    history.filter((e) => e.type === type && e.state === 'Await a target event').length;
  return count('StateEntered') - count('StateExited') === 3;
}

let p: LocalPipeline;
beforeEach(async () => {
  p = await startLocalPipeline(definition, { historyBudget: BUDGET });
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(async () => {
  await p.close();
  vi.useRealTimers();
});

describe('a run blocked for days', { timeout: 240_000 }, () => {
  it('hands over to a new attempt before its history fills, every execution within its budget, and deploys once unblocked', async () => {
    await p.create(unreviewed);
    await p.until(
      async () => (await p.stage('prod-1'))?.run?.blockers.length === 3,
      'prod-1 blocked on its unreviewed commit',
    );

    // Two days of 15-minute re-checks by three targets.
    // Two days of 15-minute re-checks by three targets.
    for (let quarter = 0; quarter < 2 * 96; quarter++) await p.pass(900);
    await p.until(waitingOnTargets, 'one execution left, its three targets waiting');

    const executions = p.executions.list();
    const run = (await p.stage('prod-1'))?.run;
    expect(lookBudget(3, BUDGET)).toBe(25);
    // 192 looks per target at 25 per execution: at least 7 hand-overs, each recorded.
    expect(executions.length).toBeGreaterThanOrEqual(8);
    expect(run?.attempt).toBe(executions.length);
    expect(run?.handovers).toBe(executions.length - 1);
    expect(executions.slice(0, -1).map((e) => e.status)).toEqual(
      executions.slice(0, -1).map(() => 'succeeded'),
    );
    for (const execution of executions) {
      expect(stepFunctionsEvents(execution), execution.name).toBeLessThanOrEqual(BUDGET * 1.25);
    }
    // The reconciler counts hand-overs as decisions, not as deaths.
    const report = await p.reconcile();
    expect(report).toMatchObject({ failed: [], stuck: [], restarted: [] });
    expect((await p.stage('prod-1'))?.run?.step).toBe('waiting');

    // An operator overrides the review blocker: the latest attempt deploys r1.
    const now = p.clock.now().getTime();
    await p.service.apply(recordOverride, {
      override: {
        id: 'ov-1',
        kind: 'unreviewed',
        subject: null,
        stage: 'prod-1',
        release: 1,
        by: 'ana',
        reason: 'reviewed on the incident call',
        at: new Date(now).toISOString(),
        until: new Date(now + 3_600_000).toISOString(),
      },
    });
    await p.pass(900);
    await p.until(() => p.deployer.requests.length === 3, 'the three targets deploy r1');
    // The targets deploy in parallel (the Map's iterations), in no particular order.
    expect(p.deployer.requests.map((r) => r.idempotencyKey).sort()).toEqual([
      'api/prod-1/1/t1/normal',
      'api/prod-1/1/t2/normal',
      'api/prod-1/1/t3/normal',
    ]);
  });
});
