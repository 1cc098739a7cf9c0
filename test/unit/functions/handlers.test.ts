import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { RetryableError, TerminalError } from '../../../core/index.js';
import { createAdvanceTargetHandler } from '../../../functions/advance-target.js';
import { createFailRunHandler } from '../../../functions/fail-run.js';
import type { HandlerDeps } from '../../../functions/lib/deps.js';
import { WAKE_EVENTS } from '../../../functions/lib/wake-events.js';
import { subjectOf, wakeEvent } from '../../../functions/wake.js';

const context = {
  functionName: 'test',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 1000,
} as Context;
const unreachable = async (): Promise<HandlerDeps> => {
  throw new Error('the handler must not reach its dependencies');
};

/** What the stage workflow sends with every call of its loops. */
const call = { pipeline: 'api', stage: 'beta', seq: 1, attempt: 1, looks: 0 };

describe('step handlers', () => {
  it.each([
    { input: { ...call, seq: 0, target: 't1' }, field: 'seq' },
    { input: { ...call }, field: 'target' },
    { input: { ...call, target: 't1', attempt: 0 }, field: 'attempt' },
    { input: { ...call, target: 't1', looks: -1 }, field: 'looks' },
    { input: 'not an object', field: 'input' },
  ])(
    'refuse input the state machine should never send ($field) as a TerminalError',
    async ({ input, field }) => {
      const handler = createAdvanceTargetHandler(unreachable);

      const failure = await handler(input, context).catch((error: unknown) => error);

      expect(failure).toBeInstanceOf(TerminalError);
      expect((failure as Error).message).toMatch(
        /^The advance-target step received input it cannot read \(/,
      );
      expect((failure as Error).message).toContain(field);
      expect((failure as Error).message).toContain('deploy them together');
    },
  );

  it('pass the core’s retryable errors through under their own name, for the ASL to retry', async () => {
    const handler = createAdvanceTargetHandler(async () => {
      throw new RetryableError('DynamoDB was throttled');
    });

    const failure = await handler({ ...call, target: 't1' }, context).catch(
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(RetryableError);
    expect((failure as Error).name).toBe('RetryableError');
  });

  it('fail the run with the message a Lambda error carried in its Cause', async () => {
    const applied: unknown[] = [];
    const deps = async () =>
      ({
        clock: { now: () => new Date('2026-11-23T10:00:00Z') },
        wakes: { claim: async () => [] },
        driver: async () => ({
          service: {
            topology: { pipeline: 'api' },
            state: async () => ({
              stages: { beta: { run: { seq: 3, kind: 'normal', step: 'deploying', targets: {} } } },
            }),
            apply: async (_rule: unknown, input: unknown) => {
              applied.push(input);
              return { writes: [{}], note: null };
            },
          },
        }),
      }) as unknown as HandlerDeps;
    const handler = createFailRunHandler(deps);

    await handler(
      {
        pipeline: 'api',
        stage: 'beta',
        seq: 3,
        attempt: 2,
        error: {
          Error: 'NotFoundError',
          Cause: JSON.stringify({
            errorType: 'NotFoundError',
            errorMessage: 'r9 of api is not in the release store',
          }),
        },
      },
      context,
    );

    expect(applied).toEqual([
      {
        stage: 'beta',
        seq: 3,
        attempt: 2,
        reason: 'NotFoundError: r9 of api is not in the release store',
      },
    ]);
  });
});

describe('wake events', () => {
  it.each([
    {
      event: {
        'detail-type': 'CodeDeploy Deployment State-change Notification',
        time: '2026-11-23T10:00:00Z',
        detail: { deploymentId: 'd-ABC', state: 'SUCCESS' },
      },
      subject: 'deployment:d-ABC',
    },
    {
      event: {
        'detail-type': 'ECS Deployment State Change',
        time: '2026-11-23T10:00:00Z',
        detail: { deploymentId: 'ecs-svc/123', eventName: 'SERVICE_DEPLOYMENT_COMPLETED' },
      },
      subject: 'deployment:ecs-svc/123',
    },
    {
      event: {
        'detail-type': 'Local Fleet Deployment State Change',
        time: '2026-11-23T10:00:00Z',
        detail: { deploymentId: 'local-3', status: 'succeeded' },
      },
      subject: 'deployment:local-3',
    },
    {
      event: {
        'detail-type': 'CloudWatch Alarm State Change',
        time: '2026-11-23T10:00:00Z',
        detail: { alarmName: 'team-aggregate-use1' },
      },
      subject: 'alarm:team-aggregate-use1',
    },
  ])('map $subject', ({ event, subject }) => {
    expect(subjectOf(wakeEvent.parse(event))).toBe(subject);
  });

  it('are exactly the events the wake rules match, in the cloud and locally', () => {
    const parsed = wakeEvent.options.map((option) => option.shape['detail-type'].value).sort();
    expect(parsed).toEqual(Object.keys(WAKE_EVENTS).sort());
  });
});
