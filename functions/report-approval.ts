import { z } from 'zod';
import { recordApprovalStep, subjects } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { runInput } from './lib/inputs.js';
import { logger, stepHandler } from './lib/step-handler.js';
import { wakeAll } from './lib/wake-all.js';

export const approvalInput = runInput.extend({
  step: z.string().min(1).max(40),
  passed: z.boolean(),
  by: z.string().min(1).max(128),
  reason: z.string().min(1).max(1024),
});

/**
 * Records a test runner's verdict on an integration-tests step and wakes the stage
 * workflow waiting on it; the workflow then approves, or fails the run and rolls back.
 * Manual approvals are refused here: a person passes them through the operator API,
 * where `by` is the authenticated caller, not a name in a payload.
 */
export function createReportApprovalHandler(deps: DepsSource) {
  return stepHandler('report-approval', approvalInput, async (input) => {
    const resolved = await deps();
    const { service } = await resolved.driver(input.pipeline);
    const t = await service.apply(recordApprovalStep, { ...input, via: 'test-runner' });
    const subject = subjects.approval(input.pipeline, input.stage, input.seq, input.step);
    const woken = await wakeAll(resolved, [subject], resolved.clock.now());
    logger.info('approval recorded', { subject, passed: input.passed, woken, note: t.note });
    return { recorded: t.writes.length > 0, woken, note: t.note };
  });
}

export const handler = createReportApprovalHandler(awsDeps);
