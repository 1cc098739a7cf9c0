import { TerminalError } from '../core/index.js';

/**
 * EventBridge event patterns, matched in-process for the local engine's event bus.
 *
 * Hand-written, not a dependency: npm has no maintained JavaScript port of AWS's
 * event-ruler (the names one would look for are not published), and the one package that
 * matches patterns offline is a Serverless Framework plugin that brings an HTTP server and
 * an MQTT broker with it. The semantics below follow AWS's documentation and event-ruler:
 *
 * - A pattern is an object; each field holds an object (a nested pattern) or an array of
 *   matchers. Every field must match; fields the pattern does not name are ignored.
 * - A field matches if any of its matchers matches any of the event's values there. An
 *   array in the event matches if any element matches; arrays of objects are matched
 *   element by element, so two fields never match from different elements of one array
 *   ("array consistency").
 * - Matchers work on leaves (strings, numbers, booleans, null). `exists: true` needs at
 *   least one leaf at the path; `exists: false` matches when there is none (an object
 *   there is not a leaf). Every other matcher needs a value: a missing field matches none.
 * - `anything-but` matches every value that is not the one excluded, numbers and null
 *   included (they never start with a string prefix).
 * - `$or` holds two or more patterns, at least one of which must match beside the
 *   object's other fields.
 * - A top-level `detailType` is read as `detail-type`, as CDK renders it, so patterns
 *   copy over from `infra/` unchanged.
 *
 * Not implemented: `cidr` (refused with a message, never silently unmatched).
 */

/** A pattern as written in a rule: JSON, checked by {@link compileEventPattern}. */
export type EventPattern = Readonly<Record<string, unknown>>;

/** A pattern checked once and ready to test events against. */
export interface CompiledEventPattern {
  readonly pattern: EventPattern;
  matches(event: unknown): boolean;
}

/** A pattern EventBridge would refuse; `path` locates the bad part, e.g. `detail.state[0]`. */
export class EventPatternError extends TerminalError {
  readonly path: string;

  constructor(path: string, problem: string, options?: ErrorOptions) {
    super(`Event pattern is not valid at ${path}: ${problem}`, options);
    this.name = 'EventPatternError';
    this.path = path;
  }
}

type Scalar = string | number | boolean | null;
type Test = (value: Scalar) => boolean;
type LeafMatcher = { readonly exists: boolean } | { readonly test: Test };
type Field =
  | { readonly key: string; readonly object: Node }
  | { readonly key: string; readonly matchers: readonly LeafMatcher[] };
interface Node {
  readonly fields: readonly Field[];
  /** The `$or` branches: one of them must match too. */
  readonly alternatives?: readonly Node[];
}

const MATCHERS = [
  'prefix',
  'suffix',
  'equals-ignore-case',
  'wildcard',
  'anything-but',
  'numeric',
  'exists',
] as const;
/** Numeric matching covers this range only, per the EventBridge documentation. */
const NUMERIC_LIMIT = 5e9;

/**
 * Checks a pattern and returns its matcher; throws {@link EventPatternError} naming the
 * path and the bad matcher.
 *
 * @example
 * const wake = compileEventPattern({ source: ['aws.cloudwatch'], detail: { state: { value: ['ALARM'] } } });
 * wake.matches({ source: 'aws.cloudwatch', detail: { alarmName: 'api-high', state: { value: 'ALARM' } } }); // true
 * compileEventPattern({ detail: { state: [{ contains: 'AL' }] } });
 * // EventPatternError: Event pattern is not valid at detail.state[0]: unknown matcher "contains" …
 */
export function compileEventPattern(pattern: EventPattern): CompiledEventPattern {
  const root = compileObject(pattern, '', { root: true, insideOr: false });
  return { pattern, matches: (event) => isRecord(event) && matchObject(root, event) };
}

/** One-off match; compile once with {@link compileEventPattern} when matching many events. */
export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  return compileEventPattern(pattern).matches(event);
}

function matchObject(node: Node, value: unknown): boolean {
  if (Array.isArray(value)) {
    return value.length === 0
      ? matchObject(node, undefined)
      : value.some((element) => matchObject(node, element));
  }
  const record = isRecord(value) ? value : undefined;
  for (const field of node.fields) {
    const child =
      record !== undefined && Object.hasOwn(record, field.key) ? record[field.key] : undefined;
    const ok =
      'object' in field ? matchObject(field.object, child) : matchLeaf(field.matchers, child);
    if (!ok) return false;
  }
  return node.alternatives?.some((alternative) => matchObject(alternative, value)) ?? true;
}

function matchLeaf(matchers: readonly LeafMatcher[], value: unknown): boolean {
  const values = leaves(value);
  return matchers.some((matcher) =>
    'exists' in matcher ? values.length > 0 === matcher.exists : values.some(matcher.test),
  );
}

/** The scalars at a path, arrays flattened; objects are not leaves. */
function leaves(value: unknown, into: Scalar[] = []): Scalar[] {
  if (Array.isArray(value)) for (const element of value) leaves(element, into);
  else if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) {
    into.push(value as Scalar);
  }
  return into;
}

function compileObject(
  pattern: unknown,
  path: string,
  where: { readonly root: boolean; readonly insideOr: boolean },
): Node {
  const at = path === '' ? '(pattern)' : path;
  if (!isRecord(pattern)) fail(at, `expected an object of fields, got ${show(pattern)}.`);
  const keys = Object.keys(pattern);
  if (keys.length === 0) fail(at, 'an empty object is refused by EventBridge; name a field.');
  if (where.root && keys.includes('detailType') && keys.includes('detail-type')) {
    fail('detailType', 'give either detailType (CDK) or detail-type (EventBridge), not both.');
  }
  const fields: Field[] = [];
  let alternatives: Node[] | undefined;
  for (const key of keys) {
    const value = pattern[key];
    const here = path === '' ? key : `${path}.${key}`;
    if (key === '$or') {
      alternatives = compileOr(value, here);
      continue;
    }
    if (where.insideOr && (MATCHERS as readonly string[]).includes(key)) {
      fail(here, `"${key}" is a matcher name, which EventBridge refuses as a field inside $or.`);
    }
    const name = where.root && key === 'detailType' ? 'detail-type' : key;
    if (Array.isArray(value)) fields.push({ key: name, matchers: compileLeaf(value, here) });
    else if (isRecord(value)) {
      fields.push({ key: name, object: compileObject(value, here, { ...where, root: false }) });
    } else {
      fail(
        here,
        `expected an array of matchers or an object of fields, got ${show(value)}; wrap a single value in an array: [${show(value)}].`,
      );
    }
  }
  return alternatives === undefined ? { fields } : { fields, alternatives };
}

function compileOr(value: unknown, path: string): Node[] {
  if (!Array.isArray(value) || value.length < 2) {
    fail(path, `$or takes an array of at least two patterns, got ${show(value)}.`);
  }
  return value.map((alternative, index) =>
    compileObject(alternative, `${path}[${index}]`, { root: false, insideOr: true }),
  );
}

function compileLeaf(values: readonly unknown[], path: string): LeafMatcher[] {
  if (values.length === 0) {
    fail(
      path,
      'an empty array is refused by EventBridge (it could match nothing); list at least one matcher.',
    );
  }
  return values.map((value, index): LeafMatcher => {
    const here = `${path}[${index}]`;
    if (isScalar(value)) return { test: (candidate) => candidate === value };
    if (isRecord(value)) return compileMatcher(value, here);
    return fail(
      here,
      `a matcher is a string, number, boolean, null or a one-key object, got ${show(value)}.`,
    );
  });
}

function compileMatcher(matcher: Readonly<Record<string, unknown>>, path: string): LeafMatcher {
  const keys = Object.keys(matcher);
  const [name] = keys;
  if (name === undefined || keys.length !== 1) {
    fail(path, `a matcher object has exactly one key, got ${show(matcher)}.`);
  }
  const operand = matcher[name];
  switch (name) {
    case 'prefix':
    case 'suffix':
      return { test: affix(name, operand, path) };
    case 'equals-ignore-case': {
      const text = stringOperand(name, operand, path).toLowerCase();
      return { test: (value) => typeof value === 'string' && value.toLowerCase() === text };
    }
    case 'wildcard': {
      const regex = wildcard(stringOperand(name, operand, path), path);
      return { test: (value) => typeof value === 'string' && regex.test(value) };
    }
    case 'anything-but':
      return { test: anythingBut(operand, path) };
    case 'numeric':
      return { test: numeric(operand, path) };
    case 'exists':
      if (typeof operand !== 'boolean')
        fail(path, `exists takes true or false, got ${show(operand)}.`);
      return { exists: operand };
    case 'cidr':
      return fail(
        path,
        'cidr is valid in EventBridge but the local event bus does not implement it; match the address with prefix or wildcard instead.',
      );
    default:
      return fail(
        path,
        `unknown matcher ${show(name)} in ${show(matcher)}; use a value or one of ${MATCHERS.join(', ')}, or an object (not an array) for a nested field.`,
      );
  }
}

/** `prefix`/`suffix` with a string, or with `{ 'equals-ignore-case': string }`. */
function affix(name: 'prefix' | 'suffix', operand: unknown, path: string): Test {
  const ignoreCase =
    isRecord(operand) && Object.keys(operand).length === 1 && 'equals-ignore-case' in operand;
  const raw = ignoreCase ? operand['equals-ignore-case'] : operand;
  if (typeof raw !== 'string') {
    fail(path, `${name} takes a string or { "equals-ignore-case": string }, got ${show(operand)}.`);
  }
  const text = ignoreCase ? raw.toLowerCase() : raw;
  return (value) => {
    if (typeof value !== 'string') return false;
    const subject = ignoreCase ? value.toLowerCase() : value;
    return name === 'prefix' ? subject.startsWith(text) : subject.endsWith(text);
  };
}

function anythingBut(operand: unknown, path: string): Test {
  const where = `${path}.anything-but`;
  if (typeof operand === 'string' || typeof operand === 'number')
    return (value) => value !== operand;
  if (Array.isArray(operand)) {
    const allStrings = operand.every((item) => typeof item === 'string');
    const allNumbers = operand.every((item) => typeof item === 'number');
    if (operand.length === 0 || !(allStrings || allNumbers)) {
      fail(
        where,
        `a list must hold only strings or only numbers, and at least one, got ${show(operand)}.`,
      );
    }
    const excluded = new Set<unknown>(operand);
    return (value) => !excluded.has(value);
  }
  if (isRecord(operand) && Object.keys(operand).length === 1) {
    const [name] = Object.keys(operand) as [string];
    const inner = operand[name];
    let excluded: Test | undefined;
    if ((name === 'prefix' || name === 'suffix') && typeof inner === 'string' && inner !== '') {
      excluded = affix(name, inner, where);
    } else if (name === 'wildcard') {
      const regex = wildcard(stringOperand(name, inner, where), where);
      excluded = (value) => typeof value === 'string' && regex.test(value);
    } else if (name === 'equals-ignore-case') {
      const texts = typeof inner === 'string' ? [inner] : inner;
      if (
        !Array.isArray(texts) ||
        texts.length === 0 ||
        !texts.every((t) => typeof t === 'string')
      ) {
        fail(where, `equals-ignore-case takes a string or a list of strings, got ${show(inner)}.`);
      }
      const lowered = new Set(texts.map((text: string) => text.toLowerCase()));
      excluded = (value) => typeof value === 'string' && lowered.has(value.toLowerCase());
    }
    if (excluded !== undefined) {
      const test = excluded;
      return (value) => !test(value);
    }
  }
  return fail(
    where,
    `takes a string, a number, a list of either, or one of { prefix | suffix: non-empty string }, { "equals-ignore-case": … }, { wildcard: … }; got ${show(operand)}.`,
  );
}

/** `['=', n]`, `['<' | '<=', n]`, `['>' | '>=', n]` or `['>' | '>=', low, '<' | '<=', high]`. */
function numeric(operand: unknown, path: string): Test {
  const where = `${path}.numeric`;
  const usage = `use ["=", n], ["<", n], [">=", low, "<", high] and the like (lower bound first), numbers within ±${NUMERIC_LIMIT}`;
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) {
    fail(where, `got ${show(operand)}; ${usage}.`);
  }
  const bounds: Test[] = [];
  for (let index = 0; index < operand.length; index += 2) {
    const operator = operand[index];
    const limit = operand[index + 1];
    if (typeof limit !== 'number' || !Number.isFinite(limit) || Math.abs(limit) > NUMERIC_LIMIT) {
      fail(
        where,
        `${show(limit)} after ${show(operator)} is not a number within ±${NUMERIC_LIMIT}; ${usage}.`,
      );
    }
    const allowed =
      index === 0 && operand.length === 2
        ? ['=', '<', '<=', '>', '>=']
        : index === 0
          ? ['>', '>=']
          : ['<', '<='];
    if (typeof operator !== 'string' || !allowed.includes(operator)) {
      fail(where, `operator ${show(operator)} is not allowed there in ${show(operand)}; ${usage}.`);
    }
    bounds.push(COMPARE[operator as keyof typeof COMPARE](limit));
  }
  if (operand.length === 4 && !((operand[1] as number) < (operand[3] as number))) {
    fail(where, `the range ${show(operand)} is empty: the lower bound must be below the upper.`);
  }
  return (value) => typeof value === 'number' && bounds.every((bound) => bound(value));
}

const COMPARE = {
  '=':
    (limit: number): Test =>
    (value) =>
      value === limit,
  '<':
    (limit: number): Test =>
    (value) =>
      (value as number) < limit,
  '<=':
    (limit: number): Test =>
    (value) =>
      (value as number) <= limit,
  '>':
    (limit: number): Test =>
    (value) =>
      (value as number) > limit,
  '>=':
    (limit: number): Test =>
    (value) =>
      (value as number) >= limit,
};

/** `*` is any run of characters; `\*` a star and `\\` a backslash; `**` is refused, as in EventBridge. */
function wildcard(text: string, path: string): RegExp {
  let source = '';
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index] as string;
    if (char === '\\') {
      const next = text[index + 1];
      if (next !== '*' && next !== '\\') {
        fail(
          path,
          `in wildcard ${show(text)} a backslash may only escape * or \\, found ${show(next ?? 'the end')} after it.`,
        );
      }
      source += `\\${next}`;
      index += 1;
    } else if (char === '*') {
      if (text[index + 1] === '*')
        fail(
          path,
          `wildcard ${show(text)} has consecutive *, which EventBridge refuses; one * already matches any run.`,
        );
      source += '[\\s\\S]*';
    } else source += char.replace(/[.+?^${}()|[\]/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function stringOperand(name: string, operand: unknown, path: string): string {
  if (typeof operand !== 'string') fail(path, `${name} takes a string, got ${show(operand)}.`);
  return operand;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is Scalar {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function fail(path: string, problem: string): never {
  throw new EventPatternError(path, problem);
}
