import { describe, expect, it } from 'vitest';
import {
  type Place,
  RegionalAlarmMonitor,
  RegionalMetricSource,
} from '../../../../adapters/aws/regional-cloudwatch.js';
import {
  FakeAlarmMonitor,
  FakeMetricSource,
  parsePipelineDefinition,
  Topology,
} from '../../../../core/index.js';
import { smallDefinition, T0 } from '../../../support/fixtures.js';

// prod-1-a is in eu-west-1, prod-1-b in us-east-1 (same account); both name their alarms.
const topology = new Topology(smallDefinition());
const key = (place: Place) => (place === 'home' ? 'home' : `${place.account}/${place.region}`);

describe('RegionalAlarmMonitor', () => {
  it('asks each account and Region for its own alarms, and home for the others', async () => {
    const monitors = new Map<string, FakeAlarmMonitor>();
    const asked: string[] = [];
    const alarms = new RegionalAlarmMonitor(topology, (place) => {
      const monitor = new FakeAlarmMonitor();
      monitor.set('prod-1-b-rollback', key(place) === '123456789012/us-east-1' ? 'ALARM' : 'OK');
      monitor.set('prod-1-a-rollback', 'OK');
      monitor.set('org-large-scale-event', key(place) === 'home' ? 'OK' : 'ALARM');
      monitors.set(key(place), monitor);
      return {
        describeAlarms: async (names) => {
          asked.push(`${key(place)}: ${names.join(', ')}`);
          return monitor.describeAlarms(names);
        },
      };
    });

    const states = await alarms.describeAlarms([
      'prod-1-a-rollback',
      'prod-1-b-rollback',
      'org-large-scale-event',
      'prod-1-a-rollback',
    ]);

    expect(asked.sort()).toEqual([
      '123456789012/eu-west-1: prod-1-a-rollback',
      '123456789012/us-east-1: prod-1-b-rollback',
      'home: org-large-scale-event',
    ]);
    expect(states['prod-1-b-rollback']?.state).toBe('ALARM');
    expect(states['org-large-scale-event']?.state).toBe('OK');
  });

  it('refuses one alarm name in two Regions: CloudWatch names are per Region', () => {
    const base = smallDefinition();
    const clash = parsePipelineDefinition({
      ...base,
      stages: base.stages.map((s) =>
        s.name === 'prod-1'
          ? {
              ...s,
              targets: s.targets.map((t) => ({
                ...t,
                alarms: { ...t.alarms, aggregate: 'team-aggregate' },
              })),
            }
          : s,
      ),
    });

    expect(
      () => new RegionalAlarmMonitor(new Topology(clash), () => new FakeAlarmMonitor()),
    ).toThrow(
      'Alarm team-aggregate is named by targets in 123456789012/eu-west-1 and in 123456789012/us-east-1',
    );
  });
});

describe('RegionalMetricSource', () => {
  it('counts each target where it lives, each on its own', async () => {
    const prod1 = topology.stage('prod-1').targets;
    const sources = new Map<string, FakeMetricSource>();
    const metrics = new RegionalMetricSource((place) => {
      const source = new FakeMetricSource();
      sources.set(key(place), source);
      // Each Region only knows its own target's requests.
      for (const t of prod1)
        if (t.region === (place as { region: string }).region)
          source.add('RequestCount', t.id, new Date(T0), t.region === 'eu-west-1' ? 5 : 7);
      return source;
    });

    const count = await metrics.countDataPoints({
      metric: 'RequestCount',
      targets: prod1,
      from: new Date(Date.parse(T0) - 1000),
      to: new Date(Date.parse(T0) + 1000),
    });

    expect(count).toEqual(
      Object.fromEntries(prod1.map((t) => [t.id, t.region === 'eu-west-1' ? 5 : 7])),
    );
    expect([...sources.keys()].sort()).toEqual([
      '123456789012/eu-west-1',
      '123456789012/us-east-1',
    ]);
  });
});
