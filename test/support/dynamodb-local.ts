import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createReleaseCaptainTable, type LocalTable } from '../../local/emulators.js';

/**
 * AWS's own DynamoDB Local, the jar that the npm package `amplify-dynamodb-simulator` ships
 * (nothing is downloaded), run with the Java on the machine. The store code must hold on
 * it as well as on dynalite: it enforces limits dynalite ignores and supports transactions.
 *
 * DynamoDB Local has no option to listen on loopback only; the tests reach it at 127.0.0.1
 * and it lives in memory for the length of a test file.
 *
 * @example
 * const local = await startDynamoDbLocal();
 * const table = await local.table(); // a fresh table with Release Captain's key schema
 * await local.close();
 */
export interface DynamoDbLocal {
  readonly endpoint: string;
  /** A new table with Release Captain's key schema; closing it drops only its client. */
  table(): Promise<LocalTable>;
  close(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const REGION = 'us-east-1';
/** A guard against a JVM that never comes up, not a measure of speed: it usually takes 1–3 s. */
const START_DEADLINE_MS = 120_000;

let tables = 0;

export async function startDynamoDbLocal(): Promise<DynamoDbLocal> {
  const emulator = join(
    dirname(createRequire(import.meta.url).resolve('amplify-dynamodb-simulator/package.json')),
    'emulator',
  );
  const port = await freePort();
  const java = spawn(
    'java',
    [
      `-Djava.library.path=${join(emulator, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(emulator, 'DynamoDBLocal.jar'),
      '-inMemory',
      '-port',
      String(port),
      '-disableTelemetry',
    ],
    { cwd: emulator, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  java.stdout?.on('data', (chunk: Buffer) => output.push(String(chunk)));
  java.stderr?.on('data', (chunk: Buffer) => output.push(String(chunk)));
  const exited = new Promise<Error>((resolve) => {
    java.once('error', (error) =>
      resolve(
        new Error(
          `DynamoDB Local needs Java 17 or later on the PATH (${error.message}); install it, e.g. apt-get install openjdk-17-jre-headless.`,
        ),
      ),
    );
    java.once('exit', (code, signal) =>
      resolve(
        new Error(
          `DynamoDB Local exited (${signal ?? `code ${code}`}) before it answered: ${output.join('').trim().slice(-500)}`,
        ),
      ),
    );
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const admin = new DynamoDBClient({ endpoint, region: REGION, credentials: CREDENTIALS });
  try {
    await Promise.race([ready(admin), exited.then((error) => Promise.reject(error))]);
  } catch (error) {
    admin.destroy();
    await stop(java);
    throw error;
  }
  return {
    endpoint,
    table: async () => {
      const raw = new DynamoDBClient({ endpoint, region: REGION, credentials: CREDENTIALS });
      const tableName = `release-captain-${++tables}`;
      await createReleaseCaptainTable(raw, tableName);
      const client = DynamoDBDocumentClient.from(raw, {
        marshallOptions: { removeUndefinedValues: true },
      });
      return { client, tableName, endpoint, close: async () => client.destroy() };
    },
    close: async () => {
      admin.destroy();
      await stop(java);
    },
  };
}

/** Until DynamoDB Local answers a ListTables. */
async function ready(client: DynamoDBClient): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    try {
      await client.send(new ListTablesCommand({}));
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`DynamoDB Local did not answer within ${START_DEADLINE_MS / 1000} s`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function stop(java: ChildProcess): Promise<void> {
  if (java.exitCode !== null || java.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => java.once('exit', () => resolve()));
  java.kill('SIGTERM');
  await gone;
}

/** A port free on loopback now (DynamoDB Local takes a port number, not 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}
