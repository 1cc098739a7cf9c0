/**
 * The control plane's overhead per stage, on the local runtime (local/runtime.ts): one
 * release through a long linear pipeline whose deployments are one box and whose bakes are
 * zero, so what is left between two stages is Release Captain's own work.
 *
 * Per stage k it records, from the runtime's event bus (timestamps taken on arrival with
 * `performance.now()`; an event's `time` is cut to whole seconds):
 * - overhead: `Stage Approved` in stage k−1 → `Deployment Started` in stage k (offering,
 *   admitting, starting the execution, the first handler calls);
 * - deploy: `Deployment Started` → `Deployment Succeeded` (the local fleet, moved on ticks);
 * - approve: `Deployment Succeeded` → `Stage Approved` (a zero bake, then the approval).
 *
 * The calibration is a conditional UpdateItem on the same DynamoDB Local, timed one every 100 ms
 * during the run (under the run's own load: the headline) and back to back after it, so
 * that the overhead reads as a multiple of one write: a ratio that travels between noisy
 * machines better than milliseconds do. It also counts the DynamoDB calls (Node's HTTP
 * client diagnostics channel). Results and their reading: docs/benchmarks.md.
 *
 * @example
 * npx tsx bench/stage-overhead.ts --stages 40 --runs 2
 */
import diagnostics from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import type { ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLE_KEYS } from '../adapters/aws/dynamodb-table.js';
import { executionName, type PipelineDefinition, parsePipelineDefinition } from '../core/index.js';
import type { BusEvent } from '../local/event-bus.js';
import { LocalGitRepository } from '../local/git-repository.js';
import type { LocalRuntime } from '../local/runtime.js';

const PIPELINE = 'bench';
const REPOSITORY = 'bench-service';
const ALARM = 'bench-aggregate';
/** Events after which the release cannot reach the last stage. */
const FATAL = new Set(['Release Blocked', 'Deployment Failed', 'Rollback Started']);

/**
 * `s01` … `sNN` in a line, each with one `local-fleet` target of one box, zero bake and no
 * time window: two pre-production stages, then one production wave per stage (so the
 * reviewed-commits check runs, as in most stages of a real pipeline).
 */
function linearPipeline(stages: number): PipelineDefinition {
  const name = (i: number) => `s${String(i + 1).padStart(2, '0')}`;
  return parsePipelineDefinition({
    name: PIPELINE,
    kind: 'application',
    source: { repository: REPOSITORY, branch: 'main' },
    stages: Array.from({ length: stages }, (_, i) => ({
      name: name(i),
      after: i === 0 ? null : name(i - 1),
      phase: i < 2 ? 'pre-production' : 'production',
      wave: i < 2 ? null : i - 1,
      oneBox: false,
      targets: [
        {
          id: `${name(i)}-t1`,
          account: 'local',
          region: 'eu-west-1',
          zone: null,
          timeZone: 'Europe/Dublin',
          alarms: { rollback: ALARM, aggregate: ALARM },
          deployment: { kind: 'local-fleet', boxes: 1 },
        },
      ],
      bake: { durationSeconds: 0, minDataPoints: 0 },
      timeWindow: null,
    })),
  });
}

interface RunOptions {
  /** At most this many clock seconds per real second; `null`: as fast as the work allows. */
  readonly speed: number | null;
  readonly stepSeconds: number;
  readonly calibrationCalls: number;
  readonly timeoutSeconds: number;
}

interface RunResult {
  /** Per stage from the second: approved upstream → deployment started, in ms. */
  readonly overheadMs: number[];
  /** DynamoDB calls the process made in each of those intervals (the stage's and any other). */
  readonly overheadCalls: number[];
  /** Its first part: approved upstream → the stage's execution started. */
  readonly offerMs: number[];
  /** Its second part: execution started → deployment started (Map, advance-target, admit). */
  readonly startMs: number[];
  /** Per stage: deployment started → succeeded, in ms. */
  readonly deployMs: number[];
  /** Per stage: deployment succeeded → stage approved, in ms. */
  readonly approveMs: number[];
  /** Stages approved per second, from the first stage's approval to the last's. */
  readonly stagesPerSecond: number;
  /**
   * The share of the run the process's one thread was busy (0 to 1): the handlers, the
   * interpreter and s3rver run on it (DynamoDB Local runs in a JVM of its own).
   */
  readonly eventLoopUtilisation: number;
  /** Median conditional UpdateItem on the runtime's DynamoDB Local, one every 100 ms during the run. */
  readonly updateItemDuringRunMs: number;
  /** Median of `calibrationCalls` back-to-back UpdateItems once the release is through. */
  readonly updateItemAfterRunMs: number;
  /** DynamoDB calls during the run by operation, divided by the number of stages. */
  readonly dynamoDbCallsPerStage: Record<string, number>;
  /** DynamoDB calls per second once the release is through (ticks, the reconciler). */
  readonly idleDynamoDbCallsPerSecond: number;
}

/** Wall-clock milliseconds with a fraction, comparable with the interpreter's `Date.now()`. */
const now = () => performance.timeOrigin + performance.now();

/** One release through a fresh runtime in a temporary directory, removed afterwards. */
async function runOnce(definition: PipelineDefinition, options: RunOptions): Promise<RunResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'captain-bench-'));
  let runtime: LocalRuntime | undefined;
  let calls: ReturnType<typeof countDynamoDbCalls> | undefined;
  let writer: ReturnType<typeof calibrationWriter> | undefined;
  let sampler: ReturnType<typeof sampleWrites> | undefined;
  try {
    const repository = await LocalGitRepository.open({ path: join(dataDir, 'repos', REPOSITORY) });
    await repository.commit({
      files: {
        'service.json': `${JSON.stringify({ version: '1', faultRate: 0, latencyMs: 1 })}\n`,
      },
      message: 'Version 1',
      author: 'ana',
      reviewedBy: ['bo'],
      pullRequest: `${REPOSITORY}#1`,
    });
    // Loaded here, after main() has quietened the handlers: their modules read the settings.
    const { LocalRuntime } = await import('../local/runtime.js');
    calls = countDynamoDbCalls();
    runtime = await LocalRuntime.start({
      pipelines: [definition],
      dataDir,
      stepSeconds: options.stepSeconds,
      inMemoryTable: true,
    });
    runtime.runFreely(options.speed === null ? {} : { speed: options.speed });
    writer = calibrationWriter();
    sampler = sampleWrites(writer, SAMPLE_EVERY_MS);
    const loopBefore = performance.eventLoopUtilization();
    const seen = await untilLastApproved(runtime, definition, calls.total, options.timeoutSeconds);
    const loop = performance.eventLoopUtilization(loopBefore);
    calls.stop();
    const duringRun = await sampler.stop();
    const idle = countDynamoDbCalls();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    idle.stop();
    const afterRun: number[] = [];
    for (let i = 0; i < options.calibrationCalls; i += 1) afterRun.push(await writer.time());

    const stages = definition.stages.map((s) => s.name);
    const at = (type: string, stage: string) => seen.get(`${type}|${stage}`)?.at ?? Number.NaN;
    const callsAt = (type: string, stage: string) =>
      seen.get(`${type}|${stage}`)?.calls ?? Number.NaN;
    const started = (stage: string) => {
      const name = executionName(PIPELINE, stage, {
        kind: 'normal',
        release: 1,
        seq: 0,
        attempt: 1,
      });
      const at = runtime?.executions.get(name)?.history[0]?.at;
      // A missing execution is a broken bench, not a figure: say so rather than print NaN.
      if (at === undefined) throw new Error(`no execution ${name} was recorded for ${stage}`);
      return at;
    };
    const span = (from: string, to: string) => (stage: string) => at(to, stage) - at(from, stage);
    const downstream = stages.slice(1).map((stage, i) => ({ stage, upstream: stages[i] ?? '' }));
    const first = stages[0] ?? '';
    const last = stages.at(-1) ?? '';
    const count = (counts: Record<string, number>) =>
      Object.values(counts).reduce((sum, n) => sum + n, 0);
    return {
      overheadMs: downstream.map(
        ({ stage, upstream }) => at('Deployment Started', stage) - at('Stage Approved', upstream),
      ),
      overheadCalls: downstream.map(
        ({ stage, upstream }) =>
          callsAt('Deployment Started', stage) - callsAt('Stage Approved', upstream),
      ),
      offerMs: downstream.map(
        ({ stage, upstream }) => started(stage) - at('Stage Approved', upstream),
      ),
      startMs: downstream.map(({ stage }) => at('Deployment Started', stage) - started(stage)),
      deployMs: stages.map(span('Deployment Started', 'Deployment Succeeded')),
      approveMs: stages.map(span('Deployment Succeeded', 'Stage Approved')),
      stagesPerSecond:
        ((stages.length - 1) * 1000) / (at('Stage Approved', last) - at('Stage Approved', first)),
      eventLoopUtilisation: loop.utilization,
      updateItemDuringRunMs: quantile(duringRun, 0.5),
      updateItemAfterRunMs: quantile(afterRun, 0.5),
      dynamoDbCallsPerStage: Object.fromEntries(
        Object.entries(calls.counts).map(([op, n]) => [op, round(n / stages.length, 1)]),
      ),
      idleDynamoDbCallsPerSecond: round((count(idle.counts) * 1000) / IDLE_MS, 1),
    };
  } finally {
    calls?.stop();
    // Already stopped on success; after a failure, the first error is the one to report.
    await sampler?.stop().catch(() => undefined);
    writer?.close();
    await runtime?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** How long the runtime is watched idle, after the release, to count its background calls. */
const IDLE_MS = 2_000;
/** The calibration's pace during the run: ~10 writes a second beside the runtime's ~280. */
const SAMPLE_EVERY_MS = 100;

/** When an event arrived, and how many DynamoDB calls had been made by then. */
interface Arrival {
  readonly at: number;
  readonly calls: number;
}

/**
 * Resolves with the arrival of every Release Captain event of r1, keyed `<type>|<stage>`
 * (the first arrival: delivery is at least once), once the last stage has approved it;
 * rejects if the release is blocked or rolled back, or on the timeout.
 */
function untilLastApproved(
  runtime: LocalRuntime,
  definition: PipelineDefinition,
  calls: () => number,
  seconds: number,
): Promise<Map<string, Arrival>> {
  const last = definition.stages.at(-1)?.name;
  const seen = new Map<string, Arrival>();
  let unsubscribe = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new Promise<Map<string, Arrival>>((resolve, reject) => {
    timer = setTimeout(() => {
      const failures = runtime.failures.map(String).join('; ') || 'none';
      reject(new Error(`r1 did not reach ${last} in ${seconds} s; failures: ${failures}`));
    }, seconds * 1000);
    unsubscribe = runtime.bus.subscribe((event: BusEvent) => {
      const arrived = { at: now(), calls: calls() };
      const detail = event.detail as { stage?: string | null; release?: number | null };
      if (event.source !== 'release-captain' || detail.release !== 1) return;
      const key = `${event['detail-type']}|${detail.stage}`;
      if (!seen.has(key)) seen.set(key, arrived);
      if (FATAL.has(event['detail-type'])) {
        reject(new Error(`${event['detail-type']} in ${detail.stage}: ${JSON.stringify(detail)}`));
      } else if (key === `Stage Approved|${last}`) {
        resolve(seen);
      }
    });
  }).finally(() => {
    clearTimeout(timer);
    unsubscribe();
  });
}

/**
 * Counts the DynamoDB calls of the process by their `X-Amz-Target`, from Node's HTTP
 * client diagnostics channel, on the port the runtime pointed the SDK at.
 */
function countDynamoDbCalls() {
  const counts: Record<string, number> = {};
  let total = 0;
  const listener = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const port = new URL(process.env.AWS_ENDPOINT_URL_DYNAMODB ?? 'http://unset:1').port;
    if (request.getHeader('host') !== `127.0.0.1:${port}`) return;
    if (request.getHeader(CALIBRATION_HEADER) !== undefined) return;
    const op = String(request.getHeader('x-amz-target') ?? 'unknown').replace(/^.*\./, '');
    counts[op] = (counts[op] ?? 0) + 1;
    total += 1;
  };
  diagnostics.subscribe('http.client.request.start', listener);
  return {
    counts,
    total: () => total,
    stop: () => diagnostics.unsubscribe('http.client.request.start', listener),
  };
}

/** Marks the calibration's own requests, so that the call counts leave them out. */
const CALIBRATION_HEADER = 'x-bench-calibration';

/**
 * The calibration: UpdateItem calls on the runtime's DynamoDB Local, one at a time, each
 * conditional on the value the one before wrote (what the promotion store does per item).
 */
function calibrationWriter() {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (endpoint === undefined) {
    throw new Error('AWS_ENDPOINT_URL_DYNAMODB is not set; the local runtime sets it on start.');
  }
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  client.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers[CALIBRATION_HEADER] = '1';
      return next(args);
    },
    { step: 'build', name: 'benchCalibrationHeader' },
  );
  let version = 0;
  return {
    /** One write; its time in ms. */
    async time(): Promise<number> {
      const started = performance.now();
      await client.send(
        new UpdateItemCommand({
          TableName: 'release-captain',
          Key: {
            [TABLE_KEYS.partitionKey]: { S: 'BENCH#calibration' },
            [TABLE_KEYS.sortKey]: { S: 'COUNTER' },
          },
          UpdateExpression: 'SET #version = :next',
          ConditionExpression: 'attribute_not_exists(#version) OR #version = :current',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: {
            ':current': { N: String(version) },
            ':next': { N: String(version + 1) },
          },
        }),
      );
      version += 1;
      return performance.now() - started;
    },
    close: () => client.destroy(),
  };
}

/**
 * Times one write every `everyMs` until stopped: the calibration under the run's own load.
 * A failed write ends the sampling; `stop` then throws it.
 */
function sampleWrites(writer: ReturnType<typeof calibrationWriter>, everyMs: number) {
  const times: number[] = [];
  let stopped = false;
  let failure: unknown;
  const sampling = (async () => {
    try {
      while (!stopped) {
        times.push(await writer.time());
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    } catch (error) {
      failure = error;
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await sampling;
      if (failure !== undefined) throw failure;
      return times;
    },
  };
}

/** Nearest-rank quantile: `quantile([1, 2, 3, 4], 0.5)` is 2, `quantile(xs, 1)` the max. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

const round = (value: number, digits = 0) => Number(value.toFixed(digits));

function summarise(run: number, stages: number, options: RunOptions, result: RunResult) {
  const stats = (values: readonly number[]) => ({
    median: round(quantile(values, 0.5), 1),
    p95: round(quantile(values, 0.95), 1),
    max: round(quantile(values, 1), 1),
  });
  const overhead = stats(result.overheadMs);
  const period = 1000 / result.stagesPerSecond;
  return {
    run,
    stages,
    speed: options.speed ?? 'as fast as the work allows',
    stepSeconds: options.stepSeconds,
    overheadMs: overhead,
    overheadDynamoDbCalls: stats(result.overheadCalls),
    offerMs: stats(result.offerMs),
    startMs: stats(result.startMs),
    deployMs: stats(result.deployMs),
    approveMs: stats(result.approveMs),
    stagesPerSecond: round(result.stagesPerSecond, 2),
    stagePeriodMs: round(period, 1),
    eventLoopUtilisation: round(result.eventLoopUtilisation, 2),
    updateItemMs: {
      duringRun: round(result.updateItemDuringRunMs, 2),
      afterRun: round(result.updateItemAfterRunMs, 2),
    },
    // The ratios: how many conditional writes on this machine's DynamoDB Local the median
    // overhead (and one whole stage) lasts, comparable across machines where ms are not.
    overheadInUpdateItems: {
      duringRun: round(overhead.median / result.updateItemDuringRunMs, 1),
      afterRun: round(overhead.median / result.updateItemAfterRunMs, 1),
    },
    stagePeriodInUpdateItems: {
      duringRun: round(period / result.updateItemDuringRunMs, 1),
      afterRun: round(period / result.updateItemAfterRunMs, 1),
    },
    dynamoDbCallsPerStage: result.dynamoDbCallsPerStage,
    idleDynamoDbCallsPerSecond: result.idleDynamoDbCallsPerSecond,
  };
}

function printTable(summary: ReturnType<typeof summarise>) {
  const row = (label: string, s: { median: number; p95: number; max: number }) =>
    `${label.padEnd(44)}${String(s.median).padStart(9)}${String(s.p95).padStart(9)}${String(s.max).padStart(9)}`;
  console.log(
    `\nrun ${summary.run}: ${summary.stages} stages, speed ${summary.speed}, clock step ${summary.stepSeconds} s`,
  );
  console.log(`${'ms'.padEnd(44)}${'median'.padStart(9)}${'p95'.padStart(9)}${'max'.padStart(9)}`);
  console.log(row('overhead (approved upstream → started)', summary.overheadMs));
  console.log(row('  DynamoDB calls meanwhile (count)', summary.overheadDynamoDbCalls));
  console.log(row('  offer (approved upstream → execution)', summary.offerMs));
  console.log(row('  start (execution → deployment started)', summary.startMs));
  console.log(row('deploy (started → succeeded)', summary.deployMs));
  console.log(row('approve (succeeded → stage approved)', summary.approveMs));
  const {
    updateItemMs: write,
    overheadInUpdateItems: over,
    stagePeriodInUpdateItems: per,
  } = summary;
  console.log(
    `stages/s ${summary.stagesPerSecond} (one stage every ${summary.stagePeriodMs} ms, ` +
      `event loop busy ${summary.eventLoopUtilisation}`,
  );
  console.log(`UpdateItem median ${write.duringRun} ms during the run, ${write.afterRun} ms after`);
  console.log(
    `overhead median = ${over.duringRun} UpdateItems (during-run calibration), ${over.afterRun} ` +
      `(after-run); one stage = ${per.duringRun}, ${per.afterRun}`,
  );
  const calls = Object.entries(summary.dynamoDbCallsPerStage)
    .sort(([, a], [, b]) => b - a)
    .map(([op, n]) => `${op} ${n}`);
  console.log(
    `DynamoDB calls per stage: ${calls.join(', ')}; idle: ${summary.idleDynamoDbCallsPerSecond}/s`,
  );
}

async function main() {
  // The handlers log and emit metrics as on Lambda, to stdout; here that would bury the
  // table and time the terminal. Errors still show.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { values } = parseArgs({
    options: {
      stages: { type: 'string', default: '40' },
      runs: { type: 'string', default: '1' },
      speed: { type: 'string' },
      'step-seconds': { type: 'string', default: '10' },
      'calibration-calls': { type: 'string', default: '500' },
      'timeout-seconds': { type: 'string', default: '600' },
    },
  });
  const whole = (flag: keyof typeof values, min: number) => {
    const value = Number(values[flag]);
    if (!Number.isInteger(value) || value < min) {
      process.stderr.write(`--${flag} is ${values[flag]}; expected a whole number ≥ ${min}.\n`);
      process.exit(2);
    }
    return value;
  };
  const stages = whole('stages', 2);
  const runs = whole('runs', 1);
  const options: RunOptions = {
    speed: values.speed === undefined ? null : whole('speed', 1),
    stepSeconds: whole('step-seconds', 1),
    calibrationCalls: whole('calibration-calls', 1),
    timeoutSeconds: whole('timeout-seconds', 1),
  };
  const definition = linearPipeline(stages);
  for (let run = 1; run <= runs; run += 1) {
    const summary = summarise(run, stages, options, await runOnce(definition, options));
    printTable(summary);
    console.log(JSON.stringify(summary));
  }
}

await main();
