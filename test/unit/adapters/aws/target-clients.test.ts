import { describe, expect, it } from 'vitest';
import {
  CachedTargetClients,
  type CredentialsProvider,
} from '../../../../adapters/aws/target-clients.js';
import { type TargetInput, TerminalError, targetSchema } from '../../../../core/index.js';
import { target } from '../../../support/fixtures.js';

function at(account: string, region: string) {
  return targetSchema.parse(
    target(`t-${account}-${region}`, { account, region } as Partial<TargetInput>),
  );
}

/** Counts the providers made per account; each answers keys naming its account. */
function credentialsFor() {
  const made: string[] = [];
  const provider = (account: string): CredentialsProvider => {
    made.push(account);
    return async () => ({ accessKeyId: `AKIA${account}`, secretAccessKey: 'secret' });
  };
  return { made, provider };
}

describe('CachedTargetClients', () => {
  it("builds each client in the target's region with its account's credentials", async () => {
    // Prepare
    const { provider } = credentialsFor();
    const clients = new CachedTargetClients({ credentialsFor: provider });

    // Act
    const ecs = clients.ecs(at('111111111111', 'us-east-1'));
    const codeDeploy = clients.codeDeploy(at('222222222222', 'eu-west-1'));

    // Assess
    expect(await ecs.config.region()).toBe('us-east-1');
    expect((await ecs.config.credentials()).accessKeyId).toBe('AKIA111111111111');
    expect(await codeDeploy.config.region()).toBe('eu-west-1');
    expect((await codeDeploy.config.credentials()).accessKeyId).toBe('AKIA222222222222');
    clients.destroy();
  });

  it('reuses clients per account and region, and one credentials provider per account', () => {
    // Prepare
    const { made, provider } = credentialsFor();
    const clients = new CachedTargetClients({ credentialsFor: provider });

    // Act
    const first = clients.ecs(at('111111111111', 'us-east-1'));
    const again = clients.ecs(at('111111111111', 'us-east-1'));
    const otherRegion = clients.ecs(at('111111111111', 'eu-west-1'));
    clients.codeDeploy(at('111111111111', 'us-east-1'));
    const otherAccount = clients.ecs(at('222222222222', 'us-east-1'));

    // Assess
    expect(again).toBe(first);
    expect(otherRegion).not.toBe(first);
    expect(otherAccount).not.toBe(first);
    expect(made).toEqual(['111111111111', '222222222222']);
    clients.destroy();
  });

  it('refuses a local target, which has no AWS account', () => {
    // Prepare
    const clients = new CachedTargetClients({ credentialsFor: credentialsFor().provider });

    // Act
    const attempt = () => clients.ecs(at('local', 'eu-west-1'));

    // Assess
    expect(attempt).toThrow(TerminalError);
    expect(attempt).toThrow('has account "local"');
  });
});
