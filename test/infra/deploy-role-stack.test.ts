import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { parsePipelineDefinition } from '../../core/index.js';
import { DeployRoleStack } from '../../infra/deploy-role-stack.js';
import { smallDefinition, stage, target } from '../support/fixtures.js';

const PROD = { account: '222222222222', region: 'us-east-1' };
const definition = parsePipelineDefinition({
  ...smallDefinition(),
  stages: [
    stage('beta', null, {
      targets: [
        target('beta-ecs', {
          ...PROD,
          deployment: {
            kind: 'ecs-service',
            cluster: 'main',
            service: 'api',
            taskRole: 'api-task',
            executionRole: 'arn:aws:iam::222222222222:role/service-role/api-execution',
          },
        }),
        target('beta-bluegreen', {
          ...PROD,
          deployment: {
            kind: 'codedeploy-group',
            application: 'api',
            deploymentGroup: 'beta-bg',
            platform: 'ecs',
            taskRole: 'api-task',
          },
        }),
      ],
    }),
    stage('gamma', 'beta', {
      targets: [
        target('gamma-cd', {
          ...PROD,
          deployment: {
            kind: 'codedeploy-group',
            application: 'api',
            deploymentGroup: 'gamma',
            platform: 'server',
          },
        }),
        target('elsewhere', { account: '333333333333', region: 'us-east-1' }),
      ],
    }),
  ],
});

function synth(overrides: Partial<ConstructorParameters<typeof DeployRoleStack>[2]> = {}) {
  const app = new App();
  const stack = new DeployRoleStack(app, 'CaptainDeployRole', {
    env: PROD,
    controlPlaneAccount: '111111111111',
    controlPlaneRegion: 'eu-west-1',
    pipelines: [definition],
    ...overrides,
  });
  Aspects.of(app).add(new AwsSolutionsChecks());
  return { stack, template: Template.fromStack(stack) };
}

describe('DeployRoleStack', () => {
  const { stack, template } = synth();

  it('lets only the control plane’s advance-target and advance-stage roles assume it', () => {
    const roles = Object.values(
      template.findResources('AWS::IAM::Role', {
        Properties: { RoleName: 'release-captain-deployer' },
      }),
    );
    expect(roles).toHaveLength(1);
    const trust = roles[0]?.Properties.AssumeRolePolicyDocument.Statement;
    expect(trust).toHaveLength(1);
    const json = JSON.stringify(trust);
    expect(json).toContain(':iam::111111111111:root');
    expect(json).toContain('ArnEquals');
    expect(json).toContain(':iam::111111111111:role/ReleaseCaptain-advance-target');
    expect(json).toContain(':iam::111111111111:role/ReleaseCaptain-advance-stage');
  });

  it('scopes service actions to this account’s targets, and no action is a wildcard', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
    const byAction = (action: string) => statements.find((s) => [s.Action].flat().includes(action));
    expect(JSON.stringify(byAction('ecs:UpdateService')?.Resource)).toContain(':service/main/api');
    expect(JSON.stringify(byAction('codedeploy:CreateDeployment')?.Resource)).toContain(
      ':deploymentgroup:api/gamma',
    );
    for (const s of statements)
      for (const a of [s.Action].flat()) expect(a).not.toMatch(/(^\*$|:\*$)/);
  });

  it('passes only the task and execution roles the targets declare, and only to ECS tasks', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        p.Properties.PolicyDocument.Statement as {
          Action: string | string[];
          Resource: unknown;
          Condition?: unknown;
        }[],
    );
    const passing = statements.filter((s) => [s.Action].flat().includes('iam:PassRole'));

    expect(passing).toHaveLength(1);
    expect(passing[0]?.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
    expect([passing[0]?.Resource].flat().map((r) => JSON.stringify(r).replace(/"/g, ''))).toEqual([
      expect.stringMatching(/:iam::222222222222:role\/api-task/),
      'arn:aws:iam::222222222222:role/service-role/api-execution',
    ]);
    // The blue/green group copies its service's task definition too.
    expect(
      statements.some(
        (s) =>
          [s.Action].flat().includes('ecs:RegisterTaskDefinition') &&
          [s.Action].flat().includes('ecs:TagResource'),
      ),
    ).toBe(true);
  });

  it('may pass no role at all when no target declares one', () => {
    const bare = parsePipelineDefinition({
      ...smallDefinition(),
      stages: [
        stage('beta', null, {
          targets: [
            target('beta-ecs', {
              ...PROD,
              deployment: { kind: 'ecs-service', cluster: 'main', service: 'api' },
            }),
          ],
        }),
      ],
    });

    const policies = JSON.stringify(synth({ pipelines: [bare] }).template.toJSON());

    expect(policies).toContain('ecs:RegisterTaskDefinition');
    expect(policies).not.toContain('iam:PassRole');
  });

  it('forwards deployment and alarm events to the control plane’s bus', () => {
    const rules = Object.values(template.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties.EventPattern.source).toEqual([
      'aws.codedeploy',
      'aws.ecs',
      'aws.cloudwatch',
    ]);
    expect(JSON.stringify(rules[0]?.Properties.Targets)).toContain(
      ':events:eu-west-1:111111111111:event-bus/default',
    );
  });

  it('passes cdk-nag AwsSolutions with every finding fixed or acknowledged with a reason', () => {
    const found = [
      ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ];
    expect(found.map((e) => `${e.id}: ${e.entry.data}`)).toEqual([]);
  });

  it('refuses an account with no targets, and a control plane account that is not an id', () => {
    expect(() => synth({ env: { account: '444444444444', region: 'us-east-1' } })).toThrow(
      'No target of the given pipelines lives in 444444444444/us-east-1',
    );
    expect(() => synth({ controlPlaneAccount: 'tooling' })).toThrow(
      'controlPlaneAccount must be a 12-digit AWS account id, got "tooling"',
    );
  });
});
