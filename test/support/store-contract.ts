/**
 * The contract every implementation of the store ports keeps, run against the in-memory
 * stores (unit) and the DynamoDB stores on DynamoDB Local (integration): the local runtime and
 * the unit tests rely on the memory stores behaving exactly like the cloud's.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AuditLog,
  type Commit,
  ConflictError,
  createRelease,
  type DeploymentLog,
  NotFoundError,
  type PromotionStore,
  type ReleaseStore,
  reconcile,
  setPromotions,
  Topology,
} from '../../core/index.js';
import { drive, release, Sandbox, smallDefinition, T0 } from './fixtures.js';

export interface Stores {
  readonly promotions: PromotionStore;
  readonly releases: ReleaseStore;
  readonly deployments: DeploymentLog;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

export function describeStoreContract(name: string, open: () => Promise<Stores>): void {
  describe(`${name}: store contract`, () => {
    const topology = new Topology(smallDefinition());
    const context = { topology, now: T0 };
    let stores: Stores;
    beforeEach(async () => {
      stores = await open();
    });
    afterEach(async () => {
      await stores.close();
    });

    it('loads fresh stages and meta before anything was written', async () => {
      const state = await stores.promotions.load(topology);

      expect(Object.keys(state.stages)).toEqual(['beta', 'gamma', 'prod-1', 'prod-2']);
      expect(state.stages['prod-1']).toMatchObject({ version: 0, run: null, pending: null });
      expect(state.meta.version).toBe(0);
    });

    it('reads back what it wrote, versions included', async () => {
      const t = createRelease(context, await stores.promotions.load(topology), {
        release: release(1),
      });

      await stores.promotions.save('api', t);

      expect(await stores.promotions.load(topology)).toEqual(t.state);
    });

    it('refuses a write based on a stale read with a ConflictError', async () => {
      const before = await stores.promotions.load(topology);
      await stores.promotions.save('api', createRelease(context, before, { release: release(1) }));

      const stale = setPromotions(context, before, {
        requestId: 'gate-1',
        stage: 'beta',
        direction: 'in',
        enabled: false,
        by: 'ana',
        reason: 'x',
      });

      await expect(stores.promotions.save('api', stale)).rejects.toThrow(ConflictError);
    });

    it('refuses a write whose decision read an item that changed since (write skew)', async () => {
      // beta approved r1; the process died before gamma's offer was written.
      const sb = new Sandbox();
      drive.create(sb, 1);
      drive.admit(sb, 'beta');
      drive.finish(sb, 'beta');
      const approval = drive.bakePassed(sb, 'beta');
      for (const t of sb.transitions.slice(0, -1)) await stores.promotions.save('api', t);
      await stores.promotions.save('api', { ...approval, writes: approval.writes.slice(0, 1) });
      const handOn = reconcile(context, await stores.promotions.load(topology), {});
      expect(handOn.writes.map((w) => w.item === 'stage' && w.stage)).toEqual(['gamma']);
      expect(handOn.writes[0]?.dependsOn).toContainEqual({ item: { stage: 'beta' }, version: 4 });
      const close = setPromotions(context, await stores.promotions.load(topology), {
        requestId: 'close-beta',
        stage: 'beta',
        direction: 'out',
        enabled: false,
        by: 'ana',
        reason: 'x',
      });
      await stores.promotions.save('api', close);

      await expect(stores.promotions.save('api', handOn)).rejects.toThrow(/decided on stage beta/);
      expect((await stores.promotions.load(topology)).stages.gamma).toMatchObject({
        version: 0,
        run: null,
      });
    });

    it('keeps each write’s effects in its outbox until they are acknowledged', async () => {
      const t = createRelease(context, await stores.promotions.load(topology), {
        release: release(1),
      });
      await stores.promotions.save('api', t);

      const pending = await stores.promotions.pendingEffects(topology);

      expect(pending.map((entry) => entry.id)).toEqual([' meta@1', 'beta@1']);
      expect(pending.flatMap((entry) => entry.effects.events.map((e) => e.type))).toEqual([
        'Release Created',
        'Stage Started',
      ]);
      await stores.promotions.acknowledge('api', pending.slice(0, 1));
      expect((await stores.promotions.pendingEffects(topology)).map((e) => e.id)).toEqual([
        'beta@1',
      ]);
      await stores.promotions.acknowledge('api', pending); // again, and the rest
      expect(await stores.promotions.pendingEffects(topology)).toEqual([]);
    });

    it('acknowledges by entry: entries written after the relay read them stay pending', async () => {
      const gate = (requestId: string, enabled: boolean) => async () =>
        stores.promotions.save(
          'api',
          setPromotions(context, await stores.promotions.load(topology), {
            requestId,
            stage: 'gamma',
            direction: 'in',
            enabled,
            by: 'ana',
            reason: 'x',
          }),
        );
      await gate('g1', false)();
      await gate('g2', true)();
      const read = await stores.promotions.pendingEffects(topology);
      await gate('g3', false)();

      await stores.promotions.acknowledge('api', read);

      expect((await stores.promotions.pendingEffects(topology)).map((e) => e.id)).toEqual([
        'gamma@3',
      ]);
    });

    it('takes the same transition written twice (a lost response) as done, not as a conflict', async () => {
      const t = createRelease(context, await stores.promotions.load(topology), {
        release: release(1),
      });
      await stores.promotions.save('api', t);

      await stores.promotions.save('api', t);

      expect(await stores.promotions.load(topology)).toEqual(t.state);
    });

    it('keeps releases immutable: the same release twice is fine, a different one conflicts', async () => {
      await stores.releases.createRelease(release(1));
      await stores.releases.createRelease(release(1));

      await expect(
        stores.releases.createRelease(release(1, { headCommit: 'other' })),
      ).rejects.toThrow('Release r1 of api already exists with other contents');
    });

    it('lists releases newest first and pages back', async () => {
      for (const n of [1, 2, 3, 10]) await stores.releases.createRelease(release(n));
      await stores.releases.createRelease({ ...release(4), pipeline: 'other' });

      const first = await stores.releases.listReleases('api', { limit: 2 });
      const next = await stores.releases.listReleases('api', { limit: 5, before: 3 });

      expect(first.map((r) => r.number)).toEqual([10, 3]);
      expect(next.map((r) => r.number)).toEqual([2, 1]);
      expect(await stores.releases.getRelease('api', 9)).toBeNull();
      expect(await stores.releases.getRelease('api', 2)).toEqual(release(2));
    });

    it('records outcomes, never letting an older one overwrite a later one', async () => {
      await stores.releases.createRelease(release(2));
      await stores.releases.recordOutcomes('api', [
        { release: 2, stage: 'beta', outcome: { status: 'approved', at: T0 } },
        { release: 2, stage: 'gamma', outcome: { status: 'pending', at: T0 } },
      ]);

      await stores.releases.recordOutcomes('api', [
        { release: 2, stage: 'beta', outcome: { status: 'pending', at: T0 } },
        { release: 2, stage: 'gamma', outcome: { status: 'in-flight', at: T0 } },
      ]);

      expect(await stores.releases.getProgress('api', 2)).toEqual({
        release: 2,
        stages: { beta: { status: 'approved', at: T0 }, gamma: { status: 'in-flight', at: T0 } },
      });
    });

    it('finds the release a commit was new in by a prefix of its sha, and refuses what is no sha', async () => {
      const commit = (sha: string): Commit => ({
        author: 'dev',
        message: 'change',
        review: null,
        sha,
      });
      await stores.releases.createRelease(
        release(1, {
          commits: [commit('aaaa1111'.padEnd(40, '0')), commit('bbbb2222'.padEnd(40, '0'))],
        }),
      );
      await stores.releases.createRelease(
        release(2, { commits: [commit('aaaa2222'.padEnd(40, '0'))] }),
      );
      await stores.releases.createRelease({
        ...release(3, { commits: [commit('bbbb3333'.padEnd(40, '0'))] }),
        pipeline: 'other',
      });

      expect(await stores.releases.findCommits('api', 'BBBB', 10)).toEqual([
        { sha: 'bbbb2222'.padEnd(40, '0'), release: 1 },
      ]);
      expect(await stores.releases.findCommits('api', 'aaaa', 10)).toEqual([
        { sha: 'aaaa1111'.padEnd(40, '0'), release: 1 },
        { sha: 'aaaa2222'.padEnd(40, '0'), release: 2 },
      ]);
      expect(await stores.releases.findCommits('api', 'aaaa2', 10)).toHaveLength(1);
      expect(await stores.releases.findCommits('api', 'cccc', 10)).toEqual([]);
      await expect(stores.releases.findCommits('api', 'main', 10)).rejects.toThrow(
        '"main" is not a commit',
      );
    });

    it('says which release is missing', async () => {
      await expect(stores.releases.getProgress('api', 7)).rejects.toThrow(NotFoundError);
      await expect(
        stores.releases.recordOutcomes('api', [
          { release: 7, stage: 'beta', outcome: { status: 'pending', at: T0 } },
        ]),
      ).rejects.toThrow('r7');
    });

    it('keeps a deployment record once, newest first per target', async () => {
      const record = {
        target: 'beta-t1',
        stage: 'beta',
        kind: 'normal' as const,
        from: null,
        to: 1,
        result: 'succeeded' as const,
        startedAt: T0,
        finishedAt: '2026-11-23T10:05:00.000Z',
        reason: null,
      };
      const later = { ...record, from: 1, to: 2, finishedAt: '2026-11-23T11:05:00.000Z' };

      await stores.deployments.record('api', [record, later]);
      await stores.deployments.record('api', [record]);

      expect(await stores.deployments.history('api', 'beta-t1', 10)).toEqual([later, record]);
      expect(await stores.deployments.history('api', 'beta-t1', 1)).toEqual([later]);
      expect(await stores.deployments.history('api', 'gamma-t1', 10)).toEqual([]);
    });

    it('keeps audit entries newest first; the same entry relayed twice is kept once', async () => {
      const entry = {
        at: T0,
        stage: 'gamma',
        by: 'ana',
        action: 'disable promotions in',
        reason: 'x',
      };
      const later = { ...entry, at: '2026-11-23T11:00:00.000Z', action: 'enable promotions in' };

      await stores.audit.append('api', [entry, later]);
      await stores.audit.append('api', [entry]);

      expect(await stores.audit.list('api', 10)).toEqual([later, entry]);
    });
  });
}
