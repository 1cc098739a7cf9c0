import { advanceTarget, workflowDecision } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { targetInput } from './lib/inputs.js';
import { stepHandler } from './lib/step-handler.js';

/** The "Advance target" step: admit, deploy, watch and record one target (see `advanceTarget`). */
export function createAdvanceTargetHandler(deps: DepsSource) {
  return stepHandler('advance-target', targetInput, async (input) => {
    const { driver, clock } = await deps();
    const decidedAt = clock.now();
    return workflowDecision(await advanceTarget(await driver(input.pipeline), input), decidedAt);
  });
}

export const handler = createAdvanceTargetHandler(awsDeps);
