import { createHash } from 'node:crypto';
import { BatchGetBuildsCommand, CodeBuildClient } from '@aws-sdk/client-codebuild';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  NoSuchKey,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CodeCommitSourceHistory } from '../../../adapters/aws/codecommit-history.js';
import { GitHubSourceHistory } from '../../../adapters/aws/github-history.js';
import {
  type ArtifactManifest,
  type Commit,
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemorySourceHistory,
  InMemoryWorkflowStarter,
  ManualClock,
  NotFoundError,
  PromotionService,
  RecordingEventPublisher,
  ReleaseRecorder,
  RetryableError,
  TerminalError,
  Topology,
} from '../../../core/index.js';
import {
  awsRecordReleaseDeps,
  codeBuildLookup,
  s3ManifestReader,
  sourceHistory,
} from '../../../functions/lib/source-deps.js';
import {
  createRecordReleaseHandler,
  type FinishedBuild,
} from '../../../functions/record-release.js';
import { smallDefinition, T0 } from '../../support/fixtures.js';

expect.extend(allCustomMatcher);
const context = {
  functionName: 'record-release',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 1000,
} as Context;
const sha = (c: string) => c.repeat(40);
const commit = (c: string, reviewed = true): Commit => ({
  sha: sha(c),
  author: 'ana',
  message: `change ${c}`,
  review: reviewed ? { pullRequest: `acme/api#${c}`, approvedBy: ['bo'] } : null,
});
const manifest = (digest: string): ArtifactManifest => ({
  images: [{ name: 'api', repository: 'api', digest: `sha256:${digest.repeat(64)}` }],
  files: [],
  dependencies: [{ name: 'zod', version: '4.6.7' }],
});
/** The event of a succeeded build in `project` (release-build projects are `rc-<pipeline>`). */
const event = (buildId: string, project = 'rc-api') => ({
  version: '0',
  'detail-type': 'CodeBuild Build State Change',
  source: 'aws.codebuild',
  detail: { 'build-status': 'SUCCEEDED', 'build-id': buildId, 'project-name': project },
});

/** main: a ← b (pushed without review) ← c ← d (its tip); feature: e, off c. */
function world() {
  const history = new InMemorySourceHistory();
  history.commit('api', commit('a'), []);
  history.commit('api', commit('b', false), [sha('a')]);
  history.commit('api', commit('c'), [sha('b')]);
  history.commit('api', commit('d'), [sha('c')]);
  history.commit('api', commit('e'), [sha('c')]);
  history.branch('api', 'main', sha('d'));
  history.branch('api', 'feature', sha('e'));
  const releases = new InMemoryReleaseStore();
  const events = new RecordingEventPublisher();
  const clock = new ManualClock(T0);
  const service = new PromotionService(new Topology(smallDefinition()), {
    promotions: new InMemoryPromotionStore(),
    releases,
    deployments: new InMemoryDeploymentLog(),
    audit: new InMemoryAuditLog(),
    events,
    workflows: new InMemoryWorkflowStarter(),
    clock,
  });
  const recorder = new ReleaseRecorder(
    service,
    { releases, history, clock },
    { repository: 'api', branch: 'main' },
  );
  const builds = new Map<string, FinishedBuild>();
  const objects = new Map<string, Uint8Array>();
  const reads: string[] = [];

  /** A build of `head` that stored `bytes` (the manifest) under `key`. */
  const build = (
    id: string,
    head: string,
    content: ArtifactManifest | string = manifest(head),
    overrides: Partial<FinishedBuild> = {},
  ) => {
    const bytes = new TextEncoder().encode(
      typeof content === 'string' ? content : JSON.stringify(content),
    );
    const digest = createHash('sha256').update(bytes).digest('hex');
    const key = `artifacts/${overrides.pipeline ?? 'api'}/manifests/${digest}.json`;
    objects.set(key, bytes);
    builds.set(id, {
      buildId: id,
      status: 'SUCCEEDED',
      pipeline: 'api',
      commit: sha(head),
      manifestKey: key,
      ...overrides,
    });
    return key;
  };
  const handler = createRecordReleaseHandler(async () => ({
    projectPrefix: 'rc',
    builds: {
      getBuild: async (id) => {
        const found = builds.get(id);
        if (found === undefined) throw new NotFoundError(`no build ${id}`);
        return found;
      },
    },
    manifests: {
      read: async (key) => {
        reads.push(key);
        const bytes = objects.get(key);
        if (bytes === undefined) throw new NotFoundError(`no object ${key}`);
        return bytes;
      },
    },
    recorder: async (pipeline) => {
      if (pipeline !== 'api') throw new NotFoundError(`No definition of pipeline ${pipeline}.`);
      return recorder;
    },
  }));
  const record = (buildId: string, project?: string) => handler(event(buildId, project), context);
  const created = () =>
    events.events.filter((e) => e.type === 'Release Created').map((e) => e.detail.release);
  return { build, objects, record, releases, created, reads };
}

describe('record-release', () => {
  it('records r1 from a good manifest and announces it', async () => {
    const { build, record, releases, created } = world();
    build('rc-api:1', 'c');

    const result = await record('rc-api:1');

    expect(result).toEqual({
      pipeline: 'api',
      buildId: 'rc-api:1',
      commit: sha('c'),
      release: 'r1',
      created: true,
    });
    expect(await releases.getRelease('api', 1)).toEqual({
      pipeline: 'api',
      number: 1,
      headCommit: sha('c'),
      commits: [commit('c')],
      artifacts: manifest('c'),
      createdAt: T0,
    });
    expect(created()).toEqual([1]);
  });

  it('records one release for the same build delivered twice', async () => {
    const { build, record, releases, created } = world();
    build('rc-api:1', 'c');

    await record('rc-api:1');
    const again = await record('rc-api:1');

    expect(again).toMatchObject({ release: 'r1', created: false });
    expect(await releases.listReleases('api', { limit: 10 })).toHaveLength(1);
    expect(created()).toEqual([1]);
  });

  it('refuses a manifest whose bytes do not hash to its key, and records nothing', async () => {
    const { build, objects, record, releases, created } = world();
    const key = build('rc-api:1', 'c');
    objects.set(key, new TextEncoder().encode(JSON.stringify(manifest('e'))));

    const failure = record('rc-api:1');

    await expect(failure).rejects.toThrow(TerminalError);
    await expect(failure).rejects.toThrow(/has sha256 [0-9a-f]{64}, not the one its key names/);
    expect(await releases.listReleases('api', { limit: 10 })).toEqual([]);
    expect(created()).toEqual([]);
  });

  it('skips an older commit whose build finishes after a newer one’s', async () => {
    const { build, record, releases, created } = world();
    build('rc-api:2', 'd');
    build('rc-api:1', 'c');
    await record('rc-api:2');

    const late = await record('rc-api:1');

    expect(late).toMatchObject({ skipped: expect.stringMatching(/already part of r1/) });
    expect(await releases.listReleases('api', { limit: 10 })).toHaveLength(1);
    expect(created()).toEqual([1]);
  });

  it('records an unreviewed commit with review null, for the blockers to stop', async () => {
    const { build, record, releases } = world();
    build('rc-api:1', 'a');
    build('rc-api:2', 'c');
    await record('rc-api:1');

    await record('rc-api:2');

    expect((await releases.getRelease('api', 2))?.commits).toEqual([
      commit('b', false),
      commit('c'),
    ]);
  });

  it.each([
    {
      name: 'a missing list',
      content: { images: manifest('c').images, dependencies: [] },
      message: /files: expected a list of files/,
    },
    {
      name: 'a digest that is not sha256',
      content: { ...manifest('c'), images: [{ name: 'api', repository: 'api', digest: 'latest' }] },
      message: /images\.0\.digest: expected "sha256:" and 64 lower-case hex digits/,
    },
    {
      name: 'nothing to deploy',
      content: { images: [], files: [], dependencies: [] },
      message: /expected at least one image or file/,
    },
    { name: 'text that is not JSON', content: 'not json', message: /is not JSON/ },
  ])('refuses a manifest with $name, naming the field', async ({ content, message }) => {
    const { build, record, releases } = world();
    build('rc-api:1', 'c', content as ArtifactManifest);

    const failure = record('rc-api:1');

    await expect(failure).rejects.toThrow(TerminalError);
    await expect(failure).rejects.toThrow(message);
    expect(await releases.listReleases('api', { limit: 10 })).toEqual([]);
  });

  it.each([
    {
      name: 'a build that did not succeed',
      build: { status: 'FAILED' },
      message: /status is FAILED/,
    },
    {
      name: 'a build started by hand',
      build: { pipeline: null },
      message: /no RELEASE_CAPTAIN_PIPELINE variable/,
    },
    {
      name: 'a build of a branch name',
      build: { commit: 'main' },
      message: /resolved source version is "main", not a full commit id/,
    },
    {
      name: 'a build with no exported manifest key',
      build: { manifestKey: null },
      message: /exported RELEASE_CAPTAIN_MANIFEST_KEY=null, expected artifacts\/api\/manifests/,
    },
    {
      name: 'a manifest of another pipeline',
      build: { manifestKey: `artifacts/web/manifests/${'0'.repeat(64)}.json` },
      message: /expected artifacts\/api\/manifests\/<sha256 of the manifest>\.json/,
    },
  ])('refuses $name before reading its manifest', async ({ build: overrides, message }) => {
    const { build, record, releases, reads } = world();
    build('rc-api:1', 'c', manifest('c'), overrides);

    const failure = record('rc-api:1');

    await expect(failure).rejects.toThrow(TerminalError);
    await expect(failure).rejects.toThrow(message);
    expect(reads).toEqual([]);
    expect(await releases.listReleases('api', { limit: 10 })).toEqual([]);
  });

  it.each([
    {
      name: 'names another pipeline than its project’s (an overridden RELEASE_CAPTAIN_PIPELINE)',
      project: 'rc-web',
      message:
        /Build rc-web:1 records no release: it names pipeline api \(RELEASE_CAPTAIN_PIPELINE\) but ran in project rc-web, not rc-api/,
    },
    {
      name: 'ran in a project that is no release build’s',
      project: 'scratch-api',
      message: /ran in project scratch-api, not rc-api/,
    },
  ])('refuses a build that $name before reading its manifest', async ({ project, message }) => {
    const { build, record, releases, reads } = world();
    build('rc-web:1', 'c');

    const failure = record('rc-web:1', project);

    await expect(failure).rejects.toThrow(TerminalError);
    await expect(failure).rejects.toThrow(message);
    expect(reads).toEqual([]);
    expect(await releases.listReleases('api', { limit: 10 })).toEqual([]);
  });

  it('refuses an event that names no project without reaching its deps', async () => {
    const handler = createRecordReleaseHandler(async () => {
      throw new Error('must not be reached');
    });
    const { 'project-name': _, ...detail } = event('rc-api:1').detail;

    await expect(handler({ ...event('rc-api:1'), detail }, context)).rejects.toThrow(TerminalError);
  });

  it('skips a build of a commit that is not on the watched branch', async () => {
    const { build, record, releases, created } = world();
    build('rc-api:1', 'e');

    const result = await record('rc-api:1');

    expect(result).toMatchObject({
      commit: sha('e'),
      skipped: expect.stringMatching(/^eeeeeee is not on branch main of api/),
    });
    expect(await releases.listReleases('api', { limit: 10 })).toEqual([]);
    expect(created()).toEqual([]);
  });

  it('refuses a build of a pipeline that is not deployed as a terminal error', async () => {
    const { build, record, releases } = world();
    build('rc-web:1', 'c', manifest('c'), { pipeline: 'web' });

    const failure = record('rc-web:1', 'rc-web');

    await expect(failure).rejects.toThrow(TerminalError);
    await expect(failure).rejects.toThrow(/No definition of pipeline web/);
    expect(await releases.listReleases('api', { limit: 10 })).toEqual([]);
  });

  it('refuses an event of a build that did not succeed without reaching its deps', async () => {
    const handler = createRecordReleaseHandler(async () => {
      throw new Error('must not be reached');
    });
    const failed = { ...event('rc-api:1'), detail: { 'build-status': 'FAILED', 'build-id': 'x' } };

    await expect(handler(failed, context)).rejects.toThrow(TerminalError);
  });

  it('passes on that CodeBuild knows no such build', async () => {
    const { record } = world();

    await expect(record('rc-api:404')).rejects.toThrow(NotFoundError);
  });

  it('lets a retryable failure through for Lambda to retry', async () => {
    const handler = createRecordReleaseHandler(async () => ({
      projectPrefix: 'rc',
      builds: {
        getBuild: async () => {
          throw new RetryableError('BatchGetBuilds was throttled');
        },
      },
      manifests: { read: async () => new Uint8Array() },
      recorder: async () => {
        throw new Error('must not be reached');
      },
    }));

    await expect(handler(event('rc-api:1'), context)).rejects.toThrow(RetryableError);
  });
});

/** A GetObject body holding `text`. */
const body = (text: string) =>
  ({
    transformToByteArray: async () => new TextEncoder().encode(text),
  }) as unknown as GetObjectCommandOutput['Body'];

describe('the AWS wiring of record-release', () => {
  const codeBuild = mockClient(CodeBuildClient);
  const s3 = mockClient(S3Client);
  beforeEach(() => {
    codeBuild.reset();
    s3.reset();
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('reads the pipeline, resolved commit and exported manifest key of a build given by ARN', async () => {
    codeBuild.on(BatchGetBuildsCommand).resolves({
      builds: [
        {
          id: 'rc-api:42',
          buildStatus: 'SUCCEEDED',
          resolvedSourceVersion: sha('c'),
          environment: {
            type: 'LINUX_CONTAINER',
            image: 'aws/codebuild/standard:7.0',
            computeType: 'BUILD_GENERAL1_SMALL',
            environmentVariables: [
              { name: 'RELEASE_CAPTAIN_COMMIT', value: sha('c') },
              { name: 'RELEASE_CAPTAIN_PIPELINE', value: 'api' },
            ],
          },
          exportedEnvironmentVariables: [
            { name: 'RELEASE_CAPTAIN_MANIFEST_KEY', value: 'artifacts/api/manifests/ab.json' },
          ],
        },
      ],
    });

    const build = await codeBuildLookup(new CodeBuildClient({})).getBuild(
      'arn:aws:codebuild:eu-west-1:123456789012:build/rc-api:42',
    );

    expect(build).toEqual({
      buildId: 'arn:aws:codebuild:eu-west-1:123456789012:build/rc-api:42',
      status: 'SUCCEEDED',
      pipeline: 'api',
      commit: sha('c'),
      manifestKey: 'artifacts/api/manifests/ab.json',
    });
    expect(codeBuild).toHaveReceivedCommandWith(BatchGetBuildsCommand, { ids: ['rc-api:42'] });
  });

  it('names a build CodeBuild does not know, and retries its throttling', async () => {
    codeBuild
      .on(BatchGetBuildsCommand)
      .rejectsOnce(
        Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }),
      )
      .resolves({ builds: [], buildsNotFound: ['rc-api:9'] });
    const lookup = codeBuildLookup(new CodeBuildClient({}));

    await expect(lookup.getBuild('rc-api:9')).rejects.toThrow(RetryableError);
    await expect(lookup.getBuild('rc-api:9')).rejects.toThrow(/CodeBuild knows no build rc-api:9/);
  });

  it('reads a manifest from the artifact bucket, and names one that is missing', async () => {
    s3.on(GetObjectCommand, { Bucket: 'artifacts-1', Key: 'artifacts/api/manifests/ab.json' })
      .resolves({ Body: body('{"images":[]}') })
      .on(GetObjectCommand, { Key: 'artifacts/api/manifests/cd.json' })
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    const reader = s3ManifestReader(new S3Client({}), 'artifacts-1');

    const bytes = await reader.read('artifacts/api/manifests/ab.json');

    expect(new TextDecoder().decode(bytes)).toBe('{"images":[]}');
    await expect(reader.read('artifacts/api/manifests/cd.json')).rejects.toThrow(
      /No manifest at s3:\/\/artifacts-1\/artifacts\/api\/manifests\/cd\.json/,
    );
  });

  it('names a manifest S3 hides behind AccessDenied (no s3:ListBucket) as missing', async () => {
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        message: 'Access Denied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    const reader = s3ManifestReader(new S3Client({}), 'artifacts-1');

    const failure = reader.read('artifacts/api/manifests/cd.json');

    await expect(failure).rejects.toThrow(NotFoundError);
    await expect(failure).rejects.toThrow(
      /No manifest at s3:\/\/artifacts-1\/artifacts\/api\/manifests\/cd\.json: the build exported the key but did not upload it there \(or this function may not read it/,
    );
  });

  it.each([
    { env: {}, message: /SOURCE_PROVIDER is null; set it to "github" or "codecommit"/ },
    { env: { SOURCE_PROVIDER: 'gitlab' }, message: /SOURCE_PROVIDER is "gitlab"/ },
    {
      env: { SOURCE_PROVIDER: 'github' },
      message: /lacks GITHUB_TOKEN_SECRET_NAME \(needed with SOURCE_PROVIDER=github\)/,
    },
  ])('refuses source settings $env with a message saying what to set', ({ env, message }) => {
    expect(() => sourceHistory(env)).toThrow(message);
  });

  it('refuses to start without RELEASE_BUILD_PROJECT_PREFIX, saying what to set', async () => {
    vi.stubEnv('ARTIFACT_BUCKET', 'artifacts-1');
    vi.stubEnv('RELEASE_BUILD_PROJECT_PREFIX', undefined);

    await expect(awsRecordReleaseDeps()).rejects.toThrow(
      new TerminalError(
        "The handler's environment lacks RELEASE_BUILD_PROJECT_PREFIX; the Release Captain CDK app sets it.",
      ),
    );
  });

  it('chooses the source history by SOURCE_PROVIDER', () => {
    expect(sourceHistory({ SOURCE_PROVIDER: 'codecommit' })).toBeInstanceOf(
      CodeCommitSourceHistory,
    );
    expect(
      sourceHistory({ SOURCE_PROVIDER: 'github', GITHUB_TOKEN_SECRET_NAME: 'github-token' }),
    ).toBeInstanceOf(GitHubSourceHistory);
  });
});
