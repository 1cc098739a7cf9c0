import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CaptainClient } from './client.js';

/** Largest body forwarded, in bytes: commands are small. */
const MAX_BODY = 64 * 1024;

/**
 * `captain web` against AWS: the web view is served by the control plane's function URL,
 * which takes SigV4-signed requests only, and a browser cannot sign. This serves it on
 * loopback and forwards every request, signed with the operator's own credentials, so
 * the control plane sees (and audits) the operator. Only this machine can reach it; a
 * request must name it as its Host, and a command must carry `x-captain-client` (which a
 * page on another origin cannot send without a CORS preflight, never granted here).
 *
 * @example
 * const proxy = await startWebProxy(client, 0); // open proxy.url in a browser
 */
export async function startWebProxy(
  client: CaptainClient,
  port: number,
): Promise<{ url: string; close(): Promise<void> }> {
  let bound = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const host = req.headers.host ?? '';
      if (host !== `127.0.0.1:${bound}` && host !== `localhost:${bound}`) {
        res.writeHead(421).end();
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
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
