import { createHash } from 'node:crypto';
import {
  BatchGetDeploymentsCommand,
  type CodeDeployClient,
  type DeploymentStatus as CodeDeployStatus,
  CreateDeploymentCommand,
  GetDeploymentCommand,
  GetDeploymentConfigCommand,
  GetDeploymentGroupCommand,
  ListDeploymentsCommand,
  type RevisionLocation,
  StopDeploymentCommand,
} from '@aws-sdk/client-codedeploy';
import {
  type Deployer,
  type DeploymentConfig,
  type DeploymentRequest,
  type DeploymentStatus,
  type FileArtifact,
  NotFoundError,
  RetryableError,
  releaseLabel,
  type TargetDefinition,
  TerminalError,
} from '../../core/index.js';
import {
  chooseContainer,
  describeService,
  describeTaskDefinition,
  pick,
  pinnedImage,
  registerPinnedTaskDefinition,
} from './ecs-deployer.js';
import { awsError } from './errors.js';
import type { TargetClients } from './target-clients.js';

type CodeDeployConfig = Extract<DeploymentConfig, { kind: 'codedeploy-group' }>;

/** Deployments that hold the group: CodeDeploy runs one at a time per group. */
const ACTIVE: CodeDeployStatus[] = ['Created', 'Queued', 'InProgress', 'Baking', 'Ready'];
/** How far back a retry looks for the deployment its first attempt created. */
const LOOK_BACK_MS = 24 * 60 * 60 * 1000;
/** BatchGetDeployments takes at most 25 ids. */
const IDS_PER_BATCH = 25;
/** DESIGN.md, rolling deployment: at least 66% stays healthy. */
const MIN_HEALTHY_PERCENT = 66;
const COMPUTE_PLATFORM = { ecs: 'ECS', lambda: 'Lambda', server: 'Server' } as const;

/**
 * Publishes a release's Lambda zip as a new version. CodeDeploy shifts an alias between
 * versions but does not create them, and `@aws-sdk/client-lambda` is not a dependency of
 * this package, so the wiring supplies this: UpdateFunctionCode from the S3 object,
 * checking the returned CodeSha256, then PublishVersion (which returns the existing version
 * when the code did not change, so a retry publishes nothing new) and GetAlias.
 */
export interface LambdaVersionPublisher {
  publishVersion(
    target: TargetDefinition,
    input: {
      readonly functionName: string;
      readonly alias: string;
      readonly bucket: string;
      readonly file: FileArtifact;
    },
  ): Promise<{ readonly currentVersion: string; readonly targetVersion: string }>;
}

export interface CodeDeployDeployerProps {
  /** Reaches each target's account and region. */
  readonly clients: TargetClients;
  /** The bucket the artifact store writes file artifacts to; deploy roles must be able to read it. */
  readonly artifactBucket: string;
  /** @default - Lambda targets fail with a TerminalError naming this setting */
  readonly lambdaVersions?: LambdaVersionPublisher;
  /** @default - `() => new Date()` */
  readonly now?: () => Date;
}

interface GroupFacts {
  readonly ecsService: { readonly cluster: string; readonly service: string } | undefined;
}

/**
 * The {@link Deployer} for CodeDeploy deployment groups: ECS blue/green (an AppSpec pinning
 * a new task definition), Lambda (an AppSpec shifting the alias to a new version) and
 * EC2/on-premises (the release's S3 bundle). CodeDeploy's own automatic rollback is turned
 * off: Release Captain decides rollbacks and deploys the older release instead.
 *
 * CodeDeploy has no client token, so the idempotency key goes into the description and a
 * retry finds the deployment its first attempt created among the group's active ones.
 *
 * @example
 * const deployer = new CodeDeployDeployer({ clients, artifactBucket: 'captain-artifacts-123456789012' });
 * const { deploymentId } = await deployer.startDeployment(request); // 'd-7Q2JX1ABC'
 * await deployer.getDeployment(request.target, deploymentId); // { status: 'in-progress' }
 * await deployer.stopDeployment(request.target, deploymentId); // on the rollback alarm
 */
export class CodeDeployDeployer implements Deployer {
  readonly #clients: TargetClients;
  readonly #bucket: string;
  readonly #lambdaVersions: LambdaVersionPublisher | undefined;
  readonly #now: () => Date;
  readonly #groups = new Map<string, GroupFacts>();

  constructor(props: CodeDeployDeployerProps) {
    this.#clients = props.clients;
    this.#bucket = props.artifactBucket;
    this.#lambdaVersions = props.lambdaVersions;
    this.#now = props.now ?? (() => new Date());
  }

  async startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }> {
    const { target } = request;
    const config = codeDeployConfig(target);
    const revisionFor = this.#plan(request, config);
    const client = this.#clients.codeDeploy(target);
    const group = await this.#group(client, target, config);
    const marker = `[key:${request.idempotencyKey}]`;
    const earlier = await this.#active(client, config, marker);
    if (earlier.ours !== undefined) return { deploymentId: earlier.ours };

    const revision = await revisionFor(group);
    const name = `${config.application}/${config.deploymentGroup}`;
    try {
      const output = await client.send(
        new CreateDeploymentCommand({
          applicationName: config.application,
          deploymentGroupName: config.deploymentGroup,
          revision,
          description: `Release Captain: ${request.pipeline} ${releaseLabel(request.release.number)} to ${target.id} (${request.kind}) ${marker}`,
          autoRollbackConfiguration: { enabled: false, events: [] },
        }),
      );
      if (output.deploymentId === undefined) throw new Error('no deployment id in the answer');
      return { deploymentId: output.deploymentId };
    } catch (error) {
      if (!(error instanceof Error && error.name === 'DeploymentLimitExceededException')) {
        throw awsError(error, `CreateDeployment in group ${name}`);
      }
      // The active deployment may be ours, created by an attempt whose answer was lost.
      const active = await this.#active(client, config, marker);
      if (active.ours !== undefined) return { deploymentId: active.ours };
      throw new RetryableError(
        `CreateDeployment in group ${name} was refused: another deployment (${active.ids.join(', ') || 'not listed yet'}) is active there. Trying again once it ends; stop it if it should not run.`,
        { cause: error },
      );
    }
  }

  async getDeployment(target: TargetDefinition, deploymentId: string): Promise<DeploymentStatus> {
    codeDeployConfig(target);
    let info: { status?: string; errorInformation?: { message?: string } } | undefined;
    try {
      const output = await this.#clients
        .codeDeploy(target)
        .send(new GetDeploymentCommand({ deploymentId }));
      info = output.deploymentInfo;
    } catch (error) {
      if (error instanceof Error && error.name === 'DeploymentDoesNotExistException') {
        throw new NotFoundError(
          `CodeDeploy has no deployment ${deploymentId} for target "${target.id}" (account ${target.account}, ${target.region}). Check the id the deployment was started with.`,
          { cause: error },
        );
      }
      throw awsError(error, `GetDeployment ${deploymentId}`);
    }
    switch (info?.status) {
      case 'Succeeded':
        return { status: 'succeeded' };
      case 'Failed':
      case 'Stopped':
        return {
          status: 'failed',
          reason:
            info.errorInformation?.message ?? `CodeDeploy reports the deployment ${info.status}`,
        };
      default:
        return { status: 'in-progress' };
    }
  }

  /**
   * Stops a deployment without CodeDeploy's own rollback, for the alarm path: Release
   * Captain then deploys the previous release, once this one has ended (a group has one
   * active deployment), hence `stopping`. Stopping one that already ended does nothing.
   *
   * @example
   * await deployer.stopDeployment(target, 'd-7Q2JX1ABC'); // 'stopping'
   */
  async stopDeployment(target: TargetDefinition, deploymentId: string): Promise<'stopping'> {
    codeDeployConfig(target);
    try {
      await this.#clients
        .codeDeploy(target)
        .send(new StopDeploymentCommand({ deploymentId, autoRollbackEnabled: false }));
    } catch (error) {
      if (error instanceof Error && error.name === 'DeploymentAlreadyCompletedException')
        return 'stopping';
      throw awsError(error, `StopDeployment ${deploymentId}`);
    }
    return 'stopping';
  }

  /**
   * The group's recent deployment started with `idempotencyKey` (the marker in its
   * description), whatever its status: a run that failed while this deployment's start
   * was under way never recorded its id, and its rollback must stop it first.
   *
   * @example
   * await deployer.findDeployment(target, 'api/gamma/4/gamma-t1/normal'); // 'd-7Q2JX1ABC'
   */
  async findDeployment(target: TargetDefinition, idempotencyKey: string): Promise<string | null> {
    const config = codeDeployConfig(target);
    const found = await this.#active(
      this.#clients.codeDeploy(target),
      config,
      `[key:${idempotencyKey}]`,
    );
    return found.ours ?? null;
  }

  /** Reads the group once per process and checks it fits the target and the 66% rule. */
  async #group(
    client: CodeDeployClient,
    target: TargetDefinition,
    config: CodeDeployConfig,
  ): Promise<GroupFacts> {
    const name = `${config.application}/${config.deploymentGroup}`;
    const cacheKey = `${target.account}/${target.region}/${name}`;
    const cached = this.#groups.get(cacheKey);
    if (cached !== undefined) return cached;
    let group: Awaited<ReturnType<typeof getGroup>>;
    try {
      group = await getGroup(client, config);
    } catch (error) {
      throw awsError(error, `GetDeploymentGroup ${name}`);
    }
    if (group === undefined) throw new NotFoundError(`CodeDeploy has no deployment group ${name}.`);
    const expected = COMPUTE_PLATFORM[config.platform];
    if (group.computePlatform !== expected) {
      throw new TerminalError(
        `Deployment group ${name} deploys to ${group.computePlatform}, but target "${target.id}" says platform "${config.platform}" (${expected}). Set deployment.platform to match the group.`,
      );
    }
    if (config.platform === 'server') {
      await checkMinimumHealthy(
        client,
        name,
        group.deploymentConfigName ?? 'CodeDeployDefault.OneAtATime',
      );
    }
    const ecs = group.ecsServices?.[0];
    const facts: GroupFacts = {
      ecsService:
        ecs?.clusterName !== undefined && ecs.serviceName !== undefined
          ? { cluster: ecs.clusterName, service: ecs.serviceName }
          : undefined,
    };
    this.#groups.set(cacheKey, facts);
    return facts;
  }

  /**
   * The group's recent deployments: the one carrying `marker`, whatever its status (a
   * retry after a fast deployment finished must find it, not start a second one), and the
   * ids of those still active (to name them when another deployment blocks ours).
   */
  async #active(
    client: CodeDeployClient,
    config: CodeDeployConfig,
    marker: string,
  ): Promise<{ ids: string[]; ours: string | undefined }> {
    const end = this.#now();
    const recent: string[] = [];
    const active: string[] = [];
    try {
      let nextToken: string | undefined;
      do {
        const page = await client.send(
          new ListDeploymentsCommand({
            applicationName: config.application,
            deploymentGroupName: config.deploymentGroup,
            createTimeRange: { start: new Date(end.getTime() - LOOK_BACK_MS), end },
            nextToken,
          }),
        );
        recent.push(...(page.deployments ?? []));
        nextToken = page.nextToken;
      } while (nextToken !== undefined);
      for (let at = 0; at < recent.length; at += IDS_PER_BATCH) {
        const batch = await client.send(
          new BatchGetDeploymentsCommand({ deploymentIds: recent.slice(at, at + IDS_PER_BATCH) }),
        );
        for (const info of batch.deploymentsInfo ?? []) {
          if (info.deploymentId === undefined) continue;
          if (info.description?.includes(marker)) return { ids: active, ours: info.deploymentId };
          if (info.status !== undefined && ACTIVE.includes(info.status))
            active.push(info.deploymentId);
        }
      }
    } catch (error) {
      throw awsError(
        error,
        `Listing the recent deployments of ${config.application}/${config.deploymentGroup}`,
      );
    }
    return { ids: active, ours: undefined };
  }

  /**
   * Checks the release's artifacts for the platform at once, before any call, and returns
   * how to build the revision once the group is known.
   */
  #plan(
    request: DeploymentRequest,
    config: CodeDeployConfig,
  ): (group: GroupFacts) => Promise<RevisionLocation> {
    switch (config.platform) {
      case 'server': {
        const file = fileOf(request, config.file);
        return async () => ({
          revisionType: 'S3',
          s3Location: { bucket: this.#bucket, key: file.key, bundleType: config.bundleType },
        });
      }
      case 'lambda': {
        const file = fileOf(request, config.file);
        return () => this.#lambdaRevision(request, config, file);
      }
      case 'ecs': {
        const image = pinnedImage(request, config.image);
        return (group) => this.#ecsRevision(request, config, group, image);
      }
    }
  }

  async #lambdaRevision(
    request: DeploymentRequest,
    config: Extract<CodeDeployConfig, { platform: 'lambda' }>,
    file: FileArtifact,
  ): Promise<RevisionLocation> {
    if (this.#lambdaVersions === undefined) {
      throw new TerminalError(
        `Target "${request.target.id}" is a Lambda deployment group, but this deployer has no lambdaVersions to publish the release's zip as a version. Wire a LambdaVersionPublisher into CodeDeployDeployer.`,
      );
    }
    const { functionName, alias } = config;
    const versions = await this.#lambdaVersions.publishVersion(request.target, {
      functionName,
      alias,
      bucket: this.#bucket,
      file,
    });
    return appSpec({
      TargetFunction: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Name: functionName,
          Alias: alias,
          CurrentVersion: versions.currentVersion,
          TargetVersion: versions.targetVersion,
        },
      },
    });
  }

  /** ECS blue/green: a copy of the service's task definition running the pinned image. */
  async #ecsRevision(
    request: DeploymentRequest,
    config: Extract<CodeDeployConfig, { platform: 'ecs' }>,
    group: GroupFacts,
    image: string,
  ): Promise<RevisionLocation> {
    if (group.ecsService === undefined) {
      throw new TerminalError(
        `Deployment group ${config.application}/${config.deploymentGroup} names no ECS service. Attach the service to the group (ecsServices) in its infrastructure.`,
      );
    }
    const ecs = this.#clients.ecs(request.target);
    const service = await describeService(ecs, group.ecsService.cluster, group.ecsService.service);
    const current = await describeTaskDefinition(ecs, service.taskDefinition);
    const container = chooseContainer(current.definition, config.container, request.target);
    const ports = (container.portMappings ?? []).flatMap((mapping) =>
      mapping.containerPort === undefined ? [] : [mapping.containerPort],
    );
    const port = config.containerPort ?? (ports.length === 1 ? ports[0] : undefined);
    if (port === undefined) {
      throw new TerminalError(
        `Container "${container.name}" of target "${request.target.id}" maps ports [${ports.join(', ')}]; the AppSpec needs the one the load balancer sends traffic to. Set deployment.containerPort.`,
      );
    }
    const taskDefinition = await registerPinnedTaskDefinition(ecs, current, {
      container: container.name,
      image,
      request,
      roles: config,
    });
    return appSpec({
      TargetService: {
        Type: 'AWS::ECS::Service',
        Properties: {
          TaskDefinition: taskDefinition,
          LoadBalancerInfo: { ContainerName: container.name, ContainerPort: port },
        },
      },
    });
  }
}

function codeDeployConfig(target: TargetDefinition): CodeDeployConfig {
  if (target.deployment.kind !== 'codedeploy-group') {
    throw new TerminalError(
      `Target "${target.id}" is a ${target.deployment.kind}, not a codedeploy-group. Route it to the deployer of its kind.`,
    );
  }
  return target.deployment;
}

function fileOf(request: DeploymentRequest, name: string | null): FileArtifact {
  const what = `Release ${releaseLabel(request.release.number)} for target "${request.target.id}"`;
  const file = pick(request.release.artifacts.files, name, what, 'file', 'deployment.file');
  if (!/^[0-9a-f]{64}$/.test(file.sha256) || file.key === '') {
    throw new TerminalError(
      `${what}: file "${file.name}" has key "${file.key}" and sha256 "${file.sha256}", expected a key and 64 hex digits. Build the release again so the artifact store records both.`,
    );
  }
  return file;
}

/** An AppSpec revision with one resource, with the sha256 CodeDeploy checks it against. */
function appSpec(resource: Record<string, unknown>): RevisionLocation {
  const content = JSON.stringify({ version: 0.0, Resources: [resource] });
  const sha256 = createHash('sha256').update(content).digest('hex');
  return { revisionType: 'AppSpecContent', appSpecContent: { content, sha256 } };
}

async function getGroup(client: CodeDeployClient, config: CodeDeployConfig) {
  try {
    const output = await client.send(
      new GetDeploymentGroupCommand({
        applicationName: config.application,
        deploymentGroupName: config.deploymentGroup,
      }),
    );
    return output.deploymentGroupInfo;
  } catch (error) {
    if (
      error instanceof Error &&
      (error.name === 'DeploymentGroupDoesNotExistException' ||
        error.name === 'ApplicationDoesNotExistException')
    ) {
      return undefined;
    }
    throw error;
  }
}

/** EC2/on-premises: the group's configuration must keep at least 66% of hosts healthy. */
async function checkMinimumHealthy(client: CodeDeployClient, group: string, configName: string) {
  let healthy: { type?: string; value?: number } | undefined;
  try {
    const output = await client.send(
      new GetDeploymentConfigCommand({ deploymentConfigName: configName }),
    );
    healthy = output.deploymentConfigInfo?.minimumHealthyHosts;
  } catch (error) {
    throw awsError(error, `GetDeploymentConfig ${configName} of group ${group}`);
  }
  if (healthy?.type === 'FLEET_PERCENT' && (healthy.value ?? 0) >= MIN_HEALTHY_PERCENT) return;
  // CodeDeployDefault.OneAtATime reads back as MOST_CONCURRENCY 1: one host at a time.
  if (healthy?.type === 'MOST_CONCURRENCY' && healthy.value === 1) return;
  throw new TerminalError(
    `Deployment group ${group} uses deployment configuration "${configName}", whose minimum healthy hosts is ${healthy?.type ?? 'unset'} ${healthy?.value ?? ''}; Release Captain needs FLEET_PERCENT ≥ ${MIN_HEALTHY_PERCENT} so no more than 33% is out at a time. Give the group CodeDeployDefault.OneAtATime or a custom configuration with minimum healthy hosts FLEET_PERCENT ${MIN_HEALTHY_PERCENT} or more.`,
  );
}
