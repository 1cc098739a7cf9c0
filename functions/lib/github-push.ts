import { createHmac, timingSafeEqual } from 'node:crypto';
import { type BuildRequest, type PipelineDefinition, pipelineForPush } from '../../core/index.js';

/** Why a webhook delivery is refused: the HTTP status and a message safe to return. */
export class WebhookRefusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'WebhookRefusal';
    this.status = status;
  }
}

/**
 * Checks GitHub's `X-Hub-Signature-256` (`sha256=<hex HMAC of the raw body>`) in constant
 * time. Throws a 401 refusal when it is missing or wrong: a delivery nobody signed with
 * the shared secret changes nothing.
 *
 * @example
 * verifySignature(rawBody, 'sha256=757107ea…', secret); // returns, or throws WebhookRefusal(401)
 */
export function verifySignature(body: string, header: string | undefined, secret: string): void {
  if (header === undefined || !header.startsWith('sha256=')) {
    throw new WebhookRefusal(
      401,
      'Missing X-Hub-Signature-256: configure the webhook with the secret shared with Release Captain.',
    );
  }
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new WebhookRefusal(
      401,
      'X-Hub-Signature-256 does not match the body: wrong secret or altered payload.',
    );
  }
}

interface PushPayload {
  ref?: unknown;
  after?: unknown;
  before?: unknown;
  deleted?: unknown;
  repository?: { full_name?: unknown; name?: unknown };
  pusher?: { name?: unknown };
}

const ZERO = /^0{40}$/;
/** A git commit id: SHA-1, or SHA-256 in a repository that uses it. */
const COMMIT = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * Reads a verified delivery: `ping` → nothing to do; `push` to a watched branch of a
 * pipeline's repository → the build to start; anything else → a 4xx refusal saying why,
 * and no state change.
 *
 * @example
 * buildFor('push', { ref: 'refs/heads/main', after: 'c0ffee…', repository: { full_name: 'acme/api' }, … }, pipelines);
 * // { pipeline: 'api', commit: 'c0ffee…', previousCommit: '…', pushedBy: 'ana' }
 */
export function buildFor(
  event: string | undefined,
  body: string,
  pipelines: readonly PipelineDefinition[],
): BuildRequest | 'pong' {
  if (event === 'ping') return 'pong';
  if (event !== 'push') {
    throw new WebhookRefusal(
      400,
      `Release Captain handles push events only, got ${JSON.stringify(event ?? null)}; subscribe the webhook to pushes.`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new WebhookRefusal(
      400,
      'The push payload is not JSON; set the webhook content type to application/json.',
    );
  }
  // Any JSON may arrive (`null`, a number, a list): only an object is a push payload.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new WebhookRefusal(400, 'The push payload is not a JSON object.');
  }
  const payload = parsed as PushPayload;
  const named = payload.repository;
  const repository =
    named !== null && typeof named === 'object' ? (named.full_name ?? named.name) : undefined;
  const ref = payload.ref;
  if (
    typeof repository !== 'string' ||
    typeof ref !== 'string' ||
    typeof payload.after !== 'string'
  ) {
    throw new WebhookRefusal(400, 'The push payload lacks repository, ref or after.');
  }
  if (!COMMIT.test(payload.after)) {
    throw new WebhookRefusal(
      400,
      `The push payload's after is not a commit id (40 or 64 hex digits): ${JSON.stringify(payload.after.slice(0, 80))}.`,
    );
  }
  const chosen = pipelineForPush(pipelines, repository, ref);
  if ('ignored' in chosen) throw new WebhookRefusal(422, chosen.ignored);
  const { pipeline } = chosen;
  if (payload.deleted === true || ZERO.test(payload.after)) {
    throw new WebhookRefusal(422, `${ref} was deleted; there is nothing to build.`);
  }
  const before =
    typeof payload.before === 'string' && COMMIT.test(payload.before) && !ZERO.test(payload.before)
      ? payload.before
      : null;
  return {
    pipeline: pipeline.name,
    commit: payload.after,
    previousCommit: before,
    pushedBy:
      payload.pusher !== null && typeof payload.pusher?.name === 'string'
        ? payload.pusher.name
        : 'unknown',
  };
}
