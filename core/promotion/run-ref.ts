import type { StageRun } from '../model/stage-state.js';
import type { Draft } from './transition.js';

/** Every request about a run names it, so a late or duplicated request for an old run changes nothing. */
export interface RunRef {
  readonly stage: string;
  readonly seq: number;
}

export function activeRun(draft: Draft, ref: RunRef): StageRun | null {
  const run = draft.stage(ref.stage).run;
  if (run === null || run.seq !== ref.seq) {
    draft.note = `run ${ref.seq} of ${ref.stage} is no longer active (superseded, finished or replaced)`;
    return null;
  }
  return run;
}
