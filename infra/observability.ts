import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '../adapters/aws/eventbridge-publisher.js';
import type { EventType, PipelineDefinition } from '../core/index.js';

export interface EventLogProps {
  readonly bus: events.IEventBus;
  /** @default logs.RetentionDays.ONE_YEAR */
  readonly retention?: logs.RetentionDays;
}

/**
 * Every Release Captain event, kept in a log group: what dashboards query, and a record
 * anyone can search (`filter detail.pipeline = "api"`).
 */
export class EventLog extends Construct {
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: EventLogProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Events', {
      retention: props.retention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The log group's resource policy is written here rather than by the CloudWatchLogGroup
    // target, which would add a custom-resource Lambda with a managed policy to do it.
    new logs.ResourcePolicy(this, 'EventBridgeMayWrite', {
      policyStatements: [
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          principals: [new iam.ServicePrincipal('events.amazonaws.com')],
          resources: [this.logGroup.logGroupArn],
        }),
      ],
    });
    const logGroupArn = Stack.of(this).formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: this.logGroup.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    new events.Rule(this, 'All', {
      description: 'Keeps every Release Captain event in a log group',
      eventBus: props.bus,
      eventPattern: { source: [EVENT_SOURCE] },
      targets: [{ bind: () => ({ arn: logGroupArn }) }],
    });
  }
}

export interface NotificationsProps {
  readonly bus: events.IEventBus;
  /**
   * The events that page or mail someone.
   * @default - Release Blocked, Deployment Failed, Rollback Started, Rollback Completed, Promotions Disabled
   */
  readonly eventTypes?: readonly EventType[];
  /**
   * Only these pipelines' events.
   * @default - every pipeline's
   */
  readonly pipelines?: readonly string[];
}

const NOTIFIED: readonly EventType[] = [
  'Release Blocked',
  'Deployment Failed',
  'Rollback Started',
  'Rollback Completed',
  'Promotions Disabled',
];

/**
 * An example of acting on events: an SNS topic (encrypted, TLS only) that gets a one-line
 * message for each event a team wants to hear about. Subscribe e-mail, chat or paging to
 * `topic`.
 *
 * @example
 * const alerts = new Notifications(this, 'Alerts', { bus: controlPlane.bus });
 * alerts.topic.addSubscription(new subscriptions.EmailSubscription('oncall@example.com'));
 */
export class Notifications extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const types = props.eventTypes ?? NOTIFIED;
    if (types.length === 0) {
      throw new Error(
        'Notifications: eventTypes is empty, so nothing would ever be sent; name at least one event type, e.g. ["Rollback Started"].',
      );
    }
    // EventBridge can publish to an encrypted topic only through a key whose policy lets it.
    const key = new kms.Key(this, 'Key', {
      description: 'Encrypts the Release Captain notifications topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Release Captain',
      masterKey: key,
      enforceSSL: true,
    });
    new events.Rule(this, 'Rule', {
      description: `Sends ${types.join(', ')} to the notifications topic`,
      eventBus: props.bus,
      eventPattern: {
        source: [EVENT_SOURCE],
        detailType: [...types],
        ...(props.pipelines === undefined ? {} : { detail: { pipeline: [...props.pipelines] } }),
      },
      targets: [
        new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `${events.EventField.detailType} in ${events.EventField.fromPath('$.detail.pipeline')}` +
              ` (stage ${events.EventField.fromPath('$.detail.stage')},` +
              ` release r${events.EventField.fromPath('$.detail.release')}):` +
              ` ${events.EventField.fromPath('$.detail.reason')}`,
          ),
        }),
      ],
    });
  }
}

export interface PipelineDashboardProps {
  readonly pipeline: PipelineDefinition;
  /** The event log (see `EventLog`). */
  readonly eventLog: logs.ILogGroup;
  readonly stateMachine: sfn.IStateMachine;
  /** The handlers' log groups, searched for the pipeline's errors. */
  readonly handlerLogs: readonly logs.ILogGroup[];
  /** The namespace the handlers' metrics go to. @default 'ReleaseCaptain' */
  readonly metricsNamespace?: string;
}

/**
 * A CloudWatch dashboard for one pipeline: its latest events (releases, stages,
 * deployments, rollbacks, blocks) and counts by type, the stage workflow's executions,
 * and the handlers' errors and restarts.
 */
export class PipelineDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const name = props.pipeline.name;
    const namespace = props.metricsNamespace ?? 'ReleaseCaptain';
    const handlerMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace,
        metricName,
        dimensionsMap: { service: 'release-captain' },
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
    const production = props.pipeline.stages.filter((s) => s.phase === 'production');
    const waves = new Set(production.map((s) => s.wave)).size;
    const targets = props.pipeline.stages.reduce((sum, s) => sum + s.targets.length, 0);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-${name}`,
      defaultInterval: Duration.days(7),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: [
          `# Release Captain: ${name}`,
          `${props.pipeline.kind} pipeline of \`${props.pipeline.source.repository}\` (${props.pipeline.source.branch}):`,
          `${props.pipeline.stages.length} stages, ${waves} production waves, ${targets} targets.`,
          `Executions are named \`${name}-<stage>-r<release>-<attempt>\` in the stage workflow.`,
        ].join('\n'),
        width: 24,
        height: 3,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: 'Latest events',
        logGroupNames: [props.eventLog.logGroupName],
        queryLines: [
          'fields @timestamp, `detail-type` as event, detail.stage as stage, detail.release as release, detail.target as target, detail.reason as reason',
          `filter detail.pipeline = "${name}"`,
          'sort @timestamp desc',
          'limit 50',
        ],
        width: 16,
        height: 8,
      }),
      new cloudwatch.LogQueryWidget({
        title: 'Events by type',
        logGroupNames: [props.eventLog.logGroupName],
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        queryLines: [
          `filter detail.pipeline = "${name}"`,
          'stats count(*) as events by `detail-type`',
        ],
        width: 8,
        height: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Stage workflow executions (all pipelines)',
        left: [
          props.stateMachine.metricStarted({ period: Duration.hours(1) }),
          props.stateMachine.metricSucceeded({ period: Duration.hours(1) }),
          props.stateMachine.metricFailed({ period: Duration.hours(1) }),
          props.stateMachine.metricTimedOut({ period: Duration.hours(1) }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Handler errors and reconciler restarts (all pipelines)',
        left: [handlerMetric('StepRetryableError'), handlerMetric('StepTerminalError')],
        right: [handlerMetric('RunsRestarted'), handlerMetric('RunsStuck')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: 'Handler errors for this pipeline',
        logGroupNames: props.handlerLogs.map((group) => group.logGroupName),
        queryLines: [
          'fields @timestamp, level, message, stage, error.message as error',
          `filter level = "ERROR" and (pipeline = "${name}" or @message like "${name}")`,
          'sort @timestamp desc',
          'limit 50',
        ],
        width: 24,
        height: 6,
      }),
    );
  }
}
