import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, TerminalError, targetSchema } from '../../../core/index.js';
import {
  Box,
  Fleet,
  Fleets,
  httpGet,
  LATENCY_HEADER,
  parseServiceJson,
} from '../../../local/fleet.js';
import { T0, target } from '../../support/fixtures.js';

/** A seeded pseudo-random source (mulberry32), so fault counts are known in advance. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const service = (version: string, faultRate = 0, latencyMs = 0) =>
  JSON.stringify({ version, faultRate, latencyMs });

const open: { close(): Promise<void> }[] = [];
async function opened<T extends { close(): Promise<void> }>(thing: Promise<T>): Promise<T> {
  const value = await thing;
  open.push(value);
  return value;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((thing) => thing.close()));
});

describe('parseServiceJson', () => {
  it.each([
    [
      service('r2', 0.05, 120),
      { ok: true, config: { version: 'r2', faultRate: 0.05, latencyMs: 120 } },
    ],
    ['{"version":"r3"', { ok: false, problem: expect.stringMatching(/^service.json is not JSON/) }],
    [
      service('r3', 7),
      { ok: false, problem: 'service.json is not valid: faultRate: expected a number from 0 to 1' },
    ],
    [
      '{"faultRate":0,"latencyMs":-1}',
      {
        ok: false,
        problem:
          'service.json is not valid: version: expected a non-empty string; latencyMs: expected a number of milliseconds ≥ 0',
      },
    ],
  ])('reads %s', (text, expected) => {
    expect(parseServiceJson(new TextEncoder().encode(text))).toEqual(expected);
  });
});

describe('Box', () => {
  it('serves nothing until loaded, starts for startSeconds of clock time, then serves its version', async () => {
    // Prepare
    const clock = new ManualClock(T0);
    const box = await opened(Box.start(0, { clock, startSeconds: 10 }));
    const empty = await httpGet(`${box.url}/health`);

    // Act
    box.load(service('r2'));
    const starting = [await httpGet(`${box.url}/health`), await httpGet(`${box.url}/`)];
    clock.advance(9);
    const stillStarting = await httpGet(`${box.url}/health`);
    clock.advance(1);
    const health = await httpGet(`${box.url}/health`);
    const served = await httpGet(`${box.url}/`);

    // Assess
    expect(empty.status).toBe(503);
    expect(JSON.parse(empty.body)).toMatchObject({ state: 'empty' });
    expect(starting.map((answer) => answer.status)).toEqual([503, 503]);
    expect(JSON.parse(starting[0]?.body ?? '')).toMatchObject({ state: 'starting', version: 'r2' });
    expect(stillStarting.status).toBe(503);
    expect(health.status).toBe(200);
    expect(box.state).toBe('running');
    expect(served.status).toBe(200);
    expect(JSON.parse(served.body)).toEqual({ box: 0, version: 'r2' });
  });

  it('never gets healthy on a service.json it cannot read, and says why', async () => {
    const clock = new ManualClock(T0);
    const box = await opened(Box.start(4, { clock, startSeconds: 0 }));

    box.load(service('r3', 7));
    clock.advance(3600);
    const health = await httpGet(`${box.url}/health`);
    const served = await httpGet(`${box.url}/`);

    expect(box.state).toBe('broken');
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body)).toEqual({
      box: 4,
      state: 'broken',
      version: null,
      problem: 'service.json is not valid: faultRate: expected a number from 0 to 1',
    });
    expect(served.status).toBe(503);
  });

  it('answers 500 exactly when random() < faultRate', async () => {
    const draws = [0.1, 0.5, 0.29, 0.3, 0.31];
    const box = await opened(
      Box.start(0, {
        clock: new ManualClock(T0),
        startSeconds: 0,
        random: () => draws.shift() ?? 1,
      }),
    );
    box.load(service('r2', 0.3));

    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await httpGet(`${box.url}/`)).status);

    expect(statuses).toEqual([500, 200, 500, 200, 200]);
  });

  it('faults at the configured rate with a seeded random source', async () => {
    const box = await opened(
      Box.start(0, { clock: new ManualClock(T0), startSeconds: 0, random: seeded(42) }),
    );
    box.load(service('r2', 0.25));
    const draw = seeded(42);
    const expected = Array.from({ length: 400 }, () => draw()).filter((x) => x < 0.25).length;

    let faults = 0;
    for (let round = 0; round < 8; round += 1) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => httpGet(`${box.url}/`)));
      faults += answers.filter((answer) => answer.status === 500).length;
    }

    expect(faults).toBe(expected);
    expect(faults / 400).toBeGreaterThan(0.2);
    expect(faults / 400).toBeLessThan(0.3);
  });

  it('waits latencyMs, capped, and states the simulated latency', async () => {
    const clock = new ManualClock(T0);
    const slow = await opened(Box.start(0, { clock, startSeconds: 0 }));
    const none = await opened(Box.start(1, { clock, startSeconds: 0, maxDelayMs: 0 }));
    const capped = await opened(Box.start(2, { clock, startSeconds: 0, maxDelayMs: 20 }));
    slow.load(service('r2', 0, 40));
    none.load(service('r2', 0, 400));
    capped.load(service('r2', 0, 60_000));

    const timed = async (box: Box) => {
      const started = performance.now();
      const answer = await httpGet(`${box.url}/`, 5000);
      return { ms: performance.now() - started, stated: answer.headers[LATENCY_HEADER] };
    };
    const [a, b, c] = await Promise.all([timed(slow), timed(none), timed(capped)]);

    // Lower bounds only: a loaded machine answers later, never sooner.
    expect(a?.ms).toBeGreaterThanOrEqual(35);
    expect(a?.stated).toBe('40');
    expect(b?.stated).toBe('400');
    expect(c?.ms).toBeLessThan(1000);
    expect(c?.stated).toBe('60000');
  });

  it('refuses a maximum wait that is not a number ≥ 0', async () => {
    await expect(Box.start(0, { clock: new ManualClock(T0), maxDelayMs: -1 })).rejects.toThrow(
      'Box maxDelayMs is -1; expected a number ≥ 0',
    );
  });

  it('answers 404 for other paths, and nothing once closed', async () => {
    const box = await Box.start(0, { clock: new ManualClock(T0) });

    const other = await httpGet(`${box.url}/admin`);
    await box.close();

    expect(other.status).toBe(404);
    await expect(httpGet(`${box.url}/health`)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('Fleet', () => {
  it('counts the versions its boxes run', async () => {
    const fleet = await opened(Fleet.start('gamma-t1', 4, { clock: new ManualClock(T0) }));
    const before = fleet.versionCounts();

    fleet.boxes[0]?.load(service('r2'));
    fleet.boxes[1]?.load(service('r2'));
    fleet.boxes[2]?.load(service('r3', 2));

    expect(before).toEqual({ '(none)': 4 });
    expect(fleet.versionCounts()).toEqual({ r2: 2, '(invalid)': 1, '(none)': 1 });
    expect(new Set(fleet.boxes.map((box) => box.url)).size).toBe(4);
  });
});

describe('Fleets', () => {
  const gamma = targetSchema.parse(
    target('gamma-t1', { account: 'local', deployment: { kind: 'local-fleet', boxes: 3 } }),
  );

  it('starts a target fleet once, on first use, and closes every box', async () => {
    const fleets = new Fleets({ clock: new ManualClock(T0) });

    const [first, second] = await Promise.all([fleets.fleetFor(gamma), fleets.fleetFor(gamma)]);
    const health = await httpGet(`${first.boxes[2]?.url}/health`);
    await fleets.close();

    expect(second).toBe(first);
    expect(first.boxes).toHaveLength(3);
    expect(fleets.get('gamma-t1')).toBe(first);
    expect(fleets.list()).toEqual([first]);
    expect(health.status).toBe(503);
    await expect(httpGet(`${first.boxes[2]?.url}/health`)).rejects.toThrow(/ECONNREFUSED/);
    await expect(fleets.fleetFor(gamma)).rejects.toThrow('The fleets are closed');
  });

  it('refuses a target that is not a local fleet, naming it and its kind', async () => {
    const fleets = await opened(Promise.resolve(new Fleets({ clock: new ManualClock(T0) })));
    const ecs = targetSchema.parse(
      target('prod-t1', { deployment: { kind: 'ecs-service', cluster: 'c', service: 's' } }),
    );

    const attempt = fleets.fleetFor(ecs);

    await expect(attempt).rejects.toThrow(TerminalError);
    await expect(attempt).rejects.toThrow(
      'Target "prod-t1" has deployment kind "ecs-service", not "local-fleet"',
    );
    expect(fleets.list()).toEqual([]);
  });
});
