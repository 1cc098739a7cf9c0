import { z } from 'zod';
import type { RunStart, Topology } from '../../core/index.js';

/**
 * The inputs the stage workflow sends, validated at the boundary: the ASL builds them, but
 * a state machine and handlers deployed out of step must fail loudly, not misbehave.
 */
const name = z.string().min(1).max(128);

export const pipelineInput = z.object({ pipeline: name });

export const runInput = z.object({
  pipeline: name,
  stage: name,
  seq: z.number().int().positive(),
});

/**
 * A call of the stage workflow's loop: the execution's attempt (a call from an attempt
 * that is no longer the run's changes nothing) and how many decisions its loop took.
 */
export const stepInput = runInput.extend({
  attempt: z.number().int().positive(),
  looks: z.number().int().nonnegative(),
});

export const targetInput = stepInput.extend({ target: name });

export const awaitInput = z.object({
  token: z.string().min(1).max(2048),
  /** A wave's bake watches every target's alarms: dozens, never thousands. */
  subjects: z.array(z.string().min(1)).max(500),
  seconds: z.number().int().positive(),
  reason: z.string(),
  decidedAt: z.iso.datetime(),
  execution: z.string().min(1).max(80),
});

export const failInput = runInput.extend({
  attempt: z.number().int().positive(),
  /** What the Catch put in `$.error`: Step Functions' `{ Error, Cause }`. */
  error: z.object({ Error: z.string(), Cause: z.string().optional() }),
});

/**
 * The input of a stage run's execution, as the stage workflow (statemachines/stage.asl.json)
 * reads it: the cloud's starter and the local runtime's give the same. Its Map's items are
 * the run's targets (a manual rollback of some targets runs those only), each checked
 * against the stage's definition.
 *
 * @example
 * executionInput(topology, 'api', run); // { pipeline: 'api', stage: 'gamma', seq: 4, …, targets: ['gamma-t1'] }
 */
export function executionInput(topology: Topology, pipeline: string, run: RunStart) {
  for (const target of run.targets) topology.target(run.stage, target);
  return {
    pipeline,
    stage: run.stage,
    seq: run.seq,
    kind: run.kind,
    release: run.release,
    attempt: run.attempt,
    targets: [...run.targets],
  };
}
