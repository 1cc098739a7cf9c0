/**
 * The operator API (`/api/pipelines/…`, the same answers the `captain` CLI prints): reads
 * are GETs, commands (rollback, promotions) are JSON POSTs.
 */
import { session } from './session.js';

/** An answer of the operator API other than 2xx, carrying the message it gave. */
export class ApiError extends Error {
  constructor(status, message, options) {
    super(message, options);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * Calls the operator API for the pipeline shown. Commands are JSON POSTs carrying
 * `x-captain-client`, which the server requires of every command.
 *
 * @example
 * await get(['releases', 3]); // ReleaseDetail
 * await get(['history', 'gamma'], { limit: 50 }); // HistoryEntry[]
 * await post(['rollback', 'preview'], { targets: ['gamma'], to: null }); // RollbackPlan
 */
export function get(parts, query = null) {
  return request('GET', apiPath(parts) + (query === null ? '' : `?${new URLSearchParams(query)}`));
}

/** See {@link get}. */
export function post(parts, body) {
  return request('POST', apiPath(parts), body);
}

/** The names of the pipelines this control plane runs. */
export async function listPipelines() {
  return (await request('GET', '/api/pipelines')).pipelines;
}

const apiPath = (parts) =>
  `/api/${['pipelines', session.pipeline, ...parts].map((p) => encodeURIComponent(p)).join('/')}`;

async function request(method, url, body = undefined) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers:
        method === 'POST'
          ? { 'content-type': 'application/json', 'x-captain-client': 'web' }
          : { accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, 'The control plane does not answer; is it still running?', {
      cause: error,
    });
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const message = typeof answer?.message === 'string' ? answer.message : response.statusText;
    throw new ApiError(response.status, message || `HTTP ${response.status}`);
  }
  return answer;
}
