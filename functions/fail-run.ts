import { failStage, recordDeployment, subjects } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { failInput } from './lib/inputs.js';
import { stepHandler } from './lib/step-handler.js';
import { wakeAll } from './lib/wake-all.js';

/**
 * The "Fail the run" steps, on a terminal error in a step. A normal run fails: its release
 * is rejected at the stage and every target it touched rolls back (safety property 4); the
 * other targets' iterations are woken to roll back. A target already rolling back whose
 * step fails terminally (its older image was deleted, access was revoked) is recorded as
 * rollback-failed, which closes the stage to promotions for an operator: retrying cannot
 * help, and the workflow must not loop.
 */
export function createFailRunHandler(deps: DepsSource) {
  return stepHandler('fail-run', failInput, async (input) => {
    const resolved = await deps();
    const { service } = await resolved.driver(input.pipeline);
    const reason = `${input.error.Error}: ${causeMessage(input.error.Cause ?? 'no cause given')}`;
    const run = (await service.state()).stages[input.stage]?.run ?? null;
    const target = input.target === undefined ? undefined : run?.targets[input.target];
    const rollingBack = run !== null && (run.kind === 'rollback' || run.step === 'rolling-back');
    if (run !== null && run.seq === input.seq && rollingBack && target?.status === 'rolling-back') {
      const t = await service.apply(recordDeployment, {
        stage: input.stage,
        seq: input.seq,
        target: input.target as string,
        kind: 'rollback',
        result: 'failed',
        reason,
      });
      return { failed: t.writes.length > 0, note: t.note };
    }
    const t = await service.apply(failStage, { stage: input.stage, seq: input.seq, reason });
    await wakeAll(
      resolved,
      [subjects.run(input.pipeline, input.stage, input.seq)],
      resolved.clock.now(),
    );
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
