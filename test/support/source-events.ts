import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { BuildRequest } from '../../core/index.js';
import { createCodeCommitPushHandler } from '../../functions/codecommit-push.js';
import { createGitHubWebhookHandler } from '../../functions/github-webhook.js';
import { smallDefinition } from './fixtures.js';

/** What a handler's Lambda context needs to hold in these tests. */
export const lambdaContext = (functionName: string) =>
  ({ functionName, awsRequestId: 'r', getRemainingTimeInMillis: () => 1000 }) as Context;

/** The secret the fake GitHub shares with the webhook. */
export const WEBHOOK_SECRET = 'shared-secret';
export const signBody = (body: string, secret = WEBHOOK_SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

/** The GitHub webhook over the small definition, recording the builds it starts. */
export function gitHubWebhook() {
  const builds: BuildRequest[] = [];
  const handler = createGitHubWebhookHandler(async () => ({
    secret: async () => WEBHOOK_SECRET,
    pipelines: async () => [smallDefinition()],
    builds: {
      startBuild: async (request) => {
        builds.push(request);
        return { buildId: `build-${builds.length}` };
      },
    },
  }));
  const deliver = (body: string, headers: Record<string, string>, base64 = false) =>
    handler(
      {
        headers,
        body: base64 ? Buffer.from(body).toString('base64') : body,
        isBase64Encoded: base64,
      } as unknown as APIGatewayProxyEventV2,
      lambdaContext('webhook'),
    );
  return { builds, deliver };
}

/** The CodeCommit push handler over the small definition, recording the builds it starts. */
export function codeCommitPushes() {
  const builds: BuildRequest[] = [];
  const handler = createCodeCommitPushHandler(async () => ({
    pipelines: async () => [smallDefinition()],
    builds: {
      startBuild: async (request) => {
        builds.push(request);
        return { buildId: `rc-api:${builds.length}` };
      },
    },
  }));
  return {
    builds,
    deliver: (event: unknown) => handler(event, lambdaContext('codecommit-push')),
  };
}
