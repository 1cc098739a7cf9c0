/**
 * Model-based test of DESIGN.md §2, properties 1–7: random sequences of what happens to
 * a pipeline (new releases, deployment results, alarms during deployments and bakes,
 * time windows opening and closing, manual rollbacks, promotion gates, expedites, and
 * the same request delivered twice) go through the real rules, and every property is
 * checked after every step against a log of everything the rules decided.
 *
 * On failure fast-check prints the seed and the shrunk sequence; rerun one with
 * `fc.assert(…, { seed, path })`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AlarmState,
  admitTargets,
  BUSINESS_HOURS,
  createRelease,
  evaluateBlockers,
  expedite,
  failStage,
  hours,
  manualRollback,
  type PipelineDefinition,
  type PipelineState,
  parsePipelineDefinition,
  type RuleContext,
  recordBake,
  recordDeployment,
  restartRun,
  type StageOutcome,
  setKnownBad,
  setPromotions,
  TerminalError,
  Topology,
  type Transition,
} from '../../../core/index.js';
import { initialState, release, stage, target } from '../../support/fixtures.js';

/** beta → gamma → prod-1 (two targets, two time zones) → prod-2a and prod-2b (fan-out). */
const definition: PipelineDefinition = parsePipelineDefinition({
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
  ],
  organisationAlarms: ['org-large-scale-event'],
});
const topology = new Topology(definition);
/** 1000 per `npm test`; scripts/check-safety-mutants.sh asks for more. */
const RUNS = Number(process.env.SAFETY_RUNS ?? 1000);
const STAGES = topology.stageNames;
const ALARMS = [
  ...new Set(
    definition.stages.flatMap((s) =>
      s.targets.flatMap((t) => [t.alarms.aggregate, t.alarms.rollback]),
    ),
  ),
].concat('org-large-scale-event');

/** One random happening; numbers pick a stage, target or release when it is applied. */
type Step =
  | { kind: 'create' }
  /** The natural next step of one active run: admit, finish a deployment, pass a bake. */
  | { kind: 'progress'; pick: number }
  /** `stale`: blockers evaluated before a promotion gate closed (the core must not trust them). */
  | { kind: 'admit'; stage: number; stale: boolean }
  | { kind: 'deployment'; stage: number; target: number; ok: boolean }
  | { kind: 'bake'; stage: number; verdict: 'passed' | 'failed' | 'baking' }
  | { kind: 'alarm-during-run'; stage: number }
  | { kind: 'toggle-alarm'; alarm: number }
  | { kind: 'advance'; hours: number }
  | { kind: 'known-bad'; release: number; present: boolean }
  | { kind: 'rollback'; stage: number; targets: number; to: number | null }
  | { kind: 'promotions'; stage: number; direction: 'in' | 'out'; enabled: boolean }
  | { kind: 'restart'; stage: number }
  | { kind: 'expedite' };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 50, arbitrary: fc.record({ kind: fc.constant('progress' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'create' as const }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('admit' as const),
      stage: fc.nat(),
      stale: fc.boolean(),
    }),
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
  { weight: 2, arbitrary: fc.constant({ kind: 'expedite' as const }) },
);

/** A request to a rule, ready to be applied (and applied again, for the duplicate check). */
type Request = (context: RuleContext, state: PipelineState) => Transition;

/** Everything the rules decided so far, and the world around them. */
class World {
  state: PipelineState = initialState(topology);
  clock = Date.parse('2026-11-23T08:00:00.000Z');
  alarms: Record<string, AlarmState> = Object.fromEntries(
    ALARMS.map((a) => [a, 'OK' as AlarmState]),
  );
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
    { before: Map<string, number | null>; touched: Set<string>; failed: boolean }
  >();

  get context(): RuleContext {
    return { topology, now: new Date(this.clock).toISOString() };
  }
}

/** The state of a stage the model knows exists. */
function stageOf(world: World, name: string) {
  const state = world.state.stages[name];
  if (state === undefined) throw new Error(`no stage ${name} in the model`);
  return state;
}

const pick = <T>(items: readonly T[], n: number): T | undefined =>
  items.length === 0 ? undefined : items[n % items.length];

/** Turns a random step into a request against the current state, or `null` if it does not apply. */
function toRequest(world: World, step: Step): Request | null {
  const stageName = 'stage' in step ? (pick(STAGES, step.stage) as string) : '';
  const run = stageName ? (world.state.stages[stageName]?.run ?? null) : null;
  switch (step.kind) {
    case 'create': {
      const number = (world.state.meta.latestRelease ?? 0) + 1;
      return (c, s) => createRelease(c, s, { release: release(number) });
    }
    case 'progress': {
      const active = STAGES.filter((name) => world.state.stages[name]?.run !== null);
      const name = pick(active, step.pick);
      if (name === undefined) return null;
      const current = world.state.stages[name]?.run;
      if (current === undefined || current === null) return null;
      const waiting = Object.values(current.targets).some((t) => t.status === 'waiting');
      const busy = Object.values(current.targets).some(
        (t) => t.status === 'deploying' || t.status === 'rolling-back',
      );
      const index = STAGES.indexOf(name);
      if (current.step === 'baking')
        return toRequest(world, { kind: 'bake', stage: index, verdict: 'passed' });
      if (busy)
        return toRequest(world, { kind: 'deployment', stage: index, target: step.pick, ok: true });
      if (waiting && current.kind === 'normal') {
        // Waiting on a window: let time pass until it opens.
        if (world.state.stages[name]?.run?.blockers.some((b) => b.kind === 'time-window'))
          world.clock += 6 * 3_600_000;
        return toRequest(world, { kind: 'admit', stage: index, stale: false });
      }
      return null;
    }
    case 'admit': {
      if (run === null || run.kind !== 'normal') return null;
      const stageDefinition = topology.stage(stageName);
      const evaluations = Object.fromEntries(
        stageDefinition.targets.map((t) => [
          t.id,
          evaluateBlockers({
            definition,
            stage: stageDefinition,
            target: t,
            release: release(run.release),
            promotionsIn: step.stale ? { enabled: true } : stageOf(world, stageName).promotionsIn,
            alarms: world.alarms,
            knownBad: world.state.meta.knownBad,
            overrides: world.state.meta.overrides,
            now: new Date(world.clock),
          }),
        ]),
      );
      return (c, s) => admitTargets(c, s, { stage: stageName, seq: run.seq, evaluations });
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
                missingDataPoints: 3,
                checkAt: world.context.now,
              };
      return (c, s) => recordBake(c, s, { stage: stageName, seq: run.seq, verdict });
    }
    case 'alarm-during-run':
      if (run === null) return null;
      return (c, s) =>
        failStage(c, s, { stage: stageName, seq: run.seq, reason: 'rollback alarm in ALARM' });
    case 'toggle-alarm': {
      const alarm = pick(ALARMS, step.alarm) as string;
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
      const ids = topology.stage(stageName).targets.map((t) => t.id);
      const chosen = ids.filter((_, i) => ((step.targets % (2 ** ids.length - 1)) + 1) & (1 << i));
      const to =
        step.to === null ? null : (step.to % Math.max(1, world.state.meta.latestRelease ?? 1)) + 1;
      return (c, s) =>
        manualRollback(c, s, {
          targets: chosen.map((t) => ({ stage: stageName, target: t })),
          to,
          by: 'ana',
          reason: 'regression',
        });
    }
    case 'promotions':
      return (c, s) =>
        setPromotions(c, s, {
          stage: stageName,
          direction: step.direction,
          enabled: step.enabled,
          by: 'ana',
          reason: 'test',
        });
    case 'restart':
      if (run === null) return null;
      return (c, s) => restartRun(c, s, { stage: stageName, seq: run.seq, attempt: run.attempt });
    case 'expedite': {
      const latest = world.state.meta.latestRelease;
      if (latest === null) return null;
      return (c, s) =>
        expedite(c, s, {
          release: latest,
          approver: 'principal',
          reason: 'security fix',
          bakeFactor: 0.5,
        });
    }
  }
}

/** Applies a request; a refused one (a terminal rule error) changes nothing. */
function attempt(world: World, request: Request): Transition | null {
  try {
    return request(world.context, world.state);
  } catch (error) {
    if (error instanceof TerminalError) return null;
    throw error;
  }
}

const key = (release: number, stage: string) => `${release}@${stage}`;

/** Checks properties 1, 2, 3, 4 and 6 on what one transition decided, then records it. */
function checkTransition(world: World, t: Transition): void {
  const after = t.state;
  // Outcomes first: an event of this transition may depend on an outcome it also decided.
  for (const change of t.outcomes) {
    world.outcomes.set(key(change.release, change.stage), change.outcome);
    if (change.outcome.status === 'superseded') {
      const set = world.supersededAt.get(change.release) ?? new Set<string>();
      set.add(change.stage);
      world.supersededAt.set(change.release, set);
    }
  }
  for (const event of t.events) {
    const { stage: s, release: r, target } = event.detail;
    const isRollbackEvent = event.detail.data.kind === 'rollback';
    if (event.type === 'Deployment Succeeded' && target !== null) world.deployedAt.set(target, r);
    if (s === null || r === null) continue;
    if (event.type === 'Stage Started') {
      // A running stage is never interrupted: a run that deployed anything ends approved or rolled back.
      const previous = world.runs.get(s);
      expect(
        previous === undefined || previous.touched.size === 0,
        `${event.id}: interrupts a run that deployed`,
      ).toBe(true);
      const before = new Map(
        topology.stage(s).targets.map((t) => [t.id, world.deployedAt.get(t.id) ?? null]),
      );
      world.runs.set(s, { before, touched: new Set(), failed: false });
    }
    if (event.type === 'Deployment Started' && !isRollbackEvent && target !== null)
      world.runs.get(s)?.touched.add(target);
    if (event.type === 'Rollback Started') {
      // A manual rollback (occurrence `rollbackN`) is the operator's choice, not property 4's.
      if (event.id.includes('/rollback')) world.runs.delete(s);
      else {
        const run = world.runs.get(s);
        if (run !== undefined) run.failed = true;
      }
    }
    const isNormalStart =
      event.type === 'Deployment Started' && event.detail.data.kind === 'normal';
    if (isNormalStart) {
      // 1: deployed to a stage only after the stage before it approved the release.
      const upstream = topology.stage(s).after;
      if (upstream !== null)
        expect(
          world.approved.has(key(r, upstream)),
          `${event.id}: r${r} not approved at ${upstream}`,
        ).toBe(true);
      // 2: never older than the newest release already started here.
      expect(
        r,
        `${event.id}: older than r${world.maxStarted.get(s)} already started`,
      ).toBeGreaterThanOrEqual(world.maxStarted.get(s) ?? 0);
      world.maxStarted.set(s, Math.max(world.maxStarted.get(s) ?? 0, r));
      // 3: a superseded release is never deployed where it was superseded or later.
      const supersededWhere = world.supersededAt.get(r) ?? new Set<string>();
      for (const where of supersededWhere) {
        expect(
          where === s || topology.descendantsOf(where).includes(s),
          `${event.id}: r${r} was superseded at ${where}`,
        ).toBe(false);
      }
      // 6: nothing enters a stage whose promotions in are disabled.
      expect(
        after.stages[s]?.promotionsIn.enabled,
        `${event.id}: promotions into ${s} are disabled`,
      ).toBe(true);
    }
    if (event.type === 'Stage Started') {
      // 6: a stage with promotions in disabled does not even take a release into a run.
      expect(
        after.stages[s]?.promotionsIn.enabled,
        `${event.id}: ${s} took a release while promotions in are disabled`,
      ).toBe(true);
    }
    if (event.type === 'Release Promoted') {
      // 6: nothing leaves a stage whose promotions out are disabled.
      expect(
        after.stages[s]?.promotionsOut.enabled,
        `${event.id}: promotions out of ${s} are disabled`,
      ).toBe(true);
    }
    if (event.type === 'Stage Approved') {
      world.approved.add(key(r, s));
      for (const t of topology.stage(s).targets) world.lastApprovedAt.set(t.id, r);
      world.runs.delete(s);
    }
    if (event.type === 'Rollback Completed') {
      // 4: after a failed run every target it touched is back on what it ran before (or its
      // last approved release), unless its rollback failed and the stage was closed.
      const run = world.runs.get(s);
      const state = after.stages[s];
      if (run?.failed && state !== undefined) {
        for (const id of run.touched) {
          const deployed = world.deployedAt.get(id) ?? null;
          const allowed = [run.before.get(id) ?? null, world.lastApprovedAt.get(id) ?? null];
          expect(
            allowed.includes(deployed) || !state.promotionsIn.enabled,
            `${event.id}: ${id} runs r${deployed}, expected one of ${allowed}`,
          ).toBe(true);
        }
        expect(world.outcomes.get(key(r, s))?.status).toBe('rejected');
      }
      world.runs.delete(s);
    }
  }
}

/** Property 5: no release is lost; every recorded outcome agrees with the stages. */
function checkNothingLost(world: World): void {
  const { meta } = world.state;
  const latest = meta.latestRelease ?? 0;
  for (let r = 1; r <= latest; r++) {
    for (const s of STAGES) {
      const outcome = world.outcomes.get(key(r, s));
      const state = stageOf(world, s);
      if (outcome?.status === 'pending') expect(state.pending, `r${r} pending at ${s}`).toBe(r);
      if (outcome?.status === 'in-flight') {
        expect(
          state.run?.kind === 'normal' && state.run.release === r,
          `r${r} in flight at ${s}`,
        ).toBe(true);
      }
      if (topology.roots.includes(s) && outcome === undefined) {
        // Only releases held during an expedite may not have reached the first stage yet.
        expect(
          meta.expedite !== null && r > meta.expedite.release,
          `r${r} never reached ${s}`,
        ).toBe(true);
      }
      if (outcome?.status === 'approved') {
        const held = state.lastApproved === r && (state.lastPromoted ?? 0) < r;
        for (const next of topology.downstreamOf(s)) {
          expect(
            held || world.outcomes.has(key(r, next)),
            `r${r} approved at ${s} but lost before ${next}`,
          ).toBe(true);
        }
      }
    }
  }
}

/** What a history exercised, so the test can show it reached the interesting cases. */
type Reach = Record<
  | 'prodApprovals'
  | 'rollbacks'
  | 'manualRollbacks'
  | 'superseded'
  | 'blockedAdmits'
  | 'expedites'
  | 'duplicates',
  number
>;

function replay(steps: readonly Step[], duplicateEvery: number, reach: Reach): void {
  const world = new World();
  steps.forEach((step, index) => {
    const request = toRequest(world, step);
    if (request === null) return;
    const before = world.state;
    const t = attempt(world, request);
    if (t === null) return;
    checkTransition(world, t);
    world.state = t.state;
    checkNothingLost(world);
    countReach(reach, before, t);

    if (index % duplicateEvery === 0) {
      // 7: the same request delivered twice changes nothing the second time.
      const again = attempt(world, request);
      if (again !== null) {
        reach.duplicates++;
        expect(again.state, `duplicate of ${JSON.stringify(step)}`).toEqual(world.state);
        expect(again.events).toEqual([]);
        expect(again.starts).toEqual([]);
      }
    }
  });
}

function countReach(reach: Reach, before: PipelineState, t: Transition): void {
  for (const e of t.events) {
    if (e.type === 'Stage Approved' && e.detail.stage?.startsWith('prod')) reach.prodApprovals++;
    if (e.type === 'Rollback Completed') reach.rollbacks++;
    if (e.type === 'Rollback Started' && e.id.includes('/rollback')) reach.manualRollbacks++;
    if (e.type === 'Release Superseded') reach.superseded++;
  }
  if (before.meta.expedite === null && t.state.meta.expedite !== null) reach.expedites++;
  const blockedNow = Object.values(t.state.stages).some((s) => (s.run?.blockers.length ?? 0) > 0);
  if (blockedNow && t.changedStages.length > 0) reach.blockedAdmits++;
}

describe('safety properties 1–7 over random histories', () => {
  it('hold after every step, over histories that reach production, rollbacks and supersedes', () => {
    const reach: Reach = {
      prodApprovals: 0,
      rollbacks: 0,
      manualRollbacks: 0,
      superseded: 0,
      blockedAdmits: 0,
      expedites: 0,
      duplicates: 0,
    };
    fc.assert(
      fc.property(
        fc.array(stepArbitrary, { minLength: 1, maxLength: 100, size: 'max' }),
        fc.integer({ min: 1, max: 4 }),
        (steps, duplicateEvery) => replay(steps, duplicateEvery, reach),
      ),
      { numRuns: RUNS },
    );
    // A property checked only on empty histories proves nothing: each case must occur often.
    for (const [name, count] of Object.entries(reach)) {
      expect(count, `${name} occurred ${count} times in ${RUNS} histories`).toBeGreaterThan(50);
    }
  }, 180_000);
});
