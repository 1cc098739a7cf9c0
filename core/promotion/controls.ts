import { RuleViolationError } from '../errors.js';
import type { KnownBad, Override } from '../model/controls.js';
import { type Release, releaseLabel } from '../model/release.js';
import { inFlight, remember } from './flow.js';
import { rule } from './rule.js';

/**
 * Records a new release; settling then lets it enter the first stages (unless an expedite
 * holds it). Release numbers come from the pipeline item: a release must be exactly the
 * next one, and recording the same release twice changes nothing.
 *
 * @example
 * createRelease(ctx, state, { release: r43 }); // Release Created; r43 pending (or in flight) at beta
 */
export const createRelease = rule((draft, input: { readonly release: Release }) => {
  const number = input.release.number;
  const latest = draft.meta.latestRelease ?? 0;
  if (number <= latest) {
    draft.note = `${releaseLabel(number)} was already created`;
    return;
  }
  if (number !== latest + 1) {
    throw new RuleViolationError(
      `Release numbers go up by one: the next release of ${draft.pipeline} is ${releaseLabel(latest + 1)}, got ${releaseLabel(number)}.`,
    );
  }
  draft.setMeta({ latestRelease: number });
  draft.emit({
    type: 'Release Created',
    release: number,
    data: { commit: input.release.headCommit, commits: input.release.commits.length },
  });
});

export interface PromotionsRequest {
  readonly stage: string;
  /** The way in, the way out, or both in one write. */
  readonly direction: 'in' | 'out' | 'both';
  readonly enabled: boolean;
  readonly by: string;
  readonly reason: string;
  /**
   * Chosen once per request: a retry of an old "enable" that arrives after someone closed
   * the gate again must not reopen it. Remembered even when the request changed nothing.
   */
  readonly requestId: string;
}

const GATE = { in: 'promotionsIn', out: 'promotionsOut' } as const;

/**
 * Opens or closes a stage's promotion gates. Opening the way in lets the stage take its
 * pending release; opening the way out hands on the release approved while it was closed.
 * `both` changes the two gates in one write, so no release slips through between them.
 *
 * @example
 * setPromotions(ctx, state, { stage: 'prod-1', direction: 'in', enabled: true, by: 'ana', reason: 'fixed in r12', requestId });
 * // Promotions Enabled; prod-1 takes its pending r12 (Stage Started)
 */
export const setPromotions = rule((draft, input: PromotionsRequest) => {
  const before = draft.stage(input.stage);
  if (before.handledRequests.includes(input.requestId)) {
    draft.note = `request ${input.requestId} was already carried out at ${input.stage}`;
    return;
  }
  const directions = input.direction === 'both' ? (['in', 'out'] as const) : [input.direction];
  const changing = directions.filter((d) => before[GATE[d]].enabled !== input.enabled);
  // Remembered even if nothing changes: a late retry of this request must not act later.
  let state = draft.setStage(input.stage, {
    handledRequests: remember(before.handledRequests, input.requestId),
  });
  if (changing.length === 0) {
    draft.note = `promotions ${input.direction === 'both' ? 'in and out' : input.direction} of ${input.stage} are already ${input.enabled ? 'enabled' : 'disabled'}`;
    return;
  }
  for (const direction of changing) {
    state = draft.setStage(input.stage, {
      [GATE[direction]]: input.enabled
        ? { enabled: true }
        : { enabled: false, by: input.by, reason: input.reason, at: draft.now },
    });
    draft.emit({
      type: input.enabled ? 'Promotions Enabled' : 'Promotions Disabled',
      stage: input.stage,
      // The stage's version tells one toggle from the next; no other rule uses a `v` prefix.
      occurrence: `${direction}:v${state.version}`,
      reason: `${input.by}: ${input.reason}`,
      data: { direction },
    });
    draft.audit.push({
      stage: input.stage,
      at: draft.now,
      by: input.by,
      action: `${input.enabled ? 'enable' : 'disable'} promotions ${direction} of ${input.stage}`,
      reason: input.reason,
    });
  }
});

/**
 * Records an override (who, why, until when); blockers it matches stop blocking until then.
 *
 * @example
 * recordOverride(ctx, state, { override: { id: 'o-1', kind: 'alarm', subject: 'payments-aggregate-use1',
 *   stage: 'prod-w2-z1', release: 12, by: 'ana', reason: 'r12 is the fix', at: now, until: in4h } });
 */
export const recordOverride = rule((draft, input: { readonly override: Override }) => {
  const { override } = input;
  if (draft.meta.overrides.some((existing) => existing.id === override.id)) {
    draft.note = `override ${override.id} was already recorded`;
    return;
  }
  if (Date.parse(override.until) <= Date.parse(draft.now)) {
    throw new RuleViolationError(
      `Override ${override.id} ends at ${override.until}, which is not after now (${draft.now}); give an end in the future.`,
    );
  }
  if (override.reason.trim() === '' || override.by.trim() === '') {
    throw new RuleViolationError(
      'An override needs who asked for it and why: give --reason and a user.',
    );
  }
  const live = draft.meta.overrides.filter(
    (existing) => Date.parse(existing.until) > Date.parse(draft.now),
  );
  draft.setMeta({ overrides: [...live, override] });
  draft.audit.push({
    stage: override.stage,
    at: draft.now,
    by: override.by,
    action: `override ${override.kind}${override.subject ? ` ${override.subject}` : ''}${override.stage ? ` at ${override.stage}` : ''} until ${override.until}`,
    reason: override.reason,
  });
});

/**
 * Adds or removes a known-bad release, artifact or dependency; releases containing one are blocked.
 *
 * @example
 * setKnownBad(ctx, state, { entry: { kind: 'dependency', value: 'log4j-core@2.14.1', by: 'ana', reason: 'CVE-2021-44228', at: now }, present: true });
 */
export const setKnownBad = rule(
  (draft, input: { readonly entry: KnownBad; readonly present: boolean }) => {
    const same = (entry: KnownBad) =>
      entry.kind === input.entry.kind && entry.value === input.entry.value;
    const exists = draft.meta.knownBad.some(same);
    if (exists === input.present) {
      draft.note = `${input.entry.value} is ${input.present ? 'already' : 'not'} on the known-bad list`;
      return;
    }
    draft.setMeta({
      knownBad: input.present
        ? [...draft.meta.knownBad, input.entry]
        : draft.meta.knownBad.filter((entry) => !same(entry)),
    });
    draft.audit.push({
      stage: null,
      at: draft.now,
      by: input.entry.by,
      action: `${input.present ? 'add' : 'remove'} known-bad ${input.entry.kind} ${input.entry.value}`,
      reason: input.entry.reason,
    });
  },
);

export interface ExpediteRequest {
  readonly release: number;
  /** Who approved the expedite (a principal engineer, say): a second person. */
  readonly approver: string;
  /**
   * Who asks for it, as authenticated (the operator API's caller); must not be the
   * approver. @default - the approver (callers that authenticate nobody)
   */
  readonly requestedBy?: string | undefined;
  readonly reason: string;
  /** Multiplies bake durations, in (0, 1]; e.g. 0.1 turns a 12 h bake into 72 minutes. */
  readonly bakeFactor: number;
}

/**
 * Expedites the newest release after a recorded approval: its bakes are shortened, it
 * still takes every step, and no other release enters a stage until it is done.
 *
 * @example
 * expedite(ctx, state, { release: 12, approver: 'principal@example.com', reason: 'CVE fix', bakeFactor: 0.1 });
 * // a 12 h bake becomes 72 min for r12; r13, created meanwhile, waits until r12 is everywhere
 */
export const expedite = rule((draft, input: ExpediteRequest) => {
  const current = draft.meta.expedite;
  if (current !== null) {
    if (current.release === input.release) {
      draft.note = `${releaseLabel(input.release)} is already expedited`;
      return;
    }
    throw new RuleViolationError(
      `${releaseLabel(current.release)} is already expedited; one expedite at a time. Wait for it or let it be rejected.`,
    );
  }
  if (input.release !== draft.meta.latestRelease) {
    throw new RuleViolationError(
      `Only the newest release can be expedited (${releaseLabel(draft.meta.latestRelease ?? 0)}), got ${releaseLabel(input.release)}: an expedite must not skip newer changes.`,
    );
  }
  if (!inFlight(draft, input.release)) {
    throw new RuleViolationError(
      `${releaseLabel(input.release)} is not in flight (approved everywhere, rejected or superseded): there is nothing to expedite.`,
    );
  }
  if (!(input.bakeFactor > 0 && input.bakeFactor <= 1)) {
    throw new RuleViolationError(`The bake factor must be in (0, 1], got ${input.bakeFactor}.`);
  }
  if (input.approver.trim() === '' || input.reason.trim() === '') {
    throw new RuleViolationError('An expedite needs an approver and a reason.');
  }
  if (input.requestedBy !== undefined && samePerson(input.requestedBy, input.approver)) {
    throw new RuleViolationError(
      `An expedite needs a second person's approval: ${input.approver} cannot approve their own request.`,
    );
  }
  draft.setMeta({
    expedite: {
      release: input.release,
      approver: input.approver,
      reason: input.reason,
      at: draft.now,
      bakeFactor: input.bakeFactor,
    },
  });
  draft.audit.push({
    stage: null,
    at: draft.now,
    by: input.requestedBy ?? input.approver,
    action: `expedite ${releaseLabel(input.release)} (bakes × ${input.bakeFactor}), approved by ${input.approver}`,
    reason: input.reason,
  });
});

/** `arn:aws:sts::1:assumed-role/Ops/ana` and `ana` are the same person; so are `local:ana` and `ana`. */
function samePerson(caller: string, approver: string): boolean {
  const name = (who: string) => who.trim().toLowerCase().split(/[/:]/).at(-1) ?? '';
  return name(caller) === name(approver);
}

/**
 * Ends an expedite before its release is everywhere, e.g. when it is stuck on a closed
 * gate or a manual approval nobody gives. The held releases move again at once.
 *
 * @example
 * cancelExpedite(ctx, state, { release: 12, by: 'ana', reason: 'r12 superseded by the real fix in r13' });
 */
export const cancelExpedite = rule(
  (draft, input: { readonly release: number; readonly by: string; readonly reason: string }) => {
    const current = draft.meta.expedite;
    if (current === null || current.release !== input.release) {
      draft.note = `${releaseLabel(input.release)} is not expedited`;
      return;
    }
    if (input.by.trim() === '' || input.reason.trim() === '') {
      throw new RuleViolationError('Cancelling an expedite needs who asks and why.');
    }
    draft.setMeta({ expedite: null });
    draft.audit.push({
      at: draft.now,
      stage: null,
      by: input.by,
      action: `cancel the expedite of ${releaseLabel(input.release)}`,
      reason: input.reason,
    });
  },
);
