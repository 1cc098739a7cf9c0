import { describe, expect, it } from 'vitest';
import {
  days,
  executionName,
  formatDuration,
  hours,
  laterOutcome,
  minutes,
  NotFoundError,
  parseRelease,
  releaseLabel,
  Topology,
  unreviewedCommits,
} from '../../../core/index.js';
import { release, smallDefinition } from '../../support/fixtures.js';

describe('durations', () => {
  it.each([
    { seconds: 0, text: '0s' },
    { seconds: 59, text: '59s' },
    { seconds: hours(12) + minutes(30), text: '12h 30m' },
    { seconds: days(2) + 5, text: '2d 5s' },
  ])('$seconds s → $text', ({ seconds, text }) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('names', () => {
  it('labels releases and names executions so a person can read them', () => {
    expect(releaseLabel(42)).toBe('r42');
    expect(executionName('api', 'gamma', { kind: 'normal', release: 42, seq: 3, attempt: 1 })).toBe(
      'api_gamma_r42-1',
    );
    expect(
      executionName('api', 'gamma', { kind: 'rollback', release: 42, seq: 3, attempt: 2 }),
    ).toBe('api_gamma_rollback3-2');
  });

  it('keeps the longest execution name within Step Functions’ 80 characters', () => {
    const name = executionName('p'.repeat(24), 's'.repeat(40), {
      kind: 'normal',
      release: 999_999,
      seq: 1,
      attempt: 99,
    });
    expect(name.length).toBeLessThanOrEqual(80);
  });
});

describe('unreviewedCommits', () => {
  it('finds commits without a review or without an approver', () => {
    const r = release(1, {
      commits: [
        {
          sha: 'a',
          author: 'x',
          message: 'reviewed',
          review: { pullRequest: '#1', approvedBy: ['y'] },
        },
        { sha: 'b', author: 'x', message: 'pushed', review: null },
        {
          sha: 'c',
          author: 'x',
          message: 'self-merged',
          review: { pullRequest: '#2', approvedBy: [] },
        },
      ],
    });
    expect(unreviewedCommits(r).map((c) => c.sha)).toEqual(['b', 'c']);
  });
});

describe('Topology', () => {
  const topology = new Topology(smallDefinition());

  it('knows the order of stages, their roots, leaves and descendants', () => {
    expect(topology.roots).toEqual(['beta']);
    expect(topology.leaves).toEqual(['prod-2']);
    expect(topology.downstreamOf('gamma')).toEqual(['prod-1']);
    expect(topology.downstreamOf('nope')).toEqual([]);
    expect(topology.descendantsOf('gamma')).toEqual(['prod-1', 'prod-2']);
    expect(topology.stageOfTarget('prod-1-b')).toBe('prod-1');
  });

  it.each([
    {
      call: () => topology.stage('delta'),
      message: 'Pipeline api has no stage "delta"; its stages are beta, gamma, prod-1, prod-2.',
    },
    {
      call: () => topology.target('prod-1', 'x'),
      message: 'Stage prod-1 has no target "x"; its targets are prod-1-a, prod-1-b.',
    },
    { call: () => topology.stageOfTarget('x'), message: 'Pipeline api has no target "x".' },
  ])('names what exists when asked for what does not: $message', ({ call, message }) => {
    expect(call).toThrow(NotFoundError);
    expect(call).toThrow(message);
  });
});

describe('laterOutcome', () => {
  const at = (h: number) => `2026-11-23T${String(h).padStart(2, '0')}:00:00.000Z`;
  // A redelivered old outcome must not overwrite a newer one.
  it.each([
    { current: undefined, incoming: { status: 'pending' as const, at: at(9) }, replaces: true },
    {
      current: { status: 'pending' as const, at: at(9) },
      incoming: { status: 'in-flight' as const, at: at(10) },
      replaces: true,
    },
    {
      current: { status: 'approved' as const, at: at(11) },
      incoming: { status: 'pending' as const, at: at(9) },
      replaces: false,
    },
    {
      current: { status: 'approved' as const, at: at(11) },
      incoming: { status: 'in-flight' as const, at: at(10) },
      replaces: false,
    },
    {
      current: { status: 'blocked' as const, at: at(10), reason: 'x' },
      incoming: { status: 'in-flight' as const, at: at(11) },
      replaces: true,
    },
    {
      current: { status: 'in-flight' as const, at: at(11) },
      incoming: { status: 'blocked' as const, at: at(10), reason: 'x' },
      replaces: false,
    },
    {
      current: { status: 'approved' as const, at: at(11) },
      incoming: { status: 'rejected' as const, at: at(12), reason: 'rolled back' },
      replaces: true,
    },
  ])(
    '$current.status → $incoming.status: replaces $replaces',
    ({ current, incoming, replaces }) => {
      expect(laterOutcome(current, incoming)).toBe(replaces);
    },
  );
});

describe('parseRelease', () => {
  it.each([
    ['r42', 42],
    ['42', 42],
    ['r0', null],
    ['latest', null],
    ['r1e3', null],
    ['r9999999', null],
  ])('%s → %s', (raw, expected) => {
    expect(parseRelease(raw)).toBe(expected);
  });
});
