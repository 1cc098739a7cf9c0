/**
 * A pipeline run the way the cloud runs it, on this machine: statemachines/stage.asl.json
 * in aws-local-stepfunctions, every Lambda task routed to the handler modules in
 * functions/, the DynamoDB adapters on DynamoDB Local, and fakes for the services with no
 * emulator (deployers, alarms, metrics). Tests drive it like the world would: finish a
 * deployment and send its state-change event, set an alarm, let time pass.
 */
import { vi } from 'vitest';
import { DynamoDbAuditLog, DynamoDbDeploymentLog } from '../../adapters/aws/dynamodb-logs.js';
import { DynamoDbPromotionStore } from '../../adapters/aws/dynamodb-promotion-store.js';
import { DynamoDbReleaseStore } from '../../adapters/aws/dynamodb-release-store.js';
import { DynamoDbWakeRegistry } from '../../adapters/aws/dynamodb-wake-registry.js';
import {
  alarmsToCheck,
  createRelease,
  FakeAlarmMonitor,
  FakeDeployer,
  FakeMetricSource,
  ManualClock,
  type PipelineDefinition,
  PromotionService,
  RecordingEventPublisher,
  type Release,
  Topology,
} from '../../core/index.js';
import { createAdvanceStageHandler } from '../../functions/advance-stage.js';
import { createAdvanceTargetHandler } from '../../functions/advance-target.js';
import { createAwaitEventHandler } from '../../functions/await-event.js';
import { createFailRunHandler } from '../../functions/fail-run.js';
import type { HandlerDeps } from '../../functions/lib/deps.js';
import { executionInput } from '../../functions/lib/inputs.js';
import { createReconcileHandler } from '../../functions/reconcile.js';
import { createReportApprovalHandler } from '../../functions/report-approval.js';
import { createWakeHandler } from '../../functions/wake.js';
import { type LocalTable, startLocalTable } from '../../local/emulators.js';
import { LocalExecutions } from '../../local/executions.js';
import { FUNCTION_ARNS, lambdaContext } from '../../local/runtime.js';
import { LocalTaskTokens, loadDefinition } from '../../local/state-machine.js';
import { T0 } from './fixtures.js';

export { FUNCTION_ARNS };

export async function startLocalPipeline(
  definition: PipelineDefinition,
  options: {
    /** The history events an execution may spend before it hands over (see `lookBudget`). */
    readonly historyBudget?: number;
    /** The table to keep the state in. @default a fresh DynamoDB Local of its own */
    readonly table?: () => Promise<LocalTable>;
  } = {},
) {
  const table = await (options.table ?? startLocalTable)();
  const topology = new Topology(definition);
  const clock = new ManualClock(T0);
  const deployer = new FakeDeployer();
  const alarms = new FakeAlarmMonitor();
  for (const s of definition.stages)
    for (const t of s.targets) for (const n of alarmsToCheck(definition, s, t)) alarms.set(n, 'OK');
  const metrics = new FakeMetricSource();
  const events = new RecordingEventPublisher();
  const tokens = new LocalTaskTokens();
  const releases = new DynamoDbReleaseStore(table.client, table.tableName);
  let executions: LocalExecutions | undefined;
  const service = new PromotionService(topology, {
    promotions: new DynamoDbPromotionStore(table.client, table.tableName),
    releases,
    deployments: new DynamoDbDeploymentLog(table.client, table.tableName),
    audit: new DynamoDbAuditLog(table.client, table.tableName),
    events,
    workflows: {
      startRun: (pipeline, run) => (executions as LocalExecutions).startRun(pipeline, run),
      isRunning: (pipeline, run) => (executions as LocalExecutions).isRunning(pipeline, run),
    },
    clock,
  });
  const deps: HandlerDeps = {
    driver: async () => ({
      service,
      releases,
      deployer,
      alarms,
      metrics,
      clock,
      ...(options.historyBudget === undefined ? {} : { historyBudget: options.historyBudget }),
    }),
    wakes: new DynamoDbWakeRegistry(table.client, table.tableName),
    tokens,
    clock,
  };
  const source = async () => deps;
  const handlers = {
    [FUNCTION_ARNS.AdvanceTargetFunctionArn]: createAdvanceTargetHandler(source),
    [FUNCTION_ARNS.AdvanceStageFunctionArn]: createAdvanceStageHandler(source),
    [FUNCTION_ARNS.AwaitEventFunctionArn]: createAwaitEventHandler(source),
    [FUNCTION_ARNS.FailRunFunctionArn]: createFailRunHandler(source),
  };
  /** Every invocation, in order, as the Lambda service would see them. */
  const invocations: { fn: string; payload: unknown }[] = [];
  let inFlight = 0;
  /** The invocations not yet returned, for the message of a wait that times out. */
  const running = new Set<{ fn: string; payload: unknown }>();
  const functions = Object.fromEntries(
    Object.entries(handlers).map(([arn, handler]) => [
      arn,
      async (payload: unknown) => {
        const fn = arn.split(':').at(-1) as string;
        const invocation = { fn, payload };
        invocations.push(invocation);
        running.add(invocation);
        inFlight++;
        try {
          return await handler(payload, lambdaContext(fn));
        } finally {
          inFlight--;
          running.delete(invocation);
        }
      },
    ]),
  );
  executions = new LocalExecutions(
    await loadDefinition('statemachines/stage.asl.json', FUNCTION_ARNS),
    functions,
    tokens,
    (pipeline, run) => executionInput(topology, pipeline, run),
  );
  const wake = createWakeHandler(source);
  const reportApproval = createReportApprovalHandler(source);
  const reconcile = createReconcileHandler(source);

  return {
    topology,
    clock,
    deployer,
    alarms,
    metrics,
    events,
    tokens,
    service,
    releases,
    executions,
    invocations,
    handlers,
    async create(release: Release) {
      await releases.createRelease(release);
      await service.apply(createRelease, { release });
    },
    async stage(name: string) {
      return (await service.state()).stages[name];
    },
    /** Runs the reconciler, as its schedule does. */
    async reconcile() {
      return reconcile({ pipeline: topology.pipeline }, lambdaContext('reconcile'));
    },
    /** Reports an integration-tests step's result, as a test runner does (manual approvals go through the operator API). */
    async approve(input: {
      stage: string;
      seq: number;
      step: string;
      passed: boolean;
      by: string;
      reason: string;
    }) {
      return reportApproval(
        { pipeline: topology.pipeline, ...input },
        lambdaContext('report-approval'),
      );
    },
    /** Sets an alarm's state and delivers its CloudWatch state-change event. */
    async setAlarm(name: string, state: 'OK' | 'ALARM') {
      alarms.set(name, state, clock.now().toISOString());
      await this.emit('CloudWatch Alarm State Change', { alarmName: name });
    },
    /** Sends an EventBridge event to the wake handler, as the event rules do. */
    async emit(detailType: string, detail: Record<string, unknown>) {
      return wake(
        { 'detail-type': detailType, time: clock.now().toISOString(), detail },
        lambdaContext('wake'),
      );
    },
    /** Ends a deployment and delivers its CodeDeploy state-change event. */
    async finishDeployment(id: string, result: 'succeeded' | 'failed' = 'succeeded') {
      deployer.finish(
        id,
        result === 'succeeded'
          ? { status: 'succeeded' }
          : { status: 'failed', reason: 'health checks failed' },
      );
      await this.emit('CodeDeploy Deployment State-change Notification', {
        deploymentId: id,
        state: result === 'succeeded' ? 'SUCCESS' : 'FAILURE',
      });
    },
    /**
     * Lets `seconds` pass for the driver's clock and for the workflows' timers, once no
     * handler is running (a task's own timeout must not fire in the middle of its call).
     */
    async pass(seconds: number) {
      await this.until(() => inFlight === 0, 'no handler is running');
      clock.advance(seconds);
      await vi.advanceTimersByTimeAsync(seconds * 1000);
    },
    /** Whether the stage's current execution is waiting in the named state. */
    waitingIn(execution: string, state: string): boolean {
      const history = executions?.get(execution)?.history ?? [];
      const entered = history.filter((e) => e.type === 'StateEntered').at(-1);
      return entered?.state === state && inFlight === 0;
    },
    /**
     * Waits until `check` holds, letting I/O and the workflows run. The deadline (real
     * time) only bounds how long a failure takes to show: a loaded machine is slower,
     * and what the test checks happens without the clock moving.
     */
    async until(check: () => boolean | Promise<boolean>, what: string) {
      const deadline = realNow() + UNTIL_SECONDS * 1000;
      while (realNow() < deadline) {
        if (await check()) return;
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => realTimers.setTimeout(resolve, 5));
      }
      if (await check()) return;
      const stages = (await service.state()).stages;
      const runs = Object.entries(stages).map(([n, st]) => `${n}: ${JSON.stringify(st.run)}`);
      const executing = executions
        ?.list()
        .map((e) => `${e.name} ${e.status} ${e.error ?? ''} last: ${e.history.at(-1)?.state}`);
      const calls = [...running].map((call) => `${call.fn} ${JSON.stringify(call.payload)}`);
      throw new Error(
        `Timed out waiting until ${what}\n${runs.join('\n')}\n${executing?.join('\n')}\nin flight: ${calls.join('\n') || 'none'}`,
      );
    },
    async close() {
      for (const execution of executions?.list() ?? []) execution.abort();
      await Promise.allSettled((executions?.list() ?? []).map((e) => e.done));
      await table.close();
    },
  };
}

/** Real timers, captured before a test fakes them, for polling real I/O. */
const realTimers = { setTimeout: globalThis.setTimeout.bind(globalThis) };
/** Real time, which fake timers leave alone. */
const realNow = () => performance.now();
/** How long `until` waits, in real seconds, before it reports what it waited for. */
const UNTIL_SECONDS = 60;

export type LocalPipeline = Awaited<ReturnType<typeof startLocalPipeline>>;
