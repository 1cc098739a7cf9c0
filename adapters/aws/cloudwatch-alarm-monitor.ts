import {
  type AlarmHistoryItem,
  type AlarmType,
  type CloudWatchClient,
  DescribeAlarmHistoryCommand,
  type DescribeAlarmHistoryCommandOutput,
  DescribeAlarmsCommand,
  type DescribeAlarmsCommandOutput,
} from '@aws-sdk/client-cloudwatch';
import {
  type AlarmMonitor,
  type AlarmState,
  type AlarmStatus,
  TerminalError,
} from '../../core/index.js';
import { awsError } from './errors.js';

/** `DescribeAlarms` accepts at most 100 names per call. */
const NAMES_PER_CALL = 100;
/** The most `DescribeAlarms` and `DescribeAlarmHistory` return per page. */
const RECORDS_PER_PAGE = 100;
/** CloudWatch keeps alarm history for 30 days: a longer look-back finds nothing more. */
const MAX_LOOKBACK_HOURS = 30 * 24;
const MAX_LOOKBACK_MS = MAX_LOOKBACK_HOURS * 3_600_000;
/** Without `AlarmTypes` both calls answer for metric alarms only, hiding the composite aggregate alarm. */
const ALARM_TYPES: AlarmType[] = ['CompositeAlarm', 'MetricAlarm'];

export interface CloudWatchAlarmMonitorProps {
  /** The client of the account and region where the alarms live. */
  readonly client: CloudWatchClient;
  /**
   * How far back `DescribeAlarmHistory` looks for an ALARM that came and went when the
   * caller does not say since when (`describeAlarms(names, { since })`, which the stage
   * driver always does: from the run's first deployment).
   * @default 48
   */
  readonly historyLookbackHours?: number;
  /** @default - `() => new Date()` */
  readonly now?: () => Date;
}

/**
 * The {@link AlarmMonitor} backed by CloudWatch composite and metric alarms in one account
 * and region. Besides each alarm's state it reports the last time the alarm went into
 * ALARM, read from the alarm history when the alarm is no longer in ALARM, so a bake
 * notices an alarm that fired and cleared between two looks.
 *
 * @example
 * const monitor = new CloudWatchAlarmMonitor({ client: new CloudWatchClient({}) });
 * await monitor.describeAlarms(['payments-high-sev-use1', 'no-such-alarm']);
 * // { 'payments-high-sev-use1': { state: 'OK', lastAlarmAt: '2026-11-23T09:12:00.000Z' },
 * //   'no-such-alarm': { state: 'MISSING', lastAlarmAt: null } }
 */
export class CloudWatchAlarmMonitor implements AlarmMonitor {
  readonly #client: CloudWatchClient;
  readonly #lookbackMs: number;
  readonly #now: () => Date;

  constructor(props: CloudWatchAlarmMonitorProps) {
    const hours = props.historyLookbackHours ?? 48;
    if (!Number.isFinite(hours) || hours <= 0 || hours > MAX_LOOKBACK_HOURS) {
      throw new TerminalError(
        `historyLookbackHours must be more than 0 and at most ${MAX_LOOKBACK_HOURS} (CloudWatch keeps alarm history for 30 days), got ${hours}. Pass a number of hours that covers a deployment and its bake.`,
      );
    }
    this.#client = props.client;
    this.#lookbackMs = hours * 3_600_000;
    this.#now = props.now ?? (() => new Date());
  }

  async describeAlarms(
    names: readonly string[],
    options: { readonly since?: Date } = {},
  ): Promise<Record<string, AlarmStatus>> {
    const now = this.#now().getTime();
    // History older than CloudWatch keeps cannot be read; the driver's looks, at most an
    // hour apart, are what covers a run longer than that.
    const since = new Date(
      Math.max(now - MAX_LOOKBACK_MS, options.since?.getTime() ?? now - this.#lookbackMs),
    );
    const unique = [...new Set(names)];
    const found = new Map<string, FoundAlarm>();
    for (let i = 0; i < unique.length; i += NAMES_PER_CALL) {
      await this.#describeBatch(unique.slice(i, i + NAMES_PER_CALL), found);
    }
    const answer: Record<string, AlarmStatus> = {};
    // One alarm at a time: DescribeAlarmHistory has a low per-account rate quota, and a
    // bake watches only a handful of alarms.
    for (const name of unique) {
      const alarm = found.get(name);
      if (alarm === undefined) {
        answer[name] = { state: 'MISSING', lastAlarmAt: null };
      } else if (alarm.state === 'ALARM') {
        answer[name] = { state: 'ALARM', lastAlarmAt: alarm.enteredAt };
      } else {
        answer[name] = {
          state: alarm.state,
          lastAlarmAt: await this.#lastAlarmInHistory(name, since),
        };
      }
    }
    return answer;
  }

  async #describeBatch(names: string[], found: Map<string, FoundAlarm>): Promise<void> {
    let nextToken: string | undefined;
    do {
      const input = {
        AlarmNames: names,
        AlarmTypes: ALARM_TYPES,
        MaxRecords: RECORDS_PER_PAGE,
        NextToken: nextToken,
      };
      let page: DescribeAlarmsCommandOutput;
      try {
        page = await this.#client.send(new DescribeAlarmsCommand(input));
      } catch (error) {
        throw awsError(error, `DescribeAlarms for ${names.length} alarms (${preview(names)})`);
      }
      for (const alarm of [...(page.CompositeAlarms ?? []), ...(page.MetricAlarms ?? [])]) {
        if (alarm.AlarmName === undefined) continue;
        // StateUpdatedTimestamp also moves when only the reason changes; the transition
        // time is when the alarm entered its current state.
        const enteredAt = alarm.StateTransitionedTimestamp ?? alarm.StateUpdatedTimestamp;
        found.set(alarm.AlarmName, {
          // An alarm without a state cannot be judged, which is what INSUFFICIENT_DATA says.
          state: alarm.StateValue ?? 'INSUFFICIENT_DATA',
          enteredAt: enteredAt?.toISOString() ?? null,
        });
      }
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
  }

  /** The newest time `name` went into ALARM from `startDate` on, newest history first. */
  async #lastAlarmInHistory(name: string, startDate: Date): Promise<string | null> {
    let nextToken: string | undefined;
    do {
      const input = {
        AlarmName: name,
        AlarmTypes: ALARM_TYPES,
        HistoryItemType: 'StateUpdate' as const,
        ScanBy: 'TimestampDescending' as const,
        StartDate: startDate,
        MaxRecords: RECORDS_PER_PAGE,
        NextToken: nextToken,
      };
      let page: DescribeAlarmHistoryCommandOutput;
      try {
        page = await this.#client.send(new DescribeAlarmHistoryCommand(input));
      } catch (error) {
        throw awsError(error, `DescribeAlarmHistory for alarm ${name}`);
      }
      const entered = (page.AlarmHistoryItems ?? []).find(enteredAlarm);
      if (entered?.Timestamp !== undefined) return entered.Timestamp.toISOString();
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    return null;
  }
}

interface FoundAlarm {
  readonly state: Exclude<AlarmState, 'MISSING'>;
  readonly enteredAt: string | null;
}

/** Whether a state-update history item is a transition into ALARM. */
function enteredAlarm(item: AlarmHistoryItem): boolean {
  if (item.Timestamp === undefined) return false;
  try {
    const data = JSON.parse(item.HistoryData ?? '') as { newState?: { stateValue?: unknown } };
    return data?.newState?.stateValue === 'ALARM';
  } catch {
    // Missing an ALARM would let a bad release through, so an unreadable item falls back
    // to its summary, "Alarm updated from OK to ALARM".
    return / to ALARM$/.test(item.HistorySummary ?? '');
  }
}

function preview(names: readonly string[]): string {
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')}, …`;
}
