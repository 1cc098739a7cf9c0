import { effectiveBakeSeconds } from '../bake/evaluate-bake.js';
import { nextOpening } from '../blockers/time-window.js';
import type { StageDefinition, TargetDefinition } from '../definition/schema.js';
import type { Topology } from '../definition/topology.js';

export interface PlanInput {
  readonly topology: Topology;
  /** When the release is created (enters the first stages). */
  readonly start: Date;
  /** Expected seconds to deploy one target. */
  readonly deploymentSeconds:
    | number
    | ((stage: StageDefinition, target: TargetDefinition) => number);
  /**
   * Expected data points per hour at each target of a stage (e.g. the quietest target's
   * request rate: every target must see the minimum on its own). With it, a bake lasts
   * until the minimum data points are expected; without it they are assumed met.
   */
  readonly dataPointsPerHour?: (stage: StageDefinition) => number;
  /** Expected seconds per approval step (tests, a person's approval). @default 0 */
  readonly approvalStepSeconds?: number;
  /** An expedite's bake factor. @default null - full bakes */
  readonly bakeFactor?: number | null;
}

export interface TargetPlan {
  readonly target: string;
  readonly startsAt: Date;
  readonly deployedAt: Date;
  /** Time spent waiting for this target's window to open. */
  readonly waitedSeconds: number;
}

export interface StagePlan {
  readonly stage: string;
  readonly wave: number | null;
  /** When the upstream stage approves the release (or the release is created). */
  readonly reachedAt: Date;
  readonly targets: readonly TargetPlan[];
  readonly deployedAt: Date;
  readonly approvedAt: Date;
  /** Assumptions that make this stage's times uncertain. */
  readonly notes: readonly string[];
}

export interface RolloutPlan {
  /** Stages the release is expected to reach, in definition order. */
  readonly stages: readonly StagePlan[];
  /** When the last stage approves; `null` if some window never opens. */
  readonly completesAt: Date | null;
  /** Stages that cannot be reached, with the reason. */
  readonly unreachable: readonly { readonly stage: string; readonly reason: string }[];
}

/**
 * When will a release reach each stage and the last one? Assumes every stage is idle when
 * the release arrives, no alarm fires and nothing is known-bad; honours bake times,
 * minimum data points (with a rate), approval steps, and each target's time window in
 * its own time zone (a target starts at its window's next opening).
 *
 * @example
 * planRollout({ topology, start: new Date('2026-11-23T08:00:00Z'), deploymentSeconds: 600 }).completesAt;
 * // e.g. 2026-11-27T15:40:00Z: "everywhere by Friday afternoon"
 */
export function planRollout(input: PlanInput): RolloutPlan {
  const { topology } = input;
  const approvedAt = new Map<string, Date>();
  const stages: StagePlan[] = [];
  const unreachable: { stage: string; reason: string }[] = [];

  for (const stage of topology.definition.stages) {
    // A stage is reached when the last of the stages it follows has approved.
    const missing = stage.after.filter((upstream) => !approvedAt.has(upstream));
    if (missing.length > 0) {
      unreachable.push({ stage: stage.name, reason: `${missing.join(', ')} is not reached` });
      continue;
    }
    const reachedAt = stage.after.reduce((latest, upstream) => {
      const at = approvedAt.get(upstream) as Date;
      return at > latest ? at : latest;
    }, input.start);
    const notes: string[] = [];
    const targets: TargetPlan[] = [];
    let blocked = false;
    for (const target of stage.targets) {
      const opening =
        stage.timeWindow === null
          ? reachedAt
          : nextOpening(stage.timeWindow, target.timeZone, reachedAt);
      if (opening === null) {
        blocked = true;
        unreachable.push({
          stage: stage.name,
          reason: `the time window of ${target.id} does not open within 60 days`,
        });
        break;
      }
      const seconds =
        typeof input.deploymentSeconds === 'number'
          ? input.deploymentSeconds
          : input.deploymentSeconds(stage, target);
      targets.push({
        target: target.id,
        startsAt: opening,
        deployedAt: new Date(opening.getTime() + seconds * 1000),
        waitedSeconds: Math.round((opening.getTime() - reachedAt.getTime()) / 1000),
      });
    }
    if (blocked) continue;

    const deployedAt = new Date(Math.max(...targets.map((target) => target.deployedAt.getTime())));
    let bakeSeconds = effectiveBakeSeconds(stage.bake.durationSeconds, input.bakeFactor ?? null);
    if (stage.bake.minDataPoints > 0) {
      const rate = input.dataPointsPerHour?.(stage);
      if (rate === undefined) {
        notes.push(
          `assumes ${stage.bake.minDataPoints} ${stage.bake.dataPointMetric} data points arrive within the bake`,
        );
      } else if (rate <= 0) {
        unreachable.push({
          stage: stage.name,
          reason: `no ${stage.bake.dataPointMetric} data points are expected, so the bake never ends`,
        });
        continue;
      } else {
        bakeSeconds = Math.max(bakeSeconds, Math.ceil((stage.bake.minDataPoints / rate) * 3600));
      }
    }
    const approvalSeconds = stage.approvalSteps.length * (input.approvalStepSeconds ?? 0);
    for (const step of stage.approvalSteps) {
      if (step.kind === 'manual-approval')
        notes.push(`waits for a person to approve (${step.name})`);
    }
    const approved = new Date(deployedAt.getTime() + (bakeSeconds + approvalSeconds) * 1000);
    approvedAt.set(stage.name, approved);
    stages.push({
      stage: stage.name,
      wave: stage.wave,
      reachedAt,
      targets,
      deployedAt,
      approvedAt: approved,
      notes,
    });
  }

  const leaves = topology.leaves.map((leaf) => approvedAt.get(leaf));
  const completesAt = leaves.every((time) => time !== undefined)
    ? new Date(Math.max(...leaves.map((time) => (time as Date).getTime())))
    : null;
  return { stages, completesAt, unreachable };
}
