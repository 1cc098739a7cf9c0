import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

/**
 * AWS's own DynamoDB Local, the jar that the npm package `amplify-dynamodb-simulator` ships
 * (nothing is downloaded), run with the Java on the machine (17 or later). The local
 * runtime and the tests use it because the promotion store writes a decision and the
 * versions it read in one `TransactWriteItems` (see `DynamoDbPromotionStore`), which
 * DynamoDB Local supports as the service does.
 *
 * It runs under a small guardian process (dynamodb-local-guardian.mjs) that stops the JVM
 * when this process dies, however it dies. DynamoDB Local has no option to listen on
 * loopback only: clients reach it at 127.0.0.1 on a port picked free.
 *
 * @example
 * const dynamodb = await startDynamoDbLocal({ path: '.captain/dynamodb-local' });
 * const client = dynamodb.client(); // an SDK client for it, with the emulator's credentials
 * await dynamodb.close();
 */
export interface DynamoDbLocal {
  readonly endpoint: string;
  /** A new SDK client for the emulator; the caller destroys it. */
  client(): DynamoDBClient;
  close(): Promise<void>;
}

export interface DynamoDbLocalOptions {
  /** Where its data persists (one SQLite file, shared by every client); in memory without. */
  readonly path?: string;
}

/** DynamoDB Local accepts any credentials (with `-sharedDb` they all reach the same data). */
export const DYNAMODB_LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const REGION = 'us-east-1';
/** A guard against a JVM that never comes up, not a measure of speed: it usually takes 1–3 s. */
const START_DEADLINE_MS = 120_000;
const GUARDIAN = join(dirname(fileURLToPath(import.meta.url)), 'dynamodb-local-guardian.mjs');

export async function startDynamoDbLocal(
  options: DynamoDbLocalOptions = {},
): Promise<DynamoDbLocal> {
  const emulator = join(
    dirname(createRequire(import.meta.url).resolve('amplify-dynamodb-simulator/package.json')),
    'emulator',
  );
  if (options.path !== undefined) await mkdir(options.path, { recursive: true });
  const port = await freePort();
  // One database for every client, whatever credentials and region it signs with.
  const storage = [
    ...(options.path === undefined ? ['-inMemory'] : ['-dbPath', options.path]),
    '-sharedDb',
  ];
  const guardian = spawn(
    process.execPath,
    [
      GUARDIAN,
      'java',
      // A small heap is plenty for one pipeline's items; without a bound the JVM reserves
      // a quarter of the machine's memory.
      '-Xmx512m',
      `-Djava.library.path=${join(emulator, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(emulator, 'DynamoDBLocal.jar'),
      ...storage,
      '-port',
      String(port),
      '-disableTelemetry',
    ],
    { cwd: emulator, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  guardian.stdout?.on('data', (chunk: Buffer) => output.push(String(chunk)));
  guardian.stderr?.on('data', (chunk: Buffer) => output.push(String(chunk)));
  const exited = new Promise<Error>((resolve) => {
    guardian.once('error', (error) =>
      resolve(new Error(`DynamoDB Local could not be started: ${error.message}`)),
    );
    guardian.once('exit', (code, signal) =>
      resolve(
        new Error(
          `DynamoDB Local exited (${signal ?? `code ${code}`}) before it answered: ${output.join('').trim().slice(-500)}`,
        ),
      ),
    );
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = () =>
    new DynamoDBClient({ endpoint, region: REGION, credentials: DYNAMODB_LOCAL_CREDENTIALS });
  const admin = client();
  try {
    await Promise.race([ready(admin), exited.then((error) => Promise.reject(error))]);
  } catch (error) {
    await stop(guardian);
    throw error;
  } finally {
    admin.destroy();
  }
  // Only its start-up is of interest: drop what it prints later.
  output.length = 0;
  guardian.stdout?.removeAllListeners('data').resume();
  guardian.stderr?.removeAllListeners('data').resume();
  return { endpoint, client, close: () => stop(guardian) };
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

/** Stops the JVM through its guardian and waits until both are gone. */
async function stop(guardian: ChildProcess): Promise<void> {
  if (guardian.exitCode !== null || guardian.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => guardian.once('exit', () => resolve()));
  guardian.kill('SIGTERM');
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
