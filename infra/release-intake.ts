import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { PipelineDefinition } from '../core/index.js';
import { pascal } from './names.js';
import { ReleaseBuild, type ReleaseBuildOptions, type ReleaseSource } from './release-build.js';

/** What the intake asks of the control plane's handler factory. */
export interface HandlerOptions {
  /** Added to the control plane's settings. @default - none */
  readonly environment?: Record<string, string>;
  /** @default Duration.seconds(60) */
  readonly timeout?: Duration;
  /** Where an asynchronous invocation goes after its retries fail. @default - dropped */
  readonly onFailure?: lambda.IDestination;
}

/** A pipeline whose pushes become releases: its definition, source and build options. */
export interface IntakePipeline {
  readonly definition: PipelineDefinition;
  readonly source: ReleaseSource;
  readonly build: ReleaseBuildOptions;
}

export interface ReleaseIntakeProps {
  readonly pipelines: readonly IntakePipeline[];
  /** Builds a handler of `functions/` with the control plane's settings plus `environment`. */
  readonly handler: (name: string, options: HandlerOptions) => NodejsFunction;
  readonly table: dynamodb.ITableV2;
  readonly bus: events.IEventBus;
  readonly artifacts: s3.IBucket;
  readonly stateMachineArn: string;
  /**
   * The Secrets Manager secret holding a GitHub token (`contents:read`,
   * `pull_requests:read`) to read commits and reviews. Create it before deploying.
   * @default 'release-captain/github-token'
   */
  readonly gitHubTokenSecretName?: string;
}

/**
 * How pushes become releases: per pipeline a `ReleaseBuild`; a push handler (the GitHub
 * webhook behind a function URL with a generated secret, or a rule on CodeCommit's
 * `referenceUpdated` events) that starts the build of a watched branch's new commit; and
 * the record-release handler that turns each successful build into the next release,
 * reading the commits' reviews. An event that EventBridge cannot deliver, or whose handler
 * fails its retries, lands in a dead-letter queue with an alarm on it, so no push or build
 * is lost silently.
 */
export class ReleaseIntake extends Construct {
  readonly builds: readonly ReleaseBuild[];
  readonly recordRelease: NodejsFunction;
  readonly gitHubWebhook: NodejsFunction | undefined;
  readonly webhookSecret: secretsmanager.Secret | undefined;
  readonly codeCommitPush: NodejsFunction | undefined;
  /** Events (pushes, finished builds) that failed every retry: delivery or handler. */
  readonly deadLetters: sqs.Queue;
  /** In ALARM while a dead letter waits. */
  readonly deadLettersAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ReleaseIntakeProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const providers = new Set(props.pipelines.map((p) => p.source.provider));
    if (providers.size > 1) {
      throw new Error(
        `One control plane reads one kind of source, but these pipelines mix GitHub and CodeCommit: ${props.pipelines.map((p) => `${p.definition.name} (${p.source.provider})`).join(', ')}. Deploy a control plane per provider.`,
      );
    }
    const provider = [...providers][0] ?? 'codecommit';
    const prefix = `${stack.stackName}-build`;
    this.builds = props.pipelines.map(
      (p) =>
        new ReleaseBuild(this, `${pascal(p.definition.name)}Build`, {
          ...p.build,
          pipeline: p.definition,
          source: p.source,
          artifacts: props.artifacts,
          projectName: `${prefix}-${p.definition.name}`,
        }),
    );
    const projectArns = this.builds.map((b) => b.project.projectArn);

    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(this.deadLetters, [
      { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue.' },
    ]);
    this.deadLettersAlarm = new cloudwatch.Alarm(this, 'DeadLettersWaiting', {
      alarmName: `${stack.stackName}-intake-dead-letters`,
      alarmDescription:
        'A push or a finished build failed every retry and waits in the intake dead-letter queue: read the handler logs, fix the cause, then redrive the queue.',
      metric: this.deadLetters.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const target = (fn: NodejsFunction) =>
      new targets.LambdaFunction(fn, {
        retryAttempts: 8,
        maxEventAge: Duration.hours(24),
        deadLetterQueue: this.deadLetters,
      });

    const tokenSecret =
      provider === 'github'
        ? secretsmanager.Secret.fromSecretNameV2(
            this,
            'GitHubToken',
            props.gitHubTokenSecretName ?? 'release-captain/github-token',
          )
        : undefined;
    const onFailure = new destinations.SqsDestination(this.deadLetters);
    this.recordRelease = props.handler('record-release', {
      environment: {
        SOURCE_PROVIDER: provider,
        RELEASE_BUILD_PROJECT_PREFIX: prefix,
        ...(tokenSecret === undefined ? {} : { GITHUB_TOKEN_SECRET_NAME: tokenSecret.secretName }),
      },
      // Reading a long history's reviews may take a few hundred API calls.
      timeout: Duration.minutes(5),
      onFailure,
    });
    const record = this.recordRelease;
    record.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['codebuild:BatchGetBuilds'], resources: projectArns }),
    );
    record.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [props.artifacts.arnForObjects('artifacts/*/manifests/*')],
      }),
    );
    record.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          // A new release's take at the first stage is checked against the meta item it read.
          'dynamodb:ConditionCheckItem',
          'dynamodb:BatchWriteItem',
        ],
        resources: [props.table.tableArn],
      }),
    );
    props.bus.grantPutEventsTo(record);
    // Recording a release settles the pipeline, which may start the first stage's run.
    record.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [props.stateMachineArn],
      }),
    );
    tokenSecret?.grantRead(record);
    const repositories = props.pipelines.flatMap((p) => p.source.codeCommitRepository ?? []);
    if (repositories.length > 0) {
      record.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [
            'codecommit:GetBranch',
            'codecommit:GetCommit',
            'codecommit:GetMergeCommit',
            'codecommit:ListPullRequests',
            'codecommit:GetPullRequest',
            'codecommit:GetPullRequestApprovalStates',
            'codecommit:DescribePullRequestEvents',
            'codecommit:EvaluatePullRequestApprovalRules',
          ],
          resources: repositories.map((r) => r.repositoryArn),
        }),
      );
    }
    new events.Rule(this, 'OnBuildSucceeded', {
      description: 'Records each successful Release Captain build as the next release',
      eventPattern: {
        source: ['aws.codebuild'],
        detailType: ['CodeBuild Build State Change'],
        detail: {
          'build-status': ['SUCCEEDED'],
          'project-name': this.builds.map((b) => b.project.projectName),
        },
      },
      targets: [target(record)],
    });

    const startBuilds = new iam.PolicyStatement({
      actions: ['codebuild:StartBuild'],
      resources: projectArns,
    });
    if (provider === 'github' && this.builds.length > 0) {
      this.webhookSecret = new secretsmanager.Secret(this, 'WebhookSecret', {
        description:
          'The secret of the GitHub webhook that sends pushes to Release Captain (X-Hub-Signature-256)',
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
      });
      NagSuppressions.addResourceSuppressions(this.webhookSecret, [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'The webhook secret is shared with GitHub, which cannot fetch a rotated value: rotate it by hand in both places.',
        },
      ]);
      // Invoked synchronously by its URL: GitHub shows a failed delivery and can redeliver it.
      this.gitHubWebhook = props.handler('github-webhook', {
        environment: {
          GITHUB_WEBHOOK_SECRET_NAME: this.webhookSecret.secretName,
          RELEASE_BUILD_PROJECT_PREFIX: prefix,
        },
      });
      this.webhookSecret.grantRead(this.gitHubWebhook);
      this.gitHubWebhook.addToRolePolicy(startBuilds);
      // GitHub cannot sign AWS requests: the handler verifies the HMAC signature instead.
      const url = this.gitHubWebhook.addFunctionUrl({
        authType: lambda.FunctionUrlAuthType.NONE,
      });
      new CfnOutput(this, 'GitHubWebhookUrl', {
        description:
          'Payload URL of the GitHub webhook (content type application/json, push events)',
        value: url.url,
      });
      new CfnOutput(this, 'GitHubWebhookSecretName', {
        description: 'Secrets Manager secret whose value is the webhook secret to enter in GitHub',
        value: this.webhookSecret.secretName,
      });
    }
    if (repositories.length > 0) {
      this.codeCommitPush = props.handler('codecommit-push', {
        environment: { RELEASE_BUILD_PROJECT_PREFIX: prefix },
        onFailure,
      });
      this.codeCommitPush.addToRolePolicy(startBuilds);
      new events.Rule(this, 'OnCodeCommitPush', {
        description: 'Starts the release build of pushes to watched CodeCommit branches',
        eventPattern: {
          source: ['aws.codecommit'],
          detailType: ['CodeCommit Repository State Change'],
          resources: repositories.map((r) => r.repositoryArn),
          detail: {
            event: ['referenceCreated', 'referenceUpdated'],
            referenceType: ['branch'],
          },
        },
        targets: [target(this.codeCommitPush)],
      });
    }
    // IAM5 acknowledged for these roles' own wildcards only.
    const xray = 'X-Ray trace writes (active tracing) take no resource';
    NagSuppressions.addResourceSuppressions(
      this.recordRelease.role as iam.IRole,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason: `${xray}; manifests are read under each pipeline's content-addressed artifacts/<pipeline>/manifests/ prefix, and the pipelines are many.`,
          appliesTo: [
            'Resource::*',
            { regex: '/^Resource::<.*Artifacts.*\\.Arn>\\/artifacts\\/\\*\\/manifests\\/\\*$/g' },
          ],
        },
      ],
      true,
    );
    for (const handler of [this.gitHubWebhook, this.codeCommitPush]) {
      if (handler === undefined) continue;
      NagSuppressions.addResourceSuppressions(
        handler.role as iam.IRole,
        [{ id: 'AwsSolutions-IAM5', reason: `${xray}.`, appliesTo: ['Resource::*'] }],
        true,
      );
    }
  }
}
