import { describe, expect, it } from 'vitest';
import {
  CodeDeployPlatform,
  DefinitionError,
  type EcsServiceTargetProps,
  type Placement,
  parsePipelineDefinition,
  type Region,
  region,
  renderTarget,
  SEED_BAKES,
  Target,
  type TargetInput,
  waves,
} from '../../../core/index.js';
import { target as plainTarget, smallDefinition } from '../../support/fixtures.js';

const placement = (overrides: Partial<Placement> = {}): Placement => ({
  phase: 'production',
  stage: 'prod-w1-z1',
  region: region('eu-north-1'),
  zone: 'eun1-az1',
  wave: 1,
  oneBox: false,
  ...overrides,
});

const alarms = { rollbackAlarm: 'api-rollback', aggregateAlarm: 'team-aggregate' };

const api = (overrides: Partial<EcsServiceTargetProps> = {}): EcsServiceTargetProps => ({
  placement: placement(),
  account: '123456789012',
  cluster: 'api',
  service: 'api',
  ...alarms,
  ...overrides,
});

/** The issues a factory call is refused with, as `path: message` lines. */
function issuesOf(build: () => Target): string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof DefinitionError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe('Target.idFor', () => {
  it.each([
    {
      stage: 'prod-w1-z1',
      code: 'eu-north-1',
      zone: 'eun1-az1',
      id: 'prod-w1-z1-eu-north-1-eun1-az1',
    },
    { stage: 'beta', code: 'us-west-2', zone: null, id: 'beta-us-west-2' },
    { stage: 'cfg-w1-c2', code: 'eu-west-1', zone: 'cell2', id: 'cfg-w1-c2-eu-west-1-cell2' },
  ])('$stage in $code, zone $zone → $id', ({ stage, code, zone, id }) => {
    expect(Target.idFor(placement({ stage, region: region(code), zone }))).toBe(id);
  });
});

describe('Target.ecsService', () => {
  it('takes the id, Region, zone and time zone from the placement, and applies the schema’s defaults', () => {
    // Act
    const target = Target.ecsService(api());

    // Assess
    expect(target.render()).toEqual({
      id: 'prod-w1-z1-eu-north-1-eun1-az1',
      account: '123456789012',
      region: 'eu-north-1',
      zone: 'eun1-az1',
      timeZone: 'Europe/Stockholm',
      alarms: { rollback: 'api-rollback', aggregate: 'team-aggregate' },
      deployment: {
        kind: 'ecs-service',
        cluster: 'api',
        service: 'api',
        container: null,
        image: null,
        taskRole: null,
        executionRole: null,
      },
      batchPercent: 33,
      rollbackBatchPercent: 33,
    });
    expect(target.id).toBe('prod-w1-z1-eu-north-1-eun1-az1');
  });

  it('lets explicit props win over the placement, with the time zone of the Region they name', () => {
    const target = Target.ecsService(
      api({
        id: 'config-prod-w1-z1',
        region: 'ap-southeast-2',
        zone: 'apse2-az3',
        container: 'config',
        image: 'config',
        batchPercent: 10,
        rollbackBatchPercent: 25,
      }),
    );

    expect(target).toMatchObject({
      id: 'config-prod-w1-z1',
      region: 'ap-southeast-2',
      zone: 'apse2-az3',
      timeZone: 'Australia/Sydney',
      deployment: { container: 'config', image: 'config' },
      batchPercent: 10,
      rollbackBatchPercent: 25,
    });
  });

  it('needs no placement when given an id and a Region: the zone is then the whole Region', () => {
    const target = Target.ecsService(
      api({ placement: undefined, id: 'beta', region: 'us-west-2' }),
    );

    expect(target).toMatchObject({ zone: null, timeZone: 'America/Los_Angeles' });
  });

  it('takes the time zone of a placement’s Region even when the central list lacks it', () => {
    const moon: Region = { code: 'xx-moon-1', name: 'Moon', timeZone: 'UTC', zones: ['mo1-az1'] };

    const target = Target.ecsService(api({ placement: placement({ region: moon }) }));

    expect(target).toMatchObject({ region: 'xx-moon-1', timeZone: 'UTC' });
  });

  it('an explicit time zone wins over the Region’s', () => {
    expect(Target.ecsService(api({ timeZone: 'UTC' })).timeZone).toBe('UTC');
  });
});

describe('Target.codeDeployGroup', () => {
  const group = (platform: CodeDeployPlatform) =>
    Target.codeDeployGroup({
      placement: placement(),
      account: '123456789012',
      application: 'api',
      deploymentGroup: 'api-eun1-az1',
      platform,
      ...alarms,
    }).deployment;

  it.each([
    {
      platform: CodeDeployPlatform.ecs(),
      deployment: {
        platform: 'ecs',
        container: null,
        image: null,
        containerPort: null,
        taskRole: null,
        executionRole: null,
      },
    },
    {
      platform: CodeDeployPlatform.ecs({
        container: 'web',
        image: 'web',
        containerPort: 8080,
        taskRole: 'web-task',
        executionRole: 'arn:aws:iam::123456789012:role/web-exec',
      }),
      deployment: {
        platform: 'ecs',
        container: 'web',
        image: 'web',
        containerPort: 8080,
        taskRole: 'web-task',
        executionRole: 'arn:aws:iam::123456789012:role/web-exec',
      },
    },
    {
      platform: CodeDeployPlatform.lambda({ functionName: 'api-handler', alias: 'live' }),
      deployment: { platform: 'lambda', functionName: 'api-handler', alias: 'live', file: null },
    },
    {
      platform: CodeDeployPlatform.server(),
      deployment: { platform: 'server', file: null, bundleType: 'zip' },
    },
    {
      platform: CodeDeployPlatform.server({ file: 'bundle', bundleType: 'tgz' }),
      deployment: { platform: 'server', file: 'bundle', bundleType: 'tgz' },
    },
  ])('renders the $deployment.platform platform with its defaults', ({ platform, deployment }) => {
    expect(group(platform)).toEqual({
      kind: 'codedeploy-group',
      application: 'api',
      deploymentGroup: 'api-eun1-az1',
      ...deployment,
    });
  });
});

describe('Target.localFleet', () => {
  it('is in the simulated account unless told otherwise', () => {
    const fleet = Target.localFleet({ placement: placement(), boxes: 3, ...alarms });
    const named = Target.localFleet({
      placement: placement(),
      account: '123456789012',
      boxes: 1,
      ...alarms,
    });

    expect(fleet.account).toBe('local');
    expect(fleet.deployment).toEqual({ kind: 'local-fleet', boxes: 3 });
    expect(named.account).toBe('123456789012');
  });
});

describe('validation', () => {
  const lambda = (functionName: string) =>
    CodeDeployPlatform.lambda({ functionName, alias: 'live' });

  // Each row: one mistake and the message it must produce, named by the prop to change.
  it.each([
    {
      mistake: 'a short account id',
      build: () => Target.ecsService(api({ account: '1234' })),
      message:
        'Target.ecsService(prod-w1-z1-eu-north-1-eun1-az1).account: expected a 12-digit AWS account id or "local", got "1234"',
    },
    {
      mistake: 'an empty rollback alarm',
      build: () => Target.ecsService(api({ rollbackAlarm: '' })),
      message:
        'Target.ecsService(prod-w1-z1-eu-north-1-eun1-az1).rollbackAlarm: expected a CloudWatch alarm name, got ""',
    },
    {
      mistake: 'an empty aggregate alarm',
      build: () => Target.ecsService(api({ aggregateAlarm: '' })),
      message:
        'Target.ecsService(prod-w1-z1-eu-north-1-eun1-az1).aggregateAlarm: expected a CloudWatch alarm name, got ""',
    },
    {
      mistake: 'an empty cluster',
      build: () => Target.ecsService(api({ cluster: '' })),
      message:
        'Target.ecsService(prod-w1-z1-eu-north-1-eun1-az1).cluster: expected an ECS cluster name or ARN, got ""',
    },
    {
      mistake: 'a batch beyond a third of the fleet',
      build: () => Target.ecsService(api({ batchPercent: 50 })),
      message:
        'Target.ecsService(prod-w1-z1-eu-north-1-eun1-az1).batchPercent: expected a whole number from 1 to 33, got 50',
    },
    {
      mistake: 'an upper-case id',
      build: () => Target.ecsService(api({ id: 'Beta' })),
      message:
        'Target.ecsService(Beta).id: expected a name of lower-case letters, digits and dashes that starts with a letter (at most 64), got "Beta"',
    },
    {
      mistake: 'no id and no placement',
      build: () => Target.ecsService(api({ placement: undefined, region: 'eu-west-1' })),
      message:
        'Target.ecsService.id: expected a name of lower-case letters, digits and dashes (at most 64), got nothing; pass id, or a placement to derive it from',
    },
    {
      mistake: 'no Region and no placement',
      build: () => Target.ecsService(api({ placement: undefined, id: 'beta' })),
      message:
        'Target.ecsService(beta).region: expected an AWS region code such as "eu-west-1", got nothing; pass region, or a placement to take it from',
    },
    {
      mistake: 'a Region the central list lacks, without a time zone',
      build: () => Target.ecsService(api({ region: 'eu-west-9' })),
      message:
        'Target.ecsService(prod-w1-z1-eu-north-1-eun1-az1).timeZone: expected an IANA time zone such as "Europe/Dublin", got nothing; "eu-west-9" is not in the central Region list: pass timeZone, or add the Region to core/definition/regions.ts',
    },
    {
      mistake: 'an empty deployment group',
      build: () =>
        Target.codeDeployGroup({
          ...api(),
          application: 'api',
          deploymentGroup: '',
          platform: CodeDeployPlatform.server(),
        }),
      message:
        'Target.codeDeployGroup(prod-w1-z1-eu-north-1-eun1-az1).deploymentGroup: expected a CodeDeploy deployment group name, got ""',
    },
    {
      mistake: 'an empty Lambda function name',
      build: () =>
        Target.codeDeployGroup({
          ...api(),
          application: 'api',
          deploymentGroup: 'api',
          platform: lambda(''),
        }),
      message:
        'Target.codeDeployGroup(prod-w1-z1-eu-north-1-eun1-az1).platform.functionName: expected a Lambda function name, got ""',
    },
    {
      mistake: 'a container port out of range',
      build: () =>
        Target.codeDeployGroup({
          ...api(),
          application: 'api',
          deploymentGroup: 'api',
          platform: CodeDeployPlatform.ecs({ containerPort: 70_000 }),
        }),
      message:
        'Target.codeDeployGroup(prod-w1-z1-eu-north-1-eun1-az1).platform.containerPort: expected a whole number from 1 to 65535, got 70000',
    },
    {
      mistake: 'an empty local fleet',
      build: () => Target.localFleet({ placement: placement(), boxes: 0, ...alarms }),
      message:
        'Target.localFleet(prod-w1-z1-eu-north-1-eun1-az1).boxes: expected a whole number from 1 to 100, got 0',
    },
  ])('names the prop, the value and the fix for $mistake', ({ build, message }) => {
    expect(issuesOf(build)).toEqual([message]);
  });

  it('lists every issue of a target in one error', () => {
    const attempt = () => Target.ecsService(api({ account: 'prod', cluster: '', service: '' }));

    expect(attempt).toThrow(DefinitionError);
    expect(attempt).toThrow(
      'The pipeline definition is not valid:\n' +
        '  Target.ecsService(prod-w1-z1-eu-north-1-eun1-az1).account: expected a 12-digit AWS account id or "local", got "prod"\n' +
        '  Target.ecsService(prod-w1-z1-eu-north-1-eun1-az1).cluster: expected an ECS cluster name or ARN, got ""\n' +
        '  Target.ecsService(prod-w1-z1-eu-north-1-eun1-az1).service: expected an ECS service name, got ""',
    );
  });
});

describe('render', () => {
  it('gives a copy: changing it leaves the target alone', () => {
    const target = Target.ecsService(api());

    const rendered = target.render();
    rendered.alarms.rollback = 'changed';
    if (rendered.deployment.kind === 'ecs-service') rendered.deployment.cluster = 'changed';

    expect(target.alarms.rollback).toBe('api-rollback');
    expect(target.deployment).toMatchObject({ cluster: 'api' });
  });

  it('renders a Target, and passes plain data through as it is', () => {
    const plain: TargetInput = plainTarget('beta-t1');

    expect(renderTarget(plain)).toBe(plain);
    expect(renderTarget(Target.ecsService(api()))).not.toBeInstanceOf(Target);
  });

  it('is a target definition as it stands: spread or parsed, it gives the same data', () => {
    const target = Target.ecsService(api());
    const definition = smallDefinition();
    const [first, ...rest] = definition.stages;

    const parsed = parsePipelineDefinition({
      ...definition,
      stages: [{ ...first, targets: [target] }, ...rest],
    });

    expect({ ...target }).toEqual(target.render());
    expect(parsed.stages[0]?.targets).toEqual([target.render()]);
  });
});

describe('in waves', () => {
  it('renders each Target the target factory returns into plain data', () => {
    const stages = waves([region('eu-west-1')], ['rest'], {
      target: (p) => Target.ecsService(api({ placement: p })),
      bakes: SEED_BAKES,
      after: 'gamma',
      zonesPerRegion: 1,
    });

    expect(stages.map((s) => s.targets.map((t) => t.id))).toEqual([
      ['prod-w1-z1-onebox-eu-west-1-euw1-az1'],
      ['prod-w1-z1-eu-west-1-euw1-az1'],
    ]);
    expect(stages.flatMap((s) => s.targets).some((t) => t instanceof Target)).toBe(false);
  });
});
