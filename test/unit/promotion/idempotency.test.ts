import { describe, expect, it } from 'vitest';
import {
  admitTargets,
  approveExpedite,
  createRelease,
  failStage,
  manualRollback,
  type PipelineState,
  type RuleContext,
  recordApprovalStep,
  recordBake,
  recordDeployment,
  recordOverride,
  requestExpedite,
  restartRun,
  setKnownBad,
  setPromotions,
  type Transition,
} from '../../../core/index.js';
import { drive, quiet, release, Sandbox, T0 } from '../../support/fixtures.js';

type Request = (c: RuleContext, s: PipelineState) => Transition;
type Setup = 'r3 waiting at beta' | 'r3 deploying at beta' | 'r3 baking at beta';

/** r1 and r2 approved everywhere, then r3 at beta in the state the row asks for. */
function prepare(setup: Setup): Sandbox {
  const sb = new Sandbox();
  for (const n of [1, 2]) {
    drive.create(sb, n);
    for (const s of ['beta', 'gamma', 'prod-1', 'prod-2']) drive.pass(sb, s);
  }
  drive.create(sb, 3);
  if (setup !== 'r3 waiting at beta') drive.admit(sb, 'beta');
  if (setup === 'r3 baking at beta') drive.finish(sb, 'beta');
  return sb;
}

const seq = (sb: Sandbox) => sb.run('beta').seq;

// Property 7: every rule, given the same request twice, changes nothing the second time.
it.each<{ rule: string; setup: Setup; request: (sb: Sandbox) => Request }>([
  {
    rule: 'createRelease',
    setup: 'r3 waiting at beta',
    request: () => (c, s) => createRelease(c, s, { release: release(4) }),
  },
  {
    rule: 'admitTargets',
    setup: 'r3 waiting at beta',
    request: (sb) => (c, s) =>
      admitTargets(c, s, {
        stage: 'beta',
        seq: seq(sb),
        releases: [...sb.releases.values()],
        alarms: quiet(sb.topology),
      }),
  },
  {
    rule: 'recordDeployment',
    setup: 'r3 deploying at beta',
    request: (sb) => (c, s) =>
      recordDeployment(c, s, {
        stage: 'beta',
        seq: seq(sb),
        target: 'beta-t1',
        kind: 'normal',
        result: 'succeeded',
      }),
  },
  {
    rule: 'recordDeployment (failed)',
    setup: 'r3 deploying at beta',
    request: (sb) => (c, s) =>
      recordDeployment(c, s, {
        stage: 'beta',
        seq: seq(sb),
        target: 'beta-t1',
        kind: 'normal',
        result: 'failed',
        reason: 'x',
      }),
  },
  {
    rule: 'failStage',
    setup: 'r3 deploying at beta',
    request: (sb) => (c, s) => failStage(c, s, { stage: 'beta', seq: seq(sb), reason: 'alarm' }),
  },
  {
    rule: 'recordBake',
    setup: 'r3 baking at beta',
    request: (sb) => (c, s) =>
      recordBake(c, s, { stage: 'beta', seq: seq(sb), verdict: { verdict: 'passed' } }),
  },
  {
    rule: 'setPromotions',
    setup: 'r3 waiting at beta',
    request: () => (c, s) =>
      setPromotions(c, s, {
        requestId: 'gate-2',
        stage: 'gamma',
        direction: 'out',
        enabled: false,
        by: 'ana',
        reason: 'x',
      }),
  },
  {
    rule: 'recordOverride',
    setup: 'r3 waiting at beta',
    request: () => (c, s) =>
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
  },
  {
    rule: 'setKnownBad',
    setup: 'r3 waiting at beta',
    request: () => (c, s) =>
      setKnownBad(c, s, {
        entry: { kind: 'release', value: 'r2', by: 'ana', reason: 'x', at: T0 },
        present: true,
      }),
  },
  {
    rule: 'requestExpedite',
    setup: 'r3 waiting at beta',
    request: () => (c, s) =>
      requestExpedite(c, s, { release: 3, requestedBy: 'ana', reason: 'x', bakeFactor: 0.5 }),
  },
  {
    rule: 'approveExpedite',
    setup: 'r3 waiting at beta',
    request: (sb) => {
      sb.apply(requestExpedite, { release: 3, requestedBy: 'ana', reason: 'x', bakeFactor: 0.5 });
      return (c, s) => approveExpedite(c, s, { release: 3, approvedBy: 'p', reason: 'y' });
    },
  },
  {
    rule: 'manualRollback',
    setup: 'r3 waiting at beta',
    request: () => (c, s) =>
      manualRollback(c, s, {
        targets: [{ stage: 'prod-1', target: 'prod-1-a' }],
        to: null,
        by: 'ana',
        reason: 'x',
        requestId: 'req-1',
      }),
  },
  {
    rule: 'restartRun',
    setup: 'r3 deploying at beta',
    request: (sb) => (c, s) => restartRun(c, s, { stage: 'beta', seq: seq(sb), attempt: 1 }),
  },
])('$rule: the same request twice changes nothing the second time', ({ setup, request: build }) => {
  // Prepare
  const sb = prepare(setup);
  const request = build(sb);
  const first = request(sb.context, sb.state);
  expect(first.writes.length, 'the first request must change something').toBeGreaterThan(0);

  // Act
  const second = request(sb.context, first.state);

  // Assess
  expect(second.state).toBe(first.state);
  expect(second.writes).toEqual([]);
  expect(second.events).toEqual([]);
  expect(second.starts).toEqual([]);
});

describe('a late request for a run that is over', () => {
  it('changes nothing and says why', () => {
    const sb = prepare('r3 baking at beta');
    drive.bakePassed(sb, 'beta');
    const late = recordApprovalStep(sb.context, sb.state, {
      stage: 'beta',
      seq: 3,
      step: 'x',
      passed: true,
      by: 'a',
      via: 'operator',
      reason: 'x',
    });
    expect(late.writes).toEqual([]);
    expect(late.note).toBe('run 3 of beta is no longer active (superseded, finished or replaced)');
  });
});
