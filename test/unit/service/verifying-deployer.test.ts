import { describe, expect, it } from 'vitest';
import { AwsArtifactVerifier } from '../../../adapters/aws/aws-artifact-verifier.js';
import {
  FakeDeployer,
  type FileArtifact,
  type ImageArtifact,
  type Release,
  TerminalError,
  targetSchema,
  VerifyingDeployer,
} from '../../../core/index.js';
import { release, target } from '../../support/fixtures.js';

const beta = targetSchema.parse(target('beta-t1'));
const request = (r: Release, kind: 'normal' | 'rollback' = 'normal') => ({
  pipeline: 'api',
  target: beta,
  release: r,
  kind,
  idempotencyKey: `api/beta/${r.number}/beta-t1/${kind}`,
});

describe('VerifyingDeployer', () => {
  it('verifies a release once before its first deployment, then deploys', async () => {
    const verified: number[] = [];
    const inner = new FakeDeployer();
    const deployer = new VerifyingDeployer(inner, {
      verify: async (r) => void verified.push(r.number),
    });

    await deployer.startDeployment(request(release(1)));
    await deployer.startDeployment({
      ...request(release(1)),
      target: targetSchema.parse(target('gamma-t1')),
      idempotencyKey: 'other',
    });

    expect(verified).toEqual([1]);
    expect(inner.requests).toHaveLength(2);
  });

  it('deploys nothing when the verification fails, and tries again next time', async () => {
    let failures = 1;
    const inner = new FakeDeployer();
    const deployer = new VerifyingDeployer(inner, {
      verify: async () => {
        if (failures-- > 0) throw new TerminalError('image api@sha256:… is not in ECR');
      },
    });

    await expect(deployer.startDeployment(request(release(2)))).rejects.toThrow('not in ECR');
    expect(inner.requests).toEqual([]);
    await deployer.startDeployment(request(release(2)));
    expect(inner.requests).toHaveLength(1);
  });

  it('passes status and stop requests through', async () => {
    const stopped: string[] = [];
    const inner = Object.assign(new FakeDeployer(), {
      stopDeployment: async (_t: unknown, id: string) => {
        stopped.push(id);
        return 'stopping' as const;
      },
    });
    const deployer = new VerifyingDeployer(inner, { verify: async () => {} });
    const { deploymentId } = await deployer.startDeployment(request(release(3)));

    expect(await deployer.getDeployment(beta, deploymentId)).toEqual({ status: 'in-progress' });
    expect(await deployer.stopDeployment(beta, deploymentId)).toBe('stopping');
    expect(stopped).toEqual([deploymentId]);
  });
});

describe('VerifyingDeployer over a deployer that cannot stop', () => {
  it('answers replaced', async () => {
    const inner = {
      startDeployment: async () => ({ deploymentId: 'ecs-svc/1' }),
      getDeployment: async () => ({ status: 'in-progress' as const }),
    };
    const deployer = new VerifyingDeployer(inner, { verify: async () => {} });

    expect(await deployer.stopDeployment(beta, 'ecs-svc/1')).toBe('replaced');
  });
});

describe('AwsArtifactVerifier', () => {
  it('checks every image in ECR and reads every file back through the store', async () => {
    const images: ImageArtifact[] = [];
    const files: FileArtifact[] = [];
    const file: FileArtifact = {
      name: 'bundle.zip',
      key: 'artifacts/api/sha256/ab/bundle.zip',
      sha256: 'ab',
    };
    const r = release(4, { artifacts: { ...release(4).artifacts, files: [file] } });
    const verifier = new AwsArtifactVerifier(
      { verify: async (image) => void images.push(image) },
      {
        getFile: async (f) => {
          files.push(f);
          return new Uint8Array();
        },
      },
    );

    await verifier.verify(r);

    expect(images).toEqual(r.artifacts.images);
    expect(files).toEqual([file]);
  });
});
