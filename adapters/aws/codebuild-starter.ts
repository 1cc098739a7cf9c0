import { createHash } from 'node:crypto';
import { type CodeBuildClient, StartBuildCommand } from '@aws-sdk/client-codebuild';
import { type BuildRequest, type BuildStarter, TerminalError } from '../../core/index.js';
import { awsError } from './errors.js';

/**
 * Starts the release build in CodeBuild: the project builds the commit, pushes the image,
 * stores the manifest and records the release. `idempotencyToken` (honoured by CodeBuild
 * for five minutes) makes a redelivered webhook start one build.
 *
 * @example
 * await new CodeBuildStarter(codeBuild, 'release-captain-api').startBuild({ pipeline: 'api', commit, previousCommit, pushedBy: 'ana' });
 */
export class CodeBuildStarter implements BuildStarter {
  readonly #client: CodeBuildClient;
  readonly #projectName: (pipeline: string) => string;

  constructor(client: CodeBuildClient, projectName: (pipeline: string) => string) {
    this.#client = client;
    this.#projectName = projectName;
  }

  async startBuild(request: BuildRequest): Promise<{ buildId: string }> {
    const projectName = this.#projectName(request.pipeline);
    try {
      const output = await this.#client.send(
        new StartBuildCommand({
          projectName,
          sourceVersion: request.commit,
          idempotencyToken: createHash('sha256')
            .update(`${request.pipeline}/${request.commit}`)
            .digest('hex')
            .slice(0, 64),
          environmentVariablesOverride: [
            { name: 'RELEASE_CAPTAIN_PIPELINE', value: request.pipeline, type: 'PLAINTEXT' },
            { name: 'RELEASE_CAPTAIN_COMMIT', value: request.commit, type: 'PLAINTEXT' },
            {
              name: 'RELEASE_CAPTAIN_PREVIOUS_COMMIT',
              value: request.previousCommit ?? '',
              type: 'PLAINTEXT',
            },
            { name: 'RELEASE_CAPTAIN_PUSHED_BY', value: request.pushedBy, type: 'PLAINTEXT' },
          ],
        }),
      );
      const buildId = output.build?.id;
      if (buildId === undefined) {
        throw new TerminalError(
          `CodeBuild started no build for ${request.pipeline} at ${request.commit} (project ${projectName}).`,
        );
      }
      return { buildId };
    } catch (error) {
      throw awsError(error, `StartBuild of ${projectName} for ${request.commit}`);
    }
  }
}
