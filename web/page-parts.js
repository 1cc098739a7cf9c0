/**
 * Parts more than one page shows: release links, pills, headings, breadcrumbs and the box to
 * look a commit up by.
 */
import { h } from './dom.js';
import { label, listing, when } from './format.js';
import { route } from './routes.js';
import { session } from './session.js';

/** A link to a release's page. */
export const releaseLink = (release) =>
  release === null || release === undefined
    ? h('span', { class: 'muted' }, '–')
    : h('a', { href: route(`/release/${release}`) }, label(release));

/** A small coloured label: `good` green, `busy` amber, `bad` red, `quiet` grey. */
export const pill = (tone, text, title = null) => h('span', { class: `pill ${tone}`, title }, text);

const OUTCOME_TONES = {
  approved: 'good',
  'in-flight': 'busy',
  blocked: 'busy',
  pending: 'quiet',
  superseded: 'quiet',
  rejected: 'bad',
};

/** A release's outcome at a stage, with its reason (or what superseded it) on hover. */
export function outcomePill(outcome) {
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
export function reviewPill(commit) {
  const review = commit.review;
  if (review === null || review.approvedBy.length === 0) return pill('bad', 'unreviewed');
  return pill('good', `reviewed by ${listing(review.approvedBy)}`, review.pullRequest);
}

/** A page's heading, with a line under it. */
export const heading = (title, ...under) =>
  h('div', { class: 'page-head' }, h('h1', { testid: 'page-title' }, title), ...under);

/** The way back to the pipeline, above a page's heading. */
export const crumbs = (here) =>
  h(
    'nav',
    { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: route('/') }, session.pipeline),
    ' › ',
    here,
  );

/** The box to look a commit up by (a prefix of) its sha. */
export function whereForm(value = '') {
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
