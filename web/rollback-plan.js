/** The rollback page's preview: what leaves the targets, and the button that confirms it. */
import { h, table } from './dom.js';
import { label, listing, STEP_WORDS, short, subject } from './format.js';
import { route } from './routes.js';

/**
 * What the operator confirms of a preview: each target's from → to and the runs it stops.
 * The server refuses the rollback if the pipeline moved since.
 *
 * @example
 * confirmationOf(plan); // { targets: [{ target: 'gamma', from: 4, to: 3 }], interrupted: [] }
 */
export function confirmationOf(plan) {
  return {
    targets: plan.targets.map(({ target, from, to }) => ({ target, from, to })),
    interrupted: plan.interrupted.map(({ stage, release }) => ({ stage, release })),
  };
}

/** What the rollback will do, and the button that does it. */
export function rollbackPlan(plan, confirm) {
  const confirmButton = h(
    'button',
    {
      type: 'button',
      class: 'danger',
      testid: 'rollback-confirm',
      onclick: () => confirm(confirmButton),
    },
    'Confirm rollback',
  );
  return h(
    'section',
    { class: 'panel plan', testid: 'rollback-preview' },
    h('h2', {}, 'Rollback plan'),
    table(
      ['Stage', 'Target', 'From', 'To'],
      plan.targets.map((t) => [
        t.stage,
        h('span', { class: 'target-name' }, t.target),
        label(t.from),
        label(t.to),
      ]),
    ),
    plan.previews.map((p) =>
      h(
        'div',
        { class: 'preview' },
        h(
          'h3',
          {},
          `${label(p.from)} → ${label(p.to)} removes ${p.commitsRemoved.length} commit${p.commitsRemoved.length === 1 ? '' : 's'}`,
        ),
        h(
          'ul',
          { class: 'commits removed', testid: 'rollback-commits-removed' },
          p.commitsRemoved.map((c) =>
            h(
              'li',
              {},
              '− ',
              h('code', {}, short(c.sha)),
              ` ${subject(c.message)} `,
              h('span', { class: 'muted' }, c.author),
            ),
          ),
        ),
        artifactChanges('Images', p.images),
        artifactChanges('Files', p.files),
        artifactChanges('Dependencies', p.dependencies),
      ),
    ),
    plan.interrupted.length === 0
      ? null
      : h(
          'div',
          { class: 'note busy', testid: 'rollback-interrupted' },
          'Stops ',
          listing(
            plan.interrupted.map(
              (i) => `${label(i.release)} ${STEP_WORDS[i.step] ?? i.step} at ${i.stage}`,
            ),
          ),
          '; the release ends rejected there.',
        ),
    h(
      'p',
      { class: 'note bad', testid: 'rollback-stages-disabled' },
      `Promotions into and out of ${listing(plan.stages)} will be disabled until someone enables them again.`,
    ),
    h('div', { class: 'actions' }, confirmButton, h('a', { href: route('/') }, 'Cancel')),
  );
}

function artifactChanges(title, list) {
  if (list.length === 0) return null;
  return h(
    'div',
    {},
    h('h4', {}, title),
    table(
      ['Name', 'Now', 'After'],
      list.map((c) => [c.name, identity(c.from), identity(c.to)]),
    ),
  );
}

/** A digest or version: long hashes shortened to 12 digits, the whole on hover. */
function identity(value) {
  if (value === null) return h('span', { class: 'muted' }, 'absent');
  const hash = /^(sha256:)?([0-9a-f]{40,})$/.exec(value);
  if (hash === null) return h('code', {}, value);
  return h('code', { title: value }, `${hash[1] ?? ''}${hash[2].slice(0, 12)}…`);
}
