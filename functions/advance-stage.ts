import { advanceStage, workflowDecision } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { runInput } from './lib/inputs.js';
import { stepHandler } from './lib/step-handler.js';

/** The "Advance stage" step: bake, approval steps, approval (see `advanceStage`). */
export function createAdvanceStageHandler(deps: DepsSource) {
  return stepHandler('advance-stage', runInput, async (input) => {
    const { driver, clock } = await deps();
    const decidedAt = clock.now();
    return workflowDecision(await advanceStage(await driver(input.pipeline), input), decidedAt);
  });
}

export const handler = createAdvanceStageHandler(awsDeps);
