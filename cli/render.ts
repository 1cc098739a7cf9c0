import type {
  AuditEntry,
  CommitWhereabouts,
  HistoryEntry,
  PipelineStatus,
  ReleaseDetail,
  ReleaseSummary,
  RollbackPlan,
  StageOutcome,
  StageView,
} from '../core/index.js';

/** Text for people; `--json` prints the API's answer as it is instead. */

const label = (release: number | null | undefined) =>
  release === null || release === undefined ? '-' : `r${release}`;
const short = (sha: string) => sha.slice(0, 8);
/** `2026-11-23T10:00:00.000Z` → `2026-11-23 10:00Z`: minutes are what people compare. */
const when = (iso: string | null) =>
  iso === null ? '-' : `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;

/** Rows of cells as aligned columns. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * The stages of a wave as shown: each stage alone, except that the consecutive stages of
 * one Region's lane (single-Region stages, as `laneBy: 'region'` makes them) that are all
 * idle, wait for nothing and have open gates are one part.
 */
function lanesOf(stages: readonly StageView[]): StageView[][] {
  const regionOf = (stage: StageView) => {
    const regions = new Set(stage.targets.map((t) => t.region));
    return regions.size === 1 ? [...regions][0] : undefined;
  };
  const quiet = (stage: StageView) =>
    stage.run === null &&
    stage.pending === null &&
    stage.promotionsIn.enabled &&
    stage.promotionsOut.enabled;
  // Lanes first: consecutive stages in one Region.
  const lanes: StageView[][] = [];
  for (const stage of stages) {
    const lane = lanes.at(-1);
    const region = regionOf(stage);
    const first = lane?.[0];
    if (
      lane !== undefined &&
      first !== undefined &&
      region !== undefined &&
      regionOf(first) === region
    )
      lane.push(stage);
    else lanes.push([stage]);
  }
  // A lane with anything going on shows every stage.
  return lanes.flatMap((lane) =>
    lane.length > 1 && lane.every(quiet) ? [lane] : lane.map((stage) => [stage]),
  );
}

function gate(stage: StageView): string {
  const closed = [
    stage.promotionsIn.enabled ? null : 'in',
    stage.promotionsOut.enabled ? null : 'out',
  ].filter((d) => d !== null);
  if (closed.length === 0) return '';
  const g = stage.promotionsIn.enabled ? stage.promotionsOut : stage.promotionsIn;
  // A rollback's reason already names who rolled back.
  const why = g.enabled
    ? ''
    : g.reason.includes(g.by)
      ? `: ${g.reason}`
      : ` by ${g.by}: ${g.reason}`;
  return `promotions ${closed.join('+')} disabled${why}`;
}

function doing(stage: StageView, now: string): string {
  const run = stage.run;
  if (run === null) return 'idle';
  const what =
    run.kind === 'rollback' ? `rolling back from ${label(run.release)}` : label(run.release);
  let step: string = run.step;
  if (run.step === 'baking' && run.bake !== null) {
    const left = Math.max(0, (Date.parse(run.bake.endsAt) - Date.parse(now)) / 1000);
    step = `baking, ${formatSeconds(left)} left`;
  }
  if (run.step === 'approving') {
    const waiting = run.approvals.filter((a) => !a.passed).map((a) => a.name);
    step = `approving (waiting for ${waiting.join(', ') || 'nothing'})`;
  }
  return `${what} ${step}`;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

/** Pipelines with more stages than this show each idle lane as one line (see `lanesOf`). */
export const COLLAPSE_ABOVE_STAGES = 40;

/** How `captain status` narrows what it shows. */
export interface StatusOptions {
  /** Only this production wave. */
  readonly wave?: number;
  /** Every stage on its own line, idle lanes too. */
  readonly all?: boolean;
  /** Idle lanes as one line each. @default - for a pipeline of more than {@link COLLAPSE_ABOVE_STAGES} stages */
  readonly collapse?: boolean;
}

export function renderStatus(status: PipelineStatus, options: StatusOptions = {}): string {
  const byName = new Map(status.stages.map((s) => [s.stage, s]));
  const rows: string[][] = [['stage', 'runs', 'now', 'pending', 'notes']];
  const groups =
    options.wave === undefined
      ? status.groups
      : status.groups.filter((group) => group.wave === options.wave);
  for (const group of groups) {
    if (group.wave !== null) rows.push([`wave ${group.wave}`, '', '', '', '']);
    const stages = group.stages
      .map((name) => byName.get(name))
      .filter((stage): stage is StageView => stage !== undefined);
    const collapse =
      !options.all && (options.collapse ?? status.stages.length > COLLAPSE_ABOVE_STAGES);
    for (const part of collapse ? lanesOf(stages) : stages.map((stage) => [stage])) {
      const first = part[0] as StageView;
      const indent = group.wave === null ? '' : '  ';
      if (part.length > 1) {
        // A Region's lane with nothing to say: one line for all its steps.
        rows.push([
          `${indent}${first.targets[0]?.region} lane (${part.length} stages)`,
          [...new Set(part.flatMap((s) => s.targets.map((t) => label(t.deployed))))].join(','),
          'idle',
          '',
          '',
        ]);
        continue;
      }
      const stage = first;
      const runs = [...new Set(stage.targets.map((t) => label(t.deployed)))].join(',');
      const blockers =
        stage.run?.blockers.map((b) => `blocked: ${b.kind} ${b.subject} (${b.reason})`) ?? [];
      const notes = [
        gate(stage),
        ...blockers,
        stage.run?.failure ? `failed: ${stage.run.failure}` : '',
      ]
        .filter((n) => n !== '')
        .join('; ');
      rows.push([
        `${indent}${stage.stage}`,
        runs,
        doing(stage, status.now),
        label(stage.pending),
        notes,
      ]);
    }
  }
  const lines = [
    `${status.pipeline}: newest release ${label(status.latestRelease)} (${when(status.now)})`,
    '',
    table(rows),
  ];
  if (status.expedite !== null) {
    lines.push(
      '',
      `expedite: ${label(status.expedite.release)} requested by ${status.expedite.requestedBy}, approved by ${status.expedite.approver}, bakes × ${status.expedite.bakeFactor}: ${status.expedite.reason}`,
    );
  }
  const asked = status.expediteRequest;
  if (asked !== null) {
    lines.push(
      '',
      `expedite requested: ${label(asked.release)} by ${asked.requestedBy}, bakes × ${asked.bakeFactor}: ${asked.reason} (waits for somebody else's \`captain expedite approve ${label(asked.release)}\`)`,
    );
  }
  for (const bad of status.knownBad)
    lines.push(`known bad: ${bad.kind} ${bad.value} (${bad.by}: ${bad.reason})`);
  for (const o of status.overrides) {
    lines.push(
      `override: ${o.kind}${o.subject ? ` ${o.subject}` : ''}${o.stage ? ` at ${o.stage}` : ''} until ${when(o.until)} (${o.by}: ${o.reason})`,
    );
  }
  return lines.join('\n');
}

function outcome(o: StageOutcome | null | undefined): string {
  if (o === null || o === undefined) return '-';
  return o.status;
}

export function renderReleases(
  releases: readonly ReleaseSummary[],
  stages: readonly string[],
): string {
  const rows = [['release', 'commit', 'created', 'commits', ...stages]];
  for (const r of releases) {
    rows.push([
      label(r.release),
      short(r.headCommit),
      when(r.createdAt),
      `${r.commits}${r.unreviewed > 0 ? ` (${r.unreviewed} unreviewed)` : ''}`,
      ...stages.map((s) => outcome(r.outcomes[s])),
    ]);
  }
  return table(rows);
}

export function renderRelease(
  detail: ReleaseDetail & { stages: readonly { execution: { link?: string | null } | null }[] },
): string {
  const r = detail.release;
  const lines = [
    `${label(r.number)} of ${r.pipeline}, built from ${r.headCommit} at ${when(r.createdAt)}`,
    '',
    'commits:',
  ];
  for (const c of r.commits) {
    const review =
      c.review === null || c.review.approvedBy.length === 0
        ? 'UNREVIEWED'
        : `reviewed by ${c.review.approvedBy.join(', ')} in ${c.review.pullRequest}`;
    lines.push(`  ${short(c.sha)} ${c.message.split('\n')[0]} (${c.author}; ${review})`);
  }
  lines.push('', 'artifacts:');
  for (const i of r.artifacts.images) lines.push(`  image ${i.name} ${i.repository}@${i.digest}`);
  for (const f of r.artifacts.files) lines.push(`  file ${f.name} sha256:${f.sha256}`);
  for (const d of r.artifacts.dependencies) lines.push(`  dependency ${d.name}@${d.version}`);
  lines.push('');
  const rows = [['stage', 'outcome', 'since', 'execution']];
  for (const s of detail.stages) {
    const o = s.outcome;
    const extra =
      o === null
        ? ''
        : o.status === 'rejected' || o.status === 'blocked'
          ? ` (${o.reason})`
          : o.status === 'superseded'
            ? ` by ${label(o.by)}`
            : '';
    const execution =
      s.execution === null
        ? '-'
        : `${s.execution.name}${s.execution.current ? ' (running)' : ''}${'link' in s.execution && s.execution.link ? ` ${s.execution.link}` : ''}`;
    rows.push([s.stage, `${outcome(o)}${extra}`, o === null ? '-' : when(o.at), execution]);
  }
  lines.push(table(rows));
  return lines.join('\n');
}

export function renderHistory(name: string, entries: readonly HistoryEntry[]): string {
  if (entries.length === 0) return `${name}: no deployments yet.`;
  const lines: string[] = [];
  for (const e of entries) {
    lines.push(
      `${when(e.finishedAt)}  ${e.target}  ${label(e.from)} → ${label(e.to)}  ${e.kind}  ${e.result}${e.reason ? ` (${e.reason})` : ''}`,
    );
    for (const c of e.commits.slice(0, 10)) {
      lines.push(
        `    ${e.change === 'removed' ? '-' : '+'} ${short(c.sha)} ${c.message.split('\n')[0]} (${c.author})`,
      );
    }
    if (e.commits.length > 10) lines.push(`    … ${e.commits.length - 10} more`);
  }
  return lines.join('\n');
}

export function renderWhere(where: CommitWhereabouts): string {
  if (where.commit === null) {
    return `No release contains ${where.prefix} yet (newest release ${label(where.latestRelease)}); it is released once a build of it succeeds.`;
  }
  const c = where.commit;
  const lines = [
    `${short(c.sha)} ${c.message.split('\n')[0]} (${c.author}) is new in ${label(c.release)}`,
    '',
  ];
  const rows = [['stage', 'target', 'runs', 'has it', 'since']];
  for (const s of where.stages) {
    for (const t of s.targets) {
      rows.push([
        s.stage,
        t.target,
        label(t.runs),
        t.contains ? 'yes' : t.arriving ? 'arriving' : 'no',
        t.contains ? when(t.since) : '-',
      ]);
    }
  }
  lines.push(table(rows));
  return lines.join('\n');
}

export function renderRollbackPlan(plan: RollbackPlan): string {
  const lines = ['Rollback plan:'];
  lines.push(
    table(plan.targets.map((t) => [`  ${t.stage}`, t.target, `${label(t.from)} → ${label(t.to)}`])),
  );
  for (const p of plan.previews) {
    lines.push(
      '',
      `${label(p.from)} → ${label(p.to)} removes ${p.commitsRemoved.length} commit(s):`,
    );
    for (const c of p.commitsRemoved.slice(0, 20))
      lines.push(`  - ${short(c.sha)} ${c.message.split('\n')[0]} (${c.author})`);
    if (p.commitsRemoved.length > 20) lines.push(`  … ${p.commitsRemoved.length - 20} more`);
    for (const [kind, changes] of [
      ['image', p.images],
      ['file', p.files],
      ['dependency', p.dependencies],
    ] as const) {
      for (const ch of changes)
        lines.push(`  ${kind} ${ch.name}: ${ch.from ?? '(none)'} → ${ch.to ?? '(none)'}`);
    }
  }
  for (const i of plan.interrupted) {
    lines.push('', `Stops ${label(i.release)} at ${i.stage} (${i.step}); it ends rejected there.`);
  }
  lines.push(
    '',
    `Promotions into and out of ${plan.stages.join(', ')} will be disabled until someone enables them.`,
  );
  return lines.join('\n');
}

export function renderAudit(entries: readonly AuditEntry[]): string {
  return table([
    ['when', 'who', 'what', 'why'],
    ...entries.map((e) => [when(e.at), e.by, e.action, e.reason]),
  ]);
}

/** The plan as the API returns it: dates are strings once they crossed the wire. */
export interface PlanAnswer {
  readonly release: number | null;
  readonly start: string;
  readonly plan: {
    readonly stages: readonly {
      stage: string;
      wave: number | null;
      reachedAt: string;
      approvedAt: string;
      notes: readonly string[];
    }[];
    readonly completesAt: string | null;
    readonly unreachable: readonly { stage: string; reason: string }[];
  };
  readonly deploymentSeconds: Readonly<Record<string, { seconds: number; basis: string }>>;
  readonly outcomes: Readonly<Record<string, StageOutcome>>;
}

export function renderPlan(plan: PlanAnswer): string {
  const subject =
    plan.release === null
      ? 'A release created now'
      : `${label(plan.release)} (created ${when(plan.start)})`;
  const rows = [['stage', 'reached', 'approved', 'deployments', 'actual', 'notes']];
  for (const s of plan.plan.stages) {
    const estimate = plan.deploymentSeconds[s.stage];
    const actual = plan.outcomes[s.stage];
    rows.push([
      s.stage,
      when(s.reachedAt),
      when(s.approvedAt),
      estimate === undefined ? '-' : `${formatSeconds(estimate.seconds)} (${estimate.basis})`,
      actual === undefined ? '-' : `${actual.status} ${when(actual.at)}`,
      s.notes.join('; '),
    ]);
  }
  const lines = [
    `${subject}: everywhere by ${plan.plan.completesAt === null ? 'never (see below)' : when(plan.plan.completesAt)}`,
    '',
    table(rows),
  ];
  for (const u of plan.plan.unreachable) lines.push(`unreachable: ${u.stage}: ${u.reason}`);
  return lines.join('\n');
}
