import type { z } from 'zod';
import type { DefinitionIssue } from '../errors.js';

/** `['stages', 4, 'bake', 'minDataPoints']` → `stages[4].bake.minDataPoints`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(definition)' : out;
}

/** Renders a received value for a message: short, JSON-like, never the whole object. */
export function formatReceived(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Turns zod's issues into ours: the path, what was expected, what was received.
 * Issues without a reported input (a missing field) say "got nothing".
 */
export function toDefinitionIssues(issues: readonly z.core.$ZodIssue[]): DefinitionIssue[] {
  return issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => `'${key}'`).join(', ');
      return {
        path: formatPath(issue.path),
        message: `unknown field ${keys}; remove it or check its spelling`,
      };
    }
    const received =
      'input' in issue ? formatReceived(receivedAt(issue.input, issue.path)) : 'nothing';
    return { path: formatPath(issue.path), message: `${issue.message}, got ${received}` };
  });
}

/**
 * A refinement or a discriminator reports the whole object it checked, with the path of
 * the offending field; show that field's value, which is what the person has to fix.
 */
function receivedAt(input: unknown, path: readonly PropertyKey[]): unknown {
  const last = path.at(-1);
  if (typeof input === 'object' && input !== null && typeof last === 'string' && last in input) {
    return (input as Record<string, unknown>)[last];
  }
  return input;
}
