import type { Writable } from 'node:stream';
import { DemoPipeline } from './demo-pipeline.js';
import { LocalRuntime } from './runtime.js';

/**
 * Runs the demo pipeline on the state already in `dataDir` (nothing cleared, nothing
 * committed) until SIGINT or SIGTERM: the runtime reconciles at start, so runs a crash
 * interrupted go on. Prints one line per Release Captain event, and at the end the
 * failures the runtime met (returned, for the exit code).
 */
export async function serve(options: {
  readonly dataDir: string;
  /** Clock seconds per real second at most; `null`: as fast as the work allows. */
  readonly speed: number | null;
  readonly out: Writable;
}): Promise<readonly unknown[]> {
  const runtime = await LocalRuntime.start({
    pipelines: [new DemoPipeline().definition()],
    dataDir: options.dataDir,
    ...(options.speed === null ? {} : { speed: options.speed }),
    onEvent: (event) => {
      if (event.source !== 'release-captain') return;
      const d = event.detail as { stage?: string; release?: number; target?: string };
      options.out.write(
        `${event.time} ${event['detail-type']} ${d.stage ?? '-'} r${d.release ?? '-'} ${d.target ?? ''}\n`,
      );
    },
  });
  if (options.speed === null) runtime.runFreely();
  options.out.write(
    `serving ${options.dataDir} at ${options.speed === null ? 'full speed' : `${options.speed}x`}; the web view: ${runtime.apiUrl}/ (npx captain status${options.dataDir === '.captain' ? '' : ` --data-dir ${options.dataDir}`})\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const failures = runtime.failures;
  await runtime.stop();
  for (const failure of failures) options.out.write(`failure: ${String(failure)}\n`);
  return failures;
}
