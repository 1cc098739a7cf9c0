import { settle, withdraw } from './flow.js';
import { Draft, type PipelineState, type RuleContext, type Transition } from './transition.js';

/** A pure decision: the state before, the request, and what changes. */
export type Rule<Input> = (context: RuleContext, state: PipelineState, input: Input) => Transition;

/**
 * Wraps a draft-editing function as a {@link Rule}. Before it decides, every rule withdraws
 * what a rollback upstream no longer approves (see `withdraw`), so a late request cannot
 * start a release that a crash left waiting; after it, the rule settles the pipeline (see
 * `settle`), so whatever a crash left undone is done by the next decision. Only the
 * withdrawal runs first: it takes permissions away, while settling hands releases on and
 * must see the decision (a gate just closed) before it does.
 */
export function rule<Input>(apply: (draft: Draft, input: Input) => void): Rule<Input> {
  return (context, state, input) => {
    const draft = new Draft(context, state);
    for (const stage of draft.topology.stageNames) withdraw(draft, stage);
    apply(draft, input);
    settle(draft);
    return draft.finish();
  };
}

/**
 * Decides nothing new and settles the pipeline: what the scheduled reconciler (in the
 * cloud) and start-up (locally) run to finish work a crash left half-written.
 *
 * @example
 * // beta's approval of r4 was written, the process died before gamma's offer:
 * reconcile(ctx, state, {}); // gamma takes r4 (Stage Started), as if nothing had happened
 */
export const reconcile: Rule<Record<string, never>> = rule(() => {});
