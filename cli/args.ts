/** The command line's options, help, input and output, and what every command shares. */
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { parseRelease } from '../core/index.js';
import { type CaptainClient, CliError, EXIT } from './client.js';

export const HELP = `Usage: captain <command> [arguments] [options]

Reads
  status [--wave n] [--all]       every stage in order: release, step, pending, blockers, gates;
                                  past 40 stages, an idle Region's lane is one line (--all: not)
  releases [--limit n] [--wave n] releases newest first with their outcome at every stage
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
  expedite <rN> [--bake-factor f]  asks for an expedite; another person approves it with
  expedite approve <rN>             (you cannot approve your own)    expedite cancel <rN>
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
  'bake-factor': { type: 'string', default: '0.1' },
  limit: { type: 'string' },
  wave: { type: 'string' },
  all: { type: 'boolean', default: false },
  'poll-ms': { type: 'string', default: '1000' },
  port: { type: 'string', default: '0' },
  help: { type: 'boolean', default: false },
} as const;

export type Values = ReturnType<typeof parse>['values'];

export function parse(argv: readonly string[]) {
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

export const usage = (message: string) => new CliError(EXIT.usage, `${message} (captain --help)`);

export function releaseArg(raw: string | undefined, what: string): number {
  const release = raw === undefined ? null : parseRelease(raw);
  if (release === null) {
    throw usage(
      `${what} must be a release such as r42, got ${raw === undefined ? 'nothing' : `"${raw}"`}`,
    );
  }
  return release;
}

export function reasonOf(values: Values): string {
  const reason = values.reason?.trim();
  if (reason === undefined || reason.length < 3) {
    throw usage('give --reason "…": the audit log keeps why');
  }
  return reason;
}

/**
 * A command POST. A command with a request id whose answer was lost or that met a
 * passing failure (connection, 5xx, a lost race, throttling) is sent again, at most
 * twice: the same id is the same request, carried out once.
 */
export async function post<T>(client: CaptainClient, path: string, body: unknown): Promise<T> {
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

export function done(io: Io, values: Values, answer: unknown, text: string): number {
  const { changed, notes } = answer as { changed?: boolean; notes?: string[] };
  if (values.json) io.out(JSON.stringify(answer, null, 2));
  else io.out(changed === false ? `Nothing changed: ${(notes ?? []).join('; ')}` : text);
  return EXIT.ok;
}
