import {
  type ContainerDefinition,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ECSServiceException,
  type ECSClient as EcsClientType,
  RegisterTaskDefinitionCommand,
  type Service,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  EcsDeployer,
  IDEMPOTENCY_KEY_TAG,
  rollingDeploymentConfiguration,
} from '../../../../adapters/aws/ecs-deployer.js';
import type { TargetClients } from '../../../../adapters/aws/target-clients.js';
import {
  type DeploymentRequest,
  NotFoundError,
  RetryableError,
  type TargetDefinition,
  type TargetInput,
  TerminalError,
  targetSchema,
} from '../../../../core/index.js';
import { release, target } from '../../../support/fixtures.js';

expect.extend(allCustomMatcher);

const ecs = mockClient(ECSClient);
const DIGEST = `sha256:${'a'.repeat(64)}`;
const REPOSITORY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api';
const OLD_TD = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:42';
const NEW_TD = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:43';
const KEY = 'api-gamma-r7-1/gamma-api';

const clients: TargetClients = {
  ecs: () => new ECSClient({ region: 'eu-west-1' }) as EcsClientType,
  codeDeploy: () => {
    throw new Error('the ECS deployer must not use CodeDeploy');
  },
};
const deployer = new EcsDeployer({ clients });

function ecsTarget(
  deployment: Record<string, unknown> = {},
  overrides: Partial<TargetInput> = {},
): TargetDefinition {
  return targetSchema.parse(
    target('gamma-api', {
      deployment: {
        kind: 'ecs-service',
        cluster: 'main',
        service: 'api',
        // The execution role of taskDefinition(): declared, so the deploy role may pass it.
        executionRole: 'api-exec',
        ...deployment,
      },
      ...overrides,
    } as Partial<TargetInput>),
  );
}

function request(overrides: Partial<DeploymentRequest> = {}): DeploymentRequest {
  return {
    pipeline: 'api',
    target: ecsTarget(),
    release: release(7, {
      artifacts: {
        images: [{ name: 'api', repository: REPOSITORY, digest: DIGEST }],
        files: [],
        dependencies: [],
      },
    }),
    kind: 'normal',
    idempotencyKey: KEY,
    ...overrides,
  };
}

function service(overrides: Partial<Service> = {}): Service {
  return {
    serviceName: 'api',
    status: 'ACTIVE',
    desiredCount: 9,
    taskDefinition: OLD_TD,
    deploymentController: { type: 'ECS' },
    deployments: [{ id: 'ecs-svc/1', status: 'PRIMARY', taskDefinition: OLD_TD }],
    ...overrides,
  };
}

const API: ContainerDefinition = {
  name: 'api',
  image: `${REPOSITORY}:old`,
  cpu: 256,
  portMappings: [{ containerPort: 8080 }],
};
const ENVOY: ContainerDefinition = { name: 'envoy', image: 'envoy:v1.30', cpu: 64 };

function taskDefinition(containers: ContainerDefinition[] = [API]): TaskDefinition {
  return {
    taskDefinitionArn: OLD_TD,
    family: 'api',
    revision: 42,
    status: 'ACTIVE',
    networkMode: 'awsvpc',
    cpu: '512',
    memory: '1024',
    executionRoleArn: 'arn:aws:iam::123456789012:role/api-exec',
    containerDefinitions: containers,
    requiresCompatibilities: ['FARGATE'],
    compatibilities: ['EC2', 'FARGATE'],
    requiresAttributes: [{ name: 'ecs.capability.execution-role-awslogs' }],
    registeredAt: new Date('2026-11-01T00:00:00Z'),
    registeredBy: 'arn:aws:iam::123456789012:role/ci',
  };
}

/** A service whose PRIMARY runs OLD_TD; register answers NEW_TD; update makes NEW_TD primary. */
function given(options: { service?: Service; containers?: ContainerDefinition[] } = {}) {
  ecs.on(DescribeServicesCommand).resolves({ services: [options.service ?? service()] });
  ecs.on(DescribeTaskDefinitionCommand).resolves({
    taskDefinition: taskDefinition(options.containers),
    tags: [{ key: 'team', value: 'payments' }],
  });
  ecs.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: NEW_TD } });
  ecs.on(UpdateServiceCommand).resolves({
    service: service({
      deployments: [
        { id: 'ecs-svc/2', status: 'PRIMARY', taskDefinition: NEW_TD },
        { id: 'ecs-svc/1', status: 'ACTIVE', taskDefinition: OLD_TD },
      ],
    }),
  });
}

function sdkError(name: string, status: number): ECSServiceException {
  return new ECSServiceException({
    name,
    message: `${name} happened`,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

beforeEach(() => {
  ecs.reset();
});

describe('EcsDeployer.startDeployment', () => {
  it('registers a copy pinned by digest and tagged with the key, then updates the service', async () => {
    // Prepare
    given();

    // Act
    const started = await deployer.startDeployment(request());

    // Assess
    expect(started).toEqual({ deploymentId: 'ecs-svc/2' });
    expect(ecs).toHaveReceivedCommandWith(DescribeServicesCommand, {
      cluster: 'main',
      services: ['api'],
    });
    expect(ecs).toHaveReceivedCommandWith(DescribeTaskDefinitionCommand, {
      taskDefinition: OLD_TD,
      include: ['TAGS'],
    });
    const registered = ecs.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input;
    expect(registered).toEqual({
      family: 'api',
      networkMode: 'awsvpc',
      cpu: '512',
      memory: '1024',
      executionRoleArn: 'arn:aws:iam::123456789012:role/api-exec',
      requiresCompatibilities: ['FARGATE'],
      containerDefinitions: [{ ...API, image: `${REPOSITORY}@${DIGEST}` }],
      tags: [
        { key: 'team', value: 'payments' },
        { key: IDEMPOTENCY_KEY_TAG, value: KEY },
        { key: 'release-captain:pipeline', value: 'api' },
        { key: 'release-captain:release', value: 'r7' },
        { key: 'release-captain:kind', value: 'normal' },
      ],
    });
    expect(ecs).toHaveReceivedCommandExactlyOnceWith(UpdateServiceCommand, {
      cluster: 'main',
      service: 'api',
      taskDefinition: NEW_TD,
      deploymentConfiguration: {
        minimumHealthyPercent: 67,
        maximumPercent: 100,
        deploymentCircuitBreaker: { enable: true, rollback: false },
      },
    });
  });

  it.each([
    { kind: 'normal' as const, desiredCount: 10, minimumHealthyPercent: 80, maximumPercent: 100 },
    { kind: 'rollback' as const, desiredCount: 10, minimumHealthyPercent: 67, maximumPercent: 100 },
    { kind: 'normal' as const, desiredCount: 1, minimumHealthyPercent: 100, maximumPercent: 200 },
    { kind: 'rollback' as const, desiredCount: 2, minimumHealthyPercent: 100, maximumPercent: 150 },
  ])(
    'a $kind deployment of $desiredCount tasks uses $minimumHealthyPercent/$maximumPercent (batch 20%, rollback 33%)',
    async ({ kind, desiredCount, minimumHealthyPercent, maximumPercent }) => {
      // Prepare
      given({ service: service({ desiredCount }) });
      const target = ecsTarget({}, { batchPercent: 20, rollbackBatchPercent: 33 });

      // Act
      await deployer.startDeployment(request({ kind, target }));

      // Assess
      expect(ecs).toHaveReceivedCommandWith(UpdateServiceCommand, {
        deploymentConfiguration: {
          minimumHealthyPercent,
          maximumPercent,
          deploymentCircuitBreaker: { enable: true, rollback: false },
        },
      });
    },
  );

  it('returns the PRIMARY deployment when it already runs a task definition with this key', async () => {
    // Prepare
    given();
    const ours = {
      ...taskDefinition(),
      taskDefinitionArn: NEW_TD,
      containerDefinitions: [{ ...API, image: `${REPOSITORY}@${DIGEST}` }],
    };
    ecs
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [service()] })
      .resolves({
        services: [
          service({
            deployments: [{ id: 'ecs-svc/2', status: 'PRIMARY', taskDefinition: NEW_TD }],
          }),
        ],
      });
    ecs
      .on(DescribeTaskDefinitionCommand, { taskDefinition: NEW_TD })
      .resolves({ taskDefinition: ours, tags: [{ key: IDEMPOTENCY_KEY_TAG, value: KEY }] });

    // Act
    const first = await deployer.startDeployment(request());
    const retried = await deployer.startDeployment(request());

    // Assess
    expect(retried).toEqual(first);
    expect(ecs).toHaveReceivedCommandTimes(RegisterTaskDefinitionCommand, 1);
    expect(ecs).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
  });

  it('deploys again when the PRIMARY carries another key', async () => {
    // Prepare
    given();
    ecs.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: taskDefinition(),
      tags: [{ key: IDEMPOTENCY_KEY_TAG, value: 'api-gamma-r6-1/gamma-api' }],
    });

    // Act
    await deployer.startDeployment(request());

    // Assess: the old key is replaced, not kept beside ours
    const tags = ecs.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input.tags;
    expect(tags?.filter((tag) => tag.key === IDEMPOTENCY_KEY_TAG)).toEqual([
      { key: IDEMPOTENCY_KEY_TAG, value: KEY },
    ]);
    expect(ecs).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
  });

  it('refuses a task definition with several containers when none is named, naming them', async () => {
    // Prepare
    given({ containers: [API, ENVOY] });

    // Act
    const attempt = deployer.startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(TerminalError);
    await expect(attempt).rejects.toThrow(
      `Task definition ${OLD_TD} of target "gamma-api" has 2 containers ("api", "envoy"). Set deployment.container to the one that runs the release's image.`,
    );
    expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
  });

  it.each([
    {
      name: 'an execution role the target does not declare',
      deployment: { executionRole: null },
      message:
        'The task definition of target "gamma-api" names executionRoleArn arn:aws:iam::123456789012:role/api-exec, but the target declares no executionRole; the deploy role may pass only declared roles. Set executionRole: \'api-exec\' on the target',
    },
    {
      name: 'another execution role than the declared one',
      deployment: { executionRole: 'api-exec-old' },
      message:
        'names executionRoleArn arn:aws:iam::123456789012:role/api-exec, not the executionRole the target declares (api-exec-old)',
    },
    {
      name: 'a declared role in another account',
      deployment: { executionRole: 'arn:aws:iam::999999999999:role/api-exec' },
      message:
        'not the executionRole the target declares (arn:aws:iam::999999999999:role/api-exec)',
    },
  ])('refuses, before registering anything, $name', async ({ deployment, message }) => {
    given();

    const attempt = deployer.startDeployment(request({ target: ecsTarget(deployment) }));

    await expect(attempt).rejects.toThrow(TerminalError);
    await expect(attempt).rejects.toThrow(message);
    expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
  });

  it('passes a declared role given by its ARN', async () => {
    given();

    await deployer.startDeployment(
      request({
        target: ecsTarget({ executionRole: 'arn:aws:iam::123456789012:role/api-exec' }),
      }),
    );

    expect(ecs).toHaveReceivedCommandWith(RegisterTaskDefinitionCommand, {
      executionRoleArn: 'arn:aws:iam::123456789012:role/api-exec',
    });
  });

  it('changes only the named container', async () => {
    // Prepare
    given({ containers: [ENVOY, API] });

    // Act
    await deployer.startDeployment(request({ target: ecsTarget({ container: 'api' }) }));

    // Assess
    expect(ecs).toHaveReceivedCommandWith(RegisterTaskDefinitionCommand, {
      containerDefinitions: [ENVOY, { ...API, image: `${REPOSITORY}@${DIGEST}` }],
    });
  });

  it('refuses a container name the task definition does not have', async () => {
    // Prepare
    given({ containers: [API, ENVOY] });

    // Act
    const attempt = deployer.startDeployment(request({ target: ecsTarget({ container: 'web' }) }));

    // Assess
    await expect(attempt).rejects.toThrow(
      'has no container "web"; its containers are "api", "envoy". Set deployment.container',
    );
  });

  it.each([
    { problem: 'a tag for a digest', image: { digest: 'latest' }, says: 'has digest "latest"' },
    {
      problem: 'a short digest',
      image: { digest: 'sha256:abc' },
      says: 'expected sha256:<64 hex digits>',
    },
    {
      problem: 'a tagged repository',
      image: { repository: `${REPOSITORY}:v1` },
      says: 'expected a repository without tag or digest',
    },
  ])('refuses $problem before calling ECS', async ({ image, says }) => {
    // Prepare
    const images = [{ name: 'api', repository: REPOSITORY, digest: DIGEST, ...image }];
    const bad = request({
      release: release(7, { artifacts: { images, files: [], dependencies: [] } }),
    });

    // Act
    const attempt = deployer.startDeployment(bad);

    // Assess
    await expect(attempt).rejects.toThrow(TerminalError);
    await expect(attempt).rejects.toThrow(says);
    expect(ecs).not.toHaveReceivedAnyCommand();
  });

  it.each([
    { image: null, says: 'the release has several images ("api", "worker"). Set deployment.image' },
    {
      image: 'web',
      says: 'deployment.image is "web", but the release\'s images are "api", "worker"',
    },
  ])('refuses an unclear image choice ($image)', async ({ image, says }) => {
    // Prepare
    const images = [
      { name: 'api', repository: REPOSITORY, digest: DIGEST },
      { name: 'worker', repository: `${REPOSITORY}-worker`, digest: DIGEST },
    ];
    const ambiguous = request({
      target: ecsTarget({ image }),
      release: release(7, { artifacts: { images, files: [], dependencies: [] } }),
    });

    // Act
    const attempt = deployer.startDeployment(ambiguous);

    // Assess
    await expect(attempt).rejects.toThrow(says);
  });

  it('runs the named image of several', async () => {
    // Prepare
    given();
    const images = [
      { name: 'api', repository: REPOSITORY, digest: DIGEST },
      { name: 'worker', repository: `${REPOSITORY}-worker`, digest: `sha256:${'b'.repeat(64)}` },
    ];

    // Act
    await deployer.startDeployment(
      request({
        target: ecsTarget({ image: 'worker' }),
        release: release(7, { artifacts: { images, files: [], dependencies: [] } }),
      }),
    );

    // Assess
    expect(ecs).toHaveReceivedCommandWith(RegisterTaskDefinitionCommand, {
      containerDefinitions: [{ ...API, image: `${REPOSITORY}-worker@sha256:${'b'.repeat(64)}` }],
    });
  });

  it.each([
    {
      call: 'UpdateService',
      command: UpdateServiceCommand,
      name: 'ThrottlingException',
      status: 400,
      error: RetryableError,
    },
    {
      call: 'DescribeServices',
      command: DescribeServicesCommand,
      name: 'AccessDeniedException',
      status: 400,
      error: TerminalError,
    },
    {
      call: 'RegisterTaskDefinition',
      command: RegisterTaskDefinitionCommand,
      name: 'ServerException',
      status: 500,
      error: RetryableError,
    },
  ])('turns $name from $call into $error.name', async ({ command, name, status, error }) => {
    // Prepare
    given();
    ecs.on(command as typeof UpdateServiceCommand).rejects(sdkError(name, status));

    // Act
    const attempt = deployer.startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(error);
    await expect(attempt).rejects.toThrow(`${name} happened`);
  });

  it('reports a missing service as NotFoundError', async () => {
    // Prepare
    ecs.on(DescribeServicesCommand).resolves({ services: [], failures: [{ reason: 'MISSING' }] });

    // Act
    const attempt = deployer.startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(NotFoundError);
    await expect(attempt).rejects.toThrow('ECS service "api" does not exist in cluster "main"');
  });

  it('refuses a service that CodeDeploy deploys', async () => {
    // Prepare
    given({ service: service({ deploymentController: { type: 'CODE_DEPLOY' } }) });

    // Act
    const attempt = deployer.startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow('uses the CODE_DEPLOY deployment controller');
    expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
  });

  it('asks for a retry when the update answers without the new PRIMARY deployment', async () => {
    // Prepare
    given();
    ecs.on(UpdateServiceCommand).resolves({ service: service() });

    // Act
    const attempt = deployer.startDeployment(request());

    // Assess
    await expect(attempt).rejects.toThrow(RetryableError);
  });

  it('refuses a target of another kind', async () => {
    // Prepare
    const local = targetSchema.parse(target('gamma-api'));

    // Act
    const attempt = deployer.startDeployment(request({ target: local }));

    // Assess
    await expect(attempt).rejects.toThrow('is a local-fleet, not an ecs-service');
  });
});

describe('EcsDeployer.getDeployment', () => {
  it.each([
    { rolloutState: 'COMPLETED' as const, expected: { status: 'succeeded' } },
    { rolloutState: 'IN_PROGRESS' as const, expected: { status: 'in-progress' } },
    {
      rolloutState: 'FAILED' as const,
      expected: {
        status: 'failed',
        reason: 'ECS deployment circuit breaker: tasks failed to start.',
      },
    },
  ])('maps $rolloutState to $expected.status', async ({ rolloutState, expected }) => {
    // Prepare
    ecs.on(DescribeServicesCommand).resolves({
      services: [
        service({
          deployments: [
            {
              id: 'ecs-svc/2',
              status: 'PRIMARY',
              rolloutState,
              rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
            },
          ],
        }),
      ],
    });

    // Act
    const status = await deployer.getDeployment(ecsTarget(), 'ecs-svc/2');

    // Assess
    expect(status).toEqual(expected);
  });

  it.each([
    {
      case: 'no longer listed',
      deployments: [{ id: 'ecs-svc/3', status: 'PRIMARY', rolloutState: 'IN_PROGRESS' }],
    },
    {
      case: 'still draining behind a newer PRIMARY',
      deployments: [
        { id: 'ecs-svc/3', status: 'PRIMARY', rolloutState: 'IN_PROGRESS' },
        { id: 'ecs-svc/2', status: 'ACTIVE', rolloutState: 'IN_PROGRESS' },
      ],
    },
  ])('reports a deployment $case as replaced', async ({ deployments }) => {
    // Prepare
    ecs
      .on(DescribeServicesCommand)
      .resolves({ services: [service({ deployments: deployments as Service['deployments'] })] });

    // Act
    const status = await deployer.getDeployment(ecsTarget(), 'ecs-svc/2');

    // Assess
    expect(status).toEqual({ status: 'failed', reason: 'replaced by ecs-svc/3' });
  });

  it('keeps a completed deployment succeeded after a newer one started', async () => {
    // Prepare
    ecs.on(DescribeServicesCommand).resolves({
      services: [
        service({
          deployments: [
            { id: 'ecs-svc/3', status: 'PRIMARY', rolloutState: 'IN_PROGRESS' },
            { id: 'ecs-svc/2', status: 'ACTIVE', rolloutState: 'COMPLETED' },
          ],
        }),
      ],
    });

    // Act
    const status = await deployer.getDeployment(ecsTarget(), 'ecs-svc/2');

    // Assess
    expect(status).toEqual({ status: 'succeeded' });
  });

  it('reports NotFoundError when neither the deployment nor a PRIMARY is listed', async () => {
    // Prepare
    ecs.on(DescribeServicesCommand).resolves({ services: [service({ deployments: [] })] });

    // Act
    const attempt = deployer.getDeployment(ecsTarget(), 'ecs-svc/2');

    // Assess
    await expect(attempt).rejects.toThrow(NotFoundError);
  });

  it('turns throttling into RetryableError', async () => {
    // Prepare
    ecs.on(DescribeServicesCommand).rejects(sdkError('ThrottlingException', 400));

    // Act
    const attempt = deployer.getDeployment(ecsTarget(), 'ecs-svc/2');

    // Assess
    await expect(attempt).rejects.toThrow(RetryableError);
  });
});

describe('rollingDeploymentConfiguration', () => {
  it.each([
    { count: 10, batch: 33, min: 67, max: 100 },
    { count: 100, batch: 5, min: 95, max: 100 },
    { count: 4, batch: 33, min: 67, max: 100 },
    { count: 3, batch: 33, min: 100, max: 134 },
    { count: 2, batch: 33, min: 100, max: 150 },
    { count: 1, batch: 33, min: 100, max: 200 },
    { count: 0, batch: 33, min: 67, max: 100 },
  ])('$count tasks at $batch% → $min/$max', ({ count, batch, min, max }) => {
    expect(rollingDeploymentConfiguration(count, batch)).toEqual({
      minimumHealthyPercent: min,
      maximumPercent: max,
    });
  });

  it('keeps ≥ 66% healthy, takes out at most the batch, and always makes progress', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 33 }), (n, b) => {
        const { minimumHealthyPercent, maximumPercent } = rollingDeploymentConfiguration(n, b);
        // ECS rounds the healthy floor up and the ceiling down.
        const healthy = Math.ceil((n * minimumHealthyPercent) / 100);
        const ceiling = Math.floor((n * maximumPercent) / 100);
        expect(minimumHealthyPercent).toBeGreaterThanOrEqual(66);
        expect(n - healthy).toBeLessThanOrEqual((n * b) / 100);
        expect(ceiling - healthy).toBeGreaterThanOrEqual(1);
      }),
    );
  });
});
