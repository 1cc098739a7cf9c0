import { createHash } from 'node:crypto';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditEntry, AuditLog, DeploymentLog, DeploymentRecord } from '../../core/index.js';
import { keys } from './dynamodb-table.js';
import { awsError } from './errors.js';

/**
 * Every deployment of every target (`TARGET#<p>#<t>` / `DEPLOY#<finishedAt>#<kind>#<to>`),
 * newest first by sort key. The key is the record's identity, so a record relayed twice
 * is stored once.
 *
 * @example
 * await log.record('api', [{ target: 'prod-use1-az1', kind: 'rollback', from: 43, to: 42, … }]);
 * await log.history('api', 'prod-use1-az1', 20); // newest first
 */
export class DynamoDbDeploymentLog implements DeploymentLog {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async record(pipeline: string, records: readonly DeploymentRecord[]): Promise<void> {
    for (const record of records) {
      const sk = `DEPLOY#${record.finishedAt}#${record.kind}#${record.to ?? 'none'}`;
      try {
        await this.#client.send(
          new PutCommand({
            TableName: this.#table,
            Item: { pk: keys.target(pipeline, record.target), sk, record },
          }),
        );
      } catch (error) {
        throw awsError(error, `Recording the deployment of ${record.target}`);
      }
    }
  }

  async history(pipeline: string, target: string, limit: number): Promise<DeploymentRecord[]> {
    return (
      await newest(this.#client, this.#table, keys.target(pipeline, target), 'DEPLOY#', limit)
    ).map((item) => item.record as DeploymentRecord);
  }
}

/**
 * Who did what and why (`AUDIT#<p>` / `<at>#<digest of the entry>`). The digest makes an
 * entry relayed twice one item, while two different entries at the same instant both stay.
 *
 * @example
 * await audit.append('api', [{ at, stage: 'gamma', by: 'ana', action: 'disable promotions in', reason: 'investigating' }]);
 */
export class DynamoDbAuditLog implements AuditLog {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async append(pipeline: string, entries: readonly AuditEntry[]): Promise<void> {
    for (const entry of entries) {
      // Fixed field order, so the same entry relayed again hashes to the same key.
      const canonical = JSON.stringify([
        entry.at,
        entry.stage,
        entry.by,
        entry.action,
        entry.reason,
      ]);
      const digest = createHash('sha256').update(canonical).digest('hex').slice(0, 16);
      try {
        await this.#client.send(
          new PutCommand({
            TableName: this.#table,
            Item: { pk: keys.audit(pipeline), sk: `${entry.at}#${digest}`, entry },
          }),
        );
      } catch (error) {
        throw awsError(error, `Appending to the audit log of ${pipeline}`);
      }
    }
  }

  async list(pipeline: string, limit: number): Promise<AuditEntry[]> {
    return (await newest(this.#client, this.#table, keys.audit(pipeline), '', limit)).map(
      (item) => item.entry as AuditEntry,
    );
  }
}

async function newest(
  client: DynamoDBDocumentClient,
  table: string,
  pk: string,
  prefix: string,
  limit: number,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  if (limit <= 0) return items;
  let startKey: Record<string, unknown> | undefined;
  try {
    do {
      const page = await client.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression:
            prefix === '' ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ...(prefix === '' ? {} : { ':prefix': prefix }) },
          ScanIndexForward: false,
          Limit: limit - items.length,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && items.length < limit);
  } catch (error) {
    throw awsError(error, `Reading ${pk}`);
  }
  return items;
}
