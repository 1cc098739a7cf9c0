import './promise-with-resolvers.js';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import { DynamoDbAuditLog, DynamoDbDeploymentLog } from '../adapters/aws/dynamodb-logs.js';
import { DynamoDbPromotionStore } from '../adapters/aws/dynamodb-promotion-store.js';
import { DynamoDbReleaseStore } from '../adapters/aws/dynamodb-release-store.js';
import { DynamoDbWakeRegistry } from '../adapters/aws/dynamodb-wake-registry.js';
import { S3ArtifactStore } from '../adapters/aws/s3-artifact-store.js';
import {
  type PipelineDefinition,
  PromotionService,
  ReleaseRecorder,
  runStart,
  Topology,
} from '../core/index.js';
import { createAdvanceStageHandler } from '../functions/advance-stage.js';
import { createAdvanceTargetHandler } from '../functions/advance-target.js';
import { createAwaitEventHandler } from '../functions/await-event.js';
import { createFailRunHandler } from '../functions/fail-run.js';
import type { HandlerDeps } from '../functions/lib/deps.js';
import { executionInput } from '../functions/lib/inputs.js';
import type { OperatorApiDeps } from '../functions/lib/operator-routes.js';
import { LOCAL_WAKE_EVENTS, wakePattern } from '../functions/lib/wake-events.js';
import { operatorApiDeps } from '../functions/operator-api.js';
import { createReconcileHandler } from '../functions/reconcile.js';
import { createReportApprovalHandler } from '../functions/report-approval.js';
import { createWakeHandler } from '../functions/wake.js';
import { LocalAlarms } from './alarms.js';
import { Canary } from './canary.js';
import { SimulatedClock } from './clock.js';
import { defineLocalAlarms } from './cloudwatch.js';
import {
  type LocalBucket,
  type LocalTable,
  startLocalBucket,
  startLocalTable,
} from './emulators.js';
import { type BusEvent, LocalEventBus, LocalEventPublisher } from './event-bus.js';
import { LocalExecutions } from './executions.js';
import { Fleets } from './fleet.js';
import { LocalFleetDeployer } from './fleet-deployer.js';
import { LocalGitRepository } from './git-repository.js';
import { GitSourceHistory } from './git-source-history.js';
import { LocalBuild, LocalBuildStarter } from './local-build.js';
import { LocalMetricSource, LocalMetricStore } from './metric-store.js';
import { type OperatorServer, startOperatorServer } from './operator-server.js';
import { LocalTaskTokens, loadDefinition } from './state-machine.js';

export interface LocalRuntimeOptions {
  /** The pipelines to run; their targets are `local-fleet`s. */
  readonly pipelines: readonly PipelineDefinition[];
  /**
   * Where state lives between runs (`.captain/`): the table, the artifacts, the
   * repositories, the fleets, the event log and the clock.
   */
  readonly dataDir: string;
  /**
   * Runs the clock on its own from the start, at most `speed` clock seconds per real
   * second (`npm start`'s `--speed`); on a loaded machine it runs slower, never ahead of
   * the work. Without it the caller moves the clock: {@link LocalRuntime.advance},
   * {@link LocalRuntime.runUntil}, {@link LocalRuntime.runFreely}.
   * @default - the caller moves the clock
   */
  readonly speed?: number;
  /**
   * The longest move of the clock, in clock seconds: fleets, the canary, alarms, sources
   * and the reconciler's schedule are looked at after every move. @default 10
   */
  readonly stepSeconds?: number;
  /** Where the clock starts on a first run. @default - now */
  readonly start?: Date;
  /** Keeps the table in memory (tests); the rest still lives in `dataDir`. @default false */
  readonly inMemoryTable?: boolean;
  /** Sees every event on the bus from the first one on (views, tests). @default - none */
  readonly onEvent?: (event: BusEvent) => void;
  /**
   * The operator API and web view on loopback (`captain`, the browser); its address is
   * written to `<dataDir>/api.json` while it runs. `false`: none. @default - on a free port
   */
  readonly operatorApi?: { readonly port?: number } | false;
}

/** Where the running runtime's operator API is written, for `captain` to find. */
export const API_FILE = 'api.json';

/** The stage workflow's Lambda functions, by the ARN the definition names. */
export const FUNCTION_ARNS = {
  AdvanceTargetFunctionArn: 'arn:aws:lambda:local:000000000000:function:advance-target',
  AdvanceStageFunctionArn: 'arn:aws:lambda:local:000000000000:function:advance-stage',
  AwaitEventFunctionArn: 'arn:aws:lambda:local:000000000000:function:await-event',
  FailRunFunctionArn: 'arn:aws:lambda:local:000000000000:function:fail-run',
};

/** Where the alarms' states are saved in the data directory. */
const ALARMS_FILE = 'alarms.json';

/** The file that marks a directory as the runtime's: only such a directory may be cleared. */
export const DATA_MARKER = '.captain-data';

/**
 * Refuses a data directory whose promotion state an earlier version kept in dynalite
 * (`<dataDir>/dynamodb`, LevelDB): DynamoDB Local cannot read it, and starting beside it
 * would run the repositories and the clock on an empty table.
 */
async function refuseDynaliteState(dataDir: string): Promise<void> {
  const entries = await readdir(join(dataDir, 'dynamodb')).catch(() => []);
  if (entries.length === 0) return;
  throw new Error(
    `${dataDir} holds local state of an earlier Release Captain (its table in ${join(dataDir, 'dynamodb')}, kept by dynalite), which the local DynamoDB of this version cannot read; start with a new --data-dir, or delete ${dataDir} to start over.`,
  );
}

/** How long, in real time, a box may take to answer the canary or a health probe. */
const PROBE_TIMEOUT_MS = 15_000;

/** How often, in clock time, the reconciler runs (the cloud's schedule). */
const RECONCILE_EVERY_MS = 5 * 60_000;

/**
 * The local engine: the cloud's stage workflow (statemachines/stage.asl.json, run by
 * aws-local-stepfunctions) and the same handler modules (functions/), over the same AWS
 * adapters talking to DynamoDB and S3 emulators on loopback, with local implementations of
 * the ports that have no emulator: CloudWatch (local/alarms.ts), EventBridge
 * (local/event-bus.ts), the fleets and their deployer (local/fleet*.ts), the source and the
 * build (a real git repository per pipeline, local/git-*.ts). Every commit on a watched
 * branch becomes a release, as a push does in the cloud.
 *
 * After a restart, local executions are gone: `start` runs the reconciler at once, which
 * starts a new attempt of every run whose execution is not running; deployments are
 * idempotent by key, so nothing is deployed twice.
 *
 * @example
 * const runtime = await LocalRuntime.start({ pipelines: [demo], dataDir: '.captain', speed: 120 });
 * await runtime.repository('demo-service').commit({ files: { 'service.json': … }, message: 'r2', author: 'ana', reviewedBy: ['bo'] });
 * // … the commit is built, recorded as r2 and promoted; runtime.bus.subscribe(show)
 * await runtime.stop();
 */
export class LocalRuntime {
  readonly clock: SimulatedClock;
  readonly bus: LocalEventBus;
  readonly metrics: LocalMetricStore;
  readonly alarms: LocalAlarms;
  readonly fleets: Fleets;
  readonly deployer: LocalFleetDeployer;
  readonly executions: LocalExecutions;
  readonly builds: LocalBuildStarter;
  readonly services: ReadonlyMap<string, PromotionService>;
  readonly releases: DynamoDbReleaseStore;
  /** What the operator API (CLI, web view) reads and writes through. */
  readonly operatorApi: OperatorApiDeps;
  #server: OperatorServer | null = null;
  readonly #table: LocalTable;
  readonly #bucket: LocalBucket;
  readonly #dataDir: string;
  readonly #repositories: ReadonlyMap<string, LocalGitRepository>;
  readonly #pipelines: readonly PipelineDefinition[];
  readonly #canary: Canary;
  readonly #seen = new Map<string, string>();
  readonly #reconcile: ReturnType<typeof createReconcileHandler>;
  readonly #reportApproval: ReturnType<typeof createReportApprovalHandler>;
  /** The loop that moves the clock on its own, while it runs (`speed`, `runFreely`). */
  #running: { stop: boolean; done: Promise<void>; speed: number | null } | null = null;
  #ticking: Promise<void> | null = null;
  #lastReconcile = 0;
  #failures: unknown[] = [];
  #savingAlarms: Promise<void> = Promise.resolve();

  private constructor(parts: {
    clock: SimulatedClock;
    table: LocalTable;
    bucket: LocalBucket;
    dataDir: string;
    pipelines: readonly PipelineDefinition[];
    repositories: Map<string, LocalGitRepository>;
    executionsDefinition: Awaited<ReturnType<typeof loadDefinition>>;
    onEvent: ((event: BusEvent) => void) | undefined;
    savedAlarms: Parameters<LocalAlarms['restore']>[0];
  }) {
    const { clock, table, bucket, pipelines } = parts;
    this.clock = clock;
    this.#table = table;
    this.#bucket = bucket;
    this.#dataDir = parts.dataDir;
    this.#pipelines = pipelines;
    this.#repositories = parts.repositories;
    const artifacts = new S3ArtifactStore(bucket.client, bucket.bucket, {
      // s3rver ignores If-None-Match on PUT; content-addressed keys make a rewrite harmless.
      conditionalWrites: false,
    });
    const track = <T>(work: Promise<T>) => clock.track(work);
    this.bus = new LocalEventBus({
      clock,
      logPath: join(parts.dataDir, 'events.jsonl'),
      sleep: (ms) => clock.sleep(ms),
      track,
    });
    if (parts.onEvent !== undefined) this.bus.subscribe(parts.onEvent);
    this.metrics = new LocalMetricStore(clock);
    this.alarms = new LocalAlarms(this.metrics, clock);
    defineLocalAlarms(pipelines, this.alarms);
    this.alarms.restore(parts.savedAlarms);
    // Fleets and deployments outlive the process, as ECS and CodeDeploy outlive the control plane.
    const fleetsDirectory = join(parts.dataDir, 'fleets');
    // A box states the latency it simulates and answers at once: the clock waits for the
    // canary's requests, so a real wait would only slow the run down.
    this.fleets = new Fleets({ clock, maxDelayMs: 0, directory: fleetsDirectory });
    this.deployer = new LocalFleetDeployer({
      fleets: this.fleets,
      artifacts,
      clock,
      directory: fleetsDirectory,
      // Real time: the clock waits for the probe, so only a box that does not answer at
      // all fails it, however loaded the machine.
      probeTimeoutMs: PROBE_TIMEOUT_MS,
      onChange: (deployment) =>
        void this.bus
          .put([
            {
              source: 'release-captain.local',
              detailType: 'Local Fleet Deployment State Change',
              detail: { deploymentId: deployment.deploymentId, status: deployment.status },
            },
          ])
          .catch((error) => this.#failures.push(error)),
    });
    // Canary traffic every 20 clock seconds, whatever the speed, so each alarm period sees
    // requests; only to stages that bake: a stage without a bake (beta) is approved by its
    // tests, and its fleet serves no customer-like traffic.
    const baked = new Set(
      pipelines.flatMap((p) =>
        p.stages
          .filter((stage) => stage.bake.durationSeconds > 0 || stage.bake.minDataPoints > 0)
          .flatMap((stage) => stage.targets.map((t) => t.id)),
      ),
    );
    this.#canary = new Canary({
      fleets: { list: () => this.fleets.list().filter((fleet) => baked.has(fleet.target)) },
      sink: this.metrics,
      secondsPerRound: 20,
      timeoutMs: PROBE_TIMEOUT_MS,
    });
    this.releases = new DynamoDbReleaseStore(table.client, table.tableName);
    const tokens = new LocalTaskTokens();
    const publisher = new LocalEventPublisher(this.bus);
    const services = new Map<string, PromotionService>();
    const logs = {
      deployments: new DynamoDbDeploymentLog(table.client, table.tableName),
      audit: new DynamoDbAuditLog(table.client, table.tableName),
    };
    const topologies = new Map(pipelines.map((p) => [p.name, new Topology(p)]));
    // Set below once the handlers exist: the executions need them, they need the services.
    let started: LocalExecutions | undefined;
    for (const [name, topology] of topologies) {
      services.set(
        name,
        new PromotionService(topology, {
          promotions: new DynamoDbPromotionStore(table.client, table.tableName),
          releases: this.releases,
          deployments: logs.deployments,
          audit: logs.audit,
          events: publisher,
          workflows: {
            startRun: (pipeline, run) => (started as LocalExecutions).startRun(pipeline, run),
            isRunning: (pipeline, run) => (started as LocalExecutions).isRunning(pipeline, run),
          },
          clock,
        }),
      );
    }
    this.services = services;
    const metricSource = new LocalMetricSource(this.metrics);
    const deps: HandlerDeps = {
      driver: async (pipeline) => ({
        service: serviceOf(services, pipeline),
        releases: this.releases,
        deployer: this.deployer,
        alarms: this.alarms,
        metrics: metricSource,
        clock,
      }),
      wakes: new DynamoDbWakeRegistry(table.client, table.tableName),
      tokens,
      clock,
    };
    const source = async () => deps;
    this.operatorApi = operatorApiDeps(deps, {
      pipelines: () => pipelines.map((p) => p.name),
      ...logs,
      // No console here: the CLI and the web view show the execution's name.
      executionLink: () => null,
    });
    const step =
      (handler: (payload: unknown, context: Context) => Promise<unknown>, fn: string) =>
      (payload: unknown) =>
        handler(payload, lambdaContext(fn));
    started = new LocalExecutions(
      parts.executionsDefinition,
      {
        [FUNCTION_ARNS.AdvanceTargetFunctionArn]: step(
          createAdvanceTargetHandler(source),
          'advance-target',
        ),
        [FUNCTION_ARNS.AdvanceStageFunctionArn]: step(
          createAdvanceStageHandler(source),
          'advance-stage',
        ),
        [FUNCTION_ARNS.AwaitEventFunctionArn]: step(createAwaitEventHandler(source), 'await-event'),
        [FUNCTION_ARNS.FailRunFunctionArn]: step(createFailRunHandler(source), 'fail-run'),
      },
      tokens,
      (pipeline, run) => executionInput(topologies.get(pipeline) as Topology, pipeline, run),
      { clock },
    );
    this.executions = started;
    const wake = createWakeHandler(source);
    // The cloud's rule WakeOnDeploymentsAndAlarms, with the local fleets' events beside AWS's.
    this.bus.addRule({
      name: 'WakeOnDeploymentsAndAlarms',
      pattern: wakePattern(LOCAL_WAKE_EVENTS),
      target: async (event) => void (await wake(event, lambdaContext('wake'))),
      retries: 8,
    });
    // Alarm states outlive the process, as CloudWatch's do: saved at every change, before
    // the change's event goes out.
    this.alarms.onChange(() => {
      // One write at a time, each with the states as they are when it runs.
      this.#savingAlarms = this.#savingAlarms.then(() => {
        const saved = this.alarms
          .list()
          .map(({ name, state, reason, lastAlarmAt }) => ({ name, state, reason, lastAlarmAt }));
        return track(
          writeAtomically(join(parts.dataDir, ALARMS_FILE), `${JSON.stringify(saved)}\n`),
        ).catch((error) => void this.#failures.push(error));
      });
    });
    this.alarms.onChange(
      (change) =>
        void this.bus
          .put([
            {
              source: 'aws.cloudwatch',
              detailType: 'CloudWatch Alarm State Change',
              detail: {
                alarmName: change.name,
                state: { value: change.to, reason: change.reason, timestamp: change.at },
                previousState: { value: change.from },
              },
            },
          ])
          .catch((error) => this.#failures.push(error)),
    );
    this.#reconcile = createReconcileHandler(source);
    this.#reportApproval = createReportApprovalHandler(source);
    const recorders = new Map(
      pipelines.map((p) => [
        p.name,
        new ReleaseRecorder(
          serviceOf(services, p.name),
          {
            releases: this.releases,
            history: new GitSourceHistory({
              repositories: Object.fromEntries(
                [...parts.repositories].map(([name, repo]) => [name, repo.path]),
              ),
            }),
            clock,
          },
          p.source,
        ),
      ]),
    );
    this.builds = new LocalBuildStarter({
      track,
      build: new LocalBuild({
        artifacts,
        record: (built, pipeline) => (recorders.get(pipeline) as ReleaseRecorder).record(built),
      }),
      repository: (pipeline) => {
        const definition = pipelines.find((p) => p.name === pipeline);
        return definition === undefined
          ? undefined
          : parts.repositories.get(definition.source.repository);
      },
    });
  }

  /** Starts the emulators, opens (or creates) the repositories, and begins ticking. */
  static async start(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const saved = await readClock(options.dataDir);
    const clock = new SimulatedClock(saved ?? options.start ?? new Date(), {
      stepMs: (options.stepSeconds ?? 10) * 1000,
    });
    await mkdir(options.dataDir, { recursive: true });
    await refuseDynaliteState(options.dataDir);
    await writeFile(join(options.dataDir, DATA_MARKER), 'Release Captain local state\n');
    const table = await startLocalTable(
      options.inMemoryTable ? {} : { path: join(options.dataDir, 'dynamodb-local') },
    );
    const bucket = await startLocalBucket({ directory: join(options.dataDir, 's3') }).catch(
      async (error: unknown) => {
        await table.close();
        throw error;
      },
    );
    try {
      return await LocalRuntime.#assemble(options, clock, table, bucket);
    } catch (error) {
      await bucket.close();
      await table.close();
      throw error;
    }
  }

  static async #assemble(
    options: LocalRuntimeOptions,
    clock: SimulatedClock,
    table: LocalTable,
    bucket: LocalBucket,
  ): Promise<LocalRuntime> {
    process.env.AWS_ENDPOINT_URL_DYNAMODB = table.endpoint;
    process.env.AWS_ENDPOINT_URL_S3 = bucket.endpoint;
    const repositories = new Map<string, LocalGitRepository>();
    for (const p of options.pipelines) {
      const name = p.source.repository;
      if (!repositories.has(name)) {
        repositories.set(
          name,
          await LocalGitRepository.open({ path: join(options.dataDir, 'repos', name) }),
        );
      }
    }
    const runtime = new LocalRuntime({
      clock,
      table,
      bucket,
      dataDir: options.dataDir,
      pipelines: options.pipelines,
      repositories,
      executionsDefinition: await loadDefinition(
        fileURLToPath(new URL('../statemachines/stage.asl.json', import.meta.url)),
        FUNCTION_ARNS,
      ),
      onEvent: options.onEvent,
      savedAlarms: await readSavedAlarms(options.dataDir),
    });
    await runtime.#resume();
    await runtime.clock.settle();
    await runtime.tick();
    await runtime.clock.settle();
    if (options.operatorApi !== false) {
      runtime.#server = await startOperatorServer({
        api: runtime.operatorApi,
        ...(options.operatorApi?.port === undefined ? {} : { port: options.operatorApi.port }),
        onError: (error) => void runtime.#failures.push(error),
      });
      await writeAtomically(
        join(options.dataDir, API_FILE),
        `${JSON.stringify({ url: runtime.#server.url, pid: process.pid })}\n`,
      );
    }
    if (options.speed !== undefined) runtime.runFreely({ speed: options.speed });
    return runtime;
  }

  /**
   * Starts again, under their own names, the executions of the runs a stopped or killed
   * process left in flight: in the cloud those executions would have kept running, so a
   * restart of the local engine must not cost them an attempt.
   */
  async #resume(): Promise<void> {
    for (const [pipeline, service] of this.services) {
      const state = await service.state();
      for (const [stage, { run }] of Object.entries(state.stages)) {
        if (run === null) continue;
        await this.executions.startRun(pipeline, runStart(pipeline, stage, run));
      }
    }
  }

  /** The git repository a pipeline releases from, by repository name. */
  repository(name: string): LocalGitRepository {
    const repository = this.#repositories.get(name);
    if (repository === undefined) {
      throw new Error(
        `No repository ${name}; the runtime's pipelines release from ${[...this.#repositories.keys()].join(', ')}.`,
      );
    }
    return repository;
  }

  /** Reports an integration-tests step's result, as a test runner does (manual approvals go through the operator API). */
  approve(input: Parameters<ReturnType<typeof createReportApprovalHandler>>[0]) {
    return this.#reportApproval(input, lambdaContext('report-approval'));
  }

  /**
   * Errors the background work met, for the caller to report: ticks, event deliveries that
   * failed every retry, builds that failed, and executions that ended in failure.
   */
  get failures(): readonly unknown[] {
    return [
      ...this.#failures,
      ...this.bus.deadLetters.map((d) => `${d.rule}: ${String(d.error)}`),
      ...this.builds
        .builds()
        .filter((b) => b.status === 'failed')
        .map((b) => `build ${b.id}: ${b.error}`),
      ...this.executions
        .list()
        .filter((e) => e.status === 'failed')
        .map((e) => `execution ${e.name}: ${e.error}`),
    ];
  }

  /**
   * One look at the world: new commits start builds, deployments advance, the canary
   * sends its requests, alarms are evaluated, and every five clock minutes the
   * reconciler runs. Ticks never overlap.
   */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick()
      .catch((error) => void this.#failures.push(error))
      .finally(() => {
        this.#ticking = null;
      });
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    // Each part on its own: a failing one (a git error, say) is recorded and must not
    // stop deployments, alarms or the reconciler.
    const part = async (work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        this.#failures.push(error);
      }
    };
    // Saved at every tick, not only by stop(): after a crash the clock goes on from here,
    // where starting again from real time would move an accelerated clock back by hours.
    await part(() => saveClock(this.#dataDir, this.clock.now()));
    for (const pipeline of this.#pipelines) {
      await part(async () => {
        const repository = this.repository(pipeline.source.repository);
        const head = await repository.head(pipeline.source.branch);
        const seen = this.#seen.get(pipeline.name);
        if (head === seen) return;
        await this.builds.startBuild({
          pipeline: pipeline.name,
          commit: head,
          previousCommit: seen ?? null,
          pushedBy: 'local',
        });
        this.#seen.set(pipeline.name, head);
      });
    }
    await part(() => this.deployer.tick());
    await part(() => this.#canary.tick(this.clock.now()));
    await part(async () => this.alarms.evaluate());
    const now = this.clock.now().getTime();
    if (now - this.#lastReconcile >= RECONCILE_EVERY_MS) {
      this.#lastReconcile = now;
      for (const pipeline of this.#pipelines) {
        await part(() => this.#reconcile({ pipeline: pipeline.name }, lambdaContext('reconcile')));
      }
    }
  }

  /**
   * One move of the clock, for a caller that moves it: time goes to the next timer or by
   * one step, the work that wakes up runs, the world is looked at (`tick`), and the work
   * that causes runs too, all before it returns. Returns the clock's new time.
   */
  async advance(): Promise<Date> {
    if (this.#running !== null) {
      throw new Error(
        'The clock runs on its own here (speed or runFreely); advance is for a caller that moves it.',
      );
    }
    return this.#advance();
  }

  async #advance(): Promise<Date> {
    this.clock.step();
    await this.clock.settle();
    await this.tick();
    await this.clock.settle();
    return this.clock.now();
  }

  /**
   * Moves the clock until `check` holds, or fails once `clockSeconds` of clock time have
   * passed without it, or as soon as the runtime met an error, naming what it waited for.
   */
  async runUntil(
    check: () => boolean | Promise<boolean>,
    options: { readonly what: string; readonly clockSeconds: number },
  ): Promise<void> {
    const deadline = this.clock.now().getTime() + options.clockSeconds * 1000;
    while (!(await check())) {
      const failures = this.failures;
      if (failures.length > 0) {
        throw new Error(
          `The runtime met errors while waiting until ${options.what}: ${failures.map(String).join('; ')}`,
        );
      }
      if (this.clock.now().getTime() >= deadline) {
        throw new Error(
          `${options.what} did not happen within ${options.clockSeconds} s of clock time (the clock is at ${this.clock.now().toISOString()}).`,
        );
      }
      await this.advance();
    }
  }

  /**
   * Lets the clock run on its own until `stop`: as fast as the work allows, or at most
   * `speed` clock seconds per real second. Each move waits for the work of the instant
   * before, so a slow machine slows the clock down instead of making work late.
   */
  runFreely(options: { readonly speed?: number } = {}): void {
    const speed = options.speed ?? null;
    if (speed !== null && !(Number.isFinite(speed) && speed >= 1)) {
      throw new RangeError(`The clock's speed must be a number ≥ 1, got ${speed}.`);
    }
    if (this.#running !== null) throw new Error('The clock already runs on its own.');
    const running = { stop: false, done: Promise.resolve(), speed };
    running.done = (async () => {
      const realStart = performance.now();
      const clockStart = this.clock.now().getTime();
      while (!running.stop) {
        await this.#advance();
        const due =
          speed === null ? 0 : realStart + (this.clock.now().getTime() - clockStart) / speed;
        // Also at full speed: one real turn lets the operator API's requests in.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
      }
    })();
    this.#running = running;
  }

  /**
   * Stops the clock running on its own (see {@link runFreely}) and hands it back to the
   * caller, who moves it with `advance` or `runUntil`: the runtime keeps serving, and
   * nothing moves until the clock does. Does nothing if the clock was not running.
   */
  async holdClock(): Promise<void> {
    const running = this.#running;
    if (running === null) return;
    running.stop = true;
    await running.done;
    this.#running = null;
  }

  /** How fast the clock may run on its own (clock seconds per real second); `null` when as fast as it can or moved by the caller. */
  get speed(): number | null {
    return this.#running?.speed ?? null;
  }

  /** The operator API's address (`http://127.0.0.1:<port>`), if it serves one. */
  get apiUrl(): string | null {
    return this.#server?.url ?? null;
  }

  /** Stops the clock, aborts executions, closes fleets and emulators, and saves the clock. */
  async stop(): Promise<void> {
    await this.holdClock();
    if (this.#server !== null) {
      await rm(join(this.#dataDir, API_FILE), { force: true });
      await this.#server.close();
    }
    await this.#ticking;
    await this.builds.drain();
    for (const execution of this.executions.list()) execution.abort();
    await Promise.allSettled(this.executions.list().map((e) => e.done));
    await this.bus.drain();
    await this.#savingAlarms;
    await this.fleets.close();
    await saveClock(this.#dataDir, this.clock.now());
    await this.#table.close();
    await this.#bucket.close();
  }
}

function serviceOf(services: ReadonlyMap<string, PromotionService>, pipeline: string) {
  const service = services.get(pipeline);
  if (service === undefined) {
    throw new Error(
      `No pipeline ${pipeline} in this runtime; it runs ${[...services.keys()].join(', ')}.`,
    );
  }
  return service;
}

/** Writes through a temporary file, so that a kill never leaves half of a file. */
async function writeAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/** Writes `clock.json`, so that after a crash the clock goes on from where it was. */
async function saveClock(dataDir: string, now: Date): Promise<void> {
  await writeAtomically(
    join(dataDir, 'clock.json'),
    `${JSON.stringify({ now: now.toISOString() })}\n`,
  );
}

/** The alarms' states saved by an earlier run; none on a first run. */
async function readSavedAlarms(dataDir: string): Promise<Parameters<LocalAlarms['restore']>[0]> {
  try {
    return JSON.parse(await readFile(join(dataDir, ALARMS_FILE), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(
      `${join(dataDir, ALARMS_FILE)} cannot be read (${String(error)}); delete it to start the alarms afresh.`,
    );
  }
}

async function readClock(dataDir: string): Promise<Date | null> {
  try {
    const { now } = JSON.parse(await readFile(join(dataDir, 'clock.json'), 'utf8')) as {
      now: string;
    };
    const date = new Date(now);
    return Number.isNaN(date.getTime()) ? null : date;
  } catch {
    return null;
  }
}

/** What the Lambda service passes handlers, as far as they read it. */
export const lambdaContext = (functionName: string): Context =>
  ({
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: 'local',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 60_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }) as Context;
