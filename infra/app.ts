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
Aspects.of(app).add(new AwsSolutionsChecks());
