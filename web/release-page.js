/** `#/release/<n>`: one release. */
import { get } from './api.js';
import { h, table } from './dom.js';
import { label, short, subject, when } from './format.js';
import { heading, outcomePill, pill, releaseLink, reviewPill } from './page-parts.js';
import { route } from './routes.js';

/** One release: its commits and their reviews, its artifacts, its outcome per stage. */
export function releasePage(main, arg) {
  const live = h('div');
  main.append(live);
  return async (stillHere) => {
    const detail = await get(['releases', arg.replace(/^r/, '')]);
    if (!stillHere()) return;
    const r = detail.release;
    live.replaceChildren(
      heading(
        `${label(r.number)} of ${r.pipeline}`,
        h(
          'p',
          { class: 'muted' },
          'Built from ',
          h('code', {}, r.headCommit),
          ` at ${when(r.createdAt)}`,
        ),
      ),
      h(
        'section',
        { testid: 'release-commits' },
        h('h2', {}, `Commits (${r.commits.length})`),
        table(
          ['Commit', 'Message', 'Author', 'Review'],
          r.commits.map((c) => [
            h(
              'a',
              { href: route(`/where/${c.sha}`), title: 'Where does it run?' },
              h('code', {}, short(c.sha)),
            ),
            subject(c.message),
            c.author,
            reviewPill(c),
          ]),
        ),
      ),
      h(
        'section',
        { testid: 'release-artifacts' },
        h('h2', {}, 'Artifacts'),
        artifacts(r.artifacts),
      ),
      h(
        'section',
        { testid: 'release-stages' },
        h('h2', {}, 'Stages'),
        table(
          ['Stage', 'Outcome', 'Since', 'Execution'],
          detail.stages.map((s) => [
            h('a', { href: route(`/history/${s.stage}`) }, s.stage),
            [outcomePill(s.outcome), outcomeReason(s.outcome)],
            s.outcome === null ? '–' : when(s.outcome.at),
            execution(s.execution),
          ]),
          (index) => ({ testid: `release-stage-${detail.stages[index].stage}` }),
        ),
      ),
    );
  };
}

function outcomeReason(outcome) {
  if (outcome === null) return null;
  if (outcome.status === 'rejected' || outcome.status === 'blocked') {
    return h('div', { class: 'muted' }, outcome.reason);
  }
  if (outcome.status === 'superseded') {
    return h('span', { class: 'muted' }, ' by ', releaseLink(outcome.by));
  }
  return null;
}

/** The Step Functions execution of the release's run, linked to its console when there is one. */
function execution(e) {
  if (e === null) return h('span', { class: 'muted' }, '–');
  const name = h('code', {}, e.name);
  return [
    e.link === null || e.link === undefined
      ? name
      : h('a', { href: e.link, target: '_blank', rel: 'noopener noreferrer' }, name),
    e.current ? [' ', pill('busy', 'running')] : null,
  ];
}

function artifacts(manifest) {
  const rows = [
    ...manifest.images.map((i) => ['image', i.name, h('code', {}, `${i.repository}@${i.digest}`)]),
    ...manifest.files.map((f) => ['file', f.name, h('code', {}, `sha256:${f.sha256}`)]),
    ...manifest.dependencies.map((d) => ['dependency', d.name, h('code', {}, d.version)]),
  ];
  if (rows.length === 0) return h('p', { class: 'muted' }, 'No artifacts.');
  return table(['Kind', 'Name', 'Identity'], rows);
}
