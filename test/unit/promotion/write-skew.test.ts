/**
 * Safety property 6 across items: a decision about one stage that read another item (the
 * stage before it, the meta item) lands only if that item is still as read. Each test
 * races a decision against an operator's write to the item it read: the decision is
 * computed from a read taken before the operator's write and saved after it. Without the
 * check both writes land, each finding its own item unchanged (write skew), and the
 * decision acts on a state the operator has already changed.
 */
import { describe, expect, it } from 'vitest';
import {
  approveExpedite,
  ConflictError,
  cancelExpedite,
  InMemoryPromotionStore,
  type PipelineState,
  type PromotionStore,
  reconcile,
  recordBake,
  requestExpedite,
  setKnownBad,
  setPromotions,
  type Transition,
} from '../../../core/index.js';
import { drive, Sandbox } from '../../support/fixtures.js';

/** A sandbox whose transitions are written to a store as they are decided. */
class Stored {
  readonly sb = new Sandbox();
  readonly store: PromotionStore;
  #written = 0;

  constructor(store: PromotionStore = new InMemoryPromotionStore()) {
    this.store = store;
  }

  /** Writes what the sandbox decided since the last call. */
  async flush(): Promise<void> {
    for (const t of this.sb.transitions.slice(this.#written)) await this.store.save('api', t);
    this.#written = this.sb.transitions.length;
  }

  async read(): Promise<PipelineState> {
    return this.store.load(this.sb.topology);
  }

  /**
   * Writes what was decided so far, then beta's approval of its run, dying after beta's
   * item and before the offer to gamma, which is left to the next decision.
   */
  async approveBetaThenCrash(): Promise<void> {
    const approval = drive.bakePassed(this.sb, 'beta');
    this.sb.transitions.pop();
    await this.flush();
    expect(approval.writes.map((w) => (w.item === 'meta' ? 'meta' : w.stage))).toEqual([
      'beta',
      'gamma',
    ]);
    const memory = this.store as InMemoryPromotionStore;
    memory.failAfterWrites = 1;
    await expect(this.store.save('api', approval)).rejects.toThrow('simulated crash');
  }

  /** An operator's decision, on fresh state, written at once. */
  async operator(decide: (state: PipelineState) => Transition): Promise<void> {
    await this.store.save('api', decide(await this.read()));
  }

  /** Applies a decision the way the service does after a conflict: reload, decide, write. */
  async retry(decide: (state: PipelineState) => Transition): Promise<PipelineState> {
    const t = decide(await this.read());
    await this.store.save('api', t);
    return this.read();
  }
}

const gate = (stage: string, direction: 'in' | 'out', enabled: boolean) => ({
  requestId: `${stage}-${direction}-${enabled}`,
  stage,
  direction,
  enabled,
  by: 'ana',
  reason: 'incident 42',
});

describe('a decision that read another item, raced by a write to it (write skew)', () => {
  it('does not hand r1 on from beta after an operator closed beta’s promotions out', async () => {
    // Prepare: beta approved r1 and the process died before gamma's offer was written.
    const p = new Stored();
    drive.create(p.sb, 1);
    drive.admit(p.sb, 'beta');
    drive.finish(p.sb, 'beta');
    await p.approveBetaThenCrash();

    // Act: the reconciler reads and decides that gamma takes r1; before it writes, an
    // operator closes beta's promotions out and is told nothing more leaves beta.
    const read = await p.read();
    const handOn = reconcile(p.sb.context, read, {});
    expect(handOn.state.stages.gamma?.run?.release).toBe(1);
    await p.operator((state) => setPromotions(p.sb.context, state, gate('beta', 'out', false)));

    // Assess: the hand-on is refused, and decided again it leaves r1 held at beta.
    await expect(p.store.save('api', handOn)).rejects.toThrow(ConflictError);
    const after = await p.retry((state) => reconcile(p.sb.context, state, {}));
    expect(after.stages.gamma).toMatchObject({ run: null, pending: null, newestStarted: null });
    expect(after.stages.beta?.lastApproved).toBe(1);
  });

  it('does not start deploying r2 after an operator marked it known-bad', async () => {
    // Prepare: r2 was approved at beta and waits at gamma for its targets to be admitted.
    const p = new Stored();
    drive.create(p.sb, 1);
    drive.create(p.sb, 2);
    drive.pass(p.sb, 'beta');
    await p.flush();
    expect((await p.read()).stages.gamma?.run).toMatchObject({ release: 2, step: 'waiting' });

    // Act: gamma's admission of r2 is decided; an operator marks r2 known-bad first.
    p.sb.state = await p.read();
    const admit = drive.admit(p.sb, 'gamma');
    p.sb.transitions.pop();
    expect(Object.values(admit.state.stages.gamma?.run?.targets ?? {})).toEqual([
      expect.objectContaining({ status: 'deploying' }),
    ]);
    const entry = { kind: 'release' as const, value: 'r2', by: 'ana', reason: 'corrupts orders' };
    await p.operator((state) =>
      setKnownBad(p.sb.context, state, { entry: { ...entry, at: p.sb.now }, present: true }),
    );

    // Assess: the admission is refused; decided again, r2 is blocked as known-bad.
    await expect(p.store.save('api', admit)).rejects.toThrow(ConflictError);
    p.sb.state = await p.read();
    const again = drive.admit(p.sb, 'gamma');
    p.sb.transitions.pop();
    await p.store.save('api', again);
    const run = (await p.read()).stages.gamma?.run;
    expect(Object.values(run?.targets ?? {}).map((t) => t.status)).toEqual(['waiting']);
    expect(run?.blockers.map((b) => b.kind)).toEqual(['known-bad']);
  });

  it('does not take an older release into a stage after an expedite of a newer one was approved', async () => {
    // Prepare: gamma rolls r1 back with r2 pending; r3, at beta, has an expedite requested.
    const p = new Stored();
    drive.create(p.sb, 1);
    drive.pass(p.sb, 'beta');
    drive.admit(p.sb, 'gamma');
    drive.finish(p.sb, 'gamma');
    drive.create(p.sb, 2);
    drive.pass(p.sb, 'beta');
    drive.create(p.sb, 3);
    p.sb.apply(recordBake, {
      stage: 'gamma',
      seq: p.sb.run('gamma').seq,
      verdict: { verdict: 'failed', reason: 'latency alarm' },
    });
    const request = { release: 3, reason: 'CVE fix', bakeFactor: 0.5 };
    p.sb.apply(requestExpedite, { ...request, requestedBy: 'ana' });
    await p.flush();
    expect((await p.read()).stages.gamma).toMatchObject({
      pending: 2,
      run: { release: 1, step: 'rolling-back' },
    });

    // Act: gamma's rollback ends, so gamma takes r2; before that is written, the expedite
    // of r3 is approved.
    const [rolledBack] = drive.finish(p.sb, 'gamma');
    p.sb.transitions.pop();
    expect(rolledBack?.state.stages.gamma?.run?.release).toBe(2);
    await p.operator((state) =>
      approveExpedite(p.sb.context, state, { release: 3, approvedBy: 'bo', reason: 'read it' }),
    );

    // Assess: refused; decided again, the rollback ends and r2 waits for r3 to be done.
    await expect(p.store.save('api', rolledBack as Transition)).rejects.toThrow(ConflictError);
    p.sb.state = await p.read();
    for (const t of drive.finish(p.sb, 'gamma')) await p.store.save('api', t);
    expect((await p.read()).stages.gamma).toMatchObject({ run: null, pending: 2 });
  });

  it('does not hand an older release on after an expedite of a newer one was approved', async () => {
    // Prepare: gamma is busy with r1; r3 waits at beta with an expedite requested; beta
    // approved r2, and the process died before gamma's offer was written.
    const p = new Stored();
    drive.create(p.sb, 1);
    drive.pass(p.sb, 'beta');
    drive.admit(p.sb, 'gamma');
    drive.create(p.sb, 2);
    drive.admit(p.sb, 'beta');
    drive.finish(p.sb, 'beta');
    drive.create(p.sb, 3);
    const request = { release: 3, reason: 'CVE fix', bakeFactor: 0.5 };
    p.sb.apply(requestExpedite, { ...request, requestedBy: 'ana' });
    await p.approveBetaThenCrash();

    // Act: the reconciler decides to hand r2 to gamma; the expedite is approved first.
    const handOn = reconcile(p.sb.context, await p.read(), {});
    expect(handOn.state.stages.gamma?.pending).toBe(2);
    await p.operator((state) =>
      approveExpedite(p.sb.context, state, { release: 3, approvedBy: 'bo', reason: 'read it' }),
    );

    // Assess: refused; decided again, r2 stays at beta until r3 is done.
    await expect(p.store.save('api', handOn)).rejects.toThrow(ConflictError);
    const after = await p.retry((state) => reconcile(p.sb.context, state, {}));
    expect(after.stages.gamma?.pending).toBeNull();
    expect(after.stages.beta).toMatchObject({ lastApproved: 2, run: { release: 3 } });
  });

  it('does not approve a bake shortened by an expedite that was cancelled meanwhile', async () => {
    // Prepare: r1 is expedited (bakes × 0.1) and bakes at beta.
    const p = new Stored();
    drive.create(p.sb, 1);
    const request = { release: 1, reason: 'CVE fix', bakeFactor: 0.1 };
    p.sb.apply(requestExpedite, { ...request, requestedBy: 'ana' });
    p.sb.apply(approveExpedite, { release: 1, approvedBy: 'bo', reason: 'read the fix' });
    drive.admit(p.sb, 'beta');
    drive.finish(p.sb, 'beta');
    await p.flush();

    // Act: the shortened bake is judged passed; the expedite is cancelled before the
    // verdict is written.
    const judged = drive.bakePassed(p.sb, 'beta');
    p.sb.transitions.pop();
    const verdict = { stage: 'beta', seq: 1, verdict: { verdict: 'passed' as const } };
    expect(judged.state.stages.beta?.lastApproved).toBe(1);
    await p.operator((state) =>
      cancelExpedite(p.sb.context, state, { release: 1, by: 'ana', reason: 'not urgent' }),
    );

    // Assess: the verdict is refused; applied again on fresh state it changes nothing (the
    // bake is judged again at full length), and a verdict judged at full length approves.
    await expect(p.store.save('api', judged)).rejects.toThrow(ConflictError);
    const stale = recordBake(p.sb.context, await p.read(), { ...verdict, bakeFactor: 0.1 });
    expect(stale.writes).toEqual([]);
    expect(stale.note).toMatch(/judged again/);
    const full = await p.retry((state) =>
      recordBake(p.sb.context, state, { ...verdict, bakeFactor: null }),
    );
    expect(full.stages.beta?.lastApproved).toBe(1);
  });
});
