/** How the web view words releases, commits, times and durations, as the CLI prints them. */

/** `3` → `r3`; nothing → an en dash. */
export const label = (release) => (release === null || release === undefined ? '–' : `r${release}`);

/** The first eight hex digits of a sha: enough to tell commits apart by eye. */
export const short = (sha) => sha.slice(0, 8);

/** A commit message's first line. */
export const subject = (message) => message.split('\n')[0];

/** `2026-11-23T10:00:00.000Z` → `2026-11-23 10:00Z`, as the CLI prints times. */
export const when = (iso) =>
  iso === null || iso === undefined ? '–' : `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;

/**
 * A duration people read at a glance.
 *
 * @example
 * duration(42); // '42s'
 * duration(1800); // '30m'
 * duration(43200); // '12.0h'
 */
export function duration(seconds) {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

/** `['a', 'b', 'c']` → `a, b and c`. */
export function listing(words) {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/** What a run's step is called in a sentence: `r3 waiting to deploy`. */
export const STEP_WORDS = {
  waiting: 'waiting to deploy',
  deploying: 'deploying',
  baking: 'baking',
  approving: 'approving',
  'rolling-back': 'rolling back',
};
