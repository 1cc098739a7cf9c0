import type { EventDetail, EventType, PipelineEvent, ReleaseProgress } from '../core/index.js';
import type { BusEvent } from './event-bus.js';
import { LocalMetricSource } from './metric-store.js';
import type { LocalRuntime } from './runtime.js';
import type { ViewSnapshot } from './view.js';

/**
 * The Release Captain event a bus event carries (the EventBridge shape the publisher
 * wrote: `detail-type` is the type, `detail` the detail plus its `eventId`), or `null`
 * for anyone else's event.
 */
export function pipelineEventOf(event: BusEvent): PipelineEvent | null {
  if (event.source !== 'release-captain') return null;
  const { eventId, ...detail } = event.detail as unknown as { eventId: string } & EventDetail;
  return { id: eventId, type: event['detail-type'] as EventType, at: event.time, detail };
}

/**
 * What the live view shows of one pipeline now: its state, the data points each baking
 * stage has counted, the fleets' deployments and versions, and every release's progress.
 */
export async function viewSnapshot(
  runtime: LocalRuntime,
  pipeline: string,
  events: readonly PipelineEvent[],
): Promise<ViewSnapshot> {
  const service = runtime.services.get(pipeline);
  if (service === undefined) throw new Error(`No pipeline ${pipeline} in the runtime.`);
  const now = runtime.clock.now();
  const state = await service.state();
  const metrics = new LocalMetricSource(runtime.metrics);
  const dataPoints: Record<string, Readonly<Record<string, number>>> = {};
  for (const stage of service.topology.definition.stages) {
    const bakeStartedAt = state.stages[stage.name]?.run?.bakeStartedAt;
    if (bakeStartedAt === null || bakeStartedAt === undefined) continue;
    dataPoints[stage.name] = await metrics.countDataPoints({
      metric: stage.bake.dataPointMetric,
      targets: stage.targets,
      from: new Date(bakeStartedAt),
      to: now,
    });
  }
  const progress: ReleaseProgress[] = [];
  for (let release = 1; release <= (state.meta.latestRelease ?? 0); release++) {
    progress.push(await runtime.releases.getProgress(pipeline, release));
  }
  return {
    now,
    speed: runtime.speed,
    topology: service.topology,
    state,
    dataPoints,
    deployments: runtime.deployer.deployments(),
    events,
    fleets: Object.fromEntries(runtime.fleets.list().map((f) => [f.target, f.versionCounts()])),
    progress,
  };
}
