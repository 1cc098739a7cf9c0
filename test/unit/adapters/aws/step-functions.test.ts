import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ExecutionLimitExceeded,
  InvalidName,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  StepFunctionsTaskTokens,
  StepFunctionsWorkflowStarter,
} from '../../../../adapters/aws/step-functions.js';
import { RetryableError, type RunStart, TerminalError } from '../../../../core/index.js';

expect.extend(allCustomMatcher);

const sfn = mockClient(SFNClient);
const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:captain-stage';
const RUN: RunStart = {
  targets: ['gamma-t1'],
  stage: 'gamma',
  seq: 3,
  kind: 'normal',
  release: 42,
  attempt: 1,
  executionName: 'api_gamma_r42-1',
};
const TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAA${'x'.repeat(600)}`;

function starter(): StepFunctionsWorkflowStarter {
  return new StepFunctionsWorkflowStarter(
    new SFNClient({}),
    (run) => `${ARN}-${run.kind}`,
    (pipeline, run) => ({ pipeline, stage: run.stage, release: run.release, seq: run.seq }),
  );
}

function sfnError(name: string, status: number, message = name): SFNServiceException {
  return new SFNServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

describe('StepFunctionsWorkflowStarter', () => {
  beforeEach(() => {
    sfn.reset();
  });

  it('starts an execution named by the run, on its state machine, with its input', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:api_gamma_r42-1` });

    // Act
    const result = await starter().startRun('api', RUN);

    // Assess
    expect(result).toBe('started');
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: `${ARN}-normal`,
      name: 'api_gamma_r42-1',
    });
    const input = sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input;
    expect(JSON.parse(input ?? '')).toEqual({
      pipeline: 'api',
      stage: 'gamma',
      release: 42,
      seq: 3,
    });
  });

  it('answers already-started when the same run is started twice', async () => {
    // Prepare
    sfn
      .on(StartExecutionCommand)
      .resolvesOnce({ executionArn: `${ARN}:api_gamma_r42-1` })
      .rejects(
        new ExecutionAlreadyExists({
          message: 'Execution Already Exists: api_gamma_r42-1',
          $metadata: {},
        }),
      );
    const workflows = starter();

    // Act
    const first = await workflows.startRun('api', RUN);
    const second = await workflows.startRun('api', RUN);

    // Assess
    expect([first, second]).toEqual(['started', 'already-started']);
    expect(sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input.name)).toEqual([
      'api_gamma_r42-1',
      'api_gamma_r42-1',
    ]);
  });

  it('explains an invalid execution name with the name and the rule', async () => {
    // Prepare
    const name = `api-${'g'.repeat(90)}-r42-1`;
    sfn
      .on(StartExecutionCommand)
      .rejects(new InvalidName({ message: 'Invalid Name', $metadata: {} }));

    // Act
    const start = starter().startRun('api', { ...RUN, executionName: name });

    // Assess
    await expect(start).rejects.toThrow(TerminalError);
    await expect(start).rejects.toThrow(`Execution name "${name}" (${name.length} characters)`);
    await expect(start).rejects.toThrow('1 to 80 characters');
  });

  it.each([
    {
      error: new ExecutionLimitExceeded({ message: 'limit', $metadata: {} }),
      expected: RetryableError,
    },
    { error: sfnError('ThrottlingException', 400, 'Rate exceeded'), expected: RetryableError },
    { error: sfnError('AccessDeniedException', 400, 'not authorized'), expected: TerminalError },
    { error: sfnError('StateMachineDoesNotExist', 400), expected: TerminalError },
  ])('maps $error.name to $expected.name', async ({ error, expected }) => {
    // Prepare
    sfn.on(StartExecutionCommand).rejects(error);

    // Act
    const start = starter().startRun('api', RUN);

    // Assess
    await expect(start).rejects.toThrow(expected);
    await expect(start).rejects.toThrow(`StartExecution of api_gamma_r42-1 on ${ARN}-normal`);
  });
});

describe('StepFunctionsTaskTokens', () => {
  beforeEach(() => {
    sfn.reset();
  });

  /** Each way to resume a task: how to make its SDK call fail, how to call it, how often it was sent. */
  const methods = {
    succeed: {
      rejectWith: (error: Error) => sfn.on(SendTaskSuccessCommand).rejects(error),
      call: (tokens: StepFunctionsTaskTokens) => tokens.succeed(TOKEN, { deployed: true }),
      sent: () => sfn.commandCalls(SendTaskSuccessCommand).length,
    },
    fail: {
      rejectWith: (error: Error) => sfn.on(SendTaskFailureCommand).rejects(error),
      call: (tokens: StepFunctionsTaskTokens) =>
        tokens.fail(TOKEN, 'AlarmFired', 'api went to ALARM'),
      sent: () => sfn.commandCalls(SendTaskFailureCommand).length,
    },
  };

  it('sends success with the output as JSON', async () => {
    // Prepare
    sfn.on(SendTaskSuccessCommand).resolves({});

    // Act
    const result = await new StepFunctionsTaskTokens(new SFNClient({})).succeed(TOKEN, {
      deployed: true,
    });

    // Assess
    expect(result).toBe('sent');
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      taskToken: TOKEN,
      output: '{"deployed":true}',
    });
  });

  it('sends failure with the error and cause, cut to the lengths Step Functions accepts', async () => {
    // Prepare
    sfn.on(SendTaskFailureCommand).resolves({});
    const tokens = new StepFunctionsTaskTokens(new SFNClient({}));

    // Act
    const short = await tokens.fail(TOKEN, 'AlarmFired', 'api went to ALARM');
    await tokens.fail(TOKEN, 'E'.repeat(300), 'c'.repeat(40_000));

    // Assess
    expect(short).toBe('sent');
    const [first, second] = sfn
      .commandCalls(SendTaskFailureCommand)
      .map((call) => call.args[0].input);
    expect(first).toEqual({ taskToken: TOKEN, error: 'AlarmFired', cause: 'api went to ALARM' });
    expect(second?.error).toHaveLength(256);
    expect(second?.cause).toHaveLength(32_768);
    expect(second?.cause?.endsWith('…')).toBe(true);
  });

  it.each([
    { method: 'succeed', error: new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }) },
    {
      method: 'succeed',
      error: new TaskDoesNotExist({ message: 'Task Does Not Exist', $metadata: {} }),
    },
    { method: 'fail', error: new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }) },
    {
      method: 'fail',
      error: new TaskDoesNotExist({ message: 'Task Does Not Exist', $metadata: {} }),
    },
  ] as const)(
    '$method answers gone on $error.name (a late or duplicated wake-up)',
    async ({ method, error }) => {
      // Prepare
      methods[method].rejectWith(error);

      // Act
      const result = await methods[method].call(new StepFunctionsTaskTokens(new SFNClient({})));

      // Assess
      expect(result).toBe('gone');
      expect(methods[method].sent()).toBe(1);
    },
  );

  it.each([
    {
      method: 'succeed',
      error: new InvalidToken({ message: 'Invalid token', $metadata: {} }),
      expected: TerminalError,
      names: 'refused task token "AQCEAAAAKgAA"… (625 characters) as invalid',
    },
    {
      method: 'fail',
      error: sfnError('ThrottlingException', 400, 'Rate exceeded'),
      expected: RetryableError,
      names: 'SendTaskFailure for task token "AQCEAAAAKgAA"… (625 characters) was throttled',
    },
    {
      method: 'succeed',
      error: sfnError('AccessDeniedException', 400, 'not authorized'),
      expected: TerminalError,
      names: 'SendTaskSuccess for task token "AQCEAAAAKgAA"… (625 characters) was refused',
    },
  ] as const)(
    '$method maps $error.name to $expected.name',
    async ({ method, error, expected, names }) => {
      // Prepare
      methods[method].rejectWith(error);
      const tokens = new StepFunctionsTaskTokens(new SFNClient({}));

      // Act
      const call = methods[method].call(tokens);

      // Assess
      await expect(call).rejects.toThrow(expected);
      await expect(call).rejects.toThrow(names);
    },
  );
});

describe('StepFunctionsWorkflowStarter.isRunning', () => {
  beforeEach(() => sfn.reset());

  it.each([
    { status: 'RUNNING' as const, running: true },
    { status: 'SUCCEEDED' as const, running: false },
    { status: 'FAILED' as const, running: false },
  ])('reads a $status execution as running: $running', async ({ status, running }) => {
    sfn.on(DescribeExecutionCommand).resolves({ status });

    expect(await starter().isRunning('api', RUN)).toBe(running);
    expect(sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, {
      executionArn:
        'arn:aws:states:eu-west-1:123456789012:execution:captain-stage-normal:api_gamma_r42-1',
    });
  });

  it('drops a version or alias from the state machine ARN to name the execution', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    const versioned = new StepFunctionsWorkflowStarter(
      new SFNClient({}),
      () => `${ARN}:7`,
      () => ({}),
    );

    await versioned.isRunning('api', RUN);

    expect(sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, {
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:captain-stage:api_gamma_r42-1',
    });
  });

  it('reads an execution that does not exist as not running', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));

    expect(await starter().isRunning('api', RUN)).toBe(false);
  });
});
