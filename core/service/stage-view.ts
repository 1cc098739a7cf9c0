import { effectiveBakeSeconds } from '../bake/evaluate-bake.js';
import type { StageDefinition } from '../definition/schema.js';
import type { Topology } from '../definition/topology.js';
import { NotFoundError } from '../errors.js';
import type { Expedite, ExpediteRequest, KnownBad, Override } from '../model/controls.js';
import { executionName } from '../model/execution-name.js';
import type { ReleaseNumber } from '../model/release.js';
import type {
  BlockerNotice,
  PromotionGate,
  RunStep,
  StageState,
  TargetStatus,
} from '../model/stage-state.js';
import type { PipelineState } from '../promotion/transition.js';

/**
 * `captain status` and the web view's pipeline page: each stage as people read it, built
 * from its stored state and its definition.
 */

export interface TargetView {
  readonly target: string;
  readonly region: string;
  readonly zone: string | null;
  /** What the target runs, as far as the control plane knows. */
  readonly deployed: ReleaseNumber | null;
  /** Releases deployed and approved here, oldest first: what a rollback may go back to. */
  readonly approved: readonly ReleaseNumber[];
  /** Its part in the stage's run, if the stage has one. */
  readonly status: TargetStatus | null;
  /** The release a rollback deploys here. */
  readonly rollbackTo: ReleaseNumber | null;
}

export interface RunView {
  readonly seq: number;
  readonly kind: 'normal' | 'rollback';
  readonly release: ReleaseNumber;
  readonly step: RunStep;
  readonly attempt: number;
  readonly startedAt: string;
  /** The Step Functions execution doing the run (`api_gamma_r42-1`). */
  readonly execution: string;
  /** Once the bake began: when it ends at the earliest and how many data points it needs. */
  readonly bake: {
    readonly startedAt: string;
    readonly seconds: number;
    readonly endsAt: string;
    readonly minDataPoints: number;
    readonly metric: string;
  } | null;
  readonly approvals: readonly {
    readonly name: string;
    readonly kind: string;
    readonly passed: boolean;
  }[];
  readonly blockers: readonly BlockerNotice[];
  readonly failure: string | null;
  readonly requestedBy: { readonly by: string; readonly reason: string } | null;
}

export interface StageView {
  readonly stage: string;
  /** The stages it follows (none for a first stage). */
  readonly after: readonly string[];
  readonly phase: StageDefinition['phase'];
  readonly wave: number | null;
  readonly oneBox: boolean;
  readonly promotionsIn: PromotionGate;
  readonly promotionsOut: PromotionGate;
  /** The newest release approved upstream and waiting to enter. */
  readonly pending: ReleaseNumber | null;
  readonly lastApproved: ReleaseNumber | null;
  readonly run: RunView | null;
  readonly targets: readonly TargetView[];
}

/** `captain status`: the pipeline now. */
export interface PipelineStatus {
  readonly pipeline: string;
  readonly now: string;
  readonly latestRelease: ReleaseNumber | null;
  /** Stages in definition order. */
  readonly stages: readonly StageView[];
  /** Stages side by side: a production wave's stages together, each other stage alone. */
  readonly groups: readonly { readonly wave: number | null; readonly stages: readonly string[] }[];
  readonly expedite: Expedite | null;
  /** An expedite asked for and waiting for a second person's approval. */
  readonly expediteRequest: ExpediteRequest | null;
  readonly knownBad: readonly KnownBad[];
  /** Overrides still in force. */
  readonly overrides: readonly Override[];
}

/** One stage of the promotion state; a stage the topology names is always there. */
export function stageStateOf(state: PipelineState, stage: string): StageState {
  const stored = state.stages[stage];
  if (stored === undefined) throw new NotFoundError(`The promotion state has no stage ${stage}.`);
  return stored;
}

export function stageView(
  topology: Topology,
  stage: StageDefinition,
  stored: StageState,
  state: PipelineState,
): StageView {
  const run = stored.run;
  let runView: RunView | null = null;
  if (run !== null) {
    const expedite = state.meta.expedite;
    const seconds = effectiveBakeSeconds(
      stage.bake.durationSeconds,
      expedite !== null && expedite.release === run.release && run.kind === 'normal'
        ? expedite.bakeFactor
        : null,
    );
    runView = {
      seq: run.seq,
      kind: run.kind,
      release: run.release,
      step: run.step,
      attempt: run.attempt,
      startedAt: run.startedAt,
      execution: executionName(topology.pipeline, stage.name, run),
      bake:
        run.bakeStartedAt === null
          ? null
          : {
              startedAt: run.bakeStartedAt,
              seconds,
              endsAt: new Date(Date.parse(run.bakeStartedAt) + seconds * 1000).toISOString(),
              minDataPoints: stage.bake.minDataPoints,
              metric: stage.bake.dataPointMetric,
            },
      approvals: stage.approvalSteps.map((step) => ({
        name: step.name,
        kind: step.kind,
        passed: run.approvalsPassed.includes(step.name),
      })),
      blockers: run.blockers,
      failure: run.failure,
      requestedBy: run.requestedBy,
    };
  }
  return {
    stage: stage.name,
    after: stage.after,
    phase: stage.phase,
    wave: stage.wave,
    oneBox: stage.oneBox,
    promotionsIn: stored.promotionsIn,
    promotionsOut: stored.promotionsOut,
    pending: stored.pending,
    lastApproved: stored.lastApproved,
    run: runView,
    targets: stage.targets.map((target) => ({
      target: target.id,
      region: target.region,
      zone: target.zone,
      deployed: stored.targets[target.id]?.deployed ?? null,
      approved: stored.targets[target.id]?.approved ?? [],
      status: run?.targets[target.id]?.status ?? null,
      rollbackTo: run?.targets[target.id]?.rollbackTo ?? null,
    })),
  };
}

/** A production wave's stages side by side; every other stage on its own. */
export function groups(topology: Topology): { wave: number | null; stages: string[] }[] {
  const out: { wave: number | null; stages: string[] }[] = [];
  for (const stage of topology.definition.stages) {
    const last = out.at(-1);
    if (stage.wave !== null && last !== undefined && last.wave === stage.wave) {
      last.stages.push(stage.name);
    } else {
      out.push({ wave: stage.wave, stages: [stage.name] });
    }
  }
  return out;
}
