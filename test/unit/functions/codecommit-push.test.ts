import { describe, expect, it } from 'vitest';
import { TerminalError } from '../../../core/index.js';
import { codeCommitPushes } from '../../support/source-events.js';

const sha = (c: string) => c.repeat(40);

/** A CodeCommit "Repository State Change" event: a push of `c` onto main of `api`. */
const change = (detail: Record<string, unknown> = {}) => ({
  version: '0',
  'detail-type': 'CodeCommit Repository State Change',
  source: 'aws.codecommit',
  resources: ['arn:aws:codecommit:eu-west-1:123456789012:api'],
  detail: {
    event: 'referenceUpdated',
    repositoryName: 'api',
    repositoryId: '12345678-1234-1234-1234-123456789012',
    referenceType: 'branch',
    referenceName: 'main',
    referenceFullName: 'refs/heads/main',
    commitId: sha('c'),
    oldCommitId: sha('b'),
    callerUserArn: 'arn:aws:sts::123456789012:assumed-role/Developer/ana',
    ...detail,
  },
});

const pushes = codeCommitPushes;

describe('codecommit-push', () => {
  it('starts one build of the pushed commit for a push to the watched branch', async () => {
    const { builds, deliver } = pushes();

    const result = await deliver(change());

    expect(builds).toEqual([
      { pipeline: 'api', commit: sha('c'), previousCommit: sha('b'), pushedBy: 'ana' },
    ]);
    expect(result).toMatchObject({ pipeline: 'api', buildId: 'rc-api:1' });
  });

  it('builds a newly created watched branch with no previous commit', async () => {
    const { builds, deliver } = pushes();

    await deliver(
      change({
        event: 'referenceCreated',
        oldCommitId: undefined,
        callerUserArn: 'arn:aws:iam::123456789012:user/bo',
      }),
    );

    expect(builds).toEqual([
      { pipeline: 'api', commit: sha('c'), previousCommit: null, pushedBy: 'bo' },
    ]);
  });

  it.each([
    {
      name: 'another branch',
      detail: { referenceName: 'feature', referenceFullName: 'refs/heads/feature' },
      reason: 'A push to refs/heads/feature is not watched; api releases from main.',
    },
    {
      name: 'another repository',
      detail: { repositoryName: 'web' },
      reason: 'No pipeline watches repository web.',
    },
    {
      name: 'a tag',
      detail: { referenceType: 'tag', referenceName: 'main', referenceFullName: 'refs/tags/main' },
      reason: 'tag main of api is not a branch; releases are built from branches only.',
    },
    {
      name: 'a deleted branch',
      detail: { event: 'referenceDeleted', commitId: undefined },
      reason: 'referenceDeleted of branch main of api starts no build; only a push does.',
    },
  ])('starts nothing for $name, and says why', async ({ detail, reason }) => {
    const { builds, deliver } = pushes();

    const result = await deliver(change(detail));

    expect(result).toEqual({ ignored: reason });
    expect(builds).toEqual([]);
  });

  it('refuses an event that is not a reference change as a terminal error', async () => {
    const { builds, deliver } = pushes();

    await expect(deliver(change({ repositoryName: undefined }))).rejects.toThrow(TerminalError);
    await expect(
      deliver({ ...change(), 'detail-type': 'CodeCommit Pull Request State Change' }),
    ).rejects.toThrow(TerminalError);
    expect(builds).toEqual([]);
  });
});
