import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  hours,
  minutes,
  parsePipelineDefinition,
  pipelineEvent,
  recordApprovalStep,
  setPromotions,
} from '../../../core/index.js';
import type { LocalDeployment } from '../../../local/fleet-deployer.js';
import {
  humanDuration,
  LiveView,
  renderBoard,
  renderSummary,
  type ViewOutput,
  type ViewSnapshot,
} from '../../../local/view.js';
import { drive, Sandbox, smallDefinition, stage, T0 } from '../../support/fixtures.js';

const DEFAULT_DEMO_SPEED = 120;

const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

function snapshotOf(sb: Sandbox, overrides: Partial<ViewSnapshot> = {}): ViewSnapshot {
  return {
    now: new Date(sb.now),
    // `npm start`'s default: the header says how fast the clock may run.
    speed: DEFAULT_DEMO_SPEED,
    topology: sb.topology,
    state: sb.state,
    dataPoints: {},
    deployments: [],
    events: sb.events(),
    ...overrides,
  };
}

/** The board line of a stage: the one whose first word is the stage's name. */
function lineOf(board: string, stageName: string): string {
  const found = board.split('\n').find((line) => line.trim().split(/\s+/)[0] === stageName);
  if (found === undefined) throw new Error(`no line for ${stageName} in\n${board}`);
  return found;
}

function deployment(overrides: Partial<LocalDeployment>): LocalDeployment {
  return {
    deploymentId: 'beta-t1-d1',
    pipeline: 'api',
    target: 'beta-t1',
    release: 1,
    version: '1.0.1',
    kind: 'normal',
    batch: 1,
    batches: 3,
    status: 'in-progress',
    reason: null,
    startedAt: T0,
    endedAt: null,
    ...overrides,
  };
}

/** r1 approved everywhere: the starting point of most cases. */
function everywhere(): Sandbox {
  const sb = new Sandbox();
  drive.create(sb, 1);
  for (const name of ['beta', 'gamma', 'prod-1', 'prod-2']) drive.pass(sb, name);
  return sb;
}

const ESC = '\x1b';
const ANSI = new RegExp(`${ESC}\\[`);
const ANSI_COLOURS = new RegExp(`${ESC}\\[[0-9;]*m`, 'g');

describe('renderBoard: what each stage is doing', () => {
  it('says why a stage is blocked, on its own line', () => {
    // Prepare
    const sb = everywhere();
    drive.create(sb, 2);
    drive.admit(sb, 'beta', { 'team-aggregate-euw1': 'ALARM' });

    // Act
    const board = renderBoard(snapshotOf(sb));

    // Assess
    expect(lineOf(board, 'beta')).toMatch(
      /beta\s+r2\s+blocked: alarm team-aggregate-euw1 is in ALARM\s+✓ r1$/,
    );
    expect(lineOf(board, 'gamma')).toMatch(/gamma\s+-\s+idle\s+✓ r1$/);
  });

  it('names the blocked targets when only some are blocked, and when a window opens', () => {
    const sb = everywhere();
    drive.create(sb, 2);
    for (const name of ['beta', 'gamma']) drive.pass(sb, name);
    const state = sb.stage('prod-1');
    const run = sb.run('prod-1');
    const blocked = {
      ...state,
      run: {
        ...run,
        blockers: [
          {
            target: 'prod-1-b',
            kind: 'time-window',
            subject: 'allow',
            reason: 'outside the allow windows',
            until: at(hours(2) + minutes(5)),
          },
        ],
      },
    };
    const board = renderBoard(
      snapshotOf(sb, { state: { ...sb.state, stages: { ...sb.state.stages, 'prod-1': blocked } } }),
    );
    expect(lineOf(board, 'prod-1')).toContain(
      'blocked: outside the allow windows (prod-1-b), opens in 2h 05m',
    );
  });

  it('shows the batch in flight of a deploying stage', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');
    const board = renderBoard(
      snapshotOf(sb, {
        deployments: [
          deployment({ release: 1, batch: 3, batches: 3, status: 'failed', deploymentId: 'old' }),
          deployment({ target: 'gamma-t1', batch: 1 }),
          deployment({ batch: 2, batches: 3 }),
        ],
      }),
    );
    expect(lineOf(board, 'beta')).toMatch(/beta\s+r1\s+deploying 2\/3 batches$/);
  });

  it('counts the targets done when a stage has several', () => {
    const sb = everywhere();
    drive.create(sb, 2);
    for (const name of ['beta', 'gamma']) drive.pass(sb, name);
    drive.admit(sb, 'prod-1');
    const board = renderBoard(
      snapshotOf(sb, {
        deployments: [
          deployment({ target: 'prod-1-a', release: 2, batch: 3, status: 'succeeded' }),
          deployment({ target: 'prod-1-b', release: 2, batch: 1 }),
        ],
      }),
    );
    expect(lineOf(board, 'prod-1')).toContain('deploying 4/6 batches, 0/2 targets done');
  });

  it('shows the bake time and data points left', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');
    drive.finish(sb, 'beta');
    sb.now = at(minutes(48) - 5);

    const board = renderBoard(snapshotOf(sb, { dataPoints: { beta: { 'beta-t1': 4 } } }));

    // The bake is an hour and needs 10 data points.
    expect(lineOf(board, 'beta')).toMatch(/beta\s+r1\s+baking 12m 05s left, 6 data points left$/);
  });

  it('dials the bake time down for an expedited release', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');
    drive.finish(sb, 'beta');
    const expedite = {
      release: 1,
      requestedBy: 'bo',
      approver: 'ana',
      reason: 'CVE',
      at: T0,
      bakeFactor: 0.25,
    };
    const board = renderBoard(
      snapshotOf(sb, {
        state: { ...sb.state, meta: { ...sb.state.meta, expedite } },
        dataPoints: { beta: { 'beta-t1': 25 } },
      }),
    );
    expect(lineOf(board, 'beta')).toContain('baking 15m 00s left, 0 data points left');
    expect(board.split('\n')[0]).toContain('expediting r1');
  });

  it('lists the approval steps still to pass', () => {
    const sb = new Sandbox(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [
          stage('beta', null, {
            approvalSteps: [
              { kind: 'integration-tests', name: 'api-tests', timeoutSeconds: 600 },
              { kind: 'manual-approval', name: 'release-manager', timeoutSeconds: hours(24) },
            ],
          }),
        ],
      }),
    );
    drive.create(sb, 1);
    drive.pass(sb, 'beta');
    sb.apply(recordApprovalStep, {
      stage: 'beta',
      seq: 1,
      step: 'api-tests',
      passed: true,
      by: 'tests',
      via: 'test-runner',
      reason: 'green',
    });
    expect(lineOf(renderBoard(snapshotOf(sb)), 'beta')).toMatch(
      /beta\s+r1\s+approving: release-manager$/,
    );
  });

  it('shows a rollback with where it goes and why', () => {
    const sb = everywhere();
    drive.create(sb, 2);
    drive.admit(sb, 'beta');
    drive.finish(sb, 'beta', 'failed', 'box 1 unhealthy');
    const board = renderBoard(
      snapshotOf(sb, {
        deployments: [deployment({ release: 1, kind: 'rollback', batch: 1, batches: 3 })],
      }),
      { width: 140 },
    );
    expect(lineOf(board, 'beta')).toMatch(
      /beta\s+r2\s+rolling back r2 → r1 \(1\/3 batches\): deployment to beta-t1 failed: box 1 unhealthy\s+✓ r1$/,
    );
  });

  it('shows the pending release, and the one it superseded among the events', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');
    drive.create(sb, 2);
    drive.create(sb, 3);
    const board = renderBoard(snapshotOf(sb));
    expect(lineOf(board, 'beta')).toMatch(/beta\s+r1\s+deploying\s+r3 waiting$/);
    expect(board).toMatch(/\d\d:\d\d:\d\d {2}Release Superseded {4}beta r2: r3 is newer/);
  });

  it('shows a closed gate on an idle stage', () => {
    const sb = everywhere();
    sb.apply(setPromotions, {
      stage: 'gamma',
      direction: 'in',
      enabled: false,
      by: 'ana',
      reason: 'investigating latency',
      requestId: 'q1',
    });
    expect(lineOf(renderBoard(snapshotOf(sb)), 'gamma')).toContain(
      'idle, promotions in disabled: investigating latency',
    );
  });
});

describe('renderBoard: layout', () => {
  it('groups stages under their phase and wave, in pipeline order', () => {
    const lines = renderBoard(snapshotOf(everywhere())).split('\n');
    const index = (text: string) => lines.findIndex((line) => line.trim().startsWith(text));
    const order = ['pre-production', 'beta', 'gamma', 'wave 1', 'prod-1', 'wave 2', 'prod-2'];
    const found = order.map(index);
    expect(found.every((i) => i > 0)).toBe(true);
    expect([...found].sort((a, b) => a - b)).toEqual(found);
  });

  it('shows the last events, oldest first, as time, type and subject', () => {
    const sb = everywhere();
    const events = sb.events();
    const board = renderBoard(snapshotOf(sb), { events: 3 });
    const lines = board.split('\n');
    const shown = lines.slice(lines.indexOf('events') + 1);
    expect(shown).toHaveLength(3);
    expect(shown.at(-1)?.trim()).toBe(`10:00:00  Stage Approved        prod-2 r1`);
    expect(events.length).toBeGreaterThan(3);
    expect(board).not.toContain('Release Created');
  });

  it.each([30, 50, 72])('keeps every line within %i columns', (width) => {
    const sb = everywhere();
    drive.create(sb, 2);
    drive.admit(sb, 'beta', { 'team-aggregate-euw1': 'ALARM' });
    const lines = renderBoard(snapshotOf(sb), { width }).split('\n');
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(width);
    expect(lines.some((line) => line.endsWith('…'))).toBe(true);
  });

  it('colours only when asked: blocked in red, approved in green', () => {
    const sb = everywhere();
    drive.create(sb, 2);
    drive.admit(sb, 'beta', { 'team-aggregate-euw1': 'ALARM' });
    expect(renderBoard(snapshotOf(sb))).not.toMatch(ANSI);
    const coloured = renderBoard(snapshotOf(sb), { color: true });
    expect(lineOf(coloured, 'beta')).toContain('\x1b[31mblocked: alarm');
    expect(lineOf(coloured, 'beta')).toContain('\x1b[32m✓ r1');
  });

  it('draws a small pipeline like this', () => {
    const sb = new Sandbox(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [stage('beta', null), stage('gamma', 'beta')],
      }),
    );
    drive.create(sb, 1);
    drive.pass(sb, 'beta');
    expect(renderBoard(snapshotOf(sb, { speed: null }), { events: 0 })).toMatch(
      /^api {2}10:00:00 UTC {2}clock simulated {2}latest r1\n/,
    );
    expect(`\n${renderBoard(snapshotOf(sb), { events: 2 })}`).toMatchInlineSnapshot(`
      "
      api  10:00:00 UTC  clock ×120  latest r1
      pre-production
        beta   -    idle      ✓ r1
        gamma  r1   starting
      events
        10:00:00  Release Promoted      beta r1 → gamma
        10:00:00  Stage Started         gamma r1"
    `);
  });
});

it.each([
  [0, '0s'],
  [45, '45s'],
  [44.2, '45s'],
  [125, '2m 05s'],
  [hours(2) + minutes(5), '2h 05m'],
  [hours(12), '12h 00m'],
  [hours(27), '1d 03h'],
])('humanDuration(%d) is %s', (seconds, text) => {
  expect(humanDuration(seconds)).toBe(text);
});

describe('renderSummary', () => {
  /** r1 everywhere, r2 rejected at beta, r3 superseded by r4, which runs at beta. */
  function history(): Sandbox {
    const sb = everywhere();
    drive.create(sb, 2);
    drive.admit(sb, 'beta');
    drive.finish(sb, 'beta', 'failed', 'unhealthy');
    drive.finish(sb, 'beta');
    drive.create(sb, 3);
    drive.create(sb, 4);
    drive.pass(sb, 'beta');
    return sb;
  }

  it('lists every target with the release it runs', () => {
    const sb = history();
    const summary = renderSummary(snapshotOf(sb));
    const rows = summary.split('\n');
    for (const [target, runs] of [
      ['beta-t1', 'r4'],
      ['gamma-t1', 'r1'],
      ['prod-1-a', 'r1'],
      ['prod-1-b', 'r1'],
      ['prod-2-t1', 'r1'],
    ]) {
      expect(rows.find((row) => row.startsWith(`${target} `))).toMatch(
        new RegExp(`^${target}\\s+\\S+\\s+${runs}\\s`),
      );
    }
    expect(rows.find((row) => row.startsWith('beta-t1 '))).toMatch(/r1 r4$/);
  });

  it('shows each release’s outcome per stage, from the events', () => {
    const rows = renderSummary(snapshotOf(history())).split('\n');
    const row = (release: string) => rows.find((r) => r.startsWith(`${release} `))?.split(/\s+/);
    expect(rows).toContainEqual(
      expect.stringMatching(/^release\s+beta\s+gamma\s+prod-1\s+prod-2$/),
    );
    expect(row('r1')).toEqual(['r1', 'approved', 'approved', 'approved', 'approved']);
    expect(row('r2')).toEqual(['r2', 'rejected', '-', '-', '-']);
    expect(row('r3')).toEqual(['r3', 'superseded', '-', '-', '-']);
    expect(row('r4')?.slice(0, 4)).toEqual(['r4', 'approved', 'in', 'flight']);
  });

  it('shows a release pending at a first stage, which no event announces', () => {
    const sb = history();
    drive.create(sb, 5);
    drive.admit(sb, 'beta');
    drive.create(sb, 6);
    const summary = renderSummary(snapshotOf(sb));
    expect(summary).toMatch(/^r5\s+in flight\s+-/m);
    expect(summary).toMatch(/^r6\s+pending\s+-/m);
  });

  it('prefers the release store’s progress to the events', () => {
    const sb = history();
    const summary = renderSummary(
      snapshotOf(sb, {
        progress: [{ release: 2, stages: { beta: { status: 'blocked', at: T0, reason: 'x' } } }],
      }),
    );
    expect(summary).toMatch(/^r2\s+blocked\s+-/m);
    expect(summary).toMatch(/^r1\s+-\s+-/m);
  });

  it('counts releases, deployments and rollbacks', () => {
    const sb = history();
    expect(renderSummary(snapshotOf(sb))).toContain(
      // r1 to 5 targets, r2 and r4 to beta; one rollback, at beta.
      'releases created 4  deployments 7 (1 failed)  rollbacks 1',
    );
    const local = renderSummary(
      snapshotOf(sb, {
        deployments: [
          deployment({ status: 'succeeded' }),
          deployment({ release: 2, status: 'failed' }),
          deployment({ release: 1, kind: 'rollback', status: 'succeeded' }),
        ],
      }),
    );
    expect(local).toContain('deployments 2 (1 failed)  rollbacks 1');
  });

  it('shows what the fleets serve when told', () => {
    const summary = renderSummary(
      snapshotOf(history(), { fleets: { 'beta-t1': { '1.0.4': 2, '1.0.1': 1 } } }),
    );
    expect(summary).toMatch(/^beta-t1\s+beta\s+r4\s+1\.0\.4 ×2, 1\.0\.1 ×1\s+r1 r4$/m);
    expect(summary).toMatch(/^gamma-t1\s+gamma\s+r1\s+-\s+r1$/m);
  });
});

/** A stream that keeps what is written. */
function output(tty: boolean, columns = 80): ViewOutput & { text: () => string; chunks: string[] } {
  const chunks: string[] = [];
  return {
    isTTY: tty,
    columns,
    rows: 40,
    chunks,
    write: (chunk: string) => chunks.push(chunk),
    text: () => chunks.join(''),
  };
}

describe('LiveView', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const extra = (n: number) =>
    pipelineEvent({
      type: 'Release Blocked',
      pipeline: 'api',
      stage: 'beta',
      release: 9,
      occurrence: n,
      reason: `blocker ${n}`,
      at: T0,
    });

  it('in a log, writes each new event once and a board now and then', () => {
    const out = output(false);
    let clock = 0;
    const view = new LiveView({ out, boardEverySeconds: 30, now: () => clock });
    const sb = everywhere();
    const events = sb.events();

    view.update(snapshotOf(sb, { events: [...events, extra(1)] }));
    clock = 10_000;
    view.update(snapshotOf(sb, { events: [...events, extra(1), extra(2)] }));
    clock = 20_000;
    view.update(snapshotOf(sb, { events: [...events.slice(5), extra(2)] }));

    const text = out.text();
    expect(text.match(/blocker 1/g)).toHaveLength(1);
    expect(text.match(/blocker 2/g)).toHaveLength(1);
    expect(text.match(/Release Created {7}r1/g)).toHaveLength(1);
    expect(text.match(/^pre-production$/gm)).toHaveLength(1);
    expect(text).not.toMatch(ANSI);

    clock = 31_000;
    view.update(snapshotOf(sb, { events: [extra(2), extra(3)] }));
    expect(out.text().match(/^pre-production$/gm)).toHaveLength(2);
    expect(out.chunks.at(-1)).toMatch(/^\d\d:\d\d:\d\d {2}Release Blocked {7}beta r9: blocker 3\n/);

    view.close();
    expect(out.text().match(/^pre-production$/gm)).toHaveLength(3);
    view.update(snapshotOf(sb, { events: [extra(4)] }));
    expect(out.text()).not.toContain('blocker 4');
  });

  it('on a terminal, redraws in place at most fps times a second', () => {
    vi.useFakeTimers();
    const out = output(true, 61);
    let clock = 0;
    const view = new LiveView({ out, fps: 4, now: () => clock });
    const sb = new Sandbox();
    drive.create(sb, 1);

    view.update(snapshotOf(sb));
    expect(out.chunks).toHaveLength(1);
    const first = out.chunks[0] ?? '';
    expect(first).toContain('\x1b[');
    const height = first.split('\n').length - 1;
    for (const line of first.split('\n')) {
      expect([...line.replace(ANSI_COLOURS, '')].length).toBeLessThanOrEqual(60);
    }

    drive.admit(sb, 'beta');
    view.update(snapshotOf(sb));
    drive.finish(sb, 'beta');
    view.update(snapshotOf(sb));
    expect(out.chunks).toHaveLength(1);

    clock = 250;
    vi.advanceTimersByTime(250);
    expect(out.chunks).toHaveLength(2);
    const second = out.chunks[1] ?? '';
    expect(second.startsWith(`\x1b[${height}A\r\x1b[J`)).toBe(true);
    expect(second).toContain('baking');
    expect(second).not.toContain('deploying');

    view.close();
    expect(out.chunks).toHaveLength(3);
    vi.advanceTimersByTime(1000);
    expect(out.chunks).toHaveLength(3);
  });

  it('refuses a frame rate that is not positive', () => {
    expect(() => new LiveView({ out: output(false), fps: 0 })).toThrow(/fps is 0/);
  });
});
