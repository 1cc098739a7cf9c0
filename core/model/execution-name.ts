import type { StageRun } from './stage-state.js';

/** Step Functions takes execution names of at most 80 characters. */
export const EXECUTION_NAME_MAX = 80;

/**
 * The name of a run's execution: `<pipeline>_<stage>_r<N>-<attempt>` for a normal run,
 * `<pipeline>_<stage>_rollback<seq>-<attempt>` for a rollback. Pipeline and stage names
 * hold only lower-case letters, digits and dashes, so the underscores make the name
 * injective: `payments` + `config-prod-1` and `payments-config` + `prod-1` differ
 * (`payments_config-prod-1_r5-1`, `payments-config_prod-1_r5-1`). The name is the
 * execution's idempotency key, so two runs must never share one.
 *
 * @example
 * executionName('api', 'gamma', { kind: 'normal', release: 42, seq: 7, attempt: 1 }); // 'api_gamma_r42-1'
 * executionName('api', 'gamma', { kind: 'rollback', release: 42, seq: 7, attempt: 1 }); // 'api_gamma_rollback7-1'
 */
export function executionName(
  pipeline: string,
  stage: string,
  run: Pick<StageRun, 'kind' | 'release' | 'seq' | 'attempt'>,
): string {
  const what = run.kind === 'normal' ? `r${run.release}` : `rollback${run.seq}`;
  return `${pipeline}_${stage}_${what}-${run.attempt}`;
}

/**
 * The longest execution name a stage can have: a rollback run numbered in the millions
 * at its 9,999th attempt. A definition whose longest name exceeds
 * {@link EXECUTION_NAME_MAX} is refused, so no run can ever fail to start for its name.
 *
 * @example
 * longestExecutionName('api', 'gamma'); // 'api_gamma_rollback9999999-9999'
 */
export function longestExecutionName(pipeline: string, stage: string): string {
  return executionName(pipeline, stage, {
    kind: 'rollback',
    release: 0,
    seq: 9_999_999,
    attempt: 9_999,
  });
}
