import type { Clock } from '../core/index.js';

/**
 * The local runtime's clock: `speed` clock seconds pass per real second, from `start`.
 * Bakes of hours take minutes at `--speed 120`; every component reads this clock, and
 * the stage workflow's waits are scaled by the same speed (local/state-machine.ts).
 *
 * @example
 * const clock = new AcceleratedClock(new Date('2026-11-23T09:00:00Z'), 60);
 * // one real second later: clock.now() is 09:01:00
 */
export class AcceleratedClock implements Clock {
  readonly speed: number;
  readonly #start: number;
  readonly #realStart: number;
  readonly #realNow: () => number;

  constructor(start: Date, speed: number, realNow: () => number = Date.now) {
    if (!Number.isFinite(speed) || speed < 1) {
      throw new RangeError(`The clock's speed must be a number ≥ 1, got ${speed}.`);
    }
    this.speed = speed;
    this.#start = start.getTime();
    this.#realNow = realNow;
    this.#realStart = realNow();
  }

  now(): Date {
    return new Date(this.#start + (this.#realNow() - this.#realStart) * this.speed);
  }
}
