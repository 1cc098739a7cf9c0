import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbAuditLog, DynamoDbDeploymentLog } from '../../adapters/aws/dynamodb-logs.js';
import { DynamoDbPromotionStore } from '../../adapters/aws/dynamodb-promotion-store.js';
import { DynamoDbReleaseStore } from '../../adapters/aws/dynamodb-release-store.js';
import { keys } from '../../adapters/aws/dynamodb-table.js';
import { initialMeta, Topology } from '../../core/index.js';
import { sharedTables } from '../support/dynamodb-local.js';
import { smallDefinition } from '../support/fixtures.js';
import { describeStoreContract } from '../support/store-contract.js';

/** DynamoDB Local, started once for the file on first use (a JVM takes a second or two). */
const dynamodb = sharedTables();
afterAll(() => dynamodb.close());

describeStoreContract('DynamoDB on DynamoDB Local', async () => {
  const table = await dynamodb.table();
  return {
    promotions: new DynamoDbPromotionStore(table.client, table.tableName),
    releases: new DynamoDbReleaseStore(table.client, table.tableName),
    deployments: new DynamoDbDeploymentLog(table.client, table.tableName),
    audit: new DynamoDbAuditLog(table.client, table.tableName),
    close: () => table.close(),
  };
});

describe('a pipeline item written before a field was added, on DynamoDB Local', () => {
  it('reads the field as its initial value (an expedite request: none)', async () => {
    // Prepare: the meta item as an earlier version wrote it, with no expediteRequest.
    const table = await dynamodb.table();
    try {
      const topology = new Topology(smallDefinition());
      const {
        expediteRequest: _,
        version: __,
        ...older
      } = {
        ...initialMeta(),
        latestRelease: 3,
      };
      await table.client.send(
        new PutCommand({
          TableName: table.tableName,
          Item: { ...keys.meta(topology.pipeline), version: 4, state: older },
        }),
      );

      // Act
      const state = await new DynamoDbPromotionStore(table.client, table.tableName).load(topology);

      // Assess
      expect(state.meta).toEqual({ ...initialMeta(), latestRelease: 3, version: 4 });
    } finally {
      await table.close();
    }
  });
});
