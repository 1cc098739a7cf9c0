import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECRClient } from '@aws-sdk/client-ecr';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AwsArtifactVerifier } from '../../adapters/aws/aws-artifact-verifier.js';
import { CloudWatchAlarmMonitor } from '../../adapters/aws/cloudwatch-alarm-monitor.js';
import { CloudWatchMetricSource } from '../../adapters/aws/cloudwatch-metric-source.js';
import { CodeDeployDeployer } from '../../adapters/aws/codedeploy-deployer.js';
import { RoutingDeployer } from '../../adapters/aws/deployers.js';
import { DynamoDbAuditLog, DynamoDbDeploymentLog } from '../../adapters/aws/dynamodb-logs.js';
import { DynamoDbPromotionStore } from '../../adapters/aws/dynamodb-promotion-store.js';
import { DynamoDbReleaseStore } from '../../adapters/aws/dynamodb-release-store.js';
import { DynamoDbWakeRegistry } from '../../adapters/aws/dynamodb-wake-registry.js';
import { EcrImageVerifier } from '../../adapters/aws/ecr-image-verifier.js';
import { EcsDeployer } from '../../adapters/aws/ecs-deployer.js';
import { EventBridgePublisher } from '../../adapters/aws/eventbridge-publisher.js';
import {
  type Place,
  RegionalAlarmMonitor,
  RegionalMetricSource,
} from '../../adapters/aws/regional-cloudwatch.js';
import { S3ArtifactStore } from '../../adapters/aws/s3-artifact-store.js';
import {
  StepFunctionsTaskTokens,
  StepFunctionsWorkflowStarter,
} from '../../adapters/aws/step-functions.js';
import { CachedTargetClients } from '../../adapters/aws/target-clients.js';
import {
  type AuditLog,
  type Clock,
  type DeploymentLog,
  type DriverPorts,
  PromotionService,
  parsePipelineDefinition,
  TerminalError,
  Topology,
  VerifyingDeployer,
} from '../../core/index.js';
import type { HandlerDeps } from './deps.js';
import { executionInput } from './inputs.js';
import { tracer } from './step-handler.js';

/** The settings the CDK app passes to every handler. */
interface Settings {
  readonly tableName: string;
  readonly eventBusName: string;
  readonly stageStateMachineArn: string;
  readonly artifactBucket: string;
  readonly deployRoleName: string;
  readonly definitionsDir: string;
}

function settings(env: NodeJS.ProcessEnv): Settings {
  const required = (key: string): string => {
    const value = env[key];
    if (value === undefined || value === '') {
      throw new TerminalError(
        `The handler's environment lacks ${key}; it is set by the Release Captain CDK app. Deploy with \`npx cdk deploy\`.`,
      );
    }
    return value;
  };
  return {
    tableName: required('TABLE_NAME'),
    eventBusName: required('EVENT_BUS_NAME'),
    stageStateMachineArn: required('STAGE_STATE_MACHINE_ARN'),
    artifactBucket: required('ARTIFACT_BUCKET'),
    deployRoleName: env.DEPLOY_ROLE_NAME ?? 'release-captain-deployer',
    definitionsDir: env.PIPELINE_DEFINITIONS_DIR ?? join(env.LAMBDA_TASK_ROOT ?? '.', 'pipelines'),
  };
}

const clock: Clock = { now: () => new Date() };

/**
 * The AWS wiring of the handlers, built once per Lambda execution environment on the first
 * invocation (module scope, so warm invocations reuse clients and connections). Pipeline
 * definitions are JSON files bundled with the function (`pipelines/<name>.json`), rendered
 * by the CDK app from the same definitions the teams write.
 */
function createAwsDeps(env: NodeJS.ProcessEnv): AwsDeps {
  const config = settings(env);
  const documents = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const cloudWatch = tracer.captureAWSv3Client(new CloudWatchClient({}));
  const sfn = tracer.captureAWSv3Client(new SFNClient({}));
  const targets = new CachedTargetClients({
    credentialsFor: (account) =>
      fromTemporaryCredentials({
        params: {
          RoleArn: `arn:aws:iam::${account}:role/${config.deployRoleName}`,
          RoleSessionName: 'release-captain',
        },
      }),
  });
  const ecr = new Map<string, ECRClient>();
  const ecrIn = (region: string | undefined) => {
    const key = region ?? 'home';
    let client = ecr.get(key);
    if (client === undefined) {
      client = tracer.captureAWSv3Client(new ECRClient(region === undefined ? {} : { region }));
      ecr.set(key, client);
    }
    return client;
  };
  const artifacts = new S3ArtifactStore(
    tracer.captureAWSv3Client(new S3Client({})),
    config.artifactBucket,
  );
  const deployer = new VerifyingDeployer(
    new RoutingDeployer({
      ecs: new EcsDeployer({ clients: targets }),
      codeDeploy: new CodeDeployDeployer({
        clients: targets,
        artifactBucket: config.artifactBucket,
      }),
    }),
    new AwsArtifactVerifier(new EcrImageVerifier(ecrIn), artifacts),
  );
  const stores = {
    promotions: new DynamoDbPromotionStore(documents, config.tableName),
    releases: new DynamoDbReleaseStore(documents, config.tableName),
    deployments: new DynamoDbDeploymentLog(documents, config.tableName),
    audit: new DynamoDbAuditLog(documents, config.tableName),
  };
  const events = new EventBridgePublisher(
    tracer.captureAWSv3Client(new EventBridgeClient({})),
    config.eventBusName,
  );
  // Alarms and metrics live in each target's account and Region; organisation-wide alarms
  // in the control plane's own.
  const clientAt = (topology: Topology, place: Place) =>
    place === 'home' ? cloudWatch : targets.cloudWatch(targetAt(topology, place));
  const drivers = new Map<string, Promise<DriverPorts>>();

  const load = async (pipeline: string): Promise<DriverPorts> => {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(pipeline)) {
      throw new TerminalError(
        `"${pipeline}" is not a pipeline name (lower-case letters, digits and dashes).`,
      );
    }
    const file = join(config.definitionsDir, `${pipeline}.json`);
    const text = await readFile(file, 'utf8').catch((error: unknown) => {
      throw new TerminalError(
        `No definition of pipeline ${pipeline} at ${file}; is it part of the deployed app?`,
        { cause: error },
      );
    });
    const topology = new Topology(parsePipelineDefinition(JSON.parse(text)));
    const workflows = new StepFunctionsWorkflowStarter(
      sfn,
      () => config.stageStateMachineArn,
      (name, run) => executionInput(topology, name, run),
    );
    const service = new PromotionService(topology, { ...stores, events, workflows, clock });
    const alarms = new RegionalAlarmMonitor(
      topology,
      (place) => new CloudWatchAlarmMonitor({ client: clientAt(topology, place) }),
    );
    const metrics = new RegionalMetricSource(
      (place) => new CloudWatchMetricSource({ client: clientAt(topology, place) }),
    );
    return { service, releases: stores.releases, deployer, alarms, metrics, clock };
  };

  const region = config.stageStateMachineArn.split(':')[3] ?? '';
  let names: string[] | undefined;
  return {
    // The bundle's definitions do not change while the function lives: listed once.
    pipelines: () => {
      names ??= readdirSync(config.definitionsDir)
        .filter((file) => file.endsWith('.json'))
        .map((file) => file.slice(0, -'.json'.length))
        .sort();
      return names;
    },
    logs: { deployments: stores.deployments, audit: stores.audit },
    executionLink: (execution) => {
      const [arn, name] = [config.stageStateMachineArn.split(':'), execution];
      const executionArn = [...arn.slice(0, 5), 'execution', arn[6], name].join(':');
      return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
    },
    driver: (pipeline) => {
      let ports = drivers.get(pipeline);
      if (ports === undefined) {
        ports = load(pipeline);
        drivers.set(pipeline, ports);
        ports.catch(() => drivers.delete(pipeline));
      }
      return ports;
    },
    wakes: new DynamoDbWakeRegistry(documents, config.tableName),
    tokens: new StepFunctionsTaskTokens(sfn),
    clock,
  };
}

/** Some target of the pipeline at that place: CloudWatch clients are built per target. */
function targetAt(topology: Topology, place: { account: string; region: string }) {
  const target = topology.definition.stages
    .flatMap((stage) => stage.targets)
    .find((t) => t.account === place.account && t.region === place.region);
  if (target === undefined) {
    throw new TerminalError(
      `Pipeline ${topology.pipeline} has no target in ${place.account}/${place.region}.`,
    );
  }
  return target;
}

/** Besides the handlers' deps, what the operator API reads: the pipelines, the logs, console links. */
export interface AwsDeps extends HandlerDeps {
  pipelines(): string[];
  readonly logs: { readonly deployments: DeploymentLog; readonly audit: AuditLog };
  executionLink(execution: string): string;
}

let deps: AwsDeps | undefined;

/** The handlers' deps on Lambda: created on first use, then reused by warm invocations. */
export async function awsDeps(): Promise<AwsDeps> {
  deps ??= createAwsDeps(process.env);
  return deps;
}
