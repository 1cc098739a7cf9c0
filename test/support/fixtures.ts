import {
  type AlarmState,
  alarmsToCheck,
  hours,
  initialMeta,
  initialStageState,
  type PipelineDefinition,
  type PipelineState,
  parsePipelineDefinition,
  type Release,
  type RuleContext,
  type StageInput,
  type TargetInput,
  Topology,
  type Transition,
} from '../../core/index.js';

export const T0 = '2026-11-23T10:00:00.000Z';

export function target(id: string, overrides: Partial<TargetInput> = {}): TargetInput {
  return {
    id,
    account: '123456789012',
    region: 'eu-west-1',
    zone: null,
    timeZone: 'Europe/Dublin',
    alarms: { rollback: `${id}-rollback`, aggregate: 'team-aggregate-euw1' },
    deployment: { kind: 'local-fleet', boxes: 3 },
    ...overrides,
  };
}

export function stage(
  name: string,
  after: string | readonly string[] | null,
  overrides: Partial<StageInput> = {},
): StageInput {
  return {
    name,
    after: typeof after === 'string' || after === null ? after : [...after],
    phase: 'pre-production',
    wave: null,
    oneBox: false,
    targets: [target(`${name}-t1`)],
    bake: { durationSeconds: hours(1), minDataPoints: 10 },
    timeWindow: null,
    ...overrides,
  };
}

/** beta → gamma → prod-1 (two targets) → prod-2: small enough to read, big enough for every rule. */
export function smallDefinition(overrides: Partial<PipelineDefinition> = {}): PipelineDefinition {
  return parsePipelineDefinition({
    name: 'api',
    kind: 'application',
    source: { repository: 'api', branch: 'main' },
    stages: [
      stage('beta', null),
      stage('gamma', 'beta'),
      stage('prod-1', 'gamma', {
        phase: 'production',
        wave: 1,
        targets: [
          target('prod-1-a'),
          target('prod-1-b', {
            region: 'us-east-1',
            timeZone: 'America/New_York',
            alarms: { rollback: 'prod-1-b-rollback', aggregate: 'team-aggregate-use1' },
          }),
        ],
      }),
      stage('prod-2', 'prod-1', { phase: 'production', wave: 2 }),
    ],
    organisationAlarms: ['org-large-scale-event'],
    ...overrides,
  });
}

export function release(number: number, overrides: Partial<Release> = {}): Release {
  return {
    pipeline: 'api',
    number,
    headCommit: `c${number}`.padEnd(40, '0'),
    commits: [
      {
        sha: `c${number}`.padEnd(40, '0'),
        author: 'dev@example.com',
        message: `change ${number}`,
        review: { pullRequest: `#${number}`, approvedBy: ['reviewer@example.com'] },
      },
    ],
    artifacts: {
      images: [
        { name: 'api', repository: 'api', digest: `sha256:${String(number).padStart(64, '0')}` },
      ],
      files: [],
      dependencies: [{ name: 'left-pad', version: '1.3.0' }],
    },
    createdAt: T0,
    ...overrides,
  };
}

export function initialState(topology: Topology): PipelineState {
  return {
    stages: Object.fromEntries(
      topology.definition.stages.map((s) => [
        s.name,
        initialStageState(
          s.name,
          s.targets.map((t) => t.id),
        ),
      ]),
    ),
    meta: initialMeta(),
  };
}

/** Every alarm the definition names, in state OK, but those given. */
export function quiet(
  topology: Topology,
  overrides: Record<string, AlarmState> = {},
): Record<string, AlarmState> {
  const names = topology.definition.stages.flatMap((s) =>
    s.targets.flatMap((t) => alarmsToCheck(topology.definition, s, t)),
  );
  return { ...Object.fromEntries(names.map((name) => [name, 'OK' as const])), ...overrides };
}

/** Applies rules one after another to a state, like a store would, keeping everything they produce. */
export class Sandbox {
  readonly topology: Topology;
  state: PipelineState;
  now = T0;
  readonly transitions: Transition[] = [];
  /** Releases created through `drive.create`, by number. */
  readonly releases = new Map<number, Release>();

  constructor(definition: PipelineDefinition = smallDefinition()) {
    this.topology = new Topology(definition);
    this.state = initialState(this.topology);
  }

  get context(): RuleContext {
    return { topology: this.topology, now: this.now };
  }

  apply<I>(rule: (c: RuleContext, s: PipelineState, i: I) => Transition, input: I): Transition {
    const transition = rule(this.context, this.state, input);
    this.state = transition.state;
    this.transitions.push(transition);
    return transition;
  }

  stage(name: string) {
    const state = this.state.stages[name];
    if (state === undefined) throw new Error(`no stage ${name}`);
    return state;
  }

  run(name: string) {
    const run = this.stage(name).run;
    if (run === null) throw new Error(`stage ${name} has no run`);
    return run;
  }

  events() {
    return this.transitions.flatMap((t) => t.events);
  }
}

import { admitTargets, createRelease, recordBake, recordDeployment } from '../../core/index.js';

/** Short-hands that drive a {@link Sandbox} through the common steps. */
export const drive = {
  create(sb: Sandbox, number: number, overrides: Partial<Release> = {}) {
    const created = release(number, overrides);
    sb.releases.set(number, created);
    return sb.apply(createRelease, { release: created });
  },
  /** Admits the stage's waiting targets with every alarm OK but those given. */
  admit(sb: Sandbox, stageName: string, alarms: Record<string, AlarmState> = {}) {
    return sb.apply(admitTargets, {
      stage: stageName,
      seq: sb.run(stageName).seq,
      releases: [...sb.releases.values()],
      alarms: quiet(sb.topology, alarms),
    });
  },
  /** Finishes every deploying or rolling-back target of the stage's run with `result`. */
  finish(
    sb: Sandbox,
    stageName: string,
    result: 'succeeded' | 'failed' = 'succeeded',
    reason?: string,
  ) {
    const run = sb.run(stageName);
    const out: Transition[] = [];
    for (const [id, t] of Object.entries(run.targets)) {
      if (t.status !== 'deploying' && t.status !== 'rolling-back') continue;
      out.push(
        sb.apply(recordDeployment, {
          stage: stageName,
          seq: run.seq,
          target: id,
          kind: t.status === 'deploying' ? ('normal' as const) : ('rollback' as const),
          result,
          ...(reason === undefined ? {} : { reason }),
        }),
      );
    }
    return out;
  },
  /** The bake passes, judged as the stage step judges it: with the expedite now in force. */
  bakePassed(sb: Sandbox, stageName: string) {
    const run = sb.run(stageName);
    const expedite = sb.state.meta.expedite;
    return sb.apply(recordBake, {
      stage: stageName,
      seq: run.seq,
      verdict: { verdict: 'passed' },
      bakeFactor: expedite?.release === run.release ? expedite.bakeFactor : null,
    });
  },
  /** Deploys and bakes the stage's current run to approval. */
  pass(sb: Sandbox, stageName: string) {
    drive.admit(sb, stageName);
    drive.finish(sb, stageName);
    return drive.bakePassed(sb, stageName);
  },
};
