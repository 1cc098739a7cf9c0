import {
  type AlarmHistoryItem,
  CloudWatchClient,
  CloudWatchServiceException,
  type CompositeAlarm,
  DescribeAlarmHistoryCommand,
  DescribeAlarmsCommand,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchAlarmMonitor } from '../../../../adapters/aws/cloudwatch-alarm-monitor.js';
import { RetryableError, TerminalError } from '../../../../core/index.js';

expect.extend(allCustomMatcher);

const cloudwatch = mockClient(CloudWatchClient);
const NOW = new Date('2026-11-23T10:00:00.000Z');

function monitor(historyLookbackHours?: number): CloudWatchAlarmMonitor {
  return new CloudWatchAlarmMonitor({
    client: new CloudWatchClient({ region: 'eu-west-1' }),
    now: () => NOW,
    ...(historyLookbackHours === undefined ? {} : { historyLookbackHours }),
  });
}

function metricAlarm(name: string, state: MetricAlarm['StateValue'], at?: string): MetricAlarm {
  return {
    AlarmName: name,
    StateValue: state,
    StateTransitionedTimestamp: at === undefined ? undefined : new Date(at),
    StateUpdatedTimestamp: new Date('2026-11-23T09:59:00.000Z'),
  };
}

function compositeAlarm(name: string, state: CompositeAlarm['StateValue'], at?: string) {
  return { ...metricAlarm(name, state, at), AlarmRule: 'ALARM(a) OR ALARM(b)' } as CompositeAlarm;
}

function stateUpdate(from: string, to: string, at: string): AlarmHistoryItem {
  return {
    Timestamp: new Date(at),
    HistoryItemType: 'StateUpdate',
    HistorySummary: `Alarm updated from ${from} to ${to}`,
    HistoryData: JSON.stringify({
      version: '1.0',
      oldState: { stateValue: from },
      newState: { stateValue: to, stateReason: 'Threshold Crossed' },
    }),
  };
}

function sdkError(name: string, message: string, status: number): CloudWatchServiceException {
  return new CloudWatchServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

beforeEach(() => {
  cloudwatch.reset();
  cloudwatch.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [] });
});

describe('CloudWatchAlarmMonitor', () => {
  it('answers composite and metric alarms with their states, and MISSING for the rest', async () => {
    // Prepare
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      CompositeAlarms: [compositeAlarm('team-aggregate', 'OK')],
      MetricAlarms: [
        metricAlarm('api-latency', 'INSUFFICIENT_DATA'),
        metricAlarm('api-faults', 'ALARM', '2026-11-23T09:40:00.000Z'),
      ],
    });

    // Act
    const answer = await monitor().describeAlarms([
      'team-aggregate',
      'api-latency',
      'api-faults',
      'no-such-alarm',
    ]);

    // Assess
    expect(answer).toEqual({
      'team-aggregate': { state: 'OK', lastAlarmAt: null },
      'api-latency': { state: 'INSUFFICIENT_DATA', lastAlarmAt: null },
      'api-faults': { state: 'ALARM', lastAlarmAt: '2026-11-23T09:40:00.000Z' },
      'no-such-alarm': { state: 'MISSING', lastAlarmAt: null },
    });
    expect(cloudwatch).toHaveReceivedCommandExactlyOnceWith(DescribeAlarmsCommand, {
      AlarmNames: ['team-aggregate', 'api-latency', 'api-faults', 'no-such-alarm'],
      AlarmTypes: ['CompositeAlarm', 'MetricAlarm'],
      MaxRecords: 100,
    });
  });

  it('answers an empty question without calling CloudWatch', async () => {
    expect(await monitor().describeAlarms([])).toEqual({});
    expect(cloudwatch).not.toHaveReceivedAnyCommand();
  });

  it('asks for at most 100 names per call', async () => {
    // Prepare
    const names = Array.from({ length: 250 }, (_, i) => `alarm-${i}`);
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });

    // Act
    const answer = await monitor().describeAlarms(names);

    // Assess
    const asked = cloudwatch.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input);
    expect(asked.map((input) => input.AlarmNames)).toEqual([
      names.slice(0, 100),
      names.slice(100, 200),
      names.slice(200),
    ]);
    expect(Object.keys(answer)).toHaveLength(250);
    expect(answer['alarm-249']).toEqual({ state: 'MISSING', lastAlarmAt: null });
  });

  it('follows NextToken until the last page', async () => {
    // Prepare
    cloudwatch
      .on(DescribeAlarmsCommand)
      .resolvesOnce({
        MetricAlarms: [metricAlarm('a', 'ALARM', '2026-11-23T09:00:00Z')],
        NextToken: 'p2',
      })
      .resolvesOnce({ CompositeAlarms: [compositeAlarm('b', 'ALARM', '2026-11-23T09:30:00Z')] });

    // Act
    const answer = await monitor().describeAlarms(['a', 'b']);

    // Assess
    expect(answer).toEqual({
      a: { state: 'ALARM', lastAlarmAt: '2026-11-23T09:00:00.000Z' },
      b: { state: 'ALARM', lastAlarmAt: '2026-11-23T09:30:00.000Z' },
    });
    expect(cloudwatch).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 2);
    expect(cloudwatch).toHaveReceivedNthCommandWith(DescribeAlarmsCommand, 2, {
      NextToken: 'p2',
    });
  });

  it('falls back to StateUpdatedTimestamp for an alarm in ALARM without a transition time', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [metricAlarm('a', 'ALARM')] });

    const answer = await monitor().describeAlarms(['a']);

    expect(answer.a).toEqual({ state: 'ALARM', lastAlarmAt: '2026-11-23T09:59:00.000Z' });
  });

  it('finds in the history an ALARM that came and went: the newest entry into ALARM', async () => {
    // Prepare
    cloudwatch
      .on(DescribeAlarmsCommand)
      .resolves({ CompositeAlarms: [compositeAlarm('agg', 'OK')] });
    cloudwatch.on(DescribeAlarmHistoryCommand, { AlarmName: 'agg' }).resolves({
      AlarmHistoryItems: [
        stateUpdate('ALARM', 'OK', '2026-11-23T09:20:00.000Z'),
        stateUpdate('OK', 'ALARM', '2026-11-23T09:15:00.000Z'),
        stateUpdate('ALARM', 'OK', '2026-11-22T20:00:00.000Z'),
        stateUpdate('INSUFFICIENT_DATA', 'ALARM', '2026-11-22T19:00:00.000Z'),
      ],
    });

    // Act
    const answer = await monitor().describeAlarms(['agg']);

    // Assess
    expect(answer.agg).toEqual({ state: 'OK', lastAlarmAt: '2026-11-23T09:15:00.000Z' });
    expect(cloudwatch).toHaveReceivedCommandExactlyOnceWith(DescribeAlarmHistoryCommand, {
      AlarmName: 'agg',
      AlarmTypes: ['CompositeAlarm', 'MetricAlarm'],
      HistoryItemType: 'StateUpdate',
      ScanBy: 'TimestampDescending',
      StartDate: new Date('2026-11-21T10:00:00.000Z'),
      MaxRecords: 100,
    });
  });

  it.each([
    { hours: undefined, startDate: '2026-11-21T10:00:00.000Z' },
    { hours: 12, startDate: '2026-11-22T22:00:00.000Z' },
    { hours: 0.5, startDate: '2026-11-23T09:30:00.000Z' },
  ])('looks back $hours hours (default 48) in the history', async ({ hours, startDate }) => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [metricAlarm('a', 'OK')] });

    await monitor(hours).describeAlarms(['a']);

    expect(cloudwatch).toHaveReceivedCommandWith(DescribeAlarmHistoryCommand, {
      StartDate: new Date(startDate),
    });
  });

  it('pages through the history until it finds an entry into ALARM', async () => {
    // Prepare
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [metricAlarm('a', 'OK')] });
    cloudwatch
      .on(DescribeAlarmHistoryCommand)
      .resolvesOnce({
        AlarmHistoryItems: [stateUpdate('INSUFFICIENT_DATA', 'OK', '2026-11-23T08:00:00Z')],
        NextToken: 'h2',
      })
      .resolvesOnce({
        AlarmHistoryItems: [stateUpdate('OK', 'ALARM', '2026-11-23T07:00:00Z')],
        NextToken: 'h3',
      });

    // Act
    const answer = await monitor().describeAlarms(['a']);

    // Assess
    expect(answer.a).toEqual({ state: 'OK', lastAlarmAt: '2026-11-23T07:00:00.000Z' });
    expect(cloudwatch).toHaveReceivedCommandTimes(DescribeAlarmHistoryCommand, 2);
    expect(cloudwatch).toHaveReceivedNthCommandWith(DescribeAlarmHistoryCommand, 2, {
      NextToken: 'h2',
    });
  });

  it('reports no ALARM when the history within the look-back has none', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [metricAlarm('a', 'OK')] });
    cloudwatch.on(DescribeAlarmHistoryCommand).resolves({
      AlarmHistoryItems: [
        stateUpdate('INSUFFICIENT_DATA', 'OK', '2026-11-23T08:00:00Z'),
        stateUpdate('OK', 'INSUFFICIENT_DATA', '2026-11-23T07:00:00Z'),
      ],
    });

    expect(await monitor().describeAlarms(['a'])).toEqual({
      a: { state: 'OK', lastAlarmAt: null },
    });
  });

  it('reads an entry into ALARM from the summary when its HistoryData is not JSON', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [metricAlarm('a', 'OK')] });
    cloudwatch.on(DescribeAlarmHistoryCommand).resolves({
      AlarmHistoryItems: [
        { ...stateUpdate('ALARM', 'OK', '2026-11-23T08:00:00Z'), HistoryData: '{' },
        { ...stateUpdate('OK', 'ALARM', '2026-11-23T07:00:00Z'), HistoryData: 'not json' },
      ],
    });

    const answer = await monitor().describeAlarms(['a']);

    expect(answer.a?.lastAlarmAt).toBe('2026-11-23T07:00:00.000Z');
  });

  it('reads the history only of alarms that exist and are not in ALARM', async () => {
    // Prepare
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        metricAlarm('firing', 'ALARM', '2026-11-23T09:00:00Z'),
        metricAlarm('quiet', 'OK'),
        metricAlarm('no-data', 'INSUFFICIENT_DATA'),
      ],
    });

    // Act
    await monitor().describeAlarms(['firing', 'quiet', 'no-data', 'missing']);

    // Assess
    const asked = cloudwatch.commandCalls(DescribeAlarmHistoryCommand);
    expect(asked.map((c) => c.args[0].input.AlarmName)).toEqual(['quiet', 'no-data']);
  });

  it('answers a name asked twice once', async () => {
    // Prepare
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [metricAlarm('a', 'OK')] });

    // Act
    const answer = await monitor().describeAlarms(['a', 'b', 'a']);

    // Assess
    expect(answer).toEqual({
      a: { state: 'OK', lastAlarmAt: null },
      b: { state: 'MISSING', lastAlarmAt: null },
    });
    expect(cloudwatch).toHaveReceivedCommandExactlyOnceWith(DescribeAlarmsCommand, {
      AlarmNames: ['a', 'b'],
    });
    expect(cloudwatch).toHaveReceivedCommandTimes(DescribeAlarmHistoryCommand, 1);
  });

  it.each([
    { call: 'DescribeAlarms', name: 'Throttling', status: 400, expected: RetryableError },
    { call: 'DescribeAlarms', name: 'InternalServiceError', status: 500, expected: RetryableError },
    { call: 'DescribeAlarms', name: 'AccessDenied', status: 403, expected: TerminalError },
    { call: 'DescribeAlarmHistory', name: 'Throttling', status: 400, expected: RetryableError },
    { call: 'DescribeAlarmHistory', name: 'AccessDenied', status: 403, expected: TerminalError },
  ])('turns $name from $call into a $expected.name', async ({ call, name, status, expected }) => {
    // Prepare
    const error = sdkError(name, 'refused or slow', status);
    if (call === 'DescribeAlarms') {
      cloudwatch.on(DescribeAlarmsCommand).rejects(error);
    } else {
      cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [metricAlarm('a', 'OK')] });
      cloudwatch.on(DescribeAlarmHistoryCommand).rejects(error);
    }

    // Act
    const answer = monitor().describeAlarms(['a']);

    // Assess
    await expect(answer).rejects.toThrow(expected);
    await expect(answer).rejects.toThrow(call === 'DescribeAlarms' ? '(a)' : 'alarm a');
    await expect(answer).rejects.toHaveProperty('cause', error);
  });

  it('reads what a sparse answer holds and skips what it cannot place', async () => {
    // Prepare
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        { StateValue: 'ALARM' },
        { AlarmName: 'no-state' },
        { AlarmName: 'no-time', StateValue: 'ALARM' },
      ],
    });
    cloudwatch
      .on(DescribeAlarmHistoryCommand)
      .resolvesOnce({
        AlarmHistoryItems: [
          { ...stateUpdate('OK', 'ALARM', '2026-11-23T09:00:00Z'), Timestamp: undefined },
          { Timestamp: new Date('2026-11-23T08:30:00Z') },
        ],
        NextToken: 'h2',
      })
      .resolvesOnce({});

    // Act
    const answer = await monitor().describeAlarms(['no-state', 'no-time']);

    // Assess
    expect(answer).toEqual({
      'no-state': { state: 'INSUFFICIENT_DATA', lastAlarmAt: null },
      'no-time': { state: 'ALARM', lastAlarmAt: null },
    });
  });

  it('looks back from the current time by default', async () => {
    // Prepare
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [metricAlarm('a', 'OK')] });
    const before = Date.now();

    // Act
    await new CloudWatchAlarmMonitor({ client: new CloudWatchClient({}) }).describeAlarms(['a']);

    // Assess
    const startDate = cloudwatch.commandCalls(DescribeAlarmHistoryCommand)[0]?.args[0].input
      .StartDate as Date;
    expect(startDate.getTime()).toBeGreaterThanOrEqual(before - 48 * 3_600_000);
    expect(startDate.getTime()).toBeLessThanOrEqual(Date.now() - 48 * 3_600_000);
  });

  it('names the first few alarms of a batch that failed', async () => {
    cloudwatch.on(DescribeAlarmsCommand).rejects(sdkError('Throttling', 'Rate exceeded', 400));

    const answer = monitor().describeAlarms(['a', 'b', 'c', 'd']);

    await expect(answer).rejects.toThrow(
      'DescribeAlarms for 4 alarms (a, b, c, …) was throttled: Rate exceeded',
    );
  });

  it.each([0, -1, 721, Number.NaN])('refuses a look-back of %s hours', (hours) => {
    expect(() => monitor(hours)).toThrow(TerminalError);
    expect(() => monitor(hours)).toThrow(`got ${hours}`);
  });
});
