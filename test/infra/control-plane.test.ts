import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { parsePipelineDefinition } from '../../core/index.js';
import { ControlPlane } from '../../infra/control-plane.js';
import { smallDefinition, stage, target } from '../support/fixtures.js';

interface Resource {
  readonly Type: string;
  readonly Metadata?: { readonly cdk_nag?: { readonly rules_to_suppress?: { id: string }[] } };
}

function synth() {
  // No esbuild bundling in unit tests: the assets are stand-ins, the template is real.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Captain', {
    env: { account: '111111111111', region: 'eu-west-1' },
  });
  const plane = new ControlPlane(stack, 'ControlPlane', { pipelines: [smallDefinition()] });
  Aspects.of(app).add(new AwsSolutionsChecks());
  const template = Template.fromStack(stack);
  return { app, stack, plane, template };
}

describe('ControlPlane', { timeout: 60_000 }, () => {
  const { stack, template } = synth();

  it('keeps the promotion state in one on-demand table with recovery, encryption and TTL', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        }),
      ],
    });
  });

  it('runs the stage workflow from statemachines/stage.asl.json with every placeholder substituted', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'Captain-stage',
      DefinitionSubstitutions: {
        AdvanceTargetFunctionArn: Match.anyValue(),
        AdvanceStageFunctionArn: Match.anyValue(),
        AwaitEventFunctionArn: Match.anyValue(),
        FailRunFunctionArn: Match.anyValue(),
      },
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
    });
  });

  it('deploys each handler on Node 22, ARM, traced, with a timeout below the workflow’s', () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Runtime: 'nodejs22.x' },
    });
    expect(Object.keys(functions)).toHaveLength(8);
    for (const fn of Object.values(functions)) {
      expect(fn.Properties).toMatchObject({
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Timeout: 60,
      });
    }
  });

  it('gives no handler a wildcard action, and a wildcard resource only where AWS has no narrower one', () => {
    const allowedOnAnyResource = new Set([
      'states:SendTaskSuccess',
      'states:SendTaskFailure',
      'cloudwatch:DescribeAlarms',
      'cloudwatch:DescribeAlarmHistory',
      'cloudwatch:GetMetricData',
      'ecr:DescribeImages',
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
      'xray:GetSamplingRules',
      'xray:GetSamplingTargets',
      // Step Functions' log delivery to CloudWatch Logs takes no resource (AWS docs).
      'logs:CreateLogDelivery',
      'logs:GetLogDelivery',
      'logs:UpdateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:DescribeResourcePolicies',
      'logs:DescribeLogGroups',
    ]);
    const policies = template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap(
      (p) =>
        p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
    expect(statements.length).toBeGreaterThan(10);
    for (const statement of statements) {
      const actions = [statement.Action].flat();
      for (const action of actions)
        expect(action, JSON.stringify(statement)).not.toMatch(/(^\*$|:\*$)/);
      if (statement.Resource === '*') {
        for (const action of actions) expect(allowedOnAnyResource, action).toContain(action);
      }
    }
  });

  it('serves the operator API on a function URL only signed requests reach, with a policy for operators', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('OperatorApi'), 'Arn'] },
    });
    const operators = Object.values(template.findResources('AWS::IAM::ManagedPolicy'));
    expect(operators).toHaveLength(1);
    const statements = operators[0]?.Properties.PolicyDocument.Statement;
    expect(statements).toEqual([
      expect.objectContaining({
        Action: 'lambda:InvokeFunctionUrl',
        Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      }),
      // Direct invocation could forge the caller the audit log names: only through the URL.
      expect.objectContaining({
        Action: 'lambda:InvokeFunction',
        Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
      }),
      expect.objectContaining({ Action: 'cloudformation:DescribeStacks' }),
    ]);
    // Operators' polling can never take the concurrency a rollback's handlers need.
    const api = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (f) => f.Properties.ReservedConcurrentExecutions !== undefined,
    );
    expect(api?.Properties.ReservedConcurrentExecutions).toBe(5);
    const outputs = template.findOutputs('*');
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['OperatorApiUrl', 'OperatorsPolicyArn']),
    );
  });

  it('lets every role that writes the promotion state check the items a decision read', () => {
    // TransactWriteItems authorises each of its actions: the Update as UpdateItem, each
    // ConditionCheck as ConditionCheckItem. Without the second a decision fails in AWS.
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[] }[],
    );
    const writers = statements.filter((s) => [s.Action].flat().includes('dynamodb:UpdateItem'));
    expect(writers.length).toBeGreaterThan(0);
    for (const writer of writers) {
      expect([writer.Action].flat()).toContain('dynamodb:ConditionCheckItem');
    }
  });

  it('lets handlers delete only wake registrations, and the operator API only succeed task tokens', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        p.Properties.PolicyDocument.Statement as {
          Action: string | string[];
          Condition?: unknown;
        }[],
    );
    const deletes = statements.filter((s) => [s.Action].flat().includes('dynamodb:DeleteItem'));
    expect(deletes.length).toBe(5);
    for (const d of deletes) {
      expect(d).toMatchObject({
        Action: 'dynamodb:DeleteItem',
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['WAKE#*'] } },
      });
    }
    const operatorPolicy = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) =>
      id.startsWith('ControlPlaneOperatorApiRole'),
    )?.[1];
    if (operatorPolicy === undefined) throw new Error('no policy for the operator API role');
    const actions = (
      operatorPolicy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]
    ).flatMap((s) => [s.Action].flat());
    expect(actions).toContain('states:SendTaskSuccess');
    expect(actions).not.toContain('states:SendTaskFailure');
  });

  it('passes cdk-nag AwsSolutions with every finding either fixed or acknowledged with a reason', () => {
    const errors = Annotations.fromStack(stack).findError(
      '*',
      Match.stringLikeRegexp('AwsSolutions-.*'),
    );
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('AwsSolutions-.*'),
    );
    expect(errors.map((e) => `${e.id}: ${e.entry.data}`)).toEqual([]);
    expect(warnings.map((e) => `${e.id}: ${e.entry.data}`)).toEqual([]);
  });

  it('acknowledges IAM wildcards only on the roles that hold them, not on everything in the control plane', () => {
    const suppressing = Object.entries(template.toJSON().Resources as Record<string, Resource>)
      .filter(([, r]) =>
        (r.Metadata?.cdk_nag?.rules_to_suppress ?? []).some(
          (rule) => rule.id === 'AwsSolutions-IAM5',
        ),
      )
      .map(([id, r]) => [id.replace(/[0-9A-F]{8}$/, ''), r.Type] as const);

    expect(new Set(suppressing.map(([, type]) => type))).toEqual(
      new Set(['AWS::IAM::Role', 'AWS::IAM::Policy']),
    );
    expect(suppressing.map(([id]) => id).filter((id) => id.endsWith('Policy'))).toEqual(
      expect.arrayContaining([
        'ControlPlaneAdvanceTargetRoleDefaultPolicy',
        'ControlPlaneReconcileRoleDefaultPolicy',
        'ControlPlaneStageWorkflowRoleDefaultPolicy',
      ]),
    );
  });

  it('accepts the deployment and alarm events forwarded from the target accounts', () => {
    template.hasResourceProperties('AWS::Events::EventBusPolicy', {
      EventBusName: 'default',
      Statement: Match.objectLike({
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Principal: {
          AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::123456789012:root']] },
        },
      }),
    });
  });

  it('refuses two pipelines released from the same branch: a push starts only one', () => {
    const stack2 = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    expect(
      () =>
        new ControlPlane(stack2, 'C', {
          pipelines: [smallDefinition(), smallDefinition({ name: 'api-copy' })],
        }),
    ).toThrow(
      'Pipelines "api" and "api-copy" both release api from branch main; a push starts one pipeline, so give each its own repository or branch.',
    );
  });

  it('warns at synth when two pipelines deploy the same service', () => {
    const app2 = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack2 = new Stack(app2, 'S', { env: { account: '111111111111', region: 'eu-west-1' } });
    const ecs = (name: string, container: string) =>
      parsePipelineDefinition({
        ...smallDefinition(),
        name,
        source: { repository: name, branch: 'main' },
        stages: [
          stage('beta', null, {
            targets: [
              target(`${name}-beta`, {
                deployment: { kind: 'ecs-service', cluster: 'api', service: 'api', container },
              }),
            ],
          }),
        ],
      });
    new ControlPlane(stack2, 'C', { pipelines: [ecs('api', 'api'), ecs('api-config', 'config')] });
    const warnings = Annotations.fromStack(stack2).findWarning(
      '*',
      Match.stringLikeRegexp('is deployed by pipelines api and api-config'),
    );
    expect(warnings).toHaveLength(1);
    expect(
      Annotations.fromStack(synth().stack).findWarning(
        '*',
        Match.stringLikeRegexp('deployed by pipelines'),
      ),
    ).toEqual([]);
  });

  it('refuses a control plane without pipelines, or with two of the same name', () => {
    const stack2 = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    expect(() => new ControlPlane(stack2, 'A', { pipelines: [] })).toThrow('at least one pipeline');
    expect(
      () => new ControlPlane(stack2, 'B', { pipelines: [smallDefinition(), smallDefinition()] }),
    ).toThrow('two pipelines named "api"');
  });
});
