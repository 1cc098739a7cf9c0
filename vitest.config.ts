import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Timeouts catch a test that hangs, not a slow machine: CI runs on a loaded 2-core box,
    // where a CDK synth or a git graph takes many times what it takes on an idle one. No
    // test's outcome depends on time passing (the local engine's clock is simulated).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: {
      // The handlers' Powertools logs and metrics would drown the test output.
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_METRICS_NAMESPACE: 'ReleaseCaptainTests',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    coverage: {
      provider: 'v8',
      include: ['core/**/*.ts', 'adapters/**/*.ts', 'functions/**/*.ts', 'local/**/*.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: {
        'core/**': { lines: 95, branches: 95 },
        'adapters/**': { lines: 90, branches: 85 },
      },
    },
  },
});
