import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { EventLog, Notifications, PipelineDashboard } from '../../infra/observability.js';
import { smallDefinition } from '../support/fixtures.js';

function synth() {
  const app = new App();
  const stack = new Stack(app, 'Views', { env: { account: '111111111111', region: 'eu-west-1' } });
  const bus = new events.EventBus(stack, 'Bus');
  const eventLog = new EventLog(stack, 'EventLog', { bus });
  new Notifications(stack, 'Alerts', { bus, pipelines: ['api'] });
  const stateMachine = sfn.StateMachine.fromStateMachineName(stack, 'Workflow', 'Views-stage');
  const handlerLogs = logs.LogGroup.fromLogGroupName(stack, 'HandlerLogs', 'advance-target');
  new PipelineDashboard(stack, 'Dashboard', {
    pipeline: smallDefinition(),
    eventLog: eventLog.logGroup,
    stateMachine,
    handlerLogs: [handlerLogs],
  });
  Aspects.of(app).add(new AwsSolutionsChecks());
  return { stack, template: Template.fromStack(stack) };
}

describe('observability', () => {
  const { stack, template } = synth();

  it('keeps every Release Captain event in a log group', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['release-captain'] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':log-group:$')])] },
        }),
      ],
    });
    const [policy] = Object.values(template.findResources('AWS::Logs::ResourcePolicy'));
    const document = JSON.stringify(policy?.Properties.PolicyDocument);
    expect(document).toContain('events.amazonaws.com');
    expect(document).toContain('logs:PutLogEvents');
  });

  it('sends the chosen pipelines’ alarming events to an encrypted, TLS-only topic', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['release-captain'],
        'detail-type': [
          'Release Blocked',
          'Deployment Failed',
          'Rollback Started',
          'Rollback Completed',
          'Promotions Disabled',
        ],
        detail: { pipeline: ['api'] },
      },
    });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    // EventBridge may use the key, or its publishes would fail silently.
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'events.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
  });

  it('refuses a notification rule that could never fire', () => {
    const stack = new Stack();
    const bus = new events.EventBus(stack, 'Bus');
    expect(() => new Notifications(stack, 'None', { bus, eventTypes: [] })).toThrow(
      'Notifications: eventTypes is empty',
    );
  });

  it('builds one dashboard per pipeline that queries only that pipeline’s events', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]?.Properties.DashboardBody);
    expect(body).toContain('filter detail.pipeline = \\\\\\"api\\\\\\"');
    expect(body).toContain('# Release Captain: api');
    expect(body).toContain('ExecutionsFailed');
    expect(body).toContain('StepTerminalError');
  });

  it('passes cdk-nag', () => {
    const problems = [
      ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ];
    expect(problems.map((p) => p.entry.data)).toEqual([]);
  });
});
