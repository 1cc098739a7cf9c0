import { App, Aspects, CfnElement, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import {
  BUSINESS_HOURS,
  DefinitionError,
  hours,
  type PipelineDefinition,
  Target,
} from '../../core/index.js';
import { SampleApi, SampleApiConfig } from '../../examples/sample-pipeline.js';
import { ControlPlane } from '../../infra/control-plane.js';
import { Pipeline, Stage, Wave } from '../../infra/pipeline.js';
import { target as plainTarget } from '../support/fixtures.js';

// No esbuild bundling: the handler assets are stand-ins, the template is real.
const newStack = () =>
  new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Captain', {
    env: { account: '111111111111', region: 'eu-west-1' },
  });

const ecs = (id: string, region = 'eu-west-1') =>
  Target.ecsService({
    id,
    region,
    account: '123456789012',
    cluster: 'tools',
    service: 'tools',
    rollbackAlarm: `${id}-rollback`,
    aggregateAlarm: 'team-aggregate',
  });
const bake = { durationSeconds: hours(1), minDataPoints: 100 };
const source = { repository: 'tools', branch: 'main' };

/** The issues a construct or a definition read is refused with, as `path: message` lines. */
function issuesOf(act: () => unknown): string[] {
  try {
    act();
  } catch (error) {
    if (error instanceof DefinitionError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

const childIds = (construct: Construct) => construct.node.children.map((child) => child.node.id);

describe('Pipeline from a TeamPipeline', () => {
  const stack = newStack();
  const api = new Pipeline(stack, 'Api', { teamPipeline: new SampleApi() });

  it('renders exactly the TeamPipeline’s definition', () => {
    expect(api.definition).toEqual(new SampleApi().definition());
  });

  it('shows its stages before production, then one Wave per wave holding its stages', () => {
    expect(childIds(api)).toEqual([
      'alpha',
      'beta',
      'gamma-onebox',
      'gamma',
      'Wave1',
      'Wave2',
      'Wave3',
      'Wave4',
      'Wave5',
    ]);
    expect(api.waves.map((wave) => wave.number)).toEqual([1, 2, 3, 4, 5]);
    expect(childIds(api.waves[0] as Wave)).toEqual([
      'prod-w1-z1-onebox',
      'prod-w1-z1',
      'prod-w1-z2-onebox',
      'prod-w1-z2',
      'prod-w1-z3-onebox',
      'prod-w1-z3',
    ]);
    expect(api.waves.map((wave) => wave.stages.length)).toEqual([6, 6, 6, 6, 6]);
    expect(api.stages.map((stage) => stage.node.path)).toContain('Captain/Api/Wave5/prod-w5-z3');
  });

  it('links each stage to the one it follows', () => {
    const [alpha, beta] = api.stages;
    const firstOfWave2 = api.waves[1]?.stages[0];

    expect(alpha?.after).toEqual([]);
    expect(beta?.after).toEqual([alpha]);
    expect(firstOfWave2?.after.map((s) => s.node.path)).toEqual(['Captain/Api/Wave1/prod-w1-z3']);
  });

  it('creates no resources: the ControlPlane runs it', () => {
    expect(stack.node.findAll().filter((c) => c instanceof CfnElement)).toEqual([]);
  });

  it('keeps its stages in the TeamPipeline: no Stage or Wave may be added by hand', () => {
    expect(() => new Stage(api, 'Extra', { targets: [ecs('extra')], bake })).toThrow(
      'Captain/Api/Extra: pipeline Captain/Api is built from the TeamPipeline "api", which holds its stages; change the TeamPipeline, or build the Pipeline from a name and a source and add every stage yourself.',
    );
    expect(() => new Wave(api, 'Wave6')).toThrow('built from the TeamPipeline "api"');
  });

  it('refuses a name, kind, source or alarms beside the TeamPipeline that holds them', () => {
    expect(
      () =>
        new Pipeline(newStack(), 'Api', {
          teamPipeline: new SampleApi(),
          name: 'other',
          kind: 'configuration',
        }),
    ).toThrow(
      'Pipeline Captain/Api takes name, kind from its teamPipeline "api"; set them in the TeamPipeline subclass instead.',
    );
  });

  it('fails with the TeamPipeline’s issues when its definition is not valid', () => {
    class Nameless extends SampleApi {
      override readonly name = 'API';
    }
    expect(
      issuesOf(() => new Pipeline(newStack(), 'Api', { teamPipeline: new Nameless() })),
    ).toEqual([
      'name: expected a name of lower-case letters, digits and dashes that starts with a letter (at most 24), got "API"',
    ]);
  });
});

describe('the sample service’s two pipelines', () => {
  const api = new SampleApi().definition();
  const config = new SampleApiConfig().definition();

  it('give the configuration the API’s safety steps: stages, waves, bakes, windows, Regions and zones', () => {
    const steps = (d: PipelineDefinition) =>
      d.stages.map(({ targets, ...stage }) => ({
        ...stage,
        targets: targets.map(({ id: _id, deployment: _deployment, ...where }) => where),
      }));

    expect(config).toMatchObject({
      name: 'api-config',
      kind: 'configuration',
      source: { repository: 'api-config', branch: 'main' },
    });
    expect(steps(config)).toEqual(steps(api));
  });

  it('deploy the same ECS services, each its own container and its own release image, under distinct target ids', () => {
    const targets = (d: PipelineDefinition) => d.stages.flatMap((s) => s.targets);
    const apiIds = new Set(targets(api).map((t) => t.id));

    expect(targets(config)[0]?.deployment).toEqual({
      kind: 'ecs-service',
      cluster: 'api',
      service: 'api',
      container: 'config',
      // The configuration release's manifest holds one image: its own.
      image: null,
      taskRole: 'api-task',
      executionRole: 'api-task-execution',
    });
    expect(targets(api)[0]?.deployment).toMatchObject({ service: 'api', container: 'api' });
    expect(targets(config).filter((t) => apiIds.has(t.id))).toEqual([]);
  });
});

describe('Pipeline by hand', () => {
  /** beta → gamma → wave 1 (one-box, zone 1) → wave 2 (zone 1 in two Regions). */
  function tools() {
    const stack = newStack();
    const pipeline = new Pipeline(stack, 'Tools', { name: 'tools', source });
    new Stage(pipeline, 'Beta', { targets: [ecs('beta')], bake: { ...bake, durationSeconds: 0 } });
    new Stage(pipeline, 'Gamma', { targets: [plainTarget('gamma')], bake });
    const wave1 = new Wave(pipeline, 'Wave1', { timeWindow: BUSINESS_HOURS });
    new Stage(wave1, 'ProdW1Z1OneBox', { oneBox: true, targets: [ecs('w1-onebox')], bake });
    new Stage(wave1, 'ProdW1Z1', { targets: [ecs('w1')], bake, timeWindow: null });
    const wave2 = new Wave(pipeline, 'Wave2');
    new Stage(wave2, 'ProdW2Z1', {
      name: 'prod-w2',
      targets: [ecs('w2-euw1'), ecs('w2-use1', 'us-east-1')],
      bake,
      approvalSteps: [{ kind: 'manual-approval', name: 'sign-off', timeoutSeconds: hours(4) }],
      blockingAlarms: ['tools-dependency'],
    });
    return { stack, pipeline, wave1, wave2 };
  }

  it('renders its stages in the order they were added, each after the previous one', () => {
    const { pipeline } = tools();

    expect(
      pipeline.definition.stages.map(
        (s) =>
          `${s.name} after ${s.after.join(', ') || 'none'}: ${s.phase} wave ${s.wave}${s.oneBox ? ' one-box' : ''}`,
      ),
    ).toEqual([
      'beta after none: pre-production wave null',
      'gamma after beta: pre-production wave null',
      'prod-w1-z1-one-box after gamma: production wave 1 one-box',
      'prod-w1-z1 after prod-w1-z1-one-box: production wave 1',
      'prod-w2 after prod-w1-z1: production wave 2',
    ]);
    expect(pipeline.definition).toMatchObject({
      name: 'tools',
      kind: 'application',
      source,
      organisationAlarms: [],
    });
  });

  it('gives each stage its wave’s time window unless it sets its own, and none before production', () => {
    const { pipeline } = tools();
    const windows = pipeline.definition.stages.map((s) => s.timeWindow);

    expect(windows).toEqual([null, null, BUSINESS_HOURS, null, null]);
  });

  it('renders Targets and plain targets alike, and the stage’s approval steps and alarms', () => {
    const { pipeline } = tools();
    const [beta, gamma, , , prod] = pipeline.definition.stages;

    expect(beta?.targets).toEqual([ecs('beta').render()]);
    expect(gamma?.targets[0]).toMatchObject({ id: 'gamma', batchPercent: 33 });
    expect(prod).toMatchObject({
      approvalSteps: [{ kind: 'manual-approval', name: 'sign-off' }],
      blockingAlarms: ['tools-dependency'],
    });
  });

  it('lets a stage name the stage it follows: two production stages after gamma', () => {
    const stack = newStack();
    const pipeline = new Pipeline(stack, 'Tools', {
      name: 'tools',
      source,
      kind: 'operator-tools',
    });
    const gamma = new Stage(pipeline, 'Gamma', { targets: [ecs('gamma')], bake });
    const wave = new Wave(pipeline, 'Wave1');
    new Stage(wave, 'Eu', { targets: [ecs('eu')], bake });
    new Stage(wave, 'Us', { after: gamma, targets: [ecs('us', 'us-east-1')], bake });

    expect(
      pipeline.definition.stages.map((s) => `${s.name} after ${s.after.join(', ') || 'none'}`),
    ).toEqual(['gamma after none', 'eu after gamma', 'us after gamma']);
    expect(pipeline.definition.kind).toBe('operator-tools');
  });

  it('mirrors the construct tree', () => {
    const { pipeline, wave1, wave2 } = tools();

    expect(childIds(pipeline)).toEqual(['Beta', 'Gamma', 'Wave1', 'Wave2']);
    expect(childIds(wave1)).toEqual(['ProdW1Z1OneBox', 'ProdW1Z1']);
    expect([wave1.number, wave2.number]).toEqual([1, 2]);
    expect(wave2.stages.map((s) => s.definition.name)).toEqual(['prod-w2']);
    expect(pipeline.stages.map((s) => s.wave?.number ?? null)).toEqual([null, null, 1, 1, 2]);
  });
});

describe('Pipeline validation', () => {
  it('refuses a pipeline with neither a name and a source nor a TeamPipeline', () => {
    expect(() => new Pipeline(newStack(), 'Tools', { name: 'tools' })).toThrow(
      'Pipeline Captain/Tools needs a `name` and a `source` (then add Stage and Wave constructs to it), or a `teamPipeline` to take them from.',
    );
  });

  it('names the bad field of the pipeline by its path, with the value and what is expected', () => {
    expect(
      issuesOf(
        () =>
          new Pipeline(newStack(), 'Tools', {
            name: 'Tools',
            source: { repository: '', branch: 'main' },
          }),
      ),
    ).toEqual([
      'Captain/Tools.name: expected a name of lower-case letters, digits and dashes that starts with a letter (at most 24), got "Tools"',
      'Captain/Tools.source.repository: expected a repository name, got ""',
    ]);
  });

  it('validates a stage when it is constructed, naming the field by the stage’s path', () => {
    const pipeline = new Pipeline(newStack(), 'Tools', { name: 'tools', source });

    expect(
      issuesOf(
        () =>
          new Stage(pipeline, 'Beta', {
            targets: [plainTarget('beta', { account: 'prod' })],
            bake: { durationSeconds: 0, minDataPoints: -3 },
          }),
      ),
    ).toEqual([
      'Captain/Tools/Beta.targets[0].account: expected a 12-digit AWS account id or "local", got "prod"',
      'Captain/Tools/Beta.bake.minDataPoints: expected a whole number ≥ 0, got -3',
    ]);
    expect(issuesOf(() => new Stage(pipeline, 'Empty', { targets: [], bake }))).toEqual([
      'Captain/Tools/Empty.targets: expected at least one target, got []',
    ]);
  });

  it('reports the rules between stages on the stage that breaks them when the definition is read', () => {
    const pipeline = new Pipeline(newStack(), 'Tools', { name: 'tools', source });
    new Stage(pipeline, 'Beta', { targets: [ecs('beta')], bake });
    new Stage(pipeline, 'Again', { name: 'beta', targets: [ecs('beta')], bake });
    const wave1 = new Wave(pipeline, 'Wave1');
    const wave2 = new Wave(pipeline, 'Wave2');
    const late = new Stage(wave2, 'Late', { targets: [ecs('late')], bake });
    new Stage(wave1, 'Early', { after: late, targets: [ecs('early')], bake });
    new Stage(pipeline, 'Back', { after: late, targets: [ecs('back')], bake });

    expect(issuesOf(() => pipeline.definition)).toEqual([
      'Captain/Tools/Again.name: expected a name no other stage uses, got "beta"',
      'Captain/Tools/Again.targets[0].id: expected an id not already used by "beta", got "beta"',
      'Captain/Tools/Wave1/Early.wave: expected a wave ≥ 2, the wave of "late", got 1',
      'Captain/Tools/Back.phase: expected production after the production stage "late", got "pre-production"',
    ]);
  });

  it('tells a pipeline without stages to add them before the ControlPlane, at construction and at synth', () => {
    const stack = newStack();
    const pipeline = new Pipeline(stack, 'Tools', { name: 'tools', source });
    const message =
      'Captain/Tools.stages: expected at least one stage, got none; add Stage constructs to the pipeline (production ones to a Wave) before constructing the ControlPlane that runs it';

    expect(issuesOf(() => new ControlPlane(stack, 'Plane', { pipelines: [pipeline] }))).toEqual([
      message,
    ]);
    expect(() => Template.fromStack(stack)).toThrow(message);
  });

  it('numbers waves from 1, once each', () => {
    const pipeline = new Pipeline(newStack(), 'Tools', { name: 'tools', source });
    new Wave(pipeline, 'Wave1');

    expect(() => new Wave(pipeline, 'Zero', { number: 0 })).toThrow(
      'Wave Captain/Tools/Zero: number must be a whole number ≥ 1, got 0; leave it out to number waves in the order they are added.',
    );
    expect(() => new Wave(pipeline, 'Again', { number: 1 })).toThrow(
      'Wave Captain/Tools/Again has number 1, which Captain/Tools/Wave1 already has; give each Wave its own number.',
    );
  });

  it('keeps stages and waves in their own pipeline', () => {
    const stack = newStack();
    const tools = new Pipeline(stack, 'Tools', { name: 'tools', source });
    const other = new Pipeline(stack, 'Other', { name: 'other', source });
    const beta = new Stage(other, 'Beta', { targets: [ecs('beta')], bake });

    expect(() => new Stage(tools, 'Beta', { after: beta, targets: [ecs('beta')], bake })).toThrow(
      'Stage Captain/Tools/Beta is after Captain/Other/Beta, a stage of another pipeline; pass a stage of Captain/Tools.',
    );
    expect(() => new Stage(stack as never, 'Loose', { targets: [ecs('loose')], bake })).toThrow(
      'Stage Captain/Loose must be added to a Pipeline (before production) or to a Wave, not to Captain.',
    );
    expect(() => new Wave(stack as never, 'LooseWave')).toThrow(
      'Wave Captain/LooseWave must be added to a Pipeline, not to Captain.',
    );
  });
});

describe('ControlPlane fed Pipeline constructs', { timeout: 60_000 }, () => {
  const stack = newStack();
  const api = new Pipeline(stack, 'ApiPipeline', { teamPipeline: new SampleApi() });
  const apiConfig = new Pipeline(stack, 'ApiConfigPipeline', {
    teamPipeline: new SampleApiConfig(),
  });
  new ControlPlane(stack, 'ControlPlane', { pipelines: [api, apiConfig] });
  Aspects.of(stack).add(new AwsSolutionsChecks());
  const template = Template.fromStack(stack);

  it('runs each pipeline: a reconciler schedule per pipeline', () => {
    for (const name of ['api', 'api-config']) {
      template.hasResourceProperties('AWS::Events::Rule', {
        Description: `Release Captain reconciler for pipeline ${name}`,
        Targets: [Match.objectLike({ Input: JSON.stringify({ pipeline: name }) })],
      });
    }
  });

  it('passes cdk-nag AwsSolutions with no finding', () => {
    const findings = [
      ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ];
    expect(findings.map((f) => `${f.id}: ${f.entry.data}`)).toEqual([]);
  });
});
