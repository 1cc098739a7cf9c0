import {
  type AlarmMonitor,
  type AlarmStatus,
  type DataPointCounts,
  type MetricSource,
  type TargetDefinition,
  TerminalError,
  type Topology,
} from '../../core/index.js';

/** Where an alarm or metric lives: a target's account and Region, or the control plane's own. */
export type Place = { readonly account: string; readonly region: string } | 'home';

const placeKey = (place: Place) => (place === 'home' ? 'home' : `${place.account}/${place.region}`);

/**
 * An {@link AlarmMonitor} for a whole pipeline whose targets live in many accounts and
 * Regions. CloudWatch alarms are per account and Region, so each alarm name is looked up
 * where the definition places it: a target's rollback and aggregate alarms in the target's
 * account and Region; organisation-wide and stage blocking alarms in the control plane's
 * own (`home`). The core keeps asking by name.
 *
 * @example
 * const alarms = new RegionalAlarmMonitor(topology, (place) =>
 *   new CloudWatchAlarmMonitor({ client: place === 'home' ? homeClient : clients.cloudWatch(targetIn(place)) }));
 * await alarms.describeAlarms(['team-aggregate-use1', 'team-aggregate-euw1']); // two Regions, two calls
 */
export class RegionalAlarmMonitor implements AlarmMonitor {
  readonly #places = new Map<string, Place>();
  readonly #monitorFor: (place: Place) => AlarmMonitor;
  readonly #monitors = new Map<string, AlarmMonitor>();

  constructor(topology: Topology, monitorFor: (place: Place) => AlarmMonitor) {
    this.#monitorFor = monitorFor;
    for (const stage of topology.definition.stages) {
      for (const target of stage.targets) {
        for (const name of [target.alarms.rollback, target.alarms.aggregate]) {
          const place = { account: target.account, region: target.region };
          const known = this.#places.get(name);
          if (known !== undefined && placeKey(known) !== placeKey(place)) {
            throw new TerminalError(
              `Alarm ${name} is named by targets in ${placeKey(known)} and in ${placeKey(place)}; CloudWatch alarm names are per account and Region, so give each Region's alarm its own name (e.g. ${name}-${target.region}).`,
            );
          }
          this.#places.set(name, place);
        }
      }
    }
  }

  async describeAlarms(
    names: readonly string[],
    options: { readonly since?: Date } = {},
  ): Promise<Record<string, AlarmStatus>> {
    const groups = new Map<string, { place: Place; names: string[] }>();
    for (const name of new Set(names)) {
      const place = this.#places.get(name) ?? 'home';
      const key = placeKey(place);
      const group = groups.get(key) ?? { place, names: [] };
      group.names.push(name);
      groups.set(key, group);
    }
    const answers = await Promise.all(
      [...groups].map(([key, group]) =>
        this.#monitor(key, group.place).describeAlarms(group.names, options),
      ),
    );
    return Object.assign({}, ...answers);
  }

  #monitor(key: string, place: Place): AlarmMonitor {
    let monitor = this.#monitors.get(key);
    if (monitor === undefined) {
      monitor = this.#monitorFor(place);
      this.#monitors.set(key, monitor);
    }
    return monitor;
  }
}

/**
 * A {@link MetricSource} that counts each target's data points in the target's own
 * account and Region.
 *
 * @example
 * const metrics = new RegionalMetricSource((place) => new CloudWatchMetricSource({ client: … }));
 * await metrics.countDataPoints({ metric: 'RequestCount', targets: wave2, from, to }); // one query per Region
 */
export class RegionalMetricSource implements MetricSource {
  readonly #sourceFor: (place: Place) => MetricSource;
  readonly #sources = new Map<string, MetricSource>();

  constructor(sourceFor: (place: Place) => MetricSource) {
    this.#sourceFor = sourceFor;
  }

  async countDataPoints(query: {
    readonly metric: string;
    readonly targets: readonly TargetDefinition[];
    readonly from: Date;
    readonly to: Date;
  }): Promise<DataPointCounts> {
    const groups = new Map<string, { place: Place; targets: TargetDefinition[] }>();
    for (const target of query.targets) {
      const place = { account: target.account, region: target.region };
      const key = placeKey(place);
      const group = groups.get(key) ?? { place, targets: [] };
      group.targets.push(target);
      groups.set(key, group);
    }
    const counts = await Promise.all(
      [...groups].map(([key, group]) => {
        let source = this.#sources.get(key);
        if (source === undefined) {
          source = this.#sourceFor(group.place);
          this.#sources.set(key, source);
        }
        return source.countDataPoints({ ...query, targets: group.targets });
      }),
    );
    return Object.assign({}, ...counts) as DataPointCounts;
  }
}
