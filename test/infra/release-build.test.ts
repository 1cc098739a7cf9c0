import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { parsePipelineDefinition } from '../../core/index.js';
import { ReleaseBuild, ReleaseSource } from '../../infra/release-build.js';
import { smallDefinition } from '../support/fixtures.js';

const ENV = { account: '111111111111', region: 'eu-west-1' };

function synth(repository: string, source: (stack: Stack) => ReleaseSource) {
  const app = new App();
  const stack = new Stack(app, 'Build', { env: ENV });
  const bucket = new s3.Bucket(stack, 'Artifacts', {
    enforceSSL: true,
    serverAccessLogsPrefix: 'logs/',
  });
  const pipeline = parsePipelineDefinition({
    ...smallDefinition(),
    source: { repository, branch: 'main' },
  });
  const build = new ReleaseBuild(stack, 'ApiBuild', {
    pipeline,
    source: source(stack),
    artifacts: bucket,
    projectName: 'Captain-build-api',
  });
  Aspects.of(app).add(new AwsSolutionsChecks());
  return { stack, build, template: Template.fromStack(stack) };
}

describe('ReleaseBuild', () => {
  const { stack, template } = synth('acme/api', () =>
    ReleaseSource.gitHub({ owner: 'acme', repo: 'api' }),
  );

  it('keeps images in a repository with immutable tags, scanned on push', () => {
    template.hasResourceProperties('AWS::ECR::Repository', {
      ImageTagMutability: 'IMMUTABLE',
      ImageScanningConfiguration: { ScanOnPush: true },
    });
  });

  it('lets the target accounts pull the images, and nobody else', () => {
    const [repository] = Object.values(template.findResources('AWS::ECR::Repository'));
    const statements = repository?.Properties.RepositoryPolicyText.Statement;
    expect(statements).toHaveLength(1);
    expect([...statements[0].Action].sort()).toEqual([
      'ecr:BatchCheckLayerAvailability',
      'ecr:BatchGetImage',
      'ecr:GetDownloadUrlForLayer',
    ]);
    expect(JSON.stringify(statements[0].Principal)).toContain('123456789012');
  });

  it('builds the pushed commit from GitHub without a webhook of its own, exporting the manifest key', () => {
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Name: 'Captain-build-api',
      Source: Match.objectLike({ Type: 'GITHUB', Location: 'https://github.com/acme/api.git' }),
      Triggers: { Webhook: false },
      Environment: Match.objectLike({ PrivilegedMode: true }),
    });
    const [project] = Object.values(template.findResources('AWS::CodeBuild::Project'));
    const spec = JSON.parse(project?.Properties.Source.BuildSpec);
    expect(spec.env['exported-variables']).toEqual(['RELEASE_CAPTAIN_MANIFEST_KEY']);
    // What the commands do is tested by running them (release-buildspec.test.ts).
    expect(spec.phases.build.commands).toHaveLength(1);
    expect(project?.Properties.Environment.Image).toBe('aws/codebuild/standard:7.0');
  });

  it('may write manifests only under the pipeline’s own prefix', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement,
    );
    const puts = statements.filter((s) => s.Action === 's3:PutObject');
    expect(puts).toHaveLength(1);
    expect(JSON.stringify(puts[0].Resource)).toContain('/artifacts/api/manifests/*');
    expect(statements.some((s) => s.Action === '*' || s.Action === 's3:*')).toBe(false);
  });

  it('passes cdk-nag with reasons for what it suppresses', () => {
    const problems = [
      ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ];
    expect(problems.map((p) => p.entry.data)).toEqual([]);
  });

  it('builds from CodeCommit too', () => {
    const { template: fromCodeCommit } = synth('api', (s) =>
      ReleaseSource.codeCommit(codecommit.Repository.fromRepositoryName(s, 'Repo', 'api')),
    );
    fromCodeCommit.hasResourceProperties('AWS::CodeBuild::Project', {
      Source: Match.objectLike({ Type: 'CODECOMMIT' }),
    });
  });

  it('refuses a source other than the one the definition watches, and bad GitHub names', () => {
    expect(() =>
      synth('acme/api', () => ReleaseSource.gitHub({ owner: 'acme', repo: 'web' })),
    ).toThrow(
      'ReleaseBuild of api: the source is acme/web but the pipeline\'s definition watches acme/api; make them the same repository (on GitHub, name it "owner/repo" in the definition).',
    );
    expect(() => ReleaseSource.gitHub({ owner: 'acme', repo: 'a b' })).toThrow(
      'ReleaseSource.gitHub: repo "a b" is not a GitHub repo name',
    );
  });
});
