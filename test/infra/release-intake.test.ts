import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../infra/control-plane.js';
import { Pipeline, Stage } from '../../infra/pipeline.js';
import { ReleaseSource } from '../../infra/release-build.js';
import { target } from '../support/fixtures.js';

type Source = (stack: Stack) => ReleaseSource;

function pipeline(stack: Stack, name: string, repository: string, source: Source | undefined) {
  const p = new Pipeline(stack, `${name}Pipeline`, {
    name,
    source: { repository, branch: 'main' },
    ...(source === undefined ? {} : { releaseSource: source(stack) }),
  });
  new Stage(p, 'Beta', {
    targets: [target(`${name}-beta`)],
    bake: { durationSeconds: 0, minDataPoints: 0 },
  });
  return p;
}

function synth(pipelines: { name: string; repository: string; source?: Source }[]) {
  // No esbuild bundling: the handler assets are stand-ins, the template is real.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Captain', {
    env: { account: '111111111111', region: 'eu-west-1' },
  });
  const plane = new ControlPlane(stack, 'ControlPlane', {
    pipelines: pipelines.map((p) => pipeline(stack, p.name, p.repository, p.source)),
  });
  Aspects.of(app).add(new AwsSolutionsChecks());
  return { stack, plane, template: Template.fromStack(stack) };
}

const statementsOf = (template: Template, roleId: RegExp) =>
  Object.entries(template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => roleId.test(id))
    .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement);

const gitHub: Source = () => ReleaseSource.gitHub({ owner: 'acme', repo: 'api' });
const codeCommit =
  (name: string): Source =>
  (stack) =>
    ReleaseSource.codeCommit(codecommit.Repository.fromRepositoryName(stack, `${name}Repo`, name));

describe('release intake from GitHub', { timeout: 60_000 }, () => {
  const { stack, plane, template } = synth([
    { name: 'api', repository: 'acme/api', source: gitHub },
  ]);

  it('serves the webhook at a function URL with a generated secret, and says where both are', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE' });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ PasswordLength: 48 }),
    });
    const outputs = Object.keys(template.findOutputs('*'));
    expect(outputs.some((o) => o.includes('GitHubWebhookUrl'))).toBe(true);
    expect(outputs.some((o) => o.includes('GitHubWebhookSecretName'))).toBe(true);
    expect(plane.intake?.codeCommitPush).toBeUndefined();
  });

  it('lets the webhook start only the pipelines’ build projects', () => {
    const starts = statementsOf(template, /GithubWebhookRole/).filter(
      (s) => s.Action === 'codebuild:StartBuild',
    );
    expect(starts).toHaveLength(1);
    expect(JSON.stringify(starts[0].Resource)).toContain('ApiBuildProject');
  });

  it('records releases from successful builds of its projects only, with the GitHub token', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.codebuild'],
        'detail-type': ['CodeBuild Build State Change'],
        detail: { 'build-status': ['SUCCEEDED'], 'project-name': [Match.anyValue()] },
      },
      Targets: [
        Match.objectLike({
          DeadLetterConfig: Match.anyValue(),
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          SOURCE_PROVIDER: 'github',
          GITHUB_TOKEN_SECRET_NAME: 'release-captain/github-token',
        }),
      },
      Timeout: 300,
    });
    const actions = statementsOf(template, /RecordReleaseRole/).flatMap((s) => [s.Action].flat());
    expect(actions).toEqual(
      expect.arrayContaining([
        'codebuild:BatchGetBuilds',
        's3:GetObject',
        'states:StartExecution',
        'secretsmanager:GetSecretValue',
        // The first stage's take is written with a check of the meta item it read.
        'dynamodb:UpdateItem',
        'dynamodb:ConditionCheckItem',
      ]),
    );
    expect(actions.some((a) => a.startsWith('codecommit:'))).toBe(false);
    expect(actions).not.toContain('dynamodb:DeleteItem');
  });

  it('sends events whose handler fails every retry to the dead-letter queue, and alarms on it', () => {
    const configs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig'));
    // record-release only: the webhook is invoked synchronously (GitHub shows the failure).
    expect(configs).toHaveLength(1);
    expect(configs[0]?.Properties.MaximumRetryAttempts).toBe(2);
    expect(configs[0]?.Properties.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0]).toMatch(
      /IntakeDeadLetters/,
    );
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'Captain-intake-dead-letters',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
    });
  });

  it('passes cdk-nag', () => {
    const problems = [
      ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ];
    expect(problems.map((p) => p.entry.data)).toEqual([]);
  });
});

describe('release intake from CodeCommit', { timeout: 60_000 }, () => {
  const { template, plane } = synth([
    { name: 'api', repository: 'api', source: codeCommit('api') },
    { name: 'web', repository: 'web', source: codeCommit('web') },
    { name: 'docs', repository: 'docs' },
  ]);

  it('starts builds on branch pushes to the watched repositories, and has no webhook', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.codecommit'],
        'detail-type': ['CodeCommit Repository State Change'],
        resources: [Match.anyValue(), Match.anyValue()],
        detail: { event: ['referenceCreated', 'referenceUpdated'], referenceType: ['branch'] },
      },
    });
    // Only the operator API's URL, which takes signed requests only; no open webhook.
    expect(
      Object.values(template.findResources('AWS::Lambda::Url')).map((u) => u.Properties.AuthType),
    ).toEqual(['AWS_IAM']);
    // record-release and codecommit-push both dead-letter what fails.
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 2);
    expect(plane.intake?.gitHubWebhook).toBeUndefined();
    // A build per pipeline with a source; none for the pipeline without.
    expect(plane.intake?.builds.map((b) => b.node.id)).toEqual(['ApiBuild', 'WebBuild']);
  });

  it('reads history and approvals only from the watched repositories', () => {
    const reads = statementsOf(template, /RecordReleaseRole/).filter((s) =>
      [s.Action].flat().includes('codecommit:GetPullRequestApprovalStates'),
    );
    expect(reads).toHaveLength(1);
    // The approval events: without them a stale approval would count (the adapter reads them).
    expect(reads[0].Action).toContain('codecommit:DescribePullRequestEvents');
    expect(JSON.stringify(reads[0].Resource)).toMatch(/repository\/api|:api"/);
    expect(JSON.stringify(reads[0].Resource)).toMatch(/:web"/);
  });
});

describe('release intake refusals', () => {
  it('refuses pipelines that mix GitHub and CodeCommit in one control plane', () => {
    expect(() =>
      synth([
        { name: 'api', repository: 'acme/api', source: gitHub },
        { name: 'web', repository: 'web', source: codeCommit('web') },
      ]),
    ).toThrow('these pipelines mix GitHub and CodeCommit: api (github), web (codecommit)');
  });

  it('warns at synth about a pipeline no push can ever release', () => {
    const { stack } = synth([{ name: 'docs', repository: 'docs' }]);
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('has no releaseSource'),
    );
    expect(warnings).toHaveLength(1);
  });
});
