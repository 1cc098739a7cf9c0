import { IANAZone } from 'luxon';
import { z } from 'zod';

/**
 * The schema of a pipeline definition. A definition is plain JSON: CDK renders it into
 * resources, the state machines and the local runtime read it. Every rule that concerns
 * one field lives here with a message that names what was expected; rules that relate
 * fields to each other live in `validate.ts`.
 */

const expect = (what: string) => ({ error: `expected ${what}` });

const wholeNumber = (min: number, max?: number) => {
  const what =
    max === undefined ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`;
  const base = z.number(expect(what)).int(expect(what)).min(min, expect(what));
  return max === undefined ? base : base.max(max, expect(what));
};

const text = (what: string) => z.string(expect(what)).min(1, expect(what));

/** Names end up in execution names (`<pipeline>-<stage>-r<N>-<attempt>`, at most 80 characters). */
const name = (max: number) =>
  z
    .string(expect(`a name of lower-case letters, digits and dashes (at most ${max})`))
    .regex(
      new RegExp(`^[a-z][a-z0-9-]{0,${max - 1}}$`),
      expect(
        `a name of lower-case letters, digits and dashes that starts with a letter (at most ${max})`,
      ),
    );

export const PIPELINE_NAME_MAX = 24;
export const STAGE_NAME_MAX = 40;

const timeZone = z
  .string(expect('an IANA time zone such as "Europe/Dublin"'))
  .refine(
    (zone) => IANAZone.isValidZone(zone),
    expect('an IANA time zone such as "Europe/Dublin"'),
  );

const weekday = z.enum(
  ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
  expect('a weekday: mon, tue, wed, thu, fri, sat or sun'),
);
export type Weekday = z.infer<typeof weekday>;

const clockTime = z
  .string(expect('a time of day as HH:MM (24-hour)'))
  .regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, expect('a time of day as HH:MM (24-hour)'));

const isoDate = z
  .string(expect('a date as YYYY-MM-DD'))
  .regex(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, expect('a date as YYYY-MM-DD'));

const isoInstant = z.iso.datetime({
  offset: true,
  error: 'expected an ISO-8601 instant such as "2026-12-21T00:00:00Z"',
});

const allowWindow = z
  .strictObject({
    days: z.array(weekday, expect('a list of weekdays')).min(1, expect('at least one weekday')),
    start: clockTime,
    end: clockTime,
  })
  .refine((window) => window.start < window.end, {
    error:
      'expected start before end on the same day (split a window that crosses midnight in two)',
    path: ['end'],
  });

const denyRange = z
  .strictObject({ from: isoInstant, to: isoInstant, reason: text('a reason') })
  .refine((range) => Date.parse(range.from) < Date.parse(range.to), {
    error: 'expected "to" after "from"',
    path: ['to'],
  });

/**
 * When a deployment may *start*, in local time. Nights, weekends, Fridays, late afternoons
 * and holidays are usually left out: oncall engineers take longer to engage then.
 */
export const timeWindowSchema = z.strictObject({
  /** Weekly windows during which a deployment may start. */
  allow: z
    .array(allowWindow, expect('a list of allow windows'))
    .min(1, expect('at least one allow window (use `timeWindow: null` for "always open")')),
  /** Whole local dates on which nothing starts (holidays). */
  denyDates: z.array(isoDate, expect('a list of dates')).default([]),
  /** Instants between which nothing starts (a change freeze), with the reason shown as the blocker. */
  denyRanges: z.array(denyRange, expect('a list of ranges')).default([]),
  /** @default - the time zone of each target the window is evaluated for */
  timeZone: timeZone.nullable().default(null),
});
export type TimeWindow = z.infer<typeof timeWindowSchema>;

const alarmName = text('a CloudWatch alarm name');

/**
 * Which image of the release's artifact manifest a target runs, by the image's name.
 * @default - the manifest's only image (a manifest with several must be told which)
 */
const imageChoice = text('the name of an image in the artifact manifest').nullable().default(null);

/**
 * Which container of the task definition takes the release's image.
 * @default - the task definition's only container (one with several must be told which)
 */
const containerChoice = text('a container name of the task definition').nullable().default(null);

/**
 * Which file of the release's artifact manifest a target deploys, by the file's name.
 * @default - the manifest's only file (a manifest with several must be told which)
 */
const fileChoice = text('the name of a file in the artifact manifest').nullable().default(null);

/**
 * An IAM role the target's task definition uses, by name (`api-task`, `service/api-task`
 * with a path) or ARN in the target's account. The deploy role may pass only the roles
 * targets declare, and a deployment refuses a task definition using any other.
 * @default null - the task definition uses no such role
 */
const roleChoice = z
  .string(expect('an IAM role name or ARN'))
  .regex(
    /^(arn:aws[a-z-]*:iam::\d{12}:role\/)?[\w+=,.@/-]{1,512}$/,
    expect('an IAM role name (letters, digits, +=,.@_-, a path with /) or a role ARN'),
  )
  .nullable()
  .default(null);

/** The roles an ECS task definition names, which registering a copy of it passes. */
const taskRoles = {
  /** The task's role (`taskRoleArn`): what the containers may do. */
  taskRole: roleChoice,
  /** The execution role (`executionRoleArn`): what ECS uses to pull the image and write logs. */
  executionRole: roleChoice,
};

const codeDeployGroup = {
  kind: z.literal('codedeploy-group'),
  application: text('a CodeDeploy application name'),
  deploymentGroup: text('a CodeDeploy deployment group name'),
};

/**
 * A CodeDeploy deployment group, by the compute platform it deploys to. Each platform
 * needs its own revision: an AppSpec pinning a new task definition (ECS blue/green), an
 * AppSpec shifting an alias to a new version (Lambda), or an S3 bundle (EC2/on-premises).
 */
const codeDeployGroupSchema = z.discriminatedUnion(
  'platform',
  [
    z.strictObject({
      ...codeDeployGroup,
      /** ECS blue/green: the group's ECS service gets a copy of its task definition with the new image. */
      platform: z.literal('ecs'),
      container: containerChoice,
      image: imageChoice,
      ...taskRoles,
      /**
       * The container port the load balancer sends traffic to (the AppSpec's `LoadBalancerInfo`).
       * @default - the chosen container's only port mapping
       */
      containerPort: wholeNumber(1, 65535).nullable().default(null),
    }),
    z.strictObject({
      ...codeDeployGroup,
      /** Lambda: the file (a zip) is published as a new version and the alias shifted to it. */
      platform: z.literal('lambda'),
      /** The function whose alias CodeDeploy shifts, e.g. `api-handler`. */
      functionName: text('a Lambda function name'),
      /** The alias that serves traffic, e.g. `live`. */
      alias: text('a Lambda alias name'),
      file: fileChoice,
    }),
    z.strictObject({
      ...codeDeployGroup,
      /** EC2 or on-premises instances: the file is an S3 bundle with an `appspec.yml`. */
      platform: z.literal('server'),
      file: fileChoice,
      /** How the bundle is packed. @default 'zip' */
      bundleType: z
        .enum(['zip', 'tar', 'tgz'], expect('a bundle type: zip, tar or tgz'))
        .default('zip'),
    }),
  ],
  expect('a CodeDeploy platform: ecs, lambda or server'),
);

const deploymentSchema = z.discriminatedUnion(
  'kind',
  [
    /**
     * An ECS service with the rolling (ECS) deployment controller. A one-box is its own
     * single-task service sharing the fleet's target group.
     */
    z.strictObject({
      kind: z.literal('ecs-service'),
      cluster: text('an ECS cluster name or ARN'),
      service: text('an ECS service name'),
      container: containerChoice,
      image: imageChoice,
      ...taskRoles,
    }),
    codeDeployGroupSchema,
    z.strictObject({
      kind: z.literal('local-fleet'),
      boxes: wholeNumber(1, 100),
    }),
  ],
  expect('a deployment kind: ecs-service, codedeploy-group or local-fleet'),
);
export type DeploymentConfig = z.infer<typeof deploymentSchema>;

export const targetSchema = z.strictObject({
  /** Unique in the pipeline, e.g. `prod-use1-az1-onebox`. */
  id: name(64),
  /** A 12-digit AWS account id, or `local` for a simulated fleet. */
  account: z
    .string(expect('a 12-digit AWS account id or "local"'))
    .regex(/^(\d{12}|local)$/, expect('a 12-digit AWS account id or "local"')),
  region: z
    .string(expect('an AWS region code such as "eu-west-1"'))
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, expect('an AWS region code such as "eu-west-1"')),
  /** The Availability Zone id or cell this target covers; `null` for a whole region. */
  zone: text('an Availability Zone id or cell name').nullable(),
  timeZone,
  alarms: z.strictObject({
    /** Watched during the deployment and the bake; for a one-box, the one-box composite alarm. */
    rollback: alarmName,
    /** The team's high-severity aggregate alarm in the region: blocks starts, fails bakes. */
    aggregate: alarmName,
  }),
  deployment: deploymentSchema,
  /** Share of the fleet replaced at a time; at least 66% stays in service. */
  batchPercent: wholeNumber(1, 33).default(33),
  /** Rollbacks may go faster than the rollout, never beyond 33% at a time. */
  rollbackBatchPercent: wholeNumber(1, 33).default(33),
});
export type TargetDefinition = z.infer<typeof targetSchema>;
export type TargetInput = z.input<typeof targetSchema>;

const approvalStepSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      kind: z.literal('integration-tests'),
      name: name(40),
      timeoutSeconds: wholeNumber(1),
    }),
    z.strictObject({
      kind: z.literal('manual-approval'),
      name: name(40),
      timeoutSeconds: wholeNumber(1),
    }),
  ],
  expect('an approval step kind: integration-tests or manual-approval'),
);
export type ApprovalStepDefinition = z.infer<typeof approvalStepSchema>;

export const bakeSchema = z.strictObject({
  /** Time after the deployment completes, watching alarms, before the stage may approve. */
  durationSeconds: wholeNumber(0),
  /**
   * Data points (e.g. requests to the Create API) that each target of the stage must see
   * during the bake, on its own traffic: a busy target does not make up for a quiet one.
   */
  minDataPoints: wholeNumber(0),
  /** @default - requests served by the stage's targets */
  dataPointMetric: text('a metric name').default('RequestCount'),
});
export type BakeDefinition = z.infer<typeof bakeSchema>;

export const stageSchema = z.strictObject({
  name: name(STAGE_NAME_MAX),
  /**
   * The stages that must each approve a release before this one takes it: one name, or a
   * list for a stage that joins several (the next wave after every Region's lane); `null`
   * or `[]` for a first stage fed by new releases. Parsed to a list.
   */
  after: z
    .union([
      name(STAGE_NAME_MAX).transform((only) => [only]),
      z.array(name(STAGE_NAME_MAX), expect('a list of stage names')),
    ])
    .nullable()
    .transform((upstream): readonly string[] => upstream ?? []),
  phase: z.enum(['pre-production', 'production'], expect('pre-production or production')),
  /** 1-based wave number for production stages, `null` before production. */
  wave: wholeNumber(1).nullable(),
  oneBox: z.boolean(expect('true or false')),
  targets: z.array(targetSchema, expect('a list of targets')).min(1, expect('at least one target')),
  bake: bakeSchema,
  approvalSteps: z.array(approvalStepSchema, expect('a list of approval steps')).default([]),
  /** `null`: deployments may start at any time. */
  timeWindow: timeWindowSchema.nullable(),
  /** Alarms besides each target's aggregate alarm whose ALARM state blocks starting this stage. */
  blockingAlarms: z.array(alarmName, expect('a list of alarm names')).default([]),
});
export type StageDefinition = z.infer<typeof stageSchema>;
export type StageInput = z.input<typeof stageSchema>;

export const pipelineKinds = [
  'application',
  'infrastructure',
  'configuration',
  'os-patching',
  'operator-tools',
] as const;

export const pipelineSchema = z.strictObject(
  {
    name: name(PIPELINE_NAME_MAX),
    kind: z.enum(pipelineKinds, expect(`a pipeline kind: ${pipelineKinds.join(', ')}`)),
    source: z.strictObject({
      repository: text('a repository name'),
      branch: text('a branch name'),
    }),
    stages: z.array(stageSchema, expect('a list of stages')).min(1, expect('at least one stage')),
    /** Organisation-wide alarms (a large-scale event) that block every production stage. */
    organisationAlarms: z.array(alarmName, expect('a list of alarm names')).default([]),
  },
  expect('a pipeline definition object'),
);
export type PipelineDefinition = z.infer<typeof pipelineSchema>;
export type PipelineInput = z.input<typeof pipelineSchema>;
