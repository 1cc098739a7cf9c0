/**
 * The hashes that name pages: `#/<page>/<arg>`, with `?pipeline=<name>` when the control
 * plane runs several pipelines.
 */
import { session } from './session.js';

/**
 * The hash of a page of the pipeline shown: `route('/release/3')` → `#/release/3`, with
 * `?pipeline=` when there is more than one pipeline to choose from.
 */
export function route(path, pipeline = session.pipeline) {
  return session.pipelines.length > 1
    ? `#${path}?${new URLSearchParams({ pipeline })}`
    : `#${path}`;
}

/** `#/history/gamma?pipeline=demo` → `{ page: 'history', arg: 'gamma', pipeline: 'demo' }`. */
export function parseRoute(hash) {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const [page = '', ...rest] = path.split('/').filter((part) => part !== '');
  const arg = rest.length === 0 ? null : decodeURIComponent(rest.join('/'));
  return { page, arg, pipeline: new URLSearchParams(query).get('pipeline') };
}
