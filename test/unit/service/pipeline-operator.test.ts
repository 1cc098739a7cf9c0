import { beforeEach, describe, expect, it } from 'vitest';
import { approveRun, confirmationOf, parsePipelineDefinition } from '../../../core/index.js';
import { drive, smallDefinition, stage, T0 } from '../../support/fixtures.js';

import { ALL, World } from '../../support/operator-world.js';

type RollbackInput = {
  targets: string[];
  to: number | null;
  by: string;
  reason: string;
  requestId: string;
};

describe('PipelineViews', () => {
  let w: World;
  beforeEach(async () => {
    w = new World();
    drive.create(w.sb, 1);
    w.pass(...ALL);
    drive.create(w.sb, 2);
    w.pass(...ALL);
    drive.create(w.sb, 3);
    w.pass('beta', 'gamma');
    drive.admit(w.sb, 'prod-1');
    await w.flush();
  });

  it('shows each stage in order with its run, targets, gates and pending release; a wave’s stages side by side', async () => {
    const status = await w.views.status();

    expect(status.stages.map((s) => s.stage)).toEqual(ALL);
    expect(status.groups).toEqual([
      { wave: null, stages: ['beta'] },
      { wave: null, stages: ['gamma'] },
      { wave: 1, stages: ['prod-1'] },
      { wave: 2, stages: ['prod-2'] },
    ]);
    const prod1 = status.stages[2];
    expect(prod1?.run).toMatchObject({
      kind: 'normal',
      release: 3,
      step: 'deploying',
      execution: 'api_prod-1_r3-1',
      bake: null,
    });
    expect(prod1?.targets.map((t) => [t.target, t.deployed, t.approved, t.status])).toEqual([
      ['prod-1-a', 2, [1, 2], 'deploying'],
      ['prod-1-b', 2, [1, 2], 'deploying'],
    ]);
    expect(status.stages[3]).toMatchObject({ stage: 'prod-2', run: null, lastApproved: 2 });
    expect(status.latestRelease).toBe(3);
  });

  it('shows a bake’s end and the data points it needs, shortened for an expedited release', async () => {
    drive.finish(w.sb, 'prod-1');
    await w.flush();

    const run = (await w.views.status()).stages[2]?.run;

    expect(run?.step).toBe('baking');
    expect(run?.bake).toEqual({
      startedAt: w.sb.now,
      seconds: 3600,
      endsAt: new Date(Date.parse(w.sb.now) + 3_600_000).toISOString(),
      minDataPoints: 10,
      metric: 'RequestCount',
    });
  });

  it('lists releases newest first with their outcomes, and details one with its executions', async () => {
    const releases = await w.views.releases();
    const r3 = await w.views.release(3);

    expect(releases.map((r) => [r.release, r.outcomes.gamma?.status])).toEqual([
      [3, 'approved'],
      [2, 'approved'],
      [1, 'approved'],
    ]);
    expect(r3.stages).toEqual([
      {
        stage: 'beta',
        outcome: expect.objectContaining({ status: 'approved' }),
        execution: { name: 'api_beta_r3-1', current: false },
      },
      {
        stage: 'gamma',
        outcome: expect.objectContaining({ status: 'approved' }),
        execution: { name: 'api_gamma_r3-1', current: false },
      },
      {
        stage: 'prod-1',
        outcome: expect.objectContaining({ status: 'in-flight' }),
        execution: { name: 'api_prod-1_r3-1', current: true },
      },
      { stage: 'prod-2', outcome: null, execution: null },
    ]);
    await expect(w.views.release(9)).rejects.toThrow('api has no release r9');
  });

  it('gives a target’s deployments newest first with the commits each brought, and a stage’s for all its targets', async () => {
    const target = await w.views.history('gamma-t1');
    const stageHistory = await w.views.history('prod-1');

    expect(
      target.map((e) => [e.from, e.to, e.kind, e.change, e.commits.map((c) => c.message)]),
    ).toEqual([
      [2, 3, 'normal', 'added', ['change 3']],
      [1, 2, 'normal', 'added', ['change 2']],
      [null, 1, 'normal', 'added', ['change 1']],
    ]);
    expect(stageHistory.map((e) => `${e.target}:${e.to}`).sort()).toEqual([
      'prod-1-a:1',
      'prod-1-a:2',
      'prod-1-b:1',
      'prod-1-b:2',
    ]);
    await expect(w.views.history('nowhere')).rejects.toThrow('has no stage or target "nowhere"');
  });

  it('tells where a commit runs and since when, and that it is on its way where its release deploys', async () => {
    const where = await w.views.where('c300');

    const runs = Object.fromEntries(
      where.stages.flatMap((s) =>
        s.targets.map((t) => [t.target, [t.runs, t.contains, t.arriving]]),
      ),
    );
    expect(where.commit).toMatchObject({ message: 'change 3', release: 3 });
    expect(runs).toEqual({
      'beta-t1': [3, true, false],
      'gamma-t1': [3, true, false],
      'prod-1-a': [2, false, true],
      'prod-1-b': [2, false, true],
      'prod-2-t1': [2, false, false],
    });
    const gamma = where.stages[1]?.targets[0];
    expect(gamma?.since).not.toBeNull();

    // r1's commit has run on gamma since r1's deployment: r2 and r3 contain it too.
    const old = await w.views.where('c100');
    const history = await w.views.history('gamma-t1');
    expect(old.stages[1]?.targets[0]?.since).toBe(history.at(-1)?.finishedAt);
  });

  it('answers a commit no release brought yet, and refuses a prefix that is no sha', async () => {
    expect(await w.views.where('abcd')).toMatchObject({
      commit: null,
      latestRelease: 3,
      stages: [],
    });
    await expect(w.views.where('main')).rejects.toThrow('"main" is not a commit');
  });

  it('plans from the median of each stage’s recent deployments, next to what the release did', async () => {
    const plan = await w.views.plan(3);
    const fresh = await w.views.plan();

    expect(plan.deploymentSeconds.beta).toEqual({
      seconds: 600,
      basis: 'median of the last 3 deployments',
    });
    expect(plan.start).toBe(T0);
    expect(plan.plan.stages.map((s) => s.stage)).toEqual(ALL);
    expect(plan.outcomes.gamma?.status).toBe('approved');
    expect(fresh.release).toBeNull();
    expect(fresh.start).toBe(w.clock.now().toISOString());
  });
});

describe('PipelineCommands', () => {
  let w: World;
  beforeEach(async () => {
    w = new World();
    for (const n of [1, 2, 3]) {
      drive.create(w.sb, n);
      w.pass(...ALL);
    }
    drive.create(w.sb, 4);
    w.pass('beta');
    drive.admit(w.sb, 'gamma');
    await w.flush();
  });

  it('previews a rollback to the last approved release: targets, commits removed, artifacts', async () => {
    const plan = await w.commands.previewRollback({ targets: ['prod-1'], to: null });

    expect(plan.targets).toEqual([
      { stage: 'prod-1', target: 'prod-1-a', from: 3, to: 2 },
      { stage: 'prod-1', target: 'prod-1-b', from: 3, to: 2 },
    ]);
    expect(plan.previews).toHaveLength(1);
    expect(plan.previews[0]?.commitsRemoved.map((c) => c.message)).toEqual(['change 3']);
    expect(plan.previews[0]?.images).toEqual([
      {
        name: 'api',
        from: `sha256:${'3'.padStart(64, '0')}`,
        to: `sha256:${'2'.padStart(64, '0')}`,
      },
    ]);
    expect(plan.interrupted).toEqual([]);
    expect(plan.stages).toEqual(['prod-1']);
  });

  /** Previews, then rolls back as confirmed: what the CLI and the web view do. */
  async function previewAndRollBack(request: RollbackInput) {
    const plan = await w.commands.previewRollback(request);
    return {
      plan,
      rolled: await w.commands.rollback({ ...request, confirmed: confirmationOf(plan) }),
    };
  }

  it('rolls back further for a latent change, stopping the run in flight, and disables promotions', async () => {
    const request = {
      targets: ['gamma-t1'],
      to: 1,
      by: 'ana',
      reason: 'latent bug since r2',
      requestId: 'req-1',
    };
    const { plan, rolled } = await previewAndRollBack(request);

    // gamma was deploying r4: the rollback takes it from r4 (in flight) back to r1.
    expect(plan.targets).toEqual([{ stage: 'gamma', target: 'gamma-t1', from: 4, to: 1 }]);
    expect(plan.previews[0]?.commitsRemoved.map((c) => c.message)).toEqual([
      'change 4',
      'change 3',
      'change 2',
    ]);
    expect(plan.interrupted).toEqual([{ stage: 'gamma', release: 4, step: 'deploying' }]);
    expect(rolled.changed).toBe(true);
    expect(rolled.wake).toEqual(['run:api/gamma/4']);
    expect(rolled.runs).toEqual([{ stage: 'gamma', seq: 5 }]);
    const gamma = (await w.views.status()).stages[1];
    expect(gamma?.promotionsIn).toMatchObject({ enabled: false, by: 'ana' });
    expect(gamma?.promotionsOut).toMatchObject({ enabled: false });
    expect(gamma?.run).toMatchObject({ kind: 'rollback', step: 'rolling-back' });
    expect(w.workflows.started.at(-1)?.executionName).toBe('api_gamma_rollback5-1');
    expect((await w.views.release(4)).stages[1]?.outcome?.status).toBe('rejected');

    // The same request again (a retry) changes nothing, wakes nothing and follows the same
    // run; another request while the rollback runs is refused.
    const again = await w.commands.rollback({ ...request, confirmed: confirmationOf(plan) });
    expect(again).toMatchObject({ changed: false, wake: [], runs: [{ stage: 'gamma', seq: 5 }] });
    await expect(
      w.commands.rollback({ ...request, requestId: 'req-2', confirmed: confirmationOf(plan) }),
    ).rejects.toThrow('Stage gamma is already rolling back (run 5)');
    expect(w.workflows.started.filter((s) => s.stage === 'gamma')).toHaveLength(5);
  });

  it('does only the rollback the operator confirmed: refused if the pipeline moved since the preview', async () => {
    const request = {
      targets: ['prod-1'],
      to: null,
      by: 'ana',
      reason: 'errors',
      requestId: 'rb-1',
    };
    const stale = confirmationOf(await w.commands.previewRollback(request));
    // Meanwhile gamma approves r4 and prod-1 takes it: the rollback would now stop r4 there.
    drive.finish(w.sb, 'gamma');
    drive.bakePassed(w.sb, 'gamma');
    await w.flush();

    await expect(w.commands.rollback({ ...request, confirmed: stale })).rejects.toThrow(
      'The pipeline moved since the preview: at prod-1 the rollback would stop r4 (and reject it there), not stop no run as confirmed. Preview the rollback again.',
    );
    // …and once r4 deploys, the targets run another release than the preview showed.
    drive.admit(w.sb, 'prod-1');
    await w.flush();
    const interruptedToo = { ...stale, interrupted: [{ stage: 'prod-1', release: 4 }] };
    await expect(w.commands.rollback({ ...request, confirmed: interruptedToo })).rejects.toThrow(
      'The pipeline moved since the preview: prod-1-a now runs r4 and would go back to r3, not r3 → r2 as confirmed.',
    );
    await expect(
      w.commands.rollback({
        ...request,
        confirmed: { ...stale, targets: stale.targets.slice(0, 1) },
      }),
    ).rejects.toThrow('The pipeline moved since the preview');
    expect((await w.views.status()).stages[2]?.run).toMatchObject({ kind: 'normal', release: 4 });

    // A fresh preview, confirmed, is carried out.
    const { plan, rolled } = await previewAndRollBack(request);
    expect(plan.interrupted).toEqual([{ stage: 'prod-1', release: 4, step: 'deploying' }]);
    expect(rolled.changed).toBe(true);
  });

  it('finishes a rollback of several stages that a crash cut short when the request is retried', async () => {
    const request = {
      targets: ['prod-1', 'prod-2'],
      to: null,
      by: 'ana',
      reason: 'errors',
      requestId: 'rb-9',
    };
    const confirmed = confirmationOf(await w.commands.previewRollback(request));
    w.promotions.failAfterWrites = 1;

    await expect(w.commands.rollback({ ...request, confirmed })).rejects.toThrow();
    const half = await w.views.status();
    expect([half.stages[2]?.run?.kind, half.stages[3]?.run?.kind]).toEqual(['rollback', undefined]);

    w.promotions.failAfterWrites = null;
    const retried = await w.commands.rollback({ ...request, confirmed });

    expect(retried.changed).toBe(true);
    expect(retried.runs).toEqual([
      { stage: 'prod-1', seq: 4 },
      { stage: 'prod-2', seq: 4 },
    ]);
    // One rollback execution per stage: prod-1's from the first call's outbox, prod-2's now.
    expect(
      w.workflows.started
        .filter((s) => s.kind === 'rollback')
        .map((s) => s.stage)
        .sort(),
    ).toEqual(['prod-1', 'prod-2']);
  });

  it('refuses a rollback target that was never approved there, naming the choices', async () => {
    await expect(w.commands.previewRollback({ targets: ['prod-2'], to: 4 })).rejects.toThrow(
      'r4 is newer than r3',
    );
    await expect(w.commands.previewRollback({ targets: ['nowhere'], to: null })).rejects.toThrow(
      'api has no stage or target "nowhere"; stages: beta, gamma, prod-1, prod-2.',
    );
  });

  it('re-enables promotions in and out after a rollback, once per request', async () => {
    await previewAndRollBack({
      targets: ['prod-2'],
      to: null,
      by: 'ana',
      reason: 'errors',
      requestId: 'rb',
    });

    const gate = (requestId: string, enabled: boolean) =>
      w.commands.setPromotions({
        stage: 'prod-2',
        direction: 'both',
        enabled,
        by: 'bo',
        reason: enabled ? 'fixed forward in r4' : 'still investigating',
        requestId,
      });

    const enabled = await gate('gate-1', true);
    const prod2 = (await w.views.status()).stages[3];
    await gate('gate-2', false);
    // A late retry of the first request must not reopen what was closed since.
    const late = await gate('gate-1', true);

    expect(enabled.changed).toBe(true);
    expect(prod2?.promotionsIn).toEqual({ enabled: true });
    expect(prod2?.promotionsOut).toEqual({ enabled: true });
    expect(late).toMatchObject({
      changed: false,
      notes: ['request gate-1 was already carried out at prod-2'],
    });
    expect((await w.views.status()).stages[3]?.promotionsIn).toMatchObject({
      enabled: false,
      by: 'bo',
    });
    expect((await w.views.audit()).map((a) => a.action)).toEqual([
      'disable promotions out of prod-2',
      'disable promotions in of prod-2',
      'enable promotions out of prod-2',
      'enable promotions in of prod-2',
      'roll back prod-2-t1 → r2',
    ]);
  });

  it('records a manual approval of the release waiting at a stage, and wakes its step', async () => {
    const approving = new World(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [
          stage('beta', null, {
            approvalSteps: [{ kind: 'manual-approval', name: 'sign-off', timeoutSeconds: 3600 }],
          }),
        ],
      }),
    );
    drive.create(approving.sb, 1);
    drive.admit(approving.sb, 'beta');
    drive.finish(approving.sb, 'beta');
    await approving.flush();

    await expect(
      approving.commands.approve({ stage: 'beta', release: 1, by: 'ana', reason: 'looks good' }),
    ).rejects.toThrow('r1 at beta is baking, not waiting for approvals yet');
    drive.bakePassed(approving.sb, 'beta');
    await approving.flush();
    await expect(
      approving.commands.approve({ stage: 'beta', release: 2, by: 'ana', reason: 'looks good' }),
    ).rejects.toThrow('beta is not running r2 (it runs r1)');
    const approved = await approving.commands.approve({
      stage: 'beta',
      release: 1,
      by: 'ana',
      reason: 'looks good',
    });

    expect(approved.wake).toEqual(['approval:api/beta/1/sign-off']);
    // The woken stage step approves once it has looked at the alarms (advanceStage).
    expect((await approving.views.status()).stages[0]).toMatchObject({
      run: { step: 'approving', approvals: [{ name: 'sign-off', passed: true }] },
      lastApproved: null,
    });
    await approving.service.apply(approveRun, { stage: 'beta', seq: 1 });
    expect((await approving.views.status()).stages[0]).toMatchObject({
      run: null,
      lastApproved: 1,
    });
  });

  it('records an override for a while and wakes the runs it may unblock', async () => {
    await expect(
      w.commands.override({
        kind: 'alarm',
        subject: null,
        stage: 'gamma',
        release: null,
        hours: 100,
        by: 'ana',
        reason: 'noise',
        requestId: 'o-1',
      }),
    ).rejects.toThrow('at most 72 hours, got 100');

    const recorded = await w.commands.override({
      kind: 'alarm',
      subject: 'team-aggregate-euw1',
      stage: 'gamma',
      release: 4,
      hours: 2,
      by: 'ana',
      reason: 'the alarm is the bug r4 fixes',
      requestId: 'o-1',
    });

    expect(recorded.changed).toBe(true);
    const overrides = (await w.views.status()).overrides;
    expect(overrides).toMatchObject([
      {
        id: 'o-1',
        kind: 'alarm',
        until: new Date(w.clock.now().getTime() + 7_200_000).toISOString(),
      },
    ]);
  });

  it('checks known-bad values against their kind and keeps the list', async () => {
    await expect(
      w.commands.setKnownBad({
        kind: 'release',
        value: '42',
        present: true,
        by: 'ana',
        reason: 'x',
      }),
    ).rejects.toThrow('A known-bad release must be a release such as r42; got "42".');

    await w.commands.setKnownBad({
      kind: 'dependency',
      value: 'log4j-core@2.14.1',
      present: true,
      by: 'ana',
      reason: 'CVE-2021-44228',
    });

    expect((await w.views.status()).knownBad).toMatchObject([
      { kind: 'dependency', value: 'log4j-core@2.14.1', reason: 'CVE-2021-44228' },
    ]);
  });

  it('expedites on a request and a second principal’s approval, both audited, and wakes the release’s steps', async () => {
    // Act: ana asks; ana cannot approve her own request; lee can.
    const asked = await w.commands.requestExpedite({
      release: 4,
      requestedBy: 'arn:aws:sts::111111111111:assumed-role/Operators/ana',
      reason: 'CVE',
      bakeFactor: 0.1,
    });
    const waiting = await w.views.status();
    await expect(
      w.commands.approveExpedite({ release: 4, approvedBy: 'local:ana', reason: 'mine' }),
    ).rejects.toThrow(
      "An expedite needs a second person's approval: local:ana asked for it and cannot approve it.",
    );
    const approved = await w.commands.approveExpedite({
      release: 4,
      approvedBy: 'local:lee',
      reason: 'read the fix',
    });

    // Assess
    expect(asked).toMatchObject({ changed: true, wake: [] });
    expect(waiting.expedite).toBeNull();
    expect(waiting.expediteRequest).toMatchObject({ release: 4, bakeFactor: 0.1 });
    const status = await w.views.status();
    expect(status.expediteRequest).toBeNull();
    expect(status.expedite).toMatchObject({
      release: 4,
      requestedBy: 'arn:aws:sts::111111111111:assumed-role/Operators/ana',
      approver: 'local:lee',
    });
    const running = status.stages.filter((st) => st.run?.release === 4 && st.run.kind === 'normal');
    expect(running.length).toBeGreaterThan(0);
    expect(approved.wake).toEqual(
      running.map((st) => `run:${w.sb.topology.pipeline}/${st.stage}/${st.run?.seq}`),
    );
    expect((await w.views.audit(2)).map((a) => [a.by, a.action])).toEqual([
      [
        'local:lee',
        'approve the expedite of r4 (bakes × 0.1) requested by arn:aws:sts::111111111111:assumed-role/Operators/ana (CVE)',
      ],
      [
        'arn:aws:sts::111111111111:assumed-role/Operators/ana',
        'request an expedite of r4 (bakes × 0.1)',
      ],
    ]);
  });

  it('expedites the newest release in flight and cancels it', async () => {
    await w.commands.requestExpedite({
      release: 4,
      requestedBy: 'ana',
      reason: 'CVE',
      bakeFactor: 0.1,
    });
    await w.commands.approveExpedite({ release: 4, approvedBy: 'principal', reason: 'ok' });
    expect((await w.views.status()).expedite).toMatchObject({ release: 4, bakeFactor: 0.1 });

    await w.commands.cancelExpedite({ release: 4, by: 'principal', reason: 'not needed' });
    expect((await w.views.status()).expedite).toBeNull();
  });
});
