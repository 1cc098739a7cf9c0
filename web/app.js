/**
 * The Release Captain web view: ES modules, no framework, no build step. This one is the
 * entry point and the router; each page lives in its own `<page>-page.js`. It reads the
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
import { ApiError, listPipelines } from './api.js';
import { h } from './dom.js';
import { listing } from './format.js';
import { historyPage } from './history-page.js';
import { crumbs } from './page-parts.js';
import { pipelinePage } from './pipeline-page.js';
import { releasePage } from './release-page.js';
import { rollbackPage } from './rollback-page.js';
import { parseRoute, route } from './routes.js';
import { leaveFlash, session, takeFlash } from './session.js';
import { wherePage } from './where-page.js';

/** Counts page visits, so a visit's late answers and timers die with it. */
let visit = 0;

/** The pages by the hash path's first part: how to draw one, its title, how often to redraw. */
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
    leaveFlash(`No pipeline "${pipeline}"; this control plane runs ${listing(session.pipelines)}.`);
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
  const flash = takeFlash();
  if (flash !== null) {
    main.append(h('p', { class: 'flash', testid: 'flash', role: 'status' }, flash));
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

/* ---------- Start ---------- */

/** Learns which pipelines the control plane runs, then shows the page the hash names. */
async function start() {
  try {
    session.pipelines = await listPipelines();
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
