import { CodeBuildClient, StartBuildCommand } from '@aws-sdk/client-codebuild';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { beforeEach, describe, expect, it } from 'vitest';
import { CodeBuildStarter } from '../../../../adapters/aws/codebuild-starter.js';
import { RetryableError, TerminalError } from '../../../../core/index.js';

expect.extend(allCustomMatcher);
const codeBuild = mockClient(CodeBuildClient);
const request = { pipeline: 'api', commit: 'b'.repeat(40), previousCommit: null, pushedBy: 'ana' };
const starter = () => new CodeBuildStarter(new CodeBuildClient({}), (p) => `release-captain-${p}`);

describe('CodeBuildStarter', () => {
  beforeEach(() => codeBuild.reset());

  it('builds the commit on the pipeline’s project with one idempotency token per commit', async () => {
    codeBuild.on(StartBuildCommand).resolves({ build: { id: 'release-captain-api:1' } });

    const first = await starter().startBuild(request);
    await starter().startBuild(request);

    expect(first).toEqual({ buildId: 'release-captain-api:1' });
    const tokens = codeBuild
      .commandCalls(StartBuildCommand)
      .map((c) => c.args[0].input.idempotencyToken);
    expect(new Set(tokens).size).toBe(1);
    expect(codeBuild).toHaveReceivedCommandWith(StartBuildCommand, {
      projectName: 'release-captain-api',
      sourceVersion: 'b'.repeat(40),
    });
  });

  it('maps throttling to RetryableError and an empty answer to TerminalError', async () => {
    codeBuild
      .on(StartBuildCommand)
      .rejectsOnce(
        Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: {} }),
      )
      .resolves({});

    await expect(starter().startBuild(request)).rejects.toThrow(RetryableError);
    await expect(starter().startBuild(request)).rejects.toThrow(TerminalError);
  });
});
