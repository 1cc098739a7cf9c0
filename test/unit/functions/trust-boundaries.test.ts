/**
 * Fuzzing the trust boundaries: what comes from outside (the GitHub webhook, CodeCommit's
 * events, the operator API, pipeline definitions) is generated at random, valid and not.
 * The property everywhere: no crash, a refusal is a 4xx (or a terminal error) with a
 * message that says why, and a refused request changes nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DefinitionError, parsePipelineDefinition, TerminalError } from '../../../core/index.js';
import { createOperatorApi } from '../../../functions/lib/operator-routes.js';
import { drive, smallDefinition } from '../../support/fixtures.js';
import { World } from '../../support/operator-world.js';
import { codeCommitPushes, gitHubWebhook, signBody } from '../../support/source-events.js';

const sign = signBody;
const hex40 = fc.stringMatching(/^[0-9a-f]{40}$/);
/** Strings that tend to break parsers: empty, long, unicode, separators, encodings. */
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', ' ', '..', '../..', '%', '%E0%A4%A', '%2F', 'null', '0', '-1', 'r0', 'r-1'),
  fc.constantFrom('r1', 'r2', 'r99', 'beta', 'gamma', 'prod-1', 'beta-t1', 'main'),
  fc.string({ maxLength: 3000 }),
);

describe('the GitHub webhook, fuzzed', () => {
  const webhook = gitHubWebhook;
  const pushLike = fc.record(
    {
      ref: fc.oneof(fc.constantFrom('refs/heads/main', 'refs/heads/dev', 'refs/tags/v1'), nasty),
      before: fc.oneof(hex40, nasty),
      after: fc.oneof(hex40, fc.constant('0'.repeat(40)), nasty),
      repository: fc.oneof(
        fc.record({ full_name: fc.oneof(fc.constantFrom('acme/api', 'acme/web'), nasty) }),
        fc.anything(),
      ),
      deleted: fc.boolean(),
      pusher: fc.anything(),
    },
    { requiredKeys: [] },
  );
  const payload = fc.oneof(
    pushLike.map((p) => JSON.stringify(p)),
    fc.json(),
    nasty,
  );
  const event = fc.oneof(fc.constantFrom('push', 'ping', 'pull_request'), nasty);

  it('refuses anything not signed with the shared secret, with 401 and a reason, starting nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        payload,
        event,
        fc.oneof(
          fc.constant(undefined),
          nasty,
          payload.map((body) => sign(body, 'other')),
        ),
        fc.boolean(),
        async (body, kind, signature, base64) => {
          const { builds, deliver } = webhook();
          const headers: Record<string, string> = { 'x-github-event': kind };
          if (signature !== undefined) headers['x-hub-signature-256'] = signature;

          const answer = await deliver(body, headers, base64);

          expect(answer.statusCode).toBe(401);
          expect(JSON.parse(String(answer.body)).message).toMatch(/\w{3}/);
          expect(builds).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('answers any signed delivery with a build of the watched branch, a pong, or a 4xx saying why', async () => {
    await fc.assert(
      fc.asyncProperty(payload, event, fc.boolean(), async (body, kind, base64) => {
        const { builds, deliver } = webhook();

        const answer = await deliver(
          body,
          { 'x-github-event': kind, 'x-hub-signature-256': sign(body) },
          base64,
        );

        const message = JSON.parse(String(answer.body)).message;
        expect(message).toMatch(/\w{3}/);
        if (answer.statusCode === 202) {
          expect(kind).toBe('push');
          expect(JSON.parse(body)).toMatchObject({ ref: 'refs/heads/main' });
          expect(builds).toHaveLength(1);
          expect(builds[0]?.commit).toMatch(/^[0-9a-f]{40}$/);
        } else {
          expect([200, 400, 403, 404, 409, 413, 415, 422]).toContain(answer.statusCode);
          if (answer.statusCode === 200) expect(kind).toBe('ping');
          expect(builds).toEqual([]);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('the CodeCommit push event, fuzzed', () => {
  const pushes = codeCommitPushes;
  const detail = fc.record(
    {
      event: fc.oneof(
        fc.constantFrom('referenceCreated', 'referenceUpdated', 'referenceDeleted'),
        nasty,
      ),
      repositoryName: fc.oneof(fc.constantFrom('api', 'web'), nasty),
      referenceType: fc.oneof(fc.constantFrom('branch', 'tag'), nasty),
      referenceName: fc.oneof(fc.constantFrom('main', 'dev'), nasty),
      commitId: fc.oneof(hex40, nasty),
      oldCommitId: fc.oneof(hex40, nasty),
      callerUserArn: nasty,
    },
    { requiredKeys: [] },
  );
  const input = fc.oneof(
    detail.map((d) => ({ 'detail-type': 'CodeCommit Repository State Change', detail: d })),
    fc.record({ 'detail-type': nasty, detail: fc.anything() }),
    fc.anything(),
  );

  it('builds only a branch created or moved in a watched repository, and refuses the rest with a reason', async () => {
    await fc.assert(
      fc.asyncProperty(input, async (event) => {
        const { builds, deliver } = pushes();

        let answer: unknown;
        try {
          answer = await deliver(event);
        } catch (error) {
          // A malformed event is a terminal error (the dead-letter queue keeps it).
          expect(error).toBeInstanceOf(TerminalError);
          expect((error as Error).message).toMatch(/\w{3}/);
          expect(builds).toEqual([]);
          return;
        }
        if (builds.length === 0) {
          expect(answer).toEqual({ ignored: expect.stringMatching(/\w{3}/) });
          return;
        }
        const d = (event as { detail: Record<string, unknown> }).detail;
        expect(builds).toHaveLength(1);
        expect(d).toMatchObject({ repositoryName: 'api', referenceType: 'branch' });
        expect(['referenceCreated', 'referenceUpdated']).toContain(d.event);
        expect(d.referenceName).toBe('main');
        expect(builds[0]?.commit).toBe(d.commitId);
      }),
      { numRuns: 500 },
    );
  });
});

describe('the operator API, fuzzed', () => {
  /** r1 approved everywhere, r2 deploying at beta: something for every route to act on. */
  const world = async () => {
    const w = new World();
    drive.create(w.sb, 1);
    w.pass('beta', 'gamma', 'prod-1', 'prod-2');
    drive.create(w.sb, 2);
    drive.admit(w.sb, 'beta');
    await w.flush();
    const api = createOperatorApi({
      pipelines: () => ['api'],
      operator: async () => w,
      wake: async (subjects) => subjects.length,
      executionLink: (name) => `https://console.example/${name}`,
    });
    return { w, api };
  };
  const snapshot = async (w: World) =>
    JSON.stringify([await w.service.state(), await w.audit.list('api', 200)]);

  const routes = fc.constantFrom(
    'status',
    'releases',
    'releases/r1',
    'releases/latest',
    'history/beta',
    'where/',
    'plan',
    'audit',
    'rollback',
    'rollback/preview',
    'promotions',
    'approve',
    'overrides',
    'expedite',
    'expedite/approve',
    'expedite/cancel',
    'known-bad',
    'nowhere',
  );
  const path = fc.oneof(
    fc
      .tuple(fc.constantFrom('api', 'nope', ''), routes, fc.option(nasty, { nil: undefined }))
      .map(([pipeline, route, extra]) =>
        [`/api/pipelines/${pipeline}/${route}`, extra].filter((p) => p !== undefined).join('/'),
      ),
    nasty.map((p) => `/${p}`),
  );
  /** Bodies shaped like the commands', with fields of any value, and anything at all. */
  const field = fc.oneof(nasty, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
  const body = fc.oneof(
    fc.record(
      {
        stage: fc.oneof(fc.constantFrom('beta', 'gamma', 'prod-1'), field),
        release: fc.oneof(fc.constantFrom(1, 2, 'r2', 'r9'), field),
        targets: fc.oneof(fc.array(fc.oneof(fc.constantFrom('beta', 'beta-t1'), nasty)), field),
        direction: fc.oneof(fc.constantFrom('in', 'out', 'both'), field),
        enabled: fc.oneof(fc.boolean(), field),
        reason: fc.oneof(fc.constant('a good reason'), field),
        requestId: fc.oneof(fc.uuid(), field),
        kind: fc.oneof(fc.constantFrom('alarm', 'release', 'time-window'), field),
        value: field,
        present: field,
        hours: field,
        bakeFactor: field,
        confirmed: fc.anything(),
        approver: field,
        by: field,
      },
      { requiredKeys: [] },
    ),
    fc.anything(),
  );
  const request = fc.record({
    method: fc.oneof(fc.constantFrom('GET', 'POST'), fc.constantFrom('PUT', 'DELETE', '', 'get')),
    path,
    query: fc.dictionary(nasty, nasty, { maxKeys: 3 }),
    body: fc.option(body, { nil: undefined }),
    caller: fc.oneof(
      fc.constantFrom('arn:aws:sts::111111111111:assumed-role/Ops/ana', 'local:bo'),
      nasty.filter((s) => s.trim() !== ''),
    ),
  });

  it('never fails inside, says why it refuses, and a refused request changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const { w, api } = await world();
        const before = await snapshot(w);

        const answer = await api(req);

        expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
        if (answer.status >= 400) {
          expect((answer.body as { message?: unknown }).message).toMatch(/\w{3}/);
          expect(await snapshot(w)).toBe(before);
        }
        if (req.method === 'GET') expect(await snapshot(w)).toBe(before);
      }),
      { numRuns: 400 },
    );
  });
});

describe('pipeline definitions, fuzzed', () => {
  const valid = smallDefinition();
  /** A valid definition with one value somewhere replaced by anything. */
  const mutated = fc.tuple(fc.nat(), fc.anything()).map(([pick, value]) => {
    const copy = structuredClone(valid) as unknown as Record<string, unknown>;
    const slots: [Record<string, unknown>, string][] = [];
    const walk = (node: unknown) => {
      if (node === null || typeof node !== 'object') return;
      for (const [key, child] of Object.entries(node)) {
        slots.push([node as Record<string, unknown>, key]);
        walk(child);
      }
    };
    walk(copy);
    const [holder, key] = slots[pick % slots.length] as [Record<string, unknown>, string];
    holder[key] = value;
    return copy;
  });

  it('parses or refuses with every bad field named by its path, never another error', () => {
    fc.assert(
      fc.property(fc.oneof(mutated, fc.anything()), (input) => {
        try {
          parsePipelineDefinition(input as never);
        } catch (error) {
          expect(error).toBeInstanceOf(DefinitionError);
          const issues = (error as DefinitionError).issues;
          expect(issues.length).toBeGreaterThan(0);
          for (const issue of issues) {
            expect(typeof issue.path).toBe('string');
            expect(issue.message).toMatch(/\w{3}/);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
