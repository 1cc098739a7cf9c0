import { advanceStage, workflowDecision } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { stepInput } from './lib/inputs.js';
import { logger, stepHandler } from './lib/step-handler.js';
import { wakeAll } from './lib/wake-all.js';

/** The "Advance stage" step: bake, approval steps, approval (see `advanceStage`). */
export function createAdvanceStageHandler(deps: DepsSource) {
  return stepHandler('advance-stage', stepInput, async (input) => {
    const resolved = await deps();
    const decidedAt = resolved.clock.now();
    const step = await advanceStage(await resolved.driver(input.pipeline), input);
    // This call handed the run over to a new attempt: the old execution's waits end now
    // rather than at their timeouts. Best effort, as in advance-target.
    await wakeAll(resolved, step.wake ?? [], decidedAt).catch((error: unknown) =>
      logger.warn('could not wake the run’s waiting steps', { error }),
    );
    return workflowDecision(step, decidedAt, input.looks + 1);
  });
}

export const handler = createAdvanceStageHandler(awsDeps);
