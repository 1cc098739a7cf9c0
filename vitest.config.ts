import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
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
