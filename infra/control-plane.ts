import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotations, ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { TABLE_KEYS } from '../adapters/aws/dynamodb-table.js';
import type { PipelineDefinition } from '../core/index.js';
import { AWS_WAKE_EVENTS, wakePattern } from '../functions/lib/wake-events.js';
import { pascal } from './names.js';
import { EventLog, PipelineDashboard } from './observability.js';
import { Pipeline } from './pipeline.js';
import { type HandlerOptions, ReleaseIntake } from './release-intake.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface ControlPlaneProps {
  /**
   * The pipelines this control plane runs: `Pipeline` constructs, or the core's definitions
   * (see `TeamPipeline`). Their definitions are read now, so add every stage first.
   */
  readonly pipelines: readonly (Pipeline | PipelineDefinition)[];
  /**
   * The role the deployers assume in each target account (created there by the
   * `DeployRoleStack`).
   * @default 'release-captain-deployer'
   */
  readonly deployRoleName?: string;
  /**
   * How often the reconciler looks for work nobody is doing.
   * @default Duration.minutes(5)
   */
  readonly reconcileEvery?: Duration;
  /**
   * How long the handlers' and the workflow's logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The Secrets Manager secret with the GitHub token that reads commits and reviews, for
   * pipelines whose `releaseSource` is on GitHub.
   * @default 'release-captain/github-token'
   */
  readonly gitHubTokenSecretName?: string;
  /**
   * The most concurrent executions of the operator API (the CLI and open web views poll
   * it), reserved so that they can never take the concurrency the stage workflow's
   * handlers need during a rollback. `null`: no reservation (accounts whose Lambda
   * concurrency quota is below the 100 unreserved executions Lambda keeps plus this).
   * @default 5
   */
  readonly operatorApiConcurrency?: number | null;
}

/** The Lambda handlers of the stage workflow and around it, by file in `functions/`. */
const HANDLERS = [
  'advance-target',
  'advance-stage',
  'await-event',
  'fail-run',
  'wake',
  'report-approval',
  'reconcile',
  'operator-api',
] as const;
type HandlerName = (typeof HANDLERS)[number];

/**
 * The Release Captain control plane in one region of a tooling account: the table, the
 * event bus, the artifact bucket, the stage workflow (statemachines/stage.asl.json with
 * its `${Placeholder}`s substituted) and its handlers, each with a role of its own holding
 * only the actions it calls, the rules that wake waiting workflows, and the reconciler's
 * schedule.
 *
 * @example
 * new ControlPlane(stack, 'Captain', { pipelines: [new ApiPipeline().definition()] });
 */
export class ControlPlane extends Construct {
  readonly table: dynamodb.TableV2;
  readonly bus: events.EventBus;
  readonly artifacts: s3.Bucket;
  readonly stageStateMachine: sfn.StateMachine;
  readonly functions: Readonly<Record<HandlerName, NodejsFunction>>;
  /** Every Release Captain event, kept for a year (what the dashboards query). */
  readonly eventLog: EventLog;
  /** Release builds, push handlers and release recording; absent without a `releaseSource`. */
  readonly intake: ReleaseIntake | undefined;
  readonly dashboards: readonly PipelineDashboard[];
  /** The operator API's function URL (SigV4 only) and the managed policy operators need. */
  readonly operatorApi: {
    readonly url: lambda.FunctionUrl;
    readonly operatorsPolicy: iam.ManagedPolicy;
  };

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    const pipelines = props.pipelines.map((p) => (p instanceof Pipeline ? p.definition : p));
    if (pipelines.length === 0) {
      throw new Error(
        'ControlPlane needs at least one pipeline in `pipelines`: pass the definitions of the pipelines it runs, e.g. [new ApiPipeline().definition()].',
      );
    }
    const names = pipelines.map((p) => p.name);
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    if (duplicate !== undefined) {
      throw new Error(
        `ControlPlane got two pipelines named "${duplicate}"; pipeline names must be unique.`,
      );
    }
    checkSharedSources(pipelines);
    warnSharedTargets(this, pipelines);
    const stack = Stack.of(this);
    const retention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const deployRoleName = props.deployRoleName ?? 'release-captain-deployer';

    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      timeToLiveAttribute: 'ttl',
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.bus = new events.EventBus(this, 'Bus', { eventBusName: 'release-captain' });
    const accessLogs = new s3.Bucket(this, 'ArtifactAccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.artifacts = new s3.Bucket(this, 'Artifacts', {
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogs,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // The workflow's ARN is built from its name, so that handlers (which start executions)
    // and the workflow (which invokes handlers) do not depend on each other.
    const stateMachineName = `${stack.stackName}-stage`;
    const stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const definitions = renderDefinitions(pipelines);

    const functions = {} as Record<HandlerName, NodejsFunction>;
    const handler = (name: string, options: HandlerOptions = {}) =>
      this.#handler(name, {
        retention,
        definitions,
        timeout: options.timeout ?? Duration.seconds(60),
        ...(options.onFailure === undefined ? {} : { onFailure: options.onFailure }),
        environment: {
          TABLE_NAME: this.table.tableName,
          EVENT_BUS_NAME: this.bus.eventBusName,
          STAGE_STATE_MACHINE_ARN: stateMachineArn,
          ARTIFACT_BUCKET: this.artifacts.bucketName,
          DEPLOY_ROLE_NAME: deployRoleName,
          PIPELINE_DEFINITIONS_DIR: '/var/task/pipelines',
          POWERTOOLS_SERVICE_NAME: 'release-captain',
          POWERTOOLS_METRICS_NAMESPACE: 'ReleaseCaptain',
          ...options.environment,
        },
      });
    for (const name of HANDLERS) functions[name] = handler(name);
    this.functions = functions;
    this.#grant(stateMachineArn, stateMachineName, deployRoleName);

    const workflowLogs = new logs.LogGroup(this, 'StageWorkflowLogs', {
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stageStateMachine = new sfn.StateMachine(this, 'StageWorkflow', {
      stateMachineName,
      definitionBody: sfn.DefinitionBody.fromFile(join(ROOT, 'statemachines', 'stage.asl.json')),
      definitionSubstitutions: {
        AdvanceTargetFunctionArn: functions['advance-target'].functionArn,
        AdvanceStageFunctionArn: functions['advance-stage'].functionArn,
        AwaitEventFunctionArn: functions['await-event'].functionArn,
        FailRunFunctionArn: functions['fail-run'].functionArn,
      },
      stateMachineType: sfn.StateMachineType.STANDARD,
      tracingEnabled: true,
      logs: { destination: workflowLogs, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    // The unqualified ARNs the definition names, not `:*` (no versions or aliases are used).
    this.stageStateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: (['advance-target', 'advance-stage', 'await-event', 'fail-run'] as const).map(
          (name) => functions[name].functionArn,
        ),
      }),
    );

    // Deployment and alarm state changes wake the waiting steps.
    new events.Rule(this, 'WakeOnDeploymentsAndAlarms', {
      description: 'Wakes Release Captain steps waiting on a deployment or an alarm',
      eventPattern: wakePattern(AWS_WAKE_EVENTS),
      targets: [new targets.LambdaFunction(functions.wake, { retryAttempts: 8 })],
    });
    // Target accounts forward their deployment and alarm events here (DeployRoleStack).
    const targetAccounts = new Set(
      pipelines.flatMap((p) => p.stages.flatMap((s) => s.targets.map((t) => t.account))),
    );
    for (const account of [...targetAccounts].filter((a) => /^\d{12}$/.test(a)).sort()) {
      new events.CfnEventBusPolicy(this, `AcceptEventsFrom${account}`, {
        eventBusName: 'default',
        statementId: `release-captain-${account}`,
        statement: {
          Sid: `release-captain-${account}`,
          Effect: 'Allow',
          Principal: { AWS: `arn:${stack.partition}:iam::${account}:root` },
          Action: 'events:PutEvents',
          Resource: stack.formatArn({
            service: 'events',
            resource: 'event-bus',
            resourceName: 'default',
          }),
        },
      });
    }
    for (const pipeline of pipelines) {
      new events.Rule(this, `Reconcile${pascal(pipeline.name)}`, {
        description: `Release Captain reconciler for pipeline ${pipeline.name}`,
        schedule: events.Schedule.rate(props.reconcileEvery ?? Duration.minutes(5)),
        targets: [
          new targets.LambdaFunction(functions.reconcile, {
            event: events.RuleTargetInput.fromObject({ pipeline: pipeline.name }),
          }),
        ],
      });
    }
    const sourced = props.pipelines.flatMap((p) =>
      p instanceof Pipeline && p.releaseSource !== undefined
        ? [{ definition: p.definition, source: p.releaseSource, build: p.build }]
        : [],
    );
    this.intake =
      sourced.length === 0
        ? undefined
        : new ReleaseIntake(this, 'Intake', {
            pipelines: sourced,
            handler,
            table: this.table,
            bus: this.bus,
            artifacts: this.artifacts,
            stateMachineArn,
            ...(props.gitHubTokenSecretName === undefined
              ? {}
              : { gitHubTokenSecretName: props.gitHubTokenSecretName }),
          });

    this.eventLog = new EventLog(this, 'EventLog', { bus: this.bus });
    const handlerLogs = [
      ...Object.values(functions),
      ...(this.intake === undefined
        ? []
        : [this.intake.recordRelease, this.intake.gitHubWebhook, this.intake.codeCommitPush]),
    ].flatMap((fn) => (fn === undefined ? [] : [fn.logGroup]));
    this.dashboards = pipelines.map(
      (pipeline) =>
        new PipelineDashboard(this, `${pascal(pipeline.name)}Dashboard`, {
          pipeline,
          eventLog: this.eventLog.logGroup,
          stateMachine: this.stageStateMachine,
          handlerLogs,
        }),
    );
    this.operatorApi = this.#operatorApi(
      props.operatorApiConcurrency === undefined ? 5 : props.operatorApiConcurrency,
    );
    this.#suppressions();
  }

  /** One handler of `functions/`: its own role and log group, the pipelines in its bundle. */
  #handler(
    name: string,
    options: {
      readonly retention: logs.RetentionDays;
      readonly definitions: string;
      readonly environment: Record<string, string>;
      readonly timeout: Duration;
      readonly onFailure?: lambda.IDestination;
    },
  ): NodejsFunction {
    const stack = Stack.of(this);
    const role = new iam.Role(this, `${pascal(name)}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Release Captain ${name} handler`,
      // Named, so target accounts' deploy roles can trust exactly these (DeployRoleStack).
      ...(name === 'advance-target' || name === 'advance-stage'
        ? { roleName: `${stack.stackName}-${name}` }
        : {}),
    });
    const logGroup = new logs.LogGroup(this, `${pascal(name)}Logs`, {
      retention: options.retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    logGroup.grantWrite(role);
    return new NodejsFunction(this, pascal(name), {
      entry: join(ROOT, 'functions', `${name}.ts`),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      // Steps stay below the workflow's 120-second task timeout, so a retried step never
      // overlaps itself.
      timeout: options.timeout,
      tracing: lambda.Tracing.ACTIVE,
      role,
      logGroup,
      environment: options.environment,
      // Invoked asynchronously (EventBridge): Lambda retries twice, then hands the event on.
      ...(options.onFailure === undefined
        ? {}
        : { onFailure: options.onFailure, retryAttempts: 2, maxEventAge: Duration.hours(6) }),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        // ESM bundles need a require for the CommonJS parts of the SDK.
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          // Every handler reads the pipeline definitions from its bundle.
          afterBundling: (_input: string, output: string) => [
            `mkdir -p "${output}/pipelines" && cp "${options.definitions}"/*.json "${output}/pipelines/"`,
            // The operator API serves the web view: its page, style sheet and modules.
            ...(name === 'operator-api'
              ? [
                  `mkdir -p "${output}/web" && cp "${join(ROOT, 'web')}"/index.html "${join(ROOT, 'web')}"/*.js "${join(ROOT, 'web')}"/style.css "${output}/web/"`,
                ]
              : []),
          ],
        },
      },
    });
  }

  /**
   * The operator API and web view on a function URL that only SigV4-signed requests reach
   * (AWS_IAM): the caller is an authenticated IAM principal, and the audit log names it.
   * Operators get the managed policy (attach it to their roles); it allows the URL and
   * nothing else of the function: `lambda:InvokeFunction` only through the URL, so nobody
   * can hand the function a forged caller by invoking it directly.
   */
  #operatorApi(concurrency: number | null): {
    url: lambda.FunctionUrl;
    operatorsPolicy: iam.ManagedPolicy;
  } {
    const fn = this.functions['operator-api'];
    if (concurrency !== null) {
      (fn.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = concurrency;
    }
    const url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    const operatorsPolicy = new iam.ManagedPolicy(this, 'OperatorsPolicy', {
      description:
        'Use the Release Captain operator API and web view (captain --region, captain web).',
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [fn.functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [fn.functionArn],
          conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
        }),
        // `captain --region` finds the URL in the stack's outputs.
        new iam.PolicyStatement({
          actions: ['cloudformation:DescribeStacks'],
          resources: [Stack.of(this).stackId],
        }),
      ],
    });
    new CfnOutput(this, 'OperatorApiUrl', {
      key: 'OperatorApiUrl',
      value: url.url,
      description:
        'The operator API and web view (SigV4-signed requests only): captain --region, captain web',
    });
    new CfnOutput(this, 'OperatorsPolicyArn', {
      key: 'OperatorsPolicyArn',
      value: operatorsPolicy.managedPolicyArn,
      description: 'Attach to the roles of the people who operate the pipelines',
    });
    return { url, operatorsPolicy };
  }

  /** One role per handler, with only what it calls. */
  #grant(stateMachineArn: string, stateMachineName: string, deployRoleName: string): void {
    const stack = Stack.of(this);
    const executionArns = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const f = this.functions;
    const read = ['dynamodb:GetItem', 'dynamodb:Query'];
    // A decision is written with a check of the items it read (TransactWriteItems): the
    // transaction needs UpdateItem for the write and ConditionCheckItem for the checks.
    const write = ['dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:ConditionCheckItem'];
    const table = (role: NodejsFunction, actions: string[]) =>
      role.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [this.table.tableArn] }));
    // Only wake registrations are ever deleted (claiming wakes a waiting step).
    const claimWakes = (role: NodejsFunction) =>
      role.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:DeleteItem'],
          resources: [this.table.tableArn],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['WAKE#*'] } },
        }),
      );
    const decide = (fn: NodejsFunction) => {
      table(fn, [...read, ...write]);
      this.bus.grantPutEventsTo(fn);
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['states:StartExecution'],
          resources: [stateMachineArn],
        }),
      );
    };
    const resume = (fn: NodejsFunction) =>
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
          resources: ['*'],
        }),
      );
    const watch = (fn: NodejsFunction) =>
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [
            'cloudwatch:DescribeAlarms',
            'cloudwatch:DescribeAlarmHistory',
            'cloudwatch:GetMetricData',
          ],
          resources: ['*'],
        }),
      );
    // advance-target deploys: it assumes the deploy role in target accounts, and verifies
    // artifacts (ECR images, S3 files) before the first deployment of a release.
    decide(f['advance-target']);
    watch(f['advance-target']);
    resume(f['advance-target']);
    claimWakes(f['advance-target']);
    // Both reach into target accounts: advance-target deploys, advance-stage reads the
    // targets' alarms and metrics while a stage bakes.
    for (const fn of [f['advance-target'], f['advance-stage']]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['sts:AssumeRole'],
          resources: [`arn:${stack.partition}:iam::*:role/${deployRoleName}`],
        }),
      );
    }
    f['advance-target'].addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ecr:DescribeImages'], resources: ['*'] }),
    );
    f['advance-target'].addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.artifacts.arnForObjects('artifacts/*')],
      }),
    );
    decide(f['advance-stage']);
    watch(f['advance-stage']);
    table(f['await-event'], [...read, ...write]);
    resume(f['await-event']);
    table(f.wake, [...read, ...write]);
    claimWakes(f.wake);
    resume(f.wake);
    decide(f['fail-run']);
    resume(f['fail-run']);
    claimWakes(f['fail-run']);
    decide(f['report-approval']);
    resume(f['report-approval']);
    claimWakes(f['report-approval']);
    // The operator API applies the operators' commands (rules, like the steps) and wakes
    // the steps they concern (claiming wake registrations deletes them).
    decide(f['operator-api']);
    claimWakes(f['operator-api']);
    // Waking only ever succeeds a task token (wakeAll); failing one is the steps' business.
    f['operator-api'].addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:SendTaskSuccess'], resources: ['*'] }),
    );
    decide(f.reconcile);
    f.reconcile.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution'],
        resources: [executionArns],
      }),
    );
  }

  /**
   * IAM5 acknowledged role by role, for the wildcards each role holds and why it needs
   * them, so that a new wildcard anywhere else is a finding.
   */
  #suppressions(): void {
    const xray = 'X-Ray trace writes (active tracing) take no resource';
    const tokens =
      'SendTaskSuccess/SendTaskFailure act on a task token, which names no resource in IAM';
    const cloudwatch =
      "CloudWatch DescribeAlarms, DescribeAlarmHistory and GetMetricData read the targets' alarms and metrics, which take no narrower resource";
    const deployRole =
      'sts:AssumeRole on the deploy role, which has one name in every target account (the accounts come from the pipelines, the role trusts only this role)';
    const wildcards: Partial<
      Record<
        HandlerName,
        { readonly reasons: string[]; readonly appliesTo: (string | { regex: string })[] }
      >
    > = {
      'advance-target': {
        reasons: [
          xray,
          tokens,
          cloudwatch,
          deployRole,
          "ecr:DescribeImages checks a release's image in the target's own registry, in any account",
          "s3:GetObject on the artifact bucket's artifacts/ prefix, where release files are stored by content hash",
        ],
        appliesTo: [
          'Resource::*',
          { regex: '/^Resource::arn:<AWS::Partition>:iam::\\*:role\\/.*$/g' },
          { regex: '/^Resource::<.*Artifacts.*\\.Arn>\\/artifacts\\/\\*$/g' },
        ],
      },
      'advance-stage': {
        reasons: [xray, cloudwatch, deployRole],
        appliesTo: [
          'Resource::*',
          { regex: '/^Resource::arn:<AWS::Partition>:iam::\\*:role\\/.*$/g' },
        ],
      },
      reconcile: {
        reasons: [
          xray,
          'states:DescribeExecution on the executions of the one stage workflow, whose names are made per run',
        ],
        appliesTo: [
          'Resource::*',
          { regex: '/^Resource::arn:<AWS::Partition>:states:.*:execution:.*$/g' },
        ],
      },
    };
    for (const name of HANDLERS) {
      // The others resume waiting steps: X-Ray and task tokens only.
      const needs = wildcards[name] ?? { reasons: [xray, tokens], appliesTo: ['Resource::*'] };
      NagSuppressions.addResourceSuppressions(
        this.functions[name].role as iam.IRole,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason: `${needs.reasons.join('; ')}.`,
            appliesTo: needs.appliesTo,
          },
        ],
        true,
      );
    }
    NagSuppressions.addResourceSuppressions(
      this.stageStateMachine.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The workflow’s log delivery (CreateLogDelivery and the rest, CDK’s grant for Step Functions logging) and X-Ray trace writes take no resource.',
          appliesTo: ['Resource::*'],
        },
      ],
      true,
    );
    NagSuppressions.addResourceSuppressions(
      this,
      [
        {
          id: 'AwsSolutions-L1',
          reason:
            'The handlers target nodejs22.x, the runtime they are built and tested for (Powertools, middy 6, the AWS SDK); moving to a newer runtime is a deliberate upgrade, not a default.',
        },
      ],
      true,
    );
  }
}

/** A push starts one pipeline: two watching the same branch would leave one never built. */
function checkSharedSources(pipelines: readonly PipelineDefinition[]): void {
  const seen = new Map<string, string>();
  for (const p of pipelines) {
    const source = `${p.source.repository}@${p.source.branch}`;
    const other = seen.get(source);
    if (other !== undefined) {
      throw new Error(
        `Pipelines "${other}" and "${p.name}" both release ${p.source.repository} from branch ${p.source.branch}; a push starts one pipeline, so give each its own repository or branch.`,
      );
    }
    seen.set(source, p.name);
  }
}

/**
 * Two pipelines deploying the same ECS service or CodeDeploy group (a service's API and
 * its configuration) must not deploy it at the same moment: each deployment starts from
 * the service's current definition, and nothing yet serialises them. Synth says so.
 */
function warnSharedTargets(scope: Construct, pipelines: readonly PipelineDefinition[]): void {
  const owners = new Map<string, Set<string>>();
  for (const p of pipelines) {
    for (const t of p.stages.flatMap((s) => s.targets)) {
      const d = t.deployment;
      const what =
        d.kind === 'ecs-service'
          ? `ECS service ${d.cluster}/${d.service}`
          : d.kind === 'codedeploy-group'
            ? `CodeDeploy group ${d.application}/${d.deploymentGroup}`
            : null;
      if (what === null) continue;
      const key = `${what} in ${t.account}/${t.region}`;
      owners.set(key, (owners.get(key) ?? new Set()).add(p.name));
    }
  }
  const shared = [...owners].filter(([, names]) => names.size > 1);
  if (shared.length === 0) return;
  const [first, ...rest] = shared;
  Annotations.of(scope).addWarningV2(
    'release-captain:shared-targets',
    `${first?.[0]} is deployed by pipelines ${[...(first?.[1] ?? [])].join(' and ')}${rest.length > 0 ? ` (and ${rest.length} more shared targets)` : ''}. Release Captain does not yet keep two pipelines from deploying one service at the same moment; the later deployment would replace the earlier. Keep their production windows apart or give each pipeline its own service.`,
  );
}

/** Writes the pipelines' definitions as JSON files for the handler bundles. */
function renderDefinitions(pipelines: readonly PipelineDefinition[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'release-captain-pipelines-'));
  for (const pipeline of pipelines) {
    writeFileSync(join(dir, `${pipeline.name}.json`), `${JSON.stringify(pipeline, null, 2)}\n`);
  }
  return dir;
}
