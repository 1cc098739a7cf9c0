import { reconcileRuns } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { pipelineInput } from './lib/inputs.js';
import { logger, metrics, stepHandler } from './lib/step-handler.js';

/**
 * The scheduled reconciler (an EventBridge schedule per pipeline): relays what crashes
 * left in the outboxes and gives every run whose execution is gone a new attempt (see
 * `reconcileRuns`). Safe to run at any time and any number of times.
 */
export function createReconcileHandler(deps: DepsSource) {
  return stepHandler('reconcile', pipelineInput, async (input) => {
    const { driver, clock } = await deps();
    const { service } = await driver(input.pipeline);
    const workflows = service.workflows;
    const report = await reconcileRuns(service, workflows, clock.now());
    metrics.addMetric('RunsRestarted', 'Count', report.restarted.length);
    metrics.addMetric('RunsStuck', 'Count', report.stuck.length);
    if (report.stuck.length > 0) logger.warn('runs need an operator', { stuck: report.stuck });
    return report;
  });
}

export const handler = createReconcileHandler(awsDeps);
