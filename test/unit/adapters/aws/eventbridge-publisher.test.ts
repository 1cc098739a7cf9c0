import {
  EventBridgeClient,
  EventBridgeServiceException,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '../../../../adapters/aws/eventbridge-publisher.js';
import {
  type PipelineEvent,
  pipelineEvent,
  RetryableError,
  TerminalError,
} from '../../../../core/index.js';

expect.extend(allCustomMatcher);

const eventBridge = mockClient(EventBridgeClient);
const BUS = 'release-captain';
const T0 = '2026-11-23T10:00:00.000Z';

function events(count: number, reason = 'because'): PipelineEvent[] {
  return Array.from({ length: count }, (_, index) =>
    pipelineEvent({
      type: 'Stage Approved',
      pipeline: 'api',
      stage: 'gamma',
      release: 42,
      occurrence: index,
      reason,
      at: T0,
    }),
  );
}

/** Records the delays asked for instead of waiting. */
function recordingSleep(): { sleep: (ms: number) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms) };
}

const sentEntries = (): PutEventsRequestEntry[][] =>
  eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries ?? []);

const eventIdsOf = (entries: PutEventsRequestEntry[]): string[] =>
  entries.map((entry) => JSON.parse(entry.Detail ?? '{}').eventId);

const ok = (count: number): PutEventsResultEntry[] =>
  Array.from({ length: count }, (_, index) => ({ EventId: `eb-${index}` }));

const throttled: PutEventsResultEntry = {
  ErrorCode: 'ThrottlingException',
  ErrorMessage: 'Rate exceeded',
};

function ebError(name: string, status: number, message = name): EventBridgeServiceException {
  return new EventBridgeServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

describe('EventBridgePublisher', () => {
  beforeEach(() => {
    eventBridge.reset();
  });

  it('sends each event with the release-captain source, its type, time and id in the detail', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: ok(1) });
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS);
    const [event] = events(1);

    // Act
    await publisher.publish(events(1));

    // Assess
    const [entry] = sentEntries()[0] ?? [];
    expect(entry).toMatchObject({
      EventBusName: BUS,
      Source: 'release-captain',
      DetailType: 'Stage Approved',
      Time: new Date(T0),
    });
    expect(JSON.parse(entry?.Detail ?? '{}')).toEqual({ eventId: event?.id, ...event?.detail });
  });

  it.each([
    { count: 0, calls: [] },
    { count: 1, calls: [1] },
    { count: 10, calls: [10] },
    { count: 11, calls: [10, 1] },
    { count: 25, calls: [10, 10, 5] },
  ])('sends $count events in calls of $calls entries, in order', async ({ count, calls }) => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake((input) => ({
      FailedEntryCount: 0,
      Entries: ok(input.Entries.length),
    }));
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS);
    const published = events(count);

    // Act
    await publisher.publish(published);

    // Assess
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, calls.length);
    expect(sentEntries().map((entries) => entries.length)).toEqual(calls);
    expect(sentEntries().flatMap(eventIdsOf)).toEqual(published.map((event) => event.id));
  });

  it('starts a new call before the entries pass 256 KB', async () => {
    // Prepare: three events of about 100 KB each: two fit in one call, three do not.
    eventBridge.on(PutEventsCommand).callsFake((input) => ({
      FailedEntryCount: 0,
      Entries: ok(input.Entries.length),
    }));
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS);

    // Act
    await publisher.publish(events(3, 'x'.repeat(100 * 1024)));

    // Assess
    expect(sentEntries().map((entries) => entries.length)).toEqual([2, 1]);
  });

  it('refuses an event larger than one entry may be, naming it, before sending anything', async () => {
    // Prepare
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS);
    const [small] = events(1);
    const [large] = events(1, 'x'.repeat(256 * 1024));
    const tooLarge = { ...(large as PipelineEvent), id: 'api/gamma/r42/Stage Approved/huge' };

    // Act
    const publish = publisher.publish([small as PipelineEvent, tooLarge]);

    // Assess
    await expect(publish).rejects.toThrow(TerminalError);
    await expect(publish).rejects.toThrow(
      /Event api\/gamma\/r42\/Stage Approved\/huge is \d+ bytes, more than the 262144 bytes/,
    );
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('sends only the failed entries again, after a backoff, until they pass', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [{ EventId: 'eb-0' }, throttled, { EventId: 'eb-2' }, throttled],
      })
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'eb-1' }, throttled] })
      .resolvesOnce({ FailedEntryCount: 0, Entries: ok(1) });
    const { sleep, delays } = recordingSleep();
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS, { sleep });
    const published = events(4);
    const id = (index: number) => published[index]?.id;

    // Act
    await publisher.publish(published);

    // Assess
    expect(sentEntries().map(eventIdsOf)).toEqual([
      [id(0), id(1), id(2), id(3)],
      [id(1), id(3)],
      [id(3)],
    ]);
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(50);
    expect(delays[0]).toBeLessThanOrEqual(100);
    expect(delays[1]).toBeGreaterThanOrEqual(100);
    expect(delays[1]).toBeLessThanOrEqual(200);
  });

  it('gives up after the last attempt with a RetryableError naming the count and the first error code', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake((input) => ({
      FailedEntryCount: input.Entries.length - 1,
      Entries: input.Entries.map((_: unknown, index: number) =>
        index === 0 ? { EventId: 'eb' } : { ErrorCode: 'InternalFailure', ErrorMessage: 'oops' },
      ),
    }));
    const { sleep, delays } = recordingSleep();
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS, {
      sleep,
      attempts: 3,
    });

    // Act
    const publish = publisher.publish(events(5));

    // Assess
    await expect(publish).rejects.toThrow(RetryableError);
    await expect(publish).rejects.toThrow(
      /2 of 5 events still failed after 3 attempts \(first error InternalFailure: oops/,
    );
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect(sentEntries().map((entries) => entries.length)).toEqual([5, 4, 3]);
    expect(delays).toHaveLength(2);
  });

  it.each(['AccessDeniedException', 'MalformedDetail', 'NotAuthorizedForSourceException'])(
    'stops at once on %s, which no retry can fix, with a TerminalError naming the event',
    async (code) => {
      eventBridge.on(PutEventsCommand).callsFake((input) => ({
        FailedEntryCount: 1,
        Entries: input.Entries.map((_: unknown, index: number) =>
          index === 1 ? { ErrorCode: code, ErrorMessage: 'refused' } : { EventId: 'eb' },
        ),
      }));
      const { sleep, delays } = recordingSleep();
      const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS, { sleep });
      const sent = events(3);

      const publish = publisher.publish(sent);

      await expect(publish).rejects.toThrow(TerminalError);
      await expect(publish).rejects.toThrow(`refused event ${sent[1]?.id}: ${code}: refused`);
      expect(delays).toEqual([]);
    },
  );

  it('counts an entry without a result as failed', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'eb-0' }] })
      .resolvesOnce({ FailedEntryCount: 0, Entries: ok(1) });
    const { sleep } = recordingSleep();
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS, { sleep });
    const published = events(2);

    // Act
    await publisher.publish(published);

    // Assess
    expect(sentEntries().map(eventIdsOf)[1]).toEqual([published[1]?.id]);
  });

  it.each([
    { error: ebError('ThrottlingException', 400, 'Rate exceeded'), expected: RetryableError },
    { error: ebError('InternalException', 500), expected: RetryableError },
    { error: ebError('AccessDeniedException', 400, 'not authorized'), expected: TerminalError },
    {
      error: ebError('ResourceNotFoundException', 400, 'Event bus x does not exist'),
      expected: TerminalError,
    },
  ])(
    'maps a failed call ($error.name) to $expected.name without resending',
    async ({ error, expected }) => {
      // Prepare
      eventBridge.on(PutEventsCommand).rejects(error);
      const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS);

      // Act
      const publish = publisher.publish(events(3));

      // Assess
      await expect(publish).rejects.toThrow(expected);
      await expect(publish).rejects.toThrow(`PutEvents of 3 events to bus ${BUS}`);
    },
  );

  it('refuses an event whose time is not a timestamp', async () => {
    // Prepare
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), BUS);
    const [event] = events(1);

    // Act
    const publish = publisher.publish([{ ...(event as PipelineEvent), at: 'yesterday' }]);

    // Assess
    await expect(publish).rejects.toThrow(TerminalError);
    await expect(publish).rejects.toThrow('has time "yesterday"');
  });

  it.each([0, 1.5])('refuses %s attempts', (attempts) => {
    expect(() => new EventBridgePublisher(new EventBridgeClient({}), BUS, { attempts })).toThrow(
      `attempts must be a whole number ≥ 1, got ${attempts}`,
    );
  });
});
