import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../infra/control-plane.js';
import { smallDefinition } from '../support/fixtures.js';

/** Asset hashes change with every handler edit; the snapshot is about the resources. */
function scrub(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value)
      .replace(/[0-9a-f]{64}(\.zip)?/g, '[asset-hash]')
      .replace(/cdk-hnb659fds-assets-[^"]*/g, '[asset-bucket]'),
  );
}

describe('the control plane template', () => {
  it('matches the reviewed snapshot (update with `npx vitest run -u` after a deliberate change)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Captain', {
      env: { account: '111111111111', region: 'eu-west-1' },
    });
    new ControlPlane(stack, 'ControlPlane', { pipelines: [smallDefinition()] });

    expect(scrub(Template.fromStack(stack).toJSON())).toMatchSnapshot();
  });
});
