import type { Clock } from '../core/index.js';

/**
 * What the local engine's parts need of time beyond reading it: to wait for clock time
 * (a step's timeout, a retry's interval, a delivery's backoff) and to say what work is
 * under way, so that the clock does not move on before the work of an instant is done.
 */
export interface LocalClock extends Clock {
  /**
   * Resolves once `milliseconds` of clock time have passed, or at once when `signal`
   * aborts (the timer is then forgotten).
   */
  sleep(milliseconds: number, signal?: AbortSignal): Promise<void>;
  /** Returns `work`, counted as under way until it settles: the clock waits for it. */
  track<T>(work: Promise<T>): Promise<T>;
}

/** A {@link LocalClock} over real time, for parts used on their own (a test's bus, say). */
export const realTime: LocalClock = {
  now: () => new Date(),
  sleep: (milliseconds, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(resolve, milliseconds);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    }),
  track: (work) => work,
};

interface Timer {
  readonly at: number;
  readonly order: number;
  readonly resolve: () => void;
}

export interface SimulatedClockOptions {
  /**
   * The longest single move of the clock, in clock milliseconds: the local engine looks
   * at the world (fleets, canary, alarms, sources) after every move. @default 10_000
   */
  readonly stepMs?: number;
}

/**
 * The local engine's clock: simulated time that moves only when told to, and only once
 * the work of the current instant is done. Every wait of the local engine is a timer on
 * this clock, and every piece of work (a handler's call, an event's delivery, a build, a
 * look at the fleets) is tracked by it; {@link settle} resolves when none is under way,
 * and {@link step} then moves time to the next timer or by one step, whichever is sooner.
 * What happens at each clock instant therefore does not depend on how fast the machine
 * is: a loaded machine runs the same story, only slower in real time. How fast the
 * clock may run against real time (`npm start`'s `--speed`) is the runtime's loop's
 * business, not the clock's.
 *
 * Why by hand: fake-timer libraries (@sinonjs/fake-timers, vitest's) replace the global
 * timers of the whole process, the emulators' and the HTTP stack's with them, and know
 * nothing of work that is under way; the engine needs both real I/O and simulated time.
 *
 * @example
 * const clock = new SimulatedClock(new Date('2026-11-23T09:00:00Z'));
 * const later = clock.sleep(30_000);
 * await clock.settle();
 * clock.step(); clock.step(); clock.step(); // 09:00:10, 09:00:20, 09:00:30: `later` resolves
 */
export class SimulatedClock implements LocalClock {
  readonly stepMs: number;
  #now: number;
  #timers: Timer[] = [];
  #order = 0;
  #busy = 0;
  #idle: { readonly promise: Promise<void>; resolve: () => void } | null = null;

  constructor(start: Date, options: SimulatedClockOptions = {}) {
    const stepMs = options.stepMs ?? 10_000;
    if (!(Number.isFinite(stepMs) && stepMs > 0)) {
      throw new RangeError(`The clock's step must be a number of milliseconds > 0, got ${stepMs}.`);
    }
    if (Number.isNaN(start.getTime()))
      throw new RangeError('The clock cannot start at an invalid date.');
    this.stepMs = stepMs;
    this.#now = start.getTime();
  }

  /**
   * The time: between steps, each reading is one millisecond later than the one before.
   * Work takes time, and the engine orders what happened by it (a wake processed after a
   * step decided must read as later than the decision); a clock frozen between steps
   * would make the two the same instant, and a step resumed by a wake would find the
   * same wake again at every look.
   */
  now(): Date {
    const now = this.#now;
    this.#now += 1;
    return new Date(now);
  }

  /** How many pieces of work are under way. */
  get busy(): number {
    return this.#busy;
  }

  /** When the next timer is due (clock milliseconds), if any is set. */
  get nextTimer(): number | null {
    return this.#timers[0]?.at ?? null;
  }

  sleep(milliseconds: number, signal?: AbortSignal): Promise<void> {
    if (!(milliseconds >= 0)) {
      throw new RangeError(`A wait must be ≥ 0 ms of clock time, got ${milliseconds}.`);
    }
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer: Timer = { at: this.#now + milliseconds, order: this.#order++, resolve };
      // Kept in order of due time, then of setting: timers due together fire as set.
      const index = this.#timers.findIndex(
        (t) => t.at > timer.at || (t.at === timer.at && t.order > timer.order),
      );
      this.#timers.splice(index === -1 ? this.#timers.length : index, 0, timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.#timers = this.#timers.filter((t) => t !== timer);
          resolve();
        },
        { once: true },
      );
    });
  }

  track<T>(work: Promise<T>): Promise<T> {
    this.#busy++;
    const done = () => {
      this.#busy--;
      if (this.#busy === 0) this.#idle?.resolve();
    };
    return work.then(
      (value) => {
        done();
        return value;
      },
      (error: unknown) => {
        done();
        throw error;
      },
    );
  }

  /**
   * Resolves once no tracked work is under way and none started during two turns of the
   * event loop (what work resumes from a settled promise starts within microtasks: a
   * workflow's next step after a token, a delivery after an event is put).
   */
  async settle(): Promise<void> {
    for (;;) {
      while (this.#busy > 0) {
        if (this.#idle === null) {
          let resolve = () => {};
          const promise = new Promise<void>((r) => {
            resolve = r;
          });
          this.#idle = { promise, resolve };
        }
        await this.#idle.promise;
        this.#idle = null;
      }
      await turn();
      if (this.#busy > 0) continue;
      await turn();
      if (this.#busy === 0) return;
    }
  }

  /**
   * Moves time to the next timer or by `stepMs`, whichever comes first, and fires the
   * timers due then, in order. Returns the new time.
   */
  step(): Date {
    const next = this.#timers[0]?.at;
    this.#now =
      next !== undefined && next < this.#now + this.stepMs
        ? Math.max(next, this.#now)
        : this.#now + this.stepMs;
    while (this.#timers[0] !== undefined && this.#timers[0].at <= this.#now) {
      (this.#timers.shift() as Timer).resolve();
    }
    return this.now();
  }
}

/** One turn of the event loop: microtasks, then timers and I/O callbacks due now. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
