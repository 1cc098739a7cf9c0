import { DynamoDbAuditLog, DynamoDbDeploymentLog } from '../../adapters/aws/dynamodb-logs.js';
import { DynamoDbPromotionStore } from '../../adapters/aws/dynamodb-promotion-store.js';
import { DynamoDbReleaseStore } from '../../adapters/aws/dynamodb-release-store.js';
import { startLocalTable } from '../support/dynalite.js';
import { describeStoreContract } from '../support/store-contract.js';

describeStoreContract('DynamoDB on dynalite', async () => {
  const table = await startLocalTable();
  return {
    promotions: new DynamoDbPromotionStore(table.client, table.tableName),
    releases: new DynamoDbReleaseStore(table.client, table.tableName),
    deployments: new DynamoDbDeploymentLog(table.client, table.tableName),
    audit: new DynamoDbAuditLog(table.client, table.tableName),
    close: () => table.close(),
  };
});
