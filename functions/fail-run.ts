import { failStage } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { failInput } from './lib/inputs.js';
import { stepHandler } from './lib/step-handler.js';

/**
 * The "Fail the run" steps: a terminal error in a step fails the run, so its release is
 * rejected at the stage and every target it touched rolls back (safety property 4).
 */
export function createFailRunHandler(deps: DepsSource) {
  return stepHandler('fail-run', failInput, async (input) => {
    const { driver } = await deps();
    const { service } = await driver(input.pipeline);
    const cause = input.error.Cause ?? 'no cause given';
    const t = await service.apply(failStage, {
      stage: input.stage,
      seq: input.seq,
      reason: `${input.error.Error}: ${causeMessage(cause)}`,
    });
    return { failed: t.writes.length > 0, note: t.note };
  });
}

/** Lambda errors arrive as a JSON Cause (`{ errorType, errorMessage, … }`); keep the message. */
function causeMessage(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON: the cause is the message itself.
  }
  return cause;
}

export const handler = createFailRunHandler(awsDeps);
