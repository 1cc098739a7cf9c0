import type { Writable } from 'node:stream';
import type { DemoResult, PipelineEventView } from './demo.js';
import type { LocalRuntime } from './runtime.js';

/** The events worth a line in the demo's log, and how each reads. */
const SHOWN: Readonly<Record<string, (e: PipelineEventView) => string>> = {
  'Release Created': (e) => `r${e.release} created`,
  'Release Blocked': (e) => `r${e.release} blocked at ${e.stage}: ${e.reason}`,
  'Stage Started': (e) => `${e.stage} takes r${e.release}`,
  'Deployment Failed': (e) => `r${e.release} failed to deploy to ${e.target}: ${e.reason}`,
  'Stage Approved': (e) => `${e.stage} approves r${e.release}`,
  'Release Superseded': (e) => `r${e.release} superseded at ${e.stage} (${e.reason})`,
  'Rollback Started': (e) => `${e.stage} rolls back r${e.release}: ${e.reason}`,
  'Rollback Completed': (e) => `${e.stage} rolled back r${e.release}`,
};

/**
 * The demo's output: a line per event as it happens (clock time, then what happened),
 * every few seconds a line of what each stage runs, and at the end the summary of what
 * runs where and the expectations.
 */
export function printDemo(out: Writable, options: { readonly speed: number }) {
  const write = (line: string) => out.write(`${line}\n`);
  let ticks = 0;
  write(`Release Captain demo, clock at ${options.speed}× (Ctrl-C to stop)\n`);
  return {
    event(e: PipelineEventView) {
      const show = SHOWN[e.type];
      if (show !== undefined) write(`${e.at.slice(11, 19)}  ${show(e)}`);
    },
    async tick(runtime: LocalRuntime) {
      if (++ticks % 10 !== 0) return;
      const fleets = runtime.fleets.list();
      const running = fleets
        .map((fleet) => `${fleet.target}=${versions(fleet.versionCounts())}`)
        .join(' ');
      write(`         fleets: ${running}`);
    },
    async end(result: DemoResult) {
      write('\nWhat runs where');
      const rows = result.definition.stages.flatMap((stage) =>
        stage.targets.map((target) => {
          const fleet = result.runtime.fleets.get(target.id);
          return [
            stage.name,
            target.id,
            fleet === undefined ? '-' : versions(fleet.versionCounts()),
          ];
        }),
      );
      write(table([['stage', 'target', 'runs (version: boxes)'], ...rows]));
      write('\nExpectations');
      for (const e of result.expectations)
        write(`  ${e.held ? 'ok  ' : 'FAIL'}  ${e.name}: ${e.detail}`);
      write(
        `\n${result.ok ? 'Every expectation held' : 'Some expectations failed'} after ${result.realSeconds.toFixed(0)} s, ${result.events.length} events (log: events.jsonl in the data directory).`,
      );
    },
  };
}

const versions = (counts: Readonly<Record<string, number>>) =>
  Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([version, n]) => `v${version}:${n}`)
    .join(',') || 'none';

function table(rows: readonly (readonly string[])[]): string {
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows
    .map((row) =>
      `  ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ')}`.trimEnd(),
    )
    .join('\n');
}
