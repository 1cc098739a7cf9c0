import type { Region } from './regions.js';
import type {
  ApprovalStepDefinition,
  BakeDefinition,
  StageInput,
  TargetInput,
  TimeWindow,
} from './schema.js';
import { renderTarget, type Target } from './target.js';

/** Wave sizes in Regions, e.g. `[1, 1, 3, 12, 'rest']`; `'rest'` may only come last. */
export type WavePlan = readonly (number | 'rest')[];

/** Where a target sits: what a pipeline's target factory is asked to build. */
export interface Placement {
  readonly phase: 'pre-production' | 'production';
  /** The stage the target belongs to, e.g. `gamma` or `prod-w2-z1-onebox`. */
  readonly stage: string;
  readonly region: Region;
  /** The zone id or cell; `null` for a target that spans the Region. */
  readonly zone: string | null;
  /** 1-based; `null` before production. */
  readonly wave: number | null;
  readonly oneBox: boolean;
}

export type WaveBake = Pick<BakeDefinition, 'durationSeconds' | 'minDataPoints'> &
  Partial<Pick<BakeDefinition, 'dataPointMetric'>>;

export interface WaveBakes {
  /** After each one-box step. */
  readonly oneBox: WaveBake;
  /** After each zone (or cell) step inside a wave, except the wave's last. */
  readonly zone: WaveBake;
  /** After the last step of wave `n`: longest after the first wave, shorter later. */
  readonly afterWave: (wave: number) => WaveBake;
}

export interface WavesOptions {
  /** Builds the target for one placement (one Region's zone, one-box or fleet). */
  readonly target: (placement: Placement) => Target | TargetInput;
  readonly bakes: WaveBakes;
  /** The stage the first wave follows, usually `gamma`. */
  readonly after: string;
  /** @default - every zone the central Region list has */
  readonly zonesPerRegion?: number;
  /** @default - 'zone': one Availability Zone per step; 'cell' with `cells` steps per Region */
  readonly unit?: { readonly kind: 'zone' } | { readonly kind: 'cell'; readonly cells: number };
  /** @default null - deployments may start at any time */
  readonly timeWindow?: TimeWindow | null;
  /** @default [] */
  readonly approvalSteps?: readonly ApprovalStepDefinition[];
  /** @default 'prod' */
  readonly namePrefix?: string;
  /**
   * How a wave's Regions move through its steps. `'region'`: each Region in a lane of its
   * own (its one-box and zone steps one after the other, at its own pace, in its own time
   * window), the lanes of a wave in parallel, and the next wave after every lane of this
   * one (a join). `'step'`: each step one stage over every Region of the wave, in lock
   * step: the wave waits at each step for its slowest Region.
   * @default 'step'
   */
  readonly laneBy?: 'region' | 'step';
}

/**
 * Splits Regions into waves of growing size and each wave into steps that deploy one
 * zone (or cell) of every Region in the wave at a time, one-box before fleet. Each step
 * is one stage whose targets are that zone in each of the wave's Regions, so a wave
 * never touches two zones of one Region at once.
 *
 * @example
 * waves(regions('eu-west-1', 'us-east-1', 'us-west-2'), [1, 'rest'], options).map((s) => s.name);
 * // wave 1 (eu-west-1, 3 zones), wave 2 (us-east-1 and us-west-2):
 * // ['prod-w1-z1-onebox', 'prod-w1-z1', 'prod-w1-z2-onebox', 'prod-w1-z2', 'prod-w1-z3-onebox',
 * //  'prod-w1-z3', 'prod-w2-z1-onebox', 'prod-w2-z1', …]
 */
export function waves(
  regions: readonly Region[],
  plan: WavePlan,
  options: WavesOptions,
): StageInput[] {
  if (options.laneBy === 'region') return lanes(regions, plan, options);
  const groups = splitIntoWaves(regions, plan);
  const prefix = options.namePrefix ?? 'prod';
  const stages: StageInput[] = [];
  let after = options.after;

  groups.forEach((group, waveIndex) => {
    const wave = waveIndex + 1;
    const steps = Math.max(...group.map((region) => unitsOf(region, options).length));
    for (let step = 0; step < steps; step++) {
      const present = group.filter((region) => unitsOf(region, options)[step] !== undefined);
      for (const oneBox of [true, false]) {
        const name = `${prefix}-w${wave}-${stepName(options, step, oneBox)}`;
        const last = step === steps - 1 && !oneBox;
        stages.push(
          productionStage(options, { name, after, wave, oneBox, last }, (target) =>
            present.map((region) => target(region, unitsOf(region, options)[step] ?? null)),
          ),
        );
        after = name;
      }
    }
  });
  return stages;
}

/** The zones (or cells) a Region is deployed in, one step each. */
function unitsOf(region: Region, options: WavesOptions): (string | null)[] {
  const unit = options.unit ?? { kind: 'zone' };
  if (unit.kind === 'cell') return Array.from({ length: unit.cells }, (_, i) => `cell${i + 1}`);
  return region.zones.slice(0, options.zonesPerRegion ?? region.zones.length);
}

/** `z2-onebox`, `c1`: a step's part of a stage name. */
function stepName(options: WavesOptions, step: number, oneBox: boolean): string {
  const letter = options.unit?.kind === 'cell' ? 'c' : 'z';
  return `${letter}${step + 1}${oneBox ? '-onebox' : ''}`;
}

/**
 * One production stage of a wave: the one-box bake after a one-box step, the wave's bake
 * after its last step (`last`), the zone bake otherwise; its targets from `targets`, given
 * a function that renders the target of one Region and zone.
 */
function productionStage(
  options: WavesOptions,
  stage: {
    readonly name: string;
    readonly after: string | readonly string[];
    readonly wave: number;
    readonly oneBox: boolean;
    readonly last: boolean;
  },
  targets: (target: (region: Region, zone: string | null) => TargetInput) => TargetInput[],
): StageInput {
  const { name, after, wave, oneBox, last } = stage;
  const bake = oneBox
    ? options.bakes.oneBox
    : last
      ? options.bakes.afterWave(wave)
      : options.bakes.zone;
  return {
    name,
    after:
      typeof after === 'string' ? after : after.length === 1 ? (after[0] as string) : [...after],
    phase: 'production',
    wave,
    oneBox,
    targets: targets((region, zone) =>
      renderTarget(
        options.target({ phase: 'production', stage: name, region, zone, wave, oneBox }),
      ),
    ),
    bake: { ...bake },
    approvalSteps: [...(options.approvalSteps ?? [])],
    timeWindow: options.timeWindow ?? null,
  };
}

/**
 * The lanes layout of {@link waves}: per wave, one lane per Region, each lane its one-box
 * and zone (or cell) steps in order, named `<prefix>-w<wave>-<region>-<z|c><n>[-onebox]`.
 * A wave's lanes all follow the stage (or the lanes) before the wave; the first stage of
 * each lane of the next wave follows the last stage of every lane of this one.
 *
 * @example
 * waves(regions('eu-west-1', 'us-east-1', 'us-west-2'), [1, 'rest'], { ...options, laneBy: 'region', zonesPerRegion: 1 })
 *   .map((s) => `${s.name} after ${s.after}`);
 * // ['prod-w1-eu-west-1-z1-onebox after gamma', 'prod-w1-eu-west-1-z1 after prod-w1-eu-west-1-z1-onebox',
 * //  'prod-w2-us-east-1-z1-onebox after prod-w1-eu-west-1-z1', …, 'prod-w2-us-west-2-z1-onebox after prod-w1-eu-west-1-z1', …]
 */
function lanes(regions: readonly Region[], plan: WavePlan, options: WavesOptions): StageInput[] {
  const prefix = options.namePrefix ?? 'prod';
  const stages: StageInput[] = [];
  let before: string[] = [options.after];

  splitIntoWaves(regions, plan).forEach((group, waveIndex) => {
    const wave = waveIndex + 1;
    const ends: string[] = [];
    for (const region of group) {
      const units = unitsOf(region, options);
      let after: string[] = before;
      units.forEach((zone, step) => {
        for (const oneBox of [true, false]) {
          const name = `${prefix}-w${wave}-${region.code}-${stepName(options, step, oneBox)}`;
          const last = step === units.length - 1 && !oneBox;
          stages.push(
            productionStage(options, { name, after, wave, oneBox, last }, (target) => [
              target(region, zone),
            ]),
          );
          after = [name];
        }
      });
      ends.push(...after);
    }
    before = ends;
  });
  return stages;
}

/** Applies a wave plan to an ordered Region list; every Region lands in exactly one wave. */
export function splitIntoWaves(regions: readonly Region[], plan: WavePlan): Region[][] {
  if (plan.length === 0)
    throw new RangeError('The wave plan is empty: give at least one wave, e.g. [1, "rest"].');
  const groups: Region[][] = [];
  let next = 0;
  plan.forEach((size, index) => {
    if (size === 'rest') {
      if (index !== plan.length - 1) {
        throw new RangeError(
          `Wave plan [${plan.join(', ')}]: 'rest' must be the last wave, found at position ${index + 1}.`,
        );
      }
      if (next >= regions.length) {
        throw new RangeError(
          `Wave plan [${plan.join(', ')}]: no Regions are left for 'rest' (${regions.length} given); drop 'rest' or add Regions.`,
        );
      }
      groups.push(regions.slice(next));
      next = regions.length;
      return;
    }
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(
        `Wave plan [${plan.join(', ')}]: wave ${index + 1} has size ${size}; expected a whole number ≥ 1 or 'rest'.`,
      );
    }
    if (next + size > regions.length) {
      throw new RangeError(
        `Wave plan [${plan.join(', ')}] needs at least ${next + size} Regions by wave ${index + 1}, but ${regions.length} were given.`,
      );
    }
    groups.push(regions.slice(next, next + size));
    next += size;
  });
  if (next < regions.length) {
    throw new RangeError(
      `Wave plan [${plan.join(', ')}] covers ${next} of ${regions.length} Regions; end it with 'rest' or add waves.`,
    );
  }
  return groups;
}
