import { performance } from 'node:perf_hooks';
import { TerminalError } from '../core/index.js';
import { type Box, type Fleet, httpGet, LATENCY_HEADER } from './fleet.js';

/** One data point, as the local metric store takes it. */
export interface MetricPoint {
  readonly metric: string;
  /** `{ target: 'gamma-t1', box: '0' }` for the canary's points. */
  readonly dimensions: Readonly<Record<string, string>>;
  readonly value: number;
  /** Clock time, not real time. */
  readonly at: Date;
}

/** Where data points go (the local metric store). */
export interface MetricSink {
  put(point: MetricPoint): void | Promise<void>;
}

export interface CanaryProps {
  /** The fleets to send traffic to: every fleet listed at each tick. */
  readonly fleets: { list(): readonly Fleet[] };
  readonly sink: MetricSink;
  /**
   * Requests sent to each box at each tick.
   * @default 1
   */
  readonly requestsPerBox?: number;
  /**
   * Real milliseconds a request waits for an answer before it counts as a fault.
   * @default 1000
   */
  readonly timeoutMs?: number;
  /**
   * The clock seconds one round of traffic stands for. With it, a tick sends one round
   * per such interval of clock time since the last round (at most `maxRoundsPerTick`),
   * each recorded at its own time, so every alarm period gets traffic however far apart
   * ticks fall on an accelerated clock or a busy machine.
   * @default - one round per tick, recorded at the tick's time
   */
  readonly secondsPerRound?: number;
  /** @default 8 */
  readonly maxRoundsPerTick?: number;
}

/**
 * Canary traffic: at each {@link tick}, `requestsPerBox` real HTTP requests to every box in
 * service of every fleet, recorded per box as `RequestCount` (1), `Fault` (1 for a 5xx or
 * no answer, else 0) and `Latency` (ms) with dimensions `{ target, box }`. A box that is
 * empty, starting or broken gets no traffic, as a load balancer sends none to a target
 * failing its health checks: the deployer's health checks are what catch those.
 *
 * `Latency` is the latency the box states it simulated (its `x-service-latency-ms`
 * header), because its real wait is scaled down by the demo's speed and capped; without
 * an answer, it is the real time waited.
 *
 * @example
 * const canary = new Canary({ fleets, sink: metricStore, requestsPerBox: 3 });
 * await canary.tick(clock.now());
 * // metricStore got { metric: 'RequestCount', dimensions: { target: 'gamma-t1', box: '0' }, value: 1, at } ×3, …
 */
export class Canary {
  readonly #fleets: { list(): readonly Fleet[] };
  readonly #sink: MetricSink;
  readonly #requestsPerBox: number;
  readonly #timeoutMs: number;
  readonly #secondsPerRound: number | undefined;
  readonly #maxRounds: number;
  #ticking: Promise<void> | null = null;
  /** Clock time of the last round recorded (with `secondsPerRound`). */
  #last: number | null = null;

  constructor(props: CanaryProps) {
    const requestsPerBox = props.requestsPerBox ?? 1;
    if (!(Number.isInteger(requestsPerBox) && requestsPerBox >= 1)) {
      throw new TerminalError(`requestsPerBox is ${requestsPerBox}; expected a whole number ≥ 1.`);
    }
    this.#fleets = props.fleets;
    this.#sink = props.sink;
    this.#requestsPerBox = requestsPerBox;
    this.#timeoutMs = props.timeoutMs ?? 1000;
    if (props.secondsPerRound !== undefined && !(props.secondsPerRound > 0)) {
      throw new TerminalError(
        `secondsPerRound is ${props.secondsPerRound}; expected a number of clock seconds > 0.`,
      );
    }
    this.#secondsPerRound = props.secondsPerRound;
    this.#maxRounds = props.maxRoundsPerTick ?? 8;
  }

  /**
   * Sends one round of traffic and records it at `now`. A call made while a round is still
   * running returns that round: a slow round is not piled upon.
   */
  tick(now: Date): Promise<void> {
    this.#ticking ??= this.#rounds(now).finally(() => {
      this.#ticking = null;
    });
    return this.#ticking;
  }

  /** The rounds the clock time since the last one calls for, each at its own time. */
  async #rounds(now: Date): Promise<void> {
    const step = this.#secondsPerRound;
    if (step === undefined) return this.#round(now);
    const stepMs = step * 1000;
    const last = this.#last ?? now.getTime() - stepMs;
    const due = Math.floor((now.getTime() - last) / stepMs);
    if (due < 1) return;
    const rounds = Math.min(due, this.#maxRounds);
    // Behind by more than the cap: the oldest intervals go without traffic.
    const first = now.getTime() - (rounds - 1) * stepMs;
    for (let i = 0; i < rounds; i++) await this.#round(new Date(first + i * stepMs));
    this.#last = now.getTime();
  }

  async #round(now: Date): Promise<void> {
    const requests = this.#fleets
      .list()
      .flatMap((fleet) =>
        fleet.boxes
          .filter((box) => box.state === 'running')
          .flatMap((box) =>
            Array.from({ length: this.#requestsPerBox }, () => this.#request(fleet, box, now)),
          ),
      );
    await Promise.all(requests);
  }

  async #request(fleet: Fleet, box: Box, at: Date): Promise<void> {
    const started = performance.now();
    let fault: boolean;
    let latency: number | null = null;
    try {
      const answer = await httpGet(`${box.url}/`, this.#timeoutMs);
      fault = answer.status >= 500;
      const stated = Number(answer.headers[LATENCY_HEADER]);
      if (answer.headers[LATENCY_HEADER] !== undefined && Number.isFinite(stated)) latency = stated;
    } catch {
      // No answer is what a customer would see as a fault; the metric says so.
      fault = true;
    }
    latency ??= performance.now() - started;
    const dimensions = { target: fleet.target, box: String(box.index) };
    await this.#sink.put({ metric: 'RequestCount', dimensions, value: 1, at });
    await this.#sink.put({ metric: 'Fault', dimensions, value: fault ? 1 : 0, at });
    await this.#sink.put({ metric: 'Latency', dimensions, value: latency, at });
  }
}
