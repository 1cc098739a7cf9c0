import { type AlarmState, commitsNewTo, evaluateBlockers } from '../blockers/evaluate.js';
import { RuleViolationError } from '../errors.js';
import { type Release, releaseLabel } from '../model/release.js';
import type { BlockerNotice, TargetRun } from '../model/stage-state.js';
import { rule } from './rule.js';
import { activeRun, type RunRef } from './run-ref.js';

export interface AdmitRequest extends RunRef {
  /**
   * Every release from the oldest one a target of the stage runs up to the run's
   * release: the run's release for known-bad checks, all of them for property 8.
   */
  readonly releases: readonly Release[];
  /** The states of the alarms `alarmsToCheck` names for the stage's targets; a missing name is `MISSING`. */
  readonly alarms: Readonly<Record<string, AlarmState>>;
}

/**
 * Starts every waiting target of a normal run that has no blocker in force; the others
 * keep waiting and show their blockers. The blockers are evaluated here, against the
 * stored gates, known-bad list and overrides, so a request built before an operator
 * closed a gate or marked a release known-bad cannot start anything. Targets start
 * independently, so a wave across time zones deploys each Region inside its own window.
 *
 * @example
 * admitTargets(ctx, state, { stage: 'prod-w1-z1', seq: 3, releases: [r8, r9], alarms: { 'payments-aggregate-use1': 'OK', … } });
 * // use1-az1 → deploying (Deployment Started); euw1-az1 waits: its window opens at 09:00 Dublin time
 */
export const admitTargets = rule((draft, input: AdmitRequest) => {
  const run = activeRun(draft, input);
  if (run === null) return;
  if (run.kind !== 'normal' || (run.step !== 'waiting' && run.step !== 'deploying')) {
    draft.note = `run ${run.seq} of ${input.stage} is ${run.step}; targets start only while waiting or deploying`;
    return;
  }
  const release = input.releases.find((candidate) => candidate.number === run.release);
  if (release === undefined) {
    throw new RuleViolationError(
      `admitTargets needs ${releaseLabel(run.release)}, the release of run ${run.seq} of ${input.stage}.`,
    );
  }
  const state = draft.stage(input.stage);
  const stageDefinition = draft.topology.stage(input.stage);
  // Targets start because no known-bad entry stops them and the overrides say so: only
  // while the meta item still says what was read.
  draft.dependsOn({ stage: input.stage }, 'meta');
  const targets: Record<string, TargetRun> = { ...run.targets };
  const blockers: BlockerNotice[] = [];
  for (const [id, target] of Object.entries(run.targets)) {
    if (target.status !== 'waiting') continue;
    const evaluation = evaluateBlockers({
      definition: draft.topology.definition,
      stage: stageDefinition,
      target: draft.topology.target(input.stage, id),
      release,
      newCommits: commitsNewTo(state.targets[id]?.deployed ?? null, input.releases, run.release),
      promotionsIn: state.promotionsIn,
      alarms: input.alarms,
      knownBad: draft.meta.knownBad,
      overrides: draft.meta.overrides,
      now: new Date(draft.now),
    });
    if (evaluation.blockers.length > 0) {
      for (const blocker of evaluation.blockers) {
        blockers.push({
          target: id,
          kind: blocker.kind,
          subject: blocker.subject,
          reason: blocker.reason,
          until: blocker.until,
        });
      }
      continue;
    }
    for (const { blocker, override } of evaluation.overridden) {
      draft.emit({
        type: 'Blocker Overridden',
        stage: input.stage,
        release: run.release,
        target: id,
        occurrence: `${run.seq}:${override.id}:${blocker.kind}:${blocker.subject}`,
        reason: `${blocker.reason}; overridden by ${override.by}: ${override.reason}`,
      });
    }
    targets[id] = {
      ...target,
      status: 'deploying',
      startedAt: draft.now,
      deploymentId: null,
      abandoned: null,
    };
    draft.emit({
      type: 'Deployment Started',
      stage: input.stage,
      release: run.release,
      target: id,
      occurrence: run.seq,
      data: { kind: 'normal', from: target.before },
    });
  }
  const anyDeploying = Object.values(targets).some((target) => target.status !== 'waiting');
  const blockedBefore = run.blockers.map(noticeKey).sort().join('|');
  const blockedNow = blockers.map(noticeKey).sort().join('|');
  if (blockers.length > 0 && blockedNow !== blockedBefore) {
    const reason = blockers.map((notice) => `${notice.target}: ${notice.reason}`).join('; ');
    draft.emit({
      type: 'Release Blocked',
      stage: input.stage,
      release: run.release,
      // The stage's version tells blockers A → B → A apart.
      occurrence: `${run.seq}:v${state.version}`,
      reason,
    });
    if (!anyDeploying)
      draft.outcome(run.release, input.stage, { status: 'blocked', at: draft.now, reason });
  }
  if (anyDeploying && run.step === 'waiting' && run.blockers.length > 0) {
    draft.outcome(run.release, input.stage, { status: 'in-flight', at: draft.now });
  }
  draft.setRun(input.stage, {
    targets,
    blockers,
    step: anyDeploying ? 'deploying' : 'waiting',
  });
});

const noticeKey = (notice: BlockerNotice) =>
  `${notice.target}\u0000${notice.kind}\u0000${notice.reason}`;
