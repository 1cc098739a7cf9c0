/** `#/history/<target-or-stage>`: deployments of a target, or of every target of a stage. */
import { get } from './api.js';
import { h, table } from './dom.js';
import { short, subject, when } from './format.js';
import { heading, pill, releaseLink } from './page-parts.js';

/** Deployments newest first, with the commits each brought or took away. */
export function historyPage(main, name) {
  const live = h('div');
  main.append(
    heading(
      `History of ${name}`,
      h(
        'p',
        { class: 'muted' },
        'Deployments newest first, with the commits each brought or took away.',
      ),
    ),
    live,
  );
  return async (stillHere) => {
    const entries = await get(['history', name], { limit: 50 });
    if (!stillHere()) return;
    live.replaceChildren(
      entries.length === 0
        ? h('p', { class: 'muted', testid: 'history-empty' }, `${name} has no deployments yet.`)
        : table(
            ['Finished', 'Target', 'Change', 'Kind', 'Result', 'Commits'],
            entries.map((e) => [
              when(e.finishedAt),
              h('span', { class: 'target-name' }, e.target),
              [releaseLink(e.from), ' → ', releaseLink(e.to)],
              e.kind === 'rollback' ? pill('bad', 'rollback') : pill('quiet', 'normal'),
              [
                e.result === 'succeeded' ? pill('good', 'succeeded') : pill('bad', 'failed'),
                e.reason === null ? null : h('div', { class: 'muted' }, e.reason),
              ],
              commitChanges(e),
            ]),
            () => ({ testid: 'history-entry' }),
          ),
    );
  };
}

/** At most ten commits a deployment added (+) or removed (−), then how many more. */
function commitChanges(entry) {
  if (entry.commits.length === 0) return h('span', { class: 'muted' }, '–');
  const sign = entry.change === 'removed' ? '−' : '+';
  return h(
    'ul',
    { class: `commits ${entry.change}` },
    entry.commits
      .slice(0, 10)
      .map((c) =>
        h(
          'li',
          {},
          `${sign} `,
          h('code', {}, short(c.sha)),
          ` ${subject(c.message)} `,
          h('span', { class: 'muted' }, c.author),
        ),
      ),
    entry.commits.length > 10
      ? h('li', { class: 'muted' }, `… ${entry.commits.length - 10} more`)
      : null,
  );
}
