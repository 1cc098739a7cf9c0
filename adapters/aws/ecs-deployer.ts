import {
  type ContainerDefinition,
  type Deployment,
  type DeploymentConfiguration,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  type ECSClient,
  RegisterTaskDefinitionCommand,
  type Service,
  type Tag,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import {
  type ArtifactManifest,
  type Deployer,
  type DeploymentConfig,
  type DeploymentRequest,
  type DeploymentStatus,
  NotFoundError,
  RetryableError,
  releaseLabel,
  type TargetDefinition,
  TerminalError,
} from '../../core/index.js';
import { awsError } from './errors.js';
import type { TargetClients } from './target-clients.js';

/** The tag that marks a task definition with the deployment request that registered it. */
export const IDEMPOTENCY_KEY_TAG = 'release-captain:idempotency-key';

type EcsServiceConfig = Extract<DeploymentConfig, { kind: 'ecs-service' }>;

export interface EcsDeployerProps {
  /** Reaches each target's account and region. */
  readonly clients: TargetClients;
}

/**
 * The {@link Deployer} for ECS services with the rolling (ECS) deployment controller. It
 * registers a copy of the service's task definition whose container runs the release's
 * image pinned by digest, then updates the service with a rolling configuration that keeps
 * at least 66% healthy and the circuit breaker on without its rollback: Release Captain
 * decides rollbacks, and a rollback is this same call with the older release.
 *
 * A one-box needs nothing special here: a one-box target is its own single-task ECS
 * service that shares the fleet's target group, so deploying it is deploying a service.
 *
 * @example
 * const deployer = new EcsDeployer({ clients });
 * const { deploymentId } = await deployer.startDeployment(request); // 'ecs-svc/4203718923'
 * await deployer.getDeployment(request.target, deploymentId); // { status: 'in-progress' }
 */
export class EcsDeployer implements Deployer {
  readonly #clients: TargetClients;

  constructor(props: EcsDeployerProps) {
    this.#clients = props.clients;
  }

  async startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }> {
    const config = ecsServiceConfig(request.target);
    const image = pinnedImage(request, config.image);
    const ecs = this.#clients.ecs(request.target);
    const service = await describeService(ecs, config.cluster, config.service);
    if ((service.deploymentController?.type ?? 'ECS') !== 'ECS') {
      throw new TerminalError(
        `ECS service "${config.service}" uses the ${service.deploymentController?.type} deployment controller, not rolling updates. Describe target "${request.target.id}" as a codedeploy-group (blue/green) instead of an ecs-service.`,
      );
    }
    const primary = service.deployments?.find((deployment) => deployment.status === 'PRIMARY');
    const current = await describeTaskDefinition(
      ecs,
      primary?.taskDefinition ?? service.taskDefinition,
    );
    // A retry after UpdateService succeeded finds its own task definition already primary.
    if (
      primary?.id !== undefined &&
      tagOf(current.tags, IDEMPOTENCY_KEY_TAG) === request.idempotencyKey
    ) {
      return { deploymentId: primary.id };
    }
    const taskDefinition = await registerPinnedTaskDefinition(ecs, current, {
      container: chooseContainer(current.definition, config.container, request.target).name,
      image,
      request,
      roles: config,
    });
    const batchPercent =
      request.kind === 'rollback'
        ? request.target.rollbackBatchPercent
        : request.target.batchPercent;
    let updated: Service | undefined;
    try {
      const output = await ecs.send(
        new UpdateServiceCommand({
          cluster: config.cluster,
          service: config.service,
          taskDefinition,
          deploymentConfiguration: {
            ...rollingDeploymentConfiguration(service.desiredCount ?? 0, batchPercent),
            deploymentCircuitBreaker: { enable: true, rollback: false },
          },
        }),
      );
      updated = output.service;
    } catch (error) {
      throw awsError(
        error,
        `UpdateService of ECS service "${config.service}" to ${taskDefinition}`,
      );
    }
    const started = updated?.deployments?.find(
      (deployment) =>
        deployment.status === 'PRIMARY' && deployment.taskDefinition === taskDefinition,
    );
    if (started?.id === undefined) {
      throw new RetryableError(
        `UpdateService of ECS service "${config.service}" answered without a PRIMARY deployment of ${taskDefinition}; trying again finds it by its idempotency key.`,
      );
    }
    return { deploymentId: started.id };
  }

  async getDeployment(target: TargetDefinition, deploymentId: string): Promise<DeploymentStatus> {
    const config = ecsServiceConfig(target);
    const service = await describeService(
      this.#clients.ecs(target),
      config.cluster,
      config.service,
    );
    const deployments = service.deployments ?? [];
    const primary = deployments.find((deployment) => deployment.status === 'PRIMARY');
    const deployment = deployments.find((candidate) => candidate.id === deploymentId);
    if (deployment === undefined) {
      if (primary?.id === undefined) {
        throw new NotFoundError(
          `ECS service "${config.service}" lists no deployment ${deploymentId} and no PRIMARY one. Check that the service still exists in cluster "${config.cluster}".`,
        );
      }
      return { status: 'failed', reason: `replaced by ${primary.id}` };
    }
    return deploymentStatus(deployment, primary);
  }
}

/**
 * ECS's rolling-update percentages that keep at most `batchPercent` of `desiredCount`
 * tasks out of service at a time. ECS rounds `minimumHealthyPercent` up and
 * `maximumPercent` down, so `100 - batchPercent` healthy takes out exactly
 * ⌊count × batch / 100⌋ tasks. When that is zero (a fleet too small for one task to be
 * a batch, a one-box), nothing is taken out and one extra task is started at a time.
 *
 * @example
 * rollingDeploymentConfiguration(10, 33); // { minimumHealthyPercent: 67, maximumPercent: 100 } → 3 out at a time
 * rollingDeploymentConfiguration(1, 33);  // { minimumHealthyPercent: 100, maximumPercent: 200 } → 1 extra, none out
 * rollingDeploymentConfiguration(3, 33);  // { minimumHealthyPercent: 100, maximumPercent: 134 } → 1 extra, none out
 */
export function rollingDeploymentConfiguration(
  desiredCount: number,
  batchPercent: number,
): Required<Pick<DeploymentConfiguration, 'minimumHealthyPercent' | 'maximumPercent'>> {
  const out = Math.floor((desiredCount * batchPercent) / 100);
  if (desiredCount <= 0 || out >= 1) {
    return { minimumHealthyPercent: 100 - batchPercent, maximumPercent: 100 };
  }
  return {
    minimumHealthyPercent: 100,
    maximumPercent: Math.ceil((100 * (desiredCount + 1)) / desiredCount),
  };
}

/**
 * The image a target runs, as `repository@sha256:…`: never a tag, which could move.
 *
 * @example
 * pinnedImage(request, null); // '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api@sha256:9f86…'
 */
export function pinnedImage(request: DeploymentRequest, name: string | null): string {
  const { images } = request.release.artifacts;
  const what = `Release ${releaseLabel(request.release.number)} for target "${request.target.id}"`;
  const image = pick(images, name, what, 'image', 'deployment.image');
  if (!/^sha256:[0-9a-f]{64}$/.test(image.digest)) {
    throw new TerminalError(
      `${what}: image "${image.name}" has digest "${image.digest}", expected sha256:<64 hex digits>. Build the release again so the manifest pins the image by its digest.`,
    );
  }
  const lastSegment = image.repository.split('/').at(-1) ?? '';
  if (image.repository === '' || image.repository.includes('@') || lastSegment.includes(':')) {
    throw new TerminalError(
      `${what}: image "${image.name}" has repository "${image.repository}", expected a repository without tag or digest. Record the repository URI alone in the manifest.`,
    );
  }
  return `${image.repository}@${image.digest}`;
}

/** The one artifact a target takes: the one named, or the only one. */
export function pick<
  A extends ArtifactManifest['images'][number] | ArtifactManifest['files'][number],
>(
  artifacts: readonly A[],
  name: string | null,
  what: string,
  noun: 'image' | 'file',
  field: string,
): A {
  const names = artifacts.map((artifact) => `"${artifact.name}"`).join(', ');
  if (name === null) {
    const [only, ...others] = artifacts;
    if (only !== undefined && others.length === 0) return only;
    throw new TerminalError(
      artifacts.length === 0
        ? `${what}: the release has no ${noun} to deploy. Add the ${noun} to the release's build.`
        : `${what}: the release has several ${noun}s (${names}). Set ${field} to the one this target deploys.`,
    );
  }
  const named = artifacts.find((artifact) => artifact.name === name);
  if (named === undefined) {
    throw new TerminalError(
      `${what}: ${field} is "${name}", but the release's ${noun}s are ${names || 'none'}. Set ${field} to one of them.`,
    );
  }
  return named;
}

/** The container that takes the image: the one named, or the task definition's only one. */
export function chooseContainer(
  definition: TaskDefinition,
  name: string | null,
  target: TargetDefinition,
): ContainerDefinition & { name: string } {
  const containers = definition.containerDefinitions ?? [];
  const names = containers.map((container) => `"${container.name}"`).join(', ');
  const chosen =
    name === null
      ? containers.length === 1
        ? containers[0]
        : undefined
      : containers.find((container) => container.name === name);
  if (chosen?.name === undefined || chosen.name === '') {
    throw new TerminalError(
      name === null
        ? `Task definition ${definition.taskDefinitionArn} of target "${target.id}" has ${containers.length} containers (${names}). Set deployment.container to the one that runs the release's image.`
        : `Task definition ${definition.taskDefinitionArn} of target "${target.id}" has no container "${name}"; its containers are ${names}. Set deployment.container to one of them.`,
    );
  }
  return { ...chosen, name: chosen.name };
}

/** A task definition with its tags, as DescribeTaskDefinition returns them. */
export interface DescribedTaskDefinition {
  readonly definition: TaskDefinition;
  readonly tags: readonly Tag[];
}

export async function describeService(
  ecs: ECSClient,
  cluster: string,
  service: string,
): Promise<Service> {
  let found: Service | undefined;
  try {
    const output = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
    found = output.services?.[0];
  } catch (error) {
    throw awsError(error, `DescribeServices of ECS service "${service}" in cluster "${cluster}"`);
  }
  if (found === undefined || found.status === 'INACTIVE') {
    throw new NotFoundError(
      `ECS service "${service}" does not exist in cluster "${cluster}"${found ? ' (it is INACTIVE)' : ''}. Check the target's deployment.cluster and deployment.service.`,
    );
  }
  return found;
}

export async function describeTaskDefinition(
  ecs: ECSClient,
  taskDefinition: string | undefined,
): Promise<DescribedTaskDefinition> {
  try {
    const output = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition, include: ['TAGS'] }),
    );
    if (output.taskDefinition === undefined) throw new Error('no task definition in the answer');
    return { definition: output.taskDefinition, tags: output.tags ?? [] };
  } catch (error) {
    throw awsError(error, `DescribeTaskDefinition of ${taskDefinition}`);
  }
}

/**
 * Registers a copy of `current` whose `container` runs `image`, tagged with the request's
 * idempotency key, pipeline, release and kind; returns the new revision's ARN. The copy
 * passes the task and execution roles `current` names, so each must be one the target
 * declares (the only roles the deploy role may pass); any other is a `TerminalError` that
 * says what to declare, before anything is registered.
 *
 * @example
 * await registerPinnedTaskDefinition(ecs, current, { container: 'api', image: 'api@sha256:…', request, roles: { taskRole: 'api-task', executionRole: null } });
 * // 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:43'
 */
export async function registerPinnedTaskDefinition(
  ecs: ECSClient,
  current: DescribedTaskDefinition,
  change: {
    readonly container: string;
    readonly image: string;
    readonly request: DeploymentRequest;
    /** The roles the target declares, by name or ARN. */
    readonly roles: {
      readonly taskRole: string | null;
      readonly executionRole: string | null;
    };
  },
): Promise<string> {
  const { target } = change.request;
  for (const [field, option] of [
    ['taskRoleArn', 'taskRole'],
    ['executionRoleArn', 'executionRole'],
  ] as const) {
    const named = current.definition[field];
    if (named === undefined || named === '') continue;
    const declared = change.roles[option];
    if (declared === null || !sameRole(declared, named, target.account)) {
      throw new TerminalError(
        `The task definition of target "${target.id}" names ${field} ${named}, ${declared === null ? `but the target declares no ${option}` : `not the ${option} the target declares (${declared})`}; the deploy role may pass only declared roles. Set ${option}: '${roleName(named)}' on the target (Target.ecsService or CodeDeployPlatform.ecs) and redeploy the target account's deploy role stack.`,
      );
    }
  }
  // Everything ECS computes on registration is left out; every setting the team chose is kept.
  const {
    taskDefinitionArn: _arn,
    revision: _revision,
    status: _status,
    requiresAttributes: _requires,
    compatibilities: _compatibilities,
    registeredAt: _registeredAt,
    registeredBy: _registeredBy,
    deregisteredAt: _deregisteredAt,
    deleteRequestedAt: _deleteRequestedAt,
    ...settings
  } = current.definition;
  const { request } = change;
  const ours: Tag[] = [
    { key: IDEMPOTENCY_KEY_TAG, value: request.idempotencyKey },
    { key: 'release-captain:pipeline', value: request.pipeline },
    { key: 'release-captain:release', value: releaseLabel(request.release.number) },
    { key: 'release-captain:kind', value: request.kind },
  ];
  try {
    const output = await ecs.send(
      new RegisterTaskDefinitionCommand({
        ...settings,
        family: settings.family,
        containerDefinitions: (settings.containerDefinitions ?? []).map((container) =>
          container.name === change.container ? { ...container, image: change.image } : container,
        ),
        tags: [...current.tags.filter((tag) => !tag.key?.startsWith('release-captain:')), ...ours],
      }),
    );
    const arn = output.taskDefinition?.taskDefinitionArn;
    if (arn === undefined) throw new Error('no task definition ARN in the answer');
    return arn;
  } catch (error) {
    throw awsError(
      error,
      `RegisterTaskDefinition of family "${settings.family}" with ${change.image}`,
    );
  }
}

function ecsServiceConfig(target: TargetDefinition): EcsServiceConfig {
  if (target.deployment.kind !== 'ecs-service') {
    throw new TerminalError(
      `Target "${target.id}" is a ${target.deployment.kind}, not an ecs-service. Route it to the deployer of its kind.`,
    );
  }
  return target.deployment;
}

/** `arn:aws:iam::1:role/service/api-task` → `service/api-task`; a name stays as it is. */
function roleName(role: string): string {
  const at = role.indexOf(':role/');
  return at === -1 ? role : role.slice(at + ':role/'.length);
}

/**
 * Whether the role a task definition names is the declared one: the same ARN, or, for a
 * declared name, the same name (and path) in the target's account.
 */
export function sameRole(declared: string, named: string, account: string): boolean {
  const arn = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(.+)$/.exec(named);
  const namedAccount = arn?.[1] ?? account;
  const namedRole = arn?.[2] ?? named;
  const wanted = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(.+)$/.exec(declared);
  return (wanted?.[1] ?? account) === namedAccount && (wanted?.[2] ?? declared) === namedRole;
}

function tagOf(tags: readonly Tag[], key: string): string | undefined {
  return tags.find((tag) => tag.key === key)?.value;
}

function deploymentStatus(
  deployment: Deployment,
  primary: Deployment | undefined,
): DeploymentStatus {
  switch (deployment.rolloutState) {
    case 'COMPLETED':
      return { status: 'succeeded' };
    case 'FAILED':
      return {
        status: 'failed',
        reason: deployment.rolloutStateReason ?? 'the ECS deployment circuit breaker failed it',
      };
    default:
      // A deployment still rolling out that is no longer PRIMARY will never finish.
      if (deployment.status !== 'PRIMARY' && primary?.id !== undefined) {
        return { status: 'failed', reason: `replaced by ${primary.id}` };
      }
      return { status: 'in-progress' };
  }
}
