import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';

const run = promisify(execFile);

/** Where Debian's `chromium` package puts the browser. */
const DEBIAN_CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Chromium on a machine with no network but loopback: without the last four,
 * its background connections (updates, sync, safe browsing) pile up against the closed
 * network (docs: LOCAL-STACK.md, "Browser tests"). `--no-sandbox` because tests run as root.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Debian's chromium could not be found or installed. */
export class ChromiumMissingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ChromiumMissingError';
  }
}

/**
 * The path of Debian's chromium, installed with apt-get first when it is missing and the
 * tests run as root (a fresh CI machine). Playwright's own browser downloads cannot reach
 * their servers here; Debian's package can. Progress goes to stderr: an install takes a
 * minute or two.
 *
 * @example
 * const executablePath = await ensureChromium(); // '/usr/bin/chromium'
 */
export async function ensureChromium(log: (line: string) => void = toStderr): Promise<string> {
  const found = await findChromium();
  if (found !== null) return found;
  const root = process.getuid?.() === 0;
  const aptGet = await which('apt-get');
  if (!root || aptGet === null) {
    throw new ChromiumMissingError(
      `The browser tests need Debian's chromium, and it is not installed (no ${DEBIAN_CHROMIUM}, none on PATH). ` +
        `Install it with \`sudo apt-get install -y chromium\`${aptGet === null ? ' (or your system’s chromium package, with `chromium` on PATH)' : ''}; ` +
        '`npx playwright install` cannot download browsers on this network.',
    );
  }
  log('chromium is missing: apt-get install -y chromium …');
  try {
    await aptInstall(aptGet);
  } catch (first) {
    log(`apt-get install failed (${summary(first)}); apt-get update, then install again …`);
    try {
      await run(aptGet, ['update'], APT_OPTIONS);
      await aptInstall(aptGet);
    } catch (second) {
      throw new ChromiumMissingError(
        `Installing chromium with apt-get failed: ${summary(second)}. Run \`apt-get update && apt-get install -y chromium\` by hand to see why.`,
        { cause: second },
      );
    }
  }
  const installed = await findChromium();
  if (installed === null) {
    throw new ChromiumMissingError(
      `apt-get installed chromium, but neither ${DEBIAN_CHROMIUM} nor \`chromium\` on PATH exists.`,
    );
  }
  log(`chromium installed at ${installed}`);
  return installed;
}

/**
 * Starts headless Debian chromium through playwright-core, installing it first if needed.
 *
 * @example
 * const browser = await launchChromium();
 * const page = await browser.newPage();
 * // …
 * await browser.close();
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: await ensureChromium(),
    args: [...CHROMIUM_ARGS],
    headless: true,
  });
}

const APT_OPTIONS = {
  env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  maxBuffer: 64 * 1024 * 1024,
};

async function aptInstall(aptGet: string): Promise<void> {
  await run(aptGet, ['install', '-y', 'chromium'], APT_OPTIONS);
}

async function findChromium(): Promise<string | null> {
  if (await executable(DEBIAN_CHROMIUM)) return DEBIAN_CHROMIUM;
  return which('chromium');
}

async function which(command: string): Promise<string | null> {
  try {
    const { stdout } = await run('which', [command]);
    const path = stdout.trim();
    return path !== '' && (await executable(path)) ? path : null;
  } catch {
    // `which` exits 1 when the command is nowhere on PATH.
    return null;
  }
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** An exec failure's last line of stderr, which is where apt-get says what went wrong. */
function summary(error: unknown): string {
  const stderr = (error as { stderr?: string }).stderr?.trim();
  if (stderr) return stderr.split('\n').at(-1) ?? stderr;
  return error instanceof Error ? error.message : String(error);
}

function toStderr(line: string): void {
  process.stderr.write(`[chromium] ${line}\n`);
}
