import type { TargetDefinition } from '../definition/schema.js';
import type {
  ArtifactVerifier,
  Deployer,
  DeploymentRequest,
  DeploymentStatus,
} from '../ports/services.js';

/**
 * A {@link Deployer} that deploys nothing it has not verified: before the first deployment
 * of a release it asks the {@link ArtifactVerifier} whether the release's images and files
 * are still exactly those recorded (DESIGN: deploy stages read artifacts, never the
 * repository, and an artifact is trusted by its digest only). A release verified once is
 * not verified again by this process; a failed verification is not remembered.
 *
 * @example
 * const deployer = new VerifyingDeployer(new RoutingDeployer({ ecs, codeDeploy }), verifier);
 * await deployer.startDeployment(request); // TerminalError if r42's image was deleted from ECR
 */
export class VerifyingDeployer implements Deployer {
  readonly #inner: Deployer;
  readonly #verifier: ArtifactVerifier;
  readonly #verified = new Set<string>();

  constructor(inner: Deployer, verifier: ArtifactVerifier) {
    this.#inner = inner;
    this.#verifier = verifier;
  }

  async startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }> {
    const key = `${request.release.pipeline}/${request.release.number}`;
    if (!this.#verified.has(key)) {
      await this.#verifier.verify(request.release);
      this.#verified.add(key);
    }
    return this.#inner.startDeployment(request);
  }

  getDeployment(target: TargetDefinition, deploymentId: string): Promise<DeploymentStatus> {
    return this.#inner.getDeployment(target, deploymentId);
  }

  async stopDeployment(
    target: TargetDefinition,
    deploymentId: string,
  ): Promise<'stopping' | 'replaced'> {
    return (await this.#inner.stopDeployment?.(target, deploymentId)) ?? 'replaced';
  }

  async findDeployment(target: TargetDefinition, idempotencyKey: string): Promise<string | null> {
    return (await this.#inner.findDeployment?.(target, idempotencyKey)) ?? null;
  }
}
