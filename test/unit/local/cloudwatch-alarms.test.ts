import { describe, expect, it } from 'vitest';
import { ManualClock, NotFoundError } from '../../../core/index.js';
import {
  type AlarmStateChange,
  type ComparisonOperator,
  decideMetricAlarm,
  type LocalAlarmState,
  LocalAlarms,
  type MetricAlarmDefinition,
  type TreatMissingData,
} from '../../../local/alarms.js';
import { LocalMetricStore } from '../../../local/metric-store.js';
import { T0 } from '../../support/fixtures.js';

const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();

/** An alarm set on a store, with every change its listener heard. */
function setUp(options: { evaluationIntervalSeconds?: number } = {}) {
  const clock = new ManualClock(T0);
  const store = new LocalMetricStore(clock);
  const alarms = new LocalAlarms(store, clock, options);
  const heard: AlarmStateChange[] = [];
  alarms.onChange((change) => heard.push(change));
  /** Puts `value` of `metric` for target beta-t1 `seconds` after T0. */
  const put = (metric: string, seconds: number, value: number) =>
    store.put({ metric, dimensions: { target: 'beta-t1', box: '0' }, value, at: at(seconds) });
  /** Moves the clock to `seconds` after T0. */
  const to = (seconds: number) =>
    clock.advance((at(seconds).getTime() - clock.now().getTime()) / 1000);
  return { clock, store, alarms, heard, put, to };
}

const latencyAlarm = (
  overrides: Partial<Extract<MetricAlarmDefinition, { metric: string }>> = {},
): MetricAlarmDefinition => ({
  name: 'beta-latency',
  metric: 'Latency',
  dimensions: { target: 'beta-t1' },
  statistic: 'Maximum',
  periodSeconds: 60,
  evaluationPeriods: 1,
  threshold: 100,
  comparison: 'GreaterThanThreshold',
  ...overrides,
});

describe('decideMetricAlarm', () => {
  // 2 of 3, breaching above 5. `-` is a missing period.
  const decide = (
    values: string,
    treatMissingData: TreatMissingData,
    current: LocalAlarmState = 'OK',
  ) =>
    decideMetricAlarm({
      values: values.split(' ').map((v) => (v === '-' ? null : Number(v))),
      threshold: 5,
      comparison: 'GreaterThanThreshold',
      datapointsToAlarm: 2,
      treatMissingData,
      current,
    }).state;

  it.each<[string, TreatMissingData, LocalAlarmState, LocalAlarmState]>([
    // values    mode            current              → state
    ['9 9 1', 'missing', 'OK', 'ALARM'],
    ['9 1 9', 'notBreaching', 'OK', 'ALARM'],
    ['1 9 1', 'breaching', 'ALARM', 'OK'],
    ['5 5 5', 'missing', 'ALARM', 'OK'], // equal to the threshold is not greater
    ['9 - 1', 'breaching', 'OK', 'ALARM'],
    ['9 - 1', 'notBreaching', 'ALARM', 'OK'],
    ['9 - 1', 'missing', 'ALARM', 'OK'],
    ['9 - 1', 'ignore', 'ALARM', 'ALARM'], // undecided: the missing period could breach
    ['9 - 1', 'ignore', 'OK', 'OK'],
    ['- - -', 'breaching', 'OK', 'ALARM'],
    ['- - -', 'notBreaching', 'ALARM', 'OK'],
    ['- - -', 'missing', 'OK', 'INSUFFICIENT_DATA'],
    ['- - -', 'ignore', 'ALARM', 'ALARM'],
    ['- - -', 'ignore', 'INSUFFICIENT_DATA', 'INSUFFICIENT_DATA'],
    ['- 9 -', 'missing', 'ALARM', 'OK'],
    ['- 9 -', 'breaching', 'OK', 'ALARM'],
    ['1 1 -', 'ignore', 'ALARM', 'OK'], // decided: two good periods leave no room for two breaches
    ['9 9 -', 'ignore', 'OK', 'ALARM'],
    ['- 1 -', 'ignore', 'INSUFFICIENT_DATA', 'INSUFFICIENT_DATA'],
  ])('%s treating missing data as %s, from %s, is %s', (values, mode, current, expected) => {
    expect(decide(values, mode, current)).toBe(expected);
  });

  it('says what it saw', () => {
    expect(
      decideMetricAlarm({
        values: [0.2, null, 0.01],
        threshold: 0.05,
        comparison: 'GreaterThanThreshold',
        datapointsToAlarm: 2,
        treatMissingData: 'breaching',
        current: 'OK',
      }).reason,
    ).toBe(
      '1 of the last 3 periods [0.2, missing, 0.01] were greater than the threshold (0.05); 2 needed for ALARM, missing data treated as breaching',
    );
  });
});

describe('LocalAlarms metric alarms', () => {
  it.each<[ComparisonOperator, number, LocalAlarmState]>([
    ['GreaterThanThreshold', 101, 'ALARM'],
    ['GreaterThanThreshold', 100, 'OK'],
    ['GreaterThanOrEqualToThreshold', 100, 'ALARM'],
    ['GreaterThanOrEqualToThreshold', 99, 'OK'],
    ['LessThanThreshold', 99, 'ALARM'],
    ['LessThanThreshold', 100, 'OK'],
    ['LessThanOrEqualToThreshold', 100, 'ALARM'],
    ['LessThanOrEqualToThreshold', 101, 'OK'],
  ])('%s 100 with %d is %s', (comparison, value, expected) => {
    const { alarms, put, to } = setUp();
    alarms.defineMetricAlarm(latencyAlarm({ comparison }));
    put('Latency', 10, value);
    to(60);
    alarms.evaluate();
    expect(alarms.list()[0]?.state).toBe(expected);
  });

  it('evaluates complete periods only', () => {
    const { alarms, put, to } = setUp();
    alarms.defineMetricAlarm(latencyAlarm());
    to(30);
    put('Latency', 10, 500);
    expect(alarms.evaluate()).toEqual([]); // the period 10:00–10:01 is not over: still no data
    expect(alarms.list()[0]?.state).toBe('INSUFFICIENT_DATA');

    to(60);
    expect(alarms.evaluate()).toMatchObject([{ to: 'ALARM', at: iso(60) }]);
    to(119.999);
    expect(alarms.evaluate()).toEqual([]);
    to(120); // 10:01–10:02 has no data
    expect(alarms.evaluate()).toMatchObject([{ from: 'ALARM', to: 'INSUFFICIENT_DATA' }]);
  });

  it('alarms on M of the last N periods, a percentile per period', () => {
    const { alarms, put, to } = setUp();
    alarms.defineMetricAlarm(
      latencyAlarm({
        statistic: 'p90',
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: 'notBreaching',
      }),
    );
    // Ten requests a minute. In minutes 0 and 2 one of them is slow, so p90 stays fast;
    // in minutes 3, 5 and 6 two are, so p90 is slow. Minutes 1, 4 and 7 have no data.
    const minute = (m: number, slow: number) => {
      for (let i = 0; i < 10; i++) put('Latency', m * 60 + i, i < slow ? 900 : 20);
    };
    minute(0, 1);
    minute(2, 1);
    minute(3, 2);
    minute(5, 2);
    minute(6, 2);
    const states = [];
    for (let m = 1; m <= 9; m++) {
      to(m * 60);
      alarms.evaluate();
      states.push(alarms.list()[0]?.state);
    }
    // At the end of minute 0   1     2     3     4     5        6        7        8
    expect(states).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', 'ALARM', 'ALARM', 'ALARM', 'OK']);
  });

  it('divides sums per period for a ratio alarm: no faults is 0, no requests is missing', () => {
    const { alarms, put, to } = setUp();
    const ratio = (treatMissingData: TreatMissingData) => ({
      name: `fault-rate-${treatMissingData}`,
      ratio: {
        numerator: { metric: 'Fault', dimensions: { target: 'beta-t1' } },
        denominator: { metric: 'RequestCount', dimensions: { target: 'beta-t1' } },
      },
      periodSeconds: 60,
      evaluationPeriods: 1,
      threshold: 0.05,
      comparison: 'GreaterThanThreshold' as const,
      treatMissingData,
    });
    alarms.defineMetricAlarm(ratio('breaching'));
    alarms.defineMetricAlarm(ratio('missing'));
    const state = () => Object.fromEntries(alarms.list().map((a) => [a.name, a.state]));

    put('RequestCount', 0, 10);
    put('Fault', 0, 1); // 10%
    put('RequestCount', 60, 20); // no Fault data point at all: 0%
    put('RequestCount', 120, 0); // no requests: missing, however many faults
    put('Fault', 120, 3);
    put('RequestCount', 180, 40);
    put('Fault', 180, 2); // exactly 5%: not greater

    to(60);
    alarms.evaluate();
    expect(state()).toEqual({ 'fault-rate-breaching': 'ALARM', 'fault-rate-missing': 'ALARM' });
    expect(alarms.list()[0]?.reason).toContain('[0.1]');
    to(120);
    alarms.evaluate();
    expect(state()).toEqual({ 'fault-rate-breaching': 'OK', 'fault-rate-missing': 'OK' });
    expect(alarms.list()[0]?.reason).toContain('[0]');
    to(180);
    alarms.evaluate();
    expect(state()).toEqual({
      'fault-rate-breaching': 'ALARM',
      'fault-rate-missing': 'INSUFFICIENT_DATA',
    });
    to(240);
    alarms.evaluate();
    expect(state()).toEqual({ 'fault-rate-breaching': 'OK', 'fault-rate-missing': 'OK' });
  });

  it.each<[string, MetricAlarmDefinition, string]>([
    [
      'M above N',
      latencyAlarm({ evaluationPeriods: 3, datapointsToAlarm: 4 }),
      'Metric alarm beta-latency: datapointsToAlarm must be a whole number from 1 to evaluationPeriods (3), got 4.',
    ],
    [
      'a fractional period',
      latencyAlarm({ periodSeconds: 1.5 }),
      'periodSeconds must be a whole number of seconds ≥ 1, got 1.5',
    ],
    [
      'no periods',
      latencyAlarm({ evaluationPeriods: 0 }),
      'evaluationPeriods must be a whole number ≥ 1, got 0',
    ],
    [
      'a look-back beyond the retention',
      latencyAlarm({ periodSeconds: 3600, evaluationPeriods: 4 }),
      "it looks back 14400 s (periodSeconds × evaluationPeriods), beyond the metric store's retention of 10800 s",
    ],
    [
      'a threshold that is no number',
      latencyAlarm({ threshold: Number.NaN }),
      'threshold must be a finite number, got NaN',
    ],
    [
      'an unknown statistic',
      latencyAlarm({ statistic: 'Mean' as 'Sum' }),
      'Unknown statistic "Mean"',
    ],
    [
      'an unknown comparison',
      latencyAlarm({ comparison: 'Above' as ComparisonOperator }),
      'comparison must be one of GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold, LessThanOrEqualToThreshold, got Above',
    ],
    [
      'an unknown missing-data treatment',
      latencyAlarm({ treatMissingData: 'skip' as TreatMissingData }),
      'treatMissingData must be missing, notBreaching, breaching or ignore, got skip',
    ],
    [
      'both a metric and a ratio',
      {
        ...latencyAlarm(),
        ratio: {
          numerator: { metric: 'a', dimensions: {} },
          denominator: { metric: 'b', dimensions: {} },
        },
      } as unknown as MetricAlarmDefinition,
      'give either metric (with statistic) or ratio ({ numerator, denominator }), not both or neither',
    ],
    [
      'an empty name',
      latencyAlarm({ name: '' }),
      'An alarm name must be 1 to 255 characters without control characters, got "".',
    ],
  ])('refuses %s', (_, definition, message) => {
    const { alarms } = setUp();
    expect(() => alarms.defineMetricAlarm(definition)).toThrow(message);
    expect(alarms.list()).toEqual([]);
  });

  it('replaces a definition by name and keeps the state', () => {
    const { alarms, put, to } = setUp();
    alarms.defineMetricAlarm(latencyAlarm());
    put('Latency', 0, 150);
    to(60);
    alarms.evaluate();
    alarms.defineMetricAlarm(latencyAlarm({ threshold: 200 }));
    expect(alarms.list()).toMatchObject([{ name: 'beta-latency', state: 'ALARM' }]);
    alarms.evaluate();
    expect(alarms.list()).toMatchObject([{ name: 'beta-latency', state: 'OK' }]);
  });
});

describe('LocalAlarms state changes', () => {
  /** A latency alarm, 1 of 1, and a composite over it. */
  const withComposite = () => {
    const context = setUp();
    context.alarms.defineMetricAlarm(latencyAlarm({ treatMissingData: 'notBreaching' }));
    context.alarms.defineCompositeAlarm({ name: 'aggregate', rule: 'ALARM("beta-latency")' });
    return context;
  };

  it('tells the listeners once per transition, children before composites', () => {
    const { alarms, heard, put, to } = withComposite();
    alarms.evaluate();
    alarms.evaluate();
    expect(heard).toEqual([
      expect.objectContaining({
        name: 'beta-latency',
        from: 'INSUFFICIENT_DATA',
        to: 'OK',
        at: T0,
      }),
      {
        name: 'aggregate',
        from: 'INSUFFICIENT_DATA',
        to: 'OK',
        at: T0,
        reason: 'ALARM("beta-latency") is FALSE: beta-latency is OK',
      },
    ]);

    put('Latency', 0, 500);
    put('Latency', 60, 500);
    for (const seconds of [60, 90, 120, 150, 180]) {
      to(seconds);
      alarms.evaluate();
    }
    expect(heard.slice(2).map(({ name, from, to, at }) => [name, from, to, at])).toEqual([
      ['beta-latency', 'OK', 'ALARM', iso(60)],
      ['aggregate', 'OK', 'ALARM', iso(60)],
      ['beta-latency', 'ALARM', 'OK', iso(180)],
      ['aggregate', 'ALARM', 'OK', iso(180)],
    ]);
  });

  it('stops telling a listener that unsubscribed, and tells every listener before an error', () => {
    const { alarms, heard } = withComposite();
    const second: string[] = [];
    const stop = alarms.onChange(() => {
      throw new Error('listener broke');
    });
    alarms.onChange((change) => second.push(change.name));
    expect(() => alarms.evaluate()).toThrow(AggregateError);
    expect(heard).toHaveLength(2);
    expect(second).toEqual(['beta-latency', 'aggregate']);

    stop();
    alarms.setState('beta-latency', 'ALARM', 'test');
    expect(heard).toHaveLength(4);
  });

  it('records when an alarm last went into ALARM', async () => {
    const { alarms, put, to } = withComposite();
    const last = async () => (await alarms.describeAlarms(['aggregate'])).aggregate?.lastAlarmAt;
    expect(await last()).toBeNull();
    put('Latency', 60, 500);
    put('Latency', 120, 500);
    put('Latency', 240, 500);
    to(120);
    expect(await last()).toBe(iso(120));
    to(180); // still in ALARM: the time it went in stays
    expect(await last()).toBe(iso(120));
    to(240); // OK again: the time stays
    expect(await last()).toBe(iso(120));
    expect((await alarms.describeAlarms(['aggregate'])).aggregate?.state).toBe('OK');
    to(300);
    expect(await last()).toBe(iso(300));
  });

  it('answers every name asked, MISSING for those not defined', async () => {
    const { alarms } = withComposite();
    expect(await alarms.describeAlarms(['aggregate', 'nope', 'beta-latency'])).toEqual({
      aggregate: { state: 'OK', lastAlarmAt: null },
      nope: { state: 'MISSING', lastAlarmAt: null },
      'beta-latency': { state: 'OK', lastAlarmAt: null },
    });
    expect(await alarms.describeAlarms([])).toEqual({});
  });

  it('evaluates on describe only when the last evaluation is older than the interval', async () => {
    const { alarms, put, to } = withComposite();
    const state = async () => (await alarms.describeAlarms(['aggregate'])).aggregate?.state;
    put('Latency', 0, 500);
    to(60);
    expect(await state()).toBe('ALARM'); // never evaluated: evaluates
    to(119);
    expect(await state()).toBe('ALARM'); // 59 s old: as it was
    to(120);
    expect(await state()).toBe('OK'); // 60 s old: evaluates again
  });

  it('holds a state set by hand until the next evaluation, and moves composites at once', async () => {
    const { alarms, heard, to } = withComposite();
    alarms.evaluate();
    to(10);
    alarms.setState('beta-latency', 'ALARM', 'Testing the rollback');
    expect(heard.slice(2)).toEqual([
      {
        name: 'beta-latency',
        from: 'OK',
        to: 'ALARM',
        at: iso(10),
        reason: 'Testing the rollback',
      },
      expect.objectContaining({ name: 'aggregate', from: 'OK', to: 'ALARM', at: iso(10) }),
    ]);
    expect(await alarms.describeAlarms(['beta-latency', 'aggregate'])).toEqual({
      'beta-latency': { state: 'ALARM', lastAlarmAt: iso(10) },
      aggregate: { state: 'ALARM', lastAlarmAt: iso(10) },
    });

    alarms.evaluate(); // no data says otherwise
    expect(alarms.list().map((a) => a.state)).toEqual(['OK', 'OK']);
    expect(alarms.list()[0]?.lastAlarmAt).toBe(iso(10));
  });

  it('holds a composite set by hand until an evaluation', () => {
    const { alarms } = withComposite();
    alarms.evaluate();
    alarms.setState('aggregate', 'ALARM', 'Operator drill');
    expect(alarms.list().map((a) => a.state)).toEqual(['OK', 'ALARM']);
    alarms.evaluate();
    expect(alarms.list().map((a) => a.state)).toEqual(['OK', 'OK']);
  });

  it('keeps a state set by hand on an alarm that ignores missing data', () => {
    const { alarms, to } = setUp();
    alarms.defineMetricAlarm(latencyAlarm({ treatMissingData: 'ignore' }));
    alarms.setState('beta-latency', 'ALARM', 'Large-scale event');
    to(600);
    alarms.evaluate();
    expect(alarms.list()[0]).toMatchObject({
      state: 'ALARM',
      reason: expect.stringContaining('ignore'),
    });
  });

  it('refuses to set an alarm that does not exist, or a state that is none', () => {
    const { alarms } = withComposite();
    expect(() => alarms.setState('nope', 'ALARM', 'test')).toThrow(NotFoundError);
    expect(() => alarms.setState('nope', 'ALARM', 'test')).toThrow(
      'No alarm is called "nope"; define it first.',
    );
    expect(() => alarms.setState('aggregate', 'MISSING' as LocalAlarmState, 'test')).toThrow(
      'Cannot set alarm aggregate to MISSING; use OK, ALARM or INSUFFICIENT_DATA.',
    );
  });

  it('refuses a negative evaluation interval', () => {
    const clock = new ManualClock(T0);
    expect(
      () => new LocalAlarms(new LocalMetricStore(clock), clock, { evaluationIntervalSeconds: -1 }),
    ).toThrow('evaluationIntervalSeconds must be a number of seconds ≥ 0, got -1');
  });
});

describe('LocalAlarms.restore', () => {
  it('takes back states and lastAlarmAt saved before a restart, silently, ignoring alarms no longer defined', async () => {
    const before = setUp();
    before.alarms.defineMetricAlarm(latencyAlarm());
    before.put('Latency', 5, 500);
    before.to(60);
    before.alarms.evaluate();
    const saved = before.alarms.list();
    expect(saved[0]).toMatchObject({ state: 'ALARM', lastAlarmAt: iso(60) });

    const after = setUp();
    after.alarms.defineMetricAlarm(latencyAlarm());
    after.alarms.restore([
      ...saved,
      { name: 'gone', state: 'OK', reason: 'old', lastAlarmAt: null },
    ]);

    expect(after.alarms.list()).toEqual([
      expect.objectContaining({ name: 'beta-latency', state: 'ALARM', lastAlarmAt: iso(60) }),
    ]);
    expect(after.heard).toEqual([]);
    // The evidence survives the next evaluation, whatever the state becomes.
    const described = await after.alarms.describeAlarms(['beta-latency']);
    expect(described['beta-latency']?.lastAlarmAt).toBe(iso(60));
  });
});
