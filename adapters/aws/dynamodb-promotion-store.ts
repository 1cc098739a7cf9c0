import { isDeepStrictEqual } from 'node:util';
import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  ConflictError,
  hasEffects,
  type ItemKey,
  type ItemVersion,
  type ItemWrite,
  initialMeta,
  initialStageState,
  type OutboxEntry,
  outboxEntryId,
  type PipelineMeta,
  type PipelineState,
  type PromotionStore,
  type StageState,
  type Topology,
  type Transition,
} from '../../core/index.js';
import { keys } from './dynamodb-table.js';
import { awsError } from './errors.js';

interface StoredItem<State> {
  readonly version: number;
  readonly state: State;
  readonly [attribute: string]: unknown;
}

/** Outbox entries are item attributes named `outbox:<entry id>`. */
const OUTBOX_PREFIX = 'outbox:';
/** Attributes removed per acknowledgement, well inside DynamoDB's expression limits. */
const ACKNOWLEDGE_CHUNK = 50;

/**
 * The promotion state in DynamoDB: one item per stage (`STAGE#<s>`) and one meta item per
 * pipeline, each holding its state, a version counter and its outbox: one attribute
 * `outbox:<entry id>` per write whose effects are not yet relayed. A transition's writes
 * go one item at a time in the order the transition lists them, each conditional on the
 * version that was read and each storing its effects in the same write, so an item never
 * lands without the events, outcomes and executions it caused. A write whose decision read
 * other items (`dependsOn`: gamma's take read beta's promotions out) is a
 * `TransactWriteItems` of the item's update and a `ConditionCheck` of each of those
 * versions, so a decision cannot land on a state that has moved under it (write skew); a
 * write that read nothing else is a plain conditional `UpdateItem`. No transaction spans
 * two writes: a crash between two writes leaves the first decision stored and the next
 * rule (or the reconciler) completes the rest (see `settle`).
 *
 * @example
 * const store = new DynamoDbPromotionStore(documentClient, 'release-captain');
 * const state = await store.load(topology);
 * const t = recordBake(context, state, { stage: 'gamma', seq: 4, verdict: { verdict: 'passed' } });
 * await store.save('api', t); // gamma's item, then prod-1's (the offer), each with its outbox
 */
export class DynamoDbPromotionStore implements PromotionStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async load(topology: Topology): Promise<PipelineState> {
    const { stages: stored, meta } = await this.#items(topology.pipeline);
    const stages: Record<string, StageState> = {};
    for (const stage of topology.definition.stages) {
      const item = stored.get(stage.name);
      stages[stage.name] =
        item === undefined
          ? initialStageState(
              stage.name,
              stage.targets.map((target) => target.id),
            )
          : { ...item.state, version: item.version };
    }
    return {
      stages,
      // Fields added since an item was written read as their initial value.
      meta:
        meta === undefined
          ? initialMeta()
          : { ...initialMeta(), ...meta.state, version: meta.version },
    };
  }

  async save(pipeline: string, transition: Transition): Promise<void> {
    for (const write of transition.writes) await this.#write(pipeline, write);
  }

  async pendingEffects(topology: Topology): Promise<OutboxEntry[]> {
    const { stages, meta } = await this.#items(topology.pipeline);
    const entries = outboxOf(meta);
    for (const name of topology.stageNames) entries.push(...outboxOf(stages.get(name)));
    return entries;
  }

  async acknowledge(pipeline: string, entries: readonly OutboxEntry[]): Promise<void> {
    const byItem = new Map<string, string[]>();
    for (const entry of entries) {
      const item = entry.item === 'meta' ? ' meta' : entry.item.stage;
      byItem.set(item, [...(byItem.get(item) ?? []), entry.id]);
    }
    for (const [item, ids] of byItem) {
      const key = item === ' meta' ? keys.meta(pipeline) : keys.stage(pipeline, item);
      for (let start = 0; start < ids.length; start += ACKNOWLEDGE_CHUNK) {
        const chunk = ids.slice(start, start + ACKNOWLEDGE_CHUNK);
        try {
          // Removing an attribute that is already gone is a no-op: acknowledging twice is fine.
          await this.#client.send(
            new UpdateCommand({
              TableName: this.#table,
              Key: key,
              UpdateExpression: `REMOVE ${chunk.map((_, n) => `#e${n}`).join(', ')}`,
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeNames: Object.fromEntries(
                chunk.map((id, n) => [`#e${n}`, `${OUTBOX_PREFIX}${id}`]),
              ),
            }),
          );
        } catch (error) {
          if (error instanceof ConditionalCheckFailedException) continue;
          throw awsError(error, `Acknowledging relayed effects of ${key.sk}`);
        }
      }
    }
  }

  async #write(pipeline: string, write: ItemWrite): Promise<void> {
    const key = keyOf(pipeline, write.item === 'meta' ? 'meta' : { stage: write.stage });
    const what =
      write.item === 'meta'
        ? `the meta item of ${pipeline}`
        : `stage ${write.stage} of ${pipeline}`;
    const entry: OutboxEntry = {
      id: outboxEntryId(write),
      item: write.item === 'meta' ? 'meta' : { stage: write.stage },
      effects: write.effects,
    };
    const { version: _, ...state } = write.state;
    const withEffects = hasEffects(write.effects);
    const update = {
      TableName: this.#table,
      Key: key,
      // Each outbox entry is an attribute of its own: written with the item, removed by
      // name once relayed, never by position, so concurrent writes and acknowledgements
      // cannot touch each other's entries.
      UpdateExpression: withEffects
        ? 'SET #state = :state, #version = :version, #entry = :entry'
        : 'SET #state = :state, #version = :version',
      ConditionExpression: versionIs(write.expectedVersion),
      ExpressionAttributeNames: {
        '#state': 'state',
        '#version': 'version',
        ...(withEffects ? { '#entry': `${OUTBOX_PREFIX}${entry.id}` } : {}),
      },
      ExpressionAttributeValues: {
        ':state': state,
        ':version': write.state.version,
        ...(write.expectedVersion === 0 ? {} : { ':expected': write.expectedVersion }),
        ...(withEffects ? { ':entry': entry } : {}),
      },
    };
    try {
      if (write.dependsOn.length === 0) await this.#client.send(new UpdateCommand(update));
      else
        await this.#client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Update: update },
              ...write.dependsOn.map((dependency) => ({
                ConditionCheck: this.#versionCheck(pipeline, dependency),
              })),
            ],
          }),
        );
    } catch (error) {
      const lost = lostRace(error, write.dependsOn, pipeline);
      if (lost !== null) {
        // A write whose response was lost (and that the SDK or the caller retried) finds
        // its own result: that is success, not a lost race.
        if (await this.#holds(key, write.state.version, state)) return;
        throw new ConflictError(
          `${capitalise(what)} ${lost} since it was read (expected version ${write.expectedVersion}); reload the state and apply the rule again.`,
          { cause: error },
        );
      }
      throw awsError(error, `Writing ${what}`);
    }
  }

  /** The condition that an item the decision read is still at the version it read. */
  #versionCheck(pipeline: string, dependency: ItemVersion) {
    return {
      TableName: this.#table,
      Key: keyOf(pipeline, dependency.item),
      ConditionExpression: versionIs(dependency.version),
      ExpressionAttributeNames: { '#version': 'version' },
      ...(dependency.version === 0
        ? {}
        : { ExpressionAttributeValues: { ':expected': dependency.version } }),
    };
  }

  async #holds(key: { pk: string; sk: string }, version: number, state: unknown): Promise<boolean> {
    try {
      const read = await this.#client.send(
        new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: true }),
      );
      return read.Item?.version === version && isDeepStrictEqual(read.Item?.state, state);
    } catch (error) {
      throw awsError(error, `Reading ${key.sk} after a conditional write failed`);
    }
  }

  async #items(pipeline: string): Promise<{
    stages: Map<string, StoredItem<Omit<StageState, 'version'>>>;
    meta: StoredItem<Omit<PipelineMeta, 'version'>> | undefined;
  }> {
    const stages = new Map<string, StoredItem<Omit<StageState, 'version'>>>();
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const page = await this.#client.send(
          new QueryCommand({
            TableName: this.#table,
            ConsistentRead: true,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: {
              ':pk': keys.pipeline(pipeline),
              ':prefix': keys.stagePrefix,
            },
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) {
          const stored = item as StoredItem<Omit<StageState, 'version'>>;
          stages.set(stored.state.stage, stored);
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      const meta = await this.#client.send(
        new GetCommand({ TableName: this.#table, Key: keys.meta(pipeline), ConsistentRead: true }),
      );
      return { stages, meta: meta.Item as StoredItem<Omit<PipelineMeta, 'version'>> | undefined };
    } catch (error) {
      throw awsError(error, `Reading the promotion state of ${pipeline}`);
    }
  }
}

const keyOf = (pipeline: string, item: ItemKey) =>
  item === 'meta' ? keys.meta(pipeline) : keys.stage(pipeline, item.stage);

/** An item never written has no version; one written has the version it was read at. */
const versionIs = (version: number) =>
  version === 0 ? 'attribute_not_exists(#version)' : '#version = :expected';

/**
 * What the failed write lost to, if it lost a race: the item itself or an item its
 * decision read changed (a failed condition), or another transaction held one of them
 * (`TransactionConflict`). `null` for any other failure.
 */
function lostRace(
  error: unknown,
  dependsOn: readonly ItemVersion[],
  pipeline: string,
): string | null {
  if (error instanceof ConditionalCheckFailedException) return 'changed';
  if (!(error instanceof TransactionCanceledException)) return null;
  const reasons = error.CancellationReasons ?? [];
  const races = reasons.every(
    (reason) =>
      reason.Code === undefined ||
      reason.Code === 'None' ||
      reason.Code === 'ConditionalCheckFailed' ||
      reason.Code === 'TransactionConflict',
  );
  if (!races || reasons.length === 0) return null;
  // The reasons are in the order of the items: the write, then each dependency.
  const moved = reasons.slice(1).flatMap((reason, index) => {
    const dependency = dependsOn[index];
    if (dependency === undefined || reason.Code === 'None' || reason.Code === undefined) return [];
    return [
      dependency.item === 'meta'
        ? `the meta item of ${pipeline}`
        : `stage ${dependency.item.stage}`,
    ];
  });
  if (moved.length > 0) return `was decided on ${moved.join(' and ')}, which changed`;
  return reasons[0]?.Code === 'TransactionConflict'
    ? 'was being written by another request'
    : 'changed';
}

/** The pending outbox entries of an item, oldest first. */
function outboxOf(item: Record<string, unknown> | undefined): OutboxEntry[] {
  if (item === undefined) return [];
  return Object.entries(item)
    .filter(([name]) => name.startsWith(OUTBOX_PREFIX))
    .map(([, entry]) => entry as OutboxEntry)
    .sort((a, b) => versionOf(a) - versionOf(b));
}

const versionOf = (entry: OutboxEntry) => Number(entry.id.slice(entry.id.lastIndexOf('@') + 1));

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
