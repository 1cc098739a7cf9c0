import {
  alarmsToCheck,
  createRelease,
  FakeAlarmMonitor,
  FakeDeployer,
  FakeMetricSource,
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemoryWorkflowStarter,
  ManualClock,
  type PipelineDefinition,
  PromotionService,
  RecordingEventPublisher,
  type Release,
  Topology,
} from '../../core/index.js';
import { release, smallDefinition, T0 } from './fixtures.js';

/** The stores a pipeline keeps; two worlds over the same stores see one pipeline (a definition change). */
export function driverStores() {
  return {
    promotions: new InMemoryPromotionStore(),
    releases: new InMemoryReleaseStore(),
    deployments: new InMemoryDeploymentLog(),
    audit: new InMemoryAuditLog(),
    events: new RecordingEventPublisher(),
    workflows: new InMemoryWorkflowStarter(),
    clock: new ManualClock(T0),
  };
}

/**
 * The real stage driver over in-memory ports and fakes: every alarm the definition names
 * is OK, deployments finish when the test says so, data points are added by the test.
 */
export function driverWorld(
  definition: PipelineDefinition = smallDefinition(),
  stores = driverStores(),
) {
  const topology = new Topology(definition);
  const { clock, releases, events, workflows } = stores;
  const service = new PromotionService(topology, stores);
  const alarms = new FakeAlarmMonitor();
  for (const s of topology.definition.stages)
    for (const t of s.targets)
      for (const name of alarmsToCheck(topology.definition, s, t)) alarms.set(name, 'OK');
  const deployer = new FakeDeployer();
  const metrics = new FakeMetricSource();
  const ports = { service, releases, deployer, alarms, metrics, clock };
  return {
    ports,
    stores,
    service,
    clock,
    deployer,
    alarms,
    metrics,
    events,
    workflows,
    /** Stores release `n` and records it, as the release recorder does. */
    async create(n: number, overrides: Partial<Release> = {}) {
      const created = release(n, overrides);
      await releases.createRelease(created);
      await service.apply(createRelease, { release: created });
    },
    async stage(name: string) {
      return (await service.state()).stages[name];
    },
    /** The clock's time `seconds` from now, as an ISO string. */
    at(seconds: number) {
      return new Date(clock.now().getTime() + seconds * 1000).toISOString();
    },
  };
}

export type DriverWorld = ReturnType<typeof driverWorld>;
