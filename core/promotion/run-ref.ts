import { StaleAttemptError } from '../errors.js';
import type { StageRun } from '../model/stage-state.js';
import type { Draft } from './transition.js';

/** Every request about a run names it, so a late or duplicated request for an old run changes nothing. */
export interface RunRef {
  readonly stage: string;
  readonly seq: number;
  /**
   * The calling execution's attempt, for calls from the stage workflow: a call from an
   * attempt that is not the run's current one is refused ({@link activeRun}). Absent for
   * operators and test runners, who act on the run whichever execution drives it.
   */
  readonly attempt?: number;
}

/**
 * The run a request names, or `null` (with a note) when that run is over. A request from
 * an execution attempt that is no longer the run's changes nothing: the attempt that
 * handed the run over (its remaining steps end quietly) gets `null`, any other stale
 * attempt (a restart replaced it, or its start was relayed late) is refused with a
 * {@link StaleAttemptError}. The check reads the same stage item the rule writes, and the
 * write is conditioned on its version, so no call of a replaced attempt can land.
 *
 * @example
 * activeRun(draft, { stage: 'gamma', seq: 4, attempt: 1 }); // run 4 is at attempt 2 after a restart: throws
 */
export function activeRun(draft: Draft, ref: RunRef): StageRun | null {
  const run = draft.stage(ref.stage).run;
  if (run === null || run.seq !== ref.seq) {
    draft.note = `run ${ref.seq} of ${ref.stage} is no longer active (superseded, finished or replaced)`;
    return null;
  }
  if (ref.attempt === undefined || ref.attempt === run.attempt) return run;
  const fence = attemptFence(run, ref.stage, ref.attempt);
  if (fence.handedOver) {
    draft.note = fence.reason;
    return null;
  }
  throw new StaleAttemptError(fence.reason);
}

/**
 * Why a call of `attempt` may not drive `run`, and whether that attempt handed the run
 * over itself (then its steps end quietly rather than fail).
 */
export function attemptFence(
  run: StageRun,
  stage: string,
  attempt: number,
): { readonly handedOver: boolean; readonly reason: string } {
  if (run.handedOverBy === attempt) {
    return {
      handedOver: true,
      reason: `attempt ${attempt} of run ${run.seq} of ${stage} handed the run over to attempt ${run.attempt}`,
    };
  }
  return {
    handedOver: false,
    reason: `attempt ${attempt} of run ${run.seq} of ${stage} is not the run's current attempt (${run.attempt}): it was replaced (a restart, or a start relayed late), and may change nothing`,
  };
}
