import { describe, expect, it } from 'vitest';
import { type BakeInput, effectiveBakeSeconds, evaluateBake } from '../../../core/index.js';

const WATCHED = '2026-11-23T09:50:00.000Z';
const base: BakeInput = {
  startedAt: '2026-11-23T10:00:00.000Z',
  now: '2026-11-23T11:00:00.000Z',
  durationSeconds: 3600,
  minDataPoints: 100,
  dataPoints: { 'beta-t1': 100 },
  // Watched since the first target began to deploy, ten minutes before the bake.
  alarms: [{ name: 'team-aggregate', state: 'OK', lastAlarmAt: null, since: WATCHED }],
};
const alarm = (
  state: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA' | 'MISSING',
  lastAlarmAt: string | null = null,
) => ({
  alarms: [{ name: 'team-aggregate', state, lastAlarmAt, since: WATCHED }],
});

describe('evaluateBake', () => {
  // Worked example from the TSDoc: one hour elapsed but only 40 of 100 data points → keep baking.
  it.each<{ name: string; change: Partial<BakeInput>; expected: unknown }>([
    {
      name: 'time elapsed, data points seen, no alarm',
      change: {},
      expected: { verdict: 'passed' },
    },
    {
      name: 'too few data points',
      change: { dataPoints: { 'beta-t1': 40 } },
      expected: {
        verdict: 'baking',
        remainingSeconds: 0,
        missingDataPoints: 60,
        waitingFor: '60 more data points at beta-t1',
        checkAt: '2026-11-23T11:05:00.000Z',
      },
    },
    {
      // A 12-Region wave: one busy Region must not meet the minimum for the quiet ones.
      name: 'one busy target and one that served nothing',
      change: { dataPoints: { 'prod-iad': 5000, 'prod-dub': 0 } },
      expected: {
        verdict: 'baking',
        remainingSeconds: 0,
        missingDataPoints: 100,
        waitingFor: '100 more data points at prod-dub',
        checkAt: '2026-11-23T11:05:00.000Z',
      },
    },
    {
      name: 'several targets short of the minimum',
      change: { dataPoints: { a: 10, b: 100, c: 0, d: 99, e: 50 } },
      expected: {
        verdict: 'baking',
        remainingSeconds: 0,
        missingDataPoints: 90 + 100 + 1 + 50,
        waitingFor: 'more data points at 4 targets (a 90, c 100, d 1, 1 more)',
        checkAt: '2026-11-23T11:05:00.000Z',
      },
    },
    {
      name: 'every target at the minimum',
      change: { dataPoints: { a: 100, b: 250, c: 100 } },
      expected: { verdict: 'passed' },
    },
    {
      name: 'time not elapsed',
      change: { now: '2026-11-23T10:30:00.000Z' },
      expected: {
        verdict: 'baking',
        remainingSeconds: 1800,
        missingDataPoints: 0,
        waitingFor: '1800 s of bake time',
        checkAt: '2026-11-23T11:00:00.000Z',
      },
    },
    {
      name: 'an alarm without enough data',
      change: alarm('INSUFFICIENT_DATA'),
      expected: {
        verdict: 'baking',
        remainingSeconds: 0,
        missingDataPoints: 0,
        waitingFor: 'enough data in team-aggregate',
        checkAt: '2026-11-23T11:05:00.000Z',
      },
    },
    {
      name: 'an alarm in ALARM now',
      change: alarm('ALARM', '2026-11-23T10:59:00.000Z'),
      expected: { verdict: 'failed', reason: 'alarm team-aggregate is in ALARM (baking)' },
    },
    {
      name: 'an alarm that fired and recovered during the bake',
      change: alarm('OK', '2026-11-23T10:10:00.000Z'),
      expected: {
        verdict: 'failed',
        reason:
          'alarm team-aggregate went into ALARM at 2026-11-23T10:10:00.000Z, while the release ran (baking)',
      },
    },
    {
      name: 'an alarm that fired and recovered during the deployment',
      change: alarm('OK', '2026-11-23T09:55:00.000Z'),
      expected: {
        verdict: 'failed',
        reason:
          'alarm team-aggregate went into ALARM at 2026-11-23T09:55:00.000Z, while the release ran (baking)',
      },
    },
    {
      name: 'an alarm that fired before the deployment',
      change: alarm('OK', '2026-11-23T09:00:00.000Z'),
      expected: { verdict: 'passed' },
    },
    {
      name: 'a missing alarm',
      change: alarm('MISSING'),
      expected: {
        verdict: 'failed',
        reason: 'alarm team-aggregate does not exist, so nothing watches it (baking)',
      },
    },
    {
      name: 'a zero bake with no minimum',
      change: {
        durationSeconds: 0,
        minDataPoints: 0,
        dataPoints: {},
        now: '2026-11-23T10:00:00.000Z',
      },
      expected: { verdict: 'passed' },
    },
    {
      name: 'one alarm of several in ALARM, with time and data points met',
      change: {
        now: '2026-11-23T12:00:00.000Z',
        alarms: [
          { name: 'a', state: 'OK' as const, lastAlarmAt: null, since: WATCHED },
          { name: 'b', state: 'ALARM' as const, lastAlarmAt: null, since: WATCHED },
        ],
      },
      expected: { verdict: 'failed', reason: 'alarm b is in ALARM (baking)' },
    },
    {
      name: 'each alarm watched from its own start: b fired before its target deployed',
      change: {
        alarms: [
          { name: 'a', state: 'OK' as const, lastAlarmAt: null, since: WATCHED },
          {
            name: 'b',
            state: 'OK' as const,
            lastAlarmAt: '2026-11-23T09:55:00.000Z',
            since: '2026-11-23T09:58:00.000Z',
          },
        ],
      },
      expected: { verdict: 'passed' },
    },
  ])('$name → $expected.verdict', ({ change, expected }) => {
    expect(evaluateBake({ ...base, ...change })).toEqual(expected);
  });
});

describe('effectiveBakeSeconds', () => {
  it.each([
    { seconds: 43_200, factor: null, expected: 43_200 },
    { seconds: 43_200, factor: 0.1, expected: 4_320 },
    { seconds: 100, factor: 0.333, expected: 34 },
  ])('$seconds s × $factor → $expected s', ({ seconds, factor, expected }) => {
    expect(effectiveBakeSeconds(seconds, factor)).toBe(expected);
  });
});
