import {
  type Deployer,
  type DeploymentRequest,
  type DeploymentStatus,
  type TargetDefinition,
  TerminalError,
} from '../../core/index.js';

export interface RoutingDeployerProps {
  /** Deploys `ecs-service` targets, e.g. an `EcsDeployer`. */
  readonly ecs: Deployer;
  /** Deploys `codedeploy-group` targets, e.g. a `CodeDeployDeployer`. */
  readonly codeDeploy: Deployer;
}

/**
 * The {@link Deployer} the cloud wiring hands to the core: it sends each target to the
 * deployer of its `deployment.kind`. A `local-fleet` target never reaches AWS; the local
 * runtime deploys it, so meeting one here is a wiring mistake.
 *
 * @example
 * const deployer = new RoutingDeployer({
 *   ecs: new EcsDeployer({ clients }),
 *   codeDeploy: new CodeDeployDeployer({ clients, artifactBucket }),
 * });
 * await deployer.startDeployment(request); // EcsDeployer for an ecs-service target
 */
export class RoutingDeployer implements Deployer {
  readonly #ecs: Deployer;
  readonly #codeDeploy: Deployer;

  constructor(props: RoutingDeployerProps) {
    this.#ecs = props.ecs;
    this.#codeDeploy = props.codeDeploy;
  }

  async startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }> {
    return this.#for(request.target).startDeployment(request);
  }

  async getDeployment(target: TargetDefinition, deploymentId: string): Promise<DeploymentStatus> {
    return this.#for(target).getDeployment(target, deploymentId);
  }

  /**
   * Stops the target's deployment if its deployer can (CodeDeploy); an ECS rolling update
   * is replaced by the rollback's update, so there is nothing to stop first.
   */
  async findDeployment(target: TargetDefinition, idempotencyKey: string): Promise<string | null> {
    return (await this.#for(target).findDeployment?.(target, idempotencyKey)) ?? null;
  }

  async stopDeployment(
    target: TargetDefinition,
    deploymentId: string,
  ): Promise<'stopping' | 'replaced'> {
    return (await this.#for(target).stopDeployment?.(target, deploymentId)) ?? 'replaced';
  }

  #for(target: TargetDefinition): Deployer {
    switch (target.deployment.kind) {
      case 'ecs-service':
        return this.#ecs;
      case 'codedeploy-group':
        return this.#codeDeploy;
      case 'local-fleet':
        throw new TerminalError(
          `Target "${target.id}" is a local-fleet: it is handled by the local runtime, not by AWS. Run the pipeline locally, or describe the target as an ecs-service or codedeploy-group.`,
        );
    }
  }
}
