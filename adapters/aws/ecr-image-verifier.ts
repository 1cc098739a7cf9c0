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
/** `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<name>` */
const ECR_URI = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/(.+)$/;

/** The registry account, Region and repository name an image's `repository` designates. */
export function ecrRepository(repository: string): {
  registryId: string | undefined;
  region: string | undefined;
  name: string;
} {
  const match = ECR_URI.exec(repository);
  if (match === null) return { registryId: undefined, region: undefined, name: repository };
  return { registryId: match[1], region: match[2], name: match[3] as string };
}

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
  readonly #clientFor: (region: string | undefined) => ECRClient;
  readonly #registryId: string | undefined;

  /**
   * @param client the ECR client, or a function giving one per Region (an image URI names
   *   its Region; `undefined` for a bare repository name)
   */
  constructor(
    client: ECRClient | ((region: string | undefined) => ECRClient),
    options: EcrImageVerifierOptions = {},
  ) {
    this.#clientFor = typeof client === 'function' ? client : () => client;
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
      const { registryId, region, name } = ecrRepository(image.repository);
      const registry = registryId ?? this.#registryId;
      const response = await this.#clientFor(region).send(
        new DescribeImagesCommand({
          repositoryName: name,
          imageIds: [{ imageDigest: image.digest }],
          ...(registry === undefined ? {} : { registryId: registry }),
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
          `ECR repository ${this.#repository(image)} does not exist, so image ${label} cannot be deployed: check the repository in the release's manifest (its URI, or a name in the control plane's registry).`,
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
