import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import type * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { PipelineDefinition } from '../core/index.js';

/** The variable a release build exports: the S3 key of the manifest it wrote. */
export const MANIFEST_KEY_VARIABLE = 'RELEASE_CAPTAIN_MANIFEST_KEY';

/** Where a pipeline's code lives: GitHub or CodeCommit. */
export abstract class ReleaseSource {
  /**
   * A GitHub repository. CodeBuild reads it with the account's GitHub source credentials:
   * connect them once per account and Region (CodeBuild console, or
   * `codebuild.GitHubSourceCredentials`) before the first build.
   */
  static gitHub(props: { readonly owner: string; readonly repo: string }): ReleaseSource {
    for (const [what, value] of Object.entries(props)) {
      if (!/^[A-Za-z0-9_.-]+$/.test(value)) {
        throw new Error(
          `ReleaseSource.gitHub: ${what} "${value}" is not a GitHub ${what} name; pass e.g. { owner: 'acme', repo: 'api' }.`,
        );
      }
    }
    return new GitHubSource(props.owner, props.repo);
  }

  /** A CodeCommit repository, e.g. `codecommit.Repository.fromRepositoryName(this, 'Api', 'api')`. */
  static codeCommit(repository: codecommit.IRepository): ReleaseSource {
    return new CodeCommitSource(repository);
  }

  /** `github` or `codecommit`: which history and triggers the control plane uses. */
  abstract readonly provider: 'github' | 'codecommit';
  /** The repository as pipeline definitions name it (`owner/repo` on GitHub). */
  abstract readonly repositoryName: string;
  /** The CodeCommit repository, for its trigger rule and read grants. */
  abstract readonly codeCommitRepository: codecommit.IRepository | undefined;
  /** The source of the build project. */
  abstract buildSource(): codebuild.ISource;
}

class GitHubSource extends ReleaseSource {
  readonly provider = 'github';
  readonly repositoryName: string;
  readonly codeCommitRepository = undefined;
  readonly #owner: string;
  readonly #repo: string;
  constructor(owner: string, repo: string) {
    super();
    this.#owner = owner;
    this.#repo = repo;
    this.repositoryName = `${owner}/${repo}`;
  }
  buildSource(): codebuild.ISource {
    // No webhook: builds start only from Release Captain's verified push handler.
    return codebuild.Source.gitHub({ owner: this.#owner, repo: this.#repo, webhook: false });
  }
}

class CodeCommitSource extends ReleaseSource {
  readonly provider = 'codecommit';
  readonly repositoryName: string;
  readonly codeCommitRepository: codecommit.IRepository;
  constructor(repository: codecommit.IRepository) {
    super();
    this.codeCommitRepository = repository;
    this.repositoryName = repository.repositoryName;
  }
  buildSource(): codebuild.ISource {
    return codebuild.Source.codeCommit({ repository: this.codeCommitRepository });
  }
}

export interface ReleaseBuildProps {
  /** The pipeline whose releases this builds: its name and `source.repository`. */
  readonly pipeline: PipelineDefinition;
  readonly source: ReleaseSource;
  /** The control plane's artifact bucket: manifests go to `artifacts/<pipeline>/manifests/`. */
  readonly artifacts: s3.IBucket;
  /** The build project's name; the push handlers start `<prefix>-<pipeline>`. */
  readonly projectName: string;
  /**
   * How the release is built. It must push its images, write an `ArtifactManifest` JSON to
   * the artifact bucket under `artifacts/<pipeline>/manifests/<sha256 of the bytes>.json`
   * and export that key as `RELEASE_CAPTAIN_MANIFEST_KEY`.
   * @default - `docker build` of the Dockerfile at the repository root, tagged with the commit, one image named after the pipeline
   */
  readonly buildSpec?: codebuild.BuildSpec;
  /**
   * The build image. Its CPU architecture is the release image's: it must match the tasks
   * that run it (`codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0` for arm64).
   * @default codebuild.LinuxBuildImage.STANDARD_7_0 (x86_64, the ECS task default)
   */
  readonly buildImage?: codebuild.IBuildImage;
  /** @default Duration.minutes(60) */
  readonly timeout?: Duration;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/** What a pipeline may change about its release build. */
export type ReleaseBuildOptions = Pick<
  ReleaseBuildProps,
  'buildSpec' | 'buildImage' | 'timeout' | 'logRetention'
>;

/**
 * The release build of one pipeline: an ECR repository (immutable tags, scan on push) and
 * a CodeBuild project that builds a commit, pushes its image tagged with the commit,
 * writes the artifact manifest to S3 under a content-addressed key and exports that key.
 * The control plane records the release when the build succeeds (functions/record-release.ts).
 *
 * Building a commit twice is harmless: a tag already pushed is reused (tags are
 * immutable), and the manifest's key is its hash, so the same manifest lands on the same key.
 *
 * @example
 * new ReleaseBuild(this, 'ApiBuild', {
 *   pipeline: definition, source: ReleaseSource.gitHub({ owner: 'acme', repo: 'api' }),
 *   artifacts: controlPlane.artifacts, projectName: 'ReleaseCaptain-build-api',
 * });
 */
export class ReleaseBuild extends Construct {
  readonly repository: ecr.Repository;
  readonly project: codebuild.Project;

  constructor(scope: Construct, id: string, props: ReleaseBuildProps) {
    super(scope, id);
    const name = props.pipeline.name;
    if (props.source.repositoryName !== props.pipeline.source.repository) {
      throw new Error(
        `ReleaseBuild of ${name}: the source is ${props.source.repositoryName} but the pipeline's definition watches ${props.pipeline.source.repository}; make them the same repository (on GitHub, name it "owner/repo" in the definition).`,
      );
    }
    this.repository = new ecr.Repository(this, 'Images', {
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      imageScanOnPush: true,
      encryption: ecr.RepositoryEncryption.AES_256,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.project = new codebuild.Project(this, 'Project', {
      projectName: props.projectName,
      description: `Release Captain release build of pipeline ${name}`,
      source: props.source.buildSource(),
      environment: {
        buildImage: props.buildImage ?? codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: codebuild.ComputeType.SMALL,
        // Docker builds need the Docker daemon.
        privileged: true,
      },
      environmentVariables: {
        RELEASE_CAPTAIN_PIPELINE: { value: name },
        RELEASE_CAPTAIN_IMAGE_NAME: { value: name },
        RELEASE_CAPTAIN_REPOSITORY_URI: { value: this.repository.repositoryUri },
        RELEASE_CAPTAIN_REGISTRY: {
          value: `${Stack.of(this).account}.dkr.ecr.${Stack.of(this).region}.${Stack.of(this).urlSuffix}`,
        },
        RELEASE_CAPTAIN_ARTIFACT_BUCKET: { value: props.artifacts.bucketName },
      },
      buildSpec: props.buildSpec ?? dockerBuildSpec(),
      timeout: props.timeout ?? Duration.minutes(60),
      logging: { cloudWatch: { logGroup } },
    });
    this.repository.grantPullPush(this.project);
    this.repository.grantRead(this.project);
    // The services in target accounts pull the release's images from here.
    const accounts = [
      ...new Set(
        props.pipeline.stages
          .flatMap((s) => s.targets.map((t) => t.account))
          .filter((a) => a !== 'local'),
      ),
    ].sort();
    if (accounts.length > 0) {
      this.repository.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'TargetAccountsPull',
          actions: [
            'ecr:BatchGetImage',
            'ecr:GetDownloadUrlForLayer',
            'ecr:BatchCheckLayerAvailability',
          ],
          principals: accounts.map((account) => new iam.AccountPrincipal(account)),
        }),
      );
    }
    this.project.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [props.artifacts.arnForObjects(`artifacts/${name}/manifests/*`)],
      }),
    );
    NagSuppressions.addResourceSuppressions(
      this.project,
      [
        {
          id: 'AwsSolutions-CB4',
          reason:
            'The project produces no CodeBuild artifacts; images go to ECR (AES-256) and the manifest to the S3-encrypted artifact bucket.',
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ecr:GetAuthorizationToken has no resource; manifests are written under the pipeline’s own content-addressed prefix; CodeBuild report groups and log streams are named per build.',
          appliesTo: [
            'Resource::*',
            { regex: '/^Resource::<.*Artifacts.*\\.Arn>\\/artifacts\\/.*\\/manifests\\/\\*$/g' },
            { regex: '/^Resource::arn:<AWS::Partition>:codebuild:.*:report-group\\/.*$/g' },
            { regex: '/^Resource::arn:<AWS::Partition>:logs:.*$/g' },
          ],
        },
      ],
      true,
    );
  }
}

/**
 * The default build: the Dockerfile at the repository root becomes one image tagged with
 * the commit. A commit already pushed is not rebuilt (tags are immutable), so a repeated
 * build gives the same digest and the same manifest.
 */
export function dockerBuildSpec(): codebuild.BuildSpec {
  return codebuild.BuildSpec.fromObject({
    version: '0.2',
    env: { shell: 'bash', 'exported-variables': [MANIFEST_KEY_VARIABLE] },
    phases: {
      build: {
        // One command, so the shell options hold for every line of it.
        commands: [
          [
            'set -eo pipefail',
            'COMMIT="$CODEBUILD_RESOLVED_SOURCE_VERSION"',
            'REPOSITORY_NAME=$(echo "$RELEASE_CAPTAIN_REPOSITORY_URI" | cut -d/ -f2-)',
            'describe() { aws ecr describe-images --repository-name "$REPOSITORY_NAME" --image-ids imageTag="$COMMIT" "$@"; }',
            'aws ecr get-login-password | docker login --username AWS --password-stdin "$RELEASE_CAPTAIN_REGISTRY"',
            // Only a missing tag means "not built yet"; any other error stops the build.
            'if ! FOUND=$(describe 2>&1); then',
            '  echo "$FOUND" | grep -q ImageNotFoundException || { echo "$FOUND" >&2; exit 1; }',
            '  docker build -t "$RELEASE_CAPTAIN_REPOSITORY_URI:$COMMIT" .',
            '  docker push "$RELEASE_CAPTAIN_REPOSITORY_URI:$COMMIT"',
            'fi',
            'DIGEST=$(describe --query "imageDetails[0].imageDigest" --output text)',
            'printf \'{"images":[{"name":"%s","repository":"%s","digest":"%s"}],"files":[],"dependencies":[]}\' "$RELEASE_CAPTAIN_IMAGE_NAME" "$RELEASE_CAPTAIN_REPOSITORY_URI" "$DIGEST" > release-manifest.json',
            'SUM=$(sha256sum release-manifest.json | cut -d" " -f1)',
            'echo "$SUM" | grep -Eq "^[0-9a-f]{64}$"',
            'export RELEASE_CAPTAIN_MANIFEST_KEY="artifacts/$RELEASE_CAPTAIN_PIPELINE/manifests/$SUM.json"',
            'aws s3 cp release-manifest.json "s3://$RELEASE_CAPTAIN_ARTIFACT_BUCKET/$RELEASE_CAPTAIN_MANIFEST_KEY" --content-type application/json',
          ].join('\n'),
        ],
      },
    },
  });
}
