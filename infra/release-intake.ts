import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { PipelineDefinition } from '../core/index.js';
import { pascal } from './names.js';
import { ReleaseBuild, type ReleaseBuildOptions, type ReleaseSource } from './release-build.js';

/** A pipeline whose pushes become releases: its definition, source and build options. */
export interface IntakePipeline {
  readonly definition: PipelineDefinition;
  readonly source: ReleaseSource;
  readonly build: ReleaseBuildOptions;
}

export interface ReleaseIntakeProps {
  readonly pipelines: readonly IntakePipeline[];
  /** Builds a handler of `functions/` with the control plane's settings plus `environment`. */
  readonly handler: (
    name: string,
    environment: Record<string, string>,
    timeout?: Duration,
  ) => NodejsFunction;
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
 * reading the commits' reviews. Events that fail every retry land in a dead-letter queue,
 * so no push or build is lost silently.
 */
export class ReleaseIntake extends Construct {
  readonly builds: readonly ReleaseBuild[];
  readonly recordRelease: NodejsFunction;
  readonly gitHubWebhook: NodejsFunction | undefined;
  readonly webhookSecret: secretsmanager.Secret | undefined;
  readonly codeCommitPush: NodejsFunction | undefined;
  readonly deadLetters: sqs.Queue;

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
    this.recordRelease = props.handler(
      'record-release',
      {
        SOURCE_PROVIDER: provider,
        ...(tokenSecret === undefined ? {} : { GITHUB_TOKEN_SECRET_NAME: tokenSecret.secretName }),
      },
      // Reading a long history's reviews may take a few hundred API calls.
      Duration.minutes(5),
    );
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
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
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
            'codecommit:GetCommit',
            'codecommit:GetMergeCommit',
            'codecommit:ListPullRequests',
            'codecommit:GetPullRequest',
            'codecommit:GetPullRequestApprovalStates',
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
      this.gitHubWebhook = props.handler('github-webhook', {
        GITHUB_WEBHOOK_SECRET_NAME: this.webhookSecret.secretName,
        RELEASE_BUILD_PROJECT_PREFIX: prefix,
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
        RELEASE_BUILD_PROJECT_PREFIX: prefix,
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
  }
}
