import {
  InMemoryAuditLog,
  InMemoryDeploymentLog,
  InMemoryPromotionStore,
  InMemoryReleaseStore,
} from '../../../core/index.js';
import { describeStoreContract } from '../../support/store-contract.js';

describeStoreContract('in memory', async () => ({
  promotions: new InMemoryPromotionStore(),
  releases: new InMemoryReleaseStore(),
  deployments: new InMemoryDeploymentLog(),
  audit: new InMemoryAuditLog(),
  close: async () => {},
}));
