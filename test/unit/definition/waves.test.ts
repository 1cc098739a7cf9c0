import { describe, expect, it } from 'vitest';
import {
  hours,
  type Placement,
  REGIONS,
  regions,
  SEED_BAKES,
  splitIntoWaves,
  type TargetInput,
  type TeamDefaults,
  Topology,
  waves,
} from '../../../core/index.js';

import { ecsTarget, SampleApi } from '../../../examples/sample-pipeline.js';

const options = { target: ecsTarget, bakes: SEED_BAKES, after: 'gamma' };

describe('regions', () => {
  it('looks Regions up in the central list', () => {
    expect(regions('us-east-1', 'eu-west-1').map((r) => r.zones[0])).toEqual([
      'use1-az1',
      'euw1-az1',
    ]);
  });

  it('gives every Region a valid time zone and distinct zone ids', () => {
    const zones = REGIONS.flatMap((r) => r.zones);
    expect(new Set(zones).size).toBe(zones.length);
    for (const region of REGIONS)
      expect(() => new Intl.DateTimeFormat('en', { timeZone: region.timeZone })).not.toThrow();
  });

  it('names the fix for an unknown Region', () => {
    expect(() => regions('eu-west-9')).toThrow(
      /^Unknown Region "eu-west-9"\. Use one of us-east-1, .*, or add it to core\/definition\/regions\.ts\.$/,
    );
  });
});

describe('splitIntoWaves', () => {
  const six = REGIONS.slice(0, 6);
  it.each([
    { plan: [1, 1, 'rest'] as const, sizes: [1, 1, 4] },
    { plan: [1, 2, 3] as const, sizes: [1, 2, 3] },
    { plan: ['rest'] as const, sizes: [6] },
  ])('$plan over 6 Regions → waves of $sizes', ({ plan, sizes }) => {
    expect(splitIntoWaves(six, plan).map((w) => w.length)).toEqual(sizes);
  });

  it.each([
    { plan: [], message: 'The wave plan is empty: give at least one wave, e.g. [1, "rest"].' },
    {
      plan: ['rest', 1],
      message: "Wave plan [rest, 1]: 'rest' must be the last wave, found at position 1.",
    },
    {
      plan: [6, 'rest'],
      message:
        "Wave plan [6, rest]: no Regions are left for 'rest' (6 given); drop 'rest' or add Regions.",
    },
    {
      plan: [1, 0, 'rest'],
      message: "Wave plan [1, 0, rest]: wave 2 has size 0; expected a whole number ≥ 1 or 'rest'.",
    },
    {
      plan: [4, 4],
      message: 'Wave plan [4, 4] needs at least 8 Regions by wave 2, but 6 were given.',
    },
    {
      plan: [1, 2],
      message: "Wave plan [1, 2] covers 3 of 6 Regions; end it with 'rest' or add waves.",
    },
  ])('refuses $plan', ({ plan, message }) => {
    expect(() => splitIntoWaves(six, plan as never)).toThrow(message);
  });
});

describe('waves', () => {
  it('goes one zone at a time, one-box before fleet, with the seeds’ bakes (worked example)', () => {
    const stages = waves(regions('eu-west-1', 'us-east-1', 'us-west-2'), [1, 'rest'], {
      ...options,
      zonesPerRegion: 3,
    });

    expect(
      stages.map(
        (s) =>
          `${s.name} after ${s.after}: ${s.targets.map((t) => t.zone).join(',')} bake ${s.bake.durationSeconds / 3600}h`,
      ),
    ).toEqual([
      'prod-w1-z1-onebox after gamma: euw1-az1 bake 1h',
      'prod-w1-z1 after prod-w1-z1-onebox: euw1-az1 bake 1h',
      'prod-w1-z2-onebox after prod-w1-z1: euw1-az2 bake 1h',
      'prod-w1-z2 after prod-w1-z2-onebox: euw1-az2 bake 1h',
      'prod-w1-z3-onebox after prod-w1-z2: euw1-az3 bake 1h',
      'prod-w1-z3 after prod-w1-z3-onebox: euw1-az3 bake 12h',
      'prod-w2-z1-onebox after prod-w1-z3: use1-az1,usw2-az1 bake 1h',
      'prod-w2-z1 after prod-w2-z1-onebox: use1-az1,usw2-az1 bake 1h',
      'prod-w2-z2-onebox after prod-w2-z1: use1-az2,usw2-az2 bake 1h',
      'prod-w2-z2 after prod-w2-z2-onebox: use1-az2,usw2-az2 bake 1h',
      'prod-w2-z3-onebox after prod-w2-z2: use1-az3,usw2-az3 bake 1h',
      'prod-w2-z3 after prod-w2-z3-onebox: use1-az3,usw2-az3 bake 3h',
    ]);
    expect(
      stages.every((s) => s.phase === 'production' && s.oneBox === s.name.endsWith('-onebox')),
    ).toBe(true);
  });

  it('puts each Region of a wave in a lane of its own with laneBy region, joined before the next wave', () => {
    const stages = waves(
      regions('eu-west-1', 'us-east-1', 'us-west-2', 'eu-central-1'),
      [1, 2, 'rest'],
      {
        ...options,
        zonesPerRegion: 2,
        laneBy: 'region',
      },
    );
    const after = (s: (typeof stages)[number]) => [s.after ?? []].flat().join(' + ');

    expect(
      stages.map(
        (s) =>
          `${s.name} after ${after(s)}: ${s.targets.map((t) => t.zone).join(',')} bake ${s.bake.durationSeconds / 3600}h`,
      ),
    ).toEqual([
      'prod-w1-eu-west-1-z1-onebox after gamma: euw1-az1 bake 1h',
      'prod-w1-eu-west-1-z1 after prod-w1-eu-west-1-z1-onebox: euw1-az1 bake 1h',
      'prod-w1-eu-west-1-z2-onebox after prod-w1-eu-west-1-z1: euw1-az2 bake 1h',
      'prod-w1-eu-west-1-z2 after prod-w1-eu-west-1-z2-onebox: euw1-az2 bake 12h',
      // Wave 2 fans out: each Region's lane follows wave 1.
      'prod-w2-us-east-1-z1-onebox after prod-w1-eu-west-1-z2: use1-az1 bake 1h',
      'prod-w2-us-east-1-z1 after prod-w2-us-east-1-z1-onebox: use1-az1 bake 1h',
      'prod-w2-us-east-1-z2-onebox after prod-w2-us-east-1-z1: use1-az2 bake 1h',
      'prod-w2-us-east-1-z2 after prod-w2-us-east-1-z2-onebox: use1-az2 bake 3h',
      'prod-w2-us-west-2-z1-onebox after prod-w1-eu-west-1-z2: usw2-az1 bake 1h',
      'prod-w2-us-west-2-z1 after prod-w2-us-west-2-z1-onebox: usw2-az1 bake 1h',
      'prod-w2-us-west-2-z2-onebox after prod-w2-us-west-2-z1: usw2-az2 bake 1h',
      'prod-w2-us-west-2-z2 after prod-w2-us-west-2-z2-onebox: usw2-az2 bake 3h',
      // Wave 3 joins: it starts once both lanes of wave 2 approved the release.
      'prod-w3-eu-central-1-z1-onebox after prod-w2-us-east-1-z2 + prod-w2-us-west-2-z2: euc1-az1 bake 1h',
      'prod-w3-eu-central-1-z1 after prod-w3-eu-central-1-z1-onebox: euc1-az1 bake 1h',
      'prod-w3-eu-central-1-z2-onebox after prod-w3-eu-central-1-z1: euc1-az2 bake 1h',
      'prod-w3-eu-central-1-z2 after prod-w3-eu-central-1-z2-onebox: euc1-az2 bake 3h',
    ]);
  });

  it('builds the seeds’ sample in lanes: a valid graph with one stage per Region and step', () => {
    class Lanes extends SampleApi {
      protected override defaults(): TeamDefaults {
        return { ...super.defaults(), laneBy: 'region' };
      }
    }
    const definition = new Lanes().definition();
    const topology = new Topology(definition);
    const production = definition.stages.filter((s) => s.phase === 'production');

    // 26 Regions × 3 zones × (one-box + fleet); every stage one target.
    expect(production).toHaveLength(26 * 3 * 2);
    expect(production.every((s) => s.targets.length === 1)).toBe(true);
    expect(topology.upstreamOf('prod-w5-af-south-1-z1-onebox')).toHaveLength(12);
    expect(definition.stages).toHaveLength(160);
    expect(topology.leaves).toHaveLength(9); // the lanes of the last wave
    for (const stage of production) {
      expect(new Set(stage.targets.map((t) => t.region)).size).toBe(1);
    }
  });

  it('never deploys two zones of one Region in the same stage', () => {
    const stages = waves(REGIONS, [1, 1, 3, 12, 'rest'], options);
    for (const stage of stages) {
      const codes = stage.targets.map((t) => t.region);
      expect(new Set(codes).size).toBe(codes.length);
    }
  });

  it('skips Regions that have fewer zones in the later steps', () => {
    const stages = waves(regions('us-west-1', 'us-east-1'), ['rest'], options);
    expect(stages.map((s) => s.targets.map((t) => t.region).join(','))).toEqual([
      'us-west-1,us-east-1',
      'us-west-1,us-east-1',
      'us-west-1,us-east-1',
      'us-west-1,us-east-1',
      'us-east-1',
      'us-east-1',
      'us-east-1',
      'us-east-1',
      'us-east-1',
      'us-east-1',
      'us-east-1',
      'us-east-1',
    ]);
  });

  it('can go one cell at a time instead of one zone', () => {
    const stages = waves(regions('eu-west-1'), ['rest'], {
      ...options,
      unit: { kind: 'cell', cells: 2 },
      namePrefix: 'cfg',
    });
    expect(stages.map((s) => `${s.name}:${s.targets[0]?.zone}`)).toEqual([
      'cfg-w1-c1-onebox:cell1',
      'cfg-w1-c1:cell1',
      'cfg-w1-c2-onebox:cell2',
      'cfg-w1-c2:cell2',
    ]);
  });
});

/** The seeds' sample: 26 Regions in waves of 1, 1, 3, 12 and the rest, 3 zones each. */
/** A service that keeps the team's Regions but bakes longer and skips alpha. */
class CautiousApi extends SampleApi {
  override readonly name = 'ledger';
  protected override defaults(): TeamDefaults {
    const team = super.defaults();
    return {
      ...team,
      bakes: {
        ...team.bakes,
        afterWave: (wave) => ({ durationSeconds: hours(wave === 1 ? 24 : 4), minDataPoints: 500 }),
      },
      preProduction: { ...team.preProduction, alpha: false },
    };
  }
}

describe('TeamPipeline', () => {
  it('builds the seeds’ sample: pre-production, then 5 waves over 26 Regions (33 stages, 159 targets beyond alpha)', () => {
    const definition = new SampleApi().definition();
    const withoutAlpha = definition.stages.filter((s) => s.name !== 'alpha');

    expect(
      definition.stages.slice(0, 4).map((s) => `${s.name}${s.oneBox ? ' (one-box)' : ''}`),
    ).toEqual(['alpha', 'beta', 'gamma-onebox (one-box)', 'gamma']);
    expect(withoutAlpha).toHaveLength(33);
    expect(withoutAlpha.reduce((n, s) => n + s.targets.length, 0)).toBe(159);
    expect([...new Set(definition.stages.map((s) => s.wave))]).toEqual([null, 1, 2, 3, 4, 5]);
    expect(definition.stages.find((s) => s.name === 'prod-w5-z1')?.targets).toHaveLength(9);
    expect(definition.stages.find((s) => s.name === 'prod-w1-z3')?.bake.durationSeconds).toBe(
      hours(12),
    );
    expect(definition.stages.find((s) => s.name === 'prod-w1-z1')?.timeWindow?.allow).toEqual([
      { days: ['mon', 'tue', 'wed', 'thu'], start: '09:00', end: '16:00' },
    ]);
    expect(new Topology(definition).leaves).toEqual(['prod-w5-z3']);
  });

  it('lets a service override the team defaults it inherits', () => {
    const definition = new CautiousApi().definition();
    expect(definition.name).toBe('ledger');
    expect(definition.stages[0]?.name).toBe('beta');
    expect(definition.stages.find((s) => s.name === 'prod-w1-z3')?.bake).toEqual({
      durationSeconds: hours(24),
      minDataPoints: 500,
      dataPointMetric: 'RequestCount',
    });
    expect(
      definition.stages.find((s) => s.name === 'prod-w1-z1-onebox')?.bake.durationSeconds,
    ).toBe(hours(1));
  });

  it('serialises to JSON and back without loss', () => {
    const definition = new SampleApi().definition();
    expect(JSON.parse(JSON.stringify(definition))).toEqual(definition);
  });

  it('fails with the definition’s issues when the service builds a bad target', () => {
    class Broken extends SampleApi {
      protected override target(placement: Placement): TargetInput {
        return { ...ecsTarget(placement), account: 'prod' };
      }
    }
    expect(() => new Broken().definition()).toThrow(
      'stages[0].targets[0].account: expected a 12-digit AWS account id or "local", got "prod"',
    );
  });
});
