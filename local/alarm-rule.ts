import { type AlarmState, TerminalError } from '../core/index.js';

/**
 * CloudWatch's composite-alarm rule language (`ALARM("a") OR (OK("b") AND NOT ALARM("c"))`),
 * parsed once when a composite is defined and evaluated against its children's states.
 * Hand-written: no npm package parses these rules.
 */

/** An alarm's evaluated state (a missing alarm is refused when its composite is defined). */
export type LocalAlarmState = Exclude<AlarmState, 'MISSING'>;

/** A parsed composite-alarm rule. */
export type AlarmRule =
  | { readonly kind: 'constant'; readonly value: boolean }
  | {
      readonly kind: 'state';
      readonly state: LocalAlarmState;
      readonly alarm: string;
      /** 1-based column of the name in the rule. */
      readonly column: number;
    }
  | { readonly kind: 'not'; readonly operand: AlarmRule }
  | { readonly kind: 'and' | 'or'; readonly operands: readonly AlarmRule[] };

/** A composite-alarm rule that does not parse, or names alarms that do not exist. */
export class AlarmRuleError extends TerminalError {
  readonly rule: string;
  /** 1-based column of the problem. */
  readonly column: number;

  constructor(what: string, rule: string, column: number, problem: string, options?: ErrorOptions) {
    super(
      `${what} is not valid at column ${column}: ${problem}.\n${pointAt(rule, column)}`,
      options,
    );
    this.name = 'AlarmRuleError';
    this.rule = rule;
    this.column = column;
  }
}

/** CloudWatch's limit on an `AlarmRule`. */
const MAX_RULE_LENGTH = 10_240;
export const STATES: readonly LocalAlarmState[] = ['ALARM', 'OK', 'INSUFFICIENT_DATA'];
const ALARM_ARN = /^arn:[^:]+:cloudwatch:[^:]*:[^:]*:alarm:(.+)$/;

/**
 * Parses a composite-alarm rule in CloudWatch's syntax.
 *
 * @example
 * parseAlarmRule('ALARM("a") OR NOT OK(b) AND TRUE');
 * // { kind: 'or', operands: [ { kind: 'state', state: 'ALARM', alarm: 'a', column: 7 },
 * //   { kind: 'and', operands: [ { kind: 'not', operand: { kind: 'state', state: 'OK', alarm: 'b', column: 22 } },
 * //                              { kind: 'constant', value: true } ] } ] }
 */
export function parseAlarmRule(rule: string, what = 'The alarm rule'): AlarmRule {
  if (rule.length > MAX_RULE_LENGTH) {
    throw new AlarmRuleError(
      what,
      rule,
      MAX_RULE_LENGTH + 1,
      `it is ${rule.length} characters long, and CloudWatch allows ${MAX_RULE_LENGTH}; split it into composites of composites`,
    );
  }
  return new RuleParser(rule, what).parse();
}

/** The alarm names a rule refers to, with where each occurs. */
export function ruleReferences(rule: AlarmRule): { alarm: string; column: number }[] {
  switch (rule.kind) {
    case 'constant':
      return [];
    case 'state':
      return [{ alarm: rule.alarm, column: rule.column }];
    case 'not':
      return ruleReferences(rule.operand);
    default:
      return rule.operands.flatMap(ruleReferences);
  }
}

/** Whether a rule holds, given each child's state. */
export function evaluateAlarmRule(
  rule: AlarmRule,
  stateOf: (alarm: string) => LocalAlarmState,
): boolean {
  switch (rule.kind) {
    case 'constant':
      return rule.value;
    case 'state':
      return stateOf(rule.alarm) === rule.state;
    case 'not':
      return !evaluateAlarmRule(rule.operand, stateOf);
    case 'and':
      return rule.operands.every((operand) => evaluateAlarmRule(operand, stateOf));
    case 'or':
      return rule.operands.some((operand) => evaluateAlarmRule(operand, stateOf));
  }
}

class RuleParser {
  readonly #rule: string;
  readonly #what: string;
  #at = 0;

  constructor(rule: string, what: string) {
    this.#rule = rule;
    this.#what = what;
  }

  parse(): AlarmRule {
    const rule = this.#or();
    this.#skipSpace();
    if (this.#at < this.#rule.length) {
      const word = /^[A-Za-z]+/.exec(this.#rule.slice(this.#at))?.[0].toUpperCase() ?? '';
      const hint = ['AND', 'OR'].includes(word) ? `keywords are upper case: write ${word}` : null;
      this.#fail(hint ?? 'expected AND, OR or the end of the rule');
    }
    return rule;
  }

  #or(): AlarmRule {
    const operands = [this.#and()];
    while (this.#keyword('OR')) operands.push(this.#and());
    return operands.length === 1 ? (operands[0] as AlarmRule) : { kind: 'or', operands };
  }

  #and(): AlarmRule {
    const operands = [this.#not()];
    while (this.#keyword('AND')) operands.push(this.#not());
    return operands.length === 1 ? (operands[0] as AlarmRule) : { kind: 'and', operands };
  }

  #not(): AlarmRule {
    return this.#keyword('NOT') ? { kind: 'not', operand: this.#not() } : this.#primary();
  }

  #primary(): AlarmRule {
    this.#skipSpace();
    if (this.#rule[this.#at] === '(') {
      this.#at++;
      const inner = this.#or();
      this.#expect(')', 'to close the parenthesis');
      return inner;
    }
    const start = this.#at;
    const word = /^[A-Za-z_]+/.exec(this.#rule.slice(start))?.[0] ?? '';
    const upper = word.toUpperCase();
    if (word !== upper && ['TRUE', 'FALSE', 'NOT', ...STATES].includes(upper)) {
      this.#fail(`keywords are upper case: write ${upper}`);
    }
    if (word === 'TRUE' || word === 'FALSE') {
      this.#at += word.length;
      return { kind: 'constant', value: word === 'TRUE' };
    }
    if (!(STATES as readonly string[]).includes(word)) {
      this.#fail(
        'expected ALARM("name"), OK("name"), INSUFFICIENT_DATA("name"), TRUE, FALSE, NOT or "("',
      );
    }
    this.#at += word.length;
    this.#expect('(', `after ${word}`);
    this.#skipSpace();
    const column = this.#at + 1;
    const alarm = this.#name();
    this.#expect(')', 'after the alarm name');
    return { kind: 'state', state: word as LocalAlarmState, alarm, column };
  }

  #name(): string {
    const start = this.#at;
    let name = '';
    if (this.#rule[this.#at] === '"') {
      this.#at++;
      for (;;) {
        const char = this.#rule[this.#at];
        if (char === undefined) {
          this.#at = start;
          this.#fail('the quoted alarm name is never closed: add the closing "');
        }
        this.#at++;
        if (char === '"') break;
        if (char === '\\' && ['"', '\\'].includes(this.#rule[this.#at] ?? '')) {
          name += this.#rule[this.#at];
          this.#at++;
        } else {
          name += char;
        }
      }
    } else {
      name = /^[^\s()"]*/.exec(this.#rule.slice(this.#at))?.[0] ?? '';
      this.#at += name.length;
    }
    if (name === '') {
      this.#at = start;
      this.#fail('expected an alarm name, quoted ("my-alarm") or bare (my-alarm)');
    }
    if (!name.startsWith('arn:')) return name;
    const fromArn = ALARM_ARN.exec(name)?.[1];
    if (fromArn === undefined) {
      this.#at = start;
      this.#fail(
        `${name} is not an alarm ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>)`,
      );
    }
    return fromArn;
  }

  /** Consumes `word` if it comes next as a whole word. */
  #keyword(word: string): boolean {
    this.#skipSpace();
    if (!this.#rule.startsWith(word, this.#at)) return false;
    if (/[A-Za-z0-9_]/.test(this.#rule[this.#at + word.length] ?? '')) return false;
    this.#at += word.length;
    return true;
  }

  #expect(char: string, why: string): void {
    this.#skipSpace();
    if (this.#rule[this.#at] !== char) this.#fail(`expected "${char}" ${why}`);
    this.#at++;
  }

  #skipSpace(): void {
    while (/\s/.test(this.#rule[this.#at] ?? '')) this.#at++;
  }

  #fail(expected: string): never {
    const rest = this.#rule.slice(this.#at);
    const next = /^[A-Za-z_]+/.exec(rest)?.[0] ?? rest[0];
    const found = next === undefined ? 'the end of the rule' : JSON.stringify(next);
    throw new AlarmRuleError(this.#what, this.#rule, this.#at + 1, `${expected}, found ${found}`);
  }
}

/** The rule, cut around `column` if long, with a caret under that column. */
function pointAt(rule: string, column: number): string {
  const start = Math.max(0, column - 41);
  const end = Math.min(rule.length, column + 40);
  const head = start > 0 ? '…' : '';
  const line = `${head}${rule.slice(start, end)}${end < rule.length ? '…' : ''}`;
  return `  ${line}\n  ${' '.repeat(head.length + column - 1 - start)}^`;
}
