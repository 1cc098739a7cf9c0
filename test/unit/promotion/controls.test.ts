import { describe, expect, it } from 'vitest';
import {
  cancelExpedite,
  expedite,
  type KnownBad,
  type Override,
  recordOverride,
  setKnownBad,
} from '../../../core/index.js';
import { drive, Sandbox, T0 } from '../../support/fixtures.js';

const override = (overrides: Partial<Override> = {}): Override => ({
  id: 'o-1',
  kind: 'alarm',
  subject: 'team-aggregate-euw1',
  stage: 'prod-1',
  release: null,
  by: 'ana',
  reason: 'the alarm is the incident this release fixes',
  at: T0,
  until: '2026-11-23T14:00:00.000Z',
  ...overrides,
});

describe('recordOverride', () => {
  it('records an override with an audit entry, once', () => {
    const sb = new Sandbox();

    const first = sb.apply(recordOverride, { override: override() });
    const again = sb.apply(recordOverride, { override: override() });

    expect(sb.state.meta.overrides).toEqual([override()]);
    expect(first.audit).toEqual([
      {
        at: T0,
        stage: 'prod-1',
        by: 'ana',
        action: 'override alarm team-aggregate-euw1 at prod-1 until 2026-11-23T14:00:00.000Z',
        reason: 'the alarm is the incident this release fixes',
      },
    ]);
    expect(again.note).toBe('override o-1 was already recorded');
  });

  it('drops expired overrides when it records a new one', () => {
    const sb = new Sandbox();
    sb.apply(recordOverride, { override: override() });
    sb.now = '2026-11-23T15:00:00.000Z';
    sb.apply(recordOverride, {
      override: override({
        id: 'o-2',
        at: sb.now,
        until: '2026-11-23T16:00:00.000Z',
        subject: null,
        stage: null,
      }),
    });
    expect(sb.state.meta.overrides.map((o) => o.id)).toEqual(['o-2']);
  });

  it.each([
    {
      name: 'an end in the past',
      input: override({ until: '2026-11-23T09:00:00.000Z' }),
      message:
        'Override o-1 ends at 2026-11-23T09:00:00.000Z, which is not after now (2026-11-23T10:00:00.000Z); give an end in the future.',
    },
    {
      name: 'no reason',
      input: override({ reason: '' }),
      message: 'An override needs who asked for it and why: give --reason and a user.',
    },
  ])('refuses $name', ({ input, message }) => {
    expect(() => new Sandbox().apply(recordOverride, { override: input })).toThrow(message);
  });
});

describe('setKnownBad', () => {
  const entry: KnownBad = {
    kind: 'dependency',
    value: 'left-pad@1.3.0',
    by: 'ana',
    reason: 'CVE-2026-0001',
    at: T0,
  };

  it('adds and removes entries, each once', () => {
    const sb = new Sandbox();
    sb.apply(setKnownBad, { entry, present: true });
    expect(sb.apply(setKnownBad, { entry, present: true }).note).toBe(
      'left-pad@1.3.0 is already on the known-bad list',
    );
    expect(sb.state.meta.knownBad).toEqual([entry]);

    const removed = sb.apply(setKnownBad, { entry, present: false });
    expect(sb.state.meta.knownBad).toEqual([]);
    expect(removed.audit[0]?.action).toBe('remove known-bad dependency left-pad@1.3.0');
    expect(sb.apply(setKnownBad, { entry, present: false }).note).toBe(
      'left-pad@1.3.0 is not on the known-bad list',
    );
  });
});

describe('expedite', () => {
  const request = {
    release: 2,
    approver: 'principal@example.com',
    reason: 'security fix',
    bakeFactor: 0.1,
  };

  it('holds every other release until the expedited one is everywhere', () => {
    // Prepare: r1 is at prod-1 (baking), r2 is the fix.
    const sb = new Sandbox();
    drive.create(sb, 1);
    for (const s of ['beta', 'gamma']) drive.pass(sb, s);
    drive.create(sb, 2);

    // Act
    const t = sb.apply(expedite, request);

    // Assess: recorded and audited; r3 created meanwhile does not enter beta.
    expect(sb.state.meta.expedite).toMatchObject({ release: 2, bakeFactor: 0.1 });
    expect(t.audit[0]?.action).toBe('expedite r2 (bakes × 0.1), approved by principal@example.com');
    drive.pass(sb, 'beta'); // r2 approved at beta, goes to gamma
    drive.create(sb, 3);
    drive.create(sb, 4);
    expect(sb.stage('beta').run).toBeNull();
    expect(sb.stage('beta').pending).toBeNull();

    // r1 approved at prod-1 is held there: no other release is promoted.
    drive.pass(sb, 'prod-1');
    expect(sb.stage('prod-1').lastApproved).toBe(1);
    expect(sb.stage('prod-2')).toMatchObject({ pending: null, run: null, newestStarted: null });

    drive.pass(sb, 'gamma'); // r2 enters prod-1
    drive.pass(sb, 'prod-1');
    const last = drive.pass(sb, 'prod-2');

    // The expedite ends; r3 (held) is superseded by r4, which enters beta.
    expect(sb.state.meta.expedite).toBeNull();
    expect(last.outcomes).toContainEqual({
      release: 3,
      stage: 'beta',
      outcome: { status: 'superseded', at: T0, by: 4 },
    });
    expect(sb.run('beta').release).toBe(4);
  });

  it('ends when the expedited release is rejected', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    sb.apply(expedite, { ...request, release: 1 });
    drive.create(sb, 2);
    drive.admit(sb, 'beta');
    drive.finish(sb, 'beta', 'failed', 'boom');
    expect(sb.state.meta.expedite).toBeNull(); // r1 is rejected: it can no longer move

    drive.finish(sb, 'beta'); // the rollback ends; beta takes r2, held until now
    expect(sb.run('beta').release).toBe(2);
  });

  it.each([
    {
      name: 'an older release',
      input: { ...request, release: 1 },
      message:
        'Only the newest release can be expedited (r2), got r1: an expedite must not skip newer changes.',
    },
    {
      name: 'a bake factor above 1',
      input: { ...request, bakeFactor: 2 },
      message: 'The bake factor must be in (0, 1], got 2.',
    },
    {
      name: 'no approver',
      input: { ...request, approver: '' },
      message: 'An expedite needs an approver and a reason.',
    },
  ])('refuses $name', ({ input, message }) => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);
    expect(() => sb.apply(expedite, input)).toThrow(message);
  });

  it('allows one expedite at a time', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);
    sb.apply(expedite, request);
    expect(sb.apply(expedite, request).note).toBe('r2 is already expedited');
    drive.create(sb, 3);
    expect(() => sb.apply(expedite, { ...request, release: 3 })).toThrow(
      'r2 is already expedited; one expedite at a time. Wait for it or let it be rejected.',
    );
  });
});

describe('cancelExpedite', () => {
  it('ends the expedite and lets held releases move, once', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    sb.apply(expedite, { release: 1, approver: 'p', reason: 'fix', bakeFactor: 0.5 });
    drive.create(sb, 2); // held while r1 is expedited

    const t = sb.apply(cancelExpedite, {
      release: 1,
      by: 'ana',
      reason: 'stuck on a manual approval',
    });
    const again = sb.apply(cancelExpedite, {
      release: 1,
      by: 'ana',
      reason: 'stuck on a manual approval',
    });

    expect(sb.state.meta.expedite).toBeNull();
    expect(t.audit.map((a) => a.action)).toEqual(['cancel the expedite of r1']);
    expect(sb.run('beta').release).toBe(2); // r1 was only waiting at beta: r2 replaced it
    expect(again.note).toBe('r1 is not expedited');
  });

  it('needs who and why', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    sb.apply(expedite, { release: 1, approver: 'p', reason: 'fix', bakeFactor: 0.5 });
    expect(() => sb.apply(cancelExpedite, { release: 1, by: 'ana', reason: '' })).toThrow(
      'Cancelling an expedite needs who asks and why.',
    );
  });
});
