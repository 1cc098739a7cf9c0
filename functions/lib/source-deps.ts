import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { BatchGetBuildsCommand, type Build, CodeBuildClient } from '@aws-sdk/client-codebuild';
import { CodeCommitClient } from '@aws-sdk/client-codecommit';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { CodeBuildStarter } from '../../adapters/aws/codebuild-starter.js';
import { CodeCommitSourceHistory } from '../../adapters/aws/codecommit-history.js';
import { awsError } from '../../adapters/aws/errors.js';
import { GitHubSourceHistory } from '../../adapters/aws/github-history.js';
import {
  NotFoundError,
  type PipelineDefinition,
  parsePipelineDefinition,
  ReleaseRecorder,
  type SourceHistory,
  TerminalError,
} from '../../core/index.js';
import type { CodeCommitPushDeps } from '../codecommit-push.js';
import type { BuildLookup, ManifestReader, RecordReleaseDeps } from '../record-release.js';
import { awsDeps } from './aws-deps.js';
import { tracer } from './step-handler.js';

/**
 * The AWS wiring of the source handlers, built on first use and reused by warm invocations.
 *
 * `record-release` reads, besides what every handler reads (`TABLE_NAME`, `EVENT_BUS_NAME`,
 * `STAGE_STATE_MACHINE_ARN`, `ARTIFACT_BUCKET`, `PIPELINE_DEFINITIONS_DIR`):
 * - `RELEASE_BUILD_PROJECT_PREFIX`: a build is recorded only if it ran in its pipeline's
 *   project, `<prefix>-<pipeline>`;
 * - `SOURCE_PROVIDER`: `github` or `codecommit`, where the pipelines' repositories live;
 * - `GITHUB_TOKEN_SECRET_NAME` (github): the secret holding a token with `contents:read`
 *   and `pull_requests:read` on the repositories, as plain text (cached five minutes);
 * - `GITHUB_OWNER` (github, optional): the owner of repositories named without one;
 * - `GITHUB_API_URL` (github, optional): GitHub Enterprise Server's API, e.g.
 *   `https://github.example.com/api/v3`.
 *
 * `codecommit-push` reads `RELEASE_BUILD_PROJECT_PREFIX` (projects are
 * `<prefix>-<pipeline>`) and `PIPELINE_DEFINITIONS_DIR`.
 */

/**
 * The source history of the deployed pipelines, by `SOURCE_PROVIDER`. One provider serves
 * every pipeline of the control plane: a per-pipeline choice would be a field of the
 * pipeline definition's `source`.
 */
export function sourceHistory(env: NodeJS.ProcessEnv): SourceHistory {
  const provider = env.SOURCE_PROVIDER;
  if (provider === 'codecommit') {
    return new CodeCommitSourceHistory({
      client: tracer.captureAWSv3Client(new CodeCommitClient({})),
    });
  }
  if (provider === 'github') {
    const secretName = required(env, 'GITHUB_TOKEN_SECRET_NAME', 'with SOURCE_PROVIDER=github');
    return new GitHubSourceHistory({
      token: async () => {
        const value = await getSecret(secretName, { maxAge: 300 });
        if (typeof value !== 'string' || value.trim() === '') {
          throw new TerminalError(
            `Secret ${secretName} is empty or not a string; store the GitHub token in it as plain text.`,
          );
        }
        return value.trim();
      },
      owner: env.GITHUB_OWNER || undefined,
      apiUrl: env.GITHUB_API_URL || undefined,
    });
  }
  throw new TerminalError(
    `SOURCE_PROVIDER is ${JSON.stringify(provider ?? null)}; set it to "github" or "codecommit", where the pipelines' repositories live.`,
  );
}

/**
 * BatchGetBuilds of one build: its status, pipeline variable, commit and exported manifest
 * key. Takes the build's id (`<project>:<uuid>`) or its ARN, as events carry it.
 */
export function codeBuildLookup(client: CodeBuildClient): BuildLookup {
  return {
    async getBuild(buildId) {
      const id = buildId.replace(/^arn:[^:]+:codebuild:[^:]*:[^:]*:build\//, '');
      let builds: Build[] | undefined;
      try {
        ({ builds } = await client.send(new BatchGetBuildsCommand({ ids: [id] })));
      } catch (error) {
        throw awsError(error, `BatchGetBuilds of ${buildId}`);
      }
      const build = builds?.[0];
      if (build === undefined) {
        throw new NotFoundError(
          `CodeBuild knows no build ${buildId}; builds are kept for a year, and the function's role must allow codebuild:BatchGetBuilds on the release-build projects.`,
        );
      }
      const variable = (name: string) =>
        build.environment?.environmentVariables?.find((v) => v.name === name)?.value ?? null;
      return {
        buildId,
        status: build.buildStatus ?? 'UNKNOWN',
        pipeline: variable('RELEASE_CAPTAIN_PIPELINE'),
        commit: build.resolvedSourceVersion ?? null,
        manifestKey:
          build.exportedEnvironmentVariables?.find((v) => v.name === 'RELEASE_CAPTAIN_MANIFEST_KEY')
            ?.value ?? null,
      };
    },
  };
}

/** GetObject from the artifact bucket. */
export function s3ManifestReader(client: S3Client, bucket: string): ManifestReader {
  return {
    async read(key) {
      const url = `s3://${bucket}/${key}`;
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (response.Body === undefined)
          throw new TerminalError(`GetObject of ${url} returned no body.`);
        return await response.Body.transformToByteArray();
      } catch (error) {
        // Without s3:ListBucket, S3 answers a missing key with AccessDenied rather than NoSuchKey.
        if (error instanceof NoSuchKey || (error as Error | undefined)?.name === 'AccessDenied') {
          throw new NotFoundError(
            `No manifest at ${url}: the build exported the key but did not upload it there (or this function may not read it: S3 answers AccessDenied for a missing key to a role without s3:ListBucket). Fix the buildspec and rebuild, or grant the function s3:GetObject on the key.`,
            { cause: error },
          );
        }
        throw awsError(error, `GetObject of ${url}`);
      }
    },
  };
}

/** The pipeline definitions bundled with the function (`<dir>/<name>.json`). */
export async function loadPipelines(dir: string): Promise<PipelineDefinition[]> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.json'));
  return Promise.all(
    files.map(async (file) =>
      parsePipelineDefinition(JSON.parse(await readFile(join(dir, file), 'utf8'))),
    ),
  );
}

function required(env: NodeJS.ProcessEnv, key: string, when = ''): string {
  const value = env[key];
  if (value === undefined || value === '') {
    throw new TerminalError(
      `The handler's environment lacks ${key}${when === '' ? '' : ` (needed ${when})`}; the Release Captain CDK app sets it.`,
    );
  }
  return value;
}

const definitionsDir = (env: NodeJS.ProcessEnv) =>
  env.PIPELINE_DEFINITIONS_DIR ?? join(env.LAMBDA_TASK_ROOT ?? '.', 'pipelines');

let recordWiring: Promise<RecordReleaseDeps> | undefined;

/** `record-release` on Lambda: CodeBuild, the artifact bucket, and each pipeline's recorder. */
export function awsRecordReleaseDeps(): Promise<RecordReleaseDeps> {
  recordWiring ??= (async () => {
    const env = process.env;
    const bucket = required(env, 'ARTIFACT_BUCKET');
    const projectPrefix = required(env, 'RELEASE_BUILD_PROJECT_PREFIX');
    const history = sourceHistory(env);
    const handlers = await awsDeps();
    const recorders = new Map<string, Promise<ReleaseRecorder>>();
    return {
      projectPrefix,
      builds: codeBuildLookup(tracer.captureAWSv3Client(new CodeBuildClient({}))),
      manifests: s3ManifestReader(tracer.captureAWSv3Client(new S3Client({})), bucket),
      recorder: (pipeline) => {
        let recorder = recorders.get(pipeline);
        if (recorder === undefined) {
          recorder = handlers
            .driver(pipeline)
            .then(
              ({ service, releases, clock }) =>
                new ReleaseRecorder(
                  service,
                  { releases, history, clock },
                  service.topology.definition.source,
                ),
            );
          recorders.set(pipeline, recorder);
          recorder.catch(() => recorders.delete(pipeline));
        }
        return recorder;
      },
    };
  })();
  // A failed start (a missing setting) is not cached: the next invocation tries again.
  recordWiring.catch(() => {
    recordWiring = undefined;
  });
  return recordWiring;
}

let pushWiring: Promise<CodeCommitPushDeps> | undefined;

/** `codecommit-push` on Lambda: the bundled definitions and CodeBuild. */
export function awsCodeCommitPushDeps(): Promise<CodeCommitPushDeps> {
  pushWiring ??= (async () => {
    const prefix = required(process.env, 'RELEASE_BUILD_PROJECT_PREFIX');
    const pipelines = await loadPipelines(definitionsDir(process.env));
    const codeBuild = tracer.captureAWSv3Client(new CodeBuildClient({}));
    return {
      pipelines: async () => pipelines,
      builds: new CodeBuildStarter(codeBuild, (pipeline) => `${prefix}-${pipeline}`),
    };
  })();
  pushWiring.catch(() => {
    pushWiring = undefined;
  });
  return pushWiring;
}
