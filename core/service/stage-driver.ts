import {
  type AlarmWatch,
  alarmFailure,
  alarmWatches,
  type WatchedAlarm,
  watchedSince,
} from '../bake/alarm-watch.js';
import { effectiveBakeSeconds, evaluateBake } from '../bake/evaluate-bake.js';
import { alarmsToCheck } from '../blockers/evaluate.js';
import type { TargetDefinition } from '../definition/schema.js';
import { NotFoundError, RetryableError, TerminalError } from '../errors.js';
import { type Release, releaseLabel } from '../model/release.js';
import type { StageRun, StageState, TargetRun } from '../model/stage-state.js';
import type { AlarmMonitor, Clock, Deployer, MetricSource } from '../ports/services.js';
import type { ReleaseStore } from '../ports/stores.js';
import { admitTargets } from '../promotion/admit.js';
import { approveRun, handOverRun, recordApprovalStep, recordBake } from '../promotion/approval.js';
import { failStage, recordDeployment, recordDeploymentStart } from '../promotion/deployment.js';
import type { PromotionService } from './promotion-service.js';

/** What a workflow does next: wait for an event (or the timeout), go on, or stop. */
export type NextStep = (
  | {
      readonly action: 'await';
      /** What may wake the step early: `deployment:<id>`, `alarm:<name>`, `approval:<…>`. */
      readonly subjects: readonly string[];
      /** The step's timeout: after it, the workflow looks again by itself. */
      readonly seconds: number;
      /** Why it waits, for people (the console shows it in the state's output). */
      readonly reason: string;
    }
  | { readonly action: 'redeploy'; readonly reason: string }
  | { readonly action: 'done'; readonly reason: string }
) & {
  /**
   * Subjects whose waiting steps the caller must wake now: this call failed the run, so
   * the other targets' iterations must stop waiting for their deployments and roll back.
   */
  readonly wake?: readonly string[];
};

/**
 * A {@link NextStep} as the stage workflow reads it: every field present (the ASL selects
 * each by path, and a missing one is a runtime error), `seconds` 0 unless it waits, and
 * `decidedAt`, the time the handler read the state it decided on: an event from then on
 * must wake the step (see `WakeRegistry`).
 *
 * @example
 * workflowDecision({ action: 'done', reason: 'beta-t1 is deployed' }, decidedAt, 3);
 * // { action: 'done', looks: 3, subjects: [], seconds: 0, reason: 'beta-t1 is deployed', decidedAt: '…' }
 */
export interface WorkflowDecision {
  readonly action: NextStep['action'];
  /** Decisions the calling loop has taken, this one included (the workflow passes it back). */
  readonly looks: number;
  readonly subjects: readonly string[];
  readonly seconds: number;
  readonly reason: string;
  readonly decidedAt: string;
}

export function workflowDecision(step: NextStep, decidedAt: Date, looks: number): WorkflowDecision {
  const at = decidedAt.toISOString();
  return step.action === 'await'
    ? {
        action: 'await',
        looks,
        subjects: step.subjects,
        seconds: step.seconds,
        reason: step.reason,
        decidedAt: at,
      }
    : {
        action: step.action,
        looks,
        subjects: [],
        seconds: 0,
        reason: step.reason,
        decidedAt: at,
      };
}

/** Everything the driver reads and calls besides the promotion state. */
export interface DriverPorts {
  readonly service: PromotionService;
  readonly releases: ReleaseStore;
  readonly deployer: Deployer;
  readonly alarms: AlarmMonitor;
  readonly metrics: MetricSource;
  readonly clock: Clock;
  /**
   * The history events an execution may spend before it hands over (tests make it small).
   * @default HISTORY_EVENTS_BUDGET
   */
  readonly historyBudget?: number;
}

/** A deployment's completion event is the normal wake-up; this re-check is the backstop. */
export const DEPLOYMENT_RECHECK_SECONDS = 900;
/** How often a blocked target looks again when nothing says when its blocker lifts. */
export const BLOCKED_RECHECK_SECONDS = 900;
/** The longest single wait; Step Functions allows far more, but a daily look costs nothing. */
export const MAX_WAIT_SECONDS = 86_400;
/**
 * A bake looks again at least this often even if no alarm event comes: events can be lost
 * or late, and an ALARM that came and went must not wait for the end of a 12-hour bake.
 * Three transitions an hour.
 */
export const BAKE_RECHECK_MAX_SECONDS = 3600;
/**
 * How often a deployed target looks at its alarms while the stage's other targets still
 * deploy or wait (their windows may open hours later): alarm events wake it at once, this
 * is the backstop, as for a bake.
 */
export const WATCH_RECHECK_SECONDS = 3600;
/**
 * Step Functions ends an execution at 25,000 history events, and a run may wait for days
 * (a window closed over a holiday, a blocker nobody lifts yet): its execution hands the
 * run over to a new attempt before then, keeping this many events for its own decisions.
 */
export const HISTORY_EVENTS_BUDGET = 20_000;
/**
 * History events of one look of a loop on Step Functions: the Lambda task (5), the Choice
 * (2), the callback wait (6), and one for a retry now and then.
 */
export const HISTORY_EVENTS_PER_LOOK = 14;

/**
 * How many looks each loop of a stage's execution may take: its targets' iterations and
 * the stage's own loop share the budget evenly.
 *
 * @example
 * lookBudget(12); // 109: a target blocked with a 15-minute re-check hands over after ~27 h
 */
export function lookBudget(targets: number, budget = HISTORY_EVENTS_BUDGET): number {
  return Math.max(1, Math.floor(budget / HISTORY_EVENTS_PER_LOOK / (targets + 1)));
}

/** Decisions one call may take before it hands back to the workflow (a guard against loops). */
const MAX_DECISIONS = 8;

export const subjects = {
  deployment: (deploymentId: string) => `deployment:${deploymentId}`,
  alarm: (name: string) => `alarm:${name}`,
  approval: (pipeline: string, stage: string, seq: number, step: string) =>
    `approval:${pipeline}/${stage}/${seq}/${step}`,
  /** Woken when a run fails, so every target of it stops waiting and rolls back. */
  run: (pipeline: string, stage: string, seq: number) => `run:${pipeline}/${stage}/${seq}`,
  /**
   * Woken when the run's last target has deployed: the deployed targets stop watching on
   * their own, and the bake watches them all. Not the run's subject, which the bake waits
   * on: a wake at the instant the bake decides to wait would resume it again and again.
   */
  bake: (pipeline: string, stage: string, seq: number) => `bake:${pipeline}/${stage}/${seq}`,
  /**
   * Every wait of one execution attempt: woken when that attempt hands the run over, so
   * its other waits end at once. The new attempt waits on its own, which the hand-over
   * does not wake (it would resume the new waits as soon as they begin).
   */
  attempt: (pipeline: string, stage: string, seq: number, attempt: number) =>
    `attempt:${pipeline}/${stage}/${seq}/${attempt}`,
};

/** A request about one target of one run, as the stage workflow's Map item sends it. */
export interface TargetStepRequest extends WorkflowCall {
  readonly stage: string;
  readonly seq: number;
  readonly target: string;
}

/** What the stage workflow adds to each call of its loops. */
export interface WorkflowCall {
  /** The calling execution's attempt: an attempt that is no longer the run's ends. */
  readonly attempt?: number;
  /** How many decisions the calling loop took so far (see {@link lookBudget}). */
  readonly looks?: number;
}

/**
 * Moves one target of a run as far as it can go now, and says what to wait for. Called by
 * the stage workflow for each target, again after every wake-up or timeout, so it decides
 * only from the stored state: admit the target when its blockers clear; start its
 * deployment (or rollback) once and record the deployment id; fail the run if the
 * target's rollback or aggregate alarm fires while it deploys; record the result when the
 * deployment ends. Every write is a rule applied through the {@link PromotionService}, so a
 * repeated call changes nothing twice.
 *
 * @example
 * await advanceTarget(ports, { stage: 'prod-1', seq: 7, target: 'use1-az1' });
 * // { action: 'await', subjects: ['deployment:d-42', 'alarm:api-rollback-use1-az1', …],
 * //   seconds: 900, reason: 'r12 deploying to use1-az1 (d-42)' }
 */
export async function advanceTarget(
  ports: DriverPorts,
  request: TargetStepRequest,
): Promise<NextStep> {
  return withinHistory(ports, request, await moveTarget(ports, request));
}

async function moveTarget(ports: DriverPorts, request: TargetStepRequest): Promise<NextStep> {
  const topology = ports.service.topology;
  const definition = topology.target(request.stage, request.target);
  const runSubject = subjects.run(topology.pipeline, request.stage, request.seq);
  const wake: string[] = [];
  const waking = (step: NextStep): NextStep => (wake.length === 0 ? step : { ...step, wake });
  for (let decision = 0; decision < MAX_DECISIONS; decision++) {
    const state = await ports.service.state();
    const stageState = state.stages[request.stage];
    const run = stageState?.run ?? null;
    if (stageState === undefined || run === null || run.seq !== request.seq) {
      return waking({ action: 'done', reason: `run ${request.seq} of ${request.stage} is over` });
    }
    if (request.attempt !== undefined && run.attempt !== request.attempt) {
      return waking({ action: 'done', reason: replaced(request, run) });
    }
    const target = run.targets[request.target];
    if (target === undefined) {
      // A manual rollback of some of the stage's targets leaves the others out of its run.
      return waking({
        action: 'done',
        reason: `${request.target} is not part of run ${run.seq} of ${request.stage}`,
      });
    }
    if (target.status === 'waiting') {
      if (run.kind !== 'normal' || run.step === 'rolling-back') {
        return waking({
          action: 'done',
          reason: `${request.target} was never deployed by this run`,
        });
      }
      const blocked = await admit(ports, request, run, stageState);
      if (blocked !== null) return { ...blocked, subjects: [...blocked.subjects, runSubject] };
      continue;
    }
    if (target.status === 'deployed' && watchesUntilBake(run)) {
      // Runs the release while other targets of the stage still deploy or wait: watched
      // until the bake, which watches every target from then on until the stage approves.
      const watch = targetWatch(definition, target);
      const failure = await firstFailure(ports, watch);
      if (failure === null) {
        return waking({
          action: 'await',
          subjects: [
            ...watch.map((w) => subjects.alarm(w.name)),
            subjects.bake(topology.pipeline, request.stage, run.seq),
            runSubject,
          ],
          seconds: WATCH_RECHECK_SECONDS,
          reason: `${releaseLabel(run.release)} deployed to ${request.target}; watching its alarms until the stage's other targets have deployed`,
        });
      }
      await ports.service.apply(failStage, {
        stage: request.stage,
        seq: run.seq,
        reason: `${failure} after ${releaseLabel(run.release)} deployed to ${request.target}`,
      });
      wake.push(runSubject);
      continue;
    }
    if (target.status !== 'deploying' && target.status !== 'rolling-back') {
      return waking({ action: 'done', reason: `${request.target} is ${target.status}` });
    }
    const kind = target.status === 'deploying' ? ('normal' as const) : ('rollback' as const);
    const to = kind === 'normal' ? run.release : target.rollbackTo;
    const ref = { stage: request.stage, seq: run.seq, target: request.target, kind };
    if (to === null) {
      // Its first deployment failed: there is no release of ours to go back to.
      await ports.service.apply(recordDeployment, {
        ...ref,
        result: 'failed',
        reason: `${request.target} ran no release before this run; restore it by hand`,
      });
      continue;
    }
    // Everything that drives the deployment, as one step: a terminal error while rolling
    // back (the older image was deleted, access was revoked) cannot be retried away and
    // must not loop the workflow, so it is recorded as the target's failed rollback, which
    // closes the stage for an operator. A terminal error in a normal deployment goes to
    // the workflow, whose "Fail the run" step rolls the run back.
    const drive = async (): Promise<NextStep | 'continue'> => {
      if (target.deploymentId === null && kind === 'rollback' && run.kind === 'normal') {
        // The failed deployment may still be running: stop it, and where the platform allows
        // one deployment at a time (CodeDeploy), wait for it to end before rolling back. Its
        // id may never have been recorded (the run failed while its start was under way):
        // the deployer finds it by the key it was started with.
        const abandoned =
          target.abandoned ??
          (await ports.deployer.findDeployment?.(
            definition,
            idempotencyKey(topology.pipeline, request.stage, run.seq, request.target, 'normal'),
          )) ??
          null;
        const stopping =
          abandoned === null
            ? 'replaced'
            : ((await ports.deployer.stopDeployment?.(definition, abandoned)) ?? 'replaced');
        if (abandoned !== null && stopping === 'stopping') {
          const status = await ports.deployer.getDeployment(definition, abandoned);
          if (status.status === 'in-progress') {
            return waking({
              action: 'await',
              subjects: [subjects.deployment(abandoned), runSubject],
              seconds: DEPLOYMENT_RECHECK_SECONDS,
              reason: `rolling back ${request.target}: waiting for ${abandoned} to stop`,
            });
          }
        }
      }
      if (target.deploymentId === null) {
        const release = await releaseOf(ports, to);
        const { deploymentId } = await ports.deployer.startDeployment({
          pipeline: topology.pipeline,
          target: definition,
          release,
          kind,
          idempotencyKey: idempotencyKey(
            topology.pipeline,
            request.stage,
            run.seq,
            request.target,
            kind,
          ),
        });
        const started = await ports.service.apply(recordDeploymentStart, { ...ref, deploymentId });
        const now = started.state.stages[request.stage]?.run?.targets[request.target];
        if (kind === 'normal' && now?.status === 'rolling-back' && now.abandoned === null) {
          // The run failed while this start was under way, so its id was never recorded:
          // stop it here too, in case the rollback looked for it before it existed.
          await ports.deployer.stopDeployment?.(definition, deploymentId);
        }
        return 'continue';
      }
      const watch = targetWatch(definition, target);
      if (kind === 'normal') {
        const failure = await firstFailure(ports, watch);
        if (failure !== null) {
          await ports.deployer.stopDeployment?.(definition, target.deploymentId);
          await ports.service.apply(failStage, {
            stage: request.stage,
            seq: run.seq,
            reason: `${failure} while ${releaseLabel(to)} was deploying to ${request.target}`,
          });
          wake.push(runSubject);
          return 'continue';
        }
      }
      const status = await ports.deployer.getDeployment(definition, target.deploymentId);
      if (status.status === 'in-progress') {
        return waking({
          action: 'await',
          subjects: [
            subjects.deployment(target.deploymentId),
            ...(kind === 'normal' ? watch.map((w) => subjects.alarm(w.name)) : []),
            runSubject,
          ],
          seconds: DEPLOYMENT_RECHECK_SECONDS,
          reason: `${kind === 'normal' ? '' : 'rolling back: '}${releaseLabel(to)} deploying to ${request.target} (${target.deploymentId})`,
        });
      }
      const recorded = await ports.service.apply(recordDeployment, {
        ...ref,
        result: status.status,
        ...(status.status === 'failed' ? { reason: status.reason } : {}),
      });
      // A failed deployment fails the run: the other targets must stop waiting and roll back.
      // The last target deployed starts the bake: the others stop watching on their own.
      const after = recorded.state.stages[request.stage]?.run;
      if (kind === 'normal' && status.status === 'failed') wake.push(runSubject);
      if (kind === 'normal' && after?.step === 'baking') {
        wake.push(subjects.bake(topology.pipeline, request.stage, run.seq));
      }
      return 'continue';
    };
    let next: NextStep | 'continue';
    try {
      next = await drive();
    } catch (error) {
      if (kind !== 'rollback' || !(error instanceof TerminalError)) throw error;
      await ports.service.apply(recordDeployment, {
        ...ref,
        result: 'failed',
        reason: `the rollback cannot be carried out: ${error.message}`,
      });
      continue;
    }
    if (next !== 'continue') return next;
  }
  throw new RetryableError(
    `${request.target} of ${request.stage} did not settle within ${MAX_DECISIONS} decisions; the workflow will call again.`,
  );
}

/** A step of the workflow failed terminally: which run, and why. */
export interface StepFailure {
  readonly stage: string;
  readonly seq: number;
  readonly reason: string;
  /** The failing execution's attempt: a failure from an attempt replaced since changes nothing. */
  readonly attempt?: number;
}

/**
 * A terminal error in a step of a normal run fails the run: its release is rejected here
 * and every target it touched rolls back (safety property 4), and the other targets'
 * waits must be woken to roll back. Repeating it (a retried "Fail the run" step) changes
 * nothing. Terminal errors while rolling back never get here: `advanceTarget` records
 * them as the target's failed rollback.
 *
 * @example
 * await failStep(service, { stage: 'prod-1', seq: 7, reason: 'NotFoundError: r11 …' });
 * // { changed: true, note: null, wake: ['run:api/prod-1/7'] }
 */
export async function failStep(
  service: PromotionService,
  failure: StepFailure,
): Promise<{ changed: boolean; note: string | null; wake: string[] }> {
  const t = await service.apply(failStage, failure);
  return {
    changed: t.writes.length > 0,
    note: t.note,
    // A retry wakes again: the first call's wake may be what failed.
    wake: [subjects.run(service.topology.pipeline, failure.stage, failure.seq)],
  };
}

/** A request about a run as a whole: after its deployments, its bake and approval steps. */
export interface StageStepRequest extends WorkflowCall {
  readonly stage: string;
  readonly seq: number;
}

/**
 * Moves a run on after its deployments: bake (time, data points, alarms), then the
 * approval steps, then approval, which promotes the release and lets the stage take its
 * next pending release. `redeploy` sends the workflow back to its targets: a rollback to
 * carry out after a failed bake or approval step.
 *
 * @example
 * await advanceStage(ports, { stage: 'gamma', seq: 4 });
 * // { action: 'await', subjects: ['alarm:api-aggregate-euw1', 'run:api/gamma/4'], seconds: 2400,
 * //   reason: 'baking r9: 2400 s of bake time' }
 */
export async function advanceStage(
  ports: DriverPorts,
  request: StageStepRequest,
): Promise<NextStep> {
  return withinHistory(ports, request, await moveStage(ports, request));
}

async function moveStage(ports: DriverPorts, request: StageStepRequest): Promise<NextStep> {
  const topology = ports.service.topology;
  const stage = topology.stage(request.stage);
  for (let decision = 0; decision < MAX_DECISIONS; decision++) {
    const state = await ports.service.state();
    const run = state.stages[request.stage]?.run ?? null;
    if (run === null || run.seq !== request.seq) {
      return { action: 'done', reason: `run ${request.seq} of ${request.stage} is over` };
    }
    if (request.attempt !== undefined && run.attempt !== request.attempt) {
      return { action: 'done', reason: replaced(request, run) };
    }
    if (run.step === 'waiting' || run.step === 'deploying' || run.step === 'rolling-back') {
      return { action: 'redeploy', reason: `run ${run.seq} of ${request.stage} is ${run.step}` };
    }
    const now = ports.clock.now();
    // From the first deployment until the stage approves, every target running the release
    // is watched: through the bake and through every approval step.
    const watches = alarmWatches(stage, run);
    const alarms = await observe(ports, watches);
    const alarmSubjects = watches.map((w) => subjects.alarm(w.name));
    const runSubject = subjects.run(topology.pipeline, request.stage, run.seq);
    if (run.step === 'baking') {
      const expedite = state.meta.expedite;
      const duration = effectiveBakeSeconds(
        stage.bake.durationSeconds,
        expedite !== null && expedite.release === run.release ? expedite.bakeFactor : null,
      );
      const bakeStartedAt = run.bakeStartedAt ?? run.startedAt;
      const dataPoints =
        stage.bake.minDataPoints === 0
          ? 0
          : await ports.metrics.countDataPoints({
              metric: stage.bake.dataPointMetric,
              targets: stage.targets,
              from: new Date(bakeStartedAt),
              to: now,
            });
      const verdict = evaluateBake({
        startedAt: bakeStartedAt,
        now: now.toISOString(),
        durationSeconds: duration,
        minDataPoints: stage.bake.minDataPoints,
        dataPoints,
        alarms,
      });
      if (verdict.verdict === 'baking') {
        return {
          action: 'await',
          // The run's own subject too: a manual rollback that stops this run ends the wait.
          subjects: [...alarmSubjects, runSubject],
          seconds: Math.min(BAKE_RECHECK_MAX_SECONDS, secondsUntil(now, new Date(verdict.checkAt))),
          reason: `baking ${releaseLabel(run.release)}: ${verdict.waitingFor}`,
        };
      }
      await ports.service.apply(recordBake, { stage: request.stage, seq: run.seq, verdict });
      continue;
    }
    // approving: the alarms first, so that no approval step passes over one that fired.
    const step = stage.approvalSteps.find((s) => !run.approvalsPassed.includes(s.name));
    const failure = alarms.map(alarmFailure).find((reason) => reason !== null) ?? null;
    if (failure !== null) {
      await ports.service.apply(failStage, {
        stage: request.stage,
        seq: run.seq,
        reason: `${failure} while ${releaseLabel(run.release)} waited for ${step === undefined ? 'its approval' : `approval step ${step.name}`}`,
      });
      continue;
    }
    if (step === undefined) {
      await ports.service.apply(approveRun, { stage: request.stage, seq: run.seq });
      continue;
    }
    const deadline = Date.parse(run.approvingSince ?? run.startedAt) + step.timeoutSeconds * 1000;
    if (now.getTime() >= deadline) {
      await ports.service.apply(recordApprovalStep, {
        stage: request.stage,
        seq: run.seq,
        step: step.name,
        passed: false,
        by: 'release-captain',
        reason: `no decision within ${step.timeoutSeconds} s`,
      });
      continue;
    }
    return {
      action: 'await',
      subjects: [
        subjects.approval(topology.pipeline, request.stage, run.seq, step.name),
        ...alarmSubjects,
        runSubject,
      ],
      seconds: Math.min(BAKE_RECHECK_MAX_SECONDS, secondsUntil(now, new Date(deadline))),
      reason: `waiting for ${step.kind === 'manual-approval' ? 'a manual approval' : 'integration tests'}: ${step.name}`,
    };
  }
  throw new RetryableError(
    `Run ${request.seq} of ${request.stage} did not settle within ${MAX_DECISIONS} decisions; the workflow will call again.`,
  );
}

/** Admits the run's waiting targets; returns how long this one waits if it is still blocked. */
async function admit(
  ports: DriverPorts,
  request: TargetStepRequest,
  run: StageRun,
  stageState: StageState,
): Promise<Extract<NextStep, { action: 'await' }> | null> {
  const topology = ports.service.topology;
  const stage = topology.stage(request.stage);
  const names = [
    ...new Set(stage.targets.flatMap((t) => alarmsToCheck(topology.definition, stage, t))),
  ];
  const statuses = await ports.alarms.describeAlarms(names);
  const releases = await releasesFor(ports, run, stageState);
  const t = await ports.service.apply(admitTargets, {
    stage: request.stage,
    seq: run.seq,
    releases,
    alarms: Object.fromEntries(names.map((name) => [name, statuses[name]?.state ?? 'MISSING'])),
  });
  const after = t.state.stages[request.stage]?.run;
  if (after?.seq !== run.seq || after.targets[request.target]?.status !== 'waiting') return null;
  const now = ports.clock.now();
  const blockers = after.blockers.filter((b) => b.target === request.target);
  const until = blockers
    .map((b) => (b.until === null ? null : Date.parse(b.until)))
    .filter((time): time is number => time !== null);
  const lifts = until.length === blockers.length && until.length > 0 ? Math.max(...until) : null;
  return {
    action: 'await',
    subjects: blockers.filter((b) => b.kind === 'alarm').map((b) => subjects.alarm(b.subject)),
    seconds:
      lifts === null
        ? BLOCKED_RECHECK_SECONDS
        : Math.min(MAX_WAIT_SECONDS, secondsUntil(now, new Date(lifts))),
    reason: `blocked: ${blockers.map((b) => b.reason).join('; ')}`,
  };
}

/**
 * The run's release and every release since the oldest one a waiting target runs: the
 * commits new to each target (property 8) come from all of them. A target that never ran
 * anything (a Region just added, a stage whose first release is not r1) needs them all.
 */
async function releasesFor(
  ports: DriverPorts,
  run: StageRun,
  state: StageState,
): Promise<Release[]> {
  const waiting = Object.entries(run.targets).filter(([, target]) => target.status === 'waiting');
  const runs = waiting.map(([id]) => state.targets[id]?.deployed ?? 0);
  const oldest = Math.min(run.release - 1, ...runs);
  const pipeline = ports.service.topology.pipeline;
  const releases: Release[] = [];
  let before = run.release + 1;
  while (before - 1 > oldest) {
    const page = await ports.releases.listReleases(pipeline, { limit: RELEASES_PER_PAGE, before });
    releases.push(...page.filter((release) => release.number > oldest));
    const last = page.at(-1);
    if (page.length < RELEASES_PER_PAGE || last === undefined) break;
    before = last.number;
  }
  if (!releases.some((r) => r.number === run.release)) await releaseOf(ports, run.release);
  return releases;
}

/** Releases read per call when a target's new commits go back a long way. */
const RELEASES_PER_PAGE = 100;

async function releaseOf(ports: DriverPorts, number: number): Promise<Release> {
  const pipeline = ports.service.topology.pipeline;
  const release = await ports.releases.getRelease(pipeline, number);
  if (release === null) {
    throw new NotFoundError(
      `${releaseLabel(number)} of ${pipeline} is not in the release store, so it cannot be deployed; was the table restored from an older backup?`,
    );
  }
  return release;
}

/**
 * A loop about to wait once more past its share of the history hands the run over to a
 * new attempt (a recorded decision: {@link handOverRun}) and ends; its attempt's subject,
 * which every wait of the workflow also registers, is woken so that the execution's other
 * waits end too, rather than at their timeouts.
 */
async function withinHistory(
  ports: DriverPorts,
  request: WorkflowCall & { readonly stage: string; readonly seq: number },
  step: NextStep,
): Promise<NextStep> {
  if (step.action !== 'await' || request.attempt === undefined || request.looks === undefined) {
    return step;
  }
  const topology = ports.service.topology;
  const own = subjects.attempt(topology.pipeline, request.stage, request.seq, request.attempt);
  const budget = lookBudget(topology.stage(request.stage).targets.length, ports.historyBudget);
  if (request.looks + 1 < budget) return { ...step, subjects: [...step.subjects, own] };
  const t = await ports.service.apply(handOverRun, {
    stage: request.stage,
    seq: request.seq,
    attempt: request.attempt,
  });
  const to = t.starts[0]?.executionName ?? 'the next attempt';
  return {
    action: 'done',
    reason: `handed over to ${to} after ${request.looks + 1} looks, before the execution's history fills (${step.reason})`,
    wake: [...(step.wake ?? []), own],
  };
}

function replaced(request: WorkflowCall & { readonly stage: string }, run: StageRun): string {
  return `attempt ${request.attempt} of run ${run.seq} of ${request.stage} was replaced by attempt ${run.attempt}`;
}

/** Whether a deployed target of the run is watched by its own iteration: until the bake. */
function watchesUntilBake(run: StageRun): boolean {
  return run.kind === 'normal' && (run.step === 'waiting' || run.step === 'deploying');
}

/** One target's rollback and aggregate alarms, watched since it began to deploy. */
function targetWatch(definition: TargetDefinition, target: TargetRun): AlarmWatch[] {
  const since = target.startedAt ?? new Date(0).toISOString();
  return [...new Set([definition.alarms.rollback, definition.alarms.aggregate])].map((name) => ({
    name,
    since,
  }));
}

/** Asks the alarm monitor about watched alarms, looking back to the earliest watch. */
async function observe(
  ports: DriverPorts,
  watches: readonly AlarmWatch[],
): Promise<WatchedAlarm[]> {
  if (watches.length === 0) return [];
  const since = watchedSince(watches);
  const statuses = await ports.alarms.describeAlarms(
    watches.map((w) => w.name),
    since === undefined ? {} : { since },
  );
  return watches.map((watch) => ({
    ...watch,
    state: statuses[watch.name]?.state ?? 'MISSING',
    lastAlarmAt: statuses[watch.name]?.lastAlarmAt ?? null,
  }));
}

/** Why the first of the watched alarms fails the run, or `null`. */
async function firstFailure(
  ports: DriverPorts,
  watches: readonly AlarmWatch[],
): Promise<string | null> {
  const alarms = await observe(ports, watches);
  return alarms.map(alarmFailure).find((reason) => reason !== null) ?? null;
}

/** The key a target's deployment of a run is started with: the same key starts it once. */
function idempotencyKey(
  pipeline: string,
  stage: string,
  seq: number,
  target: string,
  kind: 'normal' | 'rollback',
): string {
  return `${pipeline}/${stage}/${seq}/${target}/${kind}`;
}

function secondsUntil(now: Date, then: Date): number {
  return Math.min(
    MAX_WAIT_SECONDS,
    Math.max(1, Math.ceil((then.getTime() - now.getTime()) / 1000)),
  );
}
