import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  type ArtifactManifest,
  type ReleaseRecorder,
  releaseLabel,
  TerminalError,
} from '../core/index.js';
import { awsRecordReleaseDeps } from './lib/source-deps.js';
import { logger, metrics, stepHandler } from './lib/step-handler.js';

/** What CodeBuild says about a finished release build (BatchGetBuilds on AWS). */
export interface FinishedBuild {
  readonly buildId: string;
  /** `SUCCEEDED`, `FAILED`, … */
  readonly status: string;
  /**
   * The build's `RELEASE_CAPTAIN_PIPELINE` environment variable, if set. Whoever may start
   * the build may override it: only the build's project (`<prefix>-<pipeline>`) vouches for it.
   */
  readonly pipeline: string | null;
  /** The commit the build checked out (`resolvedSourceVersion`). */
  readonly commit: string | null;
  /** The `RELEASE_CAPTAIN_MANIFEST_KEY` the buildspec exported, if it did. */
  readonly manifestKey: string | null;
}

/** Looks a build up by id. */
export interface BuildLookup {
  getBuild(buildId: string): Promise<FinishedBuild>;
}

/** Reads the bytes stored under a key of the artifact bucket. */
export interface ManifestReader {
  read(key: string): Promise<Uint8Array>;
}

export interface RecordReleaseDeps {
  /** The release-build projects' prefix: a pipeline's project is `<prefix>-<pipeline>`. */
  readonly projectPrefix: string;
  readonly builds: BuildLookup;
  readonly manifests: ManifestReader;
  /** The pipeline's recorder; a `TerminalError` for a pipeline that is not deployed. */
  recorder(pipeline: string): Promise<ReleaseRecorder>;
}

/** The EventBridge event of a release build that succeeded (the rule matches nothing else). */
export const buildSucceeded = z.object({
  'detail-type': z.literal('CodeBuild Build State Change'),
  detail: z.object({
    'build-status': z.literal('SUCCEEDED'),
    'build-id': z.string().min(1),
    'project-name': z.string().min(1),
  }),
});

const MANIFEST_KEY = /^artifacts\/([a-z][a-z0-9-]*)\/manifests\/([0-9a-f]{64})\.json$/;
const SHA = /^[0-9a-f]{40}$/;

const text = (what: string) => z.string({ error: `expected ${what}` }).min(1, `expected ${what}`);
const list = <Item extends z.ZodType>(item: Item, what: string) =>
  z.array(item, { error: `expected a list of ${what}` });

/** Core's `ArtifactManifest`, as the buildspec writes it. */
export const artifactManifestSchema = z
  .object(
    {
      images: list(
        z.object({
          name: text('the image name'),
          repository: text('the repository URI or name'),
          digest: z
            .string({ error: 'expected a digest' })
            .regex(/^sha256:[0-9a-f]{64}$/, 'expected "sha256:" and 64 lower-case hex digits'),
        }),
        'images',
      ),
      files: list(
        z.object({
          name: text('the file name'),
          key: text('the S3 key'),
          sha256: z
            .string({ error: 'expected a sha256' })
            .regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits'),
        }),
        'files',
      ),
      dependencies: list(
        z.object({ name: text('the dependency name'), version: text('its version') }),
        'dependencies',
      ),
    },
    { error: 'expected an object with images, files and dependencies' },
  )
  .refine((manifest) => manifest.images.length + manifest.files.length > 0, {
    error: 'expected at least one image or file: a release that deploys nothing is no release',
  }) satisfies z.ZodType<ArtifactManifest>;

/** The release a finished build asks for: its pipeline, the commit it built, its manifest key. */
export interface BuiltRelease {
  readonly buildId: string;
  readonly pipeline: string;
  readonly headCommit: string;
  readonly manifestKey: string;
  readonly manifestSha256: string;
}

/**
 * Checks what a build reports before anything is read: it succeeded, it names its
 * pipeline and commit, and its manifest key is `artifacts/<pipeline>/manifests/<sha256>.json`
 * of that pipeline. Anything else is a `TerminalError` naming the build and the fix.
 * (That the pipeline is the build's own is {@link checkBuildProject}'s to check.)
 *
 * @example
 * builtRelease({ buildId: 'rc-api:7', status: 'SUCCEEDED', pipeline: 'api', commit: 'c0ffee…',
 *   manifestKey: 'artifacts/api/manifests/9f86d0….json' });
 * // { pipeline: 'api', headCommit: 'c0ffee…', manifestKey: …, manifestSha256: '9f86d0…' }
 */
export function builtRelease(build: FinishedBuild): BuiltRelease {
  const refuse = (problem: string) =>
    new TerminalError(`Build ${build.buildId} records no release: ${problem}`);
  if (build.status !== 'SUCCEEDED') {
    throw refuse(`its status is ${build.status}, and only a build that succeeded is released.`);
  }
  if (build.pipeline === null || build.pipeline === '') {
    throw refuse(
      'it has no RELEASE_CAPTAIN_PIPELINE variable; start release builds through Release Captain (a push), not by hand.',
    );
  }
  if (build.commit === null || !SHA.test(build.commit)) {
    throw refuse(
      `its resolved source version is ${JSON.stringify(build.commit)}, not a full commit id; the project's source must be the pipeline's repository.`,
    );
  }
  const key = build.manifestKey ?? '';
  const match = MANIFEST_KEY.exec(key);
  if (match === null || match[1] !== build.pipeline) {
    throw refuse(
      `it exported RELEASE_CAPTAIN_MANIFEST_KEY=${JSON.stringify(build.manifestKey)}, expected artifacts/${build.pipeline}/manifests/<sha256 of the manifest>.json; fix the buildspec's exported-variables and rebuild.`,
    );
  }
  return {
    buildId: build.buildId,
    pipeline: build.pipeline,
    headCommit: build.commit,
    manifestKey: key,
    manifestSha256: match[2] as string,
  };
}

/** The CodeBuild project a build ran in (the event's `project-name`), and the projects' prefix. */
export interface BuildProject {
  readonly name: string;
  readonly prefix: string;
}

/**
 * Checks that a build ran in the release-build project of the pipeline it names,
 * `<prefix>-<pipeline>`. The pipeline comes from the build's `RELEASE_CAPTAIN_PIPELINE`,
 * which whoever may start a build can override; the project it ran in they cannot. A
 * mismatch is a `TerminalError`: it would record one pipeline's build as another's release.
 *
 * @example
 * checkBuildProject(built, { name: 'rc-api', prefix: 'rc' }); // built.pipeline 'api': passes
 * checkBuildProject(built, { name: 'rc-web', prefix: 'rc' });
 * // TerminalError: Build rc-web:7 records no release: it names pipeline api … but ran in project rc-web, not rc-api …
 */
export function checkBuildProject(built: BuiltRelease, project: BuildProject): void {
  const expected = `${project.prefix}-${built.pipeline}`;
  if (project.name !== expected) {
    throw new TerminalError(
      `Build ${built.buildId} records no release: it names pipeline ${built.pipeline} (RELEASE_CAPTAIN_PIPELINE) but ran in project ${project.name}, not ${expected}, so the variable was overridden when the build was started. Only a build in a pipeline's own project is released; find out who started this one.`,
    );
  }
}

/**
 * The manifest's bytes as core's `ArtifactManifest`, after checking that they hash to the
 * sha256 in their key: content-addressed means the key proves the content.
 */
export function manifestOf(bytes: Uint8Array, built: BuiltRelease): ArtifactManifest {
  const where = `Manifest ${built.manifestKey} of build ${built.buildId}`;
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== built.manifestSha256) {
    throw new TerminalError(
      `${where} has sha256 ${actual}, not the one its key names: the object changed after the build wrote it, so it is not what was built. Find out what overwrote it (the bucket is versioned) and rebuild.`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new TerminalError(`${where} is not JSON; fix the buildspec that writes it and rebuild.`, {
      cause: error,
    });
  }
  const parsed = artifactManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || 'manifest'}: ${issue.message}`)
      .join('; ');
    throw new TerminalError(
      `${where} is not an artifact manifest (${issues}); fix the buildspec and rebuild.`,
    );
  }
  return parsed.data;
}

/**
 * The target of the EventBridge rule for "CodeBuild Build State Change" events of the
 * release-build projects with status SUCCEEDED: reads the build (its commit, pipeline and
 * exported manifest key), checks that it ran in that pipeline's project, reads the manifest
 * and checks its sha256 and shape, and records the pipeline's next release (see
 * `ReleaseRecorder`: a repeated event gives the same release, an older commit after a
 * newer one or a commit off the watched branch records nothing).
 *
 * EventBridge invokes asynchronously, so every failure is thrown: Lambda retries it twice
 * with backoff. A `RetryableError` (throttling, a store's conflict) usually passes on
 * retry; a `TerminalError` (a bad manifest, an unknown pipeline) is logged as an error and
 * fails each time, so after the retries the event lands in the function's on-failure
 * destination (the dead-letter queue the CDK app configures), where an operator sees it.
 * Nothing is recorded before the manifest has been checked.
 */
export function createRecordReleaseHandler(deps: () => Promise<RecordReleaseDeps>) {
  return stepHandler('record-release', buildSucceeded, async (event) => {
    const { builds, manifests, recorder, projectPrefix } = await deps();
    const built = builtRelease(await builds.getBuild(event.detail['build-id']));
    checkBuildProject(built, { name: event.detail['project-name'], prefix: projectPrefix });
    const artifacts = manifestOf(await manifests.read(built.manifestKey), built);
    const result = await (await recorder(built.pipeline)).record({
      headCommit: built.headCommit,
      artifacts,
    });
    const context = { pipeline: built.pipeline, buildId: built.buildId, commit: built.headCommit };
    if ('skipped' in result) {
      logger.info('release skipped', { ...context, reason: result.skipped });
      return { ...context, skipped: result.skipped };
    }
    const release = releaseLabel(result.release.number);
    logger.info(result.created ? 'release created' : 'release existed', { ...context, release });
    if (result.created) metrics.addMetric('ReleasesCreated', 'Count', 1);
    return { ...context, release, created: result.created };
  });
}

export const handler = createRecordReleaseHandler(awsRecordReleaseDeps);
