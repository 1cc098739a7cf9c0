import { describe, expect, it } from 'vitest';
import {
  DefinitionError,
  type PipelineInput,
  parsePipelineDefinition,
} from '../../../core/index.js';
import { smallDefinition, stage, target } from '../../support/fixtures.js';

// biome-ignore lint/suspicious/noExplicitAny: these tests corrupt raw JSON definitions on purpose.
type Raw = any;

const good = (): PipelineInput => JSON.parse(JSON.stringify(smallDefinition()));

/** Applies a change to a good definition and returns the messages it is rejected with. */
function issuesOf(change: (d: Raw) => void): string[] {
  const definition = good() as Raw;
  change(definition);
  try {
    parsePipelineDefinition(definition);
  } catch (error) {
    if (error instanceof DefinitionError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe('parsePipelineDefinition', () => {
  it('accepts a good definition, fills defaults, and round-trips through JSON', () => {
    const parsed = parsePipelineDefinition(good());
    expect(parsed.stages[0]?.approvalSteps).toEqual([]);
    expect(parsed.stages[0]?.targets[0]?.batchPercent).toBe(33);
    expect(parsed.stages[0]?.bake.dataPointMetric).toBe('RequestCount');
    expect(parsePipelineDefinition(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
  });

  it('lists every issue in one error, each with path, expectation and received value', () => {
    const definition = good() as Raw;
    definition.stages[1].bake.minDataPoints = -3;
    definition.stages[2].targets[0].batchPercent = 50;
    expect(() => parsePipelineDefinition(definition)).toThrow(
      'The pipeline definition is not valid:\n' +
        '  stages[1].bake.minDataPoints: expected a whole number ≥ 0, got -3\n' +
        '  stages[2].targets[0].batchPercent: expected a whole number from 1 to 33, got 50',
    );
  });

  // Each row: one mistake and the message it must produce.
  it.each([
    {
      mistake: 'a negative data-point minimum',
      change: (d: Raw) => {
        d.stages[1].bake.minDataPoints = -3;
      },
      message: 'stages[1].bake.minDataPoints: expected a whole number ≥ 0, got -3',
    },
    {
      mistake: 'a fractional bake',
      change: (d: Raw) => {
        d.stages[0].bake.durationSeconds = 1.5;
      },
      message: 'stages[0].bake.durationSeconds: expected a whole number ≥ 0, got 1.5',
    },
    {
      mistake: 'a missing bake duration',
      change: (d: Raw) => {
        delete d.stages[0].bake.durationSeconds;
      },
      message: 'stages[0].bake.durationSeconds: expected a whole number ≥ 0, got nothing',
    },
    {
      mistake: 'a misspelt field',
      change: (d: Raw) => {
        d.stages[0].bakeTime = 3;
      },
      message: "stages[0]: unknown field 'bakeTime'; remove it or check its spelling",
    },
    {
      mistake: 'an upper-case name',
      change: (d: Raw) => {
        d.name = 'Api';
      },
      message:
        'name: expected a name of lower-case letters, digits and dashes that starts with a letter (at most 24), got "Api"',
    },
    {
      mistake: 'a batch above 33%',
      change: (d: Raw) => {
        d.stages[0].targets[0].batchPercent = 50;
      },
      message: 'stages[0].targets[0].batchPercent: expected a whole number from 1 to 33, got 50',
    },
    {
      mistake: 'an unknown time zone',
      change: (d: Raw) => {
        d.stages[0].targets[0].timeZone = 'Mars/Olympus';
      },
      message:
        'stages[0].targets[0].timeZone: expected an IANA time zone such as "Europe/Dublin", got "Mars/Olympus"',
    },
    {
      mistake: 'a bad account',
      change: (d: Raw) => {
        d.stages[0].targets[0].account = '1234';
      },
      message:
        'stages[0].targets[0].account: expected a 12-digit AWS account id or "local", got "1234"',
    },
    {
      mistake: 'a bad region',
      change: (d: Raw) => {
        d.stages[0].targets[0].region = 'Ireland';
      },
      message:
        'stages[0].targets[0].region: expected an AWS region code such as "eu-west-1", got "Ireland"',
    },
    {
      mistake: 'a task role that is neither a role name nor a role ARN',
      change: (d: Raw) => {
        d.stages[0].targets[0].deployment = {
          kind: 'ecs-service',
          cluster: 'main',
          service: 'api',
          taskRole: 'arn:aws:iam::123456789012:user/ana',
        };
      },
      message:
        'stages[0].targets[0].deployment.taskRole: expected an IAM role name (letters, digits, +=,.@_-, a path with /) or a role ARN, got "arn:aws:iam::123456789012:user/ana"',
    },
    {
      mistake: 'an unknown deployment kind',
      change: (d: Raw) => {
        d.stages[0].targets[0].deployment = { kind: 'ssh' };
      },
      message:
        'stages[0].targets[0].deployment.kind: expected a deployment kind: ecs-service, codedeploy-group or local-fleet, got "ssh"',
    },
    {
      mistake: 'a CodeDeploy group without a known platform',
      change: (d: Raw) => {
        d.stages[0].targets[0].deployment = {
          kind: 'codedeploy-group',
          application: 'api',
          deploymentGroup: 'beta',
          platform: 'ec2',
        };
      },
      message:
        'stages[0].targets[0].deployment.platform: expected a CodeDeploy platform: ecs, lambda or server, got "ec2"',
    },
    {
      mistake: 'a Lambda group without a function name',
      change: (d: Raw) => {
        d.stages[0].targets[0].deployment = {
          kind: 'codedeploy-group',
          application: 'api',
          deploymentGroup: 'beta',
          platform: 'lambda',
          alias: 'live',
        };
      },
      message:
        'stages[0].targets[0].deployment.functionName: expected a Lambda function name, got nothing',
    },
    {
      mistake: 'a Lambda group without an alias',
      change: (d: Raw) => {
        d.stages[0].targets[0].deployment = {
          kind: 'codedeploy-group',
          application: 'api',
          deploymentGroup: 'beta',
          platform: 'lambda',
          functionName: 'api-handler',
        };
      },
      message: 'stages[0].targets[0].deployment.alias: expected a Lambda alias name, got nothing',
    },
    {
      mistake: 'a container port out of range',
      change: (d: Raw) => {
        d.stages[0].targets[0].deployment = {
          kind: 'codedeploy-group',
          application: 'api',
          deploymentGroup: 'beta',
          platform: 'ecs',
          containerPort: 70000,
        };
      },
      message:
        'stages[0].targets[0].deployment.containerPort: expected a whole number from 1 to 65535, got 70000',
    },
    {
      mistake: 'an unknown bundle type',
      change: (d: Raw) => {
        d.stages[0].targets[0].deployment = {
          kind: 'codedeploy-group',
          application: 'api',
          deploymentGroup: 'beta',
          platform: 'server',
          bundleType: 'rar',
        };
      },
      message:
        'stages[0].targets[0].deployment.bundleType: expected a bundle type: zip, tar or tgz, got "rar"',
    },
    {
      mistake: 'an empty container name',
      change: (d: Raw) => {
        d.stages[0].targets[0].deployment = {
          kind: 'ecs-service',
          cluster: 'main',
          service: 'api',
          container: '',
        };
      },
      message:
        'stages[0].targets[0].deployment.container: expected a container name of the task definition, got ""',
    },
    {
      mistake: 'no targets',
      change: (d: Raw) => {
        d.stages[0].targets = [];
      },
      message: 'stages[0].targets: expected at least one target, got []',
    },
    {
      mistake: 'no stages',
      change: (d: Raw) => {
        d.stages = [];
      },
      message: 'stages: expected at least one stage, got []',
    },
    {
      mistake: 'an unknown pipeline kind',
      change: (d: Raw) => {
        d.kind = 'misc';
      },
      message:
        'kind: expected a pipeline kind: application, infrastructure, configuration, os-patching, operator-tools, got "misc"',
    },
    {
      mistake: 'a window that crosses midnight',
      change: (d: Raw) => {
        d.stages[2].timeWindow = { allow: [{ days: ['mon'], start: '22:00', end: '02:00' }] };
      },
      message:
        'stages[2].timeWindow.allow[0].end: expected start before end on the same day (split a window that crosses midnight in two), got "02:00"',
    },
    {
      mistake: 'a bad clock time',
      change: (d: Raw) => {
        d.stages[2].timeWindow = { allow: [{ days: ['mon'], start: '9am', end: '16:00' }] };
      },
      message:
        'stages[2].timeWindow.allow[0].start: expected a time of day as HH:MM (24-hour), got "9am"',
    },
    {
      mistake: 'a bad weekday',
      change: (d: Raw) => {
        d.stages[2].timeWindow = { allow: [{ days: ['monday'], start: '09:00', end: '16:00' }] };
      },
      message:
        'stages[2].timeWindow.allow[0].days[0]: expected a weekday: mon, tue, wed, thu, fri, sat or sun, got "monday"',
    },
    {
      mistake: 'no allow window',
      change: (d: Raw) => {
        d.stages[2].timeWindow = { allow: [] };
      },
      message:
        'stages[2].timeWindow.allow: expected at least one allow window (use `timeWindow: null` for "always open"), got []',
    },
    {
      mistake: 'a bad deny date',
      change: (d: Raw) => {
        d.stages[2].timeWindow = {
          allow: [{ days: ['mon'], start: '09:00', end: '16:00' }],
          denyDates: ['25/12/2026'],
        };
      },
      message: 'stages[2].timeWindow.denyDates[0]: expected a date as YYYY-MM-DD, got "25/12/2026"',
    },
    {
      mistake: 'a deny range that ends before it starts',
      change: (d: Raw) => {
        d.stages[2].timeWindow = {
          allow: [{ days: ['mon'], start: '09:00', end: '16:00' }],
          denyRanges: [
            { from: '2026-12-21T00:00:00Z', to: '2026-12-20T00:00:00Z', reason: 'freeze' },
          ],
        };
      },
      message:
        'stages[2].timeWindow.denyRanges[0].to: expected "to" after "from", got "2026-12-20T00:00:00Z"',
    },
    {
      mistake: 'a deny range with a bad instant',
      change: (d: Raw) => {
        d.stages[2].timeWindow = {
          allow: [{ days: ['mon'], start: '09:00', end: '16:00' }],
          denyRanges: [{ from: 'yesterday', to: '2026-12-20T00:00:00Z', reason: 'freeze' }],
        };
      },
      message:
        'stages[2].timeWindow.denyRanges[0].from: expected an ISO-8601 instant such as "2026-12-21T00:00:00Z", got "yesterday"',
    },
    {
      mistake: 'a duplicate stage name',
      change: (d: Raw) => {
        d.stages[1].name = 'beta';
        d.stages[2].after = 'beta';
      },
      message: 'stages[1].name: expected a name no other stage uses, got "beta"',
    },
    {
      mistake: 'an unknown upstream stage',
      change: (d: Raw) => {
        d.stages[2].after = 'gama';
      },
      message:
        'stages[2].after: expected the name of an earlier stage (one of: beta, gamma), got "gama"',
    },
    {
      mistake: 'a first stage with an upstream',
      change: (d: Raw) => {
        d.stages[0].after = 'gamma';
      },
      message:
        'stages[0].after: expected null: the first stage is fed by new releases, got "gamma"',
    },
    {
      mistake: 'a production stage without a wave',
      change: (d: Raw) => {
        d.stages[2].wave = null;
      },
      message: 'stages[2].wave: expected a wave number for a production stage, got null',
    },
    {
      mistake: 'a pre-production stage with a wave',
      change: (d: Raw) => {
        d.stages[0].wave = 1;
      },
      message: 'stages[0].wave: expected null for a pre-production stage, got 1',
    },
    {
      mistake: 'pre-production after production',
      change: (d: Raw) => {
        d.stages[3].phase = 'pre-production';
        d.stages[3].wave = null;
      },
      message:
        'stages[3].phase: expected production after the production stage "prod-1", got "pre-production"',
    },
    {
      mistake: 'a wave going backwards',
      change: (d: Raw) => {
        d.stages[2].wave = 3;
      },
      message: 'stages[3].wave: expected a wave ≥ 3, the wave of "prod-1", got 2',
    },
    {
      mistake: 'a target id used twice',
      change: (d: Raw) => {
        d.stages[1].targets[0].id = 'beta-t1';
      },
      message: 'stages[1].targets[0].id: expected an id not already used by "beta", got "beta-t1"',
    },
    {
      mistake: 'an approval step name used twice',
      change: (d: Raw) => {
        d.stages[0].approvalSteps = [
          { kind: 'manual-approval', name: 'x', timeoutSeconds: 60 },
          { kind: 'integration-tests', name: 'x', timeoutSeconds: 60 },
        ];
      },
      message: 'stages[0].approvalSteps[1].name: expected a name unique in the stage, got "x"',
    },
  ])('rejects $mistake', ({ change, message }) => {
    expect(issuesOf(change)).toContain(message);
  });

  it.each([
    {
      given: { kind: 'ecs-service', cluster: 'main', service: 'api' },
      parsed: {
        kind: 'ecs-service',
        cluster: 'main',
        service: 'api',
        container: null,
        image: null,
        taskRole: null,
        executionRole: null,
      },
    },
    {
      given: { kind: 'codedeploy-group', application: 'a', deploymentGroup: 'g', platform: 'ecs' },
      parsed: {
        kind: 'codedeploy-group',
        application: 'a',
        deploymentGroup: 'g',
        platform: 'ecs',
        container: null,
        image: null,
        containerPort: null,
        taskRole: null,
        executionRole: null,
      },
    },
    {
      given: {
        kind: 'codedeploy-group',
        application: 'a',
        deploymentGroup: 'g',
        platform: 'lambda',
        functionName: 'f',
        alias: 'live',
      },
      parsed: {
        kind: 'codedeploy-group',
        application: 'a',
        deploymentGroup: 'g',
        platform: 'lambda',
        functionName: 'f',
        alias: 'live',
        file: null,
      },
    },
    {
      given: {
        kind: 'codedeploy-group',
        application: 'a',
        deploymentGroup: 'g',
        platform: 'server',
      },
      parsed: {
        kind: 'codedeploy-group',
        application: 'a',
        deploymentGroup: 'g',
        platform: 'server',
        file: null,
        bundleType: 'zip',
      },
    },
  ])('fills the deployment defaults of $given.kind $given.platform', ({ given, parsed }) => {
    const definition = good() as Raw;
    definition.stages[0].targets[0].deployment = given;
    expect(parsePipelineDefinition(definition).stages[0]?.targets[0]?.deployment).toEqual(parsed);
  });

  it('renders long received values short', () => {
    const issues = issuesOf((d) => {
      d.source = { repository: 'x'.repeat(80), branch: 7 };
    });
    expect(issues).toEqual(['source.branch: expected a branch name, got 7']);
    expect(
      issuesOf((d) => {
        d.stages[0].targets = 'x'.repeat(100);
      }),
    ).toEqual([`stages[0].targets: expected a list of targets, got "${'x'.repeat(56)}...`]);
  });

  it('names the whole definition when it is not an object', () => {
    expect(() => parsePipelineDefinition(null)).toThrow(
      '(definition): expected a pipeline definition object, got null',
    );
  });

  it('builds helpers that match the schema', () => {
    expect(stage('s', null).name).toBe('s');
    expect(target('t').id).toBe('t');
  });
});
