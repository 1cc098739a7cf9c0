import { hours } from '../model/duration.js';
import type { Region } from './regions.js';
import type {
  ApprovalStepDefinition,
  PipelineDefinition,
  StageInput,
  TargetInput,
  TimeWindow,
} from './schema.js';
import { renderTarget, type Target } from './target.js';
import { parsePipelineDefinition } from './validate.js';
import { type Placement, type WaveBake, type WaveBakes, type WavePlan, waves } from './waves.js';

/** What a team sets once for all its pipelines. */
export interface TeamDefaults {
  /** Production Regions in rollout order: low traffic first, then a high-traffic one. */
  readonly productionRegions: readonly Region[];
  readonly wavePlan: WavePlan;
  /** @default - every zone of the central list; the seeds' sample uses 3 */
  readonly zonesPerRegion?: number;
  /** Each Region of a wave in its own lane, or the wave's steps in lock step (see `waves`). @default 'step' */
  readonly laneBy?: 'region' | 'step';
  readonly bakes: WaveBakes;
  /** Pre-production: alpha and beta run tests, gamma mirrors production (one-box first). */
  readonly preProduction: {
    readonly region: Region;
    /** gamma is deployed in several Regions to catch regional differences. */
    readonly gammaRegions: readonly Region[];
    readonly alpha: boolean;
    readonly betaBake: WaveBake;
    readonly gammaOneBoxBake: WaveBake;
    readonly gammaBake: WaveBake;
    readonly approvalSteps: readonly ApprovalStepDefinition[];
  };
  /** When production deployments may start; `null` for always. */
  readonly productionWindow: TimeWindow | null;
  readonly organisationAlarms: readonly string[];
}

/** The seeds' defaults: ≥ 1 h after each one-box, 12 h after the first wave, 3 h after later ones, 100 data points. */
export const SEED_BAKES: WaveBakes = {
  oneBox: { durationSeconds: hours(1), minDataPoints: 100 },
  zone: { durationSeconds: hours(1), minDataPoints: 100 },
  afterWave: (wave) => ({ durationSeconds: wave === 1 ? hours(12) : hours(3), minDataPoints: 100 }),
};

/** Monday to Thursday, 09:00 to 16:00 local: no nights, weekends, Fridays or late afternoons. */
export const BUSINESS_HOURS: TimeWindow = {
  allow: [{ days: ['mon', 'tue', 'wed', 'thu'], start: '09:00', end: '16:00' }],
  denyDates: [],
  denyRanges: [],
  timeZone: null,
};

/**
 * Pipelines as code by inheritance: a team subclasses this once with its defaults (Regions
 * per wave, bake times, windows), and each service pipeline subclasses the team's class,
 * naming its source and how to build a target for a placement.
 *
 * @example
 * abstract class PaymentsTeam extends TeamPipeline {
 *   protected defaults(): TeamDefaults {
 *     return { ...seedDefaults(regions('eu-north-1', 'us-east-1', …), regions('eu-west-1')[0]), zonesPerRegion: 3 };
 *   }
 * }
 * class LedgerApi extends PaymentsTeam {
 *   readonly name = 'ledger-api';
 *   readonly source = { repository: 'ledger-api', branch: 'main' };
 *   protected target(p: Placement) { return ecsTarget(p); }
 * }
 * const definition = new LedgerApi().definition(); // validated, JSON-serialisable
 */
export abstract class TeamPipeline {
  abstract readonly name: string;
  abstract readonly source: { readonly repository: string; readonly branch: string };
  readonly kind: PipelineDefinition['kind'] = 'application';

  /**
   * Builds the target for one placement: the only thing every service must say. Return a
   * `Target` from its factories (`Target.ecsService({ placement, … })`) or plain data.
   */
  protected abstract target(placement: Placement): Target | TargetInput;

  /**
   * The team's defaults, set once in the team's base class (start from `seedDefaults()`);
   * a service pipeline overrides it and spreads `super.defaults()` to change a few.
   */
  protected abstract defaults(): TeamDefaults;

  /** alpha (optional), beta, gamma one-box, gamma. */
  protected preProductionStages(): StageInput[] {
    const team = this.defaults().preProduction;
    const stage = (
      name: string,
      after: string | null,
      regionsOfStage: readonly Region[],
      oneBox: boolean,
      bake: WaveBake,
    ): StageInput => ({
      name,
      after,
      phase: 'pre-production',
      wave: null,
      oneBox,
      targets: regionsOfStage.map((region) =>
        renderTarget(
          this.target({
            phase: 'pre-production',
            stage: name,
            region,
            zone: null,
            wave: null,
            oneBox,
          }),
        ),
      ),
      bake: { ...bake },
      approvalSteps: [...team.approvalSteps],
      timeWindow: null,
    });
    const stages: StageInput[] = [];
    if (team.alpha)
      stages.push(
        stage('alpha', null, [team.region], false, { durationSeconds: 0, minDataPoints: 0 }),
      );
    stages.push(stage('beta', stages.at(-1)?.name ?? null, [team.region], false, team.betaBake));
    stages.push(stage('gamma-onebox', 'beta', team.gammaRegions, true, team.gammaOneBoxBake));
    stages.push(stage('gamma', 'gamma-onebox', team.gammaRegions, false, team.gammaBake));
    return stages;
  }

  protected productionStages(after: string): StageInput[] {
    const team = this.defaults();
    return waves(team.productionRegions, team.wavePlan, {
      target: (placement) => this.target(placement),
      bakes: team.bakes,
      after,
      timeWindow: team.productionWindow,
      ...(team.zonesPerRegion === undefined ? {} : { zonesPerRegion: team.zonesPerRegion }),
      ...(team.laneBy === undefined ? {} : { laneBy: team.laneBy }),
    });
  }

  /** The validated definition; throws a `DefinitionError` that lists every issue. */
  definition(): PipelineDefinition {
    const preProduction = this.preProductionStages();
    const last = preProduction.at(-1)?.name;
    if (last === undefined)
      throw new TypeError(`${this.name}: preProductionStages() returned no stage.`);
    return parsePipelineDefinition({
      name: this.name,
      kind: this.kind,
      source: this.source,
      stages: [...preProduction, ...this.productionStages(last)],
      organisationAlarms: [...this.defaults().organisationAlarms],
    });
  }
}

/** The seeds' defaults for a team whose production Regions are `productionRegions`. */
export function seedDefaults(productionRegions: readonly Region[], home: Region): TeamDefaults {
  return {
    productionRegions,
    wavePlan: [1, 1, 3, 12, 'rest'],
    bakes: SEED_BAKES,
    preProduction: {
      region: home,
      gammaRegions: [home],
      alpha: true,
      betaBake: { durationSeconds: 0, minDataPoints: 0 },
      gammaOneBoxBake: { durationSeconds: hours(1), minDataPoints: 100 },
      gammaBake: { durationSeconds: hours(1), minDataPoints: 100 },
      approvalSteps: [],
    },
    productionWindow: BUSINESS_HOURS,
    organisationAlarms: [],
  };
}
