import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The web view's files, by the path they are served at; nothing else is served. */
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** What every page and API answer carries: no framing, no sniffing, scripts only from here. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * One file of the web view (`web/`), or `null` for any other path: a fixed list, so no
 * path reaches outside the directory.
 *
 * @example
 * await webAsset('web', '/app.js'); // { type: 'text/javascript; charset=utf-8', body: '…' }
 * await webAsset('web', '/../package.json'); // null
 */
export async function webAsset(
  directory: string,
  path: string,
): Promise<{ type: string; body: string } | null> {
  const asset = ASSETS[path];
  if (asset === undefined) return null;
  return { type: asset.type, body: await readFile(join(directory, asset.file), 'utf8') };
}
