import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { CodeBuildStarter } from '../adapters/aws/codebuild-starter.js';
import {
  type BuildStarter,
  type PipelineDefinition,
  parsePipelineDefinition,
  TerminalError,
} from '../core/index.js';
import { buildFor, verifySignature, WebhookRefusal } from './lib/github-push.js';

const logger = new Logger({ serviceName: 'release-captain' });

export interface WebhookDeps {
  /** The secret shared with GitHub for X-Hub-Signature-256. */
  secret(): Promise<string>;
  pipelines(): Promise<readonly PipelineDefinition[]>;
  readonly builds: BuildStarter;
}

const json = (statusCode: number, body: object): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/**
 * The GitHub webhook (a Lambda function URL): verifies the signature over the raw body,
 * accepts only pushes to a pipeline's watched branch and starts its release build;
 * anything else gets a 4xx saying why, and nothing changes. Only refusals show their
 * message; an unexpected error is a bare 500 (the details go to the log).
 */
export function createGitHubWebhookHandler(deps: () => Promise<WebhookDeps>) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event) => {
      try {
        const resolved = await deps();
        const body = event.isBase64Encoded
          ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
          : (event.body ?? '');
        const header = (name: string) =>
          Object.entries(event.headers ?? {}).find(([key]) => key.toLowerCase() === name)?.[1];
        verifySignature(body, header('x-hub-signature-256'), await resolved.secret());
        const build = buildFor(header('x-github-event'), body, await resolved.pipelines());
        if (build === 'pong') return json(200, { message: 'pong' });
        const { buildId } = await resolved.builds.startBuild(build);
        logger.info('release build started', { ...build, buildId });
        return json(202, { message: `building ${build.pipeline} at ${build.commit}`, buildId });
      } catch (error) {
        if (error instanceof WebhookRefusal) {
          logger.warn('webhook refused', { status: error.status, reason: error.message });
          return json(error.status, { message: error.message });
        }
        logger.error('webhook failed', { error });
        return json(500, {
          message: 'Internal error; the delivery can be redelivered from GitHub.',
        });
      }
    });
}

let wiring: Promise<WebhookDeps> | undefined;

/** The AWS wiring: the secret from Secrets Manager (cached five minutes), the bundled definitions, CodeBuild. */
async function awsWebhookDeps(): Promise<WebhookDeps> {
  wiring ??= (async () => {
    const secretName = process.env.GITHUB_WEBHOOK_SECRET_NAME;
    const project = process.env.RELEASE_BUILD_PROJECT_PREFIX;
    if (secretName === undefined || project === undefined) {
      throw new TerminalError(
        'The webhook needs GITHUB_WEBHOOK_SECRET_NAME and RELEASE_BUILD_PROJECT_PREFIX; the CDK app sets both.',
      );
    }
    const dir =
      process.env.PIPELINE_DEFINITIONS_DIR ??
      join(process.env.LAMBDA_TASK_ROOT ?? '.', 'pipelines');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    const pipelines = await Promise.all(
      files.map(async (f) =>
        parsePipelineDefinition(JSON.parse(await readFile(join(dir, f), 'utf8'))),
      ),
    );
    const codeBuild = new CodeBuildClient({});
    return {
      secret: async () => {
        const value = await getSecret(secretName, { maxAge: 300 });
        if (typeof value !== 'string' || value === '') {
          throw new TerminalError(`Secret ${secretName} is empty or not a string.`);
        }
        return value;
      },
      pipelines: async () => pipelines,
      builds: new CodeBuildStarter(codeBuild, (pipeline) => `${project}-${pipeline}`),
    };
  })();
  // A failed start (a missing setting) is not cached: the next invocation tries again.
  wiring.catch(() => {
    wiring = undefined;
  });
  return wiring;
}

export const handler = createGitHubWebhookHandler(awsWebhookDeps);
