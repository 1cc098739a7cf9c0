import { alarmFailure, alarmWatches } from '../bake/alarm-watch.js';
import { effectiveBakeSeconds, evaluateBake } from '../bake/evaluate-bake.js';
import { RetryableError, StaleAttemptError } from '../errors.js';
import { releaseLabel } from '../model/release.js';
import { approveRun, recordApprovalStep, recordBake } from '../promotion/approval.js';
import { failStage } from '../promotion/deployment.js';
import { attemptFence } from '../promotion/run-ref.js';
import {
  BAKE_RECHECK_MAX_SECONDS,
  type DriverPorts,
  MAX_DECISIONS,
  type NextStep,
  observe,
  secondsUntil,
  subjects,
  type WorkflowCall,
  withinHistory,
} from './driver-step.js';

/** A request about a run as a whole: after its deployments, its bake and approval steps. */
export interface StageStepRequest extends WorkflowCall {
  readonly stage: string;
  readonly seq: number;
}

/**
 * Moves a run on after its deployments: bake (time, data points, alarms), then the
 * approval steps, then approval, which promotes the release and lets the stage take its
 * next pending release. `redeploy` sends the workflow back to its targets: a rollback to
 * carry out after a failed bake or approval step.
 *
 * @example
 * await advanceStage(ports, { stage: 'gamma', seq: 4 });
 * // { action: 'await', subjects: ['alarm:api-aggregate-euw1', 'run:api/gamma/4'], seconds: 2400,
 * //   reason: 'baking r9: 2400 s of bake time' }
 */
export async function advanceStage(
  ports: DriverPorts,
  request: StageStepRequest,
): Promise<NextStep> {
  return withinHistory(ports, request, await moveStage(ports, request));
}

async function moveStage(ports: DriverPorts, request: StageStepRequest): Promise<NextStep> {
  const topology = ports.service.topology;
  const stage = topology.stage(request.stage);
  for (let decision = 0; decision < MAX_DECISIONS; decision++) {
    const state = await ports.service.state();
    const run = state.stages[request.stage]?.run ?? null;
    if (run === null || run.seq !== request.seq) {
      return { action: 'done', reason: `run ${request.seq} of ${request.stage} is over` };
    }
    // Only the run's current attempt drives it (see advanceTarget).
    const fence = request.attempt === undefined ? {} : { attempt: request.attempt };
    if (fence.attempt !== undefined && run.attempt !== fence.attempt) {
      const why = attemptFence(run, request.stage, fence.attempt);
      if (!why.handedOver) throw new StaleAttemptError(why.reason);
      return { action: 'done', reason: why.reason };
    }
    if (run.step === 'waiting' || run.step === 'deploying' || run.step === 'rolling-back') {
      return { action: 'redeploy', reason: `run ${run.seq} of ${request.stage} is ${run.step}` };
    }
    const now = ports.clock.now();
    // From the first deployment until the stage approves, every target running the release
    // is watched: through the bake and through every approval step.
    const watches = alarmWatches(stage, run);
    const alarms = await observe(ports, watches);
    const alarmSubjects = watches.map((w) => subjects.alarm(w.name));
    const runSubject = subjects.run(topology.pipeline, request.stage, run.seq);
    if (run.step === 'baking') {
      const expedite = state.meta.expedite;
      const bakeFactor =
        expedite !== null && expedite.release === run.release ? expedite.bakeFactor : null;
      const duration = effectiveBakeSeconds(stage.bake.durationSeconds, bakeFactor);
      const bakeStartedAt = run.bakeStartedAt ?? run.startedAt;
      // Each target on its own: in a wide wave one busy Region must not carry a quiet one.
      let dataPoints: Record<string, number> = {};
      if (stage.bake.minDataPoints > 0) {
        const counted = await ports.metrics.countDataPoints({
          metric: stage.bake.dataPointMetric,
          targets: stage.targets,
          from: new Date(bakeStartedAt),
          to: now,
        });
        // A target the answer leaves out saw nothing.
        dataPoints = Object.fromEntries(
          stage.targets.map((target) => [target.id, counted[target.id] ?? 0]),
        );
      }
      const verdict = evaluateBake({
        startedAt: bakeStartedAt,
        now: now.toISOString(),
        durationSeconds: duration,
        minDataPoints: stage.bake.minDataPoints,
        dataPoints,
        alarms,
      });
      if (verdict.verdict === 'baking') {
        return {
          action: 'await',
          // The run's own subject too: a manual rollback that stops this run ends the wait.
          subjects: [...alarmSubjects, runSubject],
          seconds: Math.min(BAKE_RECHECK_MAX_SECONDS, secondsUntil(now, new Date(verdict.checkAt))),
          reason: `baking ${releaseLabel(run.release)}: ${verdict.waitingFor}`,
        };
      }
      await ports.service.apply(recordBake, {
        stage: request.stage,
        seq: run.seq,
        ...fence,
        verdict,
        bakeFactor,
      });
      continue;
    }
    // approving: the alarms first, so that no approval step passes over one that fired.
    const step = stage.approvalSteps.find((s) => !run.approvalsPassed.includes(s.name));
    const failure = alarms.map(alarmFailure).find((reason) => reason !== null) ?? null;
    if (failure !== null) {
      await ports.service.apply(failStage, {
        stage: request.stage,
        seq: run.seq,
        ...fence,
        reason: `${failure} while ${releaseLabel(run.release)} waited for ${step === undefined ? 'its approval' : `approval step ${step.name}`}`,
      });
      continue;
    }
    if (step === undefined) {
      await ports.service.apply(approveRun, { stage: request.stage, seq: run.seq, ...fence });
      continue;
    }
    const deadline = Date.parse(run.approvingSince ?? run.startedAt) + step.timeoutSeconds * 1000;
    if (now.getTime() >= deadline) {
      await ports.service.apply(recordApprovalStep, {
        stage: request.stage,
        seq: run.seq,
        ...fence,
        step: step.name,
        passed: false,
        by: 'release-captain',
        reason: `no decision within ${step.timeoutSeconds} s`,
        via: 'timeout',
      });
      continue;
    }
    return {
      action: 'await',
      subjects: [
        subjects.approval(topology.pipeline, request.stage, run.seq, step.name),
        ...alarmSubjects,
        runSubject,
      ],
      seconds: Math.min(BAKE_RECHECK_MAX_SECONDS, secondsUntil(now, new Date(deadline))),
      reason: `waiting for ${step.kind === 'manual-approval' ? 'a manual approval' : 'integration tests'}: ${step.name}`,
    };
  }
  throw new RetryableError(
    `Run ${request.seq} of ${request.stage} did not settle within ${MAX_DECISIONS} decisions; the workflow will call again.`,
  );
}
