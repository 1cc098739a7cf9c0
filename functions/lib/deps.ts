import type { Clock, DriverPorts, TaskTokens, WakeRegistry } from '../../core/index.js';

/**
 * What the handlers need, whichever engine runs them: the AWS wiring in
 * `functions/lib/aws-deps.ts` for Lambda, the local runtime's for `npm start` and the
 * integration tests. Handlers receive these; they never build clients themselves.
 */
export interface HandlerDeps {
  /** The driver's ports for one pipeline (its topology, stores and services). */
  driver(pipeline: string): Promise<DriverPorts>;
  readonly wakes: WakeRegistry;
  readonly tokens: TaskTokens;
  readonly clock: Clock;
}

/** Handlers are built once per process from a promise of their deps (resolved on first use). */
export type DepsSource = () => Promise<HandlerDeps>;
