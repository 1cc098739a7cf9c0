/**
 * What each target account and Region of the sample pipelines needs: the deploy role the
 * control plane assumes, the rule forwarding deployment and alarm events, and the alarms
 * the targets read, the team's aggregate composite (the service's and the canary's
 * high-severity alarms plus anomaly bands on its request count, latency and faults) and
 * the one-box composite. One stack per account and Region.
 */
import { type App, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { PipelineDefinition } from '../core/index.js';
import { DeployRoleStack } from '../infra/deploy-role-stack.js';
import {
  expectedAlarms,
  OneBoxAlarm,
  requirePipelineAlarms,
  TeamAggregateAlarm,
} from '../infra/service-alarms.js';

export interface SampleTargetStacksProps {
  readonly pipelines: readonly PipelineDefinition[];
  readonly controlPlaneAccount: string;
  readonly controlPlaneRegion: string;
  /** @default 'ReleaseCaptain' */
  readonly controlPlaneStackName?: string;
}

/** The service's own metrics (Embedded Metric Format, namespace `api`), one-minute periods. */
const apiMetric = (metricName: string, statistic: string, dimensionsMap: Record<string, string>) =>
  new cloudwatch.Metric({
    namespace: 'api',
    metricName,
    statistic,
    dimensionsMap,
    period: Duration.minutes(1),
  });

export function sampleTargetStacks(app: App, props: SampleTargetStacksProps): DeployRoleStack[] {
  const places = new Map<string, { account: string; region: string }>();
  for (const target of props.pipelines.flatMap((p) => p.stages.flatMap((s) => s.targets))) {
    if (target.account !== 'local') {
      places.set(`${target.account}-${target.region}`, {
        account: target.account,
        region: target.region,
      });
    }
  }
  return [...places.entries()].map(([id, env]) => {
    const stack = new DeployRoleStack(app, `ReleaseCaptainTargets-${id}`, {
      env,
      controlPlaneAccount: props.controlPlaneAccount,
      controlPlaneRegion: props.controlPlaneRegion,
      ...(props.controlPlaneStackName === undefined
        ? {}
        : { controlPlaneStackName: props.controlPlaneStackName }),
      pipelines: props.pipelines,
      description: `Release Captain in ${env.account}/${env.region}: deploy role, event forwarding, alarms`,
    });
    const wanted = expectedAlarms(props.pipelines, env.account, env.region);
    const aggregates = new Map<string, TeamAggregateAlarm>();
    for (const { name } of wanted.filter((a) => a.kind === 'aggregate')) {
      aggregates.set(
        name,
        new TeamAggregateAlarm(stack, `Aggregate-${name}`, {
          alarmName: name,
          serviceAlarms: [
            cloudwatch.Alarm.fromAlarmName(stack, `ApiHighSeverity-${name}`, 'api-high-severity'),
          ],
          canaryAlarm: cloudwatch.Alarm.fromAlarmName(stack, `Canary-${name}`, 'api-canary'),
          requests: apiMetric('RequestCount', 'Sum', { Service: 'api' }),
          latency: apiMetric('Latency', 'p99', { Service: 'api' }),
          faults: apiMetric('Fault', 'Sum', { Service: 'api' }),
        }),
      );
    }
    const [aggregate] = aggregates.values();
    for (const { name } of wanted.filter((a) => a.kind === 'one-box')) {
      if (aggregate === undefined) break;
      new OneBoxAlarm(stack, `OneBox-${name}`, {
        alarmName: name,
        aggregate: aggregate.alarm,
        alarms: [
          cloudwatch.Alarm.fromAlarmName(
            stack,
            `OneBoxHighSeverity-${name}`,
            'api-onebox-high-severity',
          ),
        ],
        faults: apiMetric('Fault', 'Sum', { Service: 'api-onebox' }),
      });
    }
    requirePipelineAlarms(stack, props.pipelines);
    return stack;
  });
}
