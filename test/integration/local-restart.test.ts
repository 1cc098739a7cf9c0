import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DemoPipeline } from '../../local/demo-pipeline.js';
import { LocalGitRepository } from '../../local/git-repository.js';

/**
 * The issue's restart test: `npm start -- --serve` is killed with SIGKILL in the middle of
 * a bake, started again on the same data directory, and r1 still reaches every stage with
 * one deployment per target. Events are delivered at least once, so they are counted by
 * their `detail.eventId`, as consumers dedupe them.
 */

const definition = new DemoPipeline().definition();
const stages = definition.stages.map((stage) => stage.name);
const lastStage = stages.at(-1) as string;
/** The first stage with a bake after a deployment: the kill lands while it bakes. */
const bakingStage = 'gamma-onebox';

interface LoggedEvent {
  readonly source: string;
  readonly 'detail-type': string;
  readonly time: string;
  readonly detail: { eventId?: string; stage?: string; release?: number; target?: string };
}

interface Child {
  readonly process: ChildProcess;
  readonly stderr: string[];
  exited: string | null;
}

let dataDir: string | undefined;
const children: Child[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exited === null) {
      const gone = new Promise((resolve) => child.process.once('exit', resolve));
      child.process.kill('SIGKILL');
      await gone;
    }
  }
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/** `npm start -- --serve` on `dir`, as a child process of its own. */
function serve(dir: string): Child {
  const process_ = spawn(
    process.execPath,
    ['--import', 'tsx', 'local/main.ts', '--serve', '--data-dir', dir, '--speed', '300'],
    {
      cwd: join(import.meta.dirname, '..', '..'),
      env: {
        ...process.env,
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        POWERTOOLS_METRICS_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const child: Child = { process: process_, stderr: [], exited: null };
  process_.stderr?.setEncoding('utf8');
  process_.stderr?.on('data', (chunk: string) => child.stderr.push(chunk));
  process_.once('exit', (code, signal) => {
    child.exited = `code ${code}, signal ${signal}`;
  });
  children.push(child);
  return child;
}

/** Every event logged so far; a line cut short by the kill is skipped. */
async function events(dir: string): Promise<LoggedEvent[]> {
  let text: string;
  try {
    text = await readFile(join(dir, 'events.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((line) => {
    try {
      return line.trim() === '' ? [] : [JSON.parse(line) as LoggedEvent];
    } catch {
      return [];
    }
  });
}

const is = (event: LoggedEvent, type: string, stage?: string) =>
  event['detail-type'] === type &&
  event.detail.release === 1 &&
  (stage === undefined || event.detail.stage === stage);

/** The target of every deployment the local deployer saved (one file each). */
async function savedDeployments(dir: string): Promise<string[]> {
  const directory = join(dir, 'fleets', 'deployments');
  const files = (await readdir(directory)).filter((name) => name.endsWith('.json'));
  return Promise.all(
    files.map(async (name) => {
      const saved = JSON.parse(await readFile(join(directory, name), 'utf8')) as {
        target: string;
      };
      return saved.target;
    }),
  );
}

const describeEvent = (e: LoggedEvent) =>
  `${e['detail-type']} ${e.detail.stage ?? '-'} r${e.detail.release ?? '-'} ${e.detail.target ?? ''}`;

/** Polls the event log until `check` holds, or fails showing the last events and stderr. */
async function until(
  what: string,
  dir: string,
  child: Child,
  check: (logged: LoggedEvent[]) => boolean,
  seconds: number,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const logged = await events(dir);
    if (check(logged)) return;
    if (Date.now() > deadline || child.exited !== null) {
      const ours = logged.filter((e) => e.source === 'release-captain');
      const last = ours.slice(-15).map(describeEvent).join('\n  ');
      throw new Error(
        `${child.exited === null ? `Timed out after ${seconds} s` : `The runtime exited (${child.exited})`} waiting until ${what}.\nLast events:\n  ${last}\nstderr:\n${child.stderr.join('').slice(-4000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// The deadlines only bound how long a failure takes to show: the child's clock runs at most
// 300 times real time and slower on a loaded machine, never ahead of its work.
describe('a restart of the local runtime', { timeout: 600_000 }, () => {
  it('killed mid-bake and started again, completes r1 with one deployment per target', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'captain-restart-'));
    dataDir = dir;
    const repository = await LocalGitRepository.open({
      path: join(dir, 'repos', definition.source.repository),
    });
    await repository.commit({
      files: { 'service.json': JSON.stringify({ version: '1', faultRate: 0, latencyMs: 20 }) },
      message: 'v1',
      author: 'ana',
      reviewedBy: ['bo'],
    });
    const first = serve(dir);
    await until(
      `r1's Bake Started in ${bakingStage}`,
      dir,
      first,
      (logged) => logged.some((e) => is(e, 'Bake Started', bakingStage)),
      240,
    );

    // Act
    const killed = new Promise((resolve) => first.process.once('exit', resolve));
    first.process.kill('SIGKILL');
    await killed;
    const beforeKill = (await events(dir)).length;
    const second = serve(dir);
    await until(
      `r1's Stage Approved in ${lastStage}`,
      dir,
      second,
      (logged) => logged.some((e) => is(e, 'Stage Approved', lastStage)),
      300,
    );

    // Assess
    const logged = await events(dir);
    const ours = [
      ...new Map(
        logged
          .filter((e) => e.source === 'release-captain')
          .map((e) => [e.detail.eventId ?? JSON.stringify(e), e]),
      ).values(),
    ];
    const shown = `events:\n  ${ours.map(describeEvent).join('\n  ')}`;
    const approvedIn = ours.filter((e) => is(e, 'Stage Approved')).map((e) => e.detail.stage);
    expect(approvedIn.sort(), shown).toEqual([...stages].sort());
    const targets = definition.stages.flatMap((stage) => stage.targets.map((t) => t.id)).sort();
    const once = targets.map((t) => `${t} ×1`);
    const count = (ids: (string | undefined)[]) =>
      targets.map((t) => `${t} ×${ids.filter((id) => id === t).length}`);
    const started = ours.filter((e) => is(e, 'Deployment Started')).map((e) => e.detail.target);
    expect(count(started), `Deployment Started per target; ${shown}`).toEqual(once);
    const deployed = await savedDeployments(dir);
    expect(count(deployed), 'deployments the fleets received, per target').toEqual(once);
    expect(ours.filter((e) => e['detail-type'] === 'Rollback Started').map(describeEvent)).toEqual(
      [],
    );
    // The clock goes on from where it was saved (one step, 10 clock seconds, may be lost):
    // from real time, the bake started before the kill would seem to lie in the future.
    const lastBefore = Math.max(...logged.slice(0, beforeKill).map((e) => Date.parse(e.time)));
    const firstAfter = Math.min(...logged.slice(beforeKill).map((e) => Date.parse(e.time)));
    expect(
      lastBefore - firstAfter,
      'clock milliseconds the restart moved the clock back',
    ).toBeLessThan(60_000);
  });
});
