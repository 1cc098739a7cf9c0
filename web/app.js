/**
 * The Release Captain web view: one ES module, no framework, no build step. It reads the
 * operator API (`/api/pipelines/…`, the same answers the `captain` CLI prints) and sends
 * its commands (rollback, promotions) as JSON POSTs. Pages are chosen by the URL's hash:
 *
 *   #/                  the pipeline now, polled every second
 *   #/release/<n>       one release: commits, artifacts, outcome per stage
 *   #/history/<name>    deployments of a target, or of every target of a stage
 *   #/where/<sha>       where a commit runs
 *   #/rollback/<name>   roll a stage or target back: choose, preview, confirm
 *
 * A `?pipeline=<name>` after the hash path picks a pipeline when the control plane runs
 * several. Everything shown is built with DOM calls and text nodes, never parsed HTML, and
 * nothing is inline: the server's Content-Security-Policy allows scripts and styles from
 * this origin only.
 */

/* ---------- DOM and text helpers ---------- */

/**
 * Creates an element. Props are attributes, except `testid` (→ `data-testid`) and `on*`
 * (event listeners); `null`, `undefined` and `false` props and children are skipped, and
 * text children stay text.
 *
 * @example
 * h('a', { href: '#/', testid: 'home' }, 'Pipeline'); // <a href="#/" data-testid="home">Pipeline</a>
 */
function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'testid') element.dataset.testid = value;
    else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'number' ? String(child) : child);
  }
  return element;
}

/** `3` → `r3`; nothing → an en dash. */
const label = (release) => (release === null || release === undefined ? '–' : `r${release}`);

/** The first eight hex digits of a sha: enough to tell commits apart by eye. */
const short = (sha) => sha.slice(0, 8);

/** A commit message's first line. */
const subject = (message) => message.split('\n')[0];

/** `2026-11-23T10:00:00.000Z` → `2026-11-23 10:00Z`, as the CLI prints times. */
const when = (iso) =>
  iso === null || iso === undefined ? '–' : `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;

/**
 * A duration people read at a glance.
 *
 * @example
 * duration(42); // '42s'
 * duration(1800); // '30m'
 * duration(43200); // '12.0h'
 */
function duration(seconds) {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

/** `['a', 'b', 'c']` → `a, b and c`. */
function listing(words) {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/** A link to a release's page. */
const releaseLink = (release) =>
  release === null || release === undefined
    ? h('span', { class: 'muted' }, '–')
    : h('a', { href: route(`/release/${release}`) }, label(release));

/** A small coloured label: `good` green, `busy` amber, `bad` red, `quiet` grey. */
const pill = (tone, text, title = null) => h('span', { class: `pill ${tone}`, title }, text);

const OUTCOME_TONES = {
  approved: 'good',
  'in-flight': 'busy',
  blocked: 'busy',
  pending: 'quiet',
  superseded: 'quiet',
  rejected: 'bad',
};

/** A release's outcome at a stage, with its reason (or what superseded it) on hover. */
function outcomePill(outcome) {
  if (outcome === null || outcome === undefined) return h('span', { class: 'muted' }, '–');
  const detail =
    outcome.status === 'rejected' || outcome.status === 'blocked'
      ? outcome.reason
      : outcome.status === 'superseded'
        ? `superseded by ${label(outcome.by)}`
        : null;
  const title = [detail, when(outcome.at)].filter((part) => part !== null).join(' · ');
  return pill(OUTCOME_TONES[outcome.status] ?? 'quiet', outcome.status.replace('-', ' '), title);
}

/** How a commit was reviewed: green with its reviewers, red when nobody approved it. */
function reviewPill(commit) {
  const review = commit.review;
  if (review === null || review.approvedBy.length === 0) return pill('bad', 'unreviewed');
  return pill('good', `reviewed by ${listing(review.approvedBy)}`, review.pullRequest);
}

/* ---------- The operator API ---------- */

/** An answer of the operator API other than 2xx, carrying the message it gave. */
class ApiError extends Error {
  constructor(status, message, options) {
    super(message, options);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The pipelines this control plane runs, and the one shown. */
const session = { pipelines: [], pipeline: null };

/**
 * Calls the operator API for the pipeline shown. Commands are JSON POSTs carrying
 * `x-captain-client`, which the server requires of every command.
 *
 * @example
 * await get(['releases', 3]); // ReleaseDetail
 * await get(['history', 'gamma'], { limit: 50 }); // HistoryEntry[]
 * await post(['rollback', 'preview'], { targets: ['gamma'], to: null }); // RollbackPlan
 */
function get(parts, query = null) {
  return request('GET', apiPath(parts) + (query === null ? '' : `?${new URLSearchParams(query)}`));
}

/** See {@link get}. */
function post(parts, body) {
  return request('POST', apiPath(parts), body);
}

const apiPath = (parts) =>
  `/api/${['pipelines', session.pipeline, ...parts].map((p) => encodeURIComponent(p)).join('/')}`;

async function request(method, url, body = undefined) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers:
        method === 'POST'
          ? { 'content-type': 'application/json', 'x-captain-client': 'web' }
          : { accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, 'The control plane does not answer; is it still running?', {
      cause: error,
    });
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const message = typeof answer?.message === 'string' ? answer.message : response.statusText;
    throw new ApiError(response.status, message || `HTTP ${response.status}`);
  }
  return answer;
}

/* ---------- Routing ---------- */

/**
 * The hash of a page of the pipeline shown: `route('/release/3')` → `#/release/3`, with
 * `?pipeline=` when there is more than one pipeline to choose from.
 */
function route(path, pipeline = session.pipeline) {
  return session.pipelines.length > 1
    ? `#${path}?${new URLSearchParams({ pipeline })}`
    : `#${path}`;
}

/** `#/history/gamma?pipeline=demo` → `{ page: 'history', arg: 'gamma', pipeline: 'demo' }`. */
function parseRoute(hash) {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const [page = '', ...rest] = path.split('/').filter((part) => part !== '');
  const arg = rest.length === 0 ? null : decodeURIComponent(rest.join('/'));
  return { page, arg, pipeline: new URLSearchParams(query).get('pipeline') };
}

/** A note for the next page shown, e.g. what a command just did. */
let flash = null;

/** Counts page visits, so a visit's late answers and timers die with it. */
let visit = 0;

const PAGES = {
  '': { render: pipelinePage, title: () => 'Pipeline', every: 1000 },
  release: {
    render: releasePage,
    title: (arg) => `Release r${arg.replace(/^r/, '')}`,
    every: 5000,
  },
  history: { render: historyPage, title: (arg) => `History of ${arg}`, every: 5000 },
  where: { render: wherePage, title: (arg) => `Where is ${arg}`, every: 5000 },
  rollback: { render: rollbackPage, title: (arg) => `Roll back ${arg}`, every: null },
};

/**
 * Shows the page the hash names. A page renders its fixed parts (headings, forms) once and
 * returns a `refresh` that reads the API and redraws only the parts that change; it runs
 * again `every` milliseconds until another page is shown. Client errors (400, 404) stop
 * the polling: asking again would not change the answer.
 */
async function show() {
  const current = ++visit;
  const { page, arg, pipeline } = parseRoute(location.hash);
  const problem = document.getElementById('problem');
  problem.hidden = true;
  if (pipeline !== null && !session.pipelines.includes(pipeline)) {
    flash = `No pipeline "${pipeline}"; this control plane runs ${listing(session.pipelines)}.`;
    location.hash = route('/', session.pipelines[0]);
    return;
  }
  session.pipeline = pipeline ?? session.pipelines[0];
  renderPipelineChoice();
  const definition = PAGES[page];
  const main = document.getElementById('main');
  main.replaceChildren();
  window.scrollTo(0, 0);
  if (definition === undefined || (page !== '' && arg === null)) {
    document.title = 'Not found · Release Captain';
    main.append(
      h('h1', {}, 'No such page'),
      h('p', {}, 'Go back to the ', h('a', { href: route('/') }, 'pipeline'), '.'),
    );
    return;
  }
  document.title = `${definition.title(arg)} · ${session.pipeline} · Release Captain`;
  if (page !== '') main.append(crumbs(definition.title(arg)));
  if (flash !== null) {
    main.append(h('p', { class: 'flash', testid: 'flash', role: 'status' }, flash));
    flash = null;
  }
  const refresh = definition.render(main, arg);
  const tick = async () => {
    if (current !== visit) return;
    let again = definition.every !== null;
    if (again && document.visibilityState === 'hidden') {
      // Nobody looks: ask again later rather than read the API for nothing.
      setTimeout(tick, definition.every);
      return;
    }
    try {
      await refresh(() => current === visit);
      if (current === visit) problem.hidden = true;
    } catch (error) {
      if (current !== visit) return;
      report(error instanceof Error ? error.message : String(error));
      if (error instanceof ApiError && (error.status === 400 || error.status === 404)) {
        again = false;
      }
    }
    if (again && current === visit) setTimeout(tick, definition.every);
  };
  await tick();
}

/** Shows a problem above the page, keeping what the page shows. */
function report(message) {
  const problem = document.getElementById('problem');
  problem.textContent = message;
  problem.hidden = false;
}

/** The pipeline's name in the header, or a selector when there are several. */
function renderPipelineChoice() {
  const slot = document.getElementById('pipeline-choice');
  if (session.pipelines.length <= 1) {
    slot.replaceChildren(session.pipeline ?? '');
    return;
  }
  const select = h(
    'select',
    {
      'aria-label': 'Pipeline',
      testid: 'pipeline-select',
      onchange: (event) => {
        location.hash = route('/', event.target.value);
      },
    },
    session.pipelines.map((name) =>
      h('option', { value: name, selected: name === session.pipeline }, name),
    ),
  );
  slot.replaceChildren(select);
}

/* ---------- Shared page parts ---------- */

/** A page's heading, with a line under it. */
const heading = (title, ...under) =>
  h('div', { class: 'page-head' }, h('h1', { testid: 'page-title' }, title), ...under);

/** The way back to the pipeline, above a page's heading. */
const crumbs = (here) =>
  h(
    'nav',
    { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: route('/') }, session.pipeline),
    ' › ',
    here,
  );

/** The box to look a commit up by (a prefix of) its sha. */
function whereForm(value = '') {
  const input = h('input', {
    type: 'search',
    name: 'sha',
    value,
    placeholder: 'Find a commit by sha, e.g. 3f9c2a1',
    'aria-label': 'Commit sha',
    spellcheck: 'false',
    autocomplete: 'off',
    testid: 'where-input',
  });
  return h(
    'form',
    {
      class: 'search',
      role: 'search',
      onsubmit: (event) => {
        event.preventDefault();
        const sha = input.value.trim();
        if (sha !== '') location.hash = route(`/where/${encodeURIComponent(sha)}`);
      },
    },
    input,
    h('button', { type: 'submit', testid: 'where-submit' }, 'Where does it run?'),
  );
}

/** A table from a header row and rows of cells; `rowProps` gives each row's attributes. */
function table(headers, rows, rowProps = () => ({})) {
  return h(
    'table',
    { class: 'grid' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((header) => h('th', { scope: 'col' }, header)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((cells, index) =>
        h(
          'tr',
          rowProps(index),
          cells.map((cell) => h('td', {}, cell)),
        ),
      ),
    ),
  );
}

/* ---------- #/ : the pipeline ---------- */

/** The pipeline page: the search box stays put; the stages and releases redraw each second. */
function pipelinePage(main) {
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
        `: bakes × ${e.bakeFactor}, approved by ${e.approver} — ${e.reason}`,
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

/** What a target runs while a run is under way: the run's release once it deploys there. */
function running(stage, target) {
  const run = stage.run;
  if (
    run !== null &&
    run.kind === 'normal' &&
    target.status !== null &&
    target.status !== 'waiting'
  ) {
    return run.release;
  }
  return target.deployed;
}

/** The colour of a stage's edge: red when something is wrong, amber while it works. */
function stageTone(stage) {
  const run = stage.run;
  if (!stage.promotionsIn.enabled || !stage.promotionsOut.enabled) return 'bad';
  if (run !== null && (run.failure !== null || run.kind === 'rollback')) return 'bad';
  if (run !== null) return 'busy';
  return stage.lastApproved === null ? 'quiet' : 'good';
}

function stageCard(stage, now) {
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

const STEP_WORDS = {
  waiting: 'waiting to deploy',
  deploying: 'deploying',
  baking: 'baking',
  approving: 'approving',
  'rolling-back': 'rolling back',
};

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

/* ---------- Enable promotions (a dialog above the polled page) ---------- */

/**
 * Asks why, then opens a stage's promotions in and out. The dialog lives outside the page
 * that redraws every second, so what the user types survives the redraws. One request id
 * per opening: a double submit is recognised by the server and changes nothing twice.
 */
function openPromotionsDialog(stage, why) {
  const dialog = document.getElementById('promotions-dialog');
  const form = document.getElementById('promotions-form');
  const reason = document.getElementById('promotions-reason');
  const error = document.getElementById('promotions-error');
  const requestId = crypto.randomUUID();
  document.getElementById('promotions-title').textContent = `Enable promotions of ${stage}`;
  document.getElementById('promotions-why').textContent = `Promotions ${why}.`;
  reason.value = '';
  error.hidden = true;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    if (text.length < 3) {
      error.textContent = 'Give a reason of at least 3 characters: it goes into the audit log.';
      error.hidden = false;
      return;
    }
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      await post(['promotions'], {
        stage,
        direction: 'both',
        enabled: true,
        reason: text,
        requestId,
      });
      dialog.close();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  };
  document.getElementById('promotions-cancel').onclick = () => dialog.close();
  dialog.showModal();
  reason.focus();
}

/* ---------- #/release/<n> ---------- */

/** One release: its commits and their reviews, its artifacts, its outcome per stage. */
function releasePage(main, arg) {
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

/* ---------- #/history/<target-or-stage> ---------- */

/** Deployments newest first, with the commits each brought or took away. */
function historyPage(main, name) {
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

/* ---------- #/where/<sha> ---------- */

/** For every stage and target: does what it runs contain the commit, and since when. */
function wherePage(main, prefix) {
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

/* ---------- #/rollback/<stage-or-target> ---------- */

/**
 * The rollback flow: choose the release to go back to, preview what leaves the targets,
 * confirm. Rendered once (no polling): it holds a form. The request id is made once per
 * preview, so confirming twice starts one rollback.
 */
function rollbackPage(main, name) {
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

/**
 * What a rollback of these targets may go back to: by default each target's newest
 * release deployed and approved there before what it runs (`to: null`), or any older
 * release all of them deployed and approved (a latent change), newest first.
 *
 * @example
 * // one target running r7, approved [3, 5, 7]
 * rollbackChoices(stage, targets); // { defaults: [5], further: [3] }
 */
function rollbackChoices(stage, targets) {
  const older = targets.map((t) => {
    const now = running(stage, t);
    return t.approved.filter((release) => now !== null && release < now).sort((a, b) => b - a);
  });
  const defaults = [...new Set(older.map((list) => list[0]).filter((r) => r !== undefined))];
  const [first = [], ...rest] = older;
  const common = first.filter((release) => rest.every((list) => list.includes(release)));
  const further = defaults.length === 1 ? common.filter((r) => r !== defaults[0]) : common;
  return { defaults: defaults.sort((a, b) => a - b), further };
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
          plan.replaceChildren(renderPlan(answer, confirm));
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
      });
      const goals = [...new Set(preview.answer.targets.map((t) => label(t.to)))];
      flash = `Rolling ${name} back to ${goals.join(', ')}; promotions into and out of ${listing(preview.answer.stages)} are disabled until someone enables them.`;
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

/** What the rollback will do, and the button that does it. */
function renderPlan(plan, confirm) {
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
        changes('Images', p.images),
        changes('Files', p.files),
        changes('Dependencies', p.dependencies),
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

function changes(title, list) {
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

/* ---------- Start ---------- */

async function start() {
  try {
    session.pipelines = (await request('GET', '/api/pipelines')).pipelines;
  } catch (error) {
    report(error.message);
    return;
  }
  if (session.pipelines.length === 0) {
    report('This control plane runs no pipeline yet.');
    return;
  }
  window.addEventListener('hashchange', show);
  await show();
}

start();
