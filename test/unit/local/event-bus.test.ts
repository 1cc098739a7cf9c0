import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '../../../adapters/aws/eventbridge-publisher.js';
import { ManualClock, pipelineEvent, RetryableError, TerminalError } from '../../../core/index.js';
import {
  type BusEntry,
  type BusEvent,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  LocalEventBus,
  LocalEventPublisher,
} from '../../../local/event-bus.js';
import { EventPatternError } from '../../../local/event-pattern.js';

const T0 = '2026-11-23T10:00:00.250Z';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const alarm = (alarmName: string, value = 'ALARM'): BusEntry => ({
  source: 'aws.cloudwatch',
  detailType: 'CloudWatch Alarm State Change',
  detail: { alarmName, state: { value, reason: 'Threshold Crossed' } },
  resources: [`arn:aws:cloudwatch:local:000000000000:alarm:${alarmName}`],
});
const deployment = (deploymentId: string, state = 'SUCCESS'): BusEntry => ({
  source: 'aws.codedeploy',
  detailType: 'CodeDeploy Deployment State-change Notification',
  detail: { deploymentId, state, application: 'api', deploymentGroup: 'api-gamma' },
});
const ALARMS = { source: ['aws.cloudwatch'], detailType: ['CloudWatch Alarm State Change'] };

/** Records the delays asked for instead of waiting. */
function recordingSleep(): { sleep: (ms: number) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms) };
}

/** A target that records what it received and fails its first `failures` calls. */
function target(failures = 0) {
  const received: BusEvent[] = [];
  let calls = 0;
  return {
    received,
    get calls() {
      return calls;
    },
    handle: async (event: BusEvent) => {
      calls += 1;
      received.push(event);
      if (calls <= failures) throw new Error(`attempt ${calls} failed`);
    },
  };
}

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'event-bus-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('LocalEventBus.put', () => {
  it('builds events in the EventBridge envelope, with the time of the clock in whole seconds', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });

    // Act
    const [event] = await bus.put([alarm('api-gamma')]);

    // Assess
    expect(event).toEqual({
      version: '0',
      id: expect.stringMatching(UUID),
      'detail-type': 'CloudWatch Alarm State Change',
      source: 'aws.cloudwatch',
      account: '000000000000',
      time: '2026-11-23T10:00:00Z',
      region: 'local',
      resources: ['arn:aws:cloudwatch:local:000000000000:alarm:api-gamma'],
      detail: { alarmName: 'api-gamma', state: { value: 'ALARM', reason: 'Threshold Crossed' } },
    });
    expect([LOCAL_ACCOUNT, LOCAL_REGION]).toEqual(['000000000000', 'local']);
  });

  it('gives each event its own id, takes the entry time when given, and defaults resources to none', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });

    // Act
    const [first, second] = await bus.put([
      { ...deployment('d-1'), time: new Date('2026-11-24T08:30:15.999Z') },
      { ...deployment('d-2'), time: '2026-11-25T01:02:03.004Z' },
    ]);

    // Assess
    expect(first?.id).not.toBe(second?.id);
    expect(first?.time).toBe('2026-11-24T08:30:15Z');
    expect(second?.time).toBe('2026-11-25T01:02:03Z');
    expect(first?.resources).toEqual([]);
  });

  it('copies the detail as JSON and freezes the event, so no one changes what others see', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    const detail = { at: new Date('2026-11-23T09:00:00Z'), nested: { n: 1 } };

    // Act
    const [event] = await bus.put([{ source: 's', detailType: 't', detail }]);
    detail.nested.n = 2;

    // Assess
    expect(event?.detail).toEqual({ at: '2026-11-23T09:00:00.000Z', nested: { n: 1 } });
    expect(Object.isFrozen(event)).toBe(true);
    expect(Object.isFrozen(event?.detail.nested)).toBe(true);
  });

  it.each<[string, Partial<BusEntry> & Record<string, unknown>, RegExp]>([
    ['an empty source', { source: '' }, /source must be a non-empty string/],
    ['an empty detail type', { detailType: '' }, /detailType must be a non-empty string/],
    [
      'a detail that is a list',
      { detail: [1] as never },
      /detail must be a JSON object, got \[1\]/,
    ],
    ['a detail that is null', { detail: null as never }, /detail must be a JSON object, got null/],
    [
      'a time that is no time',
      { time: 'yesterday' },
      /time "yesterday" is not an ISO-8601 timestamp/,
    ],
    [
      'resources that are not strings',
      { resources: [1] as never },
      /resources must be a list of ARNs/,
    ],
    ['an entry over 256 KB', { detail: { blob: 'x'.repeat(256 * 1024) } }, /more than the 262144/],
  ])(
    'refuses the whole batch for %s, before logging or delivering anything',
    async (_, change, message) => {
      // Prepare
      const logPath = join(directory, 'events.jsonl');
      const bus = new LocalEventBus({ clock: new ManualClock(T0), logPath });
      const seen = target();
      bus.addRule({
        name: 'everything',
        pattern: { source: [{ exists: true }] },
        target: seen.handle,
      });

      // Act
      const put = bus.put([alarm('first'), { ...alarm('second'), ...change }]);

      // Assess
      await expect(put).rejects.toThrow(TerminalError);
      await expect(put).rejects.toThrow(message);
      await expect(put).rejects.toThrow(/Event entry 1/);
      await bus.drain();
      expect(seen.calls).toBe(0);
      await expect(readFile(logPath, 'utf8')).rejects.toThrow(/ENOENT/);
    },
  );
});

describe('LocalEventBus rules', () => {
  it('delivers each event to every matching rule, and only to those', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    const wake = target();
    const alarms = target();
    const builds = target();
    bus.addRule({
      name: 'WakeOnDeploymentsAndAlarms',
      pattern: {
        source: ['aws.codedeploy', 'aws.ecs', 'aws.cloudwatch'],
        detailType: [
          'CodeDeploy Deployment State-change Notification',
          'ECS Deployment State Change',
          'CloudWatch Alarm State Change',
        ],
      },
      target: wake.handle,
    });
    bus.addRule({
      name: 'Alarms',
      pattern: { ...ALARMS, detail: { state: { value: ['ALARM'] } } },
      target: alarms.handle,
    });
    bus.addRule({ name: 'Builds', pattern: { source: ['aws.codebuild'] }, target: builds.handle });

    // Act
    await bus.put([alarm('api-gamma'), deployment('d-1'), alarm('api-gamma', 'OK')]);
    await bus.drain();

    // Assess
    expect(wake.received.map((e) => e['detail-type'])).toEqual([
      'CloudWatch Alarm State Change',
      'CodeDeploy Deployment State-change Notification',
      'CloudWatch Alarm State Change',
    ]);
    expect(alarms.received.map((e) => e.detail)).toEqual([
      { alarmName: 'api-gamma', state: { value: 'ALARM', reason: 'Threshold Crossed' } },
    ]);
    expect(builds.calls).toBe(0);
    expect(bus.deadLetters).toEqual([]);
  });

  it('returns from put before the targets finish, and drain waits for them', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let finished = false;
    bus.addRule({
      name: 'slow',
      pattern: ALARMS,
      target: async () => {
        await gate;
        finished = true;
      },
    });

    // Act
    await bus.put([alarm('api-gamma')]);
    const afterPut = finished;
    const drained = bus.drain();
    release();
    await drained;

    // Assess
    expect(afterPut).toBe(false);
    expect(finished).toBe(true);
  });

  it('gives each target its own copy of the event', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    const second = target();
    let changed: unknown;
    bus.addRule({
      name: 'mutates',
      pattern: ALARMS,
      target: async (event) => {
        (event.detail as Record<string, unknown>).alarmName = 'changed';
        changed = event.detail.alarmName;
      },
    });
    bus.addRule({ name: 'reads', pattern: ALARMS, target: second.handle });

    // Act
    const [put] = await bus.put([alarm('api-gamma')]);
    await bus.drain();

    // Assess
    expect(changed).toBe('changed');
    expect(bus.deadLetters).toEqual([]);
    expect(second.received[0]?.detail.alarmName).toBe('api-gamma');
    expect(put?.detail.alarmName).toBe('api-gamma');
  });

  it('tries a failing target again with backoff and succeeds without a dead letter', async () => {
    // Prepare
    const { sleep, delays } = recordingSleep();
    const bus = new LocalEventBus({ clock: new ManualClock(T0), sleep });
    const flaky = target(2);
    bus.addRule({ name: 'flaky', pattern: ALARMS, target: flaky.handle, retries: 3 });

    // Act
    const [event] = await bus.put([alarm('api-gamma')]);
    await bus.drain();

    // Assess
    expect(flaky.calls).toBe(3);
    expect(flaky.received.every((received) => received.id === event?.id)).toBe(true);
    expect(delays).toEqual([100, 200]);
    expect(bus.deadLetters).toEqual([]);
  });

  it.each([
    { retries: 0, attempts: 1, delays: [] },
    { retries: 2, attempts: 3, delays: [100, 200] },
    { retries: undefined, attempts: 4, delays: [100, 200, 400] },
    { retries: 8, attempts: 9, delays: [100, 200, 400, 800, 1600, 3200, 5000, 5000] },
  ])(
    'with retries $retries, tries $attempts times, then records a dead letter',
    async ({ retries, attempts, delays }) => {
      // Prepare
      const { sleep, delays: waited } = recordingSleep();
      const bus = new LocalEventBus({ clock: new ManualClock(T0), sleep });
      const broken = target(Number.POSITIVE_INFINITY);
      const healthy = target();
      bus.addRule({
        name: 'broken',
        pattern: ALARMS,
        target: broken.handle,
        ...(retries === undefined ? {} : { retries }),
      });
      bus.addRule({ name: 'healthy', pattern: ALARMS, target: healthy.handle });

      // Act
      const [event] = await bus.put([alarm('api-gamma')]);
      await bus.drain();

      // Assess
      expect(broken.calls).toBe(attempts);
      expect(waited).toEqual(delays);
      expect(healthy.calls).toBe(1);
      expect(bus.deadLetters).toHaveLength(1);
      const [dead] = bus.deadLetters;
      expect(dead?.rule).toBe('broken');
      expect(dead?.event).toEqual(event);
      expect(dead?.attempts).toBe(attempts);
      expect(dead?.error.message).toBe(`attempt ${attempts} failed`);
    },
  );

  it('waits on a real timer between attempts when no sleep is given', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    const flaky = target(1);
    const calledAt: number[] = [];
    bus.addRule({
      name: 'flaky',
      pattern: ALARMS,
      retries: 1,
      target: async (event) => {
        calledAt.push(performance.now());
        await flaky.handle(event);
      },
    });

    // Act
    await bus.put([alarm('api-gamma')]);
    await bus.drain();

    // Assess: the first backoff is 100 ms (timers may fire a little early, never much).
    expect(flaky.calls).toBe(2);
    expect((calledAt[1] ?? 0) - (calledAt[0] ?? 0)).toBeGreaterThanOrEqual(95);
    expect(bus.deadLetters).toEqual([]);
  });

  it('records a target that throws something other than an Error as an Error', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0), sleep: async () => {} });
    bus.addRule({
      name: 'throws-a-string',
      pattern: ALARMS,
      retries: 0,
      target: () => Promise.reject('no'),
    });

    // Act
    await bus.put([alarm('api-gamma')]);
    await bus.drain();

    // Assess
    expect(bus.deadLetters[0]?.error).toBeInstanceOf(Error);
    expect(bus.deadLetters[0]?.error.message).toBe('no');
  });

  it('refuses an invalid pattern when the rule is added, naming the path', () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });

    // Act
    const add = () =>
      bus.addRule({
        name: 'bad',
        pattern: { detail: { state: [{ contain: 'x' }] } },
        target: async () => {},
      });

    // Assess
    expect(add).toThrow(EventPatternError);
    expect(add).toThrow(/at detail\.state\[0\]: unknown matcher "contain"/);
  });

  it.each([-1, 1.5, Number.NaN])('refuses retries %s', (retries) => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });

    // Act
    const add = () => bus.addRule({ name: 'r', pattern: ALARMS, target: async () => {}, retries });

    // Assess
    expect(add).toThrow(/whole number ≥ 0/);
  });

  it('refuses a second rule with the same name', () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    bus.addRule({ name: 'wake', pattern: ALARMS, target: async () => {} });

    // Act
    const add = () => bus.addRule({ name: 'wake', pattern: ALARMS, target: async () => {} });

    // Assess
    expect(add).toThrow(/already on the bus/);
  });
});

describe('LocalEventBus.drain', () => {
  it('resolves at once on an idle bus', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });

    // Act / Assess
    await expect(bus.drain()).resolves.toBeUndefined();
  });

  it('waits for deliveries that deliveries caused, and for retries in between', async () => {
    // Prepare
    const bus = new LocalEventBus({
      clock: new ManualClock(T0),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms / 100)),
    });
    const reactions = target(1);
    bus.addRule({
      name: 'deploy-on-alarm',
      pattern: ALARMS,
      target: async (event) => {
        await bus.put([deployment(`rollback-of-${event.detail.alarmName}`)]);
      },
    });
    bus.addRule({
      name: 'reactions',
      pattern: { source: ['aws.codedeploy'] },
      target: reactions.handle,
      retries: 1,
    });

    // Act
    await bus.put([alarm('api-gamma')]);
    await bus.drain();

    // Assess
    expect(reactions.calls).toBe(2);
    expect(reactions.received[1]?.detail.deploymentId).toBe('rollback-of-api-gamma');
    expect(bus.deadLetters).toEqual([]);
  });
});

describe('LocalEventBus event log', () => {
  const readLines = async (path: string): Promise<unknown[]> =>
    (await readFile(path, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line));

  it('appends each event as one JSON line, creating the directory', async () => {
    // Prepare
    const logPath = join(directory, '.captain', 'nested', 'events.jsonl');
    const bus = new LocalEventBus({ clock: new ManualClock(T0), logPath });

    // Act
    const first = await bus.put([alarm('a'), deployment('d-1')]);
    const second = await bus.put([alarm('b', 'OK')]);

    // Assess
    const text = await readFile(logPath, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n')).toHaveLength(4);
    expect(await readLines(logPath)).toEqual([...first, ...second]);
  });

  it('never rewrites what is there: a second bus on the same file appends after it', async () => {
    // Prepare
    const logPath = join(directory, 'events.jsonl');
    await writeFile(logPath, '{"earlier":"run"}\n');
    const before = new LocalEventBus({ clock: new ManualClock(T0), logPath });
    const [one] = await before.put([alarm('a')]);
    const after = new LocalEventBus({ clock: new ManualClock(T0), logPath });

    // Act
    const [two] = await after.put([alarm('b')]);

    // Assess
    expect(await readLines(logPath)).toEqual([{ earlier: 'run' }, one, two]);
  });

  it('logs and delivers concurrent puts in the order they were made', async () => {
    // Prepare
    const logPath = join(directory, 'events.jsonl');
    const bus = new LocalEventBus({ clock: new ManualClock(T0), logPath });
    const seen: string[] = [];
    bus.subscribe((event) => void seen.push(event.detail.alarmName as string));

    // Act
    await Promise.all(Array.from({ length: 20 }, (_, index) => bus.put([alarm(`alarm-${index}`)])));

    // Assess
    const expected = Array.from({ length: 20 }, (_, index) => `alarm-${index}`);
    expect(seen).toEqual(expected);
    const logged = (await readLines(logPath)) as BusEvent[];
    expect(logged.map((event) => event.detail.alarmName)).toEqual(expected);
  });

  it('refuses the put as retryable and delivers nothing when the log cannot be written', async () => {
    // Prepare: the log path is a directory, so appending to it fails.
    const logPath = join(directory, 'events.jsonl');
    await mkdir(logPath);
    const bus = new LocalEventBus({ clock: new ManualClock(T0), logPath });
    const seen = target();
    bus.addRule({ name: 'alarms', pattern: ALARMS, target: seen.handle });

    // Act
    const put = bus.put([alarm('a')]);

    // Assess
    await expect(put).rejects.toThrow(RetryableError);
    await expect(put).rejects.toThrow(/Could not append 1 events to .*events\.jsonl/);
    await bus.drain();
    expect(seen.calls).toBe(0);
    // The bus keeps working for later puts once the log is writable again.
    await rm(logPath, { recursive: true });
    await bus.put([alarm('b')]);
    await bus.drain();
    expect(seen.received.map((e) => e.detail.alarmName)).toEqual(['b']);
  });
});

describe('LocalEventBus.subscribe', () => {
  it('shows every event put, matched by a rule or not, until unsubscribed', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    const seen: BusEvent[] = [];
    const stop = bus.subscribe((event) => void seen.push(event));

    // Act
    const first = await bus.put([
      alarm('a'),
      { source: 'nobody.listens', detailType: 'x', detail: {} },
    ]);
    stop();
    await bus.put([alarm('b')]);
    await bus.drain();

    // Assess
    expect(seen).toEqual(first);
  });

  it('records a failing subscriber as a dead letter and still delivers to the rules', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    const seen = target();
    bus.subscribe(() => {
      throw new Error('view crashed');
    });
    bus.subscribe(async () => {
      throw new Error('async view crashed');
    });
    bus.addRule({ name: 'alarms', pattern: ALARMS, target: seen.handle });

    // Act
    const [event] = await bus.put([alarm('a')]);
    await bus.drain();

    // Assess
    expect(seen.calls).toBe(1);
    expect(bus.deadLetters.map((dead) => [dead.rule, dead.error.message, dead.attempts])).toEqual([
      ['(subscriber)', 'view crashed', 1],
      ['(subscriber)', 'async view crashed', 1],
    ]);
    expect(bus.deadLetters[0]?.event).toEqual(event);
  });
});

describe('LocalEventPublisher', () => {
  const eventBridge = mockClient(EventBridgeClient);

  beforeEach(() => {
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).callsFake((input) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map((_: unknown, index: number) => ({ EventId: `eb-${index}` })),
    }));
  });

  const events = [
    pipelineEvent({
      type: 'Deployment Failed',
      pipeline: 'api',
      stage: 'gamma',
      release: 42,
      target: 'gamma-eu-west-1',
      reason: 'rollback alarm api-gamma in ALARM',
      data: { deploymentId: 'd-1', rollbackTo: 41 },
      at: '2026-11-23T10:00:07.512Z',
    }),
    pipelineEvent({
      type: 'Release Created',
      pipeline: 'api',
      release: 43,
      at: '2026-11-23T10:00:09.000Z',
    }),
  ];

  it('puts each event exactly as the EventBridge adapter sends it', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock('2030-01-01T00:00:00Z') });
    const local = new LocalEventPublisher(bus);
    const cloud = new EventBridgePublisher(new EventBridgeClient({}), 'release-captain');

    // Act
    await cloud.publish(events);
    const seen: BusEvent[] = [];
    bus.subscribe((event) => void seen.push(event));
    await local.publish(events);

    // Assess
    const sent = eventBridge
      .commandCalls(PutEventsCommand)
      .flatMap((call) => call.args[0].input.Entries ?? []);
    expect(sent).toHaveLength(2);
    expect(seen).toHaveLength(2);
    sent.forEach((entry, index) => {
      const event = seen[index] as BusEvent;
      expect(event.source).toBe(entry.Source);
      expect(event['detail-type']).toBe(entry.DetailType);
      // Same keys, same order, same values: the string EventBridge would deliver.
      expect(JSON.stringify(event.detail)).toBe(entry.Detail);
      // EventBridge delivers the entry's Time in whole seconds.
      const time = entry.Time as Date;
      expect(event.time).toBe(`${time.toISOString().slice(0, 19)}Z`);
      expect(event.resources).toEqual(entry.Resources ?? []);
    });
    expect(seen[0]?.detail).toEqual({
      eventId: 'api/gamma/r42/Deployment Failed/-/gamma-eu-west-1',
      pipeline: 'api',
      stage: 'gamma',
      release: 42,
      target: 'gamma-eu-west-1',
      reason: 'rollback alarm api-gamma in ALARM',
      data: { deploymentId: 'd-1', rollbackTo: 41 },
    });
    expect(seen[0]?.time).toBe('2026-11-23T10:00:07Z');
  });

  it('reaches the rules that match Release Captain events, as the Notifications rule does', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    const notified = target();
    bus.addRule({
      name: 'Notifications',
      pattern: {
        source: ['release-captain'],
        detailType: [
          'Release Blocked',
          'Deployment Failed',
          'Rollback Started',
          'Rollback Completed',
          'Promotions Disabled',
        ],
        detail: { pipeline: ['api'] },
      },
      target: notified.handle,
    });

    // Act
    await new LocalEventPublisher(bus).publish(events);
    await bus.drain();

    // Assess
    expect(notified.received.map((e) => e.detail.eventId)).toEqual([events[0]?.id]);
  });

  it('puts nothing for no events, and refuses an event whose time is not a time', async () => {
    // Prepare
    const bus = new LocalEventBus({ clock: new ManualClock(T0) });
    const seen: BusEvent[] = [];
    bus.subscribe((event) => void seen.push(event));
    const publisher = new LocalEventPublisher(bus);
    const [event] = events;

    // Act
    await publisher.publish([]);
    const publish = publisher.publish([{ ...(event as (typeof events)[number]), at: 'soon' }]);

    // Assess
    await expect(publish).rejects.toThrow(TerminalError);
    expect(seen).toEqual([]);
  });
});
