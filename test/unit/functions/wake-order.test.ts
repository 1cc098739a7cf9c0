import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { InMemoryWakeRegistry, ManualClock } from '../../../core/index.js';
import { createAwaitEventHandler, WAKE_MARGIN_MS } from '../../../functions/await-event.js';
import type { HandlerDeps } from '../../../functions/lib/deps.js';
import { createWakeHandler } from '../../../functions/wake.js';

const context = {
  functionName: 'test',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 1000,
} as Context;
const T0 = '2026-11-23T09:00:00.000Z';

/** The wake and await-event handlers over one registry, with the resumed tokens recorded. */
function world() {
  const clock = new ManualClock(T0);
  const resumed: string[] = [];
  const deps: HandlerDeps = {
    driver: async () => {
      throw new Error('not used');
    },
    wakes: new InMemoryWakeRegistry(),
    tokens: {
      succeed: async (token) => {
        resumed.push(token);
        return 'sent';
      },
      fail: async () => 'gone',
    },
    clock,
  };
  const source = async () => deps;
  const awaitEvent = createAwaitEventHandler(source);
  const wake = createWakeHandler(source);
  return {
    clock,
    resumed,
    /** A step that decided at `decidedAt` registers `token` under the deployment's subject. */
    wait: (token: string, decidedAt: Date) =>
      awaitEvent(
        {
          token,
          subjects: ['deployment:d-1'],
          seconds: 900,
          reason: 'deploying',
          decidedAt: decidedAt.toISOString(),
          execution: 'api_beta_r1-1',
        },
        context,
      ) as Promise<{ registered: string }>,
    /** The deployment's state-change event, stamped `eventTime` by its sender. */
    deliver: (eventTime: string) =>
      wake(
        {
          'detail-type': 'CodeDeploy Deployment State-change Notification',
          time: eventTime,
          detail: { deploymentId: 'd-1', state: 'SUCCESS' },
        },
        context,
      ),
  };
}

describe('a wake and a wait that race', () => {
  it('resume a step whose decision came before the wake was processed, however old the event’s time', async () => {
    const w = world();
    const decidedAt = w.clock.now();
    w.clock.advance(1);
    // Delivered late (EventBridge retried it): its time is long before the decision.
    await w.deliver('2026-11-23T08:00:00Z');
    w.clock.advance(1);

    const { registered } = await w.wait('token-1', decidedAt);

    expect(registered).toBe('woken');
    expect(w.resumed).toEqual(['token-1']);
  });

  it('do not resume a step for a wake processed before it decided: the decision saw the change', async () => {
    const w = world();
    // The event's time is in the same second as the decision: it does not count.
    await w.deliver('2026-11-23T09:00:00Z');
    w.clock.advance(1);
    const decidedAt = w.clock.now();

    const { registered } = await w.wait('token-1', decidedAt);

    expect(registered).toBe('registered');
    expect(w.resumed).toEqual([]);
  });

  it('count a wake processed just before the decision, within the hosts’ clock skew', async () => {
    const w = world();
    await w.deliver('2026-11-23T09:00:00Z');
    const decidedAt = new Date(w.clock.now().getTime() + WAKE_MARGIN_MS);

    const { registered } = await w.wait('token-1', decidedAt);

    expect(registered).toBe('woken');
    expect(WAKE_MARGIN_MS).toBeLessThanOrEqual(100);
  });
});
