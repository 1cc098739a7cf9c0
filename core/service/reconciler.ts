import type { WorkflowStarter } from '../ports/services.js';
import { restartRun } from '../promotion/approval.js';
import { failStage } from '../promotion/deployment.js';
import { reconcile } from '../promotion/rule.js';
import { runStart } from '../promotion/transition.js';
import type { PromotionService } from './promotion-service.js';

/** A run's execution gets this long to appear before the reconciler calls it lost. */
export const RECONCILE_GRACE_SECONDS = 600;
/** Executions a run may use up; after that a normal run fails and rolls back. */
export const MAX_EXECUTION_ATTEMPTS = 3;

export interface ReconcileReport {
  /** Outbox entries relayed (effects a crash left unpublished). */
  readonly relayed: number;
  /** Why some entries could not be relayed (they stay in the outbox), if any could not. */
  readonly relayFailure: string | null;
  /** Executions started again under a new attempt. */
  readonly restarted: readonly string[];
  /** Runs failed because their executions kept dying. */
  readonly failed: readonly string[];
  /** Runs with no execution that need a person (a rollback whose executions kept dying). */
  readonly stuck: readonly string[];
}

/**
 * Finds work that has no one doing it and gets it done, for the scheduled reconciler in
 * the cloud and at start-up locally. DynamoDB is the source of truth and executions are
 * only how work happens, so: finish what crashes left half-written (`reconcile` settles
 * and relays the outboxes, which starts executions owed), then give every run whose
 * execution is gone a new attempt, a recorded decision with a new execution name. A run
 * taken less than {@link RECONCILE_GRACE_SECONDS} ago is left alone: its execution may be
 * starting. A normal run whose executions died {@link MAX_EXECUTION_ATTEMPTS} times fails
 * (its release is rejected here and its targets roll back) instead of looping.
 *
 * @example
 * await reconcileRuns(service, workflows, new Date());
 * // { relayed: 0, restarted: ['api_gamma_r9-2'], failed: [], stuck: [] }
 */
export async function reconcileRuns(
  service: PromotionService,
  workflows: WorkflowStarter,
  now: Date,
): Promise<ReconcileReport> {
  // An entry that keeps failing must not stop the restarts below; it is reported instead.
  let relayFailure: string | null = null;
  const relayed = await service.relayPending().catch((error: unknown) => {
    relayFailure = error instanceof Error ? error.message : String(error);
    return 0;
  });
  await service.apply(reconcile, {});
  const pipeline = service.topology.pipeline;
  const restarted: string[] = [];
  const failed: string[] = [];
  const stuck: string[] = [];
  const state = await service.state();
  for (const [stage, { run }] of Object.entries(state.stages)) {
    if (run === null) continue;
    if (now.getTime() - Date.parse(run.startedAt) < RECONCILE_GRACE_SECONDS * 1000) continue;
    const start = runStart(pipeline, stage, run);
    const name = start.executionName;
    if (await workflows.isRunning(pipeline, start)) continue;
    // Hand-overs are the executions' own decisions, not deaths: only restarts count.
    if (run.attempt - (run.handovers ?? 0) < MAX_EXECUTION_ATTEMPTS) {
      const t = await service.apply(restartRun, { stage, seq: run.seq, attempt: run.attempt });
      restarted.push(...t.starts.map((s) => s.executionName));
      continue;
    }
    if (run.kind === 'normal' && run.step !== 'rolling-back') {
      await service.apply(failStage, {
        stage,
        seq: run.seq,
        reason: `the stage workflow ended ${run.attempt} times without finishing (last: ${name}); see its execution history`,
      });
      // The failed run rolls back under one more attempt, so its execution is started too.
      const again = await service.apply(restartRun, { stage, seq: run.seq, attempt: run.attempt });
      failed.push(name, ...again.starts.map((s) => s.executionName));
      continue;
    }
    stuck.push(name);
  }
  return { relayed, relayFailure, restarted, failed, stuck };
}
