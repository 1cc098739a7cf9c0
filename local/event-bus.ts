import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EVENT_SOURCE } from '../adapters/aws/eventbridge-publisher.js';
import {
  type Clock,
  type EventPublisher,
  type PipelineEvent,
  RetryableError,
  TerminalError,
} from '../core/index.js';
import {
  type CompiledEventPattern,
  compileEventPattern,
  type EventPattern,
} from './event-pattern.js';

/** Where the local runtime appends every event it puts, one JSON object a line. */
export const DEFAULT_EVENT_LOG = '.captain/events.jsonl';
/** The account and region every local event carries. */
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'local';

/** An event as EventBridge delivers it to a rule's target. */
export interface BusEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  /** Whole seconds, as EventBridge delivers it: `2026-11-23T10:00:00Z`. */
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Readonly<Record<string, unknown>>;
}

/** One event to put, as a PutEvents entry names it. */
export interface BusEntry {
  readonly source: string;
  readonly detailType: string;
  /** A JSON object; it is copied as JSON, so dates become strings. */
  readonly detail: Readonly<Record<string, unknown>>;
  /** @default - the clock's now */
  readonly time?: Date | string;
  /** @default - none */
  readonly resources?: readonly string[];
}

export interface BusRule {
  /** Unique on the bus; dead letters name it. */
  readonly name: string;
  readonly pattern: EventPattern;
  readonly target: (event: BusEvent) => Promise<void>;
  /**
   * How many times a failed delivery is tried again before it becomes a dead letter.
   * @default 3
   */
  readonly retries?: number;
}

/** A delivery that failed on every attempt. */
export interface DeadLetter {
  /** The rule's name, or `(subscriber)` for a view's listener. */
  readonly rule: string;
  readonly event: BusEvent;
  readonly error: Error;
  readonly attempts: number;
}

export interface LocalEventBusProps {
  /** Gives the time of events put without one. */
  readonly clock: Clock;
  /**
   * The file every event is appended to as one JSON line; its directory is created.
   * @default - events are not written anywhere
   */
  readonly logPath?: string;
  /**
   * Waits between delivery attempts (100 ms, doubling, at most 5 s): the local engine
   * passes its clock's timers; tests pass a recorder.
   * @default - a real timer
   */
  readonly sleep?: (milliseconds: number) => Promise<void>;
  /**
   * Told of the bus's work: each put (log append and routing) and each delivery attempt,
   * not the waits between attempts. The local engine's clock waits for it.
   * @default - nobody is told
   */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
}

const DEFAULT_RETRIES = 3;
const BASE_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;
/** PutEvents' limit on one entry, which the cloud would refuse. */
const MAX_ENTRY_BYTES = 256 * 1024;

interface Rule {
  readonly name: string;
  readonly matcher: CompiledEventPattern;
  readonly target: (event: BusEvent) => Promise<void>;
  readonly retries: number;
}

/**
 * The local engine's EventBridge: rules route events by the same patterns as the rules in
 * `infra/`, to the same handlers. Like EventBridge, `put` returns once the events are
 * accepted (and appended to the log), and delivery happens afterwards, to every matching
 * rule, at least once: a failing target is tried again with backoff, then the event
 * becomes a dead letter. Events are delivered and logged in the order they were put.
 *
 * @example
 * const bus = new LocalEventBus({ clock, logPath: DEFAULT_EVENT_LOG });
 * bus.addRule({
 *   name: 'WakeOnDeploymentsAndAlarms',
 *   pattern: { source: ['aws.cloudwatch'], detailType: ['CloudWatch Alarm State Change'] },
 *   target: async (event) => void (await wake(event)),
 *   retries: 8,
 * });
 * await bus.put([{ source: 'aws.cloudwatch', detailType: 'CloudWatch Alarm State Change',
 *   detail: { alarmName: 'api-gamma', state: { value: 'ALARM' } } }]);
 * await bus.drain(); // wake has run; bus.deadLetters is empty if it succeeded
 */
export class LocalEventBus {
  readonly #clock: Clock;
  readonly #logPath: string | undefined;
  readonly #sleep: (milliseconds: number) => Promise<void>;
  readonly #work: <T>(work: Promise<T>) => Promise<T>;
  readonly #rules: Rule[] = [];
  readonly #listeners = new Set<(event: BusEvent) => void | Promise<void>>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #deadLetters: DeadLetter[] = [];
  /** Orders the puts: each appends and dispatches after the one before. */
  #order: Promise<void> = Promise.resolve();

  constructor(props: LocalEventBusProps) {
    this.#clock = props.clock;
    this.#logPath = props.logPath;
    this.#sleep = props.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#work = props.track ?? ((work) => work);
  }

  /** Deliveries that failed on every attempt, oldest first. */
  get deadLetters(): readonly DeadLetter[] {
    return [...this.#deadLetters];
  }

  /** Routes the events put from now on that match `pattern` to `target`. */
  addRule(rule: BusRule): void {
    const retries = rule.retries ?? DEFAULT_RETRIES;
    if (!Number.isInteger(retries) || retries < 0) {
      throw new TerminalError(
        `Rule ${rule.name} has retries ${retries}; give a whole number ≥ 0 (0 delivers once).`,
      );
    }
    if (this.#rules.some((existing) => existing.name === rule.name)) {
      throw new TerminalError(
        `A rule named ${rule.name} is already on the bus; give each rule its own name.`,
      );
    }
    const matcher = compileEventPattern(rule.pattern);
    this.#rules.push({ name: rule.name, matcher, target: rule.target, retries });
  }

  /**
   * Calls `listener` with every event put from now on, once, in order (for views: the
   * terminal, the CLI). A listener that throws is recorded as a dead letter.
   *
   * @returns a function that stops the calls
   */
  subscribe(listener: (event: BusEvent) => void | Promise<void>): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /**
   * Accepts events, appends them to the log, and schedules their delivery. Refuses the
   * whole batch, before any is logged, if one entry is malformed.
   *
   * @returns the events as the targets receive them
   */
  async put(entries: readonly BusEntry[]): Promise<readonly BusEvent[]> {
    const events = entries.map((entry, index) => this.#event(entry, index));
    const accepted = this.#work(
      this.#order.then(async () => {
        await this.#append(events);
        for (const event of events) this.#dispatch(event);
      }),
    );
    this.#order = accepted.catch(() => undefined);
    this.#track(accepted);
    await accepted;
    return events;
  }

  /** Resolves once every delivery in flight, and every one those caused, has settled. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  #event(entry: BusEntry, index: number): BusEvent {
    const refuse = (problem: string): never => {
      throw new TerminalError(`Event entry ${index} (${entry.detailType}): ${problem}`);
    };
    if (typeof entry.source !== 'string' || entry.source === '')
      refuse('source must be a non-empty string.');
    if (typeof entry.detailType !== 'string' || entry.detailType === '')
      refuse('detailType must be a non-empty string.');
    if (typeof entry.detail !== 'object' || entry.detail === null || Array.isArray(entry.detail)) {
      refuse(`detail must be a JSON object, got ${JSON.stringify(entry.detail)}.`);
    }
    const resources = entry.resources ?? [];
    if (!Array.isArray(resources) || !resources.every((r) => typeof r === 'string')) {
      refuse(`resources must be a list of ARNs, got ${JSON.stringify(entry.resources)}.`);
    }
    const time = entry.time === undefined ? this.#clock.now() : new Date(entry.time);
    if (Number.isNaN(time.getTime())) {
      refuse(`time ${JSON.stringify(entry.time)} is not an ISO-8601 timestamp or a valid Date.`);
    }
    const detailJson = JSON.stringify(entry.detail);
    const bytes =
      Buffer.byteLength(entry.source) +
      Buffer.byteLength(entry.detailType) +
      Buffer.byteLength(detailJson);
    if (bytes > MAX_ENTRY_BYTES) {
      refuse(
        `it is ${bytes} bytes, more than the ${MAX_ENTRY_BYTES} EventBridge accepts; put the large part in S3 and send its key.`,
      );
    }
    return deepFreeze({
      version: '0',
      id: randomUUID(),
      'detail-type': entry.detailType,
      source: entry.source,
      account: LOCAL_ACCOUNT,
      // EventBridge delivers whole seconds whatever precision PutEvents was given.
      time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: LOCAL_REGION,
      resources: [...resources],
      detail: JSON.parse(detailJson) as Record<string, unknown>,
    });
  }

  /** Appends only: the log is the record of what happened, never rewritten. */
  async #append(events: readonly BusEvent[]): Promise<void> {
    if (this.#logPath === undefined || events.length === 0) return;
    const lines = events.map((event) => `${JSON.stringify(event)}\n`).join('');
    try {
      await mkdir(dirname(this.#logPath), { recursive: true });
      await appendFile(this.#logPath, lines, { encoding: 'utf8', flag: 'a' });
    } catch (error) {
      throw new RetryableError(
        `Could not append ${events.length} events to ${this.#logPath}: ${(error as Error).message}. Nothing was delivered; check the directory is writable and has space, then put them again.`,
        { cause: error },
      );
    }
  }

  #dispatch(event: BusEvent): void {
    for (const listener of this.#listeners) {
      this.#track(
        this.#work(this.#attempt(() => listener(event))).then((error) => {
          if (error !== undefined)
            this.#deadLetters.push({ rule: '(subscriber)', event, error, attempts: 1 });
        }),
      );
    }
    for (const rule of this.#rules) {
      if (rule.matcher.matches(event)) this.#track(this.#deliver(rule, event));
    }
  }

  async #deliver(rule: Rule, event: BusEvent): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      // Each attempt gets its own copy, as each Lambda invocation gets its own JSON.
      const error = await this.#work(
        this.#attempt(() => rule.target(structuredClone(event) as BusEvent)),
      );
      if (error === undefined) return;
      if (attempt > rule.retries) {
        this.#deadLetters.push({ rule: rule.name, event, error, attempts: attempt });
        return;
      }
      await this.#sleep(Math.min(BASE_DELAY_MS * 2 ** (attempt - 1), MAX_DELAY_MS));
    }
  }

  /** Runs a call, sync or async, and returns what it threw. */
  async #attempt(call: () => void | Promise<void>): Promise<Error | undefined> {
    try {
      await call();
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  #track(work: Promise<void>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.add(settled);
    void settled.then(() => this.#inFlight.delete(settled));
  }
}

/**
 * The entry the EventBridge adapter sends for a pipeline event: source `release-captain`,
 * the event type, the event's time, and its detail with `eventId` first.
 *
 * @example
 * pipelineEventEntry(pipelineEvent({ type: 'Stage Approved', pipeline: 'api', stage: 'gamma', release: 42, at }));
 * // { source: 'release-captain', detailType: 'Stage Approved', time: at,
 * //   detail: { eventId: 'api/gamma/r42/Stage Approved/-', pipeline: 'api', stage: 'gamma', … } }
 */
export function pipelineEventEntry(event: PipelineEvent): BusEntry {
  return {
    source: EVENT_SOURCE,
    detailType: event.type,
    detail: { eventId: event.id, ...event.detail },
    time: event.at,
  };
}

/**
 * The {@link EventPublisher} of the local engine: Release Captain's events go on the local
 * bus exactly as `EventBridgePublisher` sends them to EventBridge.
 *
 * @example
 * const publisher = new LocalEventPublisher(bus);
 * await publisher.publish([pipelineEvent({ type: 'Deployment Failed', pipeline: 'api', stage: 'gamma', release: 42, at })]);
 */
export class LocalEventPublisher implements EventPublisher {
  readonly #bus: LocalEventBus;

  constructor(bus: LocalEventBus) {
    this.#bus = bus;
  }

  async publish(events: readonly PipelineEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.#bus.put(events.map(pipelineEventEntry));
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
