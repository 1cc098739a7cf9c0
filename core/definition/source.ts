import type { PipelineDefinition } from './schema.js';

/**
 * Which pipeline a push starts: the one whose source is the pushed repository (named
 * `owner/name` or just `name`) and whose watched branch is the pushed ref. Anything else
 * starts nothing, and the answer says why.
 *
 * @example
 * pipelineForPush(pipelines, 'acme/api', 'refs/heads/main');    // { pipeline: api }
 * pipelineForPush(pipelines, 'acme/api', 'refs/heads/feature'); // { ignored: 'A push to refs/heads/feature is not watched; acme/api releases from main.' }
 */
export function pipelineForPush(
  pipelines: readonly PipelineDefinition[],
  repository: string,
  ref: string,
): { readonly pipeline: PipelineDefinition } | { readonly ignored: string } {
  const watching = pipelines.filter(
    (p) => p.source.repository === repository || repository.endsWith(`/${p.source.repository}`),
  );
  if (watching.length === 0) return { ignored: `No pipeline watches repository ${repository}.` };
  const pipeline = watching.find((p) => ref === `refs/heads/${p.source.branch}`);
  if (pipeline === undefined) {
    const branches = watching.map((p) => p.source.branch).join(', ');
    return { ignored: `A push to ${ref} is not watched; ${repository} releases from ${branches}.` };
  }
  return { pipeline };
}
