import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createOperatorApi, type OperatorApiDeps } from '../functions/lib/operator-routes.js';
import { SECURITY_HEADERS, webAsset } from '../functions/lib/web-assets.js';
import { MAX_BODY, namesLoopback, readBody } from './loopback-http.js';

/** The web view's files in this checkout. */
export const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));

export interface OperatorServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the operator API and the web view on loopback for the local runtime: the same
 * routes as the cloud's function URL. The caller is the local user (or the name the CLI
 * sends in `x-captain-user`). Two guards stand in for the cloud's signatures: a request
 * must name this server as its Host (no DNS rebinding), and a command must be a JSON
 * POST carrying `x-captain-client`, which a page on another origin cannot send without a
 * CORS preflight this server never grants.
 *
 * @example
 * const server = await startOperatorServer({ api, port: 0 });
 * // open server.url in a browser; `captain --url ${server.url} status`
 */
export async function startOperatorServer(options: {
  readonly api: OperatorApiDeps;
  /** @default 0 - any free port */
  readonly port?: number;
  /** @default the checkout's web/ */
  readonly webDir?: string;
  readonly onError?: (error: unknown) => void;
}): Promise<OperatorServer> {
  const api = createOperatorApi(options.api, (_message, error) => options.onError?.(error));
  const webDir = options.webDir ?? WEB_DIR;
  const localUser = `local:${userInfo().username}`;
  let port = 0;
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      options.onError?.(error);
      if (!res.headersSent) {
        send(res, 500, {
          error: 'Internal',
          message: 'Internal error; see the runtime’s failures.',
        });
      }
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host ?? '';
    if (!namesLoopback(host, port)) {
      send(res, 421, { error: 'MisdirectedRequest', message: `Use http://127.0.0.1:${port}.` });
      return;
    }
    const url = new URL(req.url ?? '/', `http://${host}`);
    const method = req.method ?? 'GET';
    if (method === 'GET' && !url.pathname.startsWith('/api/')) {
      const asset = await webAsset(webDir, url.pathname);
      if (asset === null) {
        send(res, 404, { error: 'NotFound', message: `No page ${url.pathname}.` });
        return;
      }
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type });
      res.end(asset.body);
      return;
    }
    let body: unknown;
    if (method === 'POST') {
      if (
        !(req.headers['content-type'] ?? '').startsWith('application/json') ||
        req.headers['x-captain-client'] === undefined
      ) {
        send(res, 403, {
          error: 'Forbidden',
          message: 'Commands are JSON POSTs with an x-captain-client header.',
        });
        return;
      }
      const raw = await readBody(req);
      if (raw === null) {
        send(res, 413, { error: 'TooLarge', message: `Bodies are at most ${MAX_BODY} bytes.` });
        return;
      }
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        send(res, 400, { error: 'BadRequest', message: 'The body is not JSON.' });
        return;
      }
    } else if (method !== 'GET') {
      send(res, 405, { error: 'MethodNotAllowed', message: 'GET or POST.' });
      return;
    }
    const user = req.headers['x-captain-user'];
    const response = await api({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      caller: typeof user === 'string' && user.trim() !== '' ? `local:${user.trim()}` : localUser,
    });
    send(res, response.status, response.body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
