import { describe, expect, it } from 'vitest';
import { previewRollback, type Release } from '../../../core/index.js';
import { release } from '../../support/fixtures.js';

const withArtifacts = (
  n: number,
  dependencies: Record<string, string>,
  files: Record<string, string> = {},
): Release =>
  release(n, {
    artifacts: {
      images: [
        { name: 'api', repository: 'api', digest: `sha256:${String(n).repeat(64).slice(0, 64)}` },
      ],
      files: Object.entries(files).map(([name, sha256]) => ({ name, key: `k/${sha256}`, sha256 })),
      dependencies: Object.entries(dependencies).map(([name, version]) => ({ name, version })),
    },
  });

describe('previewRollback', () => {
  const r7 = withArtifacts(
    7,
    { jackson: '2.14.2', 'left-pad': '1.3.0' },
    { 'template.json': 'aa' },
  );
  const r8 = withArtifacts(8, { jackson: '2.14.2' }, { 'template.json': 'aa' });
  const r9 = withArtifacts(
    9,
    { jackson: '2.15.0', guava: '33.0' },
    { 'template.json': 'bb', 'fn.zip': 'cc' },
  );

  it('lists the commits that leave, newest first, and what changes (worked example)', () => {
    const preview = previewRollback(r9, r7, [r8]);

    expect(preview.commitsRemoved.map((c) => c.message)).toEqual(['change 9', 'change 8']);
    expect(preview.images).toEqual([
      { name: 'api', from: `sha256:${'9'.repeat(64)}`, to: `sha256:${'7'.repeat(64)}` },
    ]);
    expect(preview.files).toEqual([
      { name: 'fn.zip', from: 'cc', to: null },
      { name: 'template.json', from: 'bb', to: 'aa' },
    ]);
    expect(preview.dependencies).toEqual([
      { name: 'guava', from: '33.0', to: null },
      { name: 'jackson', from: '2.15.0', to: '2.14.2' },
      { name: 'left-pad', from: null, to: '1.3.0' },
    ]);
  });

  it.each([
    {
      name: 'a rollback forward',
      call: () => previewRollback(r7, r9, []),
      message: 'A rollback goes back: r9 is not older than r7.',
    },
    {
      name: 'a missing release in between',
      call: () => previewRollback(r9, r7, []),
      message: 'The preview needs every release from r8 to r9; r8 was not given.',
    },
  ])('refuses $name', ({ call, message }) => {
    expect(call).toThrow(message);
  });
});
