import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, TerminalError } from '../../../core/index.js';
import { Canary, type MetricPoint } from '../../../local/canary.js';
import { Fleet } from '../../../local/fleet.js';
import { T0 } from '../../support/fixtures.js';

const service = (version: string, faultRate = 0, latencyMs = 0) =>
  JSON.stringify({ version, faultRate, latencyMs });

const fleets: Fleet[] = [];
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
});

async function setup(draws: number[] = []) {
  const clock = new ManualClock(T0);
  const options = { clock, startSeconds: 0, random: () => draws.shift() ?? 0.99 };
  const gamma = await Fleet.start('gamma-t1', 2, options);
  const onebox = await Fleet.start('gamma-onebox', 1, options);
  fleets.push(gamma, onebox);
  const points: MetricPoint[] = [];
  const sink = { put: (point: MetricPoint) => void points.push(point) };
  return { clock, gamma, onebox, points, sink, list: () => [gamma, onebox] };
}

/** The points of one metric, as `target/box=value`, sorted. */
function of(points: readonly MetricPoint[], metric: string): string[] {
  return points
    .filter((point) => point.metric === metric)
    .map((point) => `${point.dimensions.target}/${point.dimensions.box}=${point.value}`)
    .sort();
}

describe('Canary', () => {
  it('records RequestCount, Fault and Latency per request, per box of every fleet', async () => {
    // Prepare
    const { clock, gamma, onebox, points, sink, list } = await setup([
      0.5, 0.5, 0.5, 0.5, 0.01, 0.01,
    ]);
    gamma.boxes[0]?.load(service('r1', 0.1, 15));
    gamma.boxes[1]?.load(service('r1', 0.1, 25));
    onebox.boxes[0]?.load(service('r2', 0.1, 35));
    const canary = new Canary({ fleets: { list }, sink, requestsPerBox: 2 });
    const now = clock.now();

    // Act
    await canary.tick(now);

    // Assess
    expect(points).toHaveLength(3 * 2 * 3);
    expect(points.every((point) => point.at === now)).toBe(true);
    expect(points[0]?.dimensions).toEqual({
      target: expect.any(String),
      box: expect.stringMatching(/^\d$/),
    });
    expect(of(points, 'RequestCount')).toEqual([
      'gamma-onebox/0=1',
      'gamma-onebox/0=1',
      'gamma-t1/0=1',
      'gamma-t1/0=1',
      'gamma-t1/1=1',
      'gamma-t1/1=1',
    ]);
    expect(of(points, 'Latency')).toEqual([
      'gamma-onebox/0=35',
      'gamma-onebox/0=35',
      'gamma-t1/0=15',
      'gamma-t1/0=15',
      'gamma-t1/1=25',
      'gamma-t1/1=25',
    ]);
    // Two draws under the fault rate of 0.1, four over: two faults in all.
    expect(of(points, 'Fault').filter((point) => point.endsWith('=1'))).toHaveLength(2);
    expect(of(points, 'Fault').filter((point) => point.endsWith('=0'))).toHaveLength(4);
  });

  it('counts a fault on the box that answered 500', async () => {
    const { clock, gamma, points, sink } = await setup();
    gamma.boxes[0]?.load(service('r1', 0));
    gamma.boxes[1]?.load(service('r2', 1));
    const canary = new Canary({ fleets: { list: () => [gamma] }, sink });

    await canary.tick(clock.now());

    expect(of(points, 'Fault')).toEqual(['gamma-t1/0=0', 'gamma-t1/1=1']);
  });

  it('sends nothing to boxes out of service: empty, starting or broken', async () => {
    const clock = new ManualClock(T0);
    const fleet = await Fleet.start('beta-t1', 4, { clock, startSeconds: 30 });
    fleets.push(fleet);
    fleet.boxes[1]?.load(service('r1'));
    fleet.boxes[2]?.load(service('r1', 7));
    clock.advance(30);
    fleet.boxes[3]?.load(service('r2'));
    const points: MetricPoint[] = [];
    const canary = new Canary({
      fleets: { list: () => [fleet] },
      sink: { put: (point) => void points.push(point) },
    });

    await canary.tick(clock.now());

    expect(of(points, 'RequestCount')).toEqual(['beta-t1/1=1']);
  });

  it('records a box that does not answer as a fault', async () => {
    const { clock, onebox, points, sink } = await setup();
    onebox.boxes[0]?.load(service('r1'));
    await onebox.boxes[0]?.close();
    const canary = new Canary({ fleets: { list: () => [onebox] }, sink });

    await canary.tick(clock.now());

    expect(of(points, 'RequestCount')).toEqual(['gamma-onebox/0=1']);
    expect(of(points, 'Fault')).toEqual(['gamma-onebox/0=1']);
    expect(points.find((point) => point.metric === 'Latency')?.value).toBeGreaterThanOrEqual(0);
  });

  it('refuses a number of requests per box below 1', () => {
    expect(
      () => new Canary({ fleets: { list: () => [] }, sink: { put: () => {} }, requestsPerBox: 0 }),
    ).toThrow(TerminalError);
  });

  it('with secondsPerRound, sends a round per interval of clock time since the last, each at its own time', async () => {
    const { clock, gamma, onebox, points, sink } = await setup();
    onebox.boxes[0]?.load(service('r1'));
    void gamma;
    const canary = new Canary({
      fleets: { list: () => [onebox] },
      sink,
      secondsPerRound: 20,
      maxRoundsPerTick: 4,
    });
    const t0 = clock.now().getTime();
    const times = () =>
      points.filter((p) => p.metric === 'RequestCount').map((p) => (p.at.getTime() - t0) / 1000);

    await canary.tick(clock.now()); // the first round: now
    clock.advance(10);
    await canary.tick(clock.now()); // 10 s later: no round due
    clock.advance(55);
    await canary.tick(clock.now()); // 65 s after the first: three rounds, 20 s apart, ending now
    clock.advance(600);
    await canary.tick(clock.now()); // far behind: the cap, the latest four intervals

    expect(times()).toEqual([0, 25, 45, 65, 605, 625, 645, 665]);
    expect(() => new Canary({ fleets: { list: () => [] }, sink, secondsPerRound: 0 })).toThrow(
      'secondsPerRound is 0',
    );
  });
});
