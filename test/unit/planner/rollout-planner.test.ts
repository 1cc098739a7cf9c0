import { describe, expect, it } from 'vitest';
import type { TeamDefaults } from '../../../core/index.js';
import {
  BUSINESS_HOURS,
  hours,
  minutes,
  parsePipelineDefinition,
  planRollout,
  Topology,
} from '../../../core/index.js';
import { SampleApi } from '../../../examples/sample-pipeline.js';
import { smallDefinition, stage, target } from '../../support/fixtures.js';

const iso = (date: Date | null | undefined) => date?.toISOString();

describe('planRollout', () => {
  it('adds deployment and bake times stage by stage when nothing blocks (worked example)', () => {
    // beta, gamma, prod-1, prod-2: 1 h bakes, 10 min deployments, no windows. Monday 08:00Z.
    const plan = planRollout({
      topology: new Topology(smallDefinition()),
      start: new Date('2026-11-23T08:00:00Z'),
      deploymentSeconds: minutes(10),
    });

    expect(
      plan.stages.map((s) => [s.stage, iso(s.reachedAt), iso(s.deployedAt), iso(s.approvedAt)]),
    ).toEqual([
      ['beta', '2026-11-23T08:00:00.000Z', '2026-11-23T08:10:00.000Z', '2026-11-23T09:10:00.000Z'],
      ['gamma', '2026-11-23T09:10:00.000Z', '2026-11-23T09:20:00.000Z', '2026-11-23T10:20:00.000Z'],
      [
        'prod-1',
        '2026-11-23T10:20:00.000Z',
        '2026-11-23T10:30:00.000Z',
        '2026-11-23T11:30:00.000Z',
      ],
      [
        'prod-2',
        '2026-11-23T11:30:00.000Z',
        '2026-11-23T11:40:00.000Z',
        '2026-11-23T12:40:00.000Z',
      ],
    ]);
    expect(iso(plan.completesAt)).toBe('2026-11-23T12:40:00.000Z');
    expect(plan.stages[0]?.notes).toEqual([
      'assumes 10 RequestCount data points arrive within the bake',
    ]);
  });

  it('waits for each target’s window in its own time zone', () => {
    const definition = smallDefinition();
    const windowed = parsePipelineDefinition({
      ...definition,
      stages: definition.stages.map((s) =>
        s.phase === 'production' ? { ...s, timeWindow: BUSINESS_HOURS } : s,
      ),
    });
    // Thursday 13:00Z: prod-1 is reached at 15:20Z, when Dublin is open but New York too (10:20 EST).
    const plan = planRollout({
      topology: new Topology(windowed),
      start: new Date('2026-11-26T13:00:00Z'),
      deploymentSeconds: minutes(10),
    });

    const prod1 = plan.stages.find((s) => s.stage === 'prod-1');
    expect(prod1?.targets.map((t) => [t.target, iso(t.startsAt), t.waitedSeconds])).toEqual([
      ['prod-1-a', '2026-11-26T15:20:00.000Z', 0],
      ['prod-1-b', '2026-11-26T15:20:00.000Z', 0],
    ]);
    // prod-2 (Dublin) is reached at 16:30Z Thursday: closed until Monday 09:00.
    const prod2 = plan.stages.find((s) => s.stage === 'prod-2');
    expect(iso(prod2?.targets[0]?.startsAt)).toBe('2026-11-30T09:00:00.000Z');
    expect(prod2?.targets[0]?.waitedSeconds).toBe(hours(88) + minutes(30));
    expect(iso(plan.completesAt)).toBe('2026-11-30T10:10:00.000Z');
  });

  it('extends a bake until the minimum data points are expected, and shortens it for an expedite', () => {
    const topology = new Topology(smallDefinition());
    const slow = planRollout({
      topology,
      start: new Date('2026-11-23T08:00:00Z'),
      deploymentSeconds: 0,
      dataPointsPerHour: () => 5,
    });
    expect(iso(slow.stages[0]?.approvedAt)).toBe('2026-11-23T10:00:00.000Z'); // 10 points at 5/h
    const fast = planRollout({
      topology,
      start: new Date('2026-11-23T08:00:00Z'),
      deploymentSeconds: 0,
      bakeFactor: 0.25,
    });
    expect(iso(fast.completesAt)).toBe('2026-11-23T09:00:00.000Z'); // 4 × 15 min
  });

  it('counts approval steps and says when a person must approve', () => {
    const definition = parsePipelineDefinition({
      ...smallDefinition(),
      stages: [
        stage('beta', null, {
          bake: { durationSeconds: 0, minDataPoints: 0 },
          approvalSteps: [
            { kind: 'manual-approval', name: 'release-manager', timeoutSeconds: hours(24) },
          ],
        }),
      ],
    });
    const plan = planRollout({
      topology: new Topology(definition),
      start: new Date('2026-11-23T08:00:00Z'),
      deploymentSeconds: 60,
      approvalStepSeconds: 600,
    });
    expect(iso(plan.completesAt)).toBe('2026-11-23T08:11:00.000Z');
    expect(plan.stages[0]?.notes).toEqual(['waits for a person to approve (release-manager)']);
  });

  it('takes per-target deployment times', () => {
    const plan = planRollout({
      topology: new Topology(smallDefinition()),
      start: new Date('2026-11-23T08:00:00Z'),
      deploymentSeconds: (_stage, t) => (t.id === 'prod-1-b' ? hours(2) : 0),
    });
    expect(iso(plan.stages.find((s) => s.stage === 'prod-1')?.deployedAt)).toBe(
      '2026-11-23T12:00:00.000Z',
    );
  });

  it('reports stages it cannot reach, and no completion', () => {
    const definition = parsePipelineDefinition({
      ...smallDefinition(),
      stages: [
        stage('beta', null),
        stage('frozen', 'beta', {
          targets: [target('frozen-t1')],
          timeWindow: {
            ...BUSINESS_HOURS,
            denyRanges: [
              { from: '2026-01-01T00:00:00Z', to: '2028-01-01T00:00:00Z', reason: 'freeze' },
            ],
          },
        }),
        stage('after-frozen', 'frozen'),
        stage('quiet', 'beta', { bake: { durationSeconds: 0, minDataPoints: 5 } }),
      ],
    });
    const plan = planRollout({
      topology: new Topology(definition),
      start: new Date('2026-11-23T08:00:00Z'),
      deploymentSeconds: 0,
      dataPointsPerHour: (s) => (s.name === 'quiet' ? 0 : 100),
    });
    expect(plan.unreachable).toEqual([
      { stage: 'frozen', reason: 'the time window of frozen-t1 does not open within 60 days' },
      { stage: 'after-frozen', reason: 'frozen is not reached' },
      {
        stage: 'quiet',
        reason: 'no RequestCount data points are expected, so the bake never ends',
      },
    ]);
    expect(plan.completesAt).toBeNull();
  });

  it('plans the seeds’ sample in per-Region lanes in well under half the lock-step time', () => {
    // The measurement: 26 Regions in waves 1, 1, 3, 12, rest; 3 zones; one-box then
    // fleet; deployments start Mon–Thu 09:00–16:00 in each Region's own time; one-box
    // deploys take 10 min, zonal 30; data points assumed met. Merged Monday 09:00 UTC.
    class Lanes extends SampleApi {
      protected override defaults(): TeamDefaults {
        return { ...super.defaults(), laneBy: 'region' };
      }
    }
    const start = new Date('2026-11-23T09:00:00Z');
    const hoursToEverywhere = (definition: ReturnType<SampleApi['definition']>) => {
      const plan = planRollout({
        topology: new Topology(definition),
        start,
        deploymentSeconds: (s) => (s.oneBox ? minutes(10) : minutes(30)),
      });
      return ((plan.completesAt?.getTime() ?? Number.NaN) - start.getTime()) / 3_600_000;
    };

    expect(hoursToEverywhere(new SampleApi().definition())).toBe(530.5);
    expect(hoursToEverywhere(new Lanes().definition())).toBe(215.5);
  });
});
