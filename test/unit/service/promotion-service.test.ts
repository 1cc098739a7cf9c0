import { describe, expect, it } from 'vitest';
import {
  admitTargets,
  ConflictError,
  createRelease,
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemoryWorkflowStarter,
  ManualClock,
  type PipelineEvent,
  PromotionService,
  type PromotionStore,
  RecordingEventPublisher,
  recordBake,
  recordDeployment,
  setPromotions,
  Topology,
  type Transition,
} from '../../../core/index.js';
import { quiet, release, smallDefinition, T0 } from '../../support/fixtures.js';

function world(overrides: { promotions?: PromotionStore; events?: RecordingEventPublisher } = {}) {
  const topology = new Topology(smallDefinition());
  const ports = {
    promotions: overrides.promotions ?? new InMemoryPromotionStore(),
    releases: new InMemoryReleaseStore(),
    deployments: new InMemoryDeploymentLog(),
    audit: new InMemoryAuditLog(),
    events: overrides.events ?? new RecordingEventPublisher(),
    workflows: new InMemoryWorkflowStarter(),
    clock: new ManualClock(T0),
  };
  return { topology, ports, service: new PromotionService(topology, ports) };
}

/** A publisher that fails the first `failures` calls, like an EventBridge outage. */
class FlakyPublisher extends RecordingEventPublisher {
  constructor(public failures: number) {
    super();
  }
  override async publish(events: readonly PipelineEvent[]): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('EventBridge is unavailable');
    }
    await super.publish(events);
  }
}

describe('PromotionService.apply', () => {
  it('writes the decision and relays every effect: outcomes, events, executions, audit', async () => {
    const { ports, service } = world();
    await ports.releases.createRelease(release(1));

    await service.apply(createRelease, { release: release(1) });
    await service.apply(setPromotions, {
      requestId: 'gate-1',
      stage: 'gamma',
      direction: 'in',
      enabled: false,
      by: 'ana',
      reason: 'investigating',
    });

    const events = (ports.events as RecordingEventPublisher).events.map((e) => e.type);
    expect(events).toEqual(['Release Created', 'Stage Started', 'Promotions Disabled']);
    expect(
      (ports.workflows as InMemoryWorkflowStarter).started.map((s) => s.executionName),
    ).toEqual(['api_beta_r1-1']);
    expect((await ports.releases.getProgress('api', 1)).stages.beta?.status).toBe('in-flight');
    expect(await ports.audit.list('api', 10)).toMatchObject([
      { stage: 'gamma', by: 'ana', reason: 'investigating' },
    ]);
    expect(await ports.promotions.pendingEffects(service.topology)).toEqual([]);
  });

  it('keeps what it could not relay and relays it on the next call, once', async () => {
    const events = new FlakyPublisher(1);
    const { ports, service } = world({ events });
    await ports.releases.createRelease(release(1));

    await expect(service.apply(createRelease, { release: release(1) })).rejects.toThrow(
      'EventBridge is unavailable',
    );
    // Only the entry whose publish failed is held back; the other went out.
    expect((await ports.promotions.pendingEffects(service.topology)).map((e) => e.id)).toEqual([
      ' meta@1',
    ]);

    // The caller retries (Lambda, Step Functions): the rule changes nothing the second time,
    // and the outbox is relayed.
    const retry = await service.apply(createRelease, { release: release(1) });

    expect(retry.writes).toEqual([]);
    expect(events.events.map((e) => e.type)).toEqual(['Stage Started', 'Release Created']);
    expect(events.duplicates).toBe(0);
    expect(await ports.promotions.pendingEffects(service.topology)).toEqual([]);
  });

  it('re-applies the rule on fresh state when another writer won the race', async () => {
    const inner = new InMemoryPromotionStore();
    let conflicts = 1;
    const racing: PromotionStore = {
      load: (t) => inner.load(t),
      save: async (pipeline: string, t: Transition) => {
        if (conflicts-- > 0) throw new ConflictError('stage beta changed');
        await inner.save(pipeline, t);
      },
      pendingEffects: (t) => inner.pendingEffects(t),
      acknowledge: (p, e) => inner.acknowledge(p, e),
    };
    const { ports, service } = world({ promotions: racing });
    await ports.releases.createRelease(release(1));

    await service.apply(createRelease, { release: release(1) });

    expect((await inner.load(service.topology)).stages.beta?.run?.release).toBe(1);
  });

  it('gives up with the ConflictError after its attempts, for the caller to retry later', async () => {
    const inner = new InMemoryPromotionStore();
    const saves: number[] = [];
    const contended: PromotionStore = {
      load: (t) => inner.load(t),
      save: async () => {
        saves.push(1);
        throw new ConflictError('stage beta changed');
      },
      pendingEffects: (t) => inner.pendingEffects(t),
      acknowledge: (p, e) => inner.acknowledge(p, e),
    };
    const { topology, ports } = world({ promotions: contended });
    const service = new PromotionService(topology, ports, { maxAttempts: 3 });

    await expect(service.apply(createRelease, { release: release(1) })).rejects.toThrow(
      ConflictError,
    );
    expect(saves).toHaveLength(3);
  });

  it('finishes a transition a crash cut between two writes, and relays both halves', async () => {
    const promotions = new InMemoryPromotionStore();
    const { topology, ports, service } = world({ promotions });
    const r1 = release(1);
    await ports.releases.createRelease(r1);
    await service.apply(createRelease, { release: r1 });
    await service.apply(admitTargets, {
      stage: 'beta',
      seq: 1,
      releases: [r1],
      alarms: quiet(topology),
    });
    await service.apply(recordDeployment, {
      stage: 'beta',
      seq: 1,
      target: 'beta-t1',
      kind: 'normal',
      result: 'succeeded',
    });
    const passed = { stage: 'beta', seq: 1, verdict: { verdict: 'passed' as const } };
    promotions.failAfterWrites = 1; // beta's approval lands, gamma's offer does not

    await expect(service.apply(recordBake, passed)).rejects.toThrow('simulated crash');
    await service.apply(recordBake, passed); // the retry

    const published = (ports.events as RecordingEventPublisher).events;
    // The retry relays its own write first, then what the crash left: order across items
    // is not guaranteed (consumers order by time and dedupe by id), completeness is.
    expect(
      published
        .slice(-3)
        .map((e) => `${e.type} ${e.detail.stage}`)
        .sort(),
    ).toEqual(['Release Promoted beta', 'Stage Approved beta', 'Stage Started gamma']);
    const started = (ports.workflows as InMemoryWorkflowStarter).started;
    expect(started.map((s) => s.executionName)).toEqual(['api_beta_r1-1', 'api_gamma_r1-1']);
    expect((await ports.releases.getProgress('api', 1)).stages).toMatchObject({
      beta: { status: 'approved' },
      gamma: { status: 'in-flight' },
    });
    expect(await promotions.pendingEffects(topology)).toEqual([]);
  });
});
