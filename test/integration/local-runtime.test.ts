import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PipelineDefinition } from '../../core/index.js';
import { DemoPipeline } from '../../local/demo-pipeline.js';
import type { BusEvent } from '../../local/event-bus.js';
import { LocalGitRepository } from '../../local/git-repository.js';
import { LocalRuntime } from '../../local/runtime.js';

const definition: PipelineDefinition = new DemoPipeline().definition();
const service = (faultRate: number, version: string) =>
  `${JSON.stringify({ version, faultRate, latencyMs: 20 }, null, 2)}\n`;

let runtime: LocalRuntime | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

/** The runtime's Release Captain events, as they are published. */
function record(on: LocalRuntime) {
  const events: BusEvent[] = [];
  on.bus.subscribe((event) => {
    if (event.source === 'release-captain') events.push(event);
  });
  const seen = (type: string, stage?: string, release?: number) =>
    events.some((e) => {
      const detail = e.detail as { stage?: string; release?: number };
      return (
        e['detail-type'] === type &&
        (stage === undefined || detail.stage === stage) &&
        (release === undefined || detail.release === release)
      );
    });
  return { events, seen };
}

describe('the local runtime', { timeout: 600_000 }, () => {
  it('refuses a data directory whose table an earlier version kept in dynalite, starting nothing', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'captain-runtime-'));
    await mkdir(join(dataDir, 'dynamodb'));
    await writeFile(join(dataDir, 'dynamodb', 'CURRENT'), 'MANIFEST-000001\n');

    await expect(LocalRuntime.start({ pipelines: [definition], dataDir })).rejects.toThrow(
      /kept by dynalite.*start with a new --data-dir/,
    );
    await expect(readFile(join(dataDir, 'api.json'))).rejects.toThrow(/ENOENT/);
  });

  it('builds a reviewed commit into r1 and promotes it through every stage of the demo pipeline', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'captain-runtime-'));
    const repository = await LocalGitRepository.open({
      path: join(dataDir, 'repos', definition.source.repository),
    });
    const head = await repository.commit({
      files: { 'service.json': service(0, '1') },
      message: 'Version 1',
      author: 'ana',
      reviewedBy: ['bo'],
      pullRequest: 'demo-service#1',
    });
    // The test moves the clock: each step once the work of the one before is done.
    runtime = await LocalRuntime.start({ pipelines: [definition], dataDir, inMemoryTable: true });
    const { seen, events } = record(runtime);
    const last = definition.stages.at(-1)?.name as string;
    const started = runtime.clock.now().getTime();

    await runtime.runUntil(() => seen('Stage Approved', last, 1), {
      what: 'r1 is approved in the last stage',
      clockSeconds: 86_400,
    });
    // Every stage's bake and deployments, and not a day more (time in clock hours).
    const hours = (runtime.clock.now().getTime() - started) / 3_600_000;
    expect(hours).toBeGreaterThan(1);
    expect(hours).toBeLessThan(6);

    for (const stage of definition.stages) {
      expect(seen('Stage Approved', stage.name, 1), stage.name).toBe(true);
    }
    expect(seen('Release Blocked')).toBe(false);
    expect(seen('Rollback Started')).toBe(false);
    expect((await runtime.releases.getRelease('demo', 1))?.headCommit).toBe(head);
    // Every fleet runs version 1 on every box.
    for (const stage of definition.stages) {
      for (const target of stage.targets) {
        expect(runtime.fleets.get(target.id)?.versionCounts(), target.id).toEqual({
          '1': target.deployment.kind === 'local-fleet' ? target.deployment.boxes : 0,
        });
      }
    }
    // The event log on disk holds what the bus saw.
    await runtime.bus.drain();
    const logged = (await readFile(join(dataDir, 'events.jsonl'), 'utf8')).trim().split('\n');
    const ids = new Set(logged.map((line) => (JSON.parse(line) as { id: string }).id));
    expect(events.every((e) => ids.has(e.id))).toBe(true);
    expect(runtime.failures).toEqual([]);
  });
});
