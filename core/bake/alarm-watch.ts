import type { AlarmState } from '../blockers/evaluate.js';
import type { StageDefinition } from '../definition/schema.js';
import type { StageRun } from '../model/stage-state.js';

/**
 * One alarm a run watches and since when: an entry into ALARM at or after `since` fails
 * the run, even if the alarm is OK again by the time anyone looks.
 */
export interface AlarmWatch {
  readonly name: string;
  /** When the first target watching this alarm began to run the run's release. */
  readonly since: string;
}

/** What the alarm monitor said of one watched alarm. */
export interface WatchedAlarm {
  readonly name: string;
  readonly state: AlarmState;
  /** The newest time it entered ALARM, at or after the watch's `since` (or later). */
  readonly lastAlarmAt: string | null;
  /** From the {@link AlarmWatch}: an ALARM from then on fails the run. */
  readonly since: string;
}

/**
 * The alarms a normal run must watch, from the moment each of its targets began to run
 * the run's release until the stage approves: the rollback and aggregate alarms of every
 * target that is deploying or deployed. Targets still waiting run nothing of the release,
 * so their alarms are blockers, not reasons to roll back. An alarm shared by several
 * targets (a Region's aggregate alarm) is watched from the earliest of their starts.
 *
 * @example
 * // prod-1-a (Dublin) deployed r4 at 09:00; prod-1-b (New York) waits for its window:
 * alarmWatches(prod1, run);
 * // [{ name: 'prod-1-a-rollback', since: '…T09:00Z' }, { name: 'team-aggregate-euw1', since: '…T09:00Z' }]
 */
export function alarmWatches(stage: StageDefinition, run: StageRun): AlarmWatch[] {
  const since = new Map<string, string>();
  for (const target of stage.targets) {
    const state = run.targets[target.id];
    if (state === undefined || state.startedAt === null) continue;
    if (state.status !== 'deploying' && state.status !== 'deployed') continue;
    for (const name of [target.alarms.rollback, target.alarms.aggregate]) {
      const earlier = since.get(name);
      if (earlier === undefined || Date.parse(state.startedAt) < Date.parse(earlier)) {
        since.set(name, state.startedAt);
      }
    }
  }
  return [...since].map(([name, from]) => ({ name, since: from }));
}

/** The earliest `since` of the watches: how far back the alarm monitor must look. */
export function watchedSince(watches: readonly AlarmWatch[]): Date | undefined {
  if (watches.length === 0) return undefined;
  return new Date(Math.min(...watches.map((watch) => Date.parse(watch.since))));
}

/**
 * Why a watched alarm fails the run, or `null` while it is quiet: it is in ALARM now, it
 * entered ALARM since it was first watched (and may be OK again: an event can be lost
 * or late, and looks are minutes apart), or it no longer exists, so nothing watches.
 * `INSUFFICIENT_DATA` is not a failure here; a bake waits on it (see `evaluateBake`).
 *
 * @example
 * alarmFailure({ name: 'a', state: 'OK', lastAlarmAt: '…T10:10Z', since: '…T10:00Z' });
 * // 'alarm a went into ALARM at …T10:10Z, while the release ran'
 */
export function alarmFailure(alarm: WatchedAlarm): string | null {
  if (alarm.state === 'ALARM') return `alarm ${alarm.name} is in ALARM`;
  if (alarm.lastAlarmAt !== null && Date.parse(alarm.lastAlarmAt) > Date.parse(alarm.since)) {
    return `alarm ${alarm.name} went into ALARM at ${alarm.lastAlarmAt}, while the release ran`;
  }
  if (alarm.state === 'MISSING') return `alarm ${alarm.name} does not exist, so nothing watches it`;
  return null;
}
