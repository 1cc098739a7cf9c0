import { describe, expect, it } from 'vitest';
import {
  admitTargets,
  createRelease,
  expedite,
  failStage,
  manualRollback,
  type PipelineState,
  type RuleContext,
  recordApprovalStep,
  recordBake,
  recordDeployment,
  recordOverride,
  restartRun,
  setKnownBad,
  setPromotions,
  type Transition,
} from '../../../core/index.js';
import { allTargets, drive, release, Sandbox, T0 } from '../../support/fixtures.js';

type Request = (c: RuleContext, s: PipelineState) => Transition;

/** A sandbox with r1 and r2 approved up to prod-1, and r3 deploying at beta. */
function busy(): Sandbox {
  const sb = new Sandbox();
  for (const n of [1, 2]) {
    drive.create(sb, n);
    for (const s of ['beta', 'gamma', 'prod-1', 'prod-2']) drive.pass(sb, s);
  }
  drive.create(sb, 3);
  drive.admit(sb, 'beta');
  return sb;
}

// Property 7: each rule, given the same request twice, changes nothing the second time.
describe.each<[string, (sb: Sandbox) => Request]>([
  ['createRelease', () => (c, s) => createRelease(c, s, { release: release(4) })],
  [
    'admitTargets',
    (sb) => (c, s) =>
      admitTargets(c, s, {
        stage: 'beta',
        seq: sb.run('beta').seq,
        evaluations: allTargets(sb.topology, 'beta'),
      }),
  ],
  [
    'recordDeployment',
    (sb) => (c, s) =>
      recordDeployment(c, s, {
        stage: 'beta',
        seq: sb.run('beta').seq,
        target: 'beta-t1',
        kind: 'normal',
        result: 'succeeded',
      }),
  ],
  [
    'recordDeployment (failed)',
    (sb) => (c, s) =>
      recordDeployment(c, s, {
        stage: 'beta',
        seq: sb.run('beta').seq,
        target: 'beta-t1',
        kind: 'normal',
        result: 'failed',
        reason: 'x',
      }),
  ],
  [
    'failStage',
    (sb) => (c, s) => failStage(c, s, { stage: 'beta', seq: sb.run('beta').seq, reason: 'alarm' }),
  ],
  [
    'recordBake (after deploying)',
    (sb) => {
      drive.finish(sb, 'beta');
      return (c, s) =>
        recordBake(c, s, {
          stage: 'beta',
          seq: sb.run('beta').seq,
          verdict: { verdict: 'passed' },
        });
    },
  ],
  [
    'setPromotions',
    () => (c, s) =>
      setPromotions(c, s, {
        stage: 'gamma',
        direction: 'out',
        enabled: false,
        by: 'ana',
        reason: 'x',
      }),
  ],
  [
    'recordOverride',
    () => (c, s) =>
      recordOverride(c, s, {
        override: {
          id: 'o-1',
          kind: 'alarm',
          subject: null,
          stage: null,
          release: null,
          by: 'ana',
          reason: 'x',
          at: T0,
          until: '2026-11-24T00:00:00.000Z',
        },
      }),
  ],
  [
    'setKnownBad',
    () => (c, s) =>
      setKnownBad(c, s, {
        entry: { kind: 'release', value: 'r2', by: 'ana', reason: 'x', at: T0 },
        present: true,
      }),
  ],
  [
    'expedite',
    () => (c, s) => expedite(c, s, { release: 3, approver: 'p', reason: 'x', bakeFactor: 0.5 }),
  ],
  [
    'manualRollback',
    () => (c, s) =>
      manualRollback(c, s, {
        targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
        to: null,
        by: 'ana',
        reason: 'x',
      }),
  ],
  [
    'restartRun',
    (sb) => (c, s) => restartRun(c, s, { stage: 'beta', seq: sb.run('beta').seq, attempt: 1 }),
  ],
  [
    'recordApprovalStep (stale run)',
    () => (c, s) =>
      recordApprovalStep(c, s, {
        stage: 'beta',
        seq: 99,
        step: 'x',
        passed: true,
        by: 'a',
        reason: 'x',
      }),
  ],
])('%s', (_name, build) => {
  it('changes nothing when the same request arrives again', () => {
    // Prepare
    const sb = busy();
    const request = build(sb);
    const first = request(sb.context, sb.state);
    expect(first.writes.length > 0 || first.note !== null).toBe(true);

    // Act
    const second = request(sb.context, first.state);

    // Assess
    expect(second.state).toBe(first.state);
    expect(second.writes).toEqual([]);
    expect(second.events).toEqual([]);
    expect(second.starts).toEqual([]);
  });
});
