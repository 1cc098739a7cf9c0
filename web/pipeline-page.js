/** `#/`: the pipeline now, its stages by wave and its newest releases. */
import { get } from './api.js';
import { h, table } from './dom.js';
import { label, short, when } from './format.js';
import { heading, outcomePill, pill, releaseLink, whereForm } from './page-parts.js';
import { route } from './routes.js';
import { session } from './session.js';
import { stageCard } from './stage-card.js';

/** The pipeline page: the search box stays put; the stages and releases redraw each second. */
export function pipelinePage(main) {
  const summary = h('p', { class: 'muted', testid: 'pipeline-summary' });
  const live = h('div');
  main.append(heading(session.pipeline, summary, whereForm()), live);
  let releases = [];
  let seen = null;
  return async (stillHere) => {
    const status = await get(['status']);
    // Release outcomes change only when a run does: read them again only then.
    const fingerprint = JSON.stringify([
      status.latestRelease,
      status.stages.map((s) => [s.run?.release, s.run?.step, s.lastApproved, s.pending]),
    ]);
    if (fingerprint !== seen) {
      releases = await get(['releases'], { limit: 10 });
      seen = fingerprint;
    }
    if (!stillHere()) return;
    summary.textContent = `Newest release ${label(status.latestRelease)} · control plane clock ${when(status.now)}`;
    live.replaceChildren(
      h(
        'div',
        {},
        controls(status),
        h('section', { class: 'stages', 'aria-label': 'Stages' }, stageGroups(status)),
        recentReleases(releases, status.stages),
      ),
    );
  };
}

/** Expedites, known-bad entries and overrides in force: what changes the rules right now. */
function controls(status) {
  const notes = [];
  const e = status.expedite;
  if (e !== null) {
    notes.push(
      h(
        'li',
        { class: 'note busy', testid: 'expedite' },
        h('strong', {}, 'Expedite '),
        releaseLink(e.release),
        `: bakes × ${e.bakeFactor}, requested by ${e.requestedBy}, approved by ${e.approver} — ${e.reason}`,
      ),
    );
  }
  const asked = status.expediteRequest;
  if (asked !== null && asked !== undefined) {
    notes.push(
      h(
        'li',
        { class: 'note', testid: 'expedite-request' },
        h('strong', {}, 'Expedite requested '),
        releaseLink(asked.release),
        `: bakes × ${asked.bakeFactor}, by ${asked.requestedBy} — ${asked.reason}; waits for a second person's approval`,
      ),
    );
  }
  for (const bad of status.knownBad) {
    notes.push(
      h(
        'li',
        { class: 'note bad', testid: 'known-bad' },
        h('strong', {}, `Known-bad ${bad.kind} `),
        h('code', {}, bad.value),
        ` — ${bad.reason} (${bad.by}, ${when(bad.at)})`,
      ),
    );
  }
  for (const o of status.overrides) {
    const scope = [o.subject, o.stage && `at ${o.stage}`, o.release && `for ${label(o.release)}`];
    notes.push(
      h(
        'li',
        { class: 'note busy', testid: 'override' },
        h('strong', {}, `Override of ${o.kind} `),
        scope.filter(Boolean).join(' '),
        ` until ${when(o.until)} — ${o.reason} (${o.by})`,
      ),
    );
  }
  return notes.length === 0 ? null : h('ul', { class: 'notes' }, notes);
}

/** Stages in order; a production wave's stages side by side, labelled with the wave. */
function stageGroups(status) {
  const byName = new Map(status.stages.map((stage) => [stage.stage, stage]));
  let previous = null;
  return status.groups.map((group) => {
    const stages = group.stages.map((name) => byName.get(name)).filter(Boolean);
    const title = group.wave === null ? (stages[0]?.phase ?? '') : `wave ${group.wave}`;
    // A run of pre-production stages is labelled once, at its first stage.
    const shown = title === previous ? '' : title;
    previous = title;
    return h(
      'div',
      { class: 'group', testid: `group-${group.stages.join('+')}` },
      h('div', { class: 'group-title' }, shown),
      h(
        'div',
        { class: 'group-stages' },
        stages.map((stage) => stageCard(stage, status.now)),
      ),
    );
  });
}

/** The newest releases and their outcome at every stage. */
function recentReleases(releases, stages) {
  const names = stages.map((stage) => stage.stage);
  return h(
    'section',
    { class: 'releases', testid: 'releases' },
    h('h2', {}, 'Recent releases'),
    releases.length === 0
      ? h(
          'p',
          { class: 'muted' },
          'No release yet: the first successful build of the branch makes r1.',
        )
      : h(
          'div',
          { class: 'scroll' },
          table(
            [
              'Release',
              'Commit',
              'Created',
              'Commits',
              ...names.map((n) => h('span', { class: 'stage-col' }, n)),
            ],
            releases.map((r) => [
              h('a', { href: route(`/release/${r.release}`) }, label(r.release)),
              h('code', {}, short(r.headCommit)),
              when(r.createdAt),
              [
                String(r.commits),
                r.unreviewed > 0 ? [' ', pill('bad', `${r.unreviewed} unreviewed`)] : null,
              ],
              ...names.map((name) => outcomePill(r.outcomes[name])),
            ]),
            (index) => ({ testid: `release-row-${releases[index].release}` }),
          ),
        ),
  );
}
