import {
  type Clock,
  type DataPointCounts,
  type MetricSource,
  type TargetDefinition,
  TerminalError,
} from '../core/index.js';

/** The namespace metrics go under when none is given: the one the cloud's metric source reads. */
export const LOCAL_NAMESPACE = 'ReleaseCaptain';
/** The dimension naming the target a data point belongs to; its value is the target's id. */
export const TARGET_DIMENSION = 'target';
/** The optional dimension naming one box of a simulated fleet, e.g. `box: '2'`. */
export const BOX_DIMENSION = 'box';
/** The metrics canary traffic publishes per request; `RequestCount` is the bakes' default. */
export const LOCAL_METRICS = {
  requests: 'RequestCount',
  faults: 'Fault',
  latency: 'Latency',
} as const;

/** CloudWatch's statistics; `pNN` is a percentile such as `p50`, `p99` or `p99.9`. */
export type Statistic = 'Sum' | 'Average' | 'Maximum' | 'Minimum' | 'SampleCount' | `p${number}`;

export interface MetricDatum {
  /** @default LOCAL_NAMESPACE */
  readonly namespace?: string;
  readonly metric: string;
  /** By convention `{ target: <target id> }`, plus `box` for one box of a fleet. */
  readonly dimensions: Readonly<Record<string, string>>;
  readonly value: number;
  /** Kept as given; queries neither filter nor convert by unit. */
  readonly unit?: string;
  readonly at: Date;
}

export interface MetricQuery {
  /** @default LOCAL_NAMESPACE */
  readonly namespace?: string;
  readonly metric: string;
  /**
   * Matches every data point having at least these dimensions, so `{ target: 'beta-t1' }`
   * aggregates all of that target's boxes. (CloudWatch itself matches exact dimension sets.)
   */
  readonly dimensions: Readonly<Record<string, string>>;
  readonly statistic: Statistic;
  /** Inclusive. */
  readonly from: Date;
  /** Exclusive. */
  readonly to: Date;
}

export interface LocalMetricStoreOptions {
  /**
   * How long, in clock time, data points are kept; older ones are dropped and never seen.
   * @default 10800 - three hours, beyond any alarm's look-back
   */
  readonly retentionSeconds?: number;
}

interface Point {
  readonly at: number;
  readonly value: number;
}

interface Series {
  readonly key: string;
  readonly dimensions: Readonly<Record<string, string>>;
  /** Sorted by time. */
  readonly points: Point[];
}

const PERCENTILE = /^p(\d{1,2}(\.\d+)?|100)$/;
const SWEEP_EVERY_MS = 60_000;

/**
 * A CloudWatch-like metric store in memory for the local runtime, which has no CloudWatch
 * to publish to: canary traffic puts data points, alarms and bakes query statistics. Time
 * is the given clock's (accelerated in the demo), and memory is bounded by dropping data
 * points older than the retention window.
 *
 * @example
 * const store = new LocalMetricStore(clock);
 * store.put({ metric: 'Latency', dimensions: { target: 'beta-t1', box: '0' }, value: 12, at: clock.now() });
 * store.statistic({ metric: 'Latency', dimensions: { target: 'beta-t1' }, statistic: 'p99',
 *                   from: minuteAgo, to: clock.now() }); // 12, or null without data
 */
export class LocalMetricStore {
  readonly #clock: Clock;
  readonly #retentionMs: number;
  /** Series by namespace and metric, so a query looks only at its own metric's series. */
  readonly #byMetric = new Map<string, Map<string, Series>>();
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(clock: Clock, options: LocalMetricStoreOptions = {}) {
    const seconds = options.retentionSeconds ?? 3 * 3600;
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new TerminalError(
        `retentionSeconds must be a number of seconds above 0, got ${seconds}; it must cover the longest alarm look-back (period × evaluation periods).`,
      );
    }
    this.#clock = clock;
    this.#retentionMs = seconds * 1000;
  }

  /** Records one data point. One older than the retention window is dropped at once. */
  put(datum: MetricDatum): void {
    const at = datum.at.getTime();
    if (!Number.isFinite(datum.value) || Number.isNaN(at) || datum.metric === '') {
      throw new TerminalError(
        `A data point needs a metric name, a finite value and a valid time, got metric ${JSON.stringify(datum.metric)}, value ${datum.value}, at ${datum.at}.`,
      );
    }
    this.#sweep();
    if (at < this.#cutoff()) return;
    const metricKey = seriesGroup(datum.namespace, datum.metric);
    const group = this.#byMetric.get(metricKey) ?? new Map<string, Series>();
    this.#byMetric.set(metricKey, group);
    const entries = Object.entries(datum.dimensions).sort(([a], [b]) => (a < b ? -1 : 1));
    const key = JSON.stringify(entries);
    let series = group.get(key);
    if (series === undefined) {
      series = { key, dimensions: Object.fromEntries(entries), points: [] };
      group.set(key, series);
    }
    const point = { at, value: datum.value };
    const last = series.points.at(-1);
    if (last === undefined || last.at <= at) series.points.push(point);
    else series.points.splice(upperBound(series.points, at), 0, point);
  }

  /** One statistic over `[from, to)`; `null` when no data point falls there. */
  statistic(query: MetricQuery): number | null {
    checkStatistic(query.statistic);
    return compute(query.statistic, this.#values(query, query.from.getTime(), query.to.getTime()));
  }

  /**
   * The statistic per period, oldest first, for every period whose start lies in
   * `[from, to)`. Periods are aligned to multiples of `periodSeconds` since the epoch, as
   * CloudWatch aligns them; a period without data has the value `null`.
   *
   * @example
   * store.series({ metric: 'Fault', dimensions: { target: 'beta-t1' }, statistic: 'Sum',
   *                periodSeconds: 60, from: new Date('…T10:00:00Z'), to: new Date('…T10:03:00Z') });
   * // [{ start: …T10:00Z, value: 2 }, { start: …T10:01Z, value: null }, { start: …T10:02Z, value: 0 }]
   */
  series(
    query: MetricQuery & { readonly periodSeconds: number },
  ): { start: Date; value: number | null }[] {
    checkStatistic(query.statistic);
    if (!Number.isInteger(query.periodSeconds) || query.periodSeconds <= 0) {
      throw new TerminalError(
        `periodSeconds must be a whole number of seconds above 0, got ${query.periodSeconds}.`,
      );
    }
    const period = query.periodSeconds * 1000;
    const first = Math.floor(query.from.getTime() / period) * period;
    const to = query.to.getTime();
    const buckets: number[][] = [];
    for (let start = first; start < to; start += period) buckets.push([]);
    const end = first + buckets.length * period;
    for (const { at, value } of this.#points(query, first, end)) {
      buckets[Math.floor((at - first) / period)]?.push(value);
    }
    return buckets.map((values, i) => ({
      start: new Date(first + i * period),
      value: compute(query.statistic, values),
    }));
  }

  /** How long data points are kept, in seconds of clock time. */
  get retentionSeconds(): number {
    return this.#retentionMs / 1000;
  }

  /** How many data points are kept: what the retention window bounds. */
  get size(): number {
    this.#sweep(true);
    let count = 0;
    for (const group of this.#byMetric.values()) {
      for (const series of group.values()) count += series.points.length;
    }
    return count;
  }

  #values(query: Omit<MetricQuery, 'statistic'>, from: number, to: number): number[] {
    return [...this.#points(query, from, to)].map((point) => point.value);
  }

  /** Points of matching series in `[from, to)`, never older than the retention window. */
  *#points(query: Omit<MetricQuery, 'statistic'>, from: number, to: number): Generator<Point> {
    this.#sweep();
    const group = this.#byMetric.get(seriesGroup(query.namespace, query.metric));
    if (group === undefined) return;
    const wanted = Object.entries(query.dimensions);
    const start = Math.max(from, this.#cutoff());
    for (const series of group.values()) {
      if (!wanted.every(([name, value]) => series.dimensions[name] === value)) continue;
      const { points } = series;
      for (let i = lowerBound(points, start); i < points.length; i++) {
        const point = points[i] as Point;
        if (point.at >= to) break;
        yield point;
      }
    }
  }

  #cutoff(): number {
    return this.#clock.now().getTime() - this.#retentionMs;
  }

  /** Drops expired points, at most once a minute of clock time unless forced. */
  #sweep(force = false): void {
    const now = this.#clock.now().getTime();
    if (!force && now - this.#sweptAt < SWEEP_EVERY_MS) return;
    this.#sweptAt = now;
    const cutoff = now - this.#retentionMs;
    for (const [metricKey, group] of this.#byMetric) {
      for (const [key, series] of group) {
        const expired = lowerBound(series.points, cutoff);
        if (expired > 0) series.points.splice(0, expired);
        if (series.points.length === 0) group.delete(key);
      }
      if (group.size === 0) this.#byMetric.delete(metricKey);
    }
  }
}

/**
 * The bake's {@link MetricSource} on the local store: for each target, the `Sum` of `metric`
 * over the data points whose `target` dimension is its id, in `[from, to)`. Canary
 * traffic puts one data point per request (value 1) or a count per interval; either way
 * the sum is the number of requests.
 *
 * @example
 * const source = new LocalMetricSource(store);
 * await source.countDataPoints({ metric: 'RequestCount', targets: stage.targets, from: bakeStart, to: clock.now() });
 */
export class LocalMetricSource implements MetricSource {
  readonly #store: LocalMetricStore;
  readonly #namespace: string;

  /** @param namespace @default LOCAL_NAMESPACE */
  constructor(store: LocalMetricStore, namespace = LOCAL_NAMESPACE) {
    this.#store = store;
    this.#namespace = namespace;
  }

  async countDataPoints(query: {
    readonly metric: string;
    readonly targets: readonly TargetDefinition[];
    readonly from: Date;
    readonly to: Date;
  }): Promise<DataPointCounts> {
    const counts: Record<string, number> = {};
    for (const id of new Set(query.targets.map((target) => target.id))) {
      counts[id] =
        this.#store.statistic({
          namespace: this.#namespace,
          metric: query.metric,
          dimensions: { [TARGET_DIMENSION]: id },
          statistic: 'Sum',
          from: query.from,
          to: query.to,
        }) ?? 0;
    }
    return counts;
  }
}

/** Whether `statistic` is one CloudWatch knows; throws naming the valid ones otherwise. */
export function checkStatistic(statistic: string): asserts statistic is Statistic {
  if (['Sum', 'Average', 'Maximum', 'Minimum', 'SampleCount'].includes(statistic)) return;
  if (PERCENTILE.test(statistic)) return;
  throw new TerminalError(
    `Unknown statistic ${JSON.stringify(statistic)}; use Sum, Average, Maximum, Minimum, SampleCount or a percentile from p0 to p100 such as p99 or p99.9.`,
  );
}

/**
 * One statistic of some values; `null` for none. A percentile is the nearest-rank value:
 * the smallest value with at least NN% of the values at or below it.
 *
 * @example
 * compute('p90', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]); // 9
 * compute('p50', [1, 2, 3, 4]); // 2
 */
function compute(statistic: Statistic, values: readonly number[]): number | null {
  if (values.length === 0) return null;
  switch (statistic) {
    case 'SampleCount':
      return values.length;
    case 'Sum':
      return values.reduce((sum, value) => sum + value, 0);
    case 'Average':
      return values.reduce((sum, value) => sum + value, 0) / values.length;
    // A reduce rather than Math.max(...values), which overflows the stack on long arrays.
    case 'Maximum':
      return values.reduce((max, value) => (value > max ? value : max));
    case 'Minimum':
      return values.reduce((min, value) => (value < min ? value : min));
    default: {
      const sorted = [...values].sort((a, b) => a - b);
      const rank = Math.ceil((Number(statistic.slice(1)) / 100) * sorted.length);
      return sorted[Math.max(rank, 1) - 1] as number;
    }
  }
}

function seriesGroup(namespace: string | undefined, metric: string): string {
  return `${namespace ?? LOCAL_NAMESPACE}\u0000${metric}`;
}

/** The index of the first point at or after `at`. */
function lowerBound(points: readonly Point[], at: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((points[mid] as Point).at < at) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The index of the first point after `at`. */
function upperBound(points: readonly Point[], at: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((points[mid] as Point).at <= at) low = mid + 1;
    else high = mid;
  }
  return low;
}
