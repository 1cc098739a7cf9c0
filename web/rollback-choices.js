/** What a rollback may go back to: decisions on the status the rollback page reads. */

/** What a target runs while a run is under way: the run's release once it deploys there. */
export function running(stage, target) {
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

/**
 * What a rollback of these targets may go back to: by default each target's newest
 * release deployed and approved there before what it runs (`to: null`), or any older
 * release all of them deployed and approved (a latent change), newest first.
 *
 * @example
 * // one target running r7, approved [3, 5, 7]
 * rollbackChoices(stage, targets); // { defaults: [5], further: [3] }
 */
export function rollbackChoices(stage, targets) {
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
