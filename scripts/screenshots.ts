/**
 * `npx tsx scripts/screenshots.ts`: the web view's screenshots in docs/screenshots/, taken
 * in Debian's chromium over the local demo (about a minute). After the demo (r1 and r3
 * everywhere, r4 rolled back at the gamma one-box), it rolls prod-w1-z1 back to r1 through
 * the rollback page, commits r5, and photographs each main page while r5 is on its way:
 *
 *   pipeline.png             the pipeline, r5 baking, prod-w1-z1's promotions disabled (full page)
 *   release.png              r5 in flight: its commits, artifacts, outcome per stage
 *   history.png              prod-w1-z1's deployments: the rollback and the commits it removed
 *   where.png                where r5's commit runs: yes, arriving, no
 *   rollback-preview.png     the rollback plan before confirming it (full page)
 *   promotions-disabled.png  prod-w1-z1 after the rollback, r5 waiting at its closed gate
 *
 * The viewport is 1280×900. Needs chromium (installed with apt-get when run as root).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchChromium } from '../test/support/chromium.js';

const OUT = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
/** Real milliseconds the pipeline may take to get somewhere at speed 400. */
const PATIENCE = 60_000;

// The handlers log as on Lambda; only their errors matter here.
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// After the settings above: the handlers' modules read them when they load.
const { commitDemoVersion, runDemo } = await import('../local/demo.js');

const say = (line: string) => process.stdout.write(`${line}\n`);

const dataDir = await mkdtemp(join(tmpdir(), 'captain-screenshots-'));
const browserStarting = launchChromium();
say('Running the demo (about 30 s) …');
const demo = await runDemo({ dataDir, speed: 400, timeoutSeconds: 200, keepRunning: true });
const browser = await browserStarting;
try {
  if (!demo.ok) {
    const failed = demo.expectations.filter((e) => !e.held).map((e) => `${e.name}: ${e.detail}`);
    throw new Error(
      `The demo did not go as expected, so the pictures would lie:\n${failed.join('\n')}`,
    );
  }
  await mkdir(OUT, { recursive: true });
  const url = demo.runtime.apiUrl;
  if (url === null)
    throw new Error('The runtime serves no operator API; start it with operatorApi.');
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(PATIENCE);
  const shoot = async (name: string, fullPage = false) => {
    await page.screenshot({ path: join(OUT, `${name}.png`), fullPage });
    say(`  docs/screenshots/${name}.png`);
  };

  say('Rolling prod-w1-z1 back to r1 …');
  await page.goto(`${url}/#/rollback/prod-w1-z1`);
  await page.getByTestId('rollback-reason').fill('p99 latency doubled since r2 (a latent change)');
  await page.getByTestId('rollback-preview-button').click();
  await page.getByTestId('rollback-preview').waitFor();
  await shoot('rollback-preview', true);
  await page.getByTestId('rollback-confirm').click();
  await until(page, 'stage-prod-w1-z1-release', (text) => text === 'r1');
  await until(page, 'stage-prod-w1-z1-step', (text) => text === 'idle');

  say('Committing r5 …');
  await commitDemoVersion(demo.runtime, '5');
  await until(page, 'stage-gamma-onebox-step', (text) => /^r5 baking/.test(text));
  // Half way through the bake reads better than its first second.
  await page.waitForTimeout(600);
  await shoot('pipeline', true);

  const r5 = await demo.runtime.releases.getRelease('demo', 5);
  await page.goto(`${url}/#/release/5`);
  await until(page, 'page-title', (text) => text === 'r5 of demo');
  await shoot('release');
  await page.goto(`${url}/#/where/${r5?.headCommit.slice(0, 10) ?? 'r5'}`);
  await until(page, 'where-commit', (text) => text.includes('Version 5'));
  await shoot('where');
  await page.goto(`${url}/#/history/prod-w1-z1`);
  await page.getByTestId('history-entry').first().waitFor();
  await shoot('history');

  await page.goto(`${url}/#/`);
  await until(page, 'stage-prod-w1-z1-pending', (text) => text === 'r5');
  await page.getByTestId('group-prod-w1-z1-onebox+prod-w1-z1').scrollIntoViewIfNeeded();
  await page.mouse.wheel(0, -200);
  await page.waitForTimeout(300);
  await shoot('promotions-disabled');
  say('Done.');
} finally {
  await browser.close();
  await demo.runtime.stop();
  await rm(dataDir, { recursive: true, force: true });
}

/** Waits until the element's text passes the check; the page redraws itself as the pipeline moves. */
async function until(page: Page, testid: string, check: (text: string) => boolean): Promise<void> {
  const deadline = Date.now() + PATIENCE;
  let last = '';
  while (Date.now() < deadline) {
    last = await page.getByTestId(testid).innerText();
    if (check(last)) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`${testid} still reads "${last}" after ${PATIENCE / 1000} s.`);
}
