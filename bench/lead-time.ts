/**
 * Commit → everywhere lead time on the seeds' sample pipeline, with the real promotion
 * rules (core/promotion) on a virtual clock: no store, no workflow, no waiting. Each run
 * of a stage is driven as the stage workflow drives it: admit its targets (the rules
 * evaluate the time windows in each target's own time zone and say until when a blocked
 * target waits), deploy each in parallel (one-box 10 min, zonal 30 min), bake for the
 * stage's bake time (data points assumed met, alarms quiet), approve. What the rules start
 * (offers, takes, supersedes) is what the pipeline would do.
 *
 * The cases, on the same stream of commits: the lanes layout (each Region on its own) or
 * lock step (each step over every Region of a wave), each with three policies:
 * - supersede: every commit is a release at once; a newer approved release replaces an
 *   older one waiting at a stage (what Release Captain does);
 * - one at a time: every commit is a release, and a release starts only once the one
 *   before is everywhere (no release is ever skipped);
 * - batched: one release at a time, but the next holds every commit merged meanwhile.
 * It also plans one release alone (`planRollout`, the policy's lower bound: what bakes and
 * windows force with nothing ahead of it) and simulates one commit alone, to compare.
 * Results: docs/benchmarks.md.
 *
 * With `--scale`, instead: 100 releases through the lanes layout, one every 10 minutes
 * and all at once, through the rules alone and through `PromotionService` with the
 * in-memory ports, with the time taken and the state loads.
 *
 * @example
 * npx tsx bench/lead-time.ts --days 5 --every-minutes 30
 * npx tsx bench/lead-time.ts --scale
 */
import { parseArgs } from 'node:util';
import {
  admitTargets,
  alarmsToCheck,
  createRelease,
  effectiveBakeSeconds,
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemoryWorkflowStarter,
  initialMeta,
  initialStageState,
  minutes,
  type PipelineDefinition,
  type PipelineState,
  PromotionService,
  planRollout,
  RecordingEventPublisher,
  type Release,
  type Rule,
  type RuleContext,
  type RunStart,
  recordBake,
  recordDeployment,
  type TeamDefaults,
  Topology,
} from '../core/index.js';
import { SampleApi } from '../examples/sample-pipeline.js';

const { values } = parseArgs({
  options: {
    days: { type: 'string', default: '5' },
    'every-minutes': { type: 'string', default: '30' },
    /** Virtual days after the last commit before the simulation gives up on the rest. */
    'horizon-days': { type: 'string', default: '20000' },
    /** The scale case instead: 100 releases through the lanes layout, by the service. */
    scale: { type: 'boolean', default: false },
  },
});
const positive = (name: string, text: string) => {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name} must be a number > 0, got ${text}`);
    process.exit(2);
  }
  return value;
};
const DAYS = positive('days', values.days);
const EVERY_MINUTES = positive('every-minutes', values['every-minutes']);
const HORIZON_DAYS = positive('horizon-days', values['horizon-days']);

/** Monday 2026-11-23 09:00 UTC: the start. */
const START = Date.parse('2026-11-23T09:00:00Z');
const HOUR = 3_600_000;
const deploySeconds = (oneBox: boolean) => (oneBox ? minutes(10) : minutes(30));

class Lanes extends SampleApi {
  protected override defaults(): TeamDefaults {
    return { ...super.defaults(), laneBy: 'region' };
  }
}

/** Commits merged Monday to Friday, 09:00–17:00 UTC, one every `every` minutes, for `days` days. */
function commitTimes(days: number, every: number): number[] {
  const times: number[] = [];
  for (let day = 0; day < days; day++) {
    const weekday = new Date(START + day * 24 * HOUR).getUTCDay();
    if (weekday === 0 || weekday === 6) continue;
    for (let at = 0; at < 8 * 60; at += every) times.push(START + day * 24 * HOUR + at * 60_000);
  }
  return times;
}

interface Outcome {
  /** Per commit, hours from its merge to the first release holding it approved at every last stage. */
  readonly leadHours: number[];
  readonly deployments: number;
  readonly releases: number;
  readonly transitions: number;
  /** Commits not everywhere when the simulation stopped. */
  readonly stranded: number;
  readonly endedAt: number;
}

type Policy = 'supersede' | 'one at a time' | 'batched';

type Job =
  | { readonly kind: 'commit'; readonly at: number; readonly index: number }
  | { readonly kind: 'admit'; readonly at: number; readonly stage: string; readonly seq: number }
  | {
      readonly kind: 'deployed';
      readonly at: number;
      readonly stage: string;
      readonly seq: number;
      readonly target: string;
    }
  | { readonly kind: 'baked'; readonly at: number; readonly stage: string; readonly seq: number };

/**
 * How decisions are applied: `rules` calls the rules on the state in memory; `service`
 * goes through `PromotionService` with the in-memory ports, as a handler does (load the
 * state, apply, write each item with its outbox, relay, acknowledge).
 */
type Through = 'rules' | 'service';

/** Counts the promotion store's loads. */
class CountingStore extends InMemoryPromotionStore {
  loads = 0;
  override async load(topology: Topology): Promise<PipelineState> {
    this.loads++;
    return super.load(topology);
  }
}

/** Runs one case to the end: every commit everywhere, or the horizon. */
async function simulate(
  definition: PipelineDefinition,
  commits: readonly number[],
  policy: Policy,
  through: Through = 'rules',
): Promise<Outcome & { readonly loads: number }> {
  const topology = new Topology(definition);
  let state: PipelineState = {
    stages: Object.fromEntries(
      definition.stages.map((s) => [
        s.name,
        initialStageState(
          s.name,
          s.targets.map((t) => t.id),
        ),
      ]),
    ),
    meta: initialMeta(),
  };
  const releases: Release[] = [];
  /** The release each commit first went out in. */
  const releaseOf = new Map<number, number>();
  const everywhereAt = new Map<number, number>();
  const queue: number[] = [];
  const jobs: Job[] = commits.map((at, index) => ({ kind: 'commit', at, index }));
  let now = START;
  let deployments = 0;
  let transitions = 0;
  const horizon = (commits.at(-1) ?? START) + HORIZON_DAYS * 24 * HOUR;
  // Every alarm the admissions look at, quiet.
  const alarms = Object.fromEntries(
    definition.stages.flatMap((s) =>
      s.targets.flatMap((t) =>
        alarmsToCheck(definition, s, t).map((name) => [name, 'OK' as const]),
      ),
    ),
  );

  const schedule = (job: Job) => {
    // Kept sorted by time, stable: a few thousand jobs at most.
    let i = jobs.length;
    while (i > 0 && (jobs[i - 1] as Job).at > job.at) i--;
    jobs.splice(i, 0, job);
  };
  const context = (): RuleContext => ({ topology, now: new Date(now).toISOString() });
  const store = new CountingStore();
  const releaseStore = new InMemoryReleaseStore();
  const service = new PromotionService(topology, {
    promotions: store,
    releases: releaseStore,
    deployments: new InMemoryDeploymentLog(),
    audit: new InMemoryAuditLog(),
    events: new RecordingEventPublisher(),
    workflows: new InMemoryWorkflowStarter(),
    clock: { now: () => new Date(now) },
  });
  const apply = async <I>(rule: Rule<I>, input: I) => {
    const t =
      through === 'rules' ? rule(context(), state, input) : await service.apply(rule, input);
    state = t.state;
    transitions++;
    for (const start of t.starts) started(start);
    noteEverywhere();
    return t;
  };
  const started = (start: RunStart) => {
    if (start.kind !== 'normal') return;
    schedule({ kind: 'admit', at: now, stage: start.stage, seq: start.seq });
  };
  const noteEverywhere = () => {
    for (const r of releases) {
      if (everywhereAt.has(r.number)) continue;
      const there = topology.leaves.every(
        (leaf) => (state.stages[leaf]?.lastApproved ?? 0) >= r.number,
      );
      if (there) everywhereAt.set(r.number, now);
    }
  };
  const inFlight = () => releases.some((r) => !everywhereAt.has(r.number));
  const release = async (merged: readonly number[]) => {
    const number = releases.length + 1;
    const created: Release = {
      pipeline: definition.name,
      number,
      headCommit: `c${number}`.padEnd(40, '0'),
      commits: merged.map((index) => ({
        sha: `${index.toString(16)}`.padStart(40, '0'),
        author: 'dev@example.com',
        message: `change ${index}`,
        review: { pullRequest: `#${index}`, approvedBy: ['reviewer@example.com'] },
      })),
      artifacts: { images: [], files: [], dependencies: [] },
      createdAt: new Date(now).toISOString(),
    };
    releases.push(created);
    for (const index of merged) releaseOf.set(index, number);
    // As the release recorder does: the release first, then the decision that admits it.
    if (through === 'service') await releaseStore.createRelease(created);
    await apply(createRelease, { release: created });
  };

  while (jobs.length > 0) {
    const job = jobs.shift() as Job;
    if (job.at > horizon) break;
    now = Math.max(now, job.at);
    const run = job.kind === 'commit' ? null : (state.stages[job.stage]?.run ?? null);
    if (job.kind !== 'commit' && (run === null || run.seq !== job.seq)) continue;
    switch (job.kind) {
      case 'commit':
        if (policy === 'supersede') await release([job.index]);
        else queue.push(job.index);
        break;
      case 'admit': {
        const before = run?.targets ?? {};
        const t = await apply(admitTargets, {
          stage: job.stage,
          seq: job.seq,
          releases,
          alarms,
        });
        const after = t.state.stages[job.stage]?.run;
        const stage = topology.stage(job.stage);
        for (const [id, target] of Object.entries(after?.targets ?? {})) {
          if (target.status === 'deploying' && before[id]?.status !== 'deploying') {
            deployments++;
            schedule({
              kind: 'deployed',
              at: now + deploySeconds(stage.oneBox) * 1000,
              stage: job.stage,
              seq: job.seq,
              target: id,
            });
          }
        }
        // Targets a closed window holds: look again when the first window opens.
        const until = (after?.blockers ?? [])
          .map((b) => (b.until === null ? Number.NaN : Date.parse(b.until)))
          .filter((at) => Number.isFinite(at));
        if (until.length > 0)
          schedule({ kind: 'admit', at: Math.min(...until), stage: job.stage, seq: job.seq });
        break;
      }
      case 'deployed': {
        const t = await apply(recordDeployment, {
          stage: job.stage,
          seq: job.seq,
          target: job.target,
          kind: 'normal',
          result: 'succeeded',
        });
        const after = t.state.stages[job.stage]?.run;
        if (after?.step === 'baking') {
          const seconds = effectiveBakeSeconds(
            topology.stage(job.stage).bake.durationSeconds,
            null,
          );
          schedule({ kind: 'baked', at: now + seconds * 1000, stage: job.stage, seq: job.seq });
        }
        break;
      }
      case 'baked':
        await apply(recordBake, {
          stage: job.stage,
          seq: job.seq,
          verdict: { verdict: 'passed' },
        });
        break;
    }
    if (policy !== 'supersede' && queue.length > 0 && !inFlight()) {
      await release(policy === 'batched' ? queue.splice(0) : queue.splice(0, 1));
    }
  }

  const leadHours: number[] = [];
  let stranded = 0;
  commits.forEach((at, index) => {
    const first = releaseOf.get(index);
    // Everywhere when the first release at least as new as its own is.
    const done = releases
      .filter((r) => first !== undefined && r.number >= first && everywhereAt.has(r.number))
      .map((r) => everywhereAt.get(r.number) as number);
    if (done.length === 0) stranded++;
    else leadHours.push((Math.min(...done) - at) / HOUR);
  });
  return {
    leadHours,
    deployments,
    releases: releases.length,
    transitions,
    stranded,
    endedAt: now,
    loads: store.loads,
  };
}

const quantile = (values: readonly number[], q: number) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
};
const round = (value: number) => Math.round(value * 10) / 10;

if (values.scale) {
  // 100 releases through the 160 stages of the lanes layout: one every 10 minutes, and
  // all at once; through the rules alone and through the service with in-memory ports.
  const definition = new Lanes().definition();
  const streams = {
    'one every 10 min': Array.from({ length: 100 }, (_, n) => START + n * 10 * 60_000),
    'all at once': Array.from({ length: 100 }, () => START),
  };
  for (const [name, commits] of Object.entries(streams)) {
    for (const through of ['rules', 'service'] as const) {
      const began = performance.now();
      const outcome = await simulate(definition, commits, 'supersede', through);
      console.log(
        JSON.stringify({
          case: `100 releases, ${name}, ${definition.stages.length} stages, through the ${through}`,
          seconds: round((performance.now() - began) / 1000),
          transitions: outcome.transitions,
          stateLoads: outcome.loads,
          stranded: outcome.stranded,
          median: round(quantile(outcome.leadHours, 0.5)),
        }),
      );
    }
  }
  process.exit(0);
}

const layouts = { lanes: new Lanes().definition(), 'lock step': new SampleApi().definition() };
const stream = commitTimes(DAYS, EVERY_MINUTES);
const rows: Record<string, unknown>[] = [];

for (const [layout, definition] of Object.entries(layouts)) {
  const bound = planRollout({
    topology: new Topology(definition),
    start: new Date(START),
    deploymentSeconds: (s) => deploySeconds(s.oneBox),
  });
  const boundHours = ((bound.completesAt?.getTime() ?? Number.NaN) - START) / HOUR;
  const alone = await simulate(definition, [START], 'supersede');
  rows.push({
    layout,
    case: 'one commit alone',
    stages: definition.stages.length,
    planned: round(boundHours),
    median: round(quantile(alone.leadHours, 0.5)),
    ratioToPlan: round((quantile(alone.leadHours, 0.5) / boundHours) * 100) / 100,
  });
  for (const policy of ['supersede', 'one at a time', 'batched'] as const) {
    const began = performance.now();
    const outcome = await simulate(definition, stream, policy);
    const days = (outcome.endedAt - START) / (24 * HOUR);
    rows.push({
      layout,
      case: `${stream.length} commits, one every ${EVERY_MINUTES} min on weekdays 09–17 UTC for ${DAYS} days, ${policy}`,
      releases: outcome.releases,
      median: round(quantile(outcome.leadHours, 0.5)),
      p95: round(quantile(outcome.leadHours, 0.95)),
      stranded: outcome.stranded,
      deploymentsPerDay: round(outcome.deployments / days),
      transitions: outcome.transitions,
      seconds: round((performance.now() - began) / 1000),
    });
  }
}

for (const row of rows) console.log(JSON.stringify(row));
