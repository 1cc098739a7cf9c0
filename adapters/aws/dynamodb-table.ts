import { TerminalError } from '../../core/index.js';

/**
 * The one DynamoDB table of Release Captain: every item has a string partition key `pk`
 * and a string sort key `sk`. The CDK app creates it with this key schema and the tests
 * create it in DynamoDB Local with the same one.
 *
 * | item | pk | sk |
 * | --- | --- | --- |
 * | pipeline meta | `PIPELINE#<p>` | `META` |
 * | stage | `PIPELINE#<p>` | `STAGE#<s>` |
 * | release | `PIPELINE#<p>` | `RELEASE#<000042>` |
 * | deployment | `TARGET#<p>#<t>` | `DEPLOY#<finishedAt>#<kind>#<to>` |
 * | audit entry | `AUDIT#<p>` | `<at>#<digest>` |
 * | commit index | `COMMITS#<p>` | `<sha>` (the release it was new in) |
 */
export const TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk' } as const;

/** The widest release number the sort key orders correctly. */
export const MAX_RELEASE_NUMBER = 999_999;

export const keys = {
  meta: (pipeline: string) => ({ pk: `PIPELINE#${pipeline}`, sk: 'META' }),
  stage: (pipeline: string, stage: string) => ({
    pk: `PIPELINE#${pipeline}`,
    sk: `STAGE#${stage}`,
  }),
  stagePrefix: 'STAGE#',
  release: (pipeline: string, release: number) => ({
    pk: `PIPELINE#${pipeline}`,
    sk: releaseSortKey(release),
  }),
  releasePrefix: 'RELEASE#',
  pipeline: (pipeline: string) => `PIPELINE#${pipeline}`,
  target: (pipeline: string, target: string) => `TARGET#${pipeline}#${target}`,
  audit: (pipeline: string) => `AUDIT#${pipeline}`,
  commits: (pipeline: string) => `COMMITS#${pipeline}`,
};

/**
 * `RELEASE#000042`: zero-padded so that sort-key order is release order.
 *
 * @example
 * releaseSortKey(42); // 'RELEASE#000042'
 */
export function releaseSortKey(release: number): string {
  if (!Number.isInteger(release) || release < 0 || release > MAX_RELEASE_NUMBER) {
    throw new TerminalError(
      `Release number ${release} cannot be stored: expected a whole number from 0 to ${MAX_RELEASE_NUMBER}.`,
    );
  }
  return `RELEASE#${String(release).padStart(6, '0')}`;
}
