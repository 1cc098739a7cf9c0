import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  type CommitInRelease,
  ConflictError,
  checkCommitPrefix,
  laterOutcome,
  NotFoundError,
  type OutcomeChange,
  type Release,
  type ReleaseNumber,
  type ReleaseProgress,
  type ReleaseStore,
  RetryableError,
  type StageOutcome,
} from '../../core/index.js';
import { keys, releaseSortKey } from './dynamodb-table.js';
import { awsError } from './errors.js';

interface ReleaseItem {
  readonly release: Release;
  readonly progress: Record<string, StageOutcome>;
}

/** Items per BatchWriteItem call (DynamoDB's limit). */
const BATCH = 25;

/** How often an outcome write is retried when another writer changed the same stage's outcome. */
const OUTCOME_ATTEMPTS = 5;

/**
 * Releases in DynamoDB (`PIPELINE#<p>` / `RELEASE#<000042>`): the immutable release and its
 * outcome at every stage. A release is written once (a conditional put); outcomes are
 * relayed at least once and possibly out of order, so each is written only if it is later
 * than the stored one (`laterOutcome`), conditional on the stored one not having changed.
 *
 * @example
 * const releases = new DynamoDbReleaseStore(documentClient, 'release-captain');
 * await releases.createRelease(r42);
 * await releases.recordOutcomes('api', [{ release: 42, stage: 'beta', outcome: { status: 'approved', at } }]);
 */
export class DynamoDbReleaseStore implements ReleaseStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async createRelease(release: Release): Promise<void> {
    const key = keys.release(release.pipeline, release.number);
    // The commit index first: a release is never stored without its commits findable. An
    // entry left by a write that then lost the race for the number is dropped on reading.
    await this.#indexCommits(release);
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#table,
          Item: { ...key, release, progress: {} },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw awsError(error, `Writing release r${release.number} of ${release.pipeline}`);
      }
      const stored = await this.getRelease(release.pipeline, release.number);
      if (stored !== null && sameJson(stored, release)) return;
      throw new ConflictError(
        `Release r${release.number} of ${release.pipeline} already exists with other contents; releases are immutable.`,
        { cause: error },
      );
    }
  }

  async getRelease(pipeline: string, release: ReleaseNumber): Promise<Release | null> {
    return (await this.#item(pipeline, release))?.release ?? null;
  }

  async listReleases(
    pipeline: string,
    options: { limit: number; before?: ReleaseNumber },
  ): Promise<Release[]> {
    const upper =
      options.before === undefined ? `${keys.releasePrefix}~` : releaseSortKey(options.before);
    const releases: Release[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const page = await this.#client.send(
          new QueryCommand({
            TableName: this.#table,
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
            ExpressionAttributeValues: {
              ':pk': keys.pipeline(pipeline),
              ':from': keys.releasePrefix,
              ':to': upper,
            },
            ProjectionExpression: '#release, sk',
            ExpressionAttributeNames: { '#release': 'release' },
            ScanIndexForward: false,
            // The recorder numbers the next release from the newest: it must see the latest write.
            ConsistentRead: true,
            Limit: options.limit + 1,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) {
          const release = (item as ReleaseItem).release;
          // BETWEEN is inclusive: the release named by `before` is not "before" itself.
          if (options.before !== undefined && release.number >= options.before) continue;
          releases.push(release);
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined && releases.length < options.limit);
    } catch (error) {
      throw awsError(error, `Listing the releases of ${pipeline}`);
    }
    return releases.slice(0, options.limit);
  }

  async recordOutcomes(pipeline: string, changes: readonly OutcomeChange[]): Promise<void> {
    for (const change of changes) await this.#recordOutcome(pipeline, change);
  }

  async getProgress(pipeline: string, release: ReleaseNumber): Promise<ReleaseProgress> {
    const item = await this.#item(pipeline, release);
    if (item === undefined) {
      throw new NotFoundError(
        `Release r${release} of ${pipeline} does not exist; list the releases with \`captain releases\`.`,
      );
    }
    return { release, stages: { ...item.progress } };
  }

  async findCommits(pipeline: string, prefix: string, limit: number): Promise<CommitInRelease[]> {
    checkCommitPrefix(prefix);
    let items: Record<string, unknown>[];
    try {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: {
            ':pk': keys.commits(pipeline),
            ':prefix': prefix.toLowerCase(),
          },
          Limit: limit,
        }),
      );
      items = page.Items ?? [];
    } catch (error) {
      throw awsError(error, `Looking up commit ${prefix} in ${pipeline}`);
    }
    const found: CommitInRelease[] = [];
    for (const item of items) {
      const candidate = { sha: String(item.sk), release: Number(item.release) };
      const release = await this.getRelease(pipeline, candidate.release);
      if (release?.commits.some((commit) => commit.sha === candidate.sha)) found.push(candidate);
    }
    return found;
  }

  async #indexCommits(release: Release): Promise<void> {
    const puts = release.commits.map((commit) => ({
      PutRequest: {
        Item: { pk: keys.commits(release.pipeline), sk: commit.sha, release: release.number },
      },
    }));
    for (let start = 0; start < puts.length; start += BATCH) {
      let pending: typeof puts = puts.slice(start, start + BATCH);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt === OUTCOME_ATTEMPTS) {
          throw new RetryableError(
            `Indexing the commits of r${release.number} of ${release.pipeline}: ${pending.length} writes were left unprocessed ${OUTCOME_ATTEMPTS} times (throttled); retry.`,
          );
        }
        try {
          const result = await this.#client.send(
            new BatchWriteCommand({ RequestItems: { [this.#table]: pending } }),
          );
          pending = (result.UnprocessedItems?.[this.#table] ?? []) as typeof puts;
        } catch (error) {
          throw awsError(
            error,
            `Indexing the commits of r${release.number} of ${release.pipeline}`,
          );
        }
        if (pending.length > 0)
          await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
  }

  async #recordOutcome(pipeline: string, change: OutcomeChange): Promise<void> {
    for (let attempt = 0; attempt < OUTCOME_ATTEMPTS; attempt++) {
      const item = await this.#item(pipeline, change.release);
      if (item === undefined) {
        throw new NotFoundError(
          `Cannot record the outcome of r${change.release} at ${change.stage}: release r${change.release} of ${pipeline} does not exist.`,
        );
      }
      const stored = item.progress[change.stage];
      if (!laterOutcome(stored, change.outcome)) return;
      try {
        await this.#client.send(
          new UpdateCommand({
            TableName: this.#table,
            Key: keys.release(pipeline, change.release),
            UpdateExpression: 'SET progress.#stage = :outcome',
            ConditionExpression:
              stored === undefined
                ? 'attribute_not_exists(progress.#stage)'
                : 'progress.#stage.#status = :status AND progress.#stage.#at = :at',
            ExpressionAttributeNames: {
              '#stage': change.stage,
              ...(stored === undefined ? {} : { '#status': 'status', '#at': 'at' }),
            },
            ExpressionAttributeValues: {
              ':outcome': change.outcome,
              ...(stored === undefined ? {} : { ':status': stored.status, ':at': stored.at }),
            },
          }),
        );
        return;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) continue;
        throw awsError(error, `Recording the outcome of r${change.release} at ${change.stage}`);
      }
    }
    throw new ConflictError(
      `The outcome of r${change.release} at ${change.stage} kept changing under ${OUTCOME_ATTEMPTS} attempts to record ${change.outcome.status}; retry.`,
    );
  }

  async #item(pipeline: string, release: ReleaseNumber): Promise<ReleaseItem | undefined> {
    try {
      const read = await this.#client.send(
        new GetCommand({
          TableName: this.#table,
          Key: keys.release(pipeline, release),
          ConsistentRead: true,
        }),
      );
      return read.Item as ReleaseItem | undefined;
    } catch (error) {
      throw awsError(error, `Reading release r${release} of ${pipeline}`);
    }
  }
}

/** Key order may differ after a round trip through DynamoDB maps, so compare canonically. */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}
