import { describe, expect, it } from 'vitest';
import {
  approveRun,
  type Commit,
  confirmationOf,
  manualRollback,
  parsePipelineDefinition,
  recordDeployment,
} from '../../../core/index.js';
import { drive, smallDefinition, stage } from '../../support/fixtures.js';
import { ALL, World } from '../../support/operator-world.js';

/** The refusals and corners of the operator views and commands, each with its message. */

/** beta runs integration tests and waits for two people. */
function twoSignOffs(): World {
  return new World(
    parsePipelineDefinition({
      ...smallDefinition(),
      stages: [
        stage('beta', null, {
          approvalSteps: [
            { kind: 'integration-tests', name: 'api-tests', timeoutSeconds: 3600 },
            { kind: 'manual-approval', name: 'qa', timeoutSeconds: 3600 },
            { kind: 'manual-approval', name: 'security', timeoutSeconds: 3600 },
          ],
        }),
      ],
    }),
  );
}

describe('approvals a person may give', () => {
  it('refuses an idle stage, a test step, an ambiguous choice, and takes a named manual step', async () => {
    const w = twoSignOffs();
    const by = { by: 'ana', reason: 'looks good' };
    await expect(w.commands.approve({ stage: 'beta', release: 1, ...by })).rejects.toThrow(
      'beta is not running r1 (it is idle); there is nothing to approve.',
    );
    drive.create(w.sb, 1);
    drive.admit(w.sb, 'beta');
    drive.finish(w.sb, 'beta');
    drive.bakePassed(w.sb, 'beta');
    await w.flush();

    await expect(
      w.commands.approve({ stage: 'beta', release: 1, step: 'api-tests', ...by }),
    ).rejects.toThrow(
      'beta has no manual approval step "api-tests" waiting for r1; waiting: qa, security. Integration tests are passed by their runner, not by hand.',
    );
    await expect(w.commands.approve({ stage: 'beta', release: 1, ...by })).rejects.toThrow(
      'beta waits on 2 manual approvals (qa, security); name one with --step.',
    );
    const qa = await w.commands.approve({ stage: 'beta', release: 1, step: 'qa', ...by });
    await w.commands.approve({ stage: 'beta', release: 1, step: 'security', ...by });

    expect(qa.wake).toEqual(['approval:api/beta/1/qa']);
    // The tests have not passed: the stage still waits, and no person can pass them.
    expect((await w.views.status()).stages[0]?.run?.approvals).toEqual([
      { name: 'api-tests', kind: 'integration-tests', passed: false },
      { name: 'qa', kind: 'manual-approval', passed: true },
      { name: 'security', kind: 'manual-approval', passed: true },
    ]);
    await expect(w.commands.approve({ stage: 'beta', release: 1, ...by })).rejects.toThrow(
      'beta has no manual approval step waiting for r1.',
    );
    // A retry of an approval that went through changes nothing and is no error.
    expect(await w.commands.approve({ stage: 'beta', release: 1, step: 'qa', ...by })).toEqual({
      changed: false,
      notes: ['qa of r1 at beta already passed'],
      wake: [],
    });
  });

  it('answers a repeated approval of a release approved since as done', async () => {
    const w = new World(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [
          stage('beta', null, {
            approvalSteps: [{ kind: 'manual-approval', name: 'qa', timeoutSeconds: 3600 }],
          }),
        ],
      }),
    );
    drive.create(w.sb, 1);
    drive.admit(w.sb, 'beta');
    drive.finish(w.sb, 'beta');
    drive.bakePassed(w.sb, 'beta');
    await w.flush();
    const by = { by: 'ana', reason: 'looks good' };

    await w.commands.approve({ stage: 'beta', release: 1, ...by });
    const again = await w.commands.approve({ stage: 'beta', release: 1, ...by });

    expect(again).toEqual({
      changed: false,
      notes: [
        'every approval step of r1 at beta passed; the stage approves it once its alarms are seen quiet',
      ],
      wake: [],
    });
    // Once the stage approved it (its driver saw the alarms quiet), a repeat says so.
    await w.service.apply(approveRun, { stage: 'beta', seq: 1 });
    expect(await w.commands.approve({ stage: 'beta', release: 1, ...by })).toEqual({
      changed: false,
      notes: ['r1 was already approved at beta'],
      wake: [],
    });
  });

  it('refuses an approval while a rollback runs', async () => {
    const w = new World();
    for (const n of [1, 2]) {
      drive.create(w.sb, n);
      w.pass('beta');
    }
    drive.create(w.sb, 3);
    drive.admit(w.sb, 'beta');
    await w.flush();
    const request = { targets: ['beta'], to: null, by: 'ana', reason: 'bad', requestId: 'rb-1' };
    await w.commands.rollback({
      ...request,
      confirmed: confirmationOf(await w.commands.previewRollback(request)),
    });

    await expect(
      w.commands.approve({ stage: 'beta', release: 3, by: 'ana', reason: 'x' }),
    ).rejects.toThrow('beta is not running r3 (it runs a rollback)');
    await expect(w.commands.previewRollback(request)).rejects.toThrow(
      'Stage beta is already rolling back (run 4)',
    );
  });
});

describe('overrides, known-bad entries and names', () => {
  it('records a pipeline-wide override and wakes every blocked run; refuses an alarm nobody watches', async () => {
    const w = new World();
    drive.create(w.sb, 1);
    drive.admit(w.sb, 'beta', { 'team-aggregate-euw1': 'ALARM' });
    await w.flush();
    expect((await w.views.status()).stages[0]?.run?.blockers).toHaveLength(1);

    await expect(
      w.commands.override({
        kind: 'alarm',
        subject: 'team-agregate-euw1',
        stage: null,
        release: null,
        hours: 1,
        by: 'ana',
        reason: 'noise',
        requestId: 'o-1',
      }),
    ).rejects.toThrow('No blocker watches alarm "team-agregate-euw1"; the alarms that block are');
    const recorded = await w.commands.override({
      kind: 'alarm',
      subject: 'team-aggregate-euw1',
      stage: null,
      release: null,
      hours: 1,
      by: 'ana',
      reason: 'noise',
      requestId: 'o-2',
    });

    expect(recorded.wake).toEqual(['run:api/beta/1']);
  });

  it('needs a reason for a known-bad change, and removes an entry', async () => {
    const w = new World();
    const entry = { kind: 'artifact' as const, value: `sha256:${'a'.repeat(64)}`, by: 'ana' };
    await expect(w.commands.setKnownBad({ ...entry, present: true, reason: ' ' })).rejects.toThrow(
      'A known-bad change needs who asks and why',
    );
    await w.commands.setKnownBad({ ...entry, present: true, reason: 'corrupt image' });
    await w.commands.setKnownBad({ ...entry, present: false, reason: 'rebuilt' });

    expect((await w.views.status()).knownBad).toEqual([]);
  });

  it('refuses no names, and names a stage and its own target once', async () => {
    const w = new World();
    expect(() => w.commands.resolveTargets([])).toThrow('Name at least one stage or target.');
    expect(w.commands.resolveTargets(['prod-1', 'prod-1-b'])).toEqual([
      { stage: 'prod-1', target: 'prod-1-a' },
      { stage: 'prod-1', target: 'prod-1-b' },
    ]);
  });
});

describe('views at the edges', () => {
  it('pages releases back, and refuses to plan or show a release that does not exist', async () => {
    const w = new World();
    for (const n of [1, 2, 3]) drive.create(w.sb, n);
    await w.flush();

    expect((await w.views.releases({ limit: 1, before: 3 })).map((r) => r.release)).toEqual([2]);
    await expect(w.views.plan(7)).rejects.toThrow('api has no release r7');
    expect((await w.views.plan(null)).deploymentSeconds.beta).toEqual({
      seconds: 600,
      basis: 'no deployments yet: assumed',
    });
  });

  it('refuses a prefix that matches several commits, and shows a stopped deployment with no commits', async () => {
    const w = new World();
    const commit = (sha: string): Commit => ({ sha, author: 'ana', message: sha, review: null });
    drive.create(w.sb, 1, {
      commits: [commit('abcd1'.padEnd(40, '0')), commit('abcd2'.padEnd(40, '0'))],
    });
    drive.admit(w.sb, 'beta');
    w.sb.apply(recordDeployment, {
      stage: 'beta',
      seq: 1,
      target: 'beta-t1',
      kind: 'normal',
      result: 'failed',
      reason: 'health checks',
    });
    await w.flush();

    await expect(w.views.where('abcd')).rejects.toThrow('"abcd" matches 2 commits');
    expect((await w.views.history('beta-t1'))[0]).toMatchObject({
      result: 'failed',
      change: 'none',
      commits: [],
    });
    // Nothing deployed anywhere: the commit runs nowhere yet.
    const where = await w.views.where('abcd1');
    expect(
      where.stages.flatMap((s) => s.targets).every((t) => !t.contains && t.since === null),
    ).toBe(true);
  });

  it('plans an expedited release with its shortened bakes', async () => {
    const w = new World();
    drive.create(w.sb, 1);
    await w.flush();
    await w.commands.requestExpedite({
      release: 1,
      requestedBy: 'ana',
      reason: 'CVE',
      bakeFactor: 0.5,
    });
    await w.commands.approveExpedite({ release: 1, approvedBy: 'principal', reason: 'ok' });

    const expedited = await w.views.plan(1);
    const normal = await w.views.plan(null);

    const gamma = (p: typeof normal) => p.plan.stages.find((s) => s.stage === 'gamma');
    const bake = (p: typeof normal) => {
      const g = gamma(p);
      return g === undefined
        ? 0
        : Date.parse(String(g.approvedAt)) - Date.parse(String(g.deployedAt));
    };
    expect(bake(expedited)).toBe(bake(normal) / 2);
  });
});

describe('a rollback as confirmed', () => {
  function threeReleasesEverywhere(): World {
    const w = new World();
    for (const n of [1, 2, 3]) {
      drive.create(w.sb, n);
      w.pass(...ALL);
    }
    return w;
  }

  it('is refused when the preview left out a target, or showed a run that has ended since', async () => {
    const w = threeReleasesEverywhere();
    await w.flush();
    const request = {
      targets: ['prod-1'],
      to: null,
      by: 'ana',
      reason: 'errors',
      requestId: 'rb-1',
    };
    const confirmed = confirmationOf(await w.commands.previewRollback(request));

    await expect(
      w.commands.rollback({
        ...request,
        confirmed: { ...confirmed, targets: confirmed.targets.slice(0, 1) },
      }),
    ).rejects.toThrow(
      'The confirmed preview does not include prod-1-b; preview the rollback again',
    );
    await expect(
      w.commands.rollback({
        ...request,
        confirmed: { ...confirmed, interrupted: [{ stage: 'prod-1', release: 4 }] },
      }),
    ).rejects.toThrow('at prod-1 the rollback would stop no run, not stop r4 as confirmed');
  });

  it('shows in the history the commits a rollback took away, and since when a commit runs despite a failed deployment', async () => {
    const w = threeReleasesEverywhere();
    // r4 fails to deploy to gamma: the failed attempt is in gamma's history, r3 still runs.
    drive.create(w.sb, 4);
    w.pass('beta');
    drive.admit(w.sb, 'gamma');
    drive.finish(w.sb, 'gamma', 'failed', 'health checks');
    w.later(1);
    drive.finish(w.sb, 'gamma');
    // prod-2 is rolled back from r3 to r2 by hand.
    w.later(5);
    w.sb.apply(manualRollback, {
      targets: [{ stage: 'prod-2', target: 'prod-2-t1' }],
      to: null,
      by: 'ana',
      reason: 'errors',
      requestId: 'rb-2',
    });
    drive.finish(w.sb, 'prod-2');
    await w.flush();

    const prod2 = await w.views.history('prod-2-t1');
    const where = await w.views.where('c200');
    const gammaHistory = await w.views.history('gamma-t1');

    expect(prod2[0]).toMatchObject({ kind: 'rollback', from: 3, to: 2, change: 'removed' });
    expect(prod2[0]?.commits.map((c) => c.message)).toEqual(['change 3']);
    expect(gammaHistory.slice(0, 2).map((h) => [h.kind, h.result])).toEqual([
      ['rollback', 'succeeded'],
      ['normal', 'failed'],
    ]);
    // gamma has run r2's commit since r2's deployment: r4's failed attempt and the rollback
    // to r3 never took it away.
    const gamma = where.stages[1]?.targets[0];
    expect(gamma?.since).toBe(gammaHistory.find((h) => h.to === 2)?.finishedAt);
    // The rollback is no deployment time to learn from.
    expect((await w.views.plan()).deploymentSeconds['prod-2']?.basis).toBe(
      'median of the last 3 deployments',
    );
  });
});

describe('stage groups', () => {
  it('puts a production wave’s stages side by side', async () => {
    const w = new World(
      parsePipelineDefinition({
        ...smallDefinition(),
        stages: [
          stage('beta', null),
          stage('w1-onebox', 'beta', { phase: 'production', wave: 1, oneBox: true }),
          stage('w1', 'w1-onebox', { phase: 'production', wave: 1 }),
          stage('w2', 'w1', { phase: 'production', wave: 2 }),
        ],
      }),
    );

    expect((await w.views.status()).groups).toEqual([
      { wave: null, stages: ['beta'] },
      { wave: 1, stages: ['w1-onebox', 'w1'] },
      { wave: 2, stages: ['w2'] },
    ]);
  });
});
