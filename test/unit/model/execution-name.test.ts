import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DefinitionError,
  EXECUTION_NAME_MAX,
  executionName,
  longestExecutionName,
  parsePipelineDefinition,
} from '../../../core/index.js';
import { smallDefinition, stage } from '../../support/fixtures.js';

/** Names as the definition schema takes them: a letter, then letters, digits and dashes. */
const name = (max: number) =>
  fc.stringMatching(new RegExp(`^[a-z][a-z0-9-]{0,${max - 1}}$`)).filter((n) => n.length <= max);
const run = fc.record({
  kind: fc.constantFrom('normal' as const, 'rollback' as const),
  release: fc.integer({ min: 1, max: 9_999_999 }),
  seq: fc.integer({ min: 1, max: 9_999_999 }),
  attempt: fc.integer({ min: 1, max: 9_999 }),
});
/** What the name stands for: equal names must mean equal runs of the same stage. */
type Run = { kind: 'normal' | 'rollback'; release: number; seq: number; attempt: number };
const meaning = (p: string, s: string, r: Run) =>
  JSON.stringify([p, s, r.kind, r.kind === 'normal' ? r.release : r.seq, r.attempt]);

describe('executionName', () => {
  it.each([
    [
      'api',
      'gamma',
      { kind: 'normal' as const, release: 42, seq: 7, attempt: 1 },
      'api_gamma_r42-1',
    ],
    [
      'api',
      'gamma',
      { kind: 'rollback' as const, release: 42, seq: 7, attempt: 2 },
      'api_gamma_rollback7-2',
    ],
    [
      'payments',
      'config-prod-1',
      { kind: 'normal' as const, release: 5, seq: 1, attempt: 1 },
      'payments_config-prod-1_r5-1',
    ],
    [
      'payments-config',
      'prod-1',
      { kind: 'normal' as const, release: 5, seq: 1, attempt: 1 },
      'payments-config_prod-1_r5-1',
    ],
  ])('%s + %s → %s', (pipeline, stageName, r, expected) => {
    expect(executionName(pipeline, stageName, r)).toBe(expected);
  });

  it('gives different runs different names, also where the dashes of two names line up', () => {
    fc.assert(
      fc.property(name(24), name(40), run, name(24), name(40), run, (p1, s1, r1, p2, s2, r2) => {
        const same = executionName(p1, s1, r1) === executionName(p2, s2, r2);
        expect(same).toBe(meaning(p1, s1, r1) === meaning(p2, s2, r2));
      }),
      { numRuns: 2000 },
    );
    // The collision of issue 12: one string split into pipeline and stage at two dashes.
    fc.assert(
      fc.property(name(12), name(12), name(12), run, (a, b, c, r) => {
        const left = executionName(`${a}-${b}`, c, r);
        const right = executionName(a, `${b}-${c}`, r);
        expect(left).not.toBe(right);
      }),
    );
  });

  it('keeps every name of a valid definition within Step Functions’ alphabet and 80 characters', () => {
    fc.assert(
      fc.property(name(24), name(40), run, (p, s, r) => {
        fc.pre(longestExecutionName(p, s).length <= EXECUTION_NAME_MAX);
        const n = executionName(p, s, r);
        expect(n).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
      }),
    );
  });
});

describe('definitions and execution names', () => {
  it('refuses a stage whose longest execution name would exceed 80 characters, naming the room left', () => {
    const long = 'a'.repeat(24);
    const attempt = () =>
      parsePipelineDefinition({
        ...smallDefinition(),
        name: long,
        stages: [stage(`prod-${'x'.repeat(35)}`, null)],
      });

    expect(attempt).toThrow(DefinitionError);
    expect(attempt).toThrow(
      `stages[0].name: expected a name of at most 34 characters with pipeline "${long}": execution names (${long}_prod-${'x'.repeat(35)}_rollback9999999-9999) may have 80`,
    );
  });

  it('takes the longest names that fit', () => {
    const definition = parsePipelineDefinition({
      ...smallDefinition(),
      name: 'a'.repeat(24),
      stages: [stage('s'.repeat(34), null)],
    });
    expect(longestExecutionName(definition.name, 's'.repeat(34))).toHaveLength(80);
  });
});
