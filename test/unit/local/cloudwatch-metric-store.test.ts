import { describe, expect, it } from 'vitest';
import { ManualClock, parsePipelineDefinition } from '../../../core/index.js';
import {
  LocalMetricSource,
  LocalMetricStore,
  type MetricDatum,
  type Statistic,
} from '../../../local/metric-store.js';
import { stage, T0, target } from '../../support/fixtures.js';

const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000);
const latency = (value: number, seconds: number, box = '0'): MetricDatum => ({
  metric: 'Latency',
  dimensions: { target: 'beta-t1', box },
  value,
  at: at(seconds),
});

describe('LocalMetricStore statistics', () => {
  // Ten values 1..10, put out of time order so that both sorting paths are exercised.
  const clock = new ManualClock(at(600));
  const store = new LocalMetricStore(clock);
  for (const [i, value] of [7, 3, 10, 1, 9, 2, 8, 5, 4, 6].entries()) {
    store.put(latency(value, (i * 37) % 300));
  }
  const window = { metric: 'Latency', dimensions: { target: 'beta-t1' }, from: at(0), to: at(600) };

  it.each<[Statistic, number]>([
    ['Sum', 55],
    ['Average', 5.5],
    ['Maximum', 10],
    ['Minimum', 1],
    ['SampleCount', 10],
    ['p0', 1],
    ['p10', 1],
    ['p11', 2],
    ['p50', 5],
    ['p90', 9],
    ['p91', 10],
    ['p99', 10],
    ['p99.9', 10],
    ['p100', 10],
  ])('%s of 1..10 is %d (percentiles by nearest rank)', (statistic, expected) => {
    expect(store.statistic({ ...window, statistic })).toBe(expected);
  });

  it.each<Statistic>(['Sum', 'SampleCount', 'p50', 'Maximum'])(
    'has no %s where there is no data',
    (statistic) => {
      expect(store.statistic({ ...window, statistic, from: at(300), to: at(600) })).toBeNull();
      expect(store.statistic({ ...window, statistic, metric: 'Other' })).toBeNull();
    },
  );

  it.each(['avg', 'P99', 'p101', 'p', 'p-1', 'sum'])('refuses the statistic %s', (statistic) => {
    expect(() => store.statistic({ ...window, statistic: statistic as Statistic })).toThrow(
      `Unknown statistic "${statistic}"; use Sum, Average, Maximum, Minimum, SampleCount or a percentile`,
    );
  });
});

describe('LocalMetricStore queries', () => {
  it('counts a point at `from` and not one at `to`', () => {
    const store = new LocalMetricStore(new ManualClock(at(600)));
    store.put(latency(1, 59.999));
    store.put(latency(10, 60));
    store.put(latency(100, 120));
    const sum = (from: number, to: number) =>
      store.statistic({
        metric: 'Latency',
        dimensions: {},
        statistic: 'Sum',
        from: at(from),
        to: at(to),
      });
    expect(sum(60, 120)).toBe(10);
    expect(sum(0, 60)).toBe(1);
    expect(sum(0, 120.001)).toBe(111);
  });

  it('matches every series having the asked dimensions, and keeps namespaces apart', () => {
    const store = new LocalMetricStore(new ManualClock(at(600)));
    store.put(latency(1, 0, '0'));
    store.put(latency(2, 0, '1'));
    store.put({
      metric: 'Latency',
      dimensions: { target: 'gamma-t1', box: '0' },
      value: 4,
      at: at(0),
    });
    store.put({
      namespace: 'Other',
      metric: 'Latency',
      dimensions: { target: 'beta-t1' },
      value: 8,
      at: at(0),
    });
    const sum = (dimensions: Record<string, string>, namespace?: string) =>
      store.statistic({
        ...(namespace === undefined ? {} : { namespace }),
        metric: 'Latency',
        dimensions,
        statistic: 'Sum',
        from: at(0),
        to: at(60),
      });
    expect(sum({ target: 'beta-t1' })).toBe(3);
    expect(sum({ box: '1', target: 'beta-t1' })).toBe(2);
    expect(sum({ box: '0' })).toBe(5);
    expect(sum({})).toBe(7);
    expect(sum({ target: 'beta-t1', region: 'eu-west-1' })).toBeNull();
    expect(sum({ target: 'beta-t1' }, 'ReleaseCaptain')).toBe(3);
    expect(sum({ target: 'beta-t1' }, 'Other')).toBe(8);
  });

  it('gives one value per period aligned to the period, null where nothing came', () => {
    const store = new LocalMetricStore(new ManualClock(at(600)));
    store.put(latency(3, 10));
    store.put(latency(5, 50));
    store.put(latency(7, 150));
    store.put(latency(9, 180)); // the first instant of the period after the last one asked
    const series = store.series({
      metric: 'Latency',
      dimensions: { target: 'beta-t1' },
      statistic: 'Maximum',
      periodSeconds: 60,
      from: at(30),
      to: at(180),
    });
    expect(series).toEqual([
      { start: at(0), value: 5 },
      { start: at(60), value: null },
      { start: at(120), value: 7 },
    ]);
  });

  it('refuses bad data points and periods, naming the value', () => {
    const store = new LocalMetricStore(new ManualClock(at(0)));
    expect(() => store.put({ ...latency(1, 0), value: Number.NaN })).toThrow(
      'A data point needs a metric name, a finite value and a valid time, got metric "Latency", value NaN',
    );
    expect(() => store.put({ ...latency(1, 0), at: new Date('nope') })).toThrow('a valid time');
    expect(() =>
      store.series({
        metric: 'Latency',
        dimensions: {},
        statistic: 'Sum',
        periodSeconds: 0.5,
        from: at(0),
        to: at(60),
      }),
    ).toThrow('periodSeconds must be a whole number of seconds above 0, got 0.5');
    expect(() => new LocalMetricStore(new ManualClock(at(0)), { retentionSeconds: 0 })).toThrow(
      'retentionSeconds must be a number of seconds above 0, got 0',
    );
  });
});

describe('LocalMetricStore retention', () => {
  it('never shows points older than the retention window and drops them from memory', () => {
    const clock = new ManualClock(T0);
    const store = new LocalMetricStore(clock, { retentionSeconds: 600 });
    store.put(latency(1, 0));
    clock.advance(590);
    store.put(latency(2, 300)); // the store tidies itself now, at 590 s
    clock.advance(11); // 601 s: the first point is outside the window, though not yet dropped
    const all = {
      metric: 'Latency',
      dimensions: {},
      statistic: 'Sum' as const,
      from: at(-3600),
      to: at(3600),
    };
    expect(store.statistic(all)).toBe(2);
    expect(store.size).toBe(1);

    // A point already older than the window is not kept.
    store.put(latency(100, 0.5));
    expect(store.size).toBe(1);
    expect(store.statistic(all)).toBe(2);
  });

  it('keeps memory bounded however long it runs', () => {
    const clock = new ManualClock(T0);
    const store = new LocalMetricStore(clock, { retentionSeconds: 3600 });
    for (let minute = 0; minute < 24 * 60; minute++) {
      store.put({ ...latency(minute, 0), at: clock.now() });
      store.put({ ...latency(minute, 0, '1'), at: clock.now() });
      clock.advance(60);
    }
    // One hour of two points a minute: 60 minutes back from now, now excluded.
    expect(store.size).toBe(120);
    expect(store.retentionSeconds).toBe(3600);
  });
});

describe('LocalMetricSource', () => {
  const definition = parsePipelineDefinition({
    name: 'api',
    kind: 'application',
    source: { repository: 'api', branch: 'main' },
    stages: [
      stage('beta', null, { targets: [target('beta-t1'), target('beta-t2')] }),
      stage('gamma', 'beta'),
    ],
  });
  const [beta, gamma] = definition.stages;
  const betaTargets = beta?.targets ?? [];
  const gammaTargets = gamma?.targets ?? [];
  const clock = new ManualClock(at(3600));
  const store = new LocalMetricStore(clock);
  const request = (
    target: string,
    seconds: number,
    value = 1,
    box = '0',
    metric = 'RequestCount',
  ) => store.put({ metric, dimensions: { target, box }, value, at: at(seconds) });
  request('beta-t1', 0); // at `from`: counted
  request('beta-t1', 10, 1, '1');
  request('beta-t2', 20, 5); // a count of five requests
  request('beta-t1', 30, 1, '0', 'Fault'); // another metric
  request('gamma-t1', 40); // another stage's target
  request('beta-t1', 60); // at `to`: not counted
  request('beta-t1', -0.001); // before `from`
  const source = new LocalMetricSource(store);
  const count = (targets: typeof betaTargets, from = 0, to = 60, metric = 'RequestCount') =>
    source.countDataPoints({ metric, targets, from: at(from), to: at(to) });

  it('sums the metric over every box of each target, in [from, to)', async () => {
    expect(await count(betaTargets)).toEqual({ 'beta-t1': 2, 'beta-t2': 5 });
    expect(await count(gammaTargets)).toEqual({ 'gamma-t1': 1 });
    expect(await count([...betaTargets, ...gammaTargets])).toEqual({
      'beta-t1': 2,
      'beta-t2': 5,
      'gamma-t1': 1,
    });
    expect(await count(betaTargets, 0, 60, 'Fault')).toEqual({ 'beta-t1': 1, 'beta-t2': 0 });
  });

  it('counts a target named twice once, and nothing for no targets or an empty window', async () => {
    const none = { 'beta-t1': 0, 'beta-t2': 0 };
    expect(await count([...betaTargets, ...betaTargets])).toEqual({ 'beta-t1': 2, 'beta-t2': 5 });
    expect(await count([])).toEqual({});
    expect(await count(betaTargets, 30, 30)).toEqual(none);
    expect(await count(betaTargets, 60, 0)).toEqual(none);
  });

  it('reads another namespace when told', async () => {
    store.put({
      namespace: 'Canary',
      metric: 'RequestCount',
      dimensions: { target: 'beta-t1' },
      value: 4,
      at: at(5),
    });
    const canary = new LocalMetricSource(store, 'Canary');
    expect(
      await canary.countDataPoints({
        metric: 'RequestCount',
        targets: betaTargets,
        from: at(0),
        to: at(60),
      }),
    ).toEqual({ 'beta-t1': 4, 'beta-t2': 0 });
    expect(await count(betaTargets)).toEqual({ 'beta-t1': 2, 'beta-t2': 5 });
  });
});
