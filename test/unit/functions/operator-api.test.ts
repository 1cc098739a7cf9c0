import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CaptainClient } from '../../../cli/client.js';
import { startWebProxy } from '../../../cli/web-proxy.js';
import {
  confirmationOf,
  createRelease,
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemoryWorkflowStarter,
  ManualClock,
  type OperatorPorts,
  PromotionService,
  RecordingEventPublisher,
  type RollbackPlan,
  Topology,
} from '../../../core/index.js';
import { createOperatorApi, type OperatorApiDeps } from '../../../functions/lib/operator-routes.js';
import { createOperatorApiHandler } from '../../../functions/operator-api.js';
import {
  type OperatorServer,
  startOperatorServer,
  WEB_DIR,
} from '../../../local/operator-server.js';
import { drive, release, Sandbox, smallDefinition, T0 } from '../../support/fixtures.js';

function world() {
  const topology = new Topology(smallDefinition());
  const clock = new ManualClock(T0);
  const ports = {
    promotions: new InMemoryPromotionStore(),
    releases: new InMemoryReleaseStore(),
    deployments: new InMemoryDeploymentLog(),
    audit: new InMemoryAuditLog(),
    events: new RecordingEventPublisher(),
    workflows: new InMemoryWorkflowStarter(),
    clock,
  };
  const service = new PromotionService(topology, ports);
  const operator: OperatorPorts = { service, ...ports };
  const woken: string[][] = [];
  const errors: unknown[] = [];
  const deps: OperatorApiDeps = {
    pipelines: () => ['api'],
    operator: async () => operator,
    wake: async (subjects) => {
      woken.push([...subjects]);
      return subjects.length;
    },
    executionLink: (name) => `https://console.example/${name}`,
  };
  return {
    ports,
    service,
    deps,
    woken,
    errors,
    api: createOperatorApi(deps, (_m, e) => errors.push(e)),
  };
}

const get = (path: string, query: Record<string, string> = {}) => ({
  method: 'GET',
  path,
  query,
  body: undefined,
  caller: 'arn:aws:iam::123456789012:user/ana',
});
const post = (path: string, body: unknown) => ({ ...get(path), method: 'POST', body });

describe('the operator API', () => {
  it('answers reads with the views, a release’s executions with their console links', async () => {
    const w = world();
    await w.ports.releases.createRelease(release(1));
    await w.service.apply(createRelease, { release: release(1) });

    const pipelines = await w.api(get('/api/pipelines'));
    const status = await w.api(get('/api/pipelines/api/status'));
    const detail = await w.api(get('/api/pipelines/api/releases/r1'));

    expect(pipelines).toEqual({ status: 200, body: { pipelines: ['api'] } });
    expect(status.body).toMatchObject({ pipeline: 'api', latestRelease: 1 });
    expect(detail.body).toMatchObject({
      stages: [
        {
          stage: 'beta',
          execution: {
            name: 'api_beta_r1-1',
            current: true,
            link: 'https://console.example/api_beta_r1-1',
          },
        },
        { stage: 'gamma', execution: null },
        { stage: 'prod-1', execution: null },
        { stage: 'prod-2', execution: null },
      ],
    });
  });

  it('audits commands under the authenticated caller, never a name in the body', async () => {
    const w = world();

    const refused = await w.api(
      post('/api/pipelines/api/promotions', {
        stage: 'gamma',
        enabled: false,
        reason: 'investigating',
        requestId: 'gate-0001',
        by: 'mallory',
      }),
    );
    const done = await w.api(
      post('/api/pipelines/api/promotions', {
        stage: 'gamma',
        enabled: false,
        reason: 'investigating',
        requestId: 'gate-0001',
      }),
    );

    expect(refused).toMatchObject({
      status: 400,
      body: { error: 'BadRequest', message: expect.stringContaining('Unrecognized key: "by"') },
    });
    expect(done).toMatchObject({ status: 200, body: { changed: true, woken: 0 } });
    expect(await w.ports.audit.list('api', 5)).toMatchObject([
      { by: 'arn:aws:iam::123456789012:user/ana', action: 'disable promotions out of gamma' },
      { by: 'arn:aws:iam::123456789012:user/ana', action: 'disable promotions in of gamma' },
    ]);
  });

  it.each(
    [
      [get('/api/pipelines/nope/status'), 404, 'No pipeline "nope"; this control plane runs api.'],
      [get('/api/pipelines/api/releases/r9'), 404, 'api has no release r9'],
      [get('/api/pipelines/api/releases/latest'), 400, 'Invalid request'],
      [
        get('/api/pipelines/api/releases', { limit: '1000' }),
        400,
        'Expected a count from 1 to 100, got "1000".',
      ],
      [get('/api/pipelines/api/where/main'), 400, '"main" is not a commit'],
      [get('/api/pipelines/api/unknown'), 404, 'No route GET /api/pipelines/api/unknown'],
      [get('/api/pipelines/api/history/%E0%A4%A'), 400, 'is not valid percent-encoding'],
      [
        post('/api/pipelines/api/rollback', {
          targets: ['beta'],
          reason: 'errors',
          requestId: 'r-000001',
        }),
        400,
        'confirmed: Invalid input',
      ],
      [
        post('/api/pipelines/api/rollback', {
          targets: ['gamma'],
          reason: 'x',
          requestId: 'r-000001',
        }),
        400,
        'give a reason of at least 3 characters',
      ],
      [
        post('/api/pipelines/api/rollback/preview', { targets: ['gamma'] }),
        400,
        'Target gamma-t1 has no release deployed',
      ],
      [
        post('/api/pipelines/api/known-bad', {
          kind: 'release',
          value: '42',
          present: true,
          reason: 'bad build',
        }),
        400,
        'A known-bad release must be a release such as r42',
      ],
    ].map(
      ([request, status, message]) =>
        [
          `${(request as { method: string }).method} ${(request as { path: string }).path}`,
          status,
          message,
          request,
        ] as const,
    ),
  )('%s answers %i: %s', async (_label, status, message, request) => {
    const answer = await world().api(request as ReturnType<typeof get>);
    expect(answer.status).toBe(status);
    expect((answer.body as { message: string }).message).toContain(message);
  });

  it('expedites only when a second authenticated caller approves; both are audited as themselves', async () => {
    // Prepare: r1 and r2 created, r2 deploying at beta.
    const w = world();
    const sb = new Sandbox();
    for (const n of [1, 2]) {
      drive.create(sb, n);
      await w.ports.releases.createRelease(release(n));
      if (n < 2) drive.pass(sb, 'beta');
    }
    drive.admit(sb, 'beta');
    for (const t of sb.transitions) await w.ports.promotions.save('api', t);
    const ana = 'arn:aws:sts::123456789012:assumed-role/Operators/ana';
    const lee = 'arn:aws:sts::123456789012:assumed-role/Principals/lee';
    const as = (caller: string, path: string, body: unknown) => ({ ...post(path, body), caller });

    // Act
    const named = await w.api(
      as(ana, '/api/pipelines/api/expedite', { release: 2, reason: 'CVE fix', approver: 'lee' }),
    );
    const asked = await w.api(
      as(ana, '/api/pipelines/api/expedite', { release: 2, reason: 'CVE fix', bakeFactor: 0.2 }),
    );
    const self = await w.api(
      as(ana, '/api/pipelines/api/expedite/approve', { release: 2, reason: 'trust me' }),
    );
    const stateBefore = await w.service.state();
    const approved = await w.api(
      as(lee, '/api/pipelines/api/expedite/approve', { release: 2, reason: 'read the fix' }),
    );

    // Assess
    expect(named).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining('a second person approves it as themselves') },
    });
    expect(asked).toMatchObject({ status: 200, body: { changed: true } });
    expect(self).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining("An expedite needs a second person's approval") },
    });
    expect(stateBefore.meta.expedite).toBeNull();
    expect(approved).toMatchObject({
      status: 200,
      body: { changed: true, wake: ['run:api/beta/2'], woken: 1 },
    });
    expect((await w.service.state()).meta.expedite).toMatchObject({
      release: 2,
      requestedBy: ana,
      approver: lee,
      bakeFactor: 0.2,
    });
    expect((await w.ports.audit.list('api', 5)).map((a) => a.by)).toEqual([lee, ana]);
  });

  it('answers a rollback that was written even when waking the run it stopped fails', async () => {
    const w = world();
    const sb = new Sandbox();
    for (const n of [1, 2, 3]) {
      drive.create(sb, n);
      await w.ports.releases.createRelease(release(n));
      if (n < 3) drive.pass(sb, 'beta');
    }
    drive.admit(sb, 'beta'); // r3 deploying at beta
    for (const t of sb.transitions) await w.ports.promotions.save('api', t);
    await w.service.relayPending();
    const api = createOperatorApi(
      { ...w.deps, wake: async () => Promise.reject(new Error('DynamoDB throttled')) },
      (_message, error) => w.errors.push(error),
    );
    const preview = await api(post('/api/pipelines/api/rollback/preview', { targets: ['beta'] }));

    const answer = await api(
      post('/api/pipelines/api/rollback', {
        targets: ['beta'],
        reason: 'errors in r3',
        requestId: 'rb-000001',
        confirmed: confirmationOf(preview.body as RollbackPlan),
      }),
    );

    expect(answer).toMatchObject({
      status: 200,
      body: {
        changed: true,
        wake: ['run:api/beta/3'],
        woken: 0,
        wakeFailed: 'Error: DynamoDB throttled',
      },
    });
    expect(String(w.errors[0])).toContain('DynamoDB throttled');
    expect((await w.service.state()).stages.beta?.run?.kind).toBe('rollback');
  });

  it('hides what went wrong inside (500) and logs it', async () => {
    const w = world();
    const api = createOperatorApi(
      { ...w.deps, operator: async () => Promise.reject(new Error('DynamoDB is on fire')) },
      (_message, error) => w.errors.push(error),
    );

    const answer = await api(get('/api/pipelines/api/status'));

    expect(answer).toEqual({
      status: 500,
      body: {
        error: 'Internal',
        message: 'Internal error; the details are in the control plane’s log.',
      },
    });
    expect(String(w.errors[0])).toContain('DynamoDB is on fire');
  });

  it('records an override for its caller', async () => {
    const w = world();
    await w.ports.releases.createRelease(release(1));
    await w.service.apply(createRelease, { release: release(1) });

    const answer = await w.api(
      post('/api/pipelines/api/overrides', {
        kind: 'alarm',
        stage: 'beta',
        reason: 'noisy alarm',
        requestId: 'ovr-00001',
      }),
    );

    expect(answer).toMatchObject({ status: 200, body: { changed: true } });
    expect(await w.ports.audit.list('api', 1)).toMatchObject([
      { by: 'arn:aws:iam::123456789012:user/ana', stage: 'beta', reason: 'noisy alarm' },
    ]);
  });
});

describe('the operator API on a function URL', () => {
  const context = {} as Context;
  const event = (overrides: Record<string, unknown>) =>
    ({
      rawPath: '/api/pipelines',
      requestContext: {
        http: { method: 'GET' },
        authorizer: { iam: { userArn: 'arn:aws:iam::123456789012:user/ana' } },
      },
      headers: {},
      ...overrides,
    }) as never;

  it('serves the API and the web view to a signed caller, and refuses an unsigned one', async () => {
    const handler = createOperatorApiHandler(async () => world().deps, WEB_DIR);

    const listed = await handler(event({}), context);
    const page = await handler(event({ rawPath: '/' }), context);
    const unsigned = await handler(event({ requestContext: { http: { method: 'GET' } } }), context);
    const broken = await handler(
      event({
        rawPath: '/api/pipelines/api/promotions',
        requestContext: { http: { method: 'POST' }, authorizer: { iam: { userArn: 'arn' } } },
        body: '{',
      }),
      context,
    );

    expect(listed).toMatchObject({ statusCode: 200, body: '{"pipelines":["api"]}' });
    expect(page).toMatchObject({
      statusCode: 200,
      headers: { 'content-type': 'text/html; charset=utf-8' },
    });
    expect(
      (page as { headers: Record<string, string> }).headers['content-security-policy'],
    ).toContain("script-src 'self'");
    expect(unsigned).toMatchObject({ statusCode: 403 });
    expect(broken).toMatchObject({ statusCode: 400, body: expect.stringContaining('not JSON') });
  });
});

describe('the loopback server', () => {
  let server: OperatorServer;
  beforeEach(async () => {
    server = await startOperatorServer({ api: world().deps });
  });
  afterEach(async () => {
    await server.close();
  });

  it('serves the API, the web view, and the caller the CLI names', async () => {
    const client = await CaptainClient.connect({ kind: 'url', url: server.url, user: 'ana' });

    const answer = await client.post<{ changed: boolean }>('/api/pipelines/api/promotions', {
      stage: 'gamma',
      enabled: false,
      reason: 'investigating',
      requestId: 'gate-0001',
    });
    const page = await fetch(`${server.url}/`);

    expect(answer.changed).toBe(true);
    expect(page.status).toBe(200);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await (await fetch(`${server.url}/../package.json`)).text()).not.toContain(
      'release-captain',
    );
  });

  it('refuses another Host (DNS rebinding) and commands a page on another origin could send', async () => {
    const port = new URL(server.url).port;
    const rebound = await rawRequest(port, 'GET', '/api/pipelines', {
      host: `evil.example:${port}`,
    });
    const formPost = await rawRequest(port, 'POST', '/api/pipelines/api/promotions', {
      host: `127.0.0.1:${port}`,
      'content-type': 'text/plain',
    });
    const huge = await fetch(`${server.url}/api/pipelines/api/promotions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-captain-client': 'test' },
      body: JSON.stringify({ pad: 'x'.repeat(70_000) }),
    });

    expect(rebound).toBe(421);
    expect(formPost).toBe(403);
    expect(huge.status).toBe(413);
  });
});

describe('the CLI’s signed requests', () => {
  it('signs with SigV4 for the lambda service in the given Region, as AWS recomputes it', async () => {
    const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];
    const fake = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"pipelines":["api"]}');
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      AWS_SESSION_TOKEN: 'token',
    });
    try {
      const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
      const client = await CaptainClient.connect({
        kind: 'aws',
        region: 'eu-west-1',
        stack: 'ReleaseCaptain',
        url,
      });
      await client.get('/api/pipelines/api/releases', { limit: 5, before: 'r9' });
      await client.post('/api/pipelines/api/promotions', { stage: 'gamma', reason: 'a b&c' });
    } finally {
      process.env = saved;
      fake.close();
    }

    expect(seen).toHaveLength(2);
    for (const request of seen) {
      expect(request.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request, /,
      );
      expect(request.headers['x-amz-security-token']).toBe('token');
      expect(signatureOf(request, 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY')).toBe(
        request.headers.authorization?.split('Signature=')[1],
      );
    }
    expect(seen[1]?.headers.authorization).toMatch(/SignedHeaders=content-type;host;/);
  });
});

/**
 * The signature AWS computes for a request it received (Signature Version 4, written out
 * from the specification), to check the CLI's against: canonical request, string to sign,
 * the derived key.
 */
function signatureOf(
  request: { method: string; url: string; headers: IncomingHttpHeaders; body: string },
  secret: string,
): string {
  const authorization = request.headers.authorization ?? '';
  const [, scope = ''] = /Credential=[^/]+\/([^,]+),/.exec(authorization) ?? [];
  const [, signed = ''] = /SignedHeaders=([^,]+),/.exec(authorization) ?? [];
  const [date = '', region = '', service = ''] = scope.split('/');
  const url = new URL(request.url, 'http://x');
  const encode = (v: string) =>
    encodeURIComponent(v).replace(
      /[!'()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    );
  const query = [...url.searchParams]
    .map(([k, v]) => `${encode(k)}=${encode(v)}`)
    .sort()
    .join('&');
  const headers = signed
    .split(';')
    .map((name) => `${name}:${String(request.headers[name]).trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
  const canonical = [
    request.method,
    url.pathname,
    query,
    headers,
    signed,
    sha256(request.body),
  ].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', request.headers['x-amz-date'], scope, sha256(canonical)].join(
    '\n',
  );
  const hmac = (key: string | Buffer, data: string) =>
    createHmac('sha256', key).update(data).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex');
}

describe('captain web against AWS', () => {
  it('serves the web view on loopback, forwarding each request signed, and guards its commands', async () => {
    const seen: { method: string; url: string; authorization: string | undefined; body: string }[] =
      [];
    const upstream = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          authorization: req.headers.authorization,
          body,
        });
        res.writeHead(200, { 'content-type': req.url === '/' ? 'text/html' : 'application/json' });
        res.end(req.url === '/' ? '<title>Release Captain</title>' : '{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });
    const client = await CaptainClient.connect({
      kind: 'aws',
      region: 'eu-west-1',
      stack: 'ReleaseCaptain',
      url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    });
    const proxy = await startWebProxy(client, 0);
    const origin = new URL(proxy.url).origin;
    try {
      const withoutToken = await fetch(`${origin}/`);
      const traded = await fetch(proxy.url, { redirect: 'manual' });
      const session = (traded.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const page = await fetch(`${origin}/`, { headers: { cookie: session } });
      const command = await fetch(`${origin}/api/pipelines/api/promotions?x=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-captain-client': 'web', cookie: session },
        body: '{"stage":"gamma"}',
      });
      const forged = await fetch(`${origin}/api/pipelines/api/promotions`, {
        method: 'POST',
        headers: { cookie: session },
        body: '{}',
      });
      const guessed = await fetch(`${origin}/api/pipelines`, {
        headers: { cookie: 'captain_web=guess' },
      });
      const port = new URL(proxy.url).port;
      const rebound = await rawRequest(port, 'GET', '/', { host: `evil.example:${port}` });

      expect(withoutToken.status).toBe(401);
      expect(traded.status).toBe(303);
      expect(traded.headers.get('location')).toBe('/');
      expect(traded.headers.get('set-cookie')).toMatch(
        /^captain_web=[\w-]{32}; HttpOnly; SameSite=Strict; Path=\/$/,
      );
      expect(await page.text()).toBe('<title>Release Captain</title>');
      expect(command.status).toBe(200);
      expect(forged.status).toBe(403);
      expect(guessed.status).toBe(401);
      expect(rebound).toBe(421);
      expect(seen.map((r) => [r.method, r.url, r.body])).toEqual([
        ['GET', '/', ''],
        ['POST', '/api/pipelines/api/promotions?x=1', '{"stage":"gamma"}'],
      ]);
      expect(
        seen.every((r) => r.authorization?.startsWith('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/')),
      ).toBe(true);
    } finally {
      process.env = saved;
      await proxy.close();
      upstream.close();
    }
  });
});

function rawRequest(
  port: string,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    import('node:http').then(({ request }) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(method === 'POST' ? '{}' : undefined);
    }, reject);
  });
}
