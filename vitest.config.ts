import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    coverage: {
      provider: 'v8',
      include: ['core/**/*.ts', 'adapters/**/*.ts', 'functions/**/*.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: {
        'core/**': { lines: 95, branches: 95 },
        'adapters/**': { lines: 90, branches: 85 },
      },
    },
  },
});
