import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  type ArtifactStore,
  type Clock,
  type Deployer,
  type DeploymentRequest,
  type DeploymentStatus,
  type FileArtifact,
  NotFoundError,
  type ReleaseNumber,
  RetryableError,
  releaseLabel,
  type TargetDefinition,
  TerminalError,
} from '../core/index.js';
import {
  type Box,
  type Fleet,
  type Fleets,
  httpGet,
  localFleetConfig,
  parseServiceJson,
  readSavedJson,
  restoreBytes,
  saveJson,
  sha256Of,
  storeBytes,
  storedBytesSchema,
} from './fleet.js';

/** The file of a release the local fleets serve. */
export const SERVICE_FILE = 'service.json';

/**
 * The boxes each batch replaces, in order: `percent` of the fleet at a time, rounded down
 * but at least one box, so that a one-box and a small fleet can still be deployed. Below
 * four boxes one box is more than 33% of the fleet: a one-box is out of service while it
 * restarts, which is what its own stage and alarm are for.
 *
 * @example
 * planBatches(10, 33); // [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
 * planBatches(10, 10); // [[0], [1], …, [9]]
 * planBatches(3, 33);  // [[0], [1], [2]] (⌊3 × 33%⌋ = 0 → 1)
 * planBatches(1, 33);  // [[0]] (a one-box)
 */
export function planBatches(boxes: number, percent: number): number[][] {
  const size = Math.max(1, Math.floor((boxes * percent) / 100));
  const batches: number[][] = [];
  for (let first = 0; first < boxes; first += size) {
    batches.push(Array.from({ length: Math.min(size, boxes - first) }, (_, i) => first + i));
  }
  return batches;
}

/** One deployment as the terminal view shows it. */
export interface LocalDeployment {
  readonly deploymentId: string;
  readonly pipeline: string;
  readonly target: string;
  readonly release: ReleaseNumber;
  /** The `version` of the deployed `service.json`, `null` when it cannot be read. */
  readonly version: string | null;
  readonly kind: 'normal' | 'rollback';
  /** The batch in flight (or the one that failed), 1-based; 0 before the first. */
  readonly batch: number;
  readonly batches: number;
  /** `stopping`: asked to stop, finishing its batch in flight. */
  readonly status: 'in-progress' | 'stopping' | 'succeeded' | 'failed';
  readonly reason: string | null;
  readonly startedAt: string;
  readonly endedAt: string | null;
}

export interface LocalFleetDeployerProps {
  readonly fleets: Fleets;
  /** Where the release's `service.json` is read from, verified by its sha256. */
  readonly artifacts: ArtifactStore;
  readonly clock: Clock;
  /**
   * Clock seconds a batch has to pass its health checks before the deployment fails.
   * @default 60
   */
  readonly healthTimeoutSeconds?: number;
  /**
   * Real milliseconds one health check waits for an answer.
   * @default 1000
   */
  readonly probeTimeoutMs?: number;
  /**
   * Told of every change of a deployment (a batch started or done, the end), after the
   * change: the runtime wakes the stage step waiting on the deployment from here. It runs
   * in a microtask, so a listener that throws cannot corrupt a deployment.
   * @default - nobody is told
   */
  readonly onChange?: (deployment: LocalDeployment) => void;
  /**
   * Where deployments are kept between runs (`<dataDir>/fleets`, beside the fleets'
   * boxes): one file per deployment under `deployments/`, rewritten atomically at each
   * change before anybody is told of it. A deployer opened on it knows every deployment
   * again: one in progress goes on from its batch in flight, as ECS goes on with a
   * deployment while its control plane restarts, and an idempotency key still names its
   * deployment.
   * @default - nothing kept: deployments end with the process
   */
  readonly directory?: string;
}

interface Running {
  readonly deploymentId: string;
  /** The number in its id, by which the next id is chosen after a restart. */
  readonly sequence: number;
  readonly idempotencyKey: string;
  readonly pipeline: string;
  readonly target: string;
  readonly release: ReleaseNumber;
  readonly version: string | null;
  readonly kind: 'normal' | 'rollback';
  /** `null` for a deployment restored after a restart until its fleet has started again. */
  fleet: Fleet | null;
  readonly serviceJson: Uint8Array;
  readonly sha256: string;
  readonly plan: readonly (readonly number[])[];
  readonly startedAt: Date;
  /** Index in `plan` of the next batch to load. */
  next: number;
  /** The batch in flight: the indices of its boxes and when (clock time) they were loaded. */
  current: { readonly boxes: readonly number[]; readonly loadedAt: number } | null;
  stopRequested: boolean;
  ended: { readonly status: DeploymentStatus; readonly at: Date } | null;
}

/**
 * The {@link Deployer} of `local-fleet` targets: replaces a fleet's boxes batch by batch
 * with the release's `service.json`, waiting for each batch to pass its health checks
 * (real HTTP requests to `/health`) before the next. A normal deployment replaces
 * `batchPercent` of the fleet at a time, a rollback `rollbackBatchPercent`.
 *
 * Deployments move only when {@link tick} is called: the runtime calls it on a short real
 * interval, tests call it after moving a manual clock. Each call takes every deployment a
 * step: load the next batch, or check the batch in flight (done → next; past
 * `healthTimeoutSeconds` of clock time → failed, naming the box).
 *
 * A target has at most one deployment in progress, as with CodeDeploy: starting another
 * (a different idempotency key) is refused with a `RetryableError`. The stage driver stops
 * a deployment and waits for it to end before it rolls back, which is why
 * `stopDeployment` answers `stopping`: the batch in flight finishes, then the deployment
 * fails with the reason `stopped`.
 *
 * Given a `directory`, every deployment is saved there at each change and known again by a
 * deployer opened on it after a restart: see {@link LocalFleetDeployerProps.directory}.
 *
 * @example
 * const deployer = new LocalFleetDeployer({ fleets, artifacts, clock });
 * const { deploymentId } = await deployer.startDeployment(request); // gamma-t1-d1
 * await deployer.tick(); // batch 1/4 loaded; its boxes start
 * deployer.deployments(); // [{ target: 'gamma-t1', release: 2, batch: 1, batches: 4, status: 'in-progress', … }]
 * await deployer.getDeployment(target, deploymentId); // { status: 'in-progress' }
 */
export class LocalFleetDeployer implements Deployer {
  readonly #fleets: Fleets;
  readonly #artifacts: ArtifactStore;
  readonly #clock: Clock;
  readonly #healthTimeoutMs: number;
  readonly #probeTimeoutMs: number;
  readonly #onChange: ((deployment: LocalDeployment) => void) | undefined;
  readonly #directory: string | undefined;
  readonly #byKey = new Map<string, Promise<string>>();
  readonly #deployments = new Map<string, Running>();
  /** Target id → its deployment in progress (or being started). */
  readonly #busy = new Map<string, string>();
  #sequence = 0;
  #ticking: Promise<void> | null = null;

  constructor(props: LocalFleetDeployerProps) {
    const healthTimeoutSeconds = props.healthTimeoutSeconds ?? 60;
    const probeTimeoutMs = props.probeTimeoutMs ?? 1000;
    if (!(healthTimeoutSeconds > 0 && probeTimeoutMs > 0)) {
      throw new TerminalError(
        `healthTimeoutSeconds is ${healthTimeoutSeconds} and probeTimeoutMs ${probeTimeoutMs}; expected both > 0.`,
      );
    }
    this.#fleets = props.fleets;
    this.#artifacts = props.artifacts;
    this.#clock = props.clock;
    this.#healthTimeoutMs = healthTimeoutSeconds * 1000;
    this.#probeTimeoutMs = probeTimeoutMs;
    this.#onChange = props.onChange;
    this.#directory =
      props.directory === undefined ? undefined : join(props.directory, 'deployments');
    if (this.#directory !== undefined) this.#restore(this.#directory);
  }

  async startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }> {
    localFleetConfig(request.target);
    const known = this.#byKey.get(request.idempotencyKey);
    if (known !== undefined) return { deploymentId: await known };
    const target = request.target.id;
    const busy = this.#busy.get(target);
    if (busy !== undefined) {
      throw new RetryableError(
        `Target "${target}" already has deployment ${busy} in progress; one at a time. Stop it and wait for it to end before starting ${request.idempotencyKey}.`,
      );
    }
    // Reserved before the first await, so that a concurrent start sees it.
    this.#sequence += 1;
    const sequence = this.#sequence;
    const deploymentId = `${target}-d${sequence}`;
    this.#busy.set(target, deploymentId);
    const started = this.#create(deploymentId, sequence, request).then(() => deploymentId);
    this.#byKey.set(request.idempotencyKey, started);
    try {
      await started;
    } catch (error) {
      this.#byKey.delete(request.idempotencyKey);
      this.#busy.delete(target);
      throw error;
    }
    return { deploymentId };
  }

  async getDeployment(target: TargetDefinition, deploymentId: string): Promise<DeploymentStatus> {
    return this.#find(target, deploymentId).ended?.status ?? { status: 'in-progress' };
  }

  /** The deployment started with `idempotencyKey` (also one restored after a restart), or `null`. */
  async findDeployment(target: TargetDefinition, idempotencyKey: string): Promise<string | null> {
    localFleetConfig(target);
    const known = this.#byKey.get(idempotencyKey);
    if (known === undefined) return null;
    // A start still under way is found too: its id is decided before its first await.
    return known.catch(() => null);
  }

  /**
   * Lets the batch in flight finish, then fails the deployment as `stopped` (or with its
   * health-check failure, if the batch fails). A deployment that ended is left alone.
   */
  async stopDeployment(target: TargetDefinition, deploymentId: string): Promise<'stopping'> {
    const deployment = this.#find(target, deploymentId);
    if (deployment.ended === null) {
      deployment.stopRequested = true;
      if (deployment.current === null) this.#end(deployment, this.#clock.now(), 'stopped');
      else this.#changed(deployment);
    }
    return 'stopping';
  }

  /**
   * Moves every deployment in progress one step, as far as the clock allows. A call made
   * while another is running waits for that one instead of starting a second.
   */
  tick(): Promise<void> {
    this.#ticking ??= this.#tickAll().finally(() => {
      this.#ticking = null;
    });
    return this.#ticking;
  }

  /** Every deployment this deployer knows (with a directory, those restored too), oldest first. */
  deployments(): LocalDeployment[] {
    return [...this.#deployments.values()].map(view);
  }

  async #create(deploymentId: string, sequence: number, request: DeploymentRequest): Promise<void> {
    const bytes = await this.#artifacts.getFile(serviceFile(request));
    const fleet = await this.#fleets.fleetFor(request.target);
    const parsed = parseServiceJson(bytes);
    const percent =
      request.kind === 'rollback'
        ? request.target.rollbackBatchPercent
        : request.target.batchPercent;
    const deployment: Running = {
      deploymentId,
      sequence,
      idempotencyKey: request.idempotencyKey,
      pipeline: request.pipeline,
      target: request.target.id,
      release: request.release.number,
      version: parsed.ok ? parsed.config.version : null,
      kind: request.kind,
      fleet,
      serviceJson: bytes,
      sha256: sha256Of(bytes),
      plan: planBatches(fleet.boxes.length, percent),
      startedAt: this.#clock.now(),
      next: 0,
      current: null,
      stopRequested: false,
      ended: null,
    };
    // Saved before the caller learns its id: from here on, a crash leaves its key naming it.
    this.#changed(deployment);
    this.#deployments.set(deploymentId, deployment);
  }

  async #tickAll(): Promise<void> {
    const now = this.#clock.now();
    const running = [...this.#deployments.values()].filter((d) => d.ended === null);
    await Promise.all(
      running.map((deployment) =>
        this.#step(deployment, now).catch((error: unknown) =>
          this.#end(
            deployment,
            now,
            `the local deployer failed: ${error instanceof Error ? error.message : String(error)}`,
          ),
        ),
      ),
    );
  }

  async #step(deployment: Running, now: Date): Promise<void> {
    deployment.fleet ??= await this.#restoredFleet(deployment);
    const fleet = deployment.fleet;
    if (deployment.current === null) {
      const indices = deployment.plan[deployment.next] ?? [];
      // The boxes first, then the record: after a crash in between, the batch is loaded again.
      for (const index of indices) (fleet.boxes[index] as Box).load(deployment.serviceJson);
      deployment.current = { boxes: indices, loadedAt: now.getTime() };
      this.#changed(deployment);
    }
    const { loadedAt } = deployment.current;
    const boxes = deployment.current.boxes.map((index) => fleet.boxes[index] as Box);
    const checks = await Promise.all(boxes.map((box) => this.#check(box)));
    if (deployment.ended !== null) return;
    const failing = checks.findIndex((check) => check !== null);
    if (failing === -1) {
      deployment.current = null;
      deployment.next += 1;
      if (deployment.next === deployment.plan.length) this.#end(deployment, now, null);
      else if (deployment.stopRequested) this.#end(deployment, now, 'stopped');
      else this.#changed(deployment);
      return;
    }
    if (now.getTime() - loadedAt >= this.#healthTimeoutMs) {
      const box = boxes[failing] as Box;
      this.#end(
        deployment,
        now,
        `box ${box.index} of ${deployment.target} (${box.url}) was not healthy ${this.#healthTimeoutMs / 1000} s after ${releaseLabel(deployment.release)} was loaded on it: ${checks[failing]}`,
      );
    }
  }

  /** `null` when the box answers its health check with 200, else what it answered. */
  async #check(box: Box): Promise<string | null> {
    try {
      const answer = await httpGet(`${box.url}/health`, this.#probeTimeoutMs);
      return answer.status === 200 ? null : `${answer.status} ${answer.body}`;
    } catch (error) {
      return `no answer (${(error as Error).message})`;
    }
  }

  /** Ends a deployment: succeeded when `reason` is `null`, failed with it otherwise. */
  #end(deployment: Running, at: Date, reason: string | null): void {
    if (deployment.ended !== null) return;
    deployment.ended = {
      status: reason === null ? { status: 'succeeded' } : { status: 'failed', reason },
      at,
    };
    if (this.#busy.get(deployment.target) === deployment.deploymentId) {
      this.#busy.delete(deployment.target);
    }
    this.#changed(deployment);
  }

  /** Saves the deployment (with a directory), then tells the listener. */
  #changed(deployment: Running): void {
    if (this.#directory !== undefined) {
      saveJson(
        join(this.#directory, `${encodeURIComponent(deployment.deploymentId)}.json`),
        saved(deployment),
      );
    }
    const listener = this.#onChange;
    if (listener === undefined) return;
    const snapshot = view(deployment);
    queueMicrotask(() => listener(snapshot));
  }

  /** Knows again every deployment saved in `directory`; one in progress keeps its target busy. */
  #restore(directory: string): void {
    mkdirSync(directory, { recursive: true });
    const restored = readdirSync(directory)
      .filter((name) => name.endsWith('.json'))
      .flatMap((name) => {
        const path = join(directory, name);
        const record = readSavedJson(path, savedDeploymentSchema);
        return record === null ? [] : [fromSaved(record, path)];
      })
      .sort((a, b) => a.sequence - b.sequence);
    for (const deployment of restored) {
      this.#deployments.set(deployment.deploymentId, deployment);
      this.#byKey.set(deployment.idempotencyKey, Promise.resolve(deployment.deploymentId));
      if (deployment.ended === null) this.#busy.set(deployment.target, deployment.deploymentId);
      this.#sequence = Math.max(this.#sequence, deployment.sequence);
    }
  }

  /**
   * The fleet of a deployment restored after a restart, once it has started again. If a
   * box of the batch in flight does not run the release (its saved state was lost), the
   * batch is loaded again: a health check passing on the old release proves nothing.
   */
  async #restoredFleet(deployment: Running): Promise<Fleet> {
    const fleet = await this.#fleets.whenStarted(deployment.target);
    if (fleet === undefined) {
      throw new TerminalError(
        `the fleet of "${deployment.target}" was not saved, so ${deployment.deploymentId} cannot go on after the restart; give the fleets the deployer's directory`,
      );
    }
    const batch = deployment.current?.boxes ?? [];
    if (batch.some((index) => fleet.boxes[index]?.artifact?.sha256 !== deployment.sha256)) {
      deployment.current = null;
    }
    return fleet;
  }

  #find(target: TargetDefinition, deploymentId: string): Running {
    localFleetConfig(target);
    const deployment = this.#deployments.get(deploymentId);
    if (deployment === undefined || deployment.target !== target.id) {
      throw new NotFoundError(
        `Target "${target.id}" has no local deployment ${deploymentId}; ${this.#directory === undefined ? 'this deployer keeps none on disk, so local deployments end with the process' : `none is saved in ${this.#directory}`}.`,
      );
    }
    return deployment;
  }
}

/** The release's `service.json`, or its only file. */
function serviceFile(request: DeploymentRequest): FileArtifact {
  const { files } = request.release.artifacts;
  const named = files.find((file) => file.name === SERVICE_FILE);
  if (named !== undefined) return named;
  const [only, ...others] = files;
  if (only !== undefined && others.length === 0) return only;
  const names = files.map((file) => `"${file.name}"`).join(', ') || 'none';
  throw new TerminalError(
    `Release ${releaseLabel(request.release.number)} for target "${request.target.id}" has no file "${SERVICE_FILE}" (its files: ${names}). Make the release's build store the service's ${SERVICE_FILE}.`,
  );
}

function view(deployment: Running): LocalDeployment {
  const { ended } = deployment;
  const inFlight = deployment.current === null ? 0 : 1;
  return {
    deploymentId: deployment.deploymentId,
    pipeline: deployment.pipeline,
    target: deployment.target,
    release: deployment.release,
    version: deployment.version,
    kind: deployment.kind,
    batch: deployment.next + inFlight,
    batches: deployment.plan.length,
    status:
      ended !== null
        ? ended.status.status === 'succeeded'
          ? 'succeeded'
          : 'failed'
        : deployment.stopRequested
          ? 'stopping'
          : 'in-progress',
    reason: ended?.status.status === 'failed' ? ended.status.reason : null,
    startedAt: deployment.startedAt.toISOString(),
    endedAt: ended === null ? null : ended.at.toISOString(),
  };
}

const savedDeploymentSchema = z
  .object({
    deploymentId: z.string().min(1),
    sequence: z.number().int().min(1),
    idempotencyKey: z.string().min(1),
    pipeline: z.string().min(1),
    target: z.string().min(1),
    release: z.number().int().min(1),
    version: z.string().nullable(),
    kind: z.enum(['normal', 'rollback']),
    serviceJson: storedBytesSchema,
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    plan: z.array(z.array(z.number().int().min(0))),
    next: z.number().int().min(0),
    current: z
      .object({ boxes: z.array(z.number().int().min(0)), loadedAt: z.iso.datetime() })
      .nullable(),
    stopRequested: z.boolean(),
    batch: z.number().int().min(0),
    batches: z.number().int().min(0),
    status: z.enum(['in-progress', 'stopping', 'succeeded', 'failed']),
    reason: z.string().nullable(),
    startedAt: z.iso.datetime(),
    endedAt: z.iso.datetime().nullable(),
  })
  .refine((saved) => (saved.endedAt !== null) === ['succeeded', 'failed'].includes(saved.status), {
    message: 'endedAt is set exactly when the status is succeeded or failed',
  })
  .refine((saved) => (saved.reason !== null) === (saved.status === 'failed'), {
    message: 'reason is set exactly when the status is failed',
  });

type SavedDeployment = z.infer<typeof savedDeploymentSchema>;

/** What is saved of a deployment: its view, and what it needs to go on after a restart. */
function saved(deployment: Running): SavedDeployment {
  const { current } = deployment;
  return {
    ...view(deployment),
    sequence: deployment.sequence,
    idempotencyKey: deployment.idempotencyKey,
    serviceJson: storeBytes(deployment.serviceJson),
    sha256: deployment.sha256,
    plan: deployment.plan.map((batch) => [...batch]),
    next: deployment.next,
    current:
      current === null
        ? null
        : { boxes: [...current.boxes], loadedAt: new Date(current.loadedAt).toISOString() },
    stopRequested: deployment.stopRequested,
  };
}

function fromSaved(record: SavedDeployment, path: string): Running {
  const ended =
    record.endedAt === null
      ? null
      : {
          status:
            record.reason === null
              ? ({ status: 'succeeded' } as const)
              : ({ status: 'failed', reason: record.reason } as const),
          at: new Date(record.endedAt),
        };
  return {
    deploymentId: record.deploymentId,
    sequence: record.sequence,
    idempotencyKey: record.idempotencyKey,
    pipeline: record.pipeline,
    target: record.target,
    release: record.release,
    version: record.version,
    kind: record.kind,
    fleet: null,
    serviceJson: restoreBytes(record.serviceJson, record.sha256, path),
    sha256: record.sha256,
    plan: record.plan,
    startedAt: new Date(record.startedAt),
    next: record.next,
    current:
      record.current === null
        ? null
        : { boxes: record.current.boxes, loadedAt: Date.parse(record.current.loadedAt) },
    stopRequested: record.stopRequested,
    ended,
  };
}
