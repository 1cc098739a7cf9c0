import { describe, expect, it } from 'vitest';
import {
  admitTargets,
  approveRun,
  automaticRollbackTarget,
  failStage,
  handOverRun,
  hours,
  parsePipelineDefinition,
  recordApprovalStep,
  recordBake,
  recordDeployment,
  recordDeploymentStart,
  recordOverride,
  restartRun,
  setKnownBad,
  setPromotions,
  type TargetRun,
} from '../../../core/index.js';
import {
  drive,
  quiet,
  release,
  Sandbox,
  smallDefinition,
  stage,
  T0,
} from '../../support/fixtures.js';

/** r1 approved at beta and gamma, waiting at prod-1. */
function atProd1(): Sandbox {
  const sb = new Sandbox();
  drive.create(sb, 1);
  drive.pass(sb, 'beta');
  drive.pass(sb, 'gamma');
  return sb;
}

describe('admitTargets', () => {
  it('starts unblocked targets and keeps blocked ones waiting with their reason', () => {
    // Prepare: prod-1-b's rollback alarm is in ALARM.
    const sb = atProd1();

    // Act
    const t = drive.admit(sb, 'prod-1', { 'prod-1-b-rollback': 'ALARM' });

    // Assess
    expect(sb.run('prod-1').targets['prod-1-a']?.status).toBe('deploying');
    expect(sb.run('prod-1').targets['prod-1-b']?.status).toBe('waiting');
    expect(sb.run('prod-1').step).toBe('deploying');
    expect(sb.run('prod-1').blockers).toEqual([
      {
        target: 'prod-1-b',
        kind: 'alarm',
        subject: 'prod-1-b-rollback',
        reason: 'alarm prod-1-b-rollback is in ALARM',
        until: null,
      },
    ]);
    expect(t.events.map((e) => [e.type, e.detail.target])).toEqual([
      ['Deployment Started', 'prod-1-a'],
      ['Release Blocked', null],
    ]);
    expect(sb.stage('prod-1').newestStarted).toBe(1);
  });

  it('reports a release as blocked once per set of blockers, and in flight again when it starts', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    const alarm = { 'team-aggregate-euw1': 'ALARM' as const };

    const first = drive.admit(sb, 'beta', alarm);
    const same = drive.admit(sb, 'beta', alarm);
    const opened = drive.admit(sb, 'beta');

    expect(first.events.map((e) => [e.type, e.detail.reason])).toEqual([
      ['Release Blocked', 'beta-t1: alarm team-aggregate-euw1 is in ALARM'],
    ]);
    expect(first.outcomes.map((o) => o.outcome.status)).toEqual(['blocked']);
    expect(same.events).toEqual([]);
    expect(same.state).toBe(first.state);
    expect(opened.outcomes.map((o) => o.outcome.status)).toEqual(['in-flight']);
  });

  it('starts nobody while promotions in are disabled (property 6)', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    sb.apply(setPromotions, {
      requestId: 'gate-1',
      stage: 'beta',
      direction: 'in',
      enabled: false,
      by: 'ana',
      reason: 'incident',
    });

    drive.admit(sb, 'beta');

    expect(sb.run('beta').step).toBe('waiting');
    expect(sb.run('beta').blockers.map((b) => b.kind)).toEqual(['promotions-disabled']);
  });

  it('judges known-bad entries and overrides by what is stored, not by what the caller saw', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    sb.apply(setKnownBad, {
      entry: { kind: 'release', value: 'r1', by: 'ana', reason: 'data loss', at: T0 },
      present: true,
    });

    drive.admit(sb, 'beta');

    expect(sb.run('beta').blockers.map((b) => b.reason)).toEqual([
      'r1 contains known-bad release r1 (data loss)',
    ]);
  });

  it('holds production to every commit new to the target, not only the release’s own (property 8)', () => {
    // r1 carries an unreviewed commit; r2 is reviewed. prod-1 runs nothing yet, so r2 would bring r1's commit too.
    const sb = new Sandbox();
    drive.create(sb, 1, {
      commits: [{ sha: 'bad0000', author: 'x', message: 'pushed straight to main', review: null }],
    });
    drive.pass(sb, 'beta');
    drive.pass(sb, 'gamma');
    drive.create(sb, 2);
    drive.pass(sb, 'beta');
    drive.pass(sb, 'gamma');

    // r1 waited at prod-1, blocked; r2 replaced it there before anything was deployed.
    drive.admit(sb, 'prod-1');

    expect(sb.run('prod-1').release).toBe(2);
    expect(sb.run('prod-1').blockers.map((b) => b.reason)).toEqual([
      'r2 would deploy commits without an approved review: bad0000',
      'r2 would deploy commits without an approved review: bad0000',
    ]);
  });

  it('reports each override it used once per run and target', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    sb.apply(recordOverride, {
      override: {
        id: 'o-1',
        kind: 'alarm',
        subject: null,
        stage: null,
        release: null,
        by: 'ana',
        reason: 'sev2 mitigation',
        at: T0,
        until: '2026-11-24T00:00:00.000Z',
      },
    });

    const t = drive.admit(sb, 'beta', { 'team-aggregate-euw1': 'ALARM' });

    const overridden = t.events.filter((e) => e.type === 'Blocker Overridden');
    expect(overridden.map((e) => e.detail.reason)).toEqual([
      'alarm team-aggregate-euw1 is in ALARM; overridden by ana: sev2 mitigation',
    ]);
    expect(sb.run('beta').targets['beta-t1']?.status).toBe('deploying');
  });

  it('changes nothing for a stale run number', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    const t = sb.apply(admitTargets, {
      stage: 'beta',
      seq: 99,
      releases: [release(1)],
      alarms: quiet(sb.topology),
    });
    expect(t.changedStages).toEqual([]);
    expect(t.note).toBe('run 99 of beta is no longer active (superseded, finished or replaced)');
  });

  it('refuses a request without the run’s release', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    expect(() =>
      sb.apply(admitTargets, { stage: 'beta', seq: 1, releases: [], alarms: {} }),
    ).toThrow('admitTargets needs r1, the release of run 1 of beta.');
  });

  it('does not admit targets of a baking run', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');
    drive.finish(sb, 'beta');
    const t = drive.admit(sb, 'beta');
    expect(t.note).toBe('run 1 of beta is baking; targets start only while waiting or deploying');
  });
});

describe('recordDeployment', () => {
  it('starts the bake when the last target succeeds', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');

    const [t] = drive.finish(sb, 'beta');

    expect(t?.events.map((e) => e.type)).toEqual(['Deployment Succeeded', 'Bake Started']);
    expect(sb.run('beta')).toMatchObject({ step: 'baking', bakeStartedAt: T0 });
    expect(sb.stage('beta').targets['beta-t1']?.deployed).toBe(1);
    expect(t?.deployments).toEqual([
      {
        target: 'beta-t1',
        stage: 'beta',
        kind: 'normal',
        from: null,
        to: 1,
        result: 'succeeded',
        startedAt: T0,
        finishedAt: T0,
        reason: null,
      },
    ]);
  });

  it('changes nothing when the same result arrives twice (property 7)', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');
    const seq = sb.run('beta').seq;
    sb.apply(recordDeployment, {
      stage: 'beta',
      seq,
      target: 'beta-t1',
      kind: 'normal',
      result: 'succeeded',
    });
    const before = sb.state;

    const t = sb.apply(recordDeployment, {
      stage: 'beta',
      seq,
      target: 'beta-t1',
      kind: 'normal',
      result: 'succeeded',
    });

    expect(t.state).toBe(before);
    expect(t.events).toEqual([]);
    expect(t.note).toBe(
      'target beta-t1 is deployed; a normal result for it was already recorded or does not apply',
    );
  });

  it('rejects the release and rolls every touched target back when one fails (property 4)', () => {
    // Prepare: r1 approved everywhere up to prod-1; r2 fails on one of prod-1's targets.
    const sb = new Sandbox();
    drive.create(sb, 1);
    for (const s of ['beta', 'gamma', 'prod-1']) drive.pass(sb, s);
    drive.create(sb, 2);
    for (const s of ['beta', 'gamma']) drive.pass(sb, s);
    drive.admit(sb, 'prod-1');
    const seq = sb.run('prod-1').seq;
    sb.apply(recordDeployment, {
      stage: 'prod-1',
      seq,
      target: 'prod-1-a',
      kind: 'normal',
      result: 'succeeded',
    });

    // Act
    const t = sb.apply(recordDeployment, {
      stage: 'prod-1',
      seq,
      target: 'prod-1-b',
      kind: 'normal',
      result: 'failed',
      reason: 'health checks failed',
    });

    // Assess
    expect(t.events.map((e) => e.type)).toEqual(['Deployment Failed', 'Rollback Started']);
    expect(t.outcomes).toContainEqual({
      release: 2,
      stage: 'prod-1',
      outcome: {
        status: 'rejected',
        at: T0,
        reason: 'deployment to prod-1-b failed: health checks failed',
      },
    });
    expect(sb.run('prod-1').targets).toMatchObject({
      'prod-1-a': { status: 'rolling-back', rollbackTo: 1 },
      'prod-1-b': { status: 'rolling-back', rollbackTo: 1 },
    });

    drive.finish(sb, 'prod-1');
    expect(sb.stage('prod-1').run).toBeNull();
    expect(sb.stage('prod-1').targets['prod-1-a']?.deployed).toBe(1);
    expect(sb.stage('prod-1').targets['prod-1-b']?.deployed).toBe(1);
    expect(sb.stage('prod-1').lastApproved).toBe(1);
    expect(sb.stage('prod-2').pending).toBeNull();
  });

  it('closes the stage when a rollback itself fails, so a person looks at it', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');
    drive.finish(sb, 'beta', 'failed', 'boom');

    const [t] = drive.finish(sb, 'beta', 'failed', 'rollback boom');

    expect(sb.stage('beta').run).toBeNull();
    expect(sb.stage('beta').promotionsIn).toMatchObject({ enabled: false, by: 'release-captain' });
    expect(t?.events.map((e) => e.type)).toEqual([
      'Deployment Failed',
      'Rollback Completed',
      'Promotions Disabled',
    ]);
  });

  it('refuses a target the run does not have', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    expect(() =>
      sb.apply(recordDeployment, {
        stage: 'beta',
        seq: 1,
        target: 'nope',
        kind: 'normal',
        result: 'succeeded',
      }),
    ).toThrow('Stage beta has no target "nope" in run 1; its targets are beta-t1.');
  });
});

describe('automaticRollbackTarget', () => {
  const run = (before: number | null): TargetRun => ({
    status: 'deploying',
    before,
    rollbackTo: null,
    startedAt: T0,
    deploymentId: null,
    abandoned: null,
  });
  // Worked example: a target that ran r3 (approved there) rolls back to r3.
  it.each([
    { before: 3, approved: [1, 2, 3], expected: 3, why: 'what it ran before, approved there' },
    {
      before: 1,
      approved: [1, 2, 3],
      expected: 1,
      why: 'an older approved release it had been rolled back to',
    },
    {
      before: 4,
      approved: [1, 2, 3],
      expected: 3,
      why: 'its newest approved release, when what it ran was never approved',
    },
    { before: null, approved: [], expected: null, why: 'its state before the first deployment' },
    { before: 2, approved: [], expected: 2, why: 'what it ran before, when nothing was approved' },
  ])('before r$before, approved $approved → $expected ($why)', ({ before, approved, expected }) => {
    expect(automaticRollbackTarget(run(before), { deployed: before, approved })).toBe(expected);
  });
});

describe('recordBake and approval steps', () => {
  it.each([
    { verdict: { verdict: 'passed' as const }, step: null, approved: 1 },
    {
      verdict: {
        verdict: 'baking' as const,
        remainingSeconds: 10,
        waitingFor: '10 s of bake time',
        missingDataPoints: 0,
        checkAt: T0,
      },
      step: 'baking',
      approved: null,
    },
    {
      verdict: { verdict: 'failed' as const, reason: 'alarm x' },
      step: 'rolling-back',
      approved: null,
    },
  ])(
    'a $verdict.verdict bake → step $step, last approved $approved',
    ({ verdict, step, approved }) => {
      const sb = new Sandbox();
      drive.create(sb, 1);
      drive.admit(sb, 'beta');
      drive.finish(sb, 'beta');

      sb.apply(recordBake, { stage: 'beta', seq: 1, verdict });

      expect(sb.stage('beta').run?.step ?? null).toBe(step);
      expect(sb.stage('beta').lastApproved).toBe(approved);
    },
  );

  it('ignores a bake verdict for a run that is not baking', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    const t = sb.apply(recordBake, { stage: 'beta', seq: 1, verdict: { verdict: 'passed' } });
    expect(t.note).toBe('run 1 of beta is waiting, not baking');
  });

  const withApprovals = () =>
    new Sandbox(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [
          stage('beta', null, {
            approvalSteps: [
              { kind: 'integration-tests', name: 'api-tests', timeoutSeconds: 600 },
              { kind: 'manual-approval', name: 'release-manager', timeoutSeconds: hours(24) },
            ],
          }),
          stage('gamma', 'beta'),
        ],
      }),
    );

  it.each([
    {
      step: 'release-manager',
      via: 'test-runner',
      passed: true,
      refusal: /manual approval: a person passes or fails it through the operator API/,
    },
    { step: 'release-manager', via: 'test-runner', passed: false, refusal: /manual approval/ },
    {
      step: 'api-tests',
      via: 'operator',
      passed: true,
      refusal: /its runner reports the result, not a person/,
    },
    { step: 'api-tests', via: 'timeout', passed: true, refusal: /cannot pass by timing out/ },
  ] as const)(
    'refuses $step reported via $via (passed: $passed), changing nothing',
    ({ step, via, passed, refusal }) => {
      const sb = withApprovals();
      drive.create(sb, 1);
      drive.pass(sb, 'beta');
      const before = structuredClone(sb.state);

      expect(() =>
        sb.apply(recordApprovalStep, {
          stage: 'beta',
          seq: 1,
          step,
          passed,
          by: 'mallory',
          via,
          reason: 'x',
        }),
      ).toThrow(refusal);
      expect(sb.state).toEqual(before);
    },
  );

  it('approves only when every approval step passed', () => {
    const sb = withApprovals();
    drive.create(sb, 1);
    drive.pass(sb, 'beta');
    expect(sb.run('beta').step).toBe('approving');

    sb.apply(recordApprovalStep, {
      stage: 'beta',
      seq: 1,
      step: 'api-tests',
      passed: true,
      by: 'tests',
      via: 'test-runner',
      reason: '412 passed',
    });
    expect(sb.run('beta').step).toBe('approving');
    const t = sb.apply(recordApprovalStep, {
      stage: 'beta',
      seq: 1,
      step: 'release-manager',
      passed: true,
      by: 'ana',
      via: 'operator',
      reason: 'looks good',
    });

    // Every step passed: the stage driver approves once it has seen the alarms quiet.
    expect(sb.run('beta')).toMatchObject({
      step: 'approving',
      approvalsPassed: ['api-tests', 'release-manager'],
    });
    expect(sb.stage('beta').lastApproved).toBeNull();
    sb.apply(approveRun, { stage: 'beta', seq: 1 });
    expect(sb.stage('beta').lastApproved).toBe(1);
    expect(t.audit).toEqual([
      {
        at: T0,
        stage: 'beta',
        by: 'ana',
        action: 'approve release-manager of r1 at beta',
        reason: 'looks good',
      },
    ]);
    expect(sb.run('gamma').release).toBe(1);
  });

  it('fails the stage when an approval step fails', () => {
    const sb = withApprovals();
    drive.create(sb, 1);
    drive.pass(sb, 'beta');
    sb.apply(recordApprovalStep, {
      stage: 'beta',
      seq: 1,
      step: 'api-tests',
      passed: false,
      by: 'tests',
      via: 'test-runner',
      reason: '3 failed',
    });
    expect(sb.run('beta')).toMatchObject({
      step: 'rolling-back',
      failure: 'approval step api-tests failed (tests): 3 failed',
    });
  });

  it('refuses an approval step the stage does not have, and ignores one that comes too early', () => {
    const sb = withApprovals();
    drive.create(sb, 1);
    expect(() =>
      sb.apply(recordApprovalStep, {
        stage: 'beta',
        seq: 1,
        step: 'nope',
        passed: true,
        by: 'x',
        via: 'operator',
        reason: 'x',
      }),
    ).toThrow('Stage beta has no approval step "nope"; its steps are api-tests, release-manager.');
    const t = sb.apply(recordApprovalStep, {
      stage: 'beta',
      seq: 1,
      step: 'api-tests',
      passed: true,
      by: 'x',
      via: 'test-runner',
      reason: 'x',
    });
    expect(t.note).toBe('run 1 of beta is waiting, not waiting for approvals');
  });

  it('approves a run only once it approves and every step passed', () => {
    const sb = withApprovals();
    drive.create(sb, 1);
    expect(sb.apply(approveRun, { stage: 'beta', seq: 1 }).note).toBe(
      'run 1 of beta is waiting, not approving',
    );
    drive.pass(sb, 'beta');
    sb.apply(recordApprovalStep, {
      stage: 'beta',
      seq: 1,
      step: 'api-tests',
      passed: true,
      by: 'tests',
      via: 'test-runner',
      reason: '412 passed',
    });
    expect(() => sb.apply(approveRun, { stage: 'beta', seq: 1 })).toThrow(
      'Run 1 of beta cannot be approved: approval steps release-manager have not passed.',
    );
    expect(sb.stage('beta').lastApproved).toBeNull();
  });
});

describe('failStage', () => {
  it('rolls back on an alarm during the deployment, once', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');

    const failed = sb.apply(failStage, {
      stage: 'beta',
      seq: 1,
      reason: 'alarm beta-t1-rollback in ALARM',
    });
    const again = sb.apply(failStage, {
      stage: 'beta',
      seq: 1,
      reason: 'alarm beta-t1-rollback in ALARM',
    });

    expect(sb.run('beta').step).toBe('rolling-back');
    expect(again.note).toBe('run 1 of beta is already rolling back');
    // The stopped deployment stays in the history, once.
    expect([...failed.deployments, ...again.deployments]).toEqual([
      expect.objectContaining({
        target: 'beta-t1',
        kind: 'normal',
        from: null,
        to: 1,
        result: 'failed',
        reason: 'stopped: alarm beta-t1-rollback in ALARM',
      }),
    ]);
  });

  it('ends at once a run that had deployed nothing', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    const t = sb.apply(failStage, { stage: 'beta', seq: 1, reason: 'blocked for too long' });
    expect(sb.stage('beta').run).toBeNull();
    expect(t.events.map((e) => e.type)).toEqual(['Rollback Started', 'Rollback Completed']);
  });
});

describe('restartRun', () => {
  it('starts the next attempt once, under a new execution name', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);

    const first = sb.apply(restartRun, { stage: 'beta', seq: 1, attempt: 1 });
    const duplicate = sb.apply(restartRun, { stage: 'beta', seq: 1, attempt: 1 });

    expect(first.starts.map((s) => s.executionName)).toEqual(['api_beta_r1-2']);
    expect(duplicate.starts).toEqual([]);
    expect(duplicate.note).toBe('run 1 of beta is at attempt 2, not 1');
  });
});

describe('handOverRun', () => {
  it('passes the run on once, and remembers which attempt handed it over', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);

    const first = sb.apply(handOverRun, { stage: 'beta', seq: 1, attempt: 1 });
    const duplicate = sb.apply(handOverRun, { stage: 'beta', seq: 1, attempt: 1 });

    expect(first.starts.map((s) => s.executionName)).toEqual(['api_beta_r1-2']);
    expect(sb.run('beta')).toMatchObject({ attempt: 2, handovers: 1, handedOverBy: 1 });
    expect(duplicate.starts).toEqual([]);
    expect(duplicate.note).toBe('run 1 of beta is at attempt 2, not 1');
  });
});

describe('recordDeploymentStart', () => {
  it('records the first deployment id of a target and keeps it on a retry with another', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');
    const start = { stage: 'beta', seq: 1, target: 'beta-t1', kind: 'normal' as const };

    sb.apply(recordDeploymentStart, { ...start, deploymentId: 'd-1' });
    const retry = sb.apply(recordDeploymentStart, { ...start, deploymentId: 'd-2' });

    expect(sb.run('beta').targets['beta-t1']?.deploymentId).toBe('d-1');
    expect(retry.writes).toEqual([]);
    expect(retry.note).toBe('target beta-t1 is deploying with deployment d-1; nothing to record');
  });

  it.each([{ kind: 'rollback' as const, note: 'target beta-t1 is deploying; nothing to record' }])(
    'ignores a $kind id for a target that is not in that phase',
    ({ kind, note }) => {
      const sb = new Sandbox();
      drive.create(sb, 1);
      drive.admit(sb, 'beta');

      const t = sb.apply(recordDeploymentStart, {
        stage: 'beta',
        seq: 1,
        target: 'beta-t1',
        kind,
        deploymentId: 'd-9',
      });

      expect(t.note).toBe(note);
      expect(sb.run('beta').targets['beta-t1']?.deploymentId).toBeNull();
    },
  );

  it('clears the id when the target starts rolling back, so the rollback is started anew', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.admit(sb, 'beta');
    sb.apply(recordDeploymentStart, {
      stage: 'beta',
      seq: 1,
      target: 'beta-t1',
      kind: 'normal',
      deploymentId: 'd-1',
    });

    sb.apply(failStage, { stage: 'beta', seq: 1, reason: 'alarm' });

    expect(sb.run('beta').targets['beta-t1']).toMatchObject({
      status: 'rolling-back',
      deploymentId: null,
    });
  });

  it('refuses an unknown target', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    expect(() =>
      sb.apply(recordDeploymentStart, {
        stage: 'beta',
        seq: 1,
        target: 'nope',
        kind: 'normal',
        deploymentId: 'd-1',
      }),
    ).toThrow('Stage beta has no target "nope" in run 1; its targets are beta-t1.');
  });
});
