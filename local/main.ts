/**
 * `npm start`: the demo of the local embedded mode. A real pipeline runs on this machine
 * (the cloud's state machine and handlers, DynamoDB and S3 emulators on loopback,
 * simulated fleets), four commits go through it, and the exit code says whether every
 * expectation held.
 */
import { parseArgs } from 'node:util';

const HELP = `Usage: npm start -- [options]

Runs the Release Captain demo locally: a pipeline of beta, gamma (one-box first) and
three production waves over five Regions of simulated fleets; four commits go through it.
r1 reaches every stage, r3 supersedes r2, r4's faults trip its one-box alarm and it is
rolled back. Exits 0 only if every expectation held.

Options:
  --speed <n|max>   clock seconds per real second at most (default 120: the demo takes
                    about 1.5 min); max: as fast as the machine does the work. A loaded
                    machine slows the clock down; the story stays the same
  --data-dir <dir>  where the state lives (default .captain; cleared when the demo starts)
  --timeout <s>     give up after this many real seconds (default 600)
  --keep-running    stay up after the demo, until Ctrl-C, serving the web view and the
                    operator API that \`npx captain\` uses
  --serve           run the demo pipeline on the state in --data-dir without clearing it or
                    committing: resumes after a crash; commits to its repository
                    (<data-dir>/repos/demo-service) become releases; until Ctrl-C
  --help            show this
`;

const { values } = parseArgs({
  options: {
    speed: { type: 'string', default: '120' },
    'data-dir': { type: 'string', default: '.captain' },
    timeout: { type: 'string', default: '600' },
    'keep-running': { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const number = (name: string, raw: string, min: number) => {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    process.stderr.write(`--${name} must be a number ≥ ${min}, got "${raw}".\n\n${HELP}`);
    process.exit(2);
  }
  return value;
};
/** `null`: as fast as the work allows. */
const speed = values.speed === 'max' ? null : number('speed', values.speed, 1);
const timeoutSeconds = number('timeout', values.timeout, 1);

// The handlers log as on Lambda; here only their errors matter (the view shows the rest).
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// After the settings above: the handlers' modules read them when they load.
// Problems a user can fix (a data directory that is not the runtime's, git missing) end
// with their message, not a stack trace.
process.on('uncaughtException', (error) => {
  process.stderr.write(
    `\nnpm start failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
if (values.serve) {
  const { serve } = await import('./serve.js');
  const failures = await serve({ dataDir: values['data-dir'], speed, out: process.stdout });
  process.exit(failures.length === 0 ? 0 : 1);
}
const { runDemo } = await import('./demo.js');
const { printDemo } = await import('./demo-output.js');

const output = printDemo(process.stdout, { speed, pipeline: 'demo' });
const result = await runDemo({
  dataDir: values['data-dir'],
  ...(speed === null ? {} : { speed }),
  timeoutSeconds,
  keepRunning: values['keep-running'],
  onEvent: output.event,
  onTick: output.tick,
});
await output.end(result);
if (values['keep-running']) {
  // Moved by the demo itself until now (--speed max): from here on it runs on its own.
  if (speed === null) result.runtime.runFreely();
  process.stdout.write(
    `\nThe runtime keeps running (state in ${values['data-dir']}); Ctrl-C stops it.\n` +
      `The web view: ${result.runtime.apiUrl}/\n` +
      `The CLI: npx captain status${values['data-dir'] === '.captain' ? '' : ` --data-dir ${values['data-dir']}`} (npx captain --help)\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await result.runtime.stop();
}
process.exit(result.ok ? 0 : 1);
