import { settleExpedite } from './flow.js';
import { Draft, type PipelineState, type RuleContext, type Transition } from './transition.js';

/** A pure decision: the state before, the request, and what changes. */
export type Rule<Input> = (context: RuleContext, state: PipelineState, input: Input) => Transition;

/**
 * Wraps a draft-editing function as a {@link Rule}. Every rule ends by checking whether an
 * expedite is over, so the held releases move in the same decision that ended it.
 */
export function rule<Input>(apply: (draft: Draft, input: Input) => void): Rule<Input> {
  return (context, state, input) => {
    const draft = new Draft(context, state);
    apply(draft, input);
    settleExpedite(draft);
    return draft.finish();
  };
}
