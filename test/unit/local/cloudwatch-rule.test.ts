import { App, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/index.js';
import {
  AlarmRuleError,
  evaluateAlarmRule,
  type LocalAlarmState,
  parseAlarmRule,
  ruleReferences,
} from '../../../local/alarm-rule.js';
import { LocalAlarms } from '../../../local/alarms.js';
import { LocalMetricStore } from '../../../local/metric-store.js';
import { T0 } from '../../support/fixtures.js';

const ref = (alarm: string, column: number, state: LocalAlarmState = 'ALARM') => ({
  kind: 'state',
  state,
  alarm,
  column,
});

/** Whether `rule` holds when the alarms named in `firing` are in ALARM and the rest OK. */
const holds = (rule: string, ...firing: string[]) =>
  evaluateAlarmRule(parseAlarmRule(rule), (name) => (firing.includes(name) ? 'ALARM' : 'OK'));

describe('parseAlarmRule', () => {
  it('binds NOT tighter than AND, and AND tighter than OR', () => {
    expect(parseAlarmRule('ALARM(a) OR ALARM(b) AND NOT ALARM(c)')).toEqual({
      kind: 'or',
      operands: [
        ref('a', 7),
        { kind: 'and', operands: [ref('b', 19), { kind: 'not', operand: ref('c', 36) }] },
      ],
    });
    expect(parseAlarmRule('NOT ALARM(a) AND ALARM(b)')).toEqual({
      kind: 'and',
      operands: [{ kind: 'not', operand: ref('a', 11) }, ref('b', 24)],
    });
  });

  it.each([
    // rule, firing, holds: each row fails under another precedence or grouping
    ['ALARM(a) OR ALARM(b) AND ALARM(c)', ['a'], true],
    ['(ALARM(a) OR ALARM(b)) AND ALARM(c)', ['a'], false],
    ['NOT ALARM(a) AND ALARM(b)', ['a'], false],
    ['NOT (ALARM(a) AND ALARM(b))', ['a'], true],
    ['NOT ALARM(a) OR ALARM(b)', ['a'], false],
    ['NOT NOT ALARM(a)', ['a'], true],
    ['ALARM(a) AND ALARM(b) OR ALARM(c) AND ALARM(d)', ['c', 'd'], true],
    ['ALARM(a) AND (ALARM(b) OR ALARM(c)) AND ALARM(d)', ['c', 'd'], false],
    ['OK(a) AND OK(b)', [], true],
    ['OK(a) AND OK(b)', ['b'], false],
    ['TRUE AND NOT FALSE', [], true],
    ['FALSE OR ALARM(a)', [], false],
    ['((ALARM(a)))', ['a'], true],
  ] as const)('%s with %j in ALARM is %s', (rule, firing, expected) => {
    expect(holds(rule, ...firing)).toBe(expected);
  });

  it('tells INSUFFICIENT_DATA apart from OK and ALARM', () => {
    const rule = parseAlarmRule('INSUFFICIENT_DATA(a) AND NOT ALARM(a)');
    const states: LocalAlarmState[] = ['OK', 'ALARM', 'INSUFFICIENT_DATA'];
    expect(states.map((state) => evaluateAlarmRule(rule, () => state))).toEqual([
      false,
      false,
      true,
    ]);
  });

  it.each([
    ['ALARM("api faults")', 'api faults'],
    ['ALARM(  "a\\"b\\\\c"  )', 'a"b\\c'],
    ['ALARM(api-high-severity)', 'api-high-severity'],
    ['ALARM ( team.aggregate_1 )', 'team.aggregate_1'],
    ['ALARM("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:team-aggregate")', 'team-aggregate'],
    ['ALARM(arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:a:b)', 'a:b'],
  ])('reads the name in %s as %j', (rule, name) => {
    expect(ruleReferences(parseAlarmRule(rule)).map((r) => r.alarm)).toEqual([name]);
  });

  it('reads the rules the CDK renders for composite alarms', () => {
    const stack = new Stack(new App(), 'Rules', {
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    const alarm = (name: string) =>
      cloudwatch.Alarm.fromAlarmArn(
        stack,
        name,
        `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${name}`,
      );
    const { AlarmRule, AlarmState } = cloudwatch;
    const rendered = AlarmRule.anyOf(
      AlarmRule.fromAlarm(alarm('api-high-severity'), AlarmState.ALARM),
      AlarmRule.allOf(
        AlarmRule.fromAlarm(alarm('api-canary'), AlarmState.ALARM),
        AlarmRule.not(AlarmRule.fromAlarm(alarm('api-maintenance'), AlarmState.OK)),
      ),
      AlarmRule.fromBoolean(false),
    ).renderAlarmRule();
    const rule = parseAlarmRule(rendered);

    expect(ruleReferences(rule).map((r) => r.alarm)).toEqual([
      'api-high-severity',
      'api-canary',
      'api-maintenance',
    ]);
    const stateOf = (firing: string[]) => (name: string) =>
      firing.includes(name) ? 'ALARM' : ('OK' as const);
    expect(evaluateAlarmRule(rule, stateOf([]))).toBe(false);
    expect(evaluateAlarmRule(rule, stateOf(['api-high-severity']))).toBe(true);
    expect(evaluateAlarmRule(rule, stateOf(['api-canary']))).toBe(false);
    expect(evaluateAlarmRule(rule, stateOf(['api-canary', 'api-maintenance']))).toBe(true);
  });

  it.each([
    ['ALARM("a" OR ALARM("b")', 11, 'expected ")" after the alarm name, found "OR"'],
    [
      'ALARM(a) OR',
      12,
      'expected ALARM("name"), OK("name"), INSUFFICIENT_DATA("name"), TRUE, FALSE, NOT or "(", found the end of the rule',
    ],
    ['ALARM(a) XOR ALARM(b)', 10, 'expected AND, OR or the end of the rule, found "XOR"'],
    ['ALARM(a) or ALARM(b)', 10, 'keywords are upper case: write OR, found "or"'],
    ['alarm(a)', 1, 'keywords are upper case: write ALARM, found "alarm"'],
    ['ALARM a', 7, 'expected "(" after ALARM, found "a"'],
    ['ALARM("a)', 7, 'the quoted alarm name is never closed: add the closing ", found "\\""'],
    ['ALARM()', 7, 'expected an alarm name, quoted ("my-alarm") or bare (my-alarm), found ")"'],
    ['(ALARM(a)', 10, 'expected ")" to close the parenthesis, found the end of the rule'],
    ['ALARM(a))', 9, 'expected AND, OR or the end of the rule, found ")"'],
    ['ALARM(arn:aws:s3:::bucket)', 7, 'arn:aws:s3:::bucket is not an alarm ARN'],
    ['', 1, 'found the end of the rule'],
    ['ALARM(a) AND', 13, 'found the end of the rule'],
  ])('refuses %j at column %d', (rule, column, problem) => {
    let error: unknown;
    try {
      parseAlarmRule(rule);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AlarmRuleError);
    const { message } = error as AlarmRuleError;
    expect(error).toMatchObject({ name: 'AlarmRuleError', rule, column });
    expect(message).toContain(`The alarm rule is not valid at column ${column}: `);
    expect(message).toContain(problem);
    // The rule, then a caret under the column.
    expect(message.split('\n').slice(1)).toEqual([`  ${rule}`, `  ${' '.repeat(column - 1)}^`]);
  });

  it('shows the part of a long rule around the problem', () => {
    const rule = `${Array.from({ length: 20 }, (_, i) => `ALARM(a${i})`).join(' OR ')} OR ALARM(`;
    expect(() => parseAlarmRule(rule)).toThrow(
      `found the end of the rule.\n  …${rule.slice(-40)}\n  ${' '.repeat(41)}^`,
    );
  });

  it('refuses a rule longer than CloudWatch allows', () => {
    const rule = Array.from({ length: 1000 }, (_, i) => `ALARM(a${i})`).join(' OR ');
    expect(() => parseAlarmRule(rule)).toThrow(
      `it is ${rule.length} characters long, and CloudWatch allows 10240`,
    );
  });
});

describe('LocalAlarms composite definitions', () => {
  const setUp = () => {
    const clock = new ManualClock(T0);
    const alarms = new LocalAlarms(new LocalMetricStore(clock), clock);
    for (const name of ['m1', 'm2']) {
      alarms.defineMetricAlarm({
        name,
        metric: name,
        dimensions: {},
        statistic: 'Sum',
        periodSeconds: 60,
        evaluationPeriods: 1,
        threshold: 0,
        comparison: 'GreaterThanThreshold',
        treatMissingData: 'notBreaching',
      });
    }
    return alarms;
  };

  it('refuses a rule naming alarms that do not exist, pointing at the first', () => {
    const alarms = setUp();
    expect(() =>
      alarms.defineCompositeAlarm({ name: 'agg', rule: 'ALARM(m1) OR ALARM("m3") OR OK(m4)' }),
    ).toThrow(
      'The rule of composite alarm "agg" is not valid at column 20: it names "m3", "m4", which no alarm is called: define them first or fix the name.',
    );
    expect(() => alarms.defineCompositeAlarm({ name: 'agg', rule: 'ALARM(m1) OR' })).toThrow(
      AlarmRuleError,
    );
  });

  it('refuses cycles, and keeps the definition it had', async () => {
    const alarms = setUp();
    alarms.defineCompositeAlarm({ name: 'a', rule: 'ALARM(m1)' });
    alarms.defineCompositeAlarm({ name: 'b', rule: 'ALARM(a) OR ALARM(m2)' });
    alarms.defineCompositeAlarm({ name: 'c', rule: 'ALARM(b)' });

    expect(() => alarms.defineCompositeAlarm({ name: 'a', rule: 'ALARM(m1) OR ALARM(c)' })).toThrow(
      'is not valid at column 20: it would make a cycle (a → c → b → a)',
    );
    expect(() => alarms.defineCompositeAlarm({ name: 'self', rule: 'NOT ALARM(self)' })).toThrow(
      'it would make a cycle (self → self)',
    );
    expect(alarms.list().find((alarm) => alarm.name === 'a')?.rule).toBe('ALARM(m1)');
    expect(alarms.list().map((alarm) => alarm.name)).not.toContain('self');

    // Replacing a composite by one that does not loop is fine.
    alarms.defineCompositeAlarm({ name: 'a', rule: 'ALARM(m2)' });
    alarms.evaluate();
    alarms.setState('m2', 'ALARM', 'test');
    expect(await alarms.describeAlarms(['a', 'b', 'c'])).toEqual({
      a: { state: 'ALARM', lastAlarmAt: T0 },
      b: { state: 'ALARM', lastAlarmAt: T0 },
      c: { state: 'ALARM', lastAlarmAt: T0 },
    });
  });
});
