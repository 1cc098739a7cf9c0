import { createHash } from 'node:crypto';
import {
  BatchGetDeploymentsCommand,
  CodeDeployClient,
  CodeDeployServiceException,
  type DeploymentStatus as CodeDeployStatus,
  CreateDeploymentCommand,
  DeploymentAlreadyCompletedException,
  DeploymentDoesNotExistException,
  DeploymentGroupDoesNotExistException,
  DeploymentLimitExceededException,
  GetDeploymentCommand,
  GetDeploymentConfigCommand,
  GetDeploymentGroupCommand,
  ListDeploymentsCommand,
  StopDeploymentCommand,
} from '@aws-sdk/client-codedeploy';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  CodeDeployDeployer,
  type LambdaVersionPublisher,
} from '../../../../adapters/aws/codedeploy-deployer.js';
import { IDEMPOTENCY_KEY_TAG } from '../../../../adapters/aws/ecs-deployer.js';
import type { TargetClients } from '../../../../adapters/aws/target-clients.js';
import {
  type DeploymentRequest,
  type FileArtifact,
  NotFoundError,
  RetryableError,
  type TargetDefinition,
  type TargetInput,
  TerminalError,
  targetSchema,
} from '../../../../core/index.js';
import { release, target } from '../../../support/fixtures.js';

expect.extend(allCustomMatcher);

const codeDeploy = mockClient(CodeDeployClient);
const ecs = mockClient(ECSClient);
const NOW = new Date('2026-11-23T10:00:00.000Z');
const KEY = 'api-prod-1-r7-1/prod-1-api';
const BUCKET = 'captain-artifacts-123456789012';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const REPOSITORY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api';
const OLD_TD = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:42';
const NEW_TD = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:43';
const BUNDLE: FileArtifact = {
  name: 'bundle',
  key: `api/files/${'b'.repeat(64)}`,
  sha256: 'b'.repeat(64),
};

const clients: TargetClients = {
  ecs: () => new ECSClient({ region: 'eu-west-1' }),
  codeDeploy: () => new CodeDeployClient({ region: 'eu-west-1' }),
};

function deployer(lambdaVersions?: LambdaVersionPublisher): CodeDeployDeployer {
  return new CodeDeployDeployer({
    clients,
    artifactBucket: BUCKET,
    now: () => NOW,
    ...(lambdaVersions === undefined ? {} : { lambdaVersions }),
  });
}

function groupTarget(deployment: Record<string, unknown> = {}): TargetDefinition {
  return targetSchema.parse(
    target('prod-1-api', {
      deployment: {
        kind: 'codedeploy-group',
        application: 'api',
        deploymentGroup: 'prod-1',
        platform: 'server',
        ...deployment,
      },
    } as Partial<TargetInput>),
  );
}

function request(overrides: Partial<DeploymentRequest> = {}): DeploymentRequest {
  return {
    pipeline: 'api',
    target: groupTarget(),
    release: release(7, {
      artifacts: {
        images: [{ name: 'api', repository: REPOSITORY, digest: DIGEST }],
        files: [BUNDLE],
        dependencies: [],
      },
    }),
    kind: 'normal',
    idempotencyKey: KEY,
    ...overrides,
  };
}

/** A group on `platform` with no active deployment; CreateDeployment answers d-NEW. */
function given(computePlatform: 'Server' | 'ECS' | 'Lambda' = 'Server') {
  codeDeploy.on(GetDeploymentGroupCommand).resolves({
    deploymentGroupInfo: {
      computePlatform,
      deploymentConfigName: 'CodeDeployDefault.OneAtATime',
      ecsServices: [{ clusterName: 'main', serviceName: 'api' }],
    },
  });
  codeDeploy.on(GetDeploymentConfigCommand).resolves({
    deploymentConfigInfo: { minimumHealthyHosts: { type: 'FLEET_PERCENT', value: 99 } },
  });
  codeDeploy.on(ListDeploymentsCommand).resolves({ deployments: [] });
  codeDeploy.on(BatchGetDeploymentsCommand).resolves({ deploymentsInfo: [] });
  codeDeploy.on(CreateDeploymentCommand).resolves({ deploymentId: 'd-NEW' });
  ecs.on(DescribeServicesCommand).resolves({
    services: [{ serviceName: 'api', status: 'ACTIVE', taskDefinition: OLD_TD }],
  });
  ecs.on(DescribeTaskDefinitionCommand).resolves({
    taskDefinition: {
      taskDefinitionArn: OLD_TD,
      family: 'api',
      containerDefinitions: [
        { name: 'api', image: `${REPOSITORY}:old`, portMappings: [{ containerPort: 8080 }] },
      ],
    },
    tags: [],
  });
  ecs.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: NEW_TD } });
}

/** The active deployments ListDeployments and BatchGetDeployments answer. */
function active(...deployments: { id: string; description: string }[]) {
  codeDeploy.on(ListDeploymentsCommand).resolves({ deployments: deployments.map((d) => d.id) });
  codeDeploy.on(BatchGetDeploymentsCommand).resolves({
    deploymentsInfo: deployments.map((d) => ({ deploymentId: d.id, description: d.description })),
  });
}

function createdRevision() {
  return codeDeploy.commandCalls(CreateDeploymentCommand)[0]?.args[0].input.revision;
}

function sdkError(name: string, status: number): CodeDeployServiceException {
  return new CodeDeployServiceException({
    name,
    message: `${name} happened`,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

beforeEach(() => {
  codeDeploy.reset();
  ecs.reset();
});

describe('CodeDeployDeployer.startDeployment', () => {
  it('deploys a server group from the S3 bundle with the key in the description and no auto-rollback', async () => {
    // Prepare
    given();

    // Act
    const started = await deployer().startDeployment(request());

    // Assess
    expect(started).toEqual({ deploymentId: 'd-NEW' });
    expect(codeDeploy).toHaveReceivedCommandWith(ListDeploymentsCommand, {
      applicationName: 'api',
      deploymentGroupName: 'prod-1',
      createTimeRange: { start: new Date('2026-11-22T10:00:00.000Z'), end: NOW },
    });
    expect(codeDeploy).toHaveReceivedCommandExactlyOnceWith(CreateDeploymentCommand, {
      applicationName: 'api',
      deploymentGroupName: 'prod-1',
      revision: {
        revisionType: 'S3',
        s3Location: { bucket: BUCKET, key: BUNDLE.key, bundleType: 'zip' },
      },
      description: `Release Captain: api r7 to prod-1-api (normal) [key:${KEY}]`,
      autoRollbackConfiguration: { enabled: false, events: [] },
    });
  });

  it('checks the group and its configuration once per group', async () => {
    // Prepare
    given();
    const once = deployer();

    // Act
    await once.startDeployment(request());
    await once.startDeployment(request({ idempotencyKey: `${KEY}-2` }));

    // Assess
    expect(codeDeploy).toHaveReceivedCommandTimes(GetDeploymentGroupCommand, 1);
    expect(codeDeploy).toHaveReceivedCommandExactlyOnceWith(GetDeploymentConfigCommand, {
      deploymentConfigName: 'CodeDeployDefault.OneAtATime',
    });
    expect(codeDeploy).toHaveReceivedCommandTimes(CreateDeploymentCommand, 2);
  });

  it.each([
    { config: 'CodeDeployDefault.HalfAtATime', type: 'FLEET_PERCENT' as const, value: 50 },
    { config: 'CodeDeployDefault.AllAtOnce', type: 'HOST_COUNT' as const, value: 0 },
  ])('refuses $config ($type $value) for a server group', async ({ config, type, value }) => {
    // Prepare
    given();
    codeDeploy.on(GetDeploymentGroupCommand).resolves({
      deploymentGroupInfo: { computePlatform: 'Server', deploymentConfigName: config },
    });
    codeDeploy.on(GetDeploymentConfigCommand).resolves({
      deploymentConfigInfo: { minimumHealthyHosts: { type, value } },
    });

    // Act
    const attempt = deployer().startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(TerminalError);
    await expect(attempt).rejects.toThrow(
      `Deployment group api/prod-1 uses deployment configuration "${config}", whose minimum healthy hosts is ${type} ${value}`,
    );
    await expect(attempt).rejects.toThrow('CodeDeployDefault.OneAtATime');
    expect(codeDeploy).not.toHaveReceivedCommand(CreateDeploymentCommand);
  });

  it.each([
    { config: 'CodeDeployDefault.OneAtATime', type: 'MOST_CONCURRENCY' as const, value: 1 },
    { config: 'custom-two-thirds', type: 'FLEET_PERCENT' as const, value: 66 },
  ])('accepts $config ($type $value) for a server group', async ({ config, type, value }) => {
    given();
    codeDeploy.on(GetDeploymentGroupCommand).resolves({
      deploymentGroupInfo: { computePlatform: 'Server', deploymentConfigName: config },
    });
    codeDeploy.on(GetDeploymentConfigCommand).resolves({
      // The SDK's enum lacks MOST_CONCURRENCY, which the API returns for OneAtATime.
      deploymentConfigInfo: { minimumHealthyHosts: { type: type as never, value } },
    });

    await expect(deployer().startDeployment(request())).resolves.toEqual({ deploymentId: 'd-NEW' });
  });

  it('refuses a group whose platform differs from the target', async () => {
    // Prepare
    given('Lambda');

    // Act
    const attempt = deployer().startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(
      'Deployment group api/prod-1 deploys to Lambda, but target "prod-1-api" says platform "server"',
    );
  });

  it('deploys an ECS blue/green group with an AppSpec pinning a new task definition', async () => {
    // Prepare
    given('ECS');

    // Act
    await deployer().startDeployment(request({ target: groupTarget({ platform: 'ecs' }) }));

    // Assess
    expect(ecs).toHaveReceivedCommandWith(DescribeServicesCommand, {
      cluster: 'main',
      services: ['api'],
    });
    expect(ecs).toHaveReceivedCommandWith(RegisterTaskDefinitionCommand, {
      containerDefinitions: [
        { name: 'api', image: `${REPOSITORY}@${DIGEST}`, portMappings: [{ containerPort: 8080 }] },
      ],
      tags: expect.arrayContaining([{ key: IDEMPOTENCY_KEY_TAG, value: KEY }]),
    });
    const revision = createdRevision();
    const content = revision?.appSpecContent?.content ?? '';
    expect(revision?.revisionType).toBe('AppSpecContent');
    expect(revision?.appSpecContent?.sha256).toBe(
      createHash('sha256').update(content).digest('hex'),
    );
    expect(JSON.parse(content)).toEqual({
      version: 0,
      Resources: [
        {
          TargetService: {
            Type: 'AWS::ECS::Service',
            Properties: {
              TaskDefinition: NEW_TD,
              LoadBalancerInfo: { ContainerName: 'api', ContainerPort: 8080 },
            },
          },
        },
      ],
    });
    expect(codeDeploy).not.toHaveReceivedCommand(GetDeploymentConfigCommand);
  });

  it('asks for the container port when the container maps several', async () => {
    // Prepare
    given('ECS');
    ecs.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: {
        taskDefinitionArn: OLD_TD,
        family: 'api',
        containerDefinitions: [
          { name: 'api', portMappings: [{ containerPort: 8080 }, { containerPort: 9090 }] },
        ],
      },
    });

    // Act
    const attempt = deployer().startDeployment(
      request({ target: groupTarget({ platform: 'ecs' }) }),
    );

    // Assess
    await expect(attempt).rejects.toThrow(
      'Container "api" of target "prod-1-api" maps ports [8080, 9090]; the AppSpec needs the one the load balancer sends traffic to. Set deployment.containerPort.',
    );
    expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
  });

  it('refuses a blue/green task definition whose task role the target does not declare', async () => {
    // Prepare
    given('ECS');
    ecs.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: {
        taskDefinitionArn: OLD_TD,
        family: 'api',
        taskRoleArn: 'arn:aws:iam::123456789012:role/admin',
        containerDefinitions: [{ name: 'api', portMappings: [{ containerPort: 8080 }] }],
      },
    });

    // Act
    const attempt = deployer().startDeployment(
      request({ target: groupTarget({ platform: 'ecs', taskRole: 'api-task' }) }),
    );

    // Assess
    await expect(attempt).rejects.toThrow(
      'The task definition of target "prod-1-api" names taskRoleArn arn:aws:iam::123456789012:role/admin, not the taskRole the target declares (api-task)',
    );
    expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
  });

  it('shifts a Lambda alias to the version published from the zip', async () => {
    // Prepare
    given('Lambda');
    const published: unknown[] = [];
    const versions: LambdaVersionPublisher = {
      async publishVersion(_target, input) {
        published.push(input);
        return { currentVersion: '11', targetVersion: '12' };
      },
    };
    const lambda = groupTarget({ platform: 'lambda', functionName: 'api-handler', alias: 'live' });

    // Act
    await deployer(versions).startDeployment(request({ target: lambda }));

    // Assess
    expect(published).toEqual([
      { functionName: 'api-handler', alias: 'live', bucket: BUCKET, file: BUNDLE },
    ]);
    expect(JSON.parse(createdRevision()?.appSpecContent?.content ?? '')).toEqual({
      version: 0,
      Resources: [
        {
          TargetFunction: {
            Type: 'AWS::Lambda::Function',
            Properties: {
              Name: 'api-handler',
              Alias: 'live',
              CurrentVersion: '11',
              TargetVersion: '12',
            },
          },
        },
      ],
    });
  });

  it('refuses a Lambda group when no version publisher is wired', async () => {
    // Prepare
    given('Lambda');
    const lambda = groupTarget({ platform: 'lambda', functionName: 'api-handler', alias: 'live' });

    // Act
    const attempt = deployer().startDeployment(request({ target: lambda }));

    // Assess
    await expect(attempt).rejects.toThrow('Wire a LambdaVersionPublisher into CodeDeployDeployer');
    expect(codeDeploy).not.toHaveReceivedCommand(CreateDeploymentCommand);
  });

  it('returns the active deployment carrying the key instead of creating another', async () => {
    // Prepare
    given('ECS');
    active(
      { id: 'd-OTHER', description: `Release Captain: api r6 [key:${KEY}0]` },
      { id: 'd-OURS', description: `Release Captain: api r7 [key:${KEY}]` },
    );

    // Act
    const started = await deployer().startDeployment(
      request({ target: groupTarget({ platform: 'ecs' }) }),
    );

    // Assess
    expect(started).toEqual({ deploymentId: 'd-OURS' });
    expect(codeDeploy).toHaveReceivedCommandWith(BatchGetDeploymentsCommand, {
      deploymentIds: ['d-OTHER', 'd-OURS'],
    });
    expect(codeDeploy).not.toHaveReceivedCommand(CreateDeploymentCommand);
    expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
  });

  it('reads every page of active deployments, 25 at a time', async () => {
    // Prepare
    given();
    const ids = Array.from({ length: 30 }, (_, i) => `d-${i}`);
    codeDeploy
      .on(ListDeploymentsCommand)
      .resolvesOnce({ deployments: ids.slice(0, 20), nextToken: 'page-2' })
      .resolves({ deployments: ids.slice(20) });
    codeDeploy
      .on(BatchGetDeploymentsCommand)
      .resolvesOnce({ deploymentsInfo: [] })
      .resolves({ deploymentsInfo: [{ deploymentId: 'd-29', description: `[key:${KEY}]` }] });

    // Act
    const started = await deployer().startDeployment(request());

    // Assess
    expect(started).toEqual({ deploymentId: 'd-29' });
    expect(
      codeDeploy.commandCalls(ListDeploymentsCommand).map((call) => call.args[0].input.nextToken),
    ).toEqual([undefined, 'page-2']);
    expect(codeDeploy).toHaveReceivedCommandWith(BatchGetDeploymentsCommand, {
      deploymentIds: ids.slice(25),
    });
  });

  it('on DeploymentLimitExceeded returns our deployment when the active one carries the key', async () => {
    // Prepare
    given();
    codeDeploy
      .on(CreateDeploymentCommand)
      .rejects(new DeploymentLimitExceededException({ message: 'limit', $metadata: {} }));
    codeDeploy
      .on(ListDeploymentsCommand)
      .resolvesOnce({ deployments: [] })
      .resolves({ deployments: ['d-OURS'] });
    codeDeploy.on(BatchGetDeploymentsCommand).resolves({
      deploymentsInfo: [{ deploymentId: 'd-OURS', description: `[key:${KEY}]` }],
    });

    // Act
    const started = await deployer().startDeployment(request());

    // Assess
    expect(started).toEqual({ deploymentId: 'd-OURS' });
    expect(codeDeploy).toHaveReceivedCommandTimes(CreateDeploymentCommand, 1);
  });

  it('finds its own deployment on a retry even after it finished, and starts no second one', async () => {
    given();
    codeDeploy.on(ListDeploymentsCommand).resolves({ deployments: ['d-DONE'] });
    codeDeploy.on(BatchGetDeploymentsCommand).resolves({
      deploymentsInfo: [
        {
          deploymentId: 'd-DONE',
          description: `Release Captain: api r7 [key:${KEY}]`,
          status: 'Succeeded',
        },
      ],
    });

    const started = await deployer().startDeployment(request());

    expect(started).toEqual({ deploymentId: 'd-DONE' });
    expect(codeDeploy).not.toHaveReceivedCommand(CreateDeploymentCommand);
  });

  it('on DeploymentLimitExceeded asks for a retry naming the other active deployment', async () => {
    // Prepare
    given();
    codeDeploy
      .on(CreateDeploymentCommand)
      .rejects(new DeploymentLimitExceededException({ message: 'limit', $metadata: {} }));
    codeDeploy
      .on(ListDeploymentsCommand)
      .resolvesOnce({ deployments: [] })
      .resolves({ deployments: ['d-OTHER'] });
    codeDeploy.on(BatchGetDeploymentsCommand).resolves({
      deploymentsInfo: [
        { deploymentId: 'd-OTHER', description: 'a deployment by hand', status: 'InProgress' },
        { deploymentId: 'd-OLD', description: 'finished long ago', status: 'Succeeded' },
      ],
    });

    // Act
    const attempt = deployer().startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(RetryableError);
    await expect(attempt).rejects.toThrow(
      'another deployment (d-OTHER) is active there. Trying again once it ends',
    );
  });

  it.each([
    { name: 'ThrottlingException', status: 400, error: RetryableError },
    { name: 'AccessDeniedException', status: 400, error: TerminalError },
    { name: 'InvalidRevisionException', status: 400, error: TerminalError },
  ])('turns $name from CreateDeployment into $error.name', async ({ name, status, error }) => {
    // Prepare
    given();
    codeDeploy.on(CreateDeploymentCommand).rejects(sdkError(name, status));

    // Act
    const attempt = deployer().startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(error);
    await expect(attempt).rejects.toThrow(`CreateDeployment in group api/prod-1`);
  });

  it('reports a missing group as NotFoundError', async () => {
    // Prepare
    given();
    codeDeploy
      .on(GetDeploymentGroupCommand)
      .rejects(new DeploymentGroupDoesNotExistException({ message: 'no group', $metadata: {} }));

    // Act
    const attempt = deployer().startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(NotFoundError);
  });

  it('turns AccessDenied from GetDeploymentGroup into TerminalError with the fix', async () => {
    // Prepare
    given();
    codeDeploy.on(GetDeploymentGroupCommand).rejects(sdkError('AccessDeniedException', 403));

    // Act
    const attempt = deployer().startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(TerminalError);
    await expect(attempt).rejects.toThrow('deploy role trusts the control plane');
  });

  it.each([
    {
      problem: 'several files and none named',
      files: [BUNDLE, { ...BUNDLE, name: 'template' }],
      says: 'the release has several files ("bundle", "template"). Set deployment.file',
    },
    {
      problem: 'a file without its sha256',
      files: [{ ...BUNDLE, sha256: 'nope' }],
      says: 'sha256 "nope", expected a key and 64 hex digits',
    },
    { problem: 'no file', files: [], says: 'the release has no file to deploy' },
  ])('refuses $problem before calling AWS', async ({ files, says }) => {
    // Prepare
    const bad = request({
      release: release(7, { artifacts: { images: [], files, dependencies: [] } }),
    });

    // Act
    const attempt = deployer().startDeployment(bad);

    // Assess
    await expect(attempt).rejects.toThrow(TerminalError);
    await expect(attempt).rejects.toThrow(says);
    expect(codeDeploy).not.toHaveReceivedAnyCommand();
  });

  it('refuses an ECS group release whose image is not pinned by digest', async () => {
    // Prepare
    const images = [{ name: 'api', repository: REPOSITORY, digest: 'v1.2.3' }];
    const bad = request({
      target: groupTarget({ platform: 'ecs' }),
      release: release(7, { artifacts: { images, files: [], dependencies: [] } }),
    });

    // Act
    const attempt = deployer().startDeployment(bad);

    // Assess
    await expect(attempt).rejects.toThrow('has digest "v1.2.3", expected sha256:<64 hex digits>');
    expect(codeDeploy).not.toHaveReceivedAnyCommand();
  });
});

describe('CodeDeployDeployer.getDeployment', () => {
  it.each([
    { status: 'Succeeded', expected: { status: 'succeeded' } },
    {
      status: 'Failed',
      expected: { status: 'failed', reason: 'ApplicationStop failed on 2 hosts' },
    },
    {
      status: 'Stopped',
      expected: { status: 'failed', reason: 'ApplicationStop failed on 2 hosts' },
    },
    { status: 'InProgress', expected: { status: 'in-progress' } },
    { status: 'Created', expected: { status: 'in-progress' } },
    { status: 'Queued', expected: { status: 'in-progress' } },
    { status: 'Ready', expected: { status: 'in-progress' } },
    { status: 'Baking', expected: { status: 'in-progress' } },
  ])('maps $status to $expected.status', async ({ status, expected }) => {
    // Prepare
    codeDeploy.on(GetDeploymentCommand, { deploymentId: 'd-1' }).resolves({
      deploymentInfo: {
        status: status as CodeDeployStatus,
        errorInformation: { message: 'ApplicationStop failed on 2 hosts' },
      },
    });

    // Act
    const answer = await deployer().getDeployment(groupTarget(), 'd-1');

    // Assess
    expect(answer).toEqual(expected);
  });

  it('names the status when CodeDeploy gives no message', async () => {
    // Prepare
    codeDeploy.on(GetDeploymentCommand).resolves({ deploymentInfo: { status: 'Stopped' } });

    // Act
    const answer = await deployer().getDeployment(groupTarget(), 'd-1');

    // Assess
    expect(answer).toEqual({
      status: 'failed',
      reason: 'CodeDeploy reports the deployment Stopped',
    });
  });

  it.each([
    {
      error: new DeploymentDoesNotExistException({ message: 'gone', $metadata: {} }),
      expected: NotFoundError,
    },
    { error: sdkError('ThrottlingException', 400), expected: RetryableError },
    { error: sdkError('AccessDeniedException', 403), expected: TerminalError },
  ])('turns $error.name into $expected.name', async ({ error, expected }) => {
    // Prepare
    codeDeploy.on(GetDeploymentCommand).rejects(error);

    // Act
    const attempt = deployer().getDeployment(groupTarget(), 'd-1');

    // Assess
    await expect(attempt).rejects.toThrow(expected);
  });
});

describe('CodeDeployDeployer.stopDeployment', () => {
  it('stops without CodeDeploy rollback', async () => {
    // Prepare
    codeDeploy.on(StopDeploymentCommand).resolves({ status: 'Pending' });

    // Act
    await deployer().stopDeployment(groupTarget(), 'd-1');

    // Assess
    expect(codeDeploy).toHaveReceivedCommandExactlyOnceWith(StopDeploymentCommand, {
      deploymentId: 'd-1',
      autoRollbackEnabled: false,
    });
  });

  it('does nothing for a deployment that already ended', async () => {
    // Prepare
    codeDeploy
      .on(StopDeploymentCommand)
      .rejects(new DeploymentAlreadyCompletedException({ message: 'done', $metadata: {} }));

    // Act
    const attempt = deployer().stopDeployment(groupTarget(), 'd-1');

    // Assess
    await expect(attempt).resolves.toBe('stopping');
  });

  it('turns throttling into RetryableError', async () => {
    // Prepare
    codeDeploy.on(StopDeploymentCommand).rejects(sdkError('ThrottlingException', 400));

    // Act
    const attempt = deployer().stopDeployment(groupTarget(), 'd-1');

    // Assess
    await expect(attempt).rejects.toThrow(RetryableError);
  });
});

describe('CodeDeployDeployer.findDeployment', () => {
  it('finds the deployment started with a key among the group’s recent ones, or none', async () => {
    // Prepare
    active(
      { id: 'd-OTHER', description: `Release Captain: api r6 [key:${KEY}0]` },
      { id: 'd-OURS', description: `Release Captain: api r7 [key:${KEY}]` },
    );

    // Act
    const ours = await deployer().findDeployment(groupTarget(), KEY);
    const none = await deployer().findDeployment(groupTarget(), `${KEY}-never-started`);

    // Assess
    expect(ours).toBe('d-OURS');
    expect(none).toBeNull();
    expect(codeDeploy).not.toHaveReceivedCommand(CreateDeploymentCommand);
  });
});
