import type { z } from 'zod';
import { DefinitionError, type DefinitionIssue } from '../errors.js';
import { toDefinitionIssues } from './issues.js';
import { REGIONS } from './regions.js';
import {
  type DeploymentConfig,
  type TargetDefinition,
  type TargetInput,
  targetSchema,
} from './schema.js';
import type { Placement } from './waves.js';

/** What every kind of target says besides its account and its deployment. */
export interface TargetOptions {
  /**
   * Where the target sits, as `TeamPipeline.target()` receives it: `id`, `region`, `zone`
   * and `timeZone` follow from it.
   * @default - no placement: give `id` and `region` yourself
   */
  readonly placement?: Placement;
  /**
   * Unique in the pipeline, e.g. `prod-w1-z1-eu-north-1-eun1-az1`.
   * @default - `Target.idFor(placement)`; required without a placement
   */
  readonly id?: string;
  /**
   * The AWS Region code, e.g. `eu-west-1`.
   * @default - the placement's Region; required without a placement
   */
  readonly region?: string;
  /**
   * The Availability Zone id or cell this target covers; `null` for the whole Region.
   * @default - the placement's zone; `null` without a placement
   */
  readonly zone?: string | null;
  /**
   * The IANA time zone its time windows are evaluated in.
   * @default - the Region's time zone in the central Region list (core/definition/regions.ts)
   */
  readonly timeZone?: string;
  /** Watched during the deployment and the bake; for a one-box, the one-box composite alarm. */
  readonly rollbackAlarm: string;
  /** The team's high-severity aggregate alarm in the Region: blocks starts, fails bakes. */
  readonly aggregateAlarm: string;
  /**
   * Share of the fleet replaced at a time, 1 to 33.
   * @default 33 - a third of the fleet at a time, two thirds keep serving
   */
  readonly batchPercent?: number;
  /**
   * Share of the fleet rolled back at a time, 1 to 33.
   * @default 33 - as fast as the rollout may go
   */
  readonly rollbackBatchPercent?: number;
}

/** The roles of an ECS task definition: the deploy role may pass only these. */
export interface TaskRoleProps {
  /**
   * The task role its task definition names (`taskRoleArn`), by name or ARN.
   * @default - none: a task definition naming one is refused
   */
  readonly taskRole?: string;
  /**
   * The execution role its task definition names (`executionRoleArn`), by name or ARN.
   * @default - none: a task definition naming one is refused
   */
  readonly executionRole?: string;
}

export interface EcsServiceTargetProps extends TargetOptions, TaskRoleProps {
  /** The 12-digit id of the account that runs the cluster. */
  readonly account: string;
  /** The ECS cluster name or ARN. */
  readonly cluster: string;
  /** The ECS service (rolling deployment controller); a one-box is its own single-task service. */
  readonly service: string;
  /**
   * The container of the task definition that takes the release's image.
   * @default - the task definition's only container (one with several must be told which)
   */
  readonly container?: string;
  /**
   * The name of the image in the release's artifact manifest.
   * @default - the manifest's only image (a manifest with several must be told which)
   */
  readonly image?: string;
}

export interface CodeDeployGroupTargetProps extends TargetOptions {
  /** The 12-digit id of the account of the CodeDeploy application. */
  readonly account: string;
  readonly application: string;
  readonly deploymentGroup: string;
  /** The group's compute platform: `CodeDeployPlatform.ecs()`, `.lambda({…})` or `.server()`. */
  readonly platform: CodeDeployPlatform;
}

export interface LocalFleetTargetProps extends TargetOptions {
  /**
   * The account the simulated fleet pretends to be in.
   * @default 'local' - a simulated account
   */
  readonly account?: string;
  /** How many boxes the simulated fleet has, 1 to 100. */
  readonly boxes: number;
}

export interface CodeDeployEcsProps extends TaskRoleProps {
  /**
   * The container the load balancer sends traffic to, which takes the release's image.
   * @default - the task definition's only container
   */
  readonly container?: string;
  /**
   * The name of the image in the release's artifact manifest.
   * @default - the manifest's only image
   */
  readonly image?: string;
  /**
   * The container port the load balancer sends traffic to.
   * @default - the chosen container's only port mapping
   */
  readonly containerPort?: number;
}

export interface CodeDeployLambdaProps {
  /** The function whose alias CodeDeploy shifts, e.g. `api-handler`. */
  readonly functionName: string;
  /** The alias that serves traffic, e.g. `live`. */
  readonly alias: string;
  /**
   * The name of the zip in the release's artifact manifest.
   * @default - the manifest's only file
   */
  readonly file?: string;
}

export interface CodeDeployServerProps {
  /**
   * The name of the bundle (with its `appspec.yml`) in the release's artifact manifest.
   * @default - the manifest's only file
   */
  readonly file?: string;
  /**
   * How the bundle is packed.
   * @default 'zip'
   */
  readonly bundleType?: 'zip' | 'tar' | 'tgz';
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type CodeDeployGroupInput = Extract<TargetInput['deployment'], { kind: 'codedeploy-group' }>;
type PlatformSettings = DistributiveOmit<
  CodeDeployGroupInput,
  'kind' | 'application' | 'deploymentGroup'
>;

/**
 * The compute platform of a CodeDeploy deployment group, each with the revision it needs:
 * an ECS task definition (blue/green), a Lambda alias to shift, or an S3 bundle for EC2 or
 * on-premises instances.
 *
 * @example
 * CodeDeployPlatform.ecs({ container: 'web', containerPort: 8080 });
 * CodeDeployPlatform.lambda({ functionName: 'api-handler', alias: 'live' });
 * CodeDeployPlatform.server({ bundleType: 'tgz' });
 */
export class CodeDeployPlatform {
  static ecs(props: CodeDeployEcsProps = {}): CodeDeployPlatform {
    return new CodeDeployPlatform({ ...props, platform: 'ecs' });
  }

  static lambda(props: CodeDeployLambdaProps): CodeDeployPlatform {
    return new CodeDeployPlatform({ ...props, platform: 'lambda' });
  }

  static server(props: CodeDeployServerProps = {}): CodeDeployPlatform {
    return new CodeDeployPlatform({ ...props, platform: 'server' });
  }

  /** What the platform adds to the target's `deployment`, in the definition's terms. */
  readonly settings: PlatformSettings;

  private constructor(settings: PlatformSettings) {
    this.settings = settings;
  }
}

/**
 * One place a stage deploys to, built by a static factory per kind and validated there
 * against the definition's schema. Its fields are the validated target definition
 * (defaults applied); `render()` gives them as plain data for a pipeline definition.
 *
 * @example
 * // In a TeamPipeline: the placement gives the id, Region, zone and time zone.
 * protected target(p: Placement) {
 *   return Target.ecsService({
 *     placement: p,
 *     account: '123456789012',
 *     cluster: 'api',
 *     service: p.oneBox ? 'api-onebox' : 'api',
 *     rollbackAlarm: `api-${p.oneBox ? 'onebox' : 'aggregate'}-${p.region.code}`,
 *     aggregateAlarm: `team-aggregate-${p.region.code}`,
 *   });
 * }
 *
 * Target.ecsService({ ...props, account: '1234' });
 * // DefinitionError: The pipeline definition is not valid:
 * //   Target.ecsService(beta-us-west-2).account: expected a 12-digit AWS account id or "local", got "1234"
 */
export class Target implements TargetDefinition {
  /** An ECS service with the rolling (ECS) deployment controller. */
  static ecsService(props: EcsServiceTargetProps): Target {
    const { cluster, service, container, image, taskRole, executionRole } = props;
    return Target.#build('Target.ecsService', props, {
      kind: 'ecs-service',
      cluster,
      service,
      container,
      image,
      taskRole,
      executionRole,
    });
  }

  /** A CodeDeploy deployment group on the compute platform `props.platform`. */
  static codeDeployGroup(props: CodeDeployGroupTargetProps): Target {
    const { application, deploymentGroup, platform } = props;
    return Target.#build('Target.codeDeployGroup', props, {
      kind: 'codedeploy-group',
      application,
      deploymentGroup,
      ...platform.settings,
    });
  }

  /** A simulated fleet, deployed by the local runtime instead of AWS. */
  static localFleet(props: LocalFleetTargetProps): Target {
    return Target.#build(
      'Target.localFleet',
      { ...props, account: props.account ?? 'local' },
      { kind: 'local-fleet', boxes: props.boxes },
    );
  }

  /**
   * The id a target gets from its placement: stage, Region and zone.
   *
   * @example
   * Target.idFor({ stage: 'prod-w1-z1', region: region('eu-north-1'), zone: 'eun1-az1', … });
   * // 'prod-w1-z1-eu-north-1-eun1-az1'
   * Target.idFor({ stage: 'beta', region: region('us-west-2'), zone: null, … }); // 'beta-us-west-2'
   */
  static idFor(placement: Placement): string {
    return [placement.stage, placement.region.code, placement.zone].filter(Boolean).join('-');
  }

  static #build(
    factory: string,
    props: TargetOptions & { readonly account: string },
    deployment: TargetInput['deployment'],
  ): Target {
    const { placement } = props;
    const region = props.region ?? placement?.region.code;
    const input = {
      id: props.id ?? (placement === undefined ? undefined : Target.idFor(placement)),
      account: props.account,
      region,
      zone: props.zone === undefined ? (placement?.zone ?? null) : props.zone,
      timeZone: props.timeZone ?? timeZoneOf(region, placement),
      alarms: { rollback: props.rollbackAlarm, aggregate: props.aggregateAlarm },
      deployment,
      batchPercent: props.batchPercent,
      rollbackBatchPercent: props.rollbackBatchPercent,
    };
    const parsed = targetSchema.safeParse(input, { reportInput: true });
    if (!parsed.success) throw new DefinitionError(issuesOf(factory, input, parsed.error.issues));
    return new Target(parsed.data);
  }

  readonly id: string;
  readonly account: string;
  readonly region: string;
  readonly zone: string | null;
  readonly timeZone: string;
  readonly alarms: TargetDefinition['alarms'];
  readonly deployment: DeploymentConfig;
  readonly batchPercent: number;
  readonly rollbackBatchPercent: number;

  private constructor(definition: TargetDefinition) {
    this.id = definition.id;
    this.account = definition.account;
    this.region = definition.region;
    this.zone = definition.zone;
    this.timeZone = definition.timeZone;
    this.alarms = definition.alarms;
    this.deployment = definition.deployment;
    this.batchPercent = definition.batchPercent;
    this.rollbackBatchPercent = definition.rollbackBatchPercent;
  }

  /** The target as plain data for a pipeline definition (a copy: changing it leaves the target alone). */
  render(): TargetDefinition {
    return {
      id: this.id,
      account: this.account,
      region: this.region,
      zone: this.zone,
      timeZone: this.timeZone,
      alarms: { ...this.alarms },
      deployment: { ...this.deployment },
      batchPercent: this.batchPercent,
      rollbackBatchPercent: this.rollbackBatchPercent,
    };
  }
}

/** A target as a stage definition holds it: a `Target` rendered, plain data as it is. */
export function renderTarget(target: Target | TargetInput): TargetInput {
  return target instanceof Target ? target.render() : target;
}

/** The placement's time zone for its own Region, else the central list's for `region`. */
function timeZoneOf(region: string | undefined, placement: Placement | undefined) {
  if (placement !== undefined && placement.region.code === region) return placement.region.timeZone;
  return REGIONS.find((candidate) => candidate.code === region)?.timeZone;
}

/** What a factory hands the schema, as far as its messages need it. */
interface FactoryInput {
  readonly id: string | undefined;
  readonly region: string | undefined;
  readonly timeZone: string | undefined;
  readonly deployment: TargetInput['deployment'];
}

/**
 * The schema's issues, each named by the factory and the prop to change, with the fix for
 * the fields a placement or the central Region list would have filled.
 */
function issuesOf(
  factory: string,
  input: FactoryInput,
  issues: readonly z.core.$ZodIssue[],
): DefinitionIssue[] {
  const at = input.id === undefined ? factory : `${factory}(${input.id})`;
  const hints = hintsFor(input);
  // Without a Region there is no time zone to look up: that issue would only echo the Region's.
  const echo = input.region === undefined && input.timeZone === undefined;
  return toDefinitionIssues(issues)
    .filter((issue) => !(echo && issue.path === 'timeZone'))
    .map((issue) => {
      const prop = propOf(issue.path, input.deployment.kind);
      const hint = hints[prop];
      return {
        path: `${at}.${prop}`,
        message: hint === undefined ? issue.message : `${issue.message}; ${hint}`,
      };
    });
}

/** How to fix the fields a placement or the central Region list would have filled. */
function hintsFor(input: FactoryInput): Readonly<Record<string, string>> {
  const hints: Record<string, string> = {};
  if (input.id === undefined) hints.id = 'pass id, or a placement to derive it from';
  if (input.region === undefined) hints.region = 'pass region, or a placement to take it from';
  else if (input.timeZone === undefined) {
    hints.timeZone = `"${input.region}" is not in the central Region list: pass timeZone, or add the Region to core/definition/regions.ts`;
  }
  return hints;
}

/** The prop a schema path comes from: `alarms.rollback` → `rollbackAlarm`, `deployment.alias` → `platform.alias`. */
function propOf(path: string, kind: DeploymentConfig['kind']): string {
  if (path === 'alarms.rollback') return 'rollbackAlarm';
  if (path === 'alarms.aggregate') return 'aggregateAlarm';
  if (!path.startsWith('deployment.')) return path;
  const field = path.slice('deployment.'.length);
  const ownField = field === 'application' || field === 'deploymentGroup';
  return kind === 'codedeploy-group' && !ownField ? `platform.${field}` : field;
}
