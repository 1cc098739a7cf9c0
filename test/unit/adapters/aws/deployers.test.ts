import { describe, expect, it } from 'vitest';
import { RoutingDeployer } from '../../../../adapters/aws/deployers.js';
import {
  type Deployer,
  type DeploymentRequest,
  FakeDeployer,
  type TargetInput,
  TerminalError,
  targetSchema,
} from '../../../../core/index.js';
import { release, target } from '../../../support/fixtures.js';

const DEPLOYMENTS: Record<string, TargetInput['deployment']> = {
  'ecs-service': { kind: 'ecs-service', cluster: 'main', service: 'api' },
  'codedeploy-group': {
    kind: 'codedeploy-group',
    application: 'api',
    deploymentGroup: 'prod-1',
    platform: 'server',
  },
  'local-fleet': { kind: 'local-fleet', boxes: 3 },
};

function request(kind: string): DeploymentRequest {
  return {
    pipeline: 'api',
    target: targetSchema.parse(target('t1', { deployment: DEPLOYMENTS[kind] })),
    release: release(7),
    kind: 'normal',
    idempotencyKey: 'api-beta-r7-1/t1',
  };
}

function routing() {
  const ecs = new FakeDeployer();
  const codeDeploy = new FakeDeployer();
  return { ecs, codeDeploy, deployer: new RoutingDeployer({ ecs, codeDeploy }) };
}

describe('RoutingDeployer', () => {
  it.each([
    { kind: 'ecs-service', chosen: 'ecs' as const, other: 'codeDeploy' as const },
    { kind: 'codedeploy-group', chosen: 'codeDeploy' as const, other: 'ecs' as const },
  ])('sends a $kind target to the $chosen deployer', async ({ kind, chosen, other }) => {
    // Prepare
    const deployers = routing();
    const sent = request(kind);

    // Act
    const { deploymentId } = await deployers.deployer.startDeployment(sent);
    deployers[chosen].finish(deploymentId, { status: 'succeeded' });
    const status = await deployers.deployer.getDeployment(sent.target, deploymentId);

    // Assess
    expect(deployers[chosen].requests).toEqual([sent]);
    expect(deployers[other].requests).toEqual([]);
    expect(status).toEqual({ status: 'succeeded' });
  });

  it('refuses a local-fleet target: the local runtime handles it', async () => {
    // Prepare
    const deployers = routing();
    const local = request('local-fleet');

    // Act
    const start = deployers.deployer.startDeployment(local);
    const get = deployers.deployer.getDeployment(local.target, 'd-1');

    // Assess
    await expect(start).rejects.toThrow(TerminalError);
    await expect(start).rejects.toThrow('handled by the local runtime');
    await expect(get).rejects.toThrow('handled by the local runtime');
    expect(deployers.ecs.requests).toEqual([]);
    expect(deployers.codeDeploy.requests).toEqual([]);
  });
});

describe('RoutingDeployer.stopDeployment', () => {
  it('forwards the stop to the deployer of the target’s kind, and to no other', async () => {
    const stopped: string[] = [];
    const stopping = (name: string) =>
      Object.assign(new FakeDeployer(), {
        stopDeployment: async (_target: unknown, id: string) => {
          stopped.push(`${name}:${id}`);
          return 'stopping' as const;
        },
      });
    const deployer = new RoutingDeployer({
      ecs: stopping('ecs'),
      codeDeploy: stopping('codedeploy'),
    });

    await deployer.stopDeployment(request('codedeploy-group').target, 'd-7');

    expect(stopped).toEqual(['codedeploy:d-7']);
  });

  it('answers replaced for a deployer that cannot stop (an ECS update is replaced instead)', async () => {
    const ecs: Deployer = {
      startDeployment: async () => ({ deploymentId: 'ecs-svc/1' }),
      getDeployment: async () => ({ status: 'in-progress' }),
    };
    const deployer = new RoutingDeployer({ ecs, codeDeploy: new FakeDeployer() });

    await expect(deployer.stopDeployment(request('ecs-service').target, 'ecs-svc/1')).resolves.toBe(
      'replaced',
    );
  });
});
