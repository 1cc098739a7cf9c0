/**
 * `captain`: the operator's command line. Reads and commands go to the operator API: the
 * local runtime's by default (found through `<data-dir>/api.json`), the control plane's in
 * AWS with `--region` (and `--profile`), signed with the caller's credentials.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import {
  type AuditEntry,
  type CommitWhereabouts,
  confirmationOf,
  type HistoryEntry,
  type PipelineStatus,
  parseRelease,
  type ReleaseDetail,
  type ReleaseSummary,
  type RollbackPlan,
} from '../core/index.js';
import { CaptainClient, CliError, type Endpoint, EXIT } from './client.js';
import {
  type PlanAnswer,
  renderAudit,
  renderHistory,
  renderPlan,
  renderRelease,
  renderReleases,
  renderRollbackPlan,
  renderStatus,
  renderWhere,
} from './render.js';
import { startWebProxy } from './web-proxy.js';

export const HELP = `Usage: captain <command> [arguments] [options]

Reads
  status                          every stage in order: release, step, pending, blockers, gates
  releases [--limit n]            releases newest first with their outcome at every stage
  release <rN>                    commits, reviews, artifacts, outcome and execution per stage
  history <target|stage>          deployments newest first, with the commits each brought
  where <commit>                  for every stage and target: does it run the commit, since when
  plan [rN]                       when a release reaches each stage (the rollout planner)
  audit                           who did what and why
  known-bad list                  what must not be deployed
  web [--port n]                  the web view: its address locally; in AWS, a loopback server
                                  that signs what it forwards with your credentials

Commands (each needs --reason; the audit log names the caller)
  rollback <stage|target>... [--to rN] [--yes] [--no-wait]
                                  previews, asks, disables promotions in and out of the stages,
                                  rolls back and follows the rollback to its end
  promotions enable|disable <stage> [--direction in|out|both]
  approve <stage> <rN> [--step name]
  override <stage|all> <blocker>[:subject] [--release rN] [--hours h]
                                  blocker: alarm, time-window, known-bad, unreviewed
  expedite <rN> --approver who [--bake-factor f]     expedite cancel <rN>
  known-bad add|remove <rN|sha256:digest|name@version>

Where (default: the local runtime serving --data-dir)
  --data-dir <dir>     the local runtime's data directory (default .captain)
  --url <url>          an operator API address
  --region <region>    the control plane in AWS (signed requests); with --profile <name>
                       and --stack <name> (default ReleaseCaptain, output OperatorApiUrl)
  --pipeline <name>    which pipeline (default: the only one)
  --user <name>        who you are, locally (in AWS it is your IAM principal)

Output
  --json               the API's answer as JSON (every read command)
  --help

Exit codes: 0 done; 1 refused by the control plane or the rollback failed; 2 bad command
line; 3 not found; 4 control plane unreachable or credentials refused; 5 declined at the
prompt.
`;

const OPTIONS = {
  'data-dir': { type: 'string', default: '.captain' },
  url: { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
  stack: { type: 'string', default: 'ReleaseCaptain' },
  pipeline: { type: 'string' },
  user: { type: 'string' },
  json: { type: 'boolean', default: false },
  reason: { type: 'string' },
  to: { type: 'string' },
  yes: { type: 'boolean', default: false },
  'no-wait': { type: 'boolean', default: false },
  direction: { type: 'string', default: 'both' },
  step: { type: 'string' },
  release: { type: 'string' },
  hours: { type: 'string', default: '4' },
  approver: { type: 'string' },
  'bake-factor': { type: 'string', default: '0.1' },
  limit: { type: 'string' },
  'poll-ms': { type: 'string', default: '1000' },
  port: { type: 'string', default: '0' },
  help: { type: 'boolean', default: false },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(EXIT.usage, `${(error as Error).message}\n\n${HELP}`);
  }
}

/** Where the CLI writes, and how it asks; the tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Asks a question on a terminal; `null` when there is no terminal to ask on. */
  ask(question: string): Promise<string | null>;
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
  ask: async (question) => {
    if (!process.stdin.isTTY) return null;
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

/** Runs one command line; returns the exit code. */
export async function captain(argv: readonly string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv);
    if (values.help || positionals.length === 0) {
      io.out(HELP);
      return values.help ? EXIT.ok : EXIT.usage;
    }
    const client = await CaptainClient.connect(endpoint(values));
    return await run(client, positionals, values, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`captain: ${error.message}`);
      return error.exitCode;
    }
    io.err(`captain: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failed;
  }
}

function endpoint(values: Values): Endpoint {
  if (values.region !== undefined) {
    return {
      kind: 'aws',
      region: values.region,
      profile: values.profile,
      stack: values.stack,
      url: values.url,
    };
  }
  if (values.url !== undefined) return { kind: 'url', url: values.url, user: values.user };
  return { kind: 'local', dataDir: values['data-dir'], user: values.user };
}

const usage = (message: string) => new CliError(EXIT.usage, `${message} (captain --help)`);

function releaseArg(raw: string | undefined, what: string): number {
  const release = raw === undefined ? null : parseRelease(raw);
  if (release === null) {
    throw usage(
      `${what} must be a release such as r42, got ${raw === undefined ? 'nothing' : `"${raw}"`}`,
    );
  }
  return release;
}

function reasonOf(values: Values): string {
  const reason = values.reason?.trim();
  if (reason === undefined || reason.length < 3) {
    throw usage('give --reason "…": the audit log keeps why');
  }
  return reason;
}

async function run(client: CaptainClient, args: string[], values: Values, io: Io): Promise<number> {
  const [command, ...rest] = args;
  if (command === 'web') return web(client, values, io);
  const pipeline = await pipelineOf(client, values);
  const base = `/api/pipelines/${encodeURIComponent(pipeline)}`;
  const show = <T>(answer: T, text: (answer: T) => string) => {
    io.out(values.json ? JSON.stringify(answer, null, 2) : text(answer));
    return EXIT.ok;
  };
  const limit = values.limit;

  switch (command) {
    case 'status':
      return show(await client.get<PipelineStatus>(`${base}/status`), renderStatus);
    case 'releases': {
      const status = await client.get<PipelineStatus>(`${base}/status`);
      const releases = await client.get<ReleaseSummary[]>(`${base}/releases`, { limit });
      return show(releases, (r) =>
        renderReleases(
          r,
          status.stages.map((s) => s.stage),
        ),
      );
    }
    case 'release':
      return show(
        await client.get<ReleaseDetail>(`${base}/releases/${releaseArg(rest[0], 'the release')}`),
        renderRelease,
      );
    case 'history': {
      const name = rest[0];
      if (name === undefined)
        throw usage('name a target or a stage: captain history <target|stage>');
      return show(
        await client.get<HistoryEntry[]>(`${base}/history/${encodeURIComponent(name)}`, { limit }),
        (entries) => renderHistory(name, entries),
      );
    }
    case 'where': {
      if (rest[0] === undefined) throw usage('name a commit: captain where <sha>');
      return show(
        await client.get<CommitWhereabouts>(`${base}/where/${encodeURIComponent(rest[0])}`),
        renderWhere,
      );
    }
    case 'plan':
      return show(
        await client.get<PlanAnswer>(`${base}/plan`, {
          release: rest[0] === undefined ? undefined : releaseArg(rest[0], 'the release'),
        }),
        renderPlan,
      );
    case 'audit':
      return show(await client.get<AuditEntry[]>(`${base}/audit`, { limit }), renderAudit);
    case 'rollback':
      return rollback(client, base, rest, values, io);
    case 'promotions': {
      const [action, stage] = rest;
      if ((action !== 'enable' && action !== 'disable') || stage === undefined) {
        throw usage('captain promotions enable|disable <stage>');
      }
      if (!['in', 'out', 'both'].includes(values.direction)) {
        throw usage(`--direction is in, out or both, got "${values.direction}"`);
      }
      const answer = await post(client, `${base}/promotions`, {
        stage,
        direction: values.direction,
        enabled: action === 'enable',
        reason: reasonOf(values),
        requestId: randomUUID(),
      });
      return done(
        io,
        values,
        answer,
        `Promotions ${values.direction === 'both' ? 'in and out' : values.direction} of ${stage} ${action}d.`,
      );
    }
    case 'approve': {
      const [stage, release] = rest;
      if (stage === undefined) throw usage('captain approve <stage> <rN>');
      const answer = await post(client, `${base}/approve`, {
        stage,
        release: releaseArg(release, 'the release'),
        ...(values.step === undefined ? {} : { step: values.step }),
        reason: reasonOf(values),
      });
      return done(io, values, answer, `Approved ${release} at ${stage}.`);
    }
    case 'override': {
      const [stage, blocker] = rest;
      if (stage === undefined || blocker === undefined) {
        throw usage('captain override <stage|all> <blocker>[:subject] --reason "…"');
      }
      const [kind, ...subject] = blocker.split(':');
      const hours = Number(values.hours);
      const answer = await post(client, `${base}/overrides`, {
        kind,
        subject: subject.length === 0 ? null : subject.join(':'),
        stage: stage === 'all' ? null : stage,
        release: values.release === undefined ? null : releaseArg(values.release, '--release'),
        hours,
        reason: reasonOf(values),
        requestId: randomUUID(),
      });
      return done(
        io,
        values,
        answer,
        `Override of ${blocker} at ${stage} recorded for ${hours} h.`,
      );
    }
    case 'expedite': {
      if (rest[0] === 'cancel') {
        const release = releaseArg(rest[1], 'the release');
        const answer = await post(client, `${base}/expedite/cancel`, {
          release,
          reason: reasonOf(values),
        });
        return done(io, values, answer, `Expedite of r${release} cancelled.`);
      }
      const release = releaseArg(rest[0], 'the release');
      if (values.approver === undefined)
        throw usage('an expedite needs --approver (who approved it)');
      const answer = await post(client, `${base}/expedite`, {
        release,
        approver: values.approver,
        reason: reasonOf(values),
        bakeFactor: Number(values['bake-factor']),
      });
      return done(io, values, answer, `r${release} expedited: bakes × ${values['bake-factor']}.`);
    }
    case 'known-bad': {
      const [action, value] = rest;
      if (action === 'list') {
        return show(await client.get<PipelineStatus['knownBad']>(`${base}/known-bad`), (list) =>
          list.length === 0
            ? 'Nothing is known bad.'
            : list.map((k) => `${k.kind} ${k.value} (${k.by}: ${k.reason})`).join('\n'),
        );
      }
      if ((action !== 'add' && action !== 'remove') || value === undefined) {
        throw usage('captain known-bad add|remove|list <rN|sha256:digest|name@version>');
      }
      const kind = /^r\d+$/.test(value)
        ? 'release'
        : value.startsWith('sha256:')
          ? 'artifact'
          : 'dependency';
      const answer = await post(client, `${base}/known-bad`, {
        kind,
        value,
        present: action === 'add',
        reason: reasonOf(values),
      });
      return done(
        io,
        values,
        answer,
        `${value} ${action === 'add' ? 'added to' : 'removed from'} the known-bad list.`,
      );
    }
  }
  throw usage(`unknown command "${command}"`);
}

/** The pipeline to talk about: `--pipeline`, or the only one the control plane runs. */
async function pipelineOf(client: CaptainClient, values: Values): Promise<string> {
  if (values.pipeline !== undefined) return values.pipeline;
  const { pipelines } = await client.get<{ pipelines: string[] }>('/api/pipelines');
  if (pipelines.length === 1 && pipelines[0] !== undefined) return pipelines[0];
  throw usage(
    `the control plane runs ${pipelines.length} pipelines (${pipelines.join(', ')}); choose one with --pipeline`,
  );
}

/**
 * A command POST. A command with a request id whose answer was lost or that met a
 * passing failure (connection, 5xx, a lost race, throttling) is sent again, at most
 * twice: the same id is the same request, carried out once.
 */
async function post<T>(client: CaptainClient, path: string, body: unknown): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.post<T>(path, body);
    } catch (error) {
      const again = error instanceof CliError && error.retryable;
      if (!again || attempt === 3 || !(body as { requestId?: string }).requestId) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

function done(io: Io, values: Values, answer: unknown, text: string): number {
  const { changed, notes } = answer as { changed?: boolean; notes?: string[] };
  if (values.json) io.out(JSON.stringify(answer, null, 2));
  else io.out(changed === false ? `Nothing changed: ${(notes ?? []).join('; ')}` : text);
  return EXIT.ok;
}

interface RollbackAnswer {
  readonly changed: boolean;
  readonly plan: RollbackPlan | null;
  readonly runs: readonly { stage: string; seq: number }[];
  readonly notes: readonly string[];
}

async function rollback(
  client: CaptainClient,
  base: string,
  names: string[],
  values: Values,
  io: Io,
): Promise<number> {
  if (names.length === 0) throw usage('name the stages or targets to roll back');
  const reason = reasonOf(values);
  const to = values.to === undefined ? null : releaseArg(values.to, '--to');
  const plan = await client.post<RollbackPlan>(`${base}/rollback/preview`, { targets: names, to });
  io.out(values.json ? JSON.stringify(plan, null, 2) : renderRollbackPlan(plan));
  if (!values.yes) {
    const answer = await io.ask('\nRoll back? Type "yes" to go on: ');
    if (answer === null) {
      throw usage('stdin is not a terminal: pass --yes to roll back without the prompt');
    }
    if (answer.trim().toLowerCase() !== 'yes') {
      io.err('Not rolled back.');
      return EXIT.declined;
    }
  }
  const started = await post<RollbackAnswer>(client, `${base}/rollback`, {
    targets: names,
    to,
    reason,
    requestId: randomUUID(),
    // Refused if the pipeline moved since the preview: only what was shown is done.
    confirmed: confirmationOf(plan),
  });
  io.err(
    `Rollback started: ${started.runs.map((r) => `${r.stage} (run ${r.seq})`).join(', ')}; promotions disabled.`,
  );
  if (values['no-wait']) return EXIT.ok;
  return follow(client, base, plan, started.runs, values, io);
}

/** Shows the rollback's targets as they change, until every rollback run has ended. */
async function follow(
  client: CaptainClient,
  base: string,
  plan: RollbackPlan,
  runs: RollbackAnswer['runs'],
  values: Values,
  io: Io,
): Promise<number> {
  const pollMs = Math.max(50, Number(values['poll-ms']));
  const seen = new Map<string, string>();
  for (;;) {
    const status = await client.get<PipelineStatus>(`${base}/status`);
    let active = 0;
    for (const { stage, seq } of runs) {
      const view = status.stages.find((s) => s.stage === stage);
      if (view?.run?.seq !== seq) continue;
      active++;
      for (const t of view.targets) {
        if (t.status === null || seen.get(t.target) === t.status) continue;
        seen.set(t.target, t.status);
        io.err(
          `  ${t.target}: ${t.status}${t.rollbackTo === null ? '' : ` (to r${t.rollbackTo})`}`,
        );
      }
    }
    if (active === 0) break;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  let failed = 0;
  for (const target of plan.targets) {
    const history = await client.get<HistoryEntry[]>(
      `${base}/history/${encodeURIComponent(target.target)}`,
      { limit: 5 },
    );
    const record = history.find((h) => h.kind === 'rollback' && h.to === target.to);
    const ok = record?.result === 'succeeded';
    if (!ok) failed++;
    io.out(
      `${target.target}: ${ok ? `now runs r${target.to}` : `rollback to r${target.to} ${record === undefined ? 'has no record' : `failed (${record.reason ?? 'no reason'})`}`}`,
    );
  }
  io.out(
    failed === 0
      ? `Rolled back. Promotions into and out of ${plan.stages.join(', ')} stay disabled: \`captain promotions enable <stage> --reason "…"\` when it is safe.`
      : `${failed} target(s) did not roll back; see \`captain history\` and the executions.`,
  );
  return failed === 0 ? EXIT.ok : EXIT.failed;
}

/** `captain web`: where the web view is; against AWS, a signing server on loopback until Ctrl-C. */
async function web(client: CaptainClient, values: Values, io: Io): Promise<number> {
  if (values.region === undefined) {
    io.out(`The web view: ${client.url}/`);
    return EXIT.ok;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw usage(`--port must be a port number, got "${values.port}"`);
  const proxy = await startWebProxy(client, port);
  io.out(
    `The web view: ${proxy.url} (only for you: the address carries a token; requests are signed as your AWS identity; Ctrl-C stops it)`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await proxy.close();
  return EXIT.ok;
}
