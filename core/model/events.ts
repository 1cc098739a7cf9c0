import type { ReleaseNumber } from './release.js';

/** The events of DESIGN.md §5, published on EventBridge with source `release-captain`. */
export const EVENT_TYPES = [
  'Release Created',
  'Release Blocked',
  'Stage Started',
  'Deployment Started',
  'Deployment Succeeded',
  'Deployment Failed',
  'Bake Started',
  'Stage Approved',
  'Release Promoted',
  'Release Superseded',
  'Rollback Started',
  'Rollback Completed',
  'Promotions Disabled',
  'Promotions Enabled',
  'Blocker Overridden',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface EventDetail {
  readonly pipeline: string;
  readonly stage: string | null;
  readonly release: ReleaseNumber | null;
  readonly target: string | null;
  readonly reason: string | null;
  /** Anything else a consumer needs: the next stage, the rollback release, … */
  readonly data: Readonly<Record<string, string | number | boolean | null>>;
}

export interface PipelineEvent {
  /**
   * Deterministic: the same decision made twice yields the same id, so consumers drop
   * the duplicates that at-least-once delivery and retried handlers produce.
   */
  readonly id: string;
  readonly type: EventType;
  readonly at: string;
  readonly detail: EventDetail;
}

export interface EventInput {
  readonly type: EventType;
  readonly pipeline: string;
  readonly at: string;
  readonly stage?: string;
  readonly release?: ReleaseNumber;
  readonly target?: string;
  readonly reason?: string;
  /** What makes this occurrence unique beyond type, stage, release and target (e.g. a run number). */
  readonly occurrence?: string | number;
  readonly data?: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * Builds an event whose id names the decision, not the moment.
 *
 * @example
 * pipelineEvent({ type: 'Stage Approved', pipeline: 'api', stage: 'gamma', release: 42, occurrence: 7, at });
 * // id: 'api/gamma/r42/Stage Approved/7'
 */
export function pipelineEvent(input: EventInput): PipelineEvent {
  const parts = [
    input.pipeline,
    input.stage ?? '-',
    input.release === undefined ? '-' : `r${input.release}`,
    input.type,
    input.occurrence ?? '-',
  ];
  if (input.target !== undefined) parts.push(input.target);
  return {
    id: parts.join('/'),
    type: input.type,
    at: input.at,
    detail: {
      pipeline: input.pipeline,
      stage: input.stage ?? null,
      release: input.release ?? null,
      target: input.target ?? null,
      reason: input.reason ?? null,
      data: input.data ?? {},
    },
  };
}
