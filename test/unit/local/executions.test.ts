import { describe, expect, it } from 'vitest';
import { RetryableError } from '../../../core/index.js';
import { SimulatedClock } from '../../../local/clock.js';
import { immediateRetries } from '../../../local/executions.js';
import { FUNCTION_ARNS } from '../../../local/runtime.js';
import {
  LocalTaskTokens,
  loadDefinition,
  localContext,
  localTaskHandlers,
  StateMachine,
} from '../../../local/state-machine.js';

const T0 = new Date('2026-11-23T09:00:00Z');
const FN = 'arn:aws:lambda:local:000000000000:function:step';
const seconds = (clock: SimulatedClock) => (clock.now().getTime() - T0.getTime()) / 1000;

/** Runs a one-task definition on the simulated clock. */
function run(
  task: Record<string, unknown>,
  fn: (payload: unknown) => Promise<unknown>,
  clock: SimulatedClock,
) {
  const definition = { StartAt: 'Step', States: { Step: { ...task, End: true } } } as never;
  const tokens = new LocalTaskTokens();
  const started = new StateMachine(definition).run({ token: 't-1', seconds: 30 } as never, {
    overrides: {
      taskResourceLocalHandlers: localTaskHandlers(definition, { [FN]: fn }, tokens, { clock }),
      retryIntervalOverrides: immediateRetries(definition),
    },
    context: localContext('test'),
  });
  let outcome: string | null = null;
  started.result.then(
    () => {
      outcome = 'succeeded';
    },
    (error: Error) => {
      // The interpreter wraps the state's error in an ExecutionError.
      outcome = `failed: ${(error.cause as Error | undefined)?.name ?? error.name}`;
    },
  );
  return { outcome: () => outcome, tokens };
}

describe('local executions on the simulated clock', () => {
  it('retry after the retrier’s interval of clock time, however long the machine takes', async () => {
    const clock = new SimulatedClock(T0, { stepMs: 1000 });
    const calls: number[] = [];
    const execution = run(
      {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: FN, 'Payload.$': '$' },
        Retry: [{ ErrorEquals: ['RetryableError'], IntervalSeconds: 2, MaxAttempts: 3 }],
      },
      async () => {
        calls.push(Math.round(seconds(clock)));
        if (calls.length === 1) throw new RetryableError('throttled');
        return 'ok';
      },
      clock,
    );

    await clock.settle();
    expect(calls).toEqual([0]);
    clock.step();
    await clock.settle();
    expect(calls).toEqual([0]);
    expect(execution.outcome()).toBeNull();
    clock.step();
    await clock.settle();

    expect(calls).toEqual([0, 2]);
    expect(execution.outcome()).toBe('succeeded');
  });

  it('end a waiting step at its timeout in clock time, and forget its token', async () => {
    const clock = new SimulatedClock(T0, { stepMs: 10_000 });
    const execution = run(
      {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: { FunctionName: FN, 'Payload.$': '$' },
      },
      async () => ({ registered: true }),
      clock,
    );

    for (let i = 0; i < 2; i++) {
      await clock.settle();
      clock.step();
    }
    await clock.settle();
    expect(execution.outcome()).toBeNull();
    clock.step();
    await clock.settle();

    expect(seconds(clock)).toBeGreaterThanOrEqual(30);
    expect(execution.outcome()).toBe('failed: States.Timeout');
    expect(await execution.tokens.succeed('t-1', {})).toBe('gone');
  });

  it('give every retrier of the stage workflow a zero interval: the clock waits it instead', async () => {
    const definition = await loadDefinition('statemachines/stage.asl.json', FUNCTION_ARNS);

    const intervals = immediateRetries(definition);

    expect(Object.keys(intervals).sort()).toEqual([
      'Advance stage',
      'Advance target',
      'Await a stage event',
      'Await a target event',
      'Fail the run',
      'Fail the run for the target',
    ]);
    expect(Object.values(intervals).flat()).toEqual(Array(6).fill(0));
  });
});
