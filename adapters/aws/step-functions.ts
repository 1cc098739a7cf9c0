import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ExecutionLimitExceeded,
  InvalidName,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import {
  RetryableError,
  type RunStart,
  type TaskTokens,
  TerminalError,
  type WorkflowStarter,
} from '../../core/index.js';
import { awsError } from './errors.js';

/** Step Functions' rule for execution names, quoted in errors so the fix is obvious. */
export const EXECUTION_NAME_RULE =
  'an execution name has 1 to 80 characters and none of: whitespace, < > { } [ ], ? *, " # % \\ ^ | ~ ` $ & , ; : /, control characters';

/** SendTaskFailure's limits on `error` and `cause`, in characters. */
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;

/**
 * The {@link WorkflowStarter} on Step Functions: one execution per stage run.
 * `run.executionName` (`api_gamma_r42-1`) is the idempotency key, and Step Functions
 * keeps a name taken for 90 days. A second start of the same run therefore answers
 * `already-started` and starts nothing.
 *
 * A repeat with identical input while the first execution still runs succeeds again:
 * Step Functions returns the running execution. That answer is `started`, and it is
 * still one execution.
 *
 * @example
 * const starter = new StepFunctionsWorkflowStarter(
 *   new SFNClient({}),
 *   () => 'arn:aws:states:eu-west-1:123456789012:stateMachine:captain-stage',
 *   (pipeline, run) => ({ pipeline, stage: run.stage, seq: run.seq }),
 * );
 * await starter.startRun('api', run); // 'started', then 'already-started' for the same run
 */
export class StepFunctionsWorkflowStarter implements WorkflowStarter {
  readonly #client: SFNClient;
  readonly #stateMachineArn: (run: RunStart) => string;
  readonly #input: (pipeline: string, run: RunStart) => object;

  constructor(
    client: SFNClient,
    stateMachineArn: (run: RunStart) => string,
    input: (pipeline: string, run: RunStart) => object,
  ) {
    this.#client = client;
    this.#stateMachineArn = stateMachineArn;
    this.#input = input;
  }

  /** DescribeExecution of the run's execution: running, or ended / never started. */
  async isRunning(_pipeline: string, run: RunStart): Promise<boolean> {
    // arn:aws:states:<region>:<account>:stateMachine:<name>[:<version or alias>] — an
    // execution's ARN uses the unqualified name.
    const parts = this.#stateMachineArn(run).split(':');
    const executionArn = [...parts.slice(0, 5), 'execution', parts[6], run.executionName].join(':');
    try {
      const execution = await this.#client.send(new DescribeExecutionCommand({ executionArn }));
      return execution.status === 'RUNNING';
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return false;
      throw awsError(error, `DescribeExecution of ${executionArn}`);
    }
  }

  async startRun(pipeline: string, run: RunStart): Promise<'started' | 'already-started'> {
    const name = run.executionName;
    const stateMachineArn = this.#stateMachineArn(run);
    try {
      await this.#client.send(
        new StartExecutionCommand({
          stateMachineArn,
          name,
          input: JSON.stringify(this.#input(pipeline, run)),
        }),
      );
      return 'started';
    } catch (error) {
      if (error instanceof ExecutionAlreadyExists) return 'already-started';
      if (error instanceof InvalidName) {
        throw new TerminalError(
          `Execution name ${JSON.stringify(name)} (${name.length} characters) was refused by Step Functions: ${EXECUTION_NAME_RULE}. The name is built from the pipeline, stage and release: shorten those ids or remove the characters the rule forbids.`,
          { cause: error },
        );
      }
      if (error instanceof ExecutionLimitExceeded) {
        throw new RetryableError(
          `StartExecution of ${name} on ${stateMachineArn} hit the limit of open executions: it can start once others finish.`,
          { cause: error },
        );
      }
      throw awsError(error, `StartExecution of ${name} on ${stateMachineArn}`);
    }
  }
}

/**
 * {@link TaskTokens} over SendTaskSuccess and SendTaskFailure. A late or duplicated wake-up
 * (`TaskTimedOut`, `TaskDoesNotExist`) answers `gone` instead of throwing. A token Step
 * Functions never issued is a TerminalError.
 *
 * @example
 * const tokens = new StepFunctionsTaskTokens(new SFNClient({}));
 * await tokens.fail(token, 'AlarmFired', 'api-gamma-aggregate went to ALARM at 10:42'); // 'sent'
 * await tokens.fail(token, 'AlarmFired', 'the same event, delivered twice');            // 'gone'
 */
export class StepFunctionsTaskTokens implements TaskTokens {
  readonly #client: SFNClient;

  constructor(client: SFNClient) {
    this.#client = client;
  }

  async succeed(token: string, output: object): Promise<'sent' | 'gone'> {
    return this.#send(token, 'SendTaskSuccess', () =>
      this.#client.send(
        new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }),
      ),
    );
  }

  async fail(token: string, error: string, cause: string): Promise<'sent' | 'gone'> {
    // Step Functions refuses a longer error or cause outright. Losing the workflow's
    // wake-up over the length of an explanation would be worse than cutting it short.
    return this.#send(token, 'SendTaskFailure', () =>
      this.#client.send(
        new SendTaskFailureCommand({
          taskToken: token,
          error: truncate(error, MAX_ERROR),
          cause: truncate(cause, MAX_CAUSE),
        }),
      ),
    );
  }

  async #send(token: string, what: string, call: () => Promise<unknown>): Promise<'sent' | 'gone'> {
    try {
      await call();
      return 'sent';
    } catch (error) {
      if (error instanceof TaskTimedOut || error instanceof TaskDoesNotExist) return 'gone';
      if (error instanceof InvalidToken) {
        throw new TerminalError(
          `${what} refused task token ${describeToken(token)} as invalid: ${error.message}. Pass the token from $$.Task.Token through unchanged (not truncated, not re-encoded).`,
          { cause: error },
        );
      }
      throw awsError(error, `${what} for task token ${describeToken(token)}`);
    }
  }
}

/** A token resumes a workflow, so messages show its start and length, not all of it. */
function describeToken(token: string): string {
  return `${JSON.stringify(token.slice(0, 12))}… (${token.length} characters)`;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
