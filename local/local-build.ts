import {
  type ArtifactManifest,
  type ArtifactStore,
  type BuildRequest,
  type BuildStarter,
  type BuiltCommit,
  NotFoundError,
  type RecordResult,
  TerminalError,
} from '../core/index.js';
import { parseServiceJson } from './fleet.js';

/** What a build reads its commit from: a {@link LocalGitRepository}, or a fake in tests. */
export interface CommitFiles {
  show(sha: string, path: string): Promise<Uint8Array>;
}

/** The one file the example service's build produces, and the artifact it becomes. */
const SERVICE_FILE = 'service.json';
/** How much of a refused `service.json` the build's error quotes. */
const QUOTED_CHARACTERS = 200;

export interface LocalBuildProps {
  /** Where the artifact goes: the S3 adapter on s3rver in the local runtime. */
  readonly artifacts: ArtifactStore;
  /**
   * Hands the built commit to the release recorder of its pipeline, e.g.
   * `(built) => recorder.record(built)`, or `(built, pipeline) => recorders[pipeline].record(built)`.
   */
  readonly record: (built: BuiltCommit, pipeline: string) => Promise<RecordResult>;
}

export interface LocalBuildInput {
  readonly pipeline: string;
  /** The full sha of the commit to build. */
  readonly commit: string;
  readonly repository: CommitFiles;
}

/**
 * The release build of the local mode, for the example service: reads `service.json` at
 * the commit, refuses it unless the service could run it (the rules the fleet's boxes
 * apply, so a release never carries a configuration no box can start), stores it as a
 * content-addressed file artifact, and records the release.
 *
 * @example
 * const build = new LocalBuild({ artifacts, record: (built) => recorder.record(built) });
 * await build.build({ pipeline: 'local-service', commit: sha, repository });
 * // { release: { number: 2, headCommit: sha, artifacts: { files: [{ name: 'service.json', key: '…', sha256: '…' }], … } }, created: true }
 */
export class LocalBuild {
  readonly #artifacts: ArtifactStore;
  readonly #record: LocalBuildProps['record'];

  constructor(props: LocalBuildProps) {
    this.#artifacts = props.artifacts;
    this.#record = props.record;
  }

  /** Builds `commit` and records its release; the recorder's answer is the build's. */
  async build({ pipeline, commit, repository }: LocalBuildInput): Promise<RecordResult> {
    const bytes = await repository.show(commit, SERVICE_FILE);
    const parsed = parseServiceJson(bytes);
    if (!parsed.ok) {
      const text = new TextDecoder().decode(bytes).trim();
      const quoted =
        text.length > QUOTED_CHARACTERS ? `${text.slice(0, QUOTED_CHARACTERS)}…` : text;
      throw new TerminalError(
        `Commit ${commit.slice(0, 7)} of ${pipeline} cannot be built: ${parsed.problem}. It reads ${quoted}. Fix ${SERVICE_FILE} in a new commit.`,
      );
    }
    const file = await this.#artifacts.putFile(pipeline, SERVICE_FILE, bytes);
    const artifacts: ArtifactManifest = { images: [], files: [file], dependencies: [] };
    return this.#record({ headCommit: commit, artifacts }, pipeline);
  }
}

export type LocalBuildStatus = 'running' | 'succeeded' | 'failed';

/** One build the starter ran, as the CLI and the web view list it. */
export interface LocalBuildRecord {
  /** `<pipeline>:<commit>`: the same pipeline and commit are the same build. */
  readonly id: string;
  readonly pipeline: string;
  readonly commit: string;
  readonly previousCommit: string | null;
  readonly pushedBy: string;
  readonly status: LocalBuildStatus;
  /** Why it failed, when it did. */
  readonly error?: string;
  /** What the recorder answered, when it succeeded: the release, or why none was recorded. */
  readonly result?: RecordResult;
}

export interface LocalBuildStarterProps {
  readonly build: Pick<LocalBuild, 'build'>;
  /** The repository a pipeline builds from; `undefined` for a pipeline with none. */
  readonly repository: (pipeline: string) => CommitFiles | undefined;
  /** Told of each build while it runs (the local engine's clock waits for it). @default - nobody */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
}

/**
 * The {@link BuildStarter} of the local mode: runs a {@link LocalBuild} in this process,
 * in the background. A pipeline and commit build once, whatever their status: asking
 * again gives the same build id (a failed build is fixed by a new commit, as in the
 * cloud). Failures are kept in the build's record, never thrown at the pusher.
 *
 * @example
 * const builds = new LocalBuildStarter({ build, repository: () => repository });
 * const { buildId } = await builds.startBuild({ pipeline: 'local-service', commit: sha, previousCommit: null, pushedBy: 'ana' });
 * await builds.drain();
 * builds.builds(); // [{ id: buildId, status: 'succeeded', result: { release: …, created: true }, … }]
 */
export class LocalBuildStarter implements BuildStarter {
  readonly #build: Pick<LocalBuild, 'build'>;
  readonly #repository: LocalBuildStarterProps['repository'];
  readonly #builds = new Map<string, LocalBuildRecord>();
  readonly #running = new Set<Promise<void>>();
  readonly #track: <T>(work: Promise<T>) => Promise<T>;

  constructor(props: LocalBuildStarterProps) {
    this.#build = props.build;
    this.#repository = props.repository;
    this.#track = props.track ?? ((work) => work);
  }

  async startBuild(request: BuildRequest): Promise<{ buildId: string }> {
    const id = `${request.pipeline}:${request.commit}`;
    if (this.#builds.has(id)) return { buildId: id };
    const repository = this.#repository(request.pipeline);
    if (repository === undefined) {
      throw new NotFoundError(
        `Pipeline ${request.pipeline} has no local repository to build ${request.commit} from; check the pipeline's name and the local runtime's repositories.`,
      );
    }
    const started: LocalBuildRecord = {
      id,
      pipeline: request.pipeline,
      commit: request.commit,
      previousCommit: request.previousCommit,
      pushedBy: request.pushedBy,
      status: 'running',
    };
    this.#builds.set(id, started);
    const running = this.#track(
      this.#build.build({ pipeline: request.pipeline, commit: request.commit, repository }),
    )
      .then(
        (result) => {
          this.#builds.set(id, { ...started, status: 'succeeded', result });
        },
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          this.#builds.set(id, { ...started, status: 'failed', error: message });
        },
      )
      .finally(() => this.#running.delete(running));
    this.#running.add(running);
    return { buildId: id };
  }

  /** Every build started, oldest first. */
  builds(): readonly LocalBuildRecord[] {
    return [...this.#builds.values()];
  }

  /** Resolves once no build is running, including builds started while it waits. */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}
