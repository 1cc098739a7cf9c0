import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { awaitInput } from './lib/inputs.js';
import { logger, stepHandler } from './lib/step-handler.js';

/**
 * Clock skew tolerated between the wake handler and the handler that decided: both read
 * their host's clock (Lambda's hosts keep it synchronised to well under a millisecond).
 */
export const WAKE_MARGIN_MS = 10;

/**
 * The "Await …" steps (`.waitForTaskToken`): registers the step's task token under the
 * subjects it waits on, until its timeout. If one of them was woken since the decision,
 * the event came before the registration: the step is resumed at once.
 */
export function createAwaitEventHandler(deps: DepsSource) {
  return stepHandler('await-event', awaitInput, async (input) => {
    const { wakes, tokens, clock } = await deps();
    const expiresAt = new Date(clock.now().getTime() + input.seconds * 1000);
    // A wake processed after the decision (or within the skew before it) may report a
    // change the decision did not see. Waking a step once too often costs one look;
    // missing a wake costs the whole wait.
    const decidedAt = Date.parse(input.decidedAt) - WAKE_MARGIN_MS;
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
