import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { builtRelease, manifestOf } from '../../functions/record-release.js';
import { dockerBuildSpec } from '../../infra/release-build.js';

const COMMIT = 'c0ffee0000000000000000000000000000000001';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const URI = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/captain-api';

/** The default buildspec's one command, as CodeBuild would run it. */
function script(): string {
  const spec = new Stack().resolve(dockerBuildSpec().toBuildSpec());
  const commands: string[] = JSON.parse(spec).phases.build.commands;
  expect(commands).toHaveLength(1);
  return commands[0] as string;
}

/**
 * Stub `aws` and `docker` on PATH: ECR answers ImageNotFoundException until the image is
 * pushed (or `ECR_ERROR` says otherwise), `s3 cp` copies into a directory standing in for
 * the bucket, and every call is logged.
 */
function sandbox(options: { pushed?: boolean; ecrError?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'buildspec-'));
  const bucket = join(dir, 'bucket');
  const log = join(dir, 'calls.log');
  if (options.pushed) writeFileSync(join(dir, 'pushed'), '');
  writeFileSync(
    join(dir, 'aws'),
    `#!/usr/bin/env bash
echo "aws $*" >> "${log}"
case "$1 $2" in
  "ecr get-login-password") echo password ;;
  "ecr describe-images")
    if [ -n "$ECR_ERROR" ]; then echo "An error occurred ($ECR_ERROR) when calling DescribeImages" >&2; exit 254; fi
    if [ ! -f "${dir}/pushed" ]; then echo "An error occurred (ImageNotFoundException) when calling DescribeImages" >&2; exit 254; fi
    if [[ "$*" == *imageDigest* ]]; then echo "${DIGEST}"; else echo '{"imageDetails":[{}]}'; fi ;;
  "s3 cp") mkdir -p "$(dirname "${bucket}/\${4#s3://*/}")"; cp "$3" "${bucket}/\${4#s3://*/}" ;;
  *) echo "unexpected aws call: $*" >&2; exit 2 ;;
esac
`,
  );
  writeFileSync(
    join(dir, 'docker'),
    `#!/usr/bin/env bash
echo "docker $*" >> "${log}"
case "$1" in
  login) cat > /dev/null ;;
  build) ;;
  push) touch "${dir}/pushed" ;;
  *) exit 2 ;;
esac
`,
  );
  chmodSync(join(dir, 'aws'), 0o755);
  chmodSync(join(dir, 'docker'), 0o755);
  const run = () =>
    spawnSync('bash', ['-c', `${script()}\necho "KEY=$RELEASE_CAPTAIN_MANIFEST_KEY"`], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        PATH: `${dir}:${process.env.PATH}`,
        ECR_ERROR: options.ecrError ?? '',
        CODEBUILD_RESOLVED_SOURCE_VERSION: COMMIT,
        RELEASE_CAPTAIN_PIPELINE: 'api',
        RELEASE_CAPTAIN_IMAGE_NAME: 'api',
        RELEASE_CAPTAIN_REPOSITORY_URI: URI,
        RELEASE_CAPTAIN_REGISTRY: '111111111111.dkr.ecr.eu-west-1.amazonaws.com',
        RELEASE_CAPTAIN_ARTIFACT_BUCKET: 'artifacts-bucket',
      },
    });
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
  return { dir, bucket, run, calls };
}

describe('the default release buildspec, run in bash', () => {
  it('builds and pushes the commit, then uploads a manifest record-release accepts', () => {
    const box = sandbox();
    const result = box.run();

    expect(result.status, result.stderr).toBe(0);
    expect(box.calls()).toContain(`docker build -t ${URI}:${COMMIT} .`);
    expect(box.calls()).toContain(`docker push ${URI}:${COMMIT}`);
    const key = /KEY=(.*)/.exec(result.stdout)?.[1] ?? '';
    const bytes = readFileSync(join(box.bucket, key));
    const built = builtRelease({
      buildId: 'captain-build-api:1',
      status: 'SUCCEEDED',
      pipeline: 'api',
      commit: COMMIT,
      manifestKey: key,
    });
    expect(manifestOf(bytes, built)).toEqual({
      images: [{ name: 'api', repository: URI, digest: DIGEST }],
      files: [],
      dependencies: [],
    });
  });

  it('does not rebuild a commit already pushed (tags are immutable) and gives the same key', () => {
    const first = sandbox();
    const again = sandbox({ pushed: true });
    const key = (r: ReturnType<typeof first.run>) => /KEY=(.*)/.exec(r.stdout)?.[1];

    const firstRun = first.run();
    const secondRun = again.run();

    expect(secondRun.status, secondRun.stderr).toBe(0);
    expect(again.calls().some((c) => c.startsWith('docker build'))).toBe(false);
    expect(key(secondRun)).toBe(key(firstRun));
  });

  it('stops on any ECR error other than a missing image, uploading nothing', () => {
    const box = sandbox({ ecrError: 'AccessDeniedException' });
    const result = box.run();

    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('AccessDeniedException');
    expect(box.calls().some((c) => c.startsWith('docker build'))).toBe(false);
    expect(existsSync(box.bucket) ? readdirSync(box.bucket) : []).toEqual([]);
  });

  it('is valid bash', () => {
    expect(() => execFileSync('bash', ['-n', '-c', script()])).not.toThrow();
  });
});
