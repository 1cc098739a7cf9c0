import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/client.js';
import { captain, type Io } from '../../cli/main.js';
import type { CommitWhereabouts, HistoryEntry, PipelineStatus } from '../../core/index.js';
import { commitDemoVersion, type DemoResult, runDemo } from '../../local/demo.js';

/** Runs one command line in this process, capturing what it prints. */
async function cli(
  args: string[],
  answer: string | null = null,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (text) => void out.push(text),
    err: (text) => void err.push(text),
    ask: async () => answer,
  };
  const code = await captain([...args, '--data-dir', dataDir, '--poll-ms', '100'], io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function json<T>(args: string[]): Promise<T> {
  const { code, out, err } = await cli([...args, '--json']);
  if (code !== 0) throw new Error(`captain ${args.join(' ')} exited ${code}: ${err}`);
  return JSON.parse(out) as T;
}

/**
 * Polls `captain status` until `ready` holds. The runtime's clock runs on its own, as
 * fast as the work allows; the deadline only bounds how long a failure takes to show.
 */
async function until(
  ready: (status: PipelineStatus) => boolean,
  what: string,
): Promise<PipelineStatus> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const status = await json<PipelineStatus>(['status']);
    if (ready(status)) return status;
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting until ${what}: ${JSON.stringify(status.stages.map((s) => [s.stage, s.run?.step, s.pending]))}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const stage = (status: PipelineStatus, name: string) => {
  const found = status.stages.find((s) => s.stage === name);
  if (found === undefined) throw new Error(`no stage ${name}`);
  return found;
};

let dataDir: string;
let demo: DemoResult;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'captain-cli-'));
  demo = await runDemo({ dataDir, keepRunning: true });
  expect(demo.ok).toBe(true);
  // The demo moved the clock itself; from here on it runs on its own, as behind `npm start`.
  demo.runtime.runFreely();
}, 600_000);

afterAll(async () => {
  await demo?.runtime.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** The `captain` CLI against a local runtime that ran the demo (r1, r3 everywhere; r4 rolled back). */
describe('captain against the local runtime', { timeout: 600_000 }, () => {
  it('shows the pipeline, releases, a target’s history and where a commit runs', async () => {
    const status = await cli(['status']);
    const releases = await cli(['releases']);
    const history = await json<HistoryEntry[]>(['history', 'gamma-onebox-us-west-2']);
    const r3 = await json<{ release: { headCommit: string } }>(['release', 'r3']);
    const where = await json<CommitWhereabouts>(['where', r3.release.headCommit.slice(0, 7)]);

    expect(status.code).toBe(EXIT.ok);
    expect(status.out).toMatch(/wave 1\n {2}prod-w1-z1-onebox\s+r3\s+idle/);
    expect(releases.out).toMatch(/r4 .* approved\s+rejected/);
    // Newest first: r4 rolled back to r3 by its alarm, r4's deployment (finished, or stopped
    // by the alarm while it deployed: both are kept), …, r1 first.
    expect(history.slice(0, 2).map((h) => [h.kind, h.from, h.to])).toEqual([
      ['rollback', 4, 3],
      ['normal', 3, 4],
    ]);
    expect(history[0]?.change).toBe('removed');
    expect(history.at(-1)).toMatchObject({ kind: 'normal', from: null, to: 1, change: 'added' });
    expect(where.commit?.release).toBe(3);
    expect(where.stages.flatMap((s) => s.targets).every((t) => t.contains)).toBe(true);
  });

  it('rolls a stage back to an older release (a latent change), then promotions re-enabled let a new release in', async () => {
    // Asked on a terminal, "no" declines; without a terminal, --yes is required.
    expect(
      (await cli(['rollback', 'prod-w1-z1', '--to', 'r1', '--reason', 'latent bug'], 'no')).code,
    ).toBe(EXIT.declined);
    expect(
      (await cli(['rollback', 'prod-w1-z1', '--to', 'r1', '--reason', 'latent bug'])).code,
    ).toBe(EXIT.usage);

    const rolled = await cli([
      'rollback',
      'prod-w1-z1',
      '--to',
      'r1',
      '--reason',
      'latent bug since r2',
      '--yes',
    ]);

    expect(rolled.err).toContain('Rollback started: prod-w1-z1');
    expect(rolled.out).toContain('r3 → r1 removes 2 commit(s)');
    expect(rolled.out).toMatch(
      /- [0-9a-f]{8} Version 3 \(ana\)\n {2}- [0-9a-f]{8} Version 2 \(ana\)/,
    );
    expect(rolled.out).toContain('prod-w1-z1-eu-north-1-eun1-az1: now runs r1');
    expect(rolled.code).toBe(EXIT.ok);
    const after = await json<PipelineStatus>(['status']);
    expect(stage(after, 'prod-w1-z1').targets.map((t) => t.deployed)).toEqual([1]);
    expect(stage(after, 'prod-w1-z1').promotionsIn).toMatchObject({
      enabled: false,
      by: `local:${userInfo().username}`,
    });
    expect(
      demo.runtime.fleets
        .list()
        .find((f) => f.target === 'prod-w1-z1-eu-north-1-eun1-az1')
        ?.versionCounts(),
    ).toEqual({ '1': 3 });
    const history = await json<HistoryEntry[]>(['history', 'prod-w1-z1']);
    expect(history[0]).toMatchObject({
      kind: 'rollback',
      from: 3,
      to: 1,
      result: 'succeeded',
      change: 'removed',
    });

    // r5 goes through the stages before and waits at the closed gate.
    await commitDemoVersion(demo.runtime, '5');
    const waiting = await until(
      (s) => stage(s, 'prod-w1-z1').pending === 5,
      'r5 waits at prod-w1-z1',
    );
    expect(stage(waiting, 'prod-w1-z1').run).toBeNull();
    expect(stage(waiting, 'prod-w1-z1').targets[0]?.deployed).toBe(1);

    // r5, held at the gate, is in flight: ana asks to expedite it, only somebody else approves.
    const asked = await cli(['--user', 'ana', 'expedite', 'r5', '--reason', 'CVE fix']);
    const requested = await json<PipelineStatus>(['status']);
    const own = await cli(['--user', 'ana', 'expedite', 'approve', 'r5', '--reason', 'mine']);
    const approved = await cli([
      '--user',
      'lee',
      'expedite',
      'approve',
      'r5',
      '--reason',
      'read the fix',
    ]);
    const expedited = await cli(['status']);
    expect(asked).toMatchObject({
      code: EXIT.ok,
      out: expect.stringContaining('takes effect once somebody else runs'),
    });
    expect(requested.expedite).toBeNull();
    expect(requested.expediteRequest).toMatchObject({ release: 5, requestedBy: 'local:ana' });
    expect(own).toMatchObject({
      code: EXIT.failed,
      err: expect.stringContaining("An expedite needs a second person's approval"),
    });
    expect(approved).toMatchObject({ code: EXIT.ok, err: '' });
    expect(expedited.out).toContain(
      'expedite: r5 requested by local:ana, approved by local:lee, bakes × 0.1: CVE fix',
    );

    const enabled = await cli([
      'promotions',
      'enable',
      'prod-w1-z1',
      '--reason',
      'fixed forward in r5',
    ]);
    expect(enabled).toMatchObject({
      code: EXIT.ok,
      out: 'Promotions in and out of prod-w1-z1 enabled.',
    });

    const deployed = await until(
      (s) => stage(s, 'prod-w1-z1').targets.every((t) => t.deployed === 5),
      'r5 is deployed at prod-w1-z1',
    );
    expect(stage(deployed, 'prod-w1-z1').promotionsOut).toEqual({ enabled: true });
    const audit = await cli(['audit']);
    expect(audit.out).toMatch(/enable promotions out of prod-w1-z1\s+fixed forward in r5/);
    expect(audit.out).toMatch(
      /roll back prod-w1-z1-eu-north-1-eun1-az1 → r1\s+latent bug since r2/,
    );
  });

  it('says what was wrong and exits with the documented codes', async () => {
    const missing = await cli(['release', 'r99']);
    const newer = await cli([
      'rollback',
      'gamma',
      '--to',
      'r9',
      '--reason',
      'no such thing',
      '--yes',
    ]);
    const noReason = await cli(['promotions', 'disable', 'gamma']);
    const unknown = await cli(['history', 'nowhere']);
    const elsewhere = await captain(['status', '--data-dir', join(dataDir, 'nothing-here')], {
      out: () => {},
      err: () => {},
      ask: async () => null,
    });

    expect(missing).toMatchObject({
      code: EXIT.notFound,
      err: expect.stringContaining('demo has no release r99'),
    });
    expect(newer).toMatchObject({
      code: EXIT.failed,
      err: expect.stringContaining('r9 is newer than'),
    });
    expect(noReason).toMatchObject({
      code: EXIT.usage,
      err: expect.stringContaining('give --reason'),
    });
    expect(unknown).toMatchObject({
      code: EXIT.notFound,
      err: expect.stringContaining('has no stage or target "nowhere"'),
    });
    expect(elsewhere).toBe(EXIT.unreachable);
  });

  it('runs as the package’s executable', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['bin/captain.mjs', 'status', '--data-dir', dataDir],
      { env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(stdout).toMatch(/^demo: newest release r5/);
    const failed = await promisify(execFile)(process.execPath, [
      'bin/captain.mjs',
      'release',
      'r99',
      '--data-dir',
      dataDir,
    ]).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: EXIT.notFound, stderr: expect.stringContaining('r99') });
  });
});
