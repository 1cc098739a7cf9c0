import type {
  PipelineDefinition,
  StageDefinition,
  TargetDefinition,
} from '../definition/schema.js';
import type { BlockerKind, KnownBad, Override } from '../model/controls.js';
import { type Commit, type Release, releaseLabel, unreviewedCommits } from '../model/release.js';
import type { PromotionGate } from '../model/stage-state.js';
import { nextOpening, windowState } from './time-window.js';

/** CloudWatch's alarm states, plus `MISSING` for an alarm that does not exist. */
export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA' | 'MISSING';

export interface Blocker {
  readonly kind: BlockerKind;
  /** The alarm, known-bad entry or window it is about. */
  readonly subject: string;
  readonly reason: string;
  /** When it lifts by itself (a window's next opening), if known. */
  readonly until: string | null;
}

export interface BlockerEvaluation {
  /** Blockers in force: the target may not start. */
  readonly blockers: readonly Blocker[];
  /** Blockers an override lifted; each is reported once as `Blocker Overridden`. */
  readonly overridden: readonly { readonly blocker: Blocker; readonly override: Override }[];
}

export interface BlockerInput {
  readonly definition: PipelineDefinition;
  readonly stage: StageDefinition;
  readonly target: TargetDefinition;
  readonly release: Release;
  /**
   * Every commit the target does not run yet: those of each release after the one it runs,
   * up to `release` (see {@link commitsNewTo}). Property 8 is about all of them, not only
   * the commits new in `release`: a superseded release's unreviewed commit is in the next.
   */
  readonly newCommits: readonly Commit[];
  readonly promotionsIn: PromotionGate;
  /** States of the alarms {@link alarmsToCheck} names; an absent name counts as `MISSING`. */
  readonly alarms: Readonly<Record<string, AlarmState>>;
  readonly knownBad: readonly KnownBad[];
  readonly overrides: readonly Override[];
  readonly now: Date;
}

/**
 * The alarms whose state decides whether `target` may start: its rollback and aggregate
 * alarms, the stage's extra blocking alarms, and in production the organisation-wide ones.
 */
export function alarmsToCheck(
  definition: PipelineDefinition,
  stage: StageDefinition,
  target: TargetDefinition,
): string[] {
  const names = [target.alarms.aggregate, target.alarms.rollback, ...stage.blockingAlarms];
  if (stage.phase === 'production') names.push(...definition.organisationAlarms);
  return [...new Set(names)];
}

/**
 * Every reason not to start deploying `release` to `target` now, and the overrides that
 * lift some of them. Promotions disabled cannot be overridden: enabling them is the way.
 *
 * @example
 * // The aggregate alarm is in ALARM and the window is closed until Monday 09:00:
 * evaluateBlockers({ …, alarms: { 'payments-high-sev-use1': 'ALARM' } }).blockers;
 * // [{ kind: 'time-window', reason: 'outside the allow windows …', until: '2026-11-30T14:00:00.000Z' },
 * //  { kind: 'alarm', subject: 'payments-high-sev-use1', reason: 'alarm payments-high-sev-use1 is in ALARM', until: null }]
 */
export function evaluateBlockers(input: BlockerInput): BlockerEvaluation {
  const found: Blocker[] = [];
  const { stage, target, release, now } = input;

  if (!input.promotionsIn.enabled) {
    found.push({
      kind: 'promotions-disabled',
      subject: stage.name,
      reason: `promotions into ${stage.name} were disabled by ${input.promotionsIn.by}: ${input.promotionsIn.reason}`,
      until: null,
    });
  }

  if (stage.timeWindow !== null) {
    const state = windowState(stage.timeWindow, target.timeZone, now);
    if (!state.open) {
      const opening = nextOpening(stage.timeWindow, target.timeZone, now);
      found.push({
        kind: 'time-window',
        subject: stage.name,
        reason:
          opening === null ? `${state.reason}; it does not open in the next 60 days` : state.reason,
        until: opening?.toISOString() ?? null,
      });
    }
  }

  for (const alarm of alarmsToCheck(input.definition, stage, target)) {
    const state = input.alarms[alarm] ?? 'MISSING';
    if (state === 'ALARM') {
      found.push({
        kind: 'alarm',
        subject: alarm,
        reason: `alarm ${alarm} is in ALARM`,
        until: null,
      });
    } else if (state === 'MISSING') {
      found.push({
        kind: 'alarm',
        subject: alarm,
        reason: `alarm ${alarm} does not exist: create it or fix the name in the pipeline definition`,
        until: null,
      });
    }
  }

  for (const entry of input.knownBad) {
    if (knownBadMatches(entry, release)) {
      found.push({
        kind: 'known-bad',
        subject: entry.value,
        reason: `${releaseLabel(release.number)} contains known-bad ${entry.kind} ${entry.value} (${entry.reason})`,
        until: null,
      });
    }
  }

  if (stage.phase === 'production') {
    const unreviewed = unreviewedCommits({ commits: input.newCommits });
    if (unreviewed.length > 0) {
      const shas = unreviewed.map((commit) => commit.sha.slice(0, 7)).join(', ');
      found.push({
        kind: 'unreviewed',
        subject: releaseLabel(release.number),
        reason: `${releaseLabel(release.number)} would deploy commits without an approved review: ${shas}`,
        until: null,
      });
    }
  }

  const blockers: Blocker[] = [];
  const overridden: { blocker: Blocker; override: Override }[] = [];
  for (const blocker of found) {
    const override = input.overrides.find((candidate) =>
      overrideLifts(candidate, blocker, stage.name, release.number, now),
    );
    if (override === undefined) blockers.push(blocker);
    else overridden.push({ blocker, override });
  }
  return { blockers, overridden };
}

/** Whether an override applies to a blocker at a stage, for a release, now. */
export function overrideLifts(
  override: Override,
  blocker: Blocker,
  stage: string,
  release: number,
  now: Date,
): boolean {
  return (
    blocker.kind !== 'promotions-disabled' &&
    override.kind === blocker.kind &&
    (override.subject === null || override.subject === blocker.subject) &&
    (override.stage === null || override.stage === stage) &&
    (override.release === null || override.release === release) &&
    Date.parse(override.at) <= now.getTime() &&
    now.getTime() < Date.parse(override.until)
  );
}

/** Whether a known-bad entry names this release, one of its artifacts, or one of its dependencies. */
export function knownBadMatches(entry: KnownBad, release: Release): boolean {
  switch (entry.kind) {
    case 'release':
      return entry.value === releaseLabel(release.number);
    case 'artifact': {
      const bare = entry.value.replace(/^sha256:/, '');
      return (
        release.artifacts.images.some((image) => image.digest.replace(/^sha256:/, '') === bare) ||
        release.artifacts.files.some((file) => file.sha256 === bare)
      );
    }
    case 'dependency':
      return release.artifacts.dependencies.some(
        (dependency) => `${dependency.name}@${dependency.version}` === entry.value,
      );
  }
}

/**
 * The commits a target does not run yet when `upTo` is deployed to it: those of every
 * release after `deployed`, up to and including `upTo`.
 *
 * @example
 * commitsNewTo(40, [r41, r42], 42); // r41's commits, then r42's
 */
export function commitsNewTo(
  deployed: number | null,
  releases: readonly Release[],
  upTo: number,
): Commit[] {
  const from = deployed ?? 0;
  const needed = releases.filter((r) => r.number > from && r.number <= upTo);
  const have = new Set(needed.map((r) => r.number));
  for (let number = Math.max(from + 1, 1); number <= upTo; number++) {
    if (!have.has(number)) {
      throw new TypeError(
        `The commits new to a target running ${deployed === null ? 'nothing' : releaseLabel(from)} need every release up to ${releaseLabel(upTo)}; ${releaseLabel(number)} was not given.`,
      );
    }
  }
  return needed.sort((a, b) => a.number - b.number).flatMap((r) => r.commits);
}
