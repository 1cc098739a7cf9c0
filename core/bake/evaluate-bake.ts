import { alarmFailure, type WatchedAlarm } from './alarm-watch.js';

export interface BakeInput {
  /** When the deployment completed and the bake began. */
  readonly startedAt: string;
  readonly now: string;
  readonly durationSeconds: number;
  /** The data points each target must see during the bake, on its own traffic. */
  readonly minDataPoints: number;
  /**
   * Data points seen since `startedAt` by each of the stage's targets (e.g. the requests
   * it served), by target id: one entry per target. A busy target's traffic never makes
   * up for a quiet one's.
   */
  readonly dataPoints: Readonly<Record<string, number>>;
  /**
   * The rollback and aggregate alarms of the stage's targets, each watched since its first
   * target began to deploy (see `alarmWatches`): an ALARM at any moment since then fails
   * the bake, even one that is OK again and whose event was lost or late.
   */
  readonly alarms: readonly WatchedAlarm[];
}

/** How long to wait before looking again when only data points or alarm data are missing. */
export const BAKE_RECHECK_SECONDS = 300;

export type BakeVerdict =
  | { readonly verdict: 'passed' }
  | { readonly verdict: 'failed'; readonly reason: string }
  | {
      readonly verdict: 'baking';
      readonly remainingSeconds: number;
      /** The data points still missing, summed over the targets short of the minimum. */
      readonly missingDataPoints: number;
      /** What the bake still waits for, in words, for the views. */
      readonly waitingFor: string;
      /** When to look again: the end of the bake time, or a few minutes on if only data is missing. */
      readonly checkAt: string;
    };

/**
 * A bake passes only when the bake time has elapsed **and** every target saw the minimum
 * data points on its own traffic **and** no watched alarm fired since its targets started deploying; an alarm at any
 * moment fails it, even one that is back to OK, and so does an alarm that no longer exists. Too few data points, or an alarm without
 * enough data to judge, keep it baking: unexercised code is not promoted.
 *
 * @example
 * evaluateBake({ startedAt: '…T10:00Z', now: '…T11:00Z',
 *                durationSeconds: 3600, minDataPoints: 100,
 *                dataPoints: { 'prod-iad': 140, 'prod-dub': 40 }, alarms: [] });
 * // { verdict: 'baking', remainingSeconds: 0, missingDataPoints: 60,
 * //   waitingFor: '60 more data points at prod-dub', checkAt: '…T11:05Z' }
 */
export function evaluateBake(input: BakeInput): BakeVerdict {
  const started = Date.parse(input.startedAt);
  const now = Date.parse(input.now);
  const noData: string[] = [];
  for (const alarm of input.alarms) {
    const failure = alarmFailure(alarm);
    if (failure !== null) return { verdict: 'failed', reason: `${failure} (baking)` };
    if (alarm.state === 'INSUFFICIENT_DATA') noData.push(alarm.name);
  }
  const end = started + input.durationSeconds * 1000;
  const remainingSeconds = Math.max(0, Math.ceil((end - now) / 1000));
  const short = Object.entries(input.dataPoints)
    .map(([target, seen]) => ({ target, missing: Math.max(0, input.minDataPoints - seen) }))
    .filter(({ missing }) => missing > 0);
  const missingDataPoints = short.reduce((sum, { missing }) => sum + missing, 0);
  if (remainingSeconds === 0 && missingDataPoints === 0 && noData.length === 0)
    return { verdict: 'passed' };

  const waitingFor = [
    remainingSeconds > 0 ? `${remainingSeconds} s of bake time` : '',
    describeShort(short),
    noData.length > 0 ? `enough data in ${noData.join(', ')}` : '',
  ].filter(Boolean);
  return {
    verdict: 'baking',
    remainingSeconds,
    missingDataPoints,
    waitingFor: waitingFor.join(', '),
    checkAt: new Date(remainingSeconds > 0 ? end : now + BAKE_RECHECK_SECONDS * 1000).toISOString(),
  };
}

/** `60 more data points at prod-dub`, `more data points at 3 targets (prod-dub 60, …)`. */
function describeShort(short: readonly { target: string; missing: number }[]): string {
  const [only] = short;
  if (only === undefined) return '';
  if (short.length === 1) return `${only.missing} more data points at ${only.target}`;
  const listed = short.slice(0, 3).map(({ target, missing }) => `${target} ${missing}`);
  const rest = short.length > 3 ? `, ${short.length - 3} more` : '';
  return `more data points at ${short.length} targets (${listed.join(', ')}${rest})`;
}

/** The bake duration a release gets at a stage: dialled down for an expedited release. */
export function effectiveBakeSeconds(durationSeconds: number, bakeFactor: number | null): number {
  if (bakeFactor === null) return durationSeconds;
  return Math.ceil(durationSeconds * bakeFactor);
}
