/**
 * Model-based test of DESIGN.md §2 through the real stage driver: random histories of
 * what the workflow, the world and operators do (the workflow's calls for any target or
 * stage, in any order, late and from old runs; deployments ending; alarms firing, clearing
 * and firing-and-clearing between two looks; time passing across time zones; data points;
 * approvals; partial manual rollbacks; gates; terminal errors; crashes between writes; a
 * target added to a stage) go through `advanceTarget`, `advanceStage` and `failStep` over
 * the core's in-memory ports and fakes. After every step the checks the rules' model runs
 * (test/support/safety-checks.ts) run on what was committed, and so does the alarm
 * coverage rule: no stage approves a release after one of its targets' alarms entered
 * ALARM while that target ran the release.
 *
 * On failure fast-check prints the seed and the shrunk history.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  advanceStage,
  advanceTarget,
  type Deployer,
  type DeploymentRequest,
  type DeploymentStatus,
  failStep,
  InMemoryPromotionStore,
  manualRollback,
  type PipelineDefinition,
  parsePipelineDefinition,
  RetryableError,
  recordApprovalStep,
  setPromotions,
  type TargetDefinition,
  TerminalError,
  type Transition,
} from '../../../core/index.js';
import { driverStores, driverWorld } from '../../support/driver-world.js';
import { release, target } from '../../support/fixtures.js';
import {
  FAST_CHECK,
  MODEL_TEST_TIMEOUT,
  MODEL_TIME_LIMIT,
  definition as rulesModel,
  STAGES,
  World,
} from '../../support/pipeline-model.js';
import { checkNothingLost, checkTransition } from '../../support/safety-checks.js';

/** The rules' model pipeline, with a person's approval after gamma's bake. */
const first: PipelineDefinition = parsePipelineDefinition({
  ...rulesModel,
  stages: rulesModel.stages.map((s) =>
    s.name === 'gamma'
      ? { ...s, approvalSteps: [{ kind: 'manual-approval', name: 'qa', timeoutSeconds: 86_400 }] }
      : s,
  ),
});
/** The same pipeline once a Region joins prod-2b. */
const second: PipelineDefinition = parsePipelineDefinition({
  ...first,
  stages: first.stages.map((s) =>
    s.name === 'prod-2b'
      ? {
          ...s,
          targets: [
            ...s.targets,
            target('p2b-mad', { region: 'eu-south-2', timeZone: 'Europe/Madrid' }),
          ],
        }
      : s,
  ),
});
/** 1000 per `npm test` (about ten seconds); scripts/check-safety-mutants.sh may ask for more. */
const RUNS = Number(process.env.DRIVER_RUNS ?? 1000);
const ALARMS = [
  ...new Set(
    second.stages.flatMap((s) => s.targets.flatMap((t) => [t.alarms.rollback, t.alarms.aggregate])),
  ),
];

type Step =
  | { kind: 'create'; unreviewed: boolean }
  /** What the workflow and a healthy world do next for one active run. */
  | { kind: 'progress'; pick: number }
  | { kind: 'look-target'; stage: number; target: number; stale: boolean }
  | { kind: 'look-stage'; stage: number; stale: boolean }
  | { kind: 'finish'; pick: number; ok: boolean }
  | { kind: 'alarm'; alarm: number; mode: 'fire' | 'clear' | 'blip' }
  /** An alarm of a target that runs an active run's release fires, or fires and clears. */
  | { kind: 'alarm-in-run'; pick: number; blip: boolean }
  | { kind: 'time'; minutes: number }
  | { kind: 'data'; target: number; count: number }
  | { kind: 'approve'; stage: number; passed: boolean }
  | { kind: 'rollback'; stage: number; targets: number }
  | { kind: 'promotions'; stage: number; direction: 'in' | 'out'; enabled: boolean }
  | { kind: 'terminal'; stage: number }
  | { kind: 'crash'; writes: number }
  | { kind: 'add-target' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 40, arbitrary: fc.record({ kind: fc.constant('progress' as const), pick: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      unreviewed: fc.integer({ min: 1, max: 8 }).map((n) => n === 1),
    }),
  },
  {
    weight: 30,
    arbitrary: fc.record({
      kind: fc.constant('look-target' as const),
      stage: fc.nat(),
      target: fc.nat(),
      stale: fc.integer({ min: 1, max: 20 }).map((n) => n === 1),
    }),
  },
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant('look-stage' as const),
      stage: fc.nat(),
      stale: fc.integer({ min: 1, max: 20 }).map((n) => n === 1),
    }),
  },
  {
    weight: 14,
    arbitrary: fc.record({
      kind: fc.constant('finish' as const),
      pick: fc.nat(),
      ok: fc.integer({ min: 1, max: 10 }).map((n) => n > 1),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('alarm' as const),
      alarm: fc.nat(),
      mode: fc.constantFrom('fire' as const, 'clear' as const, 'clear' as const, 'blip' as const),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('time' as const),
      minutes: fc.integer({ min: 1, max: 600 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('data' as const),
      target: fc.nat(),
      count: fc.integer({ min: 1, max: 20 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('approve' as const),
      stage: fc.nat(),
      passed: fc.integer({ min: 1, max: 6 }).map((n) => n > 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('rollback' as const),
      stage: fc.nat(),
      targets: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('promotions' as const),
      stage: fc.nat(),
      direction: fc.constantFrom('in' as const, 'out' as const),
      enabled: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('terminal' as const), stage: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('crash' as const), writes: fc.nat({ max: 2 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'add-target' as const }) },
);

const pick = <T>(items: readonly T[], n: number): T | undefined =>
  items.length === 0 ? undefined : items[n % items.length];

/** A deployer that remembers when each deployment was asked for, by the driver's clock. */
class TimedDeployer implements Deployer {
  readonly startedAt = new Map<string, number>();
  constructor(
    private readonly inner: Deployer & { requests: DeploymentRequest[] },
    private readonly now: () => number,
  ) {}
  async startDeployment(request: DeploymentRequest) {
    const started = await this.inner.startDeployment(request);
    if (!this.startedAt.has(request.idempotencyKey))
      this.startedAt.set(request.idempotencyKey, this.now());
    return started;
  }
  getDeployment(t: TargetDefinition, id: string): Promise<DeploymentStatus> {
    return this.inner.getDeployment(t, id);
  }
  async stopDeployment(t: TargetDefinition, id: string) {
    return (await this.inner.stopDeployment?.(t, id)) ?? ('replaced' as const);
  }
  async findDeployment(t: TargetDefinition, key: string) {
    return (await this.inner.findDeployment?.(t, key)) ?? null;
  }
}

interface Reach {
  prodApprovals: number;
  /** A deployed target kept watching while the stage's other targets deployed or waited. */
  watching: number;
  automaticRollbacks: number;
  watchedFailures: number;
  approvalFailures: number;
  partialRollbacks: number;
  addedTargets: number;
}

async function replay(steps: readonly Step[], reach: Reach): Promise<void> {
  const stores = { ...driverStores(), promotions: new InMemoryPromotionStore() };
  const store = stores.promotions;
  let p = driverWorld(first, stores);
  const deployer = new TimedDeployer(p.deployer, () => stores.clock.now().getTime());
  let ports = { ...p.ports, deployer };
  const model = new World();
  /** Every entry into ALARM, by alarm, as the fake was told. */
  const entries = new Map<string, number[]>();
  let crashNext: number | null = null;
  let requests = 0;
  let mark = 0;

  const observe = async () => {
    const landed = store.committed.slice(mark);
    mark = store.committed.length;
    model.state = await store.load(p.service.topology);
    model.clock = stores.clock.now().getTime();
    const observed = {
      state: model.state,
      events: landed.flatMap((e) => e.events),
      outcomes: landed.flatMap((e) => e.outcomes),
      starts: landed.flatMap((e) => e.starts),
      deployments: landed.flatMap((e) => e.deployments),
      audit: landed.flatMap((e) => e.audit),
    } as unknown as Transition;
    checkTransition(model, observed, p.service.topology);
    checkNothingLost(model);
    for (const event of observed.events) {
      const { stage, release: r } = event.detail;
      if (stage === null || r === null) continue;
      if (event.type === 'Stage Approved') {
        if (stage.startsWith('prod')) reach.prodApprovals++;
        checkWatched(stage, r);
      }
      if (event.type === 'Rollback Started' && !event.id.includes('/rollback')) {
        reach.automaticRollbacks++;
        if (/after r\d+ deployed to/.test(event.detail.reason ?? '')) reach.watchedFailures++;
        if (/while r\d+ waited for/.test(event.detail.reason ?? '')) reach.approvalFailures++;
      }
    }
  };

  /** No stage approves a release after an alarm of a target entered ALARM while it ran it. */
  const checkWatched = (stage: string, r: number) => {
    const approvedAt = stores.clock.now().getTime();
    for (const t of p.service.topology.stage(stage).targets) {
      const keys = [...deployer.startedAt].filter(
        ([key]) => key.startsWith(`api/${stage}/`) && key.endsWith(`/${t.id}/normal`),
      );
      const ofRelease = keys.filter(([key]) =>
        p.deployer.requests.some((q) => q.idempotencyKey === key && q.release.number === r),
      );
      const start = Math.max(...ofRelease.map(([, at]) => at));
      if (!Number.isFinite(start)) continue;
      for (const alarm of [t.alarms.rollback, t.alarms.aggregate]) {
        const fired = (entries.get(alarm) ?? []).filter((at) => at > start && at <= approvedAt);
        expect(
          fired,
          `${stage} approved r${r} although ${alarm} fired while ${t.id} ran it`,
        ).toEqual([]);
      }
    }
  };

  /** Calls the driver as a workflow step would; a terminal error goes to "Fail the run". */
  const call = async (work: () => Promise<unknown>, stage: string, seq: number) => {
    // Every driver call goes through here, as the workflow's steps would.
    store.failAfterWrites = crashNext;
    crashNext = null;
    try {
      const next = await work();
      if ((next as { reason?: string } | undefined)?.reason?.includes('watching its alarms until'))
        reach.watching++;
    } catch (error) {
      if (error instanceof RetryableError) return; // retried by the ASL
      if (error instanceof Error && error.message === 'simulated crash between two writes') return;
      if (!(error instanceof TerminalError)) throw error;
      store.failAfterWrites = null;
      await failStep(p.service, { stage, seq, reason: `${error.name}: ${error.message}` });
    } finally {
      store.failAfterWrites = null;
    }
  };

  for (const s of steps) {
    const stageName = 'stage' in s ? (pick(STAGES, s.stage) as string) : '';
    const run = stageName ? ((await p.service.state()).stages[stageName]?.run ?? null) : null;
    switch (s.kind) {
      case 'create': {
        const n = ((await p.service.state()).meta.latestRelease ?? 0) + 1;
        const created = s.unreviewed
          ? release(n, {
              commits: [{ sha: `u${n}`, author: 'x', message: 'pushed', review: null }],
            })
          : release(n);
        model.releases.set(n, created);
        await p.create(n, s.unreviewed ? { commits: created.commits } : {});
        break;
      }
      case 'progress': {
        const state = await p.service.state();
        const active = STAGES.filter((name) => state.stages[name]?.run != null);
        const name = pick(active, s.pick);
        const current = name === undefined ? null : (state.stages[name]?.run ?? null);
        if (name === undefined || current === null) break;
        const look = (id: string) =>
          call(
            () =>
              advanceTarget(ports, {
                stage: name,
                seq: current.seq,
                target: id,
                attempt: current.attempt,
                looks: 0,
              }),
            name,
            current.seq,
          );
        const targets = Object.entries(current.targets);
        if (
          current.step === 'waiting' ||
          current.step === 'deploying' ||
          current.step === 'rolling-back'
        ) {
          // A window closed: its opening comes first.
          const until = current.blockers.map((b) => (b.until === null ? 0 : Date.parse(b.until)));
          const opens = Math.max(0, ...until) - stores.clock.now().getTime();
          if (current.blockers.length > 0 && opens > 0)
            stores.clock.advance(Math.ceil(opens / 1000));
          // One target at a time, so that some deploy while others wait.
          const one = pick(targets, s.pick);
          for (const [id, t] of one === undefined ? [] : [one]) {
            if (t.deploymentId !== null) {
              const q = p.deployer.requests.find(
                (r) =>
                  r.idempotencyKey.endsWith(
                    `/${id}/${t.status === 'rolling-back' ? 'rollback' : 'normal'}`,
                  ) && r.idempotencyKey.startsWith(`api/${name}/${current.seq}/`),
              );
              const index = q === undefined ? -1 : p.deployer.requests.indexOf(q);
              if (
                index >= 0 &&
                (await p.deployer.getDeployment(q?.target as TargetDefinition, `d-${index + 1}`))
                  .status === 'in-progress'
              ) {
                p.deployer.finish(`d-${index + 1}`, { status: 'succeeded' });
              }
            }
            await look(id);
          }
          break;
        }
        if (current.step === 'baking') {
          for (const [id] of targets) p.metrics.add('RequestCount', id, stores.clock.now(), 10);
          stores.clock.advance(3600);
        }
        if (current.step === 'approving') {
          await call(
            () =>
              p.service.apply(recordApprovalStep, {
                stage: name,
                seq: current.seq,
                step: 'qa',
                passed: true,
                by: 'ana',
                via: 'operator',
                reason: 'checked',
              }),
            name,
            current.seq,
          );
        }
        await call(
          () =>
            advanceStage(ports, {
              stage: name,
              seq: current.seq,
              attempt: current.attempt,
              looks: 0,
            }),
          name,
          current.seq,
        );
        break;
      }
      case 'look-target': {
        if (run === null) break;
        const ids = p.service.topology.stage(stageName).targets.map((t) => t.id);
        const id = pick(ids, s.target) as string;
        const seq = s.stale ? Math.max(1, run.seq - 1) : run.seq;
        await call(
          () =>
            advanceTarget(ports, {
              stage: stageName,
              seq,
              target: id,
              attempt: run.attempt,
              looks: 0,
            }),
          stageName,
          seq,
        );
        break;
      }
      case 'look-stage': {
        if (run === null) break;
        const seq = s.stale ? Math.max(1, run.seq - 1) : run.seq;
        await call(
          () => advanceStage(ports, { stage: stageName, seq, attempt: run.attempt, looks: 0 }),
          stageName,
          seq,
        );
        break;
      }
      case 'finish': {
        const live = [];
        for (const [i, q] of p.deployer.requests.entries()) {
          const id = `d-${i + 1}`;
          if ((await p.deployer.getDeployment(q.target, id)).status === 'in-progress')
            live.push(id);
        }
        const id = pick(live, s.pick);
        if (id !== undefined)
          p.deployer.finish(
            id,
            s.ok ? { status: 'succeeded' } : { status: 'failed', reason: 'health checks' },
          );
        break;
      }
      case 'alarm': {
        // A second passes first: an entry into ALARM never shares its instant with a start.
        stores.clock.advance(1);
        const name = pick(ALARMS, s.alarm) as string;
        const now = stores.clock.now();
        if (s.mode !== 'clear') {
          p.alarms.set(name, 'ALARM', now.toISOString());
          entries.set(name, [...(entries.get(name) ?? []), now.getTime()]);
        }
        if (s.mode !== 'fire') p.alarms.set(name, 'OK');
        break;
      }
      case 'alarm-in-run': {
        const state = await p.service.state();
        const running = STAGES.flatMap((name) =>
          Object.entries(state.stages[name]?.run?.targets ?? {})
            .filter(([, t]) => t.status === 'deploying' || t.status === 'deployed')
            .map(([id]) => p.service.topology.target(name, id).alarms.rollback),
        );
        const name = pick(running, s.pick);
        if (name === undefined) break;
        stores.clock.advance(1);
        const now = stores.clock.now();
        p.alarms.set(name, 'ALARM', now.toISOString());
        entries.set(name, [...(entries.get(name) ?? []), now.getTime()]);
        if (s.blip) p.alarms.set(name, 'OK');
        break;
      }
      case 'time':
        stores.clock.advance(s.minutes * 60);
        break;
      case 'data': {
        const ids = p.service.topology.definition.stages.flatMap((st) =>
          st.targets.map((t) => t.id),
        );
        p.metrics.add('RequestCount', pick(ids, s.target) as string, stores.clock.now(), s.count);
        break;
      }
      case 'approve': {
        if (run === null || run.step !== 'approving') break;
        await call(
          () =>
            p.service.apply(recordApprovalStep, {
              stage: stageName,
              seq: run.seq,
              step: 'qa',
              passed: s.passed,
              by: 'ana',
              via: 'operator',
              reason: 'checked',
            }),
          stageName,
          run.seq,
        );
        break;
      }
      case 'rollback': {
        const ids = p.service.topology.stage(stageName).targets.map((t) => t.id);
        const chosen = ids.filter((_, i) => ((s.targets % (2 ** ids.length - 1)) + 1) & (1 << i));
        if (chosen.length < ids.length) reach.partialRollbacks++;
        await call(
          () =>
            p.service.apply(manualRollback, {
              requestId: `rb-${++requests}`,
              targets: chosen.map((t) => ({ stage: stageName, target: t })),
              to: null,
              by: 'ana',
              reason: 'regression',
            }),
          stageName,
          run?.seq ?? 0,
        ).catch(() => undefined);
        break;
      }
      case 'promotions':
        await p.service.apply(setPromotions, {
          requestId: `gate-${++requests}`,
          stage: stageName,
          direction: s.direction,
          enabled: s.enabled,
          by: 'ana',
          reason: 'test',
        });
        break;
      case 'terminal':
        if (run !== null)
          await failStep(p.service, {
            stage: stageName,
            seq: run.seq,
            reason: 'TerminalError: a step failed',
          });
        break;
      case 'crash':
        crashNext = s.writes;
        break;
      case 'add-target':
        if (p.service.topology.definition === second) break;
        reach.addedTargets++;
        p = {
          ...driverWorld(second, stores),
          alarms: p.alarms,
          metrics: p.metrics,
          deployer: p.deployer,
        };
        ports = { ...p.ports, alarms: p.alarms, metrics: p.metrics, deployer };
        for (const t of second.stages.flatMap((st) => st.targets)) {
          if (
            (await p.alarms.describeAlarms([t.alarms.rollback]))[t.alarms.rollback]?.state ===
            'MISSING'
          )
            p.alarms.set(t.alarms.rollback, 'OK');
        }
        break;
    }
    await observe();
  }
}

describe('safety properties through the stage driver, over random histories', () => {
  it(
    'hold after every step, and no stage approves over an alarm of a target that ran the release',
    async () => {
      const reach: Reach = {
        prodApprovals: 0,
        watching: 0,
        automaticRollbacks: 0,
        watchedFailures: 0,
        approvalFailures: 0,
        partialRollbacks: 0,
        addedTargets: 0,
      };
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 150, size: 'max' }), (steps) =>
          replay(steps, reach),
        ),
        {
          ...FAST_CHECK,
          numRuns: RUNS,
          ...MODEL_TIME_LIMIT,
        },
      );
      // A property checked only on histories that never reach these cases proves nothing.
      for (const [name, count] of Object.entries(reach)) {
        expect(count, `${name} occurred ${count} times in ${RUNS} histories`).toBeGreaterThan(
          RUNS / 200,
        );
      }
    },
    MODEL_TEST_TIMEOUT,
  );
});
