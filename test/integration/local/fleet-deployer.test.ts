import { afterEach, describe, expect, it } from 'vitest';
import {
  type DeploymentRequest,
  type FileArtifact,
  InMemoryArtifactStore,
  ManualClock,
  NotFoundError,
  type Release,
  RetryableError,
  type TargetDefinition,
  type TargetInput,
  TerminalError,
  targetSchema,
} from '../../../core/index.js';
import { type Fleet, Fleets } from '../../../local/fleet.js';
import {
  type LocalDeployment,
  LocalFleetDeployer,
  planBatches,
} from '../../../local/fleet-deployer.js';
import { release, T0, target } from '../../support/fixtures.js';

const START_SECONDS = 10;

function fleetTarget(id: string, boxes: number, overrides: Partial<TargetInput> = {}) {
  return targetSchema.parse(
    target(id, { account: 'local', deployment: { kind: 'local-fleet', boxes }, ...overrides }),
  );
}

let fleets: Fleets | null = null;
afterEach(async () => {
  await fleets?.close();
  fleets = null;
});

function setup(props: { healthTimeoutSeconds?: number } = {}) {
  const clock = new ManualClock(T0);
  const artifacts = new InMemoryArtifactStore();
  fleets = new Fleets({ clock, startSeconds: START_SECONDS });
  const changes: LocalDeployment[] = [];
  const deployer = new LocalFleetDeployer({
    fleets,
    artifacts,
    clock,
    ...props,
    onChange: (change) => changes.push(change),
  });
  const registry = fleets;

  /** A release whose only file is the given service.json. */
  const releaseOf = async (number: number, service: object, name = 'service.json') => {
    const bytes = new TextEncoder().encode(JSON.stringify(service));
    const file = await artifacts.putFile('api', name, bytes);
    return release(number, { artifacts: { images: [], files: [file], dependencies: [] } });
  };
  const good = (number: number) =>
    releaseOf(number, { version: `r${number}`, faultRate: 0, latencyMs: 0 });

  const request = (
    t: TargetDefinition,
    r: Release,
    kind: 'normal' | 'rollback' = 'normal',
    key = `api/gamma/${r.number}/${t.id}/${kind}`,
  ): DeploymentRequest => ({ pipeline: 'api', target: t, release: r, kind, idempotencyKey: key });

  /**
   * Ticks (the clock moving START_SECONDS between ticks) until the deployment ends,
   * noting after every tick how many boxes were being replaced at once.
   */
  const drive = async (t: TargetDefinition, deploymentId: string, limit = 50) => {
    const fleet = registry.get(t.id) as Fleet;
    let mostReplacedAtOnce = 0;
    for (let i = 0; i < limit; i += 1) {
      await deployer.tick();
      const replacing = fleet.boxes.filter((box) => box.state === 'starting').length;
      mostReplacedAtOnce = Math.max(mostReplacedAtOnce, replacing);
      const status = await deployer.getDeployment(t, deploymentId);
      if (status.status !== 'in-progress') return { status, mostReplacedAtOnce, fleet };
      clock.advance(START_SECONDS);
    }
    throw new Error(`deployment ${deploymentId} did not end within ${limit} ticks`);
  };

  const deploy = async (
    t: TargetDefinition,
    r: Release,
    kind: 'normal' | 'rollback' = 'normal',
  ) => {
    const { deploymentId } = await deployer.startDeployment(request(t, r, kind));
    return { deploymentId, ...(await drive(t, deploymentId)) };
  };

  const fleetOf = (id: string) => registry.get(id) as Fleet;
  return { clock, artifacts, deployer, changes, releaseOf, good, request, drive, deploy, fleetOf };
}

describe('planBatches', () => {
  it.each([
    [10, 33, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]],
    [10, 10, [[0], [1], [2], [3], [4], [5], [6], [7], [8], [9]]],
    [9, 33, [[0, 1], [2, 3], [4, 5], [6, 7], [8]]],
    [3, 33, [[0], [1], [2]]],
    [1, 33, [[0]]],
    [
      100,
      33,
      Array.from({ length: 4 }, (_, b) =>
        Array.from({ length: b < 3 ? 33 : 1 }, (_, i) => b * 33 + i),
      ),
    ],
  ])('%i boxes at %i percent → %j', (boxes, percent, expected) => {
    expect(planBatches(boxes, percent)).toEqual(expected);
  });
});

describe('LocalFleetDeployer', () => {
  it('replaces a fleet in batches of at most 33%, each after the previous passed its health checks', async () => {
    // Prepare
    const { deployer, good, deploy, request, drive, clock, fleetOf } = setup();
    const gamma = fleetTarget('gamma-t1', 10);
    await deploy(gamma, await good(1));
    const r2 = await good(2);

    // Act
    const { deploymentId } = await deployer.startDeployment(request(gamma, r2));
    await deployer.tick();
    const firstBatch = deployer.deployments().at(-1);
    clock.advance(START_SECONDS - 1);
    await deployer.tick();
    const stillFirst = deployer.deployments().at(-1);
    const midway = fleetOf('gamma-t1').versionCounts();
    const { status, mostReplacedAtOnce, fleet } = await drive(gamma, deploymentId);

    // Assess
    expect(firstBatch).toMatchObject({ target: 'gamma-t1', release: 2, version: 'r2', batch: 1 });
    expect(firstBatch).toMatchObject({ batches: 4, status: 'in-progress', kind: 'normal' });
    expect(stillFirst?.batch).toBe(1);
    expect(midway).toEqual({ r1: 7, r2: 3 });
    expect(mostReplacedAtOnce).toBe(3);
    expect(status).toEqual({ status: 'succeeded' });
    expect(fleet.versionCounts()).toEqual({ r2: 10 });
    expect(deployer.deployments().at(-1)).toMatchObject({ batch: 4, status: 'succeeded' });
  });

  it('tells the listener of every batch, ending with the outcome', async () => {
    const { good, deploy, changes } = setup();
    const gamma = fleetTarget('gamma-t1', 6);

    await deploy(gamma, await good(1));
    await Promise.resolve();

    const seen = changes.map((c) => `${c.batch}/${c.batches} ${c.status}`);
    expect(seen.at(0)).toBe('0/6 in-progress');
    expect(seen).toContain('3/6 in-progress');
    expect(seen.at(-1)).toBe('6/6 succeeded');
  });

  it('deploys a one-box, a fleet of 1, in one batch', async () => {
    const { good, deploy } = setup();
    const onebox = fleetTarget('gamma-onebox', 1);

    const { status, mostReplacedAtOnce, fleet } = await deploy(onebox, await good(1));

    expect(status).toEqual({ status: 'succeeded' });
    expect(mostReplacedAtOnce).toBe(1);
    expect(fleet.boxes).toHaveLength(1);
    expect(fleet.versionCounts()).toEqual({ r1: 1 });
  });

  it('starts one deployment per idempotency key, however often or concurrently asked', async () => {
    const { deployer, good, request } = setup();
    const gamma = fleetTarget('gamma-t1', 3);
    const r1 = await good(1);

    const [a, b] = await Promise.all([
      deployer.startDeployment(request(gamma, r1)),
      deployer.startDeployment(request(gamma, r1)),
    ]);
    const c = await deployer.startDeployment(request(gamma, r1));

    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(deployer.deployments()).toHaveLength(1);
  });

  it('finds a deployment by the key it was started with, also while its start is under way', async () => {
    const { deployer, good, request } = setup();
    const gamma = fleetTarget('gamma-t1', 3);
    const first = request(gamma, await good(1));

    const starting = deployer.startDeployment(first);
    const during = await deployer.findDeployment(gamma, first.idempotencyKey);
    const { deploymentId } = await starting;

    expect(during).toBe(deploymentId);
    expect(await deployer.findDeployment(gamma, first.idempotencyKey)).toBe(deploymentId);
    expect(await deployer.findDeployment(gamma, 'never/started')).toBeNull();
  });

  it('refuses a second deployment to a busy target with a RetryableError, and takes it once the first ended', async () => {
    const { deployer, good, request, drive } = setup();
    const gamma = fleetTarget('gamma-t1', 3);
    const { deploymentId } = await deployer.startDeployment(request(gamma, await good(1)));
    const r2 = await good(2);

    const refused = deployer.startDeployment(request(gamma, r2));
    await expect(refused).rejects.toThrow(RetryableError);
    await expect(refused).rejects.toThrow(
      `Target "gamma-t1" already has deployment ${deploymentId}`,
    );
    await drive(gamma, deploymentId);
    const next = await deployer.startDeployment(request(gamma, r2));

    expect(next.deploymentId).not.toBe(deploymentId);
  });

  it('fails a deployment whose batch does not pass its health checks in time, naming the box', async () => {
    // Prepare
    const { deployer, good, releaseOf, deploy, request, clock, fleetOf } = setup({
      healthTimeoutSeconds: 60,
    });
    const gamma = fleetTarget('gamma-t1', 10);
    await deploy(gamma, await good(1));
    const bad = await releaseOf(2, { version: 'r2', faultRate: 7, latencyMs: 0 });

    // Act
    const { deploymentId } = await deployer.startDeployment(request(gamma, bad));
    await deployer.tick();
    clock.advance(59);
    await deployer.tick();
    const before = await deployer.getDeployment(gamma, deploymentId);
    clock.advance(1);
    await deployer.tick();
    const after = await deployer.getDeployment(gamma, deploymentId);

    // Assess
    expect(before).toEqual({ status: 'in-progress' });
    expect(after.status).toBe('failed');
    const reason = after.status === 'failed' ? after.reason : '';
    expect(reason).toMatch(
      /^box 0 of gamma-t1 \(http:\/\/127\.0\.0\.1:\d+\) was not healthy 60 s after r2/,
    );
    expect(reason).toContain('faultRate: expected a number from 0 to 1');
    expect(fleetOf('gamma-t1').versionCounts()).toEqual({ '(invalid)': 3, r1: 7 });
    expect(deployer.deployments().at(-1)).toMatchObject({ batch: 1, status: 'failed', reason });
  });

  it('stops after the batch in flight: stopping, then failed "stopped"', async () => {
    // Prepare
    const { deployer, good, deploy, request, clock, fleetOf } = setup();
    const gamma = fleetTarget('gamma-t1', 10);
    await deploy(gamma, await good(1));
    const { deploymentId } = await deployer.startDeployment(request(gamma, await good(2)));
    await deployer.tick();

    // Act
    const answer = await deployer.stopDeployment(gamma, deploymentId);
    const whileStopping = await deployer.getDeployment(gamma, deploymentId);
    const view = deployer.deployments().at(-1);
    clock.advance(START_SECONDS);
    await deployer.tick();
    const stopped = await deployer.getDeployment(gamma, deploymentId);
    const again = await deployer.stopDeployment(gamma, deploymentId);

    // Assess
    expect(answer).toBe('stopping');
    expect(whileStopping).toEqual({ status: 'in-progress' });
    expect(view?.status).toBe('stopping');
    expect(stopped).toEqual({ status: 'failed', reason: 'stopped' });
    expect(again).toBe('stopping');
    expect(await deployer.getDeployment(gamma, deploymentId)).toEqual(stopped);
    expect(fleetOf('gamma-t1').versionCounts()).toEqual({ r1: 7, r2: 3 });
  });

  it('stops at once a deployment with no batch in flight', async () => {
    const { deployer, good, request, fleetOf } = setup();
    const gamma = fleetTarget('gamma-t1', 3);
    const { deploymentId } = await deployer.startDeployment(request(gamma, await good(1)));

    await deployer.stopDeployment(gamma, deploymentId);
    await deployer.tick();

    expect(await deployer.getDeployment(gamma, deploymentId)).toEqual({
      status: 'failed',
      reason: 'stopped',
    });
    expect(fleetOf('gamma-t1').versionCounts()).toEqual({ '(none)': 3 });
  });

  it('rolls back rollbackBatchPercent of the fleet at a time, deploys batchPercent', async () => {
    const { good, deploy } = setup();
    const gamma = fleetTarget('gamma-t1', 10, { batchPercent: 10, rollbackBatchPercent: 33 });
    await deploy(gamma, await good(1));

    const normal = await deploy(gamma, await good(2));
    const rollback = await deploy(gamma, await good(1), 'rollback');

    expect(normal.mostReplacedAtOnce).toBe(1);
    expect(rollback.mostReplacedAtOnce).toBe(3);
    expect(rollback.status).toEqual({ status: 'succeeded' });
    expect(rollback.fleet.versionCounts()).toEqual({ r1: 10 });
  });

  it('refuses a target that is not a local fleet, naming the target and its kind', async () => {
    const { deployer, good, request } = setup();
    const ecs = targetSchema.parse(
      target('prod-t1', { deployment: { kind: 'ecs-service', cluster: 'c', service: 's' } }),
    );

    const attempt = deployer.startDeployment(request(ecs, await good(1)));

    await expect(attempt).rejects.toThrow(TerminalError);
    await expect(attempt).rejects.toThrow(
      'Target "prod-t1" has deployment kind "ecs-service", not "local-fleet"',
    );
    await expect(deployer.getDeployment(ecs, 'x')).rejects.toThrow('"ecs-service"');
    await expect(deployer.stopDeployment(ecs, 'x')).rejects.toThrow('"ecs-service"');
  });

  it("surfaces the store's error when the artifact's sha256 does not match, and leaves the target free", async () => {
    const { deployer, artifacts, good, request, deploy } = setup();
    const gamma = fleetTarget('gamma-t1', 3);
    const r1 = await good(1);
    const file = r1.artifacts.files[0] as FileArtifact;
    artifacts.tamper(file.key, new TextEncoder().encode('{"version":"evil"}'));

    const attempt = deployer.startDeployment(request(gamma, r1));

    await expect(attempt).rejects.toThrow(TerminalError);
    await expect(attempt).rejects.toThrow(`Artifact ${file.key} has sha256`);
    expect(deployer.deployments()).toEqual([]);
    expect((await deploy(gamma, await good(2))).status).toEqual({ status: 'succeeded' });
  });

  it("deploys the manifest's only file whatever its name, and refuses a release without service.json", async () => {
    const { releaseOf, deploy, deployer, request } = setup();
    const gamma = fleetTarget('gamma-t1', 1);
    const renamed = await releaseOf(1, { version: 'r1', faultRate: 0, latencyMs: 0 }, 'app.json');
    const imagesOnly = release(2);

    const { status, fleet } = await deploy(gamma, renamed);

    expect(status).toEqual({ status: 'succeeded' });
    expect(fleet.versionCounts()).toEqual({ r1: 1 });
    await expect(deployer.startDeployment(request(gamma, imagesOnly))).rejects.toThrow(
      'Release r2 for target "gamma-t1" has no file "service.json" (its files: none)',
    );
  });

  it('does not know a deployment of another target or process', async () => {
    const { deployer, good, request } = setup();
    const gamma = fleetTarget('gamma-t1', 1);
    const { deploymentId } = await deployer.startDeployment(request(gamma, await good(1)));

    await expect(deployer.getDeployment(fleetTarget('beta-t1', 1), deploymentId)).rejects.toThrow(
      NotFoundError,
    );
    await expect(deployer.getDeployment(gamma, 'gamma-t1-d99')).rejects.toThrow(NotFoundError);
  });
});
