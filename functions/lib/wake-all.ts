import type { HandlerDeps } from './deps.js';
import { logger } from './step-handler.js';

/** How long a token put back after a failed resume stays registered; its step re-checks by then anyway. */
const REREGISTER_SECONDS = 3600;

/**
 * Resumes every step waiting on `subjects`. A token whose resume fails (throttled, say) is
 * put back under its subject before the error is thrown, so the Lambda retry of the event
 * finds it again instead of leaving the step to its timeout.
 *
 * @example
 * await wakeAll(deps, ['deployment:d-42'], eventTime); // 1
 */
export async function wakeAll(
  deps: Pick<HandlerDeps, 'wakes' | 'tokens' | 'clock'>,
  subjects: readonly string[],
  at: Date,
): Promise<number> {
  let woken = 0;
  for (const subject of subjects) {
    const tokens = await deps.wakes.claim(subject, at);
    for (const [index, token] of tokens.entries()) {
      try {
        if ((await deps.tokens.succeed(token, { wokenBy: subject })) === 'sent') woken++;
      } catch (error) {
        const expiresAt = new Date(deps.clock.now().getTime() + REREGISTER_SECONDS * 1000);
        for (const unsent of tokens.slice(index)) {
          await deps.wakes.register(unsent, [subject], expiresAt, new Date(0));
        }
        logger.warn('resume failed; tokens put back', { subject, tokens: tokens.length - index });
        throw error;
      }
    }
  }
  return woken;
}
