/** `#/rollback/<stage-or-target>`: roll a stage or target back: choose, preview, confirm. */
import { ApiError, get, post } from './api.js';
import { h, table } from './dom.js';
import { label, listing } from './format.js';
import { heading, releaseLink } from './page-parts.js';
import { rollbackChoices, running } from './rollback-choices.js';
import { confirmationOf, rollbackPlan } from './rollback-plan.js';
import { route } from './routes.js';
import { leaveFlash, session } from './session.js';

/**
 * The rollback flow: choose the release to go back to, preview what leaves the targets,
 * confirm. Rendered once (no polling): it holds a form. The request id is made once per
 * preview, so confirming twice starts one rollback.
 */
export function rollbackPage(main, name) {
  const body = h('div', { class: 'narrow' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(
    heading(
      `Roll back ${name}`,
      h(
        'p',
        { class: 'muted' },
        'A rollback deploys an older release that was deployed and approved on each target, and disables promotions into and out of the stage until someone enables them again.',
      ),
    ),
    body,
  );
  return async (stillHere) => {
    const status = await get(['status']);
    if (!stillHere()) return;
    const stage = status.stages.find(
      (s) => s.stage === name || s.targets.some((t) => t.target === name),
    );
    if (stage === undefined) {
      throw new ApiError(404, `${session.pipeline} has no stage or target "${name}".`);
    }
    const targets =
      stage.stage === name ? stage.targets : stage.targets.filter((t) => t.target === name);
    body.replaceChildren(rollbackForm(name, stage, targets));
  };
}

function rollbackForm(name, stage, targets) {
  const { defaults, further } = rollbackChoices(stage, targets);
  const reason = h('textarea', {
    id: 'rollback-reason',
    rows: 3,
    maxlength: 1024,
    placeholder: 'e.g. p99 latency doubled since r42',
    testid: 'rollback-reason',
  });
  const error = h('p', { class: 'error', testid: 'rollback-error', hidden: true });
  const plan = h('div', { class: 'plan-slot' });
  let preview = null;

  const chosen = () => {
    const value = form.querySelector('input[name=to]:checked')?.value ?? '';
    return value === '' ? null : Number(value);
  };
  const form = h(
    'form',
    {
      class: 'panel',
      onchange: (event) => {
        // Another choice makes the preview stale: confirm only what was previewed.
        if (event.target.name === 'to') {
          preview = null;
          plan.replaceChildren();
        }
      },
      onsubmit: async (event) => {
        event.preventDefault();
        const to = chosen();
        setError(error, null);
        const button = event.submitter ?? form.querySelector('button[type=submit]');
        button.disabled = true;
        try {
          const answer = await post(['rollback', 'preview'], { targets: [name], to });
          preview = { to, answer, requestId: crypto.randomUUID() };
          plan.replaceChildren(rollbackPlan(answer, confirm));
          plan.scrollIntoView({ block: 'nearest' });
        } catch (failure) {
          preview = null;
          plan.replaceChildren();
          setError(error, failure.message);
        } finally {
          button.disabled = false;
        }
      },
    },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Go back to'),
      radio(
        '',
        true,
        defaults.length === 0
          ? 'The last release approved before what runs now'
          : [
              h('strong', {}, defaults.map(label).join(', ')),
              defaults.length === 1
                ? ' — the last release approved before what runs now'
                : ' — each target’s last release approved before what it runs',
            ],
        'rollback-to-default',
      ),
      further.map((release) =>
        radio(
          String(release),
          false,
          [h('strong', {}, label(release)), ' — further back, e.g. for a latent change'],
          `rollback-to-${release}`,
        ),
      ),
      defaults.length === 0
        ? h('p', { class: 'muted' }, 'No older release was deployed and approved here.')
        : null,
    ),
    h('label', { for: 'rollback-reason' }, 'Reason'),
    reason,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', testid: 'rollback-preview-button' }, 'Preview'),
    ),
    error,
  );

  /** Starts the rollback previewed, then shows the pipeline, where its progress appears. */
  async function confirm(button) {
    if (preview === null) return;
    const text = reason.value.trim();
    if (text.length < 3) {
      setError(
        error,
        'Give a reason of at least 3 characters: it is recorded with the rollback and shown where promotions are disabled.',
      );
      reason.focus();
      return;
    }
    setError(error, null);
    button.disabled = true;
    try {
      await post(['rollback'], {
        targets: [name],
        to: preview.to,
        reason: text,
        requestId: preview.requestId,
        confirmed: confirmationOf(preview.answer),
      });
      const goals = [...new Set(preview.answer.targets.map((t) => label(t.to)))];
      leaveFlash(
        `Rolling ${name} back to ${goals.join(', ')}; promotions into and out of ${listing(preview.answer.stages)} are disabled until someone enables them.`,
      );
      location.hash = route('/');
    } catch (failure) {
      setError(error, failure.message);
      button.disabled = false;
    }
  }

  return h(
    'div',
    {},
    h(
      'section',
      {},
      h('h2', {}, 'Targets'),
      table(
        ['Target', 'Runs', 'Deployed and approved'],
        targets.map((t) => [
          h('span', { class: 'target-name' }, t.target),
          releaseLink(running(stage, t)),
          t.approved.length === 0 ? '–' : t.approved.map(label).join(', '),
        ]),
      ),
    ),
    form,
    plan,
  );
}

function radio(value, checked, text, testid) {
  return h(
    'label',
    { class: 'choice' },
    h('input', { type: 'radio', name: 'to', value, checked, testid }),
    ' ',
    text,
  );
}

function setError(element, message) {
  element.textContent = message ?? '';
  element.hidden = message === null;
}
