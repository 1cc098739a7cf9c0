import { ArnFormat, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { PipelineDefinition, TargetDefinition } from '../core/index.js';
import { AWS_WAKE_EVENTS, wakePattern } from '../functions/lib/wake-events.js';

export interface DeployRoleStackProps extends StackProps {
  /** The tooling account where the control plane runs; only its advance-target role may assume this role. */
  readonly controlPlaneAccount: string;
  /** The control plane's Region: deployment and alarm events are forwarded to its default bus. */
  readonly controlPlaneRegion: string;
  /**
   * The control plane's stack name: its advance-target and advance-stage roles are named
   * after it, and only they may assume the deploy role.
   * @default 'ReleaseCaptain'
   */
  readonly controlPlaneStackName?: string;
  /** The pipelines whose targets in this stack's account the role may deploy. */
  readonly pipelines: readonly PipelineDefinition[];
  /**
   * The role's name, the same in every target account.
   * @default 'release-captain-deployer'
   */
  readonly roleName?: string;
}

/**
 * What one target account needs so the control plane can deploy there: the deploy role
 * (assumable only by the control plane's account, allowed to deploy only this account's
 * targets of the given pipelines, and to read their alarms and metrics), and a rule that
 * forwards the Region's deployment and alarm events to the control plane, so waiting
 * workflows wake at once instead of at their backstop look. Deploy one per target account
 * and Region (`env`).
 *
 * @example
 * new DeployRoleStack(app, 'CaptainDeployRole-prod-use1', {
 *   env: { account: '222222222222', region: 'us-east-1' },
 *   controlPlaneAccount: '111111111111', controlPlaneRegion: 'eu-west-1',
 *   pipelines: [new ApiPipeline().definition()],
 * });
 */
export class DeployRoleStack extends Stack {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: DeployRoleStackProps) {
    super(scope, id, props);
    if (!/^\d{12}$/.test(props.controlPlaneAccount)) {
      throw new Error(
        `controlPlaneAccount must be a 12-digit AWS account id, got "${props.controlPlaneAccount}".`,
      );
    }
    const account = this.account;
    const mine = props.pipelines
      .flatMap((p) => p.stages.flatMap((s) => s.targets))
      .filter((t) => t.account === account && t.region === this.region);
    if (mine.length === 0) {
      throw new Error(
        `No target of the given pipelines lives in ${account}/${this.region}; deploy this stack only where targets are, or check the targets' account and region.`,
      );
    }

    this.role = new iam.Role(this, 'DeployRole', {
      roleName: props.roleName ?? 'release-captain-deployer',
      description: "Assumed by the Release Captain control plane to deploy this account's targets",
      // The account principal with a condition, not the roles themselves: IAM refuses a trust
      // policy naming roles that do not exist yet, and this stack may deploy first.
      assumedBy: new iam.ArnPrincipal(
        `arn:${this.partition}:iam::${props.controlPlaneAccount}:root`,
      ).withConditions({
        ArnEquals: {
          'aws:PrincipalArn': deployingRoleNames(
            props.controlPlaneStackName ?? 'ReleaseCaptain',
          ).map((name) => `arn:${this.partition}:iam::${props.controlPlaneAccount}:role/${name}`),
        },
      }),
    });
    this.#ecs(mine);
    this.#codeDeploy(mine);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'cloudwatch:DescribeAlarms',
          'cloudwatch:DescribeAlarmHistory',
          'cloudwatch:GetMetricData',
        ],
        resources: ['*'],
      }),
    );

    new events.Rule(this, 'ForwardToControlPlane', {
      description:
        'Forwards deployment and alarm state changes to the Release Captain control plane',
      eventPattern: wakePattern(AWS_WAKE_EVENTS),
      targets: [
        new targets.EventBus(
          events.EventBus.fromEventBusArn(
            this,
            'ControlPlaneBus',
            `arn:${this.partition}:events:${props.controlPlaneRegion}:${props.controlPlaneAccount}:event-bus/default`,
          ),
        ),
      ],
    });

    NagSuppressions.addResourceSuppressions(
      this.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'CloudWatch reads and task-definition registration take no resource; ECS services and deployment groups named by targets are scoped to them; a CodeDeploy blue/green group names its ECS service only at run time, so DescribeServices covers the services of this account and Region. PassRole is scoped to the task and execution roles the targets declare.',
          appliesTo: [
            'Resource::*',
            { regex: '/^Resource::arn:<AWS::Partition>:ecs:.*:service\\/\\*$/g' },
          ],
        },
      ],
      true,
    );
  }

  /**
   * ECS: rolling services are updated, and both they and CodeDeploy blue/green groups get
   * a copy of their task definition with the new image, which passes the task's roles:
   * only the roles the targets declare may be passed, and only to ECS tasks.
   */
  #ecs(mine: readonly TargetDefinition[]): void {
    const services = mine.flatMap((t) =>
      t.deployment.kind === 'ecs-service'
        ? [
            this.formatArn({
              service: 'ecs',
              resource: 'service',
              resourceName: `${clusterName(t.deployment.cluster)}/${t.deployment.service}`,
            }),
          ]
        : [],
    );
    const blueGreen = mine.filter(
      (t) => t.deployment.kind === 'codedeploy-group' && t.deployment.platform === 'ecs',
    );
    if (services.length > 0) {
      this.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
          resources: [...new Set(services)],
        }),
      );
    }
    if (blueGreen.length > 0) {
      // The group names its service; the deployer reads it to copy its task definition.
      this.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['ecs:DescribeServices'],
          resources: [this.formatArn({ service: 'ecs', resource: 'service', resourceName: '*' })],
        }),
      );
    }
    const withTasks = mine.filter((t) => t.deployment.kind === 'ecs-service').concat(blueGreen);
    if (withTasks.length === 0) return;
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition', 'ecs:TagResource'],
        resources: ['*'],
      }),
    );
    const roles = [...new Set(withTasks.flatMap((t) => declaredRoles(t)))].map((role) =>
      role.startsWith('arn:')
        ? role
        : this.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: role }),
    );
    if (roles.length === 0) return;
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: roles,
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
  }

  #codeDeploy(mine: readonly TargetDefinition[]): void {
    const groups = mine.flatMap((t) =>
      t.deployment.kind === 'codedeploy-group'
        ? [
            this.formatArn({
              service: 'codedeploy',
              resource: 'deploymentgroup',
              resourceName: `${t.deployment.application}/${t.deployment.deploymentGroup}`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ]
        : [],
    );
    if (groups.length === 0) return;
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'codedeploy:CreateDeployment',
          'codedeploy:GetDeploymentGroup',
          'codedeploy:ListDeployments',
        ],
        resources: [...new Set(groups)],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'codedeploy:GetDeployment',
          'codedeploy:BatchGetDeployments',
          'codedeploy:StopDeployment',
          'codedeploy:GetDeploymentConfig',
          'codedeploy:GetApplicationRevision',
          'codedeploy:RegisterApplicationRevision',
        ],
        resources: ['*'],
      }),
    );
  }
}

/** The task and execution roles an ECS or blue/green target declares, by name or ARN. */
function declaredRoles(target: TargetDefinition): string[] {
  const d = target.deployment;
  if (d.kind === 'ecs-service' || (d.kind === 'codedeploy-group' && d.platform === 'ecs')) {
    return [d.taskRole, d.executionRole].filter((role): role is string => role !== null);
  }
  return [];
}

/** An ECS cluster is named by name or ARN in a target; IAM needs the name. */
function clusterName(cluster: string): string {
  return cluster.includes('/') ? (cluster.split('/').at(-1) as string) : cluster;
}

/**
 * The names of the control plane roles that assume deploy roles: advance-target deploys,
 * advance-stage reads the targets' alarms and metrics during bakes.
 */
export function deployingRoleNames(controlPlaneStackName: string): string[] {
  return [`${controlPlaneStackName}-advance-target`, `${controlPlaneStackName}-advance-stage`];
}
