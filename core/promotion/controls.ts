import { RuleViolationError } from '../errors.js';
import type { KnownBad, Override } from '../model/controls.js';
import { type Release, releaseLabel } from '../model/release.js';
import { inFlight, remember } from './flow.js';
import { rule } from './rule.js';
import type { Draft } from './transition.js';

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

export interface RequestExpediteInput {
  readonly release: number;
  /** Who asks for it, as authenticated (the operator API's caller). */
  readonly requestedBy: string;
  readonly reason: string;
  /** Multiplies bake durations, in (0, 1]; e.g. 0.1 turns a 12 h bake into 72 minutes. */
  readonly bakeFactor: number;
}

/**
 * Asks to expedite the newest release. Nothing changes for the release until a second
 * principal approves the request ({@link approveExpedite}); the request is audited under
 * the requester. Asking again for the same release with the same factor changes nothing;
 * a request for a release that is no longer the newest in flight is replaced.
 *
 * @example
 * requestExpedite(ctx, state, { release: 12, requestedBy: 'arn:…:assumed-role/Ops/ana', reason: 'CVE fix', bakeFactor: 0.1 });
 * // r12 expedite requested by ana; its bakes are unchanged until somebody else approves
 */
export const requestExpedite = rule((draft, input: RequestExpediteInput) => {
  if (input.requestedBy.trim() === '' || input.reason.trim() === '') {
    throw new RuleViolationError('An expedite request needs who asks and why.');
  }
  if (!(input.bakeFactor > 0 && input.bakeFactor <= 1)) {
    throw new RuleViolationError(`The bake factor must be in (0, 1], got ${input.bakeFactor}.`);
  }
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
  expeditable(draft, input.release);
  const pending = draft.meta.expediteRequest;
  if (pending !== null && expeditableNow(draft, pending.release)) {
    if (
      pending.release === input.release &&
      samePerson(pending.requestedBy, input.requestedBy) &&
      pending.bakeFactor === input.bakeFactor
    ) {
      draft.note = `an expedite of ${releaseLabel(input.release)} is already requested`;
      return;
    }
    throw new RuleViolationError(
      `An expedite of ${releaseLabel(pending.release)} (bakes × ${pending.bakeFactor}) requested by ${pending.requestedBy} is waiting for its approval; approve it, or cancel it first.`,
    );
  }
  draft.setMeta({
    expediteRequest: {
      release: input.release,
      requestedBy: input.requestedBy,
      reason: input.reason,
      at: draft.now,
      bakeFactor: input.bakeFactor,
    },
  });
  draft.audit.push({
    stage: null,
    at: draft.now,
    by: input.requestedBy,
    action: `request an expedite of ${releaseLabel(input.release)} (bakes × ${input.bakeFactor})`,
    reason: input.reason,
  });
});

export interface ApproveExpediteInput {
  readonly release: number;
  /** Who approves, as authenticated: a second person, never the requester. */
  readonly approvedBy: string;
  /** Why the approver agrees (audited beside the request's reason). */
  readonly reason: string;
}

/**
 * Approves the waiting expedite request of `release`: from now its bakes are shortened,
 * it still takes every step, and no other release enters a stage until it is done. The
 * approver must be another principal than the requester, and the release must still be
 * the newest in flight. Approving an expedite already approved changes nothing.
 *
 * @example
 * approveExpedite(ctx, state, { release: 12, approvedBy: 'arn:…:assumed-role/Principal/bo', reason: 'read the fix' });
 * // a 12 h bake becomes 72 min for r12; r13, created meanwhile, waits until r12 is everywhere
 */
export const approveExpedite = rule((draft, input: ApproveExpediteInput) => {
  const current = draft.meta.expedite;
  if (current !== null && current.release === input.release) {
    draft.note = `${releaseLabel(input.release)} is already expedited`;
    return;
  }
  const request = draft.meta.expediteRequest;
  if (request === null || request.release !== input.release) {
    throw new RuleViolationError(
      `No expedite of ${releaseLabel(input.release)} is waiting for approval${request === null ? '' : ` (the waiting request is for ${releaseLabel(request.release)})`}; it must be requested first.`,
    );
  }
  if (input.approvedBy.trim() === '' || input.reason.trim() === '') {
    throw new RuleViolationError('An expedite approval needs who approves and why.');
  }
  if (samePerson(request.requestedBy, input.approvedBy)) {
    throw new RuleViolationError(
      `An expedite needs a second person's approval: ${input.approvedBy} asked for it and cannot approve it.`,
    );
  }
  // No other expedite can be active here: a request is refused while one is.
  expeditable(draft, request.release);
  draft.setMeta({
    expedite: {
      release: request.release,
      requestedBy: request.requestedBy,
      approver: input.approvedBy,
      reason: request.reason,
      at: draft.now,
      bakeFactor: request.bakeFactor,
    },
    expediteRequest: null,
  });
  draft.audit.push({
    stage: null,
    at: draft.now,
    by: input.approvedBy,
    action: `approve the expedite of ${releaseLabel(request.release)} (bakes × ${request.bakeFactor}) requested by ${request.requestedBy} (${request.reason})`,
    reason: input.reason,
  });
});

/** Refuses a release that is not the newest one in flight: an expedite must not skip newer changes. */
function expeditable(draft: Draft, release: number): void {
  if (release !== draft.meta.latestRelease) {
    throw new RuleViolationError(
      `Only the newest release can be expedited (${releaseLabel(draft.meta.latestRelease ?? 0)}), got ${releaseLabel(release)}: an expedite must not skip newer changes.`,
    );
  }
  if (!inFlight(draft, release)) {
    throw new RuleViolationError(
      `${releaseLabel(release)} is not in flight (approved everywhere, rejected or superseded): there is nothing to expedite.`,
    );
  }
}

function expeditableNow(draft: Draft, release: number): boolean {
  return release === draft.meta.latestRelease && inFlight(draft, release);
}

/** `arn:aws:sts::1:assumed-role/Ops/ana` and `ana` are the same person; so are `local:ana` and `ana`. */
function samePerson(caller: string, approver: string): boolean {
  const name = (who: string) => who.trim().toLowerCase().split(/[/:]/).at(-1) ?? '';
  return name(caller) === name(approver);
}

/**
 * Ends an expedite before its release is everywhere, e.g. when it is stuck on a closed
 * gate or a manual approval nobody gives (the held releases move again at once), or
 * withdraws a request of it that waits for approval.
 *
 * @example
 * cancelExpedite(ctx, state, { release: 12, by: 'ana', reason: 'r12 superseded by the real fix in r13' });
 */
export const cancelExpedite = rule(
  (draft, input: { readonly release: number; readonly by: string; readonly reason: string }) => {
    const active = draft.meta.expedite?.release === input.release;
    const requested = draft.meta.expediteRequest?.release === input.release;
    if (!active && !requested) {
      draft.note = `${releaseLabel(input.release)} is not expedited`;
      return;
    }
    if (input.by.trim() === '' || input.reason.trim() === '') {
      throw new RuleViolationError('Cancelling an expedite needs who asks and why.');
    }
    draft.setMeta(active ? { expedite: null } : { expediteRequest: null });
    draft.audit.push({
      at: draft.now,
      stage: null,
      by: input.by,
      action: active
        ? `cancel the expedite of ${releaseLabel(input.release)}`
        : `withdraw the expedite request of ${releaseLabel(input.release)}`,
      reason: input.reason,
    });
  },
);
