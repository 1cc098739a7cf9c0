import type { Topology } from '../definition/topology.js';
import { ConflictError } from '../errors.js';
import type { Clock, EventPublisher, WorkflowStarter } from '../ports/services.js';
import {
  type AuditLog,
  type DeploymentLog,
  type OutboxEntry,
  outboxEntryId,
  type PromotionStore,
  type ReleaseStore,
} from '../ports/stores.js';
import type { Rule } from '../promotion/rule.js';
import type { Effects, PipelineState, Transition } from '../promotion/transition.js';

/** What the service reads, writes and relays to. */
export interface PromotionPorts {
  readonly promotions: PromotionStore;
  readonly releases: ReleaseStore;
  readonly deployments: DeploymentLog;
  readonly audit: AuditLog;
  readonly events: EventPublisher;
  readonly workflows: WorkflowStarter;
  readonly clock: Clock;
}

/** How often a rule is re-applied after losing a race for an item before giving up. */
export const DEFAULT_MAX_ATTEMPTS = 5;

/**
 * The one way a decision reaches the world, for handlers and the CLI alike: load the
 * promotion state, apply a rule, write its items in order (each with its outbox), then
 * relay every outbox entry (outcomes, deployment records, audit entries, events,
 * executions to start) and acknowledge it. Losing a race (`ConflictError`) reloads and
 * applies the rule again; a crash anywhere is repaired by the next call, because rules
 * are idempotent and the outbox keeps what was not yet relayed. Relaying is at least
 * once: every sink dedupes (event ids, execution names, record keys, `laterOutcome`).
 *
 * @example
 * const service = new PromotionService(topology, ports);
 * await service.apply(recordBake, { stage: 'gamma', seq: 4, verdict: { verdict: 'passed' } });
 * // gamma's item and prod-1's are written; Stage Approved, Release Promoted and
 * // Stage Started are published; prod-1's execution api_prod-1_r9-1 is started
 */
export class PromotionService {
  readonly topology: Topology;
  readonly #ports: PromotionPorts;
  readonly #maxAttempts: number;

  constructor(topology: Topology, ports: PromotionPorts, options: { maxAttempts?: number } = {}) {
    this.topology = topology;
    this.#ports = ports;
    this.#maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  }

  /** Where executions are started (the reconciler asks it which are still running). */
  get workflows(): WorkflowStarter {
    return this.#ports.workflows;
  }

  /** The promotion state as stored now. */
  async state(): Promise<PipelineState> {
    return this.#ports.promotions.load(this.topology);
  }

  async apply<Input>(rule: Rule<Input>, input: Input): Promise<Transition> {
    for (let attempt = 1; ; attempt++) {
      const state = await this.#ports.promotions.load(this.topology);
      const context = { topology: this.topology, now: this.#ports.clock.now().toISOString() };
      const transition = rule(context, state, input);
      try {
        await this.#ports.promotions.save(this.topology.pipeline, transition);
      } catch (error) {
        if (error instanceof ConflictError && attempt < this.#maxAttempts) continue;
        throw error;
      }
      // This call's own effects must go out: a failure is the caller's to retry. Leftovers of
      // other calls go out on the way, but their failures are not this caller's: the
      // reconciler relays and reports them.
      const own = new Set(transition.writes.map(outboxEntryId));
      await this.relayPending({ only: own });
      await this.relayPending({ except: own }).catch(() => 0);
      return transition;
    }
  }

  /**
   * Relays whatever the outboxes hold: this call's effects, and those a crash or a failed
   * publish left behind. Entry by entry, each acknowledged once relayed, so one entry that
   * keeps failing holds back only itself; its error is thrown after the others went out.
   * Returns how many entries were relayed.
   */
  async relayPending(
    filter: { only?: ReadonlySet<string>; except?: ReadonlySet<string> } = {},
  ): Promise<number> {
    const entries = (await this.#ports.promotions.pendingEffects(this.topology)).filter(
      (entry) =>
        (filter.only === undefined || filter.only.has(entry.id)) &&
        (filter.except === undefined || !filter.except.has(entry.id)),
    );
    let relayed = 0;
    let failure: unknown = null;
    for (const entry of entries) {
      try {
        await this.#relay([entry]);
        await this.#ports.promotions.acknowledge(this.topology.pipeline, [entry]);
        relayed++;
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== null) throw failure;
    return relayed;
  }

  /**
   * The record first (outcomes, deployments, audit), then the news (events), then the
   * work (executions): an execution never starts before the state it reads is recorded.
   */
  async #relay(entries: readonly OutboxEntry[]): Promise<void> {
    const pipeline = this.topology.pipeline;
    const all = <K extends keyof Effects>(kind: K): Effects[K][number][] =>
      entries.flatMap((entry): Effects[K][number][] => [...entry.effects[kind]]);
    const ports = this.#ports;
    const outcomes = all('outcomes');
    if (outcomes.length > 0) await ports.releases.recordOutcomes(pipeline, outcomes);
    const deployments = all('deployments');
    if (deployments.length > 0) await ports.deployments.record(pipeline, deployments);
    const audit = all('audit');
    if (audit.length > 0) await ports.audit.append(pipeline, audit);
    const events = all('events');
    if (events.length > 0) await ports.events.publish(events);
    for (const start of all('starts')) await ports.workflows.startRun(pipeline, start);
  }
}
