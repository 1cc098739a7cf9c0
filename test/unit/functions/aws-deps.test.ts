import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

describe('the handlers’ AWS wiring, as the operator API reads it', () => {
  let dir: string | undefined;
  afterAll(async () => {
    vi.unstubAllEnvs();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('links executions to the Step Functions console and lists the bundled pipelines', async () => {
    dir = await mkdtemp(join(tmpdir(), 'captain-definitions-'));
    await writeFile(join(dir, 'web.json'), '{}');
    await writeFile(join(dir, 'api.json'), '{}');
    await writeFile(join(dir, 'README.txt'), 'not a definition');
    vi.stubEnv('TABLE_NAME', 'release-captain');
    vi.stubEnv('EVENT_BUS_NAME', 'release-captain');
    vi.stubEnv(
      'STAGE_STATE_MACHINE_ARN',
      'arn:aws:states:eu-west-1:111111111111:stateMachine:Captain-stage',
    );
    vi.stubEnv('ARTIFACT_BUCKET', 'artifacts');
    vi.stubEnv('PIPELINE_DEFINITIONS_DIR', dir);
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.resetModules();
    const { awsDeps } = await import('../../../functions/lib/aws-deps.js');

    const deps = await awsDeps();

    expect(deps.pipelines()).toEqual(['api', 'web']);
    expect(deps.executionLink('api_gamma_r42-1')).toBe(
      'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:111111111111:execution:Captain-stage:api_gamma_r42-1',
    );
  });
});
