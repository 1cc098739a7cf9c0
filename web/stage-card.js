/** One stage on the pipeline page: its facts, run, targets, blockers and closed gates. */

import { h } from './dom.js';
import { duration, label, STEP_WORDS, when } from './format.js';
import { pill, releaseLink } from './page-parts.js';
import { openPromotionsDialog } from './promotions-dialog.js';
import { route } from './routes.js';

/** The colour of a stage's edge: red when something is wrong, amber while it works. */
function stageTone(stage) {
  const run = stage.run;
  if (!stage.promotionsIn.enabled || !stage.promotionsOut.enabled) return 'bad';
  if (run !== null && (run.failure !== null || run.kind === 'rollback')) return 'bad';
  if (run !== null) return 'busy';
  return stage.lastApproved === null ? 'quiet' : 'good';
}

export function stageCard(stage, now) {
  const name = stage.stage;
  const runs = [...new Set(stage.targets.map((t) => t.deployed))].sort(
    (a, b) => (a ?? 0) - (b ?? 0),
  );
  const open = stage.promotionsIn.enabled && stage.promotionsOut.enabled;
  return h(
    'article',
    { class: `stage ${stageTone(stage)}`, testid: `stage-${name}` },
    h(
      'header',
      { class: 'stage-head' },
      h('h3', {}, name),
      stage.oneBox ? h('span', { class: 'tag' }, 'one-box') : null,
      stage.run === null
        ? h('span', { class: 'pill quiet', testid: `stage-${name}-step` }, 'idle')
        : null,
      h(
        'nav',
        { class: 'stage-links' },
        h('a', { href: route(`/history/${name}`), testid: `history-link-${name}` }, 'History'),
        h('a', { href: route(`/rollback/${name}`), testid: `rollback-link-${name}` }, 'Roll back…'),
      ),
    ),
    h(
      'dl',
      { class: 'facts' },
      fact(
        'Runs',
        runs.map((release, index) => [index > 0 ? ', ' : null, releaseLink(release)]),
        `stage-${name}-release`,
      ),
      fact('Approved', releaseLink(stage.lastApproved)),
      fact('Pending', releaseLink(stage.pending), `stage-${name}-pending`),
      open
        ? fact('Promotions', h('span', { class: 'ok' }, 'enabled'), `stage-${name}-gates`)
        : null,
    ),
    runPanel(stage, now),
    targetsTable(stage),
    blockers(stage),
    open ? null : closedGates(stage),
  );
}

/** One term of a stage's facts: `Runs r3`. */
const fact = (term, value, testid = null) =>
  h('div', {}, h('dt', {}, term), h('dd', { testid }, value));

/** What the stage's run is doing: its release and step, a bake's progress, who asked for a rollback. */
function runPanel(stage, now) {
  const run = stage.run;
  const testid = `stage-${stage.stage}-step`;
  if (run === null) return null;
  if (run.kind === 'rollback') {
    const to = [...new Set(stage.targets.map((t) => t.rollbackTo).filter((r) => r !== null))];
    return h(
      'div',
      { class: 'run bad', testid },
      h('strong', {}, `Rolling back from ${label(run.release)}`),
      to.length > 0 ? ` to ${to.map(label).join(', ')}` : null,
      run.requestedBy === null
        ? null
        : h('div', { class: 'muted' }, `asked by ${run.requestedBy.by}: ${run.requestedBy.reason}`),
      run.failure === null ? null : h('div', { class: 'error' }, run.failure),
    );
  }
  return h(
    'div',
    { class: `run ${run.failure === null ? 'busy' : 'bad'}`, testid },
    h('strong', {}, releaseLink(run.release), ` ${STEP_WORDS[run.step] ?? run.step}`),
    run.attempt > 1 ? h('span', { class: 'muted' }, ` (attempt ${run.attempt})`) : null,
    run.step === 'baking' && run.bake !== null ? bakeProgress(run.bake, now) : null,
    run.step === 'approving' ? approvals(run.approvals) : null,
    run.failure === null ? null : h('div', { class: 'error' }, `Failed: ${run.failure}`),
  );
}

/** A bake's time as a bar against the control plane's clock, and the data points it needs. */
function bakeProgress(bake, now) {
  const total = Math.max(1, Date.parse(bake.endsAt) - Date.parse(bake.startedAt));
  const done = Math.min(total, Math.max(0, Date.parse(now) - Date.parse(bake.startedAt)));
  const left = (total - done) / 1000;
  return h(
    'div',
    { class: 'bake' },
    h('progress', {
      max: total,
      value: done,
      'aria-label': 'Bake time passed',
      testid: 'bake-progress',
    }),
    h(
      'div',
      { class: 'muted' },
      left > 0
        ? `${duration(left)} left of ${duration(bake.seconds)}`
        : `${duration(bake.seconds)} passed; waiting for data points`,
      bake.minDataPoints > 0 ? ` · needs ≥ ${bake.minDataPoints} ${bake.metric} data points` : null,
    ),
  );
}

function approvals(steps) {
  return h(
    'ul',
    { class: 'checks' },
    steps.map((step) =>
      h(
        'li',
        { class: step.passed ? 'good' : 'busy' },
        `${step.passed ? '✓' : '…'} ${step.name} (${step.kind})`,
      ),
    ),
  );
}

const TARGET_WORDS = {
  waiting: ['quiet', 'waiting'],
  deploying: ['busy', 'deploying'],
  deployed: ['good', 'deployed'],
  'rolling-back': ['bad', 'rolling back'],
  'rolled-back': ['bad', 'rolled back'],
  'rollback-failed': ['bad', 'rollback failed'],
};

/** Each target: where it is, what it runs, and its part in the run. */
function targetsTable(stage) {
  return h(
    'table',
    { class: 'targets' },
    h(
      'tbody',
      {},
      stage.targets.map((target) => {
        const [tone, word] = TARGET_WORDS[target.status] ?? [null, null];
        return h(
          'tr',
          { testid: `target-${target.target}` },
          h(
            'td',
            { class: 'target-name' },
            h(
              'a',
              { href: route(`/history/${target.target}`), title: 'Deployment history' },
              target.target,
            ),
          ),
          h('td', { class: 'muted' }, [target.region, target.zone].filter(Boolean).join(' · ')),
          h('td', {}, releaseLink(target.deployed)),
          h(
            'td',
            {},
            word === null ? null : pill(tone, word),
            target.rollbackTo === null ? null : ` → ${label(target.rollbackTo)}`,
          ),
        );
      }),
    ),
  );
}

/** Why the run cannot start deploying: each blocker with its reason and when it lifts. */
function blockers(stage) {
  const list = stage.run?.blockers ?? [];
  if (list.length === 0) return null;
  return h(
    'ul',
    { class: 'blockers', testid: `stage-${stage.stage}-blockers` },
    list.map((b) =>
      h(
        'li',
        {},
        pill('busy', `blocked: ${b.kind}`),
        ' ',
        h('code', {}, b.subject),
        ` — ${b.reason}`,
        b.until === null ? null : h('span', { class: 'muted' }, ` (until ${when(b.until)})`),
        ` · ${b.target}`,
      ),
    ),
  );
}

/** Closed promotion gates: who closed them, why, since when, and a way to open them again. */
function closedGates(stage) {
  const closed = [
    stage.promotionsIn.enabled ? null : ['in', stage.promotionsIn],
    stage.promotionsOut.enabled ? null : ['out', stage.promotionsOut],
  ].filter((entry) => entry !== null);
  const [, gate] = closed[0];
  const directions = closed.length === 2 ? 'in and out' : closed[0][0];
  // A rollback's reason already names who asked for it.
  const why = gate.reason.includes(gate.by) ? gate.reason : `${gate.by}: ${gate.reason}`;
  return h(
    'div',
    { class: 'gates', testid: `stage-${stage.stage}-gates` },
    h('div', {}, h('strong', {}, `Promotions ${directions} disabled`), ` — ${why}`),
    stage.pending !== null && !stage.promotionsIn.enabled
      ? h('div', {}, `${label(stage.pending)} waits here until promotions in are enabled.`)
      : null,
    h(
      'div',
      { class: 'gates-foot' },
      h('span', { class: 'muted' }, `since ${when(gate.at)}`),
      h(
        'button',
        {
          type: 'button',
          testid: `enable-promotions-${stage.stage}`,
          onclick: () => openPromotionsDialog(stage.stage, `${directions} disabled — ${why}`),
        },
        'Enable promotions',
      ),
    ),
  );
}
