import { z } from 'zod';

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

export const targetInput = runInput.extend({ target: name });

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
  /** What the Catch put in `$.error`: Step Functions' `{ Error, Cause }`. */
  error: z.object({ Error: z.string(), Cause: z.string().optional() }),
});
