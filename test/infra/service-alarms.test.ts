import { App, Aspects, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { parsePipelineDefinition } from '../../core/index.js';
import {
  expectedAlarms,
  OneBoxAlarm,
  requirePipelineAlarms,
  TeamAggregateAlarm,
  type TeamAggregateAlarmProps,
} from '../../infra/service-alarms.js';
import { smallDefinition, stage, target } from '../support/fixtures.js';

const PROD = { account: '222222222222', region: 'us-east-1' };
const arn = (name: string) => `arn:aws:cloudwatch:us-east-1:222222222222:alarm:${name}`;
const metric = (metricName: string, statistic = 'Sum') =>
  new cloudwatch.Metric({ namespace: 'Api', metricName, statistic, period: Duration.minutes(1) });

function prodStack() {
  const app = new App();
  return { app, stack: new Stack(app, 'ApiAlarms', { env: PROD }) };
}

function imported(stack: Stack, ...names: string[]): cloudwatch.IAlarm[] {
  return names.map((name) => cloudwatch.Alarm.fromAlarmName(stack, `Imported-${name}`, name));
}

/** The seed's aggregate: three microservices and the canaries, plus all three anomaly alarms. */
function aggregateIn(stack: Stack, overrides: Partial<TeamAggregateAlarmProps> = {}) {
  return new TeamAggregateAlarm(stack, 'Aggregate', {
    alarmName: 'team-aggregate-us-east-1',
    serviceAlarms: imported(
      stack,
      'FrontEndApiService_High_Severity',
      'BackendApiService_High_Severity',
      'BackendWorkflows_High_Severity',
    ),
    canaryAlarm: imported(stack, 'Canaries_High_Severity')[0],
    requests: metric('RequestCount'),
    latency: metric('Latency', 'p99'),
    faults: metric('Faults'),
    ...overrides,
  });
}

/**
 * A composite's AlarmRule as CloudWatch will read it: the partition resolved to `aws` and
 * each alarm of the template referenced by its ARN, so a rule compares as one string.
 */
function ruleOf(template: Template, compositeName: string): string {
  const resources = template.toJSON().Resources as Record<
    string,
    { Properties: Record<string, unknown> }
  >;
  const composite = Object.values(resources).find((r) => r.Properties.AlarmName === compositeName);
  const flatten = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const v = value as Record<string, unknown>;
    if (v['Fn::Join']) return (v['Fn::Join'] as [string, unknown[]])[1].map(flatten).join('');
    if (v.Ref === 'AWS::Partition') return 'aws';
    const [logicalId] = v['Fn::GetAtt'] as [string, 'Arn'];
    return arn(resources[logicalId]?.Properties.AlarmName as string);
  };
  return flatten(composite?.Properties.AlarmRule);
}

function alarmNamed(template: Template, name: string) {
  const found = Object.values(
    template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: name } }),
  );
  expect(found).toHaveLength(1);
  return found[0]?.Properties;
}

describe('TeamAggregateAlarm', () => {
  const { stack } = prodStack();
  const aggregate = aggregateIn(stack);
  const template = Template.fromStack(stack);

  it('is the composite named as the targets’ aggregate: any service alarm, the canary or an anomaly', () => {
    template.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
      AlarmName: 'team-aggregate-us-east-1',
    });
    expect(ruleOf(template, 'team-aggregate-us-east-1')).toBe(
      `(${[
        'FrontEndApiService_High_Severity',
        'BackendApiService_High_Severity',
        'BackendWorkflows_High_Severity',
        'Canaries_High_Severity',
        'team-aggregate-us-east-1-requests-anomaly',
        'team-aggregate-us-east-1-latency-anomaly',
        'team-aggregate-us-east-1-faults-anomaly',
      ]
        .map((name) => `ALARM("${arn(name)}")`)
        .join(' OR ')})`,
    );
    expect(aggregate.alarmName).toBe('team-aggregate-us-east-1');
  });

  it.each([
    ['requests', 'LessThanLowerThreshold', 'breaching'],
    ['latency', 'GreaterThanUpperThreshold', 'notBreaching'],
    ['faults', 'GreaterThanUpperThreshold', 'notBreaching'],
  ] as const)(
    'alarms on %s outside a 3-deviation band (%s), missing data %s, 3 of 5 periods',
    (key, operator, missing) => {
      const props = alarmNamed(template, `team-aggregate-us-east-1-${key}-anomaly`);
      expect(props.ComparisonOperator).toBe(operator);
      expect(props.TreatMissingData).toBe(missing);
      expect(props.EvaluationPeriods).toBe(5);
      expect(props.DatapointsToAlarm).toBe(3);
      const band = props.Metrics.find((m: { Expression?: string }) => m.Expression !== undefined);
      expect(band.Expression).toMatch(/^ANOMALY_DETECTION_BAND\(m0, 3\)$/);
      expect(props.ThresholdMetricId).toBe(band.Id);
      expect(props.Threshold).toBeUndefined();
      expect(aggregate.anomalyAlarms[key]?.alarmName).toBeDefined();
    },
  );

  it('takes the band width, the datapoints and the missing-request rule it is given', () => {
    const { stack } = prodStack();
    aggregateIn(stack, {
      bandWidth: 4.5,
      evaluationPeriods: 10,
      datapointsToAlarm: 4,
      missingRequests: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const props = alarmNamed(
      Template.fromStack(stack),
      'team-aggregate-us-east-1-requests-anomaly',
    );
    expect(props.Metrics[0].Expression).toBe('ANOMALY_DETECTION_BAND(m0, 4.5)');
    expect(props.EvaluationPeriods).toBe(10);
    expect(props.DatapointsToAlarm).toBe(4);
    expect(props.TreatMissingData).toBe('notBreaching');
  });

  it('creates anomaly alarms only for the metrics given', () => {
    const { stack } = prodStack();
    const aggregate = aggregateIn(stack, {
      serviceAlarms: [],
      requests: undefined,
      latency: undefined,
      faults: metric('Faults'),
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    expect(Object.keys(aggregate.anomalyAlarms)).toEqual(['faults']);
    expect(ruleOf(template, 'team-aggregate-us-east-1')).toBe(
      `(ALARM("${arn('Canaries_High_Severity')}") OR ALARM("${arn('team-aggregate-us-east-1-faults-anomaly')}"))`,
    );
  });
});

describe('OneBoxAlarm', () => {
  it('is the aggregate OR the one-box’s own alarms OR its anomaly alarms', () => {
    const { stack } = prodStack();
    const aggregate = aggregateIn(stack, {
      requests: undefined,
      latency: undefined,
      faults: undefined,
    });
    const oneBox = new OneBoxAlarm(stack, 'OneBox', {
      alarmName: 'api-onebox-us-east-1',
      aggregate: aggregate.alarm,
      alarms: imported(
        stack,
        'FrontEndApiService_OneBox_High_Fault_Rate',
        'FrontEndApiService_OneBox_High_P99_Latency',
      ),
      latency: metric('OneBoxLatency', 'p99'),
    });
    const template = Template.fromStack(stack);

    expect(ruleOf(template, 'api-onebox-us-east-1')).toBe(
      `(${[
        'team-aggregate-us-east-1',
        'FrontEndApiService_OneBox_High_Fault_Rate',
        'FrontEndApiService_OneBox_High_P99_Latency',
        'api-onebox-us-east-1-latency-anomaly',
      ]
        .map((name) => `ALARM("${arn(name)}")`)
        .join(' OR ')})`,
    );
    expect(alarmNamed(template, 'api-onebox-us-east-1-latency-anomaly').ComparisonOperator).toBe(
      'GreaterThanUpperThreshold',
    );
    expect(Object.keys(oneBox.anomalyAlarms)).toEqual(['latency']);
  });

  it('does not roll a one-box back for going quiet while its single task is replaced', () => {
    const { stack } = prodStack();
    const aggregate = aggregateIn(stack, {});
    new OneBoxAlarm(stack, 'OneBox', {
      alarmName: 'api-onebox-us-east-1',
      aggregate: aggregate.alarm,
      requests: metric('OneBoxRequests', 'Sum'),
    });
    const template = Template.fromStack(stack);

    expect(alarmNamed(template, 'api-onebox-us-east-1-requests-anomaly').TreatMissingData).toBe(
      'notBreaching',
    );
    expect(alarmNamed(template, 'team-aggregate-us-east-1-requests-anomaly').TreatMissingData).toBe(
      'breaching',
    );
  });
});

describe('validation', () => {
  const build = (make: (stack: Stack) => void) => () => make(prodStack().stack);
  const oneBox = (stack: Stack, props: Partial<ConstructorParameters<typeof OneBoxAlarm>[2]>) =>
    new OneBoxAlarm(stack, 'OneBox', {
      alarmName: 'api-onebox-us-east-1',
      aggregate: imported(stack, 'team-aggregate-us-east-1')[0] as cloudwatch.IAlarm,
      ...props,
    });

  it.each([
    [
      'an aggregate with nothing to aggregate',
      build((s) => aggregateIn(s, { serviceAlarms: [], canaryAlarm: undefined })),
      'TeamAggregateAlarm "team-aggregate-us-east-1" has no serviceAlarms and no canaryAlarm; give',
    ],
    [
      'an empty name',
      build((s) => aggregateIn(s, { alarmName: '' })),
      'alarmName must be 1 to 255 characters without control characters, got "" (0 characters)',
    ],
    [
      'a name of 256 characters',
      build((s) => aggregateIn(s, { alarmName: 'a'.repeat(256) })),
      '(256 characters); shorten or fix alarmName',
    ],
    [
      'a name with a line break',
      build((s) => aggregateIn(s, { alarmName: 'team\naggregate' })),
      'got "team\\naggregate"',
    ],
    [
      'a name too long for its anomaly alarms',
      build((s) => aggregateIn(s, { alarmName: 'a'.repeat(240) })),
      "the requests anomaly alarm's name (alarmName-requests-anomaly) must be 1 to 255 characters",
    ],
    [
      'a band of no width',
      build((s) => aggregateIn(s, { bandWidth: 0 })),
      'bandWidth must be a number of standard deviations above 0, got 0',
    ],
    [
      'a band that is not a number',
      build((s) => aggregateIn(s, { bandWidth: Number.NaN })),
      'bandWidth must be a number of standard deviations above 0, got NaN',
    ],
    [
      'no evaluation periods',
      build((s) => aggregateIn(s, { evaluationPeriods: 0 })),
      'evaluationPeriods must be a whole number ≥ 1, got 0',
    ],
    [
      'more datapoints than periods',
      build((s) => aggregateIn(s, { datapointsToAlarm: 6 })),
      'datapointsToAlarm must be a whole number from 1 to evaluationPeriods (5), got 6',
    ],
    [
      'a one-box that would only repeat the aggregate',
      build((s) => oneBox(s, {})),
      'OneBoxAlarm "api-onebox-us-east-1" has no one-box alarms and no anomaly metrics',
    ],
    [
      'a one-box with a bad band',
      build((s) => oneBox(s, { faults: metric('Faults'), bandWidth: -1 })),
      'OneBoxAlarm "api-onebox-us-east-1": bandWidth must be a number of standard deviations above 0, got -1',
    ],
    [
      'a service alarm in another Region',
      build((s) =>
        aggregateIn(s, {
          serviceAlarms: [
            cloudwatch.Alarm.fromAlarmArn(
              s,
              'Elsewhere',
              'arn:aws:cloudwatch:eu-west-1:222222222222:alarm:Api_High_Severity',
            ),
          ],
        }),
      ),
      'alarm arn:aws:cloudwatch:eu-west-1:222222222222:alarm:Api_High_Severity is in 222222222222/eu-west-1, but a composite alarm can only reference alarms of its own account and Region (222222222222/us-east-1)',
    ],
  ])('refuses %s', (_, act, message) => {
    expect(act).toThrow(message);
  });
});

const pipeline = parsePipelineDefinition({
  ...smallDefinition(),
  stages: [
    stage('prod-1-onebox', null, {
      oneBox: true,
      targets: [
        target('use1-onebox', {
          ...PROD,
          alarms: { rollback: 'api-onebox-us-east-1', aggregate: 'team-aggregate-us-east-1' },
        }),
      ],
    }),
    stage('prod-1', 'prod-1-onebox', {
      targets: [
        target('use1', {
          ...PROD,
          alarms: { rollback: 'team-aggregate-us-east-1', aggregate: 'team-aggregate-us-east-1' },
        }),
        target('use1-own-rollback', {
          ...PROD,
          alarms: { rollback: 'api-own-rollback', aggregate: 'team-aggregate-us-east-1' },
        }),
        target('euw1', {
          alarms: { rollback: 'team-aggregate-eu-west-1', aggregate: 'team-aggregate-eu-west-1' },
        }),
      ],
    }),
  ],
});

describe('the alarms the pipelines expect', () => {
  it('lists the aggregate and one-box alarms read in one account and Region, not a fleet’s own rollback alarm', () => {
    expect(expectedAlarms([pipeline], PROD.account, PROD.region)).toEqual([
      {
        name: 'team-aggregate-us-east-1',
        kind: 'aggregate',
        readers: ['api/use1-onebox', 'api/use1', 'api/use1-own-rollback'],
      },
      { name: 'api-onebox-us-east-1', kind: 'one-box', readers: ['api/use1-onebox'] },
    ]);
    expect(expectedAlarms([pipeline], PROD.account, 'ap-south-1')).toEqual([]);
  });

  const synthWith = (aggregateName: string, oneBoxName: string) => {
    const { stack } = prodStack();
    const aggregate = aggregateIn(stack, { alarmName: aggregateName });
    new OneBoxAlarm(stack, 'OneBox', {
      alarmName: oneBoxName,
      aggregate: aggregate.alarm,
      faults: metric('OneBoxFaults'),
    });
    requirePipelineAlarms(stack, [pipeline]);
    return () => Template.fromStack(stack);
  };

  it('synthesises when every expected alarm is created under its name', () => {
    expect(synthWith('team-aggregate-us-east-1', 'api-onebox-us-east-1')).not.toThrow();
  });

  it('fails synthesis naming the targets, the expected name and the names created', () => {
    expect(synthWith('team-aggregate-use1', 'api-onebox-us-east-1')).toThrow(
      'Targets api/use1-onebox, api/use1, api/use1-own-rollback in 222222222222/us-east-1 read the aggregate alarm "team-aggregate-us-east-1", but no TeamAggregateAlarm under ApiAlarms is named so (named: "team-aggregate-use1"); name one "team-aggregate-us-east-1" or fix alarms.aggregate in the pipeline definition.',
    );
    expect(synthWith('team-aggregate-us-east-1', 'onebox-us-east-1')).toThrow(
      'Targets api/use1-onebox in 222222222222/us-east-1 read the one-box alarm "api-onebox-us-east-1", but no OneBoxAlarm under ApiAlarms is named so (named: "onebox-us-east-1"); name one "api-onebox-us-east-1" or fix alarms.rollback',
    );
  });

  it('asks for a concrete account and Region', () => {
    const app = new App();
    const stack = new Stack(app, 'Agnostic');
    requirePipelineAlarms(stack, [pipeline]);
    expect(() => Template.fromStack(stack)).toThrow(
      'can only be checked in a stack with a concrete account and Region; give the stack env',
    );
  });
});

describe('cdk-nag', () => {
  it('passes AwsSolutions, and CDK itself warns about nothing', () => {
    const { app, stack } = prodStack();
    const aggregate = aggregateIn(stack);
    new OneBoxAlarm(stack, 'OneBox', {
      alarmName: 'api-onebox-us-east-1',
      aggregate: aggregate.alarm,
      faults: metric('OneBoxFaults'),
    });
    Aspects.of(app).add(new AwsSolutionsChecks());
    Template.fromStack(stack);

    const found = [
      ...Annotations.fromStack(stack).findError('*', Match.anyValue()),
      ...Annotations.fromStack(stack).findWarning('*', Match.anyValue()),
    ];
    expect(found.map((e) => `${e.id}: ${e.entry.data}`)).toEqual([]);
  });
});
