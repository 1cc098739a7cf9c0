import { describe, expect, it } from 'vitest';
import {
  type AlarmState,
  alarmsToCheck,
  type BlockerInput,
  BUSINESS_HOURS,
  commitsNewTo,
  evaluateBlockers,
  type KnownBad,
  knownBadMatches,
  type Override,
  Topology,
} from '../../../core/index.js';
import { release, smallDefinition, T0 } from '../../support/fixtures.js';

const definition = smallDefinition();
const topology = new Topology(definition);
const prod = { ...topology.stage('prod-1'), timeWindow: BUSINESS_HOURS };
const target = topology.target('prod-1', 'prod-1-a');
const quietAlarms: Record<string, AlarmState> = {
  'team-aggregate-euw1': 'OK',
  'prod-1-a-rollback': 'OK',
  'org-large-scale-event': 'OK',
};

const input = (overrides: Partial<BlockerInput> = {}): BlockerInput => ({
  definition,
  stage: prod,
  target,
  release: release(7),
  newCommits: release(7).commits,
  promotionsIn: { enabled: true },
  alarms: quietAlarms,
  knownBad: [],
  overrides: [],
  now: new Date(T0), // Monday 10:00 in Dublin: the window is open
  ...overrides,
});

const bad = (kind: KnownBad['kind'], value: string): KnownBad => ({
  kind,
  value,
  by: 'ana',
  reason: 'CVE',
  at: T0,
});

describe('alarmsToCheck', () => {
  it('checks the target’s alarms, and in production the organisation-wide ones', () => {
    expect(alarmsToCheck(definition, prod, target)).toEqual([
      'team-aggregate-euw1',
      'prod-1-a-rollback',
      'org-large-scale-event',
    ]);
    expect(
      alarmsToCheck(definition, topology.stage('beta'), topology.target('beta', 'beta-t1')),
    ).toEqual(['team-aggregate-euw1', 'beta-t1-rollback']);
  });
});

describe('evaluateBlockers', () => {
  it('finds nothing when it is safe to start', () => {
    expect(evaluateBlockers(input())).toEqual({ blockers: [], overridden: [] });
  });

  // Each row: one unsafe condition and the blocker it must raise.
  it.each([
    {
      name: 'the aggregate alarm in ALARM',
      change: { alarms: { ...quietAlarms, 'team-aggregate-euw1': 'ALARM' as const } },
      kind: 'alarm',
      reason: 'alarm team-aggregate-euw1 is in ALARM',
    },
    {
      name: 'an organisation-wide alarm in ALARM',
      change: { alarms: { ...quietAlarms, 'org-large-scale-event': 'ALARM' as const } },
      kind: 'alarm',
      reason: 'alarm org-large-scale-event is in ALARM',
    },
    {
      name: 'an alarm that does not exist',
      change: {
        alarms: { 'team-aggregate-euw1': 'OK' as const, 'org-large-scale-event': 'OK' as const },
      },
      kind: 'alarm',
      reason:
        'alarm prod-1-a-rollback does not exist: create it or fix the name in the pipeline definition',
    },
    {
      name: 'a closed window',
      change: { now: new Date('2026-11-27T10:00:00Z') },
      kind: 'time-window',
      reason:
        'outside the allow windows mon,tue,wed,thu 09:00–16:00 (Europe/Dublin): it is fri 10:00 there',
    },
    {
      name: 'a known-bad release',
      change: { knownBad: [bad('release', 'r7')] },
      kind: 'known-bad',
      reason: 'r7 contains known-bad release r7 (CVE)',
    },
    {
      name: 'a known-bad image digest',
      change: { knownBad: [bad('artifact', `sha256:${'7'.padStart(64, '0')}`)] },
      kind: 'known-bad',
      reason: `r7 contains known-bad artifact sha256:${'7'.padStart(64, '0')} (CVE)`,
    },
    {
      name: 'a known-bad dependency',
      change: { knownBad: [bad('dependency', 'left-pad@1.3.0')] },
      kind: 'known-bad',
      reason: 'r7 contains known-bad dependency left-pad@1.3.0 (CVE)',
    },
    {
      name: 'promotions disabled',
      change: { promotionsIn: { enabled: false as const, by: 'ana', reason: 'rollback', at: T0 } },
      kind: 'promotions-disabled',
      reason: 'promotions into prod-1 were disabled by ana: rollback',
    },
    {
      name: 'an unreviewed commit in production',
      change: {
        newCommits: [{ sha: 'abcdef1234', author: 'x', message: 'hotfix', review: null }],
      },
      kind: 'unreviewed',
      reason: 'r7 would deploy commits without an approved review: abcdef1',
    },
  ])('blocks on $name', ({ change, kind, reason }) => {
    const { blockers } = evaluateBlockers(input(change as Partial<BlockerInput>));
    expect(blockers.map((b) => [b.kind, b.reason])).toEqual([[kind, reason]]);
  });

  it('tells when a closed window opens again', () => {
    const { blockers } = evaluateBlockers(input({ now: new Date('2026-11-27T10:00:00Z') }));
    expect(blockers[0]?.until).toBe('2026-11-30T09:00:00.000Z');
  });

  it('says when a window will not open for 60 days', () => {
    const frozen = {
      ...prod,
      timeWindow: {
        ...BUSINESS_HOURS,
        denyRanges: [
          { from: '2026-01-01T00:00:00Z', to: '2027-12-31T00:00:00Z', reason: 'freeze' },
        ],
      },
    };
    const { blockers } = evaluateBlockers(input({ stage: frozen }));
    expect(blockers[0]?.reason).toBe(
      'freeze (until 2027-12-31T00:00:00Z); it does not open in the next 60 days',
    );
    expect(blockers[0]?.until).toBeNull();
  });

  it('does not hold unreviewed commits in pre-production', () => {
    const unreviewed = release(7, {
      commits: [
        {
          sha: 'abcdef1234',
          author: 'x',
          message: 'x',
          review: { pullRequest: '#1', approvedBy: [] },
        },
      ],
    });
    expect(
      evaluateBlockers(
        input({
          stage: topology.stage('beta'),
          target: topology.target('beta', 'beta-t1'),
          release: unreviewed,
          newCommits: unreviewed.commits,
          alarms: { 'team-aggregate-euw1': 'OK', 'beta-t1-rollback': 'OK' },
        }),
      ).blockers,
    ).toEqual([]);
  });

  const override = (overrides: Partial<Override>): Override => ({
    id: 'o-1',
    kind: 'alarm',
    subject: 'team-aggregate-euw1',
    stage: null,
    release: null,
    by: 'ana',
    reason: 'this release is the fix',
    at: T0,
    until: '2026-11-23T12:00:00.000Z',
    ...overrides,
  });
  const alarming = { alarms: { ...quietAlarms, 'team-aggregate-euw1': 'ALARM' as const } };

  // Each row: an override and whether it lifts the aggregate alarm blocker at prod-1 for r7 at T0.
  it.each([
    { name: 'matching', change: {}, lifts: true },
    { name: 'for any alarm', change: { subject: null }, lifts: true },
    { name: 'for this stage and release', change: { stage: 'prod-1', release: 7 }, lifts: true },
    { name: 'for another alarm', change: { subject: 'other' }, lifts: false },
    { name: 'for another stage', change: { stage: 'prod-2' }, lifts: false },
    { name: 'for another release', change: { release: 8 }, lifts: false },
    { name: 'for another kind', change: { kind: 'time-window' as const }, lifts: false },
    { name: 'expired', change: { until: T0 }, lifts: false },
    { name: 'not yet in force', change: { at: '2026-11-23T11:00:00.000Z' }, lifts: false },
  ])('an override $name → lifts $lifts', ({ change, lifts }) => {
    const result = evaluateBlockers(input({ ...alarming, overrides: [override(change)] }));
    expect(result.blockers.length === 0).toBe(lifts);
    expect(result.overridden.length === 1).toBe(lifts);
  });

  it('never lets an override lift promotions disabled', () => {
    const gate = { promotionsIn: { enabled: false as const, by: 'ana', reason: 'x', at: T0 } };
    const any = override({ kind: 'alarm', subject: null });
    expect(
      evaluateBlockers(input({ ...gate, overrides: [any] })).blockers.map((b) => b.kind),
    ).toEqual(['promotions-disabled']);
  });
});

describe('knownBadMatches', () => {
  const r = release(3, {
    artifacts: {
      images: [],
      files: [{ name: 'fn.zip', key: 'k', sha256: 'ab'.repeat(32) }],
      dependencies: [],
    },
  });
  it.each([
    { entry: bad('artifact', 'ab'.repeat(32)), matches: true },
    { entry: bad('artifact', `sha256:${'ab'.repeat(32)}`), matches: true },
    { entry: bad('artifact', 'cd'.repeat(32)), matches: false },
    { entry: bad('release', 'r4'), matches: false },
    { entry: bad('dependency', 'left-pad@1.3.0'), matches: false },
  ])('$entry.kind $entry.value → $matches', ({ entry, matches }) => {
    expect(knownBadMatches(entry, r)).toBe(matches);
  });
});

describe('commitsNewTo', () => {
  const releases = [release(1), release(2), release(3)];
  it.each([
    { deployed: 1, upTo: 3, shas: ['c2', 'c3'] },
    { deployed: null, upTo: 2, shas: ['c1', 'c2'] },
    { deployed: 3, upTo: 3, shas: [] },
  ])('running r$deployed, deploying r$upTo → commits of $shas', ({ deployed, upTo, shas }) => {
    expect(commitsNewTo(deployed, releases, upTo).map((c) => c.sha.slice(0, 2))).toEqual(shas);
  });

  it('refuses to guess when a release in between is missing', () => {
    expect(() => commitsNewTo(0, [release(1), release(3)], 3)).toThrow(
      'The commits new to a target running r0 need every release up to r3; r2 was not given.',
    );
  });
});
