import { advanceTarget, workflowDecision } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { targetInput } from './lib/inputs.js';
import { logger, stepHandler } from './lib/step-handler.js';
import { wakeAll } from './lib/wake-all.js';

/** The "Advance target" step: admit, deploy, watch and record one target (see `advanceTarget`). */
export function createAdvanceTargetHandler(deps: DepsSource) {
  return stepHandler('advance-target', targetInput, async (input) => {
    const resolved = await deps();
    const decidedAt = resolved.clock.now();
    const step = await advanceTarget(await resolved.driver(input.pipeline), input);
    // This call failed the run (the other targets stop waiting and roll back), ended the
    // watch of deployed targets, or handed the run over. Best effort: the decision is
    // stored, a retry of this step would not repeat the wake, and every waiting target
    // looks again by itself within the hour.
    await wakeAll(resolved, step.wake ?? [], decidedAt).catch((error: unknown) =>
      logger.warn('could not wake the run’s other targets', { error }),
    );
    return workflowDecision(step, decidedAt, input.looks + 1);
  });
}

export const handler = createAdvanceTargetHandler(awsDeps);
