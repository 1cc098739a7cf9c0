import { join } from 'node:path';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2WithIAMAuthorizer,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type { AuditLog, DeploymentLog } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { HandlerDeps } from './lib/deps.js';
import { type ApiRequest, createOperatorApi, type OperatorApiDeps } from './lib/operator-routes.js';
import { logger } from './lib/step-handler.js';
import { wakeAll } from './lib/wake-all.js';
import { SECURITY_HEADERS, webAsset } from './lib/web-assets.js';

/**
 * The operator API's deps from the handlers' deps, for the cloud and the local runtime
 * alike: the same promotion services, the logs, and the wake registry.
 */
export function operatorApiDeps(
  deps: HandlerDeps,
  extra: {
    readonly pipelines: () => readonly string[];
    readonly deployments: DeploymentLog;
    readonly audit: AuditLog;
    readonly executionLink: (execution: string) => string | null;
  },
): OperatorApiDeps {
  return {
    pipelines: extra.pipelines,
    operator: async (pipeline) => {
      const { service, releases } = await deps.driver(pipeline);
      return {
        service,
        releases,
        deployments: extra.deployments,
        audit: extra.audit,
        clock: deps.clock,
      };
    },
    wake: (subjects) => wakeAll(deps, subjects, deps.clock.now()),
    executionLink: extra.executionLink,
  };
}

type Event = APIGatewayProxyEventV2WithIAMAuthorizer;
type Result = APIGatewayProxyStructuredResultV2;

/**
 * The operator API and the web view on a Lambda function URL whose auth type is AWS_IAM:
 * every request is SigV4-signed, so the caller is the authenticated IAM principal, and
 * that principal is who the audit log names. `captain` signs its calls; `captain web`
 * serves the view on loopback and signs what it forwards.
 */
export function createOperatorApiHandler(deps: () => Promise<OperatorApiDeps>, webDir: string) {
  return middy<Event, Result, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event) => {
      const caller = event.requestContext.authorizer?.iam?.userArn;
      if (caller === undefined || caller === '') {
        // The function URL refuses unsigned requests before they get here; be sure anyway.
        return reply(403, { error: 'Forbidden', message: 'Sign the request (AWS_IAM).' });
      }
      const method = event.requestContext.http.method;
      const path = event.rawPath;
      if (method === 'GET' && !path.startsWith('/api/')) {
        const asset = await webAsset(webDir, path);
        if (asset !== null) {
          return {
            statusCode: 200,
            headers: { ...SECURITY_HEADERS, 'content-type': asset.type },
            body: asset.body,
          };
        }
      }
      let body: unknown;
      try {
        const raw = event.isBase64Encoded
          ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
          : (event.body ?? '');
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        return reply(400, { error: 'BadRequest', message: 'The body is not JSON.' });
      }
      const request: ApiRequest = {
        method,
        path,
        query: event.queryStringParameters ?? {},
        body,
        caller,
      };
      const api = createOperatorApi(await deps(), (message, error) =>
        logger.error(message, { error }),
      );
      const response = await api(request);
      // The access key and user id tie the request to CloudTrail's record of the caller.
      const iam = event.requestContext.authorizer?.iam;
      logger.info('operator request', {
        method,
        path,
        caller,
        accessKey: iam?.accessKey,
        userId: iam?.userId,
        status: response.status,
      });
      return reply(response.status, response.body);
    });
}

function reply(status: number, body: unknown): Result {
  return {
    statusCode: status,
    headers: { ...SECURITY_HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}

export const handler = createOperatorApiHandler(
  async () => {
    const deps = await awsDeps();
    return operatorApiDeps(deps, {
      pipelines: deps.pipelines,
      deployments: deps.logs.deployments,
      audit: deps.logs.audit,
      executionLink: deps.executionLink,
    });
  },
  join(process.env.LAMBDA_TASK_ROOT ?? '.', 'web'),
);
