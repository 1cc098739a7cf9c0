import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { namesLoopback, readBody } from '../local/loopback-http.js';
import type { CaptainClient } from './client.js';

/**
 * `captain web` against AWS: the web view is served by the control plane's function URL,
 * which takes SigV4-signed requests only, and a browser cannot sign. This serves it on
 * loopback and forwards every request, signed with the operator's own credentials, so
 * the control plane sees (and audits) the operator. Only this machine can reach it, and
 * only whoever has the printed address: it carries a random token, traded on first use
 * for a cookie (HttpOnly, SameSite=Strict) that every later request must carry, so other
 * users of a shared host cannot act with the operator's credentials. A request must also
 * name the server as its Host, and a command must carry `x-captain-client` (which a page
 * on another origin cannot send without a CORS preflight, never granted here).
 *
 * @example
 * const proxy = await startWebProxy(client, 0); // open proxy.url (with its token) in a browser
 */
export async function startWebProxy(
  client: CaptainClient,
  port: number,
): Promise<{ /** The address to open, with its token. */ url: string; close(): Promise<void> }> {
  let bound = 0;
  const token = randomBytes(24).toString('base64url');
  const server = createServer((req, res) => {
    void (async () => {
      const host = req.headers.host ?? '';
      if (!namesLoopback(host, bound)) {
        res.writeHead(421).end();
        return;
      }
      const url = new URL(req.url ?? '/', `http://${host}`);
      const offered = url.searchParams.get('token');
      if (offered !== null && same(offered, token)) {
        // Traded for a cookie, and dropped from the address bar and the history.
        url.searchParams.delete('token');
        res.writeHead(303, {
          location: `${url.pathname}${url.search}${url.hash}`,
          'set-cookie': `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        });
        res.end();
        return;
      }
      if (!same(cookie(req, COOKIE) ?? '', token)) {
        res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('Open the address `captain web` printed (it carries a token).\n');
        return;
      }
      const method = req.method ?? 'GET';
      if (method !== 'GET' && method !== 'POST') {
        res.writeHead(405).end();
        return;
      }
      if (method === 'POST' && req.headers['x-captain-client'] === undefined) {
        res.writeHead(403).end();
        return;
      }
      const body = method === 'POST' ? await readBody(req) : undefined;
      if (body === null) {
        res.writeHead(413).end();
        return;
      }
      const upstream = await client.send(method, req.url ?? '/', body);
      const headers: Record<string, string> = {};
      upstream.headers.forEach((value, key) => {
        if (
          !['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(key)
        ) {
          headers[key] = value;
        }
      });
      res.writeHead(upstream.status, headers);
      res.end(Buffer.from(await upstream.arrayBuffer()));
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'BadGateway', message: (error as Error).message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}/?token=${token}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const COOKIE = 'captain_web';

function cookie(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return null;
}

/** Compares in constant time, so the token cannot be guessed a character at a time. */
function same(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}
