import {
  laterOutcome,
  type PipelineEvent,
  type ReleaseNumber,
  releaseLabel,
  type StageOutcome,
} from '../core/index.js';
import { stageState, type ViewSnapshot } from './view-board.js';

/** Outcomes by release, then by stage. */
type Outcomes = Map<ReleaseNumber, Map<string, StageOutcome>>;

/**
 * The outcomes the events tell of, for when the release store's progress is not at hand.
 * A withdrawal has no event of its own, so it shows as the outcome before it.
 */
function outcomesFromEvents(events: readonly PipelineEvent[]): Outcomes {
  const outcomes: Outcomes = new Map();
  const set = (release: ReleaseNumber, stage: string, outcome: StageOutcome) => {
    const byStage = outcomes.get(release) ?? new Map<string, StageOutcome>();
    if (laterOutcome(byStage.get(stage), outcome)) byStage.set(stage, outcome);
    outcomes.set(release, byStage);
  };
  for (const { type, at, detail } of events) {
    const { stage, release, reason, data } = detail;
    if (stage === null || release === null) continue;
    switch (type) {
      case 'Release Promoted':
        if (typeof data.to === 'string') set(release, data.to, { status: 'pending', at });
        break;
      case 'Stage Started':
        set(release, stage, { status: 'in-flight', at });
        break;
      case 'Release Blocked':
        set(release, stage, { status: 'blocked', at, reason: reason ?? '' });
        break;
      case 'Stage Approved':
        set(release, stage, { status: 'approved', at });
        break;
      case 'Release Superseded':
        set(release, stage, { status: 'superseded', at, by: Number(data.by) });
        break;
      // A failed run and a manual rollback both reject the release rolled back from.
      case 'Rollback Started':
        set(release, stage, { status: 'rejected', at, reason: reason ?? '' });
        break;
      default:
        break;
    }
  }
  return outcomes;
}

/** What the stages hold now: a release pending at a first stage has no event of its own. */
function addCurrent(outcomes: Outcomes, snapshot: ViewSnapshot): Outcomes {
  const at = snapshot.now.toISOString();
  const set = (release: ReleaseNumber, stage: string, outcome: StageOutcome) => {
    const byStage = outcomes.get(release) ?? new Map<string, StageOutcome>();
    if (!byStage.has(stage)) byStage.set(stage, outcome);
    outcomes.set(release, byStage);
  };
  for (const stage of snapshot.topology.stageNames) {
    const { pending, run } = stageState(snapshot, stage);
    if (pending !== null) set(pending, stage, { status: 'pending', at });
    if (run?.kind === 'normal') set(run.release, stage, { status: 'in-flight', at });
  }
  return outcomes;
}

function outcomesFromProgress(snapshot: ViewSnapshot): Outcomes | null {
  if (snapshot.progress === undefined) return null;
  return new Map(
    snapshot.progress.map((progress) => [
      progress.release,
      new Map(Object.entries(progress.stages)),
    ]),
  );
}

/** Columns padded to their widest cell, two spaces apart. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((text, column) => {
      widths[column] = Math.max(widths[column] ?? 0, [...text].length);
    });
  }
  return rows.map((row) =>
    row
      .map((text, column) => text + ' '.repeat((widths[column] ?? 0) - [...text].length))
      .join('  ')
      .trimEnd(),
  );
}

/** `1.0.3 ×2, 1.0.2 ×1`: what a fleet's boxes serve, most boxes first. */
function fleetText(versions: Readonly<Record<string, number>> | undefined): string {
  if (versions === undefined) return '-';
  const entries = Object.entries(versions).filter(([, boxes]) => boxes > 0);
  if (entries.length === 0) return '-';
  return entries
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([version, boxes]) => `${version} ×${boxes}`)
    .join(', ');
}

/**
 * The closing table of the demo: what runs where (each target's release, its boxes'
 * versions, the releases approved there), how every release ended at every stage, and
 * the counts of releases, deployments and rollbacks.
 *
 * Outcomes come from `snapshot.progress` when given, else from the events; deployments are
 * counted from the local deployer when it has any, else from the events.
 *
 * @example
 * renderSummary(snapshot);
 * // target    stage  runs  fleet     approved there
 * // beta-t1   beta   r3    1.0.3 ×3  r1 r2 r3
 * // …
 * // release  beta        gamma
 * // r1       approved    approved
 * // r2       superseded  -
 * // r3       approved    in flight
 * //
 * // releases created 3  deployments 5 (0 failed)  rollbacks 0
 */
export function renderSummary(snapshot: ViewSnapshot): string {
  const { topology, state } = snapshot;
  const withFleets = snapshot.fleets !== undefined;
  const targets: string[][] = [
    ['target', 'stage', 'runs', ...(withFleets ? ['fleet'] : []), 'approved there'],
  ];
  for (const stage of topology.definition.stages) {
    const stageNow = stageState(snapshot, stage.name);
    for (const target of stage.targets) {
      const known = stageNow.targets[target.id];
      const run = stageNow.run?.targets[target.id];
      const busy =
        run === undefined || run.status === 'waiting' || run.status === 'deployed'
          ? ''
          : ` (${run.status.replace('-', ' ')})`;
      const runs = known?.deployed == null ? '-' : releaseLabel(known.deployed);
      targets.push([
        target.id,
        stage.name,
        `${runs}${busy}`,
        ...(withFleets ? [fleetText(snapshot.fleets?.[target.id])] : []),
        (known?.approved ?? []).slice(-5).map(releaseLabel).join(' ') || '-',
      ]);
    }
  }

  const outcomes =
    outcomesFromProgress(snapshot) ?? addCurrent(outcomesFromEvents(snapshot.events), snapshot);
  const latest = state.meta.latestRelease ?? 0;
  const releases: string[][] = [['release', ...topology.stageNames]];
  for (let release = 1; release <= latest; release++) {
    const byStage = outcomes.get(release);
    releases.push([
      releaseLabel(release),
      ...topology.stageNames.map((stage) => byStage?.get(stage)?.status.replace('-', ' ') ?? '-'),
    ]);
  }

  const local = snapshot.deployments.filter((d) => d.kind === 'normal');
  const deployed =
    snapshot.deployments.length > 0
      ? { all: local.length, failed: local.filter((d) => d.status === 'failed').length }
      : {
          all: snapshot.events.filter((e) => e.type === 'Deployment Started').length,
          failed: snapshot.events.filter(
            (e) => e.type === 'Deployment Failed' && e.detail.data.kind !== 'rollback',
          ).length,
        };
  const rollbacks = snapshot.events.filter((e) => e.type === 'Rollback Started').length;
  const counts = `releases created ${latest}  deployments ${deployed.all} (${deployed.failed} failed)  rollbacks ${rollbacks}`;

  return [
    `what runs where (${topology.pipeline})`,
    ...table(targets),
    '',
    ...(latest === 0 ? ['no releases'] : table(releases)),
    '',
    counts,
  ].join('\n');
}
