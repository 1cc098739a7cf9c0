/**
 * The order and conditions of a transition's writes when a decision about one item read
 * another (`Draft.dependsOn`): causes land first, and each write is conditioned on what it
 * read at the version that item has when the write lands.
 */
import { describe, expect, it } from 'vitest';
import { Draft, type Transition } from '../../../core/index.js';
import { Sandbox } from '../../support/fixtures.js';

const versions = (sb: Sandbox) => {
  // Give the items distinct stored versions so that a wrong one shows.
  const stages = Object.fromEntries(
    Object.entries(sb.state.stages).map(([name, state], n) => [
      name,
      { ...state, version: 10 * (n + 1) },
    ]),
  );
  return { stages, meta: { ...sb.state.meta, version: 7 } };
};

const order = (t: Transition) => t.writes.map((w) => (w.item === 'meta' ? 'meta' : w.stage));

describe('a transition whose decisions read other items', () => {
  it('writes an item decided on another’s new state after it, conditioned on that new version', () => {
    const sb = new Sandbox();
    const draft = new Draft(sb.context, versions(sb));
    // gamma changes first, then beta; then gamma is decided on beta's new state.
    draft.setStage('gamma', { pending: 3 });
    draft.setStage('beta', { lastApproved: 3 });
    draft.dependsOn({ stage: 'gamma' }, { stage: 'beta' });
    draft.dependsOn({ stage: 'gamma' }, 'meta');

    const t = draft.finish();

    expect(order(t)).toEqual(['beta', 'gamma']);
    expect(t.writes[0]?.dependsOn).toEqual([]);
    expect(t.writes[1]?.dependsOn).toEqual([
      { item: { stage: 'beta' }, version: 11 },
      { item: 'meta', version: 7 },
    ]);
  });

  it('writes an item decided on another’s stored state before that one changes', () => {
    const sb = new Sandbox();
    const draft = new Draft(sb.context, versions(sb));
    draft.dependsOn({ stage: 'gamma' }, { stage: 'beta' }); // read beta as stored
    draft.setStage('beta', { lastApproved: 3 });
    draft.setStage('gamma', { pending: 3 });

    const t = draft.finish();

    expect(order(t)).toEqual(['gamma', 'beta']);
    expect(t.writes[0]?.dependsOn).toEqual([{ item: { stage: 'beta' }, version: 10 }]);
  });

  it('keeps the rule’s order when two items were each decided on the other’s new state', () => {
    const sb = new Sandbox();
    const draft = new Draft(sb.context, versions(sb));
    draft.setStage('gamma', { pending: null, newestStarted: 2 });
    draft.setStage('beta', { lastApproved: 3 });
    draft.dependsOn({ stage: 'beta' }, { stage: 'gamma' });
    draft.dependsOn({ stage: 'gamma' }, { stage: 'beta' });

    const t = draft.finish();

    expect(order(t)).toEqual(['gamma', 'beta']);
    // Each is conditioned on the other as it is when it lands.
    expect(t.writes[0]?.dependsOn).toEqual([{ item: { stage: 'beta' }, version: 10 }]);
    expect(t.writes[1]?.dependsOn).toEqual([{ item: { stage: 'gamma' }, version: 21 }]);
  });

  it('orders by the reads that say so: an approval that looked at the next stage still lands first', () => {
    const sb = new Sandbox();
    const draft = new Draft(sb.context, versions(sb));
    draft.setStage('gamma', { pending: null }); // a withdrawal, first
    draft.dependsOn({ stage: 'beta' }, { stage: 'gamma' }, { ordered: false });
    draft.setStage('beta', { lastApproved: 3 }); // beta's approval, which looked at gamma
    draft.dependsOn({ stage: 'gamma' }, { stage: 'beta' }); // then the offer to gamma
    draft.setStage('gamma', { pending: 3 });

    const t = draft.finish();

    expect(order(t)).toEqual(['beta', 'gamma']);
    expect(t.writes[0]?.dependsOn).toEqual([{ item: { stage: 'gamma' }, version: 20 }]);
    expect(t.writes[1]?.dependsOn).toEqual([{ item: { stage: 'beta' }, version: 11 }]);
  });

  it('needs no condition on an item that depends on itself or on a write that never happens', () => {
    const sb = new Sandbox();
    const draft = new Draft(sb.context, versions(sb));
    draft.dependsOn({ stage: 'beta' }, { stage: 'beta' });
    draft.dependsOn({ stage: 'prod-1' }, 'meta'); // prod-1 does not change
    draft.setStage('beta', { lastApproved: 3 });

    const t = draft.finish();

    expect(order(t)).toEqual(['beta']);
    expect(t.writes[0]?.dependsOn).toEqual([]);
  });
});
