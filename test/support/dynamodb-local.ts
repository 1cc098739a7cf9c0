import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startDynamoDbLocal } from '../../local/dynamodb-local.js';
import { createReleaseCaptainTable, type LocalTable } from '../../local/emulators.js';

/**
 * One DynamoDB Local (AWS's emulator, see local/dynamodb-local.ts) for a test file, and a
 * fresh table in it for each test: a JVM takes a second or two to start, a table a few
 * milliseconds. It lives in memory for the length of the file.
 *
 * @example
 * const local = await startSharedDynamoDb();
 * const table = await local.table(); // a fresh table with Release Captain's key schema
 * await local.close();
 */
export interface SharedDynamoDb {
  readonly endpoint: string;
  /** A new table with Release Captain's key schema; closing it drops only its client. */
  table(): Promise<LocalTable>;
  close(): Promise<void>;
}

let tables = 0;

export async function startSharedDynamoDb(): Promise<SharedDynamoDb> {
  const emulator = await startDynamoDbLocal();
  return {
    endpoint: emulator.endpoint,
    table: async () => {
      const raw = emulator.client();
      const tableName = `release-captain-${++tables}`;
      await createReleaseCaptainTable(raw, tableName);
      const client = DynamoDBDocumentClient.from(raw, {
        marshallOptions: { removeUndefinedValues: true },
      });
      return {
        client,
        tableName,
        endpoint: emulator.endpoint,
        close: async () => client.destroy(),
      };
    },
    close: () => emulator.close(),
  };
}

/**
 * A table in a DynamoDB Local shared by the whole test file, started on first use and
 * stopped after the file's tests (register `afterAll(sharedTable.close)`).
 */
export function sharedTables(): { table(): Promise<LocalTable>; close(): Promise<void> } {
  let local: Promise<SharedDynamoDb> | undefined;
  return {
    table: async () => {
      local ??= startSharedDynamoDb();
      return (await local).table();
    },
    close: async () => (await local)?.close(),
  };
}
