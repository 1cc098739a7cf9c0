/** `captain rollback`: preview, confirmation, the rollback, and its progress to the end. */
import { randomUUID } from 'node:crypto';
import {
  confirmationOf,
  type HistoryEntry,
  type PipelineStatus,
  type RollbackPlan,
} from '../core/index.js';
import { type Io, post, reasonOf, releaseArg, usage, type Values } from './args.js';
import { type CaptainClient, EXIT } from './client.js';
import { renderRollbackPlan } from './render.js';

/**
 * How long a finished rollback's deployment record may take to appear in the history (it
 * is relayed after the run's end is written): a guard, normally it is there at once.
 */
const RECORD_WAIT_MS = 30_000;

interface RollbackAnswer {
  readonly changed: boolean;
  readonly plan: RollbackPlan | null;
  readonly runs: readonly { stage: string; seq: number }[];
  readonly notes: readonly string[];
}

export async function rollback(
  client: CaptainClient,
  base: string,
  names: string[],
  values: Values,
  io: Io,
): Promise<number> {
  if (names.length === 0) throw usage('name the stages or targets to roll back');
  const reason = reasonOf(values);
  const to = values.to === undefined ? null : releaseArg(values.to, '--to');
  const plan = await client.post<RollbackPlan>(`${base}/rollback/preview`, { targets: names, to });
  io.out(values.json ? JSON.stringify(plan, null, 2) : renderRollbackPlan(plan));
  if (!values.yes) {
    const answer = await io.ask('\nRoll back? Type "yes" to go on: ');
    if (answer === null) {
      throw usage('stdin is not a terminal: pass --yes to roll back without the prompt');
    }
    if (answer.trim().toLowerCase() !== 'yes') {
      io.err('Not rolled back.');
      return EXIT.declined;
    }
  }
  const started = await post<RollbackAnswer>(client, `${base}/rollback`, {
    targets: names,
    to,
    reason,
    requestId: randomUUID(),
    // Refused if the pipeline moved since the preview: only what was shown is done.
    confirmed: confirmationOf(plan),
  });
  io.err(
    `Rollback started: ${started.runs.map((r) => `${r.stage} (run ${r.seq})`).join(', ')}; promotions disabled.`,
  );
  if (values['no-wait']) return EXIT.ok;
  return follow(client, base, plan, started.runs, values, io);
}

/** Shows the rollback's targets as they change, until every rollback run has ended. */
async function follow(
  client: CaptainClient,
  base: string,
  plan: RollbackPlan,
  runs: RollbackAnswer['runs'],
  values: Values,
  io: Io,
): Promise<number> {
  const pollMs = Math.max(50, Number(values['poll-ms']));
  const seen = new Map<string, string>();
  for (;;) {
    const status = await client.get<PipelineStatus>(`${base}/status`);
    let active = 0;
    for (const { stage, seq } of runs) {
      const view = status.stages.find((s) => s.stage === stage);
      if (view?.run?.seq !== seq) continue;
      active++;
      for (const t of view.targets) {
        if (t.status === null || seen.get(t.target) === t.status) continue;
        seen.set(t.target, t.status);
        io.err(
          `  ${t.target}: ${t.status}${t.rollbackTo === null ? '' : ` (to r${t.rollbackTo})`}`,
        );
      }
    }
    if (active === 0) break;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  let failed = 0;
  for (const target of plan.targets) {
    // The run ends when its stage item is written; the deployment record it brought about
    // is relayed from that item's outbox a moment later: wait for it rather than read once.
    const deadline = Date.now() + RECORD_WAIT_MS;
    let record: HistoryEntry | undefined;
    for (;;) {
      const history = await client.get<HistoryEntry[]>(
        `${base}/history/${encodeURIComponent(target.target)}`,
        { limit: 5 },
      );
      record = history.find((h) => h.kind === 'rollback' && h.to === target.to);
      if (record !== undefined || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    const ok = record?.result === 'succeeded';
    if (!ok) failed++;
    io.out(
      `${target.target}: ${ok ? `now runs r${target.to}` : `rollback to r${target.to} ${record === undefined ? 'has no record' : `failed (${record.reason ?? 'no reason'})`}`}`,
    );
  }
  io.out(
    failed === 0
      ? `Rolled back. Promotions into and out of ${plan.stages.join(', ')} stay disabled: \`captain promotions enable <stage> --reason "…"\` when it is safe.`
      : `${failed} target(s) did not roll back; see \`captain history\` and the executions.`,
  );
  return failed === 0 ? EXIT.ok : EXIT.failed;
}
