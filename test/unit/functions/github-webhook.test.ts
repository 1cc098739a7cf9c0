import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createGitHubWebhookHandler } from '../../../functions/github-webhook.js';
import { gitHubWebhook } from '../../support/source-events.js';

const SECRET = 'shared-secret';
const context = {
  functionName: 'webhook',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 1000,
} as Context;
const sign = (body: string, secret = SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
const push = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    ref: 'refs/heads/main',
    before: 'a'.repeat(40),
    after: 'b'.repeat(40),
    repository: { full_name: 'acme/api' },
    pusher: { name: 'ana' },
    ...overrides,
  });

const webhook = gitHubWebhook;

describe('the GitHub webhook', () => {
  it('starts the release build for a signed push to the watched branch', async () => {
    const { builds, deliver } = webhook();
    const body = push();

    const response = await deliver(
      body,
      { 'X-Hub-Signature-256': sign(body), 'X-GitHub-Event': 'push' },
      true,
    );

    expect(response).toMatchObject({ statusCode: 202 });
    expect(builds).toEqual([
      { pipeline: 'api', commit: 'b'.repeat(40), previousCommit: 'a'.repeat(40), pushedBy: 'ana' },
    ]);
  });

  it('answers a ping', async () => {
    const { builds, deliver } = webhook();
    const body = '{"zen":"Keep it logically awesome."}';

    expect(
      await deliver(body, { 'x-hub-signature-256': sign(body), 'x-github-event': 'ping' }),
    ).toMatchObject({
      statusCode: 200,
    });
    expect(builds).toEqual([]);
  });

  it.each([
    {
      why: 'no signature',
      headers: (_b: string) => ({ 'x-github-event': 'push' }),
      status: 401,
      message: 'Missing X-Hub-Signature-256',
    },
    {
      why: 'a signature with another secret',
      headers: (b: string) => ({
        'x-hub-signature-256': sign(b, 'guess'),
        'x-github-event': 'push',
      }),
      status: 401,
      message: 'does not match',
    },
    {
      why: 'a signature of another body',
      headers: () => ({
        'x-hub-signature-256': sign(push({ after: 'c'.repeat(40) })),
        'x-github-event': 'push',
      }),
      status: 401,
      message: 'does not match',
    },
    {
      why: 'another event',
      headers: (b: string) => ({ 'x-hub-signature-256': sign(b), 'x-github-event': 'issues' }),
      status: 400,
      message: 'push events only',
    },
  ])('refuses $why with $status and starts nothing', async ({ headers, status, message }) => {
    const { builds, deliver } = webhook();
    const body = push();

    const response = await deliver(body, headers(body));

    expect(response).toMatchObject({ statusCode: status });
    expect(JSON.parse(response.body as string).message).toContain(message);
    expect(builds).toEqual([]);
  });

  it.each([
    { why: 'JSON that is not an object', body: 'null', message: 'is not a JSON object' },
    { why: 'a list', body: '[1,2]', message: 'is not a JSON object' },
    {
      why: 'an after that is not a commit id',
      body: push({ after: '--upload-pack=evil' }),
      message: 'after is not a commit id (40 or 64 hex digits): "--upload-pack=evil"',
    },
  ])(
    'refuses a signed push of $why with 400 and starts nothing (found by the fuzz test)',
    async ({ body, message }) => {
      const { builds, deliver } = webhook();

      const response = await deliver(body, {
        'x-hub-signature-256': sign(body),
        'x-github-event': 'push',
      });

      expect(response).toMatchObject({ statusCode: 400 });
      expect(JSON.parse(response.body as string).message).toContain(message);
      expect(builds).toEqual([]);
    },
  );

  it.each([
    {
      why: 'another branch',
      payload: { ref: 'refs/heads/feature' },
      message: 'A push to refs/heads/feature is not watched; acme/api releases from main.',
    },
    {
      why: 'another repository',
      payload: { repository: { full_name: 'acme/web' } },
      message: 'No pipeline watches repository acme/web.',
    },
    {
      why: 'a deleted branch',
      payload: { deleted: true, after: '0'.repeat(40) },
      message: 'refs/heads/main was deleted',
    },
  ])('refuses a signed push to $why with 422 and starts nothing', async ({ payload, message }) => {
    const { builds, deliver } = webhook();
    const body = push(payload);

    const response = await deliver(body, {
      'x-hub-signature-256': sign(body),
      'x-github-event': 'push',
    });

    expect(response).toMatchObject({ statusCode: 422 });
    expect(JSON.parse(response.body as string).message).toContain(message);
    expect(builds).toEqual([]);
  });

  it('answers a bare 500 when something unexpected fails, with no details in the body', async () => {
    const handler = createGitHubWebhookHandler(async () => {
      throw new Error('secret store unreachable: arn:aws:secretsmanager:…');
    });

    const response = await handler(
      { headers: {}, body: '{}' } as unknown as APIGatewayProxyEventV2,
      context,
    );

    expect(response).toMatchObject({ statusCode: 500 });
    expect(response.body).not.toContain('secretsmanager');
  });
});
