import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  ConflictError,
  hasEffects,
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
  readonly outbox?: readonly OutboxEntry[];
}

/**
 * The promotion state in DynamoDB: one item per stage (`STAGE#<s>`) and one meta item per
 * pipeline, each holding its state, a version counter and an outbox. A transition's writes
 * are single-item `UpdateItem`s in the order the transition lists them, each conditional on
 * the version that was read and each appending its effects to the item's outbox in the
 * same write, so an item never lands without the events, outcomes and executions it
 * caused. No `TransactWriteItems`: a crash between two writes leaves the first decision
 * stored and the next rule (or the reconciler) completes the rest (see `settle`).
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
      meta: meta === undefined ? initialMeta() : { ...meta.state, version: meta.version },
    };
  }

  async save(pipeline: string, transition: Transition): Promise<void> {
    for (const write of transition.writes) await this.#write(pipeline, write);
  }

  async pendingEffects(topology: Topology): Promise<OutboxEntry[]> {
    const { stages, meta } = await this.#items(topology.pipeline);
    const entries = [...(meta?.outbox ?? [])];
    for (const name of topology.stageNames) entries.push(...(stages.get(name)?.outbox ?? []));
    return entries;
  }

  async acknowledge(pipeline: string, entries: readonly OutboxEntry[]): Promise<void> {
    const byItem = new Map<string, OutboxEntry[]>();
    for (const entry of entries) {
      const item = entry.item === 'meta' ? 'meta' : entry.item.stage;
      byItem.set(item, [...(byItem.get(item) ?? []), entry]);
    }
    for (const [item, acknowledged] of byItem) {
      const key = item === 'meta' ? keys.meta(pipeline) : keys.stage(pipeline, item);
      await this.#removeFromOutbox(key, new Set(acknowledged.map((entry) => entry.id)));
    }
  }

  async #write(pipeline: string, write: ItemWrite): Promise<void> {
    const key = write.item === 'meta' ? keys.meta(pipeline) : keys.stage(pipeline, write.stage);
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
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: key,
          UpdateExpression: hasEffects(write.effects)
            ? 'SET #state = :state, #version = :version, #outbox = list_append(if_not_exists(#outbox, :empty), :entry)'
            : 'SET #state = :state, #version = :version',
          ConditionExpression:
            write.expectedVersion === 0 ? 'attribute_not_exists(#version)' : '#version = :expected',
          ExpressionAttributeNames: {
            '#state': 'state',
            '#version': 'version',
            ...(hasEffects(write.effects) ? { '#outbox': 'outbox' } : {}),
          },
          ExpressionAttributeValues: {
            ':state': state,
            ':version': write.state.version,
            ...(write.expectedVersion === 0 ? {} : { ':expected': write.expectedVersion }),
            ...(hasEffects(write.effects) ? { ':empty': [], ':entry': [entry] } : {}),
          },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConflictError(
          `${capitalise(what)} changed since it was read (expected version ${write.expectedVersion}); reload the state and apply the rule again.`,
          { cause: error },
        );
      }
      throw awsError(error, `Writing ${what}`);
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

  /**
   * Removes relayed entries by position, on the condition that each position still holds
   * the entry read there: appends only ever add at the end, and a concurrent relay that
   * removed them first makes the condition fail, after which there is nothing left to do.
   */
  async #removeFromOutbox(
    key: { pk: string; sk: string },
    ids: ReadonlySet<string>,
  ): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      let item: StoredItem<unknown> | undefined;
      try {
        const read = await this.#client.send(
          new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: true }),
        );
        item = read.Item as StoredItem<unknown> | undefined;
      } catch (error) {
        throw awsError(error, `Reading the outbox of ${key.sk}`);
      }
      const positions = (item?.outbox ?? []).flatMap((entry, index) =>
        ids.has(entry.id) ? [{ index, id: entry.id }] : [],
      );
      if (positions.length === 0) return;
      try {
        await this.#client.send(
          new UpdateCommand({
            TableName: this.#table,
            Key: key,
            UpdateExpression: `REMOVE ${positions.map(({ index }) => `#outbox[${index}]`).join(', ')}`,
            ConditionExpression: positions
              .map((_, n) => `#outbox[${positions[n]?.index}].#id = :id${n}`)
              .join(' AND '),
            ExpressionAttributeNames: { '#outbox': 'outbox', '#id': 'id' },
            ExpressionAttributeValues: Object.fromEntries(
              positions.map(({ id }, n) => [`:id${n}`, id]),
            ),
          }),
        );
        return;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) continue;
        throw awsError(error, `Acknowledging relayed effects of ${key.sk}`);
      }
    }
    throw new ConflictError(
      `The outbox of ${key.sk} kept changing while relayed effects were being removed; they will be relayed again (consumers dedupe by id).`,
    );
  }
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
