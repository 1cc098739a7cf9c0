import { type PipelineDefinition, TerminalError } from '../core/index.js';
import type { LocalAlarms } from './alarms.js';
import { LOCAL_METRICS, TARGET_DIMENSION } from './metric-store.js';

/**
 * The local counterpart of the alarms the CDK app creates (infra/service-alarms.ts): what
 * a pipeline's targets read by name, made from the canary's metrics so that the same
 * composite-alarm expressions decide locally what they decide in the cloud.
 */

export interface LocalAlarmOptions {
  /** The fault rate (faults / requests, 0.05 = 5%) above which a period breaches. @default 0.05 */
  readonly faultRateThreshold?: number;
  /** @default 60 */
  readonly periodSeconds?: number;
  /** @default 3 */
  readonly evaluationPeriods?: number;
  /** @default 2 - two bad minutes of three, so one unlucky request does not roll back */
  readonly datapointsToAlarm?: number;
  /** @default LOCAL_METRICS.requests ('RequestCount') */
  readonly requestMetric?: string;
  /** @default LOCAL_METRICS.faults ('Fault') */
  readonly faultMetric?: string;
}

/** One alarm {@link defineLocalAlarms} defined. */
export interface DefinedLocalAlarm {
  readonly name: string;
  /**
   * `fault-rate`: a metric alarm on one target's faults / requests; `aggregate`: a target's
   * `alarms.aggregate`; `rollback`: a target's `alarms.rollback` other than its aggregate
   * (the one-box composite for a one-box); `signal`: a stage's blocking or an
   * organisation-wide alarm, which only an operator raises.
   */
  readonly kind: 'fault-rate' | 'aggregate' | 'rollback' | 'signal';
  /** The targets that read it (for `fault-rate`, the one it watches), as `<pipeline>/<target id>`. */
  readonly readers: readonly string[];
}

/** The metric a signal alarm watches, with dimension `alarm` = its name. */
export const SIGNAL_METRIC = 'AlarmSignal';

/** The name of the fault-rate alarm of one target. */
export function faultRateAlarmName(targetId: string): string {
  return `${targetId}-fault-rate`;
}

/**
 * Defines every alarm that the pipelines' targets read (see `alarmsToCheck`), so none is
 * MISSING:
 * - per target, `<target id>-fault-rate`: faults / requests of its boxes (dimension
 *   `target`) above 5% in 2 of the last 3 one-minute periods; no traffic is not breaching
 *   (the bake's minimum data points speak for silence);
 * - per aggregate name, `ALARM("<t1>-fault-rate") OR ALARM("<t2>-fault-rate") …` over the
 *   targets of fleet stages that read it: a fault on a one-box must not roll back every
 *   deployment of the Region, as in the cloud where the one-box's share barely moves it.
 *   (An aggregate only one-box targets read covers their fault rates instead.)
 * - per rollback name other than the aggregate, `ALARM("<aggregate>") OR
 *   ALARM("<target>-fault-rate") …`: the one-box composite;
 * - blocking and organisation-wide alarms as signals: OK, on a metric nothing publishes
 *   and with missing data ignored, so `alarms.setState(name, 'ALARM', reason)` holds until
 *   set back (a data point of `AlarmSignal` with `{ alarm: name }` ≥ 1 raises it too).
 *
 * Call it once with every pipeline: a later call replaces the composites it names.
 *
 * @example
 * defineLocalAlarms([definition], alarms);
 * // [{ name: 'beta-t1-fault-rate', kind: 'fault-rate', readers: ['api/beta-t1'] }, …,
 * //  { name: 'team-aggregate-euw1', kind: 'aggregate', readers: ['api/beta-t1', …] }, …]
 * // team-aggregate-euw1's rule: ALARM("beta-t1-fault-rate") OR ALARM("gamma-t1-fault-rate") OR …
 */
export function defineLocalAlarms(
  definitions: PipelineDefinition | readonly PipelineDefinition[],
  alarms: LocalAlarms,
  options: LocalAlarmOptions = {},
): DefinedLocalAlarm[] {
  const pipelines = Array.isArray(definitions) ? definitions : [definitions as PipelineDefinition];
  const group = () => new Map<string, { readers: string[]; children: Set<string> }>();
  const faultRates = group();
  const aggregates = group();
  const oneBoxOnly = group();
  const rollbacks = group();
  const signals = group();
  const targetOf = new Map<string, string>();
  const add = (
    into: ReturnType<typeof group>,
    name: string,
    reader: string,
    children: string[],
  ) => {
    const entry = into.get(name) ?? { readers: [], children: new Set<string>() };
    if (!entry.readers.includes(reader)) entry.readers.push(reader);
    for (const child of children) entry.children.add(child);
    into.set(name, entry);
  };
  for (const pipeline of pipelines) {
    for (const stage of pipeline.stages) {
      for (const target of stage.targets) {
        const reader = `${pipeline.name}/${target.id}`;
        const faultRate = faultRateAlarmName(target.id);
        const { aggregate, rollback } = target.alarms;
        add(faultRates, faultRate, reader, []);
        targetOf.set(faultRate, target.id);
        add(stage.oneBox ? oneBoxOnly : aggregates, aggregate, reader, [faultRate]);
        if (rollback !== aggregate) add(rollbacks, rollback, reader, [aggregate, faultRate]);
        const named = [...stage.blockingAlarms];
        if (stage.phase === 'production') named.push(...pipeline.organisationAlarms);
        for (const name of named) add(signals, name, reader, []);
      }
    }
  }
  for (const [name, entry] of oneBoxOnly) {
    const fleet = aggregates.get(name);
    if (fleet === undefined) aggregates.set(name, entry);
    else fleet.readers.push(...entry.readers.filter((reader) => !fleet.readers.includes(reader)));
  }
  refuseClashes(faultRates, aggregates, rollbacks);

  const defined: DefinedLocalAlarm[] = [];
  const ratio = (metric: string, target: string) => ({
    metric,
    dimensions: { [TARGET_DIMENSION]: target },
  });
  for (const [name, { readers }] of faultRates) {
    const target = targetOf.get(name) as string;
    alarms.defineMetricAlarm({
      name,
      ratio: {
        numerator: ratio(options.faultMetric ?? LOCAL_METRICS.faults, target),
        denominator: ratio(options.requestMetric ?? LOCAL_METRICS.requests, target),
      },
      periodSeconds: options.periodSeconds ?? 60,
      evaluationPeriods: options.evaluationPeriods ?? 3,
      datapointsToAlarm: options.datapointsToAlarm ?? 2,
      threshold: options.faultRateThreshold ?? 0.05,
      comparison: 'GreaterThanThreshold',
      treatMissingData: 'notBreaching',
    });
    defined.push({ name, kind: 'fault-rate', readers });
  }
  for (const [kind, composites] of [
    ['aggregate', aggregates],
    ['rollback', rollbacks],
  ] as const) {
    for (const [name, { readers, children }] of composites) {
      alarms.defineCompositeAlarm({ name, rule: anyOf([...children]) });
      defined.push({ name, kind, readers });
    }
  }
  for (const [name, { readers }] of signals) {
    if (defined.some((alarm) => alarm.name === name)) continue;
    alarms.defineMetricAlarm({
      name,
      metric: SIGNAL_METRIC,
      dimensions: { alarm: name },
      statistic: 'Maximum',
      periodSeconds: 60,
      evaluationPeriods: 1,
      threshold: 1,
      comparison: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'ignore',
    });
    alarms.setState(name, 'OK', 'Defined locally: in ALARM only when an operator raises it');
    defined.push({ name, kind: 'signal', readers });
  }
  return defined;
}

/** `ALARM("a") OR ALARM("b")`, as the CDK's `AlarmRule.anyOf` of `fromAlarm(…, ALARM)` reads. */
function anyOf(names: readonly string[]): string {
  return names.map((name) => `ALARM("${name.replace(/[\\"]/g, '\\$&')}")`).join(' OR ');
}

/** A name read in two roles would make one alarm two things, or a composite of itself. */
function refuseClashes(
  ...groups: readonly Map<string, { readonly readers: readonly string[] }>[]
): void {
  const roles = ['a fault-rate alarm', 'an aggregate alarm', 'a rollback alarm'];
  const seen = new Map<string, { role: string; readers: readonly string[] }>();
  groups.forEach((group, i) => {
    for (const [name, { readers }] of group) {
      const earlier = seen.get(name);
      if (earlier !== undefined) {
        throw new TerminalError(
          `Alarm ${JSON.stringify(name)} is read as ${earlier.role} (by ${earlier.readers.join(', ')}) and as ${roles[i]} (by ${readers.join(', ')}); give each role its own name in the pipeline definition's target alarms.`,
        );
      }
      seen.set(name, { role: roles[i] as string, readers });
    }
  });
}
