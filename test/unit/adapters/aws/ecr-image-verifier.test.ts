import {
  DescribeImagesCommand,
  ECRClient,
  ECRServiceException,
  ImageNotFoundException,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { beforeEach, describe, expect, it } from 'vitest';
import { EcrImageVerifier, ecrRepository } from '../../../../adapters/aws/ecr-image-verifier.js';
import { type ImageArtifact, RetryableError, TerminalError } from '../../../../core/index.js';

expect.extend(allCustomMatcher);

const ecr = mockClient(ECRClient);
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const IMAGE: ImageArtifact = { name: 'api', repository: 'api', digest: DIGEST };

function ecrError(name: string, status: number, message = name): ECRServiceException {
  return new ECRServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

describe('EcrImageVerifier', () => {
  beforeEach(() => {
    ecr.reset();
  });

  it('resolves when the repository holds the digest, asking by digest in the given registry', async () => {
    // Prepare
    ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST }] });
    const verifier = new EcrImageVerifier(new ECRClient({}), { registryId: '111122223333' });

    // Act
    await verifier.verify(IMAGE);

    // Assess
    expect(ecr).toHaveReceivedCommandWith(DescribeImagesCommand, {
      registryId: '111122223333',
      repositoryName: 'api',
      imageIds: [{ imageDigest: DIGEST }],
    });
  });

  it('asks the caller’s own registry when no registry is given', async () => {
    // Prepare
    ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST }] });
    const verifier = new EcrImageVerifier(new ECRClient({}));

    // Act
    await verifier.verify(IMAGE);

    // Assess
    const input = ecr.commandCalls(DescribeImagesCommand)[0]?.args[0].input;
    expect(input).not.toHaveProperty('registryId');
  });

  it.each([
    {
      case: 'ECR reports ImageNotFoundException',
      arrange: () =>
        ecr.on(DescribeImagesCommand).rejects(
          new ImageNotFoundException({
            message: 'The image requested does not exist',
            $metadata: {},
          }),
        ),
    },
    {
      case: 'ECR answers without the digest',
      arrange: () => ecr.on(DescribeImagesCommand).resolves({ imageDetails: [] }),
    },
  ])('refuses an image that is not in the repository when $case', async ({ arrange }) => {
    // Prepare
    arrange();
    const verifier = new EcrImageVerifier(new ECRClient({}));

    // Act
    const verify = verifier.verify(IMAGE);

    // Assess
    await expect(verify).rejects.toThrow(TerminalError);
    await expect(verify).rejects.toThrow(
      `image api@${DIGEST} is not in ECR repository api: it was deleted or never pushed; rebuild the release.`,
    );
  });

  it('names a repository that does not exist', async () => {
    // Prepare
    ecr
      .on(DescribeImagesCommand)
      .rejects(new RepositoryNotFoundException({ message: 'no such repository', $metadata: {} }));
    const verifier = new EcrImageVerifier(new ECRClient({}), { registryId: '111122223333' });

    // Act
    const verify = verifier.verify(IMAGE);

    // Assess
    await expect(verify).rejects.toThrow(TerminalError);
    await expect(verify).rejects.toThrow(
      'ECR repository api (registry 111122223333) does not exist',
    );
  });

  it.each(['latest', 'sha256:ABC', `sha256:${'ab'.repeat(31)}`])(
    'refuses a digest that is not a sha256 digest (%s) without calling ECR',
    async (digest) => {
      // Prepare
      const verifier = new EcrImageVerifier(new ECRClient({}));

      // Act
      const verify = verifier.verify({ ...IMAGE, digest });

      // Assess
      await expect(verify).rejects.toThrow(TerminalError);
      await expect(verify).rejects.toThrow(`has digest "${digest}"`);
      expect(ecr).not.toHaveReceivedCommand(DescribeImagesCommand);
    },
  );

  it.each([
    { error: ecrError('ThrottlingException', 400, 'Rate exceeded'), expected: RetryableError },
    { error: ecrError('ServerException', 500), expected: RetryableError },
    { error: ecrError('AccessDeniedException', 400, 'not authorized'), expected: TerminalError },
  ])('maps $error.name to $expected.name', async ({ error, expected }) => {
    // Prepare
    ecr.on(DescribeImagesCommand).rejects(error);
    const verifier = new EcrImageVerifier(new ECRClient({}));

    // Act
    const verify = verifier.verify(IMAGE);

    // Assess
    await expect(verify).rejects.toThrow(expected);
    await expect(verify).rejects.toThrow(`DescribeImages for api@${DIGEST}`);
  });
});

describe('an image named by its repository URI', () => {
  beforeEach(() => ecr.reset());

  it('asks the registry and Region the URI names, by repository name', async () => {
    ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST }] });
    const regions: (string | undefined)[] = [];
    const verifier = new EcrImageVerifier((region) => {
      regions.push(region);
      return new ECRClient({ region: region ?? 'us-east-1' });
    });

    await verifier.verify({
      name: 'api',
      repository: '210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/api',
      digest: DIGEST,
    });

    expect(regions).toEqual(['eu-west-1']);
    expect(ecr).toHaveReceivedCommandWith(DescribeImagesCommand, {
      registryId: '210987654321',
      repositoryName: 'team/api',
      imageIds: [{ imageDigest: DIGEST }],
    });
  });

  it.each([
    { repository: 'api', expected: { registryId: undefined, region: undefined, name: 'api' } },
    {
      repository: '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/svc',
      expected: { registryId: '123456789012', region: 'cn-north-1', name: 'svc' },
    },
  ])('reads $repository', ({ repository, expected }) => {
    expect(ecrRepository(repository)).toEqual(expected);
  });
});
