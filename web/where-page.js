/** `#/where/<sha>`: where a commit runs. */
import { get } from './api.js';
import { h, table } from './dom.js';
import { label, short, subject, when } from './format.js';
import { heading, pill, releaseLink, reviewPill, whereForm } from './page-parts.js';
import { route } from './routes.js';

/** For every stage and target: does what it runs contain the commit, and since when. */
export function wherePage(main, prefix) {
  const live = h('div');
  main.append(heading('Where does a commit run?', whereForm(prefix)), live);
  return async (stillHere) => {
    const where = await get(['where', prefix]);
    if (!stillHere()) return;
    if (where.commit === null) {
      live.replaceChildren(
        h(
          'p',
          { class: 'note quiet', testid: 'where-commit' },
          `No release contains ${prefix} yet (newest release ${label(where.latestRelease)}); a commit is released once a build of it succeeds.`,
        ),
      );
      return;
    }
    const c = where.commit;
    const rows = where.stages.flatMap((s) => s.targets.map((t) => ({ stage: s.stage, ...t })));
    live.replaceChildren(
      h(
        'p',
        { class: 'commit-line', testid: 'where-commit' },
        h('code', {}, short(c.sha)),
        ` ${subject(c.message)} `,
        h('span', { class: 'muted' }, `by ${c.author}, new in `),
        releaseLink(c.release),
        ' ',
        reviewPill(c),
      ),
      table(
        ['Stage', 'Target', 'Runs', 'Has it', 'Since'],
        rows.map((t) => [
          t.stage,
          h('a', { href: route(`/history/${t.target}`), class: 'target-name' }, t.target),
          releaseLink(t.runs),
          t.contains
            ? pill('good', 'yes')
            : t.arriving
              ? pill('busy', 'arriving')
              : pill('quiet', 'no'),
          t.contains ? when(t.since) : '–',
        ]),
        (index) => ({ testid: `where-${rows[index].target}` }),
      ),
    );
  };
}
