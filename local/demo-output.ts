import type { Writable } from 'node:stream';
import type { PipelineEvent } from '../core/index.js';
import type { DemoResult } from './demo.js';
import type { LocalRuntime } from './runtime.js';
import { viewSnapshot } from './snapshot.js';
import { LiveView, renderSummary, type ViewSnapshot } from './view.js';

/**
 * The demo's output: the live board (redrawn in place on a terminal; in a log, each event
 * once as a line and a board every 30 s), then the summary of what runs where and the
 * expectations.
 */
export function printDemo(
  out: Writable & { isTTY?: boolean; columns?: number },
  options: { readonly speed: number | null; readonly pipeline: string },
) {
  const events: PipelineEvent[] = [];
  const view = new LiveView({ out });
  let last: ViewSnapshot | null = null;
  out.write(
    `Release Captain demo, clock at ${options.speed === null ? 'full speed' : `${options.speed}×`} (Ctrl-C to stop)\n\n`,
  );
  return {
    event(event: PipelineEvent) {
      events.push(event);
    },
    async tick(runtime: LocalRuntime) {
      last = await viewSnapshot(runtime, options.pipeline, [...events]);
      view.update(last);
    },
    async end(result: DemoResult) {
      const snapshot = last;
      view.close();
      if (snapshot !== null) out.write(`\n${renderSummary(snapshot)}\n`);
      out.write('\nExpectations\n');
      for (const e of result.expectations) {
        out.write(`  ${e.held ? 'ok  ' : 'FAIL'}  ${e.name}: ${e.detail}\n`);
      }
      out.write(
        `\n${result.ok ? 'Every expectation held' : 'Some expectations failed'} after ${result.realSeconds.toFixed(0)} s, ${result.events.length} events (log: events.jsonl in the data directory).\n`,
      );
    },
  };
}
