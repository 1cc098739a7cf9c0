import { describe, expect, it } from 'vitest';
import {
  admitTargets,
  createRelease,
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemoryWorkflowStarter,
  ManualClock,
  PromotionService,
  RecordingEventPublisher,
  reconcileRuns,
  Topology,
} from '../../../core/index.js';
import { quiet, release, smallDefinition, T0 } from '../../support/fixtures.js';

async function pipeline() {
  const topology = new Topology(smallDefinition());
  const clock = new ManualClock(T0);
  const workflows = new InMemoryWorkflowStarter();
  const promotions = new InMemoryPromotionStore();
  const releases = new InMemoryReleaseStore();
  const events = new RecordingEventPublisher();
  const service = new PromotionService(topology, {
    promotions,
    releases,
    deployments: new InMemoryDeploymentLog(),
    audit: new InMemoryAuditLog(),
    events,
    workflows,
    clock,
  });
  await releases.createRelease(release(1));
  return { topology, clock, workflows, promotions, releases, events, service };
}

/** r1 taken by beta and deploying there (its execution api_beta_r1-1 started). */
async function deployingAtBeta() {
  const p = await pipeline();
  await p.service.apply(createRelease, { release: release(1) });
  await p.service.apply(admitTargets, {
    stage: 'beta',
    seq: 1,
    releases: [release(1)],
    alarms: quiet(p.topology),
  });
  return p;
}

describe('reconcileRuns', () => {
  it('starts a new attempt for a run whose execution is gone', async () => {
    const p = await pipeline();
    await p.service.apply(createRelease, { release: release(1) });
    p.workflows.end('api_beta_r1-1');
    p.clock.advance(3600);

    const report = await reconcileRuns(p.service, p.workflows, p.clock.now());

    expect(report).toEqual({
      relayed: 0,
      relayFailure: null,
      restarted: ['api_beta_r1-2'],
      failed: [],
      stuck: [],
    });
    expect((await p.service.state()).stages.beta?.run?.attempt).toBe(2);
  });

  it('leaves running executions, and runs taken moments ago, alone', async () => {
    const p = await pipeline();
    await p.service.apply(createRelease, { release: release(1) });

    expect((await reconcileRuns(p.service, p.workflows, p.clock.now())).restarted).toEqual([]);
    p.workflows.end('api_beta_r1-1');
    expect((await reconcileRuns(p.service, p.workflows, p.clock.now())).restarted).toEqual([]);
    p.clock.advance(3600);
    p.workflows.end('api_beta_r1-1');
    expect((await reconcileRuns(p.service, p.workflows, p.clock.now())).restarted).toEqual([
      'api_beta_r1-2',
    ]);
  });

  it('relays what a crash left in the outbox, so the owed execution starts and is not restarted', async () => {
    const p = await pipeline();
    // The run is written but the process dies before relaying its start.
    const t = createRelease(
      { topology: p.topology, now: T0 },
      await p.promotions.load(p.topology),
      {
        release: release(1),
      },
    );
    await p.promotions.save('api', t);
    p.clock.advance(3600);

    const report = await reconcileRuns(p.service, p.workflows, p.clock.now());

    expect(report.relayed).toBeGreaterThan(0);
    expect(report.restarted).toEqual([]);
    expect(p.workflows.started.map((s) => s.executionName)).toEqual(['api_beta_r1-1']);
  });

  it('fails a run whose executions keep dying, and starts its rollback', async () => {
    const p = await deployingAtBeta();
    p.clock.advance(3600);
    for (const attempt of [1, 2, 3]) {
      p.workflows.end(`api_beta_r1-${attempt}`);
      await reconcileRuns(p.service, p.workflows, p.clock.now());
    }

    const state = (await p.service.state()).stages.beta;
    expect(state?.run).toMatchObject({ step: 'rolling-back', attempt: 4 });
    expect((await p.releases.getProgress('api', 1)).stages.beta).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining('the stage workflow ended 3 times'),
    });
    expect(p.workflows.started.map((s) => s.executionName)).toContain('api_beta_r1-4');
  });

  it('goes on restarting runs when an outbox entry keeps failing, and reports it', async () => {
    const p = await pipeline();
    await p.service.apply(createRelease, { release: release(1) });
    p.workflows.end('api_beta_r1-1');
    p.clock.advance(3600);
    const relay = p.service.relayPending.bind(p.service);
    // Only the sweep of leftovers fails; each call's own effects still go out.
    p.service.relayPending = async (filter) => {
      if (filter === undefined) throw new Error('EventBridge refuses the bus');
      return relay(filter);
    };

    const report = await reconcileRuns(p.service, p.workflows, p.clock.now());

    p.service.relayPending = relay;
    expect(report.relayFailure).toBe('EventBridge refuses the bus');
    expect(report.restarted).toEqual(['api_beta_r1-2']);
  });

  it('reports a rollback whose executions keep dying for an operator', async () => {
    const p = await deployingAtBeta();
    p.clock.advance(3600);
    for (const attempt of [1, 2, 3, 4]) {
      p.workflows.end(`api_beta_r1-${attempt}`);
      await reconcileRuns(p.service, p.workflows, p.clock.now());
    }

    p.workflows.end('api_beta_r1-4');
    const report = await reconcileRuns(p.service, p.workflows, p.clock.now());

    expect(report.stuck).toEqual(['api_beta_r1-4']);
  });
});
