import type { PipelineEvent } from '../../model/events.js';
import type { AuditEntry, DeploymentRecord } from '../../promotion/transition.js';
import type { EventPublisher } from '../services.js';
import type { AuditLog, DeploymentLog } from '../stores.js';

export class InMemoryDeploymentLog implements DeploymentLog {
  readonly #records = new Map<string, DeploymentRecord & { pipeline: string }>();

  async record(pipeline: string, records: readonly DeploymentRecord[]): Promise<void> {
    for (const record of records) {
      const id = [pipeline, record.target, record.kind, record.to, record.finishedAt].join(
        '\u0000',
      );
      this.#records.set(id, { ...record, pipeline });
    }
  }

  async history(pipeline: string, target: string, limit: number): Promise<DeploymentRecord[]> {
    return [...this.#records.values()]
      .filter((record) => record.pipeline === pipeline && record.target === target)
      .sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))
      .slice(0, limit)
      .map(({ pipeline: _, ...record }) => record);
  }
}

export class InMemoryAuditLog implements AuditLog {
  readonly #entries: (AuditEntry & { pipeline: string })[] = [];

  readonly #seen = new Set<string>();

  /** An entry relayed twice is kept once, as the DynamoDB log keys it by its contents. */
  async append(pipeline: string, entries: readonly AuditEntry[]): Promise<void> {
    for (const entry of entries) {
      const id = JSON.stringify([pipeline, entry]);
      if (this.#seen.has(id)) continue;
      this.#seen.add(id);
      this.#entries.push({ ...entry, pipeline });
    }
  }

  async list(pipeline: string, limit: number): Promise<AuditEntry[]> {
    return this.#entries
      .filter((entry) => entry.pipeline === pipeline)
      .reverse()
      .sort((a, b) => b.at.localeCompare(a.at))
      .slice(0, limit)
      .map(({ pipeline: _, ...entry }) => entry);
  }
}

/** Keeps published events in order and drops duplicates by id, as a consumer must. */
export class RecordingEventPublisher implements EventPublisher {
  readonly events: PipelineEvent[] = [];
  readonly #seen = new Set<string>();
  /** How many duplicates arrived (at-least-once delivery makes some). */
  duplicates = 0;

  async publish(events: readonly PipelineEvent[]): Promise<void> {
    for (const event of events) {
      if (this.#seen.has(event.id)) {
        this.duplicates += 1;
        continue;
      }
      this.#seen.add(event.id);
      this.events.push(event);
    }
  }
}
