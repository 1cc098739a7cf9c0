import { describe, expect, it } from 'vitest';
import {
  alarmsToCheck,
  ManualClock,
  type PipelineDefinition,
  parsePipelineDefinition,
} from '../../../core/index.js';
import { type AlarmStateChange, LocalAlarms } from '../../../local/alarms.js';
import { defineLocalAlarms, type LocalAlarmOptions } from '../../../local/cloudwatch.js';
import { LocalMetricStore } from '../../../local/metric-store.js';
import { smallDefinition, stage, T0, target } from '../../support/fixtures.js';

/** The alarms of `definitions` on a fresh store, and how to send traffic. */
function setUp(
  definitions: PipelineDefinition | PipelineDefinition[],
  options: LocalAlarmOptions = {},
) {
  const clock = new ManualClock(T0);
  const store = new LocalMetricStore(clock);
  const alarms = new LocalAlarms(store, clock);
  const defined = defineLocalAlarms(definitions, alarms, options);
  const heard: AlarmStateChange[] = [];
  alarms.onChange((change) => heard.push(change));
  /** One minute of canary traffic to one target, as the canary records it: per box. */
  const minute = (targetId: string, requests: number, faults: number) => {
    const at = clock.now();
    for (let i = 0; i < requests; i++) {
      const dimensions = { target: targetId, box: String(i % 3) };
      store.put({ metric: 'RequestCount', dimensions, value: 1, at });
      store.put({ metric: 'Fault', dimensions, value: i < faults ? 1 : 0, at });
    }
  };
  const state = (name: string) => alarms.list().find((alarm) => alarm.name === name)?.state;
  const rule = (name: string) => alarms.list().find((alarm) => alarm.name === name)?.rule;
  return { clock, store, alarms, defined, heard, minute, state, rule };
}

/** beta → prod one-box (eu-west-1) → prod fleet (eu-west-1): the one-box has its own composite. */
function oneBoxDefinition(): PipelineDefinition {
  const alarms = (rollback: string) => ({ rollback, aggregate: 'team-aggregate-euw1' });
  return parsePipelineDefinition({
    name: 'api',
    kind: 'application',
    source: { repository: 'api', branch: 'main' },
    stages: [
      stage('beta', null, {
        targets: [target('beta-t1', { alarms: alarms('team-aggregate-euw1') })],
      }),
      stage('prod-onebox', 'beta', {
        phase: 'production',
        wave: 1,
        oneBox: true,
        targets: [target('prod-onebox-euw1', { alarms: alarms('api-onebox-euw1') })],
      }),
      stage('prod', 'prod-onebox', {
        phase: 'production',
        wave: 1,
        targets: [target('prod-euw1', { alarms: alarms('team-aggregate-euw1') })],
        blockingAlarms: ['api-dependency-outage'],
      }),
    ],
    organisationAlarms: ['org-large-scale-event'],
  });
}

describe('defineLocalAlarms', () => {
  it('defines every alarm the targets read, all OK without traffic', async () => {
    const definition = smallDefinition();
    const { alarms, defined } = setUp(definition);
    const read = new Set(
      definition.stages.flatMap((s) => s.targets.flatMap((t) => alarmsToCheck(definition, s, t))),
    );
    expect(read.size).toBe(8);
    const states = await alarms.describeAlarms([...read]);
    expect(Object.values(states).map((s) => s.state)).toEqual([...read].map(() => 'OK'));
    expect(defined.map(({ name, kind }) => `${kind} ${name}`)).toEqual([
      'fault-rate beta-t1-fault-rate',
      'fault-rate gamma-t1-fault-rate',
      'fault-rate prod-1-a-fault-rate',
      'fault-rate prod-1-b-fault-rate',
      'fault-rate prod-2-t1-fault-rate',
      'aggregate team-aggregate-euw1',
      'aggregate team-aggregate-use1',
      'rollback beta-t1-rollback',
      'rollback gamma-t1-rollback',
      'rollback prod-1-a-rollback',
      'rollback prod-1-b-rollback',
      'rollback prod-2-t1-rollback',
      'signal org-large-scale-event',
    ]);
    expect(defined.find((a) => a.name === 'team-aggregate-euw1')?.readers).toEqual([
      'api/beta-t1',
      'api/gamma-t1',
      'api/prod-1-a',
      'api/prod-2-t1',
    ]);
    expect(defined.find((a) => a.name === 'org-large-scale-event')?.readers).toEqual([
      'api/prod-1-a',
      'api/prod-1-b',
      'api/prod-2-t1',
    ]);
  });

  it('writes the composites as the CDK app does: ALARM("…") OR ALARM("…")', () => {
    const { rule } = setUp(smallDefinition());
    expect(rule('team-aggregate-euw1')).toBe(
      'ALARM("beta-t1-fault-rate") OR ALARM("gamma-t1-fault-rate") OR ALARM("prod-1-a-fault-rate") OR ALARM("prod-2-t1-fault-rate")',
    );
    expect(rule('team-aggregate-use1')).toBe('ALARM("prod-1-b-fault-rate")');
    expect(rule('prod-1-b-rollback')).toBe(
      'ALARM("team-aggregate-use1") OR ALARM("prod-1-b-fault-rate")',
    );
  });

  it('rolls back on a fault rate above 5% in 2 of 3 minutes, in that region only', () => {
    const { clock, alarms, minute, state, heard } = setUp(smallDefinition());
    alarms.evaluate();
    minute('prod-1-a', 100, 20); // 20%
    clock.advance(60);
    minute('prod-1-a', 100, 0);
    clock.advance(60);
    alarms.evaluate();
    expect(state('prod-1-a-fault-rate')).toBe('OK'); // 1 of 3
    minute('prod-1-a', 100, 6); // 6%
    clock.advance(60);
    alarms.evaluate();

    expect(state('prod-1-a-fault-rate')).toBe('ALARM');
    expect(state('team-aggregate-euw1')).toBe('ALARM');
    expect(state('beta-t1-rollback')).toBe('ALARM'); // through the aggregate
    expect(state('team-aggregate-use1')).toBe('OK');
    expect(state('prod-1-b-rollback')).toBe('OK');
    expect(heard.filter((c) => c.to === 'ALARM').map((c) => c.name)).toEqual([
      'prod-1-a-fault-rate',
      'team-aggregate-euw1',
      'beta-t1-rollback',
      'gamma-t1-rollback',
      'prod-1-a-rollback',
      'prod-2-t1-rollback',
    ]);
  });

  it('stays OK at 5% exactly, and takes other thresholds when told', () => {
    const strict = setUp(smallDefinition());
    const lenient = setUp(smallDefinition(), { faultRateThreshold: 0.25, datapointsToAlarm: 1 });
    for (const { clock, alarms, minute } of [strict, lenient]) {
      minute('beta-t1', 100, 5);
      clock.advance(60);
      minute('beta-t1', 100, 20);
      clock.advance(60);
      alarms.evaluate();
    }
    expect(strict.state('beta-t1-fault-rate')).toBe('OK'); // 5% does not exceed 5%
    expect(lenient.state('beta-t1-fault-rate')).toBe('OK'); // 20% does not exceed 25%
    lenient.minute('beta-t1', 100, 26);
    lenient.clock.advance(60);
    lenient.alarms.evaluate();
    expect(lenient.state('beta-t1-fault-rate')).toBe('ALARM'); // 1 of 3 is enough
  });

  it("keeps a one-box's faults out of the aggregate, and rolls the one-box back on either", () => {
    const { clock, alarms, minute, state, rule } = setUp(oneBoxDefinition());
    expect(rule('team-aggregate-euw1')).toBe(
      'ALARM("beta-t1-fault-rate") OR ALARM("prod-euw1-fault-rate")',
    );
    expect(rule('api-onebox-euw1')).toBe(
      'ALARM("team-aggregate-euw1") OR ALARM("prod-onebox-euw1-fault-rate")',
    );
    for (let i = 0; i < 2; i++) {
      minute('prod-onebox-euw1', 10, 5);
      minute('prod-euw1', 100, 0);
      clock.advance(60);
    }
    alarms.evaluate();
    expect(state('api-onebox-euw1')).toBe('ALARM');
    expect(state('team-aggregate-euw1')).toBe('OK');

    for (let i = 0; i < 3; i++) {
      minute('prod-onebox-euw1', 10, 0);
      minute('prod-euw1', 100, 50);
      clock.advance(60);
    }
    alarms.evaluate();
    expect(state('prod-onebox-euw1-fault-rate')).toBe('OK');
    expect(state('team-aggregate-euw1')).toBe('ALARM');
    expect(state('api-onebox-euw1')).toBe('ALARM');
  });

  it('makes an aggregate that only one-boxes read out of their fault rates', () => {
    const definition = parsePipelineDefinition({
      name: 'api',
      kind: 'application',
      source: { repository: 'api', branch: 'main' },
      stages: [
        stage('onebox', null, {
          oneBox: true,
          targets: [target('onebox-t1', { alarms: { rollback: 'ob', aggregate: 'agg' } })],
        }),
      ],
    });
    const { rule } = setUp(definition);
    expect(rule('agg')).toBe('ALARM("onebox-t1-fault-rate")');
    expect(rule('ob')).toBe('ALARM("agg") OR ALARM("onebox-t1-fault-rate")');
  });

  it('defines blocking and organisation alarms as signals an operator raises and clears', async () => {
    const { clock, alarms } = setUp(oneBoxDefinition());
    const states = async () =>
      Object.values(
        await alarms.describeAlarms(['org-large-scale-event', 'api-dependency-outage']),
      ).map((s) => s.state);
    expect(await states()).toEqual(['OK', 'OK']);
    alarms.setState('org-large-scale-event', 'ALARM', 'Region-wide outage declared');
    clock.advance(3600);
    alarms.evaluate();
    expect(await states()).toEqual(['ALARM', 'OK']);
    alarms.setState('org-large-scale-event', 'OK', 'Outage over');
    clock.advance(3600);
    expect(await states()).toEqual(['OK', 'OK']);
  });

  it('defines each alarm once for several pipelines sharing targets and aggregates', () => {
    const config = smallDefinition({ name: 'api-config' });
    const { defined, rule } = setUp([smallDefinition(), config]);
    expect(defined.filter((a) => a.name === 'team-aggregate-euw1')).toHaveLength(1);
    expect(defined.find((a) => a.name === 'beta-t1-fault-rate')?.readers).toEqual([
      'api/beta-t1',
      'api-config/beta-t1',
    ]);
    expect(rule('team-aggregate-use1')).toBe('ALARM("prod-1-b-fault-rate")');
  });

  it('refuses a name read in two roles', () => {
    const definition = smallDefinition();
    const clashing = parsePipelineDefinition({
      ...definition,
      stages: definition.stages.map((s) =>
        s.name === 'beta'
          ? {
              ...s,
              targets: [
                target('beta-t1', {
                  alarms: { rollback: 'team-aggregate-use1', aggregate: 'team-aggregate-euw1' },
                }),
              ],
            }
          : s,
      ),
    });
    expect(() => setUp(clashing)).toThrow(
      'Alarm "team-aggregate-use1" is read as an aggregate alarm (by api/prod-1-b) and as a rollback alarm (by api/beta-t1); give each role its own name',
    );
  });
});
