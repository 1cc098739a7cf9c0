import { Annotations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import {
  type ApprovalStepDefinition,
  DefinitionError,
  type DefinitionIssue,
  type PipelineDefinition,
  type PipelineInput,
  parsePipelineDefinition,
  pipelineSchema,
  renderTarget,
  type StageDefinition,
  stageSchema,
  type Target,
  type TargetInput,
  type TeamPipeline,
  type TimeWindow,
  toDefinitionIssues,
  type WaveBake,
} from '../core/index.js';
import type { ReleaseBuildOptions, ReleaseSource } from './release-build.js';

export interface PipelineProps {
  /**
   * Builds the pipeline from a `TeamPipeline` (the team's defaults, the service's targets):
   * the pipeline takes its name, kind, source and stages from it, and mirrors its waves and
   * stages as `Wave` and `Stage` constructs.
   * @default - none: give `name` and `source`, and add `Stage` and `Wave` constructs
   */
  readonly teamPipeline?: TeamPipeline;
  /**
   * Lower-case letters, digits and dashes, at most 24, e.g. `api-config`.
   * @default - the team pipeline's; required without one
   */
  readonly name?: string;
  /**
   * What the pipeline deploys.
   * @default - the team pipeline's; 'application' without one
   */
  readonly kind?: PipelineDefinition['kind'];
  /**
   * The repository and branch whose pushes become releases.
   * @default - the team pipeline's; required without one
   */
  readonly source?: PipelineDefinition['source'];
  /**
   * Organisation-wide alarms (a large-scale event) that block every production stage.
   * @default - the team pipeline's; none without one
   */
  readonly organisationAlarms?: readonly string[];
  /**
   * Where the code lives. With it, the `ControlPlane` builds every push to the watched
   * branch (an ECR repository and a CodeBuild project, see `ReleaseBuild`) and records each
   * successful build as the next release.
   * @default - no release build: synth warns, and releases reach the pipeline only if something else records them
   */
  readonly releaseSource?: ReleaseSource;
  /**
   * How releases are built.
   * @default - `docker build` of the repository's Dockerfile (see `ReleaseBuildProps`)
   */
  readonly build?: ReleaseBuildOptions;
}

/** A pipeline's stages and waves in the order they were added. */
interface Parts {
  readonly stages: Stage[];
  readonly waves: Wave[];
  /** The TeamPipeline that holds the stages of a pipeline built from one. */
  sealedBy?: string;
}
const partsByPipeline = new WeakMap<Pipeline, Parts>();

/**
 * A pipeline as code: renders the core's definition model (`pipeline.definition`) from a
 * `TeamPipeline` or from the `Stage` and `Wave` constructs added to it. It creates no
 * resources: give it to the `ControlPlane`, which runs it.
 *
 * @example
 * // From a TeamPipeline: the construct tree shows its waves and stages.
 * const api = new Pipeline(stack, 'Api', { teamPipeline: new SampleApi() });
 *
 * // By hand: stages before production sit in the pipeline, production stages in waves.
 * const tools = new Pipeline(stack, 'Tools', { name: 'tools', source: { repository: 'tools', branch: 'main' } });
 * new Stage(tools, 'Beta', { targets: [beta], bake: { durationSeconds: 0, minDataPoints: 0 } });
 * const wave1 = new Wave(tools, 'Wave1', { timeWindow: BUSINESS_HOURS });
 * new Stage(wave1, 'Prod', { targets: [prod], bake: { durationSeconds: hours(3), minDataPoints: 100 } });
 *
 * new ControlPlane(stack, 'Captain', { pipelines: [api, tools] });
 */
export class Pipeline extends Construct {
  readonly releaseSource: ReleaseSource | undefined;
  readonly build: ReleaseBuildOptions;
  readonly #head: Omit<PipelineInput, 'stages'>;

  constructor(scope: Construct, id: string, props: PipelineProps) {
    super(scope, id);
    partsByPipeline.set(this, { stages: [], waves: [] });
    this.node.addValidation({ validate: () => this.#problems() });
    const { teamPipeline, releaseSource, build, ...head } = props;
    this.releaseSource = releaseSource;
    this.build = build ?? {};
    if (releaseSource === undefined) {
      Annotations.of(this).addWarningV2(
        'release-captain:no-release-source',
        `Pipeline ${this.node.path} has no releaseSource, so no push becomes a release; pass ReleaseSource.gitHub(...) or ReleaseSource.codeCommit(...).`,
      );
    }
    if (teamPipeline === undefined) {
      if (props.name === undefined || props.source === undefined) {
        throw new Error(
          `Pipeline ${this.node.path} needs a \`name\` and a \`source\` (then add Stage and Wave constructs to it), or a \`teamPipeline\` to take them from.`,
        );
      }
      this.#head = {
        name: props.name,
        kind: props.kind ?? 'application',
        source: props.source,
        organisationAlarms: [...(props.organisationAlarms ?? [])],
      };
      const parsed = pipelineSchema.omit({ stages: true }).safeParse(this.#head, {
        reportInput: true,
      });
      if (!parsed.success) throw this.#error(toDefinitionIssues(parsed.error.issues));
      return;
    }

    const given = Object.keys(head).filter((key) => head[key as keyof typeof head] !== undefined);
    if (given.length > 0) {
      throw new Error(
        `Pipeline ${this.node.path} takes ${given.join(', ')} from its teamPipeline "${teamPipeline.name}"; set them in the TeamPipeline subclass instead.`,
      );
    }
    const { stages, ...rest } = teamPipeline.definition();
    this.#head = rest;
    this.#mirror(stages);
    partsOf(this).sealedBy = teamPipeline.name;
  }

  /**
   * The validated definition, rendered from the pipeline's stages in the order they were
   * added; throws a `DefinitionError` naming each bad field by its construct's path. The
   * `ControlPlane` reads it when it is constructed: add every stage before that.
   */
  get definition(): PipelineDefinition {
    const stages = this.stages;
    if (stages.length === 0) {
      throw this.#error([
        {
          path: 'stages',
          message:
            'expected at least one stage, got none; add Stage constructs to the pipeline (production ones to a Wave) before constructing the ControlPlane that runs it',
        },
      ]);
    }
    try {
      return parsePipelineDefinition({ ...this.#head, stages: stages.map((s) => s.definition) });
    } catch (error) {
      if (!(error instanceof DefinitionError)) throw error;
      // Cross-stage rules (names, ids, order) are reported on the stage that breaks them.
      throw new DefinitionError(
        error.issues.map((issue) => {
          const [, index, rest] = /^stages\[(\d+)\]\.?(.*)$/.exec(issue.path) ?? [];
          const stage = index === undefined ? undefined : stages[Number(index)];
          if (stage === undefined) return { ...issue, path: `${this.node.path}.${issue.path}` };
          return { ...issue, path: rest === '' ? stage.node.path : `${stage.node.path}.${rest}` };
        }),
        { cause: error },
      );
    }
  }

  /** Its stages in the order they were added (the definition's order). */
  get stages(): readonly Stage[] {
    return [...partsOf(this).stages];
  }

  /** Its waves in the order they were added. */
  get waves(): readonly Wave[] {
    return [...partsOf(this).waves];
  }

  /** At synth: the definition's issues, for a pipeline whose definition nobody read. */
  #problems(): string[] {
    try {
      void this.definition;
      return [];
    } catch (error) {
      if (!(error instanceof DefinitionError)) throw error;
      return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
    }
  }

  #error(issues: readonly DefinitionIssue[]): DefinitionError {
    return new DefinitionError(
      issues.map((issue) => ({ ...issue, path: `${this.node.path}.${issue.path}` })),
    );
  }

  /** One Stage per stage of the definition, production ones in a Wave per wave number. */
  #mirror(stages: readonly StageDefinition[]): void {
    const byName = new Map<string, Stage>();
    const waves = new Map<number, Wave>();
    for (const definition of stages) {
      const { name, after, wave, phase: _phase, ...props } = definition;
      let scope: Pipeline | Wave = this;
      if (wave !== null) {
        scope = waves.get(wave) ?? new Wave(this, `Wave${wave}`, { number: wave });
        waves.set(wave, scope);
      }
      const stage = new Stage(scope, name, {
        ...props,
        name,
        after: after.map((upstream) => byName.get(upstream) as Stage),
      });
      byName.set(name, stage);
    }
  }
}

export interface WaveProps {
  /**
   * The wave's number: production stages in later waves may not run before earlier ones.
   * @default - one more than the pipeline's previous Wave; 1 for its first
   */
  readonly number?: number;
  /**
   * When its stages may start.
   * @default null - at any time
   */
  readonly timeWindow?: TimeWindow | null;
}

/**
 * A group of production stages over a set of Regions: add one `Stage` per step (one zone
 * or cell of every Region in the wave, one-box first).
 *
 * @example
 * const wave1 = new Wave(pipeline, 'Wave1', { timeWindow: BUSINESS_HOURS });
 * const oneBox = new Stage(wave1, 'Z1OneBox', { oneBox: true, targets, bake });
 * new Stage(wave1, 'Z1', { targets, bake: { durationSeconds: hours(12), minDataPoints: 100 } });
 */
export class Wave extends Construct {
  readonly pipeline: Pipeline;
  readonly number: number;
  readonly timeWindow: TimeWindow | null;

  constructor(scope: Pipeline, id: string, props: WaveProps = {}) {
    super(scope, id);
    if (!(scope instanceof Pipeline)) {
      throw new Error(
        `Wave ${this.node.path} must be added to a Pipeline, not to ${(scope as Construct).node.path}.`,
      );
    }
    this.pipeline = scope;
    const parts = joinable(scope, this);
    this.number = props.number ?? (parts.waves.at(-1)?.number ?? 0) + 1;
    this.timeWindow = props.timeWindow ?? null;
    if (!Number.isInteger(this.number) || this.number < 1) {
      throw new Error(
        `Wave ${this.node.path}: number must be a whole number ≥ 1, got ${this.number}; leave it out to number waves in the order they are added.`,
      );
    }
    const twin = parts.waves.find((wave) => wave.number === this.number);
    if (twin !== undefined) {
      throw new Error(
        `Wave ${this.node.path} has number ${this.number}, which ${twin.node.path} already has; give each Wave its own number.`,
      );
    }
    parts.waves.push(this);
  }

  /** Its stages in the order they were added. */
  get stages(): readonly Stage[] {
    return this.pipeline.stages.filter((stage) => stage.wave === this);
  }
}

export interface StageProps {
  /**
   * Lower-case letters, digits and dashes, at most 40, e.g. `prod-w1-z1-onebox`.
   * @default - the construct id in kebab case: `GammaOneBox` → `gamma-one-box`
   */
  readonly name?: string;
  /**
   * The stage that must approve a release before this one takes it, or the stages that
   * must each approve it (a join); `null` for a stage fed by new releases.
   * @default - the stage added to the pipeline before this one; `null` for its first
   */
  readonly after?: Stage | readonly Stage[] | null;
  /** Where the stage deploys, in parallel: `Target.ecsService(…)`, `Target.codeDeployGroup(…)`, … */
  readonly targets: readonly (Target | TargetInput)[];
  /** How long to watch alarms after deploying, and the data points that must be seen. */
  readonly bake: WaveBake;
  /**
   * Deploys to the smallest unit of its targets before the fleet.
   * @default false
   */
  readonly oneBox?: boolean;
  /**
   * What must pass before the stage approves, besides the bake.
   * @default - none
   */
  readonly approvalSteps?: readonly ApprovalStepDefinition[];
  /**
   * When deployments may start; `null` for any time.
   * @default - the wave's time window in a Wave; `null` before production
   */
  readonly timeWindow?: TimeWindow | null;
  /**
   * Alarms besides each target's aggregate alarm whose ALARM state blocks starting the stage.
   * @default - none
   */
  readonly blockingAlarms?: readonly string[];
}

/**
 * The unit of promotion: deploys one release to its targets, bakes, then approves it for
 * the next stage. In a `Pipeline` it is a pre-production stage, in a `Wave` a production one.
 * Validated when constructed, against the schema; the pipeline checks the rules between
 * stages when its definition is read.
 *
 * @example
 * new Stage(pipeline, 'Beta', {
 *   targets: [Target.ecsService({ id: 'beta', region: 'us-west-2', account, cluster: 'api', service: 'api', rollbackAlarm, aggregateAlarm })],
 *   bake: { durationSeconds: 0, minDataPoints: 0 },
 * });
 */
export class Stage extends Construct {
  readonly pipeline: Pipeline;
  /** The wave of a production stage; `undefined` before production. */
  readonly wave: Wave | undefined;
  /** The stages it follows; none when new releases feed it. */
  readonly after: readonly Stage[];
  /** The validated stage, as the pipeline's definition holds it. */
  readonly definition: StageDefinition;

  constructor(scope: Pipeline | Wave, id: string, props: StageProps) {
    super(scope, id);
    if (!(scope instanceof Pipeline || scope instanceof Wave)) {
      throw new Error(
        `Stage ${this.node.path} must be added to a Pipeline (before production) or to a Wave, not to ${(scope as Construct).node.path}.`,
      );
    }
    const pipeline = scope instanceof Wave ? scope.pipeline : scope;
    this.pipeline = pipeline;
    this.wave = scope instanceof Wave ? scope : undefined;
    const parts = joinable(pipeline, this);
    const after = props.after === undefined ? (parts.stages.at(-1) ?? null) : props.after;
    this.after = after === null ? [] : Array.isArray(after) ? [...after] : [after as Stage];
    for (const upstream of this.after) {
      if (upstream.pipeline !== pipeline) {
        throw new Error(
          `Stage ${this.node.path} is after ${upstream.node.path}, a stage of another pipeline; pass a stage of ${pipeline.node.path}.`,
        );
      }
    }

    const input = {
      name: props.name ?? kebab(id),
      after: this.after.map((upstream) => upstream.definition.name),
      phase: this.wave === undefined ? 'pre-production' : 'production',
      wave: this.wave?.number ?? null,
      oneBox: props.oneBox ?? false,
      targets: props.targets.map(renderTarget),
      bake: { ...props.bake },
      approvalSteps: [...(props.approvalSteps ?? [])],
      timeWindow:
        props.timeWindow === undefined ? (this.wave?.timeWindow ?? null) : props.timeWindow,
      blockingAlarms: [...(props.blockingAlarms ?? [])],
    };
    const parsed = stageSchema.safeParse(input, { reportInput: true });
    if (!parsed.success) {
      throw new DefinitionError(
        toDefinitionIssues(parsed.error.issues).map((issue) => ({
          ...issue,
          path: `${this.node.path}.${issue.path}`,
        })),
      );
    }
    this.definition = parsed.data;
    parts.stages.push(this);
  }
}

// Set first thing in Pipeline's constructor, so every Pipeline has its parts.
const partsOf = (pipeline: Pipeline) => partsByPipeline.get(pipeline) as Parts;

/** The parts of a pipeline that a new Wave or Stage may join: not one built from a TeamPipeline. */
function joinable(pipeline: Pipeline, joining: Construct): Parts {
  const parts = partsOf(pipeline);
  if (parts.sealedBy !== undefined) {
    throw new Error(
      `${joining.node.path}: pipeline ${pipeline.node.path} is built from the TeamPipeline "${parts.sealedBy}", which holds its stages; change the TeamPipeline, or build the Pipeline from a name and a source and add every stage yourself.`,
    );
  }
  return parts;
}

/** `GammaOneBox` → `gamma-one-box`, `ProdW1Z1` → `prod-w1-z1`, `beta` → `beta`. */
const kebab = (id: string) => id.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
