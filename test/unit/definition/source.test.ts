import { describe, expect, it } from 'vitest';
import { parsePipelineDefinition, pipelineForPush } from '../../../core/index.js';
import { smallDefinition } from '../../support/fixtures.js';

const api = smallDefinition();
const apiConfig = parsePipelineDefinition({
  ...smallDefinition(),
  name: 'api-config',
  source: { repository: 'api', branch: 'config' },
});

describe('pipelineForPush', () => {
  it.each([
    { repository: 'acme/api', ref: 'refs/heads/main', expected: 'api' },
    { repository: 'api', ref: 'refs/heads/main', expected: 'api' },
    { repository: 'acme/api', ref: 'refs/heads/config', expected: 'api-config' },
  ])('a push to $repository $ref starts $expected', ({ repository, ref, expected }) => {
    const chosen = pipelineForPush([api, apiConfig], repository, ref);
    expect('pipeline' in chosen && chosen.pipeline.name).toBe(expected);
  });

  it.each([
    {
      repository: 'acme/api',
      ref: 'refs/heads/feature',
      ignored: 'A push to refs/heads/feature is not watched; acme/api releases from main, config.',
    },
    {
      repository: 'acme/web',
      ref: 'refs/heads/main',
      ignored: 'No pipeline watches repository acme/web.',
    },
    {
      repository: 'acme/my-api',
      ref: 'refs/heads/main',
      ignored: 'No pipeline watches repository acme/my-api.',
    },
    {
      repository: 'acme/api',
      ref: 'refs/tags/main',
      ignored: 'A push to refs/tags/main is not watched; acme/api releases from main, config.',
    },
  ])('a push to $repository $ref starts nothing', ({ repository, ref, ignored }) => {
    expect(pipelineForPush([api, apiConfig], repository, ref)).toEqual({ ignored });
  });
});
