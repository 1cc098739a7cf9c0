import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const biome = join(root, 'node_modules', '.bin', 'biome');
const sandbox = mkdtempSync(join(tmpdir(), 'captain-lint-'));
afterAll(() => rmSync(sandbox, { recursive: true, force: true }));

// The project's own Biome configuration, in a scratch folder outside git.
const config = JSON.parse(readFileSync(join(root, 'biome.json'), 'utf8'));
delete config.$schema;
config.vcs = { enabled: false };
writeFileSync(join(sandbox, 'biome.json'), JSON.stringify(config));

/** Lints one file placed at `path` in a scratch tree that uses the project's configuration. */
function lint(path: string, source: string): { ok: boolean; output: string } {
  const file = join(sandbox, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, source);
  try {
    const output = execFileSync(biome, ['lint', path], {
      cwd: sandbox,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { ok: true, output };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

describe('the lint rule that keeps core/ pure', () => {
  it.each([
    '@aws-sdk/client-dynamodb',
    'aws-cdk-lib',
    'aws-cdk-lib/aws-s3',
    'constructs',
    '@middy/core',
    'aws-lambda',
  ])('rejects an import of %s in core/', (module) => {
    const result = lint(
      `core/leak-${module.replace(/\W/g, '-')}.ts`,
      `import * as m from '${module}';\nexport const x = m;\n`,
    );
    expect(result.ok).toBe(false);
    expect(result.output).toContain('core/ is the pure domain');
  });

  it('allows the same import outside core/', () => {
    const result = lint(
      'functions/handler.ts',
      "import * as m from '@aws-sdk/client-dynamodb';\n\nexport const x = m;\n",
    );
    expect(result.output).not.toContain('core/ is the pure domain');
    expect(result.ok).toBe(true);
  });

  it('rejects focused and skipped tests', () => {
    const result = lint(
      'test/x.test.ts',
      "import { it } from 'vitest';\n\nit.only('x', () => {});\nit.skip('y', () => {});\n",
    );
    expect(result.ok).toBe(false);
    expect(result.output).toContain('noFocusedTests');
    expect(result.output).toContain('noSkippedTests');
  });
});
