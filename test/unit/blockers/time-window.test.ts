import { describe, expect, it } from 'vitest';
import {
  BUSINESS_HOURS,
  describeAllow,
  nextOpening,
  type TimeWindow,
  windowState,
} from '../../../core/index.js';

const window = (overrides: Partial<TimeWindow>): TimeWindow => ({
  ...BUSINESS_HOURS,
  ...overrides,
});

describe('windowState', () => {
  // Business hours Mon–Thu 09:00–16:00, local to the zone given.
  it.each([
    {
      at: '2026-11-23T10:00:00Z',
      zone: 'Europe/Dublin',
      open: true,
      why: 'Monday 10:00 in Dublin',
    },
    {
      at: '2026-11-23T08:59:00Z',
      zone: 'Europe/Dublin',
      open: false,
      why: 'Monday 08:59 in Dublin',
    },
    { at: '2026-11-23T16:00:00Z', zone: 'Europe/Dublin', open: false, why: 'the end is exclusive' },
    { at: '2026-11-27T10:00:00Z', zone: 'Europe/Dublin', open: false, why: 'Friday' },
    {
      at: '2026-11-23T10:00:00Z',
      zone: 'Australia/Sydney',
      open: false,
      why: 'the same instant is Monday 21:00 in Sydney',
    },
    {
      at: '2026-11-22T23:00:00Z',
      zone: 'Australia/Sydney',
      open: true,
      why: 'Sunday 23:00 UTC is Monday 10:00 in Sydney',
    },
    {
      at: '2026-11-23T14:30:00Z',
      zone: 'America/New_York',
      open: true,
      why: 'Monday 09:30 in New York',
    },
  ])('$at in $zone → open $open ($why)', ({ at, zone, open }) => {
    expect(windowState(BUSINESS_HOURS, zone, new Date(at)).open).toBe(open);
  });

  it('says why it is closed, in local time', () => {
    expect(windowState(BUSINESS_HOURS, 'Europe/Dublin', new Date('2026-11-27T10:00:00Z'))).toEqual({
      open: false,
      reason:
        'outside the allow windows mon,tue,wed,thu 09:00–16:00 (Europe/Dublin): it is fri 10:00 there',
    });
  });

  it('follows the clock across DST: 09:00 in New York is 14:00Z in winter and 13:00Z in summer', () => {
    // US DST starts Sunday 2026-03-08.
    expect(
      windowState(BUSINESS_HOURS, 'America/New_York', new Date('2026-03-05T13:30:00Z')).open,
    ).toBe(false); // Thu 08:30 EST
    expect(
      windowState(BUSINESS_HOURS, 'America/New_York', new Date('2026-03-09T13:30:00Z')).open,
    ).toBe(true); // Mon 09:30 EDT
  });

  it('keeps a window open through both copies of the hour that repeats when DST ends', () => {
    // Dublin leaves summer time on Sunday 2026-10-25: 01:00–02:00 local happens twice.
    const sunday = window({ allow: [{ days: ['sun'], start: '01:00', end: '01:30' }] });
    expect(windowState(sunday, 'Europe/Dublin', new Date('2026-10-25T00:15:00Z')).open).toBe(true); // 01:15 IST
    expect(windowState(sunday, 'Europe/Dublin', new Date('2026-10-25T01:15:00Z')).open).toBe(true); // 01:15 GMT
    expect(windowState(sunday, 'Europe/Dublin', new Date('2026-10-25T01:45:00Z')).open).toBe(false);
  });

  it('closes on deny dates, judged by the local date', () => {
    const christmas = window({
      allow: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '00:00', end: '24:00' }],
      denyDates: ['2026-12-25'],
    });
    // 13:30Z on the 24th is already the 25th in Sydney, not yet in Dublin.
    expect(windowState(christmas, 'Australia/Sydney', new Date('2026-12-24T13:30:00Z'))).toEqual({
      open: false,
      reason: '2026-12-25 is a deny date in Australia/Sydney',
    });
    expect(windowState(christmas, 'Europe/Dublin', new Date('2026-12-24T13:30:00Z')).open).toBe(
      true,
    );
  });

  it('closes during deny ranges, with their reason', () => {
    const freeze = window({
      denyRanges: [
        {
          from: '2026-11-30T00:00:00Z',
          to: '2026-12-04T12:00:00Z',
          reason: 're:Invent change freeze',
        },
      ],
    });
    expect(windowState(freeze, 'Europe/Dublin', new Date('2026-12-01T10:00:00Z'))).toEqual({
      open: false,
      reason: 're:Invent change freeze (until 2026-12-04T12:00:00Z)',
    });
  });

  it('uses the window’s own time zone over the target’s', () => {
    const utc = window({ timeZone: 'UTC' });
    expect(windowState(utc, 'Australia/Sydney', new Date('2026-11-23T10:00:00Z')).open).toBe(true);
  });
});

describe('nextOpening', () => {
  it.each([
    {
      from: '2026-11-23T10:00:00Z',
      zone: 'Europe/Dublin',
      next: '2026-11-23T10:00:00.000Z',
      why: 'already open: now',
    },
    {
      from: '2026-11-23T07:00:00Z',
      zone: 'Europe/Dublin',
      next: '2026-11-23T09:00:00.000Z',
      why: 'later the same morning',
    },
    {
      from: '2026-11-26T16:30:00Z',
      zone: 'Europe/Dublin',
      next: '2026-11-30T09:00:00.000Z',
      why: 'Thursday evening → Monday',
    },
    {
      from: '2026-11-27T22:00:00Z',
      zone: 'America/New_York',
      next: '2026-11-30T14:00:00.000Z',
      why: 'Friday in New York → Monday 09:00 EST',
    },
    {
      from: '2026-03-06T20:00:00Z',
      zone: 'America/New_York',
      next: '2026-03-09T13:00:00.000Z',
      why: 'across the spring change: Monday 09:00 EDT',
    },
    {
      from: '2026-10-30T20:00:00Z',
      zone: 'America/New_York',
      next: '2026-11-02T14:00:00.000Z',
      why: 'across the autumn change: Monday 09:00 EST',
    },
    {
      from: '2026-11-23T10:00:00Z',
      zone: 'Australia/Sydney',
      next: '2026-11-23T22:00:00.000Z',
      why: 'Monday 21:00 in Sydney → Tuesday 09:00 AEDT',
    },
  ])('$why', ({ from, zone, next }) => {
    expect(nextOpening(BUSINESS_HOURS, zone, new Date(from))?.toISOString()).toBe(next);
  });

  it.each([
    { end: '03:00', why: 'a window that goes on after the jump' },
    { end: '02:30', why: 'a window that ends half an hour after the jump' },
  ])('opens a window whose start a DST jump skips at the jump itself: $why', ({ end }) => {
    // London skips 01:00–02:00 on Sunday 2026-03-29: a window from 01:30 opens at 02:00 BST (01:00Z).
    const sunday = window({ allow: [{ days: ['sun'], start: '01:30', end }] });
    const opening = nextOpening(sunday, 'Europe/London', new Date('2026-03-28T12:00:00Z'));
    expect(opening?.toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(windowState(sunday, 'Europe/London', opening as Date).open).toBe(true);
  });

  it('opens when a deny range ends inside an allow window', () => {
    const freeze = window({
      denyRanges: [{ from: '2026-11-23T00:00:00Z', to: '2026-11-24T12:30:00Z', reason: 'freeze' }],
    });
    expect(
      nextOpening(freeze, 'Europe/Dublin', new Date('2026-11-23T10:00:00Z'))?.toISOString(),
    ).toBe('2026-11-24T12:30:00.000Z');
  });

  it('skips deny dates', () => {
    const holiday = window({ denyDates: ['2026-11-30'] });
    expect(
      nextOpening(holiday, 'Europe/Dublin', new Date('2026-11-27T10:00:00Z'))?.toISOString(),
    ).toBe('2026-12-01T09:00:00.000Z');
  });

  it('returns null when the window does not open within the horizon', () => {
    const frozen = window({
      denyRanges: [
        { from: '2026-01-01T00:00:00Z', to: '2027-06-01T00:00:00Z', reason: 'long freeze' },
      ],
    });
    expect(nextOpening(frozen, 'Europe/Dublin', new Date('2026-11-23T10:00:00Z'))).toBeNull();
  });
});

describe('describeAllow', () => {
  it('lists the windows', () => {
    expect(
      describeAllow(
        window({
          allow: [...BUSINESS_HOURS.allow, { days: ['sat'], start: '10:00', end: '12:00' }],
        }),
      ),
    ).toBe('mon,tue,wed,thu 09:00–16:00; sat 10:00–12:00');
  });
});
