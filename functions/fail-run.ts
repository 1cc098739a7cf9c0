import { failStep } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { failInput } from './lib/inputs.js';
import { logger, stepHandler } from './lib/step-handler.js';
import { wakeAll } from './lib/wake-all.js';

/**
 * The "Fail the run" steps, on a terminal error in a step: the run fails and rolls back
 * (`failStep`), and the other targets' waits are woken.
 */
export function createFailRunHandler(deps: DepsSource) {
  return stepHandler('fail-run', failInput, async (input) => {
    const resolved = await deps();
    const { service } = await resolved.driver(input.pipeline);
    const { wake, ...result } = await failStep(service, {
      stage: input.stage,
      seq: input.seq,
      attempt: input.attempt,
      reason: `${input.error.Error}: ${causeMessage(input.error.Cause ?? 'no cause given')}`,
    });
    // Best effort, as in advance-target: the failure is stored; waiting targets look again
    // by themselves within 15 minutes if the wake does not reach them.
    await wakeAll(resolved, wake, resolved.clock.now()).catch((error: unknown) =>
      logger.warn('could not wake the run’s targets', { error }),
    );
    return { failed: result.changed, note: result.note };
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
