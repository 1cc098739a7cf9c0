/**
 * The CDK app: the Release Captain control plane with the pipelines listed here, and a
 * stack per target account and Region. Replace the example with your team's pipelines
 * (`Pipeline` constructs, built from subclasses of `TeamPipeline`, see
 * examples/sample-pipeline.ts) and your accounts.
 *
 * `npx cdk deploy ReleaseCaptain` deploys the control plane into the account and Region of
 * your credentials (or `-c controlPlaneAccount=… -c controlPlaneRegion=…`);
 * `npx cdk deploy 'ReleaseCaptainTargets-*'` the target stacks, each into its account.
 */
import { App, Aspects, Stack } from 'aws-cdk-lib';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SampleApi, SampleApiConfig } from '../examples/sample-pipeline.js';
import { sampleTargetStacks } from '../examples/sample-target-stacks.js';
import { ControlPlane } from './control-plane.js';
import { Notifications } from './observability.js';
import { Pipeline } from './pipeline.js';
import { ReleaseSource } from './release-build.js';

const app = new App();
const account: string | undefined =
  app.node.tryGetContext('controlPlaneAccount') ?? process.env.CDK_DEFAULT_ACCOUNT;
const region: string | undefined =
  app.node.tryGetContext('controlPlaneRegion') ?? process.env.CDK_DEFAULT_REGION;
const stack = new Stack(app, 'ReleaseCaptain', {
  env: { account, region },
  description: 'Release Captain: the continuous-delivery control plane',
});

// One service, two pipelines: its API and its configuration, with the same safety steps.
// Pushes to their CodeCommit repositories become releases (ReleaseSource.gitHub for GitHub).
const repository = (name: string) =>
  ReleaseSource.codeCommit(codecommit.Repository.fromRepositoryName(stack, `${name}-repo`, name));
const api = new Pipeline(stack, 'ApiPipeline', {
  teamPipeline: new SampleApi(),
  releaseSource: repository('api'),
});
const apiConfig = new Pipeline(stack, 'ApiConfigPipeline', {
  teamPipeline: new SampleApiConfig(),
  releaseSource: repository('api-config'),
});
const controlPlane = new ControlPlane(stack, 'ControlPlane', { pipelines: [api, apiConfig] });
// An example of acting on events: subscribe e-mail or chat to this topic.
new Notifications(stack, 'Notifications', { bus: controlPlane.bus });

// The target accounts' stacks need to know where the control plane runs.
if (account !== undefined && region !== undefined) {
  sampleTargetStacks(app, {
    pipelines: [api.definition, apiConfig.definition],
    controlPlaneAccount: account,
    controlPlaneRegion: region,
  });
}
Aspects.of(app).add(new AwsSolutionsChecks());
