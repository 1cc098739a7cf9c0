import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3ArtifactStore } from '../../../../adapters/aws/s3-artifact-store.js';
import {
  type ArtifactManifest,
  NotFoundError,
  RetryableError,
  TerminalError,
} from '../../../../core/index.js';

expect.extend(allCustomMatcher);

const s3 = mockClient(S3Client);
const BUCKET = 'captain-artifacts';
const HELLO = new TextEncoder().encode('hello');
// sha256("hello"), a well-known digest, so the test does not just repeat the adapter's arithmetic.
const HELLO_HEX = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
const HELLO_BASE64 = 'LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=';
const HELLO_KEY = `artifacts/api/sha256/${HELLO_HEX}/function.zip`;
const OTHER_HEX = createHash('sha256').update('tampered').digest('hex');

function body(bytes: Uint8Array): GetObjectCommandOutput['Body'] {
  return { transformToByteArray: async () => bytes } as unknown as GetObjectCommandOutput['Body'];
}

function s3Error(name: string, status: number, message = name): S3ServiceException {
  return new S3ServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

const alreadyThere = () => s3Error('PreconditionFailed', 412, 'At least one precondition failed');

describe('S3ArtifactStore', () => {
  beforeEach(() => {
    s3.reset();
  });

  describe('putFile', () => {
    it('stores the bytes under their digest, with a checksum S3 verifies and no overwrite', async () => {
      // Prepare
      s3.on(PutObjectCommand).resolves({});
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const artifact = await store.putFile('api', 'function.zip', HELLO);

      // Assess
      expect(artifact).toEqual({ name: 'function.zip', key: HELLO_KEY, sha256: HELLO_HEX });
      expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 1);
      expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
        Bucket: BUCKET,
        Key: HELLO_KEY,
        Body: HELLO,
        ChecksumSHA256: HELLO_BASE64,
        IfNoneMatch: '*',
      });
    });

    it('leaves out If-None-Match when conditional writes are off (an emulator that ignores it)', async () => {
      // Prepare
      s3.on(PutObjectCommand).resolves({});
      const store = new S3ArtifactStore(new S3Client({}), BUCKET, { conditionalWrites: false });

      // Act
      await store.putFile('api', 'function.zip', HELLO);

      // Assess
      const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
      expect(input).toMatchObject({ Key: HELLO_KEY, ChecksumSHA256: HELLO_BASE64 });
      expect(input).not.toHaveProperty('IfNoneMatch');
    });

    it('treats an object already there with the same checksum as stored', async () => {
      // Prepare
      s3.on(PutObjectCommand).rejects(alreadyThere());
      s3.on(HeadObjectCommand).resolves({
        ChecksumSHA256: HELLO_BASE64,
        ChecksumType: 'FULL_OBJECT',
      });
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const artifact = await store.putFile('api', 'function.zip', HELLO);

      // Assess
      expect(artifact.key).toBe(HELLO_KEY);
      expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, {
        Bucket: BUCKET,
        Key: HELLO_KEY,
        ChecksumMode: 'ENABLED',
      });
      expect(s3).not.toHaveReceivedCommand(GetObjectCommand);
    });

    it('refuses an object already there whose checksum differs', async () => {
      // Prepare
      s3.on(PutObjectCommand).rejects(alreadyThere());
      s3.on(HeadObjectCommand).resolves({
        ChecksumSHA256: Buffer.from(OTHER_HEX, 'hex').toString('base64'),
      });
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const put = store.putFile('api', 'function.zip', HELLO);

      // Assess
      await expect(put).rejects.toThrow(TerminalError);
      await expect(put).rejects.toThrow(
        `s3://${BUCKET}/${HELLO_KEY} already exists with sha256 ${OTHER_HEX}, expected ${HELLO_HEX}`,
      );
    });

    it('accepts an existing object stored without a SHA-256 checksum once its bytes match', async () => {
      // Prepare
      s3.on(PutObjectCommand).rejects(alreadyThere());
      s3.on(HeadObjectCommand).resolves({ ChecksumCRC64NVME: 'AAAAAAAAAAA=' });
      s3.on(GetObjectCommand, { Key: HELLO_KEY }).resolves({ Body: body(HELLO) });
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const artifact = await store.putFile('api', 'function.zip', HELLO);

      // Assess
      expect(artifact.key).toBe(HELLO_KEY);
      expect(s3).toHaveReceivedCommandTimes(GetObjectCommand, 1);
    });

    it('refuses an existing object stored without a SHA-256 checksum whose bytes differ', async () => {
      // Prepare
      s3.on(PutObjectCommand).rejects(alreadyThere());
      s3.on(HeadObjectCommand).resolves({ ChecksumCRC64NVME: 'AAAAAAAAAAA=' });
      s3.on(GetObjectCommand).resolves({ Body: body(new TextEncoder().encode('tampered')) });
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const put = store.putFile('api', 'function.zip', HELLO);

      // Assess
      await expect(put).rejects.toThrow(TerminalError);
      await expect(put).rejects.toThrow(`has sha256 ${OTHER_HEX}, expected ${HELLO_HEX}`);
    });

    it.each([
      {
        error: s3Error('SlowDown', 503, 'Please reduce your request rate.'),
        expected: RetryableError,
      },
      { error: s3Error('InternalError', 500), expected: RetryableError },
      { error: s3Error('ConditionalRequestConflict', 409), expected: RetryableError },
      { error: s3Error('BadDigest', 400), expected: RetryableError },
      { error: s3Error('AccessDenied', 403, 'Access Denied'), expected: TerminalError },
      { error: s3Error('NoSuchBucket', 404), expected: TerminalError },
    ])('maps $error.name from PutObject to $expected.name', async ({ error, expected }) => {
      // Prepare
      s3.on(PutObjectCommand).rejects(error);
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const put = store.putFile('api', 'function.zip', HELLO);

      // Assess
      await expect(put).rejects.toThrow(expected);
      await expect(put).rejects.toThrow(`s3://${BUCKET}/${HELLO_KEY}`);
      expect(s3).not.toHaveReceivedCommand(HeadObjectCommand);
    });

    it('says how to fix an access denial', async () => {
      // Prepare
      s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403, 'Access Denied'));
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const put = store.putFile('api', 'function.zip', HELLO);

      // Assess
      await expect(put).rejects.toThrow(/was refused \(AccessDenied\).*Check that the role/);
    });

    it.each([
      { pipeline: 'api', name: '' },
      { pipeline: 'api', name: 'lambda/function.zip' },
      { pipeline: 'api', name: '..' },
      { pipeline: 'a/b', name: 'function.zip' },
    ])(
      'refuses a key segment that is not a plain name: pipeline $pipeline, name "$name"',
      async ({ pipeline, name }) => {
        // Prepare
        const store = new S3ArtifactStore(new S3Client({}), BUCKET);

        // Act
        const put = store.putFile(pipeline, name, HELLO);

        // Assess
        await expect(put).rejects.toThrow(TerminalError);
        await expect(put).rejects.toThrow('cannot be one segment of an S3 key');
        expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
      },
    );
  });

  describe('getFile', () => {
    it('returns the bytes when their sha256 matches', async () => {
      // Prepare
      s3.on(GetObjectCommand, { Bucket: BUCKET, Key: HELLO_KEY }).resolves({ Body: body(HELLO) });
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const bytes = await store.getFile({
        name: 'function.zip',
        key: HELLO_KEY,
        sha256: HELLO_HEX,
      });

      // Assess
      expect(Buffer.from(bytes).toString()).toBe('hello');
    });

    it('refuses bytes whose sha256 differs, naming the key and both digests', async () => {
      // Prepare
      s3.on(GetObjectCommand).resolves({ Body: body(new TextEncoder().encode('tampered')) });
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const read = store.getFile({ name: 'function.zip', key: HELLO_KEY, sha256: HELLO_HEX });

      // Assess
      await expect(read).rejects.toThrow(TerminalError);
      await expect(read).rejects.toThrow(
        `s3://${BUCKET}/${HELLO_KEY} has sha256 ${OTHER_HEX}, expected ${HELLO_HEX}`,
      );
    });

    it('reports a missing object as NotFoundError', async () => {
      // Prepare
      s3.on(GetObjectCommand).rejects(
        new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }),
      );
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const read = store.getFile({ name: 'function.zip', key: HELLO_KEY, sha256: HELLO_HEX });

      // Assess
      await expect(read).rejects.toThrow(NotFoundError);
      await expect(read).rejects.toThrow(`No artifact at s3://${BUCKET}/${HELLO_KEY}`);
    });

    it.each([
      { error: s3Error('SlowDown', 503), expected: RetryableError },
      { error: s3Error('AccessDenied', 403), expected: TerminalError },
    ])('maps $error.name from GetObject to $expected.name', async ({ error, expected }) => {
      // Prepare
      s3.on(GetObjectCommand).rejects(error);
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);

      // Act
      const read = store.getFile({ name: 'function.zip', key: HELLO_KEY, sha256: HELLO_HEX });

      // Assess
      await expect(read).rejects.toThrow(expected);
      await expect(read).rejects.toThrow(`GetObject of s3://${BUCKET}/${HELLO_KEY}`);
    });
  });

  describe('putManifest', () => {
    it('stores the JSON under the sha256 of the JSON and returns the key', async () => {
      // Prepare
      s3.on(PutObjectCommand).resolves({});
      const store = new S3ArtifactStore(new S3Client({}), BUCKET);
      const manifest: ArtifactManifest = {
        images: [{ name: 'api', repository: 'api', digest: `sha256:${HELLO_HEX}` }],
        files: [{ name: 'function.zip', key: HELLO_KEY, sha256: HELLO_HEX }],
        dependencies: [{ name: 'zod', version: '4.0.0' }],
      };
      const json = JSON.stringify(manifest);
      const digest = createHash('sha256').update(json).digest();

      // Act
      const key = await store.putManifest('api', 42, manifest);

      // Assess
      expect(key).toBe(`artifacts/api/manifests/${digest.toString('hex')}.json`);
      const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
      expect(input).toMatchObject({
        Bucket: BUCKET,
        Key: key,
        ContentType: 'application/json',
        ChecksumSHA256: digest.toString('base64'),
        IfNoneMatch: '*',
      });
      expect(JSON.parse(Buffer.from(input?.Body as Uint8Array).toString())).toEqual(manifest);
    });
  });

  it('refuses an empty bucket name', () => {
    expect(() => new S3ArtifactStore(new S3Client({}), ' ')).toThrow('needs a bucket name');
  });
});
