import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type { RunStart, WorkflowStarter } from '../core/index.js';
import type { LocalClock } from './clock.js';
import {
  type LocalFunction,
  type LocalTaskTokens,
  localContext,
  localTaskHandlers,
  StateMachine,
} from './state-machine.js';

/** One local execution of a state machine, with its history as the interpreter logged it. */
export interface LocalExecution {
  readonly name: string;
  readonly input: Record<string, unknown>;
  status: 'running' | 'succeeded' | 'failed' | 'aborted';
  /** The interpreter's events: StateEntered, StateExited, MapIterationStarted, … */
  readonly history: { type: string; state?: string; at: number }[];
  error: string | null;
  /** Settles when the execution ends, whatever the outcome. */
  readonly done: Promise<void>;
  abort(): void;
}

/**
 * Starts stage executions in-process, the local engine's `WorkflowStarter`: the same ASL,
 * its Lambda tasks routed to the same handler modules. Execution names are unique, as in
 * Step Functions: starting a name twice starts it once. Executions live in memory and
 * end with the process; the reconciler resumes runs after a restart.
 *
 * @example
 * const executions = new LocalExecutions(stageDefinition, functions, tokens, (pipeline, run) => ({ … }));
 * await executions.startRun('api', run); // 'started'; executions.get('api_beta_r1-1').status === 'running'
 */
export class LocalExecutions implements WorkflowStarter {
  readonly #machine: StateMachine;
  readonly #handlers: ReturnType<typeof localTaskHandlers>;
  readonly #input: (pipeline: string, run: RunStart) => Record<string, unknown>;
  readonly #retryIntervals: Record<string, number[]> | undefined;
  readonly #executions = new Map<string, LocalExecution>();

  constructor(
    definition: StateMachineDefinition,
    functions: Readonly<Record<string, LocalFunction>>,
    tokens: LocalTaskTokens,
    input: (pipeline: string, run: RunStart) => Record<string, unknown>,
    options: {
      /**
       * The engine's clock: calls are tracked by it, and waits and retry intervals are
       * its timers (see `localTaskHandlers`). @default - the interpreter's real-time timers
       */
      readonly clock?: LocalClock;
    } = {},
  ) {
    this.#machine = new StateMachine(definition);
    this.#handlers = localTaskHandlers(definition, functions, tokens, options);
    this.#retryIntervals = options.clock === undefined ? undefined : immediateRetries(definition);
    this.#input = input;
  }

  async startRun(pipeline: string, run: RunStart): Promise<'started' | 'already-started'> {
    if (this.#executions.has(run.executionName)) return 'already-started';
    const input = this.#input(pipeline, run);
    const started = this.#machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: this.#handlers,
        ...(this.#retryIntervals === undefined
          ? {}
          : { retryIntervalOverrides: this.#retryIntervals }),
      },
      context: localContext(run.executionName),
    });
    const execution: Omit<LocalExecution, 'done'> & { done?: Promise<void> } = {
      name: run.executionName,
      input,
      status: 'running',
      history: [],
      error: null,
      abort: () => started.abort(),
    };
    execution.done = (async () => {
      const logging = (async () => {
        for await (const event of started.eventLogs) {
          const state = 'state' in event ? event.state.name : undefined;
          execution.history.push({
            type: event.type,
            ...(state === undefined ? {} : { state }),
            at: event.timestamp,
          });
        }
      })();
      try {
        await started.result;
        execution.status = 'succeeded';
      } catch (error) {
        const aborted = error instanceof Error && error.name === 'ExecutionAbortedError';
        execution.status = aborted ? 'aborted' : 'failed';
        execution.error = error instanceof Error ? error.message : String(error);
      }
      await logging;
    })();
    this.#executions.set(run.executionName, execution as LocalExecution);
    return 'started';
  }

  get(name: string): LocalExecution | undefined {
    return this.#executions.get(name);
  }

  list(): LocalExecution[] {
    return [...this.#executions.values()];
  }

  async isRunning(_pipeline: string, run: RunStart): Promise<boolean> {
    return this.#executions.get(run.executionName)?.status === 'running';
  }
}

/**
 * A zero interval for every retrier of every state (the interpreter's override, in real
 * milliseconds): on the engine's clock the interval passes as a clock timer before the
 * error reaches the interpreter (`localTaskHandlers`), which then retries at once. The
 * clock waits the retrier's first interval each time, so the backoff's growth between
 * attempts is not reproduced locally.
 */
export function immediateRetries(definition: StateMachineDefinition): Record<string, number[]> {
  const intervals: Record<string, number[]> = {};
  const visit = (states: Record<string, unknown>) => {
    for (const [name, raw] of Object.entries(states)) {
      const state = raw as {
        Retry?: unknown[];
        ItemProcessor?: { States: Record<string, unknown> };
        Iterator?: { States: Record<string, unknown> };
        Branches?: { States: Record<string, unknown> }[];
      };
      if (state.ItemProcessor) visit(state.ItemProcessor.States);
      if (state.Iterator) visit(state.Iterator.States);
      for (const branch of state.Branches ?? []) visit(branch.States);
      if (state.Retry !== undefined) intervals[name] = state.Retry.map(() => 0);
    }
  };
  visit(definition.States as Record<string, unknown>);
  return intervals;
}
