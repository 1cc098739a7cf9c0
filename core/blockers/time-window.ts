import { DateTime } from 'luxon';
import type { TimeWindow, Weekday } from '../definition/schema.js';

const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** How far ahead {@link nextOpening} looks before it concludes the window never opens. */
export const OPENING_HORIZON_DAYS = 60;

export type WindowState =
  | { readonly open: true }
  | { readonly open: false; readonly reason: string };

/**
 * Whether a deployment may start at `at` in `timeZone` (the window's own zone wins).
 * Deny ranges and deny dates close the window even inside an allow window.
 *
 * @example
 * // Mon–Thu 09:00–16:00, evaluated in Dublin:
 * windowState(BUSINESS_HOURS, 'Europe/Dublin', new Date('2026-11-23T10:00:00Z')); // { open: true } (Mon 10:00)
 * windowState(BUSINESS_HOURS, 'Europe/Dublin', new Date('2026-11-27T10:00:00Z'));
 * // { open: false, reason: 'outside the allow windows mon,tue,wed,thu 09:00–16:00 (Europe/Dublin): it is fri 10:00 there' }
 */
export function windowState(window: TimeWindow, timeZone: string, at: Date): WindowState {
  const zone = window.timeZone ?? timeZone;
  const local = DateTime.fromJSDate(at, { zone });
  const range = window.denyRanges.find(
    (candidate) =>
      Date.parse(candidate.from) <= at.getTime() && at.getTime() < Date.parse(candidate.to),
  );
  if (range !== undefined) {
    return { open: false, reason: `${range.reason} (until ${range.to})` };
  }
  const date = local.toISODate();
  if (date !== null && window.denyDates.includes(date)) {
    return { open: false, reason: `${date} is a deny date in ${zone}` };
  }
  const day = WEEKDAYS[local.weekday - 1];
  const clock = local.toFormat('HH:mm');
  const inside = window.allow.some(
    (allow) =>
      day !== undefined && allow.days.includes(day) && allow.start <= clock && clock < allow.end,
  );
  if (inside) return { open: true };
  return {
    open: false,
    reason: `outside the allow windows ${describeAllow(window)} (${zone}): it is ${day} ${clock} there`,
  };
}

/**
 * The first instant at or after `from` when the window is open, or `null` if it does not
 * open within {@link OPENING_HORIZON_DAYS}. Openings are the starts of allow windows and
 * the ends of deny ranges, computed in local time so that DST changes move them correctly.
 *
 * @example
 * // Friday 17:00 in New York, window Mon–Thu 09:00–16:00:
 * nextOpening(BUSINESS_HOURS, 'America/New_York', new Date('2026-11-27T22:00:00Z'));
 * // 2026-11-30T14:00:00Z (Monday 09:00 EST)
 */
export function nextOpening(window: TimeWindow, timeZone: string, from: Date): Date | null {
  if (windowState(window, timeZone, from).open) return from;
  const zone = window.timeZone ?? timeZone;
  const start = DateTime.fromJSDate(from, { zone }).startOf('day');
  const candidates: number[] = [];
  for (let offset = 0; offset <= OPENING_HORIZON_DAYS; offset++) {
    const date = start.plus({ days: offset });
    const day = WEEKDAYS[date.weekday - 1];
    for (const allow of window.allow) {
      if (day === undefined || !allow.days.includes(day)) continue;
      candidates.push(localStart(date, allow.start, zone));
    }
  }
  for (const range of window.denyRanges) candidates.push(Date.parse(range.to));
  const horizon = from.getTime() + (OPENING_HORIZON_DAYS + 1) * 86_400_000;
  const opening = candidates
    .filter((time) => time > from.getTime() && time <= horizon)
    .sort((a, b) => a - b)
    .find((time) => windowState(window, timeZone, new Date(time)).open);
  return opening === undefined ? null : new Date(opening);
}

/**
 * The first instant of `date` (local) at or after wall-clock `start`. When a DST jump skips
 * `start` (01:30 on the night clocks go from 01:00 to 02:00), that is the jump itself
 * (02:00), not `start` shifted by the jump (02:30), which may already be past the window.
 */
function localStart(date: DateTime, start: string, zone: string): number {
  const [hour, minute] = start.split(':').map(Number);
  const shifted = DateTime.fromObject(
    { year: date.year, month: date.month, day: date.day, hour, minute },
    { zone },
  );
  if (shifted.toFormat('HH:mm') === start) return shifted.toMillis();
  const reached = (millis: number) => {
    const local = DateTime.fromMillis(millis, { zone });
    return local.toISODate() === date.toISODate() && local.toFormat('HH:mm') >= start;
  };
  // Before the jump the wall clock is short of `start`, after it past: search between.
  let low = shifted.toMillis() - 3 * 3_600_000;
  let high = shifted.toMillis();
  while (high - low > 60_000) {
    const middle = low + Math.floor((high - low) / 120_000) * 60_000;
    if (reached(middle)) high = middle;
    else low = middle;
  }
  return high;
}

/** `mon,tue,wed,thu 09:00–16:00; sat 10:00–12:00` */
export function describeAllow(window: TimeWindow): string {
  return window.allow
    .map((allow) => `${allow.days.join(',')} ${allow.start}–${allow.end}`)
    .join('; ');
}
