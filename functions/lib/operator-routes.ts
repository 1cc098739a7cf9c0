import { z } from 'zod';
import {
  ConflictError,
  DefinitionError,
  NotFoundError,
  type OperatorPorts,
  PipelineCommands,
  PipelineViews,
  parseRelease,
  RuleViolationError,
} from '../../core/index.js';

/** One request to the operator API, whatever carried it (a function URL, the local server). */
export interface ApiRequest {
  readonly method: string;
  /** The path below the API's root, e.g. `/api/pipelines/demo/status`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The parsed JSON body of a POST; `undefined` for a GET. */
  readonly body: unknown;
  /**
   * Who calls: the IAM principal the function URL authenticated in the cloud, the local
   * user locally. Commands are audited under this name; a body cannot choose it.
   */
  readonly caller: string;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

/** What the API reads and writes through. */
export interface OperatorApiDeps {
  /** The pipelines this control plane runs. */
  pipelines(): readonly string[];
  /** One pipeline's service and stores; throws `NotFoundError` for an unknown one. */
  operator(pipeline: string): Promise<OperatorPorts>;
  /** Resumes the steps waiting on these subjects (the wake registry); returns how many. */
  wake(subjects: readonly string[]): Promise<number>;
  /** Where a person sees an execution (the Step Functions console); `null` if nowhere. */
  executionLink(execution: string): string | null;
}

const release = z.union([
  z.number().int().positive(),
  z.string().transform((raw, ctx) => {
    const number = parseRelease(raw);
    if (number === null) {
      ctx.addIssue(`expected a release such as r42, got "${raw}"`);
      return z.NEVER;
    }
    return number;
  }),
]);
const reason = z.string().trim().min(3, 'give a reason of at least 3 characters').max(1024);
const requestId = z.string().trim().min(8).max(64);
const names = z.array(z.string().min(1).max(64)).min(1, 'name at least one stage or target');

const bodies = {
  preview: z.strictObject({ targets: names, to: release.nullable().default(null) }),
  rollback: z.strictObject({
    targets: names,
    to: release.nullable().default(null),
    reason,
    requestId,
    // The preview as the operator confirmed it: refused if the pipeline moved since. No
    // rollback without one, so a replayed or blind request cannot do what nobody saw.
    confirmed: z.strictObject({
      targets: z
        .array(
          z.strictObject({
            target: z.string().min(1),
            from: z.number().int(),
            to: z.number().int(),
          }),
        )
        .min(1),
      interrupted: z.array(z.strictObject({ stage: z.string().min(1), release: z.number().int() })),
    }),
  }),
  promotions: z.strictObject({
    stage: z.string().min(1),
    direction: z.enum(['in', 'out', 'both']).default('both'),
    enabled: z.boolean(),
    reason,
    requestId,
  }),
  approve: z.strictObject({
    stage: z.string().min(1),
    release,
    step: z.string().min(1).optional(),
    reason,
  }),
  override: z.strictObject({
    kind: z.enum(['time-window', 'alarm', 'known-bad', 'unreviewed']),
    subject: z.string().min(1).nullable().default(null),
    stage: z.string().min(1).nullable().default(null),
    release: release.nullable().default(null),
    hours: z.number().positive().max(72).default(4),
    reason,
    requestId,
  }),
  // The caller asks; a second caller approves through `expedite/approve`. An approver named
  // in the body would let one person expedite alone, so it is refused with the way to do it.
  expedite: z.strictObject({
    release,
    reason,
    bakeFactor: z.number().gt(0).max(1).default(0.1),
    approver: z
      .never({
        error:
          'an expedite is not approved by naming somebody: a second person approves it as themselves with POST /expedite/approve (captain expedite approve <rN>)',
      })
      .optional(),
  }),
  approveExpedite: z.strictObject({ release, reason }),
  cancelExpedite: z.strictObject({ release, reason }),
  knownBad: z.strictObject({
    kind: z.enum(['release', 'artifact', 'dependency']),
    value: z.string().min(1).max(200),
    present: z.boolean(),
    reason,
  }),
};

const count = (raw: string | undefined, fallback: number, max: number) => {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RuleViolationError(`Expected a count from 1 to ${max}, got "${raw}".`);
  }
  return value;
};

/**
 * The operator API behind the `captain` CLI and the web view: JSON over HTTP, one route
 * per view or command of the core (`PipelineViews`, `PipelineCommands`). Errors answer
 * with their message and a status a client can act on: 400 a refused or malformed
 * request, 404 something that does not exist, 409 a race lost (retry), 500 anything else
 * (its details go to the log, not the answer).
 *
 * @example
 * const api = createOperatorApi(deps);
 * await api({ method: 'GET', path: '/api/pipelines/demo/status', query: {}, body: undefined, caller: 'ana' });
 * // { status: 200, body: { pipeline: 'demo', stages: [...] } }
 */
export function createOperatorApi(
  deps: OperatorApiDeps,
  log: (message: string, error: unknown) => void = () => {},
) {
  return async (request: ApiRequest): Promise<ApiResponse> => {
    try {
      return { status: 200, body: await route(deps, request, log) };
    } catch (error) {
      return failure(error, log);
    }
  };
}

async function route(
  deps: OperatorApiDeps,
  request: ApiRequest,
  log: (message: string, error: unknown) => void,
): Promise<unknown> {
  let parts: string[];
  try {
    parts = request.path
      .split('/')
      .filter((part) => part !== '')
      .map(decodeURIComponent);
  } catch {
    throw new RuleViolationError(`The path ${request.path} is not valid percent-encoding.`);
  }
  if (parts[0] !== 'api' || parts[1] !== 'pipelines') throw notFound(request);
  if (parts.length === 2 && request.method === 'GET') return { pipelines: deps.pipelines() };
  const pipeline = parts[2] ?? '';
  if (!deps.pipelines().includes(pipeline)) {
    throw new NotFoundError(
      `No pipeline "${pipeline}"; this control plane runs ${deps.pipelines().join(', ')}.`,
    );
  }
  const ports = await deps.operator(pipeline);
  const views = new PipelineViews(ports);
  const commands = new PipelineCommands(ports);
  const [what, arg] = [parts[3], parts[4]];
  const key = `${request.method} ${what}${arg === undefined ? '' : ' *'}`;
  const q = request.query;
  const body = <S extends z.ZodType>(schema: S): z.output<S> => schema.parse(request.body ?? {});
  const by = request.caller;
  // The command is written by now: a wake that fails must not make it look failed. The
  // steps it would have woken look again at their timeouts (the backstop of every wait).
  const woken = async <R extends { wake: readonly string[] }>(result: R) => {
    if (result.wake.length === 0) return { ...result, woken: 0 };
    try {
      return { ...result, woken: await deps.wake(result.wake) };
    } catch (error) {
      log('waking after a command failed; the steps look again at their timeouts', error);
      return { ...result, woken: 0, wakeFailed: String(error) };
    }
  };

  switch (key) {
    case 'GET status':
      return views.status();
    case 'GET releases':
      return views.releases({
        limit: count(q.limit, 20, 100),
        ...(q.before === undefined ? {} : { before: release.parse(q.before) }),
      });
    case 'GET releases *': {
      const detail = await views.release(release.parse(arg));
      return {
        ...detail,
        stages: detail.stages.map((s) => ({
          ...s,
          execution:
            s.execution === null
              ? null
              : { ...s.execution, link: deps.executionLink(s.execution.name) },
        })),
      };
    }
    case 'GET history *':
      return views.history(arg ?? '', count(q.limit, 20, 200));
    case 'GET where *':
      return views.where(arg ?? '');
    case 'GET plan':
      return views.plan(q.release === undefined ? null : release.parse(q.release));
    case 'GET audit':
      return views.audit(count(q.limit, 20, 200));
    case 'POST rollback':
      return woken(await commands.rollback({ ...body(bodies.rollback), by }));
    case 'POST rollback *':
      if (arg === 'preview') return commands.previewRollback(body(bodies.preview));
      break;
    case 'POST promotions':
      return woken(await commands.setPromotions({ ...body(bodies.promotions), by }));
    case 'POST approve':
      return woken(await commands.approve({ ...body(bodies.approve), by }));
    case 'POST overrides':
      return woken(await commands.override({ ...body(bodies.override), by }));
    case 'POST expedite': {
      const { release, reason, bakeFactor } = body(bodies.expedite);
      return commands.requestExpedite({ release, reason, bakeFactor, requestedBy: by });
    }
    case 'POST expedite *':
      if (arg === 'approve') {
        const { release, reason } = body(bodies.approveExpedite);
        return woken(await commands.approveExpedite({ release, reason, approvedBy: by }));
      }
      if (arg === 'cancel') return commands.cancelExpedite({ ...body(bodies.cancelExpedite), by });
      break;
    case 'GET known-bad':
      return (await views.status()).knownBad;
    case 'POST known-bad':
      return commands.setKnownBad({ ...body(bodies.knownBad), by });
  }
  throw notFound(request);
}

function notFound(request: ApiRequest): NotFoundError {
  return new NotFoundError(
    `No route ${request.method} ${request.path}; see docs/operator-api.md for the routes.`,
  );
}

function failure(error: unknown, log: (message: string, error: unknown) => void): ApiResponse {
  if (error instanceof z.ZodError) {
    const issues = error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
    return {
      status: 400,
      body: { error: 'BadRequest', message: `Invalid request: ${issues.join('; ')}.` },
    };
  }
  if (error instanceof NotFoundError) {
    return { status: 404, body: { error: 'NotFound', message: error.message } };
  }
  if (error instanceof RuleViolationError || error instanceof DefinitionError) {
    return { status: 400, body: { error: 'Refused', message: error.message } };
  }
  if (error instanceof ConflictError) {
    return { status: 409, body: { error: 'Conflict', message: `${error.message} Try again.` } };
  }
  log('operator request failed', error);
  return {
    status: 500,
    body: {
      error: 'Internal',
      message: 'Internal error; the details are in the control plane’s log.',
    },
  };
}
