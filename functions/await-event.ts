import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { awaitInput } from './lib/inputs.js';
import { logger, stepHandler } from './lib/step-handler.js';

/** Clock skew tolerated between the event's source and the handler that decided. */
const WAKE_MARGIN_MS = 2000;

/**
 * The "Await …" steps (`.waitForTaskToken`): registers the step's task token under the
 * subjects it waits on, until its timeout. If one of them was woken since the decision,
 * the event came before the registration: the step is resumed at once.
 */
export function createAwaitEventHandler(deps: DepsSource) {
  return stepHandler('await-event', awaitInput, async (input) => {
    const { wakes, tokens, clock } = await deps();
    const expiresAt = new Date(clock.now().getTime() + input.seconds * 1000);
    // EventBridge times have whole seconds, the decision has milliseconds: an event in the
    // same second (or a little clock skew) must still count as after the decision. Waking
    // a step once too often costs one look; missing a wake costs the whole wait.
    const decidedAt = Math.floor(Date.parse(input.decidedAt) / 1000) * 1000 - WAKE_MARGIN_MS;
    const registered = await wakes.register(
      input.token,
      input.subjects,
      expiresAt,
      new Date(decidedAt),
    );
    logger.info('waiting', {
      execution: input.execution,
      reason: input.reason,
      subjects: input.subjects,
      seconds: input.seconds,
      registered,
    });
    if (registered === 'woken')
      await tokens.succeed(input.token, { wokenBy: 'an event before the wait began' });
    return { registered };
  });
}

export const handler = createAwaitEventHandler(awsDeps);
