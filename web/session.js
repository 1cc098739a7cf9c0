/** What the web view keeps between pages: the pipelines, the one shown, a note for the next. */

/** The pipelines this control plane runs, and the one shown. */
export const session = { pipelines: [], pipeline: null };

/** A note for the next page shown, e.g. what a command just did. */
let flash = null;

/** Leaves a note for the next page shown. */
export function leaveFlash(message) {
  flash = message;
}

/** The note left for this page, once: taking it clears it. */
export function takeFlash() {
  const note = flash;
  flash = null;
  return note;
}
