import { alarmsToCheck } from '../blockers/evaluate.js';
import { NotFoundError, RetryableError, StaleAttemptError, TerminalError } from '../errors.js';
import { type Release, releaseLabel } from '../model/release.js';
import type { StageRun, StageState } from '../model/stage-state.js';
import { admitTargets } from '../promotion/admit.js';
import { failStage, recordDeployment, recordDeploymentStart } from '../promotion/deployment.js';
import { attemptFence } from '../promotion/run-ref.js';
import {
  BLOCKED_RECHECK_SECONDS,
  DEPLOYMENT_RECHECK_SECONDS,
  type DriverPorts,
  firstFailure,
  MAX_DECISIONS,
  MAX_WAIT_SECONDS,
  type NextStep,
  secondsUntil,
  subjects,
  targetWatch,
  WATCH_RECHECK_SECONDS,
  type WorkflowCall,
  watchesUntilBake,
  withinHistory,
} from './driver-step.js';
import type { PromotionService } from './promotion-service.js';

/** A request about one target of one run, as the stage workflow's Map item sends it. */
export interface TargetStepRequest extends WorkflowCall {
  readonly stage: string;
  readonly seq: number;
  readonly target: string;
}

/**
 * Moves one target of a run as far as it can go now, and says what to wait for. Called by
 * the stage workflow for each target, again after every wake-up or timeout, so it decides
 * only from the stored state: admit the target when its blockers clear; start its
 * deployment (or rollback) once and record the deployment id; fail the run if the
 * target's rollback or aggregate alarm fires while it deploys; record the result when the
 * deployment ends. Every write is a rule applied through the {@link PromotionService}, so a
 * repeated call changes nothing twice.
 *
 * @example
 * await advanceTarget(ports, { stage: 'prod-1', seq: 7, target: 'use1-az1' });
 * // { action: 'await', subjects: ['deployment:d-42', 'alarm:api-rollback-use1-az1', …],
 * //   seconds: 900, reason: 'r12 deploying to use1-az1 (d-42)' }
 */
export async function advanceTarget(
  ports: DriverPorts,
  request: TargetStepRequest,
): Promise<NextStep> {
  return withinHistory(ports, request, await moveTarget(ports, request));
}

async function moveTarget(ports: DriverPorts, request: TargetStepRequest): Promise<NextStep> {
  const topology = ports.service.topology;
  const definition = topology.target(request.stage, request.target);
  const runSubject = subjects.run(topology.pipeline, request.stage, request.seq);
  const wake: string[] = [];
  const waking = (step: NextStep): NextStep => (wake.length === 0 ? step : { ...step, wake });
  for (let decision = 0; decision < MAX_DECISIONS; decision++) {
    const state = await ports.service.state();
    const stageState = state.stages[request.stage];
    const run = stageState?.run ?? null;
    if (stageState === undefined || run === null || run.seq !== request.seq) {
      return waking({ action: 'done', reason: `run ${request.seq} of ${request.stage} is over` });
    }
    // Only the run's current attempt drives it: the one that handed it over ends quietly,
    // any other (replaced by a restart, or started late from the outbox) is refused.
    const fence = request.attempt === undefined ? {} : { attempt: request.attempt };
    if (fence.attempt !== undefined && run.attempt !== fence.attempt) {
      const why = attemptFence(run, request.stage, fence.attempt);
      if (!why.handedOver) throw new StaleAttemptError(why.reason);
      return waking({ action: 'done', reason: why.reason });
    }
    const target = run.targets[request.target];
    if (target === undefined) {
      // A manual rollback of some of the stage's targets leaves the others out of its run.
      return waking({
        action: 'done',
        reason: `${request.target} is not part of run ${run.seq} of ${request.stage}`,
      });
    }
    if (target.status === 'waiting') {
      if (run.kind !== 'normal' || run.step === 'rolling-back') {
        return waking({
          action: 'done',
          reason: `${request.target} was never deployed by this run`,
        });
      }
      const blocked = await admit(ports, request, run, stageState);
      if (blocked !== null) return { ...blocked, subjects: [...blocked.subjects, runSubject] };
      continue;
    }
    if (target.status === 'deployed' && watchesUntilBake(run)) {
      // Runs the release while other targets of the stage still deploy or wait: watched
      // until the bake, which watches every target from then on until the stage approves.
      const watch = targetWatch(definition, target);
      const failure = await firstFailure(ports, watch);
      if (failure === null) {
        return waking({
          action: 'await',
          subjects: [
            ...watch.map((w) => subjects.alarm(w.name)),
            subjects.bake(topology.pipeline, request.stage, run.seq),
            runSubject,
          ],
          seconds: WATCH_RECHECK_SECONDS,
          reason: `${releaseLabel(run.release)} deployed to ${request.target}; watching its alarms until the stage's other targets have deployed`,
        });
      }
      await ports.service.apply(failStage, {
        stage: request.stage,
        seq: run.seq,
        ...fence,
        reason: `${failure} after ${releaseLabel(run.release)} deployed to ${request.target}`,
      });
      wake.push(runSubject);
      continue;
    }
    if (target.status !== 'deploying' && target.status !== 'rolling-back') {
      return waking({ action: 'done', reason: `${request.target} is ${target.status}` });
    }
    const kind = target.status === 'deploying' ? ('normal' as const) : ('rollback' as const);
    const to = kind === 'normal' ? run.release : target.rollbackTo;
    const ref = { stage: request.stage, seq: run.seq, target: request.target, kind, ...fence };
    if (to === null) {
      // Its first deployment failed: there is no release of ours to go back to.
      await ports.service.apply(recordDeployment, {
        ...ref,
        result: 'failed',
        reason: `${request.target} ran no release before this run; restore it by hand`,
      });
      continue;
    }
    // Everything that drives the deployment, as one step: a terminal error while rolling
    // back (the older image was deleted, access was revoked) cannot be retried away and
    // must not loop the workflow, so it is recorded as the target's failed rollback, which
    // closes the stage for an operator. A terminal error in a normal deployment goes to
    // the workflow, whose "Fail the run" step rolls the run back.
    const drive = async (): Promise<NextStep | 'continue'> => {
      if (target.deploymentId === null && kind === 'rollback' && run.kind === 'normal') {
        // The failed deployment may still be running: stop it, and where the platform allows
        // one deployment at a time (CodeDeploy), wait for it to end before rolling back. Its
        // id may never have been recorded (the run failed while its start was under way):
        // the deployer finds it by the key it was started with.
        const abandoned =
          target.abandoned ??
          (await ports.deployer.findDeployment?.(
            definition,
            idempotencyKey(topology.pipeline, request.stage, run.seq, request.target, 'normal'),
          )) ??
          null;
        const stopping =
          abandoned === null
            ? 'replaced'
            : ((await ports.deployer.stopDeployment?.(definition, abandoned)) ?? 'replaced');
        if (abandoned !== null && stopping === 'stopping') {
          const status = await ports.deployer.getDeployment(definition, abandoned);
          if (status.status === 'in-progress') {
            return waking({
              action: 'await',
              subjects: [subjects.deployment(abandoned), runSubject],
              seconds: DEPLOYMENT_RECHECK_SECONDS,
              reason: `rolling back ${request.target}: waiting for ${abandoned} to stop`,
            });
          }
        }
      }
      if (target.deploymentId === null) {
        const release = await releaseOf(ports, to);
        const { deploymentId } = await ports.deployer.startDeployment({
          pipeline: topology.pipeline,
          target: definition,
          release,
          kind,
          idempotencyKey: idempotencyKey(
            topology.pipeline,
            request.stage,
            run.seq,
            request.target,
            kind,
          ),
        });
        const started = await ports.service.apply(recordDeploymentStart, { ...ref, deploymentId });
        const now = started.state.stages[request.stage]?.run?.targets[request.target];
        if (kind === 'normal' && now?.status === 'rolling-back' && now.abandoned === null) {
          // The run failed while this start was under way, so its id was never recorded:
          // stop it here too, in case the rollback looked for it before it existed.
          await ports.deployer.stopDeployment?.(definition, deploymentId);
        }
        return 'continue';
      }
      const watch = targetWatch(definition, target);
      if (kind === 'normal') {
        const failure = await firstFailure(ports, watch);
        if (failure !== null) {
          await ports.deployer.stopDeployment?.(definition, target.deploymentId);
          await ports.service.apply(failStage, {
            stage: request.stage,
            seq: run.seq,
            ...fence,
            reason: `${failure} while ${releaseLabel(to)} was deploying to ${request.target}`,
          });
          wake.push(runSubject);
          return 'continue';
        }
      }
      const status = await ports.deployer.getDeployment(definition, target.deploymentId);
      if (status.status === 'in-progress') {
        return waking({
          action: 'await',
          subjects: [
            subjects.deployment(target.deploymentId),
            ...(kind === 'normal' ? watch.map((w) => subjects.alarm(w.name)) : []),
            runSubject,
          ],
          seconds: DEPLOYMENT_RECHECK_SECONDS,
          reason: `${kind === 'normal' ? '' : 'rolling back: '}${releaseLabel(to)} deploying to ${request.target} (${target.deploymentId})`,
        });
      }
      const recorded = await ports.service.apply(recordDeployment, {
        ...ref,
        result: status.status,
        ...(status.status === 'failed' ? { reason: status.reason } : {}),
      });
      // A failed deployment fails the run: the other targets must stop waiting and roll back.
      // The last target deployed starts the bake: the others stop watching on their own.
      const after = recorded.state.stages[request.stage]?.run;
      if (kind === 'normal' && status.status === 'failed') wake.push(runSubject);
      if (kind === 'normal' && after?.step === 'baking') {
        wake.push(subjects.bake(topology.pipeline, request.stage, run.seq));
      }
      return 'continue';
    };
    let next: NextStep | 'continue';
    try {
      next = await drive();
    } catch (error) {
      // A refused attempt is not a rollback that cannot be carried out: it ends its execution.
      if (kind !== 'rollback' || !(error instanceof TerminalError)) throw error;
      if (error instanceof StaleAttemptError) throw error;
      await ports.service.apply(recordDeployment, {
        ...ref,
        result: 'failed',
        reason: `the rollback cannot be carried out: ${error.message}`,
      });
      continue;
    }
    if (next !== 'continue') return next;
  }
  throw new RetryableError(
    `${request.target} of ${request.stage} did not settle within ${MAX_DECISIONS} decisions; the workflow will call again.`,
  );
}

/** A step of the workflow failed terminally: which run, and why. */
export interface StepFailure {
  readonly stage: string;
  readonly seq: number;
  readonly reason: string;
  /**
   * The failing execution's attempt: a failure from the attempt that handed the run over
   * changes nothing, one from any other replaced attempt is refused (`StaleAttemptError`).
   */
  readonly attempt?: number;
}

/**
 * A terminal error in a step of a normal run fails the run: its release is rejected here
 * and every target it touched rolls back (safety property 4), and the other targets'
 * waits must be woken to roll back. Repeating it (a retried "Fail the run" step) changes
 * nothing. Terminal errors while rolling back never get here: `advanceTarget` records
 * them as the target's failed rollback.
 *
 * @example
 * await failStep(service, { stage: 'prod-1', seq: 7, reason: 'NotFoundError: r11 …' });
 * // { changed: true, note: null, wake: ['run:api/prod-1/7'] }
 */
export async function failStep(
  service: PromotionService,
  failure: StepFailure,
): Promise<{ changed: boolean; note: string | null; wake: string[] }> {
  const t = await service.apply(failStage, failure);
  return {
    changed: t.writes.length > 0,
    note: t.note,
    // A retry wakes again: the first call's wake may be what failed.
    wake: [subjects.run(service.topology.pipeline, failure.stage, failure.seq)],
  };
}

/** Admits the run's waiting targets; returns how long this one waits if it is still blocked. */
async function admit(
  ports: DriverPorts,
  request: TargetStepRequest,
  run: StageRun,
  stageState: StageState,
): Promise<Extract<NextStep, { action: 'await' }> | null> {
  const topology = ports.service.topology;
  const stage = topology.stage(request.stage);
  const names = [
    ...new Set(stage.targets.flatMap((t) => alarmsToCheck(topology.definition, stage, t))),
  ];
  const statuses = await ports.alarms.describeAlarms(names);
  const releases = await releasesFor(ports, run, stageState);
  const t = await ports.service.apply(admitTargets, {
    stage: request.stage,
    seq: run.seq,
    ...(request.attempt === undefined ? {} : { attempt: request.attempt }),
    releases,
    alarms: Object.fromEntries(names.map((name) => [name, statuses[name]?.state ?? 'MISSING'])),
  });
  const after = t.state.stages[request.stage]?.run;
  if (after?.seq !== run.seq || after.targets[request.target]?.status !== 'waiting') return null;
  const now = ports.clock.now();
  const blockers = after.blockers.filter((b) => b.target === request.target);
  const until = blockers
    .map((b) => (b.until === null ? null : Date.parse(b.until)))
    .filter((time): time is number => time !== null);
  const lifts = until.length === blockers.length && until.length > 0 ? Math.max(...until) : null;
  return {
    action: 'await',
    subjects: blockers.filter((b) => b.kind === 'alarm').map((b) => subjects.alarm(b.subject)),
    seconds:
      lifts === null
        ? BLOCKED_RECHECK_SECONDS
        : Math.min(MAX_WAIT_SECONDS, secondsUntil(now, new Date(lifts))),
    reason: `blocked: ${blockers.map((b) => b.reason).join('; ')}`,
  };
}

/**
 * The run's release and every release since the oldest one a waiting target runs: the
 * commits new to each target (property 8) come from all of them. A target that never ran
 * anything (a Region just added, a stage whose first release is not r1) needs them all.
 */
async function releasesFor(
  ports: DriverPorts,
  run: StageRun,
  state: StageState,
): Promise<Release[]> {
  const waiting = Object.entries(run.targets).filter(([, target]) => target.status === 'waiting');
  const runs = waiting.map(([id]) => state.targets[id]?.deployed ?? 0);
  const oldest = Math.min(run.release - 1, ...runs);
  const pipeline = ports.service.topology.pipeline;
  const releases: Release[] = [];
  let before = run.release + 1;
  while (before - 1 > oldest) {
    const page = await ports.releases.listReleases(pipeline, { limit: RELEASES_PER_PAGE, before });
    releases.push(...page.filter((release) => release.number > oldest));
    const last = page.at(-1);
    if (page.length < RELEASES_PER_PAGE || last === undefined) break;
    before = last.number;
  }
  if (!releases.some((r) => r.number === run.release)) await releaseOf(ports, run.release);
  return releases;
}

/** Releases read per call when a target's new commits go back a long way. */
const RELEASES_PER_PAGE = 100;

async function releaseOf(ports: DriverPorts, number: number): Promise<Release> {
  const pipeline = ports.service.topology.pipeline;
  const release = await ports.releases.getRelease(pipeline, number);
  if (release === null) {
    throw new NotFoundError(
      `${releaseLabel(number)} of ${pipeline} is not in the release store, so it cannot be deployed; was the table restored from an older backup?`,
    );
  }
  return release;
}

/** The key a target's deployment of a run is started with: the same key starts it once. */
function idempotencyKey(
  pipeline: string,
  stage: string,
  seq: number,
  target: string,
  kind: 'normal' | 'rollback',
): string {
  return `${pipeline}/${stage}/${seq}/${target}/${kind}`;
}
