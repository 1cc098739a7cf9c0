import {
  type AlarmMonitor,
  type AlarmStatus,
  type Clock,
  NotFoundError,
  TerminalError,
} from '../core/index.js';
import {
  type AlarmRule,
  AlarmRuleError,
  evaluateAlarmRule,
  type LocalAlarmState,
  parseAlarmRule,
  ruleReferences,
  STATES,
} from './alarm-rule.js';
import { checkStatistic, type LocalMetricStore, type Statistic } from './metric-store.js';

/**
 * CloudWatch metric and composite alarms for the local runtime, evaluated over the local
 * metric store on the core's clock. No npm package parses CloudWatch's composite-alarm
 * rules or evaluates alarms (none on the registry's package list, and LOCAL-STACK.md found
 * no CloudWatch emulator on npm), so the rule language at the end of this file is a small
 * hand-written recursive-descent parser:
 *
 *   or      := and ("OR" and)*          precedence: NOT, then AND, then OR
 *   and     := not ("AND" not)*
 *   not     := "NOT" not | primary
 *   primary := "TRUE" | "FALSE" | "(" or ")" | ("ALARM" | "OK" | "INSUFFICIENT_DATA") "(" name ")"
 *   name    := "…" (with \" and \\ escapes) | a bare name without spaces, quotes or parentheses
 *
 * A name may be an alarm ARN (`arn:aws:cloudwatch:<region>:<account>:alarm:<name>`), as the
 * CDK renders `AlarmRule.fromAlarm`; the local runtime has one account and Region, so the
 * ARN stands for its name.
 */

/** An alarm's state; `MISSING` only describes an alarm that does not exist. */
export type { LocalAlarmState };
export type ComparisonOperator =
  | 'GreaterThanThreshold'
  | 'GreaterThanOrEqualToThreshold'
  | 'LessThanThreshold'
  | 'LessThanOrEqualToThreshold';
export type TreatMissingData = 'missing' | 'notBreaching' | 'breaching' | 'ignore';

/** One metric, as in the store: namespace (default `ReleaseCaptain`), name, dimensions (a subset). */
export interface MetricSelector {
  readonly namespace?: string;
  readonly metric: string;
  readonly dimensions: Readonly<Record<string, string>>;
}

interface Evaluation {
  readonly name: string;
  /** A whole number of seconds; periods are aligned to multiples of it since the epoch. */
  readonly periodSeconds: number;
  /** N: the last N complete periods are evaluated. */
  readonly evaluationPeriods: number;
  /** M: ALARM when M of the N periods breach. @default - evaluationPeriods (N of N) */
  readonly datapointsToAlarm?: number;
  readonly threshold: number;
  readonly comparison: ComparisonOperator;
  /** @default 'missing' */
  readonly treatMissingData?: TreatMissingData;
}

/**
 * A metric alarm on one statistic of a metric, or on a ratio: per period, the numerator's
 * `Sum` divided by the denominator's `Sum` (e.g. faults / requests = fault rate, 0.05 = 5%),
 * the one piece of metric math the local alarms need. A period where the denominator has
 * no data or sums to 0 is missing; a numerator without data counts as 0 (`FILL(m, 0)`).
 */
export type MetricAlarmDefinition = Evaluation &
  (
    | (MetricSelector & { readonly statistic: Statistic; readonly ratio?: undefined })
    | {
        readonly ratio: {
          readonly numerator: MetricSelector;
          readonly denominator: MetricSelector;
        };
        readonly metric?: undefined;
      }
  );

export interface CompositeAlarmDefinition {
  readonly name: string;
  /** CloudWatch's syntax, e.g. `ALARM("team-aggregate-euw1") OR ALARM("api-onebox-faults")`. */
  readonly rule: string;
}

export interface AlarmStateChange {
  readonly name: string;
  readonly from: LocalAlarmState;
  readonly to: LocalAlarmState;
  /** The clock's time of the change, ISO-8601. */
  readonly at: string;
  readonly reason: string;
}

export interface LocalAlarmsOptions {
  /**
   * How old, in clock time, the last evaluation may be before `describeAlarms` evaluates
   * again; CloudWatch evaluates alarms once a minute.
   * @default 60
   */
  readonly evaluationIntervalSeconds?: number;
}

/** What the local CloudWatch knows of one alarm. */
export interface LocalAlarmDescription extends AlarmStatus {
  readonly name: string;
  readonly kind: 'metric' | 'composite';
  readonly state: LocalAlarmState;
  readonly reason: string;
  /** A composite's rule, as defined. */
  readonly rule: string | null;
}

type Defined =
  | { readonly kind: 'metric'; readonly alarm: Required<Evaluation> & MetricAlarmDefinition }
  | { readonly kind: 'composite'; readonly rule: string; readonly parsed: AlarmRule };

interface Alarm {
  defined: Defined;
  state: LocalAlarmState;
  reason: string;
  lastAlarmAt: string | null;
}

/**
 * The local runtime's {@link AlarmMonitor}: metric alarms over the local metric store and
 * composite alarms over other alarms, in CloudWatch's syntax. `evaluate()` recomputes every
 * alarm at the clock's time (the runtime calls it on a tick), and `describeAlarms` does
 * when the last evaluation is older than the evaluation interval. A state change, by
 * evaluation or by `setState`, is told to the `onChange` listeners once, from which the
 * runtime sends "CloudWatch Alarm State Change" events. A new alarm is INSUFFICIENT_DATA
 * until it is first evaluated.
 *
 * @example
 * const alarms = new LocalAlarms(store, clock);
 * alarms.defineMetricAlarm({ name: 'beta-t1-fault-rate', periodSeconds: 60, evaluationPeriods: 3,
 *   datapointsToAlarm: 2, threshold: 0.05, comparison: 'GreaterThanThreshold', treatMissingData: 'notBreaching',
 *   ratio: { numerator: { metric: 'Fault', dimensions: { target: 'beta-t1' } },
 *            denominator: { metric: 'RequestCount', dimensions: { target: 'beta-t1' } } } });
 * alarms.defineCompositeAlarm({ name: 'team-aggregate-euw1', rule: 'ALARM("beta-t1-fault-rate")' });
 * alarms.onChange(({ name, from, to }) => console.log(`${name}: ${from} → ${to}`));
 * alarms.evaluate(); // [{ name: 'beta-t1-fault-rate', from: 'INSUFFICIENT_DATA', to: 'OK', … }, …]
 */
export class LocalAlarms implements AlarmMonitor {
  readonly #store: LocalMetricStore;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #alarms = new Map<string, Alarm>();
  readonly #listeners = new Set<(change: AlarmStateChange) => void>();
  #evaluatedAt: number | null = null;

  constructor(store: LocalMetricStore, clock: Clock, options: LocalAlarmsOptions = {}) {
    const seconds = options.evaluationIntervalSeconds ?? 60;
    if (!Number.isFinite(seconds) || seconds < 0) {
      throw new TerminalError(
        `evaluationIntervalSeconds must be a number of seconds ≥ 0, got ${seconds}; 60 is CloudWatch's cadence.`,
      );
    }
    this.#store = store;
    this.#clock = clock;
    this.#intervalMs = seconds * 1000;
  }

  /** Creates or replaces a metric alarm, like `PutMetricAlarm`; it is evaluated next time. */
  defineMetricAlarm(definition: MetricAlarmDefinition): void {
    const alarm = checkMetricAlarm(definition, this.#store.retentionSeconds);
    this.#put(alarm.name, { kind: 'metric', alarm });
  }

  /**
   * Creates or replaces a composite alarm, like `PutCompositeAlarm`. Its rule is parsed now;
   * every alarm it names must exist, and none may lead back to it.
   */
  defineCompositeAlarm(definition: CompositeAlarmDefinition): void {
    const { name, rule } = definition;
    checkName(name);
    const what = `The rule of composite alarm ${JSON.stringify(name)}`;
    const parsed = parseAlarmRule(rule, what);
    const references = ruleReferences(parsed);
    const unknown = references.filter(({ alarm }) => alarm !== name && !this.#alarms.has(alarm));
    if (unknown.length > 0) {
      const names = [...new Set(unknown.map(({ alarm }) => JSON.stringify(alarm)))].join(', ');
      throw new AlarmRuleError(
        what,
        rule,
        (unknown[0] as { column: number }).column,
        `it names ${names}, which no alarm is called: define ${unknown.length > 1 ? 'them' : 'it'} first or fix the name`,
      );
    }
    for (const { alarm, column } of references) {
      const path = this.#pathTo(alarm, name);
      if (path !== null) {
        throw new AlarmRuleError(
          what,
          rule,
          column,
          `it would make a cycle (${[name, ...path].join(' → ')}), which could never be evaluated; remove one of these references`,
        );
      }
    }
    this.#put(name, { kind: 'composite', rule, parsed });
  }

  /**
   * Recomputes every alarm at the clock's time: metric alarms from their last complete
   * periods, then composites from their children's new states. Returns the changes, which
   * the listeners were told of.
   */
  evaluate(): AlarmStateChange[] {
    const now = this.#clock.now();
    this.#evaluatedAt = now.getTime();
    const changes = this.#settle(now, null);
    this.#notify(changes);
    return changes;
  }

  /**
   * Sets an alarm's state by hand, like `SetAlarmState`: for tests and operators. It holds
   * until the next evaluation computes the alarm again (`ignore` keeps it while no data
   * comes). The composites that refer to it follow at once, as in CloudWatch.
   */
  setState(name: string, state: LocalAlarmState, reason: string): void {
    const alarm = this.#alarms.get(name);
    if (alarm === undefined) {
      throw new NotFoundError(`No alarm is called ${JSON.stringify(name)}; define it first.`);
    }
    if (!STATES.includes(state)) {
      throw new TerminalError(
        `Cannot set alarm ${name} to ${state}; use OK, ALARM or INSUFFICIENT_DATA.`,
      );
    }
    const now = this.#clock.now();
    const change = transition(name, alarm, state, reason, now.toISOString());
    const after = this.#settle(now, this.#dependentsOf(name));
    this.#notify(change === null ? after : [change, ...after]);
  }

  /** Calls `listener` once per state change; returns a function that stops it. */
  onChange(listener: (change: AlarmStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async describeAlarms(names: readonly string[]): Promise<Record<string, AlarmStatus>> {
    const now = this.#clock.now().getTime();
    if (this.#evaluatedAt === null || now - this.#evaluatedAt >= this.#intervalMs) this.evaluate();
    return Object.fromEntries(
      names.map((name) => {
        const alarm = this.#alarms.get(name);
        const status: AlarmStatus =
          alarm === undefined
            ? { state: 'MISSING', lastAlarmAt: null }
            : { state: alarm.state, lastAlarmAt: alarm.lastAlarmAt };
        return [name, status];
      }),
    );
  }

  /** Every alarm as last evaluated, in the order defined: for views and logs. */
  list(): LocalAlarmDescription[] {
    return [...this.#alarms].map(([name, alarm]) => ({
      name,
      kind: alarm.defined.kind,
      state: alarm.state,
      reason: alarm.reason,
      lastAlarmAt: alarm.lastAlarmAt,
      rule: alarm.defined.kind === 'composite' ? alarm.defined.rule : null,
    }));
  }

  /**
   * Takes back what `list()` gave before a restart: each defined alarm's state, reason and
   * `lastAlarmAt`, without telling the listeners (nothing changed). An ALARM that fired
   * just before a crash is still evidence afterwards: bakes and deployments read
   * `lastAlarmAt`. Saved alarms no longer defined are ignored.
   */
  restore(
    saved: readonly Pick<LocalAlarmDescription, 'name' | 'state' | 'reason' | 'lastAlarmAt'>[],
  ): void {
    for (const entry of saved) {
      const alarm = this.#alarms.get(entry.name);
      if (alarm === undefined) continue;
      alarm.state = entry.state;
      alarm.reason = entry.reason;
      alarm.lastAlarmAt = entry.lastAlarmAt;
    }
  }

  #put(name: string, defined: Defined): void {
    const existing = this.#alarms.get(name);
    if (existing !== undefined) existing.defined = defined;
    else {
      this.#alarms.set(name, {
        defined,
        state: 'INSUFFICIENT_DATA',
        reason: 'Unchecked: initial alarm creation',
        lastAlarmAt: null,
      });
    }
    this.#evaluatedAt = null;
  }

  /** The chain of composite references from `from` to `to`, or `null` if there is none. */
  #pathTo(from: string, to: string, seen = new Set<string>()): string[] | null {
    if (from === to) return [to];
    if (seen.has(from)) return null;
    seen.add(from);
    const defined = this.#alarms.get(from)?.defined;
    if (defined?.kind !== 'composite') return null;
    for (const { alarm } of ruleReferences(defined.parsed)) {
      const rest = this.#pathTo(alarm, to, seen);
      if (rest !== null) return [from, ...rest];
    }
    return null;
  }

  /**
   * Recomputes the alarms named in `only` (every alarm when `null`), children before the
   * composites that read them, and returns the changes. The others keep their state.
   */
  #settle(now: Date, only: ReadonlySet<string> | null): AlarmStateChange[] {
    const at = now.toISOString();
    const done = new Set<string>();
    const changes: AlarmStateChange[] = [];
    const visit = (name: string): LocalAlarmState => {
      const alarm = this.#alarms.get(name) as Alarm;
      if (done.has(name)) return alarm.state;
      done.add(name);
      if (only !== null && !only.has(name)) return alarm.state;
      const { defined } = alarm;
      let next: { state: LocalAlarmState; reason: string };
      if (defined.kind === 'metric') {
        const values = this.#values(defined.alarm, now);
        next = decideMetricAlarm({ ...defined.alarm, values, current: alarm.state });
      } else {
        const holds = evaluateAlarmRule(defined.parsed, visit);
        const children = [...new Set(ruleReferences(defined.parsed).map((r) => r.alarm))];
        const states = children.map((child) => `${child} is ${visit(child)}`).join(', ');
        next = {
          state: holds ? 'ALARM' : 'OK',
          reason: `${defined.rule} is ${holds ? 'TRUE' : 'FALSE'}${states === '' ? '' : `: ${states}`}`,
        };
      }
      const change = transition(name, alarm, next.state, next.reason, at);
      if (change !== null) changes.push(change);
      return alarm.state;
    };
    for (const name of only ?? this.#alarms.keys()) visit(name);
    return changes;
  }

  /** The composites that refer to `name`, directly or through other composites. */
  #dependentsOf(name: string): Set<string> {
    const found = new Set<string>();
    let grew = true;
    while (grew) {
      grew = false;
      for (const [composite, { defined }] of this.#alarms) {
        if (defined.kind !== 'composite' || found.has(composite)) continue;
        const refs = ruleReferences(defined.parsed);
        if (refs.some(({ alarm }) => alarm === name || found.has(alarm))) {
          found.add(composite);
          grew = true;
        }
      }
    }
    return found;
  }

  /** The alarm's value in each of its last N complete periods, oldest first. */
  #values(alarm: Required<Evaluation> & MetricAlarmDefinition, now: Date): (number | null)[] {
    const period = alarm.periodSeconds * 1000;
    const end = Math.floor(now.getTime() / period) * period;
    const window = {
      periodSeconds: alarm.periodSeconds,
      from: new Date(end - alarm.evaluationPeriods * period),
      to: new Date(end),
    };
    if (alarm.ratio === undefined) {
      return this.#store.series({ ...alarm, ...window }).map((p) => p.value);
    }
    const sums = (selector: MetricSelector) =>
      this.#store.series({ ...selector, ...window, statistic: 'Sum' }).map((p) => p.value);
    const numerator = sums(alarm.ratio.numerator);
    return sums(alarm.ratio.denominator).map((denominator, i) =>
      denominator === null || denominator === 0 ? null : (numerator[i] ?? 0) / denominator,
    );
  }

  #notify(changes: readonly AlarmStateChange[]): void {
    const errors: unknown[] = [];
    for (const change of changes) {
      for (const listener of this.#listeners) {
        try {
          listener(change);
        } catch (error) {
          errors.push(error);
        }
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1)
      throw new AggregateError(errors, `${errors.length} alarm listeners failed`);
  }
}

/** Moves an alarm to `state`; the change, or `null` if the state stays (only the reason moves). */
function transition(
  name: string,
  alarm: Alarm,
  state: LocalAlarmState,
  reason: string,
  at: string,
): AlarmStateChange | null {
  const from = alarm.state;
  alarm.reason = reason;
  if (from === state) return null;
  alarm.state = state;
  if (state === 'ALARM') alarm.lastAlarmAt = at;
  return { name, from, to: state, at, reason };
}

/** CloudWatch's limits on an alarm name: 1 to 255 characters, no control characters. */
function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || /\p{Cc}/u.test(name)) {
    throw new TerminalError(
      `An alarm name must be 1 to 255 characters without control characters, got ${JSON.stringify(name)}.`,
    );
  }
}

const wholeAtLeast = (value: number, min: number) => Number.isInteger(value) && value >= min;

/** The definition with its defaults, or an error naming the bad value and the fix. */
function checkMetricAlarm(
  definition: MetricAlarmDefinition,
  retentionSeconds: number,
): Required<Evaluation> & MetricAlarmDefinition {
  const { name, periodSeconds, evaluationPeriods } = definition;
  checkName(name);
  const bad = (problem: string) => new TerminalError(`Metric alarm ${name}: ${problem}.`);
  if ((definition.ratio === undefined) === (definition.metric === undefined)) {
    throw bad(
      'give either metric (with statistic) or ratio ({ numerator, denominator }), not both or neither',
    );
  }
  if (definition.ratio === undefined) checkStatistic(definition.statistic);
  if (!wholeAtLeast(periodSeconds, 1)) {
    throw bad(`periodSeconds must be a whole number of seconds ≥ 1, got ${periodSeconds}`);
  }
  if (!wholeAtLeast(evaluationPeriods, 1)) {
    throw bad(`evaluationPeriods must be a whole number ≥ 1, got ${evaluationPeriods}`);
  }
  const datapointsToAlarm = definition.datapointsToAlarm ?? evaluationPeriods;
  if (!wholeAtLeast(datapointsToAlarm, 1) || datapointsToAlarm > evaluationPeriods) {
    throw bad(
      `datapointsToAlarm must be a whole number from 1 to evaluationPeriods (${evaluationPeriods}), got ${datapointsToAlarm}`,
    );
  }
  if (periodSeconds * evaluationPeriods > retentionSeconds) {
    throw bad(
      `it looks back ${periodSeconds * evaluationPeriods} s (periodSeconds × evaluationPeriods), beyond the metric store's retention of ${retentionSeconds} s; shorten it or keep data longer`,
    );
  }
  if (!Number.isFinite(definition.threshold)) {
    throw bad(`threshold must be a finite number, got ${definition.threshold}`);
  }
  if (!(definition.comparison in COMPARE)) {
    throw bad(
      `comparison must be one of ${Object.keys(COMPARE).join(', ')}, got ${definition.comparison}`,
    );
  }
  const treatMissingData = definition.treatMissingData ?? 'missing';
  if (!['missing', 'notBreaching', 'breaching', 'ignore'].includes(treatMissingData)) {
    throw bad(
      `treatMissingData must be missing, notBreaching, breaching or ignore, got ${treatMissingData}`,
    );
  }
  return { ...definition, datapointsToAlarm, treatMissingData };
}

export interface MetricAlarmInput {
  /** One value per period, oldest first; `null` for a period without data. */
  readonly values: readonly (number | null)[];
  readonly threshold: number;
  readonly comparison: ComparisonOperator;
  readonly datapointsToAlarm: number;
  readonly treatMissingData: TreatMissingData;
  /** The alarm's state before this evaluation, which `ignore` may keep. */
  readonly current: LocalAlarmState;
}

const COMPARE: Record<ComparisonOperator, [(value: number, threshold: number) => boolean, string]> =
  {
    GreaterThanThreshold: [(v, t) => v > t, 'greater than'],
    GreaterThanOrEqualToThreshold: [(v, t) => v >= t, 'greater than or equal to'],
    LessThanThreshold: [(v, t) => v < t, 'less than'],
    LessThanOrEqualToThreshold: [(v, t) => v <= t, 'less than or equal to'],
  };

/**
 * A metric alarm's state from its last N periods, M of which must breach (CloudWatch's
 * "M out of N"). Missing periods count as `treatMissingData` says:
 * - `breaching`: as breaching; `notBreaching`: as not breaching;
 * - `missing`: not at all, and N missing periods make INSUFFICIENT_DATA;
 * - `ignore`: not at all, and the state changes only when the data present decides it
 *   (M breaching, or more than N − M not breaching); otherwise it stays as it was.
 * CloudWatch also looks back beyond N periods when some are missing; this does not.
 *
 * @example
 * // 2 of 3, threshold 0.05: one breach and one missing period.
 * decideMetricAlarm({ values: [0.2, null, 0.01], threshold: 0.05, comparison: 'GreaterThanThreshold',
 *                     datapointsToAlarm: 2, treatMissingData: 'breaching', current: 'OK' }).state; // 'ALARM'
 * // … with 'notBreaching' or 'missing': 'OK'; with 'ignore': as it was (the missing period could breach).
 */
export function decideMetricAlarm(input: MetricAlarmInput): {
  state: LocalAlarmState;
  reason: string;
} {
  const [breaches, words] = COMPARE[input.comparison];
  const n = input.values.length;
  const m = input.datapointsToAlarm;
  const breaching = input.values.filter((v) => v !== null && breaches(v, input.threshold)).length;
  const missing = input.values.filter((v) => v === null).length;
  const fine = n - breaching - missing;
  const shown = input.values.map((v) => (v === null ? 'missing' : String(v))).join(', ');
  const seen = `${breaching} of the last ${n} periods [${shown}] were ${words} the threshold (${input.threshold}); ${m} needed for ALARM, missing data treated as ${input.treatMissingData}`;
  let state: LocalAlarmState;
  switch (input.treatMissingData) {
    case 'breaching':
      state = breaching + missing >= m ? 'ALARM' : 'OK';
      break;
    case 'notBreaching':
      state = breaching >= m ? 'ALARM' : 'OK';
      break;
    case 'missing':
      state = missing === n ? 'INSUFFICIENT_DATA' : breaching >= m ? 'ALARM' : 'OK';
      break;
    case 'ignore':
      state = breaching >= m ? 'ALARM' : fine > n - m ? 'OK' : input.current;
      break;
  }
  return { state, reason: seen };
}
