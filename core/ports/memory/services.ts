import { createHash } from 'node:crypto';
import type { TargetDefinition } from '../../definition/schema.js';
import { NotFoundError, RetryableError, TerminalError } from '../../errors.js';
import type { ArtifactManifest, FileArtifact, ReleaseNumber } from '../../model/release.js';
import type { RunStart } from '../../promotion/transition.js';
import type {
  AlarmMonitor,
  AlarmStatus,
  ArtifactStore,
  Clock,
  DataPointCounts,
  Deployer,
  DeploymentRequest,
  DeploymentStatus,
  MetricSource,
  WakeRegistry,
  WorkflowStarter,
} from '../services.js';

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start: Date | string) {
    this.#now = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  advance(seconds: number): void {
    this.#now += seconds * 1000;
  }
}

/**
 * A deployer whose deployments finish when the test says so. One idempotency key starts
 * one deployment, however often it is asked; like CodeDeploy, a target has at most one
 * deployment in progress, and a stopped deployment ends as failed.
 */
export class FakeDeployer implements Deployer {
  readonly requests: DeploymentRequest[] = [];
  /** Deployments stopped, in order. */
  readonly stopped: string[] = [];
  readonly #byKey = new Map<string, string>();
  readonly #status = new Map<string, DeploymentStatus>();
  readonly #target = new Map<string, string>();

  async startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }> {
    const existing = this.#byKey.get(request.idempotencyKey);
    if (existing !== undefined) return { deploymentId: existing };
    const active = [...this.#target].find(
      ([id, target]) =>
        target === request.target.id && this.#status.get(id)?.status === 'in-progress',
    );
    if (active !== undefined) {
      throw new RetryableError(
        `Target ${request.target.id} already has deployment ${active[0]} in progress; one at a time.`,
      );
    }
    const deploymentId = `d-${this.requests.length + 1}`;
    this.requests.push(request);
    this.#byKey.set(request.idempotencyKey, deploymentId);
    this.#status.set(deploymentId, { status: 'in-progress' });
    this.#target.set(deploymentId, request.target.id);
    return { deploymentId };
  }

  async getDeployment(_target: TargetDefinition, deploymentId: string): Promise<DeploymentStatus> {
    const status = this.#status.get(deploymentId);
    if (status === undefined) throw new NotFoundError(`No deployment ${deploymentId}.`);
    return status;
  }

  async findDeployment(_target: TargetDefinition, idempotencyKey: string): Promise<string | null> {
    return this.#byKey.get(idempotencyKey) ?? null;
  }

  async stopDeployment(_target: TargetDefinition, deploymentId: string): Promise<'stopping'> {
    if (this.#status.get(deploymentId)?.status === 'in-progress') {
      this.stopped.push(deploymentId);
      this.#status.set(deploymentId, { status: 'failed', reason: 'stopped' });
    }
    return 'stopping';
  }

  /** Finishes a deployment with the given status. */
  finish(deploymentId: string, status: DeploymentStatus): void {
    if (!this.#status.has(deploymentId)) throw new NotFoundError(`No deployment ${deploymentId}.`);
    this.#status.set(deploymentId, status);
  }
}

/**
 * Alarm states set by the test; names never set are `MISSING`. It keeps the whole history,
 * so `lastAlarmAt` is the newest entry into ALARM at or after `since` (when asked).
 */
export class FakeAlarmMonitor implements AlarmMonitor {
  readonly #alarms = new Map<string, AlarmStatus>();

  set(name: string, state: AlarmStatus['state'], at: string | null = null): void {
    const previous = this.#alarms.get(name);
    const lastAlarmAt =
      state === 'ALARM' ? (at ?? previous?.lastAlarmAt ?? null) : (previous?.lastAlarmAt ?? null);
    this.#alarms.set(name, { state, lastAlarmAt });
  }

  async describeAlarms(
    names: readonly string[],
    options: { readonly since?: Date } = {},
  ): Promise<Record<string, AlarmStatus>> {
    const answer = (name: string): AlarmStatus => {
      const alarm = this.#alarms.get(name);
      if (alarm === undefined) return { state: 'MISSING', lastAlarmAt: null };
      if (alarm.state === 'ALARM' || alarm.lastAlarmAt === null) return alarm;
      const since = options.since;
      const recent = since !== undefined && Date.parse(alarm.lastAlarmAt) >= since.getTime();
      return { state: alarm.state, lastAlarmAt: recent ? alarm.lastAlarmAt : null };
    };
    return Object.fromEntries(names.map((name) => [name, answer(name)]));
  }
}

/** Data points recorded as (metric, target, time); counts those inside the window. */
export class FakeMetricSource implements MetricSource {
  readonly #points: { metric: string; target: string; at: number; count: number }[] = [];

  add(metric: string, target: string, at: Date, count = 1): void {
    this.#points.push({ metric, target, at: at.getTime(), count });
  }

  async countDataPoints(query: {
    metric: string;
    targets: readonly TargetDefinition[];
    from: Date;
    to: Date;
  }): Promise<DataPointCounts> {
    const counts: Record<string, number> = {};
    for (const target of query.targets) counts[target.id] = 0;
    for (const point of this.#points) {
      if (
        point.metric === query.metric &&
        counts[point.target] !== undefined &&
        point.at >= query.from.getTime() &&
        point.at < query.to.getTime()
      ) {
        counts[point.target] = (counts[point.target] ?? 0) + point.count;
      }
    }
    return counts;
  }
}

/** Content-addressed artifacts in memory, verified on read like the S3 adapter. */
export class InMemoryArtifactStore implements ArtifactStore {
  readonly #objects = new Map<string, Uint8Array>();

  async putFile(pipeline: string, name: string, bytes: Uint8Array): Promise<FileArtifact> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const key = `${pipeline}/artifacts/sha256/${sha256}`;
    if (!this.#objects.has(key)) this.#objects.set(key, Uint8Array.from(bytes));
    return { name, key, sha256 };
  }

  async getFile(artifact: FileArtifact): Promise<Uint8Array> {
    const bytes = this.#objects.get(artifact.key);
    if (bytes === undefined) throw new NotFoundError(`No artifact at ${artifact.key}.`);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== artifact.sha256) {
      throw new TerminalError(
        `Artifact ${artifact.key} has sha256 ${actual}, expected ${artifact.sha256}: refusing to deploy it.`,
      );
    }
    return bytes;
  }

  async putManifest(
    pipeline: string,
    release: ReleaseNumber,
    manifest: ArtifactManifest,
  ): Promise<string> {
    const bytes = new TextEncoder().encode(JSON.stringify(manifest));
    const file = await this.putFile(pipeline, `r${release}-manifest.json`, bytes);
    return file.key;
  }

  /** Corrupts a stored object, to test that reads verify. */
  tamper(key: string, bytes: Uint8Array): void {
    this.#objects.set(key, bytes);
  }
}

/** Records started executions; a name can start once, like Step Functions' StartExecution. */
export class InMemoryWorkflowStarter implements WorkflowStarter {
  readonly started: (RunStart & { pipeline: string })[] = [];
  readonly #names = new Set<string>();

  readonly #ended = new Set<string>();

  async startRun(pipeline: string, run: RunStart): Promise<'started' | 'already-started'> {
    if (this.#names.has(run.executionName)) return 'already-started';
    this.#names.add(run.executionName);
    this.started.push({ ...run, pipeline });
    return 'started';
  }

  async isRunning(_pipeline: string, run: RunStart): Promise<boolean> {
    return this.#names.has(run.executionName) && !this.#ended.has(run.executionName);
  }

  /** Ends an execution, as a crash or a failure would. */
  end(executionName: string): void {
    this.#ended.add(executionName);
  }
}

/** Wake-ups in memory, with the same ordering contract as the DynamoDB adapter. */
export class InMemoryWakeRegistry implements WakeRegistry {
  readonly #tokens = new Map<string, Map<string, number>>();
  readonly #woken = new Map<string, number>();

  async register(
    token: string,
    subjects: readonly string[],
    expiresAt: Date,
    decidedAt: Date,
  ): Promise<'registered' | 'woken'> {
    for (const subject of subjects) {
      const tokens = this.#tokens.get(subject) ?? new Map<string, number>();
      tokens.set(token, expiresAt.getTime());
      this.#tokens.set(subject, tokens);
    }
    const woken = subjects.some((s) => (this.#woken.get(s) ?? -1) >= decidedAt.getTime());
    return woken ? 'woken' : 'registered';
  }

  async claim(subject: string, at: Date): Promise<string[]> {
    this.#woken.set(subject, Math.max(this.#woken.get(subject) ?? -1, at.getTime()));
    const tokens = this.#tokens.get(subject) ?? new Map<string, number>();
    this.#tokens.delete(subject);
    return [...tokens].filter(([, expires]) => expires > at.getTime()).map(([token]) => token);
  }
}
