import { alarmFailure, type WatchedAlarm } from './alarm-watch.js';

export interface BakeInput {
  /** When the deployment completed and the bake began. */
  readonly startedAt: string;
  readonly now: string;
  readonly durationSeconds: number;
  readonly minDataPoints: number;
  /** Data points seen since `startedAt` (e.g. requests served by the stage's targets). */
  readonly dataPoints: number;
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
      readonly missingDataPoints: number;
      /** What the bake still waits for, in words, for the views. */
      readonly waitingFor: string;
      /** When to look again: the end of the bake time, or a few minutes on if only data is missing. */
      readonly checkAt: string;
    };

/**
 * A bake passes only when the bake time has elapsed **and** the minimum data points were
 * seen **and** no watched alarm fired since its targets started deploying; an alarm at any
 * moment fails it, even one that is back to OK, and so does an alarm that no longer exists. Too few data points, or an alarm without
 * enough data to judge, keep it baking: unexercised code is not promoted.
 *
 * @example
 * evaluateBake({ startedAt: '…T10:00Z', now: '…T11:00Z',
 *                durationSeconds: 3600, minDataPoints: 100, dataPoints: 40, alarms: [] });
 * // { verdict: 'baking', remainingSeconds: 0, missingDataPoints: 60,
 * //   waitingFor: '60 more data points', checkAt: '…T11:05Z' }
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
  const missingDataPoints = Math.max(0, input.minDataPoints - input.dataPoints);
  if (remainingSeconds === 0 && missingDataPoints === 0 && noData.length === 0)
    return { verdict: 'passed' };

  const waitingFor = [
    remainingSeconds > 0 ? `${remainingSeconds} s of bake time` : '',
    missingDataPoints > 0 ? `${missingDataPoints} more data points` : '',
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

/** The bake duration a release gets at a stage: dialled down for an expedited release. */
export function effectiveBakeSeconds(durationSeconds: number, bakeFactor: number | null): number {
  if (bakeFactor === null) return durationSeconds;
  return Math.ceil(durationSeconds * bakeFactor);
}
