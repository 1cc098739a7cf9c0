import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import {
  type EventPublisher,
  type PipelineEvent,
  RetryableError,
  TerminalError,
} from '../../core/index.js';
import { awsError } from './errors.js';

export interface EventBridgePublisherOptions {
  /**
   * Waits between attempts to resend the entries that failed. Tests pass a recorder.
   *
   * @default - a real timer
   */
  readonly sleep?: (milliseconds: number) => Promise<void>;
  /**
   * How many times one batch is sent at most, counting the first send.
   *
   * @default 4
   */
  readonly attempts?: number;
}

/** The source of every Release Captain event (DESIGN.md §5). */
export const EVENT_SOURCE = 'release-captain';

/** PutEvents takes at most 10 entries per call. */
const MAX_ENTRIES = 10;
/** …and at most 256 KB of entries per call, which also bounds a single entry. */
const MAX_BYTES = 256 * 1024;
/** What a `Time` field counts for in an entry's size, per the PutEvents documentation. */
const TIME_BYTES = 14;
const BASE_DELAY_MS = 100;
const MAX_DELAY_MS = 2_000;

interface Entry {
  readonly id: string;
  readonly entry: PutEventsRequestEntry;
  readonly bytes: number;
}

/**
 * The {@link EventPublisher} on an EventBridge bus. Each event becomes one entry:
 * - `Source` is `release-captain`.
 * - `DetailType` is the event type.
 * - `Time` comes from the event.
 * - `Detail` is the event's detail plus `eventId`.
 *
 * The name is `eventId` because the envelope's own `id` is assigned anew on every
 * PutEvents. A retried publish therefore arrives with a fresh envelope id, and only
 * `detail.eventId` lets a consumer drop the duplicate.
 *
 * Events are sent in order, in batches that respect the PutEvents limits (10 entries,
 * 256 KB). When a call partly fails, only the failed entries are sent again, with backoff.
 *
 * @example
 * const publisher = new EventBridgePublisher(new EventBridgeClient({}), 'release-captain');
 * await publisher.publish([pipelineEvent({ type: 'Stage Approved', pipeline: 'api', stage: 'gamma', release: 42, at })]);
 * // PutEvents: { Source: 'release-captain', DetailType: 'Stage Approved',
 * //   Detail: '{"eventId":"api/gamma/r42/Stage Approved/-","pipeline":"api",…}', … }
 */
export class EventBridgePublisher implements EventPublisher {
  readonly #client: EventBridgeClient;
  readonly #busName: string;
  readonly #sleep: (milliseconds: number) => Promise<void>;
  readonly #attempts: number;

  constructor(
    client: EventBridgeClient,
    busName: string,
    options: EventBridgePublisherOptions = {},
  ) {
    const attempts = options.attempts ?? 4;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new TerminalError(
        `EventBridgePublisher attempts must be a whole number ≥ 1, got ${attempts}: it counts the first send.`,
      );
    }
    this.#client = client;
    this.#busName = busName;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#attempts = attempts;
  }

  async publish(events: readonly PipelineEvent[]): Promise<void> {
    const entries = events.map((event) => this.#entry(event));
    for (const batch of batches(entries)) await this.#send(batch);
  }

  #entry(event: PipelineEvent): Entry {
    const time = new Date(event.at);
    if (Number.isNaN(time.getTime())) {
      throw new TerminalError(
        `Event ${event.id} has time ${JSON.stringify(event.at)}, which is not an ISO-8601 timestamp: build events with pipelineEvent() and the clock's ISO time.`,
      );
    }
    const detail = JSON.stringify({ eventId: event.id, ...event.detail });
    const bytes =
      TIME_BYTES +
      Buffer.byteLength(EVENT_SOURCE) +
      Buffer.byteLength(event.type) +
      Buffer.byteLength(detail);
    if (bytes > MAX_BYTES) {
      throw new TerminalError(
        `Event ${event.id} is ${bytes} bytes, more than the ${MAX_BYTES} bytes EventBridge accepts in one entry: shorten its reason or data, or put the large part in S3 and send its key.`,
      );
    }
    return {
      id: event.id,
      bytes,
      entry: {
        EventBusName: this.#busName,
        Source: EVENT_SOURCE,
        DetailType: event.type,
        Detail: detail,
        Time: time,
      },
    };
  }

  async #send(batch: readonly Entry[]): Promise<void> {
    let pending = batch;
    for (let attempt = 1; ; attempt += 1) {
      let response: PutEventsCommandOutput;
      try {
        response = await this.#client.send(
          new PutEventsCommand({ Entries: pending.map((item) => item.entry) }),
        );
      } catch (error) {
        throw awsError(error, `PutEvents of ${pending.length} events to bus ${this.#busName}`);
      }
      if ((response.FailedEntryCount ?? 0) === 0) return;
      // Results come back in the order of the request; a missing result counts as failed.
      const failed = pending
        .map((item, index) => ({ item, result: response.Entries?.[index] }))
        .filter(({ result }) => result === undefined || result.ErrorCode !== undefined);
      if (failed.length === 0) return;
      // Only throttling and internal failures pass with time; anything else (access denied,
      // a malformed detail, a missing bus) fails the same way every time.
      const lasting = failed.find(
        ({ result }) =>
          result?.ErrorCode !== undefined && !RETRYABLE_ENTRY_CODES.has(result.ErrorCode),
      );
      if (lasting !== undefined) {
        throw new TerminalError(
          `PutEvents to bus ${this.#busName} refused event ${lasting.item.id}: ${lasting.result?.ErrorCode}: ${lasting.result?.ErrorMessage ?? 'no message'}. Retrying cannot help; check the bus name, the role's events:PutEvents permission on it, and the event's detail.`,
        );
      }
      if (attempt >= this.#attempts) {
        const [first] = failed;
        const code = first?.result?.ErrorCode ?? 'no result';
        const message = first?.result?.ErrorMessage ?? 'EventBridge returned no result for it';
        throw new RetryableError(
          `PutEvents to bus ${this.#busName}: ${failed.length} of ${batch.length} events still failed after ${attempt} attempts (first error ${code}: ${message}, event ${first?.item.id}). EventBridge is throttling or briefly unavailable; publish again later. Consumers dedupe the events already delivered by detail.eventId.`,
        );
      }
      await this.#sleep(backoff(attempt));
      pending = failed.map(({ item }) => item);
    }
  }
}

/** Per-entry PutEvents error codes that may pass on a later attempt. */
const RETRYABLE_ENTRY_CODES = new Set(['InternalFailure', 'ThrottlingException']);

/** Splits entries, in order, into calls of at most 10 entries and 256 KB. */
function batches(entries: readonly Entry[]): Entry[][] {
  const result: Entry[][] = [];
  let current: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (current.length === MAX_ENTRIES || bytes + entry.bytes > MAX_BYTES) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += entry.bytes;
  }
  if (current.length > 0) result.push(current);
  return result;
}

/**
 * Exponential backoff with "equal jitter": at least half of the step, so a retry always
 * waits, and a random rest, so publishers throttled together do not retry together.
 */
function backoff(attempt: number): number {
  const ceiling = Math.min(BASE_DELAY_MS * 2 ** (attempt - 1), MAX_DELAY_MS);
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
