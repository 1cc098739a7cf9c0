import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandOutput,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import {
  type DataPointCounts,
  type MetricSource,
  RetryableError,
  type TargetDefinition,
  TerminalError,
} from '../../core/index.js';
import { awsError } from './errors.js';

/** The namespace Release Captain publishes a target's data points (e.g. requests) under. */
export const METRIC_NAMESPACE = 'ReleaseCaptain';
/** The dimension that names the target, whose value is the target's id. */
export const TARGET_DIMENSION = 'Target';

/** `GetMetricData` takes at most 500 queries per call. */
const QUERIES_PER_CALL = 500;
/** The most data points one `GetMetricData` call returns across all of its queries. */
const MAX_DATA_POINTS = 100_800;

/** Where one metric of one target lives in CloudWatch. */
export interface MetricLocation {
  readonly namespace: string;
  readonly dimensions: readonly { readonly name: string; readonly value: string }[];
}

/**
 * The convention the CDK app and the local runtime publish under: namespace
 * `ReleaseCaptain`, the metric's name as given, and one dimension `Target` = the target's id.
 *
 * @example
 * defaultMetricLocation('Requests', target); // { namespace: 'ReleaseCaptain', dimensions: [{ name: 'Target', value: 'prod-use1-onebox' }] }
 */
export function defaultMetricLocation(_metric: string, target: TargetDefinition): MetricLocation {
  return {
    namespace: METRIC_NAMESPACE,
    dimensions: [{ name: TARGET_DIMENSION, value: target.id }],
  };
}

export interface CloudWatchMetricSourceProps {
  /** The client of the account and region where the targets' metrics are published. */
  readonly client: CloudWatchClient;
  /**
   * Where a metric of a target lives, for services that publish under their own namespace
   * and dimensions (e.g. `AWS/ApplicationELB` `RequestCount` by `TargetGroup`).
   * @default - {@link defaultMetricLocation}: namespace `ReleaseCaptain`, dimension `Target` = target id
   */
  readonly resolveMetric?: (metric: string, target: TargetDefinition) => MetricLocation;
  /** @default - `() => new Date()` */
  readonly now?: () => Date;
}

/**
 * The {@link MetricSource} backed by CloudWatch `GetMetricData`: the `Sum` of a metric for
 * each target, e.g. the requests each of a stage's targets served during its bake. Targets
 * whose metric is the same one (a resolver that maps several to one service-wide metric)
 * are queried once and each gets its sum.
 *
 * By default it reads the metric named by the bake from namespace `ReleaseCaptain` with the
 * single dimension `Target` set to the target's id; the CDK app and the local runtime
 * publish each service's request count there. Pass `resolveMetric` to read elsewhere.
 *
 * The window is narrowed to whole periods (see {@link metricWindow}), so it never counts a
 * data point from before `from` or after `to`: a bake may wait a minute longer, but it
 * never approves on requests the new release did not serve.
 *
 * @example
 * const source = new CloudWatchMetricSource({ client: new CloudWatchClient({}) });
 * await source.countDataPoints({ metric: 'Requests', targets, from: bakeStart, to: new Date() });
 * // { 'prod-iad-1': 1234, 'prod-iad-2': 0 }: the requests each target served since the bake started
 */
export class CloudWatchMetricSource implements MetricSource {
  readonly #client: CloudWatchClient;
  readonly #resolve: (metric: string, target: TargetDefinition) => MetricLocation;
  readonly #now: () => Date;

  constructor(props: CloudWatchMetricSourceProps) {
    this.#client = props.client;
    this.#resolve = props.resolveMetric ?? defaultMetricLocation;
    this.#now = props.now ?? (() => new Date());
  }

  async countDataPoints(query: {
    readonly metric: string;
    readonly targets: readonly TargetDefinition[];
    readonly from: Date;
    readonly to: Date;
  }): Promise<DataPointCounts> {
    if (Number.isNaN(query.from.getTime()) || Number.isNaN(query.to.getTime())) {
      throw new TerminalError(
        `countDataPoints needs a valid window, got from ${describeDate(query.from)} to ${describeDate(query.to)}. Pass two valid Dates.`,
      );
    }
    const none = Object.fromEntries(query.targets.map((target) => [target.id, 0]));
    if (query.targets.length === 0 || query.from >= query.to) return none;
    const located = locate(query.metric, query.targets, this.#resolve);
    const window = metricWindow({
      from: query.from,
      to: query.to,
      now: this.#now(),
      queriesPerCall: Math.min(located.length, QUERIES_PER_CALL),
    });
    if (window === null) return none;

    const counts: Record<string, number> = none;
    for (let i = 0; i < located.length; i += QUERIES_PER_CALL) {
      const batch = located.slice(i, i + QUERIES_PER_CALL).map((entry, j) => ({
        id: `t${i + j}`,
        ...entry,
      }));
      const sums = await this.#sumBatch(query.metric, batch, window);
      for (const { id, targets } of batch) {
        for (const target of targets) counts[target] = sums.get(id) ?? 0;
      }
    }
    return counts;
  }

  async #sumBatch(
    metric: string,
    batch: readonly { id: string; target: TargetDefinition; location: MetricLocation }[],
    window: MetricWindow,
  ): Promise<Map<string, number>> {
    const queries: MetricDataQuery[] = batch.map(({ id, target, location }) => ({
      Id: id,
      Label: target.id,
      MetricStat: {
        Metric: {
          Namespace: location.namespace,
          MetricName: metric,
          Dimensions: location.dimensions.map(({ name, value }) => ({ Name: name, Value: value })),
        },
        Period: window.periodSeconds,
        Stat: 'Sum',
      },
    }));
    const targetOf = new Map(batch.map(({ id, target }) => [id, target.id]));
    const sums = new Map<string, number>();
    let nextToken: string | undefined;
    do {
      const input = {
        MetricDataQueries: queries,
        StartTime: window.start,
        EndTime: window.end,
        NextToken: nextToken,
      };
      let page: GetMetricDataCommandOutput;
      try {
        page = await this.#client.send(new GetMetricDataCommand(input));
      } catch (error) {
        throw awsError(error, `GetMetricData for ${metric} of ${batch.length} targets`);
      }
      for (const result of page.MetricDataResults ?? []) {
        failIfUnreadable(
          result,
          metric,
          targetOf.get(result.Id ?? '') ?? `(query ${result.Id ?? 'without an id'})`,
        );
        const id = result.Id ?? '';
        for (const value of result.Values ?? []) sums.set(id, (sums.get(id) ?? 0) + value);
      }
      // PartialData only says more pages follow; the token is how to get them.
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    return sums;
  }
}

/** The time range and period of one count, in whole periods. */
export interface MetricWindow {
  readonly start: Date;
  readonly end: Date;
  readonly periodSeconds: number;
}

/**
 * The part of `[from, min(to, now))` that whole CloudWatch periods cover, and the period.
 *
 * CloudWatch keeps 1-minute data for 15 days, 5-minute data for 63 days and hourly data
 * after that, so the period is a multiple of the resolution still kept at `from`. The
 * window is narrowed to that resolution's clock boundaries (CloudWatch would round the
 * start down, counting data from before `from`), and the period is the smallest multiple
 * of the resolution that divides the window, so the last period ends at the window's end,
 * and fits every query's data points into one page of 100,800. `null` when no whole
 * period fits.
 *
 * @example
 * metricWindow({ from: new Date('2026-11-22T10:00:30Z'), to: new Date('2026-11-23T12:00:00Z'),
 *                now: new Date('2026-11-23T10:00:00Z'), queriesPerCall: 500 });
 * // 1-minute data, [10:01 on the 22nd, 10:00 on the 23rd) = 1439 minutes; 100,800 / 500 = 201
 * // points per query need at least 8-minute periods, and 1439 (a prime) divides only by itself:
 * // { start: 2026-11-22T10:01:00Z, end: 2026-11-23T10:00:00Z, periodSeconds: 86340 }
 */
export function metricWindow(input: {
  readonly from: Date;
  readonly to: Date;
  readonly now: Date;
  readonly queriesPerCall: number;
}): MetricWindow | null {
  const now = input.now.getTime();
  const from = input.from.getTime();
  const age = now - from;
  const resolution = age < days(15) ? 60 : age < days(63) ? 300 : 3600;
  const step = resolution * 1000;
  const start = Math.ceil(from / step) * step;
  const end = Math.floor(Math.min(input.to.getTime(), now) / step) * step;
  // Written so that an invalid date (NaN) also gives null rather than a period search that never ends.
  if (!(end > start)) return null;

  const steps = (end - start) / step;
  const pointsPerQuery = Math.floor(MAX_DATA_POINTS / Math.max(1, input.queriesPerCall));
  let multiple = Math.ceil(steps / pointsPerQuery);
  while (steps % multiple !== 0) multiple += 1;
  return { start: new Date(start), end: new Date(end), periodSeconds: resolution * multiple };
}

function locate(
  metric: string,
  targets: readonly TargetDefinition[],
  resolve: (metric: string, target: TargetDefinition) => MetricLocation,
): { target: TargetDefinition; location: MetricLocation; targets: string[] }[] {
  // Targets that resolve to the same metric (or one target listed twice) share one query.
  const byLocation = new Map<
    string,
    { target: TargetDefinition; location: MetricLocation; targets: string[] }
  >();
  for (const target of targets) {
    const location = resolve(metric, target);
    const key = JSON.stringify([
      location.namespace,
      [...location.dimensions].sort((a, b) => a.name.localeCompare(b.name)),
    ]);
    const found = byLocation.get(key);
    if (found === undefined) byLocation.set(key, { target, location, targets: [target.id] });
    else if (!found.targets.includes(target.id)) found.targets.push(target.id);
  }
  return [...byLocation.values()];
}

function failIfUnreadable(result: MetricDataResult, metric: string, target: string): void {
  const detail = (result.Messages ?? []).map((message) => message.Value).join('; ');
  if (result.StatusCode === 'Forbidden') {
    throw new TerminalError(
      `GetMetricData was refused metric ${metric} of target ${target} (status Forbidden${detail ? `: ${detail}` : ''}). Check that the role may call cloudwatch:GetMetricData on that metric.`,
    );
  }
  if (result.StatusCode === 'InternalError') {
    throw new RetryableError(
      `GetMetricData failed inside CloudWatch for metric ${metric} of target ${target} (status InternalError${detail ? `: ${detail}` : ''}); asking again later may succeed.`,
    );
  }
}

function days(count: number): number {
  return count * 86_400_000;
}

function describeDate(date: Date): string {
  return Number.isNaN(date.getTime()) ? 'an invalid date' : date.toISOString();
}
