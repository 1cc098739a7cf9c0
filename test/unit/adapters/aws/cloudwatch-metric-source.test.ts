import {
  CloudWatchClient,
  CloudWatchServiceException,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  CloudWatchMetricSource,
  type CloudWatchMetricSourceProps,
  metricWindow,
} from '../../../../adapters/aws/cloudwatch-metric-source.js';
import {
  RetryableError,
  type TargetDefinition,
  TerminalError,
  targetSchema,
} from '../../../../core/index.js';
import { target } from '../../../support/fixtures.js';

expect.extend(allCustomMatcher);

const cloudwatch = mockClient(CloudWatchClient);
const NOW = new Date('2026-11-23T10:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function source(props: Partial<CloudWatchMetricSourceProps> = {}): CloudWatchMetricSource {
  return new CloudWatchMetricSource({
    client: new CloudWatchClient({ region: 'eu-west-1' }),
    now: () => NOW,
    ...props,
  });
}

function targets(count: number): TargetDefinition[] {
  return Array.from({ length: count }, (_, i) => targetSchema.parse(target(`fleet-${i}`)));
}

function result(id: string, values: number[], status = 'Complete'): MetricDataResult {
  return {
    Id: id,
    Values: values,
    Timestamps: values.map(() => NOW),
    StatusCode: status as MetricDataResult['StatusCode'],
  };
}

/** Answers every query of a call with one data point of `value`. */
function answerEveryQuery(value: number) {
  return (input: GetMetricDataCommandInput) => ({
    MetricDataResults: (input.MetricDataQueries ?? []).map((q) => result(q.Id ?? '', [value])),
  });
}

function sentInputs(): GetMetricDataCommandInput[] {
  return cloudwatch.commandCalls(GetMetricDataCommand).map((call) => call.args[0].input);
}

beforeEach(() => {
  cloudwatch.reset();
});

describe('CloudWatchMetricSource', () => {
  it('sums every value of each target over every page, each target on its own', async () => {
    // Prepare
    cloudwatch
      .on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [
          result('t0', [10, 20], 'PartialData'),
          result('t1', [5], 'PartialData'),
          result('t2', [], 'PartialData'),
        ],
        NextToken: 'more',
      })
      .resolvesOnce({
        MetricDataResults: [result('t0', [1]), result('t1', []), result('t2', [100, 0.5])],
      });
    const from = new Date(NOW.getTime() - DAY);

    // Act
    const count = await source().countDataPoints({
      metric: 'Requests',
      targets: targets(3),
      from,
      to: NOW,
    });

    // Assess
    expect(count).toEqual({ 'fleet-0': 31, 'fleet-1': 5, 'fleet-2': 100.5 });
    expect(cloudwatch).toHaveReceivedCommandTimes(GetMetricDataCommand, 2);
    expect(cloudwatch).toHaveReceivedNthCommandWith(GetMetricDataCommand, 1, {
      StartTime: from,
      EndTime: NOW,
      MetricDataQueries: ['fleet-0', 'fleet-1', 'fleet-2'].map((id, i) => ({
        Id: `t${i}`,
        Label: id,
        MetricStat: {
          Metric: {
            Namespace: 'ReleaseCaptain',
            MetricName: 'Requests',
            Dimensions: [{ Name: 'Target', Value: id }],
          },
          Period: 60,
          Stat: 'Sum',
        },
      })),
    });
    expect(cloudwatch).toHaveReceivedNthCommandWith(GetMetricDataCommand, 2, {
      NextToken: 'more',
    });
  });

  it('asks for at most 500 queries per call, each id unique and well formed', async () => {
    // Prepare
    cloudwatch.on(GetMetricDataCommand).callsFake(answerEveryQuery(2));

    // Act
    const count = await source().countDataPoints({
      metric: 'Requests',
      targets: targets(1201),
      from: new Date(NOW.getTime() - DAY),
      to: NOW,
    });

    // Assess
    expect(Object.keys(count)).toEqual(targets(1201).map((t) => t.id));
    expect(Object.values(count).every((n) => n === 2)).toBe(true);
    const queries = sentInputs().map((input) => input.MetricDataQueries ?? []);
    expect(queries.map((batch) => batch.length)).toEqual([500, 500, 201]);
    const ids = queries.flat().map((q) => q.Id ?? '');
    expect(new Set(ids).size).toBe(1201);
    expect(ids.every((id) => /^[a-z][a-zA-Z0-9_]*$/.test(id))).toBe(true);
    expect(queries.flat().map((q) => q.Label)).toEqual(targets(1201).map((t) => t.id));
    // 500 queries of a day share 100,800 points: 201 each, so 8-minute periods (180 points).
    expect(sentInputs().map((input) => input.MetricDataQueries?.[0]?.MetricStat?.Period)).toEqual([
      480, 480, 480,
    ]);
  });

  it.each([
    { window: '24 h', ago: DAY, period: 60 },
    { window: '30 days', ago: 30 * DAY, period: 300 },
    { window: '70 days', ago: 70 * DAY, period: 3600 },
  ])('asks a $window window in periods of $period s', async ({ ago, period }) => {
    cloudwatch.on(GetMetricDataCommand).callsFake(answerEveryQuery(1));

    await source().countDataPoints({
      metric: 'Requests',
      targets: targets(1),
      from: new Date(NOW.getTime() - ago),
      to: NOW,
    });

    expect(sentInputs()[0]?.MetricDataQueries?.[0]?.MetricStat?.Period).toBe(period);
  });

  it('reads the metric where resolveMetric says it lives', async () => {
    // Prepare
    cloudwatch.on(GetMetricDataCommand).callsFake(answerEveryQuery(7));
    const resolveMetric = (metric: string, t: TargetDefinition) => ({
      namespace: 'AWS/ApplicationELB',
      dimensions: [
        { name: 'LoadBalancer', value: 'app/api/123' },
        { name: 'TargetGroup', value: `targetgroup/${t.id}/${metric.length}` },
      ],
    });

    // Act
    const count = await source({ resolveMetric }).countDataPoints({
      metric: 'RequestCount',
      targets: targets(2),
      from: new Date(NOW.getTime() - HOUR),
      to: NOW,
    });

    // Assess
    expect(count).toEqual({ 'fleet-0': 7, 'fleet-1': 7 });
    expect(sentInputs()[0]?.MetricDataQueries?.map((q) => q.MetricStat?.Metric)).toEqual(
      ['fleet-0', 'fleet-1'].map((id) => ({
        Namespace: 'AWS/ApplicationELB',
        MetricName: 'RequestCount',
        Dimensions: [
          { Name: 'LoadBalancer', Value: 'app/api/123' },
          { Name: 'TargetGroup', Value: `targetgroup/${id}/12` },
        ],
      })),
    );
  });

  it('queries a metric that two targets share, or a target listed twice, once, and gives each target its sum', async () => {
    // Prepare
    cloudwatch.on(GetMetricDataCommand).callsFake(answerEveryQuery(3));
    const [a, b] = targets(2) as [TargetDefinition, TargetDefinition];
    const shared = () => ({ namespace: 'Svc', dimensions: [{ name: 'Service', value: 'api' }] });

    // Act
    const twice = await source().countDataPoints({
      metric: 'Requests',
      targets: [a, b, a],
      from: new Date(NOW.getTime() - HOUR),
      to: NOW,
    });
    const sharing = await source({ resolveMetric: shared }).countDataPoints({
      metric: 'Requests',
      targets: [a, b],
      from: new Date(NOW.getTime() - HOUR),
      to: NOW,
    });

    // Assess
    expect({ twice, sharing }).toEqual({
      twice: { 'fleet-0': 3, 'fleet-1': 3 },
      sharing: { 'fleet-0': 3, 'fleet-1': 3 },
    });
    expect(sentInputs().map((input) => input.MetricDataQueries?.length)).toEqual([2, 1]);
  });

  it('clamps a window that ends in the future to now', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(answerEveryQuery(1));

    await source().countDataPoints({
      metric: 'Requests',
      targets: targets(1),
      from: new Date(NOW.getTime() - HOUR),
      to: new Date(NOW.getTime() + HOUR),
    });

    expect(cloudwatch).toHaveReceivedCommandExactlyOnceWith(GetMetricDataCommand, {
      StartTime: new Date(NOW.getTime() - HOUR),
      EndTime: NOW,
    });
  });

  it.each([
    { case: 'no targets', count: 0, from: NOW.getTime() - HOUR, to: NOW.getTime() },
    { case: 'from equal to to', count: 1, from: NOW.getTime(), to: NOW.getTime() },
    { case: 'from after to', count: 1, from: NOW.getTime(), to: NOW.getTime() - HOUR },
    { case: 'no whole minute', count: 1, from: NOW.getTime() - 90_000, to: NOW.getTime() - 40_000 },
    { case: 'from in the future', count: 1, from: NOW.getTime() + HOUR, to: NOW.getTime() + DAY },
  ])(
    'counts 0 for each target without asking CloudWatch for $case',
    async ({ count, from, to }) => {
      cloudwatch.on(GetMetricDataCommand).callsFake(answerEveryQuery(1));

      const counted = await source().countDataPoints({
        metric: 'Requests',
        targets: targets(count),
        from: new Date(from),
        to: new Date(to),
      });

      expect(counted).toEqual(Object.fromEntries(targets(count).map((t) => [t.id, 0])));
      expect(cloudwatch).not.toHaveReceivedAnyCommand();
    },
  );

  it('refuses an invalid window', async () => {
    const counting = source().countDataPoints({
      metric: 'Requests',
      targets: targets(1),
      from: new Date('nonsense'),
      to: NOW,
    });

    await expect(counting).rejects.toThrow(TerminalError);
    await expect(counting).rejects.toThrow('got from an invalid date to 2026-11-23T10:00:00.000Z');
    expect(cloudwatch).not.toHaveReceivedAnyCommand();
  });

  it.each([
    { status: 'Forbidden', expected: TerminalError },
    { status: 'InternalError', expected: RetryableError },
  ])('fails with a $expected.name when a result is $status', async ({ status, expected }) => {
    // Prepare
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        result('t0', [1]),
        { ...result('t1', [], status), Messages: [{ Code: status, Value: 'no access' }] },
      ],
    });

    // Act
    const counting = source().countDataPoints({
      metric: 'Requests',
      targets: targets(2),
      from: new Date(NOW.getTime() - HOUR),
      to: NOW,
    });

    // Assess
    await expect(counting).rejects.toThrow(expected);
    await expect(counting).rejects.toThrow(
      `metric Requests of target fleet-1 (status ${status}: no access)`,
    );
  });

  it('keeps reading pages after PartialData and fails on an error found on a later page', async () => {
    cloudwatch
      .on(GetMetricDataCommand)
      .resolvesOnce({ MetricDataResults: [result('t0', [1], 'PartialData')], NextToken: 'p2' })
      .resolvesOnce({ MetricDataResults: [result('t0', [], 'InternalError')] });

    const counting = source().countDataPoints({
      metric: 'Requests',
      targets: targets(1),
      from: new Date(NOW.getTime() - HOUR),
      to: NOW,
    });

    await expect(counting).rejects.toThrow(RetryableError);
    expect(cloudwatch).toHaveReceivedCommandTimes(GetMetricDataCommand, 2);
  });

  it('reads what a sparse answer holds', async () => {
    // Prepare
    cloudwatch
      .on(GetMetricDataCommand)
      .resolvesOnce({ NextToken: 'p2' })
      .resolvesOnce({ MetricDataResults: [{ Id: 't0' }, result('unknown', [4])] })
      .resolvesOnce({ MetricDataResults: [{ StatusCode: 'Forbidden' }] });
    const count = () =>
      source().countDataPoints({
        metric: 'Requests',
        targets: targets(1),
        from: new Date(NOW.getTime() - HOUR),
        to: NOW,
      });

    // Act
    const first = await count();
    const second = count();

    // Assess
    // A result for a query nobody asked for counts for no target.
    expect(first).toEqual({ 'fleet-0': 0 });
    await expect(second).rejects.toThrow(
      'GetMetricData was refused metric Requests of target (query without an id) (status Forbidden).',
    );
  });

  it('ends the window at the current time by default', async () => {
    // Prepare
    cloudwatch.on(GetMetricDataCommand).callsFake(answerEveryQuery(1));
    const later = new Date(Date.now() + DAY);

    // Act
    await new CloudWatchMetricSource({ client: new CloudWatchClient({}) }).countDataPoints({
      metric: 'Requests',
      targets: targets(1),
      from: new Date(Date.now() - HOUR),
      to: later,
    });

    // Assess
    const end = sentInputs()[0]?.EndTime as Date;
    expect(end.getTime()).toBeLessThanOrEqual(Date.now());
    expect(end.getTime()).toBeGreaterThan(Date.now() - 2 * 60_000);
  });

  it.each([
    { name: 'Throttling', status: 400, expected: RetryableError },
    { name: 'InternalServiceError', status: 500, expected: RetryableError },
    { name: 'AccessDenied', status: 403, expected: TerminalError },
  ])('turns $name into a $expected.name', async ({ name, status, expected }) => {
    // Prepare
    const error = new CloudWatchServiceException({
      name,
      message: 'refused or slow',
      $fault: status >= 500 ? 'server' : 'client',
      $metadata: { httpStatusCode: status },
    });
    cloudwatch.on(GetMetricDataCommand).rejects(error);

    // Act
    const counting = source().countDataPoints({
      metric: 'Requests',
      targets: targets(2),
      from: new Date(NOW.getTime() - HOUR),
      to: NOW,
    });

    // Assess
    await expect(counting).rejects.toThrow(expected);
    await expect(counting).rejects.toThrow('GetMetricData for Requests of 2 targets');
    await expect(counting).rejects.toHaveProperty('cause', error);
  });
});

describe('metricWindow', () => {
  const at = (iso: string) => new Date(iso);

  it.each([
    {
      case: 'a day of one target: 1-minute periods',
      from: '2026-11-22T10:00:00Z',
      to: '2026-11-23T10:00:00Z',
      queriesPerCall: 1,
      expected: { start: '2026-11-22T10:00:00Z', end: '2026-11-23T10:00:00Z', periodSeconds: 60 },
    },
    {
      case: 'a day of 500 targets: periods that fit 100,800 points and divide the day',
      from: '2026-11-22T10:00:00Z',
      to: '2026-11-23T10:00:00Z',
      queriesPerCall: 500,
      expected: { start: '2026-11-22T10:00:00Z', end: '2026-11-23T10:00:00Z', periodSeconds: 480 },
    },
    {
      case: 'unaligned ends narrowed to whole minutes, 1439 minutes (a prime)',
      from: '2026-11-22T10:00:30Z',
      to: '2026-11-23T12:00:00Z',
      queriesPerCall: 500,
      expected: {
        start: '2026-11-22T10:01:00Z',
        end: '2026-11-23T10:00:00Z',
        periodSeconds: 86_340,
      },
    },
    {
      case: '30 days: 5-minute data only',
      from: '2026-10-24T09:58:00Z',
      to: '2026-11-23T10:00:00Z',
      queriesPerCall: 1,
      expected: { start: '2026-10-24T10:00:00Z', end: '2026-11-23T10:00:00Z', periodSeconds: 300 },
    },
    {
      case: '70 days: hourly data only',
      from: '2026-09-14T09:10:00Z',
      to: '2026-09-20T09:50:00Z',
      queriesPerCall: 1,
      expected: {
        start: '2026-09-14T10:00:00Z',
        end: '2026-09-20T09:00:00Z',
        periodSeconds: 3600,
      },
    },
  ])('$case', ({ from, to, queriesPerCall, expected }) => {
    const window = metricWindow({ from: at(from), to: at(to), now: NOW, queriesPerCall });

    expect(window).toEqual({
      start: at(expected.start),
      end: at(expected.end),
      periodSeconds: expected.periodSeconds,
    });
  });

  it.each([
    { ago: 15 * DAY - 60_000, resolution: 60 },
    { ago: 15 * DAY, resolution: 300 },
    { ago: 63 * DAY - 300_000, resolution: 300 },
    { ago: 63 * DAY, resolution: 3600 },
  ])('uses $resolution s data from $ago ms ago', ({ ago, resolution }) => {
    const from = new Date(NOW.getTime() - ago);

    const window = metricWindow({ from, to: NOW, now: NOW, queriesPerCall: 1 });

    expect(window?.periodSeconds).toBe(resolution);
  });

  it('never reaches outside the window, tiles it in whole periods and fits one page', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 * DAY }),
        fc.integer({ min: -DAY, max: 100 * DAY }),
        fc.integer({ min: 1, max: 500 }),
        (ago, length, queriesPerCall) => {
          const from = new Date(NOW.getTime() - ago);
          const to = new Date(from.getTime() + length);
          const window = metricWindow({ from, to, now: NOW, queriesPerCall });
          if (window === null) return;
          const span = window.end.getTime() - window.start.getTime();
          expect(window.start.getTime()).toBeGreaterThanOrEqual(from.getTime());
          expect(window.end.getTime()).toBeLessThanOrEqual(Math.min(to.getTime(), NOW.getTime()));
          expect(window.periodSeconds % 60).toBe(0);
          expect(span % (window.periodSeconds * 1000)).toBe(0);
          expect((span / (window.periodSeconds * 1000)) * queriesPerCall).toBeLessThanOrEqual(
            100_800,
          );
        },
      ),
    );
  });

  it('is null for an invalid date', () => {
    expect(metricWindow({ from: at('nonsense'), to: NOW, now: NOW, queriesPerCall: 1 })).toBeNull();
  });

  it('is null when no whole period fits', () => {
    expect(
      metricWindow({
        from: at('2026-11-23T09:58:10Z'),
        to: at('2026-11-23T09:59:50Z'),
        now: NOW,
        queriesPerCall: 1,
      }),
    ).toBeNull();
  });
});
