import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../local/clock.js';

const T0 = new Date('2026-11-23T09:00:00Z');
const at = (clock: SimulatedClock) => clock.now().toISOString().slice(11, 19);

describe('SimulatedClock', () => {
  it('moves only when stepped: by one step, or to the next timer when it is sooner', async () => {
    const clock = new SimulatedClock(T0, { stepMs: 10_000 });
    const fired: string[] = [];
    void clock.sleep(25_000).then(() => fired.push(`25 s at ${at(clock)}`));
    void clock.sleep(4_000).then(() => fired.push(`4 s at ${at(clock)}`));
    await clock.settle();
    expect(at(clock)).toBe('09:00:00');

    const times = [];
    for (let i = 0; i < 5; i++) {
      clock.step();
      times.push(at(clock));
      await clock.settle();
    }

    expect(times).toEqual(['09:00:04', '09:00:14', '09:00:24', '09:00:25', '09:00:35']);
    expect(fired).toEqual(['4 s at 09:00:04', '25 s at 09:00:25']);
  });

  it('fires timers due at the same time in the order they were set', async () => {
    const clock = new SimulatedClock(T0);
    const fired: string[] = [];
    for (const name of ['a', 'b', 'c']) void clock.sleep(1_000).then(() => fired.push(name));
    clock.step();
    await clock.settle();
    expect(fired).toEqual(['a', 'b', 'c']);
  });

  it('forgets an aborted timer and resolves its sleep at once', async () => {
    const clock = new SimulatedClock(T0);
    const abort = new AbortController();
    const sleeping = clock.sleep(60_000, abort.signal);
    expect(clock.nextTimer).toBe(T0.getTime() + 60_000);
    abort.abort();
    await sleeping;
    expect(clock.nextTimer).toBeNull();
    expect(at(clock)).toBe('09:00:00');
  });

  it('settles only once tracked work is done, also work that work started on its way', async () => {
    const clock = new SimulatedClock(T0);
    const done: string[] = [];
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Work whose end starts more work through a settled promise (a token, a put event).
    void clock.track(gate).then(() => {
      done.push('first');
      void clock
        .track(new Promise((resolve) => setImmediate(resolve)))
        .then(() => done.push('second'));
    });
    let settled = false;
    const settling = clock.settle().then(() => {
      settled = true;
    });
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    release();
    await settling;
    expect(done).toEqual(['first', 'second']);
    expect(clock.busy).toBe(0);
  });

  it('does not count a sleep as work: tracked work that waits for the clock is a mistake it shows', async () => {
    const clock = new SimulatedClock(T0);
    // A sleep outside tracked work leaves the clock free to move to it.
    const sleeping = clock.sleep(5_000);
    await clock.settle();
    clock.step();
    await sleeping;
    expect(at(clock)).toBe('09:00:05');
  });

  it('passes on what tracked work throws, and still counts it as done', async () => {
    const clock = new SimulatedClock(T0);
    await expect(clock.track(Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(clock.busy).toBe(0);
  });

  it('refuses a step that is not a positive duration and a wait into the past', () => {
    expect(() => new SimulatedClock(T0, { stepMs: 0 })).toThrow(/step must be/);
    expect(() => new SimulatedClock(new Date('nonsense'))).toThrow(/invalid date/);
    expect(() => new SimulatedClock(T0).sleep(-1)).toThrow(/≥ 0 ms/);
  });
});
