import {
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
  InMemoryWorkflowStarter,
  ManualClock,
  PipelineCommands,
  type PipelineDefinition,
  PipelineViews,
  PromotionService,
  RecordingEventPublisher,
} from '../../core/index.js';
import { drive, Sandbox, smallDefinition, T0 } from './fixtures.js';

/**
 * A pipeline driven by the rules in a sandbox (quick to script), then written to memory
 * stores transition by transition and relayed, so the views and commands read exactly
 * what a store would hold.
 */
export class World {
  readonly sb: Sandbox;
  readonly promotions = new InMemoryPromotionStore();
  readonly releases = new InMemoryReleaseStore();
  readonly deployments = new InMemoryDeploymentLog();
  readonly audit = new InMemoryAuditLog();
  readonly events = new RecordingEventPublisher();
  readonly workflows = new InMemoryWorkflowStarter();
  readonly clock = new ManualClock(T0);
  readonly service: PromotionService;
  readonly views: PipelineViews;
  readonly commands: PipelineCommands;
  #saved = 0;

  constructor(definition: PipelineDefinition = smallDefinition()) {
    this.sb = new Sandbox(definition);
    this.service = new PromotionService(this.sb.topology, this);
    this.views = new PipelineViews(this);
    this.commands = new PipelineCommands(this);
  }

  /** Moves the sandbox's clock (and the stores') on by `minutes`. */
  later(minutes: number): void {
    this.sb.now = new Date(Date.parse(this.sb.now) + minutes * 60_000).toISOString();
    this.clock.advance(minutes * 60);
  }

  /** Writes what the sandbox decided since the last flush, and relays it. */
  async flush(): Promise<void> {
    for (const release of this.sb.releases.values()) await this.releases.createRelease(release);
    for (const t of this.sb.transitions.slice(this.#saved)) {
      await this.promotions.save('api', t);
    }
    this.#saved = this.sb.transitions.length;
    await this.service.relayPending();
  }

  /** Takes a release through `stages`, each deployed and baked to approval, a few minutes apart. */
  pass(...stages: string[]): void {
    for (const name of stages) {
      drive.admit(this.sb, name);
      this.later(10);
      drive.finish(this.sb, name);
      this.later(60);
      drive.bakePassed(this.sb, name);
    }
  }
}

/** The small definition's stages, in order. */
export const ALL = ['beta', 'gamma', 'prod-1', 'prod-2'];
