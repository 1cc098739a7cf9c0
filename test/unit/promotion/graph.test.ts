/**
 * The promotion rules on a stage graph: beta fans out to two lanes (`lane-a`, `lane-b`,
 * a Region each) that the next wave joins (`join`, after both). A release enters the join
 * only once every lane approved it (safety property 1 over a graph).
 */
import { describe, expect, it } from 'vitest';
import {
  approveExpedite,
  manualRollback,
  parsePipelineDefinition,
  requestExpedite,
  setPromotions,
  Topology,
} from '../../../core/index.js';
import { drive, Sandbox, smallDefinition, stage, target } from '../../support/fixtures.js';

const definition = parsePipelineDefinition({
  ...smallDefinition(),
  stages: [
    stage('beta', null),
    stage('lane-a', 'beta', { phase: 'production', wave: 1, targets: [target('a-1')] }),
    stage('lane-b', 'beta', { phase: 'production', wave: 1, targets: [target('b-1')] }),
    stage('join', ['lane-a', 'lane-b'], {
      phase: 'production',
      wave: 2,
      targets: [target('j-1')],
    }),
  ],
});

/** r1 through beta, both lanes running it. */
function started(): Sandbox {
  const sb = new Sandbox(definition);
  drive.create(sb, 1);
  drive.pass(sb, 'beta');
  return sb;
}

/** Both lanes approved r1 and r2; the join deploys r1 and has r2 pending. */
function joinDeploysR1WithR2Pending(): Sandbox {
  const sb = started();
  drive.pass(sb, 'lane-a');
  drive.pass(sb, 'lane-b');
  drive.admit(sb, 'join');
  drive.create(sb, 2);
  drive.pass(sb, 'beta');
  drive.pass(sb, 'lane-a');
  drive.pass(sb, 'lane-b');
  expect(join(sb)).toEqual({ pending: 2, running: 1 });
  return sb;
}

const join = (sb: Sandbox) => {
  const state = sb.stage('join');
  return { pending: state.pending, running: state.run?.release ?? null };
};

describe('a join', () => {
  it('knows what it follows and what follows each lane', () => {
    const topology = new Topology(definition);

    expect(topology.upstreamOf('join')).toEqual(['lane-a', 'lane-b']);
    expect(topology.downstreamOf('lane-a')).toEqual(['join']);
    expect(topology.roots).toEqual(['beta']);
    expect(topology.leaves).toEqual(['join']);
  });

  it('takes a release only once every lane approved it', () => {
    const sb = started();

    drive.pass(sb, 'lane-a');
    expect(join(sb)).toEqual({ pending: null, running: null });

    const t = drive.pass(sb, 'lane-b');
    expect(join(sb)).toEqual({ pending: null, running: 1 });
    // Both lanes promote it: each leaves its lane only through its own gate.
    expect(
      t.events.filter((e) => e.type === 'Release Promoted').map((e) => e.detail.stage),
    ).toEqual(['lane-a', 'lane-b']);
  });

  it('takes the newest release every lane approved, not one only a lane approved', () => {
    // Prepare: lane-a approves r1 and r2 while lane-b still deploys r1; r3 supersedes r2 at lane-b.
    const sb = started();
    drive.admit(sb, 'lane-b');
    drive.pass(sb, 'lane-a');
    drive.create(sb, 2);
    drive.pass(sb, 'beta'); // lane-a takes r2, lane-b (busy with r1) holds it pending
    drive.admit(sb, 'lane-a');
    drive.create(sb, 3);
    drive.pass(sb, 'beta'); // r3: pending at lane-a, and replaces r2 at lane-b
    drive.pass(sb, 'lane-a'); // lane-a approves r2, takes r3
    expect(join(sb)).toEqual({ pending: null, running: null });

    // Act: lane-b approves r1, the only release both lanes approved.
    drive.pass(sb, 'lane-b');

    // Assess: the join takes r1; r2, which lane-b never ran, never enters it.
    expect(join(sb)).toEqual({ pending: null, running: 1 });
    drive.pass(sb, 'join');
    drive.pass(sb, 'lane-a'); // lane-a approves r3; lane-b runs it
    expect(join(sb)).toEqual({ pending: null, running: null });
    drive.pass(sb, 'lane-b');
    expect(join(sb)).toEqual({ pending: null, running: 3 });
    expect(sb.events().some((e) => e.detail.stage === 'join' && e.detail.release === 2)).toBe(
      false,
    );
  });

  it('never takes a release one lane passed over, even when the other approved it last', () => {
    // Prepare: lane-a approves r1 then r3 (r2 superseded there before it deployed);
    // lane-b approves r1 then r2.
    const sb = started();
    drive.admit(sb, 'lane-a');
    drive.admit(sb, 'lane-b');
    drive.pass(sb, 'lane-a');
    drive.create(sb, 2);
    drive.pass(sb, 'beta'); // lane-a takes r2; lane-b, busy, holds it pending
    drive.pass(sb, 'lane-b'); // lane-b approves r1 (the join takes it) and takes r2
    drive.admit(sb, 'lane-b');
    drive.create(sb, 3);
    drive.pass(sb, 'beta'); // r3 replaces r2 at lane-a, which had not deployed it
    drive.admit(sb, 'lane-a');
    drive.pass(sb, 'lane-b'); // lane-b approves r2
    expect(sb.stage('lane-a').targets['a-1']?.approved).toEqual([1]);

    // Act: lane-a approves r3; the newest release both lanes may have is r2, which lane-a
    // never ran.
    drive.pass(sb, 'lane-a');

    // Assess: the join is offered nothing until lane-b approves r3 too.
    expect(join(sb)).toEqual({ pending: null, running: 1 });
    expect(sb.events().some((e) => e.detail.stage === 'join' && e.detail.release === 2)).toBe(
      false,
    );
    drive.pass(sb, 'join');
    drive.pass(sb, 'lane-b');
    expect(join(sb)).toEqual({ pending: null, running: 3 });
  });

  it('keeps one pending release, replaced only by a newer one every lane approved', () => {
    // Prepare: the join runs r1 and has r2 pending (both lanes approved it).
    const sb = joinDeploysR1WithR2Pending();

    // Act: r3 is approved by lane-a only, then by lane-b.
    drive.create(sb, 3);
    drive.pass(sb, 'beta');
    drive.pass(sb, 'lane-a');
    expect(join(sb)).toEqual({ pending: 2, running: 1 });
    drive.pass(sb, 'lane-b');

    // Assess: r3 replaces r2 only now.
    expect(join(sb)).toEqual({ pending: 3, running: 1 });
    expect(sb.events().filter((e) => e.type === 'Release Superseded')).toContainEqual(
      expect.objectContaining({ detail: expect.objectContaining({ stage: 'join', release: 2 }) }),
    );
  });

  it('holds everything while one lane’s promotions out are disabled, then passes over what it skipped', () => {
    // Prepare: the join deploys r1; lane-b's gate out closes; both lanes approve r2 and r3.
    const sb = started();
    drive.pass(sb, 'lane-a');
    drive.pass(sb, 'lane-b');
    drive.admit(sb, 'join');
    sb.apply(setPromotions, {
      requestId: 'close-b',
      stage: 'lane-b',
      direction: 'out',
      enabled: false,
      by: 'ana',
      reason: 'incident',
    });
    for (const release of [2, 3]) {
      drive.create(sb, release);
      drive.pass(sb, 'beta');
      drive.pass(sb, 'lane-a');
      drive.pass(sb, 'lane-b');
    }
    expect(join(sb)).toEqual({ pending: null, running: 1 });

    // Act: the gate opens.
    const t = sb.apply(setPromotions, {
      requestId: 'open-b',
      stage: 'lane-b',
      direction: 'out',
      enabled: true,
      by: 'ana',
      reason: 'resolved',
    });

    // Assess: r3 is offered; r2, approved by both but never offered, ends superseded there.
    expect(join(sb)).toEqual({ pending: 3, running: 1 });
    expect(t.outcomes).toContainEqual({
      release: 2,
      stage: 'join',
      outcome: expect.objectContaining({ status: 'superseded', by: 3 }),
    });
  });

  it('withdraws a release one lane no longer approves (a manual rollback there)', () => {
    // Prepare: the join runs r1 and has r2 pending.
    const sb = joinDeploysR1WithR2Pending();

    // Act: lane-b is rolled back to r1.
    sb.apply(manualRollback, {
      requestId: 'rb-1',
      targets: [{ stage: 'lane-b', target: 'b-1' }],
      to: 1,
      by: 'ana',
      reason: 'latent bug in r2',
    });

    // Assess: r2 leaves the join, rejected; the join's run of r1 goes on.
    expect(join(sb)).toEqual({ pending: null, running: 1 });
    expect(sb.transitions.at(-1)?.outcomes).toContainEqual({
      release: 2,
      stage: 'join',
      outcome: expect.objectContaining({ status: 'rejected' }),
    });
  });
});

describe('an expedite through a join', () => {
  it('takes the expedited release through both lanes and the join, then ends', () => {
    // Prepare: r1 is at both lanes (not yet deploying); r2, at beta, is expedited.
    const sb = started();
    drive.create(sb, 2);
    sb.apply(requestExpedite, {
      release: 2,
      requestedBy: 'ana',
      reason: 'CVE fix',
      bakeFactor: 0.5,
    });
    sb.apply(approveExpedite, { release: 2, approvedBy: 'bo', reason: 'read the fix' });

    // Act: r2 passes beta, replaces r1 in both lanes (nothing of r1 was deployed), passes
    // them and the join.
    drive.pass(sb, 'beta');
    expect([sb.run('lane-a').release, sb.run('lane-b').release]).toEqual([2, 2]);
    drive.pass(sb, 'lane-a');
    expect(join(sb)).toEqual({ pending: null, running: null });
    drive.pass(sb, 'lane-b');
    expect(join(sb)).toEqual({ pending: null, running: 2 });
    drive.pass(sb, 'join');

    // Assess: r2 is everywhere, so the expedite is over.
    expect(sb.stage('join').lastApproved).toBe(2);
    expect(sb.state.meta.expedite).toBeNull();
  });
});

describe('a definition with a join', () => {
  it('accepts a list of stages to follow and refuses unknown, later or repeated ones', () => {
    const bad = (after: string[]) => () =>
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [
          stage('beta', null),
          stage('lane-a', 'beta'),
          stage('join', after),
          stage('late', 'beta'),
        ],
      });

    expect(bad(['beta', 'lane-a'])().stages[2]?.after).toEqual(['beta', 'lane-a']);
    expect(bad(['lane-a', 'nope'])).toThrow(
      'stages[2].after[1]: expected the name of an earlier stage (one of: beta, lane-a), got "nope"',
    );
    expect(bad(['lane-a', 'late'])).toThrow(
      'stages[2].after[1]: expected the name of an earlier stage',
    );
    expect(bad(['lane-a', 'lane-a'])).toThrow('stages[2].after[1]: expected a stage named once');
  });
});
