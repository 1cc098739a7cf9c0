/**
 * `captain`: the operator's command line. Reads and commands go to the operator API: the
 * local runtime's by default (found through `<data-dir>/api.json`), the control plane's in
 * AWS with `--region` (and `--profile`), signed with the caller's credentials.
 */
import { randomUUID } from 'node:crypto';
import type {
  AuditEntry,
  CommitWhereabouts,
  HistoryEntry,
  PipelineStatus,
  ReleaseDetail,
  ReleaseSummary,
} from '../core/index.js';
import {
  done,
  HELP,
  type Io,
  parse,
  post,
  processIo,
  reasonOf,
  releaseArg,
  usage,
  type Values,
} from './args.js';
import { CaptainClient, CliError, type Endpoint, EXIT } from './client.js';
import {
  type PlanAnswer,
  renderAudit,
  renderHistory,
  renderPlan,
  renderRelease,
  renderReleases,
  renderStatus,
  renderWhere,
} from './render.js';
import { rollback } from './rollback.js';
import { startWebProxy } from './web-proxy.js';

export { HELP, type Io } from './args.js';

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

/** `--wave n`: a production wave the pipeline has (2 if not a number, 3 if no such wave). */
export function waveOf(values: Values, status: PipelineStatus): number | undefined {
  if (values.wave === undefined) return undefined;
  const wave = Number(values.wave);
  if (!Number.isInteger(wave) || wave < 1) {
    throw usage(`--wave must be a wave number such as 2, got "${values.wave}"`);
  }
  const waves = [...new Set(status.groups.flatMap((g) => (g.wave === null ? [] : [g.wave])))];
  if (!waves.includes(wave)) {
    throw new CliError(
      EXIT.notFound,
      `${status.pipeline} has no wave ${wave}; its waves are ${waves.join(', ') || 'none'}.`,
    );
  }
  return wave;
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
    case 'status': {
      const status = await client.get<PipelineStatus>(`${base}/status`);
      const wave = waveOf(values, status);
      return show(status, (s) =>
        renderStatus(s, { ...(wave === undefined ? {} : { wave }), all: values.all }),
      );
    }
    case 'releases': {
      const status = await client.get<PipelineStatus>(`${base}/status`);
      const wave = waveOf(values, status);
      const releases = await client.get<ReleaseSummary[]>(`${base}/releases`, { limit });
      const columns = status.groups
        .filter((group) => wave === undefined || group.wave === wave)
        .flatMap((group) => group.stages);
      return show(releases, (r) => renderReleases(r, columns));
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
      if (rest[0] === 'approve') {
        const release = releaseArg(rest[1], 'the release');
        const answer = await post(client, `${base}/expedite/approve`, {
          release,
          reason: reasonOf(values),
        });
        return done(io, values, answer, `r${release} expedited: its bakes are shortened now.`);
      }
      const release = releaseArg(rest[0], 'the release');
      const answer = await post(client, `${base}/expedite`, {
        release,
        reason: reasonOf(values),
        bakeFactor: Number(values['bake-factor']),
      });
      return done(
        io,
        values,
        answer,
        `Expedite of r${release} (bakes × ${values['bake-factor']}) requested; it takes effect once somebody else runs \`captain expedite approve r${release}\`.`,
      );
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
