import {
  DescribeImagesCommand,
  type ECRClient,
  ImageNotFoundException,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { type ImageArtifact, TerminalError } from '../../core/index.js';
import { awsError } from './errors.js';

export interface EcrImageVerifierOptions {
  /**
   * The account that owns the repositories, when it is not the caller's own (a shared
   * build account).
   *
   * @default - the registry of the account the client's credentials belong to
   */
  readonly registryId?: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Checks that a release's container image is still in ECR, pinned by digest, before a
 * stage deploys it. A lifecycle policy or a person can delete an image after the release
 * was built, and a deployment that cannot pull its image fails late and slowly.
 *
 * @example
 * const verifier = new EcrImageVerifier(new ECRClient({}), { registryId: '123456789012' });
 * await verifier.verify({ name: 'api', repository: 'api', digest: 'sha256:9f86d0…' });
 * // TerminalError: image api@sha256:9f86d0… is not in ECR repository api: it was deleted or never pushed; rebuild the release.
 */
export class EcrImageVerifier {
  readonly #client: ECRClient;
  readonly #registryId: string | undefined;

  constructor(client: ECRClient, options: EcrImageVerifierOptions = {}) {
    this.#client = client;
    this.#registryId = options.registryId;
  }

  /** Resolves when the repository holds the image's digest; throws TerminalError otherwise. */
  async verify(image: ImageArtifact): Promise<void> {
    const label = `${image.name}@${image.digest}`;
    if (!DIGEST.test(image.digest)) {
      throw new TerminalError(
        `Image ${image.name} has digest ${JSON.stringify(image.digest)}, expected "sha256:" and 64 lowercase hex digits: a release pins each image by the digest ECR reported when it was pushed, never by a tag.`,
      );
    }
    const notThere = `image ${label} is not in ECR repository ${this.#repository(image)}: it was deleted or never pushed; rebuild the release.`;
    try {
      const response = await this.#client.send(
        new DescribeImagesCommand({
          repositoryName: image.repository,
          imageIds: [{ imageDigest: image.digest }],
          ...(this.#registryId === undefined ? {} : { registryId: this.#registryId }),
        }),
      );
      const found = response.imageDetails?.some((detail) => detail.imageDigest === image.digest);
      if (found !== true) throw new TerminalError(notThere);
    } catch (error) {
      if (error instanceof ImageNotFoundException) {
        throw new TerminalError(notThere, { cause: error });
      }
      if (error instanceof RepositoryNotFoundException) {
        throw new TerminalError(
          `ECR repository ${this.#repository(image)} does not exist, so image ${label} cannot be deployed: check the repository name in the release's manifest (a name, not a URI) and the registry the verifier looks in.`,
          { cause: error },
        );
      }
      throw awsError(error, `DescribeImages for ${label} in ECR repository ${image.repository}`);
    }
  }

  #repository(image: ImageArtifact): string {
    return this.#registryId === undefined
      ? image.repository
      : `${image.repository} (registry ${this.#registryId})`;
  }
}
