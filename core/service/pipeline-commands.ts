import { alarmsToCheck } from '../blockers/evaluate.js';
import type { Topology } from '../definition/topology.js';
import { NotFoundError, RuleViolationError } from '../errors.js';
import type { BlockerKind, KnownBad } from '../model/controls.js';
import { type Release, type ReleaseNumber, releaseLabel } from '../model/release.js';
import type { RunStep } from '../model/stage-state.js';
import { recordApprovalStep } from '../promotion/approval.js';
import {
  approveExpedite,
  cancelExpedite,
  recordOverride,
  requestExpedite,
  setKnownBad,
  setPromotions,
} from '../promotion/controls.js';
import {
  manualRollback,
  type RollbackConfirmation,
  rollbackChoices,
} from '../promotion/rollback.js';
import { previewRollback, type RollbackPreview } from '../promotion/rollback-preview.js';
import type { Transition } from '../promotion/transition.js';
import { subjects } from './driver-step.js';
import type { OperatorPorts } from './pipeline-views.js';
import { stageStateOf } from './stage-view.js';

/** Who asks, and why: every command is audited with both. */
export interface Requester {
  readonly by: string;
  readonly reason: string;
}

/** What a command did: the note when it changed nothing, and the steps to wake. */
export interface CommandResult {
  readonly changed: boolean;
  readonly notes: readonly string[];
  /**
   * Subjects whose waiting steps must be woken now (`run:…`, `approval:…`): the caller
   * resumes them through the wake registry, as the event handlers do.
   */
  readonly wake: readonly string[];
}

/** One target of a planned rollback. */
export interface RollbackTarget {
  readonly stage: string;
  readonly target: string;
  readonly from: ReleaseNumber;
  readonly to: ReleaseNumber;
}

/** What a rollback will do, shown before it is confirmed. */
export interface RollbackPlan {
  readonly targets: readonly RollbackTarget[];
  /** One per distinct from → to among the targets. */
  readonly previews: readonly RollbackPreview[];
  /** Normal runs the rollback stops; their releases end rejected at those stages. */
  readonly interrupted: readonly {
    readonly stage: string;
    readonly release: ReleaseNumber;
    readonly step: RunStep;
  }[];
  /** Stages whose promotions in and out will be disabled. */
  readonly stages: readonly string[];
}

/** The blockers an override can lift. */
export type OverridableBlocker = Exclude<BlockerKind, 'promotions-disabled'>;

/**
 * The write side of the operator interfaces (the `captain` CLI, the web view): each
 * command checks its input against the state, applies one promotion rule through the
 * {@link PromotionService}, and says which waiting steps to wake. Requests carry an id
 * chosen once by the caller, so a retried request changes nothing.
 *
 * @example
 * const commands = new PipelineCommands(ports);
 * const plan = await commands.previewRollback({ targets: ['prod-w1-z1'], to: 7 });
 * // plan.previews[0].commitsRemoved: what leaves the targets
 * await commands.rollback({ targets: ['prod-w1-z1'], to: 7, by: 'ana', reason: 'latency', requestId });
 */
export class PipelineCommands {
  readonly #ports: OperatorPorts;

  constructor(ports: OperatorPorts) {
    this.#ports = ports;
  }

  get topology(): Topology {
    return this.#ports.service.topology;
  }

  /** Expands stage names into their targets; target ids stand for themselves. */
  resolveTargets(names: readonly string[]): { stage: string; target: string }[] {
    if (names.length === 0) throw new RuleViolationError('Name at least one stage or target.');
    const out: { stage: string; target: string }[] = [];
    for (const name of names) {
      for (const pair of this.topology.targetsNamed(name)) {
        if (!out.some((o) => o.target === pair.target)) out.push(pair);
      }
    }
    return out;
  }

  /** What `rollback` would do, without doing it; throws what `rollback` would throw. */
  async previewRollback(input: {
    readonly targets: readonly string[];
    readonly to: ReleaseNumber | null;
  }): Promise<RollbackPlan> {
    const state = await this.#ports.service.state();
    const named = this.resolveTargets(input.targets);
    const targets = [...new Set(named.map((t) => t.stage))].flatMap((stage) =>
      rollbackChoices(
        stage,
        stageStateOf(state, stage),
        named.filter((t) => t.stage === stage).map((t) => t.target),
        input.to,
      ).map((choice) => ({ stage, ...choice })),
    );
    const pairs = [...new Map(targets.map((t) => [`${t.from}>${t.to}`, t])).values()];
    const previews: RollbackPreview[] = [];
    for (const { from, to } of pairs) {
      const releases = await this.#releases(to, from);
      const [older, newer] = [releases.get(to), releases.get(from)];
      if (older === undefined || newer === undefined) {
        throw new NotFoundError(`Releases ${releaseLabel(to)}…${releaseLabel(from)} are missing.`);
      }
      previews.push(previewRollback(newer, older, [...releases.values()]));
    }
    const stages = [...new Set(targets.map((t) => t.stage))];
    const interrupted = stages.flatMap((stage) => {
      const run = stageStateOf(state, stage).run;
      return run !== null && run.kind === 'normal'
        ? [{ stage, release: run.release, step: run.step }]
        : [];
    });
    return { targets, previews, interrupted, stages };
  }

  /**
   * Rolls the targets back (see `manualRollback`) as the operator confirmed the preview:
   * the rule refuses it if the pipeline moved since. A retry of the same request (same id)
   * changes nothing where it was carried out and finishes it where a crash cut it short.
   * Wakes the interrupted runs' steps so their executions end now, not at their timeouts.
   */
  async rollback(
    input: {
      readonly targets: readonly string[];
      readonly to: ReleaseNumber | null;
      readonly requestId: string;
      /** The preview the operator confirmed. */
      readonly confirmed: RollbackConfirmation;
    } & Requester,
  ): Promise<CommandResult & { readonly runs: readonly { stage: string; seq: number }[] }> {
    const targets = this.resolveTargets(input.targets);
    const stages = [...new Set(targets.map((t) => t.stage))];
    const before = await this.#ports.service.state();
    const t = await this.#ports.service.apply(manualRollback, {
      targets,
      confirmed: input.confirmed,
      to: input.to,
      by: input.by,
      reason: input.reason,
      requestId: input.requestId,
    });
    const after = t.state;
    // The runs this request stopped: those of the stages it changed just now.
    const wake = stages.flatMap((stage) => {
      const old = stageStateOf(before, stage).run;
      const changed = old !== null && stageStateOf(after, stage).run?.seq !== old.seq;
      return changed ? [subjects.run(this.topology.pipeline, stage, old.seq)] : [];
    });
    const runs = stages.flatMap((stage) => {
      const run = stageStateOf(after, stage).run;
      return run !== null && run.kind === 'rollback' && run.requestedBy !== null
        ? [{ stage, seq: run.seq }]
        : [];
    });
    return { ...result([t]), wake, runs };
  }

  /** Opens or closes a stage's promotions in, out, or both. */
  async setPromotions(
    input: {
      readonly stage: string;
      readonly direction: 'in' | 'out' | 'both';
      readonly enabled: boolean;
      readonly requestId: string;
    } & Requester,
  ): Promise<CommandResult> {
    this.topology.stage(input.stage);
    return result([await this.#ports.service.apply(setPromotions, input)]);
  }

  /** A person's approval of a manual approval step of the release running at a stage. */
  async approve(
    input: {
      readonly stage: string;
      readonly release: ReleaseNumber;
      /** @default - the only manual approval step still waiting */
      readonly step?: string | undefined;
    } & Requester,
  ): Promise<CommandResult> {
    const definition = this.topology.stage(input.stage);
    const run = stageStateOf(await this.#ports.service.state(), input.stage).run;
    // A repeated approval (a retry whose answer was lost) finds its step passed, or the
    // release approved there: done already, not an error.
    const same = run !== null && run.kind === 'normal' && run.release === input.release;
    if (same && input.step !== undefined && run.approvalsPassed.includes(input.step)) {
      return {
        changed: false,
        notes: [`${input.step} of ${releaseLabel(input.release)} at ${input.stage} already passed`],
        wake: [],
      };
    }
    if (!same) {
      const outcome = (await this.#progress(input.release))?.stages[input.stage];
      if (outcome?.status === 'approved') {
        return {
          changed: false,
          notes: [`${releaseLabel(input.release)} was already approved at ${input.stage}`],
          wake: [],
        };
      }
    }
    if (run === null || run.kind !== 'normal' || run.release !== input.release) {
      throw new RuleViolationError(
        `${input.stage} is not running ${releaseLabel(input.release)} (${run === null ? 'it is idle' : `it runs ${run.kind === 'normal' ? releaseLabel(run.release) : 'a rollback'}`}); there is nothing to approve.`,
      );
    }
    const waiting = definition.approvalSteps.filter(
      (step) => step.kind === 'manual-approval' && !run.approvalsPassed.includes(step.name),
    );
    if (
      input.step === undefined &&
      run.step === 'approving' &&
      definition.approvalSteps.every((s) => run.approvalsPassed.includes(s.name))
    ) {
      // A repeat: the stage approves once its workflow has looked at the alarms again.
      return {
        changed: false,
        notes: [
          `every approval step of ${releaseLabel(input.release)} at ${input.stage} passed; the stage approves it once its alarms are seen quiet`,
        ],
        wake: [],
      };
    }
    const step =
      input.step === undefined ? (waiting.length === 1 ? waiting[0]?.name : undefined) : input.step;
    if (input.step !== undefined && !waiting.some((s) => s.name === input.step)) {
      // Only a person's step may be passed by a person: tests pass by running.
      throw new RuleViolationError(
        `${input.stage} has no manual approval step "${input.step}" waiting for ${releaseLabel(input.release)}; ${waiting.length === 0 ? 'none is waiting' : `waiting: ${waiting.map((s) => s.name).join(', ')}`}. Integration tests are passed by their runner, not by hand.`,
      );
    }
    if (step === undefined) {
      throw new RuleViolationError(
        waiting.length === 0
          ? `${input.stage} has no manual approval step waiting for ${releaseLabel(input.release)}.`
          : `${input.stage} waits on ${waiting.length} manual approvals (${waiting.map((s) => s.name).join(', ')}); name one with --step.`,
      );
    }
    if (run.step !== 'approving') {
      throw new RuleViolationError(
        `${releaseLabel(input.release)} at ${input.stage} is ${run.step}, not waiting for approvals yet; approve once its bake has passed.`,
      );
    }
    const t = await this.#ports.service.apply(recordApprovalStep, {
      stage: input.stage,
      seq: run.seq,
      step,
      passed: true,
      by: input.by,
      reason: input.reason,
      via: 'operator',
    });
    return {
      ...result([t]),
      wake: [subjects.approval(this.topology.pipeline, input.stage, run.seq, step)],
    };
  }

  /** Lifts a blocker for a while (who, why, until when); the blocked runs look again at once. */
  async override(
    input: {
      readonly kind: OverridableBlocker;
      readonly subject: string | null;
      readonly stage: string | null;
      readonly release: ReleaseNumber | null;
      readonly hours: number;
      readonly requestId: string;
    } & Requester,
  ): Promise<CommandResult> {
    if (input.stage !== null) this.topology.stage(input.stage);
    if (input.kind === 'alarm' && input.subject !== null)
      this.#checkAlarm(input.subject, input.stage);
    if (!(input.hours > 0 && input.hours <= 72)) {
      throw new RuleViolationError(
        `An override lasts more than 0 and at most 72 hours, got ${input.hours}; record a new one when it ends.`,
      );
    }
    const now = this.#ports.clock.now();
    const t = await this.#ports.service.apply(recordOverride, {
      override: {
        id: input.requestId,
        kind: input.kind,
        subject: input.subject,
        stage: input.stage,
        release: input.release,
        by: input.by,
        reason: input.reason,
        at: now.toISOString(),
        until: new Date(now.getTime() + input.hours * 3_600_000).toISOString(),
      },
    });
    const wake = Object.values(t.state.stages).flatMap((stage) =>
      stage.run !== null &&
      stage.run.blockers.length > 0 &&
      (input.stage === null || input.stage === stage.stage)
        ? [subjects.run(this.topology.pipeline, stage.stage, stage.run.seq)]
        : [],
    );
    return { ...result([t]), wake };
  }

  /** Asks for an expedite; nothing changes for the release until somebody else approves. */
  async requestExpedite(input: {
    readonly release: ReleaseNumber;
    /** The authenticated caller, audited as who asked. */
    readonly requestedBy: string;
    readonly reason: string;
    readonly bakeFactor: number;
  }): Promise<CommandResult> {
    return result([await this.#ports.service.apply(requestExpedite, input)]);
  }

  /**
   * Approves a waiting expedite request, as a second authenticated principal. The release's
   * waiting steps are woken: a bake that is now shorter may already be over.
   */
  async approveExpedite(input: {
    readonly release: ReleaseNumber;
    /** The authenticated caller: never the requester. */
    readonly approvedBy: string;
    readonly reason: string;
  }): Promise<CommandResult> {
    const t = await this.#ports.service.apply(approveExpedite, input);
    const wake = Object.values(t.state.stages).flatMap((stage) =>
      stage.run !== null && stage.run.kind === 'normal' && stage.run.release === input.release
        ? [subjects.run(this.topology.pipeline, stage.stage, stage.run.seq)]
        : [],
    );
    return { ...result([t]), wake: t.writes.length > 0 ? wake : [] };
  }

  async cancelExpedite(
    input: { readonly release: ReleaseNumber } & Requester,
  ): Promise<CommandResult> {
    return result([await this.#ports.service.apply(cancelExpedite, input)]);
  }

  async setKnownBad(input: {
    readonly kind: KnownBad['kind'];
    readonly value: string;
    readonly present: boolean;
    readonly by: string;
    readonly reason: string;
  }): Promise<CommandResult> {
    checkKnownBad(input.kind, input.value);
    const entry: KnownBad = {
      kind: input.kind,
      value: input.value,
      by: input.by,
      reason: input.reason,
      at: this.#ports.clock.now().toISOString(),
    };
    if (input.reason.trim() === '' || input.by.trim() === '') {
      throw new RuleViolationError('A known-bad change needs who asks and why: give --reason.');
    }
    return result([
      await this.#ports.service.apply(setKnownBad, { entry, present: input.present }),
    ]);
  }

  /** A misspelt alarm would be recorded, lift nothing, and look done: refuse it. */
  #checkAlarm(alarm: string, stage: string | null): void {
    const { definition } = this.topology;
    const stages = definition.stages.filter((s) => stage === null || s.name === stage);
    const watched = new Set(
      stages.flatMap((s) => s.targets.flatMap((t) => alarmsToCheck(definition, s, t))),
    );
    if (!watched.has(alarm)) {
      const some = [...watched].sort().slice(0, 8);
      throw new RuleViolationError(
        `No blocker watches alarm "${alarm}"${stage === null ? '' : ` at ${stage}`}; the alarms that block are ${some.join(', ')}${watched.size > some.length ? ', …' : ''}.`,
      );
    }
  }

  /** A release's progress; `null` for a release that does not exist (any other error throws). */
  async #progress(release: ReleaseNumber) {
    try {
      return await this.#ports.releases.getProgress(this.topology.pipeline, release);
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  /** Releases `low` to `high`, by number. */
  async #releases(low: ReleaseNumber, high: ReleaseNumber): Promise<Map<number, Release>> {
    const out = new Map<number, Release>();
    for (let n = low; n <= high; n++) {
      const release = await this.#ports.releases.getRelease(this.topology.pipeline, n);
      if (release !== null) out.set(n, release);
    }
    return out;
  }
}

/**
 * What an operator confirms of a preview: each target's from → to and the runs stopped.
 *
 * @example
 * await commands.rollback({ ...request, confirmed: confirmationOf(await commands.previewRollback(request)) });
 */
export function confirmationOf(plan: RollbackPlan): RollbackConfirmation {
  return {
    targets: plan.targets.map(({ target, from, to }) => ({ target, from, to })),
    interrupted: plan.interrupted.map(({ stage, release }) => ({ stage, release })),
  };
}

/**
 * Checks a known-bad value's shape against its kind, so a typo blocks nothing silently.
 *
 * @example
 * checkKnownBad('dependency', 'log4j-core@2.14.1'); // fine
 * checkKnownBad('release', '42');                    // throws: give r42
 */
export function checkKnownBad(kind: KnownBad['kind'], value: string): void {
  const shapes: Record<KnownBad['kind'], [RegExp, string]> = {
    release: [/^r[1-9]\d*$/, 'a release such as r42'],
    artifact: [/^sha256:[0-9a-f]{64}$/, 'an artifact digest such as sha256:3f9c… (64 hex digits)'],
    dependency: [/^[^@\s]+@[^@\s]+$/, 'a dependency as name@version, e.g. log4j-core@2.14.1'],
  };
  const [shape, what] = shapes[kind];
  if (!shape.test(value)) {
    throw new RuleViolationError(`A known-bad ${kind} must be ${what}; got "${value}".`);
  }
}

function result(transitions: readonly Transition[]): CommandResult {
  return {
    changed: transitions.some((t) => t.writes.length > 0),
    notes: transitions.flatMap((t) => (t.note === null ? [] : [t.note])),
    wake: [],
  };
}
