import {
  effectiveBakeSeconds,
  type PipelineEvent,
  type PipelineState,
  type ReleaseNumber,
  type ReleaseProgress,
  releaseLabel,
  type StageDefinition,
  type StageRun,
  type StageState,
  type Topology,
} from '../core/index.js';
import type { LocalDeployment } from './fleet-deployer.js';

/**
 * Everything the terminal view draws, gathered by the runtime at one instant. The view
 * reads nothing else: rendering is a pure function of a snapshot.
 */
export interface ViewSnapshot {
  /** The runtime's clock (simulated), which bakes and events are measured against. */
  readonly now: Date;
  /** How many clock seconds pass per real second at most; `null`: as fast as the work allows, or moved by the caller. */
  readonly speed: number | null;
  readonly topology: Topology;
  readonly state: PipelineState;
  /** Data points counted since each baking stage's bake began, by stage name. */
  /** Each baking stage's data points, by target. */
  readonly dataPoints: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** The local fleets' deployments, oldest first (`LocalFleetDeployer.deployments()`). */
  readonly deployments: readonly LocalDeployment[];
  /** Every event of the run, most recent last: the board shows the last few, the summary counts them all. */
  readonly events: readonly PipelineEvent[];
  /** @default - not shown: what each target's boxes serve, as version → boxes */
  readonly fleets?: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** @default - outcomes per stage are read from `events` (what the release store holds is exact) */
  readonly progress?: readonly ReleaseProgress[];
}

export interface BoardOptions {
  /** @default 100 */
  readonly width?: number;
  /** ANSI colours: green approved, yellow deploying or baking, red blocked or rolling back. @default false */
  readonly color?: boolean;
  /** @default 8 */
  readonly events?: number;
}

type Tone = 'good' | 'busy' | 'bad' | 'dim' | 'plain';

const ANSI: Readonly<Record<Tone, string>> = {
  good: '\x1b[32m',
  busy: '\x1b[33m',
  bad: '\x1b[31m',
  dim: '\x1b[2m',
  plain: '',
};

interface Segment {
  readonly text: string;
  readonly tone: Tone;
}

/**
 * Lays out segments on one line of at most `width` characters (an ellipsis marks a cut),
 * colouring them only when asked; widths count code points, which covers the symbols used.
 */
function line(segments: readonly Segment[], width: number, color: boolean): string {
  let room = width;
  let out = '';
  for (const segment of segments) {
    if (room <= 0) break;
    const chars = [...segment.text];
    const cut = chars.length > room;
    const text = cut ? `${chars.slice(0, Math.max(0, room - 1)).join('')}…` : segment.text;
    room -= cut ? room : chars.length;
    const paint = color && segment.tone !== 'plain' && text.trim() !== '';
    out += paint ? `${ANSI[segment.tone]}${text}\x1b[0m` : text;
  }
  return out.trimEnd();
}

/** Pads or cuts `text` to exactly `width` characters. */
function cell(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text + ' '.repeat(width - chars.length);
  return width <= 0 ? '' : `${chars.slice(0, width - 1).join('')}…`;
}

/**
 * The two largest units of a duration, rounded up so that a bake never reads 0s early.
 *
 * @example
 * humanDuration(7_500); // '2h 05m'
 * humanDuration(45);    // '45s'
 * humanDuration(97_200); // '1d 03h'
 */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const units: [number, string][] = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = units.findIndex(([value]) => value > 0);
  if (first === -1) return '0s';
  const [value, unit] = units[first] as [number, string];
  const next = units[first + 1];
  return next === undefined ? `${value}${unit}` : `${value}${unit} ${pad2(next[0])}${next[1]}`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `hh:mm:ss` of an instant, in UTC like every time the runtime records. */
function clockTime(at: string | Date): string {
  return new Date(at).toISOString().slice(11, 19);
}

/** One event as a line of text: `10:41:02  Stage Approved  gamma r2`. */
export function describeEvent(event: PipelineEvent): string {
  const { stage, release, target, reason, data } = event.detail;
  const subject = [stage, release === null ? null : releaseLabel(release), target]
    .filter((part) => part !== null)
    .join(' ');
  const extras: string[] = [];
  if (typeof data.to === 'string') extras.push(`→ ${data.to}`);
  if (data.kind === 'rollback') extras.push('(rollback)');
  if (typeof data.plan === 'string') extras.push(data.plan);
  const tail = [subject, ...extras].filter(Boolean).join(' ');
  return `${clockTime(event.at)}  ${event.type.padEnd(EVENT_TYPE_WIDTH)}  ${tail}${reason === null ? '' : `: ${reason}`}`;
}

/** The longest event type, `Deployment Succeeded`. */
const EVENT_TYPE_WIDTH = 20;

function eventTone(event: PipelineEvent): Tone {
  switch (event.type) {
    case 'Stage Approved':
    case 'Rollback Completed':
    case 'Promotions Enabled':
      return 'good';
    case 'Deployment Succeeded':
      return event.detail.data.kind === 'rollback' ? 'bad' : 'plain';
    case 'Release Blocked':
    case 'Deployment Failed':
    case 'Rollback Started':
    case 'Promotions Disabled':
    case 'Blocker Overridden':
      return 'bad';
    case 'Deployment Started':
    case 'Bake Started':
      return 'busy';
    default:
      return 'plain';
  }
}

/** What a stage is doing, in words, and how it should look. */
function describeStage(snapshot: ViewSnapshot, name: string): Segment {
  const state = stageState(snapshot, name);
  const run = state.run;
  const definition = snapshot.topology.stage(name);
  if (run === null) return describeIdle(state);
  const blocked = describeBlockers(snapshot, run, definition);
  switch (run.step) {
    case 'waiting':
      return blocked === null
        ? { text: 'starting', tone: 'busy' }
        : { text: `blocked: ${blocked}`, tone: 'bad' };
    case 'deploying': {
      const done = progress(snapshot, run, 'normal').join(', ');
      const text = done === '' ? 'deploying' : `deploying ${done}`;
      return blocked === null
        ? { text, tone: 'busy' }
        : { text: `${text}; blocked: ${blocked}`, tone: 'bad' };
    }
    case 'baking':
      return { text: describeBake(snapshot, run, definition), tone: 'busy' };
    case 'approving': {
      const left = definition.approvalSteps
        .map((step) => step.name)
        .filter((step) => !run.approvalsPassed.includes(step));
      return { text: `approving: ${left.join(', ')}`, tone: 'busy' };
    }
    case 'rolling-back':
      return { text: describeRollback(snapshot, run), tone: 'bad' };
  }
}

function describeIdle(state: StageState): Segment {
  if (!state.promotionsIn.enabled)
    return { text: `idle, promotions in disabled: ${state.promotionsIn.reason}`, tone: 'bad' };
  if (!state.promotionsOut.enabled)
    return { text: `idle, promotions out disabled: ${state.promotionsOut.reason}`, tone: 'bad' };
  return { text: 'idle', tone: 'dim' };
}

/** Each distinct reason once, naming its targets when it holds back only some of them. */
function describeBlockers(
  snapshot: ViewSnapshot,
  run: StageRun,
  definition: StageDefinition,
): string | null {
  if (run.blockers.length === 0) return null;
  const byReason = new Map<string, { targets: Set<string>; until: string | null }>();
  for (const blocker of run.blockers) {
    const entry = byReason.get(blocker.reason) ?? { targets: new Set(), until: blocker.until };
    entry.targets.add(blocker.target);
    byReason.set(blocker.reason, entry);
  }
  return [...byReason]
    .map(([reason, { targets, until }]) => {
      const some = targets.size < definition.targets.length ? ` (${[...targets].join(', ')})` : '';
      const opens =
        until === null
          ? ''
          : `, opens in ${humanDuration((Date.parse(until) - snapshot.now.getTime()) / 1000)}`;
      return `${reason}${some}${opens}`;
    })
    .join('; ');
}

function describeBake(snapshot: ViewSnapshot, run: StageRun, definition: StageDefinition): string {
  const expedite = snapshot.state.meta.expedite;
  const duration = effectiveBakeSeconds(
    definition.bake.durationSeconds,
    expedite !== null && expedite.release === run.release ? expedite.bakeFactor : null,
  );
  const started = Date.parse(run.bakeStartedAt ?? run.startedAt);
  const left = duration - (snapshot.now.getTime() - started) / 1000;
  const parts = [`baking ${humanDuration(left)} left`];
  const { minDataPoints } = definition.bake;
  if (minDataPoints > 0) {
    // As the bake counts them: each target's shortfall on its own traffic, summed.
    const counted = snapshot.dataPoints[definition.name] ?? {};
    const missing = definition.targets.reduce(
      (sum, target) => sum + Math.max(0, minDataPoints - (counted[target.id] ?? 0)),
      0,
    );
    parts.push(`${missing} data points left`);
  }
  return parts.join(', ');
}

function describeRollback(snapshot: ViewSnapshot, run: StageRun): string {
  const touched = Object.values(run.targets).filter((target) => target.status !== 'waiting');
  const to = [...new Set(touched.map((target) => target.rollbackTo))]
    .map((release) => (release === null ? 'nothing' : releaseLabel(release)))
    .join('/');
  const why =
    run.failure ??
    (run.requestedBy === null ? null : `${run.requestedBy.by}: ${run.requestedBy.reason}`);
  const done = progress(snapshot, run, 'rollback');
  const how = done.length === 0 ? '' : ` (${done.join(', ')})`;
  return `rolling back ${releaseLabel(run.release)} → ${to || 'nothing'}${how}${why === null ? '' : `: ${why}`}`;
}

/**
 * `2/3 batches` for the run's deployments known to the local deployer, and how many
 * targets are done when there are several: `4/6 batches, 1/2 targets done`.
 */
function progress(snapshot: ViewSnapshot, run: StageRun, kind: 'normal' | 'rollback'): string[] {
  const targets = Object.entries(run.targets).filter(([, t]) => t.status !== 'waiting');
  let batch = 0;
  let batches = 0;
  for (const [id, target] of targets) {
    const release = kind === 'normal' ? run.release : target.rollbackTo;
    const deployment = snapshot.deployments.findLast(
      (d) => d.target === id && d.kind === kind && d.release === release,
    );
    if (deployment === undefined) continue;
    batch += deployment.status === 'succeeded' ? deployment.batches : deployment.batch;
    batches += deployment.batches;
  }
  const parts = batches > 0 ? [`${batch}/${batches} batches`] : [];
  const all = Object.keys(run.targets).length;
  if (all > 1) {
    const done = kind === 'normal' ? ['deployed'] : ['rolled-back', 'rollback-failed'];
    const count = targets.filter(([, t]) => done.includes(t.status)).length;
    parts.push(`${count}/${all} targets done`);
  }
  return parts;
}

export function stageState(snapshot: ViewSnapshot, name: string): StageState {
  const state = snapshot.state.stages[name];
  if (state === undefined) {
    throw new TypeError(
      `The snapshot has no state for stage ${name}; pass the state of every stage of ${snapshot.topology.pipeline}.`,
    );
  }
  return state;
}

/** `pre-production`, `wave 2`: the heading a stage is listed under. */
function groupOf(stage: StageDefinition): string {
  if (stage.phase === 'pre-production') return 'pre-production';
  return stage.wave === null ? 'production' : `wave ${stage.wave}`;
}

const label = (release: ReleaseNumber | null) => (release === null ? '' : releaseLabel(release));

/**
 * The live board: a header, one line per stage under its wave (release in it, what it is
 * doing, last approved release, pending release), then the latest events.
 *
 * @example
 * renderBoard(snapshot, { width: 80 });
 * // api  10:42:17 UTC  clock ×60  latest r5
 * // pre-production
 * //   beta    r5  deploying 2/3 batches                      ✓ r4  r6 waiting
 * //   gamma   r4  baking 12m 30s left, 40 data points left  ✓ r3
 * // …
 */
export function renderBoard(snapshot: ViewSnapshot, options: BoardOptions = {}): string {
  const width = options.width ?? 100;
  const color = options.color ?? false;
  const { topology, state } = snapshot;
  const stages = topology.definition.stages;
  const rows = stages.map((stage) => {
    const stageNow = stageState(snapshot, stage.name);
    return {
      stage,
      name: stage.oneBox ? `${stage.name} (one-box)` : stage.name,
      release: label(stageNow.run?.release ?? null) || '-',
      step: describeStage(snapshot, stage.name),
      approved: stageNow.lastApproved === null ? '' : `✓ ${releaseLabel(stageNow.lastApproved)}`,
      pending: stageNow.pending === null ? '' : `${releaseLabel(stageNow.pending)} waiting`,
    };
  });
  const widest = (pick: (row: (typeof rows)[number]) => string) =>
    Math.max(0, ...rows.map((row) => [...pick(row)].length));
  const nameWidth = widest((row) => row.name);
  const releaseWidth = Math.max(
    3,
    widest((row) => row.release),
  );
  const approvedWidth = widest((row) => row.approved);
  const pendingWidth = widest((row) => row.pending);
  const fixed =
    2 + nameWidth + 2 + releaseWidth + 2 + (approvedWidth && approvedWidth + 2) + pendingWidth + 2;
  // As wide as the longest step, unless that pushes the columns after it off the line.
  const stepWidth = Math.min(
    widest((row) => row.step.text),
    Math.max(16, width - fixed),
  );

  const header = [
    topology.pipeline,
    `${clockTime(snapshot.now)} UTC`,
    snapshot.speed === null ? 'clock simulated' : `clock ×${snapshot.speed}`,
    `latest ${label(state.meta.latestRelease) || 'none'}`,
    ...(state.meta.expedite === null
      ? []
      : [`expediting ${releaseLabel(state.meta.expedite.release)}`]),
    ...(state.meta.expediteRequest === null
      ? []
      : [`expedite of ${releaseLabel(state.meta.expediteRequest.release)} awaits approval`]),
  ].join('  ');
  const lines = [line([{ text: header, tone: 'plain' }], width, color)];
  let group: string | null = null;
  for (const row of rows) {
    if (groupOf(row.stage) !== group) {
      group = groupOf(row.stage);
      lines.push(line([{ text: group, tone: 'dim' }], width, color));
    }
    const segments: Segment[] = [
      {
        text: `  ${cell(row.name, nameWidth)}  ${cell(row.release, releaseWidth)}  `,
        tone: 'plain',
      },
      { text: cell(row.step.text, stepWidth), tone: row.step.tone },
      { text: '  ', tone: 'plain' },
    ];
    if (approvedWidth > 0)
      segments.push({ text: `${cell(row.approved, approvedWidth)}  `, tone: 'good' });
    segments.push({ text: row.pending, tone: 'busy' });
    lines.push(line(segments, width, color));
  }
  const shown = options.events ?? 8;
  const recent = shown > 0 ? snapshot.events.slice(-shown) : [];
  if (recent.length > 0) {
    lines.push(line([{ text: 'events', tone: 'dim' }], width, color));
    for (const event of recent) {
      lines.push(
        line([{ text: `  ${describeEvent(event)}`, tone: eventTone(event) }], width, color),
      );
    }
  }
  return lines.join('\n');
}
