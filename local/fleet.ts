import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  createServer,
  get,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { type Clock, type TargetDefinition, TerminalError } from '../core/index.js';

/**
 * The simulated fleets of the local runtime: each target is a set of real HTTP servers on
 * loopback ("boxes") serving the release's `service.json`. Time that matters to the
 * pipeline (a box's start-up, the deployer's health-check timeout) is clock time, read
 * from the core's {@link Clock}, so an accelerated clock speeds it up and a manual one in
 * tests makes it deterministic. Only the simulated latency of a request is a real wait,
 * scaled down by the speed and capped, so that canary traffic stays cheap.
 *
 * Given a directory, the fleets outlive the process, as ECS tasks outlive a restart of the
 * control plane: each box's last artifact is saved whenever it changes, and the registry
 * restarts the saved fleets serving it.
 */

/** What the example service reads from its commit: `service.json`. */
export interface ServiceConfig {
  readonly version: string;
  /** Share of requests answered with a 500, from 0 to 1. */
  readonly faultRate: number;
  /** How long the service takes to answer, in milliseconds of service time. */
  readonly latencyMs: number;
}

const serviceSchema = z.object({
  version: z.string({ error: 'expected a non-empty string' }).min(1, 'expected a non-empty string'),
  faultRate: z
    .number({ error: 'expected a number from 0 to 1' })
    .min(0, 'expected a number from 0 to 1')
    .max(1, 'expected a number from 0 to 1'),
  latencyMs: z
    .number({ error: 'expected a number of milliseconds ≥ 0' })
    .min(0, 'expected a number of milliseconds ≥ 0'),
});

/** A parsed `service.json`, or why it is not one: a box that cannot read it never gets healthy. */
export type ParsedService =
  | { readonly ok: true; readonly config: ServiceConfig }
  | { readonly ok: false; readonly problem: string };

/**
 * Reads a `service.json`.
 *
 * @example
 * parseServiceJson('{"version":"r2","faultRate":0.05,"latencyMs":120}'); // { ok: true, config: { version: 'r2', … } }
 * parseServiceJson('{"version":"r3","faultRate":7,"latencyMs":0}');
 * // { ok: false, problem: 'service.json is not valid: faultRate: expected a number from 0 to 1' }
 */
export function parseServiceJson(serviceJson: Uint8Array | string): ParsedService {
  const text =
    typeof serviceJson === 'string' ? serviceJson : new TextDecoder().decode(serviceJson);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `service.json is not JSON: ${(error as Error).message}` };
  }
  const parsed = serviceSchema.safeParse(value);
  if (parsed.success) return { ok: true, config: parsed.data };
  const issues = parsed.error.issues.map(
    (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
  return { ok: false, problem: `service.json is not valid: ${issues.join('; ')}` };
}

export interface BoxOptions {
  /** The runtime's clock: a box's start-up window is measured on it. */
  readonly clock: Clock;
  /**
   * Decides faults: a request fails when `random() < faultRate`.
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * Clock seconds between loading an artifact and passing the health check.
   * @default 5
   */
  readonly startSeconds?: number;
  /**
   * The longest real wait of one request, whatever the latency (the local engine's
   * boxes wait none: its clock waits for the canary's requests anyway).
   * @default 50
   */
  readonly maxDelayMs?: number;
  /**
   * Told, synchronously, after the box loaded an artifact: a registry with a directory
   * saves it from here, before anybody can see the box run it.
   * @default - nobody is told
   */
  readonly onLoad?: (box: Box) => void;
}

/** What a box last loaded: its `service.json` as given, their sha256, and when (clock time). */
export interface LoadedArtifact {
  readonly serviceJson: Uint8Array;
  readonly sha256: string;
  readonly loadedAt: Date;
}

/** `empty`: nothing deployed yet; `broken`: its `service.json` cannot be read. */
export type BoxState = 'empty' | 'starting' | 'running' | 'broken';

/** The header in which a box states the latency it simulated, in milliseconds of service time. */
export const LATENCY_HEADER = 'x-service-latency-ms';

interface ResolvedBoxOptions {
  readonly clock: Clock;
  readonly random: () => number;
  readonly startSeconds: number;
  readonly maxDelayMs: number;
  readonly onLoad: ((box: Box) => void) | undefined;
}

function resolve(options: BoxOptions): ResolvedBoxOptions {
  const resolved = {
    clock: options.clock,
    random: options.random ?? Math.random,
    startSeconds: options.startSeconds ?? 5,
    maxDelayMs: options.maxDelayMs ?? 50,
    onLoad: options.onLoad,
  };
  for (const field of ['startSeconds', 'maxDelayMs'] as const) {
    if (!(Number.isFinite(resolved[field]) && resolved[field] >= 0)) {
      throw new TerminalError(`Box ${field} is ${resolved[field]}; expected a number ≥ 0.`);
    }
  }
  return resolved;
}

/**
 * One box: a real `node:http` server on 127.0.0.1 serving the artifact it was last given.
 * `GET /` answers 200, or 500 with probability `faultRate`, after the simulated latency;
 * `GET /health` answers 200 once the box runs a valid artifact and has finished starting.
 *
 * @example
 * const box = await Box.start(0, { clock });
 * box.load('{"version":"r2","faultRate":0,"latencyMs":20}'); // state 'starting' for 5 clock seconds
 * await httpGet(`${box.url}/health`); // { status: 503, … } until then, 200 afterwards
 * await box.close();
 */
export class Box {
  readonly index: number;
  readonly url: string;
  readonly #server: Server;
  readonly #options: ResolvedBoxOptions;
  readonly #timers = new Set<NodeJS.Timeout>();
  #service: ParsedService | null = null;
  #loaded: LoadedArtifact | null = null;
  #startingUntil = 0;

  private constructor(index: number, server: Server, options: ResolvedBoxOptions) {
    this.index = index;
    this.#server = server;
    this.#options = options;
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Starts a box listening on a free loopback port. */
  static async start(index: number, options: BoxOptions): Promise<Box> {
    const resolved = resolve(options);
    const handlers: { handle?: (request: IncomingMessage, response: ServerResponse) => void } = {};
    const server = createServer((request, response) => handlers.handle?.(request, response));
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(0, '127.0.0.1', () => done());
    });
    const box = new Box(index, server, resolved);
    handlers.handle = (request, response) => box.#handle(request, response);
    return box;
  }

  get state(): BoxState {
    if (this.#service === null) return 'empty';
    if (!this.#service.ok) return 'broken';
    return this.#options.clock.now().getTime() < this.#startingUntil ? 'starting' : 'running';
  }

  /** The version it runs (or starts), `null` when empty or broken. */
  get version(): string | null {
    return this.#service?.ok ? this.#service.config.version : null;
  }

  /** What it last loaded, `null` when empty. */
  get artifact(): LoadedArtifact | null {
    return this.#loaded;
  }

  /**
   * Replaces what the box runs: it restarts, and is out of service for `startSeconds`
   * from `loadedAt`. A box restored after a restart passes the time it was loaded then.
   */
  load(serviceJson: Uint8Array | string, loadedAt: Date = this.#options.clock.now()): void {
    const bytes =
      typeof serviceJson === 'string'
        ? new TextEncoder().encode(serviceJson)
        : Uint8Array.from(serviceJson);
    this.#service = parseServiceJson(bytes);
    this.#loaded = { serviceJson: bytes, sha256: sha256Of(bytes), loadedAt };
    this.#startingUntil = loadedAt.getTime() + this.#options.startSeconds * 1000;
    this.#options.onLoad?.(this);
  }

  /** Closes the server and every open connection; pending answers are dropped. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (!this.#server.listening) return;
    const closed = new Promise<void>((done) => this.#server.close(() => done()));
    this.#server.closeAllConnections();
    await closed;
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') answer(response, 405, { error: 'only GET is served' });
    else if (path === '/health') this.#health(response);
    else if (path === '/') this.#serve(response);
    else answer(response, 404, { error: `no route ${path}; try / or /health` });
  }

  #health(response: ServerResponse): void {
    const state = this.state;
    const body = { box: this.index, state, version: this.version };
    const problem = this.#service?.ok === false ? this.#service.problem : undefined;
    if (state === 'running') answer(response, 200, body);
    else answer(response, 503, problem === undefined ? body : { ...body, problem });
  }

  #serve(response: ServerResponse): void {
    const service = this.#service;
    if (this.state !== 'running' || !service?.ok) {
      answer(response, 503, { box: this.index, state: this.state });
      return;
    }
    const { version, faultRate, latencyMs } = service.config;
    const fault = this.#options.random() < faultRate;
    const delay = Math.min(latencyMs, this.#options.maxDelayMs);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      response.setHeader(LATENCY_HEADER, String(latencyMs));
      answer(
        response,
        fault ? 500 : 200,
        fault
          ? { box: this.index, version, error: 'simulated fault' }
          : { box: this.index, version },
      );
    }, delay);
    this.#timers.add(timer);
  }
}

function answer(response: ServerResponse, status: number, body: object): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** One HTTP answer, body as text. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * A GET without keep-alive, so that no socket outlives the request. Rejects on a
 * connection error or after `timeoutMs` of real time.
 *
 * @example
 * await httpGet('http://127.0.0.1:40123/health'); // { status: 200, headers: {…}, body: '{"box":0,…}' }
 */
export function httpGet(url: string, timeoutMs = 1000): Promise<HttpAnswer> {
  return new Promise((done, fail) => {
    const request = get(url, { agent: false, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', fail);
      response.on('end', () =>
        done({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    request.on('timeout', () =>
      request.destroy(new Error(`GET ${url} got no answer within ${timeoutMs} ms`)),
    );
    request.on('error', fail);
  });
}

/**
 * The boxes of one target, numbered from 0.
 *
 * @example
 * const fleet = await Fleet.start('gamma-t1', 10, { clock });
 * fleet.versionCounts(); // { '(none)': 10 } before the first deployment, { r2: 7, r3: 3 } mid-way
 * await fleet.close();
 */
export class Fleet {
  readonly target: string;
  readonly boxes: readonly Box[];

  private constructor(target: string, boxes: readonly Box[]) {
    this.target = target;
    this.boxes = boxes;
  }

  static async start(target: string, size: number, options: BoxOptions): Promise<Fleet> {
    if (!(Number.isInteger(size) && size >= 1)) {
      throw new TerminalError(`Fleet ${target} has ${size} boxes; expected a whole number ≥ 1.`);
    }
    const started = await Promise.allSettled(
      Array.from({ length: size }, (_, index) => Box.start(index, options)),
    );
    const boxes = started.flatMap((result) =>
      result.status === 'fulfilled' ? [result.value] : [],
    );
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(boxes.map((box) => box.close()));
      throw failed.reason;
    }
    return new Fleet(target, boxes);
  }

  /** How many boxes run each version; `(none)` for empty boxes, `(invalid)` for broken ones. */
  versionCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const box of this.boxes) {
      const key = box.state === 'empty' ? '(none)' : (box.version ?? '(invalid)');
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  async close(): Promise<void> {
    await Promise.all(this.boxes.map((box) => box.close()));
  }
}

/**
 * The `local-fleet` deployment of a target, or a `TerminalError` naming its kind.
 *
 * @example
 * localFleetConfig(target); // { kind: 'local-fleet', boxes: 10 }
 */
export function localFleetConfig(
  target: TargetDefinition,
): Extract<TargetDefinition['deployment'], { kind: 'local-fleet' }> {
  if (target.deployment.kind !== 'local-fleet') {
    throw new TerminalError(
      `Target "${target.id}" has deployment kind "${target.deployment.kind}", not "local-fleet": the local runtime simulates local fleets only. Route the target to the deployer of its kind, or describe it as { kind: 'local-fleet', boxes }.`,
    );
  }
  return target.deployment;
}

export interface FleetsOptions extends BoxOptions {
  /**
   * Where the fleets are kept between runs (`<dataDir>/fleets`): under `boxes/<target>/`,
   * the fleet's size (`fleet.json`) and each box's last artifact (`<index>.json`), each
   * file rewritten atomically when it changes. The registry restarts every fleet found
   * there at once, each box serving what it served before.
   * @default - nothing kept: every fleet starts empty with the registry
   */
  readonly directory?: string;
}

/**
 * Every fleet of the local runtime, by target id, each started on first use with the
 * target's number of boxes. A target id names one fleet for the life of the registry, and,
 * with a directory, across registries opened on it.
 *
 * @example
 * const fleets = new Fleets({ clock, speed: 60, directory: '.captain/fleets' });
 * const fleet = await fleets.fleetFor(gammaTarget); // 10 boxes listening on loopback
 * fleets.list(); // [fleet]
 * await fleets.close();
 * // later, in another process: the fleet restarts, its boxes serve what they served
 * const again = new Fleets({ clock, speed: 60, directory: '.captain/fleets' });
 * await again.whenStarted('gamma-t1'); // Fleet { target: 'gamma-t1', … }
 */
export class Fleets {
  readonly #options: BoxOptions;
  readonly #directory: string | undefined;
  readonly #starting = new Map<string, Promise<Fleet>>();
  readonly #fleets = new Map<string, Fleet>();
  #closed = false;

  constructor(options: FleetsOptions) {
    resolve(options);
    const { directory, ...boxOptions } = options;
    this.#options = boxOptions;
    this.#directory = directory === undefined ? undefined : join(directory, 'boxes');
    if (this.#directory === undefined) return;
    mkdirSync(this.#directory, { recursive: true });
    // A restored fleet that fails to start is forgotten as any other (#launch): whoever
    // waits on it meets the error, and the next fleetFor starts it afresh.
    for (const saved of readSavedFleets(this.#directory)) {
      void this.#launch(saved.target, saved.boxes, saved.loaded);
    }
  }

  /** The target's fleet, started now if it is the first ask. */
  async fleetFor(target: TargetDefinition): Promise<Fleet> {
    const { boxes } = localFleetConfig(target);
    if (this.#closed) throw new TerminalError(`The fleets are closed; cannot start ${target.id}.`);
    return this.#starting.get(target.id) ?? this.#launch(target.id, boxes, []);
  }

  /** The target's fleet if it was started. */
  get(targetId: string): Fleet | undefined {
    return this.#fleets.get(targetId);
  }

  /**
   * The target's fleet once it has started (restored ones included), `undefined` when it
   * was neither asked for nor saved.
   */
  async whenStarted(targetId: string): Promise<Fleet | undefined> {
    return this.#starting.get(targetId);
  }

  /** The fleets started so far, in the order they were first asked for (or restored). */
  list(): Fleet[] {
    return [...this.#starting.keys()].flatMap((id) => this.#fleets.get(id) ?? []);
  }

  /** Closes every fleet, including those still starting. */
  async close(): Promise<void> {
    this.#closed = true;
    const fleets = await Promise.allSettled(this.#starting.values());
    await Promise.all(
      fleets.flatMap((result) => (result.status === 'fulfilled' ? [result.value.close()] : [])),
    );
  }

  /** Starts a fleet, its boxes loading what they `loaded` before, and saves its size. */
  #launch(target: string, size: number, loaded: readonly (LoadedArtifact | null)[]) {
    const directory =
      this.#directory === undefined ? undefined : join(this.#directory, encodeURIComponent(target));
    const told = this.#options.onLoad;
    const save = (box: Box) => {
      if (directory !== undefined && box.artifact !== null) {
        saveJson(join(directory, `${box.index}.json`), savedBox(box.artifact));
      }
      told?.(box);
    };
    const fleet = Fleet.start(target, size, { ...this.#options, onLoad: save }).then(
      async (started) => {
        try {
          if (directory !== undefined) {
            mkdirSync(directory, { recursive: true });
            saveJson(join(directory, 'fleet.json'), { target, boxes: size });
          }
          for (const box of started.boxes) {
            const artifact = loaded[box.index];
            if (artifact) box.load(artifact.serviceJson, artifact.loadedAt);
          }
        } catch (error) {
          await started.close();
          throw error;
        }
        this.#fleets.set(target, started);
        return started;
      },
    );
    // Stored before the first await, so that concurrent asks share one fleet.
    this.#starting.set(target, fleet);
    fleet.catch(() => this.#starting.delete(target));
    return fleet;
  }
}

/**
 * Writes `value` as JSON so that a crash leaves the previous file or the new one, never
 * part of one: a temporary file renamed over it. Synchronous on purpose: the state is on
 * disk before anybody acts on it, and two writes of one file cannot interleave.
 */
export function saveJson(path: string, value: unknown): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temporary, path);
}

/**
 * Reads a file {@link saveJson} wrote, `null` if there is none; a file that does not parse
 * is a `TerminalError` naming it and the way out.
 */
export function readSavedJson<T>(path: string, schema: z.ZodType<T>): T | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let problem: string;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data;
    problem = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
      .join('; ');
  } catch (error) {
    problem = `not JSON (${(error as Error).message})`;
  }
  throw new TerminalError(
    `The saved state ${path} cannot be read: ${problem}. Delete the file to forget that part of the local state, or the data directory to start afresh.`,
  );
}

/** Bytes as JSON holds them: as text when they are UTF-8 (a `service.json` is), else base64. */
export const storedBytesSchema = z.union([
  z.object({ utf8: z.string() }),
  z.object({ base64: z.string() }),
]);

/**
 * Bytes in the form {@link storedBytesSchema} reads.
 *
 * @example
 * storeBytes(new TextEncoder().encode('{"version":"r2"}')); // { utf8: '{"version":"r2"}' }
 * storeBytes(Uint8Array.of(0xff)); // { base64: '/w==' }
 */
export function storeBytes(bytes: Uint8Array): z.infer<typeof storedBytesSchema> {
  try {
    return { utf8: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { base64: Buffer.from(bytes).toString('base64') };
  }
}

/** The bytes {@link storeBytes} stored, checked against their sha256. */
export function restoreBytes(
  stored: z.infer<typeof storedBytesSchema>,
  sha256: string,
  path: string,
): Uint8Array {
  const bytes =
    'utf8' in stored
      ? new TextEncoder().encode(stored.utf8)
      : new Uint8Array(Buffer.from(stored.base64, 'base64'));
  const actual = sha256Of(bytes);
  if (actual !== sha256) {
    throw new TerminalError(
      `The saved state ${path} holds an artifact with sha256 ${actual}, not the ${sha256} it names: it was changed by hand. Delete the file, or the data directory to start afresh.`,
    );
  }
  return bytes;
}

/** Hex sha256, as the saved state names an artifact. */
export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const savedFleetSchema = z.object({
  target: z.string().min(1),
  boxes: z.number().int().min(1),
});

const savedBoxSchema = z.object({
  serviceJson: storedBytesSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  loadedAt: z.iso.datetime(),
});

function savedBox(artifact: LoadedArtifact): z.infer<typeof savedBoxSchema> {
  return {
    serviceJson: storeBytes(artifact.serviceJson),
    sha256: artifact.sha256,
    loadedAt: artifact.loadedAt.toISOString(),
  };
}

/** Every fleet saved under `directory`, with what each of its boxes last loaded. */
function readSavedFleets(directory: string) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    if (!entry.isDirectory()) return [];
    const path = join(directory, entry.name);
    // No fleet.json: the crash came before the fleet had started; nothing was deployed.
    const fleet = readSavedJson(join(path, 'fleet.json'), savedFleetSchema);
    if (fleet === null) return [];
    const loaded = Array.from({ length: fleet.boxes }, (_, index) => {
      const file = join(path, `${index}.json`);
      const box = readSavedJson(file, savedBoxSchema);
      if (box === null) return null;
      const serviceJson = restoreBytes(box.serviceJson, box.sha256, file);
      return { serviceJson, sha256: box.sha256, loadedAt: new Date(box.loadedAt) };
    });
    return [{ ...fleet, loaded }];
  });
}
