import { Arn, ArnFormat, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { PipelineDefinition } from '../core/index.js';

/**
 * Anomaly-detection alarms on a service's standard metrics: they catch what nobody wrote
 * a threshold for. Each given metric gets an alarm against a band CloudWatch learns from
 * the metric's history (no `AWS::CloudWatch::AnomalyDetector` is needed: the first
 * evaluation creates the model). Until the model is trained the alarm reports
 * INSUFFICIENT_DATA, which a composite alarm treats as not in ALARM. Give the metrics a
 * one-minute period: a `Metric` defaults to five, which makes "3 of 5 periods" a quarter
 * of an hour.
 */
export interface AnomalyAlarmOptions {
  /**
   * Request count (a Sum): alarms when it falls below its band, toward zero.
   * @default - no request-count anomaly alarm
   */
  readonly requests?: cloudwatch.IMetric;
  /**
   * Latency (e.g. p99): alarms when it rises above its band.
   * @default - no latency anomaly alarm
   */
  readonly latency?: cloudwatch.IMetric;
  /**
   * Fault count or rate: alarms when it rises above its band.
   * @default - no fault anomaly alarm
   */
  readonly faults?: cloudwatch.IMetric;
  /**
   * Width of the expected band in standard deviations. CloudWatch's own default is 2;
   * 3 gives up a little detection speed for fewer rollbacks on noise.
   * @default 3
   */
  readonly bandWidth?: number;
  /**
   * Periods (of each metric's own period) an alarm looks back over.
   * @default 5
   */
  readonly evaluationPeriods?: number;
  /**
   * Periods out of `evaluationPeriods` that must be outside the band for ALARM: with
   * one-minute metrics, 3 anomalous minutes out of 5, so one spike does not roll back.
   * @default 3
   */
  readonly datapointsToAlarm?: number;
  /**
   * How a period without a request count is judged. Many services emit no request count
   * at all when nothing arrives, so silence is the clearest "falling toward zero"; choose
   * `NOT_BREACHING` for a service that goes silent in ordinary hours (or a single-task
   * one-box that stops serving while it is replaced). Latency and faults always treat
   * missing data as not breaching: no requests means no latency and no faults, and the
   * request-count alarm speaks for that.
   * @default cloudwatch.TreatMissingData.BREACHING (NOT_BREACHING for a `OneBoxAlarm`)
   */
  readonly missingRequests?: cloudwatch.TreatMissingData;
}

/** The standard metrics, and the direction in which each is anomalous. */
const STANDARD_METRICS = [
  {
    key: 'requests',
    id: 'RequestsAnomaly',
    operator: cloudwatch.ComparisonOperator.LESS_THAN_LOWER_THRESHOLD,
    what: 'the request count falls below its expected band, toward zero',
  },
  {
    key: 'latency',
    id: 'LatencyAnomaly',
    operator: cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
    what: 'latency rises above its expected band',
  },
  {
    key: 'faults',
    id: 'FaultsAnomaly',
    operator: cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
    what: 'faults rise above their expected band',
  },
] as const;

/** The anomaly alarms created, by standard metric. */
export interface AnomalyAlarms {
  readonly requests?: cloudwatch.AnomalyDetectionAlarm;
  readonly latency?: cloudwatch.AnomalyDetectionAlarm;
  readonly faults?: cloudwatch.AnomalyDetectionAlarm;
}

export interface TeamAggregateAlarmProps extends AnomalyAlarmOptions {
  /**
   * The composite alarm's name: exactly what the pipeline's targets in this account and
   * Region name as `alarms.aggregate`, e.g. `team-aggregate-us-east-1`. Give each Region
   * its own name: the control plane finds an alarm by name alone.
   */
  readonly alarmName: string;
  /**
   * Each microservice's high-severity alarm in this account and Region, e.g.
   * `Alarm.fromAlarmName(this, 'Api', 'FrontEndApiService_High_Severity')`.
   * @default - none; then `canaryAlarm` is required
   */
  readonly serviceAlarms?: readonly cloudwatch.IAlarm[];
  /**
   * The alarm of the team's continuous canary tests in this account and Region.
   * @default - no canary alarm; then `serviceAlarms` are required
   */
  readonly canaryAlarm?: cloudwatch.IAlarm;
}

/**
 * A team's high-severity aggregate alarm in one account and Region: a composite alarm in
 * ALARM when any microservice's high-severity alarm, the canary alarm, or an anomaly alarm
 * on the standard metrics is. The control plane reads it by name (`alarms.aggregate`) in
 * the target's account and Region: it blocks starting a deployment, and ALARM during a
 * deployment or bake rolls back every ongoing deployment of the team there. A composite
 * alarm can only reference alarms of its own account and Region, so create this in the
 * target account's stack for that Region (beside the `DeployRoleStack`), not in the
 * control plane's.
 *
 * Organisation-wide alarms (a large-scale event) do not belong here: ALARM here rolls
 * deployments back, while those should only stop new ones from starting. Name them in the
 * pipeline's `organisationAlarms` (every production stage) or a stage's `blockingAlarms`;
 * the control plane reads those in its own account and Region.
 *
 * @example
 * // ALARM("…:FrontEndApiService_High_Severity") OR ALARM("…:Canaries_High_Severity") OR
 * // ALARM("…:team-aggregate-us-east-1-requests-anomaly") OR …
 * const aggregate = new TeamAggregateAlarm(stack, 'ApiAggregate', {
 *   alarmName: 'team-aggregate-us-east-1',
 *   serviceAlarms: [Alarm.fromAlarmName(stack, 'FrontEnd', 'FrontEndApiService_High_Severity')],
 *   canaryAlarm: Alarm.fromAlarmName(stack, 'Canaries', 'Canaries_High_Severity'),
 *   requests: loadBalancer.metrics.requestCount({ period: Duration.minutes(1) }),
 *   latency: loadBalancer.metrics.targetResponseTime({ statistic: 'p99', period: Duration.minutes(1) }),
 * });
 */
export class TeamAggregateAlarm extends Construct {
  /** The composite alarm. */
  readonly alarm: cloudwatch.CompositeAlarm;
  /** The composite alarm's name, as given. */
  readonly alarmName: string;
  /** The anomaly alarms on the given standard metrics, part of the composite. */
  readonly anomalyAlarms: AnomalyAlarms;

  constructor(scope: Construct, id: string, props: TeamAggregateAlarmProps) {
    super(scope, id);
    const owner = `TeamAggregateAlarm "${props.alarmName}"`;
    checkAlarmName(props.alarmName, `${owner}: alarmName`);
    const serviceAlarms = props.serviceAlarms ?? [];
    if (serviceAlarms.length === 0 && props.canaryAlarm === undefined) {
      throw new Error(
        `${owner} has no serviceAlarms and no canaryAlarm; give each microservice's high-severity alarm as serviceAlarms and the canary alarm as canaryAlarm.`,
      );
    }
    this.alarmName = props.alarmName;
    this.anomalyAlarms = createAnomalyAlarms(this, owner, props.alarmName, props);
    this.alarm = anyOf(this, owner, props.alarmName, 'High-severity aggregate', [
      ...serviceAlarms,
      ...(props.canaryAlarm === undefined ? [] : [props.canaryAlarm]),
      ...Object.values(this.anomalyAlarms),
    ]);
  }
}

export interface OneBoxAlarmProps extends AnomalyAlarmOptions {
  /**
   * The composite alarm's name: exactly what the one-box target names as
   * `alarms.rollback`, e.g. `api-onebox-us-east-1`.
   */
  readonly alarmName: string;
  /** The team's aggregate alarm in this account and Region, e.g. `TeamAggregateAlarm.alarm`. */
  readonly aggregate: cloudwatch.IAlarm;
  /**
   * Alarms on metrics served by the one-box alone (fault rate, p50/p90/p99 latency, CPU,
   * memory, disk, errors in logs, failing health checks). The anomaly metrics
   * (`requests`, `latency`, `faults`) must be the one-box's own too.
   * @default - none; then at least one anomaly metric is required
   */
  readonly alarms?: readonly cloudwatch.IAlarm[];
}

/**
 * A one-box's rollback alarm: the team's aggregate alarm OR any alarm on the one-box's
 * own metrics. The one-box serves a small share of the traffic, so a fault it introduces
 * may never move the aggregate; its own metrics catch it before the fleet takes the
 * release. Name it as the one-box target's `alarms.rollback`.
 *
 * @example
 * // ALARM("…:team-aggregate-us-east-1") OR ALARM("…:FrontEndApiService_OneBox_High_Fault_Rate") OR …
 * new OneBoxAlarm(stack, 'ApiOneBox', {
 *   alarmName: 'api-onebox-us-east-1',
 *   aggregate: aggregate.alarm,
 *   alarms: [Alarm.fromAlarmName(stack, 'OneBoxFaults', 'FrontEndApiService_OneBox_High_Fault_Rate')],
 *   latency: oneBoxService.metric('TargetResponseTime', { statistic: 'p99' }),
 * });
 */
export class OneBoxAlarm extends Construct {
  /** The composite alarm. */
  readonly alarm: cloudwatch.CompositeAlarm;
  /** The composite alarm's name, as given. */
  readonly alarmName: string;
  /** The anomaly alarms on the given standard metrics, part of the composite. */
  readonly anomalyAlarms: AnomalyAlarms;

  constructor(scope: Construct, id: string, props: OneBoxAlarmProps) {
    super(scope, id);
    const owner = `OneBoxAlarm "${props.alarmName}"`;
    checkAlarmName(props.alarmName, `${owner}: alarmName`);
    const alarms = props.alarms ?? [];
    if (alarms.length === 0 && STANDARD_METRICS.every(({ key }) => props[key] === undefined)) {
      throw new Error(
        `${owner} has no one-box alarms and no anomaly metrics, so it would only repeat the aggregate; give the one-box's own alarms or metrics, or name the aggregate as the target's rollback alarm.`,
      );
    }
    this.alarmName = props.alarmName;
    // A single-task one-box goes quiet while it is replaced: silence alone must not roll
    // its own deployment back. A dead one-box still shows in its faults and the fleet's alarms.
    this.anomalyAlarms = createAnomalyAlarms(this, owner, props.alarmName, {
      ...props,
      missingRequests: props.missingRequests ?? cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm = anyOf(this, owner, props.alarmName, 'One-box rollback alarm', [
      props.aggregate,
      ...alarms,
      ...Object.values(this.anomalyAlarms),
    ]);
  }
}

/** An alarm the pipelines' targets in one account and Region read by name. */
export interface ExpectedAlarm {
  readonly name: string;
  /** `aggregate`: a target's `alarms.aggregate`; `one-box`: a one-box target's `alarms.rollback`. */
  readonly kind: 'aggregate' | 'one-box';
  /** The targets that read it, as `<pipeline>/<target id>`. */
  readonly readers: readonly string[];
}

/**
 * The composite alarms the pipelines' targets in one account and Region read: every
 * target's aggregate alarm, and each one-box target's rollback alarm when it is not the
 * aggregate. A fleet target's rollback alarm other than the aggregate is not listed: it is
 * the team's own alarm, not one of these constructs.
 *
 * @example
 * // The sample pipeline (examples/sample-pipeline.ts) in us-east-1: three zones, a one-box each.
 * expectedAlarms([new SampleApi().definition()], '123456789012', 'us-east-1');
 * // [{ name: 'team-aggregate-us-east-1', kind: 'aggregate',
 * //    readers: ['api/prod-w2-z1-onebox-us-east-1-use1-az1', 'api/prod-w2-z1-us-east-1-use1-az1', …] },
 * //  { name: 'api-onebox-us-east-1', kind: 'one-box',
 * //    readers: ['api/prod-w2-z1-onebox-us-east-1-use1-az1', …] }]
 */
export function expectedAlarms(
  pipelines: readonly PipelineDefinition[],
  account: string,
  region: string,
): ExpectedAlarm[] {
  const found = new Map<string, { name: string; kind: ExpectedAlarm['kind']; readers: string[] }>();
  const add = (name: string, kind: ExpectedAlarm['kind'], reader: string) => {
    const entry = found.get(`${kind}:${name}`) ?? { name, kind, readers: [] };
    entry.readers.push(reader);
    found.set(`${kind}:${name}`, entry);
  };
  for (const pipeline of pipelines) {
    for (const stage of pipeline.stages) {
      for (const target of stage.targets) {
        if (target.account !== account || target.region !== region) continue;
        const reader = `${pipeline.name}/${target.id}`;
        add(target.alarms.aggregate, 'aggregate', reader);
        if (stage.oneBox && target.alarms.rollback !== target.alarms.aggregate) {
          add(target.alarms.rollback, 'one-box', reader);
        }
      }
    }
  }
  return [...found.values()];
}

/**
 * Fails synthesis when a target of the pipelines in `scope`'s account and Region reads an
 * aggregate or one-box alarm that no `TeamAggregateAlarm` or `OneBoxAlarm` under `scope`
 * creates under that name: a misspelt name would otherwise surface only as a blocker
 * ("alarm … does not exist") at the first deployment.
 *
 * @example
 * requirePipelineAlarms(targetStack, [new SampleApi().definition()]);
 */
export function requirePipelineAlarms(
  scope: Construct,
  pipelines: readonly PipelineDefinition[],
): void {
  scope.node.addValidation({
    validate: () => {
      const { account, region } = Stack.of(scope);
      if (Token.isUnresolved(account) || Token.isUnresolved(region)) {
        return [
          `The pipelines' alarms can only be checked in a stack with a concrete account and Region; give the stack env: { account, region }.`,
        ];
      }
      const made = {
        aggregate: namesUnder(scope, TeamAggregateAlarm),
        'one-box': namesUnder(scope, OneBoxAlarm),
      };
      const fix = { aggregate: 'alarms.aggregate', 'one-box': 'alarms.rollback' };
      const construct = { aggregate: 'TeamAggregateAlarm', 'one-box': 'OneBoxAlarm' };
      return expectedAlarms(pipelines, account, region)
        .filter(({ name, kind }) => !made[kind].includes(name))
        .map(
          ({ name, kind, readers }) =>
            `Targets ${readers.join(', ')} in ${account}/${region} read the ${kind} alarm "${name}", but no ${construct[kind]} under ${scope.node.path} is named so (named: ${made[kind].map((n) => `"${n}"`).join(', ') || 'none'}); name one "${name}" or fix ${fix[kind]} in the pipeline definition.`,
        );
    },
  });
}

/** One alarm per given standard metric, named `<composite name>-<metric>-anomaly`. */
function createAnomalyAlarms(
  scope: Construct,
  owner: string,
  compositeName: string,
  options: AnomalyAlarmOptions,
): AnomalyAlarms {
  const bandWidth = options.bandWidth ?? 3;
  const evaluationPeriods = options.evaluationPeriods ?? 5;
  const datapointsToAlarm = options.datapointsToAlarm ?? 3;
  if (!Number.isFinite(bandWidth) || bandWidth <= 0) {
    throw new Error(
      `${owner}: bandWidth must be a number of standard deviations above 0, got ${bandWidth}; 2 is tight, 3 the default, 4 lenient.`,
    );
  }
  if (!Number.isInteger(evaluationPeriods) || evaluationPeriods < 1) {
    throw new Error(
      `${owner}: evaluationPeriods must be a whole number ≥ 1, got ${evaluationPeriods}.`,
    );
  }
  if (
    !Number.isInteger(datapointsToAlarm) ||
    datapointsToAlarm < 1 ||
    datapointsToAlarm > evaluationPeriods
  ) {
    throw new Error(
      `${owner}: datapointsToAlarm must be a whole number from 1 to evaluationPeriods (${evaluationPeriods}), got ${datapointsToAlarm}.`,
    );
  }
  const alarms: { -readonly [K in keyof AnomalyAlarms]: AnomalyAlarms[K] } = {};
  for (const { key, id, operator, what } of STANDARD_METRICS) {
    const metric = options[key];
    if (metric === undefined) continue;
    const alarmName = `${compositeName}-${key}-anomaly`;
    checkAlarmName(
      alarmName,
      `${owner}: the ${key} anomaly alarm's name (alarmName-${key}-anomaly)`,
    );
    alarms[key] = new cloudwatch.AnomalyDetectionAlarm(scope, id, {
      alarmName,
      alarmDescription: `Part of ${compositeName}: ALARM when ${what} (${bandWidth} standard deviations wide) in ${datapointsToAlarm} of ${evaluationPeriods} periods.`,
      metric,
      stdDevs: bandWidth,
      comparisonOperator: operator,
      evaluationPeriods,
      datapointsToAlarm,
      treatMissingData:
        key === 'requests'
          ? (options.missingRequests ?? cloudwatch.TreatMissingData.BREACHING)
          : cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
  return alarms;
}

/** The composite alarm in ALARM when any child is, after checking each child may be referenced. */
function anyOf(
  scope: Construct,
  owner: string,
  compositeName: string,
  role: string,
  children: readonly cloudwatch.IAlarm[],
): cloudwatch.CompositeAlarm {
  for (const child of children) checkSameAccountAndRegion(scope, owner, child);
  return new cloudwatch.CompositeAlarm(scope, 'Composite', {
    compositeAlarmName: compositeName,
    alarmDescription: `${role}: ALARM when any of its ${children.length} alarms is. Release Captain rolls back on it.`,
    alarmRule: cloudwatch.AlarmRule.anyOf(
      ...children.map((child) =>
        cloudwatch.AlarmRule.fromAlarm(child, cloudwatch.AlarmState.ALARM),
      ),
    ),
  });
}

/** CloudWatch's limits on an alarm name: 1 to 255 characters, no control characters. */
function checkAlarmName(name: string, what: string): void {
  if (Token.isUnresolved(name)) return;
  if (name.length === 0 || name.length > 255 || /\p{Cc}/u.test(name)) {
    throw new Error(
      `${what} must be 1 to 255 characters without control characters, got ${JSON.stringify(name)} (${name.length} characters); shorten or fix alarmName, and the pipeline's name for it with it.`,
    );
  }
}

/** Only an alarm imported by a literal ARN can be checked here; CloudFormation catches the rest. */
function checkSameAccountAndRegion(
  scope: Construct,
  owner: string,
  alarm: cloudwatch.IAlarm,
): void {
  if (Token.isUnresolved(alarm.alarmArn)) return;
  const stack = Stack.of(scope);
  const { account, region } = Arn.split(alarm.alarmArn, ArnFormat.COLON_RESOURCE_NAME);
  const differs = (theirs: string | undefined, ours: string) =>
    theirs !== undefined && !Token.isUnresolved(ours) && theirs !== ours;
  if (differs(account, stack.account) || differs(region, stack.region)) {
    throw new Error(
      `${owner}: alarm ${alarm.alarmArn} is in ${account}/${region}, but a composite alarm can only reference alarms of its own account and Region (${stack.account}/${stack.region}); create this composite in that alarm's stack, or reference an alarm in this one.`,
    );
  }
}

/** The names of the composites of one kind under `scope`. */
function namesUnder(
  scope: Construct,
  kind: typeof TeamAggregateAlarm | typeof OneBoxAlarm,
): string[] {
  return scope.node.findAll().flatMap((c) => (c instanceof kind ? [c.alarmName] : []));
}
