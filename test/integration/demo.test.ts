import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '../../core/index.js';
import { type DemoResult, runDemo } from '../../local/demo.js';

let dataDir: string | undefined;
afterAll(async () => {
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

/** The demo of `npm start`, end to end, on a clock the demo moves. */
describe('the demo', { timeout: 600_000 }, () => {
  let result: DemoResult;
  const events: PipelineEvent[] = [];

  it('holds every expectation', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'captain-demo-'));
    // The demo moves the clock itself, each step once the work of the one before is done.
    result = await runDemo({ dataDir, onEvent: (e) => events.push(e) });
    expect(result.expectations.filter((e) => !e.held)).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('tells the story in order: r3 takes the stage where it superseded r2, r4 is rolled back after its alarm', () => {
    const index = (type: string, stage: string | null, release: number) =>
      events.findIndex(
        (e) =>
          e.type === type &&
          (stage === null || e.detail.stage === stage) &&
          e.detail.release === release,
      );
    const superseded = index('Release Superseded', null, 2);
    const r3Gamma = index('Stage Approved', 'gamma', 3);
    const r4Created = index('Release Created', null, 4);
    const r4Rollback = index('Rollback Started', 'gamma-onebox', 4);
    const r4Completed = index('Rollback Completed', 'gamma-onebox', 4);
    expect(superseded).toBeGreaterThan(-1);
    const where = events[superseded]?.detail.stage ?? null;
    expect(index('Stage Approved', where, 3)).toBeGreaterThan(superseded);
    expect(r3Gamma).toBeLessThan(r4Created);
    expect(r4Created).toBeLessThan(r4Rollback);
    expect(r4Rollback).toBeLessThan(r4Completed);
    // The rollback names the alarm that tripped it.
    expect(events[r4Rollback]?.detail.reason).toMatch(/demo-onebox-gamma-us-west-2|alarm/);
  });

  it('keeps the safety properties over the recorded history', () => {
    // One deployment at a time per target, rollbacks included, read from what the fleets'
    // deployer did (rollback deployments have no "Deployment Started" event of their own).
    const deployments = result.runtime.deployer.deployments();
    const byTarget = new Map<string, (typeof deployments)[number][]>();
    for (const d of deployments) byTarget.set(d.target, [...(byTarget.get(d.target) ?? []), d]);
    for (const [target, list] of byTarget) {
      const sorted = [...list].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
      sorted.forEach((d, i) => {
        const previous = sorted[i - 1];
        if (previous === undefined) return;
        expect(
          previous.endedAt,
          `${target}: ${d.deploymentId} started while ${previous.deploymentId} ran`,
        ).not.toBeNull();
        expect(
          (previous.endedAt as string) <= d.startedAt,
          `${target}: ${d.deploymentId} overlaps ${previous.deploymentId}`,
        ).toBe(true);
      });
    }
    // Every deployment ended, and r4's one-box was rolled back by a deployment of its own.
    expect(deployments.filter((d) => d.endedAt === null)).toEqual([]);
    expect(
      deployments.filter((d) => d.target === 'gamma-onebox-us-west-2' && d.kind === 'rollback'),
    ).toEqual([expect.objectContaining({ status: 'succeeded', release: 3 })]);
    // A superseded or rejected release never deploys again afterwards.
    const r2After = events.slice(
      events.findIndex((e) => e.type === 'Release Superseded' && e.detail.release === 2),
    );
    expect(
      r2After.filter((e) => e.type === 'Deployment Started' && e.detail.release === 2),
    ).toEqual([]);
    // Production only ever ran releases approved in gamma.
    const gammaApproved = new Set(
      events
        .filter((e) => e.type === 'Stage Approved' && e.detail.stage === 'gamma')
        .map((e) => e.detail.release),
    );
    const production = new Set(
      result.definition.stages.filter((s) => s.phase === 'production').map((s) => s.name),
    );
    for (const e of events.filter(
      (e) => e.type === 'Deployment Started' && production.has(e.detail.stage ?? ''),
    )) {
      expect(gammaApproved.has(e.detail.release)).toBe(true);
    }
  });
});
