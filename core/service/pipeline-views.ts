import type { StageDefinition } from '../definition/schema.js';
import type { Topology } from '../definition/topology.js';
import { NotFoundError, RuleViolationError } from '../errors.js';
import { executionName } from '../model/execution-name.js';
import {
  type Commit,
  type Release,
  type ReleaseNumber,
  releaseLabel,
  type StageOutcome,
  unreviewedCommits,
} from '../model/release.js';
import { planRollout, type RolloutPlan } from '../planner/rollout-planner.js';
import type { Clock } from '../ports/services.js';
import type { AuditLog, DeploymentLog, ReleaseStore } from '../ports/stores.js';
import { runningRelease } from '../promotion/rollback.js';
import type { AuditEntry, DeploymentRecord } from '../promotion/transition.js';
import type { PromotionService } from './promotion-service.js';
import { groups, type PipelineStatus, stageStateOf, stageView } from './stage-view.js';

/** What the operator views and commands read and write: one pipeline's service and stores. */
export interface OperatorPorts {
  readonly service: PromotionService;
  readonly releases: ReleaseStore;
  readonly deployments: DeploymentLog;
  readonly audit: AuditLog;
  readonly clock: Clock;
}

export interface ReleaseSummary {
  readonly release: ReleaseNumber;
  readonly headCommit: string;
  readonly createdAt: string;
  readonly commits: number;
  readonly unreviewed: number;
  readonly outcomes: Readonly<Record<string, StageOutcome>>;
}

/** `captain release rN`. */
export interface ReleaseDetail {
  readonly release: Release;
  readonly unreviewed: readonly Commit[];
  readonly stages: readonly {
    readonly stage: string;
    readonly outcome: StageOutcome | null;
    /**
     * The execution of this release's run at the stage: the running one while it runs;
     * afterwards the first attempt's name (`current: false`): later attempts, if a crash
     * made any, end in `-2`, `-3`.
     */
    readonly execution: { readonly name: string; readonly current: boolean } | null;
  }[];
}

export interface HistoryEntry extends DeploymentRecord {
  /** Commits the deployment brought (`added`) or took away (`removed`, going back), newest first. */
  readonly commits: readonly Commit[];
  readonly change: 'added' | 'removed' | 'none';
}

/** Where one commit runs: per stage and target. */
export interface CommitWhereabouts {
  readonly prefix: string;
  /** `null` when no release brought the commit yet. */
  readonly commit: (Commit & { readonly release: ReleaseNumber }) | null;
  readonly latestRelease: ReleaseNumber | null;
  readonly stages: readonly {
    readonly stage: string;
    readonly targets: readonly {
      readonly target: string;
      readonly runs: ReleaseNumber | null;
      /** Whether what it runs contains the commit. */
      readonly contains: boolean;
      /** Since when it has run a release containing the commit, as far as its history tells. */
      readonly since: string | null;
      /** A release containing the commit is being deployed there now. */
      readonly arriving: boolean;
    }[];
  }[];
}

/** `captain plan [rN]`: when a release reaches each stage, next to what it did so far. */
export interface PlanView {
  readonly release: ReleaseNumber | null;
  readonly start: string;
  readonly plan: RolloutPlan;
  /** Expected seconds per deployment, per stage, and where the figure comes from. */
  readonly deploymentSeconds: Readonly<Record<string, { seconds: number; basis: string }>>;
  readonly outcomes: Readonly<Record<string, StageOutcome>>;
}

/** When a stage has no deployment history to learn from. */
export const DEFAULT_DEPLOYMENT_SECONDS = 600;
/** How far back a history or whereabouts reads per target. */
const HISTORY_DEPTH = 50;
/** The most releases whose commits one history entry lists. */
const COMMITS_SPAN = 25;

/**
 * The read side of the operator interfaces (the `captain` CLI, the web view): answers
 * built from the promotion state, the releases, and the deployment and audit logs.
 *
 * @example
 * const views = new PipelineViews(ports);
 * (await views.status()).stages.map((s) => `${s.stage}: ${s.run?.release ?? s.lastApproved}`);
 * (await views.where('3f9c2a1')).stages; // per stage and target: runs a release with it? since when?
 */
export class PipelineViews {
  readonly #ports: OperatorPorts;
  readonly #releaseCache = new Map<number, Release>();

  constructor(ports: OperatorPorts) {
    this.#ports = ports;
  }

  get topology(): Topology {
    return this.#ports.service.topology;
  }

  async status(): Promise<PipelineStatus> {
    const state = await this.#ports.service.state();
    const now = this.#ports.clock.now();
    return {
      pipeline: this.topology.pipeline,
      now: now.toISOString(),
      latestRelease: state.meta.latestRelease,
      stages: this.topology.definition.stages.map((stage) =>
        stageView(this.topology, stage, stageStateOf(state, stage.name), state),
      ),
      groups: groups(this.topology),
      expedite: state.meta.expedite,
      expediteRequest: state.meta.expediteRequest,
      knownBad: state.meta.knownBad,
      overrides: state.meta.overrides.filter((o) => Date.parse(o.until) > now.getTime()),
    };
  }

  async releases(options: { limit?: number; before?: number } = {}): Promise<ReleaseSummary[]> {
    const releases = await this.#ports.releases.listReleases(this.topology.pipeline, {
      limit: options.limit ?? 20,
      ...(options.before === undefined ? {} : { before: options.before }),
    });
    return Promise.all(
      releases.map(async (release) => ({
        release: release.number,
        headCommit: release.headCommit,
        createdAt: release.createdAt,
        commits: release.commits.length,
        unreviewed: unreviewedCommits(release).length,
        outcomes: (await this.#ports.releases.getProgress(release.pipeline, release.number)).stages,
      })),
    );
  }

  async release(number: ReleaseNumber): Promise<ReleaseDetail> {
    const release = await this.#release(number);
    if (release === null) {
      throw new NotFoundError(
        `${this.topology.pipeline} has no release ${releaseLabel(number)}; list them with \`captain releases\`.`,
      );
    }
    const [progress, state] = await Promise.all([
      this.#ports.releases.getProgress(this.topology.pipeline, number),
      this.#ports.service.state(),
    ]);
    return {
      release,
      unreviewed: unreviewedCommits(release),
      stages: this.topology.stageNames.map((stage) => {
        const outcome = progress.stages[stage] ?? null;
        const run = stageStateOf(state, stage).run;
        const running = run !== null && run.kind === 'normal' && run.release === number;
        const ran =
          outcome !== null && outcome.status !== 'pending' && outcome.status !== 'superseded';
        const execution = running
          ? { name: executionName(this.topology.pipeline, stage, run), current: true }
          : ran
            ? {
                name: executionName(this.topology.pipeline, stage, {
                  kind: 'normal',
                  release: number,
                  seq: 0,
                  attempt: 1,
                }),
                current: false,
              }
            : null;
        return { stage, outcome, execution };
      }),
    };
  }

  /**
   * Deployments of a target, or of every target of a stage, newest first, each with the
   * commits it brought or took away.
   */
  async history(name: string, limit = 20): Promise<HistoryEntry[]> {
    const targets = this.topology.targetsNamed(name).map((t) => t.target);
    const records = (
      await Promise.all(
        targets.map((target) =>
          this.#ports.deployments.history(this.topology.pipeline, target, limit),
        ),
      )
    )
      .flat()
      .sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))
      .slice(0, limit);
    return Promise.all(records.map((record) => this.#withCommits(record)));
  }

  /** For every stage and target: does it run a release containing the commit, since when. */
  async where(prefix: string): Promise<CommitWhereabouts> {
    const pipeline = this.topology.pipeline;
    const matches = await this.#ports.releases.findCommits(pipeline, prefix, 10);
    const shas = [...new Set(matches.map((m) => m.sha))];
    if (shas.length > 1) {
      throw new RuleViolationError(
        `"${prefix}" matches ${shas.length} commits (${shas.map((sha) => sha.slice(0, 12)).join(', ')}); give more of the sha.`,
      );
    }
    const state = await this.#ports.service.state();
    const match = matches[0];
    if (match === undefined) {
      return { prefix, commit: null, latestRelease: state.meta.latestRelease, stages: [] };
    }
    const release = await this.#release(match.release);
    const commit = release?.commits.find((c) => c.sha === match.sha);
    if (commit === undefined) {
      throw new NotFoundError(`Release ${releaseLabel(match.release)} of ${pipeline} is missing.`);
    }
    const stages = await Promise.all(
      this.topology.definition.stages.map(async (stage) => {
        const stored = stageStateOf(state, stage.name);
        const targets = await Promise.all(
          stage.targets.map(async ({ id }) => {
            const runs = stored.targets[id]?.deployed ?? null;
            const contains = runs !== null && runs >= match.release;
            const running = runningRelease(stored, id);
            return {
              target: id,
              runs,
              contains,
              since: contains ? await this.#since(id, match.release) : null,
              arriving: !contains && running !== null && running >= match.release,
            };
          }),
        );
        return { stage: stage.name, targets };
      }),
    );
    return {
      prefix,
      commit: { ...commit, release: match.release },
      latestRelease: state.meta.latestRelease,
      stages,
    };
  }

  /**
   * When a release reaches each stage: from its creation for `rN`, from now for a release
   * not yet made. Deployment times are the median of each stage's recent deployments.
   */
  async plan(number: ReleaseNumber | null = null): Promise<PlanView> {
    const release = number === null ? null : await this.#release(number);
    if (number !== null && release === null) {
      throw new NotFoundError(`${this.topology.pipeline} has no release ${releaseLabel(number)}.`);
    }
    const state = await this.#ports.service.state();
    const estimates: Record<string, { seconds: number; basis: string }> = {};
    for (const stage of this.topology.definition.stages) {
      estimates[stage.name] = await this.#deploymentEstimate(stage);
    }
    const start = release === null ? this.#ports.clock.now() : new Date(release.createdAt);
    const expedite = state.meta.expedite;
    const plan = planRollout({
      topology: this.topology,
      start,
      deploymentSeconds: (stage) => estimates[stage.name]?.seconds ?? DEFAULT_DEPLOYMENT_SECONDS,
      bakeFactor: expedite !== null && expedite.release === number ? expedite.bakeFactor : null,
    });
    const outcomes =
      number === null
        ? {}
        : (await this.#ports.releases.getProgress(this.topology.pipeline, number)).stages;
    return {
      release: number,
      start: start.toISOString(),
      plan,
      deploymentSeconds: estimates,
      outcomes,
    };
  }

  async audit(limit = 20): Promise<AuditEntry[]> {
    return this.#ports.audit.list(this.topology.pipeline, limit);
  }

  async #withCommits(record: DeploymentRecord): Promise<HistoryEntry> {
    const from = record.from ?? 0;
    const to = record.to ?? 0;
    if (record.result !== 'succeeded' || from === to) {
      return { ...record, commits: [], change: 'none' };
    }
    const [low, high] = from < to ? [from, to] : [to, from];
    const commits: Commit[] = [];
    for (let n = high; n > Math.max(low, high - COMMITS_SPAN); n--) {
      const release = await this.#release(n);
      if (release !== null) commits.push(...[...release.commits].reverse());
    }
    return { ...record, commits, change: from < to ? 'added' : 'removed' };
  }

  /** The oldest deployment of an unbroken line, up to now, of releases containing `release`. */
  async #since(target: string, release: ReleaseNumber): Promise<string | null> {
    const records = await this.#ports.deployments.history(
      this.topology.pipeline,
      target,
      HISTORY_DEPTH,
    );
    let since: string | null = null;
    for (const record of records) {
      if (record.result !== 'succeeded') continue;
      if (record.to === null || record.to < release) break;
      since = record.finishedAt;
    }
    return since;
  }

  async #deploymentEstimate(stage: StageDefinition): Promise<{ seconds: number; basis: string }> {
    const durations: number[] = [];
    for (const target of stage.targets.slice(0, 3)) {
      const records = await this.#ports.deployments.history(this.topology.pipeline, target.id, 10);
      for (const r of records) {
        if (r.kind !== 'normal' || r.result !== 'succeeded' || r.startedAt === null) continue;
        durations.push((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000);
      }
    }
    if (durations.length === 0) {
      return { seconds: DEFAULT_DEPLOYMENT_SECONDS, basis: 'no deployments yet: assumed' };
    }
    durations.sort((a, b) => a - b);
    const median = durations[Math.floor(durations.length / 2)] ?? DEFAULT_DEPLOYMENT_SECONDS;
    return {
      seconds: Math.round(median),
      basis: `median of the last ${durations.length} deployments`,
    };
  }

  async #release(number: ReleaseNumber): Promise<Release | null> {
    const cached = this.#releaseCache.get(number);
    if (cached !== undefined) return cached;
    // Releases are immutable: one read each is enough for the life of this object.
    const release = await this.#ports.releases.getRelease(this.topology.pipeline, number);
    if (release !== null) this.#releaseCache.set(number, release);
    return release;
  }
}
