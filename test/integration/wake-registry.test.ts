import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DynamoDbWakeRegistry } from '../../adapters/aws/dynamodb-wake-registry.js';
import { InMemoryWakeRegistry, type WakeRegistry } from '../../core/index.js';
import { sharedTables } from '../support/dynamodb-local.js';

/** DynamoDB Local, started once for the file on first use. */
const dynamodb = sharedTables();
afterAll(() => dynamodb.close());

const at = (minute: number) => new Date(Date.UTC(2026, 10, 23, 10, minute));

describe.each([
  {
    name: 'in memory',
    open: async () => ({ wakes: new InMemoryWakeRegistry(), close: async () => {} }),
  },
  {
    name: 'DynamoDB on DynamoDB Local',
    open: async () => {
      const table = await dynamodb.table();
      return { wakes: new DynamoDbWakeRegistry(table.client, table.tableName), close: table.close };
    },
  },
])('$name wake registry', ({ open }) => {
  let close: () => Promise<void> = async () => {};
  afterEach(async () => close());
  const start = async (): Promise<WakeRegistry> => {
    const opened = await open();
    close = opened.close;
    return opened.wakes;
  };

  it('hands a token to the first wake of any of its subjects, once', async () => {
    const wakes = await start();
    expect(await wakes.register('t1', ['deployment:d-1', 'alarm:a'], at(30), at(0))).toBe(
      'registered',
    );

    expect(await wakes.claim('deployment:d-1', at(5))).toEqual(['t1']);
    expect(await wakes.claim('deployment:d-1', at(6))).toEqual([]);
  });

  it('drops tokens whose wait expired: the step already looked again by itself', async () => {
    const wakes = await start();
    await wakes.register('t1', ['alarm:a'], at(10), at(0));

    expect(await wakes.claim('alarm:a', at(11))).toEqual([]);
  });

  it('tells a step that registers after its subject was woken to resume at once', async () => {
    const wakes = await start();
    // The deployment ended between the decision (minute 1) and the registration.
    await wakes.claim('deployment:d-1', at(2));

    expect(await wakes.register('t1', ['deployment:d-1'], at(30), at(1))).toBe('woken');
    expect(await wakes.register('t2', ['deployment:d-1'], at(30), at(3))).toBe('registered');
  });

  it('keeps the newest wake time when an older event arrives late', async () => {
    const wakes = await start();
    await wakes.claim('alarm:a', at(20));
    await wakes.claim('alarm:a', at(5));

    expect(await wakes.register('t1', ['alarm:a'], at(40), at(10))).toBe('woken');
  });
});
