import { createHash, randomBytes } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ArtifactStore } from '../../adapters/aws/s3-artifact-store.js';
import { type ArtifactManifest, NotFoundError, TerminalError } from '../../core/index.js';
import { type LocalBucket, startLocalBucket } from '../../local/emulators.js';

const BUCKET = 'captain-artifacts';
let bucket: LocalBucket;
let client: S3Client;
let store: S3ArtifactStore;

beforeAll(async () => {
  // s3rver on loopback, as the local runtime starts it (a temporary directory).
  bucket = await startLocalBucket({ bucket: BUCKET });
  client = bucket.client;
  // The local runtime's setting: s3rver ignores If-None-Match on PUT (see the last test).
  store = new S3ArtifactStore(client, BUCKET, { conditionalWrites: false });
});

afterAll(async () => {
  await bucket?.close();
});

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest();

describe('S3ArtifactStore on s3rver', () => {
  it('stores a file under its digest and reads back the same bytes', async () => {
    // Prepare
    const bytes = new Uint8Array(randomBytes(256 * 1024));
    const hex = sha256(bytes).toString('hex');

    // Act
    const artifact = await store.putFile('api', 'function.zip', bytes);
    const read = await store.getFile(artifact);

    // Assess
    expect(artifact).toEqual({
      name: 'function.zip',
      key: `artifacts/api/sha256/${hex}/function.zip`,
      sha256: hex,
    });
    expect(Buffer.from(read).equals(Buffer.from(bytes))).toBe(true);
  });

  it('stores the same bytes twice as one object', async () => {
    // Prepare
    const bytes = new TextEncoder().encode('template: twice');

    // Act
    const first = await store.putFile('web', 'template.json', bytes);
    const second = await store.putFile('web', 'template.json', bytes);

    // Assess
    expect(second).toEqual(first);
    const listed = await client.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'artifacts/web/' }),
    );
    expect(listed.Contents?.map((object) => object.Key)).toEqual([first.key]);
  });

  it('stores a manifest as JSON under the digest of the JSON', async () => {
    // Prepare
    const manifest: ArtifactManifest = {
      images: [{ name: 'api', repository: 'api', digest: `sha256:${'ab'.repeat(32)}` }],
      files: [],
      dependencies: [{ name: 'zod', version: '4.0.0' }],
    };

    // Act
    const key = await store.putManifest('api', 7, manifest);

    // Assess
    expect(key).toBe(
      `artifacts/api/manifests/${sha256(JSON.stringify(manifest)).toString('hex')}.json`,
    );
    const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(object.ContentType).toBe('application/json');
    expect(JSON.parse((await object.Body?.transformToString()) ?? '')).toEqual(manifest);
  });

  it('refuses to return an object whose bytes changed after it was stored', async () => {
    // Prepare
    const artifact = await store.putFile('api', 'config.zip', new TextEncoder().encode('v1'));
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: artifact.key, Body: 'tampered' }),
    );

    // Act
    const read = store.getFile(artifact);

    // Assess
    await expect(read).rejects.toThrow(TerminalError);
    await expect(read).rejects.toThrow(
      `has sha256 ${sha256('tampered').toString('hex')}, expected ${artifact.sha256}`,
    );
  });

  it('reports an artifact that is not there as NotFoundError', async () => {
    // Prepare
    const hex = sha256('never stored').toString('hex');

    // Act
    const read = store.getFile({
      name: 'x.zip',
      key: `artifacts/api/sha256/${hex}/x.zip`,
      sha256: hex,
    });

    // Assess
    await expect(read).rejects.toThrow(NotFoundError);
  });

  it('shows why the local runtime turns conditional writes off: s3rver ignores If-None-Match and ChecksumSHA256', async () => {
    // Prepare: an object, then a conditional put of other bytes with a checksum that fits neither.
    const key = 'probe/emulator';
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'first' }));

    // Act: real S3 answers 412 PreconditionFailed (the key exists) or 400 BadDigest.
    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: key,
        Body: 'second',
        IfNoneMatch: '*',
        ChecksumSHA256: sha256('something else').toString('base64'),
      }),
    );

    // Assess: s3rver replaced the object and keeps no SHA-256 to compare with.
    const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(await object.Body?.transformToString()).toBe('second');
    const head = await client.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: 'ENABLED' }),
    );
    expect(head.ChecksumSHA256).toBeUndefined();
  });
});
