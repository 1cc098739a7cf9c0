import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The page and its style sheet, by the path they are served at. */
const PAGES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** The page's ES modules: one name, no directory, so no path can leave `web/`. */
const MODULE = /^\/([a-z][a-z0-9-]*\.js)$/;

/** What every page and API answer carries: no framing, no sniffing, scripts only from here. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * One file of the web view (`web/`), or `null` for any other path: the page, its style
 * sheet, and its modules (`/<name>.js`, no directories), so no path reaches outside.
 *
 * @example
 * await webAsset('web', '/app.js'); // { type: 'text/javascript; charset=utf-8', body: '…' }
 * await webAsset('web', '/../package.json'); // null
 */
export async function webAsset(
  directory: string,
  path: string,
): Promise<{ type: string; body: string } | null> {
  const page = PAGES[path];
  const module = MODULE.exec(path)?.[1];
  const asset =
    page ??
    (module === undefined ? undefined : { file: module, type: 'text/javascript; charset=utf-8' });
  if (asset === undefined) return null;
  try {
    return { type: asset.type, body: await readFile(join(directory, asset.file), 'utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
