/**
 * A model of what happens to a pipeline, for property tests: random steps (new releases,
 * deployment results, alarms, time passing, rollbacks, gates, expedites) turned into
 * requests to the real rules against the current state.
 */
import fc from 'fast-check';
import {
  type AlarmState,
  admitTargets,
  approveExpedite,
  BUSINESS_HOURS,
  cancelExpedite,
  createRelease,
  failStage,
  hours,
  manualRollback,
  type PipelineDefinition,
  type PipelineState,
  parsePipelineDefinition,
  type Release,
  type RuleContext,
  recordBake,
  recordDeployment,
  requestExpedite,
  restartRun,
  type StageOutcome,
  setKnownBad,
  setPromotions,
  TerminalError,
  Topology,
  type Transition,
} from '../../core/index.js';
import { initialState, release, stage, target } from './fixtures.js';

/**
 * beta → gamma → prod-1 (two targets, two time zones) → prod-2a and prod-2b (fan-out, one
 * lane each) → prod-3 (a join: it takes a release once both lanes approved it).
 */
export const definition: PipelineDefinition = parsePipelineDefinition({
  name: 'api',
  kind: 'application',
  source: { repository: 'api', branch: 'main' },
  stages: [
    stage('beta', null, { bake: { durationSeconds: hours(1), minDataPoints: 10 } }),
    stage('gamma', 'beta'),
    stage('prod-1', 'gamma', {
      phase: 'production',
      wave: 1,
      timeWindow: BUSINESS_HOURS,
      targets: [
        target('p1-dub'),
        target('p1-nyc', {
          region: 'us-east-1',
          timeZone: 'America/New_York',
          alarms: { rollback: 'p1-nyc-rollback', aggregate: 'team-aggregate-use1' },
        }),
      ],
    }),
    stage('prod-2a', 'prod-1', {
      phase: 'production',
      wave: 2,
      timeWindow: BUSINESS_HOURS,
      targets: [target('p2a-syd', { region: 'ap-southeast-2', timeZone: 'Australia/Sydney' })],
    }),
    stage('prod-2b', 'prod-1', {
      phase: 'production',
      wave: 2,
      targets: [target('p2b-fra', { region: 'eu-central-1', timeZone: 'Europe/Berlin' })],
    }),
    stage('prod-3', ['prod-2a', 'prod-2b'], {
      phase: 'production',
      wave: 3,
      targets: [target('p3-gru', { region: 'sa-east-1', timeZone: 'America/Sao_Paulo' })],
    }),
  ],
  organisationAlarms: ['org-large-scale-event'],
});
export const topology = new Topology(definition);

/** Places a random graph's targets run in: time zones far apart, so windows differ. */
const PLACES = [
  { region: 'eu-west-1', timeZone: 'Europe/Dublin', aggregate: 'team-aggregate-euw1' },
  { region: 'us-east-1', timeZone: 'America/New_York', aggregate: 'team-aggregate-use1' },
  { region: 'ap-southeast-2', timeZone: 'Australia/Sydney', aggregate: 'team-aggregate-apse2' },
] as const;

/**
 * A random pipeline graph: beta, then 2 to 6 production stages, each after one to three
 * earlier stages (fan-out where several follow one, joins where one follows several), each
 * with one or two targets in different time zones, some with business-hours windows.
 */
export const randomGraph: fc.Arbitrary<Topology> = fc
  .array(
    fc.record({
      upstream: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      places: fc.array(fc.nat({ max: PLACES.length - 1 }), { minLength: 1, maxLength: 2 }),
      window: fc.boolean(),
    }),
    { minLength: 2, maxLength: 6 },
  )
  .map((specs) => {
    const names = ['beta', ...specs.map((_, n) => `prod-${n + 1}`)];
    return new Topology(
      parsePipelineDefinition({
        name: 'api',
        kind: 'application',
        source: { repository: 'api', branch: 'main' },
        stages: [
          stage('beta', null, { bake: { durationSeconds: hours(1), minDataPoints: 10 } }),
          ...specs.map((spec, n) => {
            const earlier = names.slice(0, n + 1);
            const after = [...new Set(spec.upstream.map((i) => earlier[i % earlier.length]))];
            return stage(names[n + 1] as string, after as string[], {
              phase: 'production',
              wave: n + 1,
              timeWindow: spec.window ? BUSINESS_HOURS : null,
              targets: [...new Set(spec.places)].map((i, k) => {
                const place = PLACES[i] as (typeof PLACES)[number];
                const id = `p${n + 1}-${k + 1}`;
                return target(id, {
                  region: place.region,
                  timeZone: place.timeZone,
                  alarms: { rollback: `${id}-rollback`, aggregate: place.aggregate },
                });
              }),
            });
          }),
        ],
        organisationAlarms: ['org-large-scale-event'],
      }),
    );
  });
/** 1000 per `npm test`; scripts/check-safety-mutants.sh asks for more. */
export const RUNS = Number(process.env.SAFETY_RUNS ?? 1000);
/**
 * fast-check options of the model-based tests: with `SAFETY_NO_SHRINK=1` (the mutation
 * script, which needs only to know that a test fails) a failure ends the test at once.
 */
export const FAST_CHECK = {
  ...(process.env.SAFETY_NO_SHRINK === '1' ? { endOnFailure: true } : {}),
  // `SAFETY_SEED` replays a run (the soak prints the seed it used).
  ...(process.env.SAFETY_SEED === undefined ? {} : { seed: Number(process.env.SAFETY_SEED) }),
};
/**
 * `SOAK=1` (`npm run soak`: tens of thousands of histories) lifts the time limits that keep
 * a model test within a unit-test run.
 */
const SOAK = process.env.SOAK === '1';
export const MODEL_TIME_LIMIT = SOAK
  ? {}
  : { interruptAfterTimeLimit: 150_000, markInterruptAsFailure: true };
export const MODEL_TEST_TIMEOUT = SOAK ? 6 * 3_600_000 : 180_000;
export const STAGES = topology.stageNames;
/** Every alarm of a pipeline's targets, and the organisation's. */
export const alarmsOf = (graph: Topology): string[] =>
  [
    ...new Set(
      graph.definition.stages.flatMap((s) =>
        s.targets.flatMap((t) => [t.alarms.aggregate, t.alarms.rollback]),
      ),
    ),
  ].concat('org-large-scale-event');

/** One random happening; numbers pick a stage, target or release when it is applied. */
export type Step =
  /** `unreviewed`: one of its commits reached main without an approved review. */
  | { kind: 'create'; unreviewed: boolean }
  /** The natural next step of one active run: admit, finish a deployment, pass a bake. */
  | { kind: 'progress'; pick: number }
  | { kind: 'admit'; stage: number }
  | { kind: 'deployment'; stage: number; target: number; ok: boolean }
  | { kind: 'bake'; stage: number; verdict: 'passed' | 'failed' | 'baking' }
  | { kind: 'alarm-during-run'; stage: number }
  | { kind: 'toggle-alarm'; alarm: number }
  | { kind: 'advance'; hours: number }
  | { kind: 'known-bad'; release: number; present: boolean }
  | { kind: 'rollback'; stage: number; targets: number; to: number | null }
  | { kind: 'promotions'; stage: number; direction: 'in' | 'out'; enabled: boolean }
  | { kind: 'restart'; stage: number }
  | { kind: 'request-expedite' }
  | { kind: 'approve-expedite' }
  | { kind: 'cancel-expedite' };

export const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 50, arbitrary: fc.record({ kind: fc.constant('progress' as const), pick: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      unreviewed: fc.integer({ min: 1, max: 10 }).map((n) => n === 1),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('admit' as const), stage: fc.nat() }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('deployment' as const),
      stage: fc.nat(),
      target: fc.nat(),
      ok: fc.integer({ min: 1, max: 100 }).map((n) => n <= 85),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('bake' as const),
      stage: fc.nat(),
      verdict: fc.constantFrom(
        'passed' as const,
        'passed' as const,
        'passed' as const,
        'failed' as const,
        'baking' as const,
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('alarm-during-run' as const), stage: fc.nat() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('toggle-alarm' as const), alarm: fc.nat() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      hours: fc.integer({ min: 1, max: 30 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('known-bad' as const),
      release: fc.nat(),
      present: fc.boolean(),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('rollback' as const),
      stage: fc.nat(),
      targets: fc.nat(),
      to: fc.option(fc.nat(), { nil: null }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('promotions' as const),
      stage: fc.nat(),
      direction: fc.constantFrom('in' as const, 'out' as const),
      enabled: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), stage: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'request-expedite' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'approve-expedite' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel-expedite' as const }) },
);

/** A request to a rule, ready to be applied (and applied again, for the duplicate check). */
export type Request = (context: RuleContext, state: PipelineState) => Transition;

/** Everything the rules decided so far, and the world around them, on one pipeline graph. */
export class World {
  readonly topology: Topology;
  readonly alarmNames: readonly string[];
  state: PipelineState;
  releases = new Map<number, Release>();
  /** Every event seen, by id, without its time. */
  eventsById = new Map<string, unknown>();
  /** Counts requests that carry an id of their own. */
  requests = 0;
  clock = Date.parse('2026-11-23T08:00:00.000Z');
  alarms: Record<string, AlarmState>;
  outcomes = new Map<string, StageOutcome>();
  approved = new Set<string>();
  maxStarted = new Map<string, number>();
  supersededAt = new Map<number, Set<string>>();
  /** What each target runs and last had approved, as the events tell it (not the rules' own state). */
  deployedAt = new Map<string, number | null>();
  lastApprovedAt = new Map<string, number>();
  /** Per stage, the normal run in progress: what its targets ran before and which it touched. */
  runs = new Map<
    string,
    {
      before: Map<string, number | null>;
      touched: Set<string>;
      failed: boolean;
      rollbackFailed: Set<string>;
    }
  >();

  constructor(graph: Topology = topology) {
    this.topology = graph;
    this.alarmNames = alarmsOf(graph);
    this.state = initialState(graph);
    this.alarms = Object.fromEntries(this.alarmNames.map((a) => [a, 'OK' as AlarmState]));
  }

  get context(): RuleContext {
    return { topology: this.topology, now: new Date(this.clock).toISOString() };
  }
}

/** The state of a stage the model knows exists. */
export function stageOf(world: World, name: string) {
  const state = world.state.stages[name];
  if (state === undefined) throw new Error(`no stage ${name} in the model`);
  return state;
}

export const pick = <T>(items: readonly T[], n: number): T | undefined =>
  items.length === 0 ? undefined : items[n % items.length];

/** Turns a random step into a request against the current state, or `null` if it does not apply. */
export function toRequest(world: World, step: Step): Request | null {
  const stages = world.topology.stageNames;
  const stageName = 'stage' in step ? (pick(stages, step.stage) as string) : '';
  const run = stageName ? (world.state.stages[stageName]?.run ?? null) : null;
  switch (step.kind) {
    case 'create': {
      const number = (world.state.meta.latestRelease ?? 0) + 1;
      const created = step.unreviewed
        ? release(number, {
            commits: [{ sha: `u${number}`, author: 'x', message: 'pushed', review: null }],
          })
        : release(number);
      world.releases.set(number, created);
      return (c, s) => createRelease(c, s, { release: created });
    }
    case 'progress': {
      const active = stages.filter((name) => world.state.stages[name]?.run !== null);
      const name = pick(active, step.pick);
      if (name === undefined) return null;
      const current = world.state.stages[name]?.run;
      if (current === undefined || current === null) return null;
      const waiting = Object.values(current.targets).some((t) => t.status === 'waiting');
      const busy = Object.values(current.targets).some(
        (t) => t.status === 'deploying' || t.status === 'rolling-back',
      );
      const index = stages.indexOf(name);
      if (current.step === 'baking')
        return toRequest(world, { kind: 'bake', stage: index, verdict: 'passed' });
      if (busy)
        return toRequest(world, { kind: 'deployment', stage: index, target: step.pick, ok: true });
      if (waiting && current.kind === 'normal') {
        // Waiting on a window: let time pass until it opens.
        if (world.state.stages[name]?.run?.blockers.some((b) => b.kind === 'time-window'))
          world.clock += 6 * 3_600_000;
        return toRequest(world, { kind: 'admit', stage: index });
      }
      return null;
    }
    case 'admit': {
      if (run === null || run.kind !== 'normal') return null;
      const releases = [...world.releases.values()];
      const alarms = { ...world.alarms };
      return (c, s) => admitTargets(c, s, { stage: stageName, seq: run.seq, releases, alarms });
    }
    case 'deployment': {
      if (run === null) return null;
      const busy = Object.entries(run.targets).filter(
        ([, t]) => t.status === 'deploying' || t.status === 'rolling-back',
      );
      const chosen = pick(busy, step.target);
      if (chosen === undefined) return null;
      return (c, s) =>
        recordDeployment(c, s, {
          stage: stageName,
          seq: run.seq,
          target: chosen[0],
          kind: chosen[1].status === 'deploying' ? 'normal' : 'rollback',
          result: step.ok ? 'succeeded' : 'failed',
          reason: 'random',
        });
    }
    case 'bake': {
      if (run === null || run.step !== 'baking') return null;
      const verdict =
        step.verdict === 'passed'
          ? { verdict: 'passed' as const }
          : step.verdict === 'failed'
            ? { verdict: 'failed' as const, reason: 'aggregate alarm fired' }
            : {
                verdict: 'baking' as const,
                remainingSeconds: 60,
                waitingFor: '60 s of bake time',
                missingDataPoints: 3,
                checkAt: world.context.now,
              };
      // Judged with the expedite as it is now; the rule may be applied later, after it changed.
      const expedite = world.state.meta.expedite;
      const bakeFactor = expedite?.release === run.release ? expedite.bakeFactor : null;
      return (c, s) => recordBake(c, s, { stage: stageName, seq: run.seq, verdict, bakeFactor });
    }
    case 'alarm-during-run':
      if (run === null) return null;
      return (c, s) =>
        failStage(c, s, { stage: stageName, seq: run.seq, reason: 'rollback alarm in ALARM' });
    case 'toggle-alarm': {
      const alarm = pick(world.alarmNames, step.alarm) as string;
      world.alarms[alarm] = world.alarms[alarm] === 'ALARM' ? 'OK' : 'ALARM';
      return null;
    }
    case 'advance':
      world.clock += step.hours * 3_600_000;
      return null;
    case 'known-bad': {
      const latest = world.state.meta.latestRelease;
      if (latest === null) return null;
      const value = `r${(step.release % latest) + 1}`;
      const entry = {
        kind: 'release' as const,
        value,
        by: 'ana',
        reason: 'bad',
        at: world.context.now,
      };
      return (c, s) => setKnownBad(c, s, { entry, present: step.present });
    }
    case 'rollback': {
      const ids = world.topology.stage(stageName).targets.map((t) => t.id);
      const chosen = ids.filter((_, i) => ((step.targets % (2 ** ids.length - 1)) + 1) & (1 << i));
      const to =
        step.to === null ? null : (step.to % Math.max(1, world.state.meta.latestRelease ?? 1)) + 1;
      const requestId = `rollback-${++world.requests}`;
      return (c, s) =>
        manualRollback(c, s, {
          requestId,
          targets: chosen.map((t) => ({ stage: stageName, target: t })),
          to,
          by: 'ana',
          reason: 'regression',
        });
    }
    case 'promotions': {
      const requestId = `gate-${++world.requests}`;
      return (c, s) =>
        setPromotions(c, s, {
          requestId,
          stage: stageName,
          direction: step.direction,
          enabled: step.enabled,
          by: 'ana',
          reason: 'test',
        });
    }
    case 'restart':
      if (run === null) return null;
      return (c, s) => restartRun(c, s, { stage: stageName, seq: run.seq, attempt: run.attempt });
    case 'cancel-expedite': {
      const expedited = world.state.meta.expedite ?? world.state.meta.expediteRequest;
      if (expedited === null) return null;
      return (c, s) =>
        cancelExpedite(c, s, { release: expedited.release, by: 'ana', reason: 'stuck' });
    }
    case 'request-expedite': {
      const latest = world.state.meta.latestRelease;
      if (latest === null) return null;
      return (c, s) =>
        requestExpedite(c, s, {
          release: latest,
          requestedBy: 'ana',
          reason: 'security fix',
          bakeFactor: 0.5,
        });
    }
    case 'approve-expedite': {
      const asked = world.state.meta.expediteRequest;
      if (asked === null) return null;
      return (c, s) =>
        approveExpedite(c, s, {
          release: asked.release,
          approvedBy: 'principal',
          reason: 'read it',
        });
    }
  }
}

/** Applies a request; a refused one (a terminal rule error) changes nothing. */
export function attempt(world: World, request: Request): Transition | null {
  try {
    return request(world.context, world.state);
  } catch (error) {
    if (error instanceof TerminalError) return null;
    throw error;
  }
}
