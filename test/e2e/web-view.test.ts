import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReleaseDetail } from '../../core/index.js';
import { commitDemoVersion, type DemoResult, runDemo } from '../../local/demo.js';
import { launchChromium } from '../support/chromium.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/**
 * How long the page may take to show what the pipeline did: the clock runs as fast as the
 * work allows, so this only bounds how long a failure takes to show.
 */
const MOVE = { timeout: 240_000, interval: 200 };
/** How long a page may take to appear after a click. */
const SOON = { timeout: 15_000 };

/**
 * The web view in Debian's chromium over the demo's end state (r1 and r3 everywhere, r2
 * superseded, r4 rolled back at the gamma one-box; beta runs r4). The tests follow one
 * operator through the pages in order, so each starts where the one before left the
 * pipeline: read the pipeline, a release, a history and a commit's whereabouts; roll
 * prod-w1-z1 back to r1 and enable its promotions again; then commit r5 and watch it
 * move, through prod-w1-z1 too, without reloading the page. The rollback comes before
 * r5 so that prod-w1-z1 still runs r3 when it is previewed.
 */
describe('the web view', { timeout: 900_000 }, () => {
  let dataDir: string;
  let shotsDir: string;
  let demo: DemoResult;
  let browser: Browser;
  let page: Page;
  let url: string;
  const problems: string[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'captain-web-'));
    shotsDir = await mkdtemp(join(tmpdir(), 'captain-web-shots-'));
    // The first run on a fresh machine installs chromium with apt-get while the demo runs.
    const launched = launchChromium();
    demo = await runDemo({ dataDir, keepRunning: true });
    browser = await launched;
    expect(demo.ok).toBe(true);
    // The demo moved the clock itself; from here on it runs on its own, as behind `npm start`.
    demo.runtime.runFreely();
    url = demo.runtime.apiUrl ?? '';
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // A Content-Security-Policy violation means something inline slipped in.
      if (/Content Security Policy|Refused to/i.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(shotsDir, { recursive: true, force: true });
  });

  const text = (testid: string) => page.getByTestId(testid).innerText();
  const shoot = async (name: string, fullPage = false) => {
    const path = join(shotsDir, `${name}.png`);
    await page.screenshot({ path, fullPage });
    return path;
  };

  it('shows every stage with the release it runs, and the recent releases with their outcomes', async () => {
    // Act
    await page.goto(`${url}/#/`);

    // Assess
    await page.getByTestId('stage-beta').waitFor();
    const stages = demo.definition.stages.map((stage) => stage.name);
    for (const stage of stages) {
      expect(await text(`stage-${stage}-release`), stage).toBe(stage === 'beta' ? 'r4' : 'r3');
      expect(await text(`stage-${stage}-step`), stage).toBe('idle');
      expect(await text(`stage-${stage}-gates`), stage).toBe('enabled');
    }
    // A wave's stages sit side by side, in one group.
    expect(await page.getByTestId('group-prod-w1-z1-onebox+prod-w1-z1').count()).toBe(1);
    const r4 = await text('release-row-4');
    expect(r4).toContain('rejected');
    expect(await text('release-row-2')).toContain('superseded');
    expect((await text('release-row-3')).match(/approved/g)).toHaveLength(stages.length);
    expect(await text('pipeline-summary')).toContain('Newest release r4');
    await shoot('pipeline', true);
  });

  it('shows a release: its commits and reviews, artifacts, outcome and execution per stage', async () => {
    // Act
    await page.getByTestId('release-row-3').getByRole('link', { name: 'r3' }).click();

    // Assess
    await expect.poll(() => text('page-title'), SOON).toBe('r3 of demo');
    expect(await text('release-commits')).toMatch(/Version 3\s+ana\s+reviewed by bo/);
    expect(await text('release-artifacts')).toContain('service.json');
    expect(await text('release-stage-prod-w1-z1')).toMatch(/approved.*demo_prod-w1-z1_r3-1/s);
    expect(page.url()).toMatch(/#\/release\/3$/);
    await shoot('release');
  });

  it('shows a target’s deployments newest first, with the commits each brought', async () => {
    // Prepare
    await page.goto(`${url}/#/`);
    const target = 'prod-w1-z1-eu-north-1-eun1-az1';

    // Act
    await page.getByTestId(`target-${target}`).getByRole('link', { name: target }).click();

    // Assess
    await expect.poll(() => text('page-title'), SOON).toBe(`History of ${target}`);
    const entries = page.getByTestId('history-entry');
    await entries.first().waitFor();
    expect(await entries.count()).toBe(2);
    expect(await entries.nth(0).innerText()).toMatch(/r1\s*→\s*r3[\s\S]*normal[\s\S]*succeeded/);
    expect(await entries.nth(0).innerText()).toMatch(/\+ \w{8} Version 3[\s\S]*\+ \w{8} Version 2/);
    expect(await entries.nth(1).innerText()).toMatch(/–\s*→\s*r1[\s\S]*Version 1/);
    await shoot('history');
  });

  it('finds where a commit runs from the pipeline page’s search box', async () => {
    // Prepare
    const r3 = (await (
      await fetch(`${url}/api/pipelines/demo/releases/3`)
    ).json()) as ReleaseDetail;
    const sha = r3.release.headCommit;
    await page.goto(`${url}/#/`);

    // Act
    await page.getByTestId('where-input').fill(sha.slice(0, 10));
    await page.getByTestId('where-submit').click();

    // Assess
    await expect.poll(() => text('where-commit'), SOON).toMatch(/Version 3 by ana, new in r3/);
    expect(await text('where-beta-us-west-2')).toMatch(/r4\s+yes/);
    expect(await text('where-prod-w3-z1-us-west-2-usw2-az1')).toMatch(/r3\s+yes\s+\d{4}-/);
    expect(page.url()).toContain(`#/where/${sha.slice(0, 10)}`);
    await shoot('where');
  });

  it('rolls prod-w1-z1 back to r1 through preview and confirmation, then shows its promotions disabled', async () => {
    // Prepare
    await page.goto(`${url}/#/`);
    await page.getByTestId('rollback-link-prod-w1-z1').click();

    // Act: preview
    await expect.poll(() => text('page-title'), SOON).toBe('Roll back prod-w1-z1');
    expect(await page.getByTestId('rollback-to-default').isChecked()).toBe(true);
    expect(await page.locator('label.choice').first().innerText()).toContain('r1');
    await page.getByTestId('rollback-preview-button').click();

    // Assess: the plan
    const plan = page.getByTestId('rollback-preview');
    await plan.waitFor();
    expect(await plan.innerText()).toMatch(/prod-w1-z1-eu-north-1-eun1-az1\s+r3\s+r1/);
    expect(await text('rollback-commits-removed')).toMatch(/Version 3[\s\S]*Version 2/);
    expect(await text('rollback-commits-removed')).not.toContain('Version 1');
    expect(await text('rollback-stages-disabled')).toBe(
      'Promotions into and out of prod-w1-z1 will be disabled until someone enables them again.',
    );
    await shoot('rollback-preview', true);

    // Act: confirm without a reason, then with one
    await page.getByTestId('rollback-confirm').click();
    expect(await text('rollback-error')).toContain('Give a reason');
    await page.getByTestId('rollback-reason').fill('p99 latency doubled since r2 (latent)');
    await page.getByTestId('rollback-confirm').click();

    // Assess: back on the pipeline page, the stage goes back to r1 with its gates closed
    await expect.poll(() => page.url(), SOON).toMatch(/#\/$/);
    expect(await text('flash')).toContain('Rolling prod-w1-z1 back to r1');
    await expect
      .poll(() => text('stage-prod-w1-z1-gates'), MOVE)
      .toMatch(
        /Promotions in and out disabled — manual rollback by local:\S+: p99 latency doubled since r2 \(latent\)/,
      );
    await expect.poll(() => text('stage-prod-w1-z1-release'), MOVE).toBe('r1');
    await expect.poll(() => text('stage-prod-w1-z1-step'), MOVE).toBe('idle');
    await page.getByTestId('stage-prod-w1-z1').scrollIntoViewIfNeeded();
    await shoot('promotions-disabled');
  });

  it('shows a refused rollback’s reason on the rollback page', async () => {
    // Act: prod-w1-z1 runs r1 now, and nothing older was ever approved there
    await page.goto(`${url}/#/rollback/prod-w1-z1`);
    await page.getByTestId('rollback-preview-button').click();

    // Assess
    await expect
      .poll(() => text('rollback-error'), SOON)
      .toMatch(
        /No release older than r1 was deployed and approved in prod-w1-z1-eu-north-1-eun1-az1/,
      );
    expect(await page.getByTestId('rollback-preview').count()).toBe(0);
  });

  it('enables promotions again through the button, with a reason', async () => {
    // Prepare
    await page.goto(`${url}/#/`);
    await page.getByTestId('enable-promotions-prod-w1-z1').click();

    // Act
    await page.getByTestId('promotions-reason').fill('latency back to normal on r1');
    await page.getByTestId('promotions-submit').click();

    // Assess
    await expect.poll(() => text('stage-prod-w1-z1-gates'), MOVE).toBe('enabled');
    expect(await page.getByTestId('enable-promotions-prod-w1-z1').count()).toBe(0);
    // The page closes the dialog once it has the answer; on a loaded machine, a moment later.
    await expect.poll(() => page.locator('#promotions-dialog').isVisible(), MOVE).toBe(false);
  });

  it('shows a new release move through the stages, through the reopened one too, without a reload', async () => {
    // Prepare: a mark that a reload would wipe
    await page.goto(`${url}/#/`);
    await page.evaluate(() => {
      (globalThis as unknown as { stillTheSamePage: boolean }).stillTheSamePage = true;
    });
    expect(await text('stage-beta-release')).toBe('r4');

    // Act: the clock is held while r5 bakes at gamma-onebox, so that the page is looked at
    // then however slow the machine (on its own the clock may bake through in a blink).
    await demo.runtime.holdClock();
    await commitDemoVersion(demo.runtime, '5');
    const service = demo.runtime.services.get('demo');
    await demo.runtime.runUntil(
      async () => {
        const run = (await service?.state())?.stages['gamma-onebox']?.run;
        return run?.release === 5 && run.step === 'baking';
      },
      { what: 'r5 bakes at gamma-onebox', clockSeconds: 86_400 },
    );

    // Assess: the page shows it, then r5 goes on once the clock runs again
    await expect.poll(() => text('stage-beta-release'), MOVE).toBe('r5');
    await expect.poll(() => text('stage-gamma-onebox-release'), MOVE).toBe('r5');
    await expect.poll(() => text('stage-gamma-onebox-step'), MOVE).toMatch(/^r5 baking/);
    demo.runtime.runFreely();
    await expect.poll(() => text('stage-prod-w1-z1-release'), MOVE).toBe('r5');
    expect(
      await page.evaluate(
        () => (globalThis as unknown as { stillTheSamePage?: boolean }).stillTheSamePage,
      ),
    ).toBe(true);
  });

  it('saved a screenshot of every main page, and met no script or policy error', async () => {
    for (const name of [
      'pipeline',
      'release',
      'history',
      'where',
      'rollback-preview',
      'promotions-disabled',
    ]) {
      const png = await readFile(join(shotsDir, `${name}.png`));
      expect(png.subarray(0, 8).equals(PNG_SIGNATURE), name).toBe(true);
      expect(png.length, name).toBeGreaterThan(10_000);
    }
    expect(problems).toEqual([]);
  });
});
