import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PipelineDefinition, PipelineEvent } from '../core/index.js';
import { DemoPipeline } from './demo-pipeline.js';
import type { BusEvent } from './event-bus.js';
import { LocalGitRepository } from './git-repository.js';
import { DATA_MARKER, LocalRuntime } from './runtime.js';
import { pipelineEventOf } from './snapshot.js';

export interface DemoOptions {
  /** Where the demo keeps its state; cleared first, the demo starts from nothing. */
  readonly dataDir: string;
  /**
   * Runs the clock on its own, at most this many clock seconds per real second (`npm
   * start`, for a person to follow). Without it the demo moves the clock itself, as fast
   * as the work allows (tests): the story is the same either way, whatever the machine's
   * load, because the clock never moves on before the work of an instant is done.
   * @default - the demo moves the clock
   */
  readonly speed?: number;
  /** Gives up after this much clock time. @default 2 days */
  readonly clockSeconds?: number;
  /** Gives up after this many real seconds too (`npm start --timeout`). @default - never */
  readonly timeoutSeconds?: number;
  /** Sees every Release Captain event as it is published, from the first (the live view). */
  readonly onEvent?: (event: PipelineEvent) => void;
  /** Called about every real second with the runtime, for the live view. */
  readonly onTick?: (runtime: LocalRuntime) => void | Promise<void>;
  /** Leaves the runtime running at the end (for the CLI and the web view). @default false */
  readonly keepRunning?: boolean;
}

/** A Release Captain event as the bus delivered it. */
export interface PipelineEventView {
  readonly type: string;
  readonly at: string;
  readonly stage: string | null;
  readonly release: number | null;
  readonly target: string | null;
  readonly reason: string | null;
  /** For a rollback's completion: how many targets failed to roll back. */
  readonly failedTargets: number;
}

export interface Expectation {
  readonly name: string;
  readonly held: boolean;
  readonly detail: string;
}

export interface DemoResult {
  readonly ok: boolean;
  readonly expectations: readonly Expectation[];
  readonly events: readonly PipelineEventView[];
  readonly definition: PipelineDefinition;
  /** Still running when `keepRunning`; stopped otherwise. */
  readonly runtime: LocalRuntime;
  readonly realSeconds: number;
}

const serviceJson = (version: string, faultRate: number) =>
  `${JSON.stringify({ version, faultRate, latencyMs: 20 }, null, 2)}\n`;

/**
 * Commits a reviewed version of the demo service after the demo (the CLI's and the web
 * view's tests, the screenshots): it is built, recorded as the next release and promoted.
 *
 * @example
 * await commitDemoVersion(result.runtime, '5'); // becomes r5
 */
export function commitDemoVersion(runtime: LocalRuntime, version: string, faultRate = 0) {
  return runtime.repository(new DemoPipeline().definition().source.repository).commit({
    files: { 'service.json': serviceJson(version, faultRate) },
    message: `Version ${version}`,
    author: 'ana',
    reviewedBy: ['bo'],
    pullRequest: `demo-service#${version}`,
  });
}

/**
 * The demo of issue 5, on the local runtime: four commits to the demo service.
 * - r1 is good and reaches every stage;
 * - r2 and r3 come quickly: r2 waits at a stage busy with r1 (the gamma one-box at the
 *   default speed), and r3 supersedes it there;
 * - r3 is good and reaches every stage;
 * - r4 makes half the requests fail: its one-box alarm fires in gamma, it is rolled back
 *   automatically and rejected, and it never reaches production.
 * The commits follow the events (r2 when r1 starts baking at the gamma one-box, r3 when
 * r2 is created, r4 when r3 is approved in gamma), so the story holds at any speed.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const definition = new DemoPipeline().definition();
  await clearDataDir(options.dataDir);
  const repository = await LocalGitRepository.open({
    path: join(options.dataDir, 'repos', definition.source.repository),
  });
  let pr = 0;
  const commit = (version: string, faultRate: number, message: string) =>
    repository.commit({
      files: { 'service.json': serviceJson(version, faultRate) },
      message,
      author: 'ana',
      reviewedBy: ['bo'],
      pullRequest: `demo-service#${++pr}`,
    });
  await commit('1', 0, 'Version 1');

  const events: PipelineEventView[] = [];
  const seen = new Set<string>();
  const has = (type: string, stage?: string, release?: number) =>
    events.some(
      (e) =>
        e.type === type &&
        (stage === undefined || e.stage === stage) &&
        (release === undefined || e.release === release),
    );
  const last = definition.stages.at(-1)?.name as string;
  const pending: Promise<unknown>[] = [];
  // A commit is work of the instant its event happened: the clock waits for it.
  let track = <T>(work: Promise<T>) => work;
  const react = (event: PipelineEventView) => {
    const is = (type: string, stage: string | null, release: number) =>
      event.type === type && (stage === null || event.stage === stage) && event.release === release;
    if (is('Bake Started', 'gamma-onebox', 1)) pending.push(track(commit('2', 0, 'Version 2')));
    if (is('Release Created', null, 2)) pending.push(track(commit('3', 0, 'Version 3')));
    if (is('Stage Approved', 'gamma', 3)) {
      pending.push(
        track(commit('4', 0.5, 'Version 4: a change that makes half the requests fail')),
      );
    }
  };
  const runtime = await LocalRuntime.start({
    pipelines: [definition],
    dataDir: options.dataDir,
    ...(options.speed === undefined ? {} : { speed: options.speed }),
    onEvent: (event: BusEvent) => {
      const pipelineEvent = pipelineEventOf(event);
      // Events are relayed at least once: a repeat carries the same id and is dropped.
      if (pipelineEvent === null || seen.has(pipelineEvent.id)) return;
      seen.add(pipelineEvent.id);
      const view = viewOf(pipelineEvent);
      events.push(view);
      options.onEvent?.(pipelineEvent);
      react(view);
    },
  });

  const done = () =>
    has('Stage Approved', last, 1) &&
    has('Stage Approved', last, 3) &&
    has('Rollback Completed', 'gamma-onebox', 4);
  track = (work) => runtime.clock.track(work);
  const deadline = runtime.clock.now().getTime() + (options.clockSeconds ?? 2 * 86_400) * 1000;
  let lastTick = 0;
  const realDeadline = started + (options.timeoutSeconds ?? Number.POSITIVE_INFINITY) * 1000;
  while (
    !done() &&
    runtime.clock.now().getTime() < deadline &&
    performance.now() < realDeadline &&
    runtime.failures.length === 0
  ) {
    if (options.speed === undefined) await runtime.advance();
    else await new Promise((resolve) => setTimeout(resolve, 100));
    if (performance.now() - lastTick >= 1000) {
      lastTick = performance.now();
      await options.onTick?.(runtime);
    }
  }
  await Promise.all(pending);
  await runtime.bus.drain();
  // One last look for the view, while the runtime still answers.
  await options.onTick?.(runtime);
  const expectations = [
    ...check(definition, events, runtime, done()),
    ...(await checkWhatRuns(definition, runtime)),
  ];
  if (!options.keepRunning) await runtime.stop();
  return {
    ok: expectations.every((e) => e.held),
    expectations,
    events,
    definition,
    runtime,
    realSeconds: (performance.now() - started) / 1000,
  };
}

function viewOf(event: PipelineEvent): PipelineEventView {
  return {
    type: event.type,
    at: event.at,
    stage: event.detail.stage,
    release: event.detail.release,
    target: event.detail.target,
    reason: event.detail.reason,
    failedTargets: Number(event.detail.data.failedTargets ?? 0),
  };
}

/** What the demo promises, checked over the events it recorded. */
function check(
  definition: PipelineDefinition,
  events: readonly PipelineEventView[],
  runtime: LocalRuntime,
  finished: boolean,
): Expectation[] {
  const stages = definition.stages.map((s) => s.name);
  const production = new Set(
    definition.stages.filter((s) => s.phase === 'production').map((s) => s.name),
  );
  const approvedEverywhere = (release: number) => {
    const missing = stages.filter(
      (stage) =>
        !events.some(
          (e) => e.type === 'Stage Approved' && e.stage === stage && e.release === release,
        ),
    );
    return {
      held: missing.length === 0,
      detail:
        missing.length === 0
          ? `approved in all ${stages.length} stages`
          : `not approved in ${missing.join(', ')}`,
    };
  };
  const superseded = events.find((e) => e.type === 'Release Superseded' && e.release === 2);
  const r4Production = events.filter(
    (e) => e.type === 'Deployment Started' && e.release === 4 && production.has(e.stage ?? ''),
  );
  const r4RolledBack = events.some(
    (e) =>
      e.type === 'Rollback Completed' &&
      e.stage === 'gamma-onebox' &&
      e.release === 4 &&
      e.failedTargets === 0,
  );
  // Promotion order (safety property: a release deploys to a stage only after the stage
  // before approved it).
  const after = new Map(definition.stages.map((s) => [s.name, s.after]));
  const outOfOrder = events.filter((e, index) => {
    if (e.type !== 'Deployment Started' || e.stage === null) return false;
    const before = after.get(e.stage) ?? [];
    return before.some(
      (upstream) =>
        !events
          .slice(0, index)
          .some(
            (p) => p.type === 'Stage Approved' && p.stage === upstream && p.release === e.release,
          ),
    );
  });
  const r1 = approvedEverywhere(1);
  const r3 = approvedEverywhere(3);
  return [
    {
      name: 'the demo finished in time',
      held: finished,
      detail: finished ? 'every step happened' : 'timed out',
    },
    { name: 'r1 reaches every stage', ...r1 },
    {
      name: 'r3 supersedes r2 waiting at a busy stage',
      held: superseded !== undefined,
      detail:
        superseded === undefined
          ? 'r2 was never superseded'
          : `r2 superseded at ${superseded.stage}: ${superseded.reason}`,
    },
    { name: 'r3 reaches every stage', ...r3 },
    {
      name: 'r4 is rolled back by its one-box alarm and never reaches production',
      held: r4RolledBack && r4Production.length === 0,
      detail: `${r4RolledBack ? 'rolled back at gamma-onebox' : 'not rolled back'}; ${r4Production.length} production deployments of r4`,
    },
    {
      name: 'no release deploys to a stage before the stage before it approved the release',
      held: outOfOrder.length === 0,
      detail:
        outOfOrder.length === 0
          ? 'promotion order held'
          : outOfOrder.map((e) => `r${e.release} in ${e.stage}`).join(', '),
    },
    {
      name: 'the runtime met no errors',
      held: runtime.failures.length === 0,
      detail: runtime.failures.length === 0 ? 'none' : runtime.failures.map(String).join('; '),
    },
  ];
}

/**
 * What the world says at the end, beside the events: every fleet runs r3's version but
 * beta (which has the newest, r4: it runs the tests and bakes nothing), and the release
 * store holds r2 superseded and r4 rejected.
 */
async function checkWhatRuns(
  definition: PipelineDefinition,
  runtime: LocalRuntime,
): Promise<Expectation[]> {
  const wrong: string[] = [];
  for (const stage of definition.stages) {
    for (const target of stage.targets) {
      const expected = stage.name === 'beta' ? '4' : '3';
      const counts = runtime.fleets.get(target.id)?.versionCounts() ?? {};
      const running = Object.entries(counts).filter(([, boxes]) => boxes > 0);
      if (running.length !== 1 || running[0]?.[0] !== expected) {
        wrong.push(`${target.id} runs ${JSON.stringify(counts)}, not only ${expected}`);
      }
    }
  }
  const r2 = await runtime.releases.getProgress(definition.name, 2);
  const r4 = await runtime.releases.getProgress(definition.name, 4);
  const superseded = Object.values(r2.stages).some((o) => o.status === 'superseded');
  const rejected = r4.stages['gamma-onebox']?.status === 'rejected';
  return [
    {
      name: 'every fleet runs r3 but beta, which runs r4',
      held: wrong.length === 0,
      detail: wrong.length === 0 ? 'as expected' : wrong.join('; '),
    },
    {
      name: 'the release store holds r2 superseded and r4 rejected at the gamma one-box',
      held: superseded && rejected,
      detail: `r2 ${superseded ? 'superseded' : 'not superseded'}, r4 ${rejected ? 'rejected' : `is ${r4.stages['gamma-onebox']?.status ?? 'nowhere'}`} at gamma-onebox`,
    },
  ];
}

/**
 * Clears the demo's data directory, but only one the runtime made (it holds the
 * `.captain-data` marker) or an empty one: `--data-dir .` must not delete a project.
 */
async function clearDataDir(dir: string): Promise<void> {
  const entries: string[] = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  if (entries.length > 0 && !entries.includes(DATA_MARKER)) {
    throw new Error(
      `The demo starts from nothing and clears its data directory, but ${dir} was not made by Release Captain (no ${DATA_MARKER} in it); pass an empty or new --data-dir.`,
    );
  }
  await rm(dir, { recursive: true, force: true });
}
