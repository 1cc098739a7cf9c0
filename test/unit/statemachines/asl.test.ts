import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
/** asl-validator ships no types: `(definition, options) → { isValid, errors }`. */
const validate = require('asl-validator') as (
  definition: unknown,
  options?: { checkArn?: boolean; checkPaths?: boolean },
) => { isValid: boolean; errors: unknown[] };

const files = readdirSync('statemachines').filter((name) => name.endsWith('.asl.json'));

interface State {
  Type: string;
  Resource?: string;
  Retry?: { ErrorEquals: string[] }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  ItemProcessor?: { States: Record<string, State> };
}

/** Every state of a definition, nested ones (Map processors) included. */
function allStates(states: Record<string, State>): [string, State][] {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, State],
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
  ]);
}

describe.each(files)('%s', (file) => {
  const text = readFileSync(`statemachines/${file}`, 'utf8');
  const definition = JSON.parse(text) as { States: Record<string, State> };

  it('is valid Amazon States Language', () => {
    const result = validate(definition, { checkArn: true, checkPaths: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('uses JSONPath only: the local interpreter ignores JSONata and variables', () => {
    expect(text).not.toMatch(/"QueryLanguage"|"Assign"|"Arguments"|\{%/);
  });

  it('names every state once, nested states included, so the console reads unambiguously', () => {
    const names = allStates(definition.States).map(([name]) => name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('retries the retryable errors and catches the terminal ones on every Lambda step', () => {
    for (const [name, state] of allStates(definition.States)) {
      if (state.Type !== 'Task') continue;
      const retried = state.Retry?.flatMap((r) => r.ErrorEquals) ?? [];
      expect(retried, name).toEqual(expect.arrayContaining(['RetryableError', 'ConflictError']));
      const waits = state.Resource?.endsWith('.waitForTaskToken') ?? false;
      expect(retried, name).toContain('Lambda.ServiceException');
      // A Lambda call that outlived its state timeout is retried (the handlers are
      // idempotent); a wait's timeout is caught instead.
      if (!waits) expect(retried, name).toContain('States.Timeout');
      const caught = state.Catch?.flatMap((c) => c.ErrorEquals) ?? [];
      // A wait's timeout is its backstop look, never a failure.
      if (waits) expect(caught, name).toContain('States.Timeout');
      // A decision that cannot be taken fails the run (rollback), by the error's class name.
      if (name.startsWith('Advance')) {
        expect(caught, name).toEqual(
          expect.arrayContaining(['TerminalError', 'RuleViolationError', 'NotFoundError']),
        );
      }
    }
  });

  it('substitutes every resource through a placeholder', () => {
    const placeholders = [...text.matchAll(/\$\{([A-Za-z]+)\}/g)].map((m) => m[1]);
    expect(placeholders.length).toBeGreaterThan(0);
    expect(text).not.toMatch(/arn:aws:lambda:/);
  });
});
