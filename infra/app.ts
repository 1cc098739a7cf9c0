/**
 * The CDK app: `npx cdk deploy` deploys the Release Captain control plane with the
 * pipelines listed here. Replace the example with your team's pipelines (subclasses of
 * `TeamPipeline`, see examples/sample-pipeline.ts).
 */
import { App, Aspects, Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SampleApi } from '../examples/sample-pipeline.js';
import { ControlPlane } from './control-plane.js';

const app = new App();
const stack = new Stack(app, 'ReleaseCaptain', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'Release Captain: the continuous-delivery control plane',
});
new ControlPlane(stack, 'ControlPlane', { pipelines: [new SampleApi().definition()] });
// Each account and Region with targets needs a DeployRoleStack (infra/deploy-role-stack.ts):
// the role the control plane assumes there, and the rule forwarding its deployment and
// alarm events. Add one per account and Region of your pipelines, e.g.
//   new DeployRoleStack(app, 'CaptainTargets-222222222222-us-east-1', {
//     env: { account: '222222222222', region: 'us-east-1' },
//     controlPlaneAccount: '111111111111', controlPlaneRegion: 'eu-west-1',
//     pipelines: [pipeline],
//   });
Aspects.of(app).add(new AwsSolutionsChecks());
