import { describe, expect, it } from 'vitest';
import {
  createRelease,
  Draft,
  offer,
  parsePipelineDefinition,
  setPromotions,
} from '../../../core/index.js';
import { drive, release, Sandbox, smallDefinition, stage } from '../../support/fixtures.js';

describe('createRelease', () => {
  it('records the release and lets the first stage take it', () => {
    // Prepare
    const sb = new Sandbox();

    // Act
    const t = drive.create(sb, 1);

    // Assess
    expect(t.events.map((e) => e.type)).toEqual(['Release Created', 'Stage Started']);
    expect(sb.state.meta.latestRelease).toBe(1);
    expect(sb.run('beta')).toMatchObject({ release: 1, step: 'waiting', seq: 1, attempt: 1 });
    expect(t.starts).toEqual([
      {
        stage: 'beta',
        seq: 1,
        kind: 'normal',
        release: 1,
        attempt: 1,
        executionName: 'api_beta_r1-1',
        targets: ['beta-t1'],
      },
    ]);
    expect(t.outcomes.map((o) => [o.release, o.stage, o.outcome.status])).toEqual([
      [1, 'beta', 'pending'],
      [1, 'beta', 'in-flight'],
    ]);
  });

  it('changes nothing when the same release is created twice', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    const before = sb.state;

    const t = drive.create(sb, 1);

    expect(t.state).toBe(before);
    expect(t.events).toEqual([]);
    expect(t.note).toBe('r1 was already created');
  });

  it('refuses a gap in release numbers', () => {
    const sb = new Sandbox();
    expect(() => sb.apply(createRelease, { release: release(2) })).toThrow(
      'Release numbers go up by one: the next release of api is r1, got r2.',
    );
  });
});

describe('offer: pending and supersede', () => {
  // Each row: releases created while beta deploys r1 (busy), and what beta then holds.
  it.each([
    { later: [2], pending: 2, superseded: [] },
    { later: [2, 3], pending: 3, superseded: [2] },
    { later: [2, 3, 4], pending: 4, superseded: [2, 3] },
  ])(
    'beta deploying r1, then $later arrive → pending r$pending, superseded $superseded',
    ({ later, pending, superseded }) => {
      const sb = new Sandbox();
      drive.create(sb, 1);
      drive.admit(sb, 'beta'); // r1 deploying: a running stage is never interrupted

      for (const n of later) drive.create(sb, n);

      expect(sb.run('beta').release).toBe(1);
      expect(sb.stage('beta').pending).toBe(pending);
      const supersededAtBeta = sb
        .events()
        .filter((e) => e.type === 'Release Superseded' && e.detail.stage === 'beta')
        .map((e) => e.detail.release);
      expect(supersededAtBeta).toEqual(superseded);
    },
  );

  it('replaces a run that is still waiting on blockers (nothing was deployed)', () => {
    const sb = new Sandbox();
    drive.create(sb, 1); // beta takes r1 and waits (not admitted yet)

    const t = drive.create(sb, 2);

    expect(sb.run('beta')).toMatchObject({ release: 2, seq: 2 });
    expect(t.outcomes.find((o) => o.release === 1)?.outcome).toMatchObject({
      status: 'superseded',
      by: 2,
    });
    expect(t.starts.map((s) => s.executionName)).toEqual(['api_beta_r2-1']);
  });

  // Each row: what gamma already holds, the release offered, and the outcome of the offer.
  it.each([
    { name: 'older than started', gamma: { newestStarted: 3 }, offered: 2, expected: 'superseded' },
    { name: 'older than pending', gamma: { pending: 3 }, offered: 2, expected: 'superseded' },
    { name: 'the started one again', gamma: { newestStarted: 3 }, offered: 3, expected: 'no-op' },
    { name: 'the pending one again', gamma: { pending: 3 }, offered: 3, expected: 'no-op' },
    {
      name: 'newer than started',
      gamma: { newestStarted: 3 },
      offered: 4,
      expected: 'pending-then-run',
    },
  ])('offer to gamma: $name → $expected (property 2)', ({ gamma, offered, expected }) => {
    const sb = new Sandbox();
    const state = {
      ...sb.state,
      stages: { ...sb.state.stages, gamma: { ...sb.stage('gamma'), ...gamma } },
    };
    const draft = new Draft(sb.context, state);

    offer(draft, 'gamma', offered);

    const statuses = draft.outcomes
      .filter((o) => o.release === offered)
      .map((o) => o.outcome.status);
    const result =
      statuses.length === 0
        ? 'no-op'
        : statuses.join('-').replace('pending-in-flight', 'pending-then-run');
    expect(result).toBe(expected);
  });
});

describe('promotion gates', () => {
  it('holds a pending release while promotions in are disabled and takes it when enabled (property 6)', () => {
    const sb = new Sandbox();
    sb.apply(setPromotions, {
      requestId: 'gate-3',
      stage: 'beta',
      direction: 'in',
      enabled: false,
      by: 'ana',
      reason: 'investigating',
    });

    drive.create(sb, 1);
    expect(sb.stage('beta')).toMatchObject({ pending: 1, run: null });

    const t = sb.apply(setPromotions, {
      requestId: 'gate-4',
      stage: 'beta',
      direction: 'in',
      enabled: true,
      by: 'ana',
      reason: 'fixed',
    });
    expect(sb.run('beta').release).toBe(1);
    expect(t.events.map((e) => e.type)).toEqual(['Promotions Enabled', 'Stage Started']);
    expect(t.audit).toEqual([
      {
        at: sb.now,
        stage: 'beta',
        by: 'ana',
        action: 'enable promotions in of beta',
        reason: 'fixed',
      },
    ]);
  });

  it('keeps an approved release in the stage while promotions out are disabled, then hands it on', () => {
    const sb = new Sandbox();
    sb.apply(setPromotions, {
      requestId: 'gate-5',
      stage: 'beta',
      direction: 'out',
      enabled: false,
      by: 'ana',
      reason: 'hold',
    });
    drive.create(sb, 1);
    drive.pass(sb, 'beta');
    expect(sb.stage('beta').lastApproved).toBe(1);
    expect(sb.stage('gamma').pending).toBeNull();
    expect(sb.stage('gamma').run).toBeNull();

    const t = sb.apply(setPromotions, {
      requestId: 'gate-6',
      stage: 'beta',
      direction: 'out',
      enabled: true,
      by: 'ana',
      reason: 'go',
    });

    expect(t.events.map((e) => e.type)).toEqual([
      'Promotions Enabled',
      'Release Promoted',
      'Stage Started',
    ]);
    expect(sb.run('gamma').release).toBe(1);
  });

  it('says so when a gate is already in the requested position', () => {
    const sb = new Sandbox();
    const t = sb.apply(setPromotions, {
      requestId: 'gate-7',
      stage: 'beta',
      direction: 'in',
      enabled: true,
      by: 'ana',
      reason: 'x',
    });
    // Nothing but the request id changes: no event, no audit entry.
    expect(t.changedStages).toEqual(['beta']);
    expect([t.events, t.audit]).toEqual([[], []]);
    expect(sb.stage('beta').handledRequests).toEqual(['gate-7']);
    expect(t.note).toBe('promotions in of beta are already enabled');
  });

  it('remembers a request that changed nothing: retried after the gate closed, it does not reopen it', () => {
    const sb = new Sandbox();
    const gate = (requestId: string, enabled: boolean) =>
      sb.apply(setPromotions, {
        requestId,
        stage: 'beta',
        direction: 'in',
        enabled,
        by: 'ana',
        reason: 'x',
      });

    gate('enable-1', true); // already enabled: nothing to do
    gate('close-2', false);
    const late = gate('enable-1', true);

    expect(late.note).toBe('request enable-1 was already carried out at beta');
    expect(sb.stage('beta').promotionsIn.enabled).toBe(false);
  });

  it('changes both gates in one write, with an event and an audit entry for each', () => {
    const sb = new Sandbox();
    const t = sb.apply(setPromotions, {
      requestId: 'both-1',
      stage: 'gamma',
      direction: 'both',
      enabled: false,
      by: 'ana',
      reason: 'investigating',
    });

    expect(t.writes).toHaveLength(1);
    expect(t.events.map((e) => [e.type, e.detail.data])).toEqual([
      ['Promotions Disabled', { direction: 'in' }],
      ['Promotions Disabled', { direction: 'out' }],
    ]);
    expect(t.audit.map((a) => a.action)).toEqual([
      'disable promotions in of gamma',
      'disable promotions out of gamma',
    ]);
  });

  it('ignores a late retry of an old request: it does not reopen a gate closed since', () => {
    const sb = new Sandbox();
    const gate = (requestId: string, enabled: boolean) =>
      sb.apply(setPromotions, {
        requestId,
        stage: 'beta',
        direction: 'in',
        enabled,
        by: 'ana',
        reason: 'x',
      });
    gate('close-1', false);
    gate('open-1', true);
    gate('close-2', false);

    const t = gate('open-1', true);

    expect(t.changedStages).toEqual([]);
    expect(t.note).toBe('request open-1 was already carried out at beta');
    expect(sb.stage('beta').promotionsIn.enabled).toBe(false);
  });
});

describe('fan-out', () => {
  it('promotes an approved release to every next stage', () => {
    const base = smallDefinition();
    const forked = parsePipelineDefinition({
      ...base,
      stages: [...base.stages, stage('prod-2b', 'prod-1', { phase: 'production', wave: 2 })],
    });
    const sb = new Sandbox(forked);
    drive.create(sb, 1);
    for (const s of ['beta', 'gamma', 'prod-1']) drive.pass(sb, s);
    expect(sb.run('prod-2').release).toBe(1);
    expect(sb.run('prod-2b').release).toBe(1);
  });
});
