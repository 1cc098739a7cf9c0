import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { BucketAlreadyOwnedByYou, CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLE_KEYS } from '../adapters/aws/dynamodb-table.js';
import { startDynamoDbLocal } from './dynamodb-local.js';

/**
 * The DynamoDB and S3 wire protocols on loopback: AWS's DynamoDB Local (a JVM the npm
 * package `amplify-dynamodb-simulator` ships) and s3rver, started in-process. The AWS
 * adapters talk to them unchanged, through SDK clients pointed at their endpoints (the
 * runtime also sets `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_S3`, so any client
 * made in the process reaches them).
 */

/** s3rver's credentials: it refuses any other. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const REGION = 'us-east-1';

export interface LocalTable {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * DynamoDB Local (see `startDynamoDbLocal`) with Release Captain's table (the key schema
 * the CDK app creates). With `path` the data persists there and a restart finds the
 * table; without, it lives in memory. Closing the table stops the emulator.
 */
export async function startLocalTable(
  options: { readonly tableName?: string; readonly path?: string } = {},
): Promise<LocalTable> {
  const tableName = options.tableName ?? 'release-captain';
  const emulator = await startDynamoDbLocal(
    options.path === undefined ? {} : { path: options.path },
  );
  const raw = emulator.client();
  try {
    await createReleaseCaptainTable(raw, tableName);
  } catch (error) {
    raw.destroy();
    await emulator.close();
    throw error;
  }
  const client = DynamoDBDocumentClient.from(raw, {
    marshallOptions: { removeUndefinedValues: true },
  });
  return {
    client,
    tableName,
    endpoint: emulator.endpoint,
    close: async () => {
      client.destroy();
      await emulator.close();
    },
  };
}

/**
 * Creates Release Captain's table (the key schema the CDK app creates) on any DynamoDB
 * endpoint; a table already there (persisted by an earlier run) is left as it is.
 */
export async function createReleaseCaptainTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: TABLE_KEYS.partitionKey, AttributeType: 'S' },
          { AttributeName: TABLE_KEYS.sortKey, AttributeType: 'S' },
        ],
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}

/** The part of s3rver 3 used here; the package ships no types. */
interface S3rverServer {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
}) => S3rverServer;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

export interface LocalBucket {
  readonly client: S3Client;
  readonly bucket: string;
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * s3rver on a free loopback port with the artifact bucket. Its objects live in
 * `directory` (s3rver has no in-memory mode): without one, a temporary directory removed
 * on close.
 */
export async function startLocalBucket(
  options: { readonly bucket?: string; readonly directory?: string } = {},
): Promise<LocalBucket> {
  const bucket = options.bucket ?? 'release-captain-artifacts';
  const temporary = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'captain-s3-')));
  await mkdir(directory, { recursive: true });
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: CREDENTIALS,
    // With the SDK's default, bodies are sent with aws-chunked framing, which s3rver stores as is.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if (!(error instanceof BucketAlreadyOwnedByYou) && !isAlreadyExists(error)) throw error;
  }
  return {
    client,
    bucket,
    endpoint,
    close: async () => {
      client.destroy();
      await server.close();
      if (temporary) await rm(directory, { recursive: true, force: true });
    },
  };
}

const isAlreadyExists = (error: unknown) =>
  error instanceof Error &&
  (error.name === 'BucketAlreadyExists' || error.name === 'BucketAlreadyOwnedByYou');
