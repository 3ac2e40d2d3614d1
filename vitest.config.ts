import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['spec/**/*.spec.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    pool: 'forks',
  },
});
