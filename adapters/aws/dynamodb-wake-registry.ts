import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { WakeRegistry } from '../../core/index.js';
import { awsError } from './errors.js';

/** Registrations outlive their expiry by a day, then DynamoDB's TTL removes them. */
const TTL_GRACE_SECONDS = 86_400;

/**
 * Task tokens of waiting workflow steps, by the subject they wait on, in the one table:
 * `WAKE#<subject>` / `TOKEN#<digest>` per registration and `WAKE#<subject>` / `WOKEN` with
 * the last time the subject was woken. The order of the writes is the contract of
 * {@link WakeRegistry}: a registration stores its token, then reads `WOKEN`; a wake
 * writes `WOKEN`, then reads the tokens. Items carry a `ttl` attribute (epoch seconds) for
 * the table's time-to-live.
 *
 * @example
 * const wakes = new DynamoDbWakeRegistry(documentClient, 'release-captain');
 * await wakes.register(token, ['deployment:d-42', 'alarm:api-onebox-use1'], expiresAt, decidedAt);
 * // later, from the CodeDeploy state-change event:
 * for (const t of await wakes.claim('deployment:d-42', new Date())) await taskTokens.succeed(t, {});
 */
export class DynamoDbWakeRegistry implements WakeRegistry {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async register(
    token: string,
    subjects: readonly string[],
    expiresAt: Date,
    decidedAt: Date,
  ): Promise<'registered' | 'woken'> {
    const ttl = Math.ceil(expiresAt.getTime() / 1000) + TTL_GRACE_SECONDS;
    try {
      for (const subject of subjects) {
        await this.#client.send(
          new PutCommand({
            TableName: this.#table,
            Item: {
              pk: pk(subject),
              sk: `TOKEN#${digest(token)}`,
              token,
              expiresAt: expiresAt.toISOString(),
              ttl,
            },
          }),
        );
      }
      for (const subject of subjects) {
        const woken = await this.#client.send(
          new GetCommand({
            TableName: this.#table,
            Key: { pk: pk(subject), sk: 'WOKEN' },
            ConsistentRead: true,
          }),
        );
        const at = woken.Item?.at as string | undefined;
        if (at !== undefined && Date.parse(at) >= decidedAt.getTime()) return 'woken';
      }
      return 'registered';
    } catch (error) {
      throw awsError(error, `Registering a waiting step under ${subjects.join(', ')}`);
    }
  }

  async claim(subject: string, at: Date): Promise<string[]> {
    try {
      await this.#markWoken(subject, at);
      const tokens: string[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await this.#client.send(
          new QueryCommand({
            TableName: this.#table,
            ConsistentRead: true,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': pk(subject), ':prefix': 'TOKEN#' },
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) {
          await this.#client.send(
            new DeleteCommand({ TableName: this.#table, Key: { pk: item.pk, sk: item.sk } }),
          );
          if (Date.parse(item.expiresAt as string) > at.getTime())
            tokens.push(item.token as string);
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      return tokens;
    } catch (error) {
      throw awsError(error, `Waking the steps waiting on ${subject}`);
    }
  }

  /** Moves `WOKEN` forward only: a late, older event must not hide a newer wake. */
  async #markWoken(subject: string, at: Date): Promise<void> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: pk(subject), sk: 'WOKEN' },
          UpdateExpression: 'SET #at = :at, #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(#at) OR #at < :at',
          ExpressionAttributeNames: { '#at': 'at', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':at': at.toISOString(),
            ':ttl': Math.ceil(at.getTime() / 1000) + 7 * TTL_GRACE_SECONDS,
          },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw error;
    }
  }
}

const pk = (subject: string) => `WAKE#${subject}`;
const digest = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 32);
