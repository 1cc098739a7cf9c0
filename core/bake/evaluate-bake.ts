import type { AlarmState } from '../blockers/evaluate.js';

export interface WatchedAlarm {
  readonly name: string;
  readonly state: AlarmState;
  /** The last time it entered ALARM, if ever. */
  readonly lastAlarmAt: string | null;
}

export interface BakeInput {
  readonly startedAt: string;
  readonly now: string;
  readonly durationSeconds: number;
  readonly minDataPoints: number;
  /** Data points seen since `startedAt` (e.g. requests served by the stage's targets). */
  readonly dataPoints: number;
  /** The aggregate (or one-box) alarms watched during the bake. */
  readonly alarms: readonly WatchedAlarm[];
}

export type BakeVerdict =
  | { readonly verdict: 'passed' }
  | { readonly verdict: 'failed'; readonly reason: string }
  | {
      readonly verdict: 'baking';
      readonly remainingSeconds: number;
      readonly missingDataPoints: number;
      /** When to look again: the end of the bake time, or now if only data points are missing. */
      readonly checkAt: string;
    };

/**
 * A bake passes only when the bake time has elapsed **and** the minimum data points were
 * seen **and** no watched alarm fired; an alarm at any time during the bake fails it, even
 * one that is back to OK. Too few data points keep it baking: unexercised code is not
 * promoted.
 *
 * @example
 * evaluateBake({ startedAt: '…T10:00Z', now: '…T11:00Z', durationSeconds: 3600, minDataPoints: 100,
 *                dataPoints: 40, alarms: [] });
 * // { verdict: 'baking', remainingSeconds: 0, missingDataPoints: 60, checkAt: '…T11:00Z' }
 */
export function evaluateBake(input: BakeInput): BakeVerdict {
  const started = Date.parse(input.startedAt);
  const now = Date.parse(input.now);
  for (const alarm of input.alarms) {
    if (alarm.state === 'ALARM') {
      return { verdict: 'failed', reason: `alarm ${alarm.name} is in ALARM during the bake` };
    }
    if (alarm.lastAlarmAt !== null && Date.parse(alarm.lastAlarmAt) >= started) {
      return {
        verdict: 'failed',
        reason: `alarm ${alarm.name} went into ALARM at ${alarm.lastAlarmAt}, during the bake`,
      };
    }
    if (alarm.state === 'MISSING') {
      return {
        verdict: 'failed',
        reason: `alarm ${alarm.name} does not exist, so the bake cannot watch it`,
      };
    }
  }
  const remainingSeconds = Math.max(
    0,
    Math.ceil((started + input.durationSeconds * 1000 - now) / 1000),
  );
  const missingDataPoints = Math.max(0, input.minDataPoints - input.dataPoints);
  if (remainingSeconds === 0 && missingDataPoints === 0) return { verdict: 'passed' };
  return {
    verdict: 'baking',
    remainingSeconds,
    missingDataPoints,
    checkAt: new Date(Math.max(now, started + input.durationSeconds * 1000)).toISOString(),
  };
}

/** The bake duration a release gets at a stage: dialled down for an expedited release. */
export function effectiveBakeSeconds(durationSeconds: number, bakeFactor: number | null): number {
  if (bakeFactor === null) return durationSeconds;
  return Math.ceil(durationSeconds * bakeFactor);
}
