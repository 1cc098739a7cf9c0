import './promise-with-resolvers.js';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { TerminalError } from '../core/index.js';
import { type LocalClock, realTime } from './clock.js';

/** What the local engine calls for a Lambda function ARN: the same handler the cloud runs. */
export type LocalFunction = (payload: unknown) => Promise<unknown>;

const INVOKE = 'arn:aws:states:::lambda:invoke';
const INVOKE_WAIT = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/**
 * Reads an ASL file and substitutes its `${Placeholder}`s, as CloudFormation does with
 * `definitionSubstitutions`; an unknown placeholder is an error, not a silent blank.
 *
 * @example
 * await loadDefinition('statemachines/stage.asl.json', { AdvanceTargetFunctionArn: 'local:advance-target', … });
 */
export async function loadDefinition(
  path: string,
  substitutions: Readonly<Record<string, string>>,
): Promise<StateMachineDefinition> {
  const text = await readFile(path, 'utf8');
  const missing = new Set<string>();
  const substituted = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, name: string) => {
    const value = substitutions[name];
    if (value === undefined) missing.add(name);
    return value ?? '';
  });
  if (missing.size > 0) {
    throw new TerminalError(
      `${path} uses ${[...missing].map((m) => `\${${m}}`).join(', ')}, which no substitution defines; pass ${[...missing].join(', ')}.`,
    );
  }
  return JSON.parse(substituted) as StateMachineDefinition;
}

/** Task tokens of the local engine: a waiting step's promise, settled by `succeed` or `fail`. */
export class LocalTaskTokens {
  readonly #waiting = new Map<
    string,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();

  /** Called by the engine when a `.waitForTaskToken` step starts. */
  wait(token: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.#waiting.set(token, { resolve, reject }));
  }

  async succeed(token: string, output: object): Promise<'sent' | 'gone'> {
    const waiting = this.#waiting.get(token);
    if (waiting === undefined) return 'gone';
    this.#waiting.delete(token);
    waiting.resolve(output);
    return 'sent';
  }

  async fail(token: string, error: string, cause: string): Promise<'sent' | 'gone'> {
    const waiting = this.#waiting.get(token);
    if (waiting === undefined) return 'gone';
    this.#waiting.delete(token);
    const failure = new Error(cause);
    failure.name = error;
    waiting.reject(failure);
    return 'sent';
  }

  /** Forgets a token whose step timed out, as Step Functions does. */
  forget(token: string): void {
    this.#waiting.delete(token);
  }
}

/**
 * Builds the interpreter's per-state overrides from the definition itself: every Task
 * that invokes a Lambda function (also inside Map and Parallel states) calls the local
 * function registered under its `FunctionName`, with the payload its `Parameters` built,
 * and returns what `lambda:invoke` returns (`{ StatusCode, Payload }`). A
 * `.waitForTaskToken` Task invokes its function and then waits for the token.
 */
export function localTaskHandlers(
  definition: StateMachineDefinition,
  functions: Readonly<Record<string, LocalFunction>>,
  tokens: LocalTaskTokens,
  options: {
    /**
     * The local engine's clock: each call is tracked by it, a waiting step's timeout and a
     * retry's interval are timers on it (the interpreter then retries at once: see
     * `LocalExecutions`). Without one, calls are not tracked, the interpreter's own
     * (real-time) timers end waits, and retries wait the interpreter's intervals.
     * @default - none
     */
    readonly clock?: LocalClock;
  } = {},
): NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']> {
  const { clock } = options;
  const handlers: Record<string, (input: never) => Promise<unknown>> = {};
  const visit = (states: Record<string, unknown>) => {
    for (const [name, raw] of Object.entries(states)) {
      const state = raw as {
        Type: string;
        Resource?: string;
        Parameters?: { FunctionName?: string };
        Retry?: readonly Retrier[];
        ItemProcessor?: { States: Record<string, unknown> };
        Iterator?: { States: Record<string, unknown> };
        Branches?: { States: Record<string, unknown> }[];
      };
      if (state.ItemProcessor) visit(state.ItemProcessor.States);
      if (state.Iterator) visit(state.Iterator.States);
      for (const branch of state.Branches ?? []) visit(branch.States);
      if (state.Type !== 'Task') continue;
      if (state.Resource !== INVOKE && state.Resource !== INVOKE_WAIT) {
        throw new TerminalError(
          `State "${name}" calls ${state.Resource}; the local engine runs only Lambda tasks (${INVOKE}[.waitForTaskToken]).`,
        );
      }
      const arn = state.Parameters?.FunctionName ?? '';
      const fn = functions[arn];
      if (fn === undefined) {
        throw new TerminalError(
          `State "${name}" invokes ${arn || 'no FunctionName'}, which has no local handler; register one of: ${Object.keys(functions).join(', ')}.`,
        );
      }
      const call = async (payload: unknown) => {
        if (clock === undefined) return fn(payload);
        try {
          return await clock.track(fn(payload));
        } catch (error) {
          // The retry's interval passes on the clock, untracked, before the interpreter
          // (whose own interval is 0 here) sees the error and retries.
          const retrier = retrierFor(state.Retry, error);
          if (retrier !== undefined) await clock.sleep((retrier.IntervalSeconds ?? 1) * 1000);
          throw error;
        }
      };
      const waits = state.Resource === INVOKE_WAIT;
      handlers[name] = async (input: never) => {
        const { Payload } = input as { Payload: { token?: string } };
        if (!waits) return { StatusCode: 200, Payload: await call(Payload) };
        const token = Payload.token;
        if (typeof token !== 'string') {
          throw new TerminalError(
            `State "${name}" waits for a task token but passes none in its Payload.`,
          );
        }
        const waiting = tokens.wait(token);
        // When the step's own timeout ends the wait, its token is gone, as on Step Functions:
        // a late wake-up must answer `gone`, not resume a step that moved on. On the
        // engine's clock the timeout is the clock's, and ends the wait as the
        // interpreter's own (real-time) timer would; without one, that timer ends it.
        const { seconds } = Payload as { seconds?: unknown };
        const cancel = new AbortController();
        const timedOut =
          typeof seconds === 'number'
            ? (clock ?? realTime).sleep(seconds * 1000, cancel.signal).then(() => {
                if (cancel.signal.aborted) return new Promise<never>(() => {});
                tokens.forget(token);
                if (clock === undefined) return new Promise<never>(() => {});
                const timeout = new Error(`The wait of ${seconds} s (clock time) ended.`);
                timeout.name = 'States.Timeout';
                throw timeout;
              })
            : null;
        // Handled here: the timeout may fire while the function is still registering the
        // token, before the race below listens to it.
        timedOut?.catch(() => {});
        try {
          await call(Payload);
          return await (timedOut === null ? waiting : Promise.race([waiting, timedOut]));
        } finally {
          cancel.abort();
        }
      };
    }
  };
  visit(definition.States as Record<string, unknown>);
  return handlers as never;
}

interface Retrier {
  readonly ErrorEquals: readonly string[];
  readonly IntervalSeconds?: number;
}

/**
 * The retrier of a state that matches an error, as the interpreter matches them: by name,
 * or `States.ALL`, or `States.TaskFailed` for any error but a timeout.
 */
function retrierFor(retry: readonly Retrier[] | undefined, error: unknown): Retrier | undefined {
  const name = error instanceof Error ? error.name : '';
  if ((error as { isRetryable?: boolean } | null)?.isRetryable === false) return undefined;
  return retry?.find((r) =>
    r.ErrorEquals.some(
      (e) =>
        e === name ||
        e === 'States.ALL' ||
        (e === 'States.TaskFailed' && name !== 'States.Timeout'),
    ),
  );
}

/**
 * The context object Step Functions gives an execution, as far as the definitions read
 * it: `$$.Execution.Name` and a fresh `$$.Task.Token` for each waiting step.
 */
export function localContext(executionName: string): NonNullable<RunOptions['context']> {
  return {
    Execution: { Name: executionName, StartTime: new Date().toISOString() },
    Task: {
      get Token() {
        return randomUUID();
      },
    },
  };
}

export { StateMachine };
