import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DeploymentRequest,
  InMemoryArtifactStore,
  ManualClock,
  type Release,
  RetryableError,
  type TargetDefinition,
  TerminalError,
  targetSchema,
} from '../../../core/index.js';
import { type Fleet, Fleets, httpGet } from '../../../local/fleet.js';
import { type LocalDeployment, LocalFleetDeployer } from '../../../local/fleet-deployer.js';
import { release, T0, target } from '../../support/fixtures.js';

/**
 * Fleets and deployments kept in a directory outlive the objects holding them, as ECS tasks
 * and deployments outlive a restart of the control plane. A "crash" here drops the objects
 * after closing their servers (a killed process closes its sockets too), without telling
 * them anything else; a "restart" opens new ones on the same directory.
 */

const START_SECONDS = 10;
const gamma = targetSchema.parse(
  target('gamma-t1', { account: 'local', deployment: { kind: 'local-fleet', boxes: 10 } }),
);
const service = (version: string, faultRate = 0) =>
  JSON.stringify({ version, faultRate, latencyMs: 0 });

let directory: string | undefined;
const open: Fleets[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((fleets) => fleets.close()));
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  directory = undefined;
});

async function newDirectory(): Promise<string> {
  directory = await mkdtemp(join(tmpdir(), 'captain-fleets-'));
  return directory;
}

/** One "process": fleets and their deployer on `dir`, sharing the clock and artifacts. */
function processOn(dir: string, clock: ManualClock, artifacts: InMemoryArtifactStore) {
  const fleets = new Fleets({ clock, startSeconds: START_SECONDS, directory: dir });
  open.push(fleets);
  const changes: LocalDeployment[] = [];
  const deployer = new LocalFleetDeployer({
    fleets,
    artifacts,
    clock,
    directory: dir,
    onChange: (change) => changes.push(change),
  });
  const crash = () => fleets.close();
  return { fleets, deployer, changes, crash };
}

function world() {
  const clock = new ManualClock(T0);
  const artifacts = new InMemoryArtifactStore();
  const good = async (number: number) => {
    const bytes = new TextEncoder().encode(service(`r${number}`));
    const file = await artifacts.putFile('api', 'service.json', bytes);
    return release(number, { artifacts: { images: [], files: [file], dependencies: [] } });
  };
  const request = (t: TargetDefinition, r: Release): DeploymentRequest => ({
    pipeline: 'api',
    target: t,
    release: r,
    kind: 'normal',
    idempotencyKey: `api/gamma/${r.number}/${t.id}/normal`,
  });
  /** Ticks, the clock moving START_SECONDS between ticks, until the deployment ends. */
  const drive = async (deployer: LocalFleetDeployer, t: TargetDefinition, id: string) => {
    for (let i = 0; i < 50; i += 1) {
      await deployer.tick();
      const status = await deployer.getDeployment(t, id);
      if (status.status !== 'in-progress') return status;
      clock.advance(START_SECONDS);
    }
    throw new Error(`deployment ${id} did not end within 50 ticks`);
  };
  return { clock, artifacts, good, request, drive };
}

const loadTimes = (fleet: Fleet) => fleet.boxes.map((box) => box.artifact?.loadedAt.toISOString());

describe('Fleets with a directory', () => {
  it('restarts every saved fleet, each box serving what it served before', async () => {
    // Prepare
    const dir = await newDirectory();
    const clock = new ManualClock(T0);
    const before = new Fleets({ clock, startSeconds: START_SECONDS, directory: dir });
    open.push(before);
    const fleet = await before.fleetFor(gamma);
    fleet.boxes[0]?.load(service('r2'));
    fleet.boxes[1]?.load(service('r3', 7));
    clock.advance(START_SECONDS);
    fleet.boxes[2]?.load(service('r2'));
    clock.advance(START_SECONDS / 2);

    // Act
    await before.close();
    const after = new Fleets({ clock, startSeconds: START_SECONDS, directory: dir });
    open.push(after);
    const restored = (await after.whenStarted('gamma-t1')) as Fleet;
    const served = await httpGet(`${restored.boxes[0]?.url}/`);

    // Assess
    expect(restored.versionCounts()).toEqual({ r2: 2, '(invalid)': 1, '(none)': 7 });
    expect(JSON.parse(served.body)).toEqual({ box: 0, version: 'r2' });
    expect(restored.boxes.map((box) => box.state).slice(0, 4)).toEqual([
      'running',
      'broken',
      'starting',
      'empty',
    ]);
    expect(after.list()).toEqual([restored]);
    expect(await after.fleetFor(gamma)).toBe(restored);
    clock.advance(START_SECONDS / 2);
    expect(restored.boxes[2]?.state).toBe('running');
  });

  it('keeps nothing without a directory', async () => {
    const clock = new ManualClock(T0);
    const fleets = new Fleets({ clock });
    open.push(fleets);

    expect(await fleets.whenStarted('gamma-t1')).toBeUndefined();
    expect(fleets.list()).toEqual([]);
  });

  it.each([
    ['a box file that is not JSON', '0.json', '{"serviceJson":', 'not JSON'],
    [
      'an artifact changed by hand',
      '0.json',
      JSON.stringify({
        serviceJson: { utf8: service('evil') },
        sha256: 'a'.repeat(64),
        loadedAt: T0,
      }),
      `not the ${'a'.repeat(64)} it names`,
    ],
    ['a fleet of no boxes', 'fleet.json', '{"target":"gamma-t1","boxes":0}', 'boxes:'],
  ])('refuses %s, naming the file and the way out', async (_, file, text, problem) => {
    const dir = await newDirectory();
    const first = new Fleets({ clock: new ManualClock(T0), directory: dir });
    const fleet = await first.fleetFor(gamma);
    fleet.boxes[0]?.load(service('r1'));
    await first.close();
    const path = join(dir, 'boxes', 'gamma-t1', file);
    await writeFile(path, text);

    const reopen = () => new Fleets({ clock: new ManualClock(T0), directory: dir });

    expect(reopen).toThrow(TerminalError);
    expect(reopen).toThrow(`The saved state ${path} `);
    expect(reopen).toThrow(problem);
    expect(reopen).toThrow(/Delete the file/);
  });
});

describe('LocalFleetDeployer with a directory', () => {
  it('goes on with a deployment in progress from its batch in flight, and knows finished ones', async () => {
    // Prepare
    const dir = await newDirectory();
    const { clock, artifacts, good, request, drive } = world();
    const first = processOn(dir, clock, artifacts);
    const r1 = await first.deployer.startDeployment(request(gamma, await good(1)));
    await drive(first.deployer, gamma, r1.deploymentId);
    const r2 = await first.deployer.startDeployment(request(gamma, await good(2)));
    await first.deployer.tick(); // batch 1 loaded
    clock.advance(START_SECONDS);
    await first.deployer.tick(); // batch 1 healthy
    await first.deployer.tick(); // batch 2 loaded
    const fleet = first.fleets.get('gamma-t1') as Fleet;
    const loadedBeforeCrash = loadTimes(fleet);
    await first.crash();

    // Act
    const second = processOn(dir, clock, artifacts);
    const whileRestored = second.deployer.deployments();
    const refused = await second.deployer
      .startDeployment(request(gamma, await good(3)))
      .catch((error: unknown) => error);
    const status = await drive(second.deployer, gamma, r2.deploymentId);
    const restored = second.fleets.get('gamma-t1') as Fleet;

    // Assess
    expect(whileRestored.map((d) => [d.deploymentId, d.status, `${d.batch}/${d.batches}`])).toEqual(
      [
        [r1.deploymentId, 'succeeded', '4/4'],
        [r2.deploymentId, 'in-progress', '2/4'],
      ],
    );
    expect(refused).toBeInstanceOf(RetryableError);
    expect(await second.deployer.getDeployment(gamma, r1.deploymentId)).toEqual({
      status: 'succeeded',
    });
    expect(status).toEqual({ status: 'succeeded' });
    expect(restored.versionCounts()).toEqual({ r2: 10 });
    expect(loadTimes(restored).slice(0, 6)).toEqual(loadedBeforeCrash.slice(0, 6));
    expect(second.changes.at(-1)).toMatchObject({ deploymentId: r2.deploymentId, batch: 4 });
    expect(second.changes.at(-1)?.status).toBe('succeeded');
  });

  it('answers a retried start after the restart with the same deployment, and deploys nothing again', async () => {
    // Prepare
    const dir = await newDirectory();
    const { clock, artifacts, good, request, drive } = world();
    const first = processOn(dir, clock, artifacts);
    const r1 = await good(1);
    const started = await first.deployer.startDeployment(request(gamma, r1));
    await drive(first.deployer, gamma, started.deploymentId);
    await first.crash();
    clock.advance(3600);

    // Act
    const second = processOn(dir, clock, artifacts);
    const fleet = (await second.fleets.whenStarted('gamma-t1')) as Fleet;
    const loadedBefore = loadTimes(fleet);
    const retried = await second.deployer.startDeployment(request(gamma, r1));
    await second.deployer.tick();
    const next = await second.deployer.startDeployment(request(gamma, await good(2)));

    // Assess
    expect(retried).toEqual(started);
    expect(loadTimes(fleet)).toEqual(loadedBefore);
    expect(fleet.versionCounts()).toEqual({ r1: 10 });
    expect(second.deployer.deployments().map((d) => d.deploymentId)).toEqual([
      started.deploymentId,
      next.deploymentId,
    ]);
    expect(next.deploymentId).toBe('gamma-t1-d2');
  });

  it('loads the batch in flight again when a box of it lost what it was given', async () => {
    const dir = await newDirectory();
    const { clock, artifacts, good, request, drive } = world();
    const first = processOn(dir, clock, artifacts);
    const { deploymentId } = await first.deployer.startDeployment(request(gamma, await good(1)));
    await first.deployer.tick(); // batch 1 (boxes 0-2) loaded
    await first.crash();
    await unlink(join(dir, 'boxes', 'gamma-t1', '1.json'));

    const second = processOn(dir, clock, artifacts);
    const status = await drive(second.deployer, gamma, deploymentId);

    expect(status).toEqual({ status: 'succeeded' });
    expect((second.fleets.get('gamma-t1') as Fleet).versionCounts()).toEqual({ r1: 10 });
  });
});
