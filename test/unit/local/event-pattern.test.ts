import { describe, expect, it } from 'vitest';
import { EVENT_SOURCE } from '../../../adapters/aws/eventbridge-publisher.js';
import {
  compileEventPattern,
  type EventPattern,
  EventPatternError,
  matchesEventPattern,
} from '../../../local/event-pattern.js';

/** An event in EventBridge's envelope whose detail the cases vary. */
function event(detail: Record<string, unknown>, envelope: Record<string, unknown> = {}) {
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': 'Example',
    source: 'example.source',
    account: '111122223333',
    time: '2026-11-23T10:00:00Z',
    region: 'eu-west-1',
    resources: ['arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc'],
    detail,
    ...envelope,
  };
}

describe('compileEventPattern — matchers', () => {
  it.each<[string, EventPattern, Record<string, unknown>, boolean]>([
    // exact values
    ['exact string', { state: ['running'] }, { state: 'running' }, true],
    ['exact string, other value', { state: ['running'] }, { state: 'stopped' }, false],
    ['exact string is case-sensitive', { state: ['running'] }, { state: 'Running' }, false],
    ['one of several values', { state: ['pending', 'running'] }, { state: 'running' }, true],
    ['exact number', { count: [5] }, { count: 5 }, true],
    ['exact number compares numerically', { limit: [300] }, { limit: 3.0e2 }, true],
    ['a number never equals its string', { count: [5] }, { count: '5' }, false],
    ['a string never equals its number', { count: ['5'] }, { count: 5 }, false],
    ['exact true', { enabled: [true] }, { enabled: true }, true],
    ['exact true, false in event', { enabled: [true] }, { enabled: false }, false],
    ['exact null', { owner: [null] }, { owner: null }, true],
    ['null does not match a missing field', { owner: [null] }, {}, false],
    ['empty string', { name: [''] }, { name: '' }, true],
    ['empty string, missing field', { name: [''] }, {}, false],
    ['an object is not a value', { state: ['running'] }, { state: { value: 'running' } }, false],
    // prefix / suffix
    ['prefix', { region: [{ prefix: 'eu-' }] }, { region: 'eu-west-1' }, true],
    ['prefix, other value', { region: [{ prefix: 'eu-' }] }, { region: 'us-east-1' }, false],
    ['prefix is case-sensitive', { region: [{ prefix: 'EU-' }] }, { region: 'eu-west-1' }, false],
    ['prefix only matches strings', { code: [{ prefix: '4' }] }, { code: 404 }, false],
    [
      'prefix ignoring case',
      { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] },
      { service: 'eventbridge' },
      true,
    ],
    [
      'prefix ignoring case, other value',
      { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] },
      { service: 'sqs' },
      false,
    ],
    ['suffix', { file: [{ suffix: '.png' }] }, { file: 'a/b.png' }, true],
    ['suffix, other value', { file: [{ suffix: '.png' }] }, { file: 'a/b.PNG' }, false],
    [
      'suffix ignoring case',
      { file: [{ suffix: { 'equals-ignore-case': '.png' } }] },
      { file: 'a/b.PNG' },
      true,
    ],
    [
      'suffix ignoring case, other value',
      { file: [{ suffix: { 'equals-ignore-case': '.png' } }] },
      { file: 'a/b.jpg' },
      false,
    ],
    // equals-ignore-case
    [
      'equals-ignore-case',
      { state: [{ 'equals-ignore-case': 'ALARM' }] },
      { state: 'alarm' },
      true,
    ],
    [
      'equals-ignore-case, other value',
      { state: [{ 'equals-ignore-case': 'ALARM' }] },
      { state: 'alarms' },
      false,
    ],
    // anything-but
    [
      'anything-but a string',
      { state: [{ 'anything-but': 'initializing' }] },
      { state: 'running' },
      true,
    ],
    [
      'anything-but a string, that string',
      { state: [{ 'anything-but': 'initializing' }] },
      { state: 'initializing' },
      false,
    ],
    [
      'anything-but does not match a missing field',
      { state: [{ 'anything-but': 'x' }] },
      {},
      false,
    ],
    ['anything-but a number', { limit: [{ 'anything-but': 123 }] }, { limit: 124 }, true],
    [
      'anything-but a number, that number',
      { limit: [{ 'anything-but': 123 }] },
      { limit: 123 },
      false,
    ],
    [
      'anything-but a number, the same digits as a string',
      { limit: [{ 'anything-but': 123 }] },
      { limit: '123' },
      true,
    ],
    [
      'anything-but a list',
      { state: [{ 'anything-but': ['stopped', 'overloaded'] }] },
      { state: 'running' },
      true,
    ],
    [
      'anything-but a list, a listed value',
      { state: [{ 'anything-but': ['stopped', 'overloaded'] }] },
      { state: 'overloaded' },
      false,
    ],
    [
      'anything-but a number list',
      { limit: [{ 'anything-but': [100, 200] }] },
      { limit: 200 },
      false,
    ],
    [
      'anything-but a prefix',
      { region: [{ 'anything-but': { prefix: 'us-' } }] },
      { region: 'eu-west-1' },
      true,
    ],
    [
      'anything-but a prefix, a value with it',
      { region: [{ 'anything-but': { prefix: 'us-' } }] },
      { region: 'us-east-1' },
      false,
    ],
    [
      'anything-but a prefix, a number',
      { region: [{ 'anything-but': { prefix: 'us-' } }] },
      { region: 7 },
      true,
    ],
    [
      'anything-but a suffix',
      { file: [{ 'anything-but': { suffix: '.png' } }] },
      { file: 'a.png' },
      false,
    ],
    [
      'anything-but a suffix, other value',
      { file: [{ 'anything-but': { suffix: '.png' } }] },
      { file: 'a.jpg' },
      true,
    ],
    [
      'anything-but ignoring case',
      { state: [{ 'anything-but': { 'equals-ignore-case': ['OK', 'insufficient_data'] } }] },
      { state: 'ok' },
      false,
    ],
    [
      'anything-but ignoring case, other value',
      { state: [{ 'anything-but': { 'equals-ignore-case': ['OK', 'insufficient_data'] } }] },
      { state: 'ALARM' },
      true,
    ],
    [
      'anything-but a wildcard',
      { path: [{ 'anything-but': { wildcard: '*/lib/*' } }] },
      { path: 'a/lib/b' },
      false,
    ],
    [
      'anything-but a wildcard, other value',
      { path: [{ 'anything-but': { wildcard: '*/lib/*' } }] },
      { path: 'a/src/b' },
      true,
    ],
    // numeric
    ['numeric range, inside', { count: [{ numeric: ['>', 0, '<=', 5] }] }, { count: 5 }, true],
    [
      'numeric range, open bottom excluded',
      { count: [{ numeric: ['>', 0, '<=', 5] }] },
      { count: 0 },
      false,
    ],
    ['numeric range, above', { count: [{ numeric: ['>', 0, '<=', 5] }] }, { count: 5.5 }, false],
    ['numeric >= includes the bound', { count: [{ numeric: ['>=', 10] }] }, { count: 10 }, true],
    ['numeric <', { count: [{ numeric: ['<', 10] }] }, { count: 10 }, false],
    ['numeric <=', { count: [{ numeric: ['<=', 10] }] }, { count: 10 }, true],
    ['numeric =', { limit: [{ numeric: ['=', 3.018e2] }] }, { limit: 301.8 }, true],
    ['numeric =, other value', { limit: [{ numeric: ['=', 3.018e2] }] }, { limit: 301.9 }, false],
    ['numeric only matches numbers', { count: [{ numeric: ['>', 0] }] }, { count: '7' }, false],
    ['numeric, missing field', { count: [{ numeric: ['>', 0] }] }, {}, false],
    // exists
    ['exists true', { count: [{ exists: true }] }, { count: 0 }, true],
    ['exists true on null', { owner: [{ exists: true }] }, { owner: null }, true],
    ['exists true, missing', { count: [{ exists: true }] }, {}, false],
    [
      'exists true, an object is no leaf',
      { count: [{ exists: true }] },
      { count: { c1: 100 } },
      false,
    ],
    ['exists true, an empty array', { tags: [{ exists: true }] }, { tags: [] }, false],
    ['exists false, missing', { count: [{ exists: false }] }, { other: 1 }, true],
    ['exists false, present', { count: [{ exists: false }] }, { count: 1 }, false],
    [
      'exists false, an object is no leaf',
      { count: [{ exists: false }] },
      { count: { c1: 100 } },
      true,
    ],
    // wildcard
    [
      'wildcard',
      { name: [{ wildcard: 'Simple*Service' }] },
      { name: 'SimpleNotificationService' },
      true,
    ],
    [
      'wildcard, empty run',
      { name: [{ wildcard: 'Simple*Service' }] },
      { name: 'SimpleService' },
      true,
    ],
    [
      'wildcard, other value',
      { name: [{ wildcard: 'Simple*Service' }] },
      { name: 'SimpleQueue' },
      false,
    ],
    ['wildcard is anchored', { name: [{ wildcard: 'a*c' }] }, { name: 'xabc' }, false],
    ['wildcard, escaped star', { name: [{ wildcard: 'a\\*c' }] }, { name: 'a*c' }, true],
    [
      'wildcard, escaped star is literal',
      { name: [{ wildcard: 'a\\*c' }] },
      { name: 'abc' },
      false,
    ],
    ['wildcard, escaped backslash', { name: [{ wildcard: 'a\\\\*' }] }, { name: 'a\\bc' }, true],
    [
      'wildcard, regex characters are literal',
      { name: [{ wildcard: 'v1.*' }] },
      { name: 'v12' },
      false,
    ],
    [
      'wildcard, regex characters are literal too',
      { name: [{ wildcard: 'v1.*' }] },
      { name: 'v1.2' },
      true,
    ],
    ['wildcard spans lines', { text: [{ wildcard: 'a*b' }] }, { text: 'a\nb' }, true],
    // several matchers in one field: any of them
    ['mixed matchers, first', { state: ['OK', { prefix: 'AL' }] }, { state: 'OK' }, true],
    ['mixed matchers, second', { state: ['OK', { prefix: 'AL' }] }, { state: 'ALARM' }, true],
    [
      'mixed matchers, neither',
      { state: ['OK', { prefix: 'AL' }] },
      { state: 'INSUFFICIENT_DATA' },
      false,
    ],
  ])('%s', (_, pattern, detail, expected) => {
    // Act
    const matched = compileEventPattern({ detail: pattern }).matches(event(detail));

    // Assess
    expect(matched).toBe(expected);
  });
});

describe('compileEventPattern — structure', () => {
  it.each<[string, EventPattern, unknown, boolean]>([
    [
      'every field must match',
      { source: ['s'], 'detail-type': ['t'] },
      { source: 's', 'detail-type': 'u' },
      false,
    ],
    [
      'fields the pattern omits are ignored',
      { source: ['s'] },
      { source: 's', other: 'x', detail: {} },
      true,
    ],
    [
      'array in the event: any element',
      { resources: ['arn:b'] },
      { resources: ['arn:a', 'arn:b'] },
      true,
    ],
    [
      'array in the event: no element',
      { resources: ['arn:c'] },
      { resources: ['arn:a', 'arn:b'] },
      false,
    ],
    ['array in the event meets a value list', { tags: ['x', 'y'] }, { tags: ['y', 'z'] }, true],
    ['nested arrays are flattened', { tags: ['z'] }, { tags: [['x'], ['y', ['z']]] }, true],
    [
      'anything-but on an array: any element not excluded',
      { tags: [{ 'anything-but': 'a' }] },
      { tags: ['a', 'b'] },
      true,
    ],
    [
      'anything-but on an array of excluded values',
      { tags: [{ 'anything-but': 'a' }] },
      { tags: ['a', 'a'] },
      false,
    ],
    [
      'nested detail',
      { detail: { state: { value: ['ALARM'] } } },
      { detail: { state: { value: 'ALARM', reason: 'r' } } },
      true,
    ],
    [
      'nested detail, other value',
      { detail: { state: { value: ['ALARM'] } } },
      { detail: { state: { value: 'OK' } } },
      false,
    ],
    [
      'nested detail, missing parent',
      { detail: { state: { value: ['ALARM'] } } },
      { detail: {} },
      false,
    ],
    [
      'exists false under a missing parent',
      { detail: { state: { value: [{ exists: false }] } } },
      { detail: {} },
      true,
    ],
    [
      'objects inside an array',
      { detail: { employees: { first: ['Anna'] } } },
      { detail: { employees: [{ first: 'John' }, { first: 'Anna' }] } },
      true,
    ],
    [
      'array consistency: fields from one element',
      { detail: { employees: { first: ['Anna'], last: ['Smith'] } } },
      {
        detail: {
          employees: [
            { first: 'Anna', last: 'Smith' },
            { first: 'Peter', last: 'Jones' },
          ],
        },
      },
      true,
    ],
    [
      'array consistency: fields from different elements do not match',
      { detail: { employees: { first: ['Anna'], last: ['Jones'] } } },
      {
        detail: {
          employees: [
            { first: 'Anna', last: 'Smith' },
            { first: 'Peter', last: 'Jones' },
          ],
        },
      },
      false,
    ],
    [
      "fields are the event's own, not inherited ones",
      { detail: { inherited: ['x'] } },
      { detail: Object.create({ inherited: 'x' }) },
      false,
    ],
    ['an event that is not an object', { source: ['s'] }, 'source', false],
    [
      'CDK spelling detailType reads detail-type',
      { detailType: ['t'] },
      { 'detail-type': 't' },
      true,
    ],
    ['CDK spelling detailType, other type', { detailType: ['t'] }, { 'detail-type': 'u' }, false],
    [
      'detailType is only renamed at the top',
      { detail: { detailType: ['t'] } },
      { detail: { 'detail-type': 't' } },
      false,
    ],
  ])('%s', (_, pattern, candidate, expected) => {
    // Act
    const matched = matchesEventPattern(pattern, candidate);

    // Assess
    expect(matched).toBe(expected);
  });
});

describe('compileEventPattern — $or', () => {
  const pattern: EventPattern = {
    source: ['aws.cloudwatch'],
    $or: [
      { detail: { metricName: ['CPUUtilization', 'ReadLatency'] } },
      // Inside detail, so its branches name fields of detail.
      { detail: { namespace: ['AWS/EC2'], $or: [{ id: [1] }, { scope: ['Service'] }] } },
    ],
  };

  it.each<[string, Record<string, unknown>, unknown, boolean]>([
    ['first branch', { source: 'aws.cloudwatch' }, { metricName: 'ReadLatency' }, true],
    [
      'second branch with its nested first branch',
      { source: 'aws.cloudwatch' },
      { namespace: 'AWS/EC2', id: 1 },
      true,
    ],
    [
      'second branch with its nested second branch',
      { source: 'aws.cloudwatch' },
      { namespace: 'AWS/EC2', scope: 'Service' },
      true,
    ],
    [
      'second branch without a nested branch',
      { source: 'aws.cloudwatch' },
      { namespace: 'AWS/EC2' },
      false,
    ],
    ['no branch', { source: 'aws.cloudwatch' }, { metricName: 'Errors' }, false],
    [
      'a branch, but the fields beside $or fail',
      { source: 'aws.ec2' },
      { metricName: 'ReadLatency' },
      false,
    ],
  ])('%s', (_, envelope, detail, expected) => {
    // Act
    const matched = matchesEventPattern(pattern, { ...envelope, detail });

    // Assess
    expect(matched).toBe(expected);
  });

  it('works inside a nested object', () => {
    // Prepare
    const nested = compileEventPattern({
      detail: { $or: [{ state: ['ALARM'] }, { previous: ['ALARM'] }] },
    });

    // Act / Assess
    expect(nested.matches({ detail: { state: 'OK', previous: 'ALARM' } })).toBe(true);
    expect(nested.matches({ detail: { state: 'OK', previous: 'OK' } })).toBe(false);
  });
});

describe('compileEventPattern — invalid patterns', () => {
  it.each<[string, unknown, string, RegExp]>([
    ['not an object', ['aws.ecs'], '(pattern)', /expected an object of fields/],
    ['an empty pattern', {}, '(pattern)', /empty object/],
    [
      'a bare value instead of an array',
      { source: 'aws.ecs' },
      'source',
      /wrap a single value in an array: \["aws.ecs"\]/,
    ],
    ['an empty array', { detail: { state: [] } }, 'detail.state', /empty array/],
    ['an empty nested object', { detail: {} }, 'detail', /empty object/],
    [
      'an array inside a value list',
      { detail: { state: [['a']] } },
      'detail.state[0]',
      /one-key object, got \[\["a"\]\]|got \["a"\]/,
    ],
    [
      'an unknown matcher',
      { detail: { state: [{ contains: 'AL' }] } },
      'detail.state[0]',
      /unknown matcher "contains"/,
    ],
    [
      'two keys in a matcher',
      { detail: { state: [{ prefix: 'a', suffix: 'b' }] } },
      'detail.state[0]',
      /exactly one key/,
    ],
    [
      'a prefix that is not a string',
      { detail: { n: [{ prefix: 4 }] } },
      'detail.n[0]',
      /prefix takes a string/,
    ],
    [
      'a suffix object other than equals-ignore-case',
      { detail: { n: [{ suffix: { wildcard: 'a' } }] } },
      'detail.n[0]',
      /suffix takes a string or/,
    ],
    [
      'equals-ignore-case of a number',
      { detail: { n: [{ 'equals-ignore-case': 4 }] } },
      'detail.n[0]',
      /equals-ignore-case takes a string/,
    ],
    [
      'exists with a string',
      { detail: { n: [{ exists: 'true' }] } },
      'detail.n[0]',
      /exists takes true or false/,
    ],
    [
      'cidr, not implemented locally',
      { detail: { ip: [{ cidr: '10.0.0.0/24' }] } },
      'detail.ip[0]',
      /cidr/,
    ],
    [
      'anything-but of null',
      { detail: { n: [{ 'anything-but': null }] } },
      'detail.n[0].anything-but',
      /takes a string, a number/,
    ],
    [
      'anything-but of a mixed list',
      { detail: { n: [{ 'anything-but': ['a', 1] }] } },
      'detail.n[0].anything-but',
      /only strings or only numbers/,
    ],
    [
      'anything-but of an empty list',
      { detail: { n: [{ 'anything-but': [] }] } },
      'detail.n[0].anything-but',
      /at least one/,
    ],
    [
      'anything-but of an empty prefix',
      { detail: { n: [{ 'anything-but': { prefix: '' } }] } },
      'detail.n[0].anything-but',
      /non-empty/,
    ],
    [
      'anything-but ignoring case of a number',
      { detail: { n: [{ 'anything-but': { 'equals-ignore-case': [1] } }] } },
      'detail.n[0].anything-but',
      /equals-ignore-case takes a string or a list of strings/,
    ],
    [
      'anything-but of an unknown matcher',
      { detail: { n: [{ 'anything-but': { numeric: ['>', 1] } }] } },
      'detail.n[0].anything-but',
      /got \{"numeric"/,
    ],
    [
      'numeric that is not a list',
      { detail: { n: [{ numeric: '>5' }] } },
      'detail.n[0].numeric',
      /got ">5"/,
    ],
    [
      'numeric with an unknown operator',
      { detail: { n: [{ numeric: ['!=', 5] }] } },
      'detail.n[0].numeric',
      /operator "!="/,
    ],
    [
      'numeric with the upper bound first',
      { detail: { n: [{ numeric: ['<', 5, '>', 0] }] } },
      'detail.n[0].numeric',
      /operator "<" is not allowed/,
    ],
    [
      'numeric with a string bound',
      { detail: { n: [{ numeric: ['>', '5'] }] } },
      'detail.n[0].numeric',
      /"5" after ">" is not a number/,
    ],
    [
      'numeric beyond the documented range',
      { detail: { n: [{ numeric: ['>', 6e9] }] } },
      'detail.n[0].numeric',
      /within ±5000000000/,
    ],
    [
      'numeric with an empty range',
      { detail: { n: [{ numeric: ['>', 5, '<', 5] }] } },
      'detail.n[0].numeric',
      /is empty/,
    ],
    [
      'numeric = with a second bound',
      { detail: { n: [{ numeric: ['=', 5, '<', 9] }] } },
      'detail.n[0].numeric',
      /operator "=" is not allowed/,
    ],
    [
      'wildcard with consecutive stars',
      { detail: { n: [{ wildcard: 'a**b' }] } },
      'detail.n[0]',
      /consecutive \*/,
    ],
    [
      'wildcard with a bad escape',
      { detail: { n: [{ wildcard: 'a\\b' }] } },
      'detail.n[0]',
      /may only escape/,
    ],
    ['$or with one branch', { $or: [{ source: ['a'] }] }, '$or', /at least two patterns/],
    ['$or that is not an array', { $or: { source: ['a'] } }, '$or', /at least two patterns/],
    [
      '$or with a non-object branch',
      { $or: [{ source: ['a'] }, ['b']] },
      '$or[1]',
      /expected an object/,
    ],
    [
      '$or with an invalid branch',
      { detail: { $or: [{ a: ['x'] }, { b: [{ contains: 'y' }] }] } },
      'detail.$or[1].b[0]',
      /unknown matcher "contains"/,
    ],
    [
      '$or with a matcher name as a field',
      { $or: [{ prefix: ['a'] }, { source: ['b'] }] },
      '$or[0].prefix',
      /matcher name/,
    ],
    [
      'both detailType and detail-type',
      { detailType: ['a'], 'detail-type': ['b'] },
      'detailType',
      /not both/,
    ],
  ])('refuses %s, naming the path', (_, pattern, path, message) => {
    // Act
    const compile = () => compileEventPattern(pattern as EventPattern);

    // Assess
    expect(compile).toThrow(EventPatternError);
    expect(compile).toThrow(message);
    try {
      compile();
    } catch (error) {
      expect((error as EventPatternError).path).toBe(path);
      expect((error as Error).message).toContain(`at ${path}:`);
      expect((error as Error).name).toBe('EventPatternError');
    }
  });
});

/**
 * The rules of infra/, copied as written there (CDK spelling, `detailType`), matched
 * against events shaped like the ones AWS services send.
 */
describe('the patterns of infra/', () => {
  const WakeOnDeploymentsAndAlarms = {
    source: ['aws.codedeploy', 'aws.ecs', 'aws.cloudwatch'],
    detailType: [
      'CodeDeploy Deployment State-change Notification',
      'ECS Deployment State Change',
      'CloudWatch Alarm State Change',
    ],
  };
  const OnBuildSucceeded = {
    source: ['aws.codebuild'],
    detailType: ['CodeBuild Build State Change'],
    detail: {
      'build-status': ['SUCCEEDED'],
      'project-name': ['release-captain-api', 'release-captain-web'],
    },
  };
  const OnCodeCommitPush = {
    source: ['aws.codecommit'],
    detailType: ['CodeCommit Repository State Change'],
    resources: ['arn:aws:codecommit:eu-west-1:111122223333:api'],
    detail: {
      event: ['referenceCreated', 'referenceUpdated'],
      referenceType: ['branch'],
    },
  };
  const NotificationsRule = (pipelines?: string[]) => ({
    source: [EVENT_SOURCE],
    detailType: [
      'Release Blocked',
      'Deployment Failed',
      'Rollback Started',
      'Rollback Completed',
      'Promotions Disabled',
    ],
    ...(pipelines === undefined ? {} : { detail: { pipeline: [...pipelines] } }),
  });
  const EventLogAll = { source: [EVENT_SOURCE] };

  const codeDeployStateChange = (state: string) => ({
    account: '111122223333',
    region: 'eu-west-1',
    'detail-type': 'CodeDeploy Deployment State-change Notification',
    source: 'aws.codedeploy',
    version: '0',
    time: '2026-11-23T10:06:31Z',
    id: 'c071bfbf-83c4-49ca-a6ff-3df053957145',
    resources: [
      'arn:aws:codedeploy:eu-west-1:111122223333:application:api',
      'arn:aws:codedeploy:eu-west-1:111122223333:deploymentgroup:api/api-gamma',
    ],
    detail: {
      instanceGroupId: '9fd2fbef-2157-40d8-91e7-6845af69e2d2',
      region: 'eu-west-1',
      application: 'api',
      deploymentId: 'd-ABCDEF123',
      state,
      deploymentGroup: 'api-gamma',
    },
  });
  const ecsDeploymentStateChange = {
    version: '0',
    id: 'ddca6449-b258-46c0-8653-e0e3a6d0468b',
    'detail-type': 'ECS Deployment State Change',
    source: 'aws.ecs',
    account: '111122223333',
    time: '2026-11-23T10:31:14Z',
    region: 'eu-west-1',
    resources: ['arn:aws:ecs:eu-west-1:111122223333:service/default/api'],
    detail: {
      eventType: 'INFO',
      eventName: 'SERVICE_DEPLOYMENT_COMPLETED',
      deploymentId: 'ecs-svc/0123456789012345678',
      updatedAt: '2026-11-23T10:31:10Z',
      reason: 'ECS deployment ecs-svc/0123456789012345678 completed.',
    },
  };
  const alarmStateChange = (value: string) => ({
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '111122223333',
    time: '2026-11-23T10:04:40Z',
    region: 'eu-west-1',
    resources: ['arn:aws:cloudwatch:eu-west-1:111122223333:alarm:api-gamma-aggregate'],
    detail: {
      alarmName: 'api-gamma-aggregate',
      state: {
        value,
        reason: 'Threshold Crossed: 1 datapoint [5.0] was greater than the threshold (1.0).',
        timestamp: '2026-11-23T10:04:40.989+0000',
      },
      previousState: {
        value: 'OK',
        reason: 'Threshold not crossed',
        timestamp: '2026-11-23T09:04:40.985+0000',
      },
      configuration: { description: 'api gamma aggregate', metrics: [] },
    },
  });
  const codeBuildStateChange = (status: string, project: string) => ({
    version: '0',
    id: 'bfdc1220-60ff-44fa-8a58-3c3a1c6e3b8d',
    'detail-type': 'CodeBuild Build State Change',
    source: 'aws.codebuild',
    account: '111122223333',
    time: '2026-11-23T10:14:28Z',
    region: 'eu-west-1',
    resources: [`arn:aws:codebuild:eu-west-1:111122223333:build/${project}:8745a7a9`],
    detail: {
      'build-status': status,
      'project-name': project,
      'build-id': `arn:aws:codebuild:eu-west-1:111122223333:build/${project}:8745a7a9`,
      'current-phase': 'COMPLETED',
      'current-phase-context': '[]',
      version: '1',
      'additional-information': { 'build-complete': true, 'build-number': 42 },
    },
  });
  const codeCommitChange = (overrides: Record<string, unknown>, repository = 'api') => ({
    version: '0',
    id: '01234567-0123-0123-0123-012345678901',
    'detail-type': 'CodeCommit Repository State Change',
    source: 'aws.codecommit',
    account: '111122223333',
    time: '2026-11-23T10:23:43Z',
    region: 'eu-west-1',
    resources: [`arn:aws:codecommit:eu-west-1:111122223333:${repository}`],
    detail: {
      callerUserArn: 'arn:aws:iam::111122223333:user/mary',
      commitId: '0123456789abcdef0123456789abcdef01234567',
      oldCommitId: 'fedcba9876543210fedcba9876543210fedcba98',
      event: 'referenceUpdated',
      referenceFullName: 'refs/heads/main',
      referenceName: 'main',
      referenceType: 'branch',
      repositoryId: '12345678-1234-5678-abcd-12345678abcd',
      repositoryName: repository,
      ...overrides,
    },
  });
  const releaseCaptainEvent = (type: string, pipeline: string) => ({
    version: '0',
    id: 'e2b0d9f6-0f0e-4c55-9a4c-8d1c0ed8f1a1',
    'detail-type': type,
    source: 'release-captain',
    account: '111122223333',
    time: '2026-11-23T10:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: {
      eventId: `${pipeline}/gamma/r42/${type}/-`,
      pipeline,
      stage: 'gamma',
      release: 42,
      target: null,
      reason: 'aggregate alarm',
      data: {},
    },
  });

  it.each<[string, EventPattern, unknown, boolean]>([
    [
      'wake: CodeDeploy success',
      WakeOnDeploymentsAndAlarms,
      codeDeployStateChange('SUCCESS'),
      true,
    ],
    [
      'wake: CodeDeploy failure',
      WakeOnDeploymentsAndAlarms,
      codeDeployStateChange('FAILURE'),
      true,
    ],
    ['wake: ECS deployment completed', WakeOnDeploymentsAndAlarms, ecsDeploymentStateChange, true],
    ['wake: alarm to ALARM', WakeOnDeploymentsAndAlarms, alarmStateChange('ALARM'), true],
    [
      'wake: not a CodeBuild build',
      WakeOnDeploymentsAndAlarms,
      codeBuildStateChange('SUCCEEDED', 'release-captain-api'),
      false,
    ],
    [
      'wake: not a Release Captain event',
      WakeOnDeploymentsAndAlarms,
      releaseCaptainEvent('Deployment Failed', 'api'),
      false,
    ],
    [
      'wake: not another detail type of the same source',
      WakeOnDeploymentsAndAlarms,
      { ...ecsDeploymentStateChange, 'detail-type': 'ECS Task State Change' },
      false,
    ],
    [
      'build: succeeded build of a watched project',
      OnBuildSucceeded,
      codeBuildStateChange('SUCCEEDED', 'release-captain-web'),
      true,
    ],
    [
      'build: failed build',
      OnBuildSucceeded,
      codeBuildStateChange('FAILED', 'release-captain-api'),
      false,
    ],
    [
      'build: in progress',
      OnBuildSucceeded,
      codeBuildStateChange('IN_PROGRESS', 'release-captain-api'),
      false,
    ],
    [
      'build: another project',
      OnBuildSucceeded,
      codeBuildStateChange('SUCCEEDED', 'someone-else'),
      false,
    ],
    ['push: branch updated', OnCodeCommitPush, codeCommitChange({}), true],
    [
      'push: branch created',
      OnCodeCommitPush,
      codeCommitChange({ event: 'referenceCreated', oldCommitId: undefined }),
      true,
    ],
    [
      'push: branch deleted',
      OnCodeCommitPush,
      codeCommitChange({ event: 'referenceDeleted' }),
      false,
    ],
    [
      'push: tag',
      OnCodeCommitPush,
      codeCommitChange({ referenceType: 'tag', referenceFullName: 'refs/tags/v1' }),
      false,
    ],
    ['push: another repository', OnCodeCommitPush, codeCommitChange({}, 'web'), false],
    [
      'notify: deployment failed',
      NotificationsRule(),
      releaseCaptainEvent('Deployment Failed', 'api'),
      true,
    ],
    [
      'notify: stage approved is not notified',
      NotificationsRule(),
      releaseCaptainEvent('Stage Approved', 'api'),
      false,
    ],
    [
      'notify: a chosen pipeline',
      NotificationsRule(['api']),
      releaseCaptainEvent('Rollback Started', 'api'),
      true,
    ],
    [
      'notify: another pipeline',
      NotificationsRule(['api']),
      releaseCaptainEvent('Rollback Started', 'web'),
      false,
    ],
    [
      'notify: another source with the same type',
      NotificationsRule(),
      { ...releaseCaptainEvent('Deployment Failed', 'api'), source: 'aws.codedeploy' },
      false,
    ],
    [
      'event log: every Release Captain event',
      EventLogAll,
      releaseCaptainEvent('Stage Approved', 'api'),
      true,
    ],
    ['event log: no AWS event', EventLogAll, alarmStateChange('ALARM'), false],
  ])('%s', (_, pattern, candidate, expected) => {
    // Act
    const matched = compileEventPattern(pattern).matches(JSON.parse(JSON.stringify(candidate)));

    // Assess
    expect(matched).toBe(expected);
  });

  it('routes an alarm that went to ALARM and not one that recovered, with a detail filter', () => {
    // Prepare
    const onAlarm = compileEventPattern({
      ...WakeOnDeploymentsAndAlarms,
      detail: { state: { value: ['ALARM'] } },
    });

    // Act / Assess
    expect(onAlarm.matches(alarmStateChange('ALARM'))).toBe(true);
    expect(onAlarm.matches(alarmStateChange('OK'))).toBe(false);
  });
});
