import {
  type AlarmWatch,
  alarmFailure,
  type WatchedAlarm,
  watchedSince,
} from '../bake/alarm-watch.js';
import type { TargetDefinition } from '../definition/schema.js';
import type { StageRun, TargetRun } from '../model/stage-state.js';
import type { AlarmMonitor, Clock, Deployer, MetricSource } from '../ports/services.js';
import type { ReleaseStore } from '../ports/stores.js';
import { handOverRun } from '../promotion/approval.js';
import type { PromotionService } from './promotion-service.js';

/**
 * What the stage driver's two steps (`advanceTarget`, `advanceStage`) share: the decision
 * they hand the workflow, the ports, the subjects a wait registers, how long a wait lasts,
 * how alarms are watched, and the hand-over before an execution's history fills.
 */

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
export const MAX_DECISIONS = 8;

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

/** What the stage workflow adds to each call of its loops. */
export interface WorkflowCall {
  /** The calling execution's attempt: an attempt that is no longer the run's ends. */
  readonly attempt?: number;
  /** How many decisions the calling loop took so far (see {@link lookBudget}). */
  readonly looks?: number;
}

/**
 * A loop about to wait once more past its share of the history hands the run over to a
 * new attempt (a recorded decision: {@link handOverRun}) and ends; its attempt's subject,
 * which every wait of the workflow also registers, is woken so that the execution's other
 * waits end too, rather than at their timeouts.
 */
export async function withinHistory(
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

/** Whether a deployed target of the run is watched by its own iteration: until the bake. */
export function watchesUntilBake(run: StageRun): boolean {
  return run.kind === 'normal' && (run.step === 'waiting' || run.step === 'deploying');
}

/** One target's rollback and aggregate alarms, watched since it began to deploy. */
export function targetWatch(definition: TargetDefinition, target: TargetRun): AlarmWatch[] {
  const since = target.startedAt ?? new Date(0).toISOString();
  return [...new Set([definition.alarms.rollback, definition.alarms.aggregate])].map((name) => ({
    name,
    since,
  }));
}

/** Asks the alarm monitor about watched alarms, looking back to the earliest watch. */
export async function observe(
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
export async function firstFailure(
  ports: DriverPorts,
  watches: readonly AlarmWatch[],
): Promise<string | null> {
  const alarms = await observe(ports, watches);
  return alarms.map(alarmFailure).find((reason) => reason !== null) ?? null;
}

export function secondsUntil(now: Date, then: Date): number {
  return Math.min(
    MAX_WAIT_SECONDS,
    Math.max(1, Math.ceil((then.getTime() - now.getTime()) / 1000)),
  );
}
