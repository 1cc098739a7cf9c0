import { describe, expect, it } from 'vitest';
import {
  approveExpedite,
  cancelExpedite,
  type KnownBad,
  type Override,
  recordOverride,
  requestExpedite,
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
    requestedBy: 'arn:aws:sts::111122223333:assumed-role/Operators/ana',
    reason: 'security fix',
    bakeFactor: 0.1,
  };
  const approval = {
    release: 2,
    approvedBy: 'arn:aws:sts::111122223333:assumed-role/Principals/lee',
    reason: 'read the fix',
  };
  /** Asked for by ana, approved by lee. */
  const expedited = (sb: Sandbox, release = 2, bakeFactor = 0.1) => {
    sb.apply(requestExpedite, { ...request, release, bakeFactor });
    return sb.apply(approveExpedite, { ...approval, release });
  };

  it('changes nothing until a second person approves the request, and audits both', () => {
    // Prepare
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);

    // Act
    const asked = sb.apply(requestExpedite, request);
    drive.create(sb, 3); // a newer release created while the request waits is not held…

    // Assess
    expect(sb.state.meta.expedite).toBeNull();
    expect(sb.state.meta.expediteRequest).toMatchObject({
      release: 2,
      requestedBy: request.requestedBy,
      bakeFactor: 0.1,
    });
    expect(asked.audit).toEqual([
      expect.objectContaining({
        by: request.requestedBy,
        action: 'request an expedite of r2 (bakes × 0.1)',
        reason: 'security fix',
      }),
    ]);
    // …and the request, now for a release that is no longer the newest, cannot be approved.
    expect(() => sb.apply(approveExpedite, approval)).toThrow(
      'Only the newest release can be expedited (r3), got r2: an expedite must not skip newer changes.',
    );
    expect(sb.state.meta.expedite).toBeNull();
  });

  it('is approved by a second principal and takes effect then', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);
    sb.apply(requestExpedite, request);

    const t = sb.apply(approveExpedite, approval);

    expect(sb.state.meta.expediteRequest).toBeNull();
    expect(sb.state.meta.expedite).toMatchObject({
      release: 2,
      requestedBy: request.requestedBy,
      approver: approval.approvedBy,
      reason: 'security fix',
      bakeFactor: 0.1,
    });
    expect(t.audit).toEqual([
      expect.objectContaining({
        by: approval.approvedBy,
        action: `approve the expedite of r2 (bakes × 0.1) requested by ${request.requestedBy} (security fix)`,
        reason: 'read the fix',
      }),
    ]);
  });

  it.each([
    { name: 'the same principal', approvedBy: request.requestedBy },
    {
      name: 'the same user in another role',
      approvedBy: 'arn:aws:sts::111122223333:assumed-role/Principals/ana',
    },
    { name: 'the same user written locally', approvedBy: 'local:ana' },
  ])('refuses an approval by $name as the requester, changing nothing', ({ approvedBy }) => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);
    sb.apply(requestExpedite, request);
    const before = sb.state;

    expect(() => sb.apply(approveExpedite, { ...approval, approvedBy })).toThrow(
      `An expedite needs a second person's approval: ${approvedBy} asked for it and cannot approve it.`,
    );
    expect(sb.state).toBe(before);
  });

  it('refuses an approval that gives no reason', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);
    sb.apply(requestExpedite, request);
    expect(() => sb.apply(approveExpedite, { ...approval, reason: ' ' })).toThrow(
      'An expedite approval needs who approves and why.',
    );
    expect(sb.state.meta.expedite).toBeNull();
  });

  it('refuses an approval nobody asked for', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);
    expect(() => sb.apply(approveExpedite, approval)).toThrow(
      'No expedite of r2 is waiting for approval; it must be requested first.',
    );
  });

  it('holds every other release until the expedited one is everywhere', () => {
    // Prepare: r1 is at prod-1 (baking), r2 is the fix.
    const sb = new Sandbox();
    drive.create(sb, 1);
    for (const s of ['beta', 'gamma']) drive.pass(sb, s);
    drive.create(sb, 2);

    // Act
    expedited(sb);

    // Assess: r3 created meanwhile does not enter beta.
    expect(sb.state.meta.expedite).toMatchObject({ release: 2, bakeFactor: 0.1 });
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
    expedited(sb, 1);
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
      name: 'no reason',
      input: { ...request, reason: ' ' },
      message: 'An expedite request needs who asks and why.',
    },
  ])('refuses a request for $name', ({ input, message }) => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);
    expect(() => sb.apply(requestExpedite, input)).toThrow(message);
    expect(sb.state.meta.expediteRequest).toBeNull();
  });

  it('keeps one request at a time: a repeat changes nothing, another waits its turn', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);
    sb.apply(requestExpedite, request);

    expect(sb.apply(requestExpedite, request).note).toBe('an expedite of r2 is already requested');
    expect(() =>
      sb.apply(requestExpedite, { ...request, requestedBy: 'bo', bakeFactor: 0.5 }),
    ).toThrow(
      `An expedite of r2 (bakes × 0.1) requested by ${request.requestedBy} is waiting for its approval; approve it, or cancel it first.`,
    );
    // A request left behind by a newer release is replaced by one for the newer release.
    drive.create(sb, 3);
    sb.apply(requestExpedite, { ...request, release: 3 });
    expect(sb.state.meta.expediteRequest).toMatchObject({ release: 3 });
  });

  it('allows one expedite at a time', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    drive.create(sb, 2);
    expedited(sb);
    expect(sb.apply(requestExpedite, request).note).toBe('r2 is already expedited');
    expect(sb.apply(approveExpedite, approval).note).toBe('r2 is already expedited');
    drive.create(sb, 3);
    expect(() => sb.apply(requestExpedite, { ...request, release: 3 })).toThrow(
      'r2 is already expedited; one expedite at a time. Wait for it or let it be rejected.',
    );
  });
});

describe('cancelExpedite', () => {
  it('ends the expedite and lets held releases move, once', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    sb.apply(requestExpedite, { release: 1, requestedBy: 'ana', reason: 'fix', bakeFactor: 0.5 });
    sb.apply(approveExpedite, { release: 1, approvedBy: 'lee', reason: 'ok' });
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

  it('withdraws a request that waits for approval', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    sb.apply(requestExpedite, { release: 1, requestedBy: 'ana', reason: 'fix', bakeFactor: 0.5 });

    const t = sb.apply(cancelExpedite, { release: 1, by: 'ana', reason: 'not needed' });

    expect(sb.state.meta.expediteRequest).toBeNull();
    expect(t.audit.map((a) => a.action)).toEqual(['withdraw the expedite request of r1']);
    expect(() =>
      sb.apply(approveExpedite, { release: 1, approvedBy: 'lee', reason: 'ok' }),
    ).toThrow('No expedite of r1 is waiting for approval');
  });

  it('needs who and why', () => {
    const sb = new Sandbox();
    drive.create(sb, 1);
    sb.apply(requestExpedite, { release: 1, requestedBy: 'ana', reason: 'fix', bakeFactor: 0.5 });
    expect(() => sb.apply(cancelExpedite, { release: 1, by: 'ana', reason: '' })).toThrow(
      'Cancelling an expedite needs who asks and why.',
    );
  });
});
