import { effectiveBakeSeconds, evaluateBake } from '../bake/evaluate-bake.js';
import { alarmsToCheck } from '../blockers/evaluate.js';
import { NotFoundError, RetryableError, TerminalError } from '../errors.js';
import { type Release, releaseLabel } from '../model/release.js';
import type { StageRun, TargetRun } from '../model/stage-state.js';
import type { AlarmMonitor, Clock, Deployer, MetricSource } from '../ports/services.js';
import type { ReleaseStore } from '../ports/stores.js';
import { admitTargets } from '../promotion/admit.js';
import { recordApprovalStep, recordBake } from '../promotion/approval.js';
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
 * workflowDecision({ action: 'done', reason: 'beta-t1 is deployed' }, decidedAt);
 * // { action: 'done', subjects: [], seconds: 0, reason: 'beta-t1 is deployed', decidedAt: '…' }
 */
export interface WorkflowDecision {
  readonly action: NextStep['action'];
  readonly subjects: readonly string[];
  readonly seconds: number;
  readonly reason: string;
  readonly decidedAt: string;
}

export function workflowDecision(step: NextStep, decidedAt: Date): WorkflowDecision {
  const at = decidedAt.toISOString();
  return step.action === 'await'
    ? {
        action: 'await',
        subjects: step.subjects,
        seconds: step.seconds,
        reason: step.reason,
        decidedAt: at,
      }
    : { action: step.action, subjects: [], seconds: 0, reason: step.reason, decidedAt: at };
}

/** Everything the driver reads and calls besides the promotion state. */
export interface DriverPorts {
  readonly service: PromotionService;
  readonly releases: ReleaseStore;
  readonly deployer: Deployer;
  readonly alarms: AlarmMonitor;
  readonly metrics: MetricSource;
  readonly clock: Clock;
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
/** Decisions one call may take before it hands back to the workflow (a guard against loops). */
const MAX_DECISIONS = 8;

export const subjects = {
  deployment: (deploymentId: string) => `deployment:${deploymentId}`,
  alarm: (name: string) => `alarm:${name}`,
  approval: (pipeline: string, stage: string, seq: number, step: string) =>
    `approval:${pipeline}/${stage}/${seq}/${step}`,
  /** Woken when a run fails, so every target of it stops waiting and rolls back. */
  run: (pipeline: string, stage: string, seq: number) => `run:${pipeline}/${stage}/${seq}`,
};

/** A request about one target of one run, as the stage workflow's Map item sends it. */
export interface TargetStepRequest {
  readonly stage: string;
  readonly seq: number;
  readonly target: string;
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
  const topology = ports.service.topology;
  const definition = topology.target(request.stage, request.target);
  const runSubject = subjects.run(topology.pipeline, request.stage, request.seq);
  const wake: string[] = [];
  const waking = (step: NextStep): NextStep => (wake.length === 0 ? step : { ...step, wake });
  for (let decision = 0; decision < MAX_DECISIONS; decision++) {
    const state = await ports.service.state();
    const run = state.stages[request.stage]?.run ?? null;
    if (run === null || run.seq !== request.seq) {
      return waking({ action: 'done', reason: `run ${request.seq} of ${request.stage} is over` });
    }
    // A run has every target of its stage, and the topology lookup above checked the name.
    const target = run.targets[request.target] as TargetRun;
    if (target.status === 'waiting') {
      if (run.kind !== 'normal' || run.step === 'rolling-back') {
        return waking({
          action: 'done',
          reason: `${request.target} was never deployed by this run`,
        });
      }
      const blocked = await admit(ports, request, run);
      if (blocked !== null) return { ...blocked, subjects: [...blocked.subjects, runSubject] };
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
      if (target.deploymentId === null && kind === 'rollback' && target.abandoned !== null) {
        // The failed deployment may still be running: stop it, and where the platform allows
        // one deployment at a time (CodeDeploy), wait for it to end before rolling back.
        const stopping =
          (await ports.deployer.stopDeployment?.(definition, target.abandoned)) ?? 'replaced';
        if (stopping === 'stopping') {
          const abandoned = await ports.deployer.getDeployment(definition, target.abandoned);
          if (abandoned.status === 'in-progress') {
            return waking({
              action: 'await',
              subjects: [subjects.deployment(target.abandoned), runSubject],
              seconds: DEPLOYMENT_RECHECK_SECONDS,
              reason: `rolling back ${request.target}: waiting for ${target.abandoned} to stop`,
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
          idempotencyKey: `${topology.pipeline}/${request.stage}/${run.seq}/${request.target}/${kind}`,
        });
        await ports.service.apply(recordDeploymentStart, { ...ref, deploymentId });
        return 'continue';
      }
      const watched = [definition.alarms.rollback, definition.alarms.aggregate];
      if (kind === 'normal') {
        const firing = await firingAlarm(ports, watched, target.startedAt ?? run.startedAt);
        if (firing !== null) {
          await ports.deployer.stopDeployment?.(definition, target.deploymentId);
          await ports.service.apply(failStage, {
            stage: request.stage,
            seq: run.seq,
            reason: `alarm ${firing} went into ALARM while ${releaseLabel(to)} was deploying to ${request.target}`,
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
            ...(kind === 'normal' ? watched.map(subjects.alarm) : []),
            runSubject,
          ],
          seconds: DEPLOYMENT_RECHECK_SECONDS,
          reason: `${kind === 'normal' ? '' : 'rolling back: '}${releaseLabel(to)} deploying to ${request.target} (${target.deploymentId})`,
        });
      }
      await ports.service.apply(recordDeployment, {
        ...ref,
        result: status.status,
        ...(status.status === 'failed' ? { reason: status.reason } : {}),
      });
      // A failed deployment fails the run: the other targets must stop waiting and roll back.
      if (status.status === 'failed' && kind === 'normal') wake.push(runSubject);
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
    wake: [subjects.run(service.topology.pipeline, failure.stage, failure.seq)],
  };
}

/** A request about a run as a whole: after its deployments, its bake and approval steps. */
export interface StageStepRequest {
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
  const topology = ports.service.topology;
  const stage = topology.stage(request.stage);
  for (let decision = 0; decision < MAX_DECISIONS; decision++) {
    const state = await ports.service.state();
    const run = state.stages[request.stage]?.run ?? null;
    if (run === null || run.seq !== request.seq) {
      return { action: 'done', reason: `run ${request.seq} of ${request.stage} is over` };
    }
    if (run.step === 'waiting' || run.step === 'deploying' || run.step === 'rolling-back') {
      return { action: 'redeploy', reason: `run ${run.seq} of ${request.stage} is ${run.step}` };
    }
    const now = ports.clock.now();
    if (run.step === 'baking') {
      const watched = [
        ...new Set(stage.targets.flatMap((t) => [t.alarms.rollback, t.alarms.aggregate])),
      ];
      const statuses = await ports.alarms.describeAlarms(watched);
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
        watchingSince: run.startedAt,
        now: now.toISOString(),
        durationSeconds: duration,
        minDataPoints: stage.bake.minDataPoints,
        dataPoints,
        alarms: watched.map((name) => ({
          name,
          state: statuses[name]?.state ?? 'MISSING',
          lastAlarmAt: statuses[name]?.lastAlarmAt ?? null,
        })),
      });
      if (verdict.verdict === 'baking') {
        return {
          action: 'await',
          // The run's own subject too: a manual rollback that stops this run ends the wait.
          subjects: [
            ...watched.map(subjects.alarm),
            subjects.run(topology.pipeline, request.stage, run.seq),
          ],
          seconds: Math.min(BAKE_RECHECK_MAX_SECONDS, secondsUntil(now, new Date(verdict.checkAt))),
          reason: `baking ${releaseLabel(run.release)}: ${verdict.waitingFor}`,
        };
      }
      await ports.service.apply(recordBake, { stage: request.stage, seq: run.seq, verdict });
      continue;
    }
    // approving
    const step = stage.approvalSteps.find((s) => !run.approvalsPassed.includes(s.name));
    if (step === undefined) {
      throw new TerminalError(
        `Run ${run.seq} of ${request.stage} is approving, but every approval step passed; the stored run is inconsistent.`,
      );
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
        subjects.run(topology.pipeline, request.stage, run.seq),
      ],
      seconds: secondsUntil(now, new Date(deadline)),
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
): Promise<Extract<NextStep, { action: 'await' }> | null> {
  const topology = ports.service.topology;
  const stage = topology.stage(request.stage);
  const names = [
    ...new Set(stage.targets.flatMap((t) => alarmsToCheck(topology.definition, stage, t))),
  ];
  const statuses = await ports.alarms.describeAlarms(names);
  const releases = await releasesFor(ports, run);
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

/** The run's release and every older one a target still runs (property 8 needs their commits). */
async function releasesFor(ports: DriverPorts, run: StageRun): Promise<Release[]> {
  const oldest = Math.min(
    run.release,
    ...Object.values(run.targets).map((t) => t.before ?? run.release),
  );
  const releases: Release[] = [];
  for (let n = oldest; n <= run.release; n++) {
    const release = await ports.releases.getRelease(ports.service.topology.pipeline, n);
    if (release !== null) releases.push(release);
  }
  if (!releases.some((r) => r.number === run.release)) await releaseOf(ports, run.release);
  return releases;
}

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

/** An alarm in ALARM now, or one that went into ALARM after `since` and is OK again. */
async function firingAlarm(
  ports: DriverPorts,
  names: readonly string[],
  since: string,
): Promise<string | null> {
  const statuses = await ports.alarms.describeAlarms(names);
  const fired = (name: string) => {
    const status = statuses[name];
    if (status?.state === 'ALARM') return true;
    return status?.lastAlarmAt != null && Date.parse(status.lastAlarmAt) > Date.parse(since);
  };
  return names.find(fired) ?? null;
}

function secondsUntil(now: Date, then: Date): number {
  return Math.min(
    MAX_WAIT_SECONDS,
    Math.max(1, Math.ceil((then.getTime() - now.getTime()) / 1000)),
  );
}
