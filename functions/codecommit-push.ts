import { z } from 'zod';
import { userName } from '../adapters/aws/codecommit-history.js';
import {
  type BuildRequest,
  type BuildStarter,
  type PipelineDefinition,
  pipelineForPush,
} from '../core/index.js';
import { awsCodeCommitPushDeps } from './lib/source-deps.js';
import { logger, stepHandler } from './lib/step-handler.js';

export interface CodeCommitPushDeps {
  pipelines(): Promise<readonly PipelineDefinition[]>;
  readonly builds: BuildStarter;
}

/** The EventBridge event CodeCommit sends when a branch or tag is created, moved or deleted. */
export const referenceChange = z.object({
  'detail-type': z.literal('CodeCommit Repository State Change'),
  detail: z.object({
    event: z.string().min(1),
    repositoryName: z.string().min(1),
    referenceType: z.string().min(1),
    referenceName: z.string().min(1),
    commitId: z.string().min(1).optional(),
    oldCommitId: z.string().min(1).optional(),
    callerUserArn: z.string().min(1).optional(),
  }),
});
export type ReferenceChange = z.output<typeof referenceChange>['detail'];

const STARTS = new Set(['referenceCreated', 'referenceUpdated']);

/**
 * Which build a reference change starts: a branch created or moved in a pipeline's
 * repository, at its watched branch, builds the new commit. Anything else (a tag, a
 * deleted branch, another branch or repository) starts nothing, and the answer says why.
 *
 * @example
 * buildForReference({ event: 'referenceUpdated', repositoryName: 'api', referenceType: 'branch',
 *   referenceName: 'main', commitId: 'c0ffee…', oldCommitId: 'a1b2…',
 *   callerUserArn: 'arn:aws:sts::123456789012:assumed-role/Dev/ana' }, pipelines);
 * // { pipeline: 'api', commit: 'c0ffee…', previousCommit: 'a1b2…', pushedBy: 'ana' }
 */
export function buildForReference(
  change: ReferenceChange,
  pipelines: readonly PipelineDefinition[],
): BuildRequest | { readonly ignored: string } {
  const where = `${change.referenceType} ${change.referenceName} of ${change.repositoryName}`;
  if (!STARTS.has(change.event)) {
    return { ignored: `${change.event} of ${where} starts no build; only a push does.` };
  }
  if (change.referenceType !== 'branch') {
    return { ignored: `${where} is not a branch; releases are built from branches only.` };
  }
  const chosen = pipelineForPush(
    pipelines,
    change.repositoryName,
    `refs/heads/${change.referenceName}`,
  );
  if ('ignored' in chosen) return chosen;
  if (change.commitId === undefined) {
    return { ignored: `${change.event} of ${where} names no commitId; there is nothing to build.` };
  }
  return {
    pipeline: chosen.pipeline.name,
    commit: change.commitId,
    previousCommit: change.oldCommitId ?? null,
    pushedBy: change.callerUserArn === undefined ? 'unknown' : userName(change.callerUserArn),
  };
}

/**
 * The target of the EventBridge rule for CodeCommit's "Repository State Change" events:
 * a push to a pipeline's watched branch starts its release build (the same commit twice
 * starts one build); anything else is logged with the reason and changes nothing.
 */
export function createCodeCommitPushHandler(deps: () => Promise<CodeCommitPushDeps>) {
  return stepHandler('codecommit-push', referenceChange, async (event) => {
    const { pipelines, builds } = await deps();
    const build = buildForReference(event.detail, await pipelines());
    if ('ignored' in build) {
      logger.info('push ignored', { reason: build.ignored });
      return build;
    }
    const { buildId } = await builds.startBuild(build);
    logger.info('release build started', { ...build, buildId });
    return { ...build, buildId };
  });
}

export const handler = createCodeCommitPushHandler(awsCodeCommitPushDeps);
