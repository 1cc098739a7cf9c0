import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  type ArtifactManifest,
  type ArtifactStore,
  type FileArtifact,
  NotFoundError,
  type ReleaseNumber,
  RetryableError,
  releaseLabel,
  TerminalError,
} from '../../core/index.js';
import { awsError } from './errors.js';

export interface S3ArtifactStoreOptions {
  /**
   * Send `If-None-Match: *` so that S3 never replaces an object already stored under a
   * key. Only an emulator that ignores the header needs this off: s3rver 3 ignores it and
   * overwrites. The local runtime turns it off there.
   *
   * @default true
   */
  readonly conditionalWrites?: boolean;
}

/**
 * The {@link ArtifactStore} in one S3 bucket. Files go under
 * `artifacts/<pipeline>/sha256/<hex>/<name>` and manifests under
 * `artifacts/<pipeline>/manifests/<hex>.json`, where `<hex>` is the sha256 of the stored bytes. Every
 * write sends the digest as `ChecksumSHA256`, so S3 refuses bytes that changed on the way.
 * With conditional writes on, an object is written once and never replaced. Every read
 * hashes the bytes again before anyone deploys them.
 *
 * @example
 * const store = new S3ArtifactStore(new S3Client({}), 'captain-artifacts-123456789012');
 * const file = await store.putFile('api', 'function.zip', zipBytes);
 * // file.key: 'artifacts/api/sha256/9f86d0…/function.zip'
 * const bytes = await store.getFile(file); // throws TerminalError if S3 returns other bytes
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #conditionalWrites: boolean;

  constructor(client: S3Client, bucket: string, options: S3ArtifactStoreOptions = {}) {
    if (bucket.trim() === '') {
      throw new TerminalError(
        'S3ArtifactStore needs a bucket name, got an empty string: pass the artifact bucket created by the control plane stack.',
      );
    }
    this.#client = client;
    this.#bucket = bucket;
    this.#conditionalWrites = options.conditionalWrites ?? true;
  }

  async putFile(pipeline: string, name: string, bytes: Uint8Array): Promise<FileArtifact> {
    assertKeySegment('pipeline', pipeline);
    assertKeySegment('artifact name', name);
    const digest = sha256(bytes);
    const hex = digest.toString('hex');
    const key = `artifacts/${pipeline}/sha256/${hex}/${name}`;
    await this.#put(key, bytes, digest, 'application/octet-stream');
    return { name, key, sha256: hex };
  }

  async getFile(artifact: FileArtifact): Promise<Uint8Array> {
    const bytes = await this.#read(artifact.key);
    const actual = sha256(bytes).toString('hex');
    if (actual !== artifact.sha256) {
      throw new TerminalError(
        `${this.#url(artifact.key)} has sha256 ${actual}, expected ${artifact.sha256}: the stored bytes are not the artifact the release recorded, so they must not be deployed. Rebuild the release to store the artifact again, and find out what changed the object.`,
      );
    }
    return bytes;
  }

  async putManifest(
    pipeline: string,
    release: ReleaseNumber,
    manifest: ArtifactManifest,
  ): Promise<string> {
    assertKeySegment('pipeline', pipeline);
    const bytes = new TextEncoder().encode(JSON.stringify(manifest));
    const digest = sha256(bytes);
    const key = `artifacts/${pipeline}/manifests/${digest.toString('hex')}.json`;
    await this.#put(
      key,
      bytes,
      digest,
      'application/json',
      `the manifest of ${releaseLabel(release)}`,
    );
    return key;
  }

  async #put(
    key: string,
    bytes: Uint8Array,
    digest: Buffer,
    contentType: string,
    what = 'an artifact',
  ): Promise<void> {
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: bytes,
          ContentType: contentType,
          ChecksumSHA256: digest.toString('base64'),
          ...(this.#conditionalWrites ? { IfNoneMatch: '*' } : {}),
        }),
      );
    } catch (error) {
      if (hasName(error, 'PreconditionFailed') || statusOf(error) === 412) {
        // The key is derived from the digest, so an object already there should hold these
        // bytes. Check that it does before treating the write as done.
        await this.#confirm(key, digest);
        return;
      }
      if (hasName(error, 'ConditionalRequestConflict')) {
        throw new RetryableError(
          `PutObject of ${what} to ${this.#url(key)} met a concurrent write of the same key (ConditionalRequestConflict); retrying finds the object stored.`,
          { cause: error },
        );
      }
      if (hasName(error, 'BadDigest')) {
        // We hashed the bytes just before sending them, so S3 computing another digest
        // means they changed on the way. Another attempt sends them again.
        throw new RetryableError(
          `PutObject of ${what} to ${this.#url(key)} was refused: S3 computed a different sha256 than ${digest.toString('hex')} (BadDigest), so the bytes were corrupted in transit. Retry the upload.`,
          { cause: error },
        );
      }
      throw awsError(error, `PutObject of ${what} to ${this.#url(key)}`);
    }
  }

  /** Checks that an object S3 refused to overwrite holds the bytes with this digest. */
  async #confirm(key: string, digest: Buffer): Promise<void> {
    const expected = digest.toString('hex');
    let head: { ChecksumSHA256?: string; ChecksumType?: string };
    try {
      head = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: key, ChecksumMode: 'ENABLED' }),
      );
    } catch (error) {
      throw awsError(error, `HeadObject of ${this.#url(key)}, which S3 said already exists`);
    }
    if (head.ChecksumSHA256 === undefined || head.ChecksumType === 'COMPOSITE') {
      // Another tool or a multipart upload stored it without a whole-object SHA-256.
      // Only the bytes themselves can prove what it holds.
      await this.getFile({ name: key, key, sha256: expected });
      return;
    }
    const actual = Buffer.from(head.ChecksumSHA256, 'base64').toString('hex');
    if (actual !== expected) {
      throw new TerminalError(
        `${this.#url(key)} already exists with sha256 ${actual}, expected ${expected}: an object under a content-addressed key holds other bytes. Delete it (it cannot be a valid artifact) and store the artifact again.`,
      );
    }
  }

  async #read(key: string): Promise<Uint8Array> {
    try {
      const response = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: key }),
      );
      if (response.Body === undefined) {
        throw new TerminalError(`GetObject of ${this.#url(key)} returned no body.`);
      }
      return await response.Body.transformToByteArray();
    } catch (error) {
      if (error instanceof NoSuchKey) {
        throw new NotFoundError(
          `No artifact at ${this.#url(key)}: it was deleted or never stored. Rebuild the release to store it again.`,
          { cause: error },
        );
      }
      throw awsError(error, `GetObject of ${this.#url(key)}`);
    }
  }

  #url(key: string): string {
    return `s3://${this.#bucket}/${key}`;
  }
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** A pipeline id or file name becomes one segment of the key, so it cannot hold a `/`. */
function assertKeySegment(what: string, value: string): void {
  if (value === '' || value === '.' || value === '..' || value.includes('/')) {
    throw new TerminalError(
      `The ${what} ${JSON.stringify(value)} cannot be one segment of an S3 key: use a non-empty name without "/" that is not "." or "..", e.g. the file's base name.`,
    );
  }
}

function hasName(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
}
