import type { ArtifactStore, ArtifactVerifier, Release } from '../../core/index.js';
import type { EcrImageVerifier } from './ecr-image-verifier.js';

/**
 * Verifies a release's artifacts on AWS: each image's digest in ECR (`DescribeImages`),
 * each file read back from S3 and hashed (`GetObject`; the S3 store refuses bytes whose
 * sha256 differs from the one recorded).
 *
 * @example
 * const verifier = new AwsArtifactVerifier(new EcrImageVerifier(ecr), new S3ArtifactStore(s3, bucket));
 * await verifier.verify(r42);
 */
export class AwsArtifactVerifier implements ArtifactVerifier {
  readonly #images: Pick<EcrImageVerifier, 'verify'>;
  readonly #files: Pick<ArtifactStore, 'getFile'>;

  constructor(images: Pick<EcrImageVerifier, 'verify'>, files: Pick<ArtifactStore, 'getFile'>) {
    this.#images = images;
    this.#files = files;
  }

  async verify(release: Release): Promise<void> {
    for (const image of release.artifacts.images) await this.#images.verify(image);
    for (const file of release.artifacts.files) await this.#files.getFile(file);
  }
}
